import { watch, type FSWatcher } from 'node:fs';
import { chmod, chown, lstat, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hasErrno } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { makeDirs } from '../../core/make-dirs.js';
import { INCOMING_PREFIX, VERSION_PATTERN, listVersions } from '../../images/store/image-store.js';
import { pruneStore } from '../../images/retention/prune-store.js';
import type { ImageVerifier } from '../image-verifier.js';
import type { ImageVerifications } from '../state/image-verifications.js';
import type { BackupClient, BackupClients } from '../state/backup-clients.js';
import type { EventLog } from '../state/events.js';
import { freezeVersion } from './freeze-version.js';
import { writeFileAtomic } from '../nfs/atomic-file.js';
import { BACKUP_CLIENT_FILE, type BackupClientNote } from '../../images/store/backup-note.js';

/**
 * The server's half of the backup target. A backup client publishes a version into its image's
 * store directory (its NFS export) the way every archive does, by renaming a finished incoming
 * directory into place; the intake notices it (a watch on the directory, and a rescan for when
 * the watch misses a change, as NFS-written ones can), takes it out of the client's hands, checks
 * the quota, verifies every volume, and either keeps it (then applies the client's retention: the
 * client itself cannot delete history) or moves it aside as quarantined, with the reason as an
 * event. A version stays owned by the backup uid until then, which is how a restart finds the
 * versions it had not finished with.
 */
export const QUARANTINE_PREFIX = '.quarantine-';

/**
 * Whether a version in a backup image still waits for the intake: written by the client (the
 * backup uid's), or taken over but not yet verified ok (a server stopped between the two). Such a
 * version is neither catalogued nor usable.
 */
export async function backupPending(o: { clients: Pick<BackupClients, 'forImage'>; verifications: Pick<ImageVerifications, 'get'> }, image: string, dir: string): Promise<boolean> {
  if (!o.clients.forImage(image)) return false;
  const st = await lstat(dir).catch(() => null);
  if (!st || st.uid !== 0) return true;
  return o.verifications.get(image, basename(dir))?.state !== 'ok';
}

export interface BackupIntakeOptions {
  store: string;
  clients: BackupClients;
  verifications: Pick<ImageVerifications, 'get'>;
  verifier: ImageVerifier;
  events: EventLog;
  log: Logger;
  /** The uid and gid a backup client's requests run as (the export squashes every user to them). */
  uid: number;
  gid: number;
  /** An incoming directory nothing was written to for this long is a dead client's leftover. */
  staleIncomingMs?: number;
  rescanMs?: number;
  /** Called after a version was kept or removed, so the catalog shows it without waiting. */
  onChange?: () => void;
}

export type IntakeOutcome =
  | { version: string; adopted: true; removed: string[] }
  | { version: string; adopted: false; quarantined: string; reason: string };

