import type { TargetFirmware } from '../../../images/restore/plan.js';
import { FIXTURE_USER, SERVICE_USER, dataTree, espTree, homeTree, identityFiles, rootExamples, seedFile, srvJfsTree, srvLogsTree, srvTree } from './fixture-files.js';
import { fixtureUuid, lvmUuid, mdUuid, tableId, vfatVolumeId } from './ids.js';
import type { DiskSpec, FilesystemSpec, GuestImageSpec } from './spec.js';

/**
 * The multi-disk fixtures as data (built in a guest: this host's kernel has no md RAID, no
 * device-mapper, no vfat and no JFS):
 *
 * 'raid-lvm' (UEFI), two GPT disks:
 *   disk 1: ESP (vfat) · md RAID1 member · /srv (Btrfs, subvolumes @srv = default and @logs) · /data (JFS) · swap
 *   disk 2: md RAID1 member
 *   md0 (RAID1, metadata 1.2, a name and a known UUID) → LVM PV → VG fxvg → LVs root (ext4, /) and home (XFS, /home)
 *   GRUB for x86_64-efi on the ESP (one image with mdraid1x and lvm built in), kernel and initrd on the root LV.
 * 'mbr-logical' (BIOS), one MBR disk: / on a primary partition, an extended partition with
 *   /data (ext3), /srv (JFS) and swap as logical partitions; GRUB for i386-pc in the MBR gap.
 * 'raid5-stripe' (BIOS), three GPT disks, each with a BIOS boot partition and GRUB:
 *   md0 (RAID5 over the three, chunk 64 KiB) and md1 (RAID10 near=2 over the three, chunk 64 KiB),
 *   both with names that are not numbers ("fixture:system", "fixture:data"), are the two PVs of
 *   VG stvg: LV root (ext4, /, kernel and GRUB files included) linear on md0, LV srv (ext2, /srv)
 *   striped across md0 and md1; swap on a partition of the first disk.
 *
 * Each runs Debian's full kernel (the cloud kernel has no JFS) with its own small initramfs
 * (busybox, mdadm, lvm) and the init that prints every mount, the swap, each md array's state,
 * each LV's size and the devices under it, and a hash of each filesystem's files.
 */

export type MultiDiskVariant = 'raid-lvm' | 'mbr-logical' | 'raid5-stripe';

const GPT = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  raid: 'A19D880F-05FC-4D3B-A006-743F0F84911E',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
} as const;
const DATA_XATTR_TEXT = 'carries user.lifeboat.fixture\n';

/** What differs between the variants: the layout, the stacks and the files beyond the root's. */
type Layout = Pick<GuestImageSpec, 'raid' | 'lvm' | 'btrfs' | 'filesystems' | 'trees'> & {
  disks: Array<Omit<DiskSpec, 'id'>>;
  /** GRUB modules a BIOS core image needs to read /boot (beyond partition tables and ext2). */
  grubPcModules?: string[];
};

function raidLvmSpec(name: string): Layout {
  const u = (role: string) => fixtureUuid(name, role);
  const fs = (f: FilesystemSpec) => f;
  return {
    disks: [
      {
        device: 'vda', sizeMiB: 1126, table: 'gpt', parts: [
          { role: 'esp', startMiB: 1, sizeMiB: 64, type: GPT.esp, name: 'EFI system' },
          { role: 'raid-a', startMiB: 65, sizeMiB: 612, type: GPT.raid, name: 'raid member a' },
          { role: 'srv', startMiB: 677, sizeMiB: 256, type: GPT.linux, name: 'srv' },
          { role: 'data', startMiB: 933, sizeMiB: 128, type: GPT.linux, name: 'data' },
          { role: 'swap', startMiB: 1061, sizeMiB: 64, type: GPT.swap, name: 'swap' },
        ],
      },
      { device: 'vdb', sizeMiB: 614, table: 'gpt', parts: [{ role: 'raid-b', startMiB: 1, sizeMiB: 612, type: GPT.raid, name: 'raid member b' }] },
    ],
    raid: [{ device: '/dev/md0', uuid: mdUuid(name), name: 'fixture:system', level: 'raid1', metadata: '1.2', members: ['/dev/vda2', '/dev/vdb1'] }],
    lvm: { vg: 'fxvg', extentMiB: 4, pvs: [{ device: '/dev/md0', uuid: lvmUuid(name, 'pv') }], lvs: [{ name: 'root', sizeMiB: 256 }, { name: 'home', sizeMiB: 320 }] },
    filesystems: [
      fs({ role: 'root', type: 'ext4', uuid: u('root'), label: 'fxroot', device: '/dev/fxvg/root', mountpoint: '/', fstabSpec: `UUID=${u('root')}`, options: 'defaults,errors=remount-ro' }),
      fs({ role: 'esp', type: 'vfat', uuid: vfatVolumeId('lifeboat-multidisk', name), label: 'FXESP', device: '/dev/vda1', mountpoint: '/boot/efi', fstabSpec: `UUID=${vfatVolumeId('lifeboat-multidisk', name)}`, options: 'umask=0077' }),
      fs({ role: 'home', type: 'xfs', uuid: u('home'), label: 'fxhome', device: '/dev/fxvg/home', mountpoint: '/home', fstabSpec: '/dev/fxvg/home', options: 'defaults' }),
      fs({ role: 'srv', type: 'btrfs', uuid: u('srv'), label: 'fxsrv', device: '/dev/vda3', mountpoint: '/srv', fstabSpec: `UUID=${u('srv')}`, options: 'defaults,noatime' }),
      fs({ role: 'srv-logs', type: 'btrfs', uuid: u('srv'), label: 'fxsrv', device: '/dev/vda3', mountpoint: '/srv/logs', fstabSpec: `UUID=${u('srv')}`, options: 'subvol=@logs,noatime', subvolume: '@logs' }),
      fs({ role: 'data', type: 'jfs', uuid: u('data'), label: 'fxdata', device: '/dev/vda4', mountpoint: '/data', fstabSpec: 'LABEL=fxdata', options: 'defaults' }),
      fs({ role: 'swap', type: 'swap', uuid: u('swap'), label: 'fxswap', device: '/dev/vda5', mountpoint: 'none', fstabSpec: `UUID=${u('swap')}`, options: 'sw' }),
    ],
    btrfs: { device: '/dev/vda3', subvolumes: ['@srv', '@logs'], defaultSubvolume: '@srv' },
    trees: [
      { mountpoint: '/boot/efi', files: espTree(name) }, { mountpoint: '/home', files: homeTree(name) }, { mountpoint: '/srv', files: srvTree(name) },
      { mountpoint: '/srv/logs', files: srvLogsTree(name) }, { mountpoint: '/data', files: dataTree(name, DATA_XATTR_TEXT) },
    ],
  };
}

