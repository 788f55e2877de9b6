import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { jsonLines, lifeboat } from '../support/cli.js';
import { makeWorld, sh } from '../support/world.js';
import { sha256Of } from '../support/marker-disks.js';

/**
 * `lifeboat netboot build` as an operator runs it: the rescue kernel and initramfs, byte-identical
 * from the same inputs, with every tool able to run from the initramfs alone (its libraries came
 * along), kernel modules indexed for the rescue kernel, and a build.json that says what went in.
 */

interface NewcEntry { name: string; mode: number; uid: number; gid: number; mtime: number; size: number; rdevMajor: number; rdevMinor: number; data: Buffer }

/** An independent newc reader (not the writer's code), to check what the kernel will unpack. */
function readNewc(buf: Buffer): NewcEntry[] {
  const out: NewcEntry[] = [];
  let off = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    assert.equal(buf.toString('ascii', off, off + 6), '070701', `newc magic at offset ${off}`);
    const field = (i: number) => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const [mode, uid, gid, mtime, size, rdevMajor, rdevMinor, namesize] = [field(1), field(2), field(3), field(5), field(6), field(9), field(10), field(11)];
    const name = buf.toString('utf8', off + 110, off + 110 + namesize! - 1);
    const dataStart = align(off + 110 + namesize!);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode: mode!, uid: uid!, gid: gid!, mtime: mtime!, size: size!, rdevMajor: rdevMajor!, rdevMinor: rdevMinor!, data: buf.subarray(dataStart, dataStart + size!) });
    off = align(dataStart + size!);
  }
}

async function build(args: string[], env: Record<string, string> = {}) {
  const r = await lifeboat(['netboot', 'build', ...args, '--json'], { env });
  assert.equal(r.exitCode, 0, `lifeboat netboot build ${args.join(' ')} failed:\n${r.stderr}`);
  const done = jsonLines(r.stdout).find((l) => l.type === 'done') as { record: { sourceDateEpoch: number; initrd: { sha256: string; compression: string; entries: number }; kernel: { version: string; package: string | null }; agent: { sha256: string } | null; packages: Array<{ name: string }> } };
  assert.ok(done, 'the build prints its record as the last JSON line');
  return { record: done.record, progress: jsonLines(r.stdout).filter((l) => l.type === 'progress').map((l) => String(l.stage)) };
}

