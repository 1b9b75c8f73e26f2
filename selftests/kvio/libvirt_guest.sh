#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# libvirt as the client: Debian's libvirtd defines and starts a nested
# guest whose virtio NIC libvirt itself connects to the vhost device under
# test, with the interface an operator writes:
#
#   <interface type='ethernet'>
#     <target dev='kvlv0' managed='no'/>
#     <model type='virtio'/>
#     <driver name='vhost' queues='2'/>
#     <backend tap='/dev/net/tun' vhost='/dev/kvio-net'/>
#   </interface>
#
# libvirt opens /dev/kvio-net once per queue pair and hands the fds to
# QEMU (vhostfds=); this script never touches the device itself.  The
# guest is lib/nested.sh's: busybox and a Debian kernel's virtio modules.
#
#   libvirt_start     libvirtd (a private instance, see below) defines and
#                     starts the domain, and the guest's init runs
#   domiflist         virsh domiflist names the tap, as type ethernet,
#                     model virtio
#   vhost_from_libvirt  QEMU's command line has vhost=on and two vhostfds,
#                     QEMU holds two fds on the device, no vhost failure
#                     or fallback is in its log, and the device's worker
#                     for that QEMU (kvio-<pid>) has run
#   ping              guest -> host and host -> guest
#   guest_to_host     sha256 of a file sent by the guest matches
#   host_to_guest     and of one sent by the host
#   both_queues       the guest took interrupts on both receive queues
#   destroy_releases  virsh destroy ends QEMU; afterwards no process holds
#                     the device, the workers are gone and the module's
#                     reference count is what it was before the start
#
# The libvirtd is this test's own: Debian's binary with its configuration,
# sockets and state in a scratch directory, bind-mounted over
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt in a mount namespace of its own (unshare), so that
# the host's libvirt, if any, is neither used nor changed.  Its qemu.conf
# runs QEMU as root without cgroups, security driver or private /dev: the
# test VM has none of the services those need.  virsh connects through
# the private socket (qemu:///system?socket=...).
#
# usage: libvirt_guest.sh             (root, in a throwaway VM)
# env:   KVIO_VHOST_DEV       the vhost-net device (default /dev/kvio-net)
#        KVIO_NESTED_KERNEL   the guest's kernel release (lib/nested.sh)
#        KVIO_NESTED_ACCEL    kvm, tcg or auto (default): a KVM session that
#                             dies or stalls is done again under TCG, as in
#                             qemu_vhostfd.sh
# Needs libvirt-daemon-system, libvirt-clients (make deps), and what
# lib/nested.sh needs.  Output: KTAP.

set -u

DEV=${KVIO_VHOST_DEV:-/dev/kvio-net}
here=$(cd "$(dirname "$0")" && pwd)
ACCEL=${KVIO_NESTED_ACCEL:-auto}
DOM=kvio-libvirt
TAP=kvlv0
HOST=192.168.80.1
GUEST=192.168.80.2
MAC=52:54:00:80:00:02
XFER_KB=2048
TCG_XFER_KB=256
PINGS=10
PORTS="5031 5032"
BOOT_WAIT=400
RUN_WAIT=200

KTAP_NAMES="libvirt_start domiflist vhost_from_libvirt ping guest_to_host
host_to_guest both_queues destroy_releases"

# shellcheck source=SCRIPTDIR/lib/ktap.sh
. "$here/lib/ktap.sh"
# shellcheck source=SCRIPTDIR/lib/vmimage.sh
. "$here/lib/vmimage.sh"
# shellcheck source=SCRIPTDIR/lib/nested.sh
. "$here/lib/nested.sh"

# --- the guest ------------------------------------------------------------

write_guest_init() {
	nested_init_head
	nested_init_one_nic
	cat <<'EOF'
vdev=$(basename "$(readlink "/sys/class/net/$ifa/device")")
grep "$vdev-input" /proc/interrupts | while read -r _ c0 c1 rest; do
	say irq "${rest##* }" $((c0 + c1))
done
say 'done' "$(up)"
exec sleep 3600
EOF
}

write_guest_conf() {
	# shellcheck disable=SC2086 # a list of port numbers
	set -- $PORTS
	# One stream from each vCPU: both queue pairs carry traffic.
	echo "HOST=$HOST GUEST=$GUEST MAC=$MAC PINGS=$PINGS P_H2G=$1 P_G2H=$2"
	echo "SEND_CPUS=1 RECV_CPUS=2"
}

