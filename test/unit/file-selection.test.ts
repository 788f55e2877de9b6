import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectArchives, treeRoot } from '../../images/restore/file-selection.js';
import { pathSource, treeLayout } from '../../images/archive/path-source.js';
import type { MountEntry } from '../../images/archive/select-sources.js';
import type { ArchiveEntry, Manifest } from '../../images/store/manifest.js';
import { refuses } from '../support/unit-kit.js';

const archive = (id: string, mountpoint: string, subvolume?: string): ArchiveEntry => ({
  id, mountpoint, device: '/dev/vda', fstype: 'ext4', format: 'gnu-tar-posix', compression: { kind: 'zstd' }, tarBytes: 1, usedBytes: 1,
  excludes: [], volumes: [{ path: `data/${id}.tar.zst`, bytes: 1, sha256: '0'.repeat(64) }], warnings: [], ...(subvolume !== undefined ? { subvolume } : {}),
});

const manifest = (source: Manifest['source'], archives: ArchiveEntry[]): Manifest => ({
  format: 'lifeboat-image/1', image: 'web01', version: '20261205T020000Z', createdAt: '', completedAt: '',
  creator: { tool: 'lifeboat', version: '0', hostname: 'h' }, source, layout: treeLayout('h'), volumeSize: null, archives, warnings: [],
});

const machine = manifest({ mode: 'live', root: '/' }, [archive('root', '/'), archive('boot-efi', '/boot/efi'), archive('home', '/home'), archive('root@top', '', '')]);
const tree = manifest({ mode: 'path', path: '/srv/nfs/exports' }, [archive('tree', '/srv/nfs/exports')]);

test('each PATH goes to the deepest archived filesystem holding it, and lands under --to at its path from the root', () => {
  const picked = selectArchives(machine, ['/etc/hosts', '/boot/efi/EFI', 'home/alice', '/etc/hosts'], '/tmp/back');
  assert.deepEqual(picked.map((s) => [s.entry.id, s.target, s.rels]), [
    ['root', '/tmp/back', ['etc/hosts']],
    ['boot-efi', '/tmp/back/boot/efi', ['EFI']],
    ['home', '/tmp/back/home', ['alice']],
  ]);
  // A filesystem's own mountpoint is the whole of it.
  assert.deepEqual(selectArchives(machine, ['/home'], '/t').map((s) => [s.entry.id, s.rels]), [['home', null]]);
});

test('no PATH: every placed filesystem, parents first; a subvolume mounted nowhere has no place', () => {
  assert.deepEqual(selectArchives(machine, [], '/t').map((s) => [s.entry.id, s.target, s.rels]), [
    ['root', '/t', null],
    ['home', '/t/home', null],
    ['boot-efi', '/t/boot/efi', null],
  ]);
});

test('a --path tree: its root is the archived directory, absolute and relative PATHs alike; outside it is refused', () => {
  assert.equal(treeRoot(tree), '/srv/nfs/exports');
  assert.deepEqual(selectArchives(tree, ['/srv/nfs/exports/alice/notes.txt', 'bob'], '/r').map((s) => [s.target, s.rels]), [['/r', ['alice/notes.txt', 'bob']]]);
  assert.deepEqual(selectArchives(tree, [], '/r').map((s) => [s.target, s.rels]), [['/r', null]]);
  refuses(() => selectArchives(tree, ['/etc/passwd'], '/r'), 'LB_NOT_FOUND', /^\/etc\/passwd is not in web01@20261205T020000Z: the version holds the tree under \/srv\/nfs\/exports; name a path inside it$/);
  refuses(() => selectArchives(tree, ['../../../etc'], '/r'), 'LB_NOT_FOUND', /is not in web01/);
});

const m = (target: string, source: string, fstype: string): MountEntry => ({ target, source, fstype, options: 'rw', fsroot: '/' });

test('archive --path: the tree is read where it lies, named for its filesystem, with what is mounted inside it left out', () => {
  const mounts = [m('/', '/dev/vda2', 'ext4'), m('/srv', '/dev/vdb1', 'xfs'), m('/srv/nfs/exports/scratch', 'tmpfs', 'tmpfs'), m('/srv/nfs', '/dev/vdc1', 'ext4')];
  const { source, skipped } = pathSource(mounts, { directory: '/srv/nfs/exports/', excludes: ['/srv/nfs/exports/cache'], storeDir: '/srv/nfs/exports/store' });
  assert.deepEqual(source, { id: 'tree', mountpoint: '/srv/nfs/exports', directory: '/srv/nfs/exports', device: '/dev/vdc1', fstype: 'ext4', excludes: ['./cache', './store'] });
  assert.deepEqual(skipped.map((s) => s.target), ['/srv/nfs/exports/scratch']);
  refuses(() => pathSource(mounts, { directory: '/srv/nfs/exports', excludes: ['/etc'], storeDir: '/store' }), 'LB_USAGE', /--exclude \/etc is not inside --path/);
  refuses(() => pathSource(mounts, { directory: '/store/web01', excludes: [], storeDir: '/store' }), 'LB_USAGE', /is inside \/store, where the archive itself is written/);
});
