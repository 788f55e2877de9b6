import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BootPlanner } from '../../server/boot-planner.js';
import { HostRegistrationLimit } from '../../server/host-registration.js';
import { openDatabase, type Db } from '../../server/state/database.js';
import { CloneSessions } from '../../server/state/clone-sessions.js';
import { EventLog } from '../../server/state/events.js';
import { HostRegistry } from '../../server/state/hosts.js';
import { TaskBoard } from '../../server/state/tasks.js';

type After = { after: (fn: () => void) => void };

/** A real SQLite database with the server's schema in a temp dir, closed and removed after the test. */
export function testDatabase(t: After): Db {
  const dir = mkdtempSync(join(tmpdir(), 'lb-state-'));
  const db = openDatabase(join(dir, 'state.sqlite'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/**
 * The server's state for a unit test: a test database, its event log, hosts, tasks and clone
 * sessions, and a BootPlanner over them with a silent logger.
 */
export function stateWorld(t: After, options: { registration?: HostRegistrationLimit } = {}) {
  const db = testDatabase(t);
  const events = new EventLog(db);
  const tasks = new TaskBoard(db, events);
  const hosts = new HostRegistry(db);
  const clones = new CloneSessions(db, tasks, hosts, events);
  const planner = new BootPlanner(hosts, tasks, events, pino({ level: 'silent' }), options.registration, clones);
  return { db, events, tasks, hosts, clones, planner };
}
