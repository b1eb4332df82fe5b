/*
 * log.h: log lines to standard error that never stall a server's loop. A
 * log line is never worth a stall: a line goes only when standard error
 * can take it now; otherwise it is dropped and counted, and the next line
 * that goes is preceded by "prog: N log lines dropped (standard error was
 * full)". Descriptor 2 stays blocking: it is an open file description
 * shared with other processes (the programs serve starts, whoever else
 * writes there), and O_NONBLOCK on it would be theirs too. The FastCGI
 * responder (cgi.c's msg() under -DFASTCGI) writes through it; serve can.
 * A one-shot program (the plain CGI) keeps its blocking write.
 */
#ifndef LOG_H
#define LOG_H

#include <sys/uio.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/*
 * A line goes out in one write of at most PIPE_BUF bytes (cut to fit):
 * a pipe or socket that reports POLLOUT takes that much at once without
 * blocking (Linux: a free pipe buffer is a page; a socket reports POLLOUT
 * with half its send buffer free).
 */
#ifndef PIPE_BUF
#define PIPE_BUF	512		/* POSIX's least */
#endif

#define LOG_DROPPED	" log lines dropped (standard error was full)\n"

static unsigned long	log_dropped;	/* lines dropped since the last one written */

/* Append the n bytes at p to line[*len], up to PIPE_BUF - 1 bytes. */
static inline void
log_add(char *line, size_t *len, const char *p, size_t n)
{
	if (n > PIPE_BUF - 1 - *len)
		n = PIPE_BUF - 1 - *len;
	memcpy(line + *len, p, n);
	*len += n;
}

/*
 * Write one line, the cnt pieces at iov (ending in '\n' or given one), to
 * standard error if it can take it now, after the count of lines dropped
 * before it if any, "prog: " first. 0 when written, -1 when dropped (and
 * counted). XXX another writer of the same pipe may fill it between the
 * poll and the write; the write then waits for it to drain.
 */
static inline int
log_write(const char *prog, const struct iovec *iov, int cnt)
{
	char	 line[PIPE_BUF], num[24];
	struct pollfd pfd;
	size_t	 len = 0, k = sizeof(num);
	unsigned long v = log_dropped;
	ssize_t	 w;
	int	 i;

	pfd.fd = STDERR_FILENO;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLOUT) {
		log_dropped++;
		return -1;
	}
	if (v > 0) {
		do
			num[--k] = (char)('0' + v % 10);
		while ((v /= 10) > 0);
		log_add(line, &len, prog, strlen(prog));
		log_add(line, &len, ": ", 2);
		log_add(line, &len, num + k, sizeof(num) - k);
		log_add(line, &len, LOG_DROPPED, sizeof(LOG_DROPPED) - 1);
	}
	for (i = 0; i < cnt; i++)
		log_add(line, &len, iov[i].iov_base, iov[i].iov_len);
	if (len == 0 || line[len - 1] != '\n')
		line[len++] = '\n';
	while ((w = write(STDERR_FILENO, line, len)) == -1 && errno == EINTR)
		;
	if (w == -1) {
		log_dropped++;
		return -1;
	}
	log_dropped = 0;
	return 0;
}

#endif
