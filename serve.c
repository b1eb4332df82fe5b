/*
 * serve.c: moscow-time's HTTP/1.1 front end (RFC 9112), an inetd-style
 * wrapper that runs a CGI program (RFC 3875) once per request, the WAGI
 * model on a native host.
 *
 * One process and one poll(2) loop own every connection that is not
 * running a program: accepted, reading a head, reading a body, waiting for
 * a program slot, idle between keep-alive requests, lingering after the
 * last response. Each state has its own deadline. A process exists only
 * for a complete request: the program itself, started straight from the
 * loop (vfork and execve, the thttpd model), in a process group of its
 * own, with non-blocking pipes whose output the loop relays to the client
 * with backpressure.
 *
 * Everything that turns bytes into decisions is a pure function over a
 * buffer, unit-tested and fuzzed: head_end and parse_head (the request),
 * path_normalize, dechunk (a chunked body, resumable), build_env (the
 * CGI's environment), parse_cgi_head (the program's header block).
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/resource.h>
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
#include <poll.h>
#include <signal.h>
#include <stdint.h>
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
#define CHUNK_EXT_MAX	1024		/* bytes of one chunk's extensions: 400 */
#define REQS_PER_CONN	100		/* requests on one connection, then close */
#define KEEPALIVE_S	5		/* idle seconds between requests */
#define WRITE_IDLE_S	30		/* seconds a client may stall a write */
#define LINGER_S	2		/* seconds to drain a client after the last response */
#define LINGER_BYTES	(2 * 1024 * 1024) /* bytes drained after the last response: a whole chunked body */
#define KILL_GRACE_S	2		/* SIGTERM to SIGKILL for a late program */
#define REAP_RECHECK_MS	20		/* a finished program not yet reaped: look again */
#define TIMEOUT_MAX_S	3600		/* the highest -t and -T */
#define CGI_HEAD_MAX	8192		/* bytes of a CGI header block: 502 */
#define CGI_FIELDS_MAX	64		/* fields of a CGI header block: 502 */
#define OUT_BUF		(64 * 1024)	/* body bytes held to frame with Content-Length */
#define SPAWN_STACK	(32 * 1024)	/* bytes of stack for a program until its execve */
#define BUF_START	1024		/* first size of a connection's request buffer */
#define ENV_MAX		(FIELDS_MAX + 32) /* variables of the CGI's environment */
#define ENV_FIXED	2048		/* bytes of the environment not from the head */
/*
 * The environment holds the target five times at most (REQUEST_URI,
 * X_RAW_PATH_INFO, PATH_INFO, X_FULL_URL, and QUERY_STRING with
 * SERVER_NAME from an absolute-form target), the Host three times
 * (SERVER_NAME, X_FULL_URL, HTTP_HOST) and every other field once, with
 * 7 bytes of "HTTP_", "=" and NUL for a field line's 4 of ": " and CRLF:
 * so any head within the limits fits.
 */
#define ENV_BYTES	(5 * TARGET_MAX + 3 * HEAD_MAX + 3 * FIELDS_MAX + ENV_FIXED)
#define ARGS_MAX	32		/* extra program arguments */
#define LISTEN_MAX	8		/* listening sockets */
#define LISTEN_BACKLOG	1024		/* listen(2) backlog */
#define CHILDREN_MAX	1024		/* the highest -c: programs at once */
#define CONNS_MAX	65536		/* the highest -C: open connections */
#define FD_RESERVE	16		/* descriptors kept from -C's default */
#define NOFILE_WANT	CONNS_MAX	/* soft RLIMIT_NOFILE serve raises itself to */
#define EMFILE_PAUSE_MS	1000		/* accept pause when out of descriptors */
#define ACCEPT_BURST	64		/* accepts per listener per loop turn */
#define LOG_LINE_MAX	1024		/* bytes of an access log line */
#define LOG_REQ_MAX	512		/* bytes of the request line in it */
#define MSG_MAX		512		/* bytes of an error message */

