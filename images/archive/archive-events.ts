/** What a running archive tells its caller: the CLI draws a bar or prints JSON lines from these. */
export type ArchiveEvent =
  | { type: 'stage'; stage: 'probe' | 'mount' | 'archive' | 'publish' | 'cleanup'; message: string }
  | { type: 'start'; filesystems: Array<{ id: string; mountpoint: string; usedBytes: number }>; totalBytes: number }
  | { type: 'progress'; id: string; bytes: number; totalBytes: number; storedBytes: number }
  | { type: 'filesystem'; id: string; tarBytes: number; storedBytes: number; volumes: number; seconds: number }
  | { type: 'skipped'; target: string; reason: string }
  | { type: 'warning'; message: string }
  | { type: 'published'; image: string; version: string; dir: string; bytes: number; seconds: number; incremental?: { level: number; base: string | null } };

export interface TarProgress {
  tarBytes: number;
  storedBytes: number;
}

/**
 * Turns each filesystem's tar progress into 'progress' events over the whole archive. Until the
 * totals are announced it only keeps the latest report: the first tar may start while the probe
 * still runs, and a consumer sees 'start' before any progress, as it always has.
 */
export class ProgressTally {
  private totalBytes: number | null = null;
  private doneBytes = 0;
  private storedBytes = 0;
  private held: { id: string; p: TarProgress } | null = null;

  constructor(private readonly emit: (event: ArchiveEvent) => void) {}

  announce(totalBytes: number): void {
    this.totalBytes = totalBytes;
    if (this.held) this.report(this.held.id, this.held.p);
    this.held = null;
  }

  report(id: string, p: TarProgress): void {
    if (this.totalBytes === null) {
      this.held = { id, p };
      return;
    }
    this.emit({ type: 'progress', id, bytes: this.doneBytes + p.tarBytes, totalBytes: this.totalBytes, storedBytes: this.storedBytes + p.storedBytes });
  }

  finished(p: TarProgress): void {
    this.doneBytes += p.tarBytes;
    this.storedBytes += p.storedBytes;
  }
}
