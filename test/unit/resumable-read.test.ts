import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LifeboatError } from '../../core/errors.js';
import { httpRequest } from '../../netboot/agent/http-request.js';
import { readWithFallback } from '../../netboot/agent/image-source.js';
import { parseContentRange, resumableRead } from '../../netboot/agent/resumable-read.js';
import type { RetryPolicy } from '../../netboot/agent/retry.js';

// The agent's volume reader against a real HTTP server on loopback that breaks connections
// mid-file, ignores Range, changes the file, goes silent or goes away, as a restarting server or a
// lossy link does. Every read is checked by the sha256 of the bytes that came out.

const FILE = randomBytes(3 * 1024 * 1024 + 123);
const SHA = createHash('sha256').update(FILE).digest('hex');
const quick: RetryPolicy = { firstDelayMs: 20, maxDelayMs: 100, budgetMs: 2000 };

interface Behaviour {
  /** Cut the connection after this many body bytes on the first N answers. */
  cutAfter?: number;
  cuts?: number;
  honourRange?: boolean;
  lastModified?: () => string;
  /** Send this many bytes, then go silent (the socket stays open) on the first answer. */
  stallAfter?: number;
}

async function serve(t: { after: (fn: () => unknown) => void }, b: Behaviour, file = FILE): Promise<{ url: string; ranges: Array<string | undefined>; server: Server }> {
  const ranges: Array<string | undefined> = [];
  let cuts = b.cuts ?? 0;
  let stalls = b.stallAfter === undefined ? 0 : 1;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== '/store/img/v1/data/root.tar.zst') {
      res.writeHead(404).end();
      return;
    }
    ranges.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && b.honourRange !== false ? Number(m[1]) : 0;
    const headers: Record<string, string | number> = { 'last-modified': b.lastModified?.() ?? 'Sat, 05 Dec 2026 08:00:00 GMT', 'content-length': file.length - start };
    if (start > 0) headers['content-range'] = `bytes ${start}-${file.length - 1}/${file.length}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    const body = file.subarray(start);
    if (stalls-- > 0) {
      res.write(body.subarray(0, b.stallAfter));
      return; // never ends: the reader's idle timeout must notice
    }
    if (cuts-- > 0) {
      res.write(body.subarray(0, b.cutAfter), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/store/img/v1/data/root.tar.zst`, ranges, server };
}

async function readAll(source: AsyncIterable<Buffer | Uint8Array>): Promise<{ sha: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of source) {
    h.update(c);
    bytes += c.length;
  }
  return { sha: h.digest('hex'), bytes };
}

test('parseContentRange reads bytes start-end/total and nothing else', () => {
  assert.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, end: 199, total: 200 });
  assert.equal(parseContentRange('bytes */200'), null);
  assert.equal(parseContentRange(undefined), null);
});

test('a connection cut three times mid-file is resumed with Range at the byte reached; the bytes hash to the file', async (t) => {
  const { url, ranges } = await serve(t, { cutAfter: 700_000, cuts: 3 });
  const events: Array<{ offset: number }> = [];
  const r = await readAll(resumableRead(url, { policy: quick, onInterrupted: (e) => events.push(e) }));
  assert.equal(r.sha, SHA);
  assert.equal(r.bytes, FILE.length);
  assert.equal(ranges[0], undefined, 'the first request asks for the whole file');
  assert.equal(ranges.length, 4);
  // Each resumption asks for exactly the bytes not yet handed on.
  const offsets = events.map((e) => e.offset);
  assert.deepEqual(ranges.slice(1), offsets.map((o) => `bytes=${o}-`));
  assert.ok(offsets.every((o, i) => o > (offsets[i - 1] ?? 0)), `progress between cuts: ${offsets}`);
});

test('a server that ignores Range is read again from the start, the bytes already handed on skipped', async (t) => {
  const { url, ranges } = await serve(t, { cutAfter: 1_000_000, cuts: 2, honourRange: false });
  const r = await readAll(resumableRead(url, { policy: quick }));
  assert.equal(r.sha, SHA);
  assert.equal(r.bytes, FILE.length);
  assert.equal(ranges.length, 3);
});

