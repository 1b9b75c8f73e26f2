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

#include <stdint.h>
#include <stddef.h>
#include <linux/vhost.h>

/* Numbers that older uAPI headers lack; the values are the kernel ABI. */
#ifndef VHOST_NEW_WORKER
struct vhost_worker_state {
	unsigned int worker_id;
};

struct vhost_vring_worker {
	unsigned int index;
	unsigned int worker_id;
};

#define VHOST_NEW_WORKER _IOR(VHOST_VIRTIO, 0x8, struct vhost_worker_state)
#define VHOST_FREE_WORKER _IOW(VHOST_VIRTIO, 0x9, struct vhost_worker_state)
#define VHOST_ATTACH_VRING_WORKER _IOW(VHOST_VIRTIO, 0x15, \
				       struct vhost_vring_worker)
#define VHOST_GET_VRING_WORKER _IOWR(VHOST_VIRTIO, 0x16, \
				     struct vhost_vring_worker)
#endif
#ifndef VHOST_SET_FORK_FROM_OWNER
#define VHOST_SET_FORK_FROM_OWNER _IOW(VHOST_VIRTIO, 0x84, __u8)
#define VHOST_GET_FORK_FROM_OWNER _IOR(VHOST_VIRTIO, 0x85, __u8)
#endif

#define KVIO_MAX_STEPS		224
#define KVIO_LABEL_LEN		40
#define KVIO_ENV_LEN		192

/* Ring geometry used by the "ready" helpers. */
#define KVIO_RING_NUM		256
#define KVIO_GUEST_SIZE		(1UL << 20)

/* An address no process can map on x86-64 (kernel half). */
#define KVIO_KERNEL_ADDR	0xffff800000000000ULL

/* Scenario needs, prepared by the parent before both runs. */
#define KVIO_NEED_MACVTAP	0x1

struct kvio_step {
	char label[KVIO_LABEL_LEN];
	long ret;
	int err;
	int has_val;
	uint64_t val;
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
	const char *path;	/* device node under test */
	const char *tag;	/* label prefix, e.g. "a" for a second device */
	int macvtap_ifindex;	/* prepared by the parent, 0 if none */
	int ntaps;		/* tap interfaces created so far */
	void *mem;		/* guest memory, gpa 0, lazily mapped */
	void *hole;		/* a page-aligned address known to be unmapped */
	void *ro_page;		/* a read-only page */
};

/* Recording */
void kvio_rec_val(struct kvio_ctx *c, const char *label, long ret, int err,
		  int has_val, uint64_t val);
