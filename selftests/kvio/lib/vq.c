// SPDX-License-Identifier: GPL-2.0
/*
 * vq: the driver's side of one virtqueue (see vq.h).
 *
 * Facts taken from the virtio 1.1 specification:
 *  - split (2.7): the device reads avail->ring[] up to avail->idx and
 *    writes used->ring[], then used->idx; with EVENT_IDX, used_event
 *    follows the avail ring and avail_event the used ring.
 *  - packed (2.8): one ring; a descriptor is available when its AVAIL
 *    bit equals the driver's wrap counter and its USED bit does not,
 *    used when both equal the wrap counter.  A used descriptor takes the
 *    place of the buffer's first, and the next one follows the whole
 *    chain.  Chains carry the buffer id in every descriptor; the head's
 *    flags are written last.  Each side has a 4-byte event suppression
 *    area: flags (ENABLE, DISABLE, DESC) and off_wrap, a position with
 *    the wrap counter in bit 15.
 *  - in order (2.7.9, 2.8.x): buffers come back in the order they went
 *    out, and the device may write one entry for a batch: the id of its
 *    last buffer, at the place of its first; the split used index moves
 *    by the batch's size, the packed used position past all its
 *    descriptors.  The driver infers the others, with their whole
 *    device-writable length.
 *
 * Memory ordering: descriptors and avail entries are written before a
 * release store makes them available (avail->idx, or the first head's
 * flags); used entries are read after an acquire load (used->idx, or the
 * flags); a full fence separates publishing from reading the other side's
 * event suppression, and enabling notifications from looking for more
 * used entries (either side may have moved meanwhile).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vq.h"

#ifndef BIT
#define BIT(nr)		(1U << (nr))
#endif

#define VQ_PAGE		4096UL
#define VQ_F_AVAIL	BIT(VRING_PACKED_DESC_F_AVAIL)
#define VQ_F_USED	BIT(VRING_PACKED_DESC_F_USED)
#define VQ_WRAP		BIT(VRING_PACKED_EVENT_F_WRAP_CTR)

#define vq_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

static size_t vq_page_up(size_t x)
{
	return (x + VQ_PAGE - 1) & ~(VQ_PAGE - 1);
}

static unsigned int vq_ind_max(const struct vq_cfg *cfg)
{
	return cfg->ind_max ? cfg->ind_max : VQ_IND_DEFAULT;
}

/*
 * Descriptors, avail ring (driver area), used ring (device area) and the
 * indirect tables, each on pages of their own: a test may make the used
 * ring read-only without touching the rest.  Returns the size.
 */
static size_t vq_parts(const struct vq_cfg *cfg, size_t *avail, size_t *used,
		       size_t *ind)
{
	size_t n = cfg->num, area = sizeof(struct vring_packed_desc_event);

	*avail = vq_page_up(16 * n);
	*used = *avail + vq_page_up(cfg->packed ? area : 6 + 2 * n);
	*ind = *used + vq_page_up(cfg->packed ? area : 6 + 8 * n);
	if (!cfg->indirect)
		return *ind;
	return *ind + vq_page_up(n * vq_ind_max(cfg) * 16);
}

/**
 * vq_layout() - guest memory one queue needs
 * @cfg: the queue
 * @align: if not NULL, the alignment its start needs
 *
 * Return: the size in bytes.
 */
size_t vq_layout(const struct vq_cfg *cfg, size_t *align)
{
	size_t a, u, i;

	if (align)
		*align = VQ_PAGE;
	return vq_parts(cfg, &a, &u, &i);
}

/* split: used_event after the avail ring, avail_event after the used one */
static __u16 *vq_used_event(const struct vq *vq)
{
	return &vq->avail->ring[vq->cfg.num];
}

static __u16 *vq_avail_event(const struct vq *vq)
{
	return (__u16 *)((char *)vq->used + 4 + 8 * vq->cfg.num);
}

