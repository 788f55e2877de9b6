import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBtrfsDefault, parseBtrfsSubvolumes } from '../../images/layout/parse-btrfs.js';
import { parseDumpe2fs } from '../../images/layout/parse-dumpe2fs.js';
import { parseXfsInfo } from '../../images/layout/parse-xfs-info.js';
import { layoutFixture, refuses } from '../support/unit-kit.js';

test('btrfs subvolumes from the top-level mount, with the default marked', () => {
  assert.deepEqual(parseBtrfsSubvolumes(layoutFixture('btrfs-subvolume-list.txt'), layoutFixture('btrfs-get-default.txt')), [
    { id: 256, path: '@', isDefault: true },
    { id: 257, path: '@home', isDefault: false },
    { id: 258, path: '@home/.snapshots', isDefault: false },
  ]);
});

test('btrfs subvolumes listed from a subvolume mount: paths from the top all the same', () => {
  assert.deepEqual(parseBtrfsSubvolumes(layoutFixture('btrfs-subvolume-list-from-subvol.txt')), [
    { id: 256, path: '@' }, { id: 257, path: '@/var' }, { id: 258, path: '@home' },
  ]);
  assert.equal(parseBtrfsDefault(layoutFixture('btrfs-get-default-fstree.txt')), 5);
  assert.deepEqual(parseBtrfsSubvolumes('', 'ID 5 (FS_TREE)'), []);
  assert.deepEqual(parseBtrfsSubvolumes('ERROR: not a btrfs filesystem'), []);
});

test('dumpe2fs: ext4 features without the state flag needs_recovery, geometry, label', () => {
  const sb = parseDumpe2fs(layoutFixture('dumpe2fs-ext4.txt'));
  assert.deepEqual(sb.features, ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'extent', '64bit', 'flex_bg', 'sparse_super', 'large_file', 'huge_file', 'dir_nlink', 'extra_isize', 'metadata_csum']);
  assert.equal(sb.uuid, '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13');
  assert.equal(sb.label, 'rootfs');
  assert.equal(sb.blockSize, 1024);
  assert.equal(sb.blockCount, 409600);
  assert.equal(sb.inodeCount, 102400);
  const ext2 = parseDumpe2fs(layoutFixture('dumpe2fs-ext2.txt'));
  assert.equal(ext2.label, 'old data');
  assert.ok(!ext2.features.includes('has_journal'));
  refuses(() => parseDumpe2fs('dumpe2fs: Bad magic number in super-block'), 'LB_INVALID');
});

test('xfs_info: the format switches mkfs.xfs must repeat, and the data geometry', () => {
  const info = parseXfsInfo(layoutFixture('xfs_info.txt'));
  assert.deepEqual(info.features, ['crc=1', 'finobt=1', 'sparse=1', 'rmapbt=0', 'reflink=1', 'bigtime=1', 'inobtcount=1', 'nrext64=0', 'ftype=1', 'attr=2', 'projid32bit=1', 'lazy-count=1', 'ascii-ci=0']);
  assert.equal(info.blockSize, 4096);
  assert.equal(info.dataBlocks, 81920);
  assert.equal(info.inodeSize, 512);
  assert.equal(info.logInternal, true);
  assert.equal(info.logBlocks, 16384);
  refuses(() => parseXfsInfo('xfs_info: /dev/sdz is not a valid XFS filesystem'), 'LB_INVALID');
});
