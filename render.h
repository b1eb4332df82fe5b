/*
 * render.h: the pure parts of moscow-time. Moscow civil time without a
 * time-zone database, escaping for HTML, JSON and JavaScript strings,
 * percent-decoding, a bounded output buffer with a template filler, and the
 * bookkeeping of a partly written iovec.
 *
 * Nothing here does I/O or allocates, so it compiles unchanged for
 * wasm32-wasi, is unit-tested by tests/unit/t_render.c and fuzzed through
 * tests/fuzz/fuzz_cgi.c. Every function is static inline: cgi.c, serve.c
 * and the tests include this file and each uses a part of it.
 */
#ifndef RENDER_H
#define RENDER_H

#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Moscow has kept UTC+3 all year since 2014-10-26 (seconds east of UTC). */
#define MSK_OFFSET_S	(3 * 3600)
#define SECS_PER_DAY	86400

/*
 * A bounded output buffer. Appends that do not fit are dropped whole and
 * set full, so a caller renders everything and checks full once at the end.
 */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 full;
};

static inline void
buf_init(struct buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->full = 0;
}

static inline void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->full || n > b->cap - b->len) {
		b->full = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append v in decimal, left-padded with zeros to at least width digits. */
static inline void
buf_uint(struct buf *b, uint64_t v, int width)
{
	char	 d[24];
	int	 i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
		width--;
	} while (v != 0 || width > 0);
	buf_add(b, d + i, sizeof(d) - i);
}

static inline void
buf_int(struct buf *b, int64_t v, int width)
{
	if (v < 0) {
		buf_add(b, "-", 1);
		buf_uint(b, (uint64_t)0 - (uint64_t)v, width);
	} else
		buf_uint(b, (uint64_t)v, width);
}

/*
 * Drop the first n bytes, which a writev(2) wrote, from the vector
 * (*iovp, *cntp), and any empty entries after them, so the caller can
 * write again until *cntp is 0.
 */
static inline void
iov_consume(struct iovec **iovp, int *cntp, size_t n)
{
	struct iovec *iov = *iovp;
	int	 cnt = *cntp;

	while (cnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		cnt--;
	}
	if (cnt > 0) {
		iov->iov_base = (char *)iov->iov_base + n;
		iov->iov_len -= n;
	}
	*iovp = iov;
	*cntp = cnt;
}

/* ---- Civil time ---------------------------------------------------- */

/* A broken-down instant, in the proleptic Gregorian calendar. */
struct civil {
	int64_t	year;
	int	mon;	/* 1-12 */
	int	mday;	/* 1-31 */
	int	hour, min, sec;
	int	wday;	/* 0 = Sunday */
};

static inline int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Break t (seconds since 1970-01-01T00:00:00Z, any int64_t) down as UTC.
 * The day count is split into 400-year cycles of 146097 days counted from
 * 0000-03-01, so that the leap day falls at the end of each shifted year
 * and needs no table.
 */
static inline void
civil_from_unix(int64_t t, struct civil *c)
{
	int64_t	 days = floor_div(t, SECS_PER_DAY);
	int64_t	 rem = t % SECS_PER_DAY;
	int64_t	 shifted, cycle, dayofcycle, yearofcycle, dayofyear, mp;

	if (rem < 0)
		rem += SECS_PER_DAY;
	c->hour = (int)(rem / 3600);
	c->min = (int)(rem / 60 % 60);
	c->sec = (int)(rem % 60);
	/* 1970-01-01 was a Thursday. */
	c->wday = (int)(days - floor_div(days + 4, 7) * 7 + 4);

	shifted = days + 719468;		/* days since 0000-03-01 */
	cycle = floor_div(shifted, 146097);
	dayofcycle = shifted - cycle * 146097;	/* 0..146096 */
	yearofcycle = (dayofcycle - dayofcycle / 1460 + dayofcycle / 36524 -
	    dayofcycle / 146096) / 365;		/* 0..399 */
	dayofyear = dayofcycle -
	    (365 * yearofcycle + yearofcycle / 4 - yearofcycle / 100);
	mp = (5 * dayofyear + 2) / 153;		/* 0 = March .. 11 = February */
	c->mday = (int)(dayofyear - (153 * mp + 2) / 5 + 1);
	c->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->year = yearofcycle + cycle * 400 + (c->mon <= 2);
}

/* Break t down as Moscow time (UTC+3), saturating at the int64_t edge. */
static inline void
msk_from_unix(int64_t t, struct civil *c)
{
	civil_from_unix(t > INT64_MAX - MSK_OFFSET_S ? INT64_MAX :
	    t + MSK_OFFSET_S, c);
}

