// SPDX-License-Identifier: GPL-2.0
/*
 * net_malformed: kvio-net and a guest that corrupts its rings.
 *
 * kvio does not guess what a malformed ring means: it breaks the ring
 * (drivers/vhost/ring.c), signals the ring's error eventfd, logs one
 * ratelimited line "kvio_vhost: ring N of owner PID stopped: WHY" and
 * does nothing more on that ring until the VMM restarts it with a new
 * backend or VHOST_SET_VRING_BASE.  Upstream vhost has no such state (it
 * signals the error fd and tries again at the next kick), so this test is
 * kvio's alone, not differential.
 *
 * Every variant is one way a guest can corrupt a ring, tried on the TX
 * and on the RX ring (when it applies to both), each time with fresh
 * devices.  The test is the VMM and the guest's driver at once (the
 * driver of net_datapath, ndp_*.c): it publishes the bad chain, makes the
 * device read it (a kick; for RX also a frame to receive), and checks
 * - the error eventfd fires within NM_ERR_MS, once per line logged;
 * - no used element appears for the bad chain, and kicks do nothing more;
 * - the device's other ring still moves frames, and so does a second
 *   device of the same owner (it shares the owner's worker);
 * - the kernel log has the expected line, and only that;
 * - after the VMM's restart (detach the backend, the guest repairs the
 *   chain, SET_VRING_BASE to the guest's used index, attach, kick) frames
 *   go through that ring again, none lost;
 * - close() of each device returns within NM_CLOSE_MS.
 * Packed rings (VIRTIO_F_RING_PACKED) get every class that applies to
 * them and their own: a chain that never ends, a buffer id out of range,
 * a descriptor ring the device cannot write (its used entries go there)
 * or read, a device event area it cannot write; some also in order.
 * The "storm" tests break a ring 200 times (the log stays ratelimited,
 * every break is signalled) and under a flood of 10000 kicks (the
 * worker keeps serving the other rings and devices).
 *
 * KVIO_DIFF_DEV names the node under test (default /dev/kvio-net).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "ktrace.h"
#include "net_datapath.h"

#define NM_ERR_MS	3000	/* the error eventfd fires by then */
#define NM_CLOSE_MS	2000	/* close() of a device returns by then */
#define NM_FRAMES	3	/* frames a working ring must move */
#define NM_SENTINEL	0xa5a5a5a5u	/* a used element nobody wrote */
#define NM_RL_BURST	10	/* pr_warn_ratelimited(): 10 lines ... */
#define NM_RL_MS	5000	/* ... per 5 s */
#define NM_RL_US	5300000LL	/* the same, with a margin */
#define NM_BAD_KICKS	200
#define NM_FLOOD_KICKS	10000
#define NM_FLOOD_FRAMES	50
#define NM_MAX_LINES	256
#define NM_WHY_LEN	80
#define NM_REC_LEN	8192
#define NM_RECENT	32
#define NM_WALK_TABLE	(NDP_GPA_BASE + 0x700000ULL)	/* the last 1M */
#define NM_WALK_ENTRIES	65536	/* the most an indirect table may hold */
#define NM_WALK_DIRECT	255	/* direct descriptors naming it */
#define NM_WALK_MS	100	/* the ring is stopped by then */
#define NM_PF_AVAIL	BIT(VRING_PACKED_DESC_F_AVAIL)
#define NM_PF_USED	BIT(VRING_PACKED_DESC_F_USED)

enum nm_class {
	NM_LOOP2,		/* a 2-cycle of descriptors */
	NM_LOOP_RING,		/* a cycle through the whole ring */
	NM_NEXT_RANGE,		/* next == ring size */
	NM_HEAD_RANGE,		/* avail ring entry == ring size */
	NM_ADDR_OUTSIDE,	/* buffer just past the memory table */
	NM_LEN_HUGE,		/* length 0xffffffff, past the end of memory */
	NM_IND_NESTED,		/* indirect inside indirect */
	NM_IND_LEN0,		/* indirect table of length 0 */
	NM_IND_LEN_ODD,		/* ... of a length not a multiple of 16 */
	NM_IND_OUTSIDE,		/* ... outside guest memory */
	NM_IND_NEXT_RANGE,	/* next beyond the indirect table */
	NM_IND_LOOP,		/* a cycle inside the indirect table */
	NM_IND_NEXT,		/* an indirect descriptor that has a next */
	NM_AVAIL_JUMP,		/* avail idx moved by ring size + 1 */
	NM_TX_WRITABLE,		/* a TX chain with a writable descriptor */
	NM_RX_READABLE,		/* an RX chain with a readable descriptor */
	NM_RX_READABLE_2ND,	/* ... after a good one for the same frame */
	NM_WR_THEN_RD,		/* readable after writable */
	NM_EMPTY,		/* a chain of one zero-length buffer */
	NM_USED_RO,		/* used ring read-only after the attach */
	/* packed rings only */
	NM_P_CHAIN_RING,	/* every descriptor has NEXT: no chain end */
	NM_P_ID_RANGE,		/* buffer id == ring size */
	NM_P_DESC_RO,		/* descriptor ring read-only: no used entry */
	NM_P_DESC_NONE,		/* ... not even readable */
	NM_P_EVENT_RO,		/* device event area read-only */
};

/* What kvio logs for each: drivers/vhost/ring.c, drivers/net/{tx,rx}.c */
static const char * const nm_why[] = {
	[NM_LOOP2] = "loop in descriptor chain",
	[NM_LOOP_RING] = "loop in descriptor chain",
	[NM_NEXT_RANGE] = "next descriptor out of range",
	[NM_HEAD_RANGE] = "head index out of range",
	[NM_ADDR_OUTSIDE] = "buffer outside guest memory",
	[NM_LEN_HUGE] = "buffer outside guest memory",
	[NM_IND_NESTED] = "indirect inside indirect",
	[NM_IND_LEN0] = "bad indirect table length",
	[NM_IND_LEN_ODD] = "bad indirect table length",
	[NM_IND_OUTSIDE] = "indirect table outside guest memory",
	[NM_IND_NEXT_RANGE] = "indirect next out of range",
	[NM_IND_LOOP] = "loop in indirect table",
	[NM_IND_NEXT] = "indirect descriptor with next",
	[NM_AVAIL_JUMP] = "avail index moved by more than the ring size",
	[NM_TX_WRITABLE] = "TX chain not made of readable buffers",
	[NM_RX_READABLE] = "RX chain not made of writable buffers",
	[NM_RX_READABLE_2ND] = "RX chain not made of writable buffers",
	[NM_WR_THEN_RD] = "readable buffer after writable",
	[NM_USED_RO] = "used ring not writable",
	[NM_P_CHAIN_RING] = "descriptor chain longer than the ring",
	[NM_P_ID_RANGE] = "buffer id out of range",
	[NM_P_DESC_RO] = "descriptor ring not writable",
	[NM_P_DESC_NONE] = "descriptor ring not readable",
	[NM_P_EVENT_RO] = "device event area not writable",
};

/* Classes that apply to packed rings (drivers/vhost/packed.c). */
static bool nm_packed_class(enum nm_class bad)
{
	switch (bad) {
	case NM_LOOP2:
	case NM_LOOP_RING:
	case NM_NEXT_RANGE:
	case NM_HEAD_RANGE:
	case NM_IND_NEXT_RANGE:	/* a table's entries are used in turn */
	case NM_IND_LOOP:
	case NM_AVAIL_JUMP:
	case NM_USED_RO:	/* NM_P_DESC_RO and NM_P_EVENT_RO instead */
		return false;
	default:
		return true;
	}
}

