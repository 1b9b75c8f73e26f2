#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kvio under DKMS, as an operator installs it, in a DKMS tree of its own
# (tools/dkms.sh with KVIO_DKMS_ROOT=ROOT): the system's DKMS and
# /lib/modules are never touched.  Three parts, each printing KTAP:
#
#   dkms_check.sh install ROOT   on the machine: dkms add and install for
#                                every kernel with headers; modinfo shows
#                                the version, description and parameters;
#                                AUTOINSTALL: with the modules of one
#                                kernel removed, the headers hook's
#                                "dkms autoinstall" builds them again
#   dkms_check.sh load ROOT      in a test VM without kvio loaded
#                                (tools/vm/run --no-kvio): modprobe loads
#                                kvio_net and kvio_assign by name with
#                                their dependencies, from ROOT; the device
#                                works (kvio_worker's first test); they
#                                unload
#   dkms_check.sh remove ROOT    on the machine: dkms remove leaves no
#                                kvio module and no source behind
#
# Needs dkms (make deps), root for the VM part.
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=${KVIO_REPO:-$(cd "$here/../.." && pwd)}
mode=${1:-}
root=${2:-}
export KVIO_DKMS_ROOT="$root"
dkms_sh=$repo/tools/dkms.sh
version=$(sh "$dkms_sh" version)

case $mode in
install) KTAP_NAMES="dkms_install dkms_modinfo dkms_autoinstall" ;;
load) KTAP_NAMES="dkms_modprobe_$(uname -r | tr -c 'a-zA-Z0-9\n' _)" ;;
remove) KTAP_NAMES="dkms_remove" ;;
*)
	echo "usage: dkms_check.sh install|load|remove ROOT" >&2
	exit 2
	;;
esac
# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"

ktap_begin
[ -n "$root" ] || ktap_bail "no DKMS root given"
if [ "$mode" != load ]; then
	command -v dkms >/dev/null 2>&1 || ktap_skip_all "dkms not installed"
fi
ktap_plan

verdict() { if [ -n "$1" ]; then echo ok; else echo fail; fi; }

# The kernels with headers, those tools/dkms.sh builds for.
kernels() { sh "$dkms_sh" kernels; }

# Is kvio installed for kernel $1 in ROOT, as dkms and the files say?
installed() { # kver
	sh "$dkms_sh" status 2>/dev/null | grep -q "kvio/$version, $1, .*: installed" &&
		ls "$root/lib/modules/$1/updates/dkms/kvio_net.ko"* >/dev/null 2>&1
}

modinfo_ok() { # kver
	for m in kvio_vhost kvio_net kvio_assign; do
		info=$(/sbin/modinfo -b "$root" -k "$1" "$m" 2>&1) || {
			ktap_diag "$1 $m: $info"
			return 1
		}
		if ! echo "$info" | grep -q "^version: *$version\$" ||
		   ! echo "$info" | grep -q '^description: *kvio'; then
			ktap_diag "$1 $m: no version $version or description"
			return 1
		fi
	done
	/sbin/modinfo -b "$root" -k "$1" -F parm kvio_vhost | grep -q '^poll_max_us:' &&
		/sbin/modinfo -b "$root" -k "$1" -F depends kvio_net |
		grep -q kvio_vhost
}

case $mode in
install)
	log=$root.install.log
	rm -rf "$root"
	if sh "$dkms_sh" install >"$log" 2>&1; then
		ok=1
		for k in $(kernels); do
			installed "$k" || { ok=; ktap_diag "not installed for $k"; }
		done
	else
		ok=
		tail -n 20 "$log" | sed 's/^/# /'
	fi
	ktap_result "$(verdict "$ok")" dkms_install \
		"kvio/$version for: $(kernels | tr '\n' ' ')(log: $log)"
	ok=1
	for k in $(kernels); do
		modinfo_ok "$k" || ok=
	done
	ktap_result "$(verdict "$ok")" dkms_modinfo
	# As if the newest kernel's headers had just arrived: its modules
	# gone, then the hook's "dkms autoinstall".
	k=$(kernels | sort -V | tail -n 1)
	ok=
	if sh "$dkms_sh" remove "$k" >>"$log" 2>&1 &&
	   ! installed "$k" &&
	   sh "$dkms_sh" autoinstall "$k" >>"$log" 2>&1 && installed "$k" &&
	   modinfo_ok "$k"; then
		ok=1
	fi
	ktap_result "$(verdict "$ok")" dkms_autoinstall "rebuilt for $k"
	;;
load)
	name=dkms_modprobe_$(uname -r | tr -c 'a-zA-Z0-9\n' _)
	why=
	lsmod | grep -q '^kvio' && why="kvio is loaded already"
	[ -z "$why" ] && ! /sbin/modprobe -d "$root" kvio_net &&
		why="modprobe kvio_net failed"
	[ -z "$why" ] && ! /sbin/modprobe -d "$root" kvio_assign &&
		why="modprobe kvio_assign failed"
	for m in kvio_vhost kvio_net tun tap kvio_assign irqbypass; do
		[ -z "$why" ] && [ ! -d "/sys/module/$m" ] && why="$m not loaded"
	done
	[ -z "$why" ] && [ "$(cat /sys/module/kvio_net/version)" != "$version" ] &&
		why="kvio_net version $(cat /sys/module/kvio_net/version)"
	if [ -z "$why" ]; then
		"$repo/build/selftests/kvio_worker" -t one_worker_per_owner \
			>"${KVIO_OUT:-/tmp}/dkms-worker.log" 2>&1 ||
			why="kvio_worker one_worker_per_owner failed"
	fi
	if [ -z "$why" ]; then
		/sbin/modprobe -d "$root" -r kvio_assign kvio_net kvio_vhost ||
			why="modprobe -r failed"
	fi
	[ -z "$why" ] && [ -d /sys/module/kvio_vhost ] && why="kvio_vhost still loaded"
	if [ -z "$why" ]; then
		ktap_ok "$name" "kvio $version: kvio_net and kvio_assign loaded by name with kvio_vhost, tun, tap, irqbypass; the device worked; unloaded"
	else
		ktap_fail "$name" "$why"
	fi
	;;
remove)
	ok=
	if sh "$dkms_sh" remove >"$root.remove.log" 2>&1 &&
	   ! sh "$dkms_sh" status 2>/dev/null | grep -q kvio &&
	   [ -z "$(find "$root/lib/modules" -name 'kvio_*' 2>/dev/null)" ] &&
	   [ ! -e "$root/src/kvio-$version" ]; then
		ok=1
	fi
	ktap_result "$(verdict "$ok")" dkms_remove
	;;
esac
ktap_finish
