import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../../core/errors.js';
import { runTool } from '../../core/run-tool.js';
import type { VolumeOpener } from '../archive/tar-read.js';
import type { Manifest } from '../store/manifest.js';
import { extractArchive } from './extract-archive.js';
import type { RestorePlan } from './plan.js';
import type { RenderedPlan, RestoreStep } from './render-plan.js';

/**
 * Runs a rendered plan: its commands, in order, and nothing else; the one step it does itself is
 * extraction, through the image engine. After a partition table is written it makes the kernel
 * re-read it and waits for the partition devices, and after a step that makes device nodes (an md
 * array, an LV) it waits for those: there is no udev in the rescue system. On failure it unmounts
 * what it mounted, deactivates the volume groups and stops the arrays it made, so a second attempt
 * starts from disks nothing holds, and says which step failed.
 */
export interface ExecuteOptions {
  manifest: Manifest;
  open: VolumeOpener;
  onStep?: (step: RestoreStep, index: number, total: number) => void;
  onExtractProgress?: (archiveId: string, bytes: number, totalBytes: number) => void;
  onNote?: (message: string) => void;
  /** Every volume was checked against its sha256 before the plan ran (the agent's verify pass). */
  volumesVerified?: boolean;
  /**
   * Asked when an extraction fails in tar, the decompressor or its source (not a volume of a
   * verified image found damaged): another opener to extract that archive again, from its start,
   * or null to fail (extract-archive.ts). The agent answers with HTTP when it was reading an NFS
   * share that went away, and with unicast when a multicast volume failed.
   */
  reopen?: (archiveId: string, error: LifeboatError) => VolumeOpener | null;
  /**
   * Called once every filesystem is restored and still mounted under the plan's target root, before
   * the bootloader steps: where a clone gets its own identity (hostname, machine-id, host keys).
   */
  afterRestore?: () => Promise<void>;
}

async function waitForDevices(paths: string[], after: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (paths.every((p) => existsSync(p))) return;
    await sleep(100);
  }
  const missing = paths.filter((p) => !existsSync(p));
  throw new LifeboatError('LB_TOOL_FAILED', `${missing.join(', ')} did not appear after ${after}: the rescue system's kernel may lack the driver (md, device-mapper) or the device node was not made`, { missing });
}

/** Best effort after a failure: nothing mounted, no VG active, no array running on the target disks. */
async function releaseStacks(plan: RestorePlan): Promise<void> {
  await runTool('umount', ['-R', plan.targetRoot]).catch(() => undefined);
  for (const m of plan.mounts.filter((x) => x.aside)) await runTool('umount', [m.directory]).catch(() => undefined);
  for (const vg of plan.lvm.vgs) await runTool('vgchange', ['-an', vg.name]).catch(() => undefined);
  for (const a of [...plan.md].reverse()) await runTool('mdadm', ['--stop', a.device]).catch(() => undefined);
}

export async function executePlan(plan: RestorePlan, rendered: RenderedPlan, options: ExecuteOptions): Promise<{ extractedBytes: number }> {
  let extractedBytes = 0;
  const total = rendered.steps.length;
  let restored = false;
  const finishRestore = async () => {
    if (restored) return;
    restored = true;
    await options.afterRestore?.();
  };
  try {
    for (const [i, step] of rendered.steps.entries()) {
      if (step.stage === 'bootloader' || step.stage === 'unmount') await finishRestore();
      options.onStep?.(step, i, total);
      if (step.kind === 'extract') {
        const entry = options.manifest.archives.find((a) => a.id === step.archiveId);
        if (!entry) throw new LifeboatError('LB_IMAGE_CORRUPT', `the plan extracts archive "${step.archiveId}" which the manifest does not have`);
        // An incremental archive is extracted with its chain, oldest first, deletions applied.
        extractedBytes += await extractArchive(entry, {
          open: options.open,
          target: step.directory,
          targetFstype: step.fstype,
          ...(options.volumesVerified ? { verified: true } : {}),
          ...(options.reopen ? { reopen: options.reopen } : {}),
          ...(options.onNote ? { onNote: options.onNote } : {}),
          onProgress: (bytes, totalBytes) => options.onExtractProgress?.(entry.id, bytes, totalBytes),
        });
        continue;
      }
      const useFallback = step.fallback !== undefined && !existsSync(step.fallback.whenMissing);
      const command = useFallback ? step.fallback!.command : step.command;
      if (useFallback) options.onNote?.(step.fallback!.description);
      await runTool(command[0]!, command.slice(1), {
        ...(step.input !== undefined ? { input: step.input } : {}),
        ...(step.okExitCodes && !useFallback ? { okExitCodes: step.okExitCodes } : {}),
        purpose: useFallback ? step.fallback!.description : step.description,
      });
      if (step.stage === 'partition') {
        const disk = plan.disks.find((d) => step.command.includes(d.target));
        if (disk?.table) {
          // sfdisk asks the kernel to re-read the table; loop devices and busy disks need partx too.
          await runTool('partx', ['-u', disk.target]).catch(() => runTool('partx', ['-a', disk.target]).catch(() => undefined));
          await waitForDevices(disk.table.partitions.filter((p) => p.role !== 'empty').map((p) => p.device), `the partition table of ${disk.target} was written`);
        }
      }
      if (step.waitFor && step.waitFor.length > 0) await waitForDevices(step.waitFor, `"${step.description}"`);
    }
    await finishRestore();
  } catch (e) {
    await releaseStacks(plan);
    throw e;
  }
  return { extractedBytes };
}
