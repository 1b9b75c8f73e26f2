// SPDX-License-Identifier: GPL-2.0
/*
 * The per-VM worker of kvio-net: one thread per owner process, shared by
 * its devices (one more per devices_per_worker devices, up to the online
 * CPUs), named kvio-<owner pid>, in the owner's cgroups, and gone once the
 * owner's last device is reset or closed, or the owner dies.  And the
 * worker ioctls: workers of one device's own, rings moved between them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "vhost_diff.h"	/* the worker ioctls where the headers lack them */

#define KVIO_NET	"/dev/kvio-net"

/* Does /proc/PID/task/TID/comm (at @dir) read @name? */
static int comm_is(const char *dir, const char *name)
{
	char path[700], comm[64];
	int match = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/comm", dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(comm, sizeof(comm), f)) {
		comm[strcspn(comm, "\n")] = 0;
		match = !strcmp(comm, name);
	}
	fclose(f);
	return match;
}

/*
 * Count the threads anywhere on the system named @name; the directories
 * of the first @max go to @all (may be NULL).
 */
static int scan_threads_all(const char *name, char (*all)[600], int max)
{
	char tdir[300], dir[600];
	struct dirent *p, *t;
	DIR *procs, *tasks;
	int n = 0;

	procs = opendir("/proc");
	if (!procs)
		return -1;
	while ((p = readdir(procs))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(tdir, sizeof(tdir), "/proc/%.32s/task", p->d_name);
		tasks = opendir(tdir);
		if (!tasks)
			continue;
		while ((t = readdir(tasks))) {
			if (t->d_name[0] == '.')
				continue;
			snprintf(dir, sizeof(dir), "%.300s/%.32s", tdir, t->d_name);
			if (!comm_is(dir, name))
				continue;
			if (all && n < max)
				snprintf(all[n], sizeof(all[n]), "%s", dir);
			n++;
		}
		closedir(tasks);
	}
	closedir(procs);
	return n;
}

static int count_threads(const char *name)
{
	return scan_threads_all(name, NULL, 0);
}

static void worker_name(char *buf, size_t len, pid_t pid)
{
	snprintf(buf, len, "kvio-%d", (int)pid);
}

/* Thread teardown is synchronous, but /proc may lag a reaped thread. */
static int wait_threads(const char *name, int want)
{
	int i, n = -1;

	for (i = 0; i < 200; i++) {
		n = count_threads(name);
		if (n == want)
			break;
		usleep(10000);
	}
	return n;
}

