/* uv_pool.c - libuv's uv_queue_work on a pool of THREADS threads
 * (UV_THREADPOOL_SIZE, set before the pool starts): N requests queued from the
 * loop thread, then uv_run until every after-work callback has run. The
 * requests live in a caller-owned array, as libuv expects. */
#include <uv.h>

#include "common.h"

static long n_after;

static void work(uv_work_t *req)
{
	job_run(req->data);
}

static void after(uv_work_t *req, int status)
{
	(void)req;
	if (status == 0)
		n_after++;
}

int main(int argc, char **argv)
{
	struct args a = args_parse(argc, argv);
	char env[16];
	snprintf(env, sizeof env, "%d", a.threads);
	setenv("UV_THREADPOOL_SIZE", env, 1);
	unsigned char *flag = calloc((size_t)a.n, 1);
	struct job *jobs = calloc((size_t)a.n, sizeof *jobs);
	uv_work_t *reqs = calloc((size_t)a.n, sizeof *reqs);
	if (!flag || !jobs || !reqs)
		return 2;
	for (long i = 0; i < a.n; i++) {
		jobs[i] = (struct job){a.iters, &flag[i]};
		reqs[i].data = &jobs[i];
	}
	uv_loop_t *loop = uv_default_loop();

	int64_t t0 = now_ns();
	for (long i = 0; i < a.n; i++) {
		if (uv_queue_work(loop, &reqs[i], work, after)) {
			fprintf(stderr, "uv_pool: uv_queue_work failed\n");
			return 2;
		}
	}
	int64_t t1 = now_ns();
	uv_run(loop, UV_RUN_DEFAULT);
	int64_t t2 = now_ns();

	if (n_after != a.n) {
		fprintf(stderr, "uv_pool: %ld of %ld after-work callbacks\n", n_after, a.n);
		return 1;
	}
	if (flags_check("uv_pool", flag, a.n))
		return 1;
	report(a.n, t0, t1, t2);
	uv_loop_close(loop);
	free(reqs);
	free(jobs);
	free(flag);
	return 0;
}
