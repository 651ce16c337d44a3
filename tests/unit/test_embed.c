/* test_embed.c - the embedding API: C callback tasks with deps and retries,
 * JSON tasks, results, errors, and two engines running at once in threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gearbox/gearbox.h"
#include "check.h"

struct counter {
	atomic_int calls;
	atomic_int order;      /* sequence number of the last call */
	int fail_first;        /* fail this many attempts */
	int seen_at;           /* order value when this task ran */
	atomic_int *clock;
};

static int count_fn(void *data, const char *id, int attempt)
{
	struct counter *c = data;
	(void)id;
	atomic_fetch_add(&c->calls, 1);
	c->seen_at = atomic_fetch_add(c->clock, 1);
	return attempt <= c->fail_first ? 3 : 0;
}

struct run_arg {
	int n;
	int rc;
	int ok_count;
	atomic_int clock;
	struct counter *c;
};

/* A chain of n callback tasks, each depending on the previous one. */
static void *run_chain(void *p)
{
	struct run_arg *ra = p;
	char err[512];
	gbx_engine *e;
	ra->rc = -100;
	if (gbx_engine_new(NULL, NULL, &e, err, sizeof err))
		return NULL;
	gbx_engine_set_jobs(e, 4);
	ra->c = calloc((size_t)ra->n, sizeof *ra->c);
	for (int i = 0; i < ra->n; i++) {
		char id[32], dep[32];
		snprintf(id, sizeof id, "t%d", i);
		snprintf(dep, sizeof dep, "t%d", i - 1);
		const char *deps[] = {dep, NULL};
		ra->c[i].clock = &ra->clock;
		gbx_engine_submit_fn(e, id, i ? deps : NULL, 0, count_fn, &ra->c[i], err, sizeof err);
	}
	ra->rc = gbx_engine_run(e, err, sizeof err);
	ra->ok_count = (int)gbx_engine_count(e, GBX_TASK_OK);
	gbx_engine_free(e);
	return NULL;
}