test('a file that changed on the server between two answers fails the read at once', async (t) => {
  let n = 0;
  const { url, ranges } = await serve(t, { cutAfter: 500_000, cuts: 1, lastModified: () => `Sat, 05 Dec 2026 08:00:0${n++} GMT` });
  await assert.rejects(readAll(resumableRead(url, { policy: quick })), (e: LifeboatError) => e.code === 'LB_IMAGE_CORRUPT' && /changed on the server while it was read/.test(e.message));
  assert.equal(ranges.length, 2, 'no further attempt');
});

test('a silent socket ends in the idle timeout and is resumed', async (t) => {
  const { url, ranges } = await serve(t, { stallAfter: 400_000 });
  const r = await readAll(resumableRead(url, { policy: quick, idleTimeoutMs: 300 }));
  assert.equal(r.sha, SHA);
  assert.equal(ranges.length, 2);
  assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
});

test('a server that goes away mid-file and comes back on the same port: the read continues', async (t) => {
  const first = await serve(t, { cutAfter: 1_200_000, cuts: 1 });
  const port = Number(new URL(first.url).port);
  const seen: string[] = [];
  let restarted: Promise<unknown> | null = null;
  const reader = resumableRead(first.url, {
    policy: { firstDelayMs: 100, maxDelayMs: 400, budgetMs: 5000 },
    onInterrupted: (e) => {
      seen.push(e.error.message);
      // At the first interruption the server is "restarted": closed now, listening again 500 ms later.
      restarted ??= (async () => {
        first.server.closeAllConnections();
        await new Promise<void>((resolve) => first.server.close(() => resolve()));
        await new Promise((r) => setTimeout(r, 500));
        const again = createServer((req, res) => {
          const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
          res.writeHead(start ? 206 : 200, { 'last-modified': 'Sat, 05 Dec 2026 08:00:00 GMT', 'content-length': FILE.length - start, ...(start ? { 'content-range': `bytes ${start}-${FILE.length - 1}/${FILE.length}` } : {}) });
          res.end(FILE.subarray(start));
        });
        await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
        t.after(() => {
          again.closeAllConnections();
          again.close();
        });
      })();
    },
  });
  const r = await readAll(reader);
  assert.equal(r.sha, SHA);
  assert.ok(seen.some((m) => /ECONNREFUSED/.test(m)), `the reader waited while nothing listened: ${seen.join('; ')}`);
});

test('a server gone for good ends in LB_UNREACHABLE naming the byte reached; a missing file is final at once', async (t) => {
  const { url, server } = await serve(t, { cutAfter: 800_000, cuts: 1 });
  let closed = false;
  const reader = resumableRead(url, {
    policy: { firstDelayMs: 20, maxDelayMs: 50, budgetMs: 300 },
    onInterrupted: () => {
      if (!closed) {
        closed = true;
        server.closeAllConnections();
        server.close();
      }
    },
  });
  await assert.rejects(readAll(reader), (e: LifeboatError) => e.code === 'LB_UNREACHABLE' && /stopped at byte 8\d{5}/.test(e.message));

  const other = await serve(t, {});
  const missing: string[] = [];
  await assert.rejects(readAll(resumableRead(other.url.replace('root', 'nope'), { policy: quick, onInterrupted: (e) => missing.push(e.error.message) })), (e: LifeboatError) => e.code === 'LB_NOT_FOUND');
  assert.deepEqual(missing, []);
});

test('readWithFallback: a primary stream that breaks mid-file continues from the fallback at the byte it reached', async (t) => {
  // The primary is a real response body that the server cuts; the fallback resumes over Range.
  const cut = await serve(t, { cutAfter: 1_500_000, cuts: 1 });
  const whole = await serve(t, {});
  const primary = (await httpRequest(cut.url)).body;
  const fellBack: number[] = [];
  const r = await readAll(readWithFallback(primary, (offset) => resumableRead(whole.url, { policy: quick, offset }), (offset) => fellBack.push(offset)));
  assert.equal(r.sha, SHA);
  assert.equal(fellBack.length, 1);
  assert.equal(whole.ranges[0], `bytes=${fellBack[0]}-`);
  assert.ok(fellBack[0]! > 0 && fellBack[0]! <= 1_500_000);
});
