import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { createNamespace, createVethPair, runInNamespace, serverClientLink, waitFor, type ServerClientLink } from '../support/netns.js';
import { rawExchange, runDhclient, runUdhcpc, startLifeboatDhcp, udhcpcBound, udhcpcBoundThenReleased, type RunningServer } from '../support/dhcp-lab.js';
import { readLeases } from '../../server/dhcp/lease-store.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes } from '../../server/dhcp/packet.js';

/**
 * Full-mode DHCP against real clients. Topology per test: namespace S (Lifeboat, 10.77.0.1/24 on
 * a veth) linked to namespace C (the client); the server runs as its own process inside S.
 */

interface Lab extends ServerClientLink {
  server: RunningServer;
  dbPath: string;
  restart(): Promise<RunningServer>;
}

const serverConfig = (sIf: string, overrides: Record<string, unknown> = {}) => ({
  mode: 'full' as const,
  interface: sIf,
  serverAddress: '10.77.0.1',
  range: { first: '10.77.0.100', last: '10.77.0.150' },
  subnetMask: '255.255.255.0',
  router: '10.77.0.1',
  dns: ['10.77.0.53'],
  leaseSeconds: 600,
  logOtherInterfaces: true,
  ...overrides,
});

async function fullLab(t: TestContext, overrides: Record<string, unknown> = {}, clientMac = '52:54:00:77:00:01'): Promise<Lab> {
  const link = await serverClientLink(t, 'dhcp', { address: '10.77.0.1/24' }, { mac: clientMac });
  const { world, s, sIf } = link;
  const lab: Lab = {
    ...link,
    dbPath: join(world.dir, 'lifeboat.sqlite'),
    server: await startLifeboatDhcp(world, s, serverConfig(sIf, overrides)),
    async restart() {
      await lab.server.stop();
      lab.server = await startLifeboatDhcp(world, s, serverConfig(sIf, overrides), 'dhcp-restarted');
      return lab.server;
    },
  };
  return lab;
}

function storedLeases(dbPath: string) {
  const db = new Database(dbPath, { readonly: true });
  try {
    return readLeases(db);
  } finally {
    db.close();
  }
}

