// SPDX-License-Identifier: GPL-2.0
/*
 * The device: ownership, reset and the device-wide ioctls of the vhost
 * uAPI.  Ordering and errno values follow upstream vhost: SET_OWNER binds
 * the device to the calling process's mm, and every other ioctl that
 * needs an owner fails with EPERM for any other mm.
 */
#include <linux/atomic.h>
#include <linux/file.h>
#include <linux/kcov.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <kvio/compat.h>
#include <kvio/vhost.h>

#include "internal.h"

/* The last device id given out (struct kvio_dev @id). */
static atomic_t kvio_dev_ids = ATOMIC_INIT(0);

/**
 * kvio_dev_init - initialise a device and its rings
 * @dev: the device, embedded in the device module's object
 * @vrings: the rings, embedded likewise
 * @nvrings: number of rings
 */
void kvio_dev_init(struct kvio_dev *dev, struct kvio_vring **vrings,
		   int nvrings)
{
	int i;

	mutex_init(&dev->mutex);
	init_waitqueue_head(&dev->wait);
	dev->iotlb = NULL;
	spin_lock_init(&dev->iotlb_lock);
	INIT_LIST_HEAD(&dev->iotlb_read);
	dev->id = atomic_inc_return(&kvio_dev_ids);
	dev->vrings = vrings;
	dev->nvrings = nvrings;
	dev->mm = NULL;
	dev->mem = NULL;
	dev->log_ctx = NULL;
	xa_init_flags(&dev->workers, XA_FLAGS_ALLOC);
	dev->fork_owner = KVIO_HAVE_USER_WORKER;

	for (i = 0; i < nvrings; i++) {
		struct kvio_vring *vr = vrings[i];

		vr->dev = dev;
		vr->worker = NULL;
		vr->index = i;
		mutex_init(&vr->mutex);
		vr->kick = NULL;
		vr->call_ctx = NULL;
		vr->err_ctx = NULL;
		vr->miss.state = 0;
		kvio_vring_reset(vr);
		if (vr->handle_kick)
			kvio_poll_init(&vr->poll, vr->handle_kick, EPOLLIN, vr);
	}
}
EXPORT_SYMBOL_GPL(kvio_dev_init);

static bool kvio_dev_has_owner(struct kvio_dev *dev)
{
	return dev->mm;
}

long kvio_dev_check_owner(struct kvio_dev *dev)
{
	return dev->mm == current->mm ? 0 : -EPERM;
}
EXPORT_SYMBOL_GPL(kvio_dev_check_owner);

/**
 * kvio_dev_set_owner - bind @dev to the calling process
 * @dev: the device; its mutex is held
 *
 * Return: 0, -EBUSY if it has an owner, or the error making the worker.
 */
long kvio_dev_set_owner(struct kvio_dev *dev)
{
	int ret, i;

	lockdep_assert_held(&dev->mutex);

	if (kvio_dev_has_owner(dev))
		return -EBUSY;

	dev->mm = get_task_mm(current);
	if (!dev->mm)
		return -EINVAL;
	ret = kvio_worker_attach(dev);
	if (ret) {
		mmput(dev->mm);
		dev->mm = NULL;
		return ret;
	}
	for (i = 0; i < dev->nvrings; i++)
		dev->vrings[i]->owner_pid = current->tgid;
	dev->kcov_handle = kcov_common_handle();
	return 0;
}
EXPORT_SYMBOL_GPL(kvio_dev_set_owner);

/* Stop waiting on every kick eventfd, then let running work finish. */
void kvio_dev_stop(struct kvio_dev *dev)
{
	int i;

	for (i = 0; i < dev->nvrings; i++) {
		if (dev->vrings[i]->kick && dev->vrings[i]->handle_kick)
			kvio_poll_stop(&dev->vrings[i]->poll);
	}
	kvio_dev_flush(dev);
}
EXPORT_SYMBOL_GPL(kvio_dev_stop);

static void kvio_put_ctx(struct eventfd_ctx **ctx)
{
	if (*ctx)
		eventfd_ctx_put(*ctx);
	*ctx = NULL;
}

/**
 * kvio_dev_cleanup - release everything the owner gave @dev
 * @dev: the device, stopped (kvio_dev_stop()) and without backends
 *
 * Drops eventfds, the IOTLB, the memory table, the worker reference and
 * the mm.
 */
void kvio_dev_cleanup(struct kvio_dev *dev)
{
	int i;

	lockdep_assert_held(&dev->mutex);

	/* Before the rings forget it; wakes blocked readers to EBADFD. */
	kvio_dev_iotlb_clear(dev);
	for (i = 0; i < dev->nvrings; i++) {
		struct kvio_vring *vr = dev->vrings[i];

		kvio_put_ctx(&vr->err_ctx);
		kvio_put_ctx(&vr->call_ctx);
		if (vr->kick)
			fput(vr->kick);
		vr->kick = NULL;
		kvio_vring_reset(vr);
	}
	kvio_put_ctx(&dev->log_ctx);
	kvio_mem_free(dev->mem);
	dev->mem = NULL;
	wake_up_interruptible_poll(&dev->wait, EPOLLIN | EPOLLRDNORM);
	kvio_worker_detach(dev);
	if (dev->mm)
		mmput(dev->mm);
	dev->mm = NULL;
	dev->fork_owner = KVIO_HAVE_USER_WORKER;
}
EXPORT_SYMBOL_GPL(kvio_dev_cleanup);

