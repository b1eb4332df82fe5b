/*
 * t_render: tables for render.h. The date arithmetic is checked against the
 * C library's gmtime_r across many instants and, after the 2014-10-26
 * change, against the system tzdata's Europe/Moscow; percent-decoding and
 * the three escapers against hand-written tables.
 *
 * Prints "ok - ..." or "FAIL - ..." per check group, exits 1 on a failure.
 */
#define _DEFAULT_SOURCE		/* struct tm's tm_gmtoff */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../render.h"

#define REPORT_SUITE "render"
#include "report.h"

/* 1 if c is t as struct tm says, else print the difference and return 0. */
static int
same(int64_t t, const struct civil *c, const struct tm *tm, const char *what)
{
	if (c->year == (int64_t)tm->tm_year + 1900 && c->mon == tm->tm_mon + 1 &&
	    c->mday == tm->tm_mday && c->hour == tm->tm_hour &&
	    c->min == tm->tm_min && c->sec == tm->tm_sec &&
	    c->wday == tm->tm_wday)
		return 1;
	printf("  %s t=%lld: got %lld-%02d-%02d %02d:%02d:%02d wday %d, want "
	    "%d-%02d-%02d %02d:%02d:%02d wday %d\n", what, (long long)t,
	    (long long)c->year, c->mon, c->mday, c->hour, c->min, c->sec,
	    c->wday, tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
	    tm->tm_hour, tm->tm_min, tm->tm_sec, tm->tm_wday);
	return 0;
}

/* Named instants: the edges the calendar code could get wrong. */
static const int64_t named[] = {
	0, -1, 1, 86399, 86400, -86400, -86401,
	951782399,	/* 2000-02-28T23:59:59Z */
	951782400,	/* 2000-02-29T00:00:00Z: a leap day in a /400 year */
	951868800,	/* 2000-03-01T00:00:00Z */
	978307199,	/* 2000-12-31T23:59:59Z: day 366 */
	1078012800,	/* 2004-02-29 */
	1414274399,	/* 2014-10-25T21:59:59Z: last second of MSK=UTC+4 */
	1414274400,	/* 2014-10-25T22:00:00Z: Moscow moves to UTC+3 */
	1709164800,	/* 2024-02-29 */
	1764165668,	/* the reference's example instant */
	2147483647,	/* 2038-01-19T03:14:07Z */
	2147483648LL,	/* 2038-01-19T03:14:08Z: past 32-bit time_t */
	4107542399LL,	/* 2100-02-28T23:59:59Z */
	4107542400LL,	/* 2100-03-01T00:00:00Z: 2100 has no leap day */
	-2203977600LL,	/* 1900-02-28 */
	-2203891200LL,	/* 1900-03-01 */
	253402300799LL,	/* 9999-12-31T23:59:59Z */
	253402300800LL,	/* 10000-01-01 */
	-62135596800LL,	/* 0001-01-01 */
};

/* civil_from_unix against gmtime_r: named instants, a sweep, and an LCG. */
static void
t_gmtime(void)
{
	struct civil c;
	struct tm tm;
	time_t	 tt;
	int64_t	 t;
	uint64_t x = 88172645463325252ULL;
	size_t	 i;
	int	 bad = 0, n = 0;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++, n++) {
		tt = (time_t)named[i];
		civil_from_unix(named[i], &c);
		bad += gmtime_r(&tt, &tm) == NULL ||
		    !same(named[i], &c, &tm, "named");
	}
	/* every 4 days and 1 hour 1 second from 1600 to 2400 */
	for (t = -11676096000LL; t < 13569465600LL; t += 4 * 86400 + 3601, n++) {
		tt = (time_t)t;
		civil_from_unix(t, &c);
		bad += gmtime_r(&tt, &tm) == NULL || !same(t, &c, &tm, "sweep");
	}
	/* xorshift samples within +-10^11 s (about +-3000 years) */
	for (i = 0; i < 200000; i++, n++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = (int64_t)(x % 200000000001ULL) - 100000000000LL;
		tt = (time_t)t;
		civil_from_unix(t, &c);
		bad += gmtime_r(&tt, &tm) == NULL || !same(t, &c, &tm, "random");
		if (bad > 20)
			break;
	}
	report("civil_from_unix agrees with gmtime_r", bad);
	(void)n;
}

