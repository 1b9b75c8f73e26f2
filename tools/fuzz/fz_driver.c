// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the well-behaved part of the guest's driver and the host's
 * traffic.  fz_post() makes chains available as the virtio spec allows
 * (free descriptors only, readable buffers on TX holding a header and a
 * frame, writable ones on RX, indirect tables only with
 * VIRTIO_RING_F_INDIRECT_DESC), of shapes that stress the device: many
 * small pieces, pieces across region edges, frames up to and beyond the
 * longest one.  fz_reap() takes used elements back and checks each names
 * a chain in flight.  While an input does nothing else, a ring that stops
 * (its error eventfd fires) stopped for nothing: a finding.
 *
 * This is the one driver of split rings not built on the selftests'
 * virtqueue library (selftests/kvio/lib/vq.c), which the raw writers
 * here do use: this one follows rings whose size and addresses the
 * input's VMM operations change under chains in flight, checks every
 * access against what the input made inaccessible, shares its avail
 * index with the raw operations, and takes indirect tables from a pool of
 * FZ_GOOD_HEADS for rings of up to 32768 entries.  The library would need
 * all four; until it has them, this stays.  Packed rings are the
 * library's (fz_packed_init()), as long as the input leaves them where
 * the prologue laid them out.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "fz.h"

#define FZ_ETH_P	0x88b5
#define FZ_FRAME_MAX	(65535 + 18 + 64)

static int fz_has(const struct fz_dev *d, unsigned int bit)
{
	return !!(d->features & (1ULL << bit));
}

static int fz_num_ok(unsigned int num)
{
	return num && num <= 32768 && !(num & (num - 1));
}

/* The free descriptors: all of them, the first time. */
static void fz_freel_init(struct fz_ring *q)
{
	unsigned int i;

	if (q->freel_ok)
		return;
	for (i = 0; i < q->num; i++)
		q->freel[i] = q->num - 1 - i;
	q->nfree = q->num;
	q->freel_ok = 1;
}

static unsigned int fz_desc_get(struct fz_ring *q)
{
	unsigned int d = q->freel[--q->nfree];

	if (d >= q->hw)
		q->hw = d + 1;
	return d;
}

/*
 * Bytes [@off, @off + @len) of the next TX chain: a zero vnet header, then
 * a frame of @size bytes (net_datapath's frame, then a pattern).
 */
static void fz_frame_bytes(struct fz_exec *x, __u8 *dst, __u32 off, __u32 len,
			   __u32 size)
{
	static __u8 f[FZ_FRAME_MAX];
	static unsigned int seq = ~0U;
	__u32 h = x->header_len, n;

	if (seq == ~0U)
		for (n = NDP_MAX_FRAME; n < sizeof(f); n++)
			f[n] = (__u8)(n * 7);
	if (seq != x->frame_seq) {
		seq = x->frame_seq;
		ndp_frame(f, NDP_DIR_TX, seq);
	}
	if (off < h) {
		n = len < h - off ? len : h - off;
		memset(dst, 0, n);
		dst += n;
		off += n;
		len -= n;
	}
	off -= h;
	n = off < size && off < sizeof(f) ? size - off : 0;
	if (n > len)
		n = len;
	if (n > sizeof(f) - off)
		n = sizeof(f) - off;
	memcpy(dst, f + off, n);
	memset(dst + n, 0x5a, len - n);
}

struct fz_chain {
	unsigned int n;
	__u32 total;
	__u64 gpa[FZ_MAX_PIECES];
	__u32 len[FZ_MAX_PIECES];
};

/*
 * The pieces of one chain, in the ring's buffer arena: RX @pieces of
 * @plen bytes, TX a header and a frame of @size bytes cut in pieces of
 * @plen.  0, or -1 if the memory table leaves the arena uncovered.
 */
