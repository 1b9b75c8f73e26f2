// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_net: /dev/kvio-net, a drop-in for upstream's /dev/vhost-net.
 *
 * The control plane speaks the upstream vhost-net uAPI so that unmodified
 * QEMU (vhostfd=), libvirt and DPDK virtio-user can drive it; the device
 * has its own name and a dynamic minor so vhost_net.ko loads beside it.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/virtio_net.h>

#include "kvio_net.h"

#define CREATE_TRACE_POINTS
#include "kvio_net_trace.h"

#define KVIO_NET_FEATURES	(KVIO_FEATURES |			\
				 BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR) |	\
				 BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |	\
				 BIT_ULL(VIRTIO_F_ACCESS_PLATFORM) |	\
				 BIT_ULL(VIRTIO_F_RING_RESET))

#define KVIO_NET_BACKEND_FEATURES	BIT_ULL(VHOST_BACKEND_F_IOTLB_MSG_V2)

/* Work items: a guest kick on a ring, or readiness of its socket. */
static void kvio_net_handle_tx_kick(struct kvio_work *work)
{
	struct kvio_vring *vr = container_of(work, struct kvio_vring, poll.work);

	kvio_net_handle_tx(container_of(vr->dev, struct kvio_net, dev));
}

static void kvio_net_handle_rx_kick(struct kvio_work *work)
{
	struct kvio_vring *vr = container_of(work, struct kvio_vring, poll.work);

	kvio_net_handle_rx(container_of(vr->dev, struct kvio_net, dev));
}

static void kvio_net_handle_tx_net(struct kvio_work *work)
{
	kvio_net_handle_tx(container_of(work, struct kvio_net,
					poll[KVIO_NET_VQ_TX].work));
}

static void kvio_net_handle_rx_net(struct kvio_work *work)
{
	kvio_net_handle_rx(container_of(work, struct kvio_net,
					poll[KVIO_NET_VQ_RX].work));
}

static int kvio_net_open(struct inode *inode, struct file *f)
{
	struct kvio_net *n;
	int i;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;

	n->vrings[KVIO_NET_VQ_TX].vr.handle_kick = kvio_net_handle_tx_kick;
	n->vrings[KVIO_NET_VQ_RX].vr.handle_kick = kvio_net_handle_rx_kick;
	n->vrings[KVIO_NET_VQ_TX].tx = true;
	for (i = 0; i < KVIO_NET_VQ_MAX; i++)
		n->vring_ptrs[i] = &n->vrings[i].vr;
	kvio_dev_init(&n->dev, n->vring_ptrs, KVIO_NET_VQ_MAX);
	kvio_dev_debugfs_add(&n->dev, "net");

	kvio_poll_init(&n->poll[KVIO_NET_VQ_TX], kvio_net_handle_tx_net,
		       EPOLLOUT, &n->vrings[KVIO_NET_VQ_TX].vr);
	kvio_poll_init(&n->poll[KVIO_NET_VQ_RX], kvio_net_handle_rx_net,
		       EPOLLIN, &n->vrings[KVIO_NET_VQ_RX].vr);

	f->private_data = n;
	return 0;
}

static struct kvio_poll *kvio_net_sock_poll(struct kvio_net *n,
					    struct kvio_vring *vr)
{
	return &n->poll[container_of(vr, struct kvio_net_vring, vr) -
			n->vrings];
}

static void kvio_net_disable_vring(struct kvio_net *n, struct kvio_vring *vr)
{
	if (vr->backend)
		kvio_poll_stop(kvio_net_sock_poll(n, vr));
}

static int kvio_net_enable_vring(struct kvio_net *n, struct kvio_vring *vr)
{
	struct socket *sock = vr->backend;

	if (!sock)
		return 0;
	return kvio_poll_start(kvio_net_sock_poll(n, vr), sock->file);
}

/* Detach the backend of @vr and return it for the caller to put. */
static struct socket *kvio_net_stop_vring(struct kvio_net *n,
					  struct kvio_vring *vr)
{
	struct socket *sock;

