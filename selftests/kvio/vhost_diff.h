/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differential control-plane test for vhost-net compatible devices.
 *
 * A scenario is a function that drives one device node through a sequence
 * of steps and records, for every step, a label, the return value, errno
 * and (for steps that return data) the value.  vhost_diff.c runs each
 * scenario once against the upstream reference and once against kvio-net,
 * each time in a fresh child process, and compares the two recordings.
 */
#ifndef KVIO_VHOST_DIFF_H
#define KVIO_VHOST_DIFF_H

#include <stddef.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>

#include "kselftest.h"	/* __printf, ARRAY_SIZE */

/*
 * The vhost ioctls older headers lack: in the kvio repo from its uapi/;
 * a kernel tree's own headers have them.
 */
#if __has_include("linux/kvio_vhost_compat.h")
#include <linux/kvio_vhost_compat.h>
#endif

#define KVIO_MAX_STEPS		224
#define KVIO_LABEL_LEN		48
#define KVIO_ENV_LEN		192

/* Ring geometry used by the "ready" helpers. */
#define KVIO_RING_NUM		256
#define KVIO_GUEST_SIZE		(1024UL * 1024)

/* An address no process can map on x86-64 (kernel half). */
#define KVIO_KERNEL_ADDR	0xffff800000000000ULL

/* The tap flavour QEMU uses for vhost-net. */
#define KVIO_TAP_FLAGS		(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

/* Scenario needs, prepared by the parent before both runs. */
#define KVIO_NEED_MACVTAP	0x1

struct kvio_step {
	char label[KVIO_LABEL_LEN];
	long ret;
	int err;
	int has_val;
	__u64 val;
};

/* One run's recording; lives in a MAP_SHARED mapping. */
struct kvio_run {
	int nsteps;
	int truncated;
	int finished;
	char env_err[KVIO_ENV_LEN];
	struct kvio_step steps[KVIO_MAX_STEPS];
};

/* What a scenario works with. */
struct kvio_ctx {
	struct kvio_run *run;
	int run_fd;		/* memfd holding the recordings: survives exec */
	size_t run_off;		/* where this run's recording is in it */
	const char *path;	/* device node under test */
	const char *tag;	/* label prefix, e.g. "a" for a second device */
	int macvtap_ifindex;	/* prepared by the parent, 0 if none */
	int ntaps;		/* tap interfaces created so far */
	void *mem;		/* guest memory, gpa 0, lazily mapped */
	void *hole;		/* a page-aligned address known to be unmapped */
	void *ro_page;		/* a read-only page */
	const void *arg;	/* the scenario's own parameters */
};

/* Recording */

/* Records one system call that is not an ioctl: its result and errno. */
#define KVIO_SYS(c, label, expr) do {				\
		long __ret;					\
								\
		errno = 0;					\
		__ret = (long)(expr);				\
		kvio_rec((c), (label), __ret, errno);		\
	} while (0)

void kvio_rec_val(struct kvio_ctx *c, const char *label, long ret, int err,
		  int has_val, __u64 val);
void kvio_rec(struct kvio_ctx *c, const char *label, long ret, int err);
__printf(2, 3)
void kvio_env_fail(struct kvio_ctx *c, const char *fmt, ...);

/* ioctl steps; each records one step and returns the ioctl's result */
long kvio_io(struct kvio_ctx *c, const char *label, int fd,
	     unsigned long req, void *arg);
long kvio_owner(struct kvio_ctx *c, const char *label, int fd);
long kvio_set_u64(struct kvio_ctx *c, const char *label, int fd,
		  unsigned long req, __u64 v);
__u64 kvio_get_u64(struct kvio_ctx *c, const char *label, int fd,
		   unsigned long req, int keep_val);
long kvio_state(struct kvio_ctx *c, const char *label, int fd,
		unsigned long req, unsigned int idx, unsigned int num);
long kvio_get_state(struct kvio_ctx *c, const char *label, int fd,
		    unsigned long req, unsigned int idx);
long kvio_file(struct kvio_ctx *c, const char *label, int fd,
	       unsigned long req, unsigned int idx, int file);
long kvio_set_int(struct kvio_ctx *c, const char *label, int fd,
		  unsigned long req, int v);
long kvio_addr(struct kvio_ctx *c, const char *label, int fd,
	       const struct vhost_vring_addr *a);
long kvio_mem_table(struct kvio_ctx *c, const char *label, int fd,
		    const struct vhost_memory *m);
/* read() and write() steps on the device: the IOTLB message channel */
#define KVIO_READ_TIMEOUT	2	/* seconds a blocking read may take */
long kvio_read_step(struct kvio_ctx *c, const char *label, int fd,
		    size_t len);
long kvio_iotlb_write(struct kvio_ctx *c, const char *label, int fd, int v2,
		      __u8 type, __u64 iova, __u64 size, __u64 uaddr,
		      __u8 perm);

