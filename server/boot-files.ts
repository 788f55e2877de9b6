/**
 * What a network-booting machine is told to load, by kind of firmware: the one table DHCP answers
 * from and HTTP serves by. The machine's firmware is the CLIENT's (what is booting now, from DHCP
 * option 93 and the vendor class), not the firmware a restored disk is made for (TargetFirmware in
 * images/restore).
 */
export type ClientFirmware = 'bios' | 'uefi' | 'uefi-http' | 'unknown';

/**
 * The iPXE builds Lifeboat chainloads, from Debian's ipxe package: copied into the netboot root
 * (TFTP) at start and served under /boot/ (UEFI HTTP Boot).
 */
export const IPXE_SOURCE_DIR = '/usr/lib/ipxe';
export const IPXE_BINARIES = ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'] as const;
export type IpxeBinary = (typeof IPXE_BINARIES)[number];

export function isIpxeBinary(file: string): file is IpxeBinary {
  return (IPXE_BINARIES as readonly string[]).includes(file);
}

/**
 * The boot file named to firmware with no task: TFTP and HTTP both refuse it, so the firmware's
 * network boot attempt ends at once and it moves on to its next boot device.
 */
export const NO_TASK_BOOT_FILE = 'no-task-boot-local-disk';

/** Why a machine is told what it is told: a closed set, each with the words the logs use. */
export const BOOT_FILE_REASONS = {
  'ipxe-script': 'iPXE: the boot script',
  'bios-pxe': 'BIOS PXE: chainload iPXE',
  'uefi-pxe': 'UEFI PXE: chainload iPXE',
  'uefi-http-boot': 'UEFI HTTP Boot: iPXE over HTTP',
  'no-ipxe-build': 'IA32 UEFI: Debian\'s ipxe package has no iPXE build for it',
  'no-task-ipxe': 'no task: iPXE runs a script that exits to the next boot device',
  'no-task-pxe': 'no task: a file TFTP refuses, so PXE gives up at once',
  'no-task-http-boot': 'no task: a URL that answers 404, so HTTP boot gives up at once',
  'not-network-boot': 'firmware that is not known to network-boot: no boot file',
} as const;
export type BootFileReason = keyof typeof BOOT_FILE_REASONS;

/** Where the named file is fetched from: the TFTP root, this server's HTTP /boot/, or the machine's own iPXE script. */
type Target = { tftp: string } | { http: string } | 'ipxe-script' | null;

interface Row {
  target: Target;
  reason: BootFileReason;
}

/**
 * Client firmware × task pending → what to load. A machine already running iPXE is its own row
 * whatever its firmware: loading iPXE again would loop, so it gets its script (which boots the
 * rescue system, or exits). Without a task every answer makes that boot attempt fail at once, so the
 * firmware reaches its disk in seconds instead of waiting out its DHCP retries (OVMF: PXEv4, then
 * HTTP boot, about a minute each); none of them loads code of ours.
 */
const BOOT_FILES: Record<ClientFirmware | 'ipxe', { task: Row; noTask: Row }> = {
  ipxe: { task: { target: 'ipxe-script', reason: 'ipxe-script' }, noTask: { target: 'ipxe-script', reason: 'no-task-ipxe' } },
  bios: { task: { target: { tftp: 'undionly.kpxe' }, reason: 'bios-pxe' }, noTask: { target: { tftp: NO_TASK_BOOT_FILE }, reason: 'no-task-pxe' } },
  uefi: { task: { target: { tftp: 'snponly.efi' }, reason: 'uefi-pxe' }, noTask: { target: { tftp: NO_TASK_BOOT_FILE }, reason: 'no-task-pxe' } },
  'uefi-http': { task: { target: { http: 'ipxe.efi' }, reason: 'uefi-http-boot' }, noTask: { target: { http: NO_TASK_BOOT_FILE }, reason: 'no-task-http-boot' } },
  unknown: { task: { target: null, reason: 'not-network-boot' }, noTask: { target: null, reason: 'not-network-boot' } },
};

/** Option 93 architecture 6: IA32 UEFI, for which Debian's ipxe package has no build. */
const IA32_UEFI = 6;

export interface BootFileClient {
  mac: string;
  firmware: ClientFirmware;
  arch?: number | null;
  isIpxe: boolean;
}

/** The file (a TFTP name or an HTTP URL) to name in DHCP, or null for none, and why. */
export interface BootFile {
  filename: string | null;
  reason: BootFileReason;
}

/** The URL of a machine's iPXE script. */
export function ipxeScriptUrl(httpBase: string, mac: string): string {
  return `${httpBase}/boot/${mac}.ipxe`;
}

/** Looks the client up in the table; `mac` must be canonical (server/state/mac.ts). */
export function bootFileFor(client: BootFileClient, hasTask: boolean, urls: { httpBase: string }): BootFile {
  const rows = BOOT_FILES[client.isIpxe ? 'ipxe' : client.firmware];
  const row = hasTask ? rows.task : rows.noTask;
  if (hasTask && !client.isIpxe && client.firmware === 'uefi' && client.arch === IA32_UEFI) return { filename: null, reason: 'no-ipxe-build' };
  const target = row.target;
  if (target === null) return { filename: null, reason: row.reason };
  if (target === 'ipxe-script') return { filename: ipxeScriptUrl(urls.httpBase, client.mac), reason: row.reason };
  if ('tftp' in target) return { filename: target.tftp, reason: row.reason };
  return { filename: `${urls.httpBase}/boot/${target.http}`, reason: row.reason };
}
