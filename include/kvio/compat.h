/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place that hides differences between the kernels kvio builds
 * against.  The KVIO_* symbols come from probes of the target tree in
 * Kbuild (headers and Module.symvers), never from its version number.
 */
#ifndef _KVIO_COMPAT_H
#define _KVIO_COMPAT_H

#include <linux/eventfd.h>

/* eventfd_signal() lost its count argument in 6.8. */
static inline void kvio_eventfd_signal(struct eventfd_ctx *ctx)
{
#ifdef KVIO_EVENTFD_SIGNAL_NO_COUNT
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/*
 * Workers are threads of the owner process (vhost_task) where the kernel
 * exports that, kthreads that borrow the owner's mm otherwise.
 */
#ifdef KVIO_HAVE_VHOST_TASK
#define KVIO_HAVE_USER_WORKER 1
#else
#define KVIO_HAVE_USER_WORKER 0
#endif

#endif /* _KVIO_COMPAT_H */
