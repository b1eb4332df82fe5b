/*
 * fcgi.c: moscow-time's FastCGI responder (make fcgi: cgi.fcgi), libc
 * only. When standard input is a listening socket (it has no peer), as
 * spawn-fcgi and lighttpd's mod_fastcgi arrange, one poll(2) loop holds
 * every connection the web server opens, keeps those it asks to keep
 * (FCGI_KEEP_CONN), and answers each request once its FCGI_PARAMS and
 * FCGI_STDIN streams have ended: its parameters are the environment,
 * cgi_request() (cgi.c) decides and renders as for the plain CGI, and the
 * writer frames the response as one FCGI_STDOUT record, the stream's end
 * and FCGI_END_REQUEST. A connection may carry several requests at once
 * (FCGI_MPXS_CONNS 1: serve sends them so), their records interleaved,
 * up to FCGI_MPX_OPEN of them arriving at a time; nginx and lighttpd
 * send one at a time. The answers to what one read brought go out in one
 * write (FCGI_CORK_BYTES). Peers that
 * reach the socket directly are bounded by deadlines and the cap (see
 * Limits); SIGTERM finishes the requests in flight; log lines never block
 * (log.h). Started any other way it is the plain CGI. The record format
 * is fcgi.h's.
 */
#define _GNU_SOURCE		/* ppoll(2), syscall(2) */
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "fcgi.h"
#include "outq.h"

/*
 * Limits. A connection must deliver its first request whole within
 * FCGI_REQUEST_S of being accepted, and every later one within
 * FCGI_REQUEST_S of its first byte or of the answer before it, the answer
 * taken by the web server too; between requests a kept connection may
 * idle FCGI_KEEP_S, longer than nginx keeps an idle upstream connection
 * (keepalive_timeout, 60 s), so that nginx closes it first. So a silent
 * or drip-feeding peer holds a connection for seconds, and at
 * FCGI_CONNS_MAX a newcomer closes the connection idle longest. Both
 * times are set by FCGI_REQUEST_TIMEOUT and FCGI_KEEP_TIMEOUT.
 */
#define FCGI_CONNS_MAX		1024	/* connections held (digits: FCGI_GET_VALUES sends them) */
#define FCGI_FDS_SPARE		16	/* descriptors besides connections: stdio, the listener */
#define EMFILE_PAUSE_MS		100	/* accept pause when out of descriptors (as serve) */
#define FCGI_READ_BYTES		16384	/* bytes one read takes at most */
#define FCGI_PARAMS_KEEP	4096	/* bytes of a parameter buffer kept between requests */
#define FCGI_REQUEST_S		5	/* seconds for a request to arrive whole */
#define FCGI_KEEP_S		120	/* seconds a kept connection may idle between requests */
#define FCGI_TIMEOUT_MAX_S	3600	/* the highest FCGI_REQUEST_TIMEOUT and FCGI_KEEP_TIMEOUT */
#define FCGI_MPX_OPEN		8	/* requests of a connection arriving at once; past them FCGI_OVERLOADED */
#define FCGI_CORK_BYTES		(64 * 1024) /* bytes of answers held for one write */

/* A response fits one FCGI_STDOUT record (else this does not compile). */
typedef char fcgi_fits[RESP_HEAD_MAX + RESP_BODY_MAX <= FCGI_CONTENT_MAX ? 1 : -1];

/* A request arriving on a connection. */
struct freq {
	unsigned	 id;		/* 0: a free place */
	int64_t		 begun;		/* ms: its FCGI_BEGIN_REQUEST came */
	int		 keep;		/* its FCGI_KEEP_CONN */
	int		 params_end;	/* its FCGI_PARAMS stream has ended */
	int		 stdin_end;	/* its FCGI_STDIN stream has ended */
	int		 over;		/* its parameters passed ENV_BYTES_MAX */
	unsigned char	*par;		/* its FCGI_PARAMS stream */
	size_t		 parlen, parcap;
};

