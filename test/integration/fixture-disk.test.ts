import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld, sh } from '../support/world.js';
import { attachLoop, mountFs } from '../support/loop-devices.js';
import { buildFixtureDisk, fixtureUuid, readMarkers, treeHash, type FixtureDisk, type Firmware, type TableType } from '../support/fixture-disk.js';

// Everything here is checked from the host without booting: the partition table with sfdisk,
// filesystems with blkid -p at the partitions' offsets, the root filesystem with debugfs, the ESP
// with mtools, /data through a read-only loop mount.

const MiB = 1024 * 1024;

interface SfdiskJson {
  partitiontable: {
    label: string;
    id: string;
    partitions: Array<{ start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }>;
  };
}

async function sfdiskJson(image: string): Promise<SfdiskJson['partitiontable']> {
  return (JSON.parse(await sh('sfdisk', ['--json', image])) as SfdiskJson).partitiontable;
}

/** blkid's low-level probe of whatever starts at `offset` bytes into the image. */
async function probeAt(image: string, offset: number): Promise<Record<string, string>> {
  const out = await sh('blkid', ['-p', '-O', String(offset), '-o', 'export', image]);
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function debugfs(image: string, offset: number, request: string): Promise<string> {
  const r = await execa('debugfs', ['-R', request, `${image}?offset=${offset}`], { reject: false, stripFinalNewline: false });
  if (r.exitCode !== 0) throw new Error(`debugfs -R '${request}' failed: ${r.stderr}`);
  return r.stdout;
}

async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fh.close();
  }
}

const part = (disk: FixtureDisk, role: string) => {
  const p = disk.partitions.find((x) => x.role === role);
  assert.ok(p, `${disk.name} has a ${role} partition`);
  return p;
};

const variants: Array<{ firmware: Firmware; table: TableType; roles: string[] }> = [
  { firmware: 'bios', table: 'gpt', roles: ['bios-boot', 'root', 'data', 'swap'] },
  { firmware: 'bios', table: 'dos', roles: ['root', 'data', 'swap'] },
  { firmware: 'uefi', table: 'gpt', roles: ['esp', 'root', 'data', 'swap'] },
];

