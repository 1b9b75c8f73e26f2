// SPDX-License-Identifier: GPL-2.0
/*
 * vq_model: lib/vq.c against a device model in the same process, no
 * kernel involved.  Until a device under test offers packed rings and
 * VIRTIO_F_IN_ORDER, this is what exercises those paths of the driver.
 *
 * The model is the device's side as the virtio 1.1 specification words
 * it, reading and writing only guest memory: it takes available buffers
 * (walking chains and indirect tables), checks each holds exactly what the
 * driver added, and gives them back out of order, or in order in batches
 * with one entry for the batch.  The driver must hand back every buffer
 * once, with its length (the whole writable length for a buffer a batch
 * entry stood for), across many laps of the ring; and its notification
 * decisions must follow the event suppression the model asks for.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/vq.h"

#define VM_GPA		0x100000ULL
#define VM_MEM		(4UL << 20)
#define VM_BUFS		(2UL << 20)	/* buffer addresses: not touched */
#define VM_PIECES	4
#ifndef BIT
#define BIT(nr)		(1U << (nr))
#endif
#define VM_F_AVAIL	BIT(VRING_PACKED_DESC_F_AVAIL)
#define VM_F_USED	BIT(VRING_PACKED_DESC_F_USED)
#define VM_WRAP		BIT(VRING_PACKED_EVENT_F_WRAP_CTR)

/* What the driver added, by id. */
struct vm_buf {
	unsigned int n, out;
	struct vq_buf b[VM_PIECES];
	__u32 in_len;
	int live;
};

/* A buffer the device took: id, descriptors, writable length */
struct vm_took {
	__u16 id, ndesc;
	__u32 wlen;
};

struct vm {
	struct vq vq;
	struct vhost_vring_addr a;
	char *mem;
	__u64 rng;
	struct vm_buf buf[VQ_NUM_MAX];
	/* the device */
	__u16 avail, used;
	bool avail_wrap, used_wrap;
	struct vm_took took[VQ_NUM_MAX];
	unsigned int ntook;
	unsigned int bad;
	/* what the driver should get back, in order */
	struct vq_used want[VQ_NUM_MAX];
	unsigned int nwant, got;
};

