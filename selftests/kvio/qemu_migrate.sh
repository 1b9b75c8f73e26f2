#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # migrate_cleanup runs from the library's trap
#
# Live migration of a running guest whose NIC is served by the vhost device
# under test.  Two QEMU processes in this VM: the source runs a small Linux
# guest with -netdev tap,vhost=on,vhostfd=N; the destination waits with
# -incoming on a unix socket and its own vhost fd and tap.  Both taps sit in
# one bridge, which carries this host's address, as two hosts of a cluster
# would share a LAN.
#
# The guest pings the host all along and streams a file each way, paced so
# that the streams span the migration; it reads the host's stream slowly,
# so that its socket holds received data, in buffers the device wrote, when
# it stops on the source.  The rings carry on from the indexes the source's
# device handed back (VHOST_GET_VRING_BASE), and the device logs what it
# writes while memory is being copied (VHOST_F_LOG_ALL, VHOST_SET_LOG_BASE).
# Once on the destination, the guest takes and sends one more file.
#
# What this cannot see: a missing log of receive buffers.  Linux's
# virtio_net writes into the pages of the buffers it takes back (the skb's
# shared info), so QEMU copies them again anyway; with that log switched
# off in kvio, every part of this test still passed.  net_datapath checks
# the dirty log page by page instead.
#
#   nested_boot        the guest came up on the source and pings the host
#   migration          QEMU reported "completed"; the source is paused
#   vhost_on_both      no vhost failure in either QEMU's log, and each
#                      QEMU's worker for the device exists and has run
#   stream_to_guest    the host -> guest file, read at a slow pace,
#                      arrived intact
#   stream_from_guest  and the paced guest -> host file
#   resumed            after the migration the guest, now run by the
#                      destination, answers pings and moves a file each way
#   guest_pings        the guest's own pings across the migration: most
#                      answered, the last ones after it among them
#
# With KVIO_NESTED_RING=packed (qemu_migrate_packed.sh) the NIC has
# packed=on on both sides, the ring state crosses in the packed layout of
# VHOST_GET/SET_VRING_BASE (positions and wrap counters), and one more
# check runs:
#
#   ring_format        the guest's driver negotiated VIRTIO_F_RING_PACKED,
#                      and still has it after the migration
#
# usage: qemu_migrate.sh          (same environment as qemu_vhostfd.sh:
#                                  KVIO_VHOST_DEV, KVIO_NESTED_KERNEL,
#                                  KVIO_NESTED_RING, KVIO_NESTED_ACCEL)
# Creates the bridge kvmbr0 and the taps kvm0 and kvm1, 192.168.79.0/24:
# run it in a throwaway VM (tools/vm/run).
# Output: KTAP, with the timings and the migration's statistics as
# diagnostics.

set -u

DEV=${KVIO_VHOST_DEV:-/dev/kvio-net}
here=$(cd "$(dirname "$0")" && pwd)
ACCEL=${KVIO_NESTED_ACCEL:-auto}
BR=kvmbr0
TAP_SRC=kvm0
TAP_DST=kvm1
HOST=192.168.79.1
GUEST=192.168.79.2
MAC=52:54:00:79:00:02
CHUNK_KB=16		# the paced streams: CHUNKS pieces of CHUNK_KB,
CHUNKS=48		# one every PACE seconds, each way
PACE=0.5
POST_KB=256		# after the migration, each way
P_H2G=5101
P_G2H=5102
P_POST_H2G=5103		# the guest listens on this one
P_POST_G2H=5104
MIGRATE_AFTER=4		# seconds of streaming before the migration starts
MIGRATE_WAIT=300	# seconds the migration may take
BOOT_WAIT=600
RUN_WAIT=300

KTAP_NAMES="nested_boot migration vhost_on_both stream_to_guest stream_from_guest
resumed guest_pings"
RING=${KVIO_NESTED_RING:-split}
case $RING in
split) NIC_OPT= ;;
packed)
	NIC_OPT=,packed=on
	KTAP_NAMES="$KTAP_NAMES ring_format"
	;;
*)
	echo "KVIO_NESTED_RING=$RING: split or packed" >&2
	exit 1
	;;
esac

src=
dst=
# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/lib/vmimage.sh
. "$here/lib/vmimage.sh"
# shellcheck source=SCRIPTDIR/lib/nested.sh
. "$here/lib/nested.sh"