static int open_owned(void)
{
	int fd = open(KVIO_NET, O_RDWR);

	if (fd >= 0 && ioctl(fd, VHOST_SET_OWNER, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(one_worker_per_owner)
{
	char name[32];
	int a, b;

	worker_name(name, sizeof(name), getpid());
	ASSERT_EQ(0, count_threads(name));

	a = open_owned();
	ASSERT_LE(0, a);
	EXPECT_EQ(1, wait_threads(name, 1));

	/* A second device of the same owner shares the worker. */
	b = open_owned();
	ASSERT_LE(0, b);
	EXPECT_EQ(1, count_threads(name));

	close(a);
	EXPECT_EQ(1, wait_threads(name, 1));
	close(b);
	EXPECT_EQ(0, wait_threads(name, 0));
}

#define PER_WORKER "/sys/module/kvio_vhost/parameters/devices_per_worker"

static int param_rw(const char *path, unsigned int *old, unsigned int val)
{
	FILE *f = fopen(path, "r+");
	int ret = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%u", old) == 1 && !fseek(f, 0, SEEK_SET) &&
	    fprintf(f, "%u\n", val) > 0)
		ret = 0;
	if (fclose(f))
		ret = -1;
	return ret;
}

/* Workers an owner of @ndev devices has with @per devices per worker. */
static int workers_for(int ndev, int per)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int n = (ndev + per - 1) / per;

	return n < ncpu ? n : ncpu;
}

TEST(many_devices_more_workers)
{
	unsigned int saved, dummy;
	int fd[8], i, n;
	char name[32];

	worker_name(name, sizeof(name), getpid());
	ASSERT_EQ(0, param_rw(PER_WORKER, &saved, 2));
	for (i = 0; i < 8; i++) {
		fd[i] = open_owned();
		ASSERT_LE(0, fd[i]);
		/* A new worker only once each has two devices. */
		n = workers_for(i + 1, 2);
		EXPECT_EQ(n, wait_threads(name, n));
	}
	TH_LOG("8 devices, 2 per worker, %ld CPUs: %d workers",
	       sysconf(_SC_NPROCESSORS_ONLN), count_threads(name));
	/* Workers go with their last device. */
	for (i = 0; i < 8; i++)
		close(fd[i]);
	EXPECT_EQ(0, wait_threads(name, 0));

	/* 0: one worker per owner, whatever the number of devices. */
	ASSERT_EQ(0, param_rw(PER_WORKER, &dummy, 0));
	for (i = 0; i < 8; i++) {
		fd[i] = open_owned();
		ASSERT_LE(0, fd[i]);
	}
	n = wait_threads(name, 1);
	for (i = 0; i < 8; i++)
		close(fd[i]);
	ASSERT_EQ(0, param_rw(PER_WORKER, &dummy, saved));
	EXPECT_EQ(1, n);
	EXPECT_EQ(0, wait_threads(name, 0));
}

TEST(reset_owner_releases_worker)
{
	char name[32];
	int a, b;

	worker_name(name, sizeof(name), getpid());
	a = open_owned();
	b = open_owned();
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);

	ASSERT_EQ(0, ioctl(a, VHOST_RESET_OWNER, NULL));
	EXPECT_EQ(1, wait_threads(name, 1));
	ASSERT_EQ(0, ioctl(b, VHOST_RESET_OWNER, NULL));
	EXPECT_EQ(0, wait_threads(name, 0));

	/* Owning again makes a new worker. */
	ASSERT_EQ(0, ioctl(a, VHOST_SET_OWNER, NULL));
	EXPECT_EQ(1, wait_threads(name, 1));
	close(a);
	close(b);
	EXPECT_EQ(0, wait_threads(name, 0));
}

#define RACE_ROUNDS	20

struct owner_race {
	pthread_barrier_t go, done;
	int fd[2];
	pid_t tid[2];
	int fail;
	int stop;	/* the threads leave after the next go */
};

static struct owner_race race;

/* One of two threads: SET_OWNER on its own device, at the same time. */
static void *race_owner(void *arg)
{
	int i, me = (int)(long)arg;

	race.tid[me] = (pid_t)syscall(SYS_gettid);
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race.go);
		if (__atomic_load_n(&race.stop, __ATOMIC_ACQUIRE))
			break;
		if (ioctl(race.fd[me], VHOST_SET_OWNER, NULL))
			__atomic_add_fetch(&race.fail, 1, __ATOMIC_RELAXED);
		pthread_barrier_wait(&race.done);
	}
	return NULL;
}

/*
 * Two threads of one owner set up two devices at once.  Both find no
 * worker and both create one (outside the global lock); the one that
 * comes second shares the first one's, and must stop its own: once both
 * devices are closed, no thread named after either remains.
 */
TEST(set_owner_race_no_leak)
{
	char name[2][32];
	pthread_t th[2];
	int i, j, left = 0;

	ASSERT_EQ(0, pthread_barrier_init(&race.go, NULL, 3));
	ASSERT_EQ(0, pthread_barrier_init(&race.done, NULL, 3));
	for (j = 0; j < 2; j++)
		ASSERT_EQ(0, pthread_create(&th[j], NULL, race_owner,
					    (void *)(long)j));
	for (i = 0; i < RACE_ROUNDS; i++) {
		for (j = 0; j < 2; j++) {
			race.fd[j] = open(KVIO_NET, O_RDWR);
			ASSERT_LE(0, race.fd[j]);
		}
		pthread_barrier_wait(&race.go);
		pthread_barrier_wait(&race.done);
		for (j = 0; j < 2; j++) {
			worker_name(name[j], sizeof(name[j]), race.tid[j]);
			close(race.fd[j]);
		}
		for (j = 0; j < 2; j++)
			left += wait_threads(name[j], 0);
		if (left)
			break;	/* the first leak is enough, and saves time */
	}
	if (i < RACE_ROUNDS) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
		pthread_barrier_wait(&race.go);
	}
	for (j = 0; j < 2; j++)
		pthread_join(th[j], NULL);
	EXPECT_EQ(0, race.fail);
	EXPECT_EQ(0, left) TH_LOG("%d workers left behind in round %d",
				  left, i + 1);
}

