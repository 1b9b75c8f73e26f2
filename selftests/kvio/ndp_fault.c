// SPDX-License-Identifier: GPL-2.0
/*
 * net_datapath's driver for the fault tests (net_malformed, net_hostile):
 * one owner's two devices, each with a tap backend and its own rings.
 * The tests do harm to dev[0]; dev[1] shares the owner's worker and shows
 * that the harm stays where it was done.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest.h"
#include "net_datapath.h"

const char *ndp_dev_path(void)
{
	return kvio_env_or("KVIO_DIFF_DEV", "/dev/kvio-net");
}

int ndp_pair_ok(struct ndp_pair *p)
{
	char *m = p->run->msg + p->shown, *nl;

	while ((nl = strchr(m, '\n'))) {
		ksft_print_msg("%.*s\n", (int)(nl - m), m);
		m = nl + 1;
	}
	p->shown = m - p->run->msg;
	return !p->run->nfail;
}

void ndp_pair_free(struct ndp_pair *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < 2; i++) {
		if (p->dev[i].dev >= 0)
			close(p->dev[i].dev);
		if (p->dev[i].backend >= 0)
			close(p->dev[i].backend);
		if (p->dev[i].pkt >= 0)
			close(p->dev[i].pkt);
	}
	free(p->run);
	free(p);
}

/* Two devices of this process, set up as QEMU does; NULL on failure. */
struct ndp_pair *ndp_pair_new(unsigned int num, __u64 features,
			      unsigned int rxbuf)
{
	struct ndp_pair *p = calloc(1, sizeof(*p));
	struct ndp *g;
	int i;

	if (!p)
		return NULL;
	p->run = calloc(1, sizeof(*p->run));
	if (!p->run) {
		free(p);
		return NULL;
	}
	p->c.run = &p->run->steps;
	p->c.path = ndp_dev_path();
	for (i = 0; i < 2; i++) {
		g = &p->dev[i];
		g->dev = -1;
		g->backend = -1;
		g->pkt = -1;
		p->cfg[i].num = num;
		p->cfg[i].features = features;
		p->cfg[i].rxbuf = rxbuf;
		g->c = &p->c;
		g->run = p->run;
		g->cfg = &p->cfg[i];
	}
	for (i = 0; i < 2; i++) {
		if (!ndp_setup(&p->dev[i]) && !p->run->nfail)
			continue;
		ndp_pair_ok(p);
		ksft_print_msg("device setup failed\n");
		ndp_pair_free(p);
		return NULL;
	}
	return p;
}

/*
 * Runs g's traffic until tx frames were posted and sent and rx received,
 * counting from the first; 0 leaves that ring alone, which is right only
 * while it has moved no frame (ndp_run_traffic() waits for the count).
 */
int ndp_pair_traffic(struct ndp_pair *p, struct ndp *g, unsigned int tx,
		     unsigned int rx)
{
	struct ndp_cfg *cfg = &p->cfg[g - p->dev];

	cfg->tx = tx ? g->vq[NDP_TX].posted + tx : 0;
	cfg->rx = rx ? g->rx_sent + rx : 0;
	ndp_run_traffic(g);
	return ndp_pair_ok(p) && !g->stop ? 0 : -1;
}

int ndp_kick_now(const struct ndp_vq *q)
{
	__u64 one = 1;

	return write(q->kick, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

/* The value of an eventfd once it fires, or 0 after ms. */
__u64 ndp_wait_efd(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, ms) == 1 ? ndp_read_efd(fd) : 0;
}

/* No ring but @bad (NULL: none) signalled its error eventfd. */
int ndp_pair_quiet(struct ndp_pair *p, const struct ndp_vq *bad)
{
	int i, j, quiet = 1;

	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++)
			if (&p->dev[i].vq[j] != bad &&
			    ndp_read_efd(p->dev[i].vq[j].err))
				quiet = 0;
	return quiet;
}
