import { bootFileFor, type BootFile, type BootFileClient } from './boot-files.js';
import type { Task } from './state/tasks.js';

/**
 * What a machine boots now, from the facts alone: no database, no clock, nothing recorded. DHCP,
 * TFTP and HTTP classify the machine and ask here; none of them decides on its own. A machine with
 * no open task boots its local disk: its disks are not read, written or wiped. Recording that a
 * machine was seen, minting a token, failing an interrupted task: the caller does that beside the
 * decision (BootPlanner), so a preview is the same call with nothing recorded.
 */

export type BootReason = 'no-task' | 'task-pending';

export const BOOT_REASONS: Record<BootReason, string> = {
  'no-task': 'no task pending',
  'task-pending': 'a task is pending: the rescue system',
};

export type NextBoot =
  | { action: 'local'; reason: 'no-task'; file: BootFile }
  | { action: 'rescue'; reason: 'task-pending'; task: Task; file: BootFile };

/** `host.mac` must be canonical (server/state/mac.ts); `openTask` is the machine's open task, if any. */
export function nextBoot(host: BootFileClient, openTask: Task | undefined, urls: { httpBase: string }): NextBoot {
  const file = bootFileFor(host, openTask !== undefined, urls);
  if (!openTask) return { action: 'local', reason: 'no-task', file };
  return { action: 'rescue', reason: 'task-pending', task: openTask, file };
}

export interface ScriptRequest {
  mac: string;
  /** The address that fetched the script. */
  address: string;
  /** Full DHCP mode: the address this server leased to the MAC now (null: none); absent when it leases none. */
  leasedAddress?: string | null;
}

interface WithheldFacts {
  task: Task;
  request: ScriptRequest;
}

/** Why a script carries no token while a task is open: a closed set, each with its words. */
export const WITHHELD_REASONS = {
  'running-elsewhere': ({ task }: WithheldFacts) => `task ${task.id} is running on another boot; this script carries no token`,
  'no-lease': ({ task }: WithheldFacts) => `task ${task.id}: ${task.mac} holds no lease from this server, so no boot of it is known`,
  'leased-elsewhere': ({ task, request }: WithheldFacts) => `task ${task.id}: ${task.mac} is leased ${request.leasedAddress}, and this fetch came from ${request.address}`,
  'bound-elsewhere': ({ task }: WithheldFacts) => `task ${task.id} is bound to the boot at ${task.tokenAddress}; lifeboat tasks rearm ${task.id} frees it`,
} as const;
export type WithheldReason = keyof typeof WITHHELD_REASONS;

export type ScriptDecision =
  | { action: 'local'; reason: 'no-task' }
  | { action: 'rescue'; task: Task; bindTo: string }
  | { action: 'interrupted'; task: Task }
  | { action: 'withheld'; task: Task; code: WithheldReason; reason: string };

function withheld(code: WithheldReason, task: Task, request: ScriptRequest): ScriptDecision {
  return { action: 'withheld', task, code, reason: WITHHELD_REASONS[code]({ task, request }) };
}

/**
 * What a script fetch gets, from the facts alone. A pending task mints a token for this boot, bound
 * to the boot's address: the leased one in full DHCP mode (and only a fetch from it gets a token),
 * otherwise the fetching one (and once a boot is bound, only a fetch from the same address gets a
 * new token, until an admin re-arms the task). A running task's token is never replaced: a fetch
 * from its boot's address means the machine booted again mid-task; from anywhere else it changes
 * nothing.
 */
export function decideScript(task: Task | undefined, request: ScriptRequest): ScriptDecision {
  if (!task) return { action: 'local', reason: 'no-task' };
  const from = request.address;
  if (task.state === 'running') {
    if (task.tokenAddress && task.tokenAddress === from) return { action: 'interrupted', task };
    return withheld('running-elsewhere', task, request);
  }
  if (request.leasedAddress !== undefined) {
    if (request.leasedAddress === null) return withheld('no-lease', task, request);
    if (request.leasedAddress !== from) return withheld('leased-elsewhere', task, request);
    return { action: 'rescue', task, bindTo: request.leasedAddress };
  }
  if (task.tokenAddress && task.tokenAddress !== from) return withheld('bound-elsewhere', task, request);
  return { action: 'rescue', task, bindTo: from };
}
