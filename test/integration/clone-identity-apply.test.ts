import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { applyIdentity, renderIdentityReport } from '../../images/restore/identity/identity-apply.js';
import { makeWorld, sh } from '../support/world.js';

async function put(root: string, path: string, text: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
  await chmod(join(root, path), mode);
}

test('a restored Debian tree gets its own identity on disk: files replaced with their modes, new SSH host keys, identity.txt says what changed', async (t) => {
  const world = await makeWorld(t, 'lb-identity');
  const root = join(world.dir, 'root');
  // The source's host key, made the way its installer made it.
  await mkdir(join(root, 'etc/ssh'), { recursive: true });
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'root@web01', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key')]);
  const sourceKey = await sh('ssh-keygen', ['-l', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key.pub')]);
  await put(root, '/etc/hostname', 'web01\n');
  await put(root, '/etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\tweb01\n');
  await put(root, '/etc/machine-id', 'ffffffffffffffffffffffffffffffff\n', 0o444);
  await put(root, '/var/lib/dbus/machine-id', 'ffffffffffffffffffffffffffffffff\n');
  await put(root, '/var/lib/systemd/random-seed', 'seed', 0o600);
  await put(root, '/var/lib/dhcp/dhclient.ens3.leases', 'lease {\n  option dhcp-client-identifier 0:1:2:3;\n}\n');
  await put(root, '/etc/netplan/01-net.yaml', 'network:\n  ethernets:\n    ens3:\n      addresses: [10.77.0.5/24]\n', 0o600);

  const applied = await applyIdentity(root, { hostname: 'lab-01', ipv4: '10.77.0.21' });

  assert.match(applied.machineId, /^[0-9a-f]{32}$/);
  assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), 'lab-01\n');
  assert.equal(await readFile(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1\tlocalhost\n127.0.1.1\tlab-01\n');
  assert.equal(await readFile(join(root, 'etc/machine-id'), 'utf8'), `${applied.machineId}\n`);
  assert.equal((await stat(join(root, 'etc/machine-id'))).mode & 0o777, 0o444);
  assert.equal(await readFile(join(root, 'var/lib/dbus/machine-id'), 'utf8'), `${applied.machineId}\n`);
  assert.equal(await readFile(join(root, 'etc/netplan/01-net.yaml'), 'utf8'), 'network:\n  ethernets:\n    ens3:\n      addresses: [10.77.0.21/24]\n');
  assert.equal((await stat(join(root, 'etc/netplan/01-net.yaml'))).mode & 0o777, 0o600);
  await assert.rejects(stat(join(root, 'var/lib/systemd/random-seed')), { code: 'ENOENT' });
  await assert.rejects(stat(join(root, 'var/lib/dhcp/dhclient.ens3.leases')), { code: 'ENOENT' });

  const keys = (await readdir(join(root, 'etc/ssh'))).sort();
  assert.deepEqual(keys.filter((k) => !/^ssh_host_(rsa|ecdsa|ed25519)_key(\.pub)?$/.test(k)), [], `only host keys: ${keys}`);
  assert.ok(keys.includes('ssh_host_ed25519_key') && keys.includes('ssh_host_rsa_key.pub'), `${keys}`);
  assert.equal((await stat(join(root, 'etc/ssh/ssh_host_ed25519_key'))).mode & 0o777, 0o600);
  const newKey = await sh('ssh-keygen', ['-l', '-f', join(root, 'etc/ssh/ssh_host_ed25519_key.pub')]);
  assert.notEqual(newKey.split(' ')[1], sourceKey.split(' ')[1], 'a new ed25519 host key');
  assert.ok(applied.sshFingerprints.some((f) => f.split(' ')[1] === newKey.split(' ')[1]));

  const report = renderIdentityReport(applied);
  assert.match(report, new RegExp(`^machine-id ${applied.machineId}\n`));
  assert.match(report, /^write {2}\/etc\/hostname: hostname web01 → lab-01$/m);
  assert.match(report, /^write {2}\/etc\/netplan\/01-net\.yaml: static address 10\.77\.0\.5 → 10\.77\.0\.21$/m);
  assert.match(report, /^delete \/etc\/ssh\/ssh_host_ed25519_key: the source machine's SSH host key$/m);
  assert.match(report, /^delete \/var\/lib\/dhcp\/dhclient\.ens3\.leases: /m);
  assert.match(report, /^ssh {4}256 SHA256:\S+ .*\(ED25519\)$/m);
  assert.deepEqual((await readdir(join(root, 'etc'))).filter((n) => n.includes('lifeboat')), [], 'no temporary file left');

  const again = await applyIdentity(root, { hostname: 'lab-01' });
  assert.notEqual(again.machineId, applied.machineId, 'each application draws a new machine-id');
});
