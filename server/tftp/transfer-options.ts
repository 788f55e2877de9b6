/**
 * Option negotiation for a read request (RFC 2347 framework, RFC 2348 blksize, RFC 2349 tsize,
 * RFC 7440 windowsize): what the client asked for, lowered to what this server allows. A server
 * may answer any of these with a smaller value, and an option it does not answer is not in force.
 */

export const PROTOCOL_MAX_BLKSIZE = 65464;
export const PROTOCOL_MAX_WINDOWSIZE = 65535;
/** Linux's default `net.core.rmem_default`: the receive buffer of a client that does not set one. */
export const DEFAULT_CLIENT_RECEIVE_BUFFER = 212_992;

export interface OptionLimits {
  maxBlksize: number;
  maxWindowsize: number;
  /**
   * The receive buffer a client is assumed to have. A window is sent back to back, so the whole
   * window may sit in that buffer before the client reads any of it; a bigger window is lowered so
   * it fits, rather than having its tail dropped and waiting for a timeout every window.
   */
  clientReceiveBuffer: number;
}

export interface Negotiated {
  /** Options to acknowledge (OACK), with the values in force; empty when the client sent none we take. */
  options: Record<string, number>;
  blksize: number;
  windowsize: number;
  /** Why an option was lowered or ignored, for the debug log. */
  notes: string[];
}

/**
 * Kernel memory one received datagram of `blksize` data bytes takes (skb truesize), measured on
 * Linux loopback: 516-byte packets take 1,280 bytes, 1,436 take 2,304, 4,100 take 8,448, 8,196 take
 * 16,640. Rounding the packet (plus headroom) up to a power of two, plus 256, gives those exactly,
 * and over-estimates larger ones, which errs on the safe side.
 */
export function receiveCost(blksize: number): number {
  const packet = blksize + 4 + 320;
  return 2 ** Math.ceil(Math.log2(packet)) + 256;
}

/** The largest window of `blksize` blocks that fits in `receiveBuffer` bytes, at least 1. */
export function windowThatFits(blksize: number, receiveBuffer: number): number {
  return Math.max(1, Math.floor(receiveBuffer / receiveCost(blksize)));
}

/**
 * The integer the client asked for as option `name`, or null when it did not ask or asked for
 * something outside `min`..`max` (noted: an option a server does not answer is not in force).
 */
function askedInteger(requested: Map<string, string>, name: string, range: { min: number; max: number; rfc: string }, notes: string[]): number | null {
  const asked = requested.get(name);
  if (asked === undefined) return null;
  const n = /^[0-9]{1,10}$/.test(asked) ? Number(asked) : null;
  if (n !== null && n >= range.min && n <= range.max) return n;
  notes.push(`${name} "${asked}" ignored: ${range.rfc} allows ${range.min} to ${range.max}`);
  return null;
}

export function negotiateOptions(requested: Map<string, string>, limits: OptionLimits): Negotiated {
  const options: Record<string, number> = {};
  const notes: string[] = [];
  let blksize = 512;
  let windowsize = 1;

  const askedBlksize = askedInteger(requested, 'blksize', { min: 8, max: PROTOCOL_MAX_BLKSIZE, rfc: 'RFC 2348' }, notes);
  if (askedBlksize !== null) {
    blksize = Math.min(askedBlksize, limits.maxBlksize);
    if (blksize < askedBlksize) notes.push(`blksize ${askedBlksize} lowered to ${blksize} (server maximum)`);
    options.blksize = blksize;
  }

  const askedTsize = requested.get('tsize');
  if (askedTsize !== undefined) {
    // In a read request tsize is sent as 0 and answered with the file's size (filled in later).
    options.tsize = 0;
  }

  const askedWindow = askedInteger(requested, 'windowsize', { min: 1, max: PROTOCOL_MAX_WINDOWSIZE, rfc: 'RFC 7440' }, notes);
  if (askedWindow !== null) {
    const fits = windowThatFits(blksize, limits.clientReceiveBuffer);
    windowsize = Math.min(askedWindow, limits.maxWindowsize, fits);
    if (windowsize < askedWindow) {
      notes.push(
        windowsize === fits && fits < limits.maxWindowsize
          ? `windowsize ${askedWindow} lowered to ${windowsize}: ${askedWindow} blocks of ${blksize} bytes would overflow a ${limits.clientReceiveBuffer}-byte receive buffer`
          : `windowsize ${askedWindow} lowered to ${windowsize} (server maximum)`,
      );
    }
    options.windowsize = windowsize;
  }

  for (const name of requested.keys()) {
    if (name !== 'blksize' && name !== 'tsize' && name !== 'windowsize') notes.push(`option "${name}" not supported, ignored`);
  }
  return { options, blksize, windowsize, notes };
}