	mutex_lock(&vr->mutex);
	sock = vr->backend;
	kvio_net_disable_vring(n, vr);
	if (vr == &n->vrings[KVIO_NET_VQ_RX].vr)
		kvio_net_rx_set_ring(&n->vrings[KVIO_NET_VQ_RX], NULL);
	vr->backend = NULL;
	mutex_unlock(&vr->mutex);
	return sock;
}

static void kvio_net_stop(struct kvio_net *n, struct socket **tx,
			  struct socket **rx)
{
	*tx = kvio_net_stop_vring(n, &n->vrings[KVIO_NET_VQ_TX].vr);
	*rx = kvio_net_stop_vring(n, &n->vrings[KVIO_NET_VQ_RX].vr);
}

static void kvio_net_vring_reset(struct kvio_net *n)
{
	int i;

	for (i = 0; i < KVIO_NET_VQ_MAX; i++) {
		n->vrings[i].vhost_hlen = 0;
		n->vrings[i].sock_hlen = 0;
	}
}

/* Stop everything, release what the owner gave, and reap the worker. */
static void kvio_net_teardown(struct kvio_net *n, struct kvio_mem *mem)
{
	struct socket *tx, *rx;

	lockdep_assert_held(&n->dev.mutex);
	kvio_net_stop(n, &tx, &rx);
	kvio_dev_flush(&n->dev);
	kvio_dev_stop(&n->dev);
	if (mem)
		kvio_dev_reset_owner(&n->dev, mem);
	else
		kvio_dev_cleanup(&n->dev);
	kvio_net_vring_reset(n);
	kvio_net_put_socket(tx);
	kvio_net_put_socket(rx);
}

static int kvio_net_release(struct inode *inode, struct file *f)
{
	struct kvio_net *n = f->private_data;

	kvio_dev_debugfs_remove(&n->dev);
	mutex_lock(&n->dev.mutex);
	kvio_net_teardown(n, NULL);
	mutex_unlock(&n->dev.mutex);
	/* Wakeup callbacks may still be running on other CPUs. */
	synchronize_rcu();
	kvio_net_frags_free(&n->frags);
	kvfree(n);
	return 0;
}

static long kvio_net_reset_owner(struct kvio_net *n)
{
	struct kvio_mem *mem;
	long ret;

	mutex_lock(&n->dev.mutex);
	ret = kvio_dev_check_owner(&n->dev);
	if (ret)
		goto out;
	mem = kvio_dev_reset_owner_prepare();
	if (!mem) {
		ret = -ENOMEM;
		goto out;
	}
	kvio_net_teardown(n, mem);
out:
	mutex_unlock(&n->dev.mutex);
	return ret;
}

static long kvio_net_set_owner(struct kvio_net *n)
{
	long ret;

	mutex_lock(&n->dev.mutex);
	ret = kvio_dev_set_owner(&n->dev);
	mutex_unlock(&n->dev.mutex);
	return ret;
}

