/*
 * http.h: serve's HTTP/1.1 layer (RFC 9112) and its CGI gateway (RFC
 * 3875), as pure functions in http.c: every one turns bytes into
 * decisions or decisions into bytes, over a buffer and its length, with
 * the time as an argument; no globals, no I/O. serve.c owns the sockets,
 * the programs and the loop; tests/unit/t_serve.c and
 * tests/fuzz/fuzz_serve.c link http.c alone.
 */
#ifndef HTTP_H
#define HTTP_H

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "render.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif
#define SOFTWARE	"moscow-time-serve/" VERSION

/*
 * Limits of a request, of a program's answer and of what serve builds
 * from them. Each is documented in serve(1) and tested at its edge.
 */
#define HEAD_MAX	8192		/* bytes of a request head: 431 */
#define FIELDS_MAX	100		/* header fields in a request: 431 */
#define TARGET_MAX	4096		/* bytes of a request target: 414 */
#define BODY_MAX	(1024 * 1024)	/* bytes of a request body: 413 */
#define CHUNKED_MAX	(BODY_MAX + BODY_MAX / 2) /* raw bytes of a chunked body: 413 */
#define CHUNK_EXT_MAX	1024		/* bytes of one chunk's extensions: 400 */
#define CGI_HEAD_MAX	8192		/* bytes of a CGI header block: 502 */
#define CGI_FIELDS_MAX	64		/* fields of a CGI header block: 502 */
#define ENV_MAX		(FIELDS_MAX + 32) /* variables of the CGI's environment */
#define ENV_FIXED	2048		/* bytes of the environment not from the head */
/*
 * The environment holds the target five times at most (REQUEST_URI,
 * X_RAW_PATH_INFO, PATH_INFO, X_FULL_URL, and QUERY_STRING with
 * SERVER_NAME from an absolute-form target), the Host three times
 * (SERVER_NAME, X_FULL_URL, HTTP_HOST) and every other field once, with
 * 7 bytes of "HTTP_", "=" and NUL for a field line's 4 of ": " and CRLF:
 * so any head within the limits fits.
 */
#define ENV_BYTES	(5 * TARGET_MAX + 3 * HEAD_MAX + 3 * FIELDS_MAX + ENV_FIXED)
#define LOG_LINE_MAX	1024		/* bytes of an access log line */
#define LOG_REQ_MAX	512		/* bytes of the request line in it */

/*
 * The statuses serve answers with or names; a program may send any other
 * three-digit status, which gets its class's phrase.
 */
enum status {
	S_NONE = 0,			/* no status decided yet */
	S_CONTINUE = 100,
	S_OK = 200, S_CREATED = 201, S_ACCEPTED = 202, S_NO_CONTENT = 204,
	S_MOVED = 301, S_FOUND = 302, S_SEE_OTHER = 303, S_NOT_MODIFIED = 304,
	S_TEMPORARY_REDIRECT = 307, S_PERMANENT_REDIRECT = 308,
	S_BAD_REQUEST = 400, S_UNAUTHORIZED = 401, S_FORBIDDEN = 403,
	S_NOT_FOUND = 404, S_METHOD_NOT_ALLOWED = 405, S_TIMEOUT = 408,
	S_TOO_LARGE = 413, S_URI_TOO_LONG = 414, S_EXPECTATION = 417,
	S_HEAD_TOO_LARGE = 431,
	S_CLIENT_GONE = 499,		/* logged only: the client left first */
	S_INTERNAL = 500, S_NOT_IMPLEMENTED = 501, S_BAD_GATEWAY = 502,
	S_UNAVAILABLE = 503, S_GATEWAY_TIMEOUT = 504, S_VERSION = 505
};

/* ---- Parsing a request head (RFC 9112 2-6) ------------------------- */

struct field {
	const char	*name, *value;
	size_t		 nlen, vlen;
};

/* A parsed request; every pointer points into the head buffer. */
struct req {
	const char	*method, *target, *path, *query, *host;
	size_t		 mlen, tlen, plen, qlen, hostlen;
	int		 minor;		/* HTTP/1.minor */
	struct field	 f[FIELDS_MAX];
	int		 nf;
	int64_t		 clen;		/* Content-Length, -1 if none */
	int		 chunked;
	int		 close;		/* the client asked to close */
	int		 expect100;
	int		 asterisk;	/* OPTIONS * */
};

/* ---- De-chunking a request body (RFC 9112 7.1) --------------------- */

enum chunkstate {
	CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF,
	CK_TRAILER, CK_TRAILER_LF, CK_DONE
};

/* Where a de-chunking stands; all zero to begin. */
struct chunked {
	enum chunkstate	 st;
	size_t		 in;		/* raw bytes consumed */
	size_t		 out;		/* body bytes produced */
	size_t		 left;		/* bytes left in this chunk */
	size_t		 size;		/* the chunk size being read */
	size_t		 ext;		/* extension bytes of this line */
	int		 digits;
	int		 linelen;	/* bytes of the current trailer line */
};

/* ---- The CGI's environment (RFC 3875 4.1) -------------------------- */

/* What serve knows about a connection: numeric addresses and ports. */
struct conninfo {
	char	 peer[INET6_ADDRSTRLEN], peerport[6];
	char	 local[INET6_ADDRSTRLEN], localport[6];
};

struct env {
	char	*v[ENV_MAX + 1];
	int	 n;
	struct buf b;
};

/* ---- Parsing the CGI's output (RFC 3875 6) ------------------------- */

struct cgiout {
	enum status	 status;	/* any three digits the program sent */
	const char	*reason;
	size_t		 rlen;
	int64_t		 clen;		/* the CGI's Content-Length, -1 if none */
	struct field	 f[CGI_FIELDS_MAX];	/* fields to forward */
	int		 nf;
	size_t		 headlen;	/* bytes up to and with the blank line */
};

/* ---- Rendering ----------------------------------------------------- */

/* How a response's body is framed. */
struct frame {
	int	 nobody;	/* HEAD, 204, 304: no body may follow */
	int	 chunked;	/* HTTP/1.1 and the length unknown */
	int	 keep;		/* the connection stays open after it */
};

/* ---- The functions (http.c) ------------------------------------------ */

const char *status_text(enum status s);
int	 ieqs(const char *a, size_t alen, const char *b);
long	 head_end(const char *buf, size_t len, size_t *from);
int	 field_line(const char *p, size_t n, struct field *f);
int	 host_valid(const char *h, size_t n);
enum status parse_head(const char *buf, size_t len, struct req *r);
long	 path_normalize(char *out, const char *path, size_t n);
int	 dechunk(struct chunked *s, const char *raw, size_t len, char *out,
    size_t cap);
void	 buf_addr(struct buf *b, const char *a);
int	 build_env(struct env *e, char *mem, size_t cap, const struct req *r,
    const struct conninfo *ci, const char *pathinfo, size_t pilen,
    size_t bodylen);
int	 parse_cgi_head(const char *buf, size_t len, int eof, struct cgiout *o);
void	 render_imf_date(struct buf *b, int64_t t);
void	 log_esc(struct buf *b, const char *s, size_t n);
void	 addr_ntop(int family, const void *a, char *out);
void	 render_resp_head(struct buf *h, int minor, const struct cgiout *co,
    int head, int complete, size_t len, int64_t now, struct frame *fr);
size_t	 render_own(struct buf *b, enum status status, int head, int keep,
    int64_t now);
void	 ms_timespec(int64_t ms, struct timespec *ts);
size_t	 render_log_line(char *mem, const char *peer, int64_t t,
    const char *line, size_t linelen, enum status status, uint64_t bytes);

#endif
