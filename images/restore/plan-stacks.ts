import { LifeboatError } from '../../core/errors.js';
import { formatBytes } from '../../core/sizes.js';
import type { Layout, Lvm, MdArray } from '../layout/model.js';
import { PV_DATA_START_BYTES, allocateExtents, lvMapperPath, type LvSegment } from './lvm-volumes.js';
import { MD_LEVELS, mdArrayBytes, mdMemberBytes, mdadmLayoutOption, normaliseLevel, raid10Copies, type MdShape } from './md-geometry.js';
import { alignDown, alignUp, sizeSlots, type Need, type SizeRule, type SizingPolicy, type Slot } from './sizing.js';
import { describeContent, fsName, invalid, mountpointOf, needOf, type Content } from './source-contents.js';

/**
 * The layers between partitions and filesystems: md RAID arrays and LVM (PVs on partitions,
 * whole disks or arrays; VGs; linear and striped LVs), planned in three passes.
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

export type MdSync = 'resync' | 'none';

export interface PlannedMdArray {
  /** The array on the source (also its name here: /dev/md0 is made as /dev/md0). */
  source: string;
  device: string;
  level: string;
  /** mdadm's form, xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx, kept so mdadm.conf and the initramfs find the array. */
  uuid: string;
  metadata: string;
  /** The name part of the array name ("0" of "web1:0"), and the homehost part. */
  name?: string;
  homehost?: string;
  chunkSize?: number;
  /** What mdadm --create --layout= takes ("n2", "left-symmetric"). */
  layout?: string;
  /** Target devices in slot order, then the spares. */
  members: string[];
  spares: string[];
  sourceMembers: string[];
  raidDevices: number;
  sourceRaidDevices: number;
  /** mdadm refuses a one-device RAID1 or RAID0 without --force. */
  force: boolean;
  /** A lower bound of the array's size: what LVM and mkfs may use. */
  bytes: number;
  sourceBytes: number;
  /** 'resync': a new redundant array syncs its members; the restore waits for it before stopping the array. */
  sync: MdSync;
  /** What it holds, for a reader. */
  holds: string;
}

export interface PlannedPv {
  source: string;
  device: string;
  uuid: string;
  vg: string;
  bytes: number;
  /** Extents of the VG's size on this PV. */
  extents: number;
}

export interface PlannedVg {
  name: string;
  uuid: string;
  extentSize: number;
  extents: number;
  bytes: number;
  sourceBytes: number;
  /** Where the generated metadata is written for vgcfgrestore on the rescue machine. */
  metadataFile: string;
}

export interface PlannedLv {
  name: string;
  vg: string;
  uuid: string;
  /** The LV on the source, as /dev/mapper/<vg>-<lv>. */
  source: string;
  /** The device node it gets here: /dev/mapper/<vg>-<lv>. */
  device: string;
  bytes: number;
  sourceBytes: number;
  extents: number;
  sizing: SizeRule;
  stripes: number;
  stripeSize?: number;
  segments: LvSegment[];
  holds: string;
}

export interface PlannedLvm {
  pvs: PlannedPv[];
  vgs: PlannedVg[];
  lvs: PlannedLv[];
}

type Lv = Lvm['lvs'][number];

interface SurvivingArray {
  md: MdArray;
  device: string;
  level: string;
  shape: MdShape;
  /** Source members in slot order, then spares, on restored disks. */
  active: string[];
  spares: string[];
  lost: string[];
}

interface SurvivingLv {
  lv: Lv;
  device: string;
  stripes: number;
  stripeSize?: number;
  /** Source PVs it was on, in order of use. */
  onPvs: string[];
}

