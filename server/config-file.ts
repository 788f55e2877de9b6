import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import Type from 'typebox';
import { LifeboatError } from '../core/errors.js';
import { configFilePath } from './config-location.js';

/**
 * The one configuration file the server and the CLI both read, and the order its settings are
 * taken in: a flag, then the environment, then the file, then the default. This module is kept
 * light (no server code) because every API command of the CLI loads it.
 */
// Where the file is lives apart, without the schema library, for the CLI's quick start.
export { DEFAULT_CONFIG_FILE, configFilePath } from './config-location.js';
export const DEFAULT_DATA_DIR = '/var/lib/lifeboat';

/**
 * The settings file: every key is documented in the README's settings table. The server reads all
 * of it; the CLI reads `server`, `http`, `dhcp.interface`, `data` and `adminTokenFile` to find the
 * server and its token.
 */
export const ServerConfigSchema = Type.Object(
  {
    data: Type.Optional(Type.String({ description: 'state directory: SQLite, netboot root, admin token' })),
    server: Type.Optional(Type.String({ description: 'the URL the CLI calls; default from http' })),
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
          capturesShare: Type.Optional(Type.String({ pattern: '^[^:\\s]+:/\\S*$', description: 'SERVER:/EXPORT: <data>/captures exported by an NFS server Lifeboat does not run (with nfs.mode off)' })),
          backupUid: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647, description: 'uid and gid that backup clients write as (all squashed to it); default 60100' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ServerConfigFile = Type.Static<typeof ServerConfigSchema>;

export async function loadConfigFile(path: string): Promise<ServerConfigFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new LifeboatError('LB_USAGE', `config file ${path} cannot be read as JSON: ${(e as Error).message}`);
  }
  // typebox/value is loaded only when there is a file to check: ~65 ms that a command calling the API without one need not pay.
  const { default: Value } = await import('typebox/value');
  if (!Value.Check(ServerConfigSchema, parsed)) {
    const problems = [...Value.Errors(ServerConfigSchema, parsed)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_USAGE', `config file ${path} is invalid: ${problems.join('; ')}`);
  }
  return parsed;
}


/** The file's settings with the environment's over them ($LIFEBOAT_DATA, $LIFEBOAT_STORE); flags go over this. */
export async function readSettings(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<{ file: ServerConfigFile; path: string | null }> {
  const where = configFilePath(flag, env);
  if (where && !existsSync(where.path)) {
    throw new LifeboatError('LB_USAGE', `config file ${where.path} does not exist (named by ${flag ? '--config' : '$LIFEBOAT_CONFIG'}): write it with lifeboat init --config ${where.path}, or name another`);
  }
  const file = where ? await loadConfigFile(where.path) : {};
  return { file: overEnvironment(file, env), path: where?.path ?? null };
}

export function overEnvironment(file: ServerConfigFile, env: NodeJS.ProcessEnv): ServerConfigFile {
  return { ...file, ...(env.LIFEBOAT_DATA ? { data: env.LIFEBOAT_DATA } : {}), ...(env.LIFEBOAT_STORE ? { store: env.LIFEBOAT_STORE } : {}) };
}

/**
 * Where the CLI finds the server and its admin token when neither a flag nor the environment says:
 * the file's `server`, else the URL its `http` listens on (the --interface's address when the
 * server binds there, loopback for 0.0.0.0); the file's `adminTokenFile`, else `<data>/admin-token`.
 */
export function cliDefaults(file: ServerConfigFile): { server: string; tokenFile: string } {
  const tokenFile = file.adminTokenFile ?? join(file.data ?? DEFAULT_DATA_DIR, 'admin-token');
  if (file.server) return { server: file.server.replace(/\/+$/, ''), tokenFile };
  const http = file.http ?? '8080';
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(http);
  const port = m ? m[2]! : '8080';
  // A bare port listens on the --interface's address when there is one (as resolveConfig does).
  const ifaceAddress = file.dhcp?.interface ? networkInterfaces()[file.dhcp.interface]?.find((e) => e.family === 'IPv4')?.address : undefined;
  let host = m ? m[1] || ifaceAddress || '127.0.0.1' : http;
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { server: `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`, tokenFile };
}
