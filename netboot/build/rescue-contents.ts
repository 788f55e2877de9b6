/**
 * What goes into the rescue system, as data: the tools a restore, a capture and an operator's
 * expert shell need (mindi's job list), the directories taken whole, and the kernel modules.
 * Each tool names its Debian package so a missing one can say what to install.
 */
export interface ToolGroup {
  purpose: string;
  package: string;
  tools: string[];
}

export const RESCUE_TOOLS: readonly ToolGroup[] = [
  { purpose: 'shell and core commands', package: 'busybox', tools: ['busybox'] },
  {
    purpose: 'disks and partitions',
    package: 'util-linux',
    tools: ['sfdisk', 'wipefs', 'blkid', 'lsblk', 'findmnt', 'losetup', 'partx', 'mkswap', 'swapon', 'blockdev', 'mount', 'umount', 'fsfreeze', 'fstrim'],
  },
  { purpose: "the lock of a scheduled archive (lifeboat schedule run from the rescue shell)", package: 'util-linux', tools: ['flock'] },
  { purpose: 'interactive partitioning', package: 'fdisk', tools: ['fdisk'] },
  { purpose: 'GPT partitioning', package: 'gdisk', tools: ['sgdisk'] },
  {
    purpose: 'ext2/3/4',
    package: 'e2fsprogs',
    tools: ['mke2fs', 'mkfs.ext2', 'mkfs.ext3', 'mkfs.ext4', 'e2fsck', 'fsck.ext4', 'tune2fs', 'resize2fs', 'dumpe2fs', 'debugfs', 'e2label'],
  },
  { purpose: 'XFS', package: 'xfsprogs', tools: ['mkfs.xfs', 'xfs_repair', 'xfs_admin', 'xfs_db', 'xfs_growfs', 'xfs_info', 'xfs_spaceman', 'xfs_io', 'fsck.xfs'] },
  { purpose: 'FAT and the EFI system partition', package: 'dosfstools', tools: ['mkfs.fat', 'mkfs.vfat', 'fsck.fat', 'fsck.vfat', 'fatlabel'] },
  { purpose: 'Btrfs', package: 'btrfs-progs', tools: ['btrfs', 'mkfs.btrfs', 'btrfstune', 'fsck.btrfs'] },
  { purpose: 'JFS', package: 'jfsutils', tools: ['mkfs.jfs', 'jfs_tune', 'fsck.jfs'] },
  {
    purpose: 'LVM',
    package: 'lvm2',
    tools: [
      'lvm', 'pvcreate', 'pvremove', 'pvs', 'pvscan', 'pvdisplay', 'vgcreate', 'vgremove', 'vgs', 'vgscan', 'vgchange', 'vgdisplay', 'vgcfgrestore',
      'vgcfgbackup', 'vgmknodes', 'lvcreate', 'lvremove', 'lvs', 'lvscan', 'lvchange', 'lvdisplay', 'lvextend', 'lvresize', 'dmsetup',
    ],
  },
  { purpose: 'md RAID', package: 'mdadm', tools: ['mdadm'] },
  { purpose: 'archives', package: 'tar', tools: ['tar'] },
  { purpose: 'archives', package: 'zstd', tools: ['zstd'] },
  { purpose: 'archives', package: 'gzip', tools: ['gzip'] },
  { purpose: 'the NFS share of the store (NFSv4; busybox mount speaks v3 only)', package: 'nfs-common', tools: ['mount.nfs', 'mount.nfs4', 'umount.nfs', 'umount.nfs4'] },
  { purpose: 'boot loader', package: 'grub-common', tools: ['grub-probe', 'grub-mkimage', 'grub-editenv', 'grub-mkrelpath'] },
  { purpose: 'boot loader', package: 'grub2-common', tools: ['grub-install'] },
  { purpose: 'UEFI boot entries', package: 'efibootmgr', tools: ['efibootmgr'] },
  { purpose: 'new SSH host keys for a clone (task identity)', package: 'openssh-client', tools: ['ssh-keygen'] },
  { purpose: 'multicast image volumes (clone sessions)', package: 'udpcast', tools: ['udp-receiver'] },
  { purpose: 'extended attributes', package: 'attr', tools: ['getfattr', 'setfattr'] },
  { purpose: 'ACLs', package: 'acl', tools: ['getfacl', 'setfacl'] },
  { purpose: 'file capabilities', package: 'libcap2-bin', tools: ['getcap', 'setcap'] },
  { purpose: 'HTTP transfers', package: 'curl', tools: ['curl'] },
  { purpose: 'kernel modules', package: 'kmod', tools: ['kmod', 'modprobe', 'insmod', 'rmmod', 'lsmod', 'modinfo', 'depmod'] },
  { purpose: 'the rescue agent', package: 'nodejs', tools: ['node'] },
];

