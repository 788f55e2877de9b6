import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planIdentity, type IdentityChange, type TreeFile } from '../../images/restore/identity/identity-plan.js';
import { expandIdentities, expandPattern } from '../../images/restore/identity/identity-pattern.js';

const ID = '0123456789abcdef0123456789abcdef';
const OLD_ID = 'ffffffffffffffffffffffffffffffff\n';

/** A tree from path → text (mode 0644) or [text, mode]. */
function tree(files: Record<string, string | null | [string | null, number]>): Map<string, TreeFile> {
  return new Map(Object.entries(files).map(([p, v]) => [p, Array.isArray(v) ? { text: v[0], mode: v[1] } : { text: v, mode: 0o644 }]));
}

const written = (changes: IdentityChange[], path: string) => {
  const c = changes.find((x) => x.kind === 'write' && x.path === path);
  return c && c.kind === 'write' ? c : undefined;
};
const deleted = (changes: IdentityChange[]) => changes.filter((c) => c.kind === 'delete').map((c) => (c as { path: string }).path).sort();

const common = {
  '/etc/machine-id': [OLD_ID, 0o444] as [string, number],
  '/var/lib/systemd/random-seed': [null, 0o600] as [null, number],
  '/etc/ssh/ssh_host_ed25519_key': [null, 0o600] as [null, number],
  '/etc/ssh/ssh_host_ed25519_key.pub': null,
  '/etc/ssh/sshd_config': 'PermitRootLogin no\n',
};

test('Debian (ifupdown, static): hostname, /etc/hosts, address, machine-id for systemd and D-Bus, leases, udev rules and host keys', () => {
  const t = tree({
    ...common,
    '/etc/hostname': 'web01\n',
    '/etc/hosts': '127.0.0.1\tlocalhost\n127.0.1.1\tweb01.lab.example web01 # set by d-i\n\n::1 localhost ip6-localhost\n',
    '/etc/network/interfaces': 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto ens3\niface ens3 inet static\n    address 10.77.0.5/24\n    gateway 10.77.0.1\n    dns-nameservers 10.77.0.1\n',
    '/var/lib/dbus/machine-id': OLD_ID,
    '/var/lib/dhcp/dhclient.ens3.leases': null,
    '/etc/udev/rules.d/70-persistent-net.rules': 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:12:34:56", NAME="eth0"\n',
  });
  const { changes, notes } = planIdentity(t, { hostname: 'lab-03', ipv4: '10.77.0.23', machineId: ID });
  assert.equal(written(changes, '/etc/hostname')?.text, 'lab-03\n');
  assert.equal(written(changes, '/etc/hosts')?.text, '127.0.0.1\tlocalhost\n127.0.1.1\tlab-03.lab.example lab-03 # set by d-i\n\n::1 localhost ip6-localhost\n');
  assert.equal(
    written(changes, '/etc/network/interfaces')?.text,
    'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto ens3\niface ens3 inet static\n    address 10.77.0.23/24\n    gateway 10.77.0.1\n    dns-nameservers 10.77.0.1\n',
  );
  assert.deepEqual(written(changes, '/etc/machine-id'), { kind: 'write', path: '/etc/machine-id', text: `${ID}\n`, mode: 0o444, why: written(changes, '/etc/machine-id')!.why });
  assert.equal(written(changes, '/var/lib/dbus/machine-id')?.text, `${ID}\n`);
  assert.deepEqual(deleted(changes), [
    '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/etc/udev/rules.d/70-persistent-net.rules',
    '/var/lib/dhcp/dhclient.ens3.leases', '/var/lib/systemd/random-seed',
  ]);
  assert.ok(changes.some((c) => c.kind === 'ssh-host-keys'));
  assert.equal(written(changes, '/etc/ssh/sshd_config'), undefined, 'sshd_config is not identity');
  assert.deepEqual(notes, []);
});

test('Debian with DHCP: DHCP stays DHCP, --ip is reported as not used, no hostname asked means /etc/hostname is left', () => {
  const t = tree({ ...common, '/etc/hostname': 'web01\n', '/etc/network/interfaces': 'auto ens3\niface ens3 inet dhcp\n' });
  const { changes, notes } = planIdentity(t, { ipv4: '10.77.0.23', machineId: ID });
  assert.equal(written(changes, '/etc/network/interfaces'), undefined);
  assert.equal(written(changes, '/etc/hostname'), undefined);
  assert.match(notes.join('\n'), /no static IPv4 address is configured \(\/etc\/network\/interfaces\): the clone keeps using DHCP; --ip 10\.77\.0\.23 not used/);
});