void vq_fini(struct vq *vq)
{
	free(vq->ids);
	free(vq->next);
	free(vq->order);
	free(vq->lap);
	vq->ids = NULL;
	vq->next = NULL;
	vq->order = NULL;
	vq->lap = NULL;
}

/**
 * vq_init() - lay a queue out in guest memory, fresh
 * @vq: the queue
 * @cfg: its size and features
 * @hva: where, vq_layout() bytes
 * @gpa: the guest-physical address of @hva
 *
 * Return: 0, -EINVAL for a size or place it cannot use, -ENOMEM.
 */
int vq_init(struct vq *vq, const struct vq_cfg *cfg, void *hva, __u64 gpa)
{
	unsigned int n = cfg->num;

	if (!n || n > VQ_NUM_MAX || (!cfg->packed && (n & (n - 1))) ||
	    ((unsigned long)hva & (VQ_PAGE - 1)))
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->cfg = *cfg;
	vq->cfg.ind_max = vq_ind_max(cfg);
	vq_parts(cfg, &vq->off_avail, &vq->off_used, &vq->off_ind);
	vq->hva = hva;
	vq->gpa = gpa;
	vq->ids = calloc(n, sizeof(*vq->ids));
	vq->next = calloc(n, sizeof(*vq->next));
	vq->order = calloc(n, sizeof(*vq->order));
	vq->lap = calloc(n, sizeof(*vq->lap));
	if (!vq->ids || !vq->next || !vq->order || !vq->lap) {
		vq_fini(vq);
		return -ENOMEM;
	}
	if (cfg->packed) {
		vq->pdesc = (void *)vq->hva;
		vq->drv_event = (void *)(vq->hva + vq->off_avail);
		vq->dev_event = (void *)(vq->hva + vq->off_used);
	} else {
		vq->desc = (void *)vq->hva;
		vq->avail = (void *)(vq->hva + vq->off_avail);
		vq->used = (void *)(vq->hva + vq->off_used);
	}
	vq_reset(vq, cfg->packed ? VQ_WRAP | VQ_WRAP << 16 : 0);
	return 0;
}

/* As a device stopped at @base would have left the rings. */
static void vq_reset_split(struct vq *vq, __u16 base)
{
	unsigned int n = vq->cfg.num, i;

	for (i = 0; i < n; i++)
		vq->next[i] = (i + 1) % n;
	vq->free_head = 0;
	vq->avail_idx = base;
	vq->used_idx = base;
	vq->added = base;
	vq->kick_old = base;
	vq->avail->flags = 0;
	vq->avail->idx = base;
	vq->used->flags = 0;
	vq->used->idx = base;
	*vq_used_event(vq) = base;
	*vq_avail_event(vq) = base;
}

/*
 * Every descriptor looks used in the lap before: neither available to the
 * device nor used to the driver.
 */
static void vq_reset_packed(struct vq *vq, __u32 base)
{
	unsigned int n = vq->cfg.num, i;
	bool wrap = base & VQ_WRAP;

	memset(vq->pdesc, 0, n * sizeof(*vq->pdesc));
	for (i = 0; i < n; i++) {
		vq->next[i] = i + 1;
		if (!wrap)
			vq->pdesc[i].flags = VQ_F_AVAIL | VQ_F_USED;
	}
	vq->free_head = 0;
	vq->avail_idx = base & (VQ_WRAP - 1);
	vq->avail_wrap = wrap;
	vq->used_idx = vq->avail_idx;
	vq->used_wrap = wrap;
	vq->added = 0;
	vq->kick_old = 0;
	memset(vq->drv_event, 0, sizeof(*vq->drv_event));
	memset(vq->dev_event, 0, sizeof(*vq->dev_event));
}

/**
 * vq_reset() - forget every buffer, start the rings at @base
 * @vq: the queue
 * @base: a VHOST_SET_VRING_BASE value: split, the index of both rings;
 *	  packed, bits 0-14 the position and bit 15 the wrap counter (the
 *	  used half, bits 16-31, must name the same: nothing is in flight)
 */
