/* SPDX-License-Identifier: GPL-2.0 */
/*
 * net_datapath: the vhost-net data path, driven through the uAPI only.
 *
 * The test process is both the VMM and the guest's virtio-net driver: it
 * maps "guest memory", registers it at a guest-physical address that is
 * not its host address, lays out split rings in it, and moves frames
 * through a tap (or macvtap) backend whose host side it watches with a
 * packet socket.  net_datapath.c runs each scenario on the reference
 * (/dev/vhost-net) and on kvio-net, each in a fresh child process, and
 * compares what the virtio spec makes observable; ndp_guest.c is the
 * driver and VMM side, ndp_traffic.c the frames and the scenarios.
 */
#ifndef KVIO_NET_DATAPATH_H
#define KVIO_NET_DATAPATH_H

#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vhost_diff.h"
#include "lib/vq.h"

#define NDP_GPA_BASE		0x100000ULL	/* guest-physical base */
#define NDP_IOVA_BASE		0x4000000000ULL	/* with an IOTLB: its IOVA */
#define NDP_MEM_SIZE		(8UL << 20)
#define NDP_PAGE		4096UL		/* the dirty log's page */
#define NDP_LOG_BYTES		((NDP_GPA_BASE + NDP_MEM_SIZE) / NDP_PAGE / 8)
#define NDP_HDR_LEN		12	/* struct virtio_net_hdr_mrg_rxbuf */
#define NDP_NUMBUF_OFF		10	/* its num_buffers field */
#define NDP_MAX_FRAME		1514
#define NDP_MAX_PIECES		4
#define NDP_MAX_EV		32768
#define NDP_MSG_LEN		4096
#define NDP_RX_FILL		0xee	/* what receive buffers hold before use */
#define NDP_RX_OFF		0x100000UL	/* receive buffers, 3M */
#define NDP_TX_OFF		0x400000UL	/* transmit buffers, 3M */
#define NDP_TX_SIZE		0x300000UL
#define NDP_RING_OFF		0x10000UL	/* queue i's rings (lib/vq.c) ... */
#define NDP_RING_STRIDE		0x70000UL	/* ... at NDP_RING_OFF + i * this */

#ifndef BIT
#define BIT(nr)		(1U << (nr))
#endif
#ifndef BIT_ULL
#define BIT_ULL(nr)	(1ULL << (nr))
#endif

/* Feature sets of the variants (VIRTIO_F_VERSION_1 always). */
#define NDP_F_MRG	BIT_ULL(VIRTIO_NET_F_MRG_RXBUF)
#define NDP_F_EVIDX	BIT_ULL(VIRTIO_RING_F_EVENT_IDX)
#define NDP_F_INDIRECT	BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC)
#define NDP_F_QEMU	(NDP_F_MRG | NDP_F_EVIDX | NDP_F_INDIRECT)
#define NDP_F_VHOST_HDR	BIT_ULL(VHOST_NET_F_VIRTIO_NET_HDR)
#define NDP_F_PACKED	BIT_ULL(VIRTIO_F_RING_PACKED)
#define NDP_F_IN_ORDER	BIT_ULL(VIRTIO_F_IN_ORDER)
/*
 * VIRTIO_F_ACCESS_PLATFORM: rings and buffers at IOVAs, which the VMM
 * side maps one page per miss, transmit buffers read-only, receive
 * buffers write-only (ndp_iotlb_serve()).
 */
#define NDP_F_AP	BIT_ULL(VIRTIO_F_ACCESS_PLATFORM)

/* Variant flags */
#define NDP_MACVTAP	0x1	/* macvtap on a veth instead of a tap */
#define NDP_SUPPRESS	0x2	/* the driver asks for no used notifications */
#define NDP_DIRTY	0x4	/* dirty log on, checked after the traffic */
#define NDP_BUSYLOOP	0x8	/* VHOST_SET_VRING_BUSYLOOP_TIMEOUT on both rings */
#define NDP_WORKERS	0x10	/* kvio-net: each ring on a worker of its own */
#define NDP_INVAL	0x20	/* NDP_F_AP: all translations dropped now and then */

enum ndp_queue { NDP_RX, NDP_TX };

/* Frame direction: sent by the guest, or received by it */
enum { NDP_DIR_TX, NDP_DIR_RX };

/*
 * What both runs record, compared stream by stream.  NDP_NOTE holds what
 * the spec leaves open (notifications the driver asked not to get, the
 * num_buffers field without VIRTIO_NET_F_MRG_RXBUF): differences there are
 * reported, not failed.
 */