static const char *nm_why_on(enum nm_class bad, enum ndp_queue qi)
{
	if (bad != NM_EMPTY)
		return nm_why[bad];
	return nm_why[qi == NDP_TX ? NM_TX_WRITABLE : NM_RX_READABLE];
}

static bool nm_packed(const struct ndp_vq *q)
{
	return q->vq.cfg.packed;
}

struct nm_line {
	unsigned int ring;
	char why[NM_WHY_LEN];
};

/* dev[0] gets the bad ring, dev[1] looks on; the log lines they caused */
struct nm {
	struct ndp_pair *p;
	struct kt trace;	/* the kvio tracepoints of this run */
	int kmsg;		/* /dev/kmsg from where the run began */
	unsigned int nlines;
	struct nm_line line[NM_MAX_LINES];
};

static void nm_free(struct nm *nm)
{
	if (!nm)
		return;
	ndp_pair_free(nm->p);
	kt_close(&nm->trace);
	if (nm->kmsg >= 0)
		close(nm->kmsg);
	free(nm);
}

static struct nm *nm_new(struct __test_metadata *_metadata, unsigned int num,
			 __u64 features, unsigned int rxbuf)
{
	struct nm *nm = calloc(1, sizeof(*nm));

	ASSERT_NE(NULL, nm);
	nm->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, nm->kmsg) TH_LOG("/dev/kmsg: %s", strerror(errno));
	lseek(nm->kmsg, 0, SEEK_END);
	ASSERT_EQ(0, kt_open(&nm->trace)) TH_LOG("no kvio events in tracefs");
	nm->p = ndp_pair_new(num, features, rxbuf);
	ASSERT_NE(NULL, nm->p);
	return nm;
}

static int nm_traffic(struct nm *nm, struct ndp *g, unsigned int tx,
		      unsigned int rx)
{
	return ndp_pair_traffic(nm->p, g, tx, rx);
}

/* The kernel log */

/* The next record of /dev/kmsg: its time (us) and text; 0 at the end. */
static int nm_record(int fd, char *rec, long long *ts, char **msg)
{
	ssize_t n;
	char *nl;

	do
		n = read(fd, rec, NM_REC_LEN - 1);
	while (n < 0 && errno == EPIPE);	/* overwritten: go on */
	if (n <= 0)
		return 0;
	rec[n] = 0;
	*msg = strchr(rec, ';');
	if (!*msg || sscanf(rec, "%*u,%*u,%lld", ts) != 1) {
		*msg = rec + n;
		return 1;
	}
	nl = strchr(++*msg, '\n');
	if (nl)
		*nl = 0;
	return 1;
}

static int nm_parse(const char *msg, struct nm_line *l, int *owner)
{
	return sscanf(msg, "kvio_vhost: ring %u of owner %d stopped: %79[^\n]",
		      &l->ring, owner, l->why) == 3;
}

/* Collects this process's new "stopped" lines. */
static void nm_scan(struct nm *nm)
{
	static char rec[NM_REC_LEN];
	struct nm_line l;
	long long ts;
	int owner;
	char *msg;

	while (nm_record(nm->kmsg, rec, &ts, &msg))
		if (nm_parse(msg, &l, &owner) && owner == getpid() &&
		    nm->nlines < NM_MAX_LINES)
			nm->line[nm->nlines++] = l;
}

/*
 * pr_warn_ratelimited() lets 10 lines through per 5 s, for all rings of
 * all owners together.  Before a test breaks rings, wait until the lines
 * of the tests before it leave room for its own: count the lines of the
 * last 5 s by the kernel's clock, read from a marker logged for that
 * (which also tells the reader of dmesg which test comes next).
 */
