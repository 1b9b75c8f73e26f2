// SPDX-License-Identifier: GPL-2.0
/*
 * kvio-net receive: frames waiting on the backend socket go into buffers
 * the guest posted on the RX ring, several buffers per frame when the
 * guest negotiated VIRTIO_NET_F_MRG_RXBUF.
 */
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/if_vlan.h>
#include <linux/ptr_ring.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <linux/virtio_net.h>
#include <net/sock.h>

#include "kvio_net.h"
#include "kvio_net_trace.h"

/* Length of the next frame waiting on @sock, 0 if none. */
static size_t kvio_net_peek_len(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct sk_buff *skb;
	unsigned long flags;
	size_t len = 0;

	if (sock->ops->peek_len)
		return sock->ops->peek_len(sock);

	spin_lock_irqsave(&sk->sk_receive_queue.lock, flags);
	skb = skb_peek(&sk->sk_receive_queue);
	if (skb) {
		len = skb->len;
		if (skb_vlan_tag_present(skb))
			len += VLAN_HLEN;
	}
	spin_unlock_irqrestore(&sk->sk_receive_queue.lock, flags);
	return len;
}

/* Length of a frame on a tun or macvtap queue, as tun's peek_len says. */
static size_t kvio_net_ptr_len(void *ptr)
{
	struct sk_buff *skb = ptr;

	if (tun_is_xdp_frame(ptr))
		return tun_ptr_to_xdp(ptr)->len;
	return skb->len + (skb_vlan_tag_present(skb) ? VLAN_HLEN : 0);
}

/*
 * Length of the next frame, 0 if none.  From tun and macvtap, frames come
 * off their queue up to KVIO_NET_BATCH at a time: one lock round trip
 * instead of one per frame.
 */
static size_t kvio_net_rx_peek(struct kvio_net_vring *nvr, struct socket *sock)
{
	size_t len;

	if (!nvr->rx_ring)
		return kvio_net_peek_len(sock);
	for (;;) {
		if (nvr->rxq_head == nvr->rxq_tail) {
			nvr->rxq_head = 0;
			nvr->rxq_tail = ptr_ring_consume_batched(nvr->rx_ring,
								 nvr->rxq,
								 KVIO_NET_BATCH);
			if (!nvr->rxq_tail)
				return 0;
		}
		len = kvio_net_ptr_len(nvr->rxq[nvr->rxq_head]);
		if (len)
			return len;
		/* An empty frame has nothing for the guest: 0 means none. */
		tun_ptr_free(nvr->rxq[nvr->rxq_head++]);
	}
}

/* For busy polling: are frames waiting on the backend? */
static bool kvio_net_rx_ready(void *arg)
{
	struct kvio_net_vring *nvr = arg;
	struct socket *sock = nvr->vr.backend;

	if (nvr->rx_ring)
		return !ptr_ring_empty(nvr->rx_ring);
	return kvio_net_peek_len(sock);
}

/* The frame kvio_net_rx_peek() saw, for recvmsg() to consume; or NULL. */
static void *kvio_net_rx_take(struct kvio_net_vring *nvr)
{
	return nvr->rx_ring ? nvr->rxq[nvr->rxq_head++] : NULL;
}

/**
 * kvio_net_rx_set_ring - follow a new RX backend
 * @nvr: the RX ring; its mutex is held
 * @sock: the new backend, or NULL
 *
 * Frames taken off the old backend's queue and not received go back to
 * its head, in order, so that none is lost or reordered.
 */
void kvio_net_rx_set_ring(struct kvio_net_vring *nvr, struct socket *sock)
{
	struct ptr_ring *ring = NULL;

	lockdep_assert_held(&nvr->vr.mutex);
	if (nvr->rx_ring && nvr->rxq_head != nvr->rxq_tail)
		ptr_ring_unconsume(nvr->rx_ring, nvr->rxq + nvr->rxq_head,
				   nvr->rxq_tail - nvr->rxq_head, tun_ptr_free);
	nvr->rxq_head = 0;
	nvr->rxq_tail = 0;
	if (sock && sock->file) {
		ring = tun_get_tx_ring(sock->file);
		if (IS_ERR(ring))
			ring = tap_get_ptr_ring(sock->file);
		if (IS_ERR(ring))
			ring = NULL;
	}
	nvr->rx_ring = ring;
}

