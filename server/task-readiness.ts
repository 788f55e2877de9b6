import { LifeboatError, isLifeboatError } from '../core/errors.js';
import { formatBytes } from '../core/sizes.js';
import type { Manifest } from '../images/store/manifest.js';
import type { VerifyProblem } from '../images/store/verify.js';
import { planRestore } from '../images/restore/plan.js';
import type { Inventory, TaskKind, TaskOptions } from '../netboot/task-protocol.js';
import type { Verification } from './state/image-verifications.js';

/**
 * Whether a task could run if its machine booted now, decided when the task is created: a task that
 * cannot run used to be accepted and fail only after a whole PXE boot (the boot script's kernel
 * answering 404, a capture agent finding no share to write to). Pure: the route gathers the facts.
 */
export interface TaskReadinessFacts {
  kind: TaskKind;
  /** The rescue kernel and initrd the boot script names, and whether each is a non-empty file. */
  rescue: { dir: string; kernel: { file: string; present: boolean }; initrd: { file: string; present: boolean } };
  /** Whether captures have a writable NFS share to go to. */
  capturesShare: boolean;
}

export function taskRefusal(f: TaskReadinessFacts): LifeboatError | null {
  const missing = [f.rescue.kernel, f.rescue.initrd].filter((x) => !x.present).map((x) => x.file);
  if (missing.length > 0) {
    return new LifeboatError(
      'LB_CONFLICT',
      `the ${f.kind} task cannot run: no rescue system to boot (${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing): build it with lifeboat netboot build --out ${f.rescue.dir} (npm start does), or start lifeboat serve with --rescue-dir DIR of a built one`,
      { missing },
    );
  }
  if (f.kind === 'capture' && !f.capturesShare) {
    return new LifeboatError('LB_CONFLICT', 'the capture task cannot run: a capture writes into the server\'s NFS capture share and this server exports none: start lifeboat serve with --nfs auto (and --interface for the test-bed subnet)');
  }
  return null;
}

/**
 * A version a task would fail on, known without reading its volumes: a file missing or of the
 * wrong size (checkVersionShape), or a full verification by this server that failed and has not
 * been run again since.
 */
export function imageRefusal(ref: string, shape: VerifyProblem[], last: Verification | undefined): LifeboatError | null {
  const first = shape[0];
  if (first) {
    return new LifeboatError('LB_IMAGE_CORRUPT', `image ${ref} cannot be used: ${first.path} ${first.problem}${shape.length > 1 ? ` (and ${shape.length - 1} more problem(s))` : ''}; lifeboat images verify ${ref} lists them`, { problems: shape });
  }
  if (last?.state === 'failed') {
    const p = last.problems[0]!;
    return new LifeboatError('LB_IMAGE_CORRUPT', `image ${ref} failed its verification on ${new Date(last.endedAt ?? last.startedAt).toISOString()}: ${p.path} ${p.problem}; restore another version, or repair it and verify it again (POST /api/v1/images/${ref.replace('@', '/')}/verify)`, { problems: last.problems });
  }
  return null;
}

/**
 * A nuke the machine's disks cannot hold, as its agent last reported them: the same pure planner
 * the agent runs, with the task's policy and edits, so the refusal is the one the agent would make
 * after a whole PXE boot. A machine no agent has run on yet is not judged.
 */
export function hostFitRefusal(host: { mac: string; inventory: (Inventory & { reportedAt: number }) | null }, manifest: Manifest, options: TaskOptions): LifeboatError | null {
  const inv = host.inventory;
  if (!inv || inv.disks.length === 0) return null;
  try {
    planRestore({ manifest, targetDisks: inv.disks, policy: options.policy ?? 'proportional', firmware: inv.firmware, ...(options.edits ? { edits: options.edits } : {}) });
    return null;
  } catch (e) {
    if (!isLifeboatError(e)) throw e;
    const disks = inv.disks.map((d) => `${d.path} ${formatBytes(d.size)}`).join(', ');
    return new LifeboatError(e.code, `the nuke cannot run on ${host.mac}, whose disks its agent reported on ${new Date(inv.reportedAt).toISOString()} (${disks}): ${e.message.replace(/\.$/, '')}; or edit the plan (--map, --drop-disk, --size, --policy)`, e.details);
  }
}
