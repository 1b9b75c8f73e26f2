// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the VMM's side.  Every vhost ioctl with arguments from the
 * boundary tables and fds of every kind, memory tables of many shapes,
 * IOTLB messages, and the prologue that sets a device up the way QEMU
 * does.  What the driver believes (features, memory table, ring layout)
 * follows only what the runner thread did and the device accepted: a
 * helper thread's changes happen behind the driver's back, as a racing
 * VMM's would.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "fz.h"

#define FZ_REGION_SPLIT	(FZ_MEM / 2)

static const unsigned int fz_idx_tab[8] = {
	0, 1, 0, 1, 2, 3, 0x7fffffff, 0xffffffff,
};

static unsigned int fz_idx(__u8 sel)
{
	return fz_idx_tab[sel % 8];
}

int fz_dev_open(struct fz_exec *x, struct fz_dev *d, int flags)
{
	int fd = open(x->c.path, O_RDWR | O_CLOEXEC | flags);

	if (fd < 0)
		return -1;
	if (fz_in_helper())
		return fd;
	__atomic_store_n(&d->fd, fd, __ATOMIC_RELEASE);
	d->features = 0;
	d->worker_id = -1;
	return fd;
}

/* Closes the device fd; a close that takes too long is a finding. */
void fz_dev_close(struct fz_exec *x, struct fz_dev *d)
{
	int fd = __atomic_exchange_n(&d->fd, -1, __ATOMIC_ACQ_REL);
	long t0 = ndp_now_ms(), t;

	if (fd < 0)
		return;
	close(fd);
	t = ndp_now_ms() - t0;
	if (t > x->t_close_max)
		x->t_close_max = t;
}

static void fz_table_region(struct vhost_memory *m, unsigned int i,
			    __u64 gpa, __u64 size, __u64 uaddr)
{
	kvio_region(m, i, gpa, size, uaddr);
}

/* Regions of @n equal pieces of guest memory, GPA and host contiguous. */
static void fz_table_pieces(struct vhost_memory *m, struct fz_dev *d,
			    unsigned int n)
{
	unsigned long sz = FZ_MEM / 64, i;

	for (i = 0; i < n; i++)
		fz_table_region(m, i, FZ_GPA + i * sz, sz,
				(unsigned long)d->mem + i * sz);
}

/* The memory table of shape @layout: good ones first, then hostile. */
static struct vhost_memory *fz_layout(struct fz_exec *x, struct fz_dev *d,
				      __u8 layout, __u32 p)
{
	static const unsigned char nreg[16] = {
		1, 2, 2, 64, 65, 1, 2, 2, 2, 2, 2, 2, 0, 1, 1, 1,
	};
	unsigned long mem = (unsigned long)d->mem;
	unsigned int l = layout % 16;
	struct vhost_memory *m;

	m = kvio_memtab(&x->c, l == 4 ? 65 + p % 4 : nreg[l]);
	if (m->nregions >= 1)
		fz_table_region(m, 0, FZ_GPA, FZ_MEM, mem);
	switch (l) {
	case 1:
	case 2:
		fz_table_region(m, 0, FZ_GPA, FZ_REGION_SPLIT,
				mem + (l == 2 ? FZ_REGION_SPLIT : 0));
		fz_table_region(m, 1, FZ_GPA + FZ_REGION_SPLIT, FZ_REGION_SPLIT,
				mem + (l == 2 ? 0 : FZ_REGION_SPLIT));
		break;
	case 3:
	case 4:
		fz_table_pieces(m, d, m->nregions);
		break;
	case 5:
		m->regions[0].memory_size = FZ_REGION_SPLIT;
		break;
	case 6:
	case 7:
	case 8:
		fz_table_region(m, 1, FZ_GPA + FZ_MEM, 0x40000,
				l == 6 ? (unsigned long)kvio_hole(&x->c) :
				l == 7 ? KVIO_KERNEL_ADDR :
				(unsigned long)kvio_ro_page(&x->c));
		break;
	case 9:
		fz_table_region(m, 1, FZ_GPA + p % FZ_MEM, 0x100000, mem);
		break;
	case 10:
		fz_table_region(m, 1, FZ_GPA + FZ_MEM, 0, mem);
		break;
	case 11:
		fz_table_region(m, 1, ~0ULL - 0xfff - p % 4, 0x2000, mem);
		break;
	case 13:
		fz_table_region(m, 0, FZ_GPA + 1, FZ_MEM - 3, mem + 1);
		break;
	case 14:
		m->regions[0].memory_size = FZ_RESERVE;
		break;
	case 15:
		fz_table_region(m, 0, 0, FZ_MEM, mem);
		break;
	}
	return m;
}

