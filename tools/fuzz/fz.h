/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvio_fuzz: a coverage-guided fuzzer for /dev/kvio-net.
 *
 * An input is a byte string: a header that says how far the device is set
 * up before anything else happens (nothing, owned, ready, running with a
 * backend), then operations, each an opcode byte and a fixed number of
 * argument bytes (fz_ops[]).  The executor, a child process, is the VMM and
 * the guest's driver at once (net_datapath's library): it runs the
 * operations on up to two devices of one owner, the guest side writing
 * rings in guest memory, the host side sending frames into the backends.
 * Coverage comes from KCOV, the device worker's included (remote coverage
 * under the owner's common handle); the manager keeps the inputs that
 * reach new kvio code.
 */
#ifndef KVIO_FZ_H
#define KVIO_FZ_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>

#include "net_datapath.h"

#define FZ_HDR_LEN	6
#define FZ_MAX_OPS	48
#define FZ_MAX_ARGS	16
#define FZ_MAX_INPUT	(FZ_HDR_LEN + FZ_MAX_OPS * (1 + FZ_MAX_ARGS))
#define FZ_NDEV		2
#define FZ_CONC_MAX	4	/* operations one CONC hands to the helper */

/* Guest memory of one device, as offsets into its mapping */
#define FZ_MEM		(16UL << 20)	/* readable and writable */
#define FZ_RESERVE	(64UL << 20)	/* the rest: PROT_NONE, never another mapping */
#define FZ_GPA		0x100000ULL	/* guest-physical address of offset 0 */
#define FZ_RING_OFF(q)	((q) * 0x100000UL)	/* desc; avail +512K, used +640K */
#define FZ_AVAIL_OFF	0x80000UL
#define FZ_USED_OFF	0xa0000UL
#define FZ_TAB_OFF(t)	(0x200000UL + (t) * 0x100000UL)	/* 4 tables of 64K entries */
#define FZ_NTABS	4
#define FZ_GOOD_OFF(q)	(0x600000UL + (q) * 0x100000UL)	/* good indirect tables */
#define FZ_GOOD_SLOT	256	/* bytes of good table per head: 16 entries */
#define FZ_GOOD_HEADS	4096
#define FZ_BUF_OFF(q)	(0x800000UL + (q) * 0x400000UL)	/* good buffers */
#define FZ_BUF_SIZE	0x400000UL
#define FZ_LOG_OFF	(FZ_MEM + 0x10000UL)	/* beyond guest memory: the bitmap */
#define FZ_RING_MAX	65536
#define FZ_MAX_PIECES	16

/* Results the executor gives back */
enum fz_status { FZ_OK, FZ_FINDING };

#define FZ_MAX_SITES	16384
#define FZ_EDGE_BITS	65536

struct fz_shm {
	unsigned int len;
	unsigned char input[FZ_MAX_INPUT];
	unsigned int status;
	unsigned int clean;		/* the input kept its rings well-formed */
	unsigned int prev;		/* the previous input may be the culprit */
	unsigned int closing;		/* its devices are closing now */
	unsigned int sync_close;	/* close them before answering */
	unsigned int op;		/* the operation being run: for reports */
	unsigned long long pcs;		/* PCs the kernel recorded, all code */
	unsigned long long us_input;	/* time the input took */
	unsigned long long us_cover;	/* time collecting its coverage took */
	char why[512];
	unsigned char sites[FZ_MAX_SITES / 8];
	unsigned char edges[FZ_EDGE_BITS / 8];
};

/* The driver's view of one virtqueue */
struct fz_ring {
	unsigned int num;	/* what the driver last asked for */
	__u64 desc, avail, used;	/* user addresses it last gave */
	__u16 avail_idx, last_used;
	int kick, call, err;
	/* chains posted by fz_post(), the only ones the driver vouches for */
	__u16 *freel;		/* free descriptors, a stack */
	unsigned int nfree;
	int freel_ok;		/* the stack holds the ring's free ones */
	__u16 *link;		/* per descriptor: next of a good chain */
	__u32 *cap;		/* per head: bytes in flight, 0 if none */
	__u8 *ndesc;		/* per head: descriptors it holds */
	__u8 *tbusy;		/* per good indirect table: in use */
	unsigned long buf_cur;	/* next free byte of the buffer arena */
	unsigned long bytes;	/* posted so far */
	unsigned int serial;
	unsigned int hw;	/* heads below this may be in flight */
	/*
	 * Packed rings: the well-behaved driver is lib/vq.c's, on the ring
	 * the prologue laid out, as long as no operation moved it.
	 */
	struct vq pvq;
	int pvq_on;
};