static void nm_pace(unsigned int ring, const char *why, int need)
{
	static char rec[NM_REC_LEN];
	long long recent[NM_RECENT], now = -1, ts;
	char mark[160], put[168];
	int fd, n = 0, k, owner, excess;
	struct nm_line l;
	char *msg;

	fd = open("/dev/kmsg", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(mark, sizeof(mark), "net_malformed: pid %d breaks ring %u: %s",
		 getpid(), ring, why);
	snprintf(put, sizeof(put), "<6>%s\n", mark);
	if (write(fd, put, strlen(put)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return;
	}
	while (now < 0 && nm_record(fd, rec, &ts, &msg)) {
		if (!strcmp(msg, mark))
			now = ts;
		else if (nm_parse(msg, &l, &owner))
			recent[n++ % NM_RECENT] = ts;
	}
	close(fd);
	if (now < 0)
		return;
	/* the lines still in the window are the last ones */
	for (k = n; k > 0 && n - k < NM_RECENT &&
	     recent[(k - 1) % NM_RECENT] + NM_RL_US > now; k--)
		;
	/* wait until the oldest of them leave it, as many as needed */
	excess = n - k - (NM_RL_BURST - need);
	if (excess > 0)
		usleep(recent[(k + excess - 1) % NM_RECENT] + NM_RL_US - now);
}

/* Checks the new lines: 1 to max, all about ring and why; returns them. */
static unsigned int nm_lines(struct __test_metadata *_metadata, struct nm *nm,
			     unsigned int from, unsigned int ring,
			     const char *why, unsigned int max)
{
	unsigned int i, n;

	nm_scan(nm);
	n = nm->nlines - from;
	EXPECT_LE(1u, n)
		TH_LOG("no line 'kvio_vhost: ring %u of owner %d stopped: %s' in the kernel log",
		       ring, getpid(), why);
	EXPECT_GE(max, n) TH_LOG("%u lines for one broken ring", n);
	for (i = from; i < nm->nlines; i++) {
		EXPECT_EQ(ring, nm->line[i].ring);
		EXPECT_STREQ(why, nm->line[i].why);
	}
	return n;
}

/* The tracepoint */

struct nm_broken {
	pid_t owner;
	int n, bad;
	long ring, desc;
	char why[NM_WHY_LEN];
};

static void nm_broken_event(const char *name, const char *fields, void *arg)
{
	struct nm_broken *b = arg;
	long owner;

	if (strcmp(name, "kvio_ring_broken"))
		return;
	if (!kt_long(fields, "owner", &owner) || !kt_long(fields, "ring", &b->ring) ||
	    !kt_long(fields, "desc", &b->desc) ||
	    !kt_str(fields, "why", b->why, sizeof(b->why))) {
		b->bad++;
		return;
	}
	b->n += owner == b->owner;
}

/*
 * The owner's kvio_ring_broken events: one, for ring qi, with the log's
 * reason; on a split ring, with the head of the bad chain (desc, or -1:
 * not checked) as its descriptor.
 */
static void nm_broken(struct __test_metadata *_metadata, struct nm *nm,
		      enum ndp_queue qi, const char *why, long desc)
{
	struct nm_broken b = { .owner = getpid() };

	EXPECT_LE(0, kt_each(&nm->trace, nm_broken_event, &b));
	EXPECT_EQ(0, b.bad) TH_LOG("kvio_ring_broken lines that did not parse");
	ASSERT_EQ(1, b.n) TH_LOG("%d kvio_ring_broken events of owner %d",
				 b.n, b.owner);
	EXPECT_EQ(qi, b.ring);
	EXPECT_STREQ(why, b.why);
	if (desc >= 0)
		EXPECT_EQ(desc, b.desc);
	EXPECT_GT(65536, b.desc);
	EXPECT_LE(-1, b.desc);
}

/* The guest */

static struct vring_used_elem *nm_used_elem(const struct ndp_vq *q)
{
	return vq_used_elem(&q->vq, q->vq.used_idx);
}

/*
 * Marks the used element the device would write next (split; packed, the
 * device writes its used entries over the chain itself, and its flags
 * say whether it did).
 */
static void nm_sentinel(const struct ndp_vq *q)
{
	if (nm_packed(q))
		return;
	nm_used_elem(q)->id = NM_SENTINEL;
	nm_used_elem(q)->len = NM_SENTINEL;
}

/* The device wrote no used element and did not move the used index. */
static int nm_untouched(const struct ndp_vq *q)
{
	const struct vring_used_elem *e;
	__u16 f, w;

	if (nm_packed(q)) {
		f = __atomic_load_n(&q->vq.pdesc[q->vq.used_idx].flags,
				    __ATOMIC_ACQUIRE);
		w = q->vq.used_wrap;
		return !!(f & NM_PF_AVAIL) != w || !!(f & NM_PF_USED) != w;
	}
	e = nm_used_elem(q);
	return vq_used_idx(&q->vq) == q->vq.used_idx &&
	       e->id == NM_SENTINEL && e->len == NM_SENTINEL;
}

/* The used ring, or a packed ring's device event area. */
static int nm_protect_used(const struct ndp_vq *q, int prot)
{
	size_t len;
	void *used = vq_used_area(&q->vq, &len);

	return mprotect(used, (len + NDP_PAGE - 1) & ~(NDP_PAGE - 1), prot);
}

/* A packed ring's descriptors. */
static int nm_protect_desc(const struct ndp_vq *q, int prot)
{
	size_t len = q->vq.cfg.num * sizeof(struct vring_packed_desc);

	return mprotect(q->vq.pdesc, (len + NDP_PAGE - 1) & ~(NDP_PAGE - 1),
			prot);
}

/* The memory the class made inaccessible, accessible again. */
static int nm_unprotect(const struct ndp_vq *q, enum nm_class bad)
{
	if (bad == NM_USED_RO || bad == NM_P_EVENT_RO)
		return nm_protect_used(q, PROT_READ | PROT_WRITE);
	if (bad == NM_P_DESC_RO || bad == NM_P_DESC_NONE)
		return nm_protect_desc(q, PROT_READ | PROT_WRITE);
	return 0;
}

/* Classes where the device may take the chain before it stops. */
static bool nm_takes(enum nm_class bad)
{
	return bad == NM_USED_RO || bad == NM_P_DESC_RO ||
	       bad == NM_P_EVENT_RO;
}

/* A good buffer for serial, as net_datapath's driver lays it out. */
static void nm_good(struct ndp *g, const struct ndp_vq *q,
		    unsigned int serial, struct ndp_chain *ch)
{
	if (q->idx == NDP_TX)
		ndp_tx_fill(g, serial, ch);
	else
		ndp_rx_fill(g, serial, ch);
}

/* The chain at head, made bad in an indirect table; buf is its buffer. */
static void nm_bad_table(struct ndp_vq *q, unsigned int head, __u64 buf,
			 enum nm_class bad)
{
	__u16 wr = q->idx == NDP_RX ? VRING_DESC_F_WRITE : 0;
	unsigned int num = q->vq.cfg.num;
	struct vring_desc *t;
	__u32 len = 2 * sizeof(*t);
	__u64 tbl;

	t = vq_ind(&q->vq, head, &tbl);
	vq_desc_set(t, buf, 64, wr | VRING_DESC_F_NEXT, 1);
	vq_desc_set(t + 1, buf + 64, 64, wr, 0);
	if (bad == NM_IND_NESTED)
		vq_desc_set(t + 1, tbl, sizeof(*t), VRING_DESC_F_INDIRECT, 0);
	else if (bad == NM_IND_LEN0)
		len = 0;
	else if (bad == NM_IND_LEN_ODD)
		len = sizeof(*t) + 8;
	else if (bad == NM_IND_OUTSIDE)
		tbl = NDP_GPA_BASE + NDP_MEM_SIZE;
	else if (bad == NM_IND_NEXT_RANGE)
		vq_desc_set(t + 1, buf + 64, 64, wr | VRING_DESC_F_NEXT, 2);
	else if (bad == NM_IND_LOOP)
		vq_desc_set(t + 1, buf + 64, 64, wr | VRING_DESC_F_NEXT, 0);
	if (bad == NM_IND_NEXT)
		vq_desc_write(&q->vq, head, tbl, len,
			      VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
			      (head + 1) % num);
	else
		vq_desc_write(&q->vq, head, tbl, len, VRING_DESC_F_INDIRECT, 0);
}

/* The chain at head, made bad in the descriptor table. */
static void nm_bad_descs(struct ndp_vq *q, unsigned int head, __u64 buf,
			 enum nm_class bad)
{
	const __u16 wr = q->idx == NDP_RX ? VRING_DESC_F_WRITE : 0;
	const __u16 nx = VRING_DESC_F_NEXT, w = VRING_DESC_F_WRITE;
	unsigned int num = q->vq.cfg.num, next = (head + 1) % num, i;
	struct vq *v = &q->vq;

	if (bad == NM_LOOP2) {
		vq_desc_write(v, head, buf, 64, wr | nx, next);
		vq_desc_write(v, next, buf + 64, 64, wr | nx, head);
	} else if (bad == NM_LOOP_RING) {
		for (i = 0; i < num; i++)
			vq_desc_write(v, i, buf, 16, wr | nx, (i + 1) % num);
	} else if (bad == NM_NEXT_RANGE) {
		vq_desc_write(v, head, buf, 64, wr | nx, num);
	} else if (bad == NM_ADDR_OUTSIDE) {
		vq_desc_write(v, head, NDP_GPA_BASE + NDP_MEM_SIZE, 64, wr, 0);
	} else if (bad == NM_LEN_HUGE) {
		vq_desc_write(v, head, buf, 0xffffffff, wr, 0);
	} else if (bad == NM_TX_WRITABLE) {	/* a frame, then room */
		vq_desc_write(v, head, buf, NDP_HDR_LEN + 60, nx, next);
		vq_desc_write(v, next, buf + 128, 64, w, 0);
	} else if (bad == NM_RX_READABLE || bad == NM_RX_READABLE_2ND) {
		/* a header to read, then room */
		vq_desc_write(v, head, buf, NDP_HDR_LEN, nx, next);
		vq_desc_write(v, next, buf + 64, 1600, w, 0);
	} else if (bad == NM_WR_THEN_RD) {
		vq_desc_write(v, head, buf, 64, w | nx, next);
		vq_desc_write(v, next, buf + 64, 64, 0, 0);
	} else if (bad == NM_EMPTY) {
		vq_desc_write(v, head, buf, 0, wr, 0);
	}
}

static void nm_ptab_set(struct vring_packed_desc *d, __u64 gpa, __u32 len,
			__u16 flags)
{
	d->addr = gpa;
	d->len = len;
	d->id = 0;
	d->flags = flags;
}

/*
 * A packed chain of buffer id at position pos, made bad.  Descriptors
 * after the head keep the AVAIL and USED bits they had: only the head's
 * make a chain available, and the positions stay free for the driver.
 */
static void nm_bad_packed(struct ndp_vq *q, unsigned int id, unsigned int pos,
			  __u64 buf, enum nm_class bad)
{
	const __u16 wr = q->idx == NDP_RX ? VRING_DESC_F_WRITE : 0;
	const __u16 nx = VRING_DESC_F_NEXT, w = VRING_DESC_F_WRITE;
	const __u16 lap = NM_PF_AVAIL | NM_PF_USED;
	unsigned int num = q->vq.cfg.num, i, p;
	__u16 head = vq_pdesc_avail(&q->vq, pos), f;
	struct vq *v = &q->vq;
	struct vring_packed_desc *t;
	__u32 len = 2 * sizeof(*t);
	__u64 tbl;

#define NM_NEXT_AT(k)	((pos + (k)) % num)
#define NM_KEEP(k)	(v->pdesc[NM_NEXT_AT(k)].flags & lap)
	switch (bad) {
	case NM_P_CHAIN_RING:
		for (i = num; i-- > 0;) {
			p = NM_NEXT_AT(i);
			f = i ? NM_KEEP(i) : head;
			vq_pdesc_write(v, p, buf, 16, id, f | wr | nx);
		}
		return;
	case NM_P_ID_RANGE:
		vq_pdesc_write(v, pos, buf, 64, num, head | wr);
		return;
	case NM_ADDR_OUTSIDE:
		vq_pdesc_write(v, pos, NDP_GPA_BASE + NDP_MEM_SIZE, 64, id,
			       head | wr);
		return;
	case NM_LEN_HUGE:
		vq_pdesc_write(v, pos, buf, 0xffffffff, id, head | wr);
		return;
	case NM_EMPTY:
		vq_pdesc_write(v, pos, buf, 0, id, head | wr);
		return;
	case NM_TX_WRITABLE:	/* a frame, then room */
		vq_pdesc_write(v, NM_NEXT_AT(1), buf + 128, 64, id,
			       NM_KEEP(1) | w);
		vq_pdesc_write(v, pos, buf, NDP_HDR_LEN + 60, id, head | nx);
		return;
	case NM_RX_READABLE:
	case NM_RX_READABLE_2ND:	/* a header to read, then room */
		vq_pdesc_write(v, NM_NEXT_AT(1), buf + 64, 1600, id,
			       NM_KEEP(1) | w);
		vq_pdesc_write(v, pos, buf, NDP_HDR_LEN, id, head | nx);
		return;
	case NM_WR_THEN_RD:
		vq_pdesc_write(v, NM_NEXT_AT(1), buf + 64, 64, id, NM_KEEP(1));
		vq_pdesc_write(v, pos, buf, 64, id, head | w | nx);
		return;
	case NM_IND_NESTED:
	case NM_IND_LEN0:
	case NM_IND_LEN_ODD:
	case NM_IND_OUTSIDE:
	case NM_IND_NEXT:
		break;
	default:	/* the chain stays good: the ring's memory is bad */
		return;
	}
#undef NM_KEEP
#undef NM_NEXT_AT

	/* the indirect classes; a table's NEXT flags mean nothing */
	t = vq_ind(v, id, &tbl);
	nm_ptab_set(t, buf, 64, wr | nx);
	nm_ptab_set(t + 1, buf + 64, 64, wr);
	f = head | VRING_DESC_F_INDIRECT;
	if (bad == NM_IND_NESTED)
		nm_ptab_set(t + 1, tbl, sizeof(*t), VRING_DESC_F_INDIRECT);
	else if (bad == NM_IND_LEN0)
		len = 0;
	else if (bad == NM_IND_LEN_ODD)
		len = sizeof(*t) + 8;
	else if (bad == NM_IND_OUTSIDE)
		tbl = NDP_GPA_BASE + NDP_MEM_SIZE;
	else if (bad == NM_IND_NEXT)
		f |= nx;
	vq_pdesc_write(v, pos, tbl, len, id, f);
}

/*
 * The guest writes a good chain as its next buffer, makes it bad the way
 * bad says, and publishes it.
 */
static int nm_corrupt(struct ndp *g, struct ndp_vq *q, enum nm_class bad)
{
	unsigned int num = q->vq.cfg.num;
	struct ndp_chain ch;
	unsigned int pos;
	int head;

	if (bad == NM_RX_READABLE_2ND) {
		nm_good(g, q, q->posted, &ch);
		ndp_post(g, q, &ch);
	}
	nm_good(g, q, q->posted, &ch);
	pos = q->vq.avail_idx;
	head = ndp_stage(g, q, &ch);
	if (head < 0)
		return -1;
	if (nm_packed(q)) {
		nm_bad_packed(q, head, pos, ch.gpa[0], bad);
		if (bad == NM_P_EVENT_RO && nm_protect_used(q, PROT_READ))
			return -1;
		vq_publish(&q->vq);
		/* the device looks only when kicked or given a frame */
		if (bad == NM_P_DESC_RO && nm_protect_desc(q, PROT_READ))
			return -1;
		if (bad == NM_P_DESC_NONE && nm_protect_desc(q, PROT_NONE))
			return -1;
		return 0;
	}
	if (bad >= NM_IND_NESTED && bad <= NM_IND_NEXT)
		nm_bad_table(q, head, ch.gpa[0], bad);
	else
		nm_bad_descs(q, head, ch.gpa[0], bad);
	if (bad == NM_USED_RO && nm_protect_used(q, PROT_READ))
		return -1;
	if (bad == NM_HEAD_RANGE)
		vq_avail_write(&q->vq, q->vq.avail_idx - 1, num);
	vq_publish(&q->vq);
	if (bad == NM_AVAIL_JUMP)
		vq_avail_idx_write(&q->vq, q->vq.avail_idx + num);
	return 0;
}

/* The guest's repair: the chain it meant to publish, where it meant to. */
static void nm_repair(struct ndp *g, struct ndp_vq *q)
{
	struct ndp_chain ch;

	nm_good(g, q, q->posted - 1, &ch);
	if (ndp_rewrite(g, q, q->last_id, &ch))
		ndp_fail(g, "q%u: the repair does not fit buffer %u", q->idx,
			 q->last_id);
}

/* What makes the device read the ring: a kick; for RX a frame to take. */
static int nm_trigger(struct nm *nm, struct ndp *g, const struct ndp_vq *q)
{
	if (ndp_kick_now(q))
		return -1;
	if (q->idx == NDP_TX)
		return 0;
	nm->p->cfg[g - nm->p->dev].rx = g->rx_sent + 1;
	return ndp_rx_inject(g) == 1 ? 0 : -1;
}

/* The frame the device sent before it found the used ring read-only. */
static int nm_take_sent(struct ndp *g, unsigned int serial)
{
	struct pollfd p = { .fd = g->pkt, .events = POLLIN };
	__u8 f[2048], want[NDP_MAX_FRAME];
	unsigned int len = ndp_frame(want, NDP_DIR_TX, serial);
	struct sockaddr_ll ll;
	socklen_t sl;
	ssize_t n;

	while (poll(&p, 1, NM_ERR_MS) == 1) {
		sl = sizeof(ll);
		n = recvfrom(g->pkt, f, sizeof(f), 0, (struct sockaddr *)&ll,
			     &sl);
		if (n < 0)
			return -1;
		if (ll.sll_pkttype != PACKET_OUTGOING)
			return n == len && !memcmp(f, want, len) ? 0 : -1;
	}
	return -1;
}

/* The VMM */

static long nm_backend(struct ndp *g, unsigned int idx, int fd)
{
	return kvio_file(g->c, "backend", g->dev, VHOST_NET_SET_BACKEND, idx,
			 fd);
}

/*
 * Restarts a broken ring: detach the backend, let the guest repair the
 * ring, resume at the guest's used index (every buffer it has not got
 * back is still to do), attach, kick.  Returns where the device said it
 * stopped.  A device that took the chain before it found the used ring
 * read-only sent its frame (TX), or received a frame into it that the
 * guest never gets (RX): the replay sends the frame again, or the next.
 */
static unsigned int nm_restart(struct __test_metadata *_metadata,
			       struct ndp *g, struct ndp_vq *q,
			       enum nm_class bad)
{
	struct vhost_vring_state s = { .index = q->idx };
	unsigned int used = vq_base(&q->vq);

	ASSERT_EQ(0, nm_backend(g, q->idx, -1))
		TH_LOG("detach: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(g->dev, VHOST_GET_VRING_BASE, &s))
		TH_LOG("GET_VRING_BASE: %s", strerror(errno));
	if (!nm_packed(q))
		ASSERT_EQ(0, (__u16)(s.num - used) > 1)
			TH_LOG("stopped at avail index %u, the guest's used index is %u",
			       s.num, used);
	if (nm_packed(q) && !nm_takes(bad))
		ASSERT_EQ(used, s.num)
			TH_LOG("stopped at 0x%08x, the guest's base is 0x%08x",
			       s.num, used);
	/* packed: the used half never moves past the guest's */
	if (nm_packed(q))
		ASSERT_EQ(used >> 16, s.num >> 16);
	ASSERT_EQ(0, nm_unprotect(q, bad));
	if (nm_takes(bad)) {
		if (s.num != used && q->idx == NDP_TX)
			ASSERT_EQ(0, nm_take_sent(g, q->posted - 1))
				TH_LOG("the chain was taken, its frame not sent");
		if (s.num != used && q->idx == NDP_RX)
			g->rx_frames++;
	}
	nm_repair(g, q);
	ASSERT_EQ(0, kvio_state(g->c, "base", g->dev, VHOST_SET_VRING_BASE,
				q->idx, used))
		TH_LOG("SET_VRING_BASE: %s", strerror(errno));
	ASSERT_EQ(0, nm_backend(g, q->idx, g->backend))
		TH_LOG("attach: %s", strerror(errno));
	ASSERT_EQ(0, ndp_kick_now(q));
	return s.num;
}

/* close() of each device, timed: it must not wait on a stuck worker. */
static long nm_close(struct __test_metadata *_metadata, struct nm *nm)
{
	long t0, ms, worst = 0;
	int i;

	for (i = 0; i < 2; i++) {
		t0 = ndp_now_ms();
		EXPECT_EQ(0, close(nm->p->dev[i].dev));
		ms = ndp_now_ms() - t0;
		nm->p->dev[i].dev = -1;
		EXPECT_GT(NM_CLOSE_MS, ms) TH_LOG("close() took %ld ms", ms);
		worst = ms > worst ? ms : worst;
	}
	return worst;
}

/* One malformed ring */

FIXTURE(malformed) {
	struct nm *nm;
};

FIXTURE_VARIANT(malformed) {
	enum nm_class bad;
	unsigned int num;	/* ring size; 0: 256 */
	__u64 features;		/* 0: NDP_F_QEMU */
	unsigned int rxbuf;	/* receive buffer size; 0: 2048, a frame */
};

FIXTURE_SETUP(malformed)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
}

FIXTURE_TEARDOWN(malformed)
{
	nm_free(self->nm);
}

static void nm_case(struct __test_metadata *_metadata, struct nm *nm,
		    enum ndp_queue qi, enum nm_class bad)
{
	struct ndp *a = &nm->p->dev[0], *b = &nm->p->dev[1];
	struct ndp_vq *q = &a->vq[qi];
	const int tx = qi == NDP_TX, max = 1;
	const char *why = nm_why_on(bad, qi);
	unsigned int lines, stopped, used = vq_base(&q->vq);
	__u64 signals;
	long t0, t_err, t_close;

	nm_pace(qi, why, max);
	nm_sentinel(q);
	ASSERT_EQ(0, nm_corrupt(a, q, bad)) TH_LOG("mprotect: %s", strerror(errno));
	t0 = ndp_now_ms();
	ASSERT_EQ(0, nm_trigger(nm, a, q));
	signals = ndp_wait_efd(q->err, NM_ERR_MS);
	t_err = ndp_now_ms() - t0;
	ASSERT_NE(0, signals) TH_LOG("no error eventfd signal in %d ms", NM_ERR_MS);
	/* stopped: the guest's driver may look at its ring again */
	if (bad == NM_P_DESC_NONE)
		ASSERT_EQ(0, nm_protect_desc(q, PROT_READ));

	/* stopped: a kick does nothing; the rest of the worker's rings work */
	ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_EQ(0, nm_traffic(nm, a, tx ? 0 : NM_FRAMES, tx ? NM_FRAMES : 0))
		TH_LOG("the other ring of the device stopped too");
	ASSERT_EQ(0, nm_traffic(nm, b, NM_FRAMES, NM_FRAMES))
		TH_LOG("another device of the same owner stopped too");
	EXPECT_TRUE(nm_untouched(q)) TH_LOG("a used element for the bad chain");
	signals += ndp_read_efd(q->err);
	lines = nm_lines(_metadata, nm, 0, qi, why, max);
	nm_broken(_metadata, nm, qi, why, nm_packed(q) ? -1 :
		  bad == NM_HEAD_RANGE ? (long)q->vq.cfg.num :
		  bad == NM_AVAIL_JUMP || bad == NM_USED_RO ? -1 :
		  (long)q->last_id);
	EXPECT_EQ(lines, signals) TH_LOG("error eventfd signalled %llu times",
					 (unsigned long long)signals);
	EXPECT_TRUE(ndp_pair_quiet(nm->p, q));

	stopped = nm_restart(_metadata, a, q, bad);
	ASSERT_EQ(0, nm_traffic(nm, a, NM_FRAMES, NM_FRAMES))
		TH_LOG("no traffic after the restart");
	nm_scan(nm);
	EXPECT_EQ(lines, nm->nlines) TH_LOG("lines logged after the restart");
	nm_broken(_metadata, nm, qi, why, -1);
	EXPECT_EQ(0, ndp_read_efd(q->err));
	EXPECT_TRUE(ndp_pair_quiet(nm->p, q));
	t_close = nm_close(_metadata, nm);
	/* The base stays on the bad chain (a read-only used ring aside). */
	if (!nm_takes(bad))
		EXPECT_EQ(used, stopped);
	ksft_print_msg("%s: error fd in %ld ms, %u line(s), close %ld ms\n",
		       tx ? "TX" : "RX", t_err, lines, t_close);
}

/* Both rings, each with fresh devices, unless the class is one ring's. */
TEST_F_TIMEOUT(malformed, ring, 120)
{
	bool packed = variant->features & NDP_F_PACKED;
	enum ndp_queue qi;

	/* the variant table's own consistency */
	ASSERT_TRUE(packed ? nm_packed_class(variant->bad) :
			     variant->bad < NM_P_CHAIN_RING);
	for (qi = NDP_RX; qi <= NDP_TX; qi++) {
		if (qi == NDP_RX ? variant->bad == NM_TX_WRITABLE :
		    variant->bad >= NM_RX_READABLE &&
		    variant->bad <= NM_RX_READABLE_2ND)
			continue;
		self->nm = nm_new(_metadata, variant->num ?: 256,
				  variant->features ?: NDP_F_QEMU,
				  variant->rxbuf ?: 2048);
		nm_case(_metadata, self->nm, qi, variant->bad);
		nm_free(self->nm);
		self->nm = NULL;
	}
}

FIXTURE_VARIANT_ADD(malformed, loop2) { .bad = NM_LOOP2 };

FIXTURE_VARIANT_ADD(malformed, loop_ring) { .bad = NM_LOOP_RING };

/* as many descriptors as iovecs the device has room for (UIO_MAXIOV) */
FIXTURE_VARIANT_ADD(malformed, loop_ring_1024) {
	.bad = NM_LOOP_RING, .num = 1024,
};

FIXTURE_VARIANT_ADD(malformed, next_range) { .bad = NM_NEXT_RANGE };

FIXTURE_VARIANT_ADD(malformed, head_range) { .bad = NM_HEAD_RANGE };

FIXTURE_VARIANT_ADD(malformed, addr_outside) { .bad = NM_ADDR_OUTSIDE };

FIXTURE_VARIANT_ADD(malformed, len_huge) { .bad = NM_LEN_HUGE };

FIXTURE_VARIANT_ADD(malformed, ind_nested) { .bad = NM_IND_NESTED };

FIXTURE_VARIANT_ADD(malformed, ind_len0) { .bad = NM_IND_LEN0 };

FIXTURE_VARIANT_ADD(malformed, ind_len_odd) { .bad = NM_IND_LEN_ODD };

FIXTURE_VARIANT_ADD(malformed, ind_outside) { .bad = NM_IND_OUTSIDE };

FIXTURE_VARIANT_ADD(malformed, ind_next_range) { .bad = NM_IND_NEXT_RANGE };

FIXTURE_VARIANT_ADD(malformed, ind_loop) { .bad = NM_IND_LOOP };

FIXTURE_VARIANT_ADD(malformed, ind_next) { .bad = NM_IND_NEXT };

FIXTURE_VARIANT_ADD(malformed, avail_jump) { .bad = NM_AVAIL_JUMP };

FIXTURE_VARIANT_ADD(malformed, tx_writable) { .bad = NM_TX_WRITABLE };

FIXTURE_VARIANT_ADD(malformed, rx_readable) { .bad = NM_RX_READABLE };

/* the frame needs two buffers of 1K: a good one, then the bad one */
FIXTURE_VARIANT_ADD(malformed, rx_readable_2nd) {
	.bad = NM_RX_READABLE_2ND, .rxbuf = 1024,
};

FIXTURE_VARIANT_ADD(malformed, wr_then_rd) { .bad = NM_WR_THEN_RD };

FIXTURE_VARIANT_ADD(malformed, empty) { .bad = NM_EMPTY };

/* with EVENT_IDX the device finds out after it took the chain */
FIXTURE_VARIANT_ADD(malformed, used_ro) { .bad = NM_USED_RO };

/* without, already when it asks the guest not to kick */
FIXTURE_VARIANT_ADD(malformed, used_ro_noevidx) {
	.bad = NM_USED_RO, .features = NDP_F_MRG | NDP_F_INDIRECT,
};

/*
 * Packed rings (kvio-net offers VIRTIO_F_RING_PACKED): the classes that
 * apply to them, and theirs.  The device writes its used entries into
 * the descriptor ring, so "used ring read-only" becomes a read-only
 * descriptor ring, and a read-only device event area.
 */
#define NM_F_PACKED	(NDP_F_QEMU | NDP_F_PACKED)

FIXTURE_VARIANT_ADD(malformed, packed_chain_ring) {
	.bad = NM_P_CHAIN_RING, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_chain_ring_1024) {
	.bad = NM_P_CHAIN_RING, .num = 1024, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_id_range) {
	.bad = NM_P_ID_RANGE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_addr_outside) {
	.bad = NM_ADDR_OUTSIDE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_len_huge) {
	.bad = NM_LEN_HUGE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_ind_nested) {
	.bad = NM_IND_NESTED, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_ind_len0) {
	.bad = NM_IND_LEN0, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_ind_len_odd) {
	.bad = NM_IND_LEN_ODD, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_ind_outside) {
	.bad = NM_IND_OUTSIDE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_ind_next) {
	.bad = NM_IND_NEXT, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_tx_writable) {
	.bad = NM_TX_WRITABLE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_rx_readable) {
	.bad = NM_RX_READABLE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_rx_readable_2nd) {
	.bad = NM_RX_READABLE_2ND, .rxbuf = 1024, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_wr_then_rd) {
	.bad = NM_WR_THEN_RD, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_empty) {
	.bad = NM_EMPTY, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_desc_ro) {
	.bad = NM_P_DESC_RO, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_desc_none) {
	.bad = NM_P_DESC_NONE, .features = NM_F_PACKED,
};

FIXTURE_VARIANT_ADD(malformed, packed_event_ro) {
	.bad = NM_P_EVENT_RO, .features = NM_F_PACKED,
};

/* in order: the same walk; the used side batches */
FIXTURE_VARIANT_ADD(malformed, packed_in_order_id_range) {
	.bad = NM_P_ID_RANGE, .features = NM_F_PACKED | NDP_F_IN_ORDER,
};

FIXTURE_VARIANT_ADD(malformed, packed_in_order_desc_ro) {
	.bad = NM_P_DESC_RO, .features = NM_F_PACKED | NDP_F_IN_ORDER,
};

FIXTURE_VARIANT_ADD(malformed, in_order_addr_outside) {
	.bad = NM_ADDR_OUTSIDE, .features = NDP_F_QEMU | NDP_F_IN_ORDER,
};

FIXTURE_VARIANT_ADD(malformed, in_order_used_ro) {
	.bad = NM_USED_RO, .features = NDP_F_QEMU | NDP_F_IN_ORDER,
};

/* The VMM and a packed ring's format and base */

FIXTURE(packed_vmm) {
	struct nm *nm;
};

FIXTURE_SETUP(packed_vmm)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->nm = nm_new(_metadata, 256, NM_F_PACKED, 2048);
}

FIXTURE_TEARDOWN(packed_vmm)
{
	nm_free(self->nm);
}

static int nm_features(struct ndp *g, __u64 f)
{
	return ioctl(g->dev, VHOST_SET_FEATURES, &f) ? errno : 0;
}

/*
 * A ring with a backend keeps its format: dropping (or adding)
 * RING_PACKED is EBUSY until every ring is detached; the dirty log's bit
 * changes as ever.  The rings still move frames after the refusal.
 */
TEST_F_TIMEOUT(packed_vmm, format_busy, 120)
{
	struct ndp *a = &self->nm->p->dev[0];
	const __u64 packed = BIT_ULL(VIRTIO_F_RING_PACKED);
	unsigned int i;

	EXPECT_EQ(EBUSY, nm_features(a, a->features & ~packed));
	EXPECT_EQ(0, nm_features(a, a->features | BIT_ULL(VHOST_F_LOG_ALL)));
	EXPECT_EQ(0, nm_features(a, a->features));
	ASSERT_EQ(0, nm_traffic(self->nm, a, NM_FRAMES, NM_FRAMES));
	/* one ring detached is not enough */
	ASSERT_EQ(0, nm_backend(a, NDP_TX, -1));
	EXPECT_EQ(EBUSY, nm_features(a, a->features & ~packed));
	ASSERT_EQ(0, nm_backend(a, NDP_RX, -1));
	EXPECT_EQ(0, nm_features(a, a->features & ~packed));
	EXPECT_EQ(0, nm_features(a, a->features));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, nm_backend(a, i, a->backend));
	ASSERT_EQ(0, nm_traffic(self->nm, a, NM_FRAMES, NM_FRAMES));
	EXPECT_TRUE(ndp_pair_quiet(self->nm->p, NULL));
}

