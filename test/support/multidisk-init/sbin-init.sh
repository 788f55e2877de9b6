#!/bin/sh
# /sbin/init of the multi-disk fixture. It shows on the serial console what a restore must bring
# back, then powers off:
#   FIXTURE-BOOTED name=<name>
#   FIXTURE-MOUNT <mountpoint> <fstype> <uuid of the mounted device>   one per /etc/fstab filesystem
#   FIXTURE-SWAP <uuid>                                                 when the swap was activated
#   FIXTURE-RAID <md> <level> <array_state> <[UU]> degraded=<n>        per md array, once resync is over
#   FIXTURE-LV <vg>/<lv> <bytes> on=<md0,md1>                           per active logical volume, with the devices under it
#   FIXTURE-HASH <mountpoint> <sha256>                                  per mounted filesystem (tree-hash.sh)
#   FIXTURE-DONE
# Everything is mounted read-only so that booting the fixture never changes it.
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

# A spec is UUID=, LABEL= or a device path (/dev/VG/LV, which the initramfs's LVM made).
device_of() {
  case "$1" in
    /dev/*) [ -b "$1" ] && readlink -f "$1" ;;
    *) findfs "$1" 2>/dev/null ;;
  esac
}

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
    # XFS writes its log even on a read-only mount unless told not to.
    ro=ro
    [ "$fstype" = xfs ] && ro=ro,norecovery
    mount -t "$fstype" -o "$options,$ro" "$dev" "$mountpoint" || { echo "FIXTURE-ERROR mount $spec on $mountpoint failed"; continue; }
  fi
  source=$(awk -v m="$mountpoint" '$2 == m { d = $1; t = $3 } END { print d " " t }' /proc/mounts)
  echo "FIXTURE-MOUNT $mountpoint ${source#* } $(uuid_of "${source%% *}")"
  mounted="$mounted $mountpoint"
done < /etc/fstab

for md in /sys/block/md*; do
  [ -d "$md/md" ] || continue
  name=${md##*/}
  # A freshly created mirror resyncs; the fixture reports the array once that is over (10 min at most).
  tries=0
  while [ "$(cat "$md/md/sync_action" 2>/dev/null)" != idle ] && [ "$(cat "$md/md/sync_action" 2>/dev/null)" != '' ] && [ $tries -lt 600 ]; do
    sleep 1
    tries=$((tries + 1))
  done
  members=$(awk -v n="$name" '$1 == n { found = 1; next } found && /blocks/ { print $NF; exit }' /proc/mdstat)
  echo "FIXTURE-RAID $name $(cat "$md/md/level") $(cat "$md/md/array_state") $members degraded=$(cat "$md/md/degraded" 2>/dev/null)"
done

for dm in /sys/block/dm-*; do
  [ -f "$dm/dm/name" ] || continue
  # LVM names its mappings VG-LV (a dash inside a name is doubled; the fixture's names have none).
  name=$(cat "$dm/dm/name")
  on=$(ls "$dm/slaves" | sort | paste -sd, -)
  echo "FIXTURE-LV ${name%%-*}/${name#*-} $(($(cat "$dm/size") * 512)) on=$on"
done

for mountpoint in $mounted; do
  echo "FIXTURE-HASH $mountpoint $(sh /usr/lib/fixture/tree-hash.sh "$mountpoint")"
done
echo FIXTURE-DONE

poweroff -f