void vq_reset(struct vq *vq, __u32 base)
{
	memset(vq->ids, 0, vq->cfg.num * sizeof(*vq->ids));
	memset(&vq->stats, 0, sizeof(vq->stats));
	vq->inflight = 0;
	vq->published = 0;
	vq->staged = 0;
	vq->stage_added = 0;
	vq->order_head = 0;
	vq->batch = false;
	vq->nfree = vq->cfg.num;
	if (vq->cfg.packed)
		vq_reset_packed(vq, base);
	else
		vq_reset_split(vq, base);
}

/**
 * vq_base() - where a device (re)started now resumes every buffer the
 * driver has not got back: the VHOST_SET_VRING_BASE value
 * @vq: the queue
 *
 * Return: split, the used index; packed, the used position and wrap
 * counter in both halves (0x80008000 for a fresh ring).
 */
__u32 vq_base(const struct vq *vq)
{
	__u32 s = vq->used_idx;

	if (!vq->cfg.packed)
		return s;
	s |= vq->used_wrap ? VQ_WRAP : 0;
	return s | s << 16;
}

/**
 * vq_addr() - the VHOST_SET_VRING_ADDR argument, as QEMU gives it
 * @vq: the queue
 * @index: the queue's index
 * @a: filled in: host addresses; for packed rings desc is the ring, avail
 *     the driver event suppression area, used the device's; the log
 *     address is the guest-physical one of the used ring (device area)
 */
void vq_addr(const struct vq *vq, unsigned int index,
	     struct vhost_vring_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->index = index;
	a->desc_user_addr = (unsigned long)vq->hva;
	a->avail_user_addr = (unsigned long)(vq->hva + vq->off_avail);
	a->used_user_addr = (unsigned long)(vq->hva + vq->off_used);
	a->log_guest_addr = vq->gpa + vq->off_used;
}

/* Adding buffers */

static void vq_lap_step(struct vq *vq, __u16 *pos, bool *wrap,
			unsigned int by)
{
	*pos += by;
	if (*pos >= vq->cfg.num) {
		*pos -= vq->cfg.num;
		*wrap = !*wrap;
	}
}

/* Takes @ndesc descriptors and an id; their indexes or positions in @pos. */
static int vq_alloc(struct vq *vq, unsigned int ndesc, __u16 *pos)
{
	unsigned int n = vq->cfg.num, i, id;
	__u16 d;

	if (!ndesc || ndesc > vq->nfree)
		return -ENOSPC;
	if (vq->cfg.packed) {
		id = vq->cfg.in_order ? vq->avail_idx : vq->free_head;
		if (!vq->cfg.in_order)
			vq->free_head = vq->next[id];
		vq->ids[id].aidx = vq->avail_idx;
		for (i = 0; i < ndesc; i++) {
			if (pos)
				pos[i] = vq->avail_idx;
			vq->lap[vq->avail_idx] = vq->avail_wrap;
			vq_lap_step(vq, &vq->avail_idx, &vq->avail_wrap, 1);
		}
	} else {
		/* in order, the links stay i + 1: the table is used in turn */
		id = vq->free_head;
		d = id;
		for (i = 0; i < ndesc; i++) {
			if (pos)
				pos[i] = d;
			vq->ids[id].last = d;
			d = vq->next[d];
		}
		vq->free_head = d;
	}
	vq->ids[id].ndesc = ndesc;
	vq->ids[id].in_len = 0;
	vq->ids[id].busy = true;
	vq->nfree -= ndesc;
	if (vq->cfg.in_order)
		vq->order[(vq->order_head + vq->inflight) % n] = id;
	vq->inflight++;
	return id;
}

