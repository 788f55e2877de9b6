/**
 * The parts of restore-plan.sh that the golden scripts of test/unit/restore-render.test.ts and
 * restore-render-stacks.test.ts both show, written out once. Each returns its lines without a newline
 * after the last, so that a golden script gives each call a line of its own.
 */

/** The partition stage's sfdisk call for a GPT disk, up to the blank line before the partitions. */
export function goldenGptTable(t: { disk: string; partitions: number; policy: string; labelId: string; lastLba: number }): string {
  return `# Write a GPT table with ${t.partitions} partitions on ${t.disk} (${t.policy})
sfdisk --wipe always --wipe-partitions always ${t.disk} <<'EOF'
label: gpt
label-id: ${t.labelId}
unit: sectors
first-lba: 34
last-lba: ${t.lastLba}`;
}

/** The ESP's mount and the extraction of its archive, for a UEFI restore. */
export function goldenEspRestore(esp: { device: string; used: string }): string {
  const { device, used } = esp;
  return `### mount: the restored system, parents first, each just before its archive
# Create the mount point /mnt/lifeboat/boot/efi
mkdir -p /mnt/lifeboat/boot/efi
# Mount ${device} (vfat) as /boot/efi of the restored system
mount -t vfat ${device} /mnt/lifeboat/boot/efi

### restore: the archives, extracted by the rescue agent (verified volumes, GNU tar with xattrs and ACLs)
# Extract archive "boot-efi" (/boot/efi, ${used} used, 1 volume) into /mnt/lifeboat/boot/efi`;
}

/**
 * The end of restore-plan.sh for a UEFI restore with GRUB: the bootloader stage (the chroot's /dev,
 * /proc and /sys, GRUB at the ESP's own and the fallback path, the firmware boot entry placed after
 * the network entry) and the start of the unmount stage that releases the chroot's mounts. The two
 * golden scripts differ here only in the ESP and the loader GRUB leaves on it.
 */
export function goldenUefiBootloader(esp: { disk: string; partition: number; loader: string }): string {
  const { disk, partition, loader } = esp;
  return `### bootloader
# Make sure the restored system has /dev, /proc and /sys to mount on
mkdir -p /mnt/lifeboat/dev /mnt/lifeboat/proc /mnt/lifeboat/sys
# Give the restored system /dev for the bootloader installer
mount --bind /dev /mnt/lifeboat/dev
# Give the restored system /proc
mount -t proc proc /mnt/lifeboat/proc
# Give the restored system /sys
mount -t sysfs sysfs /mnt/lifeboat/sys
# Install GRUB (UEFI) on the ESP ${disk}${partition} as EFI/debian
if [ -e /mnt/lifeboat/usr/sbin/grub-install ]; then
  chroot /mnt/lifeboat grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --no-nvram
else  # the restored system has no grub-install: the ESP restored from the image must already hold EFI/debian/${loader}
  test -f /mnt/lifeboat/boot/efi/EFI/debian/${loader}
fi
# Install GRUB at the firmware's fallback path EFI/BOOT/BOOTX64.EFI too, so the disk boots with no boot entry
if [ -e /mnt/lifeboat/usr/sbin/grub-install ]; then
  chroot /mnt/lifeboat grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram
else  # the restored system has no grub-install: copy EFI/debian/${loader} to the fallback path EFI/BOOT/BOOTX64.EFI unless the image already has one there
  sh -c '[ -e "$2" ] || install -D -m 0644 "$1" "$2"' sh /mnt/lifeboat/boot/efi/EFI/debian/${loader} /mnt/lifeboat/boot/efi/EFI/BOOT/BOOTX64.EFI
fi
# Add the firmware boot entry "debian" for EFI/debian/${loader} on ${disk} partition ${partition}, after the network entry, and boot it next
sh -s debian ${disk} ${partition} '\\EFI\\debian\\${loader}' <<'EOF'
set -eu
label=$1 disk=$2 part=$3 loader=$4
entries() { efibootmgr | sed -n 's/^Boot\\([0-9A-Fa-f]\\{4\\}\\)\\*\\{0,1\\} \\(.*\\)$/\\1 \\2/p' | sed 's/\t.*//'; }
entries | while read -r n l; do if [ "$l" = "$label" ]; then efibootmgr -q -b "$n" -B; fi; done
before=$(entries | cut -d" " -f1)
efibootmgr -q --create-only --disk "$disk" --part "$part" --label "$label" --loader "$loader"
new=$(entries | cut -d" " -f1 | grep -vxF "$before" | head -n 1 || true)
[ -n "$new" ] || { echo "efibootmgr made no new boot entry for $label" >&2; exit 1; }
order=$(efibootmgr | sed -n 's/^BootOrder: //p')
current=$(efibootmgr | sed -n 's/^BootCurrent: //p')
out= placed=
for n in $(echo "$order" | tr , " "); do
  [ "$n" = "$new" ] && continue
  out=\${out:+$out,}$n
  if [ "$n" = "$current" ]; then out=$out,$new; placed=1; fi
done
[ -n "$placed" ] || out=\${out:+$out,}$new
efibootmgr -q --bootorder "$out"
efibootmgr -q --bootnext "$new"
echo "boot entry $new ($label) placed after the network entry: BootOrder $out, BootNext $new"
EOF

### unmount: filesystems, then volume groups and arrays, so the machine reboots clean
# Release /mnt/lifeboat/sys
umount /mnt/lifeboat/sys
# Release /mnt/lifeboat/proc
umount /mnt/lifeboat/proc
# Release /mnt/lifeboat/dev
umount /mnt/lifeboat/dev`;
}
