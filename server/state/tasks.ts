import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LifeboatError } from '../../core/errors.js';
import type { FinishReport, ProgressReport, TaskKind, TaskOptions, TaskState } from '../../netboot/task-protocol.js';
import type { Db } from './database.js';
import type { EventLog } from './events.js';
import { normalizeMac } from './mac.js';

/**
 * Tasks: one-shot jobs for one machine. pending → running → done | failed | cancelled; at most one
 * open task per host (a unique index says so); when a task ends the host boots its local disk
 * again, because the BootPlanner only sends hosts with an open task to the rescue system.
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
  };
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

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

  list(filter: { mac?: string; state?: TaskState; limit?: number } = {}): Task[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.mac) (where.push('mac = ?'), args.push(normalizeMac(filter.mac)));
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    args.push(filter.limit ?? 500);
    return (this.db.prepare(`SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args) as TaskRow[]).map(fromRow);
  }

  openTaskFor(mac: string): Task | undefined {
    const r = this.db.prepare("SELECT * FROM tasks WHERE mac = ? AND state IN ('pending', 'running')").get(normalizeMac(mac)) as TaskRow | undefined;
    return r ? fromRow(r) : undefined;
  }

  create(input: { kind: TaskKind; mac: string; image?: string | null; version?: string | null; options?: TaskOptions }): Task {
    const mac = normalizeMac(input.mac);
    const existing = this.openTaskFor(mac);
    if (existing) {
      throw new LifeboatError('LB_CONFLICT', `host ${mac} already has open task ${existing.id} (${existing.kind}, ${existing.state}): cancel it first (lifeboat tasks cancel ${existing.id})`, { taskId: existing.id });
    }
    const info = this.db
      .prepare("INSERT INTO tasks (kind, mac, image, version, options, state, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)")
      .run(input.kind, mac, input.image ?? null, input.version ?? null, JSON.stringify(input.options ?? {}), Date.now());
    const task = this.get(Number(info.lastInsertRowid));
    this.events.record('task.created', `task ${task.id}: ${task.kind}${task.image ? ` ${task.image}@${task.version}` : ''} for ${mac}`, { mac, taskId: task.id });
    return task;
  }

  /**
   * A fresh token for the rescue boot about to happen; the previous one stops working, so a token
   * seen on an old console log or boot script is useless. Only its hash is stored.
   */
  mintToken(id: number): string {
    const token = randomBytes(24).toString('base64url');
    this.db.prepare('UPDATE tasks SET token_hash = ? WHERE id = ?').run(hashToken(token), id);
    return token;
  }

  /** The task, if `token` is its current token and it is still open. */
  authenticate(id: number, token: string | undefined): Task {
    const r = this.row(id);
    if (!r || !token || !r.token_hash) throw new LifeboatError('LB_UNAUTHORIZED', `no valid token for task ${id}`);
    const a = Buffer.from(hashToken(token), 'hex');
    const b = Buffer.from(r.token_hash, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new LifeboatError('LB_UNAUTHORIZED', `the token does not belong to task ${id}`);
    if (r.state !== 'pending' && r.state !== 'running') throw new LifeboatError('LB_CONFLICT', `task ${id} is ${r.state}: it accepts no more reports`);
    return fromRow(r);
  }

  /** The agent fetched its task: pending → running. */
  start(id: number): Task {
    const t = this.get(id);
    if (t.state === 'pending') {
      this.db.prepare("UPDATE tasks SET state = 'running', started_at = ? WHERE id = ? AND state = 'pending'").run(Date.now(), id);
      this.events.record('task.running', `task ${id}: the rescue agent on ${t.mac} started ${t.kind}`, { mac: t.mac, taskId: id });
    }
    return this.get(id);
  }

  progress(id: number, report: ProgressReport): void {
    const t = this.get(id);
    this.db.prepare('UPDATE tasks SET progress = ? WHERE id = ?').run(JSON.stringify(report), id);
    const previous = t.progress?.stage;
    if (previous !== report.stage || report.message) {
      this.events.record('task.progress', `task ${id}: ${report.stage}${report.message ? `: ${report.message}` : ''}`, { mac: t.mac, taskId: id, data: report as Record<string, unknown> });
    }
  }

  finish(id: number, report: FinishReport): Task {
    const t = this.get(id);
    const state: TaskState = report.ok ? 'done' : 'failed';
    this.db
      .prepare("UPDATE tasks SET state = ?, ended_at = ?, result = ?, error_code = ?, error = ?, token_hash = NULL WHERE id = ? AND state IN ('pending', 'running')")
      .run(state, Date.now(), report.result ? JSON.stringify(report.result) : null, report.error?.code ?? null, report.error?.message ?? null, id);
    this.events.record(`task.${state}`, `task ${id}: ${t.kind} ${state}${report.error ? `: ${report.error.message}` : ''}; ${t.mac} boots its local disk again`, { mac: t.mac, taskId: id, ...(report.error ? { data: report.error } : {}) });
    return this.get(id);
  }

  cancel(id: number): Task {
    const t = this.get(id);
    if (t.state !== 'pending' && t.state !== 'running') throw new LifeboatError('LB_CONFLICT', `task ${id} is already ${t.state}`);
    this.db.prepare("UPDATE tasks SET state = 'cancelled', ended_at = ?, token_hash = NULL WHERE id = ?").run(Date.now(), id);
    this.events.record('task.cancelled', `task ${id}: cancelled; ${t.mac} boots its local disk again`, { mac: t.mac, taskId: id });
    return this.get(id);
  }

  storeFile(id: number, name: string, content: Buffer): void {
    this.db.prepare('INSERT INTO task_files (task_id, name, content, stored_at) VALUES (?, ?, ?, ?) ON CONFLICT (task_id, name) DO UPDATE SET content = excluded.content, stored_at = excluded.stored_at').run(id, name, content, Date.now());
  }

  file(id: number, name: string): Buffer | undefined {
    const r = this.db.prepare('SELECT content FROM task_files WHERE task_id = ? AND name = ?').get(id, name) as { content: Buffer } | undefined;
    return r?.content;
  }

  files(id: number): string[] {
    return (this.db.prepare('SELECT name FROM task_files WHERE task_id = ? ORDER BY name').all(id) as Array<{ name: string }>).map((r) => r.name);
  }
}
