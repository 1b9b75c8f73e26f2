#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # cleanup runs from a trap, hold and inject by name
#
# A real client, no VM: DPDK's testpmd drives the vhost device through its
# virtio-user port (vhost-kernel backend), whose other end is a tap.  Frames
# go both ways and are counted on both sides:
#
#   txonly   testpmd transmits for a few seconds; the tap must receive at
#            least 90% of what testpmd says it put on the ring, all 64 bytes
#            long (a mangled virtio-net header shows up as a wrong length);
#   rxonly   helper_rawsend transmits N frames on the tap; testpmd must
#            receive at least 90% of them, and no more than N;
#   io       the same, with testpmd sending each frame back (io retry: it
#            waits up to a second for room on a full TX ring): at least 90%
#            of N must come back to the tap.
#
# A dead data path fails all three: the tx ring fills after queue_size frames
# and nothing arrives on either side.
#
# Four testpmd sessions run them, one per ring mode of virtio-user, and
# each checks the features the PMD negotiated (VIRTIO_F_RING_PACKED,
# VIRTIO_F_IN_ORDER), so that a mode the device does not give fails:
#
#   split            in_order=0
#   inorder          in_order=1,mrg_rxbuf=0
#   packed           packed_vq=1,in_order=0
#   packed_inorder   packed_vq=1,in_order=1
#
# KVIO_DPDK_SESSIONS limits them (e.g. "split" for upstream vhost-net,
# which offers neither feature).
#
# usage: dpdk_virtio_user.sh [BINDIR]    (BINDIR holds helper_rawsend;
#                                         default: this script's directory)
# env:   KVIO_VHOST_DEV  the vhost-net device to test (default /dev/kvio-net)
#
# Needs root, /dev/net/tun and dpdk-testpmd (Debian: dpdk-dev and
# librte-net-virtio23).  No hugepages: testpmd runs on --no-huge memory,
# which virtio-user's vhost-kernel backend can use as it is.  Output: KTAP.

set -u

DEV=${KVIO_VHOST_DEV:-/dev/kvio-net}
here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-$here}
rawsend=$bindir/helper_rawsend
TAP=kvdpdk0
QSIZE=256
FRAMES=2000		# injected per phase, paced at RATE per second
RATE=2000
TX_SECONDS=5
MIN_TX=1000		# a dead path stops at QSIZE frames
TP_WAIT=180		# seconds, for anything testpmd should do (TCG is slow)

SESSIONS=${KVIO_DPDK_SESSIONS:-split inorder packed packed_inorder}
KTAP_NAMES=
for s in $SESSIONS; do
	for t in testpmd_start features txonly_to_tap tap_to_rxonly io_loopback; do
		KTAP_NAMES="$KTAP_NAMES ${s}_$t"
	done
done
tap_made=
tmp=

