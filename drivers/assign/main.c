// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_assign: hand a PCI device to a VMM.
 *
 * A PCI driver without an ID table: an administrator hands a device over
 * with driver_override and drivers_probe (tools/kvio-assign does that).
 * /dev/kvio-assign opens a bound device by its address and returns a
 * device fd, which owns the device and its whole IOMMU group until it is
 * closed.  See Documentation/assign.rst.
 */
#include <linux/anon_inodes.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <kvio/compat.h>

#include "assign.h"

static struct pci_driver kvio_assign_driver;

/* The bound devices, and which are open; probe, remove and open take it. */
static DEFINE_MUTEX(kvio_assign_list_lock);
static LIST_HEAD(kvio_assign_devs);

/**
 * kvio_assign_copy_arg() - copy an ioctl argument that starts with argsz
 * @dst: kernel copy, @size bytes
 * @min: the smallest argsz accepted (the first version of the struct)
 * @size: the size of the struct this kernel knows
 * @arg: user pointer
 *
 * A shorter struct from older userspace is zero-extended; a longer one
 * from newer userspace is accepted only if the bytes we do not know are 0.
 *
 * Return: 0, or -EFAULT, -EINVAL (argsz too small) or -E2BIG.
 */
int kvio_assign_copy_arg(void *dst, size_t min, size_t size,
			 const void __user *arg)
{
	u32 argsz;

	if (get_user(argsz, (const u32 __user *)arg))
		return -EFAULT;
	if (argsz < min)
		return -EINVAL;
	return copy_struct_from_user(dst, size, arg, argsz);
}

static long kvio_assign_dev_ioctl(struct file *f, unsigned int cmd,
				  unsigned long arg)
{
	struct kvio_assign_dev *adev = f->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&adev->lock);
	switch (cmd) {
	case KVIO_ASSIGN_GET_INFO:
		ret = kvio_assign_get_info(adev, uarg);
		break;
	case KVIO_ASSIGN_GET_REGION:
		ret = kvio_assign_get_region(adev, uarg);
		break;
	case KVIO_ASSIGN_CONFIG:
		ret = kvio_assign_config_rw(adev, uarg);
		break;
	case KVIO_ASSIGN_DMA_MAP:
		ret = kvio_assign_dma_map(adev, uarg);
		break;
	case KVIO_ASSIGN_DMA_UNMAP:
		ret = kvio_assign_dma_unmap(adev, uarg);
		break;
	case KVIO_ASSIGN_SET_IRQS:
		ret = kvio_assign_set_irqs(adev, uarg);
		break;
	case KVIO_ASSIGN_IRQ_UNMASK:
		ret = kvio_assign_intx_unmask(adev);
		break;
	case KVIO_ASSIGN_RESET:
		ret = kvio_assign_reset(adev);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&adev->lock);
	return ret;
}

static int kvio_assign_dev_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct kvio_assign_dev *adev = f->private_data;

	return kvio_assign_mmap_bar(adev, vma);
}

/*
 * Give the device back as the host had it: reset, then the config space
 * saved at open restored.  The reset needs the device lock; remove()
 * holds it while it waits for us, so only try it, and leave the reset to
 * remove() when we cannot have it (VFIO does the same).
 */
static void kvio_assign_restore(struct kvio_assign_dev *adev)
{
	struct pci_dev *pdev = adev->pdev;

	if (pci_load_and_free_saved_state(pdev, &adev->saved))
		pci_warn(pdev, "kvio_assign: no saved config space to restore\n");
	adev->needs_reset = false;
	if (pdev->reset_methods[0]) {
		if (pci_dev_trylock(pdev)) {
			__pci_reset_function_locked(pdev);
			pci_dev_unlock(pdev);
		} else {
			adev->needs_reset = true;
		}
	}
	pci_restore_state(pdev);
}

/*
 * The last reference to the device fd is gone: no ioctl runs and no BAR
 * mapping exists any more (each holds the file).  Quiesce the device
 * before its DMA maps go, so that it never writes to a page we unpinned.
 */
static int kvio_assign_dev_release(struct inode *inode, struct file *f)
{
	struct kvio_assign_dev *adev = f->private_data;
	struct pci_dev *pdev = adev->pdev;

	kvio_assign_irq_release(adev);
	pci_clear_master(pdev);
	kvio_assign_restore(adev);
	pci_disable_device(pdev);
	kvio_assign_dma_release(adev);
	mmdrop(adev->mm);
	adev->mm = NULL;

	mutex_lock(&kvio_assign_list_lock);
	adev->open = false;
	complete_all(&adev->released);
	mutex_unlock(&kvio_assign_list_lock);
	return 0;
}

static const struct file_operations kvio_assign_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvio_assign_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= kvio_assign_dev_mmap,
	.release	= kvio_assign_dev_release,
	.llseek		= noop_llseek,
};

/*
 * A group is ours to give only if every device in it is bound to us, or
 * is a bridge that no driver doing DMA holds: otherwise the VMM's DMA
 * maps would apply to a device it does not own.
 */
