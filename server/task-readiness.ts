import { LifeboatError } from '../core/errors.js';
import type { TaskKind } from '../netboot/task-protocol.js';

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
