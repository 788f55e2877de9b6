import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { LifeboatError } from '../../core/errors.js';
import { listVersions } from '../../images/store/image-store.js';
import { inCidr } from '../ipv4.js';
import type { NfsShare } from '../nfs/nfs-share.js';
import type { NfsExport } from '../nfs/share-spec.js';
import type { BackupClient, BackupClientInput, BackupClients } from '../state/backup-clients.js';
import { QUARANTINE_PREFIX, type BackupIntake } from './backup-intake.js';

/**
 * Backup clients as the API and the NFS share see them: allowing one records it, prepares its
 * image directory and adds its export to the running NFS server; removing one withdraws the export
 * (its versions stay in the store). Each export is the image's directory, open to the client's
 * address alone, every request squashed to the backup uid.
 */
export interface BackupUsage {
  versions: number;
  bytes: number;
  quarantined: number;
}

export interface BackupServiceOptions {
  store: string;
  clients: BackupClients;
  intake: BackupIntake;
  /** The running share and the exports it serves besides the backup ones; null without NFS. */
  nfs: { share: NfsShare; server: string; baseExports: NfsExport[] } | null;
  uid: number;
  gid: number;
}

export function backupPseudo(name: string): string {
  return `/backup/${name}`;
}

/** Each backup client's export: its image's directory, for its address alone, all squashed to uid:gid. */
export function backupExports(clients: readonly BackupClient[], store: string, uid: number, gid: number): NfsExport[] {
  return clients.map((c) => ({ id: c.exportId, path: join(store, c.image), pseudo: backupPseudo(c.name), access: 'rw', squash: 'all', anonUid: uid, anonGid: gid, clients: [c.address] }));
}

export class BackupService {
  constructor(private readonly o: BackupServiceOptions) {}

  exports(): NfsExport[] {
    return [...(this.o.nfs?.baseExports ?? []), ...backupExports(this.o.clients.list(), this.o.store, this.o.uid, this.o.gid)];
  }

  private requireNfs(): NonNullable<BackupServiceOptions['nfs']> {
    if (!this.o.nfs) {
      throw new LifeboatError('LB_CONFLICT', 'this server runs no NFS share (--nfs off), so a backup client would have nothing to write to: start it with --nfs auto');
    }
    return this.o.nfs;
  }

  async allow(input: BackupClientInput): Promise<{ client: BackupClient; created: boolean }> {
    const nfs = this.requireNfs();
    const before = this.o.clients.get(input.name);
    const result = this.o.clients.allow(input);
    try {
      await this.o.intake.follow(result.client);
      await nfs.share.update(this.exports());
    } catch (e) {
      // The export could not be served: the record goes back to what it was, so list and share agree.
      if (before) {
        this.o.clients.allow({ ...before, quotaBytes: before.quotaBytes });
      } else {
        this.o.clients.remove(input.name);
        await this.o.intake.unfollow(result.client.image).catch(() => undefined);
      }
      throw e;
    }
    return result;
  }

  async remove(name: string): Promise<BackupClient> {
    const nfs = this.requireNfs();
    const removed = this.o.clients.remove(name);
    if (!removed) throw new LifeboatError('LB_NOT_FOUND', `no backup client is called ${name}: lifeboat hosts backups lists them`);
    await this.o.intake.unfollow(removed.image);
    await nfs.share.update(this.exports());
    return removed;
  }

  async usage(client: BackupClient): Promise<BackupUsage> {
    const versions = await listVersions(this.o.store, client.image);
    const names = await readdir(join(this.o.store, client.image)).catch(() => []);
    return { versions: versions.length, bytes: versions.reduce((n, v) => n + v.bytes, 0), quarantined: names.filter((n) => n.startsWith(QUARANTINE_PREFIX)).length };
  }

  async list(): Promise<Array<BackupClient & { usage: BackupUsage; export: string | null }>> {
    const out = [];
    for (const c of this.o.clients.list()) out.push({ ...c, usage: await this.usage(c), export: this.exportOf(c) });
    return out;
  }

  /** host:/path a client mounts: the pseudo path under ganesha, the directory itself under the kernel server. */
  exportOf(client: BackupClient): string | null {
    if (!this.o.nfs) return null;
    const path = this.o.nfs.share.kind === 'ganesha' ? backupPseudo(client.name) : join(this.o.store, client.image);
    return `${this.o.nfs.server}:${path}`;
  }

  /** The client a request comes from, by its address (the same rule the NFS export applies). */
  clientAt(address: string): BackupClient | undefined {
    const bare = address.replace(/^::ffff:/, '');
    return this.o.clients.list().find((c) => inCidr(c.address, bare));
  }

  forImage(image: string): BackupClient | undefined {
    return this.o.clients.forImage(image);
  }
}
