import type { Manifest } from '../store/manifest.js';
import { planRestore } from './plan/plan-restore.js';
import { renderPlan } from './render-plan.js';

/**
 * The image's own volumes in the order a nuke extracts them: the order a multicast sender must
 * send them in, since a receiver never goes back to a volume that has gone by. That order is the
 * rendered plan's (each filesystem extracted just after its mount, parents first), which comes
 * from the image's mounts, not from the target's disks: planned here onto disks shaped like the
 * source's. An image that cannot be planned that way keeps the manifest's order (a member whose
 * plan differs then reads the skipped volumes over unicast, which routeVolume allows for).
 */
export function extractionOrder(manifest: Manifest): string[] {
  const own = manifest.archives.flatMap((a) => a.volumes.map((v) => v.path));
  let archiveIds: string[];
  try {
    const plan = planRestore({
      manifest,
      targetDisks: manifest.layout.disks.map((d) => ({ path: d.path, size: d.size, logicalSectorSize: d.logicalSectorSize, physicalSectorSize: d.physicalSectorSize })),
      policy: 'proportional',
      firmware: manifest.layout.bootloader.firmware === 'uefi' ? 'uefi' : 'bios',
    });
    archiveIds = renderPlan(plan).steps.flatMap((s) => (s.kind === 'extract' ? [s.archiveId] : []));
  } catch {
    return own;
  }
  const ordered = archiveIds.flatMap((id) => manifest.archives.find((a) => a.id === id)?.volumes.map((v) => v.path) ?? []);
  // Whatever the plan did not extract (none today) still goes, after the rest.
  return [...new Set([...ordered, ...own])];
}