for (const v of variants) {
  test(`fixture ${v.firmware}/${v.table}: table, filesystems, fstab, GRUB and files are as promised`, async (t) => {
    const world = await makeWorld(t, 'fixture');
    const name = `it-${v.firmware}-${v.table}`;
    const cacheDir = join(world.dir, 'cache');
    const disk = await buildFixtureDisk({ dir: join(world.dir, 'out'), firmware: v.firmware, table: v.table, name, cacheDir });
    assert.equal(disk.cached, false, 'a fresh cache directory means a fresh build');
    assert.equal((await stat(disk.path)).size, 1024 * MiB, 'default size 1 GiB');

    // Partition table.
    const table = await sfdiskJson(disk.path);
    assert.equal(table.label, v.table);
    assert.equal(table.id.toLowerCase(), disk.diskId.toLowerCase());
    assert.deepEqual(disk.partitions.map((p) => p.role), v.roles);
    assert.equal(table.partitions.length, v.roles.length);
    table.partitions.forEach((tp, i) => {
      const p = disk.partitions[i]!;
      assert.equal(tp.start * 512, p.startBytes, `partition ${i + 1} start`);
      assert.equal(tp.size * 512, p.sizeBytes, `partition ${i + 1} size`);
      assert.equal(tp.type.toUpperCase(), p.type.toUpperCase(), `partition ${i + 1} type`);
      if (v.table === 'gpt') {
        assert.equal(tp.uuid, p.partUuid);
        assert.equal(tp.name, p.partName);
      }
    });
    const types = table.partitions.map((p) => p.type.toUpperCase());
    if (v.firmware === 'uefi') {
      assert.equal(types[0], 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 'the first partition is an EFI system partition');
      assert.equal(part(disk, 'esp').sizeBytes, 64 * MiB);
    } else if (v.table === 'gpt') {
      assert.equal(types[0], '21686148-6449-6E6F-744E-656564454649', 'the first partition is a BIOS boot partition');
      assert.equal(part(disk, 'bios-boot').sizeBytes, 1 * MiB);
    } else {
      assert.deepEqual(types, ['83', '83', '82']);
      assert.equal(table.partitions[0]!.bootable, true, 'the root partition is active');
    }
    assert.equal(types.at(-1), v.table === 'gpt' ? '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F' : '82', 'swap comes last');

    // Filesystems: types, UUIDs derived from the name, labels.
    const root = part(disk, 'root');
    const data = part(disk, 'data');
    const swap = part(disk, 'swap');
    const expectFs = async (p: typeof root, type: string, uuid: string, label: string) => {
      const probe = await probeAt(disk.path, p.startBytes);
      assert.equal(probe.TYPE, type, `${p.role} filesystem type`);
      assert.equal(probe.UUID, uuid, `${p.role} UUID`);
      assert.equal(probe.LABEL, label, `${p.role} label`);
    };
    await expectFs(root, 'ext4', fixtureUuid(name, 'root'), 'fxroot');
    await expectFs(data, 'xfs', fixtureUuid(name, 'data'), 'fxdata');
    await expectFs(swap, 'swap', fixtureUuid(name, 'swap'), 'fxswap');
    const esp = disk.partitions.find((p) => p.role === 'esp');
    if (esp) await expectFs(esp, 'vfat', esp.fs!.uuid, 'FXESP');
    if (esp) assert.match(esp.fs!.uuid, /^[0-9A-F]{4}-[0-9A-F]{4}$/);

    // fstab: root, ESP and swap by UUID, /data by label.
    const fstab = await debugfs(disk.path, root.startBytes, 'cat /etc/fstab');
    assert.equal(fstab, disk.fstab);
    const entries = fstab.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/\s+/).slice(0, 3).join(' '));
    assert.deepEqual(entries, [
      `UUID=${fixtureUuid(name, 'root')} / ext4`,
      ...(esp ? [`UUID=${esp.fs!.uuid} /boot/efi vfat`] : []),
      'LABEL=fxdata /data xfs',
      `UUID=${fixtureUuid(name, 'swap')} none swap`,
    ]);
    assert.deepEqual(disk.expected.mounts, [
      { mountpoint: '/', fstype: 'ext4', uuid: fixtureUuid(name, 'root') },
      ...(esp ? [{ mountpoint: '/boot/efi', fstype: 'vfat', uuid: esp.fs!.uuid }] : []),
      { mountpoint: '/data', fstype: 'xfs', uuid: fixtureUuid(name, 'data') },
    ]);
    assert.equal(disk.expected.swap, fixtureUuid(name, 'swap'));
    assert.equal(disk.expected.marker, `FIXTURE-BOOTED name=${name}`);

    // Root filesystem: init, kernel, initrd, GRUB config finding root by UUID, name, links, xattrs.
    assert.equal((await debugfs(disk.path, root.startBytes, 'cat /etc/fixture-name')).trim(), name);
    assert.match(await debugfs(disk.path, root.startBytes, 'cat /sbin/init'), /FIXTURE-BOOTED name=/);
    const grubCfg = await debugfs(disk.path, root.startBytes, 'cat /boot/grub/grub.cfg');
    assert.match(grubCfg, new RegExp(`search --no-floppy --fs-uuid --set=root ${fixtureUuid(name, 'root')}`));
    assert.match(grubCfg, new RegExp(`linux /boot/vmlinuz-${disk.kernel.version} root=UUID=${fixtureUuid(name, 'root')} ro console=ttyS0,115200`));
    assert.match(grubCfg, new RegExp(`initrd /boot/initrd.img-${disk.kernel.version}`));
    const bootDir = await debugfs(disk.path, root.startBytes, 'ls -l /boot');
    assert.match(bootDir, new RegExp(`vmlinuz-${disk.kernel.version}`));
    assert.match(bootDir, new RegExp(`initrd.img-${disk.kernel.version}`));
    assert.match(await debugfs(disk.path, root.startBytes, 'stat /usr/share/fixture/readme.txt'), /Links: 2/);
    assert.match(await debugfs(disk.path, root.startBytes, 'stat /usr/share/fixture/readme-symlink.txt'), /Type: symlink[\s\S]*Fast link dest: "readme.txt"/);
    assert.match(await debugfs(disk.path, root.startBytes, 'ea_get /usr/share/fixture/with-xattr.txt user.lifeboat.fixture'), new RegExp(name));
    assert.match(await debugfs(disk.path, root.startBytes, 'ea_list /usr/local/bin/capability-example'), /security\.capability/);
    assert.match(await debugfs(disk.path, root.startBytes, 'stat /home/user/notes.txt'), /User:\s+1000\s+Group:\s+1000[\s\S]*/);

    // Bootloader where the firmware looks for it.
    if (v.firmware === 'bios') {
      const mbr = await readBytes(disk.path, 0, 512);
      assert.equal(mbr.readUInt16LE(510), 0xaa55, 'MBR signature');
      assert.ok(mbr.subarray(0, 440).includes('GRUB'), 'GRUB boot code in the MBR');
      // core.img: in the BIOS boot partition on GPT, in the gap after the MBR on dos.
      const coreAt = v.table === 'gpt' ? part(disk, 'bios-boot').startBytes : 512;
      assert.ok((await readBytes(disk.path, coreAt, 512)).some((b) => b !== 0), 'GRUB core.img is embedded');
      assert.match(await debugfs(disk.path, root.startBytes, 'ls /boot/grub/i386-pc'), /normal\.mod/);
    } else {
      const espImage = `${disk.path}@@${esp!.startBytes}`;
      const env = { MTOOLS_SKIP_CHECK: '1' };
      const removable = Buffer.from((await execa('mcopy', ['-i', espImage, '::/EFI/BOOT/BOOTX64.EFI', '-'], { encoding: 'buffer', env })).stdout);
      const debian = Buffer.from((await execa('mcopy', ['-i', espImage, '::/EFI/debian/grubx64.efi', '-'], { encoding: 'buffer', env })).stdout);
      assert.equal(removable.subarray(0, 2).toString(), 'MZ', 'BOOTX64.EFI is a PE image');
      assert.ok(removable.equals(debian), 'the removable path and EFI/debian hold the same GRUB');
      assert.ok(removable.includes(`search --no-floppy --fs-uuid --set=root ${fixtureUuid(name, 'root')}`), 'the EFI image finds root by UUID');
      assert.match(await debugfs(disk.path, root.startBytes, 'ls -l /boot'), /efi/);
    }

    // /data and the hash: the hash recomputed from a read-only attach equals the one promised.
    const loop = await attachLoop(world, disk.path, { partitions: true, readOnly: true });
    const rootDir = await mountFs(world, `${loop}p${root.number}`, join(world.dir, 'root'), 'ro');
    const dataDir = await mountFs(world, `${loop}p${data.number}`, join(world.dir, 'data'), 'ro');
    assert.equal((await readFile(join(dataDir, 'blobs/a.bin'))).length, 3 * MiB);
    assert.match(await sh('getfattr', ['-n', 'user.lifeboat.fixture', '--only-values', join(dataDir, 'docs/with-xattr.txt')]), new RegExp(`${name}-data`));
    assert.match(await sh('stat', ['-c', '%h', join(dataDir, 'blobs/b.bin')]), /^2/);
    assert.equal(await treeHash({ root: rootDir, data: dataDir }), disk.expected.hash);

    // A second request with the same inputs comes from the cache, as a separate copy.
    const again = await buildFixtureDisk({ dir: join(world.dir, 'again'), firmware: v.firmware, table: v.table, name, cacheDir });
    assert.equal(again.cached, true);
    assert.notEqual(again.path, disk.path);
    assert.deepEqual(again.expected, disk.expected);
  });
}

