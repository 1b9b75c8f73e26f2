// SPDX-License-Identifier: GPL-2.0
/*
 * The IOTLB message channel: read(), write() and poll() on a vhost fd
 * carry struct vhost_msg / vhost_msg_v2 for VIRTIO_F_ACCESS_PLATFORM.
 *
 * kvio does not offer ACCESS_PLATFORM yet, so a device never has an
 * IOTLB: the channel parses messages exactly as upstream does and then
 * answers as upstream answers a device without one (updates and
 * invalidations fail with EFAULT, a blocking read with EBADFD).
 */
#include <linux/sched/signal.h>
#include <linux/uio.h>

#include <kvio/vhost.h>

#include "internal.h"

/* Apply one message; without a device IOTLB there is nothing to apply. */
static int kvio_iotlb_process(struct kvio_dev *dev, u32 asid,
			      const struct vhost_iotlb_msg *msg)
{
	if (asid)
		return -EINVAL;
	switch (msg->type) {
	case VHOST_IOTLB_UPDATE:
	case VHOST_IOTLB_INVALIDATE:
		return -EFAULT;
	default:
		return -EINVAL;
	}
}

/**
 * kvio_chr_write_iter - write() on a kvio device: one IOTLB message
 * @dev: the device
 * @from: the message
 *
 * Return: the message size, -EINVAL for a malformed message, -EFAULT for
 * one that cannot be applied.
 */
ssize_t kvio_chr_write_iter(struct kvio_dev *dev, struct iov_iter *from)
{
	struct vhost_iotlb_msg msg;
	size_t skip;
	u32 asid = 0;
	int type;

	if (copy_from_iter(&type, sizeof(type), from) != sizeof(type))
		return -EINVAL;
	switch (type) {
	case VHOST_IOTLB_MSG:
		/* struct vhost_msg may pad between type and the message. */
		skip = offsetof(struct vhost_msg, iotlb) - sizeof(int);
		break;
	case VHOST_IOTLB_MSG_V2:
		if (kvio_backend_has_feature(dev->vrings[0],
					     VHOST_BACKEND_F_IOTLB_ASID)) {
			if (copy_from_iter(&asid, sizeof(asid), from) !=
			    sizeof(asid))
				return -EINVAL;
			skip = 0;
		} else {
			skip = sizeof(u32);
		}
		break;
	default:
		return -EINVAL;
	}
	iov_iter_advance(from, skip);
	if (copy_from_iter(&msg, sizeof(msg), from) != sizeof(msg))
		return -EINVAL;
	if (msg.type == VHOST_IOTLB_UPDATE && !msg.size)
		return -EINVAL;
	if (kvio_iotlb_process(dev, asid, &msg))
		return -EFAULT;
	return type == VHOST_IOTLB_MSG ? sizeof(struct vhost_msg) :
					 sizeof(struct vhost_msg_v2);
}
EXPORT_SYMBOL_GPL(kvio_chr_write_iter);

/**
 * kvio_chr_read_iter - read() on a kvio device: the next IOTLB miss
 * @dev: the device
 * @to: room for one message
 * @nonblock: O_NONBLOCK
 *
 * Return: 0 if @to cannot hold a message, else an error: with no device
 * IOTLB no miss is ever queued (-EAGAIN, or -EBADFD when blocking).
 */
ssize_t kvio_chr_read_iter(struct kvio_dev *dev, struct iov_iter *to,
			   bool nonblock)
{
	if (iov_iter_count(to) < sizeof(struct vhost_msg))
		return 0;
	if (nonblock)
		return -EAGAIN;
	if (signal_pending(current))
		return -ERESTARTSYS;
	return -EBADFD;
}
EXPORT_SYMBOL_GPL(kvio_chr_read_iter);

__poll_t kvio_chr_poll(struct file *file, struct kvio_dev *dev,
		       poll_table *wait)
{
	poll_wait(file, &dev->wait, wait);
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_chr_poll);
