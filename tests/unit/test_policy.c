/* test_policy.c - the Lua policy host (sandbox, budget, memory cap, fallback,
 * reload, check, plugin functions) and every bundled policy's decisions.
 * Runs from the repository root: the bundled files are read from policies/. */
#include "check.h"
#include "policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CHECK evaluates its condition twice; conditions here call into Lua. */
#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		int ok_ = !!(cond);                                            \
		if (!ok_)                                                      \
			printf("# failed: %s\n", #cond);                        \
		CHECK(ok_, __VA_ARGS__);                                       \
	} while (0)

static int nreports;
static char last_report[4096];
static struct err E;
static char dir[64];

static void on_report(void *ud, const char *msg)
{
	nreports++;
	snprintf(last_report, sizeof last_report, "%s", msg);
}

static struct policy *host(const struct workload *wl, int64_t budget, size_t cap)
{
	struct policy_opts o = {.budget = budget, .mem_cap = cap, .wl = wl, .report = on_report};
	struct policy *p = policy_new(&o, &E);
	if (!p)
		printf("# policy_new: %s\n", E.msg);
	nreports = 0;
	last_report[0] = 0;
	return p;
}

/* Writes a file in the test's temp dir; returns its path (static buffer per call
 * site is not needed: the caller copies or uses it at once). */
static const char *put(const char *name, const char *text)
{
	static char path[8][256];
	static int slot;
	char *p = path[slot++ % 8];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f) {
		printf("# cannot write %s\n", p);
		return p;
	}
	fputs(text, f);
	fclose(f);
	return p;
}

static int load(struct policy *p, int kind, const char *file)
{
	E.msg[0] = 0;
	int rc = policy_load(p, kind, file, &E);
	if (rc)
		printf("# policy_load %s: %s\n", file, E.msg);
	return rc;
}

static int has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		printf("# \"%s\" does not contain \"%s\"\n", hay, needle);
		return 0;
	}
	return 1;
}

/* ---- hand-made tasks ---- */

static struct spec mkspec(void)
{
	struct spec s;
	memset(&s, 0, sizeof s);
	s.kind = KIND_SIM;
	s.cache = -1;
	s.deadline_ms = -1;
	s.est_ms = -1;
	return s;
}

static struct task mktask(const char *id, const struct spec *s)
{
	struct task t;
	memset(&t, 0, sizeof t);
	t.id = id;
	t.spec = s;
	t.chain = 1;
	t.priority = s->priority;
	t.timeout_ms = s->timeout_ms;
	return t;
}

static double key(struct policy *p, const struct task *t)
{
	double k = NAN;
	if (policy_key(p, t, &k) != 0)
		return NAN;
	return k;
}

static int decide(struct policy *p, const struct task *t, const char *kind, int exit_code,
		  int attempt, const struct policy_stats *st, int64_t *delay,
		  struct policy_changes *chg)
{
	struct policy_failure f = {.kind = kind, .exit_code = exit_code, .ms = 10.0};
	struct policy_stats zero;
	memset(&zero, 0, sizeof zero);
	memset(chg, 0, sizeof *chg);
	*delay = -1;
	return policy_retry(p, t, &f, attempt, st ? st : &zero, delay, chg);
}

static struct policy_metrics metrics(double cpu, double mem, int64_t queued, int64_t running,
				     int64_t jobs, int64_t cores, double elapsed_ms)
{
	struct policy_metrics m = {.cpu = cpu, .mem = mem, .queued = queued, .running = running,
				   .jobs = jobs, .cores = cores, .min_jobs = 1, .max_jobs = 64,
				   .avg_ms = 100, .throughput = 10, .elapsed_ms = elapsed_ms};
	return m;
}

static int64_t scale(struct policy *p, struct policy_metrics m)
{
	int64_t j = -999;
	if (policy_scale(p, &m, &j) != 0)
		return -999;
	return j;
}

/* ---- bundled scheduling policies ---- */

static void test_scheduling(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s1 = mkspec(), s5 = mkspec(), sn = mkspec();
	s1.priority = 1;
	s1.est_ms = 3000;
	s1.deadline_ms = 9000;
	s5.priority = 5;
	s5.est_ms = 100;
	s5.deadline_ms = 500;
	sn.priority = 3;
	struct task t1 = mktask("p1", &s1), t5 = mktask("p5", &s5), tn = mktask("pn", &sn);
	t1.chain = 4;
	t5.chain = 2;
	tn.chain = 1;

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/fifo.lua") == 0, "fifo loads");
	EXPECT(key(p, &t1) == 0 && key(p, &t5) == 0 && key(p, &tn) == 0,
	       "fifo: every key is 0, so submission order decides");

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/priority.lua") == 0, "priority loads");
	EXPECT(key(p, &t5) < key(p, &tn) && key(p, &tn) < key(p, &t1),
	       "priority: 5 before 3 before 1");
	EXPECT(key(p, &t5) == -5, "priority: key is -priority");
	t1.priority = 9; /* a retry policy's change is what counts */
	EXPECT(key(p, &t1) == -9, "priority: the effective priority is used");
	t1.priority = 1;

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/sjf.lua") == 0, "sjf loads");
	EXPECT(key(p, &t5) == 100 && key(p, &t1) == 3000, "sjf: key is est_ms");
	double kn = key(p, &tn);
	EXPECT(isinf(kn) && kn > 0, "sjf: no estimate is math.huge (a valid key, last)");

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/edf.lua") == 0, "edf loads");
	EXPECT(key(p, &t5) == 500 && key(p, &t1) == 9000, "edf: key is deadline_ms");
	kn = key(p, &tn);
	EXPECT(isinf(kn) && kn > 0, "edf: no deadline goes last");

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/critical_path.lua") == 0,
	       "critical_path loads");
	EXPECT(key(p, &t1) < key(p, &t5) && key(p, &t5) < key(p, &tn),
	       "critical_path: longest chain first");

	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/weighted.lua") == 0, "weighted loads");
	EXPECT(key(p, &t5) < key(p, &tn), "weighted: higher priority and shorter runs first");
	{
		struct spec a = mkspec(), b = mkspec();
		a.est_ms = 100;
		b.est_ms = 10000;
		struct task ta = mktask("a", &a), tb = mktask("b", &b), tu = mktask("u", &sn);
		EXPECT(key(p, &ta) < key(p, &tb), "weighted: shorter first when all else is equal");
		sn.priority = 0;
		tu.priority = 0;
		double ku = key(p, &tu);
		EXPECT(key(p, &ta) < ku && ku < key(p, &tb),
		       "weighted: an unknown estimate counts as 0.5 shortness (one second)");
		sn.priority = 3;
		struct task tf = mktask("f", &a);
		tf.attempts = 2;
		EXPECT(key(p, &ta) < key(p, &tf), "weighted: a task that failed before goes later");
		struct task tc = mktask("c", &a);
		tc.chain = 5;
		EXPECT(key(p, &tc) < key(p, &ta), "weighted: a longer chain goes first");
		struct task tp = mktask("p", &b);
		tp.priority = 10;
		EXPECT(key(p, &tp) < key(p, &ta), "weighted: 10 priority points outweigh shortness");
	}
	EXPECT(nreports == 0, "bundled scheduling policies report nothing");
	EXPECT(policy_fallbacks(p, POL_SCHEDULING) == 0, "and never fall back");
	policy_free(p);
}

