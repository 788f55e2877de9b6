import { isLifeboatError, LifeboatError } from '../../core/errors.js';
import { makeDirs } from '../../core/make-dirs.js';
import { runTool } from '../../core/run-tool.js';

/**
 * A backup client's run mounts the server's export for itself and only for the run: nothing of
 * the server stays mounted between runs, and a run with the server away fails at the mount,
 * before anything is written, with what the mount said.
 */
export async function mountBackupExport(exported: string, mountpoint: string): Promise<void> {
  await makeDirs(mountpoint);
  try {
    // hard: a server restart mid-archive stalls the run instead of failing writes half-way.
    await runTool('mount', ['-t', 'nfs4', '-o', 'rw,hard,timeo=600,retrans=2', exported, mountpoint], { timeoutMs: 60_000, purpose: `mount the backup export ${exported}` });
  } catch (e) {
    const stderr = isLifeboatError(e) && typeof e.details.stderr === 'string' ? e.details.stderr : '';
    const said = stderr.split('\n').map((l) => l.trim()).filter(Boolean).join(' ') || (e as Error).message;
    throw new LifeboatError('LB_UNREACHABLE', `cannot mount the backup export ${exported} on ${mountpoint}: ${said}; nothing was archived, and the next run tries again`, { export: exported }, { cause: e });
  }
}

export async function unmountBackupExport(mountpoint: string): Promise<void> {
  await runTool('umount', [mountpoint], { timeoutMs: 120_000, purpose: `unmount the backup export from ${mountpoint}` }).catch(async () => {
    // Busy or stuck: detached now, gone once the last user lets go.
    await runTool('umount', ['-l', mountpoint], { purpose: `detach the backup export from ${mountpoint}` });
  });
}
