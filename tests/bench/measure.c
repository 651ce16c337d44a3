/* measure.c - runs a command and prints "wall_s user_s sys_s maxrss_kb status"
 * for it and its children, measured by the kernel (wait4), with stdout and
 * stderr sent to /dev/null unless GBX_MEASURE_KEEP is set. Used by run.sh so
 * that every side of a comparison is measured the same way. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: measure CMD [ARGS...]\n");
		return 2;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (!getenv("GBX_MEASURE_KEEP")) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid;
	if (posix_spawnp(&pid, argv[1], &fa, NULL, argv + 1, environ)) {
		perror(argv[1]);
		return 2;
	}
	int st;
	struct rusage ru;
	wait4(pid, &st, 0, &ru);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double wall = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	/* wait4's rusage covers the child; its reaped children are in RUSAGE_CHILDREN */
	struct rusage rc;
	getrusage(RUSAGE_CHILDREN, &rc);
	printf("%.4f %.4f %.4f %ld %d\n", wall,
	       (double)rc.ru_utime.tv_sec + (double)rc.ru_utime.tv_usec / 1e6,
	       (double)rc.ru_stime.tv_sec + (double)rc.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}
