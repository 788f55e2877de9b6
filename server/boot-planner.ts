import type { Logger } from '../core/log.js';
import { CMDLINE_KEYS } from '../netboot/task-protocol.js';
import type { EventLog } from './state/events.js';
import type { HostRegistry } from './state/hosts.js';
import type { Task, TaskBoard } from './state/tasks.js';
import { normalizeMac } from './state/mac.js';

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
  ) {}

  decide(request: BootRequest): BootDecision {
    const mac = normalizeMac(request.mac);
    const isNew = this.hosts.seen({ mac, firmware: request.firmware, arch: request.arch ?? null, via: request.via, address: request.address ?? null });
    if (isNew) this.events.record('host.registered', `new machine ${mac} (${request.firmware}) seen via ${request.via}`, { mac });
    const task = this.tasks.openTaskFor(mac);
    if (!task) {
      this.log.debug({ mac, via: request.via }, 'no open task: local disk');
      return { action: 'local', reason: 'no task pending' };
    }
    return { action: 'rescue', task };
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

  /** The iPXE script for a machine that asks over HTTP. */
  ipxeScript(request: BootRequest, urls: { httpBase: string }, rescue: RescueFiles): string {
    const decision = this.decide(request);
    const mac = normalizeMac(request.mac);
    if (decision.action === 'local') {
      return ['#!ipxe', `echo Lifeboat: ${mac} has no task pending: booting the local disk`, 'exit', ''].join('\n');
    }
    const task = decision.task;
    const token = this.tasks.mintToken(task.id);
    this.events.record('boot.rescue', `task ${task.id}: ${mac} boots the rescue system`, { mac, taskId: task.id });
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
}
