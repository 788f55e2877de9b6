import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, chmod, rm, writeFile, unlink, symlink, copyFile, rename } from 'node:fs/promises';
import { makeWorld, sh } from '../support/world.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { createTarArchive } from '../../images/archive/tar-stream.js';
import { fileVolumes } from '../../images/archive/tar-read.js';
import { compareArchive, readArchivedFacts, renderChanged } from '../../images/compare/compare-archive.js';
import type { ArchiveEntry } from '../../images/store/manifest.js';

async function archiveOf(dir: string, out: string, volumeSize: number | null): Promise<ArchiveEntry> {
  const r = await createTarArchive({ directory: dir, excludes: ['./skip-me'], compression: { kind: 'zstd', level: 3 }, output: { dir: out, baseName: 'root.tar.zst', volumeSize }, live: false });
  return { id: 'root', mountpoint: '/srv/site', device: '/dev/x', fstype: 'ext4', format: 'gnu-tar-posix', compression: { kind: 'zstd', level: 3 }, tarBytes: r.tarBytes, usedBytes: 0, excludes: ['./skip-me'], volumes: r.volumes, warnings: [] };
}

test('the tar reader sees exactly what GNU tar stored: sparse files, xattrs, owners, nanosecond mtimes', async (t) => {
  const world = await makeWorld(t, 'lb-tarparse');
  const tree = join(world.dir, 'tree');
  await sh('mkdir', ['-p', tree]);
  await buildRichTree(tree, { largeBytes: 2 << 20 });
  const entry = await archiveOf(tree, world.dir, 1 << 20);
  assert.ok(entry.volumes.length > 1, 'several volumes, so entries cross volume boundaries');
  const facts = await readArchivedFacts(fileVolumes(world.dir), entry);
  const sparse = facts.get('sparse.img')!;
  assert.equal(sparse.size, 256 << 20);
  assert.equal(sparse.sha256, (await sh('sha256sum', [join(tree, 'sparse.img')])).split(' ')[0]);
  assert.equal(facts.get('random-1m.bin')!.mtimeNs, '981173106789000000');
  assert.deepEqual([facts.get('big-ids')!.uid, facts.get('big-ids')!.gid], [3000000, 4000000]);
  assert.equal(facts.get('capable')!.xattrs.get('security.capability')!.toString('hex').slice(0, 8), '01000002');
  assert.equal(facts.get('link-relative')!.linkTarget, 'etc/app/config.ini');
  assert.equal(facts.get('hard-b')!.type, 'hardlink');
  assert.equal(facts.get('char-null')!.devMajor, 1);
  assert.ok([...facts.keys()].some((k) => k.length > 1000), 'a path over 1000 bytes');
  assert.ok(facts.has('Grüße-日本語-🚀 space.txt'));
});

test('compare reports exactly what changed: content, metadata, missing, new', async (t) => {
  const world = await makeWorld(t, 'lb-compare');
  const tree = join(world.dir, 'tree');
  await sh('mkdir', ['-p', join(tree, 'skip-me')]);
  await buildRichTree(tree, { largeBytes: 1 << 20 });
  const entry = await archiveOf(tree, world.dir, null);
  const open = fileVolumes(world.dir);

  const same = await compareArchive({ open, entry, root: tree });
  assert.deepEqual(same.differences, [], 'an untouched tree has no differences');

  await appendFile(join(tree, 'etc/app/config.ini'), 'changed = yes\n');
  await chmod(join(tree, 'setuid'), 0o755);
  await sh('setfattr', ['-n', 'user.comment', '-v', 'edited', join(tree, 'xattr-file')]);
  await sh('setcap', ['-r', join(tree, 'capable')]);
  await unlink(join(tree, 'empty'));
  await writeFile(join(tree, 'sub', 'brand-new'), 'new\n');
  await rm(join(tree, 'link-dangling'));
  await symlink('elsewhere', join(tree, 'link-dangling'));
  await copyFile(join(tree, 'hard-b'), join(tree, 'hard-b.tmp'));
  await rename(join(tree, 'hard-b.tmp'), join(tree, 'hard-b')); // same bytes, no longer the same inode
  await writeFile(join(tree, 'skip-me', 'ignored'), 'excluded at archive time\n');

  const r = await compareArchive({ open, entry, root: tree });
  const got = r.differences.map((d) => `${d.kind} ${d.path}`);
  assert.deepEqual(got, [
    'metadata /srv/site/capable',
    'missing /srv/site/empty',
    'content /srv/site/etc/app/config.ini',
    'metadata /srv/site/hard-b',
    'metadata /srv/site/link-dangling',
    'metadata /srv/site/setuid',
    'new /srv/site/sub/brand-new',
    'metadata /srv/site/xattr-file',
  ]);
  const byPath = Object.fromEntries(r.differences.map((d) => [d.path, d.details.join('; ')]));
  assert.match(byPath['/srv/site/setuid']!, /mode 4755 → 0755/);
  assert.match(byPath['/srv/site/capable']!, /xattr security.capability removed/);
  assert.match(byPath['/srv/site/link-dangling']!, /link target does\/not\/exist → elsewhere/);
  assert.match(byPath['/srv/site/hard-b']!, /no longer a hard link/);
  const text = renderChanged(['image test'], [{ mountpoint: '/srv/site', ...r }]);
  assert.match(text, /^content  \/srv\/site\/etc\/app\/config\.ini  \(size \d+ → \d+/m);
  assert.match(text, /# summary: 1 content, 5 metadata, 1 missing, 1 new/);

  const ignoring = await compareArchive({ open, entry, root: tree, ignore: (p) => p.startsWith('/srv/site/etc/') || p === '/srv/site/sub/brand-new' });
  assert.ok(!ignoring.differences.some((d) => d.path.startsWith('/srv/site/etc/') || d.path.endsWith('brand-new')));
});
