import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lifeboat, jsonLines } from '../support/cli.js';
import { makeWorld, type World } from '../support/world.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { LOCAL_DISK_MARKER } from '../support/qemu.js';
import { biosMarkerDisk, sha256Of, uefiMarkerDisk } from '../support/marker-disks.js';
import { UNMOUNTED_CAPTURES_SHARE } from '../support/local-server.js';

/**
 * The server's acceptance test on real firmware: QEMU machines PXE-boot through Lifeboat's DHCP,
 * TFTP and HTTP. A machine with a task boots the rescue system built by `lifeboat netboot build`;
 * the agent in it (a stand-in that only proves it can reach its task) ends the task; the same
 * machine, with no task left, boots its own disk without waiting out any network boot attempt and
 * the disk is byte-identical afterwards; given a new task, it reaches the rescue system again.
 * TCG only (see the test-bed notes), so the timeouts are generous.
 */

const RESCUE_UP = 'LIFEBOAT-RESCUE-UP';
const AGENT_MARKER = 'PXE-TEST-AGENT';

// The stand-in agent: fetches its task with the token from the kernel command line, reports a
// progress step, and ends the task as failed-on-purpose (it captures nothing), so the machine
// goes back to local boot; then the rescue /init powers off as lifeboat.after=poweroff says.
const TEST_AGENT = `
const server = process.env.LIFEBOAT_SERVER, id = process.env.LIFEBOAT_TASK, token = process.env.LIFEBOAT_TOKEN;
const headers = { authorization: 'Bearer ' + token, 'content-type': 'application/json' };
const task = await (await fetch(server + '/agent/v1/tasks/' + id, { headers })).json();
console.log('${AGENT_MARKER} task=' + task.id + ' kind=' + task.kind + ' mac=' + task.mac + ' state=' + task.state + ' ip=' + process.env.LIFEBOAT_IP);
await fetch(server + '/agent/v1/tasks/' + id + '/progress', { method: 'POST', headers, body: JSON.stringify({ stage: 'boot', message: 'pxe-boot test agent is up' }) });
const r = await fetch(server + '/agent/v1/tasks/' + id + '/finish', { method: 'POST', headers, body: JSON.stringify({ ok: false, error: { code: 'LB_INTERRUPTED', message: 'the pxe-boot test agent proves the boot and captures nothing' } }) });
console.log('${AGENT_MARKER} finish=' + r.status);
`;

// One rescue build for the file; its world ends after the last test (a world made inside before()
// would be removed as soon as that hook returns).
const shared: World = await makeWorld({ after }, 'lb-pxe');
const rescueDir = join(shared.dir, 'rescue');

before(async () => {
  const agent = join(shared.dir, 'test-agent.js');
  writeFileSync(agent, TEST_AGENT);
  const r = await lifeboat(['netboot', 'build', '--kernel', 'cloud', '--out', rescueDir, '--agent', agent, '--json']);
  assert.equal(r.exitCode, 0, `lifeboat netboot build failed:\n${r.stderr}`);
  const done = jsonLines(r.stdout).find((l) => l.type === 'done');
  assert.ok(done, 'the build printed its record');
});

// The test agent captures nothing, but a capture task is accepted only where captures have a share.
const CAPTURES = ['--captures-share', UNMOUNTED_CAPTURES_SHARE];

interface Host { mac: string; firmware: string }
interface Event { kind: string; mac: string | null; taskId: number | null; message: string }
interface Task { id: number; state: string; error: string | null; progress: { stage: string } | null }

