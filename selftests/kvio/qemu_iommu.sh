#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A guest with a vIOMMU: QEMU's intel-iommu translates every DMA of the
# guest's virtio-net NIC (iommu_platform=on, behind a PCIe root port with
# ATS), and the vhost device under test, handed to QEMU as vhostfd=3,
# serves the NIC through its device IOTLB (VIRTIO_F_ACCESS_PLATFORM):
# QEMU answers its misses from the guest's page tables and forwards the
# guest's unmaps as invalidations.
#
#   -M q35,kernel-irqchip=split -device intel-iommu,intremap=on,device-iotlb=on
#   -device pcie-root-port,id=rp1,chassis=1
#   -netdev tap,ifname=kvi0,vhost=on,vhostfd=3
#   -device virtio-net-pci,bus=rp1,disable-legacy=on,iommu_platform=on,ats=on
#
# The guest boots twice, with the IOMMU's DMA API in strict mode
# (iommu.strict=1: every unmap invalidates at once) and in lazy mode
# (iommu.strict=0: unmaps are batched).  Each boot:
#
#   MODE_boot         the guest ran its init and found the NIC
#   MODE_translated   the NIC's IOMMU group translates (type DMA in strict
#                     mode, DMA-FQ in lazy mode), and the guest's driver
#                     negotiated VIRTIO_F_ACCESS_PLATFORM (bit 33)
#   MODE_vhost        QEMU reported no vhost failure or fallback, its
#                     worker for the device ran, and for kvio-net the
#                     device's debugfs shows both rings at IOVAs with
#                     misses served
#   MODE_ping         guest -> host and host -> guest
#   MODE_guest_to_host  a sha256-checked file, guest to host
#   MODE_host_to_guest  and host to guest
#
# usage: qemu_iommu.sh [BINDIR]
# env:   KVIO_VHOST_DEV       the vhost-net device (default /dev/kvio-net)
#        KVIO_NESTED_KERNEL   the guest's kernel release (see qemu_vhostfd.sh)
#        KVIO_NESTED_ACCEL    kvm, tcg or auto (default)
#
# The address 192.168.81.0/24 lives on the tap this script creates: run it
# in a throwaway VM (tools/vm/run).  Needs root, /dev/net/tun,
# qemu-system-x86_64, busybox-static, cpio.  Output: KTAP.

set -u

DEV=${KVIO_VHOST_DEV:-/dev/kvio-net}
here=$(cd "$(dirname "$0")" && pwd)
ACCEL=${KVIO_NESTED_ACCEL:-auto}
TAP=kvi0
HOST=192.168.81.1
GUEST=192.168.81.2
MAC=52:54:00:81:00:02
XFER_KB=2048
TCG_XFER_KB=384
PINGS=10
PORTS="5041 5042"
MODES="strict lazy"

KTAP_NAMES=
for m in $MODES; do
	for t in boot translated vhost ping guest_to_host host_to_guest; do
		KTAP_NAMES="$KTAP_NAMES ${m}_$t"
	done
done

# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/lib/vmimage.sh
. "$here/lib/vmimage.sh"
# shellcheck source=SCRIPTDIR/lib/nested.sh
. "$here/lib/nested.sh"

# --- the guest ----------------------------------------------------------------

# The NIC's IOMMU group type (on its PCI device) and whether its driver
# negotiated VIRTIO_F_ACCESS_PLATFORM (bit 33, on the virtio device).
write_guest_init() {
	nested_init_head
	nested_init_one_nic
	cat <<'EOF'
dev=/sys/class/net/$ifa/device
say iommu "$(cat "$dev/../iommu_group/type" 2>/dev/null || echo none)" \
	"$(cut -c34 "$dev/features")"
say 'done' "$(up)"
exec sleep 3600
EOF
}

write_guest_conf() {
	# shellcheck disable=SC2086 # a list of port numbers
	set -- $PORTS
	echo "HOST=$HOST GUEST=$GUEST MAC=$MAC PINGS=$PINGS P_H2G=$1 P_G2H=$2"
}

# --- the host side --------------------------------------------------------

start_qemu() { # mode
	: >"$tmp/seen"
	nested_t0=$(nested_now)
	nested_machine=q35,kernel-irqchip=split
	nested_append="intel_iommu=on iommu.passthrough=0 iommu.strict=$([ "$1" = strict ] && echo 1 || echo 0) kvio_xfer=$XFER_KB"
	nested_qemu guest 1 \
		-device intel-iommu,intremap=on,device-iotlb=on \
		-device pcie-root-port,id=rp1,chassis=1 \
		-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=on,vhostfd=3" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC,bus=rp1,disable-legacy=on,iommu_platform=on,ats=on,romfile="
}

setup_transfers() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	bg_pids=
	[ "$ACCEL" = tcg ] && XFER_KB=$TCG_XFER_KB
	head -c $((XFER_KB * 1024)) /dev/urandom >"$tmp/out"
	rm -f "$tmp/in"
	# shellcheck disable=SC2086 # a list of port numbers
	set -- $PORTS
	nested_serve "$1" "$tmp/out"
	nested_take "$2" "$tmp/in"
}

stop_qemu() {
	kill "$qpid" 2>/dev/null
	wait "$qpid" 2>/dev/null
	qpid=
}

