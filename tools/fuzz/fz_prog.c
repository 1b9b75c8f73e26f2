// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: inputs as programs.  The operation table says how many
 * argument bytes each operation takes and how they split into fields;
 * generation builds programs (often ones that keep the rings
 * well-formed), mutation changes fields, inserts, deletes, duplicates and
 * swaps operations and splices in operations of another input.
 */
#include <stdio.h>
#include <string.h>

#include "fz.h"

/* name, function, field sizes, clean, vmm (helper may run it), weight */
const struct fz_opdesc fz_ops[] = {
	[FZ_OP_OPEN] = { "open", fz_op_open, { 1, 1 }, 0, 0, 2 },
	[FZ_OP_CLOSE] = { "close", fz_op_close, { 1 }, 0, 1, 2 },
	[FZ_OP_DUP] = { "dup", fz_op_dup, { 1, 1 }, 0, 0, 1 },
	[FZ_OP_OWNER] = { "owner", fz_op_owner, { 1, 1 }, 0, 1, 3 },
	[FZ_OP_FEATURES] = { "features", fz_op_features, { 1, 1, 1, 8 }, 0, 1, 4 },
	[FZ_OP_MEMTAB] = { "memtab", fz_op_memtab, { 1, 1, 4 }, 0, 1, 4 },
	[FZ_OP_LOG] = { "log", fz_op_log, { 1, 1, 1, 4 }, 0, 1, 3 },
	[FZ_OP_VNUM] = { "vnum", fz_op_vnum, { 1, 1, 1, 4 }, 0, 1, 3 },
	[FZ_OP_VBASE] = { "vbase", fz_op_vbase, { 1, 1, 1, 1, 2 }, 0, 1, 3 },
	[FZ_OP_VADDR] = { "vaddr", fz_op_vaddr, { 1, 1, 1, 1, 1, 1, 1, 4 }, 0, 1, 4 },
	[FZ_OP_VFILE] = { "vfile", fz_op_vfile, { 1, 1, 1, 1 }, 0, 1, 4 },
	[FZ_OP_VMISC] = { "vmisc", fz_op_vmisc, { 1, 1, 1, 1, 4 }, 0, 1, 2 },
	[FZ_OP_BACKEND] = { "backend", fz_op_backend, { 1, 1, 1 }, 0, 1, 5 },
	[FZ_OP_WORKER] = { "worker", fz_op_worker, { 1, 1, 1, 1 }, 0, 1, 2 },
	[FZ_OP_IORAW] = { "ioraw", fz_op_ioraw, { 1, 1, 1, 8 }, 0, 1, 2 },
	[FZ_OP_IOTLB] = { "iotlb", fz_op_iotlb, { 1, 1, 1, 1, 1, 8, 1, 1 }, 0, 1, 2 },
	[FZ_OP_DESC] = { "desc", fz_op_desc, { 1, 2, 1, 4, 1, 4, 1, 2 }, 0, 0, 10 },
	[FZ_OP_DFILL] = { "dfill", fz_op_dfill, { 1, 2, 1, 1, 4, 1, 1, 1, 1 }, 0, 0, 8 },
	[FZ_OP_TABLE] = { "table", fz_op_table, { 1, 1, 1, 4, 1, 1, 1, 1 }, 0, 0, 5 },
	[FZ_OP_CHAIN] = { "chain", fz_op_chain,
			  { 1, 2, 1, 1, 1, 1, 1, 1, 4, 1, 1, 1 }, 0, 0, 16 },
	[FZ_OP_AVAIL] = { "avail", fz_op_avail, { 1, 2, 2 }, 0, 0, 6 },
	[FZ_OP_AFILL] = { "afill", fz_op_afill, { 1, 1, 1, 2 }, 0, 0, 6 },
	[FZ_OP_AIDX] = { "aidx", fz_op_aidx, { 1, 1, 2 }, 0, 0, 4 },
	[FZ_OP_AFLAGS] = { "aflags", fz_op_aflags, { 1, 1, 1, 2 }, 0, 0, 3 },
	[FZ_OP_PROT] = { "prot", fz_op_prot, { 1, 1, 1 }, 0, 0, 1 },
	[FZ_OP_POST] = { "post", fz_op_post, { 1, 1, 1, 1, 1, 1 }, 1, 0, 10 },
	[FZ_OP_REAP] = { "reap", fz_op_reap, { 1 }, 1, 0, 3 },
	[FZ_OP_KICK] = { "kick", fz_op_kick, { 1, 1 }, 1, 0, 10 },
	[FZ_OP_WAIT] = { "wait", fz_op_wait, { 1 }, 1, 0, 5 },
	[FZ_OP_INJECT] = { "inject", fz_op_inject, { 1, 1, 1 }, 1, 0, 8 },
	[FZ_OP_CONC] = { "conc", NULL, { 1 }, 0, 0, 2 },
	[FZ_OP_IOMAP] = { "iomap", fz_op_iomap, { 1, 1, 1, 1, 4, 1 }, 0, 1, 3 },
};

