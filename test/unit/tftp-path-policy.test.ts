import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openInsideRoot, resolveTftpPath } from '../../server/tftp/path-policy.js';

const root = '/srv/netboot';

function refusedFor(requested: string): string {
  const r = resolveTftpPath(root, requested);
  assert.equal(r.ok, false, `${JSON.stringify(requested)} should be refused`);
  return r.ok ? '' : r.reason;
}

test('plain names and subdirectories resolve inside the root', () => {
  assert.deepEqual(resolveTftpPath(root, 'undionly.kpxe'), { ok: true, path: '/srv/netboot/undionly.kpxe', relative: 'undionly.kpxe' });
  assert.deepEqual(resolveTftpPath(root, 'efi/snponly.efi'), { ok: true, path: '/srv/netboot/efi/snponly.efi', relative: 'efi/snponly.efi' });
  assert.deepEqual(resolveTftpPath(root, './efi//ipxe.efi'), { ok: true, path: '/srv/netboot/efi/ipxe.efi', relative: 'efi/ipxe.efi' });
});

test('a leading slash, as PXE ROMs send, is relative to the root (tftp-hpa -s)', () => {
  assert.deepEqual(resolveTftpPath(root, '/undionly.kpxe'), { ok: true, path: '/srv/netboot/undionly.kpxe', relative: 'undionly.kpxe' });
  assert.deepEqual(resolveTftpPath(root, '//efi/ipxe.efi'), { ok: true, path: '/srv/netboot/efi/ipxe.efi', relative: 'efi/ipxe.efi' });
});

test('"/etc/passwd" names <root>/etc/passwd, never the host file', () => {
  const r = resolveTftpPath(root, '/etc/passwd');
  assert.deepEqual(r, { ok: true, path: '/srv/netboot/etc/passwd', relative: 'etc/passwd' });
});

test('any ".." segment is refused, wherever it is and even when it would stay inside', () => {
  for (const name of ['..', '../etc/passwd', '/../etc/passwd', 'a/../../etc/passwd', 'efi/../ipxe.efi', 'efi/..', '../../../../../../etc/shadow']) {
    assert.match(refusedFor(name), /"\.\." segment/, name);
  }
});

test('backslashes are refused, including the DOS-style traversal', () => {
  assert.match(refusedFor('..\\..\\etc\\passwd'), /backslash/);
  assert.match(refusedFor('boot\\pxeboot.n12'), /backslash/);
});

test('NUL bytes and control characters are refused', () => {
  assert.match(refusedFor('undionly.kpxe\0../../etc/passwd'), /NUL/);
  assert.match(refusedFor('undionly\n.kpxe'), /control character/);
  assert.match(refusedFor('undionly\x7f'), /control character/);
});

test('empty names and names of the root itself are refused', () => {
  assert.match(refusedFor(''), /empty/);
  assert.match(refusedFor('/'), /root directory/);
  assert.match(refusedFor('./'), /root directory/);
});

test('percent escapes are not decoded: "%2e%2e/etc/passwd" is a literal name inside the root', () => {
  assert.deepEqual(resolveTftpPath(root, '%2e%2e/etc/passwd'), { ok: true, path: '/srv/netboot/%2e%2e/etc/passwd', relative: '%2e%2e/etc/passwd' });
});

test('openInsideRoot: files and symlinks that stay inside open; escapes, directories, FIFOs and missing files do not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-tftp-policy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const served = join(dir, 'root');
  const outside = join(dir, 'secret');
  await mkdir(join(served, 'efi'), { recursive: true });
  await writeFile(join(served, 'efi', 'ipxe.efi'), 'efi bytes');
  await writeFile(outside, 'secret bytes');
  await symlink('efi/ipxe.efi', join(served, 'alias.efi'));
  await symlink(outside, join(served, 'escape'));
  await symlink('../secret', join(served, 'escape-relative'));
  await symlink(dir, join(served, 'parent'));
  execFileSync('mkfifo', [join(served, 'fifo')]);

  const ok = await openInsideRoot(served, join(served, 'alias.efi'));
  assert.equal(ok.ok, true);
  if (ok.ok) {
    assert.equal(ok.size, 9);
    assert.equal(ok.realPath, join(served, 'efi', 'ipxe.efi'));
    assert.equal((await ok.handle.readFile()).toString(), 'efi bytes');
    await ok.handle.close();
  }

  for (const name of ['escape', 'escape-relative', 'parent/secret']) {
    const r = await openInsideRoot(served, join(served, name));
    assert.deepEqual(r, { ok: false, code: 2, reason: 'a symlink leads outside the netboot root' }, name);
  }
  assert.deepEqual(await openInsideRoot(served, join(served, 'efi')), { ok: false, code: 2, reason: 'is a directory, not a file' });
  assert.deepEqual(await openInsideRoot(served, join(served, 'fifo')), { ok: false, code: 2, reason: 'is not a regular file' });
  assert.deepEqual(await openInsideRoot(served, join(served, 'missing.kpxe')), { ok: false, code: 1, reason: 'File not found' });
  assert.deepEqual(await openInsideRoot(served, join(served, 'efi', 'ipxe.efi', 'x')), { ok: false, code: 1, reason: 'File not found' });
});
