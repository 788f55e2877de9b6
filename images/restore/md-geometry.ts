import { ALIGNMENT_BYTES, MiB, alignDown, alignUp } from './sizing.js';

/**
 * md RAID arithmetic the planner needs before any array exists: how many members a level takes,
 * how much of a member holds data, how big an array of given members will be, and how big each
 * member must be for an array to hold what sits on it. The restore writes LVM metadata with
 * exact extent counts before mdadm has run, so every estimate here errs small: an array is never
 * assumed bigger than mdadm will make it.
 *
 * Data offset for 1.1/1.2 superblocks, as mdadm 4.x chooses it (super1.c, validate_geometry1):
 * 12 KiB of superblock and bad-block log, up to 128 KiB of bitmap space, and reshape headroom of
 * about 0.1 % of the device (128 MiB at most, halved while more than devsize/1024, and not below
 * two chunks), rounded up to 1 MiB. 1.0 and 0.90 keep their superblock at the end: at most 64 KiB
 * plus bitmap space there, rounded; 1 MiB is assumed.
 */

export interface MdLevel {
  /** Fewest members mdadm builds the level with; 1 for raid0 and raid1 needs --force. */
  minDevices: number;
  /** Members' worth of data the array holds, for n members (raid10: n / copies). */
  dataDevices: (n: number, copies: number) => number;
  usesChunk: boolean;
  /** A mirror or parity level: created arrays resync, and the restore waits for it. */
  redundant: boolean;
}

export const MD_LEVELS: Readonly<Record<string, MdLevel>> = {
  linear: { minDevices: 1, dataDevices: (n) => n, usesChunk: false, redundant: false },
  raid0: { minDevices: 1, dataDevices: (n) => n, usesChunk: true, redundant: false },
  raid1: { minDevices: 1, dataDevices: () => 1, usesChunk: false, redundant: true },
  raid4: { minDevices: 2, dataDevices: (n) => n - 1, usesChunk: true, redundant: true },
  raid5: { minDevices: 2, dataDevices: (n) => n - 1, usesChunk: true, redundant: true },
  raid6: { minDevices: 4, dataDevices: (n) => n - 2, usesChunk: true, redundant: true },
  raid10: { minDevices: 2, dataDevices: (n, copies) => n / copies, usesChunk: true, redundant: true },
};

/** "raid1", "RAID1", "1", "mirror" → "raid1"; undefined for what md cannot build here. */
export function normaliseLevel(level: string): string | undefined {
  const l = level.trim().toLowerCase();
  if (l === 'mirror') return 'raid1';
  if (l === 'stripe') return 'raid0';
  const key = /^\d+$/.test(l) ? `raid${l}` : l;
  return key in MD_LEVELS ? key : undefined;
}

/** raid10's copies from mdadm's layout ("near=2", "far=2", "offset=3", "n2"); 2 when unknown. */
export function raid10Copies(layout: string | undefined): number {
  for (const m of (layout ?? '').matchAll(/(near|far|offset|[nfo])=?(\d+)/g)) {
    const n = Number(m[2]);
    if (n > 1) return n;
  }
  return 2;
}

/**
 * What `--layout=` takes for the layout `mdadm --detail` printed: raid10 "near=2" → "n2" (its
 * --create syntax), raid5/6 names as printed. raid0, raid1 and linear get none.
 */
export function mdadmLayoutOption(level: string, layout: string | undefined): string | undefined {
  if (!layout || layout === '-unknown-') return undefined;
  if (level === 'raid10') {
    for (const m of layout.matchAll(/(near|far|offset)=(\d+)/g)) if (Number(m[2]) > 1) return `${m[1]![0]}${m[2]}`;
    return /^[nfo]\d+$/.test(layout) ? layout : undefined;
  }
  if (level === 'raid4' || level === 'raid5' || level === 'raid6') return layout;
  return undefined;
}

const SECTOR = 512;
const MAX_HEADROOM_SECTORS = 128 * 1024 * 2;
const BITMAP_SPACE_MAX_BYTES = 128 * 1024;
const SUPERBLOCK_AND_BBL_BYTES = 12 * 1024;

/** Bytes at the start (1.1, 1.2) or end (1.0, 0.90) of each member that hold no array data. */
export function mdOverheadBytes(metadata: string, memberBytes: number, chunkBytes: number): number {
  if (metadata === '0.90' || metadata === '1.0' || metadata === '1') return ALIGNMENT_BYTES;
  const devSectors = Math.floor(memberBytes / SECTOR);
  const chunkSectors = Math.floor(chunkBytes / SECTOR);
  let headroom = MAX_HEADROOM_SECTORS;
  while (headroom * 1024 > devSectors && (chunkSectors === 0 || headroom / 2 >= chunkSectors * 2)) headroom = Math.floor(headroom / 2);
  return alignUp(SUPERBLOCK_AND_BBL_BYTES + BITMAP_SPACE_MAX_BYTES + headroom * SECTOR, MiB);
}

/** The unit each member's data is cut to: the chunk for striped levels, never under 1 MiB. */
function componentUnit(level: string, chunkBytes: number): number {
  return MD_LEVELS[level]?.usesChunk && chunkBytes > MiB ? chunkBytes : MiB;
}

export interface MdShape {
  level: string;
  metadata: string;
  chunkBytes: number;
  layout?: string;
}

/** What an array of these members will hold at least (the smallest member sets every member's share). */
export function mdArrayBytes(shape: MdShape, memberBytes: readonly number[]): number {
  const spec = MD_LEVELS[shape.level];
  if (!spec || memberBytes.length === 0) return 0;
  const smallest = Math.min(...memberBytes);
  const component = alignDown(smallest - mdOverheadBytes(shape.metadata, smallest, shape.chunkBytes), componentUnit(shape.level, shape.chunkBytes));
  if (component <= 0) return 0;
  const copies = shape.level === 'raid10' ? raid10Copies(shape.layout) : 1;
  return alignDown(Math.floor(component * spec.dataDevices(memberBytes.length, copies)), componentUnit(shape.level, shape.chunkBytes));
}

/** The smallest member size (a multiple of 1 MiB) for which `members` of them hold `arrayBytes`. */
export function mdMemberBytes(shape: MdShape, members: number, arrayBytes: number): number {
  const spec = MD_LEVELS[shape.level]!;
  const copies = shape.level === 'raid10' ? raid10Copies(shape.layout) : 1;
  const unit = componentUnit(shape.level, shape.chunkBytes);
  const perMember = alignUp(Math.ceil(arrayBytes / spec.dataDevices(members, copies)), unit) + unit;
  // The overhead grows with the member (headroom ~0.1 %): step until the estimate holds.
  let member = alignUp(perMember + mdOverheadBytes(shape.metadata, perMember, shape.chunkBytes), MiB);
  while (mdArrayBytes(shape, new Array<number>(members).fill(member)) < arrayBytes) member += MiB;
  return member;
}
