// SPDX-License-Identifier: GPL-2.0
/*
 * The device IOTLB (VIRTIO_F_ACCESS_PLATFORM): with it, the addresses a
 * guest puts in its rings, and the ring addresses the VMM gives, are I/O
 * virtual addresses of the guest's vIOMMU.  The VMM tells the device what
 * each IOVA range maps to in its own memory with messages written to the
 * device fd (UPDATE, INVALIDATE); the device asks for a translation it
 * lacks with a MISS message the VMM reads from the fd, and the ring that
 * needed it stalls until an UPDATE covers it.
 *
 * The translations live in an interval tree with the permissions the VMM
 * gave.  The tree changes only with the device's mutex and every ring's
 * mutex held, and is read by the worker and the ring ioctls with their
 * ring's mutex held: so a translation found by the worker is used up
 * before a message that removes it returns to the VMM.
 *
 * Misses: each ring has one slot, queued on the device's read list until
 * the VMM reads it, then pending until an UPDATE covers it.  A ring that
 * misses again before the VMM read its question changes that question
 * instead of queueing another: however often a stalled ring is kicked,
 * the read list holds at most one message per ring, and its memory is
 * the rings'.  (Upstream queues one allocated message per miss.)
 */
#include <linux/interval_tree_generic.h>
#include <linux/moduleparam.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include <kvio/vhost.h>

#include "internal.h"
#include "kvio_trace.h"

static unsigned int max_iotlb_entries = 2048;
module_param(max_iotlb_entries, uint, 0444);
MODULE_PARM_DESC(max_iotlb_entries,
		 "Maximum number of device IOTLB entries; the oldest goes when one more comes (default 2048)");

/* One translation: IOVAs [start, last] at @uaddr in the owner's memory. */
struct kvio_iotlb_map {
	struct rb_node rb;
	u64 start;
	u64 last;
	u64 subtree_last;
	u64 uaddr;
	u32 perm;
	/* In the order added: the oldest goes first when the table is full. */
	struct list_head link;
};

struct kvio_iotlb {
	struct rb_root_cached root;
	struct list_head maps;
	unsigned int nmaps;
};

#define KVIO_MAP_START(m)	((m)->start)
#define KVIO_MAP_LAST(m)	((m)->last)

INTERVAL_TREE_DEFINE(struct kvio_iotlb_map, rb, u64, subtree_last,
		     KVIO_MAP_START, KVIO_MAP_LAST, static inline, kvio_itree);

/* Miss slot states (struct kvio_iotlb_miss @state). */
enum {
	KVIO_MISS_IDLE,
	KVIO_MISS_QUEUED,	/* on the read list */
	KVIO_MISS_SENT,		/* read by the VMM, waiting for an UPDATE */
};

static struct kvio_iotlb *kvio_iotlb_alloc(void)
{
	struct kvio_iotlb *iotlb;

	if (!max_iotlb_entries)
		return NULL;
	iotlb = kzalloc(sizeof(*iotlb), GFP_KERNEL_ACCOUNT);
	if (!iotlb)
		return NULL;
	iotlb->root = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&iotlb->maps);
	return iotlb;
}

static void kvio_iotlb_unlink(struct kvio_iotlb *iotlb,
			      struct kvio_iotlb_map *map)
{
	kvio_itree_remove(map, &iotlb->root);
	list_del(&map->link);
	kfree(map);
	iotlb->nmaps--;
}

static void kvio_iotlb_free(struct kvio_iotlb *iotlb)
{
	struct kvio_iotlb_map *map, *next;

	if (!iotlb)
		return;
	list_for_each_entry_safe(map, next, &iotlb->maps, link)
		kvio_iotlb_unlink(iotlb, map);
	kfree(iotlb);
}

/* Add [start, last] at @uaddr; a full table gives up its oldest entry. */
static int kvio_iotlb_add(struct kvio_iotlb *iotlb, u64 start, u64 last,
			  u64 uaddr, u32 perm)
{
	struct kvio_iotlb_map *map;

	if (last < start)
		return -EFAULT;
	map = kmalloc(sizeof(*map), GFP_KERNEL_ACCOUNT);
	if (!map)
		return -ENOMEM;
	if (iotlb->nmaps >= max_iotlb_entries)
		kvio_iotlb_unlink(iotlb, list_first_entry(&iotlb->maps,
							  struct kvio_iotlb_map,
							  link));
	map->start = start;
	map->last = last;
	map->uaddr = uaddr;
	map->perm = perm;
	kvio_itree_insert(map, &iotlb->root);
	list_add_tail(&map->link, &iotlb->maps);
	iotlb->nmaps++;
	return 0;
}

