import { LifeboatError } from '../../core/errors.js';

/**
 * Reading tool JSON that we do not control. Fields come and go between util-linux and lvm2
 * versions, numbers arrive as numbers or as strings ("1048576", "0 ", "4194304B"), so every
 * field is read through these narrow accessors: a missing or odd field becomes `undefined`, never
 * a crash; only an unusable whole is an error.
 */

/** Parses a tool's JSON output. Text printed around it (lvm's warnings) is skipped. */
export function parseToolJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (first) {
    // lvm prints "WARNING: ..." lines before (and sometimes inside) its JSON on stdout.
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    if (start >= 0 && end > start) {
      const cleaned = text.slice(start, end + 1).split('\n').filter((line) => !/^\s*WARNING:/.test(line)).join('\n');
      try {
        return JSON.parse(cleaned);
      } catch {
        // fall through to the error below, which reports the first failure
      }
    }
    throw new LifeboatError('LB_INVALID', `${what} is not JSON (${(first as Error).message}): was the tool's output cut short or mixed with messages?`, { what });
  }
}

export type JsonRecord = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function records(v: unknown): JsonRecord[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

/** A non-empty string, trimmed; null, "" and non-strings are absent. */
export function str(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? undefined : t;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** An integer from a number or a numeric string ("42", "0 ", "4194304B"); anything else is absent. */
export function int(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(-?\d+)\s*B?\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** lsblk prints booleans as JSON booleans (2.33+) or as "0"/"1" strings (older). */
export function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === '1' || v === 1) return true;
  if (v === '0' || v === 0) return false;
  return undefined;
}

/** Copies the defined values only, so optional fields are absent rather than `undefined`. */
export function defined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
