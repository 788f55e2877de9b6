import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { checkFinished, lastLines, startTool } from '../../core/run-tool.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * One run of a schedule at a time. Node has no flock(2), so the lock file is opened here and
 * flock(1) locks that open file through an inherited descriptor: a flock belongs to the open file,
 * not the process, so it stays held by this process after flock exits, and the kernel drops it when
 * this process ends however it ends — no stale lock after a crash or kill -9.
 */
export const LOCK_DIR = '/run/lock';

export function lockPath(name: string, dir = LOCK_DIR): string {
  return `${dir}/lifeboat-schedule-${name}.lock`;
}

export interface HeldLock {
  path: string;
  release(): Promise<void>;
}

export async function takeLock(path: string, what: string): Promise<HeldLock> {
  await makeDirs(dirname(path));
  const handle: FileHandle = await open(path, 'a', 0o644);
  try {
    const busy = 75;
    // fd 3 of flock is this process's open lock file (execa passes a number through as that fd; its types only list it for fd 0–2).
    const flock = startTool('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(busy), '3'], { stdio: ['ignore', 'ignore', 'pipe', handle.fd as never] });
    let stderr = '';
    flock.stderr!.on('data', (d: Buffer) => (stderr = lastLines(stderr + d.toString(), 5)));
    const result = await flock;
    if (result.exitCode === busy) {
      throw new LifeboatError('LB_CONFLICT', `${what} is already running (it holds ${path}): this run is skipped so that two never overlap`, { lock: path });
    }
    checkFinished('flock', ['--exclusive', '--nonblock', '3'], result as never, stderr, { purpose: `lock ${path}` });
  } catch (e) {
    await handle.close();
    throw e;
  }
  return { path, release: () => handle.close() };
}