TEST(each_owner_its_own_worker)
{
	char parent[32], child[32];
	int fd, pipefd[2], status;
	pid_t pid;
	char c;

	worker_name(parent, sizeof(parent), getpid());
	fd = open_owned();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(pipefd));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int cfd = open_owned();

		close(pipefd[0]);
		if (write(pipefd[1], cfd >= 0 ? "y" : "n", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	EXPECT_EQ('y', c);
	worker_name(child, sizeof(child), pid);
	EXPECT_EQ(1, wait_threads(child, 1));
	EXPECT_EQ(1, count_threads(parent));

	/* A killed owner's worker goes with it; nobody else's does. */
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, wait_threads(child, 0));
	EXPECT_EQ(1, count_threads(parent));
	close(fd);
	close(pipefd[0]);
	EXPECT_EQ(0, wait_threads(parent, 0));
}

/* The worker's cgroup membership, as in /proc/PID/task/TID/cgroup. */
static int read_cgroup(const char *path, char *buf, size_t len)
{
	return kvio_read_text(path, buf, len) < 0 ? -1 : 0;
}

static int find_thread(const char *name, char *path, size_t len)
{
	char dir[1][600];

	if (scan_threads_all(name, dir, 1) != 1)
		return -1;
	snprintf(path, len, "%s", dir[0]);
	return 0;
}

#define POLL_MAX "/sys/module/kvio_vhost/parameters/poll_max_us"

/*
 * The owner of close_while_polling, in a child: kicks every 0.5 ms grow
 * the worker's poll window, then the close() lands inside a poll.
 * Returns 0 once close() returned, > 0 if the setup failed.
 */
static int poll_then_close(void)
{
	struct vhost_vring_file kick = { .index = 0 };
	char name[32], path[600];
	__u64 one = 1;
	cpu_set_t set;
	int fd, i;

	worker_name(name, sizeof(name), getpid());
	fd = open_owned();
	kick.fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0 || kick.fd < 0 || ioctl(fd, VHOST_SET_VRING_KICK, &kick) ||
	    find_thread(name, path, sizeof(path)))
		return 2;
	/* The worker on a CPU of its own: nothing there cuts its poll. */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		CPU_ZERO(&set);
		CPU_SET(1, &set);
		if (sched_setaffinity(atoi(strrchr(path, '/') + 1),
				      sizeof(set), &set))
			return 3;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return 3;
	}
	for (i = 0; i < 50; i++) {
		if (write(kick.fd, &one, sizeof(one)) != sizeof(one))
			return 4;
		usleep(500);
	}
	close(fd);
	return 0;
}

/*
 * The worker polls for work before it sleeps.  The owner's last close()
 * asks the thread to stop, maybe while it polls: that request must end
 * the poll and the thread, not be lost (close() stuck for good in
 * vhost_task_stop() or kthread_stop()).  A 100 ms poll window makes the
 * close land inside a poll.
 */
