// SPDX-License-Identifier: GPL-2.0
/*
 * Environment for the differential scenarios: guest memory, ring layout,
 * file descriptors of every kind a scenario hands to the device, and the
 * composite setup sequences that many scenarios share.
 *
 * Everything is created inside the scenario's own child process, so the
 * addresses are valid in the process that owns the device.
 *
 * Also what vhost_diff shares with net_datapath: the environment knobs,
 * running a scenario in a fresh child, running a command.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "vhost_diff.h"

#define KVIO_RING_STRIDE	0x10000UL
#define KVIO_AVAIL_OFF		0x4000UL
#define KVIO_USED_OFF		0x8000UL
#define KVIO_HOLE_SIZE		0x40000UL
/* Far below the top-down mmap area, so later mappings never refill it. */
#define KVIO_HOLE_HINT		((void *)0x3e0000000000UL)
#define KVIO_CHILD_TIMEOUT	10
#define KVIO_EXEC_ENV		"KVIO_DIFF_EXEC"

static const __u64 kvio_ready_features =
	(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MRG_RXBUF);

int kvio_open(struct kvio_ctx *c, const char *label, int flags)
{
	int fd;

	errno = 0;
	fd = open(c->path, flags | O_CLOEXEC);
	kvio_rec(c, label, fd < 0 ? -1 : 0, errno);
	return fd;
}

void kvio_close(struct kvio_ctx *c, const char *label, int fd)
{
	long ret;

	errno = 0;
	ret = close(fd);
	kvio_rec(c, label, ret, errno);
}

void *kvio_map(struct kvio_ctx *c, size_t size, int prot)
{
	void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		kvio_env_fail(c, "mmap %zu: %s", size, strerror(errno));
		return NULL;
	}
	return p;
}

void *kvio_mem(struct kvio_ctx *c)
{
	if (!c->mem)
		c->mem = kvio_map(c, KVIO_GUEST_SIZE, PROT_READ | PROT_WRITE);
	return c->mem;
}

void *kvio_hole(struct kvio_ctx *c)
{
	void *p;

	if (c->hole)
		return c->hole;
	p = mmap(KVIO_HOLE_HINT, KVIO_HOLE_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		kvio_env_fail(c, "mmap hole: %s", strerror(errno));
		return NULL;
	}
	munmap(p, KVIO_HOLE_SIZE);
	c->hole = p;
	return p;
}

void *kvio_ro_page(struct kvio_ctx *c)
{
	if (!c->ro_page)
		c->ro_page = kvio_map(c, KVIO_HOLE_SIZE, PROT_READ);
	return c->ro_page;
}

/* Queue idx of a layout rooted at base: desc, avail and used 16K apart. */
void kvio_ring_addr_at(struct vhost_vring_addr *a, unsigned int idx,
		       void *base)
{
	__u64 q = (__u64)(unsigned long)base +
		     KVIO_RING_STRIDE * (idx + 1);

	memset(a, 0, sizeof(*a));
	a->index = idx;
	a->desc_user_addr = q;
	a->avail_user_addr = q + KVIO_AVAIL_OFF;
	a->used_user_addr = q + KVIO_USED_OFF;
	/* guest memory maps gpa 0 at base */
	a->log_guest_addr = a->used_user_addr - (unsigned long)base;
}

void kvio_ring_addr(struct kvio_ctx *c, unsigned int idx,
		    struct vhost_vring_addr *a)
{
	kvio_ring_addr_at(a, idx, kvio_mem(c));
}

struct vhost_memory *kvio_memtab(struct kvio_ctx *c, unsigned int n)
{
	struct vhost_memory *m;

	m = calloc(1, sizeof(*m) + (size_t)n * sizeof(m->regions[0]));
	if (!m) {
		kvio_env_fail(c, "calloc memory table of %u", n);
		abort();
	}
	m->nregions = n;
	return m;
}

void kvio_region(struct vhost_memory *m, unsigned int i, __u64 gpa,
		 __u64 size, __u64 uaddr)
{
	m->regions[i].guest_phys_addr = gpa;
	m->regions[i].memory_size = size;
	m->regions[i].userspace_addr = uaddr;
	m->regions[i].flags_padding = 0;
}