enum ndp_stream {
	NDP_STEP,	/* ioctls: seq = step, id = ret, len = errno, hash = val */
	NDP_WIRE,	/* a frame the guest sent, seen on the host side */
	NDP_TX_USED,	/* a TX used element: id, len */
	NDP_RX_USED,	/* an RX used element: id, len */
	NDP_RX_FRAME,	/* a received frame: hdr, num_buffers, buffer bytes */
	NDP_DIRTY_PAGE,	/* a page marked in the dirty log: seq = pfn */
	NDP_NOTE,
	NDP_NSTREAMS
};

struct ndp_ev {
	__u16 stream;
	__u16 nbufs;	/* RX frame: used elements it took */
	__u32 seq;	/* frame number, step number, pfn or note kind */
	__u32 id;
	__u32 len;
	__u32 aux;	/* RX frame: num_buffers; note: its value */
	__u8 hdr[NDP_HDR_LEN];
	__u64 hash;	/* FNV-1a of the bytes concerned */
};

/* One run's recording; lives in a shared mapping. */
struct ndp_run {
	struct kvio_run steps;	/* what the kvio_* ioctl wrappers record */
	int nfail;
	int truncated;
	struct vq_stats stats[2];	/* each queue's, at the end */
	unsigned int nev;
	char msg[NDP_MSG_LEN];	/* self-check failures, one per line */
	struct ndp_ev ev[NDP_MAX_EV];
};

struct ndp_cfg {
	unsigned int num;	/* ring size */
	__u64 features;		/* on top of VIRTIO_F_VERSION_1 */
	unsigned int flags;
	unsigned int rxbuf;	/* mergeable buffer size; 0: 64..263 bytes */
	unsigned int tx, rx;	/* frames to send, frames to receive */
	__u16 base;		/* initial ring index; packed: its position */
};

/* Where a buffer sits in guest memory: a chain of up to 4 pieces. */
struct ndp_chain {
	unsigned int n;
	int indirect;
	__u64 gpa[NDP_MAX_PIECES];
	__u32 len[NDP_MAX_PIECES];
};

/* The driver's view of one virtqueue: lib/vq.c's, and the buffers' serials. */
struct ndp_vq {
	unsigned int idx;
	unsigned int k;		/* descriptors per buffer at most */
	unsigned int nslots;	/* buffers in flight at most */
	struct vq vq;
	__u64 used_gpa;
	unsigned int posted;	/* buffers posted so far: their serial */
	unsigned int *serial;	/* per slot: serial of the buffer, or ~0 */
	unsigned int *by_id;	/* per vq id: serial of the buffer */
	unsigned int last_id;	/* the vq id of the last buffer posted */
	unsigned long batched;	/* in order: buffers inferred, no entry */
	int kick, call, err;
	int armed;		/* asked for a notification, then slept */
	int notified;		/* a call arrived since it was armed */
	unsigned int kicks, calls;
};

struct ndp {
	struct kvio_ctx *c;
	struct ndp_run *run;
	const struct ndp_cfg *cfg;
	int peer_ifindex;	/* macvtap: the veth end the host watches */
	__u64 features;
	char *mem;
	int dev, backend, pkt, logfd;
	int stop;		/* a fatal failure: stop the traffic */
	struct ndp_vq vq[2];
	/* traffic */
	unsigned int tx_done, wire_seen, rx_sent, rx_frames, rx_used;
	unsigned int nb_one, nb_fill;	/* num_buffers values, no MRG_RXBUF */
	unsigned int asm_n, asm_need;	/* RX frame being assembled */
	unsigned int asm_slot[64];
	__u32 asm_len[64];
	__u8 *log;		/* the dirty bitmap the device writes */
	__u64 bus;		/* the address of guest memory in rings */
	unsigned long misses, invals;	/* NDP_F_AP: served, made */
	__u8 expect[NDP_LOG_BYTES];	/* the pages the driver knows written */
};

/* ndp_guest.c: recording, guest memory, rings, device and backend */
__printf(2, 3) void ndp_fail(struct ndp *g, const char *fmt, ...);
void ndp_ev_add(struct ndp *g, const struct ndp_ev *e);
__u64 ndp_hash(__u64 h, const void *p, size_t len);
void *ndp_hva(struct ndp *g, __u64 addr);
__u64 ndp_gpa(const struct ndp *g, __u64 addr);
void ndp_iotlb_serve(struct ndp *g);
long ndp_iotlb_write(struct ndp *g, __u8 type, __u64 iova, __u64 size,
		     __u64 uaddr, __u8 perm);