/*
 * A base whose used position is more than a ring behind its avail one
 * names more buffers in flight than the ring holds: the backend is
 * refused (EINVAL).  Both halves the same, or a high half of 0 (used =
 * avail, as DPDK sends for a fresh ring), start; GET gives back what
 * was set.
 */
TEST_F_TIMEOUT(packed_vmm, base_distance, 120)
{
	struct ndp *a = &self->nm->p->dev[0];
	struct vhost_vring_state st = { .index = NDP_TX };
	const __u32 w = 0x8000;
	static const struct {
		__u32 base, get;
		int err;
	} c[] = {
		{ 5 | w, 5 | w | (5 | w) << 16, 0 },	/* high half 0 */
		{ 5 | 7 << 16, 5 | 7 << 16, EINVAL },	/* used 254 ahead */
		{ 7 | 5 << 16, 7 | 5 << 16, 0 },	/* 2 in flight */
		{ 5 | (5 | w) << 16, 5 | (5 | w) << 16, 0 },	/* 256 */
		{ (5 | w) | 4 << 16, (5 | w) | 4 << 16, EINVAL },	/* 257 */
	};
	unsigned int i;

	ASSERT_EQ(0, nm_backend(a, NDP_TX, -1));
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		st.num = c[i].base;
		ASSERT_EQ(0, ioctl(a->dev, VHOST_SET_VRING_BASE, &st));
		st.num = 0;
		ASSERT_EQ(0, ioctl(a->dev, VHOST_GET_VRING_BASE, &st));
		EXPECT_EQ(c[i].get, st.num) TH_LOG("base 0x%08x", c[i].base);
		errno = 0;
		nm_backend(a, NDP_TX, a->backend);
		EXPECT_EQ(c[i].err, errno) TH_LOG("base 0x%08x", c[i].base);
		if (!c[i].err)
			ASSERT_EQ(0, nm_backend(a, NDP_TX, -1));
	}
	/* and the ring the guest left, as it was */
	st.num = vq_base(&a->vq[NDP_TX].vq);
	ASSERT_EQ(0, ioctl(a->dev, VHOST_SET_VRING_BASE, &st));
	ASSERT_EQ(0, nm_backend(a, NDP_TX, a->backend));
	ASSERT_EQ(0, nm_traffic(self->nm, a, NM_FRAMES, NM_FRAMES));
	EXPECT_TRUE(ndp_pair_quiet(self->nm->p, NULL));
}

