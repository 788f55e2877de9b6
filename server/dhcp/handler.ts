import type { Database } from 'better-sqlite3';
import { LifeboatError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { formatIpv4, parseIpv4 } from '../ipv4.js';
import { type AddressPlan, type Lease, chooseOfferAddress, decideRequest, inSubnet, makeAddressPlan, renewalTimes } from './address-plan.js';
import { type BootAnswer, type BootClient, type BootFor, classifyClient } from './classify.js';
import { LeaseStore, migrateLeases } from './lease-store.js';
import { BOOTREQUEST, type DhcpPacket, MessageType, Option, type PacketFields, macOf, messageTypeName, messageTypeOf, optionIp, optionText } from './packet.js';
import { type Destination, type NetworkOptions, addressReply, informReply, nakReply, proxyReply, replyDestination } from './replies.js';

/**
 * The DHCP server without its sockets: a parsed request in, what to do about it out. The handler
 * reads as a story: classify, ask `bootFor`, decide (full mode: the pure address plan; proxy mode:
 * boot info only), and answer with the reply and its destination, or with why the packet is
 * ignored. Lease changes are staged in the lease store; the socket part commits them before it
 * sends a reply that confirms one (`afterCommit`).
 */

export interface DhcpHandlerOptions {
  mode: 'full' | 'proxy';
  /** The one interface served. */
  interface: string;
  /** This server's address on that interface: server identifier, default next-server. */
  serverAddress: string;
  range?: { first: string; last: string };
  subnetMask?: string;
  router?: string;
  dns?: string[];
  leaseSeconds?: number;
  reservations?: Array<{ mac: string; address: string }>;
  /** How long a DECLINEd address stays out of the pool. */
  declineQuarantineSeconds?: number;
  db: Database;
  bootFor: BootFor;
  ports: { server: number; client: number; proxy: number };
  /** Lines about the handling itself (received, boot planner failures); outcomes are returned. */
  log: Logger;
  /** Unix seconds; for tests. */
  now?: () => number;
}

/** A datagram as it arrived: parsed, where from, and whether on the PXE port (4011, proxy mode). */
export interface DhcpRequest {
  packet: DhcpPacket;
  from: { address: string; port: number };
  viaPxePort: boolean;
}

export interface DhcpReply {
  fields: PacketFields;
  to: Destination;
  /** The socket to send from: the DHCP port's, or the PXE port's for an answer to a request on 4011. */
  socket: 'server' | 'pxe';
  /** What the log calls it: OFFER, ACK, NAK, proxy OFFER… */
  what: string;
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn';
  fields: Record<string, unknown>;
  msg: string;
}

export type DhcpOutcome =
  | {
      kind: 'ignore';
      mac: string | null;
      level: 'debug' | 'info' | 'warn';
      reason: string;
      extra: Record<string, unknown>;
      /** Malformed packets have their own log limiter, so a flood of them cannot hide the rest. */
      malformed: boolean;
    }
  | {
      kind: 'answer';
      mac: string;
      /** Logged first, then the reply sent. */
      log: LogLine | null;
      reply: DhcpReply | null;
      /** Log and send only once the staged lease change is committed. */
      afterCommit: boolean;
    };

const OFFER_HOLD_SECONDS = 30;

function requireOption<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new LifeboatError('LB_USAGE', `full-mode DHCP needs ${name}: set it in the DHCP configuration`);
  return value;
}

const ignore = (mac: string | null, level: 'debug' | 'info' | 'warn', reason: string, extra: Record<string, unknown> = {}, malformed = false): DhcpOutcome => ({ kind: 'ignore', mac, level, reason, extra, malformed });

const answer = (mac: string, log: LogLine | null, reply: DhcpReply | null, afterCommit = false): DhcpOutcome => ({ kind: 'answer', mac, log, reply, afterCommit });

export class DhcpHandler {
  readonly plan: AddressPlan | null = null;
  private readonly store: LeaseStore | null = null;
  private readonly net: NetworkOptions;
  private readonly leaseSeconds: number;
  private readonly quarantineSeconds: number;
  private readonly now: () => number;

  /** Validates the configuration; errors say which setting is wrong and how to fix it. */
  constructor(private readonly options: DhcpHandlerOptions) {
    parseIpv4(options.serverAddress);
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.leaseSeconds = options.leaseSeconds ?? 3600;
    this.net = { serverAddress: options.serverAddress };
    if (options.mode === 'full') {
      const subnetMask = options.subnetMask ?? '255.255.255.0';
      this.plan = makeAddressPlan({ serverAddress: options.serverAddress, subnetMask, range: requireOption(options.range, 'an address range (range.first, range.last)'), reservations: options.reservations ?? [] });
      if (!Number.isInteger(this.leaseSeconds) || this.leaseSeconds < 60) throw new LifeboatError('LB_USAGE', `lease time ${this.leaseSeconds} s is too short: give at least 60 seconds`);
      this.store = new LeaseStore(options.db);
      this.net = { serverAddress: options.serverAddress, subnetMask, router: options.router, dns: options.dns, leaseSeconds: this.leaseSeconds, ...renewalTimes(this.leaseSeconds) };
    } else if (options.mode === 'proxy') {
      migrateLeases(options.db);
    } else {
      throw new LifeboatError('LB_USAGE', `DHCP mode "${String(options.mode)}" is unknown: use "full" or "proxy"`);
    }
    this.quarantineSeconds = options.declineQuarantineSeconds ?? 600;
  }

