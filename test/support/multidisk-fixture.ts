import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, link, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTool } from '../../core/run-tool.js';
import type { TargetFirmware } from '../../images/restore/plan.js';
import { fixtureCacheDir } from './fixture-cache.js';
import type { FixtureMount } from './fixture-disk.js';
import { buildInitramfs, grubConfig, grubEfiImage, kernelCmdline } from './guest-image/boot.js';
import { cachedEntry, copyImage, writeRecord } from './guest-image/cache-entry.js';
import { cacheKey, findHostInputs, type HostInputs } from './guest-image/host.js';
import { fixtureUuid, lvmUuid, mdUuid, tableId, vfatVolumeId } from './guest-image/ids.js';
import { FIXED_MTIME, copyInto, installBusybox, put, seededBytes, setXattr } from './guest-image/staging.js';
import { cachedRescueSystem, runInGuest } from './guest-run.js';
import { sparseFile } from './loop-devices.js';

/**
 * A bootable multi-disk machine for the storage-stack end-to-end tests (issue 5), built inside a
 * QEMU guest because this host's kernel has no md RAID, no device-mapper, no vfat and no JFS.
 *
 * Variant 'raid-lvm' (UEFI), two GPT disks:
 *   disk 1: ESP (vfat) · md RAID1 member · /srv (Btrfs, subvolumes @srv = default and @logs) · /data (JFS) · swap
 *   disk 2: md RAID1 member
 *   md0 (RAID1, metadata 1.2, a name and a known UUID) → LVM PV → VG fxvg → LVs root (ext4, /) and home (XFS, /home)
 *   GRUB for x86_64-efi on the ESP (one image with mdraid1x and lvm built in), kernel and initrd on the root LV.
 * Variant 'mbr-logical' (BIOS), one MBR disk: / on a primary partition, an extended partition with
 *   /data (ext3), /srv (JFS) and swap as logical partitions; GRUB for i386-pc in the MBR gap.
 * Variant 'raid5-stripe' (BIOS), three GPT disks, each with a BIOS boot partition and GRUB:
 *   md0 (RAID5 over the three, chunk 64 KiB) and md1 (RAID10 near=2 over the three, chunk 64 KiB),
 *   both with names that are not numbers ("fixture:system", "fixture:data"), are the two PVs of
 *   VG stvg: LV root (ext4, /, kernel and GRUB files included) linear on md0, LV srv (ext2, /srv)
 *   striped across md0 and md1; swap on a partition of the first disk.
 *
 * The machine runs Debian's full kernel (linux-image-amd64: the cloud kernel has no JFS) with its own
 * small initramfs (busybox, mdadm, lvm: assemble by UUID from mdadm.conf, vgchange -ay, mount root,
 * switch_root). Its /sbin/init prints what readMultiDiskMarkers() reads: every mount with the UUID
 * of what is mounted, the swap, each md array's state, each LV's size and a hash of each
 * filesystem's files, then powers off.
 *
 * The host stages every filesystem's tree as a tar, the kernel, the initramfs and the GRUB image;
 * a rescue system built with the full kernel runs the generated run.sh in a guest with the blank
 * disks attached: partition, mdadm --create, pvcreate/vgcreate/lvcreate, mkfs with known UUIDs and
 * labels, btrfs subvolumes, extract, GRUB, hash, and capture real tool outputs (mdadm, lvm, lsblk,
 * blkid, btrfs) into the cache entry's captures/ for the layout parser tests. Cached by a key of its
 * inputs (not of the rescue system, whose tools only make the filesystems); handed out as private
 * sparse copies.
 */

export type MultiDiskVariant = 'raid-lvm' | 'mbr-logical' | 'raid5-stripe';
export type MultiDiskFirmware = TargetFirmware;

export interface MultiDiskOptions {
  /** Where the disk image copies go (a test's own directory). */
  dir: string;
  firmware: MultiDiskFirmware;
  variant: MultiDiskVariant;
  /** Names the fixture (marker, derived UUIDs, files); default `md-<variant>`. */
  name?: string;
  /** Build cache; default fixtureCacheDir() (the checkout's .cache/test-fixtures, or $LIFEBOAT_FIXTURE_CACHE). */
  cacheDir?: string;
  /** A rescue system built with the full kernel, if the caller has one; else one kept in the cache (built once). */
  rescueDir?: string;
}

export interface MultiDiskPartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  /** GPT type GUID (upper case) or MBR type ("83", "5", "82"). */
  type: string;
  role: string;
  partUuid?: string;
  partName?: string;
  kind?: 'primary' | 'extended' | 'logical';
  bootable?: boolean;
}

export interface MultiDiskTable {
  /** The guest's device name (vda, vdb). */
  device: string;
  sizeBytes: number;
  table: 'gpt' | 'dos';
  id: string;
  partitions: MultiDiskPartition[];
}

export interface MultiDiskFilesystem {
  role: string;
  type: 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'vfat' | 'jfs' | 'swap';
  uuid: string;
  label: string;
  /** Its device in the build guest: /dev/vda3, /dev/fxvg/root. */
  device: string;
  /** "none" for swap. */
  mountpoint: string;
  fstabSpec: string;
  options: string;
  /** btrfs: the subvolume mounted there (absent: the default subvolume). */
  subvolume?: string;
}

