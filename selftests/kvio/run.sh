#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvio selftests listed in BINDIR/tests.list (the Makefile's
# TEST_GEN_PROGS, then its TEST_PROGS), one after the other, streaming
# their KTAP to stdout.  Exits non-zero if any test failed or is missing.
#
# usage: run.sh [BINDIR]    BINDIR defaults to this script's directory.
#
# Programs run from BINDIR, scripts (*.sh) from beside this script, with
# BINDIR as their argument.  KVIO_CLIENTS=0 leaves the scripts (the real
# clients: DPDK testpmd, nested QEMU guests) out; KVIO_CLIENTS=only runs
# nothing else.  vhost_diff reads Documentation/differences.rst from
# $KVIO_REPO (or $KVIO_DIFF_DOC); KVIO_REPO defaults to the repository
# holding this script.
#
# Each test has the timeout in ./settings (kselftest's), times
# KVIO_TIME_SCALE: one that outlives it is ended with its process group
# and loses its own results (the runner counts them as failures); the
# kernel stacks of its threads, of the blocked tasks and of the kvio and
# vhost workers are printed first.

here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-$here}
if [ -z "${KVIO_REPO:-}" ] && [ -f "$here/../../Documentation/differences.rst" ]; then
	KVIO_REPO=$(cd "$here/../.." && pwd)
	export KVIO_REPO
fi

if [ ! -f "$bindir/tests.list" ]; then
	echo "# run.sh: $bindir/tests.list is missing (build the selftests)"
	exit 1
fi
tests=$(cat "$bindir/tests.list")
limit=$(sed -n 's/^timeout=//p' "$here/settings")
limit=$((${limit:-45} * ${KVIO_TIME_SCALE:-1}))

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
for test in $tests; do
	case $test in
	*.sh) [ "${KVIO_CLIENTS:-1}" = 0 ] && continue ;;
	*) [ "${KVIO_CLIENTS:-1}" = only ] && continue ;;
	esac
	echo "# run.sh: $test"
	case $test in
	*.sh)
		run_prog "$test" sh "$here/$test" "$bindir"
		;;
	*)
		if [ ! -x "$bindir/$test" ]; then
			echo "# run.sh: $bindir/$test is missing (not built?)"
			rc=1
			continue
		fi
		run_prog "$test" "$bindir/$test"
		;;
	esac
done
exit $rc
