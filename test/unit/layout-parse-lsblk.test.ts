import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLsblk } from '../../images/layout/parse-lsblk.js';
import { layoutFixture, refuses } from '../support/unit-kit.js';

test('lsblk of loop disks: every disk with its size and sector sizes, partitions under their disk', () => {
  const { disks, blockDevices, devices } = parseLsblk(layoutFixture('lsblk-loops.json'));
  assert.deepEqual(disks.map((d) => [d.name, d.size, d.logicalSectorSize]), [
    ['loop0', 1258291200, 512],
    ['loop1', 419430400, 512],
    ['loop2', 67108864, 4096],
    ['loop3', 314572800, 512],
  ]);
  for (const d of disks) assert.equal(d.table, null, 'tables come from sfdisk, not lsblk');
  const p3 = blockDevices.find((b) => b.name === 'loop0p3');
  assert.deepEqual(p3, { name: 'loop0p3', path: '/dev/loop0p3', type: 'part', size: 419430400, parents: ['loop0'] });
  assert.equal(blockDevices.filter((b) => b.parents[0] === 'loop1').length, 5);
  // A btrfs volume mounted twice (top and a subvolume) lists both mountpoints.
  assert.equal(devices.find((d) => d.name === 'loop0p5')!.mountpoints.length, 2);
  // Without udev lsblk knows no filesystem type: the field is absent, not null.
  assert.equal('fstype' in devices.find((d) => d.name === 'loop0p3')!, false);
});

test('lsblk of the host: a disk holding a filesystem without a partition table, zram, the mounted root', () => {
  const { disks, devices } = parseLsblk(layoutFixture('lsblk-host.json'));
  const vda = disks.find((d) => d.name === 'vda')!;
  assert.equal(vda.path, '/dev/vda');
  assert.equal(vda.size, 274877906944);
  assert.ok(devices.find((d) => d.name === 'vda')!.mountpoints.includes('/'));
  assert.ok(disks.some((d) => d.name === 'zram0'));
});

test('an md array on two disks and an LV on it appear once, with every device they are built on', () => {
  const { disks, blockDevices, devices } = parseLsblk(layoutFixture('lsblk-raid-lvm-handwritten.json'));
  assert.deepEqual(disks.map((d) => d.name), ['sda', 'sdb', 'sr0']);
  const sda = disks[0]!;
  assert.equal(sda.model, 'Samsung SSD 870 EVO 40GB');
  assert.equal(sda.physicalSectorSize, 4096);
  assert.equal(sda.rotational, false);
  assert.equal(sda.transport, 'sata');
  assert.equal(disks[1]!.rotational, true, 'old lsblk prints rota as "1"');
  assert.equal(disks[1]!.model, 'WDC WD400EFRX', 'model padding trimmed');
  assert.equal(blockDevices.filter((b) => b.name === 'md0').length, 1);
  assert.deepEqual(blockDevices.find((b) => b.name === 'md0')!.parents, ['sda2', 'sdb2']);
  assert.deepEqual(blockDevices.find((b) => b.name === 'md1')!.parents, ['sda3', 'sdb3']);
  const lv = blockDevices.find((b) => b.name === 'vgdata-srv')!;
  assert.deepEqual(lv, { name: 'vgdata-srv', path: '/dev/mapper/vgdata-srv', type: 'lvm', size: 21474836480, parents: ['md1'] });
  assert.deepEqual(devices.find((d) => d.name === 'md0')!.mountpoints, ['/boot']);
  assert.equal(devices.find((d) => d.name === 'sda1')!.parttype, 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b');
});

test('lsblk: unknown fields are ignored, missing ones absent, a non-lsblk document refused', () => {
  const { disks } = parseLsblk(JSON.stringify({ blockdevices: [{ name: 'vdz', size: '1024', 'new-field': [1, 2] }, { nope: true }] }));
  assert.deepEqual(disks, [{ name: 'vdz', path: '/dev/vdz', size: 1024, logicalSectorSize: 512, physicalSectorSize: 512, table: null }]);
  refuses(() => parseLsblk('{"filesystems": []}'), 'LB_INVALID', /blockdevices/);
  refuses(() => parseLsblk('lsblk: unknown column'), 'LB_INVALID');
});
