import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runInNamespace, serverClientLink } from '../support/netns.js';
import { runUdhcpc, startFullDhcp } from '../support/dhcp-lab.js';
import { readLeases } from '../../server/dhcp/lease-store.js';

/**
 * perfdhcp plays 1000 distinct clients against Lifeboat. It acts as a relay (giaddr = its own
 * address, replies come back to it on port 67), so the client namespace has an address on the
 * server's /16 and the server answers relayed requests from its own network.
 */
test('a perfdhcp storm of 1000 clients: no address given twice, no crash, the server still answers', async (t) => {
  const link = await serverClientLink(t, 'dhcp', { address: '10.79.0.1/16' }, { address: '10.79.255.254/16' });
  const { world, c, cIf } = link;
  const server = await startFullDhcp(link, { range: { first: '10.79.1.0', last: '10.79.8.255' }, subnetMask: '255.255.0.0', leaseSeconds: 3600, logLevel: 'info' });
  // Bounded: 500 exchanges a second for 6 seconds over 1000 client MACs.
  const perf = await runInNamespace(c, 'perfdhcp', ['-4', '-r', '500', '-R', '1000', '-p', '6', '-l', cIf], { timeoutMs: 60000 });
  const out = `${perf.stdout}\n${perf.stderr}`;
  const acks = /REQUEST-ACK\*\*\*\s+sent packets: \d+\s+received packets: (\d+)/.exec(out);
  assert.ok(acks && Number(acks[1]) > 1000, `perfdhcp saw too few ACKs:\n${out}`);
  assert.match(out, /non unique addresses: 0/);

  const db = new Database(join(world.dir, 'lifeboat.sqlite'), { readonly: true });
  const bound = readLeases(db).filter((l) => l.state === 'bound');
  db.close();
  assert.ok(bound.length > 500, `only ${bound.length} leases bound`);
  assert.equal(new Set(bound.map((l) => l.address)).size, bound.length, 'an address is leased to two clients');
  assert.equal(new Set(bound.map((l) => l.mac)).size, bound.length, 'a client holds two addresses');
  for (const l of bound) assert.match(l.address, /^10\.79\.[1-8]\.\d+$/);

  const crashed = await Promise.race([server.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
  assert.equal(crashed, false, `the server exited:\n${server.log().slice(-2000)}`);
  assert.ok(!server.lines().some((l) => (l.level as number) >= 50), 'errors in the server log');
  const after = await runInNamespace(c, 'ip', ['addr', 'flush', 'dev', cIf]);
  assert.equal(after.exitCode, 0);
  const client = await runUdhcpc(world, c, cIf);
  assert.ok(client.bound, `no lease after the storm:\n${client.output}`);
  assert.match(client.bound.ip!, /^10\.79\.[1-8]\.\d+$/);
});
