import { LifeboatError } from '../../core/errors.js';
import type { MdArray } from './model.js';
import { defined } from './parse-json.js';

/**
 * `mdadm --detail DEV` (text) and `mdadm --detail --export DEV` (KEY=value) → MdArray.
 * The text form is the richer one (size, chunk, layout, member states); the export form has no
 * size, so its caller passes the size lsblk reports. "Array Size" is in KiB. A member's slot is
 * its RaidDevice number, -1 for a spare or a faulty device that holds no slot; "removed" rows
 * (an empty slot, no device) are not members.
 */

type Member = MdArray['members'][number];

/** mdadm prints 0.90 superblocks as "0.90" or, from old versions, "00.90.03". */
function normaliseMetadata(version: string): string {
  const m = /^0*(\d+)\.(\d+)(?:\.\d+)?$/.exec(version);
  return m ? `${Number(m[1])}.${m[2]}` : version;
}

function chunkBytes(v: string | undefined): number | undefined {
  const m = v ? /^(\d+)\s*([KMG])?/i.exec(v) : null;
  if (!m) return undefined;
  const unit = (m[2] ?? 'K').toUpperCase();
  return Number(m[1]) * (unit === 'G' ? 1024 ** 3 : unit === 'M' ? 1024 ** 2 : 1024);
}

function slotOf(v: string): number {
  return /^\d+$/.test(v) ? Number(v) : -1;
}

export function parseMdadmDetail(text: string, device?: string): MdArray {
  const fields = new Map<string, string>();
  const members: Member[] = [];
  let arrayDevice = device;
  let inTable = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const head = /^(\/dev\/\S+):$/.exec(trimmed);
    if (head && !inTable) {
      arrayDevice ??= head[1]!;
      continue;
    }
    if (/^Number\s+Major\s+Minor\s+RaidDevice/.test(trimmed)) {
      inTable = true;
      continue;
    }
    if (inTable) {
      const tokens = trimmed.split(/\s+/);
      // Number Major Minor RaidDevice State… [device]; Number is "-" on an array not started.
      if (tokens.length < 5 || !/^(\d+|-)$/.test(tokens[0]!) || !/^\d+$/.test(tokens[1]!)) continue;
      const last = tokens[tokens.length - 1]!;
      if (!last.startsWith('/')) continue;
      members.push({ device: last, slot: slotOf(tokens[3]!), state: tokens.slice(4, -1).join(' ') });
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$/.exec(trimmed);
    if (kv) fields.set(kv[1]!, kv[2]!.trim());
  }
  const level = fields.get('Raid Level');
  const uuid = fields.get('UUID');
  if (!level || !uuid) {
    throw new LifeboatError('LB_INVALID', `mdadm --detail output${arrayDevice ? ` for ${arrayDevice}` : ''} has no ${!level ? 'Raid Level' : 'UUID'}: not the detail of an md array`, { device: arrayDevice });
  }
  if (!arrayDevice) throw new LifeboatError('LB_INVALID', 'mdadm --detail output does not name its array (no "/dev/mdN:" line) and none was given');
  const arrayKiB = /^(\d+)/.exec(fields.get('Array Size') ?? '');
  const raidDevices = Number(fields.get('Raid Devices') ?? members.filter((m) => m.slot >= 0).length);
  return defined({
    device: arrayDevice,
    name: fields.get('Name')?.replace(/\s*\(.*\)\s*$/, ''),
    level,
    uuid,
    metadata: normaliseMetadata(fields.get('Version') ?? 'unknown'),
    chunkSize: chunkBytes(fields.get('Chunk Size')),
    layout: fields.get('Layout'),
    size: arrayKiB ? Number(arrayKiB[1]) * 1024 : 0,
    raidDevices: Number.isInteger(raidDevices) ? raidDevices : 0,
    members: members.sort((a, b) => (a.slot < 0 ? 1e9 : a.slot) - (b.slot < 0 ? 1e9 : b.slot)),
  });
}

export function parseMdadmExport(text: string, options: { device?: string; size: number }): MdArray {
  const tags = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) tags.set(m[1]!, m[2]!.trim());
  }
  const level = tags.get('MD_LEVEL');
  const uuid = tags.get('MD_UUID');
  if (!level || !uuid) {
    throw new LifeboatError('LB_INVALID', `mdadm --detail --export output has no ${!level ? 'MD_LEVEL' : 'MD_UUID'}: not the detail of an md array`, { device: options.device });
  }
  const devname = tags.get('MD_DEVNAME');
  const device = options.device ?? (devname ? `/dev/md/${devname}` : undefined);
  if (!device) throw new LifeboatError('LB_INVALID', 'mdadm --detail --export output does not name its array (no MD_DEVNAME) and none was given');
  const members: Member[] = [];
  for (const [key, dev] of tags) {
    const m = /^MD_DEVICE_(.+)_DEV$/.exec(key);
    if (!m) continue;
    const role = tags.get(`MD_DEVICE_${m[1]}_ROLE`) ?? '';
    members.push(defined({ device: dev, slot: slotOf(role), state: /^\d+$/.test(role) ? undefined : role || undefined }));
  }
  const raidDevices = Number(tags.get('MD_DEVICES'));
  return defined({
    device,
    name: tags.get('MD_NAME'),
    level,
    uuid,
    metadata: normaliseMetadata(tags.get('MD_METADATA') ?? 'unknown'),
    size: options.size,
    raidDevices: Number.isInteger(raidDevices) ? raidDevices : members.filter((m) => m.slot >= 0).length,
    members: members.sort((a, b) => (a.slot < 0 ? 1e9 : a.slot) - (b.slot < 0 ? 1e9 : b.slot)),
  });
}
