/*
 * fuzz_serve: libFuzzer harness over serve's parsers (http.c, fcgi.h): the
 * request head (head_end, parse_head, path_normalize, build_env), the
 * CGI's header block (parse_cgi_head), chunked bodies (dechunk) and a
 * FastCGI responder's records (fcgi_read). The first byte picks the
 * parser: 0x80 and up fcgi_read, anything else modulo 4 the others. Beyond the sanitizers, it aborts when a parser's
 * output breaks a rule serve relies on: no CR, LF or NUL in a CGI variable
 * or a forwarded field, a normalised path that starts with "/" and holds
 * no "..", lengths within their buffers, any head within the limits fits
 * the environment, and the resumable parsers answer the same whether the
 * bytes come at once or in two parts.
 *
 * Heads reach HEAD_MAX (8192), past libFuzzer's default -max_len of 4096:
 *	make fuzz && tests/fuzz/fuzz_serve -max_len=9000 -max_total_time=60 \
 *	    tests/fuzz/seeds-serve
 */
#define _GNU_SOURCE		/* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi.h"
#include "../../http.h"

#define FUZZ_NAME "fuzz_serve"
#include "check.h"

static void
no_breaks(const char *s, size_t n, const char *what)
{
	check(memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
	    memchr(s, '\0', n) == NULL, what);
}

static void
fuzz_head(const char *d, size_t n)
{
	static char envmem[ENV_BYTES], path[TARGET_MAX + 1];
	struct conninfo ci = { "127.0.0.1", "1", "127.0.0.1", "80" };
	struct req r;
	struct env e;
	long	 hl, pl, part;
	size_t	 from = 0, from2 = 0;
	int	 i;

	hl = head_end(d, n, &from);
	/* resumed after a first part: the same end */
	part = head_end(d, n / 2, &from2);
	if (part == 0)
		part = head_end(d, n, &from2);
	check(part == hl || (hl == 0 && part == 0), "head_end resumed differs");
	if (hl <= 0 || hl > HEAD_MAX)
		return;
	if (parse_head(d, (size_t)hl, &r) != 0 || r.asterisk)
		return;
	check(r.plen <= TARGET_MAX && r.path[0] == '/', "a bad path");
	if ((pl = path_normalize(path, r.path, r.plen)) < 0)
		return;
	check(pl >= 1 && (size_t)pl <= r.plen + 1 && path[0] == '/',
	    "a normalised path out of bounds");
	check(memmem(path, (size_t)pl, "/../", 4) == NULL &&
	    !(pl >= 3 && memcmp(path + pl - 3, "/..", 3) == 0),
	    "a .. segment left in PATH_INFO");
	if (build_env(&e, envmem, sizeof(envmem), &r, &ci, path, (size_t)pl,
	    3) != 0)
		check(0, "a head under HEAD_MAX does not fit ENV_BYTES");
	for (i = 0; i < e.n; i++) {
		no_breaks(e.v[i], strlen(e.v[i]), "CR or LF in a variable");
		check(strncmp(e.v[i], "HTTP_PROXY=", 11) != 0 &&
		    strncmp(e.v[i], "HTTP_AUTHORIZATION=", 19) != 0,
		    "a dropped field in the environment");
	}
}

static void
fuzz_cgi_head(const char *d, size_t n, int eof)
{
	struct cgiout o;
	int	 i;

	if (parse_cgi_head(d, n, eof, &o) != 0)
		return;
	check(o.headlen <= n && o.headlen <= CGI_HEAD_MAX + 2, "headlen");
	check(o.status >= 200 && o.status <= 599, "status out of range");
	for (i = 0; i < o.nf; i++) {
		no_breaks(o.f[i].name, o.f[i].nlen, "a break in a field name");
		no_breaks(o.f[i].value, o.f[i].vlen, "a break in a field value");
		check(!ieqs(o.f[i].name, o.f[i].nlen, "connection") &&
		    !ieqs(o.f[i].name, o.f[i].nlen, "transfer-encoding") &&
		    !ieqs(o.f[i].name, o.f[i].nlen, "content-length"),
		    "a hop-by-hop field forwarded");
	}
}

