# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# The library of every script that boots a nested guest (qemu_vhostfd.sh,
# qemu_migrate.sh, tools/bench/nested_iperf.sh), sourced after lib/ktap.sh
# and lib/vmimage.sh.  A nested test is: a guest /init written from the
# pieces below, an initramfs, taps, one QEMU per guest, the host's side of
# the transfers, then checks on what the guest reported over its serial
# console.
#
# Host side, in order of use:
#   nested_require            root, tun, QEMU, busybox, cpio, a guest kernel
#                             ($kver), else ktap_skip_all
#   nested_tmp NAME           the scratch directory $tmp, removed on exit,
#                             with fd 7 open on a fifo that never ends
#   nested_initramfs KVER INIT CONF DEST
#   nested_pick_boot KVER     $boot: QEMU's words for the guest kernel
#   nested_tap NAME [ADDR [multi_queue]]
#   nested_pick_accel         $ACCEL becomes kvm or tcg
#   nested_qemu NAME NFDS ARGS...
#                             a QEMU for the guest: console $tmp/NAME.console,
#                             output $tmp/NAME.log, fds 3 .. 2+NFDS open on
#                             $DEV for its vhostfd= and vhostfds=; $qpid
#   nested_serve PORT FILE    a one-shot listener sending FILE
#   nested_take PORT FILE     a one-shot listener receiving into FILE
#   nested_wait_console KEY FILE SECONDS PID
#   nested_console_say KEY FILE
#   nested_guest KEY          the same for the one guest of $qpid, whose
#   nested_wait_guest KEY SECONDS   console is $tmp/guest.console; the
#   nested_guest_at KEY       wait notes when KEY came, in seconds since
#                             $nested_t0 (set by the caller at its start)
#   nested_intact "SHA BYTES" FILE  the guest's report matches FILE
#   nested_ping ADDR          five pings from here: $nested_p, $nested_loss
#   nested_worker_ran PID     $nested_ran, "count ran" of the device's
#                             workers for QEMU PID (kvio-PID, vhost-PID)
#   nested_vhost_trouble NAME QEMU's output names a vhost failure
#
# Guest side: nested_init_head starts the guest's /init.  After it, the
# /init can use say (a "KVIO: key values" line for the host), up (the
# uptime), sum FILE (sha256), net_up MAC ADDR (configure the NIC with that
# address; prints its name), ping_wait HOST (ping until answered, at most
# 60 tries; $tries: the unanswered ones), send HOST PORT FILE KEY [CPUS]
# and recv HOST PORT FILE KEY [CPUS] (one file over TCP, then "KVIO: KEY
# sha bytes t0 t1"), and fd 7, a fifo that never ends.
#
# The state shared with the caller: DEV (the vhost device under test) and
# ACCEL (kvm, tcg or auto) set by the caller; tmp, taps, qpid and bg_pids
# (killed on exit), cleanup_extra (a function run first on exit), boot,
# kver and busybox.  Everything else starts with nested_.

tmp=
taps=
bg_pids=
kvm_loaded=
qpid=
cleanup_extra=
nested_cpus_off=
nested_t0=

nested_cleanup() {
	[ -n "$cleanup_extra" ] && "$cleanup_extra"
	for p in $qpid $bg_pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	nested_all_cpus
	for t in $taps; do
		ip link del "$t" 2>/dev/null
	done
	[ -n "$kvm_loaded" ] && modprobe -q -r "$kvm_loaded"
	[ -n "$tmp" ] && rm -rf "$tmp"
}

trap nested_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nested_now() { date +%s.%N; }
nested_since() { awk -v a="$1" -v b="$(nested_now)" 'BEGIN { printf "%.1f", b - a }'; }
nested_field() { echo "$2" | cut -d' ' -f"$1"; }
nested_sha() { sha256sum "$1" | cut -d' ' -f1; }
nested_stat_of() { cat "/sys/class/net/$1/statistics/$2"; }

