# Functions every fixture's /sbin/init sources (installed as /usr/lib/fixture/fixture-lib.sh); the
# multi-disk builder also runs tree_hash chrooted into the fixture at build time, so the hash the
# builder promises and the one the guest prints come from the same code and the fixture's busybox.
# Defines functions only: sourcing it changes nothing.

# proc, sys and dev unless the initramfs moved them in; tmp and run as tmpfs.
early_mounts() {
  [ -e /proc/mounts ] || mount -t proc proc /proc
  [ -d /sys/class ] || mount -t sysfs sysfs /sys
  [ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  mount -t tmpfs -o mode=0755 tmpfs /run
}

uuid_of() {
  blkid "$1" | sed -n 's/.* UUID="\([^"]*\)".*/\1/p'
}

# A spec is UUID=, LABEL= or a device path (/dev/VG/LV, which the initramfs's LVM made).
device_of() {
  case "$1" in
    /dev/*) [ -b "$1" ] && readlink -f "$1" ;;
    *) findfs "$1" 2>/dev/null ;;
  esac
}

# Mounts /etc/fstab read-only (so that booting the fixture never changes it) and activates its
# swap, printing one FIXTURE-MOUNT line per filesystem and FIXTURE-SWAP for the swap; leaves the
# mountpoints, in fstab order, in $mounted.
mount_fstab() {
  mounted=
  while read -r spec mountpoint fstype options rest; do
    case "$spec" in '' | '#'*) continue ;; esac
    dev=$(device_of "$spec") || { echo "FIXTURE-ERROR $spec ($mountpoint) not found"; continue; }
    [ -n "$dev" ] || { echo "FIXTURE-ERROR $spec ($mountpoint) not found"; continue; }
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
    source=$(awk -v m="$mountpoint" '$2 == m { d = $1; t = $3 } END { print d " " t }' /proc/mounts)
    echo "FIXTURE-MOUNT $mountpoint ${source#* } $(uuid_of "${source%% *}")"
    mounted="$mounted $mountpoint"
  done < /etc/fstab
}

# tree_hash MOUNTPOINT...: the sha256 over the sorted lines (bytewise) of every regular file and
# symlink on those filesystems alone (find -xdev: not what is mounted below them, not a nested
# btrfs subvolume):
#   F <path> <size> <octal mode> <uid> <gid> <links> <sha256 of the content>
#   L <path> <target>
# Left out, because every restore rewrites them: GRUB's files under /boot/grub other than
# grub.cfg, and the boot loaders under /boot/efi/EFI; and what a clone's restore rewrites (hostname,
# machine-id, SSH host keys), which identity_line shows instead. Needs a writable /tmp that is a mount of its
# own (else its scratch files would be hashed). treeHash() in fixture-disk.ts computes the same.
tree_hash() {
  for mp in "$@"; do
    [ -d "$mp" ] || continue
    find "$mp" -xdev -type f | awk '(!/^\/boot\/grub\// || $0 == "/boot/grub/grub.cfg") && !/^\/boot\/efi\/EFI\// && $0 != "/etc/hostname" && $0 != "/etc/machine-id" && !/^\/etc\/ssh\/ssh_host_/' > /tmp/tree-hash.files
    xargs -r stat -c '%n %s %a %u %g %h' < /tmp/tree-hash.files > /tmp/tree-hash.stats
    xargs -r sha256sum < /tmp/tree-hash.files | cut -d' ' -f1 > /tmp/tree-hash.sums
    paste -d' ' /tmp/tree-hash.stats /tmp/tree-hash.sums | sed 's/^/F /'
    find "$mp" -xdev -type l | xargs -r stat -c '%N' | sed "s/^'\(.*\)' -> '\(.*\)'\$/L \1 \2/"
  done | sort | sha256sum | cut -d' ' -f1
}

# FIXTURE-IDENTITY: who this machine is — hostname, machine-id, and its ed25519 host key as the
# first 16 hex digits of the sha256 of the public key ("none" when it has none).
identity_line() {
  key=none
  [ -f /etc/ssh/ssh_host_ed25519_key.pub ] && key=$(sha256sum < /etc/ssh/ssh_host_ed25519_key.pub | cut -c1-16)
  echo "FIXTURE-IDENTITY hostname=$(cat /etc/hostname) machine-id=$(cat /etc/machine-id 2>/dev/null) sshkey=$key"
}
