import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { snapshotTree, diffSnapshots, type NodeFacts } from '../support/tree-snapshot.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import { startLocalServer } from '../support/local-server.js';
import { readManifest } from '../../images/store/manifest.js';

// `archive --path` of a directory that is not a filesystem of its own, and `lifeboat restore` of
// one file, of a subtree and of the whole tree, each compared with the source by the fidelity
// snapshot (bytes, type, mode, owner, mtime, xattrs and ACLs, hard links, sparseness).

/** The facts of `prefix` and everything under it, keyed from `prefix`'s parent as in the source. */
function subtree(facts: Map<string, NodeFacts>, prefix: string): Map<string, NodeFacts> {
  return new Map([...facts].filter(([rel]) => rel === prefix || rel.startsWith(`${prefix}/`)));
}

/** The failure's one line (stage and progress lines may come before it on stderr). */
function failureLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('lifeboat '));
  assert.equal(lines.length, 1, stderr);
  return lines[0]!;
}

test('archive --path round-trips a plain directory; restore gets one file, a subtree and the whole tree back exactly', async (t) => {
  const world = await makeWorld(t, 'lb-rfiles');
  const src = await scratchFilesystem(world, 'rfiles-src', 'ext4', 512 << 20);
  const tree = join(src.mountpoint, 'srv', 'exports');
  await mkdir(tree, { recursive: true });
  await buildRichTree(tree, { largeBytes: 8 << 20 });
  await writeFile(join(src.mountpoint, 'outside-the-tree'), 'not archived\n');
  const store = join(world.dir, 'store');

  // --root of a plain directory is refused, and the message points at --path.
  const refused = await lifeboat(['archive', '--store', store, '--image', 'exports', '--root', tree]);
  assert.equal(refused.exitCode, 2, refused.stderr);
  assert.match(failureLine(refused.stderr), new RegExp(`^lifeboat archive: no local disk filesystem is mounted at or under ${tree}: .*; to archive a directory tree that is not a filesystem of its own, use --path ${tree}$`));

  const archived = await lifeboat(['archive', '--store', store, '--image', 'exports', '--path', tree, '--json']);
  assert.equal(archived.exitCode, 0, archived.stderr);
  const published = jsonLines(archived.stdout).find((e) => e.type === 'published')!;
  const version = String(published.version);
  const manifest = await readManifest(String(published.dir));
  assert.equal(manifest.source.mode, 'path');
  assert.equal(manifest.source.path, tree);
  assert.deepEqual(manifest.archives.map((a) => [a.id, a.mountpoint, a.device]), [['tree', tree, src.dev]]);
  assert.deepEqual(manifest.layout.disks, [], 'a tree carries no disk layout');
  const source = await snapshotTree(tree);
  const show = await lifeboat(['images', 'show', `exports@${version}`, '--store', store]);
  assert.equal(show.exitCode, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^  source    path ${tree} \\(a directory tree: restore its files with lifeboat restore; not nukeable\\)$`, 'm'));
  assert.match(show.stdout, /^Restore the tree by hand \(into an empty directory \/mnt\/target\):$/m);

  const dst = await scratchFilesystem(world, 'rfiles-dst', 'ext4', 512 << 20);
  const restore = (...args: string[]) => lifeboat(['restore', ...args, '--store', store]);

  // The whole tree: nothing outside it, everything inside it identical (the root directory too).
  const whole = join(dst.mountpoint, 'whole');
  const all = await restore(`exports@${version}`, '--to', whole);
  assert.equal(all.exitCode, 0, all.stderr);
  assert.match(all.stdout, new RegExp(`^restored ${tree} of exports@${version} into ${whole}$`));
  assert.deepEqual(diffSnapshots(source, await snapshotTree(whole)), []);
  // Progress, as for an archive: the stage, then percentages (lines, since stderr is no terminal here).
  assert.match(all.stderr, new RegExp(`^» restoring ${tree} of exports@${version} into ${whole}$`, 'm'));
  const percents = [...all.stderr.matchAll(/^ {2}(\d+)% /gm)].map((m) => Number(m[1]));
  assert.ok(percents.length >= 5 && percents.at(-1)! >= 90, all.stderr);

  // By hand, with the line `images show` prints: the same tree.
  const byHand = join(dst.mountpoint, 'by-hand');
  await mkdir(byHand);
  const line = show.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('cat '))!;
  await sh('bash', ['-o', 'pipefail', '-c', line.replace('/mnt/target', byHand)]);
  assert.deepEqual(diffSnapshots(source, await snapshotTree(byHand)), []);

  // One file, named as it was on the source system: only it and its parents appear.
  const one = join(dst.mountpoint, 'one');
  const r1 = await restore('exports', join(tree, 'etc', 'app', 'config.ini'), '--to', one);
  assert.equal(r1.exitCode, 0, r1.stderr);
  const oneFacts = await snapshotTree(one);
  assert.deepEqual([...oneFacts.keys()].sort(), ['.', 'etc', 'etc/app', 'etc/app/config.ini']);
  assert.deepEqual(diffSnapshots(subtree(source, 'etc/app/config.ini'), subtree(oneFacts, 'etc/app/config.ini')), []);
  assert.equal(await readFile(join(one, 'etc', 'app', 'config.ini'), 'utf8'), '[main]\nanswer = 42\n');

  // Files with ACLs, xattrs, a capability, a sparse file and a device node, named relative to the tree's root.
  const some = join(dst.mountpoint, 'some');
  const picked = ['acl-file', 'acl-dir', 'xattr-file', 'sparse.img', 'char-null', 'private', 'link-owned'];
  const r2 = await restore('exports', ...picked, '--to', some, '--json');
  assert.equal(r2.exitCode, 0, r2.stderr);
  assert.deepEqual(jsonLines(r2.stdout).find((e) => e.type === 'restored')!.paths, picked.map((p) => join(tree, p)));
  const someFacts = await snapshotTree(some);
  for (const p of picked) assert.deepEqual(diffSnapshots(subtree(source, p), subtree(someFacts, p)), [], p);

  // A subtree holding a hard link whose other names are outside it: the link's file is whole, and nothing else is left behind.
  const sub = join(dst.mountpoint, 'sub');
  const r3 = await restore('exports', `${tree}/sub`, '--to', sub);
  assert.equal(r3.exitCode, 0, r3.stderr);
  assert.deepEqual((await readdir(sub)).sort(), ['sub']);
  assert.deepEqual((await readdir(join(sub, 'sub'))).sort(), (await readdir(join(tree, 'sub'))).sort());
  const subFacts = await snapshotTree(sub);
  const unlinked = (m: Map<string, NodeFacts>) => new Map([...m].map(([k, f]) => [k, { ...f, nlink: undefined, hardlinkGroup: undefined }]));
  assert.deepEqual(diffSnapshots(unlinked(subtree(source, 'sub')), unlinked(subtree(subFacts, 'sub'))), []);

  // Refusals: one line each, with the exit code the README gives.
  const busy = await restore('exports', 'empty', '--to', whole);
  assert.equal(busy.exitCode, 4, busy.stderr);
  assert.match(failureLine(busy.stderr), new RegExp(`^lifeboat restore: --to ${whole} is not empty \\(it holds .*\\): .* add --force to write over what is there$`));
  const forced = await restore('exports', 'etc', '--to', whole, '--force');
  assert.equal(forced.exitCode, 0, forced.stderr);
  const missing = await restore('exports', `${tree}/etc/app/config.ino`, '--to', join(dst.mountpoint, 'never'));
  assert.equal(missing.exitCode, 3, missing.stderr);
  assert.equal(failureLine(missing.stderr), `lifeboat restore: ${tree}/etc/app/config.ino is not in exports@${version} (did you mean ${tree}/etc/app/config.ini?): name a path the version holds, or another version`);
  await assert.rejects(readdir(join(dst.mountpoint, 'never')), /ENOENT/, 'nothing is written for a refused PATH');
  const outside = await restore('exports', join(src.mountpoint, 'outside-the-tree'), '--to', join(dst.mountpoint, 'never'));
  assert.equal(outside.exitCode, 3, outside.stderr);
  assert.match(failureLine(outside.stderr), new RegExp(`^lifeboat restore: ${src.mountpoint}/outside-the-tree is not in exports@${version}: the version holds the tree under ${tree}; name a path inside it$`));
  const help = await lifeboat(['restore', '--help']);
  assert.equal(help.exitCode, 0);
  assert.match(help.stdout, /^Usage: lifeboat restore NAME\[@VERSION\] \[PATH\]\.\.\. --to DIR/);

  // Files, not a machine: a nuke task of the tree is refused when it is created, saying why.
  const server = await startLocalServer(world, { store });
  const nuke = await server.api<{ error: { message: string } }>('POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:14:14:01', image: 'exports' });
  assert.equal(nuke.status, 400, JSON.stringify(nuke.body));
  assert.match(JSON.stringify(nuke.body), new RegExp(`image exports@${version} is a directory tree \\(${tree}, archived with --path\\), not a machine: .*lifeboat restore exports@${version} --to DIR`));
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/tasks')).body, [], 'no task was created');
});

interface Moment {
  version: string;
  tree: Map<string, NodeFacts>;
}

test('restore applies an incremental chain: every version, a subtree and one file as they were, deleted files gone', async (t) => {
  const world = await makeWorld(t, 'lb-rchain');
  const src = await scratchFilesystem(world, 'rchain-src', 'ext4', 384 << 20);
  const p = (...parts: string[]) => join(src.mountpoint, ...parts);
  await buildRichTree(src.mountpoint, { largeBytes: 4 << 20 });
  for (const d of ['a', 'b', 'c']) {
    await mkdir(p('srv', d), { recursive: true });
    await writeFile(p('srv', d, `in-${d}`), `${d}\n`);
  }
  await mkdir(p('doomed', 'deep'), { recursive: true });
  await writeFile(p('doomed', 'deep', 'file'), 'goes away with its directory\n');
  const store = join(world.dir, 'store');
  const moments: Moment[] = [];
  const archive = async () => {
    // A machine this time (--root): / is the archive's root, paths are the machine's.
    const r = await lifeboat(['archive', '--store', store, '--image', 'chain', '--root', src.mountpoint, '--incremental', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const published = jsonLines(r.stdout).find((e) => e.type === 'published')!;
    moments.push({ version: String(published.version), tree: await snapshotTree(src.mountpoint) });
    await new Promise((r) => setTimeout(r, 1100)); // versions are named by the second
  };
  await archive();
  await writeFile(p('etc', 'app', 'config.ini'), '[main]\nanswer = 43\n');
  await rm(p('doomed'), { recursive: true });
  await rename(p('srv', 'a'), p('srv', 'a-moved'));
  await archive();
  // A cycle of renames, a file changed in its middle, a deleted name back, a hard link undone.
  await rename(p('srv', 'b'), p('srv', 'tmp'));
  await rename(p('srv', 'c'), p('srv', 'b'));
  await rename(p('srv', 'tmp'), p('srv', 'c'));
  await writeFile(p('srv', 'c', 'new-in-c'), 'level 2\n');
  const fh = await open(p('random-1m.bin'), 'r+');
  await fh.write(randomBytes(4096), 0, 4096, 512 << 10);
  await fh.close();
  await rm(p('sub', 'hard-c'));
  await archive();
  const [v0, v1, v2] = moments as [Moment, Moment, Moment];

  const dst = await scratchFilesystem(world, 'rchain-dst', 'ext4', 384 << 20);
  const restore = async (ref: string, to: string, ...paths: string[]) => {
    const r = await lifeboat(['restore', ref, ...paths, '--to', join(dst.mountpoint, to), '--store', store]);
    assert.equal(r.exitCode, 0, r.stderr);
    return snapshotTree(join(dst.mountpoint, to));
  };
  // The whole tree of each version, the newest through its two increments.
  assert.deepEqual(diffSnapshots(v2.tree, await restore('chain', 'whole2')), [], 'the newest version (level 2)');
  assert.deepEqual(diffSnapshots(v1.tree, await restore(`chain@${v1.version}`, 'whole1')), [], 'the middle version (level 1)');
  // A subtree through renames and deletions: each directory's later listing applies.
  assert.deepEqual(diffSnapshots(subtree(v2.tree, 'srv'), subtree(await restore('chain', 'srv2', '/srv'), 'srv')), []);
  assert.deepEqual(diffSnapshots(subtree(v1.tree, 'srv'), subtree(await restore(`chain@${v1.version}`, 'srv1', '/srv'), 'srv')), []);
  const sub = await restore('chain', 'sub2', '/sub');
  assert.deepEqual([...sub.keys()].sort(), [...subtree(v2.tree, 'sub').keys(), '.'].sort(), 'hard-c, deleted at level 2, stays deleted');
  // One file as each version had it: changed in place at level 2, rewritten at level 1.
  const file2 = await restore('chain', 'file2', '/random-1m.bin', '/etc/app/config.ini');
  for (const f of ['random-1m.bin', 'etc/app/config.ini']) assert.deepEqual(diffSnapshots(subtree(v2.tree, f), subtree(file2, f)), [], f);
  const file0 = await restore(`chain@${v0.version}`, 'file0', '/random-1m.bin', '/etc/app/config.ini', '/doomed/deep/file');
  for (const f of ['random-1m.bin', 'etc/app/config.ini', 'doomed/deep/file']) assert.deepEqual(diffSnapshots(subtree(v0.tree, f), subtree(file0, f)), [], f);
  assert.notEqual(file0.get('random-1m.bin')!.sha256, file2.get('random-1m.bin')!.sha256);

  // What a later version deleted is not in it: refused, naming it.
  const gone = await lifeboat(['restore', 'chain', '/doomed/deep/file', '--to', join(dst.mountpoint, 'gone'), '--store', store]);
  assert.equal(gone.exitCode, 3, gone.stderr);
  assert.match(failureLine(gone.stderr), new RegExp(`^lifeboat restore: /doomed/deep/file is not in chain@${v2.version}: name a path the version holds, or another version$`));
});

test('archive --path --incremental builds a chain of the tree; another directory under the same image starts a new one', async (t) => {
  const world = await makeWorld(t, 'lb-rpath');
  const src = await scratchFilesystem(world, 'rpath-src', 'ext4', 128 << 20);
  const tree = join(src.mountpoint, 'home', 'alice');
  await mkdir(join(tree, 'notes'), { recursive: true });
  await writeFile(join(tree, 'notes', 'monday.txt'), 'first\n');
  await writeFile(join(tree, 'notes', 'tuesday.txt'), 'second\n');
  const store = join(world.dir, 'store');
  const archive = async (dir: string) => {
    const r = await lifeboat(['archive', '--store', store, '--image', 'alice', '--path', dir, '--incremental', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const events = jsonLines(r.stdout);
    await new Promise((r) => setTimeout(r, 1100));
    return { level: (events.find((e) => e.type === 'published') as { incremental?: { level: number } }).incremental?.level, reason: String(events.find((e) => e.type === 'stage' && String(e.message).startsWith('incremental'))?.message) };
  };
  assert.equal((await archive(tree)).level, 0);
  await rm(join(tree, 'notes', 'monday.txt'));
  await writeFile(join(tree, 'notes', 'tuesday.txt'), 'second, edited\n');
  assert.equal((await archive(tree)).level, 1);
  const moment = await snapshotTree(tree);
  const to = join(world.dir, 'back');
  const r = await lifeboat(['restore', 'alice', 'notes', '--to', to, '--store', store]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(diffSnapshots(subtree(moment, 'notes'), subtree(await snapshotTree(to), 'notes')), []);
  const other = join(src.mountpoint, 'home');
  const switched = await archive(other);
  assert.equal(switched.level, 0);
  assert.match(switched.reason, new RegExp(`archived ${tree}, this run ${other}`));
});
