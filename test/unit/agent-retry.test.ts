import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LifeboatError } from '../../core/errors.js';
import { AGENT_RETRY, Outage, retryDelay, retrySchedule, withRetry, type RetryPolicy } from '../../netboot/agent/retry.js';
import { AgentClient } from '../../netboot/agent/server-client.js';

// The agent's backoff, and its task-protocol client against a real HTTP server that refuses,
// fails and goes away the way a restarting Lifeboat server does.

const quick: RetryPolicy = { firstDelayMs: 10, maxDelayMs: 40, budgetMs: 300 };

test('the agent policy doubles from 0.5 s to 10 s and spends at most two minutes', () => {
  const s = retrySchedule(AGENT_RETRY);
  assert.deepEqual(s.slice(0, 6), [500, 1000, 2000, 4000, 8000, 10_000]);
  assert.ok(s.every((d) => d <= AGENT_RETRY.maxDelayMs));
  const total = s.reduce((a, b) => a + b, 0);
  assert.ok(total <= AGENT_RETRY.budgetMs, `${total} ms within the budget`);
  assert.ok(total + AGENT_RETRY.maxDelayMs > AGENT_RETRY.budgetMs, 'one more wait would pass the budget');
  assert.ok(total >= 100_000, `a restart of over a minute and a half is waited out (${total} ms)`);
});

test('retryDelay refuses a wait that would end past the budget', () => {
  const p: RetryPolicy = { firstDelayMs: 100, maxDelayMs: 1000, budgetMs: 5000 };
  assert.equal(retryDelay(p, 1, 0), 100);
  assert.equal(retryDelay(p, 4, 0), 800);
  assert.equal(retryDelay(p, 9, 0), 1000);
  assert.equal(retryDelay(p, 9, 4000), 1000);
  assert.equal(retryDelay(p, 9, 4001), null);
});

test('an outage ends when a call succeeds: the next one has the whole budget again', () => {
  let now = 0;
  const o = new Outage({ firstDelayMs: 100, maxDelayMs: 100, budgetMs: 250 }, () => now);
  assert.equal(o.failed(), 100);
  now += 100;
  assert.equal(o.failed(), 100);
  now += 100;
  assert.equal(o.failed(), null, 'a third wait would end at 300 ms');
  o.succeeded();
  now += 10_000;
  assert.equal(o.failed(), 100, 'a new outage starts its own clock');
  assert.equal(o.attempts, 1);
});

test('withRetry: transient failures are retried, a LifeboatError is final, a spent budget says what was tried', async () => {
  let calls = 0;
  const waits: number[] = [];
  const v = await withRetry('flaky', async () => {
    calls++;
    if (calls < 3) throw new Error(`ECONNREFUSED ${calls}`);
    return 'ok';
  }, { policy: quick, onRetry: (_e, d) => waits.push(d) });
  assert.equal(v, 'ok');
  assert.deepEqual(waits, [10, 20]);

  let finalCalls = 0;
  await assert.rejects(withRetry('refused', async () => {
    finalCalls++;
    throw new LifeboatError('LB_UNAUTHORIZED', 'no');
  }, { policy: quick }), { code: 'LB_UNAUTHORIZED' });
  assert.equal(finalCalls, 1);

  const started = Date.now();
  await assert.rejects(withRetry('GET http://x/', async () => {
    throw new Error('ECONNRESET');
  }, { policy: quick }), (e: LifeboatError) => e.code === 'LB_UNREACHABLE' && /GET http:\/\/x\/: no success in \d+ attempts/.test(e.message) && /ECONNRESET/.test(e.message));
  assert.ok(Date.now() - started <= quick.budgetMs + 200);
});

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

test('AgentClient: 503 answers and a server that is down then back are waited out; 401 is final', async (t) => {
  let fails = 2;
  const seen: string[] = [];
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    if (req.headers.authorization !== 'Bearer tok') {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'the token does not belong to task 7' } }));
      return;
    }
    if (fails-- > 0) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 7, kind: 'nuke', mac: '52:54:00:00:00:07', state: 'running', options: {} }));
  };
  let server = createServer(handler);
  const port = await listen(server);
  t.after(() => close(server));
  const notes: string[] = [];
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, taskId: 7, token: 'tok' }, { firstDelayMs: 50, maxDelayMs: 200, budgetMs: 5000 }, (m) => notes.push(m));
  assert.equal((await client.task()).id, 7);
  assert.equal(seen.length, 3, 'two 503 answers, then the task');
  assert.equal(notes.filter((n) => /answered 503/.test(n)).length, 2);

  // The server goes away; it comes back on the same port while the client waits.
  await close(server);
  const back = setTimeout(() => {
    server = createServer(handler);
    void listen(server, port);
  }, 400);
  t.after(() => clearTimeout(back));
  assert.equal((await client.task()).kind, 'nuke');
  assert.ok(notes.some((n) => /ECONNREFUSED/.test(n)), notes.join('\n'));

  const stranger = new AgentClient({ server: `http://127.0.0.1:${port}`, taskId: 7, token: 'other' }, quick, () => undefined);
  const before = seen.length;
  await assert.rejects(stranger.task(), (e: LifeboatError) => e.code === 'LB_UNAUTHORIZED' && /does not belong/.test(e.message));
  assert.equal(seen.length, before + 1, 'a refusal is not retried');
});

test('AgentClient: a server gone for good ends in LB_UNREACHABLE within the budget; a lost progress report fails nothing', async () => {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  const notes: string[] = [];
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, taskId: 1, token: 't' }, quick, (m) => notes.push(m));
  await client.progress({ stage: 'restore' }, true);
  assert.ok(notes.some((n) => /progress report lost/.test(n)));
  const started = Date.now();
  await assert.rejects(client.finish({ ok: true, result: {} }), (e: LifeboatError) => e.code === 'LB_UNREACHABLE' && /POST http:\/\/127\.0\.0\.1:\d+\/agent\/v1\/tasks\/1\/finish/.test(e.message));
  assert.ok(Date.now() - started < 2000);
});

test('AgentClient.finish: an attempt whose answer was lost counts; the retry told "ended" (409) is success; a first 409 is a refusal', async (t) => {
  const recorded: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (recorded.length === 0) {
        recorded.push(body);
        res.socket?.destroy(); // recorded, but the answer never reaches the agent
        return;
      }
      res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'LB_CONFLICT', message: 'task 3 has already ended (done)' } }));
    });
  });
  const port = await listen(server);
  t.after(() => close(server));
  const notes: string[] = [];
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, taskId: 3, token: 't' }, quick, (m) => notes.push(m));
  await client.finish({ ok: true, result: { bootloader: 'grub-pc' } });
  assert.deepEqual(recorded.map((b) => JSON.parse(b) as unknown), [{ ok: true, result: { bootloader: 'grub-pc' } }]);
  assert.ok(notes.some((n) => /recorded by an earlier attempt/.test(n)), notes.join('\n'));

  const late = new AgentClient({ server: `http://127.0.0.1:${port}`, taskId: 3, token: 't' }, quick, () => undefined);
  await assert.rejects(late.finish({ ok: true, result: {} }), (e: LifeboatError) => e.code === 'LB_CONFLICT' && /already ended/.test(e.message));
});
