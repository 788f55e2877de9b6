import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { LifeboatError } from '../../core/errors.js';
import type { AgentTask, FinishReport, ProgressReport } from '../task-protocol.js';
import type { AgentStart } from './cmdline.js';

/**
 * The agent's side of the task protocol. Network hiccups are retried with backoff (a server may
 * restart during a long restore); a refusal (4xx) is final. Progress is sent at most once a second
 * unless the stage changes, so a fast restore does not flood the server.
 */
export class AgentClient {
  private lastSent = 0;
  private lastStage = '';

  constructor(readonly start: AgentStart) {}

  private async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
    const url = `${this.start.server}${path}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(url, {
          method,
          headers: { authorization: `Bearer ${this.start.token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
          ...(body !== undefined ? { body: contentType === 'application/json' ? JSON.stringify(body) : (body as Buffer) } : {}),
        });
        if (res.status >= 500 && attempt < 8) throw new Error(`server answered ${res.status}`);
        if (!res.ok) {
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
    return (await (await this.call('GET', `/agent/v1/tasks/${this.start.taskId}`)).json()) as AgentTask;
  }

  async progress(report: ProgressReport, force = false): Promise<void> {
    const now = Date.now();
    if (!force && report.stage === this.lastStage && now - this.lastSent < 1000) return;
    this.lastSent = now;
    this.lastStage = report.stage;
    try {
      await this.call('POST', `/agent/v1/tasks/${this.start.taskId}/progress`, report);
    } catch (e) {
      // Progress is informative; losing one report must not fail a restore.
      process.stderr.write(`lifeboat-agent: progress report lost: ${(e as Error).message}\n`);
    }
  }

  async finish(report: FinishReport): Promise<void> {
    await this.call('POST', `/agent/v1/tasks/${this.start.taskId}/finish`, report);
  }

  async putFile(name: string, content: Buffer | string): Promise<void> {
    await this.call('PUT', `/agent/v1/tasks/${this.start.taskId}/files/${encodeURIComponent(name)}`, Buffer.from(content), 'application/octet-stream');
  }
}

/** GET a URL as a stream of chunks (image volumes over HTTP). */
export async function httpStream(url: string): Promise<AsyncIterable<Uint8Array>> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new LifeboatError('LB_NOT_FOUND', `GET ${url}: ${res.status} ${res.statusText}`);
  return Readable.fromWeb(res.body as never) as AsyncIterable<Uint8Array>;
}

export async function httpText(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new LifeboatError('LB_NOT_FOUND', `GET ${url}: ${res.status} ${res.statusText}`);
  return res.text();
}
