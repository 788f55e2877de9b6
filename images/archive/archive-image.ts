import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, statfs, writeFile, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { storedName } from '../layout/evidence.js';
import { probeLayout } from '../layout/probe.js';
import type { Layout } from '../layout/model.js';
import { attachDiskImage } from '../source/disk-image.js';
import { mountReadOnly } from '../source/mount-readonly.js';
import { startStacksReadOnly } from '../source/storage-stacks.js';
import { subvolumeSources } from './btrfs-sources.js';
import { MANIFEST_FORMAT, type ArchiveEntry, type Compression, type Manifest, checkManifest } from '../store/manifest.js';
import { beginIncoming, discardIncoming, publishIncoming, type VersionInfo } from '../store/image-store.js';
import { ProgressTally, type ArchiveEvent } from './archive-events.js';
import { disksHolding, listMounts } from './live-mounts.js';
import { archiveIdFor, selectSources, type ArchiveSource, LOCAL_FSTYPES } from './select-sources.js';
import { archiveSuffix } from './tar-options.js';
import { createTarArchive, type TarCreateResult } from './tar-stream.js';
import { chainFor, planIncremental, type IncrementalPlan } from './incremental-base.js';
import { LIFEBOAT_VERSION } from '../../core/version.js';
import { runTool } from '../../core/run-tool.js';
import { pathSource, treeLayout } from './path-source.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * `lifeboat archive`: probe → write layout evidence → one tar stream per filesystem → manifest →
 * publish. Everything lands in an incoming directory first; only a finished, fsynced version is
 * renamed into place, and any failure removes the incoming directory (prune removes what a kill
 * -9 leaves).
 */
const log = componentLogger('archive');

export interface ArchiveRequest {
  store: string;
  image: string;
  /** Live mode: the root of the system to archive (default /). */
  root?: string;
  /** Disk mode: unmounted block devices or raw disk image files. */
  disks?: string[];
  /** Path mode: one directory tree (not a filesystem of its own), archived as files, not as a machine. */
  path?: string;
  excludes?: string[];
  scratch?: string;
  volumeSize?: number | null;
  compression?: Compression;
  /**
   * GNU tar --listed-incremental: a level 0 full, then versions holding only what changed (with
   * deletions recorded) on top of the image's newest version, a new full every `fullEvery` versions.
   */
  incremental?: { fullEvery: number };
  onEvent?: (event: ArchiveEvent) => void;
  signal?: AbortSignal;
}

async function existingDir(path: string, what: string): Promise<string> {
  try {
    const real = await realpath(path);
    if (!(await stat(real)).isDirectory()) throw new LifeboatError('LB_USAGE', `${what} ${path} is not a directory`);
    return real;
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new LifeboatError('LB_USAGE', `${what} ${path} does not exist`);
    throw e;
  }
}

async function usedBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

/** A tree's share of its filesystem, for progress and the manifest: what du counts, on that filesystem only. */
async function treeBytes(dir: string): Promise<number> {
  const { stdout } = await runTool('du', ['-s', '-x', '--block-size=1', dir], { purpose: `measure ${dir}` });
  return Number(stdout.split('\t')[0]) || 0;
}

