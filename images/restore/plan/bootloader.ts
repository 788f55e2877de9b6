import type { Disk, Layout } from '../../layout/model.js';
import { invalid } from './source-contents.js';
import type { TargetFirmware, PlannedBootloader, PlannedDisk, PlannedFilesystem, TargetDisk } from './types.js';

/**
 * The bootloader stage: what makes the restored disks boot on this machine's firmware: GRUB in
 * the boot sector of the disks under /boot (BIOS), or a loader on the ESP with its boot entry (UEFI).
 */

const EFI_ARCH: Record<string, { grubTarget: string; suffix: string }> = {
  x86_64: { grubTarget: 'x86_64-efi', suffix: 'x64' },
  aarch64: { grubTarget: 'arm64-efi', suffix: 'aa64' },
  i686: { grubTarget: 'i386-efi', suffix: 'ia32' },
  riscv64: { grubTarget: 'riscv64-efi', suffix: 'riscv64' },
  loongarch64: { grubTarget: 'loongarch64-efi', suffix: 'loongarch64' },
};

export interface BootContext {
  layout: Layout;
  firmware: TargetFirmware;
  diskOf: Map<string, { source: Disk; target: TargetDisk }>;
  disks: PlannedDisk[];
  filesystems: PlannedFilesystem[];
  /** The source disks a device is built on, through md arrays and LVM. */
  disksUnder: (device: string) => string[];
}

export function planBootloader(ctx: BootContext): { bootloader: PlannedBootloader; notes: string[] } {
  if (ctx.layout.bootloader.kind === 'unknown') {
    return {
      bootloader: { kind: 'none', why: 'the image records no known bootloader' },
      notes: ['the image does not say which bootloader the source used: no bootloader is installed, so the restored disk may not boot; install one by hand (grub-install) before rebooting'],
    };
  }
  return ctx.firmware === 'bios' ? planBiosBoot(ctx) : planUefiBoot(ctx);
}

function planBiosBoot(ctx: BootContext): { bootloader: PlannedBootloader; notes: string[] } {
  const source = ctx.layout.bootloader;
  const notes: string[] = [];
  const byMount = (mp: string) => ctx.filesystems.find((f) => f.mountpoint === mp);
  const bootFs = byMount('/boot') ?? byMount('/');
  if (source.firmware === 'uefi' || source.kind !== 'grub-pc') {
    notes.push(`the image booted with ${source.kind} on ${source.firmware.toUpperCase()} firmware and this machine boots BIOS: grub-install --target=i386-pc needs the grub-pc-bin package inside the restored system`);
  }
  const recorded = source.bootDisk && ctx.diskOf.has(source.bootDisk) ? ctx.diskOf.get(source.bootDisk)! : undefined;
  // /boot on an array (or on LVM on one): GRUB goes to every restored disk under it, so the
  // machine still boots when either disk fails, as on the source.
  const under = bootFs ? ctx.disksUnder(bootFs.source).filter((d) => ctx.diskOf.has(d)) : [];
  const stacked = bootFs !== undefined && bootFs.on !== 'partition' && bootFs.on !== 'disk' && under.length > 0;
  const picks = stacked ? under.map((d) => ctx.diskOf.get(d)!) : recorded ? [recorded] : under.slice(0, 1).map((d) => ctx.diskOf.get(d)!);
  if (picks.length === 0) {
    throw invalid(`this machine boots BIOS but no restored disk holds /boot or /: GRUB has nowhere to go; map the disk that held ${source.bootDisk ?? '/boot'} to a target disk`);
  }
  for (const pick of picks) {
    const planned = ctx.disks.find((d) => d.target === pick.target.path)!;
    if (planned.table?.type === 'gpt' && !planned.table.partitions.some((p) => p.role === 'bios-boot')) {
      throw invalid(
        `this machine boots BIOS, and ${pick.target.path} gets a GPT table without a BIOS boot partition: GRUB cannot be installed there, so the restore would not boot; ` +
          'restore on a UEFI machine (the image has an EFI system partition), or switch this machine\'s firmware to UEFI',
        { disk: pick.target.path },
      );
    }
  }
  const why = stacked
    ? `${bootFs!.mountpoint} is on ${bootFs!.source}, built on ${under.join(' and ')}: each disk gets GRUB, so either boots`
    : recorded ? `GRUB was in the boot sector of ${source.bootDisk} on the source` : `it holds ${bootFs!.mountpoint}`;
  return { bootloader: { kind: 'grub-pc', firmware: 'bios', disks: picks.map((p) => p.target.path), sourceDisks: picks.map((p) => p.source.path), why }, notes };
}

