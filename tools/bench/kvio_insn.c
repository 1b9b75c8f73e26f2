// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_insn: a TCG plugin for QEMU 7.2 that counts the guest instructions
 * executed in kernel mode and in user mode, per vCPU, and reports them for
 * measurement windows the guest marks itself.
 *
 * The guest marks windows with multi-byte NOPs that only this plugin gives
 * a meaning (kvio_insn.h): "nopl DISP(%rax)" whose displacement has
 * 0x4b56 in bits 31-16, bit 15 clear to start window (DISP & 0x7fff) and
 * set to end it.  Any vCPU may start or end any window; windows may
 * overlap.  For each window that ends, one line goes to the output file:
 *
 *   window ID kernel K user U poll P
 *
 * K and U are the instructions all vCPUs executed between its start and
 * its end, in the kernel half of the address space and in the user half
 * (an x86-64 Linux guest runs kernel code only at addresses with bit 63
 * set).  P is the part of K run inside a poll: between the start and the
 * end of id KVIO_INSN_POLL on the same vCPU, which kvio's worker marks
 * around its adaptive poll (a spin whose length depends on time, not on
 * the work).  A start of an open window restarts it; an end of a window
 * that is not open writes nothing.
 *
 * Counting is per translation block: a callback adds the block's
 * instruction count to the counter of the vCPU that runs it, so no two
 * threads write one counter.  A block cut short by an exception counts in
 * full, as QEMU's own bb plugin does.
 *
 * With profile=PFILE, the plugin also says where each window's
 * instructions went: at its end, PFILE gets "profile ID" and one line per
 * translation block run in it, "ADDRESS INSTRUCTIONS" (hex, decimal), for
 * tools/bench/insn_profile.sh to name with the guest's kallsyms.  Each
 * block then counts its runs with an atomic add, and a window's start and
 * end walk every block translated so far: for one window at a time.
 *
 * usage: qemu-system-x86_64 ... -plugin kvio_insn.so,out=FILE[,profile=PFILE]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

#include "kvio_insn.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define KI_MAX_VCPUS	64
#define KI_KERNEL_BIT	0x8000000000000000ULL

/* nopl disp32(%rax): opcode and ModRM (mod 10, reg 0, rm 000) */
static const uint8_t ki_nopl[3] = { 0x0f, 0x1f, 0x80 };
#define KI_IDS		(KVIO_INSN_ID_MAX + 1)

/* One cache line per vCPU: each is written by its own thread only. */
struct ki_vcpu {
	uint64_t kernel;
	uint64_t user;
	uint64_t poll;
	int in_poll;		/* read and written by its thread only */
	uint8_t pad[36];
};

static struct ki_vcpu ki_count[KI_MAX_VCPUS];
static unsigned int ki_vcpus_seen;

static pthread_mutex_t ki_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *ki_out;
static struct {
	uint64_t kernel, user, poll;
	int open;
} ki_win[KI_IDS];
static uint64_t ki_overflow;

/* Profile mode: every block translated, newest first. */
struct ki_tb {
	uint64_t vaddr;
	uint64_t runs;
	uint32_t insns;
	int kernel;
	struct ki_tb *next;
};

static FILE *ki_prof;
static struct ki_tb *ki_tbs;

/* What a block's callback needs: its size and its half. */
#define KI_TB_INSNS(ud)		((uint64_t)(uintptr_t)(ud) >> 1)
#define KI_TB_KERNEL(ud)	((uintptr_t)(ud) & 1)

/* @n instructions run by @vcpu, in the kernel or not. */
static void ki_add(unsigned int vcpu, uint64_t n, int kernel)
{
	uint64_t *c;

	if (vcpu >= KI_MAX_VCPUS) {
		__atomic_add_fetch(&ki_overflow, n, __ATOMIC_RELAXED);
		return;
	}
	c = kernel ? &ki_count[vcpu].kernel : &ki_count[vcpu].user;
	/* Relaxed atomics: another thread sums them at a marker. */
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
	if (kernel && ki_count[vcpu].in_poll) {
		c = &ki_count[vcpu].poll;
		__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
	}
}

static void ki_tb_exec(unsigned int vcpu, void *udata)
{
	ki_add(vcpu, KI_TB_INSNS(udata), KI_TB_KERNEL(udata));
}

static void ki_tb_exec_prof(unsigned int vcpu, void *udata)
{
	struct ki_tb *tb = udata;

	__atomic_add_fetch(&tb->runs, 1, __ATOMIC_RELAXED);
	ki_add(vcpu, tb->insns, tb->kernel);
}

/* At a window's start: forget earlier runs; at its end: write them. */
static void ki_profile(unsigned int id, int end)
{
	struct ki_tb *tb;
	uint64_t runs;

	if (end)
		fprintf(ki_prof, "profile %u\n", id);
	for (tb = ki_tbs; tb; tb = tb->next) {
		runs = __atomic_exchange_n(&tb->runs, 0, __ATOMIC_RELAXED);
		if (end && runs)
			fprintf(ki_prof, "%016llx %llu\n",
				(unsigned long long)tb->vaddr,
				(unsigned long long)(runs * tb->insns));
	}
	if (end)
		fflush(ki_prof);
}

