import type { TaskState } from '../netboot/task-protocol.js';

/**
 * The two decisions of a clone session, from facts alone (as boot-decision.ts): what state the
 * session is in, given its members' tasks; and whether a machine that network-boots now is taken
 * into a --count session. The state module records what they decide.
 */
export type CloneState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';
export const OPEN_CLONE_STATES: readonly CloneState[] = ['pending', 'running'];

export interface MemberFacts {
  n: number;
  mac: string;
  taskId: number;
  taskState: TaskState;
}

/**
 * A session follows its tasks: open while a task is open or a --count slot is unclaimed (pending
 * until one task leaves pending); done when every machine's task is done; failed when none is open
 * and one failed or was cancelled on its own. Cancelled only by the operator, and then for good.
 */
export function cloneSessionState(s: { requested: number; cancelled: boolean; members: MemberFacts[] }): { state: CloneState; reason: string } {
  if (s.cancelled) return { state: 'cancelled', reason: 'cancelled by the operator' };
  const open = s.members.filter((m) => m.taskState === 'pending' || m.taskState === 'running');
  const unclaimed = s.requested - s.members.length;
  const lost = s.members.filter((m) => m.taskState === 'failed' || m.taskState === 'cancelled');
  if (open.length > 0 || unclaimed > 0) {
    const started = s.members.some((m) => m.taskState !== 'pending');
    const parts = [`${s.members.filter((m) => m.taskState === 'done').length} of ${s.requested} done`];
    if (open.length) parts.push(`${open.length} open`);
    if (unclaimed > 0) parts.push(`${unclaimed} waiting for a machine to network-boot`);
    if (lost.length) parts.push(`lost: ${lost.map((m) => `task ${m.taskId} (${m.mac}) ${m.taskState}`).join(', ')}`);
    return { state: started ? 'running' : 'pending', reason: parts.join('; ') };
  }
  if (lost.length === 0) return { state: 'done', reason: `all ${s.requested} machines done` };
  return { state: 'failed', reason: `${lost.length} of ${s.requested} machines not cloned: ${lost.map((m) => `task ${m.taskId} (${m.mac}) ${m.taskState}`).join(', ')}` };
}

/** An open --count session that may take more machines: how many slots are left, and the MACs its identity table allows (null: any). */
export interface OpenSlots {
  sessionId: number;
  free: number;
  allowed: string[] | null;
}

export type ClaimDecision = { claim: true; sessionId: number } | { claim: false; reason: string };

/**
 * Whether a machine booting now joins a --count session: only a network boot, only a machine with
 * no open task and in no open session, into the oldest session with a free slot that allows it.
 */
export function decideClaim(f: { mac: string; networkBoot: boolean; hasOpenTask: boolean; openSession: number | null; sessions: OpenSlots[] }): ClaimDecision {
  if (f.sessions.length === 0) return { claim: false, reason: 'no clone session is waiting for machines' };
  if (!f.networkBoot) return { claim: false, reason: 'not a network boot' };
  if (f.hasOpenTask) return { claim: false, reason: `${f.mac} has an open task` };
  if (f.openSession !== null) return { claim: false, reason: `${f.mac} is already in clone session ${f.openSession}` };
  const s = f.sessions.find((x) => x.free > 0 && (x.allowed === null || x.allowed.includes(f.mac)));
  if (!s) return { claim: false, reason: `no waiting clone session takes ${f.mac} (not in its identity table)` };
  return { claim: true, sessionId: s.sessionId };
}
