import type { Disk, Filesystem, Swap } from './model.js';
import { canon, errorText, rawOf, type Evidence } from './evidence.js';
import { parseBlkidExport, type BlkidEntry } from './parse-blkid.js';
import { parseBtrfsSubvolumes } from './parse-btrfs.js';
import { parseDumpe2fs } from './parse-dumpe2fs.js';
import { parseFindmnt, type LiveMount } from './parse-findmnt.js';
import type { DeviceIdentity } from './parse-fstab.js';
import { parseLsblk, type LsblkDevice, type LsblkResult } from './parse-lsblk.js';
import { parseSfdisk } from './parse-sfdisk.js';
import { parseXfsInfo } from './parse-xfs-info.js';

/**
 * The devices, partition tables and filesystems in the evidence: which disks were probed and
 * what each device holds. Pure: the same evidence gives the same answer, and what could not be
 * learnt goes into `notes` in the order the probe met it.
 */

/** Devices that are never a machine's own disks unless asked for by name. */
const NOT_A_DISK = /^(ram|zram|loop|sr|nbd|fd|md|dm-)\d*/;

export interface Devices {
  parsed: LsblkResult;
  /** The top-level devices probed. */
  disks: LsblkDevice[];
  /** Every probed device by kernel name: the disks and everything built on them. */
  set: Map<string, LsblkDevice>;
}

/** Which top-level devices were probed, and every device built on them. */
export function devicesOf(ev: Evidence): Devices {
  const parsed = parseLsblk(rawOf(ev, 'lsblk.json') ?? '');
  const wanted = ev.facts.options.disks;
  let disks: LsblkDevice[];
  if (wanted) {
    const wantedCanon = new Set(wanted.map((w) => canon(ev.facts, w)));
    disks = parsed.devices.filter((d) => d.parents.length === 0 && wantedCanon.has(canon(ev.facts, d.path)));
  } else {
    disks = parsed.devices.filter((d) => d.parents.length === 0 && d.type !== 'rom' && d.size > 0 && !NOT_A_DISK.test(d.name));
  }
  const set = new Map<string, LsblkDevice>(disks.map((d) => [d.name, d]));
  for (let grew = true; grew;) {
    grew = false;
    for (const d of parsed.devices) {
      if (!set.has(d.name) && d.parents.some((p) => set.has(p))) {
        set.set(d.name, d);
        grew = true;
      }
    }
  }
  return { parsed, disks, set };
}

function tableOf(ev: Evidence, disk: LsblkDevice, notes: string[]): Disk['table'] {
  const name = `sfdisk-${disk.name}.json`;
  const run = ev.facts.exits[name];
  if (run && run.exitCode !== 0) {
    if (!/does not contain a recognized partition table/.test(run.stderr)) notes.push(`the partition table of ${disk.path} could not be read (${run.stderr.trim().split('\n').pop()}): recorded as having none`);
    return null;
  }
  try {
    return parseSfdisk(rawOf(ev, name) ?? '');
  } catch (e) {
    notes.push(`the partition table of ${disk.path} cannot be recorded: ${errorText(e)}`);
    return null;
  }
}

export function disksOf(ev: Evidence, devices: Devices, notes: string[]): Disk[] {
  return devices.disks.map((dd) => {
    const base = devices.parsed.disks.find((d) => d.name === dd.name)!;
    const disk: Disk = { ...base, table: tableOf(ev, dd, notes) };
    const backing = dd.type === 'loop' ? ev.facts.loopBackingFiles[dd.name] : undefined;
    if (backing) disk.backingFile = backing;
    return disk;
  });
}

/** Types blkid reports that are containers or members, not filesystems to archive. */
const NOT_A_FILESYSTEM = new Set(['swap', 'LVM2_member', 'linux_raid_member', 'crypto_LUKS', 'zfs_member', 'isw_raid_member', 'ddf_raid_member', 'bcache', 'drbd', 'jbd', 'VMFS_volume_member']);

function isFilesystem(b: BlkidEntry): boolean {
  if (!b.type || NOT_A_FILESYSTEM.has(b.type)) return false;
  return b.usage === undefined || b.usage === 'filesystem';
}

export interface FsWork {
  fs: Filesystem;
  name: string;
  identity: DeviceIdentity;
  /** Where this machine can read it: the caller's read-only mount, or a live mount of the top. */
  localDir?: string;
  /** The subvolume (btrfs) or directory of the filesystem shown at localDir, "" for its top. */
  localRoot: string;
  fromCaller: boolean;
  live: LiveMount[];
}

export interface Filesystems {
  works: FsWork[];
  swaps: Swap[];
}

function blkidEntries(ev: Evidence, notes: string[]): Map<string, BlkidEntry> {
  const byPath = new Map<string, BlkidEntry>();
  const text = rawOf(ev, 'blkid.txt');
  if (text === undefined) return byPath;
  const run = ev.facts.exits['blkid.txt'];
  if (run?.exitCode === 8) notes.push(`blkid found more than one signature on a device (${run.stderr.trim().split('\n')[0]}): such devices are not recorded as filesystems`);
  for (const m of (run?.stderr ?? '').matchAll(/^blkid: error: (\S+): (.*)$/gm)) notes.push(`${m[1]} could not be read by blkid (${m[2]}): what it holds is known only from the mount table, if it is mounted`);
  for (const b of parseBlkidExport(text)) byPath.set(canon(ev.facts, b.device), b);
  return byPath;
}

