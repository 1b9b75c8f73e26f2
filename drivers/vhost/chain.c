// SPDX-License-Identifier: GPL-2.0
/*
 * What both ring formats share: stopping a ring the guest corrupted,
 * guest-physical to user address translation, and turning the buffers a
 * descriptor names into iovecs.  The formats differ in how descriptors
 * are found (split.c's avail ring and descriptor table, packed.c's one
 * descriptor ring), not in what one descriptor means.
 */
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include <kvio/compat.h>
#include <kvio/vhost.h>

#include "internal.h"
#include "kvio_trace.h"

/* A long walk gives the CPU away every so many descriptors. */
#define KVIO_RING_YIELD_EVERY	64

/**
 * kvio_ring_break - stop a ring the guest corrupted
 * @vr: the ring; its mutex is held
 * @why: what was wrong, for the log
 *
 * The ring does no more work until the VMM restarts it (a new backend or
 * base); the VMM learns of it through the error eventfd.
 *
 * Return: -EINVAL, for the caller to pass on.
 */
int kvio_ring_break(struct kvio_vring *vr, const char *why)
{
	lockdep_assert_held(&vr->mutex);

	/* One report per break, however many accesses fail after it. */
	if (vr->broken)
		return -EINVAL;
	vr->broken = true;
	WRITE_ONCE(vr->broken_why, why);
	trace_kvio_ring_broken(vr, why);
	pr_warn_ratelimited("ring %d of owner %d stopped: %s\n",
			    vr->index, vr->owner_pid, why);
	if (vr->err_ctx)
		kvio_eventfd_signal(vr->err_ctx);
	return -EINVAL;
}
EXPORT_SYMBOL_GPL(kvio_ring_break);

/**
 * kvio_vring_is_packed - the format of @vr's ring
 * @vr: the ring; its mutex is held
 *
 * Return: the format a running ring has, else the one its features say
 * it will have.
 */
bool kvio_vring_is_packed(const struct kvio_vring *vr)
{
	return vr->backend ? vr->packed :
	       kvio_has_feature(vr, VIRTIO_F_RING_PACKED);
}
EXPORT_SYMBOL_GPL(kvio_vring_is_packed);

static size_t kvio_ring_event_size(const struct kvio_vring *vr)
{
	return kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX) ? 2 : 0;
}

/* The used ring, or a packed ring's device event area. */
size_t kvio_ring_used_size(const struct kvio_vring *vr, unsigned int num)
{
	if (kvio_vring_is_packed(vr))
		return sizeof(struct vring_packed_desc_event);
	return size_add(struct_size_t(struct vring_used, ring, num),
			kvio_ring_event_size(vr));
}

/* The avail ring, or a packed ring's driver event area. */
size_t kvio_ring_avail_size(const struct kvio_vring *vr, unsigned int num)
{
	if (kvio_vring_is_packed(vr))
		return sizeof(struct vring_packed_desc_event);
	return size_add(struct_size_t(struct vring_avail, ring, num),
			kvio_ring_event_size(vr));
}

/* One ring area through the IOTLB, or why not (a break, or -EAGAIN). */
static int kvio_ring_map_area(struct kvio_vring *vr, u64 iova, size_t size,
			      u32 perm, void __user **uaddr)
{
	void __user *p = kvio_iotlb_ptr(vr, iova, size, perm);

	if (!IS_ERR(p)) {
		*uaddr = p;
		return 0;
	}
	if (PTR_ERR(p) == -EAGAIN)
		return -EAGAIN;
	if (PTR_ERR(p) == -EPERM)
		return kvio_ring_break(vr, "ring mapped without the access it needs");
	return kvio_ring_break(vr, "ring not contiguous in host memory");
}

/**
 * kvio_ring_translate - make the ring's areas accessible
 * @vr: the ring; its mutex is held
 *
 * With a device IOTLB, the areas the VMM gave as IOVAs are translated to
 * user addresses once, and stay so until an IOTLB message or new ring
 * addresses; the ring operations call this first.  Each area must be one
 * range of the owner's memory (an allocation of the guest's is).
 *
 * Return: 0; -EAGAIN while a translation is missing (it was asked for,
 * and the ring's work is queued again when it comes); or a break's error.
 */
