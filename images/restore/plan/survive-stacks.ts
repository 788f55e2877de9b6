import type { Layout, Lvm, MdArray } from '../../layout/model.js';
import { lvMapperPath } from '../lvm-volumes.js';
import { MD_LEVELS, normaliseLevel, raid10Copies, type MdShape } from '../md-geometry.js';
import { invalid } from './source-contents.js';

/**
 * The layers between partitions and filesystems: md RAID arrays and LVM (PVs on partitions,
 * whole disks or arrays; VGs; linear and striped LVs), planned in three passes:
 * survive (this file), needs (stack-needs.ts) and sizes (size-stacks.ts).
 *
 * 1. survive: which arrays and volume groups the restored disks still carry. A RAID member on a
 *    dropped disk makes the array smaller (a RAID1 loses a mirror, a RAID5 a member), never
 *    degraded; a VG keeps the PVs that remain and gets its LVs laid out again on them.
 * 2. needs, bottom-up: what each LV's filesystem needs, what that makes each PV need, what an
 *    array holding a PV needs, and so what each member partition needs, for the disk sizing.
 * 3. sizes, top-down, once the partitions are sized: each array from its members, each VG from its
 *    PVs, each LV within its VG by the same policies as partitions (sizing.ts, in extents).
 *
 * Why a one-device RAID1 rather than a degraded two-device one when the mirror's disk is dropped:
 * a degraded array is reported as failed by mdadm --monitor, and initramfs scripts (Debian's among
 * them) start a degraded root array only after a timeout, or not at all unless told to; a
 * one-device RAID1 is clean, boots at once, and becomes a mirror again with one command
 * (mdadm --grow /dev/mdN --raid-devices=2 --add NEWDEV). The array UUID and name are kept either
 * way, so the restored system's mdadm.conf and initramfs assemble it unchanged.
 */

export type Lv = Lvm['lvs'][number];

export interface SurvivingArray {
  md: MdArray;
  device: string;
  level: string;
  shape: MdShape;
  /** Source members in slot order, then spares, on restored disks. */
  active: string[];
  spares: string[];
  lost: string[];
}

export interface SurvivingLv {
  lv: Lv;
  device: string;
  stripes: number;
  stripeSize?: number;
  /** Source PVs it was on, in order of use. */
  onPvs: string[];
}

export interface SurvivingVg {
  name: string;
  uuid: string;
  extentSize: number;
  sourceBytes: number;
  pvs: Array<{ device: string; uuid: string; sourceBytes: number }>;
  lostPvs: string[];
  lvs: SurvivingLv[];
}

export interface Stacks {
  arrays: SurvivingArray[];
  vgs: SurvivingVg[];
  /** Source devices that exist on the restored disks once the stacks are built (arrays, LVs). */
  devices: Set<string>;
  /** Source disks each device is built on (through arrays and VGs), for messages and the bootloader. */
  disksUnder: (device: string) => string[];
}

const SUPPORTED_SEGTYPES = new Set(['linear', 'striped']);
const SKIPPED_SEGTYPES = new Set(['snapshot']);

export function lvLabel(lv: Lv): string {
  return `${lv.vg}/${lv.name}`;
}

/** An LV's stripe unit: what its size is a multiple of. */
export function stripeUnit(vg: SurvivingVg, l: SurvivingLv): number {
  return vg.extentSize * l.stripes;
}

/** "/dev/md1(0)" → ["/dev/md1", 0]. */
function segmentDevice(entry: string): [string, number] {
  const m = /^(.*)\((\d+)\)$/.exec(entry);
  return m ? [m[1]!, Number(m[2])] : [entry, 0];
}

function diskOfDevice(layout: Layout, device: string): string | undefined {
  for (const d of layout.disks) {
    if (d.path === device || d.table?.partitions.some((p) => p.path === device)) return d.path;
  }
  return undefined;
}

