import { hostname } from 'node:os';
import { join } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { archiveLayers, chainBytes, checkedOpener, layerVolumePath } from '../archive/archive-chain.js';
import { fileVolumes } from '../archive/tar-read.js';
import type { Manifest } from '../store/manifest.js';
import { compareArchive, renderChanged, type Difference, type DifferenceKind } from './compare-archive.js';
import { lstatOrNull } from './disk-facts.js';

/**
 * `lifeboat compare` on a running system: the same engine the rescue agent's compare mode uses,
 * pointed at the live filesystems under --root, with paths that change by themselves on any
 * running machine left out so that what remains is what someone changed.
 */

/**
 * Rewritten by a running system on its own: logs, caches, temporary files, service state, DHCP
 * leases, timer stamps (a scheduled archive rewrites its own), shell histories. `*` stands for one
 * path component; a match leaves out the path and everything under it.
 */
export const DEFAULT_IGNORES: ReadonlyArray<{ path: string; why: string }> = [
  { path: '/var/log', why: 'logs' },
  { path: '/var/cache', why: 'caches' },
  { path: '/var/tmp', why: 'temporary files' },
  { path: '/tmp', why: 'temporary files' },
  { path: '/var/lib/*/state', why: 'service state' },
  { path: '/var/lib/systemd/timers', why: 'timer stamps (Persistent=)' },
  { path: '/var/lib/systemd/random-seed', why: 'the random seed, rewritten at every boot' },
  { path: '/var/lib/systemd/coredump', why: 'core dumps' },
  { path: '/var/lib/dhcp', why: 'DHCP leases' },
  { path: '/var/lib/dhclient', why: 'DHCP leases' },
  { path: '/var/lib/NetworkManager', why: 'leases and connection state' },
  { path: '/var/lib/logrotate', why: 'logrotate status' },
  { path: '/var/lib/apt/lists', why: 'package index downloads' },
  { path: '/var/lib/apt/periodic', why: 'apt timer stamps' },
  { path: '/var/lib/lifeboat', why: 'Lifeboat\'s own server state' },
  { path: '/var/backups', why: 'daily copies of package state' },
  { path: '/var/crash', why: 'crash reports' },
  { path: '/var/mail', why: 'mailboxes' },
  { path: '/root/.bash_history', why: 'shell history' },
  { path: '/home/*/.bash_history', why: 'shell history' },
  { path: '/root/.cache', why: 'caches' },
  { path: '/home/*/.cache', why: 'caches' },
  { path: '/swapfile', why: 'swap' },
  { path: '/swap.img', why: 'swap' },
];

/** Whether a path of the archived system is ignored: equal to a pattern or under it. */
export function ignoreMatcher(patterns: string[]): (path: string) => boolean {
  const regexes = patterns.map((p) => {
    if (!p.startsWith('/')) throw new LifeboatError('LB_USAGE', `--ignore ${p} must be an absolute path on the compared system (e.g. /var/log)`);
    const body = p
      .replace(/\/+$/, '')
      .split('/')
      .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
      .join('/');
    return new RegExp(`^${body}(?:/.*)?$`);
  });
  return (path) => regexes.some((r) => r.test(path));
}

export interface LiveCompareResult {
  results: Array<{ mountpoint: string; differences: Difference[]; entries: number }>;
  counts: Record<DifferenceKind, number>;
  same: boolean;
  /** changed.txt's text. */
  text: string;
}

export async function compareLive(options: {
  versionDir: string;
  manifest: Manifest;
  /** Where the archived system's / is now: / for the running system. */
  root: string;
  ignores: string[];
  onProgress?: (bytes: number, totalBytes: number, mountpoint: string) => void;
}): Promise<LiveCompareResult> {
  const { manifest, root } = options;
  const ignored = ignoreMatcher(options.ignores);
  // Volumes are read without a verify pass first, so each is checked as it streams.
  const volumes = manifest.archives.flatMap((a) => archiveLayers(a, fileVolumes(options.versionDir)).flatMap((l) => l.volumes.map((v) => ({ ...v, path: layerVolumePath(l, v.path) }))));
  const open = checkedOpener(fileVolumes(options.versionDir), volumes);
  const total = manifest.archives.reduce((s, a) => s + chainBytes(a), 0);
  let before = 0;
  const results: LiveCompareResult['results'] = [];
  for (const entry of manifest.archives) {
    const directory = entry.mountpoint === '/' ? root : join(root, entry.mountpoint);
    const base = before;
    before += chainBytes(entry);
    if (ignored(entry.mountpoint)) continue;
    const st = await lstatOrNull(directory);
    if (!st?.isDirectory()) {
      results.push({ mountpoint: entry.mountpoint, entries: 0, differences: [{ path: entry.mountpoint, kind: 'missing', details: [`${directory} is not a directory: the filesystem archived there is not mounted`] }] });
      continue;
    }
    const r = await compareArchive({ open, entry, root: directory, ignore: ignored, onProgress: (b) => options.onProgress?.(base + b, total, entry.mountpoint) });
    results.push({ mountpoint: entry.mountpoint, ...r });
  }
  const counts: Record<DifferenceKind, number> = { content: 0, metadata: 0, missing: 0, new: 0 };
  for (const r of results) for (const d of r.differences) counts[d.kind]++;
  const same = results.every((r) => r.differences.length === 0);
  const text = renderChanged(
    [
      `lifeboat compare of ${hostname()}:${root} with ${manifest.image}@${manifest.version}${manifest.incremental ? ` (incremental level ${manifest.incremental.level}: the tree of its whole chain)` : ''}`,
      `at ${new Date().toISOString()}`,
      `not compared: ${options.ignores.join(' ') || '(nothing ignored)'}`,
    ],
    results,
  );
  return { results, counts, same, text };
}
