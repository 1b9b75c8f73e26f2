// SPDX-License-Identifier: GPL-2.0
/*
 * kvio-net transmit: frames the guest queued on the TX ring go out
 * through the backend socket (tap, macvtap or packet socket).
 */
#include <linux/gfp.h>
#include <linux/if_tun.h>
#include <linux/mm.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/xdp.h>

#include "kvio_net.h"
#include "kvio_net_trace.h"

/* Put the batched completions on the used ring and interrupt the guest. */
void kvio_net_flush_used(struct kvio_net_vring *nvr)
{
	int ret;

	if (!nvr->nused)
		return;
	if (nvr->tx)
		ret = kvio_ring_push_batch(&nvr->vr, nvr->used, nvr->nused);
	else
		ret = kvio_ring_push(&nvr->vr, nvr->used, nvr->nused);
	if (!ret)
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
	if (!kvio_net_over(++*pkts, *total))
		return false;
	kvio_poll_queue(&nvr->vr.poll);
	return true;
}

/*
 * With VHOST_SET_VRING_BUSYLOOP_TIMEOUT: give the guest what is done, then
 * busy-poll for new buffers (@avail) or until @ready(@nvr).  A poll that
 * finds something counts toward the ring's share as a frame does.
 * Returns > 0 to look again, 0 if nothing came (or the VMM asked for no
 * polling), < 0 if the ring had its share and was requeued.
 */
