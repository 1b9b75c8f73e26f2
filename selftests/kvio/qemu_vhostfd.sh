#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A real client with a real guest: QEMU boots a small Linux guest whose two
# virtio-net NICs are served by the vhost device under test, handed to QEMU
# as already-open fds, as libvirt does:
#
#   eth A  one queue pair:  -netdev tap,ifname=kvt0,vhost=on,vhostfd=3
#   eth B  two queue pairs: -netdev tap,fds=6:7,vhost=on,vhostfds=4:5
#                           -device virtio-net-pci,mq=on,vectors=6
#
# (QEMU takes vhostfds= only with fds=: helper_tapfds opens the queues of
# the multiqueue tap kvt1 at fds 6 and 7, as libvirt would.)
#
# The guest (busybox and the virtio modules of a Debian kernel in an
# initramfs) configures both NICs, pings this host, and moves checksummed
# files both ways with nc; on the two-queue NIC it runs two streams at once,
# one per vCPU, so that both queue pairs carry traffic.  It reports over the
# serial console in lines "KVIO: key values...".  One boot covers every
# check (two if a boot under KVM fails, see below):
#
#   nested_boot       the guest ran its init and found both NICs
#   vhost_in_use      QEMU reported no vhost failure or fallback, and the
#                     device's worker (kvio-<qemu pid> for kvio-net,
#                     vhost-<qemu pid> upstream) exists and has run
#   ping              guest -> host and host -> guest, single-queue NIC
#   guest_to_host     sha256 of a file sent by the guest matches
#   host_to_guest     and of one sent by the host
#   tap_counters      the tap counted at least those bytes, both ways
#   mq_transfer       ping and two streams each way on the two-queue NIC
#   mq_both_queues    the guest took interrupts on both receive queues
#
# With KVIO_NESTED_RING=packed (qemu_packed.sh), every NIC has packed=on,
# and two more checks run:
#
#   ring_format       the guest's driver negotiated VIRTIO_F_RING_PACKED
#                     on every NIC (so the device ran packed rings)
#   userspace_same    a third NIC, kvt2, vhost=off with packed=on (QEMU's
#                     own packed-ring virtio-net), gives the same results:
#                     ping and a sha256-checked file each way
#
# usage: qemu_vhostfd.sh [BINDIR]    (BINDIR holds helper_tapfds; default:
#                                     this script's directory)
# env:   KVIO_VHOST_DEV       the vhost-net device (default /dev/kvio-net)
#        KVIO_NESTED_KERNEL   the guest's kernel release, from /boot (default:
#                             the newest 6.1.*, else the running kernel)
#        KVIO_NESTED_RING     split (default) or packed
#        KVIO_NESTED_ACCEL    kvm, tcg or auto (default: kvm if it can be
#                             had, else tcg; a KVM session that dies or
#                             stalls is done again under TCG, see below)
#
# The addresses 192.168.77.0/24 and 192.168.78.0/24 live on the two taps
# this script creates: run it in a throwaway VM (tools/vm/run; its default
# 2G of memory are enough).
# Needs root, /dev/net/tun, qemu-system-x86_64, busybox-static, cpio.
# Output: KTAP, with the timings as diagnostics.

set -u

DEV=${KVIO_VHOST_DEV:-/dev/kvio-net}
here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-$here}
tapfds=$bindir/helper_tapfds
ACCEL=${KVIO_NESTED_ACCEL:-auto}
TAP0=kvt0
TAP1=kvt1
HOST0=192.168.77.1
GUEST0=192.168.77.2
HOST1=192.168.78.1
GUEST1=192.168.78.2
MAC0=52:54:00:77:00:02
MAC1=52:54:00:78:00:02
XFER_KB=4096		# per direction on the one-queue NIC
MQ_XFER_KB=2048		# per stream on the two-queue NIC, two streams each way
TCG_XFER_KB=512		# the same for a guest under TCG, which moves ~50 KiB/s
TCG_MQ_XFER_KB=256
PINGS=20
# Under TCG: seconds to the guest's init (nested TCG takes minutes), then
# to its first ping and from there to the end of its checks.  With the
# KVM session before it (at most 120 + 2 x 400 s), this stays below the
# limit per program of make check (run.sh, KVIO_PROG_TIMEOUT).
BOOT_WAIT=400
RUN_WAIT=200
# Ports of the host's listeners, "host->guest guest->host" per stream: one
# stream on the one-queue NIC, two on the two-queue NIC.
PORTS0="5001 5002"
PORTS1="5011 5012 5013 5014"

