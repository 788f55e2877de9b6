import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBlkidExport } from '../../images/layout/parse-blkid.js';
import { assertFields, layoutFixture } from '../support/unit-kit.js';

test('blkid -p: filesystems, swap, partition entries and the tables themselves', () => {
  const entries = parseBlkidExport(layoutFixture('blkid-p.txt'));
  const by = (d: string) => entries.find((e) => e.device === d)!;
  assert.deepEqual(entries.map((e) => e.device), [
    '/dev/loop0', '/dev/loop0p1', '/dev/loop0p2', '/dev/loop0p3', '/dev/loop0p4', '/dev/loop0p5', '/dev/loop0p6',
    '/dev/loop1', '/dev/loop1p1', '/dev/loop1p2', '/dev/loop1p3', '/dev/loop1p5', '/dev/loop1p6', '/dev/loop3',
  ]);
  assert.equal(by('/dev/loop0').ptType, 'gpt');
  assert.equal(by('/dev/loop0').ptUuid, '6f1c3a52-8b1e-4d2b-9c55-0e3b1d7a4f10');
  assertFields(by('/dev/loop0p3'), {
    type: 'ext4', uuid: '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', label: 'rootfs', partuuid: '0b5e2d1a-3333-4a8b-9c3d-5e6f7a8b9c03',
    parttype: '0fc63daf-8483-4772-8e79-3d69d8477de4', partNumber: 3, usage: 'filesystem',
  }, '/dev/loop0p3');
  assert.equal(by('/dev/loop0p2').partlabel, 'EFI System', 'backslash escape removed');
  assert.equal(by('/dev/loop0p2').type, 'vfat');
  assert.equal(by('/dev/loop0p2').uuid, '1A2B-3C4D');
  assert.equal(by('/dev/loop0p6').type, 'swap');
  assert.equal(by('/dev/loop0p6').label, 'swap0');
  assert.equal(by('/dev/loop0p5').uuidSub, 'bf2815bd-b83b-4947-b806-367964f70e1c');
  assert.equal(by('/dev/loop0p1').type, undefined, 'bios_grub holds no filesystem');
  assert.equal(by('/dev/loop1p5').label, 'old data');
  assert.equal(by('/dev/loop1p1').parttype, '0x83');
  assert.equal(by('/dev/loop1').ptUuid, '5eed1234');
  assert.equal(by('/dev/loop3').type, 'LVM2_member');
  assert.equal(by('/dev/loop3').version, 'LVM2 001');
});

test('blkid cache form: PARTUUID and PARTLABEL land in the same fields', () => {
  const entries = parseBlkidExport(layoutFixture('blkid.txt'));
  const srv = entries.find((e) => e.device === '/dev/loop0p4')!;
  assert.equal(srv.type, 'xfs');
  assert.equal(srv.partlabel, 'srv data');
  assert.equal(srv.partuuid, '0b5e2d1a-4444-4a8b-9c3d-5e6f7a8b9c04');
  assert.equal(entries.find((e) => e.device === '/dev/loop1p6')!.uuid, '37b12b24-1d0d-443b-a3b0-c733820b364d');
});

test('blkid: one device without DEVNAME, outputs run together, junk lines', () => {
  assert.deepEqual(parseBlkidExport('UUID=abc\nTYPE=ext4\n', '/dev/sdz1').map((e) => [e.device, e.type, e.uuid]), [['/dev/sdz1', 'ext4', 'abc']]);
  const joined = parseBlkidExport('DEVNAME=/dev/a\nTYPE=xfs\nDEVNAME=/dev/b\nTYPE=swap\nblkid: error\n');
  assert.deepEqual(joined.map((e) => [e.device, e.type]), [['/dev/a', 'xfs'], ['/dev/b', 'swap']]);
  assert.deepEqual(parseBlkidExport(''), []);
  assert.deepEqual(parseBlkidExport('TYPE=ext4\n'), [], 'no device, no entry');
});