static int fz_chain_place(struct fz_exec *x, struct fz_dev *d,
			  struct fz_ring *q, unsigned int qi,
			  struct fz_chain *ch, unsigned int pieces, __u32 plen,
			  __u32 size)
{
	__u32 left = qi == NDP_TX ? x->header_len + size : pieces * plen;
	unsigned long off;
	unsigned int i;
	__u64 gpa;

	if (left > FZ_BUF_SIZE / 2)
		return -1;
	if (q->buf_cur + left + 64 > FZ_BUF_SIZE)
		q->buf_cur = 0;
	off = FZ_BUF_OFF(qi) + q->buf_cur;
	q->buf_cur += (left + 64) & ~63UL;
	q->bytes += left;
	if (fz_gpa_of(d, off, &gpa))
		return -1;
	ch->total = left;
	for (i = 0; i < pieces && left; i++) {
		ch->len[i] = i + 1 == pieces || plen > left ? left : plen;
		ch->gpa[i] = gpa;
		if (!fz_gpa_hva(d, gpa, ch->len[i]))
			return -1;
		gpa += ch->len[i];
		left -= ch->len[i];
	}
	ch->n = i;
	return 0;
}

static void fz_chain_fill(struct fz_exec *x, struct fz_dev *d,
			  const struct fz_chain *ch, __u32 size)
{
	__u32 off = 0;
	unsigned int i;

	for (i = 0; i < ch->n; i++) {
		fz_frame_bytes(x, fz_gpa_hva(d, ch->gpa[i], ch->len[i]), off,
			       ch->len[i], size);
		off += ch->len[i];
	}
}

/* An indirect table of 16 entries for the chain at @head. */
static struct vring_desc *fz_good_table(struct fz_dev *d, struct fz_ring *q,
					unsigned int qi, unsigned int n,
					__u64 *tgpa)
{
	unsigned int slot = q->serial % FZ_GOOD_HEADS;

	if (q->tbusy[slot] ||
	    fz_gpa_of(d, FZ_GOOD_OFF(qi) + slot * FZ_GOOD_SLOT, tgpa))
		return NULL;
	q->tbusy[slot] = 1;
	return fz_gpa_hva(d, *tgpa, n * sizeof(struct vring_desc));
}

/* The chain's descriptors; returns its head, or -1 if none are free. */
static int fz_chain_descs(struct fz_dev *d, struct fz_ring *q,
			  unsigned int qi, const struct fz_chain *ch, int ind)
{
	__u16 wr = qi == NDP_RX ? VRING_DESC_F_WRITE : 0, flags;
	struct vring_desc *t = NULL;
	unsigned int i, head, cur, nxt;
	__u64 tgpa = 0;

	if (ind && q->nfree)
		t = fz_good_table(d, q, qi, ch->n, &tgpa);
	if (q->nfree < (t ? 1 : ch->n))
		return -1;
	head = fz_desc_get(q);
	if (t) {
		for (i = 0; i < ch->n; i++)
			vq_desc_set(t + i, ch->gpa[i], ch->len[i],
				    wr | (i + 1 < ch->n ? VRING_DESC_F_NEXT : 0),
				    i + 1);
		fz_set_desc(d, q, head, tgpa, ch->n * sizeof(*t),
			    VRING_DESC_F_INDIRECT, 0);
		q->link[head] = (q->serial % FZ_GOOD_HEADS) | 0x8000;
		q->ndesc[head] = 1;
		return head;
	}
	for (i = 0, cur = head; i < ch->n; i++, cur = nxt) {
		nxt = i + 1 < ch->n ? fz_desc_get(q) : 0;
		flags = wr | (i + 1 < ch->n ? VRING_DESC_F_NEXT : 0);
		fz_set_desc(d, q, cur, ch->gpa[i], ch->len[i], flags, nxt);
		q->link[cur] = nxt;
	}
	q->ndesc[head] = ch->n;
	return head;
}

/* Packed rings: lib/vq.c's driver */

/* Indirect tables fit the ring's megabyte up to this size. */
#define FZ_PACKED_IND_MAX_NUM	8192

/*
 * Lays out packed ring @qi of @num entries from @base (a
 * VHOST_SET_VRING_BASE value) in the ring's megabyte of guest memory and
 * gives in @a the addresses a VMM passes.  The ring's indirect tables lie
 * in that megabyte and lib/vq.c gives their guest-physical addresses
 * from the ring's: the memory table must map the ring's pages as one
 * range (not so in a table whose regions swap halves of guest memory).
 * Returns 0, or -1 if the driver cannot drive such a ring (then the input
 * is no well-formed one).
 */