function mbrLogicalSpec(name: string): Layout {
  const u = (role: string) => fixtureUuid(name, role);
  return {
    disks: [{
      device: 'vda', sizeMiB: 612, table: 'dos', parts: [
        { role: 'root', startMiB: 1, sizeMiB: 256, type: '83', kind: 'primary', bootable: true },
        { role: 'extended', startMiB: 257, sizeMiB: 355, type: '5', kind: 'extended' },
        { role: 'data', startMiB: 258, sizeMiB: 192, type: '83', kind: 'logical' },
        { role: 'srv', startMiB: 451, sizeMiB: 96, type: '83', kind: 'logical' },
        { role: 'swap', startMiB: 548, sizeMiB: 64, type: '82', kind: 'logical' },
      ],
    }],
    raid: [],
    lvm: null,
    filesystems: [
      { role: 'root', type: 'ext4', uuid: u('root'), label: 'fxroot', device: '/dev/vda1', mountpoint: '/', fstabSpec: `UUID=${u('root')}`, options: 'defaults,errors=remount-ro' },
      { role: 'data', type: 'ext3', uuid: u('data'), label: 'fxdata', device: '/dev/vda5', mountpoint: '/data', fstabSpec: 'LABEL=fxdata', options: 'defaults' },
      { role: 'srv', type: 'jfs', uuid: u('srv'), label: 'fxsrv', device: '/dev/vda6', mountpoint: '/srv', fstabSpec: `UUID=${u('srv')}`, options: 'defaults' },
      { role: 'swap', type: 'swap', uuid: u('swap'), label: 'fxswap', device: '/dev/vda7', mountpoint: 'none', fstabSpec: `UUID=${u('swap')}`, options: 'sw' },
    ],
    btrfs: null,
    trees: [{ mountpoint: '/data', files: dataTree(name, DATA_XATTR_TEXT) }, { mountpoint: '/srv', files: srvJfsTree(name) }],
  };
}

