import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { attachDiskImage, type AttachedDisk } from '../../images/source/disk-image.js';
import { mountReadOnly } from '../../images/source/mount-readonly.js';
import { probeLayout } from '../../images/layout/probe.js';
import { LifeboatError } from '../../core/errors.js';
import { makeWorld, sh, type World } from '../support/world.js';
import { asStored, rederive } from '../support/rederive.js';
import { makeFilesystem, mountFs, sparseFile } from '../support/loop-devices.js';

const MiB = 1024 * 1024;
const ROOT_UUID = '6c1a9e57-2f3b-4d8a-9e0c-5b7d1f2a3c4e';
const SWAP_UUID = '0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a';
/** Any config lvm is given here: no backup or archive files in the host's /etc/lvm. */
const LVM_CONFIG = 'backup { backup = 0 archive = 0 } devices { hints = "none" use_devicesfile = 0 }';

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What sfdisk says of the image file itself, read by the test, not by the probe. */
async function sfdiskOfFile(file: string): Promise<{ label: string; id: string; partitions: Array<{ start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }> }> {
  return JSON.parse(await sh('sfdisk', ['--json', file])).partitiontable;
}

/** blkid's own word on one device, as KEY=value pairs. */
async function blkidOf(device: string): Promise<Record<string, string>> {
  const r = await execa('blkid', ['-p', '-o', 'export', device], { reject: false });
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/\\(.)/g, '$1')]));
}

async function attach(world: World, file: string, readOnly: boolean): Promise<AttachedDisk> {
  const disk = await attachDiskImage(file, { readOnly });
  world.defer(() => disk.detach());
  return disk;
}

/**
 * Two disk images, built and populated through read-write loop devices:
 * gpt.img  p1 ext4 "lbroot" (the system: fstab, os-release, hostname), p2 xfs "lbsrv", p3 swap
 * dos.img  p1 ext4 "lbboot" bootable (/boot: kernels, grub i386-pc), p2 extended,
 *          p5 ext4 "lblogs" logical, p6 an LVM PV (metadata only: this host has no device-mapper)
 */
async function buildImages(world: World): Promise<{ gpt: string; dos: string; vg: string }> {
  const gpt = await sparseFile(join(world.dir, 'gpt.img'), 1200 * MiB);
  const dos = await sparseFile(join(world.dir, 'dos.img'), 400 * MiB);
  await sh('sfdisk', ['-q', gpt], {
    input: 'label: gpt\nsize=500MiB, type=L, name="root"\nsize=400MiB, type=L, name="srv"\nsize=100MiB, type=S, name="swap"\n',
  });
  await sh('sfdisk', ['-q', dos], {
    input: [
      'label: dos', 'unit: sectors', '',
      `${dos}1 : start=2048, size=204800, type=83, bootable`,
      `${dos}2 : start=206848, size=612352, type=5`,
      `${dos}5 : start=208896, size=307200, type=83`,
      `${dos}6 : start=518144, size=204800, type=8e`, '',
    ].join('\n'),
  });
  // GRUB's boot code carries the string "GRUB"; put it where boot code lives, before the table.
  const fh = await open(dos, 'r+');
  await fh.write(Buffer.from('GRUB '), 0, 5, 0x180);
  await fh.close();

  const g = await attach(world, gpt, false);
  const d = await attach(world, dos, false);
  assert.equal(g.partitions.length, 3);
  assert.deepEqual(d.partitions, [`${d.device}p1`, `${d.device}p2`, `${d.device}p5`, `${d.device}p6`]);
  await makeFilesystem(g.partitions[0]!, 'ext4', 'lbroot', ROOT_UUID);
  await makeFilesystem(g.partitions[1]!, 'xfs', 'lbsrv');
  await sh('mkswap', ['-q', '-U', SWAP_UUID, g.partitions[2]!]);
  await makeFilesystem(d.partitions[0]!, 'ext4', 'lbboot');
  await makeFilesystem(d.partitions[2]!, 'ext4', 'lblogs');
  const vg = `lbvg${world.id}`;
  await sh('lvm', ['pvcreate', '-q', '--config', LVM_CONFIG, d.partitions[3]!]);
  await sh('lvm', ['vgcreate', '-q', '--config', LVM_CONFIG, '--driverloaded', 'n', vg, d.partitions[3]!]);
  await sh('lvm', ['lvcreate', '-q', '--config', LVM_CONFIG, '--driverloaded', 'n', '-an', '-Zn', '-n', 'data', '-L', '40M', vg]);

  const bootPart = await blkidOf(d.partitions[0]!);
  const rootDir = await mountFs(world, g.partitions[0]!, join(world.dir, 'rw-root'));
  const bootDir = await mountFs(world, d.partitions[0]!, join(world.dir, 'rw-boot'));
  await mkdir(join(rootDir, 'etc'));
  await mkdir(join(rootDir, 'usr/lib'), { recursive: true });
  await mkdir(join(rootDir, 'usr/bin'), { recursive: true });
  await mkdir(join(rootDir, 'boot'));
  await symlink('usr/bin', join(rootDir, 'bin'));
  await copyFile('/usr/bin/env', join(rootDir, 'usr/bin/env'));
  await writeFile(join(rootDir, 'etc/fstab'), [
    '# written by the layout probe test',
    `UUID=${ROOT_UUID} / ext4 errors=remount-ro 0 1`,
    `PARTUUID=${bootPart.PART_ENTRY_UUID} /boot ext4 defaults 0 2`,
    'LABEL=lbsrv /srv\\040data xfs noatime 0 2',
    'LABEL=lblogs /var/log ext4 defaults',
    `UUID=${SWAP_UUID} none swap sw 0 0`,
    'tmpfs /tmp tmpfs mode=1777 0 0', '',
  ].join('\n'));
  // An absolute link, as some distributions ship it: it must resolve inside the image.
  await writeFile(join(rootDir, 'usr/lib/os-release'), 'NAME="Lifeboat Test"\nID=lifeboat-test\nVERSION_ID="1.0"\n');
  await symlink('/usr/lib/os-release', join(rootDir, 'etc/os-release'));
  await writeFile(join(rootDir, 'etc/hostname'), 'golden-1\n');
  await writeFile(join(rootDir, 'payload.bin'), Buffer.alloc(8 * MiB, 7));
  await mkdir(join(bootDir, 'grub/i386-pc'), { recursive: true });
  await writeFile(join(bootDir, 'vmlinuz-6.1.0-9-amd64'), 'old kernel');
  await writeFile(join(bootDir, 'vmlinuz-6.1.0-13-amd64'), 'new kernel');
  await sh('umount', [rootDir]);
  await sh('umount', [bootDir]);
  await g.detach();
  await d.detach();
  await g.detach(); // a second detach is harmless
  return { gpt, dos, vg };
}

