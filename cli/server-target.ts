import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError } from '../core/errors.js';

/**
 * Which server the CLI talks to and with which token, decided in one place: a flag beats the
 * environment, the environment beats a configuration file, that beats the default. A config source
 * is one more argument here, not a second resolver.
 */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';
export const DEFAULT_DATA_DIR = '/var/lib/lifeboat';

export interface TargetSources {
  flags: { server?: string | undefined; tokenFile?: string | undefined; data?: string | undefined };
  env: Record<string, string | undefined>;
  /** A configuration file's values, when one is read (lowest before the defaults). */
  config?: { server?: string | undefined; adminTokenFile?: string | undefined; data?: string | undefined } | undefined;
}

/** Where the token comes from, and why there: the reason is printed when the file is missing. */
export type TokenSource = { kind: 'value'; token: string; from: string } | { kind: 'file'; path: string; from: string };

export interface ServerTarget {
  url: string;
  urlFrom: string;
  token: TokenSource;
}

/** Decides, reads nothing: the same answer for the same flags, environment and config. */
export function resolveServerTarget(s: TargetSources): ServerTarget {
  const pick = (options: Array<[string | undefined, string]>): [string, string] | undefined => {
    const hit = options.find(([v]) => v !== undefined && v !== '');
    return hit ? [hit[0]!, hit[1]] : undefined;
  };
  const [url, urlFrom] = pick([
    [s.flags.server, '--server'],
    [s.env.LIFEBOAT_SERVER, '$LIFEBOAT_SERVER'],
    [s.config?.server, 'the config file'],
  ]) ?? [DEFAULT_SERVER_URL, 'the default'];
  const explicitFile = pick([[s.flags.tokenFile, '--token-file']]);
  const envToken = s.env.LIFEBOAT_ADMIN_TOKEN?.trim();
  let token: TokenSource;
  if (explicitFile) token = { kind: 'file', path: explicitFile[0], from: explicitFile[1] };
  else if (envToken) token = { kind: 'value', token: envToken, from: '$LIFEBOAT_ADMIN_TOKEN' };
  else if (s.config?.adminTokenFile) token = { kind: 'file', path: s.config.adminTokenFile, from: 'the config file\'s adminTokenFile' };
  else {
    const [data, dataFrom] = pick([
      [s.flags.data, '--data'],
      [s.env.LIFEBOAT_DATA, '$LIFEBOAT_DATA'],
      [s.config?.data, 'the config file\'s data'],
    ]) ?? [DEFAULT_DATA_DIR, 'the default data directory'];
    token = { kind: 'file', path: join(data, 'admin-token'), from: dataFrom };
  }
  return { url: url.replace(/\/+$/, ''), urlFrom, token };
}

/** The token itself; a file that cannot be read is an error naming where it looked and why there. */
export async function readToken(source: TokenSource): Promise<string> {
  if (source.kind === 'value') return source.token;
  let text: string;
  try {
    text = await readFile(source.path, 'utf8');
  } catch (e) {
    const reasons: Record<string, string> = { ENOENT: 'does not exist', EACCES: 'is not readable by this user', EISDIR: 'is a directory, not a file' };
    const why = reasons[(e as NodeJS.ErrnoException).code ?? ''] ?? `cannot be read (${(e as Error).message})`;
    throw new LifeboatError('LB_UNAUTHORIZED', `the API needs a token, but the token file ${source.path} ${why} (looked there because of ${source.from}): give the server's admin token file (or its read-token) with --token-file, its data directory with --data, or the token in $LIFEBOAT_ADMIN_TOKEN`);
  }
  const token = text.trim();
  if (!token) throw new LifeboatError('LB_UNAUTHORIZED', `the token file ${source.path} is empty (looked there because of ${source.from}): give the server's admin token file, or the token in $LIFEBOAT_ADMIN_TOKEN`);
  return token;
}

/** The URL, checked before anything is sent: a typo should not become a DNS lookup or a hang. */
export function checkServerUrl(target: ServerTarget): URL {
  let u: URL;
  try {
    u = new URL(target.url);
  } catch {
    throw new LifeboatError('LB_USAGE', `server URL "${target.url}" (from ${target.urlFrom}) is not a URL: give one like ${DEFAULT_SERVER_URL}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LifeboatError('LB_USAGE', `server URL "${target.url}" (from ${target.urlFrom}) is not http or https: give one like ${DEFAULT_SERVER_URL}`);
  return u;
}
