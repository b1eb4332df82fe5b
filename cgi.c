/*
 * cgi.c: moscow-time, the current time in Moscow, as one CGI/1.1 program
 * (RFC 3875) for every host: Apache, lighttpd, nginx + fcgiwrap, Spin's
 * WAGI executor (built as cgi.wasm), serve, and a shell (MODE=once).
 *
 * One request is three steps: read the CGI variables (env_get() over one
 * environment array: environ natively, a static copy on WASI, the
 * request's parameters under FastCGI), decide the response (handle(),
 * pure), write it once (emit(), through a writer: fd 1, or the FastCGI
 * stream). The response is rendered into static buffers and the CGI
 * never allocates, which keeps cgi.wasm clear of the heap bug in Spin's
 * preview1 adapter.
 *
 * Built with -DFASTCGI (make fcgi), the same code answers every request
 * of a FastCGI responder of its own (libc only, one poll loop over every
 * connection the web server holds open); started outside a FastCGI
 * server (stdin not a listening socket), that build is the plain CGI.
 */
#ifdef __linux__
#define _DEFAULT_SOURCE		/* syscall(2) */
#include <sys/syscall.h>
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#include "render.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

/*
 * Limits. A path or SCRIPT_NAME longer than PATH_MAX_BYTES gets a 400;
 * RESP_BODY_MAX holds the page with a SCRIPT_NAME of PATH_MAX_BYTES escaped
 * in its three places (6 bytes per byte at worst), so a full buffer, which
 * would give a 500, is a bug and not an input. Both RESP_ limits are of
 * the response this program writes, not of a request.
 */
#define PATH_MAX_BYTES	1024		/* bytes of PATH_INFO, X_RAW_PATH_INFO, SCRIPT_NAME */
#define RESP_BODY_MAX	(32 * 1024)	/* bytes of a rendered response body */
#define RESP_HEAD_MAX	1024		/* bytes of the response's CGI header block */

#define ALLOWED		"GET, HEAD, OPTIONS"
#define CSP_COMMON	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

enum status {
	S_OK = 200,
	S_NO_CONTENT = 204,
	S_BAD_REQUEST = 400,
	S_NOT_FOUND = 404,
	S_METHOD_NOT_ALLOWED = 405,
	S_INTERNAL = 500
};

/*
 * The resources. Routing is by exact match on the decoded path; adding
 * one is a row here and a case in handle().
 */
enum route { R_NONE, R_PAGE, R_TIME };

static const struct {
	const char	*path;
	enum route	 route;
} routes[] = {
	{ "",		R_PAGE },
	{ "/",		R_PAGE },
	{ "/api/time",	R_TIME },
};

/* Slots of templates/index.html; the generated index.h names them. */
enum slot { SLOT_END, SLOT_ISO, SLOT_TIME, SLOT_DATE, SLOT_BASE, SLOT_DATA };
#include "templates/index.h"

/* The CGI variables a request is decided on; NULL when unset. */
struct cgireq {
	const char	*method;	/* REQUEST_METHOD */
	const char	*path_info;	/* PATH_INFO, decoded by the host */
	const char	*raw_path;	/* X_RAW_PATH_INFO (WAGI), not decoded */
	const char	*script_name;	/* SCRIPT_NAME: prefix of every link */
};

/* A decided response; the body is already rendered into body. */
struct resp {
	enum status	 status;
	const char	*ctype;		/* NULL: no body at all (204) */
	const char	*csp;
	int		 allow;		/* send Allow */
	int		 head;		/* HEAD: headers only */
	struct buf	 body;
};

/* What the page's slots are filled from. */
struct page {
	int64_t		 t;
	struct civil	 c;
	const char	*base;		/* SCRIPT_NAME */
	size_t		 baselen;
};

/* Where a response goes: fd 1, or a FastCGI stream. */
struct writer {
	int	(*write)(void *ctx, struct iovec *iov, int cnt);	/* 0, or -1 */
	void	 *ctx;
};

static const char *
status_text(enum status s)
{
	switch (s) {
	case S_OK:			return "OK";
	case S_NO_CONTENT:		return "No Content";
	case S_BAD_REQUEST:		return "Bad Request";
	case S_NOT_FOUND:		return "Not Found";
	case S_METHOD_NOT_ALLOWED:	return "Method Not Allowed";
	case S_INTERNAL:		return "Internal Server Error";
	}
	return "Internal Server Error";
}

/* "404 Not Found" */
static void
render_status(struct buf *b, enum status s)
{
	buf_uint(b, (uint64_t)s, 3);
	buf_add(b, " ", 1);
	buf_str(b, status_text(s));
}

/* ---- Deciding ------------------------------------------------------ */

/*
 * A 200 with nothing decided yet, to a request with method m (NULL: none):
 * every field set, headers only for HEAD, the body empty in the cap bytes
 * at body. Every response starts here.
 */
static void
resp_init(struct resp *r, const char *m, char *body, size_t cap)
{
	r->status = S_OK;
	r->ctype = NULL;
	r->csp = "default-src 'none'; " CSP_COMMON;
	r->allow = 0;
	r->head = m != NULL && strcmp(m, "HEAD") == 0;
	buf_init(&r->body, body, cap);
}

static enum route
route_of(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strlen(routes[i].path) == n &&
		    memcmp(routes[i].path, p, n) == 0)
			return routes[i].route;
	return R_NONE;
}

