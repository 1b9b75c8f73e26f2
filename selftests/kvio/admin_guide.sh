#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Documentation/admin-guide.rst, done as an operator would: each block
# under ".. kvio-run: NAME" runs as it stands, in the guide's order, with
# sh -e from the top of the repository, and then this script checks what
# the block should have done; one KTAP result per block, named by NAME.
# A block this script has no check for is a failure: a new block comes
# with its check.  The blocks under ".. kvio-example: TEST" are TEST's
# (lib/guide_blocks.sh, which make style runs too, sees that every block
# says who runs it).
#
# The guide loads kvio from the build tree and unloads it at the end: the
# modules the VM loaded are unloaded first, and loaded again at the end
# as they were.  Needs root, build/bench/kvio_bench (make check builds
# it), trace-cmd, taskset and debugfs.
#
# usage: admin_guide.sh [BINDIR]    (BINDIR is not used: the guide runs
#                                    what an operator has, from the repo)
set -u

here=$(cd "$(dirname "$0")" && pwd)
repo=${KVIO_REPO:-$(cd "$here/../.." && pwd)}
guide=$repo/Documentation/admin-guide.rst
scale=${KVIO_TIME_SCALE:-1}
# one block's limit: the longest runs kvio_bench for 10 s
BLOCK_SECS=$((120 * scale))
# shellcheck source=selftests/kvio/lib/ktap.sh
. "$here/lib/ktap.sh"

loaded() { grep -q "^$1 " /proc/modules; }

# kvio as the VM loaded it, to load it the same way at the end, whatever
# happens: the tests after this one need it.
was_loaded=
for m in kvio_net kvio_vhost; do
	loaded "$m" && was_loaded="$m $was_loaded"
done
# shellcheck disable=SC2317 # run by the EXIT trap
restore() {
	# fresh, with the default parameters, whatever a block left
	rmmod kvio_net kvio_vhost 2>/dev/null
	for m in $was_loaded; do
		insmod "$repo/build/$(uname -r)/$m.ko" ||
			echo "# could not load $m again"
	done
}

# Until the guide's blocks are known, a bail fails one result.
KTAP_NAMES=admin_guide
ktap_begin
out=$(mktemp -d "${TMPDIR:-/tmp}/kvio-guide.XXXXXX") || ktap_bail "mktemp failed"
trap 'restore; rm -rf "$out" /tmp/kvio.dat' EXIT
sh "$here/lib/guide_blocks.sh" extract "$guide" "$out" >"$out/extract.log" 2>&1 ||
	ktap_bail "the guide's blocks: $(head -n 3 "$out/extract.log" | tr '\n' ' ')"
KTAP_NAMES=$(cat "$out/names")
ktap_plan
[ "$(id -u)" -eq 0 ] || ktap_skip_all "must run as root"
kver=$(uname -r)
for f in "$repo/build/$kver/kvio_vhost.ko" "$repo/build/$kver/kvio_net.ko" \
	"$repo/build/bench/kvio_bench"; do
	[ -f "$f" ] || ktap_bail "$f is missing (make check builds it)"
done
for c in trace-cmd taskset modinfo timeout; do
	command -v "$c" >/dev/null 2>&1 || ktap_bail "$c is not installed"
done
[ -f /sys/kernel/debug/kvio/workers ] ||
	ktap_bail "no /sys/kernel/debug/kvio/workers (debugfs not mounted, or kvio not loaded)"

for m in kvio_net kvio_vhost; do
	if loaded "$m"; then
		rmmod "$m" || ktap_bail "cannot unload $m: in use?"
	fi
done

# $1's output has a line matching ERE $2.
has() { grep -Eq -- "$2" "$out/$1.out"; }

# The value of parameter $1 of kvio_vhost.
param() { cat "/sys/module/kvio_vhost/parameters/$1" 2>/dev/null; }

