import { LifeboatError } from '../../../core/errors.js';
import { formatBytes } from '../../../core/sizes.js';
import type { Layout } from '../../layout/model.js';
import type { PlanEdits } from '../plan-edits.js';
import { ALIGNMENT_BYTES, SIZING_POLICIES } from '../sizing.js';
import { invalid } from './source-contents.js';
import type { PlanInput } from './types.js';

/** The checks of the planner's input and of the operator's edits: refusals before anything is planned. */

export function list(items: string[]): string {
  return items.length === 0 ? 'none' : items.join(', ');
}

export function checkInput(input: PlanInput): void {
  if (!SIZING_POLICIES.includes(input.policy)) throw invalid(`sizing policy "${String(input.policy)}" is unknown: use ${SIZING_POLICIES.join(' or ')}`);
  if (input.firmware !== 'bios' && input.firmware !== 'uefi') throw invalid(`firmware "${String(input.firmware)}" is unknown: use bios or uefi`);
  if (input.targetDisks.length === 0) throw new LifeboatError('LB_DOES_NOT_FIT', 'the target machine reports no disks: there is nothing to restore onto; check that its disk controller has a driver in the rescue system');
  const seen = new Set<string>();
  for (const d of input.targetDisks) {
    if (seen.has(d.path)) throw invalid(`target disk ${d.path} is listed twice`);
    seen.add(d.path);
    if (!Number.isSafeInteger(d.size) || d.size <= 0) throw invalid(`target disk ${d.path} has size ${d.size}: a disk size is a positive number of bytes`);
    const s = d.logicalSectorSize;
    if (!Number.isInteger(s) || s < 512 || s > 65536 || (s & (s - 1)) !== 0) throw invalid(`target disk ${d.path} has logical sector size ${s}: expected a power of two from 512 to 65536`);
  }
}

export function checkPartitionEdits(edits: PlanEdits, partitionPaths: Map<string, string>, droppedOrUnmapped: Set<string>): void {
  for (const [path, bytes] of Object.entries(edits.partitionSizes ?? {})) {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalid(`the edited size of ${path} is ${bytes}: a partition size is a positive whole number of bytes`);
    if (bytes < ALIGNMENT_BYTES) throw invalid(`the edited size of ${path} is ${bytes} bytes: a partition is at least ${formatBytes(ALIGNMENT_BYTES)}`);
    const disk = partitionPaths.get(path);
    if (!disk) throw invalid(`the edited sizes name ${path}, which is not a partition of the image (its partitions: ${list([...partitionPaths.keys()])})`);
    if (droppedOrUnmapped.has(disk)) throw invalid(`the edited sizes name ${path}, but its disk ${disk} is dropped from the plan`);
  }
}

export function checkLvEdits(edits: PlanEdits, layout: Layout, plannedVgs: string[]): void {
  for (const [key, bytes] of Object.entries(edits.lvSizes ?? {})) {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalid(`the edited size of LV ${key} is ${bytes}: an LV size is a positive whole number of bytes`);
    const lv = layout.lvm.lvs.find((l) => `${l.vg}/${l.name}` === key);
    if (!lv) throw invalid(`the edited LV sizes name ${key}, which is not a logical volume of the image (its LVs: ${list(layout.lvm.lvs.map((l) => `${l.vg}/${l.name}`))})`);
    if (!plannedVgs.includes(lv.vg)) throw invalid(`the edited LV sizes name ${key}, but volume group ${lv.vg} is not restored (its disks are dropped)`);
  }
}