/* 1 if the path is /api or under /api/: its errors are JSON, else HTML. */
static int
is_api(const char *p, size_t n)
{
	return n >= 4 && memcmp(p, "/api", 4) == 0 && (n == 4 || p[4] == '/');
}

static void
fill_page(struct buf *b, int slot, const void *arg)
{
	const struct page *pg = arg;

	switch (slot) {
	case SLOT_ISO:
		render_ymd(b, &pg->c);
		buf_add(b, "T", 1);
		render_hms(b, &pg->c);
		buf_str(b, "+03:00");
		break;
	case SLOT_TIME:
		render_hms(b, &pg->c);
		break;
	case SLOT_DATE:
		render_longdate(b, &pg->c);
		break;
	case SLOT_BASE:
		render_esc(b, ESC_HTML, pg->base, pg->baselen);
		break;
	case SLOT_DATA:
		buf_str(b, "{\"api\":\"");
		render_esc(b, ESC_JS, pg->base, pg->baselen);
		buf_str(b, "/api/time\",\"timestamp\":");
		buf_int(b, pg->t, 1);
		buf_add(b, "}", 1);
		break;
	}
}

/*
 * Render an error response: JSON under /api, a small HTML page elsewhere.
 * path (NULL: not shown) and base (NULL: no link) have been validated.
 */
static void
fail(struct resp *r, enum status s, int api, const char *why,
    const char *path, size_t pathlen, const char *base, size_t baselen)
{
	r->status = s;
	r->csp = "default-src 'none'; " CSP_COMMON;
	r->body.len = 0;
	r->body.full = 0;
	if (api) {
		r->ctype = "application/json; charset=utf-8";
		buf_str(&r->body, "{\"status\":");
		buf_uint(&r->body, (uint64_t)s, 1);
		buf_str(&r->body, ",\"error\":\"");
		buf_str(&r->body, status_text(s));
		buf_str(&r->body, "\",\"detail\":\"");
		buf_str(&r->body, why);
		if (path != NULL) {
			buf_str(&r->body, "\",\"path\":\"");
			render_esc(&r->body, ESC_JSON, path, pathlen);
		}
		buf_str(&r->body, "\"}\n");
		return;
	}
	r->ctype = "text/html; charset=utf-8";
	buf_str(&r->body, "<!doctype html>\n<html lang=\"en\">\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n<title>");
	render_status(&r->body, s);
	buf_str(&r->body, "</title>\n<h1>");
	render_status(&r->body, s);
	buf_str(&r->body, "</h1>\n<p>");
	buf_str(&r->body, why);
	if (path != NULL) {
		buf_str(&r->body, ": <code>");
		render_esc(&r->body, ESC_HTML, path, pathlen);
		buf_str(&r->body, "</code>");
	}
	buf_str(&r->body, ".</p>\n");
	if (base != NULL) {
		buf_str(&r->body, "<p><a href=\"");
		render_esc(&r->body, ESC_HTML, base, baselen);
		buf_str(&r->body, "/\">Moscow time</a></p>\n");
	}
	buf_str(&r->body, "</html>\n");
}

/*
 * Decide the response to q at time now into r, fresh from resp_init().
 * Checks come in this order: the path and SCRIPT_NAME (400), the resource
 * (404), the method (204 for OPTIONS, 405 for anything but GET and HEAD).
 * Routing is by exact match, so "//", "." and ".." segments that a host
 * left in place give 404 (RFC 3875 8.2).
 */
static void
handle(const struct cgireq *q, int64_t now, struct resp *r)
{
	static char decoded[PATH_MAX_BYTES];
	const char *m = q->method != NULL ? q->method : "";
	const char *sn = q->script_name != NULL ? q->script_name : "";
	const char *p = q->raw_path != NULL ? q->raw_path :
	    q->path_info != NULL ? q->path_info : "";
	size_t	 snlen = strlen(sn), plen = strlen(p);
	long	 n;
	int	 api = is_api(p, plen);
	enum route rt;
	struct page pg;

	if (snlen > PATH_MAX_BYTES || has_ctl(sn, snlen)) {
		fail(r, S_BAD_REQUEST, api, "SCRIPT_NAME is too long or holds "
		    "a control character", NULL, 0, NULL, 0);
		return;
	}
	if (plen > PATH_MAX_BYTES) {
		fail(r, S_BAD_REQUEST, api, "The path is too long",
		    NULL, 0, sn, snlen);
		return;
	}
	/* WAGI hands over the raw path: decode it once, and only it. */
	if (q->raw_path != NULL) {
		if ((n = uri_decode(decoded, p, plen)) < 0) {
			fail(r, S_BAD_REQUEST, api, "The path holds a malformed "
			    "percent-escape", NULL, 0, sn, snlen);
			return;
		}
		p = decoded;
		plen = (size_t)n;
		api = is_api(p, plen);
	}
	if (has_ctl(p, plen)) {
		fail(r, S_BAD_REQUEST, api, "The path holds a control "
		    "character", NULL, 0, sn, snlen);
		return;
	}

	if ((rt = route_of(p, plen)) == R_NONE) {
		fail(r, S_NOT_FOUND, api, "Nothing here", p, plen, sn, snlen);
		return;
	}
	if (strcmp(m, "OPTIONS") == 0) {
		r->status = S_NO_CONTENT;
		r->allow = 1;
		return;
	}
	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		fail(r, S_METHOD_NOT_ALLOWED, api, "This resource allows "
		    "only " ALLOWED, NULL, 0, sn, snlen);
		r->allow = 1;
		return;
	}

	switch (rt) {
	case R_TIME:
		r->ctype = "application/json; charset=utf-8";
		render_time_json(&r->body, now, 0);
		break;
	case R_PAGE:
		pg.t = now;
		msk_from_unix(now, &pg.c);
		pg.base = sn;
		pg.baselen = snlen;
		r->ctype = "text/html; charset=utf-8";
		r->csp = "default-src 'none'; style-src " PAGE_STYLE_CSP
		    "; script-src " PAGE_SCRIPT_CSP "; connect-src 'self'; "
		    CSP_COMMON;
		render_tmpl(&r->body, page_tmpl, fill_page, &pg);
		break;
	case R_NONE:
		break;
	}
}

