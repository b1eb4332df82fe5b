/*
 * t_serve: tables for http.c, serve's pure parts: finding and parsing a request
 * head, normalising a path, de-chunking a body, parsing a CGI's header
 * block, building the CGI's environment, the log's escaping and the Date.
 *
 * Prints "ok - ..." or "FAIL - ..." per table, exits 1 on a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../http.h"

#define REPORT_SUITE "serve unit"
#include "report.h"

static void
t_head_end(void)
{
	static const struct {
		const char	*in;
		long		 want;
	} t[] = {
		{ "", 0 },
		{ "GET / HTTP/1.1\r\n", 0 },
		{ "GET / HTTP/1.1\r\n\r\n", 18 },
		{ "GET / HTTP/1.1\r\n\r\nGET", 18 },
		{ "GET / HTTP/1.1\nHost: x\n\n", -1 },
		{ "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", -1 },
		{ "GET / HTTP/1.1\r\nX: a\r", 0 },	/* CR at the end: wait */
		{ "\r\n\r\n", 4 },
	};
	size_t	 i, n, from;
	int	 bad = 0;
	long	 got, step;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		from = 0;
		if ((got = head_end(t[i].in, strlen(t[i].in), &from)) != t[i].want) {
			printf("  head_end #%zu = %ld\n", i, got);
			bad++;
		}
		/* the same answer when the bytes come one at a time */
		for (from = 0, n = 1, step = 0; n <= strlen(t[i].in) && step == 0; n++)
			step = head_end(t[i].in, n, &from);
		if (step != t[i].want && !(t[i].want == 0 && step == 0)) {
			printf("  head_end #%zu byte by byte = %ld\n", i, step);
			bad++;
		}
	}
	from = 0;
	bad += head_end("GET /\0 HTTP/1.1\r\n\r\n", 20, &from) != -1;
	/* the scan resumes where it stopped: a CR at the end is looked at again */
	from = 0;
	bad += head_end("GET / HTTP/1.1\r\nX: a", 20, &from) != 0 || from != 20;
	bad += head_end("GET / HTTP/1.1\r\nX: a\r", 21, &from) != 0 || from != 20;
	report("head_end, and resumed a byte at a time", bad);
}

