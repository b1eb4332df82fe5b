/*
 * serve.c: moscow-time's HTTP/1.1 front end (RFC 9112), an inetd-style
 * wrapper that runs a CGI program (RFC 3875) once per request, the WAGI
 * model on a native host.
 *
 * The parent only accepts, counts its children against -c, reaps and
 * handles signals. Each connection gets a child that reads a request head
 * under a total deadline, parses it (pure: parse_head), builds the CGI's
 * environment from scratch (pure: build_env), spawns the program in its own
 * process group under the -t deadline, parses the program's header block
 * (pure: parse_cgi_head) and frames the response itself.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "render.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif
#define SOFTWARE	"moscow-time-serve/" VERSION

/*
 * Limits. Each is documented in serve(1) and tested at its edge.
 */
#define HEAD_MAX	8192		/* bytes of a request head: 431 */
#define FIELDS_MAX	100		/* header fields in a request: 431 */
#define TARGET_MAX	4096		/* bytes of a request target: 414 */
#define BODY_MAX	(1024 * 1024)	/* bytes of a request body: 413 */
#define CHUNKED_MAX	(BODY_MAX + BODY_MAX / 2) /* raw bytes of a chunked body: 413 */
#define REQS_PER_CONN	100		/* requests on one connection, then close */
#define KEEPALIVE_S	5		/* idle seconds between requests */
#define WRITE_IDLE_S	30		/* seconds a client may stall a write */
#define KILL_GRACE_S	2		/* SIGTERM to SIGKILL for a late CGI */
#define CGI_HEAD_MAX	8192		/* bytes of a CGI header block: 502 */
#define CGI_FIELDS_MAX	64		/* fields of a CGI header block: 502 */
#define OUT_BUF		(64 * 1024)	/* body bytes held to frame with Content-Length */
#define ENV_BYTES	(4 * TARGET_MAX + HEAD_MAX + 2048) /* bytes of the CGI's environment */
#define ENV_MAX		(FIELDS_MAX + 32) /* variables of the CGI's environment */
#define ARGS_MAX	32		/* extra program arguments */
#define LISTEN_MAX	8		/* listening sockets */
#define CHILDREN_MAX	1024		/* the highest -c */
#define EMFILE_PAUSE_MS	1000		/* accept pause when out of descriptors */

enum status {
	S_CONTINUE = 100,
	S_OK = 200, S_NO_CONTENT = 204, S_FOUND = 302, S_NOT_MODIFIED = 304,
	S_BAD_REQUEST = 400, S_NOT_FOUND = 404, S_TIMEOUT = 408,
	S_TOO_LARGE = 413, S_URI_TOO_LONG = 414, S_EXPECTATION = 417,
	S_HEAD_TOO_LARGE = 431,
	S_INTERNAL = 500, S_NOT_IMPLEMENTED = 501, S_BAD_GATEWAY = 502,
	S_UNAVAILABLE = 503, S_GATEWAY_TIMEOUT = 504, S_VERSION = 505
};

static const char *
status_text(int s)
{
	switch (s) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return s < 300 ? "OK" : s < 400 ? "Redirect" : s < 500 ? "Client Error" :
	    "Server Error";
}

/* ---- Parsing a request head (RFC 9112 2-6) ------------------------- */

struct field {
	const char	*name, *value;
	size_t		 nlen, vlen;
};

/* A parsed request; every pointer points into the head buffer. */
struct req {
	const char	*method, *target, *path, *query, *host;
	size_t		 mlen, tlen, plen, qlen, hostlen;
	int		 minor;		/* HTTP/1.minor */
	struct field	 f[FIELDS_MAX];
	int		 nf;
	int64_t		 clen;		/* Content-Length, -1 if none */
	int		 chunked;
	int		 close;		/* the client asked to close */
	int		 expect100;
	int		 asterisk;	/* OPTIONS * */
};

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 if a[0..alen) and b[0..blen) are equal but for ASCII case. */
static int
ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	 i, n = blen;

	if (alen != n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

/*
 * Find the end of a request head in buf[0..len): the offset just past its
 * CRLF CRLF; 0 while incomplete; -1 if a line ends in a bare LF, or holds
 * a bare CR or a NUL (400 at once, not at the deadline).
 */
static long
head_end(const char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (buf[i] == '\0' || (buf[i] == '\r' && i + 1 < len &&
		    buf[i + 1] != '\n'))
			return -1;
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return -1;
		if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return (long)(i + 1);
	}
	return 0;
}

/* Parse a Content-Length value: 1*DIGIT, no sign. -1 if invalid. */
static int64_t
parse_clen(const char *v, size_t n)
{
	int64_t	 x = 0;
	size_t	 i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* ieq against a C string. */
static int
ieqs(const char *a, size_t alen, const char *b)
{
	return ieq(a, alen, b, strlen(b));
}

/* 1 if the comma-separated list v holds token t (case-insensitive). */
static int
list_has(const char *v, size_t n, const char *t)
{
	size_t	 i = 0, b, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		b = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > b && ieqs(v + b, e - b, t))
			return 1;
	}
	return 0;
}

/*
 * Parse the head buf[0..len), which ends in CRLF CRLF (head_end), into r.
 * Returns 0, or the status to answer with: 400 for anything malformed or
 * ambiguous (RFC 9112 3, 5, 6.3, 11.2), 414, 431, 501 for a
 * transfer-coding other than chunked, 505 for a version other than 1.0
 * and 1.1.
 */