int fz_packed_init(struct fz_dev *d, unsigned int qi, unsigned int num,
		   __u16 base, struct vhost_vring_addr *a)
{
	struct fz_ring *q = &d->q[qi];
	struct vq_cfg cfg = {
		.num = num, .packed = true,
		.in_order = fz_has(d, VIRTIO_F_IN_ORDER),
		.event_idx = fz_has(d, VIRTIO_RING_F_EVENT_IDX),
		.indirect = fz_has(d, VIRTIO_RING_F_INDIRECT_DESC) &&
			    num <= FZ_PACKED_IND_MAX_NUM,
	};
	unsigned int idx = base & 0x7fff;
	__u64 gpa;

	if (!fz_num_ok(num) || idx >= num ||
	    vq_layout(&cfg, NULL) > FZ_RING_OFF(1) ||
	    fz_gpa_of(d, FZ_RING_OFF(qi), &gpa) ||
	    fz_gpa_hva(d, gpa, vq_layout(&cfg, NULL)) !=
	    d->mem + FZ_RING_OFF(qi) ||
	    vq_init(&q->pvq, &cfg, d->mem + FZ_RING_OFF(qi), gpa))
		return -1;
	vq_reset(&q->pvq, base | (__u32)base << 16);
	q->pvq_on = 1;
	vq_addr(&q->pvq, qi, a);
	return 0;
}

/* The packed ring, if the driver may still touch it. */
static struct vq *fz_pvq(struct fz_dev *d, struct fz_ring *q)
{
	if (!q->pvq_on ||
	    !fz_hva(d, (unsigned long)q->pvq.hva,
		    vq_layout(&q->pvq.cfg, NULL)))
		return NULL;
	return &q->pvq;
}

static int fz_post_packed(struct fz_exec *x, struct fz_dev *d,
			  struct fz_ring *q, unsigned int qi,
			  const struct fz_chain *ch, int ind, __u32 size)
{
	struct vq *v = fz_pvq(d, q);
	struct vq_buf b[FZ_MAX_PIECES];
	unsigned int i;
	int id;

	if (!v)
		return -1;
	for (i = 0; i < ch->n; i++) {
		b[i].gpa = ch->gpa[i];
		b[i].len = ch->len[i];
	}
	if (!v->cfg.indirect || ch->n > v->cfg.ind_max)
		ind = 0;
	id = vq_stage(v, b, qi == NDP_TX ? ch->n : 0,
		      qi == NDP_TX ? 0 : ch->n, ind);
	if (id == -ENOSPC)
		return 0;
	if (id < 0)
		return -1;
	if (qi == NDP_TX)
		fz_chain_fill(x, d, ch, size);
	q->cap[id] = ch->total;
	if ((unsigned int)id >= q->hw)
		q->hw = id + 1;
	q->serial++;
	x->frame_seq++;
	return 1;
}

/* Makes what fz_post() staged available. */
void fz_publish_good(struct fz_dev *d, struct fz_ring *q)
{
	struct vq *v = fz_pvq(d, q);

	if (q->pvq_on) {
		if (v)
			vq_publish(v);
		return;
	}
	fz_publish(d, q);
}

static void fz_reap_packed(struct fz_exec *x, struct fz_dev *d,
			   struct fz_ring *q, unsigned int qi)
{
	struct vq *v = fz_pvq(d, q);
	struct vq_used u;
	unsigned int n = 0;
	int r;

	while (v && n++ < 2 * v->cfg.num) {
		r = vq_get(v, &u);
		if (!r)
			break;
		if (r < 0) {
			if (x->clean)
				fz_finding(x, "dev %d q%u: used id %u is no buffer in flight",
					   (int)(d - x->dev), qi, u.id);
			continue;
		}
		if (x->clean && qi == NDP_RX && !u.batched &&
		    u.len > q->cap[u.id])
			fz_finding(x, "dev %d q%u: used len %u for a buffer of %u",
				   (int)(d - x->dev), qi, u.len, q->cap[u.id]);
		q->cap[u.id] = 0;
	}
}

/*
 * Makes one well-formed chain available (not yet published).  Returns 1,
 * 0 if the ring is full, -1 if the driver cannot make a well-formed one.
 */
