import { LifeboatError } from '../../../core/errors.js';
import { formatBytes } from '../../../core/sizes.js';
import type { Disk } from '../../layout/model.js';
import { alignUp, type Need } from '../sizing.js';
import type { Content } from './source-contents.js';
import type { TargetDisk } from './types.js';

/** The refusals of sizes: a source disk's partitions that do not fit its target, an edited size too small. */

export interface DoesNotFit {
  source: Disk;
  target: TargetDisk;
  /** The resizable partitions (or the whole disk), and whether the policy left each short. */
  items: Array<{ content: Content; need: Need; partition: string; short: boolean }>;
  /** Bytes the resizable ones could share (negative when the fixed ones alone overflow). */
  room: number;
  fixedBytes: number;
  defaultMapping: boolean;
  allTargets: TargetDisk[];
  label: (c: Content) => string;
}

export function doesNotFitMessage({ source, target, items, room, fixedBytes, defaultMapping, allTargets, label }: DoesNotFit): string {
  const where = `${target.path} (${formatBytes(target.size)})`;
  const mappingHint = defaultMapping && allTargets.length > 1
    ? ` Disks of this machine: ${allTargets.map((t) => `${t.path} ${formatBytes(t.size)}`).join(', ')}; map ${source.path} to a bigger one (edits.diskMap) if there is one.`
    : '';
  if (room < 0 || items.length === 0) {
    return `the partitions of ${source.path} that keep their size (boot partitions, ESP, edited and unformatted ones) need ${formatBytes(fixedBytes)}, more than ${where} offers: use a bigger disk.${mappingHint}`;
  }
  const describe = (x: (typeof items)[number]) => {
    const n = x.need;
    const why = n.reason === 'mkfs-minimum' ? `mkfs makes none smaller than ${formatBytes(n.minimumBytes)}`
      : n.reason === 'source-size' ? `as big as on the source, where ${formatBytes(n.usedBytes)} was used`
      : n.reason === 'stacked' ? `its share of what the filesystems on top need, ${formatBytes(n.usedBytes)} of them used, with headroom and RAID/LVM overhead`
      : `${formatBytes(n.usedBytes)} used + ${formatBytes(n.headroomBytes)} headroom`;
    return `${label(x.content)} needs ${formatBytes(n.bytes)} (${why})`;
  };
  // The ones the policy left short are named; what they can have is the room left once every
  // other one has its own minimum.
  const culprits = items.some((x) => x.short) ? items.filter((x) => x.short) : items;
  const need = (xs: typeof items) => xs.reduce((s, x) => s + alignUp(x.need.bytes), 0);
  const available = Math.max(0, room - need(items.filter((x) => !culprits.includes(x))));
  if (culprits.length === 1) {
    const x = culprits[0]!;
    return `${describe(x)}, but its partition ${x.partition} on ${where} can have at most ${formatBytes(available)}: use a bigger disk, or free space on the source and archive it again.${mappingHint}`;
  }
  return `the filesystems of ${source.path} do not fit on ${where}: ${culprits.map(describe).join('; ')}; together ${formatBytes(need(culprits))}, and ${formatBytes(available)} is available for them: use a bigger disk, or free space on the source and archive it again.${mappingHint}`;
}

export interface TooSmallEdit {
  /** The partition, or "LV vg/lv". */
  subject: string;
  /** The operator's size, aligned. */
  bytes: number;
  /** What it holds, as refusals name it. */
  what: string;
  need: Need;
  details: Record<string, unknown>;
}

/** An operator's size below what the content needs. */
export function editedTooSmall({ subject, bytes, what, need, details }: TooSmallEdit): LifeboatError {
  const detail = need.reason === 'stacked' ? 'with RAID/LVM overhead' : `${formatBytes(need.usedBytes)} used + ${formatBytes(need.headroomBytes)} headroom, at least ${formatBytes(need.minimumBytes)}`;
  return new LifeboatError('LB_DOES_NOT_FIT', `the edited size of ${subject}, ${formatBytes(bytes)}, is too small: ${what} needs ${formatBytes(need.bytes)} (${detail}); give it more`, details);
}
