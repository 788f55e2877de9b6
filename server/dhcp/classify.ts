import type { ClientFirmware } from '../boot-files.js';
import { type DhcpPacket, Option, macOf, optionText, optionUint16List } from './packet.js';

/**
 * What kind of machine sent a request, in the terms the BootPlanner decides on. The DHCP server
 * never chooses a boot file itself: it hands this to `bootFor` and carries out the answer.
 */
export interface BootClient {
  mac: string;
  firmware: ClientFirmware;
  /** The first client system architecture from option 93 (RFC 4578, IANA "Processor Architecture Types"). */
  arch: number | null;
  /** Already running iPXE (user class "iPXE" or iPXE's encapsulated option 175): answer with a script URL, not a binary, or it loops. */
  isIpxe: boolean;
  /** Vendor class PXEClient… or HTTPClient…: firmware that network-boots. */
  isPxe: boolean;
  userClass: string | null;
  vendorClass: string | null;
  interface: string;
}

export interface BootAnswer {
  filename: string;
  nextServer?: string;
}

export type BootFor = (client: BootClient) => Promise<BootAnswer | null>;

/** Option 93 codes; 10/11 are 32/64-bit ARM UEFI, 15/16/18/19 the UEFI HTTP boot variants. */
export function firmwareOfArch(arch: number | null): ClientFirmware {
  if (arch === null) return 'unknown';
  if (arch === 0) return 'bios';
  if ([6, 7, 9, 10, 11].includes(arch)) return 'uefi';
  if ([15, 16, 18, 19].includes(arch)) return 'uefi-http';
  return 'unknown';
}

/**
 * RFC 3004 user class is a list of length-prefixed items, but iPXE (and most firmware) sends a
 * bare string. Read both: a well-formed item list becomes its items joined by commas.
 */
export function readUserClass(raw: Buffer | undefined): string | null {
  if (!raw || raw.length === 0) return null;
  const items: string[] = [];
  let i = 0;
  while (i < raw.length) {
    const len = raw[i]!;
    if (len === 0 || i + 1 + len > raw.length) break;
    items.push(raw.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  const printable = (s: string) => /^[\x20-\x7e]+$/.test(s);
  if (i === raw.length && items.length > 0 && items.every(printable)) return items.join(',');
  return raw.toString('latin1').replace(/\0+$/, '');
}

/** Returns null when the packet carries no Ethernet hardware address (nothing to key a lease or a boot on). */
export function classifyClient(packet: DhcpPacket, interfaceName: string): BootClient | null {
  const mac = macOf(packet);
  if (!mac) return null;
  const arch = optionUint16List(packet, Option.CLIENT_ARCH)?.[0] ?? null;
  const vendorClass = optionText(packet, Option.VENDOR_CLASS);
  const userClass = readUserClass(packet.options.get(Option.USER_CLASS));
  const isHttpClient = vendorClass?.startsWith('HTTPClient') ?? false;
  let firmware = firmwareOfArch(arch);
  // A UEFI HTTP boot client names itself in the vendor class even when option 93 says plain x64.
  if (isHttpClient && firmware === 'uefi') firmware = 'uefi-http';
  return {
    mac,
    firmware,
    arch,
    isIpxe: packet.options.has(Option.IPXE_ENCAPSULATED) || (userClass?.split(',').includes('iPXE') ?? false),
    isPxe: isHttpClient || (vendorClass?.startsWith('PXEClient') ?? false),
    userClass,
    vendorClass,
    interface: interfaceName,
  };
}