static void
t_parse_head(void)
{
	static const struct {
		const char	*in;
		int		 want;
	} t[] = {
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  v  \r\n\r\n", 0 },
		{ "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 0 },
		{ "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET http://h:1/p HTTP/1.1\r\nHost: y\r\n\r\n", 0 },
		{ "GET http://h HTTP/1.1\r\nHost: y\r\n\r\n", 0 },
		{ "GET http://u@h/ HTTP/1.1\r\nHost: y\r\n\r\n", 400 },
		{ "get / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ " / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400 },
		{ "GET /\r\n\r\n", 400 },
		{ "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.9\r\nHost: x\r\n\r\n", 505 },
		{ "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400 },
		{ "GET / http/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400 },	/* RFC 9110 7.2 */
		{ "GET / HTTP/1.0\r\nHost:\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: <x>\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0 },
		{ "GET http://a:b/ HTTP/1.1\r\nHost: y\r\n\r\n", 400 },
		{ "GET http://h?q HTTP/1.1\r\nHost: y\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nNoColon\r\nHost: x\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01" "b\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: tab\there\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Content-Length: 1\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n", 0 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n", 400 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501 },
		{ "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		    "Content-Length: 3\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417 },
		{ "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET a HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
	};
	struct req r;
	size_t	 i;
	int	 bad = 0, got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if ((got = parse_head(t[i].in, strlen(t[i].in), &r)) != t[i].want) {
			printf("  parse_head #%zu = %d, want %d\n", i, got, t[i].want);
			bad++;
		}
	report("parse_head statuses", bad);

	bad = 0;
	got = parse_head(t[2].in, strlen(t[2].in), &r);
	bad += got != 0 || r.mlen != 3 || r.plen != 2 || memcmp(r.path, "/a", 2) ||
	    r.qlen != 3 || memcmp(r.query, "b=c", 3) || r.nf != 2 ||
	    r.f[1].vlen != 1 || r.f[1].value[0] != 'v' || r.minor != 1 ||
	    r.close || r.clen != -1;
	got = parse_head(t[1].in, strlen(t[1].in), &r);
	bad += got != 0 || !r.close || r.minor != 0 || r.hostlen != 0;
	got = parse_head(t[5].in, strlen(t[5].in), &r);
	bad += got != 0 || r.hostlen != 3 || memcmp(r.host, "h:1", 3) ||
	    r.plen != 2 || memcmp(r.path, "/p", 2);
	got = parse_head(t[6].in, strlen(t[6].in), &r);
	bad += got != 0 || r.plen != 1 || r.path[0] != '/';
	{
		static const char c[] = "GET / HTTP/1.1\r\nHost: x\r\n"
		    "Connection: keep-alive, Close\r\n\r\n";

		bad += parse_head(c, sizeof(c) - 1, &r) != 0 || !r.close;
	}
	report("parse_head fields, host, path, query, close", bad);
}

static void
t_fields_max(void)
{
	char	 mem[HEAD_MAX * 2];
	struct buf b;
	struct req r;
	int	 i, bad = 0;

	for (int n = FIELDS_MAX; n <= FIELDS_MAX + 1; n++) {
		buf_init(&b, mem, sizeof(mem));
		buf_str(&b, "GET / HTTP/1.1\r\nHost: x\r\n");
		for (i = 1; i < n; i++)
			buf_str(&b, "A: b\r\n");
		buf_str(&b, "\r\n");
		bad += parse_head(mem, b.len, &r) !=
		    (n == FIELDS_MAX ? 0 : S_HEAD_TOO_LARGE);
	}
	report("FIELDS_MAX fields pass, one more is 431", bad);
}

static void
t_path(void)
{
	static const struct {
		const char	*in, *want;	/* want NULL: refused */
	} t[] = {
		{ "/", "/" },
		{ "/api/time", "/api/time" },
		{ "//api//time", "/api/time" },
		{ "/api/./time", "/api/time" },
		{ "/a/b/../c", "/a/c" },
		{ "/a/b/..", "/a/" },
		{ "/a/.", "/a/" },
		{ "/a/", "/a/" },
		{ "/..", NULL },
		{ "/a/../..", NULL },
		{ "/%2e%2e/x", NULL },
		{ "/a/%2e%2E/b", "/b" },
		{ "/a%2Fb", "/a/b" },
		{ "/a%2Fb/%2e%2e/c", "/a/c" },
		{ "/%2525", "/%25" },
		{ "/caf%C3%A9", "/caf\xc3\xa9" },
		{ "/a%00b", NULL },
		{ "/a%0d%0a", NULL },
		{ "/a%7f", NULL },
		{ "/a%zz", NULL },
		{ "/a%", NULL },
		{ "/...", "/..." },
		{ "/.a/..b", "/.a/..b" },
	};
	char	 out[64];
	size_t	 i;
	long	 n;
	int	 bad = 0;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = path_normalize(out, t[i].in, strlen(t[i].in));
		if (t[i].want == NULL ? n != -1 : (n < 0 ||
		    (size_t)n != strlen(t[i].want) ||
		    memcmp(out, t[i].want, (size_t)n) != 0)) {
			printf("  path_normalize(\"%s\") = %ld \"%.*s\"\n", t[i].in,
			    n, n > 0 ? (int)n : 0, out);
			bad++;
		}
	}
	report("path_normalize: decode once, resolve, never above the root", bad);
}

static void
t_dechunk(void)
{
	static const struct {
		const char	*in;
		int		 want;
		const char	*body;
		size_t		 used;
	} t[] = {
		{ "5\r\nhello\r\n0\r\n\r\n", 0, "hello", 15 },
		{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", 0, "hello world", 26 },
		{ "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", 0, "hello", 27 },
		{ "A\r\n0123456789\r\n0\r\n\r\n", 0, "0123456789", 20 },
		{ "0\r\n\r\n", 0, "", 5 },
		{ "5\r\nhel", 1, NULL, 0 },
		{ "5\r\nhello\r\n0\r\n", 1, NULL, 0 },
		{ "5", 1, NULL, 0 },
		{ "zz\r\n", -1, NULL, 0 },
		{ "\r\n", -1, NULL, 0 },
		{ "5 \r\nhello\r\n0\r\n\r\n", -1, NULL, 0 },
		{ "5\nhello\r\n0\r\n\r\n", -1, NULL, 0 },
		{ "5\r\nhelloXX0\r\n\r\n", -1, NULL, 0 },
		{ "fffffffffff\r\n", -2, NULL, 0 },
		{ "21\r\n", -2, NULL, 0 },	/* 33 bytes > cap 32 */
	};
	char	 out[32], raw[64];
	struct chunked s;
	size_t	 i, n;
	int	 bad = 0, got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&s, 0, sizeof(s));
		got = dechunk(&s, t[i].in, strlen(t[i].in), out, sizeof(out));
		if (got != t[i].want || (got == 0 && (s.in != t[i].used ||
		    s.out != strlen(t[i].body) || memcmp(out, t[i].body, s.out)))) {
			printf("  dechunk #%zu = %d in %zu out %zu\n", i, got,
			    s.in, s.out);
			bad++;
		}
		/* a byte at a time, in place: the same body, each byte once */
		memset(&s, 0, sizeof(s));
		memcpy(raw, t[i].in, strlen(t[i].in));
		for (n = 1, got = 1; n <= strlen(t[i].in) && got == 1; n++)
			got = dechunk(&s, raw, n, raw, sizeof(out));
		if (got != t[i].want || (got == 0 && (s.in != t[i].used ||
		    s.out != strlen(t[i].body) || memcmp(raw, t[i].body, s.out)))) {
			printf("  dechunk #%zu byte by byte = %d in %zu out %zu\n",
			    i, got, s.in, s.out);
			bad++;
		}
	}
	/* a chunk extension of CHUNK_EXT_MAX bytes passes, one more does not */
	for (n = CHUNK_EXT_MAX; n <= CHUNK_EXT_MAX + 1; n++) {
		static char ext[CHUNK_EXT_MAX + 32];

		memset(&s, 0, sizeof(s));
		memset(ext, 'e', sizeof(ext));
		ext[0] = '1';
		ext[1] = ';';
		memcpy(ext + 2 + n, "\r\nx\r\n0\r\n\r\n", 11);
		got = dechunk(&s, ext, 2 + n + 11, out, sizeof(out));
		bad += got != (n == CHUNK_EXT_MAX ? 0 : -1);
	}
	report("dechunk, whole and resumed a byte at a time, in place", bad);
}

static void
t_cgi_head(void)
{
	static const struct {
		const char	*in;
		int		 eof, want, status, nf;
	} t[] = {
		{ "Content-Type: text/plain\n\nbody", 0, 0, 200, 1 },
		{ "Content-Type: text/plain\r\n\r\nbody", 0, 0, 200, 1 },
		{ "Status: 404 Not Found\nContent-Type: t\n\n", 1, 0, 404, 1 },
		{ "Status: 404\n\n", 1, 0, 404, 0 },
		{ "Status: 204 No Content\r\n\r\n", 1, 0, 204, 0 },
		{ "Location: http://x/\n\n", 1, 0, 302, 1 },
		{ "Location: /local\n\n", 1, 0, 302, 1 },
		{ "Status: 301 Moved\nLocation: http://x/\n\n", 1, 0, 301, 1 },
		{ "Content-Type: t\nConnection: close\nTransfer-Encoding: chunked\n"
		    "Keep-Alive: 1\nContent-Length: 4\n\n", 1, 0, 200, 1 },
		{ "Content-Type: t\n", 0, 1, 0, 0 },
		{ "Content-Type: t\n", 1, -1, 0, 0 },
		{ "", 1, -1, 0, 0 },
		{ "", 0, 1, 0, 0 },
		{ "X-Foo: bar\n\n", 1, -1, 0, 0 },
		{ "not a header\n\n", 1, -1, 0, 0 },
		{ "Status: abc\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Status: 099 X\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Status: 600 X\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Status: 100 Continue\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Status: 2000\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Status: 200\nStatus: 404\nContent-Type: t\n\n", 1, -1, 0, 0 },
		{ "Content-Type: t\nX-A: 1\rSet-Cookie: a\n\n", 1, -1, 0, 0 },
		{ "Content-Type : t\n\n", 1, -1, 0, 0 },
		{ "Content-Type: t\n folded\n\n", 1, -1, 0, 0 },
		{ "Content-Type: t\nSet-Cookie: a\nSet-Cookie: b\n\n", 1, 0, 200, 3 },
		{ "Content-Type: t\nDate: Mon, 01 Jan 2001 00:00:00 GMT\n\n", 1, 0, 200, 1 },
	};
	struct cgiout o;
	char	 big[CGI_HEAD_MAX + 64];
	size_t	 i;
	int	 bad = 0, got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		got = parse_cgi_head(t[i].in, strlen(t[i].in), t[i].eof, &o);
		if (got != t[i].want || (got == 0 && ((int)o.status != t[i].status ||
		    o.nf != t[i].nf))) {
			printf("  parse_cgi_head #%zu = %d status %d nf %d\n", i,
			    got, o.status, o.nf);
			bad++;
		}
	}
	got = parse_cgi_head(t[8].in, strlen(t[8].in), 1, &o);
	bad += o.clen != 4 || o.headlen != strlen(t[8].in);
	/* the header block limit, at its edge */
	memset(big, 'a', sizeof(big));
	memcpy(big, "Content-Type: t\nX: ", 19);
	big[CGI_HEAD_MAX - 2] = '\n';
	big[CGI_HEAD_MAX - 1] = '\n';
	bad += parse_cgi_head(big, CGI_HEAD_MAX, 1, &o) != 0;
	big[CGI_HEAD_MAX - 2] = 'a';
	big[CGI_HEAD_MAX - 1] = 'a';
	big[CGI_HEAD_MAX - 1 + 1] = '\n';
	big[CGI_HEAD_MAX + 1] = '\n';
	bad += parse_cgi_head(big, CGI_HEAD_MAX + 2, 1, &o) != -1;
	bad += parse_cgi_head(big, CGI_HEAD_MAX + 1, 0, &o) != -1;
	report("parse_cgi_head, and the 8 KiB block at its edge", bad);
}

static int
has_var(char **v, const char *want)
{
	for (; *v != NULL; v++)
		if (strcmp(*v, want) == 0)
			return 1;
	return 0;
}

static int
has_name(char **v, const char *name)
{
	size_t	 n = strlen(name);

	for (; *v != NULL; v++)
		if (strncmp(*v, name, n) == 0 && (*v)[n] == '=')
			return 1;
	return 0;
}

static void
t_env(void)
{
	static const char h[] = "POST /x/y?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 3\r\nX-T: a\r\n"
	    "Proxy: p\r\nx-t: b\r\nX_U: c\r\nAuthorization: z\r\n\r\n";
	static char mem[ENV_BYTES];
	struct conninfo ci = { "127.0.0.1", "5000", "::1", "8080" };
	struct req r;
	struct env e;
	int	 bad = 0;

	bad += parse_head(h, sizeof(h) - 1, &r) != 0;
	bad += build_env(&e, mem, sizeof(mem), &r, &ci, "/x/y", 4, 3) != 0;
	bad += !has_var(e.v, "SERVER_NAME=[::1]");
	bad += !has_var(e.v, "SERVER_PORT=8080");
	bad += !has_var(e.v, "CONTENT_LENGTH=3");
	bad += !has_var(e.v, "CONTENT_TYPE=text/plain");
	bad += !has_var(e.v, "HTTP_X_T=a, b");
	bad += !has_var(e.v, "PATH_INFO=/x/y");
	bad += !has_var(e.v, "QUERY_STRING=q=1");
	bad += !has_var(e.v, "X_FULL_URL=http://[::1]:8080/x/y?q=1");
	bad += !has_var(e.v, "HTTP_HOST=[::1]:8080");
	bad += has_name(e.v, "HTTP_PROXY") + has_name(e.v, "HTTP_X_U") +
	    has_name(e.v, "HTTP_AUTHORIZATION") +
	    has_name(e.v, "HTTP_CONTENT_TYPE") +
	    has_name(e.v, "HTTP_CONTENT_LENGTH");
	/* no body: no CONTENT_LENGTH or CONTENT_TYPE */
	bad += build_env(&e, mem, sizeof(mem), &r, &ci, "/x/y", 4, 0) != 0;
	bad += has_name(e.v, "CONTENT_LENGTH") + has_name(e.v, "CONTENT_TYPE");
	/* too small a buffer is an error, not a truncation */
	bad += build_env(&e, mem, 64, &r, &ci, "/x/y", 4, 0) != -1;
	report("build_env", bad);
}

static void
t_log_and_date(void)
{
	char	 mem[128];
	struct buf b;
	int	 bad = 0;

	buf_init(&b, mem, sizeof(mem));
	log_esc(&b, "GET /a\x1b[2J\"\\\xff b", 15);
	bad += b.len != strlen("GET /a\\x1b[2J\\x22\\x5c\\xff b") ||
	    memcmp(mem, "GET /a\\x1b[2J\\x22\\x5c\\xff b", b.len) != 0;
	buf_init(&b, mem, sizeof(mem));
	render_imf_date(&b, 0);
	bad += b.len != 29 || memcmp(mem, "Thu, 01 Jan 1970 00:00:00 GMT", 29);
	buf_init(&b, mem, sizeof(mem));
	render_imf_date(&b, 1764165668);
	bad += b.len != 29 || memcmp(mem, "Wed, 26 Nov 2025 14:01:08 GMT", 29);
	report("log escaping and the Date header", bad);
}

static void
t_host(void)
{
	static const struct {
		const char	*in;
		int		 want;
	} t[] = {
		{ "example.com", 1 }, { "example.com:8080", 1 }, { "x:", 1 },
		{ "127.0.0.1", 1 }, { "127.0.0.1:80", 1 }, { "[::1]", 1 },
		{ "[::1]:8080", 1 }, { "[2001:db8::7]", 1 }, { "a-b_c~d.e", 1 },
		{ "caf%C3%A9", 1 }, { "!$&'()*+,;=", 1 },
		{ "", 0 }, { "<x>", 0 }, { "x:abc", 0 }, { "[::1", 0 },
		{ "a\"b", 0 }, { "x:1:2", 0 }, { "h\xe9", 0 }, { "a b", 0 },
		{ "a/b", 0 }, { "u@h", 0 }, { "[zz]", 0 }, { "[::1]x", 0 },
		{ ":80", 0 }, { "x:123456", 0 }, { "%zz", 0 }, { "%4", 0 },
		{ "a\\b", 0 }, { "[]", 0 },
	};
	size_t	 i;
	int	 bad = 0;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (host_valid(t[i].in, strlen(t[i].in)) != t[i].want) {
			printf("  host_valid(\"%s\") != %d\n", t[i].in, t[i].want);
			bad++;
		}
	report("host_valid: RFC 9110 7.2, RFC 3986 3.2.2", bad);
}

static void
t_addr(void)
{
	static const struct {
		const char	*in;
	} t[] = {
		{ "::" }, { "::1" }, { "1::" }, { "2001:db8::7" },
		{ "2001:db8:0:0:1:0:0:1" }, { "2001:db8::1:0:0:1" },
		{ "1:0:2:3:4:5:6:7" }, { "fe80::1:2" }, { "1:2:3:4:5:6:7:8" },
		{ "abcd:ef01::" },	/* IPv4-mapped ones are shown as IPv4 */
	};
	char	 out[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;
	size_t	 i;
	int	 bad = 0;

	/* each against the C library's inet_ntop (RFC 5952 in glibc) */
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		inet_pton(AF_INET6, t[i].in, &a6);
		inet_ntop(AF_INET6, &a6, want, sizeof(want));
		addr_ntop(AF_INET6, &a6, out);
		if (strcmp(out, want) != 0) {
			printf("  addr_ntop(%s) = %s, want %s\n", t[i].in, out, want);
			bad++;
		}
	}
	inet_pton(AF_INET, "192.0.2.255", &a4);
	addr_ntop(AF_INET, &a4, out);
	bad += strcmp(out, "192.0.2.255") != 0;
	report("addr_ntop: dotted quad and RFC 5952", bad);
}

static void
t_field_line(void)
{
	static const struct {
		const char	*in, *name, *value;	/* name NULL: refused */
	} t[] = {
		{ "Host: x", "Host", "x" }, { "A:b", "A", "b" },
		{ "A: \t b c \t ", "A", "b c" }, { "A:", "A", "" },
		{ "A : b", NULL, NULL }, { " A: b", NULL, NULL },
		{ ": b", NULL, NULL }, { "A b", NULL, NULL },
		{ "A: b\rc", NULL, NULL }, { "A: b\x7f", NULL, NULL },
		{ "A: caf\xc3\xa9", "A", "caf\xc3\xa9" },
	};
	struct field f;
	size_t	 i;
	int	 bad = 0, got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		got = field_line(t[i].in, strlen(t[i].in), &f);
		if (t[i].name == NULL ? got != -1 : (got != 0 ||
		    f.nlen != strlen(t[i].name) || memcmp(f.name, t[i].name,
		    f.nlen) || f.vlen != strlen(t[i].value) ||
		    memcmp(f.value, t[i].value, f.vlen))) {
			printf("  field_line #%zu\n", i);
			bad++;
		}
	}
	report("field_line, shared by both header parsers", bad);
}

static void
t_own(void)
{
	char	 mem[512];
	struct buf b;
	size_t	 n;
	int	 bad = 0;

	memset(mem, 0, sizeof(mem));
	buf_init(&b, mem, sizeof(mem) - 1);
	n = render_own(&b, 400, 1, 0, 0);
	bad += n != 0 || b.len < 4 || memcmp(mem + b.len - 4, "\r\n\r\n", 4) ||
	    strstr(mem, "Content-Length: 16\r\n") == NULL;
	memset(mem, 0, sizeof(mem));
	buf_init(&b, mem, sizeof(mem) - 1);
	n = render_own(&b, 400, 0, 0, 0);
	bad += n != 16 || memcmp(mem + b.len - 16, "400 Bad Request\n", 16) ||
	    strstr(mem, "Connection: close\r\n") == NULL;
	memset(mem, 0, sizeof(mem));
	buf_init(&b, mem, sizeof(mem) - 1);
	n = render_own(&b, 204, 0, 1, 0);
	bad += n != 0 || strstr(mem, "Content-Length") != NULL ||
	    strstr(mem, "Connection") != NULL;
	report("serve's own answers: HEAD and 204 without a body", bad);
}

/*
 * The largest heads within the limits still fit the environment: a
 * target of TARGET_MAX bytes, all path (it lands in four variables) or
 * all authority and query (absolute-form), and a Host filling HEAD_MAX.
 */
static void
t_env_edge(void)
{
	static char head[HEAD_MAX + 1], mem[ENV_BYTES], path[TARGET_MAX + 1];
	static const char *const shape[][3] = {
		{ "/", "p", "" }, { "/a?", "q", "" },
		{ "http://", "h", "/" }, { "http://h/?", "q", "" },
	};
	struct conninfo ci = { "::1", "5000", "::1", "8080" };
	struct req r;
	struct env e;
	struct buf b;
	long	 pl;
	size_t	 i;
	int	 bad = 0, k, one;

	for (i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
		buf_init(&b, head, sizeof(head));
		buf_str(&b, "GET ");
		buf_str(&b, shape[i][0]);
		for (k = (int)(strlen(shape[i][0]) + strlen(shape[i][2]));
		    k < TARGET_MAX; k++)
			buf_add(&b, shape[i][1], 1);
		buf_str(&b, shape[i][2]);
		buf_str(&b, " HTTP/1.1\r\nHost: ");
		while (b.len < HEAD_MAX - 4)
			buf_add(&b, "h", 1);
		buf_str(&b, "\r\n\r\n");
		one = b.len != HEAD_MAX || b.full ||
		    parse_head(head, b.len, &r) != 0 || r.tlen != TARGET_MAX ||
		    (pl = path_normalize(path, r.path, r.plen)) < 0 ||
		    build_env(&e, mem, sizeof(mem), &r, &ci, path, (size_t)pl,
		    BODY_MAX) != 0;
		if (one)
			printf("  shape %zu: head %zu, target %zu, env %zu of %zu\n",
			    i, b.len, r.tlen, e.b.len, sizeof(mem));
		bad += one;
	}
	report("ENV_BYTES holds the largest heads within the limits", bad);
}

static void
t_ms_timespec(void)
{
	static const struct {
		int64_t	 ms;
		long	 sec, nsec;
	} t[] = {
		{ 0, 0, 1000000 }, { 998, 0, 999000000 }, { 999, 1, 0 },
		{ 1000, 1, 1000000 }, { 1998, 1, 999000000 }, { 1999, 2, 0 },
		{ 3600000, 3600, 1000000 },
	};
	struct timespec ts;
	size_t	 i;
	int	 bad = 0;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms_timespec(t[i].ms, &ts);
		if (ts.tv_sec != t[i].sec || ts.tv_nsec != t[i].nsec ||
		    ts.tv_nsec >= 1000000000) {
			printf("  ms_timespec(%ld) = %ld s %ld ns\n",
			    (long)t[i].ms, (long)ts.tv_sec, ts.tv_nsec);
			bad++;
		}
	}
	report("ms_timespec: ppoll's wait, rounded up, tv_nsec under a second", bad);
}

int
main(void)
{
	t_head_end();
	t_parse_head();
	t_fields_max();
	t_path();
	t_dechunk();
	t_cgi_head();
	t_env();
	t_log_and_date();
	t_host();
	t_addr();
	t_field_line();
	t_own();
	t_env_edge();
	t_ms_timespec();
	return report_done();
}
