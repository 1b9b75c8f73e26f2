// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: a coverage-guided fuzzer for /dev/kvio-net, the VMM and the
 * guest at once.  See fz.h for what an input is, and
 * Documentation/testing.rst for how to run it.
 *
 *   kvio_fuzz [options]                 fuzz (KCOV when the kernel has it)
 *   kvio_fuzz --replay [--corpus DIR]   run every corpus input once (KTAP)
 *   kvio_fuzz --show FILE               print an input as operations
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz_manager.h"

static void fz_usage(FILE *f)
{
	fprintf(f,
		"usage: kvio_fuzz [--replay] [--corpus DIR]... [--corpus-out DIR] [--out DIR]\n"
		"                 [--ko DIR] [--execs N] [--time SEC] [--hang SEC] [--close-ms MS]\n"
		"                 [--seed N] [--stats SEC] [--minimize DIR] [--keep-going] [--blind]\n"
		"                 [--no-current] [--ktap]\n"
		"       kvio_fuzz --show FILE\n");
}

static int fz_show_file(const char *path)
{
	static __u8 buf[sizeof(struct fz_current)];
	struct fz_current *c = (void *)buf;
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n >= offsetof(struct fz_current, input) &&
	    c->magic == FZ_CURRENT_MAGIC && c->len <= FZ_MAX_INPUT) {
		printf("# started after %llu ms, %llu executions\n",
		       (unsigned long long)c->ms, (unsigned long long)c->execs);
		fz_show(c->input, c->len, stdout);
		if (n == sizeof(*c) && c->prev_len && c->prev_len <= FZ_MAX_INPUT) {
			printf("# the input before it (its devices may have been closing):\n");
			fz_show(c->prev, c->prev_len, stdout);
		}
		return 0;
	}
	fz_show(buf, n > FZ_MAX_INPUT ? FZ_MAX_INPUT : n, stdout);
	return 0;
}

static void fz_defaults(struct fz_opts *o)
{
	static char out[512], corpus[512];
	const char *vm_out = getenv("KVIO_OUT");

	if (vm_out)
		snprintf(out, sizeof(out), "%s/fuzz", vm_out);
	else
		snprintf(out, sizeof(out), "build/fuzz/crashes");
	snprintf(corpus, sizeof(corpus), "%s/tools/fuzz/corpus",
		 kvio_env_or("KVIO_REPO", "."));
	o->out = out;
	o->corpus_in[0] = corpus;
	o->hang_s = 30;
	o->close_ms = 10000;
	o->stats_s = 60;
}

static const struct option fz_lopts[] = {
	{ "replay", no_argument, NULL, 'r' },
	{ "corpus", required_argument, NULL, 'c' },
	{ "corpus-out", required_argument, NULL, 'C' },
	{ "out", required_argument, NULL, 'o' },
	{ "ko", required_argument, NULL, 'k' },
	{ "execs", required_argument, NULL, 'n' },
	{ "time", required_argument, NULL, 't' },
	{ "hang", required_argument, NULL, 'H' },
	{ "close-ms", required_argument, NULL, 'L' },
	{ "seed", required_argument, NULL, 's' },
	{ "stats", required_argument, NULL, 'S' },
	{ "minimize", required_argument, NULL, 'm' },
	{ "keep-going", no_argument, NULL, 'g' },
	{ "blind", no_argument, NULL, 'b' },
	{ "no-current", no_argument, NULL, 'N' },
	{ "ktap", no_argument, NULL, 'K' },
	{ "show", required_argument, NULL, 'w' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* The options without an argument but --show. */
static int fz_flag(struct fz_opts *o, int c, int *ret)
{
	switch (c) {
	case 'g':
		o->keep_going = 1;
		return 0;
	case 'b':
		o->blind = 1;
		return 0;
	case 'N':
		o->no_current = 1;
		return 0;
	case 'K':
		o->ktap = 1;
		return 0;
	case 'w':
		*ret = fz_show_file(optarg);
		return 1;
	case 'h':
		fz_usage(stdout);
		*ret = 0;
		return 1;
	default:
		fz_usage(stderr);
		*ret = 2;
		return 1;
	}
}

/* One option: 0, 1 to stop with status 0 (help, --show), -1 on error. */
static int fz_opt(struct fz_opts *o, int c, int *user_corpus, int *ret)
{
	switch (c) {
	case 'r':
		o->replay = 1;
		o->ktap = 1;
		break;
	case 'c':
		if (!(*user_corpus)++)
			o->ncorpus_in = 0;
		if (o->ncorpus_in < 4)
			o->corpus_in[o->ncorpus_in++] = optarg;
		break;
	case 'C':
		o->corpus_out = optarg;
		break;
	case 'o':
		o->out = optarg;
		break;
	case 'k':
		o->kodir = optarg;
		break;
	case 'n':
		o->execs = strtol(optarg, NULL, 0);
		break;
	case 't':
		o->seconds = strtol(optarg, NULL, 0);
		break;
	case 'H':
		o->hang_s = strtol(optarg, NULL, 0);
		break;
	case 'L':
		o->close_ms = strtol(optarg, NULL, 0);
		break;
	case 's':
		o->seed = strtoull(optarg, NULL, 0);
		break;
	case 'S':
		o->stats_s = strtol(optarg, NULL, 0);
		break;
	case 'm':
		o->minimize = optarg;
		break;
	default:
		return fz_flag(o, c, ret);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fz_opts o = { 0 };
	int c, user_corpus = 0, ret = 0;

	fz_defaults(&o);
	while ((c = getopt_long(argc, argv, "", fz_lopts, NULL)) != -1)
		if (fz_opt(&o, c, &user_corpus, &ret))
			return ret;
	if (!user_corpus)
		o.ncorpus_in = 1;
	return fz_main(&o);
}
