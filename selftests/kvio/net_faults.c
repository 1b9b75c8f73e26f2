// SPDX-License-Identifier: GPL-2.0
/*
 * net_faults: what a host does to kvio-net while frames flow, and what
 * it must find afterwards.  Owners are killed with traffic on every ring
 * (and one while wakeups race the kill), the tap or a macvtap's lower
 * device is deleted under traffic, the VMM resets the owner and swaps
 * the memory table and the backends in a loop under traffic, 64 owners
 * open, use and close 4 devices each at once, an owner in a cgroup at
 * its limits makes workers while another owner's calls are timed, and
 * an XDP program on the tap reads the headroom of the frames kvio builds.
 *
 * Each test ends with the host as it found it (nf_settled()): no kvio-net
 * file left open (kvio_net's module reference count counts them), no
 * kvio worker thread left, no page left pinned, and no kernel memory
 * left charged to the cgroup the owners ran in (memory.stat "kernel"
 * less the dentries and inodes they looked up): a device that was not
 * released leaves ~200 KiB there, as counters_see_a_leak shows.  The
 * device object is kvzalloc()ed but comes from kmalloc, not vmalloc, and
 * the system-wide slab counts move by hundreds of objects from one idle
 * second to the next: neither could tell one device from noise.  What
 * kvio allocates without __GFP_ACCOUNT (its memory tables) is left to
 * kmemleak on the debug kernel.
 *
 * The owners are child processes of the test, in a cgroup of their own:
 * the frames are moved by net_datapath's driver (ndp_*.c), through
 * ndp_flow, which tolerates lost frames and checks that every frame that
 * arrives is whole.  KVIO_DIFF_DEV names the node (default /dev/kvio-net).
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "net_datapath.h"

#define NF_NUM		256		/* ring size */
#define NF_RXBUF	2048		/* mergeable buffers: one per frame */
#define NF_MOVE_MS	kvio_ms(3000)	/* a ring that moves none this long stopped */
/* frames both rings must move: more than the TX ring holds, twice */
#define NF_MOVE_N	(2 * NF_NUM / NDP_MAX_PIECES + 1)
#define NF_CLOSE_MS	kvio_ms(2000)	/* close() of a device returns by then */
#define NF_GONE_MS	kvio_ms(5000)	/* a dead owner's worker is gone by then */
#define NF_SETTLE_MS	kvio_ms(12000)	/* the counters are back by then */
/*
 * Kernel memory the owners' cgroup may keep once they are all gone.  It
 * settles within ~6 s (statistics are flushed every 2 s, kfree_rcu()
 * batches every 5 s) to ~12 KiB, the per-CPU stocks of byte-charged slab
 * objects: up to NF_KMEM_FLOOR ends the wait at once, up to the slack
 * only after NF_KMEM_DRAIN_MS.  One device kept is ~200 KiB there
 * (counters_see_a_leak).
 */
#define NF_KMEM_SLACK	(48L << 10)
#define NF_KMEM_FLOOR	(16L << 10)
#define NF_KMEM_DRAIN_MS	kvio_ms(6500)
#define NF_STAT_FLUSH_MS	2100	/* memcg statistics flushed by then */
#define NF_CG_MAX	128	/* a cgroup root's path, at most */

/* The counters a test must find as it found them */
struct nf_counts {
	long files;	/* kvio-net files open: kvio_net's module refcount */
	long pinned;	/* pages pinned (FOLL_PIN), system-wide */
	long workers;	/* threads named kvio-* */
	long kmem;	/* kernel memory charged to the owners' cgroup, or -1 */
	long slab;	/* of which unreclaimable slab objects */
};

/* A line of the test's report: "# who: ..." */
static __printf(2, 3) void nf_say(const char *who, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ksft_print_msg("%s: %s\n", who, line);
}

/* Reading /proc and /sys */

static int nf_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -1;
	close(fd);
	return ret;
}

/* The value of "key N" in a file of such lines, or -1. */
static long nf_keyed(const char *path, const char *key)
{
	char line[256], k[128];
	long v, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", k, &v) == 2 && !strcmp(k, key)) {
			ret = v;
			break;
		}
	fclose(f);
	return ret;
}

/* Pages pinned now: the per-CPU counts folded first. */
static long nf_pinned(void)
{
	nf_write("/proc/sys/vm/stat_refresh", "1");
	return nf_keyed("/proc/vmstat", "nr_foll_pin_acquired") -
	       nf_keyed("/proc/vmstat", "nr_foll_pin_released");
}

/*
 * Threads whose name is @name (or starts with it, if it ends in '-'):
 * how many, and their CPU time in clock ticks in *@ticks.
 */
static int nf_threads(const char *name, long *ticks)
{
	size_t len = strlen(name);
	int prefix = name[len - 1] == '-', n = 0;
	char path[96], comm[64], stat[512], *p;
	struct dirent *pe, *te;
	unsigned long ut, st;
	DIR *procs, *tasks;
	FILE *f;

	if (ticks)
		*ticks = 0;
	procs = opendir("/proc");
	while (procs && (pe = readdir(procs))) {
		if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/task", pe->d_name);
		tasks = opendir(path);
		while (tasks && (te = readdir(tasks))) {
			if (te->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%.16s/task/%.16s/comm",
				 pe->d_name, te->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			p = fgets(comm, sizeof(comm), f);
			fclose(f);
			if (!p)
				continue;
			comm[strcspn(comm, "\n")] = 0;
			if (prefix ? strncmp(comm, name, len) : strcmp(comm, name))
				continue;
			n++;
			snprintf(path, sizeof(path), "/proc/%.16s/task/%.16s/stat",
				 pe->d_name, te->d_name);
			f = fopen(path, "r");
			p = f ? fgets(stat, sizeof(stat), f) : NULL;
			if (f)
				fclose(f);
			p = p ? strrchr(stat, ')') : NULL;
			if (ticks && p &&
			    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				   &ut, &st) == 2)
				*ticks += ut + st;
		}
		if (tasks)
			closedir(tasks);
	}
	if (procs)
		closedir(procs);
	return n;
}

static void nf_worker_name(char *buf, size_t len, pid_t owner)
{
	snprintf(buf, len, "kvio-%d", (int)owner);
}

/* Until @owner has no worker thread, at most ms; the ms it took or -1. */
static long nf_worker_gone(pid_t owner, long ms)
{
	long t0 = ndp_now_ms();
	char name[32];

	nf_worker_name(name, sizeof(name), owner);
	while (nf_threads(name, NULL)) {
		if (ndp_now_ms() - t0 > ms)
			return -1;
		usleep(10000);
	}
	return ndp_now_ms() - t0;
}

/* Cgroups: the owners run in one of their own */

struct nf_cg {
	char top[NF_CG_MAX + 32];	/* the test's cgroup, "" without */
	char own[NF_CG_MAX + 48];	/* its leaf where owners run */
};

/* Where cgroup v2 is mounted: the first mount, or one made for us. */
static const char *nf_cg_root(void)
{
	static char root[NF_CG_MAX];
	char line[1024], mnt[NF_CG_MAX], *sep;
	FILE *f;

	if (root[0])
		return root;
	f = fopen("/proc/self/mountinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - cgroup2 ");
		if (sep && sscanf(line, "%*s %*s %*s %*s %127s", mnt) == 1) {
			snprintf(root, sizeof(root), "%s", mnt);
			break;
		}
	}
	if (f)
		fclose(f);
	if (root[0])
		return root;
	/* the test VM mounts none: /run is its own tmpfs there */
	mkdir("/run/kvio-cgroup2", 0755);
	if (mount("cgroup2", "/run/kvio-cgroup2", "cgroup2", 0, NULL) &&
	    errno != EBUSY)
		return NULL;
	snprintf(root, sizeof(root), "/run/kvio-cgroup2");
	return root;
}

