// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: the per-virtqueue ioctls.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/virtio_config.h>

#include "vhost_diff.h"

#define FIELD(f)	offsetof(struct vhost_vring_addr, f)

/* Queue 0's good layout with one address field moved by off bytes. */
static void addr_step(struct kvio_ctx *c, const char *label, int fd,
		      size_t field, __u64 off)
{
	struct vhost_vring_addr a;
	__u64 v;

	kvio_ring_addr(c, 0, &a);
	memcpy(&v, (char *)&a + field, sizeof(v));
	v += off;
	memcpy((char *)&a + field, &v, sizeof(v));
	kvio_addr(c, label, fd, &a);
}

void kvio_sc_vring_num_values(struct kvio_ctx *c)
{
	static const unsigned int num[] = {
		0, 1, 2, 3, 256, 1000, 1024, 32768, 65535, 65536,
		0x80000000u, 0xffffffffu,
	};
	int fd = kvio_open_owned(c);
	unsigned int i;
	char l[24];

	for (i = 0; i < ARRAY_SIZE(num); i++) {
		snprintf(l, sizeof(l), "num_%#x", num[i]);
		kvio_state(c, l, fd, VHOST_SET_VRING_NUM, 0, num[i]);
	}
	kvio_state(c, "num_q1_256", fd, VHOST_SET_VRING_NUM, 1, 256);
}

