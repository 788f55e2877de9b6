import { LifeboatError } from '../../../core/errors.js';
import { checkHostname } from './identity-plan.js';

/**
 * Hostname and address patterns for a set of clones: `lab-{n:02}` gives lab-01, lab-02, …;
 * `10.77.0.{n+100}` gives 10.77.0.101, …. {n} counts from 1; `+K` adds K; `:0W` pads to W digits.
 * Every refusal happens here, before any machine boots, naming the pattern and the clash.
 */
const PLACEHOLDER = /\{([^}]*)\}/g;

export function expandPattern(pattern: string, n: number): string {
  return pattern.replace(PLACEHOLDER, (whole, inner: string) => {
    const m = /^n(?:\+(\d+))?(?::0(\d))?$/.exec(inner);
    if (!m) throw new LifeboatError('LB_INVALID', `pattern "${pattern}": ${whole} is not a placeholder; use {n}, {n+K} or {n:0W} (e.g. lab-{n:02})`);
    return String(n + Number(m[1] ?? 0)).padStart(Number(m[2] ?? 0), '0');
  });
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function checkIpv4Spec(spec: string): void {
  const [address, prefix, ...rest] = spec.split('/');
  const ok = rest.length === 0 && address!.split('.').length === 4 && address!.split('.').every((o) => OCTET.test(o)) && (prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32));
  if (!ok) throw new LifeboatError('LB_INVALID', `"${spec}" is not an IPv4 address (a.b.c.d or a.b.c.d/prefix)`);
}

export interface IdentityRow {
  hostname?: string;
  ipv4?: string;
}

/** The hostname and address of clones 1…count, refused when a pattern gives a bad or repeated value. */
export function expandIdentities(count: number, patterns: { hostname?: string; ipv4?: string }): IdentityRow[] {
  const rows: IdentityRow[] = [];
  for (let n = 1; n <= count; n++) {
    const row: IdentityRow = {};
    if (patterns.hostname !== undefined) row.hostname = expandPattern(patterns.hostname, n);
    if (patterns.ipv4 !== undefined) row.ipv4 = expandPattern(patterns.ipv4, n);
    rows.push(row);
  }
  checkIdentityRows(rows, (i) => `machine ${i + 1}`);
  return rows;
}

/** Each row valid, and no hostname or address given to two machines. */
export function checkIdentityRows(rows: IdentityRow[], label: (i: number) => string): void {
  const seen = { hostname: new Map<string, number>(), ipv4: new Map<string, number>() };
  rows.forEach((row, i) => {
    try {
      if (row.hostname !== undefined) checkHostname(row.hostname);
      if (row.ipv4 !== undefined) checkIpv4Spec(row.ipv4);
    } catch (e) {
      throw new LifeboatError('LB_INVALID', `${label(i)}: ${(e as Error).message}`);
    }
    for (const key of ['hostname', 'ipv4'] as const) {
      const value = key === 'ipv4' ? row.ipv4?.split('/')[0] : row.hostname?.toLowerCase();
      if (value === undefined) continue;
      const first = seen[key].get(value);
      if (first !== undefined) throw new LifeboatError('LB_INVALID', `${label(first)} and ${label(i)} would both get ${key === 'ipv4' ? 'address' : 'hostname'} ${value}: every clone needs its own`);
      seen[key].set(value, i);
    }
  });
}
