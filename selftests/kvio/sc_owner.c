// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: feature negotiation and device ownership.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vhost_diff.h"

#ifndef VIRTIO_F_RING_RESET
#define VIRTIO_F_RING_RESET	40
#endif

#define BIT(n)	(1ULL << (n))

static const __u64 v1_mrg = BIT(VIRTIO_F_VERSION_1) |
			       BIT(VIRTIO_NET_F_MRG_RXBUF);

void kvio_sc_features_get(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_get_u64(c, "get_features_unowned", fd, VHOST_GET_FEATURES, 1);
	kvio_get_u64(c, "get_backend_features_unowned", fd,
		     VHOST_GET_BACKEND_FEATURES, 1);
	kvio_owner(c, "owner", fd);
	kvio_get_u64(c, "get_features", fd, VHOST_GET_FEATURES, 1);
	kvio_get_u64(c, "get_backend_features", fd,
		     VHOST_GET_BACKEND_FEATURES, 1);
}

void kvio_sc_features_set_valid(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_set_u64(c, "set_zero", fd, VHOST_SET_FEATURES, 0);
	kvio_set_u64(c, "set_version_1", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_F_VERSION_1));
	kvio_set_u64(c, "set_ring_features", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_F_NOTIFY_ON_EMPTY) |
		     BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_F_ANY_LAYOUT) |
		     BIT(VIRTIO_F_VERSION_1));
	kvio_set_u64(c, "set_mrg_rxbuf", fd, VHOST_SET_FEATURES, v1_mrg);
	kvio_set_u64(c, "set_mrg_rxbuf_legacy", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_NET_F_MRG_RXBUF));
	kvio_set_u64(c, "set_ring_reset", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_F_RING_RESET) | BIT(VIRTIO_F_VERSION_1));
	kvio_set_u64(c, "set_zero_again", fd, VHOST_SET_FEATURES, 0);
}

/* What a VMM does: acknowledge exactly what the device offers. */
void kvio_sc_features_set_offered(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);
	__u64 offered;

	offered = kvio_get_u64(c, "get_features", fd, VHOST_GET_FEATURES, 0);
	kvio_set_u64(c, "set_offered", fd, VHOST_SET_FEATURES, offered);
	kvio_set_u64(c, "set_offered_plus_bit63", fd, VHOST_SET_FEATURES,
		     offered | BIT(63));
	kvio_set_u64(c, "set_offered_again", fd, VHOST_SET_FEATURES, offered);
	kvio_set_u64(c, "set_offered_minus_v1", fd, VHOST_SET_FEATURES,
		     offered & ~BIT(VIRTIO_F_VERSION_1));
}

void kvio_sc_features_access_platform(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_set_u64(c, "set_access_platform", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_F_ACCESS_PLATFORM) | v1_mrg);
	kvio_set_u64(c, "set_without_access_platform", fd,
		     VHOST_SET_FEATURES, v1_mrg);
	kvio_set_u64(c, "set_access_platform_only", fd, VHOST_SET_FEATURES,
		     BIT(VIRTIO_F_ACCESS_PLATFORM));
	kvio_set_u64(c, "set_zero", fd, VHOST_SET_FEATURES, 0);
}

void kvio_sc_features_unknown_bits(struct kvio_ctx *c)
{
	static const struct {
		const char *label;
		__u64 bits;
	} bad[] = {
		{ "set_bit63", BIT(63) },
		{ "set_bit41", BIT(41) },
		{ "set_net_csum", BIT(VIRTIO_NET_F_CSUM) },
		{ "set_net_mq", BIT(VIRTIO_NET_F_MQ) },
		{ "set_ring_packed", BIT(VIRTIO_F_RING_PACKED) },
		{ "set_in_order", BIT(VIRTIO_F_IN_ORDER) },
		{ "set_bad_feature_bit30", BIT(30) },
		{ "set_all_ones", ~0ULL },
	};
	int fd = kvio_open(c, "open", O_RDWR);
	unsigned int i;

	kvio_set_u64(c, "set_bit63_unowned", fd, VHOST_SET_FEATURES, BIT(63));
	kvio_owner(c, "owner", fd);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		kvio_set_u64(c, bad[i].label, fd, VHOST_SET_FEATURES,
			     bad[i].bits | v1_mrg);
	kvio_set_u64(c, "set_valid_after", fd, VHOST_SET_FEATURES, v1_mrg);
}

void kvio_sc_features_log_all(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_set_u64(c, "set_log_all_no_mem", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL));
	kvio_set_u64(c, "set_log_all_v1", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL) | v1_mrg);
	kvio_mem1(c, "mem", fd);
	kvio_set_u64(c, "set_log_all_with_mem", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL) | v1_mrg);
	kvio_set_u64(c, "log_base", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_mem(c));
	kvio_set_u64(c, "set_log_all_with_base", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL) | v1_mrg);
	kvio_set_u64(c, "clear_log_all", fd, VHOST_SET_FEATURES, v1_mrg);
}