static __u64 vm_rand(struct vm *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static void *vm_hva(struct vm *m, __u64 gpa)
{
	return m->mem + (gpa - VM_GPA);
}

static int vm_new(struct vm *m, const struct vq_cfg *cfg)
{
	memset(m, 0, sizeof(*m));
	m->rng = 0x9e3779b97f4a7c15ULL ^ cfg->num ^ cfg->packed << 20 ^
		 cfg->in_order << 21 ^ cfg->event_idx << 22;
	m->mem = mmap(NULL, VM_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->mem == MAP_FAILED || vq_layout(cfg, NULL) > VM_BUFS)
		return -1;
	if (vq_init(&m->vq, cfg, m->mem, VM_GPA))
		return -1;
	vq_addr(&m->vq, 0, &m->a);
	m->avail_wrap = true;
	m->used_wrap = true;
	return 0;
}

static void vm_free(struct vm *m)
{
	vq_fini(&m->vq);
	munmap(m->mem, VM_MEM);
}

/* The device's side */

/* One descriptor of the chain: does it match piece @i of the buffer? */
static void vm_piece(struct vm *m, const struct vm_buf *b, unsigned int *i,
		     __u64 addr, __u32 len, __u16 flags)
{
	const struct vq_buf *want = &b->b[*i];

	if (*i >= b->n || addr != want->gpa || len != want->len ||
	    !(flags & VRING_DESC_F_WRITE) != (*i < b->out))
		m->bad++;
	(*i)++;
}

static void vm_take_split(struct vm *m, __u16 head)
{
	struct vring_desc *ring = (void *)(unsigned long)m->a.desc_user_addr;
	struct vring_desc *d = ring + head, *t;
	const struct vm_buf *b = &m->buf[head];
	unsigned int i = 0, k, ndesc = 1;

	if (d->flags & VRING_DESC_F_INDIRECT) {
		t = vm_hva(m, d->addr);
		for (k = 0; k < d->len / sizeof(*t); k = t[k].next) {
			vm_piece(m, b, &i, t[k].addr, t[k].len, t[k].flags);
			if (!(t[k].flags & VRING_DESC_F_NEXT))
				break;
		}
	} else {
		for (;; ndesc++, d = ring + d->next) {
			vm_piece(m, b, &i, d->addr, d->len, d->flags);
			if (!(d->flags & VRING_DESC_F_NEXT))
				break;
		}
	}
	if (i != b->n || !b->live)
		m->bad++;
	m->took[m->ntook].id = head;
	m->took[m->ntook].ndesc = ndesc;
	m->took[m->ntook++].wlen = b->in_len;
}

static int vm_take_one_split(struct vm *m)
{
	struct vring_avail *av = (void *)(unsigned long)m->a.avail_user_addr;
	unsigned int num = m->vq.cfg.num;

	if (__atomic_load_n(&av->idx, __ATOMIC_ACQUIRE) == m->avail)
		return 0;
	vm_take_split(m, av->ring[m->avail++ % num]);
	return 1;
}

static void vm_step(struct vm *m, __u16 *pos, bool *wrap, unsigned int by)
{
	*pos += by;
	if (*pos >= m->vq.cfg.num) {
		*pos -= m->vq.cfg.num;
		*wrap = !*wrap;
	}
}

static int vm_take_one_packed(struct vm *m)
{
	struct vring_packed_desc *ring = (void *)(unsigned long)
					 m->a.desc_user_addr;
	struct vring_packed_desc *d = ring + m->avail, *t;
	unsigned int i = 0, k, ndesc = 0;
	const struct vm_buf *b;
	__u16 f;

	f = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
	if (!(f & VM_F_AVAIL) != !m->avail_wrap ||
	    !(f & VM_F_USED) == !m->avail_wrap)
		return 0;
	b = &m->buf[d->id < VQ_NUM_MAX ? d->id : 0];
	for (;;) {
		ndesc++;
		if (d->flags & VRING_DESC_F_INDIRECT) {
			t = vm_hva(m, d->addr);
			for (k = 0; k < d->len / sizeof(*t); k++)
				vm_piece(m, b, &i, t[k].addr, t[k].len,
					 t[k].flags);
		} else {
			vm_piece(m, b, &i, d->addr, d->len, d->flags);
		}
		if (!(d->flags & VRING_DESC_F_NEXT))
			break;
		d = ring + (m->avail + ndesc) % m->vq.cfg.num;
	}
	if (i != b->n || !b->live)
		m->bad++;
	m->took[m->ntook].id = d->id;
	m->took[m->ntook].ndesc = ndesc;
	m->took[m->ntook++].wlen = b->in_len;
	vm_step(m, &m->avail, &m->avail_wrap, ndesc);
	return 1;
}

static int vm_take(struct vm *m)
{
	return m->vq.cfg.packed ? vm_take_one_packed(m) : vm_take_one_split(m);
}

/* One used entry: (@id, @len) for @count buffers of @ndesc descriptors. */
static void vm_put(struct vm *m, __u16 id, __u32 len, unsigned int count,
		   unsigned int ndesc)
{
	struct vring_packed_desc *pd;
	struct vring_used *u;

	if (m->vq.cfg.packed) {
		pd = (struct vring_packed_desc *)(unsigned long)
		     m->a.desc_user_addr + m->used;
		pd->id = id;
		pd->len = len;
		__atomic_store_n(&pd->flags, m->used_wrap ?
				 VM_F_AVAIL | VM_F_USED : 0, __ATOMIC_RELEASE);
		vm_step(m, &m->used, &m->used_wrap, ndesc);
		return;
	}
	u = (void *)(unsigned long)m->a.used_user_addr;
	u->ring[m->used % m->vq.cfg.num].id = id;
	u->ring[m->used % m->vq.cfg.num].len = len;
	m->used += count;
	__atomic_store_n(&u->idx, m->used, __ATOMIC_RELEASE);
}

static void vm_expect(struct vm *m, __u16 id, __u32 len, bool batched)
{
	struct vq_used *w = &m->want[m->nwant++ % VQ_NUM_MAX];

	w->id = id;
	w->len = len;
	w->batched = batched;
}

/*
 * Gives back what was taken: out of order (a random one at a time), or
 * in order in batches of a random size, each one entry.
 */
static void vm_give(struct vm *m)
{
	unsigned int n, k, ndesc = 0, i;
	struct vm_took t;
	__u32 len;

	if (!m->ntook)
		return;
	if (!m->vq.cfg.in_order) {
		k = vm_rand(m) % m->ntook;
		t = m->took[k];
		m->took[k] = m->took[--m->ntook];
		len = t.wlen ? t.wlen - vm_rand(m) % t.wlen : 0;
		vm_put(m, t.id, len, 1, t.ndesc);
		vm_expect(m, t.id, len, false);
		return;
	}
	n = 1 + vm_rand(m) % m->ntook;
	for (i = 0; i < n; i++) {
		ndesc += m->took[i].ndesc;
		if (i + 1 < n)
			vm_expect(m, m->took[i].id, m->took[i].wlen, true);
	}
	t = m->took[n - 1];
	len = t.wlen ? t.wlen - vm_rand(m) % t.wlen : 0;
	vm_expect(m, t.id, len, false);
	vm_put(m, t.id, len, n, ndesc);
	memmove(m->took, m->took + n, (m->ntook - n) * sizeof(m->took[0]));
	m->ntook -= n;
}

/* The driver's side */

static int vm_add(struct vm *m)
{
	unsigned int n = 1 + vm_rand(m) % VM_PIECES, out = vm_rand(m) % (n + 1);
	bool ind = m->vq.cfg.indirect && vm_rand(m) % 2;
	struct vq_buf b[VM_PIECES];
	unsigned int i;
	__u32 in_len = 0;
	int id;

	for (i = 0; i < n; i++) {
		b[i].gpa = VM_GPA + VM_BUFS + (vm_rand(m) % 1000) * 64;
		b[i].len = 1 + vm_rand(m) % 1500;
		if (i >= out)
			in_len += b[i].len;
	}
	id = vm_rand(m) % 4 ? vq_add(&m->vq, b, out, n - out, ind) :
	     vq_stage(&m->vq, b, out, n - out, ind);
	if (id < 0)
		return id;
	memcpy(m->buf[id].b, b, sizeof(b));
	m->buf[id].n = n;
	m->buf[id].out = out;
	m->buf[id].in_len = in_len;
	m->buf[id].live = 1;
	return 0;
}

/* What the driver gets back, in the order the device gave it. */
static void vm_reap(struct __test_metadata *_metadata, struct vm *m)
{
	const struct vq_used *w;
	struct vq_used u;
	int r;

	while ((r = vq_get(&m->vq, &u)) == 1) {
		ASSERT_LT(m->got, m->nwant);
		w = &m->want[m->got++ % VQ_NUM_MAX];
		ASSERT_EQ(w->id, u.id);
		ASSERT_EQ(w->len, u.len);
		ASSERT_EQ(w->batched, u.batched);
		ASSERT_TRUE(m->buf[u.id].live);
		m->buf[u.id].live = 0;
	}
	ASSERT_EQ(0, r);
}

static void vm_run(struct __test_metadata *_metadata, const struct vq_cfg *cfg,
		   unsigned int rounds)
{
	struct vm *m = calloc(1, sizeof(*m));
	__u32 s;
	unsigned int i;
	int r;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vm_new(m, cfg));
	for (i = 0; i < rounds; i++) {
		switch (vm_rand(m) % 4) {
		case 0:
		case 1:
			r = vm_add(m);
			ASSERT_TRUE(!r || r == -ENOSPC);
			if (r)
				vq_publish(&m->vq);
			break;
		case 2:
			while (vm_rand(m) % 4 && vm_take(m))
				;
			break;
		default:
			vm_give(m);
			vm_reap(_metadata, m);
			break;
		}
	}
	vq_publish(&m->vq);
	while (vm_take(m))
		;
	while (m->ntook)
		vm_give(m);
	vm_reap(_metadata, m);
	EXPECT_EQ(0, m->bad);
	EXPECT_EQ(0, vq_pending(&m->vq));
	EXPECT_EQ(m->nwant, m->got);
	EXPECT_EQ(cfg->num, vq_free(&m->vq));
	s = m->used | (cfg->packed && m->used_wrap ? VM_WRAP : 0);
	EXPECT_EQ(cfg->packed ? s | s << 16 : s, vq_base(&m->vq));
	if (cfg->in_order)
		EXPECT_LT(0, m->vq.stats.batched);
	ksft_print_msg("%lu buffers, %lu back through %lu batch entries, %lu laps\n",
		       m->vq.stats.used, m->vq.stats.batched,
		       m->vq.stats.batches, m->vq.stats.used / cfg->num);
	vm_free(m);
	free(m);
}