enum status {
	S_CONTINUE = 100,
	S_OK = 200, S_NO_CONTENT = 204, S_FOUND = 302, S_NOT_MODIFIED = 304,
	S_BAD_REQUEST = 400, S_NOT_FOUND = 404, S_TIMEOUT = 408,
	S_TOO_LARGE = 413, S_URI_TOO_LONG = 414, S_EXPECTATION = 417,
	S_HEAD_TOO_LARGE = 431,
	S_CLIENT_GONE = 499,		/* logged only: the client left first */
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
	size_t	 i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++) {
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

/* ieq against a C string. */
static int
ieqs(const char *a, size_t alen, const char *b)
{
	return ieq(a, alen, b, strlen(b));
}

/*
 * Find the end of a request head in buf[0..len): the offset just past its
 * CRLF CRLF; 0 while incomplete; -1 if a line ends in a bare LF, or holds
 * a bare CR or a NUL (400 at once, not at the deadline). *from is where
 * the scan resumes: 0 at first, and this call leaves it where the next
 * call on more bytes of the same head must start, so a head that arrives
 * a byte at a time is scanned once in all.
 */
static long
head_end(const char *buf, size_t len, size_t *from)
{
	size_t	 i;

	for (i = *from; i < len; i++) {
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
	/* a CR at the end is judged with the byte after it */
	*from = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
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
 * Scan one field line p[0..n), its line ending excluded:
 * field-name ":" OWS field-value OWS (RFC 9112 5). The name is 1*tchar,
 * so a space before the colon and obs-fold fail; the value holds no
 * control byte but HTAB (so no CR, LF or NUL). Fills f; 0, or -1. Both
 * the request parser and the CGI-output parser use it.
 */
static int
field_line(const char *p, size_t n, struct field *f)
{
	const char *c, *v, *end = p + n;

	if ((c = memchr(p, ':', n)) == NULL || c == p)
		return -1;
	for (v = p; v < c; v++)
		if (!is_tchar((unsigned char)*v))
			return -1;
	for (v = c + 1; v < end; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return -1;
	for (v = c + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	f->name = p;
	f->nlen = (size_t)(c - p);
	f->value = v;
	f->vlen = (size_t)(end - v);
	while (f->vlen > 0 && (v[f->vlen - 1] == ' ' || v[f->vlen - 1] == '\t'))
		f->vlen--;
	return 0;
}

/*
 * 1 if h[0..n) is a valid Host: uri-host [ ":" port ] (RFC 9110 7.2,
 * RFC 3986 3.2.2): an IP-literal in brackets holding an IPv6 address, or
 * a reg-name or IPv4 address made of unreserved characters, sub-delims
 * and percent-escapes; the port all digits. An empty Host is refused:
 * every http URI has a host.
 */
static int
host_valid(const char *h, size_t n)
{
	char	 a[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	const char *e = h + n, *p = h, *rb;

	if (n == 0)
		return 0;
	if (*p == '[') {
		if ((rb = memchr(p, ']', n)) == NULL ||
		    (size_t)(rb - p - 1) >= sizeof(a))
			return 0;
		memcpy(a, p + 1, (size_t)(rb - p - 1));
		a[rb - p - 1] = '\0';
		if (inet_pton(AF_INET6, a, &in6) != 1)
			return 0;
		p = rb + 1;
	} else {
		for (; p < e && *p != ':'; p++) {
			if (*p == '%') {
				if (e - p < 3 || hexval((unsigned char)p[1]) < 0 ||
				    hexval((unsigned char)p[2]) < 0)
					return 0;
				p += 2;
			} else if (!((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			    strchr("-._~!$&'()*+,;=", *p) != NULL) || *p == '\0')
				return 0;
		}
		if (p == h)
			return 0;
	}
	if (p == e)
		return 1;
	if (*p++ != ':' || e - p > 5)
		return 0;
	for (; p < e; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/*
 * Parse the head buf[0..len), which ends in CRLF CRLF (head_end), into r.
 * Returns 0, or the status to answer with: 400 for anything malformed or
 * ambiguous (RFC 9112 3, 5, 6.3, 11.2; RFC 9110 7.2 for the Host), 414,
 * 431, 501 for a transfer-coding other than chunked, 505 for a version
 * other than 1.0 and 1.1, 417 for an Expect other than 100-continue.
 */
static int
parse_head(const char *buf, size_t len, struct req *r)
{
	const char *p = buf, *end = buf + len - 2, *eol, *sp, *c;
	struct field *f;
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

	/* field lines, up to the empty line */
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p + 2));
		if (eol == p)
			break;
		if (r->nf == FIELDS_MAX)
			return S_HEAD_TOO_LARGE;
		f = &r->f[r->nf];
		if (field_line(p, (size_t)(eol - p), f) == -1)
			return S_BAD_REQUEST;	/* obs-fold, space before ':' */
		r->nf++;
		if (ieqs(f->name, f->nlen, "host")) {
			hosts++;
			r->host = f->value;
			r->hostlen = f->vlen;
		} else if (ieqs(f->name, f->nlen, "content-length")) {
			if (cls++ > 0 || (cl = parse_clen(f->value, f->vlen)) < 0)
				return S_BAD_REQUEST;	/* duplicate or signed */
			r->clen = cl;
		} else if (ieqs(f->name, f->nlen, "transfer-encoding")) {
			if (tes++ > 0)
				return S_BAD_REQUEST;
			if (!ieqs(f->value, f->vlen, "chunked"))
				return S_NOT_IMPLEMENTED;
			r->chunked = 1;
		} else if (ieqs(f->name, f->nlen, "connection")) {
			if (list_has(f->value, f->vlen, "close"))
				r->close = 1;
		} else if (ieqs(f->name, f->nlen, "expect")) {
			if (!ieqs(f->value, f->vlen, "100-continue"))
				return S_EXPECTATION;
			r->expect100 = r->minor == 1;
		}
	}
	if (r->chunked && (cls > 0 || r->minor == 0))
		return S_BAD_REQUEST;		/* RFC 9112 6.1 */
	if (hosts > 1 || (hosts == 0 && r->minor == 1) ||
	    (hosts == 1 && !host_valid(r->host, r->hostlen)))
		return S_BAD_REQUEST;		/* RFC 9110 7.2 */

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
		c = r->host;
		while (c < r->target + n && *c != '/' && *c != '?')
			c++;
		r->hostlen = (size_t)(c - r->host);
		if (!host_valid(r->host, r->hostlen))
			return S_BAD_REQUEST;	/* userinfo included */
		p = c;
		n = (size_t)(r->target + r->tlen - p);
		if (n == 0 || *p == '?') {
			/* no path: "/" (RFC 9112 3.2.2), with any query */
			r->path = "/";
			r->plen = 1;
			r->query = n > 0 ? p + 1 : p;
			r->qlen = n > 0 ? n - 1 : 0;
			return 0;
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

/* ---- De-chunking a request body (RFC 9112 7.1) --------------------- */

enum chunkstate {
	CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF,
	CK_TRAILER, CK_TRAILER_LF, CK_DONE
};

/* Where a de-chunking stands; all zero to begin. */
struct chunked {
	enum chunkstate	 st;
	size_t		 in;		/* raw bytes consumed */
	size_t		 out;		/* body bytes produced */
	size_t		 left;		/* bytes left in this chunk */
	size_t		 size;		/* the chunk size being read */
	size_t		 ext;		/* extension bytes of this line */
	int		 digits;
	int		 linelen;	/* bytes of the current trailer line */
};

/*
 * Go on de-chunking raw[s->in..len) into out[s->out..cap). out may be raw
 * itself (the body never outruns the bytes it came from), which is how
 * serve de-chunks in place. Each raw byte is looked at once, however the
 * body arrives. Returns 1 while incomplete; 0 when the body and its
 * trailer section are complete (s->in is then the raw length, trailers
 * included, s->out the body's); -1 if malformed; -2 if the body exceeds
 * cap.
 */
static int
dechunk(struct chunked *s, const char *raw, size_t len, char *out, size_t cap)
{
	size_t	 n;
	int	 h;
	char	 ch;

	while (s->in < len) {
		ch = raw[s->in];
		switch (s->st) {
		case CK_SIZE:
			if ((h = hexval((unsigned char)ch)) >= 0) {
				if (s->digits++ == 8 || s->size > (SIZE_MAX >> 4))
					return -2;
				s->size = s->size << 4 | (size_t)h;
			} else if (s->digits == 0 || (ch != ';' && ch != '\r'))
				return -1;
			else {
				s->st = ch == ';' ? CK_EXT : CK_SIZE_LF;
				s->ext = 0;
			}
			break;
		case CK_EXT:
			/* chunk extensions are skipped; no NUL or control */
			if (ch == '\r')
				s->st = CK_SIZE_LF;
			else if (((unsigned char)ch < 0x20 && ch != '\t') ||
			    ++s->ext > CHUNK_EXT_MAX)
				return -1;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				return -1;
			if (s->size > cap - s->out)
				return -2;
			s->left = s->size;
			s->st = s->size == 0 ? CK_TRAILER : CK_DATA;
			s->size = 0;
			s->digits = 0;
			s->linelen = 0;
			break;
		case CK_DATA:
			n = len - s->in < s->left ? len - s->in : s->left;
			memmove(out + s->out, raw + s->in, n);
			s->out += n;
			s->left -= n;
			s->in += n;
			if (s->left == 0)
				s->st = CK_DATA_CR;
			continue;
		case CK_DATA_CR:
			if (ch != '\r')
				return -1;
			s->st = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (ch != '\n')
				return -1;
			s->st = CK_SIZE;
			break;
		case CK_TRAILER:
			/* trailer fields, ignored, then an empty line */
			if (ch == '\r')
				s->st = CK_TRAILER_LF;
			else if (ch == '\n' || ch == '\0' ||
			    ++s->linelen > HEAD_MAX)
				return -1;
			break;
		case CK_TRAILER_LF:
			if (ch != '\n')
				return -1;
			s->in++;
			if (s->linelen == 0) {
				s->st = CK_DONE;
				return 0;
			}
			s->linelen = 0;
			s->st = CK_TRAILER;
			continue;
		case CK_DONE:
			return 0;
		}
		s->in++;
	}
	return s->st == CK_DONE ? 0 : 1;
}

/* ---- The CGI's environment (RFC 3875 4.1) -------------------------- */

/* What serve knows about a connection: numeric addresses and ports. */
struct conninfo {
	char	 peer[INET6_ADDRSTRLEN], peerport[6];
	char	 local[INET6_ADDRSTRLEN], localport[6];
};

struct env {
	char	*v[ENV_MAX + 1];
	int	 n;
	struct buf b;
};

/* Start a variable "NAME=". */
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

/* The host part of a Host value, brackets of an IPv6 literal kept. */
static size_t
host_name_len(const char *h, size_t n)
{
	const char *e;

	if (n > 0 && h[0] == '[')
		return (e = memchr(h, ']', n)) != NULL ? (size_t)(e - h) + 1 : n;
	return (e = memchr(h, ':', n)) != NULL ? (size_t)(e - h) : n;
}

/* An address for a URL or SERVER_NAME: an IPv6 one in brackets. */
static void
buf_addr(struct buf *b, const char *a)
{
	int	 v6 = strchr(a, ':') != NULL;

	if (v6)
		buf_add(b, "[", 1);
	buf_str(b, a);
	if (v6)
		buf_add(b, "]", 1);
}

/*
 * Build the CGI's environment for r into e, from scratch, in mem[0..cap).
 * pathinfo is the decoded, normalised path; bodylen the de-chunked body's
 * length. Returns 0, or -1 if it does not fit (which ENV_BYTES rules out
 * for a head within the limits).
 */
static int
build_env(struct env *e, char *mem, size_t cap, const struct req *r,
    const struct conninfo *ci, const char *pathinfo, size_t pilen,
    size_t bodylen)
{
	const struct field *f;
	size_t	 i;
	int	 j, k, first;

	e->n = 0;
	buf_init(&e->b, mem, cap);
	env_set(e, "GATEWAY_INTERFACE", "CGI/1.1", 7);
	env_set(e, "SERVER_SOFTWARE", SOFTWARE, strlen(SOFTWARE));
	/* SERVER_NAME: Host without its port, else the local address */
	env_begin(e, "SERVER_NAME");
	if (r->hostlen > 0)
		buf_add(&e->b, r->host, host_name_len(r->host, r->hostlen));
	else
		buf_addr(&e->b, ci->local);
	env_end(e);
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
		buf_addr(&e->b, ci->local);
	buf_add(&e->b, r->path, r->plen);
	if (r->qlen > 0) {
		buf_add(&e->b, "?", 1);
		buf_add(&e->b, r->query, r->qlen);
	}
	env_end(e);
	if (bodylen > 0) {
		env_begin(e, "CONTENT_LENGTH");
		buf_uint(&e->b, bodylen, 1);
		env_end(e);
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
 * Keep-Alive and Content-Length are not forwarded (serve frames the body),
 * nor Date (serve sends its own).
 */
static int
parse_cgi_head(const char *buf, size_t len, int eof, struct cgiout *o)
{
	const char *p = buf, *lf, *end, *v;
	struct field f;
	size_t	 n;
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
		if ((size_t)(lf - buf) >= CGI_HEAD_MAX ||
		    field_line(p, (size_t)(end - p), &f) == -1)
			return -1;
		v = f.value;
		n = f.vlen;
		if (ieqs(f.name, f.nlen, "status")) {
			/* Status: 3digit SP reason-phrase (RFC 3875 6.3.3) */
			if (st++ || n < 3 || v[0] < '2' || v[0] > '5' ||
			    v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9' ||
			    (n > 3 && v[3] != ' '))
				return -1;
			o->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
			    (v[2] - '0');
			o->reason = n > 4 ? v + 4 : NULL;
			o->rlen = n > 4 ? n - 4 : 0;
			cgi = 1;
		} else if (ieqs(f.name, f.nlen, "content-length")) {
			o->clen = parse_clen(v, n);
		} else if (ieqs(f.name, f.nlen, "connection") ||
		    ieqs(f.name, f.nlen, "keep-alive") ||
		    ieqs(f.name, f.nlen, "transfer-encoding") ||
		    ieqs(f.name, f.nlen, "date")) {
			/* serve's business */
		} else {
			if (ieqs(f.name, f.nlen, "content-type"))
				cgi = 1;
			if (ieqs(f.name, f.nlen, "location"))
				cgi = loc = 1;
			if (o->nf == CGI_FIELDS_MAX)
				return -1;
			o->f[o->nf++] = f;
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

/* ---- Rendering ----------------------------------------------------- */

/* "Tue, 24 Nov 2026 01:02:03 GMT" (RFC 9110 5.6.7) */
static void
render_imf_date(struct buf *b, int64_t t)
{
	struct civil c;

	civil_from_unix(t, &c);
	buf_add(b, day_name[c.wday], 3);
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
 * Write the address a (family AF_INET or AF_INET6) as text into out
 * (INET6_ADDRSTRLEN bytes): dotted decimal, or RFC 5952's canonical IPv6
 * form (lowercase, no leading zeros, the leftmost longest run of two or
 * more zero groups as "::"). Like inet_ntop(3), which in musl would bring
 * snprintf into serve.
 */
static void
addr_ntop(int family, const void *a, char *out)
{
	const unsigned char *u = a;
	struct buf b;
	int	 g[8], i, best = -1, bestlen = 1, run;

	buf_init(&b, out, INET6_ADDRSTRLEN - 1);
	if (family == AF_INET) {
		for (i = 0; i < 4; i++) {
			if (i > 0)
				buf_add(&b, ".", 1);
			buf_uint(&b, u[i], 1);
		}
		out[b.len] = '\0';
		return;
	}
	for (i = 0; i < 8; i++)
		g[i] = u[2 * i] << 8 | u[2 * i + 1];
	for (i = 0; i < 8; i += run > 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			buf_add(&b, "::", 2);
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen)
			buf_add(&b, ":", 1);
		{
			char	 h[4];
			int	 k = 4, v = g[i];

			do {
				h[--k] = "0123456789abcdef"[v & 15];
				v >>= 4;
			} while (v != 0);
			buf_add(&b, h + k, (size_t)(4 - k));
		}
	}
	out[b.len] = '\0';
}

/* How a response's body is framed. */
struct frame {
	int	 nobody;	/* HEAD, 204, 304: no body may follow */
	int	 chunked;	/* HTTP/1.1 and the length unknown */
	int	 keep;		/* the connection stays open after it */
};

/*
 * Render the status line and header block for the program's answer co
 * into h. complete: the whole body (len bytes) is at hand, so it gets a
 * Content-Length; otherwise it is chunked on HTTP/1.1 and close-delimited
 * on HTTP/1.0 (fr->keep cleared). head: the request was HEAD.
 */
static void
render_resp_head(struct buf *h, int minor, const struct cgiout *co, int head,
    int complete, size_t len, int64_t now, struct frame *fr)
{
	int	 i, bodyless = co->status == S_NO_CONTENT ||
	    co->status == S_NOT_MODIFIED;

	fr->nobody = head || bodyless;
	fr->chunked = !complete && !fr->nobody && minor == 1;
	if (!complete && !fr->nobody && !fr->chunked)
		fr->keep = 0;
	buf_str(h, minor ? "HTTP/1.1 " : "HTTP/1.0 ");
	buf_uint(h, (uint64_t)co->status, 3);
	buf_add(h, " ", 1);
	if (co->rlen > 0)
		buf_add(h, co->reason, co->rlen);
	else
		buf_str(h, status_text(co->status));
	buf_str(h, "\r\nDate: ");
	render_imf_date(h, now);
	buf_str(h, "\r\n");
	for (i = 0; i < co->nf; i++) {
		buf_add(h, co->f[i].name, co->f[i].nlen);
		buf_add(h, ": ", 2);
		buf_add(h, co->f[i].value, co->f[i].vlen);
		buf_str(h, "\r\n");
	}
	if (!bodyless) {
		if (complete) {
			/* HEAD: the CGI's own length when it sent no body */
			buf_str(h, "Content-Length: ");
			buf_uint(h, head && len == 0 && co->clen >= 0 ?
			    (uint64_t)co->clen : len, 1);
			buf_str(h, "\r\n");
		} else if (fr->chunked)
			buf_str(h, "Transfer-Encoding: chunked\r\n");
	}
	buf_str(h, fr->keep ? "\r\n" : "Connection: close\r\n\r\n");
}

/*
 * Render an answer of serve's own: the status and, unless head or 204, a
 * one-line text body. Returns the body's length.
 */
static size_t
render_own(struct buf *b, int status, int head, int keep, int64_t now)
{
	size_t	 n = 4 + strlen(status_text(status)) + 1;
	int	 body = !head && status != S_NO_CONTENT;

	buf_str(b, "HTTP/1.1 ");
	buf_uint(b, (uint64_t)status, 3);
	buf_add(b, " ", 1);
	buf_str(b, status_text(status));
	buf_str(b, "\r\nDate: ");
	render_imf_date(b, now);
	if (status != S_NO_CONTENT) {
		buf_str(b, "\r\nContent-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: ");
		buf_uint(b, n, 1);
	}
	buf_str(b, "\r\nCache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n");
	buf_str(b, keep ? "\r\n" : "Connection: close\r\n\r\n");
	if (!body)
		return 0;
	buf_uint(b, (uint64_t)status, 3);
	buf_add(b, " ", 1);
	buf_str(b, status_text(status));
	buf_add(b, "\n", 1);
	return n;
}

/* ---- The loop's state ---------------------------------------------- */

/*
 * A connection's state. IDLE: nothing of a request read yet (a new
 * connection, or between keep-alive requests), and no buffer held while
 * nothing is buffered. HEAD, BODY: a request arriving under the -T
 * deadline. QUEUED: complete, waiting for a program slot (-c). RUN: its
 * program runs. FLUSH: the response is all queued, the client still
 * reading it. LINGER: half-closed after the last response, draining what
 * the client still sends so that closing does not reset the connection.
 */
enum cstate {
	CS_IDLE, CS_HEAD, CS_BODY, CS_QUEUED, CS_RUN, CS_FLUSH, CS_LINGER,
	CS_DEAD
};

/*
 * A program's output, as the loop relays it. HEAD: waiting for its header
 * block. HOLD: the block parsed, the body held while it fits OUT_BUF, so
 * it can be framed with a Content-Length. STREAM: sent as it comes. DONE:
 * the output is over (or nobody wants it).
 */
enum pstate { P_HEAD, P_HOLD, P_STREAM, P_DONE };

struct conn;

/*
 * A slot's memory, made on its first use and kept: untouched pages cost
 * nothing. The environment and the stack belong to the slot because its
 * program reads them until its execve, while serve goes on; the slot is
 * not used again before that program is reaped.
 */
struct slotmem {
	struct cgiout	 co;
	struct env	 env;
	char		 envmem[ENV_BYTES];
	char		 stack[SPAWN_STACK];
	char		 obuf[CGI_HEAD_MAX + OUT_BUF];
};

/* A program slot: one of -c programs at once. */
struct prog {
	pid_t		 pid;		/* 0: the slot is free */
	unsigned	 gen;		/* bumped at each release */
	struct conn	*c;		/* NULL once the client is done with it */
	int		 out, in;	/* its stdout and stdin pipes; -1: closed */
	size_t		 inoff;		/* body bytes written to it */
	enum pstate	 st;
	int		 exited;	/* its leader is a zombie, kept unreaped */
	int64_t		 deadline;	/* -t */
	int64_t		 kill_at;	/* SIGKILL after SIGTERM; 0: not yet */
	size_t		 olen;		/* bytes in mem->obuf */
	struct frame	 fr;
	struct slotmem	*mem;		/* made on the slot's first use, kept */
	int		 child_in, child_out;	/* the program's stdin and stdout */
	int		 res_in, res_out;	/* reserved low descriptors; -1: none */
	int		 held;		/* serve still has child_in and child_out */
	int		 cut;		/* the child copies descriptors below */
	int		 shares;	/* the child still shares serve's table */
	volatile int	 exec_errno;	/* set by a child whose execve failed */
};

struct conn {
	int		 in, out;	/* the client: one socket, or 0 and 1 */
	int		 sock;		/* in is a socket (shutdown, linger) */
	enum cstate	 st;
	int		 rdeof;		/* the client sends no more */
	int		 gone;		/* a write failed: nothing more to send */
	int		 closing;	/* close after what is queued */
	int		 served;	/* requests answered */
	int64_t		 deadline;	/* of the state; 0: none */
	int64_t		 wdeadline;	/* of the pending output; 0: none */
	int64_t		 idle_since;
	char		*buf;		/* request bytes read and not yet used */
	size_t		 len, cap, scan;
	size_t		 hl, used, bodylen;
	int64_t		 clen;
	struct chunked	 ck;
	int		 minor, head, keep, chunked, asterisk;
	char		*pend;		/* output the client has not taken yet */
	size_t		 plen, poff;
	int		 status;	/* for the log */
	uint64_t	 sent;		/* body bytes, for the log */
	struct prog	*p;
	struct conn	*qnext;		/* the queue for a program slot */
	struct conninfo	 ci;
};

/* What a poll entry belongs to. */
enum role { R_LISTEN, R_CONN_IN, R_CONN_OUT, R_PROG_OUT, R_PROG_IN };
struct owner {
	enum role	 role;
	void		*ptr;
	unsigned	 gen;
};

static struct {
	int	 quiet, inetd;
	int	 maxprogs, maxconns;	/* -c, -C */
	int	 cgi_timeout, head_timeout;	/* -t, -T, seconds */
} opt = { 0, 0, 64, 0, 10, 10 };

static volatile sig_atomic_t got_term, got_chld;
static char	*prog_argv[ARGS_MAX + 2];
static int	 devnull = -1;
static int64_t	 now;			/* ms, CLOCK_MONOTONIC, once a turn */
static int	 lfd[LISTEN_MAX], nl;
static struct conn **conns;		/* -C + ACCEPT_BURST: closed ones wait for sweep */
static int	 nconns, nlive;
static int	 ndead;			/* closed this turn: sweep() frees them */
static struct prog *progs;
static int	 nslots;		/* progs[nslots] on are free: loops stop there */
static int	 nrunning;
static struct conn *qhead, *qtail;
static int	 stopping;
static int	 nheld;			/* slots whose held is set */
static int	 reap_blocked;		/* reap_all stopped at a kept zombie */
static int64_t	 stop_by, accept_paused_until;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

/* One line on stderr: "serve: a b c". */
static void
logmsg(const char *a, const char *b, const char *c)
{
	char	 mem[MSG_MAX];
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

/*
 * Setup errors, in err(3)'s shape ("serve: what: reason") without its
 * printf, which would be an eighth of serve's size: exit with code after
 * one line, with strerror(e) unless e is 0.
 */
static void
die(int code, int e, const char *a, const char *b, const char *c)
{
	char	 mem[MSG_MAX];
	struct buf m;

	buf_init(&m, mem, sizeof(mem));
	buf_str(&m, a);
	if (b != NULL)
		buf_str(&m, b);
	if (c != NULL)
		buf_str(&m, c);
	if (e != 0) {
		buf_str(&m, ": ");
		buf_str(&m, strerror(e));
	}
	mem[m.full ? sizeof(mem) - 1 : m.len] = '\0';
	logmsg(mem, NULL, NULL);
	exit(code);
}

/* A decimal of at most 9 digits at *s, moved past it; -1 if none. */
static long
decimal(const char **s)
{
	long	 v = 0;
	int	 n = 0;

	for (; **s >= '0' && **s <= '9' && n < 9; (*s)++, n++)
		v = v * 10 + (**s - '0');
	return n == 0 ? -1 : v;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One access log line in Common Log Format, written at once:
 * host - - [24/Nov/2026:01:02:03 +0000] "GET / HTTP/1.1" 200 1234
 */
static void
log_access(const struct conninfo *ci, const char *line, size_t linelen,
    int status, uint64_t bytes)
{
	char	 mem[LOG_LINE_MAX];
	struct buf b;
	struct civil c;

	if (opt.quiet)
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
	log_esc(&b, line, linelen > LOG_REQ_MAX ? LOG_REQ_MAX : linelen);
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

static int
set_nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- Output to a client -------------------------------------------- */

/*
 * Send iov to the client: written at once as far as the socket takes it,
 * the rest copied to c->pend and written as the client reads (the loop
 * reads no more of a program's output meanwhile: backpressure). 0, or -1
 * when the client is gone (c->gone set).
 */
static int
conn_send(struct conn *c, struct iovec *iov, int cnt)
{
	ssize_t	 w = 0;
	size_t	 n, i;
	char	*np;

	if (c->gone)
		return -1;
	if (c->plen == c->poff) {
		while ((w = writev(c->out, iov, cnt)) == -1 && errno == EINTR)
			;
		if (w == -1 && errno != EAGAIN) {
			c->gone = 1;
			return -1;
		}
		iov_consume(&iov, &cnt, w > 0 ? (size_t)w : 0);
	}
	for (n = 0, i = 0; i < (size_t)cnt; i++)
		n += iov[i].iov_len;
	if (n == 0)
		return 0;
	if (c->poff > 0) {
		memmove(c->pend, c->pend + c->poff, c->plen - c->poff);
		c->plen -= c->poff;
		c->poff = 0;
	}
	if ((np = realloc(c->pend, c->plen + n)) == NULL) {
		c->gone = 1;
		return -1;
	}
	c->pend = np;
	for (i = 0; i < (size_t)cnt; i++) {
		memcpy(c->pend + c->plen, iov[i].iov_base, iov[i].iov_len);
		c->plen += iov[i].iov_len;
	}
	if (w > 0 || c->wdeadline == 0)
		c->wdeadline = now + WRITE_IDLE_S * 1000;
	return 0;
}

static int
conn_send1(struct conn *c, const void *p, size_t n)
{
	struct iovec iov;

	iov.iov_base = (void *)p;
	iov.iov_len = n;
	return conn_send(c, &iov, 1);
}

/* ---- Programs ------------------------------------------------------ */

static void resp_done(struct conn *, int);
static void conn_drop(struct conn *);
static void refuse(struct conn *, int);

static struct prog *
prog_of(pid_t pid)
{
	int	 i;

	for (i = 0; i < nslots; i++)
		if (progs[i].pid == pid)
			return &progs[i];
	return NULL;
}

/*
 * SIGKILL the processes that serve adopted as a subreaper (their parent,
 * the program or one of its children, is gone) and that hold the pipe
 * with inode ino (0: any pipe or none; serve is stopping). A descendant
 * that left the program's process group (setsid) is reached this way; it
 * is killed with its own group.
 */
static void
kill_adopted(ino_t ino)
{
	char	 path[64], link[64], list[4096], want[32];
	struct buf b, w;
	DIR	*d;
	struct dirent *de;
	ssize_t	 n, k;
	const char *p;
	pid_t	 pid;
	int	 fd, hit;

	buf_init(&b, path, sizeof(path) - 1);
	buf_str(&b, "/proc/self/task/");
	buf_uint(&b, (uint64_t)getpid(), 1);
	buf_str(&b, "/children");
	path[b.len] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, list, sizeof(list) - 1);
	close(fd);
	if (n <= 0)
		return;
	list[n] = '\0';
	buf_init(&w, want, sizeof(want) - 1);
	buf_str(&w, "pipe:[");
	buf_uint(&w, (uint64_t)ino, 1);
	buf_str(&w, "]");
	want[w.len] = '\0';
	for (p = list; *p != '\0'; ) {
		if (*p == ' ' || *p == '\n') {
			p++;
			continue;
		}
		if ((pid = (pid_t)decimal(&p)) <= 0)
			break;
		if (prog_of(pid) != NULL)
			continue;	/* a program's leader, not adopted */
		hit = ino == 0;
		buf_init(&b, path, sizeof(path) - 1);
		buf_str(&b, "/proc/");
		buf_uint(&b, (uint64_t)pid, 1);
		buf_str(&b, "/fd");
		path[b.len] = '\0';
		if (!hit && (d = opendir(path)) != NULL) {
			while (!hit && (de = readdir(d)) != NULL) {
				k = readlinkat(dirfd(d), de->d_name, link,
				    sizeof(link) - 1);
				hit = k > 0 && (size_t)k == w.len &&
				    memcmp(link, want, w.len) == 0;
			}
			closedir(d);
		}
		if (hit) {
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
		}
	}
}

/*
 * Signal the program's process group. Its leader is alive or a zombie
 * kept unreaped, so the group's id cannot name another group. SIGKILL
 * also reaches adopted descendants that hold its output pipe.
 */
static void
prog_signal(struct prog *p, int sig)
{
	struct stat st;

	(void)kill(-p->pid, sig);
	if (sig == SIGKILL && p->out != -1 && fstat(p->out, &st) == 0)
		kill_adopted(st.st_ino);
}

static void start_queued(void);
static void prog_own_fds(struct prog *, int);

/* The slot's program has ended and its output is closed: free it. */
static void
prog_release(struct prog *p)
{
	prog_own_fds(p, 1);
	if (p->in != -1)
		close(p->in);
	if (p->c != NULL)
		p->c->p = NULL;
	p->in = -1;
	p->pid = 0;
	while (nslots > 0 && progs[nslots - 1].pid == 0)
		nslots--;
	p->gen++;
	if (reap_blocked) {
		reap_blocked = 0;
		got_chld = 1;	/* look again at what it hid */
	}
	p->exited = 0;
	p->kill_at = 0;
	p->c = NULL;
	nrunning--;
}

/*
 * Reap the leader once its output is closed: whatever it left running in
 * its group is killed first, while the zombie still holds the group's id.
 */
static void
prog_try_reap(struct prog *p)
{
	siginfo_t si;

	if (p->pid == 0 || p->out != -1)
		return;
	if (!p->exited) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == -1 || si.si_pid != p->pid)
			return;
		p->exited = 1;
	}
	(void)kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
		;
	prog_release(p);
}

/* The output is over or unwanted: close the pipe, reap if it exited. */
static void
prog_close_out(struct prog *p)
{
	p->st = P_DONE;
	if (p->out != -1)
		close(p->out);
	p->out = -1;
	if (p->in != -1)
		close(p->in);
	p->in = -1;
	prog_try_reap(p);
}

/*
 * The client no longer wants the program's output (gone, or answered by
 * serve itself): detach it and kill the program's group at once.
 */
static void
prog_abandon(struct prog *p)
{
	if (p->c != NULL)
		p->c->p = NULL;
	p->c = NULL;
	prog_signal(p, SIGKILL);
	prog_close_out(p);
}

/*
 * Reap every child that has exited: programs' leaders once their output
 * is closed (a leader whose output is still open stays a zombie, so its
 * group id stays ours), and orphans serve adopted as a subreaper or as
 * PID 1. Called after SIGCHLD. waitid shows only the first zombie, which
 * may be one kept for its output: a finished program behind it is
 * timers()' to reap.
 */
static void
reap_all(void)
{
	siginfo_t si;
	struct prog *p;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			return;
		if ((p = prog_of(si.si_pid)) == NULL) {
			(void)waitpid(si.si_pid, NULL, 0);
			continue;
		}
		if (p->exited || (p->exited = 1, p->out != -1)) {
			reap_blocked = 1;	/* kept; its output is open */
			return;
		}
		prog_try_reap(p);
	}
}

/*
 * A system call that returns -errno itself, for the child: it shares
 * serve's memory and thread pointer, so errno is serve's, which serve may
 * set while the child reads it (a failed exec was seen reported as some
 * other error). x86-64 makes the call directly; elsewhere errno, with
 * that small race.
 */
static long
sys3(long nr, long a, long b, long c)
{
#if defined(__x86_64__) && defined(__linux__)
	long	 r;

	__asm__ volatile ("syscall" : "=a" (r) : "0" (nr), "D" (a), "S" (b),
	    "d" (c) : "rcx", "r11", "memory");
	return r;
#else
	long	 r = syscall(nr, a, b, c);

	return r == -1 ? -(long)errno : r;
#endif
}

#ifndef SYS_close_range
#define SYS_close_range	436
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE	(1U << 1)
#endif

/*
 * The child's own descriptor table, when it was started sharing serve's:
 * a copy of the descriptors below p->cut only (close_range(2) with
 * CLOSE_RANGE_UNSHARE), where serve put its pipe ends. Copying serve's
 * whole table, and closing all of it again at execve, cost the kernel
 * time in proportion to serve's open connections: a third of the machine
 * at 1,024 of them. Returns 0 or -errno.
 */
static long
child_unshare(struct prog *p)
{
	long	 r;

	if (p->cut == 0)
		return 0;	/* started with a copy */
	r = sys3(SYS_close_range, p->cut, (long)~0U, CLOSE_RANGE_UNSHARE);
	if (r == 0)
		__atomic_store_n(&p->shares, 0, __ATOMIC_RELEASE);
	return r;
}

/*
 * The program's first steps, on its slot's stack, sharing serve's memory
 * until execve: its own descriptor table, its own process group, default
 * SIGPIPE (an ignored signal survives exec; caught ones do not), SIGKILL
 * should serve die first (PR_SET_PDEATHSIG), its pipes on 0 and 1, an
 * empty signal mask last (no signal can reach it before its exec but from
 * serve). Only its own stack and p's shares and exec_errno are written.
 */
static int
child_main(void *arg)
{
	struct prog *p = arg;
	struct sigaction sa;
	sigset_t none;
	long	 r;

	if ((r = child_unshare(p)) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGPIPE, &sa, NULL);
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((r = sys3(SYS_dup3, p->child_in, STDIN_FILENO, 0)) >= 0 &&
		    (r = sys3(SYS_dup3, p->child_out, STDOUT_FILENO, 0)) >= 0) {
			sigemptyset(&none);
			(void)sigprocmask(SIG_SETMASK, &none, NULL);
			r = sys3(SYS_execve, (long)prog_argv[0], (long)prog_argv,
			    (long)p->mem->env.v);
		}
	}
	p->exec_errno = (int)-r;
	_exit(127);
}

/*
 * Start p's program with the environment in p->mem and p->child_in and
 * p->child_out as its stdin and stdout. clone(2) with CLONE_VM and without
 * CLONE_VFORK: no copy of serve's memory, and unlike vfork or posix_spawn
 * serve is not held until the execve, which runs on another core while
 * the loop goes on (about a third more requests a second on two cores).
 * With the slot's reserved descriptors the child shares serve's
 * descriptor table too (CLONE_FILES) until it has copied the few it needs
 * (child_unshare). Returns the pid, or -1 with errno; a failed execve
 * shows later, in p->exec_errno.
 */
static pid_t
spawn(struct prog *p)
{
	int	 flags = CLONE_VM | SIGCHLD;

	p->exec_errno = 0;
	p->cut = 0;
	if (p->res_out != -1) {
		p->cut = (p->child_in > p->child_out ? p->child_in :
		    p->child_out) + 1;
		flags |= CLONE_FILES;
	}
	p->shares = p->cut != 0;
	return clone(child_main, p->mem->stack + sizeof(p->mem->stack), flags,
	    p);
}

/*
 * Let go of serve's copies of the program's pipe ends once the child has
 * its own (at once for a child that copied serve's whole table; or when
 * it has ended: force): closed, or on the reserved descriptors back to
 * /dev/null. Until then they keep the program's stdout open.
 */
static void
prog_own_fds(struct prog *p, int force)
{
	if (!p->held || (!force && __atomic_load_n(&p->shares,
	    __ATOMIC_ACQUIRE)))
		return;
	if (p->res_out != -1) {
		(void)dup3(devnull, p->res_out, O_CLOEXEC);
		if (p->child_in != devnull)
			(void)dup3(devnull, p->res_in, O_CLOEXEC);
	} else {
		close(p->child_out);
		if (p->child_in != devnull)
			close(p->child_in);
	}
	p->held = 0;
	nheld--;
}

/* errno of a failed start: serve's own shortage (503) or the program's (502). */
static int
spawn_status(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == EAGAIN ||
	    e == ENOBUFS ? S_UNAVAILABLE : S_BAD_GATEWAY;
}

/*
 * Move a pipe end the child will take onto reserved descriptor res
 * (cloexec, as every descriptor of serve's). Returns res, or -1 with fd
 * closed and res still /dev/null.
 */
static int
onto(int fd, int res)
{
	int	 r = dup3(fd, res, O_CLOEXEC), e = errno;

	close(fd);
	errno = e;
	return r;
}

/*
 * Give the program its pipes (stdin only for a body; /dev/null without),
 * on the slot's reserved descriptors if it has them, and start it.
 * Returns 0, or 503 for serve's own shortage (a pipe or a process it
 * could not have), logged. A program that cannot be executed shows
 * later, through p->exec_errno (prog_bad).
 */
static int
prog_spawn(struct prog *p, int body)
{
	int	 outp[2], inp[2] = { -1, -1 }, err;
	const char *call = "clone";

	if (pipe2(outp, O_CLOEXEC) == -1) {
		logmsg("pipe: ", strerror(errno), NULL);
		return S_UNAVAILABLE;
	}
	if (body && pipe2(inp, O_CLOEXEC) == -1) {
		logmsg("pipe: ", strerror(errno), NULL);
		close(outp[0]);
		close(outp[1]);
		return S_UNAVAILABLE;
	}
	p->child_out = outp[1];
	p->child_in = body ? inp[0] : devnull;
	p->held = 1;
	nheld++;
	if (p->res_out != -1) {
		p->child_out = onto(p->child_out, p->res_out);
		if (body)
			p->child_in = onto(p->child_in, p->res_in);
	}
	if (p->child_out == -1 || p->child_in == -1) {
		call = "dup3";
		p->pid = -1;
	} else
		p->pid = spawn(p);
	err = errno;
	prog_own_fds(p, p->pid == -1);
	if (p->pid == -1) {
		p->pid = 0;
		close(outp[0]);
		if (inp[1] != -1)
			close(inp[1]);
		logmsg("cannot start a process for ", prog_argv[0], NULL);
		logmsg(call, ": ", strerror(err));
		return S_UNAVAILABLE;
	}
	p->out = outp[0];
	p->in = inp[1];
	if (p - progs >= nslots)
		nslots = (int)(p - progs) + 1;
	/* fresh pipe ends have no other status flags */
	(void)fcntl(p->out, F_SETFL, O_NONBLOCK);
	if (p->in != -1)
		(void)fcntl(p->in, F_SETFL, O_NONBLOCK);
	return 0;
}

/*
 * Start the program for c's complete request. The head was checked when
 * it arrived; it is parsed again here (pure and cheap), so a request that
 * waits for a slot holds no parsed copy.
 */
static void
prog_start(struct conn *c, struct prog *p)
{
	static struct req r;
	static char pathbuf[TARGET_MAX + 1];
	long	 pl;
	int	 status;

	/* a slot's memory is made on its first use, then kept */
	if (p->mem == NULL) {
		if ((p->mem = malloc(sizeof(*p->mem))) == NULL) {
			refuse(c, S_UNAVAILABLE);
			return;
		}
	}
	if (parse_head(c->buf, c->hl, &r) != 0 ||
	    (pl = path_normalize(pathbuf, r.path, r.plen)) < 0 ||
	    build_env(&p->mem->env, p->mem->envmem, sizeof(p->mem->envmem), &r,
	    &c->ci, pathbuf, (size_t)pl, c->bodylen) == -1) {
		refuse(c, S_HEAD_TOO_LARGE);	/* ruled out by ENV_BYTES */
		return;
	}
	if ((status = prog_spawn(p, c->bodylen > 0)) != 0) {
		refuse(c, status);
		return;
	}
	nrunning++;
	p->c = c;
	c->p = p;
	c->st = CS_RUN;
	p->inoff = 0;
	p->st = P_HEAD;
	p->olen = 0;
	p->exited = 0;
	p->kill_at = 0;
	p->deadline = now + (int64_t)opt.cgi_timeout * 1000;
	p->fr.keep = c->keep;
}

/* Feed the request body to the program's stdin as it takes it. */
static void
prog_write_body(struct prog *p)
{
	struct conn *c = p->c;
	ssize_t	 n;

	n = write(p->in, c->buf + c->hl + p->inoff, c->bodylen - p->inoff);
	if (n > 0)
		p->inoff += (size_t)n;
	if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
	    p->inoff == c->bodylen) {
		close(p->in);	/* all sent, or it stopped reading */
		p->in = -1;
	}
}

/* Send body bytes as framed: a chunk, raw, or not at all. */
static int
send_body(struct conn *c, struct prog *p, const char *d, size_t n)
{
	char	 hex[24];
	struct iovec iov[3];
	size_t	 k = sizeof(hex), v = n;

	if (p->fr.nobody || n == 0)
		return 0;
	c->sent += n;
	if (!p->fr.chunked)
		return conn_send1(c, d, n);
	hex[--k] = '\n';
	hex[--k] = '\r';
	do {
		hex[--k] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	iov[0].iov_base = hex + k;
	iov[0].iov_len = sizeof(hex) - k;
	iov[1].iov_base = (char *)d;
	iov[1].iov_len = n;
	iov[2].iov_base = (char *)"\r\n";
	iov[2].iov_len = 2;
	return conn_send(c, iov, 3);
}

/*
 * Send the head for the program's answer and, when complete, its whole
 * body with it, in one write. 0, or -1 if the client is gone.
 */
static int
send_head(struct conn *c, struct prog *p, int complete)
{
	static char mem[CGI_HEAD_MAX + 512];
	struct buf h;
	struct iovec iov[2];
	size_t	 off = p->mem->co.headlen, n = p->olen - off;

	buf_init(&h, mem, sizeof(mem));
	render_resp_head(&h, c->minor, &p->mem->co, c->head, complete, n,
	    (int64_t)time(NULL), &p->fr);
	c->keep = p->fr.keep;
	c->status = p->mem->co.status;
	iov[0].iov_base = mem;
	iov[0].iov_len = h.len;
	iov[1].iov_base = p->mem->obuf + off;
	iov[1].iov_len = complete && !p->fr.nobody ? n : 0;
	c->sent = iov[1].iov_len;
	if (!complete || p->fr.nobody)
		return conn_send(c, iov, 1);
	return conn_send(c, iov, 2);
}

/* The program's answer is not valid CGI output: 502, and kill it. */
static void
prog_bad(struct prog *p)
{
	struct conn *c = p->c;
	int	 e = p->exec_errno;

	if (e != 0)
		logmsg("cannot run ", prog_argv[0], e == ENOENT ?
		    ": no such file" : e == EACCES ? ": permission denied" :
		    spawn_status(e) == S_UNAVAILABLE ?
		    ": out of descriptors, memory or processes" : ": exec failed");
	else
		logmsg("not a valid CGI response from ", prog_argv[0], NULL);
	prog_abandon(p);
	refuse(c, e != 0 ? spawn_status(e) : S_BAD_GATEWAY);
}

/*
 * Read what the program wrote, while the client takes what it is sent,
 * and frame it. Called when its stdout is readable (or hung up).
 */
static void
prog_read(struct prog *p)
{
	struct conn *c = p->c;
	size_t	 cap = CGI_HEAD_MAX + OUT_BUF;
	ssize_t	 n;
	int	 eof = 0, rc;

	while (p->st != P_DONE && c->plen == c->poff) {
		if (p->st == P_STREAM)
			p->olen = 0;
		n = read(p->out, p->mem->obuf + p->olen, cap - p->olen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			eof = 1;
		else
			p->olen += (size_t)n;
		if (p->st == P_HEAD) {
			if ((rc = parse_cgi_head(p->mem->obuf, p->olen, eof,
			    &p->mem->co)) == 1)
				continue;
			if (rc == -1) {
				prog_bad(p);
				return;
			}
			p->st = P_HOLD;
		}
		if (p->st == P_HOLD && eof) {
			if (send_head(c, p, 1) == -1)
				break;
		} else if (p->st == P_HOLD && p->olen == cap) {
			/* more than the buffer holds: stream the rest */
			if (send_head(c, p, 0) == -1 || send_body(c, p,
			    p->mem->obuf + p->mem->co.headlen, p->olen - p->mem->co.headlen) == -1)
				break;
			p->st = P_STREAM;
			p->olen = 0;
		} else if (p->st == P_STREAM && eof) {
			if (p->fr.chunked && !p->fr.nobody &&
			    conn_send1(c, "0\r\n\r\n", 5) == -1)
				break;
		} else if (p->st == P_STREAM) {
			if (send_body(c, p, p->mem->obuf, p->olen) == -1)
				break;
			continue;
		}
		if (eof) {
			p->c = NULL;
			c->p = NULL;
			prog_close_out(p);
			resp_done(c, c->status);
			return;
		}
	}
	if (c->gone)
		conn_drop(c);
}

/*
 * The program's -t deadline: answer 504 if nothing was sent yet (before
 * the grace, so the client is not kept waiting), cut the response
 * otherwise; then SIGTERM its group, and SIGKILL after KILL_GRACE_S.
 */
static void
prog_expire(struct prog *p)
{
	struct conn *c = p->c;

	if (p->kill_at == 0)
		logmsg("the program ran out of time: ", prog_argv[0], NULL);
	if (c != NULL) {
		p->c = NULL;
		c->p = NULL;
		if (p->st == P_HEAD || p->st == P_HOLD)
			refuse(c, S_GATEWAY_TIMEOUT);
		else
			conn_drop(c);
	}
	if (p->kill_at == 0 && !p->exited) {
		prog_signal(p, SIGTERM);
		p->kill_at = now + KILL_GRACE_S * 1000;
		return;
	}
	prog_signal(p, SIGKILL);
	p->kill_at = INT64_MAX;		/* done: wait for it to be reaped */
	prog_close_out(p);
}

/* Give free slots to the requests waiting for one, in order. */
static void
start_queued(void)
{
	struct conn *c;
	int	 i;

	while (qhead != NULL && nrunning < opt.maxprogs) {
		c = qhead;
		qhead = c->qnext;
		if (qhead == NULL)
			qtail = NULL;
		c->qnext = NULL;
		for (i = 0; progs[i].pid != 0; i++)
			;
		prog_start(c, &progs[i]);
	}
}

/* ---- Connections --------------------------------------------------- */

/*
 * Request buffers of BUF_START bytes that connections gave back, for the
 * next to take: idle connections hold none, and the allocator does not
 * map and unmap memory at every request.
 */
#define BUF_POOL	64
static char	*buf_pool[BUF_POOL];
static int	 nbuf_pool;

static void
buf_release(struct conn *c)
{
	if (c->buf != NULL && c->cap == BUF_START && nbuf_pool < BUF_POOL)
		buf_pool[nbuf_pool++] = c->buf;
	else
		free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}

static void process_input(struct conn *);

/* Length of the request line at the start of c->buf, for the log. */
static size_t
line_len(const struct conn *c)
{
	size_t	 i;

	for (i = 0; i < c->len && c->buf[i] != '\r' && c->buf[i] != '\n'; i++)
		;
	return i;
}

static void
conn_close(struct conn *c)
{
	struct conn **q;

	if (c->st == CS_DEAD)
		return;
	if (c->p != NULL)
		prog_abandon(c->p);
	if (c->st == CS_QUEUED) {
		for (q = &qhead; *q != c; q = &(*q)->qnext)
			;
		*q = c->qnext;
		if (qtail == c)
			for (qtail = qhead; qtail != NULL && qtail->qnext != NULL;
			    qtail = qtail->qnext)
				;
	}
	if (c->in == c->out)
		close(c->in);
	else {
		close(c->in);
		close(c->out);
	}
	buf_release(c);
	free(c->pend);
	c->pend = NULL;
	c->st = CS_DEAD;
	ndead++;
	nlive--;
}

/*
 * The client is gone, or too slow: whatever its request started is
 * killed, and it is logged as 499 if it had not been answered.
 */
static void
conn_drop(struct conn *c)
{
	if (c->st == CS_RUN || c->st == CS_QUEUED) {
		c->status = c->status ? c->status : S_CLIENT_GONE;
		log_access(&c->ci, c->buf, line_len(c), c->status, c->sent);
	}
	conn_close(c);
}

/*
 * After the last response: half-close and drain what the client still
 * sends, for LINGER_S at most, so that closing with unread input does not
 * reset the connection and destroy the response in flight (as nginx's
 * lingering close and Apache do).
 */
static void
conn_linger(struct conn *c)
{
	if (!c->sock || c->gone || c->rdeof || shutdown(c->out, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	buf_release(c);
	c->len = 0;
	c->st = CS_LINGER;
	c->deadline = now + LINGER_S * 1000;
}

/* Ready for the next request on c, once its output is all taken. */
static void
conn_next(struct conn *c)
{
	if (c->closing || (c->rdeof && c->len == c->used)) {
		conn_linger(c);
		return;
	}
	/* pipelined bytes after this request stay for the next */
	memmove(c->buf, c->buf + c->used, c->len - c->used);
	c->len -= c->used;
	c->used = c->hl = c->bodylen = c->scan = 0;
	c->status = 0;
	c->sent = 0;
	memset(&c->ck, 0, sizeof(c->ck));
	c->st = CS_IDLE;
	c->idle_since = now;
	c->deadline = now + KEEPALIVE_S * 1000;
	if (c->len == 0)
		buf_release(c);	/* an idle connection holds no buffer */
	else
		process_input(c);
}

/* A response is all queued: log it, then flush and go on. */
static void
resp_done(struct conn *c, int status)
{
	log_access(&c->ci, c->buf, line_len(c), status, c->sent);
	c->served++;
	if (!c->keep)
		c->closing = 1;
	if (c->gone) {
		conn_close(c);
		return;
	}
	if (c->plen > c->poff) {
		c->st = CS_FLUSH;
		c->deadline = 0;
		return;
	}
	conn_next(c);
}

/* Answer with serve's own status; an error closes the connection. */
static void
answer(struct conn *c, int status)
{
	char	 mem[512];
	struct buf b;
	int	 head = c->head || (c->len >= 5 && memcmp(c->buf, "HEAD ", 5) == 0);

	if (status != S_NO_CONTENT)
		c->keep = 0;
	buf_init(&b, mem, sizeof(mem));
	c->sent = render_own(&b, status, head, c->keep, (int64_t)time(NULL));
	c->status = status;
	(void)conn_send1(c, mem, b.len);
	resp_done(c, status);
}

/* Refuse the request with serve's own error; the connection closes. */
static void
refuse(struct conn *c, int status)
{
	c->st = CS_FLUSH;
	answer(c, status);
}

/* A head over HEAD_MAX: 414 when even its request line is, else 431. */
static int
too_large(const struct conn *c)
{
	return line_len(c) >= HEAD_MAX ? S_URI_TOO_LONG : S_HEAD_TOO_LARGE;
}

/* The request is complete: run its program, or wait for a slot. */
static void
dispatch(struct conn *c)
{
	c->deadline = 0;
	if (c->asterisk) {
		c->st = CS_FLUSH;
		answer(c, S_NO_CONTENT);	/* OPTIONS * */
		return;
	}
	c->st = CS_QUEUED;
	if (qtail != NULL)
		qtail->qnext = c;
	else
		qhead = c;
	qtail = c;
	start_queued();
}

/*
 * The head c->buf[0..hl) is complete: check it, and decide what comes
 * next (its body, or its program).
 */
static void
head_done(struct conn *c)
{
	static struct req r;
	static char pathbuf[TARGET_MAX + 1];
	int	 status;

	status = parse_head(c->buf, c->hl, &r);
	c->head = r.mlen == 4 && memcmp(r.method, "HEAD", 4) == 0;
	if (status == 0 && !r.asterisk &&
	    path_normalize(pathbuf, r.path, r.plen) < 0)
		status = S_BAD_REQUEST;
	if (status == 0 && r.clen > BODY_MAX)
		status = S_TOO_LARGE;
	if (status != 0) {
		refuse(c, status);
		return;
	}
	c->minor = r.minor;
	c->asterisk = r.asterisk;
	c->clen = r.clen;
	c->chunked = r.chunked;
	c->keep = !r.close && !stopping && c->served + 1 < REQS_PER_CONN;
	c->used = c->hl;
	if (r.clen <= 0 && !r.chunked) {
		dispatch(c);
		return;
	}
	c->st = CS_BODY;
	c->deadline = now + (int64_t)opt.head_timeout * 1000;
	if (r.expect100 && (r.chunked || c->len - c->hl < (size_t)r.clen))
		(void)conn_send1(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	process_input(c);
}

/* Make sense of the bytes buffered so far, in the states that read. */
static void
process_input(struct conn *c)
{
	long	 hl;
	int	 rc;

	if (c->st == CS_IDLE && c->len > 0) {
		c->st = CS_HEAD;	/* a request began: -T from here */
		c->deadline = now + (int64_t)opt.head_timeout * 1000;
	}
	if (c->st == CS_HEAD) {
		if ((hl = head_end(c->buf, c->len, &c->scan)) < 0) {
			refuse(c, S_BAD_REQUEST);
			return;
		}
		if (hl > HEAD_MAX || (hl == 0 && c->len >= HEAD_MAX)) {
			refuse(c, too_large(c));
			return;
		}
		if (hl == 0) {
			if (c->rdeof)
				conn_close(c);	/* it hung up halfway */
			return;
		}
		c->hl = (size_t)hl;
		head_done(c);
		return;
	}
	if (c->st != CS_BODY)
		return;
	if (!c->chunked) {
		if (c->len - c->hl >= (size_t)c->clen) {
			c->bodylen = (size_t)c->clen;
			c->used = c->hl + c->bodylen;
			dispatch(c);
		} else if (c->rdeof)
			conn_close(c);
		return;
	}
	rc = dechunk(&c->ck, c->buf + c->hl, c->len - c->hl, c->buf + c->hl,
	    BODY_MAX);
	if (rc == 0) {
		c->bodylen = c->ck.out;
		c->used = c->hl + c->ck.in;
		dispatch(c);
	} else if (rc == -1)
		refuse(c, S_BAD_REQUEST);
	else if (rc == -2 || c->len - c->hl >= CHUNKED_MAX)
		refuse(c, S_TOO_LARGE);
	else if (c->rdeof)
		conn_close(c);
}

/* How far c's buffer may grow in its state. */
static size_t
conn_need(const struct conn *c)
{
	if (c->st != CS_BODY)
		return HEAD_MAX;
	return c->hl + (c->chunked ? CHUNKED_MAX : (size_t)c->clen);
}

/* The client's side is readable. */
static void
conn_read(struct conn *c)
{
	static char drain[16384];
	size_t	 need, ncap;
	ssize_t	 n;
	char	*nb;

	if (c->st == CS_LINGER) {
		n = read(c->in, drain, sizeof(drain));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		c->len += n > 0 ? (size_t)n : 0;
		if (n <= 0 || c->len > LINGER_BYTES)
			conn_close(c);
		return;
	}
	need = conn_need(c);
	if (c->len == c->cap) {
		if (c->cap >= need)
			return;		/* full: process_input decides */
		ncap = c->cap == 0 ? BUF_START : c->cap * 2;
		ncap = ncap > need ? need : ncap;
		if (c->cap == 0 && ncap == BUF_START && nbuf_pool > 0)
			nb = buf_pool[--nbuf_pool];
		else if ((nb = realloc(c->buf, ncap)) == NULL) {
			conn_close(c);
			return;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	n = read(c->in, c->buf + c->len, c->cap - c->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1 && c->st != CS_IDLE) {
			conn_close(c);	/* a reset halfway */
			return;
		}
		c->rdeof = 1;
		if (c->st == CS_IDLE && c->len == 0) {
			conn_close(c);
			return;
		}
	} else
		c->len += (size_t)n;
	process_input(c);
}

/* The client took some of the pending output. */
static void
conn_flush(struct conn *c)
{
	ssize_t	 w;

	w = write(c->out, c->pend + c->poff, c->plen - c->poff);
	if (w == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w <= 0) {
		c->gone = 1;
		conn_drop(c);
		return;
	}
	c->poff += (size_t)w;
	c->wdeadline = now + WRITE_IDLE_S * 1000;
	if (c->poff < c->plen)
		return;
	free(c->pend);
	c->pend = NULL;
	c->plen = c->poff = 0;
	c->wdeadline = 0;
	if (c->st == CS_FLUSH)
		conn_next(c);
	else if (c->p != NULL && c->p->st != P_DONE)
		prog_read(c->p);	/* go on relaying */
}

/* Numeric host and port of a socket address; IPv4-mapped as IPv4. */
static void
addr_text(const struct sockaddr *sa, char *host, char *port)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct sockaddr_in *s4 = (const void *)sa;
	struct buf b;

	strcpy(host, "-");
	strcpy(port, "0");
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		addr_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, host);
	else if (sa->sa_family == AF_INET6)
		addr_ntop(AF_INET6, &s6->sin6_addr, host);
	else if (sa->sa_family == AF_INET)
		addr_ntop(AF_INET, &s4->sin_addr, host);
	else
		return;
	buf_init(&b, port, 5);
	buf_uint(&b, ntohs(sa->sa_family == AF_INET ? s4->sin_port :
	    s6->sin6_port), 1);
	port[b.len] = '\0';
}

/* Copy the variable v into dst (cap bytes, NUL included), if set. */
static void
env_copy(char *dst, size_t cap, const char *a, const char *b)
{
	const char *v = getenv(a) != NULL ? getenv(a) : getenv(b);
	size_t	 n;

	if (v == NULL)
		return;
	n = strlen(v) < cap - 1 ? strlen(v) : cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* A connection on in and out (the same socket, or 0 and 1 with -i). */
static struct conn *
conn_new(int in, int out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	int	 one = 1, type;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->in = in;
	c->out = out;
	strcpy(c->ci.peer, "-");
	strcpy(c->ci.peerport, "0");
	strcpy(c->ci.local, "localhost");
	strcpy(c->ci.localport, "0");
	if (getpeername(in, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, c->ci.peer, c->ci.peerport);
	else {
		/* inetd-style wrappers that pass the peer in the environment */
		env_copy(c->ci.peer, sizeof(c->ci.peer), "REMOTE_ADDR",
		    "TCPREMOTEIP");
		env_copy(c->ci.peerport, sizeof(c->ci.peerport), "REMOTE_PORT",
		    "TCPREMOTEPORT");
	}
	len = sizeof(ss);
	if (getsockname(in, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, c->ci.local, c->ci.localport);
	len = sizeof(type);
	c->sock = getsockopt(in, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	if (c->sock)
		(void)setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(in);
	if (out != in)
		set_nonblock(out);
	c->st = CS_IDLE;
	c->idle_since = now;
	c->deadline = now + (int64_t)opt.head_timeout * 1000;
	conns[nconns++] = c;
	nlive++;
	return c;
}

/* At -C: close the connection idle longest, if any. 1 if one was closed. */
static int
evict_idle(void)
{
	struct conn *best = NULL;
	int	 i;

	for (i = 0; i < nconns; i++)
		if (conns[i]->st == CS_IDLE && conns[i]->len == 0 &&
		    (best == NULL || conns[i]->idle_since < best->idle_since))
			best = conns[i];
	if (best == NULL)
		return 0;
	conn_close(best);
	return 1;
}

/* 1 if a connection could be evicted for a new one. */
static int
evict_possible(void)
{
	int	 i;

	for (i = 0; i < nconns; i++)
		if (conns[i]->st == CS_IDLE && conns[i]->len == 0)
			return 1;
	return 0;
}

/* Free the connections closed this turn. */
static void
sweep(void)
{
	int	 i;

	if (ndead == 0)
		return;
	ndead = 0;
	for (i = 0; i < nconns; )
		if (conns[i]->st == CS_DEAD) {
			free(conns[i]);
			conns[i] = conns[--nconns];
		} else
			i++;
}

/* accept(2) errors that concern one connection, not the listener. */
static int
accept_transient(int e)
{
	return e == EAGAIN || e == EINTR || e == ECONNABORTED || e == EPROTO ||
	    e == ENETDOWN || e == ENOPROTOOPT || e == EHOSTDOWN ||
	    e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP ||
	    e == ENETUNREACH || e == EPERM;
}

static void
accept_conns(int l)
{
	int	 k, fd;

	for (k = 0; k < ACCEPT_BURST; k++) {
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				logmsg("accept: out of descriptors or memory; "
				    "pausing", NULL, NULL);
				accept_paused_until = now + EMFILE_PAUSE_MS;
			} else if (!accept_transient(errno))
				die(1, errno, "accept", NULL, NULL);
			return;
		}
		/* at -C, a connection that came makes room for itself */
		if ((nlive >= opt.maxconns && !evict_idle()) ||
		    conn_new(fd, fd) == NULL) {
			close(fd);
			return;
		}
		if (nlive >= opt.maxconns && !evict_possible())
			return;
	}
}

/* ---- The loop ------------------------------------------------------ */

/* SIGTERM: stop accepting; idle connections close, the rest finish. */
static void
begin_stop(void)
{
	int	 i;

	stopping = 1;
	stop_by = now + (int64_t)(opt.cgi_timeout + KILL_GRACE_S +
	    opt.head_timeout + 1) * 1000;
	for (i = 0; i < nl; i++)
		close(lfd[i]);
	nl = 0;
	for (i = 0; i < nconns; i++) {
		conns[i]->keep = 0;
		if (conns[i]->p != NULL)
			conns[i]->p->fr.keep = 0;
		if (conns[i]->st == CS_IDLE && conns[i]->len == 0)
			conn_close(conns[i]);
	}
}

/* Deadlines that passed; returns the next one (0: none). */
static int64_t
timers(void)
{
	int64_t	 next = 0, d;
	struct conn *c;
	struct prog *p;
	int	 i;

#define NEXT(t)	do { if ((t) != 0 && (next == 0 || (t) < next)) next = (t); } while (0)
	for (i = 0; i < nslots; i++) {
		p = &progs[i];
		if (p->pid == 0 || (p->kill_at == INT64_MAX))
			continue;
		/* output over, exit not yet seen: look again soon, whatever
		 * SIGCHLD says (a finished program once held its slot to -t) */
		if (p->out == -1 && !p->exited) {
			prog_try_reap(p);
			if (p->pid == 0)
				continue;
			NEXT(now + REAP_RECHECK_MS);
		}
		d = p->kill_at != 0 ? p->kill_at : p->deadline;
		if (p->exited && p->out == -1)
			continue;
		if (now >= d)
			prog_expire(p);
		else
			NEXT(d);
	}
	for (i = 0; i < nconns; i++) {
		c = conns[i];
		if (c->st == CS_DEAD)
			continue;
		if (c->wdeadline != 0 && now >= c->wdeadline) {
			conn_drop(c);	/* it stopped reading */
			continue;
		}
		NEXT(c->wdeadline);
		if (c->deadline == 0 || c->st == CS_RUN || c->st == CS_QUEUED ||
		    c->st == CS_FLUSH) {
			continue;
		}
		if (now < c->deadline) {
			NEXT(c->deadline);
			continue;
		}
		if (c->st == CS_HEAD || c->st == CS_BODY)
			refuse(c, S_TIMEOUT);
		else
			conn_close(c);	/* idle, or done lingering */
	}
	if (stopping)
		NEXT(stop_by);
	if (accept_paused_until > now)
		NEXT(accept_paused_until);
#undef NEXT
	return next;
}

/* Add a poll entry. */
static void
watch(struct pollfd *pfd, struct owner *own, nfds_t *n, int fd, short ev,
    enum role role, void *ptr, unsigned gen)
{
	pfd[*n].fd = fd;
	pfd[*n].events = ev;
	pfd[*n].revents = 0;
	own[*n].role = role;
	own[*n].ptr = ptr;
	own[*n].gen = gen;
	(*n)++;
}

/* Build the poll set: what each listener, connection and program waits for. */
static nfds_t
poll_set(struct pollfd *pfd, struct owner *own)
{
	nfds_t	 n = 0;
	struct conn *c;
	struct prog *p;
	int	 i, accepting;
	short	 ev;

	accepting = !stopping && now >= accept_paused_until &&
	    (nlive < opt.maxconns || evict_possible());
	for (i = 0; i < nl && accepting; i++)
		watch(pfd, own, &n, lfd[i], POLLIN, R_LISTEN, &lfd[i], 0);
	for (i = 0; i < nconns; i++) {
		c = conns[i];
		ev = 0;
		if (!c->rdeof && (c->st == CS_IDLE || c->st == CS_HEAD ||
		    c->st == CS_BODY || c->st == CS_LINGER))
			ev = POLLIN;
		if (c->plen > c->poff && c->in == c->out)
			ev |= POLLOUT;
		/* with nothing asked, a socket still reports a reset; with
		 * -i, the output side tells whether the client is there */
		if (ev != 0 || (!c->rdeof && c->sock && c->in == c->out))
			watch(pfd, own, &n, c->in, ev, R_CONN_IN, c, 0);
		if (c->plen > c->poff && c->in != c->out)
			watch(pfd, own, &n, c->out, POLLOUT, R_CONN_OUT, c, 0);
	}
	for (i = 0; i < nslots; i++) {
		p = &progs[i];
		if (p->pid == 0)
			continue;
		if (p->out != -1 && p->c != NULL && p->c->plen == p->c->poff)
			watch(pfd, own, &n, p->out, POLLIN, R_PROG_OUT, p, p->gen);
		if (p->in != -1 && p->c != NULL)
			watch(pfd, own, &n, p->in, POLLOUT, R_PROG_IN, p, p->gen);
	}
	return n;
}

/* Act on what poll reported for entry i. */
static void
on_event(const struct pollfd *pf, const struct owner *ow)
{
	struct conn *c = ow->ptr;
	struct prog *p = ow->ptr;

	switch (ow->role) {
	case R_LISTEN:
		if (pf->revents & POLLIN)
			accept_conns(pf->fd);
		break;
	case R_CONN_IN:
	case R_CONN_OUT:
		if (c->st == CS_DEAD)
			break;
		/* a reset, or a hang-up with nothing left to read: gone */
		if (pf->revents & POLLERR || (pf->revents & POLLHUP &&
		    !(pf->revents & POLLIN) && c->in == c->out &&
		    c->st != CS_LINGER)) {
			c->gone = 1;
			conn_drop(c);
			break;
		}
		if (pf->revents & POLLOUT && c->plen > c->poff)
			conn_flush(c);
		if (c->st != CS_DEAD && pf->revents & (POLLIN | POLLHUP) &&
		    ow->role == R_CONN_IN && !c->rdeof)
			conn_read(c);
		break;
	case R_PROG_OUT:
		if (p->gen == ow->gen && p->c != NULL && p->out != -1 &&
		    pf->revents & (POLLIN | POLLHUP | POLLERR))
			prog_read(p);
		break;
	case R_PROG_IN:
		if (p->gen == ow->gen && p->c != NULL && p->in != -1 &&
		    pf->revents & (POLLOUT | POLLERR | POLLHUP))
			prog_write_body(p);
		break;
	}
}

/*
 * The loop: until told to stop and everything in flight is done (or, in
 * inetd mode, until the one connection is closed).
 */
static void
serve_loop(void)
{
	struct pollfd *pfd;
	struct owner *own;
	struct timespec ts;
	sigset_t none;
	size_t	 cap = LISTEN_MAX + 2 * ((size_t)opt.maxconns + ACCEPT_BURST) +
		    2 * (size_t)opt.maxprogs;
	nfds_t	 n, i;
	int64_t	 next;
	int	 k;

	if ((pfd = calloc(cap, sizeof(*pfd))) == NULL ||
	    (own = calloc(cap, sizeof(*own))) == NULL)
		die(1, errno, "out of memory", NULL, NULL);
	sigemptyset(&none);
	for (;;) {
		now = now_ms();
		if (got_chld) {
			got_chld = 0;
			reap_all();
		}
		for (k = 0; nheld > 0 && k < nslots; k++)
			if (progs[k].held)
				prog_own_fds(&progs[k], progs[k].exited);
		if (got_term && !stopping)
			begin_stop();
		next = timers();
		start_queued();
		sweep();
		if ((stopping || opt.inetd) && nconns == 0 && nrunning == 0)
			break;
		if (stopping && now >= stop_by) {
			logmsg("stopping: cutting what is still in flight", NULL,
			    NULL);
			for (k = 0; k < nconns; k++)
				conn_close(conns[k]);
			for (k = 0; k < nslots; k++)
				if (progs[k].pid != 0)
					prog_signal(&progs[k], SIGKILL);
			break;
		}
		n = poll_set(pfd, own);
		if (next != 0) {
			ts.tv_sec = (next - now) / 1000;
			ts.tv_nsec = (long)((next - now) % 1000) * 1000000 + 1000000;
		}
		if (ppoll(pfd, n, next != 0 ? &ts : NULL, &none) <= 0)
			continue;
		now = now_ms();
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0)
				on_event(&pfd[i], &own[i]);
	}
	/* nothing serve started outlives it */
	kill_adopted(0);
	free(pfd);
	free(own);
}

/* ---- Setting up ---------------------------------------------------- */

static const char usage_text[] =
    "usage: serve [-hqV] [-b address] [-p port] [-c max-programs]\n"
    "             [-C max-connections] [-t cgi-timeout] [-T head-timeout]\n"
    "             [-i] [program [arg ...]]\n";

static void
usage(void)
{
	(void)!write(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
	exit(2);
}

/* A decimal in [lo, hi], or exit 2 naming the option. */
static long
number(const char *s, long lo, long hi, const char *opt_name)
{
	char	 m[64];
	struct buf b;
	long	 v = decimal(&s);

	if (v < lo || v > hi || *s != '\0') {
		buf_init(&b, m, sizeof(m) - 1);
		buf_str(&b, " must be a number from ");
		buf_int(&b, lo, 1);
		buf_str(&b, " to ");
		buf_int(&b, hi, 1);
		m[b.len] = '\0';
		die(2, 0, opt_name, m, NULL);
	}
	return v;
}

/* The program to run: argv of serve's operands, or cgi beside serve. */
static void
find_program(int argc, char *argv[], const char *self)
{
	static char path[PATH_MAX];
	ssize_t	 n;
	char	*slash;
	int	 i;

	if (argc > ARGS_MAX + 1)
		die(2, 0, "too many program arguments", NULL, NULL);
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
	if (access(prog_argv[0], X_OK) != 0)
		die(1, 0, "cannot run ", prog_argv[0], ": not an executable file");
}

/* "http://127.0.0.1:8080/ " for the startup line. */
static void
buf_url(struct buf *b, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char	 host[INET6_ADDRSTRLEN], port[6];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die(1, errno, "getsockname", NULL, NULL);
	addr_text((struct sockaddr *)&ss, host, port);
	buf_str(b, "http://");
	buf_addr(b, host);
	buf_add(b, ":", 1);
	buf_str(b, port);
	buf_str(b, "/ ");
}

/* Listen on one address; -1 if that address family is not available. */
static int
listen_on(int family, const void *addr, int port, int v6only)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int	 fd, one = 1, e;
	char	 text[INET6_ADDRSTRLEN], where[16];
	struct buf b;

	memset(&s6, 0, sizeof(s6));
	memset(&s4, 0, sizeof(s4));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons((uint16_t)port);
	s4.sin_family = AF_INET;
	s4.sin_port = htons((uint16_t)port);
	if (family == AF_INET6)
		memcpy(&s6.sin6_addr, addr, sizeof(s6.sin6_addr));
	else
		memcpy(&s4.sin_addr, addr, sizeof(s4.sin_addr));
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
		return -1;
	if (fd == -1)
		die(1, errno, "socket", NULL, NULL);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (bind(fd, family == AF_INET6 ? (struct sockaddr *)&s6 :
	    (struct sockaddr *)&s4, family == AF_INET6 ? sizeof(s6) :
	    sizeof(s4)) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		if (errno == EADDRNOTAVAIL && family == AF_INET6 && v6only) {
			close(fd);
			return -1;	/* ::1 where IPv6 is off */
		}
		e = errno;
		addr_ntop(family, addr, text);
		buf_init(&b, where, sizeof(where) - 1);
		buf_str(&b, " port ");
		buf_uint(&b, (uint64_t)port, 1);
		where[b.len] = '\0';
		die(1, e, "cannot listen on ", text, where);
	}
	return fd;
}

/* The port a listener got (for -p 0). */
static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die(1, errno, "getsockname", NULL, NULL);
	return ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Listen on address (numeric IPv4 or IPv6, or "localhost" for 127.0.0.1
 * and ::1) and port; with no address, on one dual-stack IPv6 socket, or
 * IPv4 alone where IPv6 is off. Numeric only: serve links no resolver.
 */
static void
open_listeners(const char *address, int port)
{
	struct in6_addr a6;
	struct in_addr a4;
	int	 fd;

	if (address == NULL) {
		if ((fd = listen_on(AF_INET6, &in6addr_any, port, 0)) == -1) {
			a4.s_addr = htonl(INADDR_ANY);
			fd = listen_on(AF_INET, &a4, port, 0);
		}
		if (fd == -1)
			die(1, 0, "no IPv4 or IPv6 to listen on", NULL, NULL);
		lfd[nl++] = fd;
		return;
	}
	if (strcmp(address, "localhost") == 0) {
		a4.s_addr = htonl(INADDR_LOOPBACK);
		if ((lfd[nl] = listen_on(AF_INET, &a4, port, 0)) != -1)
			nl++;
		if ((lfd[nl] = listen_on(AF_INET6, &in6addr_loopback,
		    nl > 0 && port == 0 ? bound_port(lfd[0]) : port, 1)) != -1)
			nl++;
	} else if (inet_pton(AF_INET, address, &a4) == 1) {
		if ((lfd[nl] = listen_on(AF_INET, &a4, port, 0)) != -1)
			nl++;
	} else if (inet_pton(AF_INET6, address, &a6) == 1) {
		if ((lfd[nl] = listen_on(AF_INET6, &a6, port, 1)) != -1)
			nl++;
	} else
		die(1, 0, "-b ", address, ": not a numeric IPv4 or IPv6 address, nor localhost");
	if (nl == 0)
		die(1, 0, "-b ", address, ": that address family is not available");
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

/*
 * systemd socket activation (Accept=no): listeners from fd 3 on. Each
 * must be a listening socket, or serve refuses to start.
 */
static int
activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	socklen_t len;
	int	 n, i, yes;
	char	 d[4] = "3";

	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return 0;
	n = atoi(nfds);
	if (n < 1 || n > LISTEN_MAX)
		die(1, 0, "LISTEN_FDS=", nfds, ": from 1 to 8 listeners");
	for (i = 0; i < n; i++) {
		lfd[i] = 3 + i;
		d[0] = (char)('3' + i);
		yes = 0;
		len = sizeof(yes);
		if (getsockopt(lfd[i], SOL_SOCKET, SO_ACCEPTCONN, &yes,
		    &len) == -1 || !yes)
			die(1, 0, "LISTEN_FDS: descriptor ", d,
			    " is not a listening socket");
		if (fcntl(lfd[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    set_nonblock(lfd[i]) == -1)
			die(1, errno, "LISTEN_FDS: descriptor ", d, NULL);
	}
	nl = n;
	return n;
}

/* 1 if descriptors a and b are the same open socket or file. */
static int
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The descriptors the soft limit leaves for connections after FD_RESERVE
 * and four for each of -c programs (its two pipes' ends at serve and,
 * reserved, at the child: reserve_fds); CONNS_MAX without a limit.
 */
static long
fd_room(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
	    (long)rl.rlim_cur - FD_RESERVE - 4L * opt.maxprogs : CONNS_MAX;
}

/*
 * Descriptors: serve's own soft limit raised to the hard one (poll has no
 * FD_SETSIZE), and -C by default fd_room().
 */
static void
size_limits(int conns_given)
{
	struct rlimit rl;
	long	 room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < NOFILE_WANT &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < NOFILE_WANT ? rl.rlim_max : NOFILE_WANT;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (conns_given)
		return;
	room = fd_room();
	opt.maxconns = room < 1 ? 1 : room > CONNS_MAX ? CONNS_MAX : (int)room;
}

/*
 * Two low descriptors for each program slot, /dev/null until a program's
 * pipe ends are put there (prog_spawn), so that its child copies only the
 * descriptors below them (child_unshare): when the limit leaves room for
 * them and a connection, and the kernel has close_range(2) with
 * CLOSE_RANGE_UNSHARE (Linux 5.9) and lets serve call it. Otherwise, or
 * if the descriptors run out here, none: each child copies serve's table.
 */
static void
reserve_fds(void)
{
	int	 i, ok = 1;

	if (fd_room() < 1 ||
	    sys3(SYS_close_range, (long)~0U, (long)~0U, CLOSE_RANGE_UNSHARE) != 0)
		return;
	for (i = 0; i < opt.maxprogs && ok; i++)
		ok = (progs[i].res_in = fcntl(devnull, F_DUPFD_CLOEXEC, 0)) != -1 &&
		    (progs[i].res_out = fcntl(devnull, F_DUPFD_CLOEXEC, 0)) != -1;
	for (i = 0; i < opt.maxprogs && !ok; i++) {
		if (progs[i].res_in != -1)
			close(progs[i].res_in);
		if (progs[i].res_out != -1)
			close(progs[i].res_out);
		progs[i].res_in = progs[i].res_out = -1;
	}
}

/*
 * Options into opt, the program into prog_argv; returns the address to
 * bind (NULL: all) and sets *port. Exits 0 for -h and -V, 2 on misuse.
 */
static const char *
options(int argc, char *argv[], int *port, int *conns_given)
{
	const char *address = NULL, *port_s = getenv("PORT");
	int	 ch;

	if (port_s == NULL || *port_s == '\0')
		port_s = "8080";
	while ((ch = getopt(argc, argv, "+b:c:C:hip:qt:T:V")) != -1) {
		switch (ch) {
		case 'b':
			address = optarg;
			break;
		case 'c':
			opt.maxprogs = (int)number(optarg, 1, CHILDREN_MAX, "-c");
			break;
		case 'C':
			opt.maxconns = (int)number(optarg, 1, CONNS_MAX, "-C");
			*conns_given = 1;
			break;
		case 'h':
			(void)!write(STDOUT_FILENO, usage_text,
			    sizeof(usage_text) - 1);
			exit(0);
		case 'i':
			opt.inetd = 1;
			break;
		case 'p':
			port_s = optarg;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 't':
			opt.cgi_timeout = (int)number(optarg, 1, TIMEOUT_MAX_S, "-t");
			break;
		case 'T':
			opt.head_timeout = (int)number(optarg, 1, TIMEOUT_MAX_S, "-T");
			break;
		case 'V':
			(void)!write(STDOUT_FILENO, "moscow-time serve " VERSION "\n",
			    sizeof("moscow-time serve " VERSION "\n") - 1);
			exit(0);
		default:
			usage();
		}
	}
	*port = (int)number(port_s, 0, 65535, "the port");
	find_program(argc - optind, argv + optind, argv[0]);
	return address;
}

/* MODE=once: be the program, once, as the reference container was. */
static void
run_once(const char *mode)
{
	char	 line[MSG_MAX], *envp[2];
	struct buf b;

	buf_init(&b, line, sizeof(line) - 1);
	buf_str(&b, "MODE=");
	buf_str(&b, mode);
	line[b.len] = '\0';
	envp[0] = line;
	envp[1] = NULL;
	execve(prog_argv[0], prog_argv, envp);
	die(1, errno, "cannot run ", prog_argv[0], NULL);
}

/*
 * Descriptors, signals and tables: nothing inherited reaches a program,
 * fds 0-2 are open, signals arrive only inside ppoll (so no wakeup is
 * lost), descendants whose parent dies are adopted.
 */
static void
setup(int conns_given)
{
	struct sigaction sa;
	sigset_t block;
	int	 fd, i;

	cloexec_from(3);
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		die(1, errno, "/dev/null", NULL, NULL);
	/* inetd hands the socket over as fd 2 too: log nowhere, then */
	if (opt.inetd && (same_file(STDERR_FILENO, STDIN_FILENO) ||
	    same_file(STDERR_FILENO, STDOUT_FILENO))) {
		opt.quiet = 1;
		(void)dup2(devnull, STDERR_FILENO);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (opt.inetd)
		opt.maxconns = 1;
	size_limits(conns_given || opt.inetd);
	if ((progs = calloc((size_t)opt.maxprogs, sizeof(*progs))) == NULL ||
	    (conns = calloc((size_t)opt.maxconns + ACCEPT_BURST,
	    sizeof(*conns))) == NULL)
		die(1, errno, "out of memory", NULL, NULL);
	for (i = 0; i < opt.maxprogs; i++)
		progs[i].out = progs[i].in = progs[i].res_in =
		    progs[i].res_out = -1;
	reserve_fds();
	now = now_ms();
}

/*
 * The listening sockets: activated, or opened; with -p 0 the port on
 * standard output, and unless -q a line saying where to go.
 */
static void
listeners(const char *address, int port)
{
	char	 line[MSG_MAX];
	struct buf b;
	int	 i;

	/* a process group of its own unless a terminal's job is ours: a
	 * supervisor that started serve is never in the way of a signal */
	if (getpgrp() != getpid() && tcgetpgrp(STDIN_FILENO) != getpgrp())
		(void)setpgid(0, 0);
	if (activated() == 0)
		open_listeners(address, port);
	if (port == 0) {
		buf_init(&b, line, sizeof(line));
		buf_uint(&b, (uint64_t)bound_port(lfd[0]), 1);
		buf_add(&b, "\n", 1);
		(void)!write(STDOUT_FILENO, line, b.len);
	}
	if (opt.quiet)
		return;
	buf_init(&b, line, sizeof(line) - 1);
	buf_str(&b, "serve: listening on ");
	for (i = 0; i < nl; i++)
		buf_url(&b, lfd[i]);
	b.len--;
	buf_str(&b, ", running ");
	buf_str(&b, prog_argv[0]);
	if (b.full)
		b.len = sizeof(line) - 1;
	line[b.len++] = '\n';
	(void)!write(STDERR_FILENO, line, b.len);
}

int
main(int argc, char *argv[])
{
	const char *address, *mode;
	int	 port, conns_given = 0;

	address = options(argc, argv, &port, &conns_given);
	if ((mode = getenv("MODE")) != NULL && *mode != '\0')
		run_once(mode);
	setup(conns_given);
	if (opt.inetd) {
		if (conn_new(STDIN_FILENO, STDOUT_FILENO) == NULL)
			die(1, errno, "out of memory", NULL, NULL);
	} else
		listeners(address, port);
	serve_loop();
	return 0;
}
