// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the executor, a child of the manager that runs one input at
 * a time.  Its first thread holds the remote KCOV instance; a runner
 * thread runs the inputs, a helper thread the operations an input hands
 * it (CONC) concurrently with the rest.  The backends (a tap with and
 * without a vnet header, a macvtap, a packet socket, a tun) and the host
 * sides that send frames into them live as long as the executor; guest
 * memory, devices and every other fd live as long as one input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>

#include "fz.h"

#define FZ_MTU		65521	/* tun: 64K less its Ethernet header */
#define FZ_SETTLE_MS	10
#define FZ_ANCHOR_EVERY	128

void fz_finding(struct fz_exec *x, const char *fmt, ...)
{
	va_list ap;

	if (x->shm->status == FZ_FINDING)
		return;
	va_start(ap, fmt);
	vsnprintf(x->shm->why, sizeof(x->shm->why), fmt, ap);
	va_end(ap);
	x->shm->status = FZ_FINDING;
}

/* One ioctl through the library's wrapper, on the caller's context. */
long fz_ioctl(struct fz_exec *x, struct fz_dev *d, const char *label,
	      unsigned long req, void *arg)
{
	struct kvio_ctx *c = fz_in_helper() ? &x->hc : &x->c;

	c->run->nsteps = 0;
	return kvio_io(c, label, __atomic_load_n(&d->fd, __ATOMIC_ACQUIRE),
		       req, arg);
}

/* Setup: guest memory, the driver's arrays, the backends */

/* Guest memory zeroed, writable, its reserve inaccessible again. */
static int fz_mem_reset(struct fz_dev *d)
{
	int ret = 0;

	d->nprot = 0;
	if (d->mprot)
		ret = mprotect(d->mem, FZ_MEM, PROT_READ | PROT_WRITE) ||
		      mprotect(d->mem + FZ_MEM, FZ_RESERVE - FZ_MEM, PROT_NONE) ||
		      madvise(d->mem + FZ_MEM, FZ_RESERVE - FZ_MEM, MADV_DONTNEED);
	d->mprot = 0;
	return ret || madvise(d->mem, FZ_MEM, MADV_DONTNEED);
}

static int fz_ring_alloc(struct fz_ring *q)
{
	q->freel = calloc(FZ_RING_MAX, sizeof(*q->freel));
	q->link = calloc(FZ_RING_MAX, sizeof(*q->link));
	q->cap = calloc(FZ_RING_MAX, sizeof(*q->cap));
	q->ndesc = calloc(FZ_RING_MAX, 1);
	q->tbusy = calloc(FZ_GOOD_HEADS, 1);
	return q->freel && q->link && q->cap && q->ndesc && q->tbusy ? 0 : -1;
}

static int fz_dev_alloc(struct fz_dev *d)
{
	d->mem = mmap(NULL, FZ_RESERVE, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	d->fd = -1;
	if (d->mem == MAP_FAILED)
		return -1;
	/*
	 * Small pages: an input touches a few pages here and there, and
	 * every input starts from zeroed memory; a transparent huge page
	 * would zero 2 MiB for each of them (most of the page-fault time
	 * on the debug kernel).
	 */
	if (madvise(d->mem, FZ_RESERVE, MADV_NOHUGEPAGE))
		return -1;
	d->mprot = 1;
	return fz_mem_reset(d) || fz_ring_alloc(&d->q[0]) ||
	       fz_ring_alloc(&d->q[1]);
}

static int fz_if_mtu(const char *name)
{
	struct ifreq ifr = { .ifr_mtu = FZ_MTU };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	r = s < 0 ? -1 : ioctl(s, SIOCSIFMTU, &ifr);
	if (s >= 0 && !r)
		r = ndp_if_quiet_up(s, name);
	if (s >= 0)
		close(s);
	return r;
}

static int fz_vnet(int fd)
{
	int sz = 12;

	return ioctl(fd, TUNSETVNETHDRSZ, &sz) || ioctl(fd, TUNSETOFFLOAD, 0);
}

/* A tap (or tun) of the library's, its name in @name, non-blocking. */
static int fz_tap(struct fz_exec *x, int flags, char *name)
{
	struct ifreq ifr = { 0 };
	int fd = kvio_tap(&x->c, flags, 1);

	if (fd < 0 || ioctl(fd, TUNGETIFF, &ifr) ||
	    ((flags & IFF_VNET_HDR) && fz_vnet(fd)) ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) || fz_if_mtu(ifr.ifr_name))
		return -1;
	snprintf(name, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* A packet socket on link @name, once it runs; protocol 0 only sends. */
static int fz_packet(const char *name, int proto)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET, .sll_protocol = proto,
		.sll_ifindex = (int)if_nametoindex(name),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       proto);

	if (s < 0 || ndp_if_wait_running(s, name) ||
	    bind(s, (struct sockaddr *)&ll, sizeof(ll)))
		return -1;
	return s;
}

