import { open, rename, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../../core/run-tool.js';
import { grubEfiImage } from './boot.js';
import { Undo, attachLoop, makeFilesystem, mountAt, waitForNode, type HostFilesystem } from './host-disk.js';
import { MiB, partitionNumber, sfdiskScript } from './layout.js';
import type { GuestImageSpec } from './spec.js';
import { hashTrees } from './trees.js';

/**
 * Makes a fixture's disk on this host: one disk image on a loop device, ext4, XFS, vfat and swap
 * (what this host's kernel and mtools can make and fill without a guest), GRUB from the host's
 * packages, the hashes over the files as written. Fast: no guest to boot.
 */

const HOST_TYPES = new Set<string>(['ext4', 'xfs', 'vfat', 'swap']);
const mtoolsEnv = { MTOOLS_SKIP_CHECK: '1' };

function refuseWhatNeedsAGuest(spec: GuestImageSpec): void {
  const why = spec.disks.length !== 1 ? `${spec.disks.length} disks` : spec.raid.length ? 'md RAID' : spec.lvm ? 'LVM' : spec.btrfs ? 'Btrfs subvolumes'
    : spec.filesystems.find((f) => !HOST_TYPES.has(f.type))?.type;
  if (why) throw new Error(`fixture '${spec.name}': a build on the host makes one disk with ext4, XFS, vfat and swap; this one has ${why}: use build 'guest'`);
  const filled = spec.trees.find((t) => spec.filesystems.find((f) => f.mountpoint === t.mountpoint)?.type === 'vfat' && t.files.length > 0);
  if (filled) throw new Error(`fixture '${spec.name}': a build on the host does not fill vfat (${filled.mountpoint}) beyond GRUB: use build 'guest'`);
}

export async function buildOnHost(spec: GuestImageSpec, work: string, entry: string, stage: (mountpoint: string, dir: string) => Promise<void>): Promise<{ hashes: Record<string, string>; seconds: number; captures: null }> {
  refuseWhatNeedsAGuest(spec);
  const disk = spec.disks[0]!;
  const image = join(work, `${disk.device}.img`);
  await (await open(image, 'w')).close();
  await truncate(image, disk.sizeMiB * MiB);
  await runTool('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], { input: sfdiskScript(spec.name, disk), purpose: 'partition the fixture image' });

  const undo = new Undo();
  try {
    const loop = await attachLoop(image, undo);
    // The spec names the guest's devices (/dev/vda2); here they are the loop device's partitions.
    const nodes = new Map<string, string>();
    for (const [i, p] of disk.parts.entries()) {
      if (p.kind === 'extended') continue;
      const n = partitionNumber(disk, i);
      nodes.set(`/dev/${disk.device}${n}`, `${loop}p${n}`);
      await waitForNode(`${loop}p${n}`);
    }
    const node = (device: string) => nodes.get(device) ?? (() => { throw new Error(`fixture '${spec.name}': no partition ${device} on ${disk.device}`); })();
    for (const f of spec.filesystems) await makeFilesystem(node(f.device), f as HostFilesystem);

    const mounts = new Map<string, string>();
    for (const [i, f] of spec.filesystems.entries()) {
      if (f.type === 'swap' || f.type === 'vfat') continue;
      const dir = join(work, `mnt${i}`);
      await mountAt(node(f.device), dir, undo);
      mounts.set(f.mountpoint, dir);
    }
    for (const [mountpoint, dir] of mounts) await stage(mountpoint, dir);

    const rootUuid = spec.filesystems.find((f) => f.mountpoint === '/')!.uuid;
    const esp = spec.filesystems.find((f) => f.type === 'vfat');
    if (spec.firmware === 'uefi') {
      if (!esp) throw new Error(`fixture '${spec.name}': UEFI needs a vfat ESP`);
      await installGrubEfi(work, node(esp.device), rootUuid, spec.boot.grub.efiModules);
    } else {
      await runTool('grub-install', ['--target=i386-pc', `--boot-directory=${join(mounts.get('/')!, 'boot')}`,
        `--modules=${['part_gpt', 'part_msdos', 'ext2', 'search_fs_uuid', ...spec.boot.grub.pcModules].join(' ')}`, '--locales=', '--fonts=', '--themes=', loop],
      { purpose: 'install GRUB for BIOS on the fixture' });
    }

    const hashes: Record<string, string> = {};
    for (const group of spec.hashes) hashes[group[0]!] = await hashTrees(group.map((mountpoint) => ({ mountpoint, dir: mounts.get(mountpoint)! })));
    await undo.run();
    await rename(image, join(entry, `${disk.device}.img`));
    return { hashes, seconds: 0, captures: null };
  } finally {
    await undo.run();
  }
}

/** GRUB for UEFI: the EFI image, at the removable path and at Debian's, written with mtools (this host cannot mount vfat). */
async function installGrubEfi(work: string, espDev: string, rootUuid: string, efiModules: string[]): Promise<void> {
  const efi = join(work, 'grubx64.efi');
  await grubEfiImage(work, efi, rootUuid, efiModules);
  const i = ['-i', espDev];
  await runTool('mmd', [...i, '::/EFI', '::/EFI/BOOT', '::/EFI/debian'], { env: mtoolsEnv, purpose: 'make the ESP directories' });
  await runTool('mcopy', [...i, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: mtoolsEnv, purpose: 'copy GRUB to the removable path of the ESP' });
  await runTool('mcopy', [...i, efi, '::/EFI/debian/grubx64.efi'], { env: mtoolsEnv, purpose: 'copy GRUB to the ESP' });
}
