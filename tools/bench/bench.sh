#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark workloads, run inside one test VM (tools/vm/run) against
# upstream vhost-net and kvio-net, alternating: each round runs every
# workload on both devices, the first device of a round alternating, so
# that drift in the machine's speed hits both alike.  Appends one CSV row
# per measurement to OUT:
#
#   round,device,driver,workload,metric,value
#
# usage: bench.sh TOP OUT [ROUNDS]   (OUT "-": $KVIO_OUT/bench.csv, the
#                                     runner's out directory; the rest of
#                                     the guest's files stay in the VM)
# env:   KVIO_BENCH_SECS     seconds per throughput measurement (default 4)
#        KVIO_BENCH_ONLY     workloads to run, a list of words out of
#                            harness trace rings iotlb latency multi
#                            testpmd nested
#                            (default all; nested boots a nested guest per
#                            device and round, about 75 s each)
#        KVIO_BENCH_INSN     1: QEMU runs the kvio_insn plugin; each
#                            kvio_bench measurement gets a window id
#                            (--insn-id), and OUT's directory insn.map
#                            says what each window measured:
#                            id,round,device,driver,workload,packets
#        KVIO_BENCH_PROFILE  1: the plugin profiles too; the guest's
#                            /proc/kallsyms goes to guest-kallsyms in
#                            OUT's directory
#
# "rings": kvio-net's packed rings, IN_ORDER and both (kvio_bench --vq)
# against upstream's split ring, 64-byte TX and RX: upstream offers
# neither, so its split result is its row for each of kvio's formats.
#
# "iotlb": 64-byte TX and RX with VIRTIO_F_ACCESS_PLATFORM on both
# devices (tx64_iotlb, rx64_iotlb), rings and buffers at IOVAs that two
# IOTLB entries translate, sent before the rings start: translations
# warm, no miss while measuring (kvio_bench --iotlb warm); and the same
# with rings of 1024 mapped one 4 KiB entry per page (tx64_iotlb_4k,
# rx64_iotlb_4k: --iotlb pages), so that a ring area spans entries.
#
# "trace": tx64 again (tx64_traced) with every kvio event on, in a
# tracefs instance of its own; on both devices, so that its rows compare
# as the others (upstream has no events there: its row is tx64 once
# more).  kvio-net's tx64_traced against its tx64 is what its tracing
# costs when on; its events_per_pkt row, the events it wrote per frame,
# bounds what they cost when off: a disabled tracepoint is one NOP.
set -u

top=$1
out=$2
[ "$out" = - ] && out=${KVIO_OUT:?not in a tools/vm/run guest}/bench.csv
rounds=${3:-3}
secs=${KVIO_BENCH_SECS:-4}
only=${KVIO_BENCH_ONLY:-harness trace rings iotlb latency multi testpmd nested}
bench=$top/build/bench/kvio_bench
rawsend=$top/build/selftests/helper_rawsend
TAP=kvbp0
QSIZE=256

note() { echo "bench: $*" >&2; }
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

# row round device driver workload metric value
row() { echo "$1,$2,$3,$4,$5,$6" >>"$out"; }

# kvio_insn windows: the next id, and where their meaning goes.
insn_id=0
insn_map=$(dirname "$out")/insn.map
if [ "${KVIO_BENCH_PROFILE:-0}" = 1 ]; then
	echo 0 >/proc/sys/kernel/kptr_restrict
	# (not "kallsyms": tools/vm/run keeps that name for itself)
	cat /proc/kallsyms >"$(dirname "$out")/guest-kallsyms"
fi
insn_args() { [ "${KVIO_BENCH_INSN:-0}" = 1 ] && echo "--insn-id $insn_id"; }
# RESULT line $1 closed the window: it measured workloads $4... of round
# $2 on device $3.
insn_note() { # line round dev workload...
	[ "${KVIO_BENCH_INSN:-0}" = 1 ] || return 0
	_l=$1 _r=$2 _d=$3
	shift 3
	_p=$(echo "$_l" | tr ' ' '\n' | sed -n 's/^pkts=//p')
	for _w; do
		echo "$insn_id,$_r,$_d,harness,$_w,${_p:-0}" >>"$insn_map"
	done
	insn_id=$((insn_id + 1))
}

# The RESULT line of kvio_bench: its key=value pairs as rows, for the
# metrics named in $5.
harness() { # round dev workload metrics args...
	r=$1 d=$2 w=$3 m=$4
	shift 4
	# shellcheck disable=SC2046 # no arguments or two
	line=$("$bench" "/dev/$d" "$@" $(insn_args) 2>"$tmpd/err" |
		grep '^RESULT ' | tail -n 1)
	if [ -z "$line" ]; then
		note "$d $w: kvio_bench failed: $(tail -n 3 "$tmpd/err")"
		insn_id=$((insn_id + 1))
		return 1
	fi
	insn_note "$line" "$r" "$d" "$w"
	for k in $m; do
		v=$(echo "$line" | tr ' ' '\n' | sed -n "s/^$k=//p")
		[ -n "$v" ] && row "$r" "$d" harness "$w" "$k" "$v"
	done
	note "$d $w: $line"
}

