import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join, posix } from 'node:path';
import { hasTool, runTool } from '../../core/run-tool.js';
import { errorText } from './evidence.js';
import { TOOL_TIMEOUT_MS, type Collector } from './collector.js';
import { disksOf, type Devices, type FsWork } from './interpret-devices.js';
import { isLiveRoot, sourceMapping } from './interpret-mounts.js';
import { parseLvmFullreport } from './parse-lvm.js';
import { parseMdstat } from './parse-mdstat.js';
import { lvmDevicesConfig, lvmReportOf, lvmScanPaths, mdArraysOf } from './interpret-stacks.js';
import { espOf, GRUB_DIRS, GRUB_EFI_PLATFORMS } from './interpret-system.js';
import { SourceTree } from './source-tree.js';

/** Collection of md RAID and LVM evidence, of the boot files and of the source system's identity. */

const SECTOR_0_BYTES = 512;

async function collectMd(c: Collector, devices: Devices): Promise<void> {
  let mdstat: string;
  try {
    mdstat = await readFile('/proc/mdstat', 'utf8');
  } catch {
    return;
  }
  if (parseMdstat(mdstat).length === 0) return;
  c.raw.mdstat = mdstat;
  c.facts.tools.mdadm = await hasTool('mdadm');
  if (!c.facts.tools.mdadm) return;
  for (const a of mdArraysOf(c, devices).probed) await c.optionalTool(`mdadm-${a.name}.txt`, 'mdadm', ['--detail', `/dev/${a.name}`]);
}

/**
 * Each VG's metadata as vgcfgbackup writes it (layout/vgcfgbackup-<vg>.cfg): the evidence an
 * operator restores by hand with vgcfgrestore. Written to a temporary file, never to /etc/lvm
 * (--readonly takes no locks, backup and archive are off).
 */
async function backupVgMetadata(c: Collector, vgs: string[], devicesConfig: string): Promise<void> {
  if (vgs.length === 0) return;
  const dir = await mkdtemp(join(os.tmpdir(), 'lifeboat-vgcfg-'));
  try {
    for (const vg of vgs) {
      const file = join(dir, `${vg}.cfg`);
      try {
        await runTool('vgcfgbackup', [
          '--readonly', '--config', `${devicesConfig} backup { backup = 0 archive = 0 }`, '-f', file, vg,
        ], { timeoutMs: TOOL_TIMEOUT_MS, env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
        c.raw[`vgcfgbackup-${vg}.cfg`] = await readFile(file, 'utf8');
      } catch (e) {
        c.facts.failures[`vgcfgbackup-${vg}.cfg`] = errorText(e);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function collectLvm(c: Collector, devices: Devices): Promise<void> {
  c.facts.tools.lvm = await hasTool('lvm');
  if (!c.facts.tools.lvm) return;
  const devicesConfig = lvmDevicesConfig(lvmScanPaths(c, devices));
  // --readonly takes no locks; hints off and no devices file so that nothing under /run/lvm
  // or /etc/lvm is written and PVs on attached disk images are seen. Given disks, LVM scans
  // only them: another disk being detached at the same moment cannot fail or empty the report.
  const r = await c.optionalTool('lvm-fullreport.json', 'lvm', [
    'fullreport', '--readonly', '--config', devicesConfig,
    '--reportformat', 'json', '--units', 'b', '--nosuffix',
  ], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
  if (!r) return;
  try {
    const all = parseLvmFullreport(r.stdout);
    await c.resolve(all.pvs.map((pv) => pv.device));
    await c.resolve(all.lvs.map((lv) => lv.path).filter((p) => p));
  } catch {
    return; // the interpretation says why
  }
  const { lvm, error } = lvmReportOf(c, devices);
  if (error === undefined) await backupVgMetadata(c, lvm.vgs.map((v) => v.name), devicesConfig);
}

export async function collectStacks(c: Collector, devices: Devices): Promise<void> {
  await collectMd(c, devices);
  await collectLvm(c, devices);
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

/** Boot files: the firmware, the ESP's loaders, GRUB's platform folders, GRUB's boot code on a disk, EFI boot entries. */
async function collectBoot(c: Collector, devices: Devices, works: FsWork[], tree: SourceTree | undefined, live: boolean): Promise<void> {
  if (live) c.facts.efiFirmware = existsSync('/sys/firmware/efi');
  const { espDir } = espOf(disksOf(c, devices, []), works);
  if (espDir) c.facts.efiLoaders = await efiLoaders(espDir);
  if (tree) {
    for (const g of GRUB_DIRS) {
      for (const p of ['i386-pc', ...GRUB_EFI_PLATFORMS]) if (await tree.isDir(`${g}/${p}`)) c.facts.grubPlatformDirs.push(`${g}/${p}`);
    }
  }
  for (const d of devices.disks) if (await sector0HasGrub(d.path)) c.facts.grubInSector0.push(d.path);
  if (live && c.facts.efiFirmware && (await hasTool('efibootmgr'))) await c.optionalTool('efibootmgr.txt', 'efibootmgr', ['-v']);
}

/** The source system's hostname, os-release, kernels and architecture; the running machine's own word when live. */
async function collectHost(c: Collector, tree: SourceTree | undefined, live: boolean): Promise<void> {
  if (tree) {
    const hostname = await tree.readText('/etc/hostname');
    if (hostname !== undefined) c.raw.hostname = hostname;
    const osRelease = (await tree.readText('/etc/os-release')) ?? (await tree.readText('/usr/lib/os-release'));
    if (osRelease !== undefined) c.raw['os-release'] = osRelease;
  }
  if (live) {
    c.facts.live = { hostname: os.hostname(), kernel: os.release(), arch: os.machine() };
    return;
  }
  if (tree) {
    c.facts.bootFiles = (await tree.list('/boot')).sort();
    const arch = await elfArch(tree);
    if (arch) c.facts.elfArch = arch;
  }
}

export async function collectSystem(c: Collector, devices: Devices, works: FsWork[]): Promise<void> {
  const tree = c.facts.root ? new SourceTree(sourceMapping(c.facts.root, works)) : undefined;
  const live = isLiveRoot(c);
  await collectBoot(c, devices, works, tree, live);
  await collectHost(c, tree, live);
}