static long kvio_net_set_features(struct kvio_net *n, u64 features)
{
	size_t hdr_len, vhost_hlen, sock_hlen;
	int i;

	if (features & ~KVIO_NET_FEATURES)
		return -EOPNOTSUPP;
	/* Packed rings exist in virtio 1.x only, little-endian throughout. */
	if ((features & BIT_ULL(VIRTIO_F_RING_PACKED)) &&
	    !(features & BIT_ULL(VIRTIO_F_VERSION_1)))
		return -EINVAL;

	hdr_len = features & (BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
			      BIT_ULL(VIRTIO_F_VERSION_1)) ?
		  sizeof(struct virtio_net_hdr_mrg_rxbuf) :
		  sizeof(struct virtio_net_hdr);
	/* Either we add and strip the header, or the socket does. */
	if (features & BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR)) {
		vhost_hlen = hdr_len;
		sock_hlen = 0;
	} else {
		vhost_hlen = 0;
		sock_hlen = hdr_len;
	}

	mutex_lock(&n->dev.mutex);
	if ((features & BIT_ULL(VHOST_F_LOG_ALL)) &&
	    !kvio_log_access_ok(&n->dev)) {
		mutex_unlock(&n->dev.mutex);
		return -EFAULT;
	}
	/* A running ring keeps its format: the VMM detaches it first. */
	for (i = 0; i < KVIO_NET_VQ_MAX; i++) {
		struct kvio_vring *vr = &n->vrings[i].vr;
		bool busy;

		mutex_lock(&vr->mutex);
		busy = vr->backend && ((vr->acked_features ^ features) &
				       BIT_ULL(VIRTIO_F_RING_PACKED));
		mutex_unlock(&vr->mutex);
		if (busy) {
			mutex_unlock(&n->dev.mutex);
			return -EBUSY;
		}
	}
	/*
	 * As upstream: every SET_FEATURES with ACCESS_PLATFORM starts an
	 * empty IOTLB, one without drops it; either way a ring whose
	 * addresses were in the other address space forgets them.
	 */
	if (features & BIT_ULL(VIRTIO_F_ACCESS_PLATFORM)) {
		if (kvio_dev_iotlb_init(&n->dev)) {
			mutex_unlock(&n->dev.mutex);
			return -EFAULT;
		}
	} else {
		kvio_dev_iotlb_clear(&n->dev);
	}
	for (i = 0; i < KVIO_NET_VQ_MAX; i++) {
		struct kvio_net_vring *nvr = &n->vrings[i];

		mutex_lock(&nvr->vr.mutex);
		nvr->vr.acked_features = features;
		nvr->vhost_hlen = vhost_hlen;
		nvr->sock_hlen = sock_hlen;
		mutex_unlock(&nvr->vr.mutex);
	}
	mutex_unlock(&n->dev.mutex);
	return 0;
}

/*
 * The same backend again restarts a ring the guest broke, as a new one
 * does: from its base, and at once, without waiting for another kick.
 * A running ring is left as it is.
 */
static int kvio_net_restart_vring(struct kvio_vring *vr)
{
	int ret;

	lockdep_assert_held(&vr->mutex);
	if (!vr->backend || !vr->broken)
		return 0;
	ret = kvio_vring_init_access(vr);
	if (!ret)
		kvio_poll_queue(&vr->poll);
	return ret;
}

/* Swap the backend of a checked, locked ring; undone on failure. */
static int kvio_net_swap_backend(struct kvio_net *n, struct kvio_vring *vr,
				 struct socket *sock)
{
	struct socket *old = vr->backend;
	int ret;

	lockdep_assert_held(&vr->mutex);
	kvio_net_disable_vring(n, vr);
	vr->backend = sock;
	ret = kvio_vring_init_access(vr);
	if (!ret)
		ret = kvio_net_enable_vring(n, vr);
	if (ret) {
		kvio_net_disable_vring(n, vr);
		vr->backend = old;
		kvio_net_enable_vring(n, vr);
	}
	/* Under the ring's mutex: the worker is not receiving meanwhile. */
	if (vr == &n->vrings[KVIO_NET_VQ_RX].vr)
		kvio_net_rx_set_ring(&n->vrings[KVIO_NET_VQ_RX], vr->backend);
	return ret;
}

static long kvio_net_set_backend(struct kvio_net *n, unsigned int index,
				 int fd)
{
	struct socket *sock, *old = NULL;
	struct kvio_vring *vr;
	long ret;

	mutex_lock(&n->dev.mutex);
	ret = kvio_dev_check_owner(&n->dev);
	if (ret)
		goto out;
	if (index >= KVIO_NET_VQ_MAX) {
		ret = -ENOBUFS;
		goto out;
	}
	vr = &n->vrings[array_index_nospec(index, KVIO_NET_VQ_MAX)].vr;

	mutex_lock(&vr->mutex);
	/* The ring must be fully set up before it may run. */
	if (!kvio_vring_access_ok(vr)) {
		ret = -EFAULT;
		goto out_vr;
	}
	sock = kvio_net_get_socket(fd);
	if (IS_ERR(sock)) {
		ret = PTR_ERR(sock);
		goto out_vr;
	}
	if (sock == vr->backend) {
		/* Same backend again: keep it, drop the new reference. */
		kvio_net_put_socket(sock);
		ret = kvio_net_restart_vring(vr);
		goto out_vr;
	}
	old = vr->backend;
	ret = kvio_net_swap_backend(n, vr, sock);
	if (ret) {
		kvio_net_put_socket(sock);
		old = NULL;
	}
out_vr:
	mutex_unlock(&vr->mutex);
	if (old) {
		/* The worker may still use the old socket until flushed. */
		kvio_dev_flush(&n->dev);
		kvio_net_put_socket(old);
	}
out:
	mutex_unlock(&n->dev.mutex);
	return ret;
}

