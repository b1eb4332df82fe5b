/*
 * check.h: the harnesses' one assertion. A broken rule is reported with
 * the harness's name (FUZZ_NAME) and aborts, which libFuzzer keeps as a
 * crash with its input.
 */
#include <stdio.h>
#include <stdlib.h>

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "%s: %s\n", FUZZ_NAME, what);
		abort();
	}
}
