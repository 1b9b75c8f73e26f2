/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvio_vhost: the device-independent vhost engine.  A device module (e.g.
 * kvio_net) embeds struct kvio_dev and its struct kvio_vring objects and
 * finds itself back with container_of().
 */
#ifndef _KVIO_VHOST_H
#define _KVIO_VHOST_H

#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/llist.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/xarray.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/vhost.h>

struct kvio_dev;
struct kvio_worker;
struct kvio_work;

typedef void (*kvio_work_fn_t)(struct kvio_work *work);

#define KVIO_WORK_QUEUED	0

/* A unit of work run by the worker thread of a ring. */
struct kvio_work {
	struct llist_node node;
	kvio_work_fn_t fn;
	unsigned long flags;
	/* KCOV remote handle of the device's owner, set when queued */
	u64 kcov_handle;
};

/*
 * Wait on a file (kick eventfd, backend socket) and queue work on wakeup,
 * on the worker of the ring the work is for.
 */
struct kvio_poll {
	poll_table table;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	struct kvio_work work;
	__poll_t mask;
	struct kvio_vring *vr;
};

/* One guest memory region: [start, last] guest-physical at uaddr. */
struct kvio_mem_region {
	u64 start;
	u64 last;
	u64 uaddr;
	/* Largest @last among this and all lower-starting regions. */
	u64 max_last;
};

/* A chain returned to the guest: head id and bytes written. */
struct kvio_used {
	u32 id;
	u32 len;
};

/*
 * A writable guest buffer, remembered for the dirty log: its guest-
 * physical address, or with a device IOTLB the user address it was
 * translated to (the log is kept by guest-physical address, which the
 * memory table gives back).
 */
struct kvio_log_entry {
	u64 addr;
	u64 len;
};

/*
 * A ring's one question to the VMM for a translation (iotlb.c): under the
 * device's iotlb_lock.
 */
struct kvio_iotlb_miss {
	struct list_head node;
	u64 iova;
	u32 perm;
	u8 state;
	bool v2;
};

struct kvio_iotlb;

/* The region table, immutable once published; sorted by @start. */
struct kvio_mem {
	u32 nregions;
	struct kvio_mem_region region[];
};

/*
 * What a ring did since its device was opened, for debugfs: written by
 * the ring's work under its mutex (kicks: by the kick's wakeup, which
 * the eventfd's wait-queue lock serialises), read without locks.
 */
struct kvio_vring_stats {
	u64 kicks;		/* kick eventfd wakeups */
	u64 frames;		/* what the device moved, in its units */
	u64 bytes;
	u64 signals;		/* used entries followed by an interrupt ... */
	u64 suppressed;		/* ... or not, the guest asking for none */
	u64 polls;		/* busy polls (VHOST_SET_VRING_BUSYLOOP_TIMEOUT) */
	u64 budget;		/* turns that ended with the ring's share spent */
	u64 misses;		/* IOTLB translations it asked the VMM for */
};

struct kvio_vring {
	struct kvio_dev *dev;
	/*
	 * The worker that runs this ring's work: one of the device's
	 * @workers, NULL without an owner.  Written under the device's and
	 * the ring's mutex, read locklessly when work is queued.
	 */
	struct kvio_worker *worker;
	/* Serialises the control plane against the worker for this ring. */
	struct mutex mutex;

	unsigned int num;
	/*
	 * The ring's areas as the VMM gave them (VHOST_SET_VRING_ADDR): user
	 * addresses, or IOVAs when the device has an IOTLB.
	 */
	u64 desc_addr;
	u64 avail_addr;
	u64 used_addr;
	/*
	 * Where the device reads and writes them, in the owner's memory;
	 * with an IOTLB valid only while @meta_ok (kvio_ring_translate()).
	 */
	vring_desc_t __user *desc;
	vring_avail_t __user *avail;
	vring_used_t __user *used;
	bool meta_ok;
	/*
	 * The device's IOTLB, NULL without one: changed, and its entries,
	 * only with this ring's mutex held (and every other ring's).
	 */
	struct kvio_iotlb *iotlb;
	struct kvio_iotlb_miss miss;
	bool log_used;
	u64 log_addr;

	struct file *kick;
	struct eventfd_ctx *call_ctx;
	struct eventfd_ctx *err_ctx;
	struct eventfd_ctx *log_ctx;
	void __user *log_base;

