import { mkdtemp, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { archiveLayers, chainBytes, checkedOpener, layerVolumePath, parseDumpdir, type ArchiveLayer } from '../archive/archive-chain.js';
import type { TarEntry } from '../archive/tar-parse.js';
import { fileVolumes, readArchive } from '../archive/tar-read.js';
import { ChainTree } from '../compare/chain-facts.js';
import { readArchivedFacts } from '../compare/compare-archive.js';
import type { ArchiveEntry, Manifest } from '../store/manifest.js';
import { extractArchive } from './extract-archive.js';
import { memberName, selectArchives, systemPath, type ArchiveSelection } from './file-selection.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * `lifeboat restore IMAGE[@VERSION] [PATH…] --to DIR`: files out of a version, onto any directory,
 * with every attribute tar keeps. A whole archive is extracted as the rescue agent does it
 * (extractArchive, chain included). Chosen paths are found first in the archives' listings — the
 * chain's tree, deletions applied (ChainTree) — so a PATH the version does not hold is refused
 * before anything is written; then each layer is extracted, oldest first, with only the members
 * it holds (tar fails on a name a layer lacks, and an increment holds only what changed), so a
 * directory's later listings still remove what was deleted under it.
 */
export interface RestoreFilesRequest {
  versionDir: string;
  manifest: Manifest;
  /** As on the archived system; none: the whole tree. */
  paths: string[];
  to: string;
  /** Write into a --to that already holds files. */
  force?: boolean;
  onProgress?: (bytes: number, totalBytes: number, what: string) => void;
  onNote?: (message: string) => void;
  /** Once the request is accepted (PATHs outside the version and a busy --to are refused before). */
  onStart?: (message: string) => void;
  signal?: AbortSignal;
}

export interface RestoreFilesResult {
  to: string;
  archives: number;
  /** What was asked for, as system paths; ["/"] or the tree's root for a whole restore. */
  restored: string[];
}

/** A freshly made filesystem holds lost+found and nothing else: that counts as empty. */
const EMPTY_ENOUGH = new Set(['lost+found']);

async function checkTarget(to: string, force: boolean): Promise<void> {
  let names: string[];
  try {
    if (!(await stat(to)).isDirectory()) throw new LifeboatError('LB_USAGE', `--to ${to} is not a directory: name a directory to restore into`);
    names = await readdir(to);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return;
    throw e;
  }
  const held = names.filter((n) => !EMPTY_ENOUGH.has(n));
  if (held.length > 0 && !force) {
    const shown = held.slice(0, 3).join(', ') + (held.length > 3 ? `, … (${held.length} entries)` : '');
    throw new LifeboatError('LB_CONFLICT', `--to ${to} is not empty (it holds ${shown}): restoring there would mix the version's files with others; choose an empty directory, or add --force to write over what is there`);
  }
}

interface LayerMembers {
  layer: ArchiveLayer;
  members: string[];
}

interface MemberPlan {
  selection: ArchiveSelection;
  layers: LayerMembers[];
  /** Hard-link targets outside what was asked: extracted so tar can link, removed after. */
  extras: string[];
  /**
   * A rename in the chain touches what was asked (srv/a → srv/a-moved): tar applies renames only
   * while extracting the archive's top directory, which a chosen-members extraction leaves out, so
   * the whole archive is extracted into a staging directory and the chosen paths moved from it.
   */
  staged: boolean;
}

const relOf = (tarPath: string) => tarPath.replace(/^\.\/?/, '').replace(/\/+$/, '');
const within = (rel: string, dir: string) => dir === '' || rel === dir || rel.startsWith(`${dir}/`);

/** The nearest name the version does hold beside a missing one, for the refusal. */
function suggestion(tree: Map<string, unknown>, rel: string): string | null {
  const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
  const siblings = [...tree.keys()].filter((k) => k !== '' && (k.includes('/') ? k.slice(0, k.lastIndexOf('/')) : '') === parent);
  return siblings.length > 0 ? closest(rel, siblings) : null;
}

async function planMembers(selection: ArchiveSelection, open: ReturnType<typeof fileVolumes>, manifest: Manifest, read: (bytes: number) => void): Promise<MemberPlan> {
  const rels = selection.rels!;
  const entry = selection.entry;
  const layers = archiveLayers(entry, open);
  const tree = new ChainTree<TarEntry>();
  const listings: Array<Map<string, TarEntry>> = [];
  let before = 0;
  for (const layer of layers) {
    const base = before;
    // Listing proves each volume against its sha256: a damaged one is named before anything is written.
    const checked = checkedOpener(layer.open, layer.volumes, (p) => layerVolumePath(layer, p));
    const listing = await readArchivedFacts(checked, layer, (b) => read(base + b));
    before += layer.volumes.reduce((s, v) => s + v.bytes, 0);
    listings.push(listing);
    tree.apply(listing);
  }
  for (const rel of rels) {
    if (tree.facts.has(rel)) continue;
    const near = suggestion(tree.facts, rel);
    throw new LifeboatError(
      'LB_NOT_FOUND',
      `${systemPath(entry, rel)} is not in ${manifest.image}@${manifest.version}${near !== null ? ` (did you mean ${systemPath(entry, near)}?)` : ''}: name a path the version holds, or another version`,
    );
  }
  const renamed = listings.some((listing) => [...listing.values()].some((f) => f.dumpdir && parseDumpdir(f.dumpdir).some((r) => (r.code === 'R' || r.code === 'T') && r.name !== '' && rels.some((rel) => within(relOf(r.name), rel) || within(rel, relOf(r.name))))));
  const extras = new Set<string>();
  const planned = listings.map((listing, i): LayerMembers => {
    const members = rels.filter((r) => listing.has(r));
    for (const [rel, f] of listing) {
      if (f.type !== 'hardlink' || !rels.some((r) => within(rel, r))) continue;
      const target = relOf(f.linkTarget ?? '');
      if (!rels.some((r) => within(target, r)) && listing.has(target)) {
        extras.add(target);
        if (!members.includes(target)) members.push(target);
      }
    }
    return { layer: layers[i]!, members: members.map(memberName) };
  });
  return { selection, layers: planned.filter((l) => l.members.length > 0), extras: [...extras], staged: renamed };
}

/** The whole archive into a staging directory beside the chosen paths' place, then each chosen path moved out of it. */
async function extractStaged(plan: MemberPlan, open: ReturnType<typeof fileVolumes>, read: (bytes: number) => void): Promise<void> {
  const { entry, target } = plan.selection;
  const staging = await mkdtemp(join(target, '.lifeboat-restore-'));
  try {
    await extractArchive(entry, { open, target: staging, onProgress: (b) => read(b) });
    for (const rel of plan.selection.rels!) {
      await makeDirs(dirname(join(target, rel)));
      await rename(join(staging, rel), join(target, rel));
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function extractMembers(plan: MemberPlan, signal: AbortSignal | undefined, read: (bytes: number) => void): Promise<void> {
  const { entry, target } = plan.selection;
  let before = 0;
  for (const { layer, members } of plan.layers) {
    const base = before;
    const r = await readArchive(layer.open, layer, { mode: 'extract', target, incremental: layer.incremental, members, onProgress: (b) => read(base + b), ...(signal ? { signal } : {}) });
    before += layer.volumes.reduce((s, v) => s + v.bytes, 0);
    const damaged = r.damaged[0];
    if (damaged) {
      throw new LifeboatError('LB_IMAGE_CORRUPT', `volume ${layerVolumePath(layer, damaged.path)} fails its checksum (expected ${damaged.expected.slice(0, 12)}…, got ${damaged.actual.slice(0, 12)}…): the image is damaged; restore another version`);
    }
    if (r.streamError) throw new LifeboatError('LB_TOOL_FAILED', `extracting ${members.length} path(s) of ${entry.id} into ${target} failed: ${r.streamError.message}`);
  }
  // A hard link's other name was only a means: take it away again, and the directories made for it.
  for (const rel of plan.extras) {
    let path = join(target, rel);
    await unlink(path).catch(() => undefined);
    for (path = dirname(path); path.startsWith(`${target}/`); path = dirname(path)) {
      if (!(await rmdir(path).then(() => true, () => false))) break;
    }
  }
}

export async function restoreFiles(request: RestoreFilesRequest): Promise<RestoreFilesResult> {
  const { manifest } = request;
  const to = resolve(request.to);
  const selections = selectArchives(manifest, request.paths, to);
  await checkTarget(to, request.force ?? false);
  const what = request.paths.length > 0 ? request.paths.join(', ') : selections.map((sel) => sel.entry.mountpoint).join(', ');
  request.onStart?.(`restoring ${what} of ${manifest.image}@${manifest.version} into ${to}`);
  for (const a of manifest.archives) if (a.mountpoint === '' && request.paths.length === 0) request.onNote?.(`${a.id} (btrfs subvolume ${a.subvolume ?? '?'}) is mounted nowhere on the source: not restored; name it with images show`);
  const open = fileVolumes(request.versionDir);
  const whole = (e: ArchiveEntry) => chainBytes(e);
  // Chosen paths read their archives twice: once to find them, once to extract them.
  const total = selections.reduce((s, sel) => s + whole(sel.entry) * (sel.rels ? 2 : 1), 0);
  let done = 0;
  const progress = (what: string) => {
    const base = done;
    return (b: number) => request.onProgress?.(base + b, total, what);
  };
  const plans: MemberPlan[] = [];
  for (const sel of selections.filter((s) => s.rels)) {
    plans.push(await planMembers(sel, open, manifest, progress(`finding ${sel.rels!.length} path(s) in ${sel.entry.id}`)));
    done += whole(sel.entry);
  }
  await makeDirs(to);
  for (const sel of selections) {
    await makeDirs(sel.target);
    const plan = plans.find((p) => p.selection === sel);
    if (plan?.staged) {
      request.onNote?.(`renames in the chain of ${sel.entry.id} touch what was asked: the whole archive is extracted into a staging directory under ${sel.target} first`);
      await extractStaged(plan, open, progress(`restoring ${sel.entry.id}`));
    } else if (plan) await extractMembers(plan, request.signal, progress(`restoring ${sel.entry.id}`));
    else {
      const report = progress(`restoring ${sel.entry.id}`);
      await extractArchive(sel.entry, { open, target: sel.target, onProgress: (b) => report(b) });
    }
    done += whole(sel.entry);
  }
  request.onProgress?.(total, total, 'done');
  const restored = selections.flatMap((s) => (s.rels ? s.rels.map((r) => systemPath(s.entry, r)) : [s.entry.mountpoint]));
  return { to, archives: selections.length, restored };
}