# --- the private libvirtd ---------------------------------------------------

lv_pid=
lv_uri=

virsh_() { virsh -q -c "$lv_uri" "$@"; }

# shellcheck disable=SC2317 # run at exit, through cleanup_extra
lv_stop() {
	if [ -n "$lv_pid" ]; then
		virsh_ destroy "$DOM" >/dev/null 2>&1
		kill "$lv_pid" 2>/dev/null
		wait "$lv_pid" 2>/dev/null
		lv_pid=
	fi
}

lv_start() {
	lv=$tmp/libvirt
	mkdir -p "$lv/etc" "$lv/run" "$lv/lib" "$lv/log" "$lv/cache" "$lv/sock" ||
		return 1
	cat >"$lv/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$lv/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:$lv/libvirtd.log"
EOF
	cat >"$lv/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
	cat >"$lv/ns.sh" <<EOF
set -e
for d in /etc/libvirt:etc /run/libvirt:run /var/lib/libvirt:lib \\
	 /var/log/libvirt:log /var/cache/libvirt:cache; do
	mkdir -p "\${d%%:*}"
	mount --bind "$lv/\${d#*:}" "\${d%%:*}"
done
exec libvirtd -f /etc/libvirt/libvirtd.conf
EOF
	unshare --mount --propagation private sh "$lv/ns.sh" >"$lv/daemon.out" 2>&1 &
	lv_pid=$!
	lv_uri="qemu:///system?socket=$lv/sock/libvirt-sock"
	# Its first start probes QEMU's capabilities: some seconds under TCG.
	deadline=$(nested_deadline 120)
	while ! virsh_ version >/dev/null 2>&1; do
		kill -0 "$lv_pid" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 1
	done
}

lv_why() {
	sed 's/^/# libvirtd: /' "$tmp/libvirt/daemon.out"
	grep -E ' (error|warning) : ' "$tmp/libvirt/libvirtd.log" 2>/dev/null |
		tail -n 15 | sed 's/^/# libvirtd.log: /'
	f=$tmp/libvirt/log/qemu/$DOM.log
	[ -f "$f" ] && tail -n 15 "$f" | sed 's/^/# qemu log: /'
}

# The domain for $ACCEL: the guest kernel and initramfs booted directly
# (qboot and an ELF vmlinux when nested_pick_boot found them), the serial
# console to a file, and the interface under test.
write_domain() {
	case $ACCEL in
	kvm) type=kvm ;;
	*) type=qemu ;;
	esac
	case $boot in
	*qboot*)
		kernel=$nested_vmlinux
		loader="<loader type='rom' readonly='yes'>/usr/share/qemu/qboot.rom</loader>"
		;;
	*)
		kernel=/boot/vmlinuz-$kver
		loader=
		;;
	esac
	cat <<EOF
<domain type='$type'>
  <name>$DOM</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    $loader
    <kernel>$kernel</kernel>
    <initrd>$tmp/initramfs.cpio</initrd>
    <cmdline>console=ttyS0 loglevel=3 panic=-1 kvio_xfer=$XFER_KB</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$tmp/guest.console'/>
      <target port='0'/>
    </serial>
    <interface type='ethernet'>
      <mac address='$MAC'/>
      <target dev='$TAP' managed='no'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
      <backend tap='/dev/net/tun' vhost='$DEV'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# --- the host side --------------------------------------------------------

# QEMU's pid, from the pid file libvirt keeps for the domain.
qemu_pid() {
	f=$tmp/libvirt/run/qemu/$DOM.pid
	[ -s "$f" ] && cat "$f"
}

# Processes with an fd open on $DEV: "pid:count" each.
dev_holders() {
	for p in /proc/[0-9]*; do
		n=0
		for f in "$p"/fd/*; do
			[ "$(readlink "$f" 2>/dev/null)" = "$DEV" ] && n=$((n + 1))
		done
		[ $n -eq 0 ] || echo "${p#/proc/}:$n"
	done
}

# The refcount of the module that provides $DEV.
dev_module() {
	case ${DEV##*/} in
	kvio-net) echo kvio_net ;;
	vhost-net) echo vhost_net ;;
	esac
}
mod_refs() {
	m=$(dev_module)
	[ -n "$m" ] && cat "/sys/module/$m/refcnt" 2>/dev/null
}

