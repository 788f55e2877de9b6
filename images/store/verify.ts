import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { readArchive } from '../archive/tar-read.js';
import { archiveLayers, layerVolumePath } from '../archive/archive-chain.js';
import { parseSha256Sums, sha256File } from './checksums.js';
import { readManifest, type Manifest } from './manifest.js';
import { listFiles } from './image-store.js';

/**
 * Proves a version whole: the manifest is valid, every file is listed in SHA256SUMS with the hash
 * it has, every volume hashes to the manifest's sha256, and every archive decompresses and lists
 * cleanly. Each problem names the exact file, so the operator knows what is broken.
 */
export interface VerifyProblem {
  path: string;
  problem: string;
}

export interface VerifyReport {
  dir: string;
  ok: boolean;
  problems: VerifyProblem[];
  archives: Array<{ id: string; members: number; bytes: number }>;
  manifest: Manifest | null;
}

export type VerifyEvent =
  | { type: 'checking'; path: string }
  | { type: 'progress'; bytes: number; totalBytes: number };

export async function verifyVersion(dir: string, options: { deep?: boolean; onEvent?: (e: VerifyEvent) => void; signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const deep = options.deep ?? true;
  const problems: VerifyProblem[] = [];
  const report = (path: string, problem: string) => problems.push({ path, problem });
  let manifest: Manifest | null = null;
  try {
    manifest = await readManifest(dir);
  } catch (e) {
    report('manifest.json', (e as Error).message);
  }

  let sums = new Map<string, string>();
  try {
    sums = parseSha256Sums(await readFile(join(dir, 'SHA256SUMS'), 'utf8'), join(dir, 'SHA256SUMS'));
  } catch (e) {
    report('SHA256SUMS', hasErrno(e, 'ENOENT') ? 'is missing: the version was never completed' : (e as Error).message);
  }

  const files = (await listFiles(dir)).filter((f) => f !== 'SHA256SUMS');
  const volumePaths = new Set(manifest?.archives.flatMap((a) => a.volumes.map((v) => v.path)) ?? []);
  for (const f of files) if (!sums.has(f) && sums.size > 0) report(f, 'is not listed in SHA256SUMS');
  for (const f of sums.keys()) if (!files.includes(f)) report(f, 'is listed in SHA256SUMS but missing');

  // Volumes are hashed while they stream through tar below; everything else is hashed here.
  for (const f of files) {
    if (volumePaths.has(f) || !sums.has(f)) continue;
    options.onEvent?.({ type: 'checking', path: f });
    const actual = await sha256File(join(dir, f));
    if (actual !== sums.get(f)) report(f, `fails its checksum (expected ${sums.get(f)!.slice(0, 12)}…, got ${actual.slice(0, 12)}…): the image is damaged; restore another version`);
  }

  const archives: VerifyReport['archives'] = [];
  if (manifest) {
    const totalBytes = manifest.archives.reduce((a, e) => a + e.volumes.reduce((b, v) => b + v.bytes, 0), 0);
    let before = 0;
    for (const entry of manifest.archives) {
      for (const v of entry.volumes) {
        if (sums.size > 0 && sums.get(v.path) !== undefined && sums.get(v.path) !== v.sha256) {
          report(v.path, 'has a different sha256 in manifest.json and SHA256SUMS: one of them was altered');
        }
      }
      const missing = entry.volumes.filter((v) => !files.includes(v.path));
      if (missing.length > 0) {
        for (const v of missing) report(v.path, 'is missing');
        continue;
      }
      options.onEvent?.({ type: 'checking', path: entry.volumes[0]!.path });
      const base = before;
      const result = await readArchive(dir, entry, {
        mode: 'list',
        onProgress: (b) => options.onEvent?.({ type: 'progress', bytes: base + b, totalBytes }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      before += entry.volumes.reduce((b, v) => b + v.bytes, 0);
      for (const d of result.damaged) {
        report(d.path, `fails its checksum (expected ${d.expected.slice(0, 12)}…, got ${d.actual.slice(0, 12)}…): the image is damaged; restore another version`);
      }
      if (!deep) continue;
      if (result.streamError) {
        report(entry.volumes[0]!.path, `does not decompress and list cleanly (${entry.volumes.length} volume(s)): ${result.streamError.message}`);
      } else if (result.members === 0) {
        report(entry.volumes[0]!.path, 'holds an empty archive: not even the filesystem root was recorded');
      }
      archives.push({ id: entry.id, members: result.members, bytes: entry.tarBytes });
    }
    if (manifest.incremental || manifest.archives.some((a) => a.incremental)) await checkChainLinks(dir, manifest, files, report);
  }
  return { dir, ok: problems.length === 0, problems, archives, manifest };
}

/**
 * An incremental version is restorable only with every version it builds on: each must still be
 * in the store, beside this one, holding exactly the volumes this manifest recorded for it. The
 * volumes themselves are proven by verifying those versions (images verify does, for a chain).
 */
async function checkChainLinks(dir: string, manifest: Manifest, files: string[], report: (path: string, problem: string) => void): Promise<void> {
  const chain = manifest.incremental?.chain ?? [];
  const loaded = new Map<string, Manifest | null>();
  const base = async (version: string): Promise<Manifest | null> => {
    if (!loaded.has(version)) loaded.set(version, await readManifest(join(dirname(dir), version)).catch(() => null));
    return loaded.get(version)!;
  };
  for (const version of chain) {
    if (!(await base(version))) report(`../${version}`, `is missing or unreadable: ${basename(dir)} is an incremental version built on it and cannot be restored without it`);
  }
  for (const entry of manifest.archives) {
    const inc = entry.incremental;
    if (!inc) {
      if (manifest.incremental) report('manifest.json', `archive ${entry.id} has no incremental record in an incremental version`);
      continue;
    }
    if (!files.includes(inc.snapshot)) report(inc.snapshot, `is missing: the next incremental version of ${entry.id} could not build on this one`);
    const versions = inc.chain.map((l) => l.version);
    if (versions.join(' ') !== chain.join(' ')) report('manifest.json', `archive ${entry.id} builds on ${versions.join(', ') || 'nothing'}, but the version on ${chain.join(', ') || 'nothing'}`);
    for (const layer of inc.chain) {
      const m = await base(layer.version);
      if (!m) continue;
      const theirs = m.archives.find((a) => a.id === entry.id);
      const same = theirs !== undefined && theirs.volumes.length === layer.volumes.length && theirs.volumes.every((v, i) => v.path === layer.volumes[i]!.path && v.sha256 === layer.volumes[i]!.sha256);
      if (!same) report(layerVolumePath(layer, layer.volumes[0]!.path), `is not the archive of ${entry.id} that ${basename(dir)} was built on: ${layer.version} was replaced or altered; this version cannot be restored`);
    }
  }
}

/** The versions a version needs, oldest first, itself last. */
export function restoreChain(manifest: Manifest): string[] {
  return [...(manifest.incremental?.chain ?? []), manifest.version];
}

/** Throws LB_IMAGE_CORRUPT naming the first broken file; for callers that must not go on. */
export function assertVerified(report: VerifyReport): void {
  if (report.ok) return;
  const first = report.problems[0]!;
  throw new LifeboatError('LB_IMAGE_CORRUPT', `${first.path} ${first.problem}`, { problems: report.problems });
}

/**
 * The check a restore makes before any disk is touched, over whatever carries the image (a local
 * or NFS directory, HTTP): manifest.json matches SHA256SUMS, the manifest is valid, and every
 * volume hashes to its recorded sha256. Returns the manifest; throws LB_IMAGE_CORRUPT naming the
 * first damaged file.
 */
export async function verifyForRestore(
  readText: (path: string) => Promise<string>,
  open: (path: string) => AsyncIterable<Buffer | Uint8Array> | Promise<AsyncIterable<Buffer | Uint8Array>>,
  options: {
    onProgress?: (bytes: number, totalBytes: number, path: string) => void;
    /**
     * false: check the manifest against SHA256SUMS but read no volume (a clone session's volumes
     * come by multicast, hashed as they are extracted; the server verified the image before the
     * session started).
     */
    readVolumes?: boolean;
  } = {},
): Promise<Manifest> {
  const { createHash } = await import('node:crypto');
  const { checkManifest } = await import('./manifest.js');
  const manifestText = await readText('manifest.json');
  const sums = parseSha256Sums(await readText('SHA256SUMS'), 'SHA256SUMS');
  const manifestHash = createHash('sha256').update(manifestText).digest('hex');
  if (sums.get('manifest.json') !== manifestHash) {
    throw new LifeboatError('LB_IMAGE_CORRUPT', `manifest.json fails its checksum (expected ${(sums.get('manifest.json') ?? 'none').slice(0, 12)}…, got ${manifestHash.slice(0, 12)}…): the image is damaged; restore another version`, { path: 'manifest.json' });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestText);
  } catch (e) {
    throw new LifeboatError('LB_IMAGE_CORRUPT', `manifest.json is not JSON: ${(e as Error).message}`);
  }
  const manifest = checkManifest(parsed, 'manifest.json');
  // An incremental version's chain is read from its sibling versions, so it is verified too.
  const seen = new Set<string>();
  const volumes = manifest.archives
    .flatMap((a) => archiveLayers(a, open).flatMap((l) => l.volumes.map((v) => ({ ...v, path: layerVolumePath(l, v.path) }))))
    .filter((v) => !seen.has(v.path) && seen.add(v.path));
  if (options.readVolumes === false) {
    const disagree = volumes.find((v) => sums.has(v.path) && sums.get(v.path) !== v.sha256);
    if (disagree) throw new LifeboatError('LB_IMAGE_CORRUPT', `volume ${disagree.path} has one sha256 in manifest.json and another in SHA256SUMS: the image is damaged; restore another version`, { path: disagree.path });
    return manifest;
  }
  const total = volumes.reduce((s, v) => s + v.bytes, 0);
  let done = 0;
  for (const v of volumes) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of await open(v.path)) {
      hash.update(chunk);
      bytes += chunk.length;
      done += chunk.length;
      options.onProgress?.(done, total, v.path);
    }
    const actual = hash.digest('hex');
    if (actual !== v.sha256 || bytes !== v.bytes || (sums.has(v.path) && sums.get(v.path) !== v.sha256)) {
      throw new LifeboatError('LB_IMAGE_CORRUPT', `volume ${v.path} fails its checksum (expected ${v.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…, ${bytes} of ${v.bytes} bytes): the image is damaged; restore another version`, { path: v.path });
    }
  }
  return manifest;
}