KTAP_NAMES="nested_boot vhost_in_use ping guest_to_host host_to_guest tap_counters
mq_transfer mq_both_queues"

# The ring format: packed adds a NIC served by QEMU itself (kvt2).
RING=${KVIO_NESTED_RING:-split}
TAP2=kvt2
HOST2=192.168.79.1
GUEST2=192.168.79.2
MAC2=
PORTS2="5021 5022"
case $RING in
split) NIC_OPT= ;;
packed)
	NIC_OPT=,packed=on
	MAC2=52:54:00:79:00:02
	KTAP_NAMES="$KTAP_NAMES ring_format userspace_same"
	;;
*)
	echo "KVIO_NESTED_RING=$RING: split or packed" >&2
	exit 1
	;;
esac

# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/lib/vmimage.sh
. "$here/lib/vmimage.sh"
# shellcheck source=SCRIPTDIR/lib/nested.sh
. "$here/lib/nested.sh"

# --- the guest ----------------------------------------------------------------

# What the guest runs as /init.  /kvio.conf sets the addresses and ports,
# the kernel command line the sizes (kvio_xfer=KB:KB).
write_guest_init() {
	nested_init_head
	cat <<'EOF'
read -r cmdline </proc/cmdline
for w in $cmdline; do
	case $w in
	kvio_xfer=*:*)
		w=${w#*=}
		XFER_KB=${w%:*}
		MQ_XFER_KB=${w#*:}
		;;
	esac
done

ifa=$(net_up "$MAC0" "$GUEST0")
ifb=$(net_up "$MAC1" "$GUEST1")
say nics "${ifa:-none}" "${ifb:-none}" "$(nproc)"
ping_wait "$HOST0"
say first-ping "$(up)" "$tries"
ping -c "$PINGS" -i 0.2 "$HOST0" | tail -n 2 | tr '\n' ' ' | sed 's/^/KVIO: ping /'
echo

# busybox head takes no K suffix.
head -c $((XFER_KB * 1024)) /dev/urandom >/out0
send "$HOST0" "$P0_G2H" /out0 g2h
recv "$HOST0" "$P0_H2G" /in0 h2g

# The two-queue NIC: one stream per vCPU, so that both queue pairs carry
# traffic (virtio_net maps each CPU to its own tx queue, and tun sends a
# flow's replies to the queue it came from).
ping -c 5 -i 0.2 "$HOST1" | tail -n 2 | tr '\n' ' ' | sed 's/^/KVIO: mq-ping /'
echo
head -c $((MQ_XFER_KB * 1024)) /dev/urandom >/out1
head -c $((MQ_XFER_KB * 1024)) /dev/urandom >/out2
send "$HOST1" "$P1_G2H_A" /out1 mq-g2h-a 1 &
send "$HOST1" "$P1_G2H_B" /out2 mq-g2h-b 2 &
wait
recv "$HOST1" "$P1_H2G_A" /in1 mq-h2g-a 1 &
recv "$HOST1" "$P1_H2G_B" /in2 mq-h2g-b 2 &
wait

# The ring format each NIC's driver negotiated (bit 34: RING_PACKED).
for i in $ifa $ifb; do
	say ring "$i" "$(cut -c35 "/sys/class/net/$i/device/features")"
done
# The NIC QEMU serves itself, if there is one: the same checks, smaller.
if [ -n "$MAC2" ]; then
	ifc=$(net_up "$MAC2" "$GUEST2")
	say ring "${ifc:-none}" "$(cut -c35 "/sys/class/net/$ifc/device/features")"
	ping_wait "$HOST2"
	ping -c 5 -i 0.2 "$HOST2" | tail -n 2 | tr '\n' ' ' | sed 's/^/KVIO: u-ping /'
	echo
	head -c $((MQ_XFER_KB * 1024)) /dev/urandom >/out3
	send "$HOST2" "$P2_G2H" /out3 u-g2h
	recv "$HOST2" "$P2_H2G" /in3 u-h2g
fi

vdev=$(basename "$(readlink "/sys/class/net/$ifb/device")")
grep "$vdev-" /proc/interrupts | while read -r _ c0 c1 rest; do
	say irq "${rest##* }" $((c0 + c1))
done
say 'done' "$(up)"
# Stay up: the host looks at QEMU's threads, then stops it.
exec sleep 3600
EOF
}

# /kvio.conf: the addresses and ports.
write_guest_conf() {
	# shellcheck disable=SC2086 # lists of port numbers
	set -- $PORTS0 $PORTS1 $PORTS2
	cat <<EOF2
HOST0=$HOST0 GUEST0=$GUEST0 HOST1=$HOST1 GUEST1=$GUEST1 HOST2=$HOST2 GUEST2=$GUEST2
MAC0=$MAC0 MAC1=$MAC1 MAC2=$MAC2 PINGS=$PINGS
P0_H2G=$1 P0_G2H=$2 P1_H2G_A=$3 P1_G2H_A=$4 P1_H2G_B=$5 P1_G2H_B=$6
P2_H2G=$7 P2_G2H=$8
EOF2
}

# --- the host side --------------------------------------------------------

# The guest's QEMU under $ACCEL: NIC A on tap kvt0 and vhost fd 3, NIC B
# on the two queues of kvt1 (fds 6 and 7, opened by helper_tapfds) and
# vhost fds 4 and 5.
start_qemu() {
	: >"$tmp/seen"
	t_qemu=$(nested_now)
	nested_t0=$t_qemu
	nested_smp=2
	nested_append="kvio_xfer=$XFER_KB:$MQ_XFER_KB"
	nested_wrap="$tapfds $TAP1 6,7"
	if [ -n "$MAC2" ]; then
		set -- -netdev "tap,id=n2,ifname=$TAP2,script=no,downscript=no,vhost=off" \
			-device "virtio-net-pci,netdev=n2,mac=$MAC2,packed=on,romfile="
	else
		set --
	fi
	nested_qemu guest 3 \
		-netdev "tap,id=n0,ifname=$TAP0,script=no,downscript=no,vhost=on,vhostfd=3" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC0,romfile=$NIC_OPT" \
		-netdev "tap,id=n1,fds=6:7,vhost=on,vhostfds=4:5" \
		-device "virtio-net-pci,netdev=n1,mac=$MAC1,mq=on,vectors=6,romfile=$NIC_OPT" \
		"$@"
}

# The files to move and the listeners for them, sized for accelerator $1
# (TCG moves some 50 KiB/s); anew for a second boot.
setup_transfers() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	bg_pids=
	if [ "$1" = tcg ]; then
		XFER_KB=$TCG_XFER_KB
		MQ_XFER_KB=$TCG_MQ_XFER_KB
	fi
	head -c $((XFER_KB * 1024)) /dev/urandom >"$tmp/out0"
	head -c $((MQ_XFER_KB * 1024)) /dev/urandom >"$tmp/out1"
	head -c $((MQ_XFER_KB * 1024)) /dev/urandom >"$tmp/out2"
	# shellcheck disable=SC2086 # lists of port numbers
	set -- $PORTS0 $PORTS1 $PORTS2
	nested_serve "$1" "$tmp/out0"
	nested_take "$2" "$tmp/in0"
	nested_serve "$3" "$tmp/out1"
	nested_take "$4" "$tmp/in1"
	nested_serve "$5" "$tmp/out2"
	nested_take "$6" "$tmp/in2"
	if [ -n "$MAC2" ]; then
		head -c $((MQ_XFER_KB * 1024)) /dev/urandom >"$tmp/out3"
		nested_serve "$7" "$tmp/out3"
		nested_take "$8" "$tmp/in3"
	fi
}

