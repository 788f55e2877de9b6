import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedRescueSystem, runInGuest } from '../guest-run.js';
import { sparseFile } from '../loop-devices.js';
import { INIT_DIR, grubEfiImage } from './boot.js';
import type { HostInputs } from './host.js';
import { MiB, partitionNumber, sfdiskScript } from './layout.js';
import { mkfsCommands } from './mkfs.js';
import type { FilesystemSpec, GuestImageSpec } from './spec.js';
import { put } from './staging.js';
import { tarTree } from './trees.js';

/**
 * Makes a fixture's disks in a QEMU guest, for what this host's kernel cannot make (md RAID,
 * device-mapper, vfat, JFS; several disks): the host stages every filesystem's tree as a tar, the
 * GRUB image and run.sh (helpers in init/build-lib.sh); a rescue system built with the full
 * kernel runs it with the blank disks attached: partition, mdadm --create,
 * pvcreate/vgcreate/lvcreate, mkfs with the spec's UUIDs and labels, btrfs subvolumes, extract,
 * GRUB, hash, and capture real tool outputs (mdadm, lvm, lsblk, blkid, btrfs, sfdisk) for the
 * layout parser tests.
 */

const BIOS_BOOT = '21686148-6449-6E6F-744E-656564454649';

/** The name of the tree mounted at `mountpoint`: its tar in the payload's trees/ is <name>.tar. */
function treeName(mountpoint: string): string {
  return mountpoint === '/' ? 'root' : mountpoint.slice(1).replaceAll('/', '-');
}

export interface GuestBuildOptions {
  host: HostInputs;
  cacheDir: string;
  rescueDir: string | undefined;
}