# The prerequisites every nested test has; skips the whole plan without.
nested_require() {
	[ "$(id -u)" -eq 0 ] || ktap_skip_all "must run as root"
	[ -c /dev/net/tun ] || ktap_skip_all "no /dev/net/tun"
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		ktap_skip_all "qemu-system-x86_64 not installed"
	busybox=$(command -v busybox) ||
		ktap_skip_all "busybox (busybox-static) not installed"
	command -v cpio >/dev/null 2>&1 || ktap_skip_all "cpio not installed"
	kver=$(nested_pick_kernel)
	{ [ -f "/boot/vmlinuz-$kver" ] &&
	  [ -f "/lib/modules/$kver/modules.dep" ]; } ||
		ktap_skip_all "no kernel $kver with its modules for the guest"
}

nested_pick_kernel() {
	if [ -n "${KVIO_NESTED_KERNEL:-}" ]; then
		echo "$KVIO_NESTED_KERNEL"
		return
	fi
	k=$(for f in /boot/vmlinuz-6.1.*; do
		[ -f "$f" ] && echo "${f#/boot/vmlinuz-}"
	done | sort -V | tail -n 1)
	echo "${k:-$(uname -r)}"
}

# The scratch directory $tmp (kvio-NAME.XXXXXX), and fd 7 open on a fifo
# in it that nobody writes: a receiving nc reads it as its stdin, which
# never ends, so that it stops when the sender closes, not at its own end
# of input.
nested_tmp() { # name
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvio-$1.XXXXXX") || return 1
	mkfifo "$tmp/hold" || return 1
	exec 7<>"$tmp/hold"
}

# The start of every nested guest's /init: busybox's applets, /proc,
# /dev, /sys, the console, /kvio.conf, the helpers listed at the top of
# this file, then the virtio modules.
nested_init_head() {
	cat <<'GUEST'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t sysfs sys /sys
. /kvio.conf

up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "KVIO: $*"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

# The NIC whose address is $1, whatever its name, gets address $2/24.
net_up() { # mac addr
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address")" = "$1" ] || continue
		ip addr add "$2/24" dev "${d##*/}" &&
			ip link set "${d##*/}" up && echo "${d##*/}"
		return
	done
	return 1
}

ping_wait() { # host
	tries=0
	while ! ping -c 1 -W 1 "$1" >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ "$tries" -lt 60 ] || return 1
	done
}

# $5, if given: the CPUs (a taskset mask) that nc runs on.
send() { # host port file key [cpus]
	t0=$(up)
	${5:+taskset "$5"} nc "$1" "$2" <"$3"
	say "$4" "$(sum "$3")" "$(wc -c <"$3")" "$t0" "$(up)"
}

recv() { # host port file key [cpus]
	t0=$(up)
	${5:+taskset "$5"} nc "$1" "$2" <&7 >"$3"
	say "$4" "$(sum "$3")" "$(wc -c <"$3")" "$t0" "$(up)"
}

mkfifo /hold
exec 7<>/hold
say init "$(up)"
ip link set lo up
while read -r m; do
	insmod "/lib/modules/$m" || say error "insmod $m failed"
done </lib/modules/load.list
GUEST
}

# After nested_init_head, what a guest with one NIC does: its transfer
# size from kvio_xfer=KB on the kernel's command line, the NIC of $MAC at
# $GUEST up ("KVIO: nics IF CPUS"), pings to $HOST, then a file of that
# size each way over ports $P_G2H and $P_H2G, nc on CPUs $SEND_CPUS and
# $RECV_CPUS if they are set: all but the size from /kvio.conf.
nested_init_one_nic() {
	cat <<'GUEST'
read -r cmdline </proc/cmdline
for w in $cmdline; do
	case $w in
	kvio_xfer=*) XFER_KB=${w#*=} ;;
	esac
done
ifa=$(net_up "$MAC" "$GUEST")
say nics "${ifa:-none}" "$(nproc)"
ping_wait "$HOST"
say first-ping "$(up)" "$tries"
ping -c "$PINGS" -i 0.2 "$HOST" | tail -n 2 | tr '\n' ' ' | sed 's/^/KVIO: ping /'
echo
head -c $((XFER_KB * 1024)) /dev/urandom >/out
send "$HOST" "$P_G2H" /out g2h ${SEND_CPUS:-}
recv "$HOST" "$P_H2G" /in h2g ${RECV_CPUS:-}
GUEST
}

