import { readFileSync } from 'node:fs';

/**
 * When each line of a QEMU serial console appeared, by the host's wall clock (Date.now(), the
 * clock the server stamps its events with): the file is read every `intervalMs` and each new
 * complete line is stamped, so a time is late by at most that interval plus the guest's own
 * buffering.
 */
export interface TimedLine {
  at: number;
  line: string;
}

export class SerialTimeline {
  readonly lines: TimedLine[] = [];
  private offset = 0;
  private partial = '';
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly file: string, intervalMs = 50) {
    this.timer = setInterval(() => this.poll(), intervalMs);
  }

  private poll(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'latin1');
    } catch {
      return; // QEMU has not created it yet
    }
    if (text.length <= this.offset) return;
    const now = Date.now();
    const chunk = this.partial + text.slice(this.offset);
    this.offset = text.length;
    const parts = chunk.split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    for (const raw of parts) {
      // Firmware and the kernel paint with escape sequences; a marker is matched without them.
      const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
      if (line.trim()) this.lines.push({ at: now, line });
    }
  }

  /** When the first line matching `pattern` appeared, or null. */
  firstAt(pattern: string | RegExp): number | null {
    this.poll();
    const hit = this.lines.find((l) => (typeof pattern === 'string' ? l.line.includes(pattern) : pattern.test(l.line)));
    return hit ? hit.at : null;
  }

  stop(): void {
    this.poll();
    if (this.partial.trim()) this.lines.push({ at: Date.now(), line: this.partial });
    this.partial = '';
    clearInterval(this.timer);
  }
}
