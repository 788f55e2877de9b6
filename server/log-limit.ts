/**
 * Log lines a network peer can cause at will (a malformed packet, a refused request) cost the
 * server a write each, and a packet's content can be as long as the packet: 60 KB lines at line
 * rate. These lines go through a limiter — so many per window, then one summary line for the rest
 * ("N more … in the last Xs") — and carry at most a clipped text or the hex of a packet's first
 * bytes.
 */

export interface LogLimiterOptions {
  /** Lines let through per window. */
  perWindow: number;
  windowMs: number;
  /** Called once at the end of a window in which lines were held back, with how many. */
  onDropped(dropped: number, windowMs: number): void;
  /** For tests: the clock. */
  now?: () => number;
}

export class LogLimiter {
  private windowStart: number;
  private passed = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: LogLimiterOptions) {
    if (!(options.perWindow >= 1) || !(options.windowMs > 0)) throw new Error('LogLimiter needs perWindow >= 1 and windowMs > 0');
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
  }

  /** True if this line is to be written; false if it is counted into the next summary instead. */
  admit(): boolean {
    this.roll();
    if (this.passed < this.options.perWindow) {
      this.passed++;
      return true;
    }
    this.dropped++;
    // The summary comes when the window ends even if nothing else arrives to roll it.
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.roll(true);
    }, Math.max(1, this.windowStart + this.options.windowMs - this.now())).unref();
    return false;
  }

  /** Writes the summary of a window that has ended. */
  private roll(windowEnded = false): void {
    const now = this.now();
    if (!windowEnded && now - this.windowStart < this.options.windowMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const dropped = this.dropped;
    this.windowStart = now;
    this.passed = 0;
    this.dropped = 0;
    if (dropped > 0) this.options.onDropped(dropped, this.options.windowMs);
  }

  /** Writes a pending summary now (at close) and stops the timer. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const dropped = this.dropped;
    this.dropped = 0;
    if (dropped > 0) this.options.onDropped(dropped, this.now() - this.windowStart);
  }
}

/** A peer's text for a log line: at most `max` characters, with how long it was when clipped. */
export function clipText(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** The first bytes of a packet as hex, with its length: enough to recognise it, never the whole. */
export function packetHead(packet: Buffer, bytes = 32): string {
  const head = packet.subarray(0, bytes).toString('hex');
  return packet.length > bytes ? `${head}… (${packet.length} bytes)` : head;
}