# An initramfs for kernel $1 (lib/vmimage.sh) with busybox, the virtio
# modules (listed in /lib/modules/load.list for the init to load), /init
# from file $2 and /kvio.conf from file $3, written to $4.  The caller's
# own files: $initramfs_extra names a function that adds them to the
# staging directory it is given.
nested_initramfs() { # kver init conf dest
	nested_init=$2 nested_conf=$3
	# shellcheck disable=SC2034 # read by vmimage_initramfs
	vmimage_extra=nested_files
	vmimage_initramfs "$1" "$busybox" "$4" virtio_pci virtio_net
}

nested_files() { # staging-dir
	cp "$nested_conf" "$1/kvio.conf" && cp "$nested_init" "$1/init" &&
		chmod 755 "$1/init" || return 1
	[ -z "${initramfs_extra:-}" ] || "$initramfs_extra" "$1"
}

# $boot: the guest kernel $1 as an ELF vmlinux (lib/vmimage.sh), booted
# through PVH with qboot, skipping the BIOS and the decompression; else
# the bzImage, the slow way.  The vmlinux goes where tools/vm/run keeps
# its own of the same kernel (an up-to-date one is reused), else in $tmp.
# shellcheck disable=SC2034 # $boot is read by nested_qemu and the caller
nested_pick_boot() { # kver
	nested_vmlinux=$tmp/vmlinux
	if [ -n "${KVIO_REPO:-}" ] && [ -d "$KVIO_REPO/build/vm/$1" ]; then
		nested_vmlinux=$KVIO_REPO/build/vm/$1/vmlinux
	fi
	if vmimage_vmlinux "/boot/vmlinuz-$1" "$nested_vmlinux" &&
	   [ -f /usr/share/qemu/qboot.rom ]; then
		boot="-kernel $nested_vmlinux -bios /usr/share/qemu/qboot.rom"
	else
		boot="-kernel /boot/vmlinuz-$1"
	fi
}
# $ACCEL (kvm, tcg or auto on entry) becomes kvm or tcg.  In the test VM,
# KVM runs on the SVM that the outer QEMU emulates with TCG, and nested
# paging there (QEMU 7.2) kills or stalls nested guests; shadow paging
# (npt=0) does not.  Set only when this script loads the module, in a VM.
nested_pick_accel() {
	if [ "$ACCEL" = auto ]; then
		ACCEL=tcg
		if [ ! -c /dev/kvm ] && grep -qw hypervisor /proc/cpuinfo; then
			if grep -qw svm /proc/cpuinfo && modprobe -q kvm_amd npt=0; then
				kvm_loaded=kvm_amd
			elif grep -qw vmx /proc/cpuinfo && modprobe -q kvm_intel; then
				kvm_loaded=kvm_intel
			fi
		fi
		[ -c /dev/kvm ] && ACCEL=kvm
	fi
	if [ "$ACCEL" = kvm ] && [ -r /sys/module/kvm_amd/parameters/npt ]; then
		ktap_diag "kvm_amd npt=$(cat /sys/module/kvm_amd/parameters/npt)"
	fi
	[ "$ACCEL" = kvm ] && [ -n "$kvm_loaded" ] && nested_one_cpu
}

# KVM flips static keys while a guest boots, and the kernel patches the
# code with a temporary int3 that it removes once every CPU is in sync.
# Under the outer QEMU's TCG (7.2) another vCPU can still execute the
# removed int3, and the test VM oopses ("Oops: int3" in
# kvm_arch_vcpu_ioctl_run).  With a single CPU online nothing can race,
# so the nested run takes the others offline (back online at exit).  Only
# in a VM whose KVM we loaded.  Pinning QEMU and the workers to CPU 0 with
# the others online does not help: the outer TCG then crashes the test VM
# (nested #GPs on a garbage current task pointer, in QEMU's thread).  A
# test VM can still stop dead with its one CPU in the nested guest's
# boot: tools/vm/run reports where it is, and tools/check.sh runs such a
# VM once more (see vm_run there).
nested_one_cpu() {
	for f in /sys/devices/system/cpu/cpu[1-9]*/online; do
		{ [ -w "$f" ] && [ "$(cat "$f")" = 1 ]; } || continue
		c=${f%/online}
		c=${c##*/cpu}
		echo 0 >"$f" && nested_cpus_off="$nested_cpus_off $c"
	done
	[ -n "$nested_cpus_off" ] && ktap_diag "CPUs offline for the nested guest:$nested_cpus_off"
}

# The CPUs that nested_one_cpu took offline back online: for a guest under TCG,
# which has no static keys to race on and is slow enough as it is.
nested_all_cpus() {
	for c in $nested_cpus_off; do
		echo 1 >"/sys/devices/system/cpu/cpu$c/online"
	done
	nested_cpus_off=
}

# QEMU's accelerator words for $1.  qemu64 under KVM too: the fewest
# features for the emulated SVM to get wrong (-cpu host can reset the test
# VM).  Under TCG -cpu max makes the 6.12 kernel double-fault early.
nested_accel_args() {
	case $1 in
	kvm) echo "-accel kvm -cpu qemu64" ;;
	*) echo "-accel tcg -cpu qemu64" ;;
	esac
}