int kvio_net_busyloop(struct kvio_net_vring *nvr, bool avail,
		      bool (*ready)(void *), unsigned int *pkts, size_t *total)
{
	if (!nvr->vr.busyloop_timeout)
		return 0;
	kvio_net_flush_used(nvr);
	if (!kvio_ring_busyloop(&nvr->vr, avail, ready, nvr))
		return 0;
	return kvio_net_spent(nvr, pkts, total, 0) ? -1 : 1;
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
 * Hand the frames gathered by kvio_net_tx_build() to the socket in one
 * sendmsg(): tun and macvtap take an array of xdp_buffs (TUN_MSG_PTR) and
 * own their pages from then on, whatever becomes of each frame.
 */
static void kvio_net_tx_push(struct kvio_net *n, struct socket *sock)
{
	struct tun_msg_ctl ctl = {
		.type = TUN_MSG_PTR,
		.num = n->nxdp,
		.ptr = n->xdp,
	};
	struct msghdr msg = {
		.msg_control = &ctl,
		.msg_controllen = sizeof(ctl),
		.msg_flags = MSG_DONTWAIT,
	};
	unsigned int i;

	if (!n->nxdp)
		return;
	/*
	 * Frames tun drops count as sent, as a NIC drops what it can't send;
	 * but a tap without its device takes none: their pages are still
	 * ours.
	 */
	if (sock->ops->sendmsg(sock, &msg, 0) < 0)
		for (i = 0; i < n->nxdp; i++)
			page_frag_free(n->xdp[i].data_hard_start);
	n->nxdp = 0;
}

/* A frame never spans pages; 32 KiB pages as the kernel's page_frag. */
#define KVIO_NET_FRAG_ORDER	get_order(32768)
/* More references than fragments a page can hold. */
#define KVIO_NET_FRAG_BIAS	(32768U + 1)

static bool kvio_net_frag_fill(struct kvio_net_frag_page *fp)
{
	struct page *page;

	page = alloc_pages(GFP_KERNEL | __GFP_COMP | __GFP_NOWARN |
			   __GFP_NORETRY, KVIO_NET_FRAG_ORDER);
	fp->size = PAGE_SIZE << KVIO_NET_FRAG_ORDER;
	if (!page) {
		page = alloc_page(GFP_KERNEL);
		fp->size = PAGE_SIZE;
	}
	if (!page) {
		fp->page = NULL;
		return false;
	}
	page_ref_add(page, KVIO_NET_FRAG_BIAS - 1);
	fp->page = page;
	fp->bias = KVIO_NET_FRAG_BIAS;
	fp->offset = 0;
	return true;
}

/* Give up our references: the page goes with its last fragment. */
static void kvio_net_frag_drop(struct kvio_net_frag_page *fp)
{
	if (fp->page)
		__page_frag_cache_drain(fp->page, fp->bias);
	fp->page = NULL;
}

/* Start @fp over if every fragment carved from it was freed. */
static bool kvio_net_frag_reuse(struct kvio_net_frag_page *fp)
{
	/* Only fragments raise the count above @bias, and only they drop. */
	if (page_ref_count(fp->page) != fp->bias ||
	    page_is_pfmemalloc(fp->page))
		return false;
	/* Their last accesses are done before we write the page again. */
	smp_acquire__after_ctrl_dep();
	page_ref_add(fp->page, KVIO_NET_FRAG_BIAS - fp->bias);
	fp->bias = KVIO_NET_FRAG_BIAS;
	fp->offset = 0;
	return true;
}

/*
 * @len bytes (at most a page) for one frame; freed with page_frag_free()
 * by whoever ends up with it.  The pages are used in turn, so that a page
 * has the time of several batches to come back before it is looked at.
 */
static void *kvio_net_frag_alloc(struct kvio_net_frags *f, unsigned int len)
{
	struct kvio_net_frag_page *fp = &f->p[f->cur];
	void *buf;

	if (!fp->page || fp->offset + len > fp->size) {
		if (fp->page) {
			f->cur = (f->cur + 1) % KVIO_NET_FRAG_PAGES;
			fp = &f->p[f->cur];
		}
		if (!fp->page || !kvio_net_frag_reuse(fp)) {
			kvio_net_frag_drop(fp);
			if (!kvio_net_frag_fill(fp))
				return NULL;
		}
	}
	buf = page_address(fp->page) + fp->offset;
	fp->offset += len;
	fp->bias--;
	return buf;
}

void kvio_net_frags_free(struct kvio_net_frags *f)
{
	unsigned int i;

	for (i = 0; i < KVIO_NET_FRAG_PAGES; i++)
		kvio_net_frag_drop(&f->p[i]);
}

/*
 * What tun does with the header on its one-frame path and not on the
 * batched one: make hdr_len cover the checksum field.
 */
static int kvio_net_tx_fix_hdr(struct kvio_vring *vr,
			       struct virtio_net_hdr *h, size_t len)
{
	u16 end;

	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	end = kvio16_to_cpu(vr, h->csum_start) +
	      kvio16_to_cpu(vr, h->csum_offset) + 2;
	if (end <= kvio16_to_cpu(vr, h->hdr_len))
		return 0;
	if (end > len)
		return -EINVAL;
	h->hdr_len = cpu_to_kvio16(vr, end);
	return 0;
}

/*
 * Copy one frame (socket header and data) out of @from into a page
 * fragment laid out as tun's batched path wants it: struct tun_xdp_hdr,
 * headroom, data, room for the skb's shared info.  -ENOSPC: the frame
 * does not fit a page, send it alone.
 */
static int kvio_net_tx_build(struct kvio_net *n, struct kvio_net_vring *nvr,
			     struct socket *sock, struct iov_iter *from)
{
	size_t len = iov_iter_count(from), hlen = nvr->sock_hlen;
	unsigned int room = sock_flag(sock->sk, SOCK_XDP) ?
			    XDP_PACKET_HEADROOM : 0;
	size_t pad, buflen;
	struct tun_xdp_hdr *th;
	void *buf;

	if (len < hlen)
		return -EINVAL;
	pad = SKB_DATA_ALIGN(NET_IP_ALIGN + NET_SKB_PAD + room + hlen);
	buflen = SKB_DATA_ALIGN(len - hlen + pad) +
		 SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	if (buflen > PAGE_SIZE)
		return -ENOSPC;
	buf = kvio_net_frag_alloc(&n->frags, buflen);
	if (!buf)
		return -ENOMEM;
	th = buf;
	/*
	 * An XDP program on the tap can move the frame's start back into
	 * the headroom and read it: a reused page must not show it what an
	 * earlier frame left there.
	 */
	memset(buf, 0, pad);
	/* The socket's header may be the 12-byte one: it runs into the pad. */
	if (copy_from_iter(buf + offsetof(struct tun_xdp_hdr, gso), hlen,
			   from) != hlen ||
	    kvio_net_tx_fix_hdr(&nvr->vr, &th->gso, len - hlen) ||
	    copy_from_iter(buf + pad, len - hlen, from) != len - hlen) {
		page_frag_free(buf);
		return -EINVAL;
	}
	th->buflen = buflen;
	xdp_init_buff(&n->xdp[n->nxdp], buflen, NULL);
	xdp_prepare_buff(&n->xdp[n->nxdp], buf, pad, len - hlen, true);
	n->nxdp++;
	return 0;
}

/*
 * Send one frame made of @out readable iovecs, or add it to the batch
 * when the socket takes batches.  Returns the bytes taken from the guest,
 * -EAGAIN when the socket is full, or -EINVAL when the chain is malformed
 * (the ring is then broken).
 */
static ssize_t kvio_net_tx_one(struct kvio_net *n, struct kvio_net_vring *nvr,
			       struct socket *sock, unsigned int out,
			       bool batch)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	size_t len;
	int err;

	len = iov_length(nvr->iov, out);
	if (len <= nvr->vhost_hlen) {
		/* Leave the bad chain available: the base stays on it. */
		kvio_ring_unpop(&nvr->vr, 1);
		return kvio_ring_break(&nvr->vr, "TX frame shorter than its header");
	}
	/*
	 * Descriptors may alias, so a chain can add up to terabytes: no
	 * frame is longer than KVIO_NET_MAX_FRAME, and nothing longer may
	 * reach the sizes the socket layers keep in 32 bits.  Dropped, as a
	 * NIC drops what it cannot send; the ring goes on.
	 */
	if (len - nvr->vhost_hlen > nvr->sock_hlen + KVIO_NET_MAX_FRAME)
		return len;
	iov_iter_init(&msg.msg_iter, WRITE, nvr->iov, out, len);
	/* We provide the vnet header: the guest's own is not sent. */
	iov_iter_advance(&msg.msg_iter, nvr->vhost_hlen);

	if (batch) {
		err = kvio_net_tx_build(n, nvr, sock, &msg.msg_iter);
		if (!err) {
			if (n->nxdp == KVIO_NET_BATCH)
				kvio_net_tx_push(n, sock);
			return len;
		}
		/* Keep the order: what is batched goes first. */
		kvio_net_tx_push(n, sock);
		if (err != -ENOSPC)
			return len;	/* dropped, as the socket would */
	}
	err = sock->ops->sendmsg(sock, &msg, len - nvr->vhost_hlen);
	/*
	 * Only a full send buffer is worth waiting for: the socket says when
	 * it has room again.  -ENOBUFS (a qdisc dropped the frame) and
	 * -ENOMEM come while poll() says writable, so waiting for that would
	 * spin; those frames are dropped, as a NIC drops what it can't send,
	 * like every other error.
	 */
	if (err == -EAGAIN)
		return -EAGAIN;
	return len;
}

