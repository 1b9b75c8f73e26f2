/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvio-assign: hand one PCI device to a VMM.
 *
 * /dev/kvio-assign takes one ioctl, KVIO_ASSIGN_OPEN, which names a device
 * bound to the kvio_assign driver and returns a new fd for it: the device
 * fd.  Every other ioctl here is on a device fd.  A device has one owner at
 * a time, and so does its IOMMU group: the device fd owns the group's DMA
 * (one IOMMU domain for the whole group).  Closing the fd (or the death of
 * the process) releases everything: DMA maps, pinned pages, interrupts.
 *
 * Every struct starts with argsz (the size userspace passes, so that the
 * struct can grow at its end) and flags (unknown bits are refused with
 * EINVAL).  An argsz below the first version's size is EINVAL; one beyond
 * what the kernel knows is accepted if the unknown bytes are zero, E2BIG
 * otherwise.  All fields have explicit sizes and the structs have no implicit
 * padding, so 32- and 64-bit userspace share one layout.
 */
#ifndef _UAPI_LINUX_KVIO_ASSIGN_H
#define _UAPI_LINUX_KVIO_ASSIGN_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KVIO_ASSIGN_TYPE	0xB7

/**
 * struct kvio_assign_open - argument of KVIO_ASSIGN_OPEN
 * @argsz: sizeof(struct kvio_assign_open)
 * @flags: none defined, must be 0
 * @segment: PCI segment (domain); 32 bits, as Linux numbers them
 * @bus: PCI bus number
 * @devfn: PCI device and function, (slot << 3) | function
 * @pad: 0 (EINVAL otherwise)
 *
 * Returns a new device fd (O_CLOEXEC).  Errors: ENODEV no such PCI
 * device; ENXIO the device is not bound to kvio_assign; EBUSY the device
 * or its IOMMU group is already open; EPERM another device of its IOMMU
 * group is not bound to kvio_assign (nor an idle bridge), the platform
 * does not isolate the device's MSIs (no interrupt remapping), or its
 * IOMMU cannot keep the device's DMA cache coherent (no IOMMU_CACHE, or
 * no-snoop not blocked) and the module parameter allow_noncoherent is 0.
 */
struct kvio_assign_open {
	__u32 argsz;
	__u32 flags;
	__u32 segment;
	__u8 bus;
	__u8 devfn;
	__u16 pad;
};

#define KVIO_ASSIGN_OPEN	_IOW(KVIO_ASSIGN_TYPE, 0x00, struct kvio_assign_open)

/* Region indexes: the six BARs, then config space. */
#define KVIO_ASSIGN_REGION_BAR0		0
#define KVIO_ASSIGN_REGION_BAR5		5
#define KVIO_ASSIGN_REGION_CONFIG	6
#define KVIO_ASSIGN_NUM_REGIONS		7

/* Interrupt types, for KVIO_ASSIGN_SET_IRQS and the counts in the info. */
#define KVIO_ASSIGN_IRQ_INTX	0
#define KVIO_ASSIGN_IRQ_MSI	1
#define KVIO_ASSIGN_IRQ_MSIX	2
#define KVIO_ASSIGN_NUM_IRQ_TYPES	3

#define KVIO_ASSIGN_INFO_RESET	0x01U	/* the device has a reset method */

/**
 * struct kvio_assign_info - argument of KVIO_ASSIGN_GET_INFO
 * @argsz: sizeof(struct kvio_assign_info), set by userspace; the kernel
 *	sets it to the size it knows
 * @flags: KVIO_ASSIGN_INFO_*, set by the kernel
 * @vendor: PCI vendor ID
 * @device: PCI device ID
 * @subsystem_vendor: PCI subsystem vendor ID
 * @subsystem_device: PCI subsystem ID
 * @iommu_group: the IOMMU group's number (/sys/kernel/iommu_groups/N)
 * @num_regions: KVIO_ASSIGN_NUM_REGIONS
 * @num_irqs: vectors per KVIO_ASSIGN_IRQ_* type: INTx 0 or 1, MSI 0..32,
 *	MSI-X 0..2048
 * @config_size: bytes of config space (256 or 4096)
 */
