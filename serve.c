/*
 * serve.c: moscow-time's HTTP/1.1 front end (RFC 9112), an inetd-style
 * wrapper that runs a CGI program (RFC 3875) once per request, the WAGI
 * model on a native host.
 *
 * One process and one poll(2) loop own every connection that is not
 * running a program: accepted, reading a head, reading a body, waiting for
 * a program slot, idle between keep-alive requests, lingering after the
 * last response. Each state has its own deadline. A process exists only
 * for a complete request: the program itself, started straight from the
 * loop (vfork and execve, the thttpd model), in a process group of its
 * own, with non-blocking pipes whose output the loop relays to the client
 * with backpressure.
 *
 * Everything that turns bytes into decisions is a pure function over a
 * buffer in http.c, unit-tested and fuzzed: head_end and parse_head (the
 * request), path_normalize, dechunk (a chunked body, resumable),
 * build_env (the CGI's environment), parse_cgi_head (the program's header
 * block), and the rendering of every response head and log line. This
 * file is the rest: options, setup, listeners, the loop, connections and
 * programs.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/un.h>

#include "fcgi.h"
#include "http.h"
#include "log.h"
#include "outq.h"

/*
 * Limits of the loop, its connections and its programs (the request's
 * are http.h's). Each is documented in serve(1) and tested at its edge.
 */
#define REQS_PER_CONN	1000		/* requests on one connection, then close */
#define KEEPALIVE_S	5		/* idle seconds between requests */
#define WRITE_IDLE_S	30		/* seconds a client may stall a write */
#define LINGER_S	2		/* seconds to drain a client after the last response */
#define LINGER_BYTES	(2 * 1024 * 1024) /* bytes drained after the last response: a whole chunked body */
#define KILL_GRACE_S	2		/* SIGTERM to SIGKILL for a late program */
#define REAP_RECHECK_MS	20		/* a finished program not yet reaped: look again */
#define TIMEOUT_MAX_S	3600		/* the highest -t and -T */
#define OUT_BUF		(64 * 1024)	/* body bytes held to frame with Content-Length */
#define SPAWN_STACK	(32 * 1024)	/* bytes of stack for a program until its execve */
#define BUF_START	1024		/* first size of a connection's request buffer */
#define ARGS_MAX	32		/* extra program arguments */
#define LISTEN_MAX	8		/* listening sockets */
#define LISTEN_BACKLOG	1024		/* listen(2) backlog */
#define CHILDREN_MAX	1024		/* the highest -c: programs at once */
#define CONNS_MAX	65536		/* the highest -C: open connections */
#define FD_RESERVE	16		/* descriptors kept from -C's default */
#define NOFILE_WANT	CONNS_MAX	/* soft RLIMIT_NOFILE serve raises itself to */
#define EMFILE_PAUSE_MS	100		/* accept pause when out of descriptors */
#define ACCEPT_BURST	64		/* accepts per listener per loop turn */
#define EVICT_GRACE_MS	1000		/* a new connection's silence before -C may close it */
#define MSG_MAX		512		/* bytes of an error message */
#define OWN_RESP_MAX	512		/* bytes of one of serve's own answers */
#define DRAIN_BYTES	16384		/* bytes one read of a lingering client takes */
#define CHILDREN_LIST_MAX 4096		/* bytes of /proc's list of adopted children */
#define BUF_POOL	64		/* request buffers kept for the next connection */

/* The FastCGI back end (-F, -f). */
#define FCGI_READ_BYTES	16384		/* bytes of the responder's records one read takes */
#define FCGI_MPX_HOLD	(256 * 1024)	/* bytes a client may leave untaken before a multiplexed connection waits for it */
#define FCGI_READS_TURN	4		/* reads of one responder connection per loop turn */
#define FCGI_PROBE_MS	1000		/* ms a new responder may not exit or close a connection */
#define FCGI_BACKOFF_MS	100		/* first wait before restarting a responder that exited */
#define FCGI_BACKOFF_MAX_MS 5000	/* the longest wait, doubled from the first */
#define FCGI_STABLE_S	10		/* a responder up this long restarts at once again */
#define FCGI_STDIN_RECS	(BODY_MAX / FCGI_CONTENT_MAX + 1) /* FCGI_STDIN records of a body */
/*
 * A request's records: BEGIN_REQUEST, its parameters (the environment
 * and SCRIPT_FILENAME, each pair with at most 8 bytes of lengths, in one
 * record) and the parameters' end.
 */
#define FCGI_REQ_MAX	(3 * FCGI_HEAD + FCGI_END_BODY + ENV_BYTES + PATH_MAX + 8 * (ENV_MAX + 1))

/* The options' defaults (serve(1)). */
#define PROGS_DEFAULT	64		/* -c: programs at once */
#define CGI_TIMEOUT_S	10		/* -t: seconds a program may run */
#define HEAD_TIMEOUT_S	10		/* -T: seconds a request may take to arrive */

/* ---- The loop's state ---------------------------------------------- */

/*
 * A connection's state. IDLE: nothing of a request read yet (a new
 * connection, or between keep-alive requests), and no buffer held while
 * nothing is buffered. HEAD, BODY: a request arriving under the -T
 * deadline. QUEUED: complete, waiting for a program slot (-c). RUN: its
 * program runs. FLUSH: the response is all queued, the client still
 * reading it. LINGER: half-closed after the last response, draining what
 * the client still sends so that closing does not reset the connection.
 */
enum cstate {
	CS_IDLE, CS_HEAD, CS_BODY, CS_QUEUED, CS_RUN, CS_FLUSH, CS_LINGER,
	CS_DEAD
};

/*
 * A program's output, as the loop relays it. HEAD: waiting for its header
 * block. HOLD: the block parsed, the body held while it fits OUT_BUF, so
 * it can be framed with a Content-Length. STREAM: sent as it comes. DONE:
 * the output is over (or nobody wants it).
 */
enum pstate { P_HEAD, P_HOLD, P_STREAM, P_DONE };

/*
 * A CGI response on its way to a client, whether it comes from a
 * program's pipe or a FastCGI responder's records (relay_take).
 */
struct relay {
	enum pstate	 st;
	size_t		 olen;		/* bytes in obuf */
	struct frame	 fr;
	struct cgiout	 co;
	char		 obuf[CGI_HEAD_MAX + OUT_BUF];
};

/* What relay_take() says of a response. */
enum relayed { RL_MORE, RL_DONE, RL_BAD, RL_GONE };

struct conn;

/*
 * A slot's memory, made on its first use and kept: untouched pages cost
 * nothing. The environment and the stack belong to the slot because its
 * program reads them until its execve, while serve goes on; the slot is
 * not used again before that program is reaped.
 */
struct slotmem {
	struct relay	 rl;
	struct env	 env;
	char		 envmem[ENV_BYTES];
	char		 stack[SPAWN_STACK];
};

/* A program slot: one of -c programs at once. */
struct prog {
	pid_t		 pid;		/* 0: the slot is free */
	unsigned	 gen;		/* bumped at each release */
	struct conn	*c;		/* NULL once the client is done with it */
	int		 out, in;	/* its stdout and stdin pipes; -1: closed */
	size_t		 inoff;		/* body bytes written to it */
	int		 exited;	/* its leader is a zombie, kept unreaped */
	int64_t		 deadline;	/* -t */
	int64_t		 kill_at;	/* SIGKILL after SIGTERM; 0: not yet */
	struct slotmem	*mem;		/* made on the slot's first use, kept */
	int		 child_in, child_out;	/* the program's stdin and stdout */
	int		 res_in, res_out;	/* reserved low descriptors; -1: none */
	int		 held;		/* serve still has child_in and child_out */
	int		 cut;		/* the child copies descriptors below */
	int		 shares;	/* the child still shares serve's table */
	volatile int	 exec_errno;	/* set by a child whose execve failed */
};

/*
 * Where a request is encoded, one for all: outq_put() has copied it
 * before the next request is encoded, so every request's memory is only
 * its relay.
 */
static struct {
	struct env	 env;
	char		 envmem[ENV_BYTES];
	unsigned char	 req[FCGI_REQ_MAX];
} enc;

/*
 * A request to the FastCGI responder (-F, -f): one of -c in flight, its
 * request id its place in fcls plus one.
 */
struct fcl {
	int		 busy;		/* a request is on it */
	unsigned	 id;
	struct fcx	*x;		/* its connection, while busy */
	struct conn	*c;		/* its client; NULL once done with it */
	int64_t		 deadline;	/* -t */
	int64_t		 abort_at;	/* aborted: FCGI_END_REQUEST due by then */
	struct relay	*rl;		/* made on its first use, kept */
};

/*
 * A connection to the responder, kept open between requests
 * (FCGI_KEEP_CONN). It carries one request at a time (the one of the
 * same place in fcls), or, when the responder multiplexes
 * (FCGI_MPXS_CONNS 1), it is the only one and carries every request. The
 * requests of a turn of the loop go out in one write before poll.
 */
struct fcx {
	int		 fd;		/* -1: not connected */
	int		 used;		/* it carried a request before */
	int		 nreq;		/* requests on it */
	int		 dirty;		/* q is to be written before poll */
	int		 retry;		/* q holds only unwritten requests, and no
					 * other was in flight: if the responder
					 * closed the kept connection meanwhile,
					 * they go again on a new one */
	struct outq	 q;		/* request bytes it has not taken yet */
	struct fcgi_reader rd;
	size_t		 inoff, inlen;	/* records in x->in not yet taken */
	unsigned char	*in;		/* FCGI_READ_BYTES, made on first use */
};

struct conn {
	int		 in, out;	/* the client: one socket, or 0 and 1 */
	int		 sock;		/* in is a socket (shutdown, linger) */
	enum cstate	 st;
	int		 rdeof;		/* the client sends no more */
	int		 gone;		/* a write failed: nothing more to send */
	int		 closing;	/* close after what is queued */
	int		 served;	/* requests answered */
	int64_t		 deadline;	/* of the state; 0: none */
	int64_t		 wdeadline;	/* of the pending output; 0: none */
	int64_t		 idle_since;
	char		*buf;		/* request bytes read and not yet used */
	size_t		 len, cap, scan;
	size_t		 hl, used, bodylen;
	int64_t		 clen;
	struct chunked	 ck;
	int		 minor, head, keep, chunked, asterisk;
	enum status	 status;	/* for the log (here: no padding) */
	struct outq	 pend;		/* output the client has not taken yet */
	uint64_t	 sent;		/* body bytes, for the log */
	struct prog	*p;
	struct fcl	*b;		/* its request to the FastCGI responder */
	struct conn	*qnext;		/* the queue for a program slot */
	struct conninfo	 ci;
};

/* What a poll entry belongs to. */
enum role { R_LISTEN, R_CONN_IN, R_CONN_OUT, R_PROG_OUT, R_PROG_IN, R_FCGI };
struct owner {
	enum role	 role;
	void		*ptr;
	unsigned	 gen;
};

static struct {
	int	 quiet, inetd;
	int	 maxprogs, maxconns;	/* -c, -C */
	int	 cgi_timeout, head_timeout;	/* -t, -T, seconds */
} opt = {
	.maxprogs = PROGS_DEFAULT,
	.maxconns = 0,			/* set from RLIMIT_NOFILE unless -C */
	.cgi_timeout = CGI_TIMEOUT_S,
	.head_timeout = HEAD_TIMEOUT_S,
};

static volatile sig_atomic_t got_term, got_chld;
static char	*prog_argv[ARGS_MAX + 2];
static int	 devnull = -1;
static int64_t	 now;			/* ms, CLOCK_MONOTONIC, once a turn */
static int	 lfd[LISTEN_MAX], nl;
static struct conn **conns;		/* -C + ACCEPT_BURST: closed ones wait for sweep */
static int	 nconns, nlive;
static int	 ndead;			/* closed this turn: sweep() frees them */
static struct prog *progs;
static int	 nslots;		/* progs[nslots] on are free: loops stop there */
static int	 nrunning;
static struct conn *qhead, *qtail;
static int	 stopping;
static int	 nheld;			/* slots whose held is set */
static int	 reap_blocked;		/* reap_all stopped at a kept zombie */
static int64_t	 stop_by, accept_paused_until;
static int64_t	 evict_at;		/* at -C: when a silent connection may go */
static struct fcl *fcls;		/* -F, -f: -c requests to the responder */
static struct fcx *fcxs;		/* their connections: -c, or one (fc.mpx) */
static int	 nfcx;
static struct {
	int	 on;			/* 1: -F, a responder of serve's own; 2: -f */
	int	 mpx;			/* it says FCGI_MPXS_CONNS 1 */
	const char *address;		/* -f */
	struct sockaddr_storage sa;	/* where the responder listens */
	socklen_t salen;
	int	 lfd;			/* -F: its listening socket, held by serve too */
	pid_t	 pid;			/* -F: the responder; 0: not running */
	int64_t	 started, restart_at;
	int	 backoff_ms;
} fc = { .lfd = -1, .backoff_ms = FCGI_BACKOFF_MS };

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

/*
 * What errno e means, in the words of strerror(3) for the errors serve
 * meets (musl's table of every message is 1.9 KB); "error N" otherwise.
 * The numbers and the words are two arrays in the same order, not a
 * table of pointers, which would take a page of relocated data.
 */