/** The source disks each device is built on, through arrays and VGs (remembered once worked out). */
function disksUnderOf(layout: Layout, name: (p: string) => string): (device: string) => string[] {
  const arrayDevices = new Set(layout.md.map((m) => name(m.device)));
  const lvDevices = new Set(layout.lvm.lvs.map((l) => lvMapperPath(l.vg, l.name)));
  const under = new Map<string, string[]>();
  const disksUnder = (device: string, seen = new Set<string>()): string[] => {
    if (under.has(device)) return under.get(device)!;
    if (seen.has(device)) return [];
    seen.add(device);
    let out: string[] = [];
    const disk = diskOfDevice(layout, device);
    if (disk) out = [disk];
    else if (arrayDevices.has(device)) {
      const md = layout.md.find((m) => name(m.device) === device)!;
      out = md.members.flatMap((m) => disksUnder(name(m.device), seen));
    } else if (lvDevices.has(device)) {
      const lv = layout.lvm.lvs.find((l) => lvMapperPath(l.vg, l.name) === device)!;
      out = layout.lvm.pvs.filter((p) => p.vg === lv.vg).flatMap((p) => disksUnder(name(p.device), seen));
    }
    out = [...new Set(out)].sort();
    under.set(device, out);
    return out;
  };
  return (d) => disksUnder(d);
}

export interface SurviveOptions {
  layout: Layout;
  name: (p: string) => string;
  /** The source partitions and disks that get a target. */
  restored: Set<string>;
}

/**
 * Which arrays and VGs the restored disks carry. `restored` holds the source partitions and disks
 * that get a target. Refuses what cannot be built: a level below its member minimum, an array
 * over arrays or LVs, LV types other than linear and striped.
 */
export function surviveStacks({ layout, name, restored }: SurviveOptions): { stacks: Stacks; notes: string[] } {
  const disksUnder = disksUnderOf(layout, name);
  const arrays = surviveArrays(layout, name, restored, disksUnder);
  const vgs = surviveVgs(layout, name, new Set([...restored, ...arrays.arrays.map((a) => a.device)]));
  const devices = new Set<string>([...arrays.arrays.map((a) => a.device), ...vgs.vgs.flatMap((v) => v.lvs.map((l) => l.device))]);
  return { stacks: { arrays: arrays.arrays, vgs: vgs.vgs, devices, disksUnder }, notes: [...arrays.notes, ...vgs.notes] };
}

function surviveArrays(layout: Layout, name: (p: string) => string, present: Set<string>, disksUnder: (device: string) => string[]): { arrays: SurvivingArray[]; notes: string[] } {
  const arrayDevices = new Set(layout.md.map((m) => name(m.device)));
  const lvDevices = new Set(layout.lvm.lvs.map((l) => lvMapperPath(l.vg, l.name)));
  const sortedMd = [...layout.md].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
  const arrays: SurvivingArray[] = [];
  const notes: string[] = [];
  for (const md of sortedMd) {
    const device = name(md.device);
    const members = md.members.map((m) => ({ device: name(m.device), slot: m.slot }));
    const here = members.filter((m) => present.has(m.device));
    const stacked = members.filter((m) => arrayDevices.has(m.device) || lvDevices.has(m.device));
    if (stacked.length > 0) {
      throw invalid(`md array ${md.device} is built on ${stacked.map((m) => m.device).join(', ')}: arrays over other arrays or over LVM are not restored by Lifeboat; build it by hand, or drop the disks that carry it`, { md: md.device });
    }
    if (here.length === 0) continue;
    const level = normaliseLevel(md.level);
    if (!level || !/^(0\.90|1(\.[012])?)$/.test(md.metadata)) {
      throw invalid(
        `md array ${md.device} is ${md.level} with ${md.metadata} metadata: Lifeboat recreates md RAID linear, 0, 1, 4, 5, 6 and 10 with 0.90 or 1.x metadata; ` +
          'firmware RAID (imsm, ddf) and containers are not restored; build it by hand, or drop the disks that carry it',
        { md: md.device, level: md.level, metadata: md.metadata },
      );
    }
    const shape: MdShape = { level, metadata: md.metadata, chunkBytes: md.chunkSize ?? 0, ...(md.layout ? { layout: md.layout } : {}) };
    const active = here.filter((m) => m.slot >= 0).sort((a, b) => a.slot - b.slot).map((m) => m.device);
    const spares = here.filter((m) => m.slot < 0).map((m) => m.device);
    const minimum = level === 'raid10' ? Math.max(MD_LEVELS.raid10!.minDevices, raid10Copies(md.layout)) : MD_LEVELS[level]!.minDevices;
    // A spare steps in for a member that is not restored, as md itself would rebuild onto it.
    while (active.length < Math.min(minimum, md.raidDevices) && spares.length > 0) active.push(spares.shift()!);
    if (active.length < minimum) {
      const lostDisks = [...new Set(members.filter((m) => !present.has(m.device)).flatMap((m) => disksUnder(m.device)))];
      throw invalid(
        `md array ${md.device} (${level}) keeps ${active.length} of its ${md.raidDevices} members on the restored disks, and ${level} needs at least ${minimum}: ` +
          `map ${lostDisks.length > 0 ? lostDisks.join(', ') : 'the disks holding its members'} to target disks`,
        { md: md.device },
      );
    }
    const lost = members.filter((m) => !present.has(m.device)).map((m) => m.device);
    arrays.push({ md, device, level, shape, active, spares, lost });
    const note = shrunkArrayNote(md, level, active.length, lost);
    if (note) notes.push(note);
  }
  return { arrays, notes };
}

