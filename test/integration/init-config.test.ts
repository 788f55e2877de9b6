import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld } from '../support/world.js';
import { lifeboat, LIFEBOAT_BIN } from '../support/cli.js';
import { freePort } from '../support/local-server.js';

// `lifeboat init` in a temporary root writes the one configuration file; `lifeboat serve` started
// with nothing but $LIFEBOAT_CONFIG serves what it says, and the CLI, given no --server and no
// --token-file, finds that server and its admin token through the same file. Flags and the
// environment go over the file.

const HEALTHCHECK = fileURLToPath(new URL('../../../docker/healthcheck.js', import.meta.url));

const setting = (unit: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];

test('init writes a config that serve and the CLI both read; it names who holds a port; flag > environment > file', async (t) => {
  const world = await makeWorld(t, 'lb-init');
  const root = join(world.dir, 'sysroot');
  const data = join(world.dir, 'state');
  const port = await freePort();
  // A listener on the HTTP port while init runs: init must name this process as its holder.
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  const init = await lifeboat(['init', '--yes', '--root', root, '--data', data, '--http', `127.0.0.1:${port}`, '--dhcp', 'off', '--nfs', 'off']);
  await new Promise<void>((r) => squatter.close(() => r()));
  assert.equal(init.exitCode, 0, init.stderr);
  const configPath = join(root, 'etc', 'lifeboat', 'config.json');
  assert.deepEqual(JSON.parse(await readFile(configPath, 'utf8')), { data, store: join(data, 'store'), http: `127.0.0.1:${port}`, dhcp: { mode: 'off' }, nfs: { mode: 'off' } });
  assert.match(init.stdout, new RegExp(`${port}/tcp .*IN USE: 127\\.0\\.0\\.1:${port} by node \\(pid ${process.pid}\\)`), init.stdout);
  assert.match(init.stdout, /^\s+69\/udp\s+TFTP\s+(free|IN USE)/m);
  // DHCP off: the site's own server gets the next-server and the boot file per architecture.
  assert.match(init.stdout, new RegExp(`dhcp-boot=tag:!ipxe,tag:!efi64,tag:!efihttp,undionly.kpxe,,127.0.0.1`));
  assert.match(init.stdout, /filename "snponly.efi";/);
  assert.match(init.stdout, new RegExp(`"boot-file-name": "http://127.0.0.1:${port}/boot/\\$\\{net0/mac\\}.ipxe"`));
  // dnsmasq itself accepts its snippet; Kea's is JSON once put in its object.
  const snippets = init.stdout.slice(init.stdout.indexOf('# dnsmasq'));
  const dnsmasqConf = join(world.dir, 'dnsmasq.conf');
  await writeFile(dnsmasqConf, snippets.slice(0, snippets.indexOf('\n\n')) + '\n');
  const syntax = await execa('dnsmasq', ['--test', '-C', dnsmasqConf], { reject: false });
  assert.equal(syntax.exitCode, 0, syntax.stderr);
  const kea = snippets.slice(snippets.indexOf('\n"client-classes": [') + 1, snippets.indexOf('\n]\n') + 2);
  const classes = (JSON.parse(`{${kea}}`) as { 'client-classes': Array<{ name: string; 'boot-file-name': string }> })['client-classes'];
  assert.deepEqual(classes.map((c) => c['boot-file-name']), [`http://127.0.0.1:${port}/boot/\${net0/mac}.ipxe`, `http://127.0.0.1:${port}/boot/ipxe.efi`, 'snponly.efi', 'undionly.kpxe']);

  // The CLI before any server runs: no token yet where the file's data directory says (exit 9,
  // naming that path); with a token, the file's URL, so the error names it (not the default 8080).
  const env = { LIFEBOAT_CONFIG: configPath };
  const noToken = await lifeboat(['hosts', 'list'], { env });
  assert.equal(noToken.exitCode, 9, noToken.stderr);
  assert.match(noToken.stderr, new RegExp(`the token file ${join(data, 'admin-token')} does not exist \\(looked there because of the config file's data\\)`));
  const early = await lifeboat(['hosts', 'list'], { env: { ...env, LIFEBOAT_ADMIN_TOKEN: 'x' } });
  assert.equal(early.exitCode, 10, early.stderr);
  assert.match(early.stderr, new RegExp(`cannot reach the server at http://127.0.0.1:${port} `));

  // serve with the file only (TFTP off by flag: a flag over the file).
  const serve = execa(process.execPath, [LIFEBOAT_BIN, 'serve', '--tftp', 'off'], { reject: false, env: { ...env, LIFEBOAT_LOG_LEVEL: 'warn' }, stdout: 'pipe', stderr: 'pipe' });
  world.defer(async () => {
    serve.kill('SIGTERM');
    await Promise.race([serve, new Promise((r) => setTimeout(r, 5000))]);
    serve.kill('SIGKILL');
  });
  let banner = '';
  await new Promise<void>((resolve, reject) => {
    serve.stdout!.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      if (banner.includes('config ')) resolve();
    });
    void serve.then((r) => reject(new Error(`serve exited ${r.exitCode}: ${String(r.stderr)}`)));
  });
  assert.match(banner, new RegExp(`API, boot files\\s+http://127.0.0.1:${port}`));
  assert.match(banner, new RegExp(`admin token\\s+${join(data, 'admin-token')}$`, 'm'), 'the token lives in the data directory the file names');
  assert.match(banner, /TFTP\s+off$/m);
  assert.match(banner, /rescue system\s+MISSING in .*run lifeboat netboot build/);
  assert.match(banner, new RegExp(`config\\s+${configPath}$`, 'm'));
  assert.ok(existsSync(join(data, 'lifeboat.sqlite')), 'serve keeps its state where the file says');

  // The CLI with nothing but the file: the server's URL and its admin token (no 401).
  const listed = await lifeboat(['hosts', 'list', '--json'], { env });
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), []);
  // The environment goes over the file, and a flag over the environment.
  const envWins = await lifeboat(['hosts', 'list'], { env: { ...env, LIFEBOAT_SERVER: 'http://127.0.0.1:1' } });
  assert.equal(envWins.exitCode, 10);
  assert.match(envWins.stderr, /cannot reach the server at http:\/\/127.0.0.1:1 /);
  const flagWins = await lifeboat(['hosts', 'list', '--server', `http://127.0.0.1:${port}`], { env: { ...env, LIFEBOAT_SERVER: 'http://127.0.0.1:1' } });
  assert.equal(flagWins.exitCode, 0, flagWins.stderr);
  const otherToken = await lifeboat(['hosts', 'list'], { env: { ...env, LIFEBOAT_ADMIN_TOKEN: 'not-the-token-of-this-server' } });
  assert.equal(otherToken.exitCode, 9, 'LIFEBOAT_ADMIN_TOKEN goes over the file\'s token file');

  // The container's HEALTHCHECK finds /healthz through the same file; a server that is not there fails it.
  const healthy = await execa(process.execPath, [HEALTHCHECK], { reject: false, env });
  assert.equal(healthy.exitCode, 0, healthy.stderr);
  const elsewhere = join(world.dir, 'elsewhere.json');
  await writeFile(elsewhere, JSON.stringify({ http: '127.0.0.1:1' }));
  const unhealthy = await execa(process.execPath, [HEALTHCHECK], { reject: false, env: { LIFEBOAT_CONFIG: elsewhere } });
  assert.equal(unhealthy.exitCode, 1);
  assert.match(unhealthy.stderr, /^healthcheck: /);
});

