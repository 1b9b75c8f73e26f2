// SPDX-License-Identifier: GPL-2.0
/*
 * The kvio tracepoints from a test (ktrace.h): an instance of tracefs
 * (instances/kvio-PID) keeps the test's events apart from any other
 * tracer's, and is removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ktrace.h"

#define KT_ROOT	"/sys/kernel/tracing"

static int kt_put(const struct kt *t, const char *file, const char *val)
{
	char path[192];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", t->dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* The first character of tracefs file @path, or 0. */
static char kt_peek(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = 0;
		close(fd);
	}
	return c;
}

/* 0, or -1 if the value could not be written. */
static int kt_poke(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * No task names in the instance: with record-cmd on, enabling an event
 * hooks the scheduler's sched_switch and sched_wakeup tracepoints and
 * disabling it unhooks them, their static keys patching the scheduler's
 * hottest code each time.  Under TCG a vCPU can then run the int3 that
 * text_poke_bp() left there after it is gone ("Oops: int3" in
 * ttwu_do_activate(); see tools/vm/run), and a test that opens an
 * instance per case (net_malformed) made that likely.  record-cmd is
 * the top level's option, which an instance copies when it is made: off
 * around the mkdir, then back.  The events' fields say whose ring it was.
 */
static int kt_mkdir(const char *dir)
{
	char was = kt_peek(KT_ROOT "/options/record-cmd");
	int ret = 0;

	if (was == '1')
		kt_poke(KT_ROOT "/options/record-cmd", "0");
	if (mkdir(dir, 0700) && errno != EEXIST)
		ret = -errno;
	if (was == '1')
		kt_poke(KT_ROOT "/options/record-cmd", "1");
	return ret;
}

/* 0, or a negative errno: no tracefs, or no kvio events. */
int kt_open(struct kt *t)
{
	struct stat st;
	int ret;

	t->dir[0] = 0;
	if (stat(KT_ROOT "/instances", &st) &&
	    mount("tracefs", KT_ROOT, "tracefs", 0, NULL))
		return -errno;
	snprintf(t->dir, sizeof(t->dir), KT_ROOT "/instances/kvio-%d",
		 (int)getpid());
	ret = kt_mkdir(t->dir);
	if (ret) {
		t->dir[0] = 0;
		return ret;
	}
	ret = kt_put(t, "buffer_size_kb", "8192");
	if (!ret)
		ret = kt_put(t, "options/record-tgid", "0");
	if (!ret)
		ret = kt_put(t, "events/kvio/enable", "1");
	if (ret)
		kt_close(t);
	return ret;
}

void kt_close(struct kt *t)
{
	if (!t->dir[0])
		return;
	kt_put(t, "events/kvio/enable", "0");
	rmdir(t->dir);
	t->dir[0] = 0;
}

/* Empties the buffer. */
int kt_clear(struct kt *t)
{
	return kt_put(t, "trace", "");
}

/* Events the buffer dropped since the instance began (overruns), or -1. */
long kt_lost(struct kt *t)
{
	char path[192], line[128];
	long lost = 0, v;
	int cpu, seen = 0;
	FILE *f;

	for (cpu = 0; cpu < 4096; cpu++) {
		snprintf(path, sizeof(path), "%s/per_cpu/cpu%d/stats", t->dir,
			 cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		seen = 1;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "overrun: %ld", &v) == 1 ||
			    sscanf(line, "dropped events: %ld", &v) == 1)
				lost += v;
		fclose(f);
	}
	return seen ? lost : -1;
}

/*
 * Calls fn for each event line, "TASK-PID [CPU] FLAGS TS: NAME: FIELDS".
 * Returns the events seen, or a negative errno.
 */
int kt_each(struct kt *t, kt_fn fn, void *arg)
{
	char path[192], *line = NULL, *p, *name;
	size_t cap = 0;
	ssize_t n;
	int count = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", t->dir);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[0] == '#')
			continue;
		if (line[n - 1] == '\n')
			line[n - 1] = 0;
		/* the timestamp ends with ": ", the name with the next */
		p = strstr(line, "]");
		p = p ? strstr(p, ": ") : NULL;
		if (!p)
			continue;
		name = p + 2;
		p = strstr(name, ": ");
		if (!p)
			continue;
		*p = 0;
		fn(name, p + 2, arg);
		count++;
	}
	free(line);
	fclose(f);
	return count;
}

/* The value of "key=N" (decimal or 0x hex) among fields. */
bool kt_long(const char *fields, const char *key, long *val)
{
	size_t len = strlen(key);
	const char *p = fields;
	char *end;

	while ((p = strstr(p, key))) {
		if ((p == fields || p[-1] == ' ') && p[len] == '=') {
			*val = strtol(p + len + 1, &end, 0);
			return end != p + len + 1;
		}
		p += len;
	}
	return false;
}

/* The value of key="TEXT" among fields. */
bool kt_str(const char *fields, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	const char *p = fields, *q;

	while ((p = strstr(p, key))) {
		if ((p == fields || p[-1] == ' ') && p[klen] == '=' &&
		    p[klen + 1] == '"') {
			p += klen + 2;
			q = strrchr(p, '"');
			if (!q || (size_t)(q - p) >= len)
				return false;
			memcpy(val, p, q - p);
			val[q - p] = 0;
			return true;
		}
		p += klen;
	}
	return false;
}

/* Is word one of the fields (a flag such as "budget")? */
bool kt_has(const char *fields, const char *word)
{
	size_t len = strlen(word);
	const char *p = fields;

	while ((p = strstr(p, word))) {
		if ((p == fields || p[-1] == ' ') && (!p[len] || p[len] == ' '))
			return true;
		p += len;
	}
	return false;
}
