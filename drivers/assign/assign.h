/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvio_assign internals: one struct kvio_assign_dev per PCI device bound to
 * the driver, and the state its single owner (the device fd) builds on it.
 */
#ifndef _KVIO_ASSIGN_H
#define _KVIO_ASSIGN_H

#include <linux/completion.h>
#include <linux/irqbypass.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/kvio_assign.h>

/*
 * The mmap offset of a BAR is its index shifted by this much: far above
 * any BAR size, and the same for every page size.
 */
#define KVIO_ASSIGN_OFFSET_SHIFT	40
#define KVIO_ASSIGN_MAX_MSIX		2048

struct kvio_assign_vec {
	struct kvio_assign_dev *adev;
	struct eventfd_ctx *trigger;
	struct irq_bypass_producer producer;
	bool bypass;
	int irq;
	char name[48];	/* "kvio-assign-msix[2047](0000:00:00.0)" fits */
};

struct kvio_assign_dev {
	struct pci_dev *pdev;
	struct list_head node;		/* in the driver's device list */
	struct iommu_group *group;
	bool open;			/* under the driver's list lock */
	struct completion released;	/* the owner closed the device fd */
	pid_t opener;			/* host pid: logs, kvio_assign_owner */
	char opener_comm[TASK_COMM_LEN];

	/* Everything below belongs to the owner, under @lock. */
	struct mutex lock;
	struct mm_struct *mm;		/* the opener's, charged for pins */
	struct pci_saved_state *saved;	/* config space as the host had it */
	bool needs_reset;		/* release could not reset: remove will */
	struct iommu_domain *domain;
	struct list_head resv;		/* the group's iommu_resv_regions */
	int dma_prot;			/* IOMMU_CACHE, if coherent, or 0 */
	bool enforce_coherency;		/* the domain blocks no-snoop DMA */
	struct list_head maps;
	unsigned int nmaps;

	u32 vbar[PCI_STD_NUM_BARS];	/* virtual BAR registers */
	u32 bar_mask[PCI_STD_NUM_BARS];	/* their writable (address) bits */
	u8 vintline;			/* virtual interrupt line */
	u16 vcmd;			/* virtual I/O and memory decode bits */

	/*
	 * Live BAR mappings (VMAs) of the device fd.  @bar_map_lock orders a
	 * new mapping against a reset; vm_ops open and close count the rest.
	 */
	struct mutex bar_map_lock;
	atomic_t mmaps;

	int irq_type;			/* KVIO_ASSIGN_IRQ_*, or -1 */
	unsigned int nvec;
	struct kvio_assign_vec *vecs;
	spinlock_t intx_lock;		/* @intx_masked against the handler */
	bool intx_masked;
	bool intx_exclusive;		/* no INTx masking: own the line */
};

/* pci.c */
void kvio_assign_config_init(struct kvio_assign_dev *adev);
long kvio_assign_get_info(struct kvio_assign_dev *adev, void __user *arg);
long kvio_assign_get_region(struct kvio_assign_dev *adev, void __user *arg);
long kvio_assign_config_rw(struct kvio_assign_dev *adev, void __user *arg);
int kvio_assign_mmap_bar(struct kvio_assign_dev *adev,
			 struct vm_area_struct *vma);
long kvio_assign_reset(struct kvio_assign_dev *adev);
unsigned int kvio_assign_num_irqs(struct pci_dev *pdev, u32 type);

/* dma.c */
int kvio_assign_dma_open(struct kvio_assign_dev *adev);
void kvio_assign_dma_release(struct kvio_assign_dev *adev);
long kvio_assign_dma_map(struct kvio_assign_dev *adev, void __user *arg);
long kvio_assign_dma_unmap(struct kvio_assign_dev *adev, void __user *arg);

/* irq.c */
long kvio_assign_set_irqs(struct kvio_assign_dev *adev, void __user *arg);
long kvio_assign_intx_unmask(struct kvio_assign_dev *adev);
void kvio_assign_irq_release(struct kvio_assign_dev *adev);

/* main.c */
int kvio_assign_copy_arg(void *dst, size_t min, size_t size,
			 const void __user *arg);

#endif /* _KVIO_ASSIGN_H */
