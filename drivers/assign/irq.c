// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_assign: interrupts.  Each vector signals an eventfd, which a VMM
 * hands to KVM_IRQFD; MSI and MSI-X vectors are also irq-bypass producers
 * with the eventfd as token, so that KVM can post them to the vCPU.
 * INTx is level triggered: it stays masked from the interrupt until the
 * VMM unmasks it, or the line would fire until the guest serviced it.
 */
#include <linux/eventfd.h>
#include <linux/interrupt.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <kvio/compat.h>

#include "assign.h"

static irqreturn_t kvio_assign_msi_handler(int irq, void *data)
{
	struct kvio_assign_vec *vec = data;

	kvio_eventfd_signal(vec->trigger);
	return IRQ_HANDLED;
}

/*
 * The line may be shared: the device's INTx status bit says whether it is
 * ours.  Where INTx cannot be masked at the device, the line is ours alone
 * and is masked at the interrupt controller instead.
 */
static irqreturn_t kvio_assign_intx_handler(int irq, void *data)
{
	struct kvio_assign_vec *vec = data;
	struct kvio_assign_dev *adev = vec->adev;
	unsigned long flags;

	spin_lock_irqsave(&adev->intx_lock, flags);
	if (adev->intx_exclusive) {
		disable_irq_nosync(irq);
	} else if (!pci_check_and_mask_intx(adev->pdev)) {
		spin_unlock_irqrestore(&adev->intx_lock, flags);
		return IRQ_NONE;
	}
	adev->intx_masked = true;
	spin_unlock_irqrestore(&adev->intx_lock, flags);
	kvio_eventfd_signal(vec->trigger);
	return IRQ_HANDLED;
}

long kvio_assign_intx_unmask(struct kvio_assign_dev *adev)
{
	unsigned long flags;

	if (adev->irq_type != KVIO_ASSIGN_IRQ_INTX)
		return -EINVAL;
	spin_lock_irqsave(&adev->intx_lock, flags);
	if (adev->intx_masked) {
		adev->intx_masked = false;
		if (adev->intx_exclusive)
			enable_irq(adev->pdev->irq);
		else
			pci_intx(adev->pdev, 1);
	}
	spin_unlock_irqrestore(&adev->intx_lock, flags);
	return 0;
}

static void kvio_assign_free_vectors(struct kvio_assign_dev *adev)
{
	struct kvio_assign_vec *vec;
	unsigned int i;

	for (i = 0; i < adev->nvec; i++) {
		vec = &adev->vecs[i];
		if (vec->bypass)
			irq_bypass_unregister_producer(&vec->producer);
		if (vec->irq)
			free_irq(vec->irq, vec);
		if (vec->trigger)
			eventfd_ctx_put(vec->trigger);
	}
	if (adev->irq_type == KVIO_ASSIGN_IRQ_INTX)
		pci_intx(adev->pdev, 0);
	else if (adev->irq_type >= 0)
		pci_free_irq_vectors(adev->pdev);
	kfree(adev->vecs);
	adev->vecs = NULL;
	adev->nvec = 0;
	adev->irq_type = -1;
}

void kvio_assign_irq_release(struct kvio_assign_dev *adev)
{
	kvio_assign_free_vectors(adev);
}

static int kvio_assign_request_intx(struct kvio_assign_dev *adev,
				    struct kvio_assign_vec *vec)
{
	struct pci_dev *pdev = adev->pdev;
	int ret;

	adev->intx_exclusive = !pci_intx_mask_supported(pdev);
	adev->intx_masked = false;
	pci_intx(pdev, 1);
	ret = request_irq(pdev->irq, kvio_assign_intx_handler,
			  adev->intx_exclusive ? 0 : IRQF_SHARED,
			  vec->name, vec);
	if (ret) {
		pci_intx(pdev, 0);
		return ret;
	}
	vec->irq = pdev->irq;
	return 0;
}

/* KVM may take a vector over; without KVM (or posting) it stays ours. */
static void kvio_assign_add_bypass(struct kvio_assign_vec *vec)
{
	int ret;

	vec->producer.token = vec->trigger;
	vec->producer.irq = vec->irq;
	ret = irq_bypass_register_producer(&vec->producer);
	if (ret)
		pr_info("%s: no irq bypass (%d), interrupts go through the eventfd\n",
			vec->name, ret);
	vec->bypass = !ret;
}