static int nf_cg_file(const char *dir, const char *file, const char *val)
{
	char path[NF_CG_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return nf_write(path, val);
}

static long nf_cg_stat(const char *dir, const char *key)
{
	char path[NF_CG_MAX + 128];

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	return nf_keyed(path, key);
}

/* The calling process moves into @dir. */
static int nf_cg_enter(const char *dir)
{
	return dir[0] ? nf_cg_file(dir, "cgroup.procs", "0") : 0;
}

/*
 * root/kvio-faults-PID with the memory controller, and its leaf "own";
 * 0, or -1 with why (then cg->top is "").
 */
static int nf_cg_make(struct nf_cg *cg, char *why, size_t len)
{
	const char *root = nf_cg_root();
	char path[NF_CG_MAX + 128];

	cg->top[0] = 0;
	cg->own[0] = 0;
	if (!root) {
		snprintf(why, len, "cannot mount cgroup2: %s", strerror(errno));
		return -1;
	}
	nf_cg_file(root, "cgroup.subtree_control", "+memory");
	snprintf(cg->top, sizeof(cg->top), "%s/kvio-faults-%d", root,
		 getpid());
	snprintf(cg->own, sizeof(cg->own), "%s/own", cg->top);
	snprintf(path, sizeof(path), "%s/memory.stat", cg->top);
	if ((mkdir(cg->top, 0755) && errno != EEXIST) ||
	    nf_cg_file(cg->top, "cgroup.subtree_control", "+memory") ||
	    (mkdir(cg->own, 0755) && errno != EEXIST) ||
	    access(path, R_OK)) {
		snprintf(why, len, "cgroup v2 memory controller at %.128s: %s",
			 root, strerror(errno));
		rmdir(cg->own);
		rmdir(cg->top);
		cg->top[0] = 0;
		cg->own[0] = 0;
		return -1;
	}
	return 0;
}

static void nf_cg_remove(struct nf_cg *cg, const char *leaf)
{
	char path[NF_CG_MAX + 128];
	int i;

	if (!cg->top[0])
		return;
	snprintf(path, sizeof(path), "%s/%s", cg->top, leaf);
	/* a killed member may still be on its way out */
	for (i = 0; i < 100 && rmdir(path) && errno == EBUSY; i++)
		usleep(20000);
}

/* The counters */

static void nf_counts(const struct nf_cg *cg, struct nf_counts *c)
{
	c->files = kvio_read_long("/sys/module/kvio_net/refcnt");
	c->pinned = nf_pinned();
	c->workers = nf_threads("kvio-", NULL);
	c->kmem = -1;
	c->slab = -1;
	if (!cg->top[0])
		return;
	/* dentries and inodes the owners looked up are the kernel's cache */
	c->kmem = nf_cg_stat(cg->top, "kernel") -
		  nf_cg_stat(cg->top, "slab_reclaimable");
	c->slab = nf_cg_stat(cg->top, "slab_unreclaimable");
}

/*
 * @b as @a left it.  Pinned pages are counted system-wide, and other
 * users come and go (a debug-kernel run once began a test with one page
 * pinned that was released during it, kvio's only pin being the dirty
 * log's, taken and dropped in one call): fewer than before is no leak.
 */
static int nf_same(const struct nf_counts *a, const struct nf_counts *b)
{
	return a->files == b->files && b->pinned <= a->pinned &&
	       a->workers == b->workers &&
	       (a->kmem < 0 || b->kmem - a->kmem <= NF_KMEM_SLACK);
}

FIXTURE(faults) {
	struct nf_cg cg;
	struct nf_counts before;
};

FIXTURE_SETUP(faults)
{
	char why[256];

	if (!kvio_is_chardev(ndp_dev_path()))
		SKIP(return, "%s is missing: load kvio_net", ndp_dev_path());
	if (nf_cg_make(&self->cg, why, sizeof(why)))
		ksft_print_msg("no kernel memory check: %s\n", why);
	nf_counts(&self->cg, &self->before);
}

FIXTURE_TEARDOWN(faults)
{
	nf_cg_remove(&self->cg, "limited/owner");
	nf_cg_remove(&self->cg, "limited/filler");
	nf_cg_remove(&self->cg, "limited");
	nf_cg_remove(&self->cg, "own");
	nf_cg_remove(&self->cg, "");
}

/* What the kernel memory left in the cgroup is made of. */
static void nf_kmem_show(const struct nf_cg *cg)
{
	static const char * const key[] = {
		"kernel", "kernel_stack", "pagetables", "percpu", "sock",
		"vmalloc", "slab_reclaimable", "slab_unreclaimable",
	};
	char line[512];
	size_t used = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(key); i++)
		used += snprintf(line + used, sizeof(line) - used, " %s %ld",
				 key[i], nf_cg_stat(cg->top, key[i]));
	ksft_print_msg("the owners' cgroup:%s\n", line);
}

/*
 * Waits until the counters are back where they were before the test, at
 * most NF_SETTLE_MS, and checks them.  The cgroup's statistics are
 * flushed every 2 s: the first reading comes after one such flush.
 * Without a cgroup, kmem is -1 before and after: the floor holds.
 */
static void nf_settled(struct __test_metadata *_metadata,
		       const struct nf_cg *cg, const struct nf_counts *b)
{
	long t0 = ndp_now_ms(), now;
	struct nf_counts c;

	usleep(NF_STAT_FLUSH_MS * 1000);
	for (;;) {
		nf_counts(cg, &c);
		now = ndp_now_ms();
		if (nf_same(b, &c) &&
		    (c.kmem - b->kmem <= NF_KMEM_FLOOR ||
		     now - t0 > NF_KMEM_DRAIN_MS))
			break;
		if (now - t0 > NF_SETTLE_MS)
			break;
		usleep(250000);
	}
	nf_say("after",
	       "%+ld kvio-net files open, %+ld pages pinned, %+ld kvio workers, %+ld bytes of kernel memory (%+ld of unreclaimable slab) left in the owners' cgroup%s",
	       c.files - b->files, c.pinned - b->pinned,
	       c.workers - b->workers, c.kmem - b->kmem, c.slab - b->slab,
	       c.kmem < 0 ? " (not measured)" : "");
	EXPECT_EQ(b->files, c.files) TH_LOG("kvio-net files left open");
	EXPECT_GE(b->pinned, c.pinned) TH_LOG("pages left pinned");
	EXPECT_EQ(b->workers, c.workers) TH_LOG("kvio worker threads left");
	if (c.kmem >= 0 && c.kmem - b->kmem > NF_KMEM_SLACK)
		nf_kmem_show(cg);
	if (c.kmem >= 0)
		EXPECT_GE(NF_KMEM_SLACK, c.kmem - b->kmem)
			TH_LOG("kernel memory left charged to the owners' cgroup");
}

/* Owners: child processes in the cgroup */

/*
 * Runs fn in a child process in @cgdir; it reports with EXPECT_*() (never
 * ASSERT_*(): the child must not return into the harness).
 */
static pid_t nf_spawn(struct __test_metadata *_metadata, const char *cgdir,
		      int (*fn)(struct __test_metadata *, void *), void *arg)
{
	pid_t pid;
	int ret;

	fflush(NULL);
	pid = fork();
	if (pid)
		return pid;
	/* an owner does not outlive a test that gave up on it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (nf_cg_enter(cgdir)) {
		ksft_print_msg("cannot join %s: %s\n", cgdir, strerror(errno));
		_exit(1);
	}
	ret = fn(_metadata, arg);
	fflush(NULL);
	_exit(ret);
}

/* Waits for a child at most ms, killing it then; its status or -1. */
static int nf_reap(pid_t pid, long ms)
{
	long end = ndp_now_ms() + ms;
	int status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ndp_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(5000);
	}
	return status;
}

/* A device's close(): it returns by NF_CLOSE_MS; the ms it took. */
static long nf_close(struct __test_metadata *_metadata, int *fd)
{
	long t0 = ndp_now_ms(), ms;

	close(*fd);
	*fd = -1;
	ms = ndp_now_ms() - t0;
	EXPECT_GT(NF_CLOSE_MS, ms) TH_LOG("close() of a device took %ld ms", ms);
	return ms;
}

/* Flows: the driver of each device of a pair in a thread */

struct nf_flows {
	struct ndp_flow f[2];
	pthread_t th[2];
	int running[2];
};

static int nf_flow_start(struct nf_flows *fl, struct ndp_pair *p, int i)
{
	if (!fl->f[i].g && ndp_flow_init(&fl->f[i], &p->dev[i]))
		return -1;
	fl->f[i].stop = 0;
	if (pthread_create(&fl->th[i], NULL, ndp_flow_run, &fl->f[i]))
		return -1;
	fl->running[i] = 1;
	return 0;
}

static void nf_flow_stop(struct nf_flows *fl, int i)
{
	if (!fl->running[i])
		return;
	__atomic_store_n(&fl->f[i].stop, 1, __ATOMIC_RELEASE);
	pthread_join(fl->th[i], NULL);
	fl->running[i] = 0;
}

/* Nothing arrived that was not whole; reports the flow's counts. */
static void nf_flow_report(struct __test_metadata *_metadata,
			   const struct ndp_flow *f, const char *who)
{
	nf_say(who, "%lu tx buffers used, %lu frames on the wire, %lu received",
	       f->tx_used, f->wire, f->rx_used);
	EXPECT_EQ(0, f->bad) TH_LOG("%s: %lu frames not whole; %s", who,
				    f->bad, f->bad_msg);
}

/* The counters see a device that was not released */

static int nf_leak_owner(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_pair *p = ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	int *fd = arg;

	EXPECT_NE(NULL, p);
	if (!p)
		return 0;
	EXPECT_EQ(0, ndp_pair_traffic(p, &p->dev[0], 8, 8));
	__atomic_store_n(fd, p->dev[0].dev, __ATOMIC_RELEASE);
	pause();
	return 0;
}

/*
 * An owner's device is taken over by the test (pidfd_getfd()), as a
 * leak would keep it, and the owner is killed: the count of open files
 * and the cgroup's kernel memory must show it; once the test closes it,
 * everything must settle.
 */
