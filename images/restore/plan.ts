import { posix } from 'node:path';
import type { Disk, Filesystem, Layout } from '../layout/model.js';
import type { ArchiveEntry } from '../store/manifest.js';
import {
  FSTYPE_ALIASES, MKFS_TYPES, contentsOf, describeContent, deviceNamer, fsName, invalid, mountpointOf, needOf, type Content,
} from './source-contents.js';
import { checkInput, checkLvEdits, checkPartitionEdits } from './plan/check-input.js';
import { compareDevicePaths } from './plan/device-paths.js';
import { mapDisks, sourceDisksOf } from './plan/map-disks.js';
import { sizeStacks } from './plan/size-stacks.js';
import { stackNeeds, stackedName } from './plan/stack-needs.js';
import { surviveStacks } from './plan/survive-stacks.js';
import type { StackView } from './plan/partition-disk.js';
import { equaliseMembers, sizeDisks, type DiskSizing } from './plan/size-disks.js';
import {
  TARGET_ROOT, PLAN_FORMAT, type Firmware, type PlanInput, type PlannedBootloader, type PlannedDisk, type PlannedFilesystem,
  type PlannedMount, type PlannedRestore, type PlannedSwap, type RestorePlan, type TargetDisk,
} from './plan/types.js';

/**
 * The restore planner: the image's layout and the target's disks in, a RestorePlan out. Pure (no
 * I/O), so what will happen to a machine's disks is decided, shown and tested before anything is
 * written; render-plan.ts turns the plan into the exact commands. It refuses (LB_DOES_NOT_FIT,
 * LB_INVALID) rather than guess: a disk too small, a disk missing, an edit that makes no sense, a
 * layer it cannot build (firmware RAID, thin pools, ReiserFS).
 *
 * The layers stack: disks and partitions → md arrays → LVM PVs, VGs, LVs → filesystems and swap
 * on any of those (plan/survive-stacks.ts, stack-needs.ts and size-stacks.ts hold the md and LVM part). What each layer needs is worked out
 * from the top down to the partitions, and sizes from the partitions back up.
 */

export type { SizingPolicy } from './sizing.js';
export { PlanEditsSchema, type PlanEdits } from './plan-edits.js';
export * from './plan/types.js';
export { compareDevicePaths, partitionDevice } from './plan/device-paths.js';

export { MKFS_TYPES } from './source-contents.js';





function subvolumesToCreate(fs: Filesystem | undefined, archives: ArchiveEntry[], notes: string[]): Array<{ path: string; isDefault?: boolean }> | undefined {
  if (!fs) return undefined;
  const mounted = new Set((fs.mounts ?? []).flatMap((m) => (m.subvolume ? [m.subvolume] : [])));
  const listed = [...(fs.subvolumes ?? [])].sort((a, b) => a.id - b.id);
  // Snapper's snapshots are history, not the system: their contents are not in any archive.
  const snapshot = (p: string) => /(^|\/)\.snapshots\/\d+\/snapshot$/.test(p);
  const keep = listed.filter((s) => !snapshot(s.path));
  if (keep.length < listed.length) notes.push(`btrfs on ${fs.device}: ${listed.length - keep.length} snapper snapshot subvolumes are not recreated`);
  const wanted: Array<{ path: string; isDefault?: boolean }> = keep.map((s) => (s.isDefault ? { path: s.path, isDefault: true } : { path: s.path }));
  for (const m of mounted) if (!wanted.some((w) => w.path === m)) wanted.push({ path: m });
  // Every subvolume the image holds an archive of, even one the probe's list missed.
  for (const a of archives) if (a.subvolume && !wanted.some((w) => w.path === a.subvolume)) wanted.push({ path: a.subvolume });
  // In id order, so a fresh volume hands out the same ids where it can; but a parent before its
  // child even when a subvolume was moved under a younger one.
  const out: typeof wanted = [];
  const add = (w: (typeof wanted)[number]) => {
    if (out.includes(w)) return;
    for (const parent of wanted) if (parent !== w && w.path.startsWith(`${parent.path}/`)) add(parent);
    out.push(w);
  };
  wanted.forEach(add);
  if ((fs.mounts ?? []).some((m) => /(^|,)subvolid=/.test(m.options ?? ''))) {
    notes.push(`btrfs on ${fs.device} is mounted by subvolid= on the source: recreated subvolumes may get other ids; check /etc/fstab on the restored system`);
  }
  if (archives.length === 0 && out.length > 0) notes.push(`btrfs on ${fs.device}: its subvolumes are created empty`);
  return out.length > 0 ? out : undefined;
}

