import { runTool } from '../core/run-tool.js';

/**
 * Who already listens on the ports Lifeboat needs, from `ss -lpn` (collect), read by a pure parser
 * (interpret). Without root, ss shows the port but not the process; the answer says so.
 */
export interface PortNeed {
  port: number;
  proto: 'udp' | 'tcp';
  purpose: string;
}

export interface PortHolder {
  local: string;
  /** "dnsmasq (pid 812)", or null when ss could not see the process (not root). */
  process: string | null;
}

/** `ss -H -lpn[u|t]` lines → the listeners on `port`. */
export function holdersOf(ssOutput: string, port: number): PortHolder[] {
  const held: PortHolder[] = [];
  for (const line of ssOutput.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[3];
    if (!local || Number(local.slice(local.lastIndexOf(':') + 1)) !== port) continue;
    const procs = [...line.matchAll(/\("([^"]+)",pid=(\d+)/g)].map((m) => `${m[1]} (pid ${m[2]})`);
    held.push({ local, process: procs.length ? [...new Set(procs)].join(', ') : null });
  }
  return held;
}

export async function checkPorts(needs: PortNeed[]): Promise<Array<PortNeed & { holders: PortHolder[] }>> {
  const listening = {
    udp: (await runTool('ss', ['-H', '-lpnu'], { purpose: 'list the UDP ports in use' })).stdout,
    tcp: (await runTool('ss', ['-H', '-lpnt'], { purpose: 'list the TCP ports in use' })).stdout,
  };
  return needs.map((n) => ({ ...n, holders: holdersOf(listening[n.proto], n.port) }));
}

export function renderPortReport(checked: Array<PortNeed & { holders: PortHolder[] }>): string {
  return checked
    .map(({ port, proto, purpose, holders }) => {
      const what = `${String(port).padStart(5)}/${proto}  ${purpose.padEnd(28)}`;
      if (!holders.length) return `  ${what} free`;
      const who = holders.map((h) => `${h.local} by ${h.process ?? 'a process ss cannot name (run as root to see it)'}`).join('; ');
      return `  ${what} IN USE: ${who}; stop it or choose another setting`;
    })
    .join('\n');
}