static void kvio_net_tx_loop(struct kvio_net *n, struct kvio_net_vring *nvr,
			     struct socket *sock)
{
	struct kvio_vring *vr = &nvr->vr;
	unsigned int out, in, pkts = 0, frames = 0;
	size_t total = 0, bytes = 0;
	ssize_t len;
	int head, poll;
	/* tun and macvtap take batches when their send buffer is unbounded. */
	bool batch = READ_ONCE(sock->sk->sk_sndbuf) == INT_MAX;

	lockdep_assert_held(&vr->mutex);
	kvio_ring_disable_notify(vr);
	for (;;) {
		head = kvio_ring_pop(vr, nvr->iov, ARRAY_SIZE(nvr->iov),
				     &out, &in, NULL, NULL);
		if (head == -ENOBUFS)
			kvio_ring_break(vr, "descriptor chain too long");
		if (head < 0)
			break;
		if (head == vr->num) {
			/* The frames batched go out before a busy poll. */
			if (vr->busyloop_timeout)
				kvio_net_tx_push(n, sock);
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
		if (in || !out) {
			/* Leave the bad chain available, as ring.c does. */
			kvio_ring_unpop(vr, 1);
			kvio_ring_break(vr, "TX chain not made of readable buffers");
			break;
		}
		len = kvio_net_tx_one(n, nvr, sock, out, batch);
		if (len == -EAGAIN) {
			/* Retry this frame when the socket has room. */
			kvio_ring_unpop(vr, 1);
			kvio_poll_start(&n->poll[KVIO_NET_VQ_TX], sock->file);
			break;
		}
		if (len < 0)
			break;
		kvio_net_complete(nvr, head, 0);
		frames++;
		bytes += len;
		if (kvio_net_spent(nvr, &pkts, &total, len))
			break;
	}
	kvio_net_tx_push(n, sock);
	kvio_net_flush_used(nvr);
	kvio_net_account(vr, frames, bytes, kvio_net_over(pkts, total));
	trace_kvio_net_tx(vr, frames, bytes, kvio_net_over(pkts, total));
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