TEST_F_TIMEOUT(faults, counters_see_a_leak, 120)
{
	int *fd = mmap(NULL, sizeof(*fd), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct nf_counts c;
	int pidfd, leaked;
	long end;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, fd);
	*fd = -1;
	pid = nf_spawn(_metadata, self->cg.own, nf_leak_owner, fd);
	ASSERT_LT(0, pid);
	end = ndp_now_ms() + kvio_ms(30000);
	while (__atomic_load_n(fd, __ATOMIC_ACQUIRE) < 0 &&
	       ndp_now_ms() < end && !waitpid(pid, NULL, WNOHANG))
		usleep(10000);
	ASSERT_LE(0, *fd) TH_LOG("the owner did not set its devices up");
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	ASSERT_LE(0, pidfd);
	leaked = syscall(__NR_pidfd_getfd, pidfd, *fd, 0);
	ASSERT_LE(0, leaked) TH_LOG("pidfd_getfd: %s", strerror(errno));
	close(pidfd);
	kill(pid, SIGKILL);
	ASSERT_LE(0, nf_reap(pid, 10000));
	sleep(3);
	nf_counts(&self->cg, &c);
	nf_say("one device kept",
	       "%+ld files, %+ld workers, %+ld bytes of kernel memory in the cgroup",
	       c.files - self->before.files, c.workers - self->before.workers,
	       c.kmem - self->before.kmem);
	EXPECT_EQ(self->before.files + 1, c.files);
	if (c.kmem >= 0)
		EXPECT_LT(NF_KMEM_SLACK, c.kmem - self->before.kmem);
	EXPECT_FALSE(nf_same(&self->before, &c));
	close(leaked);
	nf_settled(_metadata, &self->cg, &self->before);
	munmap(fd, sizeof(*fd));
}

/* Owner SIGKILL with traffic on every ring */

#define NF_KILLS	5

struct nf_shared {
	struct ndp_flow f[2];	/* counters the test reads */
	int ready;
};

/* Both devices' rings move frames until the owner is killed. */
static int nf_traffic_owner(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_pair *p = ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	struct nf_shared *sh = arg;
	pthread_t th;
	int i;

	EXPECT_NE(NULL, p);
	if (!p)
		return 0;
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, ndp_flow_init(&sh->f[i], &p->dev[i]));
		EXPECT_EQ(0, pthread_create(&th, NULL, ndp_flow_run, &sh->f[i]));
	}
	__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

/*
 * Every ring of both devices moves: each used a buffer within @ms, the
 * rings one after another (under TCG with KASAN they move in bursts, not
 * all within one short sample).  1 if they did, else 0.
 */
static int nf_all_move(struct nf_shared *sh, long ms)
{
	unsigned long before[2][2];
	long end = ndp_now_ms() + ms;
	int i, moved;

	for (i = 0; i < 2; i++) {
		before[i][0] = __atomic_load_n(&sh->f[i].tx_used, __ATOMIC_RELAXED);
		before[i][1] = __atomic_load_n(&sh->f[i].rx_used, __ATOMIC_RELAXED);
	}
	do {
		usleep(10000);
		for (moved = 0, i = 0; i < 2; i++)
			moved += (__atomic_load_n(&sh->f[i].tx_used, __ATOMIC_RELAXED) !=
				  before[i][0]) +
				 (__atomic_load_n(&sh->f[i].rx_used, __ATOMIC_RELAXED) !=
				  before[i][1]);
	} while (moved < 4 && ndp_now_ms() < end);
	return moved == 4;
}

/*
 * An owner whose two devices move frames both ways on both rings is
 * killed, at a different moment of its traffic each time: its worker
 * goes within NF_GONE_MS (the worker is a thread of the owner on 6.12, a
 * kthread stopped when the device is released on 6.1), and nothing stays.
 */
TEST_F_TIMEOUT(faults, kill, 240)
{
	struct nf_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long end, gone;
	int k, moving;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, sh);
	for (k = 0; k < NF_KILLS; k++) {
		memset(sh, 0, sizeof(*sh));
		pid = nf_spawn(_metadata, self->cg.own, nf_traffic_owner, sh);
		ASSERT_LT(0, pid);
		end = ndp_now_ms() + kvio_ms(30000);
		while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) &&
		       ndp_now_ms() < end && !waitpid(pid, NULL, WNOHANG))
			usleep(10000);
		ASSERT_TRUE(sh->ready) TH_LOG("the owner did not set up");
		/* into the traffic by a different amount each time */
		usleep(k * 70000);
		moving = nf_all_move(sh, NF_MOVE_MS);
		EXPECT_TRUE(moving) TH_LOG("not every ring moved frames");
		kill(pid, SIGKILL);
		EXPECT_LE(0, nf_reap(pid, 10000));
		gone = nf_worker_gone(pid, NF_GONE_MS);
		EXPECT_LE(0, gone) TH_LOG("kvio-%d still there %d ms after the kill",
					  pid, NF_GONE_MS);
		nf_say("kill",
		       "%d: %lu/%lu and %lu/%lu frames sent/received on the two devices; worker gone %ld ms after the owner was reaped",
		       k, sh->f[0].wire, sh->f[0].rx_used, sh->f[1].wire,
		       sh->f[1].rx_used, gone);
		EXPECT_EQ(0, sh->f[0].bad + sh->f[1].bad);
	}
	munmap(sh, sizeof(*sh));
	nf_settled(_metadata, &self->cg, &self->before);
}

/* A wakeup racing the owner's kill, then the device owned again */

#define NF_RACE_ROUNDS	20
#define NF_RACE_STACK	(64 << 10)

struct nf_race {
	struct ndp *g;
	int owned;		/* P: 1 once it owns the device, -1 failed */
	int stop;		/* the hammer stops */
};

/* P: a process sharing Q's mm owns Q's device, then waits for its end. */
static int nf_race_p(void *arg)
{
	struct nf_race *r = arg;
	long ret;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	ret = syscall(SYS_ioctl, r->g->dev, VHOST_SET_OWNER, NULL);
	__atomic_store_n(&r->owned, ret ? -1 : 1, __ATOMIC_RELEASE);
	for (;;)
		syscall(SYS_pause);
	return 0;
}

/* Kicks on both rings as fast as they go: wakeups for the worker. */
static void *nf_hammer(void *arg)
{
	struct nf_race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		ndp_kick_now(&r->g->vq[NDP_TX]);
		ndp_kick_now(&r->g->vq[NDP_RX]);
	}
	return NULL;
}

/*
 * One round: P owns the device, frames move, P is killed while Q kicks
 * both rings and frames arrive; Q resets the owner, owns it itself, and
 * returns whether both rings move frames again (0) or not (-1).
 */
static int nf_race_round(struct __test_metadata *_metadata,
			 struct nf_race *r, struct nf_flows *fl,
			 struct ndp_pair *p, char *stack, unsigned int round)
{
	struct ndp *g = r->g;
	pthread_t hammer;
	__u16 base[2];
	long end;
	pid_t pid;
	int ret;

	if (ndp_vmm_stop(g, base) || ioctl(g->dev, VHOST_RESET_OWNER, NULL))
		return -2;
	r->owned = 0;
	r->stop = 0;
	pid = clone(nf_race_p, stack + NF_RACE_STACK, CLONE_VM | SIGCHLD, r);
	if (pid < 0)
		return -2;
	end = ndp_now_ms() + kvio_ms(5000);
	while (!__atomic_load_n(&r->owned, __ATOMIC_ACQUIRE) &&
	       ndp_now_ms() < end)
		usleep(1000);
	EXPECT_EQ(1, r->owned) TH_LOG("P could not own the device");
	EXPECT_EQ(0, ndp_vmm_start(g, base, NULL, 0));
	EXPECT_EQ(0, nf_flow_start(fl, p, 0));
	/* a ring left stuck by an earlier round shows here too */
	ret = ndp_flow_moves(&fl->f[0], NF_MOVE_N, NF_MOVE_MS);
	if (ret)
		ksft_print_msg("round %u: the rings stopped under P\n", round);
	EXPECT_EQ(0, pthread_create(&hammer, NULL, nf_hammer, r));
	usleep(round * 1237 % 20000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
	usleep(2000);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(hammer, NULL);
	nf_flow_stop(fl, 0);

	if (ndp_vmm_stop(g, base) || ioctl(g->dev, VHOST_RESET_OWNER, NULL) ||
	    ndp_vmm_start(g, base, NULL, 1))
		return -2;
	nf_flow_start(fl, p, 0);
	if (ndp_flow_moves(&fl->f[0], NF_MOVE_N, NF_MOVE_MS)) {
		ksft_print_msg("round %u: the rings stopped under Q\n", round);
		ret = -1;
	}
	nf_flow_stop(fl, 0);
	return ret;
}

static int nf_race_q(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_pair *p = ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	char *stack = malloc(NF_RACE_STACK);
	struct nf_flows fl = { 0 };
	struct nf_race r = { 0 };
	unsigned int i, stuck = 0;
	int ret;

	(void)arg;
	EXPECT_NE(NULL, p);
	if (!p || !stack)
		return 0;
	r.g = &p->dev[0];
	/* no other device of this mm may keep a worker P would share */
	EXPECT_EQ(0, ioctl(p->dev[1].dev, VHOST_RESET_OWNER, NULL));
	for (i = 0; i < NF_RACE_ROUNDS; i++) {
		ret = nf_race_round(_metadata, &r, &fl, p, stack, i);
		EXPECT_NE(-2, ret) TH_LOG("round %u: the VMM's ioctls failed", i);
		if (ret == -2) {
			ndp_pair_ok(p);
			break;
		}
		stuck += ret < 0;
	}
	ksft_print_msg("%u of %u rounds: a ring stopped after an owner was killed\n",
		       stuck, i);
	EXPECT_EQ(0, stuck);
	nf_flow_report(_metadata, &fl.f[0], "device");
	ndp_flow_free(&fl.f[0]);
	nf_close(_metadata, &p->dev[0].dev);
	ndp_pair_free(p);
	free(stack);
	return 0;
}

/*
 * Process Q sets up a device; P, a process sharing Q's mm (clone
 * CLONE_VM, not a thread), owns it: its worker is P's (a thread of P on
 * 6.12).  Frames move; Q kicks both rings as fast as it can while frames
 * arrive on the tap, and kills P.  Then Q resets the owner, owns the
 * device itself, and both rings must move frames again.  The race it is
 * for: a wakeup that lands between the killed worker's check of its
 * state and the kill's drain of its list must not leave a work item
 * flagged queued forever (that ring would never run again under the new
 * owner).  The window is a few instructions wide, inside the eventfd's
 * or the socket's wakeup with interrupts off, so the test cannot force
 * it, only give it its chance each round; what it checks every time is
 * that a device whose owner was killed while it worked can be owned and
 * run again.
 */
TEST_F_TIMEOUT(faults, kill_race_reown, 300)
{
	pid_t pid = nf_spawn(_metadata, self->cg.own, nf_race_q, NULL);

	ASSERT_LT(0, pid);
	EXPECT_EQ(0, nf_reap(pid, kvio_ms(280000)));
	nf_settled(_metadata, &self->cg, &self->before);
}

/* ip link del under traffic */

struct nf_linkdel {
	int macvtap;		/* dev[0] on a macvtap of this veth: */
	int lower, mvt, peer;	/* ifindex of the lower end, macvtap, peer */
};

/* RTM_DELLINK of @ifindex: what "ip link del" does; 0 or -errno. */
static int nf_link_del(int ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_DELLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		},
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int ret = -EIO;

