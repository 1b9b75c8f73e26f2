// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_assign: what the VMM sees of the PCI device.  Info and regions,
 * BAR mmap, reset, and config space with the fields that belong to the
 * host kept virtual: the BARs (the guest has its own address map), the
 * interrupt line and the command register's bits other than bus master;
 * the capabilities past the header are read-only.  The I/O and
 * memory decode bits are virtual too: the device keeps decoding while it
 * is open, so that an access through a BAR mapping always reaches a
 * device that answers it.
 */
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "assign.h"

#define KVIO_CMD_DECODE		(PCI_COMMAND_IO | PCI_COMMAND_MEMORY)

unsigned int kvio_assign_num_irqs(struct pci_dev *pdev, u32 type)
{
	int n;

	switch (type) {
	case KVIO_ASSIGN_IRQ_INTX:
		return pdev->pin && pdev->irq ? 1 : 0;
	case KVIO_ASSIGN_IRQ_MSI:
		n = pdev->msi_cap ? pci_msi_vec_count(pdev) : 0;
		return n > 0 ? n : 0;
	case KVIO_ASSIGN_IRQ_MSIX:
		n = pdev->msix_cap ? pci_msix_vec_count(pdev) : 0;
		return n > 0 ? n : 0;
	}
	return 0;
}

long kvio_assign_get_info(struct kvio_assign_dev *adev, void __user *arg)
{
	struct pci_dev *pdev = adev->pdev;
	struct kvio_assign_info info;
	u32 argsz, t;
	int ret;

	ret = kvio_assign_copy_arg(&info, sizeof(info), sizeof(info), arg);
	if (ret)
		return ret;
	argsz = info.argsz;
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	info.flags = pdev->reset_methods[0] ? KVIO_ASSIGN_INFO_RESET : 0;
	info.vendor = pdev->vendor;
	info.device = pdev->device;
	info.subsystem_vendor = pdev->subsystem_vendor;
	info.subsystem_device = pdev->subsystem_device;
	info.iommu_group = iommu_group_id(adev->group);
	info.num_regions = KVIO_ASSIGN_NUM_REGIONS;
	for (t = 0; t < KVIO_ASSIGN_NUM_IRQ_TYPES; t++)
		info.num_irqs[t] = kvio_assign_num_irqs(pdev, t);
	info.config_size = pdev->cfg_size;
	return copy_to_user(arg, &info, min_t(u32, argsz, sizeof(info))) ?
		-EFAULT : 0;
}

static bool kvio_assign_bar_mmappable(struct pci_dev *pdev, int bar)
{
	return (pci_resource_flags(pdev, bar) & IORESOURCE_MEM) &&
	       pci_resource_len(pdev, bar) >= PAGE_SIZE &&
	       PAGE_ALIGNED(pci_resource_start(pdev, bar));
}

long kvio_assign_get_region(struct kvio_assign_dev *adev, void __user *arg)
{
	struct pci_dev *pdev = adev->pdev;
	struct kvio_assign_region r;
	unsigned long rflags;
	u32 argsz;
	int ret;

	ret = kvio_assign_copy_arg(&r, sizeof(r), sizeof(r), arg);
	if (ret)
		return ret;
	if (r.index >= KVIO_ASSIGN_NUM_REGIONS)
		return -EINVAL;
	argsz = r.argsz;
	r.argsz = sizeof(r);
	r.flags = 0;	/* output only: a reused struct is fine */
	r.pad = 0;
	r.offset = (u64)r.index << KVIO_ASSIGN_OFFSET_SHIFT;
	if (r.index == KVIO_ASSIGN_REGION_CONFIG) {
		r.size = pdev->cfg_size;
		r.offset = 0;
	} else {
		rflags = pci_resource_flags(pdev, r.index);
		r.size = pci_resource_len(pdev, r.index);
		if (rflags & IORESOURCE_IO)
			r.flags |= KVIO_ASSIGN_REGION_IO;
		if (rflags & IORESOURCE_MEM_64)
			r.flags |= KVIO_ASSIGN_REGION_64BIT;
		if (rflags & IORESOURCE_PREFETCH)
			r.flags |= KVIO_ASSIGN_REGION_PREFETCH;
		if (kvio_assign_bar_mmappable(pdev, r.index))
			r.flags |= KVIO_ASSIGN_REGION_MMAP;
	}
	return copy_to_user(arg, &r, min_t(u32, argsz, sizeof(r))) ?
		-EFAULT : 0;
}

/*
 * The virtual BARs start as the hardware's registers; only the address
 * bits above the BAR's size are writable, so that writing all ones reads
 * back the size mask, as on hardware.  The upper half of a 64-bit BAR
 * gets the upper bits of the mask.
 */
