import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, chmod, link, mkdir, open, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { snapshotTree, diffSnapshots, type NodeFacts } from '../support/tree-snapshot.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import { fileVolumes } from '../../images/archive/tar-read.js';
import { extractWithChain } from '../../images/archive/archive-chain.js';
import { compareArchive } from '../../images/compare/compare-archive.js';
import { readManifest, type Manifest } from '../../images/store/manifest.js';
import { checkVersionShape } from '../../images/store/version-shape.js';

// A full version, then three increments with files added, changed, renamed and deleted: each
// version restores to exactly the tree of its moment, deletions included, through the same
// extraction the rescue agent runs, through `images show`'s restore-by-hand lines, and as a
// comparison with nothing different.

interface Moment {
  version: string;
  dir: string;
  manifest: Manifest;
  tree: Map<string, NodeFacts>;
  storedBytes: number;
}

const stored = (m: Manifest) => m.archives.reduce((s, a) => s + a.volumes.reduce((b, v) => b + v.bytes, 0), 0);

test('an incremental chain restores every version exactly, deleted files staying deleted', async (t) => {
  const world = await makeWorld(t, 'lb-incr');
  const src = await scratchFilesystem(world, 'incr-src', 'ext4', 640 << 20);
  const p = (...parts: string[]) => join(src.mountpoint, ...parts);
  await buildRichTree(src.mountpoint, { largeBytes: 16 << 20 });
  await mkdir(p('srv', 'a'), { recursive: true });
  await mkdir(p('srv', 'b'));
  await mkdir(p('srv', 'c'));
  for (const d of ['a', 'b', 'c']) await writeFile(p('srv', d, `in-${d}`), `${d}\n`);
  await mkdir(p('doomed', 'deep', 'er'), { recursive: true });
  await writeFile(p('doomed', 'deep', 'er', 'file'), 'goes away with its directory\n');
  await writeFile(p('becomes-dir'), 'a file now, a directory later\n');
  const store = join(world.dir, 'store');

  const moments: Moment[] = [];
  const archive = async () => {
    const r = await lifeboat(['archive', '--store', store, '--image', 'incr', '--root', src.mountpoint, '--incremental', '--full-every', '5', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const published = jsonLines(r.stdout).find((e) => e.type === 'published')!;
    const dir = String(published.dir);
    const manifest = await readManifest(dir);
    moments.push({ version: String(published.version), dir, manifest, tree: await snapshotTree(src.mountpoint), storedBytes: stored(manifest) });
    // Versions are named by the second they finish: keep them apart.
    await new Promise((r) => setTimeout(r, 1100));
  };

  await archive(); // level 0

  // 1: added, changed (same size and new size), renamed file and directory, deleted file and tree, metadata.
  await writeFile(p('added.txt'), 'new in level 1\n');
  await writeFile(p('etc', 'app', 'config.ini'), '[main]\nanswer = 43\n'); // same length, new bytes
  await appendFile(p('hard-a'), 'grown through one of three names\n');
  await rename(p('random-1m.bin'), p('renamed-1m.bin'));
  await rename(p('srv', 'a'), p('srv', 'a-moved'));
  await rm(p('empty'));
  await rm(p('doomed'), { recursive: true });
  await chmod(p('setgid'), 0o750);
  await sh('setfattr', ['-n', 'user.comment', '-v', 'changed in level 1', p('xattr-file')]);
  await archive();

  // 2: a cycle of directory renames (tar needs its temporary name), a file replaced by a directory, new hard link.
  await rename(p('srv', 'b'), p('srv', 'tmp'));
  await rename(p('srv', 'c'), p('srv', 'b'));
  await rename(p('srv', 'tmp'), p('srv', 'c'));
  await rm(p('becomes-dir'));
  await mkdir(p('becomes-dir'));
  await writeFile(p('becomes-dir', 'inside'), 'was a file\n');
  await link(p('added.txt'), p('added-link.txt'));
  const fh = await open(p('renamed-1m.bin'), 'r+');
  await fh.write(randomBytes(4096), 0, 4096, 512 << 10); // a change in the middle of a file, size kept
  await fh.close();
  await archive();

  // 3: a deleted name comes back, a symlink retargeted, the renamed directory deleted, the hard link undone.
  await writeFile(p('empty'), '');
  await rm(p('link-relative'));
  await symlink('renamed-1m.bin', p('link-relative'));
  await rm(p('srv', 'a-moved'), { recursive: true });
  await rm(p('sub', 'hard-c'));
  await rm(p('added-link.txt'));
  await archive();

  assert.deepEqual(moments.map((m) => m.manifest.incremental?.level), [0, 1, 2, 3]);
  assert.deepEqual(moments[3]!.manifest.incremental!.chain, moments.slice(0, 3).map((m) => m.version));
  for (const m of moments.slice(1)) {
    assert.ok(m.storedBytes * 4 < moments[0]!.storedBytes, `${m.version} holds only what changed (${m.storedBytes} bytes vs ${moments[0]!.storedBytes} for the full)`);
  }
  // The chain is in the manifest of each version, so a reader needs nothing else.
  const root3 = moments[3]!.manifest.archives[0]!;
  assert.deepEqual(root3.incremental!.chain.map((l) => l.version), moments.slice(0, 3).map((m) => m.version));
  assert.equal(root3.incremental!.snapshot, 'snapshots/root.snar');

  for (const [i, m] of moments.entries()) {
    const dst = await scratchFilesystem(world, `incr-dst${i}`, 'ext4', 640 << 20);
    const entry = m.manifest.archives[0]!;
    const r = await extractWithChain(fileVolumes(m.dir), entry, { target: dst.mountpoint });
    assert.equal(r.streamError, null, `level ${i}: ${r.streamError?.message}`);
    assert.deepEqual(r.damaged, []);
    assert.equal(r.layers, i + 1);
    assert.deepEqual(diffSnapshots(m.tree, await snapshotTree(dst.mountpoint)), [], `version ${i} (${m.version}) restores to exactly its moment`);
    // The archives alone describe that same tree: comparing it with the restored one finds nothing.
    const same = await compareArchive({ open: fileVolumes(m.dir), entry, root: dst.mountpoint });
    assert.deepEqual(same.differences, [], `compare of level ${i} with its restore`);
  }
  // What the moments say was deleted really is absent from the restore of the last one.
  for (const gone of ['doomed', 'srv/a', 'srv/a-moved', 'random-1m.bin', 'sub/hard-c', 'added-link.txt']) assert.ok(!moments[3]!.tree.has(gone), gone);

  // By hand, with the lines `images show` prints: each level in order, tar applying deletions.
  const show = await lifeboat(['images', 'show', `incr@${moments[3]!.version}`, '--store', store]);
  assert.equal(show.exitCode, 0, show.stderr);
  const lines = show.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('cd /mnt/target && cat '));
  assert.equal(lines.length, 4, show.stdout);
  assert.ok(lines.every((l) => l.includes('--listed-incremental=/dev/null')), show.stdout);
  const byHand = await scratchFilesystem(world, 'incr-hand', 'ext4', 640 << 20);
  for (const line of lines) await sh('bash', ['-o', 'pipefail', '-c', line.replace('/mnt/target', byHand.mountpoint)]);
  assert.deepEqual(diffSnapshots(moments[3]!.tree, await snapshotTree(byHand.mountpoint)), []);

  // verify proves the whole chain; a damaged base makes the increment unrestorable, and says so.
  const ok = await lifeboat(['images', 'verify', `incr@${moments[3]!.version}`, '--store', store]);
  assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
  assert.equal(ok.stdout.match(/^OK /gm)?.length, 4, ok.stdout);
  const volume = join(moments[1]!.dir, moments[1]!.manifest.archives[0]!.volumes[0]!.path);
  const bytes = await readFile(volume);
  bytes[100] = bytes[100]! ^ 0xff;
  await writeFile(volume, bytes);
  const bad = await lifeboat(['images', 'verify', `incr@${moments[3]!.version}`, '--store', store]);
  assert.equal(bad.exitCode, 5, bad.stdout);
  assert.match(bad.stdout, new RegExp(`BROKEN  incr@${moments[1]!.version}`));
  assert.match(bad.stdout, /data\/root\.tar\.zst: fails its checksum/);
  assert.match(bad.stdout, new RegExp(`incr@${moments[3]!.version} builds on incr@${moments[1]!.version}, which does not verify: it cannot be restored`));
  const dst = await scratchFilesystem(world, 'incr-bad', 'ext4', 640 << 20);
  const r = await extractWithChain(fileVolumes(moments[3]!.dir), moments[3]!.manifest.archives[0]!, { target: dst.mountpoint });
  assert.ok(r.damaged.length > 0 || r.streamError, 'a restore through the damaged base fails');
  if (r.damaged.length > 0) assert.equal(r.damaged[0]!.path, `../${moments[1]!.version}/data/root.tar.zst`);

  // The check a server makes when a task is created reads no volume: the flipped byte passes it
  // (sizes are intact), a base volume gone is named with the version that needs it.
  assert.deepEqual((await checkVersionShape(moments[3]!.dir)).problems, []);
  await rename(volume, `${volume}.away`);
  const basePath = `../${moments[1]!.version}/${moments[1]!.manifest.archives[0]!.volumes[0]!.path}`;
  assert.deepEqual((await checkVersionShape(moments[3]!.dir)).problems, [{ path: basePath, problem: `is missing: ${moments[3]!.version} is an incremental version built on ${moments[1]!.version}` }]);
  await rename(`${volume}.away`, volume);
});

test('--full-every starts a new chain; a changed exclude starts one too, saying why', async (t) => {
  const world = await makeWorld(t, 'lb-incr2');
  const src = await scratchFilesystem(world, 'incr2-src', 'ext4', 128 << 20);
  await writeFile(join(src.mountpoint, 'f'), 'x\n');
  const store = join(world.dir, 'store');
  const levels: Array<{ level: unknown; reason: string }> = [];
  const run = async (...extra: string[]) => {
    const r = await lifeboat(['archive', '--store', store, '--image', 'fe', '--root', src.mountpoint, '--incremental', '--full-every', '2', '--json', ...extra]);
    assert.equal(r.exitCode, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const published = events.find((e) => e.type === 'published')! as { incremental?: { level: number } };
    levels.push({ level: published.incremental?.level, reason: String(events.find((e) => e.type === 'stage' && String(e.message).startsWith('incremental'))?.message) });
    await appendFile(join(src.mountpoint, 'f'), 'more\n');
    await new Promise((r) => setTimeout(r, 1100));
  };
  await run();
  await run();
  await run();
  await run('--exclude', '/f');
  assert.deepEqual(levels.map((l) => l.level), [0, 1, 0, 0]);
  assert.match(levels[2]!.reason, /--full-every 2 starts a new chain/);
  assert.match(levels[3]!.reason, /excludes\) differ/);
  const usage = await lifeboat(['archive', '--store', store, '--image', 'fe', '--root', src.mountpoint, '--full-every', '3']);
  assert.equal(usage.exitCode, 2);
  assert.match(usage.stderr, /--full-every applies to --incremental/);
});
