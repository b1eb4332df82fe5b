/*
 * flood: the hostile-client benchmark for serve. Against 127.0.0.1:PORT
 * it opens IDLE connections that send nothing and DRIP connections that
 * drip-feed a request head (a field line every DRIP_MS, never the end),
 * then sends REQS sequential requests for PATH from one more client, each
 * on a new connection, and prints how many were answered and their
 * latency. Bounded: each request waits REQ_TIMEOUT_MS at most, and the
 * whole run ends after the last one.
 *
 *	flood PORT IDLE DRIP REQS [PATH]
 *	-> answered 100/100 p50 0.41 ms p99 0.98 ms max 1.20 ms
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRIP_MS		200
#define REQ_TIMEOUT_MS	2000
#define CONNECT_MS	100

static struct sockaddr_in sin;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A non-blocking connection to the server, waited for CONNECT_MS at most:
 * a server whose backlog is full leaves it pending, which is kept (it
 * still holds a slot in the backlog).
 */
static int
dial(void)
{
	int	 fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct pollfd p;

	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	p.fd = fd;
	p.events = POLLOUT;
	(void)poll(&p, 1, CONNECT_MS);
	return fd;
}

static int
cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char *argv[])
{
	int	 nidle, ndrip, nreq, i, k, fd, ok = 0, *drip;
	const char *path = argc > 5 ? argv[5] : "/api/time";
	double	*lat, t0, next_drip;
	char	 req[256], buf[65536];
	struct pollfd p;
	ssize_t	 n;
	size_t	 got;

	signal(SIGPIPE, SIG_IGN);	/* a refused connection is counted, not fatal */
	if (argc < 5) {
		fputs("usage: flood PORT IDLE DRIP REQS [PATH]\n", stderr);
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	nidle = atoi(argv[2]);
	ndrip = atoi(argv[3]);
	nreq = atoi(argv[4]);
	drip = calloc((size_t)ndrip + 1, sizeof(int));
	lat = calloc((size_t)nreq + 1, sizeof(double));
	for (i = 0; i < nidle; i++)
		if (dial() == -1) {
			fprintf(stderr, "flood: idle connection %d: %s\n", i,
			    strerror(errno));
			return 1;
		}
	for (i = 0; i < ndrip; i++) {
		if ((drip[i] = dial()) == -1) {
			fprintf(stderr, "flood: drip connection %d: %s\n", i,
			    strerror(errno));
			return 1;
		}
		(void)!write(drip[i], "GET / HTTP/1.1\r\nHost: x\r\n", 25);
	}
	next_drip = now_ms() + DRIP_MS;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", path);
	for (k = 0; k < nreq; k++) {
		/* keep the drip going between requests */
		if (now_ms() >= next_drip) {
			for (i = 0; i < ndrip; i++)
				(void)!write(drip[i], "X-D: 1\r\n", 8);
			next_drip = now_ms() + DRIP_MS;
		}
		t0 = now_ms();
		lat[k] = -1;
		if ((fd = dial()) == -1)
			continue;
		(void)!write(fd, req, strlen(req));
		p.fd = fd;
		p.events = POLLIN;
		got = 0;
		while (now_ms() - t0 < REQ_TIMEOUT_MS &&
		    poll(&p, 1, (int)(REQ_TIMEOUT_MS - (now_ms() - t0))) > 0) {
			n = read(fd, buf, sizeof(buf));
			if (n > 0) {
				got += (size_t)n;
				continue;
			}
			if (n == -1 && errno == EAGAIN)
				continue;
			break;
		}
		if (got > 12 && now_ms() - t0 < REQ_TIMEOUT_MS) {
			lat[k] = now_ms() - t0;
			ok++;
		}
		close(fd);
	}
	for (i = 0, k = 0; i < nreq; i++)
		if (lat[i] >= 0)
			lat[k++] = lat[i];
	qsort(lat, (size_t)k, sizeof(double), cmp);
	printf("answered %d/%d", ok, nreq);
	if (k > 0)
		printf(" p50 %.2f ms p99 %.2f ms max %.2f ms", lat[k / 2],
		    lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1], lat[k - 1]);
	printf("\n");
	return 0;
}
