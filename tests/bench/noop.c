/* noop: the floor for the benchmarks. As a program it does nothing; as a
 * CGI (REQUEST_METHOD set) it writes the smallest valid answer. Built
 * static with musl, like the static cgi it is measured against, and as a
 * WASI module; with -DREAD_CLOCK it also reads the clock, which a module
 * does through one more import (clock_time_get), and with -DREAD_ARGS
 * (WASI only) its arguments, through two more (args_sizes_get, args_get):
 * both, and it imports what cgi.wasm imports. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#ifdef READ_ARGS
#include <wasi/api.h>
#endif

int
main(void)
{
	static const char r[] = "Content-Type: text/plain\r\n\r\nok\n";

#ifdef READ_CLOCK
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
#endif
#ifdef READ_ARGS
	static char *argv[8], bytes[256];
	__wasi_size_t count, size;

	if (__wasi_args_sizes_get(&count, &size) == 0 && count < 8 &&
	    size <= sizeof(bytes))
		(void)__wasi_args_get((uint8_t **)argv, (uint8_t *)bytes);
#endif
	if (getenv("REQUEST_METHOD") != NULL)
		(void)!write(STDOUT_FILENO, r, sizeof(r) - 1);
	return 0;
}
