import { createHash } from 'node:crypto';
import { LifeboatError } from '../../core/errors.js';
import { lastLines, runTool, startTool } from '../../core/run-tool.js';
import type { VolumeOpener } from '../../images/archive/tar-read.js';
import type { Manifest } from '../../images/store/manifest.js';
import type { MulticastReceive } from '../task-protocol.js';

/**
 * The image's volumes as they come by multicast: one udp-receiver per volume, in the server's
 * order, its output hashed as it is read and checked against the manifest's sha256 and size when
 * it ends. A volume that fails throws a MulticastVolumeError naming it; the restore asks its
 * `reopen` hook (executePlan) for another opener and extracts that archive again from its start
 * over unicast. From the first failure on, every volume is read over unicast: the sender of the
 * next volume may already be under way, and udp-sender ignores a receiver that connects late.
 */
export type MulticastFailure = 'exit' | 'dropped' | 'timeout' | 'no-sender' | 'hash' | 'size' | 'stopped';

export class MulticastVolumeError extends LifeboatError {
  constructor(readonly volume: string, readonly reason: MulticastFailure, message: string) {
    super(reason === 'hash' || reason === 'size' ? 'LB_IMAGE_CORRUPT' : 'LB_UNREACHABLE', message, { volume, reason });
  }
}

/** Where a volume comes from: its multicast slot, or unicast and why. */
export type VolumeRoute = { via: 'multicast'; index: number } | { via: 'unicast'; why: string };

/**
 * Pure: the route of `path` given the multicast order, the next slot not yet passed, and whether
 * this machine has left the group. A volume asked out of order skips the slots before it (those
 * volumes, if asked later, come over unicast): the receiver never goes back to a sender that has
 * moved on.
 */
export function routeVolume(order: readonly string[], next: number, left: string | null, path: string): VolumeRoute {
  if (left !== null) return { via: 'unicast', why: `this machine left the multicast group (${left})` };
  const index = order.indexOf(path, next);
  if (index !== -1) return { via: 'multicast', index };
  return { via: 'unicast', why: order.includes(path) ? 'its multicast transfer has already gone by' : 'it is not in the multicast transfer' };
}

export function udpReceiverArgs(m: MulticastReceive, index: number, iface: string): string[] {
  return [
    '--nokbd',
    '--interface', iface,
    '--portbase', String(m.portBase + 2 * index),
    '--mcast-rdv-address', m.rendezvous,
    '--start-timeout', String(index === 0 ? m.startTimeoutSeconds : m.nextStartTimeoutSeconds),
    '--receive-timeout', String(m.receiveTimeoutSeconds),
  ];
}

/** Pure: why udp-receiver failed, from its exit status and last lines (255 is the start timeout, measured). */
export function receiverFailure(exitCode: number | null, signal: string | undefined, stderr: string): MulticastFailure {
  if (signal) return 'stopped';
  if (/dropped by server/i.test(stderr)) return 'dropped';
  if (exitCode === 255) return 'no-sender';
  if (/timeout/i.test(stderr)) return 'timeout';
  return 'exit';
}

/** The interface to receive on: the hint, or the one the routing table names towards the server (`serverHost`). */
export async function receiveInterface(m: MulticastReceive, serverHost: string): Promise<string> {
  if (m.interface) return m.interface;
  const { stdout } = await runTool('ip', ['route', 'get', serverHost], { purpose: `find the interface towards the server ${serverHost}` });
  const dev = /\bdev (\S+)/.exec(stdout)?.[1];
  if (!dev) throw new LifeboatError('LB_UNREACHABLE', `no route to the server ${serverHost}: ${stdout.trim()}`);
  return dev;
}

export interface VolumeReceipt {
  path: string;
  via: 'multicast' | 'unicast';
  bytes: number;
  sha256: string;
  /** Unicast: why; multicast failure: the error. */
  note?: string;
}

export interface MulticastSource {
  open: VolumeOpener;
  /** Every volume opened so far, in order, with where its bytes came from. */
  receipts: VolumeReceipt[];
  /** Why this machine left the group, or null while it is still in it. */
  readonly left: string | null;
}

