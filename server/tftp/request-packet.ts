/**
 * The first packet of a TFTP transfer (RFC 1350 RRQ/WRQ, with RFC 2347 options), read from raw
 * bytes exactly as sent: nothing is normalised or refused here, so policy sees, logs and judges the
 * name the client sent (the npm `tftp` package's server normalised and refused some names before
 * any hook could log them). Also the packets the server writes besides DATA: OACK and ERROR.
 */

export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 error codes we send. */
export const TFTP_ERROR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  ILLEGAL_OPERATION: 4,
  OPTION_REFUSED: 8,
} as const;

export interface TftpRequest {
  kind: 'read' | 'write';
  /** The file name exactly as sent, decoded byte for byte (latin1) so nothing is hidden by decoding. */
  file: string;
  /** Transfer mode, lower-cased ("octet", "netascii", "mail", or whatever the client sent). */
  mode: string;
  /** Options by lower-cased name (RFC 2347 says names are case-insensitive), values as sent. */
  options: Map<string, string>;
}

export type ParsedRequest = { ok: true; request: TftpRequest } | { ok: false; reason: string };

/** Reads one NUL-terminated string starting at `offset`; null when the packet ends first. */
function readField(packet: Buffer, offset: number): { value: string; next: number } | null {
  const end = packet.indexOf(0, offset);
  if (end === -1) return null;
  return { value: packet.toString('latin1', offset, end), next: end + 1 };
}

export function parseRequest(packet: Buffer): ParsedRequest {
  if (packet.length < 4) return { ok: false, reason: `packet of ${packet.length} bytes is too short to be a TFTP request` };
  const opcode = packet.readUInt16BE(0);
  if (opcode !== OPCODE.RRQ && opcode !== OPCODE.WRQ) {
    return { ok: false, reason: `opcode ${opcode} is not a read or write request (only RRQ and WRQ may start a transfer)` };
  }
  const file = readField(packet, 2);
  if (!file) return { ok: false, reason: 'the file name is not NUL-terminated' };
  const mode = readField(packet, file.next);
  if (!mode) return { ok: false, reason: 'the transfer mode is missing or not NUL-terminated' };
  const options = new Map<string, string>();
  let offset = mode.next;
  while (offset < packet.length) {
    const name = readField(packet, offset);
    if (!name) return { ok: false, reason: 'an option name is not NUL-terminated' };
    const value = readField(packet, name.next);
    if (!value) return { ok: false, reason: `option "${name.value}" has no NUL-terminated value` };
    options.set(name.value.toLowerCase(), value.value);
    offset = value.next;
  }
  return {
    ok: true,
    request: { kind: opcode === OPCODE.RRQ ? 'read' : 'write', file: file.value, mode: mode.value.toLowerCase(), options },
  };
}

/** An OACK (RFC 2347): the options in force, names and values as NUL-terminated ASCII. */
export function serializeOack(options: Record<string, number>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, OPCODE.OACK])];
  for (const [name, value] of Object.entries(options)) parts.push(Buffer.from(`${name}\0${value}\0`, 'latin1'));
  return Buffer.concat(parts);
}

/** An ERROR packet; the message is kept to printable ASCII so every client can show it. */
export function serializeError(code: number, message: string): Buffer {
  const text = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
  const packet = Buffer.alloc(4 + text.length + 1);
  packet.writeUInt16BE(OPCODE.ERROR, 0);
  packet.writeUInt16BE(code, 2);
  packet.write(text, 4, 'ascii');
  return packet;
}
