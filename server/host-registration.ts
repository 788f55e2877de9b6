/**
 * How many machines DHCP and TFTP may register. Every new MAC seen costs a row in the hosts table
 * and an event, and MACs cost nothing to make up: a sender on the test-bed segment could fill the
 * database. New machines are registered at most `perMinute` a minute, and not at all while
 * `maxUnknown` hosts are already registered that nobody has named or given a task. A machine
 * refused here is answered all the same (it has no task, so it boots its disk); it is registered
 * the next time it is seen under the limits, or when an operator adds it (`PUT /api/v1/hosts/:mac`,
 * or a task for it), which no limit applies to.
 */
export interface RegistrationLimits {
  perMinute: number;
  maxUnknown: number;
}

export const DEFAULT_REGISTRATION_LIMITS: RegistrationLimits = { perMinute: 100, maxUnknown: 10_000 };

export type Admission = { admit: true } | { admit: false; reason: string };

export class HostRegistrationLimit {
  private windowStart: number;
  private registered = 0;

  constructor(
    readonly limits: RegistrationLimits = DEFAULT_REGISTRATION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.windowStart = now();
  }

  /** Whether one more new machine may be registered now; counts it when it may. */
  admit(unknownHosts: () => number): Admission {
    const now = this.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.registered = 0;
    }
    if (this.registered >= this.limits.perMinute) return { admit: false, reason: `${this.limits.perMinute} new machines were registered in the last minute (the limit)` };
    const unknown = unknownHosts();
    if (unknown >= this.limits.maxUnknown) return { admit: false, reason: `${unknown} registered machines have no name and no task (the limit is ${this.limits.maxUnknown}): name or remove some` };
    this.registered++;
    return { admit: true };
  }
}
