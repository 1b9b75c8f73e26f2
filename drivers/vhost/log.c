// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty log for live migration: one bit per 4 KiB guest page in a
 * bitmap the VMM places in its own memory (VHOST_SET_LOG_BASE).  This file
 * knows the bitmap only: whether it can hold the bits of a range, and
 * setting them.  Whose ranges those are is for its callers (mem.c for the
 * memory table, vring.c for a used ring); a failure is returned for the
 * caller to act on.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include <kvio/compat.h>

#include <kvio/vhost.h>

#include "internal.h"

/* Can the log at @log_base hold the bits for [gpa, gpa + len)? */
bool kvio_log_range_ok(void __user *log_base, u64 gpa, u64 len)
{
	unsigned long base = (unsigned long)log_base;
	u64 first = gpa / KVIO_LOG_PAGE / 8;

	if (first > ULONG_MAX - base)
		return false;
	return access_ok(log_base + first,
			 (len + KVIO_LOG_PAGE * 8 - 1) / KVIO_LOG_PAGE / 8);
}

/*
 * Set the log bits of pages [first, last] that live in one page of the
 * bitmap.  The VMM clears bits concurrently (fetch-and-clear), so the
 * bitmap page is pinned and the bits set atomically, never read-modify-
 * written through user accessors.  Return the next page not done.
 */
static s64 kvio_log_set_bits(void __user *log_base, u64 first, u64 last)
{
	unsigned long byte = (unsigned long)log_base + first / 8;
	unsigned long page_start = byte & PAGE_MASK;
	u64 bits_in_page = (PAGE_SIZE - (byte - page_start)) * 8 - first % 8;
	u64 end = min(last, first + bits_in_page - 1);
	struct page *page;
	unsigned long *map;
	u64 p;

	if (pin_user_pages_fast(page_start, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	map = kmap_local_page(page);
	for (p = first; p <= end; p++)
		set_bit((byte - page_start) * 8 + (p - first) + first % 8, map);
	kunmap_local(map);
	unpin_user_pages_dirty_lock(&page, 1, true);
	return end + 1;
}

/* Mark guest-physical [gpa, gpa + len) dirty. */
static int kvio_log_range(struct kvio_vring *vr, u64 gpa, u64 len)
{
	u64 first = gpa / KVIO_LOG_PAGE;
	u64 last = (gpa + len - 1) / KVIO_LOG_PAGE;

	while (len && first <= last) {
		s64 next = kvio_log_set_bits(vr->log_base, first, last);

		if (next < 0)
			return -EFAULT;
		first = next;
	}
	return 0;
}

/*
 * Mark dirty what the device wrote at user address @ua: the guest-physical
 * pages of every region that maps it, as the guest may see a page at more
 * than one address.  -EFAULT if no region maps it or the log is not
 * writable.
 */
static int kvio_log_uaddr(struct kvio_vring *vr, u64 ua, u64 len)
{
	const struct kvio_mem *mem = vr->mem;
	bool hit = false;
	u32 i;
	int ret;

	if (!len)
		return 0;
	if (!mem)
		return -EFAULT;
	for (i = 0; i < mem->nregions; i++) {
		const struct kvio_mem_region *r = &mem->region[i];
		u64 size = r->last - r->start;

		if (ua < r->uaddr || ua - r->uaddr > size ||
		    len - 1 > size - (ua - r->uaddr))
			continue;
		ret = kvio_log_range(vr, r->start + (ua - r->uaddr), len);
		if (ret)
			return ret;
		hit = true;
	}
	return hit ? 0 : -EFAULT;
}

/**
 * kvio_log_write - mark the guest buffers a chain received dirty
 * @vr: the ring; its mutex is held
 * @log: the chain's writable buffers, from kvio_ring_pop()
 * @nlog: entries in @log
 * @len: bytes written, from the start of the first buffer
 *
 * Return: 0, or -EFAULT if the log is not writable (the caller breaks
 * the ring).
 */
int kvio_log_write(struct kvio_vring *vr, const struct kvio_log_entry *log,
		   unsigned int nlog, u64 len)
{
	unsigned int i;
	int ret;

	lockdep_assert_held(&vr->mutex);

	/*
	 * The data before its bits: the VMM copies a page after it finds
	 * its bit set, and must find the data there.
	 */
	smp_wmb();
	for (i = 0; i < nlog && len; i++) {
		u64 l = min(log[i].len, len);

		/* With an IOTLB the entries are user addresses. */
		if (vr->iotlb)
			ret = kvio_log_uaddr(vr, log[i].addr, l);
		else
			ret = kvio_log_range(vr, log[i].addr, l);
		if (ret)
			return ret;
		len -= l;
	}
	if (vr->log_ctx)
		kvio_eventfd_signal(vr->log_ctx);
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_log_write);

/*
 * Mark @len bytes at @offset into the used ring dirty, if it is logged;
 * -EFAULT if the log is not writable.  With an IOTLB the ring's log
 * address is an IOVA: the write is logged where it was translated to.
 */
int kvio_log_used(struct kvio_vring *vr, u64 offset, u64 len)
{
	void __user *p;
	int ret;

	lockdep_assert_held(&vr->mutex);

	if (!vr->log_used)
		return 0;
	/* The used ring's new contents before their bits, as above. */
	smp_wmb();
	if (vr->iotlb) {
		p = kvio_iotlb_ptr(vr, vr->used_addr + offset, len,
				   VHOST_ACCESS_WO);
		ret = IS_ERR(p) ? PTR_ERR(p) :
		      kvio_log_uaddr(vr, (u64)(unsigned long)p, len);
	} else {
		ret = kvio_log_range(vr, vr->log_addr + offset, len);
	}
	if (!ret && vr->log_ctx)
		kvio_eventfd_signal(vr->log_ctx);
	return ret;
}

/**
 * kvio_log_hva - mark dirty a device write to the ring at a user address
 * @vr: the ring; its mutex is held
 * @uaddr: where the device wrote, in the owner's memory
 * @len: bytes written
 *
 * For a packed ring's descriptors, whose guest-physical address the VMM
 * does not give: found through the memory table.  Only when the VMM logs
 * the ring (VHOST_VRING_F_LOG).
 *
 * Return: 0, or -EFAULT if the log is not writable or no region maps
 * @uaddr (the caller breaks the ring).
 */
int kvio_log_hva(struct kvio_vring *vr, const void __user *uaddr, u64 len)
{
	int ret;

	lockdep_assert_held(&vr->mutex);

	if (!vr->log_used || !len)
		return 0;
	/* The ring's new contents before their bits, as above. */
	smp_wmb();
	ret = kvio_log_uaddr(vr, (u64)(unsigned long)uaddr, len);
	if (!ret && vr->log_ctx)
		kvio_eventfd_signal(vr->log_ctx);
	return ret;
}
