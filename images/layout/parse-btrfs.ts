import type { Filesystem } from './model.js';

/**
 * `btrfs subvolume list -a -p MNT` and `btrfs subvolume get-default MNT` → subvolumes.
 * With -a, paths are from the top of the filesystem, prefixed "<FS_TREE>/" when the subvolume
 * is not under the mounted one ("ID 256 gen 7 parent 5 top level 5 path <FS_TREE>/@"); the
 * prefix is dropped so every path is relative to the top, whatever subvolume was mounted.
 * get-default prints "ID 5 (FS_TREE)" when the top itself is the default.
 */

type Subvolume = NonNullable<Filesystem['subvolumes']>[number];

export function parseBtrfsDefault(text: string): number | undefined {
  const m = /^ID\s+(\d+)\b/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function parseBtrfsSubvolumes(listText: string, defaultText?: string): Subvolume[] {
  const defaultId = defaultText !== undefined ? parseBtrfsDefault(defaultText) : undefined;
  const out: Subvolume[] = [];
  for (const line of listText.split('\n')) {
    const m = /^ID\s+(\d+)\b.*?\spath\s(.+)$/.exec(line.trim());
    if (!m) continue;
    const id = Number(m[1]);
    const path = m[2]!.replace(/^<FS_TREE>\//, '');
    out.push(defaultId !== undefined ? { id, path, isDefault: id === defaultId } : { id, path });
  }
  return out;
}
