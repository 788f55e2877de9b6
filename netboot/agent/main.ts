import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isLifeboatError } from '../../core/errors.js';
import type { FinishReport } from '../task-protocol.js';
import { parseKernelCmdline, type AgentStart } from './cmdline.js';
import { say } from './console.js';
import { runCapture } from './capture-mode.js';
import { runCompare } from './compare-mode.js';
import { runNuke } from './nuke-mode.js';
import { listLocalDisks } from './local-disks.js';
import { AgentClient } from './server-client.js';

/**
 * The rescue agent: started by the rescue initramfs with the server URL, task id and token from the
 * kernel command line. It fetches its task, runs it, reports success or a precise failure, and
 * exits 0 once the server knows the outcome (the initramfs then reboots the machine), 3 when it
 * could not tell the server.
 *
 * Outside the rescue system (tests, a machine being captured live) pass --server, --task, --token
 * and name the disks it may touch with --disk: it never picks a disk by itself there.
 */
// The rescue initramfs is recognised by its own layout: the agent it runs lives at /lifeboat/agent.js.
const RESCUE_MARKER = '/lifeboat/agent.js';

export async function agentMain(argv: string[]): Promise<number> {
  const usage = 'Usage: lifeboat-agent [--server=URL --task=ID --token=TOKEN] [--disk DEV]... [--target-root DIR]\nReads lifeboat.server/task/token from /proc/cmdline when not given. Give values as --name=value: a token may start with "-".\n';
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        task: { type: 'string' },
        token: { type: 'string' },
        disk: { type: 'string', multiple: true },
        'target-root': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`lifeboat-agent: ${(e as Error).message.split('\n')[0]}\n${usage}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const cmdline = parseKernelCmdline(await readFile('/proc/cmdline', 'utf8').catch(() => ''));
  const start: Partial<AgentStart> = {
    server: values.server ?? cmdline.server,
    taskId: values.task ? Number(values.task) : cmdline.taskId,
    token: values.token ?? cmdline.token,
  };
  if (!start.server || !start.taskId || !start.token) {
    say('no task on the kernel command line (lifeboat.server, lifeboat.task, lifeboat.token): nothing to do');
    return 4;
  }
  const inRescue = await readFile(RESCUE_MARKER, 'utf8').then(() => true, () => false);
  const disks = values.disk;
  if (!inRescue && !disks?.length) {
    say('not running in the Lifeboat rescue system: name the disks this agent may use with --disk');
    return 4;
  }
  const client = new AgentClient(start as AgentStart);
  let report: FinishReport;
  try {
    const task = await client.task();
    say(`task ${task.id}: ${task.kind}${task.image ? ` ${task.image.name}@${task.image.version}` : task.upload ? ` as ${task.upload.image}` : ''}`);
    await client.progress({ stage: 'boot', message: `rescue agent started on ${task.mac}` }, true);
    await reportInventory(client, disks);
    const options = { ...(disks?.length ? { disks } : {}), ...(values['target-root'] ? { targetRoot: values['target-root'] } : {}) };
    const result = task.kind === 'nuke' ? await runNuke(task, client, options) : task.kind === 'capture' ? await runCapture(task, client, options) : await runCompare(task, client);
    report = { ok: true, result };
    say(`task ${task.id} done`);
  } catch (e) {
    const code = isLifeboatError(e) ? e.code : 'LB_INTERNAL';
    const message = (e as Error).message;
    say(`task failed: ${code}: ${message}`);
    if (!isLifeboatError(e)) process.stderr.write(`${(e as Error).stack}\n`);
    report = { ok: false, error: { code, message: message.slice(0, 7900) } };
  }
  try {
    await client.finish(report);
  } catch (e) {
    say(`could not report the outcome to ${start.server}: ${(e as Error).message}`);
    return 3;
  }
  return 0;
}

/** Informative, like progress: a machine whose disks cannot be listed still runs its task, which says why. */
async function reportInventory(client: AgentClient, disks: string[] | undefined): Promise<void> {
  try {
    const found = await listLocalDisks(disks);
    await client.inventory({ firmware: existsSync('/sys/firmware/efi') ? 'uefi' : 'bios', disks: found });
  } catch (e) {
    say(`inventory not reported: ${(e as Error).message}`);
  }
}
