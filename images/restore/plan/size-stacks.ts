import { LifeboatError } from '../../../core/errors.js';
import { formatBytes } from '../../../core/sizes.js';
import { PV_DATA_START_BYTES, allocateExtents, type LvSegment } from '../lvm-volumes.js';
import { MD_LEVELS, mdArrayBytes, mdadmLayoutOption } from '../md-geometry.js';
import { alignDown, alignUp, sizeSlots, type SizingPolicy, type Slot } from '../sizing.js';
import { describeContent, fsName, mountpointOf, needOf, type Content } from './source-contents.js';
import { editedTooSmall } from './does-not-fit.js';
import { lvLabel, stripeUnit, type Stacks, type SurvivingVg } from './survive-stacks.js';
import type { PlannedLv, PlannedLvm, PlannedMdArray, PlannedPv } from './types.js';

/**
 * Pass 3 of the stacks (see survive-stacks.ts), top-down once the partitions are sized: each
 * array from its members, each VG from its PVs, each LV within its VG by the same policies as
 * partitions (sizing.ts, in extents).
 */

export interface StackSizing {
  stacks: Stacks;
  contents: Map<string, Content>;
  /** Source → target device, and its bytes there, of every partition and whole disk planned. */
  devices: Map<string, string>;
  bytesOf: Map<string, number>;
  policy: SizingPolicy;
  /** "VG/LV" → the operator's size. */
  lvSizes: Record<string, number>;
  workDir: string;
  holds: (device: string) => string;
}

export interface SizedStacks {
  md: PlannedMdArray[];
  lvm: PlannedLvm;
  /** `devices` and `bytesOf` of the input, with every array and LV added. */
  devices: Map<string, string>;
  bytesOf: Map<string, number>;
  notes: string[];
}

export function sizeStacks(o: StackSizing): SizedStacks {
  const arrays = sizeArrays(o);
  const lvm: PlannedLvm = { pvs: [], vgs: [], lvs: [] };
  const devices = new Map(arrays.devices);
  const bytesOf = new Map(arrays.bytesOf);
  // In VG order: a PV on an LV of an earlier VG finds that LV's size.
  for (const vg of o.stacks.vgs) {
    const sized = sizeVg({ ...o, devices, bytesOf }, vg);
    lvm.pvs.push(...sized.pvs);
    lvm.vgs.push(sized.vg);
    lvm.lvs.push(...sized.lvs);
    for (const l of sized.lvs) {
      devices.set(l.source, l.device);
      bytesOf.set(l.source, l.bytes);
    }
  }
  return { md: arrays.md, lvm, devices, bytesOf, notes: arrays.notes };
}

function sizeArrays({ stacks, devices: diskDevices, bytesOf: diskBytes, holds }: StackSizing): Pick<SizedStacks, 'md' | 'devices' | 'bytesOf' | 'notes'> {
  const devices = new Map(diskDevices);
  const bytesOf = new Map(diskBytes);
  const notes: string[] = [];
  const md: PlannedMdArray[] = [];
  for (const a of stacks.arrays) {
    const members = a.active.map((m) => devices.get(m)!);
    const spares = a.spares.map((m) => devices.get(m)!);
    const sizes = a.active.map((m) => bytesOf.get(m)!);
    const bytes = mdArrayBytes(a.shape, sizes);
    if (Math.max(...sizes) - Math.min(...sizes) > 1024 * 1024) {
      notes.push(`the members of ${a.md.device} get different sizes on these disks (${sizes.map(formatBytes).join(', ')}): the array uses ${formatBytes(Math.min(...sizes))} of each`);
    }
    const [homehost, short] = a.md.name?.includes(':') ? [a.md.name.slice(0, a.md.name.indexOf(':')), a.md.name.slice(a.md.name.indexOf(':') + 1)] : [undefined, a.md.name];
    const layout = mdadmLayoutOption(a.level, a.md.layout);
    const p: PlannedMdArray = {
      source: a.md.device, device: a.device, level: a.level, uuid: a.md.uuid, metadata: a.md.metadata,
      members, spares, sourceMembers: [...a.active, ...a.spares], raidDevices: members.length, sourceRaidDevices: a.md.raidDevices,
      force: members.length === 1, bytes, sourceBytes: a.md.size,
      sync: MD_LEVELS[a.level]!.redundant && members.length > 1 ? 'resync' : 'none',
      holds: holds(a.device),
    };
    if (a.md.metadata !== '0.90') {
      if (short) p.name = short;
      if (homehost) p.homehost = homehost;
    }
    if (MD_LEVELS[a.level]!.usesChunk && a.md.chunkSize) p.chunkSize = a.md.chunkSize;
    if (layout) p.layout = layout;
    md.push(p);
    devices.set(a.device, a.device);
    bytesOf.set(a.device, bytes);
  }

  return { md, devices, bytesOf, notes };
}

