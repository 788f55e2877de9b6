import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveServerTarget, readToken, checkServerUrl } from '../../cli/server-target.js';
import { didYouMean, nearest } from '../../cli/suggest.js';
import { describeFailure } from '../../cli/failure-line.js';
import { checkIpv4Argument, checkMacArgument } from '../../cli/address-args.js';
import { LifeboatError } from '../../core/errors.js';
import { screenOf } from '../support/terminal-screen.js';

test('server URL: flag, then $LIFEBOAT_SERVER, then the config file, then the default; each says where it came from', () => {
  const env = { LIFEBOAT_SERVER: 'http://env:1/' };
  const config = { server: 'http://config:2' };
  assert.deepEqual([resolveServerTarget({ flags: { server: 'http://flag:3' }, env, config }).url, resolveServerTarget({ flags: { server: 'http://flag:3' }, env, config }).urlFrom], ['http://flag:3', '--server']);
  assert.deepEqual([resolveServerTarget({ flags: {}, env, config }).url, resolveServerTarget({ flags: {}, env, config }).urlFrom], ['http://env:1', '$LIFEBOAT_SERVER']);
  assert.deepEqual([resolveServerTarget({ flags: {}, env: {}, config }).url, resolveServerTarget({ flags: {}, env: {}, config }).urlFrom], ['http://config:2', 'the config file']);
  assert.deepEqual([resolveServerTarget({ flags: {}, env: { LIFEBOAT_SERVER: '' } }).url, resolveServerTarget({ flags: {}, env: {} }).urlFrom], ['http://127.0.0.1:8080', 'the default']);
});

test('token: --token-file, then $LIFEBOAT_ADMIN_TOKEN, then the config file, then admin-token in the data directory (--data, $LIFEBOAT_DATA, config, default)', () => {
  const env = { LIFEBOAT_ADMIN_TOKEN: ' secret\n', LIFEBOAT_DATA: '/srv/env-data' };
  assert.deepEqual(resolveServerTarget({ flags: { tokenFile: '/f', data: '/d' }, env }).token, { kind: 'file', path: '/f', from: '--token-file' });
  assert.deepEqual(resolveServerTarget({ flags: { data: '/d' }, env }).token, { kind: 'value', token: 'secret', from: '$LIFEBOAT_ADMIN_TOKEN' });
  assert.deepEqual(resolveServerTarget({ flags: {}, env: {}, config: { adminTokenFile: '/c/tok', data: '/c' } }).token, { kind: 'file', path: '/c/tok', from: "the config file's adminTokenFile" });
  assert.deepEqual(resolveServerTarget({ flags: { data: '/d' }, env: { LIFEBOAT_DATA: '/e' } }).token, { kind: 'file', path: '/d/admin-token', from: '--data' });
  assert.deepEqual(resolveServerTarget({ flags: {}, env: { LIFEBOAT_DATA: '/e' }, config: { data: '/c' } }).token, { kind: 'file', path: '/e/admin-token', from: '$LIFEBOAT_DATA' });
  assert.deepEqual(resolveServerTarget({ flags: {}, env: {}, config: { data: '/c' } }).token, { kind: 'file', path: '/c/admin-token', from: "the config file's data" });
  assert.deepEqual(resolveServerTarget({ flags: {}, env: {} }).token, { kind: 'file', path: '/var/lib/lifeboat/admin-token', from: 'the default data directory' });
});

test('readToken: the file\'s token trimmed; a missing or empty file is exit 9 naming the path and why it was looked at', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-token-'));
  await writeFile(join(dir, 'admin-token'), 'abc123\n');
  await writeFile(join(dir, 'empty'), '\n');
  assert.equal(await readToken({ kind: 'file', path: join(dir, 'admin-token'), from: '--data' }), 'abc123');
  await assert.rejects(readToken({ kind: 'file', path: join(dir, 'nope'), from: '--token-file' }), (e: LifeboatError) => {
    assert.equal(e.exitCode, 9);
    assert.equal(e.message, `the API needs a token, but the token file ${join(dir, 'nope')} does not exist (looked there because of --token-file): give the server's admin token file (or its read-token) with --token-file, its data directory with --data, or the token in $LIFEBOAT_ADMIN_TOKEN`);
    return true;
  });
  await assert.rejects(readToken({ kind: 'file', path: join(dir, 'empty'), from: '--token-file' }), /is empty/);
  await assert.rejects(readToken({ kind: 'file', path: dir, from: '--token-file' }), new RegExp(`the token file ${dir} is a directory, not a file \\(looked there because of --token-file\\)`));
});

