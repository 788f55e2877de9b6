import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBlkidExport } from '../../images/layout/parse-blkid.js';
import { parseBtrfsSubvolumes } from '../../images/layout/parse-btrfs.js';
import { parseFindmnt } from '../../images/layout/parse-findmnt.js';
import { parseLsblk } from '../../images/layout/parse-lsblk.js';
import { parseLvmFullreport } from '../../images/layout/parse-lvm.js';
import { parseMdadmDetail, parseMdadmExport } from '../../images/layout/parse-mdadm.js';
import { parseMdstat } from '../../images/layout/parse-mdstat.js';
import { parseSfdisk } from '../../images/layout/parse-sfdisk.js';
import { layoutFixture } from '../support/unit-kit.js';

// Real outputs of mdadm 4.2, lvm2 2.03.16, util-linux 2.38.1 and btrfs-progs 6.2, captured in the
// QEMU guest that builds the multi-disk fixtures (test/fixtures/layout/capture-multidisk.sh):
// a live md RAID1 (metadata 1.2) across vda2 and vdb1 carrying an LVM VG with two linear LVs, a
// Btrfs volume with subvolumes @srv (default) and @logs, JFS, vfat, swap; and an MBR disk with
// logical partitions; and three disks with md RAID5 and RAID10 as the PVs of a VG with a striped LV
// (multidisk-raid5-stripe/). The md and PV UUIDs come from the fixture's name; VG and LV UUIDs are LVM's own.

const raid = (name: string) => layoutFixture(`multidisk-raid-lvm/${name}`);
const mbr = (name: string) => layoutFixture(`multidisk-mbr-logical/${name}`);
const r5 = (name: string) => layoutFixture(`multidisk-raid5-stripe/${name}`);
const MiB = 1024 * 1024;
const MD_UUID = '7d276b0e:6ed02997:64ede5e8:c9ece64a';
const LVM_UUID = /^[A-Za-z0-9]{6}(-[A-Za-z0-9]{4}){5}-[A-Za-z0-9]{6}$/;

test('real mdadm --detail of a clean RAID1: level, metadata, name with its host part, array size, members in slot order', () => {
  assert.deepEqual(parseMdadmDetail(raid('mdadm-detail-md0.txt')), {
    device: '/dev/md0', name: 'fixture:system', level: 'raid1', uuid: MD_UUID, metadata: '1.2',
    size: 625664 * 1024, raidDevices: 2,
    members: [{ device: '/dev/vda2', slot: 0, state: 'active sync' }, { device: '/dev/vdb1', slot: 1, state: 'active sync' }],
  });
});

test('real mdadm --detail --export agrees with the text form on everything it carries', () => {
  const detail = parseMdadmDetail(raid('mdadm-detail-md0.txt'));
  const exported = parseMdadmExport(raid('mdadm-export-md0.txt'), { device: '/dev/md0', size: detail.size });
  assert.deepEqual({ ...exported, members: exported.members.map((m) => ({ device: m.device, slot: m.slot })) },
    { ...detail, members: detail.members.map((m) => ({ device: m.device, slot: m.slot })) });
});

test('real /proc/mdstat: md0 active raid1, members listed newest first with their slots', () => {
  assert.deepEqual(parseMdstat(raid('mdstat.txt')), [{
    name: 'md0', active: true, readOnly: false, level: 'raid1',
    members: [{ name: 'vdb1', index: 1, flags: [] }, { name: 'vda2', index: 0, flags: [] }],
  }]);
});

test('real lvm fullreport of a VG on md0: the PV on the array, extent size, free space, two linear LVs with their segments', () => {
  const lvm = parseLvmFullreport(raid('lvm-fullreport.json'));
  assert.deepEqual(lvm.pvs, [{ device: '/dev/md0', vg: 'fxvg', uuid: 'vy8rJI-PV99-2vek-cHDx-w5gS-cyYn-M36BKw', size: 608 * MiB }]);
  assert.equal(lvm.vgs.length, 1);
  const vg = lvm.vgs[0]!;
  assert.deepEqual({ name: vg.name, extentSize: vg.extentSize, size: vg.size, free: vg.free }, { name: 'fxvg', extentSize: 4 * MiB, size: 608 * MiB, free: 32 * MiB });
  assert.match(vg.uuid, LVM_UUID);
  const byName = Object.fromEntries(lvm.lvs.map((lv) => [lv.name, lv]));
  assert.deepEqual(Object.keys(byName).sort(), ['home', 'root']);
  assert.deepEqual(byName.root!.segments, [{ start: 0, size: 256 * MiB, segtype: 'linear', stripes: 1, devices: ['/dev/md0(0)'] }]);
  assert.deepEqual(byName.home!.segments, [{ start: 0, size: 320 * MiB, segtype: 'linear', stripes: 1, devices: ['/dev/md0(64)'] }]);
  for (const lv of lvm.lvs) {
    assert.equal(lv.path, `/dev/fxvg/${lv.name}`);
    assert.equal(lv.segtype, 'linear');
    assert.match(lv.uuid, LVM_UUID);
  }
});

