import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { stat } from 'node:fs/promises';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/log.js';
import { clipText, LogLimiter, packetHead } from '../log-limit.js';
import { openInsideRoot, resolveTftpPath } from './path-policy.js';
import { startReadTransfer, type TransferTiming } from './read-transfer.js';
import { parseRequest, serializeError, TFTP_ERROR, type TftpRequest } from './request-packet.js';
import { TransferSlots } from './transfer-slots.js';
import {
  DEFAULT_CLIENT_RECEIVE_BUFFER,
  negotiateOptions,
  PROTOCOL_MAX_BLKSIZE,
  PROTOCOL_MAX_WINDOWSIZE,
  type OptionLimits,
} from './transfer-options.js';

/**
 * Lifeboat's TFTP server: read-only, confined to one root, for the iPXE binaries a PXE ROM fetches
 * first. The listener reads as a story: receive a request, refuse what policy refuses (each with a
 * log line and an error packet saying why), tell the server wiring who asked for what, open the
 * file inside the root, settle the options, and start the transfer (read-transfer.ts). Which
 * machine boots what is not decided here.
 */

export interface TftpRequestInfo {
  remoteAddress: string;
  remotePort: number;
  /** The file name exactly as the client sent it. */
  file: string;
}

export interface TftpServerOptions {
  /** Directory served; nothing outside it is ever read. */
  root: string;
  host: string;
  port: number;
  /** Parent logger; the server logs to a child with `component: 'tftp'`. */
  logger?: Logger;
  /**
   * Called for every read request before the file is looked up (write requests are refused
   * before it). If it throws or rejects, the request is refused with "server error".
   */
  onRequest?: (info: TftpRequestInfo) => void | Promise<void>;
  /** Told the size of every transfer that completed (for /metrics). */
  onTransferDone?: (bytes: number) => void;
  /** Largest blksize granted (RFC 2348); default 65464, the protocol's maximum. */
  maxBlksize?: number;
  /** Largest windowsize granted (RFC 7440); default 64. */
  maxWindowsize?: number;
  /** Receive buffer assumed of clients, bytes (see transfer-options.ts); default Linux's 212,992. */
  clientReceiveBuffer?: number;
  /** Retransmit timeout, ms; default 1000, as tftpd-hpa. */
  timeoutMs?: number;
  /** Retransmissions before a transfer is given up; default 5. */
  retries?: number;
  /** Transfers in progress at once, all clients together; default 64 (see transfer-slots.ts). */
  maxTransfers?: number;
  /** Transfers in progress at once from one client address; default 8. */
  maxTransfersPerAddress?: number;
  /**
   * A transfer whose first packet (DATA 1, or the OACK) the client has not answered within this
   * many ms is dropped, its socket and file closed; default 3000, three retransmissions.
   */
  firstAckTimeoutMs?: number;
}

export const TFTP_DEFAULT_LIMITS = { maxTransfers: 64, maxTransfersPerAddress: 8, firstAckTimeoutMs: 3000 } as const;

export interface TftpServer {
  close(): Promise<void>;
  address: { host: string; port: number };
}

/** Room for a burst of requests (200 PXE clients at once) on the listening socket. */
const LISTEN_RECEIVE_BUFFER = 4 * 1024 * 1024;

function clientOf(rinfo: dgram.RemoteInfo): string {
  return rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LifeboatError('LB_INVALID', `TFTP ${name} ${value} is out of range: use an integer from ${min} to ${max}`);
  }
  return value;
}