/* Drop every entry that overlaps [start, last], whole. */
static void kvio_iotlb_del(struct kvio_iotlb *iotlb, u64 start, u64 last)
{
	struct kvio_iotlb_map *map;

	while ((map = kvio_itree_iter_first(&iotlb->root, start, last)))
		kvio_iotlb_unlink(iotlb, map);
}

/*
 * The entry that translates @iova, if any: of those overlapping
 * [iova, last], the lowest-starting one, which covers @iova if any does.
 */
static const struct kvio_iotlb_map *
kvio_iotlb_find(const struct kvio_vring *vr, u64 iova, u64 last)
{
	struct kvio_iotlb_map *map;

	map = kvio_itree_iter_first(&vr->iotlb->root, iova, last);
	return map && map->start <= iova ? map : NULL;
}

/**
 * kvio_iotlb_miss - ask the VMM for a translation
 * @vr: the ring that needs it; its mutex is held
 * @iova: the address not translated
 * @perm: the access needed (VHOST_ACCESS_*)
 *
 * The ring's one slot is queued for read(); if it still waits there, it
 * now asks this instead.
 */
void kvio_iotlb_miss(struct kvio_vring *vr, u64 iova, u32 perm)
{
	struct kvio_dev *dev = vr->dev;
	struct kvio_iotlb_miss *miss = &vr->miss;
	bool wake = false;

	lockdep_assert_held(&vr->mutex);

	spin_lock(&dev->iotlb_lock);
	miss->iova = iova;
	miss->perm = perm;
	miss->v2 = kvio_backend_has_feature(vr, VHOST_BACKEND_F_IOTLB_MSG_V2);
	if (miss->state != KVIO_MISS_QUEUED) {
		list_add_tail(&miss->node, &dev->iotlb_read);
		miss->state = KVIO_MISS_QUEUED;
		wake = true;
	}
	spin_unlock(&dev->iotlb_lock);
	kvio_stat_add(&vr->stats.misses, 1);
	trace_kvio_iotlb_miss(vr, iova, perm);
	if (wake)
		wake_up_interruptible_poll(&dev->wait, EPOLLIN | EPOLLRDNORM);
}

/**
 * kvio_iotlb_translate - IOVAs [iova, iova + len) as iovecs
 * @vr: the ring; its mutex is held and it has an IOTLB
 * @iova: the first address
 * @len: bytes, at least 1
 * @iov: where the pieces go
 * @iov_max: room in @iov
 * @perm: the access the device makes (VHOST_ACCESS_RO or _WO)
 *
 * Return: the number of iovecs; -ENOBUFS if @iov_max is too few; -EAGAIN
 * if a piece has no translation (a miss is queued); -EPERM if an entry
 * does not allow @perm.
 */
int kvio_iotlb_translate(struct kvio_vring *vr, u64 iova, u64 len,
			 struct iovec *iov, unsigned int iov_max, u32 perm)
{
	unsigned int n = 0;

	lockdep_assert_held(&vr->mutex);

	while (len) {
		const struct kvio_iotlb_map *map;
		/* A buffer that wraps the IOVA space is looked up to its end. */
		u64 last = iova + len - 1 < iova ? U64_MAX : iova + len - 1;
		u64 chunk;

		if (n == iov_max)
			return -ENOBUFS;
		map = kvio_iotlb_find(vr, iova, last);
		if (!map) {
			kvio_iotlb_miss(vr, iova, perm);
			return -EAGAIN;
		}
		if ((map->perm & perm) != perm)
			return -EPERM;
		/* Never more than the buffer has left. */
		chunk = min(map->last - iova, len - 1) + 1;
		iov[n].iov_base = u64_to_user_ptr(map->uaddr + (iova - map->start));
		iov[n].iov_len = chunk;
		n++;
		len -= chunk;
		iova += chunk;
	}
	return n;
}