/* A split descriptor, in the ring or in a table, exactly as given. */
void vq_desc_set(struct vring_desc *d, __u64 gpa, __u32 len, __u16 flags,
		 __u16 next)
{
	d->addr = gpa;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static __u16 vq_dir(unsigned int i, unsigned int out)
{
	return i >= out ? VRING_DESC_F_WRITE : 0;
}

static void vq_write_split(struct vq *vq, unsigned int id,
			   const struct vq_buf *buf, unsigned int out,
			   unsigned int in, bool indirect)
{
	unsigned int n = out + in, i;
	struct vring_desc *t;
	__u16 cur = id, more;
	__u64 tgpa;

	if (indirect) {
		t = vq_ind(vq, id, &tgpa);
		for (i = 0; i < n; i++)
			vq_desc_set(t + i, buf[i].gpa, buf[i].len,
				    vq_dir(i, out) |
				    (i + 1 < n ? VRING_DESC_F_NEXT : 0), i + 1);
		vq_desc_set(vq->desc + id, tgpa, n * sizeof(*t),
			    VRING_DESC_F_INDIRECT, 0);
		return;
	}
	for (i = 0; i < n; i++, cur = vq->next[cur]) {
		more = i + 1 < n ? VRING_DESC_F_NEXT : 0;
		vq_desc_set(vq->desc + cur, buf[i].gpa, buf[i].len,
			    vq_dir(i, out) | more, more ? vq->next[cur] : 0);
	}
}

/* Writes a packed chain at @head, all but the head's flags: returned. */
static __u16 vq_write_packed(struct vq *vq, unsigned int id, __u16 head,
			     const struct vq_buf *buf, unsigned int out,
			     unsigned int in, bool indirect)
{
	unsigned int n = out + in, i, pos = head;
	struct vring_packed_desc *d, *t;
	__u16 flags, hflags = 0;
	__u64 tgpa;

	if (indirect) {
		t = vq_ind(vq, id, &tgpa);
		for (i = 0; i < n; i++) {
			t[i].addr = buf[i].gpa;
			t[i].len = buf[i].len;
			t[i].id = 0;
			t[i].flags = vq_dir(i, out);
		}
		d = &vq->pdesc[head];
		d->addr = tgpa;
		d->len = n * sizeof(*t);
		d->id = id;
		return VRING_DESC_F_INDIRECT | vq_pdesc_avail(vq, head);
	}
	for (i = 0; i < n; i++, pos = (pos + 1) % vq->cfg.num) {
		d = &vq->pdesc[pos];
		d->addr = buf[i].gpa;
		d->len = buf[i].len;
		d->id = id;
		flags = vq_dir(i, out) | (i + 1 < n ? VRING_DESC_F_NEXT : 0) |
			vq_pdesc_avail(vq, pos);
		if (!i)
			hflags = flags;
		else
			__atomic_store_n(&d->flags, flags, __ATOMIC_RELAXED);
	}
	return hflags;
}

/* The head's flags now, or at vq_publish() if it is the first staged. */
static void vq_head_flags(struct vq *vq, __u16 head, __u16 flags)
{
	if (vq->staged && head == vq->stage_pos)
		vq->stage_flags = flags;
	else
		__atomic_store_n(&vq->pdesc[head].flags, flags,
				 __ATOMIC_RELEASE);
}

static bool vq_chain_ok(const struct vq *vq, unsigned int n, bool indirect)
{
	if (!n || n > vq->cfg.num)
		return false;
	return !indirect || (vq->cfg.indirect && n <= vq->cfg.ind_max);
}

/**
 * vq_stage() - write a buffer into the ring without making it available
 * @vq: the queue
 * @buf: its pieces: @out device-readable ones, then @in device-writable
 * @out: how many are readable
 * @in: how many are writable
 * @indirect: in one indirect table (of the id's own), one descriptor
 *
 * Staged buffers become available together at vq_publish().
 *
 * Return: the buffer's id, as vq_get() gives it back; -ENOSPC if the ring
 * has no room for it now, -EINVAL if it can never take it.
 */
int vq_stage(struct vq *vq, const struct vq_buf *buf, unsigned int out,
	     unsigned int in, bool indirect)
{
	unsigned int n = out + in, i;
	__u16 head = vq->avail_idx, flags;
	int id;

	if (!vq_chain_ok(vq, n, indirect))
		return -EINVAL;
	id = vq_alloc(vq, indirect ? 1 : n, NULL);
	if (id < 0)
		return id;
	for (i = out; i < n; i++)
		vq->ids[id].in_len += buf[i].len;
	if (vq->cfg.packed) {
		flags = vq_write_packed(vq, id, head, buf, out, in, indirect);
		if (!vq->staged) {
			vq->stage_pos = head;
			vq->stage_flags = flags;
		} else {
			__atomic_store_n(&vq->pdesc[head].flags, flags,
					 __ATOMIC_RELEASE);
		}
		vq->stage_added += indirect ? 1 : n;
	} else {
		vq_write_split(vq, id, buf, out, in, indirect);
		vq->avail->ring[vq->avail_idx % vq->cfg.num] = id;
		vq->ids[id].aidx = vq->avail_idx++;
	}
	vq->staged++;
	return id;
}

/**
 * vq_publish() - make the staged buffers available to the device
 * @vq: the queue
 */
void vq_publish(struct vq *vq)
{
	if (!vq->staged)
		return;
	if (vq->cfg.packed) {
		__atomic_store_n(&vq->pdesc[vq->stage_pos].flags,
				 vq->stage_flags, __ATOMIC_RELEASE);
		vq->added += vq->stage_added;
	} else {
		__atomic_store_n(&vq->avail->idx, vq->avail_idx,
				 __ATOMIC_RELEASE);
		vq->added = vq->avail_idx;
	}
	vq->stats.added += vq->staged;
	vq->published += vq->staged;
	vq->staged = 0;
	vq->stage_added = 0;
}

/**
 * vq_add() - vq_stage() and vq_publish() in one
 * @vq: the queue
 * @buf: the pieces
 * @out: readable pieces, first
 * @in: writable pieces, after them
 * @indirect: in an indirect table
 *
 * Return: the id, or as vq_stage().
 */
int vq_add(struct vq *vq, const struct vq_buf *buf, unsigned int out,
	   unsigned int in, bool indirect)
{
	int id = vq_stage(vq, buf, out, in, indirect);

	if (id >= 0)
		vq_publish(vq);
	return id;
}

/* Notifications */

/*
 * The device wants a kick when the descriptor at its event position is
 * made available: is it one of the @added published since the last
 * decision?  Positions count through two laps, the wrap counter's.
 */
static bool vq_kick_packed(struct vq *vq, __u16 added)
{
	unsigned int n = vq->cfg.num, ev, now, d;
	__u16 flags, off;

	flags = __atomic_load_n(&vq->dev_event->flags, __ATOMIC_RELAXED);
	if (flags != VRING_PACKED_EVENT_FLAG_DESC)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	off = __atomic_load_n(&vq->dev_event->off_wrap, __ATOMIC_RELAXED);
	ev = (off & (VQ_WRAP - 1)) + (off & VQ_WRAP ? 0 : n);
	now = vq->avail_idx + (vq->avail_wrap ? 0 : n) + 2 * n -
	      vq->stage_added;
	d = (now + 2 * n - ev) % (2 * n);
	return added >= 2 * n || (d >= 1 && d <= added);
}

/**
 * vq_kick_needed() - whether the device asked to be told of what was
 * published since the last call
 * @vq: the queue
 *
 * Split rings: avail_event with EVENT_IDX, else VRING_USED_F_NO_NOTIFY;
 * packed: the device event suppression area.  Call after vq_publish().
 *
 * Return: true if the driver should kick.
 */
bool vq_kick_needed(struct vq *vq)
{
	__u16 old = vq->kick_old, new = vq->added, ev;
	bool need;

	if (old == new)
		return false;
	vq->kick_old = new;
	/* what was published is visible before the device's side is read */
	vq_mb();
	if (vq->cfg.packed) {
		need = vq_kick_packed(vq, new - old);
	} else if (vq->cfg.event_idx) {
		ev = __atomic_load_n(vq_avail_event(vq), __ATOMIC_RELAXED);
		need = (__u16)(new - ev - 1) < (__u16)(new - old);
	} else {
		need = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	}
	vq->stats.kicks_needed += need;
	return need;
}

/**
 * vq_more_used() - whether vq_get() has something
 * @vq: the queue
 */
bool vq_more_used(const struct vq *vq)
{
	__u16 f;

	if (vq->batch)
		return true;
	if (!vq->cfg.packed)
		return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) !=
		       vq->used_idx;
	if (!vq->published)
		return false;
	f = __atomic_load_n(&vq->pdesc[vq->used_idx].flags, __ATOMIC_ACQUIRE);
	return !(f & VQ_F_AVAIL) == !(f & VQ_F_USED) &&
	       !(f & VQ_F_USED) == !vq->used_wrap;
}