static int kvio_assign_request_msi(struct kvio_assign_dev *adev, u32 type)
{
	unsigned int i, flags = type == KVIO_ASSIGN_IRQ_MSI ? PCI_IRQ_MSI :
							       PCI_IRQ_MSIX;
	struct kvio_assign_vec *vec;
	int ret;

	ret = pci_alloc_irq_vectors(adev->pdev, adev->nvec, adev->nvec, flags);
	if (ret < 0)
		return ret;
	for (i = 0; i < adev->nvec; i++) {
		vec = &adev->vecs[i];
		ret = request_irq(pci_irq_vector(adev->pdev, i),
				  kvio_assign_msi_handler, 0, vec->name, vec);
		if (ret)
			return ret;	/* the caller frees what we got */
		vec->irq = pci_irq_vector(adev->pdev, i);
		kvio_assign_add_bypass(vec);
	}
	return 0;
}

/*
 * Take the eventfds first, into a new array: a bad fd must leave the
 * device, and the vectors it has now, untouched.
 */
static struct kvio_assign_vec *
kvio_assign_get_triggers(struct kvio_assign_dev *adev, const s32 *fds,
			 u32 type, u32 count)
{
	static const char * const names[] = { "intx", "msi", "msix" };
	struct kvio_assign_vec *vecs;
	struct eventfd_ctx *ctx;
	unsigned int i;

	vecs = kcalloc(count, sizeof(*vecs), GFP_KERNEL_ACCOUNT);
	if (!vecs)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < count; i++) {
		ctx = eventfd_ctx_fdget(fds[i]);
		if (IS_ERR(ctx)) {
			while (i--)
				eventfd_ctx_put(vecs[i].trigger);
			kfree(vecs);
			return ERR_CAST(ctx);
		}
		vecs[i].trigger = ctx;
		vecs[i].adev = adev;
		snprintf(vecs[i].name, sizeof(vecs[i].name),
			 "kvio-assign-%s[%u](%s)", names[type], i,
			 pci_name(adev->pdev));
	}
	return vecs;
}

/* Takes @vecs, with their eventfds, whatever happens. */
static int kvio_assign_enable(struct kvio_assign_dev *adev, u32 type,
			      u32 count, struct kvio_assign_vec *vecs)
{
	int ret;

	adev->vecs = vecs;
	adev->nvec = count;
	adev->irq_type = type;
	if (type == KVIO_ASSIGN_IRQ_INTX)
		ret = kvio_assign_request_intx(adev, &adev->vecs[0]);
	else
		ret = kvio_assign_request_msi(adev, type);
	if (ret)
		kvio_assign_free_vectors(adev);
	return ret;
}

long kvio_assign_set_irqs(struct kvio_assign_dev *adev, void __user *arg)
{
	struct kvio_assign_irq_set hdr;
	struct kvio_assign_vec *vecs;
	u64 need;
	s32 *fds;
	int ret;

	/* argsz covers the fds that follow: no copy_struct_from_user() */
	if (copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.flags || hdr.type >= KVIO_ASSIGN_NUM_IRQ_TYPES)
		return -EINVAL;
	need = sizeof(hdr) + (u64)hdr.count * sizeof(s32);
	if (hdr.count > kvio_assign_num_irqs(adev->pdev, hdr.type) ||
	    hdr.argsz < need)
		return -EINVAL;
	/* A newer struct's fields we do not know must be unused. */
	if (hdr.argsz > need) {
		ret = check_zeroed_user(arg + need, hdr.argsz - need);
		if (ret <= 0)
			return ret ? ret : -E2BIG;
	}
	if (adev->irq_type >= 0 && adev->irq_type != hdr.type)
		return hdr.count ? -EBUSY : 0;
	if (!hdr.count) {
		kvio_assign_free_vectors(adev);
		return 0;
	}
	fds = memdup_user(arg + sizeof(hdr), hdr.count * sizeof(s32));
	if (IS_ERR(fds))
		return PTR_ERR(fds);
	vecs = kvio_assign_get_triggers(adev, fds, hdr.type, hdr.count);
	kfree(fds);
	if (IS_ERR(vecs))
		return PTR_ERR(vecs);
	kvio_assign_free_vectors(adev);
	return kvio_assign_enable(adev, hdr.type, hdr.count, vecs);
}