/** Host directories taken whole: grub's platform modules for grub-install, LVM's config. */
export const RESCUE_TREES: readonly { path: string; package: string }[] = [
  { path: '/usr/lib/grub/i386-pc', package: 'grub-pc-bin' },
  { path: '/usr/lib/grub/x86_64-efi', package: 'grub-efi-amd64-bin' },
  { path: '/usr/share/grub', package: 'grub-common' },
  { path: '/etc/lvm/lvm.conf', package: 'lvm2' },
];

/** Where tools are looked up on the build host, in order. */
export const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'] as const;

/**
 * Kernel modules, by directory under /lib/modules/VERSION (everything in it) or by name. Their
 * dependencies come from modprobe. The rescue /init loads what the hardware asks for by modalias;
 * the rest are there for the agent (md, dm, file systems, NFS), loaded on demand.
 */
export const MODULE_DIRS: readonly string[] = [
  'kernel/drivers/virtio',
  'kernel/drivers/block',
  'kernel/drivers/nvme',
  'kernel/drivers/ata',
  'kernel/drivers/scsi',
  'kernel/drivers/md',
  'kernel/drivers/usb/host',
  'kernel/drivers/usb/storage',
  'kernel/drivers/hid/usbhid',
  'kernel/drivers/net/ethernet',
  'kernel/drivers/net/hyperv',
  'kernel/fs/ext4',
  'kernel/fs/xfs',
  'kernel/fs/btrfs',
  'kernel/fs/fat',
  'kernel/fs/nls',
  'kernel/fs/jfs',
  'kernel/fs/isofs',
  'kernel/fs/squashfs',
  'kernel/fs/overlayfs',
  'kernel/fs/nfs',
  'kernel/fs/nfs_common',
  'kernel/fs/lockd',
  'kernel/fs/efivarfs',
  'kernel/net/sunrpc',
];

export const MODULE_NAMES: readonly string[] = [
  'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net', 'virtio_console', 'virtio_rng', 'nvme', 'ahci', 'ata_piix', 'sd_mod', 'sr_mod', 'usb_storage', 'uas',
  'xhci_pci', 'ehci_pci', 'e1000', 'e1000e', 'igb', 'ixgbe', 'tg3', 'bnx2', 'r8169', 'vmxnet3', 'hv_netvsc', 'hv_storvsc', 'xen_netfront', 'xen_blkfront',
  'ext4', 'xfs', 'btrfs', 'vfat', 'nls_cp437', 'nls_iso8859_1', 'nls_utf8', 'jfs', 'isofs', 'loop',
  'md_mod', 'linear', 'raid0', 'raid1', 'raid10', 'raid456', 'dm_mod', 'dm_raid', 'dm_mirror', 'dm_snapshot', 'dm_thin_pool', 'dm_crypt',
  'nfs', 'nfsv3', 'nfsv4', 'sunrpc', 'efivarfs', 'crc32c_generic', 'crc32c_intel', 'af_packet',
];
