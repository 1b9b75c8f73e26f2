#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Check the kvio_insn plugin before make bench trusts it: insn_probe in a
# test VM runs a loop of exactly 4 user instructions N times in window 0
# and N getppid() calls in window 1.  Window 0 must count 4N user
# instructions (the blocks holding the markers may add a few), window 1
# more than N kernel instructions; both must be there.
#
# usage: insn_check.sh TOP OUTDIR     exit 0 if the counts are right
set -u

top=$1
out=$2
n=1000000
counts=$out/insn-check.txt
rm -f "$counts"
mkdir -p "$out"
"$top/tools/vm/run" --kernel "${KVIO_BENCH_KERNEL:-6.12}" --timeout 600 \
	--qemu-arg -plugin \
	--qemu-arg "$top/build/bench/kvio_insn.so,out=$counts" \
	--out "$out/insn-check-vm" -- "$top/build/bench/insn_probe" "$n" \
	>"$out/insn-check.log" 2>&1 || {
	echo "insn_check: the probe's VM failed (see $out/insn-check.log)"
	exit 1
}
awk -v n="$n" '
$1 == "window" && $2 == 0 { u0 = $6; seen0 = 1 }
$1 == "window" && $2 == 1 { k1 = $4; seen1 = 1 }
END {
	if (!seen0 || !seen1) { print "insn_check: a window is missing"; exit 1 }
	if (u0 < 4 * n || u0 > 4 * n + 64) {
		printf "insn_check: window 0 counted %d user instructions, not %d\n", u0, 4 * n
		exit 1
	}
	if (k1 <= n) {
		printf "insn_check: %d getppid() calls counted %d kernel instructions\n", n, k1
		exit 1
	}
	printf "insn_check: %d user instructions counted for %d (exact but for the markers), %.0f kernel instructions per getppid()\n", u0, 4 * n, k1 / n
}' "$counts"
