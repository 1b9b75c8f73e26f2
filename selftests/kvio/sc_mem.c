// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: the memory table and the dirty log.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>

#include "vhost_diff.h"

#define HUGE_ADDR	0xfffffffffffff000ULL

static __u64 mem_addr(struct kvio_ctx *c, __u64 off)
{
	return (unsigned long)kvio_mem(c) + off;
}

/* A table of n equal slices of guest memory, in order or reversed. */
static long set_slices(struct kvio_ctx *c, const char *label, int fd,
		       unsigned int n, int reversed)
{
	struct vhost_memory *m = kvio_memtab(c, n);
	__u64 slice = n ? KVIO_GUEST_SIZE / n : 0;
	unsigned int i, s;
	long ret;

	for (i = 0; i < n; i++) {
		s = reversed ? n - 1 - i : i;
		kvio_region(m, i, s * slice, slice, mem_addr(c, s * slice));
	}
	ret = kvio_mem_table(c, label, fd, m);
	free(m);
	return ret;
}

/* A table of one or two explicit regions. */
static long set_regions(struct kvio_ctx *c, const char *label, int fd,
			unsigned int n, const __u64 r[][3])
{
	struct vhost_memory *m = kvio_memtab(c, n);
	unsigned int i;
	long ret;

	for (i = 0; i < n; i++)
		kvio_region(m, i, r[i][0], r[i][1], r[i][2]);
	ret = kvio_mem_table(c, label, fd, m);
	free(m);
	return ret;
}

static long set_one(struct kvio_ctx *c, const char *label, int fd,
		    __u64 gpa, __u64 size, __u64 uaddr)
{
	const __u64 r[1][3] = { { gpa, size, uaddr } };

	return set_regions(c, label, fd, 1, r);
}

/* Only the header is valid memory: nregions is checked before the rest. */
static long set_header(struct kvio_ctx *c, const char *label, int fd,
		       __u32 nregions, __u32 padding)
{
	struct vhost_memory *m = kvio_memtab(c, 0);
	long ret;

	m->nregions = nregions;
	m->padding = padding;
	ret = kvio_mem_table(c, label, fd, m);
	free(m);
	return ret;
}

void kvio_sc_mem_empty(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	set_slices(c, "set_empty", fd, 0, 0);
	kvio_vq_setup(c, fd, 0);
	kvio_attach_new_tap(c, "backend_empty_table", fd, 0);
	set_slices(c, "set_empty_active", fd, 0, 0);
}

void kvio_sc_mem_one(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_mem1(c, "set_one", fd);
	kvio_mem1(c, "set_one_again", fd);
	set_one(c, "set_one_high_gpa", fd, 0x100000000ULL, KVIO_GUEST_SIZE,
		mem_addr(c, 0));
	set_one(c, "set_unaligned_gpa", fd, 0x123, 0x1000, mem_addr(c, 0));
	set_one(c, "set_unaligned_size", fd, 0, 0x1001, mem_addr(c, 0));
	set_one(c, "set_unaligned_uaddr", fd, 0, 0x1000, mem_addr(c, 0x10));
}

void kvio_sc_mem_many(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	set_slices(c, "set_16", fd, 16, 0);
	set_slices(c, "set_16_reversed", fd, 16, 1);
	kvio_attach_both(c, fd);
	set_slices(c, "set_8_active", fd, 8, 0);
}

void kvio_sc_mem_max(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	set_slices(c, "set_64", fd, 64, 0);
	kvio_attach_both(c, fd);
	set_slices(c, "set_64_active", fd, 64, 1);
}

void kvio_sc_mem_too_many(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	set_slices(c, "set_65", fd, 65, 0);
	set_header(c, "nregions_65_header_only", fd, 65, 0);
	set_header(c, "nregions_0x10000", fd, 0x10000, 0);
	set_header(c, "nregions_0x80000000", fd, 0x80000000u, 0);
	set_header(c, "nregions_0xffffffff", fd, 0xffffffffu, 0);
	set_slices(c, "set_64_after", fd, 64, 0);
}

void kvio_sc_mem_padding(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);
	struct vhost_memory *m = kvio_memtab(c, 1);

	set_header(c, "padding_1", fd, 0, 1);
	set_header(c, "padding_and_too_many", fd, 65, 0x80000000u);
	kvio_region(m, 0, 0, KVIO_GUEST_SIZE, mem_addr(c, 0));
	m->regions[0].flags_padding = 1;
	kvio_mem_table(c, "region_flags_padding", fd, m);
	m->padding = 1;
	kvio_mem_table(c, "padding_with_region", fd, m);
	free(m);
}

