import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import type { Database } from 'better-sqlite3';
import { LifeboatError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/log.js';
import { clipText, LogLimiter, packetHead } from '../log-limit.js';
import { formatIpv4, parseIpv4 } from '../ipv4.js';
import { type AddressPlan, type Lease, chooseOfferAddress, decideRequest, inSubnet, makeAddressPlan, renewalTimes } from './address-plan.js';
import { type BootAnswer, type BootClient, type BootFor, classifyClient } from './classify.js';
import { type InterfaceSocket, bindToInterface, interfaceIndex, listInterfaces, openInterfaceSocket } from './interface-socket.js';
import { LeaseStore, migrateLeases } from './lease-store.js';
import { BOOTREQUEST, type DhcpPacket, MessageType, Option, type PacketFields, encodePacket, macOf, messageTypeName, messageTypeOf, optionIp, optionText, parsePacket } from './packet.js';
import { type Destination, type NetworkOptions, addressReply, informReply, nakReply, proxyReply, replyDestination } from './replies.js';

export interface DhcpServerOptions {
  mode: 'full' | 'proxy';
  /** The one interface served; packets from any other are never answered. */
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
  port?: number;
  proxyPort?: number;
  clientPort?: number;
  logger?: Logger;
  /**
   * Also listen on every other interface, only to log "ignored: arrived on ethX". This needs
   * SO_REUSEADDR on the DHCP port for all of Lifeboat's sockets, which can keep another DHCP server
   * on this host from binding the port later, so it is off unless asked for.
   */
  logOtherInterfaces?: boolean;
}

export interface DhcpServer {
  close(): Promise<void>;
  /** Leases bound and not expired (full mode; proxy mode hands out none). */
  leases(): Lease[];
}

const OFFER_HOLD_SECONDS = 30;

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function requireOption<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new LifeboatError('LB_USAGE', `full-mode DHCP needs ${name}: set it in the DHCP configuration`);
  return value;
}

/**
 * Starts the DHCP listener. The handler reads as a story: receive, parse, classify, ask
 * `bootFor`, decide (full mode: the pure address plan; proxy mode: boot info only), reply, and for
 * every packet not answered, log why.
 */
