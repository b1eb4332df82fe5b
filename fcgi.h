/*
 * fcgi.h: the FastCGI record format (the FastCGI 1.0 specification),
 * as pure functions over buffers: a record's header encoded and decoded,
 * FCGI_END_REQUEST's body, the name-value pairs of FCGI_PARAMS and
 * FCGI_GET_VALUES both ways, and the web server's reader of a responder's
 * answer. No I/O and no allocation: the responder (fcgi.c), serve's
 * FastCGI back end and the fuzzers include it alone, as render.h is.
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

/*
 * A name-value pair for FCGI_PARAMS at o[0..cap): the bytes it took, or
 * 0 if it does not fit (a length takes 1 byte below 128, else 4).
 */
static inline size_t
fcgi_put_pair(unsigned char *o, size_t cap, const char *name, size_t nl,
    const char *value, size_t vl)
{
	size_t	 i = 0, len[2] = { nl, vl }, need;
	int	 k;

	need = (nl < 0x80 ? 1 : 4) + (vl < 0x80 ? 1 : 4) + nl + vl;
	if (need > cap || nl > 0x7fffffff || vl > 0x7fffffff)
		return 0;
	for (k = 0; k < 2; k++) {
		if (len[k] < 0x80)
			o[i++] = (unsigned char)len[k];
		else {
			o[i++] = (unsigned char)(0x80 | len[k] >> 24);
			o[i++] = (unsigned char)(len[k] >> 16);
			o[i++] = (unsigned char)(len[k] >> 8);
			o[i++] = (unsigned char)len[k];
		}
	}
	memcpy(o + i, name, nl);
	memcpy(o + i + nl, value, vl);
	return need;
}

/*
 * Reading a responder's answers (the web server's side), resumable at
 * any byte: what came is handed over as it comes, without copies, for
 * one request or for several multiplexed on the connection. FR_HEAD: a
 * record of a request (id not 0) begins, r->id and r->type say which;
 * the caller checks that the id is one of its requests, and passes the
 * room of that request's output as max from then on. FR_STDOUT and
 * FR_STDERR: *len bytes of that stream at *data; FR_END: that request's
 * FCGI_END_REQUEST, with its protocol status in r->status; FR_MORE: the
 * input is used up; FR_BAD: not version 1, a type 0, or an
 * FCGI_END_REQUEST too short. Management records (id 0) and other types
 * are skipped.
 */
enum fcgi_read { FR_MORE, FR_HEAD, FR_STDOUT, FR_STDERR, FR_END, FR_BAD };

struct fcgi_reader {
	unsigned char	 h[FCGI_HEAD];	/* the header being read */
	size_t		 hlen;
	size_t		 left;		/* content bytes of the record to come */
	size_t		 pad;		/* padding bytes to come */
	size_t		 off;		/* content bytes of the record taken */
	unsigned	 type;		/* 0: between records */
	unsigned	 id;
	unsigned	 status;	/* FCGI_END_REQUEST's protocol status */
};

/*
 * Take from p[0..n), at most max (1 or more) bytes of FCGI_STDOUT at a
 * time, where the reader's request has room for them: *used is what was
 * taken.
 */
static inline enum fcgi_read
fcgi_read(struct fcgi_reader *r, const unsigned char *p, size_t n,
    size_t max, size_t *used, const unsigned char **data, size_t *len)
{
	size_t	 i = 0, k;

	for (;;) {
		if (r->type == 0) {		/* a header */
			k = FCGI_HEAD - r->hlen < n - i ? FCGI_HEAD - r->hlen : n - i;
			memcpy(r->h + r->hlen, p + i, k);
			r->hlen += k;
			i += k;
			if (r->hlen < FCGI_HEAD)
				break;
			r->hlen = 0;
			r->type = r->h[1];
			r->id = (unsigned)r->h[2] << 8 | r->h[3];
			r->left = (size_t)r->h[4] << 8 | r->h[5];
			r->pad = r->h[6];
			r->off = 0;
			*used = i;
			if (r->h[0] != FCGI_VERSION || r->type == 0 ||
			    (r->id != 0 && r->type == FT_END_REQUEST &&
			    r->left < FCGI_END_BODY))
				return FR_BAD;
			if (r->id != 0)
				return FR_HEAD;
		}
		if (r->left > 0 && i < n && r->id != 0 &&
		    (r->type == FT_STDOUT || r->type == FT_STDERR)) {
			k = r->left < n - i ? r->left : n - i;
			if (k > max && r->type == FT_STDOUT)
				k = max;
			*data = p + i;
			*len = k;
			r->left -= k;
			*used = i + k;
			return r->type == FT_STDOUT ? FR_STDOUT : FR_STDERR;
		}
		k = r->left < n - i ? r->left : n - i;	/* content skipped */
		if (r->id != 0 && r->type == FT_END_REQUEST && r->off <= 4 &&
		    r->off + k > 4)
			r->status = p[i + 4 - r->off];
		r->off += k;
		r->left -= k;
		i += k;
		k = r->pad < n - i ? r->pad : n - i;
		r->pad -= k;
		i += k;
		if (r->left > 0 || r->pad > 0)
			break;
		if (r->id != 0 && r->type == FT_END_REQUEST) {
			r->type = 0;
			*used = i;
			return FR_END;
		}
		r->type = 0;
		if (i == n)
			break;
	}
	*used = i;
	return FR_MORE;
}

#endif