cleanup() {
	if [ -n "$tp_pid" ]; then
		kill "$tp_pid" 2>/dev/null
		wait "$tp_pid" 2>/dev/null
	fi
	[ -n "$tap_made" ] && ip link del "$TAP" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

field() { echo "$2" | cut -d' ' -f"$1"; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

stat_of() { cat "/sys/class/net/$TAP/statistics/$1"; }

# --- talking to testpmd ------------------------------------------------------

# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/lib/testpmd.sh
. "$here/lib/testpmd.sh"

# "rx_packets rx_bytes tx_packets tx_bytes" of the last "show port stats 0".
port_stats() {
	tail -n "+$((mark + 1))" "$tp_log" | awk '
	/RX-packets:/ { rp = $2; rb = $6 }
	/TX-packets:/ { print rp, rb, $2, $6; exit }'
}

# Run one forwarding mode: clear the counters, start, run $2, stop, and
# leave the forward statistics in $fwd and the port's in $pst.
run_mode() {
	tp_cmd "set fwd $1" "Set ${1%% *} packet forwarding mode" || return 1
	tp_cmd "clear port stats 0" "statistics for port 0 cleared" || return 1
	# "io packet forwarding packets/burst=32", "... with retry packets/burst=32"
	tp_cmd start "packet forwarding.* packets/burst=" || return 1
	$2
	tp_cmd stop "^Done\." || return 1
	fwd=$(tp_fwd_stats)
	# The device may still be working through the last ring-full.
	sleep 1
	tp_cmd "show port stats 0" "Tx-pps:" || return 1
	pst=$(port_stats)
	[ -n "$fwd" ] && [ -n "$pst" ]
}

inject() {
	sent=$("$rawsend" "$TAP" "$FRAMES" "$RATE")
	sent=${sent:-0}
	# Give the last frames time through the device before "stop".
	sleep 1
}

# --- setup -------------------------------------------------------------------

ktap_begin

command -v dpdk-testpmd >/dev/null 2>&1 ||
	ktap_skip_all "dpdk-testpmd not installed (Debian packages dpdk-dev librte-net-virtio23)"
command -v stdbuf >/dev/null 2>&1 || ktap_skip_all "stdbuf (coreutils) not installed"
[ "$(id -u)" -eq 0 ] || ktap_skip_all "must run as root"
[ -c /dev/net/tun ] || ktap_skip_all "no /dev/net/tun"

ktap_plan
ktap_diag "device $DEV, tap $TAP"
[ -c "$DEV" ] || ktap_bail "$DEV is not a character device (module not loaded?)"
[ -x "$rawsend" ] || ktap_bail "$rawsend is missing (build the selftests)"
ip link show "$TAP" >/dev/null 2>&1 && ktap_bail "$TAP exists already"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvio-dpdk.XXXXXX") || ktap_bail "mktemp failed"
tp_tap "$TAP" || ktap_bail "cannot set up $TAP"
tap_made=1

# --- one session per ring mode ---------------------------------------------

# The virtio-user arguments of session $1, and whether it must negotiate
# RING_PACKED and IN_ORDER ("packed inorder", 0 or 1 each).
session_args() {
	case $1 in
	split) echo "in_order=0 0 0" ;;
	inorder) echo "in_order=1,mrg_rxbuf=0 0 1" ;;
	packed) echo "packed_vq=1,in_order=0 1 0" ;;
	packed_inorder) echo "packed_vq=1,in_order=1 1 1" ;;
	*) return 1 ;;
	esac
}