/* One connection from the web server. */
struct fconn {
	int		 fd;
	int		 done;		/* close once out is written */
	int		 dead;		/* close now */
	int		 ending;	/* a request without FCGI_KEEP_CONN: none
				 * more begins, done once none is open */
	int		 full;		/* the socket took less than out:
				 * take nothing more */
	unsigned	 answering;	/* the request id write_fcgi() frames */
	int		 nopen;		/* requests arriving */
	struct freq	 r[FCGI_MPX_OPEN];
	unsigned char	*in;		/* bytes read and not yet taken */
	size_t		 inlen;
	struct outq	 out;		/* answers not written yet */
	int		 fresh;		/* nothing received yet */
	int64_t		 idle;		/* ms since nothing is in flight; 0: busy */
	int64_t		 deadline;	/* ms: closed then */
};

static struct fconn	 conns[FCGI_CONNS_MAX];
static size_t		 nconns;
static int64_t		 now;		/* ms, monotonic: once per turn of the loop */
static int64_t		 request_ms;	/* FCGI_REQUEST_TIMEOUT, set by fcgi_loop */
static int64_t		 keep_ms;	/* FCGI_KEEP_TIMEOUT, likewise */
static volatile sig_atomic_t got_term;
static int		 stopping;	/* after SIGTERM: connections close once idle */

/*
 * Write what c->out holds: what the socket does not take waits, and no
 * more of c's records are taken meanwhile (c->full).
 */
static void
fcgi_flush(struct fconn *c)
{
	if (outq_empty(&c->out))
		return;
	switch (outq_flush(&c->out, c->fd)) {
	case -1:
		c->dead = 1;
		break;
	case 0:
		c->full = 1;
		break;
	default:
		c->full = 0;
	}
}

/*
 * Queue iov for c, written with the other answers to the same read
 * (fcgi_ready), or at once past FCGI_CORK_BYTES. 0, or -1 (c is dead).
 */
static int
fcgi_send(struct fconn *c, struct iovec *iov, int cnt)
{
	if (outq_put(&c->out, iov, cnt) == -1)
		c->dead = 1;
	else if (c->out.len - c->out.off >= FCGI_CORK_BYTES)
		fcgi_flush(c);
	return c->dead ? -1 : 0;
}

/* Send the n bytes at p. */
static void
fcgi_send1(struct fconn *c, void *p, size_t n)
{
	struct iovec iov = { p, n };

	(void)fcgi_send(c, &iov, 1);
}

/* The writer: the response, the end of FCGI_STDOUT and FCGI_END_REQUEST. */
static int
write_fcgi(void *ctx, struct iovec *iov, int cnt)
{
	struct fconn *c = ctx;
	unsigned char h[FCGI_HEAD], t[FCGI_HEAD * 2 + FCGI_END_BODY];
	struct iovec v[4];
	size_t	 n = 0;
	int	 i;

	if (cnt > 2)
		return -1;
	for (i = 0; i < cnt; i++) {
		v[1 + i] = iov[i];
		n += iov[i].iov_len;
	}
	if (n == 0 || n > FCGI_CONTENT_MAX)
		return -1;
	fcgi_head(h, FT_STDOUT, c->answering, n);
	fcgi_head(t, FT_STDOUT, c->answering, 0);
	fcgi_end(t + FCGI_HEAD, c->answering, FP_COMPLETE);
	v[0].iov_base = h;
	v[0].iov_len = sizeof(h);
	v[1 + cnt].iov_base = t;
	v[1 + cnt].iov_len = sizeof(t);
	return fcgi_send(c, v, cnt + 2);
}

/*
 * The request q on c is over: forget it, and close after a last one. A
 * small parameter buffer stays for the next request in its place.
 */
static void
fcgi_request_end(struct fconn *c, struct freq *q)
{
	int64_t	 first = now;
	int	 i;

	if (!q->keep)
		c->ending = 1;
	c->nopen--;
	q->id = 0;
	/* each request arrives whole within request_ms of its begin; with
	 * none open, the answer is taken and the next comes within it */
	for (i = 0; i < FCGI_MPX_OPEN; i++)
		if (c->r[i].id != 0 && c->r[i].begun < first)
			first = c->r[i].begun;
	c->deadline = first + request_ms;
	q->parlen = 0;
	if (q->parcap > FCGI_PARAMS_KEEP) {
		free(q->par);
		q->par = NULL;
		q->parcap = 0;
	}
}

