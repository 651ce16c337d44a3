/* glib_pool.c - GLib's GThreadPool with THREADS exclusive threads: N pushes,
 * then g_thread_pool_free(pool, FALSE, TRUE), which returns when every queued
 * task has run. Each push hands over a pointer into a caller-owned array. */
#include <glib.h>

#include "common.h"

static void run(gpointer data, gpointer user)
{
	(void)user;
	job_run(data);
}

int main(int argc, char **argv)
{
	struct args a = args_parse(argc, argv);
	unsigned char *flag = calloc((size_t)a.n, 1);
	struct job *jobs = calloc((size_t)a.n, sizeof *jobs);
	if (!flag || !jobs)
		return 2;
	for (long i = 0; i < a.n; i++)
		jobs[i] = (struct job){a.iters, &flag[i]};
	GError *err = NULL;
	GThreadPool *pool = g_thread_pool_new(run, NULL, a.threads, TRUE, &err);
	if (!pool) {
		fprintf(stderr, "glib_pool: %s\n", err ? err->message : "g_thread_pool_new failed");
		return 2;
	}

	int64_t t0 = now_ns();
	for (long i = 0; i < a.n; i++)
		g_thread_pool_push(pool, &jobs[i], NULL);
	int64_t t1 = now_ns();
	g_thread_pool_free(pool, FALSE, TRUE);
	int64_t t2 = now_ns();

	if (flags_check("glib_pool", flag, a.n))
		return 1;
	report(a.n, t0, t1, t2);
	free(jobs);
	free(flag);
	return 0;
}
