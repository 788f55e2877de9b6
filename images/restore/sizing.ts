/**
 * How big things become on the new disks: the alignment, the headroom a filesystem needs, the
 * smallest filesystem each mkfs accepts, the usable area of a partition table, and the two sizing
 * policies. Every number the planner uses to say "fits" or "does not fit" comes from this file.
 * All sizes are bytes; the planner converts to the target's sectors at the end.
 */

export const MiB = 1024 * 1024;

/** Every partition starts on a 1 MiB boundary, as fdisk, parted and every installer since 2009 do. */
export const ALIGNMENT_BYTES = MiB;

export type SizingPolicy = 'proportional' | 'grow-last';
export const SIZING_POLICIES: readonly SizingPolicy[] = ['proportional', 'grow-last'];

/**
 * Room a filesystem needs above its used bytes so the restored system can still write: 10 % of
 * what is used, and never less than 64 MiB (logs, a package update, the journal of a small fs).
 */
export const HEADROOM = { fraction: 0.1, minimumBytes: 64 * MiB } as const;

/**
 * The smallest filesystem each mkfs makes, measured here with the tools themselves:
 * mkfs.xfs refuses below 300 MiB (xfsprogs ≥ 5.19), mkfs.btrfs below 114,294,784 bytes, mkfs.jfs
 * below 16 MiB; mke2fs makes no journal below 2 MiB; mkfs.vfat and mkswap take far less than the
 * 1 MiB alignment, so one alignment unit is their floor.
 */
export const FILESYSTEM_MINIMUM_BYTES: Readonly<Record<string, number>> = {
  ext2: 2 * MiB,
  ext3: 2 * MiB,
  ext4: 2 * MiB,
  xfs: 300 * MiB,
  btrfs: 114_294_784,
  jfs: 16 * MiB,
  vfat: MiB,
  swap: MiB,
};

export function headroomBytes(usedBytes: number): number {
  return Math.max(Math.ceil(usedBytes * HEADROOM.fraction), HEADROOM.minimumBytes);
}

export interface Need {
  /** What the partition must at least hold. */
  bytes: number;
  usedBytes: number;
  headroomBytes: number;
  minimumBytes: number;
  /**
   * Why that number: used plus headroom, the source size (it held the data there), mkfs's floor,
   * or 'stacked': a RAID member or LVM PV needs its share of what the filesystems on top need.
   */
  reason: 'used+headroom' | 'source-size' | 'mkfs-minimum' | 'stacked';
}

/**
 * What a filesystem (or swap) needs: its used bytes plus headroom, but never more than it had on
 * the source (a 95 % full filesystem restored onto the same disk must not be refused: it held that
 * data there), and never less than what its mkfs accepts.
 */
export function neededBytes(type: string, usedBytes: number, sourceBytes: number): Need {
  // Swap holds nothing to restore: it needs only what mkswap accepts.
  const headroom = type === 'swap' ? 0 : headroomBytes(usedBytes);
  const minimumBytes = FILESYSTEM_MINIMUM_BYTES[type] ?? ALIGNMENT_BYTES;
  const wanted = usedBytes + headroom;
  const capped = Math.min(wanted, sourceBytes);
  if (minimumBytes >= capped) return { bytes: minimumBytes, usedBytes, headroomBytes: headroom, minimumBytes, reason: 'mkfs-minimum' };
  return { bytes: capped, usedBytes, headroomBytes: headroom, minimumBytes, reason: capped < wanted ? 'source-size' : 'used+headroom' };
}

export function alignUp(bytes: number, unit = ALIGNMENT_BYTES): number {
  return Math.ceil(bytes / unit) * unit;
}

export function alignDown(bytes: number, unit = ALIGNMENT_BYTES): number {
  return Math.floor(bytes / unit) * unit;
}

/** floor(a * b / c) and ceil(a * b / c) without losing precision on multi-terabyte products. */
function mulDiv(a: number, b: number, c: number): number {
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}
function mulDivUp(a: number, b: number, c: number): number {
  return Number((BigInt(a) * BigInt(b) + BigInt(c) - 1n) / BigInt(c));
}

/** GPT keeps 128 entries of 128 bytes, at the start and again before the backup header at the end. */
const GPT_ENTRY_ARRAY_BYTES = 128 * 128;

/** MBR entries hold 32-bit sector numbers: nothing past 2^32 sectors can be addressed. */
const MBR_MAX_SECTORS = 2 ** 32;

