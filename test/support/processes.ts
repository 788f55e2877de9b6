import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** PIDs whose command line mentions `marker` (a test's own run directory), for orphans of a killed process. */
export async function pidsMentioning(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmd.includes(marker)) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/**
 * Waits for the children a kill -9 orphaned (tar, zstd) to die of SIGPIPE; ends the stragglers.
 * They were started by this test's own process tree, found by the test's unique directory.
 */
export async function reapOrphans(marker: string, graceMs = 5000): Promise<void> {
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if ((await pidsMentioning(marker)).length === 0) return;
    await sleep(100);
  }
  for (const pid of await pidsMentioning(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Waits for `p` or the time limit; the timer is cancelled after, so it cannot keep the test process alive. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  const limit = new AbortController();
  try {
    return await Promise.race([p, sleep(ms, 'timeout' as const, { signal: limit.signal }).catch(() => 'timeout' as const)]);
  } finally {
    limit.abort();
  }
}
