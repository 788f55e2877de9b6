import { LifeboatError } from '../../../core/errors.js';
import { formatBytes } from '../../../core/sizes.js';
import type { Disk, Layout } from '../../layout/model.js';
import type { PlanEdits } from '../plan-edits.js';
import { invalid } from './source-contents.js';
import { list } from './check-input.js';
import { compareDevicePaths } from './device-paths.js';
import type { TargetDisk } from './types.js';

/**
 * Which source disk goes onto which target disk: the operator's disk map first, then the
 * remaining targets in kernel order; dropped disks and disks holding nothing are left out.
 */

/** Source disks the plan has to place: those with a table, or a filesystem, swap, RAID member or PV on the whole disk. */
export function sourceDisksOf(layout: Layout, wholeDiskContent: (d: Disk) => boolean): { disks: Disk[]; empty: Disk[] } {
  const sorted = [...layout.disks].sort((a, b) => compareDevicePaths(a.path, b.path));
  return {
    disks: sorted.filter((d) => d.table !== null || wholeDiskContent(d)),
    empty: sorted.filter((d) => d.table === null && !wholeDiskContent(d)),
  };
}

export interface Mapping {
  pairs: Array<{ source: Disk; target: TargetDisk }>;
  dropped: Array<{ path: string; why: string }>;
  untouched: Array<{ path: string; bytes: number; why: string }>;
}

export function mapDisks(sources: Disk[], empty: Disk[], targets: TargetDisk[], edits: PlanEdits): Mapping {
  const sourcePaths = sources.map((d) => d.path);
  const allSourcePaths = [...sourcePaths, ...empty.map((d) => d.path)];
  const targetByPath = new Map(targets.map((t) => [t.path, t]));
  const diskMap = edits.diskMap ?? {};
  const drop = new Set(edits.dropDisks ?? []);
  for (const d of drop) {
    if (!allSourcePaths.includes(d)) throw invalid(`cannot drop ${d}: it is not a disk of the image (its disks: ${list(allSourcePaths)})`);
    if (d in diskMap) throw invalid(`${d} is both mapped to ${diskMap[d]} and dropped: choose one`);
  }
  const used = new Map<string, string>();
  for (const [s, t] of Object.entries(diskMap)) {
    if (!allSourcePaths.includes(s)) throw invalid(`the disk map names ${s}, which is not a disk of the image (its disks: ${list(allSourcePaths)})`);
    if (!sourcePaths.includes(s)) throw invalid(`the disk map names ${s}, which holds no partition table, filesystem or swap: there is nothing of it to restore`);
    if (!targetByPath.has(t)) throw invalid(`the disk map sends ${s} to ${t}, which is not a disk of this machine (its disks: ${list(targets.map((x) => x.path))})`);
    if (used.has(t)) throw invalid(`the disk map sends both ${used.get(t)} and ${s} to ${t}: each target disk takes one source disk`);
    used.set(t, s);
  }
  const remaining = [...targets].sort((a, b) => compareDevicePaths(a.path, b.path)).filter((t) => !used.has(t.path));
  const pairs: Mapping['pairs'] = [];
  const missing: Disk[] = [];
  for (const source of sources) {
    if (drop.has(source.path)) continue;
    const mapped = diskMap[source.path];
    const target = mapped ? targetByPath.get(mapped) : remaining.shift();
    if (target) pairs.push({ source, target });
    else missing.push(source);
  }
  if (missing.length > 0) {
    const wanted = sources.filter((s) => !drop.has(s.path));
    throw new LifeboatError(
      'LB_DOES_NOT_FIT',
      `the image has ${wanted.length} disks to restore (${wanted.map((d) => `${d.path} ${formatBytes(d.size)}`).join(', ')}) but this machine has ${targets.length} ` +
        `(${targets.map((t) => `${t.path} ${formatBytes(t.size)}`).join(', ')}): nothing is left for ${missing.map((d) => d.path).join(', ')}; ` +
        `add a disk, or drop ${missing.length > 1 ? 'them' : 'it'} from the plan (edits.dropDisks) if what ${missing.length > 1 ? 'they hold is' : 'it holds is'} not needed`,
      { missing: missing.map((d) => d.path) },
    );
  }
  const dropped = [
    ...[...drop].map((path) => ({ path, why: 'dropped by the operator' })),
    ...empty.filter((d) => !drop.has(d.path)).map((d) => ({ path: d.path, why: 'holds no partition table, filesystem or swap' })),
  ];
  const mappedTargets = new Set(pairs.map((p) => p.target.path));
  const untouched = targets
    .filter((t) => !mappedTargets.has(t.path))
    .sort((a, b) => compareDevicePaths(a.path, b.path))
    .map((t) => ({ path: t.path, bytes: t.size, why: 'no source disk maps to it; it is not read or written' }));
  return { pairs, dropped, untouched };
}
