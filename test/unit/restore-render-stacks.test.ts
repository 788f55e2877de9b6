import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRestore } from '../../images/restore/plan.js';
import { mdadmCreateCommand, renderPlan } from '../../images/restore/render-plan.js';
import { GiB, dataArray, disk, mbrRaidServer, raidLvmFixture, stripedVolumes } from '../support/restore-layouts.js';
import { commands } from '../support/unit-kit.js';
import { goldenEspRestore, goldenGptTable, goldenUefiBootloader } from '../support/golden-restore-script.js';

/** A logical volume of one linear segment on pv0, as vgcfgrestore reads it (no newline after its closing brace). */
function goldenLinearLv(lv: { name: string; id: string; extents: number; firstExtent: number }): string {
  return `		${lv.name} {
			id = "${lv.id}"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = ${lv.extents}

				type = "striped"
				stripe_count = 1

				stripes = [
					"pv0", ${lv.firstExtent}
				]
			}
		}`;
}

/** What --dry-run shows for the issue-5 fixture (RAID1, LVM on it, btrfs subvolumes, jfs, swap) onto two 20 GiB disks. */
const GOLDEN = `#!/bin/sh
# Lifeboat restore plan for image fixture, version 2024-05-01T10-00-00Z
# Sizing policy: proportional. Target firmware: uefi. The system is assembled under /mnt/lifeboat.
#
# Disks:
#   /dev/sda (10.0 GiB) -> /dev/vda (20.0 GiB)
#     /dev/vda1   256.0 MiB  vfat /boot/efi (fixed, same size)
#     /dev/vda2    12.0 GiB  RAID1 member of /dev/md0 → LVM fxvg: ext4 /, xfs /home (matched, grown from 6.00 GiB)
#     /dev/vda3    3.10 GiB  btrfs /srv (proportional, grown from 1.50 GiB)
#     /dev/vda4    2.07 GiB  jfs /data (proportional, grown from 1.00 GiB)
#     /dev/vda5    1.03 GiB  swap (proportional, grown from 512.0 MiB)
#   /dev/sdb (10.0 GiB) -> /dev/vdb (20.0 GiB)
#     /dev/vdb1    12.0 GiB  RAID1 member of /dev/md0 → LVM fxvg: ext4 /, xfs /home (proportional, grown from 6.00 GiB)
#
# md RAID:
#   /dev/md0 raid1, metadata 1.2, 12.0 GiB on /dev/vda2, /dev/vdb1, synced before the reboot: LVM fxvg: ext4 /, xfs /home
#
# LVM volume group fxvg on /dev/md0: 12.0 GiB (3069 extents of 4.00 MiB; 5.99 GiB on the source)
#     root           6.00 GiB  ext4 / (proportional, grown from 3.00 GiB)
#     home           4.00 GiB  xfs /home (proportional, grown from 2.00 GiB)

set -e

### wipe: forget what the target disks held
# Erase old partition table and filesystem signatures on /dev/vda
wipefs -a /dev/vda
# Erase old partition table and filesystem signatures on /dev/vdb
wipefs -a /dev/vdb

### partition: the source tables, sized for these disks
${goldenGptTable({ disk: '/dev/vda', partitions: 5, policy: 'proportional', labelId: 'F1F1F1F1-0000-4000-8000-00000000000A', lastLba: 41943006 })}

/dev/vda1 : start=2048, size=524288, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=F1F1F1F1-0001-4000-8000-00000000000A, name="esp"
/dev/vda2 : start=526336, size=25165824, type=A19D880F-05FC-4D3B-A006-743F0F84911E, uuid=F1F1F1F1-0002-4000-8000-00000000000A, name="raid-a"
/dev/vda3 : start=25692160, size=6500352, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=F1F1F1F1-0003-4000-8000-00000000000A, name="srv"
/dev/vda4 : start=32192512, size=4333568, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=F1F1F1F1-0004-4000-8000-00000000000A, name="data"
/dev/vda5 : start=36526080, size=2166784, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=F1F1F1F1-0005-4000-8000-00000000000A, name="swap"
EOF
${goldenGptTable({ disk: '/dev/vdb', partitions: 1, policy: 'proportional', labelId: 'F1F1F1F1-0000-4000-8000-00000000000B', lastLba: 41943006 })}

/dev/vdb1 : start=2048, size=25165824, type=A19D880F-05FC-4D3B-A006-743F0F84911E, uuid=F1F1F1F1-0001-4000-8000-00000000000B, name="raid-b"
EOF

### md: the RAID arrays, with their original UUIDs and names
# Create RAID1 /dev/md0 on /dev/vda2, /dev/vdb1 (UUID 5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b, name fixture:0)
mdadm --create /dev/md0 --run --metadata=1.2 --level=raid1 --raid-devices=2 --uuid=5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b --homehost=fixture --name=0 /dev/vda2 /dev/vdb1
# Erase signatures the disks' old contents leave visible inside /dev/md0
wipefs -a /dev/md0

### lvm: the volume groups and logical volumes, with their original UUIDs, sized for these disks
# Create /mnt/lifeboat.work/lvm for the volume group metadata
mkdir -p /mnt/lifeboat.work/lvm
# Write the metadata of volume group fxvg (3069 extents of 4.00 MiB) to /mnt/lifeboat.work/lvm/fxvg.vg
tee /mnt/lifeboat.work/lvm/fxvg.vg <<'EOF'
# Written by Lifeboat: volume group fxvg sized for this machine's disks, for vgcfgrestore.
contents = "Text Format Volume Group"
version = 1

description = "lifeboat restore of fixture@2024-05-01T10-00-00Z"

creation_host = "lifeboat"
creation_time = 0

fxvg {
	id = "vgFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02"
	seqno = 1
	format = "lvm2"
	status = ["RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = 8192
	max_lv = 0
	max_pv = 0
	metadata_copies = 0

	physical_volumes {

		pv0 {
			id = "pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01"
			device = "/dev/md0"

			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 25147392
			pe_start = 2048
			pe_count = 3069
		}
	}

	logical_volumes {

${goldenLinearLv({ name: 'root', id: 'lvRoot-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', extents: 1536, firstExtent: 0 })}

${goldenLinearLv({ name: 'home', id: 'lvHome-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF04', extents: 1024, firstExtent: 1536 })}
	}
}
EOF
# Make /dev/md0 the LVM PV pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01 of fxvg
pvcreate -ff -y --uuid pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01 --restorefile /mnt/lifeboat.work/lvm/fxvg.vg /dev/md0
# Restore volume group fxvg (UUID vgFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02) with its logical volumes
vgcfgrestore -f /mnt/lifeboat.work/lvm/fxvg.vg fxvg
# Activate volume group fxvg
vgchange -ay --sysinit fxvg
# Make the device nodes of fxvg's logical volumes
vgmknodes fxvg

### mkfs: filesystems and swap with their original UUIDs and labels
# Make xfs for /home on /dev/mapper/fxvg-home, UUID 0a0a0a0a-1111-4222-8333-444444444402, label home
mkfs.xfs -f -m uuid=0a0a0a0a-1111-4222-8333-444444444402,crc=1,finobt=1,rmapbt=0,reflink=1,bigtime=1,inobtcount=1 -i sparse=1,nrext64=0,attr=2,projid32bit=1 -n ftype=1 -l lazy-count=1 -L home /dev/mapper/fxvg-home
# Make ext4 for / on /dev/mapper/fxvg-root, UUID 0a0a0a0a-1111-4222-8333-444444444401, label root
mkfs.ext4 -F -U 0a0a0a0a-1111-4222-8333-444444444401 -L root -O none,has_journal,ext_attr,resize_inode,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,dir_nlink,extra_isize,metadata_csum /dev/mapper/fxvg-root
# Make vfat for /boot/efi on /dev/vda1, UUID FA7E-0001, label ESP
mkfs.vfat -F 32 -i FA7E0001 -n ESP /dev/vda1
# Make btrfs for /srv on /dev/vda3, UUID 0a0a0a0a-1111-4222-8333-444444444403, label srv
mkfs.btrfs -f -U 0a0a0a0a-1111-4222-8333-444444444403 -L srv /dev/vda3
# Create /mnt/lifeboat to mount the btrfs volume's top on
mkdir -p /mnt/lifeboat
# Mount the top of the btrfs volume on /dev/vda3 to create its subvolumes
mount -t btrfs -o subvolid=5 /dev/vda3 /mnt/lifeboat
# Create btrfs subvolume @srv
btrfs subvolume create /mnt/lifeboat/@srv
# Create btrfs subvolume @logs
btrfs subvolume create /mnt/lifeboat/@logs
# Make @srv the default subvolume, as on the source
btrfs subvolume set-default /mnt/lifeboat/@srv
# Unmount the btrfs volume on /dev/vda3
umount /mnt/lifeboat
# Make jfs for /data on /dev/vda4, UUID 0a0a0a0a-1111-4222-8333-444444444404, label data
mkfs.jfs -q -L data /dev/vda4
# Give the jfs filesystem on /dev/vda4 its UUID 0a0a0a0a-1111-4222-8333-444444444404
jfs_tune -U 0a0a0a0a-1111-4222-8333-444444444404 /dev/vda4
# Make swap on /dev/vda5, UUID 0a0a0a0a-1111-4222-8333-444444444405, label swap
mkswap -U 0a0a0a0a-1111-4222-8333-444444444405 -L swap /dev/vda5

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat
mkdir -p /mnt/lifeboat
# Mount /dev/mapper/fxvg-root (ext4) as / of the restored system
mount -t ext4 /dev/mapper/fxvg-root /mnt/lifeboat

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "root" (/, 1.17 GiB used, 1 volume) into /mnt/lifeboat

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat/data
mkdir -p /mnt/lifeboat/data
# Mount /dev/vda4 (jfs) as /data of the restored system
mount -t jfs /dev/vda4 /mnt/lifeboat/data

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "data" (/data, 100.0 MiB used, 1 volume) into /mnt/lifeboat/data

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat/home
mkdir -p /mnt/lifeboat/home
# Mount /dev/mapper/fxvg-home (xfs) as /home of the restored system
mount -t xfs /dev/mapper/fxvg-home /mnt/lifeboat/home

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "home" (/home, 300.0 MiB used, 1 volume) into /mnt/lifeboat/home

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat/srv
mkdir -p /mnt/lifeboat/srv
# Mount /dev/vda3 (btrfs) as /srv of the restored system
mount -t btrfs -o subvol=@srv /dev/vda3 /mnt/lifeboat/srv

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "srv" (/srv, 200.0 MiB used, 1 volume) into /mnt/lifeboat/srv

${goldenEspRestore({ device: '/dev/vda1', used: '5.00 MiB' })}

### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat.work/btrfs/vda3
mkdir -p /mnt/lifeboat.work/btrfs/vda3
# Mount the top of the btrfs volume /dev/vda3 beside the restored system, for the subvolumes the source mounted nowhere
mount -t btrfs -o subvolid=5 /dev/vda3 /mnt/lifeboat.work/btrfs/vda3

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "srv@logs" (btrfs subvolume @logs, 200.0 MiB used, 1 volume) into /mnt/lifeboat.work/btrfs/vda3/@logs

${goldenUefiBootloader({ disk: '/dev/vda', partition: 1, loader: 'grubx64.efi' })}
# Unmount /mnt/lifeboat.work/btrfs/vda3
umount /mnt/lifeboat.work/btrfs/vda3
# Unmount /mnt/lifeboat/boot/efi
umount /mnt/lifeboat/boot/efi
# Unmount /mnt/lifeboat/srv
umount /mnt/lifeboat/srv
# Unmount /mnt/lifeboat/home
umount /mnt/lifeboat/home
# Unmount /mnt/lifeboat/data
umount /mnt/lifeboat/data
# Unmount /mnt/lifeboat
umount /mnt/lifeboat
# Wait for the initial sync of /dev/md0 (12.0 GiB) to finish, so the restored system boots with a clean array
mdadm --wait /dev/md0 || [ $? -eq 1 ]
# Deactivate volume group fxvg
vgchange -an fxvg
# Stop /dev/md0, so its superblocks are marked clean before the reboot
mdadm --stop /dev/md0
`;