/*
 * Pop chains until they hold @len bytes (at most @quota chains), noting
 * them after the batched completions.  Returns the number of chains, 0 if
 * the guest has too few buffers (nothing is kept), > KVIO_NET_IOV_MAX if
 * the frame cannot fit, or < 0 if the ring broke.
 */
static int kvio_net_rx_bufs(struct kvio_net_vring *nvr, size_t len,
			    unsigned int quota, unsigned int *niov,
			    unsigned int *nlog)
{
	struct kvio_vring *vr = &nvr->vr;
	struct kvio_used *heads = nvr->used + nvr->nused;
	bool log = kvio_has_feature(vr, VHOST_F_LOG_ALL);
	unsigned int seg = 0, logs = 0, count = 0, out, in, n;
	ssize_t left = len;
	size_t buf = 0;
	int head;

	vr->walked = 0;
	while (left > 0 && count < quota) {
		/*
		 * Chains of empty buffers cost reads and fill nothing: a
		 * frame whose chains named more buffers than a frame can use
		 * is dropped, not walked on through a thousand more chains.
		 */
		if (seg >= KVIO_NET_IOV_MAX ||
		    vr->walked > KVIO_NET_RX_WALK_MAX) {
			head = KVIO_NET_IOV_MAX + 1;
			goto undo;
		}
		head = kvio_ring_pop(vr, nvr->iov + seg, KVIO_NET_IOV_MAX - seg,
				     &out, &in, log ? nvr->log + logs : NULL, &n);
		/*
		 * A chain too long for the iovecs left: the frame does not fit
		 * the buffers the guest gave for it, and is dropped.  Only a
		 * chain that has all of them to itself is malformed.
		 */
		if (head == -ENOBUFS && seg) {
			head = KVIO_NET_IOV_MAX + 1;
			goto undo;
		}
		if (head == -ENOBUFS)
			head = kvio_ring_break(vr, "descriptor chain too long");
		if (head < 0)
			goto undo;
		if (head == vr->num) {
			head = 0;
			goto undo;
		}
		if (out || !in) {
			/* Give back the bad chain too: the base stays on it. */
			kvio_ring_unpop(vr, 1);
			head = kvio_ring_break(vr, "RX chain not made of writable buffers");
			goto undo;
		}
		if (log)
			logs += n;
		buf = iov_length(nvr->iov + seg, in);
		heads[count].id = head;
		heads[count].len = buf;
		left -= buf;
		count++;
		seg += in;
	}
	if (left > 0) {
		head = KVIO_NET_IOV_MAX + 1;
		goto undo;
	}
	/* The last buffer holds only the rest of the frame. */
	heads[count - 1].len = buf + left;
	*niov = seg;
	*nlog = logs;
	return count;
undo:
	kvio_ring_unpop(vr, count);
	return head;
}

/* Throw away the next frame: it cannot fit the guest's buffers. */
static void kvio_net_rx_drop(struct kvio_net_vring *nvr, struct socket *sock)
{
	struct msghdr msg = {
		.msg_control = kvio_net_rx_take(nvr),
		.msg_flags = MSG_DONTWAIT | MSG_TRUNC,
	};
	struct kvec kv;
	char byte;

	kv.iov_base = &byte;
	kv.iov_len = 1;
	iov_iter_kvec(&msg.msg_iter, READ, &kv, 1, 1);
	sock->ops->recvmsg(sock, &msg, 1, MSG_DONTWAIT | MSG_TRUNC);
}

/*
 * Finish the vnet header of a received frame at @hdr: write it when we
 * provide it, and the buffer count when buffers are merged.
 */
static int kvio_net_rx_fixup(struct kvio_net_vring *nvr, struct iov_iter *hdr,
			     u16 count)
{
	struct kvio_vring *vr = &nvr->vr;
	static const struct virtio_net_hdr empty = {
		.gso_type = VIRTIO_NET_HDR_GSO_NONE,
	};
	__virtio16 nbufs = cpu_to_kvio16(vr, count);

	if (nvr->vhost_hlen) {
		if (copy_to_iter(&empty, sizeof(empty), hdr) != sizeof(empty))
			return kvio_ring_break(vr, "RX header not writable");
	} else {
		iov_iter_advance(hdr, sizeof(empty));
	}
	if (kvio_has_feature(vr, VIRTIO_NET_F_MRG_RXBUF) &&
	    copy_to_iter(&nbufs, sizeof(nbufs), hdr) != sizeof(nbufs))
		return kvio_ring_break(vr, "RX header not writable");
	return 0;
}

