import { existsSync } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, readlink, realpath, rm, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import { join, posix } from 'node:path';
import Value from 'typebox/value';
import { isLifeboatError, LifeboatError } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { hasTool, runTool, type ToolOptions } from '../../core/run-tool.js';
import {
  LayoutSchema, type Bootloader, type Disk, type Filesystem, type FilesystemMount, type FstabEntry, type HostFacts, type Layout, type Lvm, type MdArray, type Swap,
} from './model.js';
import { parseBlkidExport, type BlkidEntry } from './parse-blkid.js';
import { parseBtrfsSubvolumes } from './parse-btrfs.js';
import { parseDumpe2fs } from './parse-dumpe2fs.js';
import { parseFindmnt, type LiveMount } from './parse-findmnt.js';
import { parseFstab, specMatches, type DeviceIdentity } from './parse-fstab.js';
import { parseLsblk, type LsblkDevice } from './parse-lsblk.js';
import { parseLvmFullreport } from './parse-lvm.js';
import { parseMdadmDetail } from './parse-mdadm.js';
import { parseMdstat } from './parse-mdstat.js';
import { parseOsRelease } from './parse-os-release.js';
import { parseSfdisk } from './parse-sfdisk.js';
import { parseXfsInfo } from './parse-xfs-info.js';

/**
 * probeLayout: what a machine's storage looks like, read without writing anything.
 *
 * Two ways in. Live (`root` "/" or a directory where a system is mounted): the mount table says
 * where each filesystem lives. Disks (`disks` given, typically loop devices over disk images that
 * are not running): the caller mounts each filesystem read-only somewhere and says where in
 * `mountpoints`; where it belongs on the source machine comes from the source's own /etc/fstab.
 *
 * Every tool's exact output is returned in `raw` under a file name, for the image's layout/
 * folder. What could not be learnt is said in `layout.notes` instead of being guessed.
 */
const log = componentLogger('probe');

export interface ProbeOptions {
  /** The source system's root directory: "/" for the running machine (the default without `disks`). */
  root?: string;
  /** Whole disks to probe (device paths); without it, every real disk of the machine. */
  disks?: string[];
  /** Device path → directory where the caller mounted that filesystem read-only. */
  mountpoints?: Record<string, string>;
}

export interface ProbeResult {
  layout: Layout;
  /** File name → exact tool output or file text (lsblk.json, sfdisk-vda.json, fstab, …). */
  raw: Record<string, string>;
}

const ESP_GPT_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const ESP_MBR_TYPE = 'ef';
/** Devices that are never a machine's own disks unless asked for by name. */
const NOT_A_DISK = /^(ram|zram|loop|sr|nbd|fd|md|dm-)\d*/;
const TOOL_TIMEOUT_MS = 120_000;
const SECTOR_0_BYTES = 512;

interface Context {
  raw: Record<string, string>;
  notes: string[];
}

async function tool(ctx: Context, file: string, args: string[], rawName: string | undefined, options: ToolOptions = {}) {
  const r = await runTool(file, args, { timeoutMs: TOOL_TIMEOUT_MS, ...options });
  if (rawName) ctx.raw[rawName] = r.stdout;
  return r;
}

function note(ctx: Context, text: string): void {
  ctx.notes.push(text);
  log.info({ note: text }, 'probe note');
}

