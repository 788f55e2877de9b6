import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { lifeboat, LIFEBOAT_BIN, type CliResult } from '../support/cli.js';
import { freePort, startLocalServer } from '../support/local-server.js';
import { screenOf } from '../support/terminal-screen.js';
import { makeWorld, type World } from '../support/world.js';

/**
 * The CLI's manners (issue 14), each through the real `bin/lifeboat.js`: help and did-you-mean,
 * where the server URL and token come from, and every failure a user can cause as one line with
 * the README's exit status and no stack frame.
 */
const STACK_FRAME = '    at ';

/** The one line a failure prints: exactly one line on stderr, nothing on stdout, no stack frame. */
function oneLine(r: CliResult, exitCode: number, line: string, what: string): void {
  assert.equal(r.stderr, line, what);
  assert.equal(r.exitCode, exitCode, `${what}: ${r.stderr}`);
  assert.equal(r.stdout, '', what);
  assert.ok(!r.stderr.includes(STACK_FRAME), `${what}: a stack frame in ${r.stderr}`);
}

/** A TCP listener the test owns, closed after it. */
async function listenOn(world: World, server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  world.defer(() => new Promise((resolve) => server.close(resolve)));
}

test('lifeboat help CMD prints CMD --help; unknown commands, subcommands and options get a did-you-mean', async () => {
  for (const argv of [['tasks', 'list'], ['archive'], ['images', 'verify'], ['tasks']]) {
    const viaHelp = await lifeboat(['help', ...argv]);
    const viaFlag = await lifeboat([...argv, '--help']);
    assert.equal(viaHelp.exitCode, 0, `help ${argv.join(' ')}: ${viaHelp.stderr}`);
    assert.equal(viaHelp.stdout, viaFlag.stdout, `help ${argv.join(' ')}`);
    assert.match(viaHelp.stdout, new RegExp(`^Usage: lifeboat ${argv.join(' ')}`));
  }
  oneLine(await lifeboat(['imgaes', 'list']), 2, 'lifeboat: unknown command "imgaes" (did you mean "images"?); lifeboat --help lists the commands', 'unknown command');
  oneLine(await lifeboat(['help', 'sevre']), 2, 'lifeboat: unknown command "sevre" (did you mean "serve"?); lifeboat --help lists the commands', 'help of an unknown command');
  oneLine(await lifeboat(['tasks', 'lsit']), 2, 'lifeboat tasks: unknown command "lsit" (did you mean "lifeboat tasks list"?); use one of list, show, cancel, rearm', 'unknown subcommand');
  oneLine(await lifeboat(['archive', '--stroe', '/srv/store', '--image', 'web']), 2, 'lifeboat archive: archive: Unknown option \'--stroe\' (did you mean "--store"?); see lifeboat archive --help', 'unknown option');
  oneLine(await lifeboat(['tasks', 'list', '--sever', 'http://x']), 2, 'lifeboat tasks: tasks list: Unknown option \'--sever\' (did you mean "--server"?); see lifeboat tasks list --help', 'unknown option of a subcommand');
  oneLine(await lifeboat(['frobnicate']), 2, 'lifeboat: unknown command "frobnicate"; lifeboat --help lists the commands', 'no near command');
});

