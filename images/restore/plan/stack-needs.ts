import { PV_DATA_START_BYTES } from '../lvm-volumes.js';
import { mdMemberBytes } from '../md-geometry.js';
import { alignUp, type Need } from '../sizing.js';
import { describeContent, fsName, mountpointOf, needOf, type Content } from './source-contents.js';
import { lvLabel, stripeUnit, type Stacks } from './survive-stacks.js';

/**
 * Pass 2 of the stacks (see survive-stacks.ts), bottom-up: what each LV's filesystem needs, what
 * that makes each PV need, what an array holding a PV needs, and so what each member partition
 * needs, for the disk sizing; with how each stacked partition is described and named.
 */

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
