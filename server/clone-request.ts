import { LifeboatError } from '../core/errors.js';
import { expandPattern, type IdentityRow } from '../images/restore/identity/identity-pattern.js';
import { normalizeMac } from './state/mac.js';
import { checkTaskIdentities } from './task-identity.js';

/**
 * What a clone session asks for, checked before any task exists: which machines (named, or the
 * next N that network-boot), who each becomes (patterns over n, or a per-MAC table), and the
 * multicast wishes stored for the data path. Pure: the caller looks up open tasks and sessions.
 */
export const MAX_CLONE_MACHINES = 256;
export const MULTICAST_MODES = ['auto', 'on', 'off'] as const;
export type MulticastMode = (typeof MULTICAST_MODES)[number];

export interface CloneRequest {
  hosts?: string[];
  count?: number;
  /** Patterns over the machine's place n (1…N): `lab-{n:02}`, `10.77.0.{n+100}`. */
  hostname?: string;
  ipv4?: string;
  /** Per-MAC identities (`--identity FILE`), instead of the patterns. */
  identities?: Record<string, IdentityRow>;
  minReceivers?: number;
}

/** A request that passed: the machines named (null for --count), how many, and the table by canonical MAC. */
export interface CheckedClone {
  macs: string[] | null;
  count: number;
  identities: Record<string, IdentityRow> | null;
}

const invalid = (message: string) => new LifeboatError('LB_INVALID', message);

export function checkCloneRequest(req: CloneRequest, testbedSubnet: string | null): CheckedClone {
  if (req.hosts !== undefined && req.count !== undefined) throw invalid('give --hosts or --count, not both: --hosts names the machines, --count takes the next N that network-boot');
  if (req.hosts === undefined && req.count === undefined) throw invalid('give --hosts MAC,MAC,… (these machines) or --count N (the next N machines that network-boot with no task)');
  if (req.identities !== undefined && (req.hostname !== undefined || req.ipv4 !== undefined)) {
    throw invalid('give --identity FILE or --hostname/--ip patterns, not both: the table names each machine\'s identity itself');
  }
  let macs: string[] | null = null;
  if (req.hosts !== undefined) {
    if (req.hosts.length === 0) throw invalid('--hosts names no machine');
    macs = req.hosts.map((m) => normalizeMac(m));
    const dup = macs.find((m, i) => macs!.indexOf(m) !== i);
    if (dup) throw invalid(`--hosts names ${dup} twice: each machine is cloned once`);
  }
  const count = macs ? macs.length : req.count!;
  if (!Number.isInteger(count) || count < 1 || count > MAX_CLONE_MACHINES) throw invalid(`a clone session takes 1 to ${MAX_CLONE_MACHINES} machines, not ${count}`);
  if (req.minReceivers !== undefined && req.minReceivers > count) throw invalid(`--min-receivers ${req.minReceivers} is more than the ${count} machines of the session: it would never start`);

  let identities: Record<string, IdentityRow> | null = null;
  if (req.identities !== undefined) {
    identities = {};
    for (const [mac, row] of Object.entries(req.identities)) {
      const m = normalizeMac(mac);
      if (identities[m]) throw invalid(`the identity table names ${m} twice`);
      identities[m] = row;
    }
    const entries = Object.entries(identities);
    checkTaskIdentities(entries.map(([, row]) => row), (i) => `identity table, ${entries[i]![0]}`, testbedSubnet);
    if (macs) {
      const missing = macs.filter((m) => !identities![m]);
      if (missing.length) throw invalid(`the identity table has no entry for ${missing.join(', ')}: every machine of --hosts needs its row`);
    } else if (entries.length < count) {
      throw invalid(`--count ${count} with an identity table of ${entries.length} machines: only machines in the table are claimed, so at most ${entries.length} could join`);
    }
  } else if (req.hostname !== undefined || req.ipv4 !== undefined) {
    const rows = Array.from({ length: count }, (_, i) => patternIdentity(req, i + 1));
    checkTaskIdentities(rows, (i) => `machine ${i + 1}${macs ? ` (${macs[i]})` : ''}`, testbedSubnet);
  }
  return { macs, count, identities };
}

/** The identity of the machine at place n: its table row, or the patterns expanded for n, or none. */
export function cloneIdentity(session: { hostnamePattern: string | null; ipv4Pattern: string | null; identities: Record<string, IdentityRow> | null }, mac: string, n: number): IdentityRow | undefined {
  if (session.identities) return session.identities[mac];
  const row = patternIdentity({ ...(session.hostnamePattern !== null ? { hostname: session.hostnamePattern } : {}), ...(session.ipv4Pattern !== null ? { ipv4: session.ipv4Pattern } : {}) }, n);
  return Object.keys(row).length ? row : undefined;
}

function patternIdentity(patterns: { hostname?: string; ipv4?: string }, n: number): IdentityRow {
  return {
    ...(patterns.hostname !== undefined ? { hostname: expandPattern(patterns.hostname, n) } : {}),
    ...(patterns.ipv4 !== undefined ? { ipv4: expandPattern(patterns.ipv4, n) } : {}),
  };
}

/**
 * `--identity FILE`: a JSON object from MAC to identity, `{"52:54:00:00:00:01": {"hostname":
 * "lab-a", "ipv4": "10.77.0.11"}, …}`; either field may be left out. Read here, checked again by
 * the server (checkCloneRequest) against the session.
 */
export function parseIdentityTable(text: string, source: string): Record<string, IdentityRow> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalid(`${source} is not JSON (${(e as Error).message}): the identity table is {"MAC": {"hostname": "…", "ipv4": "…"}, …}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${source}: the identity table is a JSON object from MAC to {"hostname", "ipv4"}`);
  const table: Record<string, IdentityRow> = {};
  for (const [key, row] of Object.entries(value)) {
    let mac: string;
    try {
      mac = normalizeMac(key);
    } catch {
      throw invalid(`${source}: key "${key}" is not a MAC address (e.g. 52:54:00:12:34:56)`);
    }
    if (table[mac]) throw invalid(`${source}: ${mac} is given twice`);
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw invalid(`${source}: the entry of ${mac} is not an object with hostname and/or ipv4`);
    const extra = Object.keys(row).filter((k) => k !== 'hostname' && k !== 'ipv4');
    if (extra.length) throw invalid(`${source}: the entry of ${mac} has ${extra.join(', ')}; only hostname and ipv4 are read`);
    const r = row as Record<string, unknown>;
    for (const k of ['hostname', 'ipv4'] as const) if (r[k] !== undefined && typeof r[k] !== 'string') throw invalid(`${source}: ${mac}'s ${k} is not a string`);
    if (r.hostname === undefined && r.ipv4 === undefined) throw invalid(`${source}: the entry of ${mac} gives neither hostname nor ipv4`);
    table[mac] = { ...(r.hostname !== undefined ? { hostname: r.hostname as string } : {}), ...(r.ipv4 !== undefined ? { ipv4: r.ipv4 as string } : {}) };
  }
  if (Object.keys(table).length === 0) throw invalid(`${source}: the identity table names no machine`);
  return table;
}
