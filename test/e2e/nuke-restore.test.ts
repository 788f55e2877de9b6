import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { lifeboat, jsonLines } from '../support/cli.js';
import { flipByte } from '../support/damage.js';
import { makeWorld, sh, type World } from '../support/world.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { buildFixtureDisk, type FixtureDisk } from '../support/fixture-disk.js';
import { bootsRestoredFixture } from '../support/restored-boot.js';
import { sparseFile } from '../support/loop-devices.js';
import { cachedRescueSystem } from '../support/guest-run.js';
import { fixtureCacheDir } from '../support/fixture-cache.js';
import { sha256Of } from '../support/marker-disks.js';
import type { QemuMachine } from '../support/qemu.js';

/**
 * The heart of Lifeboat, proven on QEMU machines (TCG) whose only ways to boot are PXE and their
 * own disk: capture a machine over the network, nuke-restore it onto blank disks of other sizes,
 * refuse what cannot fit or is damaged without touching the disk, boot the restored system from
 * its own disk (BIOS and UEFI), and compare a machine against its image.
 */

const shared: World = await makeWorld({ after }, 'lb-e2e');
let rescueDir: string;
let bed: Testbed;
let biosFixture: FixtureDisk;
let uefiFixture: FixtureDisk;

interface Task { id: number; state: string; errorCode: string | null; error: string | null; result: Record<string, unknown> | null; files: string[] }

