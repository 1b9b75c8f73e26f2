// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueue state and the per-ring ioctls of the vhost uAPI, for split
 * and packed rings.
 *
 * Ring addresses are host virtual addresses in the owner's mm.  As
 * upstream does, they are only checked against the address space when
 * the ring has a backend: before that, the size may not be final.
 */
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/uaccess.h>

#include <kvio/compat.h>
#include <kvio/vhost.h>

#include "internal.h"

static void kvio_vring_init_is_le(struct kvio_vring *vr)
{
	/*
	 * Legacy rings are native endian unless the VMM said otherwise with
	 * VHOST_SET_VRING_ENDIAN; user_be starts as the host's endianness.
	 */
	vr->is_le = kvio_has_feature(vr, VIRTIO_F_VERSION_1) || !vr->user_be;
}

/* Back to the state after open(); eventfds are dropped by the caller. */
void kvio_vring_reset(struct kvio_vring *vr)
{
	vr->num = 1;
	/* The device's IOTLB is gone by now (kvio_dev_cleanup()). */
	vr->iotlb = NULL;
	kvio_iotlb_forget_addrs(vr);
	vr->log_base = NULL;
	vr->log_ctx = NULL;
	vr->last_avail_idx = 0;
	vr->walk_head = -1;
	vr->avail_idx = 0;
	vr->last_used_idx = 0;
	vr->used_flags = 0;
	vr->signalled_used = 0;
	vr->signalled_used_valid = false;
	vr->backend = NULL;
	vr->broken = false;
	vr->acked_features = 0;
	vr->acked_backend_features = 0;
	vr->busyloop_timeout = 0;
	vr->packed = false;
	kvio_packed_free(vr);
	vr->user_be = !virtio_legacy_is_little_endian();
	kvio_vring_init_is_le(vr);
	vr->mem = NULL;
}

/*
 * Can the used ring of @vr be logged at its log_addr?  With an IOTLB the
 * log address is an IOVA nothing uses: writes to the ring are logged by
 * the guest-physical address of their translation.
 */
static bool kvio_vring_log_used_ok(struct kvio_vring *vr,
				   void __user *log_base, bool log_used,
				   u64 log_addr)
{
	return !log_used || vr->iotlb ||
	       kvio_log_range_ok(log_base, log_addr,
				 kvio_ring_used_size(vr, vr->num));
}

/**
 * kvio_vring_log_access_ok - can @vr log its writes into @log_base?
 * @vr: the ring; its mutex is held
 * @log_base: the log to check against
 *
 * Return: true if the memory table and the used ring are loggable.
 */
bool kvio_vring_log_access_ok(struct kvio_vring *vr, void __user *log_base)
{
	lockdep_assert_held(&vr->mutex);

	return kvio_mem_access_ok(vr->mem, log_base,
				  kvio_has_feature(vr, VHOST_F_LOG_ALL)) &&
	       kvio_vring_log_used_ok(vr, log_base, vr->log_used,
				      vr->log_addr);
}

static bool kvio_vring_addrs_ok(struct kvio_vring *vr, unsigned int num,
				void __user *desc, void __user *avail,
				void __user *used)
{
	/* Split and packed descriptors have the same size. */
	BUILD_BUG_ON(sizeof(struct vring_desc) !=
		     sizeof(struct vring_packed_desc));
	/* IOVAs: each area is checked when it is translated. */
	if (vr->iotlb)
		return true;
	return access_ok(desc, array_size(num, sizeof(*vr->desc))) &&
	       access_ok(avail, kvio_ring_avail_size(vr, num)) &&
	       access_ok(used, kvio_ring_used_size(vr, num));
}

/**
 * kvio_vring_access_ok - may @vr start with its current setup?
 * @vr: the ring; its mutex is held
 *
 * Return: true if the memory table, log and ring addresses are usable.
 */
bool kvio_vring_access_ok(struct kvio_vring *vr)
{
	lockdep_assert_held(&vr->mutex);

	if (!kvio_vring_log_access_ok(vr, vr->log_base))
		return false;
	return kvio_vring_addrs_ok(vr, vr->num, vr->desc, vr->avail, vr->used);
}
EXPORT_SYMBOL_GPL(kvio_vring_access_ok);

/**
 * kvio_vring_init_access - prepare a ring that just got a backend
 * @vr: the ring; its mutex is held
 *
 * Fixes the ring's format from its features.  Writes the used flags and
 * reads the used index from the ring (packed: writes the device event
 * flags), so a ring the owner cannot write is refused here, not in the
 * worker.
 *
 * Return: 0, -EFAULT, or for a packed ring -EINVAL (a size or base it
 * cannot have) or -ENOMEM.
 */
