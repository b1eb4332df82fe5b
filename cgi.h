/*
 * cgi.h: the seam between moscow-time's application (cgi.c: read the CGI
 * variables, decide, write once) and its front ends: the CGI main in
 * cgi.c itself (native and WASI), and the FastCGI responder (fcgi.c). A
 * front end points env_vars at one request's "NAME=value" strings and
 * calls cgi_request() with a writer that carries the response where it
 * goes.
 */
#ifndef CGI_H
#define CGI_H

#include <sys/uio.h>

/*
 * Limits. RESP_BODY_MAX holds the page with a SCRIPT_NAME of
 * PATH_MAX_BYTES escaped in its three places (6 bytes per byte at worst),
 * so a full buffer, which would give a 500, is a bug and not an input.
 * Both RESP_ limits are of the response this program writes, not of a
 * request. ENV_BYTES_MAX, for a front end that holds its own copy of the
 * variables (WASI, FastCGI), is twice the preview1 adapter's cap on
 * arguments plus environment (near 64 KiB) and four times nginx's default
 * for a request's headers; past it or ENV_VARS_MAX the answer is
 * env_fail()'s.
 */
#define PATH_MAX_BYTES	1024		/* bytes of PATH_INFO, X_RAW_PATH_INFO, SCRIPT_NAME: 400 */
#define RESP_BODY_MAX	(32 * 1024)	/* bytes of a rendered response body */
#define RESP_HEAD_MAX	1024		/* bytes of the response's CGI header block */
#define ENV_BYTES_MAX	(128 * 1024)	/* bytes of NAME=value\0 strings held for a request */
#define ENV_VARS_MAX	2048		/* variables held for a request */

/* Where a response goes: fd 1, or a FastCGI stream. */
struct writer {
	int	(*write)(void *ctx, struct iovec *iov, int cnt);	/* 0, or -1 */
	void	 *ctx;
};

/* The variables of the request being answered, up to a NULL. */
extern char	**env_vars;

/* Answer one request from env_vars through w (see cgi(1)). Always 0. */
int	 cgi_request(const struct writer *);
/* The 500 for variables that cannot be read or are over the limits. */
void	 env_fail(const struct writer *);
/* The plain CGI and the shell, as the program's main. */
int	 cgi_main(int, char *[]);
/* One line on standard error: "cgi: a b". */
void	 msg(const char *, const char *);

#endif
