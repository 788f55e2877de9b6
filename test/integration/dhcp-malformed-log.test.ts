import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { serverClientLink } from '../support/netns.js';
import { rawExchange, runUdhcpc, startFullDhcp } from '../support/dhcp-lab.js';
import { MessageType, Option, encode, encodePacket, macToBytes, BOOTREQUEST } from '../../server/dhcp/packet.js';

/**
 * Issue 11, item 6: a malformed packet cost a log line of up to 60 KB, and every one a line. 1,000
 * malformed DHCP packets, up to 60 KB each, sent from a client namespace to Lifeboat's DHCP server
 * in its own namespace: at most 20 lines per 10 s say so, one summary line counts the rest, no line
 * is longer than 1 KB, and a real client still gets a lease.
 */
test('1,000 malformed DHCP packets: a bounded number of short log lines, and a summary that counts the rest', async (t) => {
  const link = await serverClientLink(t, 'dhcp', { address: '10.76.0.1/24' }, { mac: '52:54:00:76:00:01' });
  const { world, c, cIf } = link;
  const server = await startFullDhcp(link, { range: { first: '10.76.0.100', last: '10.76.0.150' }, subnetMask: '255.255.255.0', leaseSeconds: 600, logLevel: 'info' });
  const valid = encodePacket({ op: BOOTREQUEST, xid: 7, chaddr: macToBytes('52:54:00:76:00:02'), options: [[Option.MESSAGE_TYPE, Buffer.from([MessageType.DISCOVER])]] });
  const sends: Array<{ to: string; port: number; hex: string }> = [];
  for (let i = 0; i < 1000; i++) {
    let packet: Buffer;
    if (i % 100 === 0) packet = Buffer.concat([valid.subarray(0, 240), Buffer.alloc(60_000, 0x3c)]); // 60 KB of an option that never ends
    else if (i % 4 === 0) packet = randomBytes(1 + (i % 300));
    else if (i % 4 === 1) packet = valid.subarray(0, 200 + (i % 40)); // truncated inside the header
    else if (i % 4 === 2) packet = Buffer.concat([valid.subarray(0, 236), Buffer.from('badcoffe', 'hex'), Buffer.alloc(1200, 0x41)]); // no magic cookie
    else packet = Buffer.concat([valid.subarray(0, 240), encode.text('x'.repeat(40)).subarray(0, 20), Buffer.from([255])]); // an option longer than what follows
    sends.push({ to: '255.255.255.255', port: 67, hex: packet.toString('hex') });
  }
  await rawExchange(world, c, { interface: cIf, bindPort: 68, listenMs: 500, gapMs: 1, sends });
  const lease = await runUdhcpc(world, c, cIf);
  assert.ok(lease.bound, `no lease after the malformed packets:\n${lease.output}`);
  await server.stop(); // writes the pending summary line

  const raw = server.log().split('\n').filter((l) => l.startsWith('{'));
  const lines = server.lines();
  const malformed = lines.filter((l) => String(l.reason ?? '').startsWith('not a usable DHCP packet') || l.reason === 'no DHCP message type (plain BOOTP is not served)');
  const summaries = lines.filter((l) => /^\d+ more malformed DHCP packets not logged in the last \d+ s$/.test(String(l.msg)));
  const counted = summaries.reduce((n, l) => n + Number(l.dropped), 0);
  t.diagnostic(`${raw.length} log lines in all, ${malformed.length} about malformed packets, ${summaries.length} summaries counting ${counted}; longest line ${Math.max(...raw.map((l) => l.length))} characters`);
  assert.ok(malformed.length >= 1 && malformed.length <= 20, `${malformed.length} lines about malformed packets`);
  assert.ok(summaries.length >= 1);
  // A few could be lost on the way under the burst (a full socket buffer); none is logged twice.
  assert.ok(malformed.length + counted >= 950 && malformed.length + counted <= 1000, `${malformed.length} logged + ${counted} counted`);
  assert.ok(raw.length <= 60, `${raw.length} lines in all`);
  assert.ok(raw.every((l) => l.length < 1024), 'every line under 1 KB');
  const big = malformed.find((l) => Number(l.bytes) > 60_000);
  if (big) assert.match(String(big.packet), /^[0-9a-f]{64}… \(60240 bytes\)$/, 'a big packet is shown as the hex of its first 32 bytes');
  assert.ok(malformed.every((l) => /^[0-9a-f]+(… \(\d+ bytes\))?$/.test(String(l.packet ?? '0'))));
});