setup_transfers() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	bg_pids=
	[ "$ACCEL" = tcg ] && XFER_KB=$TCG_XFER_KB
	head -c $((XFER_KB * 1024)) /dev/urandom >"$tmp/out"
	# shellcheck disable=SC2086 # a list of port numbers
	set -- $PORTS
	nested_serve "$1" "$tmp/out"
	nested_take "$2" "$tmp/in"
}

# One session: define and start the domain for $ACCEL, wait for the guest.
# False if it did not start, died or did not finish.
run_guest() { # boot-wait run-wait
	setup_transfers
	: >"$tmp/seen"
	: >"$tmp/guest.console"
	write_domain >"$tmp/domain.xml"
	virsh_ destroy "$DOM" >/dev/null 2>&1
	virsh_ undefine "$DOM" >/dev/null 2>&1
	nested_t0=$(nested_now)
	if ! virsh_ define "$tmp/domain.xml" >"$tmp/virsh.out" 2>&1 ||
	   ! virsh_ start "$DOM" >>"$tmp/virsh.out" 2>&1; then
		sed 's/^/# virsh: /' "$tmp/virsh.out"
		start_failed=1
		return 1
	fi
	qpid=$(qemu_pid)
	[ -n "$qpid" ] || return 1
	nested_wait_guest init "$1" || return 1
	nested_wait_guest first-ping "$2" || return 1
	nested_ping "$GUEST"
	nested_wait_guest 'done' "$2"
}

why_not() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		ktap_diag "the guest did not finish in time under $ACCEL"
	else
		ktap_diag "QEMU is gone under $ACCEL"
	fi
	lv_why
	tail -n 10 "$tmp/guest.console" | tr -d '\r' | sed 's/^/# guest: /'
}

# --- setup ----------------------------------------------------------------

ktap_begin
nested_require
command -v libvirtd >/dev/null 2>&1 ||
	ktap_skip_all "libvirtd not installed (libvirt-daemon-system)"
command -v virsh >/dev/null 2>&1 ||
	ktap_skip_all "virsh not installed (libvirt-clients)"
command -v unshare >/dev/null 2>&1 || ktap_skip_all "unshare not installed"

ktap_plan
ktap_diag "device $DEV, guest kernel $kver, $(libvirtd --version), $(qemu-system-x86_64 --version | head -n 1)"
[ -c "$DEV" ] || ktap_bail "$DEV is not a character device (module not loaded?)"
ip link show "$TAP" >/dev/null 2>&1 && ktap_bail "$TAP exists already"

nested_tmp libvirt || ktap_bail "cannot make a scratch directory"
cleanup_extra=lv_stop
write_guest_init >"$tmp/init"
write_guest_conf >"$tmp/conf"
nested_initramfs "$kver" "$tmp/init" "$tmp/conf" "$tmp/initramfs.cpio" ||
	ktap_bail "cannot build the guest's initramfs"
nested_pick_boot "$kver"
# A persistent multiqueue tap, as managed='no' wants it.
nested_tap "$TAP" "$HOST" multi_queue || ktap_bail "cannot set up $TAP"

refs0=$(mod_refs)
t0=$(nested_now)
if ! lv_start; then
	lv_why
	ktap_bail "libvirtd did not come up"
fi
ktap_diag "libvirtd up in $(nested_since "$t0") s"
nested_pick_accel

# --- boot -----------------------------------------------------------------

start_failed=
if [ "$ACCEL" = kvm ] && ! run_guest 120 400 && [ -z "$start_failed" ]; then
	why_not
	virsh_ destroy "$DOM" >/dev/null 2>&1
	ACCEL=tcg
	nested_all_cpus
	run_guest "$BOOT_WAIT" "$RUN_WAIT" || why_not
elif [ "$ACCEL" = tcg ]; then
	run_guest "$BOOT_WAIT" "$RUN_WAIT" || why_not
fi
ktap_diag "accelerator: $ACCEL"

nics=$(nested_guest nics)
if [ -z "$start_failed" ] && [ -n "$nics" ] && [ "${nics%% *}" != none ]; then
	ktap_result ok libvirt_start "guest init $(nested_guest_at init) s after virsh start; NIC and CPUs: $nics"
else
	[ -n "$start_failed" ] && lv_why
	ktap_result fail libvirt_start "the guest did not come up with its NIC (${nics:-no report})"
	ktap_bail "nothing more to check without the guest"
fi

# --- what libvirt and QEMU did --------------------------------------------

