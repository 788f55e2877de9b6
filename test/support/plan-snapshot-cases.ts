import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import type { Manifest } from '../../images/store/manifest.js';
import type { PlanEdits, PlanInput, TargetDisk } from '../../images/restore/plan.js';

/**
 * The inputs of the planner's snapshot test (test/unit/restore-plan-snapshot.test.ts): every
 * planRestore call the unit tests and the restore integration tests made (recorded once, with the
 * manifests, disks, policies, firmware and edits they passed), and each of those manifests planned
 * again onto disk sets derived from its own disks (same, bigger, smaller, 4Kn NVMe, 3 TiB, uneven sizes,
 * one disk fewer, one more, one small disk) under both policies and both firmwares, and with the
 * VARIANTS below. The expected
 * outcomes (plan, rendered steps and script, or the error) were written once from the planner as
 * it was before it was split into stages, so any change of output shows as a failing case.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const fixtures = new URL('../../../test/fixtures/restore-plans/', import.meta.url);

export interface RecordedCase extends Omit<PlanInput, 'manifest'> {
  manifest: number;
}

export interface SnapshotInputs {
  manifests: Manifest[];
  recorded: RecordedCase[];
}

export interface SnapshotCase {
  key: string;
  input: PlanInput;
}

export interface Outcome {
  plan?: unknown;
  rendered?: unknown;
  error?: { name: string; code?: string; message: string; details?: unknown };
}

export function readCompressedJson<T>(name: string): T {
  return JSON.parse(brotliDecompressSync(readFileSync(new URL(name, fixtures))).toString('utf8')) as T;
}

const DISK_SETS: Record<string, (sources: Array<{ path: string; size: number }>) => TargetDisk[]> = {
  same: (s) => s.map((d) => ({ path: d.path, size: d.size, logicalSectorSize: 512 })),
  bigger: (s) => s.map((d, i) => ({ path: `/dev/vd${letter(i)}`, size: d.size * 2, logicalSectorSize: 512, model: 'QEMU HARDDISK', serial: `QM0${i}` })),
  smaller: (s) => s.map((d, i) => ({ path: `/dev/vd${letter(i)}`, size: Math.floor((d.size * 0.7) / MiB) * MiB, logicalSectorSize: 512 })),
  'nvme-4k': (s) => s.map((d, i) => ({ path: `/dev/nvme${i * 9}n1`, size: Math.ceil((d.size * 1.5) / MiB) * MiB, logicalSectorSize: 4096, physicalSectorSize: 4096 })),
  '3t': (s) => s.map((_, i) => ({ path: `/dev/sd${letter(i)}`, size: 3072 * GiB, logicalSectorSize: 512 })),
  'one-fewer': (s) => s.slice(1).map((d, i) => ({ path: `/dev/sd${letter(i)}`, size: d.size * 4, logicalSectorSize: 512 })),
  'one-more': (s) => [...s, { path: '/dev/zz', size: GiB }].map((d, i) => ({ path: `/dev/sd${letter(s.length - i)}`, size: d.size + i * GiB, logicalSectorSize: 512 })),
  // Members of one array on disks of different sizes: cut to the smallest (sizing rule 'matched').
  uneven: (s) => s.map((d, i) => ({ path: `/dev/vd${letter(i)}`, size: d.size * (1 + 2 * i), logicalSectorSize: 512 })),
  'uneven-3t': (s) => s.map((_, i) => ({ path: `/dev/sd${letter(i)}`, size: (3 + 2 * i) * 1024 * GiB, logicalSectorSize: 512 })),
  'one-8g': () => [{ path: '/dev/vda', size: 8 * GiB, logicalSectorSize: 512 }],
};

type Variant = (m: Manifest) => { manifest?: Manifest; edits?: PlanEdits } | undefined;

const clone = (m: Manifest): Manifest => structuredClone(m);
const sourceDisks = (m: Manifest) => [...m.layout.disks].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
const partitions = (m: Manifest) => m.layout.disks.flatMap((d) => d.table?.partitions ?? []);

/**
 * Changes to a recorded manifest or edits that reach paths no other test does: other bootloaders
 * and architectures, an ESP with no archive, fstab lines by kernel name, subvolid= mounts, and
 * edits that are refused or that drop a disk.
 */
