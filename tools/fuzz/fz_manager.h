/* SPDX-License-Identifier: GPL-2.0 */
/* kvio_fuzz: the manager's parts (fz_manager.c, fz_loop.c) */
#ifndef KVIO_FZ_MANAGER_H
#define KVIO_FZ_MANAGER_H

#include <stdio.h>

#include "fz.h"

enum fz_result {
	FZ_R_OK,
	FZ_R_FOUND,	/* the executor reported a finding */
	FZ_R_HUNG,
	FZ_R_DIED,
	FZ_R_KERNEL,	/* a report in the kernel log */
	FZ_R_FATAL,	/* cannot go on */
};

#define FZ_CURRENT_MAGIC	0x4346464bU	/* "KFFC" */

/* <out>/current: the input running now, with when it started */
struct fz_current {
	__u32 magic;
	__u32 len;
	__u64 execs;
	__u64 ms;
	__u8 input[FZ_MAX_INPUT];
	/*
	 * The input before it, whose devices may still be closing (and
	 * their rings running on the owner's worker) while this one runs.
	 */
	__u32 prev_len;
	__u8 prev[FZ_MAX_INPUT];
};

struct fz_entry {
	unsigned int len;
	unsigned int sites;	/* kvio sites it covers */
	__u8 *data;
	char name[64];
};

struct fz_mgr {
	const struct fz_opts *o;
	struct fz_shm *shm;
	struct fz_links links;
	pid_t exec;
	int cmd, res, kmsg, cur_fd, kcov;
	struct fz_current *cur_map;	/* an ivshmem BAR backed by a host file */
	unsigned char sites[FZ_MAX_SITES / 8];
	unsigned char edges[FZ_EDGE_BITS / 8];
	unsigned int nsites, nedges;
	struct fz_entry *corpus;
	unsigned int ncorpus, corpus_cap;
	__u8 prev[FZ_MAX_INPUT];	/* the input before: its devices close late */
	unsigned int prev_len;
	__u64 rng;
	long execs, clean, findings, t0;
	unsigned long long us_run, us_input, us_cover, pcs;	/* sums */
	char outdir[512];
};

long fz_elapsed_ms(const struct fz_mgr *m);
int fz_mgr_init(struct fz_mgr *m, const struct fz_opts *o);
void fz_mgr_fini(struct fz_mgr *m);
int fz_links_make(struct fz_mgr *m);
void fz_links_del(struct fz_mgr *m);
int fz_exec_start(struct fz_mgr *m);
int fz_exec_stop(struct fz_mgr *m);
void fz_kmsg_open(struct fz_mgr *m);
int fz_kmsg_scan(struct fz_mgr *m, char *why, size_t len);
int fz_run(struct fz_mgr *m, const __u8 *in, unsigned int len, char *why,
	   size_t wlen);
unsigned int fz_merge(struct fz_mgr *m);
__u64 fz_hash(const __u8 *p, unsigned int len);
int fz_write_file(const char *dir, const char *name, const void *p,
		  size_t len);
void fz_save_finding(struct fz_mgr *m, const __u8 *in, unsigned int len,
		     const char *why);

#endif /* KVIO_FZ_MANAGER_H */