/* VHOST_SET_MEM_TABLE; the driver follows the table the device took. */
void fz_memtab_set(struct fz_exec *x, struct fz_dev *d, __u8 layout,
		   __u32 param)
{
	struct vhost_memory *m = fz_layout(x, d, layout, param);

	if (fz_ioctl(x, d, "mem", VHOST_SET_MEM_TABLE, m) || fz_in_helper()) {
		free(m);
		return;
	}
	free(d->tab);
	d->tab = m;
}

void fz_vring_addr(struct fz_exec *x, struct fz_dev *d, unsigned int idx,
		   const struct vhost_vring_addr *a)
{
	struct vhost_vring_addr copy = *a;

	if (fz_ioctl(x, d, "addr", VHOST_SET_VRING_ADDR, &copy) ||
	    fz_in_helper() || idx > 1)
		return;
	d->q[idx].desc = a->desc_user_addr;
	d->q[idx].avail = a->avail_user_addr;
	d->q[idx].used = a->used_user_addr;
}

/* The layout a good VMM gives queue @idx: its own megabyte. */
static void fz_default_addr(struct fz_dev *d, unsigned int idx,
			    struct vhost_vring_addr *a)
{
	unsigned long base = (unsigned long)d->mem + FZ_RING_OFF(idx & 1);

	if (d->q[idx & 1].pvq_on) {
		vq_addr(&d->q[idx & 1].pvq, idx, a);
		return;
	}
	memset(a, 0, sizeof(*a));
	a->index = idx;
	a->desc_user_addr = base;
	a->avail_user_addr = base + FZ_AVAIL_OFF;
	a->used_user_addr = base + FZ_USED_OFF;
	a->log_guest_addr = FZ_GPA + FZ_RING_OFF(idx & 1) + FZ_USED_OFF;
}

static long fz_state(struct fz_exec *x, struct fz_dev *d, const char *label,
		     unsigned long req, unsigned int idx, unsigned int num)
{
	struct vhost_vring_state s = { .index = idx, .num = num };

	return fz_ioctl(x, d, label, req, &s);
}

static long fz_file(struct fz_exec *x, struct fz_dev *d, const char *label,
		    unsigned long req, unsigned int idx, int fd)
{
	struct vhost_vring_file f = { .index = idx, .fd = fd };

	return fz_ioctl(x, d, label, req, &f);
}

static int fz_set_features(struct fz_exec *x, struct fz_dev *d, __u64 f)
{
	if (fz_ioctl(x, d, "features", VHOST_SET_FEATURES, &f))
		return -1;
	if (!fz_in_helper())
		d->features = f;
	return 0;
}

/* Prologue */