TEST(close_while_polling)
{
	unsigned int saved, dummy;
	int i, status = -1;
	pid_t pid;

	ASSERT_EQ(0, param_rw(POLL_MAX, &saved, 100000));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(poll_then_close());
	for (i = 0; i < 10000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(1000);
	}
	param_rw(POLL_MAX, &dummy, saved);
	ASSERT_LT(i, 10000) {
		TH_LOG("the owner's close() did not return in 10 s");
	}
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST(worker_in_owner_cgroup)
{
	char name[32], path[600], file[620], mine[512], its[512];
	int fd;

	worker_name(name, sizeof(name), getpid());
	fd = open_owned();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, find_thread(name, path, sizeof(path)));
	snprintf(file, sizeof(file), "%s/cgroup", path);
	ASSERT_EQ(0, read_cgroup(file, its, sizeof(its)));
	ASSERT_EQ(0, read_cgroup("/proc/self/cgroup", mine, sizeof(mine)));
	EXPECT_STREQ(mine, its);
	close(fd);
}

/* The ioctl's result: 0, or -errno. */
static int wioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static int new_worker(int fd, unsigned int *id)
{
	struct vhost_worker_state ws = { .worker_id = ~0u };
	int ret = wioctl(fd, VHOST_NEW_WORKER, &ws);

	*id = ws.worker_id;
	return ret;
}

static int free_worker(int fd, unsigned int id)
{
	struct vhost_worker_state ws = { .worker_id = id };

	return wioctl(fd, VHOST_FREE_WORKER, &ws);
}

static int attach_worker(int fd, unsigned int index, unsigned int id)
{
	struct vhost_vring_worker vw = { .index = index, .worker_id = id };

	return wioctl(fd, VHOST_ATTACH_VRING_WORKER, &vw);
}

/* The worker id of ring @index, or -errno. */
static long ring_worker(int fd, unsigned int index)
{
	struct vhost_vring_worker vw = { .index = index, .worker_id = ~0u };
	int ret = wioctl(fd, VHOST_GET_VRING_WORKER, &vw);

	if (!ret && vw.index != index)
		return -1000;
	return ret ? ret : (long)vw.worker_id;
}

/* In a child (another mm): what the worker ioctls give a non-owner. */
static int worker_ioctls_other_mm(int fd)
{
	unsigned int id;

	return new_worker(fd, &id) == -EPERM &&
	       free_worker(fd, 0) == -EPERM &&
	       attach_worker(fd, 0, 0) == -EPERM &&
	       ring_worker(fd, 0) == -EPERM ? 0 : 1;
}

/*
 * Upstream's semantics and errnos (drivers/vhost/vhost.c): EINVAL without
 * an owner and EPERM for another process; the owner's shared worker is
 * worker 0 of every device and runs both rings; a new worker has an id
 * of its own; a ring index past the last is ENOBUFS, an unknown worker
 * ENODEV, freeing a worker a ring still runs on EBUSY.
 */