export interface MultiDiskRaid {
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

export interface MultiDiskLvm {
  vg: string;
  vgUuid: string;
  extentBytes: number;
  pvs: Array<{ device: string; uuid: string }>;
  lvs: Array<{ name: string; uuid: string; bytes: number }>;
}

export interface RaidMarker {
  name: string;
  level: string;
  state: string;
  /** mdstat's member map, e.g. [UU] or [U_]. */
  members: string;
  degraded: number;
}

export interface MultiDiskExpected {
  /** `FIXTURE-BOOTED name=<name>` */
  marker: string;
  /** The FIXTURE-MOUNT lines in /etc/fstab order. */
  mounts: FixtureMount[];
  swap: string;
  /** FIXTURE-HASH per mountpoint. */
  hashes: Record<string, string>;
  raid: Array<{ name: string; level: string; members: string }>;
  /** FIXTURE-LV sizes: "fxvg/root" → bytes. */
  lvs: Record<string, number>;
  /** The md arrays each LV's mapping sits on ("stvg/srv" → ["md0", "md1"]). */
  lvDevices: Record<string, string[]>;
}

export interface MultiDiskFixture {
  name: string;
  variant: MultiDiskVariant;
  firmware: MultiDiskFirmware;
  /** Private copies of the disk images, in the order they are attached (vda, vdb). */
  disks: string[];
  tables: MultiDiskTable[];
  raid: MultiDiskRaid[];
  lvm: MultiDiskLvm | null;
  filesystems: MultiDiskFilesystem[];
  fstab: string;
  kernel: { version: string; cmdline: string };
  /** Real tool outputs captured in the build guest (mdadm, lvm, lsblk, blkid, btrfs, sfdisk). */
  capturesDir: string;
  /** Wall time of the build guest, when this call built the fixture. */
  buildSeconds: number | null;
  cached: boolean;
  expected: MultiDiskExpected;
}

export interface MultiDiskMarkers {
  booted: string | null;
  mounts: FixtureMount[];
  swap: string | null;
  raid: RaidMarker[];
  lvs: Record<string, number>;
  /** From FIXTURE-LV's on=: the block devices under each LV's mapping, sorted. */
  lvDevices: Record<string, string[]>;
  hashes: Record<string, string>;
  done: boolean;
  errors: string[];
}

/** Parses the fixture's serial console (firmware and kernel noise, CR/LF, escape sequences allowed). */
export function readMultiDiskMarkers(serial: string): MultiDiskMarkers {
  const m: MultiDiskMarkers = { booted: null, mounts: [], swap: null, raid: [], lvs: {}, lvDevices: {}, hashes: {}, done: false, errors: [] };
  for (const raw of serial.split(/\r?\n|\r/)) {
    const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    let r: RegExpMatchArray | null;
    if ((r = line.match(/FIXTURE-BOOTED name=(\S+)/))) m.booted = r[1]!;
    else if ((r = line.match(/FIXTURE-MOUNT (\S+) (\S+) (\S*)/))) m.mounts.push({ mountpoint: r[1]!, fstype: r[2]!, uuid: r[3]! });
    else if ((r = line.match(/FIXTURE-SWAP (\S+)/))) m.swap = r[1]!;
    else if ((r = line.match(/FIXTURE-RAID (\S+) (\S+) (\S+) (\S+) degraded=(\d+)/))) m.raid.push({ name: r[1]!, level: r[2]!, state: r[3]!, members: r[4]!, degraded: Number(r[5]) });
    else if ((r = line.match(/FIXTURE-LV (\S+) (\d+)(?: on=(\S+))?/))) {
      m.lvs[r[1]!] = Number(r[2]);
      if (r[3]) m.lvDevices[r[1]!] = r[3].split(',').filter(Boolean).sort();
    }
    else if ((r = line.match(/FIXTURE-HASH (\/\S*) ([0-9a-f]{64})/))) m.hashes[r[1]!] = r[2]!;
    else if (line.includes('FIXTURE-DONE')) m.done = true;
    else if ((r = line.match(/FIXTURE-ERROR (.*)$/))) m.errors.push(r[1]!.trim());
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// The layouts.

const MiB = 1024 * 1024;
const GPT = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  raid: 'A19D880F-05FC-4D3B-A006-743F0F84911E',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
} as const;

interface PartSpec {
  role: string;
  startMiB: number;
  sizeMiB: number;
  type: string;
  name?: string;
  kind?: 'primary' | 'extended' | 'logical';
  bootable?: boolean;
}

interface DiskSpec {
  device: string;
  sizeMiB: number;
  table: 'gpt' | 'dos';
  parts: PartSpec[];
}

interface FixtureSpec {
  disks: DiskSpec[];
  raid: Array<Omit<MultiDiskRaid, 'uuid'> & { uuid: string }>;
  lvm: {
    vg: string;
    extentMiB: number;
    pvs: Array<{ device: string; uuid: string }>;
    /** on: the PVs to allocate from (default: any); stripes/stripeKiB: a striped LV. */
    lvs: Array<{ name: string; sizeMiB: number; on?: string[]; stripes?: number; stripeKiB?: number }>;
  } | null;
  /** GRUB modules a BIOS core image needs to read /boot (beyond partition tables and ext2). */
  grubPcModules?: string[];
  filesystems: MultiDiskFilesystem[];
  btrfs: { device: string; subvolumes: string[]; defaultSubvolume: string } | null;
  /** Which host-staged tree goes onto which mountpoint. */
  trees: Array<{ tree: string; mountpoint: string }>;
}

function raidLvmSpec(name: string): FixtureSpec {
  const u = (role: string) => fixtureUuid(name, role);
  const fs = (f: MultiDiskFilesystem) => f;
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
      { tree: 'root', mountpoint: '/' }, { tree: 'esp', mountpoint: '/boot/efi' }, { tree: 'home', mountpoint: '/home' },
      { tree: 'srv', mountpoint: '/srv' }, { tree: 'srv-logs', mountpoint: '/srv/logs' }, { tree: 'data', mountpoint: '/data' },
    ],
  };
}