test('a server URL that is not http(s) is a usage error before anything is sent', () => {
  assert.throws(() => checkServerUrl(resolveServerTarget({ flags: { server: 'localhost:8080' }, env: {} })), (e: LifeboatError) => e.exitCode === 2 && /server URL "localhost:8080" \(from --server\) is not http or https/.test(e.message));
  assert.throws(() => checkServerUrl(resolveServerTarget({ flags: {}, env: { LIFEBOAT_SERVER: 'http://[::1' } })), /from \$LIFEBOAT_SERVER\) is not a URL/);
  assert.equal(checkServerUrl(resolveServerTarget({ flags: {}, env: {} })).port, '8080');
});

test('did you mean: a typo gets the nearest name, a different word gets nothing', () => {
  const commands = ['archive', 'images', 'serve', 'hosts', 'task', 'tasks', 'clone', 'clones', 'netboot', 'compare', 'schedule'];
  assert.equal(nearest('imgaes', commands), 'images');
  assert.equal(nearest('serv', commands), 'serve');
  assert.equal(nearest('netbot', commands), 'netboot');
  assert.equal(nearest('frobnicate', commands), undefined);
  assert.equal(nearest('ls', ['list', 'show']), 'list');
  assert.equal(nearest('rm', ['list', 'show', 'cancel']), undefined);
  assert.equal(nearest('lsit', ['list', 'show', 'cancel', 'rearm']), 'list');
  assert.equal(didYouMean('stroe', ['store', 'image'], (n) => `--${n}`), ' (did you mean "--store"?)');
  assert.equal(didYouMean('xyz', ['store', 'image']), '');
});

test('failures a user can cause become one line and the table\'s exit status', () => {
  const sys = (code: string, extra: Record<string, unknown>) => Object.assign(new Error(`${code}: boom`), { code, ...extra });
  assert.deepEqual(describeFailure(sys('EACCES', { syscall: 'mkdir', path: '/srv/store/x' })), { line: 'cannot mkdir /srv/store/x: permission denied for this user: run as a user who may (e.g. root), or choose a directory this user owns', exitCode: 11 });
  assert.deepEqual(describeFailure(sys('EADDRINUSE', { syscall: 'listen', address: '127.0.0.1', port: 8080 })), { line: 'cannot listen on 127.0.0.1:8080: another process already uses it (ss -ltnup shows which): stop it or choose another port', exitCode: 4 });
  assert.equal(describeFailure(sys('ENOSPC', { syscall: 'write', path: '/s' })).exitCode, 6);
  assert.equal(describeFailure(sys('EROFS', { syscall: 'open', path: '/s' })).exitCode, 11);
  assert.deepEqual(describeFailure(new LifeboatError('LB_NOT_FOUND', 'image web has no published version')), { line: 'image web has no published version', exitCode: 3 });
  const bug = describeFailure(new TypeError('x is not a function\n    at somewhere'));
  assert.equal(bug.exitCode, 70);
  assert.equal(bug.line, 'unexpected error (TypeError: x is not a function at somewhere): this is a bug; LIFEBOAT_DEBUG=1 prints its stack trace for a report');
});

test('MACs and addresses are checked with the flag named; the server\'s spellings pass', () => {
  for (const ok of ['52:54:00:12:34:56', '52-54-00-12-34-56', '525400123456', '5254.0012.3456']) assert.equal(checkMacArgument(ok, '--host'), ok);
  assert.throws(() => checkMacArgument('52:54:00:zz:34:56', '--host'), (e: LifeboatError) => e.exitCode === 2 && e.message === '--host: "52:54:00:zz:34:56" is not a MAC address (expected six hex bytes, e.g. 52:54:00:12:34:56)');
  assert.equal(checkIpv4Argument('10.77.0.11/24', '--ip'), '10.77.0.11/24');
  assert.equal(checkIpv4Argument('10.77.0.11', '--ip'), '10.77.0.11');
  assert.throws(() => checkIpv4Argument('10.77.0.300', '--ip'), /--ip: "10.77.0.300" is not an IPv4 address/);
  assert.throws(() => checkIpv4Argument('10.77.0.1/33', '--ip'), /has no valid prefix length/);
  assert.throws(() => checkIpv4Argument('10.77.0.1/24/1', '--ip'), /has no valid prefix length/);
});

test('the terminal screen follows carriage returns, erasing, and a restored cursor', () => {
  assert.deepEqual(screenOf('bar 10%\r\x1b[Kline one\nbar 20%'), ['line one', 'bar 20%']);
  // What cli-progress did at stop: back to where the bar started, over the lines printed since.
  assert.deepEqual(screenOf('\x1b7bar\r\x1b[Kabove\nbar\x1b8\x1b[1G\x1b[2Kresult\n'), ['result', 'bar']);
});
