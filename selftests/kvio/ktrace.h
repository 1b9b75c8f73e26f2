/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kvio tracepoints from a test: a tracefs instance of the test's own
 * with the events of system "kvio" enabled, read back line by line.
 */
#ifndef KVIO_KTRACE_H
#define KVIO_KTRACE_H

#include <stdbool.h>

struct kt {
	char dir[128];		/* the instance's directory; "" if none */
};

/* One event line: the event's name, and its fields as printed. */
typedef void (*kt_fn)(const char *name, const char *fields, void *arg);

int kt_open(struct kt *t);
void kt_close(struct kt *t);
int kt_clear(struct kt *t);
long kt_lost(struct kt *t);
int kt_each(struct kt *t, kt_fn fn, void *arg);
bool kt_long(const char *fields, const char *key, long *val);
bool kt_str(const char *fields, const char *key, char *val, size_t len);
bool kt_has(const char *fields, const char *word);

#endif
