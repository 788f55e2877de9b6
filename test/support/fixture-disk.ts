import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetFirmware } from '../../images/restore/plan.js';
import { fixtureCacheDir } from './fixture-cache.js';
import { buildGuestImage } from './guest-image/builder.js';
import { copyImage } from './guest-image/cache-entry.js';
import { FIXTURE_USER, dataTree, identityFiles, identityMarker, machineIdentity, rootExamples, seedFile } from './guest-image/fixture-files.js';
import type { HostFilesystem } from './guest-image/host-disk.js';
import { fixtureUuid, tableId, vfatVolumeId } from './guest-image/ids.js';
import { MiB, partUuid } from './guest-image/layout.js';
import type { FilesystemSpec, GuestImageSpec } from './guest-image/spec.js';
import { hashTrees } from './guest-image/trees.js';

export { fixtureUuid };

/**
 * A bootable source disk for end-to-end restore tests. Its boot depends only on what a restore
 * must bring back: the partition table, filesystems with their UUIDs and labels, the files in them,
 * and GRUB (in the MBR gap / BIOS boot partition, or on the ESP). Its /sbin/init prints markers and
 * a hash of its files on the serial console; the builder computes the same hash from the files it
 * wrote, so a test compares what the guest prints against `expected`.
 *
 * The fixture is data (fixtureDiskSpec) made by the one builder (guest-image/builder.ts) on this
 * host, from installed Debian packages only (linux-image-cloud-amd64, busybox, grub-pc-bin,
 * grub-efi-amd64-bin, mtools, dosfstools, xfsprogs), cached by a key of its inputs, and handed out
 * as a private sparse copy so a test may boot, archive or overwrite it freely.
 */

/** The firmware a fixture disk boots with: the planner's TargetFirmware, one definition. */
export type Firmware = TargetFirmware;
export type TableType = 'gpt' | 'dos';
export type PartitionRole = 'bios-boot' | 'esp' | 'root' | 'data' | 'swap';

export interface FixtureOptions {
  /** Where the disk image copy goes (a test's own directory). */
  dir: string;
  firmware: Firmware;
  /** Partition table; default gpt. UEFI needs gpt. */
  table?: TableType;
  /** Disk size; default 1 GiB, at least 640 MiB (XFS wants 300 MB for /data). */
  sizeBytes?: number;
  /** Names the fixture: its marker, its filesystem UUIDs (derived from it) and the image file. Default `<firmware>-<table>`. */
  name?: string;
  /** Build cache; default fixtureCacheDir() (the checkout's .cache/test-fixtures, or $LIFEBOAT_FIXTURE_CACHE). */
  cacheDir?: string;
}

/** A filesystem the host makes: ext4, XFS, vfat (mtools fills it) or swap. */
export type FixtureFilesystem = HostFilesystem;

export interface FixturePartition {
  number: number;
  role: PartitionRole;
  startBytes: number;
  sizeBytes: number;
  /** GPT type GUID (upper case) or MBR type byte in hex ("83"). */
  type: string;
  /** GPT only: the partition's own GUID (upper case) and name. */
  partUuid?: string;
  partName?: string;
  /** Where /etc/fstab mounts it ("none" for swap); absent for the BIOS boot partition. */
  mountpoint?: string;
  fs?: FixtureFilesystem;
}

export interface FixtureMount {
  mountpoint: string;
  fstype: string;
  uuid: string;
}

export interface FixtureDisk {
  /** The image file (raw), a private copy in options.dir. */
  path: string;
  name: string;
  firmware: Firmware;
  table: TableType;
  sizeBytes: number;
  /** GPT disk GUID or MBR disk identifier (0x…), as sfdisk reports it. */
  diskId: string;
  partitions: FixturePartition[];
  /** The /etc/fstab written into the root filesystem. */
  fstab: string;
  kernel: { version: string; cmdline: string };
  /** True when the image came from the build cache. */
  cached: boolean;
  expected: {
    /** The first line the guest prints: `FIXTURE-BOOTED name=<name>`. */
    marker: string;
    /** What FIXTURE-HASH must say. */
    hash: string;
    /** The FIXTURE-MOUNT lines, in /etc/fstab order. */
    mounts: FixtureMount[];
    /** What FIXTURE-SWAP must say. */
    swap: string;
    /** What FIXTURE-IDENTITY says of the source machine (a plain restore keeps it, a clone must not). */
    identity: FixtureIdentity;
  };
}

