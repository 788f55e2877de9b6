/**
 * bench/restore: power-on to the restored system's marker, for a ~200 MB image, BIOS and UEFI,
 * on QEMU (TCG), with the time of every stage; and Lifeboat's data stage against the plain
 * `cat volumes | zstd -d | tar -x` of the same volumes in the same guest.
 *
 *   node dist/bench/restore.js [--runs 1] [--firmware bios,uefi]
 *
 * The whole loop, as test/e2e/nuke-restore.test.ts runs it: `lifeboat netboot build`, a test bed
 * (namespace, bridge, `lifeboat serve` with full DHCP and the store over NFS through ganesha), the
 * fixture disk with ~200 MB of moderately compressible files added to its /data on the host. The
 * BIOS fixture is archived on the host (`lifeboat archive --disk`); the UEFI one over PXE with a
 * capture task (this host cannot mount its FAT ESP). Then a blank 1.5 GiB machine gets a nuke
 * task and is powered on: PXE → rescue → verify → plan → wipe, partition, mkfs → mount and
 * extract → bootloader → report → reboot; powered on again (PXE finds no task, the firmware boots
 * the disk) → FIXTURE-BOOTED. The restored system's FIXTURE-HASH is checked against the hash the
 * host computed of the source, so a fast wrong restore cannot pass for a fast one.
 *
 * Stage times come from the task's progress events (the server stamps each as it arrives) and from
 * serial console lines stamped as they appear. The timed runs are plain nukes; one more nuke per
 * firmware runs with `options.measureRawExtract`, where the agent times its own extract steps and,
 * after the restore, the raw pipeline on the same volumes onto the same filesystems: that run gives
 * the data-stage comparison and is left out of the power-on times.
 *
 * Writes the `restore` section of docs/benchmarks.md and prints JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lifeboat } from '../test/support/cli.js';
import { makeWorld, type World } from '../test/support/world.js';
import { startTestbed, type Testbed } from '../test/support/testbed.js';
import { buildFixtureDisk, readMarkers, type Firmware } from '../test/support/fixture-disk.js';
import { sparseFile } from '../test/support/loop-devices.js';
import { runInNamespace } from '../test/support/netns.js';
import { qemuAccel, type QemuMachine } from '../test/support/qemu.js';
import type { BuildRecord } from '../netboot/build/build-record.js';
import type { Manifest } from '../images/store/manifest.js';
import { machineLine, median, readBenchSection, writeBenchSection } from './report.js';
import { loadSentence, watchLoad } from './lib/machine-load.js';
import { addPayload, type Payload } from './lib/fixture-payload.js';
import { SerialTimeline } from './lib/serial-timeline.js';
import { previousStages, stageKey, type PreviousStages } from './lib/stage-table.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' }, firmware: { type: 'string', default: 'bios,uefi' } } });
const RUNS = Number(values.runs);
const FIRMWARES = values.firmware.split(',') as Firmware[];
const TARGET_DISK_BYTES = 1536 << 20;

interface Task {
  id: number;
  state: string;
  errorCode: string | null;
  error: string | null;
  result: Record<string, unknown> | null;
}

interface ServerEvent {
  time: number;
  kind: string;
  data: { stage?: string } | null;
}

/** The stages a run is cut into, in order; the agent's come from its progress events. */
const AGENT_STAGES = ['boot', 'verify', 'plan', 'wipe', 'partition', 'mkfs', 'mount', 'restore', 'bootloader'] as const;
type Stages = Record<
  | 'firmwareToKernel'
  | 'kernelToRescueUp'
  | 'agentStart'
  | (typeof AGENT_STAGES)[number]
  | 'reportAndReboot'
  | 'restoredFirmwareToKernel'
  | 'restoredNetworkAttempts'
  | 'restoredKernelToMarker'
  | 'total',
  number
>;

type DataMethod = 'lifeboat' | 'raw' | 'nodeFed' | 'nodeFedTarI' | 'readAndHash';

