import { LifeboatError } from '../../core/errors.js';
import type { IdentityRow } from '../../images/restore/identity/identity-pattern.js';
import type { TaskOptions, TaskState } from '../../netboot/task-protocol.js';
import { cloneSessionState, decideClaim, type ClaimDecision, type CloneState, type MemberFacts } from '../clone-decision.js';
import { cloneIdentity, type MulticastMode } from '../clone-request.js';
import type { Db } from './database.js';
import type { EventLog, ServerEvent } from './events.js';
import type { HostRegistry } from './hosts.js';
import { normalizeMac } from './mac.js';
import type { ProgressReport } from '../../netboot/task-protocol.js';
import type { Task, TaskBoard } from './tasks.js';

/**
 * Clone sessions: one image onto many machines, one nuke task per machine, each with its own
 * identity and a marker (options.clone) naming its session and place. The session's state is
 * recomputed from its members' tasks whenever one of them changes (the event feed says when), and
 * stored with the reason, so a list needs no joins and `show` says why it is where it is.
 */
/** What a session is asked to do, as created and as stored. */
interface CloneSettings {
  image: string;
  version: string;
  hostnamePattern: string | null;
  ipv4Pattern: string | null;
  identities: Record<string, IdentityRow> | null;
  /** The nuke options every member's task gets (policy, dry run, reboot). */
  options: TaskOptions;
  multicast: MulticastMode;
  minReceivers: number | null;
  maxWait: number | null;
}

