import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LifeboatError } from '../../core/errors.js';
import type { FinishReport, ProgressReport, TaskKind, TaskOptions, TaskState } from '../../netboot/task-protocol.js';
import type { Db } from './database.js';
import type { EventLog } from './events.js';
import { normalizeMac } from './mac.js';

/**
 * Tasks: one-shot jobs for one machine. pending → running → done | failed | cancelled (and failed →
 * pending again when an admin re-arms it); at most one open task per host (a unique index says so);
 * when a task ends the host boots its local disk again, because the BootPlanner only sends hosts
 * with an open task to the rescue system. Every change of state is one UPDATE guarded by the states
 * it may leave, so of two concurrent calls exactly one wins and the other is told so (LB_CONFLICT).
 */
export interface Task {
  id: number;
  kind: TaskKind;
  mac: string;
  image: string | null;
  version: string | null;
  options: TaskOptions;
  state: TaskState;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  progress: ProgressReport | null;
  result: Record<string, unknown> | null;
  errorCode: string | null;
  error: string | null;
  /** The address of the boot the current token was minted for, or null when none is. */
  tokenAddress: string | null;
}

interface TaskRow {
  id: number;
  kind: TaskKind;
  mac: string;
  image: string | null;
  version: string | null;
  options: string;
  state: TaskState;
  token_hash: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  progress: string | null;
  result: string | null;
  error_code: string | null;
  error: string | null;
  token_address: string | null;
}

