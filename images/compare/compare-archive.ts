import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { lastLines, startTool, checkFinished } from '../../core/run-tool.js';
import { TarParser, type TarEntry } from '../archive/tar-parse.js';
import { decompressProgram } from '../archive/tar-options.js';
import type { ReadableArchive, VolumeOpener } from '../archive/tar-read.js';
import type { ArchiveEntry } from '../store/manifest.js';
import { lstatOrNull, readXattrs, readlink, sha256OfFile, walkSameFilesystem } from './disk-facts.js';
import { mergeChain } from './chain-facts.js';

/**
 * Compares one filesystem's archive with a directory tree (a restored disk, or a live system):
 * what differs in content, in metadata (type, mode, owner, mtime, link target, device numbers,
 * xattrs — ACLs and file capabilities are xattrs), what is missing, and what is new.
 */
export type DifferenceKind = 'content' | 'metadata' | 'missing' | 'new';

export interface Difference {
  /** Path on the archived system, e.g. /etc/hosts. */
  path: string;
  kind: DifferenceKind;
  details: string[];
}

interface ArchivedFacts extends TarEntry {
  sha256?: string;
}

function relOf(tarPath: string): string {
  return tarPath.replace(/^\.\/?/, '').replace(/\/+$/, '');
}

function systemPath(mountpoint: string, rel: string): string {
  if (rel === '') return mountpoint;
  return mountpoint === '/' ? `/${rel}` : `${mountpoint}/${rel}`;
}

/** Linux's encoding of device numbers in st_rdev (new_encode_dev). */
const makedev = (major: number, minor: number) => ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
const octalMode = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
const nsDate = (ns: string) => new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();

/** Reads one archive's own entries with a content hash of each regular file. */
export async function readArchivedFacts(open: VolumeOpener, entry: ReadableArchive, onProgress?: (bytes: number) => void): Promise<Map<string, ArchivedFacts>> {
  const facts = new Map<string, ArchivedFacts>();
  const parser = new TarParser((e) => {
    const f: ArchivedFacts = e;
    facts.set(relOf(e.path), f);
    if (e.type !== 'file') return null;
    const h = createHash('sha256');
    return { data: (c) => h.update(c), end: () => (f.sha256 = h.digest('hex')) };
  });
  const program = decompressProgram(entry.compression);
  if (!program) {
    for (const v of entry.volumes) for await (const c of await open(v.path)) parser.write(Buffer.from(c));
    parser.end();
    return facts;
  }
  const [file, ...args] = program.split(' ') as [string, ...string[]];
  const child = startTool(file, args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = lastLines(stderr + d.toString(), 10)));
  let parseError: unknown = null;
  child.stdout!.on('data', (c: Buffer) => {
    if (parseError) return;
    try {
      parser.write(c);
    } catch (e) {
      parseError = e;
    }
  });
  const feed = (async () => {
    let done = 0;
    try {
      for (const v of entry.volumes) {
        for await (const c of await open(v.path)) {
          done += c.length;
          onProgress?.(done);
          if (!child.stdin!.write(c)) await new Promise<void>((r) => child.stdin!.once('drain', r));
        }
      }
    } finally {
      // Also when a volume fails (a checked opener): the decompressor must not wait for more forever.
      child.stdin!.end();
    }
  })();
  const [result] = await Promise.all([child, feed]);
  checkFinished(file, args, result as never, stderr, { purpose: `decompress ${entry.id}` });
  if (parseError) throw parseError;
  parser.end();
  return facts;
}

