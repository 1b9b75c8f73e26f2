#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvio selftests in a VM on every kernel we built for, then print
# one summary line: "N passed, N failed" (skips are listed, never passed).
# KVIO_KERNELS="6.1 6.12" limits the kernels; "debug" is the debug kernel
# (tools/debug-kernel/build, make check-debug), on which tools/vm/run
# makes every time limit three times longer (KVIO_TIME_SCALE; the limits
# here are those of Debian's kernels).  KVIO_DEBUG_FUZZ is the command that
# runs the fuzzer in one more VM per kernel: on the debug kernel, by
# default, kvio_fuzz for KVIO_DEBUG_FUZZ_TIME seconds (1200) from the
# corpus in tools/fuzz; KVIO_DEBUG_FUZZ=0 leaves it out.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
logdir=$top/build/check
mkdir -p "$logdir"

kernels=${KVIO_KERNELS:-}
if [ -z "$kernels" ]; then
	for d in "$top"/build/*/kvio_net.ko; do
		[ -e "$d" ] || continue
		k=$(basename "$(dirname "$d")")
		[ -e "/boot/vmlinuz-$k" ] && kernels="$kernels $k"
	done
fi
if [ -z "$kernels" ]; then
	echo "check: no kernel with built modules and an image in /boot" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# Count KTAP results of one kernel's log; a program that stops before its
# plan is complete counts the missing results as failures.  A failure is
# printed with the last 30 diagnostic lines before it: the log may be gone
# (a CI clone) when someone asks why.
count() {
	tr -d '\r' <"$1" | awk -v k="$2" '
	function diag(  i) { for (i = nd > 30 ? nd - 30 : 0; i < nd; i++) print "failed: " k ":   " d[i % 30] > "/dev/stderr" }
	/^#/ { d[nd++ % 30] = $0; next }
	/^TAP version/ { if (inprog) miss += plan - seen; inprog = 1; plan = 0; seen = 0; nd = 0; next }
	/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; next }
	/^ok [0-9]+ .*# [Ss][Kk][Ii][Pp]/ { seen++; skip++; nd = 0; print "skipped: " k ": " $0 > "/dev/stderr"; next }
	/^ok [0-9]+/ { seen++; pass++; nd = 0; next }
	/^not ok [0-9]+/ { seen++; fail++; print "failed: " k ": " $0 > "/dev/stderr"; diag(); nd = 0; next }
	END { if (inprog) miss += plan - seen; if (miss > 0) print "failed: " k ": " miss " results missing (crash?)" > "/dev/stderr";
	      printf "%d %d %d\n", pass, fail + miss, skip }'
}

# The guest starts the tests with a fresh environment: pass on the
# selftests' own switches.  KVIO_CLIENTS=0 leaves the real clients out,
# KVIO_CLIENTS=only runs nothing else (each has a VM of its own).
envs=
for v in KVIO_VHOST_DEV KVIO_NESTED_ACCEL KVIO_NESTED_KERNEL; do
	eval "val=\${$v:-}"
	[ -n "$val" ] && envs="$envs $v=$val"
done

# tools/vm/run with the arguments after the first two, its output added
# to file $2 ($1 labels check's own lines).  tools/vm/run boots a run once
# more after a failure that is the emulator's (see there): only the last
# attempt's results count, the KTAP lines before it become comments.
vm_run() { # label log tools/vm/run-args...
	out=$2
	shift 2
	"$top/tools/vm/run" "$@" >"$out.tmp" 2>&1
	rc_vm=$?
	awk 'NR == FNR { if (/^vm: .*booting once more/) last = FNR; next }
	     FNR < last && /^(TAP version|1\.\.|ok |not ok )/ { $0 = "# void: " $0 }
	     { print }' "$out.tmp" "$out.tmp" >>"$out"
	rm -f "$out.tmp"
	return "$rc_vm"
}

# The kvio-assign tests on kernel $1, in their own VMs, counted into the
# totals like the main run: first q35 with an emulated intel-iommu (with
# snoop control, as real ones have: kvio_assign opens no device whose
# no-snoop DMA it cannot block), an edu alone in its IOMMU group and two
# behind a conventional PCI bridge (one shared group), the same with an
# amd-iommu (its own PCI function takes slot 3; its aperture reaches
# 2^64, and the first edu addresses all 64 bits), then a plain pc machine
# with an edu and no IOMMU, where the device must be refused, an
# intel-iommu without interrupt remapping, where opening must be refused,
# and one without snoop control, where it must be refused unless
# allow_noncoherent=1.  The fault tests provoke exactly these DMAR
# reports (edu at 00:03.0 writing to IOVAs 0x800000, 0x101000 (unmapped) and
# 0x105000 (read-only));
# they are no splat, but are declared so that a tighter scan never trips
# on them.
check_assign() {
	log=$logdir/$1-assign.log
	echo "check: running kvio-assign tests on $1 (log: $log)"
	start=$(date +%s)
	: >"$log"
	vm_run "$1: assign" "$log" --kernel "$1" --timeout 900 \
		--machine q35 \
		--qemu-arg -device --qemu-arg intel-iommu,intremap=on,snoop-control=on \
		--qemu-arg -device --qemu-arg edu,addr=3 \
		--qemu-arg -device --qemu-arg pci-bridge,id=kvio-br,chassis_nr=1,shpc=off,addr=4 \
		--qemu-arg -device --qemu-arg edu,bus=kvio-br,addr=1 \
		--qemu-arg -device --qemu-arg edu,bus=kvio-br,addr=2 \
		--append intel_iommu=on \
		--expect-dmesg '^\[ *[0-9.]+\] DMAR: DRHD: handling fault status reg [0-9a-f]+$' \
		--expect-dmesg '^\[ *[0-9.]+\] DMAR: \[DMA Write NO_PASID\] Request device \[00:03\.0\] fault addr 0x(800000|101000|105000) \[fault reason 0x05\] PTE Write access is not set$' \
		-- sh "$top/selftests/kvio/assign_run.sh" "$top/build/selftests"
	rc=$?
	vm_run "$1: assign" "$log" --kernel "$1" --timeout 900 \
		--machine q35 \
		--qemu-arg -device --qemu-arg amd-iommu,intremap=on \
		--qemu-arg -device --qemu-arg edu,addr=5,dma_mask=0xffffffffffffffff \
		--qemu-arg -device --qemu-arg pci-bridge,id=kvio-br,chassis_nr=1,shpc=off,addr=6 \
		--qemu-arg -device --qemu-arg edu,bus=kvio-br,addr=1 \
		--qemu-arg -device --qemu-arg edu,bus=kvio-br,addr=2 \
		-- sh "$top/selftests/kvio/assign_run.sh" "$top/build/selftests"
	rc4=$?
	vm_run "$1: assign" "$log" --kernel "$1" --timeout 900 \
		--qemu-arg -device --qemu-arg edu \
		-- sh "$top/selftests/kvio/assign_run.sh" --no-iommu "$top/build/selftests"
	rc2=$?
	vm_run "$1: assign" "$log" --kernel "$1" --timeout 900 \
		--machine q35 \
		--qemu-arg -device --qemu-arg intel-iommu,intremap=off \
		--qemu-arg -device --qemu-arg edu,addr=3 \
		--append intel_iommu=on \
		-- sh "$top/selftests/kvio/assign_run.sh" --no-ir "$top/build/selftests"
	rc3=$?
	vm_run "$1: assign" "$log" --kernel "$1" --timeout 900 \
		--machine q35 \
		--qemu-arg -device --qemu-arg intel-iommu,intremap=on \
		--qemu-arg -device --qemu-arg edu,addr=3 \
		--append intel_iommu=on \
		-- sh "$top/selftests/kvio/assign_run.sh" --no-sc "$top/build/selftests"
	rc5=$?
	grep -E '^vm: ' "$log" | sed "s/^/check: $1: assign: /"
	# shellcheck disable=SC2046 # three numbers, split on purpose
	set -- "$1" $(count "$log" "$1")
	if { [ "$rc" -ne 0 ] || [ "$rc2" -ne 0 ] || [ "$rc3" -ne 0 ] ||
	     [ "$rc4" -ne 0 ] || [ "$rc5" -ne 0 ]; } && [ "$3" -eq 0 ]; then
		echo "failed: $1: assign VM runs exited $rc, $rc4, $rc2, $rc3, $rc5 (see $log)" >&2
		set -- "$1" "$2" 1 "$4"
	fi
	echo "check: $1: assign: $2 passed, $3 failed, $4 skipped in $(( $(date +%s) - start )) s"
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	total_skip=$((total_skip + $4))
}

# run.sh in a VM on kernel $1, logged to $2 as "$3" (what runs), with
# KVIO_CLIENTS=$4; more tools/vm/run options follow.  run.sh bounds each
# test by the timeout in selftests/kvio/settings; the VM's own limit is
# the sum of those of the tests it runs, plus ten minutes for the boot and
# the kmemleak scan, so that it never cuts a test short.
check_run() { # kernel log what clients [vm options]
	k=$1 log=$2 what=$3 clients=$4
	shift 4
	case $clients in
	only) ntests=$(grep -c '\.sh$' "$top/build/selftests/tests.list") ;;
	*) ntests=$(grep -vc '\.sh$' "$top/build/selftests/tests.list") ;;
	esac
	echo "check: running $what on $k (log: $log)"
	start=$(date +%s)
	: >"$log"
	# shellcheck disable=SC2086 # $envs: words VAR=value
	vm_run "$k: $what" "$log" --kernel "$k" \
		--timeout "$((ntests * test_limit + 600))" "$@" -- \
		env $envs KVIO_CLIENTS="$clients" \
		sh "$top/selftests/kvio/run.sh" "$top/build/selftests"
	tally $?
}

# Add the KTAP results of $log to the totals; a VM run that failed ($1)
# without a failed result counts as one failure.
tally() { # vm-status
	grep -E '^vm: ' "$log" | sed "s/^/check: $k: $what: /"
	# shellcheck disable=SC2046 # three numbers, split on purpose
	set -- "$1" $(count "$log" "$k")
	rc=$1 pass=$2 fail=$3 skip=$4
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "failed: $k: $what: VM run exited $rc (see $log)" >&2
		fail=$((fail + 1))
	fi
	echo "check: $k: $what: $pass passed, $fail failed, $skip skipped in $(( $(date +%s) - start )) s"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
}

# kvio under DKMS (selftests/kvio/dkms_check.sh), in a DKMS tree of its
# own in build/dkms: "install" and "remove" here, "load" in a VM of each
# kernel that has headers, before the other tests.  KVIO_DKMS=0 leaves it
# out.
dkms_root=$top/build/dkms/root
check_dkms() { # install|load|remove [kernel]
	k=${2:-host} log=$logdir/dkms-$1${2:+-$2}.log what="dkms $1"
	start=$(date +%s)
	: >"$log"
	if [ "$1" = load ]; then
		echo "check: loading the DKMS-built modules on $k (log: $log)"
		vm_run "$k: $what" "$log" --kernel "$k" --no-kvio --timeout 600 \
			-- sh "$top/selftests/kvio/dkms_check.sh" load "$dkms_root"
	else
		echo "check: dkms $1 (log: $log)"
		mkdir -p "$top/build/dkms"
		sh "$top/selftests/kvio/dkms_check.sh" "$1" "$dkms_root" >"$log" 2>&1
	fi
	tally $?
}

# The fuzzer on kernel $1: command $2, run by sh in a VM of its own,
# printing KTAP, at most KVIO_DEBUG_FUZZ_TIMEOUT seconds.
check_fuzz() { # kernel command
	k=$1 log=$logdir/$1-fuzz.log what=fuzzer
	echo "check: running the fuzzer on $k (log: $log)"
	start=$(date +%s)
	: >"$log"
	vm_run "$k: $what" "$log" --kernel "$k" \
		--timeout "${KVIO_DEBUG_FUZZ_TIMEOUT:-3600}" -- \
		sh -c "$2"
	rc=$?
	sh "$top/tools/fuzz/ledger" add "$log" "check-$k" "$k" \
		"$(( $(date +%s) - start ))" "$rc"
	tally "$rc"
}

total_pass=0 total_fail=0 total_skip=0
test_limit=$(sed -n 's/^timeout=//p' "$top/selftests/kvio/settings")
dkms=${KVIO_DKMS:-1}
[ "$dkms" = 0 ] || check_dkms install
for k in $kernels; do
	if [ "$dkms" != 0 ] && [ -d "$dkms_root/lib/modules/$k/updates" ]; then
		check_dkms load "$k"
	fi
	# The programs, then the real clients (testpmd, nested guests) in a
	# VM of their own.
	if [ "${KVIO_CLIENTS:-1}" != only ]; then
		check_run "$k" "$logdir/$k.log" selftests 0
	fi
	if [ "${KVIO_CLIENTS:-1}" != 0 ]; then
		check_run "$k" "$logdir/$k-clients.log" clients only
	fi
	check_assign "$k"
	fuzz=${KVIO_DEBUG_FUZZ:-}
	if [ -z "$fuzz" ] && [ "$k" = debug ]; then
		fuzz="\"$top/build/fuzz/kvio_fuzz\" --ktap --stats 300"
		fuzz="$fuzz --time ${KVIO_DEBUG_FUZZ_TIME:-1200}"
		fuzz="$fuzz --out \"\$KVIO_OUT/fuzz\""
		fuzz="$fuzz --corpus-out \"\$KVIO_OUT/fuzz/corpus\""
	fi
	if [ -n "$fuzz" ] && [ "$fuzz" != 0 ]; then
		check_fuzz "$k" "$fuzz"
	elif [ "$k" = debug ]; then
		echo "check: $k: fuzzer: not run (KVIO_DEBUG_FUZZ=0)"
	fi
done
[ "$dkms" = 0 ] || check_dkms remove

if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