/**
 * kvio_iotlb_ptr - one contiguous user address for IOVAs [iova, iova + len)
 * @vr: the ring; its mutex is held and it has an IOTLB
 * @iova: the first address
 * @len: bytes, at least 1 (a ring area, a field of one)
 * @perm: the access the device makes (VHOST_ACCESS_*)
 *
 * Entries that follow each other in IOVA and in the owner's memory are
 * joined: a ring spread over pages of one guest allocation is one area.
 *
 * Return: the address; ERR_PTR(-EAGAIN) if a piece has no translation (a
 * miss is queued), -EPERM if an entry does not allow @perm, -EFAULT if
 * the pieces are not contiguous in the owner's memory.
 */
void __user *kvio_iotlb_ptr(struct kvio_vring *vr, u64 iova, u64 len, u32 perm)
{
	u64 last = iova + len - 1, uaddr = 0, next = iova;

	lockdep_assert_held(&vr->mutex);

	if (last < iova)
		return ERR_PTR(-EFAULT);
	for (;;) {
		const struct kvio_iotlb_map *map;
		u64 ua, end;

		map = kvio_iotlb_find(vr, next, last);
		if (!map) {
			kvio_iotlb_miss(vr, next, perm);
			return ERR_PTR(-EAGAIN);
		}
		if ((map->perm & perm) != perm)
			return ERR_PTR(-EPERM);
		ua = map->uaddr + (next - map->start);
		if (next == iova)
			uaddr = ua;
		else if (ua != uaddr + (next - iova))
			return ERR_PTR(-EFAULT);
		end = min(map->last, last);
		if (end == last)
			return u64_to_user_ptr(uaddr);
		next = end + 1;
	}
}

/**
 * kvio_iotlb_meta_reset - translate the ring's areas again before use
 * @vr: the ring; its mutex is held
 */
void kvio_iotlb_meta_reset(struct kvio_vring *vr)
{
	lockdep_assert_held(&vr->mutex);

	if (!vr->iotlb)
		return;
	vr->meta_ok = false;
	vr->desc = NULL;
	vr->avail = NULL;
	vr->used = NULL;
}

/**
 * kvio_iotlb_forget_addrs - drop the ring's addresses and their log
 * @vr: the ring; its mutex is held, or it is not in use yet
 *
 * At reset, and when the device IOTLB comes or goes: addresses given in
 * the other address space (user addresses vs IOVAs) mean nothing.
 */
void kvio_iotlb_forget_addrs(struct kvio_vring *vr)
{
	vr->desc_addr = 0;
	vr->avail_addr = 0;
	vr->used_addr = 0;
	vr->desc = NULL;
	vr->avail = NULL;
	vr->used = NULL;
	vr->log_used = false;
	vr->log_addr = -1ULL;
	vr->meta_ok = !vr->iotlb;
}

/* The rings' view of @iotlb; each ring's mutex is held. */
static void kvio_iotlb_set_rings(struct kvio_dev *dev, struct kvio_iotlb *iotlb,
				 bool mode_change)
{
	int i;

	for (i = 0; i < dev->nvrings; i++) {
		struct kvio_vring *vr = dev->vrings[i];

		lockdep_assert_held(&vr->mutex);
		vr->iotlb = iotlb;
		/* Ring addresses of the other address space mean nothing. */
		if (mode_change)
			kvio_iotlb_forget_addrs(vr);
		else
			kvio_iotlb_meta_reset(vr);
	}
}

static void kvio_dev_lock_vrings(struct kvio_dev *dev)
{
	int i;

	lockdep_assert_held(&dev->mutex);
	for (i = 0; i < dev->nvrings; i++)
		mutex_lock_nest_lock(&dev->vrings[i]->mutex, &dev->mutex);
}

static void kvio_dev_unlock_vrings(struct kvio_dev *dev)
{
	int i;

	for (i = dev->nvrings - 1; i >= 0; i--)
		mutex_unlock(&dev->vrings[i]->mutex);
}

/* Forget every queued and pending miss; the device's mutex is held. */
static void kvio_iotlb_clear_misses(struct kvio_dev *dev)
{
	int i;

	spin_lock(&dev->iotlb_lock);
	INIT_LIST_HEAD(&dev->iotlb_read);
	for (i = 0; i < dev->nvrings; i++)
		dev->vrings[i]->miss.state = KVIO_MISS_IDLE;
	spin_unlock(&dev->iotlb_lock);
}

/**
 * kvio_dev_iotlb_init - give @dev a new, empty IOTLB
 * @dev: the device; its mutex is held
 *
 * For a device that acks VIRTIO_F_ACCESS_PLATFORM, at every
 * VHOST_SET_FEATURES with it, as upstream: the entries of an older IOTLB
 * are dropped.  Rings that had none forget their addresses, which were
 * user addresses.
 *
 * Return: 0, or -ENOMEM.
 */