static int kvio_assign_viable_one(struct device *dev, void *data)
{
	struct pci_dev *pdev;
	struct device_driver *drv = READ_ONCE(dev->driver);

	if (drv == &kvio_assign_driver.driver)
		return 0;
	if (dev_is_pci(dev)) {
		pdev = to_pci_dev(dev);
		if (pdev->hdr_type == PCI_HEADER_TYPE_BRIDGE &&
		    (!drv || !strcmp(drv->name, "pcieport")))
			return 0;
	}
	pr_info("%s: refused: %s in its IOMMU group is not bound to kvio_assign\n",
		(const char *)data, dev_name(dev));
	return -EPERM;
}

/* Under the list lock: may @adev be opened now? */
static int kvio_assign_may_open(struct kvio_assign_dev *adev)
{
	struct kvio_assign_dev *other;

	/*
	 * Without interrupt remapping the device's MSI writes reach any
	 * host interrupt, and a device driven by the VMM can be made to
	 * write anything: there is no unsafe mode.
	 */
	if (!kvio_isolated_msi(&adev->pdev->dev)) {
		pci_warn(adev->pdev, "kvio_assign: refused: no interrupt remapping (MSIs are not isolated)\n");
		return -EPERM;
	}
	if (adev->open)
		return -EBUSY;
	list_for_each_entry(other, &kvio_assign_devs, node)
		if (other->open && other->group == adev->group)
			return -EBUSY;
	return iommu_group_for_each_dev(adev->group,
					(void *)pci_name(adev->pdev),
					kvio_assign_viable_one);
}

/* Take the device for the calling process: IOMMU domain first. */
static int kvio_assign_setup(struct kvio_assign_dev *adev)
{
	int ret;

	ret = kvio_assign_dma_open(adev);
	if (ret)
		return ret;
	ret = pci_enable_device(adev->pdev);
	if (ret) {
		kvio_assign_dma_release(adev);
		return ret;
	}
	/* Saved before the VMM touches anything: release restores it. */
	pci_save_state(adev->pdev);
	adev->saved = pci_store_saved_state(adev->pdev);
	if (!adev->saved)
		pci_warn(adev->pdev, "kvio_assign: cannot save config space\n");
	kvio_assign_config_init(adev);
	adev->irq_type = -1;
	adev->mm = current->mm;
	mmgrab(adev->mm);
	/* As the kernel log and sysfs readers in the host see it. */
	adev->opener = task_tgid_nr(current);
	get_task_comm(adev->opener_comm, current);
	return 0;
}

static struct kvio_assign_dev *kvio_assign_find(struct pci_dev *pdev)
{
	struct kvio_assign_dev *adev;

	list_for_each_entry(adev, &kvio_assign_devs, node)
		if (adev->pdev == pdev)
			return adev;
	return NULL;
}

static long kvio_assign_open_dev(const struct kvio_assign_open *op)
{
	struct kvio_assign_dev *adev;
	struct pci_dev *pdev;
	long ret;

	if (op->segment > INT_MAX)
		return -ENODEV;
	pdev = pci_get_domain_bus_and_slot(op->segment, op->bus, op->devfn);
	if (!pdev)
		return -ENODEV;

	mutex_lock(&kvio_assign_list_lock);
	adev = kvio_assign_find(pdev);
	ret = adev ? kvio_assign_may_open(adev) : -ENXIO;
	if (!ret)
		ret = kvio_assign_setup(adev);
	if (!ret) {
		/* Open before the fd exists: a close may follow at once. */
		adev->open = true;
		reinit_completion(&adev->released);
		ret = anon_inode_getfd("kvio-assign", &kvio_assign_dev_fops,
				       adev, O_RDWR | O_CLOEXEC);
		if (ret < 0) {
			kfree(adev->saved);
			adev->saved = NULL;
			pci_disable_device(pdev);
			kvio_assign_dma_release(adev);
			mmdrop(adev->mm);
			adev->mm = NULL;
			adev->open = false;
			complete_all(&adev->released);
		}
	}
	mutex_unlock(&kvio_assign_list_lock);
	pci_dev_put(pdev);
	return ret;
}

static long kvio_assign_ctl_ioctl(struct file *f, unsigned int cmd,
				  unsigned long arg)
{
	struct kvio_assign_open op;
	int ret;

	if (cmd != KVIO_ASSIGN_OPEN)
		return -ENOTTY;
	ret = kvio_assign_copy_arg(&op, sizeof(op), sizeof(op),
				   (void __user *)arg);
	if (ret)
		return ret;
	if (op.flags || op.pad)
		return -EINVAL;
	return kvio_assign_open_dev(&op);
}

static const struct file_operations kvio_assign_ctl_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvio_assign_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvio_assign_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvio-assign",
	.fops	= &kvio_assign_ctl_fops,
	.mode	= 0600,
};