/* The request id arriving on c, or NULL (none: 0 finds a free place). */
static struct freq *
fcgi_find(struct fconn *c, unsigned id)
{
	int	 i;

	for (i = 0; i < FCGI_MPX_OPEN; i++)
		if (c->r[i].id == id)
			return &c->r[i];
	return NULL;
}

/* End request id at once with protocol status st. */
static void
fcgi_refuse(struct fconn *c, unsigned id, enum fcgi_status st)
{
	unsigned char e[FCGI_HEAD + FCGI_END_BODY];

	fcgi_end(e, id, st);
	fcgi_send1(c, e, sizeof(e));
}

/*
 * REQUEST_METHOD as "REQUEST_METHOD=value" in m (cap bytes), from the
 * well-formed pairs that start the n bytes of parameters at p, when they
 * are over the limits or malformed further on: env_fail() sends no body
 * for HEAD. 0, or -1 if it is not there or does not fit.
 */
static int
method_of(const unsigned char *p, size_t n, char *m, size_t cap)
{
	static const char name[] = "REQUEST_METHOD";
	size_t	 i = 0, nl, vl, k = sizeof(name) - 1;

	while (i < n && fcgi_pair(p, n, &i, &nl, &vl) == 0) {
		if (nl == k && memcmp(p + i, name, k) == 0) {
			if (k + 1 + vl >= cap || memchr(p + i + k, '\0', vl))
				return -1;
			memcpy(m, name, k);
			m[k] = '=';
			memcpy(m + k + 1, p + i + k, vl);
			m[k + 1 + vl] = '\0';
			return 0;
		}
		i += nl + vl;
	}
	return -1;
}

/* Answer the request q on c, its parameters and standard input complete. */
static void
fcgi_answer(struct fconn *c, struct freq *q)
{
	static char text[ENV_BYTES_MAX], *vars[ENV_VARS_MAX + 1];
	char	 m[32];
	struct writer w = { write_fcgi, NULL };

	w.ctx = c;
	c->answering = q->id;
	if (!q->over && fcgi_pairs(q->par, q->parlen, text, sizeof(text),
	    vars, ENV_VARS_MAX) >= 0) {
		env_vars = vars;
		cgi_request(&w);
	} else {
		vars[0] = method_of(q->par, q->parlen, m, sizeof(m)) == 0 ?
		    m : NULL;
		vars[1] = NULL;
		env_vars = vars;
		env_fail(&w);
	}
	env_vars = NULL;
	fcgi_request_end(c, q);
}

/* Management records (request id 0): FCGI_GET_VALUES, else unknown. */
static void
fcgi_manage(struct fconn *c, const struct fcgi_rec *r)
{
#define DIGITS(n)	#n
#define DECIMAL(n)	DIGITS(n)
	static const char *const vals[][2] = {
		{ "FCGI_MAX_CONNS", DECIMAL(FCGI_CONNS_MAX) },
		{ "FCGI_MAX_REQS", DECIMAL(FCGI_CONNS_MAX) },
		{ "FCGI_MPXS_CONNS", "1" },
	};
	unsigned char o[FCGI_HEAD + 128];
	size_t	 i = 0, n = 0, j, nl, vl, ln, lv;

	if (r->type != FT_GET_VALUES) {
		fcgi_head(o, FT_UNKNOWN_TYPE, 0, 8);
		memset(o + FCGI_HEAD, 0, 8);
		o[FCGI_HEAD] = (unsigned char)r->type;
		fcgi_send1(c, o, FCGI_HEAD + 8);
		return;
	}
	/* the names asked for, up to a malformed pair */
	while (i < r->len && fcgi_pair(r->data, r->len, &i, &nl, &vl) == 0) {
		for (j = 0; j < sizeof(vals) / sizeof(vals[0]); j++) {
			ln = strlen(vals[j][0]);
			lv = strlen(vals[j][1]);
			if (ln == nl && memcmp(vals[j][0], r->data + i, nl) == 0 &&
			    n + 2 + ln + lv <= sizeof(o) - FCGI_HEAD) {
				o[FCGI_HEAD + n++] = (unsigned char)ln;
				o[FCGI_HEAD + n++] = (unsigned char)lv;
				memcpy(o + FCGI_HEAD + n, vals[j][0], ln);
				memcpy(o + FCGI_HEAD + n + ln, vals[j][1], lv);
				n += ln + lv;
			}
		}
		i += nl + vl;
	}
	fcgi_head(o, FT_GET_VALUES_RESULT, 0, n);
	fcgi_send1(c, o, FCGI_HEAD + n);
}