int kvio_ring_translate(struct kvio_vring *vr)
{
	void __user *desc, *avail, *used;
	bool packed = kvio_vring_is_packed(vr);
	int ret;

	lockdep_assert_held(&vr->mutex);

	if (vr->meta_ok)
		return 0;
	if (vr->broken)
		return -EINVAL;
	/* Addresses the IOTLB's arrival dropped and nobody gave again. */
	if (!vr->desc_addr && !vr->avail_addr && !vr->used_addr)
		return -EAGAIN;
	/* The packed descriptor ring is written back too. */
	ret = kvio_ring_map_area(vr, vr->desc_addr,
				 array_size(vr->num, sizeof(struct vring_desc)),
				 packed ? VHOST_ACCESS_RW : VHOST_ACCESS_RO,
				 &desc);
	if (!ret)
		ret = kvio_ring_map_area(vr, vr->avail_addr,
					 kvio_ring_avail_size(vr, vr->num),
					 VHOST_ACCESS_RO, &avail);
	if (!ret)
		ret = kvio_ring_map_area(vr, vr->used_addr,
					 kvio_ring_used_size(vr, vr->num),
					 VHOST_ACCESS_WO, &used);
	if (ret)
		return ret;
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->meta_ok = true;
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_ring_translate);

/**
 * kvio_ring_used_ptr - where one field of the used area is, for one access
 * @vr: the ring; its mutex is held
 * @offset: the field's offset in the used ring (packed: device event area)
 * @len: its size
 * @perm: the access (VHOST_ACCESS_RO or _WO)
 *
 * For a ring being started, whose areas need not be mapped whole yet:
 * with an IOTLB only the field is translated, as upstream does.
 *
 * Return: the user address, or an ERR_PTR (-EAGAIN: a miss was queued).
 */
void __user *kvio_ring_used_ptr(struct kvio_vring *vr, u64 offset, u64 len,
				u32 perm)
{
	lockdep_assert_held(&vr->mutex);

	if (!vr->iotlb)
		return (void __user *)vr->used + offset;
	return kvio_iotlb_ptr(vr, vr->used_addr + offset, len, perm);
}

/* Guest-physical [gpa, gpa + len) as iovecs; returns how many, or < 0. */
static int kvio_mem_translate(struct kvio_vring *vr, u64 gpa, u32 len,
			      struct iovec *iov, unsigned int iov_max)
{
	unsigned int n = 0;

	while (len) {
		const struct kvio_mem_region *r = kvio_mem_lookup(vr->mem, gpa);
		u64 chunk;

		if (!r)
			return -EFAULT;
		if (n == iov_max)
			return -ENOBUFS;
		chunk = min_t(u64, len - 1, r->last - gpa) + 1;
		iov[n].iov_base = u64_to_user_ptr(r->uaddr + (gpa - r->start));
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return n;
}

/*
 * A buffer at @addr, guest-physical or with an IOTLB an IOVA, as iovecs
 * the device accesses with @perm: how many, or -ENOBUFS (too few
 * iovecs), -EAGAIN (waiting for a translation), -EPERM or -EFAULT.
 */
static int kvio_translate(struct kvio_vring *vr, u64 addr, u32 len,
			  struct iovec *iov, unsigned int iov_max, u32 perm)
{
	if (!vr->iotlb)
		return kvio_mem_translate(vr, addr, len, iov, iov_max);
	if (!len)
		return 0;
	return kvio_iotlb_translate(vr, addr, len, iov, iov_max, perm);
}

/*
 * kvio_guest_read - copy guest memory the ring names (an indirect table)
 * @vr: the ring; its mutex is held
 * @dst: where to
 * @addr: guest-physical address, or with an IOTLB an IOVA
 * @len: bytes
 *
 * Return: 0; -EAGAIN while a translation is missing (asked for); or
 * another negative errno if it cannot be read.
 */
static int kvio_guest_read(struct kvio_vring *vr, void *dst, u64 addr,
			   u32 len)
{
	struct iovec iov[2];
	int i, n;

	n = kvio_translate(vr, addr, len, iov, ARRAY_SIZE(iov),
			   VHOST_ACCESS_RO);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (copy_from_user(dst, iov[i].iov_base, iov[i].iov_len))
			return -EFAULT;
		dst += iov[i].iov_len;
	}
	return 0;
}

