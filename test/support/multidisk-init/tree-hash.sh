#!/bin/sh
# Prints the sha256 of one mounted filesystem's files, as the multi-disk fixture sees them:
#   tree-hash.sh MOUNTPOINT
# over the sorted lines (bytewise) of every regular file and symlink on that filesystem alone
# (find -xdev: not what is mounted below it, not a nested btrfs subvolume):
#   F <path> <size> <octal mode> <uid> <gid> <links> <sha256 of the content>
#   L <path> <target>
# Left out, because every restore rewrites them: GRUB's files under /boot/grub other than grub.cfg,
# and the boot loaders under /boot/efi/EFI. The fixture's /sbin/init runs this at boot; the builder
# runs it chrooted into the fixture at build time, so both use the fixture's own busybox. Needs a
# writable /tmp that is a mount of its own (else its scratch files would be hashed).
export LC_ALL=C
mp=$1
find "$mp" -xdev -type f | awk '(!/^\/boot\/grub\// || $0 == "/boot/grub/grub.cfg") && !/^\/boot\/efi\/EFI\//' > /tmp/tree-hash.files
xargs -r stat -c '%n %s %a %u %g %h' < /tmp/tree-hash.files > /tmp/tree-hash.stats
xargs -r sha256sum < /tmp/tree-hash.files | cut -d' ' -f1 > /tmp/tree-hash.sums
{
  paste -d' ' /tmp/tree-hash.stats /tmp/tree-hash.sums | sed 's/^/F /'
  find "$mp" -xdev -type l | xargs -r stat -c '%N' | sed "s/^'\(.*\)' -> '\(.*\)'\$/L \1 \2/"
} | sort | sha256sum | cut -d' ' -f1
rm -f /tmp/tree-hash.files /tmp/tree-hash.stats /tmp/tree-hash.sums