interface RunResult {
  stages: Stages;
  hashMatches: boolean;
  /** The agent's data-stage benchmark (options.measureRawExtract). */
  benchmark?: { source: string; dataStage: Array<{ archiveId: string; seconds: number }>; rounds: number; seconds: Record<DataMethod, number[]>; skipped: string[] };
  /** Serial lines before each kernel started, seconds after power-on: what the firmware spent its time on. */
  firmwareLines: { rescue: string[]; restored: string[] };
}

async function createNuke(bed: Testbed, mac: string, image: string, options: Record<string, unknown>): Promise<number> {
  const token = readFileSync(bed.tokenFile, 'utf8').trim();
  const r = await runInNamespace(bed.ns, 'curl', ['-sS', '--fail-with-body', '-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json',
    '--data', JSON.stringify({ kind: 'nuke', mac, image, options }), `${bed.httpBase}/api/v1/tasks`]);
  if (r.exitCode !== 0) throw new Error(`creating the nuke task failed: ${r.stdout} ${r.stderr}`);
  return (JSON.parse(String(r.stdout)) as { id: number }).id;
}

/** QEMU's start by the wall clock, from the monotonic time the harness took when it started it. */
function wallStart(startedAt: number): number {
  return Date.now() - (performance.now() - startedAt);
}

/** Seconds per agent stage from the task's progress events; a stage ends when the next one begins, the last at task.done. */
function agentStages(events: ServerEvent[]): { stages: Record<(typeof AGENT_STAGES)[number], number>; first: number; done: number } {
  const progress = events.filter((e) => e.kind === 'task.progress' && e.data?.stage);
  const done = events.find((e) => e.kind === 'task.done');
  if (!progress.length || !done) throw new Error(`the task's events have no progress or no task.done: ${JSON.stringify(events.map((e) => e.kind))}`);
  const stages = Object.fromEntries(AGENT_STAGES.map((s) => [s, 0])) as Record<(typeof AGENT_STAGES)[number], number>;
  for (const [i, e] of progress.entries()) {
    const end = progress[i + 1]?.time ?? done.time;
    const stage = e.data!.stage as (typeof AGENT_STAGES)[number];
    if (stage in stages) stages[stage] += (end - e.time) / 1000;
    else throw new Error(`a progress event names stage ${stage}, which this benchmark does not place`);
  }
  return { stages, first: progress[0]!.time, done: done.time };
}

