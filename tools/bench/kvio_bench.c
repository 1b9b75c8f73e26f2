// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_bench DEV MODE [--size BYTES] [--secs S] [--count N] [--devices N]
 *	      [--owners N] [--ring N] [--batch N]
 *
 * A packet rate and latency benchmark for a vhost-net device (the
 * upstream /dev/vhost-net or kvio's /dev/kvio-net).  The program is both
 * the VMM, which sets the device up through the vhost uAPI with a tap
 * backend (kvb<N>), and the guest's virtio-net driver, which moves frames
 * through rings in "guest memory" it maps itself (selftests/kvio/lib/vq.c,
 * the selftests' virtqueue library).
 *
 * tx        the guest keeps the TX ring full of --size byte frames for
 *           --secs (default 5) and counts the used entries; --devices N
 *           devices in one owner process (one thread each), --owners N
 *           owner processes (one VM each)
 * rx        a packet socket on the tap sends as fast as it can, the
 *           guest keeps the RX ring full and counts what arrives
 * pingpong  one frame in flight, echoed by a packet socket on the tap;
 *           the guest sleeps on the call eventfd; --count round trips
 *           (default 2000) after 100 not recorded; the driver, the echo
 *           thread and the device's worker share one CPU
 *
 * --ring is the ring size (default 256), --batch the buffers published
 * at once (one avail index update, or one packed head's flags) and the
 * frames per sendmmsg() (default 32).  --vq split|packed|in_order|
 * packed_in_order says which rings the driver negotiates (default split:
 * VIRTIO_F_RING_PACKED and VIRTIO_F_IN_ORDER off); a device that does not
 * offer what is asked is an error.  RESULT lines then say vq=.
 * --iotlb warm acks VIRTIO_F_ACCESS_PLATFORM too and puts guest memory in
 * the device IOTLB before the rings start (at its user and its
 * guest-physical addresses, one entry each): IOVA translation with no
 * miss while measuring.  --iotlb pages maps the rings' pages one entry
 * each, the buffers in one.
 * --pin says where the threads run: "split" puts the device's worker on
 * CPU 1 and the driver (and the rx sender, the pingpong echo) on CPU 0,
 * "same" all of them on the CPU the program started on, "none" leaves
 * them to the scheduler.  Default: split for tx and rx with one device,
 * same for pingpong, none with several devices.
 * --insn-id N brackets the measurement (the RUN phase; for pingpong, all
 * round trips) with the markers of window N of the kvio_insn TCG plugin
 * (tools/bench/kvio_insn.h): under QEMU with the plugin, the guest's
 * instructions in it are counted; RESULT lines then say insn_id= and
 * pkts=, the frames (round trips) the window saw.
 * Results go to stdout as "RESULT key=value ..." lines, errors to stderr
 * with a non-zero exit status; a global deadline (alarm()) turns a device
 * that stops responding into an error instead of a hang.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "kvio_insn.h"
#include "vq.h"

#define GPA_BASE	0x100000ULL	/* guest-physical address of the memory */
#define BUF_SZ		2048u		/* one buffer per descriptor */
#define ETH_P_BENCH	0x88b5		/* IEEE local experimental */
#define MIN_FRAME	60u
#define MAX_FRAME	1514u		/* the tap's MTU plus the header */
#define MAX_DEVS	64
#define MAX_BATCH	256
#define WARMUP_RT	100		/* pingpong round trips not recorded */
#define WARM_MS		500		/* traffic before the measurement */
#define DRAIN_MS	500		/* rx: what the tap still holds arrives */
#define STALL_MS	5000		/* no used entry for that long: stuck */
#define ECHO_MS		2000		/* pingpong: no echo for that long */
#define Q_RX		0
#define Q_TX		1
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum mode { M_TX, M_RX, M_PINGPONG };
enum vq_mode { VQ_SPLIT, VQ_PACKED, VQ_IN_ORDER, VQ_PACKED_IN_ORDER };
enum pin_mode { PIN_DEFAULT, PIN_NONE, PIN_SAME, PIN_SPLIT };

static const char * const vq_mode_name[] = {
	"split", "packed", "in_order", "packed_in_order",
};

/* Phases of a tx or rx run, set by the controller, followed by drivers. */
enum phase { PH_SETUP, PH_WARM, PH_RUN, PH_STOP, PH_EXIT };

struct opts {
	const char *dev;
	const char *name;	/* basename of dev */
	char prefix[32];	/* worker thread names start with this */
	enum mode mode;
	enum pin_mode pin;
	enum vq_mode vq;
	unsigned int size, secs, count, devices, owners, ring, batch;
	int iotlb;		/* --iotlb: 1 warm, 2 pages (0: none) */
	int insn_id;		/* kvio_insn window, -1: none */
};

/* One device's counters, stored by its driver at the end. */
struct slot {
	__u64 run;		/* used entries (tx) or good frames (rx) in RUN */
	__u64 total;		/* the same over the whole run */
	__u64 kicks;		/* kicks in RUN */
	__u64 wire;		/* tx: frames the tap took; rx: frames it took */
	__u64 sent_run;		/* rx: frames sent in RUN */
	__u64 bad;		/* rx: frames that are not ours */
	__u64 tap_drops;	/* rx: frames the tap refused: its ring was full */
	int vq_err;		/* the device signalled an error eventfd */
};

/*
 * Shared with the owner processes (MAP_SHARED before fork), so that the
 * same code runs with threads in one process or with one process a VM.
 */
struct shared {
	int phase;
	int ready;		/* drivers done with their setup */
	int failed;
	struct slot slot[MAX_DEVS];
};

/* The driver's view of a virtqueue: lib/vq.c's, and the buffers. */
struct bq {
	struct vq vq;
	__u8 *buf;		/* buffer k: buf + k * BUF_SZ */
	__u16 *free;		/* buffers the driver may post */
	unsigned int nfree;
	__u16 *by_id;		/* per vq id: the buffer it carries */
	__u64 kicks;
	int kick, call, err;
};

struct bdev {
	int index;		/* slot, and the tap's name kvb<index> */
	int fd, tap;
	char ifname[IFNAMSIZ];
	__u8 *mem;
	size_t mem_size;
	__u64 features;
	unsigned int hdr_len;
	__u64 tap_stat0;	/* a tap counter before the traffic */
	struct bq vq[2];
};

struct wstat {
	unsigned int threads;
	__u64 ns;
};

static struct opts opt = {
	.size = 64, .secs = 5, .count = 2000, .devices = 1, .owners = 1,
	.ring = 256, .batch = 32, .insn_id = -1,
};

/* The kvio_insn markers: no-ops unless --insn-id made them. */
static struct kvio_insn insn;

static void insn_nop(void)
{
}

static struct shared *sh;

static void pin_split(void);
static pid_t children[MAX_DEVS];
static int nchildren;
static pthread_t threads[MAX_DEVS];
static int nthreads;

static const __u8 guest_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
static const __u8 other_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };

/* A parent that dies must not leave owner processes behind. */
static void kill_children(void)
{
	int i;

	for (i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
}

/*
 * Ends the whole run: the others see the failure and leave quietly
 * (die_quiet()), once the message is out in one piece.
 */
static noreturn void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "kvio_bench: %s: ",
		     opt.name ? opt.name : "");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	fputs(msg, stderr);
	if (sh)
		__atomic_store_n(&sh->failed, 1, __ATOMIC_SEQ_CST);
	kill_children();
	_exit(1);
}

static noreturn void die_quiet(void)
{
	kill_children();
	_exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"kvio_bench: deadline passed: the device stopped responding\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	kill_children();
	_exit(1);
}

/* The global deadline: whatever hangs, the process ends with an error. */
static void arm_deadline(unsigned int secs)
{
	signal(SIGALRM, on_alarm);
	alarm(secs);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int phase(void)
{
	return __atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE);
}

static void set_phase(int ph)
{
	__atomic_store_n(&sh->phase, ph, __ATOMIC_RELEASE);
}

static int failed(void)
{
	return __atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE);
}