function depth(mountpoint: string): number {
  return mountpoint === '/' ? 0 : mountpoint.split('/').filter(Boolean).length;
}

function targetDirectory(mountpoint: string, root: string): string {
  return mountpoint === '/' ? root : posix.join(root, mountpoint);
}

function mountOptions(type: string, sourceOptions: string | undefined, subvolume: string | undefined, hasDefaultSubvolume: boolean): string[] {
  const opts: string[] = [];
  if (type === 'btrfs') {
    if (subvolume) opts.push(`subvol=${subvolume}`);
    // The top itself, while another subvolume is the default that a plain mount would show.
    else if (hasDefaultSubvolume) opts.push('subvolid=5');
    // Restored files are written compressed as the source wrote them.
    for (const o of (sourceOptions ?? '').split(',')) if (/^compress(-force)?(=|$)/.test(o)) opts.push(o);
  }
  return opts;
}

/**
 * Where each archive is extracted, and the mounts that takes. An archive of a filesystem the
 * source mounted is extracted where it is mounted on the restored system. A btrfs subvolume the
 * source mounted nowhere (the image names its subvolume and no mountpoint) is extracted under the
 * mount of the nearest subvolume above it when there is one (`@/var/lib/machines` inside `/`), or
 * else through the volume's top mounted aside, under the work directory.
 */
function planMounts(
  filesystems: PlannedFilesystem[], contents: Map<string, Content>, root: string, workDir: string,
): { mounts: PlannedMount[]; restores: PlannedRestore[] } {
  const mounts: PlannedMount[] = [];
  const restores: PlannedRestore[] = [];
  const aside: PlannedMount[] = [];
  const restore = (a: ArchiveEntry, fs: PlannedFilesystem, directory: string, mount: string): PlannedRestore => ({
    archiveId: a.id, mountpoint: a.mountpoint, directory, mount, device: fs.device, fstype: fs.type,
    ...(a.subvolume !== undefined ? { subvolume: a.subvolume } : {}),
    usedBytes: a.usedBytes, tarBytes: a.tarBytes, volumes: a.volumes.length,
  });
  for (const fs of filesystems) {
    const c = contents.get(fs.source) as Extract<Content, { kind: 'filesystem' }>;
    const hasDefault = (fs.subvolumes ?? []).some((x) => x.isDefault);
    const own: Array<{ a: ArchiveEntry; m: PlannedMount }> = [];
    for (const a of c.archives) {
      if (!a.mountpoint) continue;
      const m = c.fs?.mounts?.find((x) => x.mountpoint === a.mountpoint);
      const subvolume = a.subvolume ?? m?.subvolume;
      const directory = targetDirectory(a.mountpoint, root);
      const mount: PlannedMount = { device: fs.device, fstype: fs.type, mountpoint: a.mountpoint, directory, options: mountOptions(fs.type, m?.options ?? c.fs?.mountOptions, subvolume, hasDefault) };
      if (fs.type === 'btrfs' && a.subvolume !== undefined) mount.subvolume = a.subvolume;
      mounts.push(mount);
      own.push({ a, m: mount });
      restores.push(restore(a, fs, directory, directory));
    }
    const loose = c.archives.filter((a) => !a.mountpoint);
    for (const a of loose) {
      if (fs.type !== 'btrfs' || a.subvolume === undefined) {
        throw invalid(`archive "${a.id}" of ${a.device} names no mountpoint and no btrfs subvolume: the restore does not know where its files go; the manifest is damaged or from another tool`, { archive: a.id });
      }
      const sub = a.subvolume;
      // The deepest mounted subvolume that holds this one; the top ("") holds every subvolume.
      const holder = own
        .filter((o) => o.m.subvolume !== undefined && (o.m.subvolume === '' || sub.startsWith(`${o.m.subvolume}/`)))
        .sort((x, y) => y.m.subvolume!.length - x.m.subvolume!.length)[0];
      if (holder) {
        const rel = holder.m.subvolume === '' ? sub : sub.slice(holder.m.subvolume!.length + 1);
        restores.push(restore(a, fs, posix.join(holder.m.directory, rel), holder.m.directory));
        continue;
      }
      let top = aside.find((m) => m.device === fs.device);
      if (!top) {
        top = { device: fs.device, fstype: 'btrfs', mountpoint: '', directory: posix.join(workDir, 'btrfs', posix.basename(fs.device)), options: ['subvolid=5'], subvolume: '', aside: true };
        aside.push(top);
      }
      restores.push(restore(a, fs, sub === '' ? top.directory : posix.join(top.directory, sub), top.directory));
    }
  }
  const byDepth = (a: { mountpoint: string }, b: { mountpoint: string }) => depth(a.mountpoint) - depth(b.mountpoint) || (a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0);
  mounts.sort(byDepth);
  const order = new Map([...mounts, ...aside].map((m, i) => [m.directory, i]));
  // Under each mount, its own archive first, then the subvolumes inside it, parents first.
  restores.sort((a, b) => order.get(a.mount)! - order.get(b.mount)! || a.directory.length - b.directory.length || (a.directory < b.directory ? -1 : 1));
  return { mounts: [...mounts, ...aside], restores };
}

