import { LifeboatError } from '../../core/errors.js';

/**
 * The spellings of a MAC that the server reads, in any case: six hex pairs separated by ':' or '-'
 * or nothing (52:54:00:12:34:56, 52-54-00-12-34-56, 525400123456), or three groups of four
 * separated by '.' (5254.0012.3456, as switches print them). The API's schemas use this pattern,
 * so a spelling the state accepts, the API accepts too.
 */
export const MAC_PATTERN = '^(?:[0-9A-Fa-f]{2}(?:[:-]?[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4})$';
const MAC_SPELLING = new RegExp(MAC_PATTERN);

/**
 * MACs are stored, compared and logged in one canonical form: lower-case, colon-separated
 * (aa:bb:cc:dd:ee:ff). What an operator, a packet or a URL gives is read here and nowhere else.
 */
export function normalizeMac(text: string): string {
  const trimmed = text.trim();
  if (!MAC_SPELLING.test(trimmed)) throw new LifeboatError('LB_INVALID', `"${text}" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)`);
  return trimmed.toLowerCase().replace(/[-:.]/g, '').match(/../g)!.join(':');
}

/** Six bytes of a hardware address → the canonical form. */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Any accepted spelling → its six bytes. */
export function macBytes(text: string): Buffer {
  return Buffer.from(normalizeMac(text).replaceAll(':', ''), 'hex');
}
