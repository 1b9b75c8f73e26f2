// SPDX-License-Identifier: GPL-2.0
/*
 * net_datapath, the traffic: frames of known content in descriptor chains
 * of several shapes (split, scattered, indirect), sent by the guest and
 * checked byte for byte on the host side; frames injected on the host
 * side and checked byte for byte in the guest's receive buffers, with the
 * vnet header, num_buffers and the used lengths; optionally the dirty log.
 * Each check here is one the virtio spec or the vhost uAPI makes; what
 * upstream does beyond that is compared by net_datapath.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "net_datapath.h"

#define NDP_ETH_P	0x88b5
#define NDP_SPREAD	64	/* gap between the pieces of one buffer */
#define NDP_IDLE_MS	3000	/* fail after this long without progress */
#define NDP_RX_AHEAD	64	/* frames injected, not yet received */
#define NDP_LOCKSTEP	8	/* first frames: one in flight at a time */
#define NDP_MAX_NBUF	64
#define NDP_FAIL_SHOWN	8	/* dirty-log pages described */
#define NDP_STREAM_MAX	(NDP_MAX_NBUF * 2048)
#define NOTE_CALLS	1	/* calls while the driver suppressed them */
#define NOTE_NUMBUF	2	/* num_buffers without MRG_RXBUF */

/*
 * Frame seq of one direction: sizes from 60 to 1514 (around the 1024-byte
 * page split of the dirty-log buffers too), the test EtherType, the
 * sequence number, then a pattern.  Returns the length.
 */
unsigned int ndp_frame(__u8 *f, int dir, unsigned int seq)
{
	static const unsigned short sizes[] = {
		60, 1514, 61, 1000, 64, 1513, 127, 1011, 128, 1012, 255, 1013,
		256, 1500, 511, 999, 512, 1023, 1024, 777, 100, 1400,
	};
	static const __u8 guest[ETH_ALEN] = { 0x02, 0x6b, 0x76, 0, 0, 1 };
	static const __u8 host[ETH_ALEN] = { 0x02, 0x6b, 0x76, 0, 0, 2 };
	unsigned int len = sizes[(seq + dir * 5) % ARRAY_SIZE(sizes)], i;
	__be32 be = htonl(seq);

	memcpy(f, dir == NDP_DIR_TX ? host : guest, ETH_ALEN);
	memcpy(f + ETH_ALEN, dir == NDP_DIR_TX ? guest : host, ETH_ALEN);
	f[12] = NDP_ETH_P >> 8;
	f[13] = NDP_ETH_P & 0xff;
	memcpy(f + 14, &be, sizeof(be));
	f[18] = dir;
	for (i = 19; i < len; i++)
		f[i] = (__u8)(seq * 31 + i * 7 + dir * 101);
	return len;
}

/* Piece i of a chain holds stream bytes [off_i, off_i + len_i). */
static void ndp_place(struct ndp_chain *ch, __u64 gpa, int indirect,
		      unsigned int n, const __u32 *len)
{
	__u64 off = 0;
	unsigned int i;

	ch->n = n;
	ch->indirect = indirect;
	for (i = 0; i < n; i++) {
		ch->gpa[i] = gpa + off + i * NDP_SPREAD;
		ch->len[i] = len[i];
		off += len[i];
	}
}

static void ndp_scatter(struct ndp *g, const struct ndp_chain *ch,
			const __u8 *src)
{
	unsigned int i;

	for (i = 0; i < ch->n; i++) {
		memcpy(ndp_hva(g, ch->gpa[i]), src, ch->len[i]);
		src += ch->len[i];
	}
}

/* The driver knows [addr, addr + len) written: its pages must be logged. */
static void ndp_mark(struct ndp *g, __u64 addr, __u64 len)
{
	__u64 gpa = ndp_gpa(g, addr), p;

	for (p = gpa / NDP_PAGE; len && p <= (gpa + len - 1) / NDP_PAGE; p++)
		g->expect[p / 8] |= 1 << (p % 8);
}