const EFI_ARCH: Record<string, { grubTarget: string; suffix: string }> = {
  x86_64: { grubTarget: 'x86_64-efi', suffix: 'x64' },
  aarch64: { grubTarget: 'arm64-efi', suffix: 'aa64' },
  i686: { grubTarget: 'i386-efi', suffix: 'ia32' },
  riscv64: { grubTarget: 'riscv64-efi', suffix: 'riscv64' },
  loongarch64: { grubTarget: 'loongarch64-efi', suffix: 'loongarch64' },
};

interface BootContext {
  layout: Layout;
  firmware: Firmware;
  diskOf: Map<string, { source: Disk; target: TargetDisk }>;
  disks: PlannedDisk[];
  filesystems: PlannedFilesystem[];
  /** The source disks a device is built on, through md arrays and LVM. */
  disksUnder: (device: string) => string[];
  notes: string[];
}

function planBootloader(ctx: BootContext): PlannedBootloader {
  const { layout, firmware, notes } = ctx;
  const source = layout.bootloader;
  if (source.kind === 'unknown') {
    notes.push('the image does not say which bootloader the source used: no bootloader is installed, so the restored disk may not boot; install one by hand (grub-install) before rebooting');
    return { kind: 'none', why: 'the image records no known bootloader' };
  }
  const byMount = (mp: string) => ctx.filesystems.find((f) => f.mountpoint === mp);
  const bootFs = byMount('/boot') ?? byMount('/');

  if (firmware === 'bios') {
    if (source.firmware === 'uefi' || source.kind !== 'grub-pc') {
      notes.push(`the image booted with ${source.kind} on ${source.firmware.toUpperCase()} firmware and this machine boots BIOS: grub-install --target=i386-pc needs the grub-pc-bin package inside the restored system`);
    }
    const recorded = source.bootDisk && ctx.diskOf.has(source.bootDisk) ? ctx.diskOf.get(source.bootDisk)! : undefined;
    // /boot on an array (or on LVM on one): GRUB goes to every restored disk under it, so the
    // machine still boots when either disk fails, as on the source.
    const under = bootFs ? ctx.disksUnder(bootFs.source).filter((d) => ctx.diskOf.has(d)) : [];
    const stacked = bootFs !== undefined && bootFs.on !== 'partition' && bootFs.on !== 'disk' && under.length > 0;
    const picks = stacked ? under.map((d) => ctx.diskOf.get(d)!) : recorded ? [recorded] : under.slice(0, 1).map((d) => ctx.diskOf.get(d)!);
    if (picks.length === 0) {
      throw invalid(`this machine boots BIOS but no restored disk holds /boot or /: GRUB has nowhere to go; map the disk that held ${source.bootDisk ?? '/boot'} to a target disk`);
    }
    for (const pick of picks) {
      const planned = ctx.disks.find((d) => d.target === pick.target.path)!;
      if (planned.table?.type === 'gpt' && !planned.table.partitions.some((p) => p.role === 'bios-boot')) {
        throw invalid(
          `this machine boots BIOS, and ${pick.target.path} gets a GPT table without a BIOS boot partition: GRUB cannot be installed there, so the restore would not boot; ` +
            'restore on a UEFI machine (the image has an EFI system partition), or switch this machine\'s firmware to UEFI',
          { disk: pick.target.path },
        );
      }
    }
    const why = stacked
      ? `${bootFs!.mountpoint} is on ${bootFs!.source}, built on ${under.join(' and ')}: each disk gets GRUB, so either boots`
      : recorded ? `GRUB was in the boot sector of ${source.bootDisk} on the source` : `it holds ${bootFs!.mountpoint}`;
    return { kind: 'grub-pc', firmware: 'bios', disks: picks.map((p) => p.target.path), sourceDisks: picks.map((p) => p.source.path), why };
  }

  const espParts = ctx.disks.flatMap((d) => (d.table?.partitions ?? []).filter((p) => p.role === 'esp').map((p) => ({ disk: d, p })));
  const esp = espParts.find((e) => e.p.source === source.espDevice) ?? espParts[0];
  if (!esp) {
    throw invalid(
      'this machine boots UEFI but the image has no EFI system partition on the restored disks: the restore would not boot; restore on a BIOS machine, or add an ESP to the source and archive it again',
    );
  }
  const espFs = ctx.filesystems.find((f) => f.source === esp.p.source);
  if (!espFs || espFs.type !== 'vfat') {
    throw invalid(`the EFI system partition ${esp.p.source} holds no FAT filesystem in the image: the firmware could not read a loader from it; archive the ESP again from a system where it is mounted`);
  }
  const efiDirectory = espFs.mountpoint ?? '/boot/efi';
  const arch = layout.host.arch ?? 'x86_64';
  const a = EFI_ARCH[arch];
  if (!a) throw invalid(`the image is of a ${arch} system: Lifeboat does not know its UEFI loader names`);
  if (!layout.host.arch) notes.push('the image does not record the source architecture: UEFI boot files for x86_64 are assumed');
  const kind = source.kind === 'systemd-boot' ? 'systemd-boot' : 'grub-efi';
  if (source.firmware === 'bios') notes.push(`the image booted with BIOS firmware and this machine boots UEFI: grub-install --target=${a.grubTarget} needs the GRUB EFI package inside the restored system`);
  const loaders = source.efiLoaders ?? [];
  const vendorDirs = loaders.map((l) => l.split('/')).filter((parts) => parts.length === 3 && parts[0]!.toUpperCase() === 'EFI' && parts[1]!.toUpperCase() !== 'BOOT');
  let bootloaderId: string;
  let loader: string;
  if (kind === 'systemd-boot') {
    bootloaderId = 'systemd';
    loader = `EFI/systemd/systemd-boot${a.suffix}.efi`;
  } else {
    const shim = vendorDirs.find((p) => p[2]!.toLowerCase() === `shim${a.suffix}.efi`);
    const grub = vendorDirs.find((p) => p[2]!.toLowerCase() === `grub${a.suffix}.efi`);
    const chosen = shim ?? grub;
    bootloaderId = chosen?.[1] ?? (layout.host.osRelease.ID ?? 'lifeboat').toLowerCase().replace(/[^a-z0-9._-]/g, '');
    loader = chosen ? chosen.join('/') : `EFI/${bootloaderId}/grub${a.suffix}.efi`;
  }
  const label = kind === 'systemd-boot' ? 'Linux Boot Manager' : bootloaderId;
  return {
    kind, firmware: 'uefi', espDevice: esp.p.device, espDisk: esp.disk.target, espPartition: esp.p.number, efiDirectory,
    grubTarget: a.grubTarget, bootloaderId, label, loader, removablePath: `EFI/BOOT/BOOT${a.suffix.toUpperCase()}.EFI`,
  };
}

