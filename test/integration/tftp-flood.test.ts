import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { Writable } from 'node:stream';
import { once } from 'node:events';
import { pino } from 'pino';
import { makeWorld } from '../support/world.js';
import { startLocalServer } from '../support/local-server.js';
import { startTftpServer } from '../../server/tftp/tftp-server.js';
import { tftpRoot } from '../support/tftp-serve.js';

/**
 * 1,000 TFTP read requests from raw UDP sockets that never acknowledge anything, against a real
 * `lifeboat serve` in its own process (issue 11, item 2: before the caps this took the server from
 * 151 to 640 MB and 2,058 descriptors). The server stays under 200 MB and a bounded number of
 * descriptors, refuses what is over its caps with an ERROR packet, logs a bounded number of lines,
 * drops each unacknowledged transfer after the first-ACK timeout, and tftp-hpa fetches a file
 * byte for byte during the flood (from another address) and after it.
 */

const MAX_TRANSFERS = 64;
const PER_ADDRESS = 8;
const FIRST_ACK_S = 2;

async function serverUsage(pid: number): Promise<{ rssMb: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  return { rssMb: kb / 1024, fds: (await readdir(`/proc/${pid}/fd`)).length };
}

type Flood = { sockets: dgram.Socket[]; first: Map<dgram.Socket, { opcode: number; message?: string }> };

/** `count` requests, each from its own socket, spread over `addresses`; nothing is ever acknowledged. */
async function flood(port: number, count: number, addresses: string[], into: Flood): Promise<void> {
  // Half ask for options, so the first packet is an OACK; half for none, so it is DATA 1.
  const plain = Buffer.from('\0\x01undionly.kpxe\0octet\0', 'latin1');
  const withOptions = Buffer.from('\0\x01undionly.kpxe\0octet\0blksize\x001432\0tsize\x000\0', 'latin1');
  for (let i = 0; i < count; i++) {
    const packet = i % 2 ? withOptions : plain;
    const socket = dgram.createSocket('udp4');
    into.sockets.push(socket);
    socket.on('message', (msg) => {
      if (into.first.has(socket)) return;
      const opcode = msg.readUInt16BE(0);
      into.first.set(socket, opcode === 5 ? { opcode, message: msg.toString('latin1', 4, msg.length - 1) } : { opcode });
    });
    await new Promise<void>((resolve) => socket.bind(0, addresses[i % addresses.length], resolve));
    socket.send(packet, port, '127.0.0.1');
  }
}

async function fetchWithTftpHpa(port: number, file: string, out: string): Promise<{ exitCode: number; output: string }> {
  const r = await execa('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', file, out], { reject: false, timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, output: `${r.stdout}${r.stderr}` };
}

