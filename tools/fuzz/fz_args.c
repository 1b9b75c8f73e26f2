// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: what the argument bytes of an operation mean.  Numbers come
 * mostly from tables of boundary values, sometimes raw; addresses are
 * always of a known kind (inside or at the edge of guest memory, the
 * other ring, an unmapped hole, a read-only page, the kernel half), so
 * that nothing the device writes ever lands in the fuzzer's own memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "fz.h"

#define V1	BIT_ULL(VIRTIO_F_VERSION_1)
#define MRG	BIT_ULL(VIRTIO_NET_F_MRG_RXBUF)
#define EVIDX	BIT_ULL(VIRTIO_RING_F_EVENT_IDX)
#define IND	BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC)
#define VHDR	BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR)
#define LOGALL	BIT_ULL(VHOST_F_LOG_ALL)
#define NOE	BIT_ULL(VIRTIO_F_NOTIFY_ON_EMPTY)
#define RRESET	BIT_ULL(40)	/* VIRTIO_F_RING_RESET */
#define PACKED	BIT_ULL(VIRTIO_F_RING_PACKED)
#define INORD	BIT_ULL(VIRTIO_F_IN_ORDER)
#define AP	BIT_ULL(VIRTIO_F_ACCESS_PLATFORM)

/*
 * The first twelve are what a driver may ack (the header picks among
 * them); the next four are refused; then packed rings and IN_ORDER, the
 * last refused (packed rings need VIRTIO_F_VERSION_1).  The header adds
 * those two through fz_hdr_features().
 */
const __u64 fz_features_tab[] = {
	V1 | MRG | EVIDX | IND, V1, V1 | MRG, V1 | IND, V1 | EVIDX,
	V1 | MRG | IND, V1 | MRG | VHDR, V1 | MRG | EVIDX | IND | VHDR,
	0, MRG, IND | EVIDX, V1 | NOE | MRG | EVIDX | IND | RRESET,
	V1 | MRG | LOGALL, ~0ULL, BIT_ULL(33), BIT_ULL(63),
	V1 | PACKED | MRG | EVIDX | IND, V1 | INORD | MRG | EVIDX | IND,
	V1 | PACKED | INORD | MRG | EVIDX | IND, V1 | PACKED | INORD,
	PACKED | MRG, V1 | MRG | EVIDX | IND | AP, V1 | PACKED | MRG | IND | AP,
	AP | MRG,
};

/*
 * The features a header acks: h[1] picks one of the first twelve; h[0]
 * bits 5-7 may add packed rings (and VIRTIO_F_VERSION_1, which they
 * need), VIRTIO_F_IN_ORDER or both (fz.h); h[1] bit 7 the device IOTLB
 * (fz_h_iotlb()).
 */
__u64 fz_hdr_features(const __u8 *h)
{
	__u64 f = fz_features_tab[(h[1] & 0x7f) % 12];

	if (fz_h_iotlb(h[1]))
		f |= AP;
	if (fz_h_packed(h[0]))
		f |= V1 | PACKED;
	if (fz_h_in_order(h[0]))
		f |= INORD;
	return f;
}

const unsigned int fz_nfeatures = ARRAY_SIZE(fz_features_tab);

const __u64 fz_num_tab[] = {
	256, 64, 1024, 2, 8, 128, 4096, 32768, 512, 16,
	0, 1, 3, 32769, 65535, 65536, 0xffffffff, 2048,
};

const unsigned int fz_nnum = ARRAY_SIZE(fz_num_tab);

const __u64 fz_len_tab[] = {
	0, 1, 2, 11, 12, 13, 14, 60, 64, 1514, 1526, 4095, 4096, 4097,
	65535, 65536, 65565, 65566, 0x100000, 0x400000, 0x1000000,
	0x7fffffff, 0x80000000, 0xfffffff4, 0xffffffff, 3, 100, 256,
	16, 48, 16384, 16368,
};

const unsigned int fz_nlen = ARRAY_SIZE(fz_len_tab);

static __thread int fz_helper_thread;

int fz_in_helper(void)
{
	return fz_helper_thread;
}

void fz_set_helper(void)
{
	fz_helper_thread = 1;
}