test('init --systemd: a unit for lifeboat serve --config that systemd-analyze accepts, enabled, restarted on failure, state in /var/lib/lifeboat', async (t) => {
  const world = await makeWorld(t, 'lb-initsd');
  const root = join(world.dir, 'sysroot');
  const init = await lifeboat(['init', '--yes', '--root', root, '--interface', 'lo', '--dhcp', 'proxy', '--nfs', 'off', '--http', `${await freePort()}`, '--systemd']);
  assert.equal(init.exitCode, 0, init.stderr);
  assert.match(init.stdout, /proxy DHCP on lo/);
  const dir = join(root, 'etc', 'systemd', 'system');
  const unitPath = join(dir, 'lifeboat.service');
  const unit = await readFile(unitPath, 'utf8');
  const verify = await execa('systemd-analyze', ['verify', unitPath], { reject: false });
  assert.equal(verify.exitCode, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze has nothing to say about the unit');
  assert.equal(setting(unit, 'ExecStart'), `${process.execPath} ${LIFEBOAT_BIN} serve --config /etc/lifeboat/config.json`);
  assert.equal(setting(unit, 'Restart'), 'on-failure');
  assert.equal(setting(unit, 'StateDirectory'), 'lifeboat');
  assert.equal(setting(unit, 'StandardError'), 'journal');
  const wants = join(dir, 'multi-user.target.wants', 'lifeboat.service');
  assert.equal((await lstat(wants)).isSymbolicLink(), true, 'the unit is enabled');
  assert.equal(await readlink(wants), '/etc/systemd/system/lifeboat.service');
  assert.deepEqual(JSON.parse(await readFile(join(root, 'etc', 'lifeboat', 'config.json'), 'utf8')).dhcp, { mode: 'proxy', interface: 'lo' });
});

test('init refuses what serve would refuse, and an existing file without --force: one line, the usual exit codes', async (t) => {
  const world = await makeWorld(t, 'lb-initbad');
  const root = join(world.dir, 'sysroot');
  const noRange = await lifeboat(['init', '--yes', '--root', root, '--interface', 'lo', '--dhcp', 'full']);
  assert.equal(noRange.exitCode, 2);
  assert.equal(noRange.stderr, 'lifeboat init: --dhcp full needs --range FIRST-LAST: the addresses it may hand out');
  assert.equal(existsSync(join(root, 'etc', 'lifeboat', 'config.json')), false, 'nothing written');
  const noIface = await lifeboat(['init', '--yes', '--root', root, '--interface', `nosuch${world.id.slice(0, 6)}`]);
  assert.equal(noIface.exitCode, 2);
  assert.match(noIface.stderr, /^lifeboat init: interface nosuch\w+ does not exist here; interfaces: .*lo/);
  assert.equal((await lifeboat(['init', '--yes', '--root', root, '--http', `${await freePort()}`])).exitCode, 0);
  const again = await lifeboat(['init', '--yes', '--root', root]);
  assert.equal(again.exitCode, 4);
  assert.equal(again.stderr, `lifeboat init: ${join(root, 'etc/lifeboat/config.json')} exists already: edit it, or run lifeboat init --force to replace it`);
  assert.equal((await lifeboat(['init', '--yes', '--force', '--root', root, '--http', '9'])).exitCode, 0);
  assert.equal(JSON.parse(await readFile(join(root, 'etc/lifeboat/config.json'), 'utf8')).http, '9');
});

test('init on a terminal asks for what the flags leave out; input that ends early writes nothing', async (t) => {
  const world = await makeWorld(t, 'lb-initask');
  const root = join(world.dir, 'sysroot');
  // script(1) gives init a terminal; the answers are typed ahead, as a paste would be.
  const onTerminal = (args: string[], typed: string) =>
    execa('script', ['-qec', [process.execPath, LIFEBOAT_BIN, 'init', ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { reject: false, input: typed, env: { TERM: 'dumb' } });
  const answered = await onTerminal(['--root', root, '--http', '9'], `lo\nfull\n10.9.0.10-10.9.0.20\n${join(world.dir, 'data')}\n\noff\n`);
  assert.equal(answered.exitCode, 0, answered.stdout);
  for (const q of ['Test-bed interface', 'DHCP: off, proxy or full [proxy]', 'Address range FIRST-LAST', 'State directory [/var/lib/lifeboat]', 'Image store', 'NFS share: off, auto, ganesha or kernel [auto]']) {
    assert.ok(answered.stdout.includes(q), `init asks "${q}":\n${answered.stdout}`);
  }
  assert.deepEqual(JSON.parse(await readFile(join(root, 'etc/lifeboat/config.json'), 'utf8')), {
    data: join(world.dir, 'data'), store: join(world.dir, 'data', 'store'), http: '9',
    dhcp: { mode: 'full', interface: 'lo', range: '10.9.0.10-10.9.0.20' }, nfs: { mode: 'off' },
  });
  const cut = await onTerminal(['--root', join(world.dir, 'other')], 'lo\n');
  assert.equal(cut.exitCode, 2, cut.stdout);
  assert.match(cut.stdout, /lifeboat init: the input ended before "DHCP: off, proxy or full" was answered: nothing written; give it as a flag, or --yes for the defaults/);
  assert.doesNotMatch(cut.stdout, /at .*\.js:\d+/, 'no stack trace');
  assert.equal(existsSync(join(world.dir, 'other', 'etc/lifeboat/config.json')), false);
});

test('serve\'s logs: pino-pretty on a terminal, JSON lines into a pipe', async (t) => {
  const world = await makeWorld(t, 'lb-logfmt');
  const serveFor3s = async (data: string) => ['timeout', '3', process.execPath, LIFEBOAT_BIN, 'serve', '--data', data, '--http', `127.0.0.1:${await freePort()}`, '--tftp', 'off'];
  // On a terminal (script(1)); timeout's SIGTERM stops serve as a service stop would.
  const terminal = await execa('script', ['-qec', (await serveFor3s(join(world.dir, 'a'))).join(' '), '/dev/null'], { reject: false, env: { TERM: 'dumb' } });
  assert.match(terminal.stdout, /\[\d\d:\d\d:\d\d\] INFO: lifeboat serving/);
  assert.doesNotMatch(terminal.stdout, /^\{"level":/m);
  const [file, ...args] = await serveFor3s(join(world.dir, 'b'));
  const piped = await execa(file!, args, { reject: false });
  const lines = piped.stderr.split('\n').filter(Boolean);
  assert.ok(lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'lifeboat serving'), piped.stderr);
  assert.match(piped.stdout, /^Lifeboat .* serving$/m, 'the banner goes to stdout whatever the log format');
});
