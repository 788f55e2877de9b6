import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../../core/run-tool.js';
import { buildOnce } from '../fixture-cache.js';

/**
 * A fixture's cache entry: a directory `<family><key>` in the cache holding its images and
 * fixture.json (the record), built once under a lock, published by rename, and handed out as
 * private sparse copies. Entries of the same family under other keys (an edited builder, a new
 * kernel) are removed when a new one is built.
 */

export interface CachedEntry<R> {
  dir: string;
  record: R;
  /** True when the entry was there before this call. */
  cached: boolean;
}

/** `build(work, entry)` fills `entry` (a directory inside the scratch directory `work`); it is published as the cache entry. */
export async function cachedEntry<R>(cacheDir: string, family: string, key: string, build: (work: string, entry: string) => Promise<void>): Promise<CachedEntry<R>> {
  const final = join(cacheDir, `${family}${key}`);
  const cached = existsSync(join(final, 'fixture.json'));
  if (!cached) {
    await mkdir(cacheDir, { recursive: true });
    await buildOnce(join(final, 'fixture.json'), () => buildAndPublish(cacheDir, final, build));
    for (const entry of await readdir(cacheDir)) {
      const sameFixture = entry.startsWith(family) && /^[0-9a-f]{24}$/.test(entry.slice(family.length));
      if (sameFixture && join(cacheDir, entry) !== final) await rm(join(cacheDir, entry), { recursive: true, force: true });
    }
  }
  const record = JSON.parse(await readFile(join(final, 'fixture.json'), 'utf8')) as R;
  return { dir: final, record, cached };
}

async function buildAndPublish(cacheDir: string, final: string, build: (work: string, entry: string) => Promise<void>): Promise<void> {
  const work = join(cacheDir, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(work);
  try {
    const entry = join(work, 'entry');
    await mkdir(entry);
    await build(work, entry);
    // Publish by rename: a concurrent builder of the same key either wins or finds ours complete.
    await rename(entry, final).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The record, as the entry's fixture.json. */
export async function writeRecord(entry: string, record: unknown): Promise<void> {
  await writeFile(join(entry, 'fixture.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** A private copy of one of the entry's images, sparse as the original. */
export async function copyImage(from: string, to: string): Promise<string> {
  await runTool('cp', ['--sparse=always', from, to], { purpose: 'copy the fixture image' });
  return to;
}
