import { createHash } from 'node:crypto';

/**
 * Identifiers a fixture derives from its name, so tests can predict them and a rebuild gives the
 * same ones. `domain` keeps apart the two families of fixtures that existed before this module
 * (their identifiers must stay what they were): 'lifeboat-fixture' and 'lifeboat-multidisk'.
 */
export type IdDomain = 'lifeboat-fixture' | 'lifeboat-multidisk';

export function digest(domain: IdDomain, text: string): Buffer {
  return createHash('sha256').update(`${domain}:${text}`).digest();
}

/** A version-4-shaped UUID that the same name always gives. */
export function fixtureUuid(name: string, role: string): string {
  const b = digest('lifeboat-fixture', `${name}:${role}`).subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A FAT volume id as blkid prints it (XXXX-XXXX). */
export function vfatVolumeId(domain: IdDomain, name: string): string {
  const h = digest(domain, `${name}:esp`).subarray(0, 4).toString('hex').toUpperCase();
  return `${h.slice(0, 4)}-${h.slice(4)}`;
}

/** A GPT disk GUID (upper case) or an MBR disk identifier (0x…), as sfdisk reports them. */
export function tableId(domain: IdDomain, name: string, table: 'gpt' | 'dos', what: string): string {
  return table === 'gpt' ? fixtureUuid(name, what).toUpperCase() : `0x${digest(domain, `${name}:${what}`).subarray(0, 4).toString('hex')}`;
}

/** md's UUID in mdadm's own notation (xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx). */
export function mdUuid(name: string, md = 'md0'): string {
  const h = digest('lifeboat-multidisk', `${name}:${md}`).subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}:${h.slice(8, 16)}:${h.slice(16, 24)}:${h.slice(24, 32)}`;
}

/** An LVM UUID (32 of [A-Za-z0-9], grouped 6-4-4-4-4-4-6). */
export function lvmUuid(name: string, what: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = digest('lifeboat-multidisk', `${name}:${what}`);
  let s = '';
  for (let i = 0; i < 32; i++) s += alphabet[bytes[i]! % alphabet.length];
  return [6, 4, 4, 4, 4, 4, 6].reduce<{ at: number; parts: string[] }>((acc, n) => ({ at: acc.at + n, parts: [...acc.parts, s.slice(acc.at, acc.at + n)] }), { at: 0, parts: [] }).parts.join('-');
}