/**
 * vq_arm() - ask for a used buffer notification at the next used buffer
 * @vq: the queue
 *
 * Split: used_event with EVENT_IDX, else clears VRING_AVAIL_F_NO_INTERRUPT;
 * packed: the driver event suppression area, DESC mode with EVENT_IDX.
 *
 * Return: false if a used buffer is there already (take it rather than
 * sleep), true if the driver may sleep until notified.
 */
bool vq_arm(struct vq *vq)
{
	struct vring_packed_desc_event *e = vq->drv_event;

	if (vq->cfg.packed && vq->cfg.event_idx) {
		e->off_wrap = vq->used_idx | (vq->used_wrap ? VQ_WRAP : 0);
		__atomic_store_n(&e->flags, VRING_PACKED_EVENT_FLAG_DESC,
				 __ATOMIC_RELEASE);
	} else if (vq->cfg.packed) {
		__atomic_store_n(&e->flags, VRING_PACKED_EVENT_FLAG_ENABLE,
				 __ATOMIC_RELAXED);
	} else if (vq->cfg.event_idx) {
		__atomic_store_n(vq_used_event(vq), vq->used_idx,
				 __ATOMIC_RELAXED);
	} else if (vq->avail->flags & VRING_AVAIL_F_NO_INTERRUPT) {
		__atomic_store_n(&vq->avail->flags, 0, __ATOMIC_RELAXED);
	}
	/* the request is visible before the used ring is looked at again */
	vq_mb();
	return !vq_more_used(vq);
}

