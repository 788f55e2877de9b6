import { LifeboatError } from '../../core/errors.js';
import { runTool } from '../../core/run-tool.js';
import { archiveImage } from '../../images/archive/archive-image.js';
import type { AgentTask } from '../task-protocol.js';
import { say } from './console.js';
import { listLocalDisks } from './local-disks.js';
import type { AgentClient } from './server-client.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * capture: archive this machine's disks with the same engine as `lifeboat archive --disk`, into the
 * server's writable capture share; the version is published there atomically and the server moves
 * it into the store when the task finishes.
 */
export async function runCapture(task: AgentTask, client: AgentClient, options: { disks?: string[] }): Promise<Record<string, unknown>> {
  const name = task.upload?.image;
  if (!name) throw new LifeboatError('LB_INVALID', `task ${task.id} names no image to capture into`);
  const target = task.upload?.nfs;
  if (!target) throw new LifeboatError('LB_INVALID', `task ${task.id}: the server offers no NFS capture share (start lifeboat serve with --nfs)`);
  const mountpoint = '/run/lifeboat/captures';
  await makeDirs(mountpoint);
  await runTool('mount', ['-t', 'nfs4', '-o', 'rw,vers=4.1,hard,timeo=600', `${target.server}:${target.export}`, mountpoint], { timeoutMs: 30_000, purpose: `mount the capture share ${target.server}:${target.export}` });
  try {
    const disks = (await listLocalDisks(options.disks)).map((d) => d.path);
    if (disks.length === 0) throw new LifeboatError('LB_NOT_FOUND', 'this machine has no disk to capture');
    say(`capturing ${disks.join(', ')} as ${name}`);
    const version = await archiveImage({
      store: mountpoint,
      image: name,
      disks,
      onEvent: (e) => {
        if (e.type === 'progress') void client.progress({ stage: 'archive', bytes: e.bytes, totalBytes: e.totalBytes });
        else if (e.type === 'stage') void client.progress({ stage: e.stage === 'probe' ? 'probe' : 'archive', message: e.message }, true);
        else if (e.type === 'filesystem') say(`archived ${e.id}: ${e.tarBytes} bytes in ${e.seconds.toFixed(1)} s`);
      },
    });
    say(`captured ${version.image}@${version.version}`);
    return { image: version.image, version: version.version, bytes: version.bytes };
  } finally {
    await runTool('umount', [mountpoint]).catch(() => runTool('umount', ['-l', mountpoint]));
  }
}
