// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the manager.  It makes the links the backends need, starts
 * the executor and hands it one input at a time through shared memory,
 * with a watchdog: an input that does not finish in --hang seconds is a
 * finding (its kernel stacks are printed), as are an executor that dies,
 * a finding the executor reports (a ring stopped under well-formed
 * chains, a bogus used element, a slow close) and any kernel report in
 * /dev/kmsg.  Before each input runs, it is written to <out>/current:
 * after a panic, that file names the input that caused it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fz_manager.h"

#define FZ_KILL_WAIT_S	30
/* quiet (no IPv6) and up */
#define FZ_LINKS_UP \
	"sh -c 'for i in %s %s %s %s %s; do echo 1 >/proc/sys/net/ipv6/conf/$i/disable_ipv6; ip link set $i up || exit 1; done'"

/* Kernel log lines that are reports (as tools/vm/run scans for). */
static const char * const fz_reports[] = {
	"BUG", "WARNING", "Oops", "general protection", "refcount_t",
	"list_add corruption", "list_del corruption", "hung task",
	"blocked for more than", "Kernel panic", "Call Trace", "KASAN",
	"KFENCE", "UBSAN", "possible circular locking",
	"possible recursive locking", "inconsistent lock state",
	"suspicious RCU usage", "sleeping function called from invalid",
	"ODEBUG", "soft lockup", "self-detected stall", "detected stall",
};

long fz_elapsed_ms(const struct fz_mgr *m)
{
	return ndp_now_ms() - m->t0;
}

/* Links */

static void fz_link_names(struct fz_links *l)
{
	int id = getpid() % 100000, i;

	for (i = 0; i < 4; i++)
		snprintf(l->veth[i], sizeof(l->veth[i]), "kvf%d%c", id, 'a' + i);
	snprintf(l->macvtap, sizeof(l->macvtap), "kvf%dm", id);
}

int fz_links_make(struct fz_mgr *m)
{
	struct fz_links *l = &m->links;

	fz_link_names(l);
	if (kvio_run_cmd("ip link add %s mtu 65535 type veth peer name %s mtu 65535",
			 l->veth[0], l->veth[1]) ||
	    kvio_run_cmd("ip link add %s mtu 65535 type veth peer name %s mtu 65535",
			 l->veth[2], l->veth[3]) ||
	    kvio_run_cmd("ip link add link %s name %s type macvtap mode passthru",
			 l->veth[0], l->macvtap) ||
	    kvio_run_cmd(FZ_LINKS_UP,
			 l->veth[0], l->veth[1], l->veth[2], l->veth[3],
			 l->macvtap))
		return -1;
	l->macvtap_ifindex = if_nametoindex(l->macvtap);
	return l->macvtap_ifindex ? 0 : -1;
}

void fz_links_del(struct fz_mgr *m)
{
	kvio_run_cmd("ip link del %s", m->links.veth[0]);
	kvio_run_cmd("ip link del %s", m->links.veth[2]);
}

/* The executor */

int fz_exec_start(struct fz_mgr *m)
{
	int cmd[2], res[2];
	char c;

	if (pipe2(cmd, O_CLOEXEC) || pipe2(res, O_CLOEXEC))
		return -1;
	fflush(NULL);
	m->exec = fork();
	if (m->exec < 0)
		return -1;
	if (!m->exec) {
		close(cmd[1]);
		close(res[0]);
		close(m->kmsg);
		fz_executor(m->shm, &m->links, cmd[0], res[1], m->o->close_ms,
			    m->kcov);
	}
	close(cmd[0]);
	close(res[1]);
	m->cmd = cmd[1];
	m->res = res[0];
	if (read(m->res, &c, 1) != 1) {
		fprintf(stderr, "kvio_fuzz: the executor failed to set up\n");
		waitpid(m->exec, NULL, 0);
		m->exec = -1;
		return -1;
	}
	return 0;
}

