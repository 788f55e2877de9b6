import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { sh, type World } from './world.js';
import { scratchFilesystem } from './loop-devices.js';
import { lifeboat, jsonLines } from './cli.js';
import { attachToBridge, createNamespace, createVethPair, startInNamespace, waitFor, type Background } from './netns.js';
import { startTestbed, type Testbed } from './testbed.js';
import type { Manifest } from '../../images/store/manifest.js';
import { MULTICAST_RENDEZVOUS, type MulticastReceive } from '../../netboot/task-protocol.js';
import type { VolumeSendOutcome, SenderSettings } from '../../server/multicast/udp-sender.js';
import type { VolumeReceipt } from '../../netboot/agent/multicast-source.js';

/**
 * Lifeboat's multicast transfer and clones receiving it, on a real bridge: the sender (one
 * udp-sender per volume, multicast-sender-entry.ts) in the server's namespace, each clone a node
 * process in its own namespace (multicast-receiver-entry.ts) with the unicast fallback served by
 * `lifeboat serve`. Shared by test/integration/multicast-volumes.test.ts and bench/multicast.ts.
 */
const SENDER = fileURLToPath(new URL('./multicast-sender-entry.js', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./multicast-receiver-entry.js', import.meta.url));

export interface MulticastBed {
  world: World;
  bed: Testbed;
  src: string;
  dir: string;
  manifest: Manifest;
  httpUrl: string;
  volumes: Array<{ path: string; file: string; bytes: number; sha256: string }>;
  imageBytes: number;
}

/**
 * `lifeboat serve` on a bridge in its own namespace (the unicast fallback: GET /store/…) and an
 * image of incompressible files of `sizes` bytes, archived in volumes of `volumeSize` (null: one
 * volume, the archive's default), in its store.
 */
export async function makeMulticastBed(world: World, options: { sizes?: number[]; volumeSize?: string | null } = {}): Promise<MulticastBed> {
  const bed = await startTestbed(world, { routerAdvertisement: false });
  // Incompressible, so the volumes are as large as the data (the default: six volumes of 4 MiB).
  const sizes = options.sizes ?? [9 << 20, 7 << 20, 5 << 20, 3 << 20];
  const src = await scratchFilesystem(world, 'src', 'ext4', Math.max(96, Math.ceil((sizes.reduce((a, b) => a + b, 0) / (1 << 20)) * 1.3)) << 20);
  for (const [i, size] of sizes.entries()) await writeFile(join(src.mountpoint, `random-${i}.bin`), randomBytes(size));
  await mkdir(join(src.mountpoint, 'etc'));
  await writeFile(join(src.mountpoint, 'etc', 'hostname'), 'golden\n');
  const r = await lifeboat(['archive', '--store', bed.storeDir, '--image', 'golden', '--root', src.mountpoint, ...(options.volumeSize === null ? [] : ['--volume-size', options.volumeSize ?? '4M']), '--json']);
  if (r.exitCode !== 0) throw new Error(`lifeboat archive failed (${r.exitCode}): ${r.stderr}`);
  const dir = String(jsonLines(r.stdout).find((e) => e.type === 'published')!.dir);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const volumes = manifest.archives.flatMap((a) => a.volumes.map((v) => ({ ...v, file: join(dir, v.path) })));
  const version = dir.split('/').at(-1)!;
  return { world, bed, src: src.mountpoint, dir, manifest, httpUrl: `${bed.httpBase}/store/golden/${version}/`, volumes, imageBytes: volumes.reduce((s, v) => s + v.bytes, 0) };
}

/** What the server would put in a session member's task: the bed's volumes in order from `portBase`. */
export function receivePlan(b: MulticastBed, portBase: number, startTimeoutSeconds = 60): MulticastReceive {
  return { portBase, rendezvous: MULTICAST_RENDEZVOUS, startTimeoutSeconds, nextStartTimeoutSeconds: 20, receiveTimeoutSeconds: 8, volumes: b.volumes.map((v) => v.path) };
}

export interface Machine {
  ns: string;
  address: string;
  bridgePort: string;
  target: string;
}

/** A machine: its own namespace on the bed's bridge, an address in the bed's subnet with no broadcast address. */
export async function addMachine(b: MulticastBed, tag: string, host: number): Promise<Machine> {
  const ns = await createNamespace(b.world, tag);
  const bridgePort = `lbv${tag}${b.world.id}`;
  const address = `${b.bed.prefix}.${host}`;
  await createVethPair(b.world, { ns: b.bed.ns, name: bridgePort }, { ns, name: 'eth0', address: `${address}/24` });
  await attachToBridge(b.bed.ns, bridgePort, b.bed.bridge);
  return { ns, address, bridgePort, target: join(b.world.dir, `${ns}-root`) };
}

export function startSender(b: MulticastBed, settings: SenderSettings, volumes: Array<{ path: string; file: string }>, name: string): Background {
  return startInNamespace(b.world, b.bed.ns, process.execPath, ['--enable-source-maps', SENDER, JSON.stringify({ settings, volumes })], join(b.world.dir, `${name}.log`));
}

/** One clone's data stage in its namespace (multicast-receiver-entry.ts); with `plan` null, every volume over unicast (HTTP). */
export function startReceiver(b: MulticastBed, m: Machine, plan: MulticastReceive | null): Background {
  return startInNamespace(b.world, m.ns, process.execPath, ['--enable-source-maps', RECEIVER, JSON.stringify({ httpUrl: b.httpUrl, multicast: plan, iface: 'eth0', target: m.target })], join(b.world.dir, `${m.ns}.log`));
}

export type SenderLine = { type: 'event'; volume: string; index: number; event: { kind: string }; at: number } | ({ type: 'volume'; at: number } & VolumeSendOutcome) | { type: 'outcome'; volumes: VolumeSendOutcome[]; complete: boolean; seconds: number; at: number };

export function senderLines(bg: Background): SenderLine[] {
  return jsonLines(bg.log()) as unknown as SenderLine[];
}

export interface ReceiverResult {
  ok: boolean;
  error: string | null;
  left: string | null;
  receipts: VolumeReceipt[];
  notes: string[];
  seconds: number;
}

export async function receiverResult(bg: Background, limitMs: number): Promise<ReceiverResult> {
  await waitFor(`receiver ${bg.logFile} to finish`, async () => ((await Promise.race([bg.exited, new Promise((r) => setTimeout(() => r('running'), 20))])) === 'running' ? undefined : true), limitMs).catch((e: Error) => {
    throw new Error(`${e.message}\n${bg.log()}`);
  });
  const line = bg.log().split('\n').find((l) => l.startsWith('{"ok"'));
  if (!line) throw new Error(`the receiver printed no result:\n${bg.log()}`);
  return JSON.parse(line) as ReceiverResult;
}

export async function senderOutcome(bg: Background, limitMs: number): Promise<Extract<SenderLine, { type: 'outcome' }>> {
  return waitFor('the multicast transfer to end', () => senderLines(bg).find((l): l is Extract<SenderLine, { type: 'outcome' }> => l.type === 'outcome'), limitMs).catch((e: Error) => {
    throw new Error(`${e.message}\n${bg.log()}`);
  });
}

/** Bytes `dev` in `ns` has sent so far (the bridge: what the server put on the test bed). */
export async function txBytes(ns: string, dev: string): Promise<number> {
  const [link] = JSON.parse(await sh('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', dev])) as Array<{ stats64: { tx: { bytes: number } } }>;
  return link!.stats64.tx.bytes;
}