test('netboot build: reproducible rescue kernel and initramfs whose tools run from the initramfs alone', { timeout: 600_000 }, async (t) => {
  const world = await makeWorld(t, 'lb-nbuild');
  const agent = join(world.dir, 'agent.js');
  writeFileSync(agent, "console.log('agent');\n");
  const a = join(world.dir, 'a');
  const b = join(world.dir, 'b');

  // The cloud kernel: smaller and faster to build; the default (full) kernel is chosen in unit/netboot-kernel-choice.
  const first = await build(['--kernel', 'cloud', '--out', a, '--agent', agent]);
  const second = await build(['--kernel', 'cloud', '--out', b, '--agent', agent]);
  assert.deepEqual(first.progress, ['kernel', 'tools', 'libraries', 'modules', 'agent', 'initramfs', 'done']);
  for (const f of ['vmlinuz', 'initrd.img', 'build.json']) {
    assert.equal(await sha256Of(join(a, f)), await sha256Of(join(b, f)), `${f} is byte-identical across two builds`);
  }
  const record = JSON.parse(readFileSync(join(a, 'build.json'), 'utf8'));
  assert.equal(record.format, 'lifeboat-rescue/1');
  assert.equal(record.initrd.sha256, await sha256Of(join(a, 'initrd.img')), 'build.json carries the initrd\'s checksum');
  assert.match(record.kernel.version, /-cloud-amd64$/, 'the cloud kernel, as asked');
  assert.match(record.kernel.package ?? '', /^linux-image-/);
  for (const pkg of ['busybox', 'e2fsprogs', 'xfsprogs', 'lvm2', 'mdadm', 'nfs-common', 'grub-common', 'nodejs', 'libc6']) {
    assert.ok(record.packages.some((p: { name: string }) => p.name === pkg), `build.json names the package ${pkg} with its version`);
  }
  assert.equal(record.agent.sha256, (await execa('sha256sum', [agent])).stdout.split(' ')[0]);

  // What the kernel will unpack: every entry root-owned and stamped with the one build time.
  // Decompressed to files, not pipes: a 200 MiB stdout collected by execa exhausts the test's heap.
  const cpioFile = join(world.dir, 'a.cpio');
  await sh('zstd', ['-d', '-q', '-o', cpioFile, join(a, 'initrd.img')]);
  const entries = readNewc(readFileSync(cpioFile));
  assert.equal(entries.length, record.initrd.entries);
  assert.ok(entries.every((e) => e.uid === 0 && e.gid === 0), 'every file belongs to root');
  assert.ok(entries.every((e) => e.mtime === record.sourceDateEpoch), 'every file has the build\'s one timestamp');
  const names = entries.map((e) => e.name);
  assert.deepEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))), names, 'entries are sorted, directories before their contents');
  const console_ = entries.find((e) => e.name === 'dev/console');
  assert.ok(console_ && (console_.mode & 0o170000) === 0o020000 && console_.rdevMajor === 5 && console_.rdevMinor === 1, '/dev/console is a character device 5:1');
  const init = entries.find((e) => e.name === 'init');
  assert.ok(init && (init.mode & 0o111) !== 0, '/init is executable');
  const modulesDir = `usr/lib/modules/${record.kernel.version}`;
  const modulesDep = entries.find((e) => e.name === `${modulesDir}/modules.dep`)?.data.toString() ?? '';
  for (const m of ['virtio_net.ko', 'virtio_blk.ko', 'xfs.ko', 'btrfs.ko', 'raid1.ko', 'dm-mod.ko', 'nfsv4.ko', 'vfat.ko', 'efivarfs.ko']) {
    assert.match(modulesDep, new RegExp(`/${m.replace('.', '\\.')}:`), `modules.dep indexes ${m}`);
  }
  assert.match(entries.find((e) => e.name === `${modulesDir}/modules.alias`)?.data.toString() ?? '', /alias virtio:d00000001v\* virtio_net/, 'modules.alias lets /init load virtio_net by modalias');

  // Unpacked, the initramfs alone runs its tools: chroot into it and call them.
  const root = join(world.dir, 'root');
  await sh('mkdir', ['-p', root]);
  await execa('cpio', ['-idm', '--quiet', '--no-absolute-filenames', '-F', cpioFile], { cwd: root });
  const inRoot = async (cmd: string[]) => {
    const r = await execa('chroot', [root, ...cmd], { reject: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false });
    return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
  };
  assert.equal((await inRoot(['/bin/sh', '-n', '/init'])).code, 0, '/init parses with the rescue system\'s own sh');
  const checks: Array<[string[], RegExp]> = [
    [['node', '-e', 'console.log(process.version)'], /^v\d+\./],
    [['mkfs.xfs', '-V'], /mkfs\.xfs version/],
    [['mke2fs', '-V'], /mke2fs \d/],
    [['mkfs.btrfs', '--version'], /btrfs-progs/],
    [['mkfs.vfat', '--help'], /mkfs\.fat/],
    [['sfdisk', '--version'], /util-linux/],
    [['sgdisk', '--version'], /GPT fdisk/],
    [['lvm', 'version'], /LVM version/],
    [['mdadm', '--version'], /mdadm - v/],
    [['mount.nfs', '-V'], /mount\.nfs/],
    [['grub-install', '--version'], /GRUB/],
    [['efibootmgr', '--version'], /version/],
    [['getfattr', '--version'], /getfattr/],
    [['tar', '--version'], /GNU tar/],
    [['zstd', '--version'], /Zstandard/],
    [['curl', '--version'], /^curl /],
    [['modprobe', '--version'], /kmod version/],
    [['udhcpc', '--help'], /udhcpc/],
    [['ip', 'help'], /Usage: ip/],
    [['switch_root'], /Usage: switch_root/],
  ];
  for (const [cmd, expect] of checks) {
    const r = await inRoot(cmd);
    assert.match(r.out, expect, `${cmd.join(' ')} runs inside the initramfs (exit ${r.code}): ${r.out.slice(0, 300)}`);
  }
  // Every ELF program in the initramfs finds all its libraries there.
  const elfs = (await execa('sh', ['-c', `cd '${root}' && for f in usr/bin/* usr/sbin/*; do [ -L "$f" ] || head -c 4 "$f" | grep -q ELF && echo "/$f"; done`])).stdout.split('\n').filter(Boolean);
  assert.ok(elfs.length > 50, `found ${elfs.length} programs`);
  for (const f of elfs) {
    const r = await inRoot(['/lib64/ld-linux-x86-64.so.2', '--list', f]);
    assert.ok(!/not found/.test(r.out), `${f} misses libraries in the initramfs:\n${r.out}`);
  }
  for (const dir of ['usr/lib/grub/i386-pc/boot.img', 'usr/lib/grub/x86_64-efi/linux.mod', 'lifeboat/agent.js', 'lifeboat/udhcpc.script', 'etc/lvm/lvm.conf']) {
    assert.ok(names.includes(dir), `the initramfs has /${dir}`);
  }

  // SOURCE_DATE_EPOCH and gzip: the time is the one given, the gzip header carries none.
  const c = join(world.dir, 'c');
  const third = await build(['--kernel', 'cloud', '--out', c, '--agent', agent, '--compression', 'gzip'], { SOURCE_DATE_EPOCH: '1700000000' });
  assert.equal(third.record.sourceDateEpoch, 1700000000);
  assert.equal(third.record.initrd.compression, 'gzip');
  const gz = readFileSync(join(c, 'initrd.img')).subarray(0, 10);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b], 'a gzip stream');
  assert.equal(gz.readUInt32LE(4), 0, 'no timestamp in the gzip header');
  const gzCpio = join(world.dir, 'c.cpio');
  await sh('sh', ['-c', `gzip -dc '${join(c, 'initrd.img')}' > '${gzCpio}'`]);
  const gzEntries = readNewc(readFileSync(gzCpio));
  assert.ok(gzEntries.every((e) => e.mtime === 1700000000), 'every file carries SOURCE_DATE_EPOCH');
  assert.deepEqual(gzEntries.map((e) => e.name), names, 'the same files whatever the compression');
});

