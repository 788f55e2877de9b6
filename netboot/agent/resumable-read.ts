import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../../core/errors.js';
import { httpRequest, type HttpResponse } from './http-request.js';
import { AGENT_RETRY, giveUp, Outage, type RetryPolicy } from './retry.js';

/**
 * Reads a file over HTTP as one stream of bytes that survives the connection breaking: after a
 * reset, a premature end or a silent socket, it waits (AGENT_RETRY) and asks for the rest with
 * `Range: bytes=<offset>-`. The bytes handed on are exactly the file's, in order, each once, so a
 * reader hashing them (the verify pass, tar-read's per-volume check) hashes the whole file across
 * any number of resumptions.
 *
 * A resumed answer must be the same file: 206 with a Content-Range that starts at the offset and
 * the same total length and Last-Modified as the first answer, else the read fails at once (the
 * store's versions are immutable, so a change means something is wrong). A server that ignores
 * Range and answers 200 is read again from its start, the bytes already handed on skipped.
 */
export interface ResumableReadOptions {
  /** Start here instead of at 0 (a read another source began, e.g. NFS, continued over HTTP). */
  offset?: number;
  policy?: RetryPolicy;
  idleTimeoutMs?: number;
  /** Called before each wait: where the read stands and why it stopped. */
  onInterrupted?: (event: { url: string; offset: number; error: Error; delayMs: number; attempt: number }) => void;
}

interface Identity {
  length: number;
  lastModified: string | undefined;
}

/** Content-Range: bytes <start>-<end>/<total>. */
export function parseContentRange(header: string | undefined): { start: number; end: number; total: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) } : null;
}

function refused(url: string, res: HttpResponse, what = ''): LifeboatError {
  return new LifeboatError(res.status === 404 ? 'LB_NOT_FOUND' : 'LB_INVALID', `GET ${url}: ${res.status} ${res.body.statusMessage ?? ''}${what}`.trimEnd());
}

/**
 * What a (re)started answer means for a read standing at `offset`: how many leading bytes to
 * skip, and the file's identity; throws LifeboatError when the answer cannot continue the read.
 */
export function continuation(url: string, res: HttpResponse, offset: number, known: Identity | null): { skip: number; identity: Identity } {
  const lastModified = res.headers['last-modified'];
  const sameFile = (identity: Identity) => {
    if (known && (identity.length !== known.length || identity.lastModified !== known.lastModified)) {
      throw new LifeboatError('LB_IMAGE_CORRUPT', `${url} changed on the server while it was read (${known.length} bytes, ${known.lastModified ?? 'no date'} before; ${identity.length} bytes, ${identity.lastModified ?? 'no date'} now)`);
    }
    return identity;
  };
  if (res.status === 206 && offset > 0) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || range.start !== offset) throw new LifeboatError('LB_INVALID', `GET ${url} from byte ${offset}: the server answered the range ${res.headers['content-range'] ?? '(none)'}`);
    return { skip: 0, identity: sameFile({ length: range.total, lastModified }) };
  }
  if (res.status === 200) {
    const length = Number(res.headers['content-length'] ?? NaN);
    return { skip: offset, identity: sameFile({ length: Number.isFinite(length) ? length : (known?.length ?? NaN), lastModified }) };
  }
  throw refused(url, res);
}

export async function* resumableRead(url: string, options: ResumableReadOptions = {}): AsyncGenerator<Buffer> {
  let offset = options.offset ?? 0;
  let identity: Identity | null = null;
  const outage = new Outage(options.policy ?? AGENT_RETRY);
  for (;;) {
    let res: HttpResponse | null = null;
    try {
      res = await httpRequest(url, {
        ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
        ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      });
      // A server restarting answers 5xx for a moment (a proxy in front, a store not yet open): retried.
      if (res.status >= 500) throw new Error(`the server answered ${res.status}`);
      if (res.status === 416 && identity && offset === identity.length) return;
      const next = continuation(url, res, offset, identity);
      identity = next.identity;
      let skip = next.skip;
      for await (const raw of res.body) {
        let chunk = raw as Buffer;
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.length);
          skip -= dropped;
          chunk = chunk.subarray(dropped);
          if (chunk.length === 0) continue;
        }
        offset += chunk.length;
        outage.succeeded();
        yield chunk;
      }
      if (Number.isFinite(identity.length) && offset !== identity.length) throw new Error(`the answer ended at byte ${offset} of ${identity.length}`);
      return;
    } catch (e) {
      if (e instanceof LifeboatError) throw e;
      const delay = outage.failed();
      if (delay === null) throw giveUp(`GET ${url} (stopped at byte ${offset})`, outage, e);
      options.onInterrupted?.({ url, offset, error: e as Error, delayMs: delay, attempt: outage.attempts });
      await sleep(delay);
    } finally {
      // The consumer stopped early, or the answer broke: the connection is of no further use.
      if (res && !res.body.complete) res.body.destroy();
    }
  }
}

/** A small text file over HTTP (manifest.json, SHA256SUMS), retried as resumableRead retries. */
export async function resumableText(url: string, options: ResumableReadOptions = {}): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of resumableRead(url, options)) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}
