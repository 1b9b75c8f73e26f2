// SPDX-License-Identifier: GPL-2.0
/*
 * A ring as the worker sees it: popping descriptor chains, returning them
 * used, event suppression and interrupts.  This file is the interface
 * devices use whatever the ring's format, and the split format itself;
 * packed.c has the packed one.  Everything read from the ring is guest
 * input: anything malformed breaks only this ring (kvio_ring_break())
 * until the VMM restarts it.
 */
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include <kvio/compat.h>
#include <kvio/vhost.h>

#include "internal.h"
#include "kvio_trace.h"

/* One buffer descriptor of a split chain, into @pop. */
static int kvio_split_buffer(struct kvio_vring *vr, struct kvio_pop *pop,
			     const struct vring_desc *d)
{
	return kvio_chain_buffer(vr, pop, kvio64_to_cpu(vr, d->addr),
				 kvio32_to_cpu(vr, d->len),
				 d->flags & cpu_to_kvio16(vr, VRING_DESC_F_WRITE));
}

static int kvio_pop_indirect(struct kvio_vring *vr, struct kvio_pop *pop,
			     const struct vring_desc *ind)
{
	u32 len = kvio32_to_cpu(vr, ind->len);
	u64 table = kvio64_to_cpu(vr, ind->addr);
	unsigned int count, seen = 0, i = 0;
	struct vring_desc d;
	int ret;

	if (len % sizeof(d) || !len)
		return kvio_ring_break(vr, "bad indirect table length");
	count = len / sizeof(d);
	if (count > U16_MAX + 1)
		return kvio_ring_break(vr, "indirect table too long");

	for (;;) {
		if (++seen > count)
			return kvio_ring_break(vr, "loop in indirect table");
		if (!kvio_chain_visit(pop))
			return kvio_ring_break(vr, "descriptor chain too long");
		ret = kvio_indirect_read(vr, &d, table, i);
		if (ret)
			return ret;
		if (d.flags & cpu_to_kvio16(vr, VRING_DESC_F_INDIRECT))
			return kvio_ring_break(vr, "indirect inside indirect");
		ret = kvio_split_buffer(vr, pop, &d);
		if (ret)
			return ret;
		if (!(d.flags & cpu_to_kvio16(vr, VRING_DESC_F_NEXT)))
			return 0;
		i = kvio16_to_cpu(vr, d.next);
		if (i >= count)
			return kvio_ring_break(vr, "indirect next out of range");
	}
}

/* Read the guest's avail index and check it is plausible. */
static int kvio_ring_fetch_avail(struct kvio_vring *vr)
{
	__virtio16 idx;

	if (get_user(idx, &vr->avail->idx))
		return kvio_ring_break(vr, "avail ring not readable");
	vr->avail_idx = kvio16_to_cpu(vr, idx);
	if ((u16)(vr->avail_idx - vr->last_avail_idx) > vr->num)
		return kvio_ring_break(vr, "avail index moved by more than the ring size");
	/* Read the ring entries only after the index. */
	smp_rmb();
	return 0;
}

/* Walk the chain at @head into @pop. */
static int kvio_pop_chain(struct kvio_vring *vr, struct kvio_pop *pop,
			  unsigned int head)
{
	unsigned int i = head, seen = 0;
	struct vring_desc d;
	int ret;

	for (;;) {
		if (++seen > vr->num)
			return kvio_ring_break(vr, "loop in descriptor chain");
		if (copy_from_user(&d, vr->desc + i, sizeof(d)))
			return kvio_ring_break(vr, "descriptor table not readable");
		if (!(d.flags & cpu_to_kvio16(vr, VRING_DESC_F_INDIRECT)))
			ret = kvio_chain_visit(pop) ? kvio_split_buffer(vr, pop, &d) :
			      kvio_ring_break(vr, "descriptor chain too long");
		else if (d.flags & cpu_to_kvio16(vr, VRING_DESC_F_NEXT))
			/* The spec forbids it: an indirect table ends the chain. */
			return kvio_ring_break(vr, "indirect descriptor with next");
		else
			return kvio_pop_indirect(vr, pop, &d);
		if (ret)
			return ret;
		if (!(d.flags & cpu_to_kvio16(vr, VRING_DESC_F_NEXT)))
			return 0;
		i = kvio16_to_cpu(vr, d.next);
		if (i >= vr->num)
			return kvio_ring_break(vr, "next descriptor out of range");
	}
}

