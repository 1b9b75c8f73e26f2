#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvio selftests in a VM on every kernel we built for, then print
# one summary line: "N passed, N failed" (skips are listed, never passed).
# KVIO_KERNELS="6.1 6.12" limits the kernels.
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
# plan is complete counts the missing results as failures.
count() {
	tr -d '\r' <"$1" | awk -v k="$2" '
	/^TAP version/ { if (inprog) miss += plan - seen; inprog = 1; plan = 0; seen = 0; next }
	/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; next }
	/^ok [0-9]+ .*# [Ss][Kk][Ii][Pp]/ { seen++; skip++; print "skipped: " k ": " $0 > "/dev/stderr"; next }
	/^ok [0-9]+/ { seen++; pass++; next }
	/^not ok [0-9]+/ { seen++; fail++; print "failed: " k ": " $0 > "/dev/stderr"; next }
	END { if (inprog) miss += plan - seen; if (miss > 0) print "failed: " k ": " miss " results missing (crash?)" > "/dev/stderr";
	      printf "%d %d %d\n", pass, fail + miss, skip }'
}

# The guest starts the tests with a fresh environment: pass on the
# selftests' own switches (KVIO_CLIENTS=0 leaves the real clients out).
envs=
for v in KVIO_CLIENTS KVIO_VHOST_DEV KVIO_NESTED_ACCEL KVIO_NESTED_KERNEL; do
	eval "val=\${$v:-}"
	[ -n "$val" ] && envs="$envs $v=$val"
done

total_pass=0 total_fail=0 total_skip=0
for k in $kernels; do
	log=$logdir/$k.log
	echo "check: running selftests on $k (log: $log)"
	start=$(date +%s)
	# shellcheck disable=SC2086 # $envs: words VAR=value
	"$top/tools/vm/run" --kernel "$k" -- env $envs \
		sh "$top/selftests/kvio/run.sh" "$top/build/selftests" >"$log" 2>&1
	rc=$?
	grep -E '^vm: ' "$log" | sed "s/^/check: $k: /"
	set -- $(count "$log" "$k")
	pass=$1 fail=$2 skip=$3
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "failed: $k: VM run exited $rc (see $log)" >&2
		fail=$((fail + 1))
	fi
	echo "check: $k: $pass passed, $fail failed, $skip skipped in $(( $(date +%s) - start )) s"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
done

if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
