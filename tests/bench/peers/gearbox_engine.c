/* gearbox_engine.c - gearbox's engine through the embedding API
 * (sdk/include/gearbox/gearbox.h) with THREADS jobs. MODE "fn" (default): N C
 * callback tasks (gbx_engine_submit_fn) running common.h's task body. MODE
 * "sim": N sim tasks given as JSON (gbx_engine_submit_json), cpu_us 1 when
 * ITERS > 0, else no-op; their spin is sim.c's own (thread CPU time), not
 * common.h's. Timed from the first submit to gbx_engine_run's return: tasks
 * only start running in gbx_engine_run, so the submit share is reported.
 * The ids (and JSON texts) are made before the clock starts: they are the
 * tasks' input, like the other programs' job arrays.
 * A third field follows common.h's two: the process's peak RSS in KB. */
#include <gearbox/gearbox.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"

static int run_fn(void *data, const char *id, int attempt)
{
	(void)id;
	(void)attempt;
	job_run(data);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = args_parse(argc, argv);
	int sim = argc > 4 && strcmp(argv[4], "sim") == 0;
	unsigned char *flag = calloc((size_t)a.n, 1);
	struct job *jobs = calloc((size_t)a.n, sizeof *jobs);
	if (!flag || !jobs)
		return 2;
	for (long i = 0; i < a.n; i++)
		jobs[i] = (struct job){a.iters, &flag[i]};
	char err[512];
	gbx_engine *e;
	if (gbx_engine_new(NULL, NULL, &e, err, sizeof err) || gbx_engine_set_jobs(e, a.threads)) {
		fprintf(stderr, "gearbox_engine: %s\n", err);
		return 2;
	}

	/* the tasks' ids (and JSON texts) are input, made before the clock starts,
	 * as the other engines' job arrays are */
	size_t w = sim ? 64 : 16;
	char *text = malloc((size_t)a.n * w);
	if (!text)
		return 2;
	for (long i = 0; i < a.n; i++) {
		if (sim)
			snprintf(text + (size_t)i * w, w, "{\"id\":\"t%ld\",\"kind\":\"sim\",\"cpu_us\":%d}",
				 i, a.iters ? 1 : 0);
		else
			snprintf(text + (size_t)i * w, w, "t%ld", i);
	}
	int64_t t0 = now_ns();
	for (long i = 0; i < a.n; i++) {
		const char *s = text + (size_t)i * w;
		int rc = sim ? gbx_engine_submit_json(e, s, err, sizeof err)
			     : gbx_engine_submit_fn(e, s, NULL, 0, run_fn, &jobs[i], err, sizeof err);
		if (rc) {
			fprintf(stderr, "gearbox_engine: task %ld: %s\n", i, err);
			return 2;
		}
	}
	int64_t t1 = now_ns();
	int rc = gbx_engine_run(e, err, sizeof err);
	int64_t t2 = now_ns();

	if (rc) {
		fprintf(stderr, "gearbox_engine: run: %s\n", rc < 0 ? err : "some tasks failed");
		return 1;
	}
	if (gbx_engine_count(e, GBX_TASK_OK) != a.n) {
		fprintf(stderr, "gearbox_engine: %lld of %ld tasks ok\n",
			(long long)gbx_engine_count(e, GBX_TASK_OK), a.n);
		return 1;
	}
	if (!sim && flags_check("gearbox_engine", flag, a.n))
		return 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%.1f %.1f %ld\n", (double)(t2 - t0) / (double)a.n, (double)(t1 - t0) / (double)a.n,
	       ru.ru_maxrss);
	gbx_engine_free(e);
	free(text);
	free(jobs);
	free(flag);
	return 0;
}