/**
 * kvio_ring_pop - take the next available descriptor chain
 * @vr: the ring; its mutex is held, in the owner's mm
 * @iov: room for the chain's buffers, readable ones first
 * @iov_max: entries in @iov
 * @out: readable (device-read) iovecs found
 * @in: writable (device-written) iovecs found
 * @log: where to note writable buffers for the dirty log, or NULL
 * @nlog: entries written to @log
 *
 * Return: the chain's head index, @vr->num if the ring is empty,
 * -ENOBUFS if the chain needs more than @iov_max iovecs (the ring is not
 * broken and the chain stays available: the caller decides), or another
 * negative errno if the ring is (now) broken.
 */
int kvio_ring_pop(struct kvio_vring *vr, struct iovec *iov,
		  unsigned int iov_max, unsigned int *out, unsigned int *in,
		  struct kvio_log_entry *log, unsigned int *nlog)
{
	struct kvio_pop pop = { .iov = iov, .iov_max = iov_max, .log = log };
	__virtio16 ring_head;
	unsigned int head;
	int ret;

	lockdep_assert_held(&vr->mutex);

	if (vr->broken)
		return -EINVAL;
	ret = kvio_ring_meta(vr);
	if (ret)
		return ret;
	if (vr->packed) {
		/* Bits 0-14 of a packed position: the descriptor index. */
		vr->walk_head = vr->last_avail_idx & (BIT(15) - 1);
		ret = kvio_packed_pop(vr, &pop);
		vr->walked += pop.visited;
		if (ret < 0 || ret == vr->num)
			return ret;
		head = ret;
		goto found;
	}
	if (vr->avail_idx == vr->last_avail_idx) {
		ret = kvio_ring_fetch_avail(vr);
		if (ret)
			return ret;
		if (vr->avail_idx == vr->last_avail_idx)
			return vr->num;
	}

	if (get_user(ring_head,
		     &vr->avail->ring[vr->last_avail_idx & (vr->num - 1)]))
		return kvio_ring_break(vr, "avail ring not readable");
	head = kvio16_to_cpu(vr, ring_head);
	vr->walk_head = head;
	if (head >= vr->num)
		ret = kvio_ring_break(vr, "head index out of range");
	else
		ret = kvio_pop_chain(vr, &pop, head);
	vr->walked += pop.visited;
	if (ret)
		return ret;
	vr->last_avail_idx++;
found:
	*out = pop.out;
	*in = pop.in;
	if (nlog)
		*nlog = pop.nlog;
	return head;
}
EXPORT_SYMBOL_GPL(kvio_ring_pop);

/* Give back the last @n popped chains, e.g. when the backend is full. */
void kvio_ring_unpop(struct kvio_vring *vr, unsigned int n)
{
	lockdep_assert_held(&vr->mutex);

	if (vr->packed)
		kvio_packed_unpop(vr, n);
	else
		vr->last_avail_idx -= n;
}
EXPORT_SYMBOL_GPL(kvio_ring_unpop);

static int kvio_ring_write_elem(struct kvio_vring *vr, u16 slot,
				const struct kvio_used *u)
{
	struct vring_used_elem __user *e = &vr->used->ring[slot];

	if (put_user(cpu_to_kvio32(vr, u->id), &e->id) ||
	    put_user(cpu_to_kvio32(vr, u->len), &e->len))
		return kvio_ring_break(vr, "used ring not writable");
	return kvio_ring_log_used(vr, offsetof(struct vring_used, ring[slot]),
			     sizeof(*e));
}

/*
 * Put @nwrite entries of @used on the split used ring and move its index
 * by @n: with a batch, the one entry stands for all @n buffers.
 */
static int kvio_split_push(struct kvio_vring *vr, const struct kvio_used *used,
			   unsigned int nwrite, unsigned int n)
{
	u16 old = vr->last_used_idx, new = old + n;
	unsigned int i;
	int ret;

	for (i = 0; i < nwrite; i++) {
		ret = kvio_ring_write_elem(vr, (old + i) & (vr->num - 1),
					   &used[i]);
		if (ret)
			return ret;
	}
	/* The entries must be visible before the index that exposes them. */
	smp_wmb();
	if (put_user(cpu_to_kvio16(vr, new), &vr->used->idx))
		return kvio_ring_break(vr, "used ring not writable");
	ret = kvio_ring_log_used(vr, offsetof(struct vring_used, idx),
				 sizeof(vr->used->idx));
	if (ret)
		return ret;
	vr->last_used_idx = new;
	/* After a full wrap the signalled index no longer means anything. */
	if (unlikely((u16)(new - vr->signalled_used) < (u16)(new - old)))
		vr->signalled_used_valid = false;
	return 0;
}

