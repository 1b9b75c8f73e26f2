// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: the device IOTLB (VIRTIO_F_ACCESS_PLATFORM).  Messages the
 * VMM writes (UPDATE, INVALIDATE) and their errno values, the misses the
 * device queues for read() and poll(), and a ring that stalls on a miss
 * and resumes when an UPDATE answers it.  Ring addresses are IOVAs that
 * differ from both the user and the guest-physical addresses; a miss is
 * recorded with its IOVA and permission, so both devices must ask for
 * the same translations in the same order.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "vhost_diff.h"

#define IOVA_BASE	0x40000000ULL	/* IOVA of the first guest page */
#define IOVA_PAGE	4096ULL
#define TX		1		/* the ring the scenarios run */
#define MISS_WAIT_MS	2000		/* for a miss the device must send */
#define MAX_MISSES	8

static const __u64 ap_features = (1ULL << VIRTIO_F_VERSION_1) |
				 (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
				 (1ULL << VIRTIO_F_ACCESS_PLATFORM);

struct ap_dev {
	int fd;
	int v2;
	int kick;
	int tap;
};

/* The IOVA of a user address in guest memory. */
static __u64 iova_of(struct kvio_ctx *c, __u64 uaddr)
{
	return IOVA_BASE + uaddr - (unsigned long)kvio_mem(c);
}

/* Map the guest page holding @iova, with @perm. */
static long map_page(struct kvio_ctx *c, const char *label,
		     const struct ap_dev *d, __u64 iova, __u8 perm)
{
	__u64 page = iova & ~(IOVA_PAGE - 1);

	return kvio_iotlb_write(c, label, d->fd, d->v2, VHOST_IOTLB_UPDATE,
				page, IOVA_PAGE,
				(unsigned long)kvio_mem(c) + page - IOVA_BASE,
				perm);
}

/*
 * Owner, MSG_V2 if @v2, ACCESS_PLATFORM, guest memory at gpa 0, both rings
 * at IOVAs, and a kick and call eventfd on the TX ring.
 */
static void ap_ready(struct kvio_ctx *c, struct ap_dev *d, int v2)
{
	unsigned int i;

	d->fd = kvio_open(c, "open", O_RDWR);
	d->v2 = v2;
	kvio_owner(c, "owner", d->fd);
	if (v2)
		kvio_set_u64(c, "backend_features", d->fd,
			     VHOST_SET_BACKEND_FEATURES,
			     1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2);
	kvio_set_u64(c, "features", d->fd, VHOST_SET_FEATURES, ap_features);
	kvio_mem1(c, "mem", d->fd);
	for (i = 0; i < 2; i++) {
		struct vhost_vring_addr a;

		kvio_state(c, "num", d->fd, VHOST_SET_VRING_NUM, i,
			   KVIO_RING_NUM);
		kvio_state(c, "base", d->fd, VHOST_SET_VRING_BASE, i, 0);
		kvio_ring_addr(c, i, &a);
		a.desc_user_addr = iova_of(c, a.desc_user_addr);
		a.avail_user_addr = iova_of(c, a.avail_user_addr);
		a.used_user_addr = iova_of(c, a.used_user_addr);
		kvio_addr(c, "addr", d->fd, &a);
	}
	d->kick = kvio_eventfd(c);
	kvio_file(c, "kick", d->fd, VHOST_SET_VRING_KICK, TX, d->kick);
	kvio_file(c, "call", d->fd, VHOST_SET_VRING_CALL, TX, kvio_eventfd(c));
	d->tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);
}

/* poll() on the device: its result and the events it reported. */
static void poll_step(struct kvio_ctx *c, const char *label, int fd,
		      short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	long ret;

	errno = 0;
	ret = poll(&p, 1, ms);
	kvio_rec_val(c, label, ret, errno, 1, p.revents);
}

static long attach(struct kvio_ctx *c, const char *label,
		   const struct ap_dev *d)
{
	return kvio_file(c, label, d->fd, VHOST_NET_SET_BACKEND, TX, d->tap);
}

static void kick(const struct ap_dev *d)
{
	__u64 one = 1;

	if (write(d->kick, &one, sizeof(one)) != sizeof(one))
		abort();
}

/*
 * Wait up to @ms for a miss and read it: records poll(), then the
 * message's kind (v1/v2, type, permission) and its IOVA.  Returns 1 with
 * @iova and @perm set if one came.
 */