const unsigned int fz_nops = ARRAY_SIZE(fz_ops);

__u64 fz_rand(__u64 *rng)
{
	__u64 x = *rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static unsigned int fz_below(__u64 *rng, unsigned int n)
{
	return n ? fz_rand(rng) % n : 0;
}

unsigned int fz_op_args(unsigned int op)
{
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(fz_ops[op].fields) && fz_ops[op].fields[i]; i++)
		n += fz_ops[op].fields[i];
	return n;
}

/* Offsets of the operations of @in; returns how many (at most @max). */
int fz_decode(const __u8 *in, unsigned int len, unsigned int *off,
	      unsigned int max)
{
	unsigned int pos = FZ_HDR_LEN, n = 0;

	while (pos < len && n < max) {
		off[n++] = pos;
		pos += 1 + fz_op_args(in[pos] % fz_nops);
	}
	return n;
}

/* Generation */

static const __u8 fz_clean_ops[] = {
	FZ_OP_POST, FZ_OP_POST, FZ_OP_KICK, FZ_OP_KICK, FZ_OP_INJECT,
	FZ_OP_WAIT, FZ_OP_REAP, FZ_OP_INJECT,
};

static unsigned int fz_pick_op(__u64 *rng)
{
	unsigned int total = 0, i, r;

	for (i = 0; i < fz_nops; i++)
		total += fz_ops[i].weight;
	r = fz_below(rng, total);
	for (i = 0; i < fz_nops; i++) {
		if (r < fz_ops[i].weight)
			return i;
		r -= fz_ops[i].weight;
	}
	return 0;
}

/* Arguments: random bytes, then what makes an operation likely to matter. */
static void fz_gen_args(unsigned int op, __u8 *a, __u64 *rng)
{
	unsigned int i, n = fz_op_args(op), idx;

	for (i = 0; i < n; i++)
		a[i] = fz_rand(rng);
	/* mostly the first device */
	if (fz_below(rng, 4))
		a[0] &= op == FZ_OP_TABLE ? ~4 :
			fz_ops[op].vmm || op < FZ_OP_DESC ? ~1 : ~2;
	switch (op) {
	case FZ_OP_DESC:
		idx = fz_below(rng, 2) ? fz_below(rng, 8) : fz_below(rng, 1024);
		a[1] = idx;
		a[2] = idx >> 8;
		if (fz_below(rng, 3)) {
			a[14] = idx + 1;
			a[15] = (idx + 1) >> 8;
		}
		break;
	case FZ_OP_DFILL:
		a[2] = fz_below(rng, 2) ? 0 : a[2];
		break;
	case FZ_OP_CHAIN:
		a[2] = 0;
		a[1] %= 8;
		a[7] = (a[7] & ~1) | (fz_below(rng, 5) ? !(a[0] & 1) : a[7] & 1);
		a[15] |= fz_below(rng, 8) ? 0x80 : 0;
		break;
	case FZ_OP_AVAIL:
		a[2] = 0;
		a[1] %= 4;
		a[4] = fz_below(rng, 2) ? 0 : a[4];
		a[3] %= 16;
		break;
	case FZ_OP_AFILL:
		a[4] = 0;
		a[3] %= 16;
		break;
	case FZ_OP_CONC:
		a[0] = 1 + fz_below(rng, FZ_CONC_MAX);
		break;
	}
}

static unsigned int fz_gen_op(__u8 *out, unsigned int op, __u64 *rng)
{
	out[0] = op;
	fz_gen_args(op, out + 1, rng);
	return 1 + fz_op_args(op);
}

static void fz_gen_header(__u8 *h, __u64 *rng)
{
	static const __u8 level[10] = { 3, 3, 3, 3, 3, 3, 3, 2, 1, 0 };

	h[0] = level[fz_below(rng, 10)];
	h[0] |= fz_below(rng, 8) ? 0 : 4;
	h[0] |= fz_below(rng, 10) ? 0 : 8;
	h[0] |= fz_below(rng, 7) ? 0 : 0x10;
	h[1] = fz_below(rng, 2) ? 0 : fz_below(rng, 12);
	h[1] |= fz_below(rng, 6) ? 0 : 0x80;
	h[2] = fz_below(rng, 2) ? 0 : fz_below(rng, 8);
	h[3] = fz_below(rng, 4);
	h[4] = fz_below(rng, 2) ? 0 : fz_below(rng, 4);
	h[5] = fz_below(rng, 4) ? 0 : fz_below(rng, 8);
}