# --- ring formats -------------------------------------------------------------

RING_FORMATS="packed in_order packed_in_order"

rings_round() { # round dev
	for dir in tx rx; do
		if [ "$2" = vhost-net ]; then
			# shellcheck disable=SC2046 # no arguments or two
			line=$("$bench" "/dev/$2" "$dir" --size 64 --secs "$secs" \
				$(insn_args) 2>"$tmpd/err" | grep '^RESULT ' | tail -n 1)
			if [ -z "$line" ]; then
				note "$2 $dir rings: kvio_bench failed: $(tail -n 3 "$tmpd/err")"
				insn_id=$((insn_id + 1))
				continue
			fi
			# shellcheck disable=SC2046 # the formats, split on purpose
			insn_note "$line" "$1" "$2" $(for f in $RING_FORMATS; do echo "${dir}64_$f"; done)
			note "$2 ${dir}64 split (for the ring rows): $line"
			for f in $RING_FORMATS; do
				for k in pps worker_ns_per_pkt; do
					v=$(echo "$line" | tr ' ' '\n' | sed -n "s/^$k=//p")
					[ -n "$v" ] && row "$1" "$2" harness "${dir}64_$f" "$k" "$v"
				done
			done
			continue
		fi
		for f in $RING_FORMATS; do
			harness "$1" "$2" "${dir}64_$f" "pps worker_ns_per_pkt" \
				"$dir" --size 64 --secs "$secs" --vq "$f"
		done
	done
}

# --- the tracepoints' cost ----------------------------------------------------

TR=/sys/kernel/tracing
# Made with record-cmd off, as selftests/kvio/ktrace.c makes its own:
# task names would hook the scheduler's tracepoints, whose patching the
# outer TCG races with.
trace_round() { # round dev
	inst=$TR/instances/kvio-bench
	if [ ! -d $TR/instances ] && ! mount -t tracefs tracefs $TR; then
		note "no tracefs: no trace rows"
		return 1
	fi
	was=$(cat $TR/options/record-cmd)
	echo 0 >$TR/options/record-cmd
	mkdir "$inst"
	made=$?
	echo "$was" >$TR/options/record-cmd
	if [ "$made" != 0 ] || ! echo 32768 >"$inst/buffer_size_kb" ||
		! echo 1 >"$inst/events/kvio/enable"; then
		note "cannot trace in $inst: no trace rows"
		rmdir "$inst" 2>/dev/null
		return 1
	fi
	line=
	harness "$1" "$2" tx64_traced "pps worker_ns_per_pkt" \
		tx --size 64 --secs "$secs"
	echo 0 >"$inst/events/kvio/enable"
	if [ "$2" = kvio-net ] && [ -n "$line" ]; then
		# every event written, the ones the buffer had to drop too
		ev=$(grep -vc '^#' "$inst/trace")
		lost=$(cat "$inst"/per_cpu/cpu*/stats |
			awk '/^(overrun|dropped events):/ { s += $NF } END { print s + 0 }')
		used=$(echo "$line" | tr ' ' '\n' | sed -n 's/^used=//p')
		if [ "${used:-0}" -gt 0 ]; then
			epp=$(awk "BEGIN { printf \"%.4f\", ($ev + $lost) / $used }")
			row "$1" "$2" harness tx64_traced events_per_pkt "$epp"
			note "$2 tx64_traced: $ev events (+$lost dropped) for $used frames: $epp per frame"
		fi
	fi
	rmdir "$inst"
}

# --- dpdk-testpmd over virtio-user ------------------------------------------

# shellcheck source=SCRIPTDIR/../../selftests/kvio/lib/testpmd.sh
. "$top/selftests/kvio/lib/testpmd.sh"

cleanup() {
	[ -n "$tp_pid" ] && kill "$tp_pid" 2>/dev/null
	ip link del "$TAP" 2>/dev/null
	rm -rf "$tmpd"
}
tmpd=$(mktemp -d /tmp/kvio-bench.XXXXXX) || exit 1
trap cleanup EXIT

tp_start() { # dev
	tp_tap "$TAP" || return 1
	tp_launch "/dev/$1" "$TAP" "$QSIZE" 8192 "$tmpd/testpmd.log" || return 1
	tp_wait 0 '^testpmd> '
}

