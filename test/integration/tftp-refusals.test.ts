import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld } from '../support/world.js';
import { serveTftp, type LogLine } from '../support/tftp-serve.js';

/**
 * What the server refuses, as a client and an operator see it: an ERROR packet with a code and a
 * message saying why, and a log line naming the client, the file as sent and the reason.
 */

async function makeRoot(dir: string) {
  const root = join(dir, 'root');
  await mkdir(join(root, 'efi'), { recursive: true });
  await writeFile(join(root, 'undionly.kpxe'), 'ipxe bytes');
  await writeFile(join(dir, 'secret'), 'secret bytes outside the root');
  await symlink(join(dir, 'secret'), join(root, 'escape'));
  await symlink('undionly.kpxe', join(root, 'alias.kpxe'));
  return root;
}

function request(opcode: 1 | 2, ...fields: string[]): Buffer {
  return Buffer.concat([Buffer.from([0, opcode]), Buffer.from(fields.map((f) => `${f}\0`).join(''), 'latin1')]);
}

/** Sends one packet and returns the first answer, decoded when it is an ERROR packet. */
async function ask(port: number, packet: Buffer): Promise<{ opcode: number; code?: number; message?: string }> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    socket.send(packet, port, '127.0.0.1');
    const timer = AbortSignal.timeout(5000);
    const [reply] = (await once(socket, 'message', { signal: timer })) as [Buffer];
    const opcode = reply.readUInt16BE(0);
    if (opcode !== 5) return { opcode };
    return { opcode, code: reply.readUInt16BE(2), message: reply.toString('latin1', 4, reply.indexOf(0, 4)) };
  } finally {
    socket.close();
  }
}

function refusal(lines: LogLine[], file: string | undefined): LogLine {
  const line = lines.find((l) => l.msg === 'tftp request refused' && l.file === file);
  assert.ok(line, `no refusal logged for ${JSON.stringify(file)}: ${JSON.stringify(lines)}`);
  return line;
}

test('the traversal suite is refused with an error packet and a log line saying why', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const root = await makeRoot(world.dir);
  const { port, lines } = await serveTftp(t, root);

  const cases: Array<{ file: string; code: number; says: RegExp }> = [
    { file: '../etc/passwd', code: 2, says: /Access violation: the file name contains a "\.\." segment/ },
    { file: '/../../etc/shadow', code: 2, says: /"\.\." segment/ },
    { file: 'efi/../../secret', code: 2, says: /"\.\." segment/ },
    { file: '..\\..\\etc\\passwd', code: 2, says: /backslash/ },
    { file: 'escape', code: 2, says: /Access violation: escape a symlink leads outside the netboot root/ },
    { file: 'efi', code: 2, says: /Access violation: efi is a directory, not a file/ },
    { file: '/', code: 2, says: /names the root directory/ },
    { file: 'undionly\x01.kpxe', code: 2, says: /control character/ },
    // No URL decoding: a literal name, which does not exist.
    { file: '%2e%2e/%2e%2e/etc/passwd', code: 1, says: /^File not found: %2e%2e\/%2e%2e\/etc\/passwd$/ },
    // "/etc/passwd" means <root>/etc/passwd: absent here, so not found, never the host's file.
    { file: '/etc/passwd', code: 1, says: /^File not found: etc\/passwd$/ },
    { file: 'missing.efi', code: 1, says: /^File not found: missing\.efi$/ },
  ];
  for (const c of cases) {
    const reply = await ask(port, request(1, c.file, 'octet'));
    assert.equal(reply.opcode, 5, `${c.file}: expected an ERROR packet`);
    assert.equal(reply.code, c.code, `${c.file}: error code (${reply.message})`);
    assert.match(reply.message ?? '', c.says, c.file);
    const line = refusal(lines, c.file);
    assert.equal(line.code, c.code);
    assert.equal(line.reason, reply.message);
    assert.equal(line.level, c.code === 1 ? 30 : 40, `${c.file}: not found is info, policy refusals warn`);
  }
  // A symlink that stays inside the root is fine.
  const ok = await ask(port, request(1, 'alias.kpxe', 'octet'));
  assert.equal(ok.opcode, 3, 'alias.kpxe should start with a DATA packet');
});