migrate_cleanup() {
	# The runner's out directory keeps the consoles and monitor logs.
	if [ -n "${KVIO_OUT:-}" ] && [ -n "$tmp" ]; then
		mkdir -p "$KVIO_OUT/migrate"
		cp "$tmp"/*.console "$tmp"/*.monitor "$tmp"/*.log \
			"$KVIO_OUT/migrate/" 2>/dev/null
	fi
	for p in $src $dst; do
		kill "$p" 2>/dev/null
	done
	ip link del "$BR" 2>/dev/null
}
cleanup_extra=migrate_cleanup

# The guest's /init.  The paced streams start once the host is reachable;
# the guest then waits for the host's post-migration file, answers with
# its own, and reports its pings.
write_guest_init() {
	nested_init_head
	cat <<'EOF'
ifc=$(net_up "$MAC" "$GUEST")
say ring "$(cut -c35 "/sys/class/net/$ifc/device/features")"
ping_wait "$HOST"
say first-ping "$(up)" "$tries"

ping -i 0.2 "$HOST" >/ping.log 2>&1 &
pinger=$!

head -c $((CHUNK_KB * CHUNKS * 1024)) /dev/urandom >/out
say streaming "$(up)"
(
	i=0
	while [ "$i" -lt "$CHUNKS" ]; do
		dd if=/out bs=$((CHUNK_KB * 1024)) skip="$i" count=1 2>/dev/null
		sleep "$PACE"
		i=$((i + 1))
	done
) | nc "$HOST" "$P_G2H" &
sender=$!
# Read the host's stream at the same pace, while the host sends as fast
# as it can: the socket stays full of data that the device wrote into
# receive buffers and the guest has not yet copied out, also when it stops
# on the source.
nc "$HOST" "$P_H2G" <&7 | {
	i=0
	while [ "$i" -lt "$CHUNKS" ]; do
		dd bs=$((CHUNK_KB * 1024)) count=1 iflag=fullblock 2>/dev/null
		sleep "$PACE"
		i=$((i + 1))
	done
	cat
} >/in
wait "$sender"
say stream-h2g "$(sum /in)" "$(wc -c </in)"
say stream-g2h "$(sum /out)" "$(wc -c </out)"

say waiting "$(up)"
nc -l -p "$P_POST_H2G" <&7 >/post_in
say post-h2g "$(sum /post_in)" "$(wc -c </post_in)"
say ring-after "$(cut -c35 "/sys/class/net/$ifc/device/features")"
head -c $((POST_KB * 1024)) /dev/urandom >/post_out
send "$HOST" "$P_POST_G2H" /post_out post-g2h

kill -INT "$pinger"
wait "$pinger"
say pings "$(grep -c 'bytes from' /ping.log)" \
	"$(grep 'bytes from' /ping.log | tail -n 1 | sed -n 's/.*seq=\([0-9]*\).*/\1/p')" \
	"$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /ping.log)"
say 'done' "$(up)"
exec sleep 3600
EOF
}

write_guest_conf() {
	cat <<EOF
HOST=$HOST GUEST=$GUEST MAC=$MAC CHUNK_KB=$CHUNK_KB CHUNKS=$CHUNKS PACE=$PACE
POST_KB=$POST_KB P_H2G=$P_H2G P_G2H=$P_G2H P_POST_H2G=$P_POST_H2G
P_POST_G2H=$P_POST_G2H
EOF
}

# One QEMU: $1 its name (src or dst), $2 its tap, the rest more arguments.
# Its monitor reads commands from the fifo $tmp/$1.mon.in.
start_qemu() { # name tap [args...]
	name=$1 tap=$2
	shift 2
	mkfifo "$tmp/$name.mon.in" "$tmp/$name.mon.out" || return 1
	nested_qemu "$name" 1 \
		-chardev "pipe,id=mon,path=$tmp/$name.mon" -mon chardev=mon \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=on,vhostfd=3" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC,romfile=$NIC_OPT" "$@"
	cat "$tmp/$name.mon.out" >"$tmp/$name.monitor" &
	bg_pids="$bg_pids $!"
}

monitor() { # name command
	echo "$2" >"$tmp/$1.mon.in"
}

# The migration's status as the source's monitor last printed it.
mig_status() {
	tr -d '\r' <"$tmp/src.monitor" |
		sed -n 's/^Migration status: \([a-z-]*\).*/\1/p' | tail -n 1
}

# The host -> guest stream, and the receiver of the guest's.
start_streams() {
	head -c $((CHUNK_KB * CHUNKS * 1024)) /dev/urandom >"$tmp/h2g"
	nested_serve "$P_H2G" "$tmp/h2g"
	nested_take "$P_G2H" "$tmp/g2h"
	head -c $((POST_KB * 1024)) /dev/urandom >"$tmp/post_h2g"
	nested_take "$P_POST_G2H" "$tmp/post_g2h"
}

# The guest's last line $1, from the destination's console, else the
# source's (the guest says it on whichever QEMU runs it at the time).
said() { # key
	nested_console_say "$1" "$tmp/dst.console" | grep . ||
		nested_console_say "$1" "$tmp/src.console"
}

# --- setup ------------------------------------------------------------------

