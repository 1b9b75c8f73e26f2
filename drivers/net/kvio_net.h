/* SPDX-License-Identifier: GPL-2.0 */
/* kvio_net internals: the device object and its backend helpers. */
#ifndef _KVIO_NET_H
#define _KVIO_NET_H

#include <linux/net.h>

#include <kvio/vhost.h>

enum {
	KVIO_NET_VQ_RX = 0,
	KVIO_NET_VQ_TX = 1,
	KVIO_NET_VQ_MAX = 2,
};

struct kvio_net_vring {
	struct kvio_vring vr;
	/* Virtio-net header bytes added/stripped by us, and by the socket. */
	size_t vhost_hlen;
	size_t sock_hlen;
};

struct kvio_net {
	struct kvio_dev dev;
	struct kvio_net_vring vrings[KVIO_NET_VQ_MAX];
	struct kvio_vring *vring_ptrs[KVIO_NET_VQ_MAX];
	/* Socket readiness: RX wakes on EPOLLIN, TX on EPOLLOUT. */
	struct kvio_poll poll[KVIO_NET_VQ_MAX];
};

/* backend.c */
struct socket *kvio_net_get_socket(int fd);
void kvio_net_put_socket(struct socket *sock);

#endif /* _KVIO_NET_H */
