import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, type World } from '../support/world.js';
import { attachToBridge, createBridge, createNamespace, createVethPair, runInNamespace, startInNamespace, waitFor } from '../support/netns.js';
import { rawExchange, runUdhcpc, startLifeboatDhcp, type RunningServer } from '../support/dhcp-lab.js';
import type { RawReply } from '../support/dhcp-raw-client.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes } from '../../server/dhcp/packet.js';

/**
 * proxyDHCP beside the site's DHCP server. Two servers cannot both own port 67 on one address, and
 * on a real network they are two hosts on one link, so that is the topology: namespace L holds a
 * bridge (the switch); D (dnsmasq, the site's DHCP, 10.80.0.1), S (Lifeboat in proxy mode,
 * 10.80.0.2) and C (the client) each hang off it by a veth.
 */

interface ProxyLab {
  world: World;
  c: string;
  cIf: string;
  server: RunningServer;
  dnsmasqLeases: string;
}

const DNSMASQ = '10.80.0.1';
const LIFEBOAT = '10.80.0.2';

async function proxyLab(t: TestContext, noBootFor: string[] = []): Promise<ProxyLab> {
  const world = await makeWorld(t, 'dhcp');
  const l = await createNamespace(world, 'l');
  const d = await createNamespace(world, 'd');
  const s = await createNamespace(world, 's');
  const c = await createNamespace(world, 'c');
  const br = await createBridge(world, l, `lbbr${world.id}`);
  const ends = { d: `lbd${world.id}`, s: `lbs${world.id}`, c: `lbc${world.id}` };
  await createVethPair(world, { ns: d, name: ends.d, address: `${DNSMASQ}/24` }, { ns: l, name: `lbxd${world.id}` });
  await createVethPair(world, { ns: s, name: ends.s, address: `${LIFEBOAT}/24` }, { ns: l, name: `lbxs${world.id}` });
  await createVethPair(world, { ns: c, name: ends.c, mac: '52:54:00:80:00:01' }, { ns: l, name: `lbxc${world.id}` });
  for (const side of ['d', 's', 'c']) await attachToBridge(l, `lbx${side}${world.id}`, br);

  const dnsmasqLeases = join(world.dir, 'dnsmasq.leases');
  const conf = join(world.dir, 'dnsmasq.conf');
  writeFileSync(conf, [
    'port=0', `interface=${ends.d}`, 'bind-interfaces', 'dhcp-range=10.80.0.100,10.80.0.150,255.255.255.0,10m',
    `dhcp-leasefile=${dnsmasqLeases}`, 'no-ping', 'no-resolv', 'no-hosts', 'log-dhcp', 'user=root', 'pid-file=', '',
  ].join('\n'));
  const dnsmasq = startInNamespace(world, d, 'dnsmasq', ['--no-daemon', '--log-facility=-', `--conf-file=${conf}`], join(world.dir, 'dnsmasq.log'));
  await waitFor('dnsmasq to start', () => (/DHCP, IP range/.test(dnsmasq.log()) ? true : undefined));

  const server = await startLifeboatDhcp(world, s, { mode: 'proxy', interface: ends.s, serverAddress: LIFEBOAT, noBootFor });
  return { world, c, cIf: ends.c, server, dnsmasqLeases };
}

const guid = Buffer.concat([Buffer.from([0]), randomBytes(16)]);