ktap_begin
nested_require
modprobe -q bridge 2>/dev/null
[ -d /sys/module/bridge ] || ktap_skip_all "no bridge module"

ktap_plan
ktap_diag "device $DEV, guest kernel $kver, $(qemu-system-x86_64 --version | head -n 1)"
[ -c "$DEV" ] || ktap_bail "$DEV is not a character device (module not loaded?)"
for t in $BR $TAP_SRC $TAP_DST; do
	ip link show "$t" >/dev/null 2>&1 && ktap_bail "$t exists already"
done

nested_tmp mig || ktap_bail "cannot make a scratch directory"
write_guest_init >"$tmp/init"
write_guest_conf >"$tmp/conf"
nested_initramfs "$kver" "$tmp/init" "$tmp/conf" "$tmp/initramfs.cpio" ||
	ktap_bail "cannot build the guest's initramfs"
nested_pick_boot "$kver"

ip link add "$BR" type bridge || ktap_bail "cannot create $BR"
if [ -w "/proc/sys/net/ipv6/conf/$BR/disable_ipv6" ]; then
	echo 1 >"/proc/sys/net/ipv6/conf/$BR/disable_ipv6"
fi
ip link set "$BR" type bridge forward_delay 0 stp_state 0 2>/dev/null
{ ip addr add "$HOST/24" dev "$BR" && ip link set "$BR" up; } ||
	ktap_bail "cannot set up $BR"
for t in $TAP_SRC $TAP_DST; do
	{ nested_tap "$t" && ip link set "$t" master "$BR"; } ||
		ktap_bail "cannot set up $t"
done

nested_pick_accel
start_streams

# --- the source -------------------------------------------------------------

t_qemu=$(nested_now)
start_qemu src "$TAP_SRC" || ktap_bail "cannot start the source QEMU"
src=$qpid
booted=
if nested_wait_console init "$tmp/src.console" "$BOOT_WAIT" "$src" &&
	nested_wait_console first-ping "$tmp/src.console" "$RUN_WAIT" "$src"; then
	booted=1
fi
fp=$(nested_console_say first-ping "$tmp/src.console")
if [ -n "$booted" ] && [ "$(nested_field 2 "$fp")" -lt 60 ]; then
	ktap_result ok nested_boot "under $ACCEL: the host answered $(nested_since "$t_qemu") s after QEMU started"
else
	sed 's/^/# src qemu: /' "$tmp/src.log"
	tail -n 10 "$tmp/src.console" | tr -d '\r' | sed 's/^/# guest: /'
	ktap_bail "the guest did not come up on the source (first ping: '$fp')"
fi

# --- the migration ----------------------------------------------------------

start_qemu dst "$TAP_DST" -incoming "unix:$tmp/mig.sock" ||
	ktap_bail "cannot start the destination QEMU"
dst=$qpid
nested_wait_console streaming "$tmp/src.console" 60 "$src" ||
	ktap_bail "the guest did not start its streams"
# Time for both QEMUs to settle and the streams to get going.
sleep "$MIGRATE_AFTER"
i=0
while [ ! -S "$tmp/mig.sock" ] && [ "$i" -lt 60 ]; do
	sleep 0.5
	i=$((i + 1))
done
# A first pass over memory of a few seconds, while the streams go on.
monitor src "migrate_set_parameter max-bandwidth 16M"
t_mig=$(nested_now)
monitor src "migrate -d unix:$tmp/mig.sock"
deadline=$(nested_deadline "$MIGRATE_WAIT")
status=
while [ "$(date +%s)" -lt "$deadline" ]; do
	monitor src "info migrate"
	sleep 1
	status=$(mig_status)
	case $status in
	completed | failed | cancelled) break ;;
	esac
	{ kill -0 "$src" 2>/dev/null && kill -0 "$dst" 2>/dev/null; } || break
done
mig_time=$(nested_since "$t_mig")
tr -d '\r' <"$tmp/src.monitor" | grep -E '^(total time|downtime|transferred ram|dirty sync count):' |
	tail -n 4 | sed 's/^/# migration: /'
src_state=
if [ "$status" = completed ]; then
	monitor src "info status"
	sleep 1
	src_state=$(tr -d '\r' <"$tmp/src.monitor" | sed -n 's/^VM status: //p' | tail -n 1)
fi
if [ "$status" = completed ] && [ "${src_state#paused}" != "$src_state" ]; then
	ktap_result ok migration "completed in $mig_time s; source: $src_state"
else
	sed 's/^/# src qemu: /' "$tmp/src.log"
	sed 's/^/# dst qemu: /' "$tmp/dst.log"
	ktap_bail "migration ended as '${status:-unknown}' after $mig_time s, source '$src_state'"
fi