/**
 * kvio_indirect_read - read entry @i of an indirect table
 * @vr: the ring; its mutex is held
 * @dst: room for one descriptor (split and packed ones have one size)
 * @table: the table's guest address (with an IOTLB: IOVA)
 * @i: the entry
 *
 * Return: 0; -EAGAIN while a translation is missing (asked for); or the
 * error of a break.
 */
int kvio_indirect_read(struct kvio_vring *vr, void *dst, u64 table,
		       unsigned int i)
{
	int ret = kvio_guest_read(vr, dst, table + (u64)i * sizeof(struct vring_desc),
				  sizeof(struct vring_desc));

	if (ret == -EAGAIN)
		return ret;
	if (ret == -EPERM)
		return kvio_ring_break(vr, "indirect table mapped without read access");
	if (ret)
		return kvio_ring_break(vr, "indirect table outside guest memory");
	return 0;
}

/**
 * kvio_chain_visit - count one more buffer of a chain
 * @pop: the chain being walked
 *
 * Return: false if it is one too many (KVIO_RING_CHAIN_MAX).
 */
bool kvio_chain_visit(struct kvio_pop *pop)
{
	if (++pop->visited > KVIO_RING_CHAIN_MAX)
		return false;
	if (!(pop->visited % KVIO_RING_YIELD_EVERY))
		cond_resched();
	return true;
}

/**
 * kvio_chain_buffer - append one buffer of a chain to @pop
 * @vr: the ring; its mutex is held
 * @pop: the chain being walked
 * @addr: the buffer's guest-physical address (with an IOTLB: IOVA)
 * @len: its length
 * @write: the device writes it (VRING_DESC_F_WRITE)
 *
 * Return: 0; -ENOBUFS if the iovecs the caller gave are too few (not the
 * guest's fault, the ring goes on); -EAGAIN while a translation is
 * missing (the chain stays available); or the error of a break.
 */
int kvio_chain_buffer(struct kvio_vring *vr, struct kvio_pop *pop, u64 addr,
		      u32 len, bool write)
{
	unsigned int used = pop->out + pop->in;
	int i, n;

	n = kvio_translate(vr, addr, len, pop->iov + used, pop->iov_max - used,
			   write ? VHOST_ACCESS_WO : VHOST_ACCESS_RO);
	if (n == -ENOBUFS || n == -EAGAIN)
		return n;
	if (n == -EPERM)
		return kvio_ring_break(vr, "buffer mapped without the access it needs");
	if (n < 0)
		return kvio_ring_break(vr, "buffer outside guest memory");

	if (!write) {
		if (pop->in)
			return kvio_ring_break(vr, "readable buffer after writable");
		pop->out += n;
		return 0;
	}
	if (!pop->log) {
		/* Not logging. */
	} else if (!vr->iotlb) {
		if (len) {
			pop->log[pop->nlog].addr = addr;
			pop->log[pop->nlog].len = len;
			pop->nlog++;
		}
	} else {
		/* At most one entry per iovec: the log has room for them. */
		for (i = 0; i < n; i++) {
			pop->log[pop->nlog].addr =
				(u64)(unsigned long)pop->iov[used + i].iov_base;
			pop->log[pop->nlog].len = pop->iov[used + i].iov_len;
			pop->nlog++;
		}
	}
	pop->in += n;
	return 0;
}

/* Log a device write to the used ring; a log it cannot write breaks it. */
int kvio_ring_log_used(struct kvio_vring *vr, u64 offset, u64 len)
{
	if (kvio_log_used(vr, offset, len))
		return kvio_ring_break(vr, "dirty log not writable");
	return 0;
}