	if (s < 0)
		return -errno;
	if (send(s, &req, sizeof(req), 0) == sizeof(req) &&
	    recv(s, &ack, sizeof(ack), 0) >= (ssize_t)sizeof(ack) &&
	    ack.nh.nlmsg_type == NLMSG_ERROR)
		ret = ack.err.error;
	close(s);
	return ret;
}

static int nf_tap_ifindex(int tapfd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(tapfd, TUNGETIFF, &ifr))
		return -1;
	return (int)if_nametoindex(ifr.ifr_name);
}

/* The worker's CPU time over a second in which no frame moves. */
static long nf_idle_ticks(void)
{
	long t0, t1;
	char name[32];

	nf_worker_name(name, sizeof(name), getpid());
	usleep(200000);
	nf_threads(name, &t0);
	sleep(1);
	nf_threads(name, &t1);
	return t1 - t0;
}

static int nf_linkdel_owner(struct __test_metadata *_metadata, void *arg)
{
	const struct nf_linkdel *ld = arg;
	long tck = sysconf(_SC_CLK_TCK), ticks;
	struct nf_flows fl = { 0 };
	struct ndp_pair *p;
	unsigned long tx;
	int victim, i;
	long end;

	p = ld->macvtap ? ndp_pair_new_on(NF_NUM, NDP_F_QEMU, NF_RXBUF,
					  ld->mvt, ld->peer) :
			  ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	EXPECT_NE(NULL, p);
	if (!p)
		return 0;
	victim = ld->macvtap ? ld->lower : nf_tap_ifindex(p->dev[0].backend);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, nf_flow_start(&fl, p, i));
		EXPECT_EQ(0, ndp_flow_moves(&fl.f[i], NF_MOVE_N, NF_MOVE_MS));
	}
	EXPECT_EQ(0, nf_link_del(victim)) TH_LOG("cannot delete link %d", victim);

	/* dev[0]'s transmit buffers still come back, a ring's worth and more */
	tx = fl.f[0].tx_used;
	for (end = ndp_now_ms() + NF_MOVE_MS;
	     fl.f[0].tx_used < tx + 2 * NF_NUM && ndp_now_ms() < end;)
		usleep(2000);
	EXPECT_LE(tx + 2 * NF_NUM, fl.f[0].tx_used)
		TH_LOG("the TX ring stopped after the link went");
	EXPECT_EQ(0, ndp_flow_moves(&fl.f[1], NF_MOVE_N, NF_MOVE_MS))
		TH_LOG("the owner's other device stopped");
	for (i = 0; i < 2; i++)
		nf_flow_stop(&fl, i);
	ticks = nf_idle_ticks();
	ksft_print_msg("the worker used %ld of %ld ticks in an idle second after the link went\n",
		       ticks, tck);
	EXPECT_GT(tck / 10, ticks) TH_LOG("the worker spins");
	ksft_print_msg("error eventfd after the link went: rx %llu, tx %llu\n",
		       (unsigned long long)ndp_read_efd(p->dev[0].vq[NDP_RX].err),
		       (unsigned long long)ndp_read_efd(p->dev[0].vq[NDP_TX].err));
	for (i = 0; i < 2; i++) {
		nf_flow_report(_metadata, &fl.f[i], i ? "other device" :
			       "device");
		ndp_flow_free(&fl.f[i]);
	}
	/* the backend files are still open: the VMM holds them */
	nf_close(_metadata, &p->dev[0].dev);
	nf_close(_metadata, &p->dev[1].dev);
	ndp_pair_free(p);
	return 0;
}

/*
 * The tap of a device moving frames both ways is deleted (ip link del)
 * while the VMM keeps its file open: the TX ring goes on giving buffers
 * back (the frames are dropped, as a wire without its NIC drops them),
 * the worker does not spin, the owner's other device goes on, and the
 * device closes at once.
 */
TEST_F_TIMEOUT(faults, link_del_tap, 120)
{
	struct nf_linkdel ld = { 0 };
	pid_t pid = nf_spawn(_metadata, self->cg.own, nf_linkdel_owner, &ld);

	ASSERT_LT(0, pid);
	EXPECT_EQ(0, nf_reap(pid, kvio_ms(100000)));
	nf_settled(_metadata, &self->cg, &self->before);
}

/* The same with a passthru macvtap, whose lower veth is deleted. */
TEST_F_TIMEOUT(faults, link_del_macvtap_lower, 120)
{
	struct nf_linkdel ld = { .macvtap = 1 };
	char a[IFNAMSIZ], b[IFNAMSIZ], m[IFNAMSIZ];
	int s, up = 0;
	pid_t pid;

	snprintf(a, sizeof(a), "kvf%d", getpid() % 100000);
	snprintf(b, sizeof(b), "kvf%dp", getpid() % 100000);
	snprintf(m, sizeof(m), "kvf%dm", getpid() % 100000);
	ASSERT_EQ(0, kvio_run_cmd("ip link add %s type veth peer name %s", a, b));
	EXPECT_EQ(0, kvio_run_cmd("ip link add link %s name %s type macvtap mode passthru",
				  a, m));
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	up = if_nametoindex(m) && !ndp_if_quiet_up(s, a) &&
	     !ndp_if_quiet_up(s, b) &&
	     !ndp_if_quiet_up(s, m) && !ndp_if_wait_running(s, a) &&
	     !ndp_if_wait_running(s, b) && !ndp_if_wait_running(s, m);
	close(s);
	ld.lower = (int)if_nametoindex(a);
	ld.mvt = (int)if_nametoindex(m);
	ld.peer = (int)if_nametoindex(b);
	EXPECT_TRUE(up) TH_LOG("cannot bring the veth and macvtap up");
	if (up) {
		pid = nf_spawn(_metadata, self->cg.own, nf_linkdel_owner, &ld);
		ASSERT_LT(0, pid);
		EXPECT_EQ(0, nf_reap(pid, kvio_ms(100000)));
	}
	if (if_nametoindex(a))
		kvio_run_cmd("ip link del %s", a);
	nf_settled(_metadata, &self->cg, &self->before);
}

/* Reset, memory table and backend swaps under traffic */

#define NF_SWAP_ROUNDS	40
/*
 * No round starts after this long once NF_SWAP_MIN rounds ran: a loaded
 * host makes rounds slow (the rings move, slowly), and the test's time
 * limit is for a stuck step.
 */
#define NF_SWAP_MIN	4
#define NF_SWAP_BUDGET_MS	kvio_ms(150000)
#define NF_SWAPS	10	/* steps of a round */

struct nf_swap {
	struct ndp *g;
	struct ndp_flow *f;
	void *alias;		/* g's memory mapped a second time */
	struct vhost_memory *m[2];	/* alias; split, and at a second GPA */
	int tap2, pkt2;		/* another tap, its host side */
};

