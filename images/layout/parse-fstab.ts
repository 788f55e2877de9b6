import type { FstabEntry } from './model.js';

/**
 * /etc/fstab text → entries, as fstab(5) and libmount read it: fields separated by blanks, "#"
 * starts a comment line, spaces inside a field written as octal escapes (\040 space, \011 tab,
 * \012 newline, \134 backslash), freq and passno 0 when absent, mntops "defaults" when absent.
 * A line with fewer than three fields is not an entry and is skipped, as mount(8) would.
 */

function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function field(n: string | undefined): number {
  if (n === undefined) return 0;
  const v = Number(n);
  return Number.isInteger(v) && v >= 0 ? v : 0;
}

export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    if (fields.length < 3) continue;
    out.push({
      spec: unescapeField(fields[0]!),
      file: unescapeField(fields[1]!),
      vfstype: unescapeField(fields[2]!),
      mntops: fields[3] !== undefined ? unescapeField(fields[3]) : 'defaults',
      freq: field(fields[4]),
      passno: field(fields[5]),
    });
  }
  return out;
}

/** What is known of a device, to decide whether an fstab spec names it. */
export interface DeviceIdentity {
  path: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  partlabel?: string;
}

/**
 * Whether an fstab spec (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/disk/by-*, or a device
 * path) names this device. UUIDs compare case-insensitively (vfat's "1A2B-3C4D" is written
 * either way); labels compare exactly, as the kernel does. Quotes around values are allowed, as
 * libmount allows them. A plain path compares against the device's path on the probed machine,
 * so /dev/sda1 in a source's fstab matches only if the source disk is seen under that name.
 */
export function specMatches(spec: string, dev: DeviceIdentity): boolean {
  const tag = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/.exec(spec);
  const byPath = /^\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/(.+)$/.exec(spec);
  const kind = tag ? tag[1]!.toLowerCase() : byPath ? byPath[1]! : undefined;
  if (kind) {
    let value = tag ? tag[2]! : byPath![2]!;
    value = value.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
    if (byPath) value = value.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    switch (kind) {
      case 'uuid': return dev.uuid !== undefined && dev.uuid.toLowerCase() === value.toLowerCase();
      case 'partuuid': return dev.partuuid !== undefined && dev.partuuid.toLowerCase() === value.toLowerCase();
      case 'label': return dev.label !== undefined && dev.label === value;
      case 'partlabel': return dev.partlabel !== undefined && dev.partlabel === value;
    }
  }
  return spec === dev.path;
}
