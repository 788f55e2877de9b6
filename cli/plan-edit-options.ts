import { readFileSync } from 'node:fs';
import Value from 'typebox/value';
import { LifeboatError } from '../core/errors.js';
import { parseSize } from '../core/sizes.js';
import { PlanEditsSchema, type PlanEdits } from '../images/restore/plan-edits.js';

/**
 * `lifeboat task nuke`'s edits to the default plan, Mondo's edited mountlist as flags: a JSON file
 * (--edits) and repeatable --map, --drop-disk and --size on top of it. Checked here against the
 * same schema the server checks, so a typo is an error at the operator's prompt, not in the rescue.
 */
export interface PlanEditFlags {
  editsFile?: string;
  map: string[];
  dropDisks: string[];
  sizes: string[];
}

function pair(text: string, flag: string, example: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0 || at === text.length - 1) throw new LifeboatError('LB_USAGE', `${flag} ${text}: use ${flag} ${example}`);
  return [text.slice(0, at), text.slice(at + 1)];
}

function readEditsFile(path: string): PlanEdits {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LifeboatError('LB_USAGE', `--edits ${path}: ${(e as Error).message}`);
  }
  if (!Value.Check(PlanEditsSchema, value)) {
    const problems = [...Value.Errors(PlanEditsSchema, value)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_USAGE', `--edits ${path}: ${problems.join('; ')}; the file holds diskMap, dropDisks, partitionSizes and lvSizes (see the README)`);
  }
  return value;
}

export function planEditsFromFlags(f: PlanEditFlags): PlanEdits | undefined {
  const edits: PlanEdits = f.editsFile ? readEditsFile(f.editsFile) : {};
  for (const m of f.map) {
    const [source, target] = pair(m, '--map', '/dev/sda=/dev/vdb');
    if (!source.startsWith('/dev/') || !target.startsWith('/dev/')) throw new LifeboatError('LB_USAGE', `--map ${m}: both sides are disk paths, e.g. /dev/sda=/dev/vdb`);
    edits.diskMap = { ...edits.diskMap, [source]: target };
  }
  for (const d of f.dropDisks) {
    if (!d.startsWith('/dev/')) throw new LifeboatError('LB_USAGE', `--drop-disk ${d}: name the source disk by its path, e.g. /dev/sdb`);
    edits.dropDisks = [...new Set([...(edits.dropDisks ?? []), d])];
  }
  for (const s of f.sizes) {
    const [what, size] = pair(s, '--size', '/dev/sda2=20G or vg0/home=50G');
    const bytes = parseSize(size, `--size ${what}`);
    if (what.startsWith('/dev/')) edits.partitionSizes = { ...edits.partitionSizes, [what]: bytes };
    else if (/^[^/]+\/[^/]+$/.test(what)) edits.lvSizes = { ...edits.lvSizes, [what]: bytes };
    else throw new LifeboatError('LB_USAGE', `--size ${s}: name a source partition (/dev/sda2) or a logical volume as VG/LV (vg0/home)`);
  }
  if (edits.diskMap) {
    const targets = Object.values(edits.diskMap);
    const twice = targets.find((t, i) => targets.indexOf(t) !== i);
    if (twice) throw new LifeboatError('LB_USAGE', `--map: two source disks are mapped onto ${twice}`);
    const both = Object.keys(edits.diskMap).find((s) => edits.dropDisks?.includes(s));
    if (both) throw new LifeboatError('LB_USAGE', `${both} is both mapped (--map) and left out (--drop-disk)`);
  }
  return Object.keys(edits).length > 0 ? edits : undefined;
}
