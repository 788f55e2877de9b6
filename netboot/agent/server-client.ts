import type { IncomingMessage, RequestOptions } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../../core/errors.js';
import type { AgentTask, FinishReport, ProgressReport } from '../task-protocol.js';
import type { AgentStart } from './cmdline.js';

/**
 * The agent's side of the task protocol. Network hiccups are retried with backoff (a server may
 * restart during a long restore); a refusal (4xx) is final. Progress is sent at most once a second
 * unless the stage changes, so a fast restore does not flood the server.
 *
 * Requests go through node:http, not fetch: fetch's first use loads undici, which costs the rescue
 * agent about a second of its start under an emulated CPU (measured in a TCG guest: 1.5 s for
 * `fetch` against 0.9 s for `http.get` from a bare `node -e`).
 */
interface HttpResponse {
  status: number;
  body: IncomingMessage;
  text(): Promise<string>;
}

async function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<HttpResponse> {
  const target = new URL(url);
  // https only when the server is addressed so: loading TLS costs start-up time too.
  const transport = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const requestOptions: RequestOptions = {
    method: options.method ?? 'GET',
    headers: { ...options.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
  };
  return new Promise((resolve, reject) => {
    const req = transport.request(target, requestOptions, (res) => {
      resolve({
        status: res.statusCode ?? 0,
        body: res,
        text: async () => {
          const chunks: Buffer[] = [];
          for await (const c of res) chunks.push(c as Buffer);
          return Buffer.concat(chunks).toString('utf8');
        },
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class AgentClient {
  private lastSent = 0;
  private lastStage = '';

  constructor(readonly start: AgentStart) {}

  private async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<HttpResponse> {
    const url = `${this.start.server}${path}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await request(url, {
          method,
          headers: { authorization: `Bearer ${this.start.token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
          ...(body !== undefined ? { body: contentType === 'application/json' ? JSON.stringify(body) : (body as Buffer) } : {}),
        });
        if (res.status >= 500 && attempt < 8) {
          res.body.resume();
          throw new Error(`server answered ${res.status}`);
        }
        if (res.status < 200 || res.status > 299) {
          const text = await res.text();
          let message = text;
          try {
            message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
          } catch {
            /* not JSON */
          }
          throw new LifeboatError(res.status === 401 ? 'LB_UNAUTHORIZED' : res.status === 404 ? 'LB_NOT_FOUND' : 'LB_CONFLICT', `${method} ${path}: ${res.status} ${message}`);
        }
        return res;
      } catch (e) {
        if (e instanceof LifeboatError || attempt >= 8) throw e;
        await sleep(Math.min(500 * 2 ** attempt, 10_000));
      }
    }
  }

  async task(): Promise<AgentTask> {
    return JSON.parse(await (await this.call('GET', `/agent/v1/tasks/${this.start.taskId}`)).text()) as AgentTask;
  }

  async progress(report: ProgressReport, force = false): Promise<void> {
    const now = Date.now();
    if (!force && report.stage === this.lastStage && now - this.lastSent < 1000) return;
    this.lastSent = now;
    this.lastStage = report.stage;
    try {
      (await this.call('POST', `/agent/v1/tasks/${this.start.taskId}/progress`, report)).body.resume();
    } catch (e) {
      // Progress is informative; losing one report must not fail a restore.
      process.stderr.write(`lifeboat-agent: progress report lost: ${(e as Error).message}\n`);
    }
  }

  async finish(report: FinishReport): Promise<void> {
    (await this.call('POST', `/agent/v1/tasks/${this.start.taskId}/finish`, report)).body.resume();
  }

  async putFile(name: string, content: Buffer | string): Promise<void> {
    (await this.call('PUT', `/agent/v1/tasks/${this.start.taskId}/files/${encodeURIComponent(name)}`, Buffer.from(content), 'application/octet-stream')).body.resume();
  }
}

/** GET a URL as a stream of chunks (image volumes over HTTP). */
export async function httpStream(url: string): Promise<AsyncIterable<Uint8Array>> {
  const res = await request(url);
  if (res.status !== 200) {
    res.body.resume();
    throw new LifeboatError('LB_NOT_FOUND', `GET ${url}: ${res.status} ${res.body.statusMessage ?? ''}`.trimEnd());
  }
  return res.body;
}

export async function httpText(url: string): Promise<string> {
  const res = await request(url);
  if (res.status !== 200) {
    res.body.resume();
    throw new LifeboatError('LB_NOT_FOUND', `GET ${url}: ${res.status} ${res.body.statusMessage ?? ''}`.trimEnd());
  }
  return res.text();
}
