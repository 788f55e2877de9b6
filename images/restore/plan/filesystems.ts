import type { Disk, Layout } from '../../layout/model.js';
import { describeContent, mountpointOf, needOf, type Content } from './source-contents.js';
import { subvolumesToCreate } from './btrfs-subvolumes.js';
import { compareDevicePaths } from './device-paths.js';
import type { PlannedFilesystem, PlannedLvm, PlannedMdArray, PlannedSwap } from './types.js';

/**
 * The filesystems stage: a filesystem or swap for every content that got a device on the target,
 * in device order, with notes on what is created empty, left unformatted or left behind.
 */

export interface FilesystemPlanning {
  layout: Layout;
  name: (path: string) => string;
  contents: Map<string, Content>;
  sourceDisks: Disk[];
  /** Source → target device, and its bytes there, for every partition, disk, array and LV planned. */
  devices: Map<string, string>;
  bytesOf: Map<string, number>;
  md: PlannedMdArray[];
  lvm: PlannedLvm;
  disksUnder: (device: string) => string[];
  droppedDisks: Set<string>;
}

export interface PlannedFilesystems {
  filesystems: PlannedFilesystem[];
  swaps: PlannedSwap[];
  notes: string[];
}

export function planFilesystems(o: FilesystemPlanning): PlannedFilesystems {
  const filesystems: PlannedFilesystem[] = [];
  const swaps: PlannedSwap[] = [];
  const notes: string[] = [];
  for (const c of o.contents.values()) {
    if (c.kind === 'md-member' || c.kind === 'pv') continue;
    const device = o.devices.get(c.device);
    if (!device) {
      if (c.kind !== 'unsupported' && !(c.kind === 'filesystem' && c.archives.length > 0)) {
        const onDropped = o.disksUnder(c.device).some((d) => o.droppedDisks.has(d));
        if (onDropped) notes.push(`${describeContent(c)} on ${c.device} is on a dropped disk: not restored`);
      }
      continue;
    }
    const bytes = o.bytesOf.get(c.device)!;
    if (c.kind === 'swap') {
      const s: PlannedSwap = { source: c.device, device, bytes };
      if (c.swap.uuid) s.uuid = c.swap.uuid;
      if (c.swap.label) s.label = c.swap.label;
      swaps.push(s);
      continue;
    }
    if (c.kind === 'unsupported') {
      notes.push(`${c.device} held ${c.type}, which the restore cannot create: ${device} is left unformatted`);
      continue;
    }
    const planned = planFilesystem(o, c, device, bytes);
    notes.push(...planned.notes);
    filesystems.push(planned.filesystem);
  }
  filesystems.sort((a, b) => compareDevicePaths(a.device, b.device));
  swaps.sort((a, b) => compareDevicePaths(a.device, b.device));
  return { filesystems, swaps, notes };
}

function planFilesystem(o: FilesystemPlanning, c: Extract<Content, { kind: 'filesystem' }>, device: string, bytes: number): { filesystem: PlannedFilesystem; notes: string[] } {
  const fs = c.fs;
  const first = c.archives[0];
  const uuid = fs?.uuid ?? first?.uuid;
  const label = fs?.label ?? first?.label;
  const mountpoint = mountpointOf(c);
  const planned: PlannedFilesystem = {
    source: c.device, device, on: onOf(o, c.device), type: c.type, bytes, need: needOf(c, sourceBytesOf(o, c.device) ?? bytes), archives: c.archives.map((a) => a.id),
  };
  if (uuid) planned.uuid = uuid;
  if (label) planned.label = label;
  if (fs?.features && fs.features.length > 0) planned.features = [...fs.features];
  if (mountpoint) planned.mountpoint = mountpoint;
  const notes: string[] = [];
  if (c.type === 'btrfs') {
    const { subvolumes, notes: subvolumeNotes } = subvolumesToCreate(fs, c.archives);
    notes.push(...subvolumeNotes);
    if (subvolumes) planned.subvolumes = subvolumes;
  }
  if (c.archives.length === 0) notes.push(`${c.type} on ${device}${mountpoint ? ` (${mountpoint})` : ''} is created empty: the image holds no archive of it`);
  if (!uuid) notes.push(`${c.type} on ${device} has no UUID in the image: mkfs gives it a new one, so anything that names it by UUID must be updated`);
  return { filesystem: planned, notes };
}

/** What a device held on the source: a disk, partition, array or LV's size there. */
function sourceBytesOf({ sourceDisks, layout, name, lvm }: FilesystemPlanning, device: string): number | undefined {
  for (const d of sourceDisks) {
    if (d.path === device) return d.size;
    const p = d.table?.partitions.find((x) => x.path === device);
    if (p) return p.size * d.table!.sectorSize;
  }
  return layout.md.find((m) => name(m.device) === device)?.size ?? lvm.lvs.find((l) => l.source === device)?.sourceBytes;
}

function onOf({ sourceDisks, md, lvm }: FilesystemPlanning, device: string): PlannedFilesystem['on'] {
  return sourceDisks.some((d) => d.path === device) ? 'disk' : md.some((m) => m.source === device || m.device === device) ? 'md' : lvm.lvs.some((l) => l.source === device) ? 'lv' : 'partition';
}