static int fz_pro_ring(struct fz_exec *x, struct fz_dev *d, unsigned int i,
		       unsigned int num, __u16 base, int busy)
{
	struct vhost_vring_addr a;
	int err = 0;

	err |= !!fz_state(x, d, "num", VHOST_SET_VRING_NUM, i, num);
	err |= !!fz_state(x, d, "base", VHOST_SET_VRING_BASE, i, base);
	if (busy)
		err |= !!fz_state(x, d, "busyloop",
				  VHOST_SET_VRING_BUSYLOOP_TIMEOUT, i, 20);
	fz_default_addr(d, i, &a);
	fz_vring_addr(x, d, i, &a);
	/* as a previous device would have left it: both indices at base */
	fz_ring_reset(d, &d->q[i], num, base);
	/* packed: lib/vq.c lays the ring out anew, and drives it */
	if (d->features & BIT_ULL(VIRTIO_F_RING_PACKED)) {
		err |= fz_packed_init(d, i, num, base, &a);
		fz_vring_addr(x, d, i, &a);
	}
	return err || d->q[i].desc != a.desc_user_addr;
}

static int fz_pro_files(struct fz_exec *x, struct fz_dev *d, unsigned int i)
{
	struct fz_ring *q = &d->q[i];
	int err = 0;

	q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err |= !!fz_file(x, d, "kick", VHOST_SET_VRING_KICK, i, q->kick);
	err |= !!fz_file(x, d, "call", VHOST_SET_VRING_CALL, i, q->call);
	err |= !!fz_file(x, d, "err", VHOST_SET_VRING_ERR, i, q->err);
	return err;
}

/* QEMU's migration start: the log, VHOST_F_LOG_ALL, the rings logged. */
static int fz_pro_log(struct fz_exec *x, struct fz_dev *d)
{
	__u64 base = (unsigned long)d->mem + FZ_LOG_OFF;
	struct vhost_vring_addr a;
	int fd, err = 0, i;

	/* the bitmap sits in the reserve: make its page writable */
	d->mprot = 1;
	if (mprotect(d->mem + FZ_LOG_OFF, 4096, PROT_READ | PROT_WRITE))
		return -1;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err |= !!fz_ioctl(x, d, "log_base", VHOST_SET_LOG_BASE, &base);
	err |= !!fz_ioctl(x, d, "log_fd", VHOST_SET_LOG_FD, &fd);
	err |= fz_set_features(x, d, d->features | 1ULL << VHOST_F_LOG_ALL);
	for (i = 0; i < 2; i++) {
		fz_default_addr(d, i, &a);
		a.flags = 1 << VHOST_VRING_F_LOG;
		fz_vring_addr(x, d, i, &a);
	}
	return err;
}

static const int fz_pro_backends[4] = {
	FZ_P_TAP, FZ_P_TAP2, FZ_P_MACVTAP, FZ_P_PACKET,
};

/* One device set up to @level, as the header @h says. */
static int fz_pro_dev(struct fz_exec *x, struct fz_dev *d, const __u8 *h,
		      unsigned int level)
{
	static const __u16 bases[8] = { 0, 0xfff0, 0x8000, 0xffff };
	unsigned int num = fz_num_tab[h[2] % 8], i;
	int err = 0, be = x->pfd[fz_pro_backends[h[3] % 4]];

	if (fz_dev_open(x, d, 0) < 0)
		return -1;
	err |= !!fz_ioctl(x, d, "owner", VHOST_SET_OWNER, NULL);
	if (level < 2)
		return err;
	if (fz_h_iotlb(h[1])) {
		__u64 v2 = 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2;

		err |= !!fz_ioctl(x, d, "set_bfeatures",
				  VHOST_SET_BACKEND_FEATURES, &v2);
	}
	err |= fz_set_features(x, d, fz_hdr_features(h));
	fz_memtab_set(x, d, h[4] % 4, 0);
	err |= !d->tab;
	if (fz_h_iotlb(h[1]))
		err |= fz_iotlb_map_all(x, d, VHOST_ACCESS_RW);
	for (i = 0; i < 2; i++)
		err |= fz_pro_ring(x, d, i, num, bases[h[5] % 8], h[0] & 8);
	if (level < 3)
		return err;
	for (i = 0; i < 2; i++)
		err |= fz_pro_files(x, d, i);
	if (h[0] & 0x10)
		err |= fz_pro_log(x, d);
	for (i = 0; i < 2; i++)
		err |= !!fz_file(x, d, "backend", VHOST_NET_SET_BACKEND, i, be);
	return err;
}

