import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRestore } from '../../images/restore/plan.js';
import { renderPlan, renderSfdiskScript } from '../../images/restore/render-plan.js';
import { GPT, GiB, MiB, archive, debianVm, disk, mbrServer } from '../support/restore-layouts.js';
import { argv, commands, sourceDisk } from '../support/unit-kit.js';
import { goldenEspRestore, goldenGptTable, goldenUefiBootloader } from '../support/golden-restore-script.js';

/** What --dry-run shows for the Debian VM onto a 40 GiB disk, with a second disk left alone. */
const GOLDEN = `#!/bin/sh
# Lifeboat restore plan for image debian-vm, version 2024-05-01T10-00-00Z
# Sizing policy: proportional. Target firmware: uefi. The system is assembled under /mnt/lifeboat.
#
# Disks:
#   /dev/sda (20.0 GiB) -> /dev/vda (40.0 GiB, QEMU HARDDISK, serial QM00005)
#     /dev/vda1    1.00 MiB  GRUB core image (fixed, same size)
#     /dev/vda2   512.0 MiB  vfat /boot/efi (fixed, same size)
#     /dev/vda3    36.5 GiB  ext4 / (proportional, grown from 18.0 GiB)
#     /dev/vda4    3.03 GiB  swap (proportional, grown from 1.50 GiB)
#   /dev/vdb (8.00 GiB): left untouched (no source disk maps to it; it is not read or written)

set -e

### wipe: forget what the target disks held
# Erase old partition table and filesystem signatures on /dev/vda
wipefs -a /dev/vda

### partition: the source tables, sized for these disks
${goldenGptTable({ disk: '/dev/vda', partitions: 4, policy: 'proportional', labelId: '6F1C3A52-8B1E-4D2B-9C55-0E3B1D7A4F10', lastLba: 83886046 })}

/dev/vda1 : start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, uuid=0B5E2D1A-1111-4A8B-9C3D-5E6F7A8B9C01, name="bios_grub"
/dev/vda2 : start=4096, size=1048576, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=0B5E2D1A-2222-4A8B-9C3D-5E6F7A8B9C02, name="EFI System"
/dev/vda3 : start=1052672, size=76466176, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=0B5E2D1A-3333-4A8B-9C3D-5E6F7A8B9C03, name="root", attrs="LegacyBIOSBootable"
/dev/vda4 : start=77518848, size=6359040, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=0B5E2D1A-4444-4A8B-9C3D-5E6F7A8B9C04, name="swap"
EOF

### mkfs: filesystems and swap with their original UUIDs and labels
# Make vfat for /boot/efi on /dev/vda2, UUID 1A2B-3C4D, label ESP
mkfs.vfat -i 1A2B3C4D -n ESP /dev/vda2
# Make ext4 for / on /dev/vda3, UUID 3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13, label rootfs
mkfs.ext4 -F -U 3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13 -L rootfs -O none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum /dev/vda3
# Make swap on /dev/vda4, UUID 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
mkswap -U 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d /dev/vda4

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat
mkdir -p /mnt/lifeboat
# Mount /dev/vda3 (ext4) as / of the restored system
mount -t ext4 /dev/vda3 /mnt/lifeboat

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "root" (/, 4.00 GiB used, 1 volume) into /mnt/lifeboat

${goldenEspRestore({ device: '/dev/vda2', used: '6.00 MiB' })}

${goldenUefiBootloader({ disk: '/dev/vda', partition: 2, loader: 'shimx64.efi' })}
# Unmount /mnt/lifeboat/boot/efi
umount /mnt/lifeboat/boot/efi
# Unmount /mnt/lifeboat
umount /mnt/lifeboat
`;

test('the rendered script for a known plan is exactly the expected text', () => {
  const plan = planRestore({
    manifest: debianVm(),
    targetDisks: [disk('/dev/vdb', 8 * GiB), disk('/dev/vda', 40 * GiB, { model: 'QEMU HARDDISK', serial: 'QM00005' })],
    policy: 'proportional',
    firmware: 'uefi',
  });
  assert.equal(renderPlan(plan).script, GOLDEN);
});

test('steps come in stage order; the script shows every command step with its exact command line', () => {
  const plan = planRestore({ manifest: mbrServer(), targetDisks: [disk('/dev/sdb', 60 * GiB)], policy: 'grow-last', firmware: 'bios' });
  const { steps, script } = renderPlan(plan);
  const order = ['wipe', 'partition', 'mkfs', 'mount', 'restore', 'bootloader', 'unmount'];
  const seen = [...new Set(steps.map((s) => s.stage))];
  assert.deepEqual(seen, order);
  for (const s of commands(steps)) {
    assert.ok(script.includes(`# ${s.description}\n`), s.description);
    assert.ok(s.command.every((a) => script.includes(a)), s.command.join(' '));
  }
  assert.deepEqual(steps.filter((s) => s.kind === 'extract').map((s) => s.kind === 'extract' && [s.archiveId, s.directory, s.device, s.fstype]), [
    ['root', '/mnt/lifeboat', '/dev/sdb2', 'xfs'], ['boot', '/mnt/lifeboat/boot', '/dev/sdb1', 'ext4'], ['home', '/mnt/lifeboat/home', '/dev/sdb5', 'ext4'],
  ]);
});

