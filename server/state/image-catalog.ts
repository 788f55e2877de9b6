import { watch, type FSWatcher } from 'node:fs';
import { componentLogger } from '../../core/log.js';
import { compareVersions, listImages } from '../../images/store/image-store.js';
import { readManifest } from '../../images/store/manifest.js';
import type { Db } from './database.js';

/**
 * The images catalog: the store's published versions mirrored into SQLite with a short summary
 * each, rescanned when the store changes (a watch on the store and its image folders, plus a timer
 * for filesystems where watches do not fire, such as NFS).
 */
export interface CatalogEntry {
  name: string;
  version: string;
  dir: string;
  bytes: number;
  createdAt: number;
  /** `tree`: the directory an `archive --path` version holds — files, not a machine. */
  summary: { hostname?: string; os?: string; tree?: string; firmware: string; filesystems: Array<{ mountpoint: string; fstype: string; usedBytes: number }>; disks: Array<{ path: string; size: number }> } | { error: string };
}

const log = componentLogger('catalog');

export class ImageCatalog {
  private watchers: FSWatcher[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private pending: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Db,
    readonly store: string,
    /** Versions left out until they are ready: a backup client's, until the server has verified and adopted it. */
    private readonly notYet: (image: string, dir: string) => Promise<boolean> = async () => false,
  ) {}

  async refresh(): Promise<void> {
    if (this.stopped) return;
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = this.scan().finally(() => {
      this.pending = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.pending;
  }

  private async scan(): Promise<void> {
    let images: Awaited<ReturnType<typeof listImages>>;
    try {
      images = await listImages(this.store);
    } catch (err) {
      // The catalog stays as it was: an unreadable moment must not make every image vanish.
      log.warn({ err, store: this.store }, 'cannot read the store');
      return;
    }
    if (this.stopped) return;
    const known = new Map((this.db.prepare('SELECT name, version FROM images').all() as Array<{ name: string; version: string }>).map((r) => [`${r.name}@${r.version}`, r]));
    const rows: CatalogEntry[] = [];
    for (const image of images) {
      for (const v of image.versions) {
        if (await this.notYet(v.image, v.dir)) continue;
        known.delete(`${v.image}@${v.version}`);
        let summary: CatalogEntry['summary'];
        try {
          const m = await readManifest(v.dir);
          summary = {
            ...(m.layout.host.hostname ? { hostname: m.layout.host.hostname } : {}),
            ...(m.layout.host.osRelease.PRETTY_NAME ? { os: m.layout.host.osRelease.PRETTY_NAME } : {}),
            ...(m.source.mode === 'path' ? { tree: m.source.path ?? m.archives[0]?.mountpoint ?? '' } : {}),
            firmware: m.layout.bootloader.firmware,
            filesystems: m.archives.map((a) => ({ mountpoint: a.mountpoint, fstype: a.fstype, usedBytes: a.usedBytes })),
            disks: m.layout.disks.map((d) => ({ path: d.path, size: d.size })),
          };
        } catch (e) {
          summary = { error: (e as Error).message };
        }
        rows.push({ name: v.image, version: v.version, dir: v.dir, bytes: v.bytes, createdAt: v.createdAt.getTime(), summary });
      }
    }
    if (this.stopped) return;
    const upsert = this.db.prepare(`INSERT INTO images (name, version, dir, bytes, created_at, summary) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (name, version) DO UPDATE SET dir = excluded.dir, bytes = excluded.bytes, summary = excluded.summary`);
    const remove = this.db.prepare('DELETE FROM images WHERE name = ? AND version = ?');
    this.db.transaction(() => {
      for (const r of rows) upsert.run(r.name, r.version, r.dir, r.bytes, r.createdAt, JSON.stringify(r.summary));
      for (const gone of known.values()) remove.run(gone.name, gone.version);
    })();
    this.rewatch(images.map((i) => i.image));
  }

  private rewatch(images: string[]): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    const onChange = () => void this.refresh();
    for (const dir of [this.store, ...images.map((i) => `${this.store}/${i}`)]) {
      try {
        this.watchers.push(watch(dir, { persistent: false }, onChange));
      } catch {
        /* the store may not exist yet; the timer rescans */
      }
    }
  }

  start(intervalMs = 30_000): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  /**
   * Ends the rescans and waits for one in flight: the server closes the database right after, and
   * a scan finishing later failed with "The database connection is not open" after any start-up error.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    await this.pending?.catch(() => undefined);
  }

  list(name?: string): CatalogEntry[] {
    const rows = (name
      ? this.db.prepare('SELECT * FROM images WHERE name = ? ORDER BY name, version').all(name)
      : this.db.prepare('SELECT * FROM images ORDER BY name, version').all()) as Array<{ name: string; version: string; dir: string; bytes: number; created_at: number; summary: string }>;
    rows.sort((a, b) => (a.name === b.name ? compareVersions(a.version, b.version) : a.name < b.name ? -1 : 1));
    return rows.map((r) => ({ name: r.name, version: r.version, dir: r.dir, bytes: r.bytes, createdAt: r.created_at, summary: JSON.parse(r.summary) as CatalogEntry['summary'] }));
  }

  /** "name" → its newest version; "name@version" → that one. */
  resolve(ref: string): CatalogEntry | undefined {
    const [name, version] = ref.split('@') as [string, string | undefined];
    const all = this.list(name);
    return version === undefined ? all.at(-1) : all.find((e) => e.version === version);
  }
}
