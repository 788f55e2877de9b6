import type { IncomingMessage, RequestOptions } from 'node:http';

/**
 * One HTTP request from the rescue agent, through node:http rather than fetch: fetch's first use
 * loads undici, which costs the rescue agent about a second of its start under an emulated CPU
 * (measured in a TCG guest: 1.5 s for `fetch` against 0.9 s for `http.get` from a bare `node -e`).
 *
 * `idleTimeoutMs` bounds how long the socket may stay silent, before the answer and while its body
 * streams: a server killed without closing its connections, or a link that went away, then ends
 * in an error the caller can retry instead of a read that never returns.
 */
export interface HttpResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
  text(): Promise<string>;
}

export const IDLE_TIMEOUT_MS = 30_000;

export async function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; idleTimeoutMs?: number } = {},
): Promise<HttpResponse> {
  const target = new URL(url);
  // https only when the server is addressed so: loading TLS costs start-up time too.
  const transport = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const requestOptions: RequestOptions = {
    method: options.method ?? 'GET',
    headers: { ...options.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
  };
  const idle = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, requestOptions, (res) => {
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        text: async () => {
          const chunks: Buffer[] = [];
          for await (const c of res) chunks.push(c as Buffer);
          return Buffer.concat(chunks).toString('utf8');
        },
      });
    });
    req.setTimeout(idle, () => req.destroy(new Error(`no data from ${target.host} for ${Math.round(idle / 1000)} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
