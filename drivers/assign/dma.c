// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_assign: DMA.  The device fd owns an IOMMU domain attached to the
 * device's whole group; each DMA map pins the VMM's pages for as long as
 * the map lives (the device may write to them at any time) and charges
 * them to the VMM's RLIMIT_MEMLOCK, as mlock would.
 */
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <kvio/compat.h>

#include "assign.h"

/*
 * Pages pinned per pin_user_pages_fast() call, and unpinned per call at
 * release; between two batches, long loops reschedule and the pin loop
 * stops for a fatal signal.
 */
#define KVIO_PIN_BATCH	512

static bool allow_noncoherent;
module_param(allow_noncoherent, bool, 0644);
MODULE_PARM_DESC(allow_noncoherent,
		 "Open devices whose IOMMU cannot keep their DMA cache coherent (no IOMMU_CACHE, or no-snoop not blocked): unsafe for guests, default N");

struct kvio_assign_map {
	struct list_head node;
	u64 iova;
	u64 size;
	unsigned long npages;
	struct page **pages;
	bool write;
};

/*
 * Cache coherency, as VFIO type1 does it.  Two separate things:
 *
 * IOMMU_CACHE in the prot of every map, when the device's IOMMU has
 * IOMMU_CAP_CACHE_COHERENCY.  Since Linux 5.19 that capability means
 * exactly "IOMMU_CACHE is supported" (the mapping is cache coherent with
 * the CPU: on Arm SMMUs, cacheable, snooped memory attributes).  It is a
 * property of the IOMMU for the device, not of a domain setting, so it is
 * the one simple rule: VFIO refuses devices without it and then always
 * maps with IOMMU_CACHE; we do not refuse them, we only map them without
 * it (whatever coherency the platform gives by default).  Pinned guest RAM
 * is ordinary cacheable memory, so IOMMU_CACHE is always right for it.
 *
 * enforce_cache_coherency(), where the domain has the op: it makes the
 * IOMMU ignore the device's no-snoop TLP attribute, so that even DMA the
 * device (the guest's driver) marks no-snoop stays coherent.  Its answer
 * does not decide IOMMU_CACHE: on Intel IOMMU_CACHE is always supported
 * and enforcement additionally needs snoop control in the hardware (an
 * emulated intel-iommu has it with snoop-control=on).  It must come
 * before the first map (a populated Intel second-level domain refuses
 * it), so right after the attach.  Without it, a guest's no-snoop DMA is
 * not coherent, and unlike VFIO (the kvm-vfio device) we cannot tell KVM
 * to emulate WBINVD for such a guest: enforcing is the only remedy we
 * have.
 *
 * So a device is opened only with both, unless the administrator accepts
 * the risk with allow_noncoherent=1 (what the guest's driver gets then is
 * stale data on some DMA, its own and the host's memory stays out of its
 * reach: the IOMMU still translates every access).
 */
static int kvio_assign_coherency(struct kvio_assign_dev *adev,
				 struct iommu_domain *domain)
{
	bool cache, enforce;

	cache = device_iommu_capable(&adev->pdev->dev, IOMMU_CAP_CACHE_COHERENCY);
	enforce = domain->ops->enforce_cache_coherency &&
		  domain->ops->enforce_cache_coherency(domain);
	pci_dbg(adev->pdev, "kvio_assign: IOMMU_CACHE %s, no-snoop %s\n",
		cache ? "supported" : "unsupported",
		enforce ? "blocked" : "not blocked");
	if (!cache || !enforce) {
		if (!READ_ONCE(allow_noncoherent)) {
			pci_warn(adev->pdev, "kvio_assign: refused: the IOMMU cannot keep the device's DMA cache coherent (%s); allow_noncoherent=1 accepts that\n",
				 cache ? "no-snoop not blocked" : "no IOMMU_CACHE");
			return -EPERM;
		}
		pci_warn(adev->pdev, "kvio_assign: opened without cache coherency enforcement (%s), as allow_noncoherent=1 allows\n",
			 cache ? "no-snoop not blocked" : "no IOMMU_CACHE");
	}
	adev->dma_prot = cache ? IOMMU_CACHE : 0;
	adev->enforce_coherency = enforce;
	return 0;
}