struct fz_dev {
	int fd;			/* -1 when closed */
	char *mem;		/* FZ_RESERVE bytes, FZ_MEM of them usable */
	struct vhost_memory *tab;	/* the table the device took */
	__u64 features;		/* what the driver acked */
	int worker_id;
	struct fz_ring q[2];
	struct {
		unsigned long off, len;
	} prot[4];		/* ranges the driver made inaccessible */
	unsigned int nprot;
	int mprot;		/* protections changed: undo them */
};

/* Backends and other long-lived fds of the executor */
enum fz_pfd {
	FZ_P_TAP, FZ_P_TAP2, FZ_P_MACVTAP, FZ_P_PACKET, FZ_P_TUN_L3,
	FZ_P_DGRAM, FZ_P_UDP, FZ_P_UNIX,
	FZ_P_INJ_TAP, FZ_P_INJ_TAP2, FZ_P_INJ_MACVTAP, FZ_P_INJ_PACKET,
	FZ_NPFD
};

struct fz_links {		/* made by the manager: names of the links */
	char veth[4][16];	/* macvtap lower and peer, packet end and peer */
	char macvtap[16];
	int macvtap_ifindex;
	char tap[2][16];
};

struct fz_cover;

struct fz_exec {
	struct kvio_ctx c;	/* the library's context: the runner's */
	struct kvio_run run;
	struct kvio_ctx hc;	/* and the helper thread's */
	struct kvio_run hrun;
	struct fz_dev *dev;	/* the input's devices: one of the sets */
	struct fz_dev sets[2][FZ_NDEV];
	unsigned int set;
	int anchor;		/* a device owned all along: the worker stays */
	unsigned long inputs;
	int pfd[FZ_NPFD];
	const struct fz_links *links;
	int first_input_fd;	/* fds from here on are the input's */
	int clean;
	int touched;		/* kicks or frames: something for the worker */
	int header_len;		/* of the prologue's vnet header, for frames */
	unsigned int frame_seq;
	long close_ms;		/* a longer close() is a finding */
	long t_close_max;
	struct fz_shm *shm;
	struct fz_cover *cov;
	/* the helper thread: VMM operations concurrent with the rest */
	pthread_t helper;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int conc_n, conc_busy;
	unsigned char conc[FZ_CONC_MAX][1 + FZ_MAX_ARGS];
	/* the closer thread: an input's devices close during the next one */
	pthread_t closer;
	int close_fd[FZ_NDEV];
	int close_n, close_busy;
	long close_took;	/* ms the last batch took */
};

enum fz_opcode {
	FZ_OP_OPEN, FZ_OP_CLOSE, FZ_OP_DUP, FZ_OP_OWNER, FZ_OP_FEATURES,
	FZ_OP_MEMTAB, FZ_OP_LOG, FZ_OP_VNUM, FZ_OP_VBASE, FZ_OP_VADDR,
	FZ_OP_VFILE, FZ_OP_VMISC, FZ_OP_BACKEND, FZ_OP_WORKER, FZ_OP_IORAW,
	FZ_OP_IOTLB, FZ_OP_DESC, FZ_OP_DFILL, FZ_OP_TABLE, FZ_OP_CHAIN,
	FZ_OP_AVAIL,
	FZ_OP_AFILL, FZ_OP_AIDX, FZ_OP_AFLAGS, FZ_OP_PROT, FZ_OP_POST,
	FZ_OP_REAP, FZ_OP_KICK, FZ_OP_WAIT, FZ_OP_INJECT, FZ_OP_CONC,
	FZ_OP_IOMAP,
	FZ_NOPS
};

/* One operation of an input */
typedef void (*fz_op_fn)(struct fz_exec *x, const __u8 *a);

struct fz_opdesc {
	const char *name;
	fz_op_fn run;
	unsigned char fields[12];	/* sizes of the argument fields, 0 ends */
	unsigned char clean;		/* keeps well-formed rings well-formed */
	unsigned char vmm;		/* may run on the helper thread */
	unsigned short weight;		/* for generation */
};

extern const struct fz_opdesc fz_ops[];
extern const unsigned int fz_nops;

