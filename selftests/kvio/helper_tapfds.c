// SPDX-License-Identifier: GPL-2.0
/*
 * helper_tapfds IFNAME FD[,FD...] CMD [ARGS...]
 *
 * Attach one queue of the multiqueue tap IFNAME at each file descriptor FD,
 * then exec CMD, which inherits them.  QEMU takes a multiqueue tap with
 * vhost-net only as already-open fds ("-netdev tap,fds=6:7,vhostfds=4:5"),
 * the way libvirt hands them over; this is that part of libvirt.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_QUEUES	16
/* Park the fds above anything the caller may ask for. */
#define PARK_FD		100

static int open_queue(const char *ifname)
{
	struct ifreq ifr;
	int fd, parked;

	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0) {
		perror("helper_tapfds: /dev/net/tun");
		exit(2);
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		fprintf(stderr, "helper_tapfds: TUNSETIFF %s: %s\n", ifname,
			strerror(errno));
		exit(2);
	}
	parked = fcntl(fd, F_DUPFD, PARK_FD);
	if (parked < 0) {
		perror("helper_tapfds: F_DUPFD");
		exit(2);
	}
	close(fd);
	return parked;
}

int main(int argc, char **argv)
{
	int want[MAX_QUEUES], got[MAX_QUEUES], n = 0, i;
	char *list, *tok, *end;
	long v;

	if (argc < 4) {
		fprintf(stderr, "usage: helper_tapfds IFNAME FD[,FD...] CMD [ARGS...]\n");
		return 2;
	}
	list = argv[2];
	for (tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		v = strtol(tok, &end, 10);
		if (*end || v < 3 || v >= PARK_FD || n == MAX_QUEUES) {
			fprintf(stderr, "helper_tapfds: bad fd '%s'\n", tok);
			return 2;
		}
		want[n++] = v;
	}
	for (i = 0; i < n; i++)
		got[i] = open_queue(argv[1]);
	for (i = 0; i < n; i++) {
		if (dup2(got[i], want[i]) < 0) {
			perror("helper_tapfds: dup2");
			return 2;
		}
		close(got[i]);
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "helper_tapfds: exec %s: %s\n", argv[3], strerror(errno));
	return 127;
}