export interface FixtureIdentity {
  hostname: string;
  machineId: string;
  /** The first 16 hex digits of the sha256 of the ed25519 host public key, or "none". */
  sshKey: string;
}

export interface FixtureMarkers {
  /** The name in FIXTURE-BOOTED, or null when the fixture never got that far. */
  booted: string | null;
  mounts: FixtureMount[];
  hash: string | null;
  swap: string | null;
  identity: FixtureIdentity | null;
  /** FIXTURE-ERROR lines: what the initramfs or init could not do. */
  errors: string[];
}

/** Parses the fixture's serial console output (firmware and kernel noise, CR/LF line ends, escape sequences allowed). */
export function readMarkers(serialLog: string): FixtureMarkers {
  const markers: FixtureMarkers = { booted: null, mounts: [], hash: null, swap: null, identity: null, errors: [] };
  for (const raw of serialLog.split(/\r?\n|\r/)) {
    const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    let m: RegExpMatchArray | null;
    if ((m = line.match(/FIXTURE-BOOTED name=(\S+)/))) markers.booted = m[1]!;
    else if ((m = line.match(/FIXTURE-MOUNT (\S+) (\S+) (\S*)/))) markers.mounts.push({ mountpoint: m[1]!, fstype: m[2]!, uuid: m[3]! });
    else if ((m = line.match(/FIXTURE-HASH ([0-9a-f]{64})/))) markers.hash = m[1]!;
    else if ((m = line.match(/FIXTURE-SWAP (\S+)/))) markers.swap = m[1]!;
    else if ((m = line.match(/FIXTURE-IDENTITY hostname=(\S*) machine-id=(\S*) sshkey=(\S+)/))) markers.identity = { hostname: m[1]!, machineId: m[2]!, sshKey: m[3]! };
    else if ((m = line.match(/FIXTURE-ERROR (.*)$/))) markers.errors.push(m[1]!.trim());
  }
  return markers;
}

// ---------------------------------------------------------------------------------------------
// Layout: fixed sizes except /data, which takes the rest; identifiers derived from the name.

const DEFAULT_SIZE = 1024 * MiB;
const ROOT_MIB = 192;
const SWAP_MIB = 64;
const ESP_MIB = 64;
const DATA_MIN_MIB = 300; // mkfs.xfs refuses smaller filesystems
const GPT_TYPES = {
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  root: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  data: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
} as const;
const MBR_TYPES = { root: '83', data: '83', swap: '82' } as const;
const GPT_NAMES = { 'bios-boot': 'BIOS boot', esp: 'EFI system', root: 'root', data: 'data', swap: 'swap' } as const;
const LABELS = { esp: 'FXESP', root: 'fxroot', data: 'fxdata', swap: 'fxswap' } as const;
const MOUNTPOINTS = { esp: '/boot/efi', root: '/', data: '/data', swap: 'none' } as const;
const FSTYPES = { esp: 'vfat', root: 'ext4', data: 'xfs', swap: 'swap' } as const;

interface ResolvedOptions {
  dir: string;
  firmware: Firmware;
  table: TableType;
  sizeBytes: number;
  name: string;
  cacheDir: string;
}

function resolveOptions(options: FixtureOptions): ResolvedOptions {
  const table = options.table ?? 'gpt';
  const name = options.name ?? `${options.firmware}-${table}`;
  const sizeBytes = options.sizeBytes ?? DEFAULT_SIZE;
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(name)) {
    throw new Error(`fixture name '${name}' is not usable: it names files and appears in the boot marker; use lower-case letters, digits and dashes (at most 40)`);
  }
  if (options.firmware === 'uefi' && table !== 'gpt') {
    throw new Error(`fixture '${name}': UEFI with a ${table} table is not built; use table 'gpt' for UEFI`);
  }
  const minMiB = planPartitions(options.firmware, table, Number.MAX_SAFE_INTEGER).fixedMiB + DATA_MIN_MIB + 1;
  if (sizeBytes % MiB !== 0 || sizeBytes < minMiB * MiB) {
    throw new Error(`fixture '${name}': sizeBytes ${sizeBytes} must be a whole number of MiB and at least ${minMiB} MiB (/data is XFS, which needs ${DATA_MIN_MIB} MB)`);
  }
  return { dir: options.dir, firmware: options.firmware, table, sizeBytes, name, cacheDir: options.cacheDir ?? fixtureCacheDir() };
}

