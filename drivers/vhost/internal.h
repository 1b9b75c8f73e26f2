/* SPDX-License-Identifier: GPL-2.0 */
/* Declarations shared by the files of kvio_vhost.ko only. */
#ifndef _KVIO_VHOST_INTERNAL_H
#define _KVIO_VHOST_INTERNAL_H

#include <kvio/vhost.h>

/* The dirty log counts pages of this size, whatever PAGE_SIZE is. */
#define KVIO_LOG_PAGE	0x1000ULL

struct kvio_task;

/* task.c: the thread behind a worker */
struct kvio_task *kvio_task_create(bool (*fn)(void *), void (*killed)(void *),
				   void *arg, const char *name, bool kthread);
void kvio_task_start(struct kvio_task *task);
void kvio_task_stop(struct kvio_task *task);
void kvio_task_wake(struct kvio_task *task);

/*
 * What the files of kvio_vhost use of each other.  Calls go one way, each
 * file using only those listed before it: task, worker, iotlb, log, mem,
 * chain, packed, ring, vring, dev, debugfs.
 */

/* worker.c */
struct kvio_worker_info {
	const struct kvio_worker *worker;
	pid_t tid;		/* 0: the thread has not run yet */
	unsigned int users;	/* devices that share it */
	bool own;		/* VHOST_NEW_WORKER's */
	bool killed;		/* its owner was killed */
	u64 poll_ns;		/* adaptive poll window */
	u64 cpu_ns;		/* CPU time of its thread */
};

void kvio_workers_each(void (*fn)(const struct kvio_worker_info *, void *),
		       void *arg);
void kvio_work_init(struct kvio_work *work, kvio_work_fn_t fn);
bool kvio_work_queue(struct kvio_vring *vr, struct kvio_work *work);
bool kvio_work_pending(struct kvio_vring *vr);
int kvio_worker_attach(struct kvio_dev *dev);
void kvio_worker_detach(struct kvio_dev *dev);
long kvio_worker_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		       void __user *argp);

/* iotlb.c */
void kvio_iotlb_miss(struct kvio_vring *vr, u64 iova, u32 perm);
int kvio_iotlb_translate(struct kvio_vring *vr, u64 iova, u64 len,
			 struct iovec *iov, unsigned int iov_max, u32 perm);
void __user *kvio_iotlb_ptr(struct kvio_vring *vr, u64 iova, u64 len,
			    u32 perm);
void kvio_iotlb_meta_reset(struct kvio_vring *vr);
void kvio_iotlb_forget_addrs(struct kvio_vring *vr);

/* debugfs.c */
void kvio_debugfs_init(void);
void kvio_debugfs_exit(void);

/* log.c */
bool kvio_log_range_ok(void __user *log_base, u64 gpa, u64 len);
int kvio_log_used(struct kvio_vring *vr, u64 offset, u64 len);
int kvio_log_hva(struct kvio_vring *vr, const void __user *uaddr, u64 len);

/* mem.c */
struct kvio_mem *kvio_mem_alloc(u32 nregions);
void kvio_mem_free(struct kvio_mem *mem);
const struct kvio_mem_region *kvio_mem_lookup(const struct kvio_mem *mem,
					      u64 gpa);
bool kvio_mem_access_ok(struct kvio_mem *mem, void __user *log_base,
			bool log_all);

/*
 * Buffers one chain may name in all, direct and indirect together.  A
 * buffer of nonzero length takes at least one iovec and no device has
 * more than UIO_MAXIOV of them, so only empty buffers are held back:
 * without this, a table of 65536 empty entries would cost that many guest
 * reads per chain, times every avail slot naming it.
 */
#define KVIO_RING_CHAIN_MAX	UIO_MAXIOV

/* A descriptor chain being walked into iovecs (chain.c). */
struct kvio_pop {
	struct iovec *iov;
	unsigned int iov_max;
	unsigned int out;
	unsigned int in;
	struct kvio_log_entry *log;
	unsigned int nlog;
	/* buffer descriptors read so far, direct and indirect */
	unsigned int visited;
};

/* chain.c */
size_t kvio_ring_used_size(const struct kvio_vring *vr, unsigned int num);
size_t kvio_ring_avail_size(const struct kvio_vring *vr, unsigned int num);
void __user *kvio_ring_used_ptr(struct kvio_vring *vr, u64 offset, u64 len,
				u32 perm);
int kvio_indirect_read(struct kvio_vring *vr, void *dst, u64 table,
		       unsigned int i);
bool kvio_chain_visit(struct kvio_pop *pop);
int kvio_chain_buffer(struct kvio_vring *vr, struct kvio_pop *pop, u64 gpa,
		      u32 len, bool write);
int kvio_ring_log_used(struct kvio_vring *vr, u64 offset, u64 len);

/* packed.c: the packed ring format, behind ring.c's interface */
int kvio_packed_pop(struct kvio_vring *vr, struct kvio_pop *pop);
void kvio_packed_unpop(struct kvio_vring *vr, unsigned int n);
int kvio_packed_push(struct kvio_vring *vr, const struct kvio_used *used,
		     unsigned int n, bool batch);
bool kvio_packed_should_signal(struct kvio_vring *vr);
void kvio_packed_disable_notify(struct kvio_vring *vr);
bool kvio_packed_enable_notify(struct kvio_vring *vr);
bool kvio_packed_avail_moved(struct kvio_vring *vr);
int kvio_packed_start(struct kvio_vring *vr);
void kvio_packed_free(struct kvio_vring *vr);

/* The ring's areas, accessible before any access (kvio_ring_translate()). */
static inline int kvio_ring_meta(struct kvio_vring *vr)
{
	return likely(vr->meta_ok) ? 0 : kvio_ring_translate(vr);
}

/* vring.c */
void kvio_vring_reset(struct kvio_vring *vr);
bool kvio_vring_log_access_ok(struct kvio_vring *vr, void __user *log_base);

#endif /* _KVIO_VHOST_INTERNAL_H */