/* Ends the executor; -1 if it cannot be ended (stuck in the kernel). */
int fz_exec_stop(struct fz_mgr *m)
{
	int i;

	if (m->exec <= 0)
		return 0;
	close(m->cmd);
	close(m->res);
	kill(m->exec, SIGKILL);
	for (i = 0; i < FZ_KILL_WAIT_S * 10; i++) {
		if (waitpid(m->exec, NULL, WNOHANG) == m->exec) {
			m->exec = -1;
			return 0;
		}
		usleep(100000);
	}
	fprintf(stderr, "kvio_fuzz: executor %d does not die after SIGKILL\n",
		m->exec);
	return -1;
}

static void fz_print_stack(const char *task)
{
	char path[500], line[256], comm[64] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "%s/comm", task);
	f = fopen(path, "r");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = 0;
	if (f)
		fclose(f);
	printf("# %s %s:\n", task, comm);
	snprintf(path, sizeof(path), "%s/stack", task);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		printf("#   %s", line);
	if (f)
		fclose(f);
}

/* Kernel stacks of the executor's threads and of its kvio worker. */
static void fz_print_stacks(pid_t pid)
{
	char dir[64], task[400], want[32], comm[32];
	struct dirent *de;
	DIR *d;
	FILE *f;

	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(task, sizeof(task), "%s/%s", dir, de->d_name);
			fz_print_stack(task);
		}
	if (d)
		closedir(d);
	/* a kthread on 6.1: kvio-<owner pid> */
	snprintf(want, sizeof(want), "kvio-%d\n", pid);
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		snprintf(task, sizeof(task), "/proc/%s/comm", de->d_name);
		f = fopen(task, "r");
		if (f && fgets(comm, sizeof(comm), f) && !strcmp(comm, want) &&
		    atoi(de->d_name) != pid) {
			snprintf(task, sizeof(task), "/proc/%s", de->d_name);
			fz_print_stack(task);
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

/* Kernel log */

static int fz_is_report(const char *msg)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fz_reports); i++)
		if (strstr(msg, fz_reports[i]))
			return 1;
	return 0;
}

/*
 * New kernel log records; the reports among them are appended to @why.
 * Returns how many reports.
 */
int fz_kmsg_scan(struct fz_mgr *m, char *why, size_t len)
{
	char rec[1024], *msg;
	ssize_t n;
	int found = 0;

	while (m->kmsg >= 0 && (n = read(m->kmsg, rec, sizeof(rec) - 1)) != 0) {
		if (n < 0) {
			if (errno == EPIPE)
				continue;	/* overwritten records */
			break;
		}
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		if (!fz_is_report(msg))
			continue;
		found++;
		printf("# kernel: %s", msg);
		if (strlen(why) + strlen(msg) + 2 < len)
			strcat(strcat(why, why[0] ? " | " : ""), strtok(msg, "\n"));
	}
	return found;
}

void fz_kmsg_open(struct fz_mgr *m)
{
	m->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (m->kmsg >= 0)
		lseek(m->kmsg, 0, SEEK_END);
}

/* Running one input */

/*
 * The input about to run, where it survives a kernel panic: in the
 * shared memory of an ivshmem device whose host side is a file (what
 * tools/fuzz/run gives the VM: a memory write), else in <out>/current
 * (a write through 9p: a round trip to the host per input).
 */
static void fz_save_current(struct fz_mgr *m, const __u8 *in, unsigned int len)
{
	struct fz_current c = {
		.magic = FZ_CURRENT_MAGIC, .len = len,
		.execs = m->execs, .ms = fz_elapsed_ms(m),
	};

	if (m->cur_map) {
		m->cur_map->magic = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		m->cur_map->prev_len = m->cur_map->len <= FZ_MAX_INPUT ?
				       m->cur_map->len : 0;
		memcpy(m->cur_map->prev, m->cur_map->input,
		       m->cur_map->prev_len);
		memcpy(m->cur_map->input, in, len);
		m->cur_map->len = len;
		m->cur_map->execs = c.execs;
		m->cur_map->ms = c.ms;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		m->cur_map->magic = FZ_CURRENT_MAGIC;
		return;
	}
	if (m->cur_fd < 0)
		return;
	memcpy(c.input, in, len);
	if (pwrite(m->cur_fd, &c, sizeof(c), 0) != sizeof(c))
		m->cur_fd = -1;
}