/* One record from the web server. */
static void
fcgi_take_record(struct fconn *c, const struct fcgi_rec *r)
{
	struct freq *q;
	unsigned char *b;
	size_t	 cap;

	if (r->id == 0) {
		fcgi_manage(c, r);
		return;
	}
	q = fcgi_find(c, r->id);
	switch (r->type) {
	case FT_BEGIN_REQUEST:
		if (r->len < 8) {
			c->dead = 1;
			return;
		}
		if (q != NULL)
			return;		/* already begun: the spec ignores it */
		if (((unsigned)r->data[0] << 8 | r->data[1]) !=
		    FCGI_RESPONDER)
			fcgi_refuse(c, r->id, FP_UNKNOWN_ROLE);
		else if (c->ending || (q = fcgi_find(c, 0)) == NULL)
			fcgi_refuse(c, r->id, FP_OVERLOADED);
		else {
			c->nopen++;
			q->id = r->id;
			q->begun = now;
			q->keep = r->data[2] & FCGI_KEEP_CONN;
			q->params_end = q->stdin_end = q->over = 0;
			return;
		}
		if (!(r->data[2] & FCGI_KEEP_CONN))
			c->ending = 1;
		return;
	case FT_ABORT_REQUEST:
		if (q == NULL)
			return;
		fcgi_refuse(c, r->id, FP_COMPLETE);
		fcgi_request_end(c, q);
		return;
	case FT_PARAMS:
		if (q == NULL || q->params_end)
			return;
		if (r->len == 0) {
			q->params_end = 1;
			if (q->stdin_end)
				fcgi_answer(c, q);
			return;
		}
		if (q->over || r->len > ENV_BYTES_MAX - q->parlen) {
			q->over = 1;
			return;
		}
		if (q->parlen + r->len > q->parcap) {
			cap = q->parlen + r->len;
			if ((b = realloc(q->par, cap)) == NULL) {
				c->dead = 1;
				return;
			}
			q->par = b;
			q->parcap = cap;
		}
		memcpy(q->par + q->parlen, r->data, r->len);
		q->parlen += r->len;
		return;
	case FT_STDIN:
		/* No resource here takes a body: its end completes the request. */
		if (q == NULL || r->len > 0 || q->stdin_end)
			return;
		q->stdin_end = 1;
		if (q->params_end)
			fcgi_answer(c, q);
		return;
	default:
		return;
	}
}

/*
 * Take the complete records at p[0..n) while the socket takes the
 * answers: the bytes taken.
 */
static size_t
fcgi_take(struct fconn *c, const unsigned char *p, size_t n)
{
	struct fcgi_rec r;
	size_t	 off = 0;
	long	 k;

	while (!c->dead && !c->done && !c->full &&
	    (k = fcgi_record(p + off, n - off, &r)) != 0) {
		if (k < 0) {
			c->dead = 1;
			break;
		}
		fcgi_take_record(c, &r);
		off += (size_t)k;
		if (c->ending && c->nopen == 0)
			c->done = 1;
	}
	return off;
}

/*
 * The n bytes at p arrived on c (none: look again at what c kept): take
 * its records, and keep the bytes of one not yet complete, or not yet
 * taken while an answer waits, in c->in.
 */
static void
fcgi_input(struct fconn *c, const unsigned char *p, size_t n)
{
	unsigned char *b;
	size_t	 k;

	if (c->inlen > 0) {
		if (n > 0) {
			if ((b = realloc(c->in, c->inlen + n)) == NULL) {
				c->dead = 1;
				return;
			}
			memcpy(b + c->inlen, p, n);
			c->in = b;
			c->inlen += n;
		}
		k = fcgi_take(c, c->in, c->inlen);
		if ((c->inlen -= k) > 0)
			memmove(c->in, c->in + k, c->inlen);
		else {
			free(c->in);
			c->in = NULL;
		}
		return;
	}
	k = fcgi_take(c, p, n);
	if (k < n) {
		if ((c->in = malloc(n - k)) == NULL) {
			c->dead = 1;
			return;
		}
		memcpy(c->in, p + k, n - k);
		c->inlen = n - k;
	}
}