/* Drivers wait for the others before they send, and for the end. */
static void wait_phase(int ph)
{
	while (phase() < ph) {
		if (failed())
			die_quiet();
		sleep_ms(1);
	}
}

static int has(const struct bdev *d, unsigned int bit)
{
	return !!(d->features & (1ULL << bit));
}

static void xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg))
		die("%s: %s", what, strerror(errno));
}

static int xeventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	return fd;
}

static __u64 read_efd(int fd)
{
	__u64 v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Host side: the tap */

static __u64 read_u64_file(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/*
 * The tap's counters: rx_packets, what it passed from the device to the
 * host stack; tx_dropped, what it dropped on the way to the device.
 */
static __u64 tap_stat(const struct bdev *d, const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s",
		 d->ifname, name);
	return read_u64_file(path);
}

/* No IPv6: the stack would send router solicitations into the guest. */
static void no_ipv6(const char *ifname)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

static void if_up(const char *ifname)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	xioctl(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	xioctl(s, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS");
	close(s);
}

/*
 * A packet socket bound to a link that does not run yet keeps ENETDOWN
 * pending, and the qdisc drops what is sent: wait for IFF_RUNNING.
 */
static void if_wait_running(const char *ifname)
{
	__u64 end = now_ns() + 3000000000ULL;
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	for (;;) {
		xioctl(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS");
		if (ifr.ifr_flags & IFF_RUNNING)
			break;
		if (now_ns() > end)
			die("%s does not run", ifname);
		sleep_ms(1);
	}
	close(s);
}

/*
 * Without VHOST_NET_F_VIRTIO_NET_HDR the device leaves the virtio-net
 * header to the tap, which must then use the guest's header size; no
 * offloads, as QEMU sets it up for a guest that negotiated none.
 */
static void tap_open(struct bdev *d)
{
	int sz = d->hdr_len;
	struct ifreq ifr;

	d->tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (d->tap < 0)
		die("/dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "kvb%d", d->index);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	xioctl(d->tap, TUNSETIFF, &ifr, "TUNSETIFF");
	snprintf(d->ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	xioctl(d->tap, TUNSETVNETHDRSZ, &sz, "TUNSETVNETHDRSZ");
	if (ioctl(d->tap, TUNSETOFFLOAD, 0))
		die("TUNSETOFFLOAD: %s", strerror(errno));
	no_ipv6(d->ifname);
	if_up(d->ifname);
}

/* A packet socket on the tap's host side; proto 0: it only sends. */
static int packet_socket(const struct bdev *d, int proto)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = (int)if_nametoindex(d->ifname),
	};
	int s;

	if_wait_running(d->ifname);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(proto));
	if (s < 0 || bind(s, (struct sockaddr *)&ll, sizeof(ll)))
		die("packet socket on %s: %s", d->ifname, strerror(errno));
	return s;
}

/* Guest memory and rings */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static int vq_packed(void)
{
	return opt.vq == VQ_PACKED || opt.vq == VQ_PACKED_IN_ORDER;
}

static int vq_in_order(void)
{
	return opt.vq == VQ_IN_ORDER || opt.vq == VQ_PACKED_IN_ORDER;
}

static struct vq_cfg vq_cfg(void)
{
	struct vq_cfg c = {
		.num = opt.ring, .packed = vq_packed(),
		.in_order = vq_in_order(),
	};

	return c;
}

/* A queue's descriptors, avail and used rings (lib/vq.c) */
static size_t ring_bytes(void)
{
	struct vq_cfg c = vq_cfg();

	return vq_layout(&c, NULL);
}

static __u64 gpa(const struct bdev *d, const void *p)
{
	return GPA_BASE + (__u64)((const __u8 *)p - d->mem);
}

/* Rings first (both queues), then num buffers per queue. */
static void mem_map(struct bdev *d)
{
	size_t rings = ring_bytes();

	d->mem_size = align_up(2 * rings + 2 * (size_t)opt.ring * BUF_SZ,
			       2 << 20);
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (d->mem == MAP_FAILED)
		die("mmap %zu: %s", d->mem_size, strerror(errno));
}

static void mem_table(struct bdev *d)
{
	union {
		struct vhost_memory m;
		__u8 raw[sizeof(struct vhost_memory) +
			 sizeof(struct vhost_memory_region)];
	} t;

	memset(&t, 0, sizeof(t));
	t.m.nregions = 1;
	t.m.regions[0].guest_phys_addr = GPA_BASE;
	t.m.regions[0].memory_size = d->mem_size;
	t.m.regions[0].userspace_addr = (unsigned long)d->mem;
	xioctl(d->fd, VHOST_SET_MEM_TABLE, &t.m, "VHOST_SET_MEM_TABLE");
}

/*
 * The rings, and a buffer pool per queue: posting takes a buffer from the
 * pool, whichever descriptor or id the ring gives it.  TX buffers hold a
 * zero header and the frame, ready to go; RX buffers are device-writable.
 */
static void vq_layout_at(struct bdev *d, unsigned int i)
{
	size_t rings = ring_bytes();
	struct bq *q = &d->vq[i];
	struct vq_cfg c = vq_cfg();
	unsigned int k;

	if (vq_init(&q->vq, &c, d->mem + i * rings, gpa(d, d->mem + i * rings)))
		die("vq_init: ring of %u", opt.ring);
	q->buf = d->mem + 2 * rings + (size_t)i * opt.ring * BUF_SZ;
	q->free = calloc(opt.ring, sizeof(*q->free));
	q->by_id = calloc(opt.ring, sizeof(*q->by_id));
	if (!q->free || !q->by_id)
		die("calloc: %s", strerror(errno));
	for (k = 0; k < opt.ring; k++)
		q->free[k] = opt.ring - 1 - k;
	q->nfree = opt.ring;
}

static void vq_set_fd(struct bdev *d, unsigned long req, unsigned int i,
		      int fd, const char *what)
{
	struct vhost_vring_file f = { .index = i, .fd = fd };

	xioctl(d->fd, req, &f, what);
}

static void vq_setup(struct bdev *d, unsigned int i)
{
	struct vhost_vring_state s = { .index = i, .num = opt.ring };
	struct bq *q = &d->vq[i];
	struct vhost_vring_addr a;

	vq_addr(&q->vq, i, &a);
	xioctl(d->fd, VHOST_SET_VRING_NUM, &s, "VHOST_SET_VRING_NUM");
	s.num = vq_base(&q->vq);
	xioctl(d->fd, VHOST_SET_VRING_BASE, &s, "VHOST_SET_VRING_BASE");
	xioctl(d->fd, VHOST_SET_VRING_ADDR, &a, "VHOST_SET_VRING_ADDR");
	q->kick = xeventfd();
	q->call = xeventfd();
	q->err = xeventfd();
	vq_set_fd(d, VHOST_SET_VRING_KICK, i, q->kick, "VHOST_SET_VRING_KICK");
	vq_set_fd(d, VHOST_SET_VRING_CALL, i, q->call, "VHOST_SET_VRING_CALL");
	vq_set_fd(d, VHOST_SET_VRING_ERR, i, q->err, "VHOST_SET_VRING_ERR");
}

/*
 * Takes what the device offers of VERSION_1 and MRG_RXBUF; the ring
 * format --vq asks for it must offer.
 */
static void dev_features(struct bdev *d)
{
	__u64 want = (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_NET_F_MRG_RXBUF);
	__u64 ring = (vq_packed() ? 1ULL << VIRTIO_F_RING_PACKED : 0) |
		     (vq_in_order() ? 1ULL << VIRTIO_F_IN_ORDER : 0) |
		     (opt.iotlb ? 1ULL << VIRTIO_F_ACCESS_PLATFORM : 0);
	__u64 offered, v2 = 1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2;

	if (opt.iotlb)
		xioctl(d->fd, VHOST_SET_BACKEND_FEATURES, &v2,
		       "VHOST_SET_BACKEND_FEATURES");
	xioctl(d->fd, VHOST_GET_FEATURES, &offered, "VHOST_GET_FEATURES");
	if ((offered & ring) != ring)
		die("%s does not offer %s rings (features %#llx)", opt.dev,
		    vq_mode_name[opt.vq], (unsigned long long)offered);
	d->features = (offered & want) | ring;
	xioctl(d->fd, VHOST_SET_FEATURES, &d->features, "VHOST_SET_FEATURES");
	/* the header without num_buffers only for a legacy device */
	d->hdr_len = d->features ? 12 : 10;
}

static void frame_fill(__u8 *f, const __u8 *dst, const __u8 *src,
		       unsigned int seq)
{
	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	f[12] = ETH_P_BENCH >> 8;
	f[13] = ETH_P_BENCH & 0xff;
	memset(f + 14, 0, opt.size - 14);
	memcpy(f + 14, &seq, sizeof(seq));
}

static void tx_frames_fill(struct bdev *d)
{
	struct bq *q = &d->vq[Q_TX];
	unsigned int k;

	for (k = 0; k < opt.ring; k++)
		frame_fill(q->buf + (size_t)k * BUF_SZ + d->hdr_len,
			   other_mac, guest_mac, k);
}

static void set_backend(struct bdev *d, int fd)
{
	vq_set_fd(d, VHOST_NET_SET_BACKEND, Q_RX, fd, "VHOST_NET_SET_BACKEND");
	vq_set_fd(d, VHOST_NET_SET_BACKEND, Q_TX, fd, "VHOST_NET_SET_BACKEND");
}

/* Guest memory [off, off + size) at IOVA @base + @off. */
static void iotlb_update(struct bdev *d, __u64 base, size_t off, size_t size)
{
	struct vhost_msg_v2 m = { .type = VHOST_IOTLB_MSG_V2 };

	m.iotlb.type = VHOST_IOTLB_UPDATE;
	m.iotlb.iova = base + off;
	m.iotlb.size = size;
	m.iotlb.uaddr = (unsigned long)d->mem + off;
	m.iotlb.perm = VHOST_ACCESS_RW;
	if (write(d->fd, &m, sizeof(m)) != sizeof(m))
		die("IOTLB update: %s", strerror(errno));
}

/*
 * --iotlb: guest memory in the device IOTLB at its user addresses, which
 * the rings are given, and at its guest-physical ones, which the
 * descriptors carry, before the rings start, so that the device never
 * misses.  warm: one entry per view.  pages: the rings' pages one entry
 * each, as a vIOMMU mapping 4 KiB pages gives them (a ring area larger
 * than a page then spans entries), the buffers one entry.
 */
static void iotlb_warm(struct bdev *d)
{
	const __u64 base[2] = { (unsigned long)d->mem, GPA_BASE };
	size_t rings = opt.iotlb == 2 ? align_up(2 * ring_bytes(), 4096) : 0;
	size_t off;
	unsigned int v;

	for (v = 0; v < 2; v++) {
		for (off = 0; off < rings; off += 4096)
			iotlb_update(d, base[v], off, 4096);
		iotlb_update(d, base[v], rings, d->mem_size - rings);
	}
}

/* What a VMM does for a vhost-net tap netdev, up to the backend. */
static void dev_setup(struct bdev *d, int index)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	d->fd = open(opt.dev, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		die("open %s: %s", opt.dev, strerror(errno));
	xioctl(d->fd, VHOST_SET_OWNER, NULL, "VHOST_SET_OWNER");
	dev_features(d);
	mem_map(d);
	mem_table(d);
	if (opt.iotlb)
		iotlb_warm(d);
	vq_layout_at(d, Q_RX);
	vq_layout_at(d, Q_TX);
	tx_frames_fill(d);
	/* the driver polls the used rings: no calls wanted by default */
	vq_disarm(&d->vq[Q_RX].vq);
	vq_disarm(&d->vq[Q_TX].vq);
	vq_setup(d, Q_RX);
	vq_setup(d, Q_TX);
	tap_open(d);
}

static int vq_err_fired(struct bdev *d)
{
	return read_efd(d->vq[Q_RX].err) || read_efd(d->vq[Q_TX].err);
}

/* Closing the device first stops its worker before the rings go away. */
static void dev_close(struct bdev *d)
{
	unsigned int i;

	close(d->fd);
	close(d->tap);
	for (i = 0; i < 2; i++) {
		close(d->vq[i].kick);
		close(d->vq[i].call);
		close(d->vq[i].err);
		free(d->vq[i].free);
		free(d->vq[i].by_id);
		vq_fini(&d->vq[i].vq);
	}
	munmap(d->mem, d->mem_size);
}

/* The driver */

/* The driver's half of notification suppression. */
static void vq_notify(struct bq *q)
{
	__u64 one = 1;

	if (!vq_kick_needed(&q->vq))
		return;
	if (write(q->kick, &one, sizeof(one)) != sizeof(one))
		die("kick: %s", strerror(errno));
	q->kicks++;
}

/* Kicks if the device asks; counts the kicks of the measurement. */
static void vq_notify_counted(struct bq *q, struct slot *sl, int ph)
{
	__u64 before = q->kicks;

	vq_notify(q);
	if (ph == PH_RUN)
		sl->kicks += q->kicks - before;
}

/* Posts up to max free buffers, published at once; returns how many. */
static unsigned int vq_post(struct bdev *d, struct bq *q, unsigned int max)
{
	int rx = q == &d->vq[Q_RX], id;
	unsigned int n = 0, k;
	struct vq_buf b;

	while (n < max && q->nfree) {
		k = q->free[q->nfree - 1];
		b.gpa = gpa(d, q->buf + (size_t)k * BUF_SZ);
		b.len = rx ? BUF_SZ : d->hdr_len + opt.size;
		id = vq_stage(&q->vq, &b, !rx, rx, false);
		if (id < 0)
			die("vq_stage: %s", strerror(-id));
		q->by_id[id] = k;
		q->nfree--;
		n++;
	}
	vq_publish(&q->vq);
	return n;
}

static int rx_frame_ok(const struct bdev *d, const __u8 *b, __u32 len)
{
	const __u8 *f = b + d->hdr_len;

	if (len != d->hdr_len + opt.size)
		return 0;
	if (has(d, VIRTIO_NET_F_MRG_RXBUF) && (b[10] | b[11] << 8) != 1)
		return 0;
	return f[12] == ETH_P_BENCH >> 8 && f[13] == (ETH_P_BENCH & 0xff);
}

/* Takes one used buffer back into the pool: 1, or 0 if there is none. */
static int vq_take(struct bq *q, unsigned int *k, __u32 *len)
{
	struct vq_used u;
	int r = vq_get(&q->vq, &u);

	if (r < 0)
		die("used entry with id %u: not a buffer in flight", u.id);
	if (!r)
		return 0;
	*k = q->by_id[u.id];
	*len = u.len;
	q->free[q->nfree++] = *k;
	return 1;
}

/*
 * Takes the used entries there are, gives their buffers back to the
 * pool; returns how many, and in *bad the RX frames not ours.
 */
static unsigned int vq_reap(struct bdev *d, struct bq *q, __u64 *bad)
{
	unsigned int n = 0, k;
	__u32 len;

	while (vq_take(q, &k, &len)) {
		if (bad && !rx_frame_ok(d, q->buf + (size_t)k * BUF_SZ, len))
			(*bad)++;
		n++;
	}
	return n;
}

/*
 * The driver has its CPU to itself (tx, one device, --pin split): it
 * waits in user space, so that the kernel instructions of a measurement
 * (kvio_insn) do not grow with the time it waited.  Else it yields.
 */
static int wait_in_user;

static void idle_wait(void)
{
	unsigned int i;

	if (!wait_in_user) {
		sched_yield();
		return;
	}
	for (i = 0; i < 64; i++)
		__builtin_ia32_pause();
}

/* Waits for the device's used entries without burning the CPU it needs. */
static void stall_check(__u64 *since, int progress, const char *what)
{
	__u64 now = now_ns();

	if (progress || !*since) {
		*since = now;
		return;
	}
	if (now - *since > STALL_MS * 1000000ULL)
		die("%s: no used entry for %d ms", what, STALL_MS);
	idle_wait();
}

/* After the run: every frame posted must come back. */
static void tx_drain(struct bdev *d, struct slot *sl)
{
	struct bq *q = &d->vq[Q_TX];
	__u64 since = 0;
	unsigned int n;

	while (vq_pending(&q->vq)) {
		n = vq_reap(d, q, NULL);
		sl->total += n;
		stall_check(&since, n, "tx drain");
	}
}

/* The device stops at the avail index the driver stopped at. */
static void check_base(struct bdev *d, unsigned int i)
{
	struct vhost_vring_state s = { .index = i };

	__u32 want = vq_base(&d->vq[i].vq);

	xioctl(d->fd, VHOST_GET_VRING_BASE, &s, "VHOST_GET_VRING_BASE");
	if ((vq_packed() ? s.num : (__u16)s.num) != want)
		die("queue %u stopped at %#x, the driver saw %#x used", i, s.num,
		    want);
}

static void tx_run(struct bdev *d, struct slot *sl)
{
	struct bq *q = &d->vq[Q_TX];
	unsigned int n, posted;
	__u64 since = 0;
	int ph;

	while ((ph = phase()) < PH_STOP) {
		n = vq_reap(d, q, NULL);
		sl->total += n;
		if (ph == PH_RUN)
			sl->run += n;
		posted = vq_post(d, q, opt.batch);
		if (posted)
			vq_notify_counted(q, sl, ph);
		if (!n && !posted)
			stall_check(&since, 0, "tx");
		else
			since = 0;
	}
}

/* Counters are local until the end: slots of drivers share cache lines. */
static void *tx_driver(void *arg)
{
	int index = (int)(long)arg;
	struct slot sl = { 0 };
	struct bdev d;

	dev_setup(&d, index);
	if (opt.pin == PIN_SPLIT)
		pin_split();
	set_backend(&d, d.tap);
	d.tap_stat0 = tap_stat(&d, "rx_packets");
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	wait_phase(PH_WARM);
	tx_run(&d, &sl);
	tx_drain(&d, &sl);
	wait_phase(PH_EXIT);
	set_backend(&d, -1);
	check_base(&d, Q_TX);
	sl.wire = tap_stat(&d, "rx_packets") - d.tap_stat0;
	sl.vq_err = vq_err_fired(&d);
	sh->slot[index] = sl;
	dev_close(&d);
	return NULL;
}

/* rx: the sender on the tap's host side */

struct sender {
	struct bdev *d;
	pthread_t thread;
	__u64 sent, sent_run;	/* frames the tap took */
};

/* batch messages, all the same frame, to the guest's MAC */
static struct mmsghdr *sender_msgs(struct sockaddr_ll *ll)
{
	static struct mmsghdr msg[MAX_BATCH];
	static __u8 frame[MAX_FRAME];
	static struct iovec iov;
	unsigned int i;

	memcpy(ll->sll_addr, guest_mac, ETH_ALEN);
	frame_fill(frame, guest_mac, other_mac, 0);
	iov.iov_base = frame;
	iov.iov_len = opt.size;
	for (i = 0; i < opt.batch; i++) {
		msg[i].msg_hdr.msg_name = ll;
		msg[i].msg_hdr.msg_namelen = sizeof(*ll);
		msg[i].msg_hdr.msg_iov = &iov;
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	return msg;
}

static void *sender_run(void *arg)
{
	struct sender *s = arg;
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_BENCH),
		.sll_ifindex = (int)if_nametoindex(s->d->ifname),
		.sll_halen = ETH_ALEN,
	};
	struct mmsghdr *msg = sender_msgs(&ll);
	int fd = packet_socket(s->d, 0), one = 1, ph, n;
	__u64 sent = 0, sent_run = 0;

	/* straight to the tap's xmit: the qdisc is not what is measured */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	wait_phase(PH_WARM);
	while ((ph = phase()) < PH_STOP) {
		/*
		 * A frame the tap has no room for is dropped there and
		 * refused (ENOBUFS): counted by the tap's tx_dropped only.
		 */
		n = sendmmsg(fd, msg, opt.batch, MSG_DONTWAIT);
		if (n < 0 && errno != ENOBUFS && errno != EAGAIN)
			die("sendmmsg on %s: %s", s->d->ifname, strerror(errno));
		if (n <= 0) {
			sched_yield();
			continue;
		}
		sent += n;
		if (ph == PH_RUN)
			sent_run += n;
	}
	close(fd);
	s->sent = sent;
	s->sent_run = sent_run;
	return NULL;
}

/* Takes the frames received; returns how many there were. */
static unsigned int rx_take(struct bdev *d, struct slot *sl, int ph)
{
	__u64 bad = 0;
	unsigned int n = vq_reap(d, &d->vq[Q_RX], &bad);

	sl->bad += bad;
	sl->total += n - bad;
	if (ph == PH_RUN)
		sl->run += n - bad;
	return n;
}

static void rx_run(struct bdev *d, struct slot *sl)
{
	struct bq *q = &d->vq[Q_RX];
	unsigned int n, posted;
	int ph;

	while ((ph = phase()) < PH_EXIT) {
		n = rx_take(d, sl, ph);
		posted = vq_post(d, q, opt.batch);
		if (posted)
			vq_notify_counted(q, sl, ph);
		if (!n && !posted)
			sched_yield();
	}
}

static void *rx_driver(void *arg)
{
	struct bdev d;
	struct sender s = { .d = &d };
	struct slot sl = { 0 };

	(void)arg;
	dev_setup(&d, 0);
	if (opt.pin == PIN_SPLIT)
		pin_split();
	/* the ring full before the device looks at it */
	vq_post(&d, &d.vq[Q_RX], opt.ring);
	set_backend(&d, d.tap);
	vq_notify(&d.vq[Q_RX]);
	d.tap_stat0 = tap_stat(&d, "tx_dropped");
	if (pthread_create(&s.thread, NULL, sender_run, &s))
		die("pthread_create failed");
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	rx_run(&d, &sl);
	pthread_join(s.thread, NULL);
	set_backend(&d, -1);
	/* what the device used before it stopped */
	rx_take(&d, &sl, PH_EXIT);
	check_base(&d, Q_RX);
	sl.wire = s.sent;
	sl.sent_run = s.sent_run;
	sl.tap_drops = tap_stat(&d, "tx_dropped") - d.tap_stat0;
	sl.vq_err = vq_err_fired(&d);
	sh->slot[0] = sl;
	dev_close(&d);
	return NULL;
}

/* Worker threads: count, CPU time, affinity */

/* Called for each thread whose name starts with the worker prefix. */
typedef void (*worker_fn)(const char *task, const char *comm, void *arg);

static int task_comm(const char *task, char *comm, size_t len)
{
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "%s/comm", task);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(comm, len, f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	return !strncmp(comm, opt.prefix, strlen(opt.prefix));
}

static void workers_of(const char *pid, worker_fn fn, void *arg)
{
	char dir[40], task[64], comm[32];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%.16s/task", pid);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(task, sizeof(task), "%s/%.16s", dir, e->d_name);
		if (task_comm(task, comm, sizeof(comm)))
			fn(task, comm, arg);
	}
	closedir(dp);
}

