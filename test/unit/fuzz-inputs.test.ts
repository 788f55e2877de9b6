import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dhcpPacket, httpCase, seeded, tftpPacket } from '../support/fuzz-inputs.js';

// The fuzz test's failures are only worth something if the same seed replays the same input.
test('the same seed gives the same DHCP, TFTP and HTTP input; another seed gives other input', () => {
  const run = (seed: number) => {
    const rng = seeded(seed);
    return Array.from({ length: 300 }, () => [dhcpPacket(rng).packet.toString('hex'), tftpPacket(rng).packet.toString('hex'), JSON.stringify(httpCase(rng))]);
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('every kind of input is generated, and near-valid DHCP packets carry the magic cookie', () => {
  const rng = seeded(1);
  const dhcp = new Set<string>();
  const tftp = new Set<string>();
  let cookies = 0;
  for (let i = 0; i < 2000; i++) {
    const d = dhcpPacket(rng);
    dhcp.add(d.kind);
    if (d.kind === 'valid-new-mac' && d.packet.readUInt32BE(236) === 0x63825363) cookies++;
    tftp.add(tftpPacket(rng).kind);
  }
  assert.deepEqual([...dhcp].sort(), ['mutated', 'noise', 'random-options', 'valid-new-mac']);
  assert.deepEqual([...tftp].sort(), ['noise', 'rrq', 'stray', 'unknown-opcode', 'wrq']);
  assert.ok(cookies > 300);
  const methods = new Set(Array.from({ length: 500 }, () => httpCase(rng).method));
  assert.ok(methods.has('POST') && methods.has('GET') && methods.has('DELETE'));
});