static int
parse_head(const char *buf, size_t len, struct req *r)
{
	const char *p = buf, *end = buf + len - 2, *eol, *sp, *c, *v;
	size_t	 i, n;
	int	 hosts = 0, cls = 0, tes = 0;
	int64_t	 cl;

	memset(r, 0, sizeof(*r));
	r->clen = -1;

	/* request-line = method SP request-target SP HTTP-version */
	eol = memchr(p, '\r', (size_t)(end - p));
	if ((sp = memchr(p, ' ', (size_t)(eol - p))) == NULL || sp == p)
		return S_BAD_REQUEST;
	r->method = p;
	r->mlen = (size_t)(sp - p);
	for (i = 0; i < r->mlen; i++)
		if (!is_tchar((unsigned char)p[i]) || (p[i] >= 'a' && p[i] <= 'z'))
			return S_BAD_REQUEST;	/* methods are case-sensitive */
	p = sp + 1;
	if ((sp = memchr(p, ' ', (size_t)(eol - p))) == NULL || sp == p)
		return S_BAD_REQUEST;	/* HTTP/0.9 has no version */
	r->target = p;
	r->tlen = (size_t)(sp - p);
	if (r->tlen > TARGET_MAX)
		return S_URI_TOO_LONG;
	for (i = 0; i < r->tlen; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f ||
		    p[i] == '#')
			return S_BAD_REQUEST;
	p = sp + 1;
	n = (size_t)(eol - p);
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' ||
	    p[6] != '.' || p[7] < '0' || p[7] > '9')
		return S_BAD_REQUEST;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return S_VERSION;
	r->minor = p[7] - '0';
	r->close = r->minor == 0;

	/* field-line = field-name ":" OWS field-value OWS */
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p + 2));
		if (eol == p)
			break;
		if (*p == ' ' || *p == '\t')
			return S_BAD_REQUEST;	/* obs-fold */
		if (r->nf == FIELDS_MAX)
			return S_HEAD_TOO_LARGE;
		if ((c = memchr(p, ':', (size_t)(eol - p))) == NULL || c == p)
			return S_BAD_REQUEST;
		for (v = p; v < c; v++)
			if (!is_tchar((unsigned char)*v))
				return S_BAD_REQUEST;	/* also space before ':' */
		for (v = c + 1; v < eol; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
				return S_BAD_REQUEST;	/* CR, NUL, controls */
		for (v = c + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		n = (size_t)(eol - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		r->f[r->nf].name = p;
		r->f[r->nf].nlen = (size_t)(c - p);
		r->f[r->nf].value = v;
		r->f[r->nf].vlen = n;
		r->nf++;

		if (ieqs(p, (size_t)(c - p), "host")) {
			hosts++;
			r->host = v;
			r->hostlen = n;
		} else if (ieqs(p, (size_t)(c - p), "content-length")) {
			if (cls++ > 0 || (cl = parse_clen(v, n)) < 0)
				return S_BAD_REQUEST;	/* duplicate or signed */
			r->clen = cl;
		} else if (ieqs(p, (size_t)(c - p), "transfer-encoding")) {
			if (tes++ > 0)
				return S_BAD_REQUEST;
			if (!ieqs(v, n, "chunked"))
				return S_NOT_IMPLEMENTED;
			r->chunked = 1;
		} else if (ieqs(p, (size_t)(c - p), "connection")) {
			if (list_has(v, n, "close"))
				r->close = 1;
		} else if (ieqs(p, (size_t)(c - p), "expect")) {
			if (!ieqs(v, n, "100-continue"))
				return S_EXPECTATION;
			r->expect100 = r->minor == 1;
		}
	}
	if (r->chunked && (cls > 0 || r->minor == 0))
		return S_BAD_REQUEST;		/* RFC 9112 6.1 */
	if (hosts > 1 || (hosts == 0 && r->minor == 1))
		return S_BAD_REQUEST;
	for (i = 0; i < r->hostlen; i++)
		if (strchr("/?#@ \t\\", r->host[i]) != NULL)
			return S_BAD_REQUEST;

	/* request-target: origin-form, absolute-form, or * for OPTIONS */
	p = r->target;
	n = r->tlen;
	if (n == 1 && *p == '*') {
		if (r->mlen != 7 || memcmp(r->method, "OPTIONS", 7) != 0)
			return S_BAD_REQUEST;
		r->asterisk = 1;
		r->path = p;
		r->plen = 0;
		return 0;
	}
	if (n > 7 && ieqs(p, 7, "http://")) {
		/* absolute-form: its authority replaces Host (RFC 9112 3.2.2) */
		r->host = p + 7;
		sp = memchr(r->host, '/', n - 7);
		r->hostlen = sp != NULL ? (size_t)(sp - r->host) : n - 7;
		p = r->host + r->hostlen;
		n = (size_t)(r->target + r->tlen - p);
		for (i = 0; i < r->hostlen; i++)
			if (strchr("?@\\", r->host[i]) != NULL)
				return S_BAD_REQUEST;
		if (n == 0) {
			p = "/";
			n = 1;
		}
	}
	if (*p != '/')
		return S_BAD_REQUEST;
	r->path = p;
	c = memchr(p, '?', n);
	r->plen = c != NULL ? (size_t)(c - p) : n;
	r->query = c != NULL ? c + 1 : p + n;
	r->qlen = c != NULL ? n - r->plen - 1 : 0;
	return 0;
}

/*
 * Decode path[0..n) once and resolve ".", ".." and empty segments
 * (RFC 3986 5.2.4, RFC 3875 9.8) into out, which has room for n + 1
 * bytes. A trailing slash, "." or ".." keeps a trailing "/". Returns the
 * length, or -1 for a malformed escape, a control byte (%00 included) or a
 * ".." above the root.
 */
static long
path_normalize(char *out, const char *path, size_t n)
{
	long	 dn, i = 0, o = 0, b;
	int	 dir = 0;

	if ((dn = uri_decode(out, path, n)) < 0 || has_ctl(out, (size_t)dn))
		return -1;
	/* out holds the decoded path; rewrite it in place, never longer */
	while (i < dn) {
		while (i < dn && out[i] == '/')
			i++;
		b = i;
		while (i < dn && out[i] != '/')
			i++;
		dir = i == b || (i - b == 1 && out[b] == '.') ||
		    (i - b == 2 && out[b] == '.' && out[b + 1] == '.');
		if (i - b == 2 && out[b] == '.' && out[b + 1] == '.') {
			if (o == 0)
				return -1;
			while (o > 0 && out[--o] != '/')
				;
		} else if (i > b && !(i - b == 1 && out[b] == '.')) {
			out[o++] = '/';
			memmove(out + o, out + b, (size_t)(i - b));
			o += i - b;
		}
	}
	if (o == 0 || dir)
		out[o++] = '/';
	return o;
}

/*
 * De-chunk a chunked body (RFC 9112 7.1) from raw[0..len) into out (cap
 * bytes). Returns 1 while incomplete; 0 when complete, with *used set to
 * the raw bytes consumed (trailers included) and *outlen to the body's
 * length; -1 if malformed; -2 if the body exceeds cap.
 */
static int
dechunk(const char *raw, size_t len, char *out, size_t cap, size_t *used,
    size_t *outlen)
{
	size_t	 i = 0, o = 0, size;
	int	 digits, h;
	const char *eol;

	for (;;) {
		for (size = 0, digits = 0; i < len &&
		    (h = hexval((unsigned char)raw[i])) >= 0; i++, digits++) {
			if (size > (SIZE_MAX >> 4) || digits > 8)
				return -2;
			size = size << 4 | (size_t)h;
		}
		if (i == len)
			return 1;
		if (digits == 0)
			return -1;
		/* chunk extensions are skipped; they must hold no CR/LF/NUL */
		if ((eol = memchr(raw + i, '\n', len - i)) == NULL)
			return len - i > 1024 ? -1 : 1;
		if (eol == raw + i || eol[-1] != '\r')
			return -1;
		if (raw[i] != '\r' && raw[i] != ';')
			return -1;
		for (; raw + i < eol - 1; i++)
			if (raw[i] == '\0' || raw[i] == '\r')
				if (raw + i != eol - 1)
					return -1;
		i = (size_t)(eol - raw) + 1;
		if (size == 0)
			break;
		if (size > cap - o)
			return -2;
		if (len - i < size + 2)
			return 1;
		memcpy(out + o, raw + i, size);
		o += size;
		i += size;
		if (raw[i] != '\r' || raw[i + 1] != '\n')
			return -1;
		i += 2;
	}
	/* trailer fields, ignored, then an empty line */
	for (;;) {
		if ((eol = memchr(raw + i, '\n', len - i)) == NULL)
			return 1;
		if (eol == raw + i || eol[-1] != '\r')
			return -1;
		if (eol == raw + i + 1) {
			*used = (size_t)(eol - raw) + 1;
			*outlen = o;
			return 0;
		}
		i = (size_t)(eol - raw) + 1;
	}
}

/* ---- The CGI's environment (RFC 3875 4.1) -------------------------- */

/* What serve knows about a connection. */
struct conninfo {
	char	 peer[INET6_ADDRSTRLEN], peerport[8];
	char	 local[INET6_ADDRSTRLEN], localport[8];
};

struct env {
	char	*v[ENV_MAX + 1];
	int	 n;
	struct buf b;
};

/* Start a variable "NAME=" and return where its value begins. */
static void
env_begin(struct env *e, const char *name)
{
	if (e->n == ENV_MAX) {
		e->b.full = 1;
		return;
	}
	e->v[e->n++] = e->b.p + e->b.len;
	buf_str(&e->b, name);
	buf_add(&e->b, "=", 1);
}

static void
env_end(struct env *e)
{
	buf_add(&e->b, "", 1);
}

static void
env_set(struct env *e, const char *name, const char *v, size_t n)
{
	env_begin(e, name);
	buf_add(&e->b, v, n);
	env_end(e);
}

static int
same_name(const struct field *a, const struct field *b)
{
	return ieq(a->name, a->nlen, b->name, b->nlen);
}

/* Request fields never passed as HTTP_*: RFC 3875 4.1.18, 9.2, httpoxy. */
static int
field_dropped(const char *name, size_t n)
{
	static const char *const drop[] = { "authorization", "proxy",
	    "proxy-authorization", "content-length", "content-type",
	    "connection", "keep-alive", "te", "trailer", "transfer-encoding",
	    "upgrade", "proxy-connection", "expect" };
	size_t	 i;

	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (ieqs(name, n, drop[i]))
			return 1;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return 1;	/* "_" or "." would collide after mapping */
	return 0;
}

/*
 * Build the CGI's environment for r into e, from scratch. pathinfo is the
 * decoded, normalised path; bodylen the de-chunked body's length. Returns
 * 0, or -1 if it does not fit (431).
 */
static int
build_env(struct env *e, char *mem, size_t cap, const struct req *r,
    const struct conninfo *ci, const char *pathinfo, size_t pilen,
    size_t bodylen)
{
	const struct field *f;
	const char *name = r->host, *sn;
	size_t	 namelen = r->hostlen, i;
	int	 j, k, first;
	char	 num[24];
	struct buf nb;

	e->n = 0;
	buf_init(&e->b, mem, cap);
	env_set(e, "GATEWAY_INTERFACE", "CGI/1.1", 7);
	env_set(e, "SERVER_SOFTWARE", SOFTWARE, strlen(SOFTWARE));
	/* SERVER_NAME: Host without its port, else the local address */
	if (namelen == 0) {
		name = ci->local;
		namelen = strlen(ci->local);
	} else if (name[0] == '[') {
		sn = memchr(name, ']', namelen);
		namelen = sn != NULL ? (size_t)(sn - name) + 1 : namelen;
	} else if ((sn = memchr(name, ':', namelen)) != NULL)
		namelen = (size_t)(sn - name);
	env_set(e, "SERVER_NAME", name, namelen);
	env_set(e, "SERVER_PORT", ci->localport, strlen(ci->localport));
	env_set(e, "SERVER_PROTOCOL", r->minor ? "HTTP/1.1" : "HTTP/1.0", 8);
	env_set(e, "REQUEST_METHOD", r->method, r->mlen);
	env_set(e, "SCRIPT_NAME", "", 0);
	env_set(e, "PATH_INFO", pathinfo, pilen);
	env_set(e, "QUERY_STRING", r->query, r->qlen);
	env_set(e, "REMOTE_ADDR", ci->peer, strlen(ci->peer));
	env_set(e, "REMOTE_PORT", ci->peerport, strlen(ci->peerport));
	env_set(e, "REQUEST_URI", r->target, r->tlen);
	/* the WAGI extensions, as Spin sets them for the route "/..." */
	env_set(e, "X_MATCHED_ROUTE", "/...", 4);
	env_set(e, "X_RAW_PATH_INFO", r->path, r->plen);
	env_begin(e, "X_FULL_URL");
	buf_str(&e->b, "http://");
	if (r->hostlen > 0)
		buf_add(&e->b, r->host, r->hostlen);
	else
		buf_str(&e->b, ci->local);
	buf_add(&e->b, r->path, r->plen);
	if (r->qlen > 0) {
		buf_add(&e->b, "?", 1);
		buf_add(&e->b, r->query, r->qlen);
	}
	env_end(e);
	if (bodylen > 0) {
		buf_init(&nb, num, sizeof(num));
		buf_uint(&nb, bodylen, 1);
		env_set(e, "CONTENT_LENGTH", num, nb.len);
		for (j = 0; j < r->nf; j++)
			if (ieqs(r->f[j].name, r->f[j].nlen, "content-type"))
				env_set(e, "CONTENT_TYPE", r->f[j].value,
				    r->f[j].vlen);
	}
	/* HTTP_*: repeated fields joined with ", " (RFC 3875 4.1.18) */
	for (j = 0; j < r->nf; j++) {
		f = &r->f[j];
		if (field_dropped(f->name, f->nlen))
			continue;
		for (k = 0; k < j; k++)
			if (same_name(&r->f[k], f))
				break;
		if (k < j)
			continue;	/* joined already */
		env_begin(e, "HTTP_");
		e->b.len--;		/* drop the "=" env_begin wrote */
		for (i = 0; i < f->nlen; i++) {
			char c = f->name[i];

			c = c == '-' ? '_' : (c >= 'a' && c <= 'z') ?
			    (char)(c - 'a' + 'A') : c;
			buf_add(&e->b, &c, 1);
		}
		buf_add(&e->b, "=", 1);
		for (k = j, first = 1; k < r->nf; k++) {
			if (!same_name(&r->f[k], f))
				continue;
			if (!first)
				buf_add(&e->b, ", ", 2);
			buf_add(&e->b, r->f[k].value, r->f[k].vlen);
			first = 0;
		}
		env_end(e);
	}
	e->v[e->n] = NULL;
	return e->b.full ? -1 : 0;
}

/* ---- Parsing the CGI's output (RFC 3875 6) ------------------------- */

struct cgiout {
	int		 status;
	const char	*reason;
	size_t		 rlen;
	int64_t		 clen;		/* the CGI's Content-Length, -1 if none */
	struct field	 f[CGI_FIELDS_MAX];	/* fields to forward */
	int		 nf;
	size_t		 headlen;	/* bytes up to and with the blank line */
};

/*
 * Parse the CGI's header block at the start of buf[0..len). Lines end in
 * LF or CR LF. Returns 0 with o filled, 1 if the blank line has not come
 * yet (and eof is 0), or -1 for output to answer with 502: an empty one, a
 * block over CGI_HEAD_MAX or without a blank line, a line that is not a
 * field, a CR or control byte inside a line, an unparsable Status, or no
 * Status, Content-Type or Location. Connection, Transfer-Encoding,
 * Keep-Alive and Content-Length are not forwarded: serve frames the body.
 */
static int
parse_cgi_head(const char *buf, size_t len, int eof, struct cgiout *o)
{
	const char *p = buf, *lf, *c, *v, *end;
	size_t	 n, i;
	int	 cgi = 0, loc = 0, st = 0;

	memset(o, 0, sizeof(*o));
	o->clen = -1;
	o->status = S_OK;
	for (;;) {
		n = len - (size_t)(p - buf);
		if ((size_t)(p - buf) > CGI_HEAD_MAX)
			return -1;
		if ((lf = memchr(p, '\n', n)) == NULL)
			return !eof && len <= CGI_HEAD_MAX ? 1 : -1;
		end = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
		if (end == p)
			break;			/* the blank line */
		if ((size_t)(lf - buf) >= CGI_HEAD_MAX)
			return -1;
		for (v = p; v < end; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
				return -1;
		if ((c = memchr(p, ':', (size_t)(end - p))) == NULL || c == p)
			return -1;
		for (v = p; v < c; v++)
			if (!is_tchar((unsigned char)*v))
				return -1;
		for (v = c + 1; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		n = (size_t)(end - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		i = (size_t)(c - p);
		if (ieqs(p, i, "status")) {
			/* Status: 3digit SP reason-phrase (RFC 3875 6.3.3) */
			if (st++ || n < 3 || v[0] < '1' || v[0] > '5' ||
			    v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9' ||
			    (n > 3 && v[3] != ' ') || v[0] == '1')
				return -1;
			o->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
			    (v[2] - '0');
			o->reason = n > 4 ? v + 4 : NULL;
			o->rlen = n > 4 ? n - 4 : 0;
			cgi = 1;
		} else if (ieqs(p, i, "content-length")) {
			o->clen = parse_clen(v, n);
		} else if (ieqs(p, i, "connection") || ieqs(p, i, "keep-alive") ||
		    ieqs(p, i, "transfer-encoding")) {
			/* hop-by-hop: serve's business */
		} else {
			if (ieqs(p, i, "content-type"))
				cgi = 1;
			if (ieqs(p, i, "location")) {
				cgi = loc = 1;
			}
			if (o->nf == CGI_FIELDS_MAX)
				return -1;
			o->f[o->nf].name = p;
			o->f[o->nf].nlen = i;
			o->f[o->nf].value = v;
			o->f[o->nf].vlen = n;
			o->nf++;
		}
		p = lf + 1;
	}
	if (!cgi)
		return -1;
	/* a redirect without a Status is a 302 (RFC 3875 6.2.3, 6.2.4) */
	if (loc && !st)
		o->status = S_FOUND;
	o->headlen = (size_t)(lf - buf) + 1;
	return 0;
}

/* ---- I/O helpers --------------------------------------------------- */

static volatile sig_atomic_t got_term;
static int	 opt_quiet, cgi_timeout = 10, head_timeout = 10;
static char	*prog_argv[ARGS_MAX + 2];

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* SIGCHLD needs a handler, not SIG_DFL, to end the parent's ppoll. */
static void
on_chld(int sig)
{
	(void)sig;
}

/* One line on stderr: "serve: a b c". */
static void
logmsg(const char *a, const char *b, const char *c)
{
	char	 mem[512];
	struct buf m;

	buf_init(&m, mem, sizeof(mem) - 1);
	buf_str(&m, "serve: ");
	buf_str(&m, a);
	if (b != NULL)
		buf_str(&m, b);
	if (c != NULL)
		buf_str(&m, c);
	if (m.full)
		m.len = sizeof(mem) - 1;
	mem[m.len++] = '\n';
	(void)!write(STDERR_FILENO, mem, m.len);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
ms_left(int64_t deadline)
{
	int64_t	 d = deadline - now_ms();

	return d < 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

/*
 * Write all of iov to fd (non-blocking), waiting at most WRITE_IDLE_S for
 * each step. 0, or -1: the client is gone or stalled.
 */
static int
write_all(int fd, struct iovec *iov, int cnt)
{
	struct pollfd pfd;
	ssize_t	 w;

	for (iov_consume(&iov, &cnt, 0); cnt > 0;
	    iov_consume(&iov, &cnt, (size_t)w)) {
		if ((w = writev(fd, iov, cnt)) >= 0)
			continue;
		w = 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, WRITE_IDLE_S * 1000) <= 0)
			return -1;
	}
	return 0;
}

/* "Tue, 24 Nov 2026 01:02:03 GMT" (RFC 9110 5.6.7) */
static void
render_imf_date(struct buf *b, int64_t t)
{
	static const char *const dn[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	struct civil c;

	civil_from_unix(t, &c);
	buf_str(b, dn[c.wday]);
	buf_add(b, ", ", 2);
	buf_uint(b, (uint64_t)c.mday, 2);
	buf_add(b, " ", 1);
	buf_add(b, month_name[c.mon - 1], 3);
	buf_add(b, " ", 1);
	buf_int(b, c.year, 4);
	buf_add(b, " ", 1);
	render_hms(b, &c);
	buf_str(b, " GMT");
}

/*
 * Append s[0..n) for a log line: bytes outside printable ASCII, '"' and
 * '\' as \xHH, so a request can never write a control sequence into a log
 * (CVE-2009-4487).
 */
static void
log_esc(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i;
	unsigned char c;
	char	 x[4] = { '\\', 'x', 0, 0 };

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
			x[2] = hex[c >> 4];
			x[3] = hex[c & 15];
			buf_add(b, x, 4);
		} else
			buf_add(b, (const char *)&c, 1);
	}
}

/*
 * One access log line in Common Log Format, written at once:
 * host - - [24/Nov/2026:01:02:03 +0000] "GET / HTTP/1.1" 200 1234
 */
static void
log_access(const struct conninfo *ci, const char *line, size_t linelen,
    int status, uint64_t bytes)
{
	char	 mem[1024];
	struct buf b;
	struct civil c;

	if (opt_quiet)
		return;
	civil_from_unix((int64_t)time(NULL), &c);
	buf_init(&b, mem, sizeof(mem) - 2);
	buf_str(&b, ci->peer);
	buf_str(&b, " - - [");
	buf_uint(&b, (uint64_t)c.mday, 2);
	buf_add(&b, "/", 1);
	buf_add(&b, month_name[c.mon - 1], 3);
	buf_add(&b, "/", 1);
	buf_int(&b, c.year, 4);
	buf_add(&b, ":", 1);
	render_hms(&b, &c);
	buf_str(&b, " +0000] \"");
	log_esc(&b, line, linelen > 512 ? 512 : linelen);
	buf_str(&b, "\" ");
	buf_uint(&b, (uint64_t)status, 3);
	buf_add(&b, " ", 1);
	if (bytes > 0)
		buf_uint(&b, bytes, 1);
	else
		buf_add(&b, "-", 1);
	if (b.full)
		b.len = sizeof(mem) - 2;
	mem[b.len++] = '\n';
	(void)!write(STDERR_FILENO, mem, b.len);
}

/* ---- One connection ------------------------------------------------ */

struct conn {
	int		 in, out;	/* the client: one socket, or 0 and 1 */
	struct conninfo	 ci;
	char		*buf;		/* bytes read and not yet used */
	size_t		 len, cap;
	int64_t		 sent;		/* body bytes of the current response */
};

/*
 * Read more from the client into c->buf until deadline. 1 on data, 0 on
 * EOF, -1 on timeout or error. A SIGTERM while idle (c->len == 0 and
 * idle set) ends the wait too (-1).
 */
static int
fill(struct conn *c, int64_t deadline, int idle)
{
	struct pollfd pfd;
	ssize_t	 n;
	int	 r;

	for (;;) {
		if (c->len == c->cap)
			return -1;
		n = read(c->in, c->buf + c->len, c->cap - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			return 1;
		}
		if (n == 0) {
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if (idle && got_term)
			return -1;
		pfd.fd = c->in;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, ms_left(deadline));
		if (r == 0)
			return -1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/*
 * Send an answer of serve's own: the status and, unless head or 204, a
 * one-line text body. close_it adds Connection: close (the caller closes).
 */
static void
send_error(struct conn *c, int status, int head, int close_it)
{
	char	 mem[512], body[64];
	struct buf b, bb;
	struct iovec iov;

	buf_init(&bb, body, sizeof(body));
	buf_uint(&bb, (uint64_t)status, 3);
	buf_add(&bb, " ", 1);
	buf_str(&bb, status_text(status));
	buf_add(&bb, "\n", 1);
	buf_init(&b, mem, sizeof(mem));
	buf_str(&b, "HTTP/1.1 ");
	buf_add(&b, body, bb.len - 1);
	buf_str(&b, "\r\nDate: ");
	render_imf_date(&b, (int64_t)time(NULL));
	if (status != S_NO_CONTENT) {
		buf_str(&b, "\r\nContent-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: ");
		buf_uint(&b, bb.len, 1);
	}
	buf_str(&b, "\r\nCache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n");
	buf_str(&b, close_it ? "Connection: close\r\n\r\n" : "\r\n");
	c->sent = 0;
	if (!head && status != S_NO_CONTENT) {
		buf_add(&b, body, bb.len);
		c->sent = (int64_t)bb.len;
	}
	iov.iov_base = mem;
	iov.iov_len = b.len;
	(void)write_all(c->out, &iov, 1);
}

/* Kill the CGI's process group: TERM, and KILL after a grace period. */
static void
kill_group(pid_t pid, int grace)
{
	siginfo_t si;
	int64_t	 until = now_ms() + grace * 1000;

	if (grace > 0)
		(void)kill(-pid, SIGTERM);
	while (grace > 0 && now_ms() < until) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid)
			break;
		usleep(10000);
	}
	(void)kill(-pid, SIGKILL);
}

/*
 * Wait for the CGI (pid, its own group leader) until deadline, then kill
 * its group: whatever it left running (a double fork) goes too. The
 * leader is reaped last, so its pid cannot name another group meanwhile.
 */
static void
reap_cgi(pid_t pid, int64_t deadline)
{
	siginfo_t si;
	int	 us = 100;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1 &&
		    errno != EINTR)
			break;
		if (si.si_pid == pid)
			break;
		if (now_ms() >= deadline) {
			kill_group(pid, KILL_GRACE_S);
			break;
		}
		usleep((useconds_t)us);
		if (us < 20000)
			us *= 2;
	}
	(void)kill(-pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

static int
set_nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Send one chunk of a chunked body (RFC 9112 7.1); n == 0 ends it. */
static int
send_chunk(struct conn *c, const char *p, size_t n)
{
	char	 hex[24];
	struct iovec iov[3];
	size_t	 k = sizeof(hex);
	size_t	 v = n;

	hex[--k] = '\n';
	hex[--k] = '\r';
	do {
		hex[--k] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	iov[0].iov_base = hex + k;
	iov[0].iov_len = sizeof(hex) - k;
	iov[1].iov_base = (char *)p;
	iov[1].iov_len = n;
	iov[2].iov_base = (char *)(n ? "\r\n" : "\r\n");
	iov[2].iov_len = 2;
	return write_all(c->out, iov, 3);
}

/*
 * Send the status line and header block for the CGI's answer co. complete:
 * the whole body (len bytes) is at hand, so it gets a Content-Length;
 * otherwise it is chunked on HTTP/1.1 and close-delimited on HTTP/1.0.
 * Sets *nobody when no body may follow (HEAD, 204, 304), *chunked, and
 * clears *keep for a close-delimited body. 0, or -1 if the client is gone.
 */
static int
send_head(struct conn *c, const struct req *r, const struct cgiout *co,
    int head, int complete, size_t len, int *nobody, int *chunked, int *keep)
{
	char	 mem[CGI_HEAD_MAX + 512];
	struct buf h;
	struct iovec iov;
	int	 i;

	*nobody = head || co->status == S_NO_CONTENT ||
	    co->status == S_NOT_MODIFIED;
	*chunked = !complete && !*nobody && r->minor == 1;
	if (!complete && !*nobody && !*chunked)
		*keep = 0;
	buf_init(&h, mem, sizeof(mem));
	buf_str(&h, r->minor ? "HTTP/1.1 " : "HTTP/1.0 ");
	buf_uint(&h, (uint64_t)co->status, 3);
	buf_add(&h, " ", 1);
	if (co->rlen > 0)
		buf_add(&h, co->reason, co->rlen);
	else
		buf_str(&h, status_text(co->status));
	buf_str(&h, "\r\nDate: ");
	render_imf_date(&h, (int64_t)time(NULL));
	buf_str(&h, "\r\n");
	for (i = 0; i < co->nf; i++) {
		buf_add(&h, co->f[i].name, co->f[i].nlen);
		buf_add(&h, ": ", 2);
		buf_add(&h, co->f[i].value, co->f[i].vlen);
		buf_str(&h, "\r\n");
	}
	if (co->status != S_NO_CONTENT && co->status != S_NOT_MODIFIED) {
		if (complete) {
			/* HEAD: the CGI's own length when it sent no body */
			buf_str(&h, "Content-Length: ");
			buf_uint(&h, head && len == 0 && co->clen >= 0 ?
			    (uint64_t)co->clen : len, 1);
			buf_str(&h, "\r\n");
		} else if (*chunked)
			buf_str(&h, "Transfer-Encoding: chunked\r\n");
	}
	buf_str(&h, *keep ? "\r\n" : "Connection: close\r\n\r\n");
	iov.iov_base = mem;
	iov.iov_len = h.len;
	return h.full ? -1 : write_all(c->out, &iov, 1);
}

/* Send body bytes as they are framed: a chunk, raw, or not at all. */
static int
send_body(struct conn *c, const char *p, size_t n, int nobody, int chunked)
{
	struct iovec iov;

	if (nobody || n == 0)
		return 0;
	c->sent += (int64_t)n;
	if (chunked)
		return send_chunk(c, p, n);
	iov.iov_base = (char *)p;
	iov.iov_len = n;
	return write_all(c->out, &iov, 1);
}

/*
 * Run the program for request r with environment envp and body, and
 * answer the client. Returns the status answered (499: the client went
 * away first); clears *keep when the connection must close.
 */
static int
run_cgi(struct conn *c, const struct req *r, char **envp, const char *body,
    size_t bodylen, int head, int *keep)
{
	static char out[CGI_HEAD_MAX + OUT_BUF];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t sigs;
	struct pollfd pfd[3];
	struct cgiout co;
	int	 inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, rc, err;
	int	 phase = 0, eof = 0, nobody = 0, chunked = 0, status = 0;
	nfds_t	 nfds;
	size_t	 olen = 0, off = 0, written = 0;
	ssize_t	 n;
	pid_t	 pid;
	int64_t	 deadline = now_ms() + (int64_t)cgi_timeout * 1000;

	if (pipe2(inp, O_CLOEXEC) == -1 || pipe2(outp, O_CLOEXEC) == -1) {
		logmsg("pipe: ", strerror(errno), NULL);
		if (inp[0] != -1) {
			close(inp[0]);
			close(inp[1]);
		}
		send_error(c, S_UNAVAILABLE, head, 1);
		*keep = 0;
		return S_UNAVAILABLE;
	}
	/* its own process group, default signals, stdin and stdout piped */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawnattr_init(&sa);
	/* caught signals reset on exec by themselves; ignored ones do not,
	 * and a full set here costs one sigaction per signal per request */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGPIPE);
	posix_spawnattr_setsigdefault(&sa, &sigs);
	sigemptyset(&sigs);
	posix_spawnattr_setsigmask(&sa, &sigs);
	posix_spawnattr_setpgroup(&sa, 0);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	err = posix_spawn(&pid, prog_argv[0], &fa, &sa, prog_argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(inp[0]);
	close(outp[1]);
	if (err != 0) {
		logmsg("cannot run ", prog_argv[0], err == ENOENT ?
		    ": no such file" : err == EACCES ? ": permission denied" :
		    ": spawn failed");
		close(inp[1]);
		close(outp[0]);
		send_error(c, S_BAD_GATEWAY, head, !*keep);
		return S_BAD_GATEWAY;
	}
	if (bodylen == 0) {
		close(inp[1]);
		inp[1] = -1;
	} else
		set_nonblock(inp[1]);
	set_nonblock(outp[0]);

	while (!eof) {
		nfds = 0;
		pfd[nfds].fd = outp[0];
		pfd[nfds++].events = POLLIN;
		pfd[nfds].fd = c->in;
		pfd[nfds++].events = POLLRDHUP;
		if (inp[1] != -1) {
			pfd[nfds].fd = inp[1];
			pfd[nfds++].events = POLLOUT;
		}
		rc = poll(pfd, nfds, ms_left(deadline));
		if (rc == -1 && errno != EINTR)
			goto gone;
		if (rc == 0 && now_ms() >= deadline) {
			logmsg("the program ran out of time: ", prog_argv[0], NULL);
			if (phase < 2) {	/* answer first, then the grace */
				send_error(c, S_GATEWAY_TIMEOUT, head, 1);
				status = S_GATEWAY_TIMEOUT;
			}
			kill_group(pid, KILL_GRACE_S);
			*keep = 0;
			goto done;
		}
		if (rc <= 0)
			continue;
		if (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			/* the client went away: the program's work is wasted */
			if (phase < 2)
				status = 499;
			goto gone;
		}
		if (nfds == 3 && pfd[2].revents) {
			n = write(inp[1], body + written, bodylen - written);
			if (n > 0)
				written += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    written == bodylen) {
				close(inp[1]);	/* all sent, or it stopped reading */
				inp[1] = -1;
			}
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(outp[0], out + olen, sizeof(out) - olen);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			eof = 1;
		else
			olen += (size_t)n;
		if (phase == 0) {
			if ((rc = parse_cgi_head(out, olen, eof, &co)) == 1)
				continue;
			if (rc == -1)
				goto bad;
			off = co.headlen;
			status = co.status;
			phase = 1;
		}
		if (phase == 1 && !eof && olen == sizeof(out)) {
			/* more than the buffer holds: stream the rest */
			if (send_head(c, r, &co, head, 0, 0, &nobody, &chunked,
			    keep) == -1)
				goto gone;
			phase = 2;
		}
		if (phase == 2) {
			if (send_body(c, out + off, olen - off, nobody,
			    chunked) == -1)
				goto gone;
			olen = off = 0;
		}
	}
	if (phase == 0)
		goto bad;
	if (phase == 1) {
		c->sent = 0;
		if (send_head(c, r, &co, head, 1, olen - off, &nobody, &chunked,
		    keep) == -1 || send_body(c, out + off, olen - off, nobody,
		    0) == -1)
			goto gone;
	} else if (chunked && send_chunk(c, "", 0) == -1)
		goto gone;
	goto done;
bad:
	logmsg("not a valid CGI response from ", prog_argv[0], NULL);
	kill_group(pid, 0);
	send_error(c, S_BAD_GATEWAY, head, !*keep);
	status = S_BAD_GATEWAY;
	goto done;
gone:
	kill_group(pid, 0);
	*keep = 0;
done:
	if (inp[1] != -1)
		close(inp[1]);
	close(outp[0]);
	reap_cgi(pid, deadline);
	return status;
}

/* Length of the request line at the start of c->buf, for the log. */
static size_t
line_len(const struct conn *c)
{
	size_t	 i;

	for (i = 0; i < c->len && c->buf[i] != '\r' && c->buf[i] != '\n'; i++)
		;
	return i;
}

/* A head over HEAD_MAX: 414 when even its request line is, else 431. */
static int
too_large(const struct conn *c)
{
	return line_len(c) >= HEAD_MAX ? S_URI_TOO_LONG : S_HEAD_TOO_LARGE;
}

/* Answer with an error of serve's own, log it; the connection closes. */
static void
refuse(struct conn *c, int status)
{
	send_error(c, status, 0, 1);
	log_access(&c->ci, c->buf, line_len(c), status, (uint64_t)c->sent);
}

/*
 * Read the request body after the head (hl bytes) into place: a
 * Content-Length body stays in c->buf, a chunked one is de-chunked into
 * dechunked. Sets *body, *bodylen and *used (raw bytes of head and body).
 * Returns 0, a status to refuse the request with, or -1 if the client
 * closed the connection halfway.
 */
static int
read_body(struct conn *c, const struct req *r, size_t hl, char *dechunked,
    const char **body, size_t *bodylen, size_t *used)
{
	int64_t	 deadline = now_ms() + head_timeout * (int64_t)1000;
	size_t	 raw;
	int	 rc;

	*body = c->buf + hl;
	*bodylen = 0;
	*used = hl;
	if ((r->clen > 0 || r->chunked) && r->expect100) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		struct iovec iov = { (char *)cont, sizeof(cont) - 1 };

		(void)write_all(c->out, &iov, 1);
	}
	if (r->clen > 0) {
		while (c->len - hl < (size_t)r->clen)
			if ((rc = fill(c, deadline, 0)) != 1)
				return rc == 0 ? -1 : S_TIMEOUT;
		*bodylen = (size_t)r->clen;
		*used += *bodylen;
		return 0;
	}
	if (!r->chunked)
		return 0;
	*body = dechunked;
	for (;;) {
		rc = dechunk(c->buf + hl, c->len - hl, dechunked, BODY_MAX, &raw,
		    bodylen);
		if (rc == 0) {
			*used += raw;
			return 0;
		}
		if (rc == -1)
			return S_BAD_REQUEST;
		if (rc == -2 || c->len - hl >= CHUNKED_MAX)
			return S_TOO_LARGE;
		if ((rc = fill(c, deadline, 0)) != 1)
			return rc == 0 ? -1 : S_TIMEOUT;
	}
}

/*
 * Serve requests on one connection until it closes, fails, times out,
 * reaches REQS_PER_CONN, or serve is told to stop.
 */
static void
handle_conn(struct conn *c)
{
	static char dechunked[BODY_MAX], envmem[ENV_BYTES];
	static char pathbuf[TARGET_MAX + 1];
	struct req r;
	struct env e;
	const char *body;
	size_t	 bodylen, used;
	long	 hl, pl = 0;
	int	 served, keep, status, rc, idle;
	int64_t	 deadline;

	for (served = 0; served < REQS_PER_CONN; served++) {
		c->sent = 0;
		/* wait for a head: idle keep-alive first, then -T in all */
		idle = served > 0 && c->len == 0;
		deadline = now_ms() + (idle ? KEEPALIVE_S : head_timeout) *
		    (int64_t)1000;
		while ((hl = head_end(c->buf, c->len)) == 0) {
			if (c->len >= HEAD_MAX) {
				refuse(c, too_large(c));
				return;
			}
			rc = fill(c, deadline, c->len == 0);
			if (rc == 0 || (rc == -1 && (c->len == 0 || got_term)))
				return;	/* closed, or idle: nothing to answer */
			if (rc == -1) {
				refuse(c, S_TIMEOUT);
				return;
			}
			if (idle) {	/* a new request began: -T from here */
				idle = 0;
				deadline = now_ms() + head_timeout * (int64_t)1000;
			}
		}
		if (hl < 0 || hl > HEAD_MAX) {
			refuse(c, hl < 0 ? S_BAD_REQUEST : too_large(c));
			return;
		}
		status = parse_head(c->buf, (size_t)hl, &r);
		if (status == 0 && !r.asterisk &&
		    (pl = path_normalize(pathbuf, r.path, r.plen)) < 0)
			status = S_BAD_REQUEST;
		if (status == 0 && r.clen > BODY_MAX)
			status = S_TOO_LARGE;
		if (status == 0)
			status = read_body(c, &r, (size_t)hl, dechunked, &body,
			    &bodylen, &used);
		if (status == -1)
			return;		/* it hung up halfway through a body */
		if (status == 0 && !r.asterisk && build_env(&e, envmem,
		    sizeof(envmem), &r, &c->ci, pathbuf, (size_t)pl, bodylen) == -1)
			status = S_HEAD_TOO_LARGE;
		if (status != 0) {
			refuse(c, status);
			return;
		}

		keep = !r.close && !got_term && served + 1 < REQS_PER_CONN;
		if (r.asterisk) {
			send_error(c, S_NO_CONTENT, 0, !keep);
			status = S_NO_CONTENT;
		} else
			status = run_cgi(c, &r, e.v, body, bodylen, r.mlen == 4 &&
			    memcmp(r.method, "HEAD", 4) == 0, &keep);
		log_access(&c->ci, c->buf, line_len(c), status, (uint64_t)c->sent);
		if (!keep)
			return;
		/* pipelined bytes after this request stay for the next */
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
}

/* ---- Setting up ---------------------------------------------------- */

static const char usage_text[] =
    "usage: serve [-hqV] [-b address] [-p port] [-c max-children]\n"
    "             [-t cgi-timeout] [-T head-timeout] [-i] [program [arg ...]]\n";

static void
usage(void)
{
	(void)!write(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
	exit(2);
}

/* A decimal in [lo, hi], or exit 2 naming the option. */
static long
number(const char *s, long lo, long hi, const char *opt)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		char	 m[96];
		struct buf b;

		buf_init(&b, m, sizeof(m) - 1);
		buf_str(&b, " must be a number from ");
		buf_int(&b, lo, 1);
		buf_str(&b, " to ");
		buf_int(&b, hi, 1);
		m[b.len] = '\0';
		logmsg(opt, m, NULL);
		exit(2);
	}
	return v;
}

/* Numeric host and port of a socket address. */
static void
addr_text(const struct sockaddr *sa, socklen_t len, char *host, char *port)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	struct sockaddr_in v4;

	/* an IPv4 client on a dual-stack socket is shown as IPv4 */
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		v4.sin_port = s6->sin6_port;
		memcpy(&v4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
		sa = (const struct sockaddr *)&v4;
		len = sizeof(v4);
	}
	if (getnameinfo(sa, len, host, INET6_ADDRSTRLEN, port, 8,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strcpy(host, "-");
		strcpy(port, "0");
	}
}

static void
conn_info(int fd, struct conninfo *ci)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *v;

	strcpy(ci->peer, "-");
	strcpy(ci->peerport, "0");
	strcpy(ci->local, "localhost");
	strcpy(ci->localport, "0");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, len, ci->peer, ci->peerport);
	else {
		/* inetd-style wrappers that pass the peer in the environment */
		if ((v = getenv("REMOTE_ADDR")) != NULL ||
		    (v = getenv("TCPREMOTEIP")) != NULL)
			snprintf(ci->peer, sizeof(ci->peer), "%s", v);
		if ((v = getenv("REMOTE_PORT")) != NULL ||
		    (v = getenv("TCPREMOTEPORT")) != NULL)
			snprintf(ci->peerport, sizeof(ci->peerport), "%s", v);
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, len, ci->local, ci->localport);
}

/* Serve the connection on in/out in this process. */
static void
serve_one(int in, int out)
{
	static char io[HEAD_MAX + CHUNKED_MAX];
	struct conn c;
	int	 one = 1;

	memset(&c, 0, sizeof(c));
	c.in = in;
	c.out = out;
	c.buf = io;
	c.cap = sizeof(io);
	conn_info(in, &c.ci);
	(void)setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(in);
	if (out != in)
		set_nonblock(out);
	handle_conn(&c);
}

/* The program to run: argv of serve's operands, or cgi beside serve. */
static void
find_program(int argc, char *argv[], const char *self)
{
	static char path[PATH_MAX];
	ssize_t	 n;
	char	*slash;
	int	 i;

	if (argc > ARGS_MAX + 1) {
		logmsg("too many program arguments", NULL, NULL);
		exit(2);
	}
	if (argc > 0) {
		for (i = 0; i < argc; i++)
			prog_argv[i] = argv[i];
		prog_argv[argc] = NULL;
	} else {
		n = readlink("/proc/self/exe", path, sizeof(path) - 5);
		if (n <= 0) {
			n = (ssize_t)strlen(self);
			if ((size_t)n >= sizeof(path) - 5)
				n = 0;
			memcpy(path, self, (size_t)n);
		}
		path[n] = '\0';
		slash = strrchr(path, '/');
		strcpy(slash != NULL ? slash + 1 : path, "cgi");
		prog_argv[0] = path;
		prog_argv[1] = NULL;
	}
	if (access(prog_argv[0], X_OK) != 0) {
		logmsg("cannot run ", prog_argv[0], ": not an executable file");
		exit(1);
	}
}

/*
 * Listen on address and port: every address it resolves to, up to
 * LISTEN_MAX; with no address, one dual-stack IPv6 socket, or IPv4 alone
 * where IPv6 is off. Returns the count; exits 1 if none could listen.
 */
static int
open_listeners(const char *address, const char *port, int *fds)
{
	struct addrinfo hints, *res, *ai;
	int	 n = 0, fd, one = 1, zero = 0, family;
	char	 where[INET6_ADDRSTRLEN + 16], p[8];
	struct sockaddr_storage first;
	socklen_t len;

	for (family = AF_INET6; n == 0; family = AF_INET) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = address == NULL ? family : AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		if (getaddrinfo(address, port, &hints, &res) != 0) {
			if (address == NULL && family == AF_INET6)
				continue;
			logmsg("cannot resolve ", address != NULL ? address : "*",
			    NULL);
			exit(1);
		}
		for (ai = res; ai != NULL && n < LISTEN_MAX; ai = ai->ai_next) {
			/* -p 0: every socket gets the port the first one got */
			if (n > 0 && strcmp(port, "0") == 0)
				((struct sockaddr_in *)ai->ai_addr)->sin_port =
				    ((struct sockaddr_in *)&first)->sin_port;
			fd = socket(ai->ai_family, ai->ai_socktype |
			    SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (fd != -1) {
				(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
				    &one, sizeof(one));
				if (ai->ai_family == AF_INET6)
					(void)setsockopt(fd, IPPROTO_IPV6,
					    IPV6_V6ONLY, address == NULL ? &zero :
					    &one, sizeof(one));
			}
			if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
			    listen(fd, 1024) == -1) {
				addr_text(ai->ai_addr, ai->ai_addrlen, where, p);
				strcat(where, " port ");
				strcat(where, p);
				strcat(where, ": ");
				logmsg("cannot listen on ", where, strerror(errno));
				if (fd != -1)
					close(fd);
				continue;
			}
			if (n == 0) {
				len = sizeof(first);
				(void)getsockname(fd, (struct sockaddr *)&first, &len);
			}
			fds[n++] = fd;
		}
		freeaddrinfo(res);
		if (n == 0 && (address != NULL || family == AF_INET))
			exit(1);
	}
	return n;
}