/*
 * The header: h[0] bits 0-1 the level (0 nothing, 1 owned, 2 rings set
 * up, 3 running with a backend), bit 2 the second device too, bit 3 busy
 * polling, bit 4 the dirty log, bits 5-7 the ring format (fz.h); h[1]
 * the features, h[2] the ring size, h[3] the backend, h[4] the memory
 * table, h[5] the rings' first index.
 * Returns whether the rings start well-formed (level 3, all accepted).
 */
int fz_prologue(struct fz_exec *x, const __u8 *h)
{
	unsigned int level = h[0] & 3, n = h[0] & 4 ? 2 : 1, i;
	__u64 f = fz_hdr_features(h);
	int err = 0;

	x->header_len = f & ((1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			     (1ULL << VIRTIO_F_VERSION_1)) ? 12 : 10;
	if (!level)
		return 0;
	for (i = 0; i < n; i++)
		err |= fz_pro_dev(x, &x->dev[i], h, level);
	/*
	 * The well-behaved driver of split rings (fz_driver.c) uses its
	 * descriptors in any order: with IN_ORDER on split rings its chains
	 * are input like any other, and a ring that stops is no finding.
	 * Packed rings, in order or not, get lib/vq.c's driver.
	 */
	return level == 3 && !err &&
	       (fz_h_packed(h[0]) || !fz_h_in_order(h[0]));
}

/* The operations */

void fz_op_open(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);

	if (!fz_in_helper())
		fz_dev_close(x, d);
	fz_dev_open(x, d, a[1] & 1 ? O_NONBLOCK : 0);
}

void fz_op_close(struct fz_exec *x, const __u8 *a)
{
	fz_dev_close(x, fz_devsel(x, a[0]));
}

/* The fd passed on: a dup replaces it, the original closed or kept. */
void fz_op_dup(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	int fd = __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE), nfd;

	if (fd < 0 || fz_in_helper())
		return;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, x->first_input_fd);
	if (nfd < 0)
		return;
	__atomic_store_n(&d->fd, nfd, __ATOMIC_RELEASE);
	if (a[1] & 1)
		close(fd);
}

/* An ioctl from a child process: a process that is not the owner. */
static void fz_in_child(struct fz_dev *d, unsigned long req)
{
	int fd = __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE), st;
	pid_t pid = fork();

	if (pid < 0)
		return;
	if (!pid) {
		ioctl(fd, req, NULL);
		_exit(0);
	}
	waitpid(pid, &st, 0);
}

void fz_op_owner(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);

	switch (a[1] % 8) {
	case 0:
	case 1:
	case 2:
		fz_ioctl(x, d, "owner", VHOST_SET_OWNER, NULL);
		break;
	case 3:
	case 4:
		fz_ioctl(x, d, "reset_owner", VHOST_RESET_OWNER, NULL);
		break;
	case 5:
		fz_in_child(d, VHOST_SET_OWNER);
		break;
	case 6:
		fz_in_child(d, VHOST_RESET_OWNER);
		break;
	default:
		fz_ioctl(x, d, "owner", VHOST_SET_OWNER, NULL);
		fz_ioctl(x, d, "reset_owner", VHOST_RESET_OWNER, NULL);
		break;
	}
}

void fz_op_features(struct fz_exec *x, const __u8 *a)
{
	static const __u64 bfeat[4] = { 0, 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2,
					 ~0ULL, 1ULL << 3 };
	struct fz_dev *d = fz_devsel(x, a[0]);
	__u64 v = 0;

	switch (a[1] % 4) {
	case 0:
		fz_ioctl(x, d, "get_features", VHOST_GET_FEATURES, &v);
		break;
	case 1:
		fz_set_features(x, d, fz_pick(fz_features_tab, fz_nfeatures,
					      a[2], fz_a64(a + 3)));
		break;
	case 2:
		fz_ioctl(x, d, "get_bfeatures", VHOST_GET_BACKEND_FEATURES, &v);
		break;
	default:
		v = fz_pick(bfeat, 4, a[2], fz_a64(a + 3));
		fz_ioctl(x, d, "set_bfeatures", VHOST_SET_BACKEND_FEATURES, &v);
		break;
	}
}