test('real lsblk -J -b -O of md RAID1 + LVM: the array once, on both members; each LV on the array; every mountpoint of a device', () => {
  const r = parseLsblk(raid('lsblk.json'));
  const dev = (name: string) => r.blockDevices.find((d) => d.name === name);
  assert.deepEqual(dev('md0'), { name: 'md0', path: '/dev/md0', type: 'raid1', size: 625664 * 1024, parents: ['vda2', 'vdb1'] });
  assert.equal(r.blockDevices.filter((d) => d.name === 'md0').length, 1);
  assert.deepEqual(dev('fxvg-root'), { name: 'fxvg-root', path: '/dev/mapper/fxvg-root', type: 'lvm', size: 256 * MiB, parents: ['md0'] });
  assert.deepEqual(dev('fxvg-home'), { name: 'fxvg-home', path: '/dev/mapper/fxvg-home', type: 'lvm', size: 320 * MiB, parents: ['md0'] });
  assert.deepEqual(r.disks.filter((d) => d.name.startsWith('vd')).map((d) => [d.name, d.size]), [['vda', 1126 * MiB], ['vdb', 614 * MiB], ['vdc', r.disks.find((d) => d.name === 'vdc')!.size]]);
  // The btrfs partition is mounted three times (top, @srv, @logs): lsblk lists every mountpoint.
  assert.deepEqual(r.devices.find((d) => d.name === 'vda3')?.mountpoints.sort(), ['/mnt/btrfs-top', '/mnt/fx/srv', '/mnt/fx/srv/logs']);
});

test('real blkid -o export: RAID members carry the array UUID (dashed) and name as LABEL, the PV its LVM UUID, JFS and vfat their ids', () => {
  const entries = parseBlkidExport(raid('blkid-export.txt'));
  const by = (device: string) => entries.find((e) => e.device === device);
  for (const member of ['/dev/vda2', '/dev/vdb1']) {
    assert.equal(by(member)?.type, 'linux_raid_member');
    assert.equal(by(member)?.uuid, '7d276b0e-6ed0-2997-64ed-e5e8c9ece64a');
    assert.equal(by(member)?.label, 'fixture:system');
  }
  assert.notEqual(by('/dev/vda2')?.uuidSub, by('/dev/vdb1')?.uuidSub, 'each member has its own device UUID');
  assert.deepEqual({ type: by('/dev/md0')?.type, uuid: by('/dev/md0')?.uuid }, { type: 'LVM2_member', uuid: 'vy8rJI-PV99-2vek-cHDx-w5gS-cyYn-M36BKw' });
  assert.deepEqual([by('/dev/mapper/fxvg-root')?.type, by('/dev/mapper/fxvg-home')?.type], ['ext4', 'xfs']);
  assert.deepEqual([by('/dev/vda4')?.type, by('/dev/vda4')?.label], ['jfs', 'fxdata']);
  assert.deepEqual([by('/dev/vda1')?.type, by('/dev/vda1')?.uuid, by('/dev/vda1')?.label], ['vfat', '6E00-3934', 'FXESP']);
  assert.equal(by('/dev/vda3')?.type, 'btrfs');
});

test('real btrfs subvolume list -a -p: the same subvolumes from the top mount and from the default subvolume\'s mount', () => {
  const expected = [{ id: 256, path: '@srv', isDefault: true }, { id: 257, path: '@logs', isDefault: false }];
  const defaultText = raid('btrfs-get-default-top.txt');
  assert.deepEqual(parseBtrfsSubvolumes(raid('btrfs-subvolume-list-top.txt'), defaultText), expected);
  // Listed from /srv (subvolume @srv), btrfs prefixes every path with <FS_TREE>/.
  assert.match(raid('btrfs-subvolume-list-srv.txt'), /<FS_TREE>\/@logs/);
  assert.deepEqual(parseBtrfsSubvolumes(raid('btrfs-subvolume-list-srv.txt'), defaultText), expected);
});