interface SurvivingVg {
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

function lvLabel(lv: Lv): string {
  return `${lv.vg}/${lv.name}`;
}

/** "/dev/md1(0)" → ["/dev/md1", 0]. */
function segmentDevice(entry: string): [string, number] {
  const m = /^(.*)\((\d+)\)$/.exec(entry);
  return m ? [m[1]!, Number(m[2])] : [entry, 0];
}

/** Adds what md members and PVs are to the contents: a member or PV is that, whatever blkid also saw. */
export function addStackContents(layout: Layout, name: (p: string) => string, contents: Map<string, Content>, notes: string[]): void {
  for (const md of layout.md) {
    const array = name(md.device);
    for (const m of md.members) {
      const device = name(m.device);
      const was = contents.get(device);
      if (was && was.kind !== 'md-member') notes.push(`${m.device} is a member of ${md.device} and also shows ${describeContent(was)}: it is restored as the array member`);
      contents.set(device, { kind: 'md-member', device, array, slot: m.slot });
    }
  }
  for (const pv of layout.lvm.pvs) {
    if (!pv.vg) continue;
    const device = name(pv.device);
    const was = contents.get(device);
    if (was && was.kind !== 'pv') notes.push(`${pv.device} is an LVM PV of ${pv.vg} and also shows ${describeContent(was)}: it is restored as the PV`);
    contents.set(device, { kind: 'pv', device, vg: pv.vg, uuid: pv.uuid });
  }
}

function diskOfDevice(layout: Layout, device: string): string | undefined {
  for (const d of layout.disks) {
    if (d.path === device || d.table?.partitions.some((p) => p.path === device)) return d.path;
  }
  return undefined;
}

/**
 * Which arrays and VGs the restored disks carry. `restored` holds the source partitions and disks
 * that get a target. Refuses what cannot be built: a level below its member minimum, an array
 * over arrays or LVs, LV types other than linear and striped.
 */
export function surviveStacks(layout: Layout, name: (p: string) => string, restored: Set<string>, notes: string[]): Stacks {
  const arrays: SurvivingArray[] = [];
  const arrayDevices = new Set(layout.md.map((m) => name(m.device)));
  const lvDevices = new Set(layout.lvm.lvs.map((l) => lvMapperPath(l.vg, l.name)));
  const present = new Set(restored);
  const sortedMd = [...layout.md].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));

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
    present.add(device);
    if (active.length < md.raidDevices) {
      const missingAtSource = md.raidDevices - md.members.filter((m) => m.slot >= 0).length;
      const why = [
        lost.length > 0 ? `${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} on ${lost.length === 1 ? 'a dropped disk' : 'dropped disks'}` : '',
        missingAtSource > 0 ? `${missingAtSource} slot${missingAtSource === 1 ? ' was' : 's were'} empty on the source` : '',
      ].filter(Boolean).join('; ');
      const what = level === 'raid1'
        ? active.length === 1
          ? 'a one-device RAID1 (clean, not degraded; mdadm --grow --raid-devices=2 --add makes it a mirror again)'
          : `a RAID1 of ${active.length} mirrors`
        : `a ${level} of ${active.length} members`;
      notes.push(`${md.device} (${level}, ${md.raidDevices} members on the source) is made as ${what}: ${why}; its UUID ${md.uuid} is kept, so the restored system assembles it as before`);
    }
  }

  const vgs: SurvivingVg[] = [];
  for (const vg of [...layout.lvm.vgs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const pvs = layout.lvm.pvs.filter((p) => p.vg === vg.name).map((p) => ({ device: name(p.device), uuid: p.uuid, sourceBytes: p.size }));
    const kept = pvs.filter((p) => present.has(p.device));
    if (kept.length === 0) continue;
    const lostPvs = pvs.filter((p) => !present.has(p.device)).map((p) => p.device);
    const lvs: SurvivingLv[] = [];
    const unsupported: string[] = [];
    for (const lv of layout.lvm.lvs.filter((l) => l.vg === vg.name)) {
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
      if (stripes > kept.length) {
        throw invalid(
          `LV ${lvLabel(lv)} is striped over ${stripes} PVs and only ${kept.length} of volume group ${vg.name}'s PVs are restored (${lostPvs.join(', ')} ${lostPvs.length === 1 ? 'is' : 'are'} on dropped disks): map those disks to target disks`,
          { lv: lvLabel(lv) },
        );
      }
      if (stripes < 1) stripes = 1;
      const stripeSize = lv.stripeSize ?? lv.segments?.find((s) => s.stripeSize)?.stripeSize;
      lvs.push({ lv, device: lvMapperPath(lv.vg, lv.name), stripes, ...(stripes > 1 && stripeSize ? { stripeSize } : {}), onPvs });
    }
    if (unsupported.length > 0) {
      throw invalid(
        `volume group ${vg.name} holds ${unsupported.join(', ')}: Lifeboat recreates linear and striped LVs only (thin pools, LVM RAID, mirrors, caches and VDO are not); ` +
          `recreate those by hand and restore their filesystems with the image tools, or drop the disks that carry ${vg.name}`,
        { vg: vg.name, lvs: unsupported },
      );
    }
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
    vgs.push({ name: vg.name, uuid: vg.uuid, extentSize: vg.extentSize, sourceBytes: vg.size, pvs: kept, lostPvs, lvs });
    for (const l of lvs) present.add(l.device);
  }
  const devices = new Set<string>([...arrays.map((a) => a.device), ...vgs.flatMap((v) => v.lvs.map((l) => l.device))]);
  return { arrays, vgs, devices, disksUnder: (d) => disksUnder(d) };
}

function stripeUnit(vg: SurvivingVg, l: SurvivingLv): number {
  return vg.extentSize * l.stripes;
}