test('the server comes from --server, else $LIFEBOAT_SERVER; the token from --token-file, else $LIFEBOAT_ADMIN_TOKEN, else <data>/admin-token', async (t) => {
  const world = await makeWorld(t, 'lb-manners');
  const server = await startLocalServer(world);
  const unused = `http://127.0.0.1:${await freePort()}`;
  const env = (vars: Record<string, string>) => ({ env: vars });
  // $LIFEBOAT_SERVER alone reaches the server (the option's default used to win over it).
  const byEnv = await lifeboat(['tasks', 'list', '--data', server.dataDir], env({ LIFEBOAT_SERVER: server.url }));
  assert.equal(byEnv.exitCode, 0, byEnv.stderr);
  assert.equal(byEnv.stdout, 'no tasks');
  // The flag beats the environment.
  const byFlag = await lifeboat(['tasks', 'list', '--server', server.url, '--data', server.dataDir], env({ LIFEBOAT_SERVER: unused }));
  assert.equal(byFlag.exitCode, 0, byFlag.stderr);
  // The token follows $LIFEBOAT_DATA as it follows --data.
  const byDataEnv = await lifeboat(['hosts', 'list'], env({ LIFEBOAT_SERVER: server.url, LIFEBOAT_DATA: server.dataDir }));
  assert.equal(byDataEnv.exitCode, 0, byDataEnv.stderr);
  assert.equal(byDataEnv.stdout, 'no hosts yet');
  const byTokenEnv = await lifeboat(['tasks', 'list', '--server', server.url, '--data', join(world.dir, 'elsewhere')], env({ LIFEBOAT_ADMIN_TOKEN: server.token }));
  assert.equal(byTokenEnv.exitCode, 0, byTokenEnv.stderr);
  // Another data directory's token file is looked for there, and its absence said, not skipped.
  const elsewhere = join(world.dir, 'elsewhere');
  oneLine(await lifeboat(['tasks', 'list', '--server', server.url, '--data', elsewhere]), 9,
    `lifeboat tasks: the API needs a token, but the token file ${elsewhere}/admin-token does not exist (looked there because of --data): give the server's admin token file (or its read-token) with --token-file, its data directory with --data, or the token in $LIFEBOAT_ADMIN_TOKEN`, 'no token in --data');
  const missing = join(world.dir, 'no-such-token');
  oneLine(await lifeboat(['tasks', 'list', '--server', server.url, '--token-file', missing], env({ LIFEBOAT_ADMIN_TOKEN: server.token })), 9,
    `lifeboat tasks: the API needs a token, but the token file ${missing} does not exist (looked there because of --token-file): give the server's admin token file (or its read-token) with --token-file, its data directory with --data, or the token in $LIFEBOAT_ADMIN_TOKEN`, 'missing --token-file, even with the token in the environment');
  // A token the server does not know is the server's 401, exit 9 too.
  const wrong = await lifeboat(['tasks', 'list', '--server', server.url], env({ LIFEBOAT_ADMIN_TOKEN: 'not-the-token' }));
  assert.equal(wrong.exitCode, 9, wrong.stderr);
  assert.match(wrong.stderr, /^lifeboat tasks: server says \(401\): /);
  // No such task is exit 3: not the unreachable server's 10, not a usage error's 2.
  oneLine(await lifeboat(['tasks', 'show', '999', '--server', server.url, '--data', server.dataDir]), 3, 'lifeboat tasks: server says (404): task 999 does not exist', 'no such task');
});