test('the rendered script for the RAID1 + LVM fixture is exactly the expected text', () => {
  const plan = planRestore({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], policy: 'proportional', firmware: 'uefi' });
  assert.equal(renderPlan(plan).script, GOLDEN);
});

test('stages come in stack order: arrays after the tables, volume groups after the arrays, mkfs after both', () => {
  const { steps } = renderPlan(planRestore({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], policy: 'proportional', firmware: 'uefi' }));
  assert.deepEqual([...new Set(steps.map((s) => s.stage))], ['wipe', 'partition', 'md', 'lvm', 'mkfs', 'mount', 'restore', 'bootloader', 'unmount']);
  const byCommand = (first: string, second?: string) => commands(steps).filter((s) => s.command[0] === first && (second === undefined || s.command[1] === second));
  // The executor waits for what udev would have made.
  assert.deepEqual(byCommand('mdadm', '--create').map((s) => s.waitFor), [['/dev/md0']]);
  assert.deepEqual(byCommand('vgmknodes').map((s) => s.waitFor), [['/dev/mapper/fxvg-root', '/dev/mapper/fxvg-home']]);
  // Teardown: filesystems, then the sync wait (1 means there was nothing to wait for), the VG, the array.
  const tail = commands(steps).filter((s) => s.stage === 'unmount').slice(-3);
  assert.deepEqual(tail.map((s) => [s.command.join(' '), s.okExitCodes]), [
    ['mdadm --wait /dev/md0', [0, 1]],
    ['vgchange -an fxvg', undefined],
    ['mdadm --stop /dev/md0', undefined],
  ]);
  // The metadata file is written before pvcreate reads it, and the PV keeps its UUID.
  const lvm = commands(steps).filter((s) => s.stage === 'lvm').map((s) => s.command.join(' '));
  assert.deepEqual(lvm, [
    'mkdir -p /mnt/lifeboat.work/lvm',
    'tee /mnt/lifeboat.work/lvm/fxvg.vg',
    'pvcreate -ff -y --uuid pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01 --restorefile /mnt/lifeboat.work/lvm/fxvg.vg /dev/md0',
    'vgcfgrestore -f /mnt/lifeboat.work/lvm/fxvg.vg fxvg',
    'vgchange -ay --sysinit fxvg',
    'vgmknodes fxvg',
  ]);
});

