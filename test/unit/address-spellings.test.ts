import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macToBytes, macOf, parsePacket, encodePacket, BOOTREQUEST } from '../../server/dhcp/packet.js';
import { makeAddressPlan } from '../../server/dhcp/address-plan.js';
import { formatIpv4, ipv4FromBytes, ipv4ToBytes, parseIpv4 } from '../../server/ipv4.js';
import { MAC_PATTERN, formatMac, macBytes, normalizeMac } from '../../server/state/mac.js';

// One reading of a MAC and of an IPv4 address for the whole server: the API, the state, the DHCP
// configuration (reservations) and the packet codec all go through server/state/mac.ts and
// server/ipv4.ts, so a spelling one accepts, the others accept too.

const CANONICAL = '52:54:00:12:34:56';

test('a MAC is read in every accepted spelling to one canonical form', () => {
  for (const spelling of ['52:54:00:12:34:56', '52-54-00-12-34-56', '5254.0012.3456', '525400123456', ' 52:54:00:12:34:56\n']) {
    assert.equal(normalizeMac(spelling), CANONICAL, spelling);
  }
  assert.equal(normalizeMac('52:54:00:AB:CD:EF'), '52:54:00:ab:cd:ef');
});

test('a MAC that is not six hex bytes is refused with LB_INVALID and the way to write it', () => {
  for (const bad of ['', '52:54:00:12:34', '52:54:00:12:34:56:78', '52:54:00:12:34:5g', '52:54:0:12:34:56', 'not a mac', '52.54.00.12.34.56']) {
    assert.throws(() => normalizeMac(bad), (e: Error & { code?: string }) => e.code === 'LB_INVALID' && /is not a MAC address \(expected six hex bytes, e\.g\. 52:54:00:12:34:56\)/.test(e.message), JSON.stringify(bad));
  }
});

test('the API schema accepts exactly the spellings normalizeMac reads (normalizeMac also trims surrounding whitespace)', () => {
  const schema = new RegExp(MAC_PATTERN);
  for (const text of ['52:54:00:12:34:56', '52-54-00-12-34-56', '5254.0012.3456', '525400123456', '52:54:00:AB:cd:EF', '52:54:0:12:34:56', '52.54.00.12.34.56', '52:54:00:12:34', 'x']) {
    let read = true;
    try {
      normalizeMac(text);
    } catch {
      read = false;
    }
    assert.equal(schema.test(text), read, text);
  }
});

test('the packet codec and the DHCP reservations read MACs the same way (a dotted MAC too)', () => {
  const chaddr = macToBytes('5254.0012.3456');
  assert.equal(chaddr.length, 16);
  assert.equal(macOf(parsePacket(encodePacket({ op: BOOTREQUEST, xid: 1, chaddr, options: [] }))), CANONICAL);
  assert.deepEqual([...macBytes('52-54-00-12-34-56')], [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  assert.equal(formatMac(Buffer.from([0x52, 0x54, 0, 0x12, 0x34, 0x56])), CANONICAL);
  const plan = makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', range: { first: '10.9.0.100', last: '10.9.0.110' }, reservations: [{ mac: '5254.0012.3456', address: '10.9.0.50' }] });
  assert.equal(formatIpv4(plan.reservationByMac.get(CANONICAL)!), '10.9.0.50');
  assert.throws(() => macToBytes('52:54:0:12:34:56'), /is not a MAC address/);
});

test('an IPv4 address is four decimal octets; anything else is refused with one error wherever it is read', () => {
  assert.equal(parseIpv4('10.9.0.1'), 0x0a090001);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.equal(formatIpv4(0x0a090001), '10.9.0.1');
  assert.deepEqual([...ipv4ToBytes('192.168.1.254')], [192, 168, 1, 254]);
  assert.equal(ipv4FromBytes(Buffer.from([0, 10, 9, 0, 1]), 1), '10.9.0.1');
  const refusal = (e: Error & { code?: string }) => e.code === 'LB_INVALID' && /is not an IPv4 address: write it as four numbers 0-255, e\.g\. 10\.0\.0\.1/.test(e.message);
  for (const bad of ['10.0.0.256', '10.0.0', '10.0.0.1.2', '10.0.0.-1', 'a.b.c.d', '', '10.0.0.01x', '::1']) {
    assert.throws(() => parseIpv4(bad), refusal, bad);
    assert.throws(() => ipv4ToBytes(bad), refusal, bad);
  }
  assert.throws(() => makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', range: { first: '10.9.0.300', last: '10.9.0.310' } }), refusal, 'the DHCP configuration');
  assert.throws(() => encodePacket({ op: 2, xid: 1, chaddr: macToBytes(CANONICAL), yiaddr: '10.0.0.256', options: [] }), refusal, 'the packet codec');
});
