// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_replay: every input of the fuzzer's corpus (tools/fuzz/corpus, or
 * KVIO_FUZZ_CORPUS), run once against /dev/kvio-net as the fuzzer runs it,
 * each a KTAP result: it must finish within a minute, close its devices
 * within ten seconds, keep every ring it kept well-formed running, and
 * leave nothing in the kernel log; tools/vm/run fails the VM on a kernel
 * report too.  Without KCOV (Debian's kernels) the inputs run blind; the
 * fuzzer itself is tools/fuzz (see Documentation/testing.rst).
 */
#include <stdio.h>

#include "fz.h"

int main(void)
{
	static char corpus[512], out[512];
	struct fz_opts o = {
		.ncorpus_in = 1, .replay = 1, .ktap = 1, .no_current = 1,
		.hang_s = 60, .close_ms = 10000, .stats_s = 60,
	};

	snprintf(corpus, sizeof(corpus), "%s/tools/fuzz/corpus",
		 kvio_env_or("KVIO_REPO", "."));
	snprintf(out, sizeof(out), "%s/fuzz-replay",
		 kvio_env_or("KVIO_OUT", "/tmp"));
	o.corpus_in[0] = kvio_env_or("KVIO_FUZZ_CORPUS", corpus);
	o.out = out;
	return fz_main(&o);
}
