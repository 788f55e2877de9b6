import { LifeboatError } from '../../core/errors.js';

/** MACs are stored and compared as lower-case, colon-separated: aa:bb:cc:dd:ee:ff. */
export function normalizeMac(text: string): string {
  const hex = text.trim().toLowerCase().replace(/[-:.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) throw new LifeboatError('LB_INVALID', `"${text}" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)`);
  return hex.match(/../g)!.join(':');
}
