/*
 * wasi-http.h: the canonical-ABI glue of cgi.component.wasm, written by
 * hand for exactly the wasi 0.2.0 functions component.c uses (there is no
 * wit-bindgen here). Each import is the core function the component
 * model lowers the WIT function to, as `node wit/component.mjs --dummy`
 * prints them: a resource is an i32 handle; a string or list is (pointer,
 * length); a result of more than one flat value is written to a return
 * area whose pointer is the last parameter (its discriminant at offset 0,
 * the payload at the payload's alignment); a list or string the host
 * returns is written to memory it asks for through cabi_realloc.
 */
#ifndef WASI_HTTP_H
#define WASI_HTTP_H

#include <stdint.h>

#define WASI_IMPORT(module, name) \
	__attribute__((import_module(module), import_name(name)))
#define HTTP_TYPES	"wasi:http/types@0.2.0"
#define IO_STREAMS	"wasi:io/streams@0.2.0"

/*
 * A return area: large enough and aligned for every result read here,
 * including result<_, error-code> of outgoing-body.finish, whose
 * payload (ignored) is the largest.
 */
struct retarea {
	uint8_t b[64] __attribute__((aligned(8)));
};
#define RET_U8(ra, off)		(*(const uint8_t *)((ra)->b + (off)))
#define RET_U32(ra, off)	(*(const uint32_t *)((ra)->b + (off)))
#define RET_U64(ra, off)	(*(const uint64_t *)((ra)->b + (off)))

/* wasi:clocks/wall-clock.now: func() -> datetime {seconds: u64, nanoseconds: u32} */
WASI_IMPORT("wasi:clocks/wall-clock@0.2.0", "now")
void	wall_clock_now(struct retarea *);

/* incoming-request.method: func() -> method (a variant: tag, other's string at 4, 8) */
WASI_IMPORT(HTTP_TYPES, "[method]incoming-request.method")
void	req_method(int32_t req, struct retarea *);
/* incoming-request.path-with-query: func() -> option<string> (tag, ptr at 4, len at 8) */
WASI_IMPORT(HTTP_TYPES, "[method]incoming-request.path-with-query")
void	req_path_with_query(int32_t req, struct retarea *);
/* incoming-request.headers: func() -> headers (a child of the request) */
WASI_IMPORT(HTTP_TYPES, "[method]incoming-request.headers")
int32_t	req_headers(int32_t req);
WASI_IMPORT(HTTP_TYPES, "[resource-drop]incoming-request")
void	req_drop(int32_t req);

/* fields.get: func(name: field-key) -> list<field-value> (ptr, len of (ptr, len) pairs) */
WASI_IMPORT(HTTP_TYPES, "[method]fields.get")
void	fields_get(int32_t fields, const char *name, uint32_t namelen,
	    struct retarea *);
/* fields.from-list: static func(list<tuple<field-key, field-value>>) -> result<fields, header-error> */
WASI_IMPORT(HTTP_TYPES, "[static]fields.from-list")
void	fields_from_list(const void *entries, uint32_t n, struct retarea *);
WASI_IMPORT(HTTP_TYPES, "[resource-drop]fields")
void	fields_drop(int32_t fields);

/* [constructor]outgoing-response(headers) (takes the fields) */
WASI_IMPORT(HTTP_TYPES, "[constructor]outgoing-response")
int32_t	resp_new(int32_t fields);
/* outgoing-response.set-status-code: func(u16) -> result (0: ok) */
WASI_IMPORT(HTTP_TYPES, "[method]outgoing-response.set-status-code")
int32_t	resp_set_status(int32_t resp, int32_t code);
/* outgoing-response.body: func() -> result<outgoing-body> (tag, handle at 4) */
WASI_IMPORT(HTTP_TYPES, "[method]outgoing-response.body")
void	resp_body(int32_t resp, struct retarea *);
WASI_IMPORT(HTTP_TYPES, "[resource-drop]outgoing-response")
void	resp_drop(int32_t resp);
/* outgoing-body.write: func() -> result<output-stream> (tag, handle at 4) */
WASI_IMPORT(HTTP_TYPES, "[method]outgoing-body.write")
void	body_write(int32_t body, struct retarea *);
/* outgoing-body.finish: static func(this, option<trailers>) -> result<_, error-code> */
WASI_IMPORT(HTTP_TYPES, "[static]outgoing-body.finish")
void	body_finish(int32_t body, int32_t has_trailers, int32_t trailers,
	    struct retarea *);
/*
 * response-outparam.set: static func(param, result<outgoing-response,
 * error-code>): the result flattened, here always its ok case.
 */
WASI_IMPORT(HTTP_TYPES, "[static]response-outparam.set")
void	outparam_set(int32_t out, int32_t is_err, int32_t resp, int32_t,
	    int64_t, int32_t, int32_t, int32_t, int32_t);

/*
 * output-stream.blocking-write-and-flush: func(list<u8>) -> result<_,
 * stream-error> (tag; stream-error's tag at 4, last-operation-failed's
 * error handle at 8). At most 4096 bytes a call.
 */
#define STREAM_WRITE_MAX	4096
WASI_IMPORT(IO_STREAMS, "[method]output-stream.blocking-write-and-flush")
void	stream_write(int32_t stream, const void *p, uint32_t len,
	    struct retarea *);
WASI_IMPORT(IO_STREAMS, "[resource-drop]output-stream")
void	stream_drop(int32_t stream);
WASI_IMPORT("wasi:io/error@0.2.0", "[resource-drop]error")
void	error_drop(int32_t error);

#endif
