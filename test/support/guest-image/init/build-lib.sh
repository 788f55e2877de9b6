# Helpers for a fixture's build script in a guest (run.sh, written by guest-image/in-guest.ts), which
# runs in the rescue system inside a QEMU guest whose kernel has md, device-mapper, vfat and JFS.
# run.sh sources this file from the script disk, then runs its own steps with set -eu.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
# No udev in the rescue system: libdevmapper makes the /dev/mapper and /dev/VG nodes itself.
export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
HERE=$(pwd)
OUT=$HERE/out
TARGET=/mnt/fx
mkdir -p "$OUT/captures" "$TARGET"

step() {
  echo "fixture-build: $*"
}

# Waits (10 s at most) for a device node the kernel makes after partitioning.
wait_node() {
  n=0
  while [ ! -b "$1" ] && [ $n -lt 100 ]; do usleep 100000; n=$((n + 1)); done
  [ -b "$1" ] || { echo "fixture-build: $1 did not appear"; exit 1; }
}

# capture FILE COMMAND...: a tool's output, kept exactly as printed, for the layout parser tests.
capture() {
  file=$1
  shift
  if ! "$@" > "$OUT/captures/$file" 2> "$OUT/captures/$file.stderr"; then
    echo "fixture-build: capture $file: '$*' failed: $(cat "$OUT/captures/$file.stderr")"
    exit 1
  fi
  [ -s "$OUT/captures/$file.stderr" ] || rm -f "$OUT/captures/$file.stderr"
}

# mount_at DEV MOUNTPOINT [OPTIONS]: below $TARGET, making the directory when the tree lacks it.
mount_at() {
  mkdir -p "$TARGET$2"
  if [ -n "${3:-}" ]; then mount -o "$3" "$1" "$TARGET$2"; else mount "$1" "$TARGET$2"; fi
}

# extract ARCHIVE MOUNTPOINT: the host-made tar of one filesystem's tree, with every attribute.
extract() {
  tar -x -f "$HERE/trees/$1" -C "$TARGET$2" --numeric-owner -p --same-owner --xattrs --xattrs-include='*' --acls
}

# extract_fat ARCHIVE MOUNTPOINT: FAT keeps no owners, modes or xattrs.
extract_fat() {
  tar -x -f "$HERE/trees/$1" -C "$TARGET$2" --no-same-owner --no-same-permissions
}

# hash_mount MOUNTPOINT...: tree_hash (fixture-lib.sh) over those filesystems together, chrooted
# into the fixture, exactly as its /sbin/init runs it; named by the first.
hash_mount() {
  echo "$1 $(chroot "$TARGET" /bin/sh -c '. /usr/lib/fixture/fixture-lib.sh && tree_hash "$@"' tree-hash "$@")" >> "$OUT/hashes.txt"
}