void kvio_sc_mem_overlap(struct kvio_ctx *c)
{
	const __u64 half = KVIO_GUEST_SIZE / 2;
	const __u64 overlap[2][3] = {
		{ 0, half, mem_addr(c, 0) },
		{ half / 2, half, mem_addr(c, half / 2) },
	};
	const __u64 dup[2][3] = {
		{ 0, half, mem_addr(c, 0) },
		{ 0, half, mem_addr(c, 0) },
	};
	const __u64 alias[2][3] = {
		{ 0, half, mem_addr(c, 0) },
		{ 0x40000000, half, mem_addr(c, 0) },
	};
	const __u64 nested[2][3] = {
		{ 0, KVIO_GUEST_SIZE, mem_addr(c, 0) },
		{ 0x1000, 0x1000, mem_addr(c, half) },
	};
	int fd = kvio_open_ready(c);

	set_regions(c, "overlap_gpa", fd, 2, overlap);
	set_regions(c, "duplicate", fd, 2, dup);
	set_regions(c, "alias_uaddr", fd, 2, alias);
	set_regions(c, "nested", fd, 2, nested);
	kvio_attach_both(c, fd);
	set_regions(c, "overlap_gpa_active", fd, 2, overlap);
}

void kvio_sc_mem_zero_size(struct kvio_ctx *c)
{
	const __u64 among[2][3] = {
		{ 0, KVIO_GUEST_SIZE, mem_addr(c, 0) },
		{ 0x200000, 0, mem_addr(c, 0) },
	};
	int fd = kvio_open_owned(c);

	set_one(c, "zero_size_gpa_1m", fd, 0x100000, 0, mem_addr(c, 0));
	set_one(c, "zero_size_gpa_0", fd, 0, 0, mem_addr(c, 0));
	set_regions(c, "zero_size_among_valid", fd, 2, among);
	kvio_vq_setup(c, fd, 0);
	set_one(c, "zero_size_gpa_0_again", fd, 0, 0, mem_addr(c, 0));
	kvio_attach_new_tap(c, "backend_zero_size_gpa_0", fd, 0);
}

void kvio_sc_mem_wrap(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	set_one(c, "wrap_gpa", fd, HUGE_ADDR, 0x2000, mem_addr(c, 0));
	set_one(c, "top_page", fd, HUGE_ADDR, 0x1000, mem_addr(c, 0));
	set_one(c, "whole_space", fd, 0, ~0ULL, mem_addr(c, 0));
	set_one(c, "gpa_1_size_max", fd, 1, ~0ULL, mem_addr(c, 0));
	set_one(c, "gpa_max_size_1", fd, ~0ULL, 1, mem_addr(c, 0));
}

/* Region addresses no process can use, or that are not mapped. */
static void bad_uaddr_tables(struct kvio_ctx *c, int fd)
{
	set_one(c, "uaddr_kernel", fd, 0, KVIO_GUEST_SIZE, KVIO_KERNEL_ADDR);
	set_one(c, "uaddr_wrap", fd, 0, 0x2000, HUGE_ADDR);
	set_one(c, "uaddr_unmapped", fd, 0, 0x2000,
		(unsigned long)kvio_hole(c));
	set_one(c, "uaddr_zero", fd, 0, 0x2000, 0);
	set_one(c, "size_huge", fd, 0, 1ULL << 47, mem_addr(c, 0));
}

/* Without a live ring, region addresses are not checked upstream. */
void kvio_sc_mem_uaddr_bad(struct kvio_ctx *c)
{
	bad_uaddr_tables(c, kvio_open_owned(c));
}

void kvio_sc_mem_uaddr_bad_active(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	bad_uaddr_tables(c, fd);
	kvio_mem1(c, "restore", fd);
}