const VARIANTS: Record<string, Variant> = {
  'systemd-boot': (m) => (m.layout.bootloader.kind === 'unknown' ? undefined : { manifest: { ...clone(m), layout: { ...clone(m).layout, bootloader: { ...m.layout.bootloader, kind: 'systemd-boot' } } } }),
  'no-arch': (m) => { const c = clone(m); delete c.layout.host.arch; return { manifest: c }; },
  aarch64: (m) => { const c = clone(m); c.layout.host.arch = 'aarch64'; return { manifest: c }; },
  sparc64: (m) => { const c = clone(m); c.layout.host.arch = 'sparc64'; return { manifest: c }; },
  'esp-unarchived': (m) => { const c = clone(m); c.archives = c.archives.filter((a) => a.mountpoint !== '/boot/efi'); return { manifest: c }; },
  'esp-not-vfat': (m) => { const c = clone(m); for (const f of c.layout.filesystems) if (f.mountpoint === '/boot/efi') f.type = 'ext4'; return { manifest: c }; },
  'fstab-kernel-names': (m) => {
    const c = clone(m);
    c.layout.fstab = [
      ...c.layout.fstab.map((e) => ({ ...e, spec: c.layout.filesystems.find((f) => f.uuid && e.spec === `UUID=${f.uuid}`)?.device ?? e.spec })),
      { spec: '/dev/sdq9', file: '/gone', vfstype: 'ext4', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: '/dev/disk/by-label/nothing', file: '/gone2', vfstype: 'xfs', mntops: 'defaults', freq: 0, passno: 2 },
      { spec: 'PARTUUID=deadbeef-01', file: 'none', vfstype: 'swap', mntops: 'sw', freq: 0, passno: 0 },
      { spec: 'LABEL=x', file: '/opt', vfstype: 'ext4', mntops: 'defaults,nofail', freq: 0, passno: 2 },
    ];
    return { manifest: c };
  },
  subvolid: (m) => {
    if (!m.layout.filesystems.some((f) => f.type === 'btrfs')) return undefined;
    const c = clone(m);
    for (const f of c.layout.filesystems) if (f.type === 'btrfs') f.mounts = (f.mounts ?? [{ mountpoint: f.mountpoint ?? '/srv' }]).map((x) => ({ ...x, options: `${x.options ?? 'rw'},subvolid=256` }));
    return { manifest: c };
  },
  'drop-last-disk': (m) => (m.layout.disks.length < 2 ? undefined : { edits: { dropDisks: [sourceDisks(m).at(-1)!.path] } }),
  'drop-first-disk': (m) => (m.layout.disks.length < 2 ? undefined : { edits: { dropDisks: [sourceDisks(m)[0]!.path] } }),
  'tiny-partition': (m) => (partitions(m).length === 0 ? undefined : { edits: { partitionSizes: { [partitions(m).at(-1)!.path]: 4096 } } }),
  'small-partitions': (m) => ({ edits: { partitionSizes: Object.fromEntries(partitions(m).map((p) => [p.path, 2 * MiB])) } }),
  'edit-unknown-partition': () => ({ edits: { partitionSizes: { '/dev/nope1': GiB } } }),
  'edit-dropped-partition': (m) => (m.layout.disks.length < 2 || partitions(m).length === 0 ? undefined : {
    edits: { dropDisks: [m.layout.disks.find((d) => d.table)!.path], partitionSizes: { [m.layout.disks.find((d) => d.table)!.table!.partitions[0]!.path]: GiB } },
  }),
  'lv-sizes': (m) => (m.layout.lvm.lvs.length === 0 ? undefined : { edits: { lvSizes: Object.fromEntries(m.layout.lvm.lvs.map((l) => [`${l.vg}/${l.name}`, 8 * MiB])) } }),
  'lv-unknown': () => ({ edits: { lvSizes: { 'novg/nolv': GiB } } }),
  'lv-zero': (m) => (m.layout.lvm.lvs.length === 0 ? undefined : { edits: { lvSizes: { [`${m.layout.lvm.lvs[0]!.vg}/${m.layout.lvm.lvs[0]!.name}`]: 0 } } }),
  'map-to-missing': (m) => ({ edits: { diskMap: { [sourceDisks(m)[0]!.path]: '/dev/nothere' } } }),
  'map-unknown-source': () => ({ edits: { diskMap: { '/dev/nosuch': '/dev/vda' } } }),
  'map-reversed': (m) => ({ edits: { diskMap: Object.fromEntries(sourceDisks(m).map((d, i, all) => [d.path, `/dev/vd${letter(all.length - 1 - i)}`])) } }),
};

function letter(i: number): string {
  return i < 26 ? String.fromCharCode(97 + i) : `a${String.fromCharCode(97 + i - 26)}`;
}

export function snapshotCases(inputs: SnapshotInputs): SnapshotCase[] {
  const cases: SnapshotCase[] = inputs.recorded.map((r, i) => ({ key: `recorded-${i}`, input: { ...r, manifest: inputs.manifests[r.manifest]! } }));
  inputs.manifests.forEach((manifest, m) => {
    const sources = [...manifest.layout.disks].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const [set, make] of Object.entries(DISK_SETS)) {
      const targetDisks = make(sources);
      if (targetDisks.length === 0) continue;
      for (const policy of ['proportional', 'grow-last'] as const) {
        for (const firmware of ['bios', 'uefi'] as const) cases.push({ key: `m${m}-${set}-${policy}-${firmware}`, input: { manifest, targetDisks, policy, firmware } });
      }
    }
    for (const [name, variant] of Object.entries(VARIANTS)) {
      const v = variant(manifest);
      if (!v) continue;
      const varied = v.manifest ?? manifest;
      for (const set of ['same', 'bigger'] as const) {
        const targetDisks = DISK_SETS[set]!(sourceDisks(varied));
        for (const firmware of ['bios', 'uefi'] as const) {
          cases.push({ key: `m${m}-${name}-${set}-${firmware}`, input: { manifest: varied, targetDisks, policy: 'grow-last', firmware, ...(v.edits ? { edits: v.edits } : {}) } });
        }
      }
    }
  });
  return cases;
}
