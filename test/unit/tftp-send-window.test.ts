import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendWindow } from '../../server/tftp/send-window.js';

/**
 * Drives a SendWindow the way read-transfer.ts does: feed blocks until the window says
 * wait, go on when it calls back, stop when the last block has been acknowledged.
 */
function transfer(opts: { blockSize: number; windowSize: number; blocks: number; lastLength?: number }) {
  const wire: number[] = [];
  let onTimeout: (() => void) | null = null;
  const window = new SendWindow({
    blockSize: opts.blockSize,
    windowSize: opts.windowSize,
    send: (header, data) => {
      assert.equal(header.readUInt16BE(0), 3, 'DATA opcode');
      assert.ok(data.length === opts.blockSize || header.readUInt16BE(2) === lastNumber, 'only the last block is short');
      wire.push(header.readUInt16BE(2));
    },
    timer: { start: (fn) => void (onTimeout = fn), reset: () => void (onTimeout = null) },
  });
  // Blocks 1..blocks are full; one more, shorter, ends the file (empty when lastLength is 0).
  const lastNumber = (opts.blocks + 1) & 0xffff;
  let fed = 0;
  let ended = false;
  const more = (): void => {
    if (window.isEOF()) {
      ended = true;
      return;
    }
    fed++;
    window.feed(Buffer.alloc(fed <= opts.blocks ? opts.blockSize : (opts.lastLength ?? 0)), more);
  };
  more();
  return {
    /** Block numbers put on the wire since the last call. */
    sent(): number[] {
      return wire.splice(0);
    },
    ack: (n: number) => window.resume(n),
    timeout: () => onTimeout?.(),
    timerRunning: () => onTimeout !== null,
    ended: () => ended,
  };
}

test('full windows: each ACK of the window end brings the next window, the last ACK ends the transfer', () => {
  const t = transfer({ blockSize: 512, windowSize: 4, blocks: 9, lastLength: 100 });
  assert.deepEqual(t.sent(), [1, 2, 3, 4]);
  t.ack(4);
  assert.deepEqual(t.sent(), [5, 6, 7, 8]);
  t.ack(8);
  assert.deepEqual(t.sent(), [9, 10]);
  assert.equal(t.ended(), false);
  t.ack(10);
  assert.equal(t.ended(), true);
  assert.deepEqual(t.sent(), []);
});

test('a partial ACK slides the window: the next window starts after the acknowledged block and is full again', () => {
  const t = transfer({ blockSize: 512, windowSize: 4, blocks: 20 });
  assert.deepEqual(t.sent(), [1, 2, 3, 4]);
  t.ack(2); // 3 and 4 were lost
  assert.deepEqual(t.sent(), [3, 4, 5, 6]);
  t.ack(6);
  assert.deepEqual(t.sent(), [7, 8, 9, 10]);
});

test('a partial ACK in the last window resends only what is missing', () => {
  const t = transfer({ blockSize: 512, windowSize: 4, blocks: 5, lastLength: 1 });
  assert.deepEqual(t.sent(), [1, 2, 3, 4]);
  t.ack(4);
  assert.deepEqual(t.sent(), [5, 6]);
  t.ack(5);
  assert.deepEqual(t.sent(), [6]);
  t.ack(6);
  assert.equal(t.ended(), true);
});

test('lock-step: a duplicate ACK does not resend (sorcerer\'s apprentice); the timeout does', () => {
  const t = transfer({ blockSize: 512, windowSize: 1, blocks: 3 });
  assert.deepEqual(t.sent(), [1]);
  t.ack(1);
  assert.deepEqual(t.sent(), [2]);
  t.ack(1);
  t.ack(1);
  assert.deepEqual(t.sent(), []);
  t.timeout();
  assert.deepEqual(t.sent(), [2]);
  t.ack(2);
  assert.deepEqual(t.sent(), [3]);
});

test('windowed: a duplicate ACK (nothing of the window arrived) resends the window once', () => {
  const t = transfer({ blockSize: 512, windowSize: 4, blocks: 20 });
  assert.deepEqual(t.sent(), [1, 2, 3, 4]);
  t.ack(4);
  assert.deepEqual(t.sent(), [5, 6, 7, 8]);
  t.ack(4);
  assert.deepEqual(t.sent(), [5, 6, 7, 8]);
  t.ack(4);
  assert.deepEqual(t.sent(), []);
  t.ack(8);
  assert.deepEqual(t.sent(), [9, 10, 11, 12]);
});

test('stale and bogus ACKs are ignored', () => {
  const t = transfer({ blockSize: 512, windowSize: 4, blocks: 20 });
  t.ack(4);
  t.ack(8);
  t.sent();
  t.ack(3); // from a window long gone
  t.ack(40); // never sent
  assert.deepEqual(t.sent(), []);
  assert.equal(t.timerRunning(), true);
  t.ack(12);
  assert.deepEqual(t.sent(), [13, 14, 15, 16]);
});

test('the retransmit timer runs while a window waits and stops when it is acknowledged', () => {
  const t = transfer({ blockSize: 512, windowSize: 2, blocks: 1, lastLength: 0 });
  assert.deepEqual(t.sent(), [1, 2]);
  assert.equal(t.timerRunning(), true);
  t.timeout();
  assert.deepEqual(t.sent(), [1, 2]);
  t.ack(2);
  assert.equal(t.timerRunning(), false);
  assert.equal(t.ended(), true);
});

test('block numbers roll over from 65535 to 0, and ACKs across the rollover slide correctly', () => {
  const t = transfer({ blockSize: 8, windowSize: 4, blocks: 65540, lastLength: 3 });
  let last = 0;
  // Acknowledge whole windows up to 65532.
  while (last !== 65532) {
    const window = t.sent();
    last = window[window.length - 1] ?? assert.fail('nothing sent');
    t.ack(last);
  }
  assert.deepEqual(t.sent(), [65533, 65534, 65535, 0]);
  t.ack(65534);
  assert.deepEqual(t.sent(), [65535, 0, 1, 2]);
  t.ack(2);
  assert.deepEqual(t.sent(), [3, 4, 5]); // 65541 wraps to 5: the short last block
  t.ack(5);
  assert.equal(t.ended(), true);
});