/**
 * kvio_ring_push - return @n chains to the guest as used
 * @vr: the ring; its mutex is held
 * @used: buffer (head) ids and written lengths
 * @n: entries in @used
 *
 * Return: 0, or a negative errno if the ring is (now) broken.
 */
int kvio_ring_push(struct kvio_vring *vr, const struct kvio_used *used,
		   unsigned int n)
{
	int ret;

	lockdep_assert_held(&vr->mutex);

	ret = kvio_ring_meta(vr);
	if (ret)
		return ret;
	if (vr->packed)
		ret = kvio_packed_push(vr, used, n, false);
	else
		ret = kvio_split_push(vr, used, n, n);
	if (!ret)
		trace_kvio_used(vr, n, n);
	return ret;
}
EXPORT_SYMBOL_GPL(kvio_ring_push);

/**
 * kvio_ring_push_batch - return @n chains popped in a row, in their order
 * @vr: the ring; its mutex is held
 * @used: buffer (head) ids and written lengths, in the order popped
 * @n: entries in @used
 *
 * With VIRTIO_F_IN_ORDER, one used entry, the last buffer's, written where
 * the first one's would go, tells the guest that all @n are used; so the
 * guest only learns the length of the last one: for buffers whose other
 * lengths do not matter (transmitted frames).  Without the feature it is
 * kvio_ring_push().
 *
 * Return: 0, or a negative errno if the ring is (now) broken.
 */
int kvio_ring_push_batch(struct kvio_vring *vr, const struct kvio_used *used,
			 unsigned int n)
{
	int ret;

	lockdep_assert_held(&vr->mutex);

	if (!n)
		return 0;
	if (!kvio_has_feature(vr, VIRTIO_F_IN_ORDER))
		return kvio_ring_push(vr, used, n);
	ret = kvio_ring_meta(vr);
	if (ret)
		return ret;
	if (vr->packed)
		ret = kvio_packed_push(vr, used, n, true);
	else
		ret = kvio_split_push(vr, used + n - 1, 1, n);
	if (!ret)
		trace_kvio_used(vr, 1, n);
	return ret;
}
EXPORT_SYMBOL_GPL(kvio_ring_push_batch);

/* Does the guest want an interrupt for what was just pushed? */
static bool kvio_ring_should_signal(struct kvio_vring *vr)
{
	__virtio16 val;
	u16 old, new;
	bool valid;

	if (vr->packed)
		return kvio_packed_should_signal(vr);
	/* Pairs with the guest's barrier when it re-enables interrupts. */
	smp_mb();
	if (kvio_has_feature(vr, VIRTIO_F_NOTIFY_ON_EMPTY) &&
	    vr->avail_idx == vr->last_avail_idx)
		return true;

	if (!kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX)) {
		if (get_user(val, &vr->avail->flags))
			return true;
		return !(val & cpu_to_kvio16(vr, VRING_AVAIL_F_NO_INTERRUPT));
	}

	old = vr->signalled_used;
	new = vr->last_used_idx;
	valid = vr->signalled_used_valid;
	vr->signalled_used = new;
	vr->signalled_used_valid = true;
	if (!valid)
		return true;
	/* used_event lives after the last avail ring entry. */
	if (get_user(val, &vr->avail->ring[vr->num]))
		return true;
	return vring_need_event(kvio16_to_cpu(vr, val), new, old);
}

/* Interrupt the guest (call eventfd) if it asked for it. */
void kvio_ring_signal(struct kvio_vring *vr)
{
	bool sent;

	lockdep_assert_held(&vr->mutex);

	if (!vr->call_ctx || kvio_ring_meta(vr))
		return;
	sent = kvio_ring_should_signal(vr);
	if (sent) {
		kvio_eventfd_signal(vr->call_ctx);
		kvio_stat_add(&vr->stats.signals, 1);
	} else {
		kvio_stat_add(&vr->stats.suppressed, 1);
	}
	trace_kvio_signal(vr, sent);
}
EXPORT_SYMBOL_GPL(kvio_ring_signal);

