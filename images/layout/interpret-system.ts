import { isEspType, type Bootloader, type Disk, type HostFacts } from './model.js';
import { rawOf, type Evidence } from './evidence.js';
import type { Devices, FsWork } from './interpret-devices.js';
import { isLiveRoot, localPathOf } from './interpret-mounts.js';
import type { LsblkDevice } from './parse-lsblk.js';
import { parseOsRelease } from './parse-os-release.js';

/** How the source system boots and what it is (hostname, OS, kernel, architecture). Pure, from the evidence. */

export const GRUB_DIRS = ['/boot/grub', '/boot/grub2'];
export const GRUB_EFI_PLATFORMS = ['x86_64-efi', 'i386-efi', 'arm64-efi'];

/** The EFI system partition's filesystem, and where it can be read here. */
export function espOf(disks: Disk[], works: FsWork[]): { esp?: FsWork; espDir?: string } {
  const espPaths = new Set<string>();
  for (const d of disks) {
    for (const p of d.table?.partitions ?? []) {
      if (isEspType(d.table!.type, p.type)) espPaths.add(p.path);
    }
  }
  const esp = works.find((w) => espPaths.has(w.fs.device) && w.fs.type === 'vfat');
  return { esp, espDir: esp ? localPathOf(esp, undefined) : undefined };
}

/** The top-level disk(s) a device is built on. */
function disksUnder(name: string, byName: Map<string, LsblkDevice>, seen = new Set<string>()): string[] {
  const d = byName.get(name);
  if (!d || seen.has(name)) return [];
  seen.add(name);
  if (d.parents.length === 0) return [d.path];
  return d.parents.flatMap((p) => disksUnder(p, byName, seen));
}

interface BootEvidence {
  firmware: Bootloader['firmware'];
  loaders: string[];
  grubPc: boolean;
  grubEfi: boolean;
  systemdBoot: boolean;
}

function bootEvidence(ev: Evidence, espDir: string | undefined, notes: string[]): BootEvidence {
  const live = isLiveRoot(ev);
  let firmware: Bootloader['firmware'] = live ? (ev.facts.efiFirmware ? 'uefi' : 'bios') : 'unknown';
  const loaders = espDir ? ev.facts.efiLoaders ?? [] : [];
  const dirs = ev.facts.grubPlatformDirs;
  const grubPc = GRUB_DIRS.some((g) => dirs.includes(`${g}/i386-pc`));
  const grubEfi = loaders.some((l) => /\/(grub|shim)[a-z0-9]*\.efi$/i.test(l))
    || GRUB_DIRS.some((g) => GRUB_EFI_PLATFORMS.some((p) => dirs.includes(`${g}/${p}`)));
  const systemdBoot = loaders.some((l) => /\/systemd-boot[a-z0-9]*\.efi$/i.test(l));
  if (firmware === 'unknown') {
    const efiEvidence = grubEfi || systemdBoot;
    if (efiEvidence !== grubPc) {
      firmware = efiEvidence ? 'uefi' : 'bios';
      notes.push(`firmware taken to be ${firmware.toUpperCase()} from the boot files on the disks (${efiEvidence ? 'EFI loader' : 'GRUB i386-pc modules'}): the machine itself was not seen`);
    }
  }
  return { firmware, loaders, grubPc, grubEfi, systemdBoot };
}

export function bootloaderOf(ev: Evidence, devices: Devices, disks: Disk[], works: FsWork[], notes: string[]): Bootloader {
  const { esp, espDir } = espOf(disks, works);
  const { firmware, loaders, grubPc, grubEfi, systemdBoot } = bootEvidence(ev, espDir, notes);
  let kind = 'unknown';
  if (firmware === 'uefi') kind = grubEfi ? 'grub-efi' : systemdBoot ? 'systemd-boot' : grubPc ? 'grub-pc' : 'unknown';
  else if (firmware === 'bios') kind = grubPc ? 'grub-pc' : 'unknown';
  else if (grubPc || grubEfi) kind = esp && grubEfi ? 'grub-efi' : grubPc ? 'grub-pc' : 'grub-efi';

  const bootloader: Bootloader = { firmware, kind };
  if (esp) bootloader.espDevice = esp.fs.device;
  if (esp && espDir) bootloader.efiLoaders = loaders;
  if (kind === 'grub-pc') {
    const withGrub = disks.find((d) => ev.facts.grubInSector0.includes(d.path));
    if (withGrub) bootloader.bootDisk = withGrub.path;
    if (!bootloader.bootDisk) {
      const holder = works.find((w) => w.fs.mountpoint === '/boot') ?? works.find((w) => w.fs.mountpoint === '/');
      const byName = new Map([...devices.set.values()].map((d) => [d.name, d]));
      const under = holder ? disksUnder(holder.name, byName) : [];
      if (under[0]) bootloader.bootDisk = under[0];
    }
  } else if (kind === 'grub-efi' || kind === 'systemd-boot') {
    if (esp) bootloader.bootDisk = esp.fs.device;
  }
  const efibootmgr = ev.facts.failures['efibootmgr.txt'];
  if (efibootmgr !== undefined) notes.push(`EFI boot entries not read: ${efibootmgr}`);
  return bootloader;
}

export function hostOf(ev: Evidence): HostFacts {
  const host: HostFacts = { osRelease: {} };
  const hostname = rawOf(ev, 'hostname');
  if (hostname !== undefined) {
    const first = hostname.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
    if (first) host.hostname = first;
  }
  const osRelease = rawOf(ev, 'os-release');
  if (osRelease !== undefined) host.osRelease = parseOsRelease(osRelease);
  const live = ev.facts.live;
  if (isLiveRoot(ev) && live) {
    host.hostname ??= live.hostname;
    host.kernel = live.kernel;
    host.arch = live.arch;
    return host;
  }
  const kernels = (ev.facts.bootFiles ?? []).filter((f) => /^(vmlinuz|vmlinux|Image)-/.test(f)).map((f) => f.replace(/^[^-]+-/, ''));
  kernels.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (kernels.length > 0) host.kernel = kernels[kernels.length - 1]!;
  if (ev.facts.elfArch) host.arch = ev.facts.elfArch;
  return host;
}
