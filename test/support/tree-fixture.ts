import { mkdir, writeFile, symlink, link, chmod, chown, truncate, open, utimes, lchown } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sh } from './world.js';

/**
 * A tree with every kind of thing a faithful archive must keep: regular, empty, large and sparse
 * files, hard and symbolic links, a fifo, device nodes, odd owners, setuid/setgid/sticky bits,
 * ACLs, user and security xattrs (a file capability), unicode and very long names, exact mtimes.
 */
export async function buildRichTree(dir: string, options: { largeBytes?: number } = {}): Promise<void> {
  const p = (...parts: string[]) => join(dir, ...parts);
  await mkdir(p('etc', 'app'), { recursive: true });
  await writeFile(p('etc', 'app', 'config.ini'), '[main]\nanswer = 42\n');
  await writeFile(p('empty'), '');
  await writeFile(p('random-1m.bin'), randomBytes(1 << 20));
  await writeFile(p('large.bin'), randomBytes(options.largeBytes ?? 24 << 20));

  // Sparse: 256 MiB apparent, three small islands of data.
  const fh = await open(p('sparse.img'), 'w');
  await fh.write(Buffer.from('head'), 0, 4, 0);
  await fh.write(randomBytes(8192), 0, 8192, 64 << 20);
  await fh.write(Buffer.from('tail'), 0, 4, (256 << 20) - 4);
  await fh.close();
  await truncate(p('sparse.img'), 256 << 20);

  await writeFile(p('hard-a'), 'shared by three names\n');
  await link(p('hard-a'), p('hard-b'));
  await mkdir(p('sub'));
  await link(p('hard-a'), p('sub', 'hard-c'));

  await symlink('etc/app/config.ini', p('link-relative'));
  await symlink('/etc/hostname', p('link-absolute'));
  await symlink('does/not/exist', p('link-dangling'));
  await sh('mkfifo', [p('fifo')]);
  await sh('mknod', [p('char-null'), 'c', '1', '3']);
  await sh('mknod', [p('block-loop'), 'b', '7', '200']);

  await writeFile(p('odd-owner'), 'owned by nobody we know\n');
  await chown(p('odd-owner'), 12345, 54321);
  await writeFile(p('big-ids'), 'ids above 2^21 need pax headers\n');
  await chown(p('big-ids'), 3000000, 4000000);
  await symlink('odd-owner', p('link-owned'));
  await lchown(p('link-owned'), 2222, 3333);

  await writeFile(p('setuid'), '#!/bin/sh\n');
  await chmod(p('setuid'), 0o4755);
  await writeFile(p('setgid'), '#!/bin/sh\n');
  await chmod(p('setgid'), 0o2750);
  await mkdir(p('sticky'));
  await chmod(p('sticky'), 0o1777);
  await mkdir(p('private'));
  await chmod(p('private'), 0o700);
  await writeFile(p('private', 'secret'), 'mode 0400\n');
  await chmod(p('private', 'secret'), 0o400);

  await writeFile(p('acl-file'), 'acl\n');
  await sh('setfacl', ['-m', 'u:1234:rwx,g:5678:r--,m::rwx', p('acl-file')]);
  await mkdir(p('acl-dir'));
  await sh('setfacl', ['-d', '-m', 'u:1234:rwx', p('acl-dir')]);
  await sh('setfacl', ['-m', 'g:4321:r-x', p('acl-dir')]);

  await writeFile(p('xattr-file'), 'xattrs\n');
  await sh('setfattr', ['-n', 'user.comment', '-v', 'keep me', p('xattr-file')]);
  await sh('setfattr', ['-n', 'user.binary', '-v', '0x00ff10fe', p('xattr-file')]);
  await writeFile(p('capable'), '#!/bin/sh\n');
  await chmod(p('capable'), 0o755);
  await sh('setcap', ['cap_net_raw,cap_net_bind_service+ep', p('capable')]);
  await sh('setfattr', ['-n', 'trusted.lifeboat', '-v', 'trusted', p('capable')]);

  await writeFile(p('Grüße-日本語-🚀 space.txt'), 'unicode\n');
  const longName = `${'n'.repeat(250)}.txt`;
  await writeFile(p(longName), 'a 254-byte name\n');
  let deep = p('deep');
  for (let i = 0; i < 12; i++) deep = join(deep, `level-${i}-${'d'.repeat(80)}`);
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'bottom.txt'), 'a path over 1000 bytes long\n');

  // Exact times last: directories' mtimes change as their entries are created.
  await utimes(p('random-1m.bin'), new Date('2001-02-03T04:05:06.789Z'), new Date('2001-02-03T04:05:06.789Z'));
  await sh('touch', ['-h', '-d', '2019-12-31 23:59:59.123456789', p('link-relative')]);
  await sh('touch', ['-d', '1999-09-09 09:09:09.987654321', p('etc', 'app')]);
}
