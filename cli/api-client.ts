import { LifeboatError, type ErrorCode, errorCodes } from '../core/errors.js';
import { configFilePath } from '../server/config-location.js';
import { nextFromLink } from '../server/http/link-header.js';
import { stringOption, type Parsed } from './args.js';
import { checkServerUrl, DEFAULT_DATA_DIR, DEFAULT_SERVER_URL, readToken, resolveServerTarget, type TargetSources } from './server-target.js';

/**
 * The CLI's side of the admin API: the server URL and admin token as server-target.ts resolves them,
 * and server errors turned back into LifeboatErrors so they exit with the same statuses.
 */
export const serverOptions = {
  // No `default:` here: a default would look like a flag and hide $LIFEBOAT_SERVER and the config file.
  server: { type: 'string' as const, value: 'URL', description: `server URL (else $LIFEBOAT_SERVER, else the config file's server or http, else ${DEFAULT_SERVER_URL})` },
  'token-file': { type: 'string' as const, value: 'FILE', description: 'admin token file (else $LIFEBOAT_ADMIN_TOKEN holding the token, else the config file\'s adminTokenFile, else <data>/admin-token); for list and show the read-token file is enough' },
  data: { type: 'string' as const, value: 'DIR', description: `the server's data directory, where its admin-token is (else $LIFEBOAT_DATA, else the config file's data, else ${DEFAULT_DATA_DIR})` },
  json: { type: 'boolean' as const, description: 'print the API\'s JSON' },
};

export interface ApiClient {
  /** The server's URL, as the user's flags, environment or config gave it. */
  base: string;
  get<T>(path: string): Promise<T>;
  /** Every item of a paged list: follows the server's Link rel="next" headers to the last page. */
  getAll<T>(path: string): Promise<T[]>;
  /** A GET whose answer is text (a task's file, a boot script). */
  getText(path: string): Promise<string>;
  send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

/**
 * The config file's say in where the server is, read only when there is a file: its reader loads
 * the schema library, a quarter of a second that a command on a machine without one should not pay.
 */
async function configTarget(): Promise<TargetSources['config']> {
  const where = configFilePath(undefined);
  if (!where) return undefined;
  const { cliDefaults, readSettings } = await import('../server/config-file.js');
  // The file alone: the environment has its own place in resolveServerTarget's order.
  const { file } = await readSettings(undefined, { LIFEBOAT_CONFIG: where.path });
  return { ...(file.server || file.http ? { server: cliDefaults(file).server } : {}), adminTokenFile: file.adminTokenFile, data: file.data };
}

export async function apiClient(p: Parsed): Promise<ApiClient> {
  const target = resolveServerTarget({ flags: { server: stringOption(p, 'server'), tokenFile: stringOption(p, 'token-file'), data: stringOption(p, 'data') }, env: process.env, config: await configTarget() });
  checkServerUrl(target);
  const base = target.url;
  const token = await readToken(target.token);
  const call = async (method: string, path: string, body?: unknown, expect: 'json' | 'text' = 'json'): Promise<{ text: string; next: string | null }> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new LifeboatError('LB_UNREACHABLE', `cannot reach the server at ${base} (from ${target.urlFrom}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}): is lifeboat serve running there? Give its address with --server or $LIFEBOAT_SERVER`);
    }
    const text = await res.text();
    // Anything but the API's JSON means another program answers at that address (a web page, a proxy).
    const isJson = /\bjson\b/.test(res.headers.get('content-type') ?? '');
    if (!isJson && (!res.ok || (expect === 'json' && text !== ''))) {
      throw new LifeboatError('LB_UNREACHABLE', `the server at ${base} (from ${target.urlFrom}) is not a Lifeboat server: it answered ${method} ${path} with ${res.status} ${res.headers.get('content-type') ?? 'no content type'}, not the API's JSON: give lifeboat serve's HTTP address with --server or $LIFEBOAT_SERVER`);
    }
    if (!res.ok) {
      let err: { code?: string; message?: string } | undefined;
      try {
        err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      } catch {
        err = undefined;
      }
      const code = (err?.code && err.code in errorCodes ? err.code : res.status === 401 ? 'LB_UNAUTHORIZED' : res.status === 404 ? 'LB_NOT_FOUND' : res.status === 409 ? 'LB_CONFLICT' : 'LB_INVALID') as ErrorCode;
      throw new LifeboatError(code, `server says (${res.status}): ${err?.message ?? text}`);
    }
    return { text, next: nextFromLink(res.headers.get('link')) };
  };
  const json = <T>(text: string): T => {
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new LifeboatError('LB_UNREACHABLE', `the server at ${base} (from ${target.urlFrom}) answered with broken JSON (${JSON.stringify(text.slice(0, 40))}…): is it lifeboat serve, of this version? Give its address with --server or $LIFEBOAT_SERVER`);
    }
  };
  return {
    base,
    get: async (path) => json((await call('GET', path)).text),
    async getAll<T>(path: string) {
      const all: T[] = [];
      for (let next: string | null = path; next !== null; ) {
        const page: { text: string; next: string | null } = await call('GET', next);
        all.push(...json<T[]>(page.text));
        next = page.next;
      }
      return all;
    },
    getText: async (path) => (await call('GET', path, undefined, 'text')).text,
    send: async (method, path, body) => json((await call(method, path, body)).text),
  };
}
