import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { LifeboatError } from '../core/errors.js';
import { DEFAULT_DATA_DIR } from './config-file.js';
import type { DhcpServerOptions } from './dhcp/server.js';
import { TFTP_DEFAULT_LIMITS } from './tftp/tftp-server.js';
import { DEFAULT_REGISTRATION_LIMITS, type RegistrationLimits } from './host-registration.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';
import type { ServerConfigFile } from './config-file.js';

export { ServerConfigSchema, loadConfigFile, type ServerConfigFile } from './config-file.js';

/** Events kept: 90 days, and at most 100,000 of them (a few tens of MB of SQLite). */
export const DEFAULT_EVENT_RETENTION = { keepDays: 90, keepRows: 100_000 } as const;


export interface ServerConfig {
  dataDir: string;
  store: string;
  http: { host: string; port: number };
  tftp: { host: string; port: number } | null;
  tftpLimits: { maxTransfers: number; maxTransfersPerAddress: number; firstAckTimeoutMs: number };
  registration: RegistrationLimits;
  eventRetention: { keepDays: number; keepRows: number };
  publicAddress: string;
  /** --interface's IPv4 network (10.77.0.0/24), or null without --interface. */
  testbedSubnet: string | null;
  adminTokenFile: string;
  rescueDir: string;
  rescueCmdline: string;
  netbootRoot: string;
  dhcp: { mode: 'off' | 'proxy' | 'full' } & Partial<Pick<DhcpServerOptions, 'interface' | 'range' | 'subnetMask' | 'router' | 'dns' | 'leaseSeconds' | 'reservations' | 'port'>>;
  /** capturesShare: <data>/captures as another NFS server exports it, when Lifeboat runs none. */
  nfs: {
    mode: 'off' | 'auto' | 'ganesha' | 'kernel';
    clients: string[];
    capturesShare: { server: string; export: string } | null;
    /** The uid and gid every request of a backup client runs as on the server, and owns what it writes. */
    backupUid: number;
  };
}

/** Owns what backup clients write until the server adopts it: no Debian package allocates it. */
export const DEFAULT_BACKUP_UID = 60100;

/** ADDR:PORT, ADDR, PORT or :PORT; a missing address is `defaultHost`. */
export function parseHostPort(text: string, what: string, defaultPort: number, defaultHost = '0.0.0.0'): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(text) ?? /^([^:]+)$/.exec(text);
  if (!m) throw new LifeboatError('LB_USAGE', `${what} "${text}" is not ADDR:PORT`);
  const host = m[2] === undefined ? m[1]! : m[1] || defaultHost;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new LifeboatError('LB_USAGE', `${what} port ${port} is out of range`);
  return { host, port };
}

export function interfaceAddress(name: string): { address: string; netmask: string; cidr: string } {
  const entries = networkInterfaces()[name];
  if (!entries) throw new LifeboatError('LB_USAGE', `interface ${name} does not exist here; interfaces: ${Object.keys(networkInterfaces()).join(', ')}`);
  const v4 = entries.find((e) => e.family === 'IPv4');
  if (!v4) throw new LifeboatError('LB_USAGE', `interface ${name} has no IPv4 address: give it one (ip addr add 10.0.0.1/24 dev ${name})`);
  return { address: v4.address, netmask: v4.netmask, cidr: v4.cidr ?? `${v4.address}/32` };
}

function firstExternalAddress(): string {
  for (const entries of Object.values(networkInterfaces())) for (const e of entries ?? []) if (e.family === 'IPv4' && !e.internal) return e.address;
  return '127.0.0.1';
}

