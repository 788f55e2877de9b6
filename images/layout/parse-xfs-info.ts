import { LifeboatError } from '../../core/errors.js';
import { defined } from './parse-json.js';

/**
 * `xfs_info DEV|MNT` → the superblock options mkfs.xfs must repeat (crc, finobt, reflink, …) as
 * "name=value" strings, plus the data geometry. The listing is "section =... key=value, key=value"
 * lines; keys repeat across sections (bsize, sectsz, sunit), so only the format switches are kept
 * as features and the geometry is read from its own section.
 */
export interface XfsInfo {
  features: string[];
  blockSize?: number;
  dataBlocks?: number;
  inodeSize?: number;
  logBlocks?: number;
  logInternal?: boolean;
}

/** Format switches, in the order mkfs.xfs documents them. */
const FEATURE_KEYS = ['crc', 'finobt', 'sparse', 'rmapbt', 'reflink', 'bigtime', 'inobtcount', 'nrext64', 'ftype', 'attr', 'projid32bit', 'lazy-count', 'ascii-ci'];

export function parseXfsInfo(text: string): XfsInfo {
  const sections = new Map<string, Map<string, string>>();
  let section = '';
  for (const line of text.split('\n')) {
    const m = /^(\S*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] !== '') section = m[1]!;
    const keys = sections.get(section) ?? new Map<string, string>();
    for (const kv of m[2]!.matchAll(/([a-z0-9-]+)=(\S+?)(?:,|\s|$)/g)) {
      if (!keys.has(kv[1]!)) keys.set(kv[1]!, kv[2]!);
    }
    // "log =internal log" and "naming =version 2" carry their value before the first key.
    const lead = /^(internal|external|version \d+)/.exec(m[2]!);
    if (lead) keys.set('_lead', lead[1]!);
    sections.set(section, keys);
  }
  const meta = sections.get('meta-data');
  if (!meta) throw new LifeboatError('LB_INVALID', 'xfs_info output has no meta-data section: not an XFS superblock listing');
  const all = new Map<string, string>();
  for (const keys of sections.values()) for (const [k, v] of keys) if (!all.has(k)) all.set(k, v);
  const features = FEATURE_KEYS.filter((k) => all.has(k)).map((k) => `${k}=${all.get(k)}`);
  const num = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const data = sections.get('data');
  const log = sections.get('log');
  return defined({
    features,
    blockSize: num(data?.get('bsize')),
    dataBlocks: num(data?.get('blocks')),
    inodeSize: num(meta.get('isize')),
    logBlocks: num(log?.get('blocks')),
    logInternal: log?.get('_lead') !== undefined ? log.get('_lead') === 'internal' : undefined,
  });
}
