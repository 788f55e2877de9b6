import { LifeboatError } from '../../core/errors.js';
import { ipv4FromBytes, ipv4ToBytes } from '../ipv4.js';
import { formatMac, macBytes } from '../state/mac.js';

/**
 * The DHCP/BOOTP wire format (RFC 2131 §2, RFC 2132, RFC 3396 long options, option overload).
 * Parsing is strict: anything that does not frame correctly is refused with a reason, because a
 * packet that parses "mostly" is how a server answers garbage. Option values stay raw bytes; the
 * typed readers below interpret the few options the server acts on.
 */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC_COOKIE = 0x63825363;
const FIXED_LENGTH = 236;
/** Replies are padded to this size: older PXE ROMs and the Linux in-kernel client drop shorter ones. */
const MIN_REPLY_LENGTH = 300;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

const messageTypeNames = new Map<number, MessageTypeName>(
  Object.entries(MessageType).map(([k, v]) => [v, k as MessageTypeName]),
);

export function messageTypeName(code: number | null): string {
  return code === null ? 'BOOTP' : (messageTypeNames.get(code) ?? `type ${code}`);
}

export const Option = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_ADDRESS: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_MACHINE_ID: 97,
  IPXE_ENCAPSULATED: 175,
} as const;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The 16-byte chaddr field as sent. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Option code → value bytes, in the order first seen; repeated codes are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export const BROADCAST_FLAG = 0x8000;

function wireError(reason: string): LifeboatError {
  return new LifeboatError('LB_INVALID', `not a usable DHCP packet: ${reason}`, { reason });
}

/** A fixed-size text field (sname, file): NUL-terminated, latin1 so bytes survive. */
function readCString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('latin1');
}

/** Walks one option area, appending to `into`. Returns whether the END option was seen. */
function readOptionArea(area: Buffer, where: string, into: Map<number, Buffer>): boolean {
  let i = 0;
  while (i < area.length) {
    const code = area[i]!;
    if (code === 0) {
      i += 1;
      continue;
    }
    if (code === 255) return true;
    if (i + 1 >= area.length) throw wireError(`option ${code} in ${where} has no length byte`);
    const len = area[i + 1]!;
    const start = i + 2;
    if (start + len > area.length) {
      throw wireError(`option ${code} in ${where} claims ${len} bytes but only ${area.length - start} remain`);
    }
    const value = area.subarray(start, start + len);
    const before = into.get(code);
    into.set(code, before ? Buffer.concat([before, value]) : Buffer.from(value));
    i = start + len;
  }
  return false;
}