/*
 * msk_from_unix against tzdata's Europe/Moscow after 2014-10-26, and the
 * other way round before it (UTC+4), which shows the comparison can fail.
 */
static void
t_moscow(void)
{
	struct civil c;
	struct tm tm;
	time_t	 tt;
	int64_t	 t;
	int	 bad = 0, before = 0;

	if (setenv("TZ", "Europe/Moscow", 1) != 0)
		bad++;
	tzset();
	for (t = 1414274400; t < 4102444800LL; t += 86400 * 3 + 7, bad += 0) {
		tt = (time_t)t;
		if (localtime_r(&tt, &tm) == NULL || tm.tm_gmtoff != MSK_OFFSET_S) {
			printf("  tzdata has no Europe/Moscow at UTC+3 for %lld\n",
			    (long long)t);
			bad++;
			break;
		}
		msk_from_unix(t, &c);
		bad += !same(t, &c, &tm, "moscow");
		if (bad > 20)
			break;
	}
	/* 2014-10-25T21:59:59Z was 01:59:59 in Moscow, at UTC+4. */
	tt = 1414274399;
	msk_from_unix(1414274399, &c);
	if (localtime_r(&tt, &tm) != NULL && tm.tm_gmtoff == 4 * 3600 &&
	    tm.tm_hour == 1 && c.hour == 0)
		before = 1;
	report("msk_from_unix agrees with tzdata Europe/Moscow from 2014-10-26",
	    bad);
	report("tzdata's Europe/Moscow was UTC+4 before 2014-10-26", !before);
}

static void
t_strings(void)
{
	static const struct {
		int64_t		 t;
		const char	*compact, *pretty, *longdate;
	} tab[] = {
		{ 1764165668,
		  "{\"moscow_time\":\"2025-11-26 17:01:08 MSK\","
		  "\"timestamp\":1764165668}\n",
		  "{\n  \"moscow_time\": \"2025-11-26 17:01:08 MSK\",\n"
		  "  \"timestamp\": 1764165668\n}\n",
		  "Wednesday, 26 November 2025" },
		{ 0,
		  "{\"moscow_time\":\"1970-01-01 03:00:00 MSK\","
		  "\"timestamp\":0}\n", NULL, "Thursday, 1 January 1970" },
		{ 951771600,	/* 2000-02-28T21:00:00Z */
		  "{\"moscow_time\":\"2000-02-29 00:00:00 MSK\","
		  "\"timestamp\":951771600}\n", NULL, "Tuesday, 29 February 2000" },
		{ 2147483648LL,
		  "{\"moscow_time\":\"2038-01-19 06:14:08 MSK\","
		  "\"timestamp\":2147483648}\n", NULL, "Tuesday, 19 January 2038" },
		{ 4107531600LL,	/* 2100-02-28T21:00:00Z */
		  "{\"moscow_time\":\"2100-03-01 00:00:00 MSK\","
		  "\"timestamp\":4107531600}\n", NULL, "Monday, 1 March 2100" },
		{ -10801,
		  "{\"moscow_time\":\"1969-12-31 23:59:59 MSK\","
		  "\"timestamp\":-10801}\n", NULL, "Wednesday, 31 December 1969" },
	};
	char	 mem[256];
	struct buf b;
	struct civil c;
	size_t	 i;
	int	 bad = 0;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		buf_init(&b, mem, sizeof(mem));
		render_time_json(&b, tab[i].t, 0);
		if (b.full || b.len != strlen(tab[i].compact) ||
		    memcmp(mem, tab[i].compact, b.len) != 0) {
			printf("  json %lld: %.*s", (long long)tab[i].t,
			    (int)b.len, mem);
			bad++;
		}
		if (tab[i].pretty != NULL) {
			buf_init(&b, mem, sizeof(mem));
			render_time_json(&b, tab[i].t, 1);
			bad += b.len != strlen(tab[i].pretty) ||
			    memcmp(mem, tab[i].pretty, b.len) != 0;
		}
		buf_init(&b, mem, sizeof(mem));
		msk_from_unix(tab[i].t, &c);
		render_longdate(&b, &c);
		if (b.len != strlen(tab[i].longdate) ||
		    memcmp(mem, tab[i].longdate, b.len) != 0) {
			printf("  longdate %lld: %.*s\n", (long long)tab[i].t,
			    (int)b.len, mem);
			bad++;
		}
	}
	report("the time document and the long date, byte for byte", bad);
}

