/*
 * spawnrate: the machine's floor for per-request servers. NPROC processes
 * each posix_spawn a program and wait for it, over and over, for SECONDS;
 * prints the spawns a second of all of them together.
 *
 *	spawnrate SECONDS NPROC PROGRAM
 *	-> 7421 spawns/s
 */
#define _POSIX_C_SOURCE 200809L
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	double	 secs, t0;
	int	 nproc, i, fd[2];
	long	 total = 0, n;
	pid_t	 pid;
	char	*args[] = { NULL, NULL };

	if (argc != 4 || (secs = atof(argv[1])) <= 0 || (nproc = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: spawnrate SECONDS NPROC PROGRAM\n");
		return 2;
	}
	args[0] = argv[3];
	if (pipe(fd) == -1)
		return 1;
	t0 = now();
	for (i = 0; i < nproc; i++) {
		if (fork() == 0) {
			for (n = 0; now() - t0 < secs; n++) {
				if (posix_spawn(&pid, args[0], NULL, NULL, args, environ) != 0)
					_exit(1);
				waitpid(pid, NULL, 0);
			}
			(void)!write(fd[1], &n, sizeof(n));
			_exit(0);
		}
	}
	for (i = 0; i < nproc; i++) {
		if (read(fd[0], &n, sizeof(n)) != sizeof(n))
			return 1;
		total += n;
	}
	while (wait(NULL) > 0)
		;
	printf("%.0f spawns/s\n", total / (now() - t0));
	return 0;
}
