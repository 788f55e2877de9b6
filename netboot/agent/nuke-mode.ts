import { existsSync } from 'node:fs';
import { LifeboatError, isLifeboatError, oneLineMessage } from '../../core/errors.js';
import { formatBytes } from '../../core/sizes.js';
import { runTool } from '../../core/run-tool.js';
import { executePlan } from '../../images/restore/execute-plan.js';
import { applyIdentity, renderIdentityReport, type AppliedIdentity } from '../../images/restore/identity/identity-apply.js';
import { runIdentityHook } from '../../images/restore/identity/identity-hook.js';
import { planRestore } from '../../images/restore/plan.js';
import { renderPlan, type RestoreStep } from '../../images/restore/render-plan.js';
import type { Manifest } from '../../images/store/manifest.js';
import { verifyForRestore } from '../../images/store/verify.js';
import type { AgentTask } from '../task-protocol.js';
import { say } from './console.js';
import { openImageSource } from './image-source.js';
import { MulticastVolumeError, multicastSource, receiveInterface, type MulticastSource } from './multicast-source.js';
import type { VolumeOpener } from '../../images/archive/tar-read.js';
import { listLocalDisks } from './local-disks.js';
import { benchmarkDataStage } from './data-stage-benchmark.js';
import type { AgentClient } from './server-client.js';

/** "extract of /data", "partition (Write the partition table of /dev/vda)": where a restore stopped, for its failure. */
export function describeStage(step: RestoreStep, manifest: Manifest): string {
  if (step.kind === 'extract') return `extract of ${manifest.archives.find((a) => a.id === step.archiveId)?.mountpoint ?? step.archiveId}`;
  return `${step.stage} (${step.description})`;
}

/** The same failure, its code kept, with the stage it happened in in front: "during extract of /data: …". */
export function failedDuring(stage: string, e: unknown): LifeboatError {
  if (e instanceof StageFailure) return e;
  const message = `during ${stage}: ${(e as Error).message}`;
  return isLifeboatError(e) ? new StageFailure(e.code, message, e.details, { cause: e }) : new StageFailure('LB_INTERNAL', message, {}, { cause: e });
}

/** A failure already named by its stage: an outer stage does not name it again. */
class StageFailure extends LifeboatError {}

/**
 * nuke: verify the image completely, plan the layout for the disks this machine has, and only then
 * wipe, partition, mkfs, restore and reinstall the bootloader. Nothing is written before the
 * verification and the plan have both succeeded.
 */
