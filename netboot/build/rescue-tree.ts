import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import type { CpioEntry } from './cpio-newc.js';

/**
 * The file tree of the rescue initramfs, held as a map from path to entry until it is written.
 * Host files keep their real path and every symlink met on the way to them (Debian's merged /usr:
 * /sbin → usr/sbin, mkfs.ext4 → mke2fs), so a path that works on the build host works in the
 * rescue system. Owners are always root; only permission bits are kept.
 */
export class RescueTree {
  private readonly entries = new Map<string, CpioEntry>();
  /** Newest mtime (seconds) of the host files taken in, for a reproducible default timestamp. */
  newestInput = 0;

  /** Adds a host file (or a symlink to one) at the same path, with its symlink chain. */
  async addHostPath(hostPath: string): Promise<string> {
    const real = await this.followChain(hostPath);
    const st = await lstat(real);
    this.noteMtime(st.mtimeMs);
    if (st.isDirectory()) this.addDir(real, st.mode & 0o7777);
    else if (st.isFile()) this.put({ kind: 'file', path: real, mode: st.mode & 0o7777, size: st.size, source: { file: real } });
    else throw new LifeboatError('LB_INVALID', `${hostPath} is neither a file nor a directory: it cannot go into the rescue system`);
    return real;
  }

  /** Adds a host directory and everything under it. */
  async addHostTree(hostDir: string): Promise<void> {
    const real = await this.addHostPath(hostDir);
    if (!(await lstat(real)).isDirectory()) return;
    for (const name of (await readdir(real)).sort()) {
      const child = join(real, name);
      const st = await lstat(child);
      if (st.isDirectory()) await this.addHostTree(child);
      else if (st.isSymbolicLink()) this.addSymlink(child, await readlink(child));
      else if (st.isFile()) await this.addHostPath(child);
    }
  }

  /**
   * Adds a host file under another path. `isInput`: false for files the build itself just made
   * (staged modules, depmod's indexes), whose fresh mtime must not become the build's timestamp.
   */
  async addHostFileAs(path: string, hostFile: string, mode?: number, isInput = true): Promise<void> {
    const st = await stat(hostFile);
    if (isInput) this.noteMtime(st.mtimeMs);
    this.put({ kind: 'file', path: norm(path), mode: mode ?? st.mode & 0o7777, size: st.size, source: { file: hostFile } });
  }

  addText(path: string, text: string | Buffer, mode = 0o644): void {
    const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
    this.put({ kind: 'file', path: norm(path), mode, size: bytes.length, source: { bytes } });
  }

  addDir(path: string, mode = 0o755): void {
    this.put({ kind: 'dir', path: norm(path), mode });
  }

  addSymlink(path: string, target: string): void {
    this.put({ kind: 'symlink', path: norm(path), target });
  }

  addCharDevice(path: string, major: number, minor: number, mode = 0o600): void {
    this.put({ kind: 'char', path: norm(path), mode, major, minor });
  }

  /**
   * Where a path lands inside the tree once the symlinks already in it are followed (bin/sh with
   * bin → usr/bin is usr/bin/sh). The last component is not followed.
   */
  resolve(path: string): string {
    let parts = norm(path).split('/');
    for (let depth = 0; depth < 40; depth++) {
      let changed = false;
      for (let i = 0; i < parts.length - 1; i++) {
        const e = this.entries.get(parts.slice(0, i + 1).join('/'));
        if (e?.kind === 'symlink') {
          const base = e.target.startsWith('/') ? '' : parts.slice(0, i).join('/');
          parts = norm(posix.join(base, e.target, ...parts.slice(i + 1))).split('/');
          changed = true;
          break;
        }
      }
      if (!changed) return parts.join('/');
    }
    throw new LifeboatError('LB_INVALID', `rescue tree: ${path} has too many levels of symbolic links`);
  }

  has(path: string): boolean {
    return this.entries.has(norm(path));
  }

  get(path: string): CpioEntry | undefined {
    return this.entries.get(norm(path));
  }

  /** Entries sorted by path bytes: a directory always comes before what it holds. */
  list(): CpioEntry[] {
    return [...this.entries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.kind === 'file') n += e.size;
    return n;
  }

  noteMtime(ms: number): void {
    this.newestInput = Math.max(this.newestInput, Math.floor(ms / 1000));
  }

  /** Resolves a host path one component at a time, adding each symlink met; returns the real path. */
  private async followChain(path: string, depth = 0): Promise<string> {
    if (depth > 40) throw new LifeboatError('LB_INVALID', `${path}: too many levels of symbolic links`);
    const parts = posix.normalize(path).split('/').filter(Boolean);
    let current = '/';
    for (let i = 0; i < parts.length; i++) {
      const candidate = posix.join(current, parts[i]!);
      let st;
      try {
        st = await lstat(candidate);
      } catch {
        throw new LifeboatError('LB_NOT_FOUND', `${path} does not exist on the build host (${candidate} is missing): install the package that provides it (npm run setup does)`);
      }
      if (st.isSymbolicLink()) {
        const target = await readlink(candidate);
        this.addSymlink(candidate, target);
        const resolved = posix.resolve(dirname(candidate), target);
        const rest = parts.slice(i + 1);
        return this.followChain(rest.length ? posix.join(resolved, ...rest) : resolved, depth + 1);
      }
      if (i < parts.length - 1) this.ensureParents(posix.join(candidate, 'x'));
      current = candidate;
    }
    return current;
  }

  private ensureParents(path: string): void {
    const parts = norm(path).split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = this.entries.get(dir);
      if (!existing) this.entries.set(dir, { kind: 'dir', path: dir, mode: 0o755 });
      else if (existing.kind !== 'dir') throw new LifeboatError('LB_INVALID', `rescue tree: /${dir} is a ${existing.kind}, so /${norm(path)} cannot be placed under it`);
    }
  }

  private put(given: CpioEntry): void {
    const entry = { ...given, path: norm(given.path) };
    if (entry.path === '') return;
    this.ensureParents(entry.path);
    const existing = this.entries.get(entry.path);
    if (existing && existing.kind !== entry.kind) {
      throw new LifeboatError('LB_INVALID', `rescue tree: /${entry.path} is added both as a ${existing.kind} and as a ${entry.kind}`);
    }
    // A directory added again keeps the first mode; anything else is replaced by the latest.
    if (existing?.kind === 'dir') return;
    this.entries.set(entry.path, entry);
  }
}

function norm(path: string): string {
  return posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
}