/* Copies the first len bytes of a chain; marks them in g->expect. */
static void ndp_gather(struct ndp *g, const struct ndp_chain *ch, __u8 *dst,
		       __u32 len)
{
	unsigned int i;
	__u32 n;

	for (i = 0; i < ch->n && len; i++) {
		n = len < ch->len[i] ? len : ch->len[i];
		memcpy(dst, ndp_hva(g, ch->gpa[i]), n);
		ndp_mark(g, ch->gpa[i], n);
		dst += n;
		len -= n;
	}
}

/* Every byte of a chain, except the num_buffers field (compared apart). */
static __u64 ndp_chain_hash(struct ndp *g, const struct ndp_chain *ch,
			    __u64 h, int first)
{
	unsigned int i;
	__u8 *p;

	for (i = 0; i < ch->n; i++) {
		p = ndp_hva(g, ch->gpa[i]);
		if (!(first && i == 0 && ch->len[0] >= NDP_HDR_LEN)) {
			h = ndp_hash(h, p, ch->len[i]);
			continue;
		}
		h = ndp_hash(h, p, NDP_NUMBUF_OFF);
		h = ndp_hash(h, p + NDP_HDR_LEN, ch->len[i] - NDP_HDR_LEN);
	}
	return h;
}

/* TX */

/* The shapes a driver may give a frame: one piece, split, indirect. */
static void ndp_tx_chain(struct ndp *g, unsigned int n, __u32 len,
			 struct ndp_chain *ch)
{
	__u64 gpa = g->bus + NDP_TX_OFF +
		    (n % g->vq[NDP_TX].nslots) * 0x1000UL;
	int ind = ndp_has(g, VIRTIO_RING_F_INDIRECT_DESC);
	__u32 all = NDP_HDR_LEN + len;
	__u32 l[NDP_MAX_PIECES];

	switch (n % 5) {
	case 0:
		ndp_place(ch, gpa, 0, 1, &all);
		break;
	case 1:
		l[0] = NDP_HDR_LEN, l[1] = len;
		ndp_place(ch, gpa, 0, 2, l);
		break;
	case 2:
		l[0] = NDP_HDR_LEN, l[1] = 1, l[2] = 13, l[3] = len - 14;
		ndp_place(ch, gpa, 0, 4, l);
		break;
	case 3:	/* with no indirect: the header split across descriptors */
		l[0] = ind ? NDP_HDR_LEN : 5;
		l[1] = ind ? len / 2 : 27;
		l[2] = all - l[0] - l[1];
		ndp_place(ch, gpa, ind, 3, l);
		break;
	default:
		l[0] = ind ? all : 7, l[1] = all - l[0];
		ndp_place(ch, gpa, ind, ind ? 1 : 2, l);
		break;
	}
}

/* Transmit buffer serial: its frame, behind a zero vnet header. */
void ndp_tx_fill(struct ndp *g, unsigned int serial, struct ndp_chain *ch)
{
	__u8 s[NDP_HDR_LEN + NDP_MAX_FRAME] = { 0 };
	unsigned int len = ndp_frame(s + NDP_HDR_LEN, NDP_DIR_TX, serial);

	ndp_tx_chain(g, serial, len, ch);
	ndp_scatter(g, ch, s);
}

static int ndp_tx_post(struct ndp *g)
{
	struct ndp_vq *q = &g->vq[NDP_TX];
	struct ndp_chain ch;
	int n = 0;

	while (q->posted < g->cfg->tx && ndp_slot_free(q) &&
	       (q->posted >= NDP_LOCKSTEP || q->posted == g->tx_done)) {
		ndp_tx_fill(g, q->posted, &ch);
		ndp_post(g, q, &ch);
		n++;
	}
	ndp_kick(g, q);
	return n;
}

static int ndp_tx_reap(struct ndp *g)
{
	struct ndp_ev e = { .stream = NDP_TX_USED };
	struct ndp_vq *q = &g->vq[NDP_TX];
	int n = 0;

	while (ndp_used(g, q, &e.seq, &e.len) > 0) {
		e.id = (e.seq % q->nslots) * q->k;
		/* the chain has no device-writable part */
		if (e.len)
			ndp_fail(g, "tx frame %u: used len %u, not 0", e.seq,
				 e.len);
		ndp_ev_add(g, &e);
		g->tx_done++;
		n++;
	}
	return n;
}

