import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld } from '../support/world.js';
import { runInNamespace, serverClientLink, startInNamespace, waitFor } from '../support/netns.js';
import { runUdhcpc } from '../support/dhcp-lab.js';
import { lifeboat, LIFEBOAT_BIN } from '../support/cli.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { placeholderRescueSystem, startLocalServer } from '../support/local-server.js';
import { metricDeltas, parseMetrics, sampleKey } from '../support/prometheus-text.js';

/**
 * GET /healthz and GET /metrics on a real `lifeboat serve`. The metrics test runs the server in a
 * namespace with full DHCP, TFTP and HTTP on a veth link, and from the client's side does one DHCP
 * exchange (busybox udhcpc), one TFTP fetch (curl tftp://) and one task as its rescue agent would
 * (boot script, agent start, finish); /metrics before and after, parsed by a Prometheus text-format
 * parser, must differ by exactly that.
 */

const shared = await makeWorld({ after }, 'lb-metrics');
const src = await scratchFilesystem(shared, 'src', 'ext4', 64 << 20);
await writeFile(join(src.mountpoint, 'hello.txt'), 'hello\n');
const STORE = join(shared.dir, 'store');
const archived = await lifeboat(['archive', '--store', STORE, '--image', 'web', '--root', src.mountpoint]);
assert.equal(archived.exitCode, 0, archived.stderr);