virsh_ domiflist "$DOM" >"$tmp/domiflist" 2>&1
sed 's/^/# domiflist: /' "$tmp/domiflist"
if awk -v t="$TAP" -v m="$MAC" '$1 == t && $2 == "ethernet" && $4 == "virtio" && $5 == m { f = 1 }
	END { exit !f }' "$tmp/domiflist"; then
	ktap_result ok domiflist
else
	ktap_result fail domiflist "no line '$TAP ethernet - virtio $MAC'"
fi

# libvirt 9 writes -netdev as JSON ({"type":"tap",...,"vhost":true,
# "vhostfds":"a:b"}); older ones as key=value: either is accepted.
netdev=$(tr '\0' '\n' <"/proc/$qpid/cmdline" 2>/dev/null | grep -E 'vhostfds?' | head -n 1)
ktap_diag "QEMU $qpid: -netdev $netdev"
held=$(dev_holders | sed -n "s/^$qpid://p")
nested_worker_ran "$qpid"
why=
echo "$netdev" | grep -Eq 'vhost=on|"vhost":true' || why="$why no vhost=on;"
echo "$netdev" | grep -Eq '(vhostfds=|"vhostfds":")[0-9]+:[0-9]+(,|"|$)' ||
	why="$why not two vhostfds;"
[ "${held:-0}" -eq 2 ] || why="$why QEMU holds ${held:-no} fds on $DEV, not 2;"
f=$tmp/libvirt/log/qemu/$DOM.log
if [ -f "$f" ] && grep -Eiq 'vhost.*(fail|error)|falling back' "$f"; then
	sed 's/^/# qemu log: /' "$f"
	why="$why QEMU's log names a vhost failure;"
fi
[ "$(nested_field 2 "$nested_ran")" -gt 0 ] || why="$why no worker for QEMU $qpid that ran;"
if [ -z "$why" ]; then
	ktap_result ok vhost_from_libvirt "libvirt opened $DEV twice for QEMU"
else
	ktap_result fail vhost_from_libvirt "$why"
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

KB=$((XFER_KB * 1024))
g=$(nested_guest g2h)
if nested_intact "$g" "$tmp/in" && [ "$(nested_field 2 "$g")" -eq "$KB" ]; then
	ktap_result ok guest_to_host "$XFER_KB KiB intact"
else
	ktap_result fail guest_to_host "guest says '$g', host got $(wc -c <"$tmp/in") bytes"
fi
h=$(nested_guest h2g)
if nested_intact "$h" "$tmp/out"; then
	ktap_result ok host_to_guest "$XFER_KB KiB intact"
else
	ktap_result fail host_to_guest "guest says '$h'"
fi

tr -d '\r' <"$tmp/guest.console" | sed -n 's/^KVIO: irq //p' >"$tmp/irqs"
ktap_diag "receive interrupts: $(tr '\n' ' ' <"$tmp/irqs")"
in0=$(awk '$1 ~ /-input\.0$/ { print $2 }' "$tmp/irqs")
in1=$(awk '$1 ~ /-input\.1$/ { print $2 }' "$tmp/irqs")
if [ "${in0:-0}" -gt 0 ] && [ "${in1:-0}" -gt 0 ]; then
	ktap_result ok both_queues
else
	ktap_result fail both_queues "receive interrupts: queue 0 ${in0:-none}, queue 1 ${in1:-none}"
fi

# --- virsh destroy --------------------------------------------------------

virsh_ destroy "$DOM" >"$tmp/virsh.out" 2>&1 || sed 's/^/# virsh: /' "$tmp/virsh.out"
deadline=$(nested_deadline 30)
while kill -0 "$qpid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
	sleep 0.5
done
# The workers go when the last fd is closed; give their exit a moment.
sleep 1
why=
kill -0 "$qpid" 2>/dev/null && why="$why QEMU $qpid still runs;"
left=$(dev_holders | tr '\n' ' ')
[ -z "$left" ] || why="$why $DEV still held by (pid:fds) $left;"
nested_worker_ran "$qpid"
[ "$(nested_field 1 "$nested_ran")" -eq 0 ] || why="$why workers of QEMU $qpid remain;"
refs=$(mod_refs)
[ "$refs" = "$refs0" ] || why="$why $(dev_module) refcnt $refs0 before, $refs after;"
if [ -z "$why" ]; then
	ktap_result ok destroy_releases "$(dev_module) refcnt back to $refs"
else
	ktap_result fail destroy_releases "$why"
fi
qpid=
virsh_ undefine "$DOM" >/dev/null 2>&1
ktap_diag "total $(nested_since "$t0") s with libvirtd"
ktap_finish
