import type { PlanEdits } from '../plan-edits.js';
import type { LvSegment } from '../lvm-volumes.js';
import type { Need, SizeRule, SizingPolicy } from '../sizing.js';
import type { Manifest } from '../../store/manifest.js';

/** The planner's input and its answer, the RestorePlan that render-plan.ts turns into commands. */

export const PLAN_FORMAT = 'lifeboat-restore-plan/1';
/** Where the restored system is assembled on the rescue machine. */
export const TARGET_ROOT = '/mnt/lifeboat';

/** The firmware the restored disk is made to boot with: the TARGET machine's, not that of a machine network-booting now (ClientFirmware, server/boot-files.ts). */
export type TargetFirmware = 'bios' | 'uefi';

/** A disk of the machine being restored, as the rescue agent probes it. */
export interface TargetDisk {
  path: string;
  size: number;
  logicalSectorSize: number;
  physicalSectorSize?: number;
  model?: string;
  serial?: string;
}

export interface PlanInput {
  manifest: Manifest;
  targetDisks: TargetDisk[];
  policy: SizingPolicy;
  edits?: PlanEdits;
  /** The target machine's firmware, as the rescue agent sees it (/sys/firmware/efi). */
  firmware: TargetFirmware;
  /** Where the restored system is assembled; default /mnt/lifeboat (tests outside the rescue system use their own). */
  targetRoot?: string;
}

export type MdSync = 'resync' | 'none';

export interface PlannedMdArray {
  /** The array on the source (also its name here: /dev/md0 is made as /dev/md0). */
  source: string;
  device: string;
  level: string;
  /** mdadm's form, xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx, kept so mdadm.conf and the initramfs find the array. */
  uuid: string;
  metadata: string;
  /** The name part of the array name ("0" of "web1:0"), and the homehost part. */
  name?: string;
  homehost?: string;
  chunkSize?: number;
  /** What mdadm --create --layout= takes ("n2", "left-symmetric"). */
  layout?: string;
  /** Target devices in slot order, then the spares. */
  members: string[];
  spares: string[];
  sourceMembers: string[];
  raidDevices: number;
  sourceRaidDevices: number;
  /** mdadm refuses a one-device RAID1 or RAID0 without --force. */
  force: boolean;
  /** A lower bound of the array's size: what LVM and mkfs may use. */
  bytes: number;
  sourceBytes: number;
  /** 'resync': a new redundant array syncs its members; the restore waits for it before stopping the array. */
  sync: MdSync;
  /** What it holds, for a reader. */
  holds: string;
}

export interface PlannedPv {
  source: string;
  device: string;
  uuid: string;
  vg: string;
  bytes: number;
  /** Extents of the VG's size on this PV. */
  extents: number;
}

export interface PlannedVg {
  name: string;
  uuid: string;
  extentSize: number;
  extents: number;
  bytes: number;
  sourceBytes: number;
  /** Where the generated metadata is written for vgcfgrestore on the rescue machine. */
  metadataFile: string;
}

export interface PlannedLv {
  name: string;
  vg: string;
  uuid: string;
  /** The LV on the source, as /dev/mapper/<vg>-<lv>. */
  source: string;
  /** The device node it gets here: /dev/mapper/<vg>-<lv>. */
  device: string;
  bytes: number;
  sourceBytes: number;
  extents: number;
  sizing: SizeRule;
  stripes: number;
  stripeSize?: number;
  segments: LvSegment[];
  holds: string;
}

export interface PlannedLvm {
  pvs: PlannedPv[];
  vgs: PlannedVg[];
  lvs: PlannedLv[];
}

/** raid: an md array member; lvm: an LVM physical volume. */
export type PartitionRole = 'bios-boot' | 'esp' | 'extended' | 'filesystem' | 'swap' | 'raid' | 'lvm' | 'empty';

export interface PlannedPartition {
  number: number;
  /** The partition on the source machine. */
  source: string;
  /** The partition it becomes on the target. */
  device: string;
  kind?: 'primary' | 'extended' | 'logical';
  /** In the target's logical sectors. */
  start: number;
  size: number;
  bytes: number;
  sourceBytes: number;
  sizing: SizeRule;
  role: PartitionRole;
  /** What it holds, for a reader: "ext4 /", "swap", "vfat /boot/efi", "nothing restored". */
  holds: string;
  type: string;
  uuid?: string;
  name?: string;
  attrs?: string;
  bootable?: boolean;
}

export interface PlannedTable {
  type: 'gpt' | 'dos';
  /** Disk GUID or MBR identifier, kept so PARTUUIDs (GUIDs, or "<id>-NN" on MBR) stay the same. */
  id: string;
  sectorSize: number;
  firstLba?: number;
  lastLba?: number;
  partitions: PlannedPartition[];
}

