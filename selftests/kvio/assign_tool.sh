#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tools/kvio-assign, the operator's tool, on the VM's real edu devices
# (assign_run.sh runs this after the programs, kvio_assign loaded):
#
#   tool_status         "status" names the device and its IOMMU group
#   tool_bind_unbind    "bind" gives it to kvio_assign, "unbind" takes it
#                       back; the device ends as it began
#   tool_bdf_strict     an address with anything around it (a newline and
#                       more, a space, a path) is a usage error (2), never
#                       looked up
#   tool_sysfs_root     KVIO_ASSIGN_SYSFS, a sysfs tree for tests to stand
#                       in for /sys, is obeyed for an unprivileged user and
#                       ignored for root, who acts on the real /sys
#   tool_bind_in_use    (on such a tree, unprivileged) bind refuses a device
#                       whose group peer a host driver holds, and with
#                       --group refuses while any endpoint has a network
#                       interface up or a mounted block device; nothing is
#                       written to the driver's unbind file
#   tool_bind_group     bind --group hands both edus of the shared group to
#                       kvio_assign at once; unbind gives each back
#
# usage: assign_tool.sh    (as root)
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=${KVIO_REPO:-$(cd "$here/../.." && pwd)}
tool=$repo/tools/kvio-assign
KTAP_NAMES="tool_status tool_bind_unbind tool_bdf_strict tool_sysfs_root
tool_bind_in_use tool_bind_group"
# shellcheck source=selftests/kvio/lib/ktap.sh
. "$here/lib/ktap.sh"

ktap_plan
[ "$(id -u)" -eq 0 ] || ktap_skip_all "must run as root"
[ -d /sys/bus/pci/drivers/kvio_assign ] || ktap_bail "kvio_assign is not loaded"
out=$(mktemp -d "${TMPDIR:-/tmp}/kvio-tool.XXXXXX") || ktap_bail "mktemp failed"
trap 'rm -rf "$out"' EXIT

driver_of() {
	[ -L "/sys/bus/pci/devices/$1/driver" ] &&
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
}