/* The guest's operations only: the data path with a running device. */
static unsigned int fz_pick_guest_op(__u64 *rng)
{
	unsigned int op;

	do
		op = fz_pick_op(rng);
	while (op < FZ_OP_DESC || op == FZ_OP_CONC || op == FZ_OP_PROT);
	return op;
}

/*
 * A new program: a third keep their rings well-formed, a third are a
 * hostile guest of a device set up as QEMU does, a third anything.
 */
unsigned int fz_generate(__u8 *out, __u64 *rng)
{
	unsigned int kind = fz_below(rng, 3), len = FZ_HDR_LEN, n, i, op;

	fz_gen_header(out, rng);
	n = 1 + fz_below(rng, kind == 2 ? 16 : 12);
	for (i = 0; i < n; i++) {
		if (kind == 0)
			op = fz_clean_ops[fz_below(rng, sizeof(fz_clean_ops))];
		else if (kind == 1)
			op = fz_pick_guest_op(rng);
		else
			op = fz_pick_op(rng);
		len += fz_gen_op(out + len, op, rng);
	}
	return len;
}

/* Mutation */

struct fz_prog {
	__u8 *buf;
	unsigned int len;
	unsigned int n;
	unsigned int off[FZ_MAX_OPS + 1];
};

static void fz_prog_parse(struct fz_prog *p)
{
	p->n = fz_decode(p->buf, p->len, p->off, FZ_MAX_OPS);
	/* the last operation may be cut short: its arguments read as 0 */
	p->off[p->n] = p->len;
}

/* Opens a gap of @n bytes at @at, or fails if the input would be too long. */
static int fz_gap(struct fz_prog *p, unsigned int at, unsigned int n)
{
	if (p->len + n > FZ_MAX_INPUT || p->n >= FZ_MAX_OPS)
		return -1;
	memmove(p->buf + at + n, p->buf + at, p->len - at);
	p->len += n;
	return 0;
}

static void fz_cut(struct fz_prog *p, unsigned int at, unsigned int n)
{
	if (at + n > p->len)
		n = p->len - at;
	memmove(p->buf + at, p->buf + at + n, p->len - at - n);
	p->len -= n;
}

static unsigned int fz_op_len(const struct fz_prog *p, unsigned int i)
{
	return p->off[i + 1] - p->off[i];
}

/* One field of one operation gets a new value. */
static void fz_mut_field(struct fz_prog *p, __u64 *rng)
{
	unsigned int i = fz_below(rng, p->n), op, f, nf = 0, at, size;
	__u8 *a;

	op = p->buf[p->off[i]] % fz_nops;
	while (nf < ARRAY_SIZE(fz_ops[op].fields) && fz_ops[op].fields[nf])
		nf++;
	if (!nf)
		return;
	f = fz_below(rng, nf);
	for (at = 0, size = 0; size < f; size++)
		at += fz_ops[op].fields[size];
	a = p->buf + p->off[i] + 1 + at;
	size = fz_ops[op].fields[f];
	if (p->off[i] + 1 + at + size > p->len)
		return;
	switch (fz_below(rng, 4)) {
	case 0:
		a[0] = fz_below(rng, 0xc0);
		break;
	case 1:
		a[fz_below(rng, size)] ^= 1 << fz_below(rng, 8);
		break;
	case 2:
		a[0] += fz_below(rng, 2) ? 1 : -1;
		break;
	default:
		for (at = 0; at < size; at++)
			a[at] = fz_rand(rng);
		break;
	}
}

static void fz_mut_insert(struct fz_prog *p, __u64 *rng)
{
	__u8 op[1 + FZ_MAX_ARGS];
	unsigned int at = p->off[fz_below(rng, p->n + 1)];
	unsigned int n = fz_gen_op(op, fz_pick_op(rng), rng);

	if (!fz_gap(p, at, n))
		memcpy(p->buf + at, op, n);
}

static void fz_mut_dup(struct fz_prog *p, __u64 *rng)
{
	__u8 op[1 + FZ_MAX_ARGS];
	unsigned int i = fz_below(rng, p->n), n = fz_op_len(p, i), at;

	if (!p->n || n > sizeof(op))
		return;
	memcpy(op, p->buf + p->off[i], n);
	at = p->off[fz_below(rng, p->n + 1)];
	if (!fz_gap(p, at, n))
		memcpy(p->buf + at, op, n);
}