static void
t_decode(void)
{
	static const struct {
		const char	*in;
		long		 want;	/* length, or -1 */
		const char	*out;
	} tab[] = {
		{ "", 0, "" },
		{ "/", 1, "/" },
		{ "/api/time", 9, "/api/time" },
		{ "/a%20b", 4, "/a b" },
		{ "%41%42", 2, "AB" },
		{ "%2F", 1, "/" },
		{ "%2f", 1, "/" },
		{ "%2525", 3, "%25" },		/* once, never twice */
		{ "+", 1, "+" },		/* not a space in a path */
		{ "%c3%A9", 2, "\xc3\xa9" },
		{ "%00", 1, "\0" },		/* decoded; has_ctl refuses it */
		{ "%0d%0a", 2, "\r\n" },
		{ "%", -1, NULL },
		{ "%4", -1, NULL },
		{ "a%", -1, NULL },
		{ "%zz", -1, NULL },
		{ "%4g", -1, NULL },
		{ "%%41", -1, NULL },
		{ "%-1", -1, NULL },
		{ "% 1", -1, NULL },
	};
	char	 out[64];
	size_t	 i;
	long	 n;
	int	 bad = 0;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		n = uri_decode(out, tab[i].in, strlen(tab[i].in));
		if (n != tab[i].want || (n >= 0 &&
		    memcmp(out, tab[i].out, (size_t)n) != 0)) {
			printf("  uri_decode(\"%s\") = %ld\n", tab[i].in, n);
			bad++;
		}
	}
	report("uri_decode", bad);

	bad = has_ctl("", 0) != 0 || has_ctl("/a b~", 5) != 0 ||
	    has_ctl("a\0b", 3) != 1 || has_ctl("\r", 1) != 1 ||
	    has_ctl("\n", 1) != 1 || has_ctl("\t", 1) != 1 ||
	    has_ctl("\x7f", 1) != 1 || has_ctl("\x1f", 1) != 1 ||
	    has_ctl("\x80\xff", 2) != 0;
	report("has_ctl: C0 controls and DEL, nothing else", bad);
}

