import type { Logger } from '../core/log.js';
import { CMDLINE_KEYS } from '../netboot/task-protocol.js';
import type { EventLog } from './state/events.js';
import type { HostRegistry } from './state/hosts.js';
import type { Task, TaskBoard } from './state/tasks.js';
import { normalizeMac } from './state/mac.js';
import { HostRegistrationLimit } from './host-registration.js';
import { LogLimiter } from './log-limit.js';

/**
 * The one place that decides what a machine boots now. DHCP, TFTP and HTTP classify the machine
 * and ask here; none of them decides on its own. A machine with no open task boots its local disk:
 * its disks are not read, written or wiped.
 */
export type Firmware = 'bios' | 'uefi' | 'uefi-http' | 'unknown';

export interface BootRequest {
  mac: string;
  firmware: Firmware;
  arch?: number | null;
  isIpxe: boolean;
  via: 'dhcp' | 'tftp' | 'http';
  address?: string | null;
}

export type BootDecision =
  | { action: 'local'; reason: string }
  | { action: 'rescue'; task: Task };

export interface RescueFiles {
  /** URL path of the kernel and initrd under the HTTP server, e.g. /boot/rescue/vmlinuz. */
  kernelPath: string;
  initrdPath: string;
  /** Extra kernel arguments (console, quiet, …). */
  cmdline: string;
}

/**
 * The boot file named to firmware with no task: TFTP and HTTP both refuse it, so the firmware's
 * network boot attempt ends at once and it moves on to its next boot device.
 */
export const NO_TASK_BOOT_FILE = 'no-task-boot-local-disk';

function noTaskBootFile(request: BootRequest, mac: string, urls: { httpBase: string }): { filename: string; reason: string } | null {
  if (request.isIpxe) return { filename: `${urls.httpBase}/boot/${mac}.ipxe`, reason: 'no task: iPXE runs a script that exits to the next boot device' };
  switch (request.firmware) {
    case 'bios':
    case 'uefi':
      return { filename: NO_TASK_BOOT_FILE, reason: 'no task: a file TFTP refuses, so PXE gives up at once' };
    case 'uefi-http':
      return { filename: `${urls.httpBase}/boot/${NO_TASK_BOOT_FILE}`, reason: 'no task: a URL that answers 404, so HTTP boot gives up at once' };
    default:
      return null;
  }
}

export class BootPlanner {
  constructor(
    private readonly hosts: HostRegistry,
    private readonly tasks: TaskBoard,
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly registration = new HostRegistrationLimit(),
  ) {
    this.refusedLines = new LogLimiter({
      perWindow: 5,
      windowMs: 60_000,
      onDropped: (dropped) => this.log.info({ dropped }, `${dropped} more machines not registered in the last minute`),
    });
  }

  private readonly refusedLines: LogLimiter;

  decide(request: BootRequest): BootDecision {
    const mac = normalizeMac(request.mac);
    this.register(mac, request);
    const task = this.tasks.openTaskFor(mac);
    if (!task) {
      this.log.debug({ mac, via: request.via }, 'no open task: local disk');
      return { action: 'local', reason: 'no task pending' };
    }
    return { action: 'rescue', task };
  }

  /** Records the sighting; a machine not yet known is registered only within the limits. */
  private register(mac: string, request: BootRequest): void {
    const sighting = { mac, firmware: request.firmware, arch: request.arch ?? null, via: request.via, address: request.address ?? null };
    if (this.hosts.get(mac)) {
      this.hosts.seen(sighting);
      return;
    }
    const admission = this.registration.admit(() => this.hosts.unknownCount());
    if (!admission.admit) {
      if (this.refusedLines.admit()) this.log.info({ mac, via: request.via, reason: admission.reason }, `new machine ${mac} not registered: ${admission.reason}`);
      return;
    }
    if (this.hosts.seen(sighting)) this.events.record('host.registered', `new machine ${mac} (${request.firmware}) seen via ${request.via}`, { mac });
  }

  /**
   * What DHCP hands out. With a task: the iPXE script URL for iPXE (else it would load iPXE again and
   * loop), otherwise the iPXE build its firmware runs. Without one, an answer that makes each network
   * boot attempt fail at once, so the firmware reaches its disk in seconds instead of waiting out its
   * DHCP retries (OVMF: PXEv4, then HTTP boot, about a minute each): iPXE gets a script that `exit`s,
   * firmware PXE a file name TFTP refuses, HTTP boot a URL that answers 404. None of them loads code
   * of ours, and no disk is read or written.
   */
  dhcpBootFile(request: BootRequest, urls: { httpBase: string }): { filename: string; reason: string } | null {
    const decision = this.decide(request);
    const mac = normalizeMac(request.mac);
    if (decision.action === 'local') return noTaskBootFile(request, mac, urls);
    if (request.isIpxe) return { filename: `${urls.httpBase}/boot/${mac}.ipxe`, reason: 'iPXE: the boot script' };
    switch (request.firmware) {
      case 'bios':
        return { filename: 'undionly.kpxe', reason: 'BIOS PXE: chainload iPXE' };
      case 'uefi':
        // IA32 UEFI (arch 6) has no iPXE build in Debian's package.
        if (request.arch === 6) return null;
        return { filename: 'snponly.efi', reason: 'UEFI PXE: chainload iPXE' };
      case 'uefi-http':
        return { filename: `${urls.httpBase}/boot/ipxe.efi`, reason: 'UEFI HTTP Boot: iPXE over HTTP' };
      default:
        return null;
    }
  }

