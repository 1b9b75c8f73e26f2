// SPDX-License-Identifier: GPL-2.0
/*
 * net_hostile: guests and VMMs that try to hurt the host without a ring
 * that is malformed in the sense of net_malformed.  Each of these once
 * hurt it (a WARN from a 4 GiB frame, a broken RX ring for a frame too
 * big for its buffers, a worker spinning on a dropping qdisc, a ring held
 * by an ioctl that faulted, an unlogged write): the ring must go on, the
 * owner's other rings and devices must go on, and nothing is logged.
 *
 * The test is the VMM and the guest's driver at once (net_datapath's,
 * ndp_*.c), with two devices of one owner: dev[0] takes the harm, dev[1]
 * shares its worker and must keep moving frames.  KVIO_DIFF_DEV names the
 * node under test (default /dev/kvio-net).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/userfaultfd.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "net_datapath.h"

#define NH_WAIT_MS	3000	/* a used element comes by then */
#define NH_FRAMES	3	/* frames a working ring must move */
#define NH_MIB4		(4U << 20)
#define NH_TABLE	(NDP_GPA_BASE + 0x700000ULL)	/* the last 1M */
#define NH_ALIAS	(NDP_GPA_BASE + 0x100000ULL)	/* 4M + 64 from here */
/* the longest frame: an IPv6 payload of 64K - 1, Ethernet, two VLAN tags */
#define NH_MAX_FRAME	(65535 + 40 + 14 + 2 * 4)
#define NH_ETH_P	0x88b5

struct nh {
	struct ndp_pair *p;
	int pk;			/* a packet socket backend, or -1 */
	char veth[2][IFNAMSIZ];	/* its veth pair, if made */
};

static struct nh *nh_new(struct __test_metadata *_metadata)
{
	struct nh *nh = calloc(1, sizeof(*nh));

	ASSERT_NE(NULL, nh);
	nh->pk = -1;
	nh->p = ndp_pair_new(1024, NDP_F_QEMU, 2048);
	ASSERT_NE(NULL, nh->p);
	return nh;
}

static void nh_free(struct nh *nh)
{
	if (!nh)
		return;
	ndp_pair_free(nh->p);
	if (nh->pk >= 0)
		close(nh->pk);
	if (nh->veth[0][0])
		kvio_run_cmd("ip link del %s", nh->veth[0]);
	free(nh);
}

static long nh_backend(struct ndp *g, unsigned int idx, int fd)
{
	return kvio_file(g->c, "backend", g->dev, VHOST_NET_SET_BACKEND, idx,
			 fd);
}

/*
 * dev[0]'s TX ring sends through a raw packet socket on one end of a new
 * veth pair instead of its tap, behind a qdisc that drops every frame if
 * @drop (the socket then answers ENOBUFS while poll() says writable).
 */
static int nh_packet_backend(struct nh *nh, int drop)
{
	struct ndp *a = &nh->p->dev[0];
	struct sockaddr_ll ll = { .sll_family = AF_PACKET };
	int s;

	snprintf(nh->veth[0], IFNAMSIZ, "kvh%d", getpid() % 100000);
	snprintf(nh->veth[1], IFNAMSIZ, "kvh%dp", getpid() % 100000);
	if (kvio_run_cmd("ip link add %s type veth peer name %s", nh->veth[0],
			 nh->veth[1]) ||
	    kvio_run_cmd("ip link set %s up", nh->veth[1]) ||
	    kvio_run_cmd("ip link set %s up", nh->veth[0]) ||
	    (drop && kvio_run_cmd("tc qdisc add dev %s root pfifo limit 0",
				  nh->veth[0])))
		return -1;
	nh->pk = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ll.sll_protocol = htons(ETH_P_ALL);
	ll.sll_ifindex = (int)if_nametoindex(nh->veth[0]);
	if (nh->pk < 0 || bind(nh->pk, (struct sockaddr *)&ll, sizeof(ll)))
		return -1;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ndp_if_wait_running(s, nh->veth[0])) {
		close(s);
		return -1;
	}
	close(s);
	if (nh_backend(a, NDP_TX, -1) || nh_backend(a, NDP_TX, nh->pk))
		return -1;
	return 0;
}

/* The next used element of q within NH_WAIT_MS: 1, or 0 if none came. */
static int nh_used(struct ndp *g, struct ndp_vq *q, unsigned int *serial,
		   __u32 *len)
{
	long end = ndp_now_ms() + NH_WAIT_MS;
	int r;

	while (!(r = ndp_used(g, q, serial, len)) && ndp_now_ms() < end)
		usleep(1000);
	return r;
}