static int read_miss(struct kvio_ctx *c, const char *label,
		     const struct ap_dev *d, int ms, __u64 *iova, __u8 *perm)
{
	struct pollfd p = { .fd = d->fd, .events = POLLIN };
	struct vhost_msg_v2 m;
	char l[KVIO_LABEL_LEN];
	long ret;

	snprintf(l, sizeof(l), "%s.poll", label);
	errno = 0;
	ret = poll(&p, 1, ms);
	kvio_rec_val(c, l, ret, errno, 1, p.revents);
	if (ret != 1)
		return 0;
	memset(&m, 0, sizeof(m));
	errno = 0;
	ret = read(d->fd, &m, sizeof(m));
	snprintf(l, sizeof(l), "%s.msg", label);
	kvio_rec_val(c, l, ret, errno, 1,
		     (__u64)m.type << 32 | (__u64)m.iotlb.type << 8 |
		     m.iotlb.perm);
	snprintf(l, sizeof(l), "%s.iova", label);
	kvio_rec_val(c, l, 0, 0, 1, m.iotlb.iova);
	if (ret != sizeof(m))
		return 0;
	*iova = m.iotlb.iova;
	*perm = m.iotlb.perm;
	return 1;
}

/* Answer misses with read-write pages until none comes. */
static void answer_misses(struct kvio_ctx *c, const char *label,
			  const struct ap_dev *d)
{
	char l[KVIO_LABEL_LEN];
	unsigned int i;
	__u64 iova;
	__u8 perm;

	for (i = 0; i < MAX_MISSES; i++) {
		snprintf(l, sizeof(l), "%s%u", label, i);
		if (!read_miss(c, l, d, MISS_WAIT_MS, &iova, &perm))
			return;
		snprintf(l, sizeof(l), "%s%u.update", label, i);
		map_page(c, l, d, iova, VHOST_ACCESS_RW);
	}
}

