#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0
#
# Where the vCPUs of a test VM are, from its QEMU monitor's answers to
# "info registers -a" and, per CPU, "x/40gx $esp" (on stdin): each CPU's
# RIP and the words on top of its stack that point into kernel or module
# text (a rough backtrace, innermost first), as symbols of the kernel's
# text (mapfile: lines of /proc/kallsyms) or as [module]+offset (modfile:
# the guest's /proc/modules).  tools/vm/run prints it for a guest that
# stopped or ran out of time, after the guest's own NMI backtrace, if any.
#
# usage: awk -f vcpus.awk -v mapfile=KALLSYMS -v modfile=MODULES <monitor-log
function hex(h,    i, n) {
	h = tolower(h)
	n = 0
	for (i = 1; i <= length(h); i++)
		n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
	return n
}
# Kernel text addresses all start with ffffffff: the low 32 bits
# are exact in awk numbers, the full 64 would not be.
function sym(a,    lo, hi, mid, i) {
	a = tolower(a)
	sub(/^0x/, "", a)
	if (length(a) != 16 || substr(a, 1, 8) != "ffffffff")
		return ""
	a = hex(substr(a, 9))
	for (i = 1; i <= nmod; i++)
		if (a >= mbase[i] && a < mbase[i] + msize[i])
			return "[" mname[i] "]+" sprintf("0x%x", a - mbase[i])
	if (!n || a < stext || a >= etext)
		return ""
	lo = 1
	hi = n
	while (lo < hi) {
		mid = int((lo + hi + 1) / 2)
		if (addr[mid] <= a)
			lo = mid
		else
			hi = mid - 1
	}
	return name[lo] sprintf("+0x%x", a - addr[lo])
}
BEGIN {
	while ((getline line < mapfile) > 0) {
		split(line, f, " ")
		if (f[2] !~ /^[tT]$/ || substr(f[1], 1, 8) != "ffffffff")
			continue
		name[++n] = f[3]
		addr[n] = hex(substr(f[1], 9))
		if (f[3] == "_stext")
			stext = addr[n]
		if (f[3] == "_etext")
			etext = addr[n]
	}
	while ((getline line < modfile) > 0) {
		split(line, f, " ")
		if (f[6] !~ /^0xffffffff/)
			continue
		mname[++nmod] = f[1]
		msize[nmod] = f[2]
		mbase[nmod] = hex(substr(f[6], 11))
	}
}
/^CPU#[0-9]+/ {
	cpu = substr($1, 5)
	next
}
/^RIP=/ {
	rip = substr($1, 5)
	s = sym(rip)
	cpl = $0
	sub(/.*CPL=/, "", cpl)
	sub(/ .*/, "", cpl)
	printf "cpu%s: RIP %s%s, CPL %s%s\n", cpu, rip, s ? " " s : "",
		cpl, $0 ~ /HLT=1/ ? ", halted" : ""
	next
}
# The x dumps, one per CPU in order: a block ends where the
# addresses stop following on, or the memory cannot be read.
/^[0-9a-f]+: / {
	a = hex(substr($1, length($1) - 8, 8))
	if (!started || a != next_a)
		blk++
	started = 1
	next_a = a + 16
	if ($2 == "Cannot")
		started = 0
	for (i = 2; i <= NF; i++) {
		s = sym($i)
		if (s)
			trace[blk] = trace[blk] " " s
	}
}
END {
	for (b = 1; b <= blk; b++)
		printf "cpu%d: stack:%s\n", b - 1,
			trace[b] ? trace[b] : " (no kernel text)"
}