export interface CloneSession extends CloneSettings {
  id: number;
  state: CloneState;
  stateReason: string | null;
  requested: number;
  selection: 'hosts' | 'count';
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

export interface CloneMember {
  n: number;
  mac: string;
  taskId: number;
  taskState: TaskState;
  progress: ProgressReport | null;
  error: string | null;
  identity: IdentityRow | null;
  joinedAt: number | null;
  droppedAt: number | null;
}

interface SessionRow {
  id: number;
  image: string;
  version: string;
  state: CloneState;
  state_reason: string | null;
  requested: number;
  selection: 'hosts' | 'count';
  hostname_pattern: string | null;
  ipv4_pattern: string | null;
  identities: string | null;
  options: string;
  multicast: MulticastMode;
  min_receivers: number | null;
  max_wait: number | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
}

function fromRow(r: SessionRow): CloneSession {
  return {
    id: r.id,
    image: r.image,
    version: r.version,
    state: r.state,
    stateReason: r.state_reason,
    requested: r.requested,
    selection: r.selection,
    hostnamePattern: r.hostname_pattern,
    ipv4Pattern: r.ipv4_pattern,
    identities: r.identities ? (JSON.parse(r.identities) as Record<string, IdentityRow>) : null,
    options: JSON.parse(r.options) as TaskOptions,
    multicast: r.multicast,
    minReceivers: r.min_receivers,
    maxWait: r.max_wait,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

export interface NewCloneSession extends CloneSettings {
  /** The machines (--hosts), or null for --count. */
  macs: string[] | null;
  count: number;
}

const OPEN = "('pending', 'running')";

export class CloneSessions {
  constructor(
    private readonly db: Db,
    private readonly tasks: TaskBoard,
    private readonly hosts: HostRegistry,
    private readonly events: EventLog,
  ) {
    // A member's task changed: the session's state may have too.
    events.follow((e) => this.onTaskEvent(e));
  }

  private row(id: number): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM clone_sessions WHERE id = ?').get(id) as SessionRow | undefined;
  }

  get(id: number): CloneSession {
    const r = this.row(id);
    if (!r) throw new LifeboatError('LB_NOT_FOUND', `clone session ${id} does not exist`);
    return fromRow(r);
  }

  /** Newest first; `beforeId` pages on. */
  list(filter: { state?: CloneState; beforeId?: number; limit?: number } = {}): CloneSession[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    if (filter.beforeId !== undefined) (where.push('id < ?'), args.push(filter.beforeId));
    args.push(filter.limit ?? 500);
    return (this.db.prepare(`SELECT * FROM clone_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args) as SessionRow[]).map(fromRow);
  }

  members(id: number): CloneMember[] {
    const rows = this.db
      .prepare('SELECT m.n, m.mac, m.task_id, m.joined_at, m.dropped_at, t.state, t.progress, t.error, t.options FROM clone_members m JOIN tasks t ON t.id = m.task_id WHERE m.session_id = ? ORDER BY m.n')
      .all(id) as Array<{ n: number; mac: string; task_id: number; joined_at: number | null; dropped_at: number | null; state: TaskState; progress: string | null; error: string | null; options: string }>;
    return rows.map((r) => ({
      n: r.n,
      mac: r.mac,
      taskId: r.task_id,
      taskState: r.state,
      progress: r.progress ? (JSON.parse(r.progress) as ProgressReport) : null,
      error: r.error,
      identity: (JSON.parse(r.options) as TaskOptions).identity ?? null,
      joinedAt: r.joined_at,
      droppedAt: r.dropped_at,
    }));
  }

  /** The open session `mac` is a member of, if any. */
  openSessionOf(mac: string): number | null {
    const r = this.db.prepare(`SELECT s.id FROM clone_members m JOIN clone_sessions s ON s.id = m.session_id WHERE m.mac = ? AND s.state IN ${OPEN} LIMIT 1`).get(normalizeMac(mac)) as { id: number } | undefined;
    return r?.id ?? null;
  }

  /**
   * A new session. For --hosts every machine's task is created at once, in the order given; for
   * --count the tasks come as machines boot (claim). A machine with an open task or in another
   * open session is refused before anything is written; all or nothing is written.
   */
  create(input: NewCloneSession): CloneSession {
    for (const mac of input.macs ?? []) {
      const task = this.tasks.openTaskFor(mac);
      if (task) throw new LifeboatError('LB_CONFLICT', `${mac} already has open task ${task.id} (${task.kind}, ${task.state}): cancel it first (lifeboat tasks cancel ${task.id})`, { taskId: task.id });
      const other = this.openSessionOf(mac);
      if (other !== null) throw new LifeboatError('LB_CONFLICT', `${mac} is already in open clone session ${other}: cancel it first (lifeboat clones cancel ${other})`);
    }
    const id = this.db.transaction(() => {
      const info = this.db
        .prepare(
          `INSERT INTO clone_sessions (image, version, state, requested, selection, hostname_pattern, ipv4_pattern, identities, options, multicast, min_receivers, max_wait, created_at)
           VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(input.image, input.version, input.count, input.macs ? 'hosts' : 'count', input.hostnamePattern, input.ipv4Pattern, input.identities ? JSON.stringify(input.identities) : null, JSON.stringify(input.options), input.multicast, input.minReceivers, input.maxWait, Date.now());
      const sessionId = Number(info.lastInsertRowid);
      const session = this.get(sessionId);
      input.macs?.forEach((mac, i) => this.addMember(session, mac, i + 1, null));
      return sessionId;
    })();
    const s = this.get(id);
    const who = input.macs ? input.macs.join(', ') : `the next ${input.count} machines that network-boot with no task`;
    this.events.record('clone.created', `clone session ${id}: ${s.image}@${s.version} onto ${who}`, { data: { session: id, requested: s.requested, selection: s.selection } });
    return this.refresh(id);
  }

  private addMember(session: CloneSession, mac: string, n: number, joinedAt: number | null): Task {
    this.hosts.ensure(mac);
    const identity = cloneIdentity(session, mac, n);
    // The session's hook (options.identity.hook) stays beside the machine's own name and address.
    const merged = { ...session.options.identity, ...identity };
    const options: TaskOptions = { ...session.options, ...(Object.keys(merged).length ? { identity: merged } : {}), clone: { session: session.id, n } };
    const task = this.tasks.create({ kind: 'nuke', mac, image: session.image, version: session.version, options });
    this.db.prepare('INSERT INTO clone_members (session_id, n, mac, task_id, joined_at) VALUES (?, ?, ?, ?, ?)').run(session.id, n, mac, task.id, joinedAt);
    return task;
  }

  /** What a network boot of `mac` would claim now: the pure decision over the current facts. */
  claimDecision(mac: string, networkBoot: boolean): ClaimDecision {
    const waiting = this.db
      .prepare(`SELECT s.id, s.requested, s.identities, (SELECT COUNT(*) FROM clone_members m WHERE m.session_id = s.id) AS members FROM clone_sessions s WHERE s.selection = 'count' AND s.state IN ${OPEN} ORDER BY s.id`)
      .all() as Array<{ id: number; requested: number; identities: string | null; members: number }>;
    if (waiting.length === 0) return { claim: false, reason: 'no clone session is waiting for machines' };
    return decideClaim({
      mac,
      networkBoot,
      hasOpenTask: this.tasks.openTaskFor(mac) !== undefined,
      openSession: this.openSessionOf(mac),
      sessions: waiting.map((w) => ({ sessionId: w.id, free: w.requested - w.members, allowed: w.identities ? Object.keys(JSON.parse(w.identities) as object) : null })),
    });
  }

  /**
   * A machine network-boots: if a --count session takes it, it is registered, gets its nuke task
   * (pending, so this very boot goes to the rescue system) and joins at the next place. Decided
   * and written in one immediate transaction, so two machines never take the same place.
   */
  claim(mac: string, networkBoot: boolean): Task | null {
    const m = normalizeMac(mac);
    const claimed = this.db.transaction(() => {
      const decision = this.claimDecision(m, networkBoot);
      if (!decision.claim) return null;
      const session = this.get(decision.sessionId);
      const n = (this.db.prepare('SELECT COUNT(*) AS k FROM clone_members WHERE session_id = ?').get(session.id) as { k: number }).k + 1;
      return { session, n, task: this.addMember(session, m, n, Date.now()) };
    }).immediate();
    if (!claimed) return null;
    const { session, n, task } = claimed;
    this.events.record('clone.joined', `clone session ${session.id}: ${m} claimed as machine ${n} of ${session.requested} (task ${task.id})`, { mac: m, taskId: task.id, data: { session: session.id, n, via: 'claim' } });
    this.refresh(session.id);
    return task;
  }

  /** Cancels the session: its open tasks are cancelled and its unclaimed places are given up. */
  cancel(id: number): CloneSession {
    const r = this.db.prepare(`UPDATE clone_sessions SET state = 'cancelled', state_reason = 'cancelled by the operator', ended_at = ? WHERE id = ? AND state IN ${OPEN}`).run(Date.now(), id);
    if (r.changes === 0) throw new LifeboatError('LB_CONFLICT', `clone session ${id} is already ${this.get(id).state}`);
    const cancelled: number[] = [];
    for (const m of this.members(id)) {
      if (m.taskState !== 'pending' && m.taskState !== 'running') continue;
      try {
        this.tasks.cancel(m.taskId);
        cancelled.push(m.taskId);
      } catch (e) {
        // The task ended between the read and the cancel: nothing left to stop.
        if ((e as LifeboatError).code !== 'LB_CONFLICT') throw e;
      }
    }
    const s = this.get(id);
    this.events.record('clone.cancelled', `clone session ${id}: cancelled${cancelled.length ? `; tasks ${cancelled.join(', ')} cancelled` : ''}${s.selection === 'count' ? `; ${s.requested - this.members(id).length} unclaimed places given up` : ''}`, { data: { session: id, tasks: cancelled } });
    return s;
  }

  /** Recomputes and stores the session's state; records clone.done / clone.failed when it ends. */
  refresh(id: number): CloneSession {
    const before = this.get(id);
    if (before.state === 'cancelled' || before.state === 'done') return before;
    const members: MemberFacts[] = this.members(id).map((m) => ({ n: m.n, mac: m.mac, taskId: m.taskId, taskState: m.taskState }));
    const { state, reason } = cloneSessionState({ requested: before.requested, cancelled: false, members });
    const now = Date.now();
    const ended = state === 'done' || state === 'failed';
    this.db
      .prepare('UPDATE clone_sessions SET state = ?, state_reason = ?, started_at = COALESCE(started_at, ?), ended_at = ? WHERE id = ?')
      .run(state, reason, state === 'pending' ? null : now, ended ? (before.endedAt ?? now) : null, id);
    if (ended && before.state !== state) this.events.record(`clone.${state}`, `clone session ${id}: ${state}: ${reason}`, { data: { session: id } });
    return this.get(id);
  }

  private memberOfTask(taskId: number): { session_id: number; n: number; mac: string; joined_at: number | null } | undefined {
    return this.db.prepare('SELECT session_id, n, mac, joined_at FROM clone_members WHERE task_id = ?').get(taskId) as { session_id: number; n: number; mac: string; joined_at: number | null } | undefined;
  }

  private onTaskEvent(e: ServerEvent): void {
    if (e.taskId === null || !e.kind.startsWith('task.') || e.kind === 'task.created' || e.kind === 'task.progress') return;
    try {
      this.followTask(e, e.taskId);
    } catch (err) {
      // The task's own change is already made: a failure here must not undo it or fail its caller.
      this.events.record('clone.error', `clone sessions: following ${e.kind} of task ${e.taskId} failed: ${(err as Error).message}`, { taskId: e.taskId });
    }
  }

  private followTask(e: ServerEvent, taskId: number): void {
    const m = this.memberOfTask(taskId);
    if (!m) return;
    const session = m.session_id;
    if (e.kind === 'task.running') {
      // A named machine (--hosts) joins when its agent starts; a claimed one joined at its claim.
      if (m.joined_at === null) {
        this.db.prepare('UPDATE clone_members SET joined_at = ? WHERE task_id = ?').run(Date.now(), taskId);
        this.events.record('clone.joined', `clone session ${session}: ${m.mac} (machine ${m.n}) joined: its agent started`, { mac: m.mac, taskId, data: { session, n: m.n, via: 'start' } });
      }
      this.events.record('clone.started', `clone session ${session}: ${m.mac} (machine ${m.n}) started its task ${taskId}`, { mac: m.mac, taskId, data: { session, n: m.n } });
    } else if (e.kind === 'task.failed' || e.kind === 'task.cancelled') {
      this.db.prepare('UPDATE clone_members SET dropped_at = ? WHERE task_id = ?').run(Date.now(), e.taskId);
      this.events.record('clone.dropped', `clone session ${session}: ${m.mac} (machine ${m.n}) dropped out: task ${e.taskId} ${e.kind.slice(5)}`, { mac: m.mac, taskId: e.taskId, data: { session, n: m.n } });
    } else if (e.kind === 'task.rearmed') {
      this.db.prepare('UPDATE clone_members SET dropped_at = NULL WHERE task_id = ?').run(e.taskId);
    }
    this.refresh(session);
  }
}