test('an unreachable server, a non-Lifeboat server and a bad URL: one line each, exit 10, 10 and 2', async (t) => {
  const world = await makeWorld(t, 'lb-manners');
  const port = await freePort();
  oneLine(await lifeboat(['tasks', 'list', '--server', `http://127.0.0.1:${port}`], { env: { LIFEBOAT_ADMIN_TOKEN: 'x' } }), 10,
    `lifeboat tasks: cannot reach the server at http://127.0.0.1:${port} (from --server: connect ECONNREFUSED 127.0.0.1:${port}): is lifeboat serve running there? Give its address with --server or $LIFEBOAT_SERVER`, 'unreachable');
  // A web page where the API should be: the CLI used to die in JSON.parse ("Unexpected token '<'").
  let requests = 0;
  const web = createHttpServer((req, res) => {
    requests++;
    res.writeHead(req.url?.startsWith('/api/v1/tasks') ? 200 : 404, { 'content-type': 'text/html' }).end('<html><body>It works!</body></html>');
  });
  const webPort = await freePort();
  await new Promise<void>((resolve) => web.listen(webPort, '127.0.0.1', resolve));
  world.defer(() => new Promise((resolve) => web.close(resolve)));
  const webUrl = `http://127.0.0.1:${webPort}`;
  oneLine(await lifeboat(['tasks', 'list'], { env: { LIFEBOAT_SERVER: webUrl, LIFEBOAT_ADMIN_TOKEN: 'x' } }), 10,
    `lifeboat tasks: the server at ${webUrl} (from $LIFEBOAT_SERVER) is not a Lifeboat server: it answered GET /api/v1/tasks?limit=1000 with 200 text/html, not the API's JSON: give lifeboat serve's HTTP address with --server or $LIFEBOAT_SERVER`, 'an HTML page with 200');
  oneLine(await lifeboat(['hosts', 'show', '52:54:00:12:34:56', '--server', webUrl], { env: { LIFEBOAT_ADMIN_TOKEN: 'x' } }), 10,
    `lifeboat hosts: the server at ${webUrl} (from --server) is not a Lifeboat server: it answered GET /api/v1/hosts/52%3A54%3A00%3A12%3A34%3A56 with 404 text/html, not the API's JSON: give lifeboat serve's HTTP address with --server or $LIFEBOAT_SERVER`, 'an HTML 404 is not "no such host"');
  assert.equal(requests, 2);
  oneLine(await lifeboat(['tasks', 'list', '--server', 'lifeboat.lan:8080'], { env: { LIFEBOAT_ADMIN_TOKEN: 'x' } }), 2,
    'lifeboat tasks: server URL "lifeboat.lan:8080" (from --server) is not http or https: give one like http://127.0.0.1:8080', 'a URL without a scheme');

  // MACs, addresses and ids are refused before anything is sent (the web server counts requests).
  const refusals: Array<[string[], string]> = [
    [['task', 'nuke', '--host', '52:54:00:zz:00:01', '--image', 'web'], 'lifeboat task: --host: "52:54:00:zz:00:01" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)'],
    [['task', 'nuke', '--host', '52:54:00:00:00:01', '--image', 'web', '--ip', '10.77.0.300/24'], 'lifeboat task: --ip: "10.77.0.300" is not an IPv4 address: write it as four numbers 0-255, e.g. 10.0.0.1'],
    [['hosts', 'boot-script', 'lab-01'], 'lifeboat hosts: hosts boot-script: "lab-01" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)'],
    [['tasks', 'list', '--host', '52:54:00:00:00'], 'lifeboat tasks: --host: "52:54:00:00:00" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)'],
    [['tasks', 'cancel', 'latest'], 'lifeboat tasks: "latest" is not a task id: task ids are whole numbers (lifeboat tasks list shows them)'],
    [['clone', 'golden', '--hosts', '52:54:00:00:00:01,52:54:00:00:00:0g'], 'lifeboat clone: --hosts: "52:54:00:00:00:0g" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)'],
  ];
  for (const [argv, line] of refusals) oneLine(await lifeboat([...argv, '--server', webUrl], { env: { LIFEBOAT_ADMIN_TOKEN: 'x' } }), 2, line, argv.join(' '));
  assert.equal(requests, 2, 'nothing was sent for a bad MAC, address or id');
});

test('serve with its HTTP port taken: one line, exit 4, and no "database connection is not open" after it', async (t) => {
  const world = await makeWorld(t, 'lb-manners');
  const port = await freePort();
  await listenOn(world, createNetServer(), port);
  // Images in the store keep the catalog's first scan busy while start-up fails: the scan then
  // used to touch the closed database (TypeError: The database connection is not open).
  const data = join(world.dir, 'data');
  for (let i = 0; i < 40; i++) {
    const version = join(data, 'store', `img${i}`, '20261127T141300Z');
    await mkdir(version, { recursive: true });
    await writeFile(join(version, 'manifest.json'), '{}');
  }
  const r = await lifeboat(['serve', '--data', data, '--http', `127.0.0.1:${port}`, '--tftp', 'off']);
  const lines = r.stderr.split('\n').filter((l) => !l.startsWith('{')); // pino's JSON log lines aside
  assert.deepEqual(lines, [`lifeboat serve: HTTP cannot listen on 127.0.0.1:${port}: another process already uses it (ss -ltnp shows which): stop it or choose another address with --http`]);
  assert.equal(r.exitCode, 4);
  assert.ok(!r.stderr.includes(STACK_FRAME) && !r.stderr.includes('not open'), r.stderr);
});

