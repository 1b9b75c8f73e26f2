/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kvio-assign tests (assign_*.c): finding QEMU's edu
 * device, handing it to kvio_assign, the uAPI calls, edu's registers, the
 * pinned-page counters and the kernel log.
 */
#ifndef _KVIO_ASSIGN_LIB_H
#define _KVIO_ASSIGN_LIB_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvio_assign.h>

#include "kvio_harness.h"	/* kvio_read_long() */

#define ASSIGN_CTL	"/dev/kvio-assign"
#define PCI_DEVS	"/sys/bus/pci/devices"

/* QEMU's edu device (hw/misc/edu.c, docs/specs/edu.rst). */
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_IDENT	0x00
#define EDU_LIVE	0x04
#define EDU_FACT	0x08
#define EDU_STATUS	0x20
#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_RAISE	0x60
#define EDU_IRQ_ACK	0x64
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_START	0x1
#define EDU_DMA_TO_RAM	0x2
#define EDU_DMA_IRQ	0x4
#define EDU_BUF		0x40000		/* edu's 4 KiB buffer, device side */
#define EDU_BAR_SIZE	0x100000

struct edu_addr {
	unsigned int seg, bus, dev, fn;
	char name[16];			/* "0000:00:03.0" */
};

static inline int bdf_parse(const char *s, struct edu_addr *a)
{
	if (sscanf(s, "%x:%x:%x.%x", &a->seg, &a->bus, &a->dev, &a->fn) != 4)
		return -1;
	snprintf(a->name, sizeof(a->name), "%04x:%02x:%02x.%x",
		 a->seg, a->bus, a->dev, a->fn);
	return 0;
}

static inline long sysfs_long(const char *dev, const char *attr)
{
	char path[256];

	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/%s", dev, attr);
	return kvio_read_long(path);
}

/* Number of devices in @dev's IOMMU group; -1 without a group. */
static inline int group_size(const char *dev)
{
	char path[256];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/iommu_group/devices", dev);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* @dev's IOMMU group number; -1 without a group. */
static inline long group_id(const char *dev)
{
	char path[256], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/iommu_group", dev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = 0;
	return strtol(strrchr(link, '/') + 1, NULL, 10);
}

/*
 * The @nth edu device (in sysfs order) whose IOMMU group holds exactly
 * @gsize devices (any group, or none, when @gsize is 0).
 */
static inline int find_edu(struct edu_addr *a, int gsize, int nth)
{
	struct dirent *e;
	int found = -1;
	DIR *d;

	d = opendir(PCI_DEVS);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (sysfs_long(e->d_name, "vendor") != EDU_VENDOR ||
		    sysfs_long(e->d_name, "device") != EDU_DEVICE)
			continue;
		if (gsize && group_size(e->d_name) != gsize)
			continue;
		if (nth-- == 0 && !bdf_parse(e->d_name, a)) {
			found = 0;
			break;
		}
	}
	closedir(d);
	return found;
}

static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* The name of the driver bound to @dev, "" for none. */
static inline void driver_of(const char *dev, char *drv, size_t len)
{
	char path[256], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/driver", dev);
	n = readlink(path, link, sizeof(link) - 1);
	drv[0] = 0;
	if (n <= 0)
		return;
	link[n] = 0;
	snprintf(drv, len, "%s", strrchr(link, '/') + 1);
}

/* Hand @dev to kvio_assign the way tools/kvio-assign does; 0 if bound. */
static inline int assign_bind(const char *dev)
{
	char path[256], drv[64];

	driver_of(dev, drv, sizeof(drv));
	if (!strcmp(drv, "kvio_assign"))
		return 0;
	if (drv[0]) {
		snprintf(path, sizeof(path), PCI_DEVS "/%.64s/driver/unbind", dev);
		write_file(path, dev);
	}
	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/driver_override", dev);
	if (write_file(path, "kvio_assign"))
		return -1;
	write_file("/sys/bus/pci/drivers_probe", dev);
	driver_of(dev, drv, sizeof(drv));
	return strcmp(drv, "kvio_assign") ? -1 : 0;
}

static inline void assign_unbind(const char *dev)
{
	char path[256];

	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/driver/unbind", dev);
	write_file(path, dev);
	snprintf(path, sizeof(path), PCI_DEVS "/%.64s/driver_override", dev);
	write_file(path, "\n");
}

