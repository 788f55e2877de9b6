import { connect } from 'node:net';
import { runTool } from '../../core/run-tool.js';

/**
 * Where the NFS server runs: this network namespace, or a named one (`ip netns exec NAME`), as in
 * the integration tests and a server that serves an isolated test-bed network from a namespace.
 * `ip netns exec` execs the command, so the PID of what it starts is the server's own PID.
 */
export function inNamespace(netns: string | undefined, file: string, args: readonly string[]): { file: string; args: string[] } {
  return netns ? { file: 'ip', args: ['netns', 'exec', netns, file, ...args] } : { file, args: [...args] };
}

/** Whether a TCP connection to address:port is accepted, from inside the namespace when one is given. */
export async function tcpAccepts(address: string, port: number, netns?: string): Promise<boolean> {
  if (netns) {
    // The supervisor runs in the caller's namespace, where the address may not be reachable at all,
    // so the probe runs in the server's namespace: bash's /dev/tcp needs no extra package.
    const cmd = inNamespace(netns, 'bash', ['-c', 'exec 3<>"/dev/tcp/$0/$1"', address, String(port)]);
    try {
      await runTool(cmd.file, cmd.args, { timeoutMs: 3000 });
      return true;
    } catch {
      return false;
    }
  }
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 2000 });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
