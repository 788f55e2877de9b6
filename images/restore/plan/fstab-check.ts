import type { Layout } from '../../layout/model.js';
import { FSTYPE_ALIASES, MKFS_TYPES } from './source-contents.js';
import type { RestorePlan } from './types.js';

/**
 * fstab lines that name something the plan does not make (boot would wait for them), or name a
 * kernel device that gets another name on this machine (/dev/sda3 becoming /dev/vda3).
 */
export function checkFstab(layout: Layout, plan: Pick<RestorePlan, 'filesystems' | 'swaps' | 'disks'>, devices: Map<string, string>): string[] {
  const notes: string[] = [];
  const uuids = new Set([...plan.filesystems, ...plan.swaps].flatMap((x) => (x.uuid ? [x.uuid.toLowerCase()] : [])));
  const labels = new Set([...plan.filesystems, ...plan.swaps].flatMap((x) => (x.label ? [x.label] : [])));
  const partuuids = new Set<string>();
  for (const d of plan.disks) {
    for (const p of d.table?.partitions ?? []) {
      if (p.uuid) partuuids.add(p.uuid.toLowerCase());
      if (d.table?.type === 'dos') partuuids.add(`${d.table.id.replace(/^0x/, '').toLowerCase()}-${String(p.number).padStart(2, '0')}`);
    }
  }
  const local = (t: string) => MKFS_TYPES.has(FSTYPE_ALIASES[t] ?? t) || t === 'swap';
  for (const e of layout.fstab) {
    if (!local(e.vfstype) || /(^|,)(noauto|nofail)(,|$)/.test(e.mntops)) continue;
    const byLink = /^\/dev\/disk\/by-(uuid|label|partuuid)\/(.+)$/.exec(e.spec);
    const [key, value] = byLink ? [byLink[1]!.toUpperCase(), byLink[2]!] : [e.spec.split('=')[0]!, e.spec.split('=').slice(1).join('=')];
    let found = true;
    if (key === 'UUID') found = uuids.has(value.toLowerCase());
    else if (key === 'LABEL') found = labels.has(value);
    else if (key === 'PARTUUID') found = partuuids.has(value.toLowerCase());
    else if (/^\/dev\/(sd|vd|hd|xvd|nvme|mmcblk|loop)/.test(e.spec)) {
      const now = devices.get(e.spec);
      found = now !== undefined;
      if (now !== undefined && now !== e.spec) notes.push(`/etc/fstab names ${e.spec} (${e.file === 'none' ? 'swap' : e.file}), which is ${now} on this machine: change that line to UUID= before rebooting`);
    }
    const use = e.vfstype === 'swap' ? `uses ${e.spec} as swap` : `mounts ${e.spec} on ${e.file}`;
    if (!found) notes.push(`/etc/fstab ${use}, which this plan does not create: the restored system will wait for it at boot; add nofail to that line or restore its disk`);
  }
  return notes;
}
