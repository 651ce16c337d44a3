/* common.h - what every in-process contender of the peers bench shares: the
 * clock, the task body (a calibrated busy spin, then a per-task flag), the
 * command line and the result line, so that the engines differ only in how
 * they hand tasks to their 2 threads.
 *
 * Every program is: PROG N ITERS THREADS [MODE], and prints one line
 *   "ns_per_task submit_ns_per_task"
 * where ns_per_task is the wall time from just before the first task is given
 * to the engine to just after the last one has finished (submission
 * included), over N; submit_ns_per_task is the part spent giving the tasks.
 * ITERS is the spin count of one task (0: a no-op task); calib.c finds the
 * count that takes 1 us on this machine, and run.sh passes the same count to
 * every contender. It exits 1, printing why, if a task did not run exactly once.
 */
#ifndef PEERS_COMMON_H
#define PEERS_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The spin: an empty asm keeps the loop from being folded away. */
static inline void spin(unsigned long iters)
{
	for (unsigned long i = 0; i < iters; i++)
		__asm__ volatile("" ::: "memory");
}

/* One task: the spin, then its own flag (each task writes only its byte). */
struct job {
	unsigned long iters;
	unsigned char *flag;
};

static inline void job_run(const struct job *j)
{
	spin(j->iters);
	(*j->flag)++;
}

struct args {
	long n;
	unsigned long iters;
	int threads;
};

static inline struct args args_parse(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s N ITERS THREADS [MODE]\n", argv[0]);
		exit(2);
	}
	struct args a = {atol(argv[1]), strtoul(argv[2], NULL, 10), atoi(argv[3])};
	if (a.n < 1 || a.threads < 1) {
		fprintf(stderr, "%s: N and THREADS must be positive\n", argv[0]);
		exit(2);
	}
	return a;
}

/* Checks that each of the n flags was set exactly once. */
static inline int flags_check(const char *who, const unsigned char *flag, long n)
{
	for (long i = 0; i < n; i++)
		if (flag[i] != 1) {
			fprintf(stderr, "%s: task %ld ran %d times\n", who, i, flag[i]);
			return 1;
		}
	return 0;
}

static inline void report(long n, int64_t t0, int64_t t_submitted, int64_t t_done)
{
	printf("%.1f %.1f\n", (double)(t_done - t0) / (double)n,
	       (double)(t_submitted - t0) / (double)n);
}

#endif
