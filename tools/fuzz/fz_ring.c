// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the guest's side.  Raw writes to the split rings (single
 * descriptors, ranges of them, indirect tables, avail entries and
 * indices, flags and event indices, memory made read-only or
 * inaccessible), and a well-behaved driver (fz_post(), fz_reap()) whose
 * chains a device must take without stopping the ring: an input made only
 * of those keeps its rings well-formed, and the error eventfd firing
 * there, or a used element that names no chain in flight, is a finding.
 * The host side sends frames into the backends.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "fz.h"

#define FZ_F_NEXT	VRING_DESC_F_NEXT
#define FZ_F_WRITE	VRING_DESC_F_WRITE
#define FZ_F_IND	VRING_DESC_F_INDIRECT
#define FZ_CHAIN_MAX	1024	/* buffers a chain may name: UIO_MAXIOV */

static const __u64 fz_count_tab[] = {
	1, 2, 3, 4, 8, 16, 64, 255, 256, 1023, 1024, 1025, 4096, 32768,
	65535, 65536,
};

static unsigned int fz_count(__u8 sel)
{
	return fz_count_tab[sel % ARRAY_SIZE(fz_count_tab)];
}

/* Ring position of index @i, or -1 for a size the driver cannot use. */
static long fz_slot(const struct fz_ring *q, unsigned int i)
{
	unsigned int num = q->num;

	if (!num || num > FZ_RING_MAX)
		return -1;
	return num & (num - 1) ? i % num : i & (num - 1);
}

static struct vring_desc *fz_desc(struct fz_dev *d, struct fz_ring *q,
				  unsigned int i)
{
	return fz_hva(d, q->desc + (__u64)i * sizeof(struct vring_desc),
		      sizeof(struct vring_desc));
}