export interface UsableArea {
  /** GPT first and last usable LBA for this disk size (what the header records); undefined for MBR. */
  firstLba?: number;
  lastLba?: number;
  /** Where the first partition may start (1 MiB) and where the last one must end, in bytes. */
  startBytes: number;
  endBytes: number;
  /** Bytes of the disk the table cannot address (MBR past 2 TiB at 512-byte sectors). */
  unaddressableBytes: number;
}

export function usableArea(table: 'gpt' | 'dos', diskBytes: number, sectorSize: number): UsableArea {
  const sectors = Math.floor(diskBytes / sectorSize);
  if (table === 'gpt') {
    const entrySectors = Math.ceil(GPT_ENTRY_ARRAY_BYTES / sectorSize);
    // Sector 0 is the protective MBR, 1 the header, then the entries; the backup header is the
    // disk's last sector with its entry copy just before it.
    const firstLba = 2 + entrySectors;
    const lastLba = sectors - 2 - entrySectors;
    return { firstLba, lastLba, startBytes: alignUp(firstLba * sectorSize), endBytes: (lastLba + 1) * sectorSize, unaddressableBytes: 0 };
  }
  const addressable = Math.min(sectors, MBR_MAX_SECTORS);
  return { startBytes: ALIGNMENT_BYTES, endBytes: addressable * sectorSize, unaddressableBytes: (sectors - addressable) * sectorSize };
}

/** One partition as the sizing sees it, in disk order. */
export interface Slot {
  kind: 'gpt' | 'primary' | 'extended' | 'logical';
  /** fixed: keeps `bytes`; edited: the operator's `bytes`; resizable: sized by the policy. */
  mode: 'fixed' | 'edited' | 'resizable';
  sourceBytes: number;
  /** For fixed and edited slots, the size on the target (whole sectors). */
  bytes: number;
  /** For resizable slots, the smallest size that holds its content (a multiple of the alignment). */
  minimumBytes: number;
  /** grow-last may give it the rest of the disk: a filesystem other than /boot (never swap). */
  growable?: boolean;
}

export interface Placement {
  /** Start and size of each slot in bytes; an extended partition spans its logical ones. */
  starts: number[];
  sizes: number[];
  end: number;
}

/**
 * Lays slots out from `startBytes`, each on the next 1 MiB boundary; a logical partition also leaves
 * room for its EBR in front of it (which is why sfdisk starts the first one 1 MiB into the extended).
 * Gaps the source had between partitions are not kept: nothing we restore depends on them.
 */
export function placeSlots(slots: ReadonlyArray<Pick<Slot, 'kind' | 'bytes'>>, startBytes: number, sectorSize: number, unit = ALIGNMENT_BYTES): Placement {
  const starts: number[] = [];
  const sizes: number[] = [];
  let pos = startBytes;
  let extended = -1;
  const closeExtended = () => {
    if (extended >= 0) sizes[extended] = pos - starts[extended]!;
    extended = -1;
  };
  slots.forEach((s, i) => {
    if (s.kind === 'logical') {
      const start = alignUp(pos + sectorSize, unit);
      starts.push(start);
      sizes.push(s.bytes);
      pos = start + s.bytes;
      return;
    }
    closeExtended();
    const start = alignUp(pos, unit);
    starts.push(start);
    sizes.push(s.bytes);
    if (s.kind === 'extended' && slots[i + 1]?.kind === 'logical') {
      extended = i;
      pos = start;
    } else {
      pos = start + s.bytes;
    }
  });
  closeExtended();
  return { starts, sizes, end: pos };
}

/**
 * Why a partition got its size; 'container' is an extended partition spanning its logical ones;
 * 'matched' a RAID member cut to the size of the array's smallest member.
 */
export type SizeRule = 'fixed' | 'edited' | 'proportional' | 'grow-last' | 'minimum' | 'container' | 'matched';

export type SizingResult =
  | { ok: true; bytes: number[]; rules: SizeRule[] }
  | {
      ok: false;
      /** Bytes the resizable slots could share (negative when the fixed ones alone overflow). */
      room: number;
      /** Bytes the fixed and edited slots take, alignment included. */
      fixedBytes: number;
      /** The resizable slots the policy left below their minimum: the ones that do not fit. */
      short: number[];
    };