/* Mark every open descriptor from lo up close-on-exec. */
static void
cloexec_from(int lo)
{
	DIR	*d;
	struct dirent *de;
	int	 fd;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		for (fd = lo; fd < 1024; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if ((fd = atoi(de->d_name)) >= lo && fd != dirfd(d))
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	closedir(d);
}

/* systemd socket activation (Accept=no): listeners from fd 3 on. */
static int
activated(int *fds)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	int	 n, i;

	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return 0;
	n = atoi(nfds);
	if (n < 1 || n > LISTEN_MAX) {
		logmsg("LISTEN_FDS is out of range", NULL, NULL);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		fds[i] = 3 + i;
		if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    set_nonblock(fds[i]) == -1) {
			logmsg("LISTEN_FDS names a closed descriptor", NULL, NULL);
			exit(1);
		}
	}
	return n;
}

int
main(int argc, char *argv[])
{
	static pid_t kids[CHILDREN_MAX];
	struct sigaction sa;
	struct pollfd pfd[LISTEN_MAX];
	sigset_t block, none;
	struct timespec ts;
	const char *address = NULL, *port = getenv("PORT"), *mode;
	int	 ch, inetd = 0, maxkids = 64, nkids = 0, nl, i, k, fd, st;
	int	 stopping = 0, pause_ms = 0;
	int	 lfd[LISTEN_MAX];
	int64_t	 stop_by = 0;
	pid_t	 pid;
	char	 portbuf[8];

	if (port == NULL || *port == '\0')
		port = "8080";
	while ((ch = getopt(argc, argv, "+b:c:hip:qt:T:V")) != -1) {
		switch (ch) {
		case 'b':
			address = optarg;
			break;
		case 'c':
			maxkids = (int)number(optarg, 1, CHILDREN_MAX, "-c");
			break;
		case 'h':
			(void)!write(STDOUT_FILENO, usage_text,
			    sizeof(usage_text) - 1);
			return 0;
		case 'i':
			inetd = 1;
			break;
		case 'p':
			port = optarg;
			break;
		case 'q':
			opt_quiet = 1;
			break;
		case 't':
			cgi_timeout = (int)number(optarg, 1, 3600, "-t");
			break;
		case 'T':
			head_timeout = (int)number(optarg, 1, 3600, "-T");
			break;
		case 'V':
			(void)!write(STDOUT_FILENO, "moscow-time serve " VERSION "\n",
			    sizeof("moscow-time serve " VERSION "\n") - 1);
			return 0;
		default:
			usage();
		}
	}
	snprintf(portbuf, sizeof(portbuf), "%ld", number(port, 0, 65535, "port"));
	port = portbuf;
	find_program(argc - optind, argv + optind, argv[0]);

	/* MODE=once: be the program, once, as the reference container was */
	if ((mode = getenv("MODE")) != NULL && *mode != '\0') {
		char	 modevar[64];
		char	*envp[2] = { modevar, NULL };

		snprintf(modevar, sizeof(modevar), "MODE=%s", mode);
		execve(prog_argv[0], prog_argv, envp);
		logmsg("cannot run ", prog_argv[0], NULL);
		return 1;
	}

	/* nothing serve inherited reaches a CGI, but what it is given */
	cloexec_from(3);
	/* fds 0-2 open, so no socket or pipe lands on them */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (inetd) {
		serve_one(STDIN_FILENO, STDOUT_FILENO);
		return 0;
	}

	/* a process group of its own unless a terminal's job is ours: a
	 * supervisor that started serve is never in the way of a signal */
	if (getpgrp() != getpid() && tcgetpgrp(STDIN_FILENO) != getpgrp())
		(void)setpgid(0, 0);

	if ((nl = activated(lfd)) == 0)
		nl = open_listeners(address, port, lfd);
	if (strcmp(port, "0") == 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char	 host[INET6_ADDRSTRLEN], p[8], line[16];
		struct buf b;

		getsockname(lfd[0], (struct sockaddr *)&ss, &len);
		addr_text((struct sockaddr *)&ss, len, host, p);
		buf_init(&b, line, sizeof(line));
		buf_str(&b, p);
		buf_add(&b, "\n", 1);
		(void)!write(STDOUT_FILENO, line, b.len);
	}

	/* signals arrive only inside ppoll, so no wakeup is ever lost */
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &none);

	for (;;) {
		/* reap: our children, and orphans when we are PID 1 */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (k = 0; k < nkids; k++)
				if (kids[k] == pid) {
					kids[k] = kids[--nkids];
					break;
				}
		if (got_term && !stopping) {
			stopping = 1;
			stop_by = now_ms() + (int64_t)(cgi_timeout + KILL_GRACE_S +
			    head_timeout + 1) * 1000;
			for (i = 0; i < nl; i++)
				close(lfd[i]);
			for (k = 0; k < nkids; k++)
				kill(kids[k], SIGTERM);
		}
		if (stopping) {
			if (nkids == 0)
				return 0;
			if (now_ms() >= stop_by) {
				for (k = 0; k < nkids; k++)
					kill(kids[k], SIGKILL);
				stop_by = now_ms() + 1000;
			}
			ts.tv_sec = 0;
			ts.tv_nsec = 100 * 1000000;
			(void)ppoll(NULL, 0, &ts, &none);
			continue;
		}
		/* at the cap, or out of descriptors: leave them in the backlog */
		for (i = 0; i < nl; i++) {
			pfd[i].fd = lfd[i];
			pfd[i].events = POLLIN;
		}
		ts.tv_sec = pause_ms / 1000;
		ts.tv_nsec = (long)(pause_ms % 1000) * 1000000;
		i = ppoll(pfd, nkids >= maxkids || pause_ms ? 0 : (nfds_t)nl,
		    nkids >= maxkids || pause_ms ? (pause_ms ? &ts : NULL) : NULL,
		    &none);
		pause_ms = 0;
		if (i <= 0)
			continue;
		for (i = 0; i < nl && nkids < maxkids; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			while (nkids < maxkids) {
				fd = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC);
				if (fd == -1) {
					if (errno == EMFILE || errno == ENFILE ||
					    errno == ENOBUFS || errno == ENOMEM) {
						logmsg("accept: out of descriptors or memory; "
						    "pausing", NULL, NULL);
						pause_ms = EMFILE_PAUSE_MS;
					}
					break;
				}
				pid = fork();
				if (pid == 0) {
					for (k = 0; k < nl; k++)
						close(lfd[k]);
					sa.sa_handler = SIG_DFL;
					sa.sa_flags = 0;
					sigaction(SIGCHLD, &sa, NULL);
					sigprocmask(SIG_SETMASK, &none, NULL);
					serve_one(fd, fd);
					_exit(0);
				}
				close(fd);
				if (pid == -1) {
					logmsg("fork: ", strerror(errno), NULL);
					pause_ms = EMFILE_PAUSE_MS;
					break;
				}
				kids[nkids++] = pid;
			}
			if (pause_ms)
				break;
		}
	}
}