void fz_op_memtab(struct fz_exec *x, const __u8 *a)
{
	fz_memtab_set(x, fz_devsel(x, a[0]), a[1], fz_a32(a + 2));
}

void fz_op_log(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	__u64 base;
	int fd;

	if (a[1] & 1) {
		fd = fz_fd(x, d, a[2], -1);
		fz_ioctl(x, d, "log_fd", VHOST_SET_LOG_FD, &fd);
		return;
	}
	base = fz_uaddr(x, d, a[2], fz_a32(a + 3),
			(unsigned long)d->mem + FZ_LOG_OFF);
	if (base == (unsigned long)d->mem + FZ_LOG_OFF && !fz_in_helper()) {
		d->mprot = 1;
		mprotect(d->mem + FZ_LOG_OFF, 4096, PROT_READ | PROT_WRITE);
	}
	fz_ioctl(x, d, "log_base", VHOST_SET_LOG_BASE, &base);
}

void fz_op_vnum(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned int idx = fz_idx(a[1]);
	__u32 num = fz_pick(fz_num_tab, fz_nnum, a[2], fz_a32(a + 3));

	if (!fz_state(x, d, "num", VHOST_SET_VRING_NUM, idx, num) &&
	    !fz_in_helper() && idx < 2)
		d->q[idx].num = num;
	else if (!fz_in_helper() && idx < 2 && a[2] >= 0xf0)
		d->q[idx].num = num;	/* a driver that did not look */
}

void fz_op_vbase(struct fz_exec *x, const __u8 *a)
{
	/* split indices; packed: avail | wrap << 15 | (used | wrap << 15) << 16 */
	static const __u64 base[10] = {
		0, 1, 0xffff, 0x8000, 0x10000, 0xffffffff,
		0x80008000, 0x00008000, 0x7fff8000, 0x80000001,
	};
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned int idx = fz_idx(a[1]);
	struct vhost_vring_state s = { .index = idx };

	if (a[2] & 1) {
		fz_ioctl(x, d, "get_base", VHOST_GET_VRING_BASE, &s);
		return;
	}
	s.num = fz_pick(base, 10, a[3], fz_a16(a + 4));
	fz_ioctl(x, d, "set_base", VHOST_SET_VRING_BASE, &s);
}

void fz_op_vaddr(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned int idx = fz_idx(a[1]);
	__u32 off = fz_a32(a + 7);
	struct vhost_vring_addr r;

	fz_default_addr(d, idx, &r);
	r.desc_user_addr = fz_uaddr(x, d, a[2], off, r.desc_user_addr);
	r.avail_user_addr = fz_uaddr(x, d, a[3], off, r.avail_user_addr);
	r.used_user_addr = fz_uaddr(x, d, a[4], off, r.used_user_addr);
	if (a[5] % 4 == 1)
		r.log_guest_addr = fz_gpa(x, d, a[5] >> 2, off, r.log_guest_addr);
	r.flags = a[6] < 0x80 ? 0 : a[6] < 0xf0 ? 1 << VHOST_VRING_F_LOG : a[6];
	fz_vring_addr(x, d, idx, &r);
}

void fz_op_vfile(struct fz_exec *x, const __u8 *a)
{
	static const unsigned long req[3] = {
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
	};
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned int which = a[1] % 3, idx = fz_idx(a[2]);
	struct fz_ring *q = &d->q[idx & 1];
	int own = which == 0 ? q->kick : which == 1 ? q->call : q->err;
	int fd = fz_fd(x, d, a[3], own);

	if (fz_file(x, d, "file", req[which], idx, fd) || fz_in_helper() ||
	    idx > 1 || a[3] % 20 != 0)
		return;
	/* a new eventfd: the driver kicks and listens there from now on */
	if (which == 0)
		q->kick = fd;
	else if (which == 1)
		q->call = fd;
	else
		q->err = fd;
}