export interface StackNeeds {
  /** Member partitions, PV partitions and whole disks: what each must hold. */
  byDevice: Map<string, Need>;
  /** Whether a partition holding this device's stack may take the rest of a disk under grow-last. */
  growable: (device: string) => boolean;
  /** "RAID1 member of /dev/md0 → LVM fxvg: ext4 /, xfs /home" */
  holds: (device: string) => string;
}

/** What each member and PV needs, from the filesystems on top (pass 2). */
export function stackNeeds(stacks: Stacks, contents: Map<string, Content>, lvSizes: Record<string, number>): StackNeeds {
  const byDevice = new Map<string, Need>();
  const pvNeed = new Map<string, Need>();
  const fixed = (bytes: number): Need => ({ bytes, usedBytes: 0, headroomBytes: 0, minimumBytes: bytes, reason: 'source-size' });
  const leafNeed = (device: string, sourceBytes: number): Need => {
    const c = contents.get(device);
    if (c?.kind === 'filesystem' || c?.kind === 'swap') return needOf(c, sourceBytes);
    if (c?.kind === 'pv') return pvNeed.get(device) ?? fixed(sourceBytes);
    return fixed(sourceBytes);
  };
  for (const vg of stacks.vgs) {
    let total = 0;
    let used = 0;
    for (const l of vg.lvs) {
      const unit = stripeUnit(vg, l);
      const edited = lvSizes[lvLabel(l.lv)];
      const need = edited !== undefined ? fixed(alignUp(edited, unit)) : leafNeed(l.device, l.lv.size);
      total += alignUp(need.bytes, unit);
      used += need.usedBytes;
    }
    const sourceTotal = vg.pvs.reduce((s, p) => s + p.sourceBytes, 0) || 1;
    for (const p of vg.pvs) {
      const share = Math.ceil((total * p.sourceBytes) / sourceTotal);
      // One extent more than the share: a PV's size is rounded down to whole extents.
      const bytes = PV_DATA_START_BYTES + alignUp(share, vg.extentSize) + vg.extentSize;
      const need: Need = { bytes, usedBytes: used, headroomBytes: 0, minimumBytes: bytes, reason: 'stacked' };
      pvNeed.set(p.device, need);
      byDevice.set(p.device, need);
    }
  }
  for (const a of stacks.arrays) {
    const arrayNeed = leafNeed(a.device, a.md.size);
    const member = mdMemberBytes(a.shape, a.active.length, arrayNeed.bytes);
    for (const m of [...a.active, ...a.spares]) byDevice.set(m, { bytes: member, usedBytes: arrayNeed.usedBytes, headroomBytes: 0, minimumBytes: member, reason: 'stacked' });
  }

  const arrayOf = new Map(stacks.arrays.flatMap((a) => [...a.active, ...a.spares].map((m) => [m, a] as const)));
  const vgOf = new Map(stacks.vgs.flatMap((v) => v.pvs.map((p) => [p.device, v] as const)));
  const leafGrowable = (device: string): boolean => {
    const c = contents.get(device);
    if (c?.kind === 'filesystem') return mountpointOf(c) !== '/boot';
    if (c?.kind === 'pv') return vgOf.get(device)?.lvs.some((l) => leafGrowable(l.device)) ?? false;
    return false;
  };
  const growable = (device: string): boolean => {
    const a = arrayOf.get(device);
    if (a) return leafGrowable(a.device);
    return leafGrowable(device);
  };
  const leafHolds = (device: string): string => {
    const c = contents.get(device);
    if (c?.kind === 'pv') {
      const vg = vgOf.get(device);
      const inside = vg ? vg.lvs.map((l) => describeContent(contents.get(l.device))).filter((d) => d !== 'nothing restored') : [];
      return `LVM ${c.vg}${inside.length > 0 ? `: ${inside.join(', ')}` : ''}`;
    }
    return describeContent(c);
  };
  const holds = (device: string): string => {
    const a = arrayOf.get(device);
    if (a) return `${a.level.toUpperCase()} ${a.spares.includes(device) ? 'spare' : 'member'} of ${a.md.device} → ${leafHolds(a.device)}`;
    return leafHolds(device);
  };
  return { byDevice, growable, holds };
}

