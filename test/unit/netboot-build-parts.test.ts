import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newcHeader, writeNewc, type CpioEntry } from '../../netboot/build/cpio-newc.js';
import { parseLdd } from '../../netboot/build/library-closure.js';
import { compareKernelVersions, moduleName, parseShowDepends } from '../../netboot/build/kernel-modules.js';
import { RescueTree } from '../../netboot/build/rescue-tree.js';

/** The rescue builder's pure parts: the newc writer, ldd and modprobe output, the tree's paths. */

async function collect(entries: CpioEntry[], mtime: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of writeNewc(entries, mtime)) parts.push(b);
  return Buffer.concat(parts);
}

test('newc header: magic, thirteen 8-digit hex fields, name padded to a 4-byte boundary', () => {
  const h = newcHeader({ ino: 1, mode: 0o100755, nlink: 1, mtime: 1700000000, size: 5 }, 'init');
  assert.equal(h.toString('ascii', 0, 6), '070701');
  assert.equal(h.toString('ascii', 6, 14), '00000001');
  assert.equal(h.toString('ascii', 14, 22), (0o100755).toString(16).padStart(8, '0'));
  assert.equal(h.toString('ascii', 22, 38), '0'.repeat(16), 'uid and gid 0');
  assert.equal(h.toString('ascii', 46, 54), (1700000000).toString(16).padStart(8, '0'));
  assert.equal(h.toString('ascii', 94, 102), '00000005', 'namesize counts the NUL');
  assert.equal(h.length % 4, 0);
  assert.equal(h.length, 116, '110 header bytes + "init\\0" + 1 byte of padding');
});

test('newc archive: data padded, device numbers in rdev, trailer last, same bytes every time', async () => {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'dev', mode: 0o755 },
    { kind: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { kind: 'file', path: 'init', mode: 0o755, size: 3, source: { bytes: Buffer.from('abc') } },
    { kind: 'symlink', path: 'sbin', target: 'usr/sbin' },
  ];
  const a = await collect(entries, 42);
  const b = await collect(entries, 42);
  assert.ok(a.equals(b));
  assert.equal(a.length % 4, 0);
  const text = a.toString('latin1');
  assert.ok(text.includes('init\0'));
  assert.ok(text.includes('abc\0'), 'file data padded with NULs to 4 bytes');
  assert.ok(text.endsWith(`TRAILER!!!\0${'\0'.repeat((4 - ((110 + 11) % 4)) % 4)}`), 'the trailer closes the archive');
  const consoleAt = text.indexOf('dev/console') - 110;
  assert.equal(text.slice(consoleAt + 78, consoleAt + 86), '00000005', 'rdevmajor');
  assert.equal(text.slice(consoleAt + 86, consoleAt + 94), '00000001', 'rdevminor');
  await assert.rejects(collect([{ kind: 'file', path: 'x', mode: 0o644, size: 10, source: { bytes: Buffer.from('short') } }], 0), /changed size/);
});

test('ldd output: libraries and the loader, vDSO skipped, missing sonames reported', () => {
  const r = parseLdd(`\tlinux-vdso.so.1 (0x00007ffd)\n\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f1)\n\tlibfoo.so.3 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f2)\n`);
  assert.deepEqual(r.libraries, ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib64/ld-linux-x86-64.so.2']);
  assert.deepEqual(r.missing, ['libfoo.so.3']);
  assert.deepEqual(parseLdd('\tnot a dynamic executable\n'), { libraries: [], missing: [] });
});

test('modprobe --show-depends: module files in load order, builtins apart', () => {
  const r = parseShowDepends('insmod /lib/modules/6.1/kernel/lib/libcrc32c.ko \ninsmod /lib/modules/6.1/kernel/fs/xfs/xfs.ko \nbuiltin ext4\n');
  assert.deepEqual(r.files, ['/lib/modules/6.1/kernel/lib/libcrc32c.ko', '/lib/modules/6.1/kernel/fs/xfs/xfs.ko']);
  assert.deepEqual(r.builtin, ['ext4']);
  assert.equal(moduleName('/x/dm-mod.ko'), 'dm_mod');
  assert.equal(moduleName('/x/nls_iso8859-1.ko.xz'), 'nls_iso8859_1');
});

test('kernel versions sort as Debian numbers them', () => {
  const v = ['6.1.0-56-cloud-amd64', '6.1.0-9-cloud-amd64', '6.10.0-1-cloud-amd64', '5.10.0-30-cloud-amd64'];
  assert.deepEqual([...v].sort(compareKernelVersions), ['5.10.0-30-cloud-amd64', '6.1.0-9-cloud-amd64', '6.1.0-56-cloud-amd64', '6.10.0-1-cloud-amd64']);
});

test('rescue tree: paths resolve through its symlinks, a file cannot sit under a symlink', () => {
  const t = new RescueTree();
  t.addSymlink('bin', 'usr/bin');
  t.addSymlink('lib64', '/usr/lib64');
  t.addText('usr/bin/busybox', 'x', 0o755);
  assert.equal(t.resolve('bin/sh'), 'usr/bin/sh');
  assert.equal(t.resolve('/lib64/ld-linux-x86-64.so.2'), 'usr/lib64/ld-linux-x86-64.so.2');
  assert.equal(t.resolve('bin'), 'bin', 'the last component is not followed');
  assert.throws(() => t.addText('bin/sh', 'y'), /is a symlink/);
  assert.throws(() => t.addDir('usr/bin/busybox'), /both as a file and as a dir/);
  const paths = t.list().map((e) => e.path);
  assert.deepEqual(paths, ['bin', 'lib64', 'usr', 'usr/bin', 'usr/bin/busybox']);
});
