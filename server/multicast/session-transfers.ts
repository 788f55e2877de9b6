import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import { formatBytes } from '../../core/sizes.js';
import { extractionOrder } from '../../images/restore/extraction-order.js';
import { verifyVersion } from '../../images/store/verify.js';
import type { MulticastReceive } from '../../netboot/task-protocol.js';
import type { CloneSession, CloneSessions } from '../state/clone-sessions.js';
import type { EventLog, ServerEvent } from '../state/events.js';
import { sendVolumes, type TransferOutcome } from './multicast-transfer.js';
import { receiveFor, senderSettings, unicastReason, type TransferPhase } from './session-plan.js';
import { volumePort, type SenderSettings, type VolumeSendOutcome } from './udp-sender.js';

/**
 * The multicast of each clone session, run by the server: when a session is created, the image is
 * verified (every volume against its checksum: the members then read only the manifest before
 * writing, and hash each volume as it arrives), then udp-sender sends the volumes in the order a
 * nuke extracts them and waits for --min-receivers (or --max-wait after the first). A member that
 * asks for its task before the start is told where to receive; one that asks later, or whose
 * receiving fails, reads over unicast. The session's events say every step; `describe` is the
 * one line the API and `clones show` print.
 */
interface Transfer {
  phase: TransferPhase;
  reason: string;
  settings: SenderSettings | null;
  volumes: string[];
  firstJoinAt: number | null;
  /** Tasks whose agents were told to receive. */
  offered: Set<number>;
  controller: AbortController;
  done: Promise<void>;
}

/** Finished transfers kept for `describe`; the oldest go first. */
const KEEP_FINISHED = 200;

export class SessionTransfers {
  private readonly transfers = new Map<number, Transfer>();

  constructor(private readonly o: { interface: string | null; store: string; clones: CloneSessions; events: EventLog; log: Logger }) {
    o.events.follow((e) => this.onEvent(e));
  }

  private onEvent(e: ServerEvent): void {
    const session = typeof e.data?.session === 'number' ? e.data.session : null;
    if (session === null) return;
    if (e.kind === 'clone.created') this.begin(this.o.clones.get(session));
    else if (e.kind === 'clone.cancelled' || e.kind === 'clone.done' || e.kind === 'clone.failed') this.transfers.get(session)?.controller.abort();
  }

  /** Multicast settings for the agent of `taskId` in session `sessionId`, or undefined (unicast). */
  receiveFor(sessionId: number, taskId: number): MulticastReceive | undefined {
    const t = this.transfers.get(sessionId);
    if (!t || !t.settings) return undefined;
    const r = receiveFor({ phase: t.phase, settings: t.settings, volumes: t.volumes, firstJoinAt: t.firstJoinAt }, Date.now());
    if (!r) return undefined;
    if (!t.offered.has(taskId)) {
      t.offered.add(taskId);
      this.record(sessionId, `task ${taskId} told to receive by multicast (${t.offered.size} so far)`, { taskId });
    }
    return r;
  }

  /** One line: how this session's data travels now. */
  describe(sessionId: number): string {
    const t = this.transfers.get(sessionId);
    if (!t) return 'unicast (HTTP/NFS per machine): this server process did not start the session\'s multicast (it was restarted since)';
    if (t.phase === 'unicast') return `unicast (HTTP/NFS per machine): ${t.reason}`;
    return `multicast ${t.phase}: ${t.reason}`;
  }

  async close(): Promise<void> {
    for (const t of this.transfers.values()) t.controller.abort();
    await Promise.all([...this.transfers.values()].map((t) => t.done));
  }

  private record(session: number, message: string, extra: { taskId?: number; data?: Record<string, unknown> } = {}): void {
    this.o.events.record('clone.multicast', `clone session ${session}: ${message}`, { ...(extra.taskId ? { taskId: extra.taskId } : {}), data: { session, ...extra.data } });
  }

  private begin(session: CloneSession): void {
    const t: Transfer = { phase: 'verifying', reason: 'checking every volume of the image before the session starts', settings: null, volumes: [], firstJoinAt: null, offered: new Set(), controller: new AbortController(), done: Promise.resolve() };
    this.transfers.set(session.id, t);
    this.evict();
    t.done = this.run(session, t).catch((err: unknown) => {
      t.phase = 'unicast';
      t.reason = `the multicast failed: ${(err as Error).message}`;
      this.o.log.error({ err, session: session.id }, 'clone session multicast failed');
      this.record(session.id, t.reason);
    });
  }