int kvio_assign_dma_open(struct kvio_assign_dev *adev)
{
	struct iommu_domain *domain;
	int ret;

	ret = iommu_group_claim_dma_owner(adev->group, adev);
	if (ret)
		return ret;
	domain = kvio_iommu_paging_domain_alloc(&adev->pdev->dev);
	if (IS_ERR(domain)) {
		ret = PTR_ERR(domain);
		goto release;
	}
	ret = iommu_attach_group(domain, adev->group);
	if (ret)
		goto free;
	/*
	 * The group's reserved IOVA ranges, read once for the life of the
	 * device fd, as VFIO type1 reads them once at attach.
	 */
	INIT_LIST_HEAD(&adev->resv);
	ret = iommu_get_group_resv_regions(adev->group, &adev->resv);
	if (ret)
		goto detach;
	ret = kvio_assign_coherency(adev, domain);
	if (ret)
		goto detach;
	adev->domain = domain;
	return 0;
detach:
	iommu_put_resv_regions(&adev->pdev->dev, &adev->resv);
	iommu_detach_group(domain, adev->group);
free:
	iommu_domain_free(domain);
release:
	iommu_group_release_dma_owner(adev->group);
	return ret;
}

/*
 * Charge or uncharge pinned pages.  At release the owner may be exiting
 * with its mm already torn down: then there is nothing left to uncharge.
 */
static int kvio_assign_account(struct kvio_assign_dev *adev,
			       unsigned long npages, bool inc)
{
	int ret;

	if (!mmget_not_zero(adev->mm))
		return inc ? -ESRCH : 0;
	ret = account_locked_vm(adev->mm, npages, inc);
	mmput(adev->mm);
	return ret;
}

/*
 * Unmap [iova, iova + size) from the domain: true if all of it is gone.
 * iommu_unmap() stops at the first hole it meets and says how much it
 * unmapped; what it left may still be mapped, and its pages must then
 * never be unpinned (the device could reach them once they are reused).
 *
 * In pieces that end on 1 GiB boundaries of the IOVA space, rescheduling
 * between them (a map may be 64 GiB): no page the IOMMU driver may have
 * used (at most 1 GiB, aligned to its size, within one of our maps)
 * straddles such a boundary.  A driver that unmapped more than asked (a
 * larger page, which it must remove whole) did so from the piece's start,
 * inside this map: the walk goes on after it.
 */
static bool kvio_assign_unmap(struct kvio_assign_dev *adev, u64 iova, u64 size)
{
	u64 done = 0, n;
	size_t got;

	while (done < size) {
		n = min_t(u64, size - done,
			  SZ_1G - ((iova + done) & (SZ_1G - 1)));
		got = iommu_unmap(adev->domain, iova + done, n);
		if (got < n) {
			dev_err(&adev->pdev->dev,
				"unmapped %llu of %llu bytes at IOVA %#llx: keeping its pages pinned\n",
				done + got, size, iova);
			return false;
		}
		done += got;
		cond_resched();
	}
	return true;
}

/* Unpin in batches, rescheduling between them. */
static void kvio_assign_unpin(struct kvio_assign_map *map, unsigned long npages,
			      bool dirty)
{
	unsigned long done = 0, n;

	while (done < npages) {
		n = min_t(unsigned long, npages - done, KVIO_PIN_BATCH);
		unpin_user_pages_dirty_lock(map->pages + done, n, dirty);
		done += n;
		cond_resched();
	}
}

static void kvio_assign_map_free(struct kvio_assign_dev *adev,
				 struct kvio_assign_map *map, bool mapped)
{
	if (mapped && !kvio_assign_unmap(adev, map->iova, map->size)) {
		/* The pins and their charge are leaked: never freed mapped. */
		kvfree(map->pages);
		kfree(map);
		return;
	}
	kvio_assign_unpin(map, map->npages, map->write);
	kvio_assign_account(adev, map->npages, false);
	kvfree(map->pages);
	kfree(map);
}

void kvio_assign_dma_release(struct kvio_assign_dev *adev)
{
	struct kvio_assign_map *map, *tmp;

	list_for_each_entry_safe(map, tmp, &adev->maps, node) {
		list_del(&map->node);
		kvio_assign_map_free(adev, map, true);
		cond_resched();
	}
	adev->nmaps = 0;
	/* Copies iommu_get_group_resv_regions() made: no ->free, kfree()d. */
	iommu_put_resv_regions(&adev->pdev->dev, &adev->resv);
	iommu_detach_group(adev->domain, adev->group);
	iommu_domain_free(adev->domain);
	adev->domain = NULL;
	iommu_group_release_dma_owner(adev->group);
}

