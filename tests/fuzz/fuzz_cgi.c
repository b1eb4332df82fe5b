/*
 * fuzz_cgi: libFuzzer harness over cgi.c's routing, decoding and rendering.
 *
 * The input is split at NUL bytes into REQUEST_METHOD, PATH_INFO,
 * X_RAW_PATH_INFO and SCRIPT_NAME (a variable can hold no NUL); a first
 * byte with bit 0 set leaves X_RAW_PATH_INFO unset, bit 1 SCRIPT_NAME, and
 * bits 2-7 pick the clock from a table of edge instants. Each response is
 * checked the way a host would read it, and aborts on a broken rule:
 * the body fits, the header block is CRLF lines of printable ASCII, a
 * body is valid UTF-8, and no byte of the path reaches a header.
 *
 *	make fuzz && tests/fuzz/fuzz_cgi -max_total_time=60 tests/fuzz/seeds
 */
/* cgi.c first: its feature macros (syscall(2)) must come before any header */
#define CGI_NO_MAIN		/* the main is this file's */
#include "../../cgi.c"

#include <stdio.h>
#include <stdlib.h>

static const int64_t clocks[] = { 0, -1, 1764165668, 2147483648LL,
    4107542400LL, 253402300800LL, INT64_MAX, INT64_MIN, -62135596800LL };

#define FUZZ_NAME "fuzz_cgi"
#include "check.h"

static void
valid_utf8(const char *s, size_t n)
{
	size_t	 i = 0;
	long	 cp;

	while (i < n) {
		i += utf8_next((const unsigned char *)s + i, n - i, &cp);
		check(cp >= 0, "invalid UTF-8 in a body");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char body[RESP_BODY_MAX], head[RESP_HEAD_MAX], field[4][4096];
	const char *f[4] = { NULL, NULL, NULL, NULL };
	struct cgireq q;
	struct resp r;
	struct buf h;
	size_t	 i, k = 0, len = 0;
	unsigned flags;

	if (size == 0)
		return 0;
	flags = data[0];
	for (i = 1; i <= size && k < 4; i++) {
		if (i == size || data[i] == 0) {
			field[k][len] = '\0';
			f[k] = field[k];
			k++;
			len = 0;
		} else if (len < sizeof(field[0]) - 1)
			field[k][len++] = (char)data[i];
	}
	q.method = f[0];
	q.path_info = f[1];
	q.raw_path = flags & 1 ? NULL : f[2];
	q.script_name = flags & 2 ? NULL : f[3];
	q.too_large = 0;

	resp_init(&r, q.method, body, sizeof(body));
	handle(&q, clocks[(flags >> 2) % (sizeof(clocks) / sizeof(clocks[0]))],
	    &r);
	check(!r.body.full, "the body buffer filled up");
	buf_init(&h, head, sizeof(head));
	render_head(&h, &r);
	check(!h.full, "the header buffer filled up");
	check(h.len >= 4 && memcmp(h.p + h.len - 4, "\r\n\r\n", 4) == 0,
	    "the header block does not end with CRLF CRLF");
	for (i = 0; i < h.len; i++) {
		unsigned char c = (unsigned char)h.p[i];

		check((c >= 0x20 && c < 0x7f) || (c == '\r' && h.p[i + 1] ==
		    '\n') || (c == '\n' && i > 0 && h.p[i - 1] == '\r'),
		    "a header byte that is not printable ASCII in CRLF lines");
	}
	switch (r.status) {
	case S_OK:
	case S_NO_CONTENT:
	case S_BAD_REQUEST:
	case S_NOT_FOUND:
	case S_METHOD_NOT_ALLOWED:
		break;
	default:
		check(0, "an unexpected status");
	}
	check((r.ctype == NULL) == (r.status == S_NO_CONTENT),
	    "a body on 204, or none elsewhere");
	valid_utf8(r.body.p, r.body.len);
	return 0;
}
