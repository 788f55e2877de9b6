import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../../core/errors.js';

/**
 * How long the rescue agent keeps trying what the network refuses for a while: a server that is
 * restarted, a link that drops packets, a share that went away. Waits double from `firstDelayMs`
 * up to `maxDelayMs`, and no new attempt starts once `budgetMs` has passed since the outage began:
 * a restore survives a restart of a few seconds to a minute and still fails, saying so, when the
 * server is gone for good.
 */
export interface RetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  budgetMs: number;
}

export const AGENT_RETRY: RetryPolicy = { firstDelayMs: 500, maxDelayMs: 10_000, budgetMs: 120_000 };

/**
 * The wait before attempt `failures + 1`, after `failures` failed ones (1 or more) spanning
 * `elapsedMs`; null when that wait would end past the budget.
 */
export function retryDelay(policy: RetryPolicy, failures: number, elapsedMs: number): number | null {
  const delay = Math.min(policy.firstDelayMs * 2 ** Math.max(0, failures - 1), policy.maxDelayMs);
  return elapsedMs + delay > policy.budgetMs ? null : delay;
}

/** The whole schedule a policy allows from a standing start (attempts that fail at once), for docs and tests. */
export function retrySchedule(policy: RetryPolicy): number[] {
  const delays: number[] = [];
  let elapsed = 0;
  for (let failures = 1; ; failures++) {
    const d = retryDelay(policy, failures, elapsed);
    if (d === null) return delays;
    delays.push(d);
    elapsed += d;
  }
}

/** An error that another attempt cannot cure (a refusal, damaged data): thrown at once. */
export function isFinal(e: unknown): boolean {
  return e instanceof LifeboatError;
}

/**
 * Tracks one outage at a time: `failed()` says how long to wait before the next attempt, or null
 * when the budget is spent; `succeeded()` (bytes arrived, a call answered) ends the outage, so a
 * long restore may survive several restarts, each with the whole budget.
 */
export class Outage {
  private failures = 0;
  private since = 0;

  constructor(
    readonly policy: RetryPolicy = AGENT_RETRY,
    private readonly now: () => number = Date.now,
  ) {}

  failed(): number | null {
    if (this.failures === 0) this.since = this.now();
    this.failures += 1;
    return retryDelay(this.policy, this.failures, this.now() - this.since);
  }

  succeeded(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }

  get seconds(): number {
    return this.failures === 0 ? 0 : Math.round((this.now() - this.since) / 1000);
  }
}

/**
 * Runs `attempt` until it succeeds, it throws a final error, or the policy's budget is spent; then
 * the error says what was tried, for how long, and the last reason.
 */
export async function withRetry<T>(
  what: string,
  attempt: () => Promise<T>,
  options: { policy?: RetryPolicy; final?: (e: unknown) => boolean; onRetry?: (e: Error, delayMs: number, failures: number) => void } = {},
): Promise<T> {
  const outage = new Outage(options.policy ?? AGENT_RETRY);
  const final = options.final ?? isFinal;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (final(e)) throw e;
      const delay = outage.failed();
      if (delay === null) throw giveUp(what, outage, e);
      options.onRetry?.(e as Error, delay, outage.attempts);
      await sleep(delay);
    }
  }
}

export function giveUp(what: string, outage: Outage, last: unknown): LifeboatError {
  return new LifeboatError('LB_UNREACHABLE', `${what}: no success in ${outage.attempts} attempts over ${outage.seconds} s (last: ${(last as Error).message}); the server or the network is down`, {}, { cause: last });
}