test('probe of a GPT and an MBR disk image attached read-only agrees with sfdisk and blkid, and writes nothing', async (t) => {
  const world = await makeWorld(t, 'lbprobe');
  const { gpt, dos, vg } = await buildImages(world);
  const before = { gpt: await sha256(gpt), dos: await sha256(dos) };
  const gptTable = await sfdiskOfFile(gpt);
  const dosTable = await sfdiskOfFile(dos);

  const g = await attach(world, gpt, true);
  const d = await attach(world, dos, true);
  for (const dev of [g.device, d.device]) {
    assert.equal((await readFile(`/sys/block/${dev.slice(5)}/ro`, 'utf8')).trim(), '1', `${dev} is attached read-only`);
  }
  const [rootPart, srvPart, swapPart] = g.partitions as [string, string, string];
  const [bootPart, , logsPart, pvPart] = d.partitions as [string, string, string, string];
  const truth = new Map<string, Record<string, string>>();
  for (const p of [...g.partitions, ...d.partitions]) truth.set(p, await blkidOf(p));

  const mountpoints: Record<string, string> = {};
  const unmounts: Array<() => Promise<void>> = [];
  for (const [dev, type] of [[rootPart, 'ext4'], [srvPart, 'xfs'], [bootPart, 'ext4'], [logsPart, 'ext4']] as const) {
    const target = join(world.dir, 'ro', dev.slice(5));
    await mkdir(target, { recursive: true });
    const unmount = await mountReadOnly(dev, type, target);
    world.defer(unmount);
    unmounts.push(unmount);
    mountpoints[dev] = target;
  }

  const { layout, raw } = await probeLayout({ disks: [g.device, d.device], mountpoints });
  assert.deepEqual(rederive(raw), asStored(layout), 'the layout is derived again from the raw evidence alone');

  // Disks and tables, as sfdisk reads the image files.
  assert.deepEqual(layout.disks.map((x) => [x.path, x.size, x.backingFile]), [[g.device, 1200 * MiB, gpt], [d.device, 400 * MiB, dos]]);
  const [gd, dd] = layout.disks as [typeof layout.disks[0], typeof layout.disks[0]];
  assert.equal(gd.table?.type, 'gpt');
  assert.equal(gd.table?.id, gptTable.id);
  assert.deepEqual(gd.table?.partitions.map((p) => [p.path, p.start, p.size, p.type, p.uuid, p.name]),
    gptTable.partitions.map((p, i) => [g.partitions[i], p.start, p.size, p.type, p.uuid, p.name]));
  assert.equal(dd.table?.type, 'dos');
  assert.equal(dd.table?.id, dosTable.id);
  assert.deepEqual(dd.table?.partitions.map((p) => [p.number, p.kind, p.start, p.size, p.type, p.bootable]), [
    [1, 'primary', dosTable.partitions[0]!.start, dosTable.partitions[0]!.size, '83', true],
    [2, 'extended', 206848, 612352, '5', false],
    [5, 'logical', 208896, 307200, '83', false],
    [6, 'logical', 518144, 204800, '8e', false],
  ]);
  assert.deepEqual(dosTable.partitions.map((p) => [p.start, p.size]), [[2048, 204800], [206848, 612352], [208896, 307200], [518144, 204800]]);

  // Filesystems, as blkid reads the partitions, and where the source's fstab puts them.
  const fsOf = (dev: string) => layout.filesystems.find((f) => f.device === dev);
  assert.deepEqual(layout.filesystems.map((f) => f.device), [rootPart, srvPart, bootPart, logsPart]);
  for (const f of layout.filesystems) {
    const b = truth.get(f.device)!;
    assert.equal(f.type, b.TYPE, `${f.device} type`);
    assert.equal(f.uuid, b.UUID, `${f.device} uuid`);
    assert.equal(f.label, b.LABEL, `${f.device} label`);
    assert.ok(f.size! > 0, `${f.device} has a size`);
    assert.ok(f.used! > 0 && f.used! < f.size!, `${f.device} has used bytes`);
  }
  assert.equal(fsOf(rootPart)!.uuid, ROOT_UUID);
  assert.deepEqual(layout.filesystems.map((f) => [f.device, f.mountpoint, f.mountOptions]), [
    [rootPart, '/', 'errors=remount-ro'],
    [srvPart, '/srv data', 'noatime'],
    [bootPart, '/boot', 'defaults'],
    [logsPart, '/var/log', 'defaults'],
  ]);
  assert.ok(fsOf(rootPart)!.used! >= 8 * MiB, 'the 8 MiB payload counts as used');
  assert.ok(fsOf(rootPart)!.features!.includes('has_journal'));
  assert.ok(!fsOf(rootPart)!.features!.includes('needs_recovery'));
  assert.ok(fsOf(srvPart)!.features!.includes('crc=1'));

  assert.deepEqual(layout.swaps, [{ device: swapPart, uuid: SWAP_UUID, size: 100 * MiB }]);
  assert.equal(truth.get(swapPart)!.UUID, SWAP_UUID);
  assert.deepEqual(layout.fstab.map((e) => e.file), ['/', '/boot', '/srv data', '/var/log', 'none', '/tmp']);

  // The PV on the logical partition: recorded from LVM metadata, its LV noted as not active.
  assert.deepEqual(layout.lvm.pvs.map((p) => [p.device, p.vg]), [[pvPart, vg]]);
  assert.deepEqual(layout.lvm.vgs.map((v) => v.name), [vg]);
  assert.deepEqual(layout.lvm.lvs.map((l) => [l.name, l.size, l.segtype]), [['data', 40 * MiB, 'linear']]);
  assert.ok(layout.notes?.some((n) => n.includes(`${vg}/data is not active`)));
  assert.deepEqual(layout.md, []);

  // The system on the disks, not the machine probing them.
  assert.equal(layout.host.hostname, 'golden-1');
  assert.equal(layout.host.osRelease.ID, 'lifeboat-test');
  assert.equal(layout.host.kernel, '6.1.0-13-amd64', 'newest kernel in the separate /boot');
  assert.equal(layout.host.arch, 'x86_64');
  assert.deepEqual(layout.bootloader, { firmware: 'bios', kind: 'grub-pc', bootDisk: d.device });

  // The raw evidence the archive keeps.
  for (const name of ['lsblk.json', 'blkid.txt', 'findmnt.json', 'fstab', 'os-release', 'hostname', 'lvm-fullreport.json', `sfdisk-${g.device.slice(5)}.json`, `sfdisk-${d.device.slice(5)}.json`, `dumpe2fs-${rootPart.slice(5)}.txt`, `xfs_info-${srvPart.slice(5)}.txt`]) {
    assert.ok(raw[name] !== undefined && raw[name]!.length > 0, `raw ${name}`);
  }
  assert.deepEqual(JSON.parse(raw[`sfdisk-${d.device.slice(5)}.json`]!).partitiontable.id, dosTable.id);
  assert.match(raw.fstab!, /LABEL=lbsrv/);

  for (const u of unmounts) await u();
  await g.detach();
  await d.detach();
  assert.deepEqual({ gpt: await sha256(gpt), dos: await sha256(dos) }, before, 'the images are byte for byte what they were');
});