static void
t_escape(void)
{
	static const struct {
		enum esc	 e;
		const char	*in;
		size_t		 inlen;
		const char	*want;
	} tab[] = {
		{ ESC_HTML, "plain /path", 11, "plain /path" },
		{ ESC_HTML, "<a href=\"x\">&'</a>", 18,
		  "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;" },
		{ ESC_HTML, "a\r\nb\tc\x7f", 7,
		  "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd" },
		{ ESC_HTML, "caf\xc3\xa9", 5, "caf\xc3\xa9" },
		{ ESC_HTML, "\xff", 1, "\xef\xbf\xbd" },
		{ ESC_HTML, "a\0b", 3, "a\xef\xbf\xbd" "b" },
		{ ESC_JSON, "plain", 5, "plain" },
		{ ESC_JSON, "q\"b\\s/", 6, "q\\\"b\\\\s/" },
		{ ESC_JSON, "\n\r\t\x01\x1f\x7f", 6,
		  "\\u000a\\u000d\\u0009\\u0001\\u001f\\u007f" },
		{ ESC_JSON, "</script>&'", 11, "</script>&'" },
		{ ESC_JSON, "\xe2\x80\xa8", 3, "\xe2\x80\xa8" },
		{ ESC_JSON, "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong NUL */
		{ ESC_JSON, "\xed\xa0\x80", 3,
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },	/* a surrogate */
		{ ESC_JSON, "\xf4\x90\x80\x80", 4,
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* > U+10FFFF */
		{ ESC_JSON, "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80" },
		{ ESC_JSON, "\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd" }, /* cut short */
		{ ESC_JS, "</script><!--", 13,
		  "\\u003c/script\\u003e\\u003c!--" },
		{ ESC_JS, "a'b\"c&d\\", 8, "a\\u0027b\\\"c\\u0026d\\\\" },
		{ ESC_JS, "\xe2\x80\xa8\xe2\x80\xa9", 6, "\\u2028\\u2029" },
		{ ESC_JS, "\n", 1, "\\u000a" },
	};
	char	 mem[256];
	struct buf b;
	size_t	 i;
	int	 bad = 0;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		buf_init(&b, mem, sizeof(mem));
		render_esc(&b, tab[i].e, tab[i].in, tab[i].inlen);
		if (b.full || b.len != strlen(tab[i].want) ||
		    memcmp(mem, tab[i].want, b.len) != 0) {
			printf("  escape #%zu: got \"%.*s\"\n", i, (int)b.len,
			    mem);
			bad++;
		}
	}
	report("render_esc for HTML, JSON and JavaScript strings", bad);
}

static void
t_buf(void)
{
	char	 mem[8];
	struct buf b;
	int	 bad = 0;

	buf_init(&b, mem, sizeof(mem));
	buf_str(&b, "12345");
	buf_str(&b, "6789");		/* does not fit: dropped whole */
	bad += !b.full || b.len != 5 || memcmp(mem, "12345", 5) != 0;
	buf_str(&b, "6");		/* nothing after full */
	bad += b.len != 5;

	buf_init(&b, mem, sizeof(mem));
	buf_str(&b, "12345678");	/* exactly the capacity */
	bad += b.full || b.len != 8;

	buf_init(&b, mem, sizeof(mem));
	buf_uint(&b, 7, 2);
	buf_uint(&b, 0, 1);
	buf_int(&b, -5, 2);
	bad += b.len != 6 || memcmp(mem, "070-05", 6) != 0;

	{
		char	 big[32];

		buf_init(&b, big, sizeof(big));
		buf_int(&b, INT64_MIN, 1);
		bad += b.len != 20 ||
		    memcmp(big, "-9223372036854775808", 20) != 0;
		buf_init(&b, big, sizeof(big));
		buf_uint(&b, UINT64_MAX, 1);
		bad += b.len != 20 ||
		    memcmp(big, "18446744073709551615", 20) != 0;
	}
	report("buf: bounded appends and numbers", bad);
}

static void
t_iov(void)
{
	char	 a[] = "abc", b[] = "de";
	struct iovec v[3] = { { a, 3 }, { NULL, 0 }, { b, 2 } }, *iov = v;
	int	 cnt = 3, bad = 0;

	iov_consume(&iov, &cnt, 0);
	bad += iov != v || cnt != 3;
	iov_consume(&iov, &cnt, 2);
	bad += iov != v || cnt != 3 || iov->iov_len != 1 || *(char *)iov->iov_base != 'c';
	iov_consume(&iov, &cnt, 1);	/* the empty entry goes too */
	bad += iov != v + 2 || cnt != 1;
	iov_consume(&iov, &cnt, 2);
	bad += cnt != 0;
	report("iov_consume after short writes", bad);
}

static void
fill_cb(struct buf *b, int slot, const void *arg)
{
	(void)arg;
	buf_uint(b, (uint64_t)slot, 1);
}

static void
t_tmpl(void)
{
	static const struct tmpl_piece t[] = {
		{ "a", 1, 3 }, { "", 0, 1 }, { "bc", 2, 0 },
	};
	char	 mem[16];
	struct buf b;

	buf_init(&b, mem, sizeof(mem));
	render_tmpl(&b, t, fill_cb, NULL);
	report("render_tmpl fills slots in order", b.len != 5 ||
	    memcmp(mem, "a31bc", 5) != 0);
}

int
main(void)
{
	t_gmtime();
	t_moscow();
	t_strings();
	t_decode();
	t_escape();
	t_buf();
	t_tmpl();
	t_iov();
	return report_done();
}
