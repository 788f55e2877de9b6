import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { serveTftp, tftpRoot, type LogLine } from '../support/tftp-serve.js';

/**
 * The transfer engine (server/tftp/read-transfer.ts) seen from a raw UDP client that says exactly
 * what each case needs: the last block of a file whose size is a multiple of blksize, duplicate
 * ACKs in lock-step, a client's ERROR, a malformed ACK, DATA from the client, packets from a
 * stranger, the retransmit timeout, and the server closing mid-transfer. Each ending must free
 * the transfer's slot: the server runs with one transfer per address, and curl then fetches.
 */

interface Packet {
  opcode: number;
  /** Block number, or error code. */
  n: number;
  body: Buffer;
  raw: Buffer;
}

class RawClient {
  readonly socket = dgram.createSocket('udp4');
  private readonly queue: Packet[] = [];
  private waiter: (() => void) | null = null;
  serverPort = 0;

  static async open(): Promise<RawClient> {
    const client = new RawClient();
    await new Promise<void>((resolve) => client.socket.bind(0, '127.0.0.1', resolve));
    client.socket.on('message', (msg, rinfo) => {
      client.serverPort = rinfo.port;
      client.queue.push({ opcode: msg.readUInt16BE(0), n: msg.readUInt16BE(2), body: msg.subarray(4), raw: msg });
      client.waiter?.();
    });
    return client;
  }

  /** The next packet from the server, or null when none comes within `ms`. */
  async next(ms = 3000): Promise<Packet | null> {
    if (this.queue.length === 0) {
      await Promise.race([new Promise<void>((resolve) => (this.waiter = resolve)), sleep(ms)]);
      this.waiter = null;
    }
    return this.queue.shift() ?? null;
  }

  request(port: number, file: string, options: Record<string, number> = {}): void {
    const fields = [file, 'octet', ...Object.entries(options).flatMap(([k, v]) => [k, String(v)])];
    this.socket.send(Buffer.concat([Buffer.from([0, 1]), Buffer.from(fields.map((f) => `${f}\0`).join(''), 'latin1')]), port, '127.0.0.1');
  }

  send(opcode: number, n: number, text = ''): void {
    const packet = Buffer.concat([Buffer.from([0, opcode, n >> 8, n & 0xff]), Buffer.from(text ? `${text}\0` : '', 'latin1')]);
    this.socket.send(packet, this.serverPort, '127.0.0.1');
  }

  close(): void {
    this.socket.close();
  }
}

const OACK = 6;
const DATA = 3;
const ACK = 4;
const ERROR = 5;

async function setUp(t: TestContext, files: Record<string, Buffer>, extra: Parameters<typeof serveTftp>[2] = {}) {
  const { world, root } = await tftpRoot(t, files);
  const served = await serveTftp(t, root, { maxTransfersPerAddress: 1, ...extra });
  const client = await RawClient.open();
  t.after(() => client.close());
  return { ...served, dir: world.dir, client };
}

/** Waits for a log line with `msg`; the last transfer's ending is logged once its socket has closed. */
async function logged(lines: LogLine[], msg: string): Promise<LogLine> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const line = lines.find((l) => l.msg === msg);
    if (line) return line;
    await sleep(20);
  }
  assert.fail(`no "${msg}" line: ${JSON.stringify(lines)}`);
}

