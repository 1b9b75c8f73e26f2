// SPDX-License-Identifier: GPL-2.0
/*
 * The guest memory table: guest-physical ranges and the host virtual
 * addresses behind them, as given by VHOST_SET_MEM_TABLE.
 *
 * The table is an array sorted by start address and replaced whole on
 * every update, so a lookup is a binary search rather than upstream's
 * walk of an interval tree.  Overlapping regions are accepted, as
 * upstream accepts them; each entry remembers the highest end among the
 * entries before it so that a lookup in an overlapped area stays correct.
 */
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include <kvio/vhost.h>

#include "internal.h"

static unsigned int max_mem_regions = 64;
module_param(max_mem_regions, uint, 0444);
MODULE_PARM_DESC(max_mem_regions,
		 "Maximum number of memory regions in a memory table (default 64)");

struct kvio_mem *kvio_mem_alloc(u32 nregions)
{
	struct kvio_mem *mem;

	mem = kvzalloc(struct_size(mem, region, nregions), GFP_KERNEL);
	if (mem)
		mem->nregions = nregions;
	return mem;
}

void kvio_mem_free(struct kvio_mem *mem)
{
	kvfree(mem);
}

/**
 * kvio_mem_lookup - find the region that holds a guest-physical address
 * @mem: the region table, may be NULL
 * @gpa: the guest-physical address
 *
 * Return: the region, or NULL if @gpa is not covered.
 */
const struct kvio_mem_region *kvio_mem_lookup(const struct kvio_mem *mem,
					      u64 gpa)
{
	const struct kvio_mem_region *r;
	u32 lo = 0, hi;

	if (!mem || !mem->nregions)
		return NULL;

	/* Last region starting at or below @gpa. */
	hi = mem->nregions;
	while (hi - lo > 1) {
		u32 mid = lo + (hi - lo) / 2;

		if (mem->region[mid].start <= gpa)
			lo = mid;
		else
			hi = mid;
	}
	for (r = &mem->region[lo]; r >= mem->region; r--) {
		if (r->start > gpa || r->max_last < gpa)
			break;
		if (r->last >= gpa)
			return r;
	}
	return NULL;
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

static int kvio_region_cmp(const void *a, const void *b)
{
	const struct kvio_mem_region *ra = a, *rb = b;

	if (ra->start != rb->start)
		return ra->start < rb->start ? -1 : 1;
	return 0;
}

/* A region covering all of u64 has no representable size: keep two halves. */
static bool kvio_region_is_whole(const struct vhost_memory_region *ur)
{
	return ur->guest_phys_addr == 0 && ur->memory_size == 0;
}

static int kvio_mem_fill(struct kvio_mem *mem,
			 const struct vhost_memory_region *ur, u32 n)
{
	struct kvio_mem_region *r = mem->region;
	u64 max_last = 0;
	u32 i;

	for (i = 0; i < n; i++, ur++) {
		u64 last = ur->guest_phys_addr + ur->memory_size - 1;

		if (last < ur->guest_phys_addr)
			return -EFAULT;
		if (kvio_region_is_whole(ur)) {
			*r++ = (struct kvio_mem_region){
				.start = 0, .last = U64_MAX / 2,
				.uaddr = ur->userspace_addr };
			*r++ = (struct kvio_mem_region){
				.start = U64_MAX / 2 + 1, .last = U64_MAX,
				.uaddr = ur->userspace_addr + U64_MAX / 2 + 1 };
			continue;
		}
		*r++ = (struct kvio_mem_region){
			.start = ur->guest_phys_addr, .last = last,
			.uaddr = ur->userspace_addr };
	}

	sort(mem->region, mem->nregions, sizeof(*r), kvio_region_cmp, NULL);
	for (i = 0; i < mem->nregions; i++) {
		max_last = max(max_last, mem->region[i].last);
		mem->region[i].max_last = max_last;
	}
	return 0;
}

static struct kvio_mem *kvio_mem_from_user(struct vhost_memory __user *umem)
{
	struct vhost_memory_region *ur;
	struct vhost_memory hdr;
	struct kvio_mem *mem;
	u32 i, n = 0;
	int ret;

	if (copy_from_user(&hdr, umem, sizeof(hdr)))
		return ERR_PTR(-EFAULT);
	if (hdr.padding)
		return ERR_PTR(-EOPNOTSUPP);
	if (hdr.nregions > max_mem_regions)
		return ERR_PTR(-E2BIG);

	ur = vmemdup_user(umem->regions, array_size(hdr.nregions, sizeof(*ur)));
	if (IS_ERR(ur))
		return ERR_CAST(ur);

	for (i = 0; i < hdr.nregions; i++)
		n += kvio_region_is_whole(&ur[i]) ? 2 : 1;
	mem = kvio_mem_alloc(n);
	if (!mem) {
		kvfree(ur);
		return ERR_PTR(-ENOMEM);
	}
	ret = kvio_mem_fill(mem, ur, hdr.nregions);
	kvfree(ur);
	if (ret) {
		kvio_mem_free(mem);
		return ERR_PTR(ret);
	}
	return mem;
}

/*
 * Can every running ring of @dev keep working with @mem?  Rings without a
 * backend are checked when they start.
 */
static bool kvio_dev_mem_ok(struct kvio_dev *dev, struct kvio_mem *mem,
			    bool log_all)
{
	bool ok = true;
	int i;

	for (i = 0; i < dev->nvrings && ok; i++) {
		struct kvio_vring *vr = dev->vrings[i];
		bool log;

		mutex_lock(&vr->mutex);
		log = log_all || kvio_has_feature(vr, VHOST_F_LOG_ALL);
		if (vr->backend)
			ok = kvio_mem_access_ok(mem, vr->log_base, log);
		mutex_unlock(&vr->mutex);
	}
	return ok;
}

bool kvio_log_access_ok(struct kvio_dev *dev)
{
	lockdep_assert_held(&dev->mutex);

	return kvio_dev_mem_ok(dev, dev->mem, true);
}
EXPORT_SYMBOL_GPL(kvio_log_access_ok);

/* VHOST_SET_MEM_TABLE; the caller holds the device mutex. */
long kvio_set_mem_table(struct kvio_dev *dev, struct vhost_memory __user *umem)
{
	struct kvio_mem *mem, *old;
	int i;

	lockdep_assert_held(&dev->mutex);

	mem = kvio_mem_from_user(umem);
	if (IS_ERR(mem))
		return PTR_ERR(mem);

	if (!kvio_dev_mem_ok(dev, mem, false)) {
		kvio_mem_free(mem);
		return -EFAULT;
	}

	old = dev->mem;
	dev->mem = mem;
	for (i = 0; i < dev->nvrings; i++) {
		mutex_lock(&dev->vrings[i]->mutex);
		dev->vrings[i]->mem = mem;
		mutex_unlock(&dev->vrings[i]->mutex);
	}
	kvio_mem_free(old);
	return 0;
}