/* c's socket is ready (revents): write, or read and take. -1: close it. */
static int
fcgi_ready(struct fconn *c, short revents)
{
	static unsigned char rbuf[FCGI_READ_BYTES];
	ssize_t	 n;

	if (!outq_empty(&c->out)) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		fcgi_flush(c);
		if (c->dead)
			return -1;
		if (c->full)
			return 0;
		fcgi_input(c, NULL, 0);
	} else {
		n = read(c->fd, rbuf, sizeof(rbuf));
		if (n == -1 && io_again())
			return 0;
		if (n <= 0)
			return -1;
		/* a request begins: from its first byte on a kept connection */
		if (c->idle != 0 && !c->fresh)
			c->deadline = now + request_ms;
		c->idle = c->fresh = 0;
		fcgi_input(c, rbuf, (size_t)n);
	}
	/* the answers to what came, at once; a write that took them all,
	 * after one that did not, lets the records kept meanwhile go on */
	for (;;) {
		fcgi_flush(c);
		if (c->full || c->dead || c->done || c->inlen == 0)
			break;
		n = (ssize_t)c->inlen;
		fcgi_input(c, NULL, 0);
		if ((ssize_t)c->inlen == n && outq_empty(&c->out))
			break;		/* an incomplete record waits */
	}
	/* nothing in flight: kept idle, or closed after SIGTERM */
	if (c->idle == 0 && c->nopen == 0 && c->inlen == 0 &&
	    outq_empty(&c->out)) {
		if (stopping)
			return -1;
		c->idle = now;
		c->deadline = now + keep_ms;
	}
	return c->dead || (c->done && outq_empty(&c->out)) ? -1 : 0;
}

/* Free conns[i]; the last connection takes its place. */
static void
fcgi_close(size_t i)
{
	struct fconn *c = &conns[i];
	int	 k;

	(void)close(c->fd);
	free(c->in);
	for (k = 0; k < FCGI_MPX_OPEN; k++)
		free(c->r[k].par);
	outq_free(&c->out);
	*c = conns[--nconns];
}

/*
 * The connection idle longest (a kept one between requests, or one that
 * sent nothing yet), which a newcomer closes at the cap; nconns if every
 * connection has a request in flight.
 */
static size_t
fcgi_idlest(void)
{
	size_t	 i, old = nconns;

	for (i = 0; i < nconns; i++)
		if (conns[i].idle != 0 &&
		    (old == nconns || conns[i].idle < conns[old].idle))
			old = i;
	return old;
}

/*
 * 1 if the address a (of family af, 4 or 16 bytes) is in list, the
 * comma-separated numeric addresses of FCGI_WEB_SERVER_ADDRS; an
 * IPv4-mapped IPv6 address is also matched as IPv4.
 */
static int
addr_listed(const char *list, int af, const unsigned char *a)
{
	char	 one[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	size_t	 n;

	for (;;) {
		while (*list == ',' || *list == ' ' || *list == '\t')
			list++;
		for (n = 0; list[n] != '\0' && list[n] != ',' &&
		    list[n] != ' ' && list[n] != '\t'; n++)
			;
		if (n == 0)
			return 0;
		if (n < sizeof(one)) {
			memcpy(one, list, n);
			one[n] = '\0';
			if (af == AF_INET6 && inet_pton(AF_INET6, one, bin) == 1 &&
			    memcmp(bin, a, 16) == 0)
				return 1;
			if (af == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377",
			    12) == 0 && inet_pton(AF_INET, one, bin) == 1 &&
			    memcmp(bin, a + 12, 4) == 0)
				return 1;
			if (af == AF_INET && inet_pton(AF_INET, one, bin) == 1 &&
			    memcmp(bin, a, 4) == 0)
				return 1;
		}
		list += n;
	}
}

