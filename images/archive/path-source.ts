import { posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import type { Layout } from '../layout/model.js';
import type { ArchiveSource, MountEntry, SkippedMount } from './select-sources.js';

/**
 * `archive --path DIR`: one directory tree, not a machine. Pure, like selectSources: the tree is
 * one tar stream read where it lies, its "mountpoint" is DIR itself (so the restore, compare and
 * `images show` place it where it was), and what is mounted inside it is left out and named —
 * tar's --one-file-system stops there, as it does for --root.
 */
export const TREE_ARCHIVE_ID = 'tree';

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

export function pathSource(
  mounts: MountEntry[],
  options: { directory: string; excludes: string[]; storeDir: string; scratchDir?: string },
): { source: ArchiveSource; skipped: SkippedMount[] } {
  const dir = posix.normalize(options.directory).replace(/(.)\/$/, '$1');
  // The last mount on a target is the visible one; the deepest target holding DIR is its filesystem.
  const visible = new Map<string, MountEntry>();
  for (const m of mounts) visible.set(m.target, m);
  const holder = [...visible.values()].filter((m) => within(dir, m.target)).sort((a, b) => b.target.length - a.target.length)[0];
  const excludes: string[] = [];
  const exclude = (hostPath: string) => {
    const member = `./${posix.relative(dir, hostPath)}`;
    if (hostPath !== dir && !excludes.includes(member)) excludes.push(member);
  };
  for (const e of options.excludes) {
    const path = posix.normalize(e).replace(/(.)\/$/, '$1');
    if (!within(path, dir) || path === dir) throw new LifeboatError('LB_USAGE', `--exclude ${e} is not inside --path ${dir}: with --path, excludes are paths under the archived directory`);
    exclude(path);
  }
  for (const own of [options.storeDir, ...(options.scratchDir ? [options.scratchDir] : [])]) {
    const path = posix.normalize(own).replace(/(.)\/$/, '$1');
    if (within(dir, path)) throw new LifeboatError('LB_USAGE', `--path ${dir} is inside ${path}, where the archive itself is written: choose a directory outside the store and the scratch directory`);
    if (within(path, dir)) exclude(path);
  }
  const skipped: SkippedMount[] = [...visible.values()]
    .filter((m) => m.target !== dir && within(m.target, dir))
    .map((m) => ({ target: m.target, fstype: m.fstype, reason: 'another filesystem mounted inside --path (archive it with a --path of its own)' }));
  return {
    source: { id: TREE_ARCHIVE_ID, mountpoint: dir, directory: dir, device: holder?.source ?? 'unknown', fstype: holder?.fstype ?? 'unknown', excludes },
    skipped,
  };
}

/** A tree has no disks, partitions or boot loader: the manifest's layout says so, and nothing can be planned from it. */
export function treeLayout(hostname: string): Layout {
  return {
    disks: [],
    blockDevices: [],
    filesystems: [],
    swaps: [],
    md: [],
    lvm: { pvs: [], vgs: [], lvs: [] },
    fstab: [],
    bootloader: { firmware: 'unknown', kind: 'unknown' },
    host: { hostname, osRelease: {} },
    notes: ['archived with --path: one directory tree, not a machine; it cannot be nuked onto a disk, only restored as files (lifeboat restore)'],
  };
}