# The destination's worker must exist before the source's goes away.
nested_worker_ran "$src"
sw=$nested_ran
nested_worker_ran "$dst"
dw=$nested_ran
monitor src quit
wait "$src" 2>/dev/null
src=

# --- the guest on the destination ------------------------------------------

# The streams may end before or after the switch: the guest's lines are in
# whichever QEMU ran it at the time.
deadline=$(nested_deadline "$RUN_WAIT")
while [ -z "$(nested_console_say waiting "$tmp/dst.console")" ] &&
	[ -z "$(nested_console_say waiting "$tmp/src.console")" ] &&
	[ "$(date +%s)" -lt "$deadline" ] && kill -0 "$dst" 2>/dev/null; do
	sleep 0.5
done
if [ -n "$(nested_console_say stream-g2h "$tmp/dst.console")" ]; then
	ktap_diag "the streams ended on the destination"
else
	ktap_diag "the streams ended on the source"
fi
nested_ping "$GUEST"
i=0
while ! "$busybox" nc "$GUEST" "$P_POST_H2G" <"$tmp/post_h2g" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 20 ] || break
	sleep 1
done
# at least 10 s more, the pieces above may have used the time up
grace=$(nested_deadline 10)
nested_wait_until 'done' "$tmp/dst.console" \
	"$((deadline > grace ? deadline : grace))" "$dst"
ktap_diag "total $(nested_since "$t_qemu") s with QEMU"

trouble=
nested_vhost_trouble src && trouble=1
nested_vhost_trouble dst && trouble=1
if [ -n "$trouble" ]; then
	ktap_result fail vhost_on_both "QEMU reported trouble with vhost"
elif [ "$(nested_field 2 "$sw")" -gt 0 ] && [ "$(nested_field 2 "$dw")" -gt 0 ]; then
	ktap_result ok vhost_on_both
else
	ktap_result fail vhost_on_both "workers (count ran): source $sw, destination $dw"
fi

KB=$((CHUNK_KB * CHUNKS * 1024))
sh2g=$(said stream-h2g)
if nested_intact "$sh2g" "$tmp/h2g"; then
	ktap_result ok stream_to_guest "$((KB / 1024)) KiB in $CHUNKS pieces, one per $PACE s"
else
	ktap_result fail stream_to_guest "guest says '$sh2g'"
fi
sg2h=$(said stream-g2h)
if nested_intact "$sg2h" "$tmp/g2h" && [ "$(nested_field 2 "$sg2h")" -eq "$KB" ]; then
	ktap_result ok stream_from_guest
else
	ktap_result fail stream_from_guest "guest says '$sg2h', host got $(wc -c <"$tmp/g2h") bytes"
fi

ph2g=$(nested_console_say post-h2g "$tmp/dst.console")
pg2h=$(nested_console_say post-g2h "$tmp/dst.console")
ktap_diag "host -> guest after the migration: $nested_p"
if nested_intact "$ph2g" "$tmp/post_h2g" && nested_intact "$pg2h" "$tmp/post_g2h" &&
	[ "$(nested_field 2 "$pg2h")" -eq $((POST_KB * 1024)) ] &&
	[ -n "$nested_loss" ] && [ "$nested_loss" -le 40 ]; then
	ktap_result ok resumed "$POST_KB KiB each way after the migration"
else
	tail -n 10 "$tmp/dst.console" | tr -d '\r' | sed 's/^/# guest: /'
	ktap_result fail resumed "guest says '$ph2g' '$pg2h', host got $(wc -c <"$tmp/post_g2h") bytes"
fi

# "answered last_seq sent": the guest pinged all along, every 0.2 s.
pg=$(nested_console_say pings "$tmp/dst.console")
ktap_diag "the guest's pings: $(nested_field 1 "$pg") answered of $(nested_field 3 "$pg"), the last seq=$(nested_field 2 "$pg")"
if [ -n "$pg" ] && [ "$(nested_field 3 "$pg")" -gt 0 ] &&
	[ $(($(nested_field 1 "$pg") * 100 / $(nested_field 3 "$pg"))) -ge 70 ] &&
	[ "$(nested_field 2 "$pg")" -ge $(($(nested_field 3 "$pg") - 5)) ]; then
	ktap_result ok guest_pings
else
	ktap_result fail guest_pings "guest says '$pg'"
fi

monitor dst quit
wait "$dst" 2>/dev/null
dst=
if [ "$RING" = packed ]; then
	r0=$(nested_console_say ring "$tmp/src.console")
	r1=$(said ring-after)
	if [ "$r0" = 1 ] && [ "$r1" = 1 ]; then
		ktap_result ok ring_format "VIRTIO_F_RING_PACKED before and after"
	else
		ktap_result fail ring_format "feature bit 34: '$r0' on the source, '$r1' after the migration"
	fi
fi

ktap_finish
