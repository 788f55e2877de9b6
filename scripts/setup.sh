#!/usr/bin/env bash
# Installs what Lifeboat needs on Debian 12 with Node 20, idempotently: Debian packages that are
# missing, npm packages when node_modules is older than the lockfile, then compiles the TypeScript.
# Usage: scripts/setup.sh run|test|bench
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"

# Packages the server and archiver call at run time.
run_packages=(tar zstd gzip util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools jfsutils
  acl attr libcap2-bin iproute2 nfs-ganesha nfs-ganesha-vfs ipxe
  udpcast)  # udp-sender: one multicast stream of an image's volumes to many machines (clone sessions)
# What `lifeboat netboot build` puts into the rescue system: a kernel (the cloud one for virtual
# machines; linux-image-amd64 for hardware), busybox, and the restore tools with their libraries.
run_packages+=(linux-image-cloud-amd64 busybox kmod lvm2 mdadm nfs-common grub-common grub2-common grub-pc-bin
  grub-efi-amd64-bin efibootmgr gdisk curl openssh-client udpcast)
# Extra packages the tests drive as real peers and clients.
test_packages=(busybox isc-dhcp-client kea-admin dnsmasq-base tftp-hpa atftp curl ethtool libnfs-utils
  qemu-system-x86 qemu-utils ipxe-qemu ovmf debootstrap cpio lvm2
  linux-image-cloud-amd64 grub-pc-bin grub-efi-amd64-bin grub2-common mtools
  linux-image-amd64  # the full kernel: the multi-disk fixture and its rescue system need JFS, which the cloud one lacks
  systemd)  # systemd-analyze verifies the units `lifeboat schedule` writes
bench_packages=(tftpd-hpa nginx-light wrk hyperfine)

wanted=("${run_packages[@]}")
case "$profile" in
  test) wanted+=("${test_packages[@]}") ;;
  bench) wanted+=("${test_packages[@]}" "${bench_packages[@]}") ;;
  run) ;;
  *) echo "setup.sh: unknown profile '$profile' (run|test|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

npx --no-install tsc -p tsconfig.json
