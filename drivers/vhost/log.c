// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty log for live migration: one bit per 4 KiB guest page in a
 * bitmap the VMM places in its own memory (VHOST_SET_LOG_BASE).  This file
 * holds the checks that the log can cover what the device may write.
 */
#include <linux/uaccess.h>

#include <kvio/vhost.h>

#include "internal.h"

/* Can the log at @log_base hold the bits for [gpa, gpa + len)? */
static bool kvio_log_range_ok(void __user *log_base, u64 gpa, u64 len)
{
	unsigned long base = (unsigned long)log_base;
	u64 first = gpa / KVIO_LOG_PAGE / 8;

	if (first > ULONG_MAX - base)
		return false;
	return access_ok(log_base + first,
			 (len + KVIO_LOG_PAGE * 8 - 1) / KVIO_LOG_PAGE / 8);
}

/* Would uaddr + size wrap the address space? */
static bool kvio_range_wraps(u64 uaddr, u64 size)
{
	if (uaddr > ULONG_MAX || size > ULONG_MAX)
		return true;
	return size && uaddr > ULONG_MAX - size + 1;
}

/**
 * kvio_mem_access_ok - may the device use every region of @mem?
 * @mem: the region table
 * @log_base: the dirty log, checked when @log_all
 * @log_all: every region must be loggable
 *
 * Return: true if all regions lie in user space (and in the log).
 */
bool kvio_mem_access_ok(struct kvio_mem *mem, void __user *log_base,
			bool log_all)
{
	u32 i;

	if (!mem)
		return false;
	for (i = 0; i < mem->nregions; i++) {
		const struct kvio_mem_region *r = &mem->region[i];
		u64 size = r->last - r->start + 1;

		if (kvio_range_wraps(r->uaddr, size))
			return false;
		if (!access_ok((void __user *)(unsigned long)r->uaddr, size))
			return false;
		if (log_all && !kvio_log_range_ok(log_base, r->start, size))
			return false;
	}
	return true;
}
EXPORT_SYMBOL_GPL(kvio_mem_access_ok);

/* Can the used ring of @vr be logged at its log_addr? */
bool kvio_vring_log_used_ok(struct kvio_vring *vr, void __user *log_base,
			    bool log_used, u64 log_addr)
{
	return !log_used ||
	       kvio_log_range_ok(log_base, log_addr,
				 kvio_vring_used_size(vr, vr->num));
}

/**
 * kvio_vring_log_access_ok - can @vr log its writes into @log_base?
 * @vr: the ring; its mutex is held
 * @log_base: the log to check against
 *
 * Return: true if the memory table and the used ring are loggable.
 */
bool kvio_vring_log_access_ok(struct kvio_vring *vr, void __user *log_base)
{
	return kvio_mem_access_ok(vr->mem, log_base,
				  kvio_has_feature(vr, VHOST_F_LOG_ALL)) &&
	       kvio_vring_log_used_ok(vr, log_base, vr->log_used,
				      vr->log_addr);
}
EXPORT_SYMBOL_GPL(kvio_vring_log_access_ok);
