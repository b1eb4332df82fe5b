/*
 * embed: turn an HTML template into C for render.h's render_tmpl().
 *
 *	embed NAME < template.html > template.h
 *
 * A slot is written @@NAME@@ with NAME in [A-Z]; it becomes the enumerator
 * SLOT_NAME, which the including program must define. The template's one
 * plain <script> element and its one <style> element must hold no slot:
 * their contents are hashed here with SHA-256 (FIPS 180-4) for the page's
 * Content-Security-Policy, written as NAME_SCRIPT_CSP and NAME_STYLE_CSP
 * (NAME upper-cased); the pieces are the array NAME_tmpl.
 *
 * A build-time tool for the host; it never runs on a request. Exit 0, or 1
 * with a message on stderr.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPL_MAX	(64 * 1024)	/* template bytes */
#define PIECE_MAX	65535		/* bytes between slots: unsigned short */
#define SLOTNAME_MAX	32

static uint32_t	k[64], h0[8];

/* The first 32 bits of the fractional part of x. */
static uint32_t
frac32(double x)
{
	return (uint32_t)((x - floor(x)) * 4294967296.0);
}

/* SHA-256 constants: fractional parts of the roots of the first primes. */
static void
sha256_init_consts(void)
{
	int	 n = 0, p, d;

	for (p = 2; n < 64; p++) {
		for (d = 2; d * d <= p; d++)
			if (p % d == 0)
				break;
		if (d * d <= p)
			continue;
		if (n < 8)
			h0[n] = frac32(sqrt((double)p));
		k[n++] = frac32(cbrt((double)p));
	}
}

#define ROR(x, n)	((x) >> (n) | (x) << (32 - (n)))

static void
sha256_block(uint32_t h[8], const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int	 i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		    (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ w[i - 15] >> 3) +
		    (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ w[i - 2] >> 10);
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & c) ^ (b & c));
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

/* out: the 32-byte digest of s[0..n). */
static void
sha256(const unsigned char *s, size_t n, unsigned char out[32])
{
	uint32_t h[8];
	unsigned char last[128];
	size_t	 i, tail = n % 64, lastlen = tail < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)n * 8;

	memcpy(h, h0, sizeof(h));
	for (i = 0; i + 64 <= n; i += 64)
		sha256_block(h, s + i);
	memset(last, 0, sizeof(last));
	memcpy(last, s + i, tail);
	last[tail] = 0x80;
	for (i = 0; i < 8; i++)
		last[lastlen - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < lastlen; i += 64)
		sha256_block(h, last + i);
	for (i = 0; i < 32; i++)
		out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* NUL-terminated standard base64 (RFC 4648 4) of d[0..n) into out. */
static void
base64(const unsigned char *d, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	 i;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)d[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		*out++ = a[v >> 18 & 63];
		*out++ = a[v >> 12 & 63];
		*out++ = i + 1 < n ? a[v >> 6 & 63] : '=';
		*out++ = i + 2 < n ? a[v & 63] : '=';
	}
	*out = '\0';
}

static void
die(const char *msg)
{
	fprintf(stderr, "embed: %s\n", msg);
	exit(1);
}

/* Refuse to run with wrong constants: check the FIPS 180-4 "abc" example. */
static void
sha256_selftest(void)
{
	static const unsigned char want[4] = { 0xba, 0x78, 0x16, 0xbf };
	unsigned char out[32];
	char	 b64[48];

	sha256((const unsigned char *)"abc", 3, out);
	base64(out, 32, b64);
	if (memcmp(out, want, 4) != 0 || out[31] != 0xad ||
	    strcmp(b64, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=") != 0)
		die("SHA-256 self-test failed");
}

/*
 * Find the content of the only element opened by exactly `open` (e.g.
 * "<script>") and closed by `close`. Sets *b and *e; dies unless there is
 * exactly one such element.
 */
static void
element(const char *t, const char *open, const char *close,
    const char **b, const char **e)
{
	const char *p = strstr(t, open);

	if (p == NULL || strstr(p + 1, open) != NULL)
		die("the template needs exactly one plain <script> and <style>");
	*b = p + strlen(open);
	if ((*e = strstr(*b, close)) == NULL)
		die("an element is not closed");
}

static void
put_csp(const char *name, const char *what, const char *b, const char *e)
{
	unsigned char d[32];
	char	 b64[48];

	sha256((const unsigned char *)b, (size_t)(e - b), d);
	base64(d, 32, b64);
	printf("#define ");
	for (; *name != '\0'; name++)
		putchar(toupper((unsigned char)*name));
	printf("_%s_CSP \"'sha256-%s'\"\n", what, b64);
}

/* Write t[0..n) as the body of a C string literal, one line per line. */
static void
put_literal(const char *t, size_t n)
{
	size_t	 i;
	unsigned char c;

	fputs("\t{ \"", stdout);
	for (i = 0; i < n; i++) {
		c = (unsigned char)t[i];
		if (c == '\n')
			fputs(i + 1 < n ? "\\n\"\n\t  \"" : "\\n", stdout);
		else if (c == '"' || c == '\\' || c == '?')
			printf("\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			printf("\\%03o", c);
		else
			putchar(c);
	}
	printf("\", %zu, ", n);
}

int
main(int argc, char *argv[])
{
	static char t[TMPL_MAX + 1];
	const char *sb, *se, *yb, *ye, *p, *q, *end;
	size_t	 n, i;
	int	 slots = 0;

	if (argc != 2)
		die("usage: embed NAME < template.html > template.h");
	sha256_init_consts();
	sha256_selftest();
	n = fread(t, 1, sizeof(t), stdin);
	if (ferror(stdin) || n > TMPL_MAX)
		die("cannot read the template, or it is over 64 KiB");
	if (memchr(t, '\0', n) != NULL)
		die("the template holds a NUL byte");
	t[n] = '\0';
	end = t + n;
	element(t, "<script>", "</script>", &sb, &se);
	element(t, "<style>", "</style>", &yb, &ye);

	printf("/* Generated by templates/embed.c. Do not edit. */\n");
	put_csp(argv[1], "SCRIPT", sb, se);
	put_csp(argv[1], "STYLE", yb, ye);
	printf("static const struct tmpl_piece %s_tmpl[] = {\n", argv[1]);
	for (p = t;; p = q + 2) {
		q = strstr(p, "@@");
		if (q == NULL) {
			if ((size_t)(end - p) > PIECE_MAX)
				die("text between slots is over 65535 bytes");
			put_literal(p, (size_t)(end - p));
			printf("0 }\n};\n");
			break;
		}
		if ((q > sb && q < se) || (q > yb && q < ye))
			die("a slot inside the hashed <script> or <style>");
		if ((size_t)(q - p) > PIECE_MAX)
			die("text between slots is over 65535 bytes");
		put_literal(p, (size_t)(q - p));
		p = q + 2;
		for (i = 0; p[i] >= 'A' && p[i] <= 'Z'; i++)
			;
		if (i == 0 || i > SLOTNAME_MAX || strncmp(p + i, "@@", 2) != 0)
			die("a slot is not @@NAME@@ with NAME in A-Z");
		printf("SLOT_%.*s },\n", (int)i, p);
		q = p + i;
		slots++;
	}
	if (slots > 250)
		die("too many slots");
	return ferror(stdout) || fflush(stdout) != 0;
}
