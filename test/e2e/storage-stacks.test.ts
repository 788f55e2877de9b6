import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open } from 'node:fs/promises';
import { join } from 'node:path';
import { lifeboat } from '../support/cli.js';
import { makeWorld, sh, type World } from '../support/world.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { cachedRescueSystem, fullKernelVersion } from '../support/guest-run.js';
import { fixtureCacheDir } from '../support/fixture-cache.js';
import { buildMultiDiskFixture, readMultiDiskMarkers, type MultiDiskFixture, type MultiDiskMarkers } from '../support/multidisk-fixture.js';
import { sparseFile } from '../support/loop-devices.js';
import { sha256Of } from '../support/marker-disks.js';
import type { QemuMachine } from '../support/qemu.js';

/**
 * Issue 5 on QEMU machines (TCG): a machine with md RAID1 across two disks, LVM on the array
 * holding / (ext4) and /home (XFS), /srv on Btrfs with two subvolumes, an ESP, /data on JFS and
 * swap is captured over PXE, then nuke-restored onto two larger disks, two smaller ones and a
 * single disk (the operator drops the mirror); each restored machine boots its own disks (UEFI)
 * and prints the same mounts and per-filesystem hashes, a clean array and the new LV sizes. A BIOS
 * machine with an MBR table of logical partitions is captured and restored too, and a BIOS machine
 * with three GPT disks carrying md RAID5 and RAID10 (names that are not numbers) as the two PVs of
 * a VG with a striped LV, whose root LV GRUB reads through the RAID5.
 *
 * The rescue system runs Debian's full kernel: the cloud kernel has no JFS.
 */

const MiB = 1024 * 1024;
const shared: World = await makeWorld({ after }, 'lb-stacks');
let rescueDir: string;
let bed: Testbed;
let raid: MultiDiskFixture;
let mbr: MultiDiskFixture;

interface Task { id: number; state: string; errorCode: string | null; error: string | null; result: Record<string, unknown> | null; files: string[] }

before(async () => {
  // The same build the multi-disk fixtures are made with (one per run, shared between files).
  rescueDir = await cachedRescueSystem(fixtureCacheDir(), await fullKernelVersion());
  bed = await startTestbed(shared, { rescueDir, nfs: 'ganesha' });
  raid = await buildMultiDiskFixture({ dir: shared.dir, firmware: 'uefi', variant: 'raid-lvm', name: 'md-raid-lvm', rescueDir });
  mbr = await buildMultiDiskFixture({ dir: shared.dir, firmware: 'bios', variant: 'mbr-logical', name: 'md-mbr-logical', rescueDir });
}, { timeout: 1_800_000 });