export async function archiveImage(request: ArchiveRequest): Promise<VersionInfo> {
  const started = Date.now();
  const emit = (e: ArchiveEvent) => request.onEvent?.(e);
  const compression = request.compression ?? { kind: 'zstd', level: 3 };
  const volumeSize = request.volumeSize ?? null;
  const disks = request.disks ?? [];
  if (disks.length > 0 && request.root && request.root !== '/') {
    throw new LifeboatError('LB_USAGE', '--root and --disk cannot be combined: --root archives a mounted system, --disk an unmounted disk');
  }
  if (request.path !== undefined && (disks.length > 0 || (request.root && request.root !== '/'))) {
    throw new LifeboatError('LB_USAGE', '--path cannot be combined with --root or --disk: --path archives one directory tree, --root a mounted system, --disk an unmounted disk');
  }
  await makeDirs(request.store);
  const store = await existingDir(request.store, 'store');
  const scratch = request.scratch ? await existingDir(request.scratch, 'scratch directory') : undefined;

  const cleanups: Array<() => Promise<void>> = [];
  const incoming = await beginIncoming(store, request.image);
  log.info({ image: request.image, incoming: incoming.dir }, 'archive started');
  // Any failure stops whatever tar still runs before the incoming directory is removed.
  const stop = new AbortController();
  const tally = new ProgressTally(emit);
  const run = { dir: incoming.dir, compression, volumeSize, signal: request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal, tally };
  let first: Promise<FilesystemArchived> | null = null;
  try {
    let layout: Layout;
    let raw: Record<string, string>;
    let sources: ArchiveSource[];
    let mode: Manifest['source']['mode'];
    let root: string | undefined;
    let treePath: string | undefined;

    if (request.path !== undefined) {
      mode = 'path';
      treePath = await existingDir(request.path, '--path');
      const chosen = pathSource(await listMounts(), { directory: treePath, excludes: request.excludes ?? [], storeDir: store, ...(scratch ? { scratchDir: scratch } : {}) });
      for (const s of chosen.skipped) emit({ type: 'skipped', target: s.target, reason: s.reason });
      sources = [chosen.source];
      layout = treeLayout(hostname());
      raw = {};
      await mkdir(join(incoming.dir, 'data'), { mode: DATA_DIR_MODE });
    } else if (disks.length === 0) {
      mode = 'live';
      root = await existingDir(request.root ?? '/', 'root');
      const selected = selectSources(await listMounts(), { root, excludes: request.excludes ?? [], storeDir: store, ...(scratch ? { scratchDir: scratch } : {}) });
      for (const s of selected.skipped) emit({ type: 'skipped', target: s.target, reason: s.reason });
      sources = selected.sources;
      if (sources.length === 0) {
        throw new LifeboatError('LB_USAGE', `no local disk filesystem is mounted at or under ${root}: nothing to archive (skipped: ${selected.skipped.map((s) => `${s.target} ${s.reason}`).join('; ') || 'none'}); to archive a directory tree that is not a filesystem of its own, use --path ${root}`);
      }
      emit({ type: 'stage', stage: 'probe', message: `probing the system at ${root}` });
      // The first filesystem's tar need not wait for the probe, whose facts only the manifest uses
      // (an incremental archive's base is chosen by filesystem UUID, so it does wait): measured,
      // the probe is 0.1–0.4 s, up to a tenth of archiving a 600 MiB system.
      await mkdir(join(incoming.dir, 'data'), { mode: DATA_DIR_MODE });
      if (!request.incremental) {
        first = archiveFilesystem(sources[0]!, { ...run, live: true });
        void first.catch(() => undefined); // awaited below; failing before then is not unhandled
      }
      // The whole machine for /; for a system mounted elsewhere, only the disks under it.
      ({ layout, raw } = await probeLayout(root === '/' ? { root } : { root, disks: await disksHolding(sources.map((s) => s.device)) }));
      // btrfs subvolumes that no mount shows as a filesystem of its own get a stream each.
      if (layout.filesystems.some((f) => f.type === 'btrfs')) {
        const liveRoot = root;
        const mountBase = await mkdtemp(join(scratch ?? tmpdir(), 'lifeboat-mnt-'));
        cleanups.push(() => rm(mountBase, { recursive: true, force: true }));
        const excludedDirectories = [store, ...(scratch ? [scratch] : []), ...(request.excludes ?? []).map((e) => (liveRoot === '/' ? e : join(liveRoot, e)))];
        const subs = await subvolumeSources({ sources, layout, excluded: selected.excludedSubvolumes, excludedDirectories, mountBase, cleanups });
        for (const s of subs.skipped) emit({ type: 'skipped', target: s.target, reason: s.reason });
        sources = [...sources, ...subs.sources];
      }
    } else {
      mode = 'disk';
      // Mount points live outside the store, so that prune can never walk into a mounted disk.
      const mountBase = await mkdtemp(join(scratch ?? tmpdir(), 'lifeboat-mnt-'));
      cleanups.push(() => rm(mountBase, { recursive: true, force: true }));
      ({ layout, raw, sources } = await prepareDisks(disks, mountBase, request.excludes ?? [], cleanups, emit));
      await mkdir(join(incoming.dir, 'data'), { mode: DATA_DIR_MODE });
    }

    const layoutDir = join(incoming.dir, 'layout');
    await mkdir(layoutDir);
    for (const [name, text] of Object.entries(raw)) await writeFile(join(layoutDir, storedName(name)), text);

    let incremental: IncrementalPlan | null = null;
    if (request.incremental) {
      const fsOf = (device: string) => layout.filesystems.find((f) => f.device === device);
      incremental = await planIncremental(
        store,
        request.image,
        sources.map((s) => ({ id: s.id, fstype: s.fstype, ...(fsOf(s.device)?.uuid ? { uuid: fsOf(s.device)!.uuid! } : {}), excludes: s.excludes })),
        { mode, ...(treePath ? { path: treePath } : {}) },
        request.incremental.fullEvery,
      );
      emit({ type: 'stage', stage: 'archive', message: `incremental ${incremental.reason}` });
      await mkdir(join(incoming.dir, 'snapshots'));
    }

    const used = new Map<string, number>();
    for (const s of sources) used.set(s.id, mode === 'path' ? await treeBytes(s.directory) : await usedBytes(s.directory));
    const totalBytes = [...used.values()].reduce((a, b) => a + b, 0);
    emit({ type: 'start', filesystems: sources.map((s) => ({ id: s.id, mountpoint: s.mountpoint, usedBytes: used.get(s.id)! })), totalBytes });

    const sums = new Map<string, string>();
    const entries: ArchiveEntry[] = [];
    for (const [i, source] of sources.entries()) {
      emit({ type: 'stage', stage: 'archive', message: `archiving ${source.mountpoint} (${source.device}, ${source.fstype})` });
      tally.announce(totalBytes); // progress follows the stage that names its filesystem
      const snapshot = incremental ? `snapshots/${source.id}.snar` : undefined;
      const { result, seconds } = await (i === 0 && first ? first : archiveFilesystem(source, { ...run, live: mode !== 'disk', ...(incremental ? { incremental } : {}) }));
      const volumes = result.volumes;
      for (const v of volumes) sums.set(v.path, v.sha256);
      tally.finished(result);
      for (const w of result.warnings) emit({ type: 'warning', message: `${source.mountpoint}: ${w}` });
      const fs = layout.filesystems.find((f) => f.device === source.device);
      entries.push({
        id: source.id,
        mountpoint: source.mountpoint,
        device: source.device,
        fstype: source.fstype,
        ...(fs?.uuid ? { uuid: fs.uuid } : {}),
        ...(fs?.label ? { label: fs.label } : {}),
        format: 'gnu-tar-posix',
        compression,
        tarBytes: result.tarBytes,
        usedBytes: used.get(source.id)!,
        excludes: source.excludes,
        ...(source.subvolume !== undefined ? { subvolume: source.subvolume } : {}),
        volumes,
        warnings: result.warnings,
        ...(incremental && snapshot ? { incremental: { level: incremental.level, snapshot, chain: chainFor(incremental, source.id) } } : {}),
      });
      emit({ type: 'filesystem', id: source.id, tarBytes: result.tarBytes, storedBytes: result.storedBytes, volumes: volumes.length, seconds });
    }

    emit({ type: 'stage', stage: 'publish', message: 'writing the manifest and checksums, then publishing' });
    await chmod(join(incoming.dir, 'data'), (await stat(incoming.dir)).mode & 0o777);
    const now = new Date();
    const manifest: Manifest = checkManifest(
      {
        format: MANIFEST_FORMAT,
        image: request.image,
        version: 'pending',
        createdAt: new Date(started).toISOString(),
        completedAt: now.toISOString(),
        creator: { tool: 'lifeboat', version: LIFEBOAT_VERSION, hostname: hostname() },
        source: { mode, ...(root ? { root } : {}), ...(mode === 'disk' ? { disks } : {}), ...(treePath ? { path: treePath } : {}) },
        layout,
        volumeSize,
        archives: entries,
        warnings: entries.flatMap((e) => e.warnings.map((w) => `${e.mountpoint}: ${w}`)),
        ...(incremental
          ? { incremental: { level: incremental.level, chain: incremental.base ? [...(incremental.base.manifest.incremental?.chain ?? []), incremental.base.version] : [], fullEvery: request.incremental!.fullEvery } }
          : {}),
      },
      'the manifest being written',
    );
    // The version name is decided at publish; the manifest names it so a copied directory still says what it is.
    const version = await publishWithManifest(incoming, manifest, sums, now);
    const seconds = (Date.now() - started) / 1000;
    emit({
      type: 'published', image: request.image, version: version.version, dir: version.dir, bytes: version.bytes, seconds,
      ...(incremental ? { incremental: { level: incremental.level, base: incremental.base?.version ?? null } } : {}),
    });
    log.info({ image: request.image, version: version.version, bytes: version.bytes, seconds }, 'archive published');
    return version;
  } catch (e) {
    stop.abort();
    await first?.catch(() => undefined);
    await discardIncoming(incoming).catch(() => undefined);
    if (hasErrno(e, 'ENOSPC') || hasErrno(e, 'EDQUOT')) {
      throw new LifeboatError('LB_STORE_FULL', `the store ${store} is full (${(e as Error).message}); the incomplete version was removed: free space or choose another --store`, {}, { cause: e });
    }
    if (request.signal?.aborted && !(e instanceof LifeboatError && e.code === 'LB_INTERRUPTED')) {
      throw new LifeboatError('LB_INTERRUPTED', 'the archive was interrupted; no version was published', {}, { cause: e });
    }
    throw e;
  } finally {
    emit({ type: 'stage', stage: 'cleanup', message: 'unmounting and detaching' });
    for (const c of cleanups.reverse()) await c().catch((err) => log.warn({ err }, 'cleanup step failed'));
  }
}