/** An error as one line for a note: the tool's message lines joined, kept short. */
function errorText(e: unknown): string {
  const text = isLifeboatError(e) || e instanceof Error ? e.message : String(e);
  const line = text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ').replace(/:\s*$/, '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

async function canonical(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

/**
 * Paths of the source system mapped onto directories of this machine, following symlinks inside
 * the source system and never out of it: an absolute link in a mounted image
 * (/etc/os-release → /usr/lib/os-release) must resolve in the image, not on the probing host.
 */
class SourceTree {
  private readonly mounts: Array<{ source: string; local: string }>;

  constructor(mounts: Array<{ source: string; local: string }>) {
    this.mounts = [...mounts].sort((a, b) => b.source.length - a.source.length);
  }

  private toLocal(path: string): string | undefined {
    for (const m of this.mounts) {
      if (path === m.source) return m.local;
      const prefix = m.source === '/' ? '/' : `${m.source}/`;
      if (path.startsWith(prefix)) return posix.join(m.local, path.slice(prefix.length));
    }
    return undefined;
  }

  /** The local path of a source path, or undefined when it does not exist in the source. */
  async resolve(path: string): Promise<string | undefined> {
    let pending = posix.normalize(path).split('/').filter((p) => p !== '');
    let current = '/';
    for (let hops = 0; pending.length > 0;) {
      const next = posix.join(current, pending[0]!);
      const local = this.toLocal(next);
      if (!local) return undefined;
      let info;
      try {
        info = await lstat(local);
      } catch {
        return undefined;
      }
      if (info.isSymbolicLink()) {
        if (++hops > 40) return undefined;
        const target = await readlink(local);
        const rest = pending.slice(1);
        pending = posix.normalize(posix.join(target.startsWith('/') ? '/' : current, target)).split('/').filter((p) => p !== '').concat(rest);
        current = '/';
        continue;
      }
      current = next;
      pending = pending.slice(1);
    }
    return this.toLocal(current);
  }

  async readText(path: string): Promise<string | undefined> {
    const local = await this.resolve(path);
    if (!local) return undefined;
    try {
      return await readFile(local, 'utf8');
    } catch {
      return undefined;
    }
  }

  async list(path: string): Promise<string[]> {
    const local = await this.resolve(path);
    if (!local) return [];
    try {
      return await readdir(local);
    } catch {
      return [];
    }
  }

  async isDir(path: string): Promise<boolean> {
    const local = await this.resolve(path);
    if (!local) return false;
    try {
      return (await stat(local)).isDirectory();
    } catch {
      return false;
    }
  }
}

/** Which top-level devices to probe, and every device built on them. */
async function selectDevices(devices: LsblkDevice[], wanted: string[] | undefined): Promise<{ disks: LsblkDevice[]; set: Map<string, LsblkDevice> }> {
  let disks: LsblkDevice[];
  if (wanted) {
    const canon = new Set(await Promise.all(wanted.map(canonical)));
    disks = [];
    for (const d of devices) if (d.parents.length === 0 && canon.has(await canonical(d.path))) disks.push(d);
  } else {
    disks = devices.filter((d) => d.parents.length === 0 && d.type !== 'rom' && d.size > 0 && !NOT_A_DISK.test(d.name));
  }
  const set = new Map<string, LsblkDevice>(disks.map((d) => [d.name, d]));
  for (let grew = true; grew;) {
    grew = false;
    for (const d of devices) {
      if (!set.has(d.name) && d.parents.some((p) => set.has(p))) {
        set.set(d.name, d);
        grew = true;
      }
    }
  }
  return { disks, set };
}

async function readTable(ctx: Context, disk: LsblkDevice): Promise<Disk['table']> {
  const rawName = `sfdisk-${disk.name}.json`;
  const r = await tool(ctx, 'sfdisk', ['--json', disk.path], undefined, { okExitCodes: [0, 1] });
  if (r.exitCode !== 0) {
    if (!/does not contain a recognized partition table/.test(r.stderr)) note(ctx, `the partition table of ${disk.path} could not be read (${r.stderr.trim().split('\n').pop()}): recorded as having none`);
    return null;
  }
  ctx.raw[rawName] = r.stdout;
  try {
    return parseSfdisk(r.stdout);
  } catch (e) {
    note(ctx, `the partition table of ${disk.path} cannot be recorded: ${errorText(e)}`);
    return null;
  }
}

async function loopBackingFile(name: string): Promise<string | undefined> {
  try {
    return (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Types blkid reports that are containers or members, not filesystems to archive. */
const NOT_A_FILESYSTEM = new Set(['swap', 'LVM2_member', 'linux_raid_member', 'crypto_LUKS', 'zfs_member', 'isw_raid_member', 'ddf_raid_member', 'bcache', 'drbd', 'jbd', 'VMFS_volume_member']);

function isFilesystem(b: BlkidEntry): boolean {
  if (!b.type || NOT_A_FILESYSTEM.has(b.type)) return false;
  return b.usage === undefined || b.usage === 'filesystem';
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

interface FsWork {
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

/** Where a btrfs subvolume (or the top, "") of this filesystem can be read here. */
function localPathOf(w: FsWork, subvolume: string | undefined): string | undefined {
  if (!w.localDir) return undefined;
  const want = subvolume ?? w.fs.subvolumes?.find((s) => s.isDefault)?.path ?? '';
  if (w.localRoot === '') return want === '' ? w.localDir : posix.join(w.localDir, want);
  if (want === w.localRoot) return w.localDir;
  return want.startsWith(`${w.localRoot}/`) ? posix.join(w.localDir, want.slice(w.localRoot.length + 1)) : undefined;
}

async function statUsage(dir: string): Promise<{ size: number; used: number } | undefined> {
  try {
    const s = await statfs(dir);
    return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
  } catch {
    return undefined;
  }
}

async function probeFilesystemDetails(ctx: Context, w: FsWork): Promise<void> {
  const { fs, name } = w;
  if (fs.type === 'ext2' || fs.type === 'ext3' || fs.type === 'ext4') {
    try {
      const r = await tool(ctx, 'dumpe2fs', ['-h', fs.device], `dumpe2fs-${name}.txt`);
      fs.features = parseDumpe2fs(r.stdout).features;
    } catch (e) {
      note(ctx, `ext feature list of ${fs.device} not read: ${errorText(e)}`);
    }
  } else if (fs.type === 'xfs') {
    try {
      // What xfs_info prints, but xfs_info opens an unmounted device read-write; -r never does.
      const r = await tool(ctx, 'xfs_db', ['-r', '-p', 'xfs_info', '-c', 'info', fs.device], `xfs_info-${name}.txt`);
      fs.features = parseXfsInfo(r.stdout).features;
    } catch (e) {
      note(ctx, `XFS options of ${fs.device} not read: ${errorText(e)}`);
    }
  } else if (fs.type === 'btrfs') {
    if (!w.localDir) {
      note(ctx, `btrfs on ${fs.device} is not mounted here: its subvolumes were not listed`);
      return;
    }
    try {
      const list = await tool(ctx, 'btrfs', ['subvolume', 'list', '-a', '-p', w.localDir], `btrfs-subvolumes-${name}.txt`);
      const def = await tool(ctx, 'btrfs', ['subvolume', 'get-default', w.localDir], `btrfs-default-${name}.txt`);
      fs.subvolumes = parseBtrfsSubvolumes(list.stdout, def.stdout);
    } catch (e) {
      note(ctx, `btrfs subvolumes of ${fs.device} not listed: ${errorText(e)}`);
    }
  }
}

/** The caller's directory (or a subvolume inside it) that holds the source's /etc/fstab. */
async function findSourceRoot(works: FsWork[]): Promise<string | undefined> {
  const candidates: string[] = [];
  for (const w of works) {
    if (!w.fromCaller || !w.localDir) continue;
    candidates.push(w.localDir);
    for (const s of w.fs.subvolumes ?? []) {
      const p = localPathOf(w, s.path);
      if (p && p !== w.localDir) candidates.push(p);
    }
  }
  let fallback: string | undefined;
  for (const c of candidates) {
    if (!existsSync(posix.join(c, 'etc/fstab'))) continue;
    if (existsSync(posix.join(c, 'etc/os-release')) || existsSync(posix.join(c, 'usr/lib/os-release'))) return c;
    fallback ??= c;
  }
  return fallback;
}

async function probeMd(ctx: Context, set: Map<string, LsblkDevice>, limited: boolean): Promise<MdArray[]> {
  let mdstat: string;
  try {
    mdstat = await readFile('/proc/mdstat', 'utf8');
  } catch {
    return [];
  }
  const arrays = parseMdstat(mdstat);
  if (arrays.length === 0) return [];
  ctx.raw.mdstat = mdstat;
  if (!(await hasTool('mdadm'))) {
    note(ctx, `md arrays exist (${arrays.map((a) => a.name).join(', ')}) but mdadm is not installed: RAID not recorded; install the Debian package mdadm`);
    return [];
  }
  const out: MdArray[] = [];
  for (const a of arrays) {
    if (limited && !set.has(a.name)) continue;
    const device = `/dev/${a.name}`;
    try {
      const r = await tool(ctx, 'mdadm', ['--detail', device], `mdadm-${a.name}.txt`);
      out.push(parseMdadmDetail(r.stdout, device));
    } catch (e) {
      note(ctx, `md array ${device} not recorded: ${errorText(e)}`);
    }
  }
  return out;
}

async function probeLvm(ctx: Context, set: Map<string, LsblkDevice>, limited: boolean): Promise<Lvm> {
  const empty: Lvm = { pvs: [], vgs: [], lvs: [] };
  if (!(await hasTool('lvm'))) return empty;
  let lvm: Lvm;
  const paths = new Set<string>();
  if (limited) for (const d of set.values()) paths.add(await canonical(d.path));
  const devicesConfig = `devices { hints = "none" use_devicesfile = 0${limited ? ` filter = ${lvmDeviceFilter(paths)}` : ''} }`;
  try {
    // --readonly takes no locks; hints off and no devices file so that nothing under /run/lvm
    // or /etc/lvm is written and PVs on attached disk images are seen. Given disks, LVM scans
    // only them: another disk being detached at the same moment cannot fail or empty the report.
    const r = await tool(ctx, 'lvm', [
      'fullreport', '--readonly', '--config', devicesConfig,
      '--reportformat', 'json', '--units', 'b', '--nosuffix',
    ], 'lvm-fullreport.json', { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
    lvm = parseLvmFullreport(r.stdout);
  } catch (e) {
    note(ctx, `LVM not recorded: ${errorText(e)}`);
    return empty;
  }
  if (limited) {
    const pvs: Lvm['pvs'] = [];
    for (const pv of lvm.pvs) if (paths.has(await canonical(pv.device))) pvs.push(pv);
    const vgNames = new Set(pvs.map((p) => p.vg));
    lvm = { pvs, vgs: lvm.vgs.filter((v) => vgNames.has(v.name)), lvs: lvm.lvs.filter((l) => vgNames.has(l.vg)) };
  }
  for (const lv of lvm.lvs) {
    if (lv.path && !existsSync(lv.path)) note(ctx, `LV ${lv.vg}/${lv.name} is not active here (no ${lv.path}): its filesystem was not probed`);
  }
  await backupVgMetadata(ctx, lvm.vgs.map((v) => v.name), devicesConfig);
  return lvm;
}

/** An LVM `devices/filter` that accepts exactly these device paths and rejects every other. */
export function lvmDeviceFilter(paths: Iterable<string>): string {
  const accept = [...paths].map((p) => `"a|^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$|"`);
  return `[ ${[...accept, '"r|.*|"'].join(', ')} ]`;
}

/**
 * Each VG's metadata as vgcfgbackup writes it (layout/vgcfgbackup-<vg>.cfg): the evidence an
 * operator restores by hand with vgcfgrestore. Written to a temporary file, never to /etc/lvm
 * (--readonly takes no locks, backup and archive are off).
 */
async function backupVgMetadata(ctx: Context, vgs: string[], devicesConfig: string): Promise<void> {
  if (vgs.length === 0) return;
  const dir = await mkdtemp(join(os.tmpdir(), 'lifeboat-vgcfg-'));
  try {
    for (const vg of vgs) {
      const file = join(dir, `${vg}.cfg`);
      try {
        await runTool('vgcfgbackup', [
          '--readonly', '--config', `${devicesConfig} backup { backup = 0 archive = 0 }`, '-f', file, vg,
        ], { timeoutMs: TOOL_TIMEOUT_MS, env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
        ctx.raw[`vgcfgbackup-${vg}.cfg`] = await readFile(file, 'utf8');
      } catch (e) {
        note(ctx, `metadata of volume group ${vg} not saved with vgcfgbackup: ${errorText(e)}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function efiLoaders(espDir: string): Promise<string[]> {
  const out: string[] = [];
  const top = (await readdir(espDir).catch(() => [] as string[])).find((e) => e.toLowerCase() === 'efi');
  if (!top) return out;
  for (const vendor of (await readdir(posix.join(espDir, top)).catch(() => [] as string[])).sort()) {
    const files = await readdir(posix.join(espDir, top, vendor)).catch(() => [] as string[]);
    for (const f of files.sort()) if (/\.efi$/i.test(f)) out.push(`${top}/${vendor}/${f}`);
  }
  return out;
}

async function sector0HasGrub(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(SECTOR_0_BYTES);
      await fh.read(buf, 0, SECTOR_0_BYTES, 0);
      return buf.includes('GRUB');
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** The top-level disk(s) a device is built on. */
function disksUnder(name: string, byName: Map<string, LsblkDevice>, seen = new Set<string>()): string[] {
  const d = byName.get(name);
  if (!d || seen.has(name)) return [];
  seen.add(name);
  if (d.parents.length === 0) return [d.path];
  return d.parents.flatMap((p) => disksUnder(p, byName, seen));
}

async function probeBootloader(
  ctx: Context, live: boolean, tree: SourceTree | undefined, disks: Disk[], works: FsWork[], set: Map<string, LsblkDevice>,
): Promise<Bootloader> {
  let firmware: Bootloader['firmware'] = live ? (existsSync('/sys/firmware/efi') ? 'uefi' : 'bios') : 'unknown';
  const espPaths = new Set<string>();
  for (const d of disks) {
    for (const p of d.table?.partitions ?? []) {
      if ((d.table!.type === 'gpt' && p.type === ESP_GPT_TYPE) || (d.table!.type === 'dos' && p.type === ESP_MBR_TYPE)) espPaths.add(p.path);
    }
  }
  const esp = works.find((w) => espPaths.has(w.fs.device) && w.fs.type === 'vfat');
  const espDir = esp ? localPathOf(esp, undefined) : undefined;
  const loaders = espDir ? await efiLoaders(espDir) : [];

  const grubDirs = ['/boot/grub', '/boot/grub2'];
  let grubPc = false;
  let grubEfi = loaders.some((l) => /\/(grub|shim)[a-z0-9]*\.efi$/i.test(l));
  if (tree) {
    for (const g of grubDirs) {
      if (await tree.isDir(`${g}/i386-pc`)) grubPc = true;
      for (const efi of ['x86_64-efi', 'i386-efi', 'arm64-efi']) if (await tree.isDir(`${g}/${efi}`)) grubEfi = true;
    }
  }
  const systemdBoot = loaders.some((l) => /\/systemd-boot[a-z0-9]*\.efi$/i.test(l));

  if (firmware === 'unknown') {
    const efiEvidence = grubEfi || systemdBoot;
    if (efiEvidence !== grubPc) {
      firmware = efiEvidence ? 'uefi' : 'bios';
      note(ctx, `firmware taken to be ${firmware.toUpperCase()} from the boot files on the disks (${efiEvidence ? 'EFI loader' : 'GRUB i386-pc modules'}): the machine itself was not seen`);
    }
  }
  let kind = 'unknown';
  if (firmware === 'uefi') kind = grubEfi ? 'grub-efi' : systemdBoot ? 'systemd-boot' : grubPc ? 'grub-pc' : 'unknown';
  else if (firmware === 'bios') kind = grubPc ? 'grub-pc' : 'unknown';
  else if (grubPc || grubEfi) kind = esp && grubEfi ? 'grub-efi' : grubPc ? 'grub-pc' : 'grub-efi';

  const bootloader: Bootloader = { firmware, kind };
  if (esp) bootloader.espDevice = esp.fs.device;
  if (esp && espDir) bootloader.efiLoaders = loaders;
  if (kind === 'grub-pc') {
    for (const d of disks) {
      if (await sector0HasGrub(d.path)) {
        bootloader.bootDisk = d.path;
        break;
      }
    }
    if (!bootloader.bootDisk) {
      const holder = works.find((w) => w.fs.mountpoint === '/boot') ?? works.find((w) => w.fs.mountpoint === '/');
      const byName = new Map([...set.values()].map((d) => [d.name, d]));
      const under = holder ? disksUnder(holder.name, byName) : [];
      if (under[0]) bootloader.bootDisk = under[0];
    }
  } else if (kind === 'grub-efi' || kind === 'systemd-boot') {
    if (esp) bootloader.bootDisk = esp.fs.device;
  }
  if (live && firmware === 'uefi' && (await hasTool('efibootmgr'))) {
    try {
      await tool(ctx, 'efibootmgr', ['-v'], 'efibootmgr.txt');
    } catch (e) {
      note(ctx, `EFI boot entries not read: ${errorText(e)}`);
    }
  }
  return bootloader;
}

const ELF_MACHINES: Record<number, string> = { 0x03: 'i686', 0x3e: 'x86_64', 0xb7: 'aarch64', 0x28: 'arm', 0xf3: 'riscv64', 0x16: 's390x', 0x15: 'ppc64', 0x102: 'loongarch64' };

async function elfArch(tree: SourceTree): Promise<string | undefined> {
  for (const candidate of ['/usr/bin/sh', '/bin/sh', '/usr/bin/env', '/sbin/init']) {
    const local = await tree.resolve(candidate);
    if (!local) continue;
    try {
      const fh = await open(local, 'r');
      try {
        const buf = Buffer.alloc(20);
        await fh.read(buf, 0, 20, 0);
        if (buf.readUInt32BE(0) !== 0x7f454c46) continue;
        const machine = buf[5] === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18);
        const arch = ELF_MACHINES[machine];
        if (arch === 'ppc64' && buf[5] === 1) return 'ppc64le';
        if (arch) return arch;
      } finally {
        await fh.close();
      }
    } catch {
      // unreadable: try the next candidate
    }
  }
  return undefined;
}

async function probeHost(ctx: Context, live: boolean, tree: SourceTree | undefined): Promise<HostFacts> {
  const host: HostFacts = { osRelease: {} };
  if (tree) {
    const hostname = await tree.readText('/etc/hostname');
    if (hostname !== undefined) {
      ctx.raw.hostname = hostname;
      const first = hostname.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
      if (first) host.hostname = first;
    }
    const osRelease = (await tree.readText('/etc/os-release')) ?? (await tree.readText('/usr/lib/os-release'));
    if (osRelease !== undefined) {
      ctx.raw['os-release'] = osRelease;
      host.osRelease = parseOsRelease(osRelease);
    }
  }
  if (live) {
    host.hostname ??= os.hostname();
    host.kernel = os.release();
    host.arch = os.machine();
    return host;
  }
  if (tree) {
    const kernels = (await tree.list('/boot')).filter((f) => /^(vmlinuz|vmlinux|Image)-/.test(f)).map((f) => f.replace(/^[^-]+-/, ''));
    kernels.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (kernels.length > 0) host.kernel = kernels[kernels.length - 1]!;
    const arch = await elfArch(tree);
    if (arch) host.arch = arch;
  }
  return host;
}

export async function probeLayout(options: ProbeOptions = {}): Promise<ProbeResult> {
  const ctx: Context = { raw: {}, notes: [] };
  const limited = options.disks !== undefined;
  const wanted = options.disks ? [...new Set(options.disks)] : undefined;
  for (const d of wanted ?? []) {
    let info;
    try {
      info = await stat(d);
    } catch {
      throw new LifeboatError('LB_NOT_FOUND', `disk ${d} does not exist: give a block device (attach image files with attachDiskImage first)`, { disk: d });
    }
    if (!info.isBlockDevice()) throw new LifeboatError('LB_USAGE', `disk ${d} is not a block device: attach image files with attachDiskImage first`, { disk: d });
  }

  // lsblk: the device tree.
  const lsblkOut = await tool(ctx, 'lsblk', ['-J', '-b', '-O', ...(wanted ?? [])], 'lsblk.json', { purpose: 'list block devices' });
  const parsed = parseLsblk(lsblkOut.stdout);
  const { disks: diskDevices, set } = await selectDevices(parsed.devices, wanted);
  const disks: Disk[] = [];
  for (const dd of diskDevices) {
    const base = parsed.disks.find((d) => d.name === dd.name)!;
    const disk: Disk = { ...base, table: await readTable(ctx, dd) };
    if (dd.type === 'loop') {
      const backing = await loopBackingFile(dd.name);
      if (backing) disk.backingFile = backing;
    }
    disks.push(disk);
  }
  const blockDevices = parsed.blockDevices.filter((b) => set.has(b.name));

  // blkid -p: what is on each device, straight from the device (no cache to read or write).
  const devicePaths = [...set.values()].map((d) => d.path);
  let blkid: BlkidEntry[] = [];
  if (devicePaths.length > 0) {
    const r = await tool(ctx, 'blkid', ['-p', '-o', 'export', ...devicePaths], 'blkid.txt', { okExitCodes: [0, 2, 8], purpose: 'identify filesystems' });
    if (r.exitCode === 8) note(ctx, `blkid found more than one signature on a device (${r.stderr.trim().split('\n')[0]}): such devices are not recorded as filesystems`);
    for (const m of r.stderr.matchAll(/^blkid: error: (\S+): (.*)$/gm)) note(ctx, `${m[1]} could not be read by blkid (${m[2]}): what it holds is known only from the mount table, if it is mounted`);
    blkid = parseBlkidExport(r.stdout);
  }
  const blkidByPath = new Map<string, BlkidEntry>();
  for (const b of blkid) blkidByPath.set(await canonical(b.device), b);

  // findmnt: the live mount table.
  const mountsOut = await tool(ctx, 'findmnt', ['-J', '-b', '-l', '-o', 'SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,SIZE,USED,AVAIL'], 'findmnt.json', { purpose: 'list mounts' });
  const liveMounts = parseFindmnt(mountsOut.stdout);
  const liveByDevice = new Map<string, LiveMount[]>();
  for (const m of liveMounts) {
    if (!m.device.startsWith('/')) continue;
    const key = await canonical(m.device);
    liveByDevice.set(key, [...(liveByDevice.get(key) ?? []), m]);
  }
  const callerDirs = new Map<string, string>();
  for (const [dev, dir] of Object.entries(options.mountpoints ?? {})) callerDirs.set(await canonical(dev), dir);

  // Filesystems, where this machine can read them.
  const works: FsWork[] = [];
  const swaps: Swap[] = [];
  for (const d of set.values()) {
    const canon = await canonical(d.path);
    const live = liveByDevice.get(canon) ?? [];
    // A device blkid could not open but that is mounted: the kernel's word on its type is all there is.
    const b = blkidByPath.get(canon) ?? (live[0] ? { device: d.path, type: live[0].fstype, usage: 'filesystem', tags: {} } : undefined);
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
    const callerDir = callerDirs.get(canon);
    const w: FsWork = { fs, name: d.name, identity, localRoot: '', fromCaller: callerDir !== undefined, live };
    if (callerDir) {
      w.localDir = callerDir;
      const callerCanon = await canonical(callerDir);
      const shown = liveMounts.find((m) => m.target === callerDir || m.target === callerCanon);
      w.localRoot = (shown?.fsroot ?? '/').replace(/^\/+/, '');
    } else if (live.length > 0) {
      const top = live.find((m) => m.fsroot === '/') ?? live[0]!;
      w.localDir = top.target;
      w.localRoot = top.fsroot.replace(/^\/+/, '');
    }
    works.push(w);
  }
  for (const w of works) await probeFilesystemDetails(ctx, w);

  // The source system's root, then its fstab.
  const root = options.root ?? (options.mountpoints ? await findSourceRoot(works) : limited ? undefined : '/');
  const isLiveRoot = root === '/' && !options.mountpoints;
  let fstab: FstabEntry[] = [];
  if (root) {
    const rootTree = new SourceTree([{ source: '/', local: root }]);
    const text = await rootTree.readText('/etc/fstab');
    if (text !== undefined) {
      ctx.raw.fstab = text;
      fstab = parseFstab(text);
    } else {
      note(ctx, `${posix.join(root, 'etc/fstab')} does not exist: mountpoints of filesystems that are not mounted are unknown`);
    }
  } else if (options.mountpoints) {
    note(ctx, 'no mounted filesystem holds etc/fstab: mountpoints on the source machine are unknown');
  }

  // Where each filesystem belongs on the source machine.
  for (const w of works) {
    let mounts: FilesystemMount[] = [];
    if (!w.fromCaller && root) {
      for (const m of w.live) {
        const mountpoint = underRoot(m.target, root);
        if (mountpoint === undefined || isBindMount(m)) continue;
        const subvolume = m.fsroot !== '/' ? m.fsroot.replace(/^\/+/, '') : undefined;
        mounts.push({ mountpoint, options: m.options, ...(subvolume ? { subvolume } : {}) });
      }
    }
    if (mounts.length === 0 && root) {
      for (const e of fstab) {
        if (!e.file.startsWith('/') || e.vfstype === 'swap') continue;
        if (!specMatches(e.spec, w.identity) && !(e.spec.startsWith('/dev/') && existsSync(e.spec) && (await canonical(e.spec)) === (await canonical(w.fs.device)))) continue;
        const subvolume = w.fs.type === 'btrfs' ? subvolumeOption(e.mntops) : undefined;
        mounts.push({ mountpoint: e.file, options: e.mntops, ...(subvolume ? { subvolume } : {}) });
      }
    }
    if (mounts.length > 0) {
      mounts = sortMounts(mounts);
      w.fs.mountpoint = mounts[0]!.mountpoint;
      if (mounts[0]!.options) w.fs.mountOptions = mounts[0]!.options;
      w.fs.mounts = mounts;
    }
    if (w.localDir) {
      const usage = await statUsage(w.localDir);
      if (usage) {
        w.fs.size = usage.size;
        w.fs.used = usage.used;
      }
    }
  }

  // The source system's files, across its mounts (/boot, /boot/efi, /usr may be separate).
  let tree: SourceTree | undefined;
  if (root) {
    const mapping: Array<{ source: string; local: string }> = [{ source: '/', local: root }];
    // Live mounts are already in place under root; the caller's mounts are wherever it put them.
    for (const w of works) {
      if (!w.fromCaller) continue;
      for (const m of w.fs.mounts ?? []) {
        const local = localPathOf(w, m.subvolume);
        if (local && m.mountpoint !== '/') mapping.push({ source: m.mountpoint, local });
      }
    }
    tree = new SourceTree(mapping);
  }

  const md = await probeMd(ctx, set, limited);
  const lvm = await probeLvm(ctx, set, limited);
  const bootloader = await probeBootloader(ctx, isLiveRoot, tree, disks, works, set);
  const host = await probeHost(ctx, isLiveRoot, tree);

  const layout: Layout = {
    disks,
    blockDevices,
    filesystems: works.map((w) => w.fs),
    swaps,
    md,
    lvm,
    fstab,
    bootloader,
    host,
  };
  if (ctx.notes.length > 0) layout.notes = ctx.notes;
  if (!Value.Check(LayoutSchema, layout)) {
    const problems = [...Value.Errors(LayoutSchema, layout)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_INTERNAL', `the probe built a layout that does not fit the layout schema (${problems.join('; ')}): this is a bug in the probe`, { problems });
  }
  log.debug({ disks: disks.map((d) => d.path), filesystems: layout.filesystems.length }, 'layout probed');
  return { layout, raw: ctx.raw };
}
