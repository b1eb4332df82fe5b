/*
 * fcgi.h: the FastCGI record format (the FastCGI 1.0 specification),
 * as pure functions over buffers: a record's header encoded and decoded,
 * FCGI_END_REQUEST's body, and the name-value pairs of FCGI_PARAMS and
 * FCGI_GET_VALUES. No I/O and no allocation; the responder (fcgi.c) and
 * its fuzzer use it, and any other program that speaks FastCGI can
 * include it alone, as render.h is included.
 */
#ifndef FCGI_H
#define FCGI_H

#include <stddef.h>
#include <string.h>

#define FCGI_VERSION		1
#define FCGI_HEAD		8	/* bytes of a record's header */
#define FCGI_CONTENT_MAX	65535	/* bytes of a record's content */
#define FCGI_END_BODY		8	/* bytes of FCGI_END_REQUEST's content */

enum fcgi_type {
	FT_BEGIN_REQUEST = 1, FT_ABORT_REQUEST, FT_END_REQUEST, FT_PARAMS,
	FT_STDIN, FT_STDOUT, FT_STDERR, FT_DATA, FT_GET_VALUES,
	FT_GET_VALUES_RESULT, FT_UNKNOWN_TYPE
};
enum { FCGI_RESPONDER = 1 };		/* the only role served */
enum { FCGI_KEEP_CONN = 1 };		/* flag of FCGI_BEGIN_REQUEST */
enum fcgi_status { FP_COMPLETE, FP_CANT_MPX_CONN, FP_OVERLOADED, FP_UNKNOWN_ROLE };

/* A record as read: its content points into the buffer it came from. */
struct fcgi_rec {
	unsigned		 type;
	unsigned		 id;		/* 0: a management record */
	const unsigned char	*data;
	size_t			 len;
};

/*
 * The record at the start of p[0..n): its length with padding, or 0 while
 * it is incomplete, or -1 if it is not of version 1.
 */
static inline long
fcgi_record(const unsigned char *p, size_t n, struct fcgi_rec *r)
{
	size_t	 total;

	if (n < FCGI_HEAD)
		return 0;
	if (p[0] != FCGI_VERSION)
		return -1;
	r->type = p[1];
	r->id = (unsigned)p[2] << 8 | p[3];
	r->len = (size_t)p[4] << 8 | p[5];
	r->data = p + FCGI_HEAD;
	total = FCGI_HEAD + r->len + p[6];
	return n < total ? 0 : (long)total;
}

/* A record header at h: type, request id, content length n, no padding. */
static inline void
fcgi_head(unsigned char *h, unsigned type, unsigned id, size_t n)
{
	h[0] = FCGI_VERSION;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(n >> 8);
	h[5] = (unsigned char)n;
	h[6] = 0;
	h[7] = 0;
}

/* An FCGI_END_REQUEST record for id, FCGI_HEAD + FCGI_END_BODY bytes at h. */
static inline void
fcgi_end(unsigned char *h, unsigned id, enum fcgi_status st)
{
	fcgi_head(h, FT_END_REQUEST, id, FCGI_END_BODY);
	memset(h + FCGI_HEAD, 0, FCGI_END_BODY);	/* appStatus 0 */
	h[FCGI_HEAD + 4] = (unsigned char)st;
}

/* A name-value length at p[0..n) into *len: the bytes it took, or 0. */
static inline size_t
fcgi_len(const unsigned char *p, size_t n, size_t *len)
{
	if (n >= 1 && p[0] < 0x80) {
		*len = p[0];
		return 1;
	}
	if (n < 4)
		return 0;
	*len = (size_t)(p[0] & 0x7f) << 24 | (size_t)p[1] << 16 |
	    (size_t)p[2] << 8 | p[3];
	return 4;
}

/*
 * The name-value pair at p[*at..n): its name's and value's lengths, and
 * *at moved to its name, which the value follows. 0, or -1 if a length
 * runs past the end.
 */
static inline int
fcgi_pair(const unsigned char *p, size_t n, size_t *at, size_t *nl,
    size_t *vl)
{
	size_t	 i = *at, k;

	if ((k = fcgi_len(p + i, n - i, nl)) == 0)
		return -1;
	i += k;
	if ((k = fcgi_len(p + i, n - i, vl)) == 0)
		return -1;
	i += k;
	if (*nl > n - i || *vl > n - i - *nl)
		return -1;
	*at = i;
	return 0;
}

/*
 * The name-value pairs p[0..n) as "NAME=value" strings in text (cap
 * bytes), pointed at from vars (max of them, then a NULL). The count, or
 * -1 if a length runs past the end, a name is empty or holds '=' or NUL,
 * a value holds NUL, or text or vars is full. Each pair takes as many
 * bytes of text as of p at most, so a text of n bytes is never full.
 */
static inline long
fcgi_pairs(const unsigned char *p, size_t n, char *text, size_t cap,
    char **vars, size_t max)
{
	size_t	 i = 0, used = 0, cnt = 0, nl, vl;

	while (i < n) {
		if (fcgi_pair(p, n, &i, &nl, &vl) == -1 || nl == 0 ||
		    memchr(p + i, '=', nl) != NULL ||
		    memchr(p + i, '\0', nl + vl) != NULL)
			return -1;
		if (cnt == max || nl + vl + 2 > cap - used)
			return -1;
		vars[cnt++] = text + used;
		memcpy(text + used, p + i, nl);
		used += nl;
		text[used++] = '=';
		memcpy(text + used, p + i + nl, vl);
		used += vl;
		text[used++] = '\0';
		i += nl + vl;
	}
	vars[cnt] = NULL;
	return (long)cnt;
}

#endif
