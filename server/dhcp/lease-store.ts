import type { Database } from 'better-sqlite3';
import type { Lease, LeaseState, LeaseView } from './address-plan.js';

/**
 * Leases in SQLite, one row per address. The whole table is also held in memory, because every
 * DISCOVER scans the pool; SQLite is the durable copy. Writes are staged and committed together
 * (`commit`), and the server sends its ACKs only after the commit returns: a lease is on disk
 * before the client uses it (RFC 2131 §4.3.2), and a burst of clients costs one transaction, not one
 * per client.
 */

/** Creates the `leases` table when missing. Safe to run on every start. */
export function migrateLeases(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS leases (
      address    TEXT PRIMARY KEY,
      mac        TEXT NOT NULL,
      state      TEXT NOT NULL CHECK (state IN ('bound', 'released', 'declined')),
      expires_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      hostname   TEXT
    );
    CREATE INDEX IF NOT EXISTS leases_by_mac ON leases (mac);
  `);
}

interface LeaseRow {
  address: string;
  mac: string;
  state: LeaseState;
  expires_at: number;
  updated_at: number;
  hostname: string | null;
}

/** Reads the leases table without loading a store: for tests, the CLI and the API. */
export function readLeases(db: Database): Lease[] {
  const rows = db.prepare('SELECT address, mac, state, expires_at, updated_at, hostname FROM leases').all() as LeaseRow[];
  return rows.map(rowToLease);
}

function rowToLease(r: LeaseRow): Lease {
  return { address: r.address, mac: r.mac, state: r.state, expiresAt: r.expires_at, hostname: r.hostname };
}

export class LeaseStore implements LeaseView {
  private readonly addresses = new Map<string, Lease>();
  private readonly macs = new Map<string, Lease>();
  /** address → pending offer, and mac → its offered address: both directions are looked up per packet. */
  private readonly offers = new Map<string, { mac: string; until: number }>();
  private readonly offerOfMac = new Map<string, string>();
  private readonly staged = new Map<string, Lease>();
  private readonly upsert;
  private readonly writeStaged;

  constructor(db: Database) {
    migrateLeases(db);
    const rows = db.prepare('SELECT address, mac, state, expires_at, updated_at, hostname FROM leases ORDER BY updated_at').all() as LeaseRow[];
    for (const row of rows) this.remember(rowToLease(row));
    this.upsert = db.prepare(
      `INSERT INTO leases (address, mac, state, expires_at, updated_at, hostname)
       VALUES (@address, @mac, @state, @expiresAt, @updatedAt, @hostname)
       ON CONFLICT (address) DO UPDATE SET mac = excluded.mac, state = excluded.state,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at, hostname = excluded.hostname`,
    );
    this.writeStaged = db.transaction((leases: Lease[], now: number) => {
      for (const l of leases) this.upsert.run({ ...l, updatedAt: now });
    });
  }

  private remember(lease: Lease): void {
    this.addresses.set(lease.address, lease);
    // A declined address is quarantined, not the client's: it must not come back as "its" address.
    if (lease.state !== 'declined') this.macs.set(lease.mac, lease);
    else if (this.macs.get(lease.mac)?.address === lease.address) this.macs.delete(lease.mac);
  }

  byAddress(address: string): Lease | undefined {
    return this.addresses.get(address);
  }

  byMac(mac: string): Lease | undefined {
    return this.macs.get(mac);
  }

  offeredTo(address: string): string | undefined {
    const hold = this.offers.get(address);
    if (!hold) return undefined;
    if (hold.until <= Date.now()) {
      this.dropOffer(hold.mac);
      return undefined;
    }
    return hold.mac;
  }

  /** Keeps an offered address for one client for a short while, so two clients are not offered the same one. */
  holdOffer(address: string, mac: string, seconds: number): void {
    this.dropOffer(mac);
    this.offers.set(address, { mac, until: Date.now() + seconds * 1000 });
    this.offerOfMac.set(mac, address);
    // Offers nobody asks about again would stay forever; sweep expired ones now and then.
    if (this.offers.size > 1024 && this.offers.size % 256 === 0) {
      const now = Date.now();
      for (const [a, hold] of this.offers) if (hold.until <= now) this.dropOffer(hold.mac, a);
    }
  }

  dropOffer(mac: string, address = this.offerOfMac.get(mac)): void {
    if (address === undefined) return;
    if (this.offers.get(address)?.mac === mac) this.offers.delete(address);
    if (this.offerOfMac.get(mac) === address) this.offerOfMac.delete(mac);
  }

  private stage(lease: Lease): void {
    this.remember(lease);
    this.staged.set(lease.address, lease);
  }

  bind(address: string, mac: string, expiresAt: number, hostname: string | null): Lease {
    const previous = this.macs.get(mac);
    if (previous && previous.address !== address && previous.state === 'bound') {
      this.stage({ ...previous, state: 'released' });
    }
    const lease: Lease = { address, mac, state: 'bound', expiresAt, hostname };
    this.stage(lease);
    this.dropOffer(mac);
    return lease;
  }

  /** RELEASE: the address is free again; the row stays so the client is offered the same address next time. */
  release(address: string, now: number): Lease | undefined {
    const lease = this.addresses.get(address);
    if (!lease) return undefined;
    const released: Lease = { ...lease, state: 'released', expiresAt: now };
    this.stage(released);
    return released;
  }

  /** DECLINE: someone else answers on this address; keep it out of the pool until `until`. */
  quarantine(address: string, mac: string, until: number): Lease {
    const lease: Lease = { address, mac, state: 'declined', expiresAt: until, hostname: null };
    this.stage(lease);
    this.dropOffer(mac);
    return lease;
  }

  get pendingWrites(): number {
    return this.staged.size;
  }

  /** Writes every staged change in one transaction. */
  commit(now: number): void {
    if (this.staged.size === 0) return;
    const leases = [...this.staged.values()];
    this.staged.clear();
    try {
      this.writeStaged(leases, now);
    } catch (e) {
      // Keep them staged: the caller sends no ACK for them now, and the next commit retries.
      for (const l of leases) if (!this.staged.has(l.address)) this.staged.set(l.address, l);
      throw e;
    }
  }

  all(): Lease[] {
    return [...this.addresses.values()];
  }

  /** Bound and not yet expired. */
  active(now: number): Lease[] {
    return this.all().filter((l) => l.state === 'bound' && l.expiresAt > now);
  }
}
