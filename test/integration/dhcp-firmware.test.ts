import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeWorld, sh, type World } from '../support/world.js';
import { attachToBridge, createBridge, createNamespace, createVethPair, serverClientLink, startInNamespace, waitFor, type Background } from '../support/netns.js';
import { startFullDhcp, startLifeboatDhcp } from '../support/dhcp-lab.js';
import { readLeases } from '../../server/dhcp/lease-store.js';

/**
 * Real firmware: a QEMU machine whose NIC ROM is iPXE (it sends option 77 "iPXE" and 175, option 93
 * = 0) network-boots against Lifeboat. It only counts when the machine, having taken its DHCP
 * answers, fetches the boot script URL that bootFor chose over HTTP. TCG, no disk.
 */

// Answers every GET with an iPXE script that powers the machine off, and logs the request line.
const httpServer = `
const http = require('node:http');
http.createServer((req, res) => {
  process.stdout.write(JSON.stringify({ method: req.method, url: req.url, from: req.socket.remoteAddress }) + '\\n');
  res.end('#!ipxe\\necho lifeboat dhcp test\\npoweroff\\n');
}).listen(80, '0.0.0.0', () => process.stdout.write('{"listening":true}\\n'));
`;

function startHttp(world: World, ns: string): Background {
  return startInNamespace(world, ns, process.execPath, ['-e', httpServer], join(world.dir, `http-${ns}.log`));
}

// Logs each TFTP read request (opcode 1: filename NUL mode NUL) and answers nothing.
const tftpWatcher = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => {
  if (m.readUInt16BE(0) === 1) process.stdout.write(JSON.stringify({ rrq: m.subarray(2, m.indexOf(0, 2)).toString(), from: r.address }) + '\\n');
});
s.bind(69, () => process.stdout.write('{"listening":true}\\n'));
`;

async function startMachine(world: World, ns: string, bridge: string, mac: string, firmware: 'ipxe-rom' | 'uefi-pxe' = 'ipxe-rom'): Promise<Background> {
  const tap = `lbtap${world.id}`;
  world.defer(() => sh('ip', ['-n', ns, 'link', 'del', tap]).catch(() => undefined));
  await sh('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await attachToBridge(ns, tap, bridge);
  await sh('ip', ['-n', ns, 'link', 'set', tap, 'up']);
  const uefi: string[] = [];
  if (firmware === 'uefi-pxe') {
    const vars = join(world.dir, 'OVMF_VARS.fd');
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    uefi.push('-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  return startInNamespace(world, ns, 'qemu-system-x86_64', [
    '-machine', 'q35', '-accel', 'tcg', '-m', firmware === 'uefi-pxe' ? '512' : '256', '-nographic', '-no-reboot', '-monitor', 'none',
    '-serial', `file:${join(world.dir, 'serial.log')}`,
    ...uefi,
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    // romfile= removes the iPXE ROM, so UEFI's own PXE client does the network boot.
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1${firmware === 'uefi-pxe' ? ',romfile=' : ''}`,
  ], join(world.dir, 'qemu.log'));
}

