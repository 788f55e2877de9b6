// Runs Lifeboat's DHCP server as its own process, so a test can start it inside a network
// namespace (`ip netns exec NS node dist/test/support/dhcp-server-entry.js CONFIG.json`).
// Prints {"ready":true} on stdout once listening; stops on SIGTERM. Logs (pino JSON) go to stdout.
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { createRootLogger, componentLogger } from '../../core/log.js';
import { startDhcpServer, type DhcpServerOptions } from '../../server/dhcp/index.js';
import type { BootAnswer, BootClient } from '../../server/dhcp/classify.js';

export interface DhcpEntryConfig extends Omit<DhcpServerOptions, 'db' | 'bootFor' | 'logger'> {
  dbPath: string;
  logLevel?: string;
  /** MACs the stand-in planner gives no boot information. */
  noBootFor?: string[];
}

/**
 * The choice the BootPlanner will make, simplified so tests can assert on it: iPXE gets the
 * script URL (breaking the chainload loop), BIOS PXE undionly.kpxe, UEFI snponly.efi, UEFI HTTP
 * boot an http URL; a machine that is not network-booting gets nothing.
 */
export function testBootFor(serverAddress: string, noBootFor: string[] = []) {
  return async (client: BootClient): Promise<BootAnswer | null> => {
    if (noBootFor.includes(client.mac)) return null;
    if (client.isIpxe) return { filename: `http://${serverAddress}/boot.ipxe` };
    if (!client.isPxe) return null;
    switch (client.firmware) {
      case 'bios':
        return { filename: 'undionly.kpxe', nextServer: serverAddress };
      case 'uefi':
        return { filename: 'snponly.efi', nextServer: serverAddress };
      case 'uefi-http':
        return { filename: `http://${serverAddress}/ipxe.efi` };
      default:
        return null;
    }
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as DhcpEntryConfig;
  createRootLogger({ level: config.logLevel ?? 'debug', destination: 1 });
  const db = new Database(config.dbPath);
  db.pragma('journal_mode = WAL');
  const { dbPath: _db, logLevel: _l, noBootFor, ...options } = config;
  const server = await startDhcpServer({ ...options, db, bootFor: testBootFor(config.serverAddress, noBootFor), logger: componentLogger('dhcp') });
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  const stop = async () => {
    await server.close();
    db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ready: false, error: (e as Error).message })}\n`);
  process.exit(1);
});
