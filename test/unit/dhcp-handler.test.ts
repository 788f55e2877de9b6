import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { nextBoot } from '../../server/boot-decision.js';
import { DhcpHandler, type DhcpHandlerOptions, type DhcpOutcome } from '../../server/dhcp/handler.js';
import type { BootFor } from '../../server/dhcp/classify.js';
import { BOOTREPLY, BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes, messageTypeOf, optionIp, optionText, parsePacket, type DhcpPacket } from '../../server/dhcp/packet.js';
import type { Task } from '../../server/state/tasks.js';

// The DHCP server's decisions without sockets: packets built with the codec go into the handler,
// and what comes out is what the socket part would send (the reply's bytes and destination) or log
// (the reason a packet is ignored). The boot files come from the real boot decision.

const SERVER = '10.9.0.1';
const A = '52:54:00:00:0a:01';
const B = '52:54:00:00:0a:02';
const urls = { httpBase: `http://${SERVER}:8080` };
const NOW = 1_800_000_000;

/** MACs with a pending task: they get the rescue chain; everyone else the no-task answers. */
function bootFor(withTask: string[] = []): BootFor {
  return async (client) => {
    const task = withTask.includes(client.mac) ? ({ id: 1, mac: client.mac } as Task) : undefined;
    const { filename } = nextBoot(client, task, urls).file;
    return filename === null ? null : { filename };
  };
}

function handler(over: Partial<DhcpHandlerOptions> = {}): DhcpHandler {
  return new DhcpHandler({
    mode: 'full',
    interface: 'eth-test',
    serverAddress: SERVER,
    range: { first: '10.9.0.100', last: '10.9.0.101' },
    subnetMask: '255.255.255.0',
    router: SERVER,
    leaseSeconds: 600,
    db: new Database(':memory:'),
    bootFor: bootFor([A]),
    ports: { server: 67, client: 68, proxy: 4011 },
    log: pino({ level: 'silent' }),
    now: () => NOW,
    ...over,
  });
}

interface Built {
  op?: number;
  type?: number | null;
  mac?: string;
  htype?: number;
  ciaddr?: string;
  giaddr?: string;
  options?: Array<[number, Buffer]>;
}
function packet(b: Built): DhcpPacket {
  const options: Array<[number, Buffer]> = b.type === null ? [] : [[Option.MESSAGE_TYPE, encode.u8(b.type ?? MessageType.DISCOVER)]];
  return parsePacket(encodePacket({ op: b.op ?? BOOTREQUEST, xid: 0x1234, flags: 0x8000, htype: b.htype, ciaddr: b.ciaddr, giaddr: b.giaddr, chaddr: macToBytes(b.mac ?? A), options: [...options, ...(b.options ?? [])] }));
}
const biosPxe: Array<[number, Buffer]> = [[Option.CLIENT_ARCH, Buffer.from([0, 0])], [Option.VENDOR_CLASS, encode.text('PXEClient:Arch:00000:UNDI:002001')]];
const uefiPxe: Array<[number, Buffer]> = [[Option.CLIENT_ARCH, Buffer.from([0, 7])], [Option.VENDOR_CLASS, encode.text('PXEClient:Arch:00007:UNDI:003016')]];
const ask = (h: DhcpHandler, b: Built, from = { address: '0.0.0.0', port: 68 }, viaPxePort = false) => h.handle({ packet: packet(b), from, viaPxePort });

function answered(o: DhcpOutcome) {
  assert.equal(o.kind, 'answer', o.kind === 'ignore' ? `ignored: ${o.reason}` : '');
  if (o.kind !== 'answer') throw new Error('unreachable');
  return o;
}
/** The reply as the client would read it off the wire. */
function wire(o: DhcpOutcome) {
  const a = answered(o);
  assert.ok(a.reply, 'a reply to send');
  return { ...a.reply, packet: parsePacket(encodePacket(a.reply.fields)) };
}
function ignored(o: DhcpOutcome) {
  assert.equal(o.kind, 'ignore', o.kind === 'answer' ? `answered with ${o.reply?.what}` : '');
  if (o.kind !== 'ignore') throw new Error('unreachable');
  return o;
}