FIXTURE(model) {
	int unused;
};

FIXTURE_VARIANT(model) {
	struct vq_cfg cfg;
};

FIXTURE_SETUP(model)
{
}

FIXTURE_TEARDOWN(model)
{
}

FIXTURE_VARIANT_ADD(model, split_8) {
	.cfg = { .num = 8 },
};

FIXTURE_VARIANT_ADD(model, split_256_ind) {
	.cfg = { .num = 256, .event_idx = true, .indirect = true },
};

FIXTURE_VARIANT_ADD(model, split_in_order_8) {
	.cfg = { .num = 8, .in_order = true },
};

FIXTURE_VARIANT_ADD(model, split_in_order_256_ind) {
	.cfg = { .num = 256, .in_order = true, .indirect = true },
};

FIXTURE_VARIANT_ADD(model, packed_8) {
	.cfg = { .num = 8, .packed = true },
};

FIXTURE_VARIANT_ADD(model, packed_7) {	/* not a power of 2 */
	.cfg = { .num = 7, .packed = true, .indirect = true },
};

FIXTURE_VARIANT_ADD(model, packed_256_ind) {
	.cfg = { .num = 256, .packed = true, .event_idx = true,
		 .indirect = true },
};

FIXTURE_VARIANT_ADD(model, packed_in_order_8) {
	.cfg = { .num = 8, .packed = true, .in_order = true },
};