TEST(worker_ioctls)
{
	unsigned int id, id2;
	int fd, status;
	char name[32];
	pid_t pid;

	worker_name(name, sizeof(name), getpid());
	fd = open(KVIO_NET, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EINVAL, new_worker(fd, &id));
	EXPECT_EQ(-EINVAL, free_worker(fd, 0));
	EXPECT_EQ(-EINVAL, attach_worker(fd, 0, 0));
	EXPECT_EQ(-EINVAL, ring_worker(fd, 0));
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER, NULL));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(worker_ioctls_other_mm(fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
		TH_LOG("another process got other answers than EPERM");
	}

	EXPECT_EQ(0, ring_worker(fd, 0));
	EXPECT_EQ(0, ring_worker(fd, 1));
	EXPECT_EQ(-ENOBUFS, ring_worker(fd, 2));
	EXPECT_EQ(1, wait_threads(name, 1));

	ASSERT_EQ(0, new_worker(fd, &id));
	EXPECT_NE(0u, id);
	EXPECT_EQ(2, wait_threads(name, 2));
	EXPECT_EQ(0, attach_worker(fd, 1, id));
	EXPECT_EQ((long)id, ring_worker(fd, 1));
	EXPECT_EQ(0, ring_worker(fd, 0));
	EXPECT_EQ(-EBUSY, free_worker(fd, id));
	EXPECT_EQ(-EBUSY, free_worker(fd, 0));
	EXPECT_EQ(-ENODEV, free_worker(fd, id + 1000));
	EXPECT_EQ(-ENODEV, attach_worker(fd, 0, id + 1000));
	EXPECT_EQ(-ENOBUFS, attach_worker(fd, 2, id));
	EXPECT_EQ(-ENOBUFS, attach_worker(fd, ~0u, id));
	EXPECT_EQ(-EFAULT, wioctl(fd, VHOST_GET_VRING_WORKER, NULL));
	EXPECT_EQ(-EFAULT, wioctl(fd, VHOST_ATTACH_VRING_WORKER, NULL));
	EXPECT_EQ(-EFAULT, wioctl(fd, VHOST_FREE_WORKER, NULL));

	/* Both rings on the new worker: the shared one can go. */
	EXPECT_EQ(0, attach_worker(fd, 0, id));
	EXPECT_EQ(0, free_worker(fd, 0));
	EXPECT_EQ(-ENODEV, attach_worker(fd, 0, 0));
	EXPECT_EQ(1, wait_threads(name, 1));
	EXPECT_EQ((long)id, ring_worker(fd, 0));

	/* A second one; the first is freed once no ring runs on it. */
	ASSERT_EQ(0, new_worker(fd, &id2));
	EXPECT_NE(id, id2);
	EXPECT_EQ(0, attach_worker(fd, 0, id2));
	EXPECT_EQ(0, attach_worker(fd, 1, id2));
	EXPECT_EQ(0, free_worker(fd, id));
	EXPECT_EQ(-ENODEV, free_worker(fd, id));
	EXPECT_EQ((long)id2, ring_worker(fd, 1));
	EXPECT_EQ(1, wait_threads(name, 1));
	close(fd);
	EXPECT_EQ(0, wait_threads(name, 0));
}

/*
 * An owner has at most as many workers of its own as there are online
 * CPUs, over all its devices (ENOSPC after); they go with their device.
 */
TEST(own_workers_bounded)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), a, b, i;
	unsigned int id;
	char name[32];

	worker_name(name, sizeof(name), getpid());
	a = open_owned();
	b = open_owned();
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(0, new_worker(i % 2 ? b : a, &id));
	EXPECT_EQ(-ENOSPC, new_worker(a, &id));
	EXPECT_EQ(-ENOSPC, new_worker(b, &id));
	EXPECT_EQ(ncpu + 1, wait_threads(name, ncpu + 1));
	close(a);
	EXPECT_EQ(ncpu / 2 + 1, wait_threads(name, ncpu / 2 + 1));
	ASSERT_EQ(0, new_worker(b, &id));
	close(b);
	EXPECT_EQ(0, wait_threads(name, 0));
}

#define MAX_SEEN	8

/* The /proc directories of the threads named @name, up to MAX_SEEN. */
static int list_threads(const char *name, char dirs[MAX_SEEN][600])
{
	return scan_threads_all(name, dirs, MAX_SEEN);
}

/* The CPU time a thread has run, in ns (schedstat's first field). */
static long long run_ns(const char *dir)
{
	char path[620];

	snprintf(path, sizeof(path), "%s/schedstat", dir);
	return kvio_read_long(path);
}

/* Kick @efd @n times, a millisecond apart, then let the work finish. */
static void kick_n(int efd, int n)
{
	__u64 one = 1;
	int i;

	for (i = 0; i < n; i++) {
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			return;
		usleep(1000);
	}
	usleep(50000);
}

/*
 * A ring's work runs on the worker the ring is attached to, and on no
 * other: the kicks of ring 1 make its worker run and leave the other
 * asleep; moved back while kicks are wired (the synchronize_rcu() and
 * flush path), the other way round.
 */