/* The operations: fz_vmm.c (the VMM), fz_ring.c and fz_driver.c (the guest) */
void fz_op_open(struct fz_exec *x, const __u8 *a);
void fz_op_close(struct fz_exec *x, const __u8 *a);
void fz_op_dup(struct fz_exec *x, const __u8 *a);
void fz_op_owner(struct fz_exec *x, const __u8 *a);
void fz_op_features(struct fz_exec *x, const __u8 *a);
void fz_op_memtab(struct fz_exec *x, const __u8 *a);
void fz_op_log(struct fz_exec *x, const __u8 *a);
void fz_op_vnum(struct fz_exec *x, const __u8 *a);
void fz_op_vbase(struct fz_exec *x, const __u8 *a);
void fz_op_vaddr(struct fz_exec *x, const __u8 *a);
void fz_op_vfile(struct fz_exec *x, const __u8 *a);
void fz_op_vmisc(struct fz_exec *x, const __u8 *a);
void fz_op_backend(struct fz_exec *x, const __u8 *a);
void fz_op_worker(struct fz_exec *x, const __u8 *a);
void fz_op_ioraw(struct fz_exec *x, const __u8 *a);
void fz_op_iotlb(struct fz_exec *x, const __u8 *a);
void fz_op_iomap(struct fz_exec *x, const __u8 *a);
int fz_iotlb_map_all(struct fz_exec *x, struct fz_dev *d, __u8 perm);
void fz_op_desc(struct fz_exec *x, const __u8 *a);
void fz_op_dfill(struct fz_exec *x, const __u8 *a);
void fz_op_table(struct fz_exec *x, const __u8 *a);
void fz_op_chain(struct fz_exec *x, const __u8 *a);
void fz_op_avail(struct fz_exec *x, const __u8 *a);
void fz_op_afill(struct fz_exec *x, const __u8 *a);
void fz_op_aidx(struct fz_exec *x, const __u8 *a);
void fz_op_aflags(struct fz_exec *x, const __u8 *a);
void fz_op_prot(struct fz_exec *x, const __u8 *a);
void fz_op_post(struct fz_exec *x, const __u8 *a);
void fz_op_reap(struct fz_exec *x, const __u8 *a);
void fz_op_kick(struct fz_exec *x, const __u8 *a);
void fz_op_wait(struct fz_exec *x, const __u8 *a);
void fz_op_inject(struct fz_exec *x, const __u8 *a);

/* fz_prog.c: decoding, generation, mutation */
unsigned int fz_op_args(unsigned int op);
int fz_decode(const __u8 *in, unsigned int len, unsigned int *off,
	      unsigned int max);
unsigned int fz_generate(__u8 *out, __u64 *rng);
unsigned int fz_mutate(__u8 *buf, unsigned int len, const __u8 *other,
		       unsigned int olen, __u64 *rng);
__u64 fz_rand(__u64 *rng);
void fz_show(const __u8 *in, unsigned int len, FILE *f);

/* fz_args.c: argument helpers and value tables */
__u16 fz_a16(const __u8 *a);
__u32 fz_a32(const __u8 *a);
__u64 fz_a64(const __u8 *a);
__u64 fz_pick(const __u64 *tab, unsigned int n, __u8 sel, __u64 raw);
__u64 fz_uaddr(struct fz_exec *x, struct fz_dev *d, __u8 kind, __u32 off,
	       __u64 dflt);
__u64 fz_gpa(struct fz_exec *x, struct fz_dev *d, __u8 kind, __u32 off,
	     __u64 ring);
int fz_fd(struct fz_exec *x, struct fz_dev *d, __u8 sel, int ring_fd);
struct fz_dev *fz_devsel(struct fz_exec *x, __u8 sel);
struct fz_ring *fz_qsel(struct fz_exec *x, __u8 sel, struct fz_dev **d);
void *fz_hva(struct fz_dev *d, __u64 uaddr, size_t len);
void *fz_gpa_hva(struct fz_dev *d, __u64 gpa, size_t len);
int fz_gpa_of(struct fz_dev *d, unsigned long off, __u64 *gpa);
int fz_in_helper(void);
void fz_set_helper(void);

extern const __u64 fz_features_tab[];
extern const unsigned int fz_nfeatures;
__u64 fz_hdr_features(const __u8 *h);

