import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BootPlanner } from '../../server/boot-planner.js';
import { HostRegistrationLimit } from '../../server/host-registration.js';
import { openDatabase } from '../../server/state/database.js';
import { EventLog } from '../../server/state/events.js';
import { HostRegistry } from '../../server/state/hosts.js';
import { TaskBoard } from '../../server/state/tasks.js';

/**
 * The server's state for a unit test: a real SQLite database in a temp dir (removed after the test),
 * its event log, hosts and tasks, and a BootPlanner over them with a silent logger.
 */
export function stateWorld(t: { after: (fn: () => void) => void }, options: { registration?: HostRegistrationLimit } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lb-state-'));
  const db = openDatabase(join(dir, 'state.sqlite'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const events = new EventLog(db);
  const tasks = new TaskBoard(db, events);
  const hosts = new HostRegistry(db);
  const planner = new BootPlanner(hosts, tasks, events, pino({ level: 'silent' }), options.registration);
  return { db, events, tasks, hosts, planner };
}