static long kvio_net_dev_ioctl(struct kvio_net *n, unsigned int ioctl,
			       void __user *argp)
{
	long ret;

	mutex_lock(&n->dev.mutex);
	ret = kvio_dev_ioctl(&n->dev, ioctl, argp);
	if (ret == -ENOIOCTLCMD)
		ret = kvio_vring_ioctl(&n->dev, ioctl, argp);
	else
		kvio_dev_flush(&n->dev);
	mutex_unlock(&n->dev.mutex);
	return ret;
}

static long kvio_net_put_u64(void __user *argp, u64 val)
{
	return copy_to_user(argp, &val, sizeof(val)) ? -EFAULT : 0;
}

static long kvio_net_ioctl(struct file *f, unsigned int ioctl,
			   unsigned long arg)
{
	struct kvio_net *n = f->private_data;
	void __user *argp = (void __user *)arg;
	struct vhost_vring_file backend;
	u64 features;

	switch (ioctl) {
	case VHOST_NET_SET_BACKEND:
		if (copy_from_user(&backend, argp, sizeof(backend)))
			return -EFAULT;
		return kvio_net_set_backend(n, backend.index, backend.fd);
	case VHOST_GET_FEATURES:
		return kvio_net_put_u64(argp, KVIO_NET_FEATURES);
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, argp, sizeof(features)))
			return -EFAULT;
		return kvio_net_set_features(n, features);
	case VHOST_GET_BACKEND_FEATURES:
		return kvio_net_put_u64(argp, KVIO_NET_BACKEND_FEATURES);
	case VHOST_SET_BACKEND_FEATURES:
		if (copy_from_user(&features, argp, sizeof(features)))
			return -EFAULT;
		if (features & ~KVIO_NET_BACKEND_FEATURES)
			return -EOPNOTSUPP;
		kvio_set_backend_features(&n->dev, features);
		return 0;
	case VHOST_RESET_OWNER:
		return kvio_net_reset_owner(n);
	case VHOST_SET_OWNER:
		return kvio_net_set_owner(n);
	default:
		return kvio_net_dev_ioctl(n, ioctl, argp);
	}
}

static ssize_t kvio_net_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct kvio_net *n = iocb->ki_filp->private_data;

	return kvio_chr_read_iter(&n->dev, to,
				  iocb->ki_filp->f_flags & O_NONBLOCK);
}

static ssize_t kvio_net_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct kvio_net *n = iocb->ki_filp->private_data;

	return kvio_chr_write_iter(&n->dev, from);
}

static __poll_t kvio_net_poll(struct file *f, poll_table *wait)
{
	struct kvio_net *n = f->private_data;

	return kvio_chr_poll(f, &n->dev, wait);
}

static const struct file_operations kvio_net_fops = {
	.owner		= THIS_MODULE,
	.open		= kvio_net_open,
	.release	= kvio_net_release,
	.read_iter	= kvio_net_read_iter,
	.write_iter	= kvio_net_write_iter,
	.poll		= kvio_net_poll,
	.unlocked_ioctl	= kvio_net_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvio_net_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvio-net",
	.fops	= &kvio_net_fops,
};

module_misc_device(kvio_net_misc);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kvio developers");
MODULE_DESCRIPTION("kvio-net: a vhost-net compatible host kernel accelerator");
MODULE_VERSION(KVIO_VERSION);
