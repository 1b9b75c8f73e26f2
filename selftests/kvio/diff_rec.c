// SPDX-License-Identifier: GPL-2.0
/*
 * Step recording and the ioctl wrappers of the differential test.
 *
 * Every wrapper performs one system call and records exactly one step.
 * errno is captured right after the call and kept only for failures, so
 * a stale errno from an earlier call never shows up in a comparison.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vhost_diff.h"

/* Marks output buffers so that "the kernel wrote nothing" is visible. */
#define KVIO_SENTINEL	0x5a5a5a5a5a5a5a5aULL

static int kvio_label_count(const struct kvio_run *r, const char *base)
{
	size_t len = strlen(base);
	int i, n = 0;

	for (i = 0; i < r->nsteps; i++) {
		const char *l = r->steps[i].label;

		if (!strncmp(l, base, len) && (!l[len] || l[len] == '#'))
			n++;
	}
	return n;
}

/*
 * Builds "tag.label", made unique within the run by a "#n" suffix so that
 * every step can be named in Documentation/differences.rst.
 */
static void kvio_label(struct kvio_ctx *c, const char *label, char *out)
{
	char base[KVIO_LABEL_LEN];
	int n;

	if (c->tag)
		snprintf(base, sizeof(base), "%s.%s", c->tag, label);
	else
		snprintf(base, sizeof(base), "%s", label);
	n = kvio_label_count(c->run, base);
	if (n)
		snprintf(out, KVIO_LABEL_LEN, "%.*s#%d",
			 KVIO_LABEL_LEN - 5, base, (n + 1) % 1000);
	else
		snprintf(out, KVIO_LABEL_LEN, "%s", base);
}

void kvio_rec_val(struct kvio_ctx *c, const char *label, long ret, int err,
		  int has_val, __u64 val)
{
	struct kvio_run *r = c->run;
	struct kvio_step *s;

	if (r->nsteps >= KVIO_MAX_STEPS) {
		r->truncated = 1;
		return;
	}
	s = &r->steps[r->nsteps];
	kvio_label(c, label, s->label);
	s->ret = ret;
	s->err = ret < 0 ? err : 0;
	s->has_val = has_val;
	s->val = has_val ? val : 0;
	r->nsteps++;
}

void kvio_rec(struct kvio_ctx *c, const char *label, long ret, int err)
{
	kvio_rec_val(c, label, ret, err, 0, 0);
}

void kvio_env_fail(struct kvio_ctx *c, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (c->run->env_err[0])
		return;
	len = snprintf(c->run->env_err, KVIO_ENV_LEN, "%s: ",
		       c->tag ? c->tag : "setup");
	va_start(ap, fmt);
	vsnprintf(c->run->env_err + len, KVIO_ENV_LEN - len, fmt, ap);
	va_end(ap);
}

long kvio_io(struct kvio_ctx *c, const char *label, int fd,
	     unsigned long req, void *arg)
{
	long ret;

	errno = 0;
	ret = ioctl(fd, req, arg);
	kvio_rec(c, label, ret, errno);
	return ret;
}

long kvio_owner(struct kvio_ctx *c, const char *label, int fd)
{
	return kvio_io(c, label, fd, VHOST_SET_OWNER, NULL);
}

long kvio_set_u64(struct kvio_ctx *c, const char *label, int fd,
		  unsigned long req, __u64 v)
{
	return kvio_io(c, label, fd, req, &v);
}

/* Returns the value read (the sentinel if the kernel wrote nothing). */
__u64 kvio_get_u64(struct kvio_ctx *c, const char *label, int fd,
		   unsigned long req, int keep_val)
{
	__u64 v = KVIO_SENTINEL;
	long ret;

	errno = 0;
	ret = ioctl(fd, req, &v);
	kvio_rec_val(c, label, ret, errno, keep_val, v);
	return v;
}

long kvio_state(struct kvio_ctx *c, const char *label, int fd,
		unsigned long req, unsigned int idx, unsigned int num)
{
	struct vhost_vring_state s = { .index = idx, .num = num };

	return kvio_io(c, label, fd, req, &s);
}

/* Records index and num as one value: a wrong index echo shows too. */
long kvio_get_state(struct kvio_ctx *c, const char *label, int fd,
		    unsigned long req, unsigned int idx)
{
	struct vhost_vring_state s = {
		.index = idx,
		.num = (unsigned int)KVIO_SENTINEL,
	};
	long ret;

	errno = 0;
	ret = ioctl(fd, req, &s);
	kvio_rec_val(c, label, ret, errno, 1,
		     ((__u64)s.index << 32) | s.num);
	return ret;
}

long kvio_file(struct kvio_ctx *c, const char *label, int fd,
	       unsigned long req, unsigned int idx, int file)
{
	struct vhost_vring_file f = { .index = idx, .fd = file };

	return kvio_io(c, label, fd, req, &f);
}

long kvio_set_int(struct kvio_ctx *c, const char *label, int fd,
		  unsigned long req, int v)
{
	return kvio_io(c, label, fd, req, &v);
}

long kvio_addr(struct kvio_ctx *c, const char *label, int fd,
	       const struct vhost_vring_addr *a)
{
	struct vhost_vring_addr copy = *a;

	return kvio_io(c, label, fd, VHOST_SET_VRING_ADDR, &copy);
}

long kvio_mem_table(struct kvio_ctx *c, const char *label, int fd,
		    const struct vhost_memory *m)
{
	return kvio_io(c, label, fd, VHOST_SET_MEM_TABLE, (void *)m);
}
