import { createHash } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, readlink, rename, symlink, truncate, open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTool } from '../../core/run-tool.js';
import type { TargetFirmware } from '../../images/restore/plan.js';
import { fixtureCacheDir } from './fixture-cache.js';
import { buildInitramfs, grubConfig, grubEfiImage, kernelCmdline } from './guest-image/boot.js';
import { cachedEntry, copyImage, writeRecord } from './guest-image/cache-entry.js';
import { cacheKey, findHostInputs, type HostInputs } from './guest-image/host.js';
import { Undo, attachLoop, makeFilesystem, mountAt, waitForNode, type HostFilesystem } from './guest-image/host-disk.js';
import { fixtureUuid, tableId, vfatVolumeId } from './guest-image/ids.js';
import { copyInto, installBusybox, put, seededBytes } from './guest-image/staging.js';

export { fixtureUuid };

/**
 * A bootable source disk for end-to-end restore tests. Its boot depends only on what a restore
 * must bring back: the partition table, filesystems with their UUIDs and labels, the files in them,
 * and GRUB (in the MBR gap / BIOS boot partition, or on the ESP). Its /sbin/init prints markers and
 * a hash of its files on the serial console; the builder computes the same hash from the files it
 * wrote, so a test compares what the guest prints against `expected`.
 *
 * Built from installed Debian packages only (linux-image-cloud-amd64, busybox, grub-pc-bin,
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
  };
}

export interface FixtureMarkers {
  /** The name in FIXTURE-BOOTED, or null when the fixture never got that far. */
  booted: string | null;
  mounts: FixtureMount[];
  hash: string | null;
  swap: string | null;
  /** FIXTURE-ERROR lines: what the initramfs or init could not do. */
  errors: string[];
}

/** Parses the fixture's serial console output (firmware and kernel noise, CR/LF line ends, escape sequences allowed). */
export function readMarkers(serialLog: string): FixtureMarkers {
  const markers: FixtureMarkers = { booted: null, mounts: [], hash: null, swap: null, errors: [] };
  for (const raw of serialLog.split(/\r?\n|\r/)) {
    const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    let m: RegExpMatchArray | null;
    if ((m = line.match(/FIXTURE-BOOTED name=(\S+)/))) markers.booted = m[1]!;
    else if ((m = line.match(/FIXTURE-MOUNT (\S+) (\S+) (\S*)/))) markers.mounts.push({ mountpoint: m[1]!, fstype: m[2]!, uuid: m[3]! });
    else if ((m = line.match(/FIXTURE-HASH ([0-9a-f]{64})/))) markers.hash = m[1]!;
    else if ((m = line.match(/FIXTURE-SWAP (\S+)/))) markers.swap = m[1]!;
    else if ((m = line.match(/FIXTURE-ERROR (.*)$/))) markers.errors.push(m[1]!.trim());
  }
  return markers;
}

// ---------------------------------------------------------------------------------------------
// Layout: fixed sizes except /data, which takes the rest; identifiers derived from the name.

const MiB = 1024 * 1024;
const SECTOR = 512;
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

