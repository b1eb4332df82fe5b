/*
 * t_cgi: tables for cgi.c's own logic, linked with the program itself:
 * every response starts from resp_init(), including the one for a clock
 * that cannot be read (here clock_gettime is made to fail), the route
 * table decides what exists, and cgi_request() writes through the writer
 * it is given and reads the environment it is pointed at (the two seams
 * the FastCGI loop uses).
 *
 * Prints "ok - ..." or "FAIL - ..." per table, exits 1 on a failure.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

static int	 clock_fails;

/* The clock cgi.c reads: the real one, or a failure on demand. */
static int
test_clock(clockid_t id, struct timespec *ts)
{
	if (clock_fails)
		return -1;
	return clock_gettime(id, ts);
}

#define clock_gettime test_clock
#define CGI_NO_MAIN		/* the main is this file's */
#include "../../cgi.c"
#undef clock_gettime

#define REPORT_SUITE "cgi"
#include "report.h"

/* A writer into a buffer, as the FastCGI stream is one. */
struct sink {
	char	 b[RESP_HEAD_MAX + RESP_BODY_MAX];
	size_t	 len;
};

static int
write_sink(void *ctx, struct iovec *iov, int cnt)
{
	struct sink *s = ctx;
	int	 i;

	for (i = 0; i < cnt; i++) {
		if (iov[i].iov_len > sizeof(s->b) - s->len)
			return -1;
		memcpy(s->b + s->len, iov[i].iov_base, iov[i].iov_len);
		s->len += iov[i].iov_len;
	}
	return 0;
}

/* Leaves garbage where the next call's locals will be. */
static void __attribute__((noinline))
dirty_stack(void)
{
	volatile unsigned char junk[4096];
	size_t	 i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0xA5;
}

/* Answer one request with env as the environment; the output in s. */
static void
answer(char **env, struct sink *s)
{
	struct writer w = { write_sink, NULL };

	s->len = 0;
	w.ctx = s;
	env_vars = env;
	dirty_stack();
	cgi_request(&w);
	s->b[s->len < sizeof(s->b) ? s->len : sizeof(s->b) - 1] = '\0';
}

static int
has(const struct sink *s, const char *text)
{
	return strstr(s->b, text) != NULL;
}