void kvio_assign_config_init(struct kvio_assign_dev *adev)
{
	struct pci_dev *pdev = adev->pdev;
	u64 mask;
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		adev->vbar[i] = 0;
		adev->bar_mask[i] = 0;
	}
	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		unsigned long flags = pci_resource_flags(pdev, i);
		resource_size_t len = pci_resource_len(pdev, i);

		if (!len)
			continue;
		pci_read_config_dword(pdev, PCI_BASE_ADDRESS_0 + 4 * i,
				      &adev->vbar[i]);
		mask = ~((u64)len - 1);
		if (flags & IORESOURCE_IO) {
			adev->bar_mask[i] = lower_32_bits(mask) &
					    PCI_BASE_ADDRESS_IO_MASK;
			continue;
		}
		adev->bar_mask[i] = lower_32_bits(mask) &
				    PCI_BASE_ADDRESS_MEM_MASK;
		if ((flags & IORESOURCE_MEM_64) && i + 1 < PCI_STD_NUM_BARS) {
			i++;
			pci_read_config_dword(pdev, PCI_BASE_ADDRESS_0 + 4 * i,
					      &adev->vbar[i]);
			adev->bar_mask[i] = upper_32_bits(mask);
		}
	}
	pci_read_config_byte(pdev, PCI_INTERRUPT_LINE, &adev->vintline);
	pci_read_config_word(pdev, PCI_COMMAND, &adev->vcmd);
	adev->vcmd &= KVIO_CMD_DECODE;
}

/* A dword of the config header as the VMM sees it. */
static int kvio_assign_vread_dword(struct kvio_assign_dev *adev, u32 dw,
				   u32 *val)
{
	int ret;

	if (dw >= PCI_BASE_ADDRESS_0 && dw <= PCI_BASE_ADDRESS_5) {
		*val = adev->vbar[(dw - PCI_BASE_ADDRESS_0) / 4];
		return 0;
	}
	if (dw == PCI_ROM_ADDRESS) {	/* no ROM is offered */
		*val = 0;
		return 0;
	}
	ret = pci_user_read_config_dword(adev->pdev, dw, val);
	if (ret)
		return pcibios_err_to_errno(ret);
	if (dw == PCI_INTERRUPT_LINE)
		*val = (*val & ~0xffU) | adev->vintline;
	if (dw == PCI_COMMAND)
		*val = (*val & ~KVIO_CMD_DECODE) | adev->vcmd;
	return 0;
}

static int kvio_assign_config_read(struct kvio_assign_dev *adev, u32 off,
				   u32 size, u32 *val)
{
	u32 dw = off & ~3U, shift = (off & 3) * 8;
	int ret;

	if (off >= PCI_STD_HEADER_SIZEOF) {
		if (size == 1) {
			u8 v;

			ret = pci_user_read_config_byte(adev->pdev, off, &v);
			*val = v;
		} else if (size == 2) {
			u16 v;

			ret = pci_user_read_config_word(adev->pdev, off, &v);
			*val = v;
		} else {
			ret = pci_user_read_config_dword(adev->pdev, off, val);
		}
		return ret ? pcibios_err_to_errno(ret) : 0;
	}
	ret = kvio_assign_vread_dword(adev, dw, val);
	if (ret)
		return ret;
	*val >>= shift;
	if (size < 4)
		*val &= (1U << (size * 8)) - 1;
	return 0;
}

static int kvio_assign_write_hw(struct pci_dev *pdev, u32 off, u32 size,
				u32 val)
{
	int ret;

	if (size == 1)
		ret = pci_user_write_config_byte(pdev, off, val);
	else if (size == 2)
		ret = pci_user_write_config_word(pdev, off, val);
	else
		ret = pci_user_write_config_dword(pdev, off, val);
	return ret ? pcibios_err_to_errno(ret) : 0;
}

/* Writes into the standard header; see the uAPI for what each field does. */
static int kvio_assign_header_write(struct kvio_assign_dev *adev, u32 off,
				    u32 size, u32 val)
{
	u32 dw = off & ~3U, shift = (off & 3) * 8;
	u32 bytes = size == 4 ? ~0U : ((1U << (size * 8)) - 1) << shift;
	unsigned long flags;
	u32 old, i;
	u16 cmd;
	int ret;

	if (dw >= PCI_BASE_ADDRESS_0 && dw <= PCI_BASE_ADDRESS_5) {
		i = (dw - PCI_BASE_ADDRESS_0) / 4;
		old = adev->vbar[i];
		val = (old & ~bytes) | ((val << shift) & bytes);
		adev->vbar[i] = (val & adev->bar_mask[i]) |
				(old & ~adev->bar_mask[i]);
		return 0;
	}
	/*
	 * The VMM's bits of the command register are all in its low byte:
	 * any write that covers that byte (byte, word or dword at 0x04)
	 * sets them.  Decode is virtual; bus master goes to the device,
	 * under the INTx lock so that the read-modify-write does not undo
	 * the handler's INTx disable.
	 */
	if (dw == PCI_COMMAND && off == PCI_COMMAND) {
		adev->vcmd = val & KVIO_CMD_DECODE;
		spin_lock_irqsave(&adev->intx_lock, flags);
		ret = pci_read_config_word(adev->pdev, PCI_COMMAND, &cmd);
		if (!ret) {
			cmd = (cmd & ~PCI_COMMAND_MASTER) |
			      (val & PCI_COMMAND_MASTER);
			ret = pci_write_config_word(adev->pdev, PCI_COMMAND,
						    cmd);
		}
		spin_unlock_irqrestore(&adev->intx_lock, flags);
		return ret ? pcibios_err_to_errno(ret) : 0;
	}
	if (off == PCI_INTERRUPT_LINE && size == 1) {
		adev->vintline = val;
		return 0;
	}
	if ((off == PCI_CACHE_LINE_SIZE || off == PCI_LATENCY_TIMER) &&
	    size == 1)
		return kvio_assign_write_hw(adev->pdev, off, 1, val);
	return 0;	/* everything else in the header is read-only to us */
}