test('a NUL byte embedded in the name cannot smuggle a path: the request is refused as malformed', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const root = await makeRoot(world.dir);
  const { port, lines } = await serveTftp(t, root);
  // "undionly.kpxe\0../../etc/passwd": the name ends at the NUL, the rest is taken as the mode.
  const asMode = await ask(port, request(1, 'undionly.kpxe', '../../etc/passwd'));
  assert.equal(asMode.code, 4);
  assert.match(asMode.message ?? '', /transfer mode "\.\.\/\.\.\/etc\/passwd" is not supported/);
  const withMode = await ask(port, request(1, 'undionly.kpxe', '../../etc/passwd', 'octet'));
  assert.equal(withMode.code, 4);
  assert.match(withMode.message ?? '', /Illegal TFTP operation: option "octet" has no NUL-terminated value/);
  assert.equal(refusal(lines, 'undionly.kpxe').code, 4);
  assert.ok(lines.some((l) => l.msg === 'tftp request refused' && l.file === undefined && /option "octet"/.test(String(l.reason))));
});

test('real clients see the refusals: tftp-hpa and atftp print the reason; "/etc/passwd" never yields the host file', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const root = await makeRoot(world.dir);
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc', 'passwd'), 'the netboot root\'s own etc/passwd\n');
  const { port, requests } = await serveTftp(t, root);

  const hpa = await execa('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', '../etc/passwd', join(world.dir, 'hpa-out')], { reject: false });
  assert.match(hpa.stdout + hpa.stderr, /Error code 2: Access violation: the file name contains a "\.\." segment/);

  const at = await execa('atftp', ['-g', '-r', '..\\..\\etc\\passwd', '-l', join(world.dir, 'atftp-out'), '127.0.0.1', String(port)], { reject: false });
  assert.notEqual(at.exitCode, 0);
  assert.match(at.stderr + at.stdout, /error received from server <Access violation: the file name contains a backslash/);

  const abs = join(world.dir, 'abs-out');
  await execa('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', '/etc/passwd', abs]);
  assert.equal(await readFile(abs, 'utf8'), 'the netboot root\'s own etc/passwd\n');

  // The wiring hears of every read request, refused ones included.
  assert.deepEqual(requests.map((r) => r.file), ['../etc/passwd', '..\\..\\etc\\passwd', '/etc/passwd']);
});

test('write requests are refused and nothing is written', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const root = await makeRoot(world.dir);
  const { port, lines, requests } = await serveTftp(t, root);
  const before = (await readdir(root)).sort();

  const local = join(world.dir, 'upload.bin');
  await writeFile(local, 'would-be upload');
  const put = await execa('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'put', local, 'upload.bin'], { reject: false });
  assert.match(put.stdout + put.stderr, /Error code 2: Access violation: this server is read-only, write requests are refused/);
  const overwrite = await ask(port, request(2, 'undionly.kpxe', 'octet'));
  assert.equal(overwrite.code, 2);
  assert.equal(overwrite.message, 'Access violation: this server is read-only, write requests are refused');

  assert.deepEqual((await readdir(root)).sort(), before);
  assert.equal(await readFile(join(root, 'undionly.kpxe'), 'utf8'), 'ipxe bytes');
  assert.equal(refusal(lines, 'upload.bin').kind, 'write');
  assert.equal(refusal(lines, 'undionly.kpxe').kind, 'write');
  assert.deepEqual(requests, [], 'write requests are refused before the wiring is asked');
});

test('netascii is refused with a hint; a failing onRequest hook refuses the request', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const root = await makeRoot(world.dir);
  const ascii = await serveTftp(t, root);
  const reply = await ask(ascii.port, request(1, 'undionly.kpxe', 'netascii'));
  assert.equal(reply.code, 4);
  assert.match(reply.message ?? '', /mode "netascii" is not supported; ask for octet \(binary\) mode/);

  const failing = await serveTftp(t, root, {
    onRequest: () => {
      throw new Error('database is locked');
    },
  });
  const refused = await ask(failing.port, request(1, 'undionly.kpxe', 'octet'));
  assert.equal(refused.code, 0);
  assert.equal(refused.message, 'server error: the request could not be recorded');
  assert.ok(failing.lines.some((l) => l.msg === 'tftp onRequest hook failed' && l.err === 'database is locked'));
});
