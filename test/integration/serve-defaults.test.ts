import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld } from '../support/world.js';
import { freePort, startLocalServer } from '../support/local-server.js';
import { startLifeboat } from '../support/cli.js';
import { waitFor } from '../support/netns.js';

/** Issue 11, item 6 (rest): state files are 0600; HTTP listens on the test-bed interface when one is given. */

const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

test('lifeboat.sqlite, its -wal and -shm and the token files are 0600, and an older 0644 database is made so', async (t) => {
  const world = await makeWorld(t, 'lb-serve');
  const server = await startLocalServer(world);
  assert.equal((await server.api('PUT', '/api/v1/hosts/52:54:00:0e:00:01', { name: 'a' })).status, 200);
  const files = ['lifeboat.sqlite', 'lifeboat.sqlite-wal', 'lifeboat.sqlite-shm', 'admin-token', 'read-token'];
  for (const f of files) assert.equal(await modeOf(join(server.dataDir, f)), '600', f);

  server.process.kill('SIGTERM');
  await server.process;
  await chmod(join(server.dataDir, 'lifeboat.sqlite'), 0o644);
  await chmod(join(server.dataDir, 'read-token'), 0o644);
  const again = await startLocalServer(world, { dataDir: server.dataDir, store: server.store });
  assert.equal((await again.api('PUT', '/api/v1/hosts/52:54:00:0e:00:02', { name: 'b' })).status, 200);
  for (const f of ['lifeboat.sqlite', 'lifeboat.sqlite-wal', 'lifeboat.sqlite-shm']) assert.equal(await modeOf(join(server.dataDir, f)), '600', `${f} after a restart`);
  // A token file the operator made readable is theirs to fix: the server says so.
  assert.match(await again.log(), new RegExp(`"msg":"the read-only token file can be read by other users: chmod 600 ${join(server.dataDir, 'read-token')}"`));
});

test('with --interface and no address in --http, HTTP listens on the interface address only', async (t) => {
  const world = await makeWorld(t, 'lb-serve');
  const start = async (name: string, extra: string[]) => {
    const port = await freePort();
    const child = startLifeboat(['serve', '--data', join(world.dir, name), '--tftp', 'off', '--http', String(port), ...extra]);
    world.defer(async () => {
      child.kill('SIGTERM');
      await child;
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await waitFor('lifeboat serving', () => stderr.split('\n').find((l) => l.includes('"lifeboat serving"')), 20000);
    return { port, line };
  };
  const reach = async (host: string, port: number) => {
    try {
      return (await fetch(`http://${host}:${port}/api/v1/openapi.json`)).status;
    } catch (e) {
      return String((e as Error & { cause?: { code?: string } }).cause?.code ?? e);
    }
  };
  const onLo = await start('lo', ['--interface', 'lo']);
  assert.match(onLo.line, new RegExp(`"http":"http://127\\.0\\.0\\.1:${onLo.port}"`));
  assert.equal(await reach('127.0.0.1', onLo.port), 200);
  assert.equal(await reach('127.0.0.2', onLo.port), 'ECONNREFUSED', 'not listening on other addresses');
  const anywhere = await start('any', []);
  assert.equal(await reach('127.0.0.2', anywhere.port), 200, 'without --interface: every address, as before');
});
