import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { lifeboat } from '../support/cli.js';
import { runInNamespace, serverClientLink, startInNamespace, waitFor, type ServerClientLink } from '../support/netns.js';
import { rawExchange } from '../support/dhcp-lab.js';
import type { RawReply } from '../support/dhcp-raw-client.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes } from '../../server/dhcp/packet.js';

// The snippets `lifeboat init` prints for a site that keeps its own DHCP server, put into a real ISC
// dhcpd and a real Kea, each on its own link: machines of each architecture (BIOS PXE, UEFI PXE,
// UEFI HTTP Boot, and iPXE once it runs) send the DISCOVER their firmware sends, and each offer
// must name Lifeboat's next-server and the boot file for that firmware (dnsmasq's snippet is run by
// init-config and the proxy-mode test).

const SERVER = '10.79.0.1';
const HTTP = `${SERVER}:8080`;

async function printedSnippets(dir: string): Promise<{ dhcpd: string; kea: string }> {
  const init = await lifeboat(['init', '--yes', '--root', join(dir, 'sysroot'), '--data', join(dir, 'state'), '--http', HTTP, '--dhcp', 'off', '--nfs', 'off']);
  assert.equal(init.exitCode, 0, init.stderr);
  const section = (header: string) => {
    const from = init.stdout.indexOf(header);
    assert.ok(from >= 0, `init prints the ${header} snippet:\n${init.stdout}`);
    const rest = init.stdout.slice(from);
    return rest.slice(rest.indexOf('\n') + 1, rest.indexOf('\n\n'));
  };
  return { dhcpd: section('# ISC dhcpd'), kea: section('# Kea') };
}

/** Each firmware's DISCOVER, with the options its PXE ROM, EDK2 or iPXE sends. */
const machines = [
  { name: 'bios', arch: 0, vendor: 'PXEClient:Arch:00000:UNDI:002001', ipxe: false, file: 'undionly.kpxe', next: SERVER },
  { name: 'uefi', arch: 7, vendor: 'PXEClient:Arch:00007:UNDI:003016', ipxe: false, file: 'snponly.efi', next: SERVER },
  { name: 'uefi-http', arch: 16, vendor: 'HTTPClient:Arch:00016:UNDI:003001', ipxe: false, file: `http://${HTTP}/boot/ipxe.efi`, next: null },
  { name: 'ipxe', arch: 0, vendor: 'PXEClient:Arch:00000:UNDI:002001', ipxe: true, file: `http://${HTTP}/boot/\${net0/mac}.ipxe`, next: null },
] as const;

const macOf = (i: number) => `52:54:00:79:00:${(i + 1).toString(16).padStart(2, '0')}`;

function discover(i: number) {
  const m = machines[i]!;
  const options: Array<[number, Buffer]> = [
    [Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)],
    [Option.PARAMETER_LIST, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 128, 129, 130])],
    [Option.VENDOR_CLASS, encode.text(m.vendor)],
    [Option.CLIENT_ARCH, Buffer.from([0, m.arch])],
  ];
  if (m.ipxe) options.push([Option.USER_CLASS, encode.text('iPXE')]);
  return { to: '255.255.255.255', port: 67, hex: encodePacket({ op: BOOTREQUEST, xid: 0x7900 + i, flags: 0x8000, chaddr: macToBytes(macOf(i)), options }).toString('hex') };
}

async function offers(link: ServerClientLink): Promise<RawReply[]> {
  return rawExchange(link.world, link.c, { interface: link.cIf, bindPort: 68, listenMs: 3000, gapMs: 300, sends: machines.map((_, i) => discover(i)) });
}

