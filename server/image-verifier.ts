import type { Logger } from '../core/log.js';
import { verifyVersion } from '../images/store/verify.js';
import type { EventLog } from './state/events.js';
import type { ImageVerifications, Verification } from './state/image-verifications.js';

/**
 * Full verifications the server runs in the background (every volume hashed, every archive listed),
 * one at a time per version: asked for again while one runs, the running one is the answer. The
 * result is recorded, so a version that failed is refused for new tasks with what is broken.
 */
interface Running {
  controller: AbortController;
  seen: { bytes: number; totalBytes: number };
  done: Promise<Verification>;
}

export class ImageVerifier {
  private readonly running = new Map<string, Running>();

  constructor(private readonly o: { verifications: ImageVerifications; events: EventLog; log: Logger }) {}

  /** Starts a verification of the version in `dir` unless one is running; resolves when it ends. */
  verify(entry: { name: string; version: string; dir: string }): Promise<Verification> {
    const key = `${entry.name}@${entry.version}`;
    const current = this.running.get(key);
    if (current) return current.done;
    const controller = new AbortController();
    const seen = { bytes: 0, totalBytes: 0 };
    this.o.verifications.begin(entry.name, entry.version);
    this.o.events.record('image.verify', `verifying ${key}`, { data: { image: entry.name, version: entry.version } });
    const done = verifyVersion(entry.dir, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress') Object.assign(seen, { bytes: e.bytes, totalBytes: e.totalBytes });
      },
    })
      .then((report) => report.problems, (e: unknown) => [{ path: '.', problem: `could not be read: ${(e as Error).message}` }])
      .then((problems) => {
        // Stopped by the server's shutdown: no result; the next start forgets the running row.
        if (controller.signal.aborted) return { name: entry.name, version: entry.version, state: 'running', startedAt: Date.now(), endedAt: null, problems: [] } satisfies Verification;
        const v = this.o.verifications.end(entry.name, entry.version, problems);
        const first = problems[0];
        const message = first ? `${key} failed verification: ${first.path} ${first.problem}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}` : `${key} verified: every volume matches its checksum and every archive lists cleanly`;
        this.o.events.record(first ? 'image.verify.failed' : 'image.verified', message, { data: { image: entry.name, version: entry.version, problems: problems.length } });
        if (first) this.o.log.warn({ image: entry.name, version: entry.version, problems }, message);
        return v;
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, { controller, seen, done });
    return done;
  }

  /** Bytes hashed so far of a running verification; null when none runs. */
  progress(name: string, version: string): { bytes: number; totalBytes: number } | null {
    const run = this.running.get(`${name}@${version}`);
    return run ? { ...run.seen } : null;
  }

  async close(): Promise<void> {
    for (const run of this.running.values()) run.controller.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }
}
