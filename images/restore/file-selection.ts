import { posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import type { ArchiveEntry, Manifest } from '../store/manifest.js';

/**
 * `lifeboat restore`: which archive of a version holds each PATH asked for, and where its files
 * land under --to. Pure. Paths are as they were on the archived system: absolute ("/etc/hosts",
 * "/srv/exports/alice/notes.txt") or relative to the tree's root ("etc/hosts", "alice/notes.txt"),
 * whose root is / for a machine and the archived directory for an `archive --path` tree. Under
 * --to, every file keeps its path from that root: /etc/hosts → DIR/etc/hosts.
 */
export interface ArchiveSelection {
  entry: ArchiveEntry;
  /** Where the archive's own root lands: DIR, or DIR/boot for a machine's /boot. */
  target: string;
  /** Paths inside the archive ("" is all of it, "etc/hosts"), as asked; null: the whole archive. */
  rels: string[] | null;
}

/** / for a machine, the archived directory for a tree. */
export function treeRoot(manifest: Manifest): string {
  return manifest.source.mode === 'path' ? (manifest.source.path ?? manifest.archives[0]!.mountpoint) : '/';
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

/** Archives a restore places: those with a mountpoint (btrfs subvolumes mounted nowhere have no place in a tree). */
function placed(manifest: Manifest): ArchiveEntry[] {
  return manifest.archives.filter((a) => a.mountpoint !== '').sort((a, b) => a.mountpoint.length - b.mountpoint.length || a.mountpoint.localeCompare(b.mountpoint));
}

export function selectArchives(manifest: Manifest, paths: string[], to: string): ArchiveSelection[] {
  const root = treeRoot(manifest);
  const targetOf = (entry: ArchiveEntry) => posix.join(to, posix.relative(root, entry.mountpoint));
  if (paths.length === 0) return placed(manifest).filter((e) => within(e.mountpoint, root)).map((entry) => ({ entry, target: targetOf(entry), rels: null }));
  const byArchive = new Map<ArchiveEntry, string[]>();
  for (const asked of paths) {
    const absolute = posix.resolve(root, asked);
    if (!within(absolute, root)) {
      throw new LifeboatError('LB_NOT_FOUND', `${asked} is not in ${manifest.image}@${manifest.version}: the version holds the tree under ${root}; name a path inside it`);
    }
    // The deepest filesystem holding the path: /boot/grub is in /boot's archive, not /'s.
    const entry = placed(manifest).filter((e) => within(absolute, e.mountpoint)).at(-1);
    if (!entry) {
      const where = placed(manifest).map((e) => e.mountpoint).join(', ') || 'none';
      throw new LifeboatError('LB_NOT_FOUND', `${asked} is not in ${manifest.image}@${manifest.version}: no archived filesystem holds it (archived: ${where})`);
    }
    const rels = byArchive.get(entry) ?? [];
    rels.push(posix.relative(entry.mountpoint, absolute));
    byArchive.set(entry, rels);
  }
  return [...byArchive].map(([entry, rels]) => ({ entry, target: targetOf(entry), rels: rels.includes('') ? null : [...new Set(rels)] }));
}

/** "etc/hosts" → "./etc/hosts", as Lifeboat's archives store their members. */
export function memberName(rel: string): string {
  return `./${rel}`;
}

/** The path an operator typed for a member of an archive, for messages. */
export function systemPath(entry: Pick<ArchiveEntry, 'mountpoint'>, rel: string): string {
  return rel === '' ? entry.mountpoint : posix.join(entry.mountpoint, rel);
}