static int kvio_check_fd(struct kvio_ctx *c, int fd, const char *what)
{
	if (fd < 0)
		kvio_env_fail(c, "%s: %s", what, strerror(errno));
	return fd;
}

int kvio_eventfd(struct kvio_ctx *c)
{
	return kvio_check_fd(c, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
			     "eventfd");
}

/* Returns the read end; the write end stays open for the run. */
int kvio_pipe(struct kvio_ctx *c)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return kvio_check_fd(c, -1, "pipe");
	return p[0];
}

int kvio_regular_file(struct kvio_ctx *c)
{
	return kvio_check_fd(c, memfd_create("kvio-diff", MFD_CLOEXEC),
			     "memfd_create");
}

int kvio_socket(struct kvio_ctx *c, int domain, int type, int proto)
{
	return kvio_check_fd(c, socket(domain, type | SOCK_CLOEXEC, proto),
			     "socket");
}

/* A tun/tap fd; with setiff, attached to a fresh interface kvt<pid>_<n>. */
int kvio_tap(struct kvio_ctx *c, int flags, int setiff)
{
	struct ifreq ifr;
	int fd;

	fd = kvio_check_fd(c, open("/dev/net/tun", O_RDWR | O_CLOEXEC),
			   "open /dev/net/tun");
	if (fd < 0 || !setiff)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "kvt%d_%d", (int)getpid(), c->ntaps++);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		kvio_env_fail(c, "TUNSETIFF %s: %s", ifr.ifr_name,
			      strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Opens /dev/tapN, creating the node from sysfs if devtmpfs has none. */
int kvio_macvtap(struct kvio_ctx *c)
{
	char path[64], sys[96];
	unsigned int maj, min;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/dev/tap%d", c->macvtap_ifindex);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return kvio_check_fd(c, fd, path);
	snprintf(sys, sizeof(sys), "/sys/class/macvtap/tap%d/dev",
		 c->macvtap_ifindex);
	f = fopen(sys, "r");
	if (!f || fscanf(f, "%u:%u", &maj, &min) != 2) {
		if (f)
			fclose(f);
		return kvio_check_fd(c, -1, sys);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/tmp/kvio-tap%d-%d", c->macvtap_ifindex,
		 (int)getpid());
	if (mknod(path, S_IFCHR | 0600, makedev(maj, min)))
		return kvio_check_fd(c, -1, "mknod macvtap");
	fd = open(path, O_RDWR | O_CLOEXEC);
	unlink(path);
	return kvio_check_fd(c, fd, path);
}

static void kvio_on_alarm(int sig)
{
	(void)sig;
}

/* A read that may block is bounded, so a hang shows up as EINTR. */
long kvio_read_step(struct kvio_ctx *c, const char *label, int fd, size_t len)
{
	struct sigaction sa = { .sa_handler = kvio_on_alarm }, old;
	unsigned int left = alarm(0);
	char buf[256];
	long ret;

	if (len > sizeof(buf))
		len = sizeof(buf);
	sigaction(SIGALRM, &sa, &old);
	alarm(KVIO_READ_TIMEOUT);
	errno = 0;
	ret = read(fd, buf, len);
	kvio_rec(c, label, ret, errno);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	alarm(left);
	return ret;
}

/* One IOTLB message written to the device, v1 or v2 layout. */
long kvio_iotlb_write(struct kvio_ctx *c, const char *label, int fd, int v2,
		      __u8 type, __u64 iova, __u64 size, __u64 uaddr,
		      __u8 perm)
{
	struct vhost_msg_v2 m2;
	struct vhost_msg m1;
	struct vhost_iotlb_msg *msg = v2 ? &m2.iotlb : &m1.iotlb;
	void *buf = v2 ? (void *)&m2 : (void *)&m1;
	size_t len = v2 ? sizeof(m2) : sizeof(m1);
	long ret;

	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	m1.type = VHOST_IOTLB_MSG;
	m2.type = VHOST_IOTLB_MSG_V2;
	msg->iova = iova;
	msg->size = size;
	msg->uaddr = uaddr;
	msg->perm = perm;
	msg->type = type;
	errno = 0;
	ret = write(fd, buf, len);
	kvio_rec(c, label, ret, errno);
	return ret;
}

long kvio_mem1(struct kvio_ctx *c, const char *label, int fd)
{
	struct vhost_memory *m = kvio_memtab(c, 1);
	long ret;

	kvio_region(m, 0, 0, KVIO_GUEST_SIZE, (unsigned long)kvio_mem(c));
	ret = kvio_mem_table(c, label, fd, m);
	free(m);
	return ret;
}

void kvio_vq_setup(struct kvio_ctx *c, int fd, unsigned int idx)
{
	struct vhost_vring_addr a;
	char l[3][16];

	snprintf(l[0], sizeof(l[0]), "q%u.num", idx);
	snprintf(l[1], sizeof(l[1]), "q%u.base", idx);
	snprintf(l[2], sizeof(l[2]), "q%u.addr", idx);
	kvio_state(c, l[0], fd, VHOST_SET_VRING_NUM, idx, KVIO_RING_NUM);
	kvio_state(c, l[1], fd, VHOST_SET_VRING_BASE, idx, 0);
	kvio_ring_addr(c, idx, &a);
	kvio_addr(c, l[2], fd, &a);
}

/* Owner, features, one memory region and both rings: ready for a backend. */
void kvio_ready(struct kvio_ctx *c, int fd)
{
	kvio_owner(c, "owner", fd);
	kvio_set_u64(c, "features", fd, VHOST_SET_FEATURES,
		     kvio_ready_features);
	kvio_mem1(c, "mem", fd);
	kvio_vq_setup(c, fd, 0);
	kvio_vq_setup(c, fd, 1);
}

void kvio_eventfds(struct kvio_ctx *c, int fd, unsigned int idx)
{
	static const unsigned long req[3] = {
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
	};
	static const char * const name[3] = { "kick", "call", "err" };
	char l[16];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), "q%u.%s", idx, name[i]);
		kvio_file(c, l, fd, req[i], idx, kvio_eventfd(c));
	}
}

