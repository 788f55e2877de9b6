import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';
import { lifeboat, jsonLines, startLifeboat } from '../support/cli.js';
import { reapOrphans } from '../support/processes.js';
import type { Manifest } from '../../images/store/manifest.js';

// Volumes are written by tar's compressor and split, and hashed by node as they are written: these
// tests break if a volume is cut at the wrong place, named out of order, hashed from the wrong
// bytes, or if a stage of the pipeline dies and the archive still "succeeds".

async function publishedManifest(stdout: string): Promise<{ dir: string; manifest: Manifest }> {
  const dir = String(jsonLines(stdout).find((e) => e.type === 'published')!.dir);
  return { dir, manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest };
}

async function sha256sum(path: string): Promise<string> {
  return (await sh('sha256sum', [path])).split(' ')[0]!;
}

test('an archive cut into many small volumes verifies, and restores by hand byte for byte', async (t) => {
  const world = await makeWorld(t, 'lb-vols');
  const src = await scratchFilesystem(world, 'src', 'ext4', 384 << 20);
  await buildRichTree(src.mountpoint, { largeBytes: 3 << 20 });
  const store = join(world.dir, 'store');
  const volumeSize = 256 << 10;

  const r = await lifeboat(['archive', '--store', store, '--image', 'vols', '--root', src.mountpoint, '--volume-size', '256K', '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const { dir, manifest } = await publishedManifest(r.stdout);
  const volumes = manifest.archives[0]!.volumes;
  assert.ok(volumes.length >= 8, `the archive spans many volumes (${volumes.length})`);
  assert.deepEqual(volumes.map((v) => v.path), volumes.map((_, i) => `data/root.tar.zst.${String(i).padStart(3, '0')}`));
  assert.deepEqual((await readdir(join(dir, 'data'))).sort(), volumes.map((v) => v.path.slice('data/'.length)), 'no file beside the listed volumes');
  for (const [i, v] of volumes.entries()) {
    const file = join(dir, v.path);
    const st = await stat(file);
    assert.equal(st.size, v.bytes, `${v.path}: the manifest has its size`);
    if (i < volumes.length - 1) assert.equal(v.bytes, volumeSize, `${v.path} is full`);
    else assert.ok(v.bytes > 0 && v.bytes <= volumeSize, `the last volume holds the rest (${v.bytes})`);
    assert.equal(v.sha256, await sha256sum(file), `${v.path}: the manifest has its sha256`);
    assert.equal(st.mode & 0o777, 0o600, `${v.path} is readable by root only`);
  }
  const events = jsonLines(r.stdout);
  const done = events.find((e) => e.type === 'filesystem')!;
  assert.equal(done.storedBytes, volumes.reduce((a, v) => a + v.bytes, 0), 'the stored bytes reported are the volumes');
  await sh('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir });
  const verify = await lifeboat(['images', 'verify', 'vols', '--store', store]);
  assert.equal(verify.exitCode, 0, verify.stdout);

  const dst = await scratchFilesystem(world, 'dst', 'ext4', 384 << 20);
  await sh('bash', ['-o', 'pipefail', '-c', `cat ${dir}/data/root.tar.zst.* | zstd -d | tar -x -f - -C ${dst.mountpoint} --numeric-owner --xattrs --xattrs-include='*' --acls --selinux -p --same-owner`]);
  assert.deepEqual(diffSnapshots(await snapshotTree(src.mountpoint), await snapshotTree(dst.mountpoint)), []);
});

test('a stream that ends exactly at a volume boundary has no empty volume after it', async (t) => {
  const world = await makeWorld(t, 'lb-volx');
  const src = await scratchFilesystem(world, 'src', 'ext4', 64 << 20);
  await mkdir(join(src.mountpoint, 'data'));
  for (let i = 0; i < 4; i++) await writeFile(join(src.mountpoint, 'data', `f${i}`), randomBytes(100_000 + i));
  const store = join(world.dir, 'store');

  // Uncompressed, tar's stream is whole 10 KiB records, so 10 KiB volumes divide it exactly.
  const r = await lifeboat(['archive', '--store', store, '--image', 'exact', '--root', src.mountpoint, '--volume-size', '10K', '--compress', 'none', '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const { dir, manifest } = await publishedManifest(r.stdout);
  const entry = manifest.archives[0]!;
  assert.ok(entry.volumes.every((v) => v.bytes === 10240), 'every volume is full');
  assert.equal(entry.volumes.length * 10240, entry.tarBytes, 'the volumes hold the whole stream, nothing more');
  assert.equal((await readdir(join(dir, 'data'))).length, entry.volumes.length);
  assert.equal((await lifeboat(['images', 'verify', 'exact', '--store', store])).exitCode, 0);
  const members = await sh('bash', ['-o', 'pipefail', '-c', `cat ${dir}/data/root.tar.* | tar -t`]);
  assert.match(members, /\.\/data\/f3/);
});

test('an archive that would need more than 1000 volumes fails, asking for a larger --volume-size', async (t) => {
  const world = await makeWorld(t, 'lb-volmax');
  const src = await scratchFilesystem(world, 'src', 'ext4', 64 << 20);
  await writeFile(join(src.mountpoint, 'big'), randomBytes(1200 << 10));
  const store = join(world.dir, 'store');

  const r = await lifeboat(['archive', '--store', store, '--image', 'many', '--root', src.mountpoint, '--volume-size', '1K', '--compress', 'none']);
  assert.equal(r.exitCode, 2, r.stderr);
  assert.match(r.stderr, /more than 1000 volumes .*larger --volume-size/);
  assert.deepEqual(await readdir(join(store, 'many')), [], 'nothing published, nothing left');
});

/** Processes below `pid` with their command names, from ps. */
async function descendants(pid: number): Promise<Array<{ pid: number; comm: string }>> {
  const rows = (await sh('ps', ['-e', '-o', 'pid=,ppid=,comm='])).split('\n').map((l) => l.trim().split(/\s+/));
  const found: Array<{ pid: number; comm: string }> = [];
  const walk = (parent: number) => {
    for (const [p, pp, comm] of rows) {
      if (Number(pp) === parent) {
        found.push({ pid: Number(p), comm: comm ?? '' });
        walk(Number(p));
      }
    }
  };
  walk(pid);
  return found;
}

for (const victim of ['zstd', 'split'] as const) {
  test(`${victim} killed in the middle of an archive fails it, and nothing is published`, async (t) => {
    const world = await makeWorld(t, `lb-kill-${victim}`);
    t.after(() => reapOrphans(world.dir));
    const src = await scratchFilesystem(world, 'src', 'ext4', 256 << 20);
    await mkdir(join(src.mountpoint, 'data'));
    for (let i = 0; i < 12; i++) await writeFile(join(src.mountpoint, 'data', `r${i}`), randomBytes(8 << 20));
    const store = join(world.dir, 'store');

    // zstd -19 is slow on purpose: the pipeline is still running when its stage is killed.
    const child = startLifeboat(['archive', '--store', store, '--image', 'cut', '--root', src.mountpoint, '--volume-size', '4M', '--compress', 'zstd:19', '--json']);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve) => {
      lines.on('line', (l) => (JSON.parse(l) as { type: string }).type === 'progress' && resolve());
      void child.finally(() => resolve());
    });
    const target = (await descendants(child.pid!)).find((p) => p.comm === victim);
    assert.ok(target, `${victim} runs below lifeboat`);
    process.kill(target.pid, 'SIGKILL');
    const ended = await child;

    assert.equal(ended.exitCode, 7, `the archive fails as a tool failure; stderr: ${ended.stderr}`);
    assert.match(String(ended.stderr), new RegExp(`${victim} .*killed by SIGKILL`));
    const list = await lifeboat(['images', 'list', 'cut', '--store', store, '--json']);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ versions: unknown[] }>).flatMap((i) => i.versions), []);
    assert.deepEqual(await readdir(join(store, 'cut')), [], 'the incoming version was removed');
  });
}