# kvio-net's debugfs state of QEMU $1's device: "rings-at-iovas misses".
kvio_iotlb_state() { # qemu-pid
	for s in /sys/kernel/debug/kvio/net-*/state; do
		[ -r "$s" ] || continue
		head -n 1 "$s" | grep -q " owner $1\$" || continue
		awk '/\(iova\)/ { n++ } /iotlb misses/ { m += $3 }
			END { print n + 0, m + 0 }' "$s"
		return
	done
	echo "0 0"
}

run_guest() { # mode boot-wait run-wait
	setup_transfers
	nested_p=
	start_qemu "$1"
	nested_wait_guest init "$2" || return 1
	nested_wait_guest first-ping "$3" || return 1
	nested_ping "$GUEST"
	nested_wait_guest 'done' "$3"
}

# One mode: a guest session (again under TCG if KVM fails, as in
# qemu_vhostfd.sh), then its checks.
one_mode() { # mode
	m=$1
	if [ "$ACCEL" = kvm ] && ! run_guest "$m" 120 300; then
		nested_why_not
		stop_qemu
		ACCEL=tcg
		nested_all_cpus
		run_guest "$m" 400 300 || nested_why_not
	elif [ "$ACCEL" = tcg ]; then
		run_guest "$m" 400 300 || nested_why_not
	fi
	ktap_diag "$m: accelerator $ACCEL"

	nic=$(nested_guest nics)
	if [ -n "$nic" ] && [ "$(nested_field 1 "$nic")" != none ]; then
		ktap_result ok "${m}_boot" "guest init $(nested_guest_at init) s after QEMU started"
	else
		ktap_result fail "${m}_boot" "the guest did not come up with its NIC"
	fi

	io=$(nested_guest iommu)
	want=DMA
	[ "$m" = lazy ] && want=DMA-FQ
	if [ "$(nested_field 1 "$io")" = "$want" ] && [ "$(nested_field 2 "$io")" = 1 ]; then
		ktap_result ok "${m}_translated" "IOMMU group type $want, ACCESS_PLATFORM negotiated"
	else
		ktap_result fail "${m}_translated" "guest says '$io', expected '$want 1'"
	fi

	nested_worker_ran "$qpid"
	# Upstream has no debugfs state: its worker and QEMU's log only.
	st="2 1"
	case ${DEV##*/} in
	kvio*)
		st=$(kvio_iotlb_state "$qpid")
		ktap_diag "$m: rings at IOVAs, misses: $st"
		;;
	esac
	if nested_vhost_trouble guest; then
		ktap_result fail "${m}_vhost" "QEMU reported trouble with vhost"
	elif [ "$(nested_field 2 "$nested_ran")" -eq 0 ]; then
		ktap_result fail "${m}_vhost" "no worker for QEMU $qpid that ran"
	elif [ "$(nested_field 1 "$st")" -lt 2 ] || [ "$(nested_field 2 "$st")" -lt 1 ]; then
		ktap_result fail "${m}_vhost" "$DEV: not both rings at IOVAs, or no miss: $st"
	else
		ktap_result ok "${m}_vhost"
	fi

	p=$(nested_guest ping)
	ktap_diag "$m: guest -> host: $p"
	ktap_diag "$m: host -> guest: $nested_p"
	loss=$(nested_loss_of "$p")
	if [ -n "$loss" ] && [ "$loss" -le 10 ] && [ -n "$nested_loss" ] && [ "$nested_loss" -le 20 ]; then
		ktap_result ok "${m}_ping"
	else
		ktap_result fail "${m}_ping"
	fi

	g=$(nested_guest g2h)
	if nested_intact "$g" "$tmp/in" && [ "$(nested_field 2 "$g")" -eq $((XFER_KB * 1024)) ]; then
		ktap_result ok "${m}_guest_to_host" "$XFER_KB KiB"
	else
		ktap_result fail "${m}_guest_to_host" "guest says '$g', host got $(wc -c <"$tmp/in" 2>/dev/null) bytes"
	fi
	h=$(nested_guest h2g)
	if nested_intact "$h" "$tmp/out"; then
		ktap_result ok "${m}_host_to_guest" "$XFER_KB KiB"
	else
		ktap_result fail "${m}_host_to_guest" "guest says '$h'"
	fi
	stop_qemu
}

# --- run ----------------------------------------------------------------------

ktap_begin
nested_require

ktap_plan
ktap_diag "device $DEV, guest kernel $kver, $(qemu-system-x86_64 --version | head -n 1)"
[ -c "$DEV" ] || ktap_bail "$DEV is not a character device (module not loaded?)"
ip link show "$TAP" >/dev/null 2>&1 && ktap_bail "$TAP exists already"
[ -d /sys/kernel/debug/kvio ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

nested_tmp qemu-iommu || ktap_bail "cannot make a scratch directory"
write_guest_init >"$tmp/init"
write_guest_conf >"$tmp/conf"
nested_initramfs "$kver" "$tmp/init" "$tmp/conf" "$tmp/initramfs.cpio" ||
	ktap_bail "cannot build the guest's initramfs"
nested_pick_boot "$kver"
nested_tap "$TAP" "$HOST" || ktap_bail "cannot set up $TAP"
nested_pick_accel

t_all=$(nested_now)
for mode in $MODES; do
	one_mode "$mode"
done
ktap_diag "total $(nested_since "$t_all") s with QEMU"
ktap_finish
