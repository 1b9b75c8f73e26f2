#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the kvio-assign tests (assign_*, then assign_tool.sh on the same
# devices), streaming their KTAP to stdout.
# They need a VM with an IOMMU and QEMU edu devices (tools/check.sh starts
# one: q35, intel-iommu, edu alone and two edus behind a PCI bridge); this
# script loads irqbypass, kvm and kvio_assign.ko first.  Exits non-zero if
# anything failed or is missing.
#
# usage: assign_run.sh [--no-iommu | --no-ir | --no-sc] [BINDIR]
#
# BINDIR defaults to this script's directory.  --no-iommu runs only
# assign_noiommu's bind_and_open_refused, for a VM with an edu device and
# no IOMMU, where the device must be refused; --no-ir only its
# open_refused_without_ir, for a VM with an IOMMU without interrupt
# remapping (intel-iommu,intremap=off), where opening must be refused;
# --no-sc only its noncoherent_opt_in, for a VM whose IOMMU cannot block
# no-snoop DMA (intel-iommu without snoop-control=on), where opening is
# refused unless allow_noncoherent=1.
#
# kvio_assign.ko comes from $KVIO_ASSIGN_KO, else
# $KVIO_REPO/build/$KVIO_KVER/kvio_assign.ko (as tools/vm/run sets them).

here=$(cd "$(dirname "$0")" && pwd)
progs="assign_edu assign_kvm"
args=
case ${1:-} in
--no-iommu)
	progs=assign_noiommu args="-t bind_and_open_refused"
	shift
	;;
--no-ir)
	progs=assign_noiommu args="-t open_refused_without_ir"
	shift
	;;
--no-sc)
	progs=assign_noiommu args="-t noncoherent_opt_in"
	shift
	;;
esac
bindir=${1:-$here}
repo=${KVIO_REPO:-$(cd "$here/../.." && pwd)}
ko=${KVIO_ASSIGN_KO:-$repo/build/${KVIO_KVER:-$(uname -r)}/kvio_assign.ko}

if [ ! -e /dev/kvio-assign ]; then
	# irqbypass provides the symbols kvio_assign links against.
	if ! /sbin/modprobe irqbypass || ! /sbin/insmod "$ko"; then
		echo "# assign_run.sh: cannot load $ko"
		exit 1
	fi
fi
# The end-to-end test needs /dev/kvm; it skips (and says so) without it.
/sbin/modprobe kvm_amd 2>/dev/null || /sbin/modprobe kvm_intel 2>/dev/null

rc=0
for p in $progs; do
	if [ ! -x "$bindir/$p" ]; then
		echo "# assign_run.sh: $bindir/$p is missing (not built?)"
		rc=1
		continue
	fi
	echo "# assign_run.sh: $p"
	# shellcheck disable=SC2086 # $args: options, split on purpose
	"$bindir/$p" $args || {
		echo "# assign_run.sh: $p exited with status $?"
		rc=1
	}
done
# The operator's tool on the same devices (not in the refusal runs).
if [ -z "$args" ]; then
	echo "# assign_run.sh: assign_tool.sh"
	sh "$here/assign_tool.sh" || {
		echo "# assign_run.sh: assign_tool.sh exited with status $?"
		rc=1
	}
fi
exit $rc