/**
 * fstab lines that name something the plan does not make (boot would wait for them), or name a
 * kernel device that gets another name on this machine (/dev/sda3 becoming /dev/vda3).
 */
function checkFstab(layout: Layout, plan: Pick<RestorePlan, 'filesystems' | 'swaps' | 'disks'>, devices: Map<string, string>, notes: string[]): void {
  const uuids = new Set([...plan.filesystems, ...plan.swaps].flatMap((x) => (x.uuid ? [x.uuid.toLowerCase()] : [])));
  const labels = new Set([...plan.filesystems, ...plan.swaps].flatMap((x) => (x.label ? [x.label] : [])));
  const partuuids = new Set<string>();
  for (const d of plan.disks) {
    for (const p of d.table?.partitions ?? []) {
      if (p.uuid) partuuids.add(p.uuid.toLowerCase());
      if (d.table?.type === 'dos') partuuids.add(`${d.table.id.replace(/^0x/, '').toLowerCase()}-${String(p.number).padStart(2, '0')}`);
    }
  }
  const local = (t: string) => MKFS_TYPES.has(FSTYPE_ALIASES[t] ?? t) || t === 'swap';
  for (const e of layout.fstab) {
    if (!local(e.vfstype) || /(^|,)(noauto|nofail)(,|$)/.test(e.mntops)) continue;
    const byLink = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(e.spec);
    const [key, value] = byLink ? [byLink[1]!.toUpperCase(), byLink[2]!] : [e.spec.split('=')[0]!, e.spec.split('=').slice(1).join('=')];
    let found = true;
    if (key === 'UUID') found = uuids.has(value.toLowerCase());
    else if (key === 'LABEL') found = labels.has(value);
    else if (key === 'PARTUUID') found = partuuids.has(value.toLowerCase());
    else if (/^\/dev\/(sd|vd|hd|xvd|nvme|mmcblk|loop)/.test(e.spec)) {
      const now = devices.get(e.spec);
      found = now !== undefined;
      if (now !== undefined && now !== e.spec) notes.push(`/etc/fstab names ${e.spec} (${e.file === 'none' ? 'swap' : e.file}), which is ${now} on this machine: change that line to UUID= before rebooting`);
    }
    const use = e.vfstype === 'swap' ? `uses ${e.spec} as swap` : `mounts ${e.spec} on ${e.file}`;
    if (!found) notes.push(`/etc/fstab ${use}, which this plan does not create: the restored system will wait for it at boot; add nofail to that line or restore its disk`);
  }
}

