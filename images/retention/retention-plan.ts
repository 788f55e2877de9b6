import { LifeboatError } from '../../core/errors.js';

/**
 * Which versions of an image a retention policy keeps: a pure function of the versions' times and
 * dependencies, so the rules can be read and tested on any history. The rules are the ones
 * restic and borg made familiar, each counted from the newest version back:
 *   last N     the newest N versions;
 *   daily N    the newest version of each of the N most recent days that have one;
 *   weekly N   the same per ISO week (Monday to Sunday), monthly N per calendar month.
 * Days, weeks and months are UTC, as version names are. On top of the rules, two guarantees:
 * the protected version (prune passes the newest one that verifies) is kept, and every version a
 * kept incremental version builds on is kept with it.
 */
export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface RetentionCandidate {
  version: string;
  createdAt: Date;
  /** Versions this one builds on (an incremental chain); null when its manifest cannot be read. */
  dependsOn: string[] | null;
}

export interface RetentionDecision {
  version: string;
  keep: boolean;
  /** Why it is kept ("daily 2/7 (2026-11-26)", "base of 20261127T020000Z"); empty when removed. */
  reasons: string[];
}

const RULES = [
  ['keepLast', 'last'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
] as const;

export function hasRetentionRules(policy: RetentionPolicy): boolean {
  return RULES.some(([key]) => policy[key] !== undefined);
}

/** "--keep-daily 7 --keep-weekly 4", as the operator would type it. */
export function describePolicy(policy: RetentionPolicy): string {
  return RULES.filter(([key]) => policy[key] !== undefined).map(([key, name]) => `--keep${name === 'last' ? '' : `-${name}`} ${policy[key]}`).join(' ');
}

export function checkRetentionPolicy(policy: RetentionPolicy): RetentionPolicy {
  for (const [key, name] of RULES) {
    const n = policy[key];
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
      throw new LifeboatError('LB_USAGE', `--keep${name === 'last' ? '' : `-${name}`} ${n} must be a whole number of 1 or more: retention never keeps nothing`);
    }
  }
  return policy;
}

/** "2026-W48": the ISO 8601 week, whose year is the year of its Thursday. */
export function isoWeek(d: Date): string {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = (day.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  day.setUTCDate(day.getUTCDate() - weekday + 3); // that week's Thursday
  const year = day.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  firstThursday.setUTCDate(firstThursday.getUTCDate() - ((firstThursday.getUTCDay() + 6) % 7) + 3);
  const week = 1 + Math.round((day.getTime() - firstThursday.getTime()) / (7 * 86_400_000));
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const bucketOf: Record<'last' | 'daily' | 'weekly' | 'monthly', (d: Date, version: string) => string> = {
  last: (_d, version) => version,
  daily: (d) => d.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (d) => d.toISOString().slice(0, 7),
};

/** Decisions newest first. */
export function planRetention(candidates: RetentionCandidate[], policy: RetentionPolicy, options: { protect?: string } = {}): RetentionDecision[] {
  checkRetentionPolicy(policy);
  const newestFirst = [...candidates].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.version < b.version ? 1 : a.version > b.version ? -1 : 0));
  const reasons = new Map<string, string[]>(newestFirst.map((c) => [c.version, []]));
  const keep = (version: string, why: string) => reasons.get(version)?.push(why);

  for (const [key, name] of RULES) {
    const limit = policy[key];
    if (limit === undefined) continue;
    let count = 0;
    let last: string | null = null;
    for (const c of newestFirst) {
      if (count >= limit) break;
      const bucket = bucketOf[name](c.createdAt, c.version);
      if (bucket === last) continue;
      last = bucket;
      count++;
      keep(c.version, name === 'last' ? `last ${count}/${limit}` : `${name} ${count}/${limit} (${bucket})`);
    }
  }
  if (options.protect) keep(options.protect, 'newest version that verifies');

  // Dependencies last, from the oldest kept version up, so a chain's bases are kept with it.
  const byVersion = new Map(newestFirst.map((c) => [c.version, c]));
  const pending = newestFirst.filter((c) => reasons.get(c.version)!.length > 0).map((c) => c.version);
  const visited = new Set<string>();
  while (pending.length > 0) {
    const version = pending.pop()!;
    if (visited.has(version)) continue;
    visited.add(version);
    const c = byVersion.get(version)!;
    const bases =
      c.dependsOn === null
        ? newestFirst.filter((o) => o.createdAt < c.createdAt).map((o) => o.version)
        : c.dependsOn.filter((v) => byVersion.has(v));
    for (const base of bases) {
      keep(base, c.dependsOn === null ? `older than ${version}, whose manifest cannot be read: it may build on this one` : `base of ${version}`);
      pending.push(base);
    }
  }
  return newestFirst.map((c) => ({ version: c.version, keep: reasons.get(c.version)!.length > 0, reasons: [...new Set(reasons.get(c.version))] }));
}