function planPartitions(firmware: Firmware, table: TableType, diskMiB: number): { fixedMiB: number; parts: Array<{ role: PartitionRole; startMiB: number; sizeMiB: number }> } {
  const roles: PartitionRole[] = table === 'gpt' ? [firmware === 'uefi' ? 'esp' : 'bios-boot', 'root', 'data', 'swap'] : ['root', 'data', 'swap'];
  const fixed: Record<PartitionRole, number> = { 'bios-boot': 1, esp: ESP_MIB, root: ROOT_MIB, data: 0, swap: SWAP_MIB };
  // 1 MiB before the first partition (alignment, GRUB's core.img on MBR disks) and 1 MiB after the last (backup GPT).
  const fixedMiB = 2 + roles.reduce((sum, r) => sum + fixed[r], 0);
  let start = 1;
  const parts = roles.map((role) => {
    const sizeMiB = role === 'data' ? diskMiB - fixedMiB : fixed[role];
    const p = { role, startMiB: start, sizeMiB };
    start += sizeMiB;
    return p;
  });
  return { fixedMiB, parts };
}

function describeLayout(o: { name: string; firmware: Firmware; table: TableType; sizeBytes: number }): { diskId: string; partitions: FixturePartition[] } {
  const { parts } = planPartitions(o.firmware, o.table, o.sizeBytes / MiB);
  const diskId = tableId('lifeboat-fixture', o.name, o.table, 'disk');
  const partitions = parts.map((p, i): FixturePartition => {
    const part: FixturePartition = {
      number: i + 1,
      role: p.role,
      startBytes: p.startMiB * MiB,
      sizeBytes: p.sizeMiB * MiB,
      type: o.table === 'gpt' ? GPT_TYPES[p.role] : MBR_TYPES[p.role as keyof typeof MBR_TYPES],
    };
    if (o.table === 'gpt') {
      part.partUuid = partUuid(o.name, p.role);
      part.partName = GPT_NAMES[p.role];
    }
    if (p.role !== 'bios-boot') {
      part.mountpoint = MOUNTPOINTS[p.role];
      part.fs = { type: FSTYPES[p.role], uuid: p.role === 'esp' ? vfatVolumeId('lifeboat-fixture', o.name) : fixtureUuid(o.name, p.role), label: LABELS[p.role] };
    }
    return part;
  });
  return { diskId, partitions };
}

function expectedMounts(partitions: FixturePartition[]): FixtureMount[] {
  const order: PartitionRole[] = ['root', 'esp', 'data'];
  return order.flatMap((role) => partitions.filter((p) => p.role === role)).map((p) => ({ mountpoint: p.mountpoint!, fstype: p.fs!.type, uuid: p.fs!.uuid }));
}

// ---------------------------------------------------------------------------------------------
// The hash both sides compute (tree_hash in guest-image/init/fixture-lib.sh in the guest).

/** The hash FIXTURE-HASH prints: over / and /data together (each given as the directory it is mounted on here); see hashTrees. */
export async function treeHash(trees: { root: string; data?: string }): Promise<string> {
  return hashTrees([{ mountpoint: '/', dir: trees.root }, ...(trees.data ? [{ mountpoint: '/data', dir: trees.data }] : [])]);
}

// ---------------------------------------------------------------------------------------------
// The fixture as data, and its build.

/** Modules the initramfs loads (with their dependencies): disk drivers for virtio, virtio-scsi and PIIX IDE (the cloud kernel has no AHCI), and the filesystems /sbin/init mounts. */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ata_piix', 'xfs', 'vfat', 'nls_cp437', 'nls_ascii'];
const INITRAMFS_APPLETS = ['sh', 'mount', 'insmod', 'findfs', 'switch_root', 'poweroff', 'usleep', 'cat', 'ls', 'tr', 'echo'];
const ROOT_APPLETS = ['sh', 'mount', 'umount', 'swapon', 'findfs', 'blkid', 'poweroff', 'cat', 'echo', 'awk', 'sed', 'grep', 'cut', 'paste',
  'sort', 'find', 'xargs', 'stat', 'sha256sum', 'ls', 'dmesg', 'uname', 'mkdir', 'sleep', 'readlink'];
