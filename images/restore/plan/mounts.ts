import { posix } from 'node:path';
import type { ArchiveEntry } from '../../store/manifest.js';
import { invalid, type Content } from './source-contents.js';
import type { PlannedBootloader, PlannedFilesystem, PlannedMount, PlannedRestore } from './types.js';

/** The mounts stage: where each filesystem is mounted during the restore, and where each archive goes. */

function depth(mountpoint: string): number {
  return mountpoint === '/' ? 0 : mountpoint.split('/').filter(Boolean).length;
}

export function targetDirectory(mountpoint: string, root: string): string {
  return mountpoint === '/' ? root : posix.join(root, mountpoint);
}

function mountOptions(type: string, sourceOptions: string | undefined, subvolume: string | undefined, hasDefaultSubvolume: boolean): string[] {
  const opts: string[] = [];
  if (type === 'btrfs') {
    if (subvolume) opts.push(`subvol=${subvolume}`);
    // The top itself, while another subvolume is the default that a plain mount would show.
    else if (hasDefaultSubvolume) opts.push('subvolid=5');
    // Restored files are written compressed as the source wrote them.
    for (const o of (sourceOptions ?? '').split(',')) if (/^compress(-force)?(=|$)/.test(o)) opts.push(o);
  }
  return opts;
}

/**
 * Where each archive is extracted, and the mounts that takes. An archive of a filesystem the
 * source mounted is extracted where it is mounted on the restored system. A btrfs subvolume the
 * source mounted nowhere (the image names its subvolume and no mountpoint) is extracted under the
 * mount of the nearest subvolume above it when there is one (`@/var/lib/machines` inside `/`), or
 * else through the volume's top mounted aside, under the work directory.
 */
export function planMounts(
  filesystems: PlannedFilesystem[], contents: Map<string, Content>, root: string, workDir: string,
): { mounts: PlannedMount[]; restores: PlannedRestore[] } {
  const mounts: PlannedMount[] = [];
  const restores: PlannedRestore[] = [];
  const aside: PlannedMount[] = [];
  const restore = (a: ArchiveEntry, fs: PlannedFilesystem, directory: string, mount: string): PlannedRestore => ({
    archiveId: a.id, mountpoint: a.mountpoint, directory, mount, device: fs.device, fstype: fs.type,
    ...(a.subvolume !== undefined ? { subvolume: a.subvolume } : {}),
    usedBytes: a.usedBytes, tarBytes: a.tarBytes, volumes: a.volumes.length,
  });
  for (const fs of filesystems) {
    const c = contents.get(fs.source) as Extract<Content, { kind: 'filesystem' }>;
    const hasDefault = (fs.subvolumes ?? []).some((x) => x.isDefault);
    const own: Array<{ a: ArchiveEntry; m: PlannedMount }> = [];
    for (const a of c.archives) {
      if (!a.mountpoint) continue;
      const m = c.fs?.mounts?.find((x) => x.mountpoint === a.mountpoint);
      const subvolume = a.subvolume ?? m?.subvolume;
      const directory = targetDirectory(a.mountpoint, root);
      const mount: PlannedMount = { device: fs.device, fstype: fs.type, mountpoint: a.mountpoint, directory, options: mountOptions(fs.type, m?.options ?? c.fs?.mountOptions, subvolume, hasDefault) };
      if (fs.type === 'btrfs' && a.subvolume !== undefined) mount.subvolume = a.subvolume;
      mounts.push(mount);
      own.push({ a, m: mount });
      restores.push(restore(a, fs, directory, directory));
    }
    const loose = c.archives.filter((a) => !a.mountpoint);
    for (const a of loose) {
      if (fs.type !== 'btrfs' || a.subvolume === undefined) {
        throw invalid(`archive "${a.id}" of ${a.device} names no mountpoint and no btrfs subvolume: the restore does not know where its files go; the manifest is damaged or from another tool`, { archive: a.id });
      }
      const sub = a.subvolume;
      // The deepest mounted subvolume that holds this one; the top ("") holds every subvolume.
      const holder = own
        .filter((o) => o.m.subvolume !== undefined && (o.m.subvolume === '' || sub.startsWith(`${o.m.subvolume}/`)))
        .sort((x, y) => y.m.subvolume!.length - x.m.subvolume!.length)[0];
      if (holder) {
        const rel = holder.m.subvolume === '' ? sub : sub.slice(holder.m.subvolume!.length + 1);
        restores.push(restore(a, fs, posix.join(holder.m.directory, rel), holder.m.directory));
        continue;
      }
      let top = aside.find((m) => m.device === fs.device);
      if (!top) {
        top = { device: fs.device, fstype: 'btrfs', mountpoint: '', directory: posix.join(workDir, 'btrfs', posix.basename(fs.device)), options: ['subvolid=5'], subvolume: '', aside: true };
        aside.push(top);
      }
      restores.push(restore(a, fs, sub === '' ? top.directory : posix.join(top.directory, sub), top.directory));
    }
  }
  mounts.sort(byDepth);
  const order = new Map([...mounts, ...aside].map((m, i) => [m.directory, i]));
  // Under each mount, its own archive first, then the subvolumes inside it, parents first.
  restores.sort((a, b) => order.get(a.mount)! - order.get(b.mount)! || a.directory.length - b.directory.length || (a.directory < b.directory ? -1 : 1));
  return { mounts: [...mounts, ...aside], restores };
}

/** Parents before what is mounted below them; by path among mounts of one depth. */
function byDepth(a: { mountpoint: string }, b: { mountpoint: string }): number {
  return depth(a.mountpoint) - depth(b.mountpoint) || (a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0);
}

/** The bootloader step writes to the ESP: it is mounted even when the image holds no archive of it. */
export function withEspMount(mounts: PlannedMount[], bootloader: PlannedBootloader, root: string): PlannedMount[] {
  if (bootloader.kind !== 'grub-efi' && bootloader.kind !== 'systemd-boot') return mounts;
  if (mounts.some((m) => m.device === bootloader.espDevice)) return mounts;
  const esp: PlannedMount = { device: bootloader.espDevice, fstype: 'vfat', mountpoint: bootloader.efiDirectory, directory: targetDirectory(bootloader.efiDirectory, root), options: [] };
  return [...[...mounts.filter((m) => !m.aside), esp].sort(byDepth), ...mounts.filter((m) => m.aside)];
}
