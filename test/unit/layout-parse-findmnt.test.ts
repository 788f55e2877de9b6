import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFindmnt } from '../../images/layout/parse-findmnt.js';
import { assertFields, layoutFixture, refuses } from '../support/unit-kit.js';

test('findmnt tree and list forms give the same mounts in the same order', () => {
  const tree = parseFindmnt(layoutFixture('findmnt-tree.json'));
  const list = parseFindmnt(layoutFixture('findmnt-list.json'));
  assert.equal(tree.length, list.length);
  assert.deepEqual(tree.map((m) => m.target).sort(), list.map((m) => m.target).sort());
  assert.equal(tree[0]!.target, '/');
  assert.equal(tree[0]!.device, '/dev/vda');
});

test('a mounted ext4 with its size, used bytes, UUID, label and PARTUUID', () => {
  const root = parseFindmnt(layoutFixture('findmnt-list.json')).find((m) => m.device === '/dev/loop0p3')!;
  assert.match(root.target, /\/root$/);
  assertFields(root, {
    fstype: 'ext4', options: 'rw,relatime', uuid: '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', label: 'rootfs',
    partuuid: '0b5e2d1a-3333-4a8b-9c3d-5e6f7a8b9c03', size: 382318592, used: 3014656, fsroot: '/',
  }, 'root mount');
});

test('a btrfs subvolume mount: device without the bracket, fsroot is the subvolume', () => {
  const mounts = parseFindmnt(layoutFixture('findmnt-tree.json')).filter((m) => m.device === '/dev/loop0p5');
  assert.equal(mounts.length, 2);
  const home = mounts.find((m) => m.fsroot === '/@home')!;
  assert.equal(home.source, '/dev/loop0p5[/@home]');
  assert.match(home.options, /subvol=\/@home/);
  // Pseudo filesystems have no UUID: absent, not null.
  const proc = parseFindmnt(layoutFixture('findmnt-tree.json')).find((m) => m.target === '/proc')!;
  assert.equal('uuid' in proc, false);
});

test('findmnt: the bracket is read from SOURCE when FSROOT was not asked for; garbage refused', () => {
  const [m] = parseFindmnt('{"filesystems": [{"source": "/dev/sda2[/@]", "target": "/", "fstype": "btrfs", "options": "ro"}, {"target": "/x"}]}');
  assert.deepEqual(m, { target: '/', source: '/dev/sda2[/@]', device: '/dev/sda2', fsroot: '/@', fstype: 'btrfs', options: 'ro' });
  refuses(() => parseFindmnt('{"blockdevices": []}'), 'LB_INVALID');
});
