import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { lifeboat } from '../support/cli.js';
import { sh } from '../support/world.js';
import { buildMultiDiskFixture } from '../support/multidisk-fixture.js';
import { sha256Of } from '../support/marker-disks.js';
import { assertSameSystem, firstSector, stacksBed } from '../support/stacks-bed.js';
import { captureOn, nukeOntoBlank } from '../support/stacks-tasks.js';

/**
 * Issue 5 on QEMU machines (TCG), BIOS: a machine with an MBR table of logical partitions is
 * captured and restored, and a machine with three GPT disks carrying md RAID5 and RAID10 (names
 * that are not numbers) as the two PVs of a VG with a striped LV, whose root LV GRUB reads through
 * the RAID5. The UEFI RAID1 + LVM machine is in storage-raid-lvm.test.ts.
 */

const MiB = 1024 * 1024;
const s = await stacksBed('lb-stacksb');

test('1. BIOS with an MBR of logical partitions: captured over PXE, nuked onto a larger disk, boots with the same files', { timeout: 3_600_000 }, async () => {
  await s.bed.explainFailure(async () => {
    const mbr = await buildMultiDiskFixture({ dir: s.world.dir, firmware: 'bios', variant: 'mbr-logical', name: 'md-mbr-logical', rescueDir: s.rescueDir });
    const source = join(s.world.dir, 'mbr-source.img');
    await cp(mbr.disks[0]!, source);
    await captureOn(s, { name: 'mbrsrc', firmware: 'bios', disks: [source], image: 'mbr-logical' });
    const { machine, disks: [disk], task: t } = await nukeOntoBlank(s, { name: 'mbr', firmware: 'bios', diskPrefix: 'mbr-larger', sizes: [1024 * MiB], image: 'mbr-logical' });
    assert.equal(t.result?.bootloader, 'grub-pc');
    const table = JSON.parse(await sh('sfdisk', ['--json', disk!])).partitiontable as { label: string; partitions: Array<{ node: string; type: string }> };
    assert.equal(table.label, 'dos');
    assert.deepEqual(table.partitions.map((p) => [p.node.replace(/^.*\.img/, ''), p.type]), [['1', '83'], ['2', '5'], ['5', '83'], ['6', '83'], ['7', '82']], 'the same primary, extended and logical partitions');
    assertSameSystem(await s.bootLocal(machine), mbr);
  });
});

test('2. RAID5 and RAID10 as the PVs of a VG with a striped LV (BIOS, three GPT disks): captured over PXE, nuked onto three larger disks, boots with both arrays clean and the LV striped over both again', { timeout: 3_600_000 }, async () => {
  await s.bed.explainFailure(async () => {
    const r5 = await buildMultiDiskFixture({ dir: s.world.dir, firmware: 'bios', variant: 'raid5-stripe', name: 'md-raid5-stripe', rescueDir: s.rescueDir });
    const sources = r5.disks.map((_, i) => join(s.world.dir, `raid5-source-${i}.img`));
    for (const [i, d] of r5.disks.entries()) await cp(d, sources[i]!);
    const before = await Promise.all(sources.map(sha256Of));
    await captureOn(s, { name: 'r5src', firmware: 'bios', disks: sources, image: 'raid5-stripe' });
    assert.deepEqual(await Promise.all(sources.map(sha256Of)), before, 'capturing wrote nothing to the machine\'s disks');
    const show = JSON.parse((await lifeboat(['images', 'show', 'raid5-stripe', '--store', s.bed.storeDir, '--json'])).stdout) as {
      layout: { md: Array<{ uuid: string; name?: string; level: string; chunkSize?: number; layout?: string; members: unknown[] }>; lvm: { lvs: Array<{ name: string; segtype: string; stripes: number }> } };
    };
    assert.deepEqual(show.layout.md.map((md) => [md.level, md.uuid, md.name, md.chunkSize, md.members.length]).sort(),
      r5.raid.map((md) => [md.level, md.uuid, md.name, 64 * 1024, 3]).sort(), 'both arrays with their names, UUIDs and chunk sizes');
    assert.deepEqual(show.layout.lvm.lvs.map((lv) => [lv.name, lv.segtype, lv.stripes]).sort(), [['root', 'linear', 1], ['srv', 'striped', 2]]);

    const { machine, disks, task: t } = await nukeOntoBlank(s, { name: 'r5', firmware: 'bios', diskPrefix: 'raid5-larger', sizes: [800 * MiB, 700 * MiB, 700 * MiB], image: 'raid5-stripe' });
    assert.equal(t.result?.bootloader, 'grub-pc');
    const m = await s.bootLocal(machine);
    assertSameSystem(m, r5);
    assert.deepEqual(m.raid.map((r) => [r.name, r.level, r.state, r.members, r.degraded]), [['md0', 'raid5', 'clean', '[UUU]', 0], ['md1', 'raid10', 'clean', '[UUU]', 0]]);
    assert.deepEqual(m.lvDevices, { 'stvg/root': ['md0'], 'stvg/srv': ['md0', 'md1'] }, 'root on the RAID5 alone, srv striped over both arrays');
    assert.ok(m.lvs['stvg/root']! > 256 * MiB && m.lvs['stvg/srv']! > 192 * MiB, `the LVs grew: ${JSON.stringify(m.lvs)}`);
    // GRUB went to every disk under / (boot code in each MBR), so the machine starts with any one of them gone.
    for (const d of disks) assert.ok((await firstSector(d)).includes('GRUB '), `GRUB's boot code in the MBR of ${d}`);
  });
});