/**
 * vq_disarm() - ask for no used buffer notifications
 * @vq: the queue
 *
 * Split with EVENT_IDX: used_event one behind the used index, reached
 * only after 65535 more; without, VRING_AVAIL_F_NO_INTERRUPT.  Packed:
 * DISABLE.
 */
void vq_disarm(struct vq *vq)
{
	if (vq->cfg.packed)
		__atomic_store_n(&vq->drv_event->flags,
				 VRING_PACKED_EVENT_FLAG_DISABLE,
				 __ATOMIC_RELAXED);
	else if (vq->cfg.event_idx)
		__atomic_store_n(vq_used_event(vq), vq->used_idx - 1,
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->avail->flags, VRING_AVAIL_F_NO_INTERRUPT,
				 __ATOMIC_RELAXED);
}

/* Taking buffers back */

static void vq_release(struct vq *vq, unsigned int id)
{
	struct vq_id *s = &vq->ids[id];

	if (!vq->cfg.in_order && !vq->cfg.packed) {
		vq->next[s->last] = vq->free_head;
		vq->free_head = id;
	} else if (!vq->cfg.in_order) {
		vq->next[id] = vq->free_head;
		vq->free_head = id;
	} else {
		vq->order_head = (vq->order_head + 1) % vq->cfg.num;
	}
	if (vq->cfg.packed)
		vq_lap_step(vq, &vq->used_idx, &vq->used_wrap, s->ndesc);
	else
		vq->used_idx++;
	vq->nfree += s->ndesc;
	s->busy = false;
	vq->inflight--;
	if (vq->published)	/* a device that used what it could not see */
		vq->published--;
	vq->stats.used++;
}