function requestsFor(http: Background, url: string): Array<{ url: string; from: string }> {
  return http
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{"method"'))
    .map((l) => JSON.parse(l) as { url: string; from: string })
    .filter((r) => r.url === url);
}

/** The machine's fetches of /boot.ipxe, once there is one. */
function bootScriptFetches(http: Background): Array<{ url: string; from: string }> | undefined {
  const r = requestsFor(http, '/boot.ipxe');
  return r.length > 0 ? r : undefined;
}

/** The first read request the TFTP watcher saw, once there is one. */
function firstRrq(tftp: Background): { rrq: string; from: string } | undefined {
  const line = tftp.log().split('\n').find((x) => x.startsWith('{"rrq"'));
  return line ? (JSON.parse(line) as { rrq: string; from: string }) : undefined;
}

/** Waits for what the machine must do; on a timeout the error carries the tail of each log. */
async function machineDoes<T>(what: string, check: () => T | undefined, timeoutMs: number, logs: Array<[string, Background, number]>): Promise<T> {
  return waitFor(what, check, timeoutMs).catch((e: Error) => {
    throw new Error([e.message, ...logs.map(([name, bg, tail]) => `${name}:\n${bg.log().slice(-tail)}`)].join('\n'));
  });
}

/** Full mode: Lifeboat's DHCP server on S, and a bridge in C where the machine's tap joins the link. */
async function fullModeBed(t: TestContext) {
  const link = await serverClientLink(t, 'dhcp', { address: '10.77.0.1/24' });
  const br = await createBridge(link.world, link.c, `lbbr${link.world.id}`);
  await attachToBridge(link.c, link.cIf, br);
  const server = await startFullDhcp(link, { range: { first: '10.77.0.100', last: '10.77.0.150' }, subnetMask: '255.255.255.0', router: '10.77.0.1', leaseSeconds: 600 });
  return { ...link, br, server };
}

/** Proxy mode: dnsmasq (D) hands out the addresses, Lifeboat (S) only boot files; both on a bridge in L. */
async function proxyModeBed(t: TestContext) {
  const world = await makeWorld(t, 'dhcp');
  const l = await createNamespace(world, 'l');
  const d = await createNamespace(world, 'd');
  const s = await createNamespace(world, 's');
  const br = await createBridge(world, l, `lbbr${world.id}`);
  const dIf = `lbd${world.id}`;
  const sIf = `lbs${world.id}`;
  await createVethPair(world, { ns: d, name: dIf, address: '10.80.0.1/24' }, { ns: l, name: `lbxd${world.id}` });
  await createVethPair(world, { ns: s, name: sIf, address: '10.80.0.2/24' }, { ns: l, name: `lbxs${world.id}` });
  for (const side of ['d', 's']) await attachToBridge(l, `lbx${side}${world.id}`, br);
  const conf = join(world.dir, 'dnsmasq.conf');
  writeFileSync(conf, ['port=0', `interface=${dIf}`, 'bind-interfaces', 'dhcp-range=10.80.0.100,10.80.0.150,255.255.255.0,10m',
    `dhcp-leasefile=${join(world.dir, 'dnsmasq.leases')}`, 'no-ping', 'no-resolv', 'no-hosts', 'log-dhcp', 'user=root', 'pid-file=', ''].join('\n'));
  const dnsmasq = startInNamespace(world, d, 'dnsmasq', ['--no-daemon', '--log-facility=-', `--conf-file=${conf}`], join(world.dir, 'dnsmasq.log'));
  await waitFor('dnsmasq to start', () => (/DHCP, IP range/.test(dnsmasq.log()) ? true : undefined));
  return { world, l, s, sIf, dIf, br, dnsmasq };
}

function boundLease(world: World, mac: string) {
  const db = new Database(join(world.dir, 'lifeboat.sqlite'), { readonly: true });
  const lease = readLeases(db).find((l) => l.mac === mac && l.state === 'bound');
  db.close();
  return lease;
}

test('full mode: a QEMU machine with the iPXE ROM gets a lease and fetches the script URL chosen for iPXE', async (t) => {
  const { world, s, c, br, server } = await fullModeBed(t);
  const http = startHttp(world, s);
  await waitFor('the HTTP server', () => (http.log().includes('listening') ? true : undefined));
  const mac = '52:54:00:77:10:01';
  const machine = await startMachine(world, c, br, mac);
  const [fetched] = await machineDoes('the machine to fetch its boot script', () => bootScriptFetches(http), 120000, [['DHCP log', server, 3000], ['QEMU', machine, 1000]]);
  const lease = boundLease(world, mac);
  assert.ok(lease, 'no lease in the store for the machine');
  assert.equal(fetched!.from.replace('::ffff:', ''), lease.address, 'the script was fetched from the leased address');
  const received = server.lines().find((l) => l.mac === mac && l.msg === 'received DISCOVER');
  assert.equal(received?.ipxe, true, 'the iPXE ROM is classified as iPXE');
  assert.equal(received?.firmware, 'bios');
});

test('proxy mode beside dnsmasq: the iPXE ROM takes dnsmasq\'s address and Lifeboat\'s boot file', async (t) => {
  const { world, l, s, sIf, dIf, br, dnsmasq } = await proxyModeBed(t);
  const http = startHttp(world, s);
  await waitFor('the HTTP server', () => (http.log().includes('listening') ? true : undefined));
  const server = await startLifeboatDhcp(world, s, { mode: 'proxy', interface: sIf, serverAddress: '10.80.0.2' });
  const mac = '52:54:00:80:10:01';
  const machine = await startMachine(world, l, br, mac);
  const [fetched] = await machineDoes('the machine to fetch its boot script', () => bootScriptFetches(http), 120000,
    [['DHCP log', server, 3000], ['dnsmasq', dnsmasq, 1500], ['QEMU', machine, 1000]]);
  const address = fetched!.from.replace('::ffff:', '');
  assert.match(dnsmasq.log(), new RegExp(`DHCPACK\\(${dIf}\\) ${address.replaceAll('.', '\\.')} ${mac}`), 'the address came from dnsmasq');
  const lines = server.lines().filter((x) => x.mac === mac);
  // iPXE boots straight from a proxy offer that carries discovery control 8; it asks nothing on 4011.
  assert.ok(lines.some((x) => x.msg === 'proxy offer: boot http://10.80.0.2/boot.ipxe'), `Lifeboat sent no proxy offer:\n${server.log()}`);
  assert.ok(!lines.some((x) => typeof x.address === 'string'), 'Lifeboat gave no address');
});

test('proxy mode beside dnsmasq: UEFI firmware PXE asks Lifeboat on port 4011 and reads snponly.efi from it', async (t) => {
  const { world, l, s, sIf, dIf, br, dnsmasq } = await proxyModeBed(t);
  const tftp = startInNamespace(world, s, process.execPath, ['-e', tftpWatcher], join(world.dir, 'tftp.log'));
  await waitFor('the TFTP watcher', () => (tftp.log().includes('listening') ? true : undefined));
  const server = await startLifeboatDhcp(world, s, { mode: 'proxy', interface: sIf, serverAddress: '10.80.0.2' });
  const mac = '52:54:00:80:20:01';
  const machine = await startMachine(world, l, br, mac, 'uefi-pxe');
  const rrq = await machineDoes('the firmware to request its boot file over TFTP', () => firstRrq(tftp), 180000,
    [['DHCP log', server, 3000], ['dnsmasq', dnsmasq, 1500], ['QEMU', machine, 1000]]);
  assert.equal(rrq.rrq, 'snponly.efi');
  assert.match(dnsmasq.log(), new RegExp(`DHCPACK\\(${dIf}\\) ${rrq.from.replaceAll('.', '\\.')} ${mac}`), 'the address came from dnsmasq');
  const lines = server.lines().filter((x) => x.mac === mac);
  const offer = lines.find((x) => x.msg === 'proxy offer: boot snponly.efi');
  assert.ok(offer, `no proxy offer:\n${server.log()}`);
  assert.equal(offer.firmware, 'uefi');
  // edk2 sends its boot-server REQUEST from its new address to our port 4011; the ACK goes back to where it came from.
  assert.ok(lines.some((x) => x.msg === 'received REQUEST' && String(x.from).startsWith(`${rrq.from}:`)), `no REQUEST on port 4011:\n${server.log()}`);
  assert.ok(lines.some((x) => x.msg === 'sent proxy ACK' && String(x.to).startsWith(`${rrq.from}:`)), `no ACK to the firmware:\n${server.log()}`);
});

test('full mode: UEFI firmware PXE gets a lease and reads snponly.efi without looking for a boot server', async (t) => {
  const { world, s, c, br, server } = await fullModeBed(t);
  const tftp = startInNamespace(world, s, process.execPath, ['-e', tftpWatcher], join(world.dir, 'tftp.log'));
  await waitFor('the TFTP watcher', () => (tftp.log().includes('listening') ? true : undefined));
  const mac = '52:54:00:77:20:01';
  const machine = await startMachine(world, c, br, mac, 'uefi-pxe');
  const rrq = await machineDoes('the firmware to request its boot file over TFTP', () => firstRrq(tftp), 180000, [['DHCP log', server, 3000], ['QEMU', machine, 1000]]);
  assert.equal(rrq.rrq, 'snponly.efi');
  assert.equal(boundLease(world, mac)?.address, rrq.from, 'the boot file was requested from the leased address');
});
