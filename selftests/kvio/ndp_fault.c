// SPDX-License-Identifier: GPL-2.0
/*
 * net_datapath's driver for the fault tests (net_malformed, net_hostile,
 * net_faults): one owner's two devices, each with a tap backend and its
 * own rings.  The tests do harm to dev[0]; dev[1] shares the owner's
 * worker and shows that the harm stays where it was done.  For
 * net_faults also the VMM's stop and restart, and traffic that goes on
 * while the host or the VMM pulls things away under it (ndp_flow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

#include "kselftest.h"
#include "net_datapath.h"

const char *ndp_dev_path(void)
{
	return kvio_env_or("KVIO_DIFF_DEV", "/dev/kvio-net");
}

int ndp_pair_ok(struct ndp_pair *p)
{
	char *m = p->run->msg + p->shown, *nl;

	while ((nl = strchr(m, '\n'))) {
		ksft_print_msg("%.*s\n", (int)(nl - m), m);
		m = nl + 1;
	}
	p->shown = m - p->run->msg;
	return !p->run->nfail;
}

void ndp_pair_free(struct ndp_pair *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < 2; i++) {
		if (p->dev[i].dev >= 0)
			close(p->dev[i].dev);
		if (p->dev[i].backend >= 0)
			close(p->dev[i].backend);
		if (p->dev[i].pkt >= 0)
			close(p->dev[i].pkt);
	}
	free(p->run);
	free(p);
}

/*
 * A packet socket gets the frames of every interface between socket()
 * and bind(): other processes' traffic, which this pair has not sent.
 */