/* The empty memory table a device gets back on VHOST_RESET_OWNER. */
struct kvio_mem *kvio_dev_reset_owner_prepare(void)
{
	return kvio_mem_alloc(0);
}
EXPORT_SYMBOL_GPL(kvio_dev_reset_owner_prepare);

/* VHOST_RESET_OWNER: as after open(), but with an empty memory table. */
void kvio_dev_reset_owner(struct kvio_dev *dev, struct kvio_mem *mem)
{
	int i;

	lockdep_assert_held(&dev->mutex);

	kvio_dev_cleanup(dev);
	dev->mem = mem;
	for (i = 0; i < dev->nvrings; i++)
		dev->vrings[i]->mem = mem;
}
EXPORT_SYMBOL_GPL(kvio_dev_reset_owner);

void kvio_set_backend_features(struct kvio_dev *dev, u64 features)
{
	int i;

	mutex_lock(&dev->mutex);
	for (i = 0; i < dev->nvrings; i++) {
		mutex_lock(&dev->vrings[i]->mutex);
		dev->vrings[i]->acked_backend_features = features;
		mutex_unlock(&dev->vrings[i]->mutex);
	}
	mutex_unlock(&dev->mutex);
}
EXPORT_SYMBOL_GPL(kvio_set_backend_features);

static long kvio_set_log_base(struct kvio_dev *dev, u64 __user *argp)
{
	void __user *base;
	long ret = 0;
	u64 p;
	int i;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if ((u64)(unsigned long)p != p)
		return -EFAULT;
	base = (void __user *)(unsigned long)p;

	for (i = 0; i < dev->nvrings; i++) {
		struct kvio_vring *vr = dev->vrings[i];

		mutex_lock(&vr->mutex);
		/* A stopped ring is checked when it starts. */
		if (vr->backend && !kvio_vring_log_access_ok(vr, base))
			ret = -EFAULT;
		else
			vr->log_base = base;
		mutex_unlock(&vr->mutex);
	}
	return ret;
}

static long kvio_set_log_fd(struct kvio_dev *dev, int __user *argp)
{
	struct eventfd_ctx *ctx;
	int fd, i;

	if (get_user(fd, argp))
		return -EFAULT;
	ctx = fd == VHOST_FILE_UNBIND ? NULL : eventfd_ctx_fdget(fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);

	swap(ctx, dev->log_ctx);
	for (i = 0; i < dev->nvrings; i++) {
		mutex_lock(&dev->vrings[i]->mutex);
		dev->vrings[i]->log_ctx = dev->log_ctx;
		mutex_unlock(&dev->vrings[i]->mutex);
	}
	kvio_put_ctx(&ctx);
	return 0;
}

#ifdef CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL
static long kvio_fork_owner_ioctl(struct kvio_dev *dev, unsigned int ioctl,
				  u8 __user *argp)
{
	u8 val;

	if (ioctl == VHOST_GET_FORK_FROM_OWNER)
		return put_user((u8)dev->fork_owner, argp) ? -EFAULT : 0;

	/* The worker's kind is chosen when the owner is set. */
	if (kvio_dev_has_owner(dev))
		return -EBUSY;
	if (get_user(val, argp))
		return -EFAULT;
	if (val != VHOST_FORK_OWNER_TASK && val != VHOST_FORK_OWNER_KTHREAD)
		return -EINVAL;
	dev->fork_owner = val == VHOST_FORK_OWNER_TASK;
	return 0;
}
#endif

static bool kvio_is_worker_ioctl(unsigned int ioctl)
{
	return ioctl == VHOST_NEW_WORKER || ioctl == VHOST_FREE_WORKER ||
	       ioctl == VHOST_ATTACH_VRING_WORKER ||
	       ioctl == VHOST_GET_VRING_WORKER;
}

/**
 * kvio_dev_ioctl - the device-wide vhost ioctls
 * @dev: the device; its mutex is held
 * @ioctl: the command
 * @argp: its user argument
 *
 * Return: the result, or -ENOIOCTLCMD for a command that is not
 * device-wide (the caller then tries kvio_vring_ioctl()).
 */
long kvio_dev_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		    void __user *argp)
{
	long ret;

	lockdep_assert_held(&dev->mutex);

	if (ioctl == VHOST_SET_OWNER)
		return kvio_dev_set_owner(dev);
#ifdef CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL
	if (ioctl == VHOST_SET_FORK_FROM_OWNER ||
	    ioctl == VHOST_GET_FORK_FROM_OWNER)
		return kvio_fork_owner_ioctl(dev, ioctl, argp);
#endif
	/* Upstream's order: EINVAL without an owner, then EPERM. */
	if (kvio_is_worker_ioctl(ioctl) && !kvio_dev_has_owner(dev))
		return -EINVAL;

	ret = kvio_dev_check_owner(dev);
	if (ret)
		return ret;
	if (kvio_is_worker_ioctl(ioctl))
		return kvio_worker_ioctl(dev, ioctl, argp);

	switch (ioctl) {
	case VHOST_SET_MEM_TABLE:
		return kvio_set_mem_table(dev, argp);
	case VHOST_SET_LOG_BASE:
		return kvio_set_log_base(dev, argp);
	case VHOST_SET_LOG_FD:
		return kvio_set_log_fd(dev, argp);
	default:
		return -ENOIOCTLCMD;
	}
}
EXPORT_SYMBOL_GPL(kvio_dev_ioctl);