/**
 * The tools create volumes as the umask allows; VolumeHasher makes each 0600 once it follows it.
 * Until publish, data/ keeps anyone else from opening a volume in between and reading it later.
 */
const DATA_DIR_MODE = 0o700;

interface FilesystemArchived {
  result: TarCreateResult;
  seconds: number;
}

async function archiveFilesystem(
  source: ArchiveSource,
  run: { dir: string; compression: Compression; volumeSize: number | null; live: boolean; incremental?: IncrementalPlan; signal: AbortSignal; tally: ProgressTally },
): Promise<FilesystemArchived> {
  const started = Date.now();
  const snapshot = run.incremental ? `snapshots/${source.id}.snar` : undefined;
  // tar updates the snapshot it is given: a copy of the base's becomes this version's.
  if (snapshot && run.incremental?.base) await copyFile(join(run.incremental.base.dir, snapshot), join(run.dir, snapshot));
  const result = await createTarArchive({
    directory: source.directory,
    excludes: source.excludes,
    compression: run.compression,
    output: { dir: run.dir, baseName: `data/${source.id}${archiveSuffix(run.compression)}`, volumeSize: run.volumeSize },
    live: run.live,
    ...(snapshot ? { snapshot: join(run.dir, snapshot) } : {}),
    signal: run.signal,
    onProgress: (p) => run.tally.report(source.id, p),
  });
  return { result, seconds: (Date.now() - started) / 1000 };
}