static const char *
errtext(int e)
{
	static const unsigned char known[] = {
	    EPERM, ENOENT, EINTR, EIO, E2BIG, ENOEXEC, EBADF, EAGAIN, ENOMEM,
	    EACCES, ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE, ETXTBSY, EPIPE,
	    ENAMETOOLONG, ELOOP, ENOTSOCK, EAFNOSUPPORT, EADDRINUSE,
	    EADDRNOTAVAIL, ENETUNREACH, ECONNRESET, ENOBUFS, ETIMEDOUT,
	    ECONNREFUSED, EHOSTUNREACH
	};
	static const char words[] =
	    "Operation not permitted\0"
	    "No such file or directory\0"
	    "Interrupted system call\0"
	    "I/O error\0"
	    "Argument list too long\0"
	    "Exec format error\0"
	    "Bad file descriptor\0"
	    "Resource temporarily unavailable\0"
	    "Out of memory\0"
	    "Permission denied\0"
	    "Not a directory\0"
	    "Is a directory\0"
	    "Invalid argument\0"
	    "Too many open files in system\0"
	    "No file descriptors available\0"
	    "Text file busy\0"
	    "Broken pipe\0"
	    "Filename too long\0"
	    "Symbolic link loop\0"
	    "Not a socket\0"
	    "Address family not supported by protocol\0"
	    "Address in use\0"
	    "Address not available\0"
	    "Network unreachable\0"
	    "Connection reset by peer\0"
	    "No buffer space available\0"
	    "Operation timed out\0"
	    "Connection refused\0"
	    "Host is unreachable";
	static char other[24];
	const char *w = words;
	struct buf b;
	size_t	 i;

	for (i = 0; i < sizeof(known); i++, w += strlen(w) + 1)
		if (known[i] == e)
			return w;
	buf_init(&b, other, sizeof(other) - 1);
	buf_str(&b, "error ");
	buf_uint(&b, (uint64_t)(e < 0 ? 0 : e), 1);
	other[b.len] = '\0';
	return other;
}

/* "serve: a b c" and a newline into mem (MSG_MAX bytes): its length. */
static size_t
msg_line(char *mem, const char *a, const char *b, const char *c)
{
	struct buf m;

	buf_init(&m, mem, MSG_MAX - 1);
	buf_str(&m, "serve: ");
	buf_str(&m, a);
	if (b != NULL)
		buf_str(&m, b);
	if (c != NULL)
		buf_str(&m, c);
	if (m.full)
		m.len = MSG_MAX - 1;
	mem[m.len++] = '\n';
	return m.len;
}

/*
 * One line on stderr: "serve: a b c". Never waits for a full stderr: the
 * line is dropped and counted (log.h).
 */
static void
logmsg(const char *a, const char *b, const char *c)
{
	char	 mem[MSG_MAX];
	struct iovec iov;

	iov.iov_base = mem;
	iov.iov_len = msg_line(mem, a, b, c);
	(void)log_write("serve", &iov, 1);
}

/*
 * Setup errors, in err(3)'s shape ("serve: what: reason") without its
 * printf, which would be an eighth of serve's size: exit with code after
 * one line, with errtext(e) unless e is 0.
 */
static void
die(int code, int e, const char *a, const char *b, const char *c)
{
	char	 mem[MSG_MAX], line[MSG_MAX];
	struct buf m;

	buf_init(&m, mem, sizeof(mem));
	buf_str(&m, a);
	if (b != NULL)
		buf_str(&m, b);
	if (c != NULL)
		buf_str(&m, c);
	if (e != 0) {
		buf_str(&m, ": ");
		buf_str(&m, errtext(e));
	}
	mem[m.full ? sizeof(mem) - 1 : m.len] = '\0';
	/* the last word: worth waiting for */
	(void)!write(STDERR_FILENO, line, msg_line(line, mem, NULL, NULL));
	exit(code);
}

/* A decimal of at most 9 digits at *s, moved past it; -1 if none. */
static long
decimal(const char **s)
{
	long	 v = 0;
	int	 n = 0;

	for (; **s >= '0' && **s <= '9' && n < 9; (*s)++, n++)
		v = v * 10 + (**s - '0');
	return n == 0 ? -1 : v;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One access log line (render_log_line), never waiting (log.h). */
static void
log_access(const struct conninfo *ci, const char *line, size_t linelen,
    enum status status, uint64_t bytes)
{
	char	 mem[LOG_LINE_MAX];
	struct iovec iov;

	if (opt.quiet)
		return;
	iov.iov_base = mem;
	iov.iov_len = render_log_line(mem, ci->peer, (int64_t)time(NULL),
	    line, linelen, status, bytes);
	(void)log_write("serve", &iov, 1);
}

static int
set_nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- Output to a client -------------------------------------------- */

/*
 * Send iov to the client: written at once as far as the socket takes it,
 * the rest queued in c->pend and written as the client reads (the loop
 * reads no more of a program's output meanwhile: backpressure). 0, or -1
 * when the client is gone (c->gone set).
 */
static int
conn_send(struct conn *c, struct iovec *iov, int cnt)
{
	ssize_t	 w;

	if (c->gone)
		return -1;
	if ((w = outq_send(&c->pend, c->out, iov, cnt)) == -1) {
		c->gone = 1;
		return -1;
	}
	if (!outq_empty(&c->pend) && (w > 0 || c->wdeadline == 0))
		c->wdeadline = now + WRITE_IDLE_S * 1000;
	return 0;
}

static int
conn_send1(struct conn *c, const void *p, size_t n)
{
	struct iovec iov;

	iov.iov_base = (void *)p;
	iov.iov_len = n;
	return conn_send(c, &iov, 1);
}

/* ---- Relaying a CGI response -------------------------------------- */

static void resp_done(struct conn *, enum status);
static void conn_drop(struct conn *);
static void refuse(struct conn *, enum status);

/* A response is to be relayed to c: nothing of it has come yet. */
static void
relay_begin(struct relay *r, const struct conn *c)
{
	r->st = P_HEAD;
	r->olen = 0;
	r->fr.keep = c->keep;
}

/* Send body bytes as framed: a chunk, raw, or not at all. */
static int
send_body(struct conn *c, struct relay *r, const char *d, size_t n)
{
	char	 hex[24];
	struct iovec iov[3];
	size_t	 k = sizeof(hex), v = n;

	if (r->fr.nobody || n == 0)
		return 0;
	c->sent += n;
	if (!r->fr.chunked)
		return conn_send1(c, d, n);
	hex[--k] = '\n';
	hex[--k] = '\r';
	do {
		hex[--k] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	iov[0].iov_base = hex + k;
	iov[0].iov_len = sizeof(hex) - k;
	iov[1].iov_base = (char *)d;
	iov[1].iov_len = n;
	iov[2].iov_base = (char *)"\r\n";
	iov[2].iov_len = 2;
	return conn_send(c, iov, 3);
}

/*
 * Send the head for the response and, when complete, its whole body with
 * it, in one write. 0, or -1 if the client is gone.
 */
static int
send_head(struct conn *c, struct relay *r, int complete)
{
	static char mem[CGI_HEAD_MAX + 512];
	struct buf h;
	struct iovec iov[2];
	size_t	 off = r->co.headlen, n = r->olen - off;

	buf_init(&h, mem, sizeof(mem));
	render_resp_head(&h, c->minor, &r->co, c->head, complete, n,
	    (int64_t)time(NULL), &r->fr);
	c->keep = r->fr.keep;
	c->status = r->co.status;
	iov[0].iov_base = mem;
	iov[0].iov_len = h.len;
	iov[1].iov_base = r->obuf + off;
	iov[1].iov_len = complete && !r->fr.nobody ? n : 0;
	c->sent = iov[1].iov_len;
	if (!complete || r->fr.nobody)
		return conn_send(c, iov, 1);
	return conn_send(c, iov, 2);
}

/*
 * r->olen bytes of the response are in r->obuf (eof: no more will come):
 * parse its CGI head, hold its body while it fits to frame it with a
 * Content-Length, else stream it, and send what can go to c.
 */
static enum relayed
relay_take(struct conn *c, struct relay *r, int eof)
{
	int	 rc;

	if (r->st == P_HEAD) {
		if ((rc = parse_cgi_head(r->obuf, r->olen, eof, &r->co)) == 1)
			return RL_MORE;
		if (rc == -1)
			return RL_BAD;
		r->st = P_HOLD;
	}
	if (r->st == P_HOLD && eof) {
		if (send_head(c, r, 1) == -1)
			return RL_GONE;
	} else if (r->st == P_HOLD && r->olen == sizeof(r->obuf)) {
		/* more than the buffer holds: stream the rest */
		if (send_head(c, r, 0) == -1 || send_body(c, r,
		    r->obuf + r->co.headlen, r->olen - r->co.headlen) == -1)
			return RL_GONE;
		r->st = P_STREAM;
		r->olen = 0;
	} else if (r->st == P_STREAM && eof) {
		if (r->fr.chunked && !r->fr.nobody &&
		    conn_send1(c, "0\r\n\r\n", 5) == -1)
			return RL_GONE;
	} else if (r->st == P_STREAM) {
		if (send_body(c, r, r->obuf, r->olen) == -1)
			return RL_GONE;
		r->olen = 0;
	}
	return eof ? RL_DONE : RL_MORE;
}

/*
 * The response to c, relayed as far as st, cannot be finished: status if
 * nothing of it was sent yet, else the connection is cut (the client
 * sees a short response).
 */
static void
relay_abort(struct conn *c, enum pstate st, enum status status)
{
	if (st == P_HEAD || st == P_HOLD)
		refuse(c, status);
	else
		conn_drop(c);
}

/* ---- Programs ------------------------------------------------------ */


static struct prog *
prog_of(pid_t pid)
{
	int	 i;

	for (i = 0; i < nslots; i++)
		if (progs[i].pid == pid)
			return &progs[i];
	return NULL;
}

/*
 * SIGKILL the processes that serve adopted as a subreaper (their parent,
 * the program or one of its children, is gone) and that hold the pipe
 * with inode ino (0: any pipe or none; serve is stopping). A descendant
 * that left the program's process group (setsid) is reached this way; it
 * is killed with its own group.
 */
static void
kill_adopted(ino_t ino)
{
	char	 path[64], link[64], list[CHILDREN_LIST_MAX], want[32];
	struct buf b, w;
	DIR	*d;
	struct dirent *de;
	ssize_t	 n, k;
	const char *p;
	pid_t	 pid;
	int	 fd, hit;

	buf_init(&b, path, sizeof(path) - 1);
	buf_str(&b, "/proc/self/task/");
	buf_uint(&b, (uint64_t)getpid(), 1);
	buf_str(&b, "/children");
	path[b.len] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, list, sizeof(list) - 1);
	close(fd);
	if (n <= 0)
		return;
	list[n] = '\0';
	buf_init(&w, want, sizeof(want) - 1);
	buf_str(&w, "pipe:[");
	buf_uint(&w, (uint64_t)ino, 1);
	buf_str(&w, "]");
	want[w.len] = '\0';
	for (p = list; *p != '\0'; ) {
		if (*p == ' ' || *p == '\n') {
			p++;
			continue;
		}
		if ((pid = (pid_t)decimal(&p)) <= 0)
			break;
		if (prog_of(pid) != NULL)
			continue;	/* a program's leader, not adopted */
		hit = ino == 0;
		buf_init(&b, path, sizeof(path) - 1);
		buf_str(&b, "/proc/");
		buf_uint(&b, (uint64_t)pid, 1);
		buf_str(&b, "/fd");
		path[b.len] = '\0';
		if (!hit && (d = opendir(path)) != NULL) {
			while (!hit && (de = readdir(d)) != NULL) {
				k = readlinkat(dirfd(d), de->d_name, link,
				    sizeof(link) - 1);
				hit = k > 0 && (size_t)k == w.len &&
				    memcmp(link, want, w.len) == 0;
			}
			closedir(d);
		}
		if (hit) {
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
		}
	}
}

/*
 * Signal the program's process group. Its leader is alive or a zombie
 * kept unreaped, so the group's id cannot name another group. SIGKILL
 * also reaches adopted descendants that hold its output pipe.
 */
static void
prog_signal(struct prog *p, int sig)
{
	struct stat st;

	(void)kill(-p->pid, sig);
	if (sig == SIGKILL && p->out != -1 && fstat(p->out, &st) == 0)
		kill_adopted(st.st_ino);
}

static void start_queued(void);
static void prog_own_fds(struct prog *, int);
static void fcl_start(struct conn *, struct fcl *);
static void fcx_read(struct fcx *);
static void fc_exited(int);

/* The slot's program has ended and its output is closed: free it. */
static void
prog_release(struct prog *p)
{
	prog_own_fds(p, 1);
	if (p->in != -1)
		close(p->in);
	if (p->c != NULL)
		p->c->p = NULL;
	p->in = -1;
	p->pid = 0;
	while (nslots > 0 && progs[nslots - 1].pid == 0)
		nslots--;
	p->gen++;
	if (reap_blocked) {
		reap_blocked = 0;
		got_chld = 1;	/* look again at what it hid */
	}
	p->exited = 0;
	p->kill_at = 0;
	p->c = NULL;
	nrunning--;
}

/*
 * Reap the leader once its output is closed: whatever it left running in
 * its group is killed first, while the zombie still holds the group's id.
 */
static void
prog_try_reap(struct prog *p)
{
	siginfo_t si;

	if (p->pid == 0 || p->out != -1)
		return;
	if (!p->exited) {
		si.si_pid = 0;
		if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == -1 || si.si_pid != p->pid)
			return;
		p->exited = 1;
	}
	(void)kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
		;
	prog_release(p);
}

/* The output is over or unwanted: close the pipe, reap if it exited. */
static void
prog_close_out(struct prog *p)
{
	p->mem->rl.st = P_DONE;
	if (p->out != -1)
		close(p->out);
	p->out = -1;
	if (p->in != -1)
		close(p->in);
	p->in = -1;
	prog_try_reap(p);
}

/*
 * The client no longer wants the program's output (gone, or answered by
 * serve itself): detach it and kill the program's group at once.
 */
static void
prog_abandon(struct prog *p)
{
	if (p->c != NULL)
		p->c->p = NULL;
	p->c = NULL;
	prog_signal(p, SIGKILL);
	prog_close_out(p);
}

/*
 * Reap every child that has exited: programs' leaders once their output
 * is closed (a leader whose output is still open stays a zombie, so its
 * group id stays ours), and orphans serve adopted as a subreaper or as
 * PID 1. Called after SIGCHLD. waitid shows only the first zombie, which
 * may be one kept for its output: a finished program behind it is
 * timers()' to reap.
 */