/** Why an array is made with fewer members than the source had, or undefined when it is not. */
function shrunkArrayNote(md: MdArray, level: string, active: number, lost: string[]): string | undefined {
  if (active >= md.raidDevices) return undefined;
  const missingAtSource = md.raidDevices - md.members.filter((m) => m.slot >= 0).length;
  const why = [
    lost.length > 0 ? `${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} on ${lost.length === 1 ? 'a dropped disk' : 'dropped disks'}` : '',
    missingAtSource > 0 ? `${missingAtSource} slot${missingAtSource === 1 ? ' was' : 's were'} empty on the source` : '',
  ].filter(Boolean).join('; ');
  const what = level === 'raid1'
    ? active === 1
      ? 'a one-device RAID1 (clean, not degraded; mdadm --grow --raid-devices=2 --add makes it a mirror again)'
      : `a RAID1 of ${active} mirrors`
    : `a ${level} of ${active} members`;
  return `${md.device} (${level}, ${md.raidDevices} members on the source) is made as ${what}: ${why}; its UUID ${md.uuid} is kept, so the restored system assembles it as before`;
}

/** The VGs with a PV among `present`, in name order; an LV's device is present for the VGs after it. */
function surviveVgs(layout: Layout, name: (p: string) => string, restored: Set<string>): { vgs: SurvivingVg[]; notes: string[] } {
  const present = new Set(restored);
  const vgs: SurvivingVg[] = [];
  const notes: string[] = [];
  for (const vg of [...layout.lvm.vgs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const survived = surviveVg(layout, name, vg, present);
    if (!survived) continue;
    notes.push(...survived.notes);
    vgs.push(survived.vg);
    for (const l of survived.vg.lvs) present.add(l.device);
  }
  return { vgs, notes };
}

function surviveVg(layout: Layout, name: (p: string) => string, vg: Lvm['vgs'][number], present: Set<string>): { vg: SurvivingVg; notes: string[] } | undefined {
  const pvs = layout.lvm.pvs.filter((p) => p.vg === vg.name).map((p) => ({ device: name(p.device), uuid: p.uuid, sourceBytes: p.size }));
  const kept = pvs.filter((p) => present.has(p.device));
  if (kept.length === 0) return undefined;
  const lostPvs = pvs.filter((p) => !present.has(p.device)).map((p) => p.device);
  const { lvs, notes } = surviveLvs({ layout, name, vg: vg.name, keptPvs: kept.length, lostPvs });
  // Source order of the LVs on their PVs: the first LV on the first PV comes first ("last" for grow-last is the last one there).
  const pvOrder = new Map(pvs.map((p, i) => [p.device, i]));
  const position = (l: SurvivingLv) => {
    const first = l.lv.segments?.[0]?.devices[0];
    if (!first) return Number.MAX_SAFE_INTEGER;
    const [dev, extent] = segmentDevice(first);
    return (pvOrder.get(name(dev)) ?? pvs.length) * 1e12 + extent;
  };
  lvs.sort((a, b) => position(a) - position(b));
  if (lostPvs.length > 0) notes.push(`volume group ${vg.name} is rebuilt on ${kept.map((p) => p.device).join(', ')} without ${lostPvs.join(', ')} (on dropped disks): its LVs are laid out again on what remains`);
  return { vg: { name: vg.name, uuid: vg.uuid, extentSize: vg.extentSize, sourceBytes: vg.size, pvs: kept, lostPvs, lvs }, notes };
}

/** The LVs of a VG that are made again: snapshots skipped, types other than linear and striped refused. */
function surviveLvs({ layout, name, vg, keptPvs, lostPvs }: { layout: Layout; name: (p: string) => string; vg: string; keptPvs: number; lostPvs: string[] }): { lvs: SurvivingLv[]; notes: string[] } {
  const lvs: SurvivingLv[] = [];
  const notes: string[] = [];
  const unsupported: string[] = [];
  for (const lv of layout.lvm.lvs.filter((l) => l.vg === vg)) {
    const segtypes = [...new Set((lv.segments ?? []).map((s) => s.segtype).concat(lv.segments?.length ? [] : [lv.segtype]))];
    if (segtypes.some((t) => SKIPPED_SEGTYPES.has(t))) {
      notes.push(`LV ${lvLabel(lv)} is a snapshot: snapshots are history, not the system, and are not recreated`);
      continue;
    }
    const bad = segtypes.filter((t) => !SUPPORTED_SEGTYPES.has(t));
    if (bad.length > 0) {
      unsupported.push(`${lvLabel(lv)} (${bad.join(', ')})`);
      continue;
    }
    const stripeCounts = new Set((lv.segments ?? []).map((s) => s.stripes ?? 1).concat(lv.segments?.length ? [] : [lv.stripes ?? 1]));
    let stripes = stripeCounts.size === 1 ? [...stripeCounts][0]! : 1;
    if (stripeCounts.size > 1) notes.push(`LV ${lvLabel(lv)} has segments with different stripe counts (${[...stripeCounts].join(', ')}): it is recreated linear`);
    const onPvs = [...new Set((lv.segments ?? []).flatMap((s) => s.devices.map((d) => name(segmentDevice(d)[0]))))];
    if (stripes > keptPvs) {
      throw invalid(
        `LV ${lvLabel(lv)} is striped over ${stripes} PVs and only ${keptPvs} of volume group ${vg}'s PVs are restored (${lostPvs.join(', ')} ${lostPvs.length === 1 ? 'is' : 'are'} on dropped disks): map those disks to target disks`,
        { lv: lvLabel(lv) },
      );
    }
    if (stripes < 1) stripes = 1;
    const stripeSize = lv.stripeSize ?? lv.segments?.find((s) => s.stripeSize)?.stripeSize;
    lvs.push({ lv, device: lvMapperPath(lv.vg, lv.name), stripes, ...(stripes > 1 && stripeSize ? { stripeSize } : {}), onPvs });
  }
  if (unsupported.length > 0) {
    throw invalid(
      `volume group ${vg} holds ${unsupported.join(', ')}: Lifeboat recreates linear and striped LVs only (thin pools, LVM RAID, mirrors, caches and VDO are not); ` +
        `recreate those by hand and restore their filesystems with the image tools, or drop the disks that carry ${vg}`,
      { vg, lvs: unsupported },
    );
  }
  return { lvs, notes };
}