/*
 * Receive one frame of @sock_len bytes into the guest.  Returns the bytes
 * given to the guest, 0 when it has no buffers, < 0 to stop.
 */
static ssize_t kvio_net_rx_one(struct kvio_net_vring *nvr, struct socket *sock,
			       size_t sock_len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_TRUNC };
	struct kvio_vring *vr = &nvr->vr;
	size_t len = sock_len + nvr->vhost_hlen;
	unsigned int niov, nlog, quota = 1;
	struct iov_iter hdr;
	int count, err;

	if (kvio_has_feature(vr, VIRTIO_NET_F_MRG_RXBUF))
		/* no more chains than the ring holds (and unpop remembers) */
		quota = min_t(unsigned int, KVIO_NET_IOV_MAX, vr->num);
	count = kvio_net_rx_bufs(nvr, len, quota, &niov, &nlog);
	if (count <= 0)
		return count;
	if (count > KVIO_NET_IOV_MAX) {
		kvio_net_rx_drop(nvr, sock);
		return 1;
	}

	msg.msg_control = kvio_net_rx_take(nvr);
	iov_iter_init(&msg.msg_iter, READ, nvr->iov, niov, len);
	hdr = msg.msg_iter;
	iov_iter_advance(&msg.msg_iter, nvr->vhost_hlen);
	err = sock->ops->recvmsg(sock, &msg, sock_len,
				 MSG_DONTWAIT | MSG_TRUNC);
	if (err != sock_len) {
		/* The frame went away or changed: give the buffers back. */
		kvio_ring_unpop(vr, count);
		return 1;
	}
	if (kvio_net_rx_fixup(nvr, &hdr, count)) {
		/* The ring broke: its base stays on these buffers. */
		kvio_ring_unpop(vr, count);
		return -EINVAL;
	}
	nvr->nused += count;
	if (nlog && kvio_log_write(vr, nvr->log, nlog, len))
		return kvio_ring_break(vr, "dirty log not writable");
	if (nvr->nused >= KVIO_NET_BATCH)
		kvio_net_flush_used(nvr);
	return len;
}

static void kvio_net_rx_loop(struct kvio_net_vring *nvr, struct socket *sock)
{
	struct kvio_vring *vr = &nvr->vr;
	unsigned int pkts = 0, frames = 0;
	size_t total = 0, bytes = 0, sock_len;
	ssize_t len;
	int poll;

	lockdep_assert_held(&vr->mutex);
	kvio_ring_disable_notify(vr);
	for (;;) {
		sock_len = kvio_net_rx_peek(nvr, sock);
		if (!sock_len) {
			if (kvio_net_busyloop(nvr, false, kvio_net_rx_ready,
					      &pkts, &total) > 0)
				continue;
			break;
		}
		len = kvio_net_rx_one(nvr, sock, sock_len + nvr->sock_hlen);

		if (len < 0)
			break;
		if (!len) {
			/* Out of buffers: wait for a kick, unless one raced. */
			poll = kvio_net_busyloop(nvr, true, NULL, &pkts, &total);
			if (poll > 0)
				continue;
			if (poll < 0)
				break;
			if (!kvio_ring_enable_notify(vr))
				break;
			kvio_ring_disable_notify(vr);
			/*
			 * A guest that flips a packed descriptor's flags can
			 * make "available" and "not available" alternate:
			 * each look counts toward the ring's share.
			 */
			if (kvio_net_spent(nvr, &pkts, &total, 0))
				break;
			continue;
		}
		frames++;
		bytes += len;
		if (kvio_net_spent(nvr, &pkts, &total, len))
			break;
	}
	kvio_net_flush_used(nvr);
	kvio_net_account(vr, frames, bytes, kvio_net_over(pkts, total));
	trace_kvio_net_rx(vr, frames, bytes, kvio_net_over(pkts, total));
}

/* Guest added RX buffers, or frames arrived on the socket. */
void kvio_net_handle_rx(struct kvio_net *n)
{
	struct kvio_net_vring *nvr = &n->vrings[KVIO_NET_VQ_RX];
	struct socket *sock;

	mutex_lock(&nvr->vr.mutex);
	sock = nvr->vr.backend;
	if (sock && !nvr->vr.broken)
		kvio_net_rx_loop(nvr, sock);
	mutex_unlock(&nvr->vr.mutex);
}
