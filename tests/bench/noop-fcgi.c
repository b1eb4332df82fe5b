/*
 * noop-fcgi: the FastCGI floor for the benchmark. A responder that does no
 * work of its own: on the listening socket it is given as standard input
 * (as spawn-fcgi arranges) it answers every request, once its FCGI_STDIN
 * has ended, with the same fixed bytes, and keeps the connection when the
 * request asks. The bytes are the file named by NOOP_FCGI_RESPONSE (the
 * benchmark writes cgi's own answer there), so nginx handles the very
 * response cgi.fcgi sends and the difference is cgi.fcgi's own work.
 * One request at a time per connection, records of version 1, nothing
 * else of the protocol: a benchmark tool, not a server.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define CONNS	1024
#define INBUF	(8 + 65535 + 255)

struct conn {
	int		 fd;
	int		 keep;
	size_t		 len;
	unsigned char	 in[INBUF];
};

static struct conn	*conns[CONNS + 1];
static struct pollfd	 pfd[CONNS + 1];
static unsigned char	 resp[16384];
static size_t		 resplen;

/* Answer request id: its stdout, the stream's end, END_REQUEST. */
static int
answer(int fd, unsigned id)
{
	static unsigned char out[sizeof(resp) + 32];
	unsigned char *p = out;
	size_t	 n = resplen, left;
	ssize_t	 w;

	*p++ = 1; *p++ = 6; *p++ = id >> 8; *p++ = id; *p++ = n >> 8; *p++ = n;
	*p++ = 0; *p++ = 0;
	memcpy(p, resp, n);
	p += n;
	memcpy(p, (unsigned char[]){ 1, 6, id >> 8, id, 0, 0, 0, 0,
	    1, 3, id >> 8, id, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 24);
	p += 24;
	for (left = (size_t)(p - out), p = out; left > 0; p += w, left -= w)
		if ((w = write(fd, p, left)) <= 0)
			return -1;	/* blocking: answers are small */
	return 0;
}

/* Take c's complete records. -1: close it. */
static int
take(struct conn *c)
{
	size_t	 off = 0, n;
	unsigned id;

	while (c->len - off >= 8) {
		unsigned char *h = c->in + off;

		if (h[0] != 1)
			return -1;
		n = 8 + ((size_t)h[4] << 8 | h[5]) + h[6];
		if (c->len - off < n)
			break;
		id = (unsigned)h[2] << 8 | h[3];
		if (h[1] == 1 && n >= 16)
			c->keep = h[10] & 1;
		if (h[1] == 5 && h[5] == 0 && h[4] == 0) {
			if (answer(c->fd, id) == -1 || !c->keep)
				return -1;
		}
		off += n;
	}
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
	return 0;
}

int
main(void)
{
	const char *path = getenv("NOOP_FCGI_RESPONSE");
	static const char dflt[] = "Content-Type: text/plain\r\n\r\nok\n";
	size_t	 n = 1, i;
	ssize_t	 r;
	int	 fd;

	if (path != NULL && (fd = open(path, O_RDONLY)) != -1) {
		if ((r = read(fd, resp, sizeof(resp))) > 0)
			resplen = (size_t)r;
		close(fd);
	}
	if (resplen == 0) {
		memcpy(resp, dflt, sizeof(dflt) - 1);
		resplen = sizeof(dflt) - 1;
	}
	signal(SIGPIPE, SIG_IGN);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	pfd[0].fd = 0;
	pfd[0].events = POLLIN;
	for (;;) {
		if (poll(pfd, n, -1) == -1)
			continue;
		for (i = n; i-- > 1;) {
			struct conn *c = conns[i];

			if (pfd[i].revents == 0)
				continue;
			r = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
			if (r > 0) {
				c->len += (size_t)r;
				if (take(c) == 0)
					continue;
			} else if (r == -1)
				continue;
			close(c->fd);
			free(c);
			n--;
			conns[i] = conns[n];
			pfd[i] = pfd[n];
		}
		if ((pfd[0].revents & POLLIN) && n < CONNS + 1)
			while (n < CONNS + 1 && (fd = accept(0, NULL, NULL)) != -1) {
				if ((conns[n] = calloc(1, sizeof(struct conn))) == NULL) {
					close(fd);
					break;
				}
				conns[n]->fd = fd;
				pfd[n].fd = fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
	}
}
