import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LIFEBOAT_VERSION } from '../core/version.js';
import type { RunningServer } from '../server/lifeboat-server.js';

/**
 * The few lines `lifeboat serve` prints on stdout once it serves: where it answers, where the
 * admin token is, and what is not ready yet (with the command that fixes it). The logs stay on
 * stderr, so the banner reads the same whatever the log format.
 */
export interface BannerFacts {
  server: Pick<RunningServer, 'httpBase' | 'config' | 'nfs'>;
  configPath: string | null;
}

/** The rescue system's kernel from its build.json, or why machines cannot boot it. */
async function rescueState(rescueDir: string): Promise<string> {
  const kernel = await readFile(join(rescueDir, 'vmlinuz')).then(() => true, () => false);
  if (!kernel) return `MISSING in ${rescueDir}: machines with a task cannot boot; run lifeboat netboot build`;
  try {
    const record = JSON.parse(await readFile(join(rescueDir, 'build.json'), 'utf8')) as { kernel?: { version?: string } };
    return `built, kernel ${record.kernel?.version ?? 'unknown'} (${rescueDir})`;
  } catch {
    return `present, no build.json (${rescueDir})`;
  }
}

export async function renderBanner({ server, configPath }: BannerFacts): Promise<string> {
  const c = server.config;
  const dhcp =
    c.dhcp.mode === 'off'
      ? 'off (the site\'s DHCP server points machines here; lifeboat init prints its settings)'
      : `${c.dhcp.mode} on ${c.dhcp.interface}${c.dhcp.range ? `, addresses ${c.dhcp.range.first}-${c.dhcp.range.last}` : ''}`;
  const share = c.nfs.capturesShare;
  const nfs = server.nfs
    ? `${server.nfs.kind} (${server.nfs.reason}): ${server.nfs.urls.join(' ')}`
    : share ? `off; captures go to ${share.server}:${share.export} (--captures-share)` : 'off (capture tasks need it: --nfs auto)';
  const rows: Array<[string, string]> = [
    ['API, boot files', `${server.httpBase}  (machines use http://${c.publicAddress}:${c.http.port})`],
    ['TFTP', c.tftp ? `${c.tftp.host}:${c.tftp.port}` : 'off'],
    ['admin token', c.adminTokenFile],
    ['DHCP', dhcp],
    ['NFS', nfs],
    ['rescue system', await rescueState(c.rescueDir)],
    ['store', c.store],
    ['config', configPath ?? 'no file (defaults and flags; lifeboat init writes one)'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return `Lifeboat ${LIFEBOAT_VERSION} serving\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}
