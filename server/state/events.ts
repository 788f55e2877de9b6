import { EventEmitter } from 'node:events';
import type { Db } from './database.js';

/**
 * The event log: what happened to which machine and task, in the database (the API lists it) and
 * as a live feed (the API streams it as server-sent events).
 */
export interface ServerEvent {
  id: number;
  time: number;
  kind: string;
  mac: string | null;
  taskId: number | null;
  message: string;
  data: Record<string, unknown> | null;
}

interface EventRow {
  id: number;
  time: number;
  kind: string;
  mac: string | null;
  task_id: number | null;
  message: string;
  data: string | null;
}

function fromRow(r: EventRow): ServerEvent {
  return { id: r.id, time: r.time, kind: r.kind, mac: r.mac, taskId: r.task_id, message: r.message, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null };
}

export class EventLog {
  private readonly feed = new EventEmitter();
  private readonly insert;

  constructor(private readonly db: Db) {
    this.feed.setMaxListeners(1000);
    this.insert = db.prepare('INSERT INTO events (time, kind, mac, task_id, message, data) VALUES (?, ?, ?, ?, ?, ?)');
  }

  record(kind: string, message: string, context: { mac?: string | null; taskId?: number | null; data?: Record<string, unknown> } = {}): ServerEvent {
    const time = Date.now();
    const info = this.insert.run(time, kind, context.mac ?? null, context.taskId ?? null, message, context.data ? JSON.stringify(context.data) : null);
    const event: ServerEvent = { id: Number(info.lastInsertRowid), time, kind, mac: context.mac ?? null, taskId: context.taskId ?? null, message, data: context.data ?? null };
    this.feed.emit('event', event);
    for (const follower of this.followers) follower(event);
    return event;
  }

  private readonly followers: Array<(e: ServerEvent) => void> = [];

  /**
   * Like subscribe, but called after every subscriber got the event: for state kept from other
   * events (clone sessions follow their tasks), whose own events must reach the live feed after the
   * event they follow, not before it.
   */
  follow(listener: (e: ServerEvent) => void): void {
    this.followers.push(listener);
  }

  /**
   * Events in the order they happened. With `afterId`: the first `limit` after it (paging forward,
   * as a client that follows the log does); otherwise the last `limit` before `beforeId`, or the
   * newest `limit` (paging back).
   */
  list(filter: { mac?: string; taskId?: number; afterId?: number; beforeId?: number; limit?: number } = {}): ServerEvent[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.mac) (where.push('mac = ?'), args.push(filter.mac));
    if (filter.taskId !== undefined) (where.push('task_id = ?'), args.push(filter.taskId));
    if (filter.afterId !== undefined) (where.push('id > ?'), args.push(filter.afterId));
    if (filter.beforeId !== undefined) (where.push('id < ?'), args.push(filter.beforeId));
    const forward = filter.afterId !== undefined;
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${forward ? 'ASC' : 'DESC'} LIMIT ?`;
    args.push(filter.limit ?? 200);
    const rows = (this.db.prepare(sql).all(...args) as EventRow[]).map(fromRow);
    return forward ? rows : rows.reverse();
  }

  /**
   * Retention: removes events older than `keepDays` and all but the newest `keepRows`. Returns how
   * many were removed. Ids only grow, so "older" and "before the newest N" are both an id bound.
   */
  prune(keep: { keepDays: number; keepRows: number }, now = Date.now()): number {
    const byAge = this.db.prepare('DELETE FROM events WHERE time < ?').run(now - keep.keepDays * 86_400_000).changes;
    const byCount = this.db.prepare('DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)').run(keep.keepRows).changes;
    return byAge + byCount;
  }

  subscribe(listener: (e: ServerEvent) => void): () => void {
    this.feed.on('event', listener);
    return () => this.feed.off('event', listener);
  }
}
