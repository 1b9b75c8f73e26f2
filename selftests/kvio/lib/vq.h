/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vq: the driver's side of one virtqueue, for userspace programs that play
 * a guest's virtio driver against a vhost device (the selftests, the
 * fuzzer, the benchmark).  Split and packed rings (virtio 1.1, 2.7 and
 * 2.8), with or without VIRTIO_F_IN_ORDER, EVENT_IDX and indirect tables.
 *
 * The rings live in "guest memory" the caller maps: vq_layout() says how
 * many bytes one queue needs, vq_init() lays the queue out at a host
 * address whose guest-physical address the caller gives.  Descriptors
 * carry guest-physical addresses; vq_addr() gives the ring addresses a VMM
 * passes to VHOST_SET_VRING_ADDR (host virtual, as QEMU does).
 *
 * The driver keeps its own copy of what it made available (chain lengths,
 * descriptor links, ids in flight) and never reads that back from guest
 * memory, which a test may corrupt on purpose through the raw writers at
 * the end of this header.  A used entry that names no buffer in flight is
 * reported, not trusted.
 *
 * Not thread-safe: one thread drives one queue.  No dependency on the
 * test harness.
 */
#ifndef KVIO_VQ_H
#define KVIO_VQ_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#define VQ_NUM_MAX	32768
#define VQ_IND_DEFAULT	4	/* entries of an indirect table by default */

struct vq_cfg {
	unsigned int num;	/* ring size; a power of 2 for split rings */
	bool packed;		/* VIRTIO_F_RING_PACKED */
	bool in_order;		/* VIRTIO_F_IN_ORDER */
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX */
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC: tables */
	unsigned int ind_max;	/* entries per indirect table; 0: default */
};

/* One piece of a buffer: out pieces first, then in (device-writable). */
struct vq_buf {
	__u64 gpa;
	__u32 len;
};

/* A buffer the device gave back. */
struct vq_used {
	unsigned int id;	/* what vq_add() returned */
	__u32 len;		/* bytes the device wrote */
	bool batched;		/* in order: inferred from a later entry */
};

/* What the driver knows about one buffer id. */
struct vq_id {
	__u32 in_len;		/* device-writable bytes: a batched len */
	__u16 ndesc;		/* ring descriptors it takes */
	__u16 last;		/* split: its last descriptor */
	__u16 aidx;		/* split: the avail index it went in at */
	bool busy;
};

struct vq_stats {
	unsigned long added;		/* buffers made available */
	unsigned long used;		/* buffers given back */
	unsigned long batches;		/* in order: entries for > 1 buffer */
	unsigned long batched;		/* buffers back without an entry */
	unsigned long kicks_needed;	/* vq_kick_needed() said yes */
};

struct vq {
	struct vq_cfg cfg;
	char *hva;
	__u64 gpa;
	size_t off_avail, off_used, off_ind;
	/* split */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* packed: the ring, the driver and device event suppression areas */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *drv_event, *dev_event;

	struct vq_id *ids;
	__u16 *next;		/* split: descriptor links; packed: free ids */
	__u16 *order;		/* in order: ids in flight, oldest first */
	__u8 *lap;		/* packed: avail wrap counter per position */
	unsigned int order_head, inflight, nfree;
	__u16 free_head;	/* split: first free descriptor; packed: id */

	/* the driver's side of the avail ring */
	__u16 avail_idx;	/* split: next avail index; packed: position */
	bool avail_wrap;
	__u16 added;		/* descriptors (packed) or entries published */
	__u16 kick_old;		/* @added at the last vq_kick_needed() */
	unsigned int staged;	/* buffers written, not yet published */
	__u16 stage_pos;	/* packed: head of the first staged buffer */
	__u16 stage_flags;	/* ... and its flags, written at publish */
	__u16 stage_added;	/* descriptors staged */

	/* the driver's side of the used ring */
	__u16 used_idx;		/* split: next used index; packed: position */
	bool used_wrap;
	unsigned int published;	/* buffers published and in flight */
	bool batch;		/* in order: returning a batch */
	unsigned int batch_id;
	__u32 batch_len;

	struct vq_stats stats;
};

size_t vq_layout(const struct vq_cfg *cfg, size_t *align);
int vq_init(struct vq *vq, const struct vq_cfg *cfg, void *hva, __u64 gpa);
void vq_fini(struct vq *vq);
void vq_reset(struct vq *vq, __u32 base);
__u32 vq_base(const struct vq *vq);
void vq_addr(const struct vq *vq, unsigned int index,
	     struct vhost_vring_addr *a);

int vq_add(struct vq *vq, const struct vq_buf *buf, unsigned int out,
	   unsigned int in, bool indirect);
int vq_stage(struct vq *vq, const struct vq_buf *buf, unsigned int out,
	     unsigned int in, bool indirect);
void vq_publish(struct vq *vq);
bool vq_kick_needed(struct vq *vq);
int vq_get(struct vq *vq, struct vq_used *u);
bool vq_more_used(const struct vq *vq);
bool vq_arm(struct vq *vq);
void vq_disarm(struct vq *vq);

static inline unsigned int vq_pending(const struct vq *vq)
{
	return vq->inflight;
}

/* Ring descriptors free: a chain of that many fits. */
static inline unsigned int vq_free(const struct vq *vq)
{
	return vq->nfree;
}

/* Raw access, for tests that corrupt rings on purpose. */
int vq_reserve(struct vq *vq, unsigned int ndesc, __u16 *pos);
int vq_rewrite(struct vq *vq, unsigned int id, const struct vq_buf *buf,
	       unsigned int out, unsigned int in, bool indirect);
void *vq_ind(const struct vq *vq, unsigned int id, __u64 *gpa);
void vq_desc_set(struct vring_desc *d, __u64 gpa, __u32 len, __u16 flags,
		 __u16 next);
void vq_desc_write(struct vq *vq, unsigned int i, __u64 gpa, __u32 len,
		   __u16 flags, __u16 next);
void vq_pdesc_write(struct vq *vq, unsigned int pos, __u64 gpa, __u32 len,
		    __u16 id, __u16 flags);
__u16 vq_pdesc_avail(const struct vq *vq, unsigned int pos);
void vq_avail_write(struct vq *vq, __u16 idx, __u16 head);
void vq_avail_idx_write(struct vq *vq, __u16 idx);
__u16 vq_used_idx(const struct vq *vq);
struct vring_used_elem *vq_used_elem(const struct vq *vq, __u16 idx);
void *vq_used_area(const struct vq *vq, size_t *len);

#endif /* KVIO_VQ_H */
