// SPDX-License-Identifier: GPL-2.0
/*
 * What both ring formats share: stopping a ring the guest corrupted,
 * guest-physical to user address translation, and turning the buffers a
 * descriptor names into iovecs.  The formats differ in how descriptors
 * are found (split.c's avail ring and descriptor table, packed.c's one
 * descriptor ring), not in what one descriptor means.
 */
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

/* Guest-physical [gpa, gpa + len) as iovecs; returns how many, or < 0. */
static int kvio_translate(struct kvio_vring *vr, u64 gpa, u32 len,
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

/* Copy @len bytes of guest memory at @gpa (an indirect table entry). */
int kvio_guest_read(struct kvio_vring *vr, void *dst, u64 gpa, u32 len)
{
	struct iovec iov[2];
	int i, n;

	n = kvio_translate(vr, gpa, len, iov, ARRAY_SIZE(iov));
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
 * @gpa: the buffer's guest-physical address
 * @len: its length
 * @write: the device writes it (VRING_DESC_F_WRITE)
 *
 * Return: 0; -ENOBUFS if the iovecs the caller gave are too few (not the
 * guest's fault, the ring goes on); or the error of a break.
 */
int kvio_chain_buffer(struct kvio_vring *vr, struct kvio_pop *pop, u64 gpa,
		      u32 len, bool write)
{
	unsigned int used = pop->out + pop->in;
	int n;

	n = kvio_translate(vr, gpa, len, pop->iov + used, pop->iov_max - used);
	if (n == -ENOBUFS)
		return -ENOBUFS;
	if (n < 0)
		return kvio_ring_break(vr, "buffer outside guest memory");

	if (!write) {
		if (pop->in)
			return kvio_ring_break(vr, "readable buffer after writable");
		pop->out += n;
		return 0;
	}
	if (pop->log && len) {
		pop->log[pop->nlog].gpa = gpa;
		pop->log[pop->nlog].len = len;
		pop->nlog++;
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
