import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSha256Sums, sha256File } from '../store/checksums.js';
import { listVersions } from '../store/image-store.js';
import { readManifest, type ArchiveEntry, type ChainLayer, type Manifest } from '../store/manifest.js';

/**
 * `archive --incremental`: which version the new one builds on. Only the image's newest version
 * can be a base, and only when it is itself incremental, covers the same filesystems (same ids,
 * types, UUIDs and excludes — tar's snapshot knows directories by inode, which a new filesystem or
 * a changed exclude makes meaningless), has intact snapshots, and the chain is shorter than
 * --full-every. Otherwise the new version is a level 0 full, and the reason says why.
 */
export interface IncrementalSource {
  id: string;
  fstype: string;
  uuid?: string;
  excludes: string[];
}

export interface IncrementalPlan {
  level: number;
  base: { version: string; dir: string; manifest: Manifest } | null;
  /** Why this level: shown to the operator. */
  reason: string;
}

function sourceKey(s: IncrementalSource): string {
  return JSON.stringify([s.id, s.fstype, s.uuid ?? '', [...s.excludes].sort()]);
}

const MODE_WORDS: Record<Manifest['source']['mode'], string> = { live: 'a live system', disk: 'a disk', path: 'a directory tree' };

export async function planIncremental(
  store: string,
  image: string,
  sources: IncrementalSource[],
  origin: { mode: Manifest['source']['mode']; path?: string },
  fullEvery: number,
): Promise<IncrementalPlan> {
  const mode = origin.mode;
  const full = (reason: string): IncrementalPlan => ({ level: 0, base: null, reason: `level 0 (full): ${reason}` });
  const newest = (await listVersions(store, image)).at(-1);
  if (!newest) return full(`${image} has no version yet`);
  let manifest: Manifest;
  try {
    manifest = await readManifest(newest.dir);
  } catch (e) {
    return full(`the newest version ${newest.version} cannot be read (${(e as Error).message})`);
  }
  const inc = manifest.incremental;
  if (!inc) return full(`the newest version ${newest.version} was not archived with --incremental`);
  const level = inc.level + 1;
  if (level >= fullEvery) return full(`${newest.version} is level ${inc.level} and --full-every ${fullEvery} starts a new chain`);
  if (manifest.source.mode !== mode) return full(`${newest.version} archived ${MODE_WORDS[manifest.source.mode]}, this run ${MODE_WORDS[mode]}`);
  // tar's snapshot knows a tree by its inodes: another directory under the same image starts over.
  if (mode === 'path' && manifest.source.path !== origin.path) return full(`${newest.version} archived ${manifest.source.path}, this run ${origin.path}`);
  const theirs = new Set(manifest.archives.map((a) => sourceKey({ id: a.id, fstype: a.fstype, ...(a.uuid ? { uuid: a.uuid } : {}), excludes: a.excludes })));
  const ours = new Set(sources.map(sourceKey));
  if (theirs.size !== ours.size || [...ours].some((k) => !theirs.has(k))) {
    return full(`the filesystems (or their UUIDs or excludes) differ from ${newest.version}'s`);
  }
  let sums: Map<string, string>;
  try {
    sums = parseSha256Sums(await readFile(join(newest.dir, 'SHA256SUMS'), 'utf8'), join(newest.dir, 'SHA256SUMS'));
  } catch (e) {
    return full(`${newest.version}'s SHA256SUMS cannot be read (${(e as Error).message})`);
  }
  for (const a of manifest.archives) {
    const snapshot = a.incremental?.snapshot;
    if (!snapshot) return full(`${newest.version} has no snapshot for ${a.id}`);
    const actual = await sha256File(join(newest.dir, snapshot)).catch(() => null);
    if (actual === null || actual !== sums.get(snapshot)) return full(`${newest.version}/${snapshot} is missing or fails its checksum`);
  }
  return { level, base: { version: newest.version, dir: newest.dir, manifest }, reason: `level ${level}: what changed since ${newest.version} (level ${inc.level})` };
}

/** The chain an archive of `id` at the planned level applies on top of. */
export function chainFor(plan: IncrementalPlan, id: string): ChainLayer[] {
  if (!plan.base) return [];
  const base: ArchiveEntry = plan.base.manifest.archives.find((a) => a.id === id)!;
  return [
    ...(base.incremental?.chain ?? []),
    { version: plan.base.version, level: base.incremental?.level ?? 0, compression: base.compression, tarBytes: base.tarBytes, volumes: base.volumes },
  ];
}