function checkOffers(replies: RawReply[], server: string): void {
  for (const [i, m] of machines.entries()) {
    const offer = replies.find((r) => r.type === 'OFFER' && r.mac === macOf(i));
    assert.ok(offer, `${server} offers to the ${m.name} machine: ${JSON.stringify(replies)}`);
    assert.match(offer.yiaddr, /^10\.79\.0\.1\d\d$/, `${server} leases the ${m.name} machine an address of its own`);
    assert.equal(offer.bootfile ?? offer.file, m.file, `${server}: the ${m.name} machine's boot file`);
    if (m.next) assert.equal(offer.siaddr, m.next, `${server}: the ${m.name} machine's next-server is Lifeboat`);
    // UEFI HTTP Boot takes an offer only when option 60 says HTTPClient.
    if (m.name === 'uefi-http') assert.equal(offer.vendorClass, 'HTTPClient', `${server}: the HTTP Boot offer carries HTTPClient`);
  }
}

test('ISC dhcpd with the printed snippet offers each firmware Lifeboat\'s next-server and boot file', async (t) => {
  const link = await serverClientLink(t, 'lb-isc', { address: `${SERVER}/24` });
  const { dhcpd } = await printedSnippets(link.world.dir);
  // As the header says: in the subnet of the machines; the option's definition is global.
  const lines = dhcpd.split('\n');
  const conf = join(link.world.dir, 'dhcpd.conf');
  await writeFile(conf, [
    'ddns-update-style none;', 'authoritative;', 'default-lease-time 600;', 'max-lease-time 600;',
    ...lines.filter((l) => l.startsWith('option arch code')),
    'subnet 10.79.0.0 netmask 255.255.255.0 {', '  range 10.79.0.100 10.79.0.150;',
    ...lines.filter((l) => !l.startsWith('option arch code')).map((l) => `  ${l}`), '}', '',
  ].join('\n'));
  const leases = join(link.world.dir, 'dhcpd.leases');
  await writeFile(leases, '');
  const server = startInNamespace(link.world, link.s, '/usr/sbin/dhcpd', ['-f', '-d', '-4', '-cf', conf, '-lf', leases, '-pf', join(link.world.dir, 'dhcpd.pid'), link.sIf], join(link.world.dir, 'dhcpd.log'));
  await waitFor('dhcpd to listen', () => (/Sending on +LPF\//.test(server.log()) ? true : undefined), 15000).catch((e: Error) => assert.fail(`${e.message}\n${server.log()}`));
  checkOffers(await offers(link), 'ISC dhcpd');
});

test('Kea with the printed client classes offers each firmware Lifeboat\'s next-server and boot file', async (t) => {
  const link = await serverClientLink(t, 'lb-kea', { address: `${SERVER}/24` });
  const { kea } = await printedSnippets(link.world.dir);
  const classes = JSON.parse(`{${kea}}`) as { 'client-classes': unknown[] };
  const run = join(link.world.dir, 'kea');
  await mkdir(run, { recursive: true });
  const conf = join(link.world.dir, 'kea-dhcp4.conf');
  await writeFile(conf, JSON.stringify({
    Dhcp4: {
      'interfaces-config': { interfaces: [link.sIf], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: false },
      'control-socket': { 'socket-type': 'unix', 'socket-name': join(run, 'kea4.sock') },
      'subnet4': [{ id: 1, subnet: '10.79.0.0/24', pools: [{ pool: '10.79.0.100 - 10.79.0.150' }] }],
      ...classes,
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
    },
  }, null, 2));
  const env = ['env', `KEA_PIDFILE_DIR=${run}`, `KEA_LOCKFILE_DIR=${run}`, '/usr/sbin/kea-dhcp4', '-c', conf];
  // kea-dhcp4 -t: the configuration checked, in the namespace where its interface is.
  const syntax = await runInNamespace(link.s, env[0]!, [...env.slice(1, -2), '-t', conf]);
  assert.equal(syntax.exitCode, 0, `kea-dhcp4 -t accepts the configuration: ${syntax.stdout}${syntax.stderr}`);
  const server = startInNamespace(link.world, link.s, env[0]!, env.slice(1), join(link.world.dir, 'kea.log'));
  await waitFor('Kea to listen', () => (/DHCP4_STARTED|DHCPSRV_CFGMGR_ADD_IFACE/.test(server.log()) ? true : undefined), 15000).catch((e: Error) => assert.fail(`${e.message}\n${server.log()}`));
  checkOffers(await offers(link), 'Kea');
});