/* Every thread on the system: a worker may be a kthread or ours. */
static void workers_scan(worker_fn fn, void *arg)
{
	struct dirent *e;
	DIR *dp = opendir("/proc");

	if (!dp)
		die("/proc: %s", strerror(errno));
	while ((e = readdir(dp)))
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			workers_of(e->d_name, fn, arg);
	closedir(dp);
}

static void worker_add(const char *task, const char *comm, void *arg)
{
	struct wstat *w = arg;
	char path[96];

	(void)comm;
	w->threads++;
	/* its first field: nanoseconds on a CPU */
	snprintf(path, sizeof(path), "%s/schedstat", task);
	w->ns += read_u64_file(path);
}

static void workers_sample(struct wstat *w)
{
	memset(w, 0, sizeof(*w));
	workers_scan(worker_add, w);
}

struct pin {
	cpu_set_t set;
	int n;
	pid_t owner;	/* the thread that called VHOST_SET_OWNER */
};

/* Named after the thread that set the owner: <prefix><tid>. */
static void worker_pin(const char *task, const char *comm, void *arg)
{
	const char *tid = strrchr(task, '/') + 1;
	struct pin *p = arg;
	char name[48];

	snprintf(name, sizeof(name), "%s%d", opt.prefix, (int)p->owner);
	if (strcmp(comm, name))
		return;
	if (sched_setaffinity(atoi(tid), sizeof(p->set), &p->set))
		die("pinning %s: %s", comm, strerror(errno));
	p->n++;
}