static void fz_put16(struct fz_dev *d, __u64 uaddr, __u16 v)
{
	__u16 *p = fz_hva(d, uaddr, 2);

	if (p)
		__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void fz_set_desc(struct fz_dev *d, struct fz_ring *q, unsigned int i,
		 __u64 gpa, __u32 len, __u16 flags, __u16 next)
{
	struct vring_desc *p = fz_desc(d, q, i);

	if (p)
		vq_desc_set(p, gpa, len, flags, next);
}

void fz_avail_put(struct fz_dev *d, struct fz_ring *q, unsigned int pos,
		  __u16 head)
{
	long s = fz_slot(q, pos);

	if (s >= 0)
		fz_put16(d, q->avail + 4 + 2 * s, head);
}

void fz_publish(struct fz_dev *d, struct fz_ring *q)
{
	fz_put16(d, q->avail + 2, q->avail_idx);
}

/* The driver's bookkeeping for a ring of @num entries from @base. */
void fz_ring_reset(struct fz_dev *d, struct fz_ring *q, unsigned int num,
		   __u16 base)
{
	if (q->pvq_on)
		vq_fini(&q->pvq);
	q->pvq_on = 0;
	if (q->freel_ok)
		memset(q->tbusy, 0, FZ_GOOD_HEADS);
	memset(q->cap, 0, q->hw * sizeof(*q->cap));
	memset(q->ndesc, 0, q->hw);
	q->hw = 0;
	q->freel_ok = 0;
	q->nfree = 0;
	q->num = num;
	q->avail_idx = base;
	q->last_used = base;
	q->buf_cur = 0;
	q->serial = 0;
	fz_publish(d, q);
	fz_put16(d, q->used + 2, base);
}

/* Descriptors: one, a range, an indirect table */

static __u16 fz_flags(__u8 b)
{
	return (b & 7) | (b >= 0xf8 ? 0xfff8 : 0);
}

static __u16 fz_next(__u8 mode, unsigned int i, unsigned int n)
{
	switch (mode % 8) {
	case 1:
		return 0;
	case 2:
		return i;
	case 3:
		return (i + 1) % n;
	case 4:
		return n;
	case 5:
		return (i * 7 + 3) % n;
	case 6:
		return 0xffff;
	case 7:
		return i + 2;
	default:
		return i + 1;
	}
}

static __u64 fz_step(__u8 mode, unsigned int i, __u32 len)
{
	static const __u64 step[4] = { 0, 4096, 1, 16 };

	if (mode % 6 == 4)
		return (__u64)i * len;
	if (mode % 6 == 5)
		return (__u64)i * ((__u64)len + 64);
	return i * step[mode % 6 % 4];
}

static __u64 fz_ring_gpa(unsigned int qi)
{
	return FZ_GPA + FZ_RING_OFF(qi);
}

/* [q, idx:2, addr kind, addr off:4, len sel, len:4, flags, next:2] */
void fz_op_desc(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	long i = fz_slot(q, fz_a16(a + 1));

	fz_set_desc(d, q, i < 0 ? fz_a16(a + 1) : i,
		    fz_gpa(x, d, a[3], fz_a32(a + 4), fz_ring_gpa(a[0] & 1)),
		    fz_pick(fz_len_tab, fz_nlen, a[8], fz_a32(a + 9)),
		    fz_flags(a[13]), fz_a16(a + 14));
}

/* [q, start:2, count, addr kind, off:4, len sel, flags, next mode, step] */
void fz_op_dfill(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	unsigned int n = fz_count(a[3]), start = fz_a16(a + 1), i;
	__u64 gpa = fz_gpa(x, d, a[4], fz_a32(a + 5), fz_ring_gpa(a[0] & 1));
	__u32 len = fz_pick(fz_len_tab, fz_nlen, a[9], a[9]);
	long s;

	if (q->num && n > q->num && q->num <= FZ_RING_MAX)
		n = q->num;
	for (i = 0; i < n; i++) {
		s = fz_slot(q, start + i);
		if (s < 0)
			return;
		fz_set_desc(d, q, s, gpa + fz_step(a[12], i, len), len,
			    fz_flags(a[10]), fz_next(a[11], s, q->num));
	}
}

/* [table (bit 2: device), count, addr kind, off:4, len sel, flags, next, step] */
void fz_op_table(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0] >> 2);
	unsigned long off = FZ_TAB_OFF(a[0] % FZ_NTABS);
	unsigned int n = fz_count(a[1]), i;
	__u64 gpa = fz_gpa(x, d, a[2], fz_a32(a + 3), FZ_GPA + off);
	__u32 len = fz_pick(fz_len_tab, fz_nlen, a[7], a[7]);
	struct vring_desc *t;

	t = fz_hva(d, (unsigned long)d->mem + off, n * sizeof(*t));
	if (!t)
		return;
	for (i = 0; i < n; i++)
		vq_desc_set(t + i, gpa + fz_step(a[10], i, len), len,
			    fz_flags(a[8]), fz_next(a[9], i, n));
}

/* Whole chains */

/* Lengths a chain adds up to: around a header, a frame, 2^31, 2^32. */
static const __u64 fz_total_tab[] = {
	0, 1, 12, 13, 72, 1526, 4096, 65535, 65565, 65566, 0x7fffffff,
	0x80000000, 0xfffffff4, 0x100000000ULL, 0x100000040ULL, 0x40000000,
	65609, 65610,
};

struct fz_chainop {
	struct fz_dev *d;
	struct fz_ring *q;
	unsigned int num, head, n1, n2;
	__u64 total, gpa;
	__u16 eflags;
	__u8 step;
};

/* Entry @i of @n: an equal share of the total, the last the rest. */
static __u32 fz_share(const struct fz_chainop *c, unsigned int i,
		      unsigned int n)
{
	__u64 l = c->total / n;

	if (i + 1 == n)
		l = c->total - l * (n - 1);
	return l > 0xffffffffULL ? 0xffffffff : l;
}

