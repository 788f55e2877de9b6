import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runTool } from '../../core/run-tool.js';

/**
 * The disk side of a compare: lstat, link targets, content hashes and xattrs of files under a
 * directory. xattrs come from getfattr in batches (one process per few hundred files), since node
 * has no xattr API and a process per file would take minutes on a full system.
 */
export async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch {
    return null;
  }
}

/**
 * A buffer sized to the file (up to 1 MiB): a 1 MiB stream buffer per file made a compare of 24k
 * small files spend 40 % of its time collecting garbage.
 */
export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buffer = Buffer.allocUnsafe(Math.min(Math.max(size, 4096), 1 << 20));
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      h.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export { readlink };

/** xattrs (raw values) of each path, read without following symlinks. */
export async function readXattrs(paths: string[]): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  // As many paths per getfattr as fit comfortably in its argument list (ARG_MAX is 2 MiB here):
  // a process per 400 paths made spawning a visible share of a compare.
  const batches: string[][] = [];
  let bytes = 0;
  for (const p of paths) {
    if (batches.length === 0 || bytes + p.length > 256 * 1024 || batches.at(-1)!.length >= 4000) {
      batches.push([]);
      bytes = 0;
    }
    batches.at(-1)!.push(p);
    bytes += p.length + 1;
  }
  for (const batch of batches) {
    // exit status 1 means some file had an error (vanished): the rest of the output is still valid
    const r = await runTool('getfattr', ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', '--', ...batch], { okExitCodes: [0, 1], purpose: 'read extended attributes' });
    let current: Map<string, Buffer> | null = null;
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('# file: ')) {
        const name = unescapeGetfattr(line.slice(8));
        current = new Map();
        out.set(name, current);
      } else if (current && line.includes('=')) {
        const eq = line.indexOf('=');
        const value = line.slice(eq + 1);
        current.set(unescapeGetfattr(line.slice(0, eq)), value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, '')));
      }
    }
  }
  return out;
}

/** getfattr writes bytes outside printable ASCII as \ooo octal escapes. */
function unescapeGetfattr(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      for (const b of Buffer.from(text[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Every path under root on the same filesystem, relative ("" is root), skipping `skip(rel)`. */
export async function walkSameFilesystem(root: string, skip: (rel: string) => boolean): Promise<string[]> {
  const rootStat = await lstat(root);
  const out: string[] = [''];
  const walk = async (rel: string) => {
    let names: string[];
    try {
      names = await readdir(rel === '' ? root : join(root, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (skip(child)) continue;
      const st = await lstat(join(root, child)).catch(() => null);
      if (!st) continue;
      out.push(child);
      // A mountpoint below the filesystem is listed (tar records it) but not entered.
      if (st.isDirectory() && st.dev === rootStat.dev) await walk(child);
    }
  };
  await walk('');
  return out;
}
