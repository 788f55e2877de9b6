import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { clipText, LogLimiter, packetHead } from '../../server/log-limit.js';

function limiter(perWindow: number, windowMs: number) {
  let now = 1_000_000;
  const summaries: Array<[number, number]> = [];
  const l = new LogLimiter({ perWindow, windowMs, now: () => now, onDropped: (n, ms) => summaries.push([n, ms]) });
  return { l, summaries, advance: (ms: number) => (now += ms) };
}

test('lets perWindow lines through per window and summarises the rest when the next window starts', () => {
  const { l, summaries, advance } = limiter(3, 10_000);
  const first = Array.from({ length: 10 }, () => l.admit());
  assert.deepEqual(first, [true, true, true, false, false, false, false, false, false, false]);
  assert.deepEqual(summaries, [], 'no summary before the window ends');
  advance(9_999);
  assert.equal(l.admit(), false, 'still the same window');
  advance(1);
  assert.equal(l.admit(), true, 'a new window');
  assert.deepEqual(summaries, [[8, 10_000]], 'the 8 held back are counted once');
  assert.equal(l.admit(), true);
  assert.equal(l.admit(), true);
  assert.equal(l.admit(), false);
  advance(10_000);
  l.flush();
  assert.deepEqual(summaries, [[8, 10_000], [1, 10_000]]);
});

test('a window with nothing held back writes no summary; flush writes a pending one and only once', () => {
  const { l, summaries, advance } = limiter(2, 1000);
  l.admit();
  advance(5000);
  l.admit();
  l.flush();
  assert.deepEqual(summaries, []);
  l.admit();
  l.admit();
  advance(200);
  l.flush();
  l.flush();
  assert.deepEqual(summaries, [[1, 200]]);
});

test('the summary comes when the window ends even if no further line arrives', async () => {
  const summaries: number[] = [];
  const l = new LogLimiter({ perWindow: 1, windowMs: 50, onDropped: (n) => summaries.push(n) });
  l.admit();
  l.admit();
  l.admit();
  await sleep(150);
  assert.deepEqual(summaries, [2]);
});

test('refuses nonsense settings', () => {
  assert.throws(() => new LogLimiter({ perWindow: 0, windowMs: 10, onDropped: () => {} }));
  assert.throws(() => new LogLimiter({ perWindow: 1, windowMs: 0, onDropped: () => {} }));
});

test('clipText and packetHead bound what a peer puts in a log line', () => {
  assert.equal(clipText('short'), 'short');
  const long = 'x'.repeat(60_000);
  const clipped = clipText(long, 100);
  assert.equal(clipped, `${'x'.repeat(100)}… (60000 characters)`);
  assert.equal(packetHead(Buffer.from([1, 2, 0xff])), '0102ff');
  const head = packetHead(Buffer.alloc(60_000, 0xab), 4);
  assert.equal(head, 'abababab… (60000 bytes)');
});
