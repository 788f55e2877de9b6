import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import Type from 'typebox';
import Value from 'typebox/value';
import { LifeboatError } from '../core/errors.js';
import type { DhcpServerOptions } from './dhcp/server.js';
import { TFTP_DEFAULT_LIMITS } from './tftp/tftp-server.js';
import { DEFAULT_REGISTRATION_LIMITS, type RegistrationLimits } from './host-registration.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';

/** Events kept: 90 days, and at most 100,000 of them (a few tens of MB of SQLite). */
export const DEFAULT_EVENT_RETENTION = { keepDays: 90, keepRows: 100_000 } as const;

/**
 * The server's settings: embedded defaults, then a JSON config file, then command-line flags.
 * Every key is documented in the README's settings table.
 */
export const ServerConfigSchema = Type.Object(
  {
    data: Type.Optional(Type.String({ description: 'state directory: SQLite, netboot root, admin token' })),
    store: Type.Optional(Type.String({ description: 'image store; default <data>/store' })),
    http: Type.Optional(Type.String({ description: 'ADDR:PORT for HTTP' })),
    tftp: Type.Optional(Type.String({ description: 'ADDR:PORT for TFTP, or "off"' })),
    tftpLimits: Type.Optional(
      Type.Object(
        {
          maxTransfers: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'TFTP transfers at once, all clients' })),
          maxTransfersPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'TFTP transfers at once from one address' })),
          firstAckSeconds: Type.Optional(Type.Number({ minimum: 0.1, maximum: 600, description: 'a transfer whose first packet is not acknowledged in this time is dropped' })),
        },
        { additionalProperties: false },
      ),
    ),
    publicAddress: Type.Optional(Type.String({ description: 'the address machines reach this server at' })),
    hosts: Type.Optional(
      Type.Object(
        {
          registerPerMinute: Type.Optional(Type.Integer({ minimum: 1, description: 'new machines DHCP and TFTP register per minute, at most' })),
          maxUnknown: Type.Optional(Type.Integer({ minimum: 1, description: 'registered machines with no name and no task, at most' })),
        },
        { additionalProperties: false },
      ),
    ),
    events: Type.Optional(
      Type.Object(
        {
          keepDays: Type.Optional(Type.Number({ minimum: 0.01, description: 'events older than this are pruned' })),
          keepRows: Type.Optional(Type.Integer({ minimum: 100, description: 'at most this many events are kept' })),
        },
        { additionalProperties: false },
      ),
    ),
    adminTokenFile: Type.Optional(Type.String()),
    rescueDir: Type.Optional(Type.String({ description: 'directory with vmlinuz and initrd.img of the rescue system' })),
    rescueCmdline: Type.Optional(Type.String()),
    dhcp: Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('proxy'), Type.Literal('full')])),
          interface: Type.Optional(Type.String()),
          range: Type.Optional(Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+\\.\\d+-\\d+\\.\\d+\\.\\d+\\.\\d+$' })),
          router: Type.Optional(Type.String()),
          dns: Type.Optional(Type.Array(Type.String())),
          leaseSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
          reservations: Type.Optional(Type.Array(Type.Object({ mac: Type.String(), address: Type.String() }))),
          port: Type.Optional(Type.Integer()),
        },
        { additionalProperties: false },
      ),
    ),
    nfs: Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Type.Union([Type.Literal('off'), Type.Literal('auto'), Type.Literal('ganesha'), Type.Literal('kernel')])),
          clients: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ServerConfigFile = Type.Static<typeof ServerConfigSchema>;

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
  nfs: { mode: 'off' | 'auto' | 'ganesha' | 'kernel'; clients: string[] };
}

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

export async function loadConfigFile(path: string): Promise<ServerConfigFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new LifeboatError('LB_USAGE', `config file ${path} cannot be read as JSON: ${(e as Error).message}`);
  }
  if (!Value.Check(ServerConfigSchema, parsed)) {
    const problems = [...Value.Errors(ServerConfigSchema, parsed)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_USAGE', `config file ${path} is invalid: ${problems.join('; ')}`);
  }
  return parsed;
}

/** Merges file settings and flags over the defaults and checks what depends on what. */
export function resolveConfig(file: ServerConfigFile): ServerConfig {
  const dataDir = resolve(file.data ?? process.env.LIFEBOAT_DATA ?? '/var/lib/lifeboat');
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
  const netbootRoot = join(dataDir, 'netboot');
  return {
    dataDir,
    store: resolve(file.store ?? process.env.LIFEBOAT_STORE ?? join(dataDir, 'store')),
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
    nfs: { mode: nfsMode, clients },
  };
}

function subnetOf(cidr: string): string {
  const [addr, bits] = cidr.split('/') as [string, string];
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return `${formatIpv4((parseIpv4(addr) & mask) >>> 0)}/${bits}`;
}