/* Render the CGI header block for r (RFC 3875 6): CRLF, each field once. */
static void
render_head(struct buf *h, const struct resp *r)
{
	if (r->status != S_OK) {
		buf_str(h, "Status: ");
		render_status(h, r->status);
		buf_str(h, "\r\n");
	}
	if (r->ctype != NULL) {
		buf_str(h, "Content-Type: ");
		buf_str(h, r->ctype);
		buf_str(h, "\r\nContent-Length: ");
		buf_uint(h, r->body.len, 1);
		buf_str(h, "\r\n");
	}
	if (r->allow)
		buf_str(h, "Allow: " ALLOWED "\r\n");
	buf_str(h, "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Content-Security-Policy: ");
	buf_str(h, r->csp);
	buf_str(h, "\r\n\r\n");
}

/* ---- Writing ------------------------------------------------------- */

/* Write all of iov to fd despite short writes and EINTR. 0, or -1. */
static int
write_all(int fd, struct iovec *iov, int cnt)
{
	ssize_t	 w;

	for (iov_consume(&iov, &cnt, 0); cnt > 0;
	    iov_consume(&iov, &cnt, (size_t)w))
		if ((w = writev(fd, iov, cnt)) < 0) {
			if (errno != EINTR)
				return -1;
			w = 0;
		}
	return 0;
}

/* One line on stderr: "cgi: a b\n". Best effort, as stderr may be gone. */
static void
msg(const char *a, const char *b)
{
	struct iovec iov[4] = {
		{ (char *)"cgi: ", 5 }, { (char *)a, strlen(a) },
		{ (char *)b, strlen(b) }, { (char *)"\n", 1 } };

	(void)write_all(STDERR_FILENO, iov, 4);
}

static int
write_stdout(void *ctx, struct iovec *iov, int cnt)
{
	(void)ctx;
	return write_all(STDOUT_FILENO, iov, cnt);
}

static const struct writer to_stdout = { write_stdout, NULL };

/* Write the header block and, unless HEAD, the body, in one call to w. */
static void
emit(struct resp *r, const struct writer *w)
{
	static char head[RESP_HEAD_MAX];
	struct buf h;
	struct iovec iov[2];

	if (r->body.full) {
		msg("response too large for its buffer", "");
		fail(r, S_INTERNAL, 0, "The response did not fit", NULL, 0,
		    NULL, 0);
	}
	buf_init(&h, head, sizeof(head));
	render_head(&h, r);
	iov[0].iov_base = h.p;
	iov[0].iov_len = h.len;
	iov[1].iov_base = r->body.p;
	iov[1].iov_len = r->head || r->ctype == NULL ? 0 : r->body.len;
	if (w->write(w->ctx, iov, 2) == -1)
		msg("cannot write the response", "");
}

/* ---- The platform: variables and arguments ------------------------- */

/*
 * The variables of the request being answered, "NAME=value" strings up
 * to a NULL: set by env_load(), or per request by the FastCGI loop.
 */
static char **env_vars;