function fromRow(r: TaskRow): Task {
  return {
    id: r.id,
    kind: r.kind,
    mac: r.mac,
    image: r.image,
    version: r.version,
    options: JSON.parse(r.options) as TaskOptions,
    state: r.state,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    progress: r.progress ? (JSON.parse(r.progress) as ProgressReport) : null,
    result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : null,
    errorCode: r.error_code,
    error: r.error,
    tokenAddress: r.token_address,
  };
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** What one task may store through the agent's file uploads: enough for plans, logs and changed.txt. */
export const TASK_FILE_LIMITS = { count: 32, bytes: 64 << 20 };

const OPEN = "('pending', 'running')";

export class TaskBoard {
  constructor(
    private readonly db: Db,
    private readonly events: EventLog,
  ) {}

  private row(id: number): TaskRow | undefined {
    return this.db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow | undefined;
  }

  get(id: number): Task {
    const r = this.row(id);
    if (!r) throw new LifeboatError('LB_NOT_FOUND', `task ${id} does not exist`);
    return fromRow(r);
  }

  /** The refusal for a transition that lost: the task exists but is no longer in a state it may leave. */
  private conflict(id: number, wanted: string): LifeboatError {
    const t = this.get(id);
    return new LifeboatError('LB_CONFLICT', `task ${id} is ${t.state}: it cannot be ${wanted}`, { taskId: id, state: t.state });
  }

  /** Newest first; `beforeId` pages on (the tasks with smaller ids). */
  list(filter: { mac?: string; state?: TaskState; limit?: number; beforeId?: number } = {}): Task[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.mac) (where.push('mac = ?'), args.push(normalizeMac(filter.mac)));
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    if (filter.beforeId !== undefined) (where.push('id < ?'), args.push(filter.beforeId));
    args.push(filter.limit ?? 500);
    return (this.db.prepare(`SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args) as TaskRow[]).map(fromRow);
  }

  /** How many tasks are in each state now (states with none are absent). */
  countByState(): Partial<Record<TaskState, number>> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state').all() as Array<{ state: TaskState; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  openTaskFor(mac: string): Task | undefined {
    const r = this.db.prepare(`SELECT * FROM tasks WHERE mac = ? AND state IN ${OPEN}`).get(normalizeMac(mac)) as TaskRow | undefined;
    return r ? fromRow(r) : undefined;
  }

  create(input: { kind: TaskKind; mac: string; image?: string | null; version?: string | null; options?: TaskOptions }): Task {
    const mac = normalizeMac(input.mac);
    const existing = this.openTaskFor(mac);
    if (existing) throw openTaskConflict(mac, existing);
    const info = this.db
      .prepare("INSERT INTO tasks (kind, mac, image, version, options, state, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)")
      .run(input.kind, mac, input.image ?? null, input.version ?? null, JSON.stringify(input.options ?? {}), Date.now());
    const task = this.get(Number(info.lastInsertRowid));
    this.events.record('task.created', `task ${task.id}: ${task.kind}${task.image ? ` ${task.image}@${task.version}` : ''} for ${mac}`, { mac, taskId: task.id });
    return task;
  }

  /**
   * The token for the boot of a pending task about to happen, bound to that boot's address; only
   * its hash is stored. A task that is no longer pending gets none: a running task's token is never
   * replaced by a script fetch. Returns null when the task has left pending meanwhile.
   */
  mintToken(id: number, address: string): string | null {
    const token = randomBytes(24).toString('base64url');
    const r = this.db.prepare("UPDATE tasks SET token_hash = ?, token_address = ? WHERE id = ? AND state = 'pending'").run(hashToken(token), address, id);
    return r.changes === 1 ? token : null;
  }

  /**
   * The task, if `token` is its current token, the call comes from the boot it was minted for, and
   * the task is still open. Tokens minted before tokens were bound (no address) are not checked
   * for their address.
   */
  authenticate(id: number, token: string | undefined, address: string): Task {
    const r = this.row(id);
    if (!r || !token || !r.token_hash) throw new LifeboatError('LB_UNAUTHORIZED', `no valid token for task ${id}: the agent's token comes from the boot script of that task's machine`);
    const a = Buffer.from(hashToken(token), 'hex');
    const b = Buffer.from(r.token_hash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new LifeboatError('LB_UNAUTHORIZED', `the token does not belong to task ${id}`);
    if (r.token_address && r.token_address !== address) {
      throw new LifeboatError('LB_FORBIDDEN', `task ${id}'s token belongs to the boot at ${r.token_address}; this call came from ${address}`);
    }
    if (r.state !== 'pending' && r.state !== 'running') throw new LifeboatError('LB_CONFLICT', `task ${id} is ${r.state}: it accepts no more reports`);
    return fromRow(r);
  }

  /** The agent fetched its task: pending → running. Fetching it again while it runs changes nothing. */
  start(id: number): Task {
    const r = this.db.prepare("UPDATE tasks SET state = 'running', started_at = ? WHERE id = ? AND state = 'pending'").run(Date.now(), id);
    const t = this.get(id);
    if (r.changes === 1) this.events.record('task.running', `task ${id}: the rescue agent on ${t.mac} started ${t.kind}`, { mac: t.mac, taskId: id });
    else if (t.state !== 'running') throw this.conflict(id, 'started');
    return t;
  }

  progress(id: number, report: ProgressReport): void {
    const previous = this.get(id).progress?.stage;
    const r = this.db.prepare(`UPDATE tasks SET progress = ? WHERE id = ? AND state IN ${OPEN}`).run(JSON.stringify(report), id);
    if (r.changes === 0) throw this.conflict(id, 'given progress');
    const t = this.get(id);
    if (previous !== report.stage || report.message) {
      this.events.record('task.progress', `task ${id}: ${report.stage}${report.message ? `: ${report.message}` : ''}`, { mac: t.mac, taskId: id, data: report as Record<string, unknown> });
    }
  }

  // An ended task keeps its token's hash: a late call with that token is told the task ended (409)
  // rather than that its token is unknown; authenticate() refuses every call to an ended task.
  finish(id: number, report: FinishReport): Task {
    const state: TaskState = report.ok ? 'done' : 'failed';
    const r = this.db
      .prepare(`UPDATE tasks SET state = ?, ended_at = ?, result = ?, error_code = ?, error = ? WHERE id = ? AND state IN ${OPEN}`)
      .run(state, Date.now(), report.result ? JSON.stringify(report.result) : null, report.error?.code ?? null, report.error?.message ?? null, id);
    if (r.changes === 0) throw this.conflict(id, 'finished again');
    const t = this.get(id);
    this.events.record(`task.${state}`, `task ${id}: ${t.kind} ${state}${report.error ? `: ${report.error.message}` : ''}; ${t.mac} boots its local disk again`, { mac: t.mac, taskId: id, ...(report.error ? { data: report.error } : {}) });
    return t;
  }

  /**
   * The machine of a running task booted again from the task's own address: whatever the agent was
   * doing stopped. The task fails with LB_INTERRUPTED (the disk may be half written) and waits for an
   * admin to re-arm it. Returns false if the task was no longer running with that boot.
   */
  interrupt(id: number, address: string): boolean {
    const message = 'the machine booted again while the task ran';
    const r = this.db
      .prepare(`UPDATE tasks SET state = 'failed', ended_at = ?, error_code = 'LB_INTERRUPTED', error = ? WHERE id = ? AND state = 'running' AND token_address = ?`)
      .run(Date.now(), message, id, address);
    if (r.changes === 0) return false;
    const t = this.get(id);
    this.events.record('task.failed', `task ${id}: ${t.kind} failed: ${message} (from ${address}); ${t.mac} boots its local disk again; lifeboat tasks rearm ${id} runs it again`, {
      mac: t.mac,
      taskId: id,
      data: { code: 'LB_INTERRUPTED', message, address },
    });
    return true;
  }

  /**
   * An admin runs a failed task again, or frees a pending task from the boot it was bound to: back
   * to pending with no token, no bound address, and nothing of the last run (its result, error,
   * progress and files; the events keep what happened). The next boot of the machine mints a token.
   */
  rearm(id: number): Task {
    const before = this.get(id);
    let changes: number;
    try {
      changes = this.db.transaction(() => {
        const r = this.db
          .prepare("UPDATE tasks SET state = 'pending', token_hash = NULL, token_address = NULL, started_at = NULL, ended_at = NULL, progress = NULL, result = NULL, error_code = NULL, error = NULL WHERE id = ? AND state IN ('failed', 'pending')")
          .run(id);
        if (r.changes === 1) this.db.prepare('DELETE FROM task_files WHERE task_id = ?').run(id);
        return r.changes;
      })();
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw openTaskConflict(before.mac, this.openTaskFor(before.mac)!);
      throw e;
    }
    if (changes === 0) throw this.conflict(id, 're-armed (only a failed or pending task can be)');
    const t = this.get(id);
    this.events.record('task.rearmed', `task ${id}: re-armed (was ${before.state}${before.errorCode ? `, ${before.errorCode}` : ''}); it runs at ${t.mac}'s next network boot`, { mac: t.mac, taskId: id });
    return t;
  }

  cancel(id: number): Task {
    const r = this.db.prepare(`UPDATE tasks SET state = 'cancelled', ended_at = ? WHERE id = ? AND state IN ${OPEN}`).run(Date.now(), id);
    if (r.changes === 0) {
      const t = this.get(id);
      throw new LifeboatError('LB_CONFLICT', `task ${id} is already ${t.state}`, { taskId: id, state: t.state });
    }
    const t = this.get(id);
    this.events.record('task.cancelled', `task ${id}: cancelled; ${t.mac} boots its local disk again`, { mac: t.mac, taskId: id });
    return t;
  }

  /** Room left for a file `name` of task `id` (a file of the same name is replaced, so it does not count). */
  fileBudget(id: number, name: string): { files: number; bytes: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(content)), 0) AS bytes FROM task_files WHERE task_id = ? AND name <> ?').get(id, name) as { n: number; bytes: number };
    return { files: TASK_FILE_LIMITS.count - r.n, bytes: TASK_FILE_LIMITS.bytes - r.bytes };
  }

  /** Stores a file of a task within its caps, checked and written in one transaction. */
  storeFile(id: number, name: string, content: Buffer): void {
    this.db.transaction(() => {
      const room = this.fileBudget(id, name);
      checkFileFits(id, name, content.length, room);
      this.db.prepare('INSERT INTO task_files (task_id, name, content, stored_at) VALUES (?, ?, ?, ?) ON CONFLICT (task_id, name) DO UPDATE SET content = excluded.content, stored_at = excluded.stored_at').run(id, name, content, Date.now());
    }).immediate();
  }

  file(id: number, name: string): Buffer | undefined {
    const r = this.db.prepare('SELECT content FROM task_files WHERE task_id = ? AND name = ?').get(id, name) as { content: Buffer } | undefined;
    return r?.content;
  }

  files(id: number): string[] {
    return (this.db.prepare('SELECT name FROM task_files WHERE task_id = ? ORDER BY name').all(id) as Array<{ name: string }>).map((r) => r.name);
  }
}

/** The refusal of a file that would take task `id` past its caps; `bytes` may be a Content-Length announced before the body. */
export function checkFileFits(id: number, name: string, bytes: number, room: { files: number; bytes: number }): void {
  if (room.files <= 0) {
    throw new LifeboatError('LB_CONFLICT', `task ${id} already holds ${TASK_FILE_LIMITS.count} files, the most a task may store: ${name} is refused (replacing a stored name is allowed)`);
  }
  if (bytes > room.bytes) {
    throw new LifeboatError('LB_TOO_LARGE', `${name} (${bytes} bytes) does not fit: task ${id}'s files may total ${TASK_FILE_LIMITS.bytes} bytes and ${Math.max(0, room.bytes)} are left`);
  }
}

function openTaskConflict(mac: string, existing: Task): LifeboatError {
  return new LifeboatError('LB_CONFLICT', `host ${mac} already has open task ${existing.id} (${existing.kind}, ${existing.state}): cancel it first (lifeboat tasks cancel ${existing.id})`, { taskId: existing.id });
}
