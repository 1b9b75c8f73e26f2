// SPDX-License-Identifier: GPL-2.0
/*
 * net_datapath, the VMM and driver side: guest memory registered at a
 * guest-physical address that differs from its host address, rings laid
 * out there by lib/vq.c (split or packed, as the features say; ring
 * addresses as host virtual addresses, buffer addresses as GPAs, as QEMU
 * does), the device set up the way QEMU sets up vhost-net for a tap with
 * vnet_hdr=on, each buffer's serial, the waits for notifications, and
 * the stop sequence QEMU uses before it reads the dirty log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "net_datapath.h"

#define NDP_ETH_P		0x88b5	/* IEEE local experimental */
#define NDP_WAIT_MS		3000
#define NDP_RCVBUF		(16 << 20)

void ndp_fail(struct ndp *g, const char *fmt, ...)
{
	struct ndp_run *r = g->run;
	size_t used = strlen(r->msg);
	va_list ap;

	r->nfail++;
	if (used + 2 >= sizeof(r->msg))
		return;
	va_start(ap, fmt);
	vsnprintf(r->msg + used, sizeof(r->msg) - used - 1, fmt, ap);
	va_end(ap);
	strcat(r->msg, "\n");
}

void ndp_ev_add(struct ndp *g, const struct ndp_ev *e)
{
	if (g->run->nev >= NDP_MAX_EV) {
		g->run->truncated = 1;
		return;
	}
	g->run->ev[g->run->nev++] = *e;
}