test('real findmnt of the filled fixture: btrfs subvolume mounts with their fsroot, JFS, vfat and the LVs by mapper path', () => {
  const mounts = parseFindmnt(raid('findmnt.json')).filter((m) => m.target.startsWith('/mnt/fx'));
  assert.deepEqual(mounts.map((m) => [m.target, m.device, m.fstype, m.fsroot]), [
    ['/mnt/fx', '/dev/mapper/fxvg-root', 'ext4', '/'],
    ['/mnt/fx/boot/efi', '/dev/vda1', 'vfat', '/'],
    ['/mnt/fx/home', '/dev/mapper/fxvg-home', 'xfs', '/'],
    ['/mnt/fx/data', '/dev/vda4', 'jfs', '/'],
    ['/mnt/fx/srv', '/dev/vda3', 'btrfs', '/@srv'],
    ['/mnt/fx/srv/logs', '/dev/vda3', 'btrfs', '/@logs'],
  ]);
});

test('real sfdisk --json: GPT with a Linux RAID partition; MBR with an extended partition and logicals numbered from 5', () => {
  const gpt = parseSfdisk(raid('sfdisk-vda.json'));
  assert.equal(gpt.type, 'gpt');
  assert.deepEqual(gpt.partitions.map((p) => [p.number, p.type, p.name]), [
    [1, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'EFI system'], [2, 'A19D880F-05FC-4D3B-A006-743F0F84911E', 'raid member a'],
    [3, '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'srv'], [4, '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'data'], [5, '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', 'swap'],
  ]);
  assert.deepEqual(parseSfdisk(raid('sfdisk-vdb.json')).partitions.map((p) => [p.number, p.size]), [[1, 612 * 2048]]);
  const dos = parseSfdisk(mbr('sfdisk-vda.json'));
  assert.equal(dos.type, 'dos');
  assert.deepEqual(dos.partitions.map((p) => [p.number, p.kind, p.type, p.bootable]), [
    [1, 'primary', '83', true], [2, 'extended', '5', false], [5, 'logical', '83', false], [6, 'logical', '83', false], [7, 'logical', '82', false],
  ]);
  // Each logical partition starts 1 MiB after the one before ends: room for its EBR.
  const logical = dos.partitions.filter((p) => p.kind === 'logical');
  for (let i = 1; i < logical.length; i++) assert.equal(logical[i]!.start - (logical[i - 1]!.start + logical[i - 1]!.size), 2048);
});

test('real lsblk of the MBR disk: the extended partition shows as 1 KiB, the logicals with their sizes', () => {
  const r = parseLsblk(mbr('lsblk.json'));
  const size = (name: string) => r.blockDevices.find((d) => d.name === name)?.size;
  assert.deepEqual(['vda1', 'vda2', 'vda5', 'vda6', 'vda7'].map(size), [256 * MiB, 1024, 192 * MiB, 96 * MiB, 64 * MiB]);
  const blkid = parseBlkidExport(mbr('blkid-export.txt'));
  assert.deepEqual(['/dev/vda1', '/dev/vda5', '/dev/vda6', '/dev/vda7'].map((d) => blkid.find((e) => e.device === d)?.type), ['ext4', 'ext3', 'jfs', 'swap']);
});

