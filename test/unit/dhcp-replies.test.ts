import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyClient, type BootClient } from '../../server/dhcp/classify.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes, optionText, parsePacket, type DhcpPacket } from '../../server/dhcp/packet.js';
import { addressReply, nakReply, proxyReply, replyDestination } from '../../server/dhcp/replies.js';

const ports = { server: 67, client: 68 };
const net = { serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', router: '10.9.0.1', dns: ['10.9.0.53'], leaseSeconds: 600, t1: 300, t2: 525 };

function request(fields: { flags?: number; ciaddr?: string; giaddr?: string; options?: Array<[number, Buffer]> } = {}): DhcpPacket {
  return parsePacket(encodePacket({
    op: BOOTREQUEST, xid: 42, flags: fields.flags ?? 0, ciaddr: fields.ciaddr, giaddr: fields.giaddr, chaddr: macToBytes('52:54:00:00:00:01'),
    options: [[Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)], ...(fields.options ?? [])],
  }));
}
const pxe = (arch: number, vendor = `PXEClient:Arch:${String(arch).padStart(5, '0')}`): Array<[number, Buffer]> => [
  [Option.CLIENT_ARCH, Buffer.from([0, arch])], [Option.VENDOR_CLASS, encode.text(vendor)], [Option.CLIENT_MACHINE_ID, Buffer.from([0, 1, 2, 3])],
];
const built = (fields: ReturnType<typeof addressReply>) => parsePacket(encodePacket(fields));

test('replies go to the relay, NAKs broadcast, configured clients unicast, the rest broadcast (RFC 2131 §4.1)', () => {
  assert.deepEqual(replyDestination(request({ giaddr: '10.9.0.254' }), false, ports), { address: '10.9.0.254', port: 67 });
  assert.deepEqual(replyDestination(request({ giaddr: '10.9.0.254' }), true, ports), { address: '10.9.0.254', port: 67 });
  assert.deepEqual(replyDestination(request({ ciaddr: '10.9.0.7' }), true, ports), { address: '255.255.255.255', port: 68 });
  assert.deepEqual(replyDestination(request({ ciaddr: '10.9.0.7' }), false, ports), { address: '10.9.0.7', port: 68 });
  assert.deepEqual(replyDestination(request({ flags: 0x8000 }), false, ports), { address: '255.255.255.255', port: 68 });
  assert.deepEqual(replyDestination(request(), false, ports), { address: '255.255.255.255', port: 68 });
});

test('a full-mode OFFER carries the address, lease times, network options and the boot file, without PXEClient', () => {
  const req = request({ options: pxe(0) });
  const client = classifyClient(req, 'eth1') as BootClient;
  const offer = built(addressReply(MessageType.OFFER, req, '10.9.0.100', net, client, { filename: 'undionly.kpxe' }));
  assert.equal(offer.yiaddr, '10.9.0.100');
  assert.equal(offer.siaddr, '10.9.0.1');
  assert.equal(offer.file, 'undionly.kpxe');
  assert.equal(offer.options.get(Option.LEASE_TIME)!.readUInt32BE(), 600);
  assert.equal(offer.options.get(Option.RENEWAL_TIME)!.readUInt32BE(), 300);
  assert.equal(offer.options.get(Option.REBINDING_TIME)!.readUInt32BE(), 525);
  assert.equal(offer.xid, 42);
  assert.equal(offer.options.has(Option.VENDOR_CLASS), false, 'PXEClient here would send UEFI firmware to port 4011');
  assert.deepEqual([...offer.options.get(Option.CLIENT_MACHINE_ID)!], [0, 1, 2, 3]);
});

test('UEFI HTTP boot gets HTTPClient and the URL in option 67; a long name goes in option 67 only', () => {
  const req = request({ options: pxe(16, 'HTTPClient:Arch:00016') });
  const client = classifyClient(req, 'eth1') as BootClient;
  const url = 'http://10.9.0.1/ipxe.efi';
  const offer = built(addressReply(MessageType.OFFER, req, '10.9.0.100', net, client, { filename: url }));
  assert.equal(optionText(offer, Option.VENDOR_CLASS), 'HTTPClient');
  assert.equal(optionText(offer, Option.BOOTFILE), url);
  const long = `http://10.9.0.1/${'x'.repeat(200)}`;
  const longOffer = built(addressReply(MessageType.OFFER, req, '10.9.0.100', net, client, { filename: long }));
  assert.equal(longOffer.file, '');
  assert.equal(optionText(longOffer, Option.BOOTFILE), long);
});

test('a proxy OFFER has no address; BIOS gets discovery control 8, UEFI none', () => {
  const bios = request({ options: pxe(0) });
  const biosOffer = built(proxyReply(MessageType.OFFER, bios, '10.9.0.2', classifyClient(bios, 'eth1')!, { filename: 'undionly.kpxe' }));
  assert.equal(biosOffer.yiaddr, '0.0.0.0');
  assert.equal(biosOffer.siaddr, '10.9.0.2');
  assert.equal(biosOffer.sname, '10.9.0.2');
  assert.equal(optionText(biosOffer, Option.VENDOR_CLASS), 'PXEClient');
  assert.deepEqual([...biosOffer.options.get(Option.VENDOR_SPECIFIC)!], [6, 1, 8, 255]);
  for (const code of [Option.LEASE_TIME, Option.SUBNET_MASK, Option.ROUTER, Option.DNS]) assert.equal(biosOffer.options.has(code), false);
  const uefi = request({ options: pxe(7) });
  const uefiOffer = built(proxyReply(MessageType.OFFER, uefi, '10.9.0.2', classifyClient(uefi, 'eth1')!, { filename: 'snponly.efi', nextServer: '10.9.0.3' }));
  assert.equal(uefiOffer.options.has(Option.VENDOR_SPECIFIC), false);
  assert.equal(uefiOffer.siaddr, '10.9.0.3');
});

test('a NAK carries no address and the reason; relayed NAKs ask the relay to broadcast', () => {
  const nak = parsePacket(encodePacket(nakReply(request({ giaddr: '10.9.0.254' }), '10.9.0.1', 'address 1.2.3.4 is on the wrong network')));
  assert.equal(nak.yiaddr, '0.0.0.0');
  assert.equal(nak.flags & 0x8000, 0x8000);
  assert.equal(optionText(nak, Option.MESSAGE), 'address 1.2.3.4 is on the wrong network');
  assert.equal(nak.options.get(Option.MESSAGE_TYPE)![0], MessageType.NAK);
});
