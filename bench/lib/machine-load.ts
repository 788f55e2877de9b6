import { loadavg } from 'node:os';
import { machineLine } from '../report.js';

/**
 * The machine these benchmarks run on is shared (other engineers' tests run beside them), so every
 * section records the 1-minute load average when its measuring began and ended: a reader can tell
 * a number taken on a quiet machine from one taken under load.
 */
export interface LoadWindow {
  start: number;
  end: number;
}

/** Starts watching the load; call the returned function when the measuring is done. */
export function watchLoad(): () => LoadWindow {
  const start = loadavg()[0]!;
  return () => ({ start: round2(start), end: round2(loadavg()[0]!) });
}

export function loadSentence(load: LoadWindow): string {
  return `1-minute load average ${load.start.toFixed(2)} when measuring began, ${load.end.toFixed(2)} when it ended (2 cores, shared with other work).`;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The line under each section's title: when, on what machine, and how loaded it was. */
export function measuredLine(load: LoadWindow): string {
  return `${new Date().toISOString().slice(0, 10)} — ${machineLine()}. ${loadSentence(load)}`;
}
