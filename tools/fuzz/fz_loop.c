// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: the corpus and the loops.  Fuzzing: new programs and
 * mutations of corpus inputs, the ones that reach new kvio code (a site
 * or an edge between two) join the corpus.  Replay: every input of the
 * corpus once, as KTAP results; with --minimize, the smallest set of them
 * that covers what they all cover.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fz_manager.h"

#define FZ_STATS_FMT \
	"kvio_fuzz: %s%ld s, %ld executions (%.1f/s), corpus %u, kvio PCs %u of %u, edges %u, well-formed %.0f%%, findings %ld\n"
#define FZ_COST_FMT \
	"# kvio_fuzz: per input: %llu ms in all, %llu ms running, %llu ms collecting %llu PCs\n"

static int fz_corpus_add(struct fz_mgr *m, const __u8 *p, unsigned int len,
			 const char *name)
{
	struct fz_entry *e;

	if (m->ncorpus == m->corpus_cap) {
		m->corpus_cap = m->corpus_cap ? 2 * m->corpus_cap : 256;
		e = realloc(m->corpus, m->corpus_cap * sizeof(*e));
		if (!e)
			return -1;
		m->corpus = e;
	}
	e = &m->corpus[m->ncorpus];
	e->data = malloc(len ? len : 1);
	if (!e->data)
		return -1;
	memcpy(e->data, p, len);
	e->len = len;
	e->sites = 0;
	snprintf(e->name, sizeof(e->name), "%s", name);
	m->ncorpus++;
	return 0;
}

/* An input file, or the input of a <out>/current file. */
static int fz_read_input(const char *path, __u8 *buf, unsigned int *len)
{
	static struct fz_current c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, &c, sizeof(c));
	close(fd);
	if (n < 0)
		return -1;
	if ((size_t)n >= offsetof(struct fz_current, input) &&
	    c.magic == FZ_CURRENT_MAGIC && c.len <= FZ_MAX_INPUT) {
		memcpy(buf, c.input, c.len);
		*len = c.len;
		return 0;
	}
	if (n > FZ_MAX_INPUT)
		n = FZ_MAX_INPUT;
	memcpy(buf, &c, n);
	*len = n;
	return 0;
}

static int fz_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

static int fz_corpus_load(struct fz_mgr *m, const char *dir)
{
	__u8 buf[FZ_MAX_INPUT];
	char *names[8192], path[600];
	unsigned int n = 0, i, len;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) && n < ARRAY_SIZE(names))
		if (de->d_name[0] != '.' && !strstr(de->d_name, ".txt"))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), fz_name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!fz_read_input(path, buf, &len))
			fz_corpus_add(m, buf, len, names[i]);
		free(names[i]);
	}
	return 0;
}

static void fz_stats(struct fz_mgr *m, const char *what)
{
	long ms = fz_elapsed_ms(m);

	printf(FZ_STATS_FMT,
	       what, ms / 1000, m->execs, ms ? m->execs * 1000.0 / ms : 0.0,
	       m->ncorpus, m->nsites, fz_sites_total(), m->nedges,
	       m->execs ? 100.0 * m->clean / m->execs : 0.0, m->findings);
	if (m->execs)
		printf(FZ_COST_FMT,
		       m->us_run / 1000 / m->execs, m->us_input / 1000 / m->execs,
		       m->us_cover / 1000 / m->execs, m->pcs / m->execs);
	fflush(stdout);
}

/* The covered sites, one per line, for the report. */
static void fz_dump_cover(struct fz_mgr *m)
{
	char path[600], name[256];
	unsigned int i;
	FILE *f;

	if (!m->kcov)
		return;
	snprintf(path, sizeof(path), "%s/cover.txt", m->outdir);
	f = fopen(path, "w");
	for (i = 0; f && i < fz_sites_total(); i++)
		fprintf(f, "%c %s\n", m->sites[i / 8] >> (i % 8) & 1 ? '+' : '-',
			fz_site_name(i, name, sizeof(name)));
	if (f)
		fclose(f);
}

/* Replay */

static void fz_minimize(struct fz_mgr *m, unsigned char (*cov)[FZ_MAX_SITES / 8])
{
	unsigned char seen[FZ_MAX_SITES / 8] = { 0 };
	unsigned int i, j, gain, bgain, kept = 0;
	int best;

	for (;;) {
		best = -1;
		bgain = 0;
		for (i = 0; i < m->ncorpus; i++) {
			for (gain = 0, j = 0; j < sizeof(seen); j++)
				gain += __builtin_popcount(cov[i][j] & ~seen[j]);
			if (gain > bgain || (gain && gain == bgain &&
					     m->corpus[i].len < m->corpus[best].len)) {
				best = i;
				bgain = gain;
			}
		}
		if (best < 0)
			break;
		for (j = 0; j < sizeof(seen); j++)
			seen[j] |= cov[best][j];
		fz_write_file(m->o->minimize, m->corpus[best].name,
			      m->corpus[best].data, m->corpus[best].len);
		memset(cov[best], 0, sizeof(cov[best]));
		kept++;
	}
	printf("# kvio_fuzz: kept %u of %u inputs in %s\n", kept, m->ncorpus,
	       m->o->minimize);
}

