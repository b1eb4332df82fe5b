/*
 * testcgi: the CGI that tests/serve.mjs runs behind serve. PATH_INFO picks
 * a canned answer, good or broken, so the tests see how serve turns CGI
 * output into HTTP (RFC 3875 6). No shell, no stdio buffering surprises:
 * every answer is written with write(2).
 *
 *   .../env     the environment, argv, open descriptors and the body read
 *   /echo       the body, exactly CONTENT_LENGTH bytes
 *   /noread     answers without reading a body
 *   /sleep      sleeps 60 s, printing nothing
 *   /slow       sleeps 1 s, then answers
 *   /doublefork a grandchild keeps stdout open for 60 s; the child exits
 *   /crash      abort() before any output
 *   /big        a 200 KiB body (streamed by serve)
 *   /hugehead   a 9000-byte header line
 *   /fields64   64 header fields; /fields65: 65
 *   /orphan     leaves a child in its own session, which exits 0.3 s later
 *   /setsid     a child in its own session keeps stdout open for 60 s; the
 *               program itself exits at once, printing nothing
 *   /huge       a 50 MiB body, written in 64 KiB blocks
 *   /date       a Date field of its own (serve sends its own instead)
 *   others      see canned[] below
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void
out(const char *s, size_t n)
{
	ssize_t	 w;

	while (n > 0 && (w = write(STDOUT_FILENO, s, n)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static void
outs(const char *s)
{
	out(s, strlen(s));
}

#define NUL_TEXT "Content-Type: text/plain\nX-A: 1\0Set-Cookie: evil=1\n\nx\n"

static const struct {
	const char	*name, *text;
	size_t		 len;	/* 0: strlen */
} canned[] = {
	{ "/status404", "Status: 404 Not Found\nContent-Type: text/plain\n\nnope\n", 0 },
	{ "/crlf", "Content-Type: text/plain\r\nStatus: 201 Created\r\n\r\ncrlf-ok\n", 0 },
	{ "/lf", "Content-Type: text/plain\n\nlf-ok\n", 0 },
	{ "/location", "Location: http://example.invalid/x\n\n", 0 },
	{ "/location-local", "Location: /elsewhere\n\n", 0 },
	{ "/redirect-doc", "Status: 301 Moved Permanently\nLocation: http://example.invalid/y\n"
	    "Content-Type: text/html\n\n<a href=\"http://example.invalid/y\">moved</a>\n", 0 },
	{ "/204", "Status: 204 No Content\n\nignored body\n", 0 },
	{ "/noct", "X-Foo: bar\n\nbody-without-content-type\n", 0 },
	{ "/cl", "Content-Type: text/plain\nContent-Length: 3\n\nabcdef", 0 },
	{ "/hop", "Content-Type: text/plain\nConnection: close\nTransfer-Encoding: chunked\n"
	    "Keep-Alive: timeout=99\n\nraw\n", 0 },
	{ "/garbage", "this is not a header\n\nbody\n", 0 },
	{ "/noblank", "Content-Type: text/plain\n", 0 },
	{ "/empty", "", 0 },
	{ "/statusbad", "Status: abc\nContent-Type: text/plain\n\nx\n", 0 },
	{ "/status99", "Status: 099 Odd\nContent-Type: text/plain\n\nx\n", 0 },
	{ "/inject", "Content-Type: text/plain\nX-A: 1\rSet-Cookie: evil=1\n\nx\n", 0 },
	{ "/nul", NUL_TEXT, sizeof(NUL_TEXT) - 1 },
	{ "/spacecolon", "Content-Type : text/plain\n\nx\n", 0 },
	{ "/cookies", "Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n\ntwo\n", 0 },
	{ "/stderr", "Content-Type: text/plain\n\nok\n", 0 },
	{ "/date", "Content-Type: text/plain\nDate: Mon, 01 Jan 2001 00:00:00 GMT\n\nd\n", 0 },
};