/* ---- bundled retry policies ---- */

static void test_retry_none_fixed(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec(), s1 = mkspec();
	s1.retries = 1;
	struct task t = mktask("t", &s), t1 = mktask("t1", &s1);
	int64_t d;
	struct policy_changes chg;

	EXPECT(load(p, POL_RETRY, "policies/retry/none.lua") == 0, "retry none loads");
	EXPECT(decide(p, &t, "exit", 1, 1, NULL, &d, &chg) == 0, "none: gives up at once");
	EXPECT(decide(p, &t, "timeout", -1, 1, NULL, &d, &chg) == 0, "none: even on a timeout");

	EXPECT(load(p, POL_RETRY, "policies/retry/fixed.lua") == 0, "retry fixed loads");
	int r = decide(p, &t, "exit", 1, 1, NULL, &d, &chg);
	EXPECT(r == 1 && d == 1000 && !chg.has_timeout && !chg.has_priority,
	       "fixed: retries after DELAY_MS (1000)");
	EXPECT(decide(p, &t, "exit", 1, 2, NULL, &d, &chg) == 1 && d == 1000,
	       "fixed: second retry, same delay");
	EXPECT(decide(p, &t, "exit", 1, 3, NULL, &d, &chg) == 0,
	       "fixed: gives up after MAX_ATTEMPTS (3) attempts");
	EXPECT(decide(p, &t1, "exit", 1, 1, NULL, &d, &chg) == 1,
	       "fixed: a task with retries=1 is retried once");
	EXPECT(decide(p, &t1, "exit", 1, 2, NULL, &d, &chg) == 0,
	       "fixed: ... and not twice (never beyond retries + 1 attempts)");
	EXPECT(nreports == 0, "none and fixed report nothing");
	policy_free(p);
}

/* Loads a copy of a bundled file with one line replaced. */
static const char *variant(const char *src, const char *name, const char *from, const char *to)
{
	FILE *f = fopen(src, "r");
	static char text[16384], out[16384];
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = 0;
	char *at = strstr(text, from);
	if (!at) {
		printf("# %s has no \"%s\"\n", src, from);
		return put(name, text);
	}
	snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return put(name, out);
}

static void test_retry_exponential(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec(), s2 = mkspec();
	s2.retries = 2;
	struct task t = mktask("t", &s), t2 = mktask("t2", &s2);
	int64_t d;
	struct policy_changes chg;

	EXPECT(load(p, POL_RETRY, "policies/retry/exponential.lua") == 0, "exponential loads");
	for (int a = 1; a <= 4; a++) {
		int64_t ceiling = 500LL << (a - 1), lo = INT64_MAX, hi = -1;
		int bad = 0, distinct = 0;
		int64_t first = -2;
		for (int i = 0; i < 300; i++) {
			if (decide(p, &t, "exit", 1, a, NULL, &d, &chg) != 1)
				bad++;
			if (d < lo)
				lo = d;
			if (d > hi)
				hi = d;
			if (first == -2)
				first = d;
			else if (d != first)
				distinct = 1;
		}
		EXPECT(!bad && lo >= 0 && hi <= ceiling,
		       "exponential: attempt %d delays are within [0, %lld]", a, (long long)ceiling);
		EXPECT(distinct && hi > ceiling / 2,
		       "exponential: attempt %d delays are jittered over the range", a);
	}
	EXPECT(decide(p, &t, "exit", 1, 5, NULL, &d, &chg) == 0,
	       "exponential: gives up after MAX_ATTEMPTS (5)");
	EXPECT(decide(p, &t2, "exit", 1, 2, NULL, &d, &chg) == 1,
	       "exponential: retries=2 allows a second retry");
	EXPECT(decide(p, &t2, "exit", 1, 3, NULL, &d, &chg) == 0,
	       "exponential: ... and no third");

	const char *f = variant("policies/retry/exponential.lua", "exp50.lua",
				"local MAX_ATTEMPTS = 5", "local MAX_ATTEMPTS = 50");
	EXPECT(load(p, POL_RETRY, f) == 0, "exponential with MAX_ATTEMPTS 50 loads");
	int64_t hi = -1;
	int bad = 0;
	for (int i = 0; i < 300; i++) {
		if (decide(p, &t, "exit", 1, 40, NULL, &d, &chg) != 1 || d < 0)
			bad++;
		if (d > hi)
			hi = d;
	}
	EXPECT(!bad && hi <= 30000 && hi > 15000, "exponential: the ceiling is capped at CAP_MS");
	EXPECT(nreports == 0, "exponential reports nothing");
	policy_free(p);
}