  /** Writes the staged lease changes (throws when the database cannot take them). */
  commit(): void {
    this.store?.commit(this.now());
  }

  /** Leases bound and not expired (full mode; proxy mode hands out none). */
  leases(): Lease[] {
    return this.store ? this.store.active(this.now()) : [];
  }

  async handle(request: DhcpRequest): Promise<DhcpOutcome> {
    const { packet, from } = request;
    const source = `${from.address}:${from.port}`;
    const mac = macOf(packet);
    if (packet.op !== BOOTREQUEST) return ignore(mac, 'debug', 'a BOOTREPLY (another server\'s answer)', { from: source });
    const type = messageTypeOf(packet);
    if (type === null) return ignore(mac, 'info', 'no DHCP message type (plain BOOTP is not served)', { from: source }, true);
    const client = classifyClient(packet, this.options.interface);
    if (!client) return ignore(mac, 'info', `hardware type ${packet.htype} length ${packet.hlen} is not Ethernet`, { from: source }, true);
    if (from.address !== '0.0.0.0' && packet.giaddr === '0.0.0.0' && this.plan && !inSubnet(this.plan, parseIpv4(from.address))) {
      return ignore(mac, 'info', `sent from ${from.address}, outside this interface's network`, { from: source });
    }
    const mlog = this.options.log.child({ mac: client.mac });
    mlog.debug({ type: messageTypeName(type), xid: packet.xid, from: source, firmware: client.firmware, arch: client.arch, ipxe: client.isIpxe, pxe: client.isPxe }, `received ${messageTypeName(type)}`);
    if (this.options.mode === 'full') return this.handleFull(packet, type, client, mlog);
    return this.handleProxy(request, type, client, mlog);
  }

  private async askBootFor(client: BootClient, mlog: Logger): Promise<BootAnswer | null> {
    try {
      const answer = await this.options.bootFor(client);
      if (answer !== null && (typeof answer?.filename !== 'string' || answer.filename === '')) {
        mlog.error({ answer }, 'boot planner returned no filename: giving no boot information');
        return null;
      }
      return answer;
    } catch (e) {
      mlog.error({ err: e }, `boot planner failed, giving no boot information: ${(e as Error).message}`);
      return null;
    }
  }

  private reply(fields: PacketFields, packet: DhcpPacket, what: string, isNak = false): DhcpReply {
    return { fields, to: replyDestination(packet, isNak, this.options.ports), socket: 'server', what };
  }

