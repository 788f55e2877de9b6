import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { makeWorld, sh } from '../support/world.js';
import { runInNamespace, serverClientLink } from '../support/netns.js';
import { runUdhcpc, serveFullDhcp } from '../support/dhcp-lab.js';
import { startLocalServer, type LocalServer } from '../support/local-server.js';
import { lifeboat } from '../support/cli.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { announcedUpload, heldRequest, httpFrom } from '../support/http-from.js';

// Issue 11's attacks on tasks, replayed against a real server: an anonymous neighbour on the
// test-bed network (here 127.0.0.2; the server and the "machine" are on 127.0.0.1) must not learn
// a task, take its token, end it, or cost the server memory; concurrent ends of a task have one
// winner; reads need a token and the read-only token changes nothing.

const MAC = '52:54:00:00:0c:01';
const OTHER = '127.0.0.2';

// One image for the whole file; each test starts its own server on it.
const shared = await makeWorld({ after }, 'lb-hijack');
const src = await scratchFilesystem(shared, 'src', 'ext4', 64 << 20);
await writeFile(join(src.mountpoint, 'hello.txt'), 'hello\n');
const STORE = join(shared.dir, 'store');
const archived = await lifeboat(['archive', '--store', STORE, '--image', 'web', '--root', src.mountpoint]);
assert.equal(archived.exitCode, 0, archived.stderr);

async function serverFor(t: Parameters<typeof makeWorld>[0]): Promise<LocalServer> {
  const world = await makeWorld(t, 'lb-hj');
  return startLocalServer(world, { store: STORE, dataDir: join(world.dir, 'data') });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };

function agentOf(server: LocalServer, id: number, token: string) {
  const url = `${server.url}/agent/v1/tasks/${id}`;
  return {
    get: () => fetch(url, { headers: bearer(token) }),
    finish: (report: unknown) => fetch(`${url}/finish`, { method: 'POST', headers: { ...bearer(token), ...json }, body: JSON.stringify(report) }),
    put: (name: string, body: Buffer) => fetch(`${url}/files/${name}`, { method: 'PUT', headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, body }),
  };
}

async function endEvents(server: LocalServer, id: number): Promise<string[]> {
  const events = (await server.api<Array<{ kind: string }>>('GET', `/api/v1/events?task=${id}`)).body;
  return events.map((e) => e.kind).filter((k) => k === 'task.done' || k === 'task.failed');
}

const errorOf = (text: string) => (JSON.parse(text) as { error: { code: string; message: string } }).error;