int kvio_dev_iotlb_init(struct kvio_dev *dev)
{
	struct kvio_iotlb *iotlb, *old;

	lockdep_assert_held(&dev->mutex);

	iotlb = kvio_iotlb_alloc();
	if (!iotlb)
		return -ENOMEM;
	kvio_dev_lock_vrings(dev);
	old = dev->iotlb;
	dev->iotlb = iotlb;
	kvio_iotlb_set_rings(dev, iotlb, !old);
	kvio_dev_unlock_vrings(dev);
	kvio_iotlb_free(old);
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_dev_iotlb_init);

/**
 * kvio_dev_iotlb_clear - back to user addresses
 * @dev: the device; its mutex is held
 *
 * At VHOST_SET_FEATURES without VIRTIO_F_ACCESS_PLATFORM and at cleanup:
 * the IOTLB, its misses and the rings' IOVA addresses go; blocked
 * readers wake up to EBADFD.
 */
void kvio_dev_iotlb_clear(struct kvio_dev *dev)
{
	struct kvio_iotlb *iotlb = dev->iotlb;

	lockdep_assert_held(&dev->mutex);

	if (!iotlb)
		return;
	kvio_dev_lock_vrings(dev);
	WRITE_ONCE(dev->iotlb, NULL);
	kvio_iotlb_set_rings(dev, NULL, true);
	kvio_dev_unlock_vrings(dev);
	kvio_iotlb_clear_misses(dev);
	kvio_iotlb_free(iotlb);
	wake_up_interruptible_poll(&dev->wait, EPOLLIN | EPOLLRDNORM);
}
EXPORT_SYMBOL_GPL(kvio_dev_iotlb_clear);

/* Would [uaddr, uaddr + size) leave the owner's address space? */
static bool kvio_iotlb_uaddr_ok(u64 uaddr, u64 size)
{
	if (uaddr > ULONG_MAX || size > ULONG_MAX)
		return false;
	if (size && uaddr > ULONG_MAX - size + 1)
		return false;
	return access_ok(u64_to_user_ptr(uaddr), size);
}

/* After an UPDATE: wake the rings waiting for a translation it gives. */
static void kvio_iotlb_resume(struct kvio_dev *dev, u64 start, u64 last)
{
	int i;

	spin_lock(&dev->iotlb_lock);
	for (i = 0; i < dev->nvrings; i++) {
		struct kvio_vring *vr = dev->vrings[i];
		struct kvio_iotlb_miss *miss = &vr->miss;

		if (miss->state == KVIO_MISS_IDLE ||
		    miss->iova < start || miss->iova > last)
			continue;
		/* Answered before it was read: the VMM need not read it. */
		if (miss->state == KVIO_MISS_QUEUED)
			list_del(&miss->node);
		miss->state = KVIO_MISS_IDLE;
		if (vr->handle_kick)
			kvio_poll_queue(&vr->poll);
	}
	spin_unlock(&dev->iotlb_lock);
}

