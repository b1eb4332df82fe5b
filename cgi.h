/*
 * cgi.h: the seam between moscow-time's application (cgi.c: read the CGI
 * variables, decide, write once) and its front ends: the CGI main in
 * cgi.c itself (native and WASI), and the FastCGI responder (fcgi.c). A
 * front end points env_vars at one request's "NAME=value" strings and
 * calls cgi_request() with a writer that carries the response where it
 * goes. The wasi:http component (component.c) has no variables: it fills
 * a struct cgireq from the request, calls handle() itself, and sends the
 * status, resp_fields() and the body through wasi:http.
 */
#ifndef CGI_H
#define CGI_H

#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>

#include "render.h"

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

enum status {
	S_OK = 200,
	S_NO_CONTENT = 204,
	S_BAD_REQUEST = 400,
	S_NOT_FOUND = 404,
	S_METHOD_NOT_ALLOWED = 405,
	S_FIELDS_TOO_LARGE = 431,
	S_INTERNAL = 500
};

/* The variables a request is decided on; NULL when unset. */
struct cgireq {
	const char	*method;	/* REQUEST_METHOD */
	const char	*path_info;	/* PATH_INFO, decoded by the host */
	const char	*raw_path;	/* X_RAW_PATH_INFO (WAGI), not decoded */
	const char	*script_name;	/* SCRIPT_NAME: prefix of every link */
	int		 too_large;	/* the front end could not hold it: 431 */
};

/* A decided response; the body is already rendered into body. */
struct resp {
	enum status	 status;
	const char	*ctype;		/* NULL: no body at all (204) */
	const char	*csp;
	int		 allow;		/* send Allow */
	int		 head;		/* HEAD: headers only */
	struct buf	 body;
};

/*
 * A response's header fields, in the order they are sent: the CGI header
 * block (after its Status line) and the component's wasi:http fields are
 * both made from resp_fields(). A field is two (pointer, length) pairs,
 * which on wasm32 is the canonical ABI's tuple<string, list<u8>>.
 */
#define RESP_FIELDS_MAX	7
struct field {
	const char	*name;
	size_t		 namelen;
	const char	*value;
	size_t		 valuelen;
};
struct fields {
	struct field	 f[RESP_FIELDS_MAX];
	size_t		 n;
	char		 num[24];	/* Content-Length's digits */
};

/* A 200 with nothing decided yet to method m (NULL: none), body in cap bytes. */
void	 resp_init(struct resp *, const char *m, char *body, size_t cap);
/* Decide the response to a request at a time (see cgi(1)); it always fits. */
void	 handle(const struct cgireq *, int64_t now, struct resp *);
/* The header fields of a decided response. */
void	 resp_fields(const struct resp *, struct fields *);

/* Bytes of r's body that are sent: none for HEAD, nor with no body (204). */
static inline size_t
resp_body_sent(const struct resp *r)
{
	return r->head || r->ctype == NULL ? 0 : r->body.len;
}

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