/** The slot of each LV: the operator's size, fixed (nothing restored in it), or sized by the policy. */
function lvSlots({ contents, lvSizes }: StackSizing, vg: SurvivingVg): Slot[] {
  return vg.lvs.map((l) => {
    const unit = stripeUnit(vg, l);
    const edited = lvSizes[lvLabel(l.lv)];
    if (edited !== undefined) {
      const bytes = alignDown(edited, unit);
      const c = contents.get(l.device);
      if (c && (c.kind === 'filesystem' || c.kind === 'swap')) {
        const need = needOf(c, l.lv.size);
        // A filesystem's or swap's need is never 'stacked': the message gives used + headroom.
        if (bytes < need.bytes) throw editedTooSmall({ subject: `LV ${lvLabel(l.lv)}`, bytes, what: fsName(c), need, details: { lv: lvLabel(l.lv) } });
      }
      return { kind: 'gpt', mode: 'edited', sourceBytes: l.lv.size, bytes, minimumBytes: bytes };
    }
    const c = contents.get(l.device);
    if (!c || (c.kind !== 'filesystem' && c.kind !== 'swap')) return { kind: 'gpt', mode: 'fixed', sourceBytes: l.lv.size, bytes: alignUp(l.lv.size, unit), minimumBytes: 0 };
    const need = needOf(c, l.lv.size);
    return { kind: 'gpt', mode: 'resizable', sourceBytes: l.lv.size, bytes: 0, minimumBytes: alignUp(need.bytes, unit), growable: c.kind === 'filesystem' && mountpointOf(c) !== '/boot' };
  });
}

function sizeVg(o: StackSizing, vg: SurvivingVg): { pvs: PlannedPv[]; vg: PlannedLvm['vgs'][number]; lvs: PlannedLv[] } {
  const { contents, devices, bytesOf } = o;
  const pvs: PlannedPv[] = vg.pvs.map((p) => {
    const bytes = bytesOf.get(p.device)!;
    const extents = Math.max(0, Math.floor((bytes - PV_DATA_START_BYTES) / vg.extentSize));
    return { source: p.device, device: devices.get(p.device)!, uuid: p.uuid, vg: vg.name, bytes, extents };
  });
  const extents = pvs.reduce((s, p) => s + p.extents, 0);
  const room = extents * vg.extentSize;
  const slots = lvSlots(o, vg);
  const area = (end: number) => ({ startBytes: 0, endBytes: end, unaddressableBytes: 0 });
  const sized = sizeSlots(slots, o.policy, { area: area(room), sectorSize: 512 }, { area: area(Math.max(vg.sourceBytes, 1)), sectorSize: 512 }, vg.extentSize);
  const items = vg.lvs.flatMap((l, i) => {
    const c = contents.get(l.device);
    return slots[i]!.mode === 'resizable' && c && (c.kind === 'filesystem' || c.kind === 'swap') ? [{ c, need: needOf(c, l.lv.size), short: !sized.ok && sized.short.includes(i) }] : [];
  });
  const refuse = (why: string): never => {
    const culprits = items.some((x) => x.short) ? items.filter((x) => x.short) : items;
    const named = culprits.map((x) => `${fsName(x.c)} needs ${formatBytes(x.need.bytes)} (${formatBytes(x.need.usedBytes)} used + ${formatBytes(x.need.headroomBytes)} headroom)`).join('; ');
    throw new LifeboatError(
      'LB_DOES_NOT_FIT',
      `the logical volumes of ${vg.name} do not fit in the ${formatBytes(room)} its PVs (${pvs.map((p) => `${p.device} ${formatBytes(p.bytes)}`).join(', ')}) offer on these disks: ${why}${named ? `; ${named}` : ''}: use bigger disks, or free space on the source and archive it again`,
      { vg: vg.name },
    );
  };
  if (!sized.ok) refuse(sized.room < 0 ? `the LVs that keep their size need ${formatBytes(sized.fixedBytes)}` : 'their needs add up to more');
  const bytes = vg.lvs.map((l, i) => {
    const unit = stripeUnit(vg, l);
    return slots[i]!.mode === 'resizable' ? Math.max(alignDown(sized.ok ? sized.bytes[i]! : 0, unit), slots[i]!.minimumBytes) : slots[i]!.bytes;
  });
  const allocation = allocateExtents(
    pvs.map((p) => ({ device: p.device, extents: p.extents })),
    vg.lvs.map((l, i) => ({ key: l.device, extents: bytes[i]! / vg.extentSize, stripes: l.stripes, preferred: l.onPvs.map((d) => devices.get(d)).filter((d): d is string => d !== undefined) })),
  );
  if (!allocation.ok) {
    const l = vg.lvs.find((x) => x.device === allocation.key)!;
    refuse(`LV ${lvLabel(l.lv)} cannot be placed: ${allocation.reason}`);
  }
  const segments = allocation.ok ? allocation.segments : new Map<string, LvSegment[]>();
  const lvs = vg.lvs.map((l, i) => {
    const planned: PlannedLv = {
      name: l.lv.name, vg: vg.name, uuid: l.lv.uuid, source: l.device, device: l.device, bytes: bytes[i]!, sourceBytes: l.lv.size,
      extents: bytes[i]! / vg.extentSize, sizing: sized.ok ? sized.rules[i]! : 'fixed', stripes: l.stripes, segments: segments.get(l.device) ?? [],
      holds: describeContent(contents.get(l.device)),
    };
    if (l.stripeSize) planned.stripeSize = l.stripeSize;
    return planned;
  });
  const planned = { name: vg.name, uuid: vg.uuid, extentSize: vg.extentSize, extents, bytes: room, sourceBytes: vg.sourceBytes, metadataFile: `${o.workDir}/lvm/${vg.name}.vg` };
  return { pvs, vg: planned, lvs };
}