/* TX: chains that add up to about 4 GiB */

enum nh_huge {
	NH_IND_4G_MINUS_12,	/* 1024 indirect entries, 4 GiB - 12 in all */
	NH_IND_4G,		/* ... 4 GiB */
	NH_IND_4G_PLUS_64,	/* ... 4 GiB + 64 */
	NH_DIRECT_4G,		/* 1024 direct descriptors of 4 MiB */
	NH_FRAME_MAX_PLUS_1,	/* one buffer, one byte over the longest frame */
};

/* Posts one TX chain of dev g; the descriptors alias one buffer. */
static void nh_post_huge(struct ndp *g, struct ndp_vq *q, enum nh_huge how)
{
	static __u16 pos[VQ_NUM_MAX];
	unsigned int num = q->vq.cfg.num, i;
	struct vring_desc *t = ndp_hva(g, NH_TABLE);
	__u32 last = NH_MIB4;
	int head;

	head = vq_reserve(&q->vq, how == NH_DIRECT_4G ? num : 1, pos);
	if (head < 0)
		return;
	ndp_track(q, head);
	memset(ndp_hva(g, NH_ALIAS), 0, NDP_HDR_LEN);	/* a plain header */
	if (how == NH_IND_4G_MINUS_12)
		last -= NDP_HDR_LEN;
	if (how == NH_IND_4G_PLUS_64)
		last += 64;
	if (how == NH_DIRECT_4G) {
		for (i = 0; i < num; i++)
			vq_desc_write(&q->vq, pos[i], NH_ALIAS, NH_MIB4,
				      i + 1 < num ? VRING_DESC_F_NEXT : 0,
				      pos[(i + 1) % num]);
	} else if (how == NH_FRAME_MAX_PLUS_1) {
		vq_desc_write(&q->vq, head, NH_ALIAS,
			      NDP_HDR_LEN + NH_MAX_FRAME + 1, 0, 0);
	} else {
		for (i = 0; i < 1024; i++)
			vq_desc_set(t + i, NH_ALIAS, i < 1023 ? NH_MIB4 : last,
				    i < 1023 ? VRING_DESC_F_NEXT : 0, i + 1);
		vq_desc_write(&q->vq, head, NH_TABLE, 1024 * sizeof(*t),
			      VRING_DESC_F_INDIRECT, 0);
	}
	vq_publish(&q->vq);
}

/* Frames posted on q come back, wherever the backend sends them. */
static int nh_tx_through(struct ndp *g, struct ndp_vq *q, unsigned int n)
{
	struct ndp_chain ch;
	unsigned int i, serial;
	__u32 len;

	for (i = 0; i < n; i++) {
		ndp_tx_fill(g, q->posted, &ch);
		ndp_post(g, q, &ch);
	}
	if (ndp_kick_now(q))
		return -1;
	for (i = 0; i < n; i++)
		if (nh_used(g, q, &serial, &len) != 1)
			return -1;
	return 0;
}

/*
 * The chain comes back with a used length of 0 and nothing on the wire,
 * no error is signalled, and then frames go through dev[0] and dev[1].
 */
static void nh_huge_case(struct __test_metadata *_metadata, struct nh *nh,
			 enum nh_huge how)
{
	struct ndp *a = &nh->p->dev[0], *b = &nh->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_TX];
	unsigned int serial;
	__u32 len = ~0u;
	int ret;

	nh_post_huge(a, q, how);
	ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_EQ(1, nh_used(a, q, &serial, &len))
		TH_LOG("the chain did not come back");
	EXPECT_EQ(0, len);
	/* its frame is not sent: the driver's count of sent frames moves on */
	a->tx_done++;
	a->wire_seen++;
	/* a packet socket's frames leave by a veth: only their return shows */
	ret = nh->pk < 0 ? ndp_pair_traffic(nh->p, a, NH_FRAMES, NH_FRAMES) :
			   nh_tx_through(a, q, NH_FRAMES);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, ndp_pair_traffic(nh->p, b, NH_FRAMES, NH_FRAMES));
	EXPECT_TRUE(ndp_pair_quiet(nh->p, NULL));
}

FIXTURE(huge) {
	struct nh *nh;
};

FIXTURE_VARIANT(huge) {
	enum nh_huge how;
	int packet;		/* a raw packet socket backend, not the tap */
};