tp_stop() {
	echo quit >&3
	i=0
	while kill -0 "$tp_pid" 2>/dev/null && [ "$i" -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	kill "$tp_pid" 2>/dev/null
	wait "$tp_pid" 2>/dev/null
	tp_pid=
	exec 3>&-
	ip link del "$TAP" 2>/dev/null
}

# One forwarding run of $secs seconds in mode $1 with frames of $2 bytes;
# $3: what feeds the port meanwhile (rxonly and io), or "sleep".
tp_run() { # mode size feeder
	tp_cmd "set fwd $1" "Set $1 packet forwarding mode" || return 1
	tp_cmd "set txpkts $2" "" || return 1
	tp_cmd "clear port stats 0" "statistics for port 0 cleared" || return 1
	tp_cmd start "forwarding packets/burst" || return 1
	if [ "$3" = sleep ]; then
		sleep "$secs"
	else
		# Far more than the device can take in $secs: unpaced.
		"$rawsend" "$TAP" 100000000 1000000000 "$2" >/dev/null &
		fp=$!
		sleep "$secs"
		kill "$fp" 2>/dev/null
		wait "$fp" 2>/dev/null
	fi
	tp_cmd stop "^Done\." || return 1
	tp_fwd_stats
}

testpmd_round() { # round dev
	if ! tp_start "$2"; then
		note "$2: testpmd did not start"
		sed 's/^/bench: testpmd: /' "$tp_log" >&2
		tp_stop
		return 1
	fi
	for s in 64 1500; do
		set -- "$1" "$2"
		f=$(tp_run txonly "$s" sleep) &&
			row "$1" "$2" testpmd "tx$s" pps "$(($(echo "$f" | cut -d' ' -f2) / secs))"
		f=$(tp_run rxonly "$s" feed) &&
			row "$1" "$2" testpmd "rx$s" pps "$(($(echo "$f" | cut -d' ' -f1) / secs))"
	done
	f=$(tp_run io 64 feed) &&
		row "$1" "$2" testpmd io64 pps "$(($(echo "$f" | cut -d' ' -f2) / secs))"
	note "$2: testpmd round $1 done"
	tp_stop
}

# --- a nested guest ---------------------------------------------------------

nested_round() { # round dev
	line=$(sh "$top/tools/bench/nested_iperf.sh" "/dev/$2" 2>"$tmpd/err" |
		grep '^RESULT ' | tail -n 1)
	if [ -z "$line" ]; then
		note "$2 nested: $(tail -n 5 "$tmpd/err")"
		return 1
	fi
	for k in g2h_mbps h2g_mbps rtt_ms; do
		v=$(echo "$line" | tr ' ' '\n' | sed -n "s/^$k=//p")
		[ -n "$v" ] && row "$1" "$2" nested iperf3 "$k" "$v"
	done
	note "$2 nested: $line"
}

# --- the rounds -------------------------------------------------------------

[ -x "$bench" ] || { note "$bench missing"; exit 1; }
[ -f "$out" ] || echo "round,device,driver,workload,metric,value" >"$out"
note "$(uname -r), $(nproc) CPUs, $rounds rounds of $secs s per measurement"
r=1
while [ "$r" -le "$rounds" ]; do
	if [ $((r % 2)) = 1 ]; then
		devs="vhost-net kvio-net"
	else
		devs="kvio-net vhost-net"
	fi
	for d in $devs; do
		if want harness; then
			for s in 64 1500; do
				harness "$r" "$d" "tx$s" "pps worker_ns_per_pkt" \
					tx --size "$s" --secs "$secs"
				harness "$r" "$d" "rx$s" "pps worker_ns_per_pkt" \
					rx --size "$s" --secs "$secs"
			done
		fi
		want trace && trace_round "$r" "$d"
		want rings && rings_round "$r" "$d"
		if want iotlb; then
			for dir in tx rx; do
				harness "$r" "$d" "${dir}64_iotlb" "pps worker_ns_per_pkt" \
					"$dir" --size 64 --secs "$secs" --iotlb warm
				harness "$r" "$d" "${dir}64_iotlb_4k" "pps worker_ns_per_pkt" \
					"$dir" --size 64 --secs "$secs" --iotlb pages \
					--ring 1024
			done
		fi
		if want latency; then
			harness "$r" "$d" pingpong "p50_us p99_us" pingpong --size 64 --count 2000
			harness "$r" "$d" pingpong_2cpu "p50_us p99_us" pingpong --size 64 \
				--count 2000 --pin split
		fi
		if want multi; then
			harness "$r" "$d" "8dev_1owner" "pps workers worker_ns_per_pkt" \
				tx --size 64 --secs "$secs" --devices 8
			harness "$r" "$d" "8dev_8owners" "pps workers worker_ns_per_pkt" \
				tx --size 64 --secs "$secs" --owners 8
		fi
		want testpmd && testpmd_round "$r" "$d"
		want nested && nested_round "$r" "$d"
	done
	r=$((r + 1))
done