/* Open a device fd; -errno on failure. */
static inline int assign_open(const struct edu_addr *a)
{
	struct kvio_assign_open op = {
		.argsz = sizeof(op),
		.segment = a->seg,
		.bus = a->bus,
		.devfn = (a->dev << 3) | a->fn,
	};
	int ctl, fd;

	ctl = open(ASSIGN_CTL, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	fd = ioctl(ctl, KVIO_ASSIGN_OPEN, &op);
	if (fd < 0)
		fd = -errno;
	close(ctl);
	return fd;
}

/* ioctl() returning -errno. */
static inline int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int cfg_rw(int fd, int write, __u32 off, __u32 size,
			 __u32 *val)
{
	struct kvio_assign_config c = {
		.argsz = sizeof(c),
		.flags = write ? KVIO_ASSIGN_CONFIG_WRITE : 0,
		.offset = off,
		.size = size,
		.value = write ? *val : 0,
	};
	int ret = xioctl(fd, KVIO_ASSIGN_CONFIG, &c);

	if (!ret && !write)
		*val = c.value;
	return ret;
}

static inline __u32 cfg_read(int fd, __u32 off, __u32 size)
{
	__u32 v = 0xdeadbeef;

	cfg_rw(fd, 0, off, size, &v);
	return v;
}

static inline int cfg_write(int fd, __u32 off, __u32 size, __u32 v)
{
	return cfg_rw(fd, 1, off, size, &v);
}

/* Memory decoding and bus mastering: edu's DMA and MSI need the latter. */
static inline int enable_master(int fd)
{
	return cfg_write(fd, 0x04, 2, cfg_read(fd, 0x04, 2) | 0x6);
}

static inline int dma_map(int fd, void *vaddr, __u64 iova, __u64 size,
			  __u32 flags)
{
	struct kvio_assign_dma_map m = {
		.argsz = sizeof(m),
		.flags = flags,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return xioctl(fd, KVIO_ASSIGN_DMA_MAP, &m);
}

static inline int dma_unmap(int fd, __u64 iova, __u64 size)
{
	struct kvio_assign_dma_map m = {
		.argsz = sizeof(m),
		.iova = iova,
		.size = size,
	};

	return xioctl(fd, KVIO_ASSIGN_DMA_UNMAP, &m);
}

/* Route @count vectors of @type to @fds (count 0: disable). */
static inline int set_irqs(int fd, __u32 type, __u32 count,
			   const int *fds)
{
	struct {
		struct kvio_assign_irq_set s;
		__s32 fds[8];
	} a = { .s = { .argsz = sizeof(a.s) + count * sizeof(__s32),
		       .type = type, .count = count } };
	__u32 i;

	for (i = 0; i < count && i < 8; i++)
		a.fds[i] = fds[i];
	return xioctl(fd, KVIO_ASSIGN_SET_IRQS, &a);
}

static inline __u32 *map_bar0(int fd)
{
	void *p = mmap(NULL, EDU_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, (off_t)KVIO_ASSIGN_REGION_BAR0 << 40);

	return p == MAP_FAILED ? NULL : p;
}

/* MMIO: atomic accesses are never merged, split or elided. */
static inline __u32 edu_rd(__u32 *bar, __u32 reg)
{
	return __atomic_load_n(&bar[reg / 4], __ATOMIC_SEQ_CST);
}

static inline void edu_wr(__u32 *bar, __u32 reg, __u32 v)
{
	__atomic_store_n(&bar[reg / 4], v, __ATOMIC_SEQ_CST);
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait for edu's DMA engine to go idle; 0, or -1 after 5 s. */
static inline int edu_dma_wait(__u32 *bar)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (!(edu_rd(bar, EDU_DMA_CMD) & EDU_DMA_START))
			return 0;
		sleep_ms(10);
	}
	return -1;
}

/* One edu DMA: @to_ram selects edu -> RAM; waits for the end. */
static inline int edu_dma(__u32 *bar, __u32 src, __u32 dst,
			  __u32 cnt, int to_ram, int irq)
{
	/* A 32-bit write sets the whole 64-bit register (zero-extended). */
	edu_wr(bar, EDU_DMA_SRC, src);
	edu_wr(bar, EDU_DMA_DST, dst);
	edu_wr(bar, EDU_DMA_CNT, cnt);
	edu_wr(bar, EDU_DMA_CMD, EDU_DMA_START |
	       (to_ram ? EDU_DMA_TO_RAM : 0) | (irq ? EDU_DMA_IRQ : 0));
	return edu_dma_wait(bar);
}

/*
 * The same with 64-bit DMA addresses, set by 8-byte stores (edu takes a
 * 4-byte write at 0x84 for nothing): for an edu whose dma_mask lets it
 * reach them.
 */
static inline int edu_dma64(__u32 *bar, __u64 src, __u64 dst,
			    __u32 cnt, int to_ram)
{
	__atomic_store_n((__u64 *)(bar + EDU_DMA_SRC / 4), src,
			 __ATOMIC_SEQ_CST);
	__atomic_store_n((__u64 *)(bar + EDU_DMA_DST / 4), dst,
			 __ATOMIC_SEQ_CST);
	edu_wr(bar, EDU_DMA_CNT, cnt);
	edu_wr(bar, EDU_DMA_CMD, EDU_DMA_START |
	       (to_ram ? EDU_DMA_TO_RAM : 0));
	return edu_dma_wait(bar);
}

/* Read an eventfd within @ms; its count, or 0 on timeout. */
static inline __u64 efd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	__u64 v = 0;

	if (poll(&p, 1, ms) != 1 || read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* The pinned-page counters: this process's VmLck, and the system's pins. */
struct pin_count {
	long vmlck_kb;
	long long pins;		/* nr_foll_pin_acquired - _released */
};

static inline long long vmstat_get(const char *name)
{
	char key[64];
	long long v, found = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

static inline void pin_count_read(struct pin_count *pc)
{
	char line[256];
	FILE *f;

	/* Fold the per-CPU counter deltas first, or they lag. */
	write_file("/proc/sys/vm/stat_refresh", "1");
	pc->pins = vmstat_get("nr_foll_pin_acquired") -
		   vmstat_get("nr_foll_pin_released");
	pc->vmlck_kb = -1;
	f = fopen("/proc/self/status", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "VmLck: %ld kB", &pc->vmlck_kb);
	fclose(f);
}

/* /dev/kmsg positioned at its end: what the kernel logs from now on. */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Wait up to @ms for a kernel log record containing all of @a and @b
 * (@b may be NULL); 1 if one came.
 */
static inline int kmsg_find(int fd, const char *a, const char *b, int ms)
{
	char rec[1024];
	ssize_t n;
	int waited = 0;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n > 0) {
			rec[n] = 0;
			if (strstr(rec, a) && (!b || strstr(rec, b)))
				return 1;
			continue;
		}
		if (n < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (waited >= ms)
			return 0;
		sleep_ms(20);
		waited += 20;
	}
}

#endif /* _KVIO_ASSIGN_LIB_H */