static void
fuzz_chunked(const char *d, size_t n)
{
	static char out[4096], out2[4096], raw[65536];
	struct chunked s, s2;
	int	 rc, rc2;

	memset(&s, 0, sizeof(s));
	rc = dechunk(&s, d, n, out, sizeof(out));
	if (rc == 0)
		check(s.in <= n && s.out <= sizeof(out) && s.out <= s.in,
		    "dechunk out of bounds");
	/* in place and in two parts: the same answer and body */
	if (n > sizeof(raw))
		return;
	memcpy(raw, d, n);
	memset(&s2, 0, sizeof(s2));
	rc2 = dechunk(&s2, raw, n / 3, raw, sizeof(out2));
	if (rc2 == 1)
		rc2 = dechunk(&s2, raw, n, raw, sizeof(out2));
	check(rc2 == rc, "dechunk resumed in place differs");
	check(rc != 0 || (s2.in == s.in && s2.out == s.out &&
	    memcmp(raw, out, s.out) == 0), "dechunk resumed body differs");
	(void)out2;
}

/*
 * Run fcgi_read over d[0..n) given step bytes at a time, writing a log
 * of what it reports into out (cap): each event's letter (once for a run
 * of one stream's pieces), and the streams' bytes. Its length.
 */
static size_t
fcgi_stream(const uint8_t *d, size_t n, size_t step, size_t max,
    unsigned char *out, size_t cap)
{
	struct fcgi_reader r;
	const unsigned char *data;
	size_t	 at = 0, end, used, len, o = 0;
	enum fcgi_read ev, last = FR_MORE;

	memset(&r, 0, sizeof(r));
	while (at < n) {
		end = n - at < step ? n : at + step;
		while (at < end) {
			ev = fcgi_read(&r, d + at, end - at, max, &used, &data,
			    &len);
			check(used <= end - at, "fcgi_read took more than it had");
			at += used;
			if (ev == FR_HEAD) {
				check(r.id != 0 && r.type != 0, "a head of no request");
				if (r.id == 1)
					continue;
				ev = FR_BAD;	/* serve: not its request */
			}
			if (ev == FR_STDOUT || ev == FR_STDERR) {
				check(len > 0 && (len <= max || ev == FR_STDERR) &&
				    data >= d && data + len <= d + at,
				    "a stream piece outside");
				check(o + 1 + len <= cap, "log full");
				/* a stream's pieces may fall anywhere: one run */
				if (ev != last)
					out[o++] = ev == FR_STDOUT ? 'o' : 'e';
				last = ev;
				memcpy(out + o, data, len);
				o += len;
				continue;
			}
			if (ev == FR_MORE) {
				check(at == end, "FR_MORE with bytes left");
				break;
			}
			check(o + 2 <= cap, "log full");
			last = ev;
			out[o++] = ev == FR_END ? 'E' : 'B';
			if (ev == FR_END)
				out[o++] = (unsigned char)r.status;
			if (ev == FR_BAD)
				return o;
		}
	}
	return o;
}

/*
 * A responder's answer to request 1, taken whole and in pieces of every
 * size from 1 to 64 (set by the second byte): the same events and
 * stream bytes either way, every piece within the input and within max,
 * and no byte taken twice or skipped.
 */
static void
fuzz_fcgi_read(const uint8_t *d, size_t n)
{
	static unsigned char whole[1 << 17], parts[1 << 17];
	size_t	 wl, pl, step, max;

	if (n < 2)
		return;
	step = d[0] % 64 + 1;
	max = d[1] % 200 + 1;
	d += 2;
	n -= 2;
	wl = fcgi_stream(d, n, n, max, whole, sizeof(whole));
	pl = fcgi_stream(d, n, step, max, parts, sizeof(parts));
	check(wl == pl && memcmp(whole, parts, wl) == 0,
	    "fcgi_read differs when the bytes come in pieces");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] >= 0x80) {
		fuzz_fcgi_read(data + 1, size - 1);
		return 0;
	}
	switch (data[0] % 4) {
	case 0:
		fuzz_head((const char *)data + 1, size - 1);
		break;
	case 1:
	case 2:
		fuzz_cgi_head((const char *)data + 1, size - 1, data[0] % 4 == 2);
		break;
	default:
		fuzz_chunked((const char *)data + 1, size - 1);
	}
	return 0;
}