async function restoreRun(bed: Testbed, machine: QemuMachine, taskId: number, payload: Payload): Promise<RunResult> {
  return bed.explainFailure(async () => {
    const run = await machine.boot();
    const t0 = wallStart(run.startedAt);
    const serial = new SerialTimeline(run.serialLog);
    try {
      await run.waitForSerial('LIFEBOAT-RESCUE-UP', 600_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
      await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 1_800_000, { failOn: ['Kernel panic', 'agent crashed'] });
      await run.waitForExit(180_000);
    } finally {
      serial.stop();
    }
    const exited = Date.now();
    const task = await bed.api<Task>(`/api/v1/tasks/${taskId}`);
    if (task.state !== 'done') throw new Error(`task ${taskId} ended ${task.state}: ${task.errorCode}: ${task.error}`);
    const events = await bed.api<ServerEvent[]>(`/api/v1/events?task=${taskId}&limit=5000`);
    const agent = agentStages(events);
    const rescueUp = serial.firstAt('LIFEBOAT-RESCUE-UP')!;
    // The kernel's first console line: everything before it is firmware, PXE and the downloads.
    const kernel1 = serial.firstAt(/Linux version/) ?? rescueUp;

    const again = await machine.boot();
    const t1 = wallStart(again.startedAt);
    const serial2 = new SerialTimeline(again.serialLog);
    let marker: number;
    let hashMatches = false;
    try {
      await again.waitForSerial('FIXTURE-BOOTED', 600_000, { failOn: ['LIFEBOAT-RESCUE-UP', 'Kernel panic'] });
      marker = serial2.firstAt('FIXTURE-BOOTED')!;
      // Not timed: the restored system hashes every file it has, and must agree with the source.
      await again.waitForSerial(/FIXTURE-HASH|FIXTURE-ERROR/, 900_000, { failOn: ['Kernel panic'] });
      hashMatches = readMarkers(again.serial()).hash === payload.hash;
    } finally {
      serial2.stop();
      await again.stop();
    }
    const kernel2 = serial2.firstAt(/Linux version/) ?? marker;
    const before = (timeline: SerialTimeline, start: number) => {
      const kernelAt = timeline.lines.findIndex((l) => /Linux version/.test(l.line));
      return timeline.lines.slice(0, kernelAt === -1 ? undefined : kernelAt).map((l) => `${((l.at - start) / 1000).toFixed(1)} ${l.line.trim().slice(0, 160)}`);
    };
    const firmwareLines = { rescue: before(serial, t0), restored: before(serial2, t1) };
    // When the restored machine's firmware gave up on the network and turned to the disk: SeaBIOS hands over to GRUB's boot sector, OVMF names the disk's entry.
    const toDisk = serial2.firstAt(/GRUB loading|Booting from Hard Disk|BdsDxe: (loading|starting) Boot\S+ "[^"]*" from HD\(/) ?? kernel2;
    const stages: Stages = {
      firmwareToKernel: (kernel1 - t0) / 1000,
      kernelToRescueUp: (rescueUp - kernel1) / 1000,
      agentStart: (agent.first - rescueUp) / 1000,
      ...agent.stages,
      reportAndReboot: (exited - agent.done) / 1000,
      restoredFirmwareToKernel: (kernel2 - t1) / 1000,
      restoredNetworkAttempts: (toDisk - t1) / 1000,
      restoredKernelToMarker: (marker - kernel2) / 1000,
      total: (exited - t0 + (marker - t1)) / 1000,
    };
    const benchmark = task.result?.benchmark as RunResult['benchmark'] | undefined;
    return { stages, hashMatches, firmwareLines, ...(benchmark ? { benchmark } : {}) };
  });
}

interface FirmwareResult {
  firmware: Firmware;
  image: { name: string; tarBytes: number; volumeBytes: number; filesystems: Array<{ mountpoint: string; fstype: string; tarBytes: number; volumeBytes: number }>; madeBy: string; seconds: number };
  payload: Payload;
  runs: RunResult[];
  measured: RunResult;
}

