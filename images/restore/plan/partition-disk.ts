import { LifeboatError } from '../../../core/errors.js';
import { formatBytes } from '../../../core/sizes.js';
import { isEspType, type Disk, type Partition } from '../../layout/model.js';
import type { StackNeeds } from './stack-needs.js';
import { alignDown, alignUp, placeSlots, sizeSlots, usableArea, type Need, type SizingPolicy, type Slot, type UsableArea } from '../sizing.js';
import { describeContent, invalid, needOf, type Content } from './source-contents.js';
import { partitionDevice } from './device-paths.js';
import { doesNotFitMessage, editedTooSmall } from './does-not-fit.js';
import type { PartitionRole, PlannedDisk, PlannedPartition, PlannedTable, TargetDisk } from './types.js';

/**
 * One source disk onto one target disk: its table with every partition sized by the policy (or
 * the operator's size), placed on 1 MiB boundaries, or the whole disk when the source had no table.
 */

const BIOS_BOOT_GPT = '21686148-6449-6E6F-744E-656564454649';

/** What the planner knows about a device's stack while sizing disks: needs, growth, descriptions. */
export interface StackView {
  needs: StackNeeds;
  /** A readable name of a stacked content for refusals: the array, the VG, the filesystems on top. */
  label: (c: Content) => string;
}

export interface DiskOptions {
  source: Disk;
  target: TargetDisk;
  contents: Map<string, Content>;
  policy: SizingPolicy;
  /** Source partition → bytes on the target, instead of what the policy gives it. */
  sizes: Record<string, number>;
  /** Partitions whose size in `sizes` is a RAID member cut to its array's smallest member. */
  matched: ReadonlySet<string>;
  /** No disk map from the operator: a refusal may suggest mapping onto a bigger disk. */
  defaultMapping: boolean;
  allTargets: TargetDisk[];
  view: StackView;
}

export interface DiskPlan {
  disk: PlannedDisk;
  /** Source device → target device for everything this disk carries. */
  devices: Map<string, string>;
  bytesOf: Map<string, number>;
  notes: string[];
}

function roleOf(table: { type: 'gpt' | 'dos' }, p: Partition, content: Content | undefined): PartitionRole {
  if (table.type === 'gpt' && p.type === BIOS_BOOT_GPT) return 'bios-boot';
  if (isEspType(table.type, p.type)) return 'esp';
  if (p.kind === 'extended') return 'extended';
  if (content?.kind === 'filesystem') return 'filesystem';
  if (content?.kind === 'swap') return 'swap';
  if (content?.kind === 'md-member') return 'raid';
  if (content?.kind === 'pv') return 'lvm';
  return 'empty';
}

function needFor(view: StackView, c: Content, sourceBytes: number): Need {
  if (c.kind === 'md-member' || c.kind === 'pv') return view.needs.byDevice.get(c.device) ?? { bytes: sourceBytes, usedBytes: 0, headroomBytes: 0, minimumBytes: sourceBytes, reason: 'source-size' };
  return needOf(c, sourceBytes);
}

function refuse(o: DiskOptions, items: Parameters<typeof doesNotFitMessage>[0]['items'], room: number, fixedBytes: number): never {
  const message = doesNotFitMessage({ source: o.source, target: o.target, items, room, fixedBytes, defaultMapping: o.defaultMapping, allTargets: o.allTargets, label: o.view.label });
  throw new LifeboatError('LB_DOES_NOT_FIT', message, { source: o.source.path, target: o.target.path });
}

export function planDisk(o: DiskOptions): DiskPlan {
  const { source, target } = o;
  const base = {
    source: source.path, target: target.path, sourceBytes: source.size, targetBytes: target.size, sectorSize: target.logicalSectorSize,
    ...(target.model ? { model: target.model } : {}), ...(target.serial ? { serial: target.serial } : {}),
  };
  if (source.table !== null) return planTable(o, base);
  const content = o.contents.get(source.path)!;
  const bytes = alignDown(target.size, target.logicalSectorSize);
  const need = needFor(o.view, content, source.size);
  if (content.kind !== 'unsupported' && bytes < need.bytes) refuse(o, [{ content, need, partition: target.path, short: true }], bytes, 0);
  return { disk: { ...base, table: null }, devices: new Map([[source.path, target.path]]), bytesOf: new Map([[source.path, bytes]]), notes: [] };
}