void kvio_rec(struct kvio_ctx *c, const char *label, long ret, int err);
void kvio_env_fail(struct kvio_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ioctl steps; each records one step and returns the ioctl's result */
long kvio_io(struct kvio_ctx *c, const char *label, int fd,
	     unsigned long req, void *arg);
long kvio_owner(struct kvio_ctx *c, const char *label, int fd);
long kvio_set_u64(struct kvio_ctx *c, const char *label, int fd,
		  unsigned long req, uint64_t v);
uint64_t kvio_get_u64(struct kvio_ctx *c, const char *label, int fd,
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
void kvio_region(struct vhost_memory *m, unsigned int i, uint64_t gpa,
		 uint64_t size, uint64_t uaddr);
int kvio_eventfd(struct kvio_ctx *c);
int kvio_pipe(struct kvio_ctx *c);
int kvio_regular_file(struct kvio_ctx *c);
int kvio_socket(struct kvio_ctx *c, int domain, int type, int proto);
int kvio_tap(struct kvio_ctx *c, int flags, int setiff);
int kvio_macvtap(struct kvio_ctx *c);

/* Composite setup steps shared by scenarios */
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

/*
 * The scenario table: X(name, needs).  Each entry is a function
 * kvio_sc_<name>(struct kvio_ctx *) defined in one of the sc_*.c files.
 */
#define KVIO_SCENARIOS(X)						\
	X(features_get, 0)						\
	X(features_set_valid, 0)					\
	X(features_set_offered, 0)					\
	X(features_access_platform, 0)					\
	X(features_unknown_bits, 0)					\
	X(features_log_all, 0)						\
	X(features_log_all_active, 0)					\
	X(features_net_hdr, 0)						\
	X(features_unowned, 0)						\
	X(features_bad_ptr, 0)						\
	X(backend_features, 0)						\
	X(owner_twice, 0)						\
	X(owner_reset_unowned, 0)					\
	X(owner_reset_every, 0)						\
	X(owner_reset_state, 0)						\
	X(owner_none_every, 0)						\
	X(owner_child_every, 0)						\
	X(owner_exited, 0)						\
	X(owner_thread_peer, 0)						\
	X(dev_dup_fd, 0)						\
	X(dev_open_rdonly, 0)						\
	X(dev_close_reopen_full, 0)					\
	X(dev_two_close_ab, 0)						\
	X(dev_two_close_ba, 0)						\
	X(dev_two_same_tap, 0)						\
	X(dev_poll, 0)							\
	X(dev_read_write, 0)						\
	X(dev_mmap_seek, 0)						\
	X(ioctl_vfs, 0)							\
	X(ioctl_unknown, 0)						\
	X(ioctl_unknown_unowned, 0)					\
	X(ioctl_worker, 0)						\
	X(ioctl_fork_owner, 0)						\
	X(mem_empty, 0)							\
	X(mem_one, 0)							\
	X(mem_many, 0)							\
	X(mem_max, 0)							\
	X(mem_too_many, 0)						\
	X(mem_padding, 0)						\
	X(mem_overlap, 0)						\
	X(mem_zero_size, 0)						\
	X(mem_wrap, 0)							\
	X(mem_uaddr_bad, 0)						\
	X(mem_uaddr_bad_active, 0)					\
	X(mem_bad_ptr, 0)						\
	X(mem_replace_active, 0)					\
	X(log_base, 0)							\
	X(log_base_active, 0)						\
	X(log_fd, 0)							\
	X(vring_num_values, 0)						\
	X(vring_num_active, 0)						\
	X(vring_index, 0)						\
	X(vring_addr_aligned, 0)					\
	X(vring_addr_unaligned, 0)					\
	X(vring_addr_flags, 0)						\
	X(vring_addr_kernel, 0)						\
	X(vring_addr_unmapped, 0)					\
	X(vring_addr_readonly, 0)					\
	X(vring_addr_active, 0)						\
	X(vring_addr_log_active, 0)					\
	X(vring_base_values, 0)						\
	X(vring_base_active, 0)						\
	X(vring_kick_fds, 0)						\
	X(vring_call_fds, 0)						\
	X(vring_err_fds, 0)						\
	X(vring_files_active, 0)					\
	X(vring_endian, 0)						\
	X(vring_busyloop, 0)						\
	X(vring_bad_ptr, 0)						\
	X(backend_tap, 0)						\
	X(backend_tap_plain, 0)						\
	X(backend_tun_unattached, 0)					\
	X(backend_tun_l3, 0)						\
	X(backend_tap_detached_queue, 0)				\
	X(backend_macvtap, KVIO_NEED_MACVTAP)				\
	X(backend_packet, 0)						\
	X(backend_inet_sockets, 0)					\
	X(backend_non_sockets, 0)					\
	X(backend_detach_idle, 0)					\
	X(backend_detach_attached, 0)					\
	X(backend_index, 0)						\
	X(backend_before_mem, 0)					\
	X(backend_before_addr, 0)					\
	X(backend_reattach_same, 0)					\
	X(backend_same_fd_both, 0)					\
	X(backend_switch, 0)						\
	X(backend_tap_closed, 0)					\
	X(backend_bad_ptr, 0)

#define KVIO_DECLARE_SCENARIO(name, needs) \
	void kvio_sc_##name(struct kvio_ctx *c);
KVIO_SCENARIOS(KVIO_DECLARE_SCENARIO)

#endif /* KVIO_VHOST_DIFF_H */
