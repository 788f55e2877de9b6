import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { makeWorld } from '../support/world.js';
import { startLocalServer } from '../support/local-server.js';
import { lifeboat } from '../support/cli.js';
import { scratchFilesystem } from '../support/loop-devices.js';

const MAC = '52:54:00:00:0a:01';

async function withImage(t: Parameters<typeof makeWorld>[0]) {
  const world = await makeWorld(t, 'lb-api');
  const src = await scratchFilesystem(world, 'src', 'ext4', 64 << 20);
  await writeFile(join(src.mountpoint, 'hello.txt'), 'hello\n');
  const server = await startLocalServer(world);
  const r = await lifeboat(['archive', '--store', server.store, '--image', 'web', '--root', src.mountpoint]);
  assert.equal(r.exitCode, 0, r.stderr);
  await server.api('POST', '/api/v1/images/rescan');
  return { world, server };
}

test('changes need the admin token; refused calls change nothing; bad bodies get 400 with the reason', async (t) => {
  const { server } = await withImage(t);
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  const noToken = await post({ kind: 'nuke', mac: MAC, image: 'web' });
  assert.equal(noToken.status, 401);
  assert.match(((await noToken.json()) as { error: { message: string } }).error.message, /admin token/);
  const wrong = await post({ kind: 'nuke', mac: MAC, image: 'web' }, { authorization: 'Bearer not-the-token' });
  assert.equal(wrong.status, 401);
  const rename = await fetch(`${server.url}/api/v1/hosts/${MAC}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' });
  assert.equal(rename.status, 401);
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/tasks')).body, [], 'no task was created');
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/hosts')).body, [], 'no host was added');
  const anonymousRead = await fetch(`${server.url}/api/v1/tasks`);
  assert.equal(anonymousRead.status, 401, 'reads need a token too');

  const auth = { authorization: `Bearer ${server.token}` };
  const cases: Array<[unknown, RegExp]> = [
    [{ kind: 'zap', mac: MAC, image: 'web' }, /kind must be one of nuke, capture, compare/],
    [{ kind: 'nuke', mac: 'not-a-mac', image: 'web' }, /mac/],
    [{ kind: 'nuke', mac: MAC }, /image/],
    [{ kind: 'nuke', mac: MAC, image: 'web', extra: 1 }, /additional propert/],
    [{ kind: 'nuke', mac: MAC, image: 'web', options: { policy: 'shrink-everything' } }, /policy must be one of proportional, grow-last/],
  ];
  for (const [body, reason] of cases) {
    const r = await post(body, auth);
    assert.equal(r.status, 400, JSON.stringify(body));
    const err = ((await r.json()) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'LB_INVALID');
    assert.match(err.message, reason);
  }
  const notJson = await fetch(`${server.url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"kind":' });
  assert.equal(notJson.status, 400);
  const unknownImage = await post({ kind: 'nuke', mac: MAC, image: 'nope' }, auth);
  assert.equal(unknownImage.status, 404);
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/tasks')).body, []);
});

test('tasks are one-shot, one open per host, tokens open only their own task, and state survives a restart', async (t) => {
  const { world, server } = await withImage(t);
  const a = await server.taskWithToken('nuke', MAC, 'web');
  const again = await server.api<{ error: { code: string; message: string } }>('POST', '/api/v1/tasks', { kind: 'compare', mac: MAC, image: 'web' });
  assert.equal(again.status, 409);
  assert.match(again.body.error.message, /already has open task/);
  const b = await server.taskWithToken('capture', '52:54:00:00:0a:02', 'new-image');

  const agentGet = (id: number, token: string) => fetch(`${server.url}/agent/v1/tasks/${id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await agentGet(a.id, b.token)).status, 401, "task b's token does not open task a");
  assert.equal((await agentGet(a.id, 'x')).status, 401);
  const view = (await (await agentGet(a.id, a.token)).json()) as { kind: string; image: { name: string; httpUrl: string } };
  assert.equal(view.kind, 'nuke');
  assert.match(view.image.httpUrl, /\/store\/web\/\d{8}T\d{6}Z\/$/);
  // The image is readable over HTTP with ranges; incoming directories and traversal are not.
  const manifest = await fetch(`${view.image.httpUrl}manifest.json`, { headers: { range: 'bytes=0-9' } });
  assert.equal(manifest.status, 206);
  assert.equal((await manifest.text()).length, 10);
  assert.equal((await fetch(`${server.url}/store/web/..%2F..%2Fadmin-token`)).status, 404);
  await mkdir(join(server.store, 'web', '.incoming-x'));
  await writeFile(join(server.store, 'web', '.incoming-x', 'manifest.json'), '{}');
  assert.equal((await fetch(`${server.url}/store/web/.incoming-x/manifest.json`)).status, 404);

  // The machine boots again while its task runs: the task fails (LB_INTERRUPTED), the machine boots its disk.
  const rebooted = await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text();
  assert.doesNotMatch(rebooted, /lifeboat\.token=/);
  assert.match(rebooted, /booted again: the task failed/);
  assert.equal((await agentGet(a.id, a.token)).status, 409, 'an ended task accepts no calls');
  // Re-armed, the next boot mints a new token; a finish with it ends the task.
  assert.equal((await server.api('POST', `/api/v1/tasks/${a.id}/rearm`)).status, 200);
  const script = await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text();
  assert.match(script, /kernel .*\/boot\/rescue\/vmlinuz .*lifeboat\.task=\d+/);
  const fresh = /lifeboat\.token=(\S+)/.exec(script)![1]!;
  assert.notEqual(fresh, a.token);
  const finish = await fetch(`${server.url}/agent/v1/tasks/${a.id}/finish`, { method: 'POST', headers: { authorization: `Bearer ${fresh}`, 'content-type': 'application/json' }, body: JSON.stringify({ ok: false, error: { code: 'LB_DOES_NOT_FIT', message: 'test' } }) });
  assert.equal(finish.status, 200);
  assert.equal((await agentGet(a.id, fresh)).status, 409, 'a finished task accepts no more calls');
  // One-shot: the host boots its disk again.
  assert.match(await (await fetch(`${server.url}/boot/${MAC}.ipxe`)).text(), /no task pending.*\nexit/);

  const cancel = await lifeboat(['tasks', 'cancel', String(b.id), '--server', server.url, '--token-file', join(server.dataDir, 'admin-token')]);
  assert.equal(cancel.exitCode, 0, cancel.stderr);
  const cancelAgain = await lifeboat(['tasks', 'cancel', String(b.id), '--server', server.url, '--token-file', join(server.dataDir, 'admin-token')]);
  assert.equal(cancelAgain.exitCode, 4);
  assert.match(cancelAgain.stderr, /already cancelled/);
  const noToken = await lifeboat(['task', 'nuke', '--host', MAC, '--image', 'web', '--server', server.url, '--token-file', '/nonexistent']);
  assert.equal(noToken.exitCode, 9);
  assert.match(noToken.stderr, /admin token/);

  const openapi = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
  assert.ok(openapi.paths['/api/v1/tasks'] && openapi.paths['/agent/v1/tasks/{id}/finish']);
  const events = (await server.api<Array<{ kind: string }>>('GET', '/api/v1/events')).body.map((e) => e.kind);
  for (const k of ['task.created', 'boot.rescue', 'task.failed', 'task.rearmed', 'task.cancelled']) assert.ok(events.includes(k), `event ${k} recorded`);

  // Restart: the same data directory, the same tasks and hosts.
  server.process.kill('SIGTERM');
  await server.process;
  const again2 = await startLocalServer(world, { store: server.store, dataDir: server.dataDir });
  const tasks = (await again2.api<Array<{ id: number; state: string }>>('GET', '/api/v1/tasks')).body;
  assert.deepEqual(tasks.map((x) => [x.id, x.state]).sort(), [[a.id, 'failed'], [b.id, 'cancelled']].sort());
  const listed = await lifeboat(['hosts', 'list', '--server', again2.url, '--token-file', join(server.dataDir, 'read-token')]);
  assert.match(listed.stdout, new RegExp(MAC));
});

test('the event stream delivers events as they happen', async (t) => {
  const { server } = await withImage(t);
  const controller = new AbortController();
  const res = await fetch(`${server.url}/api/v1/events/stream`, { signal: controller.signal, headers: { authorization: `Bearer ${server.readToken}` } });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  await server.api('POST', '/api/v1/tasks', { kind: 'nuke', mac: MAC, image: 'web' });
  let text = '';
  while (!text.includes('event: task.created')) text += new TextDecoder().decode((await reader.read()).value);
  assert.match(text, /data: \{.*"mac":"52:54:00:00:0a:01"/);
  controller.abort();
});

test('task nuke carries the operator\'s plan edits from flags and a JSON file to the task; a bad edit is refused before any task exists', async (t) => {
  const { world, server } = await withImage(t);
  const tokenFile = join(server.dataDir, 'admin-token');
  const editsFile = join(world.dir, 'edits.json');
  await writeFile(editsFile, JSON.stringify({ diskMap: { '/dev/sda': '/dev/vdb' }, lvSizes: { 'vg0/root': 1073741824 } }));
  const r = await lifeboat(['task', 'nuke', '--host', MAC, '--image', 'web', '--edits', editsFile, '--map', '/dev/sdc=/dev/vda',
    '--drop-disk', '/dev/sdb', '--size', '/dev/sda2=20G', '--size', 'vg0/home=512M', '--dry-run', '--json', '--server', server.url, '--token-file', tokenFile]);
  assert.equal(r.exitCode, 0, r.stderr);
  const id = (JSON.parse(r.stdout) as { id: number }).id;
  const task = (await server.api<{ options: Record<string, unknown> }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.deepEqual(task.options, {
    policy: 'proportional', dryRun: true,
    edits: {
      diskMap: { '/dev/sda': '/dev/vdb', '/dev/sdc': '/dev/vda' },
      dropDisks: ['/dev/sdb'],
      partitionSizes: { '/dev/sda2': 20 * 1024 ** 3 },
      lvSizes: { 'vg0/root': 1024 ** 3, 'vg0/home': 512 * 1024 ** 2 },
    },
  });

  await writeFile(join(world.dir, 'typo.json'), JSON.stringify({ dropDisk: ['/dev/sdb'] }));
  const bad: Array<[string[], RegExp]> = [
    [['--map', '/dev/sda'], /--map \/dev\/sda: use --map \/dev\/sda=\/dev\/vdb/],
    [['--map', '/dev/sda=/dev/vda', '--map', '/dev/sdb=/dev/vda'], /two source disks are mapped onto \/dev\/vda/],
    [['--map', '/dev/sdb=/dev/vda', '--drop-disk', '/dev/sdb'], /\/dev\/sdb is both mapped .* and left out/],
    [['--size', 'home=5G'], /name a source partition \(\/dev\/sda2\) or a logical volume as VG\/LV/],
    [['--size', '/dev/sda2=lots'], /"lots" is not a size/],
    [['--drop-disk', 'sdb'], /name the source disk by its path/],
    [['--edits', join(world.dir, 'typo.json')], /typo\.json: .*dropDisk/],
    [['--edits', join(world.dir, 'missing.json')], /missing\.json: ENOENT/],
  ];
  for (const [flags, message] of bad) {
    const refused = await lifeboat(['task', 'nuke', '--host', MAC, '--image', 'web', ...flags, '--server', server.url, '--token-file', tokenFile]);
    assert.equal(refused.exitCode, 2, `${flags.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, message, flags.join(' '));
  }
  const capture = await lifeboat(['task', 'capture', '--host', MAC, '--image', 'web2', '--drop-disk', '/dev/sdb', '--server', server.url, '--token-file', tokenFile]);
  assert.equal(capture.exitCode, 2);
  assert.match(capture.stderr, /for nuke only/);
  assert.deepEqual((await server.api<Array<{ id: number }>>('GET', '/api/v1/tasks')).body.map((x) => x.id), [id], 'no refused call created a task');
});

test('the store over HTTP: whole files of every size and byte ranges across the sender\'s 1 MiB buffers come back exact', async (t) => {
  const { server } = await withImage(t);
  const version = (await server.api<Array<{ version: string }>>('GET', '/api/v1/images/web')).body[0]!.version;
  const dir = join(server.store, 'web', version);
  const sizes = [0, 1, 2669, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 12345];
  const files = new Map<number, Buffer>();
  for (const size of sizes) {
    files.set(size, randomBytes(size));
    await writeFile(join(dir, `f${size}.bin`), files.get(size)!);
  }
  const url = (size: number) => `${server.url}/store/web/${version}/f${size}.bin`;
  for (const size of sizes) {
    const r = await fetch(url(size));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(size));
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(files.get(size)!), `${size} bytes whole`);
  }
  const big = files.get(5 * (1 << 20) + 12345)!;
  const ranges: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0], [`bytes=${(1 << 20) - 5}-${(1 << 20) + 5}`, (1 << 20) - 5, (1 << 20) + 5],
    [`bytes=1000-${3 * (1 << 20)}`, 1000, 3 * (1 << 20)], ['bytes=-100', big.length - 100, big.length - 1],
    [`bytes=${4 * (1 << 20)}-`, 4 * (1 << 20), big.length - 1], [`bytes=10-${big.length + 1000}`, 10, big.length - 1],
  ];
  for (const [header, start, end] of ranges) {
    const r = await fetch(url(big.length), { headers: { range: header } });
    assert.equal(r.status, 206, header);
    assert.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${big.length}`);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(start, end + 1)), header);
  }
  const past = await fetch(url(big.length), { headers: { range: `bytes=${big.length}-` } });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), `bytes */${big.length}`);
  const head = await fetch(url(big.length), { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(big.length));
});
