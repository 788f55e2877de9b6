#!/bin/sh
# /sbin/init of the single-disk fixture (fixture-disk.ts). It proves on the serial console what a
# restore must preserve, then powers off:
#   FIXTURE-BOOTED name=<name>
#   FIXTURE-MOUNT <mountpoint> <fstype> <uuid of the mounted device>   (one per /etc/fstab entry)
#   FIXTURE-SWAP <uuid>                                                 (when the swap was activated)
#   FIXTURE-IDENTITY hostname=<> machine-id=<> sshkey=<16 hex digits>  (identity_line)
#   FIXTURE-HASH <sha256 over every regular file and symlink of / and /data together>
# Everything is mounted read-only so that booting the fixture never changes it (an XFS log left
# dirty by poweroff -f could otherwise not be mounted read-only by an archiver).
export PATH=/bin:/sbin LC_ALL=C
. /usr/lib/fixture/fixture-lib.sh

early_mounts
echo "FIXTURE-BOOTED name=$(cat /etc/fixture-name)"
mount_fstab
identity_line
echo "FIXTURE-HASH $(tree_hash / /data)"

poweroff -f