/* Environment: memory, rings, fds */
int kvio_open(struct kvio_ctx *c, const char *label, int flags);
void kvio_close(struct kvio_ctx *c, const char *label, int fd);
void *kvio_mem(struct kvio_ctx *c);
void *kvio_hole(struct kvio_ctx *c);
void *kvio_ro_page(struct kvio_ctx *c);
void *kvio_map(struct kvio_ctx *c, size_t size, int prot);
void kvio_ring_addr(struct kvio_ctx *c, unsigned int idx,
		    struct vhost_vring_addr *a);
void kvio_ring_addr_at(struct vhost_vring_addr *a, unsigned int idx,
		       void *base);
struct vhost_memory *kvio_memtab(struct kvio_ctx *c, unsigned int n);
void kvio_region(struct vhost_memory *m, unsigned int i, __u64 gpa,
		 __u64 size, __u64 uaddr);
int kvio_eventfd(struct kvio_ctx *c);
int kvio_pipe(struct kvio_ctx *c);
int kvio_regular_file(struct kvio_ctx *c);
int kvio_socket(struct kvio_ctx *c, int domain, int type, int proto);
int kvio_tap(struct kvio_ctx *c, int flags, int setiff);
int kvio_macvtap(struct kvio_ctx *c);

/* Shared with the other test programs */
int kvio_env_true(const char *name);
const char *kvio_env_or(const char *name, const char *def);
int kvio_is_chardev(const char *path);
__printf(1, 2) int kvio_run_cmd(const char *fmt, ...);
int kvio_run_child(void (*fn)(struct kvio_ctx *c), const struct kvio_ctx *base,
		   int timeout, char *why, size_t len);

/* Composite setup steps shared by scenarios */
int kvio_open_owned(struct kvio_ctx *c);
int kvio_open_ready(struct kvio_ctx *c);
int kvio_open_attached(struct kvio_ctx *c);
int kvio_open_full(struct kvio_ctx *c);
long kvio_attach_new_tap(struct kvio_ctx *c, const char *label, int fd,
			 unsigned int idx);
long kvio_mem1(struct kvio_ctx *c, const char *label, int fd);
void kvio_vq_setup(struct kvio_ctx *c, int fd, unsigned int idx);
void kvio_ready(struct kvio_ctx *c, int fd);
void kvio_eventfds(struct kvio_ctx *c, int fd, unsigned int idx);
int kvio_attach_both(struct kvio_ctx *c, int fd);
int kvio_full(struct kvio_ctx *c, int fd);
void kvio_every_ioctl(struct kvio_ctx *c, int fd);
void kvio_fd_matrix(struct kvio_ctx *c, int fd, unsigned long req);
void kvio_in_child(struct kvio_ctx *c, const char *tag, int fd,
		   void (*fn)(struct kvio_ctx *c, int fd));
void kvio_non_owner_steps(struct kvio_ctx *c, int fd);
void kvio_exec_self(struct kvio_ctx *c, int fd, const char *tag);