static void test_retry_adaptive(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec(), st = mkspec(), sbig = mkspec();
	st.timeout_ms = 2000;
	sbig.timeout_ms = 3000000;
	struct task t = mktask("t", &s), tt = mktask("tt", &st), tbig = mktask("tb", &sbig);
	int64_t d;
	struct policy_changes chg;
	struct policy_stats stats;

	EXPECT(load(p, POL_RETRY, "policies/retry/adaptive.lua") == 0, "adaptive retry loads");
	int r = decide(p, &tt, "timeout", -1, 1, NULL, &d, &chg);
	EXPECT(r == 1 && d >= 0 && d <= 500 && chg.has_timeout && chg.timeout_ms == 3000 &&
		       !chg.has_priority,
	       "adaptive: a timeout is retried with 1.5x the timeout (2000 -> 3000)");
	tt.timeout_ms = 3000; /* the engine applies the change */
	r = decide(p, &tt, "timeout", -1, 2, NULL, &d, &chg);
	EXPECT(r == 1 && chg.timeout_ms == 4500, "adaptive: the growth compounds (3000 -> 4500)");
	r = decide(p, &t, "timeout", -1, 1, NULL, &d, &chg);
	EXPECT(r == 1 && chg.has_timeout && chg.timeout_ms == 90000,
	       "adaptive: no timeout_ms grows from DEFAULT_TIMEOUT_MS (60000)");
	r = decide(p, &tbig, "timeout", -1, 1, NULL, &d, &chg);
	EXPECT(r == 1 && chg.timeout_ms == 3600000, "adaptive: the timeout is capped");
	EXPECT(decide(p, &t, "exit", 127, 1, NULL, &d, &chg) == 0,
	       "adaptive: exit 127 (not found) is permanent");
	EXPECT(decide(p, &t, "exit", 126, 1, NULL, &d, &chg) == 0, "adaptive: exit 126 too");
	EXPECT(decide(p, &t, "exit", 2, 1, NULL, &d, &chg) == 0, "adaptive: exit 2 too");
	r = decide(p, &t, "exit", 1, 2, NULL, &d, &chg);
	EXPECT(r == 1 && d >= 0 && d <= 1000 && !chg.has_timeout,
	       "adaptive: exit 1 backs off exponentially");
	EXPECT(decide(p, &t, "spawn", -1, 1, NULL, &d, &chg) == 0, "adaptive: spawn never retries");
	EXPECT(decide(p, &t, "signal", -1, 1, NULL, &d, &chg) == 1, "adaptive: a signal retries");
	EXPECT(decide(p, &t, "exit", 1, 5, NULL, &d, &chg) == 0,
	       "adaptive: gives up after MAX_ATTEMPTS (5)");

	memset(&stats, 0, sizeof stats);
	stats.failures[0] = 9; /* exit */
	stats.retries[0] = 5;
	stats.retry_ok[0] = 1; /* 20% */
	EXPECT(decide(p, &t, "exit", 1, 1, &stats, &d, &chg) == 0,
	       "adaptive: exit retries succeeding 20%% of 5 stop being retried");
	stats.retry_ok[0] = 2; /* 40% */
	EXPECT(decide(p, &t, "exit", 1, 1, &stats, &d, &chg) == 1,
	       "adaptive: ... but 40%% of 5 is worth it");
	stats.retries[0] = 4;
	stats.retry_ok[0] = 0;
	EXPECT(decide(p, &t, "exit", 1, 1, &stats, &d, &chg) == 1,
	       "adaptive: 0 of 4 retries is too few to judge");
	stats.retries[0] = 0;
	stats.retries[2] = 10; /* timeout */
	stats.retry_ok[2] = 2;
	EXPECT(decide(p, &t, "exit", 1, 1, &stats, &d, &chg) == 1,
	       "adaptive: one kind's record does not stop another kind");
	EXPECT(decide(p, &tt, "timeout", -1, 1, &stats, &d, &chg) == 0,
	       "adaptive: timeouts whose retries succeed 20%% of 10 stop");
	EXPECT(nreports == 0, "adaptive retry reports nothing");
	policy_free(p);
}

/* ---- bundled scaling policies ---- */