test('fixture hash changes when one byte of one file on /data changes', async (t) => {
  const world = await makeWorld(t, 'fixture');
  const disk = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'dos', name: 'it-bios-dos', cacheDir: join(world.dir, 'cache') });
  const loop = await attachLoop(world, disk.path, { partitions: true });
  const rootDir = await mountFs(world, `${loop}p${part(disk, 'root').number}`, join(world.dir, 'root'), 'ro');
  const dataDir = await mountFs(world, `${loop}p${part(disk, 'data').number}`, join(world.dir, 'data'));
  assert.equal(await treeHash({ root: rootDir, data: dataDir }), disk.expected.hash);
  const blob = await readFile(join(dataDir, 'blobs/a.bin'));
  blob[12345] = blob[12345]! ^ 1;
  await writeFile(join(dataDir, 'blobs/a.bin'), blob);
  assert.notEqual(await treeHash({ root: rootDir, data: dataDir }), disk.expected.hash);
});

test('a fresh build drops its own stale cache entries and leaves other fixtures alone', async (t) => {
  const world = await makeWorld(t, 'fixture');
  const cacheDir = join(world.dir, 'cache');
  const stale = join(cacheDir, `it-prune-bios-gpt-${'0'.repeat(24)}`);
  const other = join(cacheDir, `it-prune-bios-gpt-bios-gpt-${'1'.repeat(24)}`); // fixture 'it-prune-bios-gpt'
  await mkdir(stale, { recursive: true });
  await mkdir(other, { recursive: true });
  const disk = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'it-prune', cacheDir });
  assert.equal(disk.cached, false);
  assert.equal(existsSync(stale), false, 'the entry under an older key is gone');
  assert.equal(existsSync(other), true, "another fixture's entry stays");
  assert.equal((await readdir(cacheDir)).filter((e) => /^it-prune-bios-gpt-[0-9a-f]{24}$/.test(e)).length, 1, 'one entry for it-prune: the new one');
});