	struct kvio_poll poll;
	kvio_work_fn_t handle_kick;

	/*
	 * Buffers named by the chains popped so far, empty ones included:
	 * the device resets it to budget the work one frame may cost.
	 */
	unsigned int walked;
	/*
	 * Split rings: free-running 16-bit indices.  Packed rings: a ring
	 * position, bits 0-14 the descriptor index and bit 15 the wrap
	 * counter, as VHOST_SET_VRING_BASE encodes them; @avail_idx is then
	 * where a pop last found no available descriptor.
	 */
	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 used_flags;
	u16 signalled_used;
	bool signalled_used_valid;

	/* The ring's format, fixed while it runs (kvio_vring_init_access). */
	bool packed;
	/*
	 * Packed rings: the descriptors each buffer id's chain took, which
	 * its used entry skips, and those of the chains popped last, for
	 * kvio_ring_unpop(); @ntables entries each.
	 */
	u16 *id_ndesc;
	u16 *pop_ndesc;
	unsigned int npop;
	unsigned int ntables;

	bool is_le;
	bool user_be;
	u32 busyloop_timeout;

	u64 acked_features;
	u64 acked_backend_features;
	struct kvio_mem *mem;

	/* The device's backend; non-NULL means the ring is running. */
	void *backend;
	/* The guest corrupted the ring: no work until it is restarted. */
	bool broken;
	/* Why it broke last (a string constant), for debugfs; NULL: never. */
	const char *broken_why;
	/* For log messages: the ring's index and its owner's pid. */
	int index;
	pid_t owner_pid;
	/*
	 * For the ring_broken tracepoint: the head (packed: the position)
	 * of the chain read last, -1 before any since the ring was reset.
	 */
	int walk_head;
	struct kvio_vring_stats stats;
};

struct kvio_dev {
	/* Serialises ioctls on this device. */
	struct mutex mutex;
	struct mm_struct *mm;
	struct kvio_vring **vrings;
	int nvrings;
	struct kvio_mem *mem;
	struct eventfd_ctx *log_ctx;
	/*
	 * The workers this device's rings may run on, by id: the owner's
	 * shared worker at 0 from SET_OWNER on, and those VHOST_NEW_WORKER
	 * made, which serve this device only.
	 */
	struct xarray workers;
	bool fork_owner;
	/*
	 * The owner's KCOV common handle, taken at SET_OWNER: coverage of
	 * the work the worker runs for this device goes to the owner's kcov
	 * (KCOV_REMOTE_ENABLE), as upstream vhost does.
	 */
	u64 kcov_handle;
	/* Readers and pollers of the IOTLB message channel. */
	wait_queue_head_t wait;
	/*
	 * VIRTIO_F_ACCESS_PLATFORM: the IOTLB (also each ring's @iotlb),
	 * replaced with the device's and every ring's mutex held; the rings'
	 * misses waiting for read(), under @iotlb_lock.
	 */
	struct kvio_iotlb *iotlb;
	spinlock_t iotlb_lock;	/* the read list and the rings' @miss */
	struct list_head iotlb_read;
	/* Names the device in tracepoints: unique while the module is loaded. */
	u32 id;
	/* Its debugfs directory, and its entry in the list of them. */
	struct dentry *debugfs;
	struct list_head debugfs_node;
};

/* dev.c */
void kvio_dev_init(struct kvio_dev *dev, struct kvio_vring **vrings,
		   int nvrings);
long kvio_dev_check_owner(struct kvio_dev *dev);
long kvio_dev_set_owner(struct kvio_dev *dev);
struct kvio_mem *kvio_dev_reset_owner_prepare(void);
void kvio_dev_reset_owner(struct kvio_dev *dev, struct kvio_mem *mem);
void kvio_dev_stop(struct kvio_dev *dev);
void kvio_dev_cleanup(struct kvio_dev *dev);
long kvio_dev_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		    void __user *argp);
void kvio_set_backend_features(struct kvio_dev *dev, u64 features);

/* vring.c */
long kvio_vring_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		      void __user *argp);
bool kvio_vring_access_ok(struct kvio_vring *vr);
bool kvio_vring_is_packed(const struct kvio_vring *vr);
int kvio_vring_init_access(struct kvio_vring *vr);

