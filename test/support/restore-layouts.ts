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
  const sda: Disk = {
    name: 'sda', path: '/dev/sda', size: 20 * GiB, logicalSectorSize: 512, physicalSectorSize: 512, model: 'QEMU HARDDISK', serial: 'QM00001',
    table: {
      type: 'gpt', id: '6F1C3A52-8B1E-4D2B-9C55-0E3B1D7A4F10', sectorSize: 512, firstLba: 2048, lastLba: 41943006,
      partitions: [
        { number: 1, path: '/dev/sda1', start: 2048, size: 2048, type: GPT.biosBoot, uuid: '0B5E2D1A-1111-4A8B-9C3D-5E6F7A8B9C01', name: 'bios_grub' },
        { number: 2, path: '/dev/sda2', start: 4096, size: 1048576, type: GPT.esp, uuid: '0B5E2D1A-2222-4A8B-9C3D-5E6F7A8B9C02', name: 'EFI System' },
        { number: 3, path: '/dev/sda3', start: 1052672, size: 37748736, type: GPT.linux, uuid: '0B5E2D1A-3333-4A8B-9C3D-5E6F7A8B9C03', name: 'root', attrs: 'LegacyBIOSBootable' },
        { number: 4, path: '/dev/sda4', start: 38801408, size: 3139584, type: GPT.swap, uuid: '0B5E2D1A-4444-4A8B-9C3D-5E6F7A8B9C04', name: 'swap' },
      ],
    },
  };
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
  m.layout.disks.push({
    name: 'sdb', path: '/dev/sdb', size: 10 * GiB, logicalSectorSize: 512, physicalSectorSize: 512, model: 'QEMU HARDDISK', serial: 'QM00002',
    table: {
      type: 'gpt', id: 'A3C1E5F7-2B4D-4F6A-8C0E-1D3F5A7B9C2E', sectorSize: 512, firstLba: 2048, lastLba: 20971486,
      partitions: [{ number: 1, path: '/dev/sdb1', start: 2048, size: 20967424, type: GPT.linux, uuid: 'A3C1E5F7-0001-4F6A-8C0E-1D3F5A7B9C2E', name: 'srv' }],
    },
  });
  m.layout.filesystems.push({ device: '/dev/sdb1', type: 'xfs', uuid: '77aa88bb-99cc-4ddd-8eee-ff0011223344', label: 'srv', mountpoint: '/srv', size: 10 * GiB, used: 3 * GiB, features: XFS_FEATURES });
  m.layout.fstab.push({ spec: 'UUID=77aa88bb-99cc-4ddd-8eee-ff0011223344', file: '/srv', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 2 });
  m.archives.push(archive('srv', '/srv', '/dev/sdb1', 'xfs', 3 * GiB, { uuid: '77aa88bb-99cc-4ddd-8eee-ff0011223344', label: 'srv' }));
  return m;
}

export function disk(path: string, bytes: number, extra: Partial<TargetDisk> = {}): TargetDisk {
  return { path, size: bytes, logicalSectorSize: 512, physicalSectorSize: 512, ...extra };
}