test('mdadm --create: level, chunk in KiB, the create syntax of the raid10 layout, spares, name and homehost; --force for one device', () => {
  const raid10 = planRestore({ manifest: dataArray('raid10', 4, 'near=2'), targetDisks: [disk('/dev/vda', 40 * GiB), ...['b', 'c', 'd', 'e'].map((l) => disk(`/dev/vd${l}`, 20 * GiB))], policy: 'proportional', firmware: 'uefi' });
  assert.deepEqual(mdadmCreateCommand(raid10.md[0]!), [
    'mdadm', '--create', '/dev/md0', '--run', '--metadata=1.2', '--level=raid10', '--raid-devices=4', '--chunk=512', '--layout=n2',
    '--uuid=abcdef01:23456789:abcdef01:23456789', '--homehost=debian-vm', '--name=srv', '/dev/vdb1', '/dev/vdc1', '/dev/vdd1', '/dev/vde1',
  ]);

  const spare = dataArray('raid5', 4, 'left-symmetric');
  spare.layout.md[0]!.members[3]!.slot = -1;
  spare.layout.md[0]!.raidDevices = 3;
  const withSpare = planRestore({ manifest: spare, targetDisks: [disk('/dev/vda', 40 * GiB), ...['b', 'c', 'd', 'e'].map((l) => disk(`/dev/vd${l}`, 20 * GiB))], policy: 'proportional', firmware: 'uefi' });
  assert.deepEqual(mdadmCreateCommand(withSpare.md[0]!).slice(4, 9), ['--metadata=1.2', '--level=raid5', '--raid-devices=3', '--spare-devices=1', '--chunk=512']);
  assert.deepEqual(mdadmCreateCommand(withSpare.md[0]!).slice(-4), ['/dev/vdb1', '/dev/vdc1', '/dev/vdd1', '/dev/vde1']);

  const single = planRestore({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 12 * GiB)], policy: 'proportional', firmware: 'uefi', edits: { dropDisks: ['/dev/sdb'] } });
  assert.deepEqual(mdadmCreateCommand(single.md[0]!), [
    'mdadm', '--create', '/dev/md0', '--run', '--metadata=1.2', '--level=raid1', '--raid-devices=1', '--uuid=5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b', '--homehost=fixture', '--name=0', '--force', '/dev/vda2',
  ]);
  // Nothing to sync on one device: no wait step.
  assert.equal(commands(renderPlan(single).steps).some((s) => s.command.join(' ') === 'mdadm --wait /dev/md0'), false);

  const hostless = raidLvmFixture();
  hostless.layout.md[0]!.name = 'mirror';
  const bare = planRestore({ manifest: hostless, targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], policy: 'proportional', firmware: 'uefi' });
  assert.deepEqual(mdadmCreateCommand(bare.md[0]!).filter((a) => /^--(home)?host|^--name/.test(a)), ['--homehost=<none>', '--name=mirror'], 'a name without host: is stored as it was');

  const old = raidLvmFixture();
  old.layout.md[0]!.metadata = '0.90';
  const v090 = planRestore({ manifest: old, targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], policy: 'proportional', firmware: 'uefi' });
  assert.equal(mdadmCreateCommand(v090.md[0]!).some((a) => a.startsWith('--name') || a.startsWith('--homehost')), false, '0.90 superblocks have no name');
});