/* header byte 0, bits 5-7: 5 packed rings, 6 IN_ORDER, 7 both; else split */
static inline int fz_h_packed(__u8 h0)
{
	return h0 >> 5 == 5 || h0 >> 5 == 7;
}

static inline int fz_h_in_order(__u8 h0)
{
	return h0 >> 5 >= 6;
}

/*
 * header byte 1, bit 7: VIRTIO_F_ACCESS_PLATFORM, guest memory mapped in
 * the IOTLB at its user addresses (so rings keep theirs) and at its
 * guest-physical ones (so descriptors do): fz_iotlb_map_all().
 */
static inline int fz_h_iotlb(__u8 h1)
{
	return h1 >> 7;
}

extern const __u64 fz_num_tab[];
extern const unsigned int fz_nnum;
extern const __u64 fz_len_tab[];
extern const unsigned int fz_nlen;

/* fz_exec.c: the executor */
int fz_exec_setup(struct fz_exec *x);
__noreturn void fz_executor(struct fz_shm *shm, const struct fz_links *links,
			    int cmd, int res, long close_ms, int kcov);
void fz_exec_input(struct fz_exec *x, const __u8 *in, unsigned int len);
long fz_ioctl(struct fz_exec *x, struct fz_dev *d, const char *label,
	      unsigned long req, void *arg);
__printf(2, 3) void fz_finding(struct fz_exec *x, const char *fmt, ...);

/* fz_vmm.c: the VMM's operations and the prologue */
int fz_prologue(struct fz_exec *x, const __u8 *h);
int fz_dev_open(struct fz_exec *x, struct fz_dev *d, int flags);
void fz_dev_close(struct fz_exec *x, struct fz_dev *d);
void fz_memtab_set(struct fz_exec *x, struct fz_dev *d, __u8 layout,
		   __u32 param);
void fz_vring_addr(struct fz_exec *x, struct fz_dev *d, unsigned int idx,
		   const struct vhost_vring_addr *a);

/* fz_ring.c: the guest's raw writes */
void fz_ring_reset(struct fz_dev *d, struct fz_ring *q, unsigned int num,
		   __u16 base);
void fz_set_desc(struct fz_dev *d, struct fz_ring *q, unsigned int i,
		 __u64 gpa, __u32 len, __u16 flags, __u16 next);
void fz_avail_put(struct fz_dev *d, struct fz_ring *q, unsigned int pos,
		  __u16 head);
void fz_publish(struct fz_dev *d, struct fz_ring *q);
void fz_publish_good(struct fz_dev *d, struct fz_ring *q);
int fz_packed_init(struct fz_dev *d, unsigned int qi, unsigned int num,
		   __u16 base, struct vhost_vring_addr *a);

/* fz_driver.c: the well-behaved driver, the host's frames */
int fz_post(struct fz_exec *x, struct fz_dev *d, struct fz_ring *q,
	    unsigned int qi, unsigned int pieces, __u32 plen, int ind,
	    __u32 size);
void fz_reap(struct fz_exec *x, struct fz_dev *d, struct fz_ring *q,
	     unsigned int qi);
void fz_settle(struct fz_exec *x, int ms);
int fz_inject(struct fz_exec *x, unsigned int host, __u32 size);
void fz_kick(struct fz_ring *q);
void fz_drained(struct fz_exec *x, int ms);

/* fz_cover.c: KCOV and kvio's coverage sites */
int fz_sites_load(const char *kodir);
unsigned int fz_sites_total(void);
const char *fz_site_name(unsigned int i, char *buf, size_t len);
struct fz_cover *fz_cover_open(int remote);
void fz_cover_thread(struct fz_cover *cov, int slot);
void fz_cover_reset(struct fz_cover *cov);
void fz_cover_collect(struct fz_cover *cov, struct fz_shm *shm);
int fz_cover_available(void);

/* fz_manager.c: the loop, the corpus, the findings */
struct fz_opts {
	const char *corpus_in[4];
	int ncorpus_in;
	const char *corpus_out;
	const char *out;	/* findings, the current input */
	const char *kodir;
	const char *minimize;	/* write a minimal corpus here */
	long execs, seconds;
	long hang_s, close_ms;
	int stats_s;
	int replay;
	int ktap;
	int keep_going;
	int blind;
	int no_current;		/* do not write <out>/current */
	__u64 seed;
};

int fz_main(const struct fz_opts *o);

#endif /* KVIO_FZ_H */