int kvio_open_owned(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_owner(c, "owner", fd);
	return fd;
}

int kvio_open_ready(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_ready(c, fd);
	return fd;
}

/* A fresh tap interface as the backend of queue idx. */
long kvio_attach_new_tap(struct kvio_ctx *c, const char *label, int fd,
			 unsigned int idx)
{
	return kvio_file(c, label, fd, VHOST_NET_SET_BACKEND, idx,
			 kvio_tap(c, KVIO_TAP_FLAGS, 1));
}

int kvio_attach_both(struct kvio_ctx *c, int fd)
{
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	kvio_file(c, "q0.backend", fd, VHOST_NET_SET_BACKEND, 0, tap);
	kvio_file(c, "q1.backend", fd, VHOST_NET_SET_BACKEND, 1, tap);
	return tap;
}

int kvio_open_attached(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	kvio_attach_both(c, fd);
	return fd;
}

/* Everything a VMM sets up: rings, eventfds, dirty log and a tap backend. */
int kvio_full(struct kvio_ctx *c, int fd)
{
	kvio_ready(c, fd);
	kvio_eventfds(c, fd, 0);
	kvio_eventfds(c, fd, 1);
	kvio_set_int(c, "log_fd", fd, VHOST_SET_LOG_FD, kvio_eventfd(c));
	/* the first 64K of guest memory hold no ring: room for the bitmap */
	kvio_set_u64(c, "log_base", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_mem(c));
	return kvio_attach_both(c, fd);
}

int kvio_open_full(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_full(c, fd);
	return fd;
}