/* The BAR of an ivshmem device (1af4:1110), mapped; or NULL. */
static struct fz_current *fz_ivshmem(void)
{
	char path[300];
	unsigned int v, dv;
	struct dirent *de;
	void *p = NULL;
	FILE *f;
	int fd;
	DIR *d = opendir("/sys/bus/pci/devices");

	while (d && !p && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 de->d_name);
		f = fopen(path, "r");
		v = 0;
		if (f && fscanf(f, "%x", &v) != 1)
			v = 0;
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 de->d_name);
		f = fopen(path, "r");
		dv = 0;
		if (f && fscanf(f, "%x", &dv) != 1)
			dv = 0;
		if (f)
			fclose(f);
		if (v != 0x1af4 || dv != 0x1110)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource2",
			 de->d_name);
		fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
		if (fd < 0)
			continue;
		p = mmap(NULL, sizeof(struct fz_current), PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			p = NULL;
	}
	if (d)
		closedir(d);
	return p;
}

static int fz_wait_result(struct fz_mgr *m, char *why, size_t len)
{
	struct pollfd p = { .fd = m->res, .events = POLLIN };
	int st = 0, r;
	char c;

	r = poll(&p, 1, m->o->hang_s * 1000);
	if (r == 0) {
		snprintf(why, len, "the input did not finish in %ld s (at operation %u%s)",
			 m->o->hang_s, m->shm->op, m->shm->closing ?
			 "; the previous input's devices were still closing" : "");
		printf("# kvio_fuzz: hung input; kernel stacks:\n");
		fz_print_stacks(m->exec);
		return FZ_R_HUNG;
	}
	if (read(m->res, &c, 1) == 1)
		return FZ_R_OK;
	waitpid(m->exec, &st, 0);
	m->exec = -1;
	snprintf(why, len, "the executor died (%s %d) at operation %u",
		 WIFSIGNALED(st) ? "signal" : "status",
		 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), m->shm->op);
	return FZ_R_DIED;
}

/*
 * Runs @in; returns FZ_R_OK, or what kind of finding, with the reason in
 * @why.  A dead or hung executor is replaced.
 */
int fz_run(struct fz_mgr *m, const __u8 *in, unsigned int len, char *why,
	   size_t wlen)
{
	long t0;
	int r;

	why[0] = 0;
	if (m->exec <= 0 && fz_exec_start(m))
		return FZ_R_FATAL;
	if (len > FZ_MAX_INPUT)
		len = FZ_MAX_INPUT;
	m->prev_len = m->shm->len;
	memcpy(m->prev, m->shm->input, m->prev_len);
	memcpy(m->shm->input, in, len);
	m->shm->len = len;
	fz_save_current(m, in, len);
	m->execs++;
	t0 = ndp_now_ms();
	if (write(m->cmd, "x", 1) != 1)
		return FZ_R_FATAL;
	r = fz_wait_result(m, why, wlen);
	m->us_run += (ndp_now_ms() - t0) * 1000;
	m->us_input += m->shm->us_input;
	m->us_cover += m->shm->us_cover;
	m->pcs += m->shm->pcs;
	if (r == FZ_R_OK && m->shm->status == FZ_FINDING) {
		snprintf(why, wlen, "%s", m->shm->why);
		r = FZ_R_FOUND;
	}
	if (r == FZ_R_OK && m->shm->clean)
		m->clean++;
	if (fz_kmsg_scan(m, why, wlen))
		r = FZ_R_KERNEL;
	if ((r == FZ_R_HUNG || r == FZ_R_DIED) && fz_exec_stop(m))
		return FZ_R_FATAL;
	if (r != FZ_R_OK && m->shm->prev)
		strncat(why, " (the previous input's)", wlen - strlen(why) - 1);
	if (m->exec <= 0)
		m->shm->len = 0;	/* a new executor: no previous input */
	return r;
}

