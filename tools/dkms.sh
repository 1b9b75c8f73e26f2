#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kvio under DKMS.  The source DKMS builds from is the module tree only
# (Kbuild, dkms.conf, drivers/, include/, uapi/), copied to
# <sourcetree>/kvio-<version>; the version is dkms.conf's.
#
# usage: tools/dkms.sh install    into the system's DKMS, for every kernel
#                                 that has its headers (make dkms-install)
#        tools/dkms.sh remove [KVER]
#                                 from the system's DKMS (make dkms-remove),
#                                 or only KVER's modules
#        tools/dkms.sh status     dkms status of kvio
#        tools/dkms.sh kernels    the kernels install builds for
#        tools/dkms.sh autoinstall KVER
#                                 what Debian's kernel hooks run once the
#                                 headers of KVER are installed
#        tools/dkms.sh source DIR the module tree, copied to DIR
#        tools/dkms.sh version    dkms.conf's version
#
# KVIO_DKMS_ROOT=DIR makes install and remove work on DKMS trees of
# their own in DIR, never the system's: DIR/dkms, DIR/src, and
# DIR/lib/modules/<kver> for the installed modules, a root for
# "depmod -b DIR" and "modprobe -d DIR" (selftests/kvio/dkms_check.sh).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
root=${KVIO_DKMS_ROOT:-}
src=/usr/src
[ -z "$root" ] || src=$root/src

say() { echo "dkms.sh: $*"; }

# The kernels with headers to build against: /lib/modules/<kver>/build.
kernels() {
	for b in /lib/modules/*/build; do
		[ -e "$b/Makefile" ] && basename "$(dirname "$b")"
	done
	return 0
}

# dkms with the trees of $root, or the system's.
dk() {
	if [ -n "$root" ]; then
		# dkms signs with the key these name (made if missing); its
		# default is in the system's /var/lib/dkms.
		mok_signing_key=$root/mok.key mok_certificate=$root/mok.pub \
		dkms "$@" --dkmstree "$root/dkms" --sourcetree "$src" \
			--installtree "$root/lib/modules" --no-depmod
	else
		dkms "$@"
	fi
}

copy_source() { # dest
	rm -rf "$1"
	mkdir -p "$1"
	for f in Kbuild dkms.conf drivers include uapi; do
		cp -R "$top/$f" "$1/"
	done
}

# A private install tree mirrors /lib/modules/<kver> (the headers, the
# kernel's own modules and their lists) so that dkms builds and installs
# there and depmod -b resolves kvio's dependencies on tun, tap and
# irqbypass.
scratch_kernel() { # kver
	d=$root/lib/modules/$1
	mkdir -p "$d"
	for f in build kernel modules.order modules.builtin \
		modules.builtin.modinfo; do
		[ -e "/lib/modules/$1/$f" ] && ln -sfn "/lib/modules/$1/$f" "$d/$f"
	done
	return 0
}

scratch_depmod() { # kver
	/sbin/depmod -b "$root" "$1"
}

case ${1:-} in
version)
	echo "$version"
	;;
source)
	copy_source "${2:?usage: dkms.sh source DIR}"
	;;
install)
	command -v dkms >/dev/null || { say "dkms is not installed (apt-get install dkms)"; exit 1; }
	[ -z "$root" ] || mkdir -p "$root/dkms" "$src" "$root/lib/modules"
	if dk status -m kvio -v "$version" | grep -q .; then
		dk remove -m kvio -v "$version" --all >/dev/null
	fi
	copy_source "$src/kvio-$version"
	dk add -m kvio -v "$version"
	for k in $(kernels); do
		[ -z "$root" ] || scratch_kernel "$k"
		dk install -m kvio -v "$version" -k "$k"
		[ -z "$root" ] || scratch_depmod "$k"
	done
	dk status -m kvio
	;;
autoinstall)
	k=${2:?usage: dkms.sh autoinstall KVER}
	[ -z "$root" ] || scratch_kernel "$k"
	dk autoinstall -k "$k"
	[ -z "$root" ] || scratch_depmod "$k"
	;;
remove)
	command -v dkms >/dev/null || { say "dkms is not installed"; exit 1; }
	if [ -n "${2:-}" ]; then
		dk remove -m kvio -v "$version" -k "$2"
		[ -z "$root" ] || scratch_depmod "$2"
		exit 0
	fi
	if dk status -m kvio -v "$version" | grep -q .; then
		dk remove -m kvio -v "$version" --all
	fi
	rm -rf "$src/kvio-$version"
	;;
status)
	dk status -m kvio
	;;
kernels)
	kernels
	;;
*)
	echo "usage: tools/dkms.sh install|remove [KVER]|autoinstall KVER|status|kernels|source DIR|version" >&2
	exit 2
	;;
esac