static void test_scaling(void)
{
	struct policy *p = host(NULL, 0, 0);
	EXPECT(load(p, POL_SCALING, "policies/scaling/fixed.lua") == 0, "scaling fixed loads");
	EXPECT(scale(p, metrics(0.1, 0.1, 100, 4, 4, 8, 0)) == 4 &&
		       scale(p, metrics(0.99, 0.99, 100, 7, 7, 8, 0)) == 7,
	       "fixed: keeps jobs");
	EXPECT(policy_scale_interval(p) == 5000, "fixed: interval_ms is read from the file");

	EXPECT(load(p, POL_SCALING, "policies/scaling/adaptive.lua") == 0, "scaling adaptive loads");
	EXPECT(policy_scale_interval(p) == 500, "adaptive: interval_ms 500");
	EXPECT(scale(p, metrics(0.3, 0.2, 100, 4, 4, 8, 0)) == 6, "adaptive: idle grows by 2");
	EXPECT(scale(p, metrics(0.3, 0.2, 1, 4, 4, 8, 0)) == 5,
	       "adaptive: growth is bounded by the tasks there are (queued + running)");
	EXPECT(scale(p, metrics(0.3, 0.2, 100, 3, 3, 2, 0)) == 4,
	       "adaptive: growth is bounded by 2 x cores");
	EXPECT(scale(p, metrics(0.3, 0.6, 100, 4, 4, 8, 0)) == 5,
	       "adaptive: growth is bounded by what fits in memory (0.15 per task, 0.2 left)");
	EXPECT(scale(p, metrics(0.3, 0.75, 100, 4, 4, 8, 0)) == 4,
	       "adaptive: no room in memory holds");
	EXPECT(scale(p, metrics(0.3, 0.2, 0, 2, 4, 8, 0)) == 4,
	       "adaptive: idle with few tasks holds (never shrinks when idle)");
	EXPECT(scale(p, metrics(0.95, 0.2, 100, 4, 4, 8, 0)) == 3, "adaptive: cpu > 0.9 shrinks by 1");
	EXPECT(scale(p, metrics(0.5, 0.95, 100, 4, 4, 8, 0)) == 3, "adaptive: mem > 0.9 shrinks by 1");
	EXPECT(scale(p, metrics(0.95, 0.2, 100, 1, 1, 8, 0)) == 1, "adaptive: never below 1");
	EXPECT(scale(p, metrics(0.7, 0.2, 100, 4, 4, 8, 0)) == 4, "adaptive: busy-ish holds");
	EXPECT(scale(p, metrics(0.3, 0.85, 100, 4, 4, 8, 0)) == 4, "adaptive: mem 0.85 holds");

	EXPECT(load(p, POL_SCALING, "policies/scaling/target.lua") == 0, "scaling target loads");
	EXPECT(policy_scale_interval(p) == 1000, "target: interval_ms 1000");
	EXPECT(scale(p, metrics(0.75, 0.2, 100, 4, 4, 8, 0)) == 4,
	       "target: 0.75 vs 0.7 is within the tolerance: hold");
	EXPECT(scale(p, metrics(0.65, 0.2, 100, 4, 4, 8, 0)) == 4,
	       "target: 0.65 vs 0.7 is within the tolerance: hold");
	EXPECT(scale(p, metrics(1.0, 0.2, 100, 4, 4, 8, 0)) == 6,
	       "target: cpu 1.0 at 4 jobs -> ceil(4 x 1/0.7) = 6");

	/* a fresh load forgets the recommendations above */
	EXPECT(load(p, POL_SCALING, "policies/scaling/target.lua") == 0, "target reloads");
	EXPECT(scale(p, metrics(1.0, 0.2, 100, 4, 4, 8, 0)) == 6, "target: t=0 scales up to 6 at once");
	EXPECT(scale(p, metrics(0.35, 0.2, 100, 6, 6, 8, 1000)) == 6,
	       "target: t=1s wants 3, but the window holds 6: stays at 6");
	EXPECT(scale(p, metrics(0.35, 0.2, 100, 6, 6, 8, 20000)) == 6,
	       "target: t=20s still within the 30 s window: 6");
	EXPECT(scale(p, metrics(0.35, 0.2, 100, 6, 6, 8, 31000)) == 3,
	       "target: t=31s, the 6 left the window: down to 3");
	EXPECT(scale(p, metrics(0.0, 0.2, 100, 3, 3, 8, 32000)) == 3,
	       "target: an idle machine cannot go below the window's 3");
	EXPECT(scale(p, metrics(0.0, 0.2, 100, 3, 3, 8, 62000)) == 1,
	       "target: ... and goes to 1 once the window passed");
	EXPECT(nreports == 0, "bundled scaling policies report nothing");
	policy_free(p);
}

/* ---- the host ---- */