static int fz_replay(struct fz_mgr *m)
{
	unsigned char (*cov)[FZ_MAX_SITES / 8];
	unsigned int i, fail = 0;
	char why[1024];
	int r;

	cov = calloc(m->ncorpus + 1, sizeof(*cov));
	if (!cov)
		return 1;
	printf("TAP version 13\n1..%u\n", m->ncorpus);
	for (i = 0; i < m->ncorpus; i++) {
		r = fz_run(m, m->corpus[i].data, m->corpus[i].len, why,
			   sizeof(why));
		if (r == FZ_R_FATAL) {
			printf("Bail out! %s\n", why[0] ? why : "executor");
			return 1;
		}
		if (m->kcov) {
			memcpy(cov[i], m->shm->sites, sizeof(cov[i]));
			fz_merge(m);
		}
		if (r != FZ_R_OK) {
			fail++;
			fz_save_finding(m, m->corpus[i].data, m->corpus[i].len, why);
		}
		printf("%sok %u fuzz_replay.%s%s%s\n", r ? "not " : "", i + 1,
		       m->corpus[i].name, r ? " # " : "", r ? why : "");
		fflush(stdout);
	}
	fz_stats(m, "replay: ");
	fz_dump_cover(m);
	if (m->o->minimize && m->kcov)
		fz_minimize(m, cov);
	free(cov);
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:0 error:0\n",
	       m->ncorpus - fail, fail);
	return fail ? 1 : 0;
}

/* Fuzzing */

static const struct fz_entry *fz_pick_entry(struct fz_mgr *m)
{
	unsigned int n = m->ncorpus;

	if (n > 32 && fz_rand(&m->rng) % 2)
		return &m->corpus[n - 1 - fz_rand(&m->rng) % 32];
	return &m->corpus[fz_rand(&m->rng) % n];
}

static unsigned int fz_next_input(struct fz_mgr *m, __u8 *buf)
{
	const struct fz_entry *e, *o;

	if (!m->ncorpus || fz_rand(&m->rng) % 10 < 3)
		return fz_generate(buf, &m->rng);
	e = fz_pick_entry(m);
	o = fz_pick_entry(m);
	memcpy(buf, e->data, e->len);
	return fz_mutate(buf, e->len, o->data, o->len, &m->rng);
}

static void fz_keep(struct fz_mgr *m, const __u8 *buf, unsigned int len)
{
	char name[64];

	snprintf(name, sizeof(name), "c-%016llx",
		 (unsigned long long)fz_hash(buf, len));
	if (fz_corpus_add(m, buf, len, name))
		return;
	if (m->o->corpus_out)
		fz_write_file(m->o->corpus_out, name, buf, len);
}

static int fz_done(struct fz_mgr *m)
{
	return (m->o->execs && m->execs >= m->o->execs) ||
	       (m->o->seconds && fz_elapsed_ms(m) >= m->o->seconds * 1000);
}

static int fz_fuzz(struct fz_mgr *m)
{
	static __u8 buf[FZ_MAX_INPUT];
	long next_stats = m->o->stats_s * 1000L;
	char why[1024];
	unsigned int len, i;
	int r;

	if (m->o->ktap)
		printf("TAP version 13\n1..1\n");
	/* what the corpus covers already is not news */
	for (i = 0; m->kcov && i < m->ncorpus; i++)
		if (fz_run(m, m->corpus[i].data, m->corpus[i].len, why,
			   sizeof(why)) == FZ_R_OK)
			fz_merge(m);
	fz_stats(m, "corpus: ");
	while (!fz_done(m)) {
		len = fz_next_input(m, buf);
		r = fz_run(m, buf, len, why, sizeof(why));
		if (r == FZ_R_FATAL)
			return 2;
		if (r != FZ_R_OK) {
			fz_save_finding(m, buf, len, why);
			if (!m->o->keep_going)
				break;
			continue;
		}
		if (m->kcov && fz_merge(m))
			fz_keep(m, buf, len);
		if (fz_elapsed_ms(m) >= next_stats) {
			fz_stats(m, "");
			fz_dump_cover(m);
			next_stats += m->o->stats_s * 1000L;
		}
	}
	fz_stats(m, "done: ");
	fz_dump_cover(m);
	if (m->o->ktap)
		printf("%sok 1 kvio_fuzz # %ld executions, %ld findings, kvio PCs %u of %u\n",
		       m->findings ? "not " : "", m->execs, m->findings,
		       m->nsites, fz_sites_total());
	return m->findings ? 1 : 0;
}

int fz_main(const struct fz_opts *o)
{
	static struct fz_mgr m;
	int i, ret;

	if (!kvio_is_chardev(ndp_dev_path())) {
		printf("%s1..0 # SKIP %s is missing: load kvio_net\n",
		       o->ktap ? "TAP version 13\n" : "", ndp_dev_path());
		return o->ktap ? 4 : 1;
	}
	if (fz_mgr_init(&m, o))
		return 1;
	for (i = 0; i < o->ncorpus_in; i++)
		fz_corpus_load(&m, o->corpus_in[i]);
	printf("# kvio_fuzz: %s, %u corpus inputs, %s coverage (%u kvio sites), seed %#llx\n",
	       o->replay ? "replay" : "fuzzing", m.ncorpus,
	       m.kcov ? "KCOV" : "no (blind)", fz_sites_total(),
	       (unsigned long long)m.rng);
	fflush(stdout);
	ret = o->replay ? fz_replay(&m) : fz_fuzz(&m);
	fz_mgr_fini(&m);
	return ret;
}
