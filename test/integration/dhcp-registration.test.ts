import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNamespace, serverClientLink } from '../support/netns.js';
import { rawExchange, serveFullDhcp } from '../support/dhcp-lab.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes } from '../../server/dhcp/packet.js';

/**
 * Issue 11, item 3: every MAC DHCP saw became a host row. A real `lifeboat serve` in full DHCP
 * mode, in its own namespace, with --register-per-minute 5: 20 DISCOVERs from made-up MACs are
 * all answered, and 5 machines are registered; the log says why the others were not.
 */
test('DHCP registers at most --register-per-minute new machines and still answers the rest', async (t) => {
  const link = await serverClientLink(t, 'lb-reg', { address: '10.74.0.1/24' });
  const { world, s, c, cIf } = link;
  const { serve, dataDir } = await serveFullDhcp(link, ['--range', '10.74.0.100-10.74.0.199', '--register-per-minute', '5']);
  // No --http: it listens on the interface's address.
  assert.match(serve.log(), /"http":"http:\/\/10\.74\.0\.1:8080"/);

  const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:74:00:${i.toString(16).padStart(2, '0')}`);
  const sends = macs.map((m, i) => ({
    to: '255.255.255.255',
    port: 67,
    hex: encodePacket({ op: BOOTREQUEST, xid: 0x7400 + i, flags: 0x8000, chaddr: macToBytes(m), options: [[Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)]] }).toString('hex'),
  }));
  const replies = await rawExchange(world, c, { interface: cIf, bindPort: 68, listenMs: 1500, gapMs: 20, sends });
  assert.deepEqual(new Set(replies.filter((r) => r.type === 'OFFER').map((r) => r.mac)), new Set(macs), 'every machine got an offer');

  const token = readFileSync(join(dataDir, 'read-token'), 'utf8').trim();
  const get = async (path: string) => {
    const r = await runInNamespace(s, 'curl', ['-sS', '--max-time', '10', '-H', `authorization: Bearer ${token}`, `http://10.74.0.1:8080${path}`]);
    assert.equal(r.exitCode, 0, r.stderr);
    return JSON.parse(r.stdout) as Array<{ mac: string; kind?: string }>;
  };
  const hosts = await get('/api/v1/hosts');
  assert.equal(hosts.length, 5, JSON.stringify(hosts.map((h) => h.mac)));
  assert.ok(hosts.every((h) => macs.includes(h.mac)));
  assert.equal((await get('/api/v1/events?limit=1000')).filter((e) => e.kind === 'host.registered').length, 5);
  const refused = serve.log().split('\n').filter((l) => l.includes('not registered: 5 new machines were registered in the last minute (the limit)'));
  assert.ok(refused.length >= 1 && refused.length <= 5, `${refused.length} lines about machines not registered`);
});