static const char *
env_get(const char *name)
{
	size_t	 n = strlen(name);
	char	**e;

	if (env_vars == NULL)
		return NULL;
	for (e = env_vars; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/*
 * The variables of one request, where this program holds its own copy
 * (WASI, FastCGI): ENV_BYTES_MAX is twice the preview1 adapter's cap on
 * arguments plus environment (near 64 KiB) and four times nginx's default
 * for a request's headers; past either limit the answer is env_fail()'s.
 */
#define ENV_BYTES_MAX	(128 * 1024)	/* bytes of NAME=value\0 strings */
#define ENV_VARS_MAX	2048		/* variables */

/* The answer when the variables cannot be read or are over the limits. */
static void
env_fail(const struct writer *w)
{
	static char body[512];
	struct resp r;

	msg("the environment is unreadable or over the limit", "");
	resp_init(&r, NULL, body, sizeof(body));
	fail(&r, S_INTERNAL, 0, "The environment is too large", NULL, 0,
	    NULL, 0);
	emit(&r, w);
}

#ifdef __wasi__
#include <wasi/api.h>
/*
 * WASI: wasi-libc's getenv and environ fill heap buffers, and heap growth
 * corrupts the state of the preview1 adapter that Spin runs every module
 * through. So the environment is read straight into static buffers.
 */
static char	*env_copy[ENV_VARS_MAX + 1];

/*
 * Read the environment once. 0, or -1 if it is unreadable or too large.
 * The preview1 adapter (as jco runs it) writes no NUL after an empty value,
 * so "A=" runs into the next variable: each entry is taken to end at the
 * next one's start or at its first NUL, whichever comes first, and copied
 * with a NUL of its own.
 */
static int
env_load(void)
{
	static char raw[ENV_BYTES_MAX], text[ENV_BYTES_MAX + ENV_VARS_MAX];
	__wasi_size_t count, size, i;
	char	*p, *end, *o = text;

	/* An empty environment is not asked for: some hosts refuse that. */
	if (__wasi_environ_sizes_get(&count, &size) != 0 ||
	    count > ENV_VARS_MAX || size > sizeof(raw) || (count > 0 &&
	    __wasi_environ_get((uint8_t **)env_copy, (uint8_t *)raw) != 0))
		return -1;
	for (i = 0; i < count; i++) {
		end = i + 1 < count ? env_copy[i + 1] : raw + size;
		if (env_copy[i] < raw || end > raw + size || end < env_copy[i])
			return -1;
		for (p = env_copy[i], env_copy[i] = o; p < end && *p != '\0';)
			*o++ = *p++;
		*o++ = '\0';
	}
	env_copy[count] = NULL;
	env_vars = env_copy;
	return 0;
}

#else
extern char **environ;

static int
env_load(void)
{
	env_vars = environ;
	return 0;
}
#endif

/* ---- Modes --------------------------------------------------------- */

static const char usage_text[] =
    "usage: cgi [-h | --help | --version]\n"
    "\n"
    "Tells the time in Moscow (UTC+3).\n"
    "\n"
    "As a CGI program (REQUEST_METHOD set), it answers one request:\n"
    "  /           the clock page\n"
    "  /api/time   {\"moscow_time\":\"YYYY-MM-DD HH:MM:SS MSK\","
    "\"timestamp\":N}\n"
    "On a shell (MODE=once, or neither MODE nor REQUEST_METHOD set), it\n"
    "prints the time as JSON and exits. See cgi(1).\n";

/*
 * The time in seconds. On Linux by the system call: clock_gettime(3)
 * goes through the vDSO, whose first use in a process costs a symbol
 * lookup and three page faults, about 10 us of a program that reads the
 * clock once per process (and 5% of serve's requests a second), against
 * well under 1 us for the call. The FastCGI responder reads it once per
 * request for its whole life, so it takes the vDSO. A test may define its
 * own clock_gettime.
 */
#if defined(SYS_clock_gettime) && !defined(clock_gettime) && !defined(FASTCGI)
#define CLOCK_READ(ts)	syscall(SYS_clock_gettime, CLOCK_REALTIME, (ts))
#else
#define CLOCK_READ(ts)	clock_gettime(CLOCK_REALTIME, (ts))
#endif

static int
now_s(int64_t *t)
{
	struct timespec ts;

	if (CLOCK_READ(&ts) != 0)
		return -1;
	*t = (int64_t)ts.tv_sec;
	return 0;
}

/*
 * The response body's buffer goes, on x86-64 ELF, to .lbss, which the
 * linker places after every other zeroed variable: the small buffers and
 * libc's own variables then share the first writable page with the start
 * of the body, and a process answering /api/time writes one page of its
 * data instead of two (5 page faults, as many as a static no-op; 2-3% of
 * a spawn). GCC only: clang would store the section's zeros in the file.
 */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__)
#define AFTER_BSS	__attribute__((section(".lbss")))
#else
#define AFTER_BSS
#endif

/*
 * Answer one CGI request from the environment through w. Always 0 (see
 * cgi(1)).
 */
static int
cgi_request(const struct writer *w)
{
	static char body[RESP_BODY_MAX] AFTER_BSS;
	struct cgireq q;
	struct resp r;
	int64_t	 now;

	q.method = env_get("REQUEST_METHOD");
	q.path_info = env_get("PATH_INFO");
	q.raw_path = env_get("X_RAW_PATH_INFO");
	q.script_name = env_get("SCRIPT_NAME");
	resp_init(&r, q.method, body, sizeof(body));
	if (now_s(&now) == -1) {
		msg("cannot read the clock", "");
		fail(&r, S_INTERNAL, 0, "The clock cannot be read", NULL, 0,
		    NULL, 0);
	} else
		handle(&q, now, &r);
	emit(&r, w);
	return 0;
}

/* The shell: print the time as indented JSON. 0, 1 on failure, 2 on usage. */
static int
cli(int argc, char *argv[])
{
	static char out[256], quoted[256];
	const char *mode = env_get("MODE");
	struct buf b;
	struct iovec iov;
	int64_t	 now;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		iov.iov_base = (char *)usage_text;
		iov.iov_len = sizeof(usage_text) - 1;
		return write_all(STDOUT_FILENO, &iov, 1) == -1;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		iov.iov_base = (char *)"moscow-time cgi " VERSION "\n";
		iov.iov_len = strlen(iov.iov_base);
		return write_all(STDOUT_FILENO, &iov, 1) == -1;
	}
	if (argc > 1) {
		msg("unknown argument; usage: cgi [-h | --help | --version]",
		    "");
		return 2;
	}
	if (mode != NULL && mode[0] != '\0' && strcmp(mode, "once") != 0) {
		buf_init(&b, quoted, sizeof(quoted) - 1);
		render_esc(&b, ESC_JSON, mode, strlen(mode) > 64 ? 64 :
		    strlen(mode));
		quoted[b.len] = '\0';
		msg("unknown MODE (the only mode is \"once\"): ", quoted);
		return 2;
	}
	if (now_s(&now) == -1) {
		msg("cannot read the clock", "");
		return 1;
	}
	buf_init(&b, out, sizeof(out));
	render_time_json(&b, now, 1);
	iov.iov_base = b.p;
	iov.iov_len = b.len;
	if (write_all(STDOUT_FILENO, &iov, 1) == -1) {
		msg("cannot write the output", "");
		return 1;
	}
	return 0;
}

