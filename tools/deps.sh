#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install every Debian package kvio needs to build, test and check style.
# Idempotent: does nothing (and needs no network) when all are present.
set -eu

PKGS="make gcc binutils libc6-dev perl git kmod iproute2 busybox-static cpio
xz-utils zstd gzip qemu-system-x86 qemu-system-data
linux-image-amd64 linux-headers-amd64
linux-image-6.12-amd64 linux-headers-6.12-amd64
linux-source-6.12 sparse
dpdk-dev librte-net-virtio23 librte-mempool-ring23 gnuplot-nox iperf3 shellcheck
dkms trace-cmd bpftrace libvirt-daemon-system libvirt-clients"

missing=
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

echo "deps: installing:$missing"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
