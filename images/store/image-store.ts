import { closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile, lstat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { readManifest, type Manifest } from './manifest.js';
import { renderSha256Sums, sha256File } from './checksums.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * The on-disk store: <store>/<image>/<version>/ published by renaming a complete, fsynced
 * <store>/<image>/.incoming-<id>/. Only names matching VERSION_PATTERN are versions, so an incoming
 * directory can never be listed or restored, whatever state a crash left it in.
 */
export const VERSION_PATTERN = /^\d{8}T\d{6}Z(?:-\d+)?$/;
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const INCOMING_PREFIX = '.incoming-';

/** The rule every image name follows, wherever it comes from (CLI, API, a directory of the store). */
export function isImageName(name: string): boolean {
  return IMAGE_NAME.test(name) && !name.includes('..');
}

/** What an image name may be, for messages that refuse one. */
export const IMAGE_NAME_RULE = "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'";

export function checkImageName(name: string): string {
  if (!isImageName(name)) throw new LifeboatError('LB_USAGE', `image name ${JSON.stringify(name)} is not allowed: use ${IMAGE_NAME_RULE}`);
  return name;
}

export function formatVersion(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export interface VersionInfo {
  image: string;
  version: string;
  dir: string;
  /** Sum of the sizes of every file in the version. */
  bytes: number;
  createdAt: Date;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await dirBytes(p);
    else total += (await lstat(p)).size;
  }
  return total;
}

function versionDate(version: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(version)!;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** Oldest first, as the names sort. */
export async function listVersions(store: string, image: string): Promise<VersionInfo[]> {
  checkImageName(image);
  const dir = join(store, image);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const versions: VersionInfo[] = [];
  for (const version of names.filter((n) => VERSION_PATTERN.test(n)).sort(compareVersions)) {
    const vdir = join(dir, version);
    // A version removed or moved aside while this looks (prune, a server's quarantine) is skipped.
    const st = await stat(vdir).catch(() => null);
    if (!st?.isDirectory()) continue;
    if (!(await stat(join(vdir, 'manifest.json')).catch(() => null))) continue;
    const bytes = await dirBytes(vdir).catch((e: unknown) => (hasErrno(e, 'ENOENT') ? null : Promise.reject(e)));
    if (bytes === null) continue;
    versions.push({ image, version, dir: vdir, bytes, createdAt: versionDate(version) });
  }
  return versions;
}

export function compareVersions(a: string, b: string): number {
  const [ab, as = '0'] = a.split('-');
  const [bb, bs = '0'] = b.split('-');
  return ab! < bb! ? -1 : ab! > bb! ? 1 : Number(as) - Number(bs);
}

export async function listImages(store: string): Promise<Array<{ image: string; versions: VersionInfo[] }>> {
  let names: string[];
  try {
    names = await readdir(store);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new LifeboatError('LB_NOT_FOUND', `store ${store} does not exist: pass --store DIR with an existing directory`);
    throw e;
  }
  const out = [];
  for (const name of names.sort()) {
    if (!IMAGE_NAME.test(name)) continue;
    if (!(await stat(join(store, name))).isDirectory()) continue;
    out.push({ image: name, versions: await listVersions(store, name) });
  }
  return out;
}

/** "name" (newest version) or "name@version". */
export async function resolveVersion(store: string, ref: string): Promise<VersionInfo> {
  const [image, version] = ref.split('@') as [string, string | undefined];
  const versions = await listVersions(store, checkImageName(image));
  if (versions.length === 0) throw new LifeboatError('LB_NOT_FOUND', `image ${image} has no published version in ${store}`);
  if (version === undefined) return versions.at(-1)!;
  const found = versions.find((v) => v.version === version);
  if (!found) {
    throw new LifeboatError('LB_NOT_FOUND', `image ${image} has no version ${version}; it has ${versions.map((v) => v.version).join(', ')}`);
  }
  return found;
}

export async function loadVersion(store: string, ref: string): Promise<{ info: VersionInfo; manifest: Manifest }> {
  const info = await resolveVersion(store, ref);
  return { info, manifest: await readManifest(info.dir) };
}

// ---- writing a version -------------------------------------------------------------------------

export interface Incoming {
  store: string;
  image: string;
  id: string;
  dir: string;
  ownerFile: string;
}

/**
 * Creates <store>/<image>/.incoming-<id>/ and an owner file beside it naming this process, so that
 * prune leaves a version being written alone and removes one whose writer is gone.
 */
export async function beginIncoming(store: string, image: string): Promise<Incoming> {
  checkImageName(image);
  const id = `${formatVersion(new Date())}-${randomBytes(4).toString('hex')}`;
  const imageDir = join(store, image);
  await makeDirs(imageDir);
  const dir = join(imageDir, `${INCOMING_PREFIX}${id}`);
  const ownerFile = `${dir}.owner`;
  await writeFile(ownerFile, JSON.stringify({ pid: process.pid, host: hostname(), bootId: await bootId(), startedAt: new Date().toISOString() }));
  await mkdir(dir);
  return { store, image, id, dir, ownerFile };
}

export async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return 'unknown';
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every file below dir, relative to it, sorted. */
export async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(relative(base, p));
  }
  return out.sort();
}

/**
 * Writes SHA256SUMS over every file, fsyncs every file and directory, then renames the incoming
 * directory to its version name. `knownSums` saves re-reading volumes hashed while they streamed.
 */
export async function publishIncoming(incoming: Incoming, knownSums: Map<string, string>, now = new Date()): Promise<VersionInfo> {
  const files = (await listFiles(incoming.dir)).filter((f) => f !== 'SHA256SUMS');
  const entries = [];
  for (const f of files) entries.push({ path: f, sha256: knownSums.get(f) ?? (await sha256File(join(incoming.dir, f))) });
  await writeFile(join(incoming.dir, 'SHA256SUMS'), renderSha256Sums(entries), { mode: 0o644 });
  for (const f of [...files, 'SHA256SUMS']) fsyncPath(join(incoming.dir, f));
  for (const d of new Set(['', ...files.map((f) => f.split('/').slice(0, -1).join('/'))])) fsyncPath(join(incoming.dir, d));

  const imageDir = join(incoming.store, incoming.image);
  const base = formatVersion(now);
  for (let n = 1; ; n++) {
    const version = n === 1 ? base : `${base}-${n}`;
    const target = join(imageDir, version);
    try {
      // rename(2) onto a missing name is atomic, and onto a non-empty directory fails, so two
      // writers finishing in the same second cannot overwrite each other.
      await rename(incoming.dir, target);
    } catch (e) {
      if (hasErrno(e, 'EEXIST') || hasErrno(e, 'ENOTEMPTY')) continue;
      throw e;
    }
    fsyncPath(imageDir);
    await rm(incoming.ownerFile, { force: true });
    return { image: incoming.image, version, dir: target, bytes: await dirBytes(target), createdAt: versionDate(version) };
  }
}

export async function discardIncoming(incoming: Incoming): Promise<void> {
  await rm(incoming.dir, { recursive: true, force: true });
  await rm(incoming.ownerFile, { force: true });
}
