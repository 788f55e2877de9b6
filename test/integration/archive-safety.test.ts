import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, writeFile, mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { flipByte } from '../support/damage.js';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem, mountFs } from '../support/loop-devices.js';
import { lifeboat, jsonLines, startLifeboat } from '../support/cli.js';
import { reapOrphans } from '../support/processes.js';

async function fillRandom(dir: string, files: number, bytesEach: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < files; i++) await writeFile(join(dir, `f${i}.bin`), randomBytes(bytesEach));
}

async function listedVersions(store: string, image: string): Promise<string[]> {
  const r = await lifeboat(['images', 'list', image, '--store', store, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const parsed = JSON.parse(r.stdout) as Array<{ versions: Array<{ version: string }> }>;
  return parsed[0]!.versions.map((v) => v.version);
}

test('kill -9 at any point of an archive publishes nothing and leaves older versions intact', async (t) => {
  const world = await makeWorld(t, 'lb-kill');
  t.after(() => reapOrphans(world.dir));
  const src = await scratchFilesystem(world, 'src', 'ext4', 600 << 20);
  await fillRandom(join(src.mountpoint, 'data'), 60, 3 << 20); // incompressible, so archiving takes a while
  const store = join(world.dir, 'store');

  const first = await lifeboat(['archive', '--store', store, '--image', 'crash', '--root', src.mountpoint, '--volume-size', '32M']);
  assert.equal(first.exitCode, 0, first.stderr);
  const [v1] = await listedVersions(store, 'crash');
  assert.ok(v1);

  // Kill points: before any data, at the first progress report, when a filesystem finished, at publish.
  for (const when of ['start', 'progress', 'filesystem', 'publish'] as const) {
    const child = startLifeboat(['archive', '--store', store, '--image', 'crash', '--root', src.mountpoint, '--volume-size', '32M', '--json']);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve) => {
      if (when === 'start') return void setTimeout(resolve, 150);
      lines.on('line', (l) => {
        const e = JSON.parse(l) as { type: string; stage?: string };
        if (e.type === when || (when === 'publish' && e.stage === 'publish')) resolve();
      });
      child.finally(() => resolve());
    });
    child.kill('SIGKILL');
    const ended = await child;
    await reapOrphans(world.dir);
    const versions = await listedVersions(store, 'crash');
    if (ended.signal === 'SIGKILL') {
      // Killed before the rename: only v1. If the rename won the race, the new version must be whole.
      assert.ok(versions[0] === v1, `v1 is still listed first after a kill at ${when}: ${versions}`);
      for (const v of versions) {
        const verify = await lifeboat(['images', 'verify', `crash@${v}`, '--store', store]);
        assert.equal(verify.exitCode, 0, `version ${v} listed after a kill at ${when} verifies: ${verify.stdout}`);
      }
      if (when !== 'publish') assert.deepEqual(versions, [v1], `a kill at ${when} published nothing`);
    }
  }
  // What the kills left behind is an incoming directory only prune sees, and prune removes it.
  const leftovers = (await readdir(join(store, 'crash'))).filter((n) => n.startsWith('.incoming-'));
  assert.ok(leftovers.length > 0, 'the killed archives left incoming directories');
  const prune = await lifeboat(['images', 'prune', 'crash', '--store', store]);
  assert.equal(prune.exitCode, 0, prune.stderr);
  assert.match(prune.stdout, /removed .*\.incoming-.*incomplete version/);
  assert.deepEqual((await readdir(join(store, 'crash'))).filter((n) => n.startsWith('.incoming-')), []);
  const verify = await lifeboat(['images', 'verify', `crash@${v1}`, '--store', store]);
  assert.equal(verify.exitCode, 0, verify.stdout);
});