  private async handleFull(packet: DhcpPacket, type: number, client: BootClient, mlog: Logger): Promise<DhcpOutcome> {
    const p = this.plan!;
    const s = this.store!;
    const now = this.now();
    const { mac } = client;
    const { serverAddress } = this.options;
    if (packet.giaddr !== '0.0.0.0' && !inSubnet(p, parseIpv4(packet.giaddr))) {
      return ignore(mac, 'info', `relayed from ${packet.giaddr}, a network this server does not serve`);
    }
    switch (type) {
      case MessageType.DISCOVER: {
        const address = chooseOfferAddress(p, s, mac, optionIp(packet, Option.REQUESTED_ADDRESS), now);
        if (address === null) {
          return ignore(mac, 'warn', `address pool ${formatIpv4(p.first)}-${formatIpv4(p.last)} is exhausted: no address to offer (widen the range or shorten the lease time)`);
        }
        s.holdOffer(address, mac, OFFER_HOLD_SECONDS);
        const boot = await this.askBootFor(client, mlog);
        return answer(mac, { level: 'debug', fields: { address, bootfile: boot?.filename ?? null }, msg: 'offering address' }, this.reply(addressReply(MessageType.OFFER, packet, address, this.net, client, boot), packet, 'OFFER'));
      }
      case MessageType.REQUEST: {
        const decision = decideRequest(p, s, { mac, serverId: optionIp(packet, Option.SERVER_ID), requested: optionIp(packet, Option.REQUESTED_ADDRESS), ciaddr: packet.ciaddr }, now);
        if (decision.kind === 'ignore') {
          if (decision.code === 'other-server') s.dropOffer(mac);
          return ignore(mac, 'debug', decision.reason, { state: decision.state });
        }
        if (decision.kind === 'nak') {
          return answer(mac, { level: 'info', fields: { reason: decision.reason, state: decision.state }, msg: `NAK: ${decision.reason}` }, this.reply(nakReply(packet, serverAddress, decision.reason), packet, 'NAK', true));
        }
        const lease = s.bind(decision.address, mac, now + this.leaseSeconds, optionText(packet, Option.HOSTNAME));
        const boot = await this.askBootFor(client, mlog);
        const line: LogLine = { level: 'info', fields: { address: lease.address, expiresAt: lease.expiresAt, state: decision.state, bootfile: boot?.filename ?? null }, msg: `lease ${lease.address} bound` };
        return answer(mac, line, this.reply(addressReply(MessageType.ACK, packet, lease.address, this.net, client, boot), packet, 'ACK'), true);
      }
      case MessageType.DECLINE: {
        const serverId = optionIp(packet, Option.SERVER_ID);
        if (serverId !== null && serverId !== serverAddress) return ignore(mac, 'debug', `DECLINE is for server ${serverId}`);
        const address = optionIp(packet, Option.REQUESTED_ADDRESS);
        const lease = address === null ? undefined : s.byAddress(address);
        if (!address || !lease || lease.mac !== mac) return ignore(mac, 'info', `DECLINE of ${address ?? 'no address'}, which is not leased to this client`);
        const until = now + this.quarantineSeconds;
        s.quarantine(address, mac, until);
        return answer(mac, { level: 'warn', fields: { address, until }, msg: `client declined ${address} (another host answers on it): kept out of the pool for ${this.quarantineSeconds} s; find the host using it` }, null, true);
      }
      case MessageType.RELEASE: {
        const serverId = optionIp(packet, Option.SERVER_ID);
        if (serverId !== null && serverId !== serverAddress) return ignore(mac, 'debug', `RELEASE is for server ${serverId}`);
        const lease = s.byAddress(packet.ciaddr);
        if (!lease || lease.mac !== mac || lease.state !== 'bound') return ignore(mac, 'info', `RELEASE of ${packet.ciaddr}, which is not leased to this client`);
        s.release(packet.ciaddr, now);
        return answer(mac, { level: 'info', fields: { address: packet.ciaddr }, msg: `lease ${packet.ciaddr} released` }, null, true);
      }
      case MessageType.INFORM: {
        if (packet.ciaddr === '0.0.0.0' || !inSubnet(p, parseIpv4(packet.ciaddr))) return ignore(mac, 'info', `INFORM from ${packet.ciaddr}, not on this network`);
        const boot = await this.askBootFor(client, mlog);
        return answer(mac, null, this.reply(informReply(packet, this.net, client, boot), packet, 'ACK to INFORM'));
      }
      default:
        return ignore(mac, 'debug', `${messageTypeName(type)} is not a client message`);
    }
  }

  private async handleProxy(request: DhcpRequest, type: number, client: BootClient, mlog: Logger): Promise<DhcpOutcome> {
    const { packet, viaPxePort, from } = request;
    const { mac } = client;
    const { serverAddress } = this.options;
    if (!client.isPxe) return ignore(mac, 'debug', `not a PXE client (vendor class ${JSON.stringify(client.vendorClass)}); proxy mode answers only PXEClient/HTTPClient`);
    const serverId = optionIp(packet, Option.SERVER_ID);
    let kind: 'offer' | 'ack';
    if (viaPxePort) {
      if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return ignore(mac, 'debug', `${messageTypeName(type)} on the PXE port; only REQUEST is answered there`);
      kind = 'ack';
    } else if (type === MessageType.DISCOVER) {
      kind = 'offer';
    } else if (type === MessageType.REQUEST && serverId === serverAddress) {
      // Some ROMs send their proxy REQUEST to port 67 rather than 4011.
      kind = 'ack';
    } else {
      return ignore(mac, 'debug', `${messageTypeName(type)} is for the site's DHCP server`);
    }
    const boot = await this.askBootFor(client, mlog);
    if (!boot) return ignore(mac, 'info', 'boot planner gives this machine no boot information: proxy stays silent');
    const fields = { bootfile: boot.filename, firmware: client.firmware, ipxe: client.isIpxe };
    if (kind === 'offer') {
      return answer(mac, { level: 'info', fields, msg: `proxy offer: boot ${boot.filename}` }, this.reply(proxyReply(MessageType.OFFER, packet, serverAddress, client, boot), packet, 'proxy OFFER'));
    }
    const reply: DhcpReply = viaPxePort
      ? { fields: proxyReply(MessageType.ACK, packet, serverAddress, client, boot), to: { address: from.address, port: from.port }, socket: 'pxe', what: 'proxy ACK' }
      : this.reply(proxyReply(MessageType.ACK, packet, serverAddress, client, boot), packet, 'proxy ACK');
    return answer(mac, { level: 'info', fields, msg: `proxy ACK: boot ${boot.filename}` }, reply);
  }
}