/* LOG_ALL is validated against the log base only once a ring is live. */
void kvio_sc_features_log_all_active(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	kvio_set_u64(c, "log_base_huge", fd, VHOST_SET_LOG_BASE,
		     0xfffffffffffff000ULL);
	kvio_set_u64(c, "set_log_all_bad_base", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL) | v1_mrg);
	kvio_set_u64(c, "log_base_good", fd, VHOST_SET_LOG_BASE,
		     (unsigned long)kvio_mem(c));
	kvio_set_u64(c, "set_log_all", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL) | v1_mrg);
	kvio_set_u64(c, "log_base_huge_logging", fd, VHOST_SET_LOG_BASE,
		     0xfffffffffffff000ULL);
	kvio_set_u64(c, "log_base_kernel_logging", fd, VHOST_SET_LOG_BASE,
		     KVIO_KERNEL_ADDR);
	kvio_set_u64(c, "clear_log_all", fd, VHOST_SET_FEATURES, v1_mrg);
}

void kvio_sc_features_net_hdr(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	const __u64 hdr = BIT(VHOST_NET_F_VIRTIO_NET_HDR);

	kvio_set_u64(c, "set_net_hdr", fd, VHOST_SET_FEATURES, hdr);
	kvio_set_u64(c, "set_net_hdr_mrg", fd, VHOST_SET_FEATURES,
		     hdr | BIT(VIRTIO_NET_F_MRG_RXBUF));
	kvio_set_u64(c, "set_net_hdr_v1", fd, VHOST_SET_FEATURES,
		     hdr | BIT(VIRTIO_F_VERSION_1));
	kvio_attach_both(c, fd);
	kvio_set_u64(c, "set_net_hdr_active", fd, VHOST_SET_FEATURES,
		     hdr | v1_mrg);
	kvio_set_u64(c, "set_plain_active", fd, VHOST_SET_FEATURES, v1_mrg);
	kvio_set_u64(c, "set_zero_active", fd, VHOST_SET_FEATURES, 0);
}

/* Feature ioctls do not require ownership upstream. */
void kvio_sc_features_unowned(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_set_u64(c, "set_v1_mrg", fd, VHOST_SET_FEATURES, v1_mrg);
	kvio_set_u64(c, "set_log_all", fd, VHOST_SET_FEATURES,
		     BIT(VHOST_F_LOG_ALL));
	kvio_set_u64(c, "set_unknown", fd, VHOST_SET_FEATURES, BIT(62));
	kvio_set_u64(c, "set_backend_features", fd,
		     VHOST_SET_BACKEND_FEATURES,
		     BIT(VHOST_BACKEND_F_IOTLB_MSG_V2));
	kvio_owner(c, "owner", fd);
	kvio_set_u64(c, "set_after_owner", fd, VHOST_SET_FEATURES, v1_mrg);
}

void kvio_sc_features_bad_ptr(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_io(c, "get_null", fd, VHOST_GET_FEATURES, NULL);
	kvio_io(c, "get_unmapped", fd, VHOST_GET_FEATURES, kvio_hole(c));
	kvio_io(c, "get_readonly", fd, VHOST_GET_FEATURES, kvio_ro_page(c));
	kvio_io(c, "set_null", fd, VHOST_SET_FEATURES, NULL);
	kvio_io(c, "set_unmapped", fd, VHOST_SET_FEATURES, kvio_hole(c));
	kvio_io(c, "set_from_readonly_zero", fd, VHOST_SET_FEATURES,
		kvio_ro_page(c));
	kvio_io(c, "get_backend_null", fd, VHOST_GET_BACKEND_FEATURES, NULL);
	kvio_io(c, "get_backend_readonly", fd, VHOST_GET_BACKEND_FEATURES,
		kvio_ro_page(c));
	kvio_io(c, "set_backend_null", fd, VHOST_SET_BACKEND_FEATURES, NULL);
}

void kvio_sc_backend_features(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	char l[24];
	int bit;

	kvio_set_u64(c, "set_iotlb_v2_unowned", fd, VHOST_SET_BACKEND_FEATURES,
		     BIT(VHOST_BACKEND_F_IOTLB_MSG_V2));
	kvio_set_u64(c, "set_zero_unowned", fd, VHOST_SET_BACKEND_FEATURES, 0);
	kvio_owner(c, "owner", fd);
	kvio_set_u64(c, "set_iotlb_v2", fd, VHOST_SET_BACKEND_FEATURES,
		     BIT(VHOST_BACKEND_F_IOTLB_MSG_V2));
	for (bit = 2; bit <= 8; bit++) {
		snprintf(l, sizeof(l), "set_bit%d", bit);
		kvio_set_u64(c, l, fd, VHOST_SET_BACKEND_FEATURES,
			     BIT(VHOST_BACKEND_F_IOTLB_MSG_V2) | BIT(bit));
	}
	kvio_set_u64(c, "set_bit63", fd, VHOST_SET_BACKEND_FEATURES, BIT(63));
	kvio_set_u64(c, "set_zero", fd, VHOST_SET_BACKEND_FEATURES, 0);
	kvio_get_u64(c, "get_after_sets", fd, VHOST_GET_BACKEND_FEATURES, 1);
}

