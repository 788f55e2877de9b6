import Type from 'typebox';

/**
 * The layout model: what a machine's storage looks like, as the image records it and the planner
 * reads it. Sizes are bytes unless a field says sectors; sector fields use the table's sector size.
 * The raw tool outputs it was built from are kept beside it in the image's layout/ folder.
 */

export const PartitionSchema = Type.Object({
  number: Type.Integer({ minimum: 1 }),
  /** Device path on the probed machine, e.g. /dev/sda1 or /dev/loop3p1. */
  path: Type.String(),
  start: Type.Integer({ minimum: 0, description: 'first sector' }),
  size: Type.Integer({ minimum: 0, description: 'length in sectors' }),
  /** GPT type GUID (upper case) or MBR type as two hex digits ("83", "8e", "ef", "5"). */
  type: Type.String(),
  uuid: Type.Optional(Type.String({ description: 'GPT partition UUID (PARTUUID)' })),
  name: Type.Optional(Type.String({ description: 'GPT partition name' })),
  attrs: Type.Optional(Type.String({ description: 'GPT attribute bits as sfdisk prints them' })),
  bootable: Type.Optional(Type.Boolean({ description: 'MBR active flag' })),
  kind: Type.Optional(Type.Union([Type.Literal('primary'), Type.Literal('extended'), Type.Literal('logical')])),
});
export type Partition = Type.Static<typeof PartitionSchema>;

export const PartitionTableSchema = Type.Object({
  type: Type.Union([Type.Literal('gpt'), Type.Literal('dos')]),
  /** GPT disk GUID or MBR disk identifier ("0x1234abcd"). */
  id: Type.String(),
  sectorSize: Type.Integer({ minimum: 512 }),
  firstLba: Type.Optional(Type.Integer()),
  lastLba: Type.Optional(Type.Integer()),
  partitions: Type.Array(PartitionSchema),
});
export type PartitionTable = Type.Static<typeof PartitionTableSchema>;

export const DiskSchema = Type.Object({
  name: Type.String({ description: 'kernel name, e.g. sda, vda, nvme0n1, loop3' }),
  path: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  logicalSectorSize: Type.Integer({ minimum: 512 }),
  physicalSectorSize: Type.Integer({ minimum: 512 }),
  model: Type.Optional(Type.String()),
  serial: Type.Optional(Type.String()),
  wwn: Type.Optional(Type.String()),
  rotational: Type.Optional(Type.Boolean()),
  transport: Type.Optional(Type.String()),
  /** A backing file when the disk is a loop device over a disk image. */
  backingFile: Type.Optional(Type.String()),
  table: Type.Union([PartitionTableSchema, Type.Null()]),
});
export type Disk = Type.Static<typeof DiskSchema>;

export const BlockDeviceSchema = Type.Object({
  name: Type.String(),
  path: Type.String(),
  /** lsblk's TYPE: disk, part, loop, raid1, lvm, crypt, … */
  type: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  /** Names of the devices this one is built on (a partition's disk, an LV's PVs, an array's members). */
  parents: Type.Array(Type.String()),
});
export type BlockDevice = Type.Static<typeof BlockDeviceSchema>;

export const BtrfsSubvolumeSchema = Type.Object({
  id: Type.Integer(),
  path: Type.String(),
  isDefault: Type.Optional(Type.Boolean()),
});

export const FilesystemMountSchema = Type.Object({
  mountpoint: Type.String(),
  options: Type.Optional(Type.String()),
  /** The btrfs subvolume (or bind source directory) mounted there, when not the filesystem's top. */
  subvolume: Type.Optional(Type.String()),
});
export type FilesystemMount = Type.Static<typeof FilesystemMountSchema>;

export const FilesystemSchema = Type.Object({
  /** Device path the filesystem lives on (partition, LV, md array, or whole disk). */
  device: Type.String(),
  type: Type.String({ description: 'ext2, ext3, ext4, xfs, btrfs, vfat, jfs, …' }),
  uuid: Type.Optional(Type.String()),
  label: Type.Optional(Type.String()),
  /** Where it is mounted on the source system (live mount, or the source's fstab for --disk). */
  mountpoint: Type.Optional(Type.String()),
  mountOptions: Type.Optional(Type.String()),
  size: Type.Optional(Type.Integer({ minimum: 0 })),
  used: Type.Optional(Type.Integer({ minimum: 0 })),
  /** For ext*: the feature list mkfs must reproduce; for xfs: the superblock options. */
  features: Type.Optional(Type.Array(Type.String())),
  subvolumes: Type.Optional(Type.Array(BtrfsSubvolumeSchema)),
  /** Every place the source system mounts it (a btrfs volume is often mounted once per subvolume); `mountpoint` is the first. */
  mounts: Type.Optional(Type.Array(FilesystemMountSchema)),
});
export type Filesystem = Type.Static<typeof FilesystemSchema>;