/* Many breaks */

FIXTURE(storm) {
	struct nm *nm;
};

FIXTURE_SETUP(storm)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->nm = nm_new(_metadata, 1024, NDP_F_QEMU, 2048);
}

FIXTURE_TEARDOWN(storm)
{
	nm_free(self->nm);
}

/* Waits until the worker ran what was queued: it serves b too, in order. */
static int nm_sync(struct nm *nm)
{
	return nm_traffic(nm, &nm->p->dev[1], 1, 1);
}

/*
 * A stopped ring stays stopped: 200 kicks, one line, one signal.  Then
 * 200 restarts, each broken again at once: 200 signals, but the log
 * stays ratelimited (10 lines per 5 s).
 */
TEST_F_TIMEOUT(storm, ratelimit, 120)
{
	struct nm *nm = self->nm;
	struct ndp *a = &nm->p->dev[0];
	struct ndp_vq *q = &a->vq[NDP_TX];
	const char *why = nm_why[NM_LOOP2];
	unsigned int used = vq_base(&q->vq), from, lines, i;
	__u64 signals = 0, v;
	long t0, ms;

	nm_pace(NDP_TX, why, 1);
	nm_sentinel(q);
	ASSERT_EQ(0, nm_corrupt(a, q, NM_LOOP2));
	for (i = 0; i < NM_BAD_KICKS; i++)
		ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_NE(0, ndp_wait_efd(q->err, NM_ERR_MS));
	ASSERT_EQ(0, nm_sync(nm));
	EXPECT_EQ(0, ndp_read_efd(q->err)) TH_LOG("signalled again while stopped");
	EXPECT_EQ(1, nm_lines(_metadata, nm, 0, NDP_TX, why, 1));

	nm_pace(NDP_TX, why, NM_RL_BURST);	/* a fresh ratelimit window */
	from = nm->nlines;
	t0 = ndp_now_ms();
	for (i = 0; i < NM_BAD_KICKS; i++) {
		ASSERT_EQ(0, nm_backend(a, NDP_TX, -1));
		ASSERT_EQ(0, kvio_state(a->c, "base", a->dev,
					VHOST_SET_VRING_BASE, NDP_TX, used));
		ASSERT_EQ(0, nm_backend(a, NDP_TX, a->backend));
		ASSERT_EQ(0, ndp_kick_now(q));
		v = ndp_wait_efd(q->err, NM_ERR_MS);
		ASSERT_NE(0, v) TH_LOG("restart %u: no error eventfd signal", i);
		signals += v;
	}
	ms = ndp_now_ms() - t0;
	ASSERT_EQ(0, nm_sync(nm));
	signals += ndp_read_efd(q->err);
	EXPECT_EQ(NM_BAD_KICKS, signals);
	/*
	 * The kernel's window starts at its first line, not at our pacing:
	 * the storm may end one window and fill the next.
	 */
	lines = nm_lines(_metadata, nm, from, NDP_TX, why,
			 NM_RL_BURST * (2 + ms / NM_RL_MS));
	EXPECT_TRUE(nm_untouched(q));
	ksft_print_msg("%u breaks in %ld ms: %llu signals, %u lines; close %ld ms\n",
		       NM_BAD_KICKS, ms, (unsigned long long)signals, lines,
		       nm_close(_metadata, nm));
}