int kvio_vring_init_access(struct kvio_vring *vr)
{
	bool is_le = vr->is_le;
	__virtio16 __user *flags_p, __user *idx_p;
	__virtio16 used_idx;

	lockdep_assert_held(&vr->mutex);

	if (!vr->backend)
		return 0;

	kvio_vring_init_is_le(vr);
	/* New areas, or new sizes of them: translated again at first use. */
	kvio_iotlb_meta_reset(vr);
	/*
	 * The format changes only once the ring is ready for it: a VMM
	 * whose new backend fails here gets the old one back, which must
	 * find the ring as it left it.
	 */
	if (kvio_has_feature(vr, VIRTIO_F_RING_PACKED)) {
		int ret = kvio_packed_start(vr);

		if (ret) {
			vr->is_le = is_le;
			return ret;
		}
		vr->packed = true;
		vr->broken = false;
		return 0;
	}
	/*
	 * With an IOTLB the two fields are translated alone: a VMM maps the
	 * start of the used ring before it starts the ring, the rest of it
	 * when the ring first asks.
	 */
	flags_p = kvio_ring_used_ptr(vr, offsetof(struct vring_used, flags),
				     sizeof(*flags_p), VHOST_ACCESS_WO);
	if (IS_ERR(flags_p) ||
	    put_user(cpu_to_kvio16(vr, vr->used_flags), flags_p))
		goto fault;
	/*
	 * As upstream, a log that cannot take this bit does not fail the
	 * ioctl; the ring breaks at its first logged write instead.
	 */
	kvio_log_used(vr, offsetof(struct vring_used, flags),
		      sizeof(vr->used->flags));
	vr->signalled_used_valid = false;
	idx_p = kvio_ring_used_ptr(vr, offsetof(struct vring_used, idx),
				   sizeof(*idx_p), VHOST_ACCESS_RO);
	if (IS_ERR(idx_p) || get_user(used_idx, idx_p))
		goto fault;
	vr->last_used_idx = kvio16_to_cpu(vr, used_idx);
	vr->packed = false;
	/* Read the guest's index again: it may be why the ring broke. */
	vr->avail_idx = vr->last_avail_idx;
	vr->broken = false;
	return 0;

fault:
	vr->is_le = is_le;
	return -EFAULT;
}
EXPORT_SYMBOL_GPL(kvio_vring_init_access);

/*
 * A ring ioctl's argument, copied in before the ring's mutex is taken and
 * out after it is dropped: a VMM whose argument faults (userfaultfd while
 * post-copy migration runs) must not hold a ring, and with it the worker
 * the owner's devices share.  @fault keeps the errno where upstream
 * returns it, after the checks that come before its copy.
 */
struct kvio_vring_arg {
	union {
		struct vhost_vring_state s;
		struct vhost_vring_addr a;
		struct vhost_vring_file f;
	};
	bool fault;
	/* GET ioctls: the state to copy out */
	bool put;
	struct vhost_vring_state out;
};

static long kvio_vring_set_num(struct kvio_vring *vr,
			       const struct kvio_vring_arg *arg)
{
	/* The ring size is fixed while a backend runs. */
	if (vr->backend)
		return -EBUSY;
	if (arg->fault)
		return -EFAULT;
	if (!arg->s.num || arg->s.num > 0xffff ||
	    (arg->s.num & (arg->s.num - 1)))
		return -EINVAL;
	vr->num = arg->s.num;
	return 0;
}

static bool kvio_addr_fits(u64 addr)
{
	return (u64)(unsigned long)addr == addr;
}