export const SwapSchema = Type.Object({
  device: Type.String(),
  uuid: Type.Optional(Type.String()),
  label: Type.Optional(Type.String()),
  size: Type.Integer({ minimum: 0 }),
});
export type Swap = Type.Static<typeof SwapSchema>;

export const MdArraySchema = Type.Object({
  device: Type.String(),
  name: Type.Optional(Type.String()),
  level: Type.String({ description: 'raid0, raid1, raid5, raid10, …' }),
  uuid: Type.String(),
  metadata: Type.String(),
  chunkSize: Type.Optional(Type.Integer({ description: 'bytes' })),
  layout: Type.Optional(Type.String()),
  size: Type.Integer({ minimum: 0 }),
  raidDevices: Type.Integer({ minimum: 0 }),
  members: Type.Array(Type.Object({ device: Type.String(), slot: Type.Integer(), state: Type.Optional(Type.String()) })),
});
export type MdArray = Type.Static<typeof MdArraySchema>;

export const LvmSchema = Type.Object({
  pvs: Type.Array(Type.Object({ device: Type.String(), vg: Type.String(), uuid: Type.String(), size: Type.Integer() })),
  vgs: Type.Array(Type.Object({ name: Type.String(), uuid: Type.String(), extentSize: Type.Integer(), size: Type.Integer(), free: Type.Integer() })),
  lvs: Type.Array(Type.Object({
    name: Type.String(),
    vg: Type.String(),
    uuid: Type.String(),
    size: Type.Integer(),
    path: Type.String(),
    segtype: Type.String({ description: 'linear, striped, raid1, thin-pool, …' }),
    stripes: Type.Optional(Type.Integer()),
    stripeSize: Type.Optional(Type.Integer({ description: 'bytes' })),
    /** The LV's segments in order (an LV grown onto another PV has several): what lvcreate/lvextend must replay. */
    segments: Type.Optional(Type.Array(Type.Object({
      start: Type.Integer({ description: 'bytes into the LV' }),
      size: Type.Integer({ description: 'bytes' }),
      segtype: Type.String(),
      stripes: Type.Optional(Type.Integer()),
      stripeSize: Type.Optional(Type.Integer({ description: 'bytes' })),
      /** PVs (or sub-LVs) with their first extent, as lvm prints them: "/dev/sda2(0)". */
      devices: Type.Array(Type.String()),
    }))),
  })),
});
export type Lvm = Type.Static<typeof LvmSchema>;

export const FstabEntrySchema = Type.Object({
  spec: Type.String(),
  file: Type.String(),
  vfstype: Type.String(),
  mntops: Type.String(),
  freq: Type.Integer(),
  passno: Type.Integer(),
});
export type FstabEntry = Type.Static<typeof FstabEntrySchema>;

export const BootloaderSchema = Type.Object({
  firmware: Type.Union([Type.Literal('bios'), Type.Literal('uefi'), Type.Literal('unknown')]),
  /** What boots the system: grub-pc (BIOS), grub-efi, systemd-boot, or unknown. */
  kind: Type.String(),
  /** The disk GRUB's boot code is on (BIOS), or the ESP's device (UEFI). */
  bootDisk: Type.Optional(Type.String()),
  espDevice: Type.Optional(Type.String()),
  /** EFI loaders found on the ESP, relative to it (EFI/debian/grubx64.efi, EFI/BOOT/BOOTX64.EFI). */
  efiLoaders: Type.Optional(Type.Array(Type.String())),
});
export type Bootloader = Type.Static<typeof BootloaderSchema>;

export const HostFactsSchema = Type.Object({
  hostname: Type.Optional(Type.String()),
  osRelease: Type.Record(Type.String(), Type.String()),
  kernel: Type.Optional(Type.String()),
  arch: Type.Optional(Type.String()),
});
export type HostFacts = Type.Static<typeof HostFactsSchema>;

export const LayoutSchema = Type.Object({
  disks: Type.Array(DiskSchema),
  blockDevices: Type.Array(BlockDeviceSchema),
  filesystems: Type.Array(FilesystemSchema),
  swaps: Type.Array(SwapSchema),
  md: Type.Array(MdArraySchema),
  lvm: LvmSchema,
  fstab: Type.Array(FstabEntrySchema),
  bootloader: BootloaderSchema,
  host: HostFactsSchema,
  /** What the probe could not learn and why (a tool failed, a device was skipped), so the image says so instead of guessing. */
  notes: Type.Optional(Type.Array(Type.String())),
});
export type Layout = Type.Static<typeof LayoutSchema>;

/** The EFI system partition's type: a GUID in a GPT, a one-byte id in an MBR. */
export const ESP_GPT_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const ESP_MBR_TYPE = 'ef';

export function isEspType(tableType: string, partitionType: string): boolean {
  // As sfdisk prints them: upper-case GUIDs, lower-case hex ids.
  return (tableType === 'gpt' && partitionType === ESP_GPT_TYPE) || (tableType === 'dos' && partitionType === ESP_MBR_TYPE);
}
