// SPDX-License-Identifier: GPL-2.0
/*
 * Scenarios: file lifecycle (dup, reopen, two devices, poll, read/write,
 * mmap) and ioctl numbers outside the vhost-net set.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/fs.h>
#include <linux/if_tun.h>

#include "vhost_diff.h"

void kvio_sc_dev_dup_fd(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int fd2 = dup(fd);

	if (fd2 < 0)
		kvio_env_fail(c, "dup: %s", strerror(errno));
	kvio_owner(c, "owner_via_dup", fd2);
	kvio_owner(c, "owner_via_orig", fd);
	kvio_close(c, "close_orig", fd);
	kvio_mem1(c, "mem_via_dup", fd2);
	kvio_vq_setup(c, fd2, 0);
	kvio_attach_new_tap(c, "backend_via_dup", fd2, 0);
	kvio_close(c, "close_dup", fd2);
}

/* ioctl does not look at the open mode upstream. */
void kvio_sc_dev_open_rdonly(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open_rdonly", O_RDONLY);
	int wr;

	kvio_ready(c, fd);
	kvio_attach_both(c, fd);
	kvio_close(c, "close_rdonly", fd);
	wr = kvio_open(c, "open_wronly", O_WRONLY);
	kvio_owner(c, "owner_wronly", wr);
	kvio_get_u64(c, "get_features_wronly", wr, VHOST_GET_FEATURES, 0);
	kvio_close(c, "close_wronly", wr);
}

/* Close with everything attached, then do it all again on a new open. */
void kvio_sc_dev_close_reopen_full(struct kvio_ctx *c)
{
	static const char * const round[] = { "first", "second", "third" };
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(round); i++) {
		c->tag = round[i];
		fd = kvio_open(c, "open", O_RDWR);
		kvio_full(c, fd);
		kvio_close(c, "close", fd);
	}
}

