import { lstat, readdir, readlink } from 'node:fs/promises';
import { createReadStream, type BigIntStats } from 'node:fs';
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

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

export { readlink };

/** xattrs (raw values) of each path, read without following symlinks. */
export async function readXattrs(paths: string[]): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  const BATCH = 400;
  for (let i = 0; i < paths.length; i += BATCH) {
    const batch = paths.slice(i, i + BATCH);
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