FIXTURE_SETUP(huge)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->nh = nh_new(_metadata);
	if (variant->packet)
		ASSERT_EQ(0, nh_packet_backend(self->nh, 0));
}

FIXTURE_TEARDOWN(huge)
{
	nh_free(self->nh);
}

TEST_F_TIMEOUT(huge, tx, 120)
{
	nh_huge_case(_metadata, self->nh, variant->how);
}

FIXTURE_VARIANT_ADD(huge, ind_4g_minus_12) { .how = NH_IND_4G_MINUS_12 };
FIXTURE_VARIANT_ADD(huge, ind_4g) { .how = NH_IND_4G };
FIXTURE_VARIANT_ADD(huge, ind_4g_plus_64) { .how = NH_IND_4G_PLUS_64 };
FIXTURE_VARIANT_ADD(huge, direct_4g) { .how = NH_DIRECT_4G };
FIXTURE_VARIANT_ADD(huge, frame_max_plus_1) { .how = NH_FRAME_MAX_PLUS_1 };
FIXTURE_VARIANT_ADD(huge, packet_ind_4g) { .how = NH_IND_4G, .packet = 1 };
FIXTURE_VARIANT_ADD(huge, packet_ind_4g_minus_12) {
	.how = NH_IND_4G_MINUS_12, .packet = 1,
};

/* Two devices with tap backends, nothing else */
FIXTURE(pair) {
	struct nh *nh;
};

FIXTURE_SETUP(pair)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->nh = nh_new(_metadata);
}

FIXTURE_TEARDOWN(pair)
{
	nh_free(self->nh);
}

/* The longest frame a guest can send still reaches the wire, whole. */
TEST_F_TIMEOUT(pair, frame_max, 120)
{
	struct ndp *a = &self->nh->p->dev[0];
	struct ndp_vq *q = &a->vq[NDP_TX];
	struct pollfd pf = { .fd = a->pkt, .events = POLLIN };
	static __u8 f[NH_MAX_FRAME + 64];
	__u8 *buf = ndp_hva(a, NH_ALIAS);
	struct ndp_chain ch = {
		.n = 1, .gpa = { NH_ALIAS },
		.len = { NDP_HDR_LEN + NH_MAX_FRAME },
	};
	struct sockaddr_ll ll;
	unsigned int serial, i;
	socklen_t sl;
	ssize_t n = -1;
	__u32 len;

	memset(buf, 0, NDP_HDR_LEN);
	ndp_frame(buf + NDP_HDR_LEN, NDP_DIR_TX, 0);
	for (i = 60; i < NH_MAX_FRAME; i++)
		buf[NDP_HDR_LEN + i] = (__u8)(i * 13);
	ndp_post(a, q, &ch);
	ASSERT_EQ(0, ndp_kick_now(q));
	ASSERT_EQ(1, nh_used(a, q, &serial, &len));
	while (poll(&pf, 1, NH_WAIT_MS) == 1) {
		sl = sizeof(ll);
		n = recvfrom(a->pkt, f, sizeof(f), MSG_TRUNC,
			     (struct sockaddr *)&ll, &sl);
		if (n < 0 || ll.sll_pkttype != PACKET_OUTGOING)
			break;
	}
	ASSERT_EQ(NH_MAX_FRAME, n);
	EXPECT_EQ(0, memcmp(f, buf + NDP_HDR_LEN, NH_MAX_FRAME));
	a->tx_done++;
	a->wire_seen++;
	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, a, NH_FRAMES, 0));
	EXPECT_TRUE(ndp_pair_quiet(self->nh->p, NULL));
}

/* RX: a frame too big for the iovecs its buffers need */

#define NH_RX_CHAINS	600	/* of 3 buffers of 1 byte */
#define NH_RX_BUFS	(NDP_GPA_BASE + 0x200000ULL)

/* Chain i: an indirect table of three writable buffers of one byte. */
static int nh_rx_post(struct ndp_vq *q, int *ids)
{
	struct vq_buf b[3];
	unsigned int i, j;

	for (i = 0; i < NH_RX_CHAINS; i++) {
		for (j = 0; j < 3; j++) {
			b[j].gpa = NH_RX_BUFS + i * 4 + j;
			b[j].len = 1;
		}
		ids[i] = vq_add(&q->vq, b, 0, 3, true);
		if (ids[i] < 0)
			return -1;
	}
	return 0;
}