/**
 * Sizes the resizable slots of one disk (or the logical volumes of one volume group, with `unit`
 * the extent size: the same policies, in extents instead of MiB).
 * - proportional (Mondo, Clonezilla): each scales by the ratio of the room resizable partitions
 *   have on the target to the room they had on the source, rounded down to the alignment, so a
 *   disk twice as big gives each twice as much and keeps the source's free space in proportion.
 * - grow-last (ReaR): every resizable partition keeps its size (rounded up to the alignment) and
 *   the last growable one on the disk takes the rest, or gives it back on a smaller disk. Swap and
 *   /boot are not growable, as ReaR's AUTORESIZE_EXCLUDE_PARTITIONS=(boot swap efi) has it: a
 *   trailing swap partition does not become 200 GiB; the root or data filesystem before it does.
 * Then any slot left below its minimum is raised to it and the bytes come from the others in
 * proportion to what they have above their own minimum (on a smaller disk under grow-last: the last
 * one shrinks first, then the others). When the minimums alone overflow, nothing is sized.
 */
export function sizeSlots(
  slots: readonly Slot[],
  policy: SizingPolicy,
  target: { area: UsableArea; sectorSize: number },
  source: { area: UsableArea; sectorSize: number },
  unit = ALIGNMENT_BYTES,
): SizingResult {
  const variable = slots.flatMap((s, i) => (s.mode === 'resizable' ? [i] : []));
  const withZero = slots.map((s) => ({ kind: s.kind, bytes: s.mode === 'resizable' ? 0 : s.bytes }));
  // Resizable sizes are multiples of the alignment, so each adds exactly its size to the end.
  const base = placeSlots(withZero, target.area.startBytes, target.sectorSize, unit).end;
  const room = alignDown(target.area.endBytes - base, unit);
  const fixedBytes = base - target.area.startBytes;
  const rules: SizeRule[] = slots.map((s) => (s.mode === 'resizable' ? policy : s.mode));
  const bytes = slots.map((s) => (s.mode === 'resizable' ? 0 : s.bytes));
  if (target.area.endBytes < base) return { ok: false, room: target.area.endBytes - base, fixedBytes, short: [] };
  if (variable.length === 0) return { ok: true, bytes, rules };

  if (policy === 'proportional') {
    const sourceBase = placeSlots(slots.map((s) => ({ kind: s.kind, bytes: s.mode === 'resizable' ? 0 : s.sourceBytes })), source.area.startBytes, source.sectorSize, unit).end;
    const sourceTotal = variable.reduce((sum, i) => sum + slots[i]!.sourceBytes, 0);
    const sourceRoom = Math.max(sourceTotal, source.area.endBytes - sourceBase, 1);
    for (const i of variable) bytes[i] = alignDown(mulDiv(slots[i]!.sourceBytes, room, sourceRoom), unit);
  } else {
    const growable = variable.filter((i) => slots[i]!.growable);
    const last = growable.length > 0 ? growable[growable.length - 1]! : variable[variable.length - 1]!;
    for (const i of variable) if (i !== last) bytes[i] = alignUp(slots[i]!.sourceBytes, unit);
    bytes[last] = alignDown(room - variable.reduce((sum, i) => (i === last ? sum : sum + bytes[i]!), 0), unit);
  }

  const minimum = (i: number) => slots[i]!.minimumBytes;
  if (variable.reduce((sum, i) => sum + minimum(i), 0) > room) return { ok: false, room, fixedBytes, short: variable.filter((i) => bytes[i]! < minimum(i)) };

  for (const i of variable) {
    if (bytes[i]! < minimum(i)) {
      bytes[i] = minimum(i);
      rules[i] = 'minimum';
    }
  }
  const deficit = variable.reduce((sum, i) => sum + bytes[i]!, 0) - room;
  if (deficit > 0) {
    const spare = variable.map((i) => ({ i, spare: bytes[i]! - minimum(i) })).filter((x) => x.spare > 0);
    const totalSpare = spare.reduce((sum, x) => sum + x.spare, 0);
    // deficit ≤ totalSpare because the minimums fit; each cut is rounded up to the alignment (and
    // stays within its own spare, a multiple of it), so the sum lands within the room.
    for (const { i, spare: own } of spare) bytes[i] = bytes[i]! - Math.min(own, alignUp(mulDivUp(deficit, own, totalSpare), unit));
  }
  return { ok: true, bytes, rules };
}
