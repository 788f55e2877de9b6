import type { Logger } from '../core/log.js';
import { CMDLINE_KEYS } from '../netboot/task-protocol.js';
import type { EventLog } from './state/events.js';
import type { HostRegistry } from './state/hosts.js';
import type { Task, TaskBoard } from './state/tasks.js';
import type { CloneSessions } from './state/clone-sessions.js';
import { decideScript, type ScriptRequest } from './boot-decision.js';
import type { ClientFirmware } from './boot-files.js';
import { normalizeMac } from './state/mac.js';
import { HostRegistrationLimit } from './host-registration.js';
import { LogLimiter } from './log-limit.js';

export interface RescueFiles {
  /** URL path of the kernel and initrd under the HTTP server, e.g. /boot/rescue/vmlinuz. */
  kernelPath: string;
  initrdPath: string;
  /** Extra kernel arguments (console, quiet, …). */
  cmdline: string;
}

/** A machine seen by a listener: what it said about itself, and where it was seen. */
export interface Sighting {
  mac: string;
  firmware: ClientFirmware;
  arch?: number | null;
  via: 'dhcp' | 'tftp' | 'http';
  address?: string | null;
}

/**
 * What the boot decision leaves behind: hosts seen and registered, tokens minted, interrupted tasks
 * failed, events. The decisions themselves are pure (boot-decision.ts); a listener that needs both
 * calls both.
 */
export class BootPlanner {
  constructor(
    private readonly hosts: HostRegistry,
    private readonly tasks: TaskBoard,
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly registration = new HostRegistrationLimit(),
    private readonly clones: CloneSessions | null = null,
  ) {
    this.refusedLines = new LogLimiter({
      perWindow: 5,
      windowMs: 60_000,
      onDropped: (dropped) => this.log.info({ dropped }, `${dropped} more machines not registered in the last minute`),
    });
  }

  private readonly refusedLines: LogLimiter;

  /** Records a sighting; a machine not yet known is registered only within the limits. */
  recordSighting(sighting: Sighting): void {
    const mac = normalizeMac(sighting.mac);
    const row = { mac, firmware: sighting.firmware, arch: sighting.arch ?? null, via: sighting.via, address: sighting.address ?? null };
    if (this.hosts.get(mac)) {
      this.hosts.seen(row);
      return;
    }
    const admission = this.registration.admit(() => this.hosts.unknownCount());
    if (!admission.admit) {
      if (this.refusedLines.admit()) this.log.info({ mac, via: sighting.via, reason: admission.reason }, `new machine ${mac} not registered: ${admission.reason}`);
      return;
    }
    if (this.hosts.seen(row)) this.events.record('host.registered', `new machine ${mac} (${sighting.firmware}) seen via ${sighting.via}`, { mac });
  }

  /**
   * A machine network-boots (DHCP from PXE firmware or iPXE, a TFTP read, a script fetch): a
   * --count clone session waiting for machines may take it before its boot is decided, so this
   * same boot goes to the rescue system with the new task. The one place every listener calls,
   * before it asks what the machine boots; the decision itself stays pure (decideClaim, nextBoot).
   */
  claimForBoot(mac: string, networkBoot: boolean): void {
    if (!this.clones) return;
    const task = this.clones.claim(mac, networkBoot);
    if (task) this.log.info({ mac: task.mac, taskId: task.id, session: task.options.clone?.session }, `clone session ${task.options.clone?.session} claimed ${task.mac} as machine ${task.options.clone?.n}`);
  }

  /**
   * The iPXE script for a machine that asks over HTTP, and what that fetch records: a token minted
   * for the boot of a pending task, or a running task failed because its machine booted again. A
   * fetch registers no machine: only DHCP does (a GET costs no row); a known one is marked seen.
   */
  ipxeScript(request: ScriptRequest, urls: { httpBase: string }, rescue: RescueFiles): string {
    const mac = normalizeMac(request.mac);
    this.hosts.touch(mac, 'http', request.address);
    this.claimForBoot(mac, true);
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
