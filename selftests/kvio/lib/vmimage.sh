# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# What a test guest boots, sourced by tools/vm/run (the test VMs) and by
# lib/nested.sh (the guests nested in them): the kernel as an ELF vmlinux,
# and an initramfs of busybox-static, kernel modules in load order and the
# caller's files.  Its functions and variables start with vmimage_.

# The module files that the modules named after $2 need on kernel $1,
# dependencies first, each once: modprobe's own resolver, which reads the
# kernel's modules.dep and modules.builtin as the guest's modprobe would.
# VMIMAGE_ROOT, when set, holds lib/modules/<kver> (a kernel that is not
# installed).  Built-in modules print nothing; one that is neither a
# module nor built in fails.
vmimage_modules() { # kver module...
	vmimage_k=$1
	shift
	vmimage_deps=$(/sbin/modprobe ${VMIMAGE_ROOT:+-d "$VMIMAGE_ROOT"} \
		-S "$vmimage_k" --show-depends -a "$@") || return 1
	printf '%s\n' "$vmimage_deps" |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# busybox insmod loads only uncompressed modules.
vmimage_uncompress() { # module-file
	case $1 in
	*.xz) xz -dcq "$1" ;;
	*.zst) zstd -dcq "$1" ;;
	*.gz) gzip -dcq "$1" ;;
	*) cat "$1" ;;
	esac
}

# An initramfs in file $3 for kernel $1: bin/busybox (a static one, $2),
# the modules named after $3 and what they need in lib/modules, listed in
# load order in lib/modules/load.list, and whatever the function named in
# $vmimage_extra (if set) adds to the staging directory it is given.  The
# guest's /init links busybox's applets itself (/bin/busybox --install
# -s): one process there, rather than hundreds of ln here, each a slow
# exec when this runs in a guest under TCG.
vmimage_initramfs() { # kver busybox dest module...
	vmimage_k=$1 vmimage_bb=$2 vmimage_dest=$3
	shift 3
	vmimage_st=$(mktemp -d "${TMPDIR:-/tmp}/kvio-initramfs.XXXXXX") ||
		return 1
	vmimage_stage "$@" &&
		(cd "$vmimage_st" && find . | LC_ALL=C sort |
			cpio -o -H newc -R 0:0 --quiet) >"$vmimage_dest.tmp.$$" &&
		mv -f "$vmimage_dest.tmp.$$" "$vmimage_dest"
	vmimage_rc=$?
	rm -rf "$vmimage_st" "$vmimage_dest.tmp.$$"
	return $vmimage_rc
}

vmimage_stage() { # module...
	mkdir -p "$vmimage_st/bin" "$vmimage_st/lib/modules" \
		"$vmimage_st/dev" "$vmimage_st/proc" "$vmimage_st/sys" || return 1
	cp "$vmimage_bb" "$vmimage_st/bin/busybox" || return 1
	: >"$vmimage_st/lib/modules/load.list"
	vmimage_mods=$(vmimage_modules "$vmimage_k" "$@") || return 1
	for vmimage_m in $vmimage_mods; do
		vmimage_n=${vmimage_m##*/}
		vmimage_n=${vmimage_n%%.ko*}.ko
		vmimage_uncompress "$vmimage_m" \
			>"$vmimage_st/lib/modules/$vmimage_n" || return 1
		echo "$vmimage_n" >>"$vmimage_st/lib/modules/load.list"
	done
	[ -z "${vmimage_extra:-}" ] || "$vmimage_extra" "$vmimage_st"
}

# The kernel's own scripts/extract-vmlinux: in a kernel tree, the tree's;
# in the kvio repo, the one make takes from linux-source (build/ksrc).
vmimage_extractor() {
	for vmimage_x in ${VMIMAGE_EXTRACT:-} \
		"${KVIO_REPO:-/nonexistent}/build/ksrc/scripts/extract-vmlinux" \
		"$(dirname "$0")/../../../../scripts/extract-vmlinux"; do
		[ -f "$vmimage_x" ] && { echo "$vmimage_x"; return 0; }
	done
	return 1
}

# The ELF vmlinux inside bzImage $1, in file $2, when $2 is missing or
# older than $1.  QEMU boots an ELF kernel through its PVH entry point,
# which skips the BIOS and the kernel's decompressor (seconds under TCG).
# False if there is no extractor or it finds no kernel.
vmimage_vmlinux() { # vmlinuz dest
	[ -s "$2" ] && [ -z "$(find "$1" -newer "$2")" ] && return 0
	vmimage_x=$(vmimage_extractor) || return 1
	sh "$vmimage_x" "$1" >"$2.tmp.$$" 2>/dev/null &&
		mv -f "$2.tmp.$$" "$2" && return 0
	rm -f "$2.tmp.$$"
	return 1
}
