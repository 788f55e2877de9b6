import { commandLine } from '../../core/run-tool.js';
import { formatBytes } from '../../core/sizes.js';
import type { PlannedDisk, RestorePlan } from './plan.js';
import {
  bootloaderSteps, lvmSteps, mdSteps, mkfsSteps, mountAndExtractSteps, partitionSteps, unmountSteps, wipeSteps,
  type RestoreStage, type RestoreStep,
} from './render-steps.js';
import { alignDown } from './sizing.js';

/**
 * RestorePlan → the exact commands the executor runs, in order, and one shell-like script of the
 * same steps (as ReaR's generated restore script) for --dry-run, interactive mode and the logs.
 * The executor runs these argv arrays and nothing else; extraction is the one step it does itself
 * (through the image engine), so that step carries the archive instead of a command. The steps of
 * each stage are made in render-steps.ts, single commands in render-commands.ts.
 */

export type { CommandStep, ExtractStep, RestoreStage, RestoreStep } from './render-steps.js';
export { mdadmCreateCommand, renderSfdiskScript } from './render-commands.js';

export interface RenderedPlan {
  steps: RestoreStep[];
  script: string;
}

export function renderPlan(plan: RestorePlan): RenderedPlan {
  const steps: RestoreStep[] = [
    ...wipeSteps(plan), ...partitionSteps(plan), ...mdSteps(plan), ...lvmSteps(plan), ...mkfsSteps(plan),
    ...mountAndExtractSteps(plan), ...bootloaderSteps(plan), ...unmountSteps(plan),
  ];
  return { steps, script: renderScript(plan, steps) };
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