stop_qemu() {
	kill "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	qpid=
}

# --- setup ------------------------------------------------------------------

ktap_begin
nested_require

ktap_plan
ktap_diag "device $DEV, guest kernel $kver, $(qemu-system-x86_64 --version | head -n 1)"
[ -c "$DEV" ] || ktap_bail "$DEV is not a character device (module not loaded?)"
[ -x "$tapfds" ] || ktap_bail "$tapfds is missing (build the selftests)"
for t in $TAP0 $TAP1 ${MAC2:+$TAP2}; do
	ip link show "$t" >/dev/null 2>&1 && ktap_bail "$t exists already"
done

nested_tmp qemu || ktap_bail "cannot make a scratch directory"
t0=$(nested_now)
write_guest_init >"$tmp/init"
write_guest_conf >"$tmp/conf"
nested_initramfs "$kver" "$tmp/init" "$tmp/conf" "$tmp/initramfs.cpio" ||
	ktap_bail "cannot build the guest's initramfs"
ktap_diag "initramfs ($(wc -c <"$tmp/initramfs.cpio") bytes) built in $(nested_since "$t0") s"
nested_pick_boot "$kver"
ktap_diag "guest kernel image: ${boot#-kernel }"

nested_tap "$TAP0" "$HOST0" || ktap_bail "cannot set up $TAP0"
nested_tap "$TAP1" "$HOST1" multi_queue || ktap_bail "cannot set up $TAP1"
if [ -n "$MAC2" ]; then
	nested_tap "$TAP2" "$HOST2" || ktap_bail "cannot set up $TAP2"
