import { createHash } from 'node:crypto';
import type { FileEntry } from './trees.js';

/**
 * The files the fixtures carry, as data: what a faithful restore must keep (hard links, symlinks,
 * owners, modes, xattrs, a file capability, set-uid, reproducible content), written in this order.
 * Each list is one filesystem's tree, paths relative to its mountpoint.
 */

const MiB = 1024 * 1024;

/**
 * What makes the fixture one machine and not another (a clone must get its own): hostname,
 * machine-id and an SSH host key. Only the public half is shipped — the fixture runs no sshd, and
 * a private key has no place in a repository; a restore treats the pair the same way.
 */
export function machineIdentity(name: string): { hostname: string; machineId: string; sshHostKey: string; files: FileEntry[] } {
  const hostname = `fixture-${name}`;
  const machineId = createHash('sha256').update(`${name}:machine-id`).digest('hex').slice(0, 32);
  const sshHostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPf068Zo8awt1KdMLy+1wUSeIRk1yOPRmlCkZJJNfmd2 root@fixture\n';
  return {
    hostname,
    machineId,
    sshHostKey,
    files: [
      { path: 'etc/hostname', text: `${hostname}\n` },
      { path: 'etc/machine-id', text: `${machineId}\n`, mode: 0o444 },
      { path: 'etc/ssh/ssh_host_ed25519_key.pub', text: sshHostKey },
    ],
  };
}

/** What FIXTURE-IDENTITY prints for a machine of this identity: the host key as the first 16 hex digits of its sha256. */
export function identityMarker(identity: { hostname: string; machineId: string; sshHostKey: string }): { hostname: string; machineId: string; sshKey: string } {
  return { hostname: identity.hostname, machineId: identity.machineId, sshKey: createHash('sha256').update(identity.sshHostKey).digest('hex').slice(0, 16) };
}

/** The identity files under /etc; `users` beyond root, each with uid = gid. */
export function identityFiles(name: string, prettyName: string, users: Array<{ name: string; id: number; gecos: string; home: string }>): FileEntry[] {
  const all = [{ name: 'root', id: 0, gecos: 'root', home: '/root' }, ...users];
  return [
    ...machineIdentity(name).files,
    { path: 'etc/os-release', text: `PRETTY_NAME="${prettyName}"\nNAME="Lifeboat fixture"\nID=lifeboat-fixture\nVERSION_ID=1\n` },
    { path: 'etc/passwd', text: all.map((u) => `${u.name}:x:${u.id}:${u.id}:${u.gecos}:${u.home}:/bin/sh\n`).join('') },
    { path: 'etc/group', text: all.map((u) => `${u.name}:x:${u.id}:\n`).join('') },
    { path: 'etc/shadow', text: all.map((u) => `${u.name}:*:19000:0:99999:7:::\n`).join(''), mode: 0o640 },
  ];
}

export const FIXTURE_USER = { name: 'user', id: 1000, gecos: 'fixture user', home: '/home/user' };
export const SERVICE_USER = { name: 'srv', id: 1001, gecos: 'service', home: '/srv' };

/** The root filesystem's examples of what a restore keeps; `readme` says what the fixture is. */
export function rootExamples(name: string, readme: string): FileEntry[] {
  return [
    { path: 'usr/share/fixture/readme.txt', text: readme },
    { path: 'usr/share/fixture/readme-hardlink.txt', hardlinkTo: 'usr/share/fixture/readme.txt' },
    { path: 'usr/share/fixture/readme-symlink.txt', symlinkTo: 'readme.txt' },
    { path: 'usr/share/fixture/with-xattr.txt', text: 'carries user.lifeboat.fixture\n', xattr: name },
    { path: 'usr/local/bin/setuid-example', text: '#!/bin/sh\nid\n', mode: 0o4755 },
    { path: 'usr/local/bin/capability-example', text: '#!/bin/sh\necho raw sockets\n', mode: 0o755, capability: 'cap_net_raw+ep' },
  ];
}

export function seedFile(name: string): FileEntry {
  return { path: 'var/lib/fixture/seed.bin', seed: `${name}:seed`, bytes: 256 * 1024 };
}

/** /data: large reproducible blobs, a hard link, a symlink, an empty file, an xattr (`xattrText` says on what), a file of uid 1000. */
export function dataTree(name: string, xattrText: string): FileEntry[] {
  return [
    { path: 'blobs/a.bin', seed: `${name}:a`, bytes: 3 * MiB },
    { path: 'blobs/b.bin', seed: `${name}:b`, bytes: MiB },
    { path: 'blobs/b-hardlink.bin', hardlinkTo: 'blobs/b.bin' },
    { path: 'latest', symlinkTo: 'blobs/b.bin' },
    { path: 'empty', text: '' },
    { path: 'docs/with-xattr.txt', text: xattrText, xattr: `${name}-data` },
    { path: 'docs/owned.txt', text: 'group-readable, owned by uid 1000\n', mode: 0o640, owner: 1000 },
  ];
}

export function espTree(name: string): FileEntry[] {
  return [
    { path: 'fixture.txt', text: `ESP of the Lifeboat fixture '${name}'\n` },
    { path: 'loader/entries/fixture.conf', text: 'title Lifeboat fixture (not used: GRUB boots)\n' },
  ];
}

/** /home on its own filesystem: the user's private files. */
export function homeTree(name: string): FileEntry[] {
  return [
    { path: 'user/notes.txt', text: 'private notes of uid 1000 on XFS\n', mode: 0o600, xattr: `${name}-home`, owner: 1000 },
    { path: 'user/.profile', text: 'export PS1="fixture$ "\n', owner: 1000 },
    { path: 'user/blob.bin', seed: `${name}:home`, bytes: 2 * MiB, owner: 1000 },
    { path: 'user', dir: true, mode: 0o750, owner: 1000 },
  ];
}

/** /srv: a web root of uid 1001; `logs` is where the logs subvolume is mounted. */
export function srvTree(name: string): FileEntry[] {
  return [
    { path: 'www/index.html', text: `<h1>${name}</h1>\n`, owner: 1001 },
    { path: 'www/big.bin', seed: `${name}:srv`, bytes: 3 * MiB },
    { path: 'index.html', symlinkTo: 'www/index.html' },
    { path: 'logs', dir: true },
    { path: 'www', dir: true, owner: 1001 },
  ];
}

export function srvLogsTree(name: string): FileEntry[] {
  return [
    { path: 'app.log', text: 'line 1\nline 2\n', mode: 0o640, owner: 1001 },
    { path: 'archive/app.log.1', seed: `${name}:logs`, bytes: 512 * 1024 },
  ];
}

/** /srv on JFS (the MBR fixture). */
export function srvJfsTree(name: string): FileEntry[] {
  return [
    { path: 'www/index.html', text: `<h1>${name} on JFS</h1>\n`, owner: 1001 },
    { path: 'www/big.bin', seed: `${name}:srv`, bytes: 2 * MiB },
    { path: 'index.html', symlinkTo: 'www/index.html' },
  ];
}
