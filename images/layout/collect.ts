import { existsSync } from 'node:fs';
import { readFile, stat, statfs } from 'node:fs/promises';
import { posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { errorText, type Evidence } from './evidence.js';
import { Collector, type ProbeOptions } from './collector.js';
import { detailFiles, devicesOf, filesystemsOf, withDetails, type FsWork } from './interpret-devices.js';
import { fstabOf, localPathOf, withMounts } from './interpret-mounts.js';
import { parseFindmnt } from './parse-findmnt.js';
import { parseFstab } from './parse-fstab.js';
import { parseLsblk } from './parse-lsblk.js';
import { parseBlkidExport } from './parse-blkid.js';
import { collectStacks, collectSystem } from './collect-system.js';
import { SourceTree } from './source-tree.js';

/**
 * Collection: runs the tools (through core/run-tool.ts) and reads the files the layout is
 * learnt from, keeping each output exactly as printed, and records in facts what no tool
 * printed. What to run next sometimes depends on what was learnt (which filesystems need
 * dumpe2fs, where btrfs is mounted): the pure interpretation stages answer that.
 */

async function checkDisks(disks: string[]): Promise<void> {
  for (const d of disks) {
    let info;
    try {
      info = await stat(d);
    } catch {
      throw new LifeboatError('LB_NOT_FOUND', `disk ${d} does not exist: give a block device (attach image files with attachDiskImage first)`, { disk: d });
    }
    if (!info.isBlockDevice()) throw new LifeboatError('LB_USAGE', `disk ${d} is not a block device: attach image files with attachDiskImage first`, { disk: d });
  }
}

async function loopBackingFile(name: string): Promise<string | undefined> {
  try {
    return (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** lsblk, each disk's table, blkid, the mount table. */
async function collectDevices(c: Collector): Promise<void> {
  const wanted = c.facts.options.disks;
  await c.resolve(wanted ?? []);
  const lsblk = await c.tool('lsblk.json', 'lsblk', ['-J', '-b', '-O', ...(wanted ?? [])], { purpose: 'list block devices' });
  await c.resolve(parseLsblk(lsblk.stdout).devices.map((d) => d.path));
  const devices = devicesOf(c);
  for (const disk of devices.disks) {
    const name = `sfdisk-${disk.name}.json`;
    const r = await c.tool(undefined, 'sfdisk', ['--json', disk.path], { okExitCodes: [0, 1] });
    c.facts.exits[name] = { exitCode: r.exitCode, stderr: r.stderr };
    if (r.exitCode === 0) c.raw[name] = r.stdout;
    if (disk.type === 'loop') {
      const backing = await loopBackingFile(disk.name);
      if (backing) c.facts.loopBackingFiles[disk.name] = backing;
    }
  }
  // blkid -p: what is on each device, straight from the device (no cache to read or write).
  const devicePaths = [...devices.set.values()].map((d) => d.path);
  if (devicePaths.length > 0) {
    const r = await c.tool('blkid.txt', 'blkid', ['-p', '-o', 'export', ...devicePaths], { okExitCodes: [0, 2, 8], purpose: 'identify filesystems' });
    c.facts.exits['blkid.txt'] = { exitCode: r.exitCode, stderr: r.stderr };
    await c.resolve(parseBlkidExport(r.stdout).map((b) => b.device));
  }
  const mounts = await c.tool('findmnt.json', 'findmnt', ['-J', '-b', '-l', '-o', 'SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,SIZE,USED,AVAIL'], { purpose: 'list mounts' });
  await c.resolve(parseFindmnt(mounts.stdout).map((m) => m.device).filter((d) => d.startsWith('/')));
  for (const [dev, dir] of Object.entries(c.facts.options.mountpoints ?? {})) await c.resolve([dev, dir]);
}

/** ext features, XFS options, btrfs subvolumes: each filesystem's own tool. */
async function collectDetails(c: Collector, w: FsWork): Promise<void> {
  const detail = detailFiles(w);
  if (!detail) return;
  const [main, second] = detail.files as [string, string | undefined];
  if (detail.tool === 'dumpe2fs') await c.optionalTool(main, 'dumpe2fs', ['-h', w.fs.device]);
  // What xfs_info prints, but xfs_info opens an unmounted device read-write; -r never does.
  else if (detail.tool === 'xfs_info') await c.optionalTool(main, 'xfs_db', ['-r', '-p', 'xfs_info', '-c', 'info', w.fs.device]);
  else if (w.localDir) {
    try {
      await c.tool(main, 'btrfs', ['subvolume', 'list', '-a', '-p', w.localDir]);
      await c.tool(second, 'btrfs', ['subvolume', 'get-default', w.localDir]);
    } catch (e) {
      c.facts.failures[main] = errorText(e);
    }
  }
}

/** The caller's directory (or a subvolume inside it) that holds the source's /etc/fstab. */
function findSourceRoot(works: FsWork[]): string | undefined {
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
  for (const cand of candidates) {
    if (!existsSync(posix.join(cand, 'etc/fstab'))) continue;
    if (existsSync(posix.join(cand, 'etc/os-release')) || existsSync(posix.join(cand, 'usr/lib/os-release'))) return cand;
    fallback ??= cand;
  }
  return fallback;
}

async function statUsage(dir: string): Promise<{ size: number; used: number } | undefined> {
  try {
    const s = await statfs(dir);
    return { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
  } catch {
    return undefined;
  }
}

/** The source system's root and its /etc/fstab, then how full each filesystem is where it can be read. */
async function collectSource(c: Collector, found: FsWork[]): Promise<FsWork[]> {
  const { options } = c.facts;
  const limited = options.disks !== undefined;
  const root = options.root ?? (options.mountpoints ? findSourceRoot(found) : limited ? undefined : '/');
  c.facts.root = root ?? null;
  if (root) {
    const text = await new SourceTree([{ source: '/', local: root }]).readText('/etc/fstab');
    if (text !== undefined) {
      c.raw.fstab = text;
      await c.resolve(parseFstab(text).map((e) => e.spec).filter((s) => s.startsWith('/dev/')));
    }
    await c.resolve(found.map((w) => w.fs.device));
  }
  const fstab = fstabOf(c, []);
  const works = found.map((w) => withMounts(c, w, fstab));
  for (const w of works) {
    if (!w.localDir || w.localDir in c.facts.usage) continue;
    const usage = await statUsage(w.localDir);
    if (usage) c.facts.usage[w.localDir] = usage;
  }
  return works;
}

/** Everything the layout is learnt from, gathered from this machine without writing to any disk. */
export async function collectEvidence(options: ProbeOptions): Promise<Evidence> {
  const c = new Collector(options);
  await checkDisks(c.facts.options.disks ?? []);
  await collectDevices(c);
  const devices = devicesOf(c);
  const found = filesystemsOf(c, devices, []);
  for (const w of found.works) await collectDetails(c, w);
  const works = await collectSource(c, found.works.map((w) => withDetails(c, w, [])));
  await collectStacks(c, devices);
  await collectSystem(c, devices, works);
  return { raw: c.raw, facts: c.facts };
}