fi
ktap_diag "ring format: $RING"

nested_pick_accel

# --- boot -------------------------------------------------------------------

# One guest session: boot, wait for the guest's checks, ping it from here
# meanwhile.  $1 and $2: seconds allowed to the guest's init and from there
# to the end of its checks.  False if QEMU died or the guest did not finish.
run_guest() { # boot-wait run-wait
	setup_transfers "$ACCEL"
	rx0=$(nested_stat_of $TAP0 rx_bytes)
	tx0=$(nested_stat_of $TAP0 tx_bytes)
	nested_p=
	start_qemu
	nested_wait_guest init "$1" || return 1
	nested_wait_guest first-ping "$2" || return 1
	nested_ping "$GUEST0"
	nested_wait_guest 'done' "$2"
}

# Should a nested guest still die or stall under KVM (see npt=0 above),
# the session is done again under TCG: a failure of the device, which shows
# in a session that finishes, is never retried.
if [ "$ACCEL" = kvm ] && ! run_guest 120 400; then
	nested_why_not
	stop_qemu
	ACCEL=tcg
	nested_all_cpus
	run_guest "$BOOT_WAIT" "$RUN_WAIT" || nested_why_not
elif [ "$ACCEL" = tcg ]; then
	run_guest "$BOOT_WAIT" "$RUN_WAIT" || nested_why_not
fi
ktap_diag "accelerator: $ACCEL"

if [ -n "$(nested_guest nics)" ]; then
	# shellcheck disable=SC2046 # the guest's words
	set -- $(nested_guest nics)
	if [ "$1" != none ] && [ "$2" != none ]; then
		ktap_result ok nested_boot "guest init $(nested_guest_at init) s after QEMU started; NICs $1 $2, $3 CPUs"
	else
		ktap_result fail nested_boot "the guest is missing a NIC: $*"
	fi
else
	ktap_bail "the guest did not come up"
fi

fp=$(nested_guest first-ping)
if [ -n "$fp" ] && [ "$(nested_field 2 "$fp")" -lt 60 ]; then
	ktap_diag "first ping answered $(nested_guest_at first-ping) s after QEMU started (guest uptime $(nested_field 1 "$fp") s)"
else
	ktap_diag "the guest's pings went unanswered"
fi

# --- what QEMU did ------------------------------------------------------------

nested_worker_ran "$qpid"
if nested_vhost_trouble guest; then
	ktap_result fail vhost_in_use "QEMU reported trouble with vhost"
elif [ "$(nested_field 2 "$nested_ran")" -eq 0 ]; then
	ktap_result fail vhost_in_use "no worker for QEMU $qpid that ran"
else
	ktap_result ok vhost_in_use
fi

p=$(nested_guest ping)
ktap_diag "guest -> host: $p"
ktap_diag "host -> guest: $nested_p"
loss=$(nested_loss_of "$p")
if [ -n "$loss" ] && [ "$loss" -le 10 ] && [ -n "$nested_loss" ] && [ "$nested_loss" -le 20 ]; then
	ktap_result ok ping
else
	ktap_result fail ping
fi

# KiB/s of the guest's reports "sha bytes t0 t1" given, all together.
rate() {
	for r in "$@"; do echo "$r"; done | awk '
		{ b += $2; if (a == "" || $3 < a) a = $3; if ($4 > z) z = $4 }
		END { if (z > a) printf "%.0f KiB/s", b / 1024 / (z - a); else print "?" }'
}

KB=$((XFER_KB * 1024))
MQ_KB=$((MQ_XFER_KB * 1024))

g=$(nested_guest g2h)
if nested_intact "$g" "$tmp/in0" && [ "$(nested_field 2 "$g")" -eq "$KB" ]; then
	ktap_result ok guest_to_host "guest -> host: $XFER_KB KiB, $(rate "$g")"
