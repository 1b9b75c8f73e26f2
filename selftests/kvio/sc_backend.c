// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: VHOST_NET_SET_BACKEND with every kind of fd and ring state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "vhost_diff.h"

static long attach(struct kvio_ctx *c, const char *label, int fd,
		   unsigned int idx, int file)
{
	return kvio_file(c, label, fd, VHOST_NET_SET_BACKEND, idx, file);
}

void kvio_sc_backend_tap(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	kvio_eventfds(c, fd, 0);
	kvio_eventfds(c, fd, 1);
	kvio_attach_both(c, fd);
	attach(c, "detach_q0", fd, 0, -1);
	attach(c, "detach_q1", fd, 1, -1);
}

void kvio_sc_backend_tap_plain(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	attach(c, "tap_no_vnet_hdr", fd, 0, kvio_tap(c, IFF_TAP | IFF_NO_PI, 1));
	attach(c, "tap_with_pi", fd, 1, kvio_tap(c, IFF_TAP, 1));
}

void kvio_sc_backend_tun_unattached(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int tun = kvio_tap(c, 0, 0);

	attach(c, "tun_no_setiff_q0", fd, 0, tun);
	attach(c, "tun_no_setiff_q1", fd, 1, tun);
	attach(c, "detach_q0", fd, 0, -1);
}

void kvio_sc_backend_tun_l3(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	attach(c, "tun_l3_q0", fd, 0, kvio_tap(c, IFF_TUN | IFF_NO_PI, 1));
	attach(c, "tun_l3_q1", fd, 1,
	       kvio_tap(c, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, 1));
}

/* A second queue of a multiqueue tap, detached with TUNSETQUEUE. */
static int detached_queue(struct kvio_ctx *c, int first)
{
	struct ifreq ifr;
	int q = -1;

	memset(&ifr, 0, sizeof(ifr));
	if (first >= 0 && !ioctl(first, TUNGETIFF, &ifr))
		q = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	ifr.ifr_flags = KVIO_TAP_FLAGS | IFF_MULTI_QUEUE;
	if (q < 0 || ioctl(q, TUNSETIFF, &ifr)) {
		kvio_env_fail(c, "second tap queue: %s", strerror(errno));
		return -1;
	}
	ifr.ifr_flags = IFF_DETACH_QUEUE;
	if (ioctl(q, TUNSETQUEUE, &ifr))
		kvio_env_fail(c, "TUNSETQUEUE: %s", strerror(errno));
	return q;
}

void kvio_sc_backend_tap_detached_queue(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int first = kvio_tap(c, KVIO_TAP_FLAGS | IFF_MULTI_QUEUE, 1);
	int second = detached_queue(c, first);

	attach(c, "detached_queue", fd, 0, second);
	attach(c, "attached_queue", fd, 1, first);
}

void kvio_sc_backend_macvtap(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int mt = kvio_macvtap(c);

	kvio_eventfds(c, fd, 0);
	attach(c, "macvtap_q0", fd, 0, mt);
	attach(c, "macvtap_q1", fd, 1, mt);
	attach(c, "macvtap_q0_again", fd, 0, mt);
	attach(c, "detach_q0", fd, 0, -1);
	attach(c, "detach_q1", fd, 1, -1);
}

void kvio_sc_backend_packet(struct kvio_ctx *c)
{
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex("lo"),
	};
	int fd = kvio_open_ready(c);
	int bound = kvio_socket(c, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	if (bound >= 0 && bind(bound, (struct sockaddr *)&ll, sizeof(ll)))
		kvio_env_fail(c, "bind packet socket: %s", strerror(errno));
	attach(c, "packet_raw_unbound", fd, 0,
	       kvio_socket(c, AF_PACKET, SOCK_RAW, 0));
	attach(c, "packet_dgram", fd, 1,
	       kvio_socket(c, AF_PACKET, SOCK_DGRAM, 0));
	attach(c, "packet_raw_bound_lo", fd, 1, bound);
	attach(c, "detach_q0", fd, 0, -1);
}

