import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSfdisk } from '../../images/layout/parse-sfdisk.js';
import { layoutFixture, refuses } from '../support/unit-kit.js';

test('a GPT table: disk GUID, usable LBAs, each partition with type, PARTUUID, name and attributes', () => {
  const t = parseSfdisk(layoutFixture('sfdisk-gpt.json'));
  assert.equal(t.type, 'gpt');
  assert.equal(t.id, '6F1C3A52-8B1E-4D2B-9C55-0E3B1D7A4F10');
  assert.equal(t.sectorSize, 512);
  assert.equal(t.firstLba, 2048);
  assert.equal(t.lastLba, 2457566);
  assert.deepEqual(t.partitions.map((p) => [p.number, p.path, p.start, p.size]), [
    [1, '/dev/loop0p1', 2048, 2048],
    [2, '/dev/loop0p2', 4096, 131072],
    [3, '/dev/loop0p3', 135168, 819200],
    [4, '/dev/loop0p4', 954368, 655360],
    [5, '/dev/loop0p5', 1609728, 524288],
    [6, '/dev/loop0p6', 2134016, 321536],
  ]);
  const p3 = t.partitions[2]!;
  assert.deepEqual(p3, {
    number: 3, path: '/dev/loop0p3', start: 135168, size: 819200, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
    uuid: '0B5E2D1A-3333-4A8B-9C3D-5E6F7A8B9C03', name: 'root', attrs: 'LegacyBIOSBootable GUID:60',
  });
  assert.equal(t.partitions[1]!.type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
  assert.equal(t.partitions[3]!.name, 'srv data');
  assert.equal('bootable' in p3, false, 'GPT has no MBR active flag');
});

test('an MBR table: bootable primary, extended, logical partitions numbered from 5', () => {
  const t = parseSfdisk(layoutFixture('sfdisk-dos.json'));
  assert.equal(t.type, 'dos');
  assert.equal(t.id, '0x5eed1234');
  assert.equal(t.firstLba, undefined);
  assert.deepEqual(t.partitions.map((p) => [p.number, p.kind, p.type, p.bootable, p.start, p.size]), [
    [1, 'primary', '83', true, 2048, 204800],
    [2, 'primary', 'ef', false, 206848, 81920],
    [3, 'extended', '5', false, 288768, 409600],
    [5, 'logical', '83', false, 290816, 163840],
    [6, 'logical', '82', false, 456704, 122880],
  ]);
});

test('a disk with 4096-byte logical sectors: starts and sizes stay in its own sectors', () => {
  const t = parseSfdisk(layoutFixture('sfdisk-4k.json'));
  assert.equal(t.sectorSize, 4096);
  assert.equal(t.firstLba, 256);
  assert.deepEqual(t.partitions.map((p) => [p.start, p.size, p.start * t.sectorSize]), [[256, 4096, 1048576], [4352, 11776, 17825792]]);
});

test('sfdisk: unknown fields ignored; a table that cannot be restored is refused with the reason', () => {
  const t = parseSfdisk(JSON.stringify({ partitiontable: { label: 'dos', id: '0xABCD0001', device: '/dev/sdz', unit: 'sectors', grain: 7, partitions: [{ node: '/dev/sdz1', start: 63, size: 100, type: 'c', future: 'x' }] } }));
  assert.equal(t.sectorSize, 512, 'older sfdisk prints no sectorsize');
  assert.deepEqual(t.partitions[0], { number: 1, path: '/dev/sdz1', start: 63, size: 100, type: 'c', bootable: false, kind: 'primary' });
  assert.equal(t.id, '0xabcd0001');
  const refused = (text: string, pattern: RegExp) => refuses(() => parseSfdisk(text), 'LB_INVALID', pattern);
  refused('{"partitiontable": {"label": "sun", "id": "x", "partitions": []}}', /"sun" partition table/);
  refused('{"partitiontable": {"label": "gpt", "id": "X", "partitions": [{"node": "/dev/sdz1", "size": 5}]}}', /without node, start or size/);
  refused('{}', /no "partitiontable"/);
  refused('sfdisk: cannot open /dev/sdz', /not JSON/);
});