/*
 * REQUEST_METHOD set and not empty means a CGI request; argv is then
 * ignored (Apache turns a query into argv, CVE-2012-1823; Spin passes the
 * path).
 */
static int
run(int argc, char *argv[])
{
	const char *m;

	if (env_load() == -1) {
		env_fail(&to_stdout);
		return 0;
	}
	m = env_get("REQUEST_METHOD");
	if (m != NULL && m[0] != '\0')
		return cgi_request(&to_stdout);
	return cli(argc, argv);
}

#ifdef __wasi__
/*
 * main(void): the module reads no arguments (wasi-libc would malloc them,
 * and under WAGI, where every request instantiates the module, each import
 * is one more function the host binds per request: args_get and
 * args_sizes_get cost a quarter of the instantiation under node:wasi).
 * --help and --version are the native program's.
 */
int
main(void)
{
	static char *argv[] = { "cgi", NULL };

	return run(1, argv);
}
#elif defined(FASTCGI)
/*
 * FastCGI (make fcgi): a responder of its own, libc only. When standard
 * input is a listening socket (it has no peer), as spawn-fcgi and
 * lighttpd's mod_fastcgi arrange, one poll(2) loop holds every connection
 * the web server opens, keeps those it asks to keep (FCGI_KEEP_CONN), and
 * answers each request once its FCGI_PARAMS and FCGI_STDIN streams have
 * ended: its parameters are the environment, cgi_request() decides and
 * renders as for the plain CGI, and the writer frames the response as one
 * FCGI_STDOUT record, the stream's end and FCGI_END_REQUEST. One request
 * at a time on a connection (FCGI_MPXS_CONNS 0), as nginx and lighttpd
 * send them. Started any other way it is the plain CGI.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#define FCGI_CONNS_MAX		1024	/* connections held (digits: FCGI_GET_VALUES sends them) */
#define FCGI_FDS_SPARE		16	/* descriptors besides connections: stdio, the listener */
#define FCGI_RETRY_MS		100	/* ms before accepting again when out of descriptors */
#define FCGI_HEAD		8	/* bytes of a record's header */
#define FCGI_CONTENT_MAX	65535	/* bytes of a record's content */
#define FCGI_READ_BYTES		16384	/* bytes one read takes at most */
#define FCGI_PARAMS_KEEP	4096	/* bytes of a parameter buffer kept between requests */

enum fcgi_type {
	FT_BEGIN_REQUEST = 1, FT_ABORT_REQUEST, FT_END_REQUEST, FT_PARAMS,
	FT_STDIN, FT_STDOUT, FT_STDERR, FT_DATA, FT_GET_VALUES,
	FT_GET_VALUES_RESULT, FT_UNKNOWN_TYPE
};
enum { FCGI_RESPONDER = 1 };		/* the only role */
enum { FCGI_KEEP_CONN = 1 };		/* flag of FCGI_BEGIN_REQUEST */
enum fcgi_status { FP_COMPLETE, FP_CANT_MPX_CONN, FP_OVERLOADED, FP_UNKNOWN_ROLE };

/* A response fits one FCGI_STDOUT record (else this does not compile). */
typedef char fcgi_fits[RESP_HEAD_MAX + RESP_BODY_MAX <= FCGI_CONTENT_MAX ? 1 : -1];

struct fcgi_rec {
	unsigned		 type;
	unsigned		 id;		/* 0: a management record */
	const unsigned char	*data;
	size_t			 len;
};

/* One connection from the web server. */
struct fconn {
	int		 fd;
	int		 done;		/* close once out is written */
	int		 dead;		/* close now */
	unsigned	 id;		/* the request being received; 0: none */
	int		 keep;		/* its FCGI_KEEP_CONN */
	int		 params_end;	/* its FCGI_PARAMS stream has ended */
	int		 stdin_end;	/* its FCGI_STDIN stream has ended */
	int		 over;		/* its parameters passed ENV_BYTES_MAX */
	unsigned char	*in;		/* bytes read and not yet taken */
	size_t		 inlen;
	unsigned char	*par;		/* its FCGI_PARAMS stream */
	size_t		 parlen, parcap;
	unsigned char	*out;		/* bytes the socket did not take yet */
	size_t		 outlen, outoff;
};

static struct fconn	 conns[FCGI_CONNS_MAX];
static size_t		 nconns;

/*
 * The record at the start of p[0..n): its length with padding, or 0 while
 * it is incomplete, or -1 if it is not of version 1.
 */
static long
fcgi_record(const unsigned char *p, size_t n, struct fcgi_rec *r)
{
	size_t	 total;

	if (n < FCGI_HEAD)
		return 0;
	if (p[0] != 1)
		return -1;
	r->type = p[1];
	r->id = (unsigned)p[2] << 8 | p[3];
	r->len = (size_t)p[4] << 8 | p[5];
	r->data = p + FCGI_HEAD;
	total = FCGI_HEAD + r->len + p[6];
	return n < total ? 0 : (long)total;
}

