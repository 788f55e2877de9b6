import { LifeboatError } from '../../core/errors.js';
import { checkImageName } from '../../images/store/image-store.js';
import { checkRetentionPolicy, type RetentionPolicy } from '../../images/retention/retention-plan.js';
import { isIpv4Cidr } from '../nfs/share-spec.js';
import type { Db } from './database.js';

/**
 * Machines allowed to send their own archives to the server (the NFS backup target): each has one
 * address (or subnet) and one image, whose store directory is exported writable to that address
 * alone. The server, not the client, keeps the history: retention and the quota are kept here.
 */
export interface BackupClient {
  name: string;
  address: string;
  image: string;
  /** Bytes the image's versions may take in all; a version past it is quarantined, not adopted. */
  quotaBytes: number | null;
  retention: RetentionPolicy;
  createdAt: number;
  /** Its NFS export's id: fixed for the client's life, so other clients' changes leave its export alone. */
  exportId: number;
}

interface Row {
  rowid: number;
  name: string;
  address: string;
  image: string;
  quota_bytes: number | null;
  retention: string;
  created_at: number;
}

const fromRow = (r: Row): BackupClient => ({
  name: r.name,
  address: r.address,
  image: r.image,
  quotaBytes: r.quota_bytes,
  retention: JSON.parse(r.retention) as RetentionPolicy,
  createdAt: r.created_at,
  exportId: 1000 + r.rowid,
});

/** One machine's export is for one machine, or at most a small subnet of them (a cluster behind one name). */
const MIN_PREFIX = 24;

/** Kept unless the operator says otherwise: a week of nightlies and a month of Sundays. */
export const DEFAULT_BACKUP_RETENTION: RetentionPolicy = { keepDaily: 7, keepWeekly: 4 };

export interface BackupClientInput {
  name: string;
  address: string;
  image?: string;
  quotaBytes?: number | null;
  retention?: RetentionPolicy;
}

export class BackupClients {
  constructor(private readonly db: Db) {}

  list(): BackupClient[] {
    return (this.db.prepare('SELECT rowid, * FROM backup_clients ORDER BY name').all() as Row[]).map(fromRow);
  }

  get(name: string): BackupClient | undefined {
    const row = this.db.prepare('SELECT rowid, * FROM backup_clients WHERE name = ?').get(name) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  forImage(image: string): BackupClient | undefined {
    const row = this.db.prepare('SELECT rowid, * FROM backup_clients WHERE image = ?').get(image) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Adds the client, or changes its address, quota or retention; its image cannot change. */
  allow(input: BackupClientInput): { client: BackupClient; created: boolean } {
    checkImageName(input.name);
    const image = checkImageName(input.image ?? input.name);
    if (!isIpv4Cidr(input.address)) {
      throw new LifeboatError('LB_INVALID', `backup client ${input.name}: '${input.address}' is not an IPv4 address or CIDR: give the machine's address (192.168.5.20)`, { address: input.address });
    }
    const bits = Number(input.address.split('/')[1] ?? 32);
    if (bits < MIN_PREFIX) {
      throw new LifeboatError('LB_INVALID', `backup client ${input.name}: ${input.address} would open its writable export to ${2 ** (32 - bits)} addresses: give the machine's own address, or a subnet of /${MIN_PREFIX} or narrower`, { address: input.address });
    }
    if (input.quotaBytes !== undefined && input.quotaBytes !== null && (!Number.isSafeInteger(input.quotaBytes) || input.quotaBytes < 1)) {
      throw new LifeboatError('LB_INVALID', `backup client ${input.name}: the quota must be a positive number of bytes`);
    }
    const retention = checkRetentionPolicy(input.retention ?? {});
    const existing = this.get(input.name);
    if (existing && existing.image !== image) {
      throw new LifeboatError('LB_CONFLICT', `backup client ${input.name} already sends image ${existing.image}: remove-backup it first to give it another image`, { image: existing.image });
    }
    const owner = this.forImage(image);
    if (owner && owner.name !== input.name) {
      throw new LifeboatError('LB_CONFLICT', `image ${image} is already the backup of client ${owner.name}: give this client its own image with --image`, { owner: owner.name });
    }
    const keep = Object.keys(retention).length > 0 ? retention : (existing?.retention ?? DEFAULT_BACKUP_RETENTION);
    const quota = input.quotaBytes === undefined ? (existing?.quotaBytes ?? null) : input.quotaBytes;
    this.db
      .prepare(`INSERT INTO backup_clients (name, address, image, quota_bytes, retention, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET address = excluded.address, quota_bytes = excluded.quota_bytes, retention = excluded.retention`)
      .run(input.name, input.address, image, quota, JSON.stringify(keep), Date.now());
    return { client: this.get(input.name)!, created: !existing };
  }

  remove(name: string): BackupClient | undefined {
    const existing = this.get(name);
    if (existing) this.db.prepare('DELETE FROM backup_clients WHERE name = ?').run(name);
    return existing;
  }
}