static long kvio_vring_set_addr(struct kvio_vring *vr,
				const struct kvio_vring_arg *arg)
{
	const struct vhost_vring_addr *a = &arg->a;
	void __user *desc, *avail, *used;
	bool log;

	if (arg->fault)
		return -EFAULT;
	if (a->flags & ~BIT(VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;
	if (!kvio_addr_fits(a->desc_user_addr) ||
	    !kvio_addr_fits(a->avail_user_addr) ||
	    !kvio_addr_fits(a->used_user_addr))
		return -EFAULT;
	if ((a->avail_user_addr & (VRING_AVAIL_ALIGN_SIZE - 1)) ||
	    (a->used_user_addr & (VRING_USED_ALIGN_SIZE - 1)) ||
	    (a->log_guest_addr & (VRING_USED_ALIGN_SIZE - 1)))
		return -EINVAL;

	desc = u64_to_user_ptr(a->desc_user_addr);
	avail = u64_to_user_ptr(a->avail_user_addr);
	used = u64_to_user_ptr(a->used_user_addr);
	log = a->flags & BIT(VHOST_VRING_F_LOG);
	/* A running ring must stay valid; a stopped one is checked later. */
	if (vr->backend) {
		if (!kvio_vring_addrs_ok(vr, vr->num, desc, avail, used))
			return -EINVAL;
		if (!kvio_vring_log_used_ok(vr, vr->log_base, log,
					    a->log_guest_addr))
			return -EINVAL;
	}

	vr->log_used = log;
	vr->desc_addr = a->desc_user_addr;
	vr->avail_addr = a->avail_user_addr;
	vr->used_addr = a->used_user_addr;
	vr->log_addr = a->log_guest_addr;
	if (vr->iotlb) {
		kvio_iotlb_meta_reset(vr);
	} else {
		vr->desc = desc;
		vr->avail = avail;
		vr->used = used;
	}
	return 0;
}

static long kvio_vring_set_base(struct kvio_vring *vr,
				const struct kvio_vring_arg *arg)
{
	/* Moving the base under a running backend would lose buffers. */
	if (vr->backend)
		return -EBUSY;
	if (arg->fault)
		return -EFAULT;
	if (kvio_has_feature(vr, VIRTIO_F_RING_PACKED)) {
		/*
		 * Avail position in the low half, used position in the high
		 * one, each a wrap counter over a 15-bit index (checked
		 * against the size at start).  A high half of 0, as DPDK
		 * sends for a fresh ring, means used = avail (so used at
		 * index 0 with wrap counter 0 behind another avail position
		 * cannot be given: a VMM resumes such a ring from used).
		 */
		vr->last_avail_idx = arg->s.num & 0xffff;
		vr->last_used_idx = arg->s.num >> 16 ?: vr->last_avail_idx;
	} else {
		if (arg->s.num > 0xffff)
			return -EINVAL;
		vr->last_avail_idx = arg->s.num;
	}
	vr->avail_idx = vr->last_avail_idx;
	vr->broken = false;
	return 0;
}

/* A GET ioctl's answer, copied out once the ring's mutex is dropped. */
static long kvio_put_state(struct kvio_vring_arg *arg, u32 idx, u32 num)
{
	arg->put = true;
	arg->out.index = idx;
	arg->out.num = num;
	return 0;
}

/* SET_VRING_CALL and SET_VRING_ERR: swap in an eventfd (or none). */
static long kvio_vring_set_ctx(struct eventfd_ctx **slot,
			       const struct kvio_vring_arg *arg)
{
	struct eventfd_ctx *ctx;
	int fd = arg->f.fd;

	if (arg->fault)
		return -EFAULT;
	ctx = fd == VHOST_FILE_UNBIND ? NULL : eventfd_ctx_fdget(fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	swap(ctx, *slot);
	if (ctx)
		eventfd_ctx_put(ctx);
	return 0;
}

/*
 * SET_VRING_KICK: the caller holds the ring mutex.  The old kick file is
 * returned through @old so that it is put after the worker is flushed.
 */
static long kvio_vring_set_kick(struct kvio_vring *vr,
				const struct kvio_vring_arg *arg,
				struct file **old)
{
	struct file *kick;
	int fd = arg->f.fd;

	if (arg->fault)
		return -EFAULT;
	kick = fd == VHOST_FILE_UNBIND ? NULL : eventfd_fget(fd);
	if (IS_ERR(kick))
		return PTR_ERR(kick);
	if (kick == vr->kick) {
		/* Same file again: drop the extra reference only. */
		*old = kick;
		return 0;
	}
	*old = vr->kick;
	if (*old && vr->handle_kick)
		kvio_poll_stop(&vr->poll);
	vr->kick = kick;
	if (kick && vr->handle_kick)
		return kvio_poll_start(&vr->poll, kick);
	return 0;
}

/* Upstream knows these ioctls only with the legacy cross-endian option. */
static long kvio_vring_set_endian(struct kvio_vring *vr,
				  const struct kvio_vring_arg *arg)
{
	if (!IS_ENABLED(CONFIG_VHOST_CROSS_ENDIAN_LEGACY))
		return -ENOIOCTLCMD;
	if (vr->backend)
		return -EBUSY;
	if (arg->fault)
		return -EFAULT;
	if (arg->s.num != VHOST_VRING_LITTLE_ENDIAN &&
	    arg->s.num != VHOST_VRING_BIG_ENDIAN)
		return -EINVAL;
	vr->user_be = arg->s.num == VHOST_VRING_BIG_ENDIAN;
	return 0;
}

static long kvio_vring_get_endian(struct kvio_vring *vr, u32 idx,
				  struct kvio_vring_arg *arg)
{
	if (!IS_ENABLED(CONFIG_VHOST_CROSS_ENDIAN_LEGACY))
		return -ENOIOCTLCMD;
	return kvio_put_state(arg, idx, vr->user_be);
}

static long kvio_vring_get_index(struct kvio_dev *dev, void __user *argp,
				 u32 *idx)
{
	if (get_user(*idx, (u32 __user *)argp))
		return -EFAULT;
	if (*idx >= dev->nvrings)
		return -ENOBUFS;
	*idx = array_index_nospec(*idx, dev->nvrings);
	return 0;
}

/* Copy in what a SET ioctl reads; a fault is reported in its place. */
static void kvio_vring_arg_in(unsigned int ioctl, void __user *argp,
			      struct kvio_vring_arg *arg)
{
	size_t size;

	switch (ioctl) {
	case VHOST_SET_VRING_ADDR:
		size = sizeof(arg->a);
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		size = sizeof(arg->f);
		break;
	case VHOST_SET_VRING_NUM:
	case VHOST_SET_VRING_BASE:
	case VHOST_SET_VRING_ENDIAN:
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
		size = sizeof(arg->s);
		break;
	default:
		return;
	}
	arg->fault = copy_from_user(arg, argp, size);
}

static long kvio_vring_state_ioctl(struct kvio_vring *vr, unsigned int ioctl,
				   u32 idx, struct kvio_vring_arg *arg)
{
	switch (ioctl) {
	case VHOST_SET_VRING_NUM:
		return kvio_vring_set_num(vr, arg);
	case VHOST_SET_VRING_ADDR:
		return kvio_vring_set_addr(vr, arg);
	case VHOST_SET_VRING_BASE:
		return kvio_vring_set_base(vr, arg);
	case VHOST_GET_VRING_BASE:
		if (kvio_vring_is_packed(vr))
			return kvio_put_state(arg, idx, vr->last_avail_idx |
					      (u32)vr->last_used_idx << 16);
		return kvio_put_state(arg, idx, vr->last_avail_idx);
	case VHOST_SET_VRING_CALL:
		return kvio_vring_set_ctx(&vr->call_ctx, arg);
	case VHOST_SET_VRING_ERR:
		return kvio_vring_set_ctx(&vr->err_ctx, arg);
	case VHOST_SET_VRING_ENDIAN:
		return kvio_vring_set_endian(vr, arg);
	case VHOST_GET_VRING_ENDIAN:
		return kvio_vring_get_endian(vr, idx, arg);
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
		if (arg->fault)
			return -EFAULT;
		vr->busyloop_timeout = arg->s.num;
		return 0;
	case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
		return kvio_put_state(arg, idx, vr->busyloop_timeout);
	default:
		return -ENOIOCTLCMD;
	}
}

/**
 * kvio_vring_ioctl - the per-ring vhost ioctls
 * @dev: the device, owned by the caller; its mutex is held
 * @ioctl: the command
 * @argp: its user argument, starting with the ring index
 *
 * The argument is copied in before, and out after, the ring's mutex is
 * held: only the device's mutex is held across user memory accesses.
 *
 * Return: the result, or -ENOIOCTLCMD for an unknown command.
 */
long kvio_vring_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		      void __user *argp)
{
	struct kvio_vring_arg arg = { };
	struct file *old_kick = NULL;
	struct kvio_vring *vr;
	bool kick_stopped;
	long ret;
	u32 idx;

	lockdep_assert_held(&dev->mutex);

	ret = kvio_vring_get_index(dev, argp, &idx);
	if (ret)
		return ret;
	vr = dev->vrings[idx];
	kvio_vring_arg_in(ioctl, argp, &arg);

	mutex_lock(&vr->mutex);
	if (ioctl == VHOST_SET_VRING_KICK)
		ret = kvio_vring_set_kick(vr, &arg, &old_kick);
	else
		ret = kvio_vring_state_ioctl(vr, ioctl, idx, &arg);
	mutex_unlock(&vr->mutex);

	if (!ret && arg.put && copy_to_user(argp, &arg.out, sizeof(arg.out)))
		ret = -EFAULT;
	/* Work started by the old kick must finish before it is released. */
	kick_stopped = old_kick && old_kick != vr->kick;
	if (kick_stopped && vr->handle_kick)
		kvio_dev_flush(dev);
	if (old_kick)
		fput(old_kick);
	return ret;
}
EXPORT_SYMBOL_GPL(kvio_vring_ioctl);