void kvio_sc_mem_bad_ptr(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);
	char *page = kvio_map(c, 2 * 4096, PROT_READ | PROT_WRITE);
	struct vhost_memory *m;

	kvio_mem_table(c, "null", fd, NULL);
	kvio_mem_table(c, "unmapped", fd, kvio_hole(c));
	kvio_mem_table(c, "readonly_zeros", fd, kvio_ro_page(c));
	if (!page)
		return;
	munmap(page + 4096, 4096);
	/* the header ends the page; its regions would be in the gap */
	m = (struct vhost_memory *)(page + 4096 - sizeof(*m));
	m->nregions = 1;
	m->padding = 0;
	kvio_mem_table(c, "regions_unmapped", fd, m);
	m->nregions = 0;
	kvio_mem_table(c, "header_only_zero", fd, m);
}

void kvio_sc_mem_replace_active(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	set_slices(c, "replace_two", fd, 2, 0);
	set_slices(c, "replace_empty", fd, 0, 0);
	kvio_file(c, "detach_q0", fd, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_attach_new_tap(c, "reattach_q0", fd, 0);
	kvio_mem1(c, "replace_one", fd);
}

void kvio_sc_log_base(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_set_u64(c, "log_base_unowned", fd, VHOST_SET_LOG_BASE,
		     mem_addr(c, 0));
	kvio_owner(c, "owner", fd);
	kvio_set_u64(c, "log_base", fd, VHOST_SET_LOG_BASE, mem_addr(c, 0));
	kvio_io(c, "null_arg", fd, VHOST_SET_LOG_BASE, NULL);
	kvio_io(c, "unmapped_arg", fd, VHOST_SET_LOG_BASE, kvio_hole(c));
	kvio_set_u64(c, "log_base_zero", fd, VHOST_SET_LOG_BASE, 0);
	kvio_set_u64(c, "log_base_all_ones", fd, VHOST_SET_LOG_BASE, ~0ULL);
	kvio_set_u64(c, "log_base_kernel", fd, VHOST_SET_LOG_BASE,
		     KVIO_KERNEL_ADDR);
	kvio_set_u64(c, "log_base_unaligned", fd, VHOST_SET_LOG_BASE,
		     mem_addr(c, 1));
}

/* With a live ring logging its used ring, the log base is validated. */
void kvio_sc_log_base_active(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);
	struct vhost_vring_addr a;

	kvio_ring_addr(c, 0, &a);
	a.flags = 1 << VHOST_VRING_F_LOG;
	kvio_addr(c, "addr_q0_log", fd, &a);
	kvio_set_u64(c, "log_base_huge", fd, VHOST_SET_LOG_BASE, HUGE_ADDR);
	kvio_set_u64(c, "log_base_kernel", fd, VHOST_SET_LOG_BASE,
		     KVIO_KERNEL_ADDR);
	kvio_set_u64(c, "log_base_unmapped", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_hole(c));
	kvio_set_u64(c, "log_base_ok", fd, VHOST_SET_LOG_BASE, mem_addr(c, 0));
	a.log_guest_addr = HUGE_ADDR;
	kvio_addr(c, "addr_q0_log_huge_gpa", fd, &a);
	a.flags = 0;
	kvio_addr(c, "addr_q0_nolog_huge_gpa", fd, &a);
}

void kvio_sc_log_fd(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int efd = kvio_eventfd(c);

	kvio_set_int(c, "eventfd_unowned", fd, VHOST_SET_LOG_FD, efd);
	kvio_owner(c, "owner", fd);
	kvio_set_int(c, "eventfd", fd, VHOST_SET_LOG_FD, efd);
	kvio_set_int(c, "eventfd_again", fd, VHOST_SET_LOG_FD, efd);
	kvio_set_int(c, "unbind", fd, VHOST_SET_LOG_FD, -1);
	kvio_set_int(c, "unbind_again", fd, VHOST_SET_LOG_FD, -1);
	kvio_set_int(c, "bad_fd", fd, VHOST_SET_LOG_FD, 4000);
	kvio_set_int(c, "fd_minus_2", fd, VHOST_SET_LOG_FD, -2);
	kvio_set_int(c, "pipe", fd, VHOST_SET_LOG_FD, kvio_pipe(c));
	kvio_set_int(c, "regular_file", fd, VHOST_SET_LOG_FD,
		     kvio_regular_file(c));
	kvio_set_int(c, "vhost_fd_itself", fd, VHOST_SET_LOG_FD, fd);
	kvio_io(c, "null_arg", fd, VHOST_SET_LOG_FD, NULL);
	kvio_set_int(c, "eventfd_last", fd, VHOST_SET_LOG_FD, kvio_eventfd(c));
}