struct kvio_assign_info {
	__u32 argsz;
	__u32 flags;
	__u16 vendor;
	__u16 device;
	__u16 subsystem_vendor;
	__u16 subsystem_device;
	__u32 iommu_group;
	__u32 num_regions;
	__u32 num_irqs[KVIO_ASSIGN_NUM_IRQ_TYPES];
	__u32 config_size;
};

#define KVIO_ASSIGN_GET_INFO	_IOR(KVIO_ASSIGN_TYPE, 0x01, struct kvio_assign_info)

#define KVIO_ASSIGN_REGION_MMAP		0x01U	/* mmap it at @offset */
#define KVIO_ASSIGN_REGION_IO		0x02U	/* an I/O port BAR */
#define KVIO_ASSIGN_REGION_64BIT	0x04U	/* a 64-bit memory BAR */
#define KVIO_ASSIGN_REGION_PREFETCH	0x08U	/* prefetchable */

/**
 * struct kvio_assign_region - argument of KVIO_ASSIGN_GET_REGION
 * @argsz: sizeof(struct kvio_assign_region); the kernel sets it to the
 *	size it knows, as for KVIO_ASSIGN_GET_INFO
 * @flags: KVIO_ASSIGN_REGION_*, set by the kernel (ignored on input)
 * @index: KVIO_ASSIGN_REGION_*, set by userspace
 * @pad: 0
 * @size: bytes; 0 for an unused BAR (or the upper half of a 64-bit one)
 * @offset: mmap offset of the region on the device fd, if it has
 *	KVIO_ASSIGN_REGION_MMAP (page-aligned memory BARs only)
 */
struct kvio_assign_region {
	__u32 argsz;
	__u32 flags;
	__u32 index;
	__u32 pad;
	__u64 size;
	__u64 offset;
};

#define KVIO_ASSIGN_GET_REGION	_IOWR(KVIO_ASSIGN_TYPE, 0x02, struct kvio_assign_region)

#define KVIO_ASSIGN_CONFIG_WRITE	0x01U

/**
 * struct kvio_assign_config - argument of KVIO_ASSIGN_CONFIG
 * @argsz: sizeof(struct kvio_assign_config)
 * @flags: KVIO_ASSIGN_CONFIG_WRITE, or 0 to read
 * @offset: config space offset, aligned to @size
 * @size: 1, 2 or 4
 * @value: written from, or read into, the low @size bytes
 *
 * Config space as the VMM sees it.  In the 64-byte standard header: the
 * six BARs are virtual (writes set a virtual copy whose bits below the
 * BAR's size are read-only, so reading after a sizing write of all ones
 * returns the size mask as hardware would); the expansion ROM BAR always
 * reads 0 (no ROM is offered); in the command register the I/O and memory
 * decode bits are virtual (the device keeps decoding while it is open)
 * and bus master goes to the device, from any 1, 2 or 4 byte write at
 * 0x04; the interrupt line is virtual; cache line size and latency timer
 * go to the device; writes to every other header field are dropped.
 * Past the header (capabilities, extended config space) everything can be
 * read and nothing written: writes fail with EPERM and change nothing
 * (the kernel programs MSI and MSI-X, see KVIO_ASSIGN_SET_IRQS).  EINVAL:
 * bad flags, pad, size or alignment, or @offset beyond config space.
 */
struct kvio_assign_config {
	__u32 argsz;
	__u32 flags;
	__u32 offset;
	__u32 size;
	__u32 value;
	__u32 pad;
};

#define KVIO_ASSIGN_CONFIG	_IOWR(KVIO_ASSIGN_TYPE, 0x03, struct kvio_assign_config)

#define KVIO_ASSIGN_DMA_READ	0x01U	/* the device may read */
#define KVIO_ASSIGN_DMA_WRITE	0x02U	/* the device may write */

/* At most this many DMA maps per device fd, of at most this size each. */
#define KVIO_ASSIGN_DMA_MAX_MAPS	65535U
#define KVIO_ASSIGN_DMA_MAX_SIZE	0x1000000000ULL	/* 64 GiB */