export async function compareArchive(options: {
  open: VolumeOpener;
  entry: ArchiveEntry;
  /** Where the filesystem is mounted now. */
  root: string;
  /** Paths (on the archived system) to leave out of the comparison. */
  ignore?: (systemPath: string) => boolean;
  onProgress?: (bytes: number) => void;
}): Promise<{ differences: Difference[]; entries: number }> {
  const { entry, root } = options;
  // An incremental archive stands for the tree its whole chain builds, deletions applied.
  let before = 0;
  const archived = await mergeChain(entry, options.open, async (open, layer) => {
    const base = before;
    const facts = await readArchivedFacts(open, layer, options.onProgress ? (b) => options.onProgress!(base + b) : undefined);
    before += layer.volumes.reduce((s, v) => s + v.bytes, 0);
    return facts;
  });
  const excluded = entry.excludes.map(relOf);
  const ignored = (rel: string) => excluded.some((e) => rel === e || rel.startsWith(`${e}/`)) || (options.ignore?.(systemPath(entry.mountpoint, rel)) ?? false);
  const differences: Difference[] = [];
  const xattrs = await readXattrs([...archived.keys()].filter((r) => !ignored(r)).map((r) => (r === '' ? root : join(root, r))));
  const inodeOf = new Map<string, bigint>();

  for (const [rel, a] of archived) {
    if (ignored(rel)) continue;
    const path = systemPath(entry.mountpoint, rel);
    const abs = rel === '' ? root : join(root, rel);
    const st = await lstatOrNull(abs);
    if (!st) {
      differences.push({ path, kind: 'missing', details: [] });
      continue;
    }
    if (st.isFile()) inodeOf.set(rel, st.ino);
    const diskType = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
    const details: string[] = [];
    let contentDiffers = false;
    const archivedType = a.type === 'hardlink' ? 'file' : a.type;
    if (archivedType !== diskType) {
      differences.push({ path, kind: 'metadata', details: [`type ${a.type} → ${diskType}`] });
      continue;
    }
    if (a.type !== 'hardlink') {
      if ((Number(st.mode) & 0o7777) !== a.mode && a.type !== 'symlink') details.push(`mode ${octalMode(a.mode)} → ${octalMode(Number(st.mode))}`);
      if (Number(st.uid) !== a.uid || Number(st.gid) !== a.gid) details.push(`owner ${a.uid}:${a.gid} → ${st.uid}:${st.gid}`);
      if (st.mtimeNs.toString() !== a.mtimeNs && a.type !== 'dir') details.push(`mtime ${nsDate(a.mtimeNs)} → ${nsDate(st.mtimeNs.toString())}`);
      const diskX = xattrs.get(abs) ?? new Map<string, Buffer>();
      for (const name of new Set([...a.xattrs.keys(), ...diskX.keys()])) {
        const av = a.xattrs.get(name);
        const dv = diskX.get(name);
        if (!av) details.push(`xattr ${name} added`);
        else if (!dv) details.push(`xattr ${name} removed`);
        else if (!av.equals(dv)) details.push(`xattr ${name} changed`);
      }
    }
    if (a.type === 'symlink') {
      const target = await readlink(abs);
      if (target !== a.linkTarget) details.push(`link target ${a.linkTarget} → ${target}`);
    } else if ((a.type === 'char' || a.type === 'block') && Number(st.rdev) !== makedev(a.devMajor!, a.devMinor!)) {
      details.push(`device ${a.devMajor}:${a.devMinor} changed`);
    } else if (a.type === 'file') {
      if (Number(st.size) !== a.size) {
        contentDiffers = true;
        details.unshift(`size ${a.size} → ${st.size}`);
      } else if ((await sha256OfFile(abs)) !== a.sha256) {
        contentDiffers = true;
        details.unshift('content changed');
      }
    } else if (a.type === 'hardlink') {
      const targetRel = relOf(a.linkTarget ?? '');
      const targetIno = inodeOf.get(targetRel) ?? (await lstatOrNull(join(root, targetRel)))?.ino;
      if (targetIno !== st.ino) details.push(`no longer a hard link to ${systemPath(entry.mountpoint, targetRel)}`);
    }
    if (contentDiffers) differences.push({ path, kind: 'content', details });
    else if (details.length) differences.push({ path, kind: 'metadata', details });
  }

  const onDisk = await walkSameFilesystem(root, ignored);
  for (const rel of onDisk) if (!archived.has(rel)) differences.push({ path: systemPath(entry.mountpoint, rel), kind: 'new', details: [] });
  differences.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { differences, entries: archived.size };
}

/** changed.txt: one line per difference, then a summary; the same text the agent sends and `lifeboat compare` writes. */
export function renderChanged(header: string[], results: Array<{ mountpoint: string; differences: Difference[]; entries: number }>): string {
  const lines = header.map((h) => `# ${h}`);
  const counts: Record<DifferenceKind, number> = { content: 0, metadata: 0, missing: 0, new: 0 };
  let entries = 0;
  for (const r of results) {
    entries += r.entries;
    for (const d of r.differences) {
      counts[d.kind]++;
      lines.push(`${d.kind.padEnd(8)} ${d.path}${d.details.length ? `  (${d.details.join('; ')})` : ''}`);
    }
  }
  lines.push(`# summary: ${counts.content} content, ${counts.metadata} metadata, ${counts.missing} missing, ${counts.new} new, in ${entries} archived entries of ${results.length} filesystem(s)`);
  return `${lines.join('\n')}\n`;
}
