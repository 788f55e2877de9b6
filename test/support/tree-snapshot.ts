import { lstat, readdir, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Everything a restore must reproduce about a tree, keyed by relative path: type, mode, owner,
 * size, mtime in nanoseconds, device numbers, link targets, content hashes, every xattr (ACLs,
 * capabilities and SELinux labels are xattrs too) and which paths share an inode.
 */
export interface NodeFacts {
  kind: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  rdev?: number;
  target?: string;
  sha256?: string;
  nlink?: number;
  hardlinkGroup?: string;
  xattrs: Record<string, string>;
  allocatedBytes?: number;
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

async function readXattrs(root: string): Promise<Map<string, Record<string, string>>> {
  const r = await execa('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], { reject: false });
  const out = new Map<string, Record<string, string>>();
  let current: Record<string, string> | null = null;
  for (const line of r.stdout.split('\n')) {
    const file = /^# file: (.*)$/.exec(line);
    if (file) {
      // getfattr escapes unusual bytes as \ooo octal
      const path = file[1]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      current = {};
      out.set(Buffer.from(path, 'latin1').toString('utf8'), current);
      continue;
    }
    const kv = /^([^=]+)=(.*)$/.exec(line);
    if (kv && current) current[kv[1]!] = kv[2]!;
  }
  return out;
}

export async function snapshotTree(root: string, options: { ignore?: string[] } = {}): Promise<Map<string, NodeFacts>> {
  const facts = new Map<string, NodeFacts>();
  const inodes = new Map<string, string>();
  const xattrs = await readXattrs(root);
  const walk = async (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs, { bigint: true });
    const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isSocket() ? 'socket' : 'other';
    const f: NodeFacts = {
      kind,
      mode: (Number(st.mode) & 0o7777).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: kind === 'dir' ? 0 : Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      xattrs: xattrs.get(abs) ?? {},
    };
    if (kind === 'char' || kind === 'block') f.rdev = Number(st.rdev);
    if (kind === 'symlink') f.target = await readlink(abs);
    if (kind === 'file') {
      f.sha256 = await hashFile(abs);
      f.nlink = Number(st.nlink);
      f.allocatedBytes = Number(st.blocks) * 512;
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (!inodes.has(key)) inodes.set(key, rel);
        f.hardlinkGroup = inodes.get(key)!;
      }
    }
    facts.set(rel, f);
    if (kind === 'dir') {
      for (const name of (await readdir(abs)).sort()) {
        const child = rel === '.' ? name : join(rel, name);
        if (options.ignore?.includes(child)) continue;
        await walk(child);
      }
    }
  };
  await walk('.');
  return facts;
}

/** Differences as readable lines, empty when the trees are identical in every recorded fact. */
export function diffSnapshots(a: Map<string, NodeFacts>, b: Map<string, NodeFacts>, options: { skipAllocation?: boolean } = {}): string[] {
  const diffs: string[] = [];
  for (const [path, fa] of a) {
    const fb = b.get(path);
    if (!fb) {
      diffs.push(`${path}: missing`);
      continue;
    }
    for (const key of Object.keys(fa) as Array<keyof NodeFacts>) {
      if (key === 'allocatedBytes') continue;
      const va = JSON.stringify(fa[key]);
      const vb = JSON.stringify(fb[key]);
      if (va !== vb) diffs.push(`${path}: ${key} ${va} ≠ ${vb}`);
    }
    if (!options.skipAllocation && fa.kind === 'file' && fa.allocatedBytes !== undefined && fa.size > 1 << 20) {
      // A sparse file must stay sparse: allow allocation slack, not expansion into its holes.
      const limit = Math.max(fa.allocatedBytes * 2, fa.allocatedBytes + (4 << 20));
      if ((fb.allocatedBytes ?? 0) > limit) diffs.push(`${path}: sparse file expanded (${fa.allocatedBytes} → ${fb.allocatedBytes} bytes allocated)`);
    }
  }
  for (const path of b.keys()) if (!a.has(path)) diffs.push(`${path}: unexpected`);
  return diffs;
}
