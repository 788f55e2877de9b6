import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetFirmware } from '../../images/restore/plan.js';
import { fixtureCacheDir } from './fixture-cache.js';
import type { FixtureMount } from './fixture-disk.js';
import { buildGuestImage, type BuildOutcome } from './guest-image/builder.js';
import { copyImage } from './guest-image/cache-entry.js';
import { MiB } from './guest-image/layout.js';
import { multiDiskSpec, variantFirmware, type MultiDiskVariant } from './guest-image/multi-disk-specs.js';
import type { FilesystemSpec, GuestImageSpec, RaidSpec } from './guest-image/spec.js';

/**
 * A bootable multi-disk machine for the storage-stack end-to-end tests (issue 5): md RAID, LVM,
 * Btrfs subvolumes, JFS, MBR logical partitions, several disks. The variants are data
 * (guest-image/multi-disk-specs.ts); the one builder (guest-image/builder.ts) makes them in a QEMU
 * guest, because this host's kernel has no md RAID, no device-mapper, no vfat and no JFS, and
 * captures real tool outputs (mdadm, lvm, lsblk, blkid, btrfs, sfdisk) into the cache entry's
 * captures/ for the layout parser tests. Its /sbin/init prints what readMultiDiskMarkers() reads:
 * every mount with the UUID of what is mounted, the swap, each md array's state, each LV's size
 * and a hash of each filesystem's files, then powers off. Handed out as private sparse copies.
 */

export type { MultiDiskVariant };
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

/** A filesystem of the fixture, as its spec says (guest-image/spec.ts). */
export type MultiDiskFilesystem = FilesystemSpec;

export type MultiDiskRaid = RaidSpec;

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
// Building: the variant's spec (guest-image/multi-disk-specs.ts) through the one builder.

interface Resolved {
  dir: string;
  firmware: MultiDiskFirmware;
  variant: MultiDiskVariant;
  name: string;
  cacheDir: string;
  rescueDir?: string;
  spec: GuestImageSpec;
}

function resolve(o: MultiDiskOptions): Resolved {
  const name = o.name ?? `md-${o.variant}`;
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(name)) {
    throw new Error(`multi-disk fixture name '${name}' is not usable: use lower-case letters, digits and dashes (at most 40)`);
  }
  const wanted = variantFirmware(o.variant);
  if (wanted !== o.firmware) {
    throw new Error(`multi-disk fixture '${name}': variant ${o.variant} is built for ${wanted} only (asked for ${o.firmware})`);
  }
  return {
    dir: o.dir, firmware: o.firmware, variant: o.variant, name,
    cacheDir: o.cacheDir ?? fixtureCacheDir(),
    ...(o.rescueDir ? { rescueDir: o.rescueDir } : {}),
    spec: multiDiskSpec(o.variant, name),
  };
}

interface CacheRecord {
  fixture: Omit<MultiDiskFixture, 'disks' | 'cached' | 'capturesDir' | 'buildSeconds'> & { buildSeconds: number };
}

interface LvmReport {
  report: Array<{ vg: Array<{ vg_name: string; vg_uuid: string; vg_extent_size: string }>; lv: Array<{ lv_name: string; lv_uuid: string; lv_size: string }> }>;
}

interface SfdiskJson {
  partitiontable: { label: 'gpt' | 'dos'; id: string; partitions: Array<{ node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }> };
}

/** The record: the spec, with the partition tables and LVM identifiers as the guest's tools reported them, and the hashes the build computed. */
async function fixtureRecord(o: Resolved, b: BuildOutcome): Promise<CacheRecord> {
  const spec = o.spec;
  const captures = b.captures!;
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
  return {
    fixture: {
      name: o.name, variant: o.variant, firmware: o.firmware, tables, raid: spec.raid, lvm, filesystems: spec.filesystems, fstab: b.fstab,
      kernel: b.kernel,
      buildSeconds: Math.round(b.buildSeconds),
      expected: {
        marker: `FIXTURE-BOOTED name=${o.name}`,
        mounts,
        swap: spec.filesystems.find((f) => f.type === 'swap')!.uuid,
        hashes: b.hashes,
        raid: spec.raid.map((md) => ({ name: md.device.split('/').pop()!, level: md.level, members: `[${'U'.repeat(md.members.length)}]` })),
        lvs: Object.fromEntries((spec.lvm?.lvs ?? []).map((lv) => [`${spec.lvm!.vg}/${lv.name}`, lv.sizeMiB * MiB])),
        lvDevices: Object.fromEntries((spec.lvm?.lvs ?? []).filter((lv) => lv.on).map((lv) => [`${spec.lvm!.vg}/${lv.name}`, lv.on!.map((d) => d.split('/').pop()!).sort()])),
      },
    },
  };
}

/** Builds (or takes from the cache) the multi-disk fixture and copies its disks, sparse, into options.dir. */
export async function buildMultiDiskFixture(options: MultiDiskOptions): Promise<MultiDiskFixture> {
  const o = resolve(options);
  const { dir, record, cached } = await buildGuestImage<CacheRecord>(o.spec, {
    cacheDir: o.cacheDir,
    family: `multidisk-${o.variant}-${o.name}-`,
    sources: [fileURLToPath(import.meta.url)],
    ...(o.rescueDir ? { rescueDir: o.rescueDir } : {}),
    record: (b) => fixtureRecord(o, b),
  });
  await mkdir(o.dir, { recursive: true });
  const disks: string[] = [];
  for (const t of record.fixture.tables) disks.push(await copyImage(join(dir, `${t.device}.img`), join(o.dir, `${o.name}-${t.device}.img`)));
  return { ...record.fixture, disks, capturesDir: join(dir, 'captures'), buildSeconds: cached ? null : record.fixture.buildSeconds, cached };
}