export function planRestore(input: PlanInput): RestorePlan {
  checkInput(input);
  const { manifest, targetDisks, policy, firmware } = input;
  const root = input.targetRoot ?? TARGET_ROOT;
  const workDir = `${root === '/' ? '' : root}.work`;
  const edits = input.edits ?? {};
  const layout = manifest.layout;
  const notes: string[] = [...(layout.notes ?? []).map((n) => `probe: ${n}`)];

  const name = deviceNamer(layout);
  const found = contentsOf(manifest, name);
  const contents = found.contents;
  notes.push(...found.notes);
  const { disks: sourceDisks, empty } = sourceDisksOf(layout, (d) => contents.has(d.path));
  const mapping = mapDisks(sourceDisks, empty, targetDisks, edits);

  // Which source disk each source device is on, for the disks being restored.
  const devicesOf = new Map<string, string>();
  const partitionPaths = new Map<string, string>();
  for (const d of sourceDisks) {
    if (d.table === null) continue;
    for (const p of d.table.partitions) partitionPaths.set(p.path, d.path);
  }
  const restored = new Set(mapping.pairs.map((p) => p.source.path));
  for (const d of sourceDisks) {
    if (!restored.has(d.path)) continue;
    devicesOf.set(d.path, d.path);
    for (const p of d.table?.partitions ?? []) devicesOf.set(p.path, d.path);
  }
  checkPartitionEdits(edits, partitionPaths, new Set(sourceDisks.map((d) => d.path).filter((p) => !restored.has(p))));

  const survived = surviveStacks({ layout, name, restored: new Set(devicesOf.keys()) });
  const stacks = survived.stacks;
  notes.push(...survived.notes);
  checkLvEdits(edits, layout, stacks.vgs.map((v) => v.name));
  const reachable = (device: string) => devicesOf.has(device) || stacks.devices.has(device);
  const droppedDisks = new Set(sourceDisks.map((d) => d.path).filter((p) => !restored.has(p)));
  for (const c of contents.values()) {
    if (c.kind !== 'filesystem' || c.archives.length === 0 || reachable(c.device)) continue;
    const a = c.archives[0]!;
    const what = `archive "${a.id}" (${a.mountpoint || `subvolume ${a.subvolume ?? '?'}`} on ${c.device})`;
    const dropped = stacks.disksUnder(c.device).filter((d) => droppedDisks.has(d));
    if (dropped.length > 0) {
      throw invalid(`dropping ${dropped.join(' and ')} leaves ${what} with nowhere to go: map ${dropped.length > 1 ? 'them' : 'it'} to a target disk instead`, { disk: dropped[0], archive: a.id });
    }
    throw invalid(`${what} is on a device that is not a partition, disk, md array or LVM volume of the image's layout: the restore does not know what to make it on`, { device: c.device, archive: a.id });
  }

  const needs = stackNeeds(stacks, contents, edits.lvSizes ?? {});
  const view: StackView = { needs, label: (c) => (c.kind === 'md-member' || c.kind === 'pv' ? stackedName(stacks, contents, c.device) : fsName(c)) };
  const sizing: DiskSizing = {
    pairs: mapping.pairs, contents, policy, sizes: edits.partitionSizes ?? {}, matched: new Set(),
    defaultMapping: Object.keys(edits.diskMap ?? {}).length === 0, allTargets: targetDisks, view,
  };
  const sized = sizeDisks(sizing);
  notes.push(...sized.notes);
  const equalised = equaliseMembers({ stacks, sized, sizing, partitionPaths });
  notes.push(...equalised.notes);
  const disks = equalised.disks;
  const sizedStacks = sizeStacks({ stacks, contents, devices: equalised.devices, bytesOf: equalised.bytesOf, policy, lvSizes: edits.lvSizes ?? {}, workDir, holds: needs.holds });
  notes.push(...sizedStacks.notes);
  const { md, lvm, devices, bytesOf } = sizedStacks;
  const sourceBytesOf = (device: string): number | undefined => {
    for (const d of sourceDisks) {
      if (d.path === device) return d.size;
      const p = d.table?.partitions.find((x) => x.path === device);
      if (p) return p.size * d.table!.sectorSize;
    }
    return layout.md.find((m) => name(m.device) === device)?.size ?? lvm.lvs.find((l) => l.source === device)?.sourceBytes;
  };
  const onOf = (device: string): PlannedFilesystem['on'] =>
    sourceDisks.some((d) => d.path === device) ? 'disk' : md.some((m) => m.source === device || m.device === device) ? 'md' : lvm.lvs.some((l) => l.source === device) ? 'lv' : 'partition';

  const filesystems: PlannedFilesystem[] = [];
  const swaps: PlannedSwap[] = [];
  for (const c of contents.values()) {
    if (c.kind === 'md-member' || c.kind === 'pv') continue;
    const device = devices.get(c.device);
    if (!device) {
      if (c.kind !== 'unsupported' && !(c.kind === 'filesystem' && c.archives.length > 0)) {
        const onDropped = stacks.disksUnder(c.device).some((d) => droppedDisks.has(d));
        if (onDropped) notes.push(`${describeContent(c)} on ${c.device} is on a dropped disk: not restored`);
      }
      continue;
    }
    const on = onOf(c.device);
    const bytes = bytesOf.get(c.device)!;
    if (c.kind === 'swap') {
      const s: PlannedSwap = { source: c.device, device, bytes };
      if (c.swap.uuid) s.uuid = c.swap.uuid;
      if (c.swap.label) s.label = c.swap.label;
      swaps.push(s);
      continue;
    }
    if (c.kind === 'unsupported') {
      notes.push(`${c.device} held ${c.type}, which the restore cannot create: ${device} is left unformatted`);
      continue;
    }
    const fs = c.fs;
    const first = c.archives[0];
    const uuid = fs?.uuid ?? first?.uuid;
    const label = fs?.label ?? first?.label;
    const mountpoint = mountpointOf(c);
    const planned: PlannedFilesystem = {
      source: c.device, device, on, type: c.type, bytes, need: needOf(c, sourceBytesOf(c.device) ?? bytes), archives: c.archives.map((a) => a.id),
    };
    if (uuid) planned.uuid = uuid;
    if (label) planned.label = label;
    if (fs?.features && fs.features.length > 0) planned.features = [...fs.features];
    if (mountpoint) planned.mountpoint = mountpoint;
    if (c.type === 'btrfs') {
      const subvolumes = subvolumesToCreate(fs, c.archives, notes);
      if (subvolumes) planned.subvolumes = subvolumes;
    }
    if (c.archives.length === 0) notes.push(`${c.type} on ${device}${mountpoint ? ` (${mountpoint})` : ''} is created empty: the image holds no archive of it`);
    if (!uuid) notes.push(`${c.type} on ${device} has no UUID in the image: mkfs gives it a new one, so anything that names it by UUID must be updated`);
    filesystems.push(planned);
  }
  filesystems.sort((a, b) => compareDevicePaths(a.device, b.device));
  swaps.sort((a, b) => compareDevicePaths(a.device, b.device));

  const planned = planMounts(filesystems, contents, root, workDir);
  const restores = planned.restores;
  let mounts = planned.mounts;
  const diskOf = new Map(mapping.pairs.map((p) => [p.source.path, p]));
  const bootloader = planBootloader({ layout, firmware, diskOf, disks, filesystems, disksUnder: stacks.disksUnder, notes });
  if (bootloader.kind === 'grub-efi' || bootloader.kind === 'systemd-boot') {
    // The bootloader step writes to the ESP: it must be mounted even when no archive of it exists.
    if (!mounts.some((m) => m.device === bootloader.espDevice)) {
      const esp: PlannedMount = { device: bootloader.espDevice, fstype: 'vfat', mountpoint: bootloader.efiDirectory, directory: targetDirectory(bootloader.efiDirectory, root), options: [] };
      const byDepth = (a: PlannedMount, b: PlannedMount) => depth(a.mountpoint) - depth(b.mountpoint) || (a.mountpoint < b.mountpoint ? -1 : a.mountpoint > b.mountpoint ? 1 : 0);
      mounts = [...[...mounts.filter((m) => !m.aside), esp].sort(byDepth), ...mounts.filter((m) => m.aside)];
    }
  }
  if (restores.length > 0 && !restores.some((r) => r.mountpoint === '/')) notes.push('the image holds no archive of /: only the filesystems it has are restored');

  const plan: RestorePlan = {
    format: PLAN_FORMAT,
    image: manifest.image,
    version: manifest.version,
    policy,
    firmware,
    targetRoot: root,
    workDir,
    disks,
    untouchedDisks: mapping.untouched,
    droppedDisks: mapping.dropped,
    md,
    lvm,
    filesystems,
    swaps,
    mounts,
    restores,
    bootloader,
    notes,
  };
  checkFstab(layout, plan, devices, notes);
  return plan;
}
