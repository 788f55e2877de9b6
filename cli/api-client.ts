import { readFile } from 'node:fs/promises';
import { LifeboatError, type ErrorCode, errorCodes } from '../core/errors.js';
import { cliDefaults, readSettings } from '../server/config-file.js';
import { nextFromLink } from '../server/http/paging.js';
import { stringOption, type Parsed } from './args.js';

/**
 * The CLI's side of the admin API: the server URL and admin token from flags or the environment,
 * and server errors turned back into LifeboatErrors so they exit with the same statuses.
 */
export const serverOptions = {
  // No `default:` here: a default would look like a flag and hide $LIFEBOAT_SERVER and the config file.
  server: { type: 'string' as const, value: 'URL', description: 'server URL (or $LIFEBOAT_SERVER; else the config file\'s server or http; else http://127.0.0.1:8080)' },
  'token-file': { type: 'string' as const, value: 'FILE', description: 'admin token file (or $LIFEBOAT_ADMIN_TOKEN holding the token; else the config file\'s adminTokenFile or <data>/admin-token); for list and show the read-token file is enough' },
  json: { type: 'boolean' as const, description: 'print the API\'s JSON' },
};

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  /** Every item of a paged list: follows the server's Link rel="next" headers to the last page. */
  getAll<T>(path: string): Promise<T[]>;
  /** A GET whose answer is text (a task's file, a boot script). */
  getText(path: string): Promise<string>;
  send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

export async function apiClient(p: Parsed): Promise<ApiClient> {
  // flag > environment > config file > default, as every setting (README, Settings).
  const fromFile = cliDefaults((await readSettings(undefined)).file);
  const base = (stringOption(p, 'server') ?? process.env.LIFEBOAT_SERVER ?? fromFile.server).replace(/\/+$/, '');
  let token = process.env.LIFEBOAT_ADMIN_TOKEN;
  const tokenFile = stringOption(p, 'token-file');
  if (!token || tokenFile) {
    try {
      token = (await readFile(tokenFile ?? fromFile.tokenFile, 'utf8')).trim();
    } catch {
      token = undefined; // the server's 401 says which token is missing
    }
  }
  const call = async (method: string, path: string, body?: unknown): Promise<{ text: string; next: string | null }> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new LifeboatError('LB_NOT_FOUND', `cannot reach the server at ${base} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}): is lifeboat serve running? (--server URL)`);
    }
    const text = await res.text();
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
  const json = <T>(text: string) => (text ? JSON.parse(text) : undefined) as T;
  return {
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
    getText: async (path) => (await call('GET', path)).text,
    send: async (method, path, body) => json((await call(method, path, body)).text),
  };
}
