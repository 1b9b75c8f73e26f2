// SPDX-License-Identifier: GPL-2.0
/*
 * The packed ring format (virtio 1.1): one ring of descriptors that the
 * driver makes available and the device marks used in place, with a wrap
 * counter on each side, and an event suppression area for each direction.
 * ring.c calls these for a ring whose @packed is set; devices never do.
 *
 * A position is what VHOST_SET_VRING_BASE encodes: the descriptor index
 * in bits 0-14, the wrap counter in bit 15.  Taken together, the
 * positions of a ring of num descriptors are a cycle of 2 * num, which is
 * how distances between them are measured.
 *
 * As for split rings, everything read from the ring is guest input:
 * anything malformed breaks this ring only.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/virtio_ring.h>

#include <kvio/vhost.h>

#include "internal.h"

#define KVIO_PACKED_WRAP	0x8000
#define KVIO_PACKED_IDX		0x7fff

static inline struct vring_packed_desc __user *
kvio_packed_desc(const struct kvio_vring *vr, u16 pos)
{
	return (struct vring_packed_desc __user *)vr->desc +
	       (pos & KVIO_PACKED_IDX);
}

/* The driver event suppression area: whether the guest wants interrupts. */
static inline struct vring_packed_desc_event __user *
kvio_packed_driver(const struct kvio_vring *vr)
{
	return (struct vring_packed_desc_event __user *)vr->avail;
}

/* The device event suppression area: whether we want kicks. */
static inline struct vring_packed_desc_event __user *
kvio_packed_device(const struct kvio_vring *vr)
{
	return (struct vring_packed_desc_event __user *)vr->used;
}

/* @pos moved forward by @n descriptors (n <= num). */
static u16 kvio_packed_advance(const struct kvio_vring *vr, u16 pos,
			       unsigned int n)
{
	unsigned int idx = (pos & KVIO_PACKED_IDX) + n;
	u16 wrap = pos & KVIO_PACKED_WRAP;

	if (idx >= vr->num) {
		idx -= vr->num;
		wrap ^= KVIO_PACKED_WRAP;
	}
	return idx | wrap;
}

/* @pos moved back by @n descriptors (n <= num). */
static u16 kvio_packed_back(const struct kvio_vring *vr, u16 pos,
			    unsigned int n)
{
	unsigned int idx = pos & KVIO_PACKED_IDX;
	u16 wrap = pos & KVIO_PACKED_WRAP;

	if (n > idx) {
		idx += vr->num;
		wrap ^= KVIO_PACKED_WRAP;
	}
	return (idx - n) | wrap;
}

/* @pos as a number in [0, 2 * num): positions one apart differ by one. */
static unsigned int kvio_packed_linear(const struct kvio_vring *vr, u16 pos)
{
	return (pos & KVIO_PACKED_IDX) +
	       (pos & KVIO_PACKED_WRAP ? 0 : vr->num);
}

/* How far @to is ahead of @from, in [0, 2 * num). */
static unsigned int kvio_packed_dist(const struct kvio_vring *vr, u16 from,
				     u16 to)
{
	unsigned int span = 2 * vr->num;

	return (kvio_packed_linear(vr, to) + span -
		kvio_packed_linear(vr, from) % span) % span;
}

/* Is a descriptor with @flags available at a position of wrap @pos? */
static bool kvio_packed_is_avail(const struct kvio_vring *vr, __le16 flags,
				 u16 pos)
{
	u16 f = le16_to_cpu(flags);
	bool wrap = pos & KVIO_PACKED_WRAP;

	return !!(f & BIT(VRING_PACKED_DESC_F_AVAIL)) == wrap &&
	       !!(f & BIT(VRING_PACKED_DESC_F_USED)) != wrap;
}

/*
 * Where to look for the guest's next buffer: where a pop last found none,
 * if that is ahead of the next one to pop (chains given back by
 * kvio_ring_unpop() lie between), else the next one to pop.
 */
static u16 kvio_packed_check_pos(const struct kvio_vring *vr)
{
	unsigned int d = kvio_packed_dist(vr, vr->last_avail_idx,
					  vr->avail_idx);

	return d && d <= vr->num ? vr->avail_idx : vr->last_avail_idx;
}