session() { # name
	S=$1
	args=$(session_args "$S") || ktap_bail "unknown session $S"
	ktap_diag "session $S: $(field 1 "$args")"
	t0=$(now)
	tp_launch "$DEV" "$TAP" "$QSIZE" 4096 "$tmp/testpmd-$S.log" "$(field 1 "$args")" ||
		ktap_bail "cannot start testpmd"

	if tp_wait 0 '^testpmd> ' && grep -q '^Port 0: ' "$tp_log"; then
		ktap_ok "${S}_testpmd_start"
		ktap_diag "$(grep -m1 -o 'DPDK [0-9.]*' "$tp_log"): testpmd ready in $(elapsed "$t0") s"
	else
		sed 's/^/# testpmd: /' "$tp_log"
		ktap_bail "testpmd did not start its port on $DEV"
	fi

	feat=$(tp_features)
	if [ -n "$feat" ]; then
		fp=$(( (0x$feat >> 34) & 1 ))
		fo=$(( (0x$feat >> 35) & 1 ))
		if [ "$fp $fo" = "$(field 2 "$args") $(field 3 "$args")" ]; then
			ktap_ok "${S}_features" "negotiated 0x$feat: RING_PACKED $fp, IN_ORDER $fo"
		else
			ktap_fail "${S}_features" "negotiated 0x$feat: RING_PACKED $fp, IN_ORDER $fo; wanted $(field 2 "$args") $(field 3 "$args")"
		fi
	else
		ktap_fail "${S}_features" "the virtio PMD did not log the features it negotiated"
	fi

	# --- txonly: testpmd -> device -> tap --------------------------------------

	hold() { sleep "$TX_SECONDS"; }

	rx0=$(stat_of rx_packets)
	rxb0=$(stat_of rx_bytes)
	run_mode txonly hold || ktap_bail "testpmd did not run txonly"
	tx=$(field 2 "$fwd")
	got=$(($(stat_of rx_packets) - rx0))
	gotb=$(($(stat_of rx_bytes) - rxb0))
	ktap_diag "txonly: testpmd sent $tx frames in ${TX_SECONDS} s, the tap received $got ($((got / TX_SECONDS)) frames/s), $gotb bytes"
	if [ "$tx" -lt "$MIN_TX" ]; then
		ktap_diag "testpmd could put only $tx frames on the ring: the device does not consume them"
		ktap_fail "${S}_txonly_to_tap"
	elif [ $((got * 10)) -lt $((tx * 9)) ] || [ "$got" -gt "$tx" ]; then
		ktap_diag "the tap received $got of $tx frames"
		ktap_fail "${S}_txonly_to_tap"
	elif [ "$gotb" -ne $((got * 64)) ]; then
		ktap_diag "frames on the tap are not all 64 bytes long: $gotb bytes in $got frames"
		ktap_fail "${S}_txonly_to_tap"
	else
		ktap_ok "${S}_txonly_to_tap"
	fi

	# --- rxonly: tap -> device -> testpmd --------------------------------------

	txd0=$(stat_of tx_dropped)
	run_mode rxonly inject || ktap_bail "testpmd did not run rxonly"
	rx=$(field 1 "$fwd")
	rxb=$(field 2 "$pst")
	ktap_diag "rxonly: $sent frames sent on the tap, testpmd received $rx ($rxb bytes), tap dropped $(($(stat_of tx_dropped) - txd0))"
	if [ "$sent" -ne "$FRAMES" ]; then
		ktap_diag "helper_rawsend sent $sent of $FRAMES frames"
		ktap_fail "${S}_tap_to_rxonly"
	elif [ $((rx * 10)) -lt $((FRAMES * 9)) ] || [ "$rx" -gt "$FRAMES" ]; then
		ktap_diag "testpmd received $rx of $FRAMES frames"
		ktap_fail "${S}_tap_to_rxonly"
	elif [ "$rxb" -ne $((rx * 64)) ]; then
		ktap_diag "testpmd's frames are not all 64 bytes long: $rxb bytes in $rx frames"
		ktap_fail "${S}_tap_to_rxonly"
	else
		ktap_ok "${S}_tap_to_rxonly"
	fi

	# --- io: tap -> device -> testpmd -> device -> tap -------------------------

	# testpmd waits for room on a full TX ring, up to a second a burst,
	# as vhost loopback setups run it: a worker descheduled for a moment
	# (a loaded host stops a TCG vCPU for tens of milliseconds) costs no
	# frames, a TX path that stops consuming still loses all but a ring.
	tp_cmd "set burst tx delay 1000 retry $((1000 * ${KVIO_TIME_SCALE:-1}))" "" ||
		ktap_bail "testpmd did not take its TX retry settings"
	rx0=$(stat_of rx_packets)
	run_mode "io retry" inject || ktap_bail "testpmd did not run io"
	back=$(($(stat_of rx_packets) - rx0))
	ktap_diag "io: $sent frames sent on the tap, testpmd received $(field 1 "$fwd") and sent $(field 2 "$fwd"), $back came back"
	if [ "$sent" -ne "$FRAMES" ] || [ $((back * 10)) -lt $((FRAMES * 9)) ] ||
		[ "$back" -gt "$FRAMES" ]; then
		ktap_fail "${S}_io_loopback"
	else
		ktap_ok "${S}_io_loopback"
	fi

	t1=$(now)
	echo quit >&3
	tp_wait 0 '^Bye' || ktap_diag "testpmd did not quit cleanly"
	wait "$tp_pid"
	rc=$?
	tp_pid=
	ktap_diag "testpmd exited with status $rc in $(elapsed "$t1") s"
}

for s in $SESSIONS; do
	session "$s"
done
ktap_finish