__u16 fz_a16(const __u8 *a)
{
	return a[0] | a[1] << 8;
}

__u32 fz_a32(const __u8 *a)
{
	return fz_a16(a) | (__u32)fz_a16(a + 2) << 16;
}

__u64 fz_a64(const __u8 *a)
{
	return fz_a32(a) | (__u64)fz_a32(a + 4) << 32;
}

/*
 * A value for a field: mostly an entry of @tab, sometimes one next to an
 * entry, sometimes @raw.
 */
__u64 fz_pick(const __u64 *tab, unsigned int n, __u8 sel, __u64 raw)
{
	if (sel < 0xc0)
		return tab[sel % n];
	if (sel < 0xe0)
		return tab[sel % n] + (sel & 8 ? 1 : -1) * ((sel & 7) + 1);
	return raw;
}

struct fz_dev *fz_devsel(struct fz_exec *x, __u8 sel)
{
	return &x->dev[sel & 1];
}

/* Bit 0: the queue (0 RX, 1 TX); bit 1: the device. */
struct fz_ring *fz_qsel(struct fz_exec *x, __u8 sel, struct fz_dev **d)
{
	*d = &x->dev[sel >> 1 & 1];
	return &(*d)->q[sel & 1];
}

static int fz_protected(const struct fz_dev *d, unsigned long off, size_t len)
{
	unsigned int i;

	for (i = 0; i < d->nprot; i++)
		if (off < d->prot[i].off + d->prot[i].len &&
		    d->prot[i].off < off + len)
			return 1;
	return 0;
}

/* Where the driver may write user address @uaddr, or NULL. */
void *fz_hva(struct fz_dev *d, __u64 uaddr, size_t len)
{
	__u64 base = (unsigned long)d->mem;

	if (!d->mem || uaddr < base || uaddr + len < uaddr ||
	    uaddr + len > base + FZ_MEM)
		return NULL;
	if (fz_protected(d, uaddr - base, len))
		return NULL;
	return d->mem + (uaddr - base);
}

/* The region of the driver's table that holds @gpa, or NULL. */
static const struct vhost_memory_region *fz_region(const struct fz_dev *d,
						   __u64 gpa)
{
	const struct vhost_memory *m = d->tab;
	unsigned int i;

	for (i = 0; m && i < m->nregions; i++) {
		const struct vhost_memory_region *r = &m->regions[i];

		if (gpa >= r->guest_phys_addr &&
		    gpa - r->guest_phys_addr < r->memory_size)
			return r;
	}
	return NULL;
}

/*
 * Where the driver may write guest-physical [gpa, gpa + len), through the
 * table the device took (its regions may split the range, as long as the
 * host side stays contiguous), or NULL.
 */
void *fz_gpa_hva(struct fz_dev *d, __u64 gpa, size_t len)
{
	const struct vhost_memory_region *r = fz_region(d, gpa);
	__u64 uaddr, next, done = 0;

	if (!r)
		return NULL;
	uaddr = r->userspace_addr + (gpa - r->guest_phys_addr);
	while (done < len) {
		r = fz_region(d, gpa + done);
		if (!r || r->userspace_addr + (gpa + done - r->guest_phys_addr) !=
			  uaddr + done)
			return NULL;
		next = r->guest_phys_addr + r->memory_size - gpa;
		done = next > len ? len : next;
	}
	return fz_hva(d, uaddr, len ? len : 1);
}

/* The guest-physical address of guest memory at offset @off. */
int fz_gpa_of(struct fz_dev *d, unsigned long off, __u64 *gpa)
{
	const struct vhost_memory *m = d->tab;
	__u64 hva = (unsigned long)d->mem + off;
	unsigned int i;

	for (i = 0; m && i < m->nregions; i++) {
		const struct vhost_memory_region *r = &m->regions[i];

		if (hva >= r->userspace_addr &&
		    hva - r->userspace_addr < r->memory_size) {
			*gpa = r->guest_phys_addr + (hva - r->userspace_addr);
			return 0;
		}
	}
	return -1;
}

/*
 * A user address of kind @kind for the device to use: @dflt (what a good
 * VMM gives) or something near it, at an edge of guest memory, in the
 * reserved PROT_NONE tail, in the other device's memory, unmapped,
 * read-only or in the kernel half.
 */
