/*
 * component.c: moscow-time as a wasi:http component (make component:
 * cgi.component.wasm), the third front end of the application in cgi.c,
 * beside the CGI main and the FastCGI responder. Spin (its default
 * executor), wasmtime serve, wasmCloud, runwasi's wasmtime shim and jco
 * serve call its wasi:http/incoming-handler once per request.
 *
 * Read: the request's method and path, and under Spin the route it is
 * mounted at, become a struct cgireq, as the CGI variables do: the path
 * is WAGI's raw path, decoded once by handle(); SCRIPT_NAME is the
 * matched route without its "/..." when Spin's headers say so, else
 * empty. Decide: handle(), at the time of wasi:clocks/wall-clock. Write:
 * the status, resp_fields() (the same fields as the CGI header block) and,
 * unless HEAD or 204, the body through an output stream.
 *
 * No heap and no libc start-up: everything the host hands over lands in
 * a static arena through cabi_realloc, reset for each request. A request
 * that does not fit in it is answered 431, never with a trap. The
 * component imports only wasi:http/types, wasi:io and the wall clock, so
 * it needs no preview1 adapter and no wasi:cli (wasi-http.h is the glue).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cgi.h"
#include "wasi-http.h"

/*
 * Bytes the host may hand over for one request: the method, the path and
 * query, and the Spin headers read (the path is in two of them under
 * Spin). Past it, 431: nginx's default buffer for a request line is as
 * large, and the page's paths are at most PATH_MAX_BYTES.
 */
#define ARENA_BYTES	(8 * 1024)

static char	 arena[ARENA_BYTES] __attribute__((aligned(8)));
static size_t	 used;
static int	 overflow;		/* something did not fit: 431 */

/* The end of the static data, where nothing lives: see sink(). */
extern unsigned char __heap_base;

/*
 * Room for an allocation that does not fit in the arena: it is written
 * over the memory above the static data, which nothing uses (there is no
 * heap), grown when the host asks for more than there is, and never read:
 * the request is answered 431. Every such allocation shares it.
 */
static void *
sink(size_t size)
{
	uintptr_t base = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
	size_t	 have = __builtin_wasm_memory_size(0) * 65536;

	if (base + size > have)
		(void)__builtin_wasm_memory_grow(0,
		    (base + size - have + 65535) / 65536);
	return (void *)base;
}

/*
 * The allocator the host calls to hand over a string or a list: a bump
 * over the arena, with a NUL after each block, so that every string the
 * host writes is also a C string.
 */
__attribute__((export_name("cabi_realloc"))) void *
cabi_realloc(void *old, size_t oldsize, size_t align, size_t size)
{
	size_t	 at = (used + align - 1) & ~(align - 1);
	char	*p;

	if (at > ARENA_BYTES || size >= ARENA_BYTES - at) {
		overflow = 1;
		return sink(size);
	}
	p = arena + at;
	used = at + size + 1;
	p[size] = '\0';
	if (old != NULL)
		memcpy(p, old, oldsize < size ? oldsize : size);
	return p;
}

/* 1 if the n bytes the host wrote at p are in the arena, with the NUL after. */
static int
in_arena(uint32_t p, size_t n)
{
	const char *s = (const char *)(uintptr_t)p;

	return !overflow && s >= arena && s < arena + ARENA_BYTES &&
	    n < (size_t)(arena + ARENA_BYTES - s);
}

/* The host's string or byte list at (p, n) as a C string; NULL if it holds a NUL. */
static char *
cstr(uint32_t p, uint32_t n)
{
	if (n == 0)
		return (char *)"";
	if (!in_arena(p, n) || strlen((char *)(uintptr_t)p) != n)
		return NULL;
	return (char *)(uintptr_t)p;
}

/* The first value of the request's field name, or NULL. */
static char *
header(int32_t fields, const char *name)
{
	struct retarea ra;
	const uint32_t *v;

	fields_get(fields, name, (uint32_t)strlen(name), &ra);
	if (RET_U32(&ra, 4) == 0 || !in_arena(RET_U32(&ra, 0), 8))
		return NULL;
	v = (const uint32_t *)(uintptr_t)RET_U32(&ra, 0);
	return cstr(v[0], v[1]);
}