test('a store or data directory this user cannot write: one line, exit 11 (archive, serve)', async (t) => {
  const world = await makeWorld(t, 'lb-manners');
  // The world directory is 0700; nobody (uid 65534) must reach the store inside it to be refused there.
  await chmod(world.dir, 0o755);
  const store = join(world.dir, 'root-store');
  const src = join(world.dir, 'src');
  const data = join(world.dir, 'root-data');
  for (const d of [store, src, data]) await mkdir(d, { mode: 0o755 });
  await writeFile(join(src, 'file'), 'x');
  const asNobody = async (args: string[]): Promise<CliResult> => {
    const r = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, LIFEBOAT_BIN, ...args], { reject: false, env: { HOME: '/' } });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  oneLine(await asNobody(['archive', '--store', store, '--image', 'web', '--root', src]), 11,
    `lifeboat archive: cannot mkdir ${store}/web: permission denied for this user: run as a user who may (e.g. root), or choose a directory this user owns`, 'archive into a store nobody may write');
  const r = await asNobody(['serve', '--data', data, '--http', `127.0.0.1:${await freePort()}`, '--tftp', 'off']);
  assert.deepEqual(r.stderr.split('\n').filter((l) => !l.startsWith('{')), [`lifeboat serve: cannot mkdir ${data}/store: permission denied for this user: run as a user who may (e.g. root), or choose a directory this user owns`]);
  assert.equal(r.exitCode, 11);
  assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
});

// Node 20's mkdir(…, { recursive: true }) never returns for a path under /proc: these hung before.
test('a data directory or store under /proc: one line, exit 3, at once', { timeout: 120_000 }, async (t) => {
  const world = await makeWorld(t, 'lb-manners');
  const src = join(world.dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'file'), 'x');
  oneLine(await lifeboat(['archive', '--store', '/proc/lifeboat-none/store', '--image', 'web', '--root', src]), 3,
    'lifeboat archive: cannot mkdir /proc/lifeboat-none: no such file or directory: check the path', 'archive into a store under /proc');
  const r = await lifeboat(['serve', '--data', '/proc/lifeboat-none/data', '--http', `127.0.0.1:${await freePort()}`, '--tftp', 'off', '--nfs', 'off']);
  assert.deepEqual(r.stderr.split('\n').filter((l) => l && !l.startsWith('{')), ['lifeboat serve: cannot mkdir /proc/lifeboat-none: no such file or directory: check the path']);
  assert.equal(r.exitCode, 3);
});

test('on a terminal, lines printed while a progress bar is shown stay above it, and the bar is gone before the result', async () => {
  const entry = fileURLToPath(new URL('../support/progress-entry.js', import.meta.url));
  // util-linux script(1) gives the command a pseudo-terminal; screenOf replays what it would show.
  const r = await execa('script', ['-q', '-e', '-c', `${process.execPath} ${entry}`, '/dev/null'], { reject: false, env: { TERM: 'xterm' } });
  assert.equal(r.exitCode, 0, r.stdout);
  assert.match(r.stdout, /\d+% \| [\d.]+ MiB of ~100\.0 MiB/, 'a bar was drawn');
  assert.deepEqual(screenOf(r.stdout).filter(Boolean), [
    '» archiving root',
    '{"level":40,"msg":"a log line"}',
    'half of a line, the other half',
    '  warning: a file changed while it was read',
    'RESULT web01@20261127T141300Z',
  ]);
});