test('Ubuntu (netplan): the address and its new prefix change, the nameserver on the same subnet does not, the 0600 mode stays', () => {
  const yaml = [
    'network:',
    '  version: 2',
    '  ethernets:',
    '    ens3:',
    '      addresses:',
    '        - 10.77.0.5/24',
    '      routes:',
    '        - to: default',
    '          via: 10.77.0.1',
    '      nameservers:',
    '        addresses: [10.77.0.2, 10.77.0.3]',
    '',
  ].join('\n');
  const t = tree({ ...common, '/etc/hostname': 'web01\n', '/etc/netplan/50-cloud-init.yaml': [yaml, 0o600] });
  const { changes } = planIdentity(t, { hostname: 'lab-04', ipv4: '10.77.0.24/16', machineId: ID });
  const netplan = written(changes, '/etc/netplan/50-cloud-init.yaml');
  assert.equal(netplan?.text, yaml.replace('- 10.77.0.5/24', '- 10.77.0.24/16'));
  assert.equal(netplan?.mode, 0o600);
});

test('Fedora (NetworkManager keyfile): address, dhcp-hostname, the MAC pin, NetworkManager\'s secret key and leases', () => {
  const keyfile = '[connection]\nid=ens3\ntype=ethernet\n\n[ethernet]\nmac-address=52:54:00:12:34:56\n\n[ipv4]\naddress1=10.77.0.5/24,10.77.0.1\ndhcp-hostname=web01\nmethod=manual\n\n[ipv6]\nmethod=auto\n';
  const t = tree({
    ...common,
    '/etc/hostname': 'web01.lab.example\n',
    '/etc/NetworkManager/system-connections/ens3.nmconnection': [keyfile, 0o600],
    '/var/lib/NetworkManager/secret_key': [null, 0o600],
    '/var/lib/NetworkManager/internal-6a4b-ens3.lease': 'ADDRESS=10.77.0.5\n',
    '/var/lib/NetworkManager/NetworkManager.state': '[main]\nNetworkingEnabled=true\n',
  });
  const { changes } = planIdentity(t, { hostname: 'lab-05.lab.example', ipv4: '10.77.0.25', machineId: ID });
  assert.equal(written(changes, '/etc/hostname')?.text, 'lab-05.lab.example\n');
  const conn = written(changes, '/etc/NetworkManager/system-connections/ens3.nmconnection');
  assert.equal(conn?.text, '[connection]\nid=ens3\ntype=ethernet\n\n[ethernet]\n\n[ipv4]\naddress1=10.77.0.25/24,10.77.0.1\ndhcp-hostname=lab-05\nmethod=manual\n\n[ipv6]\nmethod=auto\n');
  assert.equal(conn?.mode, 0o600);
  assert.deepEqual(deleted(changes).filter((p) => p.includes('NetworkManager')), ['/var/lib/NetworkManager/internal-6a4b-ens3.lease', '/var/lib/NetworkManager/secret_key']);
});

test('RHEL (ifcfg): IPADDR, PREFIX and HOSTNAME= in /etc/sysconfig/network; the HWADDR pin goes', () => {
  const ifcfg = 'DEVICE=eth0\nBOOTPROTO=none\nONBOOT=yes\nHWADDR=52:54:00:12:34:56\nIPADDR=10.77.0.5\nPREFIX=24\nGATEWAY=10.77.0.1\n';
  const t = tree({
    ...common,
    '/etc/hostname': 'web01\n',
    '/etc/sysconfig/network': 'NETWORKING=yes\nHOSTNAME=web01\n',
    '/etc/sysconfig/network-scripts/ifcfg-eth0': ifcfg,
    '/etc/sysconfig/network-scripts/ifcfg-lo': 'DEVICE=lo\nIPADDR=127.0.0.1\n',
  });
  const { changes } = planIdentity(t, { hostname: 'lab-06', ipv4: '10.77.1.6/16', machineId: ID });
  assert.equal(written(changes, '/etc/sysconfig/network')?.text, 'NETWORKING=yes\nHOSTNAME=lab-06\n');
  assert.equal(written(changes, '/etc/sysconfig/network-scripts/ifcfg-eth0')?.text, 'DEVICE=eth0\nBOOTPROTO=none\nONBOOT=yes\nIPADDR=10.77.1.6\nPREFIX=16\nGATEWAY=10.77.0.1\n');
  assert.equal(written(changes, '/etc/sysconfig/network-scripts/ifcfg-lo'), undefined, 'the loopback is not the machine\'s address');
});