/* 1 if the peer of fd may talk to this responder. */
static int
peer_allowed(int fd, const char *list)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	ss.ss_family = AF_UNSPEC;
	if (list == NULL ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return list == NULL;
	if (ss.ss_family == AF_INET)
		return addr_listed(list, AF_INET, (const unsigned char *)
		    &((struct sockaddr_in *)&ss)->sin_addr);
	if (ss.ss_family == AF_INET6)
		return addr_listed(list, AF_INET6, (const unsigned char *)
		    &((struct sockaddr_in6 *)&ss)->sin6_addr);
	return 1;				/* a Unix socket */
}

/*
 * Accept what waits on ls. 1 when out of descriptors, -1 when ls cannot
 * accept at all, else 0.
 */
static int
fcgi_accept(int ls, const char *allow)
{
	size_t	 old = 0;
	int	 fd;

	for (;;) {
		if (nconns == FCGI_CONNS_MAX && (old = fcgi_idlest()) == nconns)
			return 0;
		if ((fd = accept(ls, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EBADF || errno == EINVAL ||
			    errno == ENOTSOCK || errno == EFAULT)
				return -1;
			return errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM;
		}
		if (!peer_allowed(fd, allow) ||
		    fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
			(void)close(fd);
			continue;
		}
		/* at the cap, a newcomer takes the place of the idlest */
		if (nconns == FCGI_CONNS_MAX)
			fcgi_close(old);
		memset(&conns[nconns], 0, sizeof(conns[0]));
		conns[nconns].fd = fd;
		conns[nconns].fresh = 1;
		conns[nconns].idle = now;
		conns[nconns++].deadline = now + request_ms;
	}
}

/* The monotonic clock in ms. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The seconds the environment variable name sets, 1 to
 * FCGI_TIMEOUT_MAX_S, or def when it is unset or empty; -1 for anything
 * else.
 */
static long
env_seconds(const char *name, long def)
{
	const char *v = getenv(name);
	long	 n = 0;

	if (v == NULL || *v == '\0')
		return def;
	for (; *v >= '0' && *v <= '9'; v++)
		if ((n = n * 10 + (*v - '0')) > FCGI_TIMEOUT_MAX_S)
			return -1;
	return *v == '\0' && n >= 1 ? n : -1;
}

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/*
 * SIGTERM: take what waits in the backlog, stop listening, and close the
 * connections with nothing in flight once what they sent is read; the
 * others are answered and closed, by stop_by at the latest.
 */
static void
fcgi_stop(int ls, const char *allow)
{
	size_t	 i;

	stopping = 1;
	(void)fcgi_accept(ls, allow);
	(void)close(ls);
	for (i = nconns; i-- > 0;) {
		if (conns[i].nopen == 0 && outq_empty(&conns[i].out) &&
		    (fcgi_ready(&conns[i], POLLIN) == -1 || conns[i].idle != 0))
			fcgi_close(i);
	}
}

/* Serve the web server's connections to the listening socket ls. */
static int
fcgi_loop(int ls)
{
	static struct pollfd pfd[FCGI_CONNS_MAX + 1];
	const char *allow = getenv("FCGI_WEB_SERVER_ADDRS");
	struct rlimit rl;
	struct sigaction sa;
	struct timespec ts;
	sigset_t term, unblocked;
	int64_t	 next, resume = 0, stop_by = 0;
	long	 req, keep;
	size_t	 i, nidle;
	int	 fl, paused = 0;

	if ((req = env_seconds("FCGI_REQUEST_TIMEOUT", FCGI_REQUEST_S)) == -1 ||
	    (keep = env_seconds("FCGI_KEEP_TIMEOUT", FCGI_KEEP_S)) == -1) {
		msg("FCGI_REQUEST_TIMEOUT and FCGI_KEEP_TIMEOUT are seconds, "
		    "1 to 3600", "");
		return 1;
	}
	request_ms = req * 1000;
	keep_ms = keep * 1000;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	/* SIGTERM arrives only inside ppoll, so none is missed before it */
	sa.sa_handler = on_term;
	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigemptyset(&term);
	(void)sigaddset(&term, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &term, &unblocked);
	(void)sigdelset(&unblocked, SIGTERM);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
	    rl.rlim_cur < FCGI_CONNS_MAX + FCGI_FDS_SPARE) {
		rl.rlim_cur = rl.rlim_max < FCGI_CONNS_MAX + FCGI_FDS_SPARE ?
		    rl.rlim_max : FCGI_CONNS_MAX + FCGI_FDS_SPARE;
		/* the system call: libc's setrlimit(3) brings its code for
		 * threads (__synccall, 1 KB); the responder has one */
		(void)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
	}
	if ((fl = fcntl(ls, F_GETFL)) == -1 ||
	    fcntl(ls, F_SETFL, fl | O_NONBLOCK) == -1) {
		msg("cannot use the listening socket", "");
		return 1;
	}
	for (;;) {
		now = now_ms();
		if (got_term && !stopping) {
			fcgi_stop(ls, allow);
			stop_by = now + request_ms;
		}
		/* deadlines; a descriptor given back ends a pause */
		for (i = nconns; i-- > 0;)
			if (conns[i].deadline <= now ||
			    (stopping && now >= stop_by)) {
				fcgi_close(i);
				paused = 0;
			}
		if (stopping && nconns == 0)
			return 0;
		if (paused && now >= resume)
			paused = 0;
		next = paused ? resume : stopping ? stop_by : now + request_ms;
		nidle = 0;
		for (i = 0; i < nconns; i++) {
			pfd[i + 1].fd = conns[i].fd;
			pfd[i + 1].events = !outq_empty(&conns[i].out) ? POLLOUT : POLLIN;
			nidle += conns[i].idle != 0;
			if (conns[i].deadline < next)
				next = conns[i].deadline;
		}
		pfd[0].fd = !paused && !stopping &&
		    (nconns < FCGI_CONNS_MAX || nidle > 0) ? ls : -1;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		ts.tv_sec = (time_t)((next - now) / 1000);
		ts.tv_nsec = (long)((next - now) % 1000) * 1000000;
		if (ppoll(pfd, (nfds_t)nconns + 1, nconns == 0 && !paused ?
		    NULL : &ts, &unblocked) == -1) {
			if (errno == EINTR)
				continue;
			msg("poll failed", "");
			return 1;
		}
		now = now_ms();
		for (i = nconns; i-- > 0;)
			if (pfd[i + 1].revents != 0 &&
			    fcgi_ready(&conns[i], pfd[i + 1].revents) == -1) {
				fcgi_close(i);
				paused = 0;
			}
		if (pfd[0].revents == 0)
			continue;
		if ((paused = fcgi_accept(ls, allow)) == -1) {
			msg("the listening socket does not accept", "");
			return 1;
		}
		resume = now + EMFILE_PAUSE_MS;		/* when paused */
	}
}