/* g's guest memory on a memfd, mapped at the same address and again. */
static void *nf_alias(struct ndp *g)
{
	int fd = memfd_create("kvio-guest", MFD_CLOEXEC);
	void *alias = MAP_FAILED;

	if (fd >= 0 && !ftruncate(fd, NDP_MEM_SIZE) &&
	    pwrite(fd, g->mem, NDP_MEM_SIZE, 0) == (ssize_t)NDP_MEM_SIZE &&
	    mmap(g->mem, NDP_MEM_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0) == g->mem)
		alias = mmap(NULL, NDP_MEM_SIZE, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	return alias == MAP_FAILED ? NULL : alias;
}

static void nf_swap_tables(struct nf_swap *sw)
{
	unsigned long mem = (unsigned long)sw->g->mem;
	unsigned long alias = (unsigned long)sw->alias;
	__u64 half = NDP_MEM_SIZE / 2;

	sw->m[0] = kvio_memtab(sw->g->c, 1);
	kvio_region(sw->m[0], 0, NDP_GPA_BASE, NDP_MEM_SIZE, alias);
	sw->m[1] = kvio_memtab(sw->g->c, 3);
	kvio_region(sw->m[1], 0, NDP_GPA_BASE, half, alias);
	kvio_region(sw->m[1], 1, NDP_GPA_BASE + half, half, mem + half);
	kvio_region(sw->m[1], 2, 1ULL << 32, NDP_MEM_SIZE, mem);
}

/* Another tap as the backend QEMU could switch to, and its host side. */
static int nf_tap2(struct ndp_pair *p, struct nf_swap *sw)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
	};
	int sz = NDP_HDR_LEN, s, ret = -1;
	struct ifreq ifr;

	sw->tap2 = kvio_tap(&p->c, KVIO_TAP_FLAGS, 1);
	memset(&ifr, 0, sizeof(ifr));
	if (sw->tap2 < 0 || ioctl(sw->tap2, TUNGETIFF, &ifr) ||
	    ioctl(sw->tap2, TUNSETVNETHDRSZ, &sz) ||
	    ioctl(sw->tap2, TUNSETOFFLOAD, 0))
		return -1;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (!ndp_if_quiet_up(s, ifr.ifr_name) &&
	    !ndp_if_wait_running(s, ifr.ifr_name))
		ret = 0;
	close(s);
	ll.sll_ifindex = (int)if_nametoindex(ifr.ifr_name);
	sw->pkt2 = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			  htons(0x88b5));
	if (ret || sw->pkt2 < 0 ||
	    bind(sw->pkt2, (struct sockaddr *)&ll, sizeof(ll)))
		return -1;
	return 0;
}

/*
 * The rings onto workers of the device's own (VHOST_NEW_WORKER): RX on
 * one, TX on another where the owner may have two more, else on the same.
 */
static int nf_own_workers(struct ndp *g, unsigned int id[2])
{
	struct vhost_worker_state ws;
	struct vhost_vring_worker vw;
	int i;

	for (i = 0; i < 2; i++) {
		if (ioctl(g->dev, VHOST_NEW_WORKER, &ws)) {
			if (!i || errno != ENOSPC)
				return -1;
			ws.worker_id = id[0];
		}
		id[i] = ws.worker_id;
		vw.index = i;
		vw.worker_id = id[i];
		if (ioctl(g->dev, VHOST_ATTACH_VRING_WORKER, &vw))
			return -1;
	}
	return 0;
}

/* The rings back on the owner's shared worker; their own ones freed. */
static int nf_shared_worker(struct ndp *g, const unsigned int id[2])
{
	struct vhost_vring_worker vw = { .worker_id = 0 };
	struct vhost_worker_state ws;
	int i;

	for (i = 0; i < 2; i++) {
		vw.index = i;
		if (ioctl(g->dev, VHOST_ATTACH_VRING_WORKER, &vw))
			return -1;
	}
	for (i = 0; i < 2; i++) {
		ws.worker_id = id[i];
		if ((!i || id[1] != id[0]) &&
		    ioctl(g->dev, VHOST_FREE_WORKER, &ws))
			return -1;
	}
	return 0;
}

/* Frames for the guest go in where its backend now is. */
static void nf_swap_sides(struct ndp_flow *f)
{
	int s = f->pkt[0];

	__atomic_store_n(&f->pkt[0], f->pkt[1], __ATOMIC_RELAXED);
	__atomic_store_n(&f->pkt[1], s, __ATOMIC_RELAXED);
}

/* Both rings as guest memory shows them now (the driver runs on). */
static void nf_ring_state(struct ndp_flow *f)
{
	static const char * const name[2] = { "RX", "TX" };
	struct vq *v;
	int i;

	for (i = 0; i < 2; i++) {
		v = &f->g->vq[i].vq;
		if (!v->used)
			continue;
		ksft_print_msg("  %s: avail idx %u, used idx %u, driver at %u, %u in flight\n",
			       name[i],
			       __atomic_load_n(&v->avail->idx, __ATOMIC_RELAXED),
			       __atomic_load_n(&v->used->idx, __ATOMIC_RELAXED),
			       __atomic_load_n(&v->used_idx, __ATOMIC_RELAXED),
			       __atomic_load_n(&v->published, __ATOMIC_RELAXED));
	}
}

/* This process's kvio worker threads (user workers are its threads). */
static void nf_workers(void)
{
	char path[96], comm[32], line[160], st;
	struct dirent *t;
	FILE *fp;
	DIR *d;

	d = opendir("/proc/self/task");
	while (d && (t = readdir(d))) {
		if (t->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/stat",
			 t->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fscanf(fp, "%*d (%31[^)]) %c", comm, &st) != 2 ||
		    strncmp(comm, "kvio-", 5)) {
			fclose(fp);
			continue;
		}
		fclose(fp);
		ksft_print_msg("  thread %s %s state %c\n", t->d_name, comm, st);
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/stack",
			 t->d_name);
		fp = fopen(path, "r");
		while (fp && fgets(line, sizeof(line), fp))
			ksft_print_msg("    %s", line);
		if (fp)
			fclose(fp);
	}
	if (d)
		closedir(d);
}

/*
 * For a flow that did not move n frames both ways in time (from tx0 and
 * rx0): where it stands, the workers' state and kernel stacks, and
 * whether it moves again given ten times as long; slow and stuck look
 * alike until then.
 */
static void nf_stalled(const char *what, struct ndp_flow *f, unsigned long n,
		       unsigned long tx0, unsigned long rx0)
{
	long t0 = ndp_now_ms();
	int ret;

	ksft_print_msg("%s: tx_used %lu (+%lu) rx_used %lu (+%lu) of %lu each\n",
		       what, f->tx_used, f->tx_used - tx0, f->rx_used,
		       f->rx_used - rx0, n);
	ksft_print_msg("  wire %lu injected %ld lost %ld\n", f->wire,
		       f->injected, f->rx_lost);
	nf_ring_state(f);
	nf_workers();
	ret = ndp_flow_moves(f, n, 10 * NF_MOVE_MS);
	ksft_print_msg("%s: %s %ld ms later\n", what,
		       ret ? "still stopped" : "both rings moved again",
		       ndp_now_ms() - t0);
	nf_ring_state(f);
	if (ret)
		nf_workers();
}

/* One round of swaps; every step must leave both rings moving. */
static int nf_swap_round(struct __test_metadata *_metadata,
			 struct nf_swap *sw, unsigned int round)
{
	static const char * const what[NF_SWAPS] = {
		"memory at another host address", "memory split and at a second GPA",
		"memory as at the start", "backend detached and again",
		"backend another tap", "backend the first tap again",
		"rings on workers of their own", "rings back on the shared worker",
		"rings on workers of their own again",
		"owner reset (rings on own workers) and set up again",
	};
	struct ndp *g = sw->g;
	unsigned long tx0, rx0;
	unsigned int id[2];
	__u16 base[2];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(what) && !ret; i++) {
		switch (i) {
		case 0:
		case 1:
			ret = ndp_vmm_mem(g, sw->m[i]);
			break;
		case 2:
			ret = ndp_vmm_mem(g, NULL);
			break;
		case 3:
			ret = ndp_vmm_backend(g, -1) ||
			      ndp_vmm_backend(g, g->backend);
			break;
		case 4:
			ret = ndp_vmm_backend(g, sw->tap2);
			nf_swap_sides(sw->f);
			break;
		case 5:
			ret = ndp_vmm_backend(g, g->backend);
			nf_swap_sides(sw->f);
			break;
		case 6:
		case 8:
			ret = nf_own_workers(g, id);
			break;
		case 7:
			ret = nf_shared_worker(g, id);
			break;
		default:
			ret = ndp_vmm_stop(g, base) ||
			      ioctl(g->dev, VHOST_RESET_OWNER, NULL) ||
			      ndp_vmm_start(g, base, NULL, 1);
			break;
		}
		EXPECT_EQ(0, ret) TH_LOG("round %u, %s: the ioctls failed",
					 round, what[i]);
		if (!ret) {
			tx0 = __atomic_load_n(&sw->f->tx_used, __ATOMIC_RELAXED);
			rx0 = __atomic_load_n(&sw->f->rx_used, __ATOMIC_RELAXED);
			ret = ndp_flow_moves(sw->f, NF_MOVE_N, NF_MOVE_MS);
			if (ret)
				nf_stalled(what[i], sw->f, NF_MOVE_N, tx0, rx0);
		}
		EXPECT_EQ(0, ret) TH_LOG("round %u, %s: the rings stopped",
					 round, what[i]);
	}
	return ret;
}

