import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User and system CPU seconds a process has used so far (fields 14 and 15 of /proc/PID/stat). */
export function cpuSeconds(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / TICKS_PER_SECOND, sys: Number(rest[12]) / TICKS_PER_SECOND };
}

/** The direct children of a process (nginx's workers under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds the given processes use between now and the call of the returned function. */
export function measureCpu(pids: number[]): () => { user: number; sys: number } {
  const before = pids.map(cpuSeconds);
  return () => {
    const after = pids.map(cpuSeconds);
    return {
      user: after.reduce((a, t, i) => a + t.user - before[i]!.user, 0),
      sys: after.reduce((a, t, i) => a + t.sys - before[i]!.sys, 0),
    };
  };
}
