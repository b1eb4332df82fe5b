/* noop: the floor for the benchmarks. As a program it does nothing; as a
 * CGI (REQUEST_METHOD set) it writes the smallest valid answer. Built
 * static with musl, like the static cgi it is measured against, and as a
 * WASI module; with -DREAD_CLOCK it also reads the clock, which a module
 * does through one more import (clock_time_get): it then imports exactly
 * what cgi.wasm imports. With -DPRINT it also prints a line on a shell,
 * as cgi does: jco's output path costs a process tens of milliseconds. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int
main(void)
{
	static const char r[] = "Content-Type: text/plain\r\n\r\nok\n";

#ifdef READ_CLOCK
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
#endif
	if (getenv("REQUEST_METHOD") != NULL)
		(void)!write(STDOUT_FILENO, r, sizeof(r) - 1);
#ifdef PRINT
	else
		(void)!write(STDOUT_FILENO, "{}\n", 3);
#endif
	return 0;
}