int fz_post(struct fz_exec *x, struct fz_dev *d, struct fz_ring *q,
	    unsigned int qi, unsigned int pieces, __u32 plen, int ind,
	    __u32 size)
{
	struct fz_chain ch;
	int head;

	if (q->pvq_on) {
		/* indirect as lib/vq.c's ring was laid out for it */
		if (fz_chain_place(x, d, q, qi, &ch, pieces, plen, size))
			return -1;
		return fz_post_packed(x, d, q, qi, &ch, ind, size);
	}

	if (!fz_num_ok(q->num) || !fz_hva(d, q->desc, 16 * q->num) ||
	    !fz_hva(d, q->avail, 4 + 2 * q->num))
		return -1;
	fz_freel_init(q);
	if (!fz_has(d, VIRTIO_RING_F_INDIRECT_DESC) || pieces > FZ_MAX_PIECES)
		ind = 0;
	if (fz_chain_place(x, d, q, qi, &ch, pieces, plen, size))
		return -1;
	head = fz_chain_descs(d, q, qi, &ch, ind);
	if (head < 0)
		return 0;
	if (qi == NDP_TX)
		fz_chain_fill(x, d, &ch, size);
	q->cap[head] = ch.total;
	q->serial++;
	x->frame_seq++;
	fz_avail_put(d, q, q->avail_idx++, head);
	return 1;
}

static void fz_chain_free(struct fz_ring *q, unsigned int head)
{
	unsigned int i, cur = head;

	if (q->ndesc[head] == 1 && q->link[head] & 0x8000)
		q->tbusy[q->link[head] & 0x7fff] = 0;
	for (i = 0; i < q->ndesc[head] && q->nfree < q->num; i++) {
		q->freel[q->nfree++] = cur;
		cur = q->link[cur];
	}
	q->cap[head] = 0;
	q->ndesc[head] = 0;
}

/* Takes the used elements back; in a clean input, each must be ours. */
void fz_reap(struct fz_exec *x, struct fz_dev *d, struct fz_ring *q,
	     unsigned int qi)
{
	struct vring_used *u;
	struct vring_used_elem e;
	unsigned int n = 0;
	__u16 idx;

	if (q->pvq_on) {
		fz_reap_packed(x, d, q, qi);
		return;
	}
	if (!fz_num_ok(q->num))
		return;
	u = fz_hva(d, q->used, 4 + 8 * q->num);
	if (!u)
		return;
	idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	while (q->last_used != idx && n++ < q->num) {
		e = u->ring[q->last_used++ & (q->num - 1)];
		if (e.id < q->hw && q->cap[e.id]) {
			if (x->clean && qi == NDP_RX && e.len > q->cap[e.id])
				fz_finding(x, "dev %d q%u: used len %u for a buffer of %u",
					   (int)(d - x->dev), qi, e.len,
					   q->cap[e.id]);
			fz_chain_free(q, e.id);
		} else if (x->clean) {
			fz_finding(x, "dev %d q%u: used id %u is no chain in flight",
				   (int)(d - x->dev), qi, e.id);
		}
	}
}

/*
 * Gives the worker @ms to act; calls are taken, and any error eventfd
 * that fired in a clean input is a finding.
 */
void fz_settle(struct fz_exec *x, int ms)
{
	struct pollfd p[FZ_NDEV * 2];
	unsigned int i, n = 0;
	long end = ndp_now_ms() + ms;

	for (i = 0; i < FZ_NDEV * 2; i++) {
		p[n].fd = x->dev[i / 2].q[i % 2].err;
		p[n++].events = POLLIN;
	}
	while (ms > 0 && poll(p, n, ms) == 0 && ndp_now_ms() < end)
		;
	for (i = 0; i < FZ_NDEV * 2; i++) {
		struct fz_ring *q = &x->dev[i / 2].q[i % 2];

		if (q->call >= 0)
			ndp_read_efd(q->call);
		if (q->err >= 0 && ndp_read_efd(q->err) && x->clean)
			fz_finding(x,
				   "dev %u q%u stopped (error eventfd) although every chain on it was well-formed",
				   i / 2, i % 2);
	}
}

/*
 * Until the backends hold no frame for a device (at most @ms): a ring
 * that breaks on a frame breaks before the frame is gone.
 */
