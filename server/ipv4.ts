import { LifeboatError } from '../core/errors.js';

/**
 * IPv4 addresses as the server reads them from configuration, requests and packets: one parser and
 * one error for all of them. Inside the server an address is a dotted quad (what operators write and
 * logs show) or, for arithmetic on networks and pools, an unsigned 32-bit number.
 */

/** Dotted quad → unsigned 32-bit number; refuses anything that is not exactly four decimal octets. */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new LifeboatError('LB_INVALID', `"${text}" is not an IPv4 address: write it as four numbers 0-255, e.g. 10.0.0.1`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Unsigned 32-bit number → dotted quad. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Dotted quad → the 4 bytes of the wire format, network order. */
export function ipv4ToBytes(text: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(parseIpv4(text));
  return b;
}

/** 4 bytes at `offset` → dotted quad. */
export function ipv4FromBytes(buf: Buffer, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** Whether `address` lies in `cidr` (10.77.0.0/24, or a bare address as a /32); false for anything unparsable. */
export function inCidr(cidr: string, address: string): boolean {
  const [net, bits = '32'] = cidr.split('/') as [string, string?];
  const n = Number(bits);
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  try {
    return ((parseIpv4(net) & mask) >>> 0) === ((parseIpv4(address) & mask) >>> 0);
  } catch {
    return false;
  }
}