  /**
   * The iPXE script for a machine that asks over HTTP, and what that fetch records: a token minted
   * for the boot of a pending task, or a running task failed because its machine booted again. A
   * fetch registers no machine: only DHCP does (a GET costs no row); a known one is marked seen.
   */
  ipxeScript(request: ScriptRequest, urls: { httpBase: string }, rescue: RescueFiles): string {
    const mac = normalizeMac(request.mac);
    this.hosts.touch(mac, 'http', request.address);
    const decision = decideScript(this.tasks.openTaskFor(mac), { ...request, mac });
    switch (decision.action) {
      case 'local':
        return localScript(mac, `${mac} has no task pending: booting the local disk`);
      case 'withheld':
        this.log.info({ mac, taskId: decision.task.id, address: request.address, reason: decision.reason }, 'boot script without a token');
        return localScript(mac, `${decision.reason}: booting the local disk`);
      case 'interrupted':
        if (this.tasks.interrupt(decision.task.id, request.address)) {
          this.log.warn({ mac, taskId: decision.task.id, address: request.address }, 'the machine of a running task booted again: task failed (LB_INTERRUPTED)');
          return localScript(mac, `task ${decision.task.id} was running and the machine booted again: the task failed; lifeboat tasks rearm ${decision.task.id} runs it again`);
        }
        return localScript(mac, `task ${decision.task.id} is not running from this address`);
      case 'rescue': {
        const token = this.tasks.mintToken(decision.task.id, decision.bindTo);
        if (!token) return localScript(mac, `task ${decision.task.id} is no longer pending`);
        this.events.record('boot.rescue', `task ${decision.task.id}: ${mac} boots the rescue system from ${decision.bindTo}`, { mac, taskId: decision.task.id });
        return rescueScript(decision.task, mac, token, urls, rescue);
      }
    }
  }

  /** What a machine's script fetch would get now, for an admin: nothing is minted or recorded, the token is a placeholder. */
  previewScript(mac: string, urls: { httpBase: string }, rescue: RescueFiles): string {
    const m = normalizeMac(mac);
    const task = this.tasks.openTaskFor(m);
    if (!task) return localScript(m, `${m} has no task pending: booting the local disk`);
    return rescueScript(task, m, TOKEN_PLACEHOLDER, urls, rescue);
  }
}

/** Stands where a preview's token would be: the real one exists only in the script of a boot. */
export const TOKEN_PLACEHOLDER = 'MINTED-AT-BOOT';

export interface ScriptRequest {
  mac: string;
  /** The address that fetched the script. */
  address: string;
  /** Full DHCP mode: the address this server leased to the MAC now (null: none); absent when it leases none. */
  leasedAddress?: string | null;
}

export type ScriptDecision =
  | { action: 'local'; reason: string }
  | { action: 'rescue'; task: Task; bindTo: string }
  | { action: 'interrupted'; task: Task }
  | { action: 'withheld'; task: Task; reason: string };

/**
 * What a script fetch gets, from the facts alone. A pending task mints a token for this boot, bound
 * to the boot's address: the leased one in full DHCP mode (and only a fetch from it gets a token),
 * otherwise the fetching one (and once a boot is bound, only a fetch from the same address gets a
 * new token, until an admin re-arms the task). A running task's token is never replaced: a fetch
 * from its boot's address means the machine booted again mid-task; from anywhere else it changes
 * nothing.
 */
export function decideScript(task: Task | undefined, request: ScriptRequest): ScriptDecision {
  if (!task) return { action: 'local', reason: 'no task pending' };
  const from = request.address;
  if (task.state === 'running') {
    if (task.tokenAddress && task.tokenAddress === from) return { action: 'interrupted', task };
    return { action: 'withheld', task, reason: `task ${task.id} is running on another boot; this script carries no token` };
  }
  if (request.leasedAddress !== undefined) {
    if (request.leasedAddress === null) return { action: 'withheld', task, reason: `task ${task.id}: ${task.mac} holds no lease from this server, so no boot of it is known` };
    if (request.leasedAddress !== from) return { action: 'withheld', task, reason: `task ${task.id}: ${task.mac} is leased ${request.leasedAddress}, and this fetch came from ${from}` };
    return { action: 'rescue', task, bindTo: request.leasedAddress };
  }
  if (task.tokenAddress && task.tokenAddress !== from) {
    return { action: 'withheld', task, reason: `task ${task.id} is bound to the boot at ${task.tokenAddress}; lifeboat tasks rearm ${task.id} frees it` };
  }
  return { action: 'rescue', task, bindTo: from };
}

function localScript(mac: string, message: string): string {
  return ['#!ipxe', `echo Lifeboat: ${message.replaceAll('\n', ' ')}`, 'exit', ''].join('\n');
}

function rescueScript(task: Task, mac: string, token: string, urls: { httpBase: string }, rescue: RescueFiles): string {
  const args = [
    'initrd=initrd.img',
    `${CMDLINE_KEYS.server}=${urls.httpBase}`,
    `${CMDLINE_KEYS.task}=${task.id}`,
    `${CMDLINE_KEYS.token}=${token}`,
    // pxelinux's convention: the rescue /init runs DHCP on the interface that booted, not on the first one it finds.
    `BOOTIF=01-${mac.replaceAll(':', '-')}`,
    rescue.cmdline,
  ].filter(Boolean);
  return [
    '#!ipxe',
    `echo Lifeboat: task ${task.id} (${task.kind}${task.image ? ` ${task.image}${task.version ? `@${task.version}` : ''}` : ''}) for ${mac}`,
    `kernel ${urls.httpBase}${rescue.kernelPath} ${args.join(' ')}`,
    `initrd --name initrd.img ${urls.httpBase}${rescue.initrdPath}`,
    'boot',
    '',
  ].join('\n');
}