test('1,000 unacknowledged TFTP requests: bounded memory, descriptors and log lines, and a real client is still served', async (t) => {
  const world = await makeWorld(t, 'lb-tflood');
  const server = await startLocalServer(world, {
    tftp: true,
    args: ['--tftp-max-transfers', String(MAX_TRANSFERS), '--tftp-max-per-address', String(PER_ADDRESS), '--tftp-first-ack-timeout', String(FIRST_ACK_S)],
  });
  const pid = server.process.pid!;
  const port = server.tftpPort!;
  const expected = await readFile(join(server.dataDir, 'netboot', 'ipxe.efi'));
  const base = await serverUsage(pid);

  const attack: Flood = { sockets: [], first: new Map() };
  t.after(() => {
    for (const s of attack.sockets) s.close();
  });
  let peak = { ...base };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const u = await serverUsage(pid);
      peak = { rssMb: Math.max(peak.rssMb, u.rssMb), fds: Math.max(peak.fds, u.fds) };
      await sleep(50);
    }
  })();

  // Phase 1: 500 requests from four addresses. Each address is held to its own cap, so a client
  // from a fifth address (tftp-hpa, from 127.0.0.1) is served in the middle of it.
  const during = join(world.dir, 'during.efi');
  const few = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
  const phase1 = flood(port, 500, few, attack);
  await sleep(100);
  const got1 = await fetchWithTftpHpa(port, 'ipxe.efi', during);
  await phase1;
  assert.equal(got1.exitCode, 0, got1.output);
  assert.ok((await readFile(during)).equals(expected), 'the file fetched during the flood is byte-exact');

  // Phase 2: 500 more from 125 addresses: the global cap holds.
  const many = Array.from({ length: 125 }, (_, i) => `127.0.1.${i + 1}`);
  await flood(port, 500, many, attack);
  await sleep(1000);
  sampling = false;
  await sampler;

  t.diagnostic(`server RSS ${base.rssMb.toFixed(1)} MB at start, peak ${peak.rssMb.toFixed(1)} MB; descriptors ${base.fds} at start, peak ${peak.fds}`);
  assert.ok(peak.rssMb < 200, `server RSS peaked at ${peak.rssMb.toFixed(1)} MB (base ${base.rssMb.toFixed(1)} MB)`);
  // A transfer holds a socket and a file; the listening socket and the rest were there before.
  assert.ok(peak.fds <= base.fds + 2 * MAX_TRANSFERS + 16, `descriptors peaked at ${peak.fds} (base ${base.fds})`);

  // Every request had an answer: an OACK or DATA packet (a transfer started) or an ERROR saying why not.
  const answers = [...attack.first.values()];
  const started = answers.filter((a) => a.opcode === 3 || a.opcode === 6).length;
  const busy = answers.filter((a) => a.opcode === 5 && /^server busy: /.test(a.message ?? '')).length;
  assert.equal(attack.first.size, 1000, 'every flood socket got an answer');
  assert.equal(started + busy, 1000, JSON.stringify(answers.filter((a) => a.opcode !== 3 && a.opcode !== 6 && !/busy/.test(a.message ?? '')).slice(0, 3)));
  assert.ok(answers.some((a) => a.opcode === 6) && answers.some((a) => a.opcode === 3), 'transfers started with an OACK and with DATA');
  assert.ok(busy >= 500, `refused over the caps: ${busy}`);
  assert.ok(answers.some((a) => /at most 8 per address/.test(a.message ?? '')) && answers.some((a) => /at most 64\)/.test(a.message ?? '')), 'both caps refused requests, saying which');

  // The first-ACK timeout drops every unanswered transfer, closing its socket and file.
  let after = await serverUsage(pid);
  for (let i = 0; i < 100 && after.fds > base.fds + 4; i++) {
    await sleep(100);
    after = await serverUsage(pid);
  }
  assert.ok(after.fds <= base.fds + 4, `descriptors after the flood: ${after.fds} (base ${base.fds})`);
  const out = join(world.dir, 'after.efi');
  const got2 = await fetchWithTftpHpa(port, 'ipxe.efi', out);
  assert.equal(got2.exitCode, 0, got2.output);
  assert.ok((await readFile(out)).equals(expected), 'the file fetched after the flood is byte-exact');

  // Log lines any sender can cause are counted, not each written: 20 per 10 s, then a summary
  // line when the window ends.
  type Line = { level: number; msg: string; reason?: string; dropped?: number };
  const readLines = async () => (await server.log()).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
  const isSummary = (l: Line) => /^\d+ more tftp refusals not logged in the last \d+ s$/.test(l.msg);
  const accounted = (ls: Line[]) => ls.filter((l) => l.msg === 'tftp request refused').length + ls.filter(isSummary).reduce((n, l) => n + (l.dropped ?? 0), 0);
  let lines = await readLines();
  for (let i = 0; i < 150 && accounted(lines) < busy; i++) {
    await sleep(100);
    lines = await readLines();
  }
  const refused = lines.filter((l) => l.msg === 'tftp request refused');
  const dropped = lines.filter((l) => l.msg === 'tftp transfer dropped');
  assert.ok(refused.length > 0 && refused.length <= 40, `refusal lines: ${refused.length}`);
  assert.ok(refused.every((l) => l.level === 30 && /^server busy/.test(l.reason ?? '')), 'busy refusals log at info');
  assert.ok(dropped.length > 0 && dropped.length <= 40, `dropped-transfer lines: ${dropped.length}`);
  assert.match(dropped[0]!.reason ?? '', /did not acknowledge the first packet within 2 s/);
  assert.ok(lines.filter(isSummary).length >= 1, 'a summary line counts the refusals not logged');
  assert.equal(accounted(lines), busy, 'logged plus summarised refusals are every refusal');
  assert.equal(lines.filter((l) => l.level >= 50).length, 0, 'nothing logged at error');
});