export async function startDhcpServer(options: DhcpServerOptions): Promise<DhcpServer> {
  // Whatever logger the caller passes, these lines say component 'dhcp' (pino: the last binding wins).
  const log = (options.logger ?? componentLogger('dhcp')).child({ component: 'dhcp', interface: options.interface, mode: options.mode });
  const ports = { server: options.port ?? 67, client: options.clientPort ?? 68, proxy: options.proxyPort ?? 4011 };
  interfaceIndex(options.interface); // fail early with the list of interfaces
  parseIpv4(options.serverAddress);

  let plan: AddressPlan | null = null;
  let store: LeaseStore | null = null;
  let net: NetworkOptions = { serverAddress: options.serverAddress };
  const leaseSeconds = options.leaseSeconds ?? 3600;
  if (options.mode === 'full') {
    const subnetMask = options.subnetMask ?? '255.255.255.0';
    plan = makeAddressPlan({ serverAddress: options.serverAddress, subnetMask, range: requireOption(options.range, 'an address range (range.first, range.last)'), reservations: options.reservations ?? [] });
    if (!Number.isInteger(leaseSeconds) || leaseSeconds < 60) throw new LifeboatError('LB_USAGE', `lease time ${leaseSeconds} s is too short: give at least 60 seconds`);
    store = new LeaseStore(options.db);
    net = { serverAddress: options.serverAddress, subnetMask, router: options.router, dns: options.dns, leaseSeconds, ...renewalTimes(leaseSeconds) };
  } else if (options.mode === 'proxy') {
    migrateLeases(options.db);
  } else {
    throw new LifeboatError('LB_USAGE', `DHCP mode "${String(options.mode)}" is unknown: use "full" or "proxy"`);
  }
  const quarantineSeconds = options.declineQuarantineSeconds ?? 600;
  const shared = (options.logOtherInterfaces ?? false) || options.mode === 'proxy';

  const main = await openInterfaceSocket({ interface: options.interface, port: ports.server, reuseAddr: shared });
  const sockets: InterfaceSocket[] = [main];
  try {
    if (options.mode === 'proxy') sockets.push(await openInterfaceSocket({ interface: options.interface, port: ports.proxy }));
  } catch (e) {
    main.socket.close();
    throw e;
  }
  const pxe = options.mode === 'proxy' ? sockets[1]! : null;

  // Replies that confirm a lease wait for the lease to be committed; one commit covers a burst.
  let pending: Array<() => void> = [];
  let commitScheduled = false;
  const afterCommit = (send: () => void) => {
    pending.push(send);
    if (commitScheduled) return;
    commitScheduled = true;
    setImmediate(() => {
      commitScheduled = false;
      const sends = pending;
      pending = [];
      try {
        store?.commit(nowSeconds());
      } catch (e) {
        log.error({ err: e }, `cannot write leases to the database, ${sends.length} replies withheld: check the disk under the data directory`);
        return;
      }
      for (const s of sends) s();
    });
  };

  let closed = false;
  const send = (socket: Socket, fields: PacketFields, to: Destination, mlog: Logger, what: string) => {
    if (closed) return mlog.debug(`not sending ${what}: the server is closing`);
    let bytes: Buffer;
    try {
      bytes = encodePacket(fields);
    } catch (e) {
      mlog.error({ err: e }, `cannot build ${what}: ${(e as Error).message}`);
      return;
    }
    try {
      socket.send(bytes, to.port, to.address, (err) => {
        if (err) mlog.warn({ err, to }, `sending ${what} failed: ${err.message}`);
        else mlog.debug({ to: `${to.address}:${to.port}`, bytes: bytes.length }, `sent ${what}`);
      });
    } catch (e) {
      mlog.warn({ err: e, to }, `sending ${what} failed: ${(e as Error).message}`);
    }
  };

  const askBootFor = async (client: BootClient, mlog: Logger): Promise<BootAnswer | null> => {
    try {
      const answer = await options.bootFor(client);
      if (answer !== null && (typeof answer?.filename !== 'string' || answer.filename === '')) {
        mlog.error({ answer }, 'boot planner returned no filename: giving no boot information');
        return null;
      }
      return answer;
    } catch (e) {
      mlog.error({ err: e }, `boot planner failed, giving no boot information: ${(e as Error).message}`);
      return null;
    }
  };

  /**
   * Anyone on the segment can send packets that are ignored, as fast as the link allows: the lines
   * saying so (info and warn; debug is off in production) are limited to 20 per 10 s, then one
   * summary line. Malformed packets have their own limiter, so a flood of them cannot hide the
   * ignored requests an operator acts on (an exhausted pool).
   */
  const summary = (what: string) => (dropped: number, ms: number) => log.info({ dropped, seconds: Math.round(ms / 1000) }, `${dropped} more ${what} not logged in the last ${Math.round(ms / 1000)} s`);
  const malformedLines = new LogLimiter({ perWindow: 20, windowMs: 10_000, onDropped: summary('malformed DHCP packets') });
  const ignoredLines = new LogLimiter({ perWindow: 20, windowMs: 10_000, onDropped: summary('ignored DHCP packets') });
  const ignore = (mlog: Logger, level: 'debug' | 'info' | 'warn', reason: string, extra: Record<string, unknown> = {}, limiter = ignoredLines) => {
    if (level !== 'debug' && !limiter.admit()) return;
    const shown = clipText(reason, 200);
    mlog[level]({ reason: shown, ...extra }, `ignored DHCP packet: ${shown}`);
  };

  async function handleFull(packet: DhcpPacket, type: number, client: BootClient, mlog: Logger): Promise<void> {
    const p = plan!;
    const s = store!;
    const now = nowSeconds();
    const mac = client.mac;
    if (packet.giaddr !== '0.0.0.0' && !inSubnet(p, parseIpv4(packet.giaddr))) {
      return ignore(mlog, 'info', `relayed from ${packet.giaddr}, a network this server does not serve`);
    }
    switch (type) {
      case MessageType.DISCOVER: {
        const address = chooseOfferAddress(p, s, mac, optionIp(packet, Option.REQUESTED_ADDRESS), now);
        if (address === null) {
          return ignore(mlog, 'warn', `address pool ${formatIpv4(p.first)}-${formatIpv4(p.last)} is exhausted: no address to offer (widen the range or shorten the lease time)`);
        }
        s.holdOffer(address, mac, OFFER_HOLD_SECONDS);
        const boot = await askBootFor(client, mlog);
        mlog.debug({ address, bootfile: boot?.filename ?? null }, 'offering address');
        send(main.socket, addressReply(MessageType.OFFER, packet, address, net, client, boot), replyDestination(packet, false, ports), mlog, 'OFFER');
        return;
      }
      case MessageType.REQUEST: {
        const decision = decideRequest(p, s, { mac, serverId: optionIp(packet, Option.SERVER_ID), requested: optionIp(packet, Option.REQUESTED_ADDRESS), ciaddr: packet.ciaddr }, now);
        if (decision.kind === 'ignore') {
          if (decision.code === 'other-server') s.dropOffer(mac);
          return ignore(mlog, 'debug', decision.reason, { state: decision.state });
        }
        if (decision.kind === 'nak') {
          mlog.info({ reason: decision.reason, state: decision.state }, `NAK: ${decision.reason}`);
          send(main.socket, nakReply(packet, options.serverAddress, decision.reason), replyDestination(packet, true, ports), mlog, 'NAK');
          return;
        }
        const lease = s.bind(decision.address, mac, now + leaseSeconds, optionText(packet, Option.HOSTNAME));
        const boot = await askBootFor(client, mlog);
        const reply = addressReply(MessageType.ACK, packet, lease.address, net, client, boot);
        afterCommit(() => {
          mlog.info({ address: lease.address, expiresAt: lease.expiresAt, state: decision.state, bootfile: boot?.filename ?? null }, `lease ${lease.address} bound`);
          send(main.socket, reply, replyDestination(packet, false, ports), mlog, 'ACK');
        });
        return;
      }
      case MessageType.DECLINE: {
        const serverId = optionIp(packet, Option.SERVER_ID);
        if (serverId !== null && serverId !== options.serverAddress) return ignore(mlog, 'debug', `DECLINE is for server ${serverId}`);
        const address = optionIp(packet, Option.REQUESTED_ADDRESS);
        const lease = address === null ? undefined : s.byAddress(address);
        if (!address || !lease || lease.mac !== mac) return ignore(mlog, 'info', `DECLINE of ${address ?? 'no address'}, which is not leased to this client`);
        s.quarantine(address, mac, now + quarantineSeconds);
        afterCommit(() => mlog.warn({ address, until: now + quarantineSeconds }, `client declined ${address} (another host answers on it): kept out of the pool for ${quarantineSeconds} s; find the host using it`));
        return;
      }
      case MessageType.RELEASE: {
        const serverId = optionIp(packet, Option.SERVER_ID);
        if (serverId !== null && serverId !== options.serverAddress) return ignore(mlog, 'debug', `RELEASE is for server ${serverId}`);
        const lease = s.byAddress(packet.ciaddr);
        if (!lease || lease.mac !== mac || lease.state !== 'bound') return ignore(mlog, 'info', `RELEASE of ${packet.ciaddr}, which is not leased to this client`);
        s.release(packet.ciaddr, now);
        afterCommit(() => mlog.info({ address: packet.ciaddr }, `lease ${packet.ciaddr} released`));
        return;
      }
      case MessageType.INFORM: {
        if (packet.ciaddr === '0.0.0.0' || !inSubnet(p, parseIpv4(packet.ciaddr))) return ignore(mlog, 'info', `INFORM from ${packet.ciaddr}, not on this network`);
        const boot = await askBootFor(client, mlog);
        send(main.socket, informReply(packet, net, client, boot), replyDestination(packet, false, ports), mlog, 'ACK to INFORM');
        return;
      }
      default:
        return ignore(mlog, 'debug', `${messageTypeName(type)} is not a client message`);
    }
  }

  async function handleProxy(packet: DhcpPacket, type: number, client: BootClient, mlog: Logger, viaPxePort: boolean, from: RemoteInfo): Promise<void> {
    if (!client.isPxe) return ignore(mlog, 'debug', `not a PXE client (vendor class ${JSON.stringify(client.vendorClass)}); proxy mode answers only PXEClient/HTTPClient`);
    const serverId = optionIp(packet, Option.SERVER_ID);
    let reply: 'offer' | 'ack';
    if (viaPxePort) {
      if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return ignore(mlog, 'debug', `${messageTypeName(type)} on the PXE port; only REQUEST is answered there`);
      reply = 'ack';
    } else if (type === MessageType.DISCOVER) {
      reply = 'offer';
    } else if (type === MessageType.REQUEST && serverId === options.serverAddress) {
      // Some ROMs send their proxy REQUEST to port 67 rather than 4011.
      reply = 'ack';
    } else {
      return ignore(mlog, 'debug', `${messageTypeName(type)} is for the site's DHCP server`);
    }
    const boot = await askBootFor(client, mlog);
    if (!boot) return ignore(mlog, 'info', 'boot planner gives this machine no boot information: proxy stays silent');
    if (reply === 'offer') {
      mlog.info({ bootfile: boot.filename, firmware: client.firmware, ipxe: client.isIpxe }, `proxy offer: boot ${boot.filename}`);
      send(main.socket, proxyReply(MessageType.OFFER, packet, options.serverAddress, client, boot), replyDestination(packet, false, ports), mlog, 'proxy OFFER');
    } else {
      mlog.info({ bootfile: boot.filename, firmware: client.firmware, ipxe: client.isIpxe }, `proxy ACK: boot ${boot.filename}`);
      const to = viaPxePort ? { address: from.address, port: from.port } : replyDestination(packet, false, ports);
      send(viaPxePort ? pxe!.socket : main.socket, proxyReply(MessageType.ACK, packet, options.serverAddress, client, boot), to, mlog, 'proxy ACK');
    }
  }

  async function onMessage(bound: InterfaceSocket, buf: Buffer, from: RemoteInfo, viaPxePort: boolean): Promise<void> {
    const source = `${from.address}:${from.port}`;
    if (Date.now() < bound.boundSince) return ignore(log, 'debug', 'arrived while the socket was being tied to the interface', { from: source });
    let packet: DhcpPacket;
    try {
      packet = parsePacket(buf);
    } catch (e) {
      return ignore(log, 'info', (e as Error).message, { from: source, bytes: buf.length, packet: packetHead(buf) }, malformedLines);
    }
    const mac = macOf(packet);
    const mlog = mac ? log.child({ mac }) : log;
    if (packet.op !== BOOTREQUEST) return ignore(mlog, 'debug', 'a BOOTREPLY (another server\'s answer)', { from: source });
    const type = messageTypeOf(packet);
    if (type === null) return ignore(mlog, 'info', 'no DHCP message type (plain BOOTP is not served)', { from: source }, malformedLines);
    const client = classifyClient(packet, options.interface);
    if (!client) return ignore(mlog, 'info', `hardware type ${packet.htype} length ${packet.hlen} is not Ethernet`, { from: source }, malformedLines);
    if (from.address !== '0.0.0.0' && packet.giaddr === '0.0.0.0' && plan && !inSubnet(plan, parseIpv4(from.address))) {
      return ignore(mlog, 'info', `sent from ${from.address}, outside this interface's network`, { from: source });
    }
    mlog.debug({ type: messageTypeName(type), xid: packet.xid, from: source, firmware: client.firmware, arch: client.arch, ipxe: client.isIpxe, pxe: client.isPxe }, `received ${messageTypeName(type)}`);
    if (options.mode === 'full') await handleFull(packet, type, client, mlog);
    else await handleProxy(packet, type, client, mlog, viaPxePort, from);
  }

  const listen = (bound: InterfaceSocket, viaPxePort: boolean) => {
    bound.socket.on('message', (buf, from) => {
      onMessage(bound, buf, from, viaPxePort).catch((e) => log.error({ err: e }, `DHCP handler failed: ${(e as Error).message}`));
    });
    bound.socket.on('error', (e) => log.error({ err: e }, `DHCP socket error: ${e.message}`));
  };
  listen(main, false);
  if (pxe) listen(pxe, true);

  const watchers = options.logOtherInterfaces ? watchOtherInterfaces(options.interface, ports.server, log) : null;
  log.info({ serverAddress: options.serverAddress, port: ports.server, ...(plan ? { range: `${formatIpv4(plan.first)}-${formatIpv4(plan.last)}`, leases: store!.active(nowSeconds()).length } : { proxyPort: ports.proxy }) }, `DHCP (${options.mode}) listening on ${options.interface}`);

  return {
    async close() {
      closed = true;
      watchers?.stop();
      try {
        store?.commit(nowSeconds());
      } catch (e) {
        log.error({ err: e }, 'cannot write leases while closing');
      }
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve()))));
      malformedLines.flush();
      ignoredLines.flush();
      log.info('DHCP stopped');
    },
    leases() {
      return store ? store.active(nowSeconds()) : [];
    },
  };
}