test('udhcpc as a BIOS PXE client gets an address, the network options and undionly.kpxe', async (t) => {
  const lab = await fullLab(t);
  const r = await runUdhcpc(lab.world, lab.c, lab.cIf, ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
  assert.ok(r.bound, `udhcpc got no lease:\n${r.output}\n${lab.server.log()}`);
  assert.match(r.bound.ip!, /^10\.77\.0\.(1[0-4]\d|150)$/);
  assert.equal(r.bound.subnet, '255.255.255.0');
  assert.equal(r.bound.router, '10.77.0.1');
  assert.equal(r.bound.dns, '10.77.0.53');
  assert.equal(r.bound.serverid, '10.77.0.1');
  assert.equal(r.bound.siaddr, '10.77.0.1');
  assert.equal(r.bound.boot_file, 'undionly.kpxe');
  assert.equal(r.bound.lease, '600');
  const stored = storedLeases(lab.dbPath).filter((l) => l.state === 'bound');
  assert.deepEqual(stored.map((l) => [l.mac, l.address]), [['52:54:00:77:00:01', r.bound.ip]]);
});

/** A client message built with Lifeboat's codec, as hex for the raw client. */
function clientPacket(type: number, mac: string, fields: { xid?: number; ciaddr?: string; requested?: string; serverId?: string; broadcast?: boolean; extra?: Array<[number, Buffer]> } = {}): string {
  const options: Array<[number, Buffer]> = [[Option.MESSAGE_TYPE, encode.u8(type)]];
  if (fields.requested) options.push([Option.REQUESTED_ADDRESS, encode.ip(fields.requested)]);
  if (fields.serverId) options.push([Option.SERVER_ID, encode.ip(fields.serverId)]);
  options.push(...(fields.extra ?? []));
  return encodePacket({ op: BOOTREQUEST, xid: fields.xid ?? randomBytes(4).readUInt32BE(), flags: fields.broadcast === false ? 0 : 0x8000, ciaddr: fields.ciaddr, chaddr: macToBytes(mac), options }).toString('hex');
}

const toServer = (hex: string) => ({ to: '255.255.255.255', port: 67, hex });

test('dhclient as a UEFI x64 PXE client gets an address and snponly.efi; the lease survives a server restart', async (t) => {
  const lab = await fullLab(t);
  const conf = ['option pxe-arch code 93 = unsigned integer 16;', 'send pxe-arch 7;', 'send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";'];
  const first = await runDhclient(lab.world, lab.c, lab.cIf, conf);
  assert.ok(first.bound, `dhclient got no lease:\n${first.output}\n${lab.server.log()}`);
  assert.match(first.bound.new_ip_address!, /^10\.77\.0\.\d+$/);
  assert.equal(first.bound.new_filename, 'snponly.efi');
  assert.equal(first.bound.new_subnet_mask, '255.255.255.0');
  assert.equal(first.bound.new_routers, '10.77.0.1');

  await lab.restart();
  // A fresh udhcpc run from the same MAC, with no memory of its own: the address comes from the server's store.
  const again = await runUdhcpc(lab.world, lab.c, lab.cIf, ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007']);
  assert.ok(again.bound, `no lease after restart:\n${again.output}`);
  assert.equal(again.bound.ip, first.bound.new_ip_address);
  assert.equal(again.bound.boot_file, 'snponly.efi');
});

test('RELEASE frees the address in the store; the same client gets it back next time', async (t) => {
  const lab = await fullLab(t);
  const r = await udhcpcBoundThenReleased(lab.world, lab.c, lab.cIf);
  assert.ok(r.bound, r.output);
  assert.match(r.output, /unicasting a release/);
  assert.equal(r.bound.boot_file, undefined, 'a plain DHCP client gets no boot file');
  const lease = await waitFor('the release to reach the store', () => {
    const l = storedLeases(lab.dbPath).find((x) => x.address === r.bound!.ip);
    return l?.state === 'released' ? l : undefined;
  });
  assert.equal(lease.mac, '52:54:00:77:00:01');
  assert.ok(lab.server.lines().some((l) => String(l.msg).includes(`lease ${r.bound!.ip} released`)));
  const again = await runUdhcpc(lab.world, lab.c, lab.cIf);
  assert.equal(again.bound?.ip, r.bound.ip);
});

test('a foreign REQUEST is NAKed: wrong network, another client\'s address, outside the pool', async (t) => {
  const lab = await fullLab(t);
  const held = await runUdhcpc(lab.world, lab.c, lab.cIf);
  assert.ok(held.bound, held.output);
  const stranger = '52:54:00:77:00:99';
  const xids = { wrongNet: 0x1001, taken: 0x1002, outside: 0x1003, otherServer: 0x1004 };
  const replies = await rawExchange(lab.world, lab.c, {
    interface: lab.cIf,
    bindPort: 68,
    listenMs: 1500,
    sends: [
      toServer(clientPacket(MessageType.REQUEST, stranger, { xid: xids.wrongNet, requested: '192.168.99.7' })),
      toServer(clientPacket(MessageType.REQUEST, stranger, { xid: xids.taken, requested: held.bound.ip })),
      toServer(clientPacket(MessageType.REQUEST, stranger, { xid: xids.outside, requested: '10.77.0.20' })),
      toServer(clientPacket(MessageType.REQUEST, stranger, { xid: xids.otherServer, requested: '10.77.0.120', serverId: '10.77.0.254' })),
    ],
  });
  const byXid = new Map(replies.map((r) => [r.xid, r]));
  for (const xid of [xids.wrongNet, xids.taken, xids.outside]) {
    const r = byXid.get(xid);
    assert.equal(r?.type, 'NAK', `xid ${xid}: ${JSON.stringify(replies)}`);
    assert.equal(r.yiaddr, '0.0.0.0');
    assert.equal(r.serverId, '10.77.0.1');
  }
  assert.match(byXid.get(xids.wrongNet)!.message!, /wrong network/);
  assert.match(byXid.get(xids.taken)!.message!, /leased to another client/);
  assert.match(byXid.get(xids.outside)!.message!, /not in this server's pool/);
  assert.equal(byXid.get(xids.otherServer), undefined, 'a REQUEST for another server is not answered');
  const bound = storedLeases(lab.dbPath).filter((l) => l.state === 'bound');
  assert.deepEqual(bound.map((l) => l.mac), ['52:54:00:77:00:01'], 'the NAKs bound nothing');
});

test('DECLINE quarantines the address: it is not offered again, INFORM answers options without an address', async (t) => {
  const lab = await fullLab(t);
  const mac = '52:54:00:77:00:42';
  const offer = (await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 800, sends: [toServer(clientPacket(MessageType.DISCOVER, mac, { xid: 1 }))] }))[0];
  assert.equal(offer?.type, 'OFFER');
  const ack = (await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 800, sends: [toServer(clientPacket(MessageType.REQUEST, mac, { xid: 2, requested: offer.yiaddr, serverId: '10.77.0.1' }))] }))[0];
  assert.equal(ack?.type, 'ACK', lab.server.log());
  assert.equal(ack.yiaddr, offer.yiaddr);
  assert.equal(ack.options[String(Option.LEASE_TIME)], (600).toString(16).padStart(8, '0'));
  await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 300, sends: [toServer(clientPacket(MessageType.DECLINE, mac, { xid: 3, requested: offer.yiaddr, serverId: '10.77.0.1' }))] });
  await waitFor('the decline in the store', () => (storedLeases(lab.dbPath).find((l) => l.address === offer.yiaddr)?.state === 'declined' ? true : undefined));
  const next = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 800, sends: [toServer(clientPacket(MessageType.DISCOVER, mac, { xid: 4, requested: offer.yiaddr }))] });
  assert.equal(next[0]?.type, 'OFFER');
  assert.notEqual(next[0].yiaddr, offer.yiaddr, 'the declined address is not offered, even when asked for');

  // INFORM comes from a configured client and is answered by unicast to its address.
  await runInNamespace(lab.c, 'ip', ['addr', 'add', '10.77.0.9/24', 'dev', lab.cIf]);
  const inform = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 800, sends: [toServer(clientPacket(MessageType.INFORM, mac, { xid: 5, ciaddr: '10.77.0.9' }))] });
  assert.equal(inform[0]?.type, 'ACK');
  assert.equal(inform[0].yiaddr, '0.0.0.0');
  assert.equal(inform[0].options[String(Option.LEASE_TIME)], undefined, 'no lease time in an INFORM answer');
  assert.equal(inform[0].options[String(Option.SUBNET_MASK)], 'ffffff00');
});