FIXTURE_VARIANT_ADD(model, packed_in_order_256_ind) {
	.cfg = { .num = 256, .packed = true, .in_order = true,
		 .indirect = true },
};

TEST_F(model, traffic)
{
	vm_run(_metadata, &variant->cfg, 200000);
}

/* Notifications */

static int vm_one(struct vm *m)
{
	struct vq_buf b = { .gpa = VM_GPA + VM_BUFS, .len = 64 };
	int id = vq_add(&m->vq, &b, 1, 0, false);

	if (id >= 0) {
		m->buf[id].n = 1;
		m->buf[id].out = 1;
		m->buf[id].b[0] = b;
		m->buf[id].live = 1;
	}
	return id;
}

/* The device wants a kick at the buffer @ahead after the next one. */
static void vm_event(struct vm *m, unsigned int ahead)
{
	struct vring_packed_desc_event *e = (void *)(unsigned long)
					    m->a.used_user_addr;
	struct vring_used *u = (void *)(unsigned long)m->a.used_user_addr;
	bool wrap = m->avail_wrap;
	__u16 pos = m->avail;

	if (m->vq.cfg.packed) {
		vm_step(m, &pos, &wrap, ahead);
		e->off_wrap = pos | (wrap ? VM_WRAP : 0);
		e->flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else {
		/* avail_event */
		u->ring[m->vq.cfg.num].id = m->avail + ahead;
	}
}

static void vm_kicks(struct __test_metadata *_metadata,
		     const struct vq_cfg *cfg)
{
	struct vm *m = calloc(1, sizeof(*m));
	unsigned int round, i, ahead;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vm_new(m, cfg));
	for (round = 0; round < 200; round++) {
		ahead = vm_rand(m) % 5;
		vm_event(m, ahead);
		for (i = 0; i <= ahead + 2; i++) {
			ASSERT_LE(0, vm_one(m));
			ASSERT_EQ(i == ahead, vq_kick_needed(&m->vq))
				TH_LOG("round %u: buffer %u after the event at %u",
				       round, i, ahead);
			ASSERT_EQ(1, vm_take(m));
			vm_give(m);
			vm_reap(_metadata, m);
		}
	}
	vm_free(m);
	free(m);
}

TEST(kick_split_event_idx)
{
	struct vq_cfg cfg = { .num = 16, .event_idx = true };

	vm_kicks(_metadata, &cfg);
}

TEST(kick_packed_desc)
{
	struct vq_cfg cfg = { .num = 16, .packed = true, .event_idx = true };

	vm_kicks(_metadata, &cfg);
}

TEST(kick_flags)
{
	struct vq_cfg split = { .num = 16 };
	struct vq_cfg packed = { .num = 16, .packed = true };
	struct vring_packed_desc_event *e;
	struct vring_used *u;
	struct vm *m = calloc(1, sizeof(*m));

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vm_new(m, &split));
	u = (void *)(unsigned long)m->a.used_user_addr;
	ASSERT_LE(0, vm_one(m));
	EXPECT_TRUE(vq_kick_needed(&m->vq));
	EXPECT_FALSE(vq_kick_needed(&m->vq));	/* nothing new */
	u->flags = VRING_USED_F_NO_NOTIFY;
	ASSERT_LE(0, vm_one(m));
	EXPECT_FALSE(vq_kick_needed(&m->vq));
	vm_free(m);
	ASSERT_EQ(0, vm_new(m, &packed));
	e = (void *)(unsigned long)m->a.used_user_addr;
	ASSERT_LE(0, vm_one(m));
	EXPECT_TRUE(vq_kick_needed(&m->vq));
	e->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	ASSERT_LE(0, vm_one(m));
	EXPECT_FALSE(vq_kick_needed(&m->vq));
	vm_free(m);
	free(m);
}

