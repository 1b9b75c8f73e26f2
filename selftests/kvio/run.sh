#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run every test program of the kvio selftest suite, one after the other,
# streaming their KTAP to stdout.  Exits non-zero if any program failed or
# is missing.
#
# usage: run.sh [BINDIR]    BINDIR defaults to this script's directory.
#
# vhost_diff reads Documentation/differences.rst from $KVIO_REPO (or
# $KVIO_DIFF_DOC); KVIO_REPO defaults to the repository holding this script.
#
# Then the real-client tests, dpdk_virtio_user.sh, qemu_vhostfd.sh and
# qemu_migrate.sh, against $KVIO_VHOST_DEV (default /dev/kvio-net);
# KVIO_CLIENTS=0 leaves them out, KVIO_CLIENTS=only runs nothing else.
#
# The kvio-assign tests (assign_*) need a VM with an IOMMU and edu devices:
# assign_run.sh runs them, never this script.
#
# Each program has $KVIO_PROG_TIMEOUT seconds (default 1800): one that
# hangs loses its own results (the runner counts them as failures), the
# others still run, and the kernel stacks of its processes, of the blocked
# tasks and of the kvio and vhost workers are printed as diagnostics.

here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-$here}
if [ -z "${KVIO_REPO:-}" ] && [ -f "$here/../../Documentation/differences.rst" ]; then
	KVIO_REPO=$(cd "$here/../.." && pwd)
	export KVIO_REPO
fi

# The programs: one per *.c beside this script (diff_*.c and sc_*.c are
# parts of vhost_diff); in an installed tree without sources, every
# executable in BINDIR.
progs=
for src in "$here"/*.c; do
	[ -f "$src" ] || continue
	name=$(basename "$src" .c)
	case $name in
	diff_* | sc_* | ndp_* | helper_* | assign_*) continue ;;
	# built only beside the kvio repo's fuzzer (see the Makefile)
	fuzz_replay) [ -d "$here/../../tools/fuzz" ] || continue ;;
	esac
	progs="$progs $name"
done
if [ -z "$progs" ]; then
	for f in "$bindir"/*; do
		if [ ! -f "$f" ] || [ ! -x "$f" ]; then
			continue
		fi
		case $f in
		*.sh | */helper_* | */assign_*) continue ;;
		esac
		progs="$progs $(basename "$f")"
	done
fi

limit=${KVIO_PROG_TIMEOUT:-1800}

# Kernel stacks of the threads of process group $pg, of every task in
# uninterruptible sleep, and of the kvio and vhost workers.
stacks() {
	for t in /proc/[0-9]*/task/[0-9]*; do
		{ read -r stat <"$t/stat"; } 2>/dev/null || continue
		# comm may hold spaces: the fields after its closing paren.
		# shellcheck disable=SC2086 # split into the fields
		set -- ${stat##*) }
		state=$1 pgrp=$3
		{ read -r comm <"$t/comm"; } 2>/dev/null || continue
		case $comm in
		kvio-* | vhost-*) ;;
		*) [ "$pgrp" = "$pg" ] || [ "$state" = D ] || continue ;;
		esac
		echo "# ${t#/proc/} $comm, state $state:"
		sed 's/^/#   /' "$t/stack" 2>/dev/null
	done
}

# Run program $1 (its command line follows) in a process group of its
# own, which is ended, after a report, once it outlives $limit seconds.
run_prog() { # name cmd...
	name=$1
	shift
	setsid "$@" &
	pg=$!
	(
		sleep "$limit" &
		s=$!
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		wait "$s"
		kill -0 "$pg" 2>/dev/null || exit 0
		echo "# run.sh: $name still runs after $limit s: ending it; kernel stacks:"
		stacks
		kill -TERM "-$pg"
		i=0
		while [ "$i" -lt 10 ] && kill -0 "-$pg" 2>/dev/null; do
			sleep 1
			i=$((i + 1))
		done
		kill -KILL "-$pg" 2>/dev/null
	) &
	dog=$!
	wait "$pg"
	st=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	if [ "$st" -ne 0 ]; then
		echo "# run.sh: $name exited with status $st"
		rc=1
	fi
}

rc=0
[ "${KVIO_CLIENTS:-1}" = only ] && progs=
for p in $progs; do
	if [ ! -x "$bindir/$p" ]; then
		echo "# run.sh: $bindir/$p is missing (not built?)"
		rc=1
		continue
	fi
	echo "# run.sh: $p"
	run_prog "$p" "$bindir/$p"
done
# The real clients (DPDK testpmd, nested QEMU guests): minutes under TCG,
# so KVIO_CLIENTS=0 leaves them out for a quick run.
if [ "${KVIO_CLIENTS:-1}" != 0 ]; then
	for s in dpdk_virtio_user.sh qemu_vhostfd.sh qemu_migrate.sh; do
		echo "# run.sh: $s"
		run_prog "$s" sh "$here/$s" "$bindir"
	done
fi
exit $rc