static void ndp_drain(int pkt)
{
	char buf[64];

	while (recv(pkt, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
}

/* Taps made by this process's pairs so far, for their names. */
static int ndp_taps;

/* Two devices of this process, set up as QEMU does; NULL on failure. */
struct ndp_pair *ndp_pair_new(unsigned int num, __u64 features,
			      unsigned int rxbuf)
{
	return ndp_pair_new_on(num, features, rxbuf, 0, 0);
}

/*
 * The same, with dev[0] on the passthru macvtap @macvtap_ifindex whose
 * lower veth's peer @peer_ifindex is its host side; 0: on a tap.
 */
struct ndp_pair *ndp_pair_new_on(unsigned int num, __u64 features,
				 unsigned int rxbuf, int macvtap_ifindex,
				 int peer_ifindex)
{
	struct ndp_pair *p = calloc(1, sizeof(*p));
	struct ndp *g;
	int i;

	if (!p)
		return NULL;
	p->run = calloc(1, sizeof(*p->run));
	if (!p->run) {
		free(p);
		return NULL;
	}
	p->c.run = &p->run->steps;
	p->c.path = ndp_dev_path();
	p->c.macvtap_ifindex = macvtap_ifindex;
	/* each pair of a process names its taps apart */
	p->c.ntaps = ndp_taps;
	ndp_taps += 2;
	for (i = 0; i < 2; i++) {
		g = &p->dev[i];
		g->dev = -1;
		g->backend = -1;
		g->pkt = -1;
		p->cfg[i].num = num;
		p->cfg[i].features = features;
		p->cfg[i].rxbuf = rxbuf;
		g->c = &p->c;
		g->run = p->run;
		g->cfg = &p->cfg[i];
	}
	if (macvtap_ifindex) {
		p->cfg[0].flags = NDP_MACVTAP;
		p->dev[0].peer_ifindex = peer_ifindex;
	}
	for (i = 0; i < 2; i++) {
		if (!ndp_setup(&p->dev[i]) && !p->run->nfail)
			continue;
		ndp_pair_ok(p);
		ksft_print_msg("device setup failed\n");
		ndp_pair_free(p);
		return NULL;
	}
	for (i = 0; i < 2; i++)
		ndp_drain(p->dev[i].pkt);
	return p;
}

/*
 * Runs g's traffic until tx frames were posted and sent and rx received,
 * counting from the first; 0 leaves that ring alone, which is right only
 * while it has moved no frame (ndp_run_traffic() waits for the count).
 */
int ndp_pair_traffic(struct ndp_pair *p, struct ndp *g, unsigned int tx,
		     unsigned int rx)
{
	struct ndp_cfg *cfg = &p->cfg[g - p->dev];

	cfg->tx = tx ? g->vq[NDP_TX].posted + tx : 0;
	cfg->rx = rx ? g->rx_sent + rx : 0;
	ndp_run_traffic(g);
	return ndp_pair_ok(p) && !g->stop ? 0 : -1;
}

int ndp_kick_now(const struct ndp_vq *q)
{
	__u64 one = 1;

	return write(q->kick, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

/* The value of an eventfd once it fires, or 0 after ms. */
__u64 ndp_wait_efd(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1 ? ndp_read_efd(fd) : 0;
}

/* No ring but @bad (NULL: none) signalled its error eventfd. */
int ndp_pair_quiet(struct ndp_pair *p, const struct ndp_vq *bad)
{
	int i, j, quiet = 1;

	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			if (&p->dev[i].vq[j] != bad &&
			    ndp_read_efd(p->dev[i].vq[j].err))
				quiet = 0;
	return quiet;
}

/* The VMM's side of faults: stop, restart, swap */

static int ndp_vmm_io(struct ndp *g, const char *what, unsigned long req,
		      void *arg)
{
	if (!ioctl(g->dev, req, arg))
		return 0;
	ndp_fail(g, "%s: %s", what, strerror(errno));
	return -1;
}

static int ndp_vmm_file(struct ndp *g, const char *what, unsigned long req,
			unsigned int idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };

	return ndp_vmm_io(g, what, req, &f);
}

/* Both rings on backend @fd (-1: detached), TX first as QEMU does. */
int ndp_vmm_backend(struct ndp *g, int fd)
{
	return ndp_vmm_file(g, "backend tx", VHOST_NET_SET_BACKEND, NDP_TX,
			    fd) ||
	       ndp_vmm_file(g, "backend rx", VHOST_NET_SET_BACKEND, NDP_RX, fd);
}

/*
 * QEMU's stop: both backends detached, and where each ring stands
 * (VHOST_GET_VRING_BASE) in @base.
 */
int ndp_vmm_stop(struct ndp *g, __u16 base[2])
{
	struct vhost_vring_state s;
	unsigned int i;

	if (ndp_vmm_backend(g, -1))
		return -1;
	for (i = 0; i < 2; i++) {
		s.index = i;
		s.num = 0;
		if (ndp_vmm_io(g, "get vring base", VHOST_GET_VRING_BASE, &s))
			return -1;
		base[i] = s.num;
	}
	return 0;
}

static int ndp_vmm_ring(struct ndp *g, unsigned int idx, __u16 base)
{
	struct vhost_vring_state num = { .index = idx, .num = g->cfg->num };
	struct vhost_vring_state b = { .index = idx, .num = base };
	struct ndp_vq *q = &g->vq[idx];
	struct vhost_vring_addr a;

	vq_addr(&q->vq, idx, &a);
	return ndp_vmm_io(g, "vring num", VHOST_SET_VRING_NUM, &num) ||
	       ndp_vmm_io(g, "vring base", VHOST_SET_VRING_BASE, &b) ||
	       ndp_vmm_io(g, "vring addr", VHOST_SET_VRING_ADDR, &a) ||
	       ndp_vmm_file(g, "kick", VHOST_SET_VRING_KICK, idx, q->kick) ||
	       ndp_vmm_file(g, "call", VHOST_SET_VRING_CALL, idx, q->call) ||
	       ndp_vmm_file(g, "err", VHOST_SET_VRING_ERR, idx, q->err);
}

/* The memory table ndp_setup() gives: guest memory at NDP_GPA_BASE. */
int ndp_vmm_mem(struct ndp *g, const struct vhost_memory *m)
{
	struct vhost_memory *one = NULL;
	int ret;

	if (!m) {
		one = kvio_memtab(g->c, 1);
		kvio_region(one, 0, NDP_GPA_BASE, NDP_MEM_SIZE,
			    (unsigned long)g->mem);
		m = one;
	}
	ret = ndp_vmm_io(g, "mem table", VHOST_SET_MEM_TABLE, (void *)m);
	free(one);
	return ret;
}

/*
 * What QEMU does to start a device again after VHOST_RESET_OWNER (with
 * @owner: VHOST_SET_OWNER first), the rings from @base, the memory table
 * @m (NULL: the one of ndp_setup()), the same eventfds and backend.
 */
int ndp_vmm_start(struct ndp *g, const __u16 base[2],
		  const struct vhost_memory *m, int owner)
{
	if (owner && ndp_vmm_io(g, "owner", VHOST_SET_OWNER, NULL))
		return -1;
	return ndp_vmm_io(g, "features", VHOST_SET_FEATURES, &g->features) ||
	       ndp_vmm_mem(g, m) || ndp_vmm_ring(g, NDP_RX, base[NDP_RX]) ||
	       ndp_vmm_ring(g, NDP_TX, base[NDP_TX]) ||
	       ndp_vmm_backend(g, g->backend);
}

/* Traffic that survives faults */

int ndp_flow_init(struct ndp_flow *f, struct ndp *g)
{
	memset(f, 0, sizeof(*f));
	f->g = g;
	f->pkt[0] = g->pkt;
	f->pkt[1] = -1;
	f->rx_ch = calloc(g->vq[NDP_RX].nslots, sizeof(*f->rx_ch));
	f->last_rx_ms = ndp_now_ms();
	return f->rx_ch ? 0 : -1;
}

void ndp_flow_free(struct ndp_flow *f)
{
	free(f->rx_ch);
	f->rx_ch = NULL;
}

static void ndp_flow_bad(struct ndp_flow *f, const char *what,
			 unsigned int seq, size_t len)
{
	if (!f->bad++)
		snprintf(f->bad_msg, sizeof(f->bad_msg),
			 "%s: frame %u of %zu bytes is not the frame sent",
			 what, seq, len);
}

/* A frame of direction dir, whole: its bytes are ndp_frame()'s. */
static int ndp_flow_whole(const __u8 *f, size_t len, int dir,
			  unsigned int *seq)
{
	__u8 want[NDP_MAX_FRAME];
	__be32 be;

	if (len < 19 || len > NDP_MAX_FRAME || f[18] != dir)
		return 0;
	memcpy(&be, f + 14, sizeof(be));
	*seq = ntohl(be);
	return ndp_frame(want, dir, *seq) == len && !memcmp(f, want, len);
}

static int ndp_flow_tx(struct ndp_flow *f)
{
	struct ndp *g = f->g;
	struct ndp_vq *q = &g->vq[NDP_TX];
	unsigned int n = 0, serial;
	struct ndp_chain ch;
	__u32 len;
	int r;

	while (ndp_slot_free(q)) {
		ndp_tx_fill(g, q->posted, &ch);
		ndp_post(g, q, &ch);
		n++;
	}
	if (n)
		ndp_kick_now(q);
	while ((r = ndp_used(g, q, &serial, &len)) > 0) {
		__atomic_add_fetch(&f->tx_used, 1, __ATOMIC_RELAXED);
		if (len)
			ndp_flow_bad(f, "tx used length", serial, len);
		n++;
	}
	if (r < 0)
		f->stop = 1;
	return n;
}

/* Frames the guest sent, on either host side. */
static int ndp_flow_wire(struct ndp_flow *f)
{
	unsigned int i, seq = 0;
	struct sockaddr_ll ll;
	__u8 buf[2048];
	socklen_t sl;
	ssize_t len;
	int n = 0, s;

	for (i = 0; i < 2; i++) {
		while ((s = __atomic_load_n(&f->pkt[i], __ATOMIC_RELAXED)) >= 0) {
			sl = sizeof(ll);
			len = recvfrom(s, buf, sizeof(buf),
				       MSG_TRUNC | MSG_DONTWAIT,
				       (struct sockaddr *)&ll, &sl);
			if (len < 0)
				break;
			if (ll.sll_pkttype == PACKET_OUTGOING)
				continue;
			if (ndp_flow_whole(buf, len, NDP_DIR_TX, &seq))
				__atomic_add_fetch(&f->wire, 1,
						   __ATOMIC_RELAXED);
			else
				ndp_flow_bad(f, "on the wire", seq, len);
			n++;
		}
	}
	return n;
}

/* One used RX buffer: a whole frame behind a plain header. */
static void ndp_flow_rx_buf(struct ndp_flow *f, unsigned int serial,
			    __u32 len)
{
	const struct ndp_chain *ch = &f->rx_ch[serial %
					       f->g->vq[NDP_RX].nslots];
	__u8 *b = ndp_hva(f->g, ch->gpa[0]);
	unsigned int seq = serial;
	__u16 nb;

	memcpy(&nb, b + NDP_NUMBUF_OFF, sizeof(nb));
	if (ch->n != 1 || len < NDP_HDR_LEN || len > ch->len[0] || b[0] ||
	    b[1] || nb != 1 ||
	    !ndp_flow_whole(b + NDP_HDR_LEN, len - NDP_HDR_LEN, NDP_DIR_RX,
			    &seq))
		ndp_flow_bad(f, "received", seq, len);
	else
		__atomic_add_fetch(&f->rx_used, 1, __ATOMIC_RELAXED);
}

/* Frames injected on the host side and not yet received, at most. */
#define NDP_FLOW_AHEAD		32
/* ... after this long without one, those are taken as lost */
#define NDP_FLOW_LOST_MS	100

static int ndp_flow_inject(struct ndp_flow *f)
{
	long ahead = f->injected - f->rx_seen - f->rx_lost;
	__u8 buf[NDP_MAX_FRAME];
	unsigned int len;
	int n = 0, s;

	/* late frames of those taken as lost, or lost ones */
	if (ahead < 0 || ndp_now_ms() - f->last_rx_ms > NDP_FLOW_LOST_MS) {
		f->rx_lost += ahead;
		ahead = 0;
		f->last_rx_ms = ndp_now_ms();
	}
	for (; ahead < NDP_FLOW_AHEAD; ahead++) {
		s = __atomic_load_n(&f->pkt[0], __ATOMIC_RELAXED);
		len = ndp_frame(buf, NDP_DIR_RX, f->rx_seq);
		f->rx_seq++;
		/* a host side that went away drops it, as a wire would */
		if (s >= 0 && send(s, buf, len, MSG_DONTWAIT) != (ssize_t)len &&
		    errno == EAGAIN)
			break;
		f->injected++;
		n++;
	}
	return n;
}

static int ndp_flow_rx(struct ndp_flow *f)
{
	struct ndp *g = f->g;
	struct ndp_vq *q = &g->vq[NDP_RX];
	unsigned int n = 0, serial;
	struct ndp_chain ch;
	__u32 len;
	int r;

	while (ndp_slot_free(q)) {
		ndp_rx_fill(g, q->posted, &ch);
		f->rx_ch[q->posted % q->nslots] = ch;
		ndp_post(g, q, &ch);
		n++;
	}
	if (n)
		ndp_kick_now(q);
	while ((r = ndp_used(g, q, &serial, &len)) > 0) {
		ndp_flow_rx_buf(f, serial, len);
		f->rx_seen++;
		f->last_rx_ms = ndp_now_ms();
		n++;
	}
	if (r < 0)
		f->stop = 1;
	return n + ndp_flow_inject(f);
}

/* One round of the driver on both rings; > 0 if anything moved. */
int ndp_flow_step(struct ndp_flow *f)
{
	return ndp_flow_tx(f) + ndp_flow_wire(f) + ndp_flow_rx(f);
}

/* Sleeps until a used notification or a frame, at most ms. */
static void ndp_flow_wait(struct ndp_flow *f, int ms)
{
	struct ndp *g = f->g;
	struct pollfd p[4] = {
		{ .fd = g->vq[NDP_RX].call, .events = POLLIN },
		{ .fd = g->vq[NDP_TX].call, .events = POLLIN },
		{ .fd = f->pkt[0], .events = POLLIN },
		{ .fd = f->pkt[1], .events = POLLIN },
	};
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (!vq_arm(&g->vq[i].vq))
			return;
	poll(p, 4, ms);
	for (i = 0; i < 2; i++)
		ndp_read_efd(g->vq[i].call);
}

/*
 * The driver's loop, for a thread of its own: frames both ways on both
 * rings as fast as they go, until f->stop.  Frames may be lost (the VMM
 * or the host pulls the device's backend away under them); every frame
 * that arrives must be whole.
 */
void *ndp_flow_run(void *arg)
{
	struct ndp_flow *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
		if (!ndp_flow_step(f))
			ndp_flow_wait(f, 20);
	return NULL;
}

/*
 * Until both rings of f moved n frames more: 0, or -1 once a ring that
 * still owes frames moved none for ms (it stopped), or after 10 * ms in
 * all.  More frames than a ring holds show that the device still takes
 * kicks, not only that it ran once when its backend was set.  A loaded
 * host makes a ring slow, not stopped: one that goes on moving, however
 * slowly, is given the time it needs up to the cap.
 */
int ndp_flow_moves(struct ndp_flow *f, unsigned long n, int ms)
{
	unsigned long want[2], last[2], now_n;
	unsigned long *ctr[2] = { &f->tx_used, &f->rx_used };
	long now = ndp_now_ms(), cap = now + 10L * ms, seen[2];
	bool owed;
	int i;

	for (i = 0; i < 2; i++) {
		last[i] = __atomic_load_n(ctr[i], __ATOMIC_RELAXED);
		want[i] = last[i] + n;
		seen[i] = now;
	}
	for (;;) {
		owed = false;
		now = ndp_now_ms();
		for (i = 0; i < 2; i++) {
			now_n = __atomic_load_n(ctr[i], __ATOMIC_RELAXED);
			if (now_n >= want[i])
				continue;
			owed = true;
			if (now_n != last[i]) {
				last[i] = now_n;
				seen[i] = now;
			} else if (now - seen[i] > ms) {
				return -1;
			}
		}
		if (!owed)
			return 0;
		if (now > cap || f->stop)
			return -1;
		usleep(2000);
	}
}