void fz_op_vmisc(struct fz_exec *x, const __u8 *a)
{
	static const __u64 val[6] = { 0, 1, 2, 50, 1000000, 0xffffffff };
	static const unsigned long req[4] = {
		VHOST_SET_VRING_ENDIAN, VHOST_GET_VRING_ENDIAN,
		VHOST_SET_VRING_BUSYLOOP_TIMEOUT, VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
	};
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned int which = a[1] % 4;
	__u32 v = fz_pick(val, 6, a[3], fz_a32(a + 4));

	/* a busy loop of seconds is the VMM's own choice: keep it short */
	if (which == 2 && v > 200)
		v = 200;
	fz_state(x, d, "vmisc", req[which], fz_idx(a[2]), v);
}

void fz_op_backend(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);

	fz_file(x, d, "backend", VHOST_NET_SET_BACKEND, fz_idx(a[1]),
		fz_fd(x, d, a[2], -1));
}

void fz_op_worker(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	struct vhost_worker_state w = { 0 };
	struct vhost_vring_worker vw = { .index = fz_idx(a[2]) };
	unsigned int ids[4] = { d->worker_id, 0, 1, 0xffffffff };
	__u8 mode = a[3] & 1;

	vw.worker_id = ids[a[3] % 4];
	w.worker_id = vw.worker_id;
	switch (a[1] % 6) {
	case 0:
		if (!fz_ioctl(x, d, "new_worker", VHOST_NEW_WORKER, &w) &&
		    !fz_in_helper())
			d->worker_id = w.worker_id;
		break;
	case 1:
		fz_ioctl(x, d, "free_worker", VHOST_FREE_WORKER, &w);
		break;
	case 2:
		fz_ioctl(x, d, "attach_worker", VHOST_ATTACH_VRING_WORKER, &vw);
		break;
	case 3:
		fz_ioctl(x, d, "get_worker", VHOST_GET_VRING_WORKER, &vw);
		break;
	case 4:
		fz_ioctl(x, d, "set_fork", VHOST_SET_FORK_FROM_OWNER, &mode);
		break;
	default:
		fz_ioctl(x, d, "get_fork", VHOST_GET_FORK_FROM_OWNER, &mode);
		break;
	}
}

/* Any ioctl, with an argument pointer of every kind. */
void fz_op_ioraw(struct fz_exec *x, const __u8 *a)
{
	static const unsigned long req[] = {
		VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER,
		VHOST_RESET_OWNER, VHOST_SET_MEM_TABLE, VHOST_SET_LOG_BASE,
		VHOST_SET_LOG_FD, VHOST_NEW_WORKER, VHOST_FREE_WORKER,
		VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE,
		VHOST_GET_VRING_BASE, VHOST_SET_VRING_ENDIAN,
		VHOST_GET_VRING_ENDIAN, VHOST_ATTACH_VRING_WORKER,
		VHOST_GET_VRING_WORKER, VHOST_SET_VRING_KICK,
		VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
		VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
		VHOST_GET_VRING_BUSYLOOP_TIMEOUT, VHOST_SET_BACKEND_FEATURES,
		VHOST_GET_BACKEND_FEATURES, VHOST_NET_SET_BACKEND,
		VHOST_SET_FORK_FROM_OWNER, VHOST_GET_FORK_FROM_OWNER,
		_IOW(VHOST_VIRTIO, 0x5f, __u32), _IO(VHOST_VIRTIO, 0xff),
		_IOWR(VHOST_VIRTIO, 0x30, char[4096]), VHOST_VDPA_GET_DEVICE_ID,
		VHOST_VSOCK_SET_GUEST_CID, FIONREAD, FIONBIO, FIOASYNC, 0,
	};
	struct fz_dev *d = fz_devsel(x, a[0]);
	unsigned long r = req[a[1] % ARRAY_SIZE(req)];
	char *scratch = d->mem + FZ_MEM - 0x10000;
	__u64 raw = fz_a64(a + 3);
	void *p;
	int i;

	switch (a[2] % 8) {
	case 0:
		p = NULL;
		break;
	case 1:
		p = (void *)KVIO_KERNEL_ADDR;
		break;
	case 2:
		p = kvio_hole(&x->c);
		break;
	case 3:
		p = kvio_ro_page(&x->c);
		break;
	case 4:
		p = d->mem + FZ_MEM - (raw & 31);
		break;
	default:
		p = scratch + (a[2] >> 5);
		if (!fz_hva(d, (unsigned long)scratch, 64))
			return;
		for (i = 0; i < 64; i += 8)
			memcpy(scratch + i, &raw, 8);
		break;
	}
	fz_ioctl(x, d, "raw", r, p);
}

