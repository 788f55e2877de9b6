import { LifeboatError } from '../../core/errors.js';
import type { Partition, PartitionTable } from './model.js';
import { bool, defined, int, isRecord, parseToolJson, records, str } from './parse-json.js';

/**
 * `sfdisk --json DEV` → PartitionTable. Starts and sizes stay in the table's own sectors
 * (`sectorSize`, 4096 on a 4Kn disk), exactly as sfdisk will want them back.
 */

/** MBR types that hold logical partitions: DOS extended, W95 extended (LBA), Linux extended. */
const EXTENDED_TYPES = new Set(['5', 'f', '85']);

function partitionNumber(node: string): number | undefined {
  const m = /(\d+)$/.exec(node);
  return m ? Number(m[1]) : undefined;
}

export function parseSfdisk(text: string): PartitionTable {
  const json = parseToolJson(text, 'sfdisk --json output');
  const t = isRecord(json) ? json.partitiontable : undefined;
  if (!isRecord(t)) {
    throw new LifeboatError('LB_INVALID', 'sfdisk --json output has no "partitiontable" object: the device has no partition table sfdisk understands');
  }
  const label = str(t.label);
  if (label !== 'gpt' && label !== 'dos') {
    throw new LifeboatError('LB_INVALID', `sfdisk reports a "${label ?? 'missing'}" partition table: only gpt and dos (MBR) tables can be recorded and restored`, { label });
  }
  const unit = str(t.unit);
  if (unit !== undefined && unit !== 'sectors') {
    throw new LifeboatError('LB_INVALID', `sfdisk --json output is in "${unit}", not sectors: run it without --unit`, { unit });
  }
  const sectorSize = int(t.sectorsize) ?? 512;
  const partitions: Partition[] = [];
  for (const p of records(t.partitions)) {
    const node = str(p.node);
    const start = int(p.start);
    const size = int(p.size);
    const number = node ? partitionNumber(node) : undefined;
    if (!node || start === undefined || size === undefined || number === undefined || number < 1) {
      throw new LifeboatError('LB_INVALID', `sfdisk --json lists a partition without node, start or size (${JSON.stringify(p)}): the table cannot be recorded`, { partition: p });
    }
    const rawType = str(p.type) ?? '';
    const type = label === 'gpt' ? rawType.toUpperCase() : rawType.toLowerCase().replace(/^0x/, '');
    const partition: Partition = defined({
      number,
      path: node,
      start,
      size,
      type,
      uuid: label === 'gpt' ? str(p.uuid)?.toUpperCase() : undefined,
      name: str(p.name),
      attrs: str(p.attrs),
      bootable: label === 'dos' ? bool(p.bootable) ?? false : undefined,
      kind: label === 'dos' ? (number >= 5 ? 'logical' : EXTENDED_TYPES.has(type) ? 'extended' : 'primary') : undefined,
    });
    partitions.push(partition);
  }
  const id = str(t.id);
  if (!id) throw new LifeboatError('LB_INVALID', 'sfdisk --json output has no disk identifier ("id"): the table cannot be recreated faithfully');
  return defined({
    type: label,
    id: label === 'gpt' ? id.toUpperCase() : id.toLowerCase(),
    sectorSize,
    firstLba: int(t.firstlba),
    lastLba: int(t.lastlba),
    partitions,
  });
}