test('probe of attached disks before anything is mounted: filesystems without mountpoints, and says why', async (t) => {
  const world = await makeWorld(t, 'lbprobe');
  const file = await sparseFile(join(world.dir, 'one.img'), 400 * MiB);
  await sh('sfdisk', ['-q', file], { input: 'label: gpt\nsize=200MiB, type=L\n' });
  const rw = await attach(world, file, false);
  await makeFilesystem(rw.partitions[0]!, 'btrfs', 'lbbtr');
  const top = await mountFs(world, rw.partitions[0]!, join(world.dir, 'btr'));
  await sh('btrfs', ['-q', 'subvolume', 'create', join(top, '@')]);
  await sh('btrfs', ['-q', 'subvolume', 'create', join(top, '@home')]);
  await mkdir(join(top, '@/etc'));
  await writeFile(join(top, '@/etc/fstab'), `LABEL=lbbtr / btrfs subvol=@ 0 0\nLABEL=lbbtr /home btrfs subvol=@home 0 0\n`);
  await writeFile(join(top, '@/etc/hostname'), 'btr-host\n');
  await sh('umount', [top]);
  await rw.detach();

  const disk = await attach(world, file, true);
  const first = await probeLayout({ disks: [disk.device] });
  assert.deepEqual(rederive(first.raw), asStored(first.layout));
  assert.deepEqual(first.layout.filesystems.map((f) => [f.device, f.type, f.label, f.mountpoint, f.used]), [[disk.partitions[0], 'btrfs', 'lbbtr', undefined, undefined]]);
  assert.deepEqual(first.layout.host, { osRelease: {} }, 'no root: nothing is said of the host');
  assert.ok(first.layout.notes?.some((n) => /btrfs on .* is not mounted/.test(n)));

  // Mounted read-only at the top: the root is found in the @ subvolume, /home in @home.
  const target = join(world.dir, 'ro');
  await mkdir(target);
  world.defer(await mountReadOnly(disk.partitions[0]!, 'btrfs', target));
  const second = await probeLayout({ disks: [disk.device], mountpoints: { [disk.partitions[0]!]: target } });
  assert.deepEqual(rederive(second.raw), asStored(second.layout));
  const fs = second.layout.filesystems[0]!;
  assert.deepEqual(fs.subvolumes?.map((s) => s.path), ['@', '@home']);
  assert.equal(fs.mountpoint, '/');
  assert.deepEqual(fs.mounts, [{ mountpoint: '/', options: 'subvol=@', subvolume: '@' }, { mountpoint: '/home', options: 'subvol=@home', subvolume: '@home' }]);
  assert.equal(second.layout.host.hostname, 'btr-host');
  assert.ok(second.raw[`btrfs-subvolumes-${disk.partitions[0]!.slice(5)}.txt`]!.includes('@home'));
});