export class BackupIntake {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly queues = new Map<string, Promise<IntakeOutcome[]>>();
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: BackupIntakeOptions) {}

  /** The image directory as a client's export needs it: root's, writable by the backup group, sticky. */
  private async prepare(client: BackupClient): Promise<string> {
    const dir = join(this.o.store, client.image);
    await makeDirs(dir);
    await chown(dir, 0, this.o.gid);
    // Sticky: the client may add and rename its own entries but not remove or rename the server's.
    await chmod(dir, 0o1770);
    // For `lifeboat images list` on the server, which reads the store and not the database.
    await writeFileAtomic(join(dir, BACKUP_CLIENT_FILE), `${JSON.stringify({ client: client.name, address: client.address, quotaBytes: client.quotaBytes, retention: client.retention } satisfies BackupClientNote)}\n`);
    return dir;
  }

  async start(): Promise<void> {
    for (const client of this.o.clients.list()) await this.follow(client);
    this.timer = setInterval(() => void this.scanAll(), this.o.rescanMs ?? 60_000);
    this.timer.unref();
    void this.scanAll();
  }

  /** Prepares the client's directory, watches it and looks at what is already there. */
  async follow(client: BackupClient): Promise<void> {
    const dir = await this.prepare(client);
    this.watchers.get(client.image)?.close();
    try {
      const w = watch(dir, { persistent: false }, () => this.soon(client.image));
      w.on('error', (err) => this.o.log.warn({ err, image: client.image }, 'watching a backup directory failed; the rescan still finds new versions'));
      this.watchers.set(client.image, w);
    } catch (err) {
      this.o.log.warn({ err, image: client.image }, 'cannot watch a backup directory; the rescan still finds new versions');
    }
    this.soon(client.image);
  }

  async unfollow(image: string): Promise<void> {
    this.watchers.get(image)?.close();
    this.watchers.delete(image);
    await rm(join(this.o.store, image, BACKUP_CLIENT_FILE), { force: true });
  }

  private soon(image: string): void {
    clearTimeout(this.debounce.get(image));
    this.debounce.set(image, setTimeout(() => void this.scan(image), 500).unref());
  }

  private async scanAll(): Promise<void> {
    for (const client of this.o.clients.list()) await this.scan(client.image);
  }

  /** Looks at one image's directory now; scans of one image run one after another. */
  scan(image: string): Promise<IntakeOutcome[]> {
    const previous = this.queues.get(image) ?? Promise.resolve([]);
    const next = previous.catch(() => []).then(() => this.scanNow(image));
    this.queues.set(image, next);
    return next.catch((err: unknown) => {
      this.o.log.error({ err, image }, 'scanning a backup directory failed');
      return [];
    });
  }

  private async scanNow(image: string): Promise<IntakeOutcome[]> {
    const client = this.o.clients.forImage(image);
    if (this.stopped || !client) return [];
    const dir = join(this.o.store, image);
    const names = await readdir(dir).catch((e: unknown) => (hasErrno(e, 'ENOENT') ? [] : Promise.reject(e)));
    const outcomes: IntakeOutcome[] = [];
    for (const name of names.sort()) {
      if (this.stopped) break;
      if (!VERSION_PATTERN.test(name)) continue;
      if (!(await backupPending(this.o, image, join(dir, name)))) continue;
      const outcome = await this.take(client, name);
      if (outcome) outcomes.push(outcome);
    }
    if (!outcomes.some((o) => o.adopted) && names.some((n) => n.startsWith(INCOMING_PREFIX))) await this.prune(client, false);
    if (outcomes.length > 0) this.o.onChange?.();
    return outcomes;
  }

  /** Null when the server stopped before the verification ended: the next start takes it again. */
  private async take(client: BackupClient, version: string): Promise<IntakeOutcome | null> {
    const dir = join(this.o.store, client.image, version);
    const key = `${client.image}@${version}`;
    let frozen;
    try {
      if (!(await lstat(dir)).isDirectory()) return await this.quarantine(client, version, 'is not a directory');
      frozen = await freezeVersion(dir, this.o.gid);
    } catch (e) {
      return this.quarantine(client, version, `could not be taken over: ${(e as Error).message}`);
    }
    if (frozen.strange.length > 0) return this.quarantine(client, version, `holds ${frozen.strange[0]}, which is not a regular file or directory`);
    if (client.quotaBytes !== null) {
      const used = (await listVersions(this.o.store, client.image)).filter((v) => v.version !== version).reduce((n, v) => n + v.bytes, 0);
      if (used + frozen.bytes > client.quotaBytes) {
        return this.quarantine(client, version, `would bring ${client.image} to ${used + frozen.bytes} bytes, over its quota of ${client.quotaBytes} (already ${used})`);
      }
    }
    const verification = await this.o.verifier.verify({ name: client.image, version, dir });
    if (verification.state === 'running') return null;
    const first = verification.problems[0];
    if (verification.state !== 'ok') return this.quarantine(client, version, `failed verification: ${first?.path} ${first?.problem}`);
    this.o.events.record('backup.adopted', `backup client ${client.name} sent ${key} (${frozen.bytes} bytes, ${frozen.files} files): verified and kept`, {
      data: { client: client.name, image: client.image, version, bytes: frozen.bytes },
    });
    this.o.log.info({ client: client.name, image: client.image, version, bytes: frozen.bytes }, 'backup version adopted');
    return { version, adopted: true, removed: await this.prune(client, true) };
  }

  /** Moves the version where neither the catalog nor the client sees it, and says why. */
  private async quarantine(client: BackupClient, version: string, reason: string): Promise<IntakeOutcome> {
    const imageDir = join(this.o.store, client.image);
    const target = join(imageDir, `${QUARANTINE_PREFIX}${version}-${randomBytes(3).toString('hex')}`);
    await rename(join(imageDir, version), target);
    await chown(target, 0, 0).catch(() => undefined);
    await chmod(target, 0o700).catch(() => undefined);
    const message = `backup client ${client.name}: ${client.image}@${version} ${reason}; moved to ${target}, not kept`;
    this.o.events.record('backup.quarantined', message, { data: { client: client.name, image: client.image, version, reason, path: target } });
    this.o.log.warn({ client: client.name, image: client.image, version, reason, path: target }, message);
    return { version, adopted: false, quarantined: target, reason };
  }

  /**
   * Retention (after a version was kept) and the leftovers of a client killed mid-archive: its
   * incoming directory goes once nothing was written to it for staleIncomingMs.
   */
  private async prune(client: BackupClient, withRetention: boolean): Promise<string[]> {
    const actions = await pruneStore(this.o.store, {
      image: client.image,
      remoteStaleMs: this.o.staleIncomingMs ?? 3_600_000,
      ...(withRetention ? client.retention : {}),
    });
    for (const a of actions) {
      const name = a.path.split('/').pop()!;
      this.o.events.record('backup.pruned', `backup client ${client.name}: removed ${client.image}/${name}: ${a.reason}`, { data: { client: client.name, image: client.image, path: a.path, reason: a.reason } });
      this.o.log.info({ client: client.name, path: a.path, reason: a.reason }, 'backup directory pruned');
    }
    return actions.map((a) => a.path);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.debounce.values()) clearTimeout(t);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await Promise.allSettled([...this.queues.values()]);
  }
}