function planUefiBoot(ctx: BootContext): { bootloader: PlannedBootloader; notes: string[] } {
  const { layout } = ctx;
  const source = layout.bootloader;
  const notes: string[] = [];
  const espParts = ctx.disks.flatMap((d) => (d.table?.partitions ?? []).filter((p) => p.role === 'esp').map((p) => ({ disk: d, p })));
  const esp = espParts.find((e) => e.p.source === source.espDevice) ?? espParts[0];
  if (!esp) {
    throw invalid(
      'this machine boots UEFI but the image has no EFI system partition on the restored disks: the restore would not boot; restore on a BIOS machine, or add an ESP to the source and archive it again',
    );
  }
  const espFs = ctx.filesystems.find((f) => f.source === esp.p.source);
  if (!espFs || espFs.type !== 'vfat') {
    throw invalid(`the EFI system partition ${esp.p.source} holds no FAT filesystem in the image: the firmware could not read a loader from it; archive the ESP again from a system where it is mounted`);
  }
  const efiDirectory = espFs.mountpoint ?? '/boot/efi';
  const arch = layout.host.arch ?? 'x86_64';
  const a = EFI_ARCH[arch];
  if (!a) throw invalid(`the image is of a ${arch} system: Lifeboat does not know its UEFI loader names`);
  if (!layout.host.arch) notes.push('the image does not record the source architecture: UEFI boot files for x86_64 are assumed');
  const kind = source.kind === 'systemd-boot' ? 'systemd-boot' : 'grub-efi';
  if (source.firmware === 'bios') notes.push(`the image booted with BIOS firmware and this machine boots UEFI: grub-install --target=${a.grubTarget} needs the GRUB EFI package inside the restored system`);
  const { bootloaderId, loader } = efiLoader(layout, kind, a.suffix);
  const label = kind === 'systemd-boot' ? 'Linux Boot Manager' : bootloaderId;
  return {
    bootloader: {
      kind, firmware: 'uefi', espDevice: esp.p.device, espDisk: esp.disk.target, espPartition: esp.p.number, efiDirectory,
      grubTarget: a.grubTarget, bootloaderId, label, loader, removablePath: `EFI/BOOT/BOOT${a.suffix.toUpperCase()}.EFI`,
    },
    notes,
  };
}

/** The loader the boot entry names: the source's shim or GRUB under its vendor directory, or systemd-boot's. */
function efiLoader(layout: Layout, kind: 'grub-efi' | 'systemd-boot', suffix: string): { bootloaderId: string; loader: string } {
  if (kind === 'systemd-boot') return { bootloaderId: 'systemd', loader: `EFI/systemd/systemd-boot${suffix}.efi` };
  const loaders = layout.bootloader.efiLoaders ?? [];
  const vendorDirs = loaders.map((l) => l.split('/')).filter((parts) => parts.length === 3 && parts[0]!.toUpperCase() === 'EFI' && parts[1]!.toUpperCase() !== 'BOOT');
  const shim = vendorDirs.find((p) => p[2]!.toLowerCase() === `shim${suffix}.efi`);
  const grub = vendorDirs.find((p) => p[2]!.toLowerCase() === `grub${suffix}.efi`);
  const chosen = shim ?? grub;
  const bootloaderId = chosen?.[1] ?? (layout.host.osRelease.ID ?? 'lifeboat').toLowerCase().replace(/[^a-z0-9._-]/g, '');
  return { bootloaderId, loader: chosen ? chosen.join('/') : `EFI/${bootloaderId}/grub${suffix}.efi` };
}