/** Merges the settings (flags over environment over file: see config-file.ts) over the defaults and checks what depends on what. */
export function resolveConfig(file: ServerConfigFile): ServerConfig {
  const dataDir = resolve(file.data ?? DEFAULT_DATA_DIR);
  const dhcpMode = file.dhcp?.mode ?? 'off';
  const iface = file.dhcp?.interface;
  const ifaceInfo = iface ? interfaceAddress(iface) : null;
  if (dhcpMode !== 'off' && !iface) throw new LifeboatError('LB_USAGE', `--dhcp ${dhcpMode} needs --interface: Lifeboat answers DHCP only on the interface it is given`);
  let range: { first: string; last: string } | undefined;
  if (file.dhcp?.range) {
    const [first, last] = file.dhcp.range.split('-') as [string, string];
    range = { first, last };
  }
  if (dhcpMode === 'full' && !range) throw new LifeboatError('LB_USAGE', '--dhcp full needs --range FIRST-LAST: the addresses it may hand out');
  // With the test-bed interface given, HTTP listens on its address only (the API and the agents'
  // calls stay off other networks); without one, on every address, as before.
  const httpHost = ifaceInfo?.address ?? '0.0.0.0';
  const http = parseHostPort(file.http ?? '8080', '--http', 8080, httpHost);
  const tftp = file.tftp === 'off' ? null : parseHostPort(file.tftp ?? '0.0.0.0:69', '--tftp', 69);
  const publicAddress = file.publicAddress ?? ifaceInfo?.address ?? (http.host !== '0.0.0.0' && http.host !== '::' ? http.host : firstExternalAddress());
  const nfsMode = file.nfs?.mode ?? 'off';
  const clients = file.nfs?.clients ?? (ifaceInfo ? [subnetOf(ifaceInfo.cidr)] : []);
  if (nfsMode !== 'off' && clients.length === 0) throw new LifeboatError('LB_USAGE', '--nfs needs the test-bed subnet: give --interface or nfs.clients in the config file');
  const share = file.nfs?.capturesShare;
  if (share && nfsMode !== 'off') throw new LifeboatError('LB_USAGE', `--captures-share ${share} is for a capture share another NFS server exports; with --nfs ${nfsMode} Lifeboat exports its own: give one of them`);
  const capturesShare = share ? { server: share.slice(0, share.indexOf(':')), export: share.slice(share.indexOf(':') + 1) } : null;
  const netbootRoot = join(dataDir, 'netboot');
  return {
    dataDir,
    store: resolve(file.store ?? join(dataDir, 'store')),
    http,
    tftp,
    tftpLimits: {
      maxTransfers: file.tftpLimits?.maxTransfers ?? TFTP_DEFAULT_LIMITS.maxTransfers,
      maxTransfersPerAddress: file.tftpLimits?.maxTransfersPerAddress ?? TFTP_DEFAULT_LIMITS.maxTransfersPerAddress,
      firstAckTimeoutMs: file.tftpLimits?.firstAckSeconds !== undefined ? Math.round(file.tftpLimits.firstAckSeconds * 1000) : TFTP_DEFAULT_LIMITS.firstAckTimeoutMs,
    },
    publicAddress,
    testbedSubnet: ifaceInfo ? subnetOf(ifaceInfo.cidr) : null,
    registration: {
      perMinute: file.hosts?.registerPerMinute ?? DEFAULT_REGISTRATION_LIMITS.perMinute,
      maxUnknown: file.hosts?.maxUnknown ?? DEFAULT_REGISTRATION_LIMITS.maxUnknown,
    },
    eventRetention: { keepDays: file.events?.keepDays ?? DEFAULT_EVENT_RETENTION.keepDays, keepRows: file.events?.keepRows ?? DEFAULT_EVENT_RETENTION.keepRows },
    adminTokenFile: resolve(file.adminTokenFile ?? join(dataDir, 'admin-token')),
    rescueDir: resolve(file.rescueDir ?? join(netbootRoot, 'rescue')),
    rescueCmdline: file.rescueCmdline ?? 'console=tty0 console=ttyS0,115200n8',
    netbootRoot,
    dhcp: {
      mode: dhcpMode,
      ...(iface ? { interface: iface } : {}),
      ...(range ? { range } : {}),
      ...(ifaceInfo ? { subnetMask: ifaceInfo.netmask } : {}),
      ...(file.dhcp?.router ? { router: file.dhcp.router } : {}),
      ...(file.dhcp?.dns ? { dns: file.dhcp.dns } : {}),
      ...(file.dhcp?.leaseSeconds ? { leaseSeconds: file.dhcp.leaseSeconds } : {}),
      ...(file.dhcp?.reservations ? { reservations: file.dhcp.reservations } : {}),
      ...(file.dhcp?.port ? { port: file.dhcp.port } : {}),
    },
    nfs: { mode: nfsMode, clients, capturesShare, backupUid: file.nfs?.backupUid ?? DEFAULT_BACKUP_UID },
  };
}

function subnetOf(cidr: string): string {
  const [addr, bits] = cidr.split('/') as [string, string];
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return `${formatIpv4((parseIpv4(addr) & mask) >>> 0)}/${bits}`;
}