test('full mode: DISCOVER → OFFER of a pool address with the boot file, broadcast; REQUEST → ACK after the lease is committed', async () => {
  const h = handler();
  const offer = wire(await ask(h, { type: MessageType.DISCOVER, options: biosPxe }));
  assert.deepEqual(offer.to, { address: '255.255.255.255', port: 68 });
  assert.equal(offer.socket, 'server');
  assert.equal(offer.what, 'OFFER');
  assert.equal(messageTypeOf(offer.packet), MessageType.OFFER);
  assert.equal(offer.packet.op, BOOTREPLY);
  assert.equal(offer.packet.xid, 0x1234);
  assert.equal(offer.packet.yiaddr, '10.9.0.100');
  assert.equal(offer.packet.file, 'undionly.kpxe', 'A has a task: BIOS PXE chainloads iPXE');
  assert.equal(optionIp(offer.packet, Option.SERVER_ID), SERVER);
  assert.equal(answered(await ask(h, { type: MessageType.DISCOVER, options: biosPxe })).afterCommit, false, 'an OFFER promises nothing: sent at once');

  const request: Built = { type: MessageType.REQUEST, options: [...biosPxe, [Option.SERVER_ID, encode.ip(SERVER)], [Option.REQUESTED_ADDRESS, encode.ip('10.9.0.100')]] };
  const outcome = answered(await ask(h, request));
  assert.equal(outcome.afterCommit, true, 'an ACK waits for the lease to be on disk');
  assert.deepEqual(outcome.log, { level: 'info', fields: { address: '10.9.0.100', expiresAt: NOW + 600, state: 'selecting', bootfile: 'undionly.kpxe' }, msg: 'lease 10.9.0.100 bound' });
  const ack = wire(outcome);
  assert.equal(messageTypeOf(ack.packet), MessageType.ACK);
  assert.equal(ack.packet.yiaddr, '10.9.0.100');
  assert.equal(ack.packet.options.get(Option.LEASE_TIME)!.readUInt32BE(), 600);
  h.commit();
  assert.deepEqual(h.leases().map((l) => [l.address, l.mac]), [['10.9.0.100', A]]);
});

test('full mode: a machine with no task is offered the file TFTP refuses; an unknown client no boot file', async () => {
  const h = handler();
  assert.equal(wire(await ask(h, { mac: B, options: uefiPxe })).packet.file, 'no-task-boot-local-disk');
  const plain = wire(await ask(h, { mac: B }));
  assert.equal(plain.packet.file, '');
  assert.equal(plain.packet.options.get(Option.BOOTFILE), undefined);
  assert.equal(plain.packet.yiaddr, '10.9.0.100', 'an address all the same');
});

test('full mode: a REQUEST for another server is ignored and frees the address offered to that client', async () => {
  const h = handler();
  assert.equal(wire(await ask(h, { mac: A })).packet.yiaddr, '10.9.0.100');
  assert.equal(wire(await ask(h, { mac: B })).packet.yiaddr, '10.9.0.101', 'held for A');
  const other = ignored(await ask(h, { mac: A, type: MessageType.REQUEST, options: [[Option.SERVER_ID, encode.ip('10.9.0.254')], [Option.REQUESTED_ADDRESS, encode.ip('10.9.0.77')]] }));
  assert.deepEqual({ level: other.level, reason: other.reason, extra: other.extra }, { level: 'debug', reason: 'client chose server 10.9.0.254', extra: { state: 'selecting' } });
  assert.equal(wire(await ask(h, { mac: '52:54:00:00:0a:03' })).packet.yiaddr, '10.9.0.100', 'A\'s offer was dropped');
});

test('full mode: a REQUEST for a wrong address is NAKed, broadcast, with the reason in option 56', async () => {
  const h = handler();
  const outcome = answered(await ask(h, { type: MessageType.REQUEST, options: [[Option.REQUESTED_ADDRESS, encode.ip('192.168.7.7')]] }));
  assert.equal(outcome.afterCommit, false);
  const reason = 'address 192.168.7.7 is on the wrong network (this server serves 10.9.0.0/255.255.255.0)';
  assert.deepEqual(outcome.log, { level: 'info', fields: { reason, state: 'init-reboot' }, msg: `NAK: ${reason}` });
  const nak = wire(outcome);
  assert.equal(nak.what, 'NAK');
  assert.deepEqual(nak.to, { address: '255.255.255.255', port: 68 });
  assert.equal(messageTypeOf(nak.packet), MessageType.NAK);
  assert.equal(optionText(nak.packet, Option.MESSAGE), reason);
});