/*
 * Pin all pages of the range, or none.  A fatal signal stops it between
 * batches (-EINTR): a VMM killed while it maps gigabytes exits at once.
 */
static int kvio_assign_pin(struct kvio_assign_map *map, unsigned long vaddr)
{
	unsigned int gup = FOLL_LONGTERM | (map->write ? FOLL_WRITE : 0);
	unsigned long done = 0;
	int n;

	while (done < map->npages) {
		if (fatal_signal_pending(current)) {
			n = -EINTR;
			goto fail;
		}
		n = min_t(unsigned long, map->npages - done, KVIO_PIN_BATCH);
		n = pin_user_pages_fast(vaddr + (done << PAGE_SHIFT), n, gup,
					map->pages + done);
		if (n <= 0)
			goto fail;
		done += n;
		cond_resched();
	}
	return 0;
fail:
	kvio_assign_unpin(map, done, false);
	return n ? n : -EFAULT;
}

/*
 * Map physically contiguous runs of the pinned pages in one go each.  On
 * failure, or a fatal signal between runs (-EINTR), what was mapped is
 * unmapped; *@stuck if some of it stayed.
 */
static int kvio_assign_iommu_map(struct kvio_assign_dev *adev,
				 struct kvio_assign_map *map, bool *stuck)
{
	int prot = IOMMU_READ | (map->write ? IOMMU_WRITE : 0) | adev->dma_prot;
	unsigned long i = 0, n;
	phys_addr_t pa;
	int ret;

	while (i < map->npages) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto fail;
		}
		pa = page_to_phys(map->pages[i]);
		for (n = 1; i + n < map->npages; n++)
			if (page_to_phys(map->pages[i + n]) != pa + n * PAGE_SIZE)
				break;
		ret = kvio_iommu_map(adev->domain,
				     map->iova + i * PAGE_SIZE, pa,
				     n * PAGE_SIZE, prot);
		if (ret)
			goto fail;
		i += n;
		cond_resched();
	}
	return 0;
fail:
	*stuck = i && !kvio_assign_unmap(adev, map->iova, i * PAGE_SIZE);
	return ret;
}

/*
 * Does [iova, last] overlap a reserved region of the group?  As in VFIO
 * type1, which leaves them out of the IOVA ranges it accepts, every type
 * counts but IOMMU_RESV_DIRECT_RELAXABLE:
 *
 * MSI and SW_MSI: the interrupt window (0xfee00000 on x86), where the
 *	device's writes are interrupt messages, never memory: a map there
 *	would never be reached (x86) or would collide with the MSI
 *	doorbell mapping the kernel puts there (SW_MSI, Arm);
 * RESERVED: ranges DMA cannot use or the IOMMU does not translate
 *	(AMD's HyperTransport hole, PCI host bridge windows);
 * DIRECT: RMRRs and the like, identity-mapped for the device because
 *	firmware or the device itself relies on them: they are not ours to
 *	put guest memory on;
 * DIRECT_RELAXABLE: RMRRs the kernel knows can be dropped once the
 *	device is assigned (USB and graphics legacy ones): VFIO ignores
 *	them, and so do we.
 */
static bool kvio_assign_resv_overlap(struct kvio_assign_dev *adev,
				     u64 iova, u64 last)
{
	struct iommu_resv_region *r;

	list_for_each_entry(r, &adev->resv, list) {
		if (r->type == IOMMU_RESV_DIRECT_RELAXABLE || !r->length)
			continue;
		if (iova <= (u64)r->start + r->length - 1 && r->start <= last)
			return true;
	}
	return false;
}

static int kvio_assign_check_range(struct kvio_assign_dev *adev,
				   const struct kvio_assign_dma_map *m)
{
	const struct iommu_domain_geometry *geo = &adev->domain->geometry;
	struct kvio_assign_map *map;

	if (!m->size || !PAGE_ALIGNED(m->size) || !PAGE_ALIGNED(m->iova) ||
	    m->iova + m->size - 1 < m->iova)
		return -EINVAL;
	if (m->iova < geo->aperture_start ||
	    m->iova + m->size - 1 > geo->aperture_end)
		return -EINVAL;
	if (kvio_assign_resv_overlap(adev, m->iova, m->iova + m->size - 1))
		return -EINVAL;
	/*
	 * Inclusive ends: a map may end at 2^64 (AMD-Vi's aperture does),
	 * where iova + size wraps to 0 and an exclusive end would let an
	 * overlapping map through.
	 */
	list_for_each_entry(map, &adev->maps, node)
		if (m->iova <= map->iova + map->size - 1 &&
		    map->iova <= m->iova + m->size - 1)
			return -EEXIST;
	return 0;
}