test('BIOS RAID /boot: GRUB goes into every member disk, each with the rescue system GRUB as fallback', () => {
  const plan = planRestore({ manifest: mbrRaidServer(), targetDisks: [disk('/dev/vda', 30 * GiB), disk('/dev/vdb', 30 * GiB)], policy: 'proportional', firmware: 'bios' });
  const grub = commands(renderPlan(plan).steps).filter((s) => s.command.includes('grub-install'));
  assert.deepEqual(grub.map((s) => s.command.join(' ')), ['chroot /mnt/lifeboat grub-install --target=i386-pc /dev/vda', 'chroot /mnt/lifeboat grub-install --target=i386-pc /dev/vdb']);
  assert.deepEqual(grub.map((s) => s.fallback?.command.at(-1)), ['/dev/vda', '/dev/vdb']);
  // Two arrays stopped in reverse order of creation, after the VG on the second is deactivated.
  const tail = commands(renderPlan(plan).steps).filter((s) => s.stage === 'unmount' && s.command[0] !== 'umount').map((s) => s.command.join(' '));
  assert.deepEqual(tail, ['mdadm --wait /dev/md0', 'mdadm --wait /dev/md1', 'vgchange -an vg0', 'mdadm --stop /dev/md1', 'mdadm --stop /dev/md0']);
});

test('striped LV metadata: stripe_count, stripe_size in sectors and one PV per stripe', () => {
  const plan = planRestore({ manifest: stripedVolumes(), targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 20 * GiB), disk('/dev/vdc', 20 * GiB)], policy: 'proportional', firmware: 'uefi' });
  const text = commands(renderPlan(plan).steps).find((s) => s.command[0] === 'tee')!.input!;
  const db = plan.lvm.lvs.find((l) => l.name === 'db')!;
  assert.ok(text.includes(`\t\t\t\textent_count = ${db.extents}\n\n\t\t\t\ttype = "striped"\n\t\t\t\tstripe_count = 2\n\t\t\t\tstripe_size = 128\n\n\t\t\t\tstripes = [\n\t\t\t\t\t"pv0", 0,\n\t\t\t\t\t"pv1", 0\n`), text);
  assert.match(text, /pv0 \{\n\t\t\tid = "pvDat1-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01"\n\t\t\tdevice = "\/dev\/vdb1"/);
  assert.match(text, /\tid = "vgDat0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03"\n\tseqno = 1\n\tformat = "lvm2"/);
});
