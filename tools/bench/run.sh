#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# make bench: one test VM, every workload against upstream vhost-net and
# kvio-net, alternating, several rounds; then the table, CSV and plot in
# build/bench/.
#
# env: KVIO_BENCH_KERNEL   outer kernel (default 6.12)
#      KVIO_BENCH_ROUNDS   rounds (default 3)
#      KVIO_BENCH_SECS     seconds per throughput measurement (default 4)
#      KVIO_BENCH_ONLY     workloads (see tools/bench/bench.sh)
#      KVIO_BENCH_INSN     0: without the kvio_insn plugin (default: with
#                          it when make bench built it and insn_probe)
#      KVIO_BENCH_PROFILE  1: the plugin also profiles each measurement;
#                          build/bench/profile.txt says, per row, which
#                          guest functions took the instructions
#
# With the plugin, QEMU counts the guest's instructions in each
# kvio_bench measurement (tools/bench/kvio_insn.c): the CSV gets
# kinsn_per_pkt and uinsn_per_pkt rows, the guest's kernel and user
# instructions per frame (per round trip for pingpong), which move far
# less with the host's load than pps (Documentation/performance.rst);
# kinsn_per_pkt is split into kpoll_insn_per_pkt, the kernel instructions
# of kvio's adaptive poll (a spin as long as time says), and
# kwork_insn_per_pkt, all the others.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench
mkdir -p "$out"
kernel=${KVIO_BENCH_KERNEL:-6.12}
csv=$out/bench.csv
rm -f "$csv" "$out/vm/bench.csv" "$out/vm/insn.map" "$out/insn.txt" \
	"$out/vm/guest-kallsyms" "$out/insn-profile.txt" "$out/profile.txt"
profile=${KVIO_BENCH_PROFILE:-0}
plugin=$top/build/bench/kvio_insn.so
insn=0
if [ "${KVIO_BENCH_INSN:-1}" != 0 ] && [ -f "$plugin" ] &&
	[ -x "$top/build/bench/insn_probe" ]; then
	sh "$top/tools/bench/insn_check.sh" "$top" "$out" || exit 1
	insn=1
	p="$plugin,out=$out/insn.txt"
	[ "$profile" = 1 ] && p="$p,profile=$out/insn-profile.txt"
	set -- --qemu-arg -plugin --qemu-arg "$p"
	echo "bench: counting guest instructions with $plugin"
else
	set --
fi

echo "bench: booting a $kernel test VM (TCG); $(nproc) host CPUs"
"$top/tools/vm/run" --kernel "$kernel" --mem 4G --smp 2 --timeout 3600 \
	"$@" --out "$out/vm" -- env KVIO_BENCH_SECS="${KVIO_BENCH_SECS:-4}" \
	KVIO_BENCH_INSN=$insn KVIO_BENCH_PROFILE="$profile" \
	KVIO_BENCH_ONLY="${KVIO_BENCH_ONLY:-harness latency multi testpmd nested}" \
	sh "$top/tools/bench/bench.sh" "$top" - "${KVIO_BENCH_ROUNDS:-3}" \
	>"$out/vm.log" 2>&1
rc=$?
# The guest writes its CSV into the runner's out directory.
[ -f "$out/vm/bench.csv" ] && cp "$out/vm/bench.csv" "$csv"
grep -E '^(bench|vm): ' "$out/vm.log"
[ -s "$csv" ] || { echo "bench: no results (VM exit $rc, see $out/vm.log)"; exit 1; }
# Each window the plugin counted, divided by the frames its measurement saw.
if [ "$insn" = 1 ] && [ -f "$out/vm/insn.map" ] && [ -f "$out/insn.txt" ]; then
	awk -F, '
	FNR == NR {
		if ($1 == "window") { k[$2] = $4; u[$2] = $6; p[$2] = $8 + 0 }
		next
	}
	($1 in k) && $6 > 0 {
		printf "%s,%s,%s,%s,kinsn_per_pkt,%.0f\n", $2, $3, $4, $5, k[$1] / $6
		printf "%s,%s,%s,%s,kwork_insn_per_pkt,%.0f\n", $2, $3, $4, $5, (k[$1] - p[$1]) / $6
		printf "%s,%s,%s,%s,kpoll_insn_per_pkt,%.0f\n", $2, $3, $4, $5, p[$1] / $6
		printf "%s,%s,%s,%s,uinsn_per_pkt,%.0f\n", $2, $3, $4, $5, u[$1] / $6
	}' FS=' ' "$out/insn.txt" FS=, "$out/vm/insn.map" >>"$csv"
	echo "bench: $(grep -c '^window ' "$out/insn.txt") instruction windows counted"
	if [ "$profile" = 1 ] && [ -f "$out/vm/guest-kallsyms" ]; then
		sh "$top/tools/bench/insn_profile.sh" "$out/insn-profile.txt" \
			"$out/vm/guest-kallsyms" "$out/vm/insn.map" >"$out/profile.txt"
		echo "bench: where the instructions went: $out/profile.txt"
	fi
fi
# What kvio's tracepoints cost (bench.sh "trace"): kvio-net's tx64 with
# every event on against tx64, in kernel instructions per frame without
# the adaptive poll (a spin as long as time says); and off, the events
# per frame, each of which is one NOP when its tracepoint is disabled.
awk -F, '
$2 == "kvio-net" && ($4 == "tx64" || $4 == "tx64_traced") &&
($5 == "kwork_insn_per_pkt" || $5 == "events_per_pkt") {
	k = $4 " " $5
	v[k, ++n[k]] = $6 + 0
}
function med(k,    m, i, j, t, a) {
	m = n[k]
	if (!m)
		return -1
	for (i = 1; i <= m; i++)
		a[i] = v[k, i]
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	off = med("tx64 kwork_insn_per_pkt")
	on = med("tx64_traced kwork_insn_per_pkt")
	e = med("tx64_traced events_per_pkt")
	if (off > 0 && on > 0)
		printf "bench: tracing on: kvio-net tx64, %d kernel instructions per frame (poll aside) without events, %d with all on (%+.1f%%)\n", off, on, 100 * (on - off) / off
	if (off > 0 && e >= 0)
		printf "bench: tracing off: %.4f events per frame, a NOP each: at most %.4f instructions per frame, %.4f%% of %d\n", e, e, 100 * e / off, off
}' "$csv"
echo
sh "$top/tools/bench/report.sh" "$csv" "$out/table.txt" "$out/ratios.png"
echo
echo "bench: CSV $csv, table $out/table.txt, plot $out/ratios.png"
exit $rc
