import { posix } from 'node:path';
import { formatBytes } from '../../core/sizes.js';
import type { PlannedFilesystem, RestorePlan } from './plan.js';
import { mdadmCreateCommand, mkfsCommands, renderSfdiskScript, vgMetadataText } from './render-commands.js';
import { uefiBootEntryStep } from './uefi-boot-entry.js';

/** The restore's steps, one function per stage; render-plan.ts puts them in order. */

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

type StepOptions = Pick<CommandStep, 'input' | 'fallback' | 'okExitCodes' | 'waitFor'>;

function command(stage: RestoreStage, description: string, argv: string[], o: StepOptions = {}): CommandStep {
  return {
    kind: 'command', stage, description, command: argv,
    ...(o.input === undefined ? {} : { input: o.input }), ...(o.fallback ? { fallback: o.fallback } : {}),
    ...(o.okExitCodes ? { okExitCodes: o.okExitCodes } : {}), ...(o.waitFor ? { waitFor: o.waitFor } : {}),
  };
}

export function wipeSteps(plan: RestorePlan): CommandStep[] {
  return plan.disks.map((d) => command('wipe', `Erase old partition table and filesystem signatures on ${d.target}`, ['wipefs', '-a', d.target]));
}

export function partitionSteps(plan: RestorePlan): CommandStep[] {
  return plan.disks.flatMap((d) => (d.table ? [command(
    'partition',
    `Write ${d.table.type === 'gpt' ? 'a GPT' : 'an MBR'} table with ${d.table.partitions.length} partitions on ${d.target} (${plan.policy})`,
    ['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', d.target],
    { input: renderSfdiskScript(d.table) },
  )] : []));
}

/**
 * md: each array as on the source (level, metadata, chunk, layout, UUID, name), members in slot
 * order. No --assume-clean: a RAID5/6's parity must be computed before partial-stripe writes can
 * trust it, and a new mirror's unwritten blocks differ until synced (the monthly check would
 * report them as mismatches). The sync runs in the background while the restore writes through
 * the array, and the teardown waits for it, so the machine reboots with a clean array.
 */
export function mdSteps(plan: RestorePlan): CommandStep[] {
  return plan.md.flatMap((a) => {
    const shape = a.raidDevices < a.sourceRaidDevices ? `, ${a.raidDevices} of the source's ${a.sourceRaidDevices} members` : '';
    return [
      command('md', `Create ${a.level.toUpperCase()} ${a.device} on ${[...a.members, ...a.spares].join(', ')}${shape} (UUID ${a.uuid}${a.name ? `, name ${a.homehost ? `${a.homehost}:` : ''}${a.name}` : ''})`, mdadmCreateCommand(a), { waitFor: [a.device] }),
      // The new array's data area starts where the old one's did: stale LVM or filesystem signatures would show through.
      command('md', `Erase signatures the disks' old contents leave visible inside ${a.device}`, ['wipefs', '-a', a.device]),
    ];
  });
}

/** LVM: metadata with the source's UUIDs and this plan's sizes, restored with vgcfgrestore. */
export function lvmSteps(plan: RestorePlan): CommandStep[] {
  const steps: CommandStep[] = [];
  if (plan.lvm.vgs.length > 0) steps.push(command('lvm', `Create ${plan.workDir}/lvm for the volume group metadata`, ['mkdir', '-p', `${plan.workDir}/lvm`]));
  for (const vg of plan.lvm.vgs) {
    steps.push(command('lvm', `Write the metadata of volume group ${vg.name} (${vg.extents} extents of ${formatBytes(vg.extentSize)}) to ${vg.metadataFile}`, ['tee', vg.metadataFile], { input: vgMetadataText(plan, vg) }));
    for (const pv of plan.lvm.pvs.filter((p) => p.vg === vg.name)) {
      steps.push(command('lvm', `Make ${pv.device} the LVM PV ${pv.uuid} of ${vg.name}`, ['pvcreate', '-ff', '-y', '--uuid', pv.uuid, '--restorefile', vg.metadataFile, pv.device]));
    }
    steps.push(command('lvm', `Restore volume group ${vg.name} (UUID ${vg.uuid}) with its logical volumes`, ['vgcfgrestore', '-f', vg.metadataFile, vg.name]));
    // --sysinit: no dmeventd or lvmpolld in the rescue system; vgmknodes makes the nodes udev would.
    steps.push(command('lvm', `Activate volume group ${vg.name}`, ['vgchange', '-ay', '--sysinit', vg.name]));
    steps.push(command('lvm', `Make the device nodes of ${vg.name}'s logical volumes`, ['vgmknodes', vg.name], { waitFor: plan.lvm.lvs.filter((l) => l.vg === vg.name).map((l) => l.device) }));
  }
  return steps;
}

