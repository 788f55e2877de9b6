import { createSocket, type Socket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { dhcpPacket, httpCase, seeded, tftpPacket, type HttpCase } from './fuzz-inputs.js';

/**
 * Runs inside the client namespace of the fuzz test: sends the seeded DHCP, TFTP and HTTP input
 * to the server and prints one JSON line with what it sent and what came back. It never judges:
 * the test does, from this summary and the server's own state.
 *
 *   node fuzz-client.js CONFIG.json
 */
export interface FuzzConfig {
  seed: number;
  server: string;
  httpPort: number;
  adminToken: string;
  dhcp: number;
  tftp: number;
  http: number;
  httpConcurrency: number;
}

export interface FuzzSummary {
  sent: { dhcp: Record<string, number>; tftp: Record<string, number>; http: number };
  replies: { dhcp: number; tftp: number };
  httpStatus: Record<string, number>;
  /** Requests that answered 5xx, or whose answer looked like a stack trace; at most 20 of each. */
  serverErrors: Array<{ method: string; path: string; status: number; body: string }>;
  stackTraces: Array<{ method: string; path: string; status: number; body: string }>;
  /** Requests the server did not answer at all (reset, timeout). */
  noAnswer: Array<{ method: string; path: string; error: string }>;
}

const STACK = /\n\s+at .+:\d+:\d+|node_modules\/|\/dist\/(server|core|images|netboot)\//;

const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
const sendErrors: Record<string, number> = {};

async function sendAll(socket: Socket, packets: Buffer[], port: number, address: string): Promise<void> {
  for (let i = 0; i < packets.length; i++) {
    await new Promise<void>((resolve) => socket.send(packets[i]!, port, address, (e) => { if (e) bump(sendErrors, e.message); resolve(); }));
    // A short breath every 50 packets keeps the client's own send buffer from dropping them.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
}

async function fuzzDhcp(config: FuzzConfig, summary: FuzzSummary): Promise<void> {
  const rng = seeded(config.seed);
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', () => resolve()));
  socket.setBroadcast(true);
  socket.on('message', () => summary.replies.dhcp++);
  const packets = Array.from({ length: config.dhcp }, () => {
    const p = dhcpPacket(rng);
    bump(summary.sent.dhcp, p.kind);
    return p.packet;
  });
  await sendAll(socket, packets, 67, '255.255.255.255');
  await new Promise((r) => setTimeout(r, 500));
  socket.close();
}

async function fuzzTftp(config: FuzzConfig, summary: FuzzSummary): Promise<void> {
  const rng = seeded(config.seed + 1);
  // Several client ports, so per-address and per-transfer bookkeeping both get exercised; no
  // request is ever acknowledged.
  const sockets = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const s = createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, () => resolve()));
      s.on('message', () => summary.replies.tftp++);
      return s;
    }),
  );
  for (let i = 0; i < config.tftp; i++) {
    const p = tftpPacket(rng);
    bump(summary.sent.tftp, p.kind);
    await new Promise<void>((resolve) => sockets[i % sockets.length]!.send(p.packet, 69, config.server, () => resolve()));
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const s of sockets) s.close();
}

/** A path node:http accepts as is: bytes outside printable ASCII percent-encoded, the rest untouched. */
const rawPath = (path: string) => path.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c));

function send(config: FuzzConfig, c: HttpCase): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...c.headers };
    if (c.admin) headers.authorization = `Bearer ${config.adminToken}`;
    if (c.body) headers['content-length'] = String(c.body.length);
    const req = httpRequest({ host: config.server, port: config.httpPort, method: c.method, path: rawPath(c.path), headers, timeout: 15000 }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        // Keep what a stack trace would be in; drop the rest (a store file may be large).
        if (size < 65536) chunks.push(d);
        size += d.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(c.body);
  });
}

async function fuzzHttp(config: FuzzConfig, summary: FuzzSummary): Promise<void> {
  const rng = seeded(config.seed + 2);
  const cases = Array.from({ length: config.http }, () => httpCase(rng));
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      summary.sent.http++;
      try {
        const r = await send(config, c);
        bump(summary.httpStatus, String(r.status));
        const record = { method: c.method, path: c.path.slice(0, 300), status: r.status, body: r.body.slice(0, 500) };
        if (r.status >= 500 && summary.serverErrors.length < 20) summary.serverErrors.push(record);
        if (STACK.test(r.body) && summary.stackTraces.length < 20) summary.stackTraces.push(record);
      } catch (e) {
        if (summary.noAnswer.length < 20) summary.noAnswer.push({ method: c.method, path: c.path.slice(0, 300), error: (e as Error).message });
        bump(summary.httpStatus, 'no-answer');
      }
    }
  };
  await Promise.all(Array.from({ length: config.httpConcurrency }, worker));
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as FuzzConfig;
  const summary: FuzzSummary = { sent: { dhcp: {}, tftp: {}, http: 0 }, replies: { dhcp: 0, tftp: 0 }, httpStatus: {}, serverErrors: [], stackTraces: [], noAnswer: [] };
  // All three at once: the server has to cope with them together, as on a busy test bed.
  await Promise.all([fuzzDhcp(config, summary), fuzzTftp(config, summary), fuzzHttp(config, summary)]);
  process.stdout.write(`${JSON.stringify({ ...summary, sendErrors })}\n`);
}

await main();