function mbrLogicalSpec(name: string): FixtureSpec {
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
    trees: [{ tree: 'root', mountpoint: '/' }, { tree: 'data', mountpoint: '/data' }, { tree: 'srv-jfs', mountpoint: '/srv' }],
  };
}

function raid5StripeSpec(name: string): FixtureSpec {
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
    trees: [{ tree: 'root', mountpoint: '/' }, { tree: 'data', mountpoint: '/srv' }],
  };
}

const SPECS: Record<MultiDiskVariant, { firmware: MultiDiskFirmware; spec: (name: string) => FixtureSpec }> = {
  'raid-lvm': { firmware: 'uefi', spec: raidLvmSpec },
  'mbr-logical': { firmware: 'bios', spec: mbrLogicalSpec },
  'raid5-stripe': { firmware: 'bios', spec: raid5StripeSpec },
};

interface Resolved {
  dir: string;
  firmware: MultiDiskFirmware;
  variant: MultiDiskVariant;
  name: string;
  cacheDir: string;
  rescueDir?: string;
  spec: FixtureSpec;
}

function resolve(o: MultiDiskOptions): Resolved {
  const name = o.name ?? `md-${o.variant}`;
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(name)) {
    throw new Error(`multi-disk fixture name '${name}' is not usable: use lower-case letters, digits and dashes (at most 40)`);
  }
  const wanted = SPECS[o.variant].firmware;
  if (wanted !== o.firmware) {
    throw new Error(`multi-disk fixture '${name}': variant ${o.variant} is built for ${wanted} only (asked for ${o.firmware})`);
  }
  return {
    dir: o.dir, firmware: o.firmware, variant: o.variant, name,
    cacheDir: o.cacheDir ?? fixtureCacheDir(),
    ...(o.rescueDir ? { rescueDir: o.rescueDir } : {}),
    spec: SPECS[o.variant].spec(name),
  };
}

function renderFstab(name: string, spec: FixtureSpec): string {
  const lines = [`# /etc/fstab of the Lifeboat multi-disk fixture '${name}'`, '# <file system>  <mount point>  <type>  <options>  <dump>  <pass>'];
  for (const f of spec.filesystems) {
    const pass = f.mountpoint === '/' ? 1 : f.type === 'swap' || f.type === 'btrfs' ? 0 : 2;
    lines.push(`${f.fstabSpec}  ${f.mountpoint}  ${f.type}  ${f.options}  0  ${pass}`);
  }
  return `${lines.join('\n')}\n`;
}

function partUuid(name: string, role: string): string {
  return fixtureUuid(name, `part-${role}`).toUpperCase();
}