export async function runNuke(task: AgentTask, client: AgentClient, options: { disks?: string[]; targetRoot?: string }): Promise<Record<string, unknown>> {
  if (!task.image) throw new LifeboatError('LB_INVALID', `task ${task.id} names no image to restore`);
  const image = task.image;
  const source = await openImageSource(image, (m) => say(m));
  try {
    const multicast = task.multicast;
    say(`verifying ${image.name}@${image.version} from ${source.describe}${multicast ? ' (the manifest: the volumes come by multicast and are hashed as they arrive)' : ''}`);
    await client.progress({ stage: 'verify', message: `verifying ${image.name}@${image.version} over ${source.kind}` }, true);
    const manifest = await verifyForRestore(source.readText, source.open, {
      ...(multicast ? { readVolumes: false } : {}),
      onProgress: (bytes, totalBytes) => void client.progress({ stage: 'verify', bytes, totalBytes }),
    }).catch((e: unknown) => {
      throw failedDuring('verify', e);
    });
    say(multicast ? 'manifest verified: it matches SHA256SUMS' : 'image verified: manifest and every volume match their checksums');

    const firmware = existsSync('/sys/firmware/efi') ? 'uefi' : 'bios';
    const targetDisks = await listLocalDisks(options.disks);
    if (targetDisks.length === 0) throw new LifeboatError('LB_NOT_FOUND', 'this machine has no writable disk to restore onto');
    await client.progress({ stage: 'plan', message: `${targetDisks.map((d) => `${d.path} ${formatBytes(d.size)}`).join(', ')}; ${firmware}` }, true);
    const plan = planRestore({
      manifest, targetDisks, policy: task.options.policy ?? 'proportional', firmware,
      ...(task.options.edits ? { edits: task.options.edits } : {}),
      ...(options.targetRoot ? { targetRoot: options.targetRoot } : {}),
    });
    const rendered = renderPlan(plan);
    process.stdout.write(rendered.script);
    await client.putFile('restore-plan.sh', rendered.script);
    if (task.options.dryRun) {
      say('dry run: the plan is on the console and with the task; nothing was written');
      return { dryRun: true, disks: plan.disks.map((d) => d.target) };
    }

    if (firmware === 'uefi' && !existsSync('/sys/firmware/efi/efivars/.')) {
      await runTool('mount', ['-t', 'efivarfs', 'efivarfs', '/sys/firmware/efi/efivars']).catch(() => undefined);
    }
    let lastStage = '';
    const started = Date.now();
    // Lifeboat's data stage, per archive: each extract step lasts until the next step begins.
    let extracting: { archiveId: string; since: number } | null = null;
    const extractSeconds: Array<{ archiveId: string; seconds: number }> = [];
    const endExtract = () => {
      if (extracting) extractSeconds.push({ archiveId: extracting.archiveId, seconds: (performance.now() - extracting.since) / 1000 });
      extracting = null;
    };
    let current = null as RestoreStep | null;
    const identity = task.options.identity;
    let applied: AppliedIdentity | undefined;
    const group = multicast ? await joinMulticast(multicast, manifest, source.open, new URL(image.httpUrl).hostname) : null;
    const { extractedBytes } = await executePlan(plan, rendered, {
      manifest,
      open: group ? group.open : source.open,
      // verifyForRestore above read and hashed every volume before anything was written; an
      // extraction read again over HTTP is hashed on the way too (tar-read), across resumptions.
      // Multicast volumes are hashed as they arrive instead (multicast-source.ts).
      volumesVerified: group === null,
      reopen: (archiveId, error) => {
        if (group && error instanceof MulticastVolumeError) {
          void client.progress({ stage: 'restore', message: `${error.message}; reading ${archiveId} over ${source.kind} from its start` }, true);
          return group.open;
        }
        return source.abandonShare(`extracting ${archiveId}: ${oneLineMessage(error.message)}`);
      },
      onStep: (step, i, total) => {
        current = step;
        endExtract();
        if (step.kind === 'extract') extracting = { archiveId: step.archiveId, since: performance.now() };
        say(`[${i + 1}/${total}] ${step.description}`);
        if (step.stage !== lastStage) {
          lastStage = step.stage;
          const stage = step.stage === 'unmount' ? 'bootloader' : step.stage;
          void client.progress({ stage, message: step.description }, true);
        }
      },
      onNote: (m) => say(m),
      ...(identity ? { afterRestore: async () => void (applied = await giveIdentity(plan.targetRoot, task, identity, client)) } : {}),
      onExtractProgress: (id, bytes, totalBytes) => void client.progress({ stage: 'restore', message: id, bytes, totalBytes, rate: bytes / Math.max(0.001, (Date.now() - started) / 1000) }),
    }).catch((e: unknown) => {
      // executePlan released what it had made (mounts, VGs, arrays): a new nuke starts from a clean slate.
      throw failedDuring(current ? describeStage(current, manifest) : 'restore', e);
    });
    endExtract();
    await runTool('sync', []);
    say(`restore done: ${plan.disks.map((d) => d.target).join(', ')} hold ${image.name}@${image.version}`);
    let benchmark: Record<string, unknown> | undefined;
    if (task.options.measureRawExtract) {
      say('benchmark: timing the extraction again, alternating with cat | zstd -d | tar -x of the same volumes, onto the restored filesystems');
      const b = await benchmarkDataStage(plan, manifest, source);
      benchmark = { source: source.kind, dataStage: extractSeconds, ...b };
      for (const s of b.skipped) say(`benchmark: ${s}`);
      say(`benchmark: ${Object.entries(b.seconds).map(([m, xs]) => `${m} ${xs.map((x) => x.toFixed(1)).join('/')} s`).join(', ')}`);
    }
    return {
      disks: plan.disks.map((d) => ({ source: d.source, target: d.target, bytes: d.targetBytes })),
      filesystems: plan.filesystems.length,
      restoredBytes: extractedBytes,
      bootloader: plan.bootloader.kind,
      ...(applied ? { identity: { ...identity, machineId: applied.machineId, sshFingerprints: applied.sshFingerprints } } : {}),
      ...(group ? { multicast: { left: group.left, volumes: group.receipts.map((r) => ({ path: r.path, via: r.via, bytes: r.bytes, ...(r.note ? { note: r.note } : {}) })) } } : {}),
      seconds: Math.round((Date.now() - started) / 1000),
      ...(benchmark ? { benchmark } : {}),
    };
  } finally {
    await source.close();
  }
}

/** The multicast group of a clone session, or null (all unicast) when the interface towards the server cannot be found. */
async function joinMulticast(multicast: NonNullable<AgentTask['multicast']>, manifest: Manifest, unicast: VolumeOpener, serverHost: string): Promise<MulticastSource | null> {
  try {
    const iface = await receiveInterface(multicast, serverHost);
    say(`multicast: receiving on ${iface} from ${multicast.rendezvous}, ports ${multicast.portBase}…${multicast.portBase + 2 * (multicast.volumes.length - 1)}`);
    return multicastSource({ multicast, manifest, unicast, iface, note: (m) => say(`multicast: ${m}`) });
  } catch (e) {
    say(`multicast: ${oneLineMessage((e as Error).message)}; every volume over unicast`);
    return null;
  }
}

/** The restored tree becomes its own machine; identity.txt goes with the task, file by file. */
async function giveIdentity(root: string, task: AgentTask, identity: NonNullable<AgentTask['options']['identity']>, client: AgentClient): Promise<AppliedIdentity> {
  await client.progress({ stage: 'identity', message: [identity.hostname, identity.ipv4].filter(Boolean).join(' ') || 'new machine-id and host keys' }, true);
  const applied = await applyIdentity(root, identity).catch((e: unknown) => {
    throw failedDuring('identity', e);
  });
  let report = renderIdentityReport(applied);
  if (identity.hook) {
    say('identity: running the hook in the restored system');
    const facts = { hostname: identity.hostname, ipv4: identity.ipv4, mac: task.mac, machineId: applied.machineId, image: `${task.image?.name}@${task.image?.version}`, taskId: String(task.id) };
    const hook = await runIdentityHook(root, identity.hook, facts).catch(async (e: unknown) => {
      await client.putFile('identity.txt', `${report}hook   failed: ${(e as Error).message}\n`).catch(() => undefined);
      throw failedDuring('identity hook', e);
    });
    report += `hook   exit ${hook.exitCode}\n${hook.output.split('\n').filter(Boolean).map((l) => `hook > ${l}\n`).join('')}`;
  }
  process.stdout.write(report);
  await client.putFile('identity.txt', report);
  say(`identity: ${identity.hostname ?? 'hostname kept'}, machine-id ${applied.machineId}, ${applied.sshFingerprints.length} new SSH host keys`);
  return applied;
}
