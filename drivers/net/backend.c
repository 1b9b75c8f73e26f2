// SPDX-License-Identifier: GPL-2.0
/*
 * Backends of a kvio-net ring: the socket of a tap (tun) or macvtap
 * (tap) file, or a raw AF_PACKET socket, as upstream vhost-net accepts.
 */
#include <linux/file.h>
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/net.h>
#include <net/sock.h>

#include "kvio_net.h"

static struct socket *kvio_net_raw_socket(int fd)
{
	struct socket *sock;
	int err;

	sock = sockfd_lookup(fd, &err);
	if (!sock)
		return ERR_PTR(-ENOTSOCK);
	if (sock->sk->sk_type != SOCK_RAW ||
	    sock->sk->sk_family != AF_PACKET) {
		sockfd_put(sock);
		return ERR_PTR(-ENOTSOCK);
	}
	return sock;
}

/* A tun/tap or macvtap file; the socket keeps the file reference. */
static struct socket *kvio_net_tap_socket(int fd)
{
	struct file *file = fget(fd);
	struct socket *sock;

	if (!file)
		return ERR_PTR(-EBADF);
	sock = tun_get_socket(file);
	if (IS_ERR(sock))
		sock = tap_get_socket(file);
	if (IS_ERR(sock))
		fput(file);
	return sock;
}

/**
 * kvio_net_get_socket - the backend socket behind @fd
 * @fd: a tap, macvtap or raw packet socket fd; -1 for none
 *
 * Return: the socket with a file reference held, NULL for -1, or
 * ERR_PTR(-ENOTSOCK) for anything else, as upstream.
 */
struct socket *kvio_net_get_socket(int fd)
{
	struct socket *sock;

	if (fd == -1)
		return NULL;
	sock = kvio_net_raw_socket(fd);
	if (!IS_ERR(sock))
		return sock;
	sock = kvio_net_tap_socket(fd);
	if (!IS_ERR(sock))
		return sock;
	return ERR_PTR(-ENOTSOCK);
}

void kvio_net_put_socket(struct socket *sock)
{
	if (sock)
		sockfd_put(sock);
}
