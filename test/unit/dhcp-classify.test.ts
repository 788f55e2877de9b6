import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyClient, readUserClass } from '../../server/dhcp/classify.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes, parsePacket } from '../../server/dhcp/packet.js';

function client(options: Array<[number, Buffer]>, hw: { htype?: number; hlen?: number } = {}) {
  const buf = encodePacket({ op: BOOTREQUEST, xid: 1, chaddr: macToBytes('52:54:00:AB:CD:EF'), ...hw, options: [[Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)], ...options] });
  return classifyClient(parsePacket(buf), 'eth1');
}
const arch = (n: number): [number, Buffer] => [Option.CLIENT_ARCH, Buffer.from([n >> 8, n & 255])];
const vendor = (s: string): [number, Buffer] => [Option.VENDOR_CLASS, encode.text(s)];

test('option 93 names the firmware: 0 BIOS, 6/7/9/10/11 UEFI, 16 UEFI HTTP', () => {
  const cases: Array<[number, string]> = [[0, 'bios'], [6, 'uefi'], [7, 'uefi'], [9, 'uefi'], [10, 'uefi'], [11, 'uefi'], [16, 'uefi-http'], [19, 'uefi-http'], [42, 'unknown']];
  for (const [code, firmware] of cases) {
    const c = client([arch(code), vendor(`PXEClient:Arch:${String(code).padStart(5, '0')}`)])!;
    assert.equal(c.firmware, firmware, `arch ${code}`);
    assert.equal(c.arch, code);
  }
});

test('a BIOS PXE ROM is PXE, not iPXE; the MAC is lower case and the interface is recorded', () => {
  const c = client([arch(0), vendor('PXEClient:Arch:00000:UNDI:002001')])!;
  assert.deepEqual(c, { mac: '52:54:00:ab:cd:ef', firmware: 'bios', arch: 0, isIpxe: false, isPxe: true, userClass: null, vendorClass: 'PXEClient:Arch:00000:UNDI:002001', interface: 'eth1' });
});

test('iPXE is recognised by user class "iPXE" (bare or RFC 3004) or by option 175', () => {
  assert.equal(client([arch(0), [Option.USER_CLASS, encode.text('iPXE')]])!.isIpxe, true);
  assert.equal(client([arch(0), [Option.USER_CLASS, Buffer.from([4, ...Buffer.from('iPXE')])]])!.isIpxe, true);
  assert.equal(client([arch(7), [Option.IPXE_ENCAPSULATED, Buffer.from([0xb1, 1, 1])]])!.isIpxe, true);
  assert.equal(client([arch(7), [Option.USER_CLASS, encode.text('lifeboat')]])!.isIpxe, false);
  assert.equal(client([arch(7), [Option.USER_CLASS, encode.text('lifeboat')]])!.userClass, 'lifeboat');
});

test('HTTPClient is a UEFI HTTP boot client even with a plain x64 arch', () => {
  const c = client([arch(7), vendor('HTTPClient:Arch:00007:UNDI:003016')])!;
  assert.equal(c.firmware, 'uefi-http');
  assert.equal(c.isPxe, true);
});

test('a plain DHCP client is neither PXE nor iPXE and its firmware is unknown', () => {
  const c = client([vendor('udhcp 1.35.0')])!;
  assert.equal(c.firmware, 'unknown');
  assert.equal(c.arch, null);
  assert.equal(c.isPxe, false);
  assert.equal(c.isIpxe, false);
  assert.equal(client([[Option.CLIENT_ARCH, Buffer.from([7])]])!.arch, null, 'a one-byte option 93 is malformed and ignored');
});

test('a non-Ethernet hardware address is not classified', () => {
  assert.equal(client([], { htype: 6 }), null);
});

test('user class text: RFC 3004 items are joined, bare strings kept', () => {
  assert.equal(readUserClass(Buffer.from([2, 0x61, 0x62, 1, 0x63])), 'ab,c');
  assert.equal(readUserClass(Buffer.from('iPXE')), 'iPXE');
  assert.equal(readUserClass(undefined), null);
});
