import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeWorld } from '../support/world.js';
import { attachToBridge, createNamespace, createVethPair, runInNamespace } from '../support/netns.js';
import { startTestbed } from '../support/testbed.js';
import { runUdhcpc } from '../support/dhcp-lab.js';
import type { FuzzConfig, FuzzSummary } from '../support/fuzz-client.js';

/**
 * A bounded fuzz run against a whole `lifeboat serve` (full DHCP, TFTP, HTTP) from a client
 * namespace on its test-bed bridge: seeded DHCP packets, TFTP packets and HTTP requests, all three
 * at once. Afterwards the server must still run, have answered no request with a 5xx or a stack
 * trace, have logged no error and no oversized line, hold bounded memory, and still serve a real
 * DHCP client, a real TFTP client and the API. The seed is fixed, so a failure replays; set
 * LIFEBOAT_FUZZ_SEED to explore others.
 */
const SEED = Number(process.env.LIFEBOAT_FUZZ_SEED ?? 20261205);
const here = fileURLToPath(new URL('.', import.meta.url));
const clientEntry = join(here, '../support/fuzz-client.js');

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

test(`fuzz: DHCP, TFTP and HTTP input from seed ${SEED} leave the server up, answering and bounded`, async (t) => {
  const world = await makeWorld(t, 'lb-fuzz');
  const bed = await startTestbed(world, { routerAdvertisement: false, serveArgs: [] });
  const server = bed.server!;
  const c = await createNamespace(world, 'f');
  const clientIf = `lbf${world.id}`;
  const bridgeEnd = `lbfb${world.id}`;
  // The fuzzing client has a static address outside the pool, so its broadcast has a route out.
  await createVethPair(world, { ns: bed.ns, name: bridgeEnd }, { ns: c, name: clientIf, address: `${bed.prefix}.250/24` });
  await attachToBridge(bed.ns, bridgeEnd, bed.bridge);
  await runInNamespace(c, 'ip', ['route', 'add', 'default', 'dev', clientIf]);
  const rssBefore = rssMiB(server.pid);

  const config: FuzzConfig = {
    seed: SEED,
    server: bed.serverAddress,
    httpPort: 8080,
    adminToken: readFileSync(bed.tokenFile, 'utf8').trim(),
    dhcp: 20000,
    tftp: 10000,
    http: 4000,
    httpConcurrency: 8,
  };
  const configFile = join(world.dir, 'fuzz.json');
  writeFileSync(configFile, JSON.stringify(config));
  const started = Date.now();
  const run = await runInNamespace(c, process.execPath, ['--enable-source-maps', clientEntry, configFile], { timeoutMs: 120_000 });
  assert.equal(run.exitCode, 0, `the fuzz client failed: ${run.stderr}`);
  const summary = JSON.parse(String(run.stdout).trim().split('\n').pop()!) as FuzzSummary;
  t.diagnostic(`seed ${SEED}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.diagnostic(`sent DHCP ${JSON.stringify(summary.sent.dhcp)}, TFTP ${JSON.stringify(summary.sent.tftp)}, HTTP ${summary.sent.http}`);
  t.diagnostic(`send errors ${JSON.stringify((summary as unknown as { sendErrors: unknown }).sendErrors)}`);
  t.diagnostic(`replies: DHCP ${summary.replies.dhcp}, TFTP ${summary.replies.tftp}; HTTP statuses ${JSON.stringify(summary.httpStatus)}`);

  const total = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  assert.equal(total(summary.sent.dhcp), config.dhcp);
  assert.equal(total(summary.sent.tftp), config.tftp);
  assert.equal(summary.sent.http, config.http);
  const byMessage = new Map<string, number>();
  for (const l of server.log().split('\n').filter((x) => x.startsWith('{'))) {
    const msg = String((JSON.parse(l) as { msg?: string }).msg ?? '').slice(0, 60);
    byMessage.set(msg, (byMessage.get(msg) ?? 0) + 1);
  }
  t.diagnostic(`server log by message: ${JSON.stringify([...byMessage].sort((a, b) => b[1] - a[1]).slice(0, 12))}`);
  assert.deepEqual(summary.serverErrors, [], 'requests answered with a server error');
  assert.deepEqual(summary.stackTraces, [], 'answers that carry a stack trace or an internal path');
  assert.deepEqual(summary.noAnswer, [], 'requests left without an answer');
  assert.ok(summary.replies.dhcp > 0 && summary.replies.tftp > 0, 'the valid part of the input got no answer at all');

  const exited = await Promise.race([server.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
  assert.equal(exited, false, `the server exited:\n${bed.logs()}`);
  const rssAfter = rssMiB(server.pid);
  t.diagnostic(`server RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} MiB after`);
  assert.ok(rssAfter < 200, `the server holds ${rssAfter.toFixed(0)} MiB after the fuzz run`);

  // Real clients are still served: a DHCP lease on a fresh namespace, a boot file over TFTP, the API.
  const r = await createNamespace(world, 'r');
  const realIf = `lbr${world.id}`;
  const realBridgeEnd = `lbrb${world.id}`;
  await createVethPair(world, { ns: bed.ns, name: realBridgeEnd }, { ns: r, name: realIf });
  await attachToBridge(bed.ns, realBridgeEnd, bed.bridge);
  // The random MACs' DISCOVERs exhaust the pool with offers, each held 30 s: a real client is
  // served again once they lapse (pool exhaustion costs time, never the server).
  const leaseStart = Date.now();
  let lease = await runUdhcpc(world, r, realIf, [], 5);
  while (!lease.bound && Date.now() - leaseStart < 60_000) lease = await runUdhcpc(world, r, realIf, [], 5);
  assert.ok(lease.bound, `no lease within 60 s of the fuzz run:\n${lease.output}`);
  t.diagnostic(`a real DHCP client bound ${((Date.now() - leaseStart) / 1000).toFixed(0)} s after the fuzz run`);
  assert.match(lease.bound.ip!, new RegExp(`^${bed.prefix.replace(/\./g, '\\.')}\\.1\\d\\d$`));
  const out = join(world.dir, 'undionly.kpxe');
  const tftp = await runInNamespace(r, 'curl', ['-sS', '--max-time', '30', '-o', out, `tftp://${bed.serverAddress}/undionly.kpxe`]);
  assert.equal(tftp.exitCode, 0, `TFTP after the fuzz run: ${tftp.stderr}`);
  assert.ok(readFileSync(out).equals(readFileSync('/usr/lib/ipxe/undionly.kpxe')), 'the boot file arrived changed');
  const tasks = await runInNamespace(r, 'curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', '-H', `authorization: Bearer ${config.adminToken}`, `${bed.httpBase}/api/v1/tasks`]);
  assert.equal(String(tasks.stdout), '200');

  // The log: no error-level line (bad input is the client's fault, not the server's), no line
  // longer than 4 KiB, and far fewer lines than bad packets (malformed-input logs are rate-limited).
  const lines = server.log().split('\n').filter((l) => l.startsWith('{'));
  const errors = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
  assert.deepEqual(errors.slice(0, 5), [], 'error-level lines in the server log');
  const udpLines = lines.filter((l) => /"msg":"(ignored DHCP packet|tftp )/.test(l)).length;
  assert.ok(udpLines <= 1000, `${udpLines} log lines for ${config.dhcp + config.tftp} UDP packets: malformed-packet logs are not rate-limited`);
  const longest = Math.max(...lines.map((l) => l.length));
  t.diagnostic(`server log: ${lines.length} lines, longest ${longest} bytes`);
  assert.ok(longest <= 4096, `a log line of ${longest} bytes: ${lines.find((l) => l.length === longest)!.slice(0, 300)}`);
});