static void test_budget(void)
{
	struct policy *p = host(NULL, 100000, 0);
	struct spec s = mkspec(), sloop = mkspec();
	sloop.priority = 99;
	s.priority = 3;
	struct task t = mktask("ok", &s), tl = mktask("loop", &sloop);
	const char *f = put("loop.lua", "return { key = function(task)\n"
					"  if task.priority == 99 then\n"
					"    while true do end\n"
					"  end\n"
					"  return task.priority\n"
					"end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "a looping policy loads");
	double k = 0;
	int r = policy_key(p, &tl, &k);
	EXPECT(r == -1, "an infinite loop in key falls back");
	EXPECT(nreports == 1 && has(last_report, "instruction budget of 100000 exceeded") &&
		       has(last_report, "loop.lua:3: key:") &&
		       has(last_report, "using the built-in order"),
	       "... reported once with file, line and function");
	EXPECT(key(p, &t) == 3, "the next call works");
	r = policy_key(p, &tl, &k);
	EXPECT(r == -1 && nreports == 1, "a second overrun falls back silently");
	EXPECT(policy_fallbacks(p, POL_SCHEDULING) == 2, "both overruns are counted");

	const char *g = put("catch.lua", "return { key = function(task)\n"
					 "  while true do pcall(function() while true do end end) end\n"
					 "end }\n");
	EXPECT(load(p, POL_SCHEDULING, g) == 0, "a policy catching the budget error loads");
	r = policy_key(p, &t, &k);
	EXPECT(r == -1 && nreports == 2 && has(last_report, "budget"),
	       "catching the budget error with pcall does not help");

	const char *h = put("toplevel.lua", "while true do end\n");
	EXPECT(policy_load(p, POL_SCHEDULING, h, &E) == -1 &&
		       has(E.msg, "toplevel.lua:1: instruction budget"),
	       "a file looping at load time fails to load");
	EXPECT(policy_has(p, POL_SCHEDULING) && !strcmp(policy_file(p, POL_SCHEDULING), g),
	       "... and the loaded policy stays");
	policy_free(p);
}

static void test_memory(void)
{
	struct policy *p = host(NULL, 100000000, 4 << 20);
	struct spec s = mkspec(), sbig = mkspec(), srep = mkspec();
	s.priority = 3;
	sbig.priority = 1;
	srep.priority = 2;
	struct task t = mktask("ok", &s), tb = mktask("big", &sbig), tr = mktask("rep", &srep);
	const char *f = put("hog.lua", "return { key = function(task)\n"
				       "  if task.priority == 1 then\n"
				       "    local t = {}\n"
				       "    while true do t[#t + 1] = string.rep('x', 100) .. #t end\n"
				       "  elseif task.priority == 2 then\n"
				       "    return #string.rep('x', 1e9)\n"
				       "  end\n"
				       "  return -task.priority\n"
				       "end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "a memory-hungry policy loads");
	double k = 0;
	EXPECT(policy_key(p, &tb, &k) == -1, "unbounded allocation falls back");
	EXPECT(nreports == 1 && has(last_report, "not enough memory") &&
		       has(last_report, "hog.lua:1: key:"),
	       "... reported with the file and the function's line");
	EXPECT(policy_mem_used(p) <= (4u << 20), "the state stayed under the cap");
	EXPECT(key(p, &t) == -3, "the next call works");
	EXPECT(policy_key(p, &tr, &k) == -1 && nreports == 1, "a huge string.rep falls back silently");
	EXPECT(key(p, &t) == -3, "and the state is still usable");
	policy_free(p);

	struct policy_opts tiny = {.mem_cap = 1024};
	EXPECT(policy_new(&tiny, &E) == NULL && has(E.msg, "memory cap"),
	       "a cap too small for Lua itself is refused");
}

static void test_errors(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec();
	s.priority = 4;
	struct task t = mktask("t", &s);
	double k = 0;

	const char *f = put("syntax.lua", "return {\n  key = function(task) return 1 +\nend }\n");
	EXPECT(policy_load(p, POL_SCHEDULING, f, &E) == -1 && has(E.msg, f) && has(E.msg, ":3:"),
	       "a syntax error fails to load with FILE:LINE");
	EXPECT(!policy_has(p, POL_SCHEDULING), "... and nothing is loaded");

	f = put("nokey.lua", "return { order = function(task) return 1 end }\n");
	EXPECT(policy_load(p, POL_SCHEDULING, f, &E) == -1 &&
		       has(E.msg, "scheduling policy must return a table with a function \"key\""),
	       "a file without key is refused");
	f = put("nothing.lua", "local x = 1\n");
	EXPECT(policy_load(p, POL_RETRY, f, &E) == -1 &&
		       has(E.msg, "retry policy must return a table with a function \"decide\"") &&
		       has(E.msg, "returned nil"),
	       "a file returning nothing is refused");
	f = put("fast.lua", "return { interval_ms = 5, decide = function(m) return 1 end }\n");
	EXPECT(policy_load(p, POL_SCALING, f, &E) == -1 && has(E.msg, "interval_ms") &&
		       has(E.msg, ">= 10"),
	       "interval_ms below 10 is refused");
	f = put("strint.lua", "return { interval_ms = '100', decide = function(m) return 1 end }\n");
	EXPECT(policy_load(p, POL_SCALING, f, &E) == -1 && has(E.msg, "got a string"),
	       "interval_ms must be a number");
	EXPECT(policy_load(p, POL_SCHEDULING, "no/such/file.lua", &E) == -1 &&
		       has(E.msg, "no/such/file.lua: cannot open"),
	       "a missing file names the file");
	f = put("top.lua", "local x = nil\nlocal y = x.field\nreturn {}\n");
	EXPECT(policy_load(p, POL_SCHEDULING, f, &E) == -1 && has(E.msg, "top.lua:2: attempt to index"),
	       "a runtime error at load time gives FILE:LINE");

	f = put("str.lua", "return {\n  key = function(task)\n    return 'soon'\n  end\n}\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "a policy returning a string loads");
	int all = 1;
	for (int i = 0; i < 100; i++)
		if (policy_key(p, &t, &k) != -1)
			all = 0;
	EXPECT(all, "key returning a string falls back every time");
	EXPECT(nreports == 1 && has(last_report, "str.lua:2: key: returned a string, expected a number") &&
		       has(last_report, "using the built-in order"),
	       "... reported once, at the function's line");
	EXPECT(policy_fallbacks(p, POL_SCHEDULING) == 100, "... and counted 100 times");

	f = put("err.lua", "return {\n  key = function(task)\n    error('no way')\n  end\n}\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "an erroring policy loads");
	nreports = 0;
	EXPECT(policy_key(p, &t, &k) == -1 && nreports == 1 &&
		       has(last_report, "policy ") && has(last_report, "err.lua:3: key: no way; using the built-in order"),
	       "an error reports FILE:LINE: key: message");
	f = put("nan.lua", "return { key = function(task) return 0/0 end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && policy_key(p, &t, &k) == -1 && has(last_report, "NaN"),
	       "a NaN key falls back");
	f = put("errobj.lua", "return { key = function(task)\n  error({})\nend }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && policy_key(p, &t, &k) == -1 &&
		       has(last_report, "errobj.lua:2: key: (error object is a table value)"),
	       "a non-string error object is described, with the line");
	f = put("nilidx.lua", "return { key = function(task)\n  local m = task.meta\n  return m.x\nend }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && policy_key(p, &t, &k) == -1 &&
		       has(last_report, "nilidx.lua:3: key: attempt to index a nil value"),
	       "a runtime error gives the line of the error");

	/* retry: bad returns */
	f = put("neg.lua", "return { decide = function(task, f, n, st)\n"
			   "  if n == 1 then return -5 end\n"
			   "  if n == 2 then return 'later' end\n"
			   "  if n == 3 then return 10, 'x' end\n"
			   "  if n == 4 then return 10, { timeout_ms = 0 } end\n"
			   "  if n == 5 then return 10.6, { timeout_ms = 2500, priority = 7 } end\n"
			   "  if n == 6 then return false end\n"
			   "  if n == 7 then return 0/0 end\n"
			   "  if n == 8 then return 1, { priority = 1.5 } end\n"
			   "end }\n");
	EXPECT(load(p, POL_RETRY, f) == 0, "a retry policy with odd returns loads");
	int64_t d;
	struct policy_changes chg;
	nreports = 0;
	EXPECT(decide(p, &t, "exit", 1, 1, NULL, &d, &chg) == -1 && nreports == 1 &&
		       has(last_report, "neg.lua:1: decide: returned the delay -5") &&
		       has(last_report, "using the built-in retry rule"),
	       "a negative delay falls back, reported");
	EXPECT(decide(p, &t, "exit", 1, 2, NULL, &d, &chg) == -1 && nreports == 1,
	       "a string delay falls back, silently (same problem class)");
	EXPECT(decide(p, &t, "exit", 1, 3, NULL, &d, &chg) == -1, "a non-table second value falls back");
	EXPECT(decide(p, &t, "exit", 1, 4, NULL, &d, &chg) == -1, "timeout_ms = 0 falls back");
	int r = decide(p, &t, "exit", 1, 5, NULL, &d, &chg);
	EXPECT(r == 1 && d == 11 && chg.has_timeout && chg.timeout_ms == 2500 && chg.has_priority &&
		       chg.priority == 7,
	       "a delay is rounded and changes are returned");
	EXPECT(decide(p, &t, "exit", 1, 6, NULL, &d, &chg) == 0, "false gives up");
	EXPECT(decide(p, &t, "exit", 1, 9, NULL, &d, &chg) == 0, "nil gives up");
	EXPECT(decide(p, &t, "exit", 1, 7, NULL, &d, &chg) == -1, "a NaN delay falls back");
	EXPECT(decide(p, &t, "exit", 1, 8, NULL, &d, &chg) == -1, "a fractional priority falls back");
	EXPECT(policy_fallbacks(p, POL_RETRY) == 6, "retry fallbacks are counted");

	/* scaling: bad returns */
	f = put("sc.lua", "return { decide = function(m)\n"
			  "  if m.jobs == 1 then return nil end\n"
			  "  if m.jobs == 2 then error('boom') end\n"
			  "  return m.jobs * 1.5\n"
			  "end }\n");
	EXPECT(load(p, POL_SCALING, f) == 0 && policy_scale_interval(p) == 500,
	       "a scaling policy without interval_ms gets 500");
	nreports = 0;
	EXPECT(scale(p, metrics(0.5, 0.5, 1, 1, 1, 4, 0)) == -999 && nreports == 1 &&
		       has(last_report, "returned nil, expected a number of jobs") &&
		       has(last_report, "keeping the current concurrency"),
	       "scaling returning nil falls back, reported");
	EXPECT(scale(p, metrics(0.5, 0.5, 1, 1, 2, 4, 0)) == -999 && nreports == 2 &&
		       has(last_report, "sc.lua:3: decide: boom"),
	       "an error is a different problem: reported too");
	EXPECT(scale(p, metrics(0.5, 0.5, 1, 1, 3, 4, 0)) == 5, "4.5 rounds to 5");
	policy_free(p);
}

static void test_sandbox(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec();
	struct task t = mktask("t", &s);
	const char *f = put("sandbox.lua",
		"secret = 42\n"
		"local function must(c, what) if not c then error(what, 2) end end\n"
		"return { key = function(task)\n"
		"  must(io == nil, 'io'); must(package == nil, 'package'); must(debug == nil, 'debug')\n"
		"  must(require == nil, 'require'); must(dofile == nil, 'dofile')\n"
		"  must(loadfile == nil, 'loadfile'); must(coroutine == nil, 'coroutine')\n"
		"  must(os.execute == nil and os.getenv == nil and os.remove == nil and os.exit == nil, 'os')\n"
		"  must(type(os.clock()) == 'number', 'os.clock'); must(math.type(os.time()) == 'integer', 'os.time')\n"
		"  must(string.dump == nil, 'string.dump')\n"
		"  local f, e = load('\\27LuaT\\0\\25\\147\\r\\n\\26\\n')\n"
		"  must(f == nil and tostring(e):find('binary'), 'binary chunk: ' .. tostring(e))\n"
		"  f, e = load('\\27LuaT\\0', 'x', 'b')\n"
		"  must(f == nil and tostring(e):find('binary'), 'binary chunk with mode b')\n"
		"  must(load('return secret')() == 42, 'load sees the file environment')\n"
		"  must(load('return secret', 'c', 't', {})() == nil, 'load with an explicit env')\n"
		"  must(_G.secret == 42, '_G is the file environment')\n"
		"  must(not pcall(setmetatable, {}, { __gc = function() end }), '__gc refused')\n"
		"  must(getmetatable(setmetatable({}, { __index = {} })) ~= nil, 'setmetatable works')\n"
		"  must(collectgarbage('count') > 0, 'count'); must(not pcall(collectgarbage, 'collect'), 'collect')\n"
		"  must(getmetatable(task) == 'task view', 'the view metatable is protected')\n"
		"  must(utf8.char(72) == 'H' and table.concat({1, 2}, ',') == '1,2', 'libraries')\n"
		"  return 1\n"
		"end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "the sandbox probe loads");
	EXPECT(key(p, &t) == 1, "io, os.execute, require, dofile, loadfile, debug are absent; "
				"binary chunks refused; os.clock and os.time work");
	if (nreports)
		printf("# %s\n", last_report);

	f = put("other.lua", "return { key = function(task) return secret or -1 end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && key(p, &t) == -1,
	       "each file has its own environment");

	char bin[] = "\x1bLuaT\0\x19\x93\r\n\x1a\n";
	f = put("bin.lua", "");
	FILE *fp = fopen(f, "wb");
	if (fp) {
		fwrite(bin, 1, sizeof bin - 1, fp);
		fclose(fp);
	}
	EXPECT(policy_load(p, POL_SCHEDULING, f, &E) == -1 && has(E.msg, "bin.lua") &&
		       has(E.msg, "binary"),
	       "a binary policy file is refused");
	policy_free(p);
}

static void test_view(void)
{
	const char *json =
		"{\"tasks\": ["
		"{\"id\": \"v\", \"kind\": \"sim\", \"priority\": 7, \"deadline_ms\": 2500,"
		" \"est_ms\": 800, \"class\": \"io\", \"target\": \"db\", \"retries\": 2,"
		" \"timeout_ms\": 1500, \"tags\": [\"x\", \"y\"],"
		" \"meta\": {\"a\": 1, \"b\": [1, null, \"s\"], \"c\": {\"d\": true}, \"e\": null, \"f\": 2.5}},"
		"{\"id\": \"w\", \"kind\": \"sim\", \"deps\": [\"v\"]}"
		"]}";
	struct workload *wl = NULL;
	if (workload_load_string(json, strlen(json), "w.json", &wl, &E) != 0) {
		printf("# workload: %s\n", E.msg);
		CHECK(0, "the view test workload loads");
		return;
	}
	struct policy *p = host(wl, 0, 0);
	const char *f = put("view.lua",
		"local kept\n"
		"return { key = function(t)\n"
		"  if t.id == 'w' then\n"
		"    assert(t.deadline_ms == nil and t.est_ms == nil and t.class == nil, 'nils')\n"
		"    assert(t.target == nil and t.timeout_ms == nil and t.meta == nil, 'more nils')\n"
		"    assert(#t.tags == 0 and t.chain == 1 and t.retries == 0, 'bare task')\n"
		"    return 2\n"
		"  end\n"
		"  assert(t.kind == 'sim' and t.priority == 7 and t.deadline_ms == 2500, 'scalars')\n"
		"  assert(t.est_ms == 800 and t.class == 'io' and t.target == 'db', 'more scalars')\n"
		"  assert(t.retries == 2 and t.timeout_ms == 1500 and t.attempts == 0, 'counts')\n"
		"  assert(t.chain == 2, 'chain ' .. t.chain)\n"
		"  assert(#t.tags == 2 and t.tags[1] == 'x' and t.tags[2] == 'y', 'tags')\n"
		"  assert(t.tags == t.tags and t.meta == t.meta, 'tables are built once per call')\n"
		"  local m = t.meta\n"
		"  assert(m.a == 1 and math.type(m.a) == 'integer' and m.f == 2.5, 'meta numbers')\n"
		"  assert(m.b[1] == 1 and m.b[2] == nil and m.b[3] == 's', 'meta array')\n"
		"  assert(m.c.d == true and m.e == nil, 'meta object')\n"
		"  local ok, e = pcall(function() t.priority = 1 end)\n"
		"  assert(not ok and e:find('read%-only'), 'read-only: ' .. tostring(e))\n"
		"  ok, e = pcall(function() return t.deadline end)\n"
		"  assert(not ok and e:find('did you mean \"deadline_ms\"'), 'typo: ' .. tostring(e))\n"
		"  assert(tostring(t) == 'task v', 'tostring')\n"
		"  kept = t\n"
		"  return 1\n"
		"end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "the view probe loads");
	EXPECT(key(p, &wl->tasks[0]) == 1, "every view field reads right");
	if (nreports)
		printf("# %s\n", last_report);
	EXPECT(key(p, &wl->tasks[1]) == 2, "absent fields are nil");
	EXPECT(key(p, &wl->tasks[0]) == 1, "a second call rebuilds tags and meta");
	wl->tasks[0].attempts = 3;
	wl->tasks[0].priority = -2;
	f = put("view2.lua", "return { key = function(t) return t.attempts * 100 + t.priority end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && key(p, &wl->tasks[0]) == 298,
	       "the view reads the task's current attempts and priority");

	/* a view kept past its call is refused (string is shared by all files) */
	f = put("keep.lua", "return { key = function(t) string.kept = t; return 0 end }\n");
	const char *g = put("peek.lua", "return { decide = function(m) return #string.kept.id end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && load(p, POL_SCALING, g) == 0,
	       "a policy keeping its view loads");
	nreports = 0;
	EXPECT(key(p, &wl->tasks[0]) == 0, "key keeps the view");
	EXPECT(scale(p, metrics(0.5, 0.5, 1, 1, 1, 4, 0)) == -999 && nreports == 1 &&
		       has(last_report, "outside its call"),
	       "reading it in a later call is an error");
	policy_free(p);
	workload_free(wl);
}

static void test_reload(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct spec s = mkspec();
	s.priority = 4;
	struct task t = mktask("t", &s);
	const char *f = put("live.lua", "return { key = function(task) return 1 end }\n");
	char file[256];
	snprintf(file, sizeof file, "%s", f);
	EXPECT(load(p, POL_SCHEDULING, file) == 0 && key(p, &t) == 1, "a policy loads");
	put("live.lua", "return { key = function(task) return 1 +\n");
	EXPECT(policy_reload(p, &E) == -1 && has(E.msg, file) && has(E.msg, ":2:") &&
		       has(E.msg, "; keeping the previous policy"),
	       "reloading a broken file fails with FILE:LINE");
	EXPECT(key(p, &t) == 1, "... and the old policy keeps working");
	put("live.lua", "return { key = function(task) return -task.priority end }\n");
	EXPECT(policy_reload(p, &E) == 0 && key(p, &t) == -4, "a fixed file reloads");

	/* reported problems are reported again after a reload */
	put("live.lua", "return { key = function(task) return 'x' end }\n");
	nreports = 0;
	EXPECT(policy_reload(p, &E) == 0 && key(p, &t) != key(p, &t) && nreports == 1,
	       "a new file's problem is reported");
	EXPECT(policy_reload(p, &E) == 0 && key(p, &t) != key(p, &t) && nreports == 2,
	       "... and again after the next reload");
	policy_free(p);
}

struct breaker {
	int calls;
	char last[64];
};

static int breaker_state(void *ud, const struct policy_value *args, int nargs,
			 struct policy_value *ret)
{
	struct breaker *b = ud;
	b->calls++;
	if (nargs != 1 || args[0].type != PV_STR)
		return -1;
	snprintf(b->last, sizeof b->last, "%s", args[0].str);
	ret->type = PV_STR;
	ret->str = strcmp(args[0].str, "db") ? "closed" : "open";
	return 0;
}

static int add(void *ud, const struct policy_value *args, int nargs, struct policy_value *ret)
{
	ret->type = PV_NUM;
	ret->num = 0;
	for (int i = 0; i < nargs; i++)
		ret->num += args[i].type == PV_NUM || args[i].type == PV_BOOL ? args[i].num : 0;
	return 0;
}

static void test_register(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct breaker br = {0};
	EXPECT(policy_register_fn(p, "breaker", "state", breaker_state, &br, &E) == 0,
	       "register breaker.state");
	EXPECT(policy_register_fn(p, "breaker", "add", add, NULL, &E) == 0,
	       "register a second function in the same table");
	EXPECT(policy_register_fn(p, "math", "add", add, NULL, &E) == 0,
	       "register into an existing library table");
	EXPECT(policy_register_fn(p, "_VERSION", "x", add, NULL, &E) == -1 && has(E.msg, "not a table"),
	       "a global that is not a table is refused");
	struct spec s1 = mkspec(), s2 = mkspec();
	s1.target = "db";
	s2.target = "cache";
	struct task t1 = mktask("t1", &s1), t2 = mktask("t2", &s2), t3 = mktask("t3", &s2);
	t3.priority = 5;
	const char *f = put("br.lua", "return { key = function(task)\n"
				      "  if task.priority == 5 then return breaker.state({}) end\n"
				      "  local k = breaker.state(task.target) == 'open' and 100 or 0\n"
				      "  return k + breaker.add(1, 2.5, true, nil) + math.add(1)\n"
				      "end }\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0, "a policy using breaker.state loads");
	EXPECT(key(p, &t1) == 105.5 && !strcmp(br.last, "db"), "breaker.state('db') is called");
	EXPECT(key(p, &t2) == 5.5 && br.calls == 2, "breaker.state('cache') is called");
	nreports = 0;
	EXPECT(isnan(key(p, &t3)) && nreports == 1 && has(last_report, "unsupported argument type"),
	       "a table argument is refused");
	policy_free(p);
}

static void test_check(void)
{
	struct policy *p = host(NULL, 0, 0);
	struct buf out = {0};
	EXPECT(policy_check(p, &out) == 0 && out.len == 0, "nothing loaded: nothing to check");
	EXPECT(load(p, POL_SCHEDULING, "policies/scheduling/weighted.lua") == 0 &&
		       load(p, POL_RETRY, "policies/retry/adaptive.lua") == 0 &&
		       load(p, POL_SCALING, "policies/scaling/target.lua") == 0,
	       "three bundled policies load");
	EXPECT(policy_check(p, &out) == 0 && out.len == 0,
	       "the bundled policies pass the dry run on synthetic tasks");
	if (out.len)
		printf("# %.*s\n", (int)out.len, out.p);

	const char *f = put("bad.lua", "return {\n"
				       "  key = function(task)\n"
				       "    return task.deadline_ms + 1\n"
				       "  end,\n"
				       "  decide = function(task, failure, attempt, stats)\n"
				       "    if failure.kind == 'timeout' then return stats.timeout.success_rate * 100 end\n"
				       "    return 'x'\n"
				       "  end,\n"
				       "}\n");
	EXPECT(load(p, POL_SCHEDULING, f) == 0 && load(p, POL_RETRY, f) == 0, "a buggy file loads");
	nreports = 0;
	int n = policy_check(p, &out);
	const char *text = out.p ? out.p : "";
	EXPECT(n == 2, "check finds the two problems (got %d)", n);
	EXPECT(has(text, "bad.lua:3: key: attempt to perform arithmetic on a nil value"),
	       "the key problem: FILE:LINE: function: message");
	EXPECT(has(text, "bad.lua:5: decide: returned a string"), "the decide problem");
	EXPECT(nreports == 0 && policy_fallbacks(p, POL_SCHEDULING) == 0,
	       "check reports nothing and counts nothing");
	buf_free(&out);

	/* with a workload: its tasks are the samples */
	const char *json = "{\"tasks\": [{\"id\": \"a\", \"kind\": \"sim\", \"deadline_ms\": 10}]}";
	struct workload *wl = NULL;
	if (workload_load_string(json, strlen(json), "w.json", &wl, &E) == 0) {
		policy_free(p);
		p = host(wl, 0, 0);
		memset(&out, 0, sizeof out);
		EXPECT(load(p, POL_SCHEDULING, f) == 0 && policy_check(p, &out) == 0,
		       "with a workload whose tasks have deadlines, key is fine");
		buf_free(&out);
		workload_free(wl);
	} else {
		printf("# %s\n", E.msg);
	}
	policy_free(p);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/gbx-policy-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_scheduling();
	test_retry_none_fixed();
	test_retry_exponential();
	test_retry_adaptive();
	test_scaling();
	test_budget();
	test_memory();
	test_errors();
	test_sandbox();
	test_view();
	test_reload();
	test_register();
	test_check();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return check_done();
}