/* Two devices of one owner, both live; one is reset; close in an order. */
static void two_devices(struct kvio_ctx *c, int close_a_first)
{
	int a, b, first, second;

	c->tag = "a";
	a = kvio_open(c, "open", O_RDWR);
	kvio_full(c, a);
	c->tag = "b";
	b = kvio_open(c, "open", O_RDWR);
	kvio_full(c, b);
	c->tag = "a";
	kvio_io(c, "reset_owner", a, VHOST_RESET_OWNER, NULL);
	c->tag = "b";
	kvio_get_state(c, "get_base", b, VHOST_GET_VRING_BASE, 0);
	kvio_state(c, "set_busyloop", b, VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
		   1, 5);
	first = close_a_first ? a : b;
	second = close_a_first ? b : a;
	c->tag = close_a_first ? "a" : "b";
	kvio_close(c, "close", first);
	c->tag = close_a_first ? "b" : "a";
	kvio_file(c, "detach", second, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_get_state(c, "get_base_after", second, VHOST_GET_VRING_BASE, 0);
	kvio_owner(c, "owner_after", second);
	kvio_close(c, "close", second);
}

void kvio_sc_dev_two_close_ab(struct kvio_ctx *c)
{
	two_devices(c, 1);
}

void kvio_sc_dev_two_close_ba(struct kvio_ctx *c)
{
	two_devices(c, 0);
}

/* One tap queue handed to two devices. */
void kvio_sc_dev_two_same_tap(struct kvio_ctx *c)
{
	int a, b, tap;

	c->tag = "a";
	a = kvio_open(c, "open", O_RDWR);
	tap = kvio_full(c, a);
	c->tag = "b";
	b = kvio_open(c, "open", O_RDWR);
	kvio_ready(c, b);
	kvio_file(c, "q0.shared_tap", b, VHOST_NET_SET_BACKEND, 0, tap);
	kvio_file(c, "q1.shared_tap", b, VHOST_NET_SET_BACKEND, 1, tap);
	c->tag = "a";
	kvio_close(c, "close", a);
	c->tag = "b";
	kvio_file(c, "q0.detach", b, VHOST_NET_SET_BACKEND, 0, -1);
	kvio_close(c, "close", b);
}

static void poll_step(struct kvio_ctx *c, const char *label, int fd)
{
	struct pollfd p = {
		.fd = fd,
		.events = POLLIN | POLLOUT | POLLPRI | POLLRDNORM | POLLWRNORM,
	};
	long ret;

	errno = 0;
	ret = poll(&p, 1, 0);
	kvio_rec_val(c, label, ret, errno, 1, (__u16)p.revents);
}

void kvio_sc_dev_poll(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	poll_step(c, "poll_unowned", fd);
	kvio_owner(c, "owner", fd);
	poll_step(c, "poll_owned", fd);
	kvio_mem1(c, "mem", fd);
	kvio_vq_setup(c, fd, 0);
	kvio_vq_setup(c, fd, 1);
	kvio_eventfds(c, fd, 0);
	kvio_attach_both(c, fd);
	poll_step(c, "poll_attached", fd);
}

static void write_iotlb(struct kvio_ctx *c, const char *label, int fd,
			int v2, __u8 type, __u64 size)
{
	kvio_iotlb_write(c, label, fd, v2, type, 0x100000, size,
			 (unsigned long)kvio_mem(c), VHOST_ACCESS_RW);
}

static void write_raw(struct kvio_ctx *c, const char *label, int fd,
		      __u32 type, size_t len)
{
	__u32 buf[32] = { type };
	long ret;

	errno = 0;
	ret = write(fd, buf, len);
	kvio_rec(c, label, ret, errno);
}

/* The IOTLB message channel, used without VIRTIO_F_ACCESS_PLATFORM. */
void kvio_sc_dev_read_write(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	write_iotlb(c, "write_update_unowned", fd, 1, VHOST_IOTLB_UPDATE,
		    4096);
	kvio_owner(c, "owner", fd);
	kvio_read_step(c, "read_short", fd, 8);
	kvio_read_step(c, "read_zero", fd, 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	kvio_read_step(c, "read_nonblock", fd, sizeof(struct vhost_msg_v2));
	fcntl(fd, F_SETFL, 0);
	kvio_read_step(c, "read_block", fd, sizeof(struct vhost_msg_v2));
	write_raw(c, "write_short", fd, VHOST_IOTLB_MSG_V2, 2);
	write_raw(c, "write_bad_type", fd, 99, 72);
	write_raw(c, "write_v2_truncated", fd, VHOST_IOTLB_MSG_V2, 16);
	write_iotlb(c, "write_update_size0", fd, 1, VHOST_IOTLB_UPDATE, 0);
	write_iotlb(c, "write_update", fd, 1, VHOST_IOTLB_UPDATE, 4096);
	write_iotlb(c, "write_update_v1", fd, 0, VHOST_IOTLB_UPDATE, 4096);
	write_iotlb(c, "write_invalidate", fd, 1, VHOST_IOTLB_INVALIDATE,
		    4096);
	write_iotlb(c, "write_miss", fd, 1, VHOST_IOTLB_MISS, 4096);
	write_iotlb(c, "write_type_200", fd, 1, 200, 4096);
}

void kvio_sc_dev_mmap_seek(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	char buf[8];
	void *p;

	kvio_owner(c, "owner", fd);
	errno = 0;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	kvio_rec(c, "mmap", p == MAP_FAILED ? -1 : 0, errno);
	KVIO_SYS(c, "lseek_set_100", lseek(fd, 100, SEEK_SET));
	KVIO_SYS(c, "lseek_end", lseek(fd, 0, SEEK_END));
	KVIO_SYS(c, "pread_short", pread(fd, buf, sizeof(buf), 0));
	KVIO_SYS(c, "fsync", fsync(fd));
	KVIO_SYS(c, "fdatasync", fdatasync(fd));
}

/* Ioctls the VFS answers itself or passes on to the driver. */
void kvio_sc_ioctl_vfs(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	int one = 1, zero = 0, out = 0;
	struct termios t;
	long long qsize = 0;

	kvio_io(c, "fionbio_on", fd, FIONBIO, &one);
	kvio_io(c, "fionbio_off", fd, FIONBIO, &zero);
	kvio_io(c, "fioclex", fd, FIOCLEX, NULL);
	kvio_io(c, "fionclex", fd, FIONCLEX, NULL);
	kvio_io(c, "fioasync_off", fd, FIOASYNC, &zero);
	kvio_io(c, "fioasync_on", fd, FIOASYNC, &one);
	kvio_io(c, "fioqsize", fd, FIOQSIZE, &qsize);
	kvio_io(c, "fionread_unowned", fd, FIONREAD, &out);
	kvio_owner(c, "owner", fd);
	out = 0;
	kvio_io(c, "fionread", fd, FIONREAD, &out);
	memset(&t, 0, sizeof(t));
	kvio_io(c, "tcgets", fd, TCGETS, &t);
	out = 0;
	kvio_io(c, "fs_getflags", fd, FS_IOC_GETFLAGS, &out);
}

static void unknown_ioctls(struct kvio_ctx *c, int fd)
{
	struct vhost_scsi_target scsi;
	__u32 idx0 = 0, idx1 = 1, idx5 = 5;
	__u64 cid = 3;

	memset(&scsi, 0, sizeof(scsi));
	kvio_io(c, "nr5f_idx0", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32), &idx0);
	kvio_io(c, "nr5f_idx1", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32), &idx1);
	kvio_io(c, "nr5f_idx5", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32), &idx5);
	kvio_io(c, "nr5f_null", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32), NULL);
	kvio_io(c, "nr5f_unmapped", fd, _IOW(VHOST_VIRTIO, 0x5f, __u32),
		kvio_hole(c));
	kvio_io(c, "io_no_dir", fd, _IO(VHOST_VIRTIO, 0x5e), &idx0);
	kvio_io(c, "foreign_type", fd, _IOW('x', 1, __u32), &idx0);
	kvio_io(c, "cmd_zero", fd, 0, &idx0);
	kvio_io(c, "scsi_set_endpoint", fd, VHOST_SCSI_SET_ENDPOINT, &scsi);
	kvio_io(c, "vsock_set_guest_cid", fd, VHOST_VSOCK_SET_GUEST_CID, &cid);
	kvio_io(c, "vdpa_get_device_id", fd, VHOST_VDPA_GET_DEVICE_ID, &idx0);
	kvio_io(c, "vdpa_suspend_null", fd, VHOST_VDPA_SUSPEND, NULL);
}

