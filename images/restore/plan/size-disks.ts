import type { Disk } from '../../layout/model.js';
import type { Stacks } from './survive-stacks.js';
import { planDisk, type DiskOptions } from './partition-disk.js';
import type { PlannedDisk, TargetDisk } from './types.js';

/**
 * The disks stage: every mapped source disk planned onto its target, then the members of each md
 * array brought to one size.
 */

export interface DiskSizing extends Omit<DiskOptions, 'source' | 'target'> {
  pairs: Array<{ source: Disk; target: TargetDisk }>;
}

export interface SizedDisks {
  disks: PlannedDisk[];
  /** Source device → target device, and its size there, for every partition and whole disk planned. */
  devices: Map<string, string>;
  bytesOf: Map<string, number>;
  notes: string[];
}

export function sizeDisks(o: DiskSizing): SizedDisks {
  const plans = o.pairs.map(({ source, target }) => planDisk({ ...o, source, target }));
  return {
    disks: plans.map((p) => p.disk),
    devices: new Map(plans.flatMap((p) => [...p.devices])),
    bytesOf: new Map(plans.flatMap((p) => [...p.bytesOf])),
    notes: plans.flatMap((p) => p.notes),
  };
}

export interface Equalising {
  stacks: Stacks;
  /** The disks as sized with the operator's sizes. */
  sized: SizedDisks;
  /** How they were sized (`sizes` are the operator's). */
  sizing: DiskSizing;
  /** Every partition of the source disks → its disk. */
  partitionPaths: Map<string, string>;
}

/**
 * Members of one array end up different when their disks hold different things (a mirror of a
 * system disk on an otherwise empty disk): md would use the smallest of each anyway, so the bigger
 * ones are cut to it (sizing rule 'matched') and the disks are sized again with those sizes fixed,
 * which gives their disks' other partitions the difference. The answer is `sized` itself when no
 * member is cut; otherwise the disks sized again, with the notes of that sizing.
 */
export function equaliseMembers({ stacks, sized, sizing, partitionPaths }: Equalising): SizedDisks {
  const cut: Record<string, number> = {};
  for (const a of stacks.arrays) {
    const members = [...a.active, ...a.spares];
    const smallest = Math.min(...members.map((m) => sized.bytesOf.get(m)!));
    for (const m of members) if (partitionPaths.has(m) && sizing.sizes[m] === undefined && sized.bytesOf.get(m)! > smallest) cut[m] = smallest;
  }
  if (Object.keys(cut).length === 0) return { ...sized, notes: [] };
  return sizeDisks({ ...sizing, sizes: { ...cut, ...sizing.sizes }, matched: new Set(Object.keys(cut)) });
}
