import type { BootAnswer, BootClient } from './classify.js';
import { BOOTREPLY, BROADCAST_FLAG, type DhcpPacket, type PacketFields, MessageType, Option, encode } from './packet.js';

/**
 * Reply packets and where they go. The server decides; these functions only turn a decision into
 * fields and a destination (RFC 2131 §4.1).
 */

export interface NetworkOptions {
  serverAddress: string;
  subnetMask?: string;
  router?: string;
  dns?: string[];
  leaseSeconds?: number;
  t1?: number;
  t2?: number;
}

export interface Destination {
  address: string;
  port: number;
}

/** RFC 2131 §4.1: to the relay when there is one; NAKs broadcast; a configured client unicast; otherwise broadcast. */
export function replyDestination(request: DhcpPacket, isNak: boolean, ports: { server: number; client: number }): Destination {
  if (request.giaddr !== '0.0.0.0') return { address: request.giaddr, port: ports.server };
  if (isNak) return { address: '255.255.255.255', port: ports.client };
  if (request.ciaddr !== '0.0.0.0') return { address: request.ciaddr, port: ports.client };
  // A client without an address can only be reached by unicast after an ARP entry is planted,
  // which needs a raw socket; RFC 2131 allows broadcast instead, and every client accepts it.
  return { address: '255.255.255.255', port: ports.client };
}

function baseReply(request: DhcpPacket, type: number, serverAddress: string): PacketFields & { options: Array<[number, Buffer]> } {
  return {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    xid: request.xid,
    // A relay needs the broadcast bit kept so it knows how to deliver (§4.1).
    flags: request.flags & BROADCAST_FLAG,
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    options: [
      [Option.MESSAGE_TYPE, encode.u8(type)],
      [Option.SERVER_ID, encode.ip(serverAddress)],
    ],
  };
}

export interface BootFieldsOptions {
  /** proxyDHCP: mark the reply as PXE and tell BIOS PXE to skip boot server discovery. */
  proxy: boolean;
}

/** siaddr, file and the PXE options for a boot answer. */
export function addBootFields(reply: PacketFields, request: DhcpPacket, client: BootClient, boot: BootAnswer, serverAddress: string, opts: BootFieldsOptions): void {
  reply.siaddr = boot.nextServer ?? serverAddress;
  // pixiecore found PXE ROMs that read the boot server from sname in proxy offers.
  if (opts.proxy) reply.sname = reply.siaddr;
  const fits = Buffer.byteLength(boot.filename, 'latin1') < 128;
  if (fits) reply.file = boot.filename;
  if (!fits || client.isIpxe || client.firmware === 'uefi-http') reply.options.push([Option.BOOTFILE, encode.text(boot.filename)]);
  const isHttp = client.vendorClass?.startsWith('HTTPClient') ?? false;
  // UEFI HTTP boot only takes offers that name HTTPClient; PXE ROMs treat a PXEClient reply as the
  // PXE part of the exchange. A full-mode PXE reply leaves option 60 out so firmware does not go
  // looking for a boot server on port 4011.
  if (isHttp) reply.options.push([Option.VENDOR_CLASS, encode.text('HTTPClient')]);
  else if (opts.proxy) reply.options.push([Option.VENDOR_CLASS, encode.text('PXEClient')]);
  if (opts.proxy && !isHttp && (client.firmware === 'bios' || client.isIpxe)) {
    // PXE vendor option 6 (discovery control) = 8: boot the file named here, no menu, no discovery.
    reply.options.push([Option.VENDOR_SPECIFIC, Buffer.from([6, 1, 8, 255])]);
  }
  const guid = request.options.get(Option.CLIENT_MACHINE_ID);
  if (guid) reply.options.push([Option.CLIENT_MACHINE_ID, guid]);
}

function addNetwork(reply: PacketFields, net: NetworkOptions, withLease: boolean): void {
  if (withLease && net.leaseSeconds !== undefined) {
    reply.options.push([Option.LEASE_TIME, encode.u32(net.leaseSeconds)]);
    if (net.t1 !== undefined) reply.options.push([Option.RENEWAL_TIME, encode.u32(net.t1)]);
    if (net.t2 !== undefined) reply.options.push([Option.REBINDING_TIME, encode.u32(net.t2)]);
  }
  if (net.subnetMask) reply.options.push([Option.SUBNET_MASK, encode.ip(net.subnetMask)]);
  if (net.router) reply.options.push([Option.ROUTER, encode.ip(net.router)]);
  if (net.dns && net.dns.length > 0) reply.options.push([Option.DNS, encode.ips(net.dns)]);
}

function echoRelayInfo(reply: PacketFields, request: DhcpPacket): void {
  // RFC 3046: relay agent information comes back unchanged, last.
  const info = request.options.get(82);
  if (info) reply.options.push([82, info]);
}

export function addressReply(type: typeof MessageType.OFFER | typeof MessageType.ACK, request: DhcpPacket, address: string, net: NetworkOptions, client: BootClient, boot: BootAnswer | null): PacketFields {
  const reply = baseReply(request, type, net.serverAddress);
  reply.yiaddr = address;
  if (type === MessageType.ACK) reply.ciaddr = request.ciaddr;
  addNetwork(reply, net, true);
  if (boot) addBootFields(reply, request, client, boot, net.serverAddress, { proxy: false });
  echoRelayInfo(reply, request);
  return reply;
}

/** DHCPINFORM: configuration without an address or lease time (RFC 2131 §4.3.5). */
export function informReply(request: DhcpPacket, net: NetworkOptions, client: BootClient, boot: BootAnswer | null): PacketFields {
  const reply = baseReply(request, MessageType.ACK, net.serverAddress);
  reply.ciaddr = request.ciaddr;
  addNetwork(reply, net, false);
  if (boot) addBootFields(reply, request, client, boot, net.serverAddress, { proxy: false });
  echoRelayInfo(reply, request);
  return reply;
}

export function nakReply(request: DhcpPacket, serverAddress: string, message: string): PacketFields {
  const reply = baseReply(request, MessageType.NAK, serverAddress);
  if (request.giaddr !== '0.0.0.0') reply.flags = BROADCAST_FLAG;
  reply.options.push([Option.MESSAGE, encode.text(message.slice(0, 250))]);
  echoRelayInfo(reply, request);
  return reply;
}

/** proxyDHCP: boot information only; yiaddr stays 0.0.0.0, the site's DHCP server gives the address. */
export function proxyReply(type: typeof MessageType.OFFER | typeof MessageType.ACK, request: DhcpPacket, serverAddress: string, client: BootClient, boot: BootAnswer): PacketFields {
  const reply = baseReply(request, type, serverAddress);
  reply.ciaddr = type === MessageType.ACK ? request.ciaddr : '0.0.0.0';
  addBootFields(reply, request, client, boot, serverAddress, { proxy: true });
  return reply;
}