async function benchFirmware(world: World, bed: Testbed, firmware: Firmware): Promise<FirmwareResult> {
  const fixture = await buildFixtureDisk({ dir: world.dir, firmware, table: 'gpt', name: `e2e-${firmware}` });
  const payload = await addPayload(fixture, world.dir);
  process.stderr.write(`${firmware}: added ${payload.files} files, ${(payload.bytes / 1e6).toFixed(0)} MB to /data\n`);
  const image = `bench-${firmware}`;
  const t0 = performance.now();
  let madeBy: string;
  if (firmware === 'bios') {
    const r = await lifeboat(['archive', '--store', bed.storeDir, '--image', image, '--disk', fixture.path]);
    if (r.exitCode !== 0) throw new Error(`lifeboat archive --disk failed (${r.exitCode}): ${r.stderr}`);
    madeBy = '`lifeboat archive --disk` on the host';
  } else {
    // The ESP is FAT, which this host's kernel cannot mount: the machine is captured over PXE.
    const source = await bed.addMachine({ name: `${firmware}src`, firmware, disks: [fixture.path] });
    const r = await bed.lifeboat(['task', 'capture', '--host', source.mac, '--image', image, '--json']);
    if (r.exitCode !== 0) throw new Error(`lifeboat task capture failed: ${r.stderr}`);
    const id = (JSON.parse(r.stdout) as { id: number }).id;
    await bed.explainFailure(async () => {
      const run = await source.boot();
      await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 1_800_000, { failOn: ['Kernel panic', 'FIXTURE-BOOTED'] });
      await run.waitForExit(180_000);
    });
    const task = await bed.api<Task>(`/api/v1/tasks/${id}`);
    if (task.state !== 'done') throw new Error(`capture task ${id} ended ${task.state}: ${task.errorCode}: ${task.error}`);
    madeBy = 'a capture task over PXE and NFS (QEMU, TCG)';
  }
  const seconds = (performance.now() - t0) / 1000;
  const manifest = JSON.parse((await lifeboat(['images', 'show', image, '--store', bed.storeDir, '--json'])).stdout) as Manifest;
  const filesystems = manifest.archives.map((a) => ({ mountpoint: a.mountpoint, fstype: a.fstype, tarBytes: a.tarBytes, volumeBytes: a.volumes.reduce((s, v) => s + v.bytes, 0) }));
  const imageFacts = {
    name: image,
    tarBytes: filesystems.reduce((s, f) => s + f.tarBytes, 0),
    volumeBytes: filesystems.reduce((s, f) => s + f.volumeBytes, 0),
    filesystems,
    madeBy,
    seconds,
  };
  process.stderr.write(`${firmware}: image ${(imageFacts.tarBytes / 1e6).toFixed(0)} MB in tar, ${(imageFacts.volumeBytes / 1e6).toFixed(0)} MB of volumes, made in ${seconds.toFixed(0)} s\n`);

  const nuke = async (tag: string, options: Record<string, unknown>) => {
    const disk = await sparseFile(join(world.dir, `${firmware}-${tag}.img`), TARGET_DISK_BYTES);
    const machine = await bed.addMachine({ name: `${firmware}${tag}`, firmware, disks: [disk] });
    const id = await createNuke(bed, machine.mac, image, options);
    const r = await restoreRun(bed, machine, id, payload);
    process.stderr.write(`${firmware} ${tag}: ${JSON.stringify(r.stages)}${r.benchmark ? ` ${JSON.stringify(r.benchmark)}` : ''}; hash ${r.hashMatches ? 'matches' : 'DIFFERS'}\n`);
    process.stderr.write(`${firmware} ${tag} before the restored kernel:\n  ${r.firmwareLines.restored.join('\n  ')}\n`);
    return r;
  };
  const runs: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await nuke(`r${i + 1}`, {}));
  const measured = await nuke('raw', { measureRawExtract: true });
  return { firmware, image: imageFacts, payload, runs, measured };
}