test('the MBR sfdisk script: label-id, extended type 5, logical partitions numbered from 5, the bootable flag', () => {
  const plan = planRestore({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 100 * GiB)], policy: 'grow-last', firmware: 'bios' });
  const [sfdisk] = commands(renderPlan(plan).steps).filter((s) => s.stage === 'partition');
  assert.deepEqual(sfdisk!.command, ['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', '/dev/vda']);
  assert.equal(sfdisk!.input, [
    'label: dos',
    'label-id: 0x5eed1234',
    'unit: sectors',
    '',
    '/dev/vda1 : start=2048, size=1048576, type=83, bootable',
    '/dev/vda2 : start=1050624, size=31457280, type=83',
    '/dev/vda3 : start=32507904, size=177207296, type=5',
    '/dev/vda5 : start=32509952, size=168814592, type=83',
    '/dev/vda6 : start=201326592, size=8388608, type=82',
    '',
  ].join('\n'));
});

test('partition names and attributes are quoted the way sfdisk dumps them: " and \\ as \\xHH', () => {
  const script = renderSfdiskScript({
    type: 'gpt', id: 'A3C1E5F7-2B4D-4F6A-8C0E-1D3F5A7B9C2E', sectorSize: 512, firstLba: 34, lastLba: 204766,
    partitions: [{
      number: 1, source: '/dev/sdb1', device: '/dev/vdb1', start: 2048, size: 2048, bytes: MiB, sourceBytes: MiB, sizing: 'fixed', role: 'empty', holds: 'nothing restored',
      type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'say "hi" \\ bye',
    }],
  });
  assert.match(script, /name="say \\x22hi\\x22 \\x5c bye"/);
});

test('mkfs command lines: original type, UUID and label; ext features after "none"; xfs switches in their sections', () => {
  const plan = planRestore({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 60 * GiB)], policy: 'proportional', firmware: 'bios' });
  const { steps } = renderPlan(plan);
  assert.deepEqual(argv(steps, 'mkfs.xfs'), [[
    'mkfs.xfs', '-f',
    '-m', 'uuid=b7e1c2d4-3a5f-4e6b-8c9d-0a1b2c3d4e5f,crc=1,finobt=1,rmapbt=0,reflink=1,bigtime=1,inobtcount=1',
    '-i', 'sparse=1,nrext64=0,attr=2,projid32bit=1',
    '-n', 'ftype=1',
    '-l', 'lazy-count=1',
    '-L', 'root', '/dev/vda2',
  ]]);
  assert.deepEqual(argv(steps, 'mkfs.ext4')[0], [
    'mkfs.ext4', '-F', '-U', 'c0ffee00-1111-4222-8333-444455556666', '-L', 'boot',
    '-O', 'none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum',
    '/dev/vda1',
  ]);
  assert.deepEqual(argv(steps, 'mkswap'), [['mkswap', '-U', '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d', '/dev/vda6']]);
});

test('vfat volume ids lose their dash, jfs gets its UUID from jfs_tune, btrfs subvolumes are made on the volume top', () => {
  const m = debianVm();
  m.layout.disks.push(sourceDisk('sdb', 10 * GiB, { type: 'gpt', id: '11111111-2222-4333-8444-555555555555', lastLba: 20971486 }, [
    { start: 2048, size: 4194304, type: GPT.linux },
    { start: 4196352, size: 4194304, type: GPT.linux },
  ]));
  m.layout.filesystems.push(
    { device: '/dev/sdb1', type: 'jfs', uuid: '5e1f0000-aaaa-4bbb-8ccc-dddddddddddd', label: 'media', mountpoint: '/media' },
    {
      device: '/dev/sdb2', type: 'btrfs', uuid: '6b7c8d9e-0000-4111-8222-333333333333', label: 'vault', mountpoint: '/vault',
      subvolumes: [{ id: 256, path: '@vault', isDefault: true }, { id: 257, path: '@vault/cache' }],
      mounts: [{ mountpoint: '/vault', options: 'rw,compress=zstd:1,subvol=/@vault', subvolume: '@vault' }],
    },
  );
  m.archives.push(archive('media', '/media', '/dev/sdb1', 'jfs', GiB), archive('vault', '/vault', '/dev/sdb2', 'btrfs', GiB));
  const plan = planRestore({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 10 * GiB)], policy: 'proportional', firmware: 'uefi' });
  const { steps } = renderPlan(plan);
  assert.deepEqual(argv(steps, 'mkfs.vfat'), [['mkfs.vfat', '-i', '1A2B3C4D', '-n', 'ESP', '/dev/vda2']]);
  assert.deepEqual(argv(steps, 'mkfs.jfs'), [['mkfs.jfs', '-q', '-L', 'media', '/dev/vdb1']]);
  assert.deepEqual(argv(steps, 'jfs_tune'), [['jfs_tune', '-U', '5e1f0000-aaaa-4bbb-8ccc-dddddddddddd', '/dev/vdb1']]);
  const mkfs = commands(steps).filter((s) => s.stage === 'mkfs').map((s) => s.command.join(' '));
  const from = mkfs.indexOf('mkfs.btrfs -f -U 6b7c8d9e-0000-4111-8222-333333333333 -L vault /dev/vdb2');
  assert.ok(from >= 0, mkfs.join('\n'));
  assert.deepEqual(mkfs.slice(from + 1, from + 7), [
    'mkdir -p /mnt/lifeboat',
    'mount -t btrfs -o subvolid=5 /dev/vdb2 /mnt/lifeboat',
    'btrfs subvolume create /mnt/lifeboat/@vault',
    'btrfs subvolume create /mnt/lifeboat/@vault/cache',
    'btrfs subvolume set-default /mnt/lifeboat/@vault',
    'umount /mnt/lifeboat',
  ]);
  const mounts = commands(steps).filter((s) => s.command[0] === 'mount' && s.stage === 'mount').map((s) => s.command.join(' '));
  assert.deepEqual(mounts, [
    'mount -t ext4 /dev/vda3 /mnt/lifeboat',
    'mount -t jfs /dev/vdb1 /mnt/lifeboat/media',
    'mount -t btrfs -o subvol=@vault,compress=zstd:1 /dev/vdb2 /mnt/lifeboat/vault',
    'mount -t vfat /dev/vda2 /mnt/lifeboat/boot/efi',
  ]);
});