/**
 * struct kvio_assign_dma_map - argument of KVIO_ASSIGN_DMA_MAP and _UNMAP
 * @argsz: sizeof(struct kvio_assign_dma_map)
 * @flags: KVIO_ASSIGN_DMA_* (map); 0 (unmap)
 * @vaddr: page-aligned user address (map); 0 (unmap)
 * @iova: page-aligned device address
 * @size: page-aligned, non-zero
 *
 * DMA_MAP pins the pages (charged to RLIMIT_MEMLOCK, as locked_vm) and maps
 * them at @iova in the group's IOMMU domain.  Errors: EINVAL bad flags,
 * misaligned, zero, wrapping, outside the IOMMU's aperture, or overlapping
 * a reserved IOVA region of the group (those of
 * /sys/kernel/iommu_groups/N/reserved_regions except "direct-relaxable":
 * on x86 the MSI window 0xfee00000-0xfeefffff and the RMRRs); EEXIST
 * overlaps an existing map; EFAULT some page is not mapped in the process
 * (or is read-only and the device may write); ENOMEM over RLIMIT_MEMLOCK,
 * larger than KVIO_ASSIGN_DMA_MAX_SIZE or than the machine's RAM, or out
 * of memory; ENOSPC already KVIO_ASSIGN_DMA_MAX_MAPS maps; EPERM the
 * calling process is not the one that opened the device (it is charged
 * for the pins); ESRCH that process's address space is gone; EINTR a
 * fatal signal came while mapping (nothing stays mapped); E2BIG argsz
 * beyond this struct with non-zero bytes there.  A guest RAM larger than
 * KVIO_ASSIGN_DMA_MAX_SIZE is mapped in several maps.  DMA_UNMAP removes
 * exactly one earlier map, named by @iova and @size (ENOENT otherwise).
 */
struct kvio_assign_dma_map {
	__u32 argsz;
	__u32 flags;
	__u64 vaddr;
	__u64 iova;
	__u64 size;
};

#define KVIO_ASSIGN_DMA_MAP	_IOW(KVIO_ASSIGN_TYPE, 0x04, struct kvio_assign_dma_map)
#define KVIO_ASSIGN_DMA_UNMAP	_IOW(KVIO_ASSIGN_TYPE, 0x05, struct kvio_assign_dma_map)

/**
 * struct kvio_assign_irq_set - argument of KVIO_ASSIGN_SET_IRQS
 * @argsz: sizeof(struct kvio_assign_irq_set) + @count * sizeof(__s32); any
 *	bytes beyond that must be 0 (E2BIG otherwise)
 * @flags: none defined, must be 0
 * @type: KVIO_ASSIGN_IRQ_*
 * @count: vectors to enable, 1..num_irqs[@type]; 0 disables the type
 * @fds: one eventfd per vector, signalled on each interrupt
 *
 * One type at a time: enabling a type while another is enabled fails with
 * EBUSY, enabling one already enabled replaces it.  EINVAL: the device has
 * fewer vectors of that type than @count (e.g. no MSI-X at all), or an fd
 * is not an eventfd; EBADF: an fd is not open.  Those errors leave the
 * vectors enabled before untouched; an error from enabling the new ones
 * (ENOMEM, ENOSPC ...) leaves the type disabled.  MSI and
 * MSI-X vectors are also offered to KVM as irq-bypass producers (the
 * eventfd is the token), so that it can post them.  INTx is level
 * triggered: the kernel masks it when it fires, KVIO_ASSIGN_IRQ_UNMASK
 * unmasks it once the VMM has serviced it.
 */
struct kvio_assign_irq_set {
	__u32 argsz;
	__u32 flags;
	__u32 type;
	__u32 count;
	__s32 fds[];
};

#define KVIO_ASSIGN_SET_IRQS	_IOW(KVIO_ASSIGN_TYPE, 0x06, struct kvio_assign_irq_set)

/* Unmask INTx after it fired (EINVAL if INTx is not enabled). */
#define KVIO_ASSIGN_IRQ_UNMASK	_IO(KVIO_ASSIGN_TYPE, 0x07)

/*
 * Reset the device (FLR or whatever pci_reset_function() finds); ENOTTY if
 * it has no reset method, EBUSY while any of its BARs is mmapped (unmap
 * them first: the device does not decode during a reset), EAGAIN if the
 * device is busy.
 */
#define KVIO_ASSIGN_RESET	_IO(KVIO_ASSIGN_TYPE, 0x08)

#endif /* _UAPI_LINUX_KVIO_ASSIGN_H */
