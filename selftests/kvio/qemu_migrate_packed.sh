#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# qemu_migrate.sh with packed=on: a guest whose NIC runs a packed ring on
# the vhost device under test migrates live; the ring's positions and
# wrap counters cross through VHOST_GET/SET_VRING_BASE (see there).
# usage: qemu_migrate_packed.sh
here=$(cd "$(dirname "$0")" && pwd)
KVIO_NESTED_RING=packed exec sh "$here/qemu_migrate.sh" "$@"