long ndp_now_ms(void);
int ndp_has(const struct ndp *g, unsigned int bit);
int ndp_if_quiet_up(int sock, const char *ifname);
int ndp_if_wait_running(int sock, const char *ifname);
int ndp_setup(struct ndp *g);
void ndp_stop_device(struct ndp *g);
int ndp_stage(struct ndp *g, struct ndp_vq *q, const struct ndp_chain *ch);
void ndp_track(struct ndp_vq *q, unsigned int id);
int ndp_rewrite(struct ndp *g, struct ndp_vq *q, unsigned int id,
		const struct ndp_chain *ch);
void ndp_post(struct ndp *g, struct ndp_vq *q, const struct ndp_chain *ch);
void ndp_kick(struct ndp *g, struct ndp_vq *q);
int ndp_slot_free(const struct ndp_vq *q);
int ndp_used(struct ndp *g, struct ndp_vq *q, unsigned int *slot,
	     __u32 *len);
void ndp_sleep(struct ndp *g, long deadline);
void ndp_enable_log(struct ndp *g);
__u64 ndp_read_efd(int fd);

/* ndp_traffic.c: set up, move the frames, stop, check and record */
unsigned int ndp_frame(__u8 *f, int dir, unsigned int seq);
void ndp_tx_fill(struct ndp *g, unsigned int serial, struct ndp_chain *ch);
void ndp_rx_fill(struct ndp *g, unsigned int serial, struct ndp_chain *ch);
int ndp_rx_inject(struct ndp *g);
void ndp_run_traffic(struct ndp *g);
void ndp_scenario(struct ndp *g);

/* ndp_fault.c: one owner's two devices, for the fault tests */
struct ndp_pair {
	struct kvio_ctx c;
	struct ndp_run *run;	/* both devices record here */
	size_t shown;		/* run->msg printed up to here */
	struct ndp_cfg cfg[2];
	struct ndp dev[2];
};

const char *ndp_dev_path(void);
struct ndp_pair *ndp_pair_new(unsigned int num, __u64 features,
			      unsigned int rxbuf);
void ndp_pair_free(struct ndp_pair *p);
int ndp_pair_ok(struct ndp_pair *p);
int ndp_pair_traffic(struct ndp_pair *p, struct ndp *g, unsigned int tx,
		     unsigned int rx);
int ndp_pair_quiet(struct ndp_pair *p, const struct ndp_vq *bad);
int ndp_kick_now(const struct ndp_vq *q);
__u64 ndp_wait_efd(int fd, int ms);
struct ndp_pair *ndp_pair_new_on(unsigned int num, __u64 features,
				 unsigned int rxbuf, int macvtap_ifindex,
				 int peer_ifindex);

/* ndp_fault.c: the VMM stops, restarts and swaps under traffic */
int ndp_vmm_backend(struct ndp *g, int fd);
int ndp_vmm_stop(struct ndp *g, __u16 base[2]);
int ndp_vmm_mem(struct ndp *g, const struct vhost_memory *m);
int ndp_vmm_start(struct ndp *g, const __u16 base[2],
		  const struct vhost_memory *m, int owner);

/*
 * ndp_fault.c: traffic that survives faults (net_faults).  The driver of
 * one device in a thread of its own (ndp_flow_run()), with mergeable
 * receive buffers big enough for any frame: frames may be lost, every
 * frame that arrives must be whole.  The counters are read by others.
 */
struct ndp_flow {
	struct ndp *g;
	/* host sides: frames go in on [0], the backend's; [1] another or -1 */
	int pkt[2];
	int stop;		/* set by another thread: stop */
	unsigned long tx_used;	/* TX buffers the device gave back */
	unsigned long wire;	/* frames sent by the guest, seen whole */
	unsigned long rx_used;	/* frames received whole */
	unsigned long bad;	/* frames that were not whole */
	char bad_msg[128];	/* the first of them */
	/* the flow's own */
	long injected, rx_seen, rx_lost, last_rx_ms;
	unsigned int rx_seq;
	struct ndp_chain *rx_ch;	/* per RX slot: its buffer */
};

int ndp_flow_init(struct ndp_flow *f, struct ndp *g);
void ndp_flow_free(struct ndp_flow *f);
int ndp_flow_step(struct ndp_flow *f);
void *ndp_flow_run(void *arg);
int ndp_flow_moves(struct ndp_flow *f, unsigned long n, int ms);

#endif /* KVIO_NET_DATAPATH_H */
