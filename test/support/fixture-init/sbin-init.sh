#!/bin/sh
# /sbin/init of the fixture system. It proves on the serial console what a restore must preserve:
#   FIXTURE-BOOTED name=<name>
#   FIXTURE-MOUNT <mountpoint> <fstype> <uuid of the mounted device>   (one per /etc/fstab entry)
#   FIXTURE-SWAP <uuid>                                                 (when the swap was activated)
#   FIXTURE-HASH <sha256 over every regular file and symlink of / and /data>
# then powers off. Everything is mounted read-only so that booting the fixture never changes it
# (an XFS log left dirty by poweroff -f could otherwise not be mounted read-only by an archiver).
# The hash lines and their order must match treeHash() in test/support/fixture-disk.ts.
export PATH=/bin:/sbin LC_ALL=C

[ -e /proc/mounts ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run

echo "FIXTURE-BOOTED name=$(cat /etc/fixture-name)"

uuid_of() {
  blkid "$1" | sed -n 's/.* UUID="\([^"]*\)".*/\1/p'
}

while read -r spec mountpoint fstype options rest; do
  case "$spec" in '' | '#'*) continue ;; esac
  dev=$(findfs "$spec" 2>/dev/null) || { echo "FIXTURE-ERROR $spec ($mountpoint) not found"; continue; }
  if [ "$fstype" = swap ]; then
    if swapon "$dev" && grep -q "^$dev " /proc/swaps; then
      echo "FIXTURE-SWAP $(uuid_of "$dev")"
    else
      echo "FIXTURE-ERROR swapon $spec ($dev) failed"
    fi
    continue
  fi
  if [ "$mountpoint" != / ]; then
    # XFS writes its superblock and log even on a read-only mount unless told not to (measured:
    # two boots of a ro-mounted fixture left different disks); norecovery keeps the disk unchanged.
    ro=ro
    [ "$fstype" = xfs ] && ro=ro,norecovery
    mount -t "$fstype" -o "$options,$ro" "$dev" "$mountpoint" || { echo "FIXTURE-ERROR mount $spec on $mountpoint failed"; continue; }
  fi
  mounted=$(awk -v m="$mountpoint" '$2 == m { d = $1; t = $3 } END { print d " " t }' /proc/mounts)
  echo "FIXTURE-MOUNT $mountpoint ${mounted#* } $(uuid_of "${mounted%% *}")"
done < /etc/fstab

# One line per entry, sorted bytewise:
#   F <path> <size> <octal mode> <uid> <gid> <links> <sha256 of the content>
#   L <path> <target>
# GRUB's own files under /boot/grub are left out (grub-install rewrites them at restore), except
# grub.cfg, which the restore must bring back as it was.
tree_lines() {
  find "$1" -xdev -type f | awk '!/^\/boot\/grub\// || $0 == "/boot/grub/grub.cfg"' > /tmp/files
  xargs -r stat -c '%n %s %a %u %g %h' < /tmp/files > /tmp/stats
  xargs -r sha256sum < /tmp/files | cut -d' ' -f1 > /tmp/sums
  paste -d' ' /tmp/stats /tmp/sums | sed 's/^/F /'
  find "$1" -xdev -type l | xargs -r stat -c '%N' | sed "s/^'\(.*\)' -> '\(.*\)'\$/L \1 \2/"
}
hash=$({ tree_lines /; [ -d /data ] && tree_lines /data; } | sort | sha256sum | cut -d' ' -f1)
echo "FIXTURE-HASH $hash"

poweroff -f