# The first edu device (1234:11e8) alone in its IOMMU group.
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0x11e8 ] || continue
	set -- "$d"/iommu_group/devices/*
	if [ $# -ne 1 ] || [ ! -e "$1" ]; then
		continue
	fi
	edu=$(basename "$d")
	break
done
[ -n "$edu" ] || ktap_bail "no edu device alone in an IOMMU group"
was=$(driver_of "$edu")
ktap_diag "edu device $edu, driver ${was:-none}"

# run NAME ARGS...: the tool's status in $rc, its output in $out/NAME
run() {
	n=$1
	shift
	"$@" >"$out/$n" 2>&1
	rc=$?
}

run status sh "$tool" status "$edu"
if [ "$rc" -eq 0 ] && grep -q "^device: *$edu \[0x1234:0x11e8\]" "$out/status" &&
	grep -q '^iommu group: [0-9]' "$out/status"; then
	ktap_ok tool_status
else
	sed 's/^/# /' "$out/status"
	ktap_fail tool_status "exit $rc"
fi

why=
run bind sh "$tool" bind "$edu"
[ "$rc" -eq 0 ] && [ "$(driver_of "$edu")" = kvio_assign ] ||
	why="bind: exit $rc, driver '$(driver_of "$edu")': $(tr '\n' ' ' <"$out/bind")"
run unbind sh "$tool" unbind "$edu"
[ -n "$why" ] || { [ "$rc" -eq 0 ] && [ "$(driver_of "$edu")" != kvio_assign ]; } ||
	why="unbind: exit $rc, driver '$(driver_of "$edu")': $(tr '\n' ' ' <"$out/unbind")"
# as it began
if [ "$was" = kvio_assign ] && [ "$(driver_of "$edu")" != kvio_assign ]; then
	sh "$tool" bind "$edu" >/dev/null 2>&1 || ktap_diag "could not bind $edu again"
fi
if [ -z "$why" ]; then
	ktap_ok tool_bind_unbind
else
	ktap_fail tool_bind_unbind "$why"
fi

why=
nl='
'
for bad in "$edu${nl}../../../tmp" "$edu " " $edu" "../$edu" "${edu%.*}.8"; do
	run bad sh "$tool" status "$bad"
	if [ "$rc" -ne 2 ] || ! grep -q 'is not a PCI address' "$out/bad"; then
		why="$why '$(printf '%s' "$bad" | tr '\n' '|')': exit $rc;"
	fi
done
if [ -z "$why" ]; then
	ktap_ok tool_bdf_strict
else
	ktap_fail tool_bdf_strict "accepted or not refused as usage:$why"
fi

# A sysfs of one made-up device, 0000:7f:00.0, readable by anyone.
fake=$out/sys
dev=$fake/bus/pci/devices/0000:7f:00.0
mkdir -p "$dev"
echo 0x1af4 >"$dev/vendor"
echo 0x1000 >"$dev/device"
echo 0x020000 >"$dev/class"
: >"$dev/resource"
head -c 64 /dev/zero >"$dev/config"
chmod -R a+rX "$out"
why=
run root env KVIO_ASSIGN_SYSFS="$fake" sh "$tool" status 0000:7f:00.0
[ "$rc" -eq 1 ] && grep -q 'no such PCI device' "$out/root" ||
	why="root: exit $rc: $(head -n 2 "$out/root" | tr '\n' ' ');"
if command -v setpriv >/dev/null 2>&1; then
	run user setpriv --reuid=65534 --regid=65534 --clear-groups \
		env KVIO_ASSIGN_SYSFS="$fake" sh "$tool" status 0000:7f:00.0
	[ "$rc" -eq 0 ] && grep -q '^device: *0000:7f:00.0 \[0x1af4:0x1000\]' "$out/user" ||
		why="$why unprivileged: exit $rc: $(head -n 2 "$out/user" | tr '\n' ' ')"
else
	why="$why no setpriv to run the tool unprivileged"
fi
if [ -z "$why" ]; then
	ktap_ok tool_sysfs_root
else
	ktap_fail tool_sysfs_root "$why"
fi

# Two functions of one made-up NIC in IOMMU group 7, both driven by
# "e1000e"; function 0 has eth9, up.
fake=$out/sys2
devs=$fake/bus/pci/devices
mkdir -p "$fake/bus/pci/drivers/kvio_assign" "$fake/bus/pci/drivers/e1000e" \
	"$fake/kernel/iommu_groups/7/devices"
: >"$fake/bus/pci/drivers/e1000e/unbind"
for fn in 0 1; do
	dev=$devs/0000:7f:00.$fn
	mkdir -p "$dev"
	echo 0x8086 >"$dev/vendor"
	echo 0x10d3 >"$dev/device"
	echo 0x020000 >"$dev/class"
	: >"$dev/resource"
	head -c 64 /dev/zero >"$dev/config"
	ln -s ../../../../kernel/iommu_groups/7 "$dev/iommu_group"
	ln -s "../../../../bus/pci/devices/0000:7f:00.$fn" \
		"$fake/kernel/iommu_groups/7/devices/0000:7f:00.$fn"
	ln -s ../../drivers/e1000e "$dev/driver"
done
mkdir -p "$devs/0000:7f:00.0/net/eth9"
: >"$devs/0000:7f:00.0/net/eth9/uevent"
echo 0x1003 >"$devs/0000:7f:00.0/net/eth9/flags"
ln -s ../../../../../../class/net "$devs/0000:7f:00.0/net/eth9/subsystem"
chmod -R a+rX "$out"
# user NAME ARGS...: the tool as nobody on that tree
user() {
	n=$1
	shift
	run "$n" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env KVIO_ASSIGN_SYSFS="$fake" sh "$tool" "$@"
}
why=
if command -v setpriv >/dev/null 2>&1; then
	user peer bind 0000:7f:00.0
	[ "$rc" -eq 1 ] && grep -q 'also holds 0000:7f:00.1 (e1000e)' "$out/peer" ||
		why="bind beside a host-driven peer: exit $rc: $(tr '\n' ' ' <"$out/peer");"
	user up bind --group 0000:7f:00.0
	[ "$rc" -eq 1 ] && grep -q '0000:7f:00.0: network interface eth9 is up' "$out/up" ||
		why="$why --group with eth9 up: exit $rc: $(tr '\n' ' ' <"$out/up");"
	# eth9 down; function 1 gets a block device with the root's numbers
	echo 0x1002 >"$devs/0000:7f:00.0/net/eth9/flags"
	blk=$devs/0000:7f:00.1/block/vdz
	mkdir -p "$blk"
	: >"$blk/uevent"
	awk '$5 == "/" { print $3; exit }' /proc/self/mountinfo >"$blk/dev"
	ln -s ../../../../../../class/block "$blk/subsystem"
	chmod -R a+rX "$out"
	user mounted bind --group 0000:7f:00.0
	[ "$rc" -eq 1 ] && grep -q '0000:7f:00.1: block device vdz is mounted' "$out/mounted" ||
		why="$why --group with vdz mounted ($(cat "$blk/dev")): exit $rc: $(tr '\n' ' ' <"$out/mounted");"
	[ ! -s "$fake/bus/pci/drivers/e1000e/unbind" ] ||
		why="$why the unbind file was written: $(cat "$fake/bus/pci/drivers/e1000e/unbind");"
else
	why="no setpriv to run the tool unprivileged"
fi
if [ -z "$why" ]; then
	ktap_ok tool_bind_in_use
else
	ktap_fail tool_bind_in_use "$why"
fi

# The two edus of the shared group (with their bridge: group of three).
shared=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1234:0x11e8 ] || continue
	set -- "$d"/iommu_group/devices/*
	[ $# -eq 3 ] && shared="$shared $(basename "$d")"
done
# shellcheck disable=SC2086 # two addresses
set -- $shared
if [ $# -ne 2 ]; then
	ktap_result_skip tool_bind_group "no two edus sharing an IOMMU group"
else
	a=$1 b=$2
	wa=$(driver_of "$a") wb=$(driver_of "$b")
	for d in "$a" "$b"; do
		[ "$(driver_of "$d")" != kvio_assign ] || sh "$tool" unbind "$d" >/dev/null 2>&1
	done
	why=
	run group sh "$tool" bind --group "$a"
	[ "$rc" -eq 0 ] && [ "$(driver_of "$a")" = kvio_assign ] &&
		[ "$(driver_of "$b")" = kvio_assign ] ||
		why="bind --group $a: exit $rc, drivers '$(driver_of "$a")' '$(driver_of "$b")': $(tr '\n' ' ' <"$out/group")"
	for d in "$a" "$b"; do
		run ungroup sh "$tool" unbind "$d"
		[ "$rc" -eq 0 ] && [ "$(driver_of "$d")" != kvio_assign ] ||
			why="$why unbind $d: exit $rc: $(tr '\n' ' ' <"$out/ungroup")"
	done
	# as they were
	[ "$wa" != kvio_assign ] || sh "$tool" bind "$a" >/dev/null 2>&1
	[ "$wb" != kvio_assign ] || sh "$tool" bind "$b" >/dev/null 2>&1
	if [ -z "$why" ]; then
		ktap_ok tool_bind_group
	else
		ktap_fail tool_bind_group "$why"
	fi
fi
ktap_finish
