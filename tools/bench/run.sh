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
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench
mkdir -p "$out"
kernel=${KVIO_BENCH_KERNEL:-6.12}
csv=$out/bench.csv
rm -f "$csv" "$out/vm/bench.csv"

echo "bench: booting a $kernel test VM (TCG); $(nproc) host CPUs"
"$top/tools/vm/run" --kernel "$kernel" --mem 4G --smp 2 --timeout 3600 \
	--out "$out/vm" -- env KVIO_BENCH_SECS="${KVIO_BENCH_SECS:-4}" \
	KVIO_BENCH_ONLY="${KVIO_BENCH_ONLY:-harness latency multi testpmd nested}" \
	sh "$top/tools/bench/bench.sh" "$top" - "${KVIO_BENCH_ROUNDS:-3}" \
	>"$out/vm.log" 2>&1
rc=$?
# The guest writes its CSV into the runner's out directory.
[ -f "$out/vm/bench.csv" ] && cp "$out/vm/bench.csv" "$csv"
grep -E '^(bench|vm): ' "$out/vm.log"
[ -s "$csv" ] || { echo "bench: no results (VM exit $rc, see $out/vm.log)"; exit 1; }
echo
sh "$top/tools/bench/report.sh" "$csv" "$out/table.txt" "$out/ratios.png"
echo
echo "bench: CSV $csv, table $out/table.txt, plot $out/ratios.png"
exit $rc
