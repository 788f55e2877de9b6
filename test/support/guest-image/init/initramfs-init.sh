#!/bin/sh
# /init of every fixture's initramfs: load the drivers the kernel has as modules, find root by the
# root= spec on the kernel line (UUID= or LABEL=), mount it read-only and hand over to its
# /sbin/init. When the initramfs carries mdadm or lvm (a fixture with storage stacks), it first
# waits for the disks to settle, assembles the md arrays /etc/mdadm/mdadm.conf names (by UUID) and
# activates the LVM volume groups. Any failure powers the machine off with a FIXTURE-ERROR line, so
# a test sees the reason on the serial console instead of waiting for its timeout.
export PATH=/bin:/sbin LC_ALL=C
# No udev here: libdevmapper makes the /dev/mapper and /dev/VG nodes itself.
export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1

fail() {
  echo "FIXTURE-ERROR initramfs: $*"
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Some modules refuse the emulated CPU (crc32c-intel wants SSE4.2); their generic versions load.
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
root_tries=300
if [ -x /sbin/mdadm ] || [ -x /sbin/lvm ]; then
  mkdir -p /run/lvm /run/mdadm /run/lock/lvm
  # Wait until the list of block devices has not changed for a second (30 s at most), so that no
  # array is started half-found; then the root filesystem is there within 10 s or not at all.
  tries=0
  stable=0
  last=
  while [ $stable -lt 10 ] && [ $tries -lt 300 ]; do
    now=$(cat /proc/partitions)
    if [ -n "$last" ] && [ "$now" = "$last" ] && grep -q ' vd[a-z]$' /proc/partitions; then stable=$((stable + 1)); else stable=0; fi
    last=$now
    tries=$((tries + 1))
    usleep 100000
  done
  root_tries=100

  if [ -f /etc/mdadm/mdadm.conf ]; then
    mdadm --assemble --scan || echo "fixture-initramfs: mdadm --assemble --scan exited $?"
  fi
  if [ -x /sbin/lvm ]; then
    lvm vgchange -a ay --sysinit || echo "fixture-initramfs: vgchange -a ay exited $?"
    lvm vgmknodes >/dev/null 2>&1
  fi
fi

tries=0
until dev=$(findfs "$root" 2>/dev/null); do
  tries=$((tries + 1))
  [ "$tries" -le "$root_tries" ] || fail "root $root not found (block devices: $(ls /sys/class/block | tr '\n' ' ')$([ -e /proc/mdstat ] && echo "; $(cat /proc/mdstat | tr '\n' ' ')"))"
  usleep 100000
done

mount -r -t "$rootfstype" "$dev" /newroot || fail "mount $dev ($root) on / failed"
[ -x /newroot/sbin/init ] || fail "$root has no /sbin/init"
for fs in dev proc sys; do
  mount --move "/$fs" "/newroot/$fs" || fail "cannot move /$fs into the root filesystem"
done
exec switch_root /newroot /sbin/init