function describeLayout(o: ResolvedOptions): { diskId: string; partitions: FixturePartition[] } {
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
      part.partUuid = fixtureUuid(o.name, `part-${p.role}`).toUpperCase();
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

function sfdiskScript(o: ResolvedOptions, diskId: string, partitions: FixturePartition[]): string {
  const lines = [`label: ${o.table}`, `label-id: ${diskId}`, 'unit: sectors', ''];
  for (const p of partitions) {
    const fields = [`start=${p.startBytes / SECTOR}`, `size=${p.sizeBytes / SECTOR}`, `type=${p.type}`];
    if (p.partUuid) fields.push(`uuid=${p.partUuid}`, `name="${p.partName}"`);
    if (o.table === 'dos' && p.role === 'root') fields.push('bootable');
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

/** fstab by UUID for /, the ESP and swap, by LABEL for /data: a restore must bring back both. */
function renderFstab(name: string, partitions: FixturePartition[]): string {
  const byRole = (role: PartitionRole) => partitions.find((p) => p.role === role);
  const lines = [`# /etc/fstab of the Lifeboat test fixture '${name}'`, '# <file system>  <mount point>  <type>  <options>  <dump>  <pass>'];
  const root = byRole('root')!.fs!;
  lines.push(`UUID=${root.uuid}  /  ext4  defaults,errors=remount-ro  0  1`);
  const esp = byRole('esp')?.fs;
  if (esp) lines.push(`UUID=${esp.uuid}  /boot/efi  vfat  umask=0077  0  2`);
  lines.push(`LABEL=${byRole('data')!.fs!.label}  /data  xfs  defaults  0  2`);
  lines.push(`UUID=${byRole('swap')!.fs!.uuid}  none  swap  sw  0  0`);
  return `${lines.join('\n')}\n`;
}

function expectedMounts(partitions: FixturePartition[]): FixtureMount[] {
  const order: PartitionRole[] = ['root', 'esp', 'data'];
  return order.flatMap((role) => partitions.filter((p) => p.role === role)).map((p) => ({ mountpoint: p.mountpoint!, fstype: p.fs!.type, uuid: p.fs!.uuid }));
}

// ---------------------------------------------------------------------------------------------
// The hash both sides compute. The guest's version is tree_hash in guest-image/init/fixture-lib.sh.

/**
 * sha256 over the sorted lines `F <path> <size> <mode> <uid> <gid> <links> <sha256>` for every
 * regular file and `L <path> <target>` for every symlink of the root filesystem and of /data
 * (each given as the directory it is mounted on here). Left out: /proc /sys /dev /run /tmp, GRUB's
 * files under /boot/grub other than grub.cfg and the boot loaders under /boot/efi/EFI, which every
 * restore rewrites.
 */
export async function treeHash(trees: { root: string; data?: string }): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, shown: string): Promise<void> => {
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry);
      const guestPath = shown === '/' ? `/${entry}` : `${shown}/${entry}`;
      if (shown === '/' && ['proc', 'sys', 'dev', 'run', 'tmp'].includes(entry)) continue;
      const st = await lstat(path);
      if (st.isDirectory()) await walk(path, guestPath);
      else if (st.isSymbolicLink()) lines.push(`L ${guestPath} ${await readlink(path)}`);
      else if (st.isFile()) {
        if ((guestPath.startsWith('/boot/grub/') && guestPath !== '/boot/grub/grub.cfg') || guestPath.startsWith('/boot/efi/EFI/')) continue;
        const sum = createHash('sha256').update(await readFile(path)).digest('hex');
        lines.push(`F ${guestPath} ${st.size} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.gid} ${st.nlink} ${sum}`);
      }
    }
  };
  await walk(trees.root, '/');
  if (trees.data) await walk(trees.data, '/data');
  lines.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return createHash('sha256').update(lines.map((l) => `${l}\n`).join('')).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Host inputs: the cloud kernel, busybox and the scripts baked into the fixture.

const initDir = fileURLToPath(new URL('../../../test/support/guest-image/init/', import.meta.url));
/** Modules the initramfs loads (with their dependencies): disk drivers for virtio, virtio-scsi and PIIX IDE (the cloud kernel has no AHCI), and the filesystems /sbin/init mounts. */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ata_piix', 'xfs', 'vfat', 'nls_cp437', 'nls_ascii'];
const INITRAMFS_APPLETS = ['sh', 'mount', 'insmod', 'findfs', 'switch_root', 'poweroff', 'usleep', 'cat', 'ls', 'tr', 'echo'];
const ROOT_APPLETS = ['sh', 'mount', 'umount', 'swapon', 'findfs', 'blkid', 'poweroff', 'cat', 'echo', 'awk', 'sed', 'grep', 'cut', 'paste',
  'sort', 'find', 'xargs', 'stat', 'sha256sum', 'ls', 'dmesg', 'uname', 'mkdir', 'sleep', 'readlink'];
const INIT_FILES = ['sbin-init.sh', 'fixture-lib.sh', 'initramfs-init.sh'];

/** What a cached image depends on: options, the host's kernel, busybox and GRUB, and this builder's own code. */
async function fixtureKey(o: ResolvedOptions, host: HostInputs): Promise<string> {
  const grubDir = o.firmware === 'uefi' ? '/usr/lib/grub/x86_64-efi' : '/usr/lib/grub/i386-pc';
  return cacheKey({ firmware: o.firmware, table: o.table, sizeBytes: o.sizeBytes, name: o.name, kernel: host.kernelVersion },
    [fileURLToPath(import.meta.url), ...INIT_FILES.map((f) => join(initDir, f))], host, [join(grubDir, 'modinfo.sh')]);
}

// ---------------------------------------------------------------------------------------------
// Building.