/* Apply one message from the VMM. */
static int kvio_iotlb_process(struct kvio_dev *dev, u32 asid,
			      const struct vhost_iotlb_msg *msg)
{
	u64 last = msg->iova + msg->size - 1;
	int i, ret = 0;

	if (asid)
		return -EINVAL;
	mutex_lock(&dev->mutex);
	kvio_dev_lock_vrings(dev);
	switch (msg->type) {
	case VHOST_IOTLB_UPDATE:
		if (!dev->iotlb || !kvio_iotlb_uaddr_ok(msg->uaddr, msg->size)) {
			ret = -EFAULT;
			break;
		}
		for (i = 0; i < dev->nvrings; i++)
			kvio_iotlb_meta_reset(dev->vrings[i]);
		ret = kvio_iotlb_add(dev->iotlb, msg->iova, last, msg->uaddr,
				     msg->perm);
		if (!ret)
			kvio_iotlb_resume(dev, msg->iova, last);
		break;
	case VHOST_IOTLB_INVALIDATE:
		if (!dev->iotlb) {
			ret = -EFAULT;
			break;
		}
		for (i = 0; i < dev->nvrings; i++)
			kvio_iotlb_meta_reset(dev->vrings[i]);
		kvio_iotlb_del(dev->iotlb, msg->iova, last);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	kvio_dev_unlock_vrings(dev);
	mutex_unlock(&dev->mutex);
	return ret;
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

/* Take the oldest queued miss off the read list, as a message. */
static bool kvio_iotlb_dequeue(struct kvio_dev *dev, struct vhost_msg_v2 *out,
			       struct kvio_iotlb_miss **slot)
{
	struct kvio_iotlb_miss *miss;

	spin_lock(&dev->iotlb_lock);
	miss = list_first_entry_or_null(&dev->iotlb_read,
					struct kvio_iotlb_miss, node);
	if (miss) {
		list_del(&miss->node);
		/* Pending from now on; undone if the copy fails. */
		miss->state = KVIO_MISS_SENT;
		memset(out, 0, sizeof(*out));
		out->type = miss->v2 ? VHOST_IOTLB_MSG_V2 : VHOST_IOTLB_MSG;
		out->iotlb.type = VHOST_IOTLB_MISS;
		out->iotlb.iova = miss->iova;
		out->iotlb.perm = miss->perm;
		*slot = miss;
	}
	spin_unlock(&dev->iotlb_lock);
	return miss;
}

/**
 * kvio_chr_read_iter - read() on a kvio device: the next IOTLB miss
 * @dev: the device
 * @to: room for one message
 * @nonblock: O_NONBLOCK
 *
 * Return: the message's size; 0 if @to cannot hold a message; -EAGAIN
 * without one and @nonblock; -EBADFD when blocking on a device without an
 * IOTLB; -ERESTARTSYS on a signal.  A message copied in part is lost, as
 * upstream loses it, and the bytes copied are returned.
 */
ssize_t kvio_chr_read_iter(struct kvio_dev *dev, struct iov_iter *to,
			   bool nonblock)
{
	struct kvio_iotlb_miss *miss;
	struct vhost_msg_v2 msg;
	DEFINE_WAIT(wait);
	ssize_t ret = 0;
	size_t size, copied;
	void *start;

	/* v1 and v2 messages have the same size; a v1 one is a vhost_msg. */
	BUILD_BUG_ON(sizeof(struct vhost_msg) != sizeof(struct vhost_msg_v2));
	if (iov_iter_count(to) < sizeof(struct vhost_msg))
		return 0;

	for (;;) {
		if (!nonblock)
			prepare_to_wait(&dev->wait, &wait, TASK_INTERRUPTIBLE);
		if (kvio_iotlb_dequeue(dev, &msg, &miss))
			break;
		if (nonblock) {
			ret = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (!READ_ONCE(dev->iotlb)) {
			ret = -EBADFD;
			break;
		}
		schedule();
	}
	if (!nonblock)
		finish_wait(&dev->wait, &wait);
	if (ret)
		return ret;

	if (msg.type == VHOST_IOTLB_MSG_V2) {
		start = &msg;
		size = sizeof(msg);
	} else {
		struct vhost_msg *v1 = (struct vhost_msg *)&msg;

		/* Same bytes, the v1 layout: type, then the message at 8. */
		BUILD_BUG_ON(offsetof(struct vhost_msg, iotlb) !=
			     offsetof(struct vhost_msg_v2, iotlb));
		v1->type = VHOST_IOTLB_MSG;
		start = v1;
		size = sizeof(*v1);
	}
	copied = copy_to_iter(start, size, to);
	if (copied != size) {
		spin_lock(&dev->iotlb_lock);
		if (miss->state == KVIO_MISS_SENT)
			miss->state = KVIO_MISS_IDLE;
		spin_unlock(&dev->iotlb_lock);
	}
	return copied;
}
EXPORT_SYMBOL_GPL(kvio_chr_read_iter);

/**
 * kvio_chr_poll - poll() on a kvio device
 * @file: the device file
 * @dev: the device
 * @wait: the poll table
 *
 * Return: EPOLLIN | EPOLLRDNORM while a miss waits to be read.
 */
__poll_t kvio_chr_poll(struct file *file, struct kvio_dev *dev,
		       poll_table *wait)
{
	__poll_t mask = 0;

	poll_wait(file, &dev->wait, wait);
	spin_lock(&dev->iotlb_lock);
	if (!list_empty(&dev->iotlb_read))
		mask = EPOLLIN | EPOLLRDNORM;
	spin_unlock(&dev->iotlb_lock);
	return mask;
}
EXPORT_SYMBOL_GPL(kvio_chr_poll);
