import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { lifeboat } from '../support/cli.js';
import { buildMultiDiskFixture, type MultiDiskFixture, type MultiDiskMarkers } from '../support/multidisk-fixture.js';
import { sha256Of } from '../support/marker-disks.js';
import { assertSameSystem, stacksBed } from '../support/stacks-bed.js';
import { captureOn, nukeOntoBlank } from '../support/stacks-tasks.js';

/**
 * Issue 5 on QEMU machines (TCG), UEFI: a machine with md RAID1 across two disks, LVM on the array
 * holding / (ext4) and /home (XFS), /srv on Btrfs with two subvolumes, an ESP, /data on JFS and
 * swap is captured over PXE, then nuke-restored onto two larger disks, two smaller ones and a
 * single disk (the operator drops the mirror); each restored machine boots its own disks and prints
 * the same mounts and per-filesystem hashes, a clean array and the new LV sizes. The BIOS stacks
 * are in storage-bios.test.ts (a file of their own, so the two run side by side).
 */

const MiB = 1024 * 1024;
const s = await stacksBed('lb-stacks');
let raid: MultiDiskFixture;

before(async () => {
  await s.ready;
  raid = await buildMultiDiskFixture({ dir: s.world.dir, firmware: 'uefi', variant: 'raid-lvm', name: 'md-raid-lvm', rescueDir: s.rescueDir });
}, { timeout: 1_800_000 });

const lvBytes = (m: MultiDiskMarkers, lv: string) => m.lvs[`fxvg/${lv}`] ?? 0;
let captured = false;

test('1. capture: the RAID1 + LVM + Btrfs + JFS + ESP machine is archived over PXE; every filesystem, the array and the VG are in the image; its disks are untouched', { timeout: 2_400_000 }, async () => {
  await s.bed.explainFailure(async () => {
    const disks = [join(s.world.dir, 'source-vda.img'), join(s.world.dir, 'source-vdb.img')];
    await cp(raid.disks[0]!, disks[0]!);
    await cp(raid.disks[1]!, disks[1]!);
    const before = await Promise.all(disks.map(sha256Of));
    await captureOn(s, { name: 'stacksrc', firmware: 'uefi', disks, image: 'stacks' });
    const verify = await lifeboat(['images', 'verify', 'stacks', '--store', s.bed.storeDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    const show = await lifeboat(['images', 'show', 'stacks', '--store', s.bed.storeDir, '--json']);
    const manifest = JSON.parse(show.stdout) as {
      archives: Array<{ mountpoint: string; fstype: string; uuid?: string; subvolume?: string }>;
      layout: { md: Array<{ uuid: string; name?: string; level: string; members: unknown[] }>; lvm: { vgs: Array<{ name: string }>; lvs: Array<{ name: string; size: number }> } };
    };
    assert.deepEqual(manifest.archives.map((a) => a.mountpoint).sort(), ['/', '/boot/efi', '/data', '/home', '/srv', '/srv/logs']);
    assert.deepEqual(manifest.archives.map((a) => `${a.mountpoint} ${a.fstype}`).sort(), ['/ ext4', '/boot/efi vfat', '/data jfs', '/home xfs', '/srv btrfs', '/srv/logs btrfs']);
    assert.deepEqual(manifest.layout.md.map((md) => [md.level, md.uuid, md.name, md.members.length]), [['raid1', raid.raid[0]!.uuid, raid.raid[0]!.name, 2]]);
    assert.deepEqual(manifest.layout.lvm.vgs.map((vg) => vg.name), ['fxvg']);
    assert.deepEqual(manifest.layout.lvm.lvs.map((lv) => [lv.name, lv.size]).sort(), [['home', 320 * MiB], ['root', 256 * MiB]]);
    assert.deepEqual(await Promise.all(disks.map(sha256Of)), before, 'capturing wrote nothing to the machine\'s disks');
    captured = true;
  });
});

test('2. nuke onto two larger blank disks: boots (UEFI) with the same mounts and files, a clean RAID1, the LVs grown', { timeout: 3_600_000 }, async () => {
  await s.bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const { machine, task: t } = await nukeOntoBlank(s, { name: 'larger', firmware: 'uefi', diskPrefix: 'larger', sizes: [2048 * MiB, 2048 * MiB], image: 'stacks' });
    assert.equal(t.result?.bootloader, 'grub-efi');
    const m = await s.bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid1', 'clean', '[UU]', 0]]);
    assert.ok(lvBytes(m, 'root') > 256 * MiB && lvBytes(m, 'home') > 320 * MiB, `root and home grew: ${JSON.stringify(m.lvs)}`);
  });
});

test('3. nuke onto two smaller disks that still fit: boots with the same mounts and files, a clean RAID1, the LVs shrunk', { timeout: 3_600_000 }, async () => {
  await s.bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const { machine } = await nukeOntoBlank(s, { name: 'smaller', firmware: 'uefi', diskPrefix: 'smaller', sizes: [1000 * MiB, 560 * MiB], image: 'stacks' });
    const m = await s.bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members]), [['md0', 'raid1', 'clean', '[UU]']]);
    assert.ok(lvBytes(m, 'root') + lvBytes(m, 'home') < (256 + 320) * MiB, `the LVs shrank: ${JSON.stringify(m.lvs)}`);
    assert.ok(lvBytes(m, 'root') <= 256 * MiB && lvBytes(m, 'home') <= 320 * MiB, `no LV grew: ${JSON.stringify(m.lvs)}`);
  });
});

test('4. nuke onto one disk, the operator dropping the mirror\'s disk: boots with the same files on a one-device RAID1', { timeout: 3_600_000 }, async () => {
  await s.bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const { machine } = await nukeOntoBlank(s, { name: 'single', firmware: 'uefi', diskPrefix: 'single', sizes: [2048 * MiB], image: 'stacks', flags: ['--drop-disk', '/dev/vdb'] });
    const m = await s.bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid1', 'clean', '[U]', 0]]);
    assert.deepEqual(Object.keys(m.lvs).sort(), ['fxvg/home', 'fxvg/root']);
  });
});