int main(void)
{
	char err[512];
	gbx_engine *e;
	/* work in a directory of our own: the test writes gearbox.json */
	char dir[] = "/tmp/gbx-embed.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir)) {
		perror(dir);
		return 1;
	}

	/* callbacks, deps, retries and results */
	atomic_int clock = 0;
	struct counter a = {0, 0, 0, 0, &clock}, b = {0, 0, 2, 0, &clock}, c = {0, 0, 9, 0, &clock};
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine");
	const char *after_a[] = {"a", NULL};
	const char *after_b[] = {"b", NULL};
	CHECK(gbx_engine_submit_fn(e, "a", NULL, 0, count_fn, &a, err, sizeof err) == 0, "submit a");
	CHECK(gbx_engine_submit_fn(e, "b", after_a, 2, count_fn, &b, err, sizeof err) == 0, "submit b (fails twice, 2 retries)");
	CHECK(gbx_engine_submit_fn(e, "c", NULL, 1, count_fn, &c, err, sizeof err) == 0, "submit c (always fails)");
	CHECK(gbx_engine_submit_fn(e, "d", after_b, 0, count_fn, &a, err, sizeof err) == 0, "submit d after b");
	CHECK(gbx_engine_submit_json(e, "{\"id\": \"sh\", \"argv\": [\"true\"], \"deps\": [\"a\"]}", err, sizeof err) == 0, "submit a JSON exec task");
	CHECK(gbx_engine_submit_json(e, "{\"id\": \"bad\" \"argv\"}", err, sizeof err) == GBX_EINVAL &&
		      strstr(err, "submitted task 6:1:"), "malformed JSON task is refused with its place: %s", err);
	int rc = gbx_engine_run(e, err, sizeof err);
	CHECK(rc == 1, "run reports a failure (c)");
	struct gbx_task_result r;
	CHECK(gbx_engine_result(e, "b", &r) == 0 && r.state == GBX_TASK_OK && r.attempts == 3,
	      "b succeeded on its third attempt (attempts=%d)", r.attempts);
	CHECK(b.calls == 3, "b's callback ran 3 times");
	CHECK(gbx_engine_result(e, "c", &r) == 0 && r.state == GBX_TASK_FAILED && r.exit_code == 3 &&
		      r.attempts == 2, "c failed with its exit status after 2 attempts");
	CHECK(gbx_engine_result(e, "d", &r) == 0 && r.state == GBX_TASK_OK, "d ran after b");
	CHECK(gbx_engine_result(e, "sh", &r) == 0 && r.state == GBX_TASK_OK, "JSON exec task ran");
	CHECK(a.calls == 2, "a's counter: a and d");
	CHECK(gbx_engine_result(e, "zzz", &r) == GBX_ENOENT, "unknown id is GBX_ENOENT");
	CHECK(gbx_engine_run(e, err, sizeof err) == GBX_ESTATE, "an engine runs once");
	CHECK(gbx_engine_submit_fn(e, "late", NULL, 0, count_fn, &a, err, sizeof err) == GBX_ESTATE,
	      "no submitting after the run");
	gbx_engine_free(e);

	/* bad input: a cycle and a missing dependency come back as messages */
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine 2");
	const char *to_y[] = {"y", NULL}, *to_x[] = {"x", NULL};
	gbx_engine_submit_fn(e, "x", to_y, 0, count_fn, &a, err, sizeof err);
	gbx_engine_submit_fn(e, "y", to_x, 0, count_fn, &a, err, sizeof err);
	CHECK(gbx_engine_run(e, err, sizeof err) == GBX_EINVAL && strstr(err, "cycle"),
	      "a cycle is reported: %s", err);
	gbx_engine_free(e);

	CHECK(gbx_engine_new("/no/such/config.json", NULL, &e, err, sizeof err) == GBX_EINVAL &&
		      strstr(err, "/no/such/config.json"), "a missing config is named: %s", err);

	/* a workload file plus submitted tasks */
	FILE *f = fopen("embed-test.json", "w");
	fputs("{ \"tasks\": [ { \"id\": \"from-file\", \"kind\": \"sim\" } ] }\n", f);
	fclose(f);
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine 3");
	gbx_engine_load(e, "embed-test.json", err, sizeof err);
	const char *after_file[] = {"from-file", NULL};
	gbx_engine_submit_fn(e, "after-file", after_file, 0, count_fn, &a, err, sizeof err);
	CHECK(gbx_engine_run(e, err, sizeof err) == 0, "file and submitted tasks run together");
	CHECK(gbx_engine_count(e, GBX_TASK_OK) == 2, "both ok");
	gbx_engine_free(e);
	unlink("embed-test.json");

	/* an embedder is not killed by SIGPIPE when a task closes its stdin early */
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine 4");
	{
		size_t big = 1 << 20;
		char *json = malloc(big + 128);
		int n = sprintf(json, "{\"id\": \"closer\", \"sh\": \"exec 0<&-; sleep 0.2\", \"stdin\": \"");
		memset(json + n, 'x', big);
		strcpy(json + n + big, "\"}");
		CHECK(gbx_engine_submit_json(e, json, err, sizeof err) == 0, "submit a task with 1 MB of stdin");
		free(json);
	}
	CHECK(gbx_engine_run(e, err, sizeof err) == 0, "the run survives the task closing its stdin");
	gbx_engine_free(e);

	/* ./gearbox.json is the CLI's default, never an embedder's */
	f = fopen("gearbox.json", "w");
	fputs("{ \"bogus\": 1 }\n", f);
	fclose(f);
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "no implicit ./gearbox.json (%s)", err);
	gbx_engine_free(e);
	unlink("gearbox.json");

	/* two engines at once, in two threads, do not interfere */
	struct run_arg r1 = {.n = 300}, r2 = {.n = 500};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, run_chain, &r1);
	pthread_create(&t2, NULL, run_chain, &r2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK(r1.rc == 0 && r1.ok_count == 300, "engine 1: 300 ok (rc=%d)", r1.rc);
	CHECK(r2.rc == 0 && r2.ok_count == 500, "engine 2: 500 ok (rc=%d)", r2.rc);
	int ordered = 1;
	for (int i = 1; i < r1.n; i++)
		ordered &= r1.c[i].seen_at > r1.c[i - 1].seen_at;
	for (int i = 1; i < r2.n; i++)
		ordered &= r2.c[i].seen_at > r2.c[i - 1].seen_at;
	CHECK(ordered, "each engine kept its own dependency order");
	free(r1.c);
	free(r2.c);
	if (chdir("/") == 0)
		rmdir(dir);
	return check_done();
}
