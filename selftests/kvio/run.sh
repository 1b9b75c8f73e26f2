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
# KVIO_CLIENTS=0 leaves them out.
#
# The kvio-assign tests (assign_*) need a VM with an IOMMU and edu devices:
# assign_run.sh runs them, never this script.

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

rc=0
for p in $progs; do
	if [ ! -x "$bindir/$p" ]; then
		echo "# run.sh: $bindir/$p is missing (not built?)"
		rc=1
		continue
	fi
	echo "# run.sh: $p"
	"$bindir/$p" || {
		echo "# run.sh: $p exited with status $?"
		rc=1
	}
done
# The real clients (DPDK testpmd, nested QEMU guests): minutes under TCG,
# so KVIO_CLIENTS=0 leaves them out for a quick run.
if [ "${KVIO_CLIENTS:-1}" != 0 ]; then
	for s in dpdk_virtio_user.sh qemu_vhostfd.sh qemu_migrate.sh; do
		echo "# run.sh: $s"
		sh "$here/$s" "$bindir" || {
			echo "# run.sh: $s exited with status $?"
			rc=1
		}
	done
fi
exit $rc
