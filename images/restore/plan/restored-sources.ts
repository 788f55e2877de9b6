import type { Disk } from '../../layout/model.js';
import { invalid, type Content } from './source-contents.js';
import type { Mapping } from './map-disks.js';
import type { Stacks } from './survive-stacks.js';

/** Which source devices the mapped disks carry, and a check that every archive still has a place. */

export interface RestoredSources {
  /** Every partition of the source disks → its disk. */
  partitionPaths: Map<string, string>;
  /** The source partitions and whole disks that get a target. */
  restoredDevices: Set<string>;
  /** Source disks that get no target (dropped by the operator). */
  droppedDisks: Set<string>;
}

export function restoredSources(sourceDisks: Disk[], mapping: Mapping): RestoredSources {
  const partitionPaths = new Map(sourceDisks.flatMap((d) => (d.table?.partitions ?? []).map((p) => [p.path, d.path] as const)));
  const restored = new Set(mapping.pairs.map((p) => p.source.path));
  const restoredDevices = new Set(sourceDisks.filter((d) => restored.has(d.path)).flatMap((d) => [d.path, ...(d.table?.partitions ?? []).map((p) => p.path)]));
  const droppedDisks = new Set(sourceDisks.map((d) => d.path).filter((p) => !restored.has(p)));
  return { partitionPaths, restoredDevices, droppedDisks };
}

/** Refuses a plan that leaves an archive with nowhere to go: its disk dropped, or a device the layout does not know. */
export function checkArchivesPlaced(contents: Map<string, Content>, sources: RestoredSources, stacks: Stacks): void {
  for (const c of contents.values()) {
    if (c.kind !== 'filesystem' || c.archives.length === 0 || sources.restoredDevices.has(c.device) || stacks.devices.has(c.device)) continue;
    const a = c.archives[0]!;
    const what = `archive "${a.id}" (${a.mountpoint || `subvolume ${a.subvolume ?? '?'}`} on ${c.device})`;
    const dropped = stacks.disksUnder(c.device).filter((d) => sources.droppedDisks.has(d));
    if (dropped.length > 0) {
      throw invalid(`dropping ${dropped.join(' and ')} leaves ${what} with nowhere to go: map ${dropped.length > 1 ? 'them' : 'it'} to a target disk instead`, { disk: dropped[0], archive: a.id });
    }
    throw invalid(`${what} is on a device that is not a partition, disk, md array or LVM volume of the image's layout: the restore does not know what to make it on`, { device: c.device, archive: a.id });
  }
}
