import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, chmod, chown, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { makeWorld, sh, type World } from '../support/world.js';
import { scratchFilesystem, mountFs, attachLoop, sparseFile, makeFilesystem } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';

// `lifeboat compare` on a mounted, running tree (two filesystems: / and /boot): after a set of
// known changes it reports exactly them, nothing for the volatile paths of the default ignore
// list or for --ignore, and exits 1; an untouched system exits 0.

async function buildSystem(world: World, name: string): Promise<{ root: string; p: (...parts: string[]) => string }> {
  const sys = await scratchFilesystem(world, name, 'ext4', 96 << 20);
  const root = sys.mountpoint;
  const p = (...parts: string[]) => join(root, ...parts);
  for (const d of ['etc', 'usr/bin', 'var/log', 'var/cache/apt', 'var/lib/foo/state', 'var/lib/systemd/timers', 'home/op/.cache', 'srv/uploads', 'tmp', 'boot']) await mkdir(p(d), { recursive: true });
  await writeFile(p('etc', 'hosts'), '127.0.0.1 localhost\n');
  await writeFile(p('etc', 'motd'), 'welcome\n');
  await writeFile(p('etc', 'gone'), 'will be deleted\n');
  await writeFile(p('etc', 'owned'), 'owner changes\n');
  await writeFile(p('etc', 'touched'), 'only its mtime changes\n');
  await writeFile(p('etc', 'attrs'), 'gets an xattr\n');
  await symlink('hosts', p('etc', 'link'));
  await writeFile(p('usr', 'bin', 'tool'), '#!/bin/sh\necho tool\n');
  await chmod(p('usr', 'bin', 'tool'), 0o755);
  await writeFile(p('var', 'log', 'syslog'), 'boot\n');
  await writeFile(p('var', 'cache', 'apt', 'pkgcache.bin'), 'cache\n');
  await writeFile(p('var', 'lib', 'foo', 'state', 'counter'), '1\n');
  await writeFile(p('var', 'lib', 'systemd', 'timers', 'stamp-lifeboat-nightly.timer'), '');
  await writeFile(p('home', 'op', '.bash_history'), 'ls\n');
  await writeFile(p('srv', 'uploads', 'a.jpg'), 'jpeg\n');
  // /boot is a filesystem of its own, as on most installed systems.
  const bootImg = await sparseFile(join(world.dir, `${name}-boot.img`), 32 << 20);
  const bootDev = await attachLoop(world, bootImg);
  await makeFilesystem(bootDev, 'ext4', 'boot');
  await mountFs(world, bootDev, p('boot'));
  await mkdir(p('boot', 'grub'));
  await writeFile(p('boot', 'grub', 'grub.cfg'), 'set timeout=5\n');
  return { root, p };
}

const lines = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('  (')[0]!.replace(/\s+/, ' '));

