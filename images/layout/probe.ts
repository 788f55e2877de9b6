import { componentLogger } from '../../core/log.js';
import type { Layout } from './model.js';
import { collectEvidence } from './collect.js';
import type { ProbeOptions } from './collector.js';
import { FACTS_FILE } from './evidence.js';
import { interpretLayout } from './interpret.js';

export type { ProbeOptions } from './collector.js';
export { lvmDeviceFilter } from './interpret-stacks.js';

/**
 * probeLayout: what a machine's storage looks like, read without writing anything.
 *
 * Two ways in. Live (`root` "/" or a directory where a system is mounted): the mount table says
 * where each filesystem lives. Disks (`disks` given, typically loop devices over disk images that
 * are not running): the caller mounts each filesystem read-only somewhere and says where in
 * `mountpoints`; where it belongs on the source machine comes from the source's own /etc/fstab.
 *
 * Two steps: collection (collect.ts) runs the tools and keeps their exact outputs, plus the
 * probe's facts (probe-facts.json); interpretation (interpret.ts) turns exactly that evidence
 * into the layout. `raw` is that evidence, for the image's layout/ folder, from which the layout
 * can be derived again. What could not be learnt is said in `layout.notes` instead of being guessed.
 */
const log = componentLogger('probe');

export interface ProbeResult {
  layout: Layout;
  /** File name → exact tool output or file text (lsblk.json, sfdisk-vda.json, fstab, …, probe-facts.json). */
  raw: Record<string, string>;
}

export async function probeLayout(options: ProbeOptions = {}): Promise<ProbeResult> {
  const evidence = await collectEvidence(options);
  const layout = interpretLayout(evidence);
  for (const note of layout.notes ?? []) log.info({ note }, 'probe note');
  log.debug({ disks: layout.disks.map((d) => d.path), filesystems: layout.filesystems.length }, 'layout probed');
  return { layout, raw: { ...evidence.raw, [FACTS_FILE]: `${JSON.stringify(evidence.facts, null, 2)}\n` } };
}