export async function startTftpServer(options: TftpServerOptions): Promise<TftpServer> {
  const log = options.logger ? options.logger.child({ component: 'tftp' }) : componentLogger('tftp');
  const family = isIP(options.host);
  if (family !== 4 && family !== 6) {
    throw new LifeboatError('LB_INVALID', `TFTP host "${options.host}" is not an IP address: give the address of the boot network's interface`);
  }
  const root = options.root;
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new LifeboatError('LB_INVALID', `TFTP root ${root} is not a directory (${(e as Error).message}): create it or point the server at the netboot root`);
  }
  const limits: OptionLimits = {
    maxBlksize: checkRange('maxBlksize', options.maxBlksize ?? PROTOCOL_MAX_BLKSIZE, 8, PROTOCOL_MAX_BLKSIZE),
    maxWindowsize: checkRange('maxWindowsize', options.maxWindowsize ?? 64, 1, PROTOCOL_MAX_WINDOWSIZE),
    clientReceiveBuffer: options.clientReceiveBuffer ?? DEFAULT_CLIENT_RECEIVE_BUFFER,
  };
  const timing: TransferTiming = { timeoutMs: options.timeoutMs ?? 1000, retries: options.retries ?? 5 };
  const slots = new TransferSlots({
    total: checkRange('maxTransfers', options.maxTransfers ?? TFTP_DEFAULT_LIMITS.maxTransfers, 1, 100_000),
    perAddress: checkRange('maxTransfersPerAddress', options.maxTransfersPerAddress ?? TFTP_DEFAULT_LIMITS.maxTransfersPerAddress, 1, 100_000),
  });
  const firstAckTimeoutMs = checkRange('firstAckTimeoutMs', options.firstAckTimeoutMs ?? TFTP_DEFAULT_LIMITS.firstAckTimeoutMs, 10, 600_000);

  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port, options.host, () => {
      socket.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    socket.close();
    const how = hasErrno(e, 'EADDRINUSE')
      ? 'another TFTP server (tftpd-hpa, dnsmasq) may be running: stop it or choose another port'
      : hasErrno(e, 'EACCES')
        ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
        : hasErrno(e, 'EADDRNOTAVAIL')
          ? 'no interface has this address: check the boot network interface'
          : 'check the address and port';
    // A port someone else holds is a conflict (exit 4), as for HTTP and DHCP; the rest are settings.
    throw new LifeboatError(hasErrno(e, 'EADDRINUSE') ? 'LB_CONFLICT' : 'LB_INVALID', `TFTP cannot listen on ${options.host}:${options.port} (${(e as Error).message}): ${how}`, {}, { cause: e });
  });
  socket.setRecvBufferSize(LISTEN_RECEIVE_BUFFER);
  const bound = socket.address();
  log.info({ root, host: bound.address, port: bound.port, maxTransfers: options.maxTransfers ?? TFTP_DEFAULT_LIMITS.maxTransfers, maxTransfersPerAddress: options.maxTransfersPerAddress ?? TFTP_DEFAULT_LIMITS.maxTransfersPerAddress, firstAckTimeoutMs }, 'tftp listening');
  // Lines any client can cause by sending packets: 20 per 10 s each, then one summary line.
  const summary = (what: string) => (dropped: number, ms: number) => log.info({ dropped, seconds: Math.round(ms / 1000) }, `${dropped} more ${what} not logged in the last ${Math.round(ms / 1000)} s`);
  const refusalLines = new LogLimiter({ perWindow: 20, windowMs: 10_000, onDropped: summary('tftp refusals') });
  const unansweredLines = new LogLimiter({ perWindow: 20, windowMs: 10_000, onDropped: summary('unacknowledged tftp transfers') });

  const transfers = new Map<number, { abort(): void; done: Promise<void> }>();
  let nextId = 1;
  let closing = false;

  /**
   * Sends an error packet from the listening socket. tftpd-hpa answers from a fresh port (a new
   * transfer identifier); clients take the server's port from its first packet either way, and a
   * flood of refused requests then costs no socket each.
   */
  function sendError(rinfo: dgram.RemoteInfo, code: number, message: string): void {
    if (closing) return;
    socket.send(serializeError(code, clipText(message, 200)), rinfo.port, rinfo.address, (e) => {
      if (e) log.debug({ client: clientOf(rinfo), err: e.message }, 'tftp error packet not sent');
    });
  }

  function refuse(rinfo: dgram.RemoteInfo, request: TftpRequest | null, code: number, message: string, level: 'warn' | 'info' = 'warn', packet?: Buffer): false {
    if (refusalLines.admit()) {
      const fields = { client: clientOf(rinfo), file: request ? clipText(request.file) : undefined, kind: request?.kind, code, reason: clipText(message, 200), ...(packet ? { packet: packetHead(packet) } : {}) };
      log[level](fields, 'tftp request refused');
    }
    sendError(rinfo, code, message);
    return false;
  }

  /**
   * Clients whose request is being handled, by address and port (the client's transfer
   * identifier). A client that hears nothing soon enough sends its request again from the same
   * port; a second transfer to that port would interleave its blocks with the first one's (curl
   * then times out), so the repeat is dropped: the first transfer's own retransmission answers it.
   */
  const active = new Set<string>();

  async function onPacket(packet: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const key = `${rinfo.address}|${rinfo.port}`;
    if (active.has(key)) {
      log.debug({ client: clientOf(rinfo) }, 'tftp repeated request ignored: a transfer to this client port is in progress');
      return;
    }
    const slot = slots.take(rinfo.address);
    if (!slot.ok) {
      refuse(rinfo, null, TFTP_ERROR.NOT_DEFINED, slot.reason, 'info');
      return;
    }
    active.add(key);
    const ended = () => {
      active.delete(key);
      slot.release();
    };
    let handedOver = false;
    try {
      handedOver = await handleRequest(packet, rinfo, ended);
    } finally {
      if (!handedOver) ended();
    }
  }

  /** Returns true when a transfer was started; `ended` is then called when it ends. */
  async function handleRequest(packet: Buffer, rinfo: dgram.RemoteInfo, ended: () => void): Promise<boolean> {
    const parsed = parseRequest(packet);
    if (!parsed.ok) return refuse(rinfo, null, TFTP_ERROR.ILLEGAL_OPERATION, `Illegal TFTP operation: ${parsed.reason}`, 'warn', packet);
    const request = parsed.request;
    if (request.kind === 'write') {
      return refuse(rinfo, request, TFTP_ERROR.ACCESS_VIOLATION, 'Access violation: this server is read-only, write requests are refused');
    }
    if (request.mode !== 'octet') {
      return refuse(
        rinfo,
        request,
        TFTP_ERROR.ILLEGAL_OPERATION,
        `Illegal TFTP operation: transfer mode "${request.mode}" is not supported; ask for octet (binary) mode, e.g. tftp -m binary`,
      );
    }
    if (options.onRequest) {
      try {
        await options.onRequest({ remoteAddress: rinfo.address, remotePort: rinfo.port, file: request.file });
      } catch (e) {
        log.error({ client: clientOf(rinfo), file: clipText(request.file), err: (e as Error).message }, 'tftp onRequest hook failed');
        return refuse(rinfo, request, TFTP_ERROR.NOT_DEFINED, 'server error: the request could not be recorded');
      }
    }
    const resolved = resolveTftpPath(root, request.file);
    if (!resolved.ok) return refuse(rinfo, request, TFTP_ERROR.ACCESS_VIOLATION, `Access violation: ${resolved.reason}`, resolved.level ?? 'warn');
    const opened = await openInsideRoot(root, resolved.path);
    if (!opened.ok) {
      const notFound = opened.code === TFTP_ERROR.FILE_NOT_FOUND;
      return refuse(
        rinfo,
        request,
        opened.code,
        notFound ? `File not found: ${resolved.relative}` : `Access violation: ${resolved.relative} ${opened.reason}`,
        notFound ? 'info' : 'warn',
      );
    }
    if (closing) {
      await opened.handle.close();
      return refuse(rinfo, request, TFTP_ERROR.NOT_DEFINED, 'server is shutting down', 'info');
    }

    const negotiated = negotiateOptions(request.options, limits);
    const id = nextId++;
    const tlog = log.child({ client: clientOf(rinfo), file: clipText(resolved.relative) });
    if (negotiated.notes.length > 0) tlog.debug({ notes: negotiated.notes }, 'tftp options adjusted');
    const started = process.hrtime.bigint();
    let unanswered = false;
    const transfer = startReadTransfer({
      family: family as 4 | 6,
      host: options.host,
      client: { address: rinfo.address, port: rinfo.port },
      file: opened.handle,
      size: opened.size,
      negotiated,
      timing,
      onClientAnswered: () => clearTimeout(firstAckTimer),
      onReadError: (e) => tlog.error({ err: e.message }, 'tftp read failed'),
    });
    const firstAckTimer = setTimeout(() => {
      unanswered = true;
      transfer.abort(`no acknowledgement within ${firstAckTimeoutMs / 1000} s`);
    }, firstAckTimeoutMs).unref();
    const done = transfer.ended.then((end) => {
      clearTimeout(firstAckTimer);
      transfers.delete(id);
      ended();
      void opened.handle.close().catch(() => {});
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = { bytes: opened.size, blksize: negotiated.blksize, windowsize: negotiated.windowsize, ms: Math.round(ms) };
      if (end.kind === 'done') {
        tlog.info(fields, 'tftp transfer done');
        options.onTransferDone?.(opened.size);
      }
      // Anyone can send requests and never answer: those are counted, not each logged.
      else if (unanswered && end.kind === 'aborted') {
        const reason = `the client did not acknowledge the first packet within ${firstAckTimeoutMs / 1000} s`;
        if (unansweredLines.admit()) tlog.info({ ...fields, reason }, 'tftp transfer dropped');
      } else tlog.warn({ ...fields, reason: end.kind === 'failed' ? end.why : 'aborted by the server' }, 'tftp transfer failed');
    });
    transfers.set(id, { abort: () => transfer.abort('server is shutting down'), done });
    tlog.debug({ blksize: negotiated.blksize, windowsize: negotiated.windowsize, size: opened.size }, 'tftp transfer starting');
    return true;
  }

  socket.on('message', (packet, rinfo) => {
    onPacket(packet, rinfo).catch((e: unknown) => {
      log.error({ client: clientOf(rinfo), err: clipText((e as Error).message, 200) }, 'tftp request failed');
      sendError(rinfo, TFTP_ERROR.NOT_DEFINED, 'server error');
    });
  });
  socket.on('error', (e) => log.error({ err: e.message }, 'tftp listening socket error'));

  return {
    address: { host: bound.address, port: bound.port },
    async close() {
      if (closing) return;
      closing = true;
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      const pending = [...transfers.values()];
      for (const t of pending) t.abort();
      await Promise.all(pending.map((t) => t.done));
      refusalLines.flush();
      unansweredLines.flush();
      log.info({ aborted: pending.length }, 'tftp closed');
    },
  };
}