  private evict(): void {
    const finished = [...this.transfers.entries()].filter(([, t]) => t.phase === 'sent' || t.phase === 'unicast' || t.phase === 'stopped');
    for (const [id] of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.transfers.delete(id);
  }

  private async run(session: CloneSession, t: Transfer): Promise<void> {
    const early = unicastReason({ multicast: session.multicast, interface: this.o.interface, volumes: 0 });
    if (early) {
      t.phase = 'unicast';
      t.reason = early;
      return;
    }
    const dir = join(this.o.store, session.image, session.version);
    const report = await verifyVersion(dir, { deep: false, signal: t.controller.signal });
    if (t.controller.signal.aborted) return void ((t.phase = 'stopped'), (t.reason = 'the session ended before its image was checked'));
    if (!report.ok || !report.manifest) {
      const p = report.problems[0];
      t.phase = 'unicast';
      t.reason = `the image failed its check before the session (${p ? `${p.path} ${p.problem}` : 'no manifest'}): each machine verifies it again and refuses it`;
      this.record(session.id, t.reason);
      return;
    }
    const volumes = extractionOrder(report.manifest);
    const why = unicastReason({ multicast: session.multicast, interface: this.o.interface, volumes: volumes.length });
    if (why) {
      t.phase = 'unicast';
      t.reason = why;
      return;
    }
    const settings = senderSettings(session, this.o.interface!);
    const bytes = new Map(report.manifest.archives.flatMap((a) => a.volumes.map((v) => [v.path, v.bytes] as const)));
    const total = volumes.reduce((s, v) => s + (bytes.get(v) ?? 0), 0);
    const ports = `${settings.portBase}…${volumePort(settings.portBase, volumes.length - 1) + 1}`;
    Object.assign(t, { settings, volumes, phase: 'waiting', reason: `image verified; waiting for ${settings.minReceivers} machines (or ${settings.maxWaitSeconds} s after the first joins) on ${settings.interface}, ports ${ports}; machines that ask for their task after the start read over unicast` });
    this.record(session.id, `multicast of ${volumes.length} volumes (${formatBytes(total)}) ready: ${t.reason}`, { data: { ports } });
    let sent = 0;
    const outcome: TransferOutcome = await sendVolumes({
      settings,
      volumes: volumes.map((path) => ({ path, file: join(dir, path) })),
      signal: t.controller.signal,
      onEvent: ({ index, volume, event }) => {
        if (event.kind === 'join' && t.firstJoinAt === null) t.firstJoinAt = Date.now();
        if (event.kind === 'start' && index === 0) {
          t.phase = 'sending';
          this.record(session.id, `multicast started to ${t.offered.size} machines told to receive`);
        }
        if (event.kind === 'start') t.reason = `volume ${index + 1} of ${volumes.length} (${volume})`;
        if (event.kind === 'drop') this.record(session.id, `multicast of ${volume}: receiver #${event.receiver} stopped answering and was dropped; it reads over unicast`);
      },
      onVolume: (v) => {
        if (v.status === 'sent') sent += bytes.get(v.path) ?? 0;
        else this.record(session.id, `multicast of ${v.path}: ${v.status}${v.error ? `: ${v.error}` : ''}`);
      },
    });
    const first = outcome.volumes[0];
    const receivers = first?.joined.length ?? 0;
    if (t.controller.signal.aborted) {
      t.phase = 'stopped';
      t.reason = 'the session ended';
    } else if (first?.status === 'no-receivers') {
      t.phase = 'unicast';
      t.reason = `no machine joined the multicast within ${settings.startTimeoutSeconds} s`;
    } else {
      t.phase = 'sent';
      const dropped = [...new Set(outcome.volumes.flatMap((v) => v.dropped))];
      t.reason = `${formatBytes(sent)} of ${formatBytes(total)} sent once to ${receivers} machines in ${Math.round(outcome.seconds)} s, ${retransmitted(outcome.volumes, bytes).toFixed(1)}% retransmitted${dropped.length ? `; dropped (read over unicast): ${dropped.join(', ')}` : ''}`;
    }
    this.record(session.id, `multicast ${t.phase}: ${t.reason}`, { data: { volumes: outcome.volumes.map((v) => ({ path: v.path, status: v.status, joined: v.joined.length, completed: v.completed.length, retransmittedPercent: v.retransmittedPercent })) } });
  }
}

/** Retransmitted data over the whole session, in percent of the bytes of the volumes that went out. */
function retransmitted(volumes: readonly VolumeSendOutcome[], bytes: ReadonlyMap<string, number>): number {
  const sent = volumes.filter((v) => v.status === 'sent');
  const total = sent.reduce((n, v) => n + (bytes.get(v.path) ?? 0), 0);
  return total === 0 ? 0 : sent.reduce((n, v) => n + (bytes.get(v.path) ?? 0) * v.retransmittedPercent, 0) / total;
}
