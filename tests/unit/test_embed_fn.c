/* test_embed_fn.c - C callback tasks at scale through the embedding API: the
 * peak memory of 200,000 of them, 100,000 with deps and retries all run once
 * in order with their own id, the errors among C tasks (duplicate ids,
 * unknown deps, cycles, bad ids and retries) named as for JSON tasks, and C,
 * JSON and file tasks mixed in one workload. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gearbox/gearbox.h"
#include "check.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static int nop(void *data, const char *id, int attempt)
{
	(void)id;
	(void)attempt;
	(*(unsigned char *)data)++;
	return 0;
}

/* Task i of the tree: depends on (i - 1) / 2; every 1000th fails its first attempt. */
struct node {
	atomic_int calls;
	int idx;
	int parent_done; /* the parent had finished when this one first ran */
	int id_ok;       /* the id passed was this task's */
	struct node *all;
};

static int tree_fn(void *data, const char *id, int attempt)
{
	struct node *n = data;
	char want[32];
	snprintf(want, sizeof want, "t%d", n->idx);
	if (atomic_fetch_add(&n->calls, 1) == 0) {
		n->id_ok = strcmp(id, want) == 0;
		n->parent_done = n->idx == 0 || atomic_load(&n->all[(n->idx - 1) / 2].calls) > 0;
	}
	return n->idx % 1000 == 0 && attempt == 1 ? 5 : 0;
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Runs e, returns its rc; its message in err. */
static int run(gbx_engine *e, char *err, size_t errlen)
{
	err[0] = 0;
	return gbx_engine_run(e, err, errlen);
}

int main(void)
{
	char err[2048];
	gbx_engine *e;
	char dir[] = "/tmp/gbx-embed-fn.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir)) {
		perror(dir);
		return 1;
	}

	/* memory first, while the process is small: 200,000 no-op C tasks took
	 * 386 MB at peak when each became a JSON object, text and spec */
	{
		enum { N = 200000 };
		unsigned char *ran = calloc(N, 1);
		long before = maxrss_kb();
		CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine");
		gbx_engine_set_jobs(e, 2);
		int bad = 0;
		for (int i = 0; i < N; i++) {
			char id[32];
			snprintf(id, sizeof id, "t%d", i);
			bad |= gbx_engine_submit_fn(e, id, NULL, 0, nop, &ran[i], err, sizeof err);
		}
		CHECK(!bad, "200,000 C tasks submitted");
		CHECK(run(e, err, sizeof err) == 0 && gbx_engine_count(e, GBX_TASK_OK) == N,
		      "200,000 no-op C tasks all ok (%s)", err);
		long grew = maxrss_kb() - before;
		int once = 1;
		for (int i = 0; i < N; i++)
			once &= ran[i] == 1;
		CHECK(once, "each ran exactly once");
		if (SANITIZED)
			CHECK(1, "peak RSS not checked under AddressSanitizer (grew %ld MB)",
			      grew / 1024);
		else
			CHECK(grew < 100 * 1024,
			      "peak RSS grew by %ld MB for 200,000 C tasks (bound 100 MB)",
			      grew / 1024);
		gbx_engine_free(e);
		free(ran);
	}

	/* 100,000 C tasks in a binary tree of deps, with retries */
	{
		enum { N = 100000 };
		struct node *nodes = calloc(N, sizeof *nodes);
		CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (tree)");
		gbx_engine_set_jobs(e, 4);
		int bad = 0;
		for (int i = 0; i < N; i++) {
			char id[32], dep[32];
			snprintf(id, sizeof id, "t%d", i);
			snprintf(dep, sizeof dep, "t%d", (i - 1) / 2);
			const char *deps[] = {dep, NULL};
			nodes[i].idx = i;
			nodes[i].all = nodes;
			bad |= gbx_engine_submit_fn(e, id, i ? deps : NULL, i % 1000 == 0 ? 1 : 0,
			                            tree_fn, &nodes[i], err, sizeof err);
		}
		CHECK(!bad, "100,000 C tasks with deps submitted");
		CHECK(run(e, err, sizeof err) == 0, "the tree runs (%s)", err);
		CHECK(gbx_engine_count(e, GBX_TASK_OK) == N, "all 100,000 ok (%lld)",
		      (long long)gbx_engine_count(e, GBX_TASK_OK));
		int calls_ok = 1, order_ok = 1, ids_ok = 1;
		for (int i = 0; i < N; i++) {
			calls_ok &= nodes[i].calls == (i % 1000 == 0 ? 2 : 1);
			order_ok &= nodes[i].parent_done;
			ids_ok &= nodes[i].id_ok;
		}
		CHECK(calls_ok, "each callback ran once, twice where it failed first");
		CHECK(order_ok, "every task ran after its dependency");
		CHECK(ids_ok, "every callback got its own task's id");
		struct gbx_task_result r;
		CHECK(gbx_engine_result(e, "t5000", &r) == 0 && r.state == GBX_TASK_OK &&
		          r.attempts == 2 && r.exit_code == 0,
		      "t5000 succeeded on its second attempt (attempts=%d)", r.attempts);
		CHECK(gbx_engine_result(e, "t99999", &r) == 0 && r.state == GBX_TASK_OK &&
		          r.attempts == 1,
		      "t99999 (a leaf) ok at once");
		gbx_engine_free(e);
		free(nodes);
	}

	/* errors among C tasks: the messages JSON tasks get */
	unsigned char sink[16];
	const char *after_a[] = {"a", NULL}, *after_b[] = {"b", NULL}, *after_c[] = {"c", NULL};
	const char *after_nope[] = {"nope", NULL}, *after_ax[] = {"ax", NULL};
	const char *twice[] = {"a", "a", NULL};
	struct {
		const char *what, *want;
		const char *id[3];
		const char *const *deps[3];
		int retries[3];
	} bad[] = {
	    {"a duplicate id",
	     "<submitted tasks>: duplicate task id \"a\": tasks[0] and tasks[2]",
	     {"a", "b", "a"},
	     {NULL, after_a, NULL},
	     {0, 0, 0}},
	    {"an unknown dep",
	     "<submitted tasks>: task \"b\": dependency \"nope\" does not exist",
	     {"a", "b", NULL},
	     {NULL, after_nope},
	     {0, 0}},
	    {"a misspelt dep",
	     "<submitted tasks>: task \"b\": dependency \"ax\" does not exist (did you mean "
	     "\"a\"?)",
	     {"a", "b", NULL},
	     {NULL, after_ax},
	     {0, 0}},
	    {"a cycle",
	     "<submitted tasks>: dependency cycle: a -> c -> b -> a",
	     {"a", "b", "c"},
	     {after_c, after_a, after_b},
	     {0, 0, 0}},
	    {"a dep listed twice",
	     "<submitted tasks>: task \"b\": dependency \"a\" is listed twice",
	     {"a", "b", NULL},
	     {NULL, twice},
	     {0, 0}},
	    {"an empty id",
	     "<submitted tasks>: tasks[1]: id is empty",
	     {"a", "", NULL},
	     {NULL, NULL},
	     {0, 0}},
	    {"retries over the limit",
	     "<submitted tasks>: tasks[1] (id \"r\"): retries 1001 is absurd (the limit is 1000)",
	     {"a", "r", NULL},
	     {NULL, NULL},
	     {0, 1001}},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (%s)",
		      bad[k].what);
		for (int i = 0; i < 3 && bad[k].id[i]; i++)
			gbx_engine_submit_fn(e, bad[k].id[i], bad[k].deps[i], bad[k].retries[i],
			                     nop, &sink[i], err, sizeof err);
		int rc = run(e, err, sizeof err);
		CHECK(rc == GBX_EINVAL && strcmp(err, bad[k].want) == 0, "%s is refused: %s",
		      bad[k].what, err);
		gbx_engine_free(e);
	}

	/* a file (defaults with meta and retries, a task, a matrix), then C and
	 * JSON tasks interleaved, with deps across all three */
	FILE *f = fopen("mixed.json", "w");
	fputs("{ \"defaults\": { \"meta\": { \"team\": \"x\" }, \"retries\": 3 },\n"
	      "  \"tasks\": [ { \"id\": \"from-file\", \"kind\": \"sim\" } ],\n"
	      "  \"matrix\": [ { \"id\": \"m{i}\", \"kind\": \"sim\", \"deps\": [\"c2\"], "
	      "\"vars\": { \"i\": [1, 2] } } ] }\n",
	      f);
	fclose(f);
	const char *after_file[] = {"from-file", NULL}, *after_j[] = {"j", NULL};
	memset(sink, 0, sizeof sink);
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (mixed)");
	CHECK(gbx_engine_load(e, "mixed.json", err, sizeof err) == 0, "load a file");
	gbx_engine_submit_fn(e, "c1", after_file, 0, nop, &sink[0], err, sizeof err);
	gbx_engine_submit_json(e, "{\"id\": \"j\", \"kind\": \"sim\", \"deps\": [\"c1\"]}", err,
	                       sizeof err);
	gbx_engine_submit_fn(e, "c2", after_j, 0, nop, &sink[1], err, sizeof err);
	CHECK(run(e, err, sizeof err) == 0 && gbx_engine_count(e, GBX_TASK_OK) == 6,
	      "file, C and JSON tasks run together (%s)", err);
	CHECK(sink[0] == 1 && sink[1] == 1, "both callbacks ran once");
	gbx_engine_free(e);

	/* places in messages count the C tasks as the file's "tasks" entries */
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (mixed, bad)");
	gbx_engine_load(e, "mixed.json", err, sizeof err);
	gbx_engine_submit_fn(e, "c1", NULL, 0, nop, &sink[0], err, sizeof err);
	gbx_engine_submit_json(e, "{\"id\": \"j\", \"kind\": \"sim\"}", err, sizeof err);
	gbx_engine_submit_fn(e, "c2", NULL, 0, nop, &sink[1], err, sizeof err);
	gbx_engine_submit_json(e, "{\"id\": \"k\", \"kind\": \"sim\", \"bogus\": 2}", err,
	                       sizeof err);
	CHECK(run(e, err, sizeof err) == GBX_EINVAL &&
	          strcmp(err, "mixed.json: tasks[4] (id \"k\"): unknown field \"bogus\"") == 0,
	      "a bad JSON task after C tasks is placed among them: %s", err);
	gbx_engine_free(e);

	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (mixed, dup)");
	gbx_engine_load(e, "mixed.json", err, sizeof err);
	gbx_engine_submit_fn(e, "c2", NULL, 0, nop, &sink[0], err, sizeof err);
	gbx_engine_submit_fn(e, "m1", NULL, 0, nop, &sink[1], err, sizeof err);
	CHECK(run(e, err, sizeof err) == GBX_EINVAL &&
	          strcmp(err, "mixed.json: duplicate task id \"m1\": tasks[2] and matrix[0]") == 0,
	      "a C task clashing with a matrix instance is named: %s", err);
	gbx_engine_free(e);
	unlink("mixed.json");

	/* the c-function kind is the C tasks' own: not for JSON tasks */
	CHECK(gbx_engine_new(NULL, NULL, &e, err, sizeof err) == 0, "new engine (kind)");
	gbx_engine_submit_json(e, "{\"id\": \"cf\", \"kind\": \"c-function\"}", err, sizeof err);
	CHECK(run(e, err, sizeof err) == GBX_EINVAL &&
	          strcmp(err,
	                 "<submitted tasks>: tasks[0] (id \"cf\"): kind \"c-function\" is only "
	                 "for C tasks (gbx_engine_submit_fn)") == 0,
	      "a JSON task of kind c-function is refused: %s", err);
	gbx_engine_free(e);

	if (chdir("/") == 0)
		rmdir(dir);
	return check_done();
}