/* Coverage */

/* Merges the last input's coverage; returns how much of it was new. */
unsigned int fz_merge(struct fz_mgr *m)
{
	unsigned int i, b, fresh = 0;

	for (i = 0; i < sizeof(m->sites); i++) {
		b = m->shm->sites[i] & ~m->sites[i];
		fresh += __builtin_popcount(b) * 16;
		m->nsites += __builtin_popcount(b);
		m->sites[i] |= b;
	}
	for (i = 0; i < sizeof(m->edges); i++) {
		b = m->shm->edges[i] & ~m->edges[i];
		fresh += __builtin_popcount(b);
		m->nedges += __builtin_popcount(b);
		m->edges[i] |= b;
	}
	return fresh;
}

/* Files */

__u64 fz_hash(const __u8 *p, unsigned int len)
{
	return ndp_hash(0xcbf29ce484222325ULL, p, len);
}

int fz_write_file(const char *dir, const char *name, const void *p,
		  size_t len)
{
	char path[600];
	int fd;

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, p, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* A finding: the input and what happened, in the findings directory. */
void fz_save_finding(struct fz_mgr *m, const __u8 *in, unsigned int len,
		     const char *why)
{
	char name[64], txt[1024];
	__u64 h = fz_hash(in, len);

	m->findings++;
	snprintf(name, sizeof(name), "crash-%016llx", (unsigned long long)h);
	fz_write_file(m->outdir, name, in, len);
	snprintf(txt, sizeof(txt), "%s\nafter %ld ms, %ld executions\n", why,
		 fz_elapsed_ms(m), m->execs);
	strcat(name, ".txt");
	fz_write_file(m->outdir, name, txt, strlen(txt));
	/* its devices were closing while this one ran */
	name[strlen(name) - 4] = 0;
	strcat(name, ".prev");
	if (m->prev_len)
		fz_write_file(m->outdir, name, m->prev, m->prev_len);
	printf("kvio_fuzz: finding after %ld s, %ld executions: %s\n",
	       fz_elapsed_ms(m) / 1000, m->execs, why);
	printf("kvio_fuzz: input saved as %s/crash-%016llx\n", m->outdir,
	       (unsigned long long)h);
	fz_show(in, len, stdout);
	fflush(stdout);
}

int fz_mgr_init(struct fz_mgr *m, const struct fz_opts *o)
{
	char path[600];

	m->o = o;
	m->exec = -1;
	m->cur_fd = -1;
	m->t0 = ndp_now_ms();
	m->rng = o->seed ? o->seed : (__u64)m->t0 * 0x9e3779b97f4a7c15ULL + getpid();
	snprintf(m->outdir, sizeof(m->outdir), "%s", o->out);
	mkdir(m->outdir, 0755);
	m->cur_map = fz_ivshmem();
	snprintf(path, sizeof(path), "%s/current", m->outdir);
	if (!m->cur_map && !o->no_current)
		m->cur_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0644);
	m->kcov = !o->blind && fz_cover_available();
	if (m->kcov && fz_sites_load(o->kodir)) {
		fprintf(stderr, "kvio_fuzz: no kvio coverage sites (--ko DIR)\n");
		return -1;
	}
	m->shm = mmap(NULL, sizeof(*m->shm), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m->shm == MAP_FAILED)
		return -1;
	m->shm->sync_close = o->replay;
	fz_kmsg_open(m);
	signal(SIGPIPE, SIG_IGN);
	return fz_links_make(m);
}

void fz_mgr_fini(struct fz_mgr *m)
{
	fz_exec_stop(m);
	fz_links_del(m);
}
