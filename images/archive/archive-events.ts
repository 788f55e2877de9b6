/** What a running archive tells its caller: the CLI draws a bar or prints JSON lines from these. */
export type ArchiveEvent =
  | { type: 'stage'; stage: 'probe' | 'mount' | 'archive' | 'publish' | 'cleanup'; message: string }
  | { type: 'start'; filesystems: Array<{ id: string; mountpoint: string; usedBytes: number }>; totalBytes: number }
  | { type: 'progress'; id: string; bytes: number; totalBytes: number; storedBytes: number }
  | { type: 'filesystem'; id: string; tarBytes: number; storedBytes: number; volumes: number; seconds: number }
  | { type: 'skipped'; target: string; reason: string }
  | { type: 'warning'; message: string }
  | { type: 'published'; image: string; version: string; dir: string; bytes: number; seconds: number; incremental?: { level: number; base: string | null } };