/** Parses one UDP payload; throws LifeboatError LB_INVALID with the reason when it does not frame. */
export function parsePacket(buf: Buffer): DhcpPacket {
  if (buf.length < FIXED_LENGTH + 4) throw wireError(`${buf.length} bytes is shorter than the 240-byte DHCP header`);
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw wireError(`op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  const hlen = buf[2]!;
  if (hlen > 16) throw wireError(`hardware address length ${hlen} exceeds the 16-byte chaddr field`);
  if (buf.readUInt32BE(FIXED_LENGTH) !== MAGIC_COOKIE) throw wireError('magic cookie is missing (plain BOOTP is not served)');
  const options = new Map<number, Buffer>();
  const sawEnd = readOptionArea(buf.subarray(FIXED_LENGTH + 4), 'options', options);
  if (!sawEnd) throw wireError('options area has no END option (truncated packet?)');
  let sname = readCString(buf, 44, 64);
  let file = readCString(buf, 108, 128);
  const overload = options.get(Option.OVERLOAD);
  if (overload) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw wireError('option overload (52) is not 1, 2 or 3');
    // RFC 2131 §4.1: file first, then sname, when both carry options.
    if (overload[0]! & 1) {
      readOptionArea(buf.subarray(108, 236), 'file field', options);
      file = '';
    }
    if (overload[0]! & 2) {
      readOptionArea(buf.subarray(44, 108), 'sname field', options);
      sname = '';
    }
  }
  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipv4FromBytes(buf, 12),
    yiaddr: ipv4FromBytes(buf, 16),
    siaddr: ipv4FromBytes(buf, 20),
    giaddr: ipv4FromBytes(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname,
    file,
    options,
  };
}

export interface PacketFields {
  op: number;
  xid: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  chaddr: Buffer;
  sname?: string;
  file?: string;
  /** Written in this order; values longer than 255 bytes are split into several instances (RFC 3396). */
  options: Array<[number, Buffer]>;
}

function writeCString(out: Buffer, start: number, length: number, text: string, what: string): void {
  const bytes = Buffer.from(text, 'latin1');
  if (bytes.length >= length) throw new LifeboatError('LB_INVALID', `${what} "${text.slice(0, 40)}…" is ${bytes.length} bytes; the field holds ${length - 1}`);
  bytes.copy(out, start);
}

/** Builds one packet. Throws LB_INVALID for values that cannot be represented (bad address, overlong field). */
export function encodePacket(p: PacketFields): Buffer {
  const head = Buffer.alloc(FIXED_LENGTH + 4);
  head[0] = p.op;
  head[1] = p.htype ?? 1;
  head[2] = p.hlen ?? 6;
  head[3] = p.hops ?? 0;
  head.writeUInt32BE(p.xid >>> 0, 4);
  head.writeUInt16BE(p.secs ?? 0, 8);
  head.writeUInt16BE(p.flags ?? 0, 10);
  ipv4ToBytes(p.ciaddr ?? '0.0.0.0').copy(head, 12);
  ipv4ToBytes(p.yiaddr ?? '0.0.0.0').copy(head, 16);
  ipv4ToBytes(p.siaddr ?? '0.0.0.0').copy(head, 20);
  ipv4ToBytes(p.giaddr ?? '0.0.0.0').copy(head, 24);
  p.chaddr.copy(head, 28, 0, Math.min(16, p.chaddr.length));
  writeCString(head, 44, 64, p.sname ?? '', 'server name');
  writeCString(head, 108, 128, p.file ?? '', 'boot file name');
  head.writeUInt32BE(MAGIC_COOKIE, FIXED_LENGTH);
  const parts: Buffer[] = [head];
  for (const [code, value] of p.options) {
    if (!Number.isInteger(code) || code < 1 || code > 254) throw new LifeboatError('LB_INVALID', `DHCP option code ${code} is outside 1-254`);
    if (value.length === 0) {
      parts.push(Buffer.from([code, 0]));
      continue;
    }
    for (let at = 0; at < value.length; at += 255) {
      const chunk = value.subarray(at, at + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([255]));
  const packet = Buffer.concat(parts);
  return packet.length >= MIN_REPLY_LENGTH ? packet : Buffer.concat([packet, Buffer.alloc(MIN_REPLY_LENGTH - packet.length)]);
}

// Typed option readers: each returns null when the option is absent or has the wrong size, so a
// malformed value reads as "not given" rather than as a guess.

export function messageTypeOf(p: DhcpPacket): number | null {
  const v = p.options.get(Option.MESSAGE_TYPE);
  return v && v.length === 1 ? v[0]! : null;
}

export function optionIp(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  return v && v.length === 4 ? ipv4FromBytes(v) : null;
}

export function optionText(p: DhcpPacket, code: number): string | null {
  const v = p.options.get(code);
  if (!v || v.length === 0) return null;
  // Some clients NUL-terminate strings they should not.
  const end = v.indexOf(0);
  return v.subarray(0, end === -1 ? v.length : end).toString('latin1');
}

export function optionUint16List(p: DhcpPacket, code: number): number[] | null {
  const v = p.options.get(code);
  if (!v || v.length === 0 || v.length % 2 !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

/** The client's hardware address as aa:bb:cc:dd:ee:ff (lower case), or null when it is not Ethernet. */
export function macOf(p: DhcpPacket): string | null {
  if (p.htype !== 1 || p.hlen !== 6) return null;
  return formatMac(p.chaddr);
}

/** The 16-byte chaddr field for a MAC in any spelling normalizeMac accepts. */
export function macToBytes(mac: string): Buffer {
  const out = Buffer.alloc(16);
  macBytes(mac).copy(out);
  return out;
}

// Option value writers.
export const encode = {
  u8: (n: number): Buffer => Buffer.from([n]),
  u32: (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  },
  ip: (ip: string): Buffer => ipv4ToBytes(ip),
  ips: (ips: readonly string[]): Buffer => Buffer.concat(ips.map(ipv4ToBytes)),
  text: (s: string): Buffer => Buffer.from(s, 'latin1'),
};