export function mkfsSteps(plan: RestorePlan): CommandStep[] {
  const steps: CommandStep[] = [];
  for (const fs of plan.filesystems) {
    for (const c of mkfsCommands(fs)) steps.push(command('mkfs', c.description, c.command));
    if (fs.type === 'btrfs' && fs.subvolumes && fs.subvolumes.length > 0) steps.push(...subvolumeSteps(fs, plan.targetRoot));
  }
  for (const s of plan.swaps) {
    const what = `swap on ${s.device}${s.uuid ? `, UUID ${s.uuid}` : ''}${s.label ? `, label ${s.label}` : ''}`;
    steps.push(command('mkfs', `Make ${what}`, ['mkswap', ...(s.uuid ? ['-U', s.uuid] : []), ...(s.label ? ['-L', s.label] : []), s.device]));
  }
  return steps;
}

/** Subvolumes are made on the volume's top, before anything is mounted at the target root. */
function subvolumeSteps(fs: PlannedFilesystem, root: string): CommandStep[] {
  const subvolumes = fs.subvolumes ?? [];
  const steps = [
    command('mkfs', `Create ${root} to mount the btrfs volume's top on`, ['mkdir', '-p', root]),
    command('mkfs', `Mount the top of the btrfs volume on ${fs.device} to create its subvolumes`, ['mount', '-t', 'btrfs', '-o', 'subvolid=5', fs.device, root]),
  ];
  const made = new Set<string>();
  for (const s of subvolumes) {
    const parent = posix.dirname(s.path);
    // A subvolume inside a plain directory of another (@/var/lib/machines): the directories first.
    if (parent !== '.' && !made.has(parent)) steps.push(command('mkfs', `Create the directory ${parent} that holds subvolume ${s.path}`, ['mkdir', '-p', `${root}/${parent}`]));
    steps.push(command('mkfs', `Create btrfs subvolume ${s.path}`, ['btrfs', 'subvolume', 'create', `${root}/${s.path}`]));
    made.add(s.path);
  }
  const def = subvolumes.find((s) => s.isDefault);
  if (def) steps.push(command('mkfs', `Make ${def.path} the default subvolume, as on the source`, ['btrfs', 'subvolume', 'set-default', `${root}/${def.path}`]));
  steps.push(command('mkfs', `Unmount the btrfs volume on ${fs.device}`, ['umount', root]));
  return steps;
}

function extractStep(r: RestorePlan['restores'][number]): ExtractStep {
  return {
    kind: 'extract', stage: 'restore', archiveId: r.archiveId, directory: r.directory, fstype: r.fstype, device: r.device,
    description: `Extract archive "${r.archiveId}" (${r.mountpoint || (r.subvolume ? `btrfs subvolume ${r.subvolume}` : 'the top of the btrfs volume')}, ${formatBytes(r.usedBytes)} used, ${r.volumes} volume${r.volumes === 1 ? '' : 's'}) into ${r.directory}`,
  };
}

/**
 * Each filesystem is mounted just before its own archive is extracted, parents first: the
 * directory a child is mounted on then gets its owner, mode and times from the parent's archive
 * instead of being hidden under the child's mount with the time mkdir made it.
 */
export function mountAndExtractSteps(plan: RestorePlan): RestoreStep[] {
  const steps: RestoreStep[] = [];
  const extracted = new Set<string>();
  for (const m of plan.mounts) {
    steps.push(command('mount', `Create the mount point ${m.directory}`, ['mkdir', '-p', m.directory]));
    const what = m.aside ? `the top of the btrfs volume ${m.device} beside the restored system, for the subvolumes the source mounted nowhere` : `${m.device} (${m.fstype}) as ${m.mountpoint} of the restored system`;
    steps.push(command('mount', `Mount ${what}`, ['mount', '-t', m.fstype, ...(m.options.length > 0 ? ['-o', m.options.join(',')] : []), m.device, m.directory]));
    for (const r of plan.restores.filter((x) => (x.mount ?? x.directory) === m.directory && x.device === m.device)) {
      steps.push(extractStep(r));
      extracted.add(r.archiveId);
    }
  }
  for (const r of plan.restores) if (!extracted.has(r.archiveId)) steps.push(extractStep(r));
  return steps;
}