test('/metrics moves by exactly one DHCP exchange, one TFTP fetch and one restore task', async (t) => {
  const mac = '52:54:00:7a:0d:01';
  const link = await serverClientLink(t, 'lb-met', { address: '10.79.0.1/24' }, { mac });
  const { world, s, sIf, c, cIf } = link;
  // The rescue files the boot script names; this test's machine is curl and never boots them.
  const rescueDir = join(world.dir, 'rescue');
  await placeholderRescueSystem(rescueDir);
  const dataDir = join(world.dir, 'data');
  const base = 'http://10.79.0.1:8080';
  const serve = startInNamespace(world, s, process.execPath, [
    LIFEBOAT_BIN, 'serve', '--data', dataDir, '--store', STORE, '--http', '10.79.0.1:8080', '--tftp', '10.79.0.1:69',
    '--dhcp', 'full', '--interface', sIf, '--range', '10.79.0.100-10.79.0.120', '--rescue-dir', rescueDir,
  ], join(world.dir, 'serve.log'));
  await waitFor('lifeboat serve', () => (serve.log().includes('"lifeboat serving"') ? true : undefined), 30000);
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const reader = readFileSync(join(dataDir, 'read-token'), 'utf8').trim();

  // Every HTTP body the server sends between the two scrapes is counted: the test adds them up.
  let httpBytes = 0;
  const curl = async (path: string, extra: string[] = []) => {
    const r = await runInNamespace(c, 'curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code} %{size_download}', ...extra, `${base}${path}`]);
    assert.equal(r.exitCode, 0, `curl ${path}: ${r.stderr}`);
    const lines = String(r.stdout).split('\n');
    const [status, size] = lines.pop()!.split(' ').map(Number) as [number, number];
    httpBytes += size;
    return { status, text: lines.join('\n') };
  };
  const json = (body: unknown) => ['-H', 'Content-Type: application/json', '--data', JSON.stringify(body)];

  // Anyone on the link may ask /healthz; /metrics needs the read-only (or admin) token.
  await runInNamespace(c, 'ip', ['addr', 'add', '10.79.0.50/24', 'dev', cIf]);
  assert.equal((await curl('/metrics')).status, 401);
  const health = await curl('/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(JSON.parse(health.text), { status: 'ok', store: 'readable', database: 'open' });

  const scrape = async () => {
    const r = await curl('/metrics', ['-H', `Authorization: Bearer ${reader}`]);
    assert.equal(r.status, 200, r.text);
    return parseMetrics(r.text);
  };
  httpBytes = 0;
  const before = await scrape();

  // One DHCP exchange: DISCOVER → OFFER, REQUEST → ACK; udhcpc's script puts the address on the link.
  const lease = await runUdhcpc(world, c, cIf);
  assert.ok(lease.bound?.ip, `no lease:\n${lease.output}\n${serve.log()}`);
  const leased = lease.bound.ip;
  await runInNamespace(c, 'ip', ['addr', 'del', '10.79.0.50/24', 'dev', cIf]);

  // One TFTP fetch of the BIOS iPXE build.
  const kpxe = join(world.dir, 'undionly.kpxe');
  const fetched = await runInNamespace(c, 'curl', ['-sS', '--max-time', '20', '-o', kpxe, 'tftp://10.79.0.1/undionly.kpxe']);
  assert.equal(fetched.exitCode, 0, String(fetched.stderr));
  const tftpBytes = statSync(kpxe).size;
  assert.equal(tftpBytes, statSync(join(dataDir, 'netboot', 'undionly.kpxe')).size);

  // One restore task, run as its agent would: created, the boot script fetched from the leased
  // address (the rescue boot), started, finished.
  const created = await curl('/api/v1/tasks', ['-H', `Authorization: Bearer ${admin}`, ...json({ kind: 'nuke', mac, image: 'web' })]);
  assert.equal(created.status, 201, created.text);
  const id = (JSON.parse(created.text) as { id: number }).id;
  const script = await curl(`/boot/${mac}.ipxe`);
  const token = /lifeboat\.token=(\S+)/.exec(script.text)?.[1];
  assert.ok(token, `the boot script from ${leased} carries no token:\n${script.text}`);
  const agent = ['-H', `Authorization: Bearer ${token}`];
  assert.equal((await curl(`/agent/v1/tasks/${id}`, agent)).status, 200);
  const finished = await curl(`/agent/v1/tasks/${id}/finish`, [...agent, ...json({ ok: true })]);
  assert.equal(finished.status, 200, finished.text);

  const expectedHttpBytes = httpBytes;
  const afterScrape = await scrape();
  const deltas = metricDeltas(before, afterScrape);
  const histogramSum = deltas.get('lifeboat_restore_duration_seconds_sum') ?? 0;
  deltas.delete('lifeboat_restore_duration_seconds_sum');
  assert.ok(histogramSum >= 0 && histogramSum < 60, `restore took ${histogramSum} s`);
  // Every bucket from 30 s up holds the one restore (it took well under 30 s).
  for (const key of [...deltas.keys()]) if (key.startsWith('lifeboat_restore_duration_seconds_bucket')) deltas.delete(key);
  const only = (name: string, labels?: Record<string, string>) => sampleKey(name, labels);
  const expected = new Map<string, number>([
    [only('lifeboat_dhcp_packets_total', { type: 'DISCOVER', outcome: 'answered' }), 1],
    [only('lifeboat_dhcp_packets_total', { type: 'REQUEST', outcome: 'answered' }), 1],
    [only('lifeboat_dhcp_leases'), 1],
    [only('lifeboat_served_bytes_total', { protocol: 'tftp' }), tftpBytes],
    [only('lifeboat_served_bytes_total', { protocol: 'http' }), expectedHttpBytes],
    [only('lifeboat_rescue_boots_total'), 1],
    [only('lifeboat_tasks', { state: 'done' }), 1],
    [only('lifeboat_restores_total', { outcome: 'done' }), 1],
    [only('lifeboat_restore_duration_seconds_count'), 1],
  ]);
  assert.deepEqual(Object.fromEntries([...deltas].sort()), Object.fromEntries([...expected].sort()), serve.log().split('\n').slice(-20).join('\n'));
  assert.equal(afterScrape.get(only('lifeboat_restores_total', { outcome: 'failed' })), 0, 'outcomes that did not happen are shown as 0');
});

test('/healthz answers 200 while the store is readable and 503 with the reason when it is gone; /metrics takes the read-only token', async (t) => {
  const world = await makeWorld(t, 'lb-health');
  const server = await startLocalServer(world);
  const ok = await fetch(`${server.url}/healthz`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { status: 'ok', store: 'readable', database: 'open' });
  assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${server.readToken}` } });
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(parseMetrics(await metrics.text()).get(sampleKey('lifeboat_tasks', { state: 'pending' })), 0);

  await rm(server.store, { recursive: true, force: true });
  const down = await fetch(`${server.url}/healthz`);
  assert.equal(down.status, 503);
  const body = (await down.json()) as { status: string; store: string; database: string; reason: string };
  assert.deepEqual({ ...body, reason: undefined }, { status: 'unavailable', store: 'unreadable', database: 'open', reason: undefined });
  assert.equal(body.reason, `the store ${server.store} cannot be read (ENOENT): check that it exists and that its filesystem is mounted`);
});