function sfdiskScript(name: string, disk: DiskSpec): string {
  const lines = [`label: ${disk.table}`, `label-id: ${tableId('lifeboat-multidisk', name, disk.table, `disk-${disk.device}`)}`, 'unit: sectors', ''];
  for (const p of disk.parts) {
    const fields = [`start=${p.startMiB * 2048}`, `size=${p.sizeMiB * 2048}`, `type=${p.type}`];
    if (disk.table === 'gpt') fields.push(`uuid=${partUuid(name, p.role)}`, `name="${p.name ?? p.role}"`);
    if (p.bootable) fields.push('bootable');
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// The build script run in the guest (helpers in guest-image/init/build-lib.sh).

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function mkfsCommand(f: MultiDiskFilesystem): string[] {
  switch (f.type) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      // Inode tables written now, so no lazy-init thread writes behind the build's back.
      return [`mkfs.${f.type} -q -F -U ${f.uuid} -L ${f.label} -E lazy_itable_init=0${f.type === 'ext2' ? '' : ',lazy_journal_init=0'} ${f.device}`];
    case 'xfs':
      return [`mkfs.xfs -q -f -m uuid=${f.uuid} -L ${f.label} ${f.device}`];
    case 'btrfs':
      return [`mkfs.btrfs -q -f -U ${f.uuid} -L ${f.label} ${f.device}`];
    case 'vfat':
      return [`mkfs.vfat -F 32 -i ${f.uuid.replace('-', '')} -n ${f.label} ${f.device} >/dev/null`];
    case 'jfs':
      // mkfs.jfs has no UUID option; jfs_tune sets it.
      return [`mkfs.jfs -q -L ${f.label} ${f.device} >/dev/null`, `jfs_tune -U ${f.uuid} ${f.device} >/dev/null`];
    case 'swap':
      return [`mkswap -U ${f.uuid} -L ${f.label} ${f.device} >/dev/null`];
  }
}

function buildScript(o: Resolved): string {
  const s = o.spec;
  const L: string[] = [
    '#!/bin/sh',
    `# Builds the multi-disk fixture '${o.name}' (${o.variant}); written by test/support/multidisk-fixture.ts.`,
    'set -eu',
    '. ./build-lib.sh',
    'step "kernel modules"',
    'modprobe -a md_mod raid1 raid456 raid10 dm_mod ext4 xfs btrfs jfs vfat nls_cp437 nls_ascii',
    'mkdir -p /run/lvm /run/mdadm /run/lock/lvm',
  ];
  for (const d of s.disks) {
    L.push(`step "partition /dev/${d.device}"`, `sfdisk --quiet /dev/${d.device} < disks/${d.device}.sfdisk`);
    d.parts.forEach((p, i) => {
      const number = p.kind === 'logical' ? 5 + d.parts.filter((x, j) => j < i && x.kind === 'logical').length : i + 1;
      if (p.kind !== 'extended') L.push(`wait_node /dev/${d.device}${number}`);
    });
  }
  for (const md of s.raid) {
    // --assume-clean: the members are fresh zeroed disks, so there is nothing to resync.
    L.push(`step "md ${md.device}"`,
      `mdadm --create ${md.device} --run --metadata=${md.metadata} --level=${md.level.replace('raid', '')} --raid-devices=${md.members.length}` +
        `${md.chunkKiB ? ` --chunk=${md.chunkKiB}` : ''}${md.layout ? ` --layout=${md.layout}` : ''} --name=${md.name} --uuid=${md.uuid} --assume-clean ${md.members.join(' ')}`);
  }
  if (s.lvm) {
    const v = s.lvm;
    L.push(`step "LVM ${v.vg}"`, ...v.pvs.map((pv) => `pvcreate --uuid ${pv.uuid} --norestorefile ${pv.device}`),
      `vgcreate -s ${v.extentMiB}M ${v.vg} ${v.pvs.map((pv) => pv.device).join(' ')}`);
    for (const lv of v.lvs) {
      const stripes = lv.stripes ? ` -i ${lv.stripes} -I ${lv.stripeKiB ?? 64}k` : '';
      L.push(`lvcreate -y -n ${lv.name} -L ${lv.sizeMiB}M${stripes} ${v.vg}${lv.on ? ` ${lv.on.join(' ')}` : ''}`);
    }
    L.push('vgmknodes');
  }
  const made = new Set<string>();
  for (const f of s.filesystems) {
    if (made.has(f.device)) continue;
    made.add(f.device);
    L.push(`step "mkfs ${f.type} on ${f.device}"`, ...mkfsCommand(f));
  }
  if (s.btrfs) {
    const b = s.btrfs;
    L.push('step "btrfs subvolumes"', 'mkdir -p /mnt/btrfs-top', `mount -o subvolid=5 ${b.device} /mnt/btrfs-top`);
    for (const sv of b.subvolumes) L.push(`btrfs -q subvolume create /mnt/btrfs-top/${sv}`);
    L.push(`btrfs subvolume set-default /mnt/btrfs-top/${b.defaultSubvolume}`);
  }
  L.push('step "mount and fill the filesystems"');
  for (const f of s.filesystems) {
    if (f.type === 'swap') continue;
    const options = f.options.split(',').filter((x) => x !== 'defaults' && x !== 'errors=remount-ro').join(',');
    L.push(`mount_at ${f.device} ${f.mountpoint}${options ? ` ${q(options)}` : ''}`);
    const tree = s.trees.find((t) => t.mountpoint === f.mountpoint);
    if (tree) L.push(f.type === 'vfat' ? `extract_fat ${tree.tree}.tar ${f.mountpoint}` : `extract ${tree.tree}.tar ${f.mountpoint}`);
  }
  if (o.firmware === 'uefi') {
    L.push('step "GRUB for UEFI on the ESP"', 'mkdir -p "$TARGET/boot/efi/EFI/BOOT" "$TARGET/boot/efi/EFI/debian"',
      'cp grub/grubx64.efi "$TARGET/boot/efi/EFI/BOOT/BOOTX64.EFI"', 'cp grub/grubx64.efi "$TARGET/boot/efi/EFI/debian/grubx64.efi"');
  } else {
    // Every disk that has a BIOS boot partition gets GRUB (the array's disks each boot alone); else the first disk's MBR gap.
    const grubDisks = s.disks.filter((d) => d.parts.some((p) => p.type === GPT.biosBoot)).map((d) => d.device);
    const modules = ['part_msdos', 'part_gpt', 'ext2', 'search_fs_uuid', ...(s.grubPcModules ?? [])].join(' ');
    L.push('step "GRUB for BIOS"');
    for (const d of grubDisks.length > 0 ? grubDisks : [s.disks[0]!.device]) {
      L.push(`grub-install --target=i386-pc --boot-directory="$TARGET/boot" --modules='${modules}' --locales= --fonts= --themes= /dev/${d}`);
    }
  }
  L.push('sync', 'step "hashes"', 'mount -t tmpfs -o mode=1777 tmpfs "$TARGET/tmp"');
  for (const f of s.filesystems) if (f.type !== 'swap') L.push(`hash_mount ${f.mountpoint}`);
  L.push('umount "$TARGET/tmp"');

  L.push('step "capture tool outputs"',
    'capture lsblk.json lsblk -J -b -O',
    'capture blkid-export.txt blkid -c /dev/null -o export',
    'capture findmnt.json findmnt -J -b -o SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,UUID,LABEL,PARTUUID,SIZE,USED,AVAIL');
  for (const d of s.disks) L.push(`capture sfdisk-${d.device}.json sfdisk --json /dev/${d.device}`);
  for (const md of s.raid) {
    const n = md.device.split('/').pop()!;
    L.push(`capture mdadm-detail-${n}.txt mdadm --detail ${md.device}`, `capture mdadm-export-${n}.txt mdadm --detail --export ${md.device}`,
      `capture mdadm-examine-${md.members[0]!.split('/').pop()}.txt mdadm --examine ${md.members[0]}`, 'capture mdstat.txt cat /proc/mdstat');
  }
  if (s.lvm) {
    L.push('capture lvm-fullreport.json lvm fullreport --reportformat json --units b --nosuffix',
      'capture lvs-segments.json lvs -a --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size,segtype,stripes,stripe_size,seg_start_pe,seg_size_pe,devices',
      `vgcfgbackup -f "$OUT/captures/vgcfgbackup-${s.lvm.vg}.txt" ${s.lvm.vg} >/dev/null`);
  }
  if (s.btrfs) {
    L.push('capture btrfs-subvolume-list-top.txt btrfs subvolume list -a -p /mnt/btrfs-top',
      'capture btrfs-get-default-top.txt btrfs subvolume get-default /mnt/btrfs-top',
      'capture btrfs-subvolume-list-srv.txt btrfs subvolume list -a -p "$TARGET/srv"',
      'umount /mnt/btrfs-top');
  }
  L.push('capture versions.txt sh -c \'mdadm --version 2>&1; lvm version; btrfs --version; sfdisk --version; uname -r\'');

  L.push('step "unmount and stop"');
  for (const f of [...s.filesystems].reverse()) if (f.type !== 'swap') L.push(`umount "$TARGET${f.mountpoint === '/' ? '' : f.mountpoint}"`);
  if (s.lvm) L.push(`vgchange -a n ${s.lvm.vg}`);
  for (const md of s.raid) L.push(`mdadm --stop ${md.device}`);
  L.push('sync', 'echo ok > "$OUT/done"', 'step done', '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Host inputs: the full kernel, busybox, mdadm, lvm and the scripts.

const initDir = fileURLToPath(new URL('../../../test/support/guest-image/init/', import.meta.url));
const INIT_FILES = ['initramfs-init.sh', 'sbin-init-stacks.sh', 'fixture-lib.sh', 'build-lib.sh'];
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'md_mod', 'raid1', 'raid456', 'raid10', 'dm_mod', 'crc32c_generic', 'ext4', 'xfs', 'btrfs', 'jfs', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8'];
const INITRAMFS_APPLETS = ['sh', 'mount', 'insmod', 'findfs', 'switch_root', 'poweroff', 'usleep', 'cat', 'ls', 'tr', 'echo', 'grep', 'mkdir'];
const ROOT_APPLETS = ['sh', 'mount', 'umount', 'swapon', 'findfs', 'blkid', 'poweroff', 'cat', 'echo', 'awk', 'sed', 'grep', 'cut', 'paste',
  'sort', 'find', 'xargs', 'stat', 'sha256sum', 'ls', 'dmesg', 'uname', 'mkdir', 'sleep', 'readlink', 'rm'];

/** What a cached fixture depends on: its variant and name, the host's kernel, tools and GRUB, the builder's code and scripts. */
async function fixtureKey(o: Resolved, host: HostInputs): Promise<string> {
  return cacheKey({ variant: o.variant, firmware: o.firmware, name: o.name, kernel: host.kernelVersion },
    [fileURLToPath(import.meta.url), ...INIT_FILES.map((f) => join(initDir, f))], host, ['/usr/lib/grub/x86_64-efi/modinfo.sh', '/usr/lib/grub/i386-pc/modinfo.sh']);
}

// ---------------------------------------------------------------------------------------------
// Staging the trees on the host.

function fixtureGrubConfig(o: Resolved, rootUuid: string, kernelVersion: string, cmdline: string): string {
  const stacks = o.variant === 'raid-lvm' ? ['part_gpt', 'mdraid1x', 'lvm'] : o.variant === 'raid5-stripe' ? ['part_gpt', 'mdraid1x', 'raid5rec', 'lvm'] : [];
  return grubConfig({
    comment: `GRUB configuration of the Lifeboat multi-disk fixture '${o.name}': root found by UUID${o.spec.lvm ? ` on an LV of a VG on md ${o.spec.raid.map((r) => r.level.toUpperCase()).join(' and ')}` : ''}.`,
    title: 'Lifeboat multi-disk fixture', insmod: [...stacks, 'ext2'], rootUuid, kernelVersion, cmdline,
  });
}

async function fixtureInitramfs(work: string, o: Resolved, host: HostInputs): Promise<Buffer> {
  const files: Record<string, string> = {};
  if (o.spec.raid.length) {
    const arrays = o.spec.raid.map((md) => `ARRAY ${md.device} metadata=${md.metadata} UUID=${md.uuid}`);
    // HOMEHOST <ignore>: the array is ours whatever host name the restore gave it.
    files['etc/mdadm/mdadm.conf'] = ['# the fixture\'s arrays, by UUID', 'DEVICE partitions', 'HOMEHOST <ignore>', ...arrays, ''].join('\n');
  }
  files['etc/lvm/lvm.conf'] = 'devices {\n  obtain_device_list_from_udev = 0\n}\nactivation {\n  udev_sync = 0\n  udev_rules = 0\n}\n';
  return buildInitramfs(work, {
    busyboxClosure: host.busyboxClosure, applets: INITRAMFS_APPLETS, hostFiles: host.storageClosure, modules: host.modules,
    init: await readFile(join(initDir, 'initramfs-init.sh')), dirs: ['run', 'etc/lvm'], files,
  });
}

async function stageRoot(root: string, o: Resolved, host: HostInputs, fstab: string, grubCfg: string, initrd: Buffer): Promise<void> {
  const mountpoints = o.spec.filesystems.map((f) => f.mountpoint).filter((m) => m.startsWith('/') && m !== '/' && !m.startsWith('/srv/'));
  for (const d of ['proc', 'sys', 'dev', 'run', 'mnt', 'root', 'boot/grub', 'usr/share/fixture', 'usr/lib/fixture', 'var/lib/fixture', ...mountpoints.map((m) => m.slice(1))]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  await installBusybox(root, host.busyboxClosure, ROOT_APPLETS);
  await put(join(root, 'sbin/init'), await readFile(join(initDir, 'sbin-init-stacks.sh')), 0o755);
  await put(join(root, 'usr/lib/fixture/fixture-lib.sh'), await readFile(join(initDir, 'fixture-lib.sh')));
  await put(join(root, 'etc/fstab'), fstab);
  await put(join(root, 'etc/fixture-name'), `${o.name}\n`);
  await put(join(root, 'etc/hostname'), `fixture-${o.name}\n`);
  await put(join(root, 'etc/os-release'), 'PRETTY_NAME="Lifeboat multi-disk fixture"\nNAME="Lifeboat fixture"\nID=lifeboat-fixture\nVERSION_ID=1\n');
  await put(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:fixture user:/home/user:/bin/sh\nsrv:x:1001:1001:service:/srv:/bin/sh\n');
  await put(join(root, 'etc/group'), 'root:x:0:\nuser:x:1000:\nsrv:x:1001:\n');
  await put(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nuser:*:19000:0:99999:7:::\nsrv:*:19000:0:99999:7:::\n', 0o640);
  if (o.spec.raid.length) {
    // What a real system with this layout carries, though the fixture's own initramfs has its own copy.
    const arrays = o.spec.raid.map((md) => `ARRAY ${md.device} metadata=${md.metadata} UUID=${md.uuid} name=${md.name}`);
    await put(join(root, 'etc/mdadm/mdadm.conf'), ['DEVICE partitions', 'HOMEHOST <ignore>', ...arrays, ''].join('\n'));
  }
  await copyInto(root, host.vmlinuz, 0o644);
  await put(join(root, 'boot', `initrd.img-${host.kernelVersion}`), initrd);
  await put(join(root, 'boot/grub/grub.cfg'), grubCfg);
  await symlink(`boot/vmlinuz-${host.kernelVersion}`, join(root, 'vmlinuz'));
  await symlink(`boot/initrd.img-${host.kernelVersion}`, join(root, 'initrd.img'));

  await put(join(root, 'usr/share/fixture/readme.txt'), `This machine is the Lifeboat multi-disk fixture '${o.name}'.\n`);
  await link(join(root, 'usr/share/fixture/readme.txt'), join(root, 'usr/share/fixture/readme-hardlink.txt'));
  await symlink('readme.txt', join(root, 'usr/share/fixture/readme-symlink.txt'));
  await put(join(root, 'usr/share/fixture/with-xattr.txt'), 'carries user.lifeboat.fixture\n');
  await setXattr(join(root, 'usr/share/fixture/with-xattr.txt'), o.name);
  await put(join(root, 'usr/local/bin/setuid-example'), '#!/bin/sh\nid\n', 0o4755);
  await put(join(root, 'usr/local/bin/capability-example'), '#!/bin/sh\necho raw sockets\n', 0o755);
  await runTool('setcap', ['cap_net_raw+ep', join(root, 'usr/local/bin/capability-example')]);
  await put(join(root, 'var/lib/fixture/seed.bin'), seededBytes(`${o.name}:seed`, 256 * 1024));
}

/** The other filesystems' trees, each as it is seen from its own mountpoint. */
async function stageTree(dir: string, tree: string, o: Resolved): Promise<void> {
  await mkdir(dir, { recursive: true });
  const n = o.name;
  switch (tree) {
    case 'esp':
      await put(join(dir, 'fixture.txt'), `ESP of the Lifeboat fixture '${n}'\n`);
      await put(join(dir, 'loader/entries/fixture.conf'), 'title Lifeboat fixture (not used: GRUB boots)\n');
      break;
    case 'home':
      await put(join(dir, 'user/notes.txt'), 'private notes of uid 1000 on XFS\n', 0o600);
      await put(join(dir, 'user/.profile'), 'export PS1="fixture$ "\n');
      await setXattr(join(dir, 'user/notes.txt'), `${n}-home`);
      await put(join(dir, 'user/blob.bin'), seededBytes(`${n}:home`, 2 * MiB));
      for (const p of ['user/notes.txt', 'user/.profile', 'user/blob.bin', 'user']) await chown(join(dir, p), 1000, 1000);
      await chmod(join(dir, 'user'), 0o750);
      break;
    case 'srv':
      await put(join(dir, 'www/index.html'), `<h1>${n}</h1>\n`);
      await put(join(dir, 'www/big.bin'), seededBytes(`${n}:srv`, 3 * MiB));
      await symlink('www/index.html', join(dir, 'index.html'));
      await mkdir(join(dir, 'logs'));
      for (const p of ['www', 'www/index.html']) await chown(join(dir, p), 1001, 1001);
      break;
    case 'srv-logs':
      await put(join(dir, 'app.log'), 'line 1\nline 2\n', 0o640);
      await put(join(dir, 'archive/app.log.1'), seededBytes(`${n}:logs`, 512 * 1024));
      await chown(join(dir, 'app.log'), 1001, 1001);
      break;
    case 'data':
      await put(join(dir, 'blobs/a.bin'), seededBytes(`${n}:a`, 3 * MiB));
      await put(join(dir, 'blobs/b.bin'), seededBytes(`${n}:b`, MiB));
      await link(join(dir, 'blobs/b.bin'), join(dir, 'blobs/b-hardlink.bin'));
      await symlink('blobs/b.bin', join(dir, 'latest'));
      await put(join(dir, 'empty'), '');
      await put(join(dir, 'docs/with-xattr.txt'), 'carries user.lifeboat.fixture\n');
      await setXattr(join(dir, 'docs/with-xattr.txt'), `${n}-data`);
      await put(join(dir, 'docs/owned.txt'), 'group-readable, owned by uid 1000\n', 0o640);
      await chown(join(dir, 'docs/owned.txt'), 1000, 1000);
      break;
    case 'srv-jfs':
      await put(join(dir, 'www/index.html'), `<h1>${n} on JFS</h1>\n`);
      await put(join(dir, 'www/big.bin'), seededBytes(`${n}:srv`, 2 * MiB));
      await symlink('www/index.html', join(dir, 'index.html'));
      await chown(join(dir, 'www/index.html'), 1001, 1001);
      break;
    default:
      throw new Error(`multi-disk fixture: no tree named ${tree}`);
  }
}

async function tarTree(dir: string, file: string): Promise<void> {
  await runTool('tar', ['--format=posix', '--xattrs', "--xattrs-include=*", '--acls', '--numeric-owner', '--sort=name', `--mtime=${FIXED_MTIME.toISOString()}`, '-c', '-f', file, '-C', dir, '.'],
    { purpose: `archive the fixture tree ${dir}` });
}

// ---------------------------------------------------------------------------------------------
// Building and the cache.

interface CacheRecord {
  fixture: Omit<MultiDiskFixture, 'disks' | 'cached' | 'capturesDir' | 'buildSeconds'> & { buildSeconds: number };
}

interface LvmReport {
  report: Array<{ vg: Array<{ vg_name: string; vg_uuid: string; vg_extent_size: string }>; lv: Array<{ lv_name: string; lv_uuid: string; lv_size: string }> }>;
}

interface SfdiskJson {
  partitiontable: { label: 'gpt' | 'dos'; id: string; partitions: Array<{ node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }> };
}

async function buildInto(o: Resolved, host: HostInputs, work: string, entry: string): Promise<void> {
  const spec = o.spec;
  const fstab = renderFstab(o.name, spec);
  const root = spec.filesystems.find((f) => f.mountpoint === '/')!;
  const cmdline = kernelCmdline(root.uuid);

  const payload = join(work, 'payload');
  const stage = join(work, 'stage');
  await mkdir(join(payload, 'trees'), { recursive: true });
  await mkdir(join(payload, 'disks'), { recursive: true });
  const initrd = await fixtureInitramfs(work, o, host);
  await stageRoot(join(stage, 'root'), o, host, fstab, fixtureGrubConfig(o, root.uuid, host.kernelVersion, cmdline), initrd);
  for (const t of spec.trees) if (t.tree !== 'root') await stageTree(join(stage, t.tree), t.tree, o);
  for (const t of spec.trees) await tarTree(join(stage, t.tree), join(payload, 'trees', `${t.tree}.tar`));
  for (const d of spec.disks) await writeFile(join(payload, 'disks', `${d.device}.sfdisk`), sfdiskScript(o.name, d));
  if (o.firmware === 'uefi') {
    await mkdir(join(payload, 'grub'));
    await grubEfiImage(work, join(payload, 'grub', 'grubx64.efi'), root.uuid, ['diskfilter', 'mdraid1x', 'lvm']);
  }
  await copyFile(join(initDir, 'build-lib.sh'), join(payload, 'build-lib.sh'));
  await put(join(payload, 'run.sh'), buildScript(o), 0o755);
  await rm(stage, { recursive: true, force: true });

  const disks: string[] = [];
  for (const d of spec.disks) disks.push(await sparseFile(join(work, `${d.device}.img`), d.sizeMiB * MiB));
  const rescueDir = o.rescueDir ?? (await cachedRescueSystem(o.cacheDir, host.kernelVersion));
  const run = await runInGuest({ rescueDir, payloadDir: payload, workDir: join(work, 'guest'), disks, timeoutMs: 1_800_000, name: `build-${o.name}` });
  if (run.exitStatus !== 0 || !existsSync(join(run.outDir, 'done'))) {
    throw new Error(`multi-disk fixture '${o.name}': the build script in the guest failed (exit ${run.exitStatus})\n--- serial console (last 60 lines) ---\n${run.serialTail}`);
  }

  const hashes: Record<string, string> = {};
  for (const line of (await readFile(join(run.outDir, 'hashes.txt'), 'utf8')).split('\n').filter(Boolean)) {
    const [mp, sum] = line.split(' ');
    hashes[mp!] = sum!;
  }
  const captures = join(run.outDir, 'captures');
  const tables: MultiDiskTable[] = [];
  for (const d of spec.disks) {
    const t = (JSON.parse(await readFile(join(captures, `sfdisk-${d.device}.json`), 'utf8')) as SfdiskJson).partitiontable;
    tables.push({
      device: d.device, sizeBytes: d.sizeMiB * MiB, table: t.label, id: t.id,
      partitions: t.partitions.map((p, i) => {
        const number = Number(/(\d+)$/.exec(p.node)![1]);
        const part: MultiDiskPartition = { number, startBytes: p.start * 512, sizeBytes: p.size * 512, type: p.type.toUpperCase(), role: d.parts[i]!.role };
        if (p.uuid) part.partUuid = p.uuid.toUpperCase();
        if (p.name) part.partName = p.name;
        if (d.parts[i]!.kind) part.kind = d.parts[i]!.kind!;
        if (p.bootable) part.bootable = true;
        return part;
      }),
    });
  }
  let lvm: MultiDiskLvm | null = null;
  if (spec.lvm) {
    const report = (JSON.parse(await readFile(join(captures, 'lvm-fullreport.json'), 'utf8')) as LvmReport).report.find((r) => r.vg[0]?.vg_name === spec.lvm!.vg)!;
    lvm = {
      vg: spec.lvm.vg, vgUuid: report.vg[0]!.vg_uuid, extentBytes: Number(report.vg[0]!.vg_extent_size), pvs: spec.lvm.pvs,
      lvs: report.lv.map((lv) => ({ name: lv.lv_name, uuid: lv.lv_uuid, bytes: Number(lv.lv_size) })),
    };
  }
  const mounts = spec.filesystems.filter((f) => f.type !== 'swap').map((f) => ({ mountpoint: f.mountpoint, fstype: f.type, uuid: f.uuid }));
  const record: CacheRecord = {
    fixture: {
      name: o.name, variant: o.variant, firmware: o.firmware, tables, raid: spec.raid, lvm, filesystems: spec.filesystems, fstab,
      kernel: { version: host.kernelVersion, cmdline },
      buildSeconds: Math.round(run.seconds),
      expected: {
        marker: `FIXTURE-BOOTED name=${o.name}`,
        mounts,
        swap: spec.filesystems.find((f) => f.type === 'swap')!.uuid,
        hashes,
        raid: spec.raid.map((md) => ({ name: md.device.split('/').pop()!, level: md.level, members: `[${'U'.repeat(md.members.length)}]` })),
        lvs: Object.fromEntries((spec.lvm?.lvs ?? []).map((lv) => [`${spec.lvm!.vg}/${lv.name}`, lv.sizeMiB * MiB])),
        lvDevices: Object.fromEntries((spec.lvm?.lvs ?? []).filter((lv) => lv.on).map((lv) => [`${spec.lvm!.vg}/${lv.name}`, lv.on!.map((d) => d.split('/').pop()!).sort()])),
      },
    },
  };
  for (const d of spec.disks) await rename(join(work, `${d.device}.img`), join(entry, `${d.device}.img`));
  await rename(captures, join(entry, 'captures'));
  await writeFile(join(entry, 'build.serial.log'), run.serial);
  await writeRecord(entry, record);
}

/** Builds (or takes from the cache) the multi-disk fixture and copies its disks, sparse, into options.dir. */
export async function buildMultiDiskFixture(options: MultiDiskOptions): Promise<MultiDiskFixture> {
  const o = resolve(options);
  const host = await findHostInputs({ kernel: 'full', modules: INITRAMFS_MODULES, storageTools: true });
  const family = `multidisk-${o.variant}-${o.name}-`;
  const { dir, record, cached } = await cachedEntry<CacheRecord>(o.cacheDir, family, await fixtureKey(o, host), (work, entry) => buildInto(o, host, work, entry));
  await mkdir(o.dir, { recursive: true });
  const disks: string[] = [];
  for (const t of record.fixture.tables) disks.push(await copyImage(join(dir, `${t.device}.img`), join(o.dir, `${o.name}-${t.device}.img`)));
  return { ...record.fixture, disks, capturesDir: join(dir, 'captures'), buildSeconds: cached ? null : record.fixture.buildSeconds, cached };
}