test('a flipped byte in a volume makes verify fail naming that volume', async (t) => {
  const world = await makeWorld(t, 'lb-flip');
  const src = await scratchFilesystem(world, 'src', 'ext4', 256 << 20);
  await fillRandom(join(src.mountpoint, 'data'), 4, 1 << 20);
  const store = join(world.dir, 'store');
  const r = await lifeboat(['archive', '--store', store, '--image', 'flip', '--root', src.mountpoint, '--volume-size', '1M', '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const dir = String(jsonLines(r.stdout).find((e) => e.type === 'published')!.dir);
  assert.equal((await lifeboat(['images', 'verify', 'flip', '--store', store])).exitCode, 0);

  await flipByte(join(dir, 'data', 'root.tar.zst.002'), 4242);

  const bad = await lifeboat(['images', 'verify', 'flip', '--store', store]);
  assert.equal(bad.exitCode, 5);
  assert.match(bad.stdout, /BROKEN/);
  assert.match(bad.stdout, /data\/root\.tar\.zst\.002: fails its checksum/);
  assert.doesNotMatch(bad.stdout, /root\.tar\.zst\.001: fails/);
  const json = await lifeboat(['images', 'verify', 'flip', '--store', store, '--json']);
  const result = jsonLines(json.stdout).find((e) => e.type === 'verified') as { ok: boolean; problems: Array<{ path: string }> };
  assert.equal(result.ok, false);
  assert.equal(result.problems[0]!.path, 'data/root.tar.zst.002');

  // A damaged manifest is named as such.
  const manifest = join(dir, 'manifest.json');
  await writeFile(manifest, (await readFile(manifest, 'utf8')).replace('"format": "lifeboat-image/1"', '"format": "lifeboat-image/1" '));
  const bad2 = await lifeboat(['images', 'verify', 'flip', '--store', store]);
  assert.equal(bad2.exitCode, 5);
  assert.match(bad2.stdout, /manifest\.json: fails its checksum/);
});

test('a full store: a clear error, nothing listed, nothing left that prune does not remove', async (t) => {
  const world = await makeWorld(t, 'lb-full');
  const src = await scratchFilesystem(world, 'src', 'ext4', 400 << 20);
  await fillRandom(join(src.mountpoint, 'data'), 40, 3 << 20);
  const small = await scratchFilesystem(world, 'small', 'ext4', 48 << 20);
  const store = join(small.mountpoint, 'store');

  const r = await lifeboat(['archive', '--store', store, '--image', 'full', '--root', src.mountpoint]);
  assert.equal(r.exitCode, 6, `exit code for a full store; stderr: ${r.stderr}`);
  assert.match(r.stderr, /store .*full/);
  assert.match(r.stderr, /free space|another --store/);
  assert.deepEqual(await listedVersions(store, 'full'), []);
  await lifeboat(['images', 'prune', 'full', '--store', store]);
  assert.deepEqual(await readdir(join(store, 'full')), []);
  await reapOrphans(world.dir);
});

test('excluded paths, the store and the scratch directory are absent from the archive', async (t) => {
  const world = await makeWorld(t, 'lb-excl');
  const src = await scratchFilesystem(world, 'src', 'ext4', 256 << 20);
  await fillRandom(join(src.mountpoint, 'keep'), 2, 4096);
  await fillRandom(join(src.mountpoint, 'var', 'cache'), 2, 4096);
  await fillRandom(join(src.mountpoint, 'home', 'op', '.cache'), 1, 4096);
  await writeFile(join(src.mountpoint, 'home', 'op', 'notes'), 'kept\n');
  await mkdir(join(src.mountpoint, 'scratch'));
  await mkdir(join(src.mountpoint, 'tmpfs'));
  world.defer(() => execa('umount', [join(src.mountpoint, 'tmpfs')], { reject: false }));
  await sh('mount', ['-t', 'tmpfs', 'lb-test-tmpfs', join(src.mountpoint, 'tmpfs')]);
  await writeFile(join(src.mountpoint, 'tmpfs', 'volatile'), 'gone\n');
  const inner = await scratchFilesystem(world, 'inner', 'ext4', 64 << 20);
  await sh('umount', [inner.mountpoint]);
  await mountFs(world, inner.dev, join(src.mountpoint, 'srv'));
  await writeFile(join(src.mountpoint, 'srv', 'site.html'), '<p>hi</p>\n');
  const store = join(src.mountpoint, 'store'); // the store lives inside the archived filesystem

  const r = await lifeboat(['archive', '--store', store, '--image', 'excl', '--root', src.mountpoint, '--scratch', join(src.mountpoint, 'scratch'),
    '--exclude', '/var/cache', '--exclude', '/home/op/.cache', '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const events = jsonLines(r.stdout);
  const dir = String(events.find((e) => e.type === 'published')!.dir);
  assert.ok(events.some((e) => e.type === 'skipped' && String(e.target).endsWith('/tmpfs') && /pseudo/.test(String(e.reason))));
  assert.deepEqual((await readdir(join(dir, 'data'))).sort(), ['root.tar.zst', 'srv.tar.zst']);

  const members = (await sh('bash', ['-o', 'pipefail', '-c', `zstd -dc ${dir}/data/root.tar.zst | tar -t`])).split('\n');
  for (const gone of ['./var/cache/', './home/op/.cache/', './store/', './scratch/', './tmpfs/volatile']) {
    assert.ok(!members.some((m) => m.startsWith(gone)), `${gone} is not in the archive`);
  }
  for (const kept of ['./keep/f0.bin', './home/op/notes', './var/']) assert.ok(members.includes(kept), `${kept} is in the archive`);
  assert.ok(!members.includes('./srv/site.html'), 'the nested filesystem is not inside the root stream');
  const srv = (await sh('bash', ['-o', 'pipefail', '-c', `zstd -dc ${dir}/data/srv.tar.zst | tar -t`])).split('\n');
  assert.ok(srv.includes('./site.html'));
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { archives: Array<{ id: string; mountpoint: string; excludes: string[] }> };
  assert.deepEqual(manifest.archives.map((a) => [a.id, a.mountpoint]), [['root', '/'], ['srv', '/srv']]);
  assert.deepEqual(manifest.archives[0]!.excludes.sort(), ['./home/op/.cache', './scratch', './store', './var/cache']);
});