test('attachDiskImage refuses what is not a disk, and a block device is used as it is', async (t) => {
  const world = await makeWorld(t, 'lbprobe');
  await assert.rejects(attachDiskImage(join(world.dir, 'missing.img'), { readOnly: true }), (e: unknown) => e instanceof LifeboatError && e.code === 'LB_NOT_FOUND');
  await assert.rejects(attachDiskImage(world.dir, { readOnly: true }), (e: unknown) => e instanceof LifeboatError && e.code === 'LB_USAGE' && /neither a regular file nor a block device/.test(e.message));
  await assert.rejects(probeLayout({ disks: [join(world.dir)] }), (e: unknown) => e instanceof LifeboatError && /not a block device/.test(e.message));

  const file = await sparseFile(join(world.dir, 'plain.img'), 64 * MiB);
  const loop = await attach(world, file, true);
  assert.deepEqual(loop.partitions, [], 'no partition table, no partitions');
  const asDevice = await attachDiskImage(loop.device, { readOnly: true });
  assert.equal(asDevice.device, loop.device);
  await asDevice.detach();
  assert.ok(existsSync(loop.device) && (await readFile(`/sys/block/${loop.device.slice(5)}/loop/backing_file`, 'utf8')).trim() === file, 'detaching a block device given as is leaves it attached');
  await loop.detach();
  await loop.detach();
});
