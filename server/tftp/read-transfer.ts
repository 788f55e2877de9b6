import dgram from 'node:dgram';
import type { FileHandle } from 'node:fs/promises';
import { BlockReader } from './block-reader.js';
import { OPCODE, serializeError, serializeOack, TFTP_ERROR } from './request-packet.js';
import { SendWindow, type RetransmitTimer } from './send-window.js';

/**
 * One read transfer, from the first packet to the last ACK, for a request that policy has
 * accepted and whose file is open (RFC 1350, with RFC 2347 option acknowledgement, RFC 2348
 * blksize, RFC 2349 tsize and RFC 7440 windowsize):
 *
 * - a UDP socket of its own, bound to the server's address (not 0.0.0.0) and connected to the
 *   client, so packets from any other address or port (RFC 1350 "transfer identifier") never
 *   reach the transfer, a client that has gone shows as an ICMP error, and sends name no address;
 * - an OACK with the options in force when the client asked for any (tsize filled in with the
 *   file's size), resent until the client's ACK 0; DATA 1 at once otherwise;
 * - the file's blocks through our SendWindow (send-window.ts), read with BlockReader;
 * - retransmission every `timeoutMs`, given up with "Timed out" after `retries` resends without
 *   progress; an ERROR packet from the client ends the transfer, and anything else from it but
 *   ACKs is answered with an ERROR and ends it too.
 */

export interface TransferTiming {
  /** Retransmit timeout, ms. */
  timeoutMs: number;
  /** Retransmissions before a transfer is given up. */
  retries: number;
}

/** How a transfer ended: every block acknowledged, failed (with why), or aborted by the server. */
export type TransferEnd = { kind: 'done' } | { kind: 'failed'; why: string } | { kind: 'aborted' };

export interface ReadTransfer {
  /** Sends the client an ERROR with `message` and ends the transfer; no-op once it has ended. */
  abort(message: string): void;
  /** Settles when the socket is closed, with how the transfer ended. */
  readonly ended: Promise<TransferEnd>;
}

export interface ReadTransferArgs {
  family: 4 | 6;
  /** The server's address: the transfer's socket is bound to it. */
  host: string;
  client: { address: string; port: number };
  file: FileHandle;
  /** Bytes to send, from fstat: also the tsize answered. */
  size: number;
  /** Options to acknowledge (empty: none, plain RFC 1350), and the block and window size in force. */
  negotiated: { options: Record<string, number>; blksize: number; windowsize: number };
  timing: TransferTiming;
  /** Called once, when the first packet from the client arrives on the transfer's socket. */
  onClientAnswered(): void;
  /** Called when reading the file fails; the transfer is then aborted. */
  onReadError(error: Error): void;
}

/** The client's messages for the failures the package this replaces named the same way. */
const MALFORMED = 'Malformed TFTP message';
const ILLEGAL = 'Illegal TFTP operation';

/**
 * Retransmission with one re-armed timer: a timer per window (that is per block in lock-step)
 * showed in the profile of a 512-byte-block transfer. `onGiveUp` runs after `retries` resends
 * without a reset in between.
 */
function retransmitTimer(timing: TransferTiming, onGiveUp: () => void): RetransmitTimer & { stop(): void } {
  let onTimeout: (() => void) | null = null;
  let left = timing.retries;
  let timer: NodeJS.Timeout | null = null;
  const fire = (): void => {
    if (!onTimeout) return;
    if (left === 0) {
      onTimeout = null;
      onGiveUp();
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
      else timer = setTimeout(fire, timing.timeoutMs).unref(); // the socket keeps the process alive
    },
    reset() {
      onTimeout = null;
      left = timing.retries;
    },
    stop() {
      onTimeout = null;
      if (timer) clearTimeout(timer);
    },
  };
}

function socketFailure(e: Error): string {
  // A connected socket hears the ICMP "port unreachable" of a client that has gone.
  const gone = (e as { code?: string }).code === 'ECONNREFUSED' || e.message.includes('ECONNREFUSED');
  return gone ? 'the client went away (its port is closed)' : e.message;
}

/** What the client said in its ERROR packet, as the reason the transfer failed. */
function clientError(packet: Buffer): string {
  const code = packet.readUInt16BE(2);
  const end = packet.indexOf(0, 4);
  const text = packet.toString('latin1', 4, end === -1 ? packet.length : end);
  return text === '' ? `the client sent error ${code}` : text;
}