else
	ktap_result fail guest_to_host "guest -> host: guest says '$g', host got $(wc -c <"$tmp/in0") bytes"
fi

h=$(nested_guest h2g)
if nested_intact "$h" "$tmp/out0"; then
	ktap_result ok host_to_guest "host -> guest: $XFER_KB KiB, $(rate "$h")"
else
	ktap_result fail host_to_guest "host -> guest: guest says '$h'"
fi

rx=$(($(nested_stat_of $TAP0 rx_bytes) - rx0))
tx=$(($(nested_stat_of $TAP0 tx_bytes) - tx0))
if [ "$rx" -ge "$KB" ] && [ "$tx" -ge "$KB" ]; then
	ktap_result ok tap_counters "$TAP0: $rx bytes from the guest, $tx bytes to it"
else
	ktap_result fail tap_counters "$TAP0: $rx bytes from the guest, $tx bytes to it"
fi

mga=$(nested_guest mq-g2h-a)
mgb=$(nested_guest mq-g2h-b)
mha=$(nested_guest mq-h2g-a)
mhb=$(nested_guest mq-h2g-b)
mp=$(nested_guest mq-ping)
ktap_diag "two-queue NIC: $mp"
mloss=$(nested_loss_of "$mp")
if [ -n "$mloss" ] && [ "$mloss" -le 20 ] &&
	nested_intact "$mga" "$tmp/in1" && nested_intact "$mgb" "$tmp/in2" &&
	nested_intact "$mha" "$tmp/out1" && nested_intact "$mhb" "$tmp/out2" &&
	[ "$(nested_field 2 "$mga")" -eq "$MQ_KB" ] && [ "$(nested_field 2 "$mgb")" -eq "$MQ_KB" ]; then
	ktap_result ok mq_transfer "two streams of $MQ_XFER_KB KiB each way: guest -> host $(rate "$mga" "$mgb"), host -> guest $(rate "$mha" "$mhb")"
else
	ktap_result fail mq_transfer "guest says g2h '$mga' '$mgb', h2g '$mha' '$mhb'"
fi

tr -d '\r' <"$tmp/guest.console" | sed -n 's/^KVIO: irq //p' >"$tmp/irqs"
ktap_diag "two-queue NIC interrupts: $(tr '\n' ' ' <"$tmp/irqs")"
in0=$(awk '$1 ~ /-input\.0$/ { print $2 }' "$tmp/irqs")
in1=$(awk '$1 ~ /-input\.1$/ { print $2 }' "$tmp/irqs")
if [ "${in0:-0}" -gt 0 ] && [ "${in1:-0}" -gt 0 ]; then
	ktap_result ok mq_both_queues
else
	ktap_result fail mq_both_queues "receive interrupts: queue 0 ${in0:-none}, queue 1 ${in1:-none}"
fi

if [ -n "$MAC2" ]; then
	rings=$(tr -d '\r' <"$tmp/guest.console" | sed -n 's/^KVIO: ring //p' | tr '\n' ' ')
	ktap_diag "RING_PACKED negotiated per NIC: $rings"
	# shellcheck disable=SC2086 # the guest's words: "nic bit" pairs
	set -- $rings
	if [ $# -eq 6 ] && [ "$2" = 1 ] && [ "$4" = 1 ] && [ "$6" = 1 ]; then
		ktap_result ok ring_format
	else
		ktap_result fail ring_format "expected bit 34 set on three NICs"
	fi
	up=$(nested_guest u-ping)
	ug=$(nested_guest u-g2h)
	uh=$(nested_guest u-h2g)
	ktap_diag "QEMU's own packed NIC: $up"
	uloss=$(nested_loss_of "$up")
	if [ -n "$uloss" ] && [ "$uloss" -le 20 ] &&
		nested_intact "$ug" "$tmp/in3" && nested_intact "$uh" "$tmp/out3" &&
		[ "$(nested_field 2 "$ug")" -eq "$MQ_KB" ]; then
		ktap_result ok userspace_same "QEMU's packed NIC: $MQ_XFER_KB KiB each way intact, as on kvio's"
	else
		ktap_result fail userspace_same "guest says g2h '$ug', h2g '$uh'"
	fi
fi

stop_qemu
ktap_diag "total $(nested_since "$t_qemu") s with QEMU"
ktap_finish