/*
 * With mergeable buffers of 3 iovecs each, a frame of 1514 bytes needs
 * 509 of them: the 342nd finds one iovec left of UIO_MAXIOV.  That frame
 * is dropped, the buffers stay the guest's, and the next frame, of 60
 * bytes, fills the first 24 of them.
 */
TEST_F_TIMEOUT(pair, rx_mrg_too_many_iovecs, 120)
{
	struct ndp *a = &self->nh->p->dev[0], *b = &self->nh->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_RX];
	__u8 big[1514], f[NDP_MAX_FRAME], got[NDP_HDR_LEN + 64];
	const unsigned int nbufs = (NDP_HDR_LEN + 60) / 3;
	__u8 *bufs = ndp_hva(a, NH_RX_BUFS);
	static int ids[NH_RX_CHAINS];
	unsigned int i, k = 0;
	struct vq_used u;
	long end;
	__u16 nb;

	ASSERT_EQ(0, nh_rx_post(q, ids));
	ASSERT_EQ(0, ndp_kick_now(q));
	ndp_frame(big, NDP_DIR_RX, 1);
	memset(big + 60, 0x5a, sizeof(big) - 60);
	ASSERT_EQ(sizeof(big), send(a->pkt, big, sizeof(big), 0));
	ASSERT_EQ(60, ndp_frame(f, NDP_DIR_RX, 17));
	ASSERT_EQ(60, send(a->pkt, f, 60, 0));
	end = ndp_now_ms() + NH_WAIT_MS;
	while (vq_used_idx(&q->vq) < nbufs && ndp_now_ms() < end)
		usleep(1000);
	usleep(100000);	/* anything more would be one too many */
	ASSERT_EQ(nbufs, vq_used_idx(&q->vq))
		TH_LOG("used index %u, not %u", vq_used_idx(&q->vq), nbufs);
	for (i = 0; i < nbufs; i++) {
		ASSERT_EQ(1, vq_get(&q->vq, &u));
		EXPECT_EQ(ids[i], u.id);
		EXPECT_EQ(3, u.len);
		memcpy(got + k, bufs + i * 4, 3);
		k += 3;
	}
	memcpy(&nb, got + NDP_NUMBUF_OFF, sizeof(nb));
	EXPECT_EQ(nbufs, nb);
	EXPECT_EQ(0, memcmp(got + NDP_HDR_LEN, f, 60));
	EXPECT_TRUE(ndp_pair_quiet(self->nh->p, NULL));
	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, a, NH_FRAMES, 0));
	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, b, NH_FRAMES, NH_FRAMES));
}

/* A socket that drops: ENOBUFS while poll() says writable */

/* utime + stime of thread @dir/@name if it is kvio-@owner, else -1 */
static long nh_thread_ticks(const char *dir, const char *name, int owner)
{
	char path[320], line[1024], want[32], *p;
	unsigned long ut, st;
	FILE *fp;

	snprintf(want, sizeof(want), "kvio-%d\n", owner);
	snprintf(path, sizeof(path), "%s/%s/comm", dir, name);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	if (!p || strcmp(line, want))
		return -1;
	snprintf(path, sizeof(path), "%s/%s/stat", dir, name);
	fp = fopen(path, "r");
	if (!fp)
		return -1;
	p = fgets(line, sizeof(line), fp);
	fclose(fp);
	p = p ? strrchr(line, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return ut + st;
}

/*
 * CPU time of this process's worker, in clock ticks, or -1: a thread of
 * ours (vhost_task) or a kthread, named kvio-PID.
 */
static long nh_worker_ticks(void)
{
	static const char * const dirs[] = { "/proc/self/task", "/proc" };
	struct dirent *de;
	long t = -1;
	unsigned int i;
	DIR *d;

	for (i = 0; i < 2 && t < 0; i++) {
		d = opendir(dirs[i]);
		while (d && t < 0 && (de = readdir(d)))
			t = nh_thread_ticks(dirs[i], de->d_name, getpid());
		if (d)
			closedir(d);
	}
	return t;
}

FIXTURE(drop) {
	struct nh *nh;
};

FIXTURE_SETUP(drop)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->nh = nh_new(_metadata);
	ASSERT_EQ(0, nh_packet_backend(self->nh, 1))
		TH_LOG("veth, pfifo limit 0 and a packet socket backend");
}

FIXTURE_TEARDOWN(drop)
{
	nh_free(self->nh);
}

/*
 * Every frame is taken and comes back (the qdisc dropped it, as a NIC
 * drops), and the worker sleeps afterwards instead of retrying.
 */
