import { LifeboatError } from './errors.js';

const units: Record<string, number> = {
  '': 1, B: 1,
  K: 1024, KB: 1000, KIB: 1024,
  M: 1024 ** 2, MB: 1000 ** 2, MIB: 1024 ** 2,
  G: 1024 ** 3, GB: 1000 ** 3, GIB: 1024 ** 3,
  T: 1024 ** 4, TB: 1000 ** 4, TIB: 1024 ** 4,
};

/** Parses "650M", "4GiB", "1.5G", "4096" into bytes; K/M/G/T alone are binary, as dd and sfdisk read them. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m?.[2]?.toUpperCase() ?? '';
  if (!m || !(unit in units)) {
    throw new LifeboatError('LB_USAGE', `${what} "${text}" is not a size: use a number with an optional unit (K, M, G, T, KB, MiB…)`);
  }
  const bytes = Math.round(Number(m[1]) * units[unit]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new LifeboatError('LB_USAGE', `${what} "${text}" must be a positive size`);
  }
  return bytes;
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = abs;
  while (v >= 1024 && i < steps.length - 1) {
    v /= 1024;
    i++;
  }
  return `${bytes < 0 ? '-' : ''}${i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1)} ${steps[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
