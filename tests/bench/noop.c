/* noop: the floor for the benchmarks. As a program it does nothing; as a
 * CGI (REQUEST_METHOD set) it writes the smallest valid answer. Built
 * static with musl, like the static cgi it is measured against. */
#include <stdlib.h>
#include <unistd.h>

int
main(void)
{
	static const char r[] = "Content-Type: text/plain\r\n\r\nok\n";

	if (getenv("REQUEST_METHOD") != NULL)
		(void)!write(STDOUT_FILENO, r, sizeof(r) - 1);
	return 0;
}
