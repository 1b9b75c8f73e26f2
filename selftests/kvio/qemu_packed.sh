#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# qemu_vhostfd.sh with packed=on on every NIC: a nested QEMU 7.2 guest
# whose virtio-net drivers run packed rings on the vhost device under
# test, checked against a third NIC QEMU serves itself (see there).
# usage: qemu_packed.sh [BINDIR]
here=$(cd "$(dirname "$0")" && pwd)
KVIO_NESTED_RING=packed exec sh "$here/qemu_vhostfd.sh" "$@"
