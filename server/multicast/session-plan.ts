import { MULTICAST_RENDEZVOUS, type MulticastReceive } from '../../netboot/task-protocol.js';
import { DEFAULT_SENDER_SETTINGS, type SenderSettings } from './udp-sender.js';

/**
 * The pure half of a clone session's multicast: whether it gets one and why not, its ports and
 * sender settings, and what a member's agent is told when it asks for its task. The running half
 * (verify, send, follow) is session-transfers.ts.
 */

/** Where a session's transfer is. */
export type TransferPhase = 'verifying' | 'waiting' | 'sending' | 'sent' | 'unicast' | 'stopped';

/** Sessions take ports from here, MAX_SESSION_VOLUMES volumes (two ports each) apart. */
export const MULTICAST_PORT_FLOOR = 9000;
export const MAX_SESSION_VOLUMES = 256;
const PORT_SLOTS = 64;
/** The first volume's sender waits this long after the first receiver joined, unless --max-wait says otherwise. */
export const DEFAULT_MAX_WAIT_SECONDS = 60;
/**
 * A receiver's first start timeout beyond the sender's remaining wait: time for the agent to get
 * from its task (where it is told) to the data stage (verify the manifest, plan, partition, mkfs).
 */
const JOIN_MARGIN_SECONDS = 120;
/** Longer than the stall while the sender drops a silent member (20 retries, about 15–30 s measured), so the others never time out during it. */
const RECEIVE_TIMEOUT_SECONDS = 120;

export function sessionPortBase(sessionId: number): number {
  return MULTICAST_PORT_FLOOR + ((sessionId - 1) % PORT_SLOTS) * 2 * MAX_SESSION_VOLUMES;
}

/** Why a session carries its data over unicast from the start, or null when it can multicast. */
export function unicastReason(s: { multicast: 'auto' | 'on' | 'off'; interface: string | null; volumes: number }): string | null {
  if (s.multicast === 'off') return '--multicast off';
  if (!s.interface) return 'the server has no test-bed interface (serve --interface) to send multicast on';
  if (s.volumes > MAX_SESSION_VOLUMES) return `the image has ${s.volumes} volumes; one multicast session sends at most ${MAX_SESSION_VOLUMES}`;
  return null;
}

export function senderSettings(s: { id: number; requested: number; minReceivers: number | null; maxWait: number | null }, iface: string): SenderSettings {
  return {
    ...DEFAULT_SENDER_SETTINGS,
    interface: iface,
    portBase: sessionPortBase(s.id),
    rendezvous: MULTICAST_RENDEZVOUS,
    minReceivers: s.minReceivers ?? s.requested,
    maxWaitSeconds: s.maxWait ?? DEFAULT_MAX_WAIT_SECONDS,
  };
}

/**
 * What a member's agent is told when it asks for its task, or null: only once the image is
 * verified (the agent then reads only the manifest before writing) and while the first volume's
 * sender has not started (udp-sender ignores a receiver that connects later, so a machine asking
 * after the start reads over unicast at once instead of waiting out a timeout). Its first start
 * timeout covers what is left of the sender's wait, from the first join if there was one.
 */
export function receiveFor(t: { phase: TransferPhase; settings: SenderSettings; volumes: readonly string[]; firstJoinAt: number | null }, now: number): MulticastReceive | null {
  if (t.phase !== 'waiting') return null;
  const waited = t.firstJoinAt === null ? 0 : Math.floor((now - t.firstJoinAt) / 1000);
  const remaining = Math.max(0, t.settings.maxWaitSeconds - waited);
  return {
    portBase: t.settings.portBase,
    rendezvous: t.settings.rendezvous,
    startTimeoutSeconds: remaining + JOIN_MARGIN_SECONDS,
    nextStartTimeoutSeconds: t.settings.nextStartTimeoutSeconds,
    receiveTimeoutSeconds: RECEIVE_TIMEOUT_SECONDS,
    volumes: [...t.volumes],
  };
}