test('real mdadm --detail of RAID5 and of RAID10 on three devices: level, chunk, layout, the name that is not a number, members in slot order', () => {
  assert.deepEqual(parseMdadmDetail(r5('mdadm-detail-md0.txt')), {
    device: '/dev/md0', name: 'fixture:system', level: 'raid5', uuid: '454fead2:ec51256d:76a2931c:0a1800b6', metadata: '1.2',
    chunkSize: 64 * 1024, layout: 'left-symmetric', size: 522240 * 1024, raidDevices: 3,
    members: ['/dev/vda2', '/dev/vdb2', '/dev/vdc2'].map((device, slot) => ({ device, slot, state: 'active sync' })),
  });
  assert.deepEqual(parseMdadmDetail(r5('mdadm-detail-md1.txt')), {
    device: '/dev/md1', name: 'fixture:data', level: 'raid10', uuid: 'a9328862:2efb3df0:21aa349d:e49f30da', metadata: '1.2',
    chunkSize: 64 * 1024, layout: 'near=2', size: 293376 * 1024, raidDevices: 3,
    members: ['/dev/vda3', '/dev/vdb3', '/dev/vdc3'].map((device, slot) => ({ device, slot, state: 'active sync' })),
  });
  // --export carries neither chunk nor layout: the text form is the one the probe must read.
  const exported = parseMdadmExport(r5('mdadm-export-md1.txt'), { device: '/dev/md1', size: 293376 * 1024 });
  assert.deepEqual([exported.level, exported.uuid, exported.name, exported.members.map((m) => [m.device, m.slot])],
    ['raid10', 'a9328862:2efb3df0:21aa349d:e49f30da', 'fixture:data', [['/dev/vda3', 0], ['/dev/vdb3', 1], ['/dev/vdc3', 2]]]);
});

test('real /proc/mdstat with RAID5 ("level 5, 64k chunk, algorithm 2") and RAID10 ("2 near-copies") lines', () => {
  assert.deepEqual(parseMdstat(r5('mdstat.txt')).map((a) => [a.name, a.active, a.level, a.members.map((m) => `${m.name}[${m.index}]`).join(' ')]), [
    ['md1', true, 'raid10', 'vdc3[2] vdb3[1] vda3[0]'],
    ['md0', true, 'raid5', 'vdc2[2] vdb2[1] vda2[0]'],
  ]);
});

test('real lvm fullreport of a VG on two arrays: a linear LV on one PV and a striped LV (2 × 64 KiB) across both, with its extents on each', () => {
  const lvm = parseLvmFullreport(r5('lvm-fullreport.json'));
  assert.deepEqual(lvm.pvs.map((p) => [p.device, p.vg, p.size]), [['/dev/md0', 'stvg', 532676608], ['/dev/md1', 'stvg', 297795584]]);
  assert.deepEqual(lvm.vgs.map((v) => [v.name, v.extentSize, v.size, v.free]), [['stvg', 4 * MiB, 830472192, 360710144]]);
  const byName = Object.fromEntries(lvm.lvs.map((lv) => [lv.name, lv]));
  assert.deepEqual(byName.root!.segments, [{ start: 0, size: 256 * MiB, segtype: 'linear', stripes: 1, devices: ['/dev/md0(0)'] }]);
  assert.deepEqual([byName.srv!.segtype, byName.srv!.stripes, byName.srv!.stripeSize], ['striped', 2, 64 * 1024]);
  assert.deepEqual(byName.srv!.segments, [{ start: 0, size: 192 * MiB, segtype: 'striped', stripes: 2, stripeSize: 64 * 1024, devices: ['/dev/md0(64)', '/dev/md1(0)'] }]);
  // The text metadata vgcfgrestore reads says the same: two stripes, md0 from extent 64 and md1 from 0.
  assert.match(r5('vgcfgbackup-stvg.txt'), /stripe_count = 2[^]*stripe_size = 128[^]*stripes = \[\s*"pv0", 64,\s*"pv1", 0\s*\]/);
});

test('real lsblk of the three-disk machine: each array under its three members, the striped LV under both arrays', () => {
  const r = parseLsblk(r5('lsblk.json'));
  const dev = (name: string) => r.blockDevices.find((d) => d.name === name);
  assert.deepEqual(dev('md0'), { name: 'md0', path: '/dev/md0', type: 'raid5', size: 522240 * 1024, parents: ['vda2', 'vdb2', 'vdc2'] });
  assert.deepEqual(dev('md1'), { name: 'md1', path: '/dev/md1', type: 'raid10', size: 293376 * 1024, parents: ['vda3', 'vdb3', 'vdc3'] });
  assert.deepEqual(dev('stvg-srv')?.parents, ['md0', 'md1']);
  assert.deepEqual(dev('stvg-root')?.parents, ['md0']);
  const gpt = ['vda', 'vdb', 'vdc'].map((d) => parseSfdisk(r5(`sfdisk-${d}.json`)));
  for (const t of gpt) assert.equal(t.partitions[0]!.type, '21686148-6449-6E6F-744E-656564454649', 'a BIOS boot partition first on every disk');
});
