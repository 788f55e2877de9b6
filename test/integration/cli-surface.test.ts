import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { lifeboat, LIFEBOAT_BIN } from '../support/cli.js';
import { makeWorld } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';

test('every command and subcommand answers --help with its usage and exit 0', async () => {
  const top = await lifeboat(['--help']);
  assert.equal(top.exitCode, 0);
  const commands = [...top.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 7, `commands listed: ${commands}`);
  const nested: Record<string, string[]> = { images: ['list', 'show', 'verify', 'prune'], hosts: ['list', 'show', 'boot-script', 'allow-backup', 'remove-backup', 'backups'], tasks: ['list', 'show', 'cancel', 'rearm'], netboot: ['build'], schedule: ['install', 'remove', 'show', 'run'], clones: ['list', 'show', 'cancel'] };
  for (const c of commands) {
    for (const argv of nested[c] ? nested[c]!.map((s) => [c, s, '--help']) : [[c, '--help']]) {
      const r = await lifeboat(argv);
      assert.equal(r.exitCode, 0, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage: lifeboat /, argv.join(' '));
    }
  }
  const unknown = await lifeboat(['frobnicate']);
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  for (const group of Object.keys(nested)) {
    const bare = await lifeboat([group]);
    assert.equal(bare.exitCode, 2, `${group} with no subcommand`);
    assert.match(bare.stdout, new RegExp(`^Usage: lifeboat ${group} <${nested[group]!.join('\\|')}>`));
    const wrong = await lifeboat([group, 'frobnicate']);
    assert.equal(wrong.exitCode, 2, `${group} frobnicate`);
    assert.equal(wrong.stderr, `lifeboat ${group}: unknown command "frobnicate"; use one of ${nested[group]!.join(', ')}`);
  }
  const badOption = await lifeboat(['archive', '--store', '/tmp', '--image', 'x', '--volume-size', 'lots']);
  assert.equal(badOption.exitCode, 2);
  assert.match(badOption.stderr, /--volume-size "lots" is not a size/);
});

test('on a terminal, archive draws a progress bar with bytes, rate and ETA', async (t) => {
  const world = await makeWorld(t, 'lb-tty');
  const src = await scratchFilesystem(world, 'src', 'ext4', 256 << 20);
  for (let i = 0; i < 12; i++) await writeFile(join(src.mountpoint, `f${i}`), randomBytes(8 << 20));
  const store = join(world.dir, 'store');
  // util-linux script(1) gives the command a pseudo-terminal, as an operator's shell would.
  const cmd = `${process.execPath} ${LIFEBOAT_BIN} archive --store ${store} --image tty --root ${src.mountpoint}`;
  const r = await execa('script', ['-q', '-e', '-c', cmd, '/dev/null'], { reject: false, env: { TERM: 'xterm' } });
  assert.equal(r.exitCode, 0, r.stdout);
  assert.match(r.stdout, /\d+% \| [\d.]+ (MiB|KiB|B) of ~[\d.]+ MiB \| [\d.]+ (MiB|KiB|B)\/s \| ETA/);
  assert.match(r.stdout, /published tty@\d{8}T\d{6}Z/);
});