/*
 * Under TCG a wakeup across vCPUs costs what the host's scheduler makes
 * of it, milliseconds on a busy host, which would drown what the device
 * costs: pingpong keeps the driver, the echo thread and the worker on
 * the CPU it started on.  Before VHOST_SET_OWNER, so that a worker that
 * is a thread of the owner inherits the affinity; a kthread is pinned
 * once there (pin_worker()).
 */
static int pin_self(struct pin *p)
{
	int cpu = sched_getcpu();

	memset(p, 0, sizeof(*p));
	p->owner = gettid();
	CPU_SET(cpu < 0 ? 0 : cpu, &p->set);
	if (sched_setaffinity(0, sizeof(p->set), &p->set))
		die("sched_setaffinity: %s", strerror(errno));
	return cpu < 0 ? 0 : cpu;
}

static void pin_worker(struct pin *p)
{
	workers_scan(worker_pin, p);
	if (!p->n)
		fprintf(stderr, "kvio_bench: %s: no worker %s%d to pin\n",
			opt.name, opt.prefix, (int)p->owner);
}

/*
 * --pin split, after VHOST_SET_OWNER: the worker alone on CPU 1, the
 * calling thread (and the threads it starts later) on CPU 0, so that the
 * device's work has a CPU of its own in every run, whatever the
 * scheduler would have made of three busy threads on two CPUs.
 */