function raid5StripeSpec(name: string): Layout {
  const u = (role: string) => fixtureUuid(name, role);
  const member = (disk: string, first: number) => [
    { role: `bios-${disk}`, startMiB: 1, sizeMiB: 1, type: GPT.biosBoot, name: 'BIOS boot' },
    { role: `raid5-${disk}`, startMiB: 2, sizeMiB: 256, type: GPT.raid, name: `raid5 member ${first}` },
    { role: `raid10-${disk}`, startMiB: 258, sizeMiB: 192, type: GPT.raid, name: `raid10 member ${first}` },
  ];
  return {
    disks: [
      { device: 'vda', sizeMiB: 516, table: 'gpt', parts: [...member('vda', 1), { role: 'swap', startMiB: 450, sizeMiB: 64, type: GPT.swap, name: 'swap' }] },
      { device: 'vdb', sizeMiB: 452, table: 'gpt', parts: member('vdb', 2) },
      { device: 'vdc', sizeMiB: 452, table: 'gpt', parts: member('vdc', 3) },
    ],
    raid: [
      { device: '/dev/md0', uuid: mdUuid(name, 'md0'), name: 'fixture:system', level: 'raid5', metadata: '1.2', members: ['/dev/vda2', '/dev/vdb2', '/dev/vdc2'], chunkKiB: 64 },
      { device: '/dev/md1', uuid: mdUuid(name, 'md1'), name: 'fixture:data', level: 'raid10', metadata: '1.2', members: ['/dev/vda3', '/dev/vdb3', '/dev/vdc3'], chunkKiB: 64, layout: 'n2' },
    ],
    lvm: {
      vg: 'stvg', extentMiB: 4,
      pvs: [{ device: '/dev/md0', uuid: lvmUuid(name, 'pv0') }, { device: '/dev/md1', uuid: lvmUuid(name, 'pv1') }],
      lvs: [{ name: 'root', sizeMiB: 256, on: ['/dev/md0'] }, { name: 'srv', sizeMiB: 192, on: ['/dev/md0', '/dev/md1'], stripes: 2, stripeKiB: 64 }],
    },
    grubPcModules: ['diskfilter', 'mdraid1x', 'raid5rec', 'lvm'],
    filesystems: [
      { role: 'root', type: 'ext4', uuid: u('root'), label: 'fxroot', device: '/dev/stvg/root', mountpoint: '/', fstabSpec: `UUID=${u('root')}`, options: 'defaults,errors=remount-ro' },
      { role: 'srv', type: 'ext2', uuid: u('srv'), label: 'fxsrv', device: '/dev/stvg/srv', mountpoint: '/srv', fstabSpec: '/dev/stvg/srv', options: 'defaults' },
      { role: 'swap', type: 'swap', uuid: u('swap'), label: 'fxswap', device: '/dev/vda4', mountpoint: 'none', fstabSpec: `UUID=${u('swap')}`, options: 'sw' },
    ],
    btrfs: null,
    trees: [{ mountpoint: '/srv', files: dataTree(name, DATA_XATTR_TEXT) }],
  };
}

const VARIANTS: Record<MultiDiskVariant, { firmware: TargetFirmware; layout: (name: string) => Layout; grubInsmod: string[]; efiModules: string[] }> = {
  'raid-lvm': { firmware: 'uefi', layout: raidLvmSpec, grubInsmod: ['part_gpt', 'mdraid1x', 'lvm'], efiModules: ['diskfilter', 'mdraid1x', 'lvm'] },
  'mbr-logical': { firmware: 'bios', layout: mbrLogicalSpec, grubInsmod: [], efiModules: [] },
  'raid5-stripe': { firmware: 'bios', layout: raid5StripeSpec, grubInsmod: ['part_gpt', 'mdraid1x', 'raid5rec', 'lvm'], efiModules: [] },
};

export function variantFirmware(variant: MultiDiskVariant): TargetFirmware {
  return VARIANTS[variant].firmware;
}

const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'md_mod', 'raid1', 'raid456', 'raid10', 'dm_mod', 'crc32c_generic', 'ext4', 'xfs', 'btrfs', 'jfs', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8'];
const INITRAMFS_APPLETS = ['sh', 'mount', 'insmod', 'findfs', 'switch_root', 'poweroff', 'usleep', 'cat', 'ls', 'tr', 'echo', 'grep', 'mkdir'];
const ROOT_APPLETS = ['sh', 'mount', 'umount', 'swapon', 'findfs', 'blkid', 'poweroff', 'cat', 'echo', 'awk', 'sed', 'grep', 'cut', 'paste',
  'sort', 'find', 'xargs', 'stat', 'sha256sum', 'ls', 'dmesg', 'uname', 'mkdir', 'sleep', 'readlink', 'rm'];

/** The multi-disk fixture `variant` named `name`, as a guest-image spec. */
export function multiDiskSpec(variant: MultiDiskVariant, name: string): GuestImageSpec {
  const v = VARIANTS[variant];
  const { grubPcModules, disks, ...layout } = v.layout(name);
  return {
    name, description: 'multi-disk fixture', firmware: v.firmware, build: 'guest',
    disks: disks.map((d) => ({ ...d, id: tableId('lifeboat-multidisk', name, d.table, `disk-${d.device}`) })),
    ...layout,
    trees: [
      { mountpoint: '/', files: [...identityFiles(name, 'Lifeboat multi-disk fixture', [FIXTURE_USER, SERVICE_USER]), ...rootExamples(name, `This machine is the Lifeboat multi-disk fixture '${name}'.\n`), seedFile(name)] },
      ...layout.trees,
    ],
    hashes: layout.filesystems.filter((f) => f.type !== 'swap').map((f) => [f.mountpoint]),
    boot: {
      init: 'sbin-init-stacks.sh', kernel: 'full', storageTools: true,
      initramfsModules: INITRAMFS_MODULES, initramfsApplets: INITRAMFS_APPLETS, rootApplets: ROOT_APPLETS,
      grub: {
        comment: `GRUB configuration of the Lifeboat multi-disk fixture '${name}': root found by UUID${layout.lvm ? ` on an LV of a VG on md ${layout.raid.map((r) => r.level.toUpperCase()).join(' and ')}` : ''}.`,
        title: 'Lifeboat multi-disk fixture', insmod: [...v.grubInsmod, 'ext2'], efiModules: v.efiModules, pcModules: grubPcModules ?? [],
      },
    },
  };
}