__u64 fz_uaddr(struct fz_exec *x, struct fz_dev *d, __u8 kind, __u32 off,
	       __u64 dflt)
{
	__u64 mem = (unsigned long)d->mem;
	__u64 other = (unsigned long)x->dev[d == x->dev].mem;

	switch (kind % 16) {
	case 1:
		return mem + off % FZ_MEM;
	case 2:
		return mem + FZ_MEM - off % 64;
	case 3:
		return mem + FZ_MEM + off % (FZ_RESERVE - FZ_MEM);
	case 4:
		return dflt + 1 + off % 7;
	case 5:
		return 0;
	case 6:
		return KVIO_KERNEL_ADDR + off % 4096;
	case 7:
		return 0x0000800000000000ULL - off % 64;
	case 8:
		return ~0ULL - off % 4096;
	case 9:
		return (unsigned long)kvio_hole(&x->c) + off % 4096;
	case 10:
		return (unsigned long)kvio_ro_page(&x->c) + off % 0x40000;
	case 11:
		return other + off % FZ_MEM;
	case 12:
		return dflt - 4096 + off % 8192;
	default:
		return dflt;
	}
}

/*
 * A guest-physical address of kind @kind for a descriptor: in the good
 * buffers' arena (the default), an indirect table, anywhere in guest
 * memory, at its end or at the 8 MiB region edge, the ring itself
 * (@ring), one fixed buffer that everything may alias, or none.
 */
__u64 fz_gpa(struct fz_exec *x, struct fz_dev *d, __u8 kind, __u32 off,
	     __u64 ring)
{
	(void)x;
	(void)d;
	switch (kind % 16) {
	case 1:
	case 2:
		return FZ_GPA + FZ_TAB_OFF(off % FZ_NTABS);
	case 3:
		return FZ_GPA + off % FZ_MEM;
	case 4:
		return FZ_GPA + FZ_MEM - 1 - off % 64;
	case 5:
		return FZ_GPA + 0x800000 - 1 - off % 64;
	case 6:
		return 0;
	case 7:
		return FZ_GPA - 1 - off % 64;
	case 8:
		return ~0ULL - off % 64;
	case 9:
		return 1ULL << 62 | off;
	case 10:
		return ring + off % 4096;
	case 11:
	case 12:
		return FZ_GPA + FZ_BUF_OFF(1);
	default:
		return FZ_GPA + FZ_BUF_OFF(0) + off % (2 * FZ_BUF_SIZE);
	}
}

static int fz_new_fd(struct fz_exec *x, int fd)
{
	(void)x;
	return fd;
}

/*
 * An fd of kind @sel for a file ioctl (kick, call, err, log, backend):
 * a fresh eventfd or the ring's own (@ring_fd), none, bad numbers, every
 * kind of file that is not an eventfd or a backend, or a backend.
 */
int fz_fd(struct fz_exec *x, struct fz_dev *d, __u8 sel, int ring_fd)
{
	int p[2], fd;

	switch (sel % 20) {
	case 0:
		return fz_new_fd(x, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	case 1:
		return ring_fd;
	case 2:
		return -1;
	case 3:
		return -2;
	case 4:
		return 4000;
	case 5:
		return pipe2(p, O_CLOEXEC) ? -1 : p[0];
	case 6:
		return memfd_create("kvio-fuzz", MFD_CLOEXEC);
	case 7:
		return x->pfd[FZ_P_UNIX];
	case 8:
		return d->fd;
	case 9:
		return x->dev[d == x->dev].fd;
	case 10:
		return x->pfd[FZ_P_TAP];
	case 11:
		return x->pfd[FZ_P_TAP2];
	case 12:
		return x->pfd[FZ_P_MACVTAP];
	case 13:
		return x->pfd[FZ_P_PACKET];
	case 14:
		return x->pfd[FZ_P_DGRAM];
	case 15:
		return x->pfd[FZ_P_UDP];
	case 16:
		return open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	case 17:
		return x->pfd[FZ_P_TUN_L3];
	case 18:
		fd = eventfd(0, EFD_CLOEXEC);
		close(fd);
		return fd;
	default:
		return socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	}
}