before(async () => {
  // The real rescue system: the cloud kernel, the tools, node and the bundled agent (built once per run).
  rescueDir = await cachedRescueSystem(fixtureCacheDir());
  bed = await startTestbed(shared, { rescueDir, nfs: 'ganesha' });
  biosFixture = await buildFixtureDisk({ dir: shared.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  uefiFixture = await buildFixtureDisk({ dir: shared.dir, firmware: 'uefi', table: 'gpt', name: 'fixture-uefi-gpt' });
  // The BIOS fixture archived here, for the tests that do not depend on the capture test. (The
  // UEFI fixture's ESP is FAT, which this host's kernel cannot mount: test 7 captures it over PXE.)
  const r = await lifeboat(['archive', '--store', bed.storeDir, '--image', 'golden-bios', '--disk', biosFixture.path]);
  assert.equal(r.exitCode, 0, r.stderr);
}, { timeout: 900_000 });

async function task(kind: string, machine: QemuMachine, image: string, extra: string[] = []): Promise<number> {
  const r = await bed.lifeboat(['task', kind, '--host', machine.mac, '--image', image, ...extra, '--json']);
  assert.equal(r.exitCode, 0, `lifeboat task ${kind}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

async function taskState(id: number): Promise<Task> {
  return bed.api<Task>(`/api/v1/tasks/${id}`);
}

/** PXE → rescue → the agent runs the task and reboots (QEMU exits under -no-reboot). */
async function runTaskBoot(machine: QemuMachine, id: number): Promise<Task> {
  const run = await machine.boot();
  await run.waitForSerial('LIFEBOAT-RESCUE-UP', 420_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
  await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 900_000, { failOn: ['Kernel panic', 'agent crashed'] });
  await run.waitForExit(180_000);
  return taskState(id);
}

async function blankDisk(name: string, bytes: number, noise = false): Promise<string> {
  const file = await sparseFile(join(shared.dir, `${name}.img`), bytes);
  if (noise) await sh('bash', ['-c', `head -c 4194304 /dev/urandom | dd of=${file} conv=notrunc status=none`]);
  return file;
}

function partitionSizes(json: string): number[] {
  return (JSON.parse(json).partitiontable.partitions as Array<{ size: number }>).map((p) => p.size);
}

let captured = false;
let restoredB: { machine: QemuMachine; disk: string } | null = null;

test('1. capture: a machine is archived over PXE and NFS; the image verifies; its disk is untouched', { timeout: 1_800_000 }, async () => {
  await bed.explainFailure(async () => {
    const disk = join(shared.dir, 'capture-source.img');
    await cp(biosFixture.path, disk);
    const before = await sha256Of(disk);
    const machine = await bed.addMachine({ name: 'capture', firmware: 'bios', disks: [disk] });
    const id = await task('capture', machine, 'captured');
    const t = await runTaskBoot(machine, id);
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.match(String(t.result?.version), /^\d{8}T\d{6}Z/);
    const verify = await lifeboat(['images', 'verify', 'captured', '--store', bed.storeDir]);
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    const show = await lifeboat(['images', 'show', 'captured', '--store', bed.storeDir, '--json']);
    const manifest = JSON.parse(show.stdout) as { source: { mode: string }; archives: Array<{ mountpoint: string; uuid: string }> };
    assert.equal(manifest.source.mode, 'disk');
    assert.deepEqual(manifest.archives.map((a) => a.mountpoint).sort(), ['/', '/data']);
    assert.equal(await sha256Of(disk), before, 'capturing did not write to the machine\'s disk');
    captured = true;
  });
});

test('2. nuke onto a larger blank disk: the restored machine boots its own disk with the same files, partitions grown', { timeout: 2_400_000 }, async () => {
  await bed.explainFailure(async () => {
    const image = captured ? 'captured' : 'golden-bios';
    const disk = await blankDisk('larger', 1536 << 20);
    const machine = await bed.addMachine({ name: 'larger', firmware: 'bios', disks: [disk] });
    const id = await task('nuke', machine, image);
    const t = await runTaskBoot(machine, id);
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.ok(t.files.includes('restore-plan.sh'));
    const sizes = partitionSizes(await sh('sfdisk', ['--json', disk]));
    const source = biosFixture.partitions.map((p) => p.sizeBytes / 512);
    assert.equal(sizes.length, source.length);
    const rootIndex = biosFixture.partitions.findIndex((p) => p.role === 'root');
    const dataIndex = biosFixture.partitions.findIndex((p) => p.role === 'data');
    assert.ok(sizes[rootIndex]! > source[rootIndex]! && sizes[dataIndex]! > source[dataIndex]!, `root and /data grew: ${sizes} vs ${source}`);
    await bootsRestoredFixture(machine, biosFixture);
    restoredB = { machine, disk };
  });
});

test('3. a clone onto a smaller disk that still fits: boots with the same files, partitions shrunk, and its own hostname, machine-id and SSH host key', { timeout: 2_400_000 }, async () => {
  await bed.explainFailure(async () => {
    const disk = await blankDisk('smaller', 800 << 20);
    const machine = await bed.addMachine({ name: 'smaller', firmware: 'bios', disks: [disk] });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'golden-bios', ['--hostname', 'lab-03']));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.ok(t.files.includes('identity.txt'), `files: ${t.files}`);
    const sizes = partitionSizes(await sh('sfdisk', ['--json', disk]));
    const dataIndex = biosFixture.partitions.findIndex((p) => p.role === 'data');
    assert.ok(sizes[dataIndex]! < biosFixture.partitions[dataIndex]!.sizeBytes / 512, '/data shrank');
    const given = t.result!.identity as { machineId: string; sshFingerprints: string[] };
    const source = biosFixture.expected.identity;
    const clone = (await bootsRestoredFixture(machine, biosFixture, null)).identity!;
    assert.equal(clone.hostname, 'lab-03');
    assert.equal(clone.machineId, given.machineId, 'the machine-id the agent reported');
    assert.notEqual(clone.machineId, source.machineId, 'not the source\'s machine-id');
    assert.match(clone.sshKey, /^[0-9a-f]{16}$/, 'a new ed25519 host key');
    assert.notEqual(clone.sshKey, source.sshKey, 'not the source\'s host key');
    assert.ok(given.sshFingerprints.some((f) => f.includes('(ED25519)')), given.sshFingerprints.join('\n'));
  });
});

test('4. an image that cannot fit is refused before anything is written: the disk is byte-identical', { timeout: 1_800_000 }, async () => {
  await bed.explainFailure(async () => {
    const disk = await blankDisk('too-small', 300 << 20, true);
    const before = await sha256Of(disk);
    const machine = await bed.addMachine({ name: 'toosmall', firmware: 'bios', disks: [disk] });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'golden-bios'));
    assert.equal(t.state, 'failed');
    assert.equal(t.errorCode, 'LB_DOES_NOT_FIT', t.error ?? '');
    assert.match(t.error ?? '', /needs/);
    assert.equal(await sha256Of(disk), before);
  });
});

test('5. a corrupted image volume is refused before anything is written; the task names the volume', { timeout: 1_800_000 }, async () => {
  await bed.explainFailure(async () => {
    const versions = JSON.parse((await lifeboat(['images', 'list', 'golden-bios', '--store', bed.storeDir, '--json'])).stdout) as Array<{ versions: Array<{ version: string; dir: string }> }>;
    const v = versions[0]!.versions[0]!;
    const copy = join(bed.storeDir, 'corrupt', v.version);
    await cp(v.dir, copy, { recursive: true });
    await flipByte(join(copy, 'data', 'data.tar.zst'), 2048, 0x40);
    const disk = await blankDisk('corrupt-target', 1536 << 20, true);
    const before = await sha256Of(disk);
    const machine = await bed.addMachine({ name: 'corrupt', firmware: 'bios', disks: [disk] });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'corrupt'));
    assert.equal(t.state, 'failed');
    assert.equal(t.errorCode, 'LB_IMAGE_CORRUPT');
    assert.match(t.error ?? '', /data\/data\.tar\.zst fails its checksum/);
    assert.equal(await sha256Of(disk), before);
  });
});

test('6. no task pending: the machine boots its local disk and the disk is byte-identical', { timeout: 1_800_000 }, async () => {
  await bed.explainFailure(async () => {
    assert.ok(restoredB, 'test 2 restored a machine');
    const before = await sha256Of(restoredB.disk);
    await bootsRestoredFixture(restoredB.machine, biosFixture);
    assert.equal(await sha256Of(restoredB.disk), before);
    const events = await bed.api<Array<{ kind: string }>>(`/api/v1/events?mac=${restoredB.machine.mac}`);
    assert.equal(events.filter((e) => e.kind === 'boot.rescue').length, 1, 'only the nuke boot went to the rescue system');
  });
});

test('7. UEFI: capture, then nuke onto a larger blank disk; the restored machine boots through its NVRAM entry or the fallback path', { timeout: 3_600_000 }, async () => {
  await bed.explainFailure(async () => {
    const source = join(shared.dir, 'uefi-source.img');
    await cp(uefiFixture.path, source);
    const sourceMachine = await bed.addMachine({ name: 'uefisrc', firmware: 'uefi', disks: [source] });
    const c = await runTaskBoot(sourceMachine, await task('capture', sourceMachine, 'golden-uefi'));
    assert.equal(c.state, 'done', `capture: ${c.errorCode}: ${c.error}`);
    const disk = await blankDisk('uefi-larger', 1536 << 20);
    const machine = await bed.addMachine({ name: 'uefi', firmware: 'uefi', disks: [disk] });
    const t = await runTaskBoot(machine, await task('nuke', machine, 'golden-uefi'));
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    assert.equal(t.result?.bootloader, 'grub-efi');
    const restored = await bootsRestoredFixture(machine, uefiFixture);
    // The agent left BootNext on the new entry: the first boot of the restored system goes straight
    // to its disk, with no network attempt to wait out first (the entry itself sits after the network in BootOrder).
    const loads = [...restored.serial.matchAll(/BdsDxe: loading Boot\S+ "([^"]*)"/g)].map((m) => m[1]);
    assert.equal(loads[0], 'debian', `the restored system's first boot loaded ${JSON.stringify(loads)}`);
  });
});