nested_tap() { # name [address [multi_queue]]
	ip tuntap add dev "$1" mode tap ${3:+multi_queue} || return 1
	taps="$taps $1"
	if [ -w "/proc/sys/net/ipv6/conf/$1/disable_ipv6" ]; then
		echo 1 >"/proc/sys/net/ipv6/conf/$1/disable_ipv6"
	fi
	if [ -n "${2:-}" ]; then
		ip addr add "$2/24" dev "$1" || return 1
	fi
	ip link set "$1" up
}

# QEMU $1 for the guest of $boot and $tmp/initramfs.cpio under $ACCEL, in
# the background ($qpid), with $nested_smp CPUs (default 1) and
# $nested_append on the kernel's command line.  Its console goes to
# $tmp/$1.console, its output to $tmp/$1.log.  Fds 3 to 2 + $2 (at most
# 3) are open on $DEV for the caller's vhostfd= and vhostfds= options,
# which come with the rest of its devices in the arguments after $2.
# $nested_wrap, if set, is a command (and its arguments) that runs QEMU,
# such as helper_tapfds.
nested_qemu() { # name nfds args...
	nested_name=$1 nested_nfds=$2
	shift 2
	: >"$tmp/$nested_name.console"
	# The subshell becomes QEMU (or $nested_wrap, which runs it in its
	# place): $qpid is QEMU's pid, which names the device's worker.
	(
		[ "$nested_nfds" -lt 1 ] || exec 3<>"$DEV"
		[ "$nested_nfds" -lt 2 ] || exec 4<>"$DEV"
		[ "$nested_nfds" -lt 3 ] || exec 5<>"$DEV"
		# shellcheck disable=SC2046,SC2086 # lists of words
		exec ${nested_wrap:-} qemu-system-x86_64 \
			$(nested_accel_args "$ACCEL") \
			-m 256M -smp "${nested_smp:-1}" -machine "${nested_machine:-pc}" \
			-nodefaults -display none -no-reboot \
			$boot -initrd "$tmp/initramfs.cpio" \
			-append "console=ttyS0 loglevel=3 panic=-1 ${nested_append:-}" \
			-chardev "file,id=con,path=$tmp/$nested_name.console" \
			-serial chardev:con "$@" </dev/null >"$tmp/$nested_name.log" 2>&1
	) &
	qpid=$!
}

# One-shot listeners on this host: send file $2, or receive into it.
nested_serve() { # port file
	"$busybox" nc -l -p "$1" <"$2" &
	bg_pids="$bg_pids $!"
}
nested_take() { # port file
	"$busybox" nc -l -p "$1" <&7 >"$2" &
	bg_pids="$bg_pids $!"
}

# True if "$1" (a guest's report, "sha bytes ...") names file $2: its
# sha256 and its size.
nested_intact() { # "sha bytes ..." file
	[ -f "$2" ] && [ "$(nested_field 1 "$1")" = "$(nested_sha "$2")" ] &&
		[ "$(nested_field 2 "$1")" = "$(wc -c <"$2")" ]
}

# Five pings from this host to $1: the summary on one line in $nested_p,
# the loss in percent in $nested_loss (empty if ping printed no summary).
nested_ping() { # addr
	nested_p=$("$busybox" ping -c 5 -i 0.2 -W 2 "$1" 2>&1 | tail -n 2 | tr '\n' ' ')
	# shellcheck disable=SC2034 # the caller's
	nested_loss=$(nested_loss_of "$nested_p")
}
# The loss in percent in a ping summary, or nothing.
nested_loss_of() { # summary
	echo "$1" | sed -n 's/.* \([0-9]*\)% packet loss.*/\1/p'
}

