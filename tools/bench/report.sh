#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Turn bench.sh's CSV into the table of medians with the ratio
# kvio-net / vhost-net per row (stdout and TABLE), and a PNG plot of the
# ratios (with gnuplot, when installed).
#
# usage: report.sh CSV TABLE PNG
set -u

csv=$1
table=$2
png=$3
dat=${png%.png}.dat

# Medians per (driver, workload, metric, device), then one line per row:
# driver workload metric upstream kvio ratio better goal
awk -F, '
NR == 1 { next }
{
	k = $3 SUBSEP $4 SUBSEP $5
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	v[k, $2, ++c[k, $2]] = $6
}
function median(k, d,    m, i, j, t, a) {
	m = c[k, d]
	if (!m)
		return ""
	for (i = 1; i <= m; i++)
		a[i] = v[k, d, i] + 0
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
# Metrics where less is better.
function lower(metric) {
	return metric ~ /_us$|_ms$|ns_per_pkt|insn_per_pkt|^workers$/
}
function goal(w, metric) {
	# tracing on: no goal of its own (bench.sh "trace")
	if (w ~ /_traced$/)
		return "-"
	if (metric == "kinsn_per_pkt") {
		if (w ~ /^tx64/) return "<=0.6"
		if (w ~ /^rx64/) return "<=0.75"
		if (w ~ /1500$/) return "<=0.8"
		if (w ~ /^pingpong/) return "<=0.7"
		return "-"
	}
	if (metric != "pps" && metric != "p50_us")
		return "-"
	if (w ~ /_iotlb(_4k)?$/) return ">=1.3"
	if (w ~ /^tx64_/) return ">=2.0"
	if (w ~ /^rx64_/) return ">=1.3"
	if (w ~ /^tx64$/) return ">=1.5"
	if (w ~ /^rx64$/) return ">=1.3"
	if (w ~ /1500$/) return ">=1.2"
	if (w ~ /^pingpong/) return "<=0.8"
	if (w == "8dev_8owners") return ">=1.5"
	return "-"
}
END {
	for (i = 1; i <= n; i++) {
		k = order[i]
		split(k, p, SUBSEP)
		u = median(k, "vhost-net")
		q = median(k, "kvio-net")
		r = (u != "" && q != "" && u > 0) ? sprintf("%.2f", q / u) : "-"
		b = "-"
		if (r != "-")
			b = (lower(p[3]) ? q < u : q > u) ? "kvio" : (q == u ? "same" : "upstream")
		printf "%s %s %s %s %s %s %s %s %d\n", p[1], p[2], p[3], \
			(u == "" ? "-" : u), (q == "" ? "-" : q), r, b, goal(p[2], p[3]), c[k, "kvio-net"]
	}
}' "$csv" >"$dat"

{
	echo "Medians of $(awk -F, 'NR > 1 { print $1 }' "$csv" | sort -u | wc -l) rounds; ratio = kvio-net / vhost-net."
	echo "Under TCG only the ratios of one run mean anything, not the absolute numbers."
	echo
	printf '%-8s %-20s %-18s %12s %12s %7s %-9s %s\n' driver workload metric \
		vhost-net kvio-net ratio better goal
	while read -r d w m u q r b g _; do
		printf '%-8s %-20s %-18s %12s %12s %7s %-9s %s\n' "$d" "$w" "$m" \
			"$u" "$q" "$r" "$b" "$g"
	done <"$dat"
} | tee "$table"

command -v gnuplot >/dev/null 2>&1 || {
	echo "report: gnuplot not installed, no plot" >&2
	exit 0
}
awk '$6 != "-" { printf "\"%s %s %s\" %s\n", $1, $2, $3, $6 }' "$dat" >"$dat.plot"
gnuplot <<EOF
set terminal pngcairo size 1100,600 noenhanced
set output "$png"
set title "kvio-net / vhost-net, medians (TCG: ratios of one run only)"
set style data histograms
set style fill solid 0.6
set boxwidth 0.8
set ylabel "kvio-net / vhost-net"
set key off
set label 1 "pps: higher is better; us, ns, instructions, workers: lower is better" at graph 0.01, graph 0.95
set xtics rotate by -40 font ",9"
set grid ytics
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "red"
plot "$dat.plot" using 2:xtic(1) notitle
EOF