/**
 * One socket per other interface, only to say in the log that a request arrived where Lifeboat
 * does not serve. Interfaces that appear later are picked up on the next scan.
 */
function watchOtherInterfaces(served: string, port: number, log: Logger): { stop(): void } {
  const open = new Map<string, Socket>();
  const lines = new LogLimiter({
    perWindow: 20,
    windowMs: 10_000,
    onDropped: (dropped, ms) => log.info({ dropped, seconds: Math.round(ms / 1000) }, `${dropped} more DHCP packets on other interfaces not logged in the last ${Math.round(ms / 1000)} s`),
  });
  const scan = () => {
    for (const name of listInterfaces()) {
      if (name === served || name === 'lo' || open.has(name)) continue;
      let ifindex: number;
      try {
        ifindex = interfaceIndex(name);
      } catch {
        continue;
      }
      const socket = createSocket({ type: 'udp4', reuseAddr: true });
      open.set(name, socket);
      socket.on('error', (e) => {
        log.debug({ err: e, other: name }, `not watching ${name}: ${e.message}`);
        socket.close();
        open.delete(name);
      });
      socket.bind({ port, address: '0.0.0.0' }, () => {
        try {
          bindToInterface(socket, ifindex);
        } catch (e) {
          log.debug({ err: e, other: name }, `not watching ${name}`);
          socket.close();
          return;
        }
        const since = Date.now() + 100;
        socket.on('message', (buf) => {
          if (Date.now() < since) return;
          let mac: string | null = null;
          try {
            mac = macOf(parsePacket(buf));
          } catch {
            // unparsable: still worth the line below
          }
          if (lines.admit()) log.info({ mac, receivedOn: name, reason: `arrived on interface ${name}` }, `ignored DHCP packet: arrived on interface ${name}; Lifeboat serves DHCP only on ${served}`);
        });
      });
    }
  };
  scan();
  const timer = setInterval(scan, 5000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      lines.flush();
      for (const s of open.values()) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
    },
  };
}