TEST_F_TIMEOUT(drop, enobufs, 120)
{
	struct ndp *a = &self->nh->p->dev[0], *b = &self->nh->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_TX];
	unsigned int i, serial, n = 64;
	long t0, t1, tck = sysconf(_SC_CLK_TCK);
	struct ndp_chain ch;
	__u32 len;

	for (i = 0; i < n; i++) {
		ndp_tx_fill(a, q->posted, &ch);
		ndp_post(a, q, &ch);
	}
	ASSERT_EQ(0, ndp_kick_now(q));
	for (i = 0; i < n; i++)
		ASSERT_EQ(1, nh_used(a, q, &serial, &len))
			TH_LOG("%u of %u frames came back", i, n);
	t0 = nh_worker_ticks();
	ASSERT_LE(0, t0) TH_LOG("no worker thread kvio-%d", getpid());
	sleep(1);
	t1 = nh_worker_ticks();
	EXPECT_GT(tck / 10, t1 - t0)
		TH_LOG("the worker used %ld of %ld ticks in the second after",
		       t1 - t0, tck);
	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, b, NH_FRAMES, NH_FRAMES));
	EXPECT_TRUE(ndp_pair_quiet(self->nh->p, NULL));
}

/* A VMM whose ioctl argument faults: userfaultfd */

struct nh_ioctl {
	int dev;
	void *arg;
	long ret;
	int err;
};

static void *nh_ioctl_thread(void *p)
{
	struct nh_ioctl *io = p;

	io->ret = ioctl(io->dev, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, io->arg);
	io->err = errno;
	return NULL;
}

/*
 * VHOST_SET_VRING_BUSYLOOP_TIMEOUT on dev[0]'s RX ring with its argument
 * across a page boundary, the second page missing under userfaultfd (as
 * guest memory is during post-copy migration): the ioctl waits, and
 * meanwhile that ring and every other ring of the owner move frames.
 */
TEST_F_TIMEOUT(pair, ioctl_fault, 120)
{
	struct ndp *a = &self->nh->p->dev[0], *b = &self->nh->p->dev[1];
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { .range.len = NDP_PAGE };
	struct nh_ioctl io = { .dev = a->dev };
	struct pollfd pf = { .events = POLLIN };
	struct vhost_vring_state *s;
	pthread_t th;
	char *m;
	int uffd;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	m = mmap(NULL, 2 * NDP_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	m[0] = 0;
	reg.range.start = (unsigned long)m + NDP_PAGE;
	reg.range.len = NDP_PAGE;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	/* .index in the first page, .num in the missing one */
	s = (void *)(m + NDP_PAGE - sizeof(s->index));
	s->index = NDP_RX;
	io.arg = s;
	ASSERT_EQ(0, pthread_create(&th, NULL, nh_ioctl_thread, &io));
	pf.fd = uffd;
	ASSERT_EQ(1, poll(&pf, 1, NH_WAIT_MS)) TH_LOG("the ioctl did not fault");

	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, a, NH_FRAMES, NH_FRAMES))
		TH_LOG("the faulting ioctl held the device's rings");
	EXPECT_EQ(0, ndp_pair_traffic(self->nh->p, b, NH_FRAMES, NH_FRAMES))
		TH_LOG("the faulting ioctl held the owner's worker");

	zero.range.start = reg.range.start;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	pthread_join(th, NULL);
	EXPECT_EQ(0, io.ret) TH_LOG("the ioctl: %s", strerror(io.err));
	close(uffd);
	munmap(m, 2 * NDP_PAGE);
}

/* The dirty log: the used flags written when a ring starts */

/*
 * Attaching a backend writes the used ring's flags; with the log on, that
 * write is logged as every other device write is (and as upstream does).
 */
TEST_F_TIMEOUT(pair, log_used_flags, 120)
{
	struct ndp *a = &self->nh->p->dev[0];
	struct ndp_vq *q = &a->vq[NDP_TX];
	unsigned int pfn = q->used_gpa / NDP_PAGE;

	ndp_enable_log(a);
	ASSERT_TRUE(ndp_pair_ok(self->nh->p));
	ASSERT_EQ(0, nh_backend(a, NDP_TX, -1));
	memset(a->log, 0, NDP_PAGE);
	ASSERT_EQ(0, nh_backend(a, NDP_TX, a->backend));
	EXPECT_TRUE(a->log[pfn / 8] & (1 << pfn % 8))
		TH_LOG("the used ring's page %#x is not marked", pfn);
}