/* A name-value length at p[0..n) into *len: the bytes it took, or 0. */
static size_t
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
static int
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
static long
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

/* A record header at h: type, request id, content length n. */
static void
fcgi_head(unsigned char *h, unsigned type, unsigned id, size_t n)
{
	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(n >> 8);
	h[5] = (unsigned char)n;
	h[6] = 0;
	h[7] = 0;
}

/* An FCGI_END_REQUEST record for id, 16 bytes at h. */
static void
fcgi_end(unsigned char *h, unsigned id, enum fcgi_status st)
{
	fcgi_head(h, FT_END_REQUEST, id, 8);
	memset(h + FCGI_HEAD, 0, 8);		/* appStatus 0 */
	h[FCGI_HEAD + 4] = (unsigned char)st;
}

/* 1 if the last call on a non-blocking socket failed only for now. */
static int
fcgi_again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Write iov to c, keeping what the socket does not take now. 0, or -1. */
static int
fcgi_send(struct fconn *c, struct iovec *iov, int cnt)
{
	ssize_t	 w = 0;
	size_t	 left = 0;
	unsigned char *b;
	int	 i;

	if (c->outlen == 0)
		while ((w = writev(c->fd, iov, cnt)) == -1 && errno == EINTR)
			;
	if (w == -1) {
		if (!fcgi_again()) {
			c->dead = 1;
			return -1;
		}
		w = 0;
	}
	iov_consume(&iov, &cnt, (size_t)w);
	for (i = 0; i < cnt; i++)
		left += iov[i].iov_len;
	if (left == 0)
		return 0;
	if ((b = realloc(c->out, c->outlen + left)) == NULL) {
		c->dead = 1;
		return -1;
	}
	for (c->out = b, i = 0; i < cnt; c->outlen += iov[i].iov_len, i++)
		memcpy(c->out + c->outlen, iov[i].iov_base, iov[i].iov_len);
	return 0;
}

/* Send the n bytes at p. */
static void
fcgi_send1(struct fconn *c, void *p, size_t n)
{
	struct iovec iov = { p, n };

	(void)fcgi_send(c, &iov, 1);
}

/* The writer: the response, the end of FCGI_STDOUT and FCGI_END_REQUEST. */
static int
write_fcgi(void *ctx, struct iovec *iov, int cnt)
{
	struct fconn *c = ctx;
	unsigned char h[FCGI_HEAD], t[FCGI_HEAD + 16];
	struct iovec v[4];
	size_t	 n = 0;
	int	 i;

	if (cnt > 2)
		return -1;
	for (i = 0; i < cnt; i++) {
		v[1 + i] = iov[i];
		n += iov[i].iov_len;
	}
	if (n == 0 || n > FCGI_CONTENT_MAX)
		return -1;
	fcgi_head(h, FT_STDOUT, c->id, n);
	fcgi_head(t, FT_STDOUT, c->id, 0);
	fcgi_end(t + FCGI_HEAD, c->id, FP_COMPLETE);
	v[0].iov_base = h;
	v[0].iov_len = sizeof(h);
	v[1 + cnt].iov_base = t;
	v[1 + cnt].iov_len = sizeof(t);
	return fcgi_send(c, v, cnt + 2);
}

/*
 * The request on c is over: forget it, and close after a last one. A
 * small parameter buffer stays for the next request on the connection.
 */
static void
fcgi_request_end(struct fconn *c)
{
	if (!c->keep)
		c->done = 1;
	c->id = 0;
	c->parlen = 0;
	if (c->parcap > FCGI_PARAMS_KEEP) {
		free(c->par);
		c->par = NULL;
		c->parcap = 0;
	}
}

/* End request id at once with protocol status st. */
static void
fcgi_refuse(struct fconn *c, unsigned id, enum fcgi_status st)
{
	unsigned char e[16];

	fcgi_end(e, id, st);
	fcgi_send1(c, e, sizeof(e));
}

/* Answer c's request, its parameters and standard input complete. */
static void
fcgi_answer(struct fconn *c)
{
	static char text[ENV_BYTES_MAX], *vars[ENV_VARS_MAX + 1];
	struct writer w = { write_fcgi, NULL };

	w.ctx = c;
	if (!c->over && fcgi_pairs(c->par, c->parlen, text, sizeof(text),
	    vars, ENV_VARS_MAX) >= 0) {
		env_vars = vars;
		cgi_request(&w);
		env_vars = NULL;
	} else
		env_fail(&w);
	fcgi_request_end(c);
}