function section(results: FirmwareResult[], build: BuildRecord, load: { start: number; end: number }, previous: PreviousStages | null): string {
  const mb = (n: number) => (n / 1e6).toFixed(0);
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const med = (r: FirmwareResult, key: keyof Stages) => median(r.runs.map((x) => x.stages[key]));
  const rows: Array<[string, keyof Stages]> = [
    ['power-on → the rescue kernel\'s first console line (firmware, DHCP, iPXE, its script, kernel + initramfs over HTTP)', 'firmwareToKernel'],
    ['→ `LIFEBOAT-RESCUE-UP` (kernel boot, initramfs unpacked, /init: modules, DHCP)', 'kernelToRescueUp'],
    ['agent start: node and the bundled agent start, first report', 'agentStart'],
    ['fetch the task, mount the NFS share', 'boot'],
    ['verify: manifest, SHA256SUMS, every volume read and hashed', 'verify'],
    ['plan: probe the disks, plan, send restore-plan.sh', 'plan'],
    ['wipe', 'wipe'],
    ['partition', 'partition'],
    ['mkfs (filesystems and swap with their UUIDs and labels)', 'mkfs'],
    ['mount (each filesystem just before its archive)', 'mount'],
    ['data: extract every archive', 'restore'],
    ['bootloader, then unmount', 'bootloader'],
    ['report and reboot: task.done → the machine goes down', 'reportAndReboot'],
    ['restored system: power-on → its kernel\'s first console line (firmware, PXE with no task: each network boot attempt refused at once, the disk, GRUB)', 'restoredFirmwareToKernel'],
    ['— of which the firmware\'s network boot attempts, until it turns to the disk', 'restoredNetworkAttempts'],
    ['→ `FIXTURE-BOOTED` (kernel boot, its initramfs, mounts by UUID, init)', 'restoredKernelToMarker'],
  ];
  const was = (label: string, r: FirmwareResult) => previous?.cells.get(stageKey(label))?.get(r.firmware.toUpperCase()) || '—';
  const cells = (label: string, key: keyof Stages) => results.map((r) => `${was(label, r)} | ${med(r, key).toFixed(1)}`).join(' | ');
  const totalLabel = '**power-on to the restored system\'s marker**';
  const lines = [
    '## Nuke restore on QEMU: power-on to the restored system (bench/restore.ts)',
    '',
    `${new Date().toISOString().slice(0, 10)} — ${machineLine()}. ${loadSentence(load)}`,
    `QEMU ${qemuAccel()}, q35, 1 vCPU, 1 GiB, virtio disk and NIC; the server, ganesha and QEMU share the host's 2 cores.`,
    '',
    'The image: the e2e fixture (GPT; ext4 /, XFS /data, swap; an ESP for UEFI) with files added to /data on the host',
    `(moderately compressible: half random, half text, 16 KiB blocks), restored onto a blank ${TARGET_DISK_BYTES / 2 ** 30} GiB disk, read over NFS (ganesha):`,
    '',
    '| firmware | files added | tar bytes (MB) | volumes, zstd -3 (MB) | made by |',
    '| --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.firmware.toUpperCase()} | ${r.payload.files} files, ${mb(r.payload.bytes)} MB | ${mb(r.image.tarBytes)} (${r.image.filesystems.map((f) => `${f.mountpoint} ${mb(f.tarBytes)}`).join(', ')}) | ${mb(r.image.volumeBytes)} | ${r.image.madeBy}, ${r.image.seconds.toFixed(0)} s |`),
    '',
    `Seconds per stage, median of ${RUNS} run${RUNS === 1 ? '' : 's'} per firmware (stage times from the task's progress events as the server received them; boot milestones from the serial console, stamped as lines appeared):`,
    '',
    `Each firmware has two columns: the run before this one (${previous?.date ?? 'none recorded'}, as this section then said) and this run.`,
    '',
    `| stage | ${results.map((r) => `${r.firmware.toUpperCase()} before | ${r.firmware.toUpperCase()} now`).join(' | ')} |`,
    `| --- | ${results.map(() => '--- | ---').join(' | ')} |`,
    ...rows.map(([label, key]) => `| ${label} | ${cells(label, key)} |`),
    `| ${totalLabel} | ${results.map((r) => `${was(totalLabel, r)} | **${med(r, 'total').toFixed(1)}**`).join(' | ')} |`,
    '',
    `Target (issue 10): power-on to the marker ≤ 75 s BIOS, ≤ 90 s UEFI on TCG; the data stage ≥ 0.95× raw. ${results.map((r) => `${r.firmware.toUpperCase()}: ${med(r, 'total').toFixed(0)} s (runs ${r.runs.map((x) => x.stages.total.toFixed(0)).join(', ')})`).join('; ')}.`,
    `The restored system's FIXTURE-HASH matched the source's: ${results.map((r) => `${r.firmware.toUpperCase()} ${[...r.runs, r.measured].every((x) => x.hashMatches) ? 'yes' : '**NO**'}`).join(', ')}.`,
    '',
    'Data stage against the raw pipeline, in the same guest: one more nuke per firmware with `options.measureRawExtract`, left out of the',
    'times above. After the restore the agent mounts each restored filesystem again and extracts into a scratch directory on it (removed',
    'after each run): with Lifeboat\'s own extraction (the same call as the data stage makes after the verify pass, without its progress',
    'reports), with `cat volumes | zstd -d | tar -x` and the same tar options reading the same NFS share (**raw**), with that pipeline fed by',
    'node from the image source as Lifeboat\'s extraction is fed, node feeding `tar --use-compress-program=\'zstd -d -q\'` instead (how Lifeboat',
    'runs tar, without its hashing), and node reading and sha256-hashing the volumes alone. The methods alternate',
    'in a rotated order for several rounds (the guest shares the host\'s cores); medians. Ratio = raw / Lifeboat; target ≥ 0.95×.',
    '',
    '| firmware | data stage in the restore (s) | Lifeboat extraction (s) | raw `cat \\| zstd -d \\| tar -x` (s) | that pipeline fed by node (s) | node into `tar -I` (s) | node read + sha256 only (s) | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => {
      const b = r.measured.benchmark;
      if (!b) return `| ${r.firmware.toUpperCase()} | — | — | — | — | — | — | the agent reported no benchmark |`;
      const cell = (m: DataMethod) => (b.seconds[m].length ? `**${median(b.seconds[m]).toFixed(1)}** (${b.seconds[m].map((x) => x.toFixed(1)).join(', ')})` : '— (over HTTP)');
      const stage = b.dataStage.reduce((a, x) => a + x.seconds, 0);
      return `| ${r.firmware.toUpperCase()} | ${stage.toFixed(1)} | ${cell('lifeboat')} | ${cell('raw')} | ${cell('nodeFed')} | ${cell('nodeFedTarI')} | ${cell('readAndHash')} | **${(median(b.seconds.raw) / median(b.seconds.lifeboat)).toFixed(2)}×** |`;
    }),
    '',
    ...results.flatMap((r) => {
      const b = r.measured.benchmark;
      if (!b || !b.seconds.raw.length) return [];
      const m = (k: DataMethod) => median(b.seconds[k]);
      return [
        `${r.firmware.toUpperCase()}: Lifeboat's extraction minus raw: ${(m('lifeboat') - m('raw')).toFixed(1)} s (medians). What the parts cost in this guest: ` +
          `node in the data path instead of cat ${(m('nodeFed') - m('raw')).toFixed(1)} s; with node feeding, tar's own \`--use-compress-program\` instead of a pipe ` +
          `${(m('nodeFedTarI') - m('nodeFed')).toFixed(1)} s; reading and sha256-hashing the volumes ${m('readAndHash').toFixed(1)} s. On one vCPU such costs add up: nothing runs beside anything else.`,
        '',
      ];
    }),
    `Rescue system (\`lifeboat netboot build\`, build.json): kernel ${build.kernel.version} ${mib(build.vmlinuz.bytes)} MiB, initrd.img ${mib(build.initrd.bytes)} MiB ${build.initrd.compression}`,
    `(${mib(build.initrd.uncompressedBytes)} MiB unpacked, ${build.initrd.entries} entries, ${build.modules.count} modules).`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const holder = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    const world = await makeWorld(holder, 'lb-bench-restore');
    const rescueDir = join(world.dir, 'rescue');
    const built = await lifeboat(['netboot', 'build', '--kernel', 'cloud', '--out', rescueDir, '--json']);
    if (built.exitCode !== 0) throw new Error(`lifeboat netboot build failed (${built.exitCode}): ${built.stderr}`);
    const build = JSON.parse(readFileSync(join(rescueDir, 'build.json'), 'utf8')) as BuildRecord;
    const bed = await startTestbed(world, { rescueDir, nfs: 'ganesha' });
    const stopLoad = watchLoad();
    const results: FirmwareResult[] = [];
    for (const firmware of FIRMWARES) results.push(await benchFirmware(world, bed, firmware));
    const load = stopLoad();
    process.stdout.write(`${JSON.stringify({ bench: 'restore', machine: machineLine(), accel: qemuAccel(), load, results, rescue: { kernel: build.kernel.version, vmlinuzBytes: build.vmlinuz.bytes, initrdBytes: build.initrd.bytes } }, null, 2)}\n`);
    await writeBenchSection('restore', section(results, build, load, previousStages(await readBenchSection('restore'))));
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