static int kvio_assign_probe(struct pci_dev *pdev,
			     const struct pci_device_id *id)
{
	struct kvio_assign_dev *adev;
	struct iommu_group *group;
	int ret;

	if (pdev->hdr_type != PCI_HEADER_TYPE_NORMAL) {
		pci_info(pdev, "kvio_assign: not an endpoint (header type %u), refusing\n",
			 pdev->hdr_type);
		return -EINVAL;
	}
	/* No IOMMU, no assignment: there is no unsafe mode. */
	group = iommu_group_get(&pdev->dev);
	if (!group) {
		pci_info(pdev, "kvio_assign: no IOMMU group (is the IOMMU on?), refusing: device assignment needs an IOMMU\n");
		return -ENODEV;
	}
	adev = kzalloc(sizeof(*adev), GFP_KERNEL);
	if (!adev) {
		iommu_group_put(group);
		return -ENOMEM;
	}
	ret = pci_request_regions(pdev, "kvio_assign");
	if (ret) {
		kfree(adev);
		iommu_group_put(group);
		return ret;
	}
	adev->pdev = pdev;
	adev->group = group;
	mutex_init(&adev->lock);
	mutex_init(&adev->bar_map_lock);
	spin_lock_init(&adev->intx_lock);
	INIT_LIST_HEAD(&adev->maps);
	init_completion(&adev->released);
	pci_set_drvdata(pdev, adev);

	mutex_lock(&kvio_assign_list_lock);
	list_add_tail(&adev->node, &kvio_assign_devs);
	mutex_unlock(&kvio_assign_list_lock);
	return 0;
}

/*
 * Unbinding cannot fail: if a VMM still holds the device, wait for it to
 * close the fd (as VFIO does), so that the device never changes hands
 * while a process can still reach it.  The wait may be long: wake up
 * every 10 s to say who holds the device (so that the hung task detector,
 * which would fire on an uninterruptible sleep of 120 s, never does).
 */
static void kvio_assign_remove(struct pci_dev *pdev)
{
	struct kvio_assign_dev *adev = pci_get_drvdata(pdev);
	bool open;
	int ret;

	mutex_lock(&kvio_assign_list_lock);
	list_del(&adev->node);
	open = adev->open;
	mutex_unlock(&kvio_assign_list_lock);
	if (open) {
		pci_info(pdev, "kvio_assign: waiting for the owner to close the device\n");
		while (!wait_for_completion_timeout(&adev->released, 10 * HZ))
			dev_warn_ratelimited(&pdev->dev, "kvio_assign: still waiting for the owner (opened by pid %d, %s) to close the device\n",
					     adev->opener, adev->opener_comm);
	}
	/* The device lock is ours: the reset release could not do. */
	if (adev->needs_reset) {
		pci_save_state(pdev);
		ret = __pci_reset_function_locked(pdev);
		if (ret)
			pci_info(pdev, "kvio_assign: reset failed (%d)\n", ret);
		pci_restore_state(pdev);
		adev->needs_reset = false;
	}
	pci_release_regions(pdev);
	iommu_group_put(adev->group);
	mutex_destroy(&adev->bar_map_lock);
	mutex_destroy(&adev->lock);
	kfree(adev);
}

/*
 * /sys/bus/pci/devices/BDF/kvio_assign_owner: "PID COMM" of the process
 * that opened the device, "none" while nobody has: what tools/kvio-assign
 * reads before it unbinds (which would wait for that process).  The group
 * goes before remove() runs, and sysfs waits for a read in progress, so
 * the device is still ours here.
 */
static ssize_t kvio_assign_owner_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	struct kvio_assign_dev *adev = dev_get_drvdata(dev);
	ssize_t n;

	mutex_lock(&kvio_assign_list_lock);
	if (adev->open)
		n = sysfs_emit(buf, "%d %s\n", adev->opener, adev->opener_comm);
	else
		n = sysfs_emit(buf, "none\n");
	mutex_unlock(&kvio_assign_list_lock);
	return n;
}
static DEVICE_ATTR_RO(kvio_assign_owner);

static struct attribute *kvio_assign_attrs[] = {
	&dev_attr_kvio_assign_owner.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kvio_assign);

static struct pci_driver kvio_assign_driver = {
	.name			= "kvio_assign",
	.probe			= kvio_assign_probe,
	.remove			= kvio_assign_remove,
	.dev_groups		= kvio_assign_groups,
	.driver_managed_dma	= true,
};

static int __init kvio_assign_init(void)
{
	int ret;

	ret = pci_register_driver(&kvio_assign_driver);
	if (ret)
		return ret;
	ret = misc_register(&kvio_assign_misc);
	if (ret)
		pci_unregister_driver(&kvio_assign_driver);
	return ret;
}

static void __exit kvio_assign_exit(void)
{
	misc_deregister(&kvio_assign_misc);
	pci_unregister_driver(&kvio_assign_driver);
}

module_init(kvio_assign_init);
module_exit(kvio_assign_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kvio-assign: PCI device assignment helper for KVM VMMs");
MODULE_VERSION(KVIO_VERSION);
MODULE_SOFTDEP("pre: irqbypass");
