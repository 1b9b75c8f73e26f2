/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every kvio harness program adds to kselftest_harness.h (include it
 * right after): KVIO_TIME_SCALE, and small helpers they share.
 *
 * The debug kernel (make check-debug: KASAN, lockdep, kmemleak, KCOV under
 * TCG) runs the same work several times slower than Debian's kernels.
 * tools/check.sh passes KVIO_TIME_SCALE (3 there, 1 elsewhere) into the
 * test VM; each program multiplies its tests' harness timeouts by it
 * before the first test runs, and its own windows ("the rings move within
 * N ms") through kvio_ms().  A bound that is the point of a test (a close()
 * latency, a soft lockup's absence) scales too: the debug kernel is slower
 * everywhere, and what the bound tells apart (milliseconds against seconds
 * stuck) stays apart at three times the limit.
 */
#ifndef KVIO_HARNESS_H
#define KVIO_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

#define KVIO_TIME_SCALE_MAX	20

/* KVIO_TIME_SCALE, 1 to KVIO_TIME_SCALE_MAX; 1 when unset or not a number. */
static inline long kvio_time_scale(void)
{
	static long scale;
	const char *s;
	char *end;

	if (scale)
		return scale;
	s = getenv("KVIO_TIME_SCALE");
	scale = s && *s ? strtol(s, &end, 10) : 1;
	if (!s || !*s || *end || scale < 1)
		scale = 1;
	if (scale > KVIO_TIME_SCALE_MAX)
		scale = KVIO_TIME_SCALE_MAX;
	return scale;
}

/* A time limit of the test's own, scaled. */
static inline long kvio_ms(long ms)
{
	return ms * kvio_time_scale();
}

/*
 * One integer from a procfs or sysfs file, decimal or 0x-prefixed hex (a
 * PCI id); -1 if it cannot be read.
 */
static inline long kvio_read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%li", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * A procfs, sysfs or debugfs file's text, at most len - 1 bytes of it,
 * into buf (terminated): its length, or -1 if it cannot be opened.
 */
static inline long kvio_read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return n;
}

/*
 * After the harness registered every test (its constructors run at
 * KSELFTEST_PRIO_TEST): each test's timeout, scaled.
 */
static void __attribute__((constructor(KSELFTEST_PRIO_TEST + 10)))
kvio_scale_timeouts(void)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout *= kvio_time_scale();
}

#endif /* KVIO_HARNESS_H */
