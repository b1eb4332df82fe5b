/*
 * outq.h: output to a non-blocking descriptor that may not take it all
 * now. What it takes is written at once; the rest is queued and written
 * as the descriptor drains, while the caller reads no more input for it
 * (backpressure); or it is queued (outq_put) to go in one write later.
 * serve's clients, its connections to a FastCGI responder and the
 * responder's connections each have one. A queue that empties gives its
 * buffer, up to OUTQ_SPARE_MAX bytes, to the next queue that needs one:
 * with a batch queued and written at every turn of a loop, the allocator
 * is not asked for memory each time (musl's gives it back to the system
 * at once, a munmap and an mmap for every batch).
 */
#ifndef OUTQ_H
#define OUTQ_H

#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render.h"

#define OUTQ_SPARE_MAX	(64 * 1024)	/* bytes of an emptied buffer kept for the next */

struct outq {
	char	*p;		/* p[off..len): not written yet */
	size_t	 len, off;
	size_t	 cap;		/* bytes at p */
};

/* The one buffer kept between queues, and its size. */
static char	*outq_spare;
static size_t	 outq_spare_cap;

static inline int
outq_empty(const struct outq *q)
{
	return q->off == q->len;
}

/* 1 if a call on a non-blocking descriptor failed only for now. */
static inline int
io_again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Empty q: its buffer becomes the spare if there is none, else is freed. */
static inline void
outq_free(struct outq *q)
{
	if (outq_spare == NULL && q->cap <= OUTQ_SPARE_MAX) {
		outq_spare = q->p;
		outq_spare_cap = q->cap;
	} else
		free(q->p);
	q->p = NULL;
	q->len = q->off = q->cap = 0;
}

/*
 * Queue iov after what is queued, to be written later (outq_flush): a
 * batch of answers goes out in one write. 0, or -1 if the queue could
 * not grow.
 */
static inline int
outq_put(struct outq *q, const struct iovec *iov, int cnt)
{
	size_t	 n = 0, cap;
	char	*np;
	int	 i;

	for (i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	if (n == 0)
		return 0;
	if (q->off > 0) {
		memmove(q->p, q->p + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->p == NULL && outq_spare != NULL) {
		q->p = outq_spare;
		q->cap = outq_spare_cap;
		outq_spare = NULL;
	}
	if (q->p == NULL || q->len + n > q->cap) {
		cap = q->cap * 2 > q->len + n ? q->cap * 2 : q->len + n;
		if ((np = realloc(q->p, cap)) == NULL)
			return -1;
		q->p = np;
		q->cap = cap;
	}
	for (i = 0; i < cnt; i++) {
		memcpy(q->p + q->len, iov[i].iov_base, iov[i].iov_len);
		q->len += iov[i].iov_len;
	}
	return 0;
}

/*
 * Send iov to fd: written as far as fd takes it when nothing is queued,
 * the rest queued after what is. The bytes written now, or -1 if fd
 * failed or the queue could not grow.
 */
static inline ssize_t
outq_send(struct outq *q, int fd, struct iovec *iov, int cnt)
{
	ssize_t	 w = 0;

	if (outq_empty(q)) {
		while ((w = writev(fd, iov, cnt)) == -1 && errno == EINTR)
			;
		if (w == -1 && !io_again())
			return -1;
		if (w == -1)
			w = 0;
		iov_consume(&iov, &cnt, (size_t)w);
	}
	return outq_put(q, iov, cnt) == -1 ? -1 : w;
}

/*
 * Write what is queued as far as fd takes it: 1 when the queue is empty
 * (and freed), 0 when some is left, -1 if fd failed.
 */
static inline int
outq_flush(struct outq *q, int fd)
{
	ssize_t	 w = write(fd, q->p + q->off, q->len - q->off);

	if (w == -1)
		return io_again() ? 0 : -1;
	if (w == 0)
		return -1;
	if ((q->off += (size_t)w) < q->len)
		return 0;
	outq_free(q);
	return 1;
}

#endif