static int nf_swaps_owner(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_pair *p = ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	struct nf_swap sw = { .tap2 = -1, .pkt2 = -1 };
	struct nf_flows fl = { 0 };
	unsigned long tx0, rx0;
	unsigned int round;
	long t0;
	int i;

	(void)arg;
	EXPECT_NE(NULL, p);
	if (!p)
		return 0;
	sw.g = &p->dev[0];
	sw.alias = nf_alias(sw.g);
	EXPECT_NE(NULL, sw.alias);
	EXPECT_EQ(0, nf_tap2(p, &sw));
	if (!sw.alias || sw.pkt2 < 0)
		return 0;
	nf_swap_tables(&sw);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, ndp_flow_init(&fl.f[i], &p->dev[i]));
		if (!i)
			fl.f[i].pkt[1] = sw.pkt2;
		EXPECT_EQ(0, nf_flow_start(&fl, p, i));
	}
	sw.f = &fl.f[0];
	t0 = ndp_now_ms();
	for (round = 0; round < NF_SWAP_ROUNDS; round++) {
		if (round >= NF_SWAP_MIN &&
		    ndp_now_ms() - t0 > NF_SWAP_BUDGET_MS)
			break;
		if (nf_swap_round(_metadata, &sw, round))
			break;
		tx0 = __atomic_load_n(&fl.f[1].tx_used, __ATOMIC_RELAXED);
		rx0 = __atomic_load_n(&fl.f[1].rx_used, __ATOMIC_RELAXED);
		i = ndp_flow_moves(&fl.f[1], NF_MOVE_N, NF_MOVE_MS);
		if (i)
			nf_stalled("the other device", &fl.f[1], NF_MOVE_N,
				   tx0, rx0);
		EXPECT_EQ(0, i) TH_LOG("round %u: the owner's other device stopped",
				       round);
	}
	ksft_print_msg("%u rounds of %d swaps in %ld ms\n", round, NF_SWAPS,
		       ndp_now_ms() - t0);
	for (i = 0; i < 2; i++) {
		nf_flow_stop(&fl, i);
		nf_flow_report(_metadata, &fl.f[i], i ? "other device" :
			       "device");
		ndp_flow_free(&fl.f[i]);
	}
	EXPECT_TRUE(ndp_pair_quiet(p, NULL)) TH_LOG("a ring signalled an error");
	nf_close(_metadata, &p->dev[0].dev);
	nf_close(_metadata, &p->dev[1].dev);
	ndp_pair_free(p);
	free(sw.m[0]);
	free(sw.m[1]);
	return 0;
}

/*
 * Under traffic both ways on both rings, in a loop: VHOST_SET_MEM_TABLE
 * with the same memory at another host address (an alias mapping of the
 * same memfd), then split in two regions with the memory also at a
 * second guest-physical address, then as at the start; the backend
 * detached and attached again, switched to another tap and back; the
 * rings moved onto workers of the device's own, back onto the shared one
 * (the own ones freed) and onto own ones again; and VHOST_RESET_OWNER
 * (which stops those) followed by QEMU's whole setup from the ring bases
 * it read.  (The guest's own addresses cannot move under a running
 * driver: the driver here is the guest.)  After each step both rings
 * move NF_MOVE_N frames, neither pausing for NF_MOVE_MS, every frame that arrives is whole, no
 * ring signals an error, and the devices close at once.  NF_SWAP_ROUNDS
 * rounds, or as many as fit NF_SWAP_BUDGET_MS (at least NF_SWAP_MIN).
 */
TEST_F_TIMEOUT(faults, swaps, 300)
{
	pid_t pid;

	pid = nf_spawn(_metadata, self->cg.own, nf_swaps_owner, NULL);
	ASSERT_LT(0, pid);
	EXPECT_EQ(0, nf_reap(pid, kvio_ms(280000)));
	nf_settled(_metadata, &self->cg, &self->before);
}

/* 64 owners x 4 devices */

#define NF_OWNERS	64
#define NF_CHURN_FRAMES	4	/* each way, through each device */
#define NF_CHURN_MS	kvio_ms(30000)	/* for them, and for each close() */

/* Each device moved n frames each way, whole, within ms: 0, or -1. */
static int nf_churn_frames(struct ndp_flow *f, unsigned int nf,
			   unsigned long n, long ms)
{
	long end = ndp_now_ms() + ms;
	unsigned int i, done;

	do {
		for (i = 0, done = 0; i < nf; i++) {
			if (!ndp_flow_step(&f[i]))
				usleep(1000);
			done += f[i].tx_used >= n && f[i].wire >= n &&
				f[i].rx_used >= n;
		}
	} while (done < nf && ndp_now_ms() < end);
	for (i = 0; i < nf; i++)
		if (f[i].bad)
			ksft_print_msg("churn: %s\n", f[i].bad_msg);
	return done == nf ? 0 : -1;
}

static int nf_churn_owner(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_flow f[4] = { 0 };
	struct ndp_pair *p[2];
	int i, bad = 0;
	long t0;

	(void)_metadata;
	(void)arg;
	for (i = 0; i < 2; i++) {
		p[i] = ndp_pair_new(64, NDP_F_QEMU, NF_RXBUF);
		if (!p[i])
			return 1;
	}
	for (i = 0; i < 4; i++)
		bad += !!ndp_flow_init(&f[i], &p[i / 2]->dev[i % 2]);
	if (!bad && nf_churn_frames(f, 4, NF_CHURN_FRAMES, NF_CHURN_MS)) {
		ksft_print_msg("churn: owner %d: frames stopped\n", getpid());
		bad++;
	}
	for (i = 0; i < 4; i++) {
		bad += !!f[i].bad;
		ndp_flow_free(&f[i]);
		t0 = ndp_now_ms();
		close(p[i / 2]->dev[i % 2].dev);
		p[i / 2]->dev[i % 2].dev = -1;
		if (ndp_now_ms() - t0 > NF_CHURN_MS) {
			ksft_print_msg("churn: close() took %ld ms\n",
				       ndp_now_ms() - t0);
			bad++;
		}
	}
	for (i = 0; i < 2; i++)
		ndp_pair_free(p[i]);
	return bad ? 1 : 0;
}

/*
 * 64 owner processes at once each open 4 devices, own and set them up,
 * move a few frames each way through each, and close them: every device
 * works, the 64 workers go, and nothing of the 256 devices stays.  On
 * the 2 vCPUs of a TCG guest on a busy host, 64 owners and their workers
 * can starve one another for seconds: the frames and each close() get
 * NF_CHURN_MS, which only a device that stopped exceeds.
 */
TEST_F_TIMEOUT(faults, churn, 600)
{
	long t0 = ndp_now_ms(), end = t0 + 500000;
	pid_t pid[NF_OWNERS];
	int i, status, bad = 0;

	for (i = 0; i < NF_OWNERS; i++) {
		pid[i] = nf_spawn(_metadata, self->cg.own, nf_churn_owner, NULL);
		ASSERT_LT(0, pid[i]);
	}
	for (i = 0; i < NF_OWNERS; i++) {
		status = nf_reap(pid[i], end - ndp_now_ms());
		bad += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	nf_say("churn", "%d owners x 4 devices: %ld ms", NF_OWNERS,
	       ndp_now_ms() - t0);
	EXPECT_EQ(0, bad) TH_LOG("%d owners failed", bad);
	nf_settled(_metadata, &self->cg, &self->before);
}

/* An owner in a cgroup at its limits; another owner's close() */

/* Is the worker a thread of its owner (vhost_task), not a kthread? */
static int nf_user_worker(void)
{
	int fd = open(ndp_dev_path(), O_RDWR | O_CLOEXEC), found = 0;
	char name[32], path[96], comm[32];
	struct dirent *de;
	DIR *d;
	FILE *f;

	nf_worker_name(name, sizeof(name), getpid());
	if (fd < 0 || ioctl(fd, VHOST_SET_OWNER, NULL))
		goto out;
	d = opendir("/proc/self/task");
	while (d && !found && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f))
			found = !strncmp(comm, name, strlen(name)) &&
				comm[strlen(name)] == '\n';
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
out:
	if (fd >= 0)
		close(fd);
	return found;
}

#define NF_LAT_SAMPLES	4096
#define NF_LAT_PHASE_S	6	/* each phase */
#define NF_LAT_BOUND_US	(1500000L * kvio_time_scale())	/* close() and SET_OWNER return by then */
#define NF_LAT_ROOM	(4L << 20)	/* memory.max: usage + this */
/* cpu.max of the limited owner: 1 ms of CPU per second */
#define NF_LAT_CPU_MAX	"1000 1000000"
/*
 * The first CPU limit on the host turns a static key of the scheduler on
 * and the last one off, and the kernel patches its code each time: under
 * TCG another vCPU running the patched code meanwhile can trip over the
 * patch's int3 ("Oops: int3" in enqueue_entity, the emulator's race).  So
 * the key goes on before anything runs here, with a limit on the parent
 * that never throttles, and off once everything here is gone; the owner's
 * own limit then only counts.
 */
#define NF_LAT_CPU_ON	"100000000 100000"	/* 1000 CPUs' worth */

enum { NF_LAT_ALONE, NF_LAT_MEM, NF_LAT_CPU, NF_LAT_PHASES };

struct nf_lat_set {
	long n, us[NF_LAT_SAMPLES];
};

struct nf_lat {
	int phase;		/* NF_LAT_PHASES: stop */
	int filling;		/* F may start */
	int errors;
	struct nf_lat_set a[NF_LAT_PHASES];	/* A's SET_OWNER */
	struct nf_lat_set b_own[NF_LAT_PHASES];	/* B's SET_OWNER */
	struct nf_lat_set b_close[NF_LAT_PHASES];	/* B's close() */
};

static long nf_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static void nf_lat_add(struct nf_lat_set *set, long us)
{
	if (set->n < NF_LAT_SAMPLES)
		set->us[set->n++] = us;
}

static int nf_lat_phase(struct nf_lat *l)
{
	return __atomic_load_n(&l->phase, __ATOMIC_ACQUIRE);
}

/* F: page cache, read again and again, keeps the cgroup at its limit. */
static int nf_filler(struct __test_metadata *_metadata, void *arg)
{
	static const char * const files[] = {
		"/boot/initrd.img-%s", "/boot/vmlinuz-%s", "/proc/self/exe",
	};
	static char buf[1 << 20];
	struct nf_lat *l = arg;
	struct utsname u;
	char path[128];
	unsigned int i;
	int fd;

	(void)_metadata;
	uname(&u);
	while (!__atomic_load_n(&l->filling, __ATOMIC_ACQUIRE))
		usleep(10000);
	for (;;) {
		for (i = 0; i < ARRAY_SIZE(files); i++) {
			snprintf(path, sizeof(path), files[i], u.release);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
		}
	}
	return 0;
}

