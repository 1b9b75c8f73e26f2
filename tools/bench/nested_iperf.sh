#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The nested-guest workload of make bench: QEMU boots a small Linux guest
# (busybox, iperf3 and the virtio modules of a Debian kernel in an
# initramfs) whose virtio-net NIC is served by the vhost device under test
# (-netdev tap,vhost=on,vhostfd=3, as libvirt hands it over).  The guest
# pings this host, then runs iperf3 against an iperf3 server here, one TCP
# stream each way:
#
#   iperf3 -c HOST -t SECS        guest -> host
#   iperf3 -c HOST -t SECS -R     host -> guest
#
# and the script prints one line
#
#   RESULT dev=NAME accel=kvm g2h_mbps=N h2g_mbps=N rtt_ms=N
#
# (the receivers' rates; rtt: the guest's ping average), or explains why
# not on stderr and exits non-zero.  Like the selftests' nested guests it
# runs with one CPU of the test VM online (nested_one_cpu in selftests/kvio/lib/nested.sh), so the
# guest's vCPU, the device's worker and the iperf3 server share that CPU.
#
# usage: nested_iperf.sh DEV [SECS]   (default 8 seconds per direction)
# env:   KVIO_NESTED_KERNEL, KVIO_NESTED_ACCEL as for qemu_vhostfd.sh
# Needs root, /dev/net/tun, qemu-system-x86_64, busybox-static, cpio,
# iperf3; creates the tap kvi0 with 192.168.79.1/24: run it in a throwaway
# VM (tools/vm/run).
set -u

DEV=${1:?usage: nested_iperf.sh DEV [SECS]}
SECS=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
ACCEL=${KVIO_NESTED_ACCEL:-auto}
TAP=kvi0
HOST=192.168.79.1
GUEST=192.168.79.2
MAC=52:54:00:79:00:02
KTAP_NAMES=nested_iperf

# shellcheck source=SCRIPTDIR/../../selftests/kvio/lib/ktap.sh
. "$here/../../selftests/kvio/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/../../selftests/kvio/lib/vmimage.sh
. "$here/../../selftests/kvio/lib/vmimage.sh"
# shellcheck source=SCRIPTDIR/../../selftests/kvio/lib/nested.sh
. "$here/../../selftests/kvio/lib/nested.sh"

fail() {
	echo "nested_iperf: $*" >&2
	exit 1
}
# lib/ktap.sh's fatal exits are failures here.
ktap_skip_all() { fail "$1"; }
ktap_bail() { fail "$1"; }

write_guest_init() {
	nested_init_head
	cat <<'EOF'
net_up "$MAC" "$GUEST" >/dev/null
ping_wait "$HOST"
say ping "$(ping -c 20 -i 0.2 "$HOST" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')"
# The receiver's line of each run, in Kbits/sec.
rate() { sed -n 's|.* \([0-9.]*\) Kbits/sec.*receiver.*|\1|p' | tail -n 1; }
/usr/bin/iperf3 -c "$HOST" -t "$SECS" -f k >/g2h 2>&1
say g2h "$(rate </g2h)"
/usr/bin/iperf3 -c "$HOST" -t "$SECS" -f k -R >/h2g 2>&1
say h2g "$(rate </h2g)"
# What iperf3 said, for the host's diagnostics.
tail -n 4 /g2h /h2g
say 'done'
exec sleep 3600
EOF
}

# iperf3 and the libraries it loads, at their paths, into the initramfs.
add_iperf3() { # staging dir
	for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
		mkdir -p "$1${f%/*}" && cp -L "$f" "$1$f" || return 1
	done
	mkdir -p "$1/tmp"
}

[ "$(id -u)" -eq 0 ] || fail "must run as root"
[ -c "$DEV" ] || fail "$DEV is not a character device"
command -v iperf3 >/dev/null 2>&1 || fail "iperf3 not installed"
nested_require
nested_tmp iperf || fail "cannot make a scratch directory"
write_guest_init >"$tmp/init"
echo "HOST=$HOST GUEST=$GUEST MAC=$MAC SECS=$SECS" >"$tmp/conf"
initramfs_extra=add_iperf3
nested_initramfs "$kver" "$tmp/init" "$tmp/conf" "$tmp/initramfs.cpio" ||
	fail "cannot build the guest's initramfs"
nested_pick_boot "$kver"
nested_tap "$TAP" "$HOST" || fail "cannot set up $TAP"
iperf3 -s -B "$HOST" >"$tmp/iperf3.log" 2>&1 &
bg_pids=$!
nested_pick_accel >/dev/null

nested_qemu guest 1 \
	-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=on,vhostfd=3" \
	-device "virtio-net-pci,netdev=n0,mac=$MAC,romfile="

# Boot, then the two runs: a limit for a nested KVM guest, so that one
# that stalls (see nested_pick_accel) costs this round its row and no
# more; a guest under TCG needs minutes.
boot_wait=180
[ "$ACCEL" = kvm ] || boot_wait=900
if ! nested_wait_console init "$tmp/guest.console" "$boot_wait" "$qpid" ||
	! nested_wait_console 'done' "$tmp/guest.console" $((180 + 4 * SECS)) "$qpid"; then
	sed 's/^/nested_iperf: qemu: /' "$tmp/guest.log" >&2
	tail -n 10 "$tmp/guest.console" | tr -d '\r' | sed 's/^/nested_iperf: guest: /' >&2
	fail "the guest did not finish under $ACCEL"
fi
nested_vhost_trouble guest >&2 && fail "QEMU reported trouble with vhost"
nested_worker_ran "$qpid" >&2
[ "$(nested_field 2 "$nested_ran")" -gt 0 ] ||
	fail "no worker for QEMU $qpid ran: the traffic did not go through $DEV"
g2h=$(nested_console_say g2h "$tmp/guest.console")
h2g=$(nested_console_say h2g "$tmp/guest.console")
rtt=$(nested_console_say ping "$tmp/guest.console")
if [ -z "$g2h" ] || [ -z "$h2g" ]; then
	tail -n 20 "$tmp/guest.console" | tr -d '\r' | sed 's/^/nested_iperf: guest: /' >&2
	sed 's/^/nested_iperf: server: /' "$tmp/iperf3.log" >&2
	fail "iperf3 gave no rate (g2h '$g2h', h2g '$h2g')"
fi
awk -v d="${DEV##*/}" -v a="$ACCEL" -v g="$g2h" -v h="$h2g" -v r="${rtt:-0}" \
	'BEGIN { printf "RESULT dev=%s accel=%s g2h_mbps=%.2f h2g_mbps=%.2f rtt_ms=%s\n", d, a, g / 1000, h / 1000, r }'
