import type { Inventory } from '../../netboot/task-protocol.js';
import type { Db } from './database.js';
import { normalizeMac } from './mac.js';

export interface Host {
  mac: string;
  name: string | null;
  firmware: string;
  arch: number | null;
  firstSeen: number;
  lastSeen: number;
  lastSeenVia: string | null;
  lastAddress: string | null;
  /** The disks and firmware its agent last reported, and when (null: no agent has run on it yet). */
  inventory: (Inventory & { reportedAt: number }) | null;
}

interface HostRow {
  mac: string;
  name: string | null;
  firmware: string;
  arch: number | null;
  first_seen: number;
  last_seen: number;
  last_seen_via: string | null;
  last_address: string | null;
  inventory: string | null;
  inventory_at: number | null;
}

function fromRow(r: HostRow): Host {
  const inventory = r.inventory && r.inventory_at !== null ? { ...(JSON.parse(r.inventory) as Inventory), reportedAt: r.inventory_at } : null;
  return { mac: r.mac, name: r.name, firmware: r.firmware, arch: r.arch, firstSeen: r.first_seen, lastSeen: r.last_seen, lastSeenVia: r.last_seen_via, lastAddress: r.last_address, inventory };
}

/** Machines the server has seen or been told about; unknown machines are registered on first sight. */
export class HostRegistry {
  private readonly upsertSeen;

  constructor(private readonly db: Db) {
    this.upsertSeen = db.prepare(`
      INSERT INTO hosts (mac, firmware, arch, first_seen, last_seen, last_seen_via, last_address)
      VALUES (@mac, @firmware, @arch, @now, @now, @via, @address)
      ON CONFLICT (mac) DO UPDATE SET
        firmware = CASE WHEN excluded.firmware = 'unknown' THEN hosts.firmware ELSE excluded.firmware END,
        arch = COALESCE(excluded.arch, hosts.arch),
        last_seen = excluded.last_seen,
        last_seen_via = excluded.last_seen_via,
        last_address = COALESCE(excluded.last_address, hosts.last_address)
      RETURNING (first_seen = last_seen) AS is_new`);
  }

  /** Records a sighting; returns whether the host is new. */
  seen(input: { mac: string; firmware?: string; arch?: number | null; via: string; address?: string | null }): boolean {
    const row = this.upsertSeen.get({
      mac: normalizeMac(input.mac),
      firmware: input.firmware ?? 'unknown',
      arch: input.arch ?? null,
      now: Date.now(),
      via: input.via,
      address: input.address ?? null,
    }) as { is_new: number };
    return row.is_new === 1;
  }

  /** Marks a known host seen; an unknown MAC is not added (HTTP requests cost no rows). */
  touch(mac: string, via: string, address: string | null): boolean {
    const r = this.db.prepare('UPDATE hosts SET last_seen = ?, last_seen_via = ?, last_address = COALESCE(?, last_address) WHERE mac = ?').run(Date.now(), via, address, normalizeMac(mac));
    return r.changes === 1;
  }

  /** Adds a host by hand (so a task can be created before it ever boots), or renames it. */
  ensure(mac: string, name?: string): Host {
    const m = normalizeMac(mac);
    const now = Date.now();
    this.db.prepare('INSERT INTO hosts (mac, name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT (mac) DO NOTHING').run(m, name ?? null, now, now);
    if (name !== undefined) this.db.prepare('UPDATE hosts SET name = ? WHERE mac = ?').run(name, m);
    return this.get(m)!;
  }

  /** The agent's report replaces the last one whole: a disk removed since is gone from it. */
  recordInventory(mac: string, inventory: Inventory): void {
    this.db.prepare('UPDATE hosts SET inventory = ?, inventory_at = ? WHERE mac = ?').run(JSON.stringify({ firmware: inventory.firmware, disks: inventory.disks }), Date.now(), normalizeMac(mac));
  }

  get(mac: string): Host | undefined {
    const row = this.db.prepare('SELECT * FROM hosts WHERE mac = ?').get(normalizeMac(mac)) as HostRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Most recently seen first; `offset` and `limit` page through them. */
  list(page: { limit?: number; offset?: number } = {}): Host[] {
    return (this.db.prepare('SELECT * FROM hosts ORDER BY last_seen DESC, mac LIMIT ? OFFSET ?').all(page.limit ?? -1, page.offset ?? 0) as HostRow[]).map(fromRow);
  }

  /** Hosts never named and never given a task: the ones a flood of made-up MACs would add. */
  unknownCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM hosts h WHERE h.name IS NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.mac = h.mac)').get() as { n: number }).n;
  }
}
