import { LifeboatError, errorCodes, isLifeboatError, type ErrorCode } from '../../core/errors.js';
import type { AgentTask, FinishReport, Inventory, ProgressReport } from '../task-protocol.js';
import type { AgentStart } from './cmdline.js';
import { httpRequest, type HttpResponse } from './http-request.js';
import { AGENT_RETRY, withRetry, type RetryPolicy } from './retry.js';

/**
 * The agent's side of the task protocol. A call the network or a restarting server fails (no
 * connection, a reset, a silent socket, a 5xx) is tried again with backoff for up to two minutes
 * (AGENT_RETRY); a refusal (4xx) is final. Progress is sent at most once a second unless the stage
 * changes, so a fast restore does not flood the server, and a progress report is never retried:
 * the next one replaces it.
 */
export class AgentClient {
  private lastSent = 0;
  private lastStage = '';

  constructor(
    readonly start: AgentStart,
    private readonly policy: RetryPolicy = AGENT_RETRY,
    private readonly note: (message: string) => void = (m) => process.stderr.write(`lifeboat-agent: ${m}\n`),
  ) {}

  private async once(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<HttpResponse> {
    const res = await httpRequest(`${this.start.server}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.start.token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: contentType === 'application/json' ? JSON.stringify(body) : (body as Buffer) } : {}),
    });
    if (res.status >= 500) {
      res.body.resume();
      throw new Error(`the server answered ${res.status}`);
    }
    if (res.status < 200 || res.status > 299) {
      const text = await res.text();
      let message = text;
      let code: string | undefined;
      try {
        const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        message = error?.message ?? text;
        code = error?.code;
      } catch {
        /* not JSON */
      }
      throw new LifeboatError(errorCode(code, res.status), `${method} ${path}: ${res.status} ${message}`);
    }
    return res;
  }

  private call(method: string, path: string, body?: unknown, contentType?: string): Promise<HttpResponse> {
    return withRetry(`${method} ${this.start.server}${path}`, () => this.once(method, path, body, contentType), {
      policy: this.policy,
      onRetry: (e, delayMs, failures) => this.note(`${method} ${path} failed (${e.message}); attempt ${failures + 1} in ${(delayMs / 1000).toFixed(1)} s`),
    });
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
      (await this.once('POST', `/agent/v1/tasks/${this.start.taskId}/progress`, report)).body.resume();
    } catch (e) {
      // Progress is informative; losing one report must not fail or hold up a restore. The next
      // one goes out at once, so a stage change lost in an outage still reaches the server.
      this.lastStage = '';
      this.note(`progress report lost: ${(e as Error).message}`);
    }
  }

  /**
   * An attempt may reach the server and lose only its answer (a reset, a restart): the retry is then
   * told the task has ended (409). The result was recorded by that attempt, so this is success. A
   * 409 to the first attempt is a real refusal and is thrown.
   */
  async finish(report: FinishReport): Promise<void> {
    let attempts = 0;
    const path = `/agent/v1/tasks/${this.start.taskId}/finish`;
    try {
      const res = await withRetry(`POST ${this.start.server}${path}`, () => {
        attempts += 1;
        return this.once('POST', path, report);
      }, { policy: this.policy, onRetry: (e, delayMs, failures) => this.note(`POST ${path} failed (${e.message}); attempt ${failures + 1} in ${(delayMs / 1000).toFixed(1)} s`) });
      res.body.resume();
    } catch (e) {
      if (attempts > 1 && isLifeboatError(e) && e.code === 'LB_CONFLICT') {
        this.note(`the task's result was recorded by an earlier attempt whose answer was lost (${e.message})`);
        return;
      }
      throw e;
    }
  }

  async inventory(inventory: Inventory): Promise<void> {
    (await this.once('POST', `/agent/v1/tasks/${this.start.taskId}/inventory`, inventory)).body.resume();
  }

  async putFile(name: string, content: Buffer | string): Promise<void> {
    (await this.call('PUT', `/agent/v1/tasks/${this.start.taskId}/files/${encodeURIComponent(name)}`, Buffer.from(content), 'application/octet-stream')).body.resume();
  }
}

const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(errorCodes, code);

/** The server's own code when it sent a known one; otherwise one read from the status. */
function errorCode(code: string | undefined, status: number): ErrorCode {
  if (code && isErrorCode(code)) return code;
  return status === 401 ? 'LB_UNAUTHORIZED' : status === 403 ? 'LB_FORBIDDEN' : status === 404 ? 'LB_NOT_FOUND' : status === 409 ? 'LB_CONFLICT' : 'LB_INVALID';
}