static void ndp_mismatch(struct ndp *g, const char *what, unsigned int seq,
			 const __u8 *got, const __u8 *want, size_t len)
{
	size_t i;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	if (i < len)
		ndp_fail(g, "%s %u: byte %zu is %#x, not %#x", what, seq, i,
			 got[i], want[i]);
}

/* Frames the guest sent, as the host side sees them. */
static int ndp_wire(struct ndp *g)
{
	__u8 f[2048], want[NDP_MAX_FRAME];
	struct ndp_ev e = { .stream = NDP_WIRE };
	struct sockaddr_ll ll;
	socklen_t sl;
	ssize_t len;
	int n = 0;

	for (;;) {
		sl = sizeof(ll);
		len = recvfrom(g->pkt, f, sizeof(f), MSG_TRUNC,
			       (struct sockaddr *)&ll, &sl);
		if (len < 0)
			return n;
		if (ll.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (g->wire_seen >= g->cfg->tx) {
			ndp_fail(g, "a frame of %zd bytes on the wire after the %u sent",
				 len, g->cfg->tx);
			g->stop = 1;
			return n;
		}
		e.seq = g->wire_seen++;
		e.len = ndp_frame(want, NDP_DIR_TX, e.seq);
		if ((size_t)len != e.len)
			ndp_fail(g, "tx frame %u: %zd bytes on the wire, sent %u",
				 e.seq, len, e.len);
		else
			ndp_mismatch(g, "tx frame", e.seq, f, want, len);
		e.len = len;
		e.hash = ndp_hash(0xcbf29ce484222325ULL, f,
				  (size_t)len < sizeof(f) ? (size_t)len : sizeof(f));
		ndp_ev_add(g, &e);
		n++;
	}
}

/* RX */

static void ndp_rx_chain(struct ndp *g, unsigned int serial,
			 struct ndp_chain *ch)
{
	const struct ndp_cfg *cfg = g->cfg;
	unsigned int slot = serial % g->vq[NDP_RX].nslots;
	int ind = ndp_has(g, VIRTIO_RING_F_INDIRECT_DESC);
	__u64 gpa = g->bus + NDP_RX_OFF;
	__u32 l[3] = { NDP_HDR_LEN, 700, 900 };

	if (ndp_has(g, VIRTIO_NET_F_MRG_RXBUF)) {
		if (cfg->flags & NDP_DIRTY) {
			/* 1K at the end of one page, 1K at the start of the next */
			gpa += slot * 0x2000UL + 0xc00;
			l[0] = cfg->rxbuf;
		} else {
			gpa += slot * 0x800UL;
			l[0] = cfg->rxbuf ? cfg->rxbuf : 64 + serial * 97 % 200;
		}
		ndp_place(ch, gpa, 0, 1, l);
		return;
	}
	/* big packets: chains of 1612 bytes in three shapes */
	gpa += slot * 0x1000UL;
	switch (serial % 3) {
	case 0:
		ndp_place(ch, gpa, 0, 3, l);
		break;
	case 1:
		if (!ind)
			l[0] = 512, l[1] = 1100;
		ndp_place(ch, gpa, ind, ind ? 3 : 2, l);
		break;
	default:
		l[0] = 1612;
		ndp_place(ch, gpa, 0, 1, l);
		break;
	}
}

static __u32 ndp_chain_len(const struct ndp_chain *ch)
{
	__u32 len = 0;
	unsigned int i;

	for (i = 0; i < ch->n; i++)
		len += ch->len[i];
	return len;
}

/* Receive buffer serial, filled with what "not written" looks like. */
void ndp_rx_fill(struct ndp *g, unsigned int serial, struct ndp_chain *ch)
{
	unsigned int i;

	ndp_rx_chain(g, serial, ch);
	for (i = 0; i < ch->n; i++)
		memset(ndp_hva(g, ch->gpa[i]), NDP_RX_FILL, ch->len[i]);
}

static int ndp_rx_refill(struct ndp *g)
{
	struct ndp_vq *q = &g->vq[NDP_RX];
	struct ndp_chain ch;
	int n = 0;

	while (ndp_slot_free(q)) {
		ndp_rx_fill(g, q->posted, &ch);
		ndp_post(g, q, &ch);
		n++;
	}
	ndp_kick(g, q);
	return n;
}

int ndp_rx_inject(struct ndp *g)
{
	__u8 f[NDP_MAX_FRAME];
	unsigned int len;
	int n = 0;

	while (g->rx_sent < g->cfg->rx &&
	       g->rx_sent - g->rx_frames <
	       (g->rx_sent < NDP_LOCKSTEP ? 1 : NDP_RX_AHEAD)) {
		len = ndp_frame(f, NDP_DIR_RX, g->rx_sent);
		if (send(g->pkt, f, len, 0) != (ssize_t)len) {
			if (errno != EAGAIN && errno != ENOBUFS) {
				ndp_fail(g, "send on the host side: %s",
					 strerror(errno));
				g->stop = 1;
			}
			break;
		}
		g->rx_sent++;
		n++;
	}
	return n;
}

static void ndp_rx_check(struct ndp *g, struct ndp_ev *e, const __u8 *s)
{
	__u8 want[NDP_MAX_FRAME];
	unsigned int len = ndp_frame(want, NDP_DIR_RX, e->seq);
	__u16 nb;

	memcpy(&nb, s + NDP_NUMBUF_OFF, sizeof(nb));
	if (e->len != NDP_HDR_LEN + len) {
		ndp_fail(g, "rx frame %u: used lengths add up to %u, frame and header are %u",
			 e->seq, e->len, NDP_HDR_LEN + len);
		return;
	}
	ndp_mismatch(g, "rx frame", e->seq, s + NDP_HDR_LEN, want, len);
	/* no GUEST_CSUM, no GUEST_TSO*: flags 0, gso_type NONE */
	if (s[0] || s[1])
		ndp_fail(g, "rx frame %u: vnet header flags %#x gso_type %#x",
			 e->seq, s[0], s[1]);
	if (ndp_has(g, VIRTIO_NET_F_MRG_RXBUF) && nb != e->nbufs)
		ndp_fail(g, "rx frame %u: num_buffers %u, took %u buffers",
			 e->seq, nb, e->nbufs);
}

/* The buffers of one frame are all used: check and record it. */
static void ndp_rx_frame(struct ndp *g)
{
	static __u8 s[NDP_STREAM_MAX];
	struct ndp_ev e = {
		.stream = NDP_RX_FRAME, .seq = g->rx_frames,
		.nbufs = g->asm_n, .hash = 0xcbf29ce484222325ULL,
	};
	struct ndp_chain ch;
	unsigned int i;
	__u16 nb;

	for (i = 0; i < g->asm_n; i++) {
		ndp_rx_chain(g, g->asm_slot[i], &ch);
		ndp_gather(g, &ch, s + e.len, g->asm_len[i]);
		e.len += g->asm_len[i];
		e.hash = ndp_chain_hash(g, &ch, e.hash, !i);
	}
	ndp_rx_check(g, &e, s);
	memcpy(e.hdr, s, NDP_HDR_LEN);
	memcpy(&nb, s + NDP_NUMBUF_OFF, sizeof(nb));
	if (ndp_has(g, VIRTIO_NET_F_MRG_RXBUF)) {
		e.aux = nb;
	} else {
		/* the spec wants 1; vhost-net before 6.14 leaves it alone */
		memset(e.hdr + NDP_NUMBUF_OFF, 0, 2);
		g->nb_one += nb == 1;
		g->nb_fill += nb == (NDP_RX_FILL << 8 | NDP_RX_FILL);
	}
	ndp_ev_add(g, &e);
	g->rx_frames++;
	g->asm_n = 0;
}

/* A used element of the receive queue: part of the frame being received. */
static void ndp_rx_buf(struct ndp *g, unsigned int serial, __u32 len)
{
	int mrg = ndp_has(g, VIRTIO_NET_F_MRG_RXBUF);
	struct ndp_chain ch;
	__u16 nb = 1;

	ndp_rx_chain(g, serial, &ch);
	if (len > ndp_chain_len(&ch) || (mrg && !g->asm_n && len < NDP_HDR_LEN)) {
		ndp_fail(g, "rx frame %u: used len %u for a buffer of %u",
			 g->rx_frames, len, ndp_chain_len(&ch));
		g->stop = 1;
		return;
	}
	if (!g->asm_n) {
		if (mrg)
			memcpy(&nb, (__u8 *)ndp_hva(g, ch.gpa[0]) +
			       NDP_NUMBUF_OFF, sizeof(nb));
		if (!nb || nb > NDP_MAX_NBUF || nb > g->vq[NDP_RX].nslots) {
			ndp_fail(g, "rx frame %u: num_buffers %u", g->rx_frames,
				 nb);
			g->stop = 1;
			return;
		}
		g->asm_need = nb;
	}
	g->asm_slot[g->asm_n] = serial;
	g->asm_len[g->asm_n++] = len;
	if (g->asm_n == g->asm_need)
		ndp_rx_frame(g);
}

static int ndp_rx_reap(struct ndp *g)
{
	struct ndp_ev e = { .stream = NDP_RX_USED };
	struct ndp_vq *q = &g->vq[NDP_RX];
	int n = 0;

	while (!g->stop && ndp_used(g, q, &e.seq, &e.len) > 0) {
		e.id = (e.seq % q->nslots) * q->k;
		ndp_ev_add(g, &e);
		g->rx_used++;
		if (g->rx_frames >= g->cfg->rx) {
			ndp_fail(g, "rx: a used buffer after the %u frames sent",
				 g->cfg->rx);
			g->stop = 1;
			break;
		}
		ndp_rx_buf(g, e.seq, e.len);
		n++;
	}
	return n;
}

/* The traffic loop */

static int ndp_done(const struct ndp *g)
{
	return g->tx_done == g->cfg->tx && g->wire_seen == g->cfg->tx &&
	       g->rx_frames == g->cfg->rx;
}

static int ndp_step(struct ndp *g)
{
	int n = 0;

	if (g->cfg->tx)
		n += ndp_tx_post(g) + ndp_tx_reap(g) + ndp_wire(g);
	if (g->cfg->rx)
		n += ndp_rx_inject(g) + ndp_rx_refill(g) + ndp_rx_reap(g);
	return n;
}

static void ndp_stalled(struct ndp *g)
{
	const struct ndp_vq *rx = &g->vq[NDP_RX], *tx = &g->vq[NDP_TX];

	ndp_fail(g,
		 "no progress in %d ms: tx %u/%u posted, %u used, %u on the wire; rx %u/%u sent, %u received in %u buffers; in flight rx %u tx %u; kicks rx %u tx %u",
		 NDP_IDLE_MS, tx->posted, g->cfg->tx, g->tx_done, g->wire_seen,
		 g->rx_sent, g->cfg->rx, g->rx_frames, g->rx_used,
		 vq_pending(&rx->vq), vq_pending(&tx->vq), rx->kicks, tx->kicks);
	g->stop = 1;
}

/*
 * Moves frames until cfg->tx were sent and cfg->rx received, or until a
 * failure stops it.  A direction with 0 is left alone (and must not have
 * moved a frame yet).
 */
void ndp_run_traffic(struct ndp *g)
{
	long deadline = ndp_now_ms() + NDP_IDLE_MS;
	struct pollfd p = { .fd = g->pkt, .events = POLLIN };

	while (!g->stop && !ndp_done(g)) {
		if (ndp_step(g)) {
			deadline = ndp_now_ms() + NDP_IDLE_MS;
			continue;
		}
		if (ndp_now_ms() > deadline)
			ndp_stalled(g);
		else
			ndp_sleep(g, deadline);
	}
	if (g->stop)
		return;
	/* anything more is a frame or a used element too many */
	poll(&p, 1, 50);
	ndp_step(g);
}

/* Checks and records */

static void ndp_mark_used_ring(struct ndp *g, const struct ndp_vq *q,
			       unsigned int count)
{
	unsigned int i, num = g->cfg->num;

	if (!count)
		return;
	ndp_mark(g, q->used_gpa, 4);	/* flags, idx */
	for (i = 0; i < count && i < num; i++)
		ndp_mark(g, q->used_gpa + 4 + 8 * ((g->cfg->base + i) % num), 8);
	if (ndp_has(g, VIRTIO_RING_F_EVENT_IDX))	/* avail_event */
		ndp_mark(g, q->used_gpa + 4 + 8 * num, 2);
}

/*
 * After the device stopped: exactly the pages it wrote are marked (the
 * receive buffers' bytes up to the used length, and both used rings;
 * never a transmit buffer, never a buffer it did not use).
 */
static void ndp_check_log(struct ndp *g)
{
	struct ndp_ev e = { .stream = NDP_DIRTY_PAGE };
	unsigned int p, shown = 0;
	int got, want;
	__u64 v = 0;

	/*
	 * Upstream logs the whole of every receive buffer it translated
	 * through its IOTLB, not the bytes it wrote: from the reference,
	 * only a page written and not marked is wrong there.
	 */
	int over_ok = ndp_has(g, VIRTIO_F_ACCESS_PLATFORM) &&
		      !strstr(g->c->path, "kvio");

	ndp_mark_used_ring(g, &g->vq[NDP_RX], g->rx_used);
	ndp_mark_used_ring(g, &g->vq[NDP_TX], g->tx_done);
	for (p = 0; p < NDP_LOG_BYTES * 8; p++) {
		got = g->log[p / 8] >> (p % 8) & 1;
		want = g->expect[p / 8] >> (p % 8) & 1;
		if (got != want && !(over_ok && got) &&
		    shown++ < NDP_FAIL_SHOWN)
			ndp_fail(g, "dirty log: gpa %#llx %s",
				 (unsigned long long)p * NDP_PAGE,
				 got ? "marked but not written" :
				 "written but not marked");
		e.seq = p;
		if (got)
			ndp_ev_add(g, &e);
	}
	if (read(g->logfd, &v, sizeof(v)) != sizeof(v) || !v)
		ndp_fail(g, "dirty log: the log fd was never signalled");
}

static void ndp_note(struct ndp *g, __u32 kind, __u32 id, __u32 val)
{
	struct ndp_ev e = {
		.stream = NDP_NOTE, .seq = kind, .id = id, .aux = val,
	};

	ndp_ev_add(g, &e);
}

static void ndp_notes(struct ndp *g)
{
	unsigned int i;
	__u64 v;

	for (i = 0; i < 2; i++) {
		if (read(g->vq[i].call, &v, sizeof(v)) == sizeof(v))
			g->vq[i].calls += v;
		if (g->cfg->flags & NDP_SUPPRESS)
			ndp_note(g, NOTE_CALLS, i, g->vq[i].calls);
	}
	if (g->cfg->rx && !ndp_has(g, VIRTIO_NET_F_MRG_RXBUF)) {
		ndp_note(g, NOTE_NUMBUF, 1, g->nb_one);
		ndp_note(g, NOTE_NUMBUF, NDP_RX_FILL << 8 | NDP_RX_FILL,
			 g->nb_fill);
	}
}

/* The ioctl steps join the comparison as a stream of their own. */
static void ndp_steps(struct ndp *g)
{
	const struct kvio_run *r = &g->run->steps;
	struct ndp_ev e = { .stream = NDP_STEP };
	int i;

	for (i = 0; i < r->nsteps; i++) {
		e.seq = i;
		e.id = (__u32)r->steps[i].ret;
		e.len = r->steps[i].err;
		e.hash = r->steps[i].val;
		e.aux = (__u32)ndp_hash(0, r->steps[i].label,
					strlen(r->steps[i].label));
		ndp_ev_add(g, &e);
	}
}

void ndp_scenario(struct ndp *g)
{
	if (!ndp_setup(g)) {
		if (g->cfg->flags & NDP_DIRTY)
			ndp_enable_log(g);
		ndp_run_traffic(g);
		g->run->stats[NDP_RX] = g->vq[NDP_RX].vq.stats;
		g->run->stats[NDP_TX] = g->vq[NDP_TX].vq.stats;
		ndp_stop_device(g);
		if (g->log && !g->stop)
			ndp_check_log(g);
		ndp_notes(g);
	}
	ndp_steps(g);
}