/*
 * Descriptors 0-2 open, on /dev/null where closed: a closed 1 or 2 would
 * be the next connection accepted, and a log line would go to its peer.
 * 0, or -1 if /dev/null cannot be opened.
 */
static int
stdio_open(void)
{
	int	 fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
			return -1;
	return 0;
}

/*
 * What standard input is: 1, a listening stream socket (FastCGI); 0, not
 * a socket without a peer (the plain CGI); -1, a socket without a peer
 * that does not listen (bound only, or a datagram socket), which poll
 * would report ready forever and accept() refuse.
 */
static int
stdin_kind(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), vl = sizeof(int);
	int	 type = 0, acc = 0;

	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == 0 ||
	    errno != ENOTCONN)
		return 0;
	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &vl) == 0 &&
	    type == SOCK_STREAM && (vl = sizeof(int), getsockopt(STDIN_FILENO,
	    SOL_SOCKET, SO_ACCEPTCONN, &acc, &vl)) == 0 && acc)
		return 1;
	return -1;
}

int
main(int argc, char *argv[])
{
	int	 safe = stdio_open();

	switch (stdin_kind()) {
	case 1:
		if (safe == -1) {
			msg("cannot open /dev/null for a closed descriptor 0-2", "");
			return 1;
		}
		return fcgi_loop(STDIN_FILENO);
	case -1:
		msg("standard input is a socket that does not listen: "
		    "FastCGI needs a listening stream socket there", "");
		return 1;
	}
	return cgi_main(argc, argv);
}
