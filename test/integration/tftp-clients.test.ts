import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld } from '../support/world.js';
import { serveTftp, tftpRoot } from '../support/tftp-serve.js';

/**
 * Real clients against the server on loopback: tftp-hpa (no options, 512-byte blocks), curl
 * (blksize, tsize), atftp (blksize, windowsize) and the npm `tftp` package's client (blksize,
 * windowsize, tsize; the server does not use the package, see README.md). Every file must arrive
 * byte for byte.
 */

const BLKSIZES = [512, 1432, 1468, 8192];

async function makeRoot(dir: string): Promise<{ root: string; files: Map<string, Buffer> }> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'efi'), { recursive: true });
  const files = new Map<string, Buffer>();
  const add = async (name: string, bytes: Buffer) => {
    files.set(name, bytes);
    await writeFile(join(root, name), bytes);
  };
  await add('empty', Buffer.alloc(0));
  for (const b of BLKSIZES) {
    await add(`one-${b}`, randomBytes(b));
    await add(`multi-${b}`, randomBytes(16 * b));
  }
  await add('r5m', randomBytes(5 * 1024 * 1024));
  // The iPXE binaries as the server wiring lays them out: copies, since a symlink leading out of
  // the root is refused.
  await copyFile('/usr/lib/ipxe/undionly.kpxe', join(root, 'undionly.kpxe'));
  await copyFile('/usr/lib/ipxe/snponly.efi', join(root, 'efi', 'snponly.efi'));
  files.set('undionly.kpxe', await readFile('/usr/lib/ipxe/undionly.kpxe'));
  files.set('efi/snponly.efi', await readFile('/usr/lib/ipxe/snponly.efi'));
  return { root, files };
}

async function assertSame(out: string, expected: Buffer, what: string): Promise<void> {
  const got = await readFile(out);
  assert.equal(got.length, expected.length, `${what}: length`);
  assert.ok(got.equals(expected), `${what}: bytes differ`);
}

async function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await execa(file, args, { reject: false, timeout: 120_000 });
  assert.equal(r.exitCode, 0, `${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr} ${r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('tftp-hpa (no options, lock-step 512-byte blocks) gets every size byte for byte', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const { root, files } = await makeRoot(world.dir);
  const { port } = await serveTftp(t, root);
  for (const name of ['empty', 'one-512', 'multi-512', 'r5m', 'undionly.kpxe']) {
    const out = join(world.dir, `hpa-${name}`);
    await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', name, out]);
    await assertSame(out, files.get(name)!, `tftp-hpa ${name}`);
  }
});

// curl 7.88 fails every empty TFTP download ("getpeername() failed with errno 107"), against
// tftpd-hpa as well: empty files are left to tftp-hpa and atftp.
test('curl at blksize 512, 1432, 1468 and 8192 gets every non-empty size byte for byte', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const { root, files } = await makeRoot(world.dir);
  const { port, lines } = await serveTftp(t, root);
  for (const b of BLKSIZES) {
    for (const name of [`one-${b}`, `multi-${b}`, 'r5m']) {
      const out = join(world.dir, `curl-${b}-${name}`);
      await run('curl', ['-sS', '-o', out, '--tftp-blksize', String(b), `tftp://127.0.0.1:${port}/${name}`]);
      await assertSame(out, files.get(name)!, `curl blksize ${b} ${name}`);
    }
  }
  const done = lines.filter((l) => l.msg === 'tftp transfer done' && l.file === 'r5m');
  assert.deepEqual(done.map((l) => l.blksize), BLKSIZES);
});