void kvio_sc_vring_num_active(struct kvio_ctx *c)
{
	int fd = kvio_open_attached(c);

	kvio_state(c, "num_active", fd, VHOST_SET_VRING_NUM, 0, 256);
	kvio_state(c, "num_active_invalid", fd, VHOST_SET_VRING_NUM, 0, 3);
	kvio_file(c, "detach_q0", fd, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_state(c, "num_detached", fd, VHOST_SET_VRING_NUM, 0, 128);
	kvio_state(c, "num_q1_still_active", fd, VHOST_SET_VRING_NUM, 1, 128);
}

/* Queue index validation, for every per-queue ioctl. */
static void index_steps(struct kvio_ctx *c, int fd, unsigned int idx,
			const char *sfx)
{
	static const struct {
		const char *name;
		unsigned long req;
	} st[] = {
		{ "set_num", VHOST_SET_VRING_NUM },
		{ "set_base", VHOST_SET_VRING_BASE },
		{ "get_base", VHOST_GET_VRING_BASE },
		{ "set_endian", VHOST_SET_VRING_ENDIAN },
		{ "get_endian", VHOST_GET_VRING_ENDIAN },
		{ "set_busyloop", VHOST_SET_VRING_BUSYLOOP_TIMEOUT },
		{ "get_busyloop", VHOST_GET_VRING_BUSYLOOP_TIMEOUT },
	}, fl[] = {
		{ "kick", VHOST_SET_VRING_KICK },
		{ "call", VHOST_SET_VRING_CALL },
		{ "err", VHOST_SET_VRING_ERR },
		{ "backend", VHOST_NET_SET_BACKEND },
	};
	struct vhost_vring_addr a;
	unsigned int i;
	char l[KVIO_LABEL_LEN];

	for (i = 0; i < ARRAY_SIZE(st); i++) {
		snprintf(l, sizeof(l), "%s_%s", st[i].name, sfx);
		kvio_state(c, l, fd, st[i].req, idx, 0);
	}
	for (i = 0; i < ARRAY_SIZE(fl); i++) {
		snprintf(l, sizeof(l), "%s_%s", fl[i].name, sfx);
		kvio_file(c, l, fd, fl[i].req, idx, -1);
	}
	kvio_ring_addr(c, 0, &a);
	a.index = idx;
	snprintf(l, sizeof(l), "set_addr_%s", sfx);
	kvio_addr(c, l, fd, &a);
}

void kvio_sc_vring_index(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	index_steps(c, fd, 2, "idx2_unowned");
	kvio_owner(c, "owner", fd);
	kvio_mem1(c, "mem", fd);
	index_steps(c, fd, 2, "idx2");
	index_steps(c, fd, 0xffffffffu, "idx_max");
	index_steps(c, fd, 0x10000, "idx_0x10000");
	index_steps(c, fd, 1, "idx1");
}

void kvio_sc_vring_addr_aligned(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = kvio_open_owned(c);

	kvio_ring_addr(c, 0, &a);
	kvio_addr(c, "addr_q0", fd, &a);
	kvio_ring_addr(c, 1, &a);
	kvio_addr(c, "addr_q1", fd, &a);
	kvio_addr(c, "addr_q1_again", fd, &a);
	kvio_ring_addr_at(&a, 0, NULL);
	kvio_addr(c, "addr_q0_low_addresses", fd, &a);
	memset(&a, 0, sizeof(a));
	kvio_addr(c, "addr_q0_all_zero", fd, &a);
}

void kvio_sc_vring_addr_unaligned(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = kvio_open_owned(c);

	kvio_mem1(c, "mem", fd);
	kvio_state(c, "num", fd, VHOST_SET_VRING_NUM, 0, KVIO_RING_NUM);
	addr_step(c, "avail_odd", fd, FIELD(avail_user_addr), 1);
	addr_step(c, "avail_2", fd, FIELD(avail_user_addr), 2);
	addr_step(c, "used_1", fd, FIELD(used_user_addr), 1);
	addr_step(c, "used_2", fd, FIELD(used_user_addr), 2);
	addr_step(c, "used_4", fd, FIELD(used_user_addr), 4);
	addr_step(c, "log_gpa_2", fd, FIELD(log_guest_addr), 2);
	addr_step(c, "log_gpa_4", fd, FIELD(log_guest_addr), 4);
	addr_step(c, "desc_8", fd, FIELD(desc_user_addr), 8);
	addr_step(c, "desc_odd", fd, FIELD(desc_user_addr), 1);
	kvio_attach_new_tap(c, "backend_desc_odd", fd, 0);
	kvio_ring_addr(c, 0, &a);
	a.used_user_addr += 4;
	kvio_addr(c, "used_4_active", fd, &a);
	a.used_user_addr += 2;
	kvio_addr(c, "used_6_active", fd, &a);
}

/* Owned, with a memory table and ring sizes, but no ring addresses. */
static int open_sized(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_mem1(c, "mem", fd);
	kvio_state(c, "num_q0", fd, VHOST_SET_VRING_NUM, 0, KVIO_RING_NUM);
	kvio_state(c, "num_q1", fd, VHOST_SET_VRING_NUM, 1, KVIO_RING_NUM);
	return fd;
}

void kvio_sc_vring_addr_flags(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = kvio_open_owned(c);

	kvio_ring_addr(c, 0, &a);
	a.flags = 1 << 1;
	kvio_addr(c, "flags_bit1", fd, &a);
	a.flags = ~0u;
	kvio_addr(c, "flags_all", fd, &a);
	a.flags = 1 << VHOST_VRING_F_LOG;
	kvio_addr(c, "flags_log", fd, &a);
	a.log_guest_addr += 2;
	kvio_addr(c, "flags_log_gpa_2", fd, &a);
	a.flags |= 1 << 1;
	kvio_addr(c, "flags_bad_and_gpa_2", fd, &a);
}

/* Addresses no user mapping can have: accepted until a backend starts. */
void kvio_sc_vring_addr_kernel(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = open_sized(c);

	kvio_ring_addr_at(&a, 0, (void *)(unsigned long)KVIO_KERNEL_ADDR);
	kvio_addr(c, "addr_q0_kernel", fd, &a);
	kvio_attach_new_tap(c, "backend_q0_kernel", fd, 0);
	kvio_ring_addr(c, 1, &a);
	a.desc_user_addr = KVIO_KERNEL_ADDR;
	kvio_addr(c, "addr_q1_desc_kernel", fd, &a);
	kvio_attach_new_tap(c, "backend_q1_desc_kernel", fd, 1);
	kvio_ring_addr(c, 1, &a);
	a.used_user_addr = 0x7ffffffffc00ULL;
	kvio_addr(c, "addr_q1_used_at_47bit_edge", fd, &a);
	kvio_attach_new_tap(c, "backend_q1_used_at_47bit_edge", fd, 1);
}

/* Below TASK_SIZE but not mapped: only the used ring is touched at start. */
void kvio_sc_vring_addr_unmapped(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = open_sized(c);

	kvio_ring_addr_at(&a, 0, kvio_hole(c));
	kvio_addr(c, "addr_q0_unmapped", fd, &a);
	kvio_attach_new_tap(c, "backend_q0_unmapped", fd, 0);
	kvio_ring_addr(c, 1, &a);
	a.desc_user_addr = (unsigned long)kvio_hole(c);
	a.avail_user_addr = (unsigned long)kvio_hole(c) + 0x4000;
	kvio_addr(c, "addr_q1_desc_avail_unmapped", fd, &a);
	kvio_attach_new_tap(c, "backend_q1_desc_avail_unmapped", fd, 1);
}

void kvio_sc_vring_addr_readonly(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = open_sized(c);

	kvio_ring_addr(c, 0, &a);
	a.used_user_addr = (unsigned long)kvio_ro_page(c);
	kvio_addr(c, "addr_q0_used_readonly", fd, &a);
	kvio_attach_new_tap(c, "backend_q0_used_readonly", fd, 0);
	kvio_ring_addr_at(&a, 1, kvio_ro_page(c));
	a.used_user_addr = (unsigned long)kvio_mem(c) + 0x8000;
	kvio_addr(c, "addr_q1_desc_avail_readonly", fd, &a);
	kvio_attach_new_tap(c, "backend_q1_desc_avail_readonly", fd, 1);
}

/* With a backend attached, new addresses are checked on the spot. */
void kvio_sc_vring_addr_active(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = kvio_open_attached(c);

	kvio_ring_addr(c, 0, &a);
	kvio_addr(c, "addr_q0_same", fd, &a);
	kvio_ring_addr_at(&a, 0, (char *)kvio_mem(c) + 0x40000);
	kvio_addr(c, "addr_q0_moved", fd, &a);
	kvio_ring_addr_at(&a, 0, (void *)(unsigned long)KVIO_KERNEL_ADDR);
	kvio_addr(c, "addr_q0_kernel", fd, &a);
	kvio_ring_addr_at(&a, 0, kvio_hole(c));
	kvio_addr(c, "addr_q0_unmapped", fd, &a);
	addr_step(c, "addr_q0_avail_odd", fd, FIELD(avail_user_addr), 1);
	addr_step(c, "addr_q0_desc_odd", fd, FIELD(desc_user_addr), 1);
	kvio_ring_addr(c, 0, &a);
	a.flags = 1 << 1;
	kvio_addr(c, "addr_q0_bad_flags", fd, &a);
	a.flags = 0;
	kvio_addr(c, "addr_q0_restore", fd, &a);
	kvio_file(c, "detach_q0", fd, VHOST_NET_SET_BACKEND, 0, -1);
}

/* VHOST_VRING_F_LOG on a live ring, with no log base set. */
void kvio_sc_vring_addr_log_active(struct kvio_ctx *c)
{
	struct vhost_vring_addr a;
	int fd = kvio_open_attached(c);

	kvio_ring_addr(c, 0, &a);
	a.flags = 1 << VHOST_VRING_F_LOG;
	kvio_addr(c, "addr_q0_log_no_base", fd, &a);
	a.log_guest_addr = 0xfffffffffffff000ULL;
	kvio_addr(c, "addr_q0_log_huge_gpa", fd, &a);
	a.log_guest_addr = 1ULL << 40;
	kvio_addr(c, "addr_q0_log_gpa_1t", fd, &a);
	kvio_set_u64(c, "set_log_all", fd, VHOST_SET_FEATURES,
		     (1ULL << VHOST_F_LOG_ALL) |
		     (1ULL << VIRTIO_F_VERSION_1));
	kvio_set_u64(c, "log_base_kernel", fd, VHOST_SET_LOG_BASE,
		     KVIO_KERNEL_ADDR);
	kvio_set_u64(c, "log_base_mem", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_mem(c));
}

static void base_pair(struct kvio_ctx *c, int fd, unsigned int idx,
		      unsigned int num)
{
	char l[KVIO_LABEL_LEN];

	snprintf(l, sizeof(l), "set_q%u_%#x", idx, num);
	kvio_state(c, l, fd, VHOST_SET_VRING_BASE, idx, num);
	snprintf(l, sizeof(l), "get_q%u_after_%#x", idx, num);
	kvio_get_state(c, l, fd, VHOST_GET_VRING_BASE, idx);
}

void kvio_sc_vring_base_values(struct kvio_ctx *c)
{
	static const unsigned int num[] = {
		0, 1, 0x7fff, 0xffff, 0x10000, 0x1ffff, 0xffffffffu, 42,
	};
	int fd = kvio_open_owned(c);
	unsigned int i;

	kvio_get_state(c, "get_q0_initial", fd, VHOST_GET_VRING_BASE, 0);
	kvio_get_state(c, "get_q1_initial", fd, VHOST_GET_VRING_BASE, 1);
	for (i = 0; i < ARRAY_SIZE(num); i++)
		base_pair(c, fd, 0, num[i]);
	base_pair(c, fd, 1, 5);
	kvio_get_state(c, "get_q0_final", fd, VHOST_GET_VRING_BASE, 0);
}

void kvio_sc_vring_base_active(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	kvio_state(c, "set_base_42", fd, VHOST_SET_VRING_BASE, 0, 42);
	kvio_attach_both(c, fd);
	kvio_state(c, "set_base_active", fd, VHOST_SET_VRING_BASE, 0, 7);
	kvio_get_state(c, "get_base_active", fd, VHOST_GET_VRING_BASE, 0);
	kvio_file(c, "detach_q0", fd, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_get_state(c, "get_base_detached", fd, VHOST_GET_VRING_BASE, 0);
	base_pair(c, fd, 0, 7);
	base_pair(c, fd, 1, 9);
}

void kvio_sc_vring_kick_fds(struct kvio_ctx *c)
{
	kvio_fd_matrix(c, kvio_open_owned(c), VHOST_SET_VRING_KICK);
}

void kvio_sc_vring_call_fds(struct kvio_ctx *c)
{
	kvio_fd_matrix(c, kvio_open_owned(c), VHOST_SET_VRING_CALL);
}

void kvio_sc_vring_err_fds(struct kvio_ctx *c)
{
	kvio_fd_matrix(c, kvio_open_owned(c), VHOST_SET_VRING_ERR);
}

/* Rebinding and unbinding eventfds while the rings run. */
void kvio_sc_vring_files_active(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	kvio_file(c, "kick_rebind", fd, VHOST_SET_VRING_KICK, 0,
		  kvio_eventfd(c));
	kvio_file(c, "kick_unbind", fd, VHOST_SET_VRING_KICK, 0, -1);
	kvio_file(c, "call_unbind", fd, VHOST_SET_VRING_CALL, 0, -1);
	kvio_file(c, "err_unbind", fd, VHOST_SET_VRING_ERR, 0, -1);
	kvio_file(c, "kick_pipe", fd, VHOST_SET_VRING_KICK, 1, kvio_pipe(c));
	kvio_file(c, "call_pipe", fd, VHOST_SET_VRING_CALL, 1, kvio_pipe(c));
	kvio_set_int(c, "log_fd_unbind", fd, VHOST_SET_LOG_FD, -1);
	kvio_eventfds(c, fd, 0);
	kvio_file(c, "detach_q0", fd, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_file(c, "kick_q0_detached", fd, VHOST_SET_VRING_KICK, 0, -1);
}

void kvio_sc_vring_endian(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_get_state(c, "get_initial", fd, VHOST_GET_VRING_ENDIAN, 0);
	kvio_state(c, "set_little", fd, VHOST_SET_VRING_ENDIAN, 0,
		   VHOST_VRING_LITTLE_ENDIAN);
	kvio_get_state(c, "get_after_little", fd, VHOST_GET_VRING_ENDIAN, 0);
	kvio_state(c, "set_big", fd, VHOST_SET_VRING_ENDIAN, 0,
		   VHOST_VRING_BIG_ENDIAN);
	kvio_get_state(c, "get_after_big", fd, VHOST_GET_VRING_ENDIAN, 0);
	kvio_state(c, "set_2", fd, VHOST_SET_VRING_ENDIAN, 0, 2);
	kvio_mem1(c, "mem", fd);
	kvio_vq_setup(c, fd, 1);
	kvio_attach_new_tap(c, "backend_q1", fd, 1);
	kvio_state(c, "set_little_active", fd, VHOST_SET_VRING_ENDIAN, 1,
		   VHOST_VRING_LITTLE_ENDIAN);
	kvio_get_state(c, "get_active", fd, VHOST_GET_VRING_ENDIAN, 1);
}

void kvio_sc_vring_busyloop(struct kvio_ctx *c)
{
	static const unsigned int num[] = { 0, 50, 0x7fffffff, 0xffffffffu };
	int fd = kvio_open_owned(c);
	char l[KVIO_LABEL_LEN];
	unsigned int i;

	kvio_get_state(c, "get_initial", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	for (i = 0; i < ARRAY_SIZE(num); i++) {
		snprintf(l, sizeof(l), "set_%#x", num[i]);
		kvio_state(c, l, fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0,
			   num[i]);
		snprintf(l, sizeof(l), "get_after_%#x", num[i]);
		kvio_get_state(c, l, fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	}
	kvio_state(c, "set_q1_7", fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 1, 7);
	kvio_get_state(c, "get_q1", fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 1);
	kvio_mem1(c, "mem", fd);
	kvio_vq_setup(c, fd, 1);
	kvio_attach_new_tap(c, "backend_q1", fd, 1);
	kvio_state(c, "set_q1_active", fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
		   1, 20);
	kvio_get_state(c, "get_q1_active", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 1);
}

/* Argument pointers that cannot be read or written. */
void kvio_sc_vring_bad_ptr(struct kvio_ctx *c)
{
	static const struct {
		const char *name;
		unsigned long req;
	} io[] = {
		{ "set_num", VHOST_SET_VRING_NUM },
		{ "set_addr", VHOST_SET_VRING_ADDR },
		{ "set_base", VHOST_SET_VRING_BASE },
		{ "get_base", VHOST_GET_VRING_BASE },
		{ "kick", VHOST_SET_VRING_KICK },
		{ "get_endian", VHOST_GET_VRING_ENDIAN },
		{ "get_busyloop", VHOST_GET_VRING_BUSYLOOP_TIMEOUT },
		{ "backend", VHOST_NET_SET_BACKEND },
	};
	int fd = kvio_open_owned(c);
	char l[KVIO_LABEL_LEN];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(io); i++) {
		snprintf(l, sizeof(l), "%s_null", io[i].name);
		kvio_io(c, l, fd, io[i].req, NULL);
		snprintf(l, sizeof(l), "%s_unmapped", io[i].name);
		kvio_io(c, l, fd, io[i].req, kvio_hole(c));
		snprintf(l, sizeof(l), "%s_readonly", io[i].name);
		kvio_io(c, l, fd, io[i].req, kvio_ro_page(c));
	}
}
