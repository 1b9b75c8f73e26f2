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
#
# usage: assign_tool.sh    (as root)
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=${KVIO_REPO:-$(cd "$here/../.." && pwd)}
tool=$repo/tools/kvio-assign
KTAP_NAMES="tool_status tool_bind_unbind tool_bdf_strict tool_sysfs_root"
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
ktap_finish