async function publishWithManifest(incoming: Awaited<ReturnType<typeof beginIncoming>>, manifest: Manifest, sums: Map<string, string>, now: Date): Promise<VersionInfo> {
  const { formatVersion } = await import('../store/image-store.js');
  manifest.version = formatVersion(now);
  await writeFile(join(incoming.dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  const published = await publishIncoming(incoming, sums, now);
  if (published.version !== manifest.version) {
    // Another version took this second's name: the manifest must carry the name it is published under.
    manifest.version = published.version;
    await writeFile(join(published.dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  }
  return published;
}

/**
 * --disk: attach each disk read-only, mount its filesystems read-only in scratch, probe with the
 * source's fstab telling where each belongs.
 */
async function prepareDisks(
  disks: string[],
  mountBase: string,
  excludes: string[],
  cleanups: Array<() => Promise<void>>,
  emit: (e: ArchiveEvent) => void,
): Promise<{ layout: Layout; raw: Record<string, string>; sources: ArchiveSource[] }> {
  emit({ type: 'stage', stage: 'mount', message: `attaching ${disks.join(', ')} read-only` });
  const devices: string[] = [];
  for (const d of disks) {
    const attached = await attachDiskImage(d, { readOnly: true });
    cleanups.push(() => attached.detach());
    devices.push(attached.device);
  }
  // md arrays and LVM volume groups on the disks, started read-only so their filesystems can be read.
  const stacks = await startStacksReadOnly(devices);
  cleanups.push(() => stacks.release());
  for (const n of stacks.notes) emit({ type: 'warning', message: n });
  emit({ type: 'stage', stage: 'probe', message: `probing ${devices.join(', ')}` });
  const first = await probeLayout({ disks: devices });
  await makeDirs(mountBase);
  const mountpoints: Record<string, string> = {};
  for (const [i, fs] of first.layout.filesystems.entries()) {
    if (!LOCAL_FSTYPES.has(fs.type)) continue;
    const target = join(mountBase, `fs${i}`);
    await makeDirs(target);
    // A btrfs volume by its top, where every subvolume is a directory.
    const unmount = await mountReadOnly(fs.device, fs.type, target, fs.type === 'btrfs' ? ['subvolid=5'] : []);
    cleanups.push(async () => {
      await unmount();
      await rm(target, { recursive: false, force: true }).catch(() => undefined);
    });
    mountpoints[fs.device] = target;
  }
  const { layout, raw } = await probeLayout({ disks: devices, mountpoints });
  const sources: ArchiveSource[] = [];
  const ids = new Set<string>();
  const add = (fsDevice: string, fstype: string, mountpoint: string, named: boolean, directory: string, subvolume?: string) => {
    let id = named ? archiveIdFor(mountpoint) : `dev-${fsDevice.split('/').pop()}`;
    for (let n = 2; ids.has(id); n++) id = `${named ? archiveIdFor(mountpoint) : `dev-${fsDevice.split('/').pop()}`}-${n}`;
    ids.add(id);
    sources.push({ id, mountpoint, directory, device: fsDevice, fstype, excludes: [], ...(subvolume !== undefined ? { subvolume } : {}) });
  };
  for (const fs of layout.filesystems) {
    const directory = mountpoints[fs.device];
    if (!directory) continue;
    const mountpoint = fs.mountpoint ?? `/mnt/${fs.device.split('/').pop()}`;
    if (fs.type !== 'btrfs') {
      add(fs.device, fs.type, mountpoint, fs.mountpoint !== undefined, directory);
      continue;
    }
    // btrfs: one stream per subvolume the source's fstab mounts (a mount without subvol= shows the
    // default subvolume), read from the top; the others follow below.
    const defaultPath = fs.subvolumes?.find((s) => s.isDefault)?.path ?? '';
    const mounts = fs.mounts && fs.mounts.length > 0 ? fs.mounts : [{ mountpoint, subvolume: undefined as string | undefined }];
    const seen = new Set<string>();
    for (const m of mounts) {
      const subvolume = m.subvolume ?? defaultPath;
      if (seen.has(subvolume)) continue;
      seen.add(subvolume);
      add(fs.device, fs.type, m.mountpoint, fs.mountpoint !== undefined, subvolume === '' ? directory : join(directory, subvolume), subvolume);
    }
  }
  if (sources.length === 0) throw new LifeboatError('LB_USAGE', `no filesystem found on ${disks.join(', ')}: nothing to archive`);
  const tops = new Map(layout.filesystems.filter((f) => f.type === 'btrfs' && mountpoints[f.device]).map((f) => [f.device, mountpoints[f.device]!] as const));
  const subs = await subvolumeSources({ sources, layout, mountedTops: tops, mountBase, cleanups });
  for (const s of subs.skipped) emit({ type: 'skipped', target: s.target, reason: s.reason });
  sources.push(...subs.sources);
  // Each exclude belongs to the deepest filesystem whose mountpoint holds it.
  const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
  for (const e of excludes) {
    const owner = sources.filter((s) => s.mountpoint !== '' && under(e, s.mountpoint)).sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0];
    if (owner && e !== owner.mountpoint) owner.excludes.push(`./${e.slice(owner.mountpoint.length).replace(/^\/+/, '')}`);
  }
  return { layout, raw, sources: sources.sort((a, b) => a.mountpoint.localeCompare(b.mountpoint)) };
}