test('full mode: each packet not answered says why, at its level, malformed ones apart', async () => {
  const h = handler({ range: { first: '10.9.0.100', last: '10.9.0.100' } });
  const cases: Array<[string, Built, { address: string; port: number } | undefined, 'debug' | 'info' | 'warn', RegExp, boolean]> = [
    ['a reply', { op: BOOTREPLY }, undefined, 'debug', /^a BOOTREPLY \(another server's answer\)$/, false],
    ['BOOTP', { type: null }, undefined, 'info', /^no DHCP message type \(plain BOOTP is not served\)$/, true],
    ['not Ethernet', { htype: 6 }, undefined, 'info', /^hardware type 6 length 6 is not Ethernet$/, true],
    ['another network', { type: MessageType.DISCOVER }, { address: '192.168.1.5', port: 68 }, 'info', /^sent from 192\.168\.1\.5, outside this interface's network$/, false],
    ['a foreign relay', { giaddr: '172.16.0.1' }, undefined, 'info', /^relayed from 172\.16\.0\.1, a network this server does not serve$/, false],
    ['no record', { type: MessageType.REQUEST, ciaddr: '10.9.0.100' }, undefined, 'debug', /^no record of this client for 10\.9\.0\.100/, false],
    ['a server message', { type: MessageType.OFFER }, undefined, 'debug', /^OFFER is not a client message$/, false],
    ['DECLINE of nothing', { type: MessageType.DECLINE, options: [[Option.REQUESTED_ADDRESS, encode.ip('10.9.0.100')]] }, undefined, 'info', /^DECLINE of 10\.9\.0\.100, which is not leased to this client$/, false],
    ['RELEASE of nothing', { type: MessageType.RELEASE, ciaddr: '10.9.0.100' }, undefined, 'info', /^RELEASE of 10\.9\.0\.100, which is not leased to this client$/, false],
    ['INFORM without an address', { type: MessageType.INFORM }, undefined, 'info', /^INFORM from 0\.0\.0\.0, not on this network$/, false],
  ];
  for (const [name, b, from, level, reason, malformed] of cases) {
    const o = ignored(await ask(h, b, from));
    assert.equal(o.level, level, name);
    assert.match(o.reason, reason, name);
    assert.equal(o.malformed, malformed, name);
  }
  wire(await ask(h, { mac: A }));
  const exhausted = ignored(await ask(h, { mac: B }));
  assert.equal(exhausted.level, 'warn');
  assert.match(exhausted.reason, /^address pool 10\.9\.0\.100-10\.9\.0\.100 is exhausted/);
});

test('full mode: DECLINE and RELEASE change the lease and are logged after the commit; INFORM is answered without a lease', async () => {
  const h = handler();
  answered(await ask(h, { mac: A, type: MessageType.REQUEST, options: [[Option.SERVER_ID, encode.ip(SERVER)], [Option.REQUESTED_ADDRESS, encode.ip('10.9.0.100')]] }));
  const release = answered(await ask(h, { mac: A, type: MessageType.RELEASE, ciaddr: '10.9.0.100' }));
  assert.deepEqual({ afterCommit: release.afterCommit, reply: release.reply, msg: release.log?.msg }, { afterCommit: true, reply: null, msg: 'lease 10.9.0.100 released' });
  assert.deepEqual(h.leases(), []);
  answered(await ask(h, { mac: A, type: MessageType.REQUEST, options: [[Option.SERVER_ID, encode.ip(SERVER)], [Option.REQUESTED_ADDRESS, encode.ip('10.9.0.100')]] }));
  const decline = answered(await ask(h, { mac: A, type: MessageType.DECLINE, options: [[Option.REQUESTED_ADDRESS, encode.ip('10.9.0.100')]] }));
  assert.equal(decline.log?.level, 'warn');
  assert.match(decline.log!.msg, /^client declined 10\.9\.0\.100 \(another host answers on it\): kept out of the pool for 600 s/);
  assert.equal(wire(await ask(h, { mac: A })).packet.yiaddr, '10.9.0.101', 'the declined address is not offered');
  const inform = wire(await ask(h, { mac: A, type: MessageType.INFORM, ciaddr: '10.9.0.50', options: biosPxe }, { address: '10.9.0.50', port: 68 }));
  assert.equal(inform.what, 'ACK to INFORM');
  assert.deepEqual(inform.to, { address: '10.9.0.50', port: 68 });
  assert.equal(inform.packet.yiaddr, '0.0.0.0');
  assert.equal(inform.packet.options.get(Option.LEASE_TIME), undefined);
});

test('full mode: a failing boot planner still gets the client its address, with no boot file', async () => {
  const h = handler({ bootFor: async () => { throw new Error('database is locked'); } });
  const offer = wire(await ask(h, { options: biosPxe }));
  assert.equal(offer.packet.yiaddr, '10.9.0.100');
  assert.equal(offer.packet.file, '');
});

test('proxy mode: boot information only, PXEClient marked, the PXE port answered from its own socket; everyone else left to the site', async () => {
  const h = handler({ mode: 'proxy', range: undefined });
  const offer = wire(await ask(h, { options: biosPxe }));
  assert.equal(offer.what, 'proxy OFFER');
  assert.equal(messageTypeOf(offer.packet), MessageType.OFFER);
  assert.equal(offer.packet.yiaddr, '0.0.0.0', 'proxy mode hands out no address');
  assert.equal(offer.packet.file, 'undionly.kpxe');
  assert.equal(optionText(offer.packet, Option.VENDOR_CLASS), 'PXEClient');
  assert.deepEqual(answered(await ask(h, { options: biosPxe })).log, { level: 'info', fields: { bootfile: 'undionly.kpxe', firmware: 'bios', ipxe: false }, msg: 'proxy offer: boot undionly.kpxe' });

  const onPxePort = wire(await ask(h, { type: MessageType.REQUEST, ciaddr: '10.9.0.77', options: uefiPxe }, { address: '10.9.0.77', port: 4011 }, true));
  assert.deepEqual({ what: onPxePort.what, socket: onPxePort.socket, to: onPxePort.to }, { what: 'proxy ACK', socket: 'pxe', to: { address: '10.9.0.77', port: 4011 } });
  assert.equal(onPxePort.packet.file, 'snponly.efi');
  const toPort67 = wire(await ask(h, { type: MessageType.REQUEST, options: [...uefiPxe, [Option.SERVER_ID, encode.ip(SERVER)]] }));
  assert.deepEqual({ what: toPort67.what, socket: toPort67.socket }, { what: 'proxy ACK', socket: 'server' });

  const notPxe = ignored(await ask(h, {}));
  assert.deepEqual([notPxe.level, notPxe.reason], ['debug', 'not a PXE client (vendor class null); proxy mode answers only PXEClient/HTTPClient']);
  assert.equal(ignored(await ask(h, { type: MessageType.REQUEST, options: [...biosPxe, [Option.SERVER_ID, encode.ip('10.9.0.254')]] })).reason, 'REQUEST is for the site\'s DHCP server');
  assert.equal(ignored(await ask(h, { options: biosPxe }, { address: '10.9.0.77', port: 4011 }, true)).reason, 'DISCOVER on the PXE port; only REQUEST is answered there');
  const silent = ignored(await ask(handler({ mode: 'proxy', range: undefined, bootFor: async () => null }), { options: biosPxe }));
  assert.deepEqual([silent.level, silent.reason], ['info', 'boot planner gives this machine no boot information: proxy stays silent']);
});

test('the configuration is checked when the handler is made, with the way out', () => {
  assert.throws(() => handler({ range: undefined }), /full-mode DHCP needs an address range/);
  assert.throws(() => handler({ leaseSeconds: 30 }), /lease time 30 s is too short/);
  assert.throws(() => handler({ serverAddress: '10.9.0.300' }), /is not an IPv4 address/);
  assert.throws(() => handler({ mode: 'relay' as 'full' }), /DHCP mode "relay" is unknown/);
});