/* One call of every ioctl of the uAPI with a plausible argument. */
void kvio_every_ioctl(struct kvio_ctx *c, int fd)
{
	struct vhost_vring_addr a;
	__u32 unknown_arg = 0;

	kvio_get_u64(c, "get_features", fd, VHOST_GET_FEATURES, 0);
	kvio_set_u64(c, "set_features", fd, VHOST_SET_FEATURES,
		     kvio_ready_features);
	kvio_get_u64(c, "get_backend_features", fd,
		     VHOST_GET_BACKEND_FEATURES, 0);
	kvio_set_u64(c, "set_backend_features", fd,
		     VHOST_SET_BACKEND_FEATURES, 0);
	kvio_mem1(c, "set_mem_table", fd);
	kvio_set_u64(c, "set_log_base", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_mem(c));
	kvio_set_int(c, "set_log_fd", fd, VHOST_SET_LOG_FD, -1);
	kvio_state(c, "set_vring_num", fd, VHOST_SET_VRING_NUM, 0,
		   KVIO_RING_NUM);
	kvio_ring_addr(c, 0, &a);
	kvio_addr(c, "set_vring_addr", fd, &a);
	kvio_state(c, "set_vring_base", fd, VHOST_SET_VRING_BASE, 0, 0);
	kvio_get_state(c, "get_vring_base", fd, VHOST_GET_VRING_BASE, 0);
	kvio_file(c, "set_vring_kick", fd, VHOST_SET_VRING_KICK, 0,
		  kvio_eventfd(c));
	kvio_file(c, "set_vring_call", fd, VHOST_SET_VRING_CALL, 0,
		  kvio_eventfd(c));
	kvio_file(c, "set_vring_err", fd, VHOST_SET_VRING_ERR, 0,
		  kvio_eventfd(c));
	kvio_state(c, "set_vring_endian", fd, VHOST_SET_VRING_ENDIAN, 0,
		   VHOST_VRING_LITTLE_ENDIAN);
	kvio_get_state(c, "get_vring_endian", fd, VHOST_GET_VRING_ENDIAN, 0);
	kvio_state(c, "set_busyloop", fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
		   0, 10);
	kvio_get_state(c, "get_busyloop", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	kvio_file(c, "set_backend", fd, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_io(c, "unknown", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32),
		&unknown_arg);
}

/*
 * Every kind of fd a vring file ioctl (kick, call, err) may be handed,
 * in an order that also covers rebinding and unbinding.
 */
void kvio_fd_matrix(struct kvio_ctx *c, int fd, unsigned long req)
{
	int efd = kvio_eventfd(c);

	kvio_file(c, "eventfd", fd, req, 0, efd);
	kvio_file(c, "same_eventfd", fd, req, 0, efd);
	kvio_file(c, "other_eventfd", fd, req, 0, kvio_eventfd(c));
	kvio_file(c, "unbind", fd, req, 0, VHOST_FILE_UNBIND);
	kvio_file(c, "unbind_again", fd, req, 0, VHOST_FILE_UNBIND);
	kvio_file(c, "bad_fd", fd, req, 0, 4000);
	kvio_file(c, "fd_minus_2", fd, req, 0, -2);
	kvio_file(c, "pipe", fd, req, 0, kvio_pipe(c));
	kvio_file(c, "regular_file", fd, req, 0, kvio_regular_file(c));
	kvio_file(c, "socket", fd, req, 0,
		  kvio_socket(c, AF_UNIX, SOCK_DGRAM, 0));
	kvio_file(c, "vhost_fd_itself", fd, req, 0, fd);
	kvio_file(c, "q1_eventfd", fd, req, 1, efd);
	kvio_file(c, "idx2", fd, req, 2, efd);
	kvio_file(c, "idx_max", fd, req, 0xffffffffu, efd);
}

/* What a process that is not the owner gets from the device. */
void kvio_non_owner_steps(struct kvio_ctx *c, int fd)
{
	kvio_every_ioctl(c, fd);
	kvio_owner(c, "owner", fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	kvio_attach_new_tap(c, "backend_tap", fd, 0);
}

/*
 * Re-executes this program; kvio_exec_resume() then runs
 * kvio_non_owner_steps() on fd in the new image, recording under tag into
 * the same memfd.  Returns only if exec failed.
 */
void kvio_exec_self(struct kvio_ctx *c, int fd, const char *tag)
{
	char env[KVIO_ENV_LEN];

	snprintf(env, sizeof(env), "%d:%zu:%d:%s:%s", c->run_fd, c->run_off,
		 fd, tag, c->path);
	if (fcntl(fd, F_SETFD, 0) || fcntl(c->run_fd, F_SETFD, 0) ||
	    setenv(KVIO_EXEC_ENV, env, 1)) {
		kvio_env_fail(c, "prepare exec: %s", strerror(errno));
		return;
	}
	execl("/proc/self/exe", "vhost_diff", (char *)NULL);
	kvio_env_fail(c, "exec: %s", strerror(errno));
}

/* In an image started by kvio_exec_self(): do its steps, then exit. */
static void __attribute__((constructor)) kvio_exec_resume(void)
{
	static char tag[32], path[128];
	const char *env = getenv(KVIO_EXEC_ENV);
	struct kvio_ctx c = { .tag = tag, .path = path };
	int run_fd, fd;
	char *base;

	if (!env)
		return;
	if (sscanf(env, "%d:%zu:%d:%31[^:]:%127s", &run_fd, &c.run_off, &fd,
		   tag, path) != 5)
		_exit(125);
	unsetenv(KVIO_EXEC_ENV);
	base = mmap(NULL, c.run_off + sizeof(*c.run), PROT_READ | PROT_WRITE,
		    MAP_SHARED, run_fd, 0);
	if (base == MAP_FAILED)
		_exit(125);
	c.run = (struct kvio_run *)(base + c.run_off);
	c.run_fd = run_fd;
	kvio_non_owner_steps(&c, fd);
	_exit(0);
}

/*
 * Runs fn in a forked child of the current process: a process that is
 * not the owner but shares its open files.  The child's steps land in the
 * same shared recording; the exit status is recorded as a step too.
 */
void kvio_in_child(struct kvio_ctx *c, const char *tag, int fd,
		   void (*fn)(struct kvio_ctx *c, int fd))
{
	const char *saved = c->tag;
	int status = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		kvio_env_fail(c, "fork: %s", strerror(errno));
		return;
	}
	if (!pid) {
		alarm(KVIO_CHILD_TIMEOUT);
		c->tag = tag;
		fn(c, fd);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	c->tag = tag;
	kvio_rec_val(c, "exit", WIFEXITED(status) ? 0 : -1, 0, 1,
		     (unsigned int)status);
	c->tag = saved;
}

int kvio_env_true(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

const char *kvio_env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int kvio_is_chardev(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISCHR(st.st_mode);
}

/* Runs a command, its output shown as KTAP diagnostics; returns status. */
int kvio_run_cmd(const char *fmt, ...)
{
	char cmd[256], line[256];
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		fprintf(stderr, "# %s: %s\n", cmd, strtok(line, "\n") ?: "");
	return pclose(p);
}

/*
 * One run of a scenario in a fresh child, killed after timeout seconds;
 * 0, or -1 with a reason.
 */
int kvio_run_child(void (*fn)(struct kvio_ctx *c), const struct kvio_ctx *base,
		   int timeout, char *why, size_t len)
{
	struct kvio_run *r = base->run;
	int status = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		struct kvio_ctx c = *base;

		signal(SIGALRM, SIG_DFL);
		alarm(timeout);
		fn(&c);
		r->finished = 1;
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid) {
		snprintf(why, len, "waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(why, len, "timed out after %d s at step %d", timeout,
			 r->nsteps);
	else if (WIFSIGNALED(status))
		snprintf(why, len, "killed by signal %d (%s) after step %d",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 r->nsteps);
	else if (!r->finished)
		snprintf(why, len, "exited early with status %d",
			 WEXITSTATUS(status));
	else if (r->truncated)
		snprintf(why, len, "more than %d steps", KVIO_MAX_STEPS);
	else if (r->env_err[0])
		snprintf(why, len, "environment: %s", r->env_err);
	else
		return 0;
	return -1;
}