static void pin_split(void)
{
	struct pin p;

	memset(&p, 0, sizeof(p));
	p.owner = gettid();
	CPU_SET(1, &p.set);
	workers_scan(worker_pin, &p);
	if (!p.n)
		die("--pin split: no worker %s%d to pin", opt.prefix,
		    (int)p.owner);
	CPU_ZERO(&p.set);
	CPU_SET(0, &p.set);
	if (sched_setaffinity(0, sizeof(p.set), &p.set))
		die("sched_setaffinity: %s", strerror(errno));
}

/* The controller of a tx or rx run */

static void start_drivers(int first, int n, void *(*fn)(void *))
{
	int i;

	for (i = 0; i < n; i++)
		if (pthread_create(&threads[nthreads++], NULL, fn,
				   (void *)(long)(first + i)))
			die("pthread_create failed");
}

static void join_drivers(void)
{
	while (nthreads)
		pthread_join(threads[--nthreads], NULL);
}

/* One owner process a VM: its devices share its mm (and maybe a worker). */
static void fork_owners(void)
{
	unsigned int o;
	pid_t pid;

	for (o = 0; o < opt.owners; o++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (!pid) {
			nchildren = 0;
			arm_deadline(opt.secs + 60 + 2 * opt.devices);
			start_drivers(o * opt.devices, opt.devices, tx_driver);
			join_drivers();
			_exit(0);
		}
		children[nchildren++] = pid;
	}
}