test('an exhausted pool logs and stays silent; the server keeps serving known clients', async (t) => {
  const lab = await fullLab(t, { range: { first: '10.77.0.100', last: '10.77.0.101' } });
  const macs = ['52:54:00:77:01:01', '52:54:00:77:01:02', '52:54:00:77:01:03'];
  const replies = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 1000, gapMs: 50, sends: macs.map((m, i) => toServer(clientPacket(MessageType.DISCOVER, m, { xid: 100 + i }))) });
  assert.deepEqual(replies.map((r) => r.xid).sort(), [100, 101]);
  assert.ok(lab.server.lines().some((l) => l.level === 40 && String(l.reason).includes('exhausted')), lab.server.log());
  const again = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 800, sends: [toServer(clientPacket(MessageType.DISCOVER, macs[0]!, { xid: 200 }))] });
  assert.equal(again[0]?.yiaddr, replies.find((r) => r.xid === 100)!.yiaddr);
});

test('malformed, truncated and random packets are dropped and logged, and a normal client still gets a lease', async (t) => {
  const lab = await fullLab(t);
  const valid = Buffer.from(clientPacket(MessageType.DISCOVER, '52:54:00:77:02:01', { extra: [[Option.VENDOR_CLASS, encode.text('PXEClient')]] }), 'hex');
  const garbage: string[] = [];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) garbage.push(randomBytes(1 + (i % 700)).toString('hex'));
    else if (i % 3 === 1) garbage.push(valid.subarray(0, 240 + (i % 40)).toString('hex'));
    else {
      const b = Buffer.from(valid);
      b[240 + (i % 20)] = i & 255;
      b[241 + (i % 20)] = 250;
      b.writeUInt32BE(i % 2 ? 0x63825363 : 0xbadc0ffe, 236);
      garbage.push(b.toString('hex'));
    }
  }
  // Shapes that kill the npm dhcp server: a parameter request list full of 60/50/52/… and unknown codes.
  garbage.push(clientPacket(MessageType.DISCOVER, '52:54:00:77:02:02', { xid: 0x77, extra: [[Option.PARAMETER_LIST, Buffer.from([60, 50, 52, 53, 55, 56, 61, 80, 116, 145, 200, 254])]] }));
  const replies = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 1500, gapMs: 2, sends: garbage.map(toServer) });
  const answered = replies.filter((r) => r.xid !== 0x77);
  // A random mutation can still be a well-formed DISCOVER; everything answered must be one.
  for (const r of answered) assert.equal(r.type, 'OFFER');
  assert.ok(replies.some((r) => r.xid === 0x77), 'the odd parameter request list is answered normally');
  const r = await runUdhcpc(lab.world, lab.c, lab.cIf);
  assert.ok(r.bound, `no lease after the garbage:\n${r.output}`);
  // Logged: 20 lines, then a summary that counts the rest (written at the latest when the server stops).
  await lab.server.stop();
  const dropped = lab.server.lines().filter((l) => String(l.reason ?? '').startsWith('not a usable DHCP packet'));
  const summarised = lab.server.lines().filter((l) => /^\d+ more malformed DHCP packets not logged/.test(String(l.msg))).reduce((n, l) => n + Number(l.dropped), 0);
  assert.ok(dropped.length > 0 && dropped.length <= 20, `${dropped.length} drop lines`);
  assert.ok(dropped.length + summarised >= 150, `only ${dropped.length} drops logged and ${summarised} counted`);
});

