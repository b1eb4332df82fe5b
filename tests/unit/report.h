/*
 * report.h: the one output format of the unit tables: "ok - SUITE: what"
 * or "FAIL - SUITE: what (N mismatches)" per table, and a closing count.
 * Define REPORT_SUITE before including it.
 */
#include <stdio.h>

static int	 oks, fails;

static void
report(const char *what, int bad)
{
	if (bad) {
		fails++;
		printf("FAIL - %s: %s (%d mismatches)\n", REPORT_SUITE, what, bad);
	} else {
		oks++;
		printf("ok - %s: %s\n", REPORT_SUITE, what);
	}
}

/* The closing line and the exit status for main. */
static int
report_done(void)
{
	printf("# %s: %d passed, %d failed\n", REPORT_SUITE, oks, fails);
	return fails != 0;
}