static int wait_owners(void)
{
	int i, st, ret = 0;

	for (i = 0; i < nchildren; i++) {
		if (waitpid(children[i], &st, 0) < 0 ||
		    !WIFEXITED(st) || WEXITSTATUS(st))
			ret = -1;
	}
	nchildren = 0;
	return ret;
}

static void wait_ready(int n)
{
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < n) {
		if (failed())
			die_quiet();
		sleep_ms(5);
	}
}

/* Against a deadline: under TCG every sleep overshoots. */
static void sleep_checked(unsigned int ms)
{
	__u64 end = now_ns() + ms * 1000000ULL, now;

	while ((now = now_ns()) < end) {
		__u64 left = (end - now) / 1000000;

		if (failed())
			die_quiet();
		sleep_ms(left > 50 ? 50 : left ? left : 1);
	}
}

struct tally {
	__u64 run, total, kicks, wire, sent_run, bad, tap_drops;
	int vq_err;
};

static void tally(int n, struct tally *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		t->run += sh->slot[i].run;
		t->total += sh->slot[i].total;
		t->kicks += sh->slot[i].kicks;
		t->wire += sh->slot[i].wire;
		t->sent_run += sh->slot[i].sent_run;
		t->bad += sh->slot[i].bad;
		t->tap_drops += sh->slot[i].tap_drops;
		t->vq_err |= sh->slot[i].vq_err;
	}
}

/* Sent: what the tap took, and what it refused for want of room. */
static void report_rx(const struct tally *t, double secs)
{
	__u64 sent = t->wire + t->tap_drops;

	printf(" sent=%llu received=%llu drops=%lld tap_drops=%llu",
	       (unsigned long long)sent, (unsigned long long)t->total,
	       (long long)(sent - t->total), (unsigned long long)t->tap_drops);
	printf(" bad=%llu sent_pps=%.0f", (unsigned long long)t->bad,
	       t->sent_run / secs);
}

static void report(const struct tally *t, double secs,
		   const struct wstat *w0, const struct wstat *w1)
{
	double pps = t->run / secs;
	/* a worker that went away takes its time with it */
	__u64 ns = w1->ns > w0->ns ? w1->ns - w0->ns : 0;

	printf("RESULT mode=%s dev=%s size=%u", opt.mode == M_TX ? "tx" : "rx",
	       opt.name, opt.size);
	if (opt.mode == M_TX)
		printf(" devices=%u owners=%u", opt.devices * opt.owners,
		       opt.owners);
	printf(" pps=%.0f mbps=%.2f workers=%u worker_ns_per_pkt=%.0f",
	       pps, pps * opt.size * 8 / 1e6, w0->threads,
	       t->run ? (double)ns / t->run : 0.0);
	printf(" kicks_per_kpkt=%.1f", t->run ? 1000.0 * t->kicks / t->run : 0);
	if (opt.mode == M_TX)
		printf(" used=%llu wire=%llu", (unsigned long long)t->total,
		       (unsigned long long)t->wire);
	else
		report_rx(t, secs);
	printf(" ring=%u batch=%u secs=%.2f pin=%s", opt.ring, opt.batch, secs,
	       opt.pin == PIN_SPLIT ? "split" : "none");
	if (opt.vq != VQ_SPLIT)
		printf(" vq=%s", vq_mode_name[opt.vq]);
	if (opt.insn_id >= 0)
		printf(" insn_id=%d pkts=%llu", opt.insn_id,
		       (unsigned long long)t->run);
	printf("\n");
	fflush(stdout);
}