/*
 * The device IOTLB under a hostile VMM: both devices acked
 * ACCESS_PLATFORM, their misses served a page at a time as QEMU serves
 * them (ndp_iotlb_serve()).
 */
FIXTURE(iotlb) {
	struct ndp_pair *p;
};

FIXTURE_SETUP(iotlb)
{
	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	self->p = ndp_pair_new(256, NDP_F_QEMU | NDP_F_AP, 2048);
	ASSERT_NE(NULL, self->p);
	ASSERT_EQ(0, ndp_pair_traffic(self->p, &self->p->dev[0], 8, 8));
	ASSERT_EQ(0, ndp_pair_traffic(self->p, &self->p->dev[1], 8, 8));
}

FIXTURE_TEARDOWN(iotlb)
{
	ndp_pair_free(self->p);
}

/*
 * Every translation dropped, then a thousand kicks the VMM does not
 * answer: the device queues one miss per ring, not one per kick; the
 * other device sharing the worker goes on, and the first one too once
 * its misses are served.
 */
TEST_F_TIMEOUT(iotlb, miss_flood, 120)
{
	struct ndp *a = &self->p->dev[0], *b = &self->p->dev[1];
	struct vhost_msg_v2 m;
	unsigned int i, n = 0;

	ASSERT_EQ(sizeof(m),
		  ndp_iotlb_write(a, VHOST_IOTLB_INVALIDATE, 0, ~0ULL, 0, 0));
	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(0, ndp_kick_now(&a->vq[NDP_TX]));
		ASSERT_EQ(0, ndp_kick_now(&a->vq[NDP_RX]));
	}
	usleep(500 * 1000);
	/* ndp_setup() left the device non-blocking. */
	while (read(a->dev, &m, sizeof(m)) == sizeof(m)) {
		EXPECT_EQ(VHOST_IOTLB_MISS, m.iotlb.type);
		n++;
		ASSERT_GE(2, n) TH_LOG("more than one miss per ring queued");
	}
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_LE(1, n);
	EXPECT_EQ(0, ndp_pair_traffic(self->p, b, 32, 32));
	EXPECT_EQ(0, ndp_pair_traffic(self->p, a, 32, 32));
	EXPECT_TRUE(ndp_pair_quiet(self->p, NULL));
}

/*
 * The VMM maps a ring's descriptors to memory it does not have: that
 * ring breaks, nothing else does.
 */
TEST_F_TIMEOUT(iotlb, ring_in_hole, 120)
{
	struct ndp *a = &self->p->dev[0], *b = &self->p->dev[1];
	struct ndp_vq *q = &a->vq[NDP_TX];
	__u64 desc = q->vq.gpa;
	struct ndp_chain ch;

	ASSERT_EQ(sizeof(struct vhost_msg_v2),
		  ndp_iotlb_write(a, VHOST_IOTLB_INVALIDATE, desc, 1, 0, 0));
	ASSERT_EQ(sizeof(struct vhost_msg_v2),
		  ndp_iotlb_write(a, VHOST_IOTLB_UPDATE, desc, 4096,
				  (unsigned long)kvio_hole(&self->p->c),
				  VHOST_ACCESS_RW));
	ndp_tx_fill(a, q->posted, &ch);
	ndp_post(a, q, &ch);
	ASSERT_EQ(0, ndp_kick_now(q));
	EXPECT_NE(0, ndp_wait_efd(q->err, NH_WAIT_MS))
		TH_LOG("the ring did not break");
	EXPECT_EQ(0, ndp_pair_traffic(self->p, b, 32, 32));
	EXPECT_TRUE(ndp_pair_quiet(self->p, q));
}

/*
 * Five thousand translations, more than a device holds: the oldest go,
 * the rings ask again for what they need, traffic goes on.
 */
TEST_F_TIMEOUT(iotlb, table_full, 120)
{
	struct ndp *a = &self->p->dev[0];
	unsigned int i;

	for (i = 0; i < 5000; i++)
		ASSERT_EQ(sizeof(struct vhost_msg_v2),
			  ndp_iotlb_write(a, VHOST_IOTLB_UPDATE,
					  0x7000000000ULL + i * 4096ULL, 4096,
					  (unsigned long)a->mem,
					  VHOST_ACCESS_RW));
	EXPECT_EQ(0, ndp_pair_traffic(self->p, a, 64, 64));
	EXPECT_TRUE(ndp_pair_quiet(self->p, NULL));
}

TEST_HARNESS_MAIN