# Threads named $1 (a worker's name): "tid runtime_ns" each.
nested_workers() {
	for c in /proc/[0-9]*/task/[0-9]*/comm; do
		{ read -r name <"$c"; } 2>/dev/null || continue
		[ "$name" = "$1" ] || continue
		t=${c%/comm}
		echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)"
	done | sort -u
}

# The proof that $DEV carried the traffic of QEMU $1: its workers for the
# device (kvio-$1 for kvio-net, vhost-$1 upstream) in $nested_ran, "count
# ran" (how many there are, how many of them have run), and their run
# times as a diagnostic.
nested_worker_ran() { # qemu-pid
	case ${DEV##*/} in
	kvio*) nested_w=kvio-$1 ;;
	*) nested_w=vhost-$1 ;;
	esac
	nested_ws=$(nested_workers "$nested_w")
	nested_ran="$(echo "$nested_ws" | grep -c .) $(echo "$nested_ws" | awk '$2 > 0 { n++ } END { print n + 0 }')"
	ktap_diag "workers $nested_w: $(nested_field 1 "$nested_ran"), $(nested_field 2 "$nested_ran") of which have run ($(echo "$nested_ws" | awk 'NF == 2 { printf "%s%.1f ms", s, $2 / 1e6; s = ", " }'))"
}

# True if the output of QEMU $1 names a vhost failure or a fallback to
# QEMU's own virtio-net; prints that output as diagnostics.
nested_vhost_trouble() { # name
	grep -Eiq 'vhost|falling back' "$tmp/$1.log" || return 1
	sed "s/^/# $1 qemu: /" "$tmp/$1.log"
}

# The last "KVIO: $1 ..." line in console file $2, without prefix and key.
nested_console_say() { # key file
	tr -d '\r' <"$2" | sed -n "s/^KVIO: $1 //p" | tail -n 1
}

# Why the script's one guest did not finish: whether QEMU $qpid still
# runs, its output and the end of the guest's console.
nested_why_not() {
	if kill -0 "$qpid" 2>/dev/null; then
		ktap_diag "the guest did not finish in time under $ACCEL"
	else
		wait "$qpid"
		ktap_diag "QEMU ended with status $? under $ACCEL"
	fi
	sed 's/^/# qemu: /' "$tmp/guest.log"
	tail -n 10 "$tmp/guest.console" | tr -d '\r' | sed 's/^/# guest: /'
}

# A script's one guest (console $tmp/guest.console, QEMU $qpid): its last
# "KVIO: $1 ..." line; a wait for it of up to $2 seconds that notes, in
# $tmp/seen, when it came (seconds since $nested_t0); and that time.
nested_guest() { nested_console_say "$1" "$tmp/guest.console"; }
nested_wait_guest() { # key seconds
	nested_wait_console "$1" "$tmp/guest.console" "$2" "$qpid" || return 1
	echo "$1 $(nested_since "$nested_t0")" >>"$tmp/seen"
}
nested_guest_at() { sed -n "s/^$1 //p" "$tmp/seen" | tail -n 1; }

# Wait up to $3 seconds (times KVIO_TIME_SCALE, see kvio_harness.h) for
# console file $2 to say "KVIO: $1", while process $4 lives.
nested_wait_console() { # key file seconds pid
	nested_wait_until "$1" "$2" "$(nested_deadline "$3")" "$4"
}

# The time (date +%s) $1 seconds from now, times KVIO_TIME_SCALE.
nested_deadline() { # seconds
	echo $(($(date +%s) + $1 * ${KVIO_TIME_SCALE:-1}))
}

# nested_wait_console until time $3 (see nested_deadline).
nested_wait_until() { # key file deadline pid
	while ! tr -d '\r' <"$2" | grep -q "^KVIO: $1"; do
		kill -0 "$4" 2>/dev/null || return 1
		[ "$(date +%s)" -lt "$3" ] || return 1
		sleep 0.5
	done
}