test('8. compare: after one file changes on a restored disk, compare reports exactly that file', { timeout: 1_800_000 }, async () => {
  await bed.explainFailure(async () => {
    assert.ok(restoredB, 'test 2 restored a machine');
    // Change one file on the restored /data from the host, as an operator with the disk in hand would.
    const data = biosFixture.partitions.find((p) => p.role === 'data')!;
    const dev = (await sh('losetup', ['--find', '--show', '--partscan', restoredB.disk])).trim();
    const mnt = join(shared.dir, 'compare-mnt');
    let changed = '';
    try {
      await sh('partx', ['-u', dev]).catch(() => undefined);
      await sh('mkdir', ['-p', mnt]);
      await sh('mount', ['-o', 'nouuid', `${dev}p${data.number}`, mnt]); // XFS: other copies of the fixture share its UUID
      try {
        const files = (await sh('find', [mnt, '-type', 'f'])).split('\n').filter(Boolean).sort();
        const victim = files[0]!;
        await sh('bash', ['-c', `echo changed >> '${victim}'`]);
        changed = `/data/${victim.slice(mnt.length + 1)}`;
      } finally {
        await sh('umount', [mnt]);
      }
    } finally {
      await execa('partx', ['-d', dev], { reject: false });
      await execa('losetup', ['-d', dev], { reject: false });
    }
    const image = captured ? 'captured' : 'golden-bios';
    const id = await task('compare', restoredB.machine, image);
    const t = await runTaskBoot(restoredB.machine, id);
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    const text = (await bed.lifeboat(['tasks', 'show', String(id), '--file', 'changed.txt'])).stdout;
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')), [`content ${changed}`], text);
    assert.match(text, /# summary: 1 content, 0 metadata, 0 missing, 0 new/);
  });
});
