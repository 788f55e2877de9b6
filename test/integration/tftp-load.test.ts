import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { serveTftp, tftpRoot } from '../support/tftp-serve.js';

/** Many clients at once, and clients on a network that loses packets. */

test('200 simultaneous curl downloads all arrive byte for byte', async (t) => {
  const files = [randomBytes(1024 * 1024), randomBytes(1024 * 1024 + 777), randomBytes(256 * 1024), randomBytes(1432 * 100)];
  const { world, root } = await tftpRoot(t, Object.fromEntries(files.map((bytes, i) => [`f${i}`, bytes])));
  // 200 machines, all on loopback's one address here: caps sized for that (tftp-flood.test.ts tests the caps).
  const { port, lines } = await serveTftp(t, root, { maxTransfers: 200, maxTransfersPerAddress: 200 }, 'info');

  const clients = Array.from({ length: 200 }, (_, i) => ({ i, file: i % files.length, blksize: [1432, 512, 1468, 8192][i % 4]! }));
  // One shell starts all 200 curls: spawning them one by one from this process (which also runs
  // the server) blocks its event loop for seconds, and the clients would time out waiting.
  const script = clients
    .map((c) => `(curl -sS --max-time 120 -o out-${c.i} --tftp-blksize ${c.blksize} tftp://127.0.0.1:${port}/f${c.file} 2>err-${c.i}; echo $? >rc-${c.i}) &`)
    .join('\n');
  await execa('bash', ['-c', `${script}\nwait`], { cwd: world.dir, timeout: 300_000 });
  const failed: string[] = [];
  for (const c of clients) {
    const rc = (await readFile(join(world.dir, `rc-${c.i}`), 'utf8')).trim();
    if (rc !== '0') failed.push(`client ${c.i}: curl exited ${rc}: ${await readFile(join(world.dir, `err-${c.i}`), 'utf8')}`);
  }
  assert.deepEqual(failed, [], 'every curl exits 0');
  for (const c of clients) {
    const got = await readFile(join(world.dir, `out-${c.i}`));
    assert.ok(got.equals(files[c.file]!), `client ${c.i} (f${c.file}, blksize ${c.blksize}) got different bytes`);
  }
  assert.equal(lines.filter((l) => l.msg === 'tftp transfer done').length, 200);
  assert.equal(lines.filter((l) => l.msg === 'tftp transfer failed').length, 0);
});

/**
 * An RFC 7440 receiver that loses packets on purpose: DATA blocks the first time they arrive
 * (in the middle and at the tail of windows), some of its own ACKs, and it sends some ACKs twice.
 * On a gap it acknowledges the last block it has in order, as RFC 7440 asks; when nothing arrives
 * for a while it repeats its last ACK.
 */
async function lossyGet(port: number, file: string, blksize: number, windowsize: number): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const chunks: Buffer[] = [];
  const timesSeen = new Map<number, number>();
  let serverPort = 0;
  let expected = 1;
  let inWindow = 0;
  let gapAcked = false;
  let acksSent = 0;
  let lastAck = 0;
  const ack = (n: number): void => {
    lastAck = n;
    acksSent++;
    if (acksSent % 17 === 0) return; // this ACK is lost
    const packet = Buffer.from([0, 4, n >> 8, n & 0xff]);
    socket.send(packet, serverPort, '127.0.0.1');
    if (acksSent % 11 === 0) socket.send(packet, serverPort, '127.0.0.1'); // and this one duplicated
  };
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      let idle = setInterval(() => serverPort && ack(lastAck), 150);
      const finish = (error?: Error): void => {
        clearInterval(idle);
        if (error) reject(error);
        else resolve(Buffer.concat(chunks));
      };
      socket.on('message', (msg, rinfo) => {
        clearInterval(idle);
        idle = setInterval(() => serverPort && ack(lastAck), 150);
        const opcode = msg.readUInt16BE(0);
        if (opcode === 5) return finish(new Error(`server error ${msg.readUInt16BE(2)}: ${msg.toString('latin1', 4, msg.length - 1)}`));
        if (opcode === 6) {
          serverPort = rinfo.port;
          return ack(0);
        }
        if (opcode !== 3) return finish(new Error(`unexpected opcode ${opcode}`));
        const n = msg.readUInt16BE(2);
        const seen = (timesSeen.get(n) ?? 0) + 1;
        timesSeen.set(n, seen);
        const tail = windowsize > 1 && n % windowsize === 0;
        if (seen === 1 && (n % 29 === 7 || (windowsize > 1 && (n % 13 === 0 || tail)))) return; // lost
        if (n !== expected) {
          if (!gapAcked) {
            gapAcked = true;
            inWindow = 0;
            ack((expected - 1) & 0xffff);
          }
          return;
        }
        gapAcked = false;
        const data = msg.subarray(4);
        chunks.push(Buffer.from(data));
        expected = (expected + 1) & 0xffff;
        inWindow++;
        if (data.length < blksize) {
          ack(n);
          // The final ACK may be lost; answer retransmissions for a moment, as clients do.
          setTimeout(() => finish(), 1500);
          return;
        }
        if (inWindow === windowsize) {
          inWindow = 0;
          ack(n);
        }
      });
      const options = `blksize\0${blksize}\0windowsize\0${windowsize}\0`;
      socket.send(Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0${options}`)]), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

test('transfers survive lost DATA, lost and duplicated ACKs at windowsize 1, 4, 8 and 16', async (t) => {
  const bytes = randomBytes(300 * 1024 + 99);
  const { root } = await tftpRoot(t, { lossy: bytes });
  // A short retransmit timeout keeps the test quick; recovery must not depend on it alone.
  const { port, lines } = await serveTftp(t, root, { timeoutMs: 100, retries: 20 }, 'info');
  for (const [blksize, windowsize] of [
    [512, 1],
    [1432, 4],
    [1468, 16],
    [8192, 8],
  ] as const) {
    const got = await lossyGet(port, 'lossy', blksize, windowsize);
    assert.equal(got.length, bytes.length, `blksize ${blksize} windowsize ${windowsize}: length`);
    assert.ok(got.equals(bytes), `blksize ${blksize} windowsize ${windowsize}: bytes differ`);
  }
  assert.equal(lines.filter((l) => l.msg === 'tftp transfer failed').length, 0, JSON.stringify(lines));
});

test('a client that goes away mid-transfer: the transfer fails at once with a log line, and serving goes on', async (t) => {
  const bytes = randomBytes(256 * 1024);
  const { world, root } = await tftpRoot(t, { f: bytes });
  const { port, lines } = await serveTftp(t, root, {}, 'info');
  const client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  client.send(Buffer.from('\0\x01f\0octet\0blksize\x001432\0'), port, '127.0.0.1');
  await new Promise((resolve) => client.once('message', resolve)); // the OACK
  client.close();
  const deadline = Date.now() + 10_000;
  while (!lines.some((l) => l.msg === 'tftp transfer failed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const failed = lines.find((l) => l.msg === 'tftp transfer failed');
  assert.equal(failed?.reason, 'the client went away (its port is closed)');
  const out = join(world.dir, 'out');
  const r = await execa('curl', ['-sS', '-o', out, '--tftp-blksize', '1432', `tftp://127.0.0.1:${port}/f`], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok((await readFile(out)).equals(bytes));
});
