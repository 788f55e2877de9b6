import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectSources, archiveIdFor, btrfsSubvolumeSources, type MountEntry } from '../../images/archive/select-sources.js';

const m = (target: string, source: string, fstype: string, fsroot = '/'): MountEntry => ({ target, source, fstype, options: 'rw', fsroot });

const machine: MountEntry[] = [
  m('/', '/dev/vda2', 'ext4'),
  m('/proc', 'proc', 'proc'),
  m('/sys', 'sysfs', 'sysfs'),
  m('/dev', 'udev', 'devtmpfs'),
  m('/run', 'tmpfs', 'tmpfs'),
  m('/boot/efi', '/dev/vda1', 'vfat'),
  m('/home', '/dev/mapper/vg-home', 'xfs'),
  m('/srv/backup', 'nas:/backup', 'nfs4'),
  m('/mnt/sshfs', 'user@host:', 'fuse.sshfs'),
  m('/var/www', '/dev/vda2', 'ext4', '/srv/www'),
  m('/data', '/dev/sdb1', 'btrfs', '/@data'),
  m('/snapshots', '/dev/sdb1', 'btrfs', '/@snapshots'),
  m('/media/usb', '/dev/sdc1', 'ext4'),
];

test('archives local disk filesystems once each and says why the rest were skipped', () => {
  const { sources, skipped } = selectSources(machine, { root: '/', excludes: [], storeDir: '/srv/backup/store' });
  assert.deepEqual(sources.map((s) => [s.id, s.mountpoint, s.device]), [
    ['root', '/', '/dev/vda2'],
    ['boot-efi', '/boot/efi', '/dev/vda1'],
    ['data', '/data', '/dev/sdb1'],
    ['home', '/home', '/dev/mapper/vg-home'],
    ['media-usb', '/media/usb', '/dev/sdc1'],
    ['snapshots', '/snapshots', '/dev/sdb1'],
  ]);
  const reasons = Object.fromEntries(skipped.map((s) => [s.target, s.reason]));
  assert.match(reasons['/proc']!, /pseudo/);
  assert.match(reasons['/srv/backup']!, /network/);
  assert.match(reasons['/mnt/sshfs']!, /network or FUSE/);
  assert.match(reasons['/var/www']!, /bind mount/);
});

test('the store and scratch directories are left out of the stream that holds them', () => {
  const { sources } = selectSources(machine, { root: '/', excludes: [], storeDir: '/var/lib/lifeboat/store', scratchDir: '/home/op/scratch' });
  assert.deepEqual(sources.find((s) => s.id === 'root')!.excludes, ['./var/lib/lifeboat/store', './var/www']);
  assert.deepEqual(sources.find((s) => s.id === 'home')!.excludes, ['./op/scratch']);
});

test('a filesystem mounted under the store or an excluded path is not archived at all', () => {
  const mounts = [m('/', '/dev/vda2', 'ext4'), m('/store', '/dev/vdb1', 'xfs'), m('/scratch/x', '/dev/vdc1', 'ext4')];
  const { sources, skipped } = selectSources(mounts, { root: '/', excludes: ['/scratch'], storeDir: '/store' });
  assert.deepEqual(sources.map((s) => s.id), ['root']);
  assert.deepEqual(sources[0]!.excludes, ['./scratch', './store']);
  assert.deepEqual(skipped.map((s) => s.target).sort(), ['/scratch/x', '/store']);
});

test('user excludes go to the deepest filesystem holding them', () => {
  const { sources } = selectSources(machine, { root: '/', excludes: ['/home/user/.cache', '/var/cache/apt', '/tmp/'], storeDir: '/nowhere' });
  assert.deepEqual(sources.find((s) => s.id === 'home')!.excludes, ['./user/.cache']);
  assert.deepEqual(sources.find((s) => s.id === 'root')!.excludes, ['./var/cache/apt', './tmp', './nowhere', './var/www']);
});

test('with --root, mountpoints are paths on the archived system', () => {
  const mounts = [m('/', '/dev/vda2', 'ext4'), m('/mnt/sys', '/dev/loop3p2', 'ext4'), m('/mnt/sys/boot', '/dev/loop3p1', 'ext4'), m('/mnt/sys/proc', 'proc', 'proc')];
  const { sources } = selectSources(mounts, { root: '/mnt/sys/', excludes: ['/var/tmp'], storeDir: '/srv/store' });
  assert.deepEqual(sources.map((s) => [s.id, s.mountpoint, s.directory, s.excludes]), [
    ['root', '/', '/mnt/sys', ['./var/tmp']],
    ['boot', '/boot', '/mnt/sys/boot', []],
  ]);
});