test('a long or odd file name is refused at info with the name clipped; 1,000 malformed packets cost a bounded number of short log lines', async (t) => {
  const { root } = await tftpRoot(t, { 'undionly.kpxe': 'ipxe' }, 'lb-tflood');
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const server = await startTftpServer({ root, host: '127.0.0.1', port: 0, logger: pino({ level: 'debug' }, sink) });
  t.after(() => server.close());
  const client = dgram.createSocket('udp4');
  t.after(() => client.close());
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const ask = async (packet: Buffer) => {
    client.send(packet, server.address.port, '127.0.0.1');
    const [reply] = (await once(client, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    return { opcode: reply.readUInt16BE(0), code: reply.readUInt16BE(2), message: reply.toString('latin1', 4, reply.length - 1) };
  };

  const longName = `${'n'.repeat(3000)}.efi`;
  const long = await ask(Buffer.from(`\0\x01${longName}\0octet\0`, 'latin1'));
  assert.deepEqual([long.opcode, long.code], [5, 2]);
  assert.match(long.message, /^Access violation: the file name is 3004 characters long; at most 255 are accepted$/);
  const missing = await ask(Buffer.from(`\0\x01${'d/'.repeat(100)}x\0octet\0`, 'latin1'));
  assert.deepEqual([missing.opcode, missing.code], [5, 1]);

  const lines = () => raw.map((l) => JSON.parse(l) as { level: number; msg: string; file?: string; reason?: string; packet?: string; dropped?: number });
  const longLine = lines().find((l) => l.msg === 'tftp request refused' && l.file?.startsWith('nnn'));
  assert.ok(longLine, JSON.stringify(lines()));
  assert.equal(longLine.level, 30, 'a long name is logged at info');
  assert.equal(longLine.file, `${'n'.repeat(120)}… (3004 characters)`);
  assert.equal(lines().filter((l) => l.level >= 50).length, 0, 'nothing at error');

  // Malformed requests of every size up to 60 KB: each answered, few lines, none long.
  let answered = 0;
  client.on('message', () => answered++);
  for (let i = 0; i < 1000; i++) {
    const size = [2, 3, 700, 60_000][i % 4]!;
    const junk = Buffer.alloc(size, 0x41 + (i % 26));
    junk.writeUInt16BE(i % 2 === 0 ? 9 : 1, 0); // opcode 9, or a read request whose name never ends
    client.send(junk, server.address.port, '127.0.0.1');
    if (i % 50 === 49) await sleep(20);
  }
  for (let i = 0; i < 100 && answered < 1000; i++) await sleep(50);
  assert.equal(answered, 1000, 'every malformed request got an ERROR packet');
  const refusals = lines().filter((l) => l.msg === 'tftp request refused' && l.packet);
  assert.ok(refusals.length <= 20, `malformed-request lines: ${refusals.length}`);
  assert.ok(raw.every((l) => l.length < 1024), `longest line ${Math.max(...raw.map((l) => l.length))} characters`);
  assert.match(refusals[0]!.packet!, /^[0-9a-f]+(… \(\d+ bytes\))?$/);
  await server.close();
  const summary = lines().filter((l) => /^\d+ more tftp refusals not logged/.test(l.msg));
  assert.equal(refusals.length + 2 + summary.reduce((n, l) => n + (l.dropped ?? 0), 0), 1002, 'the rest are counted in a summary');
});