export function liveMountsOf(ev: Evidence): LiveMount[] {
  return parseFindmnt(rawOf(ev, 'findmnt.json') ?? '');
}

/** What each probed device holds (blkid, or the mount table where blkid could not read it), and where it can be read here. */
export function filesystemsOf(ev: Evidence, devices: Devices, notes: string[]): Filesystems {
  const blkidByPath = blkidEntries(ev, notes);
  const liveMounts = liveMountsOf(ev);
  const liveByDevice = new Map<string, LiveMount[]>();
  for (const m of liveMounts) {
    if (!m.device.startsWith('/')) continue;
    const key = canon(ev.facts, m.device);
    liveByDevice.set(key, [...(liveByDevice.get(key) ?? []), m]);
  }
  const callerDirs = new Map<string, string>();
  for (const [dev, dir] of Object.entries(ev.facts.options.mountpoints ?? {})) callerDirs.set(canon(ev.facts, dev), dir);

  const works: FsWork[] = [];
  const swaps: Swap[] = [];
  for (const d of devices.set.values()) {
    const c = canon(ev.facts, d.path);
    const live = liveByDevice.get(c) ?? [];
    // A device blkid could not open but that is mounted: the kernel's word on its type is all there is.
    const b = blkidByPath.get(c) ?? (live[0] ? { device: d.path, type: live[0].fstype, usage: 'filesystem', tags: {} } : undefined);
    if (!b) continue;
    const identity: DeviceIdentity = { path: d.path, uuid: b.uuid, label: b.label, partuuid: b.partuuid ?? d.partuuid, partlabel: b.partlabel ?? d.partlabel };
    if (b.type === 'swap') {
      swaps.push({ device: d.path, size: d.size, ...(b.uuid ? { uuid: b.uuid } : {}), ...(b.label ? { label: b.label } : {}) });
      continue;
    }
    if (!isFilesystem(b)) continue;
    const fs: Filesystem = { device: d.path, type: b.type! };
    if (b.uuid) fs.uuid = b.uuid;
    if (b.label) fs.label = b.label;
    // FAT12/16/32: mkfs.vfat picks by size otherwise, and an ESP made FAT16 is not what was there.
    if (b.type === 'vfat' && b.version && /^FAT(12|16|32)$/.test(b.version)) fs.features = [b.version];
    const callerDir = callerDirs.get(c);
    const w: FsWork = { fs, name: d.name, identity, localRoot: '', fromCaller: callerDir !== undefined, live };
    if (callerDir) {
      w.localDir = callerDir;
      const callerCanon = canon(ev.facts, callerDir);
      const shown = liveMounts.find((m) => m.target === callerDir || m.target === callerCanon);
      w.localRoot = (shown?.fsroot ?? '/').replace(/^\/+/, '');
    } else if (live.length > 0) {
      const top = live.find((m) => m.fsroot === '/') ?? live[0]!;
      w.localDir = top.target;
      w.localRoot = top.fsroot.replace(/^\/+/, '');
    }
    works.push(w);
  }
  return { works, swaps };
}

/** The evidence files each filesystem type's details are read from. */
export function detailFiles(w: FsWork): { tool: 'dumpe2fs' | 'xfs_info' | 'btrfs'; files: string[] } | undefined {
  const t = w.fs.type;
  if (t === 'ext2' || t === 'ext3' || t === 'ext4') return { tool: 'dumpe2fs', files: [`dumpe2fs-${w.name}.txt`] };
  if (t === 'xfs') return { tool: 'xfs_info', files: [`xfs_info-${w.name}.txt`] };
  if (t === 'btrfs') return { tool: 'btrfs', files: [`btrfs-subvolumes-${w.name}.txt`, `btrfs-default-${w.name}.txt`] };
  return undefined;
}

/** ext features, XFS options, btrfs subvolumes: each filesystem with what its own tool said. */
export function withDetails(ev: Evidence, w: FsWork, notes: string[]): FsWork {
  const detail = detailFiles(w);
  if (!detail) return w;
  const { fs } = w;
  const [main, second] = detail.files as [string, string | undefined];
  const failure = ev.facts.failures[main];
  try {
    if (detail.tool === 'dumpe2fs') {
      if (failure !== undefined) throw new Error(failure);
      return { ...w, fs: { ...fs, features: parseDumpe2fs(rawOf(ev, main) ?? '').features } };
    }
    if (detail.tool === 'xfs_info') {
      if (failure !== undefined) throw new Error(failure);
      return { ...w, fs: { ...fs, features: parseXfsInfo(rawOf(ev, main) ?? '').features } };
    }
    if (!w.localDir) {
      notes.push(`btrfs on ${fs.device} is not mounted here: its subvolumes were not listed`);
      return w;
    }
    if (failure !== undefined) throw new Error(failure);
    return { ...w, fs: { ...fs, subvolumes: parseBtrfsSubvolumes(rawOf(ev, main) ?? '', rawOf(ev, second!) ?? '') } };
  } catch (e) {
    const what = detail.tool === 'dumpe2fs' ? 'ext feature list of' : detail.tool === 'xfs_info' ? 'XFS options of' : 'btrfs subvolumes of';
    notes.push(`${what} ${fs.device} ${detail.tool === 'btrfs' ? 'not listed' : 'not read'}: ${errorText(e)}`);
    return w;
  }
}
