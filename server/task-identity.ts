import { LifeboatError } from '../core/errors.js';
import { checkIdentityRows, type IdentityRow } from '../images/restore/identity/identity-pattern.js';
import { parseIpv4 } from './ipv4.js';

/**
 * A nuke's identity, refused before any machine boots: a valid hostname and address, no name or
 * address given twice, and every address inside the test-bed network when the server knows it
 * (a clone given an address its network cannot route is unreachable after its first boot).
 */
export function checkTaskIdentities(rows: IdentityRow[], label: (i: number) => string, testbedSubnet: string | null): void {
  checkIdentityRows(rows, label);
  if (!testbedSubnet) return;
  const [network, bits] = testbedSubnet.split('/') as [string, string];
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  rows.forEach((row, i) => {
    if (row.ipv4 === undefined) return;
    const [address, prefix] = row.ipv4.split('/') as [string, string | undefined];
    if (((parseIpv4(address) & mask) >>> 0) !== parseIpv4(network)) {
      throw new LifeboatError('LB_INVALID', `${label(i)}: address ${address} is outside the test-bed network ${testbedSubnet}`);
    }
    if (prefix !== undefined && prefix !== bits) {
      throw new LifeboatError('LB_INVALID', `${label(i)}: address ${row.ipv4} has prefix /${prefix}, the test-bed network ${testbedSubnet} has /${bits}`);
    }
  });
}
