# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Driving dpdk-testpmd over virtio-user on a vhost device, sourced by
# dpdk_virtio_user.sh and tools/bench/bench.sh.
#
# testpmd runs interactively with its stdin on a fifo that the caller keeps
# open (fd 3) and its output in $tp_log, line-buffered through stdbuf so
# that each command's answer is there to read as soon as testpmd prints it.
# TP_WAIT: seconds allowed for anything testpmd should do (TCG is slow).

tp_pid=
tp_log=
TP_WAIT=$((${TP_WAIT:-180} * ${KVIO_TIME_SCALE:-1}))

# A tap for virtio-user's iface=: multiqueue, since virtio-user opens it
# that way whenever tun supports it and tun refuses a multiqueue open of a
# single-queue device; no IPv6 autoconfiguration frames in its counters.
tp_tap() { # name
	ip tuntap add dev "$1" mode tap multi_queue || return 1
	if [ -w "/proc/sys/net/ipv6/conf/$1/disable_ipv6" ]; then
		echo 1 >"/proc/sys/net/ipv6/conf/$1/disable_ipv6"
	fi
	ip link set "$1" up
}

# Start testpmd on device $1 with tap $2, rings of $3, $4 mbufs, its log
# in file $5 (its command fifo beside it), and $6, if given, more
# virtio-user arguments (packed_vq=1,in_order=0, ...).  Lcore 0 reads
# commands, lcore 1 forwards; the virtio PMD logs the features it
# negotiated (tp_features).  Returns once the command fifo is open.
tp_launch() { # dev tap qsize mbufs log [vdev-args]
	tp_log=$5
	: >"$tp_log"
	rm -f "$tp_log.in"
	mkfifo "$tp_log.in" || return 1
	# Read-write, so that the open does not wait for a reader.
	exec 3<>"$tp_log.in"
	stdbuf -oL -eL dpdk-testpmd -v --no-huge -m 128 --no-pci --no-shconf \
		-l 0-1 --no-telemetry --log-level=lib.eal:warning \
		--log-level=pmd.net.virtio.init:debug \
		"--vdev=virtio_user0,path=$1,queues=1,queue_size=$3,iface=$2${6:+,$6}" \
		-- -i --rxd="$3" --txd="$3" --total-num-mbufs="$4" \
		<&3 >"$tp_log" 2>&1 &
	tp_pid=$!
}

# Wait until a line matching ERE $2 appears after line $1 of the log,
# while testpmd lives.
tp_wait() { # mark regex
	deadline=$(($(date +%s) + TP_WAIT))
	while :; do
		alive=0
		kill -0 "$tp_pid" 2>/dev/null && alive=1
		tail -n "+$(($1 + 1))" "$tp_log" | grep -Eq -- "$2" && return 0
		[ "$alive" = 1 ] && [ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# Send a command; wait for the line that ends its answer.  $mark is the
# log line the answer starts after.
tp_cmd() { # command regex
	mark=$(wc -l <"$tp_log")
	echo "$1" >&3
	tp_wait "$mark" "$2"
}

# "rx tx" packets of the last "stop" (its forward statistics for port 0).
tp_fwd_stats() {
	tail -n "+$((mark + 1))" "$tp_log" | awk '
	/Forward statistics for port 0/ { f = 1; next }
	f && /RX-packets:/ { rx = $2 }
	f && /TX-packets:/ { print rx, $2; exit }'
}

# The features the virtio PMD negotiated with the device, in hex (empty if
# it did not say).
tp_features() {
	sed -n 's/.*features after negotiate = \([0-9a-fA-F]*\).*/\1/p' "$tp_log" |
		tail -n 1
}
