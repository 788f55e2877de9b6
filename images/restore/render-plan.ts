import { uefiBootEntryStep } from './uefi-boot-entry.js';
import { posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { commandLine } from '../../core/run-tool.js';
import { formatBytes } from '../../core/sizes.js';
import { renderVgMetadata } from './lvm-volumes.js';
import type { PlannedDisk, PlannedFilesystem, PlannedMdArray, PlannedTable, PlannedVg, RestorePlan } from './plan.js';

/**
 * RestorePlan → the exact commands the executor runs, in order, and one shell-like script of the
 * same steps (as ReaR's generated restore script) for --dry-run, interactive mode and the logs.
 * The executor runs these argv arrays and nothing else; extraction is the one step it does itself
 * (through the image engine), so that step carries the archive instead of a command.
 */

export type RestoreStage = 'wipe' | 'partition' | 'md' | 'lvm' | 'mkfs' | 'mount' | 'restore' | 'bootloader' | 'unmount';

export interface CommandStep {
  kind: 'command';
  stage: RestoreStage;
  description: string;
  command: string[];
  /** Fed on stdin (the sfdisk script). */
  input?: string;
  /**
   * What to run instead when `whenMissing` does not exist: the restored system may not carry the
   * tool the step uses (a minimal system without grub-install), and the rescue system's own does.
   */
  fallback?: { whenMissing: string; description: string; command: string[] };
  /** Exit statuses that are not a failure (mdadm --wait says 1 when there was nothing to wait for). */
  okExitCodes?: number[];
  /** Device nodes the step makes: the executor waits for them (no udev in the rescue system). */
  waitFor?: string[];
}

export interface ExtractStep {
  kind: 'extract';
  stage: 'restore';
  description: string;
  archiveId: string;
  /** Where the archive's files go: TARGET_ROOT + its mountpoint, already mounted. */
  directory: string;
  fstype: string;
  device: string;
}

export type RestoreStep = CommandStep | ExtractStep;

export interface RenderedPlan {
  steps: RestoreStep[];
  script: string;
}

/** sfdisk's own quoting for names and attributes: `"` and `\` (and control bytes) as \xHH. */
function sfdiskString(value: string): string {
  return `"${value.replace(/[\\"\x00-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

/** The sfdisk script that recreates a table: header, then one line per partition in number order. */
export function renderSfdiskScript(table: PlannedTable): string {
  const lines = [`label: ${table.type}`, `label-id: ${table.id}`, 'unit: sectors'];
  if (table.firstLba !== undefined) lines.push(`first-lba: ${table.firstLba}`);
  if (table.lastLba !== undefined) lines.push(`last-lba: ${table.lastLba}`);
  lines.push('');
  for (const p of table.partitions) {
    const fields = [`start=${p.start}`, `size=${p.size}`, `type=${p.type}`];
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    if (p.name !== undefined && p.name !== '') fields.push(`name=${sfdiskString(p.name)}`);
    if (p.attrs) fields.push(`attrs=${sfdiskString(p.attrs)}`);
    if (p.bootable) fields.push('bootable');
    lines.push(`${p.device} : ${fields.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** ext* features → -O: "none" first, so mke2fs's own defaults (orphan_file in 1.47, which older e2fsck refuses) are not added. */
function extOptions(features: string[] | undefined): string[] {
  return features && features.length > 0 ? ['-O', ['none', ...features].join(',')] : [];
}

/** xfs_info's "name=value" switches, each under the mkfs.xfs section that takes it. */
const XFS_SECTION: Record<string, '-m' | '-i' | '-n' | '-l'> = {
  crc: '-m', finobt: '-m', rmapbt: '-m', reflink: '-m', bigtime: '-m', inobtcount: '-m',
  sparse: '-i', attr: '-i', projid32bit: '-i', nrext64: '-i',
  ftype: '-n',
  'lazy-count': '-l',
};

function xfsOptions(uuid: string | undefined, features: string[] | undefined): string[] {
  const sections = new Map<string, string[]>([['-m', uuid ? [`uuid=${uuid}`] : []]]);
  for (const f of features ?? []) {
    const [key, value] = f.split('=');
    if (key === 'ascii-ci') {
      if (value === '1') sections.set('-n', [...(sections.get('-n') ?? []), 'version=ci']);
      continue;
    }
    const section = key ? XFS_SECTION[key] : undefined;
    if (section) sections.set(section, [...(sections.get(section) ?? []), f]);
  }
  return ['-m', '-i', '-n', '-l'].flatMap((s) => (sections.get(s)?.length ? [s, sections.get(s)!.join(',')] : []));
}

function mkfsCommands(fs: PlannedFilesystem): Array<{ description: string; command: string[] }> {
  const label = fs.label ? ['-L', fs.label] : [];
  const what = `${fs.type}${fs.mountpoint ? ` for ${fs.mountpoint}` : ''} on ${fs.device}${fs.uuid ? `, UUID ${fs.uuid}` : ''}${fs.label ? `, label ${fs.label}` : ''}`;
  const one = (command: string[]) => [{ description: `Make ${what}`, command }];
  switch (fs.type) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      return one([`mkfs.${fs.type}`, '-F', ...(fs.uuid ? ['-U', fs.uuid] : []), ...label, ...extOptions(fs.features), fs.device]);
    case 'xfs':
      return one(['mkfs.xfs', '-f', ...xfsOptions(fs.uuid, fs.features), ...label, fs.device]);
    case 'btrfs':
      return one(['mkfs.btrfs', '-f', ...(fs.uuid ? ['-U', fs.uuid] : []), ...label, fs.device]);
    case 'vfat': {
      const fat = fs.features?.map((f) => /^FAT(12|16|32)$/i.exec(f)?.[1]).find(Boolean);
      // A FAT volume id prints as ABCD-1234; mkfs.vfat -i takes the eight hex digits.
      const volid = fs.uuid ? ['-i', fs.uuid.replace('-', '')] : [];
      return one(['mkfs.vfat', ...(fat ? ['-F', fat] : []), ...volid, ...(fs.label ? ['-n', fs.label] : []), fs.device]);
    }
    case 'jfs': {
      const steps = [{ description: `Make ${what}`, command: ['mkfs.jfs', '-q', ...label, fs.device] }];
      // jfs_mkfs takes no UUID; jfs_tune sets it afterwards.
      if (fs.uuid) steps.push({ description: `Give the jfs filesystem on ${fs.device} its UUID ${fs.uuid}`, command: ['jfs_tune', '-U', fs.uuid, fs.device] });
      return steps;
    }
    default:
      throw new LifeboatError('LB_INTERNAL', `the plan asks for a ${fs.type} filesystem on ${fs.device}, which the renderer cannot make`);
  }
}

/** mdadm --create for a planned array: the source's level, metadata, chunk, layout, UUID and name. */
export function mdadmCreateCommand(a: PlannedMdArray): string[] {
  return [
    'mdadm', '--create', a.device, '--run',
    `--metadata=${a.metadata}`, `--level=${a.level}`, `--raid-devices=${a.raidDevices}`,
    ...(a.spares.length > 0 ? [`--spare-devices=${a.spares.length}`] : []),
    ...(a.chunkSize ? [`--chunk=${a.chunkSize / 1024}`] : []),
    ...(a.layout ? [`--layout=${a.layout}`] : []),
    `--uuid=${a.uuid}`,
    // A 1.x name without "host:" is kept as it is: mdadm would otherwise prefix the rescue system's hostname.
    ...(a.homehost ? [`--homehost=${a.homehost}`] : a.name ? ['--homehost=<none>'] : []),
    ...(a.name ? [`--name=${a.name}`] : []),
    ...(a.force ? ['--force'] : []),
    ...a.members, ...a.spares,
  ];
}

function vgMetadataText(plan: RestorePlan, vg: PlannedVg): string {
  return renderVgMetadata({
    name: vg.name,
    uuid: vg.uuid,
    extentSize: vg.extentSize,
    pvs: plan.lvm.pvs.filter((p) => p.vg === vg.name).map((p) => ({ device: p.device, uuid: p.uuid, bytes: p.bytes, extents: p.extents })),
    lvs: plan.lvm.lvs.filter((l) => l.vg === vg.name).map((l) => ({ name: l.name, uuid: l.uuid, segments: l.segments, ...(l.stripeSize ? { stripeSize: l.stripeSize } : {}) })),
    description: `lifeboat restore of ${plan.image}@${plan.version}`,
  });
}

function diskLine(d: PlannedDisk): string {
  const extra = [d.model, d.serial && `serial ${d.serial}`].filter(Boolean).join(', ');
  return `${d.source} (${formatBytes(d.sourceBytes)}) -> ${d.target} (${formatBytes(d.targetBytes)}${extra ? `, ${extra}` : ''}${d.sectorSize !== 512 ? `, ${d.sectorSize}-byte sectors` : ''})`;
}

function partitionSummary(plan: RestorePlan, d: PlannedDisk): string[] {
  if (!d.table) {
    const fs = plan.filesystems.find((f) => f.device === d.target);
    const md = plan.md.find((m) => m.members.includes(d.target) || m.spares.includes(d.target));
    const pv = plan.lvm.pvs.find((p) => p.device === d.target);
    const holds = fs ? `${fs.type}${fs.mountpoint ? ` ${fs.mountpoint}` : ''}`
      : plan.swaps.some((s) => s.device === d.target) ? 'swap'
      : md ? `${md.level.toUpperCase()} member of ${md.device} → ${md.holds}`
      : pv ? `LVM PV of ${pv.vg}` : 'nothing restored';
    return [`#     whole disk ${formatBytes(alignDown(d.targetBytes, d.sectorSize)).padStart(10)}  ${holds} (no partition table, as on the source)`];
  }
  return d.table.partitions.map((p) => {
    const change = p.bytes === p.sourceBytes ? 'same size' : p.bytes > p.sourceBytes ? `grown from ${formatBytes(p.sourceBytes)}` : `shrunk from ${formatBytes(p.sourceBytes)}`;
    const rule = p.sizing === 'container' ? 'spans its logical partitions' : p.sizing;
    return `#     ${p.device.padEnd(d.target.length + 2)} ${formatBytes(p.bytes).padStart(10)}  ${p.holds} (${rule}, ${change})`;
  });
}

function alignDown(bytes: number, unit: number): number {
  return Math.floor(bytes / unit) * unit;
}

export function renderPlan(plan: RestorePlan): RenderedPlan {
  const steps: RestoreStep[] = [];
  const run = (stage: RestoreStage, description: string, command: string[], input?: string, fallback?: CommandStep['fallback'], extra: Pick<CommandStep, 'okExitCodes' | 'waitFor'> = {}) =>
    steps.push({ kind: 'command', stage, description, command, ...(input === undefined ? {} : { input }), ...(fallback ? { fallback } : {}), ...extra });
  const root = plan.targetRoot;

  for (const d of plan.disks) run('wipe', `Erase old partition table and filesystem signatures on ${d.target}`, ['wipefs', '-a', d.target]);

  for (const d of plan.disks) {
    if (!d.table) continue;
    run(
      'partition',
      `Write ${d.table.type === 'gpt' ? 'a GPT' : 'an MBR'} table with ${d.table.partitions.length} partitions on ${d.target} (${plan.policy})`,
      ['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', d.target],
      renderSfdiskScript(d.table),
    );
  }

  // md: each array as on the source (level, metadata, chunk, layout, UUID, name), members in slot
  // order. No --assume-clean: a RAID5/6's parity must be computed before partial-stripe writes can
  // trust it, and a new mirror's unwritten blocks differ until synced (the monthly check would
  // report them as mismatches). The sync runs in the background while the restore writes through
  // the array, and the teardown waits for it, so the machine reboots with a clean array.
  for (const a of plan.md) {
    const shape = a.raidDevices < a.sourceRaidDevices ? `, ${a.raidDevices} of the source's ${a.sourceRaidDevices} members` : '';
    run('md', `Create ${a.level.toUpperCase()} ${a.device} on ${[...a.members, ...a.spares].join(', ')}${shape} (UUID ${a.uuid}${a.name ? `, name ${a.homehost ? `${a.homehost}:` : ''}${a.name}` : ''})`, mdadmCreateCommand(a), undefined, undefined, { waitFor: [a.device] });
    // The new array's data area starts where the old one's did: stale LVM or filesystem signatures would show through.
    run('md', `Erase signatures the disks' old contents leave visible inside ${a.device}`, ['wipefs', '-a', a.device]);
  }

  // LVM: metadata with the source's UUIDs and this plan's sizes, restored with vgcfgrestore.
  if (plan.lvm.vgs.length > 0) run('lvm', `Create ${plan.workDir}/lvm for the volume group metadata`, ['mkdir', '-p', `${plan.workDir}/lvm`]);
  for (const vg of plan.lvm.vgs) {
    run('lvm', `Write the metadata of volume group ${vg.name} (${vg.extents} extents of ${formatBytes(vg.extentSize)}) to ${vg.metadataFile}`, ['tee', vg.metadataFile], vgMetadataText(plan, vg));
    for (const pv of plan.lvm.pvs.filter((p) => p.vg === vg.name)) {
      run('lvm', `Make ${pv.device} the LVM PV ${pv.uuid} of ${vg.name}`, ['pvcreate', '-ff', '-y', '--uuid', pv.uuid, '--restorefile', vg.metadataFile, pv.device]);
    }
    run('lvm', `Restore volume group ${vg.name} (UUID ${vg.uuid}) with its logical volumes`, ['vgcfgrestore', '-f', vg.metadataFile, vg.name]);
    // --sysinit: no dmeventd or lvmpolld in the rescue system; vgmknodes makes the nodes udev would.
    run('lvm', `Activate volume group ${vg.name}`, ['vgchange', '-ay', '--sysinit', vg.name]);
    run('lvm', `Make the device nodes of ${vg.name}'s logical volumes`, ['vgmknodes', vg.name], undefined, undefined, { waitFor: plan.lvm.lvs.filter((l) => l.vg === vg.name).map((l) => l.device) });
  }

  for (const fs of plan.filesystems) {
    for (const c of mkfsCommands(fs)) run('mkfs', c.description, c.command);
    if (fs.type === 'btrfs' && fs.subvolumes && fs.subvolumes.length > 0) {
      // Subvolumes are made on the volume's top, before anything is mounted at the target root.
      run('mkfs', `Create ${root} to mount the btrfs volume's top on`, ['mkdir', '-p', root]);
      run('mkfs', `Mount the top of the btrfs volume on ${fs.device} to create its subvolumes`, ['mount', '-t', 'btrfs', '-o', 'subvolid=5', fs.device, root]);
      const made = new Set<string>();
      for (const s of fs.subvolumes) {
        const parent = posix.dirname(s.path);
        // A subvolume inside a plain directory of another (@/var/lib/machines): the directories first.
        if (parent !== '.' && !made.has(parent)) run('mkfs', `Create the directory ${parent} that holds subvolume ${s.path}`, ['mkdir', '-p', `${root}/${parent}`]);
        run('mkfs', `Create btrfs subvolume ${s.path}`, ['btrfs', 'subvolume', 'create', `${root}/${s.path}`]);
        made.add(s.path);
      }
      const def = fs.subvolumes.find((s) => s.isDefault);
      if (def) run('mkfs', `Make ${def.path} the default subvolume, as on the source`, ['btrfs', 'subvolume', 'set-default', `${root}/${def.path}`]);
      run('mkfs', `Unmount the btrfs volume on ${fs.device}`, ['umount', root]);
    }
  }
  for (const s of plan.swaps) {
    const what = `swap on ${s.device}${s.uuid ? `, UUID ${s.uuid}` : ''}${s.label ? `, label ${s.label}` : ''}`;
    run('mkfs', `Make ${what}`, ['mkswap', ...(s.uuid ? ['-U', s.uuid] : []), ...(s.label ? ['-L', s.label] : []), s.device]);
  }

  // Each filesystem is mounted just before its own archive is extracted, parents first: the
  // directory a child is mounted on then gets its owner, mode and times from the parent's archive
  // instead of being hidden under the child's mount with the time mkdir made it.
  const extract = (r: RestorePlan['restores'][number]) =>
    steps.push({
      kind: 'extract', stage: 'restore', archiveId: r.archiveId, directory: r.directory, fstype: r.fstype, device: r.device,
      description: `Extract archive "${r.archiveId}" (${r.mountpoint || (r.subvolume ? `btrfs subvolume ${r.subvolume}` : 'the top of the btrfs volume')}, ${formatBytes(r.usedBytes)} used, ${r.volumes} volume${r.volumes === 1 ? '' : 's'}) into ${r.directory}`,
    });
  const extracted = new Set<string>();
  for (const m of plan.mounts) {
    run('mount', `Create the mount point ${m.directory}`, ['mkdir', '-p', m.directory]);
    const what = m.aside ? `the top of the btrfs volume ${m.device} beside the restored system, for the subvolumes the source mounted nowhere` : `${m.device} (${m.fstype}) as ${m.mountpoint} of the restored system`;
    run('mount', `Mount ${what}`, ['mount', '-t', m.fstype, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.device, m.directory]);
    for (const r of plan.restores.filter((x) => (x.mount ?? x.directory) === m.directory && x.device === m.device)) {
      extract(r);
      extracted.add(r.archiveId);
    }
  }
  for (const r of plan.restores) if (!extracted.has(r.archiveId)) extract(r);

  const b = plan.bootloader;
  const chrootMounts = b.kind !== 'none';
  if (chrootMounts) {
    run('bootloader', 'Make sure the restored system has /dev, /proc and /sys to mount on', ['mkdir', '-p', `${root}/dev`, `${root}/proc`, `${root}/sys`]);
    run('bootloader', 'Give the restored system /dev for the bootloader installer', ['mount', '--bind', '/dev', `${root}/dev`]);
    run('bootloader', 'Give the restored system /proc', ['mount', '-t', 'proc', 'proc', `${root}/proc`]);
    run('bootloader', 'Give the restored system /sys', ['mount', '-t', 'sysfs', 'sysfs', `${root}/sys`]);
  }
  if (b.kind === 'grub-pc') {
    for (const disk of b.disks) {
      run('bootloader', `Install GRUB (BIOS) into the boot sector of ${disk}: ${b.why}`, ['chroot', root, 'grub-install', '--target=i386-pc', disk], undefined, {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: the rescue system's GRUB writes the boot sector of ${disk} and ${root}/boot/grub`,
        command: ['grub-install', '--target=i386-pc', `--boot-directory=${root}/boot`, disk],
      });
    }
  } else if (b.kind === 'grub-efi' || b.kind === 'systemd-boot') {
    if (b.kind === 'grub-efi') {
      const esp = `${root}${b.efiDirectory === '/' ? '' : b.efiDirectory}`;
      run('bootloader', `Install GRUB (UEFI) on the ESP ${b.espDevice} as EFI/${b.bootloaderId}`, ['chroot', root, 'grub-install', `--target=${b.grubTarget}`, `--efi-directory=${b.efiDirectory}`, `--bootloader-id=${b.bootloaderId}`, '--no-nvram'], undefined, {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: the ESP restored from the image must already hold ${b.loader}`,
        command: ['test', '-f', `${esp}/${b.loader}`],
      });
      run('bootloader', `Install GRUB at the firmware's fallback path ${b.removablePath} too, so the disk boots with no boot entry`, ['chroot', root, 'grub-install', `--target=${b.grubTarget}`, `--efi-directory=${b.efiDirectory}`, '--removable', '--no-nvram'], undefined, {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: copy ${b.loader} to the fallback path ${b.removablePath} unless the image already has one there`,
        command: ['sh', '-c', '[ -e "$2" ] || install -D -m 0644 "$1" "$2"', 'sh', `${esp}/${b.loader}`, `${esp}/${b.removablePath}`],
      });
    } else {
      // bootctl also fills the fallback path EFI/BOOT; the entry is made below like GRUB's.
      run('bootloader', `Install systemd-boot on the ESP ${b.espDevice}`, ['chroot', root, 'bootctl', 'install', `--esp-path=${b.efiDirectory}`, '--no-variables']);
    }
    const entry = uefiBootEntryStep(b.label, b.espDisk, b.espPartition, `\\${b.loader.replaceAll('/', '\\')}`);
    run('bootloader', `Add the firmware boot entry "${b.label}" for ${b.loader} on ${b.espDisk} partition ${b.espPartition}, after the network entry, and boot it next`, entry.command, entry.input);
  }

  if (chrootMounts) {
    for (const dir of ['sys', 'proc', 'dev']) run('unmount', `Release ${root}/${dir}`, ['umount', `${root}/${dir}`]);
  }
  for (const m of [...plan.mounts].reverse()) run('unmount', `Unmount ${m.directory}`, ['umount', m.directory]);
  // A new mirror or parity array syncs its members; the machine reboots with a clean array rather
  // than resuming the sync at boot (mdadm --wait exits 1 when there is nothing left to wait for).
  for (const a of plan.md.filter((x) => x.sync === 'resync')) {
    run('unmount', `Wait for the initial sync of ${a.device} (${formatBytes(a.bytes)}) to finish, so the restored system boots with a clean array`, ['mdadm', '--wait', a.device], undefined, undefined, { okExitCodes: [0, 1] });
  }
  for (const vg of [...plan.lvm.vgs].reverse()) run('unmount', `Deactivate volume group ${vg.name}`, ['vgchange', '-an', vg.name]);
  for (const a of [...plan.md].reverse()) run('unmount', `Stop ${a.device}, so its superblocks are marked clean before the reboot`, ['mdadm', '--stop', a.device]);

  return { steps, script: renderScript(plan, steps) };
}

const STAGE_TITLES: Record<RestoreStage, string> = {
  wipe: 'wipe: forget what the target disks held',
  partition: 'partition: the source tables, sized for these disks',
  md: 'md: the RAID arrays, with their original UUIDs and names',
  lvm: 'lvm: the volume groups and logical volumes, with their original UUIDs, sized for these disks',
  mkfs: 'mkfs: filesystems and swap with their original UUIDs and labels',
  mount: 'mount: the restored system, parents first, each just before its archive',
  restore: 'restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)',
  bootloader: 'bootloader',
  unmount: 'unmount: filesystems, then volume groups and arrays, so the machine reboots clean',
};

function renderScript(plan: RestorePlan, steps: RestoreStep[]): string {
  const out: string[] = [
    '#!/bin/sh',
    `# Lifeboat restore plan for image ${plan.image}, version ${plan.version}`,
    `# Sizing policy: ${plan.policy}. Target firmware: ${plan.firmware}. The system is assembled under ${plan.targetRoot}.`,
    '#',
    '# Disks:',
  ];
  for (const d of plan.disks) {
    out.push(`#   ${diskLine(d)}`);
    out.push(...partitionSummary(plan, d));
  }
  for (const u of plan.untouchedDisks) out.push(`#   ${u.path} (${formatBytes(u.bytes)}): left untouched (${u.why})`);
  for (const d of plan.droppedDisks) out.push(`#   ${d.path} of the image: not restored (${d.why})`);
  if (plan.md.length > 0) {
    out.push('#', '# md RAID:');
    for (const a of plan.md) {
      out.push(`#   ${a.device} ${a.level}, metadata ${a.metadata}, ${formatBytes(a.bytes)} on ${[...a.members, ...a.spares].join(', ')}${a.sync === 'resync' ? ', synced before the reboot' : ''}: ${a.holds}`);
    }
  }
  for (const vg of plan.lvm.vgs) {
    const pvs = plan.lvm.pvs.filter((p) => p.vg === vg.name);
    out.push('#', `# LVM volume group ${vg.name} on ${pvs.map((p) => p.device).join(', ')}: ${formatBytes(vg.bytes)} (${vg.extents} extents of ${formatBytes(vg.extentSize)}; ${formatBytes(vg.sourceBytes)} on the source)`);
    for (const l of plan.lvm.lvs.filter((x) => x.vg === vg.name)) {
      const change = l.bytes === l.sourceBytes ? 'same size' : l.bytes > l.sourceBytes ? `grown from ${formatBytes(l.sourceBytes)}` : `shrunk from ${formatBytes(l.sourceBytes)}`;
      out.push(`#     ${l.name.padEnd(12)} ${formatBytes(l.bytes).padStart(10)}  ${l.holds}${l.stripes > 1 ? `, striped over ${l.stripes}` : ''} (${l.sizing}, ${change})`);
    }
  }
  if (plan.notes.length > 0) {
    out.push('#', '# Notes:');
    for (const n of plan.notes) out.push(`#   - ${n}`);
  }
  out.push('', 'set -e');
  let stage: RestoreStage | undefined;
  for (const s of steps) {
    if (s.stage !== stage) {
      stage = s.stage;
      out.push('', `### ${STAGE_TITLES[stage]}`);
    }
    out.push(`# ${s.description}`);
    if (s.kind === 'extract') continue;
    const line = commandLine(s.command[0]!, s.command.slice(1)) + (s.okExitCodes?.includes(1) ? ' || [ $? -eq 1 ]' : '');
    if (s.fallback) {
      out.push(`if [ -e ${s.fallback.whenMissing} ]; then`, `  ${line}`, `else  # ${s.fallback.description}`, `  ${commandLine(s.fallback.command[0]!, s.fallback.command.slice(1))}`, 'fi');
    } else if (s.input === undefined) {
      out.push(line);
    } else {
      out.push(`${line} <<'EOF'`, s.input.replace(/\n$/, ''), 'EOF');
    }
  }
  if (plan.bootloader.kind === 'none') out.push('', `# No bootloader is installed: ${plan.bootloader.why}.`);
  return `${out.join('\n')}\n`;
}
