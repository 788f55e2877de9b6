import { posix } from 'node:path';
import type { FilesystemMount, FstabEntry } from './model.js';
import { canon, exists, rawOf, type Evidence } from './evidence.js';
import type { FsWork } from './interpret-devices.js';
import type { LiveMount } from './parse-findmnt.js';
import { parseFstab, specMatches } from './parse-fstab.js';

/**
 * Where each filesystem belongs on the source machine: its live mounts under the source's root,
 * else the source's own /etc/fstab. Pure, from the evidence.
 */

/** Where a btrfs subvolume (or the top, "") of this filesystem can be read here. */
export function localPathOf(w: FsWork, subvolume: string | undefined): string | undefined {
  if (!w.localDir) return undefined;
  const want = subvolume ?? w.fs.subvolumes?.find((s) => s.isDefault)?.path ?? '';
  if (w.localRoot === '') return want === '' ? w.localDir : posix.join(w.localDir, want);
  if (want === w.localRoot) return w.localDir;
  return want.startsWith(`${w.localRoot}/`) ? posix.join(w.localDir, want.slice(w.localRoot.length + 1)) : undefined;
}

/** The running machine itself: its root is "/" and the caller mounted nothing. */
export function isLiveRoot(ev: Evidence): boolean {
  return ev.facts.root === '/' && !ev.facts.options.mountpoints;
}

export function fstabOf(ev: Evidence, notes: string[]): FstabEntry[] {
  const root = ev.facts.root;
  if (root) {
    const text = rawOf(ev, 'fstab');
    if (text !== undefined) return parseFstab(text);
    notes.push(`${posix.join(root, 'etc/fstab')} does not exist: mountpoints of filesystems that are not mounted are unknown`);
  } else if (ev.facts.options.mountpoints) {
    notes.push('no mounted filesystem holds etc/fstab: mountpoints on the source machine are unknown');
  }
  return [];
}

function subvolumeOption(options: string): string | undefined {
  const m = /(?:^|,)subvol=([^,]+)/.exec(options);
  return m ? m[1]!.replace(/^\/+/, '') || undefined : undefined;
}

/**
 * A bind mount shows a directory of a filesystem mounted elsewhere too; it is not where the
 * filesystem belongs. A btrfs subvolume mount also has an fsroot, equal to its subvol= option.
 */
function isBindMount(m: LiveMount): boolean {
  if (m.fsroot === '/') return false;
  if (m.fstype !== 'btrfs') return true;
  const subvol = /(?:^|,)subvol=([^,]+)/.exec(m.options)?.[1];
  return subvol === undefined || subvol.replace(/^\/*/, '/') !== m.fsroot;
}

function sortMounts(mounts: FilesystemMount[]): FilesystemMount[] {
  return mounts.sort((a, b) => a.mountpoint.length - b.mountpoint.length || a.mountpoint.localeCompare(b.mountpoint));
}

/** A target under root, as the source system sees it: /mnt/sys/boot → /boot. */
function underRoot(target: string, root: string): string | undefined {
  if (root === '/') return target;
  if (target === root) return '/';
  return target.startsWith(`${root}/`) ? target.slice(root.length) : undefined;
}

function mountsOf(ev: Evidence, w: FsWork, fstab: FstabEntry[]): FilesystemMount[] {
  const root = ev.facts.root;
  const mounts: FilesystemMount[] = [];
  if (!root) return mounts;
  if (!w.fromCaller) {
    for (const m of w.live) {
      const mountpoint = underRoot(m.target, root);
      if (mountpoint === undefined || isBindMount(m)) continue;
      const subvolume = m.fsroot !== '/' ? m.fsroot.replace(/^\/+/, '') : undefined;
      mounts.push({ mountpoint, options: m.options, ...(subvolume ? { subvolume } : {}) });
    }
  }
  if (mounts.length > 0) return mounts;
  for (const e of fstab) {
    if (!e.file.startsWith('/') || e.vfstype === 'swap') continue;
    const byPath = e.spec.startsWith('/dev/') && exists(ev.facts, e.spec) && canon(ev.facts, e.spec) === canon(ev.facts, w.fs.device);
    if (!specMatches(e.spec, w.identity) && !byPath) continue;
    const subvolume = w.fs.type === 'btrfs' ? subvolumeOption(e.mntops) : undefined;
    mounts.push({ mountpoint: e.file, options: e.mntops, ...(subvolume ? { subvolume } : {}) });
  }
  return mounts;
}

/** Each filesystem with where it belongs on the source machine and how full it is. */
export function withMounts(ev: Evidence, w: FsWork, fstab: FstabEntry[]): FsWork {
  const fs = { ...w.fs };
  const mounts = mountsOf(ev, w, fstab);
  if (mounts.length > 0) {
    sortMounts(mounts);
    fs.mountpoint = mounts[0]!.mountpoint;
    if (mounts[0]!.options) fs.mountOptions = mounts[0]!.options;
    fs.mounts = mounts;
  }
  const usage = w.localDir ? ev.facts.usage[w.localDir] : undefined;
  if (usage) {
    fs.size = usage.size;
    fs.used = usage.used;
  }
  return { ...w, fs };
}

/** The source system's files across its mounts (/boot, /boot/efi, /usr may be separate): source path → local directory. */
export function sourceMapping(root: string, works: FsWork[]): Array<{ source: string; local: string }> {
  const mapping: Array<{ source: string; local: string }> = [{ source: '/', local: root }];
  // Live mounts are already in place under root; the caller's mounts are wherever it put them.
  for (const w of works) {
    if (!w.fromCaller) continue;
    for (const m of w.fs.mounts ?? []) {
      const local = localPathOf(w, m.subvolume);
      if (local && m.mountpoint !== '/') mapping.push({ source: m.mountpoint, local });
    }
  }
  return mapping;
}