# What block $1 should have done; prints why not, returns non-zero.
check_block() {
	o=$out/$1.out
	case $1 in
	load)
		if [ ! -c /dev/kvio-net ]; then
			echo "no /dev/kvio-net"
			return 1
		fi
		# the modules of the build tree, not others of the same name
		for m in kvio_vhost kvio_net; do
			want=$(modinfo -F srcversion "$repo/build/$kver/$m.ko")
			got=$(cat "/sys/module/$m/srcversion" 2>/dev/null)
			if ! { [ -n "$want" ] && [ "$want" = "$got" ]; }; then
				echo "$m: srcversion '$got', the build tree's '$want'"
				return 1
			fi
		done
		if ! has load '^c.* /dev/kvio-net$'; then
			echo "ls showed no character device"
			return 1
		fi
		;;
	params)
		for p in max_mem_regions max_iotlb_entries poll_max_us devices_per_worker; do
			if ! has params "^$p:"; then
				echo "modinfo -p does not describe $p"
				return 1
			fi
			if ! has params "parameters/$p:$(param "$p")\$"; then
				echo "sysfs does not show $p"
				return 1
			fi
		done
		;;
	smoke)
		pps=$(sed -n 's/^RESULT .* pps=\([0-9]*\) .*/\1/p' "$o")
		used=$(sed -n 's/^RESULT .* used=\([0-9]*\) .*/\1/p' "$o")
		if ! { [ "${pps:-0}" -gt 0 ] && [ "${used:-0}" -gt 0 ]; }; then
			echo "no frames moved: pps '$pps', used '$used'"
			return 1
		fi
		;;
	pin)
		tid=$(sed -n 's/^worker \([1-9][0-9]*\) .*/\1/p' "$o" | head -n 1)
		if [ -z "$tid" ]; then
			echo "no worker listed"
			return 1
		fi
		if ! has pin "^Cpus_allowed_list:[[:space:]]*0\$"; then
			echo "worker $tid is not on CPU 0 alone"
			return 1
		fi
		if ! has pin "affinity list: 0\$"; then
			echo "taskset did not say it pinned it"
			return 1
		fi
		;;
	tune)
		if ! { has tune 'parameters/poll_max_us:0$' && has tune 'parameters/devices_per_worker:1$'; }; then
			echo "the new values did not show"
			return 1
		fi
		if ! { [ "$(param poll_max_us)" = 200 ] && [ "$(param devices_per_worker)" = 4 ]; }; then
			echo "not back to the defaults: $(param poll_max_us) $(param devices_per_worker)"
			return 1
		fi
		;;
	broken)
		# exactly the stopped rings the kernel log has, or the note
		want=$(dmesg | grep -c 'kvio_vhost: ring .* stopped')
		got=$(grep -c 'kvio_vhost: ring .* stopped' "$o")
		if [ "$want" != "$got" ]; then
			echo "$got lines of the log's $want"
			return 1
		fi
		if ! { [ "$want" -gt 0 ] || has broken '^no ring stopped since boot$'; }; then
			echo "neither lines nor the note"
			return 1
		fi
		;;
	trace)
		if ! has trace 'kvio_net_tx:.*frames=[1-9]'; then
			echo "no kvio_net_tx event with frames in the report"
			return 1
		fi
		;;
	debugfs)
		if ! has debugfs '^device [0-9]+ owner [1-9]'; then
			echo "no device with an owner"
			return 1
		fi
		if ! has debugfs '^ring 1$'; then
			echo "no TX ring"
			return 1
		fi
		if ! has debugfs 'kicks [0-9]+ frames [1-9]'; then
			echo "no frames counted while the traffic ran"
			return 1
		fi
		;;
	remove)
		if loaded kvio_net || loaded kvio_vhost; then
			echo "kvio is still loaded"
			return 1
		fi
		if [ -e /dev/kvio-net ]; then
			echo "/dev/kvio-net is still there"
			return 1
		fi
		;;
	*)
		echo "admin_guide.sh has no check for block $1"
		return 1
		;;
	esac
}

for name in $KTAP_NAMES; do
	(cd "$repo" && timeout -k 10 "$BLOCK_SECS" sh -e "$out/$name.sh") \
		>"$out/$name.out" 2>&1 </dev/null
	rc=$?
	sed "s/^/# $name: /" "$out/$name.out" | head -n 40
	if [ "$rc" -ne 0 ]; then
		ktap_fail "$name" "the block exited $rc"
	elif why=$(check_block "$name"); then
		ktap_ok "$name"
	else
		ktap_fail "$name" "$why"
	fi
done
ktap_finish
