import { type RemoteInfo, type Socket } from 'node:dgram';
import { componentLogger, type Logger } from '../../core/log.js';
import { formatIpv4 } from '../ipv4.js';
import { clipText, LogLimiter, packetHead } from '../log-limit.js';
import type { Lease } from './address-plan.js';
import { DhcpHandler, type DhcpHandlerOptions, type DhcpOutcome } from './handler.js';
import { type InterfaceSocket, interfaceIndex, openInterfaceSocket } from './interface-socket.js';
import { watchOtherInterfaces } from './other-interfaces.js';
import { type DhcpPacket, type PacketFields, encodePacket, messageTypeName, messageTypeOf, parsePacket } from './packet.js';
import type { Destination } from './replies.js';

export interface DhcpServerOptions extends Omit<DhcpHandlerOptions, 'ports' | 'log' | 'now'> {
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
  /** Told of every packet received on the served interface: its message type and what was done with it (for /metrics). */
  onPacket?: (type: string, outcome: 'answered' | 'handled' | 'ignored' | 'malformed') => void;
}

export interface DhcpServer {
  close(): Promise<void>;
  /** Leases bound and not expired (full mode; proxy mode hands out none). */
  leases(): Lease[];
}

/**
 * Starts the DHCP listener: the sockets around a DhcpHandler (handler.ts, which decides). This part
 * receives and parses, hands the packet to the handler, and carries out its outcome: logs it
 * (ignored lines through limiters), and sends the reply, after the lease commit when it confirms a
 * lease. The one interface served is the only one answered: its sockets are tied to it.
 */
export async function startDhcpServer(options: DhcpServerOptions): Promise<DhcpServer> {
  // Whatever logger the caller passes, these lines say component 'dhcp' (pino: the last binding wins).
  const log = (options.logger ?? componentLogger('dhcp')).child({ component: 'dhcp', interface: options.interface, mode: options.mode });
  const ports = { server: options.port ?? 67, client: options.clientPort ?? 68, proxy: options.proxyPort ?? 4011 };
  interfaceIndex(options.interface); // fail early with the list of interfaces
  const handler = new DhcpHandler({ ...options, ports, log });
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
        handler.commit();
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

  /** Logs what the handler decided and sends its reply, after the lease commit when it confirms one. */
  const carryOut = (outcome: DhcpOutcome) => {
    const mlog = outcome.mac ? log.child({ mac: outcome.mac }) : log;
    if (outcome.kind === 'ignore') return ignore(mlog, outcome.level, outcome.reason, outcome.extra, outcome.malformed ? malformedLines : ignoredLines);
    const act = () => {
      if (outcome.log) mlog[outcome.log.level](outcome.log.fields, outcome.log.msg);
      const r = outcome.reply;
      if (r) send(r.socket === 'pxe' ? pxe!.socket : main.socket, r.fields, r.to, mlog, r.what);
    };
    if (outcome.afterCommit) afterCommit(act);
    else act();
  };

  async function onMessage(bound: InterfaceSocket, buf: Buffer, from: RemoteInfo, viaPxePort: boolean): Promise<void> {
    const source = `${from.address}:${from.port}`;
    if (Date.now() < bound.boundSince) return ignore(log, 'debug', 'arrived while the socket was being tied to the interface', { from: source });
    let packet: DhcpPacket;
    try {
      packet = parsePacket(buf);
    } catch (e) {
      options.onPacket?.('unparsable', 'malformed');
      return ignore(log, 'info', (e as Error).message, { from: source, bytes: buf.length, packet: packetHead(buf) }, malformedLines);
    }
    const outcome = await handler.handle({ packet, from: { address: from.address, port: from.port }, viaPxePort });
    options.onPacket?.(messageTypeName(messageTypeOf(packet)), outcome.kind === 'ignore' ? (outcome.malformed ? 'malformed' : 'ignored') : outcome.reply ? 'answered' : 'handled');
    carryOut(outcome);
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
  const plan = handler.plan;
  log.info({ serverAddress: options.serverAddress, port: ports.server, ...(plan ? { range: `${formatIpv4(plan.first)}-${formatIpv4(plan.last)}`, leases: handler.leases().length } : { proxyPort: ports.proxy }) }, `DHCP (${options.mode}) listening on ${options.interface}`);

  return {
    async close() {
      closed = true;
      watchers?.stop();
      try {
        handler.commit();
      } catch (e) {
        log.error({ err: e }, 'cannot write leases while closing');
      }
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.socket.close(() => resolve()))));
      malformedLines.flush();
      ignoredLines.flush();
      log.info('DHCP stopped');
    },
    leases() {
      return handler.leases();
    },
  };
}
