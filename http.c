/*
 * http.c: the pure part of serve (see http.h): parsing a request head,
 * normalising its path, de-chunking its body, the Host grammar, the CGI's
 * environment, parsing the program's header block, and rendering the
 * response head, serve's own answers, the Date and the access log line.
 * Each function takes a buffer and its length (and the time where it
 * renders one) and can be fuzzed alone.
 */
#include <string.h>

#include "http.h"

/* ---- Statuses ----------------------------------------------------- */

/* The reason phrases (RFC 9110 15), one per status serve names. */
static const struct {
	enum status	 s;
	const char	*text;
} reasons[] = {
	{ S_CONTINUE, "Continue" },
	{ S_OK, "OK" }, { S_CREATED, "Created" }, { S_ACCEPTED, "Accepted" },
	{ S_NO_CONTENT, "No Content" },
	{ S_MOVED, "Moved Permanently" }, { S_FOUND, "Found" },
	{ S_SEE_OTHER, "See Other" }, { S_NOT_MODIFIED, "Not Modified" },
	{ S_TEMPORARY_REDIRECT, "Temporary Redirect" },
	{ S_PERMANENT_REDIRECT, "Permanent Redirect" },
	{ S_BAD_REQUEST, "Bad Request" }, { S_UNAUTHORIZED, "Unauthorized" },
	{ S_FORBIDDEN, "Forbidden" }, { S_NOT_FOUND, "Not Found" },
	{ S_METHOD_NOT_ALLOWED, "Method Not Allowed" },
	{ S_TIMEOUT, "Request Timeout" }, { S_TOO_LARGE, "Content Too Large" },
	{ S_URI_TOO_LONG, "URI Too Long" },
	{ S_EXPECTATION, "Expectation Failed" },
	{ S_HEAD_TOO_LARGE, "Request Header Fields Too Large" },
	{ S_INTERNAL, "Internal Server Error" },
	{ S_NOT_IMPLEMENTED, "Not Implemented" },
	{ S_BAD_GATEWAY, "Bad Gateway" },
	{ S_UNAVAILABLE, "Service Unavailable" },
	{ S_GATEWAY_TIMEOUT, "Gateway Timeout" },
	{ S_VERSION, "HTTP Version Not Supported" },
};

const char *
status_text(enum status s)
{
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].s == s)
			return reasons[i].text;
	return s < 300 ? "OK" : s < 400 ? "Redirect" : s < 500 ? "Client Error" :
	    "Server Error";
}

/* ---- Parsing a request head (RFC 9112 2-6) ------------------------- */

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
int
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
long
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
int
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
int
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
enum status
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
long
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

/*
 * Go on de-chunking raw[s->in..len) into out[s->out..cap). out may be raw
 * itself (the body never outruns the bytes it came from), which is how
 * serve de-chunks in place. Each raw byte is looked at once, however the
 * body arrives. Returns 1 while incomplete; 0 when the body and its
 * trailer section are complete (s->in is then the raw length, trailers
 * included, s->out the body's); -1 if malformed; -2 if the body exceeds
 * cap.
 */
int
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
void
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
int
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
int
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
void
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
void
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
void
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

/*
 * Render the status line and header block for the program's answer co
 * into h. complete: the whole body (len bytes) is at hand, so it gets a
 * Content-Length; otherwise it is chunked on HTTP/1.1 and close-delimited
 * on HTTP/1.0 (fr->keep cleared). head: the request was HEAD.
 */
void
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
size_t
render_own(struct buf *b, enum status status, int head, int keep, int64_t now)
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

/*
 * The access log line for a request, in Common Log Format, with its
 * newline: host - - [24/Nov/2026:01:02:03 +0000] "GET / HTTP/1.1" 200 1234
 * peer is the client's address, t the time, line the request line (cut at
 * LOG_REQ_MAX bytes and escaped), bytes the body bytes sent. Into mem,
 * LOG_LINE_MAX bytes; the length.
 */
size_t
render_log_line(char *mem, const char *peer, int64_t t, const char *line,
    size_t linelen, enum status status, uint64_t bytes)
{
	struct buf b;
	struct civil c;

	civil_from_unix(t, &c);
	buf_init(&b, mem, LOG_LINE_MAX - 1);
	buf_str(&b, peer);
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
		b.len = LOG_LINE_MAX - 1;
	mem[b.len++] = '\n';
	return b.len;
}

/*
 * A wait of ms milliseconds (0 or more) for ppoll(2), a millisecond late
 * rather than early: tv_nsec stays below a second, which ppoll demands
 * (999 ms once gave 1,000,000,000 ns, EINVAL, and a loop that spun).
 */
void
ms_timespec(int64_t ms, struct timespec *ts)
{
	ms += 1;
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}
