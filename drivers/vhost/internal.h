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

/* vring.c */
void kvio_vring_reset(struct kvio_vring *vr);
size_t kvio_vring_used_size(struct kvio_vring *vr, unsigned int num);

/* log.c */
bool kvio_vring_log_used_ok(struct kvio_vring *vr, void __user *log_base,
			    bool log_used, u64 log_addr);

/* worker.c */
void kvio_worker_flush(struct kvio_worker *worker);

#endif /* _KVIO_VHOST_INTERNAL_H */