/* A: in the cgroup at its limits, makes a worker again and again. */
static int nf_limited_owner(struct __test_metadata *_metadata, void *arg)
{
	int fd = open(ndp_dev_path(), O_RDWR | O_CLOEXEC), phase;
	struct nf_lat *l = arg;
	long t0;

	(void)_metadata;
	while ((phase = nf_lat_phase(l)) < NF_LAT_PHASES) {
		if (phase == NF_LAT_ALONE) {
			usleep(10000);
			continue;
		}
		t0 = nf_us();
		if (ioctl(fd, VHOST_SET_OWNER, NULL) ||
		    ioctl(fd, VHOST_RESET_OWNER, NULL))
			__atomic_add_fetch(&l->errors, 1, __ATOMIC_RELAXED);
		nf_lat_add(&l->a[phase], nf_us() - t0);
	}
	close(fd);
	return 0;
}

/* B: another owner, outside; times SET_OWNER and close() of a device. */
static int nf_timed_owner(struct __test_metadata *_metadata, void *arg)
{
	struct nf_lat *l = arg;
	int fd, phase;
	long t0, t1;

	(void)_metadata;
	while ((phase = nf_lat_phase(l)) < NF_LAT_PHASES) {
		fd = open(ndp_dev_path(), O_RDWR | O_CLOEXEC);
		t0 = nf_us();
		if (fd < 0 || ioctl(fd, VHOST_SET_OWNER, NULL))
			__atomic_add_fetch(&l->errors, 1, __ATOMIC_RELAXED);
		t1 = nf_us();
		close(fd);
		nf_lat_add(&l->b_own[phase], t1 - t0);
		nf_lat_add(&l->b_close[phase], nf_us() - t1);
		usleep(1000);
	}
	return 0;
}

static int nf_cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* Median and maximum, in us; the report line. */
static long nf_lat_show(struct nf_lat_set *set, const char *what)
{
	long med = 0, max = 0;

	if (set->n) {
		qsort(set->us, set->n, sizeof(set->us[0]), nf_cmp_long);
		med = set->us[set->n / 2];
		max = set->us[set->n - 1];
	}
	ksft_print_msg("  %s: %ld, median %ld us, max %ld us\n", what, set->n,
		       med, max);
	return max;
}

static void nf_lat_report(struct __test_metadata *_metadata,
			  struct nf_lat *l, const long *events, int phases)
{
	static const char * const name[] = {
		"the other owner alone",
		"an owner in a cgroup at memory.max makes workers",
		"... and at its cpu.max too",
	};
	long b_own, b_close;
	int i;

	for (i = 0; i < phases; i++) {
		ksft_print_msg("%s (memory.max hit %ld times):\n", name[i],
			       events[i]);
		if (i)
			nf_lat_show(&l->a[i], "its SET_OWNER + RESET_OWNER");
		b_own = nf_lat_show(&l->b_own[i], "the other's SET_OWNER");
		b_close = nf_lat_show(&l->b_close[i], "the other's close()");
		EXPECT_LT(0, l->b_close[i].n);
		EXPECT_GT(NF_LAT_BOUND_US, b_own)
			TH_LOG("%s: a SET_OWNER took %ld ms", name[i],
			       b_own / 1000);
		EXPECT_GT(NF_LAT_BOUND_US, b_close)
			TH_LOG("%s: a close() took %ld ms", name[i],
			       b_close / 1000);
	}
	EXPECT_LT(0, l->a[NF_LAT_MEM].n);
	EXPECT_EQ(0, l->errors) TH_LOG("open() or SET_OWNER failed");
}

/*
 * Owner A, in a memory cgroup whose memory.max is its usage plus 4 MiB
 * while process F keeps filling it with page cache, makes and drops
 * workers again and again (VHOST_SET_OWNER, VHOST_RESET_OWNER); owner
 * B, elsewhere, times SET_OWNER and close() of a device of its own,
 * before and meanwhile.  Making a worker is charged to A's cgroup (a
 * task and its stack, or a kthread's cgroup attach) and may reclaim
 * there, and so must never happen under a lock that every SET_OWNER and
 * every close() on the host take.  Reclaim of clean page cache is quick, so
 * A's cgroup then gets a CPU limit too (cpu.max, 1 ms a second): A stops
 * for about a second wherever its share runs out, mostly while it makes
 * a worker.  B's calls return within NF_LAT_BOUND_US in every phase; its
 * close() itself waits for an RCU grace period, tens of ms under TCG and
 * up to most of a second when the host is busy.  Where workers are
 * kthreads (6.1), there is no CPU limit: each kthread's cgroup attach
 * takes cgroup_mutex, which a stopped A would hold for everyone.
 */
TEST_F_TIMEOUT(faults, memcg_close_latency, 180)
{
	struct nf_lat *l = mmap(NULL, sizeof(*l), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char limited[NF_CG_MAX + 64], val[32], ev[NF_CG_MAX + 96];
	char owner[NF_CG_MAX + 80], filler[NF_CG_MAX + 80];
	long usage, events[NF_LAT_PHASES], e0;
	int i, user = nf_user_worker();
	pid_t a, b, f;

	ASSERT_NE(MAP_FAILED, l);
	if (!self->cg.top[0])
		SKIP(return, "no cgroup v2 memory controller");
	snprintf(limited, sizeof(limited), "%s/limited", self->cg.top);
	snprintf(owner, sizeof(owner), "%s/owner", limited);
	snprintf(filler, sizeof(filler), "%s/filler", limited);
	snprintf(ev, sizeof(ev), "%s/memory.events", limited);
	/* A and F share the memory limit; only A gets the CPU limit */
	nf_cg_file(nf_cg_root(), "cgroup.subtree_control", "+cpu");
	ASSERT_EQ(0, nf_cg_file(self->cg.top, "cgroup.subtree_control", "+cpu"))
		TH_LOG("no cgroup v2 cpu controller");
	ASSERT_EQ(0, mkdir(limited, 0755));
	ASSERT_EQ(0, nf_cg_file(limited, "cgroup.subtree_control",
				"+memory +cpu"));
	ASSERT_EQ(0, mkdir(owner, 0755));
	ASSERT_EQ(0, mkdir(filler, 0755));
	if (user)
		EXPECT_EQ(0, nf_cg_file(limited, "cpu.max", NF_LAT_CPU_ON));
	/* the new cgroups' own memory is charged to the test's */
	usleep(NF_STAT_FLUSH_MS * 1000);
	nf_counts(&self->cg, &self->before);
	f = nf_spawn(_metadata, filler, nf_filler, l);
	a = nf_spawn(_metadata, owner, nf_limited_owner, l);
	b = nf_spawn(_metadata, self->cg.own, nf_timed_owner, l);
	ASSERT_LT(0, f);
	ASSERT_LT(0, a);
	ASSERT_LT(0, b);
	for (i = 0; i < NF_LAT_PHASES; i++) {
		if (i == NF_LAT_MEM) {
			usage = nf_cg_stat(limited, "anon") +
				nf_cg_stat(limited, "kernel");
			snprintf(val, sizeof(val), "%ld", usage + NF_LAT_ROOM);
			EXPECT_EQ(0, nf_cg_file(limited, "memory.max", val));
			__atomic_store_n(&l->filling, 1, __ATOMIC_RELEASE);
			sleep(1);
		}
		if (i == NF_LAT_CPU && !user) {
			nf_say("no CPU limit",
			       "workers are kthreads: the cgroup attach of each holds cgroup_mutex, and so does a limited owner while it waits for CPU");
			break;
		}
		if (i == NF_LAT_CPU)
			EXPECT_EQ(0, nf_cg_file(owner, "cpu.max",
						NF_LAT_CPU_MAX));
		e0 = nf_keyed(ev, "max");
		__atomic_store_n(&l->phase, i, __ATOMIC_RELEASE);
		sleep(NF_LAT_PHASE_S);
		events[i] = nf_keyed(ev, "max") - e0;
	}
	__atomic_store_n(&l->phase, NF_LAT_PHASES, __ATOMIC_RELEASE);
	nf_cg_file(owner, "cpu.max", "max");
	EXPECT_EQ(0, nf_reap(a, kvio_ms(30000)));
	EXPECT_EQ(0, nf_reap(b, kvio_ms(30000)));
	kill(f, SIGKILL);
	nf_reap(f, 10000);
	if (user)
		nf_cg_file(limited, "cpu.max", "max");
	/* F's page cache is not the owners' to give back */
	nf_cg_file(filler, "memory.reclaim", "1G");
	nf_lat_report(_metadata, l, events, i);
	munmap(l, sizeof(*l));
	nf_settled(_metadata, &self->cg, &self->before);
}

/* What an XDP program on the tap sees in a frame's headroom */

#define NF_XDP_BACK	256	/* XDP_PACKET_HEADROOM: the room promised */
#define NF_XDP_FRAMES	400
#define NF_XDP_INSNS	160

enum { NF_XDP_SEEN, NF_XDP_DIRTY, NF_XDP_WORD, NF_XDP_NOROOM, NF_XDP_KEYS };

#define NF_INSN(c, d, s, o, i)	((struct bpf_insn) {			\
		.code = (c), .dst_reg = (d), .src_reg = (s),		\
		.off = (o), .imm = (i) })

