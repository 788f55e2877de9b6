import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { posix } from 'node:path';

/**
 * Paths of the source system mapped onto directories of this machine, following symlinks inside
 * the source system and never out of it: an absolute link in a mounted image
 * (/etc/os-release → /usr/lib/os-release) must resolve in the image, not on the probing host.
 */
export class SourceTree {
  private readonly mounts: Array<{ source: string; local: string }>;

  constructor(mounts: Array<{ source: string; local: string }>) {
    this.mounts = [...mounts].sort((a, b) => b.source.length - a.source.length);
  }

  private toLocal(path: string): string | undefined {
    for (const m of this.mounts) {
      if (path === m.source) return m.local;
      const prefix = m.source === '/' ? '/' : `${m.source}/`;
      if (path.startsWith(prefix)) return posix.join(m.local, path.slice(prefix.length));
    }
    return undefined;
  }

  /** The local path of a source path, or undefined when it does not exist in the source. */
  async resolve(path: string): Promise<string | undefined> {
    let pending = posix.normalize(path).split('/').filter((p) => p !== '');
    let current = '/';
    for (let hops = 0; pending.length > 0;) {
      const next = posix.join(current, pending[0]!);
      const local = this.toLocal(next);
      if (!local) return undefined;
      let info;
      try {
        info = await lstat(local);
      } catch {
        return undefined;
      }
      if (info.isSymbolicLink()) {
        if (++hops > 40) return undefined;
        const target = await readlink(local);
        const rest = pending.slice(1);
        pending = posix.normalize(posix.join(target.startsWith('/') ? '/' : current, target)).split('/').filter((p) => p !== '').concat(rest);
        current = '/';
        continue;
      }
      current = next;
      pending = pending.slice(1);
    }
    return this.toLocal(current);
  }

  async readText(path: string): Promise<string | undefined> {
    const local = await this.resolve(path);
    if (!local) return undefined;
    try {
      return await readFile(local, 'utf8');
    } catch {
      return undefined;
    }
  }

  async list(path: string): Promise<string[]> {
    const local = await this.resolve(path);
    if (!local) return [];
    try {
      return await readdir(local);
    } catch {
      return [];
    }
  }

  async isDir(path: string): Promise<boolean> {
    const local = await this.resolve(path);
    if (!local) return false;
    try {
      return (await stat(local)).isDirectory();
    } catch {
      return false;
    }
  }
}
