import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError, isLifeboatError } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { runTool } from '../../core/run-tool.js';

/**
 * Mounts a source filesystem so that nothing is written to its device. A plain "ro" mount is not
 * enough: ext3/4 replays its journal and XFS its log even when mounted read-only, and btrfs
 * replays its log tree. Measured on this project's kernel (6.x): ext3/ext4 accept "noload" (shown
 * as norecovery), ext2 refuses it (nothing to replay: plain ro), XFS takes "norecovery", btrfs
 * takes "rescue=nologreplay" and no longer the older "nologreplay", which is kept as a fallback
 * for kernels before 5.9. There is never a fallback to an option set that might write.
 */
const log = componentLogger('mount');

export function readOnlyOptions(fstype: string): string[] {
  switch (fstype) {
    case 'ext3':
    case 'ext4':
      return ['ro,noload'];
    case 'xfs':
      // nouuid: a disk image cloned from a filesystem this host has mounted shares its UUID, and
      // XFS refuses a second mount of one UUID; the check only guards writes, which ro never makes.
      return ['ro,norecovery,nouuid'];
    case 'btrfs':
      return ['ro,rescue=nologreplay', 'ro,nologreplay'];
    default:
      return ['ro'];
  }
}

/** `extra`: options that choose what is shown, never whether it is written (btrfs subvolid=5). */
export async function mountReadOnly(device: string, fstype: string, target: string, extra: string[] = []): Promise<() => Promise<void>> {
  let lastError: unknown;
  let mounted = false;
  for (const readOnly of readOnlyOptions(fstype)) {
    const options = [readOnly, ...extra].join(',');
    try {
      // -n: no entry in /etc/mtab or utab; nothing about this mount needs remembering.
      await runTool('mount', ['-n', '-t', fstype, '-o', options, device, target], { purpose: `mount ${device} (${fstype}) read-only at ${target}` });
      mounted = true;
      log.debug({ device, fstype, target, options }, 'mounted read-only');
      break;
    } catch (e) {
      lastError = e;
    }
  }
  if (!mounted) {
    if (isLifeboatError(lastError)) throw lastError;
    throw new LifeboatError('LB_TOOL_FAILED', `could not mount ${device} (${fstype}) read-only at ${target}`, { device }, { cause: lastError });
  }

  let unmounting: Promise<void> | undefined;
  return () => {
    unmounting ??= (async () => {
      // A reader that has just finished may hold the mount for a moment; then give up lazily so
      // that cleanup never wedges (the loop device is freed when the last user goes).
      for (let attempt = 0; attempt < 10; attempt++) {
        const r = await runTool('umount', [target], { okExitCodes: [0, 1, 32] });
        if (r.exitCode === 0) return;
        if (/not mounted/.test(r.stderr)) return;
        await sleep(100);
      }
      log.warn({ device, target }, 'filesystem still busy: detaching the mount lazily');
      await runTool('umount', ['-l', target], { purpose: `unmount ${target}` });
    })().catch((e: unknown) => {
      unmounting = undefined;
      throw e;
    });
    return unmounting;
  };
}
