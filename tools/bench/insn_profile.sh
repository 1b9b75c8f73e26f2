#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Where each kvio_insn window's instructions went, by guest function: the
# plugin's profile (profile=PFILE: "profile ID", then "ADDRESS INSNS"
# lines), the guest's /proc/kallsyms of the same boot, and bench.sh's
# insn.map (what each window measured, and its packets).  Prints, per
# window, the TOP functions with their instructions per packet and their
# share of the window; user-space addresses count as [user].
#
# usage: insn_profile.sh PFILE KALLSYMS INSN_MAP [TOP]
set -u

prof=$1 syms=$2 map=$3 top=${4:-25}

{
	# text symbols: "ADDRESS 0 NAME [MODULE]"; addresses are 16 hex
	# digits, so that sorting them as strings sorts them as numbers
	awk '$2 ~ /^[tTwW]$/ { print tolower($1), 0, $3 ($4 != "" ? $4 : "") }' "$syms"
	awk '$1 == "profile" { w = $2; next } { print tolower($1), 1, w, $2 }' "$prof"
} | LC_ALL=C sort -k1,1 -k2,2n | awk -v top="$top" -v map="$map" '
BEGIN {
	FS = ","
	while ((getline l < map) > 0) {
		split(l, f, ",")
		if (!(f[1] in what)) {
			what[f[1]] = f[3] " " f[5] " (round " f[2] ")"
			pkts[f[1]] = f[6]
		} else {
			what[f[1]] = what[f[1]] ", " f[5]
		}
	}
	FS = " "
}
$2 == 0 { sym = $3; next }
{
	s = sym == "" ? "[user]" : sym
	if (!(($3, s) in n))
		names[$3] = names[$3] SUBSEP s
	n[$3, s] += $4
	tot[$3] += $4
	seen[$3] = 1
	if ($3 + 0 > maxw)
		maxw = $3 + 0
}
END {
	for (w = 0; w <= maxw; w++) {
		if (!(w in seen))
			continue
		p = pkts[w] > 0 ? pkts[w] : 1
		printf "window %s: %s, %d packets, %.0f instructions per packet\n", \
			w, (w in what ? what[w] : "?"), pkts[w], tot[w] / p
		k = split(substr(names[w], 2), list, SUBSEP)
		for (i = 1; i <= k; i++)
			order[i] = list[i]
		for (i = 2; i <= k; i++)
			for (j = i; j > 1 && n[w, order[j - 1]] < n[w, order[j]]; j--) {
				t = order[j]; order[j] = order[j - 1]; order[j - 1] = t
			}
		for (i = 1; i <= k && i <= top; i++)
			printf "  %10.1f  %5.1f%%  %s\n", n[w, order[i]] / p, \
				100 * n[w, order[i]] / tot[w], order[i]
		print ""
	}
}'
