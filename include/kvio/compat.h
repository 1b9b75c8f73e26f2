/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place that hides differences between the kernels kvio builds
 * against.  The KVIO_* symbols come from probes of the target tree in
 * Kbuild (headers and Module.symvers), never from its version number.
 */
#ifndef _KVIO_COMPAT_H
#define _KVIO_COMPAT_H

#include <linux/err.h>
#include <linux/eventfd.h>
#include <linux/iommu.h>
#include <linux/irqdomain.h>

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
 * A tracepoint's string field: __assign_str() takes only the field since
 * 6.10 (the source is the TP_PROTO argument __string() named).
 */
#ifdef KVIO_ASSIGN_STR_ONE_ARG
#define __kvio_assign_str(dst, src)		\
	do {					\
		(void)(src);			\
		__assign_str(dst);		\
	} while (0)
#else
#define __kvio_assign_str(dst, src)	__assign_str(dst, src)
#endif

/*
 * Workers are threads of the owner process (vhost_task) where the kernel
 * exports that, kthreads that borrow the owner's mm otherwise.
 */
#ifdef KVIO_HAVE_VHOST_TASK
#define KVIO_HAVE_USER_WORKER 1
#else
#define KVIO_HAVE_USER_WORKER 0
#endif

/* The worker ioctls, which 6.1's headers lack (uapi/linux/). */
#include <linux/kvio_vhost_compat.h>

/*
 * A paging domain for one device: iommu_paging_domain_alloc() (6.11) takes
 * the device and returns an ERR_PTR; before it, iommu_domain_alloc() took
 * the bus and returned NULL on failure.
 */
static inline struct iommu_domain *
kvio_iommu_paging_domain_alloc(struct device *dev)
{
#ifdef KVIO_HAVE_IOMMU_PAGING_DOMAIN_ALLOC
	return iommu_paging_domain_alloc(dev);
#else
	struct iommu_domain *d = iommu_domain_alloc(dev->bus);

	return d ? d : ERR_PTR(-ENOMEM);
#endif
}

/* iommu_map() gained a gfp_t for its page-table allocations in 6.3. */
static inline int kvio_iommu_map(struct iommu_domain *domain,
				 unsigned long iova, phys_addr_t paddr,
				 size_t size, int prot)
{
#ifdef KVIO_IOMMU_MAP_HAS_GFP
	return iommu_map(domain, iova, paddr, size, prot, GFP_KERNEL_ACCOUNT);
#else
	return iommu_map(domain, iova, paddr, size, prot);
#endif
}

/*
 * Can a device's MSIs only reach the interrupts it was given (interrupt
 * remapping)?  6.3 replaced IOMMU_CAP_INTR_REMAP and
 * irq_domain_check_msi_remap() with iommu_group_has_isolated_msi().
 */
static inline bool kvio_isolated_msi(struct device *dev)
{
#ifdef KVIO_HAVE_ISOLATED_MSI
	struct iommu_group *group = iommu_group_get(dev);
	bool ret = group && iommu_group_has_isolated_msi(group);

	iommu_group_put(group);
	return ret;
#else
	return device_iommu_capable(dev, IOMMU_CAP_INTR_REMAP) ||
	       irq_domain_check_msi_remap();
#endif
}

#endif /* _KVIO_COMPAT_H */