test('fixture builder refuses UEFI on an MBR table and disks too small for its layout, saying why', async (t) => {
  const world = await makeWorld(t, 'fixture');
  await assert.rejects(buildFixtureDisk({ dir: world.dir, firmware: 'uefi', table: 'dos' }), /UEFI with a dos table is not built; use table 'gpt'/);
  await assert.rejects(buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', sizeBytes: 512 * MiB }), /at least \d+ MiB \(\/data is XFS/);
  await assert.rejects(buildFixtureDisk({ dir: world.dir, firmware: 'bios', name: 'Has Spaces' }), /fixture name 'Has Spaces' is not usable/);
});

test('readMarkers reads a serial log with firmware noise, CR/LF and escape sequences', () => {
  const log = [
    '\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001 "UEFI Misc Device"\r',
    '[    0.000000] Linux version 6.1.0',
    'fixture-initramfs: crc32c-intel.ko not loaded',
    'FIXTURE-BOOTED name=uefi-gpt\r',
    'FIXTURE-MOUNT / ext4 c5c11daf-3cbf-4fdd-8c6a-6175b5db1538\r',
    '[    7.5] XFS (vda3): Mounting V5 Filesystem',
    'FIXTURE-MOUNT /boot/efi vfat E8CE-FC53',
    'FIXTURE-ERROR mount LABEL=fxdata on /data failed',
    'FIXTURE-SWAP 871df699-f605-4bbe-a991-7bdd2d0f0042',
    'FIXTURE-IDENTITY hostname=lab-03 machine-id=0123456789abcdef0123456789abcdef sshkey=9f86d081884c7d65\r',
    `FIXTURE-HASH ${'ab'.repeat(32)}`,
    '[   10.25] reboot: Power down',
  ].join('\n');
  assert.deepEqual(readMarkers(log), {
    booted: 'uefi-gpt',
    mounts: [
      { mountpoint: '/', fstype: 'ext4', uuid: 'c5c11daf-3cbf-4fdd-8c6a-6175b5db1538' },
      { mountpoint: '/boot/efi', fstype: 'vfat', uuid: 'E8CE-FC53' },
    ],
    hash: 'ab'.repeat(32),
    swap: '871df699-f605-4bbe-a991-7bdd2d0f0042',
    identity: { hostname: 'lab-03', machineId: '0123456789abcdef0123456789abcdef', sshKey: '9f86d081884c7d65' },
    errors: ['mount LABEL=fxdata on /data failed'],
  });
  assert.deepEqual(readMarkers('SeaBIOS (version 1.16)\nBooting from Hard Disk...\n'), { booted: null, mounts: [], hash: null, swap: null, identity: null, errors: [] });
});