/* Sanity of the counts; the RESULT line is out already. */
static int verdict(const struct tally *t)
{
	int ret = 0;

	if (t->vq_err) {
		fprintf(stderr, "kvio_bench: %s signalled a vring error\n",
			opt.name);
		ret = 1;
	}
	if (!t->run) {
		fprintf(stderr, "kvio_bench: %s moved no frame\n", opt.name);
		ret = 1;
	}
	if (opt.mode == M_TX && t->wire != t->total)
		fprintf(stderr, "kvio_bench: %s: %llu used, the taps took %llu\n",
			opt.name, (unsigned long long)t->total,
			(unsigned long long)t->wire);
	if (opt.mode == M_RX && t->total > t->wire + t->tap_drops) {
		fprintf(stderr, "kvio_bench: %s received more than sent\n",
			opt.name);
		ret = 1;
	}
	return ret;
}

/* Drivers are threads (or owner processes) while this one measures. */
static int control(int ndrivers)
{
	struct wstat w0, w1;
	struct tally t;
	__u64 t0, t1;
	int ret;

	wait_ready(ndrivers);
	set_phase(PH_WARM);
	sleep_checked(WARM_MS);
	workers_sample(&w0);
	insn.start();
	t0 = now_ns();
	set_phase(PH_RUN);
	sleep_checked(opt.secs * 1000);
	t1 = now_ns();
	set_phase(PH_STOP);
	insn.stop();
	workers_sample(&w1);
	sleep_checked(DRAIN_MS);
	set_phase(PH_EXIT);
	join_drivers();
	ret = wait_owners();
	if (failed() || ret)
		return 1;
	tally(ndrivers, &t);
	report(&t, (t1 - t0) / 1e9, &w0, &w1);
	return verdict(&t);
}

static int run_tx(void)
{
	wait_in_user = opt.pin == PIN_SPLIT && opt.devices * opt.owners == 1;
	if (opt.owners > 1)
		fork_owners();
	else
		start_drivers(0, opt.devices, tx_driver);
	return control(opt.devices * opt.owners);
}

static int run_rx(void)
{
	start_drivers(0, 1, rx_driver);
	return control(1);
}

/* pingpong */

/* Bound before the first frame goes out, so that none is missed. */
struct echo {
	struct bdev *d;
	int fd;
	pthread_t thread;
};

static void *echo_run(void *arg)
{
	struct echo *ec = arg;
	struct pollfd p = { .fd = ec->fd, .events = POLLIN };
	__u8 buf[MAX_FRAME + 64];
	ssize_t n;

	while (phase() < PH_EXIT) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(ec->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			continue;
		if (send(ec->fd, buf, n, 0) != n)
			die("echo on %s: %s", ec->d->ifname, strerror(errno));
	}
	return NULL;
}

static void pp_send(struct bdev *d, unsigned int seq)
{
	struct bq *q = &d->vq[Q_TX];
	__u64 since = 0;
	unsigned int k;

	while (!q->nfree)
		stall_check(&since, vq_reap(d, q, NULL), "pingpong tx");
	k = q->free[q->nfree - 1];
	memcpy(q->buf + (size_t)k * BUF_SZ + d->hdr_len + 14, &seq,
	       sizeof(seq));
	vq_post(d, q, 1);
	vq_notify(q);
}

/* Sleeps on the call eventfd: the latency includes the notification. */
static void pp_wait(struct bdev *d, unsigned int seq)
{
	struct bq *q = &d->vq[Q_RX];
	struct pollfd p = { .fd = q->call, .events = POLLIN };
	__u64 end = now_ns() + ECHO_MS * 1000000ULL;
	unsigned int k;
	__u32 len;
	__u8 *b;

	while (!vq_more_used(&q->vq)) {
		if (now_ns() > end)
			die("pingpong: no echo of frame %u in %d ms", seq,
			    ECHO_MS);
		if (poll(&p, 1, 100) > 0)
			read_efd(q->call);
	}
	if (!vq_take(q, &k, &len) || vq_more_used(&q->vq))
		die("pingpong: frame %u came back wrong", seq);
	b = q->buf + (size_t)k * BUF_SZ;
	if (!rx_frame_ok(d, b, len))
		die("pingpong: frame %u came back wrong", seq);
	if (memcmp(b + d->hdr_len + 14, &seq, sizeof(seq)))
		die("pingpong: frame %u came back out of order", seq);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least q of them below. */
static double pct_us(const __u64 *v, unsigned int n, double q)
{
	unsigned int i = (unsigned int)(q * n + 0.999999);

	return v[i ? i - 1 : 0] / 1e3;
}

static void pp_report(__u64 *lat, unsigned int n, int cpu)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("RESULT mode=pingpong dev=%s size=%u count=%u", opt.name,
	       opt.size, n);
	printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f",
	       pct_us(lat, n, 0.5), pct_us(lat, n, 0.9), pct_us(lat, n, 0.99),
	       sum / n / 1e3);
	printf(" min_us=%.1f max_us=%.1f", lat[0] / 1e3, lat[n - 1] / 1e3);
	if (opt.pin == PIN_SPLIT)
		printf(" pin=split");
	else
		printf(" pin=same cpu=%d", cpu);
	if (opt.vq != VQ_SPLIT)
		printf(" vq=%s", vq_mode_name[opt.vq]);
	if (opt.insn_id >= 0)
		printf(" insn_id=%d pkts=%u", opt.insn_id, WARMUP_RT + opt.count);
	printf("\n");
	fflush(stdout);
}

static void pp_loop(struct bdev *d, __u64 *lat)
{
	unsigned int i;
	__u64 t0;

	for (i = 0; i < WARMUP_RT + opt.count; i++) {
		t0 = now_ns();
		pp_send(d, i);
		pp_wait(d, i);
		if (i >= WARMUP_RT)
			lat[i - WARMUP_RT] = now_ns() - t0;
		/* the RX buffer back and the TX one reclaimed, off the clock */
		vq_post(d, &d->vq[Q_RX], 1);
		vq_notify(&d->vq[Q_RX]);
		vq_reap(d, &d->vq[Q_TX], NULL);
	}
}

/*
 * TX completions are polled (no interrupt wanted); RX interrupts are on,
 * since the guest sleeps until the echo arrives.
 */
