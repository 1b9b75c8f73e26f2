// SPDX-License-Identifier: GPL-2.0
/*
 * kvio-net transmit: frames the guest queued on the TX ring go out
 * through the backend socket (tap, macvtap or packet socket).
 */
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "kvio_net.h"

/* Put the batched completions on the used ring and interrupt the guest. */
void kvio_net_flush_used(struct kvio_net_vring *nvr)
{
	if (!nvr->nused)
		return;
	if (!kvio_ring_push(&nvr->vr, nvr->used, nvr->nused))
		kvio_ring_signal(&nvr->vr);
	nvr->nused = 0;
}

/*
 * Account one frame; once the ring has had its share of the worker,
 * requeue it behind the other rings and return true.
 */
bool kvio_net_spent(struct kvio_net_vring *nvr, unsigned int *pkts,
		    size_t *total, size_t len)
{
	*total += len;
	if (++*pkts < KVIO_NET_WEIGHT_PKTS && *total < KVIO_NET_WEIGHT_BYTES)
		return false;
	kvio_poll_queue(&nvr->vr.poll);
	return true;
}

static void kvio_net_complete(struct kvio_net_vring *nvr, unsigned int head,
			      u32 len)
{
	nvr->used[nvr->nused].id = head;
	nvr->used[nvr->nused].len = len;
	if (++nvr->nused >= KVIO_NET_BATCH)
		kvio_net_flush_used(nvr);
}

/*
 * Send one frame made of @out readable iovecs.  Returns the bytes taken
 * from the guest, -EAGAIN when the socket is full, or -EINVAL when the
 * chain is malformed (the ring is then broken).
 */
static ssize_t kvio_net_tx_one(struct kvio_net_vring *nvr,
			       struct socket *sock, unsigned int out)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	size_t len;
	int err;

	iov_iter_init(&msg.msg_iter, WRITE, nvr->iov, out,
		      iov_length(nvr->iov, out));
	len = iov_iter_count(&msg.msg_iter);
	if (len <= nvr->vhost_hlen)
		return kvio_ring_break(&nvr->vr, "TX frame shorter than its header");
	/* We provide the vnet header: the guest's own is not sent. */
	iov_iter_advance(&msg.msg_iter, nvr->vhost_hlen);

	err = sock->ops->sendmsg(sock, &msg, len - nvr->vhost_hlen);
	if (err == -EAGAIN || err == -ENOMEM || err == -ENOBUFS)
		return -EAGAIN;
	/* Other errors drop the frame, as a NIC drops what it can't send. */
	return len;
}

static void kvio_net_tx_loop(struct kvio_net *n, struct kvio_net_vring *nvr,
			     struct socket *sock)
{
	struct kvio_vring *vr = &nvr->vr;
	unsigned int out, in, pkts = 0;
	size_t total = 0;
	ssize_t len;
	int head;

	kvio_ring_disable_notify(vr);
	for (;;) {
		head = kvio_ring_pop(vr, nvr->iov, ARRAY_SIZE(nvr->iov),
				     &out, &in, NULL, NULL);
		if (head < 0)
			break;
		if (head == vr->num) {
			if (!kvio_ring_enable_notify(vr))
				break;
			kvio_ring_disable_notify(vr);
			continue;
		}
		if (in || !out) {
			/* Leave the bad chain available, as ring.c does. */
			kvio_ring_unpop(vr, 1);
			kvio_ring_break(vr, "TX chain not made of readable buffers");
			break;
		}
		len = kvio_net_tx_one(nvr, sock, out);
		if (len == -EAGAIN) {
			/* Retry this frame when the socket has room. */
			kvio_ring_unpop(vr, 1);
			kvio_poll_start(&n->poll[KVIO_NET_VQ_TX], sock->file);
			break;
		}
		if (len < 0)
			break;
		kvio_net_complete(nvr, head, 0);
		if (kvio_net_spent(nvr, &pkts, &total, len))
			break;
	}
	kvio_net_flush_used(nvr);
}

/* Guest kick or socket room on the TX ring. */
void kvio_net_handle_tx(struct kvio_net *n)
{
	struct kvio_net_vring *nvr = &n->vrings[KVIO_NET_VQ_TX];
	struct socket *sock;

	mutex_lock(&nvr->vr.mutex);
	sock = nvr->vr.backend;
	if (sock && !nvr->vr.broken) {
		/* The guest kicks us; socket room only matters after EAGAIN. */
		kvio_poll_stop(&n->poll[KVIO_NET_VQ_TX]);
		kvio_net_tx_loop(n, nvr, sock);
	}
	mutex_unlock(&nvr->vr.mutex);
}
