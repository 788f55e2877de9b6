import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * mkdir -p that always ends. Node 20's `mkdir(p, { recursive: true })` spins forever where a
 * directory refuses new entries with ENOENT (anything under /proc: it retries the parent, which
 * exists, then the child again). Here each missing directory is made once, from the deepest one
 * that exists, and the first refusal is thrown as the system error it is (code, syscall, path),
 * so the CLI words it in one line.
 */
export async function makeDirs(path: string): Promise<void> {
  for (const dir of await missingDirs(resolve(path))) {
    try {
      await mkdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export function makeDirsSync(path: string): void {
  for (const dir of missingDirsSync(resolve(path))) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** The directories to make, outermost first; throws ENOTDIR where a part of the path is a file. */
async function missingDirs(target: string): Promise<string[]> {
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const found = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (found) {
      if (!found.isDirectory()) throw notADirectory(p);
      return missing.reverse();
    }
    missing.push(p);
    if (dirname(p) === p) return missing.reverse();
  }
}

function missingDirsSync(target: string): string[] {
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const found = statSync(p, { throwIfNoEntry: false });
    if (found) {
      if (!found.isDirectory()) throw notADirectory(p);
      return missing.reverse();
    }
    missing.push(p);
    if (dirname(p) === p) return missing.reverse();
  }
}

function notADirectory(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', syscall: 'mkdir', path });
}