test('atftp with windowsize 1, 4 and 16 at every blksize gets every size byte for byte', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const { root, files } = await makeRoot(world.dir);
  const { port, lines } = await serveTftp(t, root);
  for (const b of BLKSIZES) {
    for (const w of [1, 4, 16]) {
      for (const name of ['empty', `one-${b}`, `multi-${b}`, 'r5m']) {
        const out = join(world.dir, `atftp-${b}-${w}-${name}`);
        await run('atftp', ['--option', `blksize ${b}`, '--option', `windowsize ${w}`, '-g', '-r', name, '-l', out, '127.0.0.1', String(port)]);
        await assertSame(out, files.get(name)!, `atftp blksize ${b} windowsize ${w} ${name}`);
      }
    }
  }
  const big = lines.filter((l) => l.msg === 'tftp transfer done' && l.file === 'r5m');
  assert.equal(big.length, 12);
  // 16 blocks of 8192 bytes overflow a default receive buffer: granted 12 instead, and said so.
  assert.deepEqual(
    big.map((l) => `${l.blksize}x${l.windowsize}`),
    ['512x1', '512x4', '512x16', '1432x1', '1432x4', '1432x16', '1468x1', '1468x4', '1468x16', '8192x1', '8192x4', '8192x12'],
  );
  assert.ok(lines.some((l) => l.msg === 'tftp options adjusted' && JSON.stringify(l.notes).includes('windowsize 16 lowered to 12')));
});

interface NpmTftpClient {
  get(remote: string, local: string, cb: (error?: Error) => void): void;
}
const npmTftp = createRequire(import.meta.url)('tftp') as {
  createClient(options: { host: string; port: number; blockSize: number; windowSize: number }): NpmTftpClient;
};

test('the npm tftp package\'s client at several blksize and windowsize gets every size byte for byte', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const { root, files } = await makeRoot(world.dir);
  const { port, lines } = await serveTftp(t, root);
  for (const [b, w] of [[512, 1], [1432, 4], [1468, 16], [8192, 12]] as const) {
    const client = npmTftp.createClient({ host: '127.0.0.1', port, blockSize: b, windowSize: w });
    for (const name of ['empty', `one-${b}`, `multi-${b}`, 'r5m']) {
      const out = join(world.dir, `npm-${b}-${w}-${name}`);
      await new Promise<void>((resolve, reject) => client.get(name, out, (e) => (e ? reject(e) : resolve())));
      await assertSame(out, files.get(name)!, `npm tftp blksize ${b} windowsize ${w} ${name}`);
    }
  }
  const big = lines.filter((l) => l.msg === 'tftp transfer done' && l.file === 'r5m');
  assert.deepEqual(big.map((l) => `${l.blksize}x${l.windowsize}`), ['512x1', '1432x4', '1468x16', '8192x12']);
});

test('the iPXE binaries are served by their names as PXE ROMs ask, leading slash or not, and the wiring hears of each request', async (t) => {
  const world = await makeWorld(t, 'lb-tftp');
  const { root, files } = await makeRoot(world.dir);
  const { port, requests } = await serveTftp(t, root);
  const out1 = join(world.dir, 'undionly.kpxe');
  await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', '/undionly.kpxe', out1]);
  await assertSame(out1, files.get('undionly.kpxe')!, 'tftp-hpa /undionly.kpxe');
  const out2 = join(world.dir, 'snponly.efi');
  // iPXE's own blksize; "//" makes curl send the name with its leading slash.
  await run('curl', ['-sS', '-o', out2, '--tftp-blksize', '1432', `tftp://127.0.0.1:${port}//efi/snponly.efi`]);
  await assertSame(out2, files.get('efi/snponly.efi')!, 'curl /efi/snponly.efi');
  assert.deepEqual(requests, [
    { remoteAddress: '127.0.0.1', file: '/undionly.kpxe' },
    { remoteAddress: '127.0.0.1', file: '/efi/snponly.efi' },
  ]);
});

test('a file past 65535 blocks rolls the block number over and still arrives whole (curl 512, tftp-hpa)', async (t) => {
  const big = randomBytes(65535 * 512 + 12345);
  const { world, root } = await tftpRoot(t, { big });
  const { port } = await serveTftp(t, root);
  const out1 = join(world.dir, 'big-curl');
  await run('curl', ['-sS', '-o', out1, `tftp://127.0.0.1:${port}/big`]);
  await assertSame(out1, big, 'curl rollover');
  const out2 = join(world.dir, 'big-hpa');
  await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'big', out2]);
  await assertSame(out2, big, 'tftp-hpa rollover');
});
