import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFstab, specMatches } from '../../images/layout/parse-fstab.js';
import { layoutFixture } from '../support/unit-kit.js';

test('a Debian fstab: comments skipped, every entry with its six fields', () => {
  const entries = parseFstab(layoutFixture('fstab-debian'));
  assert.deepEqual(entries.map((e) => e.file), ['/', '/boot/efi', '/srv/data files', '/home', '/srv', 'none', '/media/cdrom0', '/tmp', '/mnt/nfs']);
  assert.deepEqual(entries[0], { spec: 'UUID=3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', file: '/', vfstype: 'ext4', mntops: 'errors=remount-ro', freq: 0, passno: 1 });
  assert.deepEqual(entries[2], { spec: 'LABEL=srvdata', file: '/srv/data files', vfstype: 'xfs', mntops: 'defaults,noatime', freq: 0, passno: 2 });
  assert.deepEqual(entries[4], { spec: '/dev/mapper/vgdata-srv', file: '/srv', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 0 }, 'missing dump and pass are 0');
  assert.equal(entries[3]!.mntops, 'subvol=@home,compress=zstd:3');
  assert.equal(entries[5]!.vfstype, 'swap');
});

test('fstab: missing options default, escapes, an empty file, a file of junk', () => {
  assert.deepEqual(parseFstab('/dev/sda1 /mnt\\040x\\011y ext4'), [{ spec: '/dev/sda1', file: '/mnt x\ty', vfstype: 'ext4', mntops: 'defaults', freq: 0, passno: 0 }]);
  assert.deepEqual(parseFstab(''), []);
  assert.deepEqual(parseFstab('\u0000\u0001 garbage\n#\n'), []);
  assert.equal(parseFstab('a b c d x y')[0]!.freq, 0, 'non-numeric dump is 0');
});

test('fstab specs name devices by UUID, LABEL, PARTUUID, PARTLABEL, by-* links or path', () => {
  const dev = { path: '/dev/loop0p2', uuid: '1A2B-3C4D', label: 'ESP', partuuid: '0b5e2d1a-2222-4a8b-9c3d-5e6f7a8b9c02', partlabel: 'EFI System' };
  assert.ok(specMatches('UUID=1a2b-3c4d', dev), 'UUIDs compare without case');
  assert.ok(specMatches('UUID="1A2B-3C4D"', dev), 'quoted values');
  assert.ok(specMatches('LABEL=ESP', dev));
  assert.ok(!specMatches('LABEL=esp', dev), 'labels are exact');
  assert.ok(specMatches('PARTUUID=0B5E2D1A-2222-4A8B-9C3D-5E6F7A8B9C02', dev));
  assert.ok(specMatches('PARTLABEL=EFI System', dev));
  assert.ok(specMatches('/dev/disk/by-uuid/1A2B-3C4D', dev));
  assert.ok(specMatches('/dev/disk/by-partlabel/EFI\\x20System', dev), 'udev escapes spaces as \\x20');
  assert.ok(specMatches('/dev/loop0p2', dev));
  assert.ok(!specMatches('/dev/sda2', dev));
  assert.ok(!specMatches('UUID=1A2B-3C4D', { path: '/dev/x' }), 'no UUID known, no match');
});
