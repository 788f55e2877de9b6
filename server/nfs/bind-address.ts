import { LifeboatError } from '../../core/errors.js';
import { runToolJson } from '../../core/run-tool.js';

interface IpAddrEntry {
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/**
 * Ganesha binds its listening socket to one address at start and dies if that address is not on
 * an interface ("Cannot assign requested address"); checking first turns that into an error that
 * says which addresses are there and how to add the missing one.
 */
export async function checkBindAddress(address: string, netns?: string): Promise<{ ifname: string }> {
  const where = netns ? `network namespace ${netns}` : 'this host';
  const entries = await runToolJson<IpAddrEntry[]>('ip', [...(netns ? ['-n', netns] : []), '-j', '-4', 'addr', 'show'], {
    purpose: `list the IPv4 addresses of ${where}`,
  });
  const present: string[] = [];
  for (const entry of entries) {
    for (const info of entry.addr_info ?? []) {
      if (info.family !== 'inet' || !info.local) continue;
      if (info.local === address) return { ifname: entry.ifname ?? '?' };
      present.push(`${info.local}/${info.prefixlen ?? 32} on ${entry.ifname ?? '?'}`);
    }
  }
  throw new LifeboatError(
    'LB_INVALID',
    `NFS bind address ${address} is not on any interface of ${where} (there: ${present.join(', ') || 'none'}): ` +
      `add it to the test-bed interface (ip addr add ${address}/24 dev IF) or bind to one of those`,
    { address, ...(netns ? { netns } : {}) },
  );
}
