#!/usr/bin/env bash
# Installs what Lifeboat needs on Debian 12 with Node 20 and skips what is done: Debian packages
# only when missing, npm packages only when node_modules is older than the lockfile, the TypeScript
# only when a source is newer than the last compile's stamp (dist/.build-stamp), and (run) the
# rescue system only when it is not built yet. Usage: scripts/setup.sh run|test|bench
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"

# Packages the server and archiver call at run time.
run_packages=(tar zstd gzip util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools jfsutils
  acl attr libcap2-bin iproute2 nfs-ganesha nfs-ganesha-vfs ipxe
  udpcast)  # udp-sender: one multicast stream of an image's volumes to many machines (clone sessions)
# What `lifeboat netboot build` puts into the rescue system: a kernel (linux-image-amd64, the
# default, has the drivers of real PCs; the cloud one is for virtual machines), busybox, and the
# restore tools with their libraries.
run_packages+=(linux-image-amd64 linux-image-cloud-amd64 busybox kmod lvm2 mdadm nfs-common grub-common grub2-common grub-pc-bin
  grub-efi-amd64-bin efibootmgr gdisk curl openssh-client udpcast)
# Extra packages the tests drive as real peers and clients.
test_packages=(busybox isc-dhcp-client kea-admin dnsmasq-base tftp-hpa atftp curl ethtool libnfs-utils
  isc-dhcp-server kea-dhcp4-server  # the site DHCP servers `lifeboat init` prints snippets for (run in namespaces)
  qemu-system-x86 qemu-utils ipxe-qemu ovmf debootstrap cpio lvm2
  nftables  # counters and packet loss on the test-bed bridge (restore-faults, clone-session)
  linux-image-cloud-amd64 grub-pc-bin grub-efi-amd64-bin grub2-common mtools
  linux-image-amd64  # the full kernel: the multi-disk fixture and its rescue system need JFS, which the cloud one lacks
  systemd  # systemd-analyze verifies the units `lifeboat schedule` writes
  podman runc)  # builds docker/Dockerfile and starts it once (container-image test)
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

# A node_modules that is a link belongs to another checkout (a git worktree sharing the main one's):
# npm ci would empty the directory it points to, so it is left alone.
if [[ -L node_modules ]]; then
  echo "setup: node_modules links to $(readlink node_modules): not reinstalled here" >&2
elif [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Compile only when a source (or the compiler's settings, or the locked packages) changed since the
# last compile: tsc takes ~14 s even when nothing changed. A stamp taken before tsc starts, so a file
# saved while it runs is compiled next time.
stamp=dist/.build-stamp
sources=(cli core images netboot server test bench shared tsconfig.json package-lock.json)
existing=(); for s in "${sources[@]}"; do [[ -e $s ]] && existing+=("$s"); done
if [[ -f $stamp && -z $(find "${existing[@]}" -newer "$stamp" -print -quit) ]]; then
  echo "setup: compiled output is up to date (no source newer than $stamp)" >&2
else
  echo "setup: compiling TypeScript" >&2
  mkdir -p dist && touch "$stamp.new"
  npx --no-install tsc -p tsconfig.json
  mv "$stamp.new" "$stamp"
fi

# npm start: build the rescue system machines boot into, once (where serve will look for it: the
# config file's rescueDir or <data>/netboot/rescue).
if [[ $profile == run ]]; then
  node bin/lifeboat.js netboot build --if-missing
fi
