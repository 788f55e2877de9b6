import { LifeboatError } from '../../core/errors.js';
import { defined } from './parse-json.js';

/**
 * `dumpe2fs -h DEV` or `tune2fs -l DEV` (same "Key:   value" superblock listing) → what mkfs
 * needs to make the filesystem again. `features` leaves out the flags that describe state, not
 * format: needs_recovery (a journal to replay) and orphan_present.
 */
export interface Ext2Superblock {
  features: string[];
  uuid?: string;
  label?: string;
  blockSize?: number;
  blockCount?: number;
  inodeCount?: number;
  inodeSize?: number;
  reservedBlockCount?: number;
  lastMountedOn?: string;
}

const STATE_FLAGS = new Set(['needs_recovery', 'orphan_present']);

export function parseDumpe2fs(text: string): Ext2Superblock {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][^:]*?):\s*(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!.trim());
  }
  const features = fields.get('Filesystem features');
  if (features === undefined) {
    throw new LifeboatError('LB_INVALID', 'dumpe2fs output has no "Filesystem features" line: not an ext2/3/4 superblock listing');
  }
  const num = (key: string): number | undefined => {
    const v = fields.get(key);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const text_ = (key: string): string | undefined => {
    const v = fields.get(key);
    return v === undefined || v === '' || v === '<none>' || v === '<not available>' ? undefined : v;
  };
  return defined({
    features: features.split(/\s+/).filter((f) => f !== '' && f !== '(none)' && !STATE_FLAGS.has(f)),
    uuid: text_('Filesystem UUID'),
    label: text_('Filesystem volume name'),
    blockSize: num('Block size'),
    blockCount: num('Block count'),
    inodeCount: num('Inode count'),
    inodeSize: num('Inode size'),
    reservedBlockCount: num('Reserved block count'),
    lastMountedOn: text_('Last mounted on'),
  });
}
