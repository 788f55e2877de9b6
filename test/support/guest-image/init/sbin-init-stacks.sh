#!/bin/sh
# /sbin/init of the multi-disk fixture (multidisk-fixture.ts). It shows on the serial console what
# a restore must bring back, then powers off:
#   FIXTURE-BOOTED name=<name>
#   FIXTURE-MOUNT <mountpoint> <fstype> <uuid of the mounted device>   one per /etc/fstab filesystem
#   FIXTURE-SWAP <uuid>                                                 when the swap was activated
#   FIXTURE-RAID <md> <level> <array_state> <[UU]> degraded=<n>        per md array, once resync is over
#   FIXTURE-LV <vg>/<lv> <bytes> on=<md0,md1>                           per active logical volume, with the devices under it
#   FIXTURE-HASH <mountpoint> <sha256>                                  per mounted filesystem (tree_hash)
#   FIXTURE-DONE
# Everything is mounted read-only so that booting the fixture never changes it.
export PATH=/bin:/sbin LC_ALL=C
. /usr/lib/fixture/fixture-lib.sh

early_mounts
echo "FIXTURE-BOOTED name=$(cat /etc/fixture-name)"
mount_fstab

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
  echo "FIXTURE-HASH $mountpoint $(tree_hash "$mountpoint")"
done
echo FIXTURE-DONE

poweroff -f