static int fz_backends(struct fz_exec *x)
{
	const struct fz_links *l = x->links;
	char tap[2][IFNAMSIZ], tun[IFNAMSIZ];
	int *p = x->pfd;

	p[FZ_P_TAP] = fz_tap(x, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, tap[0]);
	p[FZ_P_TAP2] = fz_tap(x, IFF_TAP | IFF_NO_PI, tap[1]);
	p[FZ_P_TUN_L3] = fz_tap(x, IFF_TUN | IFF_NO_PI, tun);
	x->c.macvtap_ifindex = l->macvtap_ifindex;
	p[FZ_P_MACVTAP] = kvio_macvtap(&x->c);
	if (p[FZ_P_MACVTAP] < 0 || fz_vnet(p[FZ_P_MACVTAP]) ||
	    fcntl(p[FZ_P_MACVTAP], F_SETFL, O_NONBLOCK))
		return -1;
	p[FZ_P_PACKET] = fz_packet(l->veth[2], htons(ETH_P_ALL));
	p[FZ_P_DGRAM] = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	p[FZ_P_UDP] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	p[FZ_P_UNIX] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	p[FZ_P_INJ_TAP] = fz_packet(tap[0], 0);
	p[FZ_P_INJ_TAP2] = fz_packet(tap[1], 0);
	p[FZ_P_INJ_MACVTAP] = fz_packet(l->veth[1], 0);
	p[FZ_P_INJ_PACKET] = fz_packet(l->veth[3], 0);
	for (int i = 0; i < FZ_NPFD; i++) {
		if (p[i] < 0) {
			fprintf(stderr, "kvio_fuzz: backend %d: %s\n", i,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Every fd below the first an input may use is taken (by /dev/null if
 * need be): closing from there up then closes exactly the input's fds.
 */
static int fz_fd_floor(struct fz_exec *x)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC), i;

	if (null < 0)
		return -1;
	x->first_input_fd = fcntl(null, F_DUPFD_CLOEXEC, 0) + 1;
	for (i = 0; i < x->first_input_fd; i++)
		if (fcntl(i, F_GETFD) < 0 && dup2(null, i) != i)
			return -1;
	return 0;
}

/*
 * A device this process owns all along: the owner's worker outlives the
 * inputs, which saves creating and reaping it (most of a device's cost)
 * each time; every FZ_ANCHOR_EVERY inputs it goes and comes back.
 */
static int fz_anchor(struct fz_exec *x)
{
	int fd = open(x->c.path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, VHOST_SET_OWNER, NULL))
		return -1;
	if (x->anchor <= 0 || fd == x->anchor) {
		x->anchor = fd;
		return 0;
	}
	if (dup3(fd, x->anchor, O_CLOEXEC) < 0)
		return -1;
	close(fd);
	return 0;
}

int fz_exec_setup(struct fz_exec *x)
{
	int i;

	x->c.run = &x->run;
	x->c.path = ndp_dev_path();
	if (!kvio_hole(&x->c) || !kvio_ro_page(&x->c))
		return -1;
	x->hc = x->c;
	x->hc.run = &x->hrun;
	for (i = 0; i < 2 * FZ_NDEV; i++)
		if (fz_dev_alloc(&x->sets[i / FZ_NDEV][i % FZ_NDEV]))
			return -1;
	x->dev = x->sets[0];
	if (fz_anchor(x))
		return -1;
	if (fz_backends(x)) {
		fprintf(stderr, "kvio_fuzz: backends: %s (%s)\n",
			strerror(errno), x->run.env_err);
		return -1;
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	return fz_fd_floor(x);
}

/* One input */

static void fz_closer_wait(struct fz_exec *x);

/* Frames a previous input left queued for a device: gone. */
static void fz_drain(struct fz_exec *x)
{
	static const int rd[5] = {
		FZ_P_TAP, FZ_P_TAP2, FZ_P_MACVTAP, FZ_P_TUN_L3, FZ_P_PACKET,
	};
	static char buf[65536 + 64];
	unsigned int i, n;

	for (i = 0; i < 5; i++)
		for (n = 0; n < 4096 && read(x->pfd[rd[i]], buf, sizeof(buf)) >= 0;)
			n++;
}

static void fz_input_begin(struct fz_exec *x)
{
	unsigned int i, j;

	fz_drain(x);
	if (!(++x->inputs % FZ_ANCHOR_EVERY)) {
		fz_closer_wait(x);
		close(x->anchor);
		if (fz_anchor(x))
			fz_finding(x, "anchor device: %s", strerror(errno));
	}
	for (i = 0; i < FZ_NDEV; i++) {
		if (fz_mem_reset(&x->dev[i]))
			fz_finding(x, "guest memory reset: %s", strerror(errno));
		x->dev[i].fd = -1;
		x->dev[i].features = 0;
		x->dev[i].worker_id = -1;
		for (j = 0; j < 2; j++) {
			struct fz_ring *q = &x->dev[i].q[j];

			q->kick = -1;
			q->call = -1;
			q->err = -1;
			q->desc = 0;
			q->avail = 0;
			q->used = 0;
			fz_ring_reset(&x->dev[i], q, 0, 0);
		}
	}
	x->touched = 0;
	x->frame_seq = 0;
	x->t_close_max = 0;
}

/* The closer thread is done with the last batch; was it slow? */
static void fz_closer_wait(struct fz_exec *x)
{
	pthread_mutex_lock(&x->lock);
	while (x->close_busy)
		pthread_cond_wait(&x->cond, &x->lock);
	pthread_mutex_unlock(&x->lock);
	if (x->close_took > x->close_ms) {
		fz_finding(x, "closing the previous input's devices took %ld ms",
			   x->close_took);
		x->shm->prev = 1;
	}
	x->close_took = 0;
}

static int fz_int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Closes every fd of the input but the @n in @keep. */
static void fz_close_but(struct fz_exec *x, int *keep, unsigned int n)
{
	unsigned int from = x->first_input_fd, i;

	qsort(keep, n, sizeof(*keep), fz_int_cmp);
	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

/*
 * Closes what the input opened: its devices on the closer thread, while
 * the next input runs on the other set of guest memory; the rest now.
 */
static void fz_input_end(struct fz_exec *x)
{
	int keep[FZ_NDEV];
	unsigned int i, n = 0;

	fz_closer_wait(x);
	for (i = 0; i < FZ_NDEV; i++) {
		keep[n] = __atomic_exchange_n(&x->dev[i].fd, -1, __ATOMIC_ACQ_REL);
		if (keep[n] >= 0)
			n++;
		free(x->dev[i].tab);
		x->dev[i].tab = NULL;
	}
	fz_close_but(x, keep, n);
	if (x->t_close_max > x->close_ms)
		fz_finding(x, "closing a device took %ld ms", x->t_close_max);
	pthread_mutex_lock(&x->lock);
	memcpy(x->close_fd, keep, sizeof(keep));
	x->close_n = n;
	x->close_busy = 1;
	x->shm->closing = 1;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	x->set ^= 1;
	x->dev = x->sets[x->set];
	/* replaying: every input answers for its own devices */
	if (x->shm->sync_close)
		fz_closer_wait(x);
}

static void *fz_closer_main(void *p)
{
	struct fz_exec *x = p;
	int fds[FZ_NDEV], n, i;
	long t0;

	for (;;) {
		pthread_mutex_lock(&x->lock);
		while (!x->close_busy)
			pthread_cond_wait(&x->cond, &x->lock);
		n = x->close_n;
		memcpy(fds, x->close_fd, sizeof(fds));
		pthread_mutex_unlock(&x->lock);
		t0 = ndp_now_ms();
		for (i = 0; i < n; i++)
			close(fds[i]);
		pthread_mutex_lock(&x->lock);
		x->close_took = ndp_now_ms() - t0;
		x->close_busy = 0;
		x->shm->closing = 0;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
	}
	return NULL;
}

static void fz_helper_wait(struct fz_exec *x)
{
	pthread_mutex_lock(&x->lock);
	while (x->conc_busy)
		pthread_cond_wait(&x->cond, &x->lock);
	pthread_mutex_unlock(&x->lock);
}

/* Hands the VMM operations among the next @n to the helper. */
static void fz_helper_give(struct fz_exec *x, const __u8 *in,
			   const unsigned int *off, unsigned int n)
{
	unsigned int i, k = 0, op;

	fz_helper_wait(x);
	pthread_mutex_lock(&x->lock);
	for (i = 0; i < n; i++) {
		op = in[off[i]] % fz_nops;
		if (!fz_ops[op].vmm)
			continue;
		memcpy(x->conc[k++], in + off[i], 1 + fz_op_args(op));
	}
	x->conc_n = k;
	x->conc_busy = 1;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

/* KVIO_FUZZ_PROFILE=1: where an executor's time goes, by operation. */
static long fz_prof_us[FZ_NOPS + 4], fz_prof_n[FZ_NOPS + 4];
static int fz_prof_on = -1;

static long fz_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void fz_prof(unsigned int what, long t0)
{
	static const char * const extra[4] = { "(begin)", "(prologue)", "(settle)", "(end)" };
	static long inputs;
	unsigned int i;

	if (fz_prof_on < 0)
		fz_prof_on = kvio_env_true("KVIO_FUZZ_PROFILE");
	if (!fz_prof_on)
		return;
	t0 = fz_us() - t0;
	fz_prof_us[what] += t0;
	fz_prof_n[what]++;
	if (t0 > 200000)
		fprintf(stderr, "# profile: slow %s: %ld us\n",
			what < FZ_NOPS ? fz_ops[what].name : extra[what - FZ_NOPS], t0);
	if (what != FZ_NOPS + 3 || ++inputs % 50)
		return;
	for (i = 0; i < FZ_NOPS + 4; i++)
		if (fz_prof_n[i])
			fprintf(stderr, "# profile: %-10s %6ld x %8ld us\n",
				i < FZ_NOPS ? fz_ops[i].name : extra[i - FZ_NOPS],
				fz_prof_n[i], fz_prof_us[i] / fz_prof_n[i]);
}

static void fz_run_ops(struct fz_exec *x, const __u8 *in, const unsigned int *off,
		       unsigned int n)
{
	unsigned int i, op, k;
	long t0;

	for (i = 0; i < n; i++) {
		op = in[off[i]] % fz_nops;
		x->shm->op = i;
		if (!fz_ops[op].clean)
			x->clean = 0;
		if (op != FZ_OP_CONC) {
			t0 = fz_us();
			fz_ops[op].run(x, in + off[i] + 1);
			fz_prof(op, t0);
			continue;
		}
		k = 1 + in[off[i] + 1] % FZ_CONC_MAX;
		if (k > n - i - 1)
			k = n - i - 1;
		fz_helper_give(x, in, off + i + 1, k);
		i += k;
	}
}

void fz_exec_input(struct fz_exec *x, const __u8 *in, unsigned int len)
{
	static __u8 buf[FZ_MAX_INPUT + 1 + FZ_MAX_ARGS];
	unsigned int off[FZ_MAX_OPS], n, i;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, in, len < FZ_MAX_INPUT ? len : FZ_MAX_INPUT);
	long t0 = fz_us();

	n = fz_decode(buf, len, off, FZ_MAX_OPS);
	fz_input_begin(x);
	fz_prof(FZ_NOPS, t0);
	t0 = fz_us();
	x->clean = fz_prologue(x, buf);
	fz_prof(FZ_NOPS + 1, t0);
	fz_run_ops(x, buf, off, n);
	fz_helper_wait(x);
	t0 = fz_us();
	if (x->clean && x->touched) {
		fz_drained(x, 3 * FZ_SETTLE_MS);
		fz_settle(x, FZ_SETTLE_MS);
		for (i = 0; i < FZ_NDEV * 2; i++)
			fz_reap(x, &x->dev[i / 2], &x->dev[i / 2].q[i % 2], i % 2);
	}
	fz_prof(FZ_NOPS + 2, t0);
	x->shm->clean = x->clean;
	t0 = fz_us();
	fz_input_end(x);
	fz_prof(FZ_NOPS + 3, t0);
}

/* The threads */

static void *fz_helper_main(void *p)
{
	struct fz_exec *x = p;
	__u8 ops[FZ_CONC_MAX][1 + FZ_MAX_ARGS];
	unsigned int i, n;

	fz_set_helper();
	fz_cover_thread(x->cov, 1);
	for (;;) {
		pthread_mutex_lock(&x->lock);
		while (!x->conc_busy)
			pthread_cond_wait(&x->cond, &x->lock);
		n = x->conc_n;
		memcpy(ops, x->conc, sizeof(ops));
		pthread_mutex_unlock(&x->lock);
		for (i = 0; i < n; i++)
			fz_ops[ops[i][0] % fz_nops].run(x, ops[i] + 1);
		pthread_mutex_lock(&x->lock);
		x->conc_busy = 0;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
	}
	return NULL;
}

struct fz_runner {
	struct fz_exec *x;
	int cmd, res;
};

static void *fz_runner_main(void *p)
{
	struct fz_runner *r = p;
	struct fz_exec *x = r->x;
	long t0;
	char c;

	fz_cover_thread(x->cov, 0);
	if (write(r->res, "r", 1) != 1)
		_exit(125);
	while (read(r->cmd, &c, 1) == 1) {
		x->shm->status = FZ_OK;
		x->shm->prev = 0;
		x->shm->why[0] = 0;
		fz_cover_reset(x->cov);
		t0 = fz_us();
		fz_exec_input(x, x->shm->input, x->shm->len);
		x->shm->us_input = fz_us() - t0;
		t0 = fz_us();
		if (x->cov)
			fz_cover_collect(x->cov, x->shm);
		x->shm->us_cover = fz_us() - t0;
		if (write(r->res, "d", 1) != 1)
			break;
	}
	_exit(0);
}

/*
 * The executor's main: set up, then run inputs as the manager asks on
 * @cmd, answering on @res.  Never returns.
 */
void fz_executor(struct fz_shm *shm, const struct fz_links *links, int cmd,
		 int res, long close_ms, int kcov)
{
	static struct fz_exec x;
	struct fz_runner r = { .x = &x, .cmd = cmd, .res = res };
	pthread_t t;

	x.shm = shm;
	x.links = links;
	x.close_ms = close_ms;
	/*
	 * Before any thread: the runner and the helper inherit its common
	 * handle.  Before the fd floor: an input's cleanup must not close it.
	 */
	if (kcov) {
		x.cov = fz_cover_open(1);
		if (!x.cov)
			_exit(125);
	}
	if (fz_exec_setup(&x))
		_exit(125);
	if (pthread_create(&x.helper, NULL, fz_helper_main, &x) ||
	    pthread_create(&x.closer, NULL, fz_closer_main, &x) ||
	    pthread_create(&t, NULL, fz_runner_main, &r))
		_exit(125);
	pthread_join(t, NULL);
	_exit(0);
}