/** The slot of each partition (in disk order): fixed, the operator's size, or sized by the policy. */
function slotsOf(o: DiskOptions, ordered: Partition[], roles: PartitionRole[]): Slot[] {
  const table = o.source.table!;
  const sectorSize = o.target.logicalSectorSize;
  return ordered.map((p, i) => {
    const role = roles[i]!;
    const sourceBytes = p.size * table.sectorSize;
    const kind: Slot['kind'] = table.type === 'gpt' ? 'gpt' : (p.kind ?? 'primary');
    const edited = o.sizes[p.path];
    if (edited !== undefined) {
      if (role === 'extended') throw invalid(`${p.path} is an extended partition: its size follows the logical partitions in it; edit those instead`);
      const bytes = alignDown(edited, sectorSize);
      const c = o.contents.get(p.path);
      if (c && c.kind !== 'unsupported') {
        const need = needFor(o.view, c, sourceBytes);
        if (bytes < need.bytes) throw editedTooSmall({ subject: p.path, bytes, what: o.view.label(c), need, details: { partition: p.path } });
      }
      return { kind, mode: 'edited', sourceBytes, bytes, minimumBytes: bytes };
    }
    const resizable = role === 'filesystem' || role === 'swap' || role === 'raid' || role === 'lvm';
    if (!resizable) return { kind, mode: 'fixed', sourceBytes, bytes: alignUp(sourceBytes, sectorSize), minimumBytes: 0 };
    const need = needFor(o.view, o.contents.get(p.path)!, sourceBytes);
    return { kind, mode: 'resizable', sourceBytes, bytes: 0, minimumBytes: alignUp(need.bytes), growable: o.view.needs.growable(p.path) };
  });
}

function planTable(o: DiskOptions, base: Omit<PlannedDisk, 'table'>): DiskPlan {
  const { source, target, contents, view } = o;
  const table = source.table!;
  const sectorSize = target.logicalSectorSize;
  const srcSector = table.sectorSize;
  const ordered = [...table.partitions].sort((a, b) => a.start - b.start || a.number - b.number);
  const roles = ordered.map((p) => roleOf(table, p, contents.get(p.path)));
  const slots = slotsOf(o, ordered, roles);
  const targetArea: UsableArea = usableArea(table.type, target.size, sectorSize);
  const sourceArea: UsableArea = table.lastLba !== undefined && table.type === 'gpt'
    ? { ...usableArea(table.type, source.size, srcSector), endBytes: (table.lastLba + 1) * srcSector }
    : usableArea(table.type, source.size, srcSector);
  const notes = targetArea.unaddressableBytes > 0
    ? [`${target.path}: an MBR partition table cannot address the last ${formatBytes(targetArea.unaddressableBytes)} of the disk; they stay unused (convert the table to GPT after the restore to use them)`]
    : [];
  const sized = sizeSlots(slots, o.policy, { area: targetArea, sectorSize }, { area: sourceArea, sectorSize: srcSector });
  if (!sized.ok) {
    const items = ordered.flatMap((p, i) => {
      const c = contents.get(p.path);
      return slots[i]!.mode === 'resizable' && c ? [{ content: c, need: needFor(view, c, slots[i]!.sourceBytes), partition: partitionDevice(target.path, p.number), short: sized.short.includes(i) }] : [];
    });
    refuse(o, items, sized.room, sized.fixedBytes);
  }
  const placed = placeSlots(slots.map((s, i) => ({ kind: s.kind, bytes: sized.bytes[i]! })), targetArea.startBytes, sectorSize);
  if (placed.end > targetArea.endBytes) {
    throw new LifeboatError('LB_INTERNAL', `planned partitions of ${target.path} end at byte ${placed.end}, past the usable end ${targetArea.endBytes}`);
  }
  const partitions: PlannedPartition[] = ordered.map((p, i) => {
    const role = roles[i]!;
    const planned: PlannedPartition = {
      number: p.number,
      source: p.path,
      device: partitionDevice(target.path, p.number),
      start: placed.starts[i]! / sectorSize,
      size: placed.sizes[i]! / sectorSize,
      bytes: placed.sizes[i]!,
      sourceBytes: slots[i]!.sourceBytes,
      sizing: role === 'extended' && ordered[i + 1]?.kind === 'logical' ? 'container' : o.matched.has(p.path) ? 'matched' : sized.rules[i]!,
      role,
      holds: role === 'extended' ? 'logical partitions' : role === 'bios-boot' ? 'GRUB core image' : role === 'raid' || role === 'lvm' ? view.needs.holds(p.path) : describeContent(contents.get(p.path)),
      type: p.type,
    };
    if (p.kind) planned.kind = p.kind;
    if (p.uuid) planned.uuid = p.uuid;
    if (p.name !== undefined) planned.name = p.name;
    if (p.attrs) planned.attrs = p.attrs;
    if (table.type === 'dos') planned.bootable = p.bootable ?? false;
    return planned;
  });
  const devices = new Map(partitions.map((p) => [p.source, p.device]));
  const bytesOf = new Map(partitions.map((p) => [p.source, p.bytes]));
  // sfdisk wants a table's partitions in number order: primaries, then logicals in chain order.
  partitions.sort((a, b) => a.number - b.number);
  const plannedTable: PlannedTable = { type: table.type, id: table.id, sectorSize, partitions };
  if (targetArea.firstLba !== undefined) plannedTable.firstLba = targetArea.firstLba;
  if (targetArea.lastLba !== undefined) plannedTable.lastLba = targetArea.lastLba;
  return { disk: { ...base, table: plannedTable }, devices, bytesOf, notes };
}