void fz_drained(struct fz_exec *x, int ms)
{
	static const int be[4] = { FZ_P_TAP, FZ_P_TAP2, FZ_P_MACVTAP, FZ_P_PACKET };
	struct pollfd p[4];
	long end = ndp_now_ms() + ms;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		p[i].fd = x->pfd[be[i]];
		p[i].events = POLLIN;
	}
	while (poll(p, 4, 0) > 0 && ndp_now_ms() < end)
		usleep(1000);
}

/* A frame of @size bytes from the host side of backend @host. */
int fz_inject(struct fz_exec *x, unsigned int host, __u32 size)
{
	static const int sock[4] = {
		FZ_P_INJ_TAP, FZ_P_INJ_TAP2, FZ_P_INJ_MACVTAP, FZ_P_INJ_PACKET,
	};
	static __u8 f[65536 + 64];
	static __u32 tail;
	__u32 i;

	if (size > sizeof(f))
		size = sizeof(f);
	memset(f, 0xff, ETH_ALEN);
	ndp_frame(f + ETH_ALEN, NDP_DIR_RX, x->frame_seq++);
	f[12] = FZ_ETH_P >> 8;
	f[13] = FZ_ETH_P & 0xff;
	/*
	 * The pattern past the first frame's bytes is the same every time:
	 * written once (a byte loop of 64K costs milliseconds under TCG),
	 * then only the few bytes the frame above may have overwritten.
	 */
	for (i = NDP_MAX_FRAME; i < size && i < ETH_ALEN + NDP_MAX_FRAME; i++)
		f[i] = (__u8)(i * 13);
	for (i = tail > i ? tail : i; i < size; i++)
		f[i] = (__u8)(i * 13);
	if (size > tail)
		tail = size;
	return send(x->pfd[sock[host % 4]], f, size, MSG_DONTWAIT) < 0 ?
	       -errno : 0;
}

/* The operations */

/* [q, count, pieces, piece len, indirect, frame size] */
void fz_op_post(struct fz_exec *x, const __u8 *a)
{
	static const __u16 count[8] = { 1, 2, 4, 8, 16, 64, 256, 1024 };
	static const __u8 pieces[8] = { 1, 2, 3, 4, 5, 7, 8, 16 };
	static const __u32 plen[12] = {
		1, 2, 3, 12, 64, 100, 1500, 2048, 4096, 65536, 8, 32,
	};
	static const __u32 size[12] = {
		60, 14, 64, 1514, 100, 4096, 9014, 65535, 65597, 65598, 15, 1000,
	};
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	unsigned int n = count[a[1] % 8], i;
	unsigned long start = q->bytes;
	int r = 1;

	fz_reap(x, d, q, a[0] & 1);
	/* no more than the arena holds: beyond, buffers in flight get reused */
	for (i = 0; i < n && r > 0 && q->bytes - start < FZ_BUF_SIZE; i++)
		r = fz_post(x, d, q, a[0] & 1, pieces[a[2] % 8], plen[a[3] % 12],
			    a[4] & 1, size[a[5] % 12]);
	if (r < 0)
		x->clean = 0;
	fz_publish_good(d, q);
}

void fz_op_reap(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);

	fz_reap(x, d, q, a[0] & 1);
}

/* The guest's notification: the kick eventfd it last gave. */
void fz_kick(struct fz_ring *q)
{
	__u64 one = 1;

	if (q->kick >= 0 && write(q->kick, &one, sizeof(one)) < 0)
		return;
}

/* [q, both]: a notification, on one ring or on both of the device */
void fz_op_kick(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);

	x->touched = 1;
	fz_kick(q);
	if (a[1] & 1)
		fz_kick(&d->q[!(a[0] & 1)]);
}

void fz_op_wait(struct fz_exec *x, const __u8 *a)
{
	static const int ms[8] = { 0, 0, 1, 2, 5, 10, 20, 50 };

	fz_settle(x, ms[a[0] % 8]);
}

/* [host, size, count] */
void fz_op_inject(struct fz_exec *x, const __u8 *a)
{
	static const __u32 size[12] = {
		60, 14, 1514, 64, 100, 9014, 65535, 65549, 15, 59, 1515, 4096,
	};
	static const unsigned int count[8] = { 1, 1, 1, 2, 2, 8, 16, 64 };
	unsigned int i;

	x->touched = 1;
	for (i = 0; i < count[a[2] % 8]; i++)
		if (fz_inject(x, a[0], size[a[1] % 12]))
			break;
}