function pxeMessage(type: number, mac: string, arch: number, fields: { xid: number; requested?: string; serverId?: string; ciaddr?: string }): string {
  const options: Array<[number, Buffer]> = [
    [Option.MESSAGE_TYPE, encode.u8(type)],
    [Option.PARAMETER_LIST, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97])],
    [Option.CLIENT_ARCH, Buffer.from([arch >> 8, arch & 255])],
    [Option.CLIENT_NDI, Buffer.from([1, 2, 1])],
    [Option.VENDOR_CLASS, encode.text(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:002001`)],
    [Option.CLIENT_MACHINE_ID, guid],
  ];
  if (fields.requested) options.push([Option.REQUESTED_ADDRESS, encode.ip(fields.requested)]);
  if (fields.serverId) options.push([Option.SERVER_ID, encode.ip(fields.serverId)]);
  return encodePacket({ op: BOOTREQUEST, xid: fields.xid, flags: 0x8000, ciaddr: fields.ciaddr, chaddr: macToBytes(mac), options }).toString('hex');
}

/** The PXE client's first two steps: DISCOVER, collect both offers, REQUEST the address from the DHCP server. */
async function discoverAndBind(lab: ProxyLab, mac: string, arch: number): Promise<{ offers: RawReply[]; ack: RawReply | undefined; afterRequest: RawReply[] }> {
  const offers = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 1500, sends: [{ to: '255.255.255.255', port: 67, hex: pxeMessage(MessageType.DISCOVER, mac, arch, { xid: 0x5001 }) }] });
  const address = offers.find((o) => o.serverId === DNSMASQ)?.yiaddr;
  if (!address) return { offers, ack: undefined, afterRequest: [] };
  const afterRequest = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 1500, sends: [{ to: '255.255.255.255', port: 67, hex: pxeMessage(MessageType.REQUEST, mac, arch, { xid: 0x5002, requested: address, serverId: DNSMASQ }) }] });
  return { offers, ack: afterRequest.find((r) => r.type === 'ACK' && r.serverId === DNSMASQ), afterRequest };
}

test('a BIOS PXE client gets its address from dnsmasq and its boot file from Lifeboat, which hands out no address', async (t) => {
  const lab = await proxyLab(t);
  const mac = '52:54:00:80:00:10';
  const { offers, ack, afterRequest } = await discoverAndBind(lab, mac, 0);
  const site = offers.find((o) => o.serverId === DNSMASQ);
  const proxy = offers.find((o) => o.serverId === LIFEBOAT);
  assert.ok(site && proxy, `expected offers from both servers: ${JSON.stringify(offers)}\n${lab.server.log()}`);
  assert.match(site.yiaddr, /^10\.80\.0\.(1[0-4]\d|150)$/);
  assert.equal(proxy.type, 'OFFER');
  assert.equal(proxy.yiaddr, '0.0.0.0', 'proxy mode never gives an address');
  assert.equal(proxy.file, 'undionly.kpxe');
  assert.equal(proxy.siaddr, LIFEBOAT);
  assert.equal(proxy.vendorClass, 'PXEClient');
  assert.equal(proxy.options[String(Option.CLIENT_MACHINE_ID)], guid.toString('hex'), 'option 97 is echoed');
  assert.equal(proxy.options[String(Option.VENDOR_SPECIFIC)], '060108ff', 'BIOS PXE is told to boot the file without discovery');
  for (const code of [Option.LEASE_TIME, Option.SUBNET_MASK, Option.ROUTER]) assert.equal(proxy.options[String(code)], undefined, `option ${code} in a proxy offer`);

  assert.ok(ack, `dnsmasq did not ACK: ${JSON.stringify(afterRequest)}`);
  assert.equal(ack.yiaddr, site.yiaddr);
  assert.ok(!afterRequest.some((r) => r.serverId === LIFEBOAT), 'Lifeboat answered a REQUEST meant for the site server');
  assert.match(readFileSync(lab.dnsmasqLeases, 'utf8'), new RegExp(`${mac} ${site.yiaddr.replaceAll('.', '\\.')}`));
  assert.ok(lab.server.lines().some((l) => l.mac === mac && String(l.reason).includes("for the site's DHCP server")));
});

test('a UEFI PXE client is answered on port 4011 with an ACK carrying snponly.efi', async (t) => {
  const lab = await proxyLab(t);
  const mac = '52:54:00:80:00:20';
  const { offers, ack } = await discoverAndBind(lab, mac, 7);
  const proxy = offers.find((o) => o.serverId === LIFEBOAT);
  assert.ok(proxy && ack, JSON.stringify(offers));
  assert.equal(proxy.file, 'snponly.efi');
  assert.equal(proxy.options[String(Option.VENDOR_SPECIFIC)], undefined, 'UEFI gets no discovery-control option (it asks on 4011 instead)');
  // Now configured with dnsmasq's address, the firmware asks the boot server on port 4011.
  await runInNamespace(lab.c, 'ip', ['addr', 'add', `${ack.yiaddr}/24`, 'dev', lab.cIf]);
  const pxe = await rawExchange(lab.world, lab.c, { interface: lab.cIf, bindPort: 68, listenMs: 1500, sends: [{ to: LIFEBOAT, port: 4011, hex: pxeMessage(MessageType.REQUEST, mac, 7, { xid: 0x5003, ciaddr: ack.yiaddr }) }] });
  assert.equal(pxe.length, 1, JSON.stringify(pxe));
  assert.equal(pxe[0]!.type, 'ACK');
  assert.equal(pxe[0]!.from, `${LIFEBOAT}:4011`);
  assert.equal(pxe[0]!.file, 'snponly.efi');
  assert.equal(pxe[0]!.yiaddr, '0.0.0.0');
  assert.equal(pxe[0]!.ciaddr, ack.yiaddr);
  assert.equal(pxe[0]!.options[String(Option.CLIENT_MACHINE_ID)], guid.toString('hex'));
});

test('a machine that is not PXE booting, or that the planner gives nothing, hears only the site server', async (t) => {
  const quiet = '52:54:00:80:00:30';
  const lab = await proxyLab(t, [quiet]);
  const plain = await runUdhcpc(lab.world, lab.c, lab.cIf);
  assert.ok(plain.bound, plain.output);
  assert.equal(plain.bound.serverid, DNSMASQ);
  assert.equal(plain.bound.boot_file, undefined);
  assert.ok(lab.server.lines().some((l) => l.mac === '52:54:00:80:00:01' && String(l.reason).startsWith('not a PXE client')), lab.server.log());

  const { offers } = await discoverAndBind(lab, quiet, 0);
  assert.ok(offers.some((o) => o.serverId === DNSMASQ));
  assert.ok(!offers.some((o) => o.serverId === LIFEBOAT), 'Lifeboat answered a machine the planner gave no boot information');
  assert.ok(lab.server.lines().some((l) => l.mac === quiet && String(l.reason).includes('no boot information')));
});
