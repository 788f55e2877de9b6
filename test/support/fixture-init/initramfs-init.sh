#!/bin/sh
# /init of the fixture's initramfs: load the block and filesystem drivers the cloud kernel has as
# modules, find root by the root= spec on the kernel line (UUID= or LABEL=), mount it read-only and
# hand over to its /sbin/init. Any failure powers the machine off with a FIXTURE-ERROR line, so a
# test sees the reason on the serial console instead of waiting for its timeout.
export PATH=/bin LC_ALL=C

fail() {
  echo "FIXTURE-ERROR initramfs: $*"
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Some modules refuse the emulated CPU (crc32c-intel wants SSE4.2); the generic code is built in.
while read -r module; do
  insmod "/modules/$module" 2>/dev/null || echo "fixture-initramfs: $module not loaded"
done < /modules.list

root=
rootfstype=ext4
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="${arg#root=}" ;;
    rootfstype=*) rootfstype="${arg#rootfstype=}" ;;
  esac
done
[ -n "$root" ] || fail "no root= on the kernel command line"

# Disks appear asynchronously after the driver loads: wait up to 30 s for the root filesystem.
tries=0
until dev=$(findfs "$root" 2>/dev/null); do
  tries=$((tries + 1))
  [ "$tries" -le 300 ] || fail "root $root not found (block devices: $(ls /sys/class/block | tr '\n' ' '))"
  usleep 100000
done

mount -r -t "$rootfstype" "$dev" /newroot || fail "mount $dev ($root) on / failed"
[ -x /newroot/sbin/init ] || fail "$root has no /sbin/init"
for fs in dev proc sys; do
  mount --move "/$fs" "/newroot/$fs" || fail "cannot move /$fs into the root filesystem"
done
exec switch_root /newroot /sbin/init