/*
 * Read the request into q: its method, its raw path (the path of
 * path-with-query, or Spin's spin-path-info) and SCRIPT_NAME (Spin's
 * matched route without "/..."); the request is dropped.
 */
static void
read_request(int32_t req, struct cgireq *q)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
	    "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH" };
	struct retarea ra;
	char	*path = NULL, *route, *info, *e;
	int32_t	 h;
	size_t	 n;

	req_method(req, &ra);
	q->method = RET_U8(&ra, 0) < sizeof(methods) / sizeof(methods[0]) ?
	    methods[RET_U8(&ra, 0)] : cstr(RET_U32(&ra, 4), RET_U32(&ra, 8));
	req_path_with_query(req, &ra);
	if (RET_U8(&ra, 0) != 0 &&
	    (path = cstr(RET_U32(&ra, 4), RET_U32(&ra, 8))) != NULL) {
		for (e = path; *e != '\0' && *e != '?'; e++)
			;
		*e = '\0';		/* the query: the CGI reads none */
	} else if (RET_U8(&ra, 0) != 0)
		path = (char *)"%00";	/* a NUL in the path: 400, as its escape */
	/* every call to the host costs: the route only under Spin */
	h = req_headers(req);
	route = NULL;
	if ((info = header(h, "spin-path-info")) != NULL &&
	    (route = header(h, "spin-matched-route")) == NULL)
		route = header(h, "spin-raw-component-route");
	fields_drop(h);
	req_drop(req);

	q->script_name = "";
	q->raw_path = path != NULL ? path : "";
	if (route != NULL && info != NULL) {
		n = strlen(route);
		if (n >= 4 && strcmp(route + n - 4, "/...") == 0)
			route[n - 4] = '\0';
		q->script_name = route;
		q->raw_path = info;
	}
	q->path_info = NULL;
	q->too_large = overflow;
	if (overflow)
		q->method = q->raw_path = q->script_name = NULL;
}

/* Send r: the status and fields, then the body unless there is none. */
static void
send_response(int32_t out, const struct resp *r)
{
	struct retarea ra;
	struct fields fs;
	const char *p = r->body.p;
	size_t	 left = resp_body_sent(r), n;
	int32_t	 resp, body, stream;

	resp_fields(r, &fs);
	fields_from_list(fs.f, (uint32_t)fs.n, &ra);
	if (RET_U8(&ra, 0) != 0)		/* a field the host refuses */
		fields_from_list(NULL, 0, &ra);
	resp = resp_new((int32_t)RET_U32(&ra, 4));
	if (r->status != S_OK)		/* a new response is a 200 */
		(void)resp_set_status(resp, (int32_t)r->status);
	/* A body even when none is sent: jco's host requires one. */
	resp_body(resp, &ra);
	body = (int32_t)RET_U32(&ra, 4);
	outparam_set(out, 0, resp, 0, 0, 0, 0, 0, 0);
	if (RET_U8(&ra, 0) != 0)
		return;
	body_write(body, &ra);
	if (RET_U8(&ra, 0) == 0) {
		stream = (int32_t)RET_U32(&ra, 4);
		for (; left > 0; p += n, left -= n) {
			n = left < STREAM_WRITE_MAX ? left : STREAM_WRITE_MAX;
			stream_write(stream, p, (uint32_t)n, &ra);
			if (RET_U8(&ra, 0) != 0) {	/* the client is gone */
				if (RET_U8(&ra, 4) == 0)
					error_drop((int32_t)RET_U32(&ra, 8));
				break;
			}
		}
		stream_drop(stream);
	}
	body_finish(body, 0, 0, &ra);
}

__attribute__((export_name("wasi:http/incoming-handler@0.2.0#handle"))) void
incoming_handle(int32_t req, int32_t out)
{
	static char body[RESP_BODY_MAX];
	struct retarea ra;
	struct cgireq q;
	struct resp r;

	used = 0;
	overflow = 0;
	read_request(req, &q);
	wall_clock_now(&ra);
	resp_init(&r, q.method, body, sizeof(body));
	handle(&q, (int64_t)RET_U64(&ra, 0), &r);
	send_response(out, &r);
}