test('UEFI bootloader steps: GRUB into the vendor directory and the fallback path, then the boot entry with a backslash loader path', () => {
  const plan = planRestore({ manifest: debianVm(), targetDisks: [disk('/dev/nvme0n1', 40 * GiB)], policy: 'grow-last', firmware: 'uefi' });
  const boot = commands(renderPlan(plan).steps).filter((s) => s.stage === 'bootloader').map((s) => s.command);
  assert.deepEqual(boot, [
    ['mkdir', '-p', '/mnt/lifeboat/dev', '/mnt/lifeboat/proc', '/mnt/lifeboat/sys'],
    ['mount', '--bind', '/dev', '/mnt/lifeboat/dev'],
    ['mount', '-t', 'proc', 'proc', '/mnt/lifeboat/proc'],
    ['mount', '-t', 'sysfs', 'sysfs', '/mnt/lifeboat/sys'],
    ['chroot', '/mnt/lifeboat', 'grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--bootloader-id=debian', '--no-nvram'],
    ['chroot', '/mnt/lifeboat', 'grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--removable', '--no-nvram'],
    ['sh', '-s', 'debian', '/dev/nvme0n1', '2', '\\EFI\\debian\\shimx64.efi'],
  ]);
});

test('BIOS bootloader step: grub-install --target=i386-pc on the mapped boot disk, inside the restored system', () => {
  const plan = planRestore({ manifest: mbrServer(), targetDisks: [disk('/dev/sda', 60 * GiB)], policy: 'grow-last', firmware: 'bios' });
  const { steps } = renderPlan(plan);
  assert.deepEqual(argv(steps, 'chroot'), [['chroot', '/mnt/lifeboat', 'grub-install', '--target=i386-pc', '/dev/sda']]);
  // A restored system without grub-install gets the rescue system's, writing into its /boot.
  assert.deepEqual(commands(steps).find((s) => s.command[0] === 'chroot')!.fallback, {
    whenMissing: '/mnt/lifeboat/usr/sbin/grub-install',
    description: "the restored system has no grub-install: the rescue system's GRUB writes the boot sector of /dev/sda and /mnt/lifeboat/boot/grub",
    command: ['grub-install', '--target=i386-pc', '--boot-directory=/mnt/lifeboat/boot', '/dev/sda'],
  });
  assert.deepEqual(commands(steps).filter((s) => s.stage === 'unmount').map((s) => s.command.join(' ')), [
    'umount /mnt/lifeboat/sys', 'umount /mnt/lifeboat/proc', 'umount /mnt/lifeboat/dev',
    'umount /mnt/lifeboat/home', 'umount /mnt/lifeboat/boot', 'umount /mnt/lifeboat',
  ]);
});

test('an image with no known bootloader renders no bootloader step and says so', () => {
  const m = debianVm();
  m.layout.bootloader = { firmware: 'unknown', kind: 'unknown' };
  const plan = planRestore({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)], policy: 'grow-last', firmware: 'uefi' });
  const { steps, script } = renderPlan(plan);
  assert.equal(steps.some((s) => s.stage === 'bootloader'), false);
  assert.match(script, /# No bootloader is installed: the image records no known bootloader\./);
  assert.match(script, /the restored disk may not boot/);
});
