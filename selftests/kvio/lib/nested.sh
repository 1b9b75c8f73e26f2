# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# The nested-guest tests' library (qemu_vhostfd.sh, qemu_migrate.sh,
# tools/bench/nested_iperf.sh), sourced after lib/ktap.sh and
# lib/vmimage.sh: the guest's
# kernel and initramfs, the host's taps, KVM inside the test VM.  Its
# functions and variables start with nested_, but for the state the
# caller shares: tmp (a scratch directory, removed on exit), taps, qpid
# (the caller's QEMU) and bg_pids (killed on exit), cleanup_extra (a
# function run first on exit).

tmp=
taps=
bg_pids=
kvm_loaded=
qpid=
cleanup_extra=
cpus_off=

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

# The start of every nested guest's /init: busybox's applets, /proc,
# /dev, /sys, the console, /kvio.conf; helpers up (uptime), say (a line
# "KVIO: ..." for the host) and sum (sha256); then the virtio modules.
nested_init_head() {
	cat <<'EOF'
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

say init "$(up)"
while read -r m; do
	insmod "/lib/modules/$m" || say error "insmod $m failed"
done </lib/modules/load.list
EOF
}

# Guest /init text after nested_init_head: the NIC whose address is $MAC
# gets $GUEST/24 (its name in $ifa), lo comes up, and the guest pings $HOST
# until it answers ($i: the unanswered tries, at most 60).
nested_init_net() {
	cat <<'EOF'
for d in /sys/class/net/*; do
	[ "$(cat "$d/address")" = "$MAC" ] && ifa=$(basename "$d")
done
ip link set lo up
ip addr add "$GUEST/24" dev "$ifa" && ip link set "$ifa" up
i=0
while ! ping -c 1 -W 1 "$HOST" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || break
done
EOF
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
# shellcheck disable=SC2034 # $boot is the caller's
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
		echo 0 >"$f" && cpus_off="$cpus_off $c"
	done
	[ -n "$cpus_off" ] && ktap_diag "CPUs offline for the nested guest:$cpus_off"
}

# The CPUs that nested_one_cpu took offline back online: for a guest under TCG,
# which has no static keys to race on and is slow enough as it is.
nested_all_cpus() {
	for c in $cpus_off; do
		echo 1 >"/sys/devices/system/cpu/cpu$c/online"
	done
	cpus_off=
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

# Threads named $1 (a worker's name): "tid runtime_ns" each.
nested_workers() {
	for c in /proc/[0-9]*/task/[0-9]*/comm; do
		{ read -r name <"$c"; } 2>/dev/null || continue
		[ "$name" = "$1" ] || continue
		t=${c%/comm}
		echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)"
	done | sort -u
}

# The last "KVIO: $1 ..." line in console file $2, without prefix and key.
nested_console_say() { # key file
	tr -d '\r' <"$2" | sed -n "s/^KVIO: $1 //p" | tail -n 1
}

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
