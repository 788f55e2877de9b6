import type { Disk, Filesystem, Layout } from '../../images/layout/model.js';
import type { ArchiveEntry, Manifest } from '../../images/store/manifest.js';
import type { TargetDisk } from '../../images/restore/plan.js';

/**
 * Images the restore planner tests read: shaped like what the probe records on real machines,
 * with the GUIDs, types, names and feature lists of test/fixtures/layout (captured with sfdisk,
 * dumpe2fs and xfs_info on this project's build machine).
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const GPT = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
} as const;

/** dumpe2fs-ext4.txt's feature list, without needs_recovery (state, not format). */
export const EXT4_FEATURES = ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'extent', '64bit', 'flex_bg', 'sparse_super', 'large_file', 'huge_file', 'dir_nlink', 'extra_isize', 'metadata_csum'];
/** xfs_info.txt's format switches, as parseXfsInfo returns them. */
export const XFS_FEATURES = ['crc=1', 'finobt=1', 'sparse=1', 'rmapbt=0', 'reflink=1', 'bigtime=1', 'inobtcount=1', 'nrext64=0', 'ftype=1', 'attr=2', 'projid32bit=1', 'lazy-count=1', 'ascii-ci=0'];

const sha = (n: number) => n.toString(16).padStart(64, '0');

export function archive(id: string, mountpoint: string, device: string, fstype: string, usedBytes: number, extra: Partial<ArchiveEntry> = {}): ArchiveEntry {
  return {
    id, mountpoint, device, fstype, format: 'gnu-tar-posix', compression: { kind: 'zstd', level: 3 },
    tarBytes: Math.round(usedBytes * 0.95), usedBytes, excludes: [], warnings: [],
    volumes: [{ path: `data/${id}.tar.zst.000`, bytes: Math.round(usedBytes * 0.4), sha256: sha(usedBytes) }],
    ...extra,
  };
}

export function manifestOf(image: string, layout: Layout, archives: ArchiveEntry[]): Manifest {
  return {
    format: 'lifeboat-image/1',
    image,
    version: '2024-05-01T10-00-00Z',
    createdAt: '2024-05-01T10:00:00.000Z',
    completedAt: '2024-05-01T10:04:12.000Z',
    creator: { tool: 'lifeboat', version: '0.1.0', hostname: layout.host.hostname ?? 'source' },
    source: { mode: 'live', root: '/' },
    layout,
    volumeSize: null,
    archives,
    warnings: [],
  };
}