/*
 * Past the header are the capabilities, and most of them are the host's
 * to program or unsafe to hand over: MSI and MSI-X (the host's vectors),
 * power management (D3hot stops the BARs decoding under a mapping),
 * PCIe device control (phantom functions, MPS, FLR), device control 2
 * (ARI), resizable BARs, SR-IOV.  Rather than vet them one by one, all
 * writes past the header are refused; reads are allowed.
 */
static int kvio_assign_config_write(struct kvio_assign_dev *adev, u32 off,
				    u32 size, u32 val)
{
	if (off < PCI_STD_HEADER_SIZEOF)
		return kvio_assign_header_write(adev, off, size, val);
	return -EPERM;
}

long kvio_assign_config_rw(struct kvio_assign_dev *adev, void __user *arg)
{
	struct kvio_assign_config c;
	int ret;

	ret = kvio_assign_copy_arg(&c, sizeof(c), sizeof(c), arg);
	if (ret)
		return ret;
	if ((c.flags & ~KVIO_ASSIGN_CONFIG_WRITE) || c.pad ||
	    (c.size != 1 && c.size != 2 && c.size != 4) ||
	    (c.offset & (c.size - 1)) ||
	    c.offset >= adev->pdev->cfg_size)
		return -EINVAL;
	if (c.flags & KVIO_ASSIGN_CONFIG_WRITE)
		return kvio_assign_config_write(adev, c.offset, c.size,
						c.value);
	ret = kvio_assign_config_read(adev, c.offset, c.size, &c.value);
	if (ret)
		return ret;
	return put_user(c.value, (u32 __user *)(arg +
			offsetof(struct kvio_assign_config, value))) ?
		-EFAULT : 0;
}

/* A BAR mapping copied (fork) or split: one more VMA to wait for. */
static void kvio_assign_vm_open(struct vm_area_struct *vma)
{
	struct kvio_assign_dev *adev = vma->vm_private_data;

	atomic_inc(&adev->mmaps);
}

static void kvio_assign_vm_close(struct vm_area_struct *vma)
{
	struct kvio_assign_dev *adev = vma->vm_private_data;

	atomic_dec(&adev->mmaps);
}

static const struct vm_operations_struct kvio_assign_vm_ops = {
	.open	= kvio_assign_vm_open,
	.close	= kvio_assign_vm_close,
};

int kvio_assign_mmap_bar(struct kvio_assign_dev *adev,
			 struct vm_area_struct *vma)
{
	struct pci_dev *pdev = adev->pdev;
	unsigned long shift = KVIO_ASSIGN_OFFSET_SHIFT - PAGE_SHIFT;
	unsigned long bar = vma->vm_pgoff >> shift;
	unsigned long pgoff = vma->vm_pgoff & ((1UL << shift) - 1);
	unsigned long len = vma->vm_end - vma->vm_start;
	resource_size_t barlen;
	int ret;

	if (bar >= PCI_STD_NUM_BARS || !kvio_assign_bar_mmappable(pdev, bar))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	barlen = PAGE_ALIGN(pci_resource_len(pdev, bar));
	if (pgoff >= barlen >> PAGE_SHIFT ||
	    len > barlen - (pgoff << PAGE_SHIFT))
		return -EINVAL;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	vma->vm_private_data = adev;
	vma->vm_ops = &kvio_assign_vm_ops;
	/* Counted only once it exists: a failed mmap gets no close. */
	mutex_lock(&adev->bar_map_lock);
	ret = io_remap_pfn_range(vma, vma->vm_start,
				 (pci_resource_start(pdev, bar) >> PAGE_SHIFT) +
				 pgoff, len, vma->vm_page_prot);
	if (!ret)
		atomic_inc(&adev->mmaps);
	mutex_unlock(&adev->bar_map_lock);
	return ret;
}

/*
 * A reset stops the device decoding for a while and may leave its BARs
 * unprogrammed: refuse it while the VMM can still reach them.
 */
long kvio_assign_reset(struct kvio_assign_dev *adev)
{
	int ret;

	if (!adev->pdev->reset_methods[0])
		return -ENOTTY;
	mutex_lock(&adev->bar_map_lock);
	if (atomic_read(&adev->mmaps))
		ret = -EBUSY;
	else
		ret = pci_try_reset_function(adev->pdev);
	mutex_unlock(&adev->bar_map_lock);
	return ret;
}