struct nf_prog {
	struct bpf_insn insn[NF_XDP_INSNS];
	unsigned int n, nfix, nlabel;
	unsigned int fix[16], fix_to[16], label[16];
	int map;
};

static void nf_emit(struct nf_prog *p, struct bpf_insn insn)
{
	if (p->n < NF_XDP_INSNS)
		p->insn[p->n++] = insn;
}

static unsigned int nf_new_label(struct nf_prog *p)
{
	return p->nlabel++;
}

static void nf_here(struct nf_prog *p, unsigned int label)
{
	p->label[label] = p->n;
}

/* A conditional jump to @label, placed by nf_link_jumps(). */
static void nf_jump(struct nf_prog *p, __u8 op, __u8 dst, __u8 src, __s32 imm,
		    unsigned int label)
{
	p->fix[p->nfix] = p->n;
	p->fix_to[p->nfix++] = label;
	nf_emit(p, NF_INSN(BPF_JMP | op | (src ? BPF_X : BPF_K), dst, src, 0,
			   imm));
}

static void nf_link_jumps(struct nf_prog *p)
{
	unsigned int i;

	for (i = 0; i < p->nfix; i++)
		p->insn[p->fix[i]].off = p->label[p->fix_to[i]] - p->fix[i] - 1;
}

/* r0 = &map[key], or on to @none if there is none. */
static void nf_lookup(struct nf_prog *p, int key, unsigned int none)
{
	nf_emit(p, NF_INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, key));
	nf_emit(p, NF_INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1,
			   BPF_PSEUDO_MAP_FD, 0, p->map));
	nf_emit(p, NF_INSN(0, 0, 0, 0, 0));
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10,
			   0, 0));
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4));
	nf_emit(p, NF_INSN(BPF_JMP | BPF_CALL, 0, 0, 0,
			   BPF_FUNC_map_lookup_elem));
	nf_jump(p, BPF_JEQ, BPF_REG_0, 0, 0, none);
}

/* map[key] += 1 */
static void nf_count(struct nf_prog *p, int key)
{
	unsigned int done = nf_new_label(p);

	nf_lookup(p, key, done);
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1));
	nf_emit(p, NF_INSN(BPF_STX | BPF_DW | BPF_ATOMIC, BPF_REG_0, BPF_REG_1,
			   0, BPF_ADD));
	nf_here(p, done);
}

/* bpf_xdp_adjust_head(ctx, by) */
static void nf_adjust(struct nf_prog *p, int by)
{
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6,
			   0, 0));
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, by));
	nf_emit(p, NF_INSN(BPF_JMP | BPF_CALL, 0, 0, 0,
			   BPF_FUNC_xdp_adjust_head));
}

/*
 * For each frame of the test's EtherType: move its start back by
 * NF_XDP_BACK, OR together the bytes now in front of the frame, count
 * the frame and, if that is not 0, count it as dirty and keep the word;
 * move the start back where it was, XDP_PASS.
 */
static void nf_xdp_prog(struct nf_prog *p)
{
	unsigned int restore = nf_new_label(p), noroom = nf_new_label(p);
	int i;

	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1,
			   0, 0));
	nf_adjust(p, -NF_XDP_BACK);
	nf_jump(p, BPF_JNE, BPF_REG_0, 0, 0, noroom);
	nf_emit(p, NF_INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_6,
			   offsetof(struct xdp_md, data), 0));
	nf_emit(p, NF_INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_6,
			   offsetof(struct xdp_md, data_end), 0));
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_4, BPF_REG_2,
			   0, 0));
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_4, 0, 0,
			   NF_XDP_BACK + 14));
	nf_jump(p, BPF_JGT, BPF_REG_4, BPF_REG_3, 0, restore);
	nf_emit(p, NF_INSN(BPF_LDX | BPF_MEM | BPF_H, BPF_REG_5, BPF_REG_2,
			   NF_XDP_BACK + 12, 0));
	nf_jump(p, BPF_JNE, BPF_REG_5, 0, htons(0x88b5), restore);
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 0));
	for (i = 0; i < NF_XDP_BACK; i += 8) {
		nf_emit(p, NF_INSN(BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_5,
				   BPF_REG_2, i, 0));
		nf_emit(p, NF_INSN(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7,
				   BPF_REG_5, 0, 0));
	}
	nf_count(p, NF_XDP_SEEN);
	nf_jump(p, BPF_JEQ, BPF_REG_7, 0, 0, restore);
	nf_count(p, NF_XDP_DIRTY);
	nf_lookup(p, NF_XDP_WORD, restore);
	nf_emit(p, NF_INSN(BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_7,
			   0, 0));
	nf_here(p, restore);
	nf_adjust(p, NF_XDP_BACK);
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0,
			   XDP_PASS));
	nf_emit(p, NF_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	nf_here(p, noroom);
	nf_count(p, NF_XDP_NOROOM);
	nf_emit(p, NF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0,
			   XDP_PASS));
	nf_emit(p, NF_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	nf_link_jumps(p);
}

static int nf_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* The program on @ifindex in native mode; its link fd, or -1. */
static int nf_xdp_attach(struct __test_metadata *_metadata, int ifindex,
			 int *map)
{
	static char log[1 << 16];
	struct nf_prog *p = calloc(1, sizeof(*p));
	union bpf_attr attr;
	int prog, link;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = NF_XDP_KEYS;
	*map = nf_bpf(BPF_MAP_CREATE, &attr);
	EXPECT_LE(0, *map) TH_LOG("BPF_MAP_CREATE: %s", strerror(errno));
	if (*map < 0 || !p)
		return -1;
	p->map = *map;
	nf_xdp_prog(p);
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_XDP;
	attr.insns = (unsigned long)p->insn;
	attr.insn_cnt = p->n;
	attr.license = (unsigned long)"GPL";
	attr.log_buf = (unsigned long)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	prog = nf_bpf(BPF_PROG_LOAD, &attr);
	EXPECT_LE(0, prog) TH_LOG("BPF_PROG_LOAD: %s\n%s", strerror(errno),
				  log);
	free(p);
	if (prog < 0)
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = prog;
	attr.link_create.target_ifindex = ifindex;
	attr.link_create.attach_type = BPF_XDP;
	attr.link_create.flags = XDP_FLAGS_DRV_MODE;
	link = nf_bpf(BPF_LINK_CREATE, &attr);
	EXPECT_LE(0, link) TH_LOG("XDP on the tap: %s", strerror(errno));
	close(prog);
	return link;
}

static __u64 nf_map_get(int map, __u32 key)
{
	union bpf_attr attr;
	__u64 v = 0;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map;
	attr.key = (unsigned long)&key;
	attr.value = (unsigned long)&v;
	nf_bpf(BPF_MAP_LOOKUP_ELEM, &attr);
	return v;
}

static int nf_xdp_owner(struct __test_metadata *_metadata, void *arg)
{
	struct ndp_pair *p = ndp_pair_new(NF_NUM, NDP_F_QEMU, NF_RXBUF);
	__u64 v[NF_XDP_KEYS];
	int map = -1, link;
	unsigned int i;

	(void)arg;
	EXPECT_NE(NULL, p);
	if (!p)
		return 0;
	link = nf_xdp_attach(_metadata, nf_tap_ifindex(p->dev[0].backend),
			     &map);
	if (link >= 0) {
		EXPECT_EQ(0, ndp_pair_traffic(p, &p->dev[0], NF_XDP_FRAMES, 0));
		for (i = 0; i < NF_XDP_KEYS; i++)
			v[i] = nf_map_get(map, i);
		nf_say("xdp",
		       "the program saw %llu frames, %llu with headroom not zero (e.g. %#llx), %llu without %d bytes of headroom",
			       (unsigned long long)v[NF_XDP_SEEN],
			       (unsigned long long)v[NF_XDP_DIRTY],
			       (unsigned long long)v[NF_XDP_WORD],
			       (unsigned long long)v[NF_XDP_NOROOM],
			       NF_XDP_BACK);
		EXPECT_EQ(NF_XDP_FRAMES, v[NF_XDP_SEEN]);
		EXPECT_EQ(0, v[NF_XDP_NOROOM]);
		EXPECT_EQ(0, v[NF_XDP_DIRTY])
			TH_LOG("the XDP program read stale bytes in front of frames");
		close(link);
	}
	if (map >= 0)
		close(map);
	ndp_pair_free(p);
	return 0;
}

/*
 * An XDP program on the tap moves the start of each frame the guest
 * sends back by 256 bytes, the headroom XDP programs are promised, and
 * reads those bytes: they must be zero.  kvio builds the frames of its
 * batched path (frames under a page) in pages it reuses once tun has
 * freed every frame in them; 400 frames make it reuse them, and a
 * headroom left as it was showed what earlier frames left there.
 */
TEST_F_TIMEOUT(faults, xdp_headroom, 120)
{
	pid_t pid = nf_spawn(_metadata, self->cg.own, nf_xdp_owner, NULL);

	ASSERT_LT(0, pid);
	EXPECT_EQ(0, nf_reap(pid, kvio_ms(100000)));
	nf_settled(_metadata, &self->cg, &self->before);
}

TEST_HARNESS_MAIN