function emptyLayout(hostname: string): Omit<Layout, 'disks' | 'filesystems' | 'swaps' | 'fstab' | 'bootloader'> {
  return {
    blockDevices: [],
    md: [],
    lvm: { pvs: [], vgs: [], lvs: [] },
    host: { hostname, osRelease: { ID: 'debian', VERSION_ID: '12', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' }, kernel: '6.1.0-21-amd64', arch: 'x86_64' },
  };
}

/**
 * A Debian 12 VM installed with UEFI on a 20 GiB disk: GPT with a BIOS boot partition (so the same
 * disk also boots on BIOS), a 512 MiB ESP, an 18 GiB ext4 root and a 1533 MiB swap at the end.
 */
export function debianVm(options: { rootUsed?: number } = {}): Manifest {
  const rootUsed = options.rootUsed ?? 4 * GiB;
  const sda: Disk = qemuGptDisk('sda', 20 * GiB, 'QM00001', { id: '6F1C3A52-8B1E-4D2B-9C55-0E3B1D7A4F10', firstLba: 2048, lastLba: 41943006 }, [
    { number: 1, path: '/dev/sda1', start: 2048, size: 2048, type: GPT.biosBoot, uuid: '0B5E2D1A-1111-4A8B-9C3D-5E6F7A8B9C01', name: 'bios_grub' },
    { number: 2, path: '/dev/sda2', start: 4096, size: 1048576, type: GPT.esp, uuid: '0B5E2D1A-2222-4A8B-9C3D-5E6F7A8B9C02', name: 'EFI System' },
    { number: 3, path: '/dev/sda3', start: 1052672, size: 37748736, type: GPT.linux, uuid: '0B5E2D1A-3333-4A8B-9C3D-5E6F7A8B9C03', name: 'root', attrs: 'LegacyBIOSBootable' },
    { number: 4, path: '/dev/sda4', start: 38801408, size: 3139584, type: GPT.swap, uuid: '0B5E2D1A-4444-4A8B-9C3D-5E6F7A8B9C04', name: 'swap' },
  ]);
  const filesystems: Filesystem[] = [
    { device: '/dev/sda2', type: 'vfat', uuid: '1A2B-3C4D', label: 'ESP', mountpoint: '/boot/efi', mountOptions: 'rw,relatime,fmask=0077,dmask=0077', size: 535805952, used: 6 * MiB, mounts: [{ mountpoint: '/boot/efi', options: 'rw,relatime,fmask=0077,dmask=0077' }] },
    { device: '/dev/sda3', type: 'ext4', uuid: '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', label: 'rootfs', mountpoint: '/', mountOptions: 'rw,relatime,errors=remount-ro', size: 18 * GiB, used: rootUsed, features: EXT4_FEATURES, mounts: [{ mountpoint: '/', options: 'rw,relatime,errors=remount-ro' }] },
  ];
  const layout: Layout = {
    ...emptyLayout('debian-vm'),
    disks: [sda],
    filesystems,
    swaps: [{ device: '/dev/sda4', uuid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', size: 3139584 * 512 }],
    fstab: [
      { spec: 'UUID=3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', file: '/', vfstype: 'ext4', mntops: 'errors=remount-ro', freq: 0, passno: 1 },
      { spec: 'UUID=1A2B-3C4D', file: '/boot/efi', vfstype: 'vfat', mntops: 'umask=0077', freq: 0, passno: 1 },
      { spec: 'UUID=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', file: 'none', vfstype: 'swap', mntops: 'sw', freq: 0, passno: 0 },
    ],
    bootloader: {
      firmware: 'uefi', kind: 'grub-efi', bootDisk: '/dev/sda2', espDevice: '/dev/sda2',
      efiLoaders: ['EFI/debian/fbx64.efi', 'EFI/debian/grubx64.efi', 'EFI/debian/mmx64.efi', 'EFI/debian/shimx64.efi'],
    },
  };
  return manifestOf('debian-vm', layout, [
    archive('root', '/', '/dev/sda3', 'ext4', rootUsed, { uuid: '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', label: 'rootfs' }),
    archive('boot-efi', '/boot/efi', '/dev/sda2', 'vfat', 6 * MiB, { uuid: '1A2B-3C4D', label: 'ESP' }),
  ]);
}

/**
 * A BIOS server on a 50 GiB disk with an MBR table: bootable /boot (ext4, 512 MiB), / (xfs,
 * 15 GiB), an extended partition holding /home (ext4, 30 GiB) and swap (4 GiB), ~500 MiB free at
 * the end, GRUB in the MBR.
 */
export function mbrServer(): Manifest {
  const sda: Disk = {
    name: 'sda', path: '/dev/sda', size: 50 * GiB, logicalSectorSize: 512, physicalSectorSize: 512,
    table: {
      type: 'dos', id: '0x5eed1234', sectorSize: 512,
      partitions: [
        { number: 1, path: '/dev/sda1', start: 2048, size: 1048576, type: '83', bootable: true, kind: 'primary' },
        { number: 2, path: '/dev/sda2', start: 1050624, size: 31457280, type: '83', bootable: false, kind: 'primary' },
        { number: 3, path: '/dev/sda3', start: 32507904, size: 71307264, type: '5', bootable: false, kind: 'extended' },
        { number: 5, path: '/dev/sda5', start: 32509952, size: 62914560, type: '83', bootable: false, kind: 'logical' },
        { number: 6, path: '/dev/sda6', start: 95426560, size: 8388608, type: '82', bootable: false, kind: 'logical' },
      ],
    },
  };
  const layout: Layout = {
    ...emptyLayout('files1'),
    disks: [sda],
    filesystems: [
      { device: '/dev/sda1', type: 'ext4', uuid: 'c0ffee00-1111-4222-8333-444455556666', label: 'boot', mountpoint: '/boot', size: 512 * MiB, used: 150 * MiB, features: EXT4_FEATURES },
      { device: '/dev/sda2', type: 'xfs', uuid: 'b7e1c2d4-3a5f-4e6b-8c9d-0a1b2c3d4e5f', label: 'root', mountpoint: '/', size: 15 * GiB, used: 6 * GiB, features: XFS_FEATURES },
      { device: '/dev/sda5', type: 'ext4', uuid: 'd1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6', label: 'home', mountpoint: '/home', size: 30 * GiB, used: 12 * GiB, features: EXT4_FEATURES },
    ],
    swaps: [{ device: '/dev/sda6', uuid: '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d', size: 4 * GiB }],
    fstab: [
      { spec: 'UUID=b7e1c2d4-3a5f-4e6b-8c9d-0a1b2c3d4e5f', file: '/', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 1 },
      { spec: 'LABEL=boot', file: '/boot', vfstype: 'ext4', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: 'UUID=d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6', file: '/home', vfstype: 'ext4', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: '/dev/sda6', file: 'none', vfstype: 'swap', mntops: 'sw', freq: 0, passno: 0 },
    ],
    bootloader: { firmware: 'bios', kind: 'grub-pc', bootDisk: '/dev/sda' },
  };
  return manifestOf('files1', layout, [
    archive('root', '/', '/dev/sda2', 'xfs', 6 * GiB, { uuid: 'b7e1c2d4-3a5f-4e6b-8c9d-0a1b2c3d4e5f', label: 'root' }),
    archive('boot', '/boot', '/dev/sda1', 'ext4', 150 * MiB, { uuid: 'c0ffee00-1111-4222-8333-444455556666', label: 'boot' }),
    archive('home', '/home', '/dev/sda5', 'ext4', 12 * GiB, { uuid: 'd1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6', label: 'home' }),
  ]);
}

/** The Debian VM with a second 10 GiB disk holding an xfs /srv (3 GiB used). */
export function debianVmWithData(): Manifest {
  const m = debianVm();
  m.layout.disks.push(qemuGptDisk('sdb', 10 * GiB, 'QM00002', { id: 'A3C1E5F7-2B4D-4F6A-8C0E-1D3F5A7B9C2E', firstLba: 2048, lastLba: 20971486 }, [{ number: 1, path: '/dev/sdb1', start: 2048, size: 20967424, type: GPT.linux, uuid: 'A3C1E5F7-0001-4F6A-8C0E-1D3F5A7B9C2E', name: 'srv' }]));
  m.layout.filesystems.push({ device: '/dev/sdb1', type: 'xfs', uuid: '77aa88bb-99cc-4ddd-8eee-ff0011223344', label: 'srv', mountpoint: '/srv', size: 10 * GiB, used: 3 * GiB, features: XFS_FEATURES });
  m.layout.fstab.push({ spec: 'UUID=77aa88bb-99cc-4ddd-8eee-ff0011223344', file: '/srv', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 2 });
  m.archives.push(archive('srv', '/srv', '/dev/sdb1', 'xfs', 3 * GiB, { uuid: '77aa88bb-99cc-4ddd-8eee-ff0011223344', label: 'srv' }));
  return m;
}

/** A QEMU disk as the probe records it, with a GPT of 512-byte sectors. */
function qemuGptDisk(name: string, size: number, serial: string, gpt: { id: string; firstLba: number; lastLba: number }, partitions: NonNullable<Disk['table']>['partitions']): Disk {
  return {
    name, path: `/dev/${name}`, size, logicalSectorSize: 512, physicalSectorSize: 512, model: 'QEMU HARDDISK', serial,
    table: { type: 'gpt', id: gpt.id, sectorSize: 512, firstLba: gpt.firstLba, lastLba: gpt.lastLba, partitions },
  };
}

export function disk(path: string, bytes: number, extra: Partial<TargetDisk> = {}): TargetDisk {
  return { path, size: bytes, logicalSectorSize: 512, physicalSectorSize: 512, ...extra };
}

/** GPT partition types of the storage stacks. */
export const GPT_STACK = { raid: 'A19D880F-05FC-4D3B-A006-743F0F84911E', lvm: 'E6D6D379-F507-44C2-A23C-238F2A3DF928' } as const;

/**
 * The issue-5 multi-disk fixture as the probe records it, on two 10 GiB disks:
 *   sda: ESP (vfat, 256 MiB) · md0 member (6 GiB) · /srv btrfs (1.5 GiB: @srv the default, mounted
 *        by fstab without subvol=; @logs mounted nowhere) · /data jfs (1 GiB) · swap (512 MiB)
 *   sdb: md0 member (6 GiB)
 *   md0: RAID1, metadata 1.2, name fixture:0 → LVM PV → VG fxvg (4 MiB extents) → root (ext4, 3 GiB)
 *        and home (xfs, 2 GiB), 1016 MiB free.
 * The array size is mdadm's for 6 GiB members (5 MiB data offset), the VG's what pvcreate leaves of it.
 */
export function raidLvmFixture(options: { rootUsed?: number } = {}): Manifest {
  const rootUsed = options.rootUsed ?? 1200 * MiB;
  const sda: Disk = qemuGptDisk('sda', 10 * GiB, 'QM00001', { id: 'F1F1F1F1-0000-4000-8000-00000000000A', firstLba: 34, lastLba: 20971486 }, [
    { number: 1, path: '/dev/sda1', start: 2048, size: 256 * 2048, type: GPT.esp, uuid: 'F1F1F1F1-0001-4000-8000-00000000000A', name: 'esp' },
    { number: 2, path: '/dev/sda2', start: 257 * 2048, size: 6144 * 2048, type: GPT_STACK.raid, uuid: 'F1F1F1F1-0002-4000-8000-00000000000A', name: 'raid-a' },
    { number: 3, path: '/dev/sda3', start: 6401 * 2048, size: 1536 * 2048, type: GPT.linux, uuid: 'F1F1F1F1-0003-4000-8000-00000000000A', name: 'srv' },
    { number: 4, path: '/dev/sda4', start: 7937 * 2048, size: 1024 * 2048, type: GPT.linux, uuid: 'F1F1F1F1-0004-4000-8000-00000000000A', name: 'data' },
    { number: 5, path: '/dev/sda5', start: 8961 * 2048, size: 512 * 2048, type: GPT.swap, uuid: 'F1F1F1F1-0005-4000-8000-00000000000A', name: 'swap' },
  ]);
  const sdb: Disk = qemuGptDisk('sdb', 10 * GiB, 'QM00002', { id: 'F1F1F1F1-0000-4000-8000-00000000000B', firstLba: 34, lastLba: 20971486 }, [{ number: 1, path: '/dev/sdb1', start: 2048, size: 6144 * 2048, type: GPT_STACK.raid, uuid: 'F1F1F1F1-0001-4000-8000-00000000000B', name: 'raid-b' }]);
  const ids = {
    md: '5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b', pv: 'pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01', vg: 'vgFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02',
    root: 'lvRoot-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', home: 'lvHome-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF04',
    rootFs: '0a0a0a0a-1111-4222-8333-444444444401', homeFs: '0a0a0a0a-1111-4222-8333-444444444402', esp: 'FA7E-0001',
    srv: '0a0a0a0a-1111-4222-8333-444444444403', data: '0a0a0a0a-1111-4222-8333-444444444404', swap: '0a0a0a0a-1111-4222-8333-444444444405',
  };
  const mdBytes = 6139 * MiB;
  const layout: Layout = {
    ...emptyLayout('fixture'),
    disks: [sda, sdb],
    blockDevices: [
      { name: 'md0', path: '/dev/md0', type: 'raid1', size: mdBytes, parents: ['sda2', 'sdb1'] },
      { name: 'fxvg-root', path: '/dev/mapper/fxvg-root', type: 'lvm', size: 3 * GiB, parents: ['md0'] },
      { name: 'fxvg-home', path: '/dev/mapper/fxvg-home', type: 'lvm', size: 2 * GiB, parents: ['md0'] },
    ],
    md: [{
      device: '/dev/md0', name: 'fixture:0', level: 'raid1', uuid: ids.md, metadata: '1.2', size: mdBytes, raidDevices: 2,
      members: [{ device: '/dev/sda2', slot: 0, state: 'active sync' }, { device: '/dev/sdb1', slot: 1, state: 'active sync' }],
    }],
    lvm: {
      pvs: [{ device: '/dev/md0', vg: 'fxvg', uuid: ids.pv, size: 6136 * MiB }],
      vgs: [{ name: 'fxvg', uuid: ids.vg, extentSize: 4 * MiB, size: 6136 * MiB, free: 1016 * MiB }],
      lvs: [
        { name: 'root', vg: 'fxvg', uuid: ids.root, size: 3 * GiB, path: '/dev/fxvg/root', segtype: 'linear', stripes: 1, segments: [{ start: 0, size: 3 * GiB, segtype: 'linear', stripes: 1, devices: ['/dev/md0(0)'] }] },
        { name: 'home', vg: 'fxvg', uuid: ids.home, size: 2 * GiB, path: '/dev/fxvg/home', segtype: 'linear', stripes: 1, segments: [{ start: 0, size: 2 * GiB, segtype: 'linear', stripes: 1, devices: ['/dev/md0(768)'] }] },
      ],
    },
    filesystems: [
      { device: '/dev/mapper/fxvg-root', type: 'ext4', uuid: ids.rootFs, label: 'root', mountpoint: '/', mountOptions: 'errors=remount-ro', size: 3 * GiB, used: rootUsed, features: EXT4_FEATURES, mounts: [{ mountpoint: '/', options: 'errors=remount-ro' }] },
      { device: '/dev/mapper/fxvg-home', type: 'xfs', uuid: ids.homeFs, label: 'home', mountpoint: '/home', mountOptions: 'defaults', size: 2 * GiB, used: 300 * MiB, features: XFS_FEATURES, mounts: [{ mountpoint: '/home', options: 'defaults' }] },
      { device: '/dev/sda1', type: 'vfat', uuid: ids.esp, label: 'ESP', mountpoint: '/boot/efi', mountOptions: 'umask=0077', size: 256 * MiB, used: 5 * MiB, features: ['FAT32'], mounts: [{ mountpoint: '/boot/efi', options: 'umask=0077' }] },
      {
        device: '/dev/sda3', type: 'btrfs', uuid: ids.srv, label: 'srv', mountpoint: '/srv', mountOptions: 'defaults', size: 1536 * MiB, used: 200 * MiB,
        subvolumes: [{ id: 256, path: '@srv', isDefault: true }, { id: 257, path: '@logs', isDefault: false }],
        mounts: [{ mountpoint: '/srv', options: 'defaults' }],
      },
      { device: '/dev/sda4', type: 'jfs', uuid: ids.data, label: 'data', mountpoint: '/data', mountOptions: 'defaults', size: GiB, used: 100 * MiB, mounts: [{ mountpoint: '/data', options: 'defaults' }] },
    ],
    swaps: [{ device: '/dev/sda5', uuid: ids.swap, label: 'swap', size: 512 * MiB }],
    fstab: [
      { spec: `UUID=${ids.rootFs}`, file: '/', vfstype: 'ext4', mntops: 'errors=remount-ro', freq: 0, passno: 1 },
      { spec: '/dev/mapper/fxvg-home', file: '/home', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: `UUID=${ids.esp}`, file: '/boot/efi', vfstype: 'vfat', mntops: 'umask=0077', freq: 0, passno: 1 },
      { spec: `UUID=${ids.srv}`, file: '/srv', vfstype: 'btrfs', mntops: 'defaults', freq: 0, passno: 0 },
      { spec: `UUID=${ids.data}`, file: '/data', vfstype: 'jfs', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: `UUID=${ids.swap}`, file: 'none', vfstype: 'swap', mntops: 'sw', freq: 0, passno: 0 },
    ],
    bootloader: { firmware: 'uefi', kind: 'grub-efi', bootDisk: '/dev/sda1', espDevice: '/dev/sda1', efiLoaders: ['EFI/BOOT/BOOTX64.EFI', 'EFI/debian/grubx64.efi'] },
  };
  return manifestOf('fixture', layout, [
    archive('root', '/', '/dev/mapper/fxvg-root', 'ext4', rootUsed, { uuid: ids.rootFs, label: 'root' }),
    archive('boot-efi', '/boot/efi', '/dev/sda1', 'vfat', 5 * MiB, { uuid: ids.esp, label: 'ESP' }),
    archive('data', '/data', '/dev/sda4', 'jfs', 100 * MiB, { uuid: ids.data, label: 'data' }),
    archive('home', '/home', '/dev/mapper/fxvg-home', 'xfs', 300 * MiB, { uuid: ids.homeFs, label: 'home' }),
    archive('srv', '/srv', '/dev/sda3', 'btrfs', 200 * MiB, { uuid: ids.srv, label: 'srv', subvolume: '@srv' }),
    archive('srv@logs', '', '/dev/sda3', 'btrfs', 200 * MiB, { uuid: ids.srv, label: 'srv', subvolume: '@logs' }),
  ]);
}

/**
 * A BIOS server on two 20 GiB MBR disks, each: p1 (primary, bootable, type fd) a member of md0, a
 * RAID1 with 1.0 metadata holding /boot (ext4, 512 MiB); p2 extended; p5 (logical, fd) a member
 * of md1, a RAID1 (1.2) holding VG vg0 with root (ext4, 8 GiB) and swap (2 GiB); p6 (logical) a
 * 1 GiB scratch ext3 on sda, empty on sdb. GRUB is in the MBR of both disks.
 */
export function mbrRaidServer(): Manifest {
  const mbrDisk = (name: 'sda' | 'sdb', id: string): Disk => ({
    name, path: `/dev/${name}`, size: 20 * GiB, logicalSectorSize: 512, physicalSectorSize: 512,
    table: {
      type: 'dos', id, sectorSize: 512,
      partitions: [
        { number: 1, path: `/dev/${name}1`, start: 2048, size: 512 * 2048, type: 'fd', bootable: true, kind: 'primary' },
        { number: 2, path: `/dev/${name}2`, start: 513 * 2048, size: (20 * 1024 - 513) * 2048, type: '5', bootable: false, kind: 'extended' },
        { number: 5, path: `/dev/${name}5`, start: 514 * 2048, size: 16 * 1024 * 2048, type: 'fd', bootable: false, kind: 'logical' },
        { number: 6, path: `/dev/${name}6`, start: (514 + 16 * 1024 + 1) * 2048, size: 1024 * 2048, type: '83', bootable: false, kind: 'logical' },
      ],
    },
  });
  const ids = { boot: 'b0b0b0b0-1111-4222-8333-000000000001', root: 'b0b0b0b0-1111-4222-8333-000000000002', swap: 'b0b0b0b0-1111-4222-8333-000000000003', scratch: 'b0b0b0b0-1111-4222-8333-000000000004' };
  const layout: Layout = {
    ...emptyLayout('files2'),
    disks: [mbrDisk('sda', '0x0badc0de'), mbrDisk('sdb', '0x0badc0df')],
    md: [
      { device: '/dev/md0', name: 'files2:boot', level: 'raid1', uuid: '11111111:22222222:33333333:44444444', metadata: '1.0', size: 511 * MiB, raidDevices: 2, members: [{ device: '/dev/sda1', slot: 0 }, { device: '/dev/sdb1', slot: 1 }] },
      { device: '/dev/md1', name: 'files2:1', level: 'raid1', uuid: '55555555:66666666:77777777:88888888', metadata: '1.2', size: 16 * 1024 * MiB - 17 * MiB, raidDevices: 2, members: [{ device: '/dev/sda5', slot: 0 }, { device: '/dev/sdb5', slot: 1 }] },
    ],
    lvm: {
      pvs: [{ device: '/dev/md1', vg: 'vg0', uuid: 'pvMbr1-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01', size: 16 * 1024 * MiB - 20 * MiB }],
      vgs: [{ name: 'vg0', uuid: 'vgMbr1-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02', extentSize: 4 * MiB, size: 16 * 1024 * MiB - 20 * MiB, free: 6 * 1024 * MiB - 20 * MiB }],
      lvs: [
        { name: 'root', vg: 'vg0', uuid: 'lvMbrR-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', size: 8 * GiB, path: '/dev/vg0/root', segtype: 'linear', stripes: 1, segments: [{ start: 0, size: 8 * GiB, segtype: 'linear', stripes: 1, devices: ['/dev/md1(0)'] }] },
        { name: 'swap', vg: 'vg0', uuid: 'lvMbrS-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF04', size: 2 * GiB, path: '/dev/vg0/swap', segtype: 'linear', stripes: 1, segments: [{ start: 0, size: 2 * GiB, segtype: 'linear', stripes: 1, devices: ['/dev/md1(2048)'] }] },
      ],
    },
    filesystems: [
      { device: '/dev/md0', type: 'ext4', uuid: ids.boot, label: 'boot', mountpoint: '/boot', size: 511 * MiB, used: 120 * MiB, features: EXT4_FEATURES },
      { device: '/dev/mapper/vg0-root', type: 'ext4', uuid: ids.root, label: 'root', mountpoint: '/', size: 8 * GiB, used: 3 * GiB, features: EXT4_FEATURES },
      { device: '/dev/sda6', type: 'ext3', uuid: ids.scratch, label: 'scratch', mountpoint: '/scratch', size: GiB, used: 10 * MiB, features: ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'sparse_super', 'large_file'] },
    ],
    swaps: [{ device: '/dev/mapper/vg0-swap', uuid: ids.swap, size: 2 * GiB }],
    fstab: [
      { spec: '/dev/mapper/vg0-root', file: '/', vfstype: 'ext4', mntops: 'errors=remount-ro', freq: 0, passno: 1 },
      { spec: `UUID=${ids.boot}`, file: '/boot', vfstype: 'ext4', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: `UUID=${ids.scratch}`, file: '/scratch', vfstype: 'ext3', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: '/dev/mapper/vg0-swap', file: 'none', vfstype: 'swap', mntops: 'sw', freq: 0, passno: 0 },
    ],
    bootloader: { firmware: 'bios', kind: 'grub-pc', bootDisk: '/dev/sda' },
  };
  return manifestOf('files2', layout, [
    archive('root', '/', '/dev/mapper/vg0-root', 'ext4', 3 * GiB, { uuid: ids.root, label: 'root' }),
    archive('boot', '/boot', '/dev/md0', 'ext4', 120 * MiB, { uuid: ids.boot, label: 'boot' }),
    archive('scratch', '/scratch', '/dev/sda6', 'ext3', 10 * MiB, { uuid: ids.scratch, label: 'scratch' }),
  ]);
}

/**
 * The Debian VM with `n` 10 GiB data disks, each with one partition, the members of md0 at
 * `level` (chunk 512 KiB) holding xfs /srv (2 GiB used).
 */
export function dataArray(level: 'raid0' | 'raid5' | 'raid10' | 'raid6', n: number, layoutName?: string): Manifest {
  const m = debianVm();
  const letters = 'bcdefgh';
  const members: Array<{ device: string; slot: number }> = [];
  for (let i = 0; i < n; i++) {
    const name = `sd${letters[i]}`;
    m.layout.disks.push({
      name, path: `/dev/${name}`, size: 10 * GiB, logicalSectorSize: 512, physicalSectorSize: 512,
      table: {
        type: 'gpt', id: `D0D0D0D0-0000-4000-8000-00000000000${i}`, sectorSize: 512, firstLba: 34, lastLba: 20971486,
        partitions: [{ number: 1, path: `/dev/${name}1`, start: 2048, size: 20967424, type: GPT_STACK.raid, uuid: `D0D0D0D0-0001-4000-8000-00000000000${i}` }],
      },
    });
    members.push({ device: `/dev/${name}1`, slot: i });
  }
  const data = { raid0: n, raid5: n - 1, raid6: n - 2, raid10: n / 2 }[level];
  m.layout.md.push({
    device: '/dev/md0', name: 'debian-vm:srv', level, uuid: 'abcdef01:23456789:abcdef01:23456789', metadata: '1.2', chunkSize: 512 * 1024,
    ...(layoutName ? { layout: layoutName } : {}), size: Math.floor(data * 10200) * MiB, raidDevices: n, members,
  });
  m.layout.filesystems.push({ device: '/dev/md0', type: 'xfs', uuid: 'cafe0000-1111-4222-8333-444455556666', label: 'srv', mountpoint: '/srv', size: data * 10 * GiB, used: 2 * GiB, features: XFS_FEATURES });
  m.layout.fstab.push({ spec: 'UUID=cafe0000-1111-4222-8333-444455556666', file: '/srv', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 2 });
  m.archives.push(archive('srv', '/srv', '/dev/md0', 'xfs', 2 * GiB, { uuid: 'cafe0000-1111-4222-8333-444455556666', label: 'srv' }));
  return m;
}

/**
 * The Debian VM with a VG "data" over two 10 GiB disks (one PV partition each, 4 MiB extents):
 * LV "db" striped over both (2 stripes of 64 KiB, 8 GiB, ext4 /var/lib/db) and LV "logs" linear
 * on the second (4 GiB, xfs /var/log/app).
 */
export function stripedVolumes(): Manifest {
  const m = debianVm();
  for (const [i, name] of ['sdb', 'sdc'].entries()) {
    m.layout.disks.push({
      name, path: `/dev/${name}`, size: 10 * GiB, logicalSectorSize: 512, physicalSectorSize: 512,
      table: {
        type: 'gpt', id: `E0E0E0E0-0000-4000-8000-00000000000${i}`, sectorSize: 512, firstLba: 34, lastLba: 20971486,
        partitions: [{ number: 1, path: `/dev/${name}1`, start: 2048, size: 20967424, type: GPT_STACK.lvm, uuid: `E0E0E0E0-0001-4000-8000-00000000000${i}` }],
      },
    });
  }
  const pvBytes = 20967424 * 512 - MiB;
  m.layout.lvm = {
    pvs: [
      { device: '/dev/sdb1', vg: 'data', uuid: 'pvDat1-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01', size: pvBytes },
      { device: '/dev/sdc1', vg: 'data', uuid: 'pvDat2-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02', size: pvBytes },
    ],
    vgs: [{ name: 'data', uuid: 'vgDat0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', extentSize: 4 * MiB, size: 2 * 2558 * 4 * MiB, free: (2 * 2558 * 4 - 12 * 1024) * MiB }],
    lvs: [
      {
        name: 'db', vg: 'data', uuid: 'lvDb00-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF04', size: 8 * GiB, path: '/dev/data/db', segtype: 'striped', stripes: 2, stripeSize: 64 * 1024,
        segments: [{ start: 0, size: 8 * GiB, segtype: 'striped', stripes: 2, stripeSize: 64 * 1024, devices: ['/dev/sdb1(0)', '/dev/sdc1(0)'] }],
      },
      { name: 'logs', vg: 'data', uuid: 'lvLog0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF05', size: 4 * GiB, path: '/dev/data/logs', segtype: 'linear', stripes: 1, segments: [{ start: 0, size: 4 * GiB, segtype: 'linear', stripes: 1, devices: ['/dev/sdc1(1024)'] }] },
    ],
  };
  m.layout.filesystems.push(
    { device: '/dev/mapper/data-db', type: 'ext4', uuid: 'dbdbdbdb-1111-4222-8333-444455556666', mountpoint: '/var/lib/db', size: 8 * GiB, used: 3 * GiB, features: EXT4_FEATURES },
    { device: '/dev/mapper/data-logs', type: 'xfs', uuid: '10910910-1111-4222-8333-444455556666', mountpoint: '/var/log/app', size: 4 * GiB, used: GiB, features: XFS_FEATURES },
  );
  m.archives.push(
    archive('var-lib-db', '/var/lib/db', '/dev/mapper/data-db', 'ext4', 3 * GiB, { uuid: 'dbdbdbdb-1111-4222-8333-444455556666' }),
    archive('var-log-app', '/var/log/app', '/dev/mapper/data-logs', 'xfs', GiB, { uuid: '10910910-1111-4222-8333-444455556666' }),
  );
  return m;
}
