import { LifeboatError } from '../core/errors.js';

/** What a backup client's schedule needs from its server: the NFS export that is its own. */
export interface BackupTarget {
  url: string;
  export: string;
  image: string;
}

/**
 * Asks the Lifeboat server which export belongs to this machine. The server answers by the
 * address the request comes from, as its NFS server decides who may mount what, so no token is
 * needed on the client.
 */
export async function askBackupExport(serverUrl: string): Promise<BackupTarget> {
  const url = serverUrl.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+$/.test(url)) throw new LifeboatError('LB_USAGE', `--server ${serverUrl} is not a server URL such as http://10.77.0.1:8080`);
  let res: Response;
  try {
    res = await fetch(`${url}/backup/v1/export`, { signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    const cause = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    throw new LifeboatError('LB_UNREACHABLE', `cannot reach the Lifeboat server at ${url} (${cause}): is lifeboat serve running there, and reachable from this machine?`);
  }
  const body = (await res.json().catch(() => null)) as { name?: string; image?: string; export?: string; error?: { message?: string } } | null;
  if (!res.ok) {
    const said = body?.error?.message ?? `HTTP ${res.status}`;
    throw new LifeboatError(res.status === 404 ? 'LB_NOT_FOUND' : 'LB_UNREACHABLE', `the server at ${url} has no backup export for this machine: ${said}`);
  }
  if (!body?.export || !body.image) throw new LifeboatError('LB_UNREACHABLE', `the server at ${url} answered /backup/v1/export without an export: is it lifeboat serve, of this version?`);
  return { url, export: body.export, image: body.image };
}
