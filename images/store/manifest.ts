import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Type from 'typebox';
import Value from 'typebox/value';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { LayoutSchema } from '../layout/model.js';

/**
 * manifest.json, format "lifeboat-image/1": the contract between the archiver, the store, the
 * server and the rescue agent. It is checked against this schema on every read, so a damaged or
 * foreign manifest is refused with the path that is wrong instead of being half-understood.
 */
export const MANIFEST_FORMAT = 'lifeboat-image/1';

export const CompressionSchema = Type.Object({
  kind: Type.Union([Type.Literal('zstd'), Type.Literal('gzip'), Type.Literal('none')]),
  level: Type.Optional(Type.Integer()),
});
export type Compression = Type.Static<typeof CompressionSchema>;

export const VolumeSchema = Type.Object({
  /** Relative to the version directory, e.g. data/root.tar.zst.000. */
  path: Type.String(),
  bytes: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
});
export type Volume = Type.Static<typeof VolumeSchema>;

/** A version name as the store makes them; the pattern keeps a chain reference from naming a path. */
export const VersionNameSchema = Type.String({ pattern: '^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$' });

/**
 * One earlier archive of the same filesystem that an incremental archive builds on. Its volumes
 * live in the sibling version directory ../<version>/ and carry the sha256 they were published
 * with, so a reader holding only this manifest can verify and apply the whole chain.
 */
export const ChainLayerSchema = Type.Object({
  version: VersionNameSchema,
  level: Type.Integer({ minimum: 0 }),
  compression: CompressionSchema,
  tarBytes: Type.Integer({ minimum: 0 }),
  volumes: Type.Array(VolumeSchema, { minItems: 1 }),
});
export type ChainLayer = Type.Static<typeof ChainLayerSchema>;

/**
 * An archive written with GNU tar --listed-incremental. Level 0 holds everything; level N holds
 * what changed since level N-1 plus every directory's listing (GNU.dumpdir), so deletions and
 * renames are recorded. Restoring means extracting `chain` then this archive, in order, each with
 * `tar --listed-incremental=/dev/null`.
 */
export const IncrementalArchiveSchema = Type.Object({
  level: Type.Integer({ minimum: 0 }),
  /** tar's snapshot after this archive (relative to the version), the base of the next level. */
  snapshot: Type.String(),
  /** The archives this one applies on top of, oldest (level 0) first; empty at level 0. */
  chain: Type.Array(ChainLayerSchema),
});
export type IncrementalArchive = Type.Static<typeof IncrementalArchiveSchema>;

export const ArchiveEntrySchema = Type.Object({
  /** Stable name of the filesystem inside the image: root, home, boot-efi, srv@logs (a btrfs subvolume), … */
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9._@-]*$' }),
  /** Where the filesystem is mounted on the source system; "" for a btrfs subvolume mounted nowhere. */
  mountpoint: Type.String(),
  /**
   * btrfs: the subvolume this archive holds, as a path from the volume's top ("@home",
   * "@/var/lib/machines"; "" for the top itself). Each subvolume is its own archive, since tar's
   * --one-file-system stops at subvolume boundaries. Absent in images written before subvolumes
   * were archived one by one: then the filesystem's mounts in the layout say which one it is.
   */
  subvolume: Type.Optional(Type.String()),
  device: Type.String(),
  fstype: Type.String(),
  uuid: Type.Optional(Type.String()),
  label: Type.Optional(Type.String()),
  /** GNU tar, POSIX (pax) format, with xattrs, ACLs, SELinux labels, numeric owners, sparse files. */
  format: Type.Literal('gnu-tar-posix'),
  compression: CompressionSchema,
  /** Uncompressed tar stream length. */
  tarBytes: Type.Integer({ minimum: 0 }),
  /** Used bytes of the filesystem when it was archived, for the restore planner. */
  usedBytes: Type.Integer({ minimum: 0 }),
  excludes: Type.Array(Type.String()),
  volumes: Type.Array(VolumeSchema, { minItems: 1 }),
  warnings: Type.Array(Type.String()),
  incremental: Type.Optional(IncrementalArchiveSchema),
});
export type ArchiveEntry = Type.Static<typeof ArchiveEntrySchema>;

export const ManifestSchema = Type.Object({
  format: Type.Literal(MANIFEST_FORMAT),
  image: Type.String(),
  version: Type.String(),
  createdAt: Type.String({ description: 'when archiving started, ISO 8601 UTC' }),
  completedAt: Type.String(),
  creator: Type.Object({ tool: Type.Literal('lifeboat'), version: Type.String(), hostname: Type.String() }),
  source: Type.Object({
    /** live: a running system; disk: unmounted disks; path: one directory tree (`archive --path`), files only, not a machine. */
    mode: Type.Union([Type.Literal('live'), Type.Literal('disk'), Type.Literal('path')]),
    root: Type.Optional(Type.String()),
    /** mode path: the directory archived, as this machine saw it; the archive's mountpoint is the same path. */
    path: Type.Optional(Type.String()),
    disks: Type.Optional(Type.Array(Type.String())),
  }),
  layout: LayoutSchema,
  volumeSize: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  archives: Type.Array(ArchiveEntrySchema),
  warnings: Type.Array(Type.String()),
  /**
   * Present on versions written with --incremental. `chain` names every version this one needs,
   * oldest first (empty for a level 0 full): retention keeps them while this version is kept.
   */
  incremental: Type.Optional(
    Type.Object({
      level: Type.Integer({ minimum: 0 }),
      chain: Type.Array(VersionNameSchema),
      fullEvery: Type.Integer({ minimum: 1 }),
    }),
  ),
});
export type Manifest = Type.Static<typeof ManifestSchema>;

export function checkManifest(value: unknown, where: string): Manifest {
  if (typeof value === 'object' && value !== null && (value as { format?: unknown }).format !== MANIFEST_FORMAT) {
    const found = (value as { format?: unknown }).format;
    throw new LifeboatError('LB_IMAGE_CORRUPT', `${where} has format ${JSON.stringify(found)}, not ${MANIFEST_FORMAT}: it was written by another tool or a newer Lifeboat`, { where });
  }
  if (!Value.Check(ManifestSchema, value)) {
    const problems = [...Value.Errors(ManifestSchema, value)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_IMAGE_CORRUPT', `${where} is not a valid ${MANIFEST_FORMAT} manifest: ${problems.join('; ')}`, { where, problems });
  }
  return value;
}

export async function readManifest(versionDir: string): Promise<Manifest> {
  const path = join(versionDir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new LifeboatError('LB_IMAGE_INCOMPLETE', `${path} is missing: this is not a complete image version`, { path });
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LifeboatError('LB_IMAGE_CORRUPT', `${path} is not valid JSON (${(e as Error).message}): the image is damaged; restore another version`, { path });
  }
  return checkManifest(parsed, path);
}
