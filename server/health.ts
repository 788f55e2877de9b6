import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import type { Db } from './state/database.js';

/**
 * Whether the server is serving: its database answers and its store can be read. What /healthz
 * answers (a container HEALTHCHECK, a systemd watchdog script, a load balancer); each failure says
 * what is wrong and where to look, since nobody reads a health check's stack trace.
 */
export interface HealthReport {
  ok: boolean;
  store: string;
  database: string;
  /** Why not, when not ok. */
  reason?: string;
}

export async function checkHealth(facts: { db: Db; store: string }): Promise<HealthReport> {
  const problems: string[] = [];
  let database = 'open';
  try {
    if (!facts.db.open) throw new Error('the connection is closed');
    facts.db.prepare('SELECT 1').get();
  } catch (e) {
    database = 'unavailable';
    problems.push(`the database cannot be read: ${(e as Error).message}`);
  }
  let store = 'readable';
  try {
    await access(facts.store, constants.R_OK | constants.X_OK);
    await readdir(facts.store);
  } catch (e) {
    store = 'unreadable';
    problems.push(`the store ${facts.store} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): check that it exists and that its filesystem is mounted`);
  }
  return { ok: problems.length === 0, store, database, ...(problems.length ? { reason: problems.join('; ') } : {}) };
}