test('a request on another interface of the server is never answered, and the log says why', async (t) => {
  const lab = await fullLab(t);
  // A third namespace O on a second veth into S: S now has two interfaces; Lifeboat serves one.
  const o = await createNamespace(lab.world, 'o');
  const sIf2 = `lbt${lab.world.id}`;
  const oIf = `lbo${lab.world.id}`;
  await createVethPair(lab.world, { ns: lab.s, name: sIf2, address: '10.78.0.1/24' }, { ns: o, name: oIf, mac: '52:54:00:78:00:01' });
  // The server notices new interfaces within 5 s; wait until it watches this one.
  await waitFor('the server to watch the new interface', async () => {
    await rawExchange(lab.world, o, { interface: oIf, bindPort: 68, listenMs: 200, sends: [toServer(clientPacket(MessageType.DISCOVER, '52:54:00:78:00:02'))] });
    return lab.server.lines().some((l) => l.receivedOn === sIf2) ? true : undefined;
  }, 15000);
  const r = await runUdhcpc(lab.world, o, oIf, ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
  assert.equal(r.bound, null, `the client on the other interface got a lease:\n${r.output}`);
  assert.notEqual(r.exitCode, 0);
  const ignored = lab.server.lines().filter((l) => l.mac === '52:54:00:78:00:01' && l.receivedOn === sIf2);
  assert.ok(ignored.length > 0, lab.server.log());
  assert.match(String(ignored[0]!.msg), new RegExp(`arrived on interface ${sIf2}; Lifeboat serves DHCP only on ${lab.sIf}`));
  assert.ok(!lab.server.lines().some((l) => l.mac === '52:54:00:78:00:01' && String(l.msg).startsWith('sent')), 'nothing was sent to that client');
  assert.equal(storedLeases(lab.dbPath).length, 0);
  // The served interface still works.
  assert.ok((await runUdhcpc(lab.world, lab.c, lab.cIf)).bound);
});

test('a reserved machine gets its reserved address, outside the pool', async (t) => {
  const lab = await fullLab(t, { reservations: [{ mac: '52:54:00:77:00:01', address: '10.77.0.50' }] });
  const r = await runUdhcpc(lab.world, lab.c, lab.cIf);
  assert.equal(r.bound?.ip, '10.77.0.50', r.output);
});

test('a bound client renews by unicast and its lease is extended in the store', async (t) => {
  const lab = await fullLab(t);
  const client = await udhcpcBound(lab.world, lab.c, lab.cIf);
  const address = client.bound.ip!;
  const before = storedLeases(lab.dbPath).find((l) => l.address === address)!;
  await sleep(1100);
  process.kill(client.pid, 'SIGUSR1'); // udhcpc: renew now
  const renewed = await waitFor('the renewal', () => lab.server.lines().find((l) => l.state === 'renewing' && l.address === address)).catch((e: Error) => {
    throw new Error(`${e.message}\n${client.log()}\n${lab.server.log().slice(-2500)}`);
  });
  assert.equal(renewed.msg, `lease ${address} bound`);
  const received = lab.server.lines().filter((l) => l.msg === 'received REQUEST').pop()!;
  assert.equal(received.from, `${address}:68`, 'the renewal came by unicast from the bound address');
  const after = storedLeases(lab.dbPath).find((l) => l.address === address)!;
  assert.ok(after.expiresAt > before.expiresAt, 'the lease was extended');
  await client.stop();
});
