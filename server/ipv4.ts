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