static void ki_sum(uint64_t *kernel, uint64_t *user, uint64_t *poll)
{
	unsigned int i, n = __atomic_load_n(&ki_vcpus_seen, __ATOMIC_RELAXED);

	*kernel = 0;
	*user = 0;
	*poll = 0;
	for (i = 0; i < n && i < KI_MAX_VCPUS; i++) {
		*kernel += __atomic_load_n(&ki_count[i].kernel, __ATOMIC_RELAXED);
		*user += __atomic_load_n(&ki_count[i].user, __ATOMIC_RELAXED);
		*poll += __atomic_load_n(&ki_count[i].poll, __ATOMIC_RELAXED);
	}
}

static void ki_marker(unsigned int vcpu, void *udata)
{
	unsigned int disp = (uintptr_t)udata, id = disp & (KI_IDS - 1);
	uint64_t k, u, p;

	if (id == KVIO_INSN_POLL) {
		/* This vCPU's own state, on its own thread: no lock. */
		if (vcpu < KI_MAX_VCPUS)
			ki_count[vcpu].in_poll = !(disp & KVIO_INSN_END);
		return;
	}
	pthread_mutex_lock(&ki_lock);
	ki_sum(&k, &u, &p);
	if (!(disp & KVIO_INSN_END)) {
		ki_win[id].open = 1;
		ki_win[id].kernel = k;
		ki_win[id].user = u;
		ki_win[id].poll = p;
		if (ki_prof)
			ki_profile(id, 0);
	} else if (ki_win[id].open) {
		ki_win[id].open = 0;
		fprintf(ki_out, "window %u kernel %llu user %llu poll %llu\n",
			id, (unsigned long long)(k - ki_win[id].kernel),
			(unsigned long long)(u - ki_win[id].user),
			(unsigned long long)(p - ki_win[id].poll));
		fflush(ki_out);
		if (ki_prof)
			ki_profile(id, 1);
	}
	pthread_mutex_unlock(&ki_lock);
}

static void ki_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
	(void)id;
	pthread_mutex_lock(&ki_lock);
	if (vcpu + 1 > ki_vcpus_seen)
		__atomic_store_n(&ki_vcpus_seen, vcpu + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ki_lock);
}

static void ki_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);
	uintptr_t ud;

	(void)id;
	ud = (uintptr_t)n << 1 |
	     !!(qemu_plugin_tb_vaddr(tb) & KI_KERNEL_BIT);
	if (ki_prof) {
		struct ki_tb *t = calloc(1, sizeof(*t));

		if (!t)
			abort();
		t->vaddr = qemu_plugin_tb_vaddr(tb);
		t->insns = n;
		t->kernel = ud & 1;
		pthread_mutex_lock(&ki_lock);
		t->next = ki_tbs;
		ki_tbs = t;
		pthread_mutex_unlock(&ki_lock);
		qemu_plugin_register_vcpu_tb_exec_cb(tb, ki_tb_exec_prof,
						     QEMU_PLUGIN_CB_NO_REGS, t);
	} else {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, ki_tb_exec,
						     QEMU_PLUGIN_CB_NO_REGS,
						     (void *)ud);
	}
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const uint8_t *d = qemu_plugin_insn_data(insn);
		uint32_t disp;

		if (qemu_plugin_insn_size(insn) != sizeof(ki_nopl) + 4 ||
		    memcmp(d, ki_nopl, sizeof(ki_nopl)))
			continue;
		memcpy(&disp, d + sizeof(ki_nopl), 4);	/* little-endian */
		if ((disp & 0xffff0000u) != KVIO_INSN_MAGIC)
			continue;
		qemu_plugin_register_vcpu_insn_exec_cb(insn, ki_marker,
						       QEMU_PLUGIN_CB_NO_REGS,
						       (void *)(uintptr_t)disp);
	}
}

static void ki_exit(qemu_plugin_id_t id, void *data)
{
	uint64_t k, u, p;

	(void)id;
	(void)data;
	ki_sum(&k, &u, &p);
	fprintf(ki_out, "total kernel %llu user %llu poll %llu vcpus %u other %llu\n",
		(unsigned long long)k, (unsigned long long)u,
		(unsigned long long)p, ki_vcpus_seen,
		(unsigned long long)ki_overflow);
	fclose(ki_out);
	if (ki_prof)
		fclose(ki_prof);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *path = NULL, *prof = NULL;
	int i;

	if (strcmp(info->target_name, "x86_64")) {
		fprintf(stderr, "kvio_insn: x86_64 guests only, not %s\n",
			info->target_name);
		return -1;
	}
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			path = argv[i] + 4;
		} else if (!strncmp(argv[i], "profile=", 8)) {
			prof = argv[i] + 8;
		} else {
			fprintf(stderr, "kvio_insn: unknown argument %s\n",
				argv[i]);
			return -1;
		}
	}
	if (!path) {
		fprintf(stderr, "kvio_insn: out=FILE is required\n");
		return -1;
	}
	ki_out = fopen(path, "w");
	if (!ki_out) {
		perror(path);
		return -1;
	}
	if (prof) {
		ki_prof = fopen(prof, "w");
		if (!ki_prof) {
			perror(prof);
			return -1;
		}
	}
	qemu_plugin_register_vcpu_init_cb(id, ki_vcpu_init);
	qemu_plugin_register_vcpu_tb_trans_cb(id, ki_tb_trans);
	qemu_plugin_register_atexit_cb(id, ki_exit, NULL);
	return 0;
}
