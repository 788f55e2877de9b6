import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import type { Readable, Writable } from 'node:stream';
import { LifeboatError } from '../../core/errors.js';
import { SendWindow, type RetransmitTimer } from './send-window.js';

/**
 * The one place that reaches into the npm `tftp` package (0.1.2, lib/ internals). We use its
 * transfer engine: option acknowledgement (OACK), the per-transfer socket and its retransmit
 * timer, slicing a stream into blocks, tsize, error packets. We do not use its `Server`: it parses
 * and refuses names before any hook of ours could log them, and binds each transfer socket to
 * 0.0.0.0. Its sending window is replaced by ours (see send-window.ts for what is wrong with it).
 *
 * Internals are pinned: a different version of the package is refused at start-up with a message
 * saying what to check, rather than patched blindly.
 */

const require = createRequire(import.meta.url);
const PINNED_VERSION = '0.1.2';

/** The transfer-level request object of the package (lib/protocol/request.js + incoming-request.js). */
interface PackageRequest {
  _socket: dgram.Socket;
  _closed: boolean;
  _closing: boolean;
  _window: unknown;
  _timeout: number;
  _retries: number;
  _close(error?: Error): void;
  onStats(stats: TransferStats): void;
}

export interface TransferStats {
  blockSize: number;
  windowSize: number;
  size: number | null;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** The package's server-side GetStream: the events of one transfer. */
export interface PackageGetStream extends Readable {
  stats: TransferStats;
  abort(error?: string): void;
}

/** The package's server-side PutStream: where the file's bytes are written. */
export interface PackagePutStream extends Writable {
  setSize(size: number): void;
  onReady: () => void;
}

interface PackageInternals {
  GetStream: new () => PackageGetStream;
  PutStream: new (
    currFiles: { get: Record<string, boolean>; put: Record<string, boolean> },
    helper: object,
    message: Buffer,
    globalOptions: object,
    getStream: PackageGetStream,
  ) => PackagePutStream;
  HelperPrototype: object;
  createOptions(options: object, server: boolean): object;
}

let internals: PackageInternals | undefined;

/**
 * Retransmission for one transfer, with the package's semantics (resend every `_timeout` ms, give
 * up with "Timed out" after `_retries` resends without progress) but one re-armed timer: the
 * package's Retransmitter creates and clears a timer for every window, that is for every block
 * in lock-step, which showed in the profile of a 512-byte-block transfer.
 */
function retransmitTimer(request: PackageRequest): RetransmitTimer {
  let onTimeout: (() => void) | null = null;
  let left = request._retries;
  let timer: NodeJS.Timeout | null = null;
  const fire = (): void => {
    if (!onTimeout) return;
    if (left === 0) {
      onTimeout = null;
      request._close(new Error('Timed out'));
      return;
    }
    left--;
    onTimeout();
    timer?.refresh();
  };
  return {
    start(fn) {
      onTimeout = fn;
      if (timer) timer.refresh();
      else timer = setTimeout(fire, request._timeout).unref(); // the transfer's socket keeps the process alive
    },
    reset() {
      onTimeout = null;
      left = request._retries;
    },
  };
}

function load(): PackageInternals {
  if (internals) return internals;
  const version = (require('tftp/package.json') as { version: string }).version;
  if (version !== PINNED_VERSION) {
    throw new LifeboatError(
      'LB_INTERNAL',
      `npm package tftp is ${version}, but server/tftp/tftp-package.ts reaches into the internals of ${PINNED_VERSION}: ` +
        `check its lib/protocol/writer.js and lib/streams/server/*.js against this module, then update PINNED_VERSION`,
    );
  }
  const ServerWriter = require('tftp/lib/protocol/server/writer') as { prototype: { _onReady(this: PackageRequest, stats: TransferStats, rollover: number): void } };
  const originalOnReady = ServerWriter.prototype._onReady;
  ServerWriter.prototype._onReady = function (this: PackageRequest, stats: TransferStats, rollover: number): void {
    // The original builds the block slicer (kept) and its Window (replaced), then reports the
    // stats, which starts the transfer: hold that report until our window is in place.
    const report = this.onStats;
    this.onStats = () => {};
    try {
      originalOnReady.call(this, stats, rollover);
    } finally {
      this.onStats = report;
    }
    const request = this;
    request._window = new SendWindow({
      blockSize: stats.blockSize,
      windowSize: stats.windowSize,
      timer: retransmitTimer(request),
      send(header, data) {
        if (request._closed || request._closing) return;
        // The socket is connected to the client (transfer-socket below): no address per packet,
        // and header and data go out as one datagram without being copied together.
        request._socket.send([header, data]);
      },
    });
    report.call(this, stats);
  };
  internals = {
    GetStream: require('tftp/lib/streams/server/get-stream'),
    PutStream: require('tftp/lib/streams/server/put-stream'),
    HelperPrototype: (require('tftp/lib/protocol/request') as { Helper: { prototype: object } }).Helper.prototype,
    createOptions: require('tftp/lib/create-options'),
  };
  return internals;
}

/** Fails at start-up, not at the first request, when the package is not the one we know. */
export function checkTftpPackage(): void {
  load();
}

export interface TransferTiming {
  /** Retransmit timeout, ms. */
  timeoutMs: number;
  /** Retransmissions before a transfer is given up. */
  retries: number;
}

/**
 * A UDP socket for one transfer: bound to the server's address (the package would bind 0.0.0.0),
 * and connected to the client, so packets from any other address or port (RFC 1350 "transfer
 * identifier") never reach the transfer, and sends skip the per-packet address lookup.
 */
function transferSocket(family: 4 | 6, host: string, client: { address: string; port: number }, onFirstPacket: () => void): dgram.Socket {
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  // Connected to the client, so anything that arrives is the client's (its first ACK, or an ERROR).
  socket.once('message', onFirstPacket);
  let connected = false;
  let closed = false;
  socket.once('close', () => {
    closed = true;
  });
  const bind = socket.bind.bind(socket) as (port: number, address: string, cb: () => void) => void;
  // The package calls bind(0, null, cb) and, in cb, starts the transfer.
  (socket as unknown as { bind: (port: number, address: unknown, cb: () => void) => void }).bind = (_port, _address, cb) => {
    bind(0, host, () => {
      // The transfer may have been aborted (server closing) before the bind completed.
      if (closed) return;
      socket.connect(client.port, client.address, () => {
        connected = true;
        if (!closed) cb();
      });
    });
  };
  const send = socket.send.bind(socket) as (...args: unknown[]) => void;
  // The package sends with (buffer, offset, length, port, address, cb); a connected socket must not name an address.
  (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    if (connected && args.length >= 5 && typeof args[3] === 'number') {
      send(args[0], args[1], args[2], ...(typeof args[5] === 'function' ? [args[5]] : []));
    } else {
      send(...args);
    }
  };
  // A connected UDP socket reports ICMP errors (the client went away) as socket errors; the package
  // ends the transfer on them but leaves the socket open.
  socket.on('error', () => {
    setImmediate(() => {
      try {
        socket.close();
      } catch {
        // already closed
      }
    });
  });
  return socket;
}

export interface ReadTransfer {
  get: PackageGetStream;
  put: PackagePutStream;
}

/**
 * Starts the package's engine on a read request that policy has already accepted. `message` is
 * the request as the package should see it (see serializeReadRequest); `onReady` runs when options
 * are settled and the file's bytes may be written to `put`.
 */
export function startReadTransfer(args: {
  family: 4 | 6;
  host: string;
  client: { address: string; port: number };
  message: Buffer;
  limits: { maxBlksize: number; maxWindowsize: number };
  timing: TransferTiming;
  onReady(transfer: ReadTransfer): void;
  /** Called when the client's first packet on the transfer arrives. */
  onClientAnswered(): void;
}): ReadTransfer {
  const pkg = load();
  const helper = Object.create(pkg.HelperPrototype) as { _rinfo: object; _socket: dgram.Socket };
  helper._rinfo = { address: args.client.address, port: args.client.port };
  helper._socket = transferSocket(args.family, args.host, args.client, args.onClientAnswered);
  const globalOptions = pkg.createOptions(
    {
      host: args.host,
      port: 69,
      blockSize: args.limits.maxBlksize,
      windowSize: args.limits.maxWindowsize,
      timeout: args.timing.timeoutMs,
      retries: args.timing.retries,
    },
    true,
  );
  // Each transfer gets its own table: the package locks files by name against concurrent
  // writes, and we never accept a write.
  const get = new pkg.GetStream();
  const put = new pkg.PutStream({ get: {}, put: {} }, helper, args.message, globalOptions, get);
  const transfer = { get, put };
  put.onReady = () => args.onReady(transfer);
  return transfer;
}