struct nm_kicker {
	int fd;
	int done;	/* kicks so far */
	int stop;	/* then go on until told to stop */
	int fail;
};

static void *nm_kicker(void *arg)
{
	struct nm_kicker *k = arg;
	__u64 one = 1;
	int i;

	for (i = 0; i < NM_FLOOD_KICKS ||
	     !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE); i++) {
		if (write(k->fd, &one, sizeof(one)) != sizeof(one))
			k->fail++;
		__atomic_store_n(&k->done, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * The ring breaks (a loop through all 1024 descriptors) while kicks come
 * in, 10000 and more until the traffic is through: the shared worker
 * still serves the device's other ring and the other device, and the
 * owner closes everything at once.
 */
TEST_F_TIMEOUT(storm, flood, 120)
{
	struct nm *nm = self->nm;
	struct ndp *a = &nm->p->dev[0], *b = &nm->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_TX];
	const char *why = nm_why[NM_LOOP_RING];
	struct nm_kicker k = { .fd = q->kick };
	long t0, t_traffic, t_close;
	pthread_t th;

	nm_pace(NDP_TX, why, 1);
	nm_sentinel(q);
	ASSERT_EQ(0, pthread_create(&th, NULL, nm_kicker, &k));
	while (__atomic_load_n(&k.done, __ATOMIC_ACQUIRE) < NM_FLOOD_KICKS / 10)
		usleep(100);
	ASSERT_EQ(0, nm_corrupt(a, q, NM_LOOP_RING));
	t0 = ndp_now_ms();
	EXPECT_EQ(0, nm_traffic(nm, a, 0, NM_FLOOD_FRAMES));
	EXPECT_EQ(0, nm_traffic(nm, b, NM_FLOOD_FRAMES, NM_FLOOD_FRAMES));
	t_traffic = ndp_now_ms() - t0;
	__atomic_store_n(&k.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	EXPECT_EQ(0, k.fail);
	EXPECT_NE(0, ndp_wait_efd(q->err, NM_ERR_MS));
	ASSERT_EQ(0, nm_sync(nm));
	EXPECT_EQ(0, ndp_read_efd(q->err)) TH_LOG("signalled again while stopped");
	EXPECT_TRUE(nm_untouched(q));
	EXPECT_EQ(1, nm_lines(_metadata, nm, 0, NDP_TX, why, 1));

	t0 = ndp_now_ms();
	t_close = nm_close(_metadata, nm);
	close(a->backend);
	close(b->backend);
	a->backend = -1;
	b->backend = -1;
	ksft_print_msg("traffic %ld ms under %d kicks; close %ld ms each at most, %ld ms in all\n",
		       t_traffic, k.done, t_close, ndp_now_ms() - t0);
	EXPECT_GT(NM_CLOSE_MS, ndp_now_ms() - t0);
}

/*
 * A guest that makes the device walk: T0 holds 65536 empty descriptors
 * chained in order.  With @next, the chain is 255 descriptors
 * INDIRECT(T0)|NEXT and then INDIRECT(T1), T1 the slot's own table (the
 * spec forbids INDIRECT with NEXT); without, it is INDIRECT(T0) alone,
 * 65536 descriptors for one chain, more than the ring has.  Every avail
 * slot names that chain: read naively, 256 x 256 x 65536 descriptors.
 */
static void nm_walk_chain(struct ndp *g, struct ndp_vq *q, int next)
{
	unsigned int num = q->vq.cfg.num, n = next ? NM_WALK_DIRECT + 1 : 1, i;
	struct vring_desc *t0 = ndp_hva(g, NM_WALK_TABLE), *t1;
	const __u32 t0_len = NM_WALK_ENTRIES * sizeof(*t0);
	__u64 buf = NDP_GPA_BASE + 0x400000ULL, t1_gpa;
	__u16 pos[NM_WALK_DIRECT + 1], start = q->vq.avail_idx;
	int head = vq_reserve(&q->vq, n, pos);

	if (head < 0)
		return;
	for (i = 0; i < NM_WALK_ENTRIES; i++)
		vq_desc_set(t0 + i, buf, 0,
			    i + 1 < NM_WALK_ENTRIES ? VRING_DESC_F_NEXT : 0,
			    i + 1);
	t1 = vq_ind(&q->vq, head, &t1_gpa);
	vq_desc_set(t1, buf, NDP_HDR_LEN + 60, 0, 0);
	for (i = 0; i + 1 < n; i++)
		vq_desc_write(&q->vq, pos[i], NM_WALK_TABLE, t0_len,
			      VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
			      pos[i + 1]);
	if (next)
		vq_desc_write(&q->vq, pos[i], t1_gpa, sizeof(*t1),
			      VRING_DESC_F_INDIRECT, 0);
	else
		vq_desc_write(&q->vq, head, NM_WALK_TABLE, t0_len,
			      VRING_DESC_F_INDIRECT, 0);
	for (i = 0; i < num; i++)
		vq_avail_write(&q->vq, start + i, head);
	vq_avail_idx_write(&q->vq, start + num);
}

/*
 * The ring is stopped at the first descriptor that shows the chain is
 * bad, within NM_WALK_MS of the kick; meanwhile the worker serves the
 * device's other ring and the owner's other device.
 */
static void nm_walk(struct __test_metadata *_metadata, struct nm *nm,
		    int next)
{
	struct ndp *a = &nm->p->dev[0], *b = &nm->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_TX];
	const char *why = next ? "indirect descriptor with next" :
				 "descriptor chain too long";
	long t0, t_err;

	nm_pace(NDP_TX, why, 1);
	nm_sentinel(q);
	nm_walk_chain(a, q, next);
	t0 = ndp_now_ms();
	ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_NE(0, ndp_wait_efd(q->err, NM_ERR_MS))
		TH_LOG("no error eventfd signal in %d ms", NM_ERR_MS);
	t_err = ndp_now_ms() - t0;
	EXPECT_GT(NM_WALK_MS, t_err) TH_LOG("the ring stopped after %ld ms", t_err);
	EXPECT_EQ(0, nm_traffic(nm, a, 0, NM_FRAMES));
	EXPECT_EQ(0, nm_traffic(nm, b, NM_FRAMES, NM_FRAMES));
	EXPECT_TRUE(nm_untouched(q));
	EXPECT_EQ(0, ndp_read_efd(q->err)) TH_LOG("signalled again while stopped");
	EXPECT_EQ(1, nm_lines(_metadata, nm, 0, NDP_TX, why, 1));
	EXPECT_TRUE(ndp_pair_quiet(nm->p, q));
	ksft_print_msg("stopped %ld ms after the kick; close %ld ms\n", t_err,
		       nm_close(_metadata, nm));
}

TEST_F_TIMEOUT(storm, walk_ind_next, 120)
{
	nm_walk(_metadata, self->nm, 1);
}

TEST_F_TIMEOUT(storm, walk_empty, 120)
{
	nm_walk(_metadata, self->nm, 0);
}

/*
 * Setting the backend a broken ring already has restarts it, as a new
 * backend does (Documentation/design.rst): at its base, where the guest
 * repaired the chain, without another kick.
 */
TEST_F_TIMEOUT(storm, same_backend, 120)
{
	struct nm *nm = self->nm;
	struct ndp *a = &nm->p->dev[0];
	struct ndp_vq *q = &a->vq[NDP_TX];
	const char *why = nm_why[NM_LOOP2];

	nm_pace(NDP_TX, why, 1);
	nm_sentinel(q);
	ASSERT_EQ(0, nm_corrupt(a, q, NM_LOOP2));
	ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_NE(0, ndp_wait_efd(q->err, NM_ERR_MS));
	nm_repair(a, q);
	ASSERT_EQ(0, nm_backend(a, NDP_TX, a->backend))
		TH_LOG("the same backend again: %s", strerror(errno));
	EXPECT_EQ(0, nm_traffic(nm, a, NM_FRAMES, 0))
		TH_LOG("the ring did not restart");
	EXPECT_EQ(1, nm_lines(_metadata, nm, 0, NDP_TX, why, 1));
	EXPECT_EQ(0, ndp_read_efd(q->err));
	EXPECT_TRUE(ndp_pair_quiet(nm->p, q));
}

TEST_HARNESS_MAIN