static void
reap_all(void)
{
	siginfo_t si;
	struct prog *p;
	int	 status;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			return;
		if (fc.pid != 0 && si.si_pid == fc.pid) {
			(void)waitpid(si.si_pid, &status, 0);
			fc_exited(status);
			continue;
		}
		if ((p = prog_of(si.si_pid)) == NULL) {
			(void)waitpid(si.si_pid, NULL, 0);
			continue;
		}
		if (p->exited || (p->exited = 1, p->out != -1)) {
			reap_blocked = 1;	/* kept; its output is open */
			return;
		}
		prog_try_reap(p);
	}
}

/*
 * A system call that returns -errno itself, for the child: it shares
 * serve's memory and thread pointer, so errno is serve's, which serve may
 * set while the child reads it (a failed exec was seen reported as some
 * other error). x86-64 makes the call directly; elsewhere errno, with
 * that small race.
 */
static long
sys3(long nr, long a, long b, long c)
{
#if defined(__x86_64__) && defined(__linux__)
	long	 r;

	__asm__ volatile ("syscall" : "=a" (r) : "0" (nr), "D" (a), "S" (b),
	    "d" (c) : "rcx", "r11", "memory");
	return r;
#else
	long	 r = syscall(nr, a, b, c);

	return r == -1 ? -(long)errno : r;
#endif
}

#ifndef SYS_close_range
#define SYS_close_range	436
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE	(1U << 1)
#endif

/*
 * The child's own descriptor table, when it was started sharing serve's:
 * a copy of the descriptors below p->cut only (close_range(2) with
 * CLOSE_RANGE_UNSHARE), where serve put its pipe ends. Copying serve's
 * whole table, and closing all of it again at execve, cost the kernel
 * time in proportion to serve's open connections: a third of the machine
 * at 1,024 of them. Returns 0 or -errno.
 */
static long
child_unshare(struct prog *p)
{
	long	 r;

	if (p->cut == 0)
		return 0;	/* started with a copy */
	r = sys3(SYS_close_range, p->cut, (long)~0U, CLOSE_RANGE_UNSHARE);
	if (r == 0)
		__atomic_store_n(&p->shares, 0, __ATOMIC_RELEASE);
	return r;
}

/*
 * The program's first steps, on its slot's stack, sharing serve's memory
 * until execve: its own descriptor table, its own process group, default
 * SIGPIPE (an ignored signal survives exec; caught ones do not), SIGKILL
 * should serve die first (PR_SET_PDEATHSIG), its pipes on 0 and 1, an
 * empty signal mask last (no signal can reach it before its exec but from
 * serve). Only its own stack and p's shares and exec_errno are written.
 */
static int
child_main(void *arg)
{
	struct prog *p = arg;
	struct sigaction sa;
	sigset_t none;
	long	 r;

	if ((r = child_unshare(p)) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGPIPE, &sa, NULL);
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((r = sys3(SYS_dup3, p->child_in, STDIN_FILENO, 0)) >= 0 &&
		    (r = sys3(SYS_dup3, p->child_out, STDOUT_FILENO, 0)) >= 0) {
			sigemptyset(&none);
			(void)sigprocmask(SIG_SETMASK, &none, NULL);
			r = sys3(SYS_execve, (long)prog_argv[0], (long)prog_argv,
			    (long)p->mem->env.v);
		}
	}
	p->exec_errno = (int)-r;
	_exit(127);
}

/*
 * Start p's program with the environment in p->mem and p->child_in and
 * p->child_out as its stdin and stdout. clone(2) with CLONE_VM and without
 * CLONE_VFORK: no copy of serve's memory, and unlike vfork or posix_spawn
 * serve is not held until the execve, which runs on another core while
 * the loop goes on (about a third more requests a second on two cores).
 * With the slot's reserved descriptors the child shares serve's
 * descriptor table too (CLONE_FILES) until it has copied the few it needs
 * (child_unshare). Returns the pid, or -1 with errno; a failed execve
 * shows later, in p->exec_errno.
 */
static pid_t
spawn(struct prog *p)
{
	int	 flags = CLONE_VM | SIGCHLD;

	p->exec_errno = 0;
	p->cut = 0;
	if (p->res_out != -1) {
		p->cut = (p->child_in > p->child_out ? p->child_in :
		    p->child_out) + 1;
		flags |= CLONE_FILES;
	}
	p->shares = p->cut != 0;
	return clone(child_main, p->mem->stack + sizeof(p->mem->stack), flags,
	    p);
}

/*
 * Let go of serve's copies of the program's pipe ends once the child has
 * its own (at once for a child that copied serve's whole table; or when
 * it has ended: force): closed, or on the reserved descriptors back to
 * /dev/null. Until then they keep the program's stdout open.
 */
static void
prog_own_fds(struct prog *p, int force)
{
	if (!p->held || (!force && __atomic_load_n(&p->shares,
	    __ATOMIC_ACQUIRE)))
		return;
	if (p->res_out != -1) {
		(void)dup3(devnull, p->res_out, O_CLOEXEC);
		if (p->child_in != devnull)
			(void)dup3(devnull, p->res_in, O_CLOEXEC);
	} else {
		close(p->child_out);
		if (p->child_in != devnull)
			close(p->child_in);
	}
	p->held = 0;
	nheld--;
}

/* errno of a failed start: serve's own shortage (503) or the program's (502). */
static enum status
spawn_status(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == EAGAIN ||
	    e == ENOBUFS ? S_UNAVAILABLE : S_BAD_GATEWAY;
}

/*
 * Move a pipe end the child will take onto reserved descriptor res
 * (cloexec, as every descriptor of serve's). Returns res, or -1 with fd
 * closed and res still /dev/null.
 */
static int
onto(int fd, int res)
{
	int	 r = dup3(fd, res, O_CLOEXEC), e = errno;

	close(fd);
	errno = e;
	return r;
}

/*
 * Give the program its pipes (stdin only for a body; /dev/null without),
 * on the slot's reserved descriptors if it has them, and start it.
 * Returns 0, or 503 for serve's own shortage (a pipe or a process it
 * could not have), logged. A program that cannot be executed shows
 * later, through p->exec_errno (prog_bad).
 */
static enum status
prog_spawn(struct prog *p, int body)
{
	int	 outp[2], inp[2] = { -1, -1 }, err;
	const char *call = "clone";

	if (pipe2(outp, O_CLOEXEC) == -1) {
		logmsg("pipe: ", errtext(errno), NULL);
		return S_UNAVAILABLE;
	}
	if (body && pipe2(inp, O_CLOEXEC) == -1) {
		logmsg("pipe: ", errtext(errno), NULL);
		close(outp[0]);
		close(outp[1]);
		return S_UNAVAILABLE;
	}
	p->child_out = outp[1];
	p->child_in = body ? inp[0] : devnull;
	p->held = 1;
	nheld++;
	if (p->res_out != -1) {
		p->child_out = onto(p->child_out, p->res_out);
		if (body)
			p->child_in = onto(p->child_in, p->res_in);
	}
	if (p->child_out == -1 || p->child_in == -1) {
		call = "dup3";
		p->pid = -1;
	} else
		p->pid = spawn(p);
	err = errno;
	prog_own_fds(p, p->pid == -1);
	if (p->pid == -1) {
		p->pid = 0;
		close(outp[0]);
		if (inp[1] != -1)
			close(inp[1]);
		logmsg("cannot start a process for ", prog_argv[0], NULL);
		logmsg(call, ": ", errtext(err));
		return S_UNAVAILABLE;
	}
	p->out = outp[0];
	p->in = inp[1];
	if (p - progs >= nslots)
		nslots = (int)(p - progs) + 1;
	/* fresh pipe ends have no other status flags */
	(void)fcntl(p->out, F_SETFL, O_NONBLOCK);
	if (p->in != -1)
		(void)fcntl(p->in, F_SETFL, O_NONBLOCK);
	return 0;
}

/*
 * The program's environment for c's complete request, built from scratch
 * into e and mem (ENV_BYTES). 0, or -1 with c refused.
 */
static int
conn_env(struct conn *c, struct env *e, char *mem)
{
	static struct req r;
	static char pathbuf[TARGET_MAX + 1];
	long	 pl;

	if (parse_head(c->buf, c->hl, &r) != 0 ||
	    (pl = path_normalize(pathbuf, r.path, r.plen)) < 0 ||
	    build_env(e, mem, ENV_BYTES, &r, &c->ci, pathbuf, (size_t)pl,
	    c->bodylen) == -1) {
		refuse(c, S_HEAD_TOO_LARGE);	/* ruled out by ENV_BYTES */
		return -1;
	}
	return 0;
}

/*
 * Start the program for c's complete request. The head was checked when
 * it arrived; it is parsed again here (pure and cheap), so a request that
 * waits for a slot holds no parsed copy.
 */
static void
prog_start(struct conn *c, struct prog *p)
{
	enum status status;

	/* a slot's memory is made on its first use, then kept */
	if (p->mem == NULL) {
		if ((p->mem = malloc(sizeof(*p->mem))) == NULL) {
			refuse(c, S_UNAVAILABLE);
			return;
		}
	}
	if (conn_env(c, &p->mem->env, p->mem->envmem) == -1)
		return;
	if ((status = prog_spawn(p, c->bodylen > 0)) != 0) {
		refuse(c, status);
		return;
	}
	nrunning++;
	p->c = c;
	c->p = p;
	c->st = CS_RUN;
	p->inoff = 0;
	relay_begin(&p->mem->rl, c);
	p->exited = 0;
	p->kill_at = 0;
	p->deadline = now + (int64_t)opt.cgi_timeout * 1000;
}

/* Feed the request body to the program's stdin as it takes it. */
static void
prog_write_body(struct prog *p)
{
	struct conn *c = p->c;
	ssize_t	 n;

	n = write(p->in, c->buf + c->hl + p->inoff, c->bodylen - p->inoff);
	if (n > 0)
		p->inoff += (size_t)n;
	if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
	    p->inoff == c->bodylen) {
		close(p->in);	/* all sent, or it stopped reading */
		p->in = -1;
	}
}

/* The program's answer is not valid CGI output: 502, and kill it. */
static void
prog_bad(struct prog *p)
{
	struct conn *c = p->c;
	int	 e = p->exec_errno;

	if (e != 0)
		logmsg("cannot run ", prog_argv[0], e == ENOENT ?
		    ": no such file" : e == EACCES ? ": permission denied" :
		    spawn_status(e) == S_UNAVAILABLE ?
		    ": out of descriptors, memory or processes" : ": exec failed");
	else
		logmsg("not a valid CGI response from ", prog_argv[0], NULL);
	prog_abandon(p);
	refuse(c, e != 0 ? spawn_status(e) : S_BAD_GATEWAY);
}

/*
 * Read what the program wrote, while the client takes what it is sent,
 * and frame it. Called when its stdout is readable (or hung up).
 */
static void
prog_read(struct prog *p)
{
	struct conn *c = p->c;
	struct relay *r = &p->mem->rl;
	ssize_t	 n;
	int	 eof = 0;

	while (r->st != P_DONE && outq_empty(&c->pend)) {
		n = read(p->out, r->obuf + r->olen, sizeof(r->obuf) - r->olen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0)
			eof = 1;
		else
			r->olen += (size_t)n;
		switch (relay_take(c, r, eof)) {
		case RL_MORE:
			continue;
		case RL_BAD:
			prog_bad(p);
			return;
		case RL_GONE:
			break;
		case RL_DONE:
			p->c = NULL;
			c->p = NULL;
			prog_close_out(p);
			resp_done(c, c->status);
			return;
		}
		break;
	}
	if (c->gone)
		conn_drop(c);
}

/*
 * The program's -t deadline: answer 504 if nothing was sent yet (before
 * the grace, so the client is not kept waiting), cut the response
 * otherwise; then SIGTERM its group, and SIGKILL after KILL_GRACE_S.
 */
static void
prog_expire(struct prog *p)
{
	struct conn *c = p->c;

	if (p->kill_at == 0)
		logmsg("the program ran out of time: ", prog_argv[0], NULL);
	if (c != NULL) {
		p->c = NULL;
		c->p = NULL;
		relay_abort(c, p->mem->rl.st, S_GATEWAY_TIMEOUT);
	}
	if (p->kill_at == 0 && !p->exited) {
		prog_signal(p, SIGTERM);
		p->kill_at = now + KILL_GRACE_S * 1000;
		return;
	}
	prog_signal(p, SIGKILL);
	p->kill_at = INT64_MAX;		/* done: wait for it to be reaped */
	prog_close_out(p);
}

/* Give free slots to the requests waiting for one, in order. */
static void
start_queued(void)
{
	struct conn *c;
	int	 i;

	while (qhead != NULL && nrunning < opt.maxprogs) {
		c = qhead;
		qhead = c->qnext;
		if (qhead == NULL)
			qtail = NULL;
		c->qnext = NULL;
		if (fc.on) {
			for (i = 0; fcls[i].busy; i++)
				;
			fcl_start(c, &fcls[i]);
			continue;
		}
		for (i = 0; progs[i].pid != 0; i++)
			;
		prog_start(c, &progs[i]);
	}
}

/* ---- The FastCGI back end (-F, -f) ---------------------------------- */

/*
 * With -F or -f, a complete request goes to a FastCGI responder instead
 * of a new process: over a connection kept open (FCGI_KEEP_CONN), one
 * for all requests when it multiplexes, else one of -c, as
 * FCGI_BEGIN_REQUEST, FCGI_PARAMS (the environment build_env() makes for
 * a program, and SCRIPT_FILENAME) and FCGI_STDIN;
 * its FCGI_STDOUT is relayed as a program's output is (relay_take), its
 * FCGI_STDERR logged. With -F serve runs the responder itself, on a
 * listening socket of its own that serve keeps open too, so requests wait
 * in its backlog while a responder that exited is restarted.
 */