/** A task made with the CLI, as an operator makes it (flags: the plan edits of a nuke). */
async function task(kind: 'nuke' | 'capture', machine: QemuMachine, image: string, flags: string[] = []): Promise<number> {
  const r = await bed.lifeboat(['task', kind, '--host', machine.mac, '--image', image, ...flags, '--json']);
  assert.equal(r.exitCode, 0, `lifeboat task ${kind}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

/** PXE → rescue → the agent runs the task and reboots (QEMU exits under -no-reboot). */
async function runTaskBoot(machine: QemuMachine, id: number): Promise<Task> {
  const run = await machine.boot();
  await run.waitForSerial('LIFEBOAT-RESCUE-UP', 600_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
  await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 1_800_000, { failOn: ['Kernel panic', 'agent crashed'] });
  await run.waitForExit(300_000);
  return bed.api<Task>(`/api/v1/tasks/${id}`);
}

/** Boots the machine's own disks (no task: no boot file from DHCP) and reads the fixture's markers. */
async function bootLocal(machine: QemuMachine): Promise<MultiDiskMarkers> {
  const run = await machine.boot();
  await run.waitForSerial(/FIXTURE-DONE|FIXTURE-ERROR initramfs/, 1_200_000, { failOn: ['LIFEBOAT-RESCUE-UP', 'Kernel panic'] });
  await run.waitForExit(120_000).catch(() => run.stop());
  return readMultiDiskMarkers(run.serial());
}

/** What every restore of a fixture must show: its name, every mount by its original UUID, the swap, the same files. */
function assertSameSystem(m: MultiDiskMarkers, f: MultiDiskFixture): void {
  assert.deepEqual(m.errors, []);
  assert.equal(m.booted, f.name);
  assert.deepEqual(m.mounts, f.expected.mounts, 'every fstab filesystem mounted, by its original UUID');
  assert.equal(m.swap, f.expected.swap);
  assert.deepEqual(m.hashes, f.expected.hashes, 'every filesystem hashes its files to the source\'s hash');
  assert.ok(m.done);
}

async function firstSector(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  const sector = Buffer.alloc(512);
  await fh.read(sector, 0, 512, 0).finally(() => fh.close());
  return sector;
}

async function blankDisks(prefix: string, sizes: number[]): Promise<string[]> {
  return Promise.all(sizes.map((bytes, i) => sparseFile(join(shared.dir, `${prefix}-${i}.img`), bytes)));
}

const lvBytes = (m: MultiDiskMarkers, lv: string) => m.lvs[`fxvg/${lv}`] ?? 0;
let captured = false;

test('1. capture: the RAID1 + LVM + Btrfs + JFS + ESP machine is archived over PXE; every filesystem, the array and the VG are in the image; its disks are untouched', { timeout: 2_400_000 }, async () => {
  await bed.explainFailure(async () => {
    const disks = [join(shared.dir, 'source-vda.img'), join(shared.dir, 'source-vdb.img')];
    await cp(raid.disks[0]!, disks[0]!);
    await cp(raid.disks[1]!, disks[1]!);
    const before = await Promise.all(disks.map(sha256Of));
    const machine = await bed.addMachine({ name: 'stacksrc', firmware: 'uefi', disks, memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('capture', machine, 'stacks'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    const verify = await lifeboat(['images', 'verify', 'stacks', '--store', bed.storeDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    const show = await lifeboat(['images', 'show', 'stacks', '--store', bed.storeDir, '--json']);
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
  await bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const disks = await blankDisks('larger', [2048 * MiB, 2048 * MiB]);
    const machine = await bed.addMachine({ name: 'larger', firmware: 'uefi', disks, memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'stacks'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.equal(t.result?.bootloader, 'grub-efi');
    const m = await bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid1', 'clean', '[UU]', 0]]);
    assert.ok(lvBytes(m, 'root') > 256 * MiB && lvBytes(m, 'home') > 320 * MiB, `root and home grew: ${JSON.stringify(m.lvs)}`);
  });
});

test('3. nuke onto two smaller disks that still fit: boots with the same mounts and files, a clean RAID1, the LVs shrunk', { timeout: 3_600_000 }, async () => {
  await bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const disks = await blankDisks('smaller', [1000 * MiB, 560 * MiB]);
    const machine = await bed.addMachine({ name: 'smaller', firmware: 'uefi', disks, memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'stacks'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    const m = await bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members]), [['md0', 'raid1', 'clean', '[UU]']]);
    assert.ok(lvBytes(m, 'root') + lvBytes(m, 'home') < (256 + 320) * MiB, `the LVs shrank: ${JSON.stringify(m.lvs)}`);
    assert.ok(lvBytes(m, 'root') <= 256 * MiB && lvBytes(m, 'home') <= 320 * MiB, `no LV grew: ${JSON.stringify(m.lvs)}`);
  });
});

test('4. nuke onto one disk, the operator dropping the mirror\'s disk: boots with the same files on a one-device RAID1', { timeout: 3_600_000 }, async () => {
  await bed.explainFailure(async () => {
    assert.ok(captured, 'test 1 captured the image');
    const [disk] = await blankDisks('single', [2048 * MiB]);
    const machine = await bed.addMachine({ name: 'single', firmware: 'uefi', disks: [disk!], memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'stacks', ['--drop-disk', '/dev/vdb']));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    const m = await bootLocal(machine);
    assertSameSystem(m, raid);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid1', 'clean', '[U]', 0]]);
    assert.deepEqual(Object.keys(m.lvs).sort(), ['fxvg/home', 'fxvg/root']);
  });
});

test('5. BIOS with an MBR of logical partitions: captured over PXE, nuked onto a larger disk, boots with the same files', { timeout: 3_600_000 }, async () => {
  await bed.explainFailure(async () => {
    const source = join(shared.dir, 'mbr-source.img');
    await cp(mbr.disks[0]!, source);
    const sourceMachine = await bed.addMachine({ name: 'mbrsrc', firmware: 'bios', disks: [source], memoryMiB: 1536 });
    const c = await runTaskBoot(sourceMachine, await task('capture', sourceMachine, 'mbr-logical'));
    assert.equal(c.state, 'done', `capture: ${c.errorCode}: ${c.error}`);
    const [disk] = await blankDisks('mbr-larger', [1024 * MiB]);
    const machine = await bed.addMachine({ name: 'mbr', firmware: 'bios', disks: [disk!], memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'mbr-logical'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.equal(t.result?.bootloader, 'grub-pc');
    const table = JSON.parse(await sh('sfdisk', ['--json', disk!])).partitiontable as { label: string; partitions: Array<{ node: string; type: string }> };
    assert.equal(table.label, 'dos');
    assert.deepEqual(table.partitions.map((p) => [p.node.replace(/^.*\.img/, ''), p.type]), [['1', '83'], ['2', '5'], ['5', '83'], ['6', '83'], ['7', '82']], 'the same primary, extended and logical partitions');
    assertSameSystem(await bootLocal(machine), mbr);
  });
});

test('6. RAID5 and RAID10 as the PVs of a VG with a striped LV (BIOS, three GPT disks): captured over PXE, nuked onto three larger disks, boots with both arrays clean and the LV striped over both again', { timeout: 3_600_000 }, async () => {
  await bed.explainFailure(async () => {
    const r5 = await buildMultiDiskFixture({ dir: shared.dir, firmware: 'bios', variant: 'raid5-stripe', name: 'md-raid5-stripe', rescueDir });
    const sources = r5.disks.map((_, i) => join(shared.dir, `raid5-source-${i}.img`));
    for (const [i, d] of r5.disks.entries()) await cp(d, sources[i]!);
    const before = await Promise.all(sources.map(sha256Of));
    const sourceMachine = await bed.addMachine({ name: 'r5src', firmware: 'bios', disks: sources, memoryMiB: 1536 });
    const c = await runTaskBoot(sourceMachine, await task('capture', sourceMachine, 'raid5-stripe'));
    assert.equal(c.state, 'done', `capture: ${c.errorCode}: ${c.error}`);
    assert.deepEqual(await Promise.all(sources.map(sha256Of)), before, 'capturing wrote nothing to the machine\'s disks');
    const show = JSON.parse((await lifeboat(['images', 'show', 'raid5-stripe', '--store', bed.storeDir, '--json'])).stdout) as {
      layout: { md: Array<{ uuid: string; name?: string; level: string; chunkSize?: number; layout?: string; members: unknown[] }>; lvm: { lvs: Array<{ name: string; segtype: string; stripes: number }> } };
    };
    assert.deepEqual(show.layout.md.map((md) => [md.level, md.uuid, md.name, md.chunkSize, md.members.length]).sort(),
      r5.raid.map((md) => [md.level, md.uuid, md.name, 64 * 1024, 3]).sort(), 'both arrays with their names, UUIDs and chunk sizes');
    assert.deepEqual(show.layout.lvm.lvs.map((lv) => [lv.name, lv.segtype, lv.stripes]).sort(), [['root', 'linear', 1], ['srv', 'striped', 2]]);

    const disks = await blankDisks('raid5-larger', [800 * MiB, 700 * MiB, 700 * MiB]);
    const machine = await bed.addMachine({ name: 'r5', firmware: 'bios', disks, memoryMiB: 1536 });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'raid5-stripe'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.equal(t.result?.bootloader, 'grub-pc');
    const m = await bootLocal(machine);
    assertSameSystem(m, r5);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid5', 'clean', '[UUU]', 0], ['md1', 'raid10', 'clean', '[UUU]', 0]]);
    assert.deepEqual(m.lvDevices, { 'stvg/root': ['md0'], 'stvg/srv': ['md0', 'md1'] }, 'root on the RAID5 alone, srv striped over both arrays');
    assert.ok(m.lvs['stvg/root']! > 256 * MiB && m.lvs['stvg/srv']! > 192 * MiB, `the LVs grew: ${JSON.stringify(m.lvs)}`);
    // GRUB went to every disk under / (boot code in each MBR), so the machine starts with any one of them gone.
    for (const d of disks) assert.ok((await firstSector(d)).includes('GRUB '), `GRUB's boot code in the MBR of ${d}`);
  });
});
