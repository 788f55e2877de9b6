import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld, sh } from '../support/world.js';
import { fixtureCacheDir } from '../support/fixture-cache.js';
import { bootDisksOffline, cachedRescueSystem, fullKernelVersion, runInGuest } from '../support/guest-run.js';
import { sparseFile } from '../support/loop-devices.js';
import { buildMultiDiskFixture, readMultiDiskMarkers, type MultiDiskFixture } from '../support/multidisk-fixture.js';

// The multi-disk fixture is built in a QEMU guest (md, LVM, vfat and JFS need its kernel). Checked
// here from the host, without booting, as far as the host's tools can see into the images (sfdisk,
// blkid -p at the partitions' offsets); then each variant boots from its own disks and must print
// what the builder promised. The build takes about a minute per variant when not cached.

const MiB = 1024 * 1024;

async function probeAt(image: string, offset: number): Promise<Record<string, string>> {
  const out = await sh('blkid', ['-p', '-O', String(offset), '-o', 'export', image]);
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function partition(f: MultiDiskFixture, device: string, role: string) {
  const p = f.tables.find((t) => t.device === device)?.partitions.find((x) => x.role === role);
  assert.ok(p, `${f.name} has a ${role} partition on ${device}`);
  return p;
}

test('lifeboat.script: run.sh runs in the rescue system with the disks attached; its exit status and out/ come back, no network needed', { timeout: 1_200_000 }, async (t) => {
  const world = await makeWorld(t, 'mdfx');
  const rescueDir = await cachedRescueSystem(fixtureCacheDir(), await fullKernelVersion());
  const payload = join(world.dir, 'payload');
  await mkdir(payload);
  // The guest's kernel has md: the script proves it by making a RAID1 on the two blank disks.
  await writeFile(join(payload, 'run.sh'), [
    'mkdir -p out',
    'modprobe -a md_mod raid1',
    'mdadm --create /dev/md9 --run --level=1 --raid-devices=2 --metadata=1.2 --assume-clean /dev/vda /dev/vdb 2>&1',
    'cat /proc/mdstat > out/mdstat.txt',
    'mdadm --stop /dev/md9',
    'exit 3',
    '',
  ].join('\n'));
  const disks = [await sparseFile(join(world.dir, 'a.img'), 64 * MiB), await sparseFile(join(world.dir, 'b.img'), 64 * MiB)];
  const r = await runInGuest({ rescueDir, payloadDir: payload, workDir: world.dir, disks, timeoutMs: 900_000, name: 'script-hook' });
  t.diagnostic(`guest start to power-off in ${r.seconds.toFixed(1)} s`);
  assert.equal(r.exitStatus, 3, r.serialTail);
  assert.doesNotMatch(r.serial, /udhcpc|no DHCP lease/, 'script mode brings up no network');
  assert.match(await readFile(join(r.outDir, 'mdstat.txt'), 'utf8'), /md9 : active raid1 vdb\[1\] vda\[0\]/);
});

test('raid-lvm: two GPT disks, md RAID1 members with the promised UUID and name, ESP, Btrfs, JFS and swap where the record says', { timeout: 2_400_000 }, async (t) => {
  const world = await makeWorld(t, 'mdfx');
  const f = await buildMultiDiskFixture({ dir: world.dir, firmware: 'uefi', variant: 'raid-lvm', name: 'md-raid-lvm' });
  t.diagnostic(`${f.cached ? 'from the cache' : `built in the guest in ${f.buildSeconds} s`}`);
  assert.equal(f.disks.length, 2);

  for (const [i, table] of f.tables.entries()) {
    const sfdisk = JSON.parse(await sh('sfdisk', ['--json', f.disks[i]!])).partitiontable as { label: string; id: string; partitions: Array<{ start: number; size: number }> };
    assert.equal(sfdisk.label, 'gpt');
    assert.equal(sfdisk.id, table.id);
    assert.deepEqual(sfdisk.partitions.map((p) => [p.start * 512, p.size * 512]), table.partitions.map((p) => [p.startBytes, p.sizeBytes]));
  }
  const md = f.raid[0]!;
  const mdUuid = md.uuid.replaceAll(':', '');
  for (const [device, role] of [['vda', 'raid-a'], ['vdb', 'raid-b']] as const) {
    const p = partition(f, device, role);
    const probe = await probeAt(f.disks[device === 'vda' ? 0 : 1]!, p.startBytes);
    assert.equal(probe.TYPE, 'linux_raid_member', `${device} ${role}`);
    assert.equal(probe.UUID?.replaceAll('-', ''), mdUuid);
    assert.equal(probe.LABEL, md.name);
  }
  const fs = (role: string) => f.filesystems.find((x) => x.role === role)!;
  for (const [role, type] of [['esp', 'vfat'], ['srv', 'btrfs'], ['data', 'jfs'], ['swap', 'swap']] as const) {
    const probe = await probeAt(f.disks[0]!, partition(f, 'vda', role).startBytes);
    assert.equal(probe.TYPE, type, role);
    assert.equal(probe.UUID, fs(role).uuid, role);
    assert.equal(probe.LABEL, fs(role).label, role);
  }
  assert.match(f.fstab, /^\/dev\/fxvg\/home\s+\/home\s+xfs/m);
  assert.match(f.fstab, /\s\/srv\/logs\s+btrfs\s+subvol=@logs,noatime/);
  assert.deepEqual(f.lvm?.lvs.map((lv) => [lv.name, lv.bytes]).sort(), [['home', 320 * MiB], ['root', 256 * MiB]]);
  assert.deepEqual(Object.keys(f.expected.hashes), ['/', '/boot/efi', '/home', '/srv', '/srv/logs', '/data']);

  // The real tool outputs the parser tests read come from this build.
  const detail = await readFile(join(f.capturesDir, 'mdadm-detail-md0.txt'), 'utf8');
  assert.match(detail, /Raid Level : raid1/);
  assert.match(detail, new RegExp(`UUID : ${md.uuid}`));
  const report = JSON.parse(await readFile(join(f.capturesDir, 'lvm-fullreport.json'), 'utf8')) as { report: Array<{ pv: Array<{ pv_name: string }> }> };
  assert.equal(report.report[0]!.pv[0]!.pv_name, '/dev/md0');
});

test('mbr-logical: one MBR disk with a bootable primary root and /data, /srv, swap as logical partitions in an extended one', { timeout: 2_400_000 }, async (t) => {
  const world = await makeWorld(t, 'mdfx');
  const f = await buildMultiDiskFixture({ dir: world.dir, firmware: 'bios', variant: 'mbr-logical', name: 'md-mbr-logical' });
  const sfdisk = JSON.parse(await sh('sfdisk', ['--json', f.disks[0]!])).partitiontable as { label: string; partitions: Array<{ node: string; type: string; bootable?: boolean }> };
  assert.equal(sfdisk.label, 'dos');
  assert.deepEqual(sfdisk.partitions.map((p) => [p.node.replace(/^.*\.img/, ''), p.type, p.bootable ?? false]), [['1', '83', true], ['2', '5', false], ['5', '83', false], ['6', '83', false], ['7', '82', false]]);
  for (const [role, type] of [['root', 'ext4'], ['data', 'ext3'], ['srv', 'jfs'], ['swap', 'swap']] as const) {
    const probe = await probeAt(f.disks[0]!, partition(f, 'vda', role).startBytes);
    assert.equal(probe.TYPE, type, role);
    assert.equal(probe.UUID, f.filesystems.find((x) => x.role === role)!.uuid, role);
  }
  // GRUB's boot code in the MBR: boot.img carries the string "GRUB " and the 0x55AA signature.
  const mbr = Buffer.alloc(512);
  const fh = await open(f.disks[0]!, 'r');
  await fh.read(mbr, 0, 512, 0).finally(() => fh.close());
  assert.ok(mbr.includes('GRUB '), 'GRUB boot code in the MBR');
  assert.equal(mbr.readUInt16LE(510), 0xaa55);
});

for (const v of [{ variant: 'raid-lvm', firmware: 'uefi' }, { variant: 'mbr-logical', firmware: 'bios' }] as const) {
  test(`${v.variant} boots (${v.firmware}) and prints its mounts, swap, RAID state, LV sizes and per-filesystem hashes`, { timeout: 2_400_000 }, async (t) => {
    const world = await makeWorld(t, 'mdfx');
    const f = await buildMultiDiskFixture({ dir: world.dir, firmware: v.firmware, variant: v.variant, name: `md-${v.variant}` });
    const boot = await bootDisksOffline({ disks: f.disks, firmware: f.firmware, workDir: world.dir, name: f.name, timeoutMs: 900_000 });
    t.diagnostic(`${f.name}: QEMU start to power-off in ${boot.seconds.toFixed(1)} s (TCG)`);
    const m = readMultiDiskMarkers(boot.serial);
    assert.deepEqual(m.errors, [], boot.serial.slice(-2000));
    assert.equal(m.booted, f.name);
    assert.deepEqual(m.mounts, f.expected.mounts);
    assert.equal(m.swap, f.expected.swap);
    assert.deepEqual(m.hashes, f.expected.hashes);
    assert.deepEqual(m.raid.map((r) => ({ name: r.name, level: r.level, members: r.members })), f.expected.raid);
    for (const r of m.raid) assert.equal(r.state, 'clean');
    assert.deepEqual(m.lvs, f.expected.lvs);
    assert.ok(m.done);
  });
}