/** fstab by UUID for /, the ESP and swap, by LABEL for /data: a restore must bring back both. */
const FSTAB: Record<string, { spec: 'UUID' | 'LABEL'; options: string }> = {
  root: { spec: 'UUID', options: 'defaults,errors=remount-ro' },
  esp: { spec: 'UUID', options: 'umask=0077' },
  data: { spec: 'LABEL', options: 'defaults' },
  swap: { spec: 'UUID', options: 'sw' },
};

/** The single-disk fixture as a guest-image spec, made on the host. */
export function fixtureDiskSpec(o: { name: string; firmware: Firmware; table: TableType; sizeBytes: number }): GuestImageSpec {
  const { diskId, partitions } = describeLayout(o);
  const filesystems = (['root', 'esp', 'data', 'swap'] as const).flatMap((role): FilesystemSpec[] => {
    const p = partitions.find((x) => x.role === role);
    if (!p?.fs) return [];
    const fstab = FSTAB[role]!;
    return [{ role, ...p.fs, device: `/dev/vda${p.number}`, mountpoint: p.mountpoint!, fstabSpec: `${fstab.spec}=${fstab.spec === 'UUID' ? p.fs.uuid : p.fs.label}`, options: fstab.options }];
  });
  const n = o.name;
  return {
    name: n, description: 'test fixture', firmware: o.firmware, build: 'host',
    disks: [{
      device: 'vda', sizeMiB: o.sizeBytes / MiB, table: o.table, id: diskId,
      parts: partitions.map((p) => ({ role: p.role, startMiB: p.startBytes / MiB, sizeMiB: p.sizeBytes / MiB, type: p.type, ...(p.partName ? { name: p.partName } : {}), ...(o.table === 'dos' && p.role === 'root' ? { bootable: true } : {}) })),
    }],
    raid: [], lvm: null, btrfs: null,
    filesystems,
    trees: [
      {
        mountpoint: '/',
        files: [
          ...identityFiles(n, 'Lifeboat test fixture', [FIXTURE_USER]),
          { path: 'etc/motd', text: `Lifeboat test fixture ${n}\n` },
          ...rootExamples(n, `This disk is the Lifeboat fixture '${n}'.\n`),
          { path: 'home/user/notes.txt', text: 'private notes of uid 1000\n', mode: 0o600, owner: 1000 },
          { path: 'home/user', dir: true, owner: 1000 },
          seedFile(n),
        ],
      },
      { mountpoint: '/data', files: dataTree(n, 'carries user.lifeboat.fixture on XFS\n') },
    ],
    hashes: [['/', '/data']],
    boot: {
      init: 'sbin-init.sh', kernel: 'cloud', storageTools: false,
      initramfsModules: INITRAMFS_MODULES, initramfsApplets: INITRAMFS_APPLETS, rootApplets: ROOT_APPLETS,
      grub: { comment: 'GRUB configuration of the Lifeboat test fixture: finds the root filesystem by UUID, as a restore must keep it.', title: 'Lifeboat fixture', insmod: [], efiModules: [], pcModules: [] },
    },
  };
}

interface CacheRecord {
  disk: Omit<FixtureDisk, 'path' | 'cached'>;
}

/** Builds (or takes from the cache) a bootable fixture disk and copies it, sparse, into options.dir. */
export async function buildFixtureDisk(options: FixtureOptions): Promise<FixtureDisk> {
  const o = resolveOptions(options);
  const { diskId, partitions } = describeLayout(o);
  const { dir, record, cached } = await buildGuestImage<CacheRecord>(fixtureDiskSpec(o), {
    cacheDir: o.cacheDir,
    family: `${o.name}-${o.firmware}-${o.table}-`,
    sources: [fileURLToPath(import.meta.url)],
    record: (b) => ({
      disk: {
        name: o.name, firmware: o.firmware, table: o.table, sizeBytes: o.sizeBytes, diskId, partitions, fstab: b.fstab, kernel: b.kernel,
        expected: { marker: `FIXTURE-BOOTED name=${o.name}`, hash: b.hashes['/']!, mounts: expectedMounts(partitions), swap: partitions.find((p) => p.role === 'swap')!.fs!.uuid, identity: identityMarker(machineIdentity(o.name)) },
      },
    }),
  });
  await mkdir(o.dir, { recursive: true });
  const path = await copyImage(join(dir, 'vda.img'), join(o.dir, `${o.name}.img`));
  return { ...record.disk, path, cached };
}