export async function buildInGuest(spec: GuestImageSpec, work: string, entry: string, stage: (mountpoint: string, dir: string) => Promise<void>, o: GuestBuildOptions): Promise<{ hashes: Record<string, string>; seconds: number; captures: string }> {
  const payload = join(work, 'payload');
  const staged = join(work, 'stage');
  await mkdir(join(payload, 'trees'), { recursive: true });
  await mkdir(join(payload, 'disks'), { recursive: true });
  for (const mountpoint of ['/', ...spec.trees.map((t) => t.mountpoint).filter((m) => m !== '/')]) {
    const dir = join(staged, treeName(mountpoint));
    await stage(mountpoint, dir);
    await tarTree(dir, join(payload, 'trees', `${treeName(mountpoint)}.tar`));
  }
  for (const d of spec.disks) await writeFile(join(payload, 'disks', `${d.device}.sfdisk`), sfdiskScript(spec.name, d));
  if (spec.firmware === 'uefi') {
    await mkdir(join(payload, 'grub'));
    await grubEfiImage(work, join(payload, 'grub', 'grubx64.efi'), spec.filesystems.find((f) => f.mountpoint === '/')!.uuid, spec.boot.grub.efiModules);
  }
  await copyFile(join(INIT_DIR, 'build-lib.sh'), join(payload, 'build-lib.sh'));
  await put(join(payload, 'run.sh'), buildScript(spec), 0o755);
  await rm(staged, { recursive: true, force: true });

  const disks: string[] = [];
  for (const d of spec.disks) disks.push(await sparseFile(join(work, `${d.device}.img`), d.sizeMiB * MiB));
  const rescueDir = o.rescueDir ?? (await cachedRescueSystem(o.cacheDir, o.host.kernelVersion));
  const run = await runInGuest({ rescueDir, payloadDir: payload, workDir: join(work, 'guest'), disks, timeoutMs: 1_800_000, name: `build-${spec.name}` });
  if (run.exitStatus !== 0 || !existsSync(join(run.outDir, 'done'))) {
    throw new Error(`fixture '${spec.name}': the build script in the guest failed (exit ${run.exitStatus})\n--- serial console (last 60 lines) ---\n${run.serialTail}`);
  }
  const hashes: Record<string, string> = {};
  for (const line of (await readFile(join(run.outDir, 'hashes.txt'), 'utf8')).split('\n').filter(Boolean)) {
    const [mp, sum] = line.split(' ');
    hashes[mp!] = sum!;
  }
  for (const d of spec.disks) await rename(join(work, `${d.device}.img`), join(entry, `${d.device}.img`));
  await rename(join(run.outDir, 'captures'), join(entry, 'captures'));
  await writeFile(join(entry, 'build.serial.log'), run.serial);
  return { hashes, seconds: run.seconds, captures: join(entry, 'captures') };
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function mkfsLines(f: FilesystemSpec): string[] {
  return mkfsCommands(f, f.device).map((c) => `${c.argv.join(' ')}${c.chatty ? ' >/dev/null' : ''}`);
}

function buildScript(s: GuestImageSpec): string {
  const L: string[] = [
    '#!/bin/sh',
    `# Builds the ${s.description} '${s.name}'; written by test/support/guest-image/in-guest.ts.`,
    'set -eu',
    '. ./build-lib.sh',
    'step "kernel modules"',
    'modprobe -a md_mod raid1 raid456 raid10 dm_mod ext4 xfs btrfs jfs vfat nls_cp437 nls_ascii',
    'mkdir -p /run/lvm /run/mdadm /run/lock/lvm',
  ];
  for (const d of s.disks) {
    L.push(`step "partition /dev/${d.device}"`, `sfdisk --quiet /dev/${d.device} < disks/${d.device}.sfdisk`);
    d.parts.forEach((p, i) => {
      if (p.kind !== 'extended') L.push(`wait_node /dev/${d.device}${partitionNumber(d, i)}`);
    });
  }
  for (const md of s.raid) {
    // --assume-clean: the members are fresh zeroed disks, so there is nothing to resync.
    L.push(`step "md ${md.device}"`,
      `mdadm --create ${md.device} --run --metadata=${md.metadata} --level=${md.level.replace('raid', '')} --raid-devices=${md.members.length}` +
        `${md.chunkKiB ? ` --chunk=${md.chunkKiB}` : ''}${md.layout ? ` --layout=${md.layout}` : ''} --name=${md.name} --uuid=${md.uuid} --assume-clean ${md.members.join(' ')}`);
  }
  if (s.lvm) {
    const v = s.lvm;
    L.push(`step "LVM ${v.vg}"`, ...v.pvs.map((pv) => `pvcreate --uuid ${pv.uuid} --norestorefile ${pv.device}`),
      `vgcreate -s ${v.extentMiB}M ${v.vg} ${v.pvs.map((pv) => pv.device).join(' ')}`);
    for (const lv of v.lvs) {
      const stripes = lv.stripes ? ` -i ${lv.stripes} -I ${lv.stripeKiB ?? 64}k` : '';
      L.push(`lvcreate -y -n ${lv.name} -L ${lv.sizeMiB}M${stripes} ${v.vg}${lv.on ? ` ${lv.on.join(' ')}` : ''}`);
    }
    L.push('vgmknodes');
  }
  const made = new Set<string>();
  for (const f of s.filesystems) {
    if (made.has(f.device)) continue;
    made.add(f.device);
    L.push(`step "mkfs ${f.type} on ${f.device}"`, ...mkfsLines(f));
  }
  if (s.btrfs) {
    const b = s.btrfs;
    L.push('step "btrfs subvolumes"', 'mkdir -p /mnt/btrfs-top', `mount -o subvolid=5 ${b.device} /mnt/btrfs-top`);
    for (const sv of b.subvolumes) L.push(`btrfs -q subvolume create /mnt/btrfs-top/${sv}`);
    L.push(`btrfs subvolume set-default /mnt/btrfs-top/${b.defaultSubvolume}`);
  }
  L.push('step "mount and fill the filesystems"');
  for (const f of s.filesystems) {
    if (f.type === 'swap') continue;
    const options = f.options.split(',').filter((x) => x !== 'defaults' && x !== 'errors=remount-ro').join(',');
    L.push(`mount_at ${f.device} ${f.mountpoint}${options ? ` ${q(options)}` : ''}`);
    if (s.trees.some((t) => t.mountpoint === f.mountpoint) || f.mountpoint === '/') {
      L.push(`${f.type === 'vfat' ? 'extract_fat' : 'extract'} ${treeName(f.mountpoint)}.tar ${f.mountpoint}`);
    }
  }
  if (s.firmware === 'uefi') {
    L.push('step "GRUB for UEFI on the ESP"', 'mkdir -p "$TARGET/boot/efi/EFI/BOOT" "$TARGET/boot/efi/EFI/debian"',
      'cp grub/grubx64.efi "$TARGET/boot/efi/EFI/BOOT/BOOTX64.EFI"', 'cp grub/grubx64.efi "$TARGET/boot/efi/EFI/debian/grubx64.efi"');
  } else {
    // Every disk that has a BIOS boot partition gets GRUB (the array's disks each boot alone); else the first disk's MBR gap.
    const grubDisks = s.disks.filter((d) => d.parts.some((p) => p.type === BIOS_BOOT)).map((d) => d.device);
    const modules = ['part_msdos', 'part_gpt', 'ext2', 'search_fs_uuid', ...s.boot.grub.pcModules].join(' ');
    L.push('step "GRUB for BIOS"');
    for (const d of grubDisks.length > 0 ? grubDisks : [s.disks[0]!.device]) {
      L.push(`grub-install --target=i386-pc --boot-directory="$TARGET/boot" --modules='${modules}' --locales= --fonts= --themes= /dev/${d}`);
    }
  }
  L.push('sync', 'step "hashes"', 'mount -t tmpfs -o mode=1777 tmpfs "$TARGET/tmp"');
  for (const group of s.hashes) L.push(`hash_mount ${group.join(' ')}`);
  L.push('umount "$TARGET/tmp"');

  L.push('step "capture tool outputs"',
    'capture lsblk.json lsblk -J -b -O',
    'capture blkid-export.txt blkid -c /dev/null -o export',
    'capture findmnt.json findmnt -J -b -o SOURCE,TARGET,FSTYPE,OPTIONS,FSROOT,UUID,LABEL,PARTUUID,SIZE,USED,AVAIL');
  for (const d of s.disks) L.push(`capture sfdisk-${d.device}.json sfdisk --json /dev/${d.device}`);
  for (const md of s.raid) {
    const n = md.device.split('/').pop()!;
    L.push(`capture mdadm-detail-${n}.txt mdadm --detail ${md.device}`, `capture mdadm-export-${n}.txt mdadm --detail --export ${md.device}`,
      `capture mdadm-examine-${md.members[0]!.split('/').pop()}.txt mdadm --examine ${md.members[0]}`, 'capture mdstat.txt cat /proc/mdstat');
  }
  if (s.lvm) {
    L.push('capture lvm-fullreport.json lvm fullreport --reportformat json --units b --nosuffix',
      'capture lvs-segments.json lvs -a --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_size,segtype,stripes,stripe_size,seg_start_pe,seg_size_pe,devices',
      `vgcfgbackup -f "$OUT/captures/vgcfgbackup-${s.lvm.vg}.txt" ${s.lvm.vg} >/dev/null`);
  }
  if (s.btrfs) {
    L.push('capture btrfs-subvolume-list-top.txt btrfs subvolume list -a -p /mnt/btrfs-top',
      'capture btrfs-get-default-top.txt btrfs subvolume get-default /mnt/btrfs-top',
      'capture btrfs-subvolume-list-srv.txt btrfs subvolume list -a -p "$TARGET/srv"',
      'umount /mnt/btrfs-top');
  }
  L.push('capture versions.txt sh -c \'mdadm --version 2>&1; lvm version; btrfs --version; sfdisk --version; uname -r\'');

  L.push('step "unmount and stop"');
  for (const f of [...s.filesystems].reverse()) if (f.type !== 'swap') L.push(`umount "$TARGET${f.mountpoint === '/' ? '' : f.mountpoint}"`);
  if (s.lvm) L.push(`vgchange -a n ${s.lvm.vg}`);
  for (const md of s.raid) L.push(`mdadm --stop ${md.device}`);
  L.push('sync', 'echo ok > "$OUT/done"', 'step done', '');
  return L.join('\n');
}