static void fz_mut_swap(struct fz_prog *p, __u64 *rng)
{
	__u8 tmp[2 * (1 + FZ_MAX_ARGS)];
	unsigned int i = fz_below(rng, p->n - 1), a, b;

	a = fz_op_len(p, i);
	b = fz_op_len(p, i + 1);
	if (p->off[i + 2] > p->len || a + b > sizeof(tmp))
		return;
	memcpy(tmp, p->buf + p->off[i + 1], b);
	memcpy(tmp + b, p->buf + p->off[i], a);
	memcpy(p->buf + p->off[i], tmp, a + b);
}

/* Operations of another input, inserted here. */
static void fz_mut_splice(struct fz_prog *p, const __u8 *other,
			  unsigned int olen, __u64 *rng)
{
	unsigned int off[FZ_MAX_OPS + 1], n, i, j, at, len;

	n = fz_decode(other, olen, off, FZ_MAX_OPS);
	if (!n)
		return;
	off[n] = olen;
	i = fz_below(rng, n);
	j = i + 1 + fz_below(rng, n - i);
	len = off[j] - off[i];
	at = p->off[fz_below(rng, p->n + 1)];
	if (p->n + (j - i) <= FZ_MAX_OPS && !fz_gap(p, at, len))
		memcpy(p->buf + at, other + off[i], len);
}

static void fz_mut_one(struct fz_prog *p, const __u8 *other,
		       unsigned int olen, __u64 *rng)
{
	unsigned int i;

	switch (fz_below(rng, 10)) {
	case 0:
		p->buf[fz_below(rng, FZ_HDR_LEN)] = fz_rand(rng);
		return;
	case 1:
		fz_mut_insert(p, rng);
		return;
	case 2:
		if (p->n > 1) {
			i = fz_below(rng, p->n);
			fz_cut(p, p->off[i], fz_op_len(p, i));
		}
		return;
	case 3:
		fz_mut_dup(p, rng);
		return;
	case 4:
		if (p->n > 1)
			fz_mut_swap(p, rng);
		return;
	case 5:
		if (other)
			fz_mut_splice(p, other, olen, rng);
		return;
	case 6:
		p->buf[fz_below(rng, p->len)] ^= 1 << fz_below(rng, 8);
		return;
	default:
		if (p->n)
			fz_mut_field(p, rng);
		else
			fz_mut_insert(p, rng);
		return;
	}
}

/* Mutates @buf (@len bytes, room for FZ_MAX_INPUT) in place. */
unsigned int fz_mutate(__u8 *buf, unsigned int len, const __u8 *other,
		       unsigned int olen, __u64 *rng)
{
	struct fz_prog p = { .buf = buf, .len = len };
	unsigned int k = 1 + fz_below(rng, 4);

	if (p.len < FZ_HDR_LEN) {
		memset(buf + p.len, 0, FZ_HDR_LEN - p.len);
		p.len = FZ_HDR_LEN;
	}
	while (k--) {
		fz_prog_parse(&p);
		fz_mut_one(&p, other, olen, rng);
	}
	return p.len;
}

/* An input as the operations it decodes to. */
void fz_show(const __u8 *in, unsigned int len, FILE *f)
{
	unsigned int off[FZ_MAX_OPS], n, i, j, op, args;
	__u8 h[FZ_HDR_LEN] = { 0 };

	memcpy(h, in, len < FZ_HDR_LEN ? len : FZ_HDR_LEN);
	fprintf(f,
		"# header: level %u%s%s%s, features %#llx, ring %llu, backend %u, memory %u, base %u\n",
		h[0] & 3, h[0] & 4 ? ", two devices" : "",
		h[0] & 8 ? ", busy polling" : "", h[0] & 16 ? ", dirty log" : "",
		(unsigned long long)fz_hdr_features(h),
		(unsigned long long)fz_num_tab[h[2] % 8], h[3] % 4, h[4] % 4,
		h[5] % 8);
	n = fz_decode(in, len, off, FZ_MAX_OPS);
	for (i = 0; i < n; i++) {
		op = in[off[i]] % fz_nops;
		args = fz_op_args(op);
		fprintf(f, "# %2u %-8s", i, fz_ops[op].name);
		for (j = 0; j < args; j++)
			fprintf(f, " %02x", off[i] + 1 + j < len ? in[off[i] + 1 + j] : 0);
		fprintf(f, "\n");
	}
}