int
main(void)
{
	static struct sink s;
	static char body[64];
	char	*get_time[] = { "REQUEST_METHOD=GET", "PATH_INFO=/api/time",
	    NULL };
	char	*head_time[] = { "REQUEST_METHOD=HEAD", "PATH_INFO=/api/time",
	    NULL };
	char	*get_page[] = { "REQUEST_METHOD=GET", "PATH_INFO=/",
	    "SCRIPT_NAME=/mt", NULL };
	struct resp r;
	struct cgireq q;
	size_t	 i;
	int	 bad;

	/* resp_init sets every field, whatever was there before */
	memset(&r, 0xA5, sizeof(r));
	resp_init(&r, "GET", body, sizeof(body));
	report("resp_init sets every field", (r.status != S_OK) +
	    (r.ctype != NULL) + (r.csp == NULL) + (r.allow != 0) +
	    (r.head != 0) + (r.body.p != body) + (r.body.len != 0) +
	    (r.body.full != 0));
	resp_init(&r, "HEAD", body, sizeof(body));
	bad = r.head != 1;
	resp_init(&r, NULL, body, sizeof(body));
	report("resp_init: HEAD alone is headers only", bad + (r.head != 0));

	/* a clock that fails: a whole 500 with its body, and nothing else */
	clock_fails = 1;
	answer(get_time, &s);
	bad = !has(&s, "Status: 500 Internal Server Error\r\n");
	bad += has(&s, "Allow:");
	bad += !has(&s, "\r\n\r\n<!doctype html>");
	bad += !has(&s, "The clock cannot be read");
	answer(head_time, &s);
	bad += !has(&s, "Status: 500 ") + has(&s, "Allow:") +
	    has(&s, "<!doctype");
	clock_fails = 0;
	report("an unreadable clock gives a full 500 without Allow", bad);

	/* every row of the route table exists for GET, HEAD and OPTIONS */
	bad = 0;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		static char b[RESP_BODY_MAX];
		const char *methods[] = { "GET", "HEAD", "OPTIONS" };
		const enum status want[] = { S_OK, S_OK, S_NO_CONTENT };
		size_t	 k;

		for (k = 0; k < 3; k++) {
			q.method = methods[k];
			q.path_info = routes[i].path;
			q.raw_path = NULL;
			q.script_name = "";
			q.too_large = 0;
			resp_init(&r, methods[k], b, sizeof(b));
			handle(&q, 0, &r);
			bad += r.status != want[k];
			bad += (k == 2) != (r.allow != 0);
		}
		bad += route_of(routes[i].path, strlen(routes[i].path)) !=
		    routes[i].route;
	}
	/* and nothing else exists */
	{
		const char *none[] = { "/api", "/api/", "/api/time/", "//",
		    "/index.html", "/API/TIME", "/api/timex" };

		for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
			bad += route_of(none[i], strlen(none[i])) != R_NONE;
	}
	report("the route table: each row answers, nothing else does", bad);

	/* the writer and the environment are the ones given */
	answer(get_time, &s);
	bad = !has(&s, "Content-Type: application/json; charset=utf-8\r\n");
	bad += !has(&s, "{\"moscow_time\":\"");
	answer(get_page, &s);
	bad += !has(&s, "Content-Type: text/html; charset=utf-8\r\n");
	bad += !has(&s, "<a href=\"/mt/api/time\">");
	answer(head_time, &s);
	bad += has(&s, "moscow_time");
	report("cgi_request reads env_vars and writes through its writer", bad);

	/*
	 * resp_fields is the header block: the CGI prints its fields, in its
	 * order, after the Status line, for every kind of answer (the
	 * component sends the same list as wasi:http fields)
	 */
	bad = 0;
	{
		static char b[RESP_BODY_MAX], h[RESP_HEAD_MAX], want[RESP_HEAD_MAX];
		const char *paths[] = { "/api/time", "/", "/nope" };
		const char *methods[] = { "GET", "HEAD", "OPTIONS", "POST" };
		struct fields fs;
		struct buf hb, wb;
		size_t	 k, j;

		for (i = 0; i < 3; i++)
			for (k = 0; k < 4; k++) {
				memset(&q, 0, sizeof(q));
				q.method = methods[k];
				q.path_info = paths[i];
				resp_init(&r, methods[k], b, sizeof(b));
				handle(&q, 0, &r);
				buf_init(&hb, h, sizeof(h));
				render_head(&hb, &r);
				resp_fields(&r, &fs);
				buf_init(&wb, want, sizeof(want));
				if (r.status != S_OK) {
					buf_str(&wb, "Status: ");
					render_status(&wb, r.status);
					buf_str(&wb, "\r\n");
				}
				for (j = 0; j < fs.n; j++) {
					buf_add(&wb, fs.f[j].name, fs.f[j].namelen);
					buf_add(&wb, ": ", 2);
					buf_add(&wb, fs.f[j].value, fs.f[j].valuelen);
					buf_add(&wb, "\r\n", 2);
				}
				buf_add(&wb, "\r\n", 2);
				bad += hb.len != wb.len || memcmp(h, want, hb.len) != 0;
				bad += fs.n > RESP_FIELDS_MAX;
				/* no body for HEAD or 204, all of it otherwise */
				bad += resp_body_sent(&r) != (k == 1 || r.ctype == NULL ?
				    0 : r.body.len);
			}
	}
	report("resp_fields: the CGI header block's fields, in order; resp_body_sent", bad);

	/* a request its front end could not hold: 431, before anything else */
	{
		static char b[RESP_BODY_MAX + 1];	/* zeroed: a C string */

		memset(&q, 0, sizeof(q));
		q.method = "GET";
		q.path_info = "/";
		q.too_large = 1;
		resp_init(&r, "GET", b, sizeof(b) - 1);
		handle(&q, 0, &r);
		bad = r.status != S_FIELDS_TOO_LARGE || r.ctype == NULL ||
		    strstr(b, "<h1>431 Request Header Fields Too Large</h1>") == NULL;
	}
	report("too_large: a 431 with its page", bad);

	return report_done();
}