test('netboot build: wrong kernel, wrong compression and --help say what to do', async () => {
  const missing = await lifeboat(['netboot', 'build', '--kernel', '9.9.9-nope', '--out', '/nonexistent/out']);
  assert.equal(missing.exitCode, 3);
  assert.match(missing.stderr, /kernel \/boot\/vmlinuz-9\.9\.9-nope does not exist: install a linux-image package/);
  const compression = await lifeboat(['netboot', 'build', '--compression', 'lz4']);
  assert.equal(compression.exitCode, 2);
  assert.match(compression.stderr, /--compression lz4: use zstd or gzip/);
  const help = await lifeboat(['netboot', 'build', '--help']);
  assert.equal(help.exitCode, 0);
  assert.match(help.stdout, /Usage: lifeboat netboot build/);
  assert.match(help.stdout, /--kernel full\|cloud\|PATH\|VERSION/);
  assert.match(help.stdout, /The kernel is Debian's full kernel/);
  const agentMissing = await lifeboat(['netboot', 'build', '--agent', '/nonexistent/agent.js', '--out', '/tmp/lifeboat-never-written']);
  assert.equal(agentMissing.exitCode, 3);
  assert.match(agentMissing.stderr, /--agent \/nonexistent\/agent\.js cannot be read/);
});
