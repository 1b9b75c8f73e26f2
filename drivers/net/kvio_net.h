/* SPDX-License-Identifier: GPL-2.0 */
/* kvio_net internals: the device object and its backend helpers. */
#ifndef _KVIO_NET_H
#define _KVIO_NET_H

#include <linux/gfp.h>
#include <linux/if_vlan.h>
#include <linux/net.h>
#include <linux/uio.h>
#include <net/xdp.h>

#include <kvio/vhost.h>

enum {
	KVIO_NET_VQ_RX = 0,
	KVIO_NET_VQ_TX = 1,
	KVIO_NET_VQ_MAX = 2,
};

/* Buffers one ring may hold for one frame, and used entries batched. */
#define KVIO_NET_IOV_MAX	UIO_MAXIOV
#define KVIO_NET_BATCH		64

/*
 * The longest frame a guest can send: an IPv6 packet with a payload of
 * 64 KiB less one (with or without segmentation offload) behind an
 * Ethernet header with two VLAN tags; the virtio-net header comes on top.
 */
#define KVIO_NET_MAX_FRAME	(65535 + 40 + ETH_HLEN + 2 * VLAN_HLEN)

/* Buffers, empty ones included, the chains of one RX frame may name. */
#define KVIO_NET_RX_WALK_MAX	(2 * KVIO_NET_IOV_MAX)

/* Work done for one ring before others get the worker (as upstream). */
#define KVIO_NET_WEIGHT_BYTES	0x80000
#define KVIO_NET_WEIGHT_PKTS	256

struct kvio_net_vring {
	struct kvio_vring vr;
	/* Virtio-net header bytes added/stripped by us, and by the socket. */
	size_t vhost_hlen;
	size_t sock_hlen;
	/*
	 * Completed chains not yet on the used ring.  TX chains are
	 * completed in the order they were popped and their lengths are
	 * all 0: with VIRTIO_F_IN_ORDER one used entry returns them all.
	 */
	bool tx;
	unsigned int nused;
	struct kvio_used used[KVIO_NET_IOV_MAX + KVIO_NET_BATCH];
	/*
	 * RX from tun or macvtap: their queue of frames, and frames taken
	 * off it in one go, not yet received (rxq[rxq_head..rxq_tail)).
	 */
	struct ptr_ring *rx_ring;
	unsigned int rxq_head, rxq_tail;
	void *rxq[KVIO_NET_BATCH];
	struct iovec iov[KVIO_NET_IOV_MAX];
	struct kvio_log_entry log[KVIO_NET_IOV_MAX];
};

/*
 * The pages TX frames are copied into for tun's batched path.  tun frees
 * each frame's fragment when it is done with it; a page all of whose
 * fragments came back is carved again instead of being given back to the
 * page allocator, which would clear a fresh one (init_on_alloc) for the
 * next batch.  @bias: page references still ours, one per unused byte
 * slot; every fragment returned when the page count is back to @bias.
 */
#define KVIO_NET_FRAG_PAGES	4

struct kvio_net_frag_page {
	struct page *page;
	unsigned int size;
	unsigned int offset;
	unsigned int bias;
};

struct kvio_net_frags {
	unsigned int cur;
	struct kvio_net_frag_page p[KVIO_NET_FRAG_PAGES];
};

struct kvio_net {
	struct kvio_dev dev;
	struct kvio_net_vring vrings[KVIO_NET_VQ_MAX];
	struct kvio_vring *vring_ptrs[KVIO_NET_VQ_MAX];
	/* Socket readiness: RX wakes on EPOLLIN, TX on EPOLLOUT. */
	struct kvio_poll poll[KVIO_NET_VQ_MAX];
	/* TX frames copied out for the socket's batched path, their pages */
	unsigned int nxdp;
	struct xdp_buff xdp[KVIO_NET_BATCH];
	struct kvio_net_frags frags;
};

/* tx.c, rx.c: the data path, run by the owner's worker */
void kvio_net_handle_tx(struct kvio_net *n);
void kvio_net_frags_free(struct kvio_net_frags *f);
void kvio_net_handle_rx(struct kvio_net *n);
void kvio_net_rx_set_ring(struct kvio_net_vring *nvr, struct socket *sock);
void kvio_net_flush_used(struct kvio_net_vring *nvr);
/* Has a ring had its share of the worker in this turn? */
static inline bool kvio_net_over(unsigned int pkts, size_t total)
{
	return pkts >= KVIO_NET_WEIGHT_PKTS || total >= KVIO_NET_WEIGHT_BYTES;
}

/* One turn of a ring's handler in its debugfs counters. */
static inline void kvio_net_account(struct kvio_vring *vr,
				    unsigned int frames, size_t bytes,
				    bool budget)
{
	kvio_stat_add(&vr->stats.frames, frames);
	kvio_stat_add(&vr->stats.bytes, bytes);
	kvio_stat_add(&vr->stats.budget, budget);
}

bool kvio_net_spent(struct kvio_net_vring *nvr, unsigned int *pkts,
		    size_t *total, size_t len);
int kvio_net_busyloop(struct kvio_net_vring *nvr, bool avail,
		      bool (*ready)(void *), unsigned int *pkts, size_t *total);

/* backend.c */
struct socket *kvio_net_get_socket(int fd);
void kvio_net_put_socket(struct socket *sock);

#endif /* _KVIO_NET_H */
