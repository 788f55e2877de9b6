import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Layout } from '../layout/model.js';
import { mountReadOnly } from '../source/mount-readonly.js';
import { btrfsSubvolumeSources, type ArchiveSource, type BtrfsVolume, type SkippedMount, type SubvolumeRef } from './select-sources.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * The I/O around btrfsSubvolumeSources: mounting a btrfs volume's top read-only where a subvolume
 * is visible nowhere else, and looking whether the top holds anything but subvolumes. The mounts
 * are undone by the caller's cleanups.
 */

function volumesOf(layout: Layout): BtrfsVolume[] {
  return layout.filesystems
    .filter((f) => f.type === 'btrfs')
    .map((f) => ({ device: f.device, ...(f.mountpoint ? { mountpoint: f.mountpoint } : {}), subvolumes: (f.subvolumes ?? []).map((s) => ({ path: s.path })) }));
}

/** Whether the top directory holds an entry that is not one of the volume's own first-level subvolumes. */
export async function topHoldsFiles(directory: string, volume: BtrfsVolume): Promise<boolean> {
  const firstLevel = new Set(volume.subvolumes.map((s) => s.path).filter((p) => !p.includes('/')));
  return (await readdir(directory)).some((e) => !firstLevel.has(e));
}

export async function subvolumeSources(options: {
  sources: ArchiveSource[];
  layout: Layout;
  excluded?: SubvolumeRef[];
  excludedDirectories?: string[];
  /** Tops already mounted by the caller (disk mode mounts every btrfs volume by its top). */
  mountedTops?: ReadonlyMap<string, string>;
  /** Where to mount the tops still needed. */
  mountBase: string;
  cleanups: Array<() => Promise<void>>;
}): Promise<{ sources: ArchiveSource[]; skipped: SkippedMount[] }> {
  const volumes = volumesOf(options.layout);
  const tops = new Map<string, { directory: string; holdsFiles: boolean }>();
  for (const [device, directory] of options.mountedTops ?? []) {
    const vol = volumes.find((v) => v.device === device);
    if (vol) tops.set(device, { directory, holdsFiles: await topHoldsFiles(directory, vol) });
  }
  const ask = () => btrfsSubvolumeSources({ sources: options.sources, volumes, excluded: options.excluded ?? [], excludedDirectories: options.excludedDirectories ?? [], tops });
  let planned = ask();
  if (planned.needTop.length > 0) {
    for (const device of planned.needTop) {
      const directory = join(options.mountBase, `btrfs-top-${device.split('/').pop()}`);
      await makeDirs(directory);
      const unmount = await mountReadOnly(device, 'btrfs', directory, ['subvolid=5']);
      options.cleanups.push(async () => {
        await unmount();
        await rmdir(directory).catch(() => undefined);
      });
      tops.set(device, { directory, holdsFiles: await topHoldsFiles(directory, volumes.find((v) => v.device === device)!) });
    }
    planned = ask();
  }
  return { sources: planned.sources, skipped: planned.skipped };
}
