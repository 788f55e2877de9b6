import { OPCODE } from './request-packet.js';

/**
 * The sending side of a TFTP read transfer with RFC 7440 windows (read-transfer.ts feeds it). It
 * was first written in place of the npm `tftp` package's own `Window` (lib/protocol/writer.js),
 * which breaks as soon as one packet is lost:
 *
 * - on an ACK short of the window's end it drops the acknowledged blocks but then moves its window
 *   bounds past the last block *fed*, so the unacknowledged blocks are resent with a window's worth
 *   of new ones on top (the "window" grows), and ACKs for the old ones fall outside its bounds and
 *   are ignored;
 * - on an ACK for the block before the window (a duplicate ACK, the RFC 1350 "sorcerer's
 *   apprentice" case) it resends the window *and* moves on as if it had been acknowledged;
 * - an ACK that arrives while the window is being refilled calls a callback that is null:
 *   `TypeError: cb is not a function`, which the package sends to the client as the text of a
 *   TFTP error packet. atftp with `windowsize 16`, `blksize 8192` on loopback meets it at once:
 *   only 12 datagrams of 8196 bytes (16,640 bytes of kernel memory each) fit in the 212,992-byte
 *   default receive buffer, the tail of each window is dropped, and recovery starts.
 *
 * This window slides the RFC 7440 way: an ACK for block n acknowledges every block up to n; the
 * next window starts at n + 1 and is filled back to `windowSize` blocks before it is sent. A
 * duplicate ACK never makes a lock-step (windowsize 1) transfer resend (RFC 1123 4.2.3.1); the
 * retransmit timer does. With a larger window, a duplicate ACK means the receiver saw nothing of
 * the window, so it is resent once at once rather than after the timeout.
 *
 * Block numbers roll over from 65535 to 0, as tftp-hpa, curl and iPXE expect.
 */

export interface RetransmitTimer {
  start(onTimeout: () => void): void;
  reset(): void;
}

export interface SendWindowOptions {
  blockSize: number;
  windowSize: number;
  /** Puts one DATA packet on the wire: the 4-byte header, then the block's bytes. */
  send(header: Buffer, data: Buffer): void;
  timer: RetransmitTimer;
}

interface Block {
  n: number;
  header: Buffer;
  data: Buffer;
}

export class SendWindow {
  private readonly timer: RetransmitTimer;
  private readonly blockSize: number;
  private readonly windowSize: number;
  private readonly sendPacket: (header: Buffer, data: Buffer) => void;
  /** Unacknowledged blocks, oldest first; the first `sent` of them have been on the wire. */
  private blocks: Block[] = [];
  private sent = 0;
  private nextNumber = 1;
  private lastFed = false;
  /** Set while the window is full and on the wire: calling it asks the feeder for more blocks. */
  private waiting: (() => void) | null = null;
  private resentForDuplicate = false;
  private readonly resendAll = (): void => this.sendAll();

  constructor(options: SendWindowOptions) {
    this.blockSize = options.blockSize;
    this.windowSize = options.windowSize;
    this.sendPacket = options.send;
    this.timer = options.timer;
  }

  /** True once the last (short) block has been handed in. */
  isEOF(): boolean {
    return this.lastFed;
  }

  /** Takes the next block; calls `more` at once while the window has room, else once it is acknowledged. */
  feed(data: Buffer, more: () => void): void {
    const header = Buffer.allocUnsafe(4);
    header.writeUInt16BE(OPCODE.DATA, 0);
    header.writeUInt16BE(this.nextNumber, 2);
    this.blocks.push({ n: this.nextNumber, header, data });
    this.nextNumber = (this.nextNumber + 1) & 0xffff;
    if (data.length < this.blockSize) this.lastFed = true;
    if (this.blocks.length >= this.windowSize || this.lastFed) {
      this.waiting = more;
      this.sendAll();
      this.restartTimer();
    } else {
      more();
    }
  }

  /** Handles an ACK for block `n`. */
  resume(n: number): void {
    const first = this.blocks[0];
    if (!first) return;
    const acknowledged = ((n - first.n) & 0xffff) + 1;
    if (acknowledged === 0x10000) {
      this.onDuplicate();
      return;
    }
    // An ACK for a block not yet sent, or one older than the previous window: stale or bogus.
    if (acknowledged > this.sent) return;
    this.blocks.splice(0, acknowledged);
    this.sent -= acknowledged;
    this.resentForDuplicate = false;
    this.timer.reset();
    const more = this.waiting;
    if (!more) return; // still refilling after an earlier partial ACK
    if (this.blocks.length === 0 || !this.lastFed) {
      // Slide: refill from the feeder; feed() sends the window when it is full again.
      this.waiting = null;
      more();
    } else {
      // The last block is already in this window: nothing to add, resend what is missing.
      this.sendAll();
      this.restartTimer();
    }
  }

  private onDuplicate(): void {
    if (!this.waiting || this.windowSize === 1 || this.resentForDuplicate) return;
    this.resentForDuplicate = true;
    this.sendAll();
    this.restartTimer();
  }

  private sendAll(): void {
    for (const block of this.blocks) this.sendPacket(block.header, block.data);
    this.sent = this.blocks.length;
  }

  private restartTimer(): void {
    this.timer.reset();
    this.timer.start(this.resendAll);
  }
}