/* IOTLB messages on write(), misses on read(), and poll(). */
void fz_op_iotlb(struct fz_exec *x, const __u8 *a)
{
	static const __u64 size[6] = { 0, 1, 4096, 0x100000, ~0ULL, 1ULL << 63 };
	struct fz_dev *d = fz_devsel(x, a[0]);
	int fd = __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE);
	struct vhost_msg_v2 m2 = { .type = VHOST_IOTLB_MSG_V2, .asid = a[4] & 3 };
	struct vhost_msg m1 = { .type = VHOST_IOTLB_MSG };
	struct vhost_iotlb_msg io = {
		.iova = fz_a64(a + 5), .size = fz_pick(size, 6, a[13], 0),
		.perm = a[3] % 5, .type = a[2] % 8,
	};
	struct pollfd pf = { .fd = fd, .events = POLLIN | POLLOUT };
	char buf[sizeof(m1) + 8];
	ssize_t r;

	io.uaddr = fz_uaddr(x, d, a[14], a[13], (unsigned long)d->mem);
	m2.iotlb = io;
	m1.iotlb = io;
	switch (a[1] % 8) {
	case 0:
	case 1:
		r = write(fd, &m2, sizeof(m2));
		break;
	case 2:
		r = write(fd, &m1, sizeof(m1));
		break;
	case 3:
		r = write(fd, &m2, a[4] % sizeof(m2));
		break;
	case 4:
		r = read(fd, buf, a[4] & 1 ? sizeof(buf) : 8);
		break;
	case 5:
		r = poll(&pf, 1, 0);
		break;
	default:
		m2.type = a[2];
		r = write(fd, &m2, sizeof(m2));
		break;
	}
	(void)r;
}

/* One IOTLB update on @d's device; 0 if it took it. */
static int fz_iotlb_update(struct fz_dev *d, __u64 iova, __u64 size,
			   __u64 uaddr, __u8 perm)
{
	struct vhost_msg_v2 m = { .type = VHOST_IOTLB_MSG_V2 };
	int fd = __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE);

	m.iotlb.type = VHOST_IOTLB_UPDATE;
	m.iotlb.iova = iova;
	m.iotlb.size = size;
	m.iotlb.uaddr = uaddr;
	m.iotlb.perm = perm;
	return write(fd, &m, sizeof(m)) == sizeof(m) ? 0 : -1;
}

/*
 * Guest memory in the IOTLB twice: at its user addresses, which the rings
 * were given, and at its guest-physical ones, which the descriptors carry,
 * as the memory table the device took lays them out (regions of size 0
 * or beyond the address space are left out, as a vIOMMU would).
 */
