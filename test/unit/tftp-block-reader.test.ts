import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockReader, READ_CHUNK } from '../../server/tftp/block-reader.js';

/** Every block a BlockReader hands out for a real file of `bytes`, read as a transfer would. */
async function blocksOf(t: TestContext, bytes: Buffer, blockSize: number, opts: { size?: number; shrinkTo?: number } = {}): Promise<Buffer[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lb-blocks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  await writeFile(path, bytes);
  const file = await open(path);
  t.after(() => file.close());
  if (opts.shrinkTo !== undefined) await truncate(path, opts.shrinkTo);
  const reader = new BlockReader(file, opts.size ?? bytes.length, blockSize);
  const blocks: Buffer[] = [];
  while (!reader.done) {
    const block = reader.next();
    if (block) blocks.push(Buffer.from(block));
    else await reader.fill();
  }
  return blocks;
}

function lengths(blocks: Buffer[]): number[] {
  return blocks.map((b) => b.length);
}

test('an empty file is one empty block', async (t) => {
  assert.deepEqual(lengths(await blocksOf(t, Buffer.alloc(0), 512)), [0]);
});

test('the last block is short, and empty when the size is a multiple of the block size', async (t) => {
  assert.deepEqual(lengths(await blocksOf(t, randomBytes(1), 512)), [1]);
  assert.deepEqual(lengths(await blocksOf(t, randomBytes(511), 512)), [511]);
  assert.deepEqual(lengths(await blocksOf(t, randomBytes(512), 512)), [512, 0]);
  assert.deepEqual(lengths(await blocksOf(t, randomBytes(1500), 1024)), [1024, 476]);
});

test('files over several reads come back whole, the reads ending on block boundaries', async (t) => {
  for (const [size, blockSize] of [
    [2 * READ_CHUNK, 512],
    [2 * READ_CHUNK + 1, 512],
    [3 * READ_CHUNK - 7, 65464],
    [65464 * 9, 65464],
  ] as const) {
    const bytes = randomBytes(size);
    const blocks = await blocksOf(t, bytes, blockSize);
    assert.ok(Buffer.concat(blocks).equals(bytes), `${size} bytes in blocks of ${blockSize}`);
    assert.ok(blocks.slice(0, -1).every((b) => b.length === blockSize), 'every block but the last is full');
    assert.equal(blocks.at(-1)!.length, size % blockSize);
  }
});

test('a file that grows after the size was taken is sent up to that size; one that shrinks ends at its new end', async (t) => {
  const bytes = randomBytes(5000);
  assert.ok(Buffer.concat(await blocksOf(t, bytes, 1024, { size: 3000 })).equals(bytes.subarray(0, 3000)));
  const shrunk = await blocksOf(t, bytes, 1024, { shrinkTo: 2048 });
  assert.deepEqual(lengths(shrunk), [1024, 1024, 0]);
  assert.ok(Buffer.concat(shrunk).equals(bytes.subarray(0, 2048)));
});
