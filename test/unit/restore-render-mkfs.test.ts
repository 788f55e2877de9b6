import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDumpe2fs } from '../../images/layout/parse-dumpe2fs.js';
import { parseXfsInfo } from '../../images/layout/parse-xfs-info.js';
import { planRestore } from '../../images/restore/plan.js';
import { renderPlan, type CommandStep } from '../../images/restore/render-plan.js';
import { GPT, MiB, GiB, archive, debianVm, disk, mbrServer } from '../support/restore-layouts.js';
import { makeWorld, sh } from '../support/world.js';
import { sourceDisk } from '../support/unit-kit.js';

/**
 * The rendered mkfs steps run as they are, with each target device swapped for a sparse file
 * (every mkfs here formats a regular file), and blkid, dumpe2fs and xfs_db read back what the plan
 * promised: type, UUID, label, ext feature list, xfs options.
 */

/** Each filesystem gets a file just big enough for its mkfs; the plan's sizes are for the real disk. */
const FILE_BYTES: Record<string, number> = { ext4: 64 * MiB, ext3: 64 * MiB, ext2: 64 * MiB, xfs: 300 * MiB, btrfs: 128 * MiB, vfat: 64 * MiB, jfs: 16 * MiB, swap: 4 * MiB };

async function blkid(file: string): Promise<Record<string, string>> {
  const out = await sh('blkid', ['-p', '-o', 'export', file]);
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('every rendered mkfs and mkswap makes the filesystem the plan describes', async (t) => {
  const w = await makeWorld(t, 'lb-mkfs');
  const m = mbrServer();
  // Add to the BIOS server a data disk with the other filesystems the restore can make.
  m.layout.disks.push(sourceDisk('sdb', 20 * GiB, { type: 'dos', id: '0x0ddba11' }, [
    { start: 2048, size: 4 * 2097152, type: '83', kind: 'primary', bootable: false },
    { start: 2048 + 4 * 2097152, size: 4 * 2097152, type: '83', kind: 'primary', bootable: false },
    { start: 2048 + 8 * 2097152, size: 2097152, type: 'c', kind: 'primary', bootable: false },
    { start: 2048 + 9 * 2097152, size: 2097152, type: '83', kind: 'primary', bootable: false },
  ]));
  m.layout.filesystems.push(
    { device: '/dev/sdb1', type: 'btrfs', uuid: '6b7c8d9e-0000-4111-8222-333333333333', label: 'vault', mountpoint: '/vault' },
    { device: '/dev/sdb2', type: 'jfs', uuid: '5e1f0000-aaaa-4bbb-8ccc-dddddddddddd', label: 'media', mountpoint: '/media' },
    { device: '/dev/sdb3', type: 'vfat', uuid: 'BEEF-0042', label: 'SHARED', mountpoint: '/shared' },
    { device: '/dev/sdb4', type: 'ext3', uuid: '7a7a7a7a-1111-4222-8333-444444444444', label: 'old', mountpoint: '/old', features: ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'sparse_super', 'large_file'] },
  );
  m.archives.push(archive('vault', '/vault', '/dev/sdb1', 'btrfs', GiB), archive('media', '/media', '/dev/sdb2', 'jfs', GiB), archive('shared', '/shared', '/dev/sdb3', 'vfat', 10 * MiB), archive('old', '/old', '/dev/sdb4', 'ext3', 100 * MiB));
  // A third disk: ext2 (dumpe2fs-ext2.txt's features) and an ESP-like FAT32.
  m.layout.disks.push(sourceDisk('sdc', 4 * GiB, { type: 'gpt', id: 'C0C0C0C0-0000-4000-8000-000000000001', lastLba: 8388574 }, [
    { start: 2048, size: 2097152, type: GPT.linux },
    { start: 2099200, size: 2097152, type: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' },
  ]));
  m.layout.filesystems.push(
    { device: '/dev/sdc1', type: 'ext2', uuid: '2e2e2e2e-1111-4222-8333-444444444444', label: 'legacy', mountpoint: '/legacy', features: ['ext_attr', 'resize_inode', 'dir_index', 'filetype', 'sparse_super', 'large_file'] },
    { device: '/dev/sdc2', type: 'vfat', uuid: 'FA7E-0032', label: 'FAT32VOL', mountpoint: '/fat32', features: ['FAT32'] },
  );
  m.archives.push(archive('legacy', '/legacy', '/dev/sdc1', 'ext2', 10 * MiB), archive('fat32', '/fat32', '/dev/sdc2', 'vfat', 10 * MiB));
  m.layout.swaps[0]!.label = 'swap0';

  const plan = planRestore({ manifest: m, targetDisks: [disk('/dev/vda', 60 * GiB), disk('/dev/vdb', 20 * GiB), disk('/dev/vdc', 4 * GiB)], policy: 'proportional', firmware: 'bios' });
  const typeOf = new Map<string, string>([...plan.filesystems.map((f) => [f.device, f.type] as const), ...plan.swaps.map((s) => [s.device, 'swap'] as const)]);
  const files = new Map<string, string>();
  for (const [device, type] of typeOf) {
    const file = join(w.dir, device.replaceAll('/', '_'));
    await writeFile(file, '', { mode: 0o600 });
    await truncate(file, FILE_BYTES[type]!);
    files.set(device, file);
  }
  const mkfs = renderPlan(plan).steps.filter((s): s is CommandStep => s.kind === 'command' && s.stage === 'mkfs' && s.command[0] !== 'mount' && s.command[0] !== 'umount' && s.command[0] !== 'btrfs' && s.command[0] !== 'mkdir');
  assert.deepEqual(mkfs.map((s) => s.command[0]), ['mkfs.ext4', 'mkfs.xfs', 'mkfs.ext4', 'mkfs.btrfs', 'mkfs.jfs', 'jfs_tune', 'mkfs.vfat', 'mkfs.ext3', 'mkfs.ext2', 'mkfs.vfat', 'mkswap']);
  for (const s of mkfs) {
    const argv = s.command.map((a) => files.get(a) ?? a);
    await sh(argv[0]!, argv.slice(1));
  }

  for (const fs of plan.filesystems) {
    const probed = await blkid(files.get(fs.device)!);
    assert.equal(probed.TYPE, fs.type, fs.device);
    assert.equal(probed.UUID, fs.uuid, `${fs.type} UUID`);
    assert.equal(probed.LABEL, fs.label, `${fs.type} label`);
  }
  for (const s of plan.swaps) {
    const probed = await blkid(files.get(s.device)!);
    assert.deepEqual([probed.TYPE, probed.UUID, probed.LABEL], ['swap', s.uuid, s.label]);
  }

  // vfat: the FAT type the source had (an ESP stays FAT32 whatever its size).
  assert.equal((await blkid(files.get('/dev/vdc2')!)).VERSION, 'FAT32');
  // ext: exactly the source's feature list, nothing mke2fs would add by default (orphan_file, metadata_csum_seed…).
  for (const fs of plan.filesystems.filter((f) => f.type.startsWith('ext'))) {
    const sb = parseDumpe2fs(await sh('dumpe2fs', ['-h', files.get(fs.device)!]));
    assert.deepEqual([...sb.features].sort(), [...fs.features!].sort(), `${fs.type} on ${fs.device}`);
  }
  // xfs: the superblock switches read back as xfs_info printed them on the source.
  const xfs = plan.filesystems.find((f) => f.type === 'xfs')!;
  const info = parseXfsInfo(await sh('xfs_db', ['-r', '-p', 'xfs_info', '-c', 'info', files.get(xfs.device)!]));
  assert.deepEqual(info.features, xfs.features);
});

test('an ext4 made without a feature list gets mke2fs defaults: the plan only pins features it knows', async (t) => {
  const w = await makeWorld(t, 'lb-mkfs');
  const m = debianVm();
  delete m.layout.filesystems[1]!.features;
  const plan = planRestore({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)], policy: 'proportional', firmware: 'uefi' });
  const step = renderPlan(plan).steps.find((s): s is CommandStep => s.kind === 'command' && s.command[0] === 'mkfs.ext4')!;
  assert.equal(step.command.includes('-O'), false);
  const file = join(w.dir, 'root.img');
  await writeFile(file, '');
  await truncate(file, 64 * MiB);
  await sh('mkfs.ext4', step.command.slice(1).map((a) => (a === '/dev/vda3' ? file : a)));
  assert.equal((await blkid(file)).UUID, '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13');
});
