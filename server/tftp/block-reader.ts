import type { FileHandle } from 'node:fs/promises';

/**
 * The file of one read transfer as TFTP blocks, read from disk a chunk at a time with one chunk
 * read ahead, so a transfer holds at most two chunks however big the file (a 60 MiB initrd is
 * never in memory whole) and the window rarely waits for the disk.
 *
 * Blocks are `blockSize` bytes; the last one is shorter, and empty when the size is a multiple of
 * `blockSize` (RFC 1350: a block shorter than the block size ends the transfer). The size is the
 * one the transfer announced (tsize, from fstat): a file that grows meanwhile is sent up to that
 * size, one that shrinks ends at its new end.
 */

export interface Chunk {
  bytes: Buffer;
  /** True when nothing follows this chunk. */
  last: boolean;
}

/** Bytes read at a time, rounded down to whole blocks so a block never spans two reads. */
export const READ_CHUNK = 256 * 1024;

const EMPTY = Buffer.alloc(0);

export class BlockReader {
  private chunk: Chunk = { bytes: EMPTY, last: false };
  private offset = 0;
  /** Where the next read starts. */
  private position = 0;
  private ahead: Promise<Chunk> | null = null;
  private ended = false;
  private readonly chunkBytes: number;

  constructor(
    private readonly file: FileHandle,
    private readonly size: number,
    private readonly blockSize: number,
  ) {
    this.chunkBytes = blockSize * Math.max(1, Math.floor(READ_CHUNK / blockSize));
  }

  /** True once the last (short) block has been handed out. */
  get done(): boolean {
    return this.ended;
  }

  /** The next block from the chunk in hand, or null when `fill()` must read more first. */
  next(): Buffer | null {
    if (this.ended) return null;
    const { bytes, last } = this.chunk;
    if (this.offset < bytes.length) {
      const block = bytes.subarray(this.offset, this.offset + this.blockSize);
      this.offset += block.length;
      if (block.length < this.blockSize) this.ended = true;
      return block;
    }
    if (!last) return null;
    // The file ended on a block boundary: an empty block says so.
    this.ended = true;
    return EMPTY;
  }

  /** Takes the chunk read ahead (or reads one) and starts reading the one after it. */
  async fill(): Promise<void> {
    const chunk = await (this.ahead ?? this.read());
    this.ahead = null;
    this.chunk = chunk;
    this.offset = 0;
    if (!chunk.last) {
      this.ahead = this.read();
      // Seen by fill() when it is awaited; a transfer that ends first must not leave it unhandled.
      this.ahead.catch(() => {});
    }
  }

  private async read(): Promise<Chunk> {
    const want = Math.min(this.chunkBytes, this.size - this.position);
    if (want <= 0) return { bytes: EMPTY, last: true };
    const start = this.position;
    this.position += want;
    const buffer = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.file.read(buffer, got, want - got, start + got);
      if (bytesRead === 0) break; // the file shrank
      got += bytesRead;
    }
    return { bytes: buffer.subarray(0, got), last: got < want || this.position >= this.size };
  }
}