test('systemd-networkd: Address= changes, Gateway= and DNS= do not; with no hostname file one is written', () => {
  const network = '[Match]\nName=en*\n\n[Network]\nAddress=10.77.0.5/24\nGateway=10.77.0.1\nDNS=10.77.0.1\n';
  const t = tree({ ...common, '/etc/systemd/network/10-wired.network': network, '/etc/systemd/network/99-default.link': '[Link]\nNamePolicy=kernel\n' });
  const { changes } = planIdentity(t, { hostname: 'lab-07', ipv4: '10.77.0.27', machineId: ID });
  assert.equal(written(changes, '/etc/systemd/network/10-wired.network')?.text, network.replace('Address=10.77.0.5/24', 'Address=10.77.0.27/24'));
  assert.equal(written(changes, '/etc/hostname')?.text, 'lab-07\n');
  assert.equal(written(changes, '/etc/systemd/network/99-default.link'), undefined);
});

test('refusals: two static addresses for one --ip, a bad hostname; no host keys means none are generated', () => {
  const t = tree({
    '/etc/network/interfaces': 'iface ens3 inet static\n  address 10.77.0.5/24\niface ens4 inet static\n  address 192.168.9.5/24\n',
  });
  assert.throws(() => planIdentity(t, { ipv4: '10.77.0.9', machineId: ID }), {
    code: 'LB_INVALID',
    message: '--ip 10.77.0.9: the image configures 2 static addresses (10.77.0.5 in /etc/network/interfaces, 192.168.9.5 in /etc/network/interfaces); --ip can replace only one',
  });
  assert.throws(() => planIdentity(t, { hostname: 'lab_01', machineId: ID }), { code: 'LB_INVALID', message: /hostname "lab_01" is not a valid host name/ });
  const { changes, notes } = planIdentity(t, { machineId: ID });
  assert.ok(!changes.some((c) => c.kind === 'ssh-host-keys'));
  assert.match(notes.join('\n'), /no SSH host keys in the image/);
  assert.match(notes.join('\n'), /static address 10\.77\.0\.5, 192\.168\.9\.5 kept \(no --ip given\)/);
});

test('patterns: {n}, {n+K}, {n:0W}; refused when two machines would share a name or an address, or a value is not valid', () => {
  assert.equal(expandPattern('lab-{n:02}', 3), 'lab-03');
  assert.equal(expandPattern('10.77.0.{n+100}', 3), '10.77.0.103');
  assert.equal(expandPattern('r{n+9:03}-x', 1), 'r010-x');
  assert.deepEqual(expandIdentities(2, { hostname: 'lab-{n}', ipv4: '10.77.0.{n+10}/24' }), [
    { hostname: 'lab-1', ipv4: '10.77.0.11/24' },
    { hostname: 'lab-2', ipv4: '10.77.0.12/24' },
  ]);
  assert.throws(() => expandIdentities(3, { hostname: 'lab' }), { code: 'LB_INVALID', message: 'machine 1 and machine 2 would both get hostname lab: every clone needs its own' });
  assert.throws(() => expandIdentities(2, { ipv4: '10.77.0.5' }), { message: 'machine 1 and machine 2 would both get address 10.77.0.5: every clone needs its own' });
  assert.throws(() => expandIdentities(200, { ipv4: '10.77.0.{n+100}' }), { message: 'machine 156: "10.77.0.256" is not an IPv4 address (a.b.c.d or a.b.c.d/prefix)' });
  assert.throws(() => expandPattern('lab-{i}', 1), { message: /pattern "lab-\{i\}": \{i\} is not a placeholder/ });
});
