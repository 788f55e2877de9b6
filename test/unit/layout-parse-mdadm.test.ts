import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMdadmDetail, parseMdadmExport } from '../../images/layout/parse-mdadm.js';
import { parseMdstat } from '../../images/layout/parse-mdstat.js';
import { layoutFixture, refuses } from '../support/unit-kit.js';

test('mdadm --detail of a RAID1: size in bytes, name without the host note, members by slot', () => {
  assert.deepEqual(parseMdadmDetail(layoutFixture('mdadm-detail-md0-raid1.txt')), {
    device: '/dev/md0', name: 'web1:0', level: 'raid1', uuid: 'b7ec5eac:5d32e7f6:e4c663dd:0b965a7d', metadata: '1.2',
    size: 1046528 * 1024, raidDevices: 2,
    members: [{ device: '/dev/sda2', slot: 0, state: 'active sync' }, { device: '/dev/sdb2', slot: 1, state: 'active sync' }],
  });
});

test('a degraded RAID5: chunk and layout, the rebuilding spare holds its slot, the faulty one none', () => {
  const md = parseMdadmDetail(layoutFixture('mdadm-detail-md1-raid5-degraded.txt'));
  assert.equal(md.level, 'raid5');
  assert.equal(md.chunkSize, 512 * 1024);
  assert.equal(md.layout, 'left-symmetric');
  assert.equal(md.size, 41908224 * 1024);
  assert.equal(md.raidDevices, 3);
  assert.deepEqual(md.members, [
    { device: '/dev/sda3', slot: 0, state: 'active sync' },
    { device: '/dev/sdc3', slot: 1, state: 'spare rebuilding' },
    { device: '/dev/sdb3', slot: 2, state: 'active sync' },
    { device: '/dev/sdd3', slot: -1, state: 'faulty' },
  ]);
});

test('a 0.90 RAID10 with a removed slot: the removed row is no member, the device name is taken as given', () => {
  const md = parseMdadmDetail(layoutFixture('mdadm-detail-md2-raid10-0.90-removed.txt'), '/dev/md/2');
  assert.equal(md.device, '/dev/md/2');
  assert.equal(md.metadata, '0.90');
  assert.equal(md.layout, 'near=2');
  assert.equal(md.chunkSize, 65536);
  assert.equal(md.raidDevices, 4);
  assert.equal(md.name, undefined);
  assert.deepEqual(md.members.map((m) => m.device), ['/dev/sdb1', '/dev/sda1', '/dev/sdc1']);
  assert.equal(parseMdadmDetail(layoutFixture('mdadm-detail-md2-raid10-0.90-removed.txt').replace('0.90', '00.90.03')).metadata, '0.90');
});

test('mdadm --detail --export: members by role, spares without a slot, size from the caller', () => {
  const md = parseMdadmExport(layoutFixture('mdadm-export-md1-raid5-spare.txt'), { size: 42914021376 });
  assert.equal(md.device, '/dev/md/1');
  assert.equal(md.level, 'raid5');
  assert.equal(md.name, 'web1:1');
  assert.equal(md.size, 42914021376);
  assert.equal(md.raidDevices, 3);
  assert.deepEqual(md.members, [
    { device: '/dev/sda3', slot: 0 }, { device: '/dev/sdc3', slot: 1 }, { device: '/dev/sdb3', slot: 2 }, { device: '/dev/sde3', slot: -1, state: 'spare' },
  ]);
  const md0 = parseMdadmExport(layoutFixture('mdadm-export-md0-raid1.txt'), { device: '/dev/md0', size: 1071644672 });
  assert.equal(md0.device, '/dev/md0');
  assert.equal(md0.uuid, 'b7ec5eac:5d32e7f6:e4c663dd:0b965a7d');
});

test('mdadm: what is not an array is refused with the reason', () => {
  refuses(() => parseMdadmDetail('mdadm: /dev/sda does not appear to be an md device\n'), 'LB_INVALID', /Raid Level/);
  refuses(() => parseMdadmDetail('Raid Level : raid1\nUUID : a:b:c:d\n'), 'LB_INVALID', /does not name its array/);
  refuses(() => parseMdadmExport('MD_LEVEL=raid1\n', { size: 0 }), 'LB_INVALID', /MD_UUID/);
});

test('/proc/mdstat: active, auto-read-only and inactive arrays with their members and flags', () => {
  const arrays = parseMdstat(layoutFixture('mdstat.txt'));
  assert.deepEqual(arrays.map((a) => [a.name, a.active, a.readOnly, a.level]), [
    ['md1', true, false, 'raid5'], ['md0', true, true, 'raid1'], ['md127', false, false, undefined],
  ]);
  assert.deepEqual(arrays[0]!.members.find((m) => m.name === 'sdd3'), { name: 'sdd3', index: 1, flags: ['F'] });
  assert.deepEqual(arrays[2]!.members.map((m) => m.flags), [['S'], ['S']]);
  assert.deepEqual(parseMdstat(layoutFixture('mdstat-empty.txt')), []);
});