/* Management records (request id 0): FCGI_GET_VALUES, else unknown. */
static void
fcgi_manage(struct fconn *c, const struct fcgi_rec *r)
{
#define DIGITS(n)	#n
#define DECIMAL(n)	DIGITS(n)
	static const char *const vals[][2] = {
		{ "FCGI_MAX_CONNS", DECIMAL(FCGI_CONNS_MAX) },
		{ "FCGI_MAX_REQS", DECIMAL(FCGI_CONNS_MAX) },
		{ "FCGI_MPXS_CONNS", "0" },
	};
	unsigned char o[FCGI_HEAD + 128];
	size_t	 i = 0, n = 0, j, nl, vl, ln, lv;

	if (r->type != FT_GET_VALUES) {
		fcgi_head(o, FT_UNKNOWN_TYPE, 0, 8);
		memset(o + FCGI_HEAD, 0, 8);
		o[FCGI_HEAD] = (unsigned char)r->type;
		fcgi_send1(c, o, FCGI_HEAD + 8);
		return;
	}
	/* the names asked for, up to a malformed pair */
	while (i < r->len && fcgi_pair(r->data, r->len, &i, &nl, &vl) == 0) {
		for (j = 0; j < sizeof(vals) / sizeof(vals[0]); j++) {
			ln = strlen(vals[j][0]);
			lv = strlen(vals[j][1]);
			if (ln == nl && memcmp(vals[j][0], r->data + i, nl) == 0 &&
			    n + 2 + ln + lv <= sizeof(o) - FCGI_HEAD) {
				o[FCGI_HEAD + n++] = (unsigned char)ln;
				o[FCGI_HEAD + n++] = (unsigned char)lv;
				memcpy(o + FCGI_HEAD + n, vals[j][0], ln);
				memcpy(o + FCGI_HEAD + n + ln, vals[j][1], lv);
				n += ln + lv;
			}
		}
		i += nl + vl;
	}
	fcgi_head(o, FT_GET_VALUES_RESULT, 0, n);
	fcgi_send1(c, o, FCGI_HEAD + n);
}

/* One record from the web server. */
static void
fcgi_take_record(struct fconn *c, const struct fcgi_rec *r)
{
	unsigned char *b;
	size_t	 cap;

	if (r->id == 0) {
		fcgi_manage(c, r);
		return;
	}
	switch (r->type) {
	case FT_BEGIN_REQUEST:
		if (r->len < 8)
			c->dead = 1;
		else if (c->id != 0)
			fcgi_refuse(c, r->id, FP_CANT_MPX_CONN);
		else if (((unsigned)r->data[0] << 8 | r->data[1]) !=
		    FCGI_RESPONDER) {
			fcgi_refuse(c, r->id, FP_UNKNOWN_ROLE);
			if (!(r->data[2] & FCGI_KEEP_CONN))
				c->done = 1;
		} else {
			c->id = r->id;
			c->keep = r->data[2] & FCGI_KEEP_CONN;
			c->params_end = c->stdin_end = c->over = 0;
		}
		return;
	case FT_ABORT_REQUEST:
		if (c->id == 0 || r->id != c->id)
			return;
		fcgi_refuse(c, r->id, FP_COMPLETE);
		fcgi_request_end(c);
		return;
	case FT_PARAMS:
		if (c->id == 0 || r->id != c->id || c->params_end)
			return;
		if (r->len == 0) {
			c->params_end = 1;
			if (c->stdin_end)
				fcgi_answer(c);
			return;
		}
		if (c->over || r->len > ENV_BYTES_MAX - c->parlen) {
			c->over = 1;
			return;
		}
		if (c->parlen + r->len > c->parcap) {
			cap = c->parlen + r->len;
			if ((b = realloc(c->par, cap)) == NULL) {
				c->dead = 1;
				return;
			}
			c->par = b;
			c->parcap = cap;
		}
		memcpy(c->par + c->parlen, r->data, r->len);
		c->parlen += r->len;
		return;
	case FT_STDIN:
		/* No resource here takes a body: its end completes the request. */
		if (c->id == 0 || r->id != c->id || r->len > 0 || c->stdin_end)
			return;
		c->stdin_end = 1;
		if (c->params_end)
			fcgi_answer(c);
		return;
	default:
		return;
	}
}

/*
 * Take the complete records at p[0..n) while nothing waits to be written:
 * the bytes taken.
 */
static size_t
fcgi_take(struct fconn *c, const unsigned char *p, size_t n)
{
	struct fcgi_rec r;
	size_t	 off = 0;
	long	 k;

	while (!c->dead && !c->done && c->outlen == 0 &&
	    (k = fcgi_record(p + off, n - off, &r)) != 0) {
		if (k < 0) {
			c->dead = 1;
			break;
		}
		fcgi_take_record(c, &r);
		off += (size_t)k;
	}
	return off;
}

/*
 * The n bytes at p arrived on c (none: look again at what c kept): take
 * its records, and keep the bytes of one not yet complete, or not yet
 * taken while an answer waits, in c->in.
 */
static void
fcgi_input(struct fconn *c, const unsigned char *p, size_t n)
{
	unsigned char *b;
	size_t	 k;

	if (c->inlen > 0) {
		if (n > 0) {
			if ((b = realloc(c->in, c->inlen + n)) == NULL) {
				c->dead = 1;
				return;
			}
			memcpy(b + c->inlen, p, n);
			c->in = b;
			c->inlen += n;
		}
		k = fcgi_take(c, c->in, c->inlen);
		if ((c->inlen -= k) > 0)
			memmove(c->in, c->in + k, c->inlen);
		else {
			free(c->in);
			c->in = NULL;
		}
		return;
	}
	k = fcgi_take(c, p, n);
	if (k < n) {
		if ((c->in = malloc(n - k)) == NULL) {
			c->dead = 1;
			return;
		}
		memcpy(c->in, p + k, n - k);
		c->inlen = n - k;
	}
}

