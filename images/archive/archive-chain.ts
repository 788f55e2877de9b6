import { createHash } from 'node:crypto';
import { LifeboatError } from '../../core/errors.js';
import type { ArchiveEntry, Compression, Volume } from '../store/manifest.js';
import { readArchive, type ReadArchiveOptions, type ReadArchiveResult, type VolumeOpener } from './tar-read.js';

/**
 * Incremental chains: an archive written with --listed-incremental is applied on top of the
 * archives it builds on, oldest first. The chain's volumes live in sibling version directories,
 * reached from the version being read as ../<version>/<path>, which a directory (local, NFS) and
 * an HTTP base URL both resolve to the sibling — so every reader that has an opener for one
 * version can read its whole chain without knowing where the store is.
 */
/** One archive a restore applies: the chain's, or the entry's own (no version). */
export interface LayerInfo {
  /** The version holding this layer; undefined for the version being read itself. */
  version?: string;
  level: number;
  id: string;
  compression: Compression;
  volumes: Volume[];
  /** Whether tar must apply the layer's directory listings (deletions, renames). */
  incremental: boolean;
}

export interface ArchiveLayer extends LayerInfo {
  /** Opens the layer's volumes by their path within its own version. */
  open: VolumeOpener;
}

/** The path of a volume of a sibling version, relative to the version being read. */
export function siblingPath(version: string, path: string): string {
  return `../${version}/${path}`;
}

/** Every archive a restore of `entry` applies, in order: the chain's, then the entry's own. */
export function chainLayers(entry: ArchiveEntry): LayerInfo[] {
  const inc = entry.incremental;
  const own: LayerInfo = { level: inc?.level ?? 0, id: entry.id, compression: entry.compression, volumes: entry.volumes, incremental: inc !== undefined };
  const chain = (inc?.chain ?? []).map((l): LayerInfo => ({ version: l.version, level: l.level, id: entry.id, compression: l.compression, volumes: l.volumes, incremental: true }));
  return [...chain, own];
}

/** chainLayers with an opener each, from the opener of the version being read. */
export function archiveLayers(entry: ArchiveEntry, open: VolumeOpener): ArchiveLayer[] {
  const sibling = (version: string): VolumeOpener => {
    const opener: VolumeOpener = (path: string) => open(siblingPath(version, path));
    if (open.localPath) opener.localPath = (path: string) => open.localPath!(siblingPath(version, path));
    return opener;
  };
  return chainLayers(entry).map((l) => ({ ...l, open: l.version ? sibling(l.version) : open }));
}

/** Compressed bytes a restore of `entry` reads: its chain's volumes and its own. */
export function chainBytes(entry: ArchiveEntry): number {
  const sum = (vs: Volume[]) => vs.reduce((a, v) => a + v.bytes, 0);
  return sum(entry.volumes) + (entry.incremental?.chain ?? []).reduce((a, l) => a + sum(l.volumes), 0);
}

/** A volume's path as an operator would look for it: data/root.tar.zst, or ../<version>/data/root.tar.zst. */
export function layerVolumePath(layer: Pick<ArchiveLayer, 'version'>, path: string): string {
  return layer.version ? siblingPath(layer.version, path) : path;
}

/**
 * Extracts an archive with its chain: each layer in order, with --listed-incremental=/dev/null so
 * that files deleted or renamed away between layers are removed again. Damaged volumes are named
 * by their path from the version being restored.
 */
export async function extractWithChain(
  open: VolumeOpener,
  entry: ArchiveEntry,
  options: Omit<ReadArchiveOptions, 'mode' | 'onProgress' | 'incremental'> & { onProgress?: (compressedBytes: number, totalBytes: number) => void },
): Promise<ReadArchiveResult & { layers: number }> {
  const layers = archiveLayers(entry, open);
  const total = chainBytes(entry);
  let before = 0;
  let members = 0;
  const damaged: ReadArchiveResult['damaged'] = [];
  for (const layer of layers) {
    const base = before;
    const r = await readArchive(layer.open, layer, {
      ...options,
      mode: 'extract',
      incremental: layer.incremental,
      onProgress: (b) => options.onProgress?.(base + b, total),
    });
    before += layer.volumes.reduce((a, v) => a + v.bytes, 0);
    members += r.members;
    damaged.push(...r.damaged.map((d) => ({ ...d, path: layerVolumePath(layer, d.path) })));
    if (r.streamError || r.damaged.length > 0) return { damaged, members, streamError: r.streamError, layers: layers.length };
  }
  return { damaged, members, streamError: null, layers: layers.length };
}

/**
 * Wraps an opener so each volume is hashed as it is read and a mismatch with its recorded sha256
 * fails the read at the end of that volume, for readers that parse volumes without a verify pass.
 */
export function checkedOpener(open: VolumeOpener, volumes: Volume[], describe: (path: string) => string = (p) => p): VolumeOpener {
  const expected = new Map(volumes.map((v) => [v.path, v]));
  return async (path) => {
    const source = await open(path);
    const volume = expected.get(path);
    if (!volume) return source;
    return (async function* () {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
      const actual = hash.digest('hex');
      if (actual !== volume.sha256 || bytes !== volume.bytes) {
        throw new LifeboatError(
          'LB_IMAGE_CORRUPT',
          `volume ${describe(path)} fails its checksum (expected ${volume.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…, ${bytes} of ${volume.bytes} bytes): the image is damaged; use another version`,
          { path: describe(path) },
        );
      }
    })();
  };
}

// ---- GNU.dumpdir --------------------------------------------------------------------------------

export type DumpdirRecord =
  /** Y: in this archive; N: present, unchanged, not in this archive; D: a directory. */
  | { code: 'Y' | 'N' | 'D'; name: string }
  /** R/T: rename R's path to T's ('' means the temporary directory); X: where that temporary lives. */
  | { code: 'R' | 'T' | 'X'; name: string };

/** Parses a dumpdir: records "<code><name>\0", ended by an empty record. */
export function parseDumpdir(raw: Buffer): DumpdirRecord[] {
  const out: DumpdirRecord[] = [];
  let i = 0;
  while (i < raw.length) {
    const nul = raw.indexOf(0, i);
    const end = nul === -1 ? raw.length : nul;
    if (end === i) break; // the terminating empty record
    const code = String.fromCharCode(raw[i]!);
    if (!'YNDRTX'.includes(code)) throw new LifeboatError('LB_IMAGE_CORRUPT', `a directory listing in an incremental archive has an unknown record "${code}"`);
    out.push({ code: code as DumpdirRecord['code'], name: raw.subarray(i + 1, end).toString('utf8') } as DumpdirRecord);
    i = end + 1;
  }
  return out;
}
