#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kvio's tracepoints from the tools operators use: perf trace, trace-cmd
# and bpftrace each watch kvio:kvio_net_tx while net_trace's split test
# sends its 300 frames through one kvio-net device, and the frames the
# tool saw add up to exactly those (net_trace checks the events through
# tracefs itself; here it is only the traffic).
# usage: trace_tools.sh [BINDIR]
set -u

here=$(cd "$(dirname "$0")" && pwd)
bindir=$(cd "${1:-$here}" && pwd)
FRAMES=300		# net_trace.c NT_FRAMES
KTAP_NAMES="trace_cmd trace_bpftrace trace_perf"
# shellcheck source=selftests/kvio/lib/ktap.sh
. "$here/lib/ktap.sh"

ktap_plan
[ -c /dev/kvio-net ] || ktap_skip_all "/dev/kvio-net is missing: load kvio_net"
out=$(mktemp -d) || ktap_bail "mktemp failed"
trap 'rm -rf "$out"' EXIT
traffic="$bindir/net_trace -t split"	# one string for bpftrace -c
net_trace=$bindir/net_trace

# The sum of the frames of the kvio_net_tx lines of $1, fields written as
# "frames=N" or "frames: N" (perf leaves out fields that are zero).
sum_frames() {
	sed -n 's/.*kvio_net_tx.*frames[=:] *\([0-9][0-9]*\).*/\1/p' "$1" |
		awk '{ s += $1 } END { print s + 0 }'
}

# check NAME FILE STATUS: the tool ran, the traffic passed, the sum is right
check() {
	if [ "$3" -ne 0 ]; then
		ktap_fail "$1" "the tool or the traffic failed ($3): $(tail -n 3 "$2" | tr '\n' ' ')"
		return
	fi
	n=$(sum_frames "$2")
	if [ "$n" -eq "$FRAMES" ]; then
		ktap_ok "$1" "the $n frames sent"
	else
		ktap_fail "$1" "$n frames in the tool's kvio_net_tx events, $FRAMES sent"
		sed -n '1,5p;$p' "$2" | sed 's/^/#   /'
	fi
}

# trace-cmd: recorded into a file, then its report
(cd "$out" && trace-cmd record -q -e kvio:kvio_net_tx -o "$out/tc.dat" \
	"$net_trace" -t split >"$out/tc.log" 2>&1 &&
	trace-cmd report -i "$out/tc.dat" >"$out/tc.txt" 2>>"$out/tc.log")
st=$?
[ $st -ne 0 ] && cp "$out/tc.log" "$out/tc.txt"
check trace_cmd "$out/tc.txt" $st

# bpftrace: a sum kept in the kernel, printed at the end
# ("@kvio_net_tx_frames: N").  A kernel that cannot attach BPF programs to
# any tracepoint (no CONFIG_BPF_EVENTS: the debug kernel's fragment) skips
# it, as a kernel tracepoint shows first; any other failure of that probe
# is a failure.  The probe's command is an absolute path: with a merged
# /usr, bpftrace finds a bare "true" twice on PATH and refuses it.
if ! bpftrace -e 'tracepoint:sched:sched_process_exec { @n = count(); }' \
	-c /bin/true >"$out/bt0.txt" 2>&1; then
	why=$(grep -m 1 -i 'error' "$out/bt0.txt" || tail -n 1 "$out/bt0.txt")
	if grep -qi 'attach' "$out/bt0.txt"; then
		ktap_result_skip trace_bpftrace \
			"bpftrace cannot attach to sched:sched_process_exec here: $why"
	else
		ktap_fail trace_bpftrace "bpftrace's probe failed: $why"
	fi
else
	bpftrace -e 'tracepoint:kvio:kvio_net_tx { @kvio_net_tx_frames = sum(args->frames); }' \
		-c "$traffic" >"$out/bt.txt" 2>&1
	check trace_bpftrace "$out/bt.txt" $?
fi

# perf: the events as they happen.  Last: after perf trace, trace-cmd on
# 6.1 records nothing.
perf trace --no-syscalls -e kvio:kvio_net_tx -a -o "$out/perf.txt" -- \
	"$net_trace" -t split >"$out/perf.log" 2>&1
check trace_perf "$out/perf.txt" $?

ktap_finish
