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
 * This file is the application and its CGI main, native and WASI; cgi.h
 * is its seam with the other front ends: fcgi.c, the FastCGI responder
 * (cgi.fcgi, built with -DFASTCGI, which leaves this file's main out).
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
#include "cgi.h"
#ifdef FASTCGI
#include "log.h"
#endif

#ifndef VERSION
#define VERSION "0.1.0"
#endif

/*
 * Limits: those the front ends share are cgi.h's (a path or SCRIPT_NAME
 * longer than PATH_MAX_BYTES gets a 400); these are this file's own
 * buffers.
 */
#define FAIL_BODY_MAX	512		/* bytes of env_fail()'s 500 page */
#define CLI_OUT_MAX	256		/* bytes of the shell's JSON, and of a quoted MODE */

#define ALLOWED		"GET, HEAD, OPTIONS"
#define CSP_COMMON	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

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

/* What the page's slots are filled from. */
struct page {
	int64_t		 t;
	struct civil	 c;
	const char	*base;		/* SCRIPT_NAME */
	size_t		 baselen;
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
	case S_FIELDS_TOO_LARGE:	return "Request Header Fields Too Large";
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
void
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
 * Checks come in this order: a request its front end could not hold
 * (431), the path and SCRIPT_NAME (400), the resource (404), the method
 * (204 for OPTIONS, 405 for anything but GET and HEAD). Routing is by
 * exact match, so "//", "." and ".." segments that a host left in place
 * give 404 (RFC 3875 8.2).
 */
static void
decide(const struct cgireq *q, int64_t now, struct resp *r)
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

	if (q->too_large) {
		fail(r, S_FIELDS_TOO_LARGE, api, "The request's header fields "
		    "are too large", NULL, 0, NULL, 0);
		return;
	}
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

/*
 * Decide as decide() does; a body that did not fit its buffer (a bug, as
 * RESP_BODY_MAX holds the largest page) is answered 500, never cut.
 */
void
handle(const struct cgireq *q, int64_t now, struct resp *r)
{
	decide(q, now, r);
	if (r->body.full)
		fail(r, S_INTERNAL, 0, "The response did not fit", NULL, 0,
		    NULL, 0);
}

static void
field(struct fields *fs, const char *name, const char *value, size_t len)
{
	struct field *f = &fs->f[fs->n++];

	f->name = name;
	f->namelen = strlen(name);
	f->value = value;
	f->valuelen = len;
}

/* r's header fields, each once, in the order they are sent. */
void
resp_fields(const struct resp *r, struct fields *fs)
{
	struct buf n;

	fs->n = 0;
	if (r->ctype != NULL) {
		buf_init(&n, fs->num, sizeof(fs->num));
		buf_uint(&n, r->body.len, 1);
		field(fs, "Content-Type", r->ctype, strlen(r->ctype));
		field(fs, "Content-Length", n.p, n.len);
	}
	if (r->allow)
		field(fs, "Allow", ALLOWED, sizeof(ALLOWED) - 1);
	field(fs, "Cache-Control", "no-store", 8);
	field(fs, "X-Content-Type-Options", "nosniff", 7);
	field(fs, "Referrer-Policy", "no-referrer", 11);
	field(fs, "Content-Security-Policy", r->csp, strlen(r->csp));
}

/*
 * Render the CGI header block for r (RFC 3875 6): its Status line, then
 * resp_fields(), CRLF.
 */
static void
render_head(struct buf *h, const struct resp *r)
{
	struct fields fs;
	size_t	 i;

	if (r->status != S_OK) {
		buf_str(h, "Status: ");
		render_status(h, r->status);
		buf_str(h, "\r\n");
	}
	resp_fields(r, &fs);
	for (i = 0; i < fs.n; i++) {
		buf_add(h, fs.f[i].name, fs.f[i].namelen);
		buf_add(h, ": ", 2);
		buf_add(h, fs.f[i].value, fs.f[i].valuelen);
		buf_add(h, "\r\n", 2);
	}
	buf_add(h, "\r\n", 2);
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

/*
 * One line on stderr: "cgi: a b\n". Best effort, as stderr may be gone.
 * The FastCGI responder never waits for it (log.h): a full stderr drops
 * the line, and the count is logged when it drains.
 */
#ifdef FASTCGI
#define LOG_LINE(iov, cnt)	log_write("cgi", (iov), (cnt))
#else
#define LOG_LINE(iov, cnt)	write_all(STDERR_FILENO, (iov), (cnt))
#endif
void
msg(const char *a, const char *b)
{
	struct iovec iov[4] = {
		{ (char *)"cgi: ", 5 }, { (char *)a, strlen(a) },
		{ (char *)b, strlen(b) }, { (char *)"\n", 1 } };

	(void)LOG_LINE(iov, 4);
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

	buf_init(&h, head, sizeof(head));
	render_head(&h, r);
	iov[0].iov_base = h.p;
	iov[0].iov_len = h.len;
	iov[1].iov_base = r->body.p;
	iov[1].iov_len = resp_body_sent(r);
	if (w->write(w->ctx, iov, 2) == -1)
		msg("cannot write the response", "");
}

/* ---- The platform: variables and arguments ------------------------- */

/*
 * The variables of the request being answered, "NAME=value" strings up
 * to a NULL: set by env_load(), or per request by the FastCGI loop.
 */
char **env_vars;

static const char *
env_get(const char *name)
{
	size_t	 n = strlen(name);
	char	**e;

	if (env_vars == NULL)
		return NULL;
	/* the first byte first: most variables differ there */
	for (e = env_vars; *e != NULL; e++)
		if (**e == *name && strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/*
 * The answer when the variables cannot be read or are over the limits;
 * env_vars, when set, holds what could be read of them (REQUEST_METHOD:
 * no body for HEAD).
 */
void
env_fail(const struct writer *w)
{
	static char body[FAIL_BODY_MAX];
	struct resp r;

	msg("the environment is unreadable or over the limit", "");
	resp_init(&r, env_get("REQUEST_METHOD"), body, sizeof(body));
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
int
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
	q.too_large = 0;
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
	static char out[CLI_OUT_MAX], quoted[CLI_OUT_MAX];
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
int
cgi_main(int argc, char *argv[])
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

#if defined(__wasi__) && !defined(CGI_NO_MAIN)	/* component.c has none */
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

	return cgi_main(1, argv);
}
#elif !defined(FASTCGI) && !defined(CGI_NO_MAIN)	/* fcgi.c and the tests have their own */
int
main(int argc, char *argv[])
{
	return cgi_main(argc, argv);
}
#endif
