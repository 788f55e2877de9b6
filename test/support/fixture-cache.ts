import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Where test fixtures (disk images, rescue builds) are kept between test files and runs: the
 * checkout's own .cache/test-fixtures, so a clean clone builds each one once per run from its
 * inputs and every file after the first reuses it; LIFEBOAT_FIXTURE_CACHE points elsewhere.
 * Each entry's name carries a key of everything it is built from, so a changed input builds anew.
 */
export const PROJECT_DIR = fileURLToPath(new URL('../../../', import.meta.url));

export function fixtureCacheDir(): string {
  return process.env.LIFEBOAT_FIXTURE_CACHE ?? join(PROJECT_DIR, '.cache', 'test-fixtures');
}

/**
 * Runs `build` unless `done` (a file inside the entry's directory) already exists, with at most one builder at a time: test files run in
 * parallel (scripts/run-tests.js), and two that need the same fixture must not both build it. The
 * lock is a file holding the builder's PID; a lock whose process is gone is taken over.
 */
export async function buildOnce(done: string, build: () => Promise<void>): Promise<void> {
  if (existsSync(done)) return;
  // Beside the entry's directory, which does not exist until it is built.
  const lock = `${dirname(done)}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (!holderAlive(lock)) {
      await rm(lock, { force: true });
      continue;
    }
    await sleep(500);
    if (existsSync(done)) return;
  }
  try {
    if (!existsSync(done)) await build();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lock, 'utf8'));
  } catch {
    return true; // being written: its holder is alive
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