__u64 ndp_hash(__u64 h, const void *p, size_t len)
{
	const __u8 *b = p;

	while (len--)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

/* The host address of an address in a ring (guest-physical, or IOVA). */
void *ndp_hva(struct ndp *g, __u64 addr)
{
	return g->mem + (addr - g->bus);
}

/* The guest-physical address of an address in a ring. */
__u64 ndp_gpa(const struct ndp *g, __u64 addr)
{
	return addr - g->bus + NDP_GPA_BASE;
}

/* The guest memory area a page is in: rings, receive or transmit buffers. */
static __u8 ndp_page_perm(const struct ndp *g, __u64 iova)
{
	__u64 off = iova - g->bus;

	if (off >= NDP_RX_OFF && off < NDP_TX_OFF)
		return VHOST_ACCESS_WO;
	if (off >= NDP_TX_OFF && off < NDP_TX_OFF + NDP_TX_SIZE)
		return VHOST_ACCESS_RO;
	return VHOST_ACCESS_RW;
}

/* One v2 IOTLB message to g's device: what write() returned. */
long ndp_iotlb_write(struct ndp *g, __u8 type, __u64 iova, __u64 size,
		     __u64 uaddr, __u8 perm)
{
	struct vhost_msg_v2 m = { .type = VHOST_IOTLB_MSG_V2 };

	m.iotlb.type = type;
	m.iotlb.iova = iova;
	m.iotlb.size = size;
	m.iotlb.uaddr = uaddr;
	m.iotlb.perm = perm;
	return write(g->dev, &m, sizeof(m));
}

/* An UPDATE of guest memory at @iova, or an INVALIDATE; fails the run. */
static int ndp_iotlb_msg(struct ndp *g, __u8 type, __u64 iova, __u64 size,
			 __u8 perm)
{
	__u64 uaddr = type == VHOST_IOTLB_UPDATE ?
		      (unsigned long)ndp_hva(g, iova) : 0;

	if (ndp_iotlb_write(g, type, iova, size, uaddr, perm) ==
	    sizeof(struct vhost_msg_v2))
		return 0;
	ndp_fail(g, "IOTLB %s of %#llx: %s",
		 type == VHOST_IOTLB_UPDATE ? "update" : "invalidate",
		 (unsigned long long)iova, strerror(errno));
	g->stop = 1;
	return -1;
}

/* Map the page of guest memory that holds @iova, as its area allows. */
static int ndp_iotlb_map(struct ndp *g, __u64 iova)
{
	__u64 page = iova & ~(NDP_PAGE - 1);

	if (page < g->bus || page - g->bus >= NDP_MEM_SIZE) {
		ndp_fail(g, "IOTLB miss outside guest memory: %#llx",
			 (unsigned long long)iova);
		g->stop = 1;
		return -1;
	}
	return ndp_iotlb_msg(g, VHOST_IOTLB_UPDATE, page, NDP_PAGE,
			     ndp_page_perm(g, page));
}

/*
 * The VMM's side of the IOTLB, as QEMU's: answer each miss with the page
 * it asks for.  A device asking for an access the area does not allow
 * (writing a transmit buffer, reading a receive buffer) fails the run.
 * NDP_INVAL: every 32 frames moved, every translation is dropped.
 */
void ndp_iotlb_serve(struct ndp *g)
{
	struct vhost_msg_v2 m;
	unsigned long moved;
	__u8 allowed;

	if (!ndp_has(g, VIRTIO_F_ACCESS_PLATFORM))
		return;
	while (!g->stop && read(g->dev, &m, sizeof(m)) == sizeof(m)) {
		if (m.type != VHOST_IOTLB_MSG_V2 ||
		    m.iotlb.type != VHOST_IOTLB_MISS) {
			ndp_fail(g, "IOTLB: message %u/%u, not a v2 miss",
				 m.type, m.iotlb.type);
			g->stop = 1;
			return;
		}
		allowed = ndp_page_perm(g, m.iotlb.iova);
		if ((m.iotlb.perm & allowed) != m.iotlb.perm) {
			ndp_fail(g, "IOTLB miss at %#llx asks access %u, the area allows %u",
				 (unsigned long long)m.iotlb.iova, m.iotlb.perm,
				 allowed);
			g->stop = 1;
			return;
		}
		if (ndp_iotlb_map(g, m.iotlb.iova))
			return;
		g->misses++;
	}
	moved = (g->tx_done + g->rx_frames) / 32;
	if ((g->cfg->flags & NDP_INVAL) && moved > g->invals) {
		g->invals = moved;
		ndp_iotlb_msg(g, VHOST_IOTLB_INVALIDATE, 0, ~0ULL, 0);
	}
}

/*
 * Ring addresses for VHOST_SET_VRING_ADDR: host addresses, or with an
 * IOTLB the IOVAs the guest's driver would use.
 */
static void ndp_vq_addr(struct ndp *g, unsigned int idx,
			struct vhost_vring_addr *a)
{
	vq_addr(&g->vq[idx].vq, idx, a);
	if (!ndp_has(g, VIRTIO_F_ACCESS_PLATFORM))
		return;
	a->desc_user_addr += g->bus - (unsigned long)g->mem;
	a->avail_user_addr += g->bus - (unsigned long)g->mem;
	a->used_user_addr += g->bus - (unsigned long)g->mem;
}

long ndp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int ndp_has(const struct ndp *g, unsigned int bit)
{
	return !!(g->features & (1ULL << bit));
}

static int ndp_suppress(const struct ndp *g)
{
	return !!(g->cfg->flags & NDP_SUPPRESS);
}

/* Host side */

static void ndp_no_ipv6(const char *ifname)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;		/* no IPv6: nothing to keep quiet */
	if (write(fd, "1", 1) != 1)
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
	close(fd);
}

/* Brings a link up without IPv6, so that the kernel sends nothing on it. */
int ndp_if_quiet_up(int sock, const char *ifname)
{
	struct ifreq ifr;

	ndp_no_ipv6(ifname);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr))
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

/* Until a link runs, its qdisc drops what is sent on it. */
int ndp_if_wait_running(int sock, const char *ifname)
{
	long deadline = ndp_now_ms() + NDP_WAIT_MS;
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	while (!ioctl(sock, SIOCGIFFLAGS, &ifr)) {
		if (ifr.ifr_flags & IFF_RUNNING)
			return 0;
		if (ndp_now_ms() > deadline) {
			errno = ENETDOWN;
			return -1;
		}
		usleep(1000);
	}
	return -1;
}