test('the hijack of issue 11 fails at every step, and the real agent finishes its task', async (t) => {
  const server = await serverFor(t);
  const { id, token } = await server.taskWithToken('nuke', MAC, 'web');
  const agent = agentOf(server, id, token);
  assert.equal((await agent.get()).status, 200, 'the real agent fetched its task: running');

  const listed = await httpFrom(OTHER, 'GET', `${server.url}/api/v1/tasks?state=running`);
  assert.equal(listed.status, 401, 'running tasks are not listed to anyone');
  assert.match(errorOf(listed.text).message, /needs a token/);
  assert.doesNotMatch(listed.text, new RegExp(MAC));

  for (const path of [`/boot/${MAC}.ipxe`, `/boot/ipxe?mac=${MAC}`]) {
    const script = await httpFrom(OTHER, 'GET', `${server.url}${path}`);
    assert.equal(script.status, 200);
    assert.doesNotMatch(script.text, /lifeboat\.token=|kernel/, `${path} from another address carries no token`);
    assert.match(script.text, /running on another boot/);
  }
  const view = await agent.get();
  assert.equal(view.status, 200, "the real agent's token still works");
  assert.equal(((await view.json()) as { state: string }).state, 'running');

  const forged = { ok: false, error: { code: 'LB_DOES_NOT_FIT', message: 'forged' } };
  const finishUrl = `${server.url}/agent/v1/tasks/${id}/finish`;
  const noToken = await httpFrom(OTHER, 'POST', finishUrl, { headers: json, body: JSON.stringify(forged) });
  assert.equal(noToken.status, 401);
  const wrongToken = await httpFrom(OTHER, 'POST', finishUrl, { headers: { ...json, ...bearer('Zm9yZ2VkLXRva2VuLWZvcmdlZC10b2tlbg') }, body: JSON.stringify(forged) });
  assert.equal(wrongToken.status, 401);
  assert.match(errorOf(wrongToken.text).message, /does not belong to task/);
  const stolen = await httpFrom(OTHER, 'POST', finishUrl, { headers: { ...json, ...bearer(token) }, body: JSON.stringify(forged) });
  assert.equal(stolen.status, 403, 'even the real token is refused from another address');
  assert.match(errorOf(stolen.text).message, new RegExp(`token belongs to the boot at 127\\.0\\.0\\.1; this call came from ${OTHER.replaceAll('.', '\\.')}`));

  const done = await agent.finish({ ok: true, result: { restored: true } });
  assert.equal(done.status, 200);
  const task = (await server.api<{ state: string; result: unknown }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.equal(task.state, 'done');
  assert.deepEqual(task.result, { restored: true });
  assert.deepEqual(await endEvents(server, id), ['task.done']);
  for (let i = 0; i < 20; i++) assert.equal((await httpFrom(OTHER, 'GET', `${server.url}/boot/52:54:00:99:00:${String(i).padStart(2, '0')}.ipxe`)).status, 200);
  assert.deepEqual((await server.api<Array<{ mac: string }>>('GET', '/api/v1/hosts')).body.map((h) => h.mac), [MAC], 'script fetches registered no host');
});

test('a machine that boots again mid-task fails its task LB_INTERRUPTED; an admin re-arms it; the next boot mints a token that works', async (t) => {
  const server = await serverFor(t);
  const adminFile = join(server.dataDir, 'admin-token');
  const readFile = join(server.dataDir, 'read-token');
  const { id, token } = await server.taskWithToken('nuke', MAC, 'web');
  assert.equal((await agentOf(server, id, token).get()).status, 200);

  const again = await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text();
  assert.doesNotMatch(again, /lifeboat\.token=|kernel/);
  assert.match(again, /booted again: the task failed; lifeboat tasks rearm/);
  const failed = (await server.api<{ state: string; errorCode: string; error: string }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.deepEqual([failed.state, failed.errorCode], ['failed', 'LB_INTERRUPTED']);
  assert.match(failed.error, /the machine booted again while the task ran/);
  const events = (await server.api<Array<{ kind: string; data: { code?: string } | null }>>('GET', `/api/v1/events?task=${id}`)).body;
  assert.equal(events.filter((e) => e.kind === 'task.failed' && e.data?.code === 'LB_INTERRUPTED').length, 1);
  const dead = await agentOf(server, id, token).get();
  assert.equal(dead.status, 409, 'the interrupted boot\'s token opens nothing');
  assert.match(((await dead.json()) as { error: { message: string } }).error.message, /is failed: it accepts no more reports/);
  assert.match(await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text(), /no task pending/, 'until re-armed the machine boots its disk');

  const byReader = await lifeboat(['tasks', 'rearm', String(id), '--server', server.url, '--token-file', readFile]);
  assert.equal(byReader.exitCode, 9, byReader.stderr);
  assert.match(byReader.stderr, /read-only token cannot change anything/);
  const rearmed = await lifeboat(['tasks', 'rearm', String(id), '--server', server.url, '--token-file', adminFile]);
  assert.equal(rearmed.exitCode, 0, rearmed.stderr);
  assert.match(rearmed.stdout, new RegExp(`task ${id} re-armed`));
  const pending = (await server.api<{ state: string; errorCode: string | null }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.deepEqual([pending.state, pending.errorCode], ['pending', null]);

  const script = await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text();
  const fresh = /lifeboat\.token=(\S+)/.exec(script)?.[1];
  assert.ok(fresh && fresh !== token, `a new token:\n${script}`);
  const agent = agentOf(server, id, fresh);
  assert.equal((await agent.get()).status, 200);
  assert.equal((await agent.finish({ ok: true })).status, 200);
  const kinds = (await server.api<Array<{ kind: string }>>('GET', `/api/v1/events?task=${id}`)).body.map((e) => e.kind);
  assert.deepEqual(kinds.filter((k) => ['boot.rescue', 'task.running', 'task.failed', 'task.rearmed', 'task.done'].includes(k)), ['boot.rescue', 'task.running', 'task.failed', 'task.rearmed', 'boot.rescue', 'task.running', 'task.done']);
  const doneAgain = await server.api<{ error: { code: string; message: string } }>('POST', `/api/v1/tasks/${id}/rearm`);
  assert.equal(doneAgain.status, 409);
  assert.match(doneAgain.body.error.message, /is done: it cannot be re-armed/);
});

test('8 concurrent unauthenticated 60 MiB uploads are refused before their bodies: the server stays under 200 MB and serves the agent after', async (t) => {
  const server = await serverFor(t);
  const pid = server.process.pid!;
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  const { id, token } = await server.taskWithToken('nuke', MAC, 'web');
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 10);
  t.after(() => clearInterval(sampler));
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => announcedUpload(`${server.url}/agent/v1/tasks/${id}/files/big${i}.bin`, 60 << 20, i % 2 === 0 ? {} : bearer('not-the-token-of-this-task-at-all'))),
  );
  await new Promise((r) => setTimeout(r, 300));
  clearInterval(sampler);
  peak = Math.max(peak, rss());
  assert.deepEqual(results.map((r) => r.status), Array(8).fill(401));
  for (const r of results) assert.equal(errorOf(r.text).code, 'LB_UNAUTHORIZED');
  t.diagnostic(`server RSS ${(before / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB; the clients wrote ${results.map((r) => (r.sent / 2 ** 20).toFixed(0)).join(', ')} MiB before the answer`);
  assert.ok(peak < 200 * 2 ** 20, `server RSS peaked at ${(peak / 2 ** 20).toFixed(0)} MB`);

  const agent = agentOf(server, id, token);
  assert.equal((await agent.get()).status, 200);
  assert.equal((await agent.put('plan.txt', Buffer.from('the plan\n'))).status, 204);
  const file = await fetch(`${server.url}/api/v1/tasks/${id}/files/plan.txt`, { headers: bearer(server.readToken) });
  assert.equal(await file.text(), 'the plan\n');
  assert.deepEqual((await server.api<{ files: string[] }>('GET', `/api/v1/tasks/${id}`)).body.files, ['plan.txt'], 'no refused upload stored anything');
});

