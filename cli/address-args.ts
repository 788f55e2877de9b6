import { LifeboatError, isLifeboatError } from '../core/errors.js';
import { parseIpv4 } from '../server/ipv4.js';
import { normalizeMac } from '../server/state/mac.js';

/**
 * MACs and addresses from the command line, checked before anything is sent: the server would
 * refuse them too, but only after a token is read and a connection made, and in its own words
 * without the flag's name. The spellings accepted are the server's own (state/mac.ts, ipv4.ts).
 */
function asUsage(what: string, check: () => void): void {
  try {
    check();
  } catch (e) {
    if (isLifeboatError(e)) throw new LifeboatError('LB_USAGE', `${what}: ${e.message}`);
    throw e;
  }
}

export function checkMacArgument(text: string, what: string): string {
  asUsage(what, () => normalizeMac(text));
  return text;
}

/** ADDR or ADDR/PREFIX (0–32), as `task nuke --ip` takes it. */
export function checkIpv4Argument(text: string, what: string): string {
  const [address, prefix, extra] = text.split('/');
  asUsage(what, () => parseIpv4(address!));
  if (extra !== undefined || (prefix !== undefined && (!/^\d{1,2}$/.test(prefix) || Number(prefix) > 32))) {
    throw new LifeboatError('LB_USAGE', `${what}: "${text}" has no valid prefix length: write ADDR/PREFIX with PREFIX 0-32, e.g. 10.77.0.11/24`);
  }
  return text;
}