/* A bad entry: step over it, so that a caller may go on. */
static void vq_skip(struct vq *vq)
{
	if (vq->cfg.packed)
		vq_lap_step(vq, &vq->used_idx, &vq->used_wrap, 1);
	else
		vq->used_idx++;
}

/* The next buffer of a batch: the oldest in flight. */
static int vq_batch_next(struct vq *vq, struct vq_used *u)
{
	unsigned int id = vq->order[vq->order_head];

	u->id = id;
	u->batched = id != vq->batch_id;
	if (u->batched) {
		u->len = vq->ids[id].in_len;
		vq->stats.batched++;
	} else {
		u->len = vq->batch_len;
		vq->batch = false;
	}
	vq_release(vq, id);
	return 1;
}

/* In order: how far into the published buffers @id is, or -1. */
static int vq_order_find(const struct vq *vq, unsigned int id)
{
	unsigned int k;

	for (k = 0; k < vq->published; k++)
		if (vq->order[(vq->order_head + k) % vq->cfg.num] == id)
			return k;
	return -1;
}

/*
 * The entry (@id, @len) at the driver's used position, which may stand for
 * @room buffers at most (in order: a batch that long).
 */
static int vq_took(struct vq *vq, unsigned int id, __u32 len,
		   unsigned int room, struct vq_used *u)
{
	int k;

	u->id = id;
	u->len = len;
	u->batched = false;
	if (id >= vq->cfg.num || !vq->ids[id].busy) {
		vq_skip(vq);
		return -EBADMSG;
	}
	if (!vq->cfg.in_order) {
		vq_release(vq, id);
		return 1;
	}
	k = vq_order_find(vq, id);
	if (k < 0 || (unsigned int)k >= room) {
		vq_skip(vq);
		return -EBADMSG;
	}
	vq->batch = true;
	vq->batch_id = id;
	vq->batch_len = len;
	vq->stats.batches += k > 0;
	return vq_batch_next(vq, u);
}

/**
 * vq_get() - the next buffer the device gave back
 * @vq: the queue
 * @u: filled in: its id and the length the device wrote; in order, for a
 *     buffer of a batch but its last, the length is the buffer's whole
 *     writable length and @u->batched is set
 *
 * Return: 1 with @u filled; 0 if there is none; -EBADMSG if the entry
 * names no buffer in flight (@u->id has what it said; the entry is
 * stepped over).
 */
int vq_get(struct vq *vq, struct vq_used *u)
{
	struct vring_packed_desc *d;
	struct vring_used_elem *e;
	__u16 idx;

	if (vq->batch)
		return vq_batch_next(vq, u);
	if (!vq_more_used(vq))
		return 0;
	if (vq->cfg.packed) {
		d = &vq->pdesc[vq->used_idx];
		return vq_took(vq, d->id, d->len, vq->published, u);
	}
	idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	e = &vq->used->ring[vq->used_idx % vq->cfg.num];
	return vq_took(vq, e->id, e->len, (__u16)(idx - vq->used_idx), u);
}

/* Raw access */

/**
 * vq_reserve() - stage a buffer whose descriptors the caller writes
 * @vq: the queue
 * @ndesc: ring descriptors it takes
 * @pos: filled in: their indexes (split; the avail entry is written) or
 *	 positions (packed), @ndesc of them
 *
 * Return: the id, or -ENOSPC.
 */
int vq_reserve(struct vq *vq, unsigned int ndesc, __u16 *pos)
{
	__u16 head = vq->avail_idx;
	int id = vq_alloc(vq, ndesc, pos);

	if (id < 0)
		return id;
	if (vq->cfg.packed) {
		if (!vq->staged) {
			vq->stage_pos = head;
			vq->stage_flags = vq_pdesc_avail(vq, head);
		}
		vq->stage_added += ndesc;
	} else {
		vq->avail->ring[vq->avail_idx % vq->cfg.num] = id;
		vq->ids[id].aidx = vq->avail_idx++;
	}
	vq->staged++;
	return id;
}