static void
dump(int argc, char *argv[])
{
	char	 num[32];
	char	 buf[65536];
	const char *cl = getenv("CONTENT_LENGTH");
	long	 want = cl != NULL ? atol(cl) : 0, got = 0;
	ssize_t	 n;
	char	**e;
	int	 i;
	DIR	*d;
	struct dirent *de;

	outs("Content-Type: text/plain; charset=utf-8\n\n");
	for (e = environ; *e != NULL; e++) {
		outs("ENV ");
		outs(*e);
		outs("\n");
	}
	for (i = 0; i < argc; i++) {
		outs("ARG ");
		outs(argv[i]);
		outs("\n");
	}
	/* descriptors the program inherited: 0, 1, 2 and nothing else */
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d)) {
				outs("FD ");
				outs(de->d_name);
				outs("\n");
			}
		closedir(d);
	}
	while (got < want && (n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		got += n;
	snprintf(num, sizeof(num), "BODY %ld\n", got);
	outs(num);
}

int
main(int argc, char *argv[])
{
	const char *p = getenv("PATH_INFO");
	static char big[200 * 1024];
	char	 buf[65536];
	size_t	 i;
	ssize_t	 n;
	long	 want, got = 0;

	if (p == NULL)
		p = "";
	for (i = 0; i < sizeof(canned) / sizeof(canned[0]); i++) {
		if (strcmp(p, canned[i].name) != 0)
			continue;
		if (strcmp(p, "/stderr") == 0)
			(void)!write(STDERR_FILENO, "testcgi: to stderr\n", 19);
		out(canned[i].text, canned[i].len ? canned[i].len :
		    strlen(canned[i].text));
		return 0;
	}
	if (strlen(p) >= 4 && strcmp(p + strlen(p) - 4, "/env") == 0)
		dump(argc, argv);
	else if (strcmp(p, "/echo") == 0) {
		want = getenv("CONTENT_LENGTH") ? atol(getenv("CONTENT_LENGTH")) : 0;
		outs("Content-Type: application/octet-stream\n\n");
		while (got < want && (n = read(STDIN_FILENO, buf,
		    sizeof(buf))) > 0) {
			out(buf, (size_t)n);
			got += n;
		}
	} else if (strcmp(p, "/noread") == 0)
		outs("Content-Type: text/plain\n\nnot read\n");
	else if (strcmp(p, "/sleep") == 0)
		sleep(60);
	else if (strcmp(p, "/slow") == 0) {
		sleep(1);
		outs("Content-Type: text/plain\n\nslow-ok\n");
	} else if (strcmp(p, "/doublefork") == 0) {
		if (fork() == 0) {
			if (fork() == 0)
				sleep(60);	/* keeps stdout open */
			_exit(0);
		}
		return 0;
	} else if (strcmp(p, "/hugehead") == 0) {
		memset(buf, 'h', 9000);
		outs("Content-Type: text/plain\nX-Huge: ");
		out(buf, 9000);
		outs("\n\nbody\n");
	} else if (strcmp(p, "/orphan") == 0) {
		/* a child in a session of its own outlives the CGI */
		if (fork() == 0) {
			close(STDOUT_FILENO);
			setsid();
			usleep(300000);
			_exit(0);
		}
		outs("Content-Type: text/plain\n\norphaned\n");
	} else if (strcmp(p, "/setsid") == 0) {
		/* out of the program's process group, stdout kept open */
		if (fork() == 0) {
			setsid();
			sleep(60);
			_exit(0);
		}
		return 0;
	} else if (strcmp(p, "/huge") == 0) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (char)('a' + i % 26);
		outs("Content-Type: application/octet-stream\n\n");
		for (i = 0; i < 50 * 1024 * 1024 / sizeof(buf); i++)
			out(buf, sizeof(buf));
	} else if (strcmp(p, "/fields64") == 0 || strcmp(p, "/fields65") == 0) {
		/* Content-Type and 63 or 64 more fields */
		outs("Content-Type: text/plain\n");
		for (i = p[8] == '4' ? 63 : 64; i > 0; i--)
			outs("X-F: 1\n");
		outs("\nfields\n");
	} else if (strcmp(p, "/crash") == 0)
		abort();
	else if (strcmp(p, "/big") == 0) {
		for (i = 0; i < sizeof(big); i++)
			big[i] = (char)('a' + i % 26);
		outs("Content-Type: text/plain\n\n");
		out(big, sizeof(big));
	} else
		outs("Status: 404 Not Found\nContent-Type: text/plain\n\n"
		    "no such canned answer\n");
	return 0;
}