/*
 * The host's end: frames sent on it reach the guest, and the reverse.
 * Bound only once the link runs: bound to a link that is down, a packet
 * socket keeps ENETDOWN pending for its next call.
 */
static int ndp_packet_socket(struct ndp *g, const char *ifname, int up)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(NDP_ETH_P),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int buf = NDP_RCVBUF;
	int s;

	s = kvio_socket(g->c, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK,
			htons(NDP_ETH_P));
	if (s < 0)
		return -1;
	if ((up && ndp_if_quiet_up(s, ifname)) ||
	    ndp_if_wait_running(s, ifname) ||
	    bind(s, (struct sockaddr *)&ll, sizeof(ll))) {
		kvio_env_fail(g->c, "packet socket on %s: %s", ifname,
			      strerror(errno));
		return -1;
	}
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	return s;
}

/* QEMU with vnet_hdr=on: a 12-byte header, no offloads for the guest. */
static int ndp_vnet_hdr(struct ndp *g, int fd)
{
	int sz = NDP_HDR_LEN;

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) || ioctl(fd, TUNSETOFFLOAD, 0)) {
		kvio_env_fail(g->c, "vnet header setup: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int ndp_tap(struct ndp *g)
{
	int hdr = !(g->features & NDP_F_VHOST_HDR);
	struct ifreq ifr;
	int fd;

	fd = kvio_tap(g->c, hdr ? KVIO_TAP_FLAGS : IFF_TAP | IFF_NO_PI, 1);
	memset(&ifr, 0, sizeof(ifr));
	if (fd < 0 || ioctl(fd, TUNGETIFF, &ifr)) {
		kvio_env_fail(g->c, "tap: %s", strerror(errno));
		return -1;
	}
	if (hdr && ndp_vnet_hdr(g, fd))
		return -1;
	g->pkt = ndp_packet_socket(g, ifr.ifr_name, 1);
	return g->pkt < 0 ? -1 : fd;
}

/* The links were made by the parent (see net_datapath.c). */
static int ndp_macvtap(struct ndp *g)
{
	char peer[IFNAMSIZ];
	int fd = kvio_macvtap(g->c);

	if (fd < 0 || ndp_vnet_hdr(g, fd))
		return -1;
	if (!if_indextoname(g->peer_ifindex, peer)) {
		kvio_env_fail(g->c, "no veth peer: %s", strerror(errno));
		return -1;
	}
	g->pkt = ndp_packet_socket(g, peer, 0);
	return g->pkt < 0 ? -1 : fd;
}

/* Device */

/* The VHOST_SET_VRING_BASE value the rings start at. */
static __u32 ndp_ring_base(const struct ndp *g)
{
	__u32 wrap = 1 << VRING_PACKED_EVENT_F_WRAP_CTR, pos;

	if (!ndp_has(g, VIRTIO_F_RING_PACKED))
		return g->cfg->base;
	pos = (g->cfg->base % g->cfg->num) | wrap;
	return pos | pos << 16;
}

/*
 * Rings as a previous device would have left them at the base: kick at
 * the first buffer.  Suppressed: no used notifications, ever.
 */
static int ndp_ring_init(struct ndp *g, struct ndp_vq *q)
{
	struct vq_cfg vc = {
		.num = g->cfg->num,
		.packed = ndp_has(g, VIRTIO_F_RING_PACKED),
		.in_order = ndp_has(g, VIRTIO_F_IN_ORDER),
		.event_idx = ndp_has(g, VIRTIO_RING_F_EVENT_IDX),
		.indirect = true,	/* tables for the malformed ones too */
		.ind_max = NDP_MAX_PIECES,
	};
	unsigned long off = NDP_RING_OFF + q->idx * NDP_RING_STRIDE;

	if (vq_layout(&vc, NULL) > NDP_RING_STRIDE ||
	    vq_init(&q->vq, &vc, g->mem + off, g->bus + off)) {
		ndp_fail(g, "q%u: no rings of %u entries", q->idx, vc.num);
		return -1;
	}
	vq_reset(&q->vq, ndp_ring_base(g));
	if (ndp_suppress(g))
		vq_disarm(&q->vq);
	return 0;
}

static int ndp_vq_fd(struct ndp *g, const char *what, unsigned long req,
		     unsigned int idx)
{
	char label[24];
	int fd = kvio_eventfd(g->c);

	snprintf(label, sizeof(label), "q%u.%s", idx, what);
	kvio_file(g->c, label, g->dev, req, idx, fd);
	return fd;
}

static void ndp_vq_setup(struct ndp *g, unsigned int idx)
{
	struct ndp_vq *q = &g->vq[idx];
	unsigned int num = g->cfg->num;
	struct vhost_vring_addr a;
	char label[24];

	q->idx = idx;
	q->k = idx == NDP_RX && ndp_has(g, VIRTIO_NET_F_MRG_RXBUF) ?
	       1 : NDP_MAX_PIECES;
	q->nslots = num / q->k;
	q->serial = malloc(q->nslots * sizeof(*q->serial));
	q->by_id = calloc(num, sizeof(*q->by_id));
	if (!q->serial || !q->by_id || ndp_ring_init(g, q))
		abort();
	memset(q->serial, 0xff, q->nslots * sizeof(*q->serial));
	ndp_vq_addr(g, idx, &a);
	q->used_gpa = a.log_guest_addr;

	snprintf(label, sizeof(label), "q%u.num", idx);
	kvio_state(g->c, label, g->dev, VHOST_SET_VRING_NUM, idx, num);
	snprintf(label, sizeof(label), "q%u.base", idx);
	kvio_state(g->c, label, g->dev, VHOST_SET_VRING_BASE, idx,
		   vq_base(&q->vq));
	if (g->cfg->flags & NDP_BUSYLOOP) {
		/* QEMU's poll-us=50: the worker polls the ring when idle. */
		snprintf(label, sizeof(label), "q%u.busyloop", idx);
		kvio_state(g->c, label, g->dev,
			   VHOST_SET_VRING_BUSYLOOP_TIMEOUT, idx, 50);
	}
	snprintf(label, sizeof(label), "q%u.addr", idx);
	kvio_addr(g->c, label, g->dev, &a);
	q->kick = ndp_vq_fd(g, "kick", VHOST_SET_VRING_KICK, idx);
	q->call = ndp_vq_fd(g, "call", VHOST_SET_VRING_CALL, idx);
	q->err = ndp_vq_fd(g, "err", VHOST_SET_VRING_ERR, idx);
}

static int ndp_steps_ok(struct ndp *g)
{
	const struct kvio_run *r = &g->run->steps;
	int i, ok = 1;

	for (i = 0; i < r->nsteps; i++) {
		if (r->steps[i].ret >= 0)
			continue;
		ndp_fail(g, "%s failed: %s", r->steps[i].label,
			 strerror(r->steps[i].err));
		ok = 0;
	}
	if (r->env_err[0]) {
		ndp_fail(g, "environment: %s", r->env_err);
		ok = 0;
	}
	return ok;
}

static void ndp_features(struct ndp *g)
{
	__u64 offered;

	g->features = (1ULL << VIRTIO_F_VERSION_1) | g->cfg->features;
	/* the value is vhost_diff's business: only what is used counts here */
	offered = kvio_get_u64(g->c, "get_features", g->dev,
			       VHOST_GET_FEATURES, 0);
	if ((offered & g->features) != g->features)
		ndp_fail(g, "features %#llx not offered (offered %#llx)",
			 (unsigned long long)(g->features & ~offered),
			 (unsigned long long)offered);
	kvio_set_u64(g->c, "set_features", g->dev, VHOST_SET_FEATURES,
		     g->features);
}

/*
 * Each ring onto a worker of its own, once both run (the move of a
 * running ring).  kvio-net only: upstream vhost-net answers ENOTTY, and
 * its rings share the device's one worker.  Not recorded: the traffic
 * must be the same as the reference's all the same.
 */
static void ndp_own_workers(struct ndp *g)
{
	struct vhost_worker_state ws;
	struct vhost_vring_worker vw;
	unsigned int i;

	if (!strstr(g->c->path, "kvio"))
		return;
	for (i = 0; i < 2; i++) {
		vw.index = i;
		if (ioctl(g->dev, VHOST_NEW_WORKER, &ws)) {
			ndp_fail(g, "VHOST_NEW_WORKER: %s", strerror(errno));
			return;
		}
		vw.worker_id = ws.worker_id;
		if (ioctl(g->dev, VHOST_ATTACH_VRING_WORKER, &vw))
			ndp_fail(g, "VHOST_ATTACH_VRING_WORKER: %s",
				 strerror(errno));
	}
}

/* What QEMU does for a vhost-net tap netdev; 0 when ready for traffic. */
int ndp_setup(struct ndp *g)
{
	struct vhost_memory *m;

	g->pkt = -1;
	g->logfd = -1;
	g->mem = kvio_map(g->c, NDP_MEM_SIZE, PROT_READ | PROT_WRITE);
	g->dev = kvio_open(g->c, "open", O_RDWR);
	if (!g->mem || g->dev < 0) {
		ndp_steps_ok(g);
		return -1;
	}
	kvio_owner(g->c, "owner", g->dev);
	g->bus = g->cfg->features & NDP_F_AP ? NDP_IOVA_BASE : NDP_GPA_BASE;
	if (g->cfg->features & NDP_F_AP)
		kvio_set_u64(g->c, "backend_features", g->dev,
			     VHOST_SET_BACKEND_FEATURES,
			     1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2);
	ndp_features(g);
	m = kvio_memtab(g->c, 1);
	kvio_region(m, 0, NDP_GPA_BASE, NDP_MEM_SIZE, (unsigned long)g->mem);
	kvio_mem_table(g->c, "mem", g->dev, m);
	free(m);
	ndp_vq_setup(g, NDP_RX);
	ndp_vq_setup(g, NDP_TX);
	if (ndp_has(g, VIRTIO_F_ACCESS_PLATFORM)) {
		/* As QEMU: the used rings' first page before the backend. */
		ndp_iotlb_map(g, g->vq[NDP_RX].used_gpa);
		ndp_iotlb_map(g, g->vq[NDP_TX].used_gpa);
		fcntl(g->dev, F_SETFL, O_NONBLOCK);
	}
	g->backend = g->cfg->flags & NDP_MACVTAP ? ndp_macvtap(g) : ndp_tap(g);
	kvio_file(g->c, "q0.backend", g->dev, VHOST_NET_SET_BACKEND, NDP_RX,
		  g->backend);
	kvio_file(g->c, "q1.backend", g->dev, VHOST_NET_SET_BACKEND, NDP_TX,
		  g->backend);
	if (g->cfg->flags & NDP_WORKERS)
		ndp_own_workers(g);
	return ndp_steps_ok(g) && !g->run->nfail ? 0 : -1;
}

/*
 * QEMU's migration start: log base and fd, VHOST_F_LOG_ALL, then every
 * ring again with VHOST_VRING_F_LOG, all while the backend runs.
 */
void ndp_enable_log(struct ndp *g)
{
	struct vhost_vring_addr a;
	unsigned int i;

	g->log = kvio_map(g->c, NDP_PAGE, PROT_READ | PROT_WRITE);
	g->logfd = kvio_eventfd(g->c);
	if (!g->log)
		return;
	kvio_set_u64(g->c, "log_base", g->dev, VHOST_SET_LOG_BASE,
		     (unsigned long)g->log);
	kvio_set_int(g->c, "log_fd", g->dev, VHOST_SET_LOG_FD, g->logfd);
	kvio_set_u64(g->c, "features_log", g->dev, VHOST_SET_FEATURES,
		     g->features | (1ULL << VHOST_F_LOG_ALL));
	for (i = 0; i < 2; i++) {
		ndp_vq_addr(g, i, &a);
		a.flags = 1 << VHOST_VRING_F_LOG;
		kvio_addr(g->c, i ? "q1.addr_log" : "q0.addr_log", g->dev, &a);
	}
	if (!ndp_steps_ok(g))
		g->stop = 1;
}

__u64 ndp_read_efd(int fd)
{
	__u64 v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/*
 * QEMU's stop: detach the backend (which flushes the worker), then read
 * back where each ring stands.  That must be where the driver stands:
 * every TX buffer posted was sent, and exactly the RX buffers used.
 */
void ndp_stop_device(struct ndp *g)
{
	static const char * const label[2][2] = {
		{ "q0.detach", "q0.get_base" }, { "q1.detach", "q1.get_base" },
	};
	struct vhost_vring_state s;
	unsigned int i;
	__u32 want;
	long ret;

	for (i = 0; i < 2; i++)
		kvio_file(g->c, label[i][0], g->dev, VHOST_NET_SET_BACKEND, i,
			  -1);
	for (i = 0; i < 2; i++) {
		/* every buffer posted was used, or (RX) will not be */
		want = vq_base(&g->vq[i].vq);
		s.index = i;
		s.num = ~0u;
		errno = 0;
		ret = ioctl(g->dev, VHOST_GET_VRING_BASE, &s);
		kvio_rec_val(g->c, label[i][1], ret, errno, 1, s.num);
		if (ret)
			ndp_fail(g, "%s: %s", label[i][1], strerror(errno));
		else if (!g->stop && s.num != want)
			ndp_fail(g, "%s: %u, the driver expects %u", label[i][1],
				 s.num, want);
		if (ndp_read_efd(g->vq[i].err))
			ndp_fail(g, "q%u: the device signalled its error fd", i);
	}
}

/* Buffers */

int ndp_slot_free(const struct ndp_vq *q)
{
	return q->serial[q->posted % q->nslots] == ~0u &&
	       vq_free(&q->vq) >= q->k;
}

/* The buffer with vq id @id is the next serial. */
void ndp_track(struct ndp_vq *q, unsigned int id)
{
	q->by_id[id] = q->posted;
	q->last_id = id;
	q->serial[q->posted % q->nslots] = q->posted;
	q->posted++;
}

/* TX chains are read by the device, RX chains written. */
static unsigned int ndp_vq_bufs(const struct ndp_vq *q,
				const struct ndp_chain *ch, struct vq_buf *b,
				unsigned int *in)
{
	unsigned int i;

	for (i = 0; i < ch->n; i++) {
		b[i].gpa = ch->gpa[i];
		b[i].len = ch->len[i];
	}
	*in = q->idx == NDP_RX ? ch->n : 0;
	return ch->n - *in;
}

/*
 * Writes the chain into the ring as the next serial, not yet available;
 * returns its vq id.  The caller checked a slot is free.
 */
int ndp_stage(struct ndp *g, struct ndp_vq *q, const struct ndp_chain *ch)
{
	struct vq_buf b[NDP_MAX_PIECES];
	unsigned int in, out = ndp_vq_bufs(q, ch, b, &in);
	int id = vq_stage(&q->vq, b, out, in, ch->indirect);

	if (id < 0) {
		ndp_fail(g, "q%u: no room for a chain of %u: %s", q->idx,
			 ch->n, strerror(-id));
		g->stop = 1;
		return id;
	}
	ndp_track(q, id);
	return id;
}

/* The chain of buffer @id written again, as the guest repairs a ring. */
int ndp_rewrite(struct ndp *g, struct ndp_vq *q, unsigned int id,
		const struct ndp_chain *ch)
{
	struct vq_buf b[NDP_MAX_PIECES];
	unsigned int in, out = ndp_vq_bufs(q, ch, b, &in);

	(void)g;
	return vq_rewrite(&q->vq, id, b, out, in, ch->indirect);
}

/* Makes the chain available in the next slot; the caller checked it is free. */
void ndp_post(struct ndp *g, struct ndp_vq *q, const struct ndp_chain *ch)
{
	if (ndp_stage(g, q, ch) >= 0)
		vq_publish(&q->vq);
}

/* The driver's half of available buffer notification suppression. */
void ndp_kick(struct ndp *g, struct ndp_vq *q)
{
	__u64 one = 1;

	(void)g;
	if (vq_kick_needed(&q->vq) &&
	    write(q->kick, &one, sizeof(one)) == sizeof(one))
		q->kicks++;
}

static void ndp_take_call(struct ndp_vq *q)
{
	__u64 v = ndp_read_efd(q->call);

	q->calls += v;
	if (v)
		q->notified = 1;
}

/*
 * The driver enabled notifications (flags 0, or used_event at the next
 * index) and found nothing new before it slept: the spec then says the
 * device MUST notify once it writes that entry.
 */
static void ndp_check_notified(struct ndp *g, struct ndp_vq *q)
{
	struct pollfd p = { .fd = q->call, .events = POLLIN };

	if (!q->notified && poll(&p, 1, NDP_WAIT_MS) == 1)
		ndp_take_call(q);
	if (!q->notified) {
		ndp_fail(g,
			 "q%u: used idx moved past %u after the driver asked to be notified there, but no call came in %d ms",
			 q->idx, q->vq.used_idx, NDP_WAIT_MS);
		g->stop = 1;
	}
	q->armed = 0;
}

/*
 * Takes one used buffer; returns 1 with its serial and the length the
 * device wrote, 0 if there is none, -1 on a bogus one.
 */
int ndp_used(struct ndp *g, struct ndp_vq *q, unsigned int *serial,
	     __u32 *len)
{
	__u16 at = q->vq.used_idx;
	struct vq_used u;
	int r;

	if (!vq_more_used(&q->vq))
		return 0;
	if (q->armed)
		ndp_check_notified(g, q);
	r = vq_get(&q->vq, &u);
	if (!r)
		return 0;
	if (r < 0 || q->serial[q->by_id[u.id] % q->nslots] != q->by_id[u.id]) {
		ndp_fail(g, "q%u: used entry at %u has id %u, not a buffer in flight",
			 q->idx, at, u.id);
		g->stop = 1;
		return -1;
	}
	*serial = q->by_id[u.id];
	*len = u.len;
	q->serial[*serial % q->nslots] = ~0u;
	q->batched += u.batched;
	return 1;
}

/* Enables used notifications; returns 0 if something arrived meanwhile. */
static int ndp_arm(struct ndp *g, struct ndp_vq *q)
{
	if (ndp_suppress(g))
		return 1;
	if (!vq_arm(&q->vq))
		return 0;
	if (!q->armed) {
		q->armed = 1;
		q->notified = 0;
	}
	return 1;
}

/* Waits for a call, a frame on the host side, or until the deadline. */
void ndp_sleep(struct ndp *g, long deadline)
{
	struct pollfd p[4] = {
		{ .fd = g->vq[NDP_RX].call, .events = POLLIN },
		{ .fd = g->vq[NDP_TX].call, .events = POLLIN },
		{ .fd = g->pkt, .events = POLLIN },
		/* NDP_F_AP: the device's misses */
		{ .fd = g->dev, .events = POLLIN },
	};
	long left = deadline - ndp_now_ms();
	unsigned int i;

	ndp_iotlb_serve(g);
	if (!ndp_arm(g, &g->vq[NDP_RX]) || !ndp_arm(g, &g->vq[NDP_TX]))
		return;
	/* suppressed: the driver polls the used rings */
	if (ndp_suppress(g) && left > 2)
		left = 2;
	if (poll(p, ndp_has(g, VIRTIO_F_ACCESS_PLATFORM) ? 4 : 3,
		 left > 100 ? 100 : left > 0 ? left : 0) <= 0)
		return;
	ndp_iotlb_serve(g);
	for (i = 0; i < 2; i++)
		if (p[i].revents & POLLIN)
			ndp_take_call(&g->vq[i]);
}