/* The buffers of an indirect table of packed descriptors. */
static int kvio_packed_indirect(struct kvio_vring *vr, struct kvio_pop *pop,
				u64 table, u32 len)
{
	struct vring_packed_desc d;
	unsigned int count, i;
	u16 flags;
	int ret;

	if (!len || len % sizeof(d))
		return kvio_ring_break(vr, "bad indirect table length");
	count = len / sizeof(d);

	/* A table's entries are used in order; their NEXT flags mean nothing. */
	for (i = 0; i < count; i++) {
		if (!kvio_chain_visit(pop))
			return kvio_ring_break(vr, "descriptor chain too long");
		ret = kvio_indirect_read(vr, &d, table, i);
		if (ret)
			return ret;
		flags = le16_to_cpu(d.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			return kvio_ring_break(vr, "indirect inside indirect");
		ret = kvio_chain_buffer(vr, pop, le64_to_cpu(d.addr),
					le32_to_cpu(d.len),
					flags & VRING_DESC_F_WRITE);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * kvio_packed_pop - walk the next available chain into @pop
 * @vr: the ring; its mutex is held
 * @pop: where the chain's buffers go
 *
 * The chain is the descriptors from the next position on, up to the first
 * without NEXT, whose id names the buffer.
 *
 * Return: the buffer id, @vr->num if none is available, -ENOBUFS if the
 * chain needs more iovecs than @pop has (nothing is taken), or another
 * negative errno if the ring is (now) broken.
 */
int kvio_packed_pop(struct kvio_vring *vr, struct kvio_pop *pop)
{
	u16 pos = vr->last_avail_idx, flags;
	struct vring_packed_desc d;
	unsigned int ndesc = 0;
	__le16 head_flags;
	u16 id;
	int ret;

	if (get_user(head_flags, &kvio_packed_desc(vr, pos)->flags))
		return kvio_ring_break(vr, "descriptor ring not readable");
	if (!kvio_packed_is_avail(vr, head_flags, pos)) {
		vr->avail_idx = pos;
		return vr->num;
	}
	/* The descriptors after the flag that made them available. */
	smp_rmb();

	for (;;) {
		if (++ndesc > vr->num)
			return kvio_ring_break(vr, "descriptor chain longer than the ring");
		if (copy_from_user(&d, kvio_packed_desc(vr, pos), sizeof(d)))
			return kvio_ring_break(vr, "descriptor ring not readable");
		flags = le16_to_cpu(d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			/* The spec forbids it: an indirect table ends the chain. */
			if (flags & VRING_DESC_F_NEXT)
				return kvio_ring_break(vr, "indirect descriptor with next");
			ret = kvio_packed_indirect(vr, pop, le64_to_cpu(d.addr),
						   le32_to_cpu(d.len));
		} else if (!kvio_chain_visit(pop)) {
			ret = kvio_ring_break(vr, "descriptor chain too long");
		} else {
			ret = kvio_chain_buffer(vr, pop, le64_to_cpu(d.addr),
						le32_to_cpu(d.len),
						flags & VRING_DESC_F_WRITE);
		}
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		pos = kvio_packed_advance(vr, pos, 1);
	}

	/* The last descriptor of the chain carries the buffer id. */
	id = le16_to_cpu(d.id);
	if (id >= vr->num)
		return kvio_ring_break(vr, "buffer id out of range");
	vr->id_ndesc[id] = ndesc;
	vr->pop_ndesc[vr->npop++ % vr->ntables] = ndesc;
	/* Where a pop found nothing is never behind the next to pop. */
	if (kvio_packed_dist(vr, vr->last_avail_idx, vr->avail_idx) < ndesc)
		vr->avail_idx = kvio_packed_advance(vr, vr->last_avail_idx,
						    ndesc);
	vr->last_avail_idx = kvio_packed_advance(vr, vr->last_avail_idx, ndesc);
	return id;
}

/* Give back the last @n chains popped. */
void kvio_packed_unpop(struct kvio_vring *vr, unsigned int n)
{
	while (n--) {
		vr->npop--;
		vr->last_avail_idx =
			kvio_packed_back(vr, vr->last_avail_idx,
					 vr->pop_ndesc[vr->npop % vr->ntables]);
	}
}

/* Write the used descriptor at @pos, all but its flags. */
static int kvio_packed_write_used(struct kvio_vring *vr, u16 pos,
				  const struct kvio_used *u)
{
	struct vring_packed_desc __user *d = kvio_packed_desc(vr, pos);

	if (put_user(cpu_to_le32(u->len), &d->len) ||
	    put_user(cpu_to_le16(u->id), &d->id))
		return kvio_ring_break(vr, "descriptor ring not writable");
	return 0;
}

/* Hand the used descriptor at @pos to the guest: its flags, then log it. */
static int kvio_packed_mark_used(struct kvio_vring *vr, u16 pos, u32 len)
{
	struct vring_packed_desc __user *d = kvio_packed_desc(vr, pos);
	u16 flags = 0;

	if (pos & KVIO_PACKED_WRAP)
		flags = BIT(VRING_PACKED_DESC_F_AVAIL) |
			BIT(VRING_PACKED_DESC_F_USED);
	/* The device wrote the buffer (and @len means something). */
	if (len)
		flags |= VRING_DESC_F_WRITE;
	if (put_user(cpu_to_le16(flags), &d->flags))
		return kvio_ring_break(vr, "descriptor ring not writable");
	if (kvio_log_hva(vr, d, sizeof(*d)))
		return kvio_ring_break(vr, "dirty log not writable");
	return 0;
}

/* The descriptors the chain of buffer @id took, 0 if it is not ours. */
static unsigned int kvio_packed_ndesc(struct kvio_vring *vr, u32 id)
{
	if (id >= vr->num)
		return 0;
	return vr->id_ndesc[id];
}

/**
 * kvio_packed_push - mark @n buffers used
 * @vr: the ring; its mutex is held
 * @used: buffer ids and written lengths, in the order they were popped
 *        if @batch
 * @n: entries in @used
 * @batch: with VIRTIO_F_IN_ORDER: write only the last one, at the first
 *         one's position, and skip the descriptors of them all
 *
 * The first used descriptor's flags are written last, so that the guest
 * sees the whole batch at once.
 *
 * Return: 0, or a negative errno if the ring is (now) broken.
 */
int kvio_packed_push(struct kvio_vring *vr, const struct kvio_used *used,
		     unsigned int n, bool batch)
{
	u16 first = vr->last_used_idx, pos = first;
	unsigned int i, ndesc, moved = 0;
	int ret;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		ndesc = kvio_packed_ndesc(vr, used[i].id);
		if (!ndesc)
			return kvio_ring_break(vr, "used buffer id not in flight");
		if (!batch) {
			ret = kvio_packed_write_used(vr, pos, &used[i]);
			if (ret)
				return ret;
			if (i) {
				/* Each entry's body before its flags. */
				smp_wmb();
				ret = kvio_packed_mark_used(vr, pos, used[i].len);
				if (ret)
					return ret;
			}
		}
		pos = kvio_packed_advance(vr, pos, ndesc);
		moved += ndesc;
	}
	if (batch) {
		ret = kvio_packed_write_used(vr, first, &used[n - 1]);
		if (ret)
			return ret;
	}
	/* Every entry written before the first one's flags hand them over. */
	smp_wmb();
	ret = kvio_packed_mark_used(vr, first, used[batch ? n - 1 : 0].len);
	if (ret)
		return ret;
	vr->last_used_idx = pos;
	/* After a full cycle the signalled position no longer means anything. */
	if (kvio_packed_dist(vr, vr->signalled_used, pos) < moved)
		vr->signalled_used_valid = false;
	return 0;
}

/* Does the guest want an interrupt for what was just marked used? */
bool kvio_packed_should_signal(struct kvio_vring *vr)
{
	struct vring_packed_desc_event ev;
	unsigned int span = 2 * vr->num, event, new, old;
	u16 flags;
	bool valid;

	/* Pairs with the guest's barrier when it re-enables interrupts. */
	smp_mb();
	if (copy_from_user(&ev, kvio_packed_driver(vr), sizeof(ev)))
		return true;
	flags = le16_to_cpu(ev.flags);
	if (flags != VRING_PACKED_EVENT_FLAG_DESC ||
	    !kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX)) {
		/* What was signalled under another mode says nothing. */
		vr->signalled_used_valid = false;
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	}

	valid = vr->signalled_used_valid;
	old = kvio_packed_linear(vr, vr->signalled_used);
	new = kvio_packed_linear(vr, vr->last_used_idx);
	vr->signalled_used = vr->last_used_idx;
	vr->signalled_used_valid = true;
	if (!valid)
		return true;
	/* The guest's off_wrap, which may name any position at all. */
	event = kvio_packed_linear(vr, le16_to_cpu(ev.off_wrap)) % span;
	return (new + 2 * span - event - 1) % span < (new + span - old) % span;
}

/* Write the device event area's flags (and log them). */
static int kvio_packed_put_flags(struct kvio_vring *vr, u16 flags)
{
	struct vring_packed_desc_event __user *dev = kvio_packed_device(vr);

	if (put_user(cpu_to_le16(flags), &dev->flags))
		return kvio_ring_break(vr, "device event area not writable");
	return kvio_ring_log_used(vr,
				  offsetof(struct vring_packed_desc_event, flags),
				  sizeof(dev->flags));
}

void kvio_packed_disable_notify(struct kvio_vring *vr)
{
	kvio_packed_put_flags(vr, VRING_PACKED_EVENT_FLAG_DISABLE);
}

/* Has the guest made available a buffer the worker has not looked at? */
bool kvio_packed_avail_moved(struct kvio_vring *vr)
{
	u16 pos = kvio_packed_check_pos(vr);
	__le16 flags;

	/* A fault is for kvio_packed_pop() to report: say yes. */
	if (get_user(flags, &kvio_packed_desc(vr, pos)->flags))
		return true;
	return kvio_packed_is_avail(vr, flags, pos);
}

/*
 * Ask for kicks again: with EVENT_IDX, for the descriptor at the position
 * we will look at next only.  True if one is available already.
 */
bool kvio_packed_enable_notify(struct kvio_vring *vr)
{
	struct vring_packed_desc_event __user *dev = kvio_packed_device(vr);
	u16 flags = VRING_PACKED_EVENT_FLAG_ENABLE;

	if (kvio_has_feature(vr, VIRTIO_RING_F_EVENT_IDX)) {
		if (put_user(cpu_to_le16(kvio_packed_check_pos(vr)),
			     &dev->off_wrap)) {
			kvio_ring_break(vr, "device event area not writable");
			return false;
		}
		if (kvio_ring_log_used(vr,
				       offsetof(struct vring_packed_desc_event,
						off_wrap),
				       sizeof(dev->off_wrap)))
			return false;
		/* The position before the mode that makes it count. */
		smp_wmb();
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	}
	if (kvio_packed_put_flags(vr, flags))
		return false;
	/* The guest must see the flags before we look at the ring. */
	smp_mb();
	return kvio_packed_avail_moved(vr);
}

void kvio_packed_free(struct kvio_vring *vr)
{
	kvfree(vr->id_ndesc);
	kvfree(vr->pop_ndesc);
	vr->id_ndesc = NULL;
	vr->pop_ndesc = NULL;
	vr->ntables = 0;
	vr->npop = 0;
}

/**
 * kvio_packed_start - check and prepare a packed ring that gets a backend
 * @vr: the ring; its mutex is held
 *
 * Return: 0, -EINVAL for a size or base a packed ring cannot have,
 * -ENOMEM, or -EFAULT if the device event area is not writable.
 */
int kvio_packed_start(struct kvio_vring *vr)
{
	u16 *id_ndesc = NULL, *pop_ndesc = NULL;
	__le16 __user *flags_p;
	u16 flags;

	/*
	 * Bit 15 of a position is the wrap counter; the used position
	 * trails the avail one by at most a ring of buffers in flight.
	 */
	if (vr->num > KVIO_PACKED_WRAP ||
	    (vr->last_avail_idx & KVIO_PACKED_IDX) >= vr->num ||
	    (vr->last_used_idx & KVIO_PACKED_IDX) >= vr->num ||
	    kvio_packed_dist(vr, vr->last_used_idx, vr->last_avail_idx) >
	    vr->num)
		return -EINVAL;

	if (vr->ntables != vr->num) {
		id_ndesc = kvcalloc(vr->num, sizeof(*id_ndesc),
				    GFP_KERNEL_ACCOUNT);
		pop_ndesc = kvcalloc(vr->num, sizeof(*pop_ndesc),
				     GFP_KERNEL_ACCOUNT);
		if (!id_ndesc || !pop_ndesc)
			goto nomem;
	}

	/* Everything that can fail before the ring changes. */
	flags = vr->used_flags & VRING_USED_F_NO_NOTIFY ?
		VRING_PACKED_EVENT_FLAG_DISABLE : VRING_PACKED_EVENT_FLAG_ENABLE;
	flags_p = kvio_ring_used_ptr(vr,
				     offsetof(struct vring_packed_desc_event,
					      flags),
				     sizeof(*flags_p), VHOST_ACCESS_WO);
	if (IS_ERR(flags_p) || put_user(cpu_to_le16(flags), flags_p)) {
		kvfree(id_ndesc);
		kvfree(pop_ndesc);
		return -EFAULT;
	}
	/* As for split rings, a log that cannot take it fails later. */
	kvio_log_used(vr, offsetof(struct vring_packed_desc_event, flags),
		      sizeof(flags));

	if (id_ndesc) {
		kvio_packed_free(vr);
		vr->id_ndesc = id_ndesc;
		vr->pop_ndesc = pop_ndesc;
		vr->ntables = vr->num;
	}
	/* A ring starts with no buffer in flight. */
	memset(vr->id_ndesc, 0, vr->num * sizeof(*vr->id_ndesc));
	vr->npop = 0;
	vr->avail_idx = vr->last_avail_idx;
	vr->signalled_used_valid = false;
	return 0;

nomem:
	kvfree(id_ndesc);
	kvfree(pop_ndesc);
	return -ENOMEM;
}