/* An indirect table of @n entries at table @t, linked, or nested. */
static __u64 fz_chain_table(struct fz_chainop *c, unsigned int t,
			    unsigned int n, int nested)
{
	unsigned long off = FZ_TAB_OFF(t % FZ_NTABS);
	struct vring_desc *tb = fz_hva(c->d, (unsigned long)c->d->mem + off,
				       n * sizeof(*tb));
	__u64 inner = nested ? fz_chain_table(c, t + 1, n, 0) : 0;
	__u32 len = fz_share(c, 0, n);
	unsigned int i;

	for (i = 0; tb && i < n; i++) {
		__u16 next = i + 1 < n ? VRING_DESC_F_NEXT : 0;

		if (nested)
			vq_desc_set(tb + i, inner, n * sizeof(*tb),
				    VRING_DESC_F_INDIRECT | next, i + 1);
		else
			vq_desc_set(tb + i, c->gpa + fz_step(c->step, i, len),
				    fz_share(c, i, n), c->eflags | next, i + 1);
	}
	return FZ_GPA + off;
}

/* Ring descriptors head.. of a chain of @n, each @flags, or a buffer. */
static void fz_chain_ring(struct fz_chainop *c, unsigned int n, __u64 table,
			  __u32 tlen, __u16 flags)
{
	__u32 len = fz_share(c, 0, n);
	unsigned int i, s, nx;

	for (i = 0; i < n; i++) {
		s = (c->head + i) % c->num;
		nx = (c->head + i + 1) % c->num;
		if (table)
			fz_set_desc(c->d, c->q, s, table, tlen,
				    flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0), nx);
		else
			fz_set_desc(c->d, c->q, s, c->gpa + fz_step(c->step, i, len),
				    fz_share(c, i, n),
				    c->eflags | (i + 1 < n ? VRING_DESC_F_NEXT : 0), nx);
	}
}

/*
 * [q, head:2, kind, n1, n2, total, flags, addr kind, off:4, step, publish,
 * table | kick]: a whole chain at @head, made available @publish times.
 * Kinds: n1 direct descriptors; one indirect descriptor and a table of
 * n2; n1 descriptors INDIRECT|NEXT naming one table of n2 (the spec
 * forbids it); an indirect table of indirect entries (nested).  The
 * buffers add up to @total, at addresses that step or alias.
 */
void fz_op_chain(struct fz_exec *x, const __u8 *a)
{
	static const unsigned int pub[8] = { 1, 1, 2, 8, 256, 0, 0xffff, 3 };
	struct fz_chainop c = { .step = a[13] };
	unsigned int kind = a[3] % 4, i, p;
	__u64 tgpa;

	c.q = fz_qsel(x, a[0], &c.d);
	c.num = c.q->num;
	if (!c.num || c.num > FZ_RING_MAX)
		return;
	c.head = fz_a16(a + 1) % c.num;
	c.n1 = fz_count(a[4]) < c.num ? fz_count(a[4]) : c.num;
	c.n2 = fz_count(a[5]);
	c.total = fz_total_tab[a[6] % ARRAY_SIZE(fz_total_tab)];
	c.eflags = (a[7] & 1 ? VRING_DESC_F_WRITE : 0) |
		   (a[7] >= 0xf0 ? (a[7] & 6) : 0);
	c.gpa = fz_gpa(x, c.d, a[8], fz_a32(a + 9), FZ_GPA + FZ_RING_OFF(a[0] & 1));
	/*
	 * A total beyond guest memory fits in it only as many small buffers
	 * at one address: with bit 7 of its selector, as many as a chain may
	 * name (UIO_MAXIOV, or the ring's size), aliasing in the table area.
	 * Random counts and addresses almost never line up that way.
	 */
	if ((a[6] & 0x80) && c.total > FZ_MEM) {
		c.n1 = c.num < FZ_CHAIN_MAX ? c.num : FZ_CHAIN_MAX;
		c.n2 = FZ_CHAIN_MAX;
		c.step = 0;
		c.gpa = FZ_GPA + FZ_TAB_OFF(0);
	}
	if (kind == 0) {
		fz_chain_ring(&c, c.n1, 0, 0, 0);
	} else {
		tgpa = fz_chain_table(&c, a[15], c.n2, kind == 3);
		fz_chain_ring(&c, kind == 2 ? c.n1 : 1, tgpa,
			      c.n2 * sizeof(struct vring_desc),
			      VRING_DESC_F_INDIRECT);
	}
	p = pub[a[14] % 8] == 256 ? c.num : pub[a[14] % 8];
	for (i = 0; i < p && i < FZ_RING_MAX; i++)
		fz_avail_put(c.d, c.q, c.q->avail_idx + i,
			     a[14] & 8 ? (c.head + i) % c.num : c.head);
	c.q->avail_idx += p;
	fz_publish(c.d, c.q);
	if (a[15] & 0x80) {
		x->touched = 1;
		fz_kick(c.q);
	}
}