static struct kvio_assign_map *
kvio_assign_map_alloc(const struct kvio_assign_dma_map *m)
{
	struct kvio_assign_map *map;

	map = kzalloc(sizeof(*map), GFP_KERNEL_ACCOUNT);
	if (!map)
		return NULL;
	map->iova = m->iova;
	map->size = m->size;
	map->npages = m->size >> PAGE_SHIFT;
	map->write = m->flags & KVIO_ASSIGN_DMA_WRITE;
	map->pages = kvmalloc_array(map->npages, sizeof(*map->pages),
				    GFP_KERNEL_ACCOUNT);
	if (!map->pages) {
		kfree(map);
		return NULL;
	}
	return map;
}

long kvio_assign_dma_map(struct kvio_assign_dev *adev, void __user *arg)
{
	struct kvio_assign_dma_map m;
	struct kvio_assign_map *map;
	bool stuck = false;
	int ret;

	ret = kvio_assign_copy_arg(&m, sizeof(m), sizeof(m), arg);
	if (ret)
		return ret;
	if (!m.flags || (m.flags & ~(KVIO_ASSIGN_DMA_READ |
				     KVIO_ASSIGN_DMA_WRITE)))
		return -EINVAL;
	if (!PAGE_ALIGNED(m.vaddr) || m.vaddr + m.size < m.vaddr)
		return -EINVAL;
	/* Pins are charged to the opener: another process may not add any. */
	if (current->mm != adev->mm)
		return -EPERM;
	ret = kvio_assign_check_range(adev, &m);
	if (ret)
		return ret;
	/* Each map costs kernel memory the rlimit does not see: bound them. */
	if (adev->nmaps >= KVIO_ASSIGN_DMA_MAX_MAPS)
		return -ENOSPC;
	/*
	 * A map's page array is one allocation of 8 bytes per page: bound
	 * it (128 MiB for the largest map with 4 KiB pages).  More than the
	 * machine has can never be pinned either.  Both are refused before
	 * the array is sized by them.
	 */
	if (m.size > KVIO_ASSIGN_DMA_MAX_SIZE ||
	    m.size >> PAGE_SHIFT > totalram_pages())
		return -ENOMEM;
	/* Charge first: over RLIMIT_MEMLOCK nothing is allocated. */
	ret = kvio_assign_account(adev, m.size >> PAGE_SHIFT, true);
	if (ret)
		return ret;
	map = kvio_assign_map_alloc(&m);
	if (!map) {
		ret = -ENOMEM;
		goto uncharge;
	}
	ret = kvio_assign_pin(map, m.vaddr);
	if (ret)
		goto free;
	ret = kvio_assign_iommu_map(adev, map, &stuck);
	if (ret && stuck) {
		/* Part stayed mapped: its pages stay pinned and charged. */
		kvfree(map->pages);
		kfree(map);
		return ret;
	}
	if (ret) {
		kvio_assign_unpin(map, map->npages, false);
		goto free;
	}
	list_add_tail(&map->node, &adev->maps);
	adev->nmaps++;
	return 0;
free:
	kvfree(map->pages);
	kfree(map);
uncharge:
	kvio_assign_account(adev, m.size >> PAGE_SHIFT, false);
	return ret;
}

long kvio_assign_dma_unmap(struct kvio_assign_dev *adev, void __user *arg)
{
	struct kvio_assign_dma_map m;
	struct kvio_assign_map *map;
	int ret;

	ret = kvio_assign_copy_arg(&m, sizeof(m), sizeof(m), arg);
	if (ret)
		return ret;
	if (m.flags || m.vaddr)
		return -EINVAL;
	list_for_each_entry(map, &adev->maps, node) {
		if (map->iova == m.iova && map->size == m.size) {
			list_del(&map->node);
			adev->nmaps--;
			kvio_assign_map_free(adev, map, true);
			return 0;
		}
	}
	return -ENOENT;
}