async function giveCaptureTask(bed: Testbed, mac: string): Promise<number> {
  const r = await bed.lifeboat(['task', 'capture', '--host', mac, '--image', 'pxe-test', '--json']);
  assert.equal(r.exitCode, 0, `lifeboat task capture failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

async function rescueLocalRescue(bed: Testbed, firmware: 'bios' | 'uefi', disk: string): Promise<void> {
  const machine = await bed.addMachine({ name: firmware, firmware, disks: [disk], nicRom: firmware === 'uefi' ? 'firmware' : 'ipxe' });
  const taskId = await giveCaptureTask(bed, machine.mac);

  // 1. A task is pending: PXE → the rescue system → the agent reaches its task → poweroff.
  const first = await machine.boot();
  const up = await first.waitForSerial(RESCUE_UP, 300_000, { failOn: [LOCAL_DISK_MARKER, 'Could not boot', 'Kernel panic'] });
  assert.match(up.line, new RegExp(`task=${taskId}\\b`), 'the rescue system got its task from the kernel command line');
  assert.match(up.line, new RegExp(`ip=${bed.prefix.replaceAll('.', '\\.')}\\.\\d+`), 'the rescue system has an address from Lifeboat\'s DHCP');
  const agentLine = await first.waitForSerial(AGENT_MARKER, 120_000);
  assert.match(agentLine.line, new RegExp(`task=${taskId} kind=capture mac=${machine.mac} state=running`));
  await first.waitForSerial(`${AGENT_MARKER} finish=200`, 60_000);
  await first.waitForExit(120_000);

  const host = await bed.api<{ host: Host }>(`/api/v1/hosts/${machine.mac}`);
  assert.equal(host.host.firmware, firmware, 'the server registered the machine with its firmware');
  const events = await bed.api<Event[]>(`/api/v1/events?mac=${machine.mac}`);
  const booted = events.find((e) => e.kind === 'boot.rescue');
  assert.ok(booted, `the rescue boot is in the events: ${JSON.stringify(events.map((e) => e.kind))}`);
  assert.equal(booted.taskId, taskId);
  const task = await bed.api<Task>(`/api/v1/tasks/${taskId}`);
  assert.equal(task.state, 'failed', 'the agent ended the task');
  assert.match(task.error ?? '', /captures nothing/);

  // 2. No task left: the same machine, same disk and NVRAM, boots its local disk, which stays unchanged.
  // Every network boot attempt of the firmware is answered with something that ends it at once
  // (iPXE: a script that exits; PXE: a file TFTP refuses; HTTP boot: a 404), so none waits out its
  // DHCP retries: OVMF used to spend over two minutes in them before it tried the disk.
  const before = await sha256Of(disk);
  const second = await machine.boot();
  await second.waitForSerial(LOCAL_DISK_MARKER, 150_000, { failOn: [RESCUE_UP, 'Linux version', ...PXE_TIMEOUTS] });
  await second.stop();
  assert.ok(!second.serial().includes(RESCUE_UP), 'the rescue system did not run');
  assert.equal(await sha256Of(disk), before, 'the local disk is byte-identical after the no-task boot');
  const rescueBoots = (await bed.api<Event[]>(`/api/v1/events?mac=${machine.mac}`)).filter((e) => e.kind === 'boot.rescue');
  assert.equal(rescueBoots.length, 1, 'no second rescue boot was planned');

  // 3. A new task: the machine network-boots into the rescue system again (the no-task answers
  // left nothing behind in its firmware that keeps it on its disk).
  const nextTask = await giveCaptureTask(bed, machine.mac);
  const third = await machine.boot();
  const again = await third.waitForSerial(RESCUE_UP, 300_000, { failOn: [LOCAL_DISK_MARKER, 'Could not boot', 'Kernel panic'] });
  assert.match(again.line, new RegExp(`task=${nextTask}\\b`));
  await third.waitForSerial(`${AGENT_MARKER} finish=200`, 120_000);
  await third.waitForExit(120_000);
}

/** What OVMF prints when a network boot attempt waited out its DHCP or HTTP retries. */
const PXE_TIMEOUTS = ['PXE-E16', 'No valid offer received', 'Server response timeout'];

test('BIOS machine (iPXE ROM): task → rescue system over DHCP and HTTP; no task → its own disk at once, untouched; a new task → rescue again', { timeout: 900_000 }, async (t) => {
  const world = await makeWorld(t, 'lb-pxe-bios');
  const bed = await startTestbed(world, { rescueDir, rescueCmdline: 'console=ttyS0,115200n8 lifeboat.after=poweroff', serveArgs: CAPTURES });
  await bed.explainFailure(async () => rescueLocalRescue(bed, 'bios', await biosMarkerDisk(join(world.dir, 'bios-disk.img'))));
});

test('UEFI machine (OVMF firmware PXE): task → TFTP snponly.efi → iPXE → rescue system; no task → its own disk without PXE timeouts, untouched; a new task → rescue again', { timeout: 900_000 }, async (t) => {
  const world = await makeWorld(t, 'lb-pxe-uefi');
  const bed = await startTestbed(world, { rescueDir, rescueCmdline: 'console=ttyS0,115200n8 lifeboat.after=poweroff', serveArgs: CAPTURES });
  await bed.explainFailure(async () => rescueLocalRescue(bed, 'uefi', await uefiMarkerDisk(join(world.dir, 'uefi-disk.img'), world.dir)));
});