/* The avail ring */

/* [q, pos:2, head:2]: an entry ahead of the avail index */
void fz_op_avail(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);

	fz_avail_put(d, q, q->avail_idx + fz_a16(a + 1), fz_a16(a + 3));
}

/* [q, count, head mode, head:2]: entries published at once */
void fz_op_afill(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	unsigned int n = fz_count(a[1]), h = fz_a16(a + 3), i;

	for (i = 0; i < n && i < FZ_RING_MAX; i++)
		fz_avail_put(d, q, q->avail_idx + i,
			     a[2] % 3 == 0 ? h : a[2] % 3 == 1 ? h + i :
			     (h + i * 2) % (q->num ? q->num : 1));
	q->avail_idx += n;
	fz_publish(d, q);
}

/* [q, move, raw:2]: the avail index jumps */
void fz_op_aidx(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	__u64 moves[7] = { 1, -1, q->num, q->num + 1, 0x8000, 0xffff, 2 };

	if (a[1] % 8 == 7)
		q->avail_idx = fz_a16(a + 2);
	else
		q->avail_idx += moves[a[1] % 8];
	fz_publish(d, q);
}

/* [q, which, value sel, raw:2]: flags, event indices, used ring scribbles */
void fz_op_aflags(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d;
	struct fz_ring *q = fz_qsel(x, a[0], &d);
	__u64 vals[4] = { 0, 1, q->last_used, q->avail_idx };
	__u16 v = fz_pick(vals, 4, a[2], fz_a16(a + 3));
	long s = fz_slot(q, q->num);

	switch (a[1] % 5) {
	case 0:
		fz_put16(d, q->avail, v);
		break;
	case 1:
		if (s >= 0)
			fz_put16(d, q->avail + 4 + 2 * (__u64)q->num, v);
		break;
	case 2:
		fz_put16(d, q->used, v);
		break;
	case 3:
		fz_put16(d, q->used + 2, v);
		break;
	default:
		if (s >= 0)
			fz_put16(d, q->used + 4 + 8 * (__u64)q->num, v);
		break;
	}
}

/* [q, area, prot]: guest memory the device can no longer write or read */
void fz_op_prot(struct fz_exec *x, const __u8 *a)
{
	static const int prot[3] = { PROT_READ, PROT_NONE, PROT_READ | PROT_WRITE };
	static const unsigned long area[6][2] = {
		{ FZ_USED_OFF, 0x41000 }, { FZ_AVAIL_OFF, 0x11000 },
		{ 0, 0x80000 }, { 0x800000, FZ_BUF_SIZE },
		{ 0x200000, 0x400000 }, { 0, FZ_MEM },
	};
	struct fz_dev *d;
	unsigned int qi = a[0] & 1, k = a[1] % 6, p = a[2] % 3;
	unsigned long off = area[k][0] + (k < 3 ? FZ_RING_OFF(qi) :
					  k == 3 ? qi * FZ_BUF_SIZE : 0);

	fz_qsel(x, a[0], &d);
	/* the driver keeps away from what it protected, even once undone */
	if (p != 2 && d->nprot >= ARRAY_SIZE(d->prot))
		return;
	d->mprot = 1;
	if (mprotect(d->mem + off, area[k][1], prot[p]) || p == 2)
		return;
	d->prot[d->nprot].off = off;
	d->prot[d->nprot++].len = area[k][1];
}
