/*
 * noop-fcgi: the FastCGI floor for the benchmark. A libfcgi responder
 * that answers every request with the same few bytes: what nginx and
 * libfcgi cost before cgi.fcgi does any work of its own.
 */
#include <fcgiapp.h>

int
main(void)
{
	static const char r[] = "Content-Type: application/json\r\n\r\n"
	    "{\"moscow_time\":\"2026-01-01 00:00:00 MSK\",\"timestamp\":0}\n";
	FCGX_Request rq;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&rq, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&rq) >= 0) {
		FCGX_PutStr(r, (int)sizeof(r) - 1, rq.out);
		FCGX_Finish_r(&rq);
	}
	return 0;
}