static int run_pingpong(void)
{
	__u64 *lat = calloc(opt.count, sizeof(*lat));
	struct bdev d;
	struct echo ec = { .d = &d };
	struct pin pin;
	int err, cpu;

	if (!lat)
		die("calloc: %s", strerror(errno));
	cpu = pin_self(&pin);
	dev_setup(&d, 0);
	if (opt.pin == PIN_SPLIT)
		pin_split();
	else
		pin_worker(&pin);
	vq_arm(&d.vq[Q_RX].vq);
	vq_post(&d, &d.vq[Q_RX], opt.ring);
	set_backend(&d, d.tap);
	vq_notify(&d.vq[Q_RX]);
	ec.fd = packet_socket(&d, ETH_P_BENCH);
	if (pthread_create(&ec.thread, NULL, echo_run, &ec))
		die("pthread_create failed");
	insn.start();
	pp_loop(&d, lat);
	insn.stop();
	set_phase(PH_EXIT);
	pthread_join(ec.thread, NULL);
	close(ec.fd);
	err = vq_err_fired(&d);
	pp_report(lat, opt.count, cpu);
	dev_close(&d);
	free(lat);
	if (err)
		fprintf(stderr, "kvio_bench: %s signalled a vring error\n",
			opt.name);
	return err;
}

/* Command line */

static noreturn void bad_usage(void)
{
	fprintf(stderr,
		"usage: kvio_bench DEV tx|rx|pingpong [--size BYTES] [--secs S] [--count N]\n"
		"                  [--devices N] [--owners N] [--ring N] [--batch N]\n"
		"                  [--pin split|same|none]\n"
		"                  [--vq split|packed|in_order|packed_in_order]\n"
		"                  [--iotlb warm|pages]\n"
		"                  [--insn-id N]\n");
	exit(2);
}

static unsigned int num_arg(const char *s, unsigned int lo, unsigned int hi)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v < lo || v > hi) {
		fprintf(stderr, "kvio_bench: '%s' is not in %u..%u\n", s, lo,
			hi);
		bad_usage();
	}
	return v;
}

static enum vq_mode vq_mode_arg(const char *s)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vq_mode_name); i++)
		if (!strcmp(s, vq_mode_name[i]))
			return i;
	bad_usage();
}

static void parse_opt(const char *name, const char *val)
{
	if (!strcmp(name, "--size"))
		opt.size = num_arg(val, MIN_FRAME, MAX_FRAME);
	else if (!strcmp(name, "--secs"))
		opt.secs = num_arg(val, 1, 3600);
	else if (!strcmp(name, "--count"))
		opt.count = num_arg(val, 1, 10000000);
	else if (!strcmp(name, "--devices"))
		opt.devices = num_arg(val, 1, MAX_DEVS);
	else if (!strcmp(name, "--owners"))
		opt.owners = num_arg(val, 1, MAX_DEVS);
	else if (!strcmp(name, "--ring"))
		opt.ring = num_arg(val, 2, 32768);
	else if (!strcmp(name, "--batch"))
		opt.batch = num_arg(val, 1, MAX_BATCH);
	else if (!strcmp(name, "--pin") && !strcmp(val, "split"))
		opt.pin = PIN_SPLIT;
	else if (!strcmp(name, "--pin") && !strcmp(val, "same"))
		opt.pin = PIN_SAME;
	else if (!strcmp(name, "--pin") && !strcmp(val, "none"))
		opt.pin = PIN_NONE;
	else if (!strcmp(name, "--vq"))
		opt.vq = vq_mode_arg(val);
	else if (!strcmp(name, "--iotlb") && !strcmp(val, "warm"))
		opt.iotlb = 1;
	else if (!strcmp(name, "--iotlb") && !strcmp(val, "pages"))
		opt.iotlb = 2;
	else if (!strcmp(name, "--insn-id"))
		opt.insn_id = num_arg(val, 0, KVIO_INSN_ID_MAX);
	else
		bad_usage();
}

/* Worker threads are named after the device: vhost-<pid>, kvio-<pid>. */
static void set_names(void)
{
	const char *dash;

	opt.name = strrchr(opt.dev, '/') ? strrchr(opt.dev, '/') + 1 : opt.dev;
	dash = strchr(opt.name, '-');
	snprintf(opt.prefix, sizeof(opt.prefix), "%.*s-",
		 dash ? (int)(dash - opt.name) : 30, opt.name);
}

static void parse_args(int argc, char **argv)
{
	int i;

	if (argc < 3 || (argc - 3) % 2)
		bad_usage();
	opt.dev = argv[1];
	if (!strcmp(argv[2], "tx"))
		opt.mode = M_TX;
	else if (!strcmp(argv[2], "rx"))
		opt.mode = M_RX;
	else if (!strcmp(argv[2], "pingpong"))
		opt.mode = M_PINGPONG;
	else
		bad_usage();
	for (i = 3; i < argc; i += 2)
		parse_opt(argv[i], argv[i + 1]);
	if (opt.ring & (opt.ring - 1)) {
		fprintf(stderr, "kvio_bench: --ring must be a power of 2\n");
		bad_usage();
	}
	if (opt.mode != M_TX && (opt.devices > 1 || opt.owners > 1)) {
		fprintf(stderr, "kvio_bench: --devices and --owners are for tx\n");
		bad_usage();
	}
	if (opt.devices * opt.owners > MAX_DEVS)
		bad_usage();
	if (opt.pin == PIN_DEFAULT)
		opt.pin = opt.mode == M_PINGPONG ? PIN_SAME :
			  opt.devices * opt.owners == 1 ? PIN_SPLIT : PIN_NONE;
	if (opt.pin == PIN_SPLIT && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "kvio_bench: --pin split needs two CPUs\n");
		bad_usage();
	}
	if (opt.pin == PIN_SAME && opt.mode != M_PINGPONG) {
		fprintf(stderr, "kvio_bench: --pin same is for pingpong\n");
		bad_usage();
	}
	set_names();
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	insn.start = insn_nop;
	insn.stop = insn_nop;
	if (opt.insn_id >= 0 && kvio_insn_make(&insn, opt.insn_id))
		die("kvio_insn markers: %s", strerror(errno));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		sh = NULL;
		die("mmap: %s", strerror(errno));
	}
	if (opt.mode == M_PINGPONG) {
		arm_deadline(60 + (WARMUP_RT + opt.count) / 50);
		return run_pingpong();
	}
	arm_deadline(opt.secs + 60 + 2 * opt.devices * opt.owners);
	return opt.mode == M_TX ? run_tx() : run_rx();
}