/** curl fetches `file` byte for byte: with one transfer per address, the earlier one's slot was freed. */
async function curlGets(port: number, dir: string, file: string, bytes: Buffer): Promise<void> {
  const out = join(dir, `curl-${file}`);
  const r = await execa('curl', ['-sS', '--max-time', '30', '-o', out, `tftp://127.0.0.1:${port}/${file}`], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok((await readFile(out)).equals(bytes));
}

test('a file whose size is a multiple of blksize, over more than one disk read, ends with an empty DATA; tsize is its size', async (t) => {
  const bytes = randomBytes(2 * 256 * 1024);
  const { port, client, lines } = await setUp(t, { f: bytes });
  client.request(port, 'f', { blksize: 8192, tsize: 0 });
  const oack = await client.next();
  assert.equal(oack?.opcode, OACK);
  assert.equal(oack.raw.toString('latin1', 2), 'blksize\x008192\0tsize\x00524288\0');
  client.send(ACK, 0);
  const got: Buffer[] = [];
  for (let n = 1; ; n++) {
    const data = await client.next();
    assert.deepEqual([data?.opcode, data?.n], [DATA, n]);
    got.push(Buffer.from(data!.body));
    client.send(ACK, n);
    if (data!.body.length < 8192) break;
  }
  assert.equal(got.length, 65, '64 full blocks and an empty one');
  assert.equal(got.at(-1)!.length, 0);
  assert.ok(Buffer.concat(got).equals(bytes));
  assert.equal((await logged(lines, 'tftp transfer done')).bytes, bytes.length);
});

test('in lock-step a duplicate ACK never makes the server resend; a stranger\'s ACKs are not heard', async (t) => {
  const bytes = randomBytes(3 * 512 + 100);
  const { port, client, dir, lines } = await setUp(t, { f: bytes }, { timeoutMs: 2000 });
  client.request(port, 'f');
  assert.equal((await client.next())?.n, 1, 'DATA 1 without options');
  client.send(ACK, 1);
  assert.equal((await client.next())?.n, 2);
  client.send(ACK, 1); // the sorcerer's apprentice: a duplicate must not bring DATA 2 again
  client.send(ACK, 1);
  const stranger = await RawClient.open();
  t.after(() => stranger.close());
  stranger.serverPort = client.serverPort;
  stranger.send(ACK, 2); // from another port: not the transfer's client
  assert.equal(await client.next(500), null, 'nothing is sent on duplicate or foreign ACKs');
  client.send(ACK, 2);
  assert.equal((await client.next())?.n, 3);
  client.send(ACK, 3);
  const last = await client.next();
  assert.deepEqual([last?.n, last?.body.length], [4, 100]);
  client.send(ACK, 4);
  assert.equal((await logged(lines, 'tftp transfer done')).bytes, bytes.length);
  await curlGets(port, dir, 'f', bytes);
});

test('an ERROR from the client ends the transfer with its message as the reason, and frees the slot', async (t) => {
  const bytes = randomBytes(64 * 1024);
  const { port, client, lines, dir } = await setUp(t, { f: bytes });
  client.request(port, 'f', { blksize: 1024, windowsize: 4 });
  assert.equal((await client.next())?.opcode, OACK);
  client.send(ACK, 0);
  assert.equal((await client.next())?.n, 1);
  client.send(ERROR, 0, 'user cancelled');
  assert.equal((await logged(lines, 'tftp transfer failed')).reason, 'user cancelled');
  await curlGets(port, dir, 'f', bytes);
});

test('a malformed ACK to the OACK and DATA from the client are answered with an ERROR and end the transfer', async (t) => {
  const bytes = randomBytes(10_000);
  const { port, client, lines, dir } = await setUp(t, { f: bytes });
  client.request(port, 'f', { blksize: 1024 });
  assert.equal((await client.next())?.opcode, OACK);
  client.send(ACK, 5);
  const malformed = await client.next();
  assert.deepEqual([malformed?.opcode, malformed?.n, malformed?.body.toString('latin1')], [ERROR, 0, 'Malformed TFTP message\0']);
  assert.equal((await logged(lines, 'tftp transfer failed')).reason, 'Malformed TFTP message');
  lines.length = 0;

  const second = await RawClient.open();
  t.after(() => second.close());
  second.request(port, 'f');
  assert.equal((await second.next())?.n, 1);
  second.send(DATA, 1, 'upload');
  const illegal = await second.next();
  assert.deepEqual([illegal?.opcode, illegal?.n, illegal?.body.toString('latin1')], [ERROR, 4, 'Illegal TFTP operation\0']);
  assert.equal((await logged(lines, 'tftp transfer failed')).reason, 'Illegal TFTP operation');
  await curlGets(port, dir, 'f', bytes);
});

test('unacknowledged DATA is resent every timeout, then the transfer fails "Timed out" and frees the slot', async (t) => {
  const bytes = randomBytes(5000);
  const { port, client, lines, dir } = await setUp(t, { f: bytes }, { timeoutMs: 150, retries: 2 });
  client.request(port, 'f', { blksize: 1024 });
  assert.equal((await client.next())?.opcode, OACK);
  client.send(ACK, 0);
  const seen: number[] = [];
  for (let packet = await client.next(1000); packet; packet = await client.next(1000)) seen.push(packet.n);
  assert.deepEqual(seen, [1, 1, 1], 'DATA 1 and two resends, nothing after giving up');
  assert.equal((await logged(lines, 'tftp transfer failed')).reason, 'Timed out');
  await curlGets(port, dir, 'f', bytes);
});

test('closing the server mid-transfer sends the client an ERROR saying so and waits for the transfer to end', async (t) => {
  const { port, client, lines, server } = await setUp(t, { f: randomBytes(100_000) });
  client.request(port, 'f', { blksize: 1024 });
  assert.equal((await client.next())?.opcode, OACK);
  client.send(ACK, 0);
  assert.equal((await client.next())?.n, 1);
  await server.close();
  const error = await client.next();
  assert.deepEqual([error?.opcode, error?.body.toString('latin1')], [ERROR, 'server is shutting down\0']);
  assert.equal(lines.find((l) => l.msg === 'tftp transfer failed')?.reason, 'aborted by the server');
  assert.equal(lines.find((l) => l.msg === 'tftp closed')?.aborted, 1);
});
