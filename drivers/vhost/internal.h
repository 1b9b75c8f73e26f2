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
 * file using only those listed before it: task, worker, log, mem, ring,
 * vring, dev (and iotlb, which uses none).
 */

/* worker.c */
void kvio_work_init(struct kvio_work *work, kvio_work_fn_t fn);
bool kvio_work_queue(struct kvio_vring *vr, struct kvio_work *work);
bool kvio_work_pending(struct kvio_vring *vr);
int kvio_worker_attach(struct kvio_dev *dev);
void kvio_worker_detach(struct kvio_dev *dev);
long kvio_worker_ioctl(struct kvio_dev *dev, unsigned int ioctl,
		       void __user *argp);

/* log.c */
bool kvio_log_range_ok(void __user *log_base, u64 gpa, u64 len);
int kvio_log_used(struct kvio_vring *vr, u64 offset, u64 len);

/* mem.c */
struct kvio_mem *kvio_mem_alloc(u32 nregions);
void kvio_mem_free(struct kvio_mem *mem);
const struct kvio_mem_region *kvio_mem_lookup(const struct kvio_mem *mem,
					      u64 gpa);
bool kvio_mem_access_ok(struct kvio_mem *mem, void __user *log_base,
			bool log_all);

/* vring.c */
void kvio_vring_reset(struct kvio_vring *vr);
bool kvio_vring_log_access_ok(struct kvio_vring *vr, void __user *log_base);

#endif /* _KVIO_VHOST_INTERNAL_H */
