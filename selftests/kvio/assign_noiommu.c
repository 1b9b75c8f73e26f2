// SPDX-License-Identifier: GPL-2.0
/*
 * kvio-assign without an IOMMU, or without interrupt remapping: there is
 * no unsafe mode.  Without an IOMMU the driver refuses the device at bind
 * time and says why, the device cannot be opened, and tools/kvio-assign
 * refuses it too (bind_and_open_refused, in a VM with an edu device and no
 * IOMMU: assign_run.sh --no-iommu).  With an IOMMU but no interrupt
 * remapping the device binds but cannot be opened (open_refused_without_ir,
 * in a q35 VM with intel-iommu,intremap=off: assign_run.sh --no-ir).
 *
 * With an IOMMU that cannot block no-snoop DMA (an intel-iommu without
 * snoop-control=on: assign_run.sh --no-sc), opening is refused unless the
 * administrator sets allow_noncoherent=1, and then works, DMA included
 * (noncoherent_opt_in).
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "assign_lib.h"

TEST(bind_and_open_refused)
{
	char drv[64], path[256], cmd[512];
	const char *repo = getenv("KVIO_REPO");
	struct edu_addr a;
	int kmsg, status;

	if (access(ASSIGN_CTL, F_OK))
		SKIP(return, ASSIGN_CTL " is missing: load kvio_assign.ko");
	if (find_edu(&a, 0, 0))
		SKIP(return, "no edu device");
	if (group_size(a.name) >= 0)
		SKIP(return, "%s has an IOMMU group: this VM has an IOMMU", a.name);

	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);
	EXPECT_EQ(-1, assign_bind(a.name));
	driver_of(a.name, drv, sizeof(drv));
	EXPECT_STREQ("", drv);
	EXPECT_TRUE(kmsg_find(kmsg, a.name, "needs an IOMMU", 1000));
	close(kmsg);
	EXPECT_EQ(-ENXIO, assign_open(&a));
	snprintf(path, sizeof(path), PCI_DEVS "/%s/driver_override", a.name);
	write_file(path, "\n");

	if (!repo)
		SKIP(return, "KVIO_REPO unset: cannot find tools/kvio-assign");
	snprintf(cmd, sizeof(cmd), "sh %.400s/tools/kvio-assign bind %s",
		 repo, a.name);
	status = system(cmd);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(1, WEXITSTATUS(status));
	driver_of(a.name, drv, sizeof(drv));
	EXPECT_STREQ("", drv);
}

TEST(open_refused_without_ir)
{
	struct edu_addr a;
	int kmsg, fd;

	if (access(ASSIGN_CTL, F_OK))
		SKIP(return, ASSIGN_CTL " is missing: load kvio_assign.ko");
	if (find_edu(&a, 0, 0))
		SKIP(return, "no edu device");
	if (group_size(a.name) < 0)
		SKIP(return, "%s has no IOMMU group: this VM has no IOMMU", a.name);

	ASSERT_EQ(0, assign_bind(a.name));
	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);
	fd = assign_open(&a);
	EXPECT_EQ(-EPERM, fd);
	if (fd >= 0)
		close(fd);
	EXPECT_TRUE(kmsg_find(kmsg, a.name, "no interrupt remapping", 1000));
	close(kmsg);
	assign_unbind(a.name);
}

#define NONCOHERENT_PARAM "/sys/module/kvio_assign/parameters/allow_noncoherent"

TEST(noncoherent_opt_in)
{
	unsigned char *ram;
	struct edu_addr a;
	int kmsg, fd;
	__u32 *bar;

	if (access(ASSIGN_CTL, F_OK))
		SKIP(return, ASSIGN_CTL " is missing: load kvio_assign.ko");
	if (find_edu(&a, 0, 0))
		SKIP(return, "no edu device");
	if (group_size(a.name) < 0)
		SKIP(return, "%s has no IOMMU group: this VM has no IOMMU", a.name);

	/* The switch exists and is off by default. */
	ASSERT_EQ(0, access(NONCOHERENT_PARAM, W_OK));
	ASSERT_EQ(0, write_file(NONCOHERENT_PARAM, "0"));
	ASSERT_EQ(0, assign_bind(a.name));
	kmsg = kmsg_open();
	ASSERT_LE(0, kmsg);
	fd = assign_open(&a);
	EXPECT_EQ(-EPERM, fd);
	if (fd >= 0)
		close(fd);
	EXPECT_TRUE(kmsg_find(kmsg, a.name, "cannot keep the device's DMA cache coherent", 1000));

	/* Opted in: it opens, says so, and DMA goes through the IOMMU. */
	ASSERT_EQ(0, write_file(NONCOHERENT_PARAM, "1"));
	fd = assign_open(&a);
	ASSERT_LE(0, fd);
	EXPECT_TRUE(kmsg_find(kmsg, a.name, "without cache coherency enforcement", 1000));
	close(kmsg);
	ram = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ram);
	memset(ram, 0x5a, 4096);
	memset(ram + 4096, 0, 4096);
	ASSERT_EQ(0, dma_map(fd, ram, 0x100000, 8192,
			     KVIO_ASSIGN_DMA_READ | KVIO_ASSIGN_DMA_WRITE));
	ASSERT_EQ(0, enable_master(fd));
	bar = map_bar0(fd);
	ASSERT_NE(NULL, bar);
	EXPECT_EQ(0, edu_dma(bar, 0x100000, EDU_BUF, 256, 0, 0));
	EXPECT_EQ(0, edu_dma(bar, EDU_BUF, 0x101000, 256, 1, 0));
	EXPECT_EQ(0, memcmp(ram, ram + 4096, 256));
	EXPECT_EQ(0, ram[4096 + 256]);
	munmap(bar, EDU_BAR_SIZE);
	close(fd);
	munmap(ram, 8192);
	write_file(NONCOHERENT_PARAM, "0");
	assign_unbind(a.name);
}

TEST_HARNESS_MAIN