/* c's socket is ready (revents): write, or read and take. -1: close it. */
static int
fcgi_ready(struct fconn *c, short revents)
{
	static unsigned char rbuf[FCGI_READ_BYTES];
	ssize_t	 n;

	if (c->outlen > 0) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1)
			return fcgi_again() ? 0 : -1;
		if ((c->outoff += (size_t)n) < c->outlen)
			return 0;
		free(c->out);
		c->out = NULL;
		c->outlen = c->outoff = 0;
		fcgi_input(c, NULL, 0);
	} else {
		n = read(c->fd, rbuf, sizeof(rbuf));
		if (n == -1 && fcgi_again())
			return 0;
		if (n <= 0)
			return -1;
		fcgi_input(c, rbuf, (size_t)n);
	}
	return c->dead || (c->done && c->outlen == 0) ? -1 : 0;
}

/* Free conns[i]; the last connection takes its place. */
static void
fcgi_close(size_t i)
{
	struct fconn *c = &conns[i];

	(void)close(c->fd);
	free(c->in);
	free(c->par);
	free(c->out);
	*c = conns[--nconns];
}

/*
 * 1 if the address a (of family af, 4 or 16 bytes) is in list, the
 * comma-separated numeric addresses of FCGI_WEB_SERVER_ADDRS; an
 * IPv4-mapped IPv6 address is also matched as IPv4.
 */
static int
addr_listed(const char *list, int af, const unsigned char *a)
{
	char	 one[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	size_t	 n;

	for (;;) {
		list += strspn(list, ", \t");
		if ((n = strcspn(list, ", \t")) == 0)
			return 0;
		if (n < sizeof(one)) {
			memcpy(one, list, n);
			one[n] = '\0';
			if (af == AF_INET6 && inet_pton(AF_INET6, one, bin) == 1 &&
			    memcmp(bin, a, 16) == 0)
				return 1;
			if (af == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377",
			    12) == 0 && inet_pton(AF_INET, one, bin) == 1 &&
			    memcmp(bin, a + 12, 4) == 0)
				return 1;
			if (af == AF_INET && inet_pton(AF_INET, one, bin) == 1 &&
			    memcmp(bin, a, 4) == 0)
				return 1;
		}
		list += n;
	}
}

/* 1 if the peer of fd may talk to this responder. */
static int
peer_allowed(int fd, const char *list)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (list == NULL ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return list == NULL;
	if (ss.ss_family == AF_INET)
		return addr_listed(list, AF_INET, (const unsigned char *)
		    &((struct sockaddr_in *)&ss)->sin_addr);
	if (ss.ss_family == AF_INET6)
		return addr_listed(list, AF_INET6, (const unsigned char *)
		    &((struct sockaddr_in6 *)&ss)->sin6_addr);
	return 1;				/* a Unix socket */
}

/* Accept what waits on ls. 1 when out of descriptors, else 0. */
static int
fcgi_accept(int ls, const char *allow)
{
	int	 fd;

	while (nconns < FCGI_CONNS_MAX) {
		if ((fd = accept(ls, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM;
		}
		if (!peer_allowed(fd, allow) ||
		    fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
			(void)close(fd);
			continue;
		}
		memset(&conns[nconns], 0, sizeof(conns[0]));
		conns[nconns++].fd = fd;
	}
	return 0;
}

/* Serve the web server's connections to the listening socket ls. */
static int
fcgi_loop(int ls)
{
	static struct pollfd pfd[FCGI_CONNS_MAX + 1];
	const char *allow = getenv("FCGI_WEB_SERVER_ADDRS");
	struct rlimit rl;
	size_t	 i;
	int	 fl, n, paused = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < FCGI_CONNS_MAX + FCGI_FDS_SPARE) {
		rl.rlim_cur = rl.rlim_max < FCGI_CONNS_MAX + FCGI_FDS_SPARE ?
		    rl.rlim_max : FCGI_CONNS_MAX + FCGI_FDS_SPARE;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((fl = fcntl(ls, F_GETFL)) == -1 ||
	    fcntl(ls, F_SETFL, fl | O_NONBLOCK) == -1) {
		msg("cannot use the listening socket", "");
		return 1;
	}
	for (;;) {
		pfd[0].fd = nconns < FCGI_CONNS_MAX && !paused ? ls : -1;
		pfd[0].events = POLLIN;
		for (i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = conns[i].outlen > 0 ? POLLOUT : POLLIN;
		}
		if ((n = poll(pfd, (nfds_t)nconns + 1, paused ?
		    FCGI_RETRY_MS : -1)) == -1) {
			if (errno == EINTR)
				continue;
			msg("poll failed", "");
			return 1;
		}
		if (n == 0)
			paused = 0;	/* out of descriptors a while ago */
		for (i = nconns; i-- > 0;)
			if (pfd[i + 1].revents != 0 &&
			    fcgi_ready(&conns[i], pfd[i + 1].revents) == -1) {
				fcgi_close(i);
				paused = 0;
			}
		paused = paused || ((pfd[0].revents & POLLIN) &&
		    fcgi_accept(ls, allow));
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	/* A listening socket is a socket without a peer. */
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == -1 &&
	    errno == ENOTCONN)
		return fcgi_loop(STDIN_FILENO);
	return run(argc, argv);
}
#else
int
main(int argc, char *argv[])
{
	return run(argc, argv);
}
#endif
