// SPDX-License-Identifier: GPL-2.0
/*
 * The split ring as the worker sees it: popping descriptor chains from
 * the avail ring, returning them on the used ring, event suppression and
 * interrupts.  Everything read from the ring is guest input: anything
 * malformed breaks only this ring (kvio_ring_break()) until the VMM
 * restarts it.
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

/*
 * Buffers one chain may name in all, direct and indirect together.  A
 * buffer of nonzero length takes at least one iovec and no device has
 * more than UIO_MAXIOV of them, so only empty buffers are held back:
 * without this, a table of 65536 empty entries would cost that many guest
 * reads per chain, times every avail slot naming it.
 */
#define KVIO_RING_CHAIN_MAX	UIO_MAXIOV
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

/* Copy @len bytes of guest memory at @gpa (an indirect table). */
static int kvio_guest_read(struct kvio_vring *vr, void *dst, u64 gpa,
			   u32 len)
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

struct kvio_pop {
	struct iovec *iov;
	unsigned int iov_max;
	unsigned int out;
	unsigned int in;
	struct kvio_log_entry *log;
	unsigned int nlog;
	/* buffer descriptors read so far, direct and indirect */
	unsigned int visited;
};

/* Count one more buffer of the chain; false if it is one too many. */
static bool kvio_pop_visit(struct kvio_pop *pop)
{
	if (++pop->visited > KVIO_RING_CHAIN_MAX)
		return false;
	if (!(pop->visited % KVIO_RING_YIELD_EVERY))
		cond_resched();
	return true;
}

/* Append one buffer descriptor of a chain to @pop. */
static int kvio_pop_buffer(struct kvio_vring *vr, struct kvio_pop *pop,
			   const struct vring_desc *d)
{
	unsigned int used = pop->out + pop->in;
	u16 flags = kvio16_to_cpu(vr, d->flags);
	u64 gpa = kvio64_to_cpu(vr, d->addr);
	u32 len = kvio32_to_cpu(vr, d->len);
	int n;

	n = kvio_translate(vr, gpa, len, pop->iov + used, pop->iov_max - used);
	/* Too big for the room the caller gave: not (yet) the guest's fault. */
	if (n == -ENOBUFS)
		return -ENOBUFS;
	if (n < 0)
		return kvio_ring_break(vr, "buffer outside guest memory");

	if (!(flags & VRING_DESC_F_WRITE)) {
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
		if (!kvio_pop_visit(pop))
			return kvio_ring_break(vr, "descriptor chain too long");
		if (kvio_guest_read(vr, &d, table + (u64)i * sizeof(d),
				    sizeof(d)))
			return kvio_ring_break(vr, "indirect table outside guest memory");
		if (d.flags & cpu_to_kvio16(vr, VRING_DESC_F_INDIRECT))
			return kvio_ring_break(vr, "indirect inside indirect");
		ret = kvio_pop_buffer(vr, pop, &d);
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
			ret = kvio_pop_visit(pop) ? kvio_pop_buffer(vr, pop, &d) :
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
	if (head >= vr->num)
		return kvio_ring_break(vr, "head index out of range");

	ret = kvio_pop_chain(vr, &pop, head);
	vr->walked += pop.visited;
	if (ret)
		return ret;
	*out = pop.out;
	*in = pop.in;
	if (nlog)
		*nlog = pop.nlog;
	vr->last_avail_idx++;
	return head;
}
EXPORT_SYMBOL_GPL(kvio_ring_pop);

/* Give back the last @n popped chains, e.g. when the backend is full. */
void kvio_ring_unpop(struct kvio_vring *vr, unsigned int n)
{
	lockdep_assert_held(&vr->mutex);

	vr->last_avail_idx -= n;
}
EXPORT_SYMBOL_GPL(kvio_ring_unpop);

/* Log a write to the used ring; a log the device cannot write breaks it. */
static int kvio_ring_log_used(struct kvio_vring *vr, u64 offset, u64 len)
{
	if (kvio_log_used(vr, offset, len))
		return kvio_ring_break(vr, "dirty log not writable");
	return 0;
}

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

/**
 * kvio_ring_push - return @n chains to the guest on the used ring
 * @vr: the ring; its mutex is held
 * @used: head ids and written lengths
 * @n: entries in @used
 *
 * Return: 0, or a negative errno if the ring is (now) broken.
 */
int kvio_ring_push(struct kvio_vring *vr, const struct kvio_used *used,
		   unsigned int n)
{
	u16 old = vr->last_used_idx, new = old + n;
	unsigned int i;
	int ret;

	lockdep_assert_held(&vr->mutex);

	for (i = 0; i < n; i++) {
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
EXPORT_SYMBOL_GPL(kvio_ring_push);

/* Does the guest want an interrupt for what was just pushed? */
static bool kvio_ring_should_signal(struct kvio_vring *vr)
{
	__virtio16 val;
	u16 old, new;
	bool valid;

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
	lockdep_assert_held(&vr->mutex);

	if (vr->call_ctx && kvio_ring_should_signal(vr))
		kvio_eventfd_signal(vr->call_ctx);
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

	if (vr->used_flags & VRING_USED_F_NO_NOTIFY)
		return;
	vr->used_flags |= VRING_USED_F_NO_NOTIFY;
	if (!kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX))
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
	__virtio16 __user *avail_event = (void __user *)&vr->used->ring[vr->num];
	u16 seen = vr->avail_idx;

	lockdep_assert_held(&vr->mutex);

	if (vr->broken || !(vr->used_flags & VRING_USED_F_NO_NOTIFY))
		return false;
	vr->used_flags &= ~VRING_USED_F_NO_NOTIFY;
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

	if (!vr->busyloop_timeout || vr->broken)
		return false;
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
