/*
 * activate: systemd-style socket activation (Accept=no) for the tests.
 * Listens on 127.0.0.1 at an ephemeral port, prints the port, puts the
 * socket on descriptor 3, sets LISTEN_FDS=1 and LISTEN_PID to its own pid
 * and executes the rest of its arguments, as systemd does.
 *
 *	activate ./serve -q tests/testcgi
 */
#define _DEFAULT_SOURCE
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char	 pid[24];
	int	 fd;

	if (argc < 2) {
		fputs("usage: activate program [arg ...]\n", stderr);
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (fd != 3 && (dup2(fd, 3) == -1 || close(fd) == -1))) {
		perror("activate");
		return 1;
	}
	printf("%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	execv(argv[1], argv + 1);
	perror("activate: exec");
	return 1;
}