int fz_iotlb_map_all(struct fz_exec *x, struct fz_dev *d, __u8 perm)
{
	__u64 mem = (unsigned long)d->mem;
	int err = fz_iotlb_update(d, mem, FZ_MEM, mem, perm);
	unsigned int i;

	(void)x;
	for (i = 0; d->tab && i < d->tab->nregions; i++) {
		const struct vhost_memory_region *r = &d->tab->regions[i];

		if (r->memory_size &&
		    r->guest_phys_addr + r->memory_size - 1 >= r->guest_phys_addr)
			err |= fz_iotlb_update(d, r->guest_phys_addr,
					       r->memory_size,
					       r->userspace_addr, perm);
	}
	return err;
}

/*
 * The user address an IOVA stands for: the identity for guest memory's
 * user addresses, the memory table for guest-physical ones; else @dflt.
 */
static __u64 fz_iova_uaddr(struct fz_dev *d, __u64 iova, __u64 dflt)
{
	__u64 mem = (unsigned long)d->mem;
	unsigned int i;

	if (iova - mem < FZ_RESERVE)
		return iova;
	for (i = 0; d->tab && i < d->tab->nregions; i++) {
		const struct vhost_memory_region *r = &d->tab->regions[i];

		if (iova - r->guest_phys_addr < r->memory_size)
			return r->userspace_addr + (iova - r->guest_phys_addr);
	}
	return dflt;
}

/*
 * The VMM's side of the IOTLB: a[1] picks what it does.  0: answer every
 * queued miss with its page (a[2] bits 0-1 added to the permission it
 * asked for); 1: map a[3] + 1 pages at offset a[4..7] page by page, in
 * both views, with permission a[2]; 2: map one page to another page's
 * memory (a ring area scattered in the VMM's memory); 3: invalidate
 * a[3] + 1 pages there, or (a[8] odd) everything; 4: map it all again,
 * with permission a[2].
 */
void fz_op_iomap(struct fz_exec *x, const __u8 *a)
{
	struct fz_dev *d = fz_devsel(x, a[0]);
	int fd = __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE);
	__u64 mem = (unsigned long)d->mem, page, iova;
	__u32 off = fz_a32(a + 4) % FZ_MEM & ~4095U;
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	struct vhost_msg_v2 m = { .type = VHOST_IOTLB_MSG_V2 };
	unsigned int i, n = a[3] % 64 + 1;

	if (fd < 0)
		return;
	switch (a[1] % 5) {
	case 0:
		for (i = 0; i < 16 && poll(&pf, 1, 0) == 1; i++) {
			if (read(fd, &m, sizeof(m)) < 8 ||
			    m.iotlb.type != VHOST_IOTLB_MISS)
				break;
			page = m.iotlb.iova & ~4095ULL;
			fz_iotlb_update(d, page, 4096,
					fz_iova_uaddr(d, page, mem + off),
					m.iotlb.perm | (a[2] & 3));
		}
		break;
	case 1:
		for (i = 0; i < n && off + i * 4096UL < FZ_MEM; i++) {
			fz_iotlb_update(d, mem + off + i * 4096UL, 4096,
					mem + off + i * 4096UL, a[2] % 4);
			fz_iotlb_update(d, FZ_GPA + off + i * 4096UL, 4096,
					mem + off + i * 4096UL, a[2] % 4);
		}
		break;
	case 2:
		iova = a[8] & 1 ? FZ_GPA + off : mem + off;
		fz_iotlb_update(d, iova, 4096,
				mem + (off + (a[3] + 1) * 4096UL) % FZ_MEM,
				VHOST_ACCESS_RW);
		break;
	case 3:
		m.iotlb.type = VHOST_IOTLB_INVALIDATE;
		m.iotlb.iova = a[8] & 2 ? FZ_GPA + off : mem + off;
		m.iotlb.size = n * 4096UL;
		if (a[8] & 1) {
			m.iotlb.iova = 0;
			m.iotlb.size = ~0ULL;
		}
		if (write(fd, &m, sizeof(m)) < 0)
			break;
		break;
	default:
		fz_iotlb_map_all(x, d, a[2] % 4);
		break;
	}
}