export interface PlannedDisk {
  source: string;
  target: string;
  sourceBytes: number;
  targetBytes: number;
  /** The target's logical sector size: the unit of every start and size in `table`. */
  sectorSize: number;
  model?: string;
  serial?: string;
  /** null: the source disk had no partition table (a filesystem or swap on the whole disk). */
  table: PlannedTable | null;
}

export interface PlannedFilesystem {
  source: string;
  device: string;
  /** What it is made on: a partition, a whole disk, an md array, an LVM logical volume. */
  on: 'partition' | 'disk' | 'md' | 'lv';
  type: string;
  uuid?: string;
  label?: string;
  /** ext*: the feature list to recreate exactly; xfs: superblock options ("crc=1"); vfat: FAT12/16/32. */
  features?: string[];
  /** Where the source mounted it, if anywhere. */
  mountpoint?: string;
  bytes: number;
  need: Need;
  /** Archives extracted into it (a btrfs volume gets one per subvolume). */
  archives: string[];
  /** btrfs: subvolumes to create right after mkfs, parents first, and the default one. */
  subvolumes?: Array<{ path: string; isDefault?: boolean }>;
}

export interface PlannedSwap {
  source: string;
  device: string;
  uuid?: string;
  label?: string;
  bytes: number;
}

export interface PlannedMount {
  device: string;
  fstype: string;
  /** The path on the restored system ("/", "/home"); "" for a mount beside it (`aside`). */
  mountpoint: string;
  /** Where it is mounted during the restore: TARGET_ROOT + mountpoint. */
  directory: string;
  options: string[];
  /** btrfs: the subvolume mounted there ("" for the volume's top), when the image says. */
  subvolume?: string;
  /**
   * Not part of the restored system: the top of a btrfs volume mounted under the work directory,
   * to extract subvolumes the source mounted nowhere.
   */
  aside?: boolean;
}

export interface PlannedRestore {
  archiveId: string;
  /** Where the source mounted it; "" for a btrfs subvolume mounted nowhere. */
  mountpoint: string;
  /** Where its files go. */
  directory: string;
  /** The mount (its directory) it is extracted under, right after that mount is made. */
  mount: string;
  device: string;
  fstype: string;
  /** btrfs: the subvolume it fills. */
  subvolume?: string;
  usedBytes: number;
  tarBytes: number;
  volumes: number;
}

export type PlannedBootloader =
  | {
      kind: 'grub-pc';
      firmware: 'bios';
      /** The target disks whose boot sectors GRUB is written to: every disk under /boot (each member of a RAID1 /boot), in order. */
      disks: string[];
      sourceDisks: string[];
      why: string;
    }
  | {
      kind: 'grub-efi' | 'systemd-boot';
      firmware: 'uefi';
      espDevice: string;
      espDisk: string;
      espPartition: number;
      /** Where the ESP is mounted on the restored system (grub-install --efi-directory). */
      efiDirectory: string;
      /** grub-install --target: x86_64-efi, arm64-efi, i386-efi. */
      grubTarget: string;
      bootloaderId: string;
      /** The boot entry's name in the firmware. */
      label: string;
      /** The boot entry's loader, relative to the ESP: EFI/debian/shimx64.efi. */
      loader: string;
      /** The firmware's fallback path, filled too so the disk boots even with an empty NVRAM. */
      removablePath: string;
    }
  | { kind: 'none'; why: string };

export interface RestorePlan {
  format: typeof PLAN_FORMAT;
  image: string;
  version: string;
  policy: SizingPolicy;
  firmware: TargetFirmware;
  targetRoot: string;
  /** Files and mounts the restore needs beside the target (LVM metadata, btrfs tops): TARGET_ROOT + ".work". */
  workDir: string;
  disks: PlannedDisk[];
  /** Target disks no source disk maps to: not read, not written. */
  untouchedDisks: Array<{ path: string; bytes: number; why: string }>;
  /** Source disks left out by the operator or holding nothing to restore. */
  droppedDisks: Array<{ path: string; why: string }>;
  md: PlannedMdArray[];
  lvm: PlannedLvm;
  filesystems: PlannedFilesystem[];
  swaps: PlannedSwap[];
  /** In mount order: parents before what is mounted below them. */
  mounts: PlannedMount[];
  restores: PlannedRestore[];
  bootloader: PlannedBootloader;
  /** What a reader should know: things created empty, left unformatted, fstab lines that point nowhere. */
  notes: string[];
}
