// SPDX-License-Identifier: GPL-2.0
/*
 * helper_rawsend IFACE COUNT [PPS [SIZE]]
 *
 * Send COUNT Ethernet frames of SIZE bytes (default 64, at most 1514) out of
 * IFACE through an AF_PACKET socket, at most PPS per second (default 2000),
 * and print how many the kernel took.
 * The real-client tests use it to feed the tap side of a vhost device: a
 * frame transmitted on a tap is what the vhost rx path hands to its user.
 *
 * Pacing matters: a tap drops whatever its queue cannot hold when the vhost
 * side is slow (as it is under TCG), and a drop there would be counted
 * against the data path under test.
 *
 * The frames carry the IEEE local experimental EtherType 0x88b5, so that no
 * protocol stack acts on them, between locally administered addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN	64
#define FRAME_MAX	1514
#define ETH_P_KVIO	0x88b5

static const unsigned char dst_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0x77, 0x02 };
static const unsigned char src_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0x77, 0x01 };

static long parse_count(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "helper_rawsend: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_socket(const char *ifname)
{
	struct sockaddr_ll sll = { 0 };
	int fd;

	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_KVIO);
	sll.sll_ifindex = if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "helper_rawsend: no interface %s\n", ifname);
		exit(2);
	}
	/* Protocol 0: this socket only sends, it receives nothing. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		perror("helper_rawsend: AF_PACKET socket");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	unsigned char frame[FRAME_MAX] = { 0 };
	long count, pps, len = FRAME_LEN, sent = 0, i;
	double t0, due;
	int fd;

	if (argc < 3 || argc > 5) {
		fprintf(stderr,
			"usage: helper_rawsend IFACE COUNT [PPS [SIZE]]\n");
		return 2;
	}
	count = parse_count(argv[2], "count");
	pps = argc >= 4 ? parse_count(argv[3], "rate") : 2000;
	if (argc == 5)
		len = parse_count(argv[4], "size");
	if (len < 18 || len > FRAME_MAX) {
		fprintf(stderr, "helper_rawsend: size must be 18..%d\n",
			FRAME_MAX);
		return 2;
	}
	fd = open_socket(argv[1]);

	memcpy(frame, dst_mac, ETH_ALEN);
	memcpy(frame + ETH_ALEN, src_mac, ETH_ALEN);
	frame[12] = ETH_P_KVIO >> 8;
	frame[13] = ETH_P_KVIO & 0xff;

	t0 = now();
	for (i = 0; i < count; i++) {
		/* A sequence number, so that a capture can tell frames apart. */
		frame[14] = i >> 24;
		frame[15] = i >> 16;
		frame[16] = i >> 8;
		frame[17] = i;
		due = t0 + (double)i / pps;
		while (now() < due)
			usleep(200);
		if (send(fd, frame, len, 0) == len)
			sent++;
		else if (errno != ENOBUFS && errno != EAGAIN)
			perror("helper_rawsend: send");
	}
	printf("%ld\n", sent);
	close(fd);
	return sent ? 0 : 1;
}