test("a task's files are capped in count and total bytes, with the reason; an announced body that cannot fit is refused before it is read", async (t) => {
  const server = await serverFor(t);
  const { id, token } = await server.taskWithToken('compare', MAC, 'web');
  const agent = agentOf(server, id, token);
  for (let i = 0; i < 32; i++) assert.equal((await agent.put(`f${String(i).padStart(2, '0')}.txt`, Buffer.from(`file ${i}\n`))).status, 204);
  const tooMany = await agent.put('f32.txt', Buffer.from('one too many\n'));
  assert.equal(tooMany.status, 409);
  assert.match(((await tooMany.json()) as { error: { message: string } }).error.message, /already holds 32 files, the most a task may store/);
  assert.equal((await agent.put('f00.txt', Buffer.alloc(40 << 20, 1))).status, 204, 'a stored name may be replaced');

  const announced = await announcedUpload(`${server.url}/agent/v1/tasks/${id}/files/f01.txt`, 30 << 20, bearer(token));
  assert.equal(announced.status, 413);
  assert.match(errorOf(announced.text).message, /f01\.txt \(31457280 bytes\) does not fit: task \d+'s files may total 67108864 bytes and \d+ are left/);
  // Without a length announced (chunked), the same cap holds when the body is stored.
  const chunked = await fetch(`${server.url}/agent/v1/tasks/${id}/files/f02.txt`, {
    method: 'PUT',
    headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
    body: new Blob([Buffer.alloc(30 << 20, 2)]).stream(),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  const task = (await server.api<{ files: string[] }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.equal(task.files.length, 32);
  const f02 = await fetch(`${server.url}/api/v1/tasks/${id}/files/f02.txt`, { headers: bearer(server.readToken) });
  assert.equal(await f02.text(), 'file 2\n', 'the refused upload left the stored file as it was');
});

test('two concurrent finish calls: exactly one wins, the other gets 409, and exactly one end event is recorded', async (t) => {
  const server = await serverFor(t);
  for (let i = 0; i < 6; i++) {
    const mac = `52:54:00:00:0d:${String(i).padStart(2, '0')}`;
    // A capture's finish moves an image (slow); a nuke's is one UPDATE: both must have one winner.
    const { id, token } = i % 2 === 0 ? await server.taskWithToken('nuke', mac, 'web') : await server.taskWithToken('capture', mac, `cap${i}`);
    const agent = agentOf(server, id, token);
    assert.equal((await agent.get()).status, 200);
    // Both calls are authenticated (headers) before either body arrives, so both reach the transition.
    const url = `${server.url}/agent/v1/tasks/${id}/finish`;
    const calls = [{ ok: true }, { ok: false, error: { code: 'LB_TOOL_FAILED', message: 'second caller' } }].map((report) => heldRequest('POST', url, { ...bearer(token), ...json }, JSON.stringify(report)));
    await new Promise((r) => setTimeout(r, 200));
    const answers = await Promise.all(calls.map((c) => c.send()));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 409], `task ${id}: ${answers.map((a) => a.text).join(' ')}`);
    const loser = answers.find((a) => a.status === 409)!;
    assert.equal(errorOf(loser.text).code, 'LB_CONFLICT');
    assert.equal((await endEvents(server, id)).length, 1, `task ${id}: ${await endEvents(server, id)}`);
  }
});

test('reads need a token; the read-only token reads everything and changes nothing; the admin preview mints no token; OpenAPI declares each route\'s security', async (t) => {
  const server = await serverFor(t);
  const { id, token } = await server.taskWithToken('nuke', MAC, 'web');
  assert.equal((await agentOf(server, id, token).put('restore-plan.sh', Buffer.from('#!/bin/sh\n'))).status, 204);
  assert.equal((await stat(join(server.dataDir, 'read-token'))).mode & 0o777, 0o600);
  assert.notEqual(server.readToken, server.token);

  const reads = ['/api/v1/hosts', `/api/v1/hosts/${MAC}`, '/api/v1/images', '/api/v1/images/web', '/api/v1/tasks', `/api/v1/tasks/${id}`, `/api/v1/tasks/${id}/files/restore-plan.sh`, '/api/v1/leases', '/api/v1/events', '/api/v1/events?limit=5'];
  for (const path of reads) {
    const anonymous = await fetch(`${server.url}${path}`);
    assert.equal(anonymous.status, 401, path);
    assert.match(errorOf(await anonymous.text()).message, /needs a token: .*read-only token/, path);
    assert.equal((await fetch(`${server.url}${path}`, { headers: bearer('guess-guess-guess-guess') })).status, 401, path);
    assert.equal((await fetch(`${server.url}${path}`, { headers: bearer(server.readToken) })).status, 200, `${path} with the read-only token`);
    assert.equal((await fetch(`${server.url}${path}`, { headers: bearer(server.token) })).status, 200, `${path} with the admin token`);
  }
  assert.equal((await fetch(`${server.url}/api/v1/events/stream`)).status, 401);
  const controller = new AbortController();
  const stream = await fetch(`${server.url}/api/v1/events/stream`, { headers: bearer(server.readToken), signal: controller.signal });
  assert.equal(stream.headers.get('content-type'), 'text/event-stream');
  controller.abort();

  const writes: Array<[string, string, unknown?]> = [
    ['POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:00:0c:02', image: 'web' }],
    ['PUT', `/api/v1/hosts/${MAC}`, { name: 'renamed' }],
    ['POST', `/api/v1/tasks/${id}/cancel`],
    ['POST', `/api/v1/tasks/${id}/rearm`],
    ['POST', '/api/v1/images/rescan'],
    ['GET', `/api/v1/hosts/${MAC}/boot-script`],
  ];
  for (const [method, path, body] of writes) {
    const r = await fetch(`${server.url}${path}`, { method, headers: { ...bearer(server.readToken), ...(body ? json : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.equal(r.status, 403, `${method} ${path} with the read-only token`);
    assert.match(errorOf(await r.text()).message, /read-only token cannot change anything/);
    assert.equal((await fetch(`${server.url}${path}`, { method, ...(body ? { headers: json, body: JSON.stringify(body) } : {}) })).status, 401, `${method} ${path} anonymous`);
  }
  const tasks = (await server.api<Array<{ id: number; state: string }>>('GET', '/api/v1/tasks')).body;
  assert.deepEqual(tasks.map((x) => [x.id, x.state]), [[id, 'pending']], 'nothing changed');
  assert.equal((await server.api<{ host: { name: string | null } }>('GET', `/api/v1/hosts/${MAC}`)).body.host.name, null);

  const preview = await fetch(`${server.url}/api/v1/hosts/${MAC}/boot-script`, { headers: bearer(server.token) });
  const previewText = await preview.text();
  assert.match(previewText, new RegExp(`kernel .*lifeboat\\.task=${id} lifeboat\\.token=MINTED-AT-BOOT `));
  assert.equal((await agentOf(server, id, token).get()).status, 200, 'the preview revoked nothing');
  assert.equal((await agentOf(server, id, 'MINTED-AT-BOOT').get()).status, 401);
  const cliPreview = await lifeboat(['hosts', 'boot-script', MAC, '--server', server.url, '--token-file', join(server.dataDir, 'admin-token')]);
  assert.equal(cliPreview.exitCode, 0, cliPreview.stderr);
  assert.match(cliPreview.stdout, /lifeboat\.token=MINTED-AT-BOOT /);
  assert.equal((await agentOf(server, id, token).get()).status, 200, 'the CLI preview revoked nothing either');
  const listed = await lifeboat(['tasks', 'show', String(id), '--file', 'restore-plan.sh', '--server', server.url, '--token-file', join(server.dataDir, 'read-token')]);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.equal(listed.stdout, '#!/bin/sh', 'the file, as stored (execa strips the last newline)');
  const anonymousCli = await lifeboat(['tasks', 'list', '--server', server.url, '--token-file', '/nonexistent']);
  assert.equal(anonymousCli.exitCode, 9);
  assert.match(anonymousCli.stderr, /needs a token/);

  const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { security?: Array<Record<string, string[]>> }>>;
    components: { securitySchemes: Record<string, { type: string; scheme: string }> };
  };
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['admin', 'read', 'task']);
  let checked = 0;
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const expected = path.startsWith('/agent/v1/') ? [{ task: [] }]
        : path.startsWith('/api/v1/') ? (method === 'get' && !path.endsWith('/boot-script') ? [{ read: [] }, { admin: [] }] : [{ admin: [] }])
        : path === '/metrics' ? [{ read: [] }, { admin: [] }]
        : [];
      assert.deepEqual(op.security, expected, `${method.toUpperCase()} ${path}`);
      checked++;
    }
  }
  assert.ok(checked >= 24, `${checked} operations checked`);
});

test('full DHCP mode: only a fetch from the address leased to the MAC gets a token, and the agent must call from that address', async (t) => {
  const mac = '52:54:00:78:0c:01';
  const link = await serverClientLink(t, 'lb-hjd', { address: '10.78.0.1/24' }, { mac });
  const { world, c, cIf } = link;
  const neighbour = '10.78.0.60';
  await sh('ip', ['-n', c, 'addr', 'add', `${neighbour}/24`, 'dev', cIf]);
  const { dataDir } = await serveFullDhcp(link, ['--store', STORE, '--http', '10.78.0.1:8080', '--range', '10.78.0.100-10.78.0.120']);
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const base = 'http://10.78.0.1:8080';
  const curl = async (from: string, path: string, extra: string[] = []) => {
    const r = await runInNamespace(c, 'curl', ['-sS', '--max-time', '10', '--interface', from, '-w', '\n%{http_code}', ...extra, `${base}${path}`]);
    assert.equal(r.exitCode, 0, `curl from ${from} ${path}: ${r.stderr}`);
    const lines = String(r.stdout).split('\n');
    return { status: Number(lines.pop()), text: lines.join('\n') };
  };
  const created = await curl(neighbour, '/api/v1/tasks', ['-X', 'POST', '-H', `Authorization: Bearer ${admin}`, '-H', 'Content-Type: application/json', '--data', JSON.stringify({ kind: 'nuke', mac, image: 'web' })]);
  assert.equal(created.status, 201, created.text);
  const id = (JSON.parse(created.text) as { id: number }).id;

  const beforeLease = await curl(neighbour, `/boot/${mac}.ipxe`);
  assert.doesNotMatch(beforeLease.text, /lifeboat\.token=/);
  assert.match(beforeLease.text, /holds no lease from this server/);

  const lease = await runUdhcpc(world, c, cIf);
  assert.ok(lease.bound?.ip, `no lease:\n${lease.output}`);
  const leased = lease.bound.ip;
  // udhcpc's script configures the interface (and may flush other addresses): set both again.
  for (const address of [leased, neighbour]) await sh('ip', ['-n', c, 'addr', 'replace', `${address}/24`, 'dev', cIf]);

  const fromNeighbour = await curl(neighbour, `/boot/${mac}.ipxe`);
  assert.doesNotMatch(fromNeighbour.text, /lifeboat\.token=/);
  assert.match(fromNeighbour.text, new RegExp(`is leased ${leased.replaceAll('.', '\\.')}, and this fetch came from ${neighbour.replaceAll('.', '\\.')}`));
  const script = await curl(leased, `/boot/${mac}.ipxe`);
  const token = /lifeboat\.token=(\S+)/.exec(script.text)?.[1];
  assert.ok(token, script.text);

  const agentCall = (from: string) => curl(from, `/agent/v1/tasks/${id}`, ['-H', `Authorization: Bearer ${token}`]);
  const stolen = await agentCall(neighbour);
  assert.equal(stolen.status, 403);
  assert.match(stolen.text, new RegExp(`belongs to the boot at ${leased.replaceAll('.', '\\.')}`));
  assert.equal((await agentCall(leased)).status, 200);
  const finish = await curl(leased, `/agent/v1/tasks/${id}/finish`, ['-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json', '--data', '{"ok":true}']);
  assert.equal(finish.status, 200, finish.text);
});