void kvio_sc_backend_inet_sockets(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);

	attach(c, "udp", fd, 0, kvio_socket(c, AF_INET, SOCK_DGRAM, 0));
	attach(c, "tcp", fd, 0, kvio_socket(c, AF_INET, SOCK_STREAM, 0));
	attach(c, "inet_raw", fd, 0,
	       kvio_socket(c, AF_INET, SOCK_RAW, IPPROTO_UDP));
	attach(c, "unix_stream", fd, 0, kvio_socket(c, AF_UNIX, SOCK_STREAM, 0));
	attach(c, "netlink_raw", fd, 0,
	       kvio_socket(c, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
}

void kvio_sc_backend_non_sockets(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int other;

	attach(c, "pipe", fd, 0, kvio_pipe(c));
	attach(c, "eventfd", fd, 0, kvio_eventfd(c));
	attach(c, "regular_file", fd, 0, kvio_regular_file(c));
	attach(c, "bad_fd", fd, 0, 4000);
	attach(c, "fd_minus_2", fd, 0, -2);
	attach(c, "vhost_fd_itself", fd, 0, fd);
	other = kvio_open(c, "open_other", O_RDWR);
	attach(c, "other_vhost_fd", fd, 0, other);
	attach(c, "dev_null", fd, 0, open("/dev/null", O_RDWR | O_CLOEXEC));
}

/* fd -1 detaches; what it needs from the ring state when nothing is on. */
void kvio_sc_backend_detach_idle(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_owner(c, "owner", fd);
	attach(c, "detach_no_mem", fd, 0, -1);
	kvio_mem1(c, "mem", fd);
	attach(c, "detach_default_ring", fd, 0, -1);
	kvio_vq_setup(c, fd, 0);
	attach(c, "detach_ready_ring", fd, 0, -1);
	attach(c, "detach_q1_default_ring", fd, 1, -1);
}

void kvio_sc_backend_detach_attached(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int tap = kvio_attach_both(c, fd);

	attach(c, "detach_q0", fd, 0, -1);
	attach(c, "detach_q0_again", fd, 0, -1);
	attach(c, "detach_q1", fd, 1, -1);
	attach(c, "reattach_q0", fd, 0, tap);
	kvio_state(c, "num_q1_detached", fd, VHOST_SET_VRING_NUM, 1, 64);
}

void kvio_sc_backend_index(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	attach(c, "idx2_unowned", fd, 2, tap);
	kvio_ready(c, fd);
	attach(c, "idx2", fd, 2, tap);
	attach(c, "idx_max", fd, 0xffffffffu, tap);
	attach(c, "idx_0x80000000", fd, 0x80000000u, tap);
	attach(c, "idx2_bad_fd", fd, 2, 4000);
	attach(c, "idx2_detach", fd, 2, -1);
	attach(c, "idx1", fd, 1, tap);
}

void kvio_sc_backend_before_mem(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	kvio_owner(c, "owner", fd);
	kvio_vq_setup(c, fd, 0);
	kvio_vq_setup(c, fd, 1);
	attach(c, "tap_q0", fd, 0, tap);
	attach(c, "pipe_q1", fd, 1, kvio_pipe(c));
	attach(c, "detach_q1", fd, 1, -1);
	kvio_mem1(c, "mem", fd);
	attach(c, "tap_q0_after_mem", fd, 0, tap);
}

void kvio_sc_backend_before_addr(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	kvio_owner(c, "owner", fd);
	kvio_mem1(c, "mem", fd);
	attach(c, "tap_q0_no_ring", fd, 0, tap);
	kvio_state(c, "num_q1", fd, VHOST_SET_VRING_NUM, 1, KVIO_RING_NUM);
	attach(c, "tap_q1_num_only", fd, 1, tap);
	attach(c, "pipe_q1_num_only", fd, 1, kvio_pipe(c));
	kvio_vq_setup(c, fd, 0);
	attach(c, "tap_q0_after_addr", fd, 0, tap);
}

void kvio_sc_backend_reattach_same(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	attach(c, "q0", fd, 0, tap);
	attach(c, "q0_again", fd, 0, tap);
	attach(c, "q0_dup_fd", fd, 0, dup(tap));
	attach(c, "q1", fd, 1, tap);
	attach(c, "q1_again", fd, 1, tap);
}

/* One tap fd on both queues; then the fd goes away under them. */
void kvio_sc_backend_same_fd_both(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int tap = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	kvio_eventfds(c, fd, 0);
	kvio_eventfds(c, fd, 1);
	attach(c, "q0", fd, 0, tap);
	attach(c, "q1_same_fd", fd, 1, tap);
	attach(c, "detach_q0", fd, 0, -1);
	kvio_close(c, "close_tap", tap);
	attach(c, "detach_q1", fd, 1, -1);
}

void kvio_sc_backend_switch(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int a = kvio_tap(c, KVIO_TAP_FLAGS, 1);
	int b = kvio_tap(c, KVIO_TAP_FLAGS, 1);

	attach(c, "q0_tap_a", fd, 0, a);
	attach(c, "q0_tap_b", fd, 0, b);
	attach(c, "q1_tap_b", fd, 1, b);
	attach(c, "q1_tap_a", fd, 1, a);
	attach(c, "q0_packet", fd, 0,
	       kvio_socket(c, AF_PACKET, SOCK_RAW, 0));
	attach(c, "q0_bad_fd_keeps_old", fd, 0, 4000);
	attach(c, "detach_q0", fd, 0, -1);
}

/* The device holds its own reference to the tap after close(). */
void kvio_sc_backend_tap_closed(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	int tap = kvio_attach_both(c, fd);

	kvio_close(c, "close_tap", tap);
	kvio_set_u64(c, "features_after_close", fd, VHOST_SET_FEATURES, 0);
	attach(c, "reattach_closed_fd", fd, 0, tap);
	attach(c, "detach_q0", fd, 0, -1);
	attach(c, "detach_q1", fd, 1, -1);
}

void kvio_sc_backend_bad_ptr(struct kvio_ctx *c)
{
	int fd = kvio_open_ready(c);
	char *page = kvio_map(c, 2 * 4096, PROT_READ | PROT_WRITE);

	kvio_io(c, "null", fd, VHOST_NET_SET_BACKEND, NULL);
	kvio_io(c, "unmapped", fd, VHOST_NET_SET_BACKEND, kvio_hole(c));
	if (!page)
		return;
	/* index readable, fd in the unmapped page after it */
	munmap(page + 4096, 4096);
	kvio_io(c, "straddling_unmapped", fd, VHOST_NET_SET_BACKEND,
		page + 4096 - sizeof(unsigned int));
}