static void vm_armed(struct __test_metadata *_metadata, struct vm *m,
		     const struct vq_cfg *cfg)
{
	struct vring_packed_desc_event *e = (void *)(unsigned long)
					    m->a.avail_user_addr;
	struct vring_avail *av = (void *)(unsigned long)m->a.avail_user_addr;

	if (cfg->packed && cfg->event_idx) {
		EXPECT_EQ(VRING_PACKED_EVENT_FLAG_DESC, e->flags);
		EXPECT_EQ(m->used | (m->used_wrap ? VM_WRAP : 0), e->off_wrap);
	} else if (cfg->packed) {
		EXPECT_EQ(VRING_PACKED_EVENT_FLAG_ENABLE, e->flags);
	} else if (cfg->event_idx) {
		EXPECT_EQ(m->used, av->ring[cfg->num]);	/* used_event */
	} else {
		EXPECT_EQ(0, av->flags);
	}
}

static void vm_disarmed(struct __test_metadata *_metadata, struct vm *m,
			const struct vq_cfg *cfg)
{
	struct vring_packed_desc_event *e = (void *)(unsigned long)
					    m->a.avail_user_addr;
	struct vring_avail *av = (void *)(unsigned long)m->a.avail_user_addr;

	if (cfg->packed) {
		EXPECT_EQ(VRING_PACKED_EVENT_FLAG_DISABLE, e->flags);
		return;
	}
	if (cfg->event_idx) {
		EXPECT_EQ((__u16)(m->used - 1), av->ring[cfg->num]);
		return;
	}
	EXPECT_EQ(VRING_AVAIL_F_NO_INTERRUPT, av->flags);
}

/* The driver's requests for used buffer notifications, as the device sees. */
TEST(arm)
{
	static const struct vq_cfg cfgs[4] = {
		{ .num = 8 }, { .num = 8, .event_idx = true },
		{ .num = 8, .packed = true },
		{ .num = 8, .packed = true, .event_idx = true },
	};
	struct vm *m = calloc(1, sizeof(*m));
	unsigned int c, i;

	ASSERT_NE(NULL, m);
	for (c = 0; c < 4; c++) {
		ASSERT_EQ(0, vm_new(m, &cfgs[c]));
		for (i = 0; i < 11; i++) {	/* past a lap */
			ASSERT_LE(0, vm_one(m));
			ASSERT_EQ(1, vm_take(m));
			EXPECT_TRUE(vq_arm(&m->vq));
			vm_armed(_metadata, m, &cfgs[c]);
			vm_give(m);
			EXPECT_FALSE(vq_arm(&m->vq));
			vm_reap(_metadata, m);
			vq_disarm(&m->vq);
			vm_disarmed(_metadata, m, &cfgs[c]);
		}
		vm_free(m);
	}
	free(m);
}

/* VHOST_SET_VRING_BASE values: a fresh packed ring, one started elsewhere. */
TEST(base)
{
	struct vq_cfg cfg = { .num = 8, .packed = true };
	struct vm *m = calloc(1, sizeof(*m));
	unsigned int i;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, vm_new(m, &cfg));
	EXPECT_EQ(0x80008000, vq_base(&m->vq));
	vq_reset(&m->vq, 5 | 5 << 16);	/* position 5, wrap counters 0 */
	m->avail = 5;
	m->used = 5;
	m->avail_wrap = false;
	m->used_wrap = false;
	for (i = 0; i < 4; i++) {
		ASSERT_LE(0, vm_one(m));
		ASSERT_EQ(1, vm_take(m));
		vm_give(m);
		vm_reap(_metadata, m);
	}
	EXPECT_EQ(1 | VM_WRAP | (1 | VM_WRAP) << 16, vq_base(&m->vq));
	EXPECT_EQ(0, m->bad);
	vm_free(m);
	free(m);
}

TEST_HARNESS_MAIN