export function bootloaderSteps(plan: RestorePlan): CommandStep[] {
  const b = plan.bootloader;
  const root = plan.targetRoot;
  if (b.kind === 'none') return [];
  const chroot = [
    command('bootloader', 'Make sure the restored system has /dev, /proc and /sys to mount on', ['mkdir', '-p', `${root}/dev`, `${root}/proc`, `${root}/sys`]),
    command('bootloader', 'Give the restored system /dev for the bootloader installer', ['mount', '--bind', '/dev', `${root}/dev`]),
    command('bootloader', 'Give the restored system /proc', ['mount', '-t', 'proc', 'proc', `${root}/proc`]),
    command('bootloader', 'Give the restored system /sys', ['mount', '-t', 'sysfs', 'sysfs', `${root}/sys`]),
  ];
  if (b.kind === 'grub-pc') {
    return [...chroot, ...b.disks.map((disk) => command('bootloader', `Install GRUB (BIOS) into the boot sector of ${disk}: ${b.why}`, ['chroot', root, 'grub-install', '--target=i386-pc', disk], {
      fallback: {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: the rescue system's GRUB writes the boot sector of ${disk} and ${root}/boot/grub`,
        command: ['grub-install', '--target=i386-pc', `--boot-directory=${root}/boot`, disk],
      },
    }))];
  }
  const entry = uefiBootEntryStep(b.label, b.espDisk, b.espPartition, `\\${b.loader.replaceAll('/', '\\')}`);
  return [
    ...chroot,
    ...(b.kind === 'grub-efi' ? grubEfiSteps(plan) : [
      // bootctl also fills the fallback path EFI/BOOT; the entry is made below like GRUB's.
      command('bootloader', `Install systemd-boot on the ESP ${b.espDevice}`, ['chroot', root, 'bootctl', 'install', `--esp-path=${b.efiDirectory}`, '--no-variables']),
    ]),
    command('bootloader', `Add the firmware boot entry "${b.label}" for ${b.loader} on ${b.espDisk} partition ${b.espPartition}, after the network entry, and boot it next`, entry.command, { input: entry.input }),
  ];
}

function grubEfiSteps(plan: RestorePlan): CommandStep[] {
  const b = plan.bootloader;
  if (b.kind !== 'grub-efi') return [];
  const root = plan.targetRoot;
  const esp = `${root}${b.efiDirectory === '/' ? '' : b.efiDirectory}`;
  return [
    command('bootloader', `Install GRUB (UEFI) on the ESP ${b.espDevice} as EFI/${b.bootloaderId}`, ['chroot', root, 'grub-install', `--target=${b.grubTarget}`, `--efi-directory=${b.efiDirectory}`, `--bootloader-id=${b.bootloaderId}`, '--no-nvram'], {
      fallback: {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: the ESP restored from the image must already hold ${b.loader}`,
        command: ['test', '-f', `${esp}/${b.loader}`],
      },
    }),
    command('bootloader', `Install GRUB at the firmware's fallback path ${b.removablePath} too, so the disk boots with no boot entry`, ['chroot', root, 'grub-install', `--target=${b.grubTarget}`, `--efi-directory=${b.efiDirectory}`, '--removable', '--no-nvram'], {
      fallback: {
        whenMissing: `${root}/usr/sbin/grub-install`,
        description: `the restored system has no grub-install: copy ${b.loader} to the fallback path ${b.removablePath} unless the image already has one there`,
        command: ['sh', '-c', '[ -e "$2" ] || install -D -m 0644 "$1" "$2"', 'sh', `${esp}/${b.loader}`, `${esp}/${b.removablePath}`],
      },
    }),
  ];
}

export function unmountSteps(plan: RestorePlan): CommandStep[] {
  const root = plan.targetRoot;
  const steps: CommandStep[] = [];
  if (plan.bootloader.kind !== 'none') {
    for (const dir of ['sys', 'proc', 'dev']) steps.push(command('unmount', `Release ${root}/${dir}`, ['umount', `${root}/${dir}`]));
  }
  for (const m of [...plan.mounts].reverse()) steps.push(command('unmount', `Unmount ${m.directory}`, ['umount', m.directory]));
  // A new mirror or parity array syncs its members; the machine reboots with a clean array rather
  // than resuming the sync at boot (mdadm --wait exits 1 when there is nothing left to wait for).
  for (const a of plan.md.filter((x) => x.sync === 'resync')) {
    steps.push(command('unmount', `Wait for the initial sync of ${a.device} (${formatBytes(a.bytes)}) to finish, so the restored system boots with a clean array`, ['mdadm', '--wait', a.device], { okExitCodes: [0, 1] }));
  }
  for (const vg of [...plan.lvm.vgs].reverse()) steps.push(command('unmount', `Deactivate volume group ${vg.name}`, ['vgchange', '-an', vg.name]));
  for (const a of [...plan.md].reverse()) steps.push(command('unmount', `Stop ${a.device}, so its superblocks are marked clean before the reboot`, ['mdadm', '--stop', a.device]));
  return steps;
}
