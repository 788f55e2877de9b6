import type { TargetFirmware } from '../../../images/restore/plan.js';
import type { KernelChoice } from './host.js';
import type { FileEntry } from './trees.js';

/**
 * A fixture as data: the disks with their partition tables, the storage stacks on them (md RAID,
 * LVM, Btrfs subvolumes), the filesystems with their identities and mountpoints, the files in each,
 * the firmware it boots with and the init it runs. buildGuestImage() (builder.ts) makes the disks
 * from it, on this host (loop devices: one disk, ext4, XFS, vfat and swap) or in a QEMU guest
 * whose kernel has md, device-mapper, vfat, Btrfs and JFS.
 */

export type FsType = 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'vfat' | 'jfs' | 'swap';

export interface PartSpec {
  role: string;
  startMiB: number;
  sizeMiB: number;
  /** GPT type GUID (upper case) or MBR type ("83", "5", "82"). */
  type: string;
  /** GPT partition name; default the role. */
  name?: string;
  kind?: 'primary' | 'extended' | 'logical';
  bootable?: boolean;
}

export interface DiskSpec {
  /** The guest's device name (vda, vdb). */
  device: string;
  sizeMiB: number;
  table: 'gpt' | 'dos';
  /** GPT disk GUID (upper case) or MBR disk identifier (0x…), as sfdisk reports it. */
  id: string;
  parts: PartSpec[];
}

export interface FilesystemSpec {
  role: string;
  type: FsType;
  uuid: string;
  label: string;
  /** Its device in the guest: /dev/vda3, /dev/fxvg/root. */
  device: string;
  /** "none" for swap. */
  mountpoint: string;
  fstabSpec: string;
  options: string;
  /** btrfs: the subvolume mounted there (absent: the default subvolume). */
  subvolume?: string;
}

export interface RaidSpec {
  device: string;
  /** As mdadm prints it (xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx). */
  uuid: string;
  name: string;
  level: string;
  metadata: string;
  members: string[];
  chunkKiB?: number;
  /** mdadm's --layout (raid10: n2). */
  layout?: string;
}

export interface LvmSpec {
  vg: string;
  extentMiB: number;
  pvs: Array<{ device: string; uuid: string }>;
  /** on: the PVs to allocate from (default: any); stripes/stripeKiB: a striped LV. */
  lvs: Array<{ name: string; sizeMiB: number; on?: string[]; stripes?: number; stripeKiB?: number }>;
}

export interface BootSpec {
  /** The fixture's /sbin/init, from guest-image/init/. */
  init: 'sbin-init.sh' | 'sbin-init-stacks.sh';
  kernel: KernelChoice;
  /** mdadm and lvm in the initramfs (its /init then assembles arrays and activates volume groups). */
  storageTools: boolean;
  /** Modules the initramfs loads, with their dependencies. */
  initramfsModules: string[];
  initramfsApplets: string[];
  rootApplets: string[];
  grub: {
    /** grub.cfg's first comment, its menu entry's title and the modules it loads before searching for root. */
    comment: string;
    title: string;
    insmod: string[];
    /** Built into the EFI image beyond the base set (what reading the root through md or LVM needs). */
    efiModules: string[];
    /** Embedded in the BIOS core image beyond partition tables, ext2 and search_fs_uuid. */
    pcModules: string[];
  };
}

export interface GuestImageSpec {
  name: string;
  /** "test fixture", "multi-disk fixture": how the fixture's own files name it. */
  description: string;
  firmware: TargetFirmware;
  /** Where the disks are made: 'host' for what this host's kernel can make, 'guest' for the rest. */
  build: 'host' | 'guest';
  disks: DiskSpec[];
  raid: RaidSpec[];
  lvm: LvmSpec | null;
  btrfs: { device: string; subvolumes: string[]; defaultSubvolume: string } | null;
  /** In /etc/fstab order. */
  filesystems: FilesystemSpec[];
  /** The files of each filesystem, by mountpoint, each as seen from its own mountpoint; / gets the system (busybox, kernel, init, GRUB's files) besides. */
  trees: Array<{ mountpoint: string; files: FileEntry[] }>;
  /** The hashes the builder promises, each over the files of one or more mountpoints together, named by the first. */
  hashes: string[][];
  boot: BootSpec;
}