void kvio_sc_ioctl_unknown(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	kvio_owner(c, "owner", fd);
	unknown_ioctls(c, fd);
}

void kvio_sc_ioctl_unknown_unowned(struct kvio_ctx *c)
{
	unknown_ioctls(c, kvio_open(c, "open", O_RDWR));
}

/* The worker ioctls exist in the uAPI; upstream vhost-net ignores them. */
void kvio_sc_ioctl_worker(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);
	struct vhost_worker_state ws = { 0 };
	struct vhost_vring_worker vw = { 0 };

	kvio_io(c, "new_worker_unowned", fd, VHOST_NEW_WORKER, &ws);
	kvio_owner(c, "owner", fd);
	ws.worker_id = 0;
	kvio_io(c, "new_worker", fd, VHOST_NEW_WORKER, &ws);
	ws.worker_id = 0;
	kvio_io(c, "free_worker", fd, VHOST_FREE_WORKER, &ws);
	kvio_io(c, "attach_vring_worker", fd, VHOST_ATTACH_VRING_WORKER, &vw);
	vw.index = 0;
	kvio_io(c, "get_vring_worker", fd, VHOST_GET_VRING_WORKER, &vw);
	vw.index = 5;
	kvio_io(c, "attach_vring_worker_idx5", fd, VHOST_ATTACH_VRING_WORKER,
		&vw);
	kvio_io(c, "new_worker_null", fd, VHOST_NEW_WORKER, NULL);
}

static void fork_owner_get(struct kvio_ctx *c, const char *label, int fd)
{
	__u32 v = 0xa5a5a5a5;
	long ret;

	errno = 0;
	ret = ioctl(fd, VHOST_GET_FORK_FROM_OWNER, &v);
	kvio_rec_val(c, label, ret, errno, 1, v);
}

static void fork_owner_set(struct kvio_ctx *c, const char *label, int fd,
			   __u32 mode)
{
	kvio_io(c, label, fd, VHOST_SET_FORK_FROM_OWNER, &mode);
}

/* Present since 6.12.y/6.17 with CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL. */
void kvio_sc_ioctl_fork_owner(struct kvio_ctx *c)
{
	int fd = kvio_open(c, "open", O_RDWR);

	fork_owner_get(c, "get_unowned", fd);
	fork_owner_set(c, "set_kthread", fd, 0);
	fork_owner_get(c, "get_after_kthread", fd);
	fork_owner_set(c, "set_task", fd, 1);
	fork_owner_get(c, "get_after_task", fd);
	fork_owner_set(c, "set_2", fd, 2);
	kvio_io(c, "set_null", fd, VHOST_SET_FORK_FROM_OWNER, NULL);
	fork_owner_set(c, "set_kthread_again", fd, 0);
	kvio_owner(c, "owner", fd);
	kvio_mem1(c, "mem", fd);
	fork_owner_set(c, "set_task_owned", fd, 1);
	fork_owner_get(c, "get_owned", fd);
	kvio_io(c, "reset_owner", fd, VHOST_RESET_OWNER, NULL);
	fork_owner_get(c, "get_after_reset", fd);
	fork_owner_set(c, "set_task_after_reset", fd, 1);
}