test('live compare reports exactly the known changes and nothing for ignored paths', async (t) => {
  const world = await makeWorld(t, 'lb-live');
  const { root, p } = await buildSystem(world, 'live-sys');
  const store = join(world.dir, 'store');
  const archived = await lifeboat(['archive', '--store', store, '--image', 'live', '--root', root, '--json']);
  assert.equal(archived.exitCode, 0, archived.stderr);
  assert.deepEqual(JSON.parse(await readFile(join(String(jsonLines(archived.stdout).find((e) => e.type === 'published')!.dir), 'manifest.json'), 'utf8')).archives.map((a: { mountpoint: string }) => a.mountpoint), ['/', '/boot']);

  const out = join(world.dir, 'changed.txt');
  const same = await lifeboat(['compare', 'live', '--store', store, '--root', root, '--output', out]);
  assert.equal(same.exitCode, 0, same.stdout + same.stderr);
  assert.match(same.stdout, /^same: live@\S+ vs .*: 0 content, 0 metadata, 0 missing, 0 new/);
  assert.match(await readFile(out, 'utf8'), /# summary: 0 content, 0 metadata, 0 missing, 0 new, in \d+ archived entries of 2 filesystem\(s\)/);

  // What someone changed.
  await writeFile(p('etc', 'hosts'), '127.0.0.2 localhost\n'); // same size, new bytes
  await appendFile(p('etc', 'motd'), 'be nice\n');
  await rm(p('etc', 'gone'));
  await writeFile(p('etc', 'new-file'), 'added\n');
  await chown(p('etc', 'owned'), 4242, 4242);
  await sh('touch', ['-d', '2001-01-01 00:00:00', p('etc', 'touched')]);
  await sh('setfattr', ['-n', 'user.note', '-v', 'hello', p('etc', 'attrs')]);
  await rm(p('etc', 'link'));
  await symlink('motd', p('etc', 'link'));
  await chmod(p('usr', 'bin', 'tool'), 0o4755);
  await mkdir(p('opt', 'new'), { recursive: true });
  await appendFile(p('boot', 'grub', 'grub.cfg'), 'set default=1\n');
  // What a running system changes by itself, and what the operator says to ignore.
  await appendFile(p('var', 'log', 'syslog'), 'more\n');
  await writeFile(p('var', 'log', 'new.log'), 'x\n');
  await writeFile(p('var', 'cache', 'apt', 'pkgcache.bin'), 'rebuilt cache\n');
  await writeFile(p('var', 'lib', 'foo', 'state', 'counter'), '2\n');
  await writeFile(p('var', 'lib', 'systemd', 'timers', 'stamp-lifeboat-nightly.timer'), 'x');
  await appendFile(p('home', 'op', '.bash_history'), 'rm -rf /tmp/x\n');
  await writeFile(p('home', 'op', '.cache', 'thumb'), 'x\n');
  await writeFile(p('tmp', 'scratch'), 'x\n');
  await writeFile(p('srv', 'uploads', 'b.jpg'), 'another\n');
  await rm(p('srv', 'uploads', 'a.jpg'));

  const expected = [
    'metadata /etc/attrs',
    'missing /etc/gone',
    'content /etc/hosts',
    'metadata /etc/link',
    'content /etc/motd',
    'new /etc/new-file',
    'metadata /etc/owned',
    'metadata /etc/touched',
    'new /opt',
    'new /opt/new',
    'metadata /usr/bin/tool',
    'content /boot/grub/grub.cfg',
  ];
  const diff = await lifeboat(['compare', 'live', '--store', store, '--root', root, '--ignore', '/srv/uploads', '--output', out]);
  assert.equal(diff.exitCode, 1, diff.stdout + diff.stderr);
  assert.match(diff.stdout, /^different: .*: 3 content, 5 metadata, 1 missing, 3 new; the list is in /);
  const text = await readFile(out, 'utf8');
  assert.deepEqual(lines(text), expected);
  assert.match(text, /^content  \/etc\/motd  \(size 8 → 16; mtime /m);
  assert.match(text, /^metadata \/etc\/owned  \(owner 0:0 → 4242:4242\)/m);
  assert.match(text, /^metadata \/etc\/attrs  \(xattr user\.note added\)/m);
  assert.match(text, /^metadata \/etc\/link  \(.*link target hosts → motd/m);
  assert.match(text, /^metadata \/usr\/bin\/tool  \(mode 0755 → 4755\)/m);
  assert.match(text, /^metadata \/etc\/touched  \(mtime .* → 2001-01-01T00:00:00\.000Z\)/m);
  assert.match(text, /^# not compared: \/var\/log .*\/var\/lib\/\*\/state.* \/srv\/uploads$/m);

  const json = await lifeboat(['compare', 'live', '--store', store, '--root', root, '--ignore', '/srv/uploads', '--output', '-', '--json']);
  assert.equal(json.exitCode, 1);
  const result = jsonLines(json.stdout).find((e) => e.type === 'compared') as { same: boolean; content: number; new: number; differences: Array<{ kind: string; path: string }> };
  assert.equal(result.same, false);
  assert.deepEqual([result.content, result.new], [3, 3]);
  assert.deepEqual(result.differences.map((d) => `${d.kind} ${d.path}`).sort(), [...expected].sort());

  // Without the default list the volatile paths show up, and --ignore still holds.
  const all = await lifeboat(['compare', 'live', '--store', store, '--root', root, '--no-default-ignores', '--ignore', '/srv/uploads', '--output', '-']);
  assert.equal(all.exitCode, 1);
  for (const volatile of ['content /var/log/syslog', 'new /var/log/new.log', 'content /var/lib/foo/state/counter', 'new /tmp/scratch', 'content /home/op/.bash_history']) {
    assert.ok(lines(all.stdout).includes(volatile), `${volatile} in\n${all.stdout}`);
  }
  assert.ok(!lines(all.stdout).some((l) => l.includes('/srv/uploads')), all.stdout);
});

test('live compare of an incremental version compares with the tree of its whole chain', async (t) => {
  const world = await makeWorld(t, 'lb-live2');
  const { root, p } = await buildSystem(world, 'live2-sys');
  const store = join(world.dir, 'store');
  const archive = async () => {
    const r = await lifeboat(['archive', '--store', store, '--image', 'inc', '--root', root, '--incremental', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    await new Promise((r) => setTimeout(r, 1100));
    return String(jsonLines(r.stdout).find((e) => e.type === 'published')!.version);
  };
  const full = await archive();
  await rm(p('etc', 'gone'));
  await writeFile(p('etc', 'new-file'), 'added\n');
  await appendFile(p('etc', 'motd'), 'changed\n');
  await writeFile(p('boot', 'grub', 'grub.cfg'), 'set timeout=1\n');
  const increment = await archive();

  const out = join(world.dir, 'changed.txt');
  const now = await lifeboat(['compare', `inc@${increment}`, '--store', store, '--root', root, '--output', out]);
  assert.equal(now.exitCode, 0, `${now.stdout}${await readFile(out, 'utf8')}`);
  assert.match(await readFile(out, 'utf8'), /incremental level 1: the tree of its whole chain/);
  const then = await lifeboat(['compare', `inc@${full}`, '--store', store, '--root', root, '--output', out]);
  assert.equal(then.exitCode, 1);
  assert.deepEqual(lines(await readFile(out, 'utf8')), ['missing /etc/gone', 'content /etc/motd', 'new /etc/new-file', 'content /boot/grub/grub.cfg']);

  // A damaged volume of the chain is named, not compared around.
  const manifest = JSON.parse(await readFile(join(store, 'inc', full, 'manifest.json'), 'utf8')) as { archives: Array<{ volumes: Array<{ path: string }> }> };
  const volume = join(store, 'inc', full, manifest.archives[0]!.volumes[0]!.path);
  const bytes = await readFile(volume);
  bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff;
  await writeFile(volume, bytes);
  const broken = await lifeboat(['compare', `inc@${increment}`, '--store', store, '--root', root, '--output', out]);
  assert.equal(broken.exitCode, 5, broken.stdout + broken.stderr);
  assert.match(broken.stderr, new RegExp(`\\.\\./${full}/data/root\\.tar\\.zst fails its checksum`));
});