/* Every message and its errno, and reads without a miss. */
void kvio_sc_iotlb_messages(struct kvio_ctx *c)
{
	struct ap_dev d = { .v2 = 1 };
	__u64 mem = (unsigned long)kvio_mem(c);

	d.fd = kvio_open(c, "open", O_RDWR);
	kvio_owner(c, "owner", d.fd);
	kvio_set_u64(c, "features", d.fd, VHOST_SET_FEATURES, ap_features);
	kvio_iotlb_write(c, "update", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x100000, 4096, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_v1", d.fd, 0, VHOST_IOTLB_UPDATE,
			 0x200000, 4096, mem, VHOST_ACCESS_RO);
	kvio_iotlb_write(c, "update_size0", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x100000, 0, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_overlap", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x100800, 8192, mem, VHOST_ACCESS_WO);
	kvio_iotlb_write(c, "update_perm0", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x300000, 4096, mem, 0);
	kvio_iotlb_write(c, "update_perm_bad", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x301000, 4096, mem, 0xff);
	kvio_iotlb_write(c, "update_kernel_uaddr", d.fd, 1,
			 VHOST_IOTLB_UPDATE, 0x400000, 4096,
			 KVIO_KERNEL_ADDR, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_uaddr_wraps", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0x400000, 8192, ~0ULL - 4095, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_iova_wraps", d.fd, 1, VHOST_IOTLB_UPDATE,
			 ~0ULL - 4095, 8192, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_iova_top", d.fd, 1, VHOST_IOTLB_UPDATE,
			 ~0ULL - 4095, 4096, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_huge", d.fd, 1, VHOST_IOTLB_UPDATE,
			 0, ~0ULL, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "update_unmapped_uaddr", d.fd, 1,
			 VHOST_IOTLB_UPDATE, 0x500000, 1 << 20,
			 (unsigned long)kvio_hole(c), VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "invalidate", d.fd, 1, VHOST_IOTLB_INVALIDATE,
			 0x100000, 4096, 0, 0);
	kvio_iotlb_write(c, "invalidate_v1", d.fd, 0, VHOST_IOTLB_INVALIDATE,
			 0x200000, 1, 0, 0);
	kvio_iotlb_write(c, "invalidate_none", d.fd, 1,
			 VHOST_IOTLB_INVALIDATE, 0x900000, 4096, 0, 0);
	kvio_iotlb_write(c, "invalidate_size0", d.fd, 1,
			 VHOST_IOTLB_INVALIDATE, 0x300000, 0, 0, 0);
	kvio_iotlb_write(c, "invalidate_all", d.fd, 1, VHOST_IOTLB_INVALIDATE,
			 0, ~0ULL, 0, 0);
	kvio_iotlb_write(c, "write_miss", d.fd, 1, VHOST_IOTLB_MISS,
			 0x100000, 4096, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "write_access_fail", d.fd, 1,
			 VHOST_IOTLB_ACCESS_FAIL, 0x100000, 4096, mem,
			 VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "write_batch_begin", d.fd, 1,
			 VHOST_IOTLB_BATCH_BEGIN, 0, 0, 0, 0);
	kvio_iotlb_write(c, "write_type_200", d.fd, 1, 200, 0x100000, 4096,
			 mem, VHOST_ACCESS_RW);
	kvio_read_step(c, "read_short", d.fd, sizeof(struct vhost_msg) - 1);
	fcntl(d.fd, F_SETFL, O_NONBLOCK);
	kvio_read_step(c, "read_nonblock", d.fd, sizeof(struct vhost_msg));
	fcntl(d.fd, F_SETFL, 0);
	kvio_read_step(c, "read_block", d.fd, sizeof(struct vhost_msg));
	poll_step(c, "poll", d.fd, POLLIN | POLLOUT, 0);
}

/* The IOTLB goes with the feature: messages fail, readers get EBADFD. */
void kvio_sc_iotlb_cleared(struct kvio_ctx *c)
{
	__u64 mem = (unsigned long)kvio_mem(c);
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_owner(c, "owner", fd);
	kvio_set_u64(c, "features_ap", fd, VHOST_SET_FEATURES, ap_features);
	kvio_iotlb_write(c, "update", fd, 1, VHOST_IOTLB_UPDATE, 0x100000,
			 4096, mem, VHOST_ACCESS_RW);
	kvio_set_u64(c, "features_no_ap", fd, VHOST_SET_FEATURES,
		     ap_features & ~(1ULL << VIRTIO_F_ACCESS_PLATFORM));
	kvio_iotlb_write(c, "update_cleared", fd, 1, VHOST_IOTLB_UPDATE,
			 0x100000, 4096, mem, VHOST_ACCESS_RW);
	kvio_iotlb_write(c, "invalidate_cleared", fd, 1,
			 VHOST_IOTLB_INVALIDATE, 0x100000, 4096, 0, 0);
	kvio_read_step(c, "read_block_cleared", fd, sizeof(struct vhost_msg));
	kvio_set_u64(c, "features_ap_again", fd, VHOST_SET_FEATURES,
		     ap_features);
	kvio_iotlb_write(c, "invalidate_again", fd, 1, VHOST_IOTLB_INVALIDATE,
			 0x100000, 4096, 0, 0);
	kvio_iotlb_write(c, "update_again", fd, 1, VHOST_IOTLB_UPDATE,
			 0x100000, 4096, mem, VHOST_ACCESS_RW);
}

/* A queued miss and the IOTLB go with the owner. */
void kvio_sc_iotlb_reset_owner(struct kvio_ctx *c)
{
	struct ap_dev d;

	ap_ready(c, &d, 1);
	attach(c, "backend_unmapped", &d);
	kvio_io(c, "reset_owner", d.fd, VHOST_RESET_OWNER, NULL);
	fcntl(d.fd, F_SETFL, O_NONBLOCK);
	kvio_read_step(c, "read_nonblock", d.fd, sizeof(struct vhost_msg));
	fcntl(d.fd, F_SETFL, 0);
	kvio_read_step(c, "read_block", d.fd, sizeof(struct vhost_msg));
	map_page(c, "update_after_reset", &d, IOVA_BASE, VHOST_ACCESS_RW);
	kvio_owner(c, "owner_again", d.fd);
	kvio_set_u64(c, "features_again", d.fd, VHOST_SET_FEATURES,
		     ap_features);
	map_page(c, "update_again", &d, IOVA_BASE, VHOST_ACCESS_RW);
}

/*
 * A ring started before its used ring is mapped fails and asks for it;
 * once mapped, a kick makes it ask for each area it lacks in turn, and a
 * mapped ring asks for nothing.
 */
static void iotlb_miss(struct kvio_ctx *c, int v2)
{
	struct ap_dev d;
	__u64 iova;
	__u8 perm;

	ap_ready(c, &d, v2);
	attach(c, "backend_unmapped", &d);
	if (read_miss(c, "miss_used", &d, MISS_WAIT_MS, &iova, &perm))
		map_page(c, "update_used", &d, iova, VHOST_ACCESS_RW);
	/*
	 * The update woke the ring that asked; let that wakeup find it
	 * without a backend, as it does when the VMM is not that quick.
	 */
	usleep(300 * 1000);
	attach(c, "backend", &d);
	read_miss(c, "quiet_after_attach", &d, 300, &iova, &perm);
	kick(&d);
	answer_misses(c, "miss", &d);
	kick(&d);
	read_miss(c, "quiet_after_kick", &d, 300, &iova, &perm);
	kvio_get_state(c, "get_base", d.fd, VHOST_GET_VRING_BASE, TX);
}

void kvio_sc_iotlb_miss_v1(struct kvio_ctx *c)
{
	iotlb_miss(c, 0);
}

void kvio_sc_iotlb_miss_v2(struct kvio_ctx *c)
{
	iotlb_miss(c, 1);
}

/* read() takes one whole message or nothing; poll() tracks the queue. */
void kvio_sc_iotlb_read_sizes(struct kvio_ctx *c)
{
	struct ap_dev d;

	ap_ready(c, &d, 1);
	attach(c, "backend_unmapped", &d);
	poll_step(c, "poll_queued", d.fd, POLLIN, MISS_WAIT_MS);
	kvio_read_step(c, "read_8", d.fd, 8);
	kvio_read_step(c, "read_short", d.fd, sizeof(struct vhost_msg) - 1);
	kvio_read_step(c, "read_large", d.fd, 200);
	poll_step(c, "poll_drained", d.fd, POLLIN, 0);
	attach(c, "backend_unmapped_again", &d);
	kvio_read_step(c, "read_again", d.fd, sizeof(struct vhost_msg));
}

/* A blocked reader wakes up with the miss. */
void kvio_sc_iotlb_blocking_read(struct kvio_ctx *c)
{
	struct ap_dev d;
	int status = -1;
	pid_t pid;

	ap_ready(c, &d, 1);
	pid = fork();
	if (pid < 0) {
		kvio_env_fail(c, "fork: %s", strerror(errno));
		return;
	}
	if (!pid) {
		struct vhost_msg_v2 m;

		alarm(10);
		_exit(read(d.fd, &m, sizeof(m)) == sizeof(m) &&
		      m.iotlb.type == VHOST_IOTLB_MISS ? 0 : 1);
	}
	usleep(300 * 1000);
	attach(c, "backend_unmapped", &d);
	waitpid(pid, &status, 0);
	kvio_rec_val(c, "reader", 0, 0, 1, status);
}

/*
 * A running TX ring whose areas are all mapped, as QEMU gets it there:
 * the used ring's page before the backend, the rest as the ring asks.
 */
static void ap_running(struct kvio_ctx *c, struct ap_dev *d,
		       struct vhost_vring_addr *a)
{
	ap_ready(c, d, 1);
	kvio_ring_addr(c, TX, a);
	map_page(c, "update_used", d, iova_of(c, a->used_user_addr),
		 VHOST_ACCESS_RW);
	attach(c, "backend", d);
	kick(d);
	answer_misses(c, "miss", d);
}

/* Translations dropped under a running ring are asked for again. */
void kvio_sc_iotlb_invalidate_running(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	struct ap_dev d;
	__u64 iova;
	__u8 perm;

	ap_running(c, &d, &a);
	kvio_iotlb_write(c, "invalidate_avail", d.fd, 1,
			 VHOST_IOTLB_INVALIDATE, iova_of(c, a.avail_user_addr),
			 1, 0, 0);
	kick(&d);
	answer_misses(c, "miss_avail", &d);
	kvio_iotlb_write(c, "invalidate_all", d.fd, 1, VHOST_IOTLB_INVALIDATE,
			 0, ~0ULL, 0, 0);
	kick(&d);
	answer_misses(c, "miss_all", &d);
	read_miss(c, "quiet", &d, 300, &iova, &perm);
}

/*
 * SET_FEATURES with ACCESS_PLATFORM again while the ring runs: a new,
 * empty IOTLB; the ring's IOVAs stay.
 */
void kvio_sc_iotlb_refeature_running(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	struct ap_dev d;

	ap_running(c, &d, &a);
	kvio_set_u64(c, "features_again", d.fd, VHOST_SET_FEATURES,
		     ap_features);
	kick(&d);
	answer_misses(c, "miss_new", &d);
}

/*
 * Mappings without the access the device needs, and overlapping ones.
 * Upstream writes the used ring's flags through a read-only mapping; kvio
 * does not (Documentation/differences.rst): that step comes last.
 */
void kvio_sc_iotlb_perm(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	struct ap_dev d;
	__u64 used;

	ap_ready(c, &d, 1);
	kvio_ring_addr(c, TX, &a);
	used = iova_of(c, a.used_user_addr);
	map_page(c, "update_used_wo", &d, used, VHOST_ACCESS_WO);
	attach(c, "backend_used_wo", &d);
	fcntl(d.fd, F_SETFL, O_NONBLOCK);
	kvio_read_step(c, "read_after_wo", d.fd, sizeof(struct vhost_msg));
	fcntl(d.fd, F_SETFL, 0);
	/* The older, write-only entry starts first: it is still the one. */
	map_page(c, "update_used_rw", &d, used, VHOST_ACCESS_RW);
	attach(c, "backend_overlapped", &d);
	kvio_iotlb_write(c, "invalidate_used", d.fd, 1,
			 VHOST_IOTLB_INVALIDATE, used, 1, 0, 0);
	map_page(c, "update_used_ro", &d, used, VHOST_ACCESS_RO);
	attach(c, "backend_used_ro", &d);
}