static const char *const month_name[] = { "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December" };
static const char *const day_name[] = { "Sunday", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday" };

/* "YYYY-MM-DD" */
static inline void
render_ymd(struct buf *b, const struct civil *c)
{
	buf_int(b, c->year, 4);
	buf_add(b, "-", 1);
	buf_uint(b, (uint64_t)c->mon, 2);
	buf_add(b, "-", 1);
	buf_uint(b, (uint64_t)c->mday, 2);
}

/* "HH:MM:SS" */
static inline void
render_hms(struct buf *b, const struct civil *c)
{
	buf_uint(b, (uint64_t)c->hour, 2);
	buf_add(b, ":", 1);
	buf_uint(b, (uint64_t)c->min, 2);
	buf_add(b, ":", 1);
	buf_uint(b, (uint64_t)c->sec, 2);
}

/* "Wednesday, 26 November 2025" */
static inline void
render_longdate(struct buf *b, const struct civil *c)
{
	buf_str(b, day_name[c->wday]);
	buf_add(b, ", ", 2);
	buf_uint(b, (uint64_t)c->mday, 1);
	buf_add(b, " ", 1);
	buf_str(b, month_name[c->mon - 1]);
	buf_add(b, " ", 1);
	buf_int(b, c->year, 1);
}

/*
 * The API document: {"moscow_time": "...", "timestamp": N}. pretty gives
 * the reference's indented layout (MODE=once), otherwise one line. Both end
 * with a newline.
 */
static inline void
render_time_json(struct buf *b, int64_t t, int pretty)
{
	struct civil c;

	msk_from_unix(t, &c);
	buf_str(b, pretty ? "{\n  \"moscow_time\": \"" : "{\"moscow_time\":\"");
	render_ymd(b, &c);
	buf_add(b, " ", 1);
	render_hms(b, &c);
	buf_str(b, pretty ? " MSK\",\n  \"timestamp\": " : " MSK\",\"timestamp\":");
	buf_int(b, t, 1);
	buf_str(b, pretty ? "\n}\n" : "}\n");
}

/* ---- Escaping ------------------------------------------------------ */

enum esc {
	ESC_HTML,	/* element text and quoted attribute values */
	ESC_JSON,	/* inside a JSON string */
	ESC_JS		/* inside a JS/JSON string in an HTML <script> element */
};

/*
 * Decode one UTF-8 sequence at s[0..n), n > 0. Returns its length and sets
 * *cp, or returns 1 with *cp = -1 for a byte that does not start a valid,
 * shortest-form sequence of a scalar value (RFC 3629).
 */
static inline size_t
utf8_next(const unsigned char *s, size_t n, long *cp)
{
	size_t	 len, i;
	long	 v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2; v = s[0] & 0x1f; min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3; v = s[0] & 0x0f; min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4; v = s[0] & 0x07; min = 0x10000;
	} else {
		*cp = -1;
		return 1;
	}
	if (len > n) {
		*cp = -1;
		return 1;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = -1;
			return 1;
		}
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		*cp = -1;
		return 1;
	}
	*cp = v;
	return len;
}

static inline void
esc_hex4(struct buf *b, long v)
{
	static const char hex[] = "0123456789abcdef";
	char	 u[6] = { '\\', 'u', hex[v >> 12 & 15], hex[v >> 8 & 15],
		    hex[v >> 4 & 15], hex[v & 15] };

	buf_add(b, u, sizeof(u));
}

/*
 * Append s[0..n) escaped for context e. Bytes that are not valid UTF-8
 * become U+FFFD, so the output is always valid UTF-8. HTML: & < > " ' as
 * character references, C0 controls and DEL as U+FFFD. JSON: " \ and
 * controls as escapes (RFC 8259). JS: as JSON, and also < > & ' U+2028
 * U+2029 as \u escapes, so the text can neither end a <script> element nor
 * break a JavaScript string, and it stays valid JSON.
 */
static inline void
render_esc(struct buf *b, enum esc e, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t	 i = 0, len;
	long	 cp;

	while (i < n) {
		len = utf8_next(s + i, n - i, &cp);
		if (cp < 0) {
			buf_add(b, "\xef\xbf\xbd", 3);
		} else if (e == ESC_HTML) {
			switch (cp) {
			case '&': buf_add(b, "&amp;", 5); break;
			case '<': buf_add(b, "&lt;", 4); break;
			case '>': buf_add(b, "&gt;", 4); break;
			case '"': buf_add(b, "&quot;", 6); break;
			case '\'': buf_add(b, "&#39;", 5); break;
			default:
				if (cp < 0x20 || cp == 0x7f)
					buf_add(b, "\xef\xbf\xbd", 3);
				else
					buf_add(b, str + i, len);
			}
		} else if (cp == '"' || cp == '\\') {
			buf_add(b, "\\", 1);
			buf_add(b, str + i, 1);
		} else if (cp < 0x20 || cp == 0x7f || (e == ESC_JS &&
		    (cp == '<' || cp == '>' || cp == '&' || cp == '\'' ||
		    cp == 0x2028 || cp == 0x2029))) {
			esc_hex4(b, cp);
		} else
			buf_add(b, str + i, len);
		i += len;
	}
}

/* ---- Paths --------------------------------------------------------- */

static inline int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode src[0..n) once into dst, which has room for n bytes
 * (decoding never grows). Returns the decoded length, or -1 if a '%' is
 * not followed by two hex digits (RFC 3986 2.1). '+' is left alone: it
 * means a space only in form data, never in a path.
 */
static inline long
uri_decode(char *dst, const char *src, size_t n)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (src[i] != '%') {
			dst[o++] = src[i];
			continue;
		}
		if (n - i < 3 || (hi = hexval((unsigned char)src[i + 1])) < 0 ||
		    (lo = hexval((unsigned char)src[i + 2])) < 0)
			return -1;
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

/* 1 if s[0..n) holds a C0 control byte (NUL, CR, LF ...) or DEL, else 0. */
static inline int
has_ctl(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* ---- Templates ----------------------------------------------------- */

/*
 * A compiled template: literal text, each followed by a numbered slot.
 * templates/embed.c writes these arrays; slot 0 ends the template.
 */
struct tmpl_piece {
	const char	*text;
	unsigned short	 len;
	unsigned char	 slot;
};

/* Append the template, calling fill(b, slot, arg) for every slot. */
static inline void
render_tmpl(struct buf *b, const struct tmpl_piece *t,
    void (*fill)(struct buf *, int, const void *), const void *arg)
{
	for (;; t++) {
		buf_add(b, t->text, t->len);
		if (t->slot == 0)
			return;
		fill(b, t->slot, arg);
	}
}

#endif /* RENDER_H */
