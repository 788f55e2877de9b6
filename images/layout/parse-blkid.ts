import { defined } from './parse-json.js';

/**
 * `blkid -o export` and `blkid -p -o export` → what is on each device. Blocks of KEY=value lines,
 * one per device, separated by blank lines; blkid escapes spaces and other unsafe characters in
 * values with a backslash ("PART_ENTRY_NAME=EFI\ System"). The low-level probe (-p) names the
 * partition fields PART_ENTRY_*, the cache form PARTUUID/PARTLABEL; both end up in the same fields.
 */
export interface BlkidEntry {
  device: string;
  /** Filesystem or content type: ext4, xfs, vfat, swap, LVM2_member, linux_raid_member, … */
  type?: string;
  uuid?: string;
  /** The member's own UUID inside a multi-device set (btrfs device, md member). */
  uuidSub?: string;
  label?: string;
  version?: string;
  /** filesystem, raid, crypto, other (swap) — only from -p. */
  usage?: string;
  partuuid?: string;
  partlabel?: string;
  /** Partition type as the table stores it: a GPT GUID or an MBR "0x83". Only from -p. */
  parttype?: string;
  partNumber?: number;
  /** The partition table on this device, when it holds one. */
  ptType?: string;
  ptUuid?: string;
  /** Every tag as printed (unescaped), for what the named fields do not cover. */
  tags: Record<string, string>;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, '$1');
}

function toEntry(tags: Record<string, string>, fallbackDevice?: string): BlkidEntry | undefined {
  const device = tags.DEVNAME ?? fallbackDevice;
  if (!device) return undefined;
  const number = tags.PART_ENTRY_NUMBER !== undefined ? Number(tags.PART_ENTRY_NUMBER) : undefined;
  return defined({
    device,
    type: tags.TYPE,
    uuid: tags.UUID,
    uuidSub: tags.UUID_SUB,
    label: tags.LABEL,
    version: tags.VERSION,
    usage: tags.USAGE,
    partuuid: tags.PARTUUID ?? tags.PART_ENTRY_UUID,
    partlabel: tags.PARTLABEL ?? tags.PART_ENTRY_NAME,
    parttype: tags.PART_ENTRY_TYPE,
    partNumber: number !== undefined && Number.isInteger(number) ? number : undefined,
    ptType: tags.PTTYPE,
    ptUuid: tags.PTUUID,
    tags,
  });
}

/**
 * `fallbackDevice` names the device when blkid was asked about one device and printed no
 * DEVNAME line (older versions do that).
 */
export function parseBlkidExport(text: string, fallbackDevice?: string): BlkidEntry[] {
  const out: BlkidEntry[] = [];
  let tags: Record<string, string> = {};
  const flush = (): void => {
    if (Object.keys(tags).length > 0) {
      const entry = toEntry(tags, fallbackDevice);
      if (entry) out.push(entry);
    }
    tags = {};
  };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') {
      flush();
      continue;
    }
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(trimmed);
    if (!m) continue;
    // A DEVNAME in the middle of a block starts the next device (outputs joined without a blank line).
    if (m[1] === 'DEVNAME' && tags.DEVNAME !== undefined) flush();
    tags[m[1]!] = unescape(m[2]!);
  }
  flush();
  return out;
}