/* Connect x to the responder: 0, or -1 with errno set. */
static int
fcx_connect(struct fcx *x)
{
	int	 one = 1;

	if ((x->fd = socket(fc.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (fc.sa.ss_family != AF_UNIX)
		(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	if (connect(x->fd, (struct sockaddr *)&fc.sa, fc.salen) == -1 &&
	    errno != EINPROGRESS) {
		one = errno;
		close(x->fd);
		x->fd = -1;
		errno = one;
		return -1;
	}
	x->used = 0;
	return 0;
}

/*
 * 1 if x's kept connection is gone or talks out of turn: the responder
 * closed it (or reset it) between requests, or sent something unasked.
 */
static int
fcx_stale(const struct fcx *x)
{
	char	 c;
	ssize_t	 n = recv(x->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n >= 0 || !io_again();
}

/* Close x's connection (no request is on it); the next opens another. */
static void
fcx_close(struct fcx *x)
{
	if (x->fd != -1)
		close(x->fd);
	x->fd = -1;
	x->dirty = x->retry = 0;
	x->inoff = x->inlen = 0;
	memset(&x->rd, 0, sizeof(x->rd));
	outq_free(&x->q);
}

/* The request id on x, or NULL. */
static struct fcl *
fcx_request(const struct fcx *x, unsigned id)
{
	struct fcl *b;

	if (id == 0 || id > (unsigned)opt.maxprogs)
		return NULL;
	b = &fcls[id - 1];
	return b->busy && b->x == x ? b : NULL;
}

/*
 * The request of the record x is reading, if it waits for its client:
 * one that has more than it may hold untaken (nothing at all, unless the
 * connection is multiplexed, where the others would wait too). Else NULL.
 */
static struct fcl *
fcx_blocked(const struct fcx *x)
{
	struct fcl *b = x->rd.type != 0 ? fcx_request(x, x->rd.id) : NULL;

	if (b == NULL || b->c == NULL ||
	    b->c->pend.len - b->c->pend.off <= (fc.mpx ? FCGI_MPX_HOLD : 0))
		return NULL;
	return b;
}

/* b's request is over: b takes the next one (start_queued). */
static void
fcl_release(struct fcl *b)
{
	if (b->c != NULL)
		b->c->b = NULL;
	b->x->nreq--;
	b->x = NULL;
	b->c = NULL;
	b->busy = 0;
	b->abort_at = 0;
	nrunning--;
}

/*
 * x failed (why, if not NULL, for the log): every request on it is over,
 * its client answered status if nothing was sent yet, else cut; x is
 * closed.
 */
static void
fcx_fail(struct fcx *x, enum status status, const char *why)
{
	struct conn *c;
	struct fcl *b;
	int	 i;

	if (why != NULL)
		logmsg("FastCGI responder: ", why, NULL);
	for (i = 0; x->nreq > 0 && i < opt.maxprogs; i++) {
		if ((b = &fcls[i])->x != x)
			continue;
		c = b->c;
		fcl_release(b);
		if (c != NULL)
			relay_abort(c, b->rl->st, status);
	}
	fcx_close(x);
}

/* Every parameter goes in one FCGI_PARAMS record (else this does not compile). */
typedef char fcgi_params_fit[ENV_BYTES + PATH_MAX + 8 * (ENV_MAX + 1) <=
    FCGI_CONTENT_MAX ? 1 : -1];

/*
 * The records of c's request id into enc.req and iov (FCGI_STDIN's
 * headers into sh): BEGIN_REQUEST, the parameters, STDIN with the body,
 * the ends. The number of iov entries.
 */
static int
fcl_encode(const struct conn *c, unsigned id, struct iovec *iov,
    unsigned char (*sh)[FCGI_HEAD])
{
	unsigned char *o = enc.req;
	char	**v, *eq;
	size_t	 n, len, off;
	int	 cnt = 0, i;

	fcgi_head(o, FT_BEGIN_REQUEST, id, FCGI_END_BODY);
	memset(o + FCGI_HEAD, 0, FCGI_END_BODY);
	o[FCGI_HEAD + 1] = FCGI_RESPONDER;
	o[FCGI_HEAD + 2] = FCGI_KEEP_CONN;
	n = 2 * FCGI_HEAD + FCGI_END_BODY;
	for (v = enc.env.v; *v != NULL; v++) {
		eq = strchr(*v, '=');
		n += fcgi_put_pair(o + n, FCGI_REQ_MAX - FCGI_HEAD - n, *v,
		    (size_t)(eq - *v), eq + 1, strlen(eq + 1));
	}
	/* the program's path, which fcgiwrap runs */
	n += fcgi_put_pair(o + n, FCGI_REQ_MAX - FCGI_HEAD - n,
	    "SCRIPT_FILENAME", 15, prog_argv[0], strlen(prog_argv[0]));
	fcgi_head(o + FCGI_HEAD + FCGI_END_BODY, FT_PARAMS, id,
	    n - 2 * FCGI_HEAD - FCGI_END_BODY);
	fcgi_head(o + n, FT_PARAMS, id, 0);
	n += FCGI_HEAD;
	iov[cnt].iov_base = o;
	iov[cnt++].iov_len = n;
	for (off = 0, i = 0; off < c->bodylen; off += len, i++) {
		len = c->bodylen - off > FCGI_CONTENT_MAX ? FCGI_CONTENT_MAX :
		    c->bodylen - off;
		fcgi_head(sh[i], FT_STDIN, id, len);
		iov[cnt].iov_base = sh[i];
		iov[cnt++].iov_len = FCGI_HEAD;
		iov[cnt].iov_base = c->buf + c->hl + off;
		iov[cnt++].iov_len = len;
	}
	fcgi_head(sh[i], FT_STDIN, id, 0);
	iov[cnt].iov_base = sh[i];
	iov[cnt++].iov_len = FCGI_HEAD;
	return cnt;
}

/*
 * Start c's request on the free place b: queued on its connection, which
 * fcx_flush() writes before the loop polls.
 */
static void
fcl_start(struct conn *c, struct fcl *b)
{
	static unsigned char sh[FCGI_STDIN_RECS + 1][FCGI_HEAD];
	struct iovec iov[2 * FCGI_STDIN_RECS + 2];
	struct fcx *x = fc.mpx ? fcxs : &fcxs[b - fcls];
	int	 e;

	if ((b->rl == NULL && (b->rl = malloc(sizeof(*b->rl))) == NULL) ||
	    (x->in == NULL && (x->in = malloc(FCGI_READ_BYTES)) == NULL)) {
		refuse(c, S_UNAVAILABLE);
		return;
	}
	if (conn_env(c, &enc.env, enc.envmem) == -1)
		return;
	if (x->fd == -1 && fcx_connect(x) == -1) {
		e = errno;
		logmsg("cannot connect to the FastCGI responder: ", errtext(e),
		    NULL);
		refuse(c, e == EAGAIN ? S_UNAVAILABLE : S_BAD_GATEWAY);
		return;
	}
	if (outq_empty(&x->q))
		x->retry = x->used && x->nreq == 0;
	if (outq_put(&x->q, iov, fcl_encode(c, b->id, iov, sh)) == -1) {
		refuse(c, S_UNAVAILABLE);
		return;
	}
	x->dirty = x->used = 1;
	x->nreq++;
	nrunning++;
	b->busy = 1;
	b->x = x;
	b->c = c;
	c->b = b;
	c->st = CS_RUN;
	relay_begin(b->rl, c);
	b->deadline = now + (int64_t)opt.cgi_timeout * 1000;
	b->abort_at = 0;
}

/*
 * x failed: the responder closed the kept connection while idle, just
 * as requests were queued on it (one seen closed then is closed already:
 * on_event). If none of them was written, they go once more on a new
 * connection (0); else they fail (-1).
 */
static int
fcx_again(struct fcx *x)
{
	int	 e;

	if (!x->retry) {
		fcx_fail(x, S_BAD_GATEWAY, "the connection failed");
		return -1;
	}
	close(x->fd);
	x->inoff = x->inlen = 0;
	memset(&x->rd, 0, sizeof(x->rd));
	if (fcx_connect(x) == -1) {
		e = errno;
		fcx_fail(x, e == EAGAIN ? S_UNAVAILABLE : S_BAD_GATEWAY,
		    "cannot connect again");
		return -1;
	}
	x->used = x->dirty = 1;
	x->retry = 0;		/* once */
	return 0;
}

/* Write what x's requests queued. */
static void
fcx_flush(struct fcx *x)
{
	size_t	 off = x->q.off;

	x->dirty = 0;
	switch (outq_flush(&x->q, x->fd)) {
	case 1:
		x->retry = 0;
		return;
	case 0:
		if (x->q.off != off)
			x->retry = 0;
		return;
	}
	if (fcx_again(x) == 0)
		fcx_flush(x);
}

/*
 * Nobody waits for b's answer any more (the client left, or -t): ask the
 * responder to stop (FCGI_ABORT_REQUEST) and discard what it still sends
 * until its FCGI_END_REQUEST, for KILL_GRACE_S at most.
 */
static void
fcl_abandon(struct fcl *b)
{
	unsigned char h[FCGI_HEAD];
	struct iovec iov;

	if (b->c != NULL)
		b->c->b = NULL;
	b->c = NULL;
	b->rl->st = P_DONE;
	b->rl->olen = 0;
	fcgi_head(h, FT_ABORT_REQUEST, b->id, 0);
	iov.iov_base = h;
	iov.iov_len = sizeof(h);
	if (outq_put(&b->x->q, &iov, 1) == -1) {
		fcx_fail(b->x, S_BAD_GATEWAY, "out of memory");
		return;
	}
	b->x->dirty = 1;
	b->abort_at = now + KILL_GRACE_S * 1000;
}

/* One FCGI_STDERR piece: a log line, its control bytes escaped. */
static void
fcl_stderr(const unsigned char *d, size_t n)
{
	char	 mem[MSG_MAX];
	struct buf b;
	struct iovec iov;

	buf_init(&b, mem, sizeof(mem) - 1);
	buf_str(&b, "serve: FastCGI stderr: ");
	while (n > 0 && (d[n - 1] == '\n' || d[n - 1] == '\r'))
		n--;
	log_esc(&b, (const char *)d, n > LOG_REQ_MAX ? LOG_REQ_MAX : n);
	if (b.full)
		b.len = sizeof(mem) - 1;
	mem[b.len++] = '\n';
	iov.iov_base = mem;
	iov.iov_len = b.len;
	(void)log_write("serve", &iov, 1);
}

/*
 * b's FCGI_END_REQUEST has come: the relay's end to its client, if it
 * still waits. x, b's connection, goes on with its other requests.
 */
static void
fcl_end(struct fcx *x, struct fcl *b)
{
	struct relay *r = b->rl;
	struct conn *c = b->c;
	unsigned st = x->rd.status;

	fcl_release(b);
	/* the last request on x ended with request bytes still unsent, or
	 * records came after its end: the stream is out of step, the
	 * connection not to be kept */
	if (x->nreq == 0 && (!outq_empty(&x->q) || x->inoff < x->inlen))
		fcx_close(x);
	if (c == NULL)
		return;
	if (st != FP_COMPLETE && r->olen == 0 && r->st == P_HEAD) {
		refuse(c, S_UNAVAILABLE);	/* overloaded, ... */
		return;
	}
	switch (relay_take(c, r, 1)) {
	case RL_BAD:
		logmsg("FastCGI responder: not a valid CGI response", NULL,
		    NULL);
		refuse(c, S_BAD_GATEWAY);
		return;
	case RL_GONE:
		conn_drop(c);
		return;
	default:	/* RL_DONE */
		resp_done(c, c->status);
	}
}

/*
 * Read the responder's records on x while the clients take what they
 * are sent, and relay each request's FCGI_STDOUT; at its
 * FCGI_END_REQUEST a request is over, and its place takes the next.
 */
static void
fcx_read(struct fcx *x)
{
	const unsigned char *d;
	struct conn *c;
	struct fcl *b;
	struct relay *r;
	ssize_t	 n;
	size_t	 used, len;
	int	 reads = 0;

	while (x->nreq > 0 && fcx_blocked(x) == NULL) {
		if (x->inoff == x->inlen) {
			/* a responder that floods STDERR, or output nobody
			 * waits for, has its turn; poll brings it back */
			if (reads++ == FCGI_READS_TURN)
				return;
			n = read(x->fd, x->in, FCGI_READ_BYTES);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN)
				return;
			if (n <= 0) {
				if (x->retry)	/* closed before it was asked */
					(void)fcx_again(x);
				else
					fcx_fail(x, S_BAD_GATEWAY,
					    "closed mid-request");
				return;
			}
			x->inoff = 0;
			x->inlen = (size_t)n;
		}
		b = x->rd.type != 0 ? fcx_request(x, x->rd.id) : NULL;
		r = b != NULL && b->c != NULL ? b->rl : NULL;
		switch (fcgi_read(&x->rd, x->in + x->inoff, x->inlen - x->inoff,
		    r != NULL ? sizeof(r->obuf) - r->olen : FCGI_READ_BYTES,
		    &used, &d, &len)) {
		case FR_MORE:
			x->inoff += used;
			continue;
		case FR_BAD:
			fcx_fail(x, S_BAD_GATEWAY, "malformed records");
			return;
		case FR_HEAD:
			x->inoff += used;
			if (fcx_request(x, x->rd.id) != NULL)
				continue;
			fcx_fail(x, S_BAD_GATEWAY, "a record of no request");
			return;
		case FR_STDERR:
			x->inoff += used;
			fcl_stderr(d, len);
			continue;
		case FR_STDOUT:
			x->inoff += used;
			if (r == NULL)
				continue;	/* aborted: discarded */
			memcpy(r->obuf + r->olen, d, len);
			r->olen += len;
			c = b->c;
			switch (relay_take(c, r, 0)) {
			case RL_MORE:
				continue;
			case RL_BAD:
				logmsg("FastCGI responder: not a valid CGI "
				    "response", NULL, NULL);
				fcl_abandon(b);
				refuse(c, S_BAD_GATEWAY);
				continue;
			default:	/* RL_GONE */
				fcl_abandon(b);
				conn_drop(c);
				continue;
			}
		case FR_END:
			x->inoff += used;
			fcl_end(x, fcx_request(x, x->rd.id));
			continue;
		}
	}
}

/*
 * b's -t deadline: 504 if nothing was sent (the response cut otherwise),
 * and FCGI_ABORT_REQUEST; a responder that does not end the request
 * KILL_GRACE_S later loses the connection (with every request on it: it
 * is stuck), and with -F is restarted.
 */
static void
fcl_expire(struct fcl *b)
{
	struct conn *c = b->c;
	enum pstate st;

	if (b->abort_at == 0) {
		logmsg("the FastCGI request ran out of time: ", prog_argv[0],
		    NULL);
		st = b->rl->st;
		fcl_abandon(b);
		if (c != NULL)
			relay_abort(c, st, S_GATEWAY_TIMEOUT);
		return;
	}
	if (fcx_blocked(b->x) != NULL) {	/* serve waits, not the responder */
		b->abort_at = now + KILL_GRACE_S * 1000;
		return;
	}
	logmsg("the FastCGI responder does not answer: ", prog_argv[0],
	    fc.on == 1 ? "; restarting it" : "");
	fcx_fail(b->x, S_BAD_GATEWAY, NULL);
	if (fc.on == 1 && fc.pid != 0)
		(void)kill(fc.pid, SIGKILL);
}

/*
 * -F: start the responder on fc.lfd. 0, or the errno of its execve. A
 * plain fork system call: serve has one thread, and libc's fork(3) would
 * bring its handlers for threads (a kilobyte and a half). Handlers become
 * the default at execve; SIGPIPE, ignored here, is made so by hand.
 */
static int
fc_spawn(void)
{
	struct sigaction sa;
	sigset_t none;
	int	 p[2], e = 0;
	ssize_t	 n;

	if (pipe2(p, O_CLOEXEC) == -1)
		return errno;
	if ((fc.pid = (pid_t)sys3(SYS_clone, SIGCHLD, 0, 0)) < 0) {
		e = -fc.pid;
		fc.pid = 0;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (fc.pid == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGPIPE, &sa, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* its own group, out of a terminal's ^C; gone with serve */
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(fc.lfd, STDIN_FILENO) == -1 ||
		    dup2(devnull, STDOUT_FILENO) == -1)
			e = errno;
		else
			execv(prog_argv[0], prog_argv), e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(p[0]);
	if (n == (ssize_t)sizeof(e)) {
		while (waitpid(fc.pid, NULL, 0) == -1 && errno == EINTR)
			;
		fc.pid = 0;
		return e;
	}
	fc.started = now_ms();
	return 0;
}

/* -F: the responder exited (status from waitpid): restart it, later. */
static void
fc_exited(int status)
{
	char	 num[16];
	struct buf b;

	buf_init(&b, num, sizeof(num) - 1);
	buf_uint(&b, (uint64_t)(WIFSIGNALED(status) ? WTERMSIG(status) :
	    WEXITSTATUS(status)), 1);
	num[b.len] = '\0';
	fc.pid = 0;
	if (stopping)
		return;
	if (now - fc.started >= FCGI_STABLE_S * 1000)
		fc.backoff_ms = FCGI_BACKOFF_MS;
	fc.restart_at = now + fc.backoff_ms;
	logmsg(WIFSIGNALED(status) ? "the FastCGI responder was killed by "
	    "signal " : "the FastCGI responder exited with status ", num,
	    "; restarting it");
	fc.backoff_ms = fc.backoff_ms < FCGI_BACKOFF_MAX_MS / 2 ?
	    fc.backoff_ms * 2 : FCGI_BACKOFF_MAX_MS;
}

/* -F: restart the responder when its back-off is over. */
static void
fc_restart(void)
{
	int	 e;

	fc.restart_at = 0;
	if ((e = fc_spawn()) != 0) {
		logmsg("cannot restart the FastCGI responder: ", errtext(e),
		    NULL);
		fc.restart_at = now + fc.backoff_ms;
	}
}


/* -f ADDRESS: "unix:/path", "host:port" or "[v6]:port", numeric. 0, or -1. */
static int
fc_address(const char *a)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&fc.sa;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&fc.sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&fc.sa;
	char	 host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	size_t	 n;
	long	 port;

	memset(&fc.sa, 0, sizeof(fc.sa));
	if (strncmp(a, "unix:", 5) == 0) {
		if ((n = strlen(a + 5)) == 0 || n >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a + 5, n);
		fc.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if ((colon = strrchr(a, ':')) == NULL ||
	    (n = (size_t)(colon - a)) >= sizeof(host))
		return -1;
	if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
		memcpy(host, a + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, a, n);
		host[n] = '\0';
	}
	colon++;
	if ((port = decimal(&colon)) < 1 || port > 65535 || *colon != '\0')
		return -1;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		fc.salen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		fc.salen = sizeof(*s6);
		return 0;
	}
	return -1;
}

/*
 * 1 if the n bytes at p are an FCGI_GET_VALUES_RESULT that says
 * FCGI_MPXS_CONNS 1 (the pair of lengths 15 and 1, anywhere in it): the
 * responder takes several requests at once on a connection.
 */
static int
fc_mpxs(const unsigned char *p, size_t n)
{
	static const char pair[] = "\017\001FCGI_MPXS_CONNS1";
	struct fcgi_rec r;
	size_t	 i;

	if (fcgi_record(p, n, &r) <= 0 || r.type != FT_GET_VALUES_RESULT)
		return 0;
	for (i = 0; i + sizeof(pair) - 1 <= r.len; i++)
		if (memcmp(r.data + i, pair, sizeof(pair) - 1) == 0)
			return 1;
	return 0;
}

/*
 * A responder that cannot run is an error at startup, not a 502 for every
 * request: -f, its address takes a connection; -F, it started, and it
 * neither exits nor closes the connection within FCGI_PROBE_MS of being
 * asked FCGI_GET_VALUES (some responders, fcgiwrap among them, never
 * answer it; cgi.fcgi does at once). The answer says whether it
 * multiplexes (fc.mpx); one that does not answer does not. In inetd
 * mode -f asks nothing: one client has nothing to multiplex.
 */
static void
fc_probe(void)
{
	/* FCGI_GET_VALUES, request id 0, asking FCGI_MPXS_CONNS */
	static const char ask[] =
	    "\001\011\000\000\000\021\000\000\017\000FCGI_MPXS_CONNS";
	unsigned char in[FCGI_HEAD + 1024];
	struct fcx x;
	struct pollfd pfd;
	struct fcgi_rec r;
	int64_t	 until = now_ms() + FCGI_PROBE_MS, left;
	size_t	 n = 0;
	ssize_t	 w;
	socklen_t slen = sizeof(int);
	int	 status = ETIMEDOUT;
	const char *where = fc.on == 2 ? fc.address : prog_argv[0];

	memset(&x, 0, sizeof(x));
	if (fcx_connect(&x) == -1)
		die(1, errno, "cannot connect to the FastCGI responder ", where,
		    NULL);
	pfd.fd = x.fd;
	pfd.events = POLLOUT;
	if (fc.on == 2 && fc.sa.ss_family != AF_UNIX &&	/* its outcome */
	    (poll(&pfd, 1, FCGI_PROBE_MS) != 1 || getsockopt(x.fd,
	    SOL_SOCKET, SO_ERROR, &status, &slen) == -1 || status != 0))
		die(1, status, "cannot connect to the FastCGI responder ",
		    where, NULL);
	while (!(fc.on == 2 && opt.inetd) && (left = until - now_ms()) > 0) {
		if (fc.on == 1 && waitpid(fc.pid, &status, WNOHANG) == fc.pid) {
			fc.pid = 0;
			die(1, 0, "the FastCGI responder ", where,
			    " exited at once: is it a FastCGI program?");
		}
		if (poll(&pfd, 1, left > 20 ? 20 : (int)left) <= 0)
			continue;
		if (pfd.events == POLLOUT) {
			pfd.events = POLLIN;
			if (write(x.fd, ask, sizeof(ask) - 1) ==
			    (ssize_t)sizeof(ask) - 1)
				continue;
		} else if ((w = read(x.fd, in + n, sizeof(in) - n)) > 0) {
			n += (size_t)w;
			if (fcgi_record(in, n, &r) == 0 && n < sizeof(in))
				continue;
			fc.mpx = fc_mpxs(in, n);
			break;		/* an answer, whatever it says */
		}
		if (fc.on == 1)		/* it closed the connection */
			die(1, 0, "the FastCGI responder ", where, " closed "
			    "the connection unanswered: is it a FastCGI "
			    "program?");
		break;
	}
	close(x.fd);
}

/*
 * -F: a listening socket for the responder, in Linux's abstract namespace
 * (no file, nothing to clean up), and the responder on it; -f: where it
 * is. Then the probe, and the places of -c requests and of their
 * connections.
 */
static void
fc_setup(void)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&fc.sa;
	struct buf b;
	int	 e, i;

	if (fc.on == 2 && fc_address(fc.address) == -1)
		die(2, 0, "-f: not an address (unix:/path, host:port or "
		    "[v6]:port, numeric): ", fc.address, NULL);
	if (fc.on == 1) {
		memset(&fc.sa, 0, sizeof(fc.sa));
		un->sun_family = AF_UNIX;
		buf_init(&b, un->sun_path + 1, sizeof(un->sun_path) - 1);
		buf_str(&b, "moscow-time-serve.");
		buf_uint(&b, (uint64_t)getpid(), 1);
		buf_add(&b, ".", 1);
		buf_uint(&b, (uint64_t)now_ms(), 1);
		fc.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    1 + b.len);
		if ((fc.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1 || bind(fc.lfd, (struct sockaddr *)&fc.sa,
		    fc.salen) == -1 || listen(fc.lfd, LISTEN_BACKLOG) == -1)
			die(1, errno, "the FastCGI responder's socket", NULL,
			    NULL);
		if ((e = fc_spawn()) != 0)
			die(1, e, "cannot start the FastCGI responder ",
			    prog_argv[0], NULL);
	}
	fc_probe();
	nfcx = fc.mpx ? 1 : opt.maxprogs;
	if ((fcls = calloc((size_t)opt.maxprogs, sizeof(*fcls))) == NULL ||
	    (fcxs = calloc((size_t)nfcx, sizeof(*fcxs))) == NULL)
		die(1, errno, "out of memory", NULL, NULL);
	for (i = 0; i < opt.maxprogs; i++)
		fcls[i].id = (unsigned)i + 1;
	for (i = 0; i < nfcx; i++)
		fcxs[i].fd = -1;
}

/* Write what each connection to the responder has queued this turn. */
static void
fc_flush(void)
{
	int	 i;

	for (i = 0; fc.on && i < nfcx; i++)
		if (fcxs[i].dirty && fcxs[i].fd != -1)
			fcx_flush(&fcxs[i]);
}

/* -F, when serve stops: the responder too, SIGKILL after KILL_GRACE_S. */
static void
fc_stop(void)
{
	int64_t	 until = now_ms() + KILL_GRACE_S * 1000;

	if (fc.pid == 0)
		return;
	(void)kill(fc.pid, SIGTERM);
	while (waitpid(fc.pid, NULL, WNOHANG) == 0) {
		if (now_ms() >= until) {
			(void)kill(fc.pid, SIGKILL);
			(void)waitpid(fc.pid, NULL, 0);
			break;
		}
		(void)poll(NULL, 0, REAP_RECHECK_MS);
	}
	fc.pid = 0;
}

/* ---- Connections --------------------------------------------------- */

/*
 * Request buffers of BUF_START bytes that connections gave back, for the
 * next to take: idle connections hold none, and the allocator does not
 * map and unmap memory at every request.
 */
static char	*buf_pool[BUF_POOL];
static int	 nbuf_pool;

static void
buf_release(struct conn *c)
{
	if (c->buf != NULL && c->cap == BUF_START && nbuf_pool < BUF_POOL)
		buf_pool[nbuf_pool++] = c->buf;
	else
		free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}

static void process_input(struct conn *);

/* Length of the request line at the start of c->buf, for the log. */
static size_t
line_len(const struct conn *c)
{
	size_t	 i;

	for (i = 0; i < c->len && c->buf[i] != '\r' && c->buf[i] != '\n'; i++)
		;
	return i;
}

static void
conn_close(struct conn *c)
{
	struct conn **q;

	if (c->st == CS_DEAD)
		return;
	if (c->p != NULL)
		prog_abandon(c->p);
	if (c->b != NULL)
		fcl_abandon(c->b);
	if (c->st == CS_QUEUED) {
		for (q = &qhead; *q != c; q = &(*q)->qnext)
			;
		*q = c->qnext;
		if (qtail == c)
			for (qtail = qhead; qtail != NULL && qtail->qnext != NULL;
			    qtail = qtail->qnext)
				;
	}
	if (c->in == c->out)
		close(c->in);
	else {
		close(c->in);
		close(c->out);
	}
	buf_release(c);
	outq_free(&c->pend);
	c->st = CS_DEAD;
	ndead++;
	nlive--;
}

/*
 * The client is gone, or too slow: whatever its request started is
 * killed, and it is logged as 499 if it had not been answered.
 */
static void
conn_drop(struct conn *c)
{
	if (c->st == CS_RUN || c->st == CS_QUEUED) {
		c->status = c->status ? c->status : S_CLIENT_GONE;
		log_access(&c->ci, c->buf, line_len(c), c->status, c->sent);
	}
	conn_close(c);
}

/*
 * After the last response: half-close and drain what the client still
 * sends, for LINGER_S at most, so that closing with unread input does not
 * reset the connection and destroy the response in flight (as nginx's
 * lingering close and Apache do).
 */
static void
conn_linger(struct conn *c)
{
	if (!c->sock || c->gone || c->rdeof || shutdown(c->out, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	buf_release(c);
	c->len = 0;
	c->st = CS_LINGER;
	c->deadline = now + LINGER_S * 1000;
}

/* Ready for the next request on c, once its output is all taken. */
static void
conn_next(struct conn *c)
{
	if (c->closing || (c->rdeof && c->len == c->used)) {
		conn_linger(c);
		return;
	}
	/* pipelined bytes after this request stay for the next */
	memmove(c->buf, c->buf + c->used, c->len - c->used);
	c->len -= c->used;
	c->used = c->hl = c->bodylen = c->scan = 0;
	c->status = 0;
	c->sent = 0;
	memset(&c->ck, 0, sizeof(c->ck));
	c->st = CS_IDLE;
	c->idle_since = now;
	c->deadline = now + KEEPALIVE_S * 1000;
	if (c->len == 0)
		buf_release(c);	/* an idle connection holds no buffer */
	else
		process_input(c);
}

/* A response is all queued: log it, then flush and go on. */
static void
resp_done(struct conn *c, enum status status)
{
	log_access(&c->ci, c->buf, line_len(c), status, c->sent);
	c->served++;
	if (!c->keep)
		c->closing = 1;
	if (c->gone) {
		conn_close(c);
		return;
	}
	if (!outq_empty(&c->pend)) {
		c->st = CS_FLUSH;
		c->deadline = 0;
		return;
	}
	conn_next(c);
}

/* Answer with serve's own status; an error closes the connection. */
static void
answer(struct conn *c, enum status status)
{
	char	 mem[OWN_RESP_MAX];
	struct buf b;
	int	 head = c->head || (c->len >= 5 && memcmp(c->buf, "HEAD ", 5) == 0);

	if (status != S_NO_CONTENT)
		c->keep = 0;
	buf_init(&b, mem, sizeof(mem));
	c->sent = render_own(&b, status, head, c->keep, (int64_t)time(NULL));
	c->status = status;
	(void)conn_send1(c, mem, b.len);
	resp_done(c, status);
}

/* Refuse the request with serve's own error; the connection closes. */
static void
refuse(struct conn *c, enum status status)
{
	c->st = CS_FLUSH;
	answer(c, status);
}

/* A head over HEAD_MAX: 414 when even its request line is, else 431. */
static int
too_large(const struct conn *c)
{
	return line_len(c) >= HEAD_MAX ? S_URI_TOO_LONG : S_HEAD_TOO_LARGE;
}

/* The request is complete: run its program, or wait for a slot. */
static void
dispatch(struct conn *c)
{
	c->deadline = 0;
	if (c->asterisk) {
		c->st = CS_FLUSH;
		answer(c, S_NO_CONTENT);	/* OPTIONS * */
		return;
	}
	c->st = CS_QUEUED;
	if (qtail != NULL)
		qtail->qnext = c;
	else
		qhead = c;
	qtail = c;
	start_queued();
}

/*
 * The head c->buf[0..hl) is complete: check it, and decide what comes
 * next (its body, or its program).
 */
static void
head_done(struct conn *c)
{
	static struct req r;
	static char pathbuf[TARGET_MAX + 1];
	enum status status;

	status = parse_head(c->buf, c->hl, &r);
	c->head = r.mlen == 4 && memcmp(r.method, "HEAD", 4) == 0;
	if (status == 0 && !r.asterisk &&
	    path_normalize(pathbuf, r.path, r.plen) < 0)
		status = S_BAD_REQUEST;
	if (status == 0 && r.clen > BODY_MAX)
		status = S_TOO_LARGE;
	if (status != 0) {
		refuse(c, status);
		return;
	}
	c->minor = r.minor;
	c->asterisk = r.asterisk;
	c->clen = r.clen;
	c->chunked = r.chunked;
	c->keep = !r.close && !stopping && c->served + 1 < REQS_PER_CONN;
	c->used = c->hl;
	if (r.clen <= 0 && !r.chunked) {
		dispatch(c);
		return;
	}
	c->st = CS_BODY;
	c->deadline = now + (int64_t)opt.head_timeout * 1000;
	if (r.expect100 && (r.chunked || c->len - c->hl < (size_t)r.clen))
		(void)conn_send1(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	process_input(c);
}

/* Make sense of the bytes buffered so far, in the states that read. */
static void
process_input(struct conn *c)
{
	long	 hl;
	int	 rc;

	if (c->st == CS_IDLE && c->len > 0) {
		c->st = CS_HEAD;	/* a request began: -T from here */
		c->deadline = now + (int64_t)opt.head_timeout * 1000;
	}
	if (c->st == CS_HEAD) {
		if ((hl = head_end(c->buf, c->len, &c->scan)) < 0) {
			refuse(c, S_BAD_REQUEST);
			return;
		}
		if (hl > HEAD_MAX || (hl == 0 && c->len >= HEAD_MAX)) {
			refuse(c, too_large(c));
			return;
		}
		if (hl == 0) {
			if (c->rdeof)
				conn_close(c);	/* it hung up halfway */
			return;
		}
		c->hl = (size_t)hl;
		head_done(c);
		return;
	}
	if (c->st != CS_BODY)
		return;
	if (!c->chunked) {
		if (c->len - c->hl >= (size_t)c->clen) {
			c->bodylen = (size_t)c->clen;
			c->used = c->hl + c->bodylen;
			dispatch(c);
		} else if (c->rdeof)
			conn_close(c);
		return;
	}
	rc = dechunk(&c->ck, c->buf + c->hl, c->len - c->hl, c->buf + c->hl,
	    BODY_MAX);
	if (rc == 0) {
		c->bodylen = c->ck.out;
		c->used = c->hl + c->ck.in;
		dispatch(c);
	} else if (rc == -1)
		refuse(c, S_BAD_REQUEST);
	else if (rc == -2 || c->len - c->hl >= CHUNKED_MAX)
		refuse(c, S_TOO_LARGE);
	else if (c->rdeof)
		conn_close(c);
}

/* How far c's buffer may grow in its state. */
static size_t
conn_need(const struct conn *c)
{
	if (c->st != CS_BODY)
		return HEAD_MAX;
	return c->hl + (c->chunked ? CHUNKED_MAX : (size_t)c->clen);
}

/* The client's side is readable. */
static void
conn_read(struct conn *c)
{
	static char drain[DRAIN_BYTES];
	size_t	 need, ncap;
	ssize_t	 n;
	char	*nb;

	if (c->st == CS_LINGER) {
		n = read(c->in, drain, sizeof(drain));
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		c->len += n > 0 ? (size_t)n : 0;
		if (n <= 0 || c->len > LINGER_BYTES)
			conn_close(c);
		return;
	}
	need = conn_need(c);
	if (c->len == c->cap) {
		if (c->cap >= need)
			return;		/* full: process_input decides */
		ncap = c->cap == 0 ? BUF_START : c->cap * 2;
		ncap = ncap > need ? need : ncap;
		if (c->cap == 0 && ncap == BUF_START && nbuf_pool > 0)
			nb = buf_pool[--nbuf_pool];
		else if ((nb = realloc(c->buf, ncap)) == NULL) {
			conn_close(c);
			return;
		}
		c->buf = nb;
		c->cap = ncap;
	}
	n = read(c->in, c->buf + c->len, c->cap - c->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1 && c->st != CS_IDLE) {
			conn_close(c);	/* a reset halfway */
			return;
		}
		c->rdeof = 1;
		if (c->st == CS_IDLE && c->len == 0) {
			conn_close(c);
			return;
		}
	} else
		c->len += (size_t)n;
	process_input(c);
}

/* The client took some of the pending output. */
static void
conn_flush(struct conn *c)
{
	size_t	 off = c->pend.off;

	switch (outq_flush(&c->pend, c->out)) {
	case -1:
		c->gone = 1;
		conn_drop(c);
		return;
	case 0:
		if (c->pend.off != off)
			c->wdeadline = now + WRITE_IDLE_S * 1000;
		return;
	}
	c->wdeadline = 0;
	if (c->st == CS_FLUSH)
		conn_next(c);
	else if (c->p != NULL && c->p->mem->rl.st != P_DONE)
		prog_read(c->p);	/* go on relaying */
	else if (c->b != NULL)
		fcx_read(c->b->x);
}

/* Numeric host and port of a socket address; IPv4-mapped as IPv4. */
static void
addr_text(const struct sockaddr *sa, char *host, char *port)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct sockaddr_in *s4 = (const void *)sa;
	struct buf b;

	strcpy(host, "-");
	strcpy(port, "0");
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		addr_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, host);
	else if (sa->sa_family == AF_INET6)
		addr_ntop(AF_INET6, &s6->sin6_addr, host);
	else if (sa->sa_family == AF_INET)
		addr_ntop(AF_INET, &s4->sin_addr, host);
	else
		return;
	buf_init(&b, port, 5);
	buf_uint(&b, ntohs(sa->sa_family == AF_INET ? s4->sin_port :
	    s6->sin6_port), 1);
	port[b.len] = '\0';
}

/* Copy the variable v into dst (cap bytes, NUL included), if set. */
static void
env_copy(char *dst, size_t cap, const char *a, const char *b)
{
	const char *v = getenv(a) != NULL ? getenv(a) : getenv(b);
	size_t	 n;

	if (v == NULL)
		return;
	n = strlen(v) < cap - 1 ? strlen(v) : cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* A connection on in and out (the same socket, or 0 and 1 with -i). */
static struct conn *
conn_new(int in, int out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	int	 one = 1, type;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->in = in;
	c->out = out;
	strcpy(c->ci.peer, "-");
	strcpy(c->ci.peerport, "0");
	strcpy(c->ci.local, "localhost");
	strcpy(c->ci.localport, "0");
	if (getpeername(in, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, c->ci.peer, c->ci.peerport);
	else {
		/* inetd-style wrappers that pass the peer in the environment */
		env_copy(c->ci.peer, sizeof(c->ci.peer), "REMOTE_ADDR",
		    "TCPREMOTEIP");
		env_copy(c->ci.peerport, sizeof(c->ci.peerport), "REMOTE_PORT",
		    "TCPREMOTEPORT");
	}
	len = sizeof(ss);
	if (getsockname(in, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, c->ci.local, c->ci.localport);
	len = sizeof(type);
	c->sock = getsockopt(in, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	if (c->sock)
		(void)setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(in);
	if (out != in)
		set_nonblock(out);
	c->st = CS_IDLE;
	c->idle_since = now;
	c->deadline = now + (int64_t)opt.head_timeout * 1000;
	conns[nconns++] = c;
	nlive++;
	return c;
}

/*
 * 1 if c may be closed to make room for a new connection at -C: it is
 * idle between keep-alive requests, or new and silent for EVICT_GRACE_MS,
 * and none of its bytes wait unread. A connection whose request is
 * waiting or running is never closed. Listeners are served after every
 * connection in a turn, so what came before poll returned has been read.
 */
static int
evictable(const struct conn *c)
{
	return c->st == CS_IDLE && c->len == 0 &&
	    (c->served > 0 || now - c->idle_since >= EVICT_GRACE_MS);
}

/*
 * At -C: the connection to close for a new one, idle longest; NULL if
 * none may go.
 */
static struct conn *
evict_choose(void)
{
	struct conn *best = NULL;
	char	 b;
	int	 i;

	for (i = 0; i < nconns; i++)
		if (evictable(conns[i]) &&
		    (best == NULL || conns[i]->idle_since < best->idle_since))
			best = conns[i];
	/* bytes that came since poll: its request, to be read next turn */
	if (best != NULL && best->sock && recv(best->in, &b, 1,
	    MSG_PEEK | MSG_DONTWAIT) == 1)
		return NULL;
	return best;
}

/*
 * 1 if a connection could be evicted for a new one; else, in *when, the
 * first time one of the silent new ones could be (0: none).
 */
static int
evict_possible(int64_t *when)
{
	int	 i;
	int64_t	 t;

	*when = 0;
	for (i = 0; i < nconns; i++) {
		if (evictable(conns[i]))
			return 1;
		t = conns[i]->idle_since + EVICT_GRACE_MS;
		if (conns[i]->st == CS_IDLE && conns[i]->len == 0 &&
		    (*when == 0 || t < *when))
			*when = t;
	}
	return 0;
}

/* Free the connections closed this turn. */
static void
sweep(void)
{
	int	 i;

	if (ndead == 0)
		return;
	ndead = 0;
	for (i = 0; i < nconns; )
		if (conns[i]->st == CS_DEAD) {
			free(conns[i]);
			conns[i] = conns[--nconns];
		} else
			i++;
}

/* accept(2) errors that concern one connection, not the listener. */
static int
accept_transient(int e)
{
	return e == EAGAIN || e == EINTR || e == ECONNABORTED || e == EPROTO ||
	    e == ENETDOWN || e == ENOPROTOOPT || e == EHOSTDOWN ||
	    e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP ||
	    e == ENETUNREACH || e == EPERM;
}

/*
 * A connection serve cannot hold (out of memory): a 503 as far as the
 * socket takes it at once, and a log line; no request leaves unanswered
 * and unlogged.
 */
static void
refuse_new(int fd)
{
	char	 mem[OWN_RESP_MAX];
	struct buf b;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conninfo ci;
	size_t	 n;

	strcpy(ci.peer, "-");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		addr_text((struct sockaddr *)&ss, ci.peer, ci.peerport);
	buf_init(&b, mem, sizeof(mem));
	n = render_own(&b, S_UNAVAILABLE, 0, 0, (int64_t)time(NULL));
	(void)!send(fd, mem, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_access(&ci, "", 0, S_UNAVAILABLE, n);
	close(fd);
}

static void
accept_conns(int l)
{
	struct conn *room;
	int	 k, fd;

	for (k = 0; k < ACCEPT_BURST; k++) {
		/* at -C, a connection is taken only in place of one that may
		 * go: without one, it waits in the kernel's backlog */
		room = NULL;
		if (nlive >= opt.maxconns && (room = evict_choose()) == NULL)
			return;
		fd = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				logmsg("accept: out of descriptors or memory; "
				    "pausing", NULL, NULL);
				accept_paused_until = now + EMFILE_PAUSE_MS;
			} else if (!accept_transient(errno))
				die(1, errno, "accept", NULL, NULL);
			return;
		}
		if (room != NULL)
			conn_close(room);
		if (conn_new(fd, fd) == NULL) {
			refuse_new(fd);
			return;
		}
	}
}

/* ---- The loop ------------------------------------------------------ */

/* SIGTERM: stop accepting; idle connections close, the rest finish. */
static void
begin_stop(void)
{
	int	 i;

	stopping = 1;
	stop_by = now + (int64_t)(opt.cgi_timeout + KILL_GRACE_S +
	    opt.head_timeout + 1) * 1000;
	for (i = 0; i < nl; i++)
		close(lfd[i]);
	nl = 0;
	for (i = 0; i < nconns; i++) {
		conns[i]->keep = 0;
		if (conns[i]->p != NULL)
			conns[i]->p->mem->rl.fr.keep = 0;
		if (conns[i]->b != NULL)
			conns[i]->b->rl->fr.keep = 0;
		if (conns[i]->st == CS_IDLE && conns[i]->len == 0)
			conn_close(conns[i]);
	}
}

/* Deadlines that passed; returns the next one (0: none). */
static int64_t
timers(void)
{
	int64_t	 next = 0, d;
	struct conn *c;
	struct prog *p;
	struct fcl *b;
	int	 i;

#define NEXT(t)	do { if ((t) != 0 && (next == 0 || (t) < next)) next = (t); } while (0)
	for (i = 0; i < nslots; i++) {
		p = &progs[i];
		if (p->pid == 0 || (p->kill_at == INT64_MAX))
			continue;
		/* output over, exit not yet seen: look again soon, whatever
		 * SIGCHLD says (a finished program once held its slot to -t) */
		if (p->out == -1 && !p->exited) {
			prog_try_reap(p);
			if (p->pid == 0)
				continue;
			NEXT(now + REAP_RECHECK_MS);
		}
		d = p->kill_at != 0 ? p->kill_at : p->deadline;
		if (p->exited && p->out == -1)
			continue;
		if (now >= d)
			prog_expire(p);
		else
			NEXT(d);
	}
	for (i = 0; i < nconns; i++) {
		c = conns[i];
		if (c->st == CS_DEAD)
			continue;
		if (c->wdeadline != 0 && now >= c->wdeadline) {
			conn_drop(c);	/* it stopped reading */
			continue;
		}
		NEXT(c->wdeadline);
		if (c->deadline == 0 || c->st == CS_RUN || c->st == CS_QUEUED ||
		    c->st == CS_FLUSH) {
			continue;
		}
		if (now < c->deadline) {
			NEXT(c->deadline);
			continue;
		}
		if (c->st == CS_HEAD || c->st == CS_BODY)
			refuse(c, S_TIMEOUT);
		else
			conn_close(c);	/* idle, or done lingering */
	}
	/* records read and not taken, their client since gone: no poll
	 * event will come for them */
	for (i = 0; fc.on && i < nfcx; i++)
		if (fcxs[i].nreq > 0 && fcxs[i].inoff < fcxs[i].inlen &&
		    fcx_blocked(&fcxs[i]) == NULL)
			fcx_read(&fcxs[i]);
	for (i = 0; fc.on && i < opt.maxprogs; i++) {
		b = &fcls[i];
		if (!b->busy)
			continue;
		d = b->abort_at != 0 ? b->abort_at : b->deadline;
		if (now >= d)
			fcl_expire(b);
		else
			NEXT(d);
	}
	if (fc.restart_at != 0 && now >= fc.restart_at)
		fc_restart();
	NEXT(fc.restart_at);
	/* a request started after this (start_queued) sets its deadline
	 * later: wake up by then at the latest */
	if (nrunning > 0 || qhead != NULL)
		NEXT(now + (int64_t)opt.cgi_timeout * 1000);
	if (stopping)
		NEXT(stop_by);
	if (accept_paused_until > now)
		NEXT(accept_paused_until);
#undef NEXT
	return next;
}

/* Add a poll entry. */
static void
watch(struct pollfd *pfd, struct owner *own, nfds_t *n, int fd, short ev,
    enum role role, void *ptr, unsigned gen)
{
	pfd[*n].fd = fd;
	pfd[*n].events = ev;
	pfd[*n].revents = 0;
	own[*n].role = role;
	own[*n].ptr = ptr;
	own[*n].gen = gen;
	(*n)++;
}

/* Build the poll set: what each listener, connection and program waits for. */
static nfds_t
poll_set(struct pollfd *pfd, struct owner *own)
{
	nfds_t	 n = 0;
	struct conn *c;
	struct prog *p;
	struct fcx *x;
	int	 i, accepting;
	short	 ev;

	evict_at = 0;
	accepting = !stopping && now >= accept_paused_until &&
	    (nlive < opt.maxconns || evict_possible(&evict_at));
	for (i = 0; i < nl && accepting; i++)
		watch(pfd, own, &n, lfd[i], POLLIN, R_LISTEN, &lfd[i], 0);
	for (i = 0; i < nconns; i++) {
		c = conns[i];
		ev = 0;
		if (!c->rdeof && (c->st == CS_IDLE || c->st == CS_HEAD ||
		    c->st == CS_BODY || c->st == CS_LINGER))
			ev = POLLIN;
		if (!outq_empty(&c->pend) && c->in == c->out)
			ev |= POLLOUT;
		/* with nothing asked, a socket still reports a reset; with
		 * -i, the output side tells whether the client is there */
		if (ev != 0 || (!c->rdeof && c->sock && c->in == c->out))
			watch(pfd, own, &n, c->in, ev, R_CONN_IN, c, 0);
		if (!outq_empty(&c->pend) && c->in != c->out)
			watch(pfd, own, &n, c->out, POLLOUT, R_CONN_OUT, c, 0);
	}
	for (i = 0; i < nslots; i++) {
		p = &progs[i];
		if (p->pid == 0)
			continue;
		if (p->out != -1 && p->c != NULL && outq_empty(&p->c->pend))
			watch(pfd, own, &n, p->out, POLLIN, R_PROG_OUT, p, p->gen);
		if (p->in != -1 && p->c != NULL)
			watch(pfd, own, &n, p->in, POLLOUT, R_PROG_IN, p, p->gen);
	}
	for (i = 0; fc.on && i < nfcx; i++) {
		x = &fcxs[i];
		if (x->fd == -1)
			continue;
		/* an idle one: to see the responder close it */
		ev = fcx_blocked(x) == NULL ? POLLIN : 0;
		if (!outq_empty(&x->q))
			ev |= POLLOUT;
		if (ev != 0)
			watch(pfd, own, &n, x->fd, ev, R_FCGI, x, 0);
	}
	return n;
}

/* Act on what poll reported for entry i. */
static void
on_event(const struct pollfd *pf, const struct owner *ow)
{
	struct conn *c = ow->ptr;
	struct prog *p = ow->ptr;
	struct fcx *x;

	switch (ow->role) {
	case R_LISTEN:
		if (pf->revents & POLLIN)
			accept_conns(pf->fd);
		break;
	case R_CONN_IN:
	case R_CONN_OUT:
		if (c->st == CS_DEAD)
			break;
		/* a reset, or a hang-up with nothing left to read: gone */
		if (pf->revents & POLLERR || (pf->revents & POLLHUP &&
		    !(pf->revents & POLLIN) && c->in == c->out &&
		    c->st != CS_LINGER)) {
			c->gone = 1;
			conn_drop(c);
			break;
		}
		if (pf->revents & POLLOUT && !outq_empty(&c->pend))
			conn_flush(c);
		if (c->st != CS_DEAD && pf->revents & (POLLIN | POLLHUP) &&
		    ow->role == R_CONN_IN && !c->rdeof)
			conn_read(c);
		break;
	case R_PROG_OUT:
		if (p->gen == ow->gen && p->c != NULL && p->out != -1 &&
		    pf->revents & (POLLIN | POLLHUP | POLLERR))
			prog_read(p);
		break;
	case R_PROG_IN:
		if (p->gen == ow->gen && p->c != NULL && p->in != -1 &&
		    pf->revents & (POLLOUT | POLLERR | POLLHUP))
			prog_write_body(p);
		break;
	case R_FCGI:
		x = ow->ptr;
		if (x->fd == -1)
			break;
		if (pf->revents & POLLOUT && !outq_empty(&x->q))
			fcx_flush(x);
		if (x->fd != -1 && x->nreq == 0) {	/* closed, or out of turn */
			if (fcx_stale(x))
				fcx_close(x);
			break;
		}
		if (x->nreq > 0 && x->fd != -1 &&
		    pf->revents & (POLLIN | POLLHUP | POLLERR))
			fcx_read(x);
		break;
	}
}

/*
 * The loop: until told to stop and everything in flight is done (or, in
 * inetd mode, until the one connection is closed).
 */
static void
serve_loop(void)
{
	struct pollfd *pfd;
	struct owner *own;
	struct timespec ts;
	sigset_t none;
	size_t	 cap = LISTEN_MAX + 2 * ((size_t)opt.maxconns + ACCEPT_BURST) +
		    2 * (size_t)opt.maxprogs;
	nfds_t	 n, i;
	int64_t	 next;
	int	 k;

	if ((pfd = calloc(cap, sizeof(*pfd))) == NULL ||
	    (own = calloc(cap, sizeof(*own))) == NULL)
		die(1, errno, "out of memory", NULL, NULL);
	sigemptyset(&none);
	for (;;) {
		now = now_ms();
		if (got_chld) {
			got_chld = 0;
			reap_all();
		}
		for (k = 0; nheld > 0 && k < nslots; k++)
			if (progs[k].held)
				prog_own_fds(&progs[k], progs[k].exited);
		if (got_term && !stopping)
			begin_stop();
		next = timers();
		start_queued();
		fc_flush();
		sweep();
		if ((stopping || opt.inetd) && nconns == 0 && nrunning == 0)
			break;
		if (stopping && now >= stop_by) {
			logmsg("stopping: cutting what is still in flight", NULL,
			    NULL);
			for (k = 0; k < nconns; k++)
				conn_close(conns[k]);
			for (k = 0; k < nslots; k++)
				if (progs[k].pid != 0)
					prog_signal(&progs[k], SIGKILL);
			break;
		}
		n = poll_set(pfd, own);
		if (evict_at != 0 && (next == 0 || evict_at < next))
			next = evict_at;
		if (next != 0)
			ms_timespec(next - now, &ts);
		if (ppoll(pfd, n, next != 0 ? &ts : NULL, &none) <= 0)
			continue;
		now = now_ms();
		/* connections first: at -C, what they sent is read before a
		 * listener's newcomer looks for room (evictable) */
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0 && own[i].role != R_LISTEN)
				on_event(&pfd[i], &own[i]);
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0 && own[i].role == R_LISTEN)
				on_event(&pfd[i], &own[i]);
	}
	/* nothing serve started outlives it */
	fc_stop();
	kill_adopted(0);
	free(pfd);
	free(own);
}

/* ---- Setting up ---------------------------------------------------- */

static const char usage_text[] =
    "usage: serve [-FhqV] [-b address] [-p port] [-c max-programs]\n"
    "             [-C max-connections] [-t cgi-timeout] [-T head-timeout]\n"
    "             [-f responder-address] [-i] [program [arg ...]]\n";

static void
usage(void)
{
	(void)!write(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
	exit(2);
}

/* A decimal in [lo, hi], or exit 2 naming the option. */
static long
number(const char *s, long lo, long hi, const char *opt_name)
{
	char	 m[64];
	struct buf b;
	long	 v = decimal(&s);

	if (v < lo || v > hi || *s != '\0') {
		buf_init(&b, m, sizeof(m) - 1);
		buf_str(&b, " must be a number from ");
		buf_int(&b, lo, 1);
		buf_str(&b, " to ");
		buf_int(&b, hi, 1);
		m[b.len] = '\0';
		die(2, 0, opt_name, m, NULL);
	}
	return v;
}

/* The program to run: argv of serve's operands, or cgi beside serve. */
static void
find_program(int argc, char *argv[], const char *self)
{
	static char path[PATH_MAX];
	ssize_t	 n;
	char	*slash;
	int	 i;

	if (argc > ARGS_MAX + 1)
		die(2, 0, "too many program arguments", NULL, NULL);
	if (argc > 0) {
		for (i = 0; i < argc; i++)
			prog_argv[i] = argv[i];
		prog_argv[argc] = NULL;
	} else {
		n = readlink("/proc/self/exe", path, sizeof(path) - 5);
		if (n <= 0) {
			n = (ssize_t)strlen(self);
			if ((size_t)n >= sizeof(path) - 5)
				n = 0;
			memcpy(path, self, (size_t)n);
		}
		path[n] = '\0';
		slash = strrchr(path, '/');
		strcpy(slash != NULL ? slash + 1 : path, fc.on == 1 ? "cgi.fcgi" :
		    "cgi");
		prog_argv[0] = path;
		prog_argv[1] = NULL;
	}
	if (fc.on && strlen(prog_argv[0]) >= PATH_MAX)
		die(2, 0, "the program's path is too long", NULL, NULL);
	/* -f: the program is the responder's to run (SCRIPT_FILENAME) */
	if (fc.on != 2 && access(prog_argv[0], X_OK) != 0)
		die(1, 0, "cannot run ", prog_argv[0], ": not an executable file");
}

/* "http://127.0.0.1:8080/ " for the startup line. */
static void
buf_url(struct buf *b, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char	 host[INET6_ADDRSTRLEN], port[6];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die(1, errno, "getsockname", NULL, NULL);
	addr_text((struct sockaddr *)&ss, host, port);
	buf_str(b, "http://");
	buf_addr(b, host);
	buf_add(b, ":", 1);
	buf_str(b, port);
	buf_str(b, "/ ");
}

/* Listen on one address; -1 if that address family is not available. */
static int
listen_on(int family, const void *addr, int port, int v6only)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int	 fd, one = 1, e;
	char	 text[INET6_ADDRSTRLEN], where[16];
	struct buf b;

	memset(&s6, 0, sizeof(s6));
	memset(&s4, 0, sizeof(s4));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons((uint16_t)port);
	s4.sin_family = AF_INET;
	s4.sin_port = htons((uint16_t)port);
	if (family == AF_INET6)
		memcpy(&s6.sin6_addr, addr, sizeof(s6.sin6_addr));
	else
		memcpy(&s4.sin_addr, addr, sizeof(s4.sin_addr));
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT))
		return -1;
	if (fd == -1)
		die(1, errno, "socket", NULL, NULL);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (bind(fd, family == AF_INET6 ? (struct sockaddr *)&s6 :
	    (struct sockaddr *)&s4, family == AF_INET6 ? sizeof(s6) :
	    sizeof(s4)) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		if (errno == EADDRNOTAVAIL && family == AF_INET6 && v6only) {
			close(fd);
			return -1;	/* ::1 where IPv6 is off */
		}
		e = errno;
		addr_ntop(family, addr, text);
		buf_init(&b, where, sizeof(where) - 1);
		buf_str(&b, " port ");
		buf_uint(&b, (uint64_t)port, 1);
		where[b.len] = '\0';
		die(1, e, "cannot listen on ", text, where);
	}
	return fd;
}

/* The port a listener got (for -p 0). */
static int
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die(1, errno, "getsockname", NULL, NULL);
	return ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Listen on address (numeric IPv4 or IPv6, or "localhost" for 127.0.0.1
 * and ::1) and port; with no address, on one dual-stack IPv6 socket, or
 * IPv4 alone where IPv6 is off. Numeric only: serve links no resolver.
 */
static void
open_listeners(const char *address, int port)
{
	struct in6_addr a6;
	struct in_addr a4;
	int	 fd;

	if (address == NULL) {
		if ((fd = listen_on(AF_INET6, &in6addr_any, port, 0)) == -1) {
			a4.s_addr = htonl(INADDR_ANY);
			fd = listen_on(AF_INET, &a4, port, 0);
		}
		if (fd == -1)
			die(1, 0, "no IPv4 or IPv6 to listen on", NULL, NULL);
		lfd[nl++] = fd;
		return;
	}
	if (strcmp(address, "localhost") == 0) {
		a4.s_addr = htonl(INADDR_LOOPBACK);
		if ((lfd[nl] = listen_on(AF_INET, &a4, port, 0)) != -1)
			nl++;
		if ((lfd[nl] = listen_on(AF_INET6, &in6addr_loopback,
		    nl > 0 && port == 0 ? bound_port(lfd[0]) : port, 1)) != -1)
			nl++;
	} else if (inet_pton(AF_INET, address, &a4) == 1) {
		if ((lfd[nl] = listen_on(AF_INET, &a4, port, 0)) != -1)
			nl++;
	} else if (inet_pton(AF_INET6, address, &a6) == 1) {
		if ((lfd[nl] = listen_on(AF_INET6, &a6, port, 1)) != -1)
			nl++;
	} else
		die(1, 0, "-b ", address, ": not a numeric IPv4 or IPv6 address, nor localhost");
	if (nl == 0)
		die(1, 0, "-b ", address, ": that address family is not available");
}

/* Mark every open descriptor from lo up close-on-exec. */
static void
cloexec_from(int lo)
{
	DIR	*d;
	struct dirent *de;
	int	 fd;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		for (fd = lo; fd < 1024; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if ((fd = atoi(de->d_name)) >= lo && fd != dirfd(d))
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	closedir(d);
}

/*
 * systemd socket activation (Accept=no): listeners from fd 3 on. Each
 * must be a listening socket, or serve refuses to start.
 */
static int
activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	socklen_t len;
	int	 n, i, yes;
	char	 d[4] = "3";

	if (pid == NULL || nfds == NULL || atol(pid) != (long)getpid())
		return 0;
	n = atoi(nfds);
	if (n < 1 || n > LISTEN_MAX)
		die(1, 0, "LISTEN_FDS=", nfds, ": from 1 to 8 listeners");
	for (i = 0; i < n; i++) {
		lfd[i] = 3 + i;
		d[0] = (char)('3' + i);
		yes = 0;
		len = sizeof(yes);
		if (getsockopt(lfd[i], SOL_SOCKET, SO_ACCEPTCONN, &yes,
		    &len) == -1 || !yes)
			die(1, 0, "LISTEN_FDS: descriptor ", d,
			    " is not a listening socket");
		if (fcntl(lfd[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    set_nonblock(lfd[i]) == -1)
			die(1, errno, "LISTEN_FDS: descriptor ", d, NULL);
	}
	nl = n;
	return n;
}

/* 1 if descriptors a and b are the same open socket or file. */
static int
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The descriptors the soft limit leaves for connections after FD_RESERVE
 * and four for each of -c programs (its two pipes' ends at serve and,
 * reserved, at the child: reserve_fds); CONNS_MAX without a limit.
 */
static long
fd_room(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
	    (long)rl.rlim_cur - FD_RESERVE - 4L * opt.maxprogs : CONNS_MAX;
}

/*
 * Descriptors: serve's own soft limit raised to the hard one (poll has no
 * FD_SETSIZE), and -C by default fd_room().
 */
static void
size_limits(int conns_given)
{
	struct rlimit rl;
	long	 room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < NOFILE_WANT &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < NOFILE_WANT ? rl.rlim_max : NOFILE_WANT;
		/* the system call: libc's setrlimit(3) brings its code for
		 * threads (__synccall, 700 bytes); serve has one */
		(void)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
	}
	if (conns_given)
		return;
	room = fd_room();
	opt.maxconns = room < 1 ? 1 : room > CONNS_MAX ? CONNS_MAX : (int)room;
}

/*
 * Two low descriptors for each program slot, /dev/null until a program's
 * pipe ends are put there (prog_spawn), so that its child copies only the
 * descriptors below them (child_unshare): when the limit leaves room for
 * them and a connection, and the kernel has close_range(2) with
 * CLOSE_RANGE_UNSHARE (Linux 5.9) and lets serve call it. Otherwise, or
 * if the descriptors run out here, none: each child copies serve's table.
 */
static void
reserve_fds(void)
{
	int	 i, ok = 1;

	if (fd_room() < 1 ||
	    sys3(SYS_close_range, (long)~0U, (long)~0U, CLOSE_RANGE_UNSHARE) != 0)
		return;
	for (i = 0; i < opt.maxprogs && ok; i++)
		ok = (progs[i].res_in = fcntl(devnull, F_DUPFD_CLOEXEC, 0)) != -1 &&
		    (progs[i].res_out = fcntl(devnull, F_DUPFD_CLOEXEC, 0)) != -1;
	for (i = 0; i < opt.maxprogs && !ok; i++) {
		if (progs[i].res_in != -1)
			close(progs[i].res_in);
		if (progs[i].res_out != -1)
			close(progs[i].res_out);
		progs[i].res_in = progs[i].res_out = -1;
	}
}

/*
 * The next option in argv, as getopt(3) with "+" takes them (musl's is
 * 850 bytes): spec's letters, ':' after one with an argument, glued or
 * next; options end at the first operand or "--". Its letter with argval
 * set, -1 at the end (argi is then the first operand), or '?' for an
 * unknown option or a missing argument, said on stderr.
 */
static int	 argi = 1;
static char	*argval;

static int
next_option(int argc, char *argv[], const char *spec)
{
	static int pos = 1;
	const char *a, *o;
	char	 c[2] = { 0, 0 };

	if (argi >= argc || (a = argv[argi])[0] != '-' || a[1] == '\0')
		return -1;
	if (pos == 1 && strcmp(a, "--") == 0) {
		argi++;
		return -1;
	}
	c[0] = a[pos++];
	if (c[0] == ':' || (o = strchr(spec, c[0])) == NULL) {
		logmsg("unknown option -", c, NULL);
		return '?';
	}
	argval = NULL;
	if (o[1] == ':' && a[pos] != '\0')
		argval = (char *)a + pos;
	else if (o[1] == ':' && argi + 1 < argc)
		argval = argv[++argi];
	else if (o[1] == ':') {
		logmsg("option -", c, " needs an argument");
		return '?';
	}
	if (argval != NULL || a[pos] == '\0') {
		argi++;
		pos = 1;
	}
	return c[0];
}

/*
 * Options into opt, the program into prog_argv; returns the address to
 * bind (NULL: all) and sets *port. Exits 0 for -h and -V, 2 on misuse.
 */
static const char *
options(int argc, char *argv[], int *port, int *conns_given)
{
	const char *address = NULL, *port_s = getenv("PORT");
	int	 ch;

	if (port_s == NULL || *port_s == '\0')
		port_s = "8080";
	while ((ch = next_option(argc, argv, "b:c:C:f:Fhip:qt:T:V")) != -1) {
		switch (ch) {
		case 'f':
			fc.on = 2;
			fc.address = argval;
			break;
		case 'F':
			fc.on = 1;
			break;
		case 'b':
			address = argval;
			break;
		case 'c':
			opt.maxprogs = (int)number(argval, 1, CHILDREN_MAX, "-c");
			break;
		case 'C':
			opt.maxconns = (int)number(argval, 1, CONNS_MAX, "-C");
			*conns_given = 1;
			break;
		case 'h':
			(void)!write(STDOUT_FILENO, usage_text,
			    sizeof(usage_text) - 1);
			exit(0);
		case 'i':
			opt.inetd = 1;
			break;
		case 'p':
			port_s = argval;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 't':
			opt.cgi_timeout = (int)number(argval, 1, TIMEOUT_MAX_S, "-t");
			break;
		case 'T':
			opt.head_timeout = (int)number(argval, 1, TIMEOUT_MAX_S, "-T");
			break;
		case 'V':
			(void)!write(STDOUT_FILENO, "moscow-time serve " VERSION "\n",
			    sizeof("moscow-time serve " VERSION "\n") - 1);
			exit(0);
		default:
			usage();
		}
	}
	*port = (int)number(port_s, 0, 65535, "the port");
	find_program(argc - argi, argv + argi, argv[0]);
	return address;
}

/* MODE=once: be the program, once, as the reference container was. */
static void
run_once(const char *mode)
{
	char	 line[MSG_MAX], *envp[2];
	struct buf b;

	buf_init(&b, line, sizeof(line) - 1);
	buf_str(&b, "MODE=");
	buf_str(&b, mode);
	line[b.len] = '\0';
	envp[0] = line;
	envp[1] = NULL;
	execve(prog_argv[0], prog_argv, envp);
	die(1, errno, "cannot run ", prog_argv[0], NULL);
}

/*
 * Descriptors, signals and tables: nothing inherited reaches a program,
 * fds 0-2 are open, signals arrive only inside ppoll (so no wakeup is
 * lost), descendants whose parent dies are adopted.
 */
static void
setup(int conns_given)
{
	struct sigaction sa;
	sigset_t block;
	int	 fd, i;

	cloexec_from(3);
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		die(1, errno, "/dev/null", NULL, NULL);
	/* inetd hands the socket over as fd 2 too: log nowhere, then */
	if (opt.inetd && (same_file(STDERR_FILENO, STDIN_FILENO) ||
	    same_file(STDERR_FILENO, STDOUT_FILENO))) {
		opt.quiet = 1;
		(void)dup2(devnull, STDERR_FILENO);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, NULL);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (opt.inetd)
		opt.maxconns = 1;
	size_limits(conns_given || opt.inetd);
	if ((progs = calloc((size_t)opt.maxprogs, sizeof(*progs))) == NULL ||
	    (conns = calloc((size_t)opt.maxconns + ACCEPT_BURST,
	    sizeof(*conns))) == NULL)
		die(1, errno, "out of memory", NULL, NULL);
	for (i = 0; i < opt.maxprogs; i++)
		progs[i].out = progs[i].in = progs[i].res_in =
		    progs[i].res_out = -1;
	if (fc.on)
		fc_setup();
	else
		reserve_fds();
	now = now_ms();
}

/*
 * The listening sockets: activated, or opened; with -p 0 the port on
 * standard output, and unless -q a line saying where to go.
 */
static void
listeners(const char *address, int port)
{
	char	 line[MSG_MAX];
	struct buf b;
	int	 i;

	/* a process group of its own unless a terminal's job is ours: a
	 * supervisor that started serve is never in the way of a signal */
	if (getpgrp() != getpid() && tcgetpgrp(STDIN_FILENO) != getpgrp())
		(void)setpgid(0, 0);
	if (activated() == 0)
		open_listeners(address, port);
	if (port == 0) {
		buf_init(&b, line, sizeof(line));
		buf_uint(&b, (uint64_t)bound_port(lfd[0]), 1);
		buf_add(&b, "\n", 1);
		(void)!write(STDOUT_FILENO, line, b.len);
	}
	if (opt.quiet)
		return;
	buf_init(&b, line, sizeof(line) - 1);
	buf_str(&b, "serve: listening on ");
	for (i = 0; i < nl; i++)
		buf_url(&b, lfd[i]);
	b.len--;
	buf_str(&b, ", running ");
	buf_str(&b, prog_argv[0]);
	if (b.full)
		b.len = sizeof(line) - 1;
	line[b.len++] = '\n';
	(void)!write(STDERR_FILENO, line, b.len);
}

int
main(int argc, char *argv[])
{
	const char *address, *mode;
	int	 port, conns_given = 0;

	address = options(argc, argv, &port, &conns_given);
	if ((mode = getenv("MODE")) != NULL && *mode != '\0')
		run_once(mode);
	setup(conns_given);
	if (opt.inetd) {
		if (conn_new(STDIN_FILENO, STDOUT_FILENO) == NULL)
			die(1, errno, "out of memory", NULL, NULL);
	} else
		listeners(address, port);
	serve_loop();
	return 0;
}
