/*
 * fuzz_fcgi: libFuzzer harness over the FastCGI responder's input side
 * (fcgi.c, linked with cgi.c as in cgi.fcgi): the record reader, the
 * name-value decoder,
 * management records and every request it completes, answered into
 * /dev/null. The first byte sets how many bytes arrive per read (1-64), so
 * records and pairs split anywhere; the rest is the byte stream a web
 * server would send, requests multiplexed or not. Aborts on a broken
 * rule: a request's parameters past ENV_BYTES_MAX, the requests arriving
 * miscounted, a complete record kept untaken, a decoded
 * variable without its '=' or longer than its share of the input, or the
 * decoder writing past a text buffer of the input's own size (ASan).
 *
 *	make fuzz && tests/fuzz/fuzz_fcgi -max_total_time=60 tests/fuzz/seeds-fcgi
 */
/* the responder; cgi.c, the application it calls, is linked beside it */
#define main fcgi_main
#include "../../fcgi.c"
#undef main

#include <stdio.h>

#define FUZZ_NAME "fuzz_fcgi"
#include "check.h"

/* The decoder alone, over the whole input as one FCGI_PARAMS stream. */
static void
pairs_alone(const uint8_t *p, size_t n)
{
	static char *vars[ENV_VARS_MAX + 1];
	char	*text = malloc(n > 0 ? n : 1);
	long	 cnt, i;
	size_t	 sum = 0;

	check(text != NULL, "out of memory");
	cnt = fcgi_pairs(p, n, text, n, vars, ENV_VARS_MAX);
	for (i = 0; i < cnt; i++) {
		check(strchr(vars[i], '=') > vars[i], "a variable without a name");
		sum += strlen(vars[i]) + 1;
	}
	check(cnt < 0 || (vars[cnt] == NULL && sum <= n), "decoded more than the input");
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	struct fconn c;
	struct fcgi_rec r;
	size_t	 i = 1, step, n;
	int	 k, nopen;

	if (size == 0)
		return 0;
	pairs_alone(data + 1, size - 1);
	if (devnull == -1 && (devnull = open("/dev/null", O_WRONLY)) == -1)
		abort();
	memset(&c, 0, sizeof(c));
	c.fd = devnull;
	step = data[0] % 64 + 1;
	while (i < size && !c.dead && !c.done) {
		n = size - i < step ? size - i : step;
		fcgi_input(&c, data + i, n);
		fcgi_flush(&c);
		i += n;
		for (k = nopen = 0; k < FCGI_MPX_OPEN; k++) {
			check(c.r[k].parlen <= ENV_BYTES_MAX,
			    "parameters past ENV_BYTES_MAX");
			nopen += c.r[k].id != 0;
		}
		check(nopen == c.nopen, "requests arriving miscounted");
		check(outq_empty(&c.out), "output held though /dev/null takes all");
		check(c.dead || c.done || fcgi_record(c.in, c.inlen, &r) == 0,
		    "a complete record left untaken");
	}
	free(c.in);
	for (k = 0; k < FCGI_MPX_OPEN; k++)
		free(c.r[k].par);
	outq_free(&c.out);
	return 0;
}
