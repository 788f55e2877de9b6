import { LifeboatError } from '../../core/errors.js';

/**
 * MACs are stored, compared and logged in one canonical form: lower-case, colon-separated
 * (aa:bb:cc:dd:ee:ff). What an operator, a packet or a URL gives is read here and nowhere else:
 * twelve hex digits in any case, with or without separators, the separators being any of ':', '-'
 * or '.' (so 52:54:00:12:34:56, 52-54-00-12-34-56, 5254.0012.3456 and 525400123456 are one MAC).
 */
export function normalizeMac(text: string): string {
  const hex = text.trim().toLowerCase().replace(/[-:.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) throw new LifeboatError('LB_INVALID', `"${text}" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)`);
  return hex.match(/../g)!.join(':');
}

/** Six bytes of a hardware address → the canonical form. */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Any accepted spelling → its six bytes. */
export function macBytes(text: string): Buffer {
  return Buffer.from(normalizeMac(text).replaceAll(':', ''), 'hex');
}