export function startReadTransfer(args: ReadTransferArgs): ReadTransfer {
  const socket = dgram.createSocket(args.family === 6 ? 'udp6' : 'udp4');
  const reader = new BlockReader(args.file, args.size, args.negotiated.blksize);
  let connected = false;
  /** Set once the transfer is ending (an ERROR may still be on its way); nothing more is sent. */
  let stopping = false;
  let finished = false;
  let answered = false;
  let oackPending = false;
  let resolveEnded: (end: TransferEnd) => void = () => {};
  const ended = new Promise<TransferEnd>((resolve) => (resolveEnded = resolve));

  const timer = retransmitTimer(args.timing, () => finish({ kind: 'failed', why: 'Timed out' }));
  const window = new SendWindow({
    blockSize: args.negotiated.blksize,
    windowSize: args.negotiated.windowsize,
    timer,
    send(header, data) {
      // Header and data go out as one datagram without being copied together.
      if (!stopping) socket.send([header, data]);
    },
  });

  function finish(end: TransferEnd): void {
    if (finished) return;
    finished = true;
    stopping = true;
    timer.stop();
    try {
      socket.close(() => resolveEnded(end));
    } catch {
      resolveEnded(end); // already closed
    }
  }

  /** Sends an ERROR packet and then ends the transfer as `end`. */
  function sendErrorAndFinish(code: number, message: string, end: TransferEnd): void {
    if (stopping) return;
    stopping = true;
    timer.stop();
    if (!connected) return finish(end);
    socket.send(serializeError(code, message), () => finish(end));
  }

  /** Feeds the window block by block; it calls back when it has room, and after the last ACK. */
  function feedNext(): void {
    if (stopping) return;
    if (reader.done) return finish({ kind: 'done' });
    const block = reader.next();
    if (block) window.feed(block, feedNext);
    else reader.fill().then(feedNext, readFailed);
  }

  function readFailed(e: Error): void {
    if (stopping) return;
    args.onReadError(e);
    sendErrorAndFinish(TFTP_ERROR.NOT_DEFINED, 'I/O error reading the file', { kind: 'aborted' });
  }

  function start(): void {
    if (Object.keys(args.negotiated.options).length === 0) return feedNext();
    const options = { ...args.negotiated.options };
    if ('tsize' in options) options.tsize = args.size;
    const oack = serializeOack(options);
    oackPending = true;
    socket.send(oack);
    timer.start(() => socket.send(oack));
  }

  function onAck(packet: Buffer): void {
    if (packet.length !== 4) return sendErrorAndFinish(TFTP_ERROR.NOT_DEFINED, MALFORMED, { kind: 'failed', why: MALFORMED });
    const block = packet.readUInt16BE(2);
    if (!oackPending) return window.resume(block);
    oackPending = false;
    if (block !== 0) return sendErrorAndFinish(TFTP_ERROR.NOT_DEFINED, MALFORMED, { kind: 'failed', why: MALFORMED });
    timer.reset();
    feedNext();
  }

  function onMessage(packet: Buffer): void {
    if (stopping) return;
    if (!answered) {
      answered = true;
      args.onClientAnswered();
    }
    const opcode = packet.length >= 4 ? packet.readUInt16BE(0) : -1;
    if (opcode === OPCODE.ACK) return onAck(packet);
    if (opcode === OPCODE.ERROR) return finish({ kind: 'failed', why: clientError(packet) });
    if (opcode === -1) return sendErrorAndFinish(TFTP_ERROR.NOT_DEFINED, MALFORMED, { kind: 'failed', why: MALFORMED });
    sendErrorAndFinish(TFTP_ERROR.ILLEGAL_OPERATION, ILLEGAL, { kind: 'failed', why: ILLEGAL });
  }

  socket.on('message', onMessage);
  socket.on('error', (e) => finish({ kind: 'failed', why: socketFailure(e) }));
  socket.bind(0, args.host, () => {
    if (stopping) return; // aborted (server closing) before the bind completed
    socket.connect(args.client.port, args.client.address, () => {
      if (stopping) return;
      connected = true;
      start();
    });
  });

  return {
    abort(message) {
      sendErrorAndFinish(TFTP_ERROR.NOT_DEFINED, message, { kind: 'aborted' });
    },
    ended,
  };
}