/* iotlb.c */
int kvio_dev_iotlb_init(struct kvio_dev *dev);
void kvio_dev_iotlb_clear(struct kvio_dev *dev);
ssize_t kvio_chr_write_iter(struct kvio_dev *dev, struct iov_iter *from);
ssize_t kvio_chr_read_iter(struct kvio_dev *dev, struct iov_iter *to,
			   bool nonblock);
__poll_t kvio_chr_poll(struct file *file, struct kvio_dev *dev,
		       poll_table *wait);

/* ring.c */
int kvio_ring_translate(struct kvio_vring *vr);
int kvio_ring_break(struct kvio_vring *vr, const char *why);
int kvio_ring_pop(struct kvio_vring *vr, struct iovec *iov,
		  unsigned int iov_max, unsigned int *out, unsigned int *in,
		  struct kvio_log_entry *log, unsigned int *nlog);
void kvio_ring_unpop(struct kvio_vring *vr, unsigned int n);
int kvio_ring_push(struct kvio_vring *vr, const struct kvio_used *used,
		   unsigned int n);
int kvio_ring_push_batch(struct kvio_vring *vr, const struct kvio_used *used,
			 unsigned int n);
void kvio_ring_signal(struct kvio_vring *vr);
void kvio_ring_disable_notify(struct kvio_vring *vr);
bool kvio_ring_enable_notify(struct kvio_vring *vr);
bool kvio_ring_busyloop(struct kvio_vring *vr, bool avail,
			bool (*ready)(void *), void *arg);

/* log.c */
int kvio_log_write(struct kvio_vring *vr, const struct kvio_log_entry *log,
		   unsigned int nlog, u64 len);

/* mem.c */
bool kvio_log_access_ok(struct kvio_dev *dev);
long kvio_set_mem_table(struct kvio_dev *dev,
			struct vhost_memory __user *umem);

/* debugfs.c */
void kvio_dev_debugfs_add(struct kvio_dev *dev, const char *type);
void kvio_dev_debugfs_remove(struct kvio_dev *dev);

/* worker.c */
void kvio_dev_flush(struct kvio_dev *dev);
void kvio_poll_init(struct kvio_poll *poll, kvio_work_fn_t fn, __poll_t mask,
		    struct kvio_vring *vr);
int kvio_poll_start(struct kvio_poll *poll, struct file *file);
void kvio_poll_stop(struct kvio_poll *poll);
void kvio_poll_queue(struct kvio_poll *poll);

/* A counter of struct kvio_vring_stats: one writer at a time (see there). */
static inline void kvio_stat_add(u64 *counter, u64 n)
{
	WRITE_ONCE(*counter, *counter + n);
}

static inline bool kvio_has_feature(const struct kvio_vring *vr, int bit)
{
	return vr->acked_features & BIT_ULL(bit);
}

static inline bool kvio_backend_has_feature(const struct kvio_vring *vr,
					    int bit)
{
	return vr->acked_backend_features & BIT_ULL(bit);
}

static inline u16 kvio16_to_cpu(const struct kvio_vring *vr, __virtio16 val)
{
	return __virtio16_to_cpu(vr->is_le, val);
}

static inline __virtio16 cpu_to_kvio16(const struct kvio_vring *vr, u16 val)
{
	return __cpu_to_virtio16(vr->is_le, val);
}

static inline u32 kvio32_to_cpu(const struct kvio_vring *vr, __virtio32 val)
{
	return __virtio32_to_cpu(vr->is_le, val);
}

static inline __virtio32 cpu_to_kvio32(const struct kvio_vring *vr, u32 val)
{
	return __cpu_to_virtio32(vr->is_le, val);
}

static inline u64 kvio64_to_cpu(const struct kvio_vring *vr, __virtio64 val)
{
	return __virtio64_to_cpu(vr->is_le, val);
}

/* The features every kvio device offers, as upstream's VHOST_FEATURES. */
#define KVIO_FEATURES	(BIT_ULL(VIRTIO_F_NOTIFY_ON_EMPTY) |	\
			 BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |	\
			 BIT_ULL(VIRTIO_RING_F_EVENT_IDX) |	\
			 BIT_ULL(VHOST_F_LOG_ALL) |		\
			 BIT_ULL(VIRTIO_F_ANY_LAYOUT) |		\
			 BIT_ULL(VIRTIO_F_VERSION_1) |		\
			 BIT_ULL(VIRTIO_F_RING_PACKED) |	\
			 BIT_ULL(VIRTIO_F_IN_ORDER))

#endif /* _KVIO_VHOST_H */