void kvio_sc_owner_twice(struct kvio_ctx *c)
{
	int fd = kvio_open_owned(c);

	kvio_owner(c, "owner_again", fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	kvio_owner(c, "owner_after_reset", fd);
	kvio_owner(c, "owner_after_reset_again", fd);
}

void kvio_sc_owner_reset_unowned(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_io(c, "reset_unowned", fd, VHOST_RESET_OWNER, NULL);
	kvio_owner(c, "owner", fd);
	kvio_io(c, "reset", fd, VHOST_RESET_OWNER, NULL);
	kvio_io(c, "reset_again", fd, VHOST_RESET_OWNER, NULL);
	kvio_io(c, "reset_bogus_arg", fd, VHOST_RESET_OWNER, kvio_hole(c));
}

/* After RESET_OWNER the device is unowned again: every ioctl, then again. */
void kvio_sc_owner_reset_every(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	c->tag = "after_reset";
	kvio_every_ioctl(c, fd);
	c->tag = "owned_again";
	kvio_owner(c, "owner", fd);
	kvio_every_ioctl(c, fd);
}

/*
 * What RESET_OWNER resets: ring state, and the memory table (upstream
 * leaves an empty one behind, so a backend attaches without SET_MEM_TABLE).
 */
void kvio_sc_owner_reset_state(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	struct vhost_vring_addr a;

	kvio_state(c, "set_base_123", fd, VHOST_SET_VRING_BASE, 0, 123);
	kvio_state(c, "set_busyloop_77", fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
		   0, 77);
	kvio_attach_both(c, fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	kvio_owner(c, "owner_again", fd);
	kvio_get_state(c, "get_base", fd, VHOST_GET_VRING_BASE, 0);
	kvio_get_state(c, "get_busyloop", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	kvio_state(c, "set_num", fd, VHOST_SET_VRING_NUM, 0, KVIO_RING_NUM);
	kvio_ring_addr(c, 0, &a);
	kvio_addr(c, "set_addr", fd, &a);
	kvio_attach_new_tap(c, "backend_without_mem_table", fd, 0);
	kvio_attach_new_tap(c, "backend_q1_default_ring", fd, 1);
}

void kvio_sc_owner_none_every(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_every_ioctl(c, fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	kvio_attach_new_tap(c, "backend_tap", fd, 0);
}

/* A forked child shares the fd but not the mm: it is not the owner. */
void kvio_sc_owner_child_every(struct kvio_ctx *c)
{
	int fd = kvio_open_full(c);

	kvio_in_child(c, "child", fd, kvio_non_owner_steps);
	c->tag = "parent";
	kvio_get_state(c, "get_base", fd, VHOST_GET_VRING_BASE, 0);
	kvio_get_state(c, "get_busyloop", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	kvio_file(c, "detach", fd, VHOST_NET_SET_BACKEND, 0, -1);
}

static void become_owner(struct kvio_ctx *c, int fd)
{
	kvio_owner(c, "owner", fd);
	kvio_mem1(c, "mem", fd);
}

/* The owner exits while another process still holds the device open. */
void kvio_sc_owner_exited(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_in_child(c, "owner_child", fd, become_owner);
	c->tag = "survivor";
	kvio_non_owner_steps(c, fd);
}

static void own_then_exec(struct kvio_ctx *c, int fd)
{
	become_owner(c, fd);
	kvio_exec_self(c, fd, "after_exec");
}

/* The owner execs: the same process with a new mm is not the owner. */
void kvio_sc_owner_exec(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_in_child(c, "owner_child", fd, own_then_exec);
	c->tag = "parent";
	kvio_owner(c, "owner", fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
}

struct thread_arg {
	struct kvio_ctx c;
	int fd;
};

static void *peer_thread(void *p)
{
	struct thread_arg *t = p;

	kvio_every_ioctl(&t->c, t->fd);
	kvio_owner(&t->c, "owner", t->fd);
	return NULL;
}

/* Another thread of the owner shares its mm and so is the owner too. */
void kvio_sc_owner_thread_peer(struct kvio_ctx *c)
{
	struct thread_arg t;
	pthread_t th;
	int fd = kvio_open_owned(c);

	kvio_mem(c);
	t.c = *c;
	t.c.tag = "thread";
	t.fd = fd;
	if (pthread_create(&th, NULL, peer_thread, &t)) {
		kvio_env_fail(c, "pthread_create");
		return;
	}
	pthread_join(th, NULL);
	c->tag = "main";
	kvio_get_state(c, "get_busyloop", fd,
		       VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
}