static int kvio_ring_put_flags(struct kvio_vring *vr)
{
	if (put_user(cpu_to_kvio16(vr, vr->used_flags), &vr->used->flags))
		return kvio_ring_break(vr, "used ring not writable");
	return kvio_ring_log_used(vr, offsetof(struct vring_used, flags),
			     sizeof(vr->used->flags));
}

/* Ask the guest not to kick: the worker is polling the ring anyway. */
void kvio_ring_disable_notify(struct kvio_vring *vr)
{
	lockdep_assert_held(&vr->mutex);

	if ((vr->used_flags & VRING_USED_F_NO_NOTIFY) || kvio_ring_meta(vr))
		return;
	vr->used_flags |= VRING_USED_F_NO_NOTIFY;
	if (vr->packed)
		kvio_packed_disable_notify(vr);
	else if (!kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX))
		kvio_ring_put_flags(vr);
}
EXPORT_SYMBOL_GPL(kvio_ring_disable_notify);

/**
 * kvio_ring_enable_notify - ask the guest to kick again
 * @vr: the ring; its mutex is held
 *
 * Return: true if the guest added buffers since the ring was last read
 * (the caller should go on working, and may disable notifications again).
 */
bool kvio_ring_enable_notify(struct kvio_vring *vr)
{
	__virtio16 __user *avail_event;
	u16 seen = vr->avail_idx;

	lockdep_assert_held(&vr->mutex);

	if (vr->broken || !(vr->used_flags & VRING_USED_F_NO_NOTIFY) ||
	    kvio_ring_meta(vr))
		return false;
	avail_event = (void __user *)&vr->used->ring[vr->num];
	vr->used_flags &= ~VRING_USED_F_NO_NOTIFY;
	if (vr->packed)
		return kvio_packed_enable_notify(vr);
	if (!kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX)) {
		if (kvio_ring_put_flags(vr))
			return false;
	} else {
		if (put_user(cpu_to_kvio16(vr, vr->avail_idx), avail_event)) {
			kvio_ring_break(vr, "used ring not writable");
			return false;
		}
		if (kvio_ring_log_used(vr,
				       offsetof(struct vring_used, ring[vr->num]),
				       sizeof(*avail_event)))
			return false;
	}
	/* The guest must see the flag before we look at its index. */
	smp_mb();
	if (kvio_ring_fetch_avail(vr))
		return false;
	return vr->avail_idx != seen;
}
EXPORT_SYMBOL_GPL(kvio_ring_enable_notify);

/* Has the guest published buffers the worker has not seen? */
static bool kvio_ring_avail_moved(struct kvio_vring *vr)
{
	__virtio16 idx;

	if (vr->packed)
		return kvio_packed_avail_moved(vr);
	/* A fault is for kvio_ring_pop() to report: say yes. */
	if (get_user(idx, &vr->avail->idx))
		return true;
	return kvio16_to_cpu(vr, idx) != vr->avail_idx;
}

/**
 * kvio_ring_busyloop - poll as VHOST_SET_VRING_BUSYLOOP_TIMEOUT asks
 * @vr: the ring; its mutex is held
 * @avail: wait for the guest to add buffers
 * @ready: the other thing to wait for (e.g. frames on the socket), or NULL
 * @arg: argument for @ready
 *
 * Spins for up to the ring's busyloop timeout, while nothing else wants
 * the CPU and no other work is queued for the worker, until the guest
 * adds buffers (if @avail) or @ready says so.  The guest's notifications
 * stay off meanwhile, as with upstream's busy polling.
 *
 * Return: true if there is something to do.
 */
bool kvio_ring_busyloop(struct kvio_vring *vr, bool avail,
			bool (*ready)(void *), void *arg)
{
	u64 end;

	lockdep_assert_held(&vr->mutex);

	if (!vr->busyloop_timeout || vr->broken || kvio_ring_meta(vr))
		return false;
	kvio_stat_add(&vr->stats.polls, 1);
	end = local_clock() + (u64)vr->busyloop_timeout * NSEC_PER_USEC;
	do {
		if ((avail && kvio_ring_avail_moved(vr)) || (ready && ready(arg)))
			return true;
		/* Other rings' work runs once this handler returns. */
		if (kvio_work_pending(vr))
			return false;
		cpu_relax();
	} while (!need_resched() && single_task_running() &&
		 !signal_pending(current) && local_clock() < end);
	return false;
}
EXPORT_SYMBOL_GPL(kvio_ring_busyloop);