export interface MulticastSourceOptions {
  multicast: MulticastReceive;
  manifest: Pick<Manifest, 'archives'>;
  /** The unicast opener (HTTP or NFS) for what does not come by multicast. */
  unicast: VolumeOpener;
  iface: string;
  note?: (message: string) => void;
  signal?: AbortSignal;
}

export function multicastSource(options: MulticastSourceOptions): MulticastSource {
  const { multicast: m, note = () => undefined } = options;
  const expected = new Map<string, { sha256: string; bytes: number }>();
  for (const a of options.manifest.archives) for (const v of a.volumes) expected.set(v.path, { sha256: v.sha256, bytes: v.bytes });
  const receipts: VolumeReceipt[] = [];
  let next = 0;
  let left: string | null = null;

  async function* unicast(path: string, why: string): AsyncGenerator<Buffer | Uint8Array> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of await options.unicast(path)) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    receipts.push({ path, via: 'unicast', bytes, sha256: hash.digest('hex'), note: why });
  }

  async function* receive(path: string, index: number): AsyncGenerator<Buffer | Uint8Array> {
    const want = expected.get(path)!;
    const args = udpReceiverArgs(m, index, options.iface);
    const receiver = startTool('udp-receiver', args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', ...(options.signal ? { cancelSignal: options.signal } : {}) });
    let stderr = '';
    receiver.stderr!.setEncoding('utf8');
    receiver.stderr!.on('data', (t: string) => (stderr = lastLines(stderr + t.replaceAll('\r', '\n'), 12)));
    const hash = createHash('sha256');
    let bytes = 0;
    let finished = false;
    let sha256: string | null = null;
    const fail = (reason: MulticastFailure, why: string): never => {
      left = `volume ${path}: ${why}`;
      receipts.push({ path, via: 'multicast', bytes, sha256: sha256 ?? hash.copy().digest('hex'), note: why });
      throw new MulticastVolumeError(path, reason, `multicast of volume ${path} failed: ${why}`);
    };
    try {
      try {
        for await (const chunk of receiver.stdout! as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
          if (bytes > want.bytes) fail('size', `more than the manifest's ${want.bytes} bytes arrived`);
          yield chunk;
        }
      } catch (e) {
        if (e instanceof MulticastVolumeError) throw e;
        // The pipe broke: the receiver's exit status below says why.
      }
      const result = await receiver;
      finished = true;
      if ((result as { code?: string }).code === 'ENOENT') fail('exit', 'udp-receiver is not installed: install the Debian package udpcast (npm run setup does)');
      if (result.exitCode !== 0 || result.signal) {
        const reason = receiverFailure(result.exitCode ?? null, result.signal, stderr);
        const last = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('bytes=')).at(-1) ?? '';
        fail(reason, `udp-receiver ${result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`} (${reason}) after ${bytes} of ${want.bytes} bytes${last ? `: ${last}` : ''}`);
      }
      sha256 = hash.digest('hex');
      if (bytes !== want.bytes) fail('size', `${bytes} bytes arrived, the manifest says ${want.bytes}`);
      if (sha256 !== want.sha256) fail('hash', `its sha256 is ${sha256.slice(0, 12)}…, the manifest says ${want.sha256.slice(0, 12)}…`);
      receipts.push({ path, via: 'multicast', bytes, sha256 });
    } finally {
      // The consumer stopped early (tar failed) or a check threw: no receiver is left holding the group.
      if (!finished) {
        receiver.kill('SIGKILL');
        await receiver.catch(() => undefined);
      }
    }
  }

  const open: VolumeOpener = (path: string) => {
    // A chain layer's volume (../<version>/data/…) is not this version's own: it is never in the transfer.
    const route: VolumeRoute = expected.has(path) ? routeVolume(m.volumes, next, left, path) : { via: 'unicast', why: 'it is not one of this version\'s own volumes' };
    if (route.via === 'unicast') {
      if (left === null) note(`volume ${path} over unicast: ${route.why}`);
      return unicast(path, route.why);
    }
    next = route.index + 1;
    note(`volume ${path} by multicast (port ${m.portBase + 2 * route.index})`);
    return receive(path, route.index);
  };
  return {
    open,
    receipts,
    get left() {
      return left;
    },
  };
}
