import { LifeboatError } from '../../core/errors.js';
import { defined, int, isRecord, parseToolJson, records, str, type JsonRecord } from './parse-json.js';

/**
 * `findmnt -J -b [-l] -o SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,UUID,LABEL,PARTUUID,SIZE,USED,AVAIL`
 * → live mounts, tree or list form, in mount order. A bind or btrfs subvolume mount's source is
 * printed as "/dev/sda2[/@home]": `device` is the part before the bracket, `fsroot` the part in it.
 */
export interface LiveMount {
  target: string;
  source: string;
  device: string;
  fsroot: string;
  fstype: string;
  options: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  size?: number;
  used?: number;
  avail?: number;
}

const BRACKETED = /^(.*)\[(.*)\]$/;

function readMount(f: JsonRecord): LiveMount | undefined {
  const target = str(f.target);
  const source = str(f.source);
  if (!target || !source) return undefined;
  const m = BRACKETED.exec(source);
  return defined({
    target,
    source,
    device: m ? m[1]! : source,
    fsroot: str(f.fsroot) ?? (m ? m[2]! : '/'),
    fstype: str(f.fstype) ?? 'unknown',
    options: str(f.options) ?? '',
    uuid: str(f.uuid),
    label: str(f.label),
    partuuid: str(f.partuuid),
    size: int(f.size),
    used: int(f.used),
    avail: int(f.avail),
  });
}

export function parseFindmnt(text: string): LiveMount[] {
  const json = parseToolJson(text, 'findmnt --json output');
  if (!isRecord(json) || !Array.isArray(json.filesystems)) {
    throw new LifeboatError('LB_INVALID', 'findmnt --json output has no "filesystems" list: not findmnt output');
  }
  const out: LiveMount[] = [];
  const walk = (nodes: unknown): void => {
    for (const f of records(nodes)) {
      const mount = readMount(f);
      if (mount) out.push(mount);
      walk(f.children);
    }
  };
  walk(json.filesystems);
  return out;
}