/**
 * vq_rewrite() - write an available buffer's descriptors again
 * @vq: the queue
 * @id: the buffer, in flight
 * @buf: the pieces, as many descriptors as it had
 * @out: readable pieces
 * @in: writable pieces
 * @indirect: in its indirect table
 *
 * For a driver that repairs what it corrupted: the descriptors, and for
 * split rings its avail entry and the avail index written again.
 *
 * Return: 0, or -EINVAL.
 */
int vq_rewrite(struct vq *vq, unsigned int id, const struct vq_buf *buf,
	       unsigned int out, unsigned int in, bool indirect)
{
	struct vq_id *s = &vq->ids[id];
	__u16 flags;

	if (id >= vq->cfg.num || !s->busy || !vq_chain_ok(vq, out + in,
							  indirect) ||
	    s->ndesc != (indirect ? 1 : out + in))
		return -EINVAL;
	if (vq->cfg.packed) {
		flags = vq_write_packed(vq, id, s->aidx, buf, out, in,
					indirect);
		vq_head_flags(vq, s->aidx, flags);
		return 0;
	}
	vq_write_split(vq, id, buf, out, in, indirect);
	vq->avail->ring[s->aidx % vq->cfg.num] = id;
	__atomic_store_n(&vq->avail->idx, vq->added, __ATOMIC_RELEASE);
	return 0;
}

/**
 * vq_ind() - the indirect table of buffer @id
 * @vq: the queue
 * @id: the buffer
 * @gpa: if not NULL, its guest-physical address
 *
 * Return: its host address: cfg.ind_max entries of 16 bytes.
 */
void *vq_ind(const struct vq *vq, unsigned int id, __u64 *gpa)
{
	size_t off = vq->off_ind + (size_t)id * vq->cfg.ind_max * 16;

	if (gpa)
		*gpa = vq->gpa + off;
	return vq->hva + off;
}

/* Split descriptor @i, exactly as given. */
void vq_desc_write(struct vq *vq, unsigned int i, __u64 gpa, __u32 len,
		   __u16 flags, __u16 next)
{
	vq_desc_set(vq->desc + i % vq->cfg.num, gpa, len, flags, next);
}

/*
 * Packed descriptor @pos, exactly as given, its flags last; the flags of
 * the first staged head wait for vq_publish().
 */
void vq_pdesc_write(struct vq *vq, unsigned int pos, __u64 gpa, __u32 len,
		    __u16 id, __u16 flags)
{
	struct vring_packed_desc *d = &vq->pdesc[pos % vq->cfg.num];

	d->addr = gpa;
	d->len = len;
	d->id = id;
	vq_head_flags(vq, pos % vq->cfg.num, flags);
}

/* The AVAIL and USED bits that make position @pos available, this lap. */
__u16 vq_pdesc_avail(const struct vq *vq, unsigned int pos)
{
	return vq->lap[pos % vq->cfg.num] ? VQ_F_AVAIL : VQ_F_USED;
}

/* Split avail ring entry @idx (an index, not a position). */
void vq_avail_write(struct vq *vq, __u16 idx, __u16 head)
{
	vq->avail->ring[idx % vq->cfg.num] = head;
}

/* The split avail index, whatever the driver has staged. */
void vq_avail_idx_write(struct vq *vq, __u16 idx)
{
	__atomic_store_n(&vq->avail->idx, idx, __ATOMIC_RELEASE);
}

/* The split used index the device wrote. */
__u16 vq_used_idx(const struct vq *vq)
{
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
}

/* The split used element for index @idx. */
struct vring_used_elem *vq_used_elem(const struct vq *vq, __u16 idx)
{
	return &vq->used->ring[idx % vq->cfg.num];
}

/* The used ring (device area) and its length. */
void *vq_used_area(const struct vq *vq, size_t *len)
{
	size_t n = vq->cfg.num;

	*len = vq->cfg.packed ? sizeof(struct vring_packed_desc_event) :
	       6 + 8 * n;
	return vq->hva + vq->off_used;
}
