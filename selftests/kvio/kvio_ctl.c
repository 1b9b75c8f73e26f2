// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_ctl: checks specific to kvio-net, not differential: the device
 * node, the module parameters, and that open/close does not leak.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/vhost.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"

#define KVIO_DEV		"/dev/kvio-net"
#define VHOST_NET_DEV		"/dev/vhost-net"
#define KVIO_PARAM		"/sys/module/kvio_vhost/parameters/max_mem_regions"
#define VHOST_PARAM		"/sys/module/vhost/parameters/max_mem_regions"
#define MISC_MAJOR_NR		10
#define VHOST_NET_MINOR_NR	238
#define NOPEN			64

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Is "<minor> <name>" listed in /proc/misc? */
static int in_proc_misc(unsigned int minor, const char *name)
{
	char line[128], want[128];
	FILE *f = fopen("/proc/misc", "r");
	int found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "%u %s\n", minor, name);
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line;

		while (*p == ' ')
			p++;
		found = !strcmp(p, want);
	}
	fclose(f);
	return found;
}

/*
 * SET_MEM_TABLE with n one-page regions on a fresh owned device at path.
 * Returns 0 or the errno of the failing step.
 */
static int table_errno(const char *path, unsigned int n)
{
	struct vhost_memory *m;
	char *mem;
	unsigned int i;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	mem = mmap(NULL, (size_t)n * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m = calloc(1, sizeof(*m) + (size_t)n * sizeof(m->regions[0]));
	if (mem == MAP_FAILED || !m || ioctl(fd, VHOST_SET_OWNER, NULL)) {
		ret = errno ? errno : ENOMEM;
		goto out;
	}
	m->nregions = n;
	for (i = 0; i < n; i++) {
		m->regions[i].guest_phys_addr = (__u64)i * 4096;
		m->regions[i].memory_size = 4096;
		m->regions[i].userspace_addr = (unsigned long)mem + i * 4096UL;
	}
	ret = ioctl(fd, VHOST_SET_MEM_TABLE, m) ? errno : 0;
out:
	free(m);
	if (mem != MAP_FAILED)
		munmap(mem, (size_t)n * 4096);
	close(fd);
	return ret;
}

TEST(misc_device_node)
{
	struct stat st, ref;
	char sys[64];
	FILE *f;
	unsigned int maj = 0, min = 0;

	ASSERT_EQ(0, stat(KVIO_DEV, &st)) TH_LOG("%s: %s", KVIO_DEV,
						 strerror(errno));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(MISC_MAJOR_NR, major(st.st_rdev));
	EXPECT_NE(VHOST_NET_MINOR_NR, minor(st.st_rdev))
		TH_LOG("kvio-net must not claim vhost-net's static minor");
	if (!stat(VHOST_NET_DEV, &ref))
		EXPECT_NE(ref.st_rdev, st.st_rdev);
	EXPECT_TRUE(in_proc_misc(minor(st.st_rdev), "kvio-net"))
		TH_LOG("/proc/misc does not list %u kvio-net",
		       minor(st.st_rdev));
	f = fopen("/sys/class/misc/kvio-net/dev", "r");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(2, fscanf(f, "%u:%u", &maj, &min));
	fclose(f);
	EXPECT_EQ(major(st.st_rdev), maj);
	EXPECT_EQ(minor(st.st_rdev), min);
	snprintf(sys, sizeof(sys), "/sys/dev/char/%u:%u", maj, min);
	EXPECT_EQ(0, access(sys, F_OK));
}

TEST(max_mem_regions_default)
{
	long v = kvio_read_long(KVIO_PARAM);

	ASSERT_NE(-1, v) TH_LOG("cannot read %s", KVIO_PARAM);
	EXPECT_EQ(64, v);
}

/* max regions succeed, max + 1 get E2BIG, like upstream at its limit. */
TEST(max_mem_regions_enforced)
{
	long max = kvio_read_long(KVIO_PARAM);
	long ref_max = kvio_read_long(VHOST_PARAM);

	ASSERT_GT(max, 0) TH_LOG("cannot read %s", KVIO_PARAM);
	EXPECT_EQ(0, table_errno(KVIO_DEV, max));
	EXPECT_EQ(E2BIG, table_errno(KVIO_DEV, max + 1));
	if (ref_max == max && access(VHOST_NET_DEV, F_OK) == 0) {
		EXPECT_EQ(table_errno(VHOST_NET_DEV, max),
			  table_errno(KVIO_DEV, max));
		EXPECT_EQ(table_errno(VHOST_NET_DEV, max + 1),
			  table_errno(KVIO_DEV, max + 1));
	}
}

/* 64 devices open (and owned) at once; closing gives everything back. */
TEST(open_many_and_close)
{
	long ref0 = kvio_read_long("/sys/module/kvio_net/refcnt");
	int fds[NOPEN], base = count_fds(), i;

	ASSERT_GE(base, 0);
	for (i = 0; i < NOPEN; i++) {
		fds[i] = open(KVIO_DEV, O_RDWR | O_CLOEXEC);
		ASSERT_GE(fds[i], 0) TH_LOG("open #%d: %s", i, strerror(errno));
		ASSERT_EQ(0, ioctl(fds[i], VHOST_SET_OWNER, NULL))
			TH_LOG("SET_OWNER #%d: %s", i, strerror(errno));
	}
	EXPECT_EQ(base + NOPEN, count_fds());
	if (ref0 >= 0)
		EXPECT_EQ(ref0 + NOPEN, kvio_read_long("/sys/module/kvio_net/refcnt"));
	for (i = 0; i < NOPEN; i++)
		EXPECT_EQ(0, close(fds[i]));
	EXPECT_EQ(base, count_fds());
	if (ref0 >= 0)
		EXPECT_EQ(ref0, kvio_read_long("/sys/module/kvio_net/refcnt"));
}

TEST_HARNESS_MAIN