test('the last mount on a target is the visible one', () => {
  const mounts = [m('/', '/dev/vda2', 'ext4'), m('/opt', '/dev/vdb1', 'ext4'), m('/opt', 'tmpfs', 'tmpfs')];
  const { sources } = selectSources(mounts, { root: '/', excludes: [], storeDir: '/store' });
  assert.deepEqual(sources.map((s) => s.id), ['root']);
});

test('archive ids are stable, readable names', () => {
  assert.equal(archiveIdFor('/'), 'root');
  assert.equal(archiveIdFor('/boot/efi'), 'boot-efi');
  assert.equal(archiveIdFor('/var/lib/My Data'), 'var-lib-my-data');
  assert.equal(archiveIdFor('/.hidden'), 'hidden');
});

test('btrfs mounts carry their subvolume; one mounted under the store is reported as excluded', () => {
  const mounts = [m('/', '/dev/vda2', 'btrfs', '/@'), m('/home', '/dev/vda2', 'btrfs', '/@home'), m('/srv/store', '/dev/vda2', 'btrfs', '/@store'), m('/pool', '/dev/vda2', 'btrfs')];
  const { sources, excludedSubvolumes } = selectSources(mounts, { root: '/', excludes: [], storeDir: '/srv/store' });
  assert.deepEqual(sources.map((s) => [s.id, s.subvolume]), [['root', '@'], ['home', '@home'], ['pool', '']]);
  assert.deepEqual(excludedSubvolumes, [{ device: '/dev/vda2', subvolume: '@store' }]);
});

test('every btrfs subvolume no mount shows gets a stream: under the mount that holds it, else through the top', () => {
  const sources = selectSources([m('/', '/dev/vda2', 'btrfs', '/@'), m('/home', '/dev/vda2', 'btrfs', '/@home')], { root: '/', excludes: [], storeDir: '/nowhere' }).sources;
  const volumes = [{
    device: '/dev/vda2', mountpoint: '/',
    subvolumes: ['@', '@home', '@/var/lib/machines', '@logs', '@logs/old', '@/.snapshots', '@/.snapshots/1/snapshot', '@store', '@store/inner'].map((path) => ({ path })),
  }];
  const excluded = [{ device: '/dev/vda2', subvolume: '@store' }];
  // First pass: @logs, @logs/old and the top are visible nowhere: the caller must mount the top.
  const first = btrfsSubvolumeSources({ sources, volumes, excluded, excludedDirectories: ['/var/lib/machines/cache'], tops: new Map() });
  assert.deepEqual(first.needTop, ['/dev/vda2']);
  assert.deepEqual(first.sources.map((s) => [s.id, s.subvolume, s.directory, s.mountpoint, s.excludes]), [
    ['root@snapshots', '@/.snapshots', '/.snapshots', '', []],
    ['root@var-lib-machines', '@/var/lib/machines', '/var/lib/machines', '', ['./cache']],
  ]);
  assert.deepEqual(first.skipped.map((s) => [s.target, s.reason]), [
    ['/dev/vda2 subvolume @/.snapshots/1/snapshot', 'snapper snapshot (history, not the system)'],
    ['/dev/vda2 subvolume @store', 'inside an excluded subvolume'],
    ['/dev/vda2 subvolume @store/inner', 'inside an excluded subvolume'],
  ]);
  const second = btrfsSubvolumeSources({ sources, volumes, excluded, tops: new Map([['/dev/vda2', { directory: '/tmp/top', holdsFiles: false }]]) });
  assert.deepEqual(second.needTop, []);
  assert.deepEqual(second.sources.filter((s) => s.directory.startsWith('/tmp/top')).map((s) => [s.id, s.subvolume, s.directory]), [
    ['root@logs', '@logs', '/tmp/top/@logs'],
    ['root@logs-old', '@logs/old', '/tmp/top/@logs/old'],
  ]);
  assert.ok(second.skipped.some((s) => s.target === '/dev/vda2 subvolume (top)' && s.reason === 'holds nothing but subvolumes'));
  const withFiles = btrfsSubvolumeSources({ sources, volumes, excluded, tops: new Map([['/dev/vda2', { directory: '/tmp/top', holdsFiles: true }]]) });
  assert.deepEqual(withFiles.sources.find((s) => s.subvolume === ''), { id: 'root@top', mountpoint: '', directory: '/tmp/top', device: '/dev/vda2', fstype: 'btrfs', excludes: [], subvolume: '' });
});
