// SPDX-License-Identifier: GPL-2.0
/*
 * vhost_diff: differential control-plane test, upstream vhost-net vs kvio-net.
 *
 * Every scenario (see vhost_diff.h) runs twice, each time in a fresh child
 * process: first on the reference (/dev/vhost-net), then on the device
 * under test (/dev/kvio-net).  The two recordings travel back through a
 * shared mapping and must match step by step: return value, errno and,
 * for steps that read data, the value.  A difference is accepted only if
 * Documentation/differences.rst lists it as ".. kvio-diff: SCENARIO/STEP".
 *
 * Environment:
 *   KVIO_DIFF_DOC   the differences document; default
 *                   $KVIO_REPO/Documentation/differences.rst
 *   KVIO_DIFF_REF   reference node (default /dev/vhost-net)
 *   KVIO_DIFF_DEV   node under test (default /dev/kvio-net)
 *   KVIO_DIFF_SELF  =1: compare the reference with itself (checks that the
 *                   scenarios are deterministic; the document is not used)
 *   KVIO_DIFF_DUMP  =1: print every recorded step of both runs
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "vhost_diff.h"

#define RUN_TIMEOUT	20
#define MSG_LEN		1024

#define DIAG(fmt, ...)	fprintf(stderr, "# " fmt "\n", ##__VA_ARGS__)

static const char *errno_name(int e)
{
	static const struct {
		int e;
		const char *name;
	} names[] = {
#define E(x) { x, #x }
		E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO),
		E(E2BIG), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES),
		E(EFAULT), E(EBUSY), E(EEXIST), E(ENODEV), E(EINVAL),
		E(ENOSPC), E(ESPIPE), E(ERANGE), E(ENOTTY),
		E(ENOBUFS), E(ENOTSOCK), E(EOPNOTSUPP), E(EPFNOSUPPORT),
		E(ESOCKTNOSUPPORT), E(EBADFD), E(EOVERFLOW), E(EPIPE),
		E(ENOTCONN), E(EPROTONOSUPPORT), E(EAFNOSUPPORT),
#undef E
	};
	static char buf[16];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == e)
			return names[i].name;
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

static void step_str(const struct kvio_step *s, char *out, size_t len)
{
	int n;

	n = snprintf(out, len, "ret=%ld", s->ret);
	if (s->ret < 0)
		n += snprintf(out + n, len - n, " errno=%s", errno_name(s->err));
	if (s->has_val)
		snprintf(out + n, len - n, " val=%#llx",
			 (unsigned long long)s->val);
}

/* Reads the differences document; NULL with a reason in err. */
static char *doc_load(char *err, size_t len)
{
	const char *repo = getenv("KVIO_REPO");
	const char *path = getenv("KVIO_DIFF_DOC");
	char buf[512];
	char *text;
	long size;
	FILE *f;

	if (!path || !*path) {
		if (!repo || !*repo) {
			snprintf(err, len, "neither KVIO_DIFF_DOC nor KVIO_REPO is set");
			return NULL;
		}
		snprintf(buf, sizeof(buf), "%s/Documentation/differences.rst",
			 repo);
		path = buf;
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, len, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, size + 1);
	if (!text || fread(text, 1, size, f) != (size_t)size) {
		snprintf(err, len, "cannot read %s", path);
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/*
 * Looks up ".. kvio-diff: SCENARIO/STEP [valmask=HEX]" in the document.
 * Returns 0 if the step is not listed, 1 if any difference is allowed,
 * 2 if only the value bits in *mask may differ.
 */
static int doc_entry(const char *doc, const char *scen, const char *step,
		     unsigned long long *mask)
{
	static const char tag[] = ".. kvio-diff:";
	char want[2 * KVIO_LABEL_LEN + 2];
	const char *p;
	size_t wl;

	if (!doc)
		return 0;
	wl = snprintf(want, sizeof(want), "%s/%s", scen, step);
	for (p = doc; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		p += strspn(p, " \t");
		if (strncmp(p, tag, sizeof(tag) - 1))
			continue;
		p += sizeof(tag) - 1;
		p += strspn(p, " \t");
		if (strncmp(p, want, wl) || !strchr(" \t\r\n", p[wl]))
			continue;
		p += wl + strspn(p + wl, " \t");
		if (sscanf(p, "valmask=%llx", mask) == 1)
			return 2;
		return 1;
	}
	return 0;
}

static int doc_allows(const char *doc, const char *scen,
		      const struct kvio_step *x, const struct kvio_step *y)
{
	unsigned long long mask = 0;

	switch (doc_entry(doc, scen, x->label, &mask)) {
	case 1:
		return 1;
	case 2:
		return x->ret == y->ret && x->err == y->err &&
		       x->has_val == y->has_val && !((x->val ^ y->val) & ~mask);
	default:
		return 0;
	}
}

/* A dummy link with a macvtap on top; returns the macvtap ifindex. */
static int macvtap_create(char *dummy, size_t len)
{
	char mvt[IFNAMSIZ];

	snprintf(dummy, len, "kvd%d", (int)getpid());
	snprintf(mvt, sizeof(mvt), "kvm%d", (int)getpid());
	if (kvio_run_cmd("ip link add %s type dummy", dummy))
		return 0;
	if (kvio_run_cmd("ip link add link %s name %s type macvtap mode bridge",
			 dummy, mvt) ||
	    kvio_run_cmd("ip link set %s up", dummy) ||
	    kvio_run_cmd("ip link set %s up", mvt))
		return 0;
	return (int)if_nametoindex(mvt);
}

static void dump_run(const char *scen, const char *who,
		     const struct kvio_run *r)
{
	char s[96];
	int i;

	for (i = 0; i < r->nsteps; i++) {
		step_str(&r->steps[i], s, sizeof(s));
		DIAG("%s %s/%s: %s", who, scen, r->steps[i].label, s);
	}
}

static int steps_equal(const struct kvio_step *a, const struct kvio_step *b)
{
	return a->ret == b->ret && a->err == b->err &&
	       a->has_val == b->has_val && a->val == b->val;
}

/* Returns the number of differences the document does not allow. */
static int compare_runs(const char *scen, const struct kvio_run *ref,
			const struct kvio_run *dev, const char *doc,
			const char *ref_name, const char *dev_name)
{
	int i, n = ref->nsteps > dev->nsteps ? ref->nsteps : dev->nsteps;
	unsigned long long mask;
	char a[96], b[96];
	int bad = 0;

	for (i = 0; i < n; i++) {
		const struct kvio_step *x = i < ref->nsteps ? &ref->steps[i] : NULL;
		const struct kvio_step *y = i < dev->nsteps ? &dev->steps[i] : NULL;
		const char *label = x ? x->label : y->label;

		if (!x || !y || strcmp(x->label, y->label)) {
			DIAG("FAIL %s: step %d: sequences diverge: %s has '%s', %s has '%s'",
			     scen, i, ref_name, x ? x->label : "(end)",
			     dev_name, y ? y->label : "(end)");
			return bad + 1;
		}
		if (steps_equal(x, y)) {
			if (doc_entry(doc, scen, label, &mask))
				DIAG("note %s/%s: listed as a difference but now matches",
				     scen, label);
			continue;
		}
		step_str(x, a, sizeof(a));
		step_str(y, b, sizeof(b));
		if (doc_allows(doc, scen, x, y)) {
			DIAG("allowed %s/%s: %s %s vs %s %s (Documentation/differences.rst)",
			     scen, label, ref_name, a, dev_name, b);
			continue;
		}
		DIAG("FAIL %s/%s: %s %s vs %s %s", scen, label, ref_name, a,
		     dev_name, b);
		bad++;
	}
	return bad;
}

FIXTURE(vhost) {
	int unused;
};

FIXTURE_VARIANT(vhost) {
	const char *name;
	void (*fn)(struct kvio_ctx *c);
	unsigned int needs;
};

FIXTURE_SETUP(vhost)
{
}

FIXTURE_TEARDOWN(vhost)
{
}

/* One variant per scenario: KTAP names them vhost.<scenario>.diff. */
#define KVIO_SC(n)	.name = #n, .fn = kvio_sc_##n

FIXTURE_VARIANT_ADD(vhost, features_get) { KVIO_SC(features_get) };
FIXTURE_VARIANT_ADD(vhost, features_set_valid) { KVIO_SC(features_set_valid) };
FIXTURE_VARIANT_ADD(vhost, features_set_offered) { KVIO_SC(features_set_offered) };
FIXTURE_VARIANT_ADD(vhost, features_access_platform) { KVIO_SC(features_access_platform) };
FIXTURE_VARIANT_ADD(vhost, features_unknown_bits) { KVIO_SC(features_unknown_bits) };
FIXTURE_VARIANT_ADD(vhost, features_log_all) { KVIO_SC(features_log_all) };
FIXTURE_VARIANT_ADD(vhost, features_log_all_active) { KVIO_SC(features_log_all_active) };
FIXTURE_VARIANT_ADD(vhost, features_net_hdr) { KVIO_SC(features_net_hdr) };
FIXTURE_VARIANT_ADD(vhost, features_unowned) { KVIO_SC(features_unowned) };
FIXTURE_VARIANT_ADD(vhost, features_bad_ptr) { KVIO_SC(features_bad_ptr) };
FIXTURE_VARIANT_ADD(vhost, backend_features) { KVIO_SC(backend_features) };
FIXTURE_VARIANT_ADD(vhost, owner_twice) { KVIO_SC(owner_twice) };
FIXTURE_VARIANT_ADD(vhost, owner_reset_unowned) { KVIO_SC(owner_reset_unowned) };
FIXTURE_VARIANT_ADD(vhost, owner_reset_every) { KVIO_SC(owner_reset_every) };
FIXTURE_VARIANT_ADD(vhost, owner_reset_state) { KVIO_SC(owner_reset_state) };
FIXTURE_VARIANT_ADD(vhost, owner_none_every) { KVIO_SC(owner_none_every) };
FIXTURE_VARIANT_ADD(vhost, owner_child_every) { KVIO_SC(owner_child_every) };
FIXTURE_VARIANT_ADD(vhost, owner_exited) { KVIO_SC(owner_exited) };
FIXTURE_VARIANT_ADD(vhost, owner_exec) { KVIO_SC(owner_exec) };
FIXTURE_VARIANT_ADD(vhost, owner_thread_peer) { KVIO_SC(owner_thread_peer) };
FIXTURE_VARIANT_ADD(vhost, dev_dup_fd) { KVIO_SC(dev_dup_fd) };
FIXTURE_VARIANT_ADD(vhost, dev_open_rdonly) { KVIO_SC(dev_open_rdonly) };
FIXTURE_VARIANT_ADD(vhost, dev_close_reopen_full) { KVIO_SC(dev_close_reopen_full) };
FIXTURE_VARIANT_ADD(vhost, dev_two_close_ab) { KVIO_SC(dev_two_close_ab) };
FIXTURE_VARIANT_ADD(vhost, dev_two_close_ba) { KVIO_SC(dev_two_close_ba) };
FIXTURE_VARIANT_ADD(vhost, dev_two_same_tap) { KVIO_SC(dev_two_same_tap) };
FIXTURE_VARIANT_ADD(vhost, dev_poll) { KVIO_SC(dev_poll) };
FIXTURE_VARIANT_ADD(vhost, dev_read_write) { KVIO_SC(dev_read_write) };
FIXTURE_VARIANT_ADD(vhost, iotlb_messages) { KVIO_SC(iotlb_messages) };
FIXTURE_VARIANT_ADD(vhost, iotlb_cleared) { KVIO_SC(iotlb_cleared) };
FIXTURE_VARIANT_ADD(vhost, iotlb_reset_owner) { KVIO_SC(iotlb_reset_owner) };
FIXTURE_VARIANT_ADD(vhost, iotlb_miss_v1) { KVIO_SC(iotlb_miss_v1) };
FIXTURE_VARIANT_ADD(vhost, iotlb_miss_v2) { KVIO_SC(iotlb_miss_v2) };
FIXTURE_VARIANT_ADD(vhost, iotlb_read_sizes) { KVIO_SC(iotlb_read_sizes) };
FIXTURE_VARIANT_ADD(vhost, iotlb_blocking_read) { KVIO_SC(iotlb_blocking_read) };
FIXTURE_VARIANT_ADD(vhost, iotlb_invalidate_running) { KVIO_SC(iotlb_invalidate_running) };
FIXTURE_VARIANT_ADD(vhost, iotlb_refeature_running) { KVIO_SC(iotlb_refeature_running) };
FIXTURE_VARIANT_ADD(vhost, iotlb_perm) { KVIO_SC(iotlb_perm) };
FIXTURE_VARIANT_ADD(vhost, dev_mmap_seek) { KVIO_SC(dev_mmap_seek) };
FIXTURE_VARIANT_ADD(vhost, ioctl_vfs) { KVIO_SC(ioctl_vfs) };
FIXTURE_VARIANT_ADD(vhost, ioctl_unknown) { KVIO_SC(ioctl_unknown) };
FIXTURE_VARIANT_ADD(vhost, ioctl_unknown_unowned) { KVIO_SC(ioctl_unknown_unowned) };
FIXTURE_VARIANT_ADD(vhost, ioctl_worker) { KVIO_SC(ioctl_worker) };
FIXTURE_VARIANT_ADD(vhost, ioctl_fork_owner) { KVIO_SC(ioctl_fork_owner) };
FIXTURE_VARIANT_ADD(vhost, mem_empty) { KVIO_SC(mem_empty) };
FIXTURE_VARIANT_ADD(vhost, mem_one) { KVIO_SC(mem_one) };
FIXTURE_VARIANT_ADD(vhost, mem_many) { KVIO_SC(mem_many) };
FIXTURE_VARIANT_ADD(vhost, mem_max) { KVIO_SC(mem_max) };
FIXTURE_VARIANT_ADD(vhost, mem_too_many) { KVIO_SC(mem_too_many) };
FIXTURE_VARIANT_ADD(vhost, mem_padding) { KVIO_SC(mem_padding) };
FIXTURE_VARIANT_ADD(vhost, mem_overlap) { KVIO_SC(mem_overlap) };
FIXTURE_VARIANT_ADD(vhost, mem_zero_size) { KVIO_SC(mem_zero_size) };
FIXTURE_VARIANT_ADD(vhost, mem_wrap) { KVIO_SC(mem_wrap) };
FIXTURE_VARIANT_ADD(vhost, mem_uaddr_bad) { KVIO_SC(mem_uaddr_bad) };
FIXTURE_VARIANT_ADD(vhost, mem_uaddr_bad_active) { KVIO_SC(mem_uaddr_bad_active) };
FIXTURE_VARIANT_ADD(vhost, mem_bad_ptr) { KVIO_SC(mem_bad_ptr) };
FIXTURE_VARIANT_ADD(vhost, mem_replace_active) { KVIO_SC(mem_replace_active) };
FIXTURE_VARIANT_ADD(vhost, log_base) { KVIO_SC(log_base) };
FIXTURE_VARIANT_ADD(vhost, log_base_active) { KVIO_SC(log_base_active) };
FIXTURE_VARIANT_ADD(vhost, log_fd) { KVIO_SC(log_fd) };
FIXTURE_VARIANT_ADD(vhost, vring_num_values) { KVIO_SC(vring_num_values) };
FIXTURE_VARIANT_ADD(vhost, vring_num_active) { KVIO_SC(vring_num_active) };
FIXTURE_VARIANT_ADD(vhost, vring_index) { KVIO_SC(vring_index) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_aligned) { KVIO_SC(vring_addr_aligned) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_unaligned) { KVIO_SC(vring_addr_unaligned) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_flags) { KVIO_SC(vring_addr_flags) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_kernel) { KVIO_SC(vring_addr_kernel) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_unmapped) { KVIO_SC(vring_addr_unmapped) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_readonly) { KVIO_SC(vring_addr_readonly) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_active) { KVIO_SC(vring_addr_active) };
FIXTURE_VARIANT_ADD(vhost, vring_addr_log_active) { KVIO_SC(vring_addr_log_active) };
FIXTURE_VARIANT_ADD(vhost, vring_base_values) { KVIO_SC(vring_base_values) };
FIXTURE_VARIANT_ADD(vhost, vring_base_active) { KVIO_SC(vring_base_active) };
FIXTURE_VARIANT_ADD(vhost, vring_kick_fds) { KVIO_SC(vring_kick_fds) };
FIXTURE_VARIANT_ADD(vhost, vring_call_fds) { KVIO_SC(vring_call_fds) };
FIXTURE_VARIANT_ADD(vhost, vring_err_fds) { KVIO_SC(vring_err_fds) };
FIXTURE_VARIANT_ADD(vhost, vring_files_active) { KVIO_SC(vring_files_active) };
FIXTURE_VARIANT_ADD(vhost, vring_endian) { KVIO_SC(vring_endian) };
FIXTURE_VARIANT_ADD(vhost, vring_busyloop) { KVIO_SC(vring_busyloop) };
FIXTURE_VARIANT_ADD(vhost, vring_bad_ptr) { KVIO_SC(vring_bad_ptr) };
FIXTURE_VARIANT_ADD(vhost, backend_tap) { KVIO_SC(backend_tap) };
FIXTURE_VARIANT_ADD(vhost, backend_tap_plain) { KVIO_SC(backend_tap_plain) };
FIXTURE_VARIANT_ADD(vhost, backend_tun_unattached) { KVIO_SC(backend_tun_unattached) };
FIXTURE_VARIANT_ADD(vhost, backend_tun_l3) { KVIO_SC(backend_tun_l3) };
FIXTURE_VARIANT_ADD(vhost, backend_tap_detached_queue) { KVIO_SC(backend_tap_detached_queue) };
FIXTURE_VARIANT_ADD(vhost, backend_macvtap) {
	KVIO_SC(backend_macvtap),
	.needs = KVIO_NEED_MACVTAP,
};

FIXTURE_VARIANT_ADD(vhost, backend_packet) { KVIO_SC(backend_packet) };
FIXTURE_VARIANT_ADD(vhost, backend_inet_sockets) { KVIO_SC(backend_inet_sockets) };
FIXTURE_VARIANT_ADD(vhost, backend_non_sockets) { KVIO_SC(backend_non_sockets) };
FIXTURE_VARIANT_ADD(vhost, backend_detach_idle) { KVIO_SC(backend_detach_idle) };
FIXTURE_VARIANT_ADD(vhost, backend_detach_attached) { KVIO_SC(backend_detach_attached) };
FIXTURE_VARIANT_ADD(vhost, backend_index) { KVIO_SC(backend_index) };
FIXTURE_VARIANT_ADD(vhost, backend_before_mem) { KVIO_SC(backend_before_mem) };
FIXTURE_VARIANT_ADD(vhost, backend_before_addr) { KVIO_SC(backend_before_addr) };
FIXTURE_VARIANT_ADD(vhost, backend_reattach_same) { KVIO_SC(backend_reattach_same) };
FIXTURE_VARIANT_ADD(vhost, backend_same_fd_both) { KVIO_SC(backend_same_fd_both) };
FIXTURE_VARIANT_ADD(vhost, backend_switch) { KVIO_SC(backend_switch) };
FIXTURE_VARIANT_ADD(vhost, backend_tap_closed) { KVIO_SC(backend_tap_closed) };
FIXTURE_VARIANT_ADD(vhost, backend_bad_ptr) { KVIO_SC(backend_bad_ptr) };

/*
 * Both recordings live in a memfd, not in anonymous shared memory, so that
 * a scenario whose process execs can map them again.
 */
static struct kvio_run *runs_map(int *fd)
{
	size_t size = 2 * sizeof(struct kvio_run);
	void *p;

	*fd = memfd_create("kvio-diff-runs", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	p = MAP_FAILED;
	if (!ftruncate(*fd, size))
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED) {
		close(*fd);
		return NULL;
	}
	return p;
}

TEST_F_TIMEOUT(vhost, diff, 90)
{
	const char *ref = kvio_env_or("KVIO_DIFF_REF", "/dev/vhost-net");
	const int self_mode = kvio_env_true("KVIO_DIFF_SELF");
	const char *dev = self_mode ? ref : kvio_env_or("KVIO_DIFF_DEV", "/dev/kvio-net");
	const char *dev_name = self_mode ? "reference-again" : "kvio";
	char why[MSG_LEN], dummy[IFNAMSIZ] = "";
	int macvtap = 0, ref_bad, dev_bad = 1, dev_ok, run_fd;
	struct kvio_run *runs;
	struct kvio_ctx base;
	char *doc = NULL;

	if (!self_mode) {
		doc = doc_load(why, sizeof(why));
		ASSERT_NE(NULL, doc) TH_LOG("%s", why);
	}
	ASSERT_TRUE(kvio_is_chardev(ref))
		TH_LOG("reference %s is missing: load vhost_net", ref);
	runs = runs_map(&run_fd);
	ASSERT_NE(NULL, runs) TH_LOG("memfd for the recordings: %s",
				     strerror(errno));
	if (variant->needs & KVIO_NEED_MACVTAP) {
		macvtap = macvtap_create(dummy, sizeof(dummy));
		if (!macvtap)
			kvio_run_cmd("ip link del %s", dummy);
		ASSERT_NE(0, macvtap) TH_LOG("cannot create a macvtap link");
	}

	base = (struct kvio_ctx){
		.run = &runs[0], .run_fd = run_fd, .run_off = 0,
		.path = ref, .macvtap_ifindex = macvtap,
	};
	ref_bad = kvio_run_child(variant->fn, &base, RUN_TIMEOUT, why,
				 sizeof(why));
	if (ref_bad)
		DIAG("FAIL %s: reference run on %s: %s", variant->name, ref, why);
	dev_ok = kvio_is_chardev(dev);
	base.run = &runs[1];
	base.run_off = sizeof(*runs);
	base.path = dev;
	if (!dev_ok)
		DIAG("FAIL %s: %s is missing", variant->name, dev);
	else if (kvio_run_child(variant->fn, &base, RUN_TIMEOUT, why,
				sizeof(why)))
		DIAG("FAIL %s: %s run on %s: %s", variant->name, dev_name, dev,
		     why);
	else
		dev_bad = 0;
	if (macvtap)
		kvio_run_cmd("ip link del %s", dummy);

	if (kvio_env_true("KVIO_DIFF_DUMP")) {
		dump_run(variant->name, "reference", &runs[0]);
		dump_run(variant->name, dev_name, &runs[1]);
	}
	EXPECT_EQ(0, ref_bad);
	EXPECT_EQ(0, dev_bad);
	if (!ref_bad && !dev_bad)
		EXPECT_EQ(0, compare_runs(variant->name, &runs[0], &runs[1],
					  doc, "reference", dev_name));
	munmap(runs, 2 * sizeof(*runs));
	close(run_fd);
	free(doc);
}

TEST_HARNESS_MAIN