/** Names the filesystems a stacked device carries, for "does not fit" messages. */
export function stackedName(stacks: Stacks, contents: Map<string, Content>, device: string): string {
  const a = stacks.arrays.find((x) => x.active.includes(device) || x.spares.includes(device));
  const top = a ? a.device : device;
  const c = contents.get(top);
  const vg = c?.kind === 'pv' ? stacks.vgs.find((v) => v.name === c.vg) : undefined;
  const leaves = vg ? vg.lvs.map((l) => contents.get(l.device)).filter((x): x is Content => x !== undefined && x.kind !== 'unsupported') : c && c.kind !== 'pv' ? [c] : [];
  const what = leaves.length > 0 ? leaves.map(fsName).join(', ') : 'nothing restored';
  return `${a ? `${a.level.toUpperCase()} member ${device} of ${a.md.device}` : `${device}`}${vg ? ` (LVM PV of ${vg.name})` : ''}, holding ${what},`;
}

export interface StackPlan {
  md: PlannedMdArray[];
  lvm: PlannedLvm;
}

/**
 * Pass 3: arrays sized from their planned members, VGs from their PVs, LVs within their VG. Adds
 * each array and LV to `devices` (source → target) and `bytesOf`.
 */
export function planStacks(
  stacks: Stacks, contents: Map<string, Content>, devices: Map<string, string>, bytesOf: Map<string, number>,
  policy: SizingPolicy, lvSizes: Record<string, number>, workDir: string, holds: (device: string) => string, notes: string[],
): StackPlan {
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

  const lvm: PlannedLvm = { pvs: [], vgs: [], lvs: [] };
  for (const vg of stacks.vgs) {
    const pvs: PlannedPv[] = vg.pvs.map((p) => {
      const bytes = bytesOf.get(p.device)!;
      const extents = Math.max(0, Math.floor((bytes - PV_DATA_START_BYTES) / vg.extentSize));
      return { source: p.device, device: devices.get(p.device)!, uuid: p.uuid, vg: vg.name, bytes, extents };
    });
    const extents = pvs.reduce((s, p) => s + p.extents, 0);
    const room = extents * vg.extentSize;
    const slots: Slot[] = vg.lvs.map((l) => {
      const unit = stripeUnit(vg, l);
      const edited = lvSizes[lvLabel(l.lv)];
      if (edited !== undefined) {
        const bytes = alignDown(edited, unit);
        const c = contents.get(l.device);
        if (c && (c.kind === 'filesystem' || c.kind === 'swap')) {
          const need = needOf(c, l.lv.size);
          if (bytes < need.bytes) {
            throw new LifeboatError('LB_DOES_NOT_FIT', `the edited size of LV ${lvLabel(l.lv)}, ${formatBytes(bytes)}, is too small: ${fsName(c)} needs ${formatBytes(need.bytes)} (${formatBytes(need.usedBytes)} used + ${formatBytes(need.headroomBytes)} headroom, at least ${formatBytes(need.minimumBytes)}); give it more`, { lv: lvLabel(l.lv) });
          }
        }
        return { kind: 'gpt', mode: 'edited', sourceBytes: l.lv.size, bytes, minimumBytes: bytes };
      }
      const c = contents.get(l.device);
      if (!c || (c.kind !== 'filesystem' && c.kind !== 'swap')) return { kind: 'gpt', mode: 'fixed', sourceBytes: l.lv.size, bytes: alignUp(l.lv.size, unit), minimumBytes: 0 };
      const need = needOf(c, l.lv.size);
      return { kind: 'gpt', mode: 'resizable', sourceBytes: l.lv.size, bytes: 0, minimumBytes: alignUp(need.bytes, unit), growable: c.kind === 'filesystem' && mountpointOf(c) !== '/boot' };
    });
    const area = (end: number) => ({ startBytes: 0, endBytes: end, unaddressableBytes: 0 });
    const sized = sizeSlots(slots, policy, { area: area(room), sectorSize: 512 }, { area: area(Math.max(vg.sourceBytes, 1)), sectorSize: 512 }, vg.extentSize);
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
    lvm.pvs.push(...pvs);
    lvm.vgs.push({ name: vg.name, uuid: vg.uuid, extentSize: vg.extentSize, extents, bytes: room, sourceBytes: vg.sourceBytes, metadataFile: `${workDir}/lvm/${vg.name}.vg` });
    vg.lvs.forEach((l, i) => {
      const planned: PlannedLv = {
        name: l.lv.name, vg: vg.name, uuid: l.lv.uuid, source: l.device, device: l.device, bytes: bytes[i]!, sourceBytes: l.lv.size,
        extents: bytes[i]! / vg.extentSize, sizing: sized.ok ? sized.rules[i]! : 'fixed', stripes: l.stripes, segments: segments.get(l.device) ?? [],
        holds: describeContent(contents.get(l.device)),
      };
      if (l.stripeSize) planned.stripeSize = l.stripeSize;
      lvm.lvs.push(planned);
      devices.set(l.device, l.device);
      bytesOf.set(l.device, bytes[i]!);
    });
  }
  return { md, lvm };
}
