import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifeboatError } from '../../core/errors.js';
import { parseBlkidExport } from '../../images/layout/parse-blkid.js';
import { parseBtrfsSubvolumes } from '../../images/layout/parse-btrfs.js';
import { parseDumpe2fs } from '../../images/layout/parse-dumpe2fs.js';
import { parseFindmnt } from '../../images/layout/parse-findmnt.js';
import { parseFstab } from '../../images/layout/parse-fstab.js';
import { parseLsblk } from '../../images/layout/parse-lsblk.js';
import { parseLvmFullreport } from '../../images/layout/parse-lvm.js';
import { parseMdadmDetail, parseMdadmExport } from '../../images/layout/parse-mdadm.js';
import { parseMdstat } from '../../images/layout/parse-mdstat.js';
import { parseOsRelease } from '../../images/layout/parse-os-release.js';
import { parseSfdisk } from '../../images/layout/parse-sfdisk.js';
import { parseXfsInfo } from '../../images/layout/parse-xfs-info.js';
import { layoutFixture } from '../support/unit-kit.js';

/**
 * The parsers' contract on input they were not written for: return something, or refuse with
 * LB_INVALID, never a TypeError. Inputs: every fixture cut short at many points, with lines
 * dropped, and JSON whose fields have the wrong types.
 */

const parsers: Array<[string, (text: string) => unknown, string]> = [
  ['lsblk', parseLsblk, 'lsblk-raid-lvm-handwritten.json'],
  ['lsblk host', parseLsblk, 'lsblk-loops.json'],
  ['sfdisk', parseSfdisk, 'sfdisk-dos.json'],
  ['findmnt', parseFindmnt, 'findmnt-tree.json'],
  ['blkid', (t) => parseBlkidExport(t), 'blkid-p.txt'],
  ['fstab', parseFstab, 'fstab-debian'],
  ['os-release', parseOsRelease, 'os-release-quoting'],
  ['lvm', parseLvmFullreport, 'lvm-fullreport.json'],
  ['mdadm detail', (t) => parseMdadmDetail(t, '/dev/md9'), 'mdadm-detail-md1-raid5-degraded.txt'],
  ['mdadm export', (t) => parseMdadmExport(t, { device: '/dev/md9', size: 1 }), 'mdadm-export-md1-raid5-spare.txt'],
  ['mdstat', parseMdstat, 'mdstat.txt'],
  ['btrfs', (t) => parseBtrfsSubvolumes(t, t), 'btrfs-subvolume-list.txt'],
  ['dumpe2fs', parseDumpe2fs, 'dumpe2fs-ext4.txt'],
  ['xfs_info', parseXfsInfo, 'xfs_info.txt'],
];

function keepsContract(name: string, parse: (text: string) => unknown, input: string): void {
  try {
    parse(input);
  } catch (e) {
    assert.ok(e instanceof LifeboatError && e.code === 'LB_INVALID', `${name} threw ${(e as Error).stack} on ${JSON.stringify(input.slice(0, 200))}`);
  }
}

test('every parser, given its fixture cut short or with lines dropped, returns or refuses with LB_INVALID', () => {
  for (const [name, parse, file] of parsers) {
    const text = layoutFixture(file);
    const step = Math.max(1, Math.floor(text.length / 97));
    for (let cut = 0; cut <= text.length; cut += step) keepsContract(name, parse, text.slice(0, cut));
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i += Math.max(1, Math.floor(lines.length / 40))) keepsContract(name, parse, lines.filter((_, j) => j !== i).join('\n'));
  }
});

test('JSON parsers given the right shape with the wrong types inside return or refuse with LB_INVALID', () => {
  const odd = [null, 0, 7.5, -1, '', 'x', true, [], {}, [null], [{}], { a: 1 }, '12abc', '  42 ', 1e300];
  const shapes: Array<[string, (text: string) => unknown, (v: unknown) => unknown]> = [
    ['lsblk', parseLsblk, (v) => ({ blockdevices: [{ name: v, size: v, path: v, 'log-sec': v, mountpoints: v, rota: v, children: v }, v] })],
    ['sfdisk', parseSfdisk, (v) => ({ partitiontable: { label: 'gpt', id: v, sectorsize: v, firstlba: v, partitions: [{ node: '/dev/x1', start: v, size: v, type: v, bootable: v }, v] } })],
    ['sfdisk label', parseSfdisk, (v) => ({ partitiontable: { label: v, id: 'x', partitions: v } })],
    ['findmnt', parseFindmnt, (v) => ({ filesystems: [{ target: v, source: v, size: v, children: v }, v] })],
    ['lvm', parseLvmFullreport, (v) => ({ report: [{ vg: [{ vg_name: v, vg_size: v }], pv: [{ pv_name: v, pv_size: v }, v], lv: [{ lv_name: v, lv_uuid: v, lv_size: v }], seg: [{ lv_uuid: v, seg_start: v, devices: v }] }, v] })],
  ];
  for (const [name, parse, make] of shapes) for (const v of odd) keepsContract(name, parse, JSON.stringify(make(v)));
});