/* The scenarios, defined in sc_*.c and listed in vhost_diff.c. */
void kvio_sc_features_get(struct kvio_ctx *c);
void kvio_sc_features_set_valid(struct kvio_ctx *c);
void kvio_sc_features_set_offered(struct kvio_ctx *c);
void kvio_sc_features_access_platform(struct kvio_ctx *c);
void kvio_sc_features_unknown_bits(struct kvio_ctx *c);
void kvio_sc_features_log_all(struct kvio_ctx *c);
void kvio_sc_features_log_all_active(struct kvio_ctx *c);
void kvio_sc_features_net_hdr(struct kvio_ctx *c);
void kvio_sc_features_unowned(struct kvio_ctx *c);
void kvio_sc_features_bad_ptr(struct kvio_ctx *c);
void kvio_sc_backend_features(struct kvio_ctx *c);
void kvio_sc_owner_twice(struct kvio_ctx *c);
void kvio_sc_owner_reset_unowned(struct kvio_ctx *c);
void kvio_sc_owner_reset_every(struct kvio_ctx *c);
void kvio_sc_owner_reset_state(struct kvio_ctx *c);
void kvio_sc_owner_none_every(struct kvio_ctx *c);
void kvio_sc_owner_child_every(struct kvio_ctx *c);
void kvio_sc_owner_exited(struct kvio_ctx *c);
void kvio_sc_owner_exec(struct kvio_ctx *c);
void kvio_sc_owner_thread_peer(struct kvio_ctx *c);
void kvio_sc_dev_dup_fd(struct kvio_ctx *c);
void kvio_sc_dev_open_rdonly(struct kvio_ctx *c);
void kvio_sc_dev_close_reopen_full(struct kvio_ctx *c);
void kvio_sc_dev_two_close_ab(struct kvio_ctx *c);
void kvio_sc_dev_two_close_ba(struct kvio_ctx *c);
void kvio_sc_dev_two_same_tap(struct kvio_ctx *c);
void kvio_sc_dev_poll(struct kvio_ctx *c);
void kvio_sc_dev_read_write(struct kvio_ctx *c);
void kvio_sc_iotlb_messages(struct kvio_ctx *c);
void kvio_sc_iotlb_cleared(struct kvio_ctx *c);
void kvio_sc_iotlb_reset_owner(struct kvio_ctx *c);
void kvio_sc_iotlb_miss_v1(struct kvio_ctx *c);
void kvio_sc_iotlb_miss_v2(struct kvio_ctx *c);
void kvio_sc_iotlb_read_sizes(struct kvio_ctx *c);
void kvio_sc_iotlb_blocking_read(struct kvio_ctx *c);
void kvio_sc_iotlb_invalidate_running(struct kvio_ctx *c);
void kvio_sc_iotlb_refeature_running(struct kvio_ctx *c);
void kvio_sc_iotlb_perm(struct kvio_ctx *c);
void kvio_sc_dev_mmap_seek(struct kvio_ctx *c);
void kvio_sc_ioctl_vfs(struct kvio_ctx *c);
void kvio_sc_ioctl_unknown(struct kvio_ctx *c);
void kvio_sc_ioctl_unknown_unowned(struct kvio_ctx *c);
void kvio_sc_ioctl_worker(struct kvio_ctx *c);
void kvio_sc_ioctl_fork_owner(struct kvio_ctx *c);
void kvio_sc_mem_empty(struct kvio_ctx *c);
void kvio_sc_mem_one(struct kvio_ctx *c);
void kvio_sc_mem_many(struct kvio_ctx *c);
void kvio_sc_mem_max(struct kvio_ctx *c);
void kvio_sc_mem_too_many(struct kvio_ctx *c);
void kvio_sc_mem_padding(struct kvio_ctx *c);
void kvio_sc_mem_overlap(struct kvio_ctx *c);
void kvio_sc_mem_zero_size(struct kvio_ctx *c);
void kvio_sc_mem_wrap(struct kvio_ctx *c);
void kvio_sc_mem_uaddr_bad(struct kvio_ctx *c);
void kvio_sc_mem_uaddr_bad_active(struct kvio_ctx *c);
void kvio_sc_mem_bad_ptr(struct kvio_ctx *c);
void kvio_sc_mem_replace_active(struct kvio_ctx *c);
void kvio_sc_log_base(struct kvio_ctx *c);
void kvio_sc_log_base_active(struct kvio_ctx *c);
void kvio_sc_log_fd(struct kvio_ctx *c);
void kvio_sc_vring_num_values(struct kvio_ctx *c);
void kvio_sc_vring_num_active(struct kvio_ctx *c);
void kvio_sc_vring_index(struct kvio_ctx *c);
void kvio_sc_vring_addr_aligned(struct kvio_ctx *c);
void kvio_sc_vring_addr_unaligned(struct kvio_ctx *c);
void kvio_sc_vring_addr_flags(struct kvio_ctx *c);
void kvio_sc_vring_addr_kernel(struct kvio_ctx *c);
void kvio_sc_vring_addr_unmapped(struct kvio_ctx *c);
void kvio_sc_vring_addr_readonly(struct kvio_ctx *c);
void kvio_sc_vring_addr_active(struct kvio_ctx *c);
void kvio_sc_vring_addr_log_active(struct kvio_ctx *c);
void kvio_sc_vring_base_values(struct kvio_ctx *c);
void kvio_sc_vring_base_active(struct kvio_ctx *c);
void kvio_sc_vring_kick_fds(struct kvio_ctx *c);
void kvio_sc_vring_call_fds(struct kvio_ctx *c);
void kvio_sc_vring_err_fds(struct kvio_ctx *c);
void kvio_sc_vring_files_active(struct kvio_ctx *c);
void kvio_sc_vring_endian(struct kvio_ctx *c);
void kvio_sc_vring_busyloop(struct kvio_ctx *c);
void kvio_sc_vring_bad_ptr(struct kvio_ctx *c);
void kvio_sc_backend_tap(struct kvio_ctx *c);
void kvio_sc_backend_tap_plain(struct kvio_ctx *c);
void kvio_sc_backend_tun_unattached(struct kvio_ctx *c);
void kvio_sc_backend_tun_l3(struct kvio_ctx *c);
void kvio_sc_backend_tap_detached_queue(struct kvio_ctx *c);
void kvio_sc_backend_macvtap(struct kvio_ctx *c);
void kvio_sc_backend_packet(struct kvio_ctx *c);
void kvio_sc_backend_inet_sockets(struct kvio_ctx *c);
void kvio_sc_backend_non_sockets(struct kvio_ctx *c);
void kvio_sc_backend_detach_idle(struct kvio_ctx *c);
void kvio_sc_backend_detach_attached(struct kvio_ctx *c);
void kvio_sc_backend_index(struct kvio_ctx *c);
void kvio_sc_backend_before_mem(struct kvio_ctx *c);
void kvio_sc_backend_before_addr(struct kvio_ctx *c);
void kvio_sc_backend_reattach_same(struct kvio_ctx *c);
void kvio_sc_backend_same_fd_both(struct kvio_ctx *c);
void kvio_sc_backend_switch(struct kvio_ctx *c);
void kvio_sc_backend_tap_closed(struct kvio_ctx *c);
void kvio_sc_backend_bad_ptr(struct kvio_ctx *c);

#endif /* KVIO_VHOST_DIFF_H */
