import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld } from '../support/world.js';
import { lifeboat } from '../support/cli.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { placeholderRescueSystem, startLocalServer } from '../support/local-server.js';

/**
 * Tasks that cannot run are refused when they are created, by the API and so by the CLI, with the
 * reason and the fix: no rescue system to boot, a capture with no share to write into, an image
 * version whose manifest does not read. Nothing is created by a refused call.
 */

const MAC = '52:54:00:7b:0e:01';
const shared = await makeWorld({ after }, 'lb-refuse');
const src = await scratchFilesystem(shared, 'src', 'ext4', 64 << 20);
await writeFile(join(src.mountpoint, 'hello.txt'), 'hello\n');
const STORE = join(shared.dir, 'store');
const archived = await lifeboat(['archive', '--store', STORE, '--image', 'web', '--root', src.mountpoint]);
assert.equal(archived.exitCode, 0, archived.stderr);

type Refusal = { error: { code: string; message: string } };

test('no rescue system built: nuke, compare and capture are refused (409, CLI exit 4, one line); once it is there they are accepted', async (t) => {
  const world = await makeWorld(t, 'lb-ref');
  const server = await startLocalServer(world, { store: STORE, rescue: false });
  const rescueDir = join(server.dataDir, 'netboot', 'rescue');
  const expected = (kind: string) =>
    `the ${kind} task cannot run: no rescue system to boot (${rescueDir}/vmlinuz and ${rescueDir}/initrd.img are missing): build it with lifeboat netboot build --out ${rescueDir} (npm start does), or start lifeboat serve with --rescue-dir DIR of a built one`;
  for (const [kind, image] of [['nuke', 'web'], ['compare', 'web'], ['capture', 'new']] as const) {
    const r = await server.api<Refusal>('POST', '/api/v1/tasks', { kind, mac: MAC, image });
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.deepEqual(r.body.error, { code: 'LB_CONFLICT', message: expected(kind) });
  }
  const tokenFile = join(server.dataDir, 'admin-token');
  const cli = await lifeboat(['task', 'nuke', '--host', MAC, '--image', 'web', '--server', server.url, '--token-file', tokenFile]);
  assert.equal(cli.exitCode, 4);
  assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
  assert.ok(cli.stderr.includes(expected('nuke')), cli.stderr);
  assert.deepEqual((await server.api<unknown[]>('GET', '/api/v1/tasks')).body, [], 'no refused call created a task');

  await placeholderRescueSystem(rescueDir);
  const accepted = await lifeboat(['task', 'nuke', '--host', MAC, '--image', 'web', '--server', server.url, '--token-file', tokenFile]);
  assert.equal(accepted.exitCode, 0, accepted.stderr);
});

test('a capture with no writable NFS share is refused with the way to get one; a nuke on the same server is accepted', async (t) => {
  const world = await makeWorld(t, 'lb-ref');
  const server = await startLocalServer(world, { store: STORE, capturesShare: false });
  const r = await server.api<Refusal>('POST', '/api/v1/tasks', { kind: 'capture', mac: MAC, image: 'new' });
  assert.equal(r.status, 409);
  assert.equal(r.body.error.message, "the capture task cannot run: a capture writes into the server's NFS capture share and this server exports none: start lifeboat serve with --nfs auto (and --interface for the test-bed subnet)");
  const cli = await lifeboat(['task', 'capture', '--host', MAC, '--image', 'new', '--server', server.url, '--token-file', join(server.dataDir, 'admin-token')]);
  assert.equal(cli.exitCode, 4);
  assert.match(cli.stderr, /^lifeboat task: server says \(409\): the capture task cannot run: .* --nfs auto \(and --interface for the test-bed subnet\)$/);
  assert.equal((await server.api('POST', '/api/v1/tasks', { kind: 'nuke', mac: MAC, image: 'web' })).status, 201);
});

test('an image version whose manifest does not read is refused (422 LB_IMAGE_CORRUPT) with the version named', async (t) => {
  const world = await makeWorld(t, 'lb-ref');
  const store = join(world.dir, 'store');
  const copied = await lifeboat(['archive', '--store', store, '--image', 'broken', '--root', src.mountpoint]);
  assert.equal(copied.exitCode, 0, copied.stderr);
  const version = (/broken@(\d{8}T\d{6}Z)/.exec(copied.stdout + copied.stderr) ?? [])[1];
  assert.ok(version, copied.stdout + copied.stderr);
  await writeFile(join(store, 'broken', version, 'manifest.json'), '{"format": "lifeboat-image/1", "trunc');
  const server = await startLocalServer(world, { store });
  const r = await server.api<Refusal>('POST', '/api/v1/tasks', { kind: 'nuke', mac: MAC, image: 'broken' });
  assert.equal(r.status, 422, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'LB_IMAGE_CORRUPT');
  assert.match(r.body.error.message, new RegExp(`^image broken@${version} cannot be used: `));
});