async function populateRoot(root: string, o: ResolvedOptions, host: HostInputs, fstab: string, grubCfg: string, initrd: Buffer): Promise<void> {
  for (const d of ['proc', 'sys', 'dev', 'run', 'data', 'mnt', 'root', 'boot/grub', 'usr/share/fixture', 'var/lib/fixture', 'home/user']) {
    await mkdir(join(root, d), { recursive: true });
  }
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  if (o.firmware === 'uefi') await mkdir(join(root, 'boot/efi'), { recursive: true });

  await installBusybox(root, host.busyboxClosure, ROOT_APPLETS);
  await put(join(root, 'sbin/init'), await readFile(join(initDir, 'sbin-init.sh')), 0o755);
  await put(join(root, 'usr/lib/fixture/fixture-lib.sh'), await readFile(join(initDir, 'fixture-lib.sh')));
  await put(join(root, 'etc/fstab'), fstab);
  await put(join(root, 'etc/fixture-name'), `${o.name}\n`);
  await put(join(root, 'etc/hostname'), `fixture-${o.name}\n`);
  await put(join(root, 'etc/os-release'), 'PRETTY_NAME="Lifeboat test fixture"\nNAME="Lifeboat fixture"\nID=lifeboat-fixture\nVERSION_ID=1\n');
  await put(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:fixture user:/home/user:/bin/sh\n');
  await put(join(root, 'etc/group'), 'root:x:0:\nuser:x:1000:\n');
  await put(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nuser:*:19000:0:99999:7:::\n', 0o640);

  await copyInto(root, host.vmlinuz, 0o644); // lands as /boot/vmlinuz-<version>, as on the host
  await put(join(root, 'boot', `initrd.img-${host.kernelVersion}`), initrd);
  await put(join(root, 'boot/grub/grub.cfg'), grubCfg);
  await symlink(`boot/vmlinuz-${host.kernelVersion}`, join(root, 'vmlinuz'));
  await symlink(`boot/initrd.img-${host.kernelVersion}`, join(root, 'initrd.img'));

  // Things a faithful restore keeps: links, owners, modes, xattrs, a file capability.
  await put(join(root, 'etc/motd'), `Lifeboat test fixture ${o.name}\n`);
  await put(join(root, 'usr/share/fixture/readme.txt'), `This disk is the Lifeboat fixture '${o.name}'.\n`);
  await link(join(root, 'usr/share/fixture/readme.txt'), join(root, 'usr/share/fixture/readme-hardlink.txt'));
  await symlink('readme.txt', join(root, 'usr/share/fixture/readme-symlink.txt'));
  await put(join(root, 'usr/share/fixture/with-xattr.txt'), 'carries user.lifeboat.fixture\n');
  await runTool('setfattr', ['-n', 'user.lifeboat.fixture', '-v', o.name, join(root, 'usr/share/fixture/with-xattr.txt')]);
  await put(join(root, 'usr/local/bin/setuid-example'), '#!/bin/sh\nid\n', 0o4755);
  await put(join(root, 'usr/local/bin/capability-example'), '#!/bin/sh\necho raw sockets\n', 0o755);
  await runTool('setcap', ['cap_net_raw+ep', join(root, 'usr/local/bin/capability-example')]);
  await put(join(root, 'home/user/notes.txt'), 'private notes of uid 1000\n', 0o600);
  await chown(join(root, 'home/user/notes.txt'), 1000, 1000);
  await chown(join(root, 'home/user'), 1000, 1000);
  await put(join(root, 'var/lib/fixture/seed.bin'), seededBytes(`${o.name}:seed`, 256 * 1024));
}

async function populateData(data: string, o: ResolvedOptions): Promise<void> {
  await put(join(data, 'blobs/a.bin'), seededBytes(`${o.name}:a`, 3 * MiB));
  await put(join(data, 'blobs/b.bin'), seededBytes(`${o.name}:b`, 1 * MiB));
  await link(join(data, 'blobs/b.bin'), join(data, 'blobs/b-hardlink.bin'));
  await symlink('blobs/b.bin', join(data, 'latest'));
  await put(join(data, 'empty'), '');
  await put(join(data, 'docs/with-xattr.txt'), 'carries user.lifeboat.fixture on XFS\n');
  await runTool('setfattr', ['-n', 'user.lifeboat.fixture', '-v', `${o.name}-data`, join(data, 'docs/with-xattr.txt')]);
  await put(join(data, 'docs/owned.txt'), 'group-readable, owned by uid 1000\n', 0o640);
  await chown(join(data, 'docs/owned.txt'), 1000, 1000);
}

const mtoolsEnv = { MTOOLS_SKIP_CHECK: '1' };

/** GRUB for UEFI: one EFI binary with the modules built in and a config that finds root by UUID. */
async function installGrubEfi(work: string, espDev: string, rootUuid: string): Promise<void> {
  const efi = join(work, 'grubx64.efi');
  await grubEfiImage(work, efi, rootUuid);
  const i = ['-i', espDev];
  await runTool('mmd', [...i, '::/EFI', '::/EFI/BOOT', '::/EFI/debian'], { env: mtoolsEnv, purpose: 'make the ESP directories' });
  await runTool('mcopy', [...i, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: mtoolsEnv, purpose: 'copy GRUB to the removable path of the ESP' });
  await runTool('mcopy', [...i, efi, '::/EFI/debian/grubx64.efi'], { env: mtoolsEnv, purpose: 'copy GRUB to the ESP' });
}

async function installGrubBios(rootMount: string, loop: string): Promise<void> {
  await runTool('grub-install', ['--target=i386-pc', `--boot-directory=${join(rootMount, 'boot')}`,
    '--modules=part_gpt part_msdos ext2 search_fs_uuid', '--locales=', '--fonts=', '--themes=', loop], { purpose: 'install GRUB for BIOS on the fixture' });
}

interface CacheRecord {
  disk: Omit<FixtureDisk, 'path' | 'cached'>;
}

async function buildInto(o: ResolvedOptions, host: HostInputs, work: string, entry: string): Promise<void> {
  const undo = new Undo();
  try {
    const { diskId, partitions } = describeLayout(o);
    const fstab = renderFstab(o.name, partitions);
    const rootFs = partitions.find((p) => p.role === 'root')!.fs!;
    const cmdline = kernelCmdline(rootFs.uuid);

    const image = join(work, 'disk.img');
    await (await open(image, 'w')).close();
    await truncate(image, o.sizeBytes);
    await runTool('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], { input: sfdiskScript(o, diskId, partitions), purpose: 'partition the fixture image' });

    const loop = await attachLoop(image, undo);
    const node = (p: FixturePartition) => `${loop}p${p.number}`;
    for (const p of partitions) await waitForNode(node(p));
    for (const p of partitions) if (p.fs) await makeFilesystem(node(p), p.fs);

    const rootMount = join(work, 'root');
    const dataMount = join(work, 'data');
    await mountAt(node(partitions.find((p) => p.role === 'root')!), rootMount, undo);
    await mountAt(node(partitions.find((p) => p.role === 'data')!), dataMount, undo);

    const initrd = await buildInitramfs(work, {
      busyboxClosure: host.busyboxClosure, applets: INITRAMFS_APPLETS, modules: host.modules, init: await readFile(join(initDir, 'initramfs-init.sh')),
    });
    const grubCfg = grubConfig({
      comment: 'GRUB configuration of the Lifeboat test fixture: finds the root filesystem by UUID, as a restore must keep it.',
      title: 'Lifeboat fixture', insmod: [], rootUuid: rootFs.uuid, kernelVersion: host.kernelVersion, cmdline,
    });
    await populateRoot(rootMount, o, host, fstab, grubCfg, initrd);
    await populateData(dataMount, o);
    if (o.firmware === 'uefi') await installGrubEfi(work, node(partitions.find((p) => p.role === 'esp')!), rootFs.uuid);
    else await installGrubBios(rootMount, loop);

    const hash = await treeHash({ root: rootMount, data: dataMount });
    await undo.run();

    const record: CacheRecord = {
      disk: {
        name: o.name, firmware: o.firmware, table: o.table, sizeBytes: o.sizeBytes, diskId, partitions, fstab,
        kernel: { version: host.kernelVersion, cmdline },
        expected: { marker: `FIXTURE-BOOTED name=${o.name}`, hash, mounts: expectedMounts(partitions), swap: partitions.find((p) => p.role === 'swap')!.fs!.uuid },
      },
    };
    await rename(image, join(entry, 'disk.img'));
    await writeRecord(entry, record);
  } finally {
    await undo.run();
  }
}

/** Builds (or takes from the cache) a bootable fixture disk and copies it, sparse, into options.dir. */
export async function buildFixtureDisk(options: FixtureOptions): Promise<FixtureDisk> {
  const o = resolveOptions(options);
  const host = await findHostInputs({ kernel: 'cloud', modules: INITRAMFS_MODULES, storageTools: false });
  const family = `${o.name}-${o.firmware}-${o.table}-`;
  const { dir, record, cached } = await cachedEntry<CacheRecord>(o.cacheDir, family, await fixtureKey(o, host), (work, entry) => buildInto(o, host, work, entry));
  await mkdir(o.dir, { recursive: true });
  const path = await copyImage(join(dir, 'disk.img'), join(o.dir, `${o.name}.img`));
  return { ...record.disk, path, cached };
}
