import { LifeboatError } from '../../../core/errors.js';
import type { Filesystem, Layout, Swap } from '../../layout/model.js';
import type { ArchiveEntry, Manifest } from '../../store/manifest.js';
import { lvMapperPath } from '../lvm-volumes.js';
import { neededBytes, type Need } from '../sizing.js';

/**
 * What lives on each device of the image's source machine, as the planner sees it: a filesystem
 * (with its archives), swap, something the restore cannot make, a member of an md array, or an
 * LVM physical volume. One device can be named several ways (an LV as /dev/vg/lv and
 * /dev/mapper/vg-lv, an array as /dev/md/name and /dev/md0): every name is brought to one.
 */

/** The filesystems the restore can make again (mkfs with the original UUID and label). */
export const MKFS_TYPES = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'jfs']);
export const FSTYPE_ALIASES: Record<string, string> = { msdos: 'vfat', fat: 'vfat' };

export type Content =
  | { kind: 'filesystem'; device: string; type: string; fs?: Filesystem; archives: ArchiveEntry[] }
  | { kind: 'swap'; device: string; swap: Swap }
  | { kind: 'unsupported'; device: string; type: string; fs?: Filesystem }
  /** A member (or spare, slot -1) of the md array `array`. */
  | { kind: 'md-member'; device: string; array: string; slot: number }
  /** An LVM physical volume of volume group `vg`. */
  | { kind: 'pv'; device: string; vg: string; uuid: string };

export function invalid(message: string, details: Record<string, unknown> = {}): LifeboatError {
  return new LifeboatError('LB_INVALID', message, details);
}

/**
 * One name per device: LVs as /dev/mapper/<vg>-<lv> (the node lsblk and findmnt report), arrays
 * as the kernel's /dev/mdN, dm-N and everything else through lsblk's own path for the name.
 */
export function deviceNamer(layout: Layout): (path: string) => string {
  const aliases = new Map<string, string>();
  for (const lv of layout.lvm.lvs) {
    const mapper = lvMapperPath(lv.vg, lv.name);
    aliases.set(`/dev/${lv.vg}/${lv.name}`, mapper);
    if (lv.path) aliases.set(lv.path, mapper);
  }
  for (const md of layout.md) {
    const kernel = md.device;
    const short = md.name?.split(':').pop();
    if (short) aliases.set(`/dev/md/${short}`, kernel);
    if (md.name) aliases.set(`/dev/md/${md.name}`, kernel);
    const n = /^\/dev\/md(\d+)$/.exec(kernel)?.[1];
    if (n !== undefined) aliases.set(`/dev/md/${n}`, kernel);
  }
  for (const b of layout.blockDevices) {
    if (b.path !== `/dev/${b.name}`) aliases.set(`/dev/${b.name}`, b.path);
  }
  return (path) => {
    let p = path;
    for (let hops = 0; hops < 4 && aliases.has(p) && aliases.get(p) !== p; hops++) p = aliases.get(p)!;
    return p;
  };
}

/** ReiserFS: archived where a kernel still mounts it, never restored (see the README). */
function refuseReiserfs(a: ArchiveEntry): never {
  throw invalid(
    `archive "${a.id}" (${a.mountpoint || a.device}) holds a ReiserFS filesystem: ReiserFS is gone from current Linux kernels (removed in 6.13) and from the rescue system, ` +
      'so it can be neither made nor mounted; restore its files by hand onto another filesystem (ext4, xfs) and change the restored /etc/fstab to match',
    { archive: a.id, fstype: a.fstype },
  );
}

/**
 * Every device's content, with the notes of what was seen twice: filesystems (with their
 * archives), swap, then md members and PVs, which are that whatever blkid also saw.
 */
export function contentsOf(manifest: Manifest, name: (path: string) => string): { contents: Map<string, Content>; notes: string[] } {
  const layout = manifest.layout;
  const contents = new Map<string, Content>();
  const notes: string[] = [];
  for (const fs of layout.filesystems) {
    if (fs.type === 'swap') continue;
    const device = name(fs.device);
    const type = FSTYPE_ALIASES[fs.type] ?? fs.type;
    contents.set(device, MKFS_TYPES.has(type) ? { kind: 'filesystem', device, type, fs, archives: [] } : { kind: 'unsupported', device, type, fs });
  }
  for (const a of manifest.archives) {
    const device = name(a.device);
    let c = contents.get(device);
    if (!c) {
      const type = FSTYPE_ALIASES[a.fstype] ?? a.fstype;
      c = MKFS_TYPES.has(type) ? { kind: 'filesystem', device, type, archives: [] } : { kind: 'unsupported', device, type };
      contents.set(device, c);
    }
    if (c.kind !== 'filesystem') {
      if (/^reiser/i.test(a.fstype)) refuseReiserfs(a);
      throw invalid(`archive "${a.id}" (${a.mountpoint}) holds a ${a.fstype} filesystem, which the restore cannot create: restore its files by hand onto a filesystem you make`, { archive: a.id, fstype: a.fstype });
    }
    c.archives.push(a);
  }
  for (const s of layout.swaps) {
    const device = name(s.device);
    if (contents.has(device)) {
      notes.push(`${s.device} is listed both as swap and as a filesystem: it is restored as the filesystem`);
      continue;
    }
    contents.set(device, { kind: 'swap', device, swap: s });
  }
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
  return { contents, notes };
}

export function mountpointOf(c: Content): string | undefined {
  if (c.kind !== 'filesystem' && c.kind !== 'unsupported') return undefined;
  return c.fs?.mountpoint ?? (c.kind === 'filesystem' ? c.archives.find((a) => a.mountpoint)?.mountpoint : undefined);
}

export function describeContent(c: Content | undefined): string {
  if (!c) return 'nothing restored';
  if (c.kind === 'swap') return 'swap';
  if (c.kind === 'md-member') return c.slot < 0 ? `spare of ${c.array}` : `member of ${c.array}`;
  if (c.kind === 'pv') return `LVM PV of ${c.vg}`;
  const mp = mountpointOf(c);
  if (c.kind === 'unsupported') return `${c.type}${mp ? ` ${mp}` : ''} (not recreated)`;
  return `${c.type}${mp ? ` ${mp}` : ''}`;
}

export function fsName(c: Content): string {
  if (c.kind === 'md-member') return `${c.device} (${describeContent(c)})`;
  if (c.kind === 'pv') return `${c.device} (LVM PV of volume group ${c.vg})`;
  const mp = mountpointOf(c);
  const type = c.kind === 'swap' ? 'swap' : c.type;
  return mp ? `filesystem ${mp} (${type} on ${c.device})` : c.kind === 'swap' ? `swap on ${c.device}` : `${type} filesystem on ${c.device}`;
}

function contentUsedBytes(c: Content): number {
  if (c.kind !== 'filesystem') return 0;
  // Every archive of a btrfs volume reports the whole volume's use: the largest is the volume's.
  if (c.archives.length > 0) return Math.max(...c.archives.map((a) => a.usedBytes));
  return 0;
}

/** What a filesystem or swap needs (see neededBytes); stacked contents have their own. */
export function needOf(c: Content, sourceBytes: number): Need {
  if (c.kind === 'md-member' || c.kind === 'pv') throw new LifeboatError('LB_INTERNAL', `needOf asked about ${c.kind} ${c.device}: stacked needs come from plan/stack-needs.ts`);
  return neededBytes(c.kind === 'swap' ? 'swap' : c.type, contentUsedBytes(c), sourceBytes);
}
