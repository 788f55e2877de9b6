import Database from 'better-sqlite3';
import { chmodSync, closeSync, openSync } from 'node:fs';
import { hasErrno } from '../../core/errors.js';
import { dirname } from 'node:path';
import { migrateLeases } from '../dhcp/lease-store.js';
import { makeDirsSync } from '../../core/make-dirs.js';

export type Db = Database.Database;

/**
 * The server's state in one SQLite file: hosts, the images catalog, tasks, clone sessions, leases, events. WAL so
 * the API can read while DHCP writes; migrations numbered and applied once, in order, so a newer
 * server opens an older file and an older one refuses a newer file instead of misreading it.
 */
const migrations: Array<(db: Db) => void> = [
  (db) =>
    db.exec(`
      CREATE TABLE hosts (
        mac         TEXT PRIMARY KEY,
        name        TEXT,
        firmware    TEXT NOT NULL DEFAULT 'unknown',
        arch        INTEGER,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        last_seen_via TEXT,
        last_address TEXT
      );
      CREATE TABLE images (
        name        TEXT NOT NULL,
        version     TEXT NOT NULL,
        dir         TEXT NOT NULL,
        bytes       INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        summary     TEXT NOT NULL,
        PRIMARY KEY (name, version)
      );
      CREATE TABLE tasks (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL CHECK (kind IN ('nuke', 'capture', 'compare')),
        mac         TEXT NOT NULL REFERENCES hosts(mac),
        image       TEXT,
        version     TEXT,
        options     TEXT NOT NULL DEFAULT '{}',
        state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
        token_hash  TEXT,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        ended_at    INTEGER,
        progress    TEXT,
        result      TEXT,
        error_code  TEXT,
        error       TEXT
      );
      -- At most one open task per host, enforced by the database itself.
      CREATE UNIQUE INDEX tasks_one_open_per_host ON tasks (mac) WHERE state IN ('pending', 'running');
      CREATE TABLE task_files (
        task_id     INTEGER NOT NULL REFERENCES tasks(id),
        name        TEXT NOT NULL,
        content     BLOB NOT NULL,
        stored_at   INTEGER NOT NULL,
        PRIMARY KEY (task_id, name)
      );
      CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        time        INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        mac         TEXT,
        task_id     INTEGER,
        message     TEXT NOT NULL,
        data        TEXT
      );
      CREATE INDEX events_by_mac ON events (mac, id);
    `),
  (db) => migrateLeases(db),
  // The address of the boot a task token was minted for: agent calls from anywhere else are refused.
  (db) => db.exec('ALTER TABLE tasks ADD COLUMN token_address TEXT'),
  // Clone sessions (issue 13): one nuke task per machine of one image; members are the machines
  // named (--hosts) or claimed as they network-boot (--count), each with its place n in the session.
  (db) =>
    db.exec(`
      CREATE TABLE clone_sessions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        image         TEXT NOT NULL,
        version       TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
        state_reason  TEXT,
        requested     INTEGER NOT NULL,
        selection     TEXT NOT NULL CHECK (selection IN ('hosts', 'count')),
        hostname_pattern TEXT,
        ipv4_pattern  TEXT,
        identities    TEXT,
        options       TEXT NOT NULL DEFAULT '{}',
        multicast     TEXT NOT NULL CHECK (multicast IN ('auto', 'on', 'off')),
        min_receivers INTEGER,
        max_wait      INTEGER,
        created_at    INTEGER NOT NULL,
        started_at    INTEGER,
        ended_at      INTEGER
      );
      CREATE TABLE clone_members (
        session_id  INTEGER NOT NULL REFERENCES clone_sessions(id),
        n           INTEGER NOT NULL,
        mac         TEXT NOT NULL REFERENCES hosts(mac),
        task_id     INTEGER NOT NULL REFERENCES tasks(id),
        joined_at   INTEGER,
        dropped_at  INTEGER,
        PRIMARY KEY (session_id, n),
        UNIQUE (session_id, mac)
      );
      CREATE INDEX clone_members_by_mac ON clone_members (mac);
      CREATE UNIQUE INDEX clone_members_by_task ON clone_members (task_id);
    `),
  // The last full verification of each version the server ran (a task is refused while it stands
  // failed), and the disks each machine's agent last reported (a nuke that cannot fit is refused).
  (db) =>
    db.exec(`
      CREATE TABLE image_verifications (
        name        TEXT NOT NULL,
        version     TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('running', 'ok', 'failed')),
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        problems    TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (name, version)
      );
      ALTER TABLE hosts ADD COLUMN inventory TEXT;
      ALTER TABLE hosts ADD COLUMN inventory_at INTEGER;
    `),
  // Machines that send their own archives to the server: each gets one writable NFS export.
  (db) =>
    db.exec(`
      CREATE TABLE backup_clients (
        name        TEXT PRIMARY KEY,
        address     TEXT NOT NULL,
        image       TEXT NOT NULL UNIQUE,
        quota_bytes INTEGER,
        retention   TEXT NOT NULL DEFAULT '{}',
        created_at  INTEGER NOT NULL
      );
    `),
];

export function openDatabase(path: string): Db {
  if (path !== ':memory:') {
    makeDirsSync(dirname(path));
    // Tasks, leases and events are not for other users of the host: the file is 0600, created so
    // before SQLite opens it, and made so if an older Lifeboat left it 0644. SQLite gives the -wal
    // and -shm files the database file's mode.
    closeSync(openSync(path, 'a', 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        chmodSync(file, 0o600);
      } catch (e) {
        // Absent (no WAL yet), or another user's file this process may still open: left as it is.
        if (!hasErrno(e, 'ENOENT') && !hasErrno(e, 'EPERM')) throw e;
      }
    }
  }
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(`the state database is at schema version ${current}, newer than this Lifeboat knows (${migrations.length}): upgrade Lifeboat or use another --data directory`);
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      migrations[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