TEST(ring_work_runs_on_its_worker)
{
	struct vhost_vring_file kick = { .index = 1 };
	char dirs[MAX_SEEN][600], shared[600], own[600];
	long long s0, o0, s1, o1, s2, o2;
	unsigned int id;
	char name[32];
	int fd, n, i;

	worker_name(name, sizeof(name), getpid());
	fd = open_owned();
	ASSERT_LE(0, fd);
	ASSERT_EQ(1, wait_threads(name, 1));
	ASSERT_EQ(1, list_threads(name, dirs));
	snprintf(shared, sizeof(shared), "%s", dirs[0]);
	ASSERT_EQ(0, new_worker(fd, &id));
	ASSERT_EQ(2, wait_threads(name, 2));
	n = list_threads(name, dirs);
	ASSERT_EQ(2, n);
	for (i = 0; i < n && !strcmp(dirs[i], shared); i++)
		;
	ASSERT_LT(i, n);
	snprintf(own, sizeof(own), "%s", dirs[i]);

	kick.fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, kick.fd);
	ASSERT_EQ(0, attach_worker(fd, 1, id));
	ASSERT_EQ(0, ioctl(fd, VHOST_SET_VRING_KICK, &kick));
	usleep(50000);
	s0 = run_ns(shared);
	o0 = run_ns(own);
	kick_n(kick.fd, 200);
	s1 = run_ns(shared);
	o1 = run_ns(own);
	ASSERT_LE(0, s0);
	ASSERT_LE(0, o0);
	EXPECT_LT(o0, o1);
	EXPECT_EQ(s0, s1) TH_LOG("the shared worker ran %lld ns", s1 - s0);

	ASSERT_EQ(0, attach_worker(fd, 1, 0));
	EXPECT_EQ(0, ring_worker(fd, 1));
	o1 = run_ns(own);
	s1 = run_ns(shared);
	kick_n(kick.fd, 200);
	s2 = run_ns(shared);
	o2 = run_ns(own);
	EXPECT_LT(s1, s2);
	EXPECT_EQ(o1, o2) TH_LOG("the own worker ran %lld ns", o2 - o1);
	TH_LOG("own worker %lld ns for its ring, shared %lld ns after the move",
	       o1 - o0, s2 - s1);
	EXPECT_EQ(0, free_worker(fd, id));
	close(fd);
	close(kick.fd);
	EXPECT_EQ(0, wait_threads(name, 0));
}

#ifdef VHOST_SET_FORK_FROM_OWNER
/*
 * Where the kernel offers the fork-owner control, kvio honours it like
 * upstream: a kthread worker is not a thread of the owner process.
 */
TEST(fork_from_owner_selects_kthread)
{
	int up, fd, ret_up, ret_kvio, errno_up, errno_kvio;
	char name[32], path[600], self[64];
	__u8 mode = VHOST_FORK_OWNER_KTHREAD;

	up = open("/dev/vhost-net", O_RDWR);
	fd = open(KVIO_NET, O_RDWR);
	ASSERT_LE(0, up);
	ASSERT_LE(0, fd);
	ret_up = ioctl(up, VHOST_SET_FORK_FROM_OWNER, &mode);
	errno_up = errno;
	ret_kvio = ioctl(fd, VHOST_SET_FORK_FROM_OWNER, &mode);
	errno_kvio = errno;
	close(up);
	ASSERT_EQ(ret_up, ret_kvio);
	if (ret_up) {
		/* Neither knows the ioctl on this kernel. */
		ASSERT_EQ(errno_up, errno_kvio);
		close(fd);
		SKIP(return, "kernel has no VHOST_SET_FORK_FROM_OWNER");
	}

	ASSERT_EQ(0, ioctl(fd, VHOST_SET_OWNER, NULL));
	worker_name(name, sizeof(name), getpid());
	ASSERT_EQ(0, find_thread(name, path, sizeof(path)));
	snprintf(self, sizeof(self), "/proc/%d/", getpid());
	EXPECT_NE(0, strncmp(path, self, strlen(self))) {
		TH_LOG("worker %s is a thread of the owner", path);
	}
	mode = 0xff;
	EXPECT_EQ(0, ioctl(fd, VHOST_GET_FORK_FROM_OWNER, &mode));
	EXPECT_EQ(VHOST_FORK_OWNER_KTHREAD, mode);
	close(fd);
}
#endif

TEST_HARNESS_MAIN
