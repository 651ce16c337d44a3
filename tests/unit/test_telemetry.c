/* test_telemetry.c - the telemetry plugin's pure parts, and the plugin
 * itself driven through a fake host table: histogram bucket math and the
 * relative error bound, quantiles, Prometheus lines and a whole exposition
 * checked line by line, JSON and HTML escaping, number formatting, the name
 * registries and their cap, the busy bins, config errors naming the key,
 * and the Lua functions. The plugin's files are included directly.
 */
#include "../../plugins/telemetry/util.c"
#include "../../plugins/telemetry/hist.c"
#include "../../plugins/telemetry/view.c"
#include "../../plugins/telemetry/prom.c"
#include "../../plugins/telemetry/rules.c"
#include "../../plugins/telemetry/report.c"
#include "../../plugins/telemetry/timeline.c"
#include "../../plugins/telemetry/http.c"
#include "../../plugins/telemetry/telemetry.c"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *tbs(struct gbx_buf *b)
{
	return b->p ? b->p : "";
}

/* ---- histogram ------------------------------------------------------------------ */

static void test_hist_buckets(void)
{
	int ok = 1, mono = 1, width = 1, pow2 = 1;
	unsigned prev = 0;
	/* every value from 0 to 70000, then random ones over the whole range */
	for (uint64_t v = 0; v < 70000; v++) {
		unsigned i = hist_index(v);
		if (i < prev)
			mono = 0;
		prev = i;
		if (v > 0 && !(hist_lo(i) < v && v <= hist_hi(i)))
			ok = 0;
	}
	for (int k = 0; k < 200000; k++) {
		uint64_t v = rnd() >> (rnd() % 64);
		unsigned i = hist_index(v);
		if (i >= HIST_N ||
		    (v > 0 && i < HIST_N - 1 && !(hist_lo(i) < v && v <= hist_hi(i))))
			ok = 0;
	}
	for (unsigned i = 16; i < HIST_N - 1; i++)
		if ((hist_hi(i) - hist_lo(i)) * 8 > hist_lo(i))
			width = 0;
	for (int e = 1; e < 63; e++) {
		uint64_t p = (uint64_t)1 << e;
		if (hist_hi(hist_index(p)) != p || hist_index(p + 1) != hist_index(p) + 1)
			pow2 = 0;
	}
	CHECK(ok, "hist: every value v lies in its bucket (lo, hi]");
	CHECK(mono, "hist: the bucket index grows with the value");
	CHECK(width, "hist: a bucket is at most 1/8 of its lower bound wide");
	CHECK(pow2, "hist: every power of two ends a bucket (exact Prometheus buckets)");
	CHECK(hist_index(0) == 0 && hist_index(1) == 0 && hist_index(2) == 1 &&
	          hist_index(16) == 15 && hist_index(17) == 16 &&
	          hist_index(UINT64_MAX) == HIST_N - 1,
	      "hist: edges (0, 1, 2, 16, 17, max)");
}

static void test_hist_error(void)
{
	double worst = 0;
	int exact_small = 1;
	for (int k = 0; k < 100000; k++) {
		uint64_t v = 1 + (rnd() >> (rnd() % 60));
		struct hsum s;
		hsum_clear(&s);
		struct hist h;
		struct hstat st = {0, 0};
		memset(&h, 0, sizeof h);
		hist_add(&h, &st, v);
		hist_add(&h, &st, v);
		hsum_add_hist(&s, &h, &st);
		double q = hsum_quantile(&s, 0.5);
		double err = fabs(q - (double)v) / (double)v;
		if (err > worst)
			worst = err;
		if (v <= 16 && q != (double)v)
			exact_small = 0;
	}
	CHECK(worst <= 1.0 / 16, "hist: a quantile is within 1/16 of the true value (worst %.4f)",
	      worst);
	CHECK(exact_small, "hist: values up to 16 ns are exact");
}

static void test_quantiles(void)
{
	struct hist h;
	struct hstat st = {0, 0};
	memset(&h, 0, sizeof h);
	for (int ms = 1; ms <= 100; ms++)
		hist_add(&h, &st, (uint64_t)ms * 1000000);
	struct hsum s;
	hsum_clear(&s);
	hsum_add_hist(&s, &h, &st);
	double p50 = hsum_quantile(&s, 0.5) / 1e6, p90 = hsum_quantile(&s, 0.9) / 1e6,
	       p99 = hsum_quantile(&s, 0.99) / 1e6, p100 = hsum_quantile(&s, 1) / 1e6;
	CHECK(s.count == 100 && s.max == 100000000 && s.sum == 5050ull * 1000000,
	      "quantile: count, sum and max are exact");
	CHECK(fabs(p50 - 50) / 50 <= 1.0 / 16, "quantile: p50 of 1..100 ms is about 50 (%.3f)",
	      p50);
	CHECK(fabs(p90 - 90) / 90 <= 1.0 / 16, "quantile: p90 is about 90 (%.3f)", p90);
	CHECK(fabs(p99 - 99) / 99 <= 1.0 / 16, "quantile: p99 is about 99 (%.3f)", p99);
	CHECK(p100 <= 100 && p99 <= 100, "quantile: never above the exact maximum (%.3f)", p100);
	CHECK(hsum_quantile(&s, 0.5) <= hsum_quantile(&s, 0.9) &&
	          hsum_quantile(&s, 0.9) <= hsum_quantile(&s, 0.99),
	      "quantile: p50 <= p90 <= p99");
	struct hsum empty;
	hsum_clear(&empty);
	CHECK(hsum_quantile(&empty, 0.99) == 0 && hsum_count_le(&empty, 1024) == 0,
	      "quantile: empty is 0");

	/* count_le at powers of two equals a brute-force count */
	int exact = 1;
	uint64_t vals[5000];
	memset(&h, 0, sizeof h);
	memset(&st, 0, sizeof st);
	for (int i = 0; i < 5000; i++) {
		vals[i] = rnd() >> (20 + rnd() % 40);
		hist_add(&h, &st, vals[i]);
	}
	hsum_clear(&s);
	hsum_add_hist(&s, &h, &st);
	for (int e = 1; e < 44; e++) {
		uint64_t n = 0;
		for (int i = 0; i < 5000; i++)
			n += vals[i] <= (uint64_t)1 << e;
		if (hsum_count_le(&s, (uint64_t)1 << e) != n)
			exact = 0;
	}
	CHECK(exact, "count_le: exact at every power of two");

	/* a window: a - b */
	struct hist h2;
	struct hstat st2 = {0, 0};
	memset(&h2, 0, sizeof h2);
	for (int i = 0; i < 10; i++)
		hist_add(&h2, &st2, 1000);
	struct hsum a, b, w;
	hsum_clear(&b);
	hsum_add_hist(&b, &h2, &st2);
	for (int i = 0; i < 5; i++)
		hist_add(&h2, &st2, 5000000);
	hsum_clear(&a);
	hsum_add_hist(&a, &h2, &st2);
	hsum_diff(&w, &a, &b);
	CHECK(w.count == 5 && fabs(hsum_quantile(&w, 0.5) - 5e6) / 5e6 <= 1.0 / 16,
	      "hsum_diff: the window holds only the new values");
	CHECK(ms_to_ns(1.5) == 1500000 && ms_to_ns(-3) == 0 && ms_to_ns(0) == 0,
	      "ms_to_ns converts and clamps");
}

/* ---- text ------------------------------------------------------------------------ */

static void test_text(void)
{
	struct gbx_buf b = {0};
	gbx_buf_json(&b, "a\"b\\c\nd\te\x01"
	                "f é");
	CHECK(!strcmp(tbs(&b), "\"a\\\"b\\\\c\\nd\\te\\u0001f é\""),
	      "json: escapes quotes, backslash, controls; UTF-8 passes (%s)", tbs(&b));
	b.len = 0;
	gbx_buf_json(&b, NULL);
	CHECK(!strcmp(tbs(&b), "null"), "json: NULL is null");
	b.len = 0;
	tb_html(&b, "<a href=\"x\">&'</a>");
	CHECK(!strcmp(tbs(&b), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"),
	      "html: escapes & < > \" '");
	b.len = 0;
	tb_u64(&b, 0);
	gbx_buf_addc(&b, ' ');
	tb_u64(&b, UINT64_MAX);
	gbx_buf_addc(&b, ' ');
	tb_milli(&b, 1234567);
	gbx_buf_addc(&b, ' ');
	tb_milli(&b, 5);
	CHECK(!strcmp(tbs(&b), "0 18446744073709551615 1234.567 0.005"),
	      "numbers: u64 and milli (%s)", tbs(&b));
	b.len = 0;
	tb_num(&b, 42, "NaN");
	gbx_buf_addc(&b, ' ');
	tb_num(&b, -3, "NaN");
	gbx_buf_addc(&b, ' ');
	tb_num(&b, 0.125, "NaN");
	gbx_buf_addc(&b, ' ');
	tb_num(&b, NAN, "NaN");
	gbx_buf_addc(&b, ' ');
	tb_num(&b, INFINITY, "NaN");
	gbx_buf_addc(&b, ' ');
	tb_num(&b, NAN, "null");
	CHECK(!strcmp(tbs(&b), "42 -3 0.125 NaN +Inf null"), "numbers: tb_num (%s)", tbs(&b));
	/* the trace's own fast formatters */
	char buf[64], *p = buf;
	p = put_u64(p, 0);
	*p++ = ' ';
	p = put_u64(p, 1234567890123ull);
	*p++ = ' ';
	p = put_milli(p, 7);
	*p++ = ' ';
	p = put_str(p, "q\"\\\n", 4);
	*p = 0;
	CHECK(!strcmp(buf, "0 1234567890123 0.007 \"q\\\"\\\\\\n\""), "trace formatters (%s)", buf);
	gbx_buf_free(&b);
}

static void test_prom_lines(void)
{
	struct gbx_buf b = {0};
	prom_family(&b, "gearbox_x_total", "counter", "Help with \\ and\nnewline");
	CHECK(!strcmp(tbs(&b), "# HELP gearbox_x_total Help with \\\\ and\\nnewline\n# TYPE "
	                       "gearbox_x_total counter\n"),
	      "prom: HELP escapes \\ and newline; TYPE follows");
	b.len = 0;
	const char *l[] = {"kind", "sim", "target", NULL, "le", "+Inf", NULL};
	prom_sample(&b, "m_bucket", l, 12);
	CHECK(!strcmp(tbs(&b), "m_bucket{kind=\"sim\",le=\"+Inf\"} 12\n"),
	      "prom: a NULL label value is left out");
	b.len = 0;
	const char *l2[] = {"target", "a\"b\\c\nd", NULL};
	prom_sample(&b, "m", l2, 0.5);
	CHECK(!strcmp(tbs(&b), "m{target=\"a\\\"b\\\\c\\nd\"} 0.5\n"),
	      "prom: label values escaped");
	b.len = 0;
	prom_sample(&b, "g", NULL, NAN);
	CHECK(!strcmp(tbs(&b), "g NaN\n"), "prom: no labels, NaN");
	gbx_buf_free(&b);
}

/* A strict check of the text exposition format 0.0.4, as the integration test
 * does with awk: comments, names, labels, values; HELP/TYPE before samples. */
static int valid_name(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return 0;
	return 1;
}

static int valid_line(const char *line, char *why, size_t wn)
{
	if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
		const char *n = line + 7;
		size_t len = strcspn(n, " ");
		if (!valid_name(n, len) || !n[len]) {
			snprintf(why, wn, "bad comment");
			return 0;
		}
		if (line[2] == 'T') {
			const char *t = n + len + 1;
			if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
			    strcmp(t, "summary") && strcmp(t, "untyped")) {
				snprintf(why, wn, "bad type");
				return 0;
			}
		}
		return 1;
	}
	if (line[0] == '#')
		return 1;
	size_t len = strcspn(line, "{ ");
	if (!valid_name(line, len)) {
		snprintf(why, wn, "bad name");
		return 0;
	}
	const char *p = line + len;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = strcspn(p, "=");
			if (!valid_name(p, ln) || p[ln] != '=' || p[ln + 1] != '"') {
				snprintf(why, wn, "bad label name");
				return 0;
			}
			p += ln + 2;
			while (*p && *p != '"') {
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
						snprintf(why, wn, "bad escape");
						return 0;
					}
					p++;
				}
				p++;
			}
			if (*p != '"') {
				snprintf(why, wn, "unterminated label value");
				return 0;
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}') {
				snprintf(why, wn, "bad label separator");
				return 0;
			}
		}
		p++;
	}
	if (*p++ != ' ') {
		snprintf(why, wn, "no space before the value");
		return 0;
	}
	if (!strcmp(p, "NaN") || !strcmp(p, "+Inf") || !strcmp(p, "-Inf"))
		return 1;
	char *end;
	strtod(p, &end);
	if (end == p || *end) {
		snprintf(why, wn, "bad value \"%s\"", p);
		return 0;
	}
	return 1;
}

/* ---- the plugin through a fake host ----------------------------------------------------- */

struct ftask {
	const char *id, *kind, *target;
	int slot, attempt;
	double wait, start;
};
#define FT(t) ((const struct ftask *)(const void *)(t))
static const char *f_id(const gbx_task *t)
{
	return FT(t)->id;
}
static const char *f_kind(const gbx_task *t)
{
	return FT(t)->kind;
}
static const char *f_target(const gbx_task *t)
{
	return FT(t)->target;
}
static int f_attempt(const gbx_task *t)
{
	return FT(t)->attempt;
}
static int f_slot(const gbx_task *t)
{
	return FT(t)->slot;
}
static double f_wait(const gbx_task *t)
{
	return FT(t)->wait;
}
static double f_start(void *c, const gbx_task *t)
{
	(void)c;
	return FT(t)->start;
}
static double f_now(void *c)
{
	(void)c;
	return 1000;
}
static int nlog, nevents;
static char last_event[1024];
static void f_log(void *c, int l, const char *m)
{
	(void)c;
	(void)l;
	(void)m;
	nlog++;
}
static void f_event(void *c, const char *n, const gbx_task *t, const char *f)
{
	(void)c;
	(void)t;
	nevents++;
	snprintf(last_event, sizeof last_event, "%s %s", n, f ? f : "");
}
struct luareg {
	char name[32];
	gbx_lua_fn fn;
	void *self;
} luafns[4];
static int nlua;
static int f_lua(void *c, const char *table, const char *name, gbx_lua_fn fn, void *self)
{
	(void)c;
	snprintf(luafns[nlua].name, sizeof luafns[nlua].name, "%s.%s", table, name);
	luafns[nlua].fn = fn;
	luafns[nlua].self = self;
	nlua++;
	return 0;
}

/* What the host hands after_attempt for fake task t and result r. */
static void feed(void *self, const struct ftask *t, const struct gbx_result *r)
{
	struct gbx_attempt a = {sizeof a, (const gbx_task *)(const void *)t, r, t->id, t->kind,
				t->target, t->attempt, t->slot, (int64_t)(t->wait * 1e6),
				(int64_t)(t->start * 1e6), (int64_t)(r->ms * 1e6), 1, 1, NULL, 0, 0};
	tel_after(self, &a);
}

static struct gbx_host fake_host(void)
{
	struct gbx_host h;
	memset(&h, 0, sizeof h);
	h.size = sizeof h;
	h.abi_major = 1;
	h.abi_minor = 3;
	h.task_id = f_id;
	h.task_kind = f_kind;
	h.task_target = f_target;
	h.task_attempt = f_attempt;
	h.task_slot = f_slot;
	h.task_wait_ms = f_wait;
	h.task_start_ms = f_start;
	h.now_ms = f_now;
	h.log = f_log;
	h.event = f_event;
	h.lua_fn = f_lua;
	return h;
}

static void test_config_errors(void)
{
	struct gbx_host h = fake_host();
	static const struct {
		const char *cfg, *key;
	} bad[] = {
	    {"{\"sample\":1.5}", "sample"},
	    {"{\"sample\":\"all\"}", "sample"},
	    {"{\"interval_ms\":5}", "interval_ms"},
	    {"{\"interval_ms\":100.5}", "interval_ms"},
	    {"{\"listen\":70000}", "listen"},
	    {"{\"listen\":\"abc\"}", "listen"},
	    {"{\"prometheus\":3}", "prometheus"},
	    {"{\"trace\":\"\"}", "trace"},
	    {"{\"summary\":\"/nonexistent/dir/s.json\"}", "summary"},
	    {"{\"html\":true}", "html"},
	    {"{\"hints\":\"yes\"}", "hints"},
	    {"{\"alerts\":[1]}", "alerts"},
	    {"{\"alerts\":{\"min_sucess_rate\":0.5}}", "alerts.min_sucess_rate"},
	    {"{\"alerts\":{\"min_success_rate\":2}}", "alerts.min_success_rate"},
	    {"{\"alerts\":{\"max_p99_ms\":0}}", "alerts.max_p99_ms"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *self = NULL;
		char err[512] = "";
		nlua = 0;
		int rc = tel_init(&h, bad[i].cfg, &self, err, sizeof err);
		CHECK(rc == -1 && !strncmp(err, bad[i].key, strlen(bad[i].key)) &&
		          err[strlen(bad[i].key)] == ':',
		      "config %s fails naming %s (%s)", bad[i].cfg, bad[i].key, err);
		if (!rc)
			tel_fini(self);
	}
	void *self = NULL;
	char err[512] = "";
	nlua = 0;
	int rc = tel_init(&h,
	                  "{\"sample\":0.5,\"interval_ms\":250,\"hints\":false,\"alerts\":{\"min_"
	                  "throughput\":3}}",
	                  &self, err, sizeof err);
	CHECK(!rc, "config: a good one is taken (%s)", err);
	if (!rc) {
		struct tel *T = self;
		CHECK(T->cfg.sample == 0.5 && T->cfg.interval_ms == 250 && !T->cfg.hints &&
		          T->alerts[A_THROUGHPUT].on && T->alerts[A_THROUGHPUT].threshold == 3 &&
		          !T->alerts[A_SUCCESS].on,
		      "config: values read");
		CHECK(nlua == 2 && !strcmp(luafns[0].name, "telemetry.p99") &&
		          !strcmp(luafns[1].name, "telemetry.rate"),
		      "config: telemetry.p99 and telemetry.rate registered");
		tel_fini(self);
	}
}

static void test_registry(void)
{
	struct reg *r = reg_new(4);
	unsigned a = reg_id(r, "a"), b2 = reg_id(r, "b"), a2 = reg_id(r, "a");
	reg_id(r, "c");
	reg_id(r, "d");
	unsigned e = reg_id(r, "e"), o = reg_id(r, "other");
	CHECK(a == 0 && b2 == 1 && a2 == 0, "registry: one id per name");
	CHECK(e == 4 && o == 4 && !strcmp(reg_name(r, e), "other"),
	      "registry: past the cap, names fold into \"other\"");
	CHECK(!strcmp(reg_name(r, 3), "d") && reg_name(r, 9) == NULL, "registry: names by id");
	reg_free(r);
	CHECK(fail_index("exit") == F_EXIT && fail_index("signal") == F_SIGNAL &&
	          fail_index("timeout") == F_TIMEOUT && fail_index("spawn") == F_SPAWN &&
	          fail_index("rejected") == F_REJECTED && fail_index("error") == F_ERROR &&
	          fail_index(NULL) == F_ERROR,
	      "failure kinds map to their index");
}

static void test_bins(void)
{
	struct shard *s = shard_new();
	double total = 0;
	for (int i = 0; i < 3000; i++) {
		double start = i * 0.7, dur = 0.05 + (i % 7) * 0.1;
		bins_add(s, start, dur);
		total += dur;
	}
	double sum = 0;
	for (int k = 0; k < TL_BINS; k++)
		sum += s->bins[k];
	CHECK(fabs(sum - total) < 1e-6 * total,
	      "bins: busy time is kept through rescaling (%.3f vs %.3f)", sum, total);
	CHECK(s->bin_ms * TL_BINS > 3000 * 0.7 && s->bin_ms < 8,
	      "bins: the width doubled to cover the run (%.3f ms)", s->bin_ms);
	double col[100] = {0};
	resample(s, col, 100, 2200, 1);
	double csum = 0;
	for (int k = 0; k < 100; k++)
		csum += col[k];
	CHECK(fabs(csum - total) < 1e-6 * total, "bins: resampling to columns keeps the busy time");
	shard_free(s);
}

/* short attempts take the slot's current bin, and resync every BIN_SYNC */
static void test_short_bins(void)
{
	char dir[] = "/tmp/gbx-tel-bins.XXXXXX", cfg[256], html[200];
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(html, sizeof html, "%s/r.html", dir);
	snprintf(cfg, sizeof cfg, "{\"html\":\"%s\"}", html);
	struct gbx_host h = fake_host();
	void *self = NULL;
	char err[512] = "";
	nlua = 0;
	if (tel_init(&h, cfg, &self, err, sizeof err)) {
		CHECK(0, "short bins: init (%s)", err);
		return;
	}
	tel_run_start(self, 20000);
	static struct ftask tasks[20000];
	struct gbx_result r;
	memset(&r, 0, sizeof r);
	r.ok = 1;
	double total = 0;
	for (int i = 0; i < 20000; i++) {
		tasks[i] = (struct ftask){"x", "sim", NULL, 0, 1, 0, i * 0.01};
		r.ms = i % 1000 == 999 ? 3.0 : 0.0002; /* mostly short, a long one now and then */
		total += r.ms;
		feed(self, &tasks[i], &r);
	}
	struct shard *s = atomic_load(&((struct tel *)self)->shards[0]);
	double sum = 0, late = 0;
	for (int k = 0; k < TL_BINS; k++) {
		sum += s->bins[k];
		if (k * s->bin_ms > 203 + s->bin_ms) /* the last attempt ends at 202.99 */
			late += s->bins[k];
	}
	CHECK(fabs(sum - total) < 1e-6 * total, "short bins: busy time exact (%.4f vs %.4f ms)",
	      sum, total);
	CHECK(late == 0 && s->bin_short > 0 && s->bin_short < 1,
	      "short bins: placed within the run (%.4f ms late)", late);
	tel_fini(self);
	rmdir(dir);
}

/* drives a run: 2 slots, kinds sim and exec, a target, failures and a retry */
/* ABI 1.3: a fold of count plain successes of unsampled tasks, and an
 * unsampled failure, count exactly and stay out of the histograms. */
static void test_folds(void)
{
	struct gbx_host h = fake_host();
	void *self = NULL;
	char err[512] = "";
	nlua = 0;
	if (tel_init(&h, "{\"sample\":0.01}", &self, err, sizeof err)) {
		CHECK(0, "folds: init (%s)", err);
		return;
	}
	struct tel *T = self;
	CHECK(tel_sample(self) == 0.01, "folds: attempt_sample gives the configured sample");
	tel_run_start(self, 1010);
	struct ftask t = {"a", "sim", NULL, 0, 1, 0.1, 1.0};
	struct gbx_result ok = {1, NULL, 0, 0, 2.0, NULL, 0, NULL, 0, NULL};
	feed(self, &t, &ok); /* sampled */
	struct gbx_result bad = ok;
	bad.ok = 0;
	bad.failure = "exit";
	struct gbx_attempt a = {sizeof a, (const gbx_task *)(const void *)&t, &bad, "b", "sim",
				NULL, 1, 1, 0, 0, 1000, 0, 1, NULL, 0, 0};
	tel_after(self, &a); /* unsampled, failed: counted, no detail */
	struct gbx_attempt f = {sizeof f, NULL, &ok, NULL, "sim", NULL, 1, 0, 0, 0, 0, 0, 1000, NULL, 0, 0};
	tel_after(self, &f);
	f.kind = "exec";
	f.target = "db";
	f.slot = 1;
	f.count = 7;
	tel_after(self, &f);
	struct gbx_metrics m = {sizeof m, 0.5, 0.3, 10, 2, 2, 2, 500, 10, 5, 100, 1100};
	tel_tick(self, &m);
	const struct view *v = T->view;
	CHECK(v->total.ended == 1009 && v->total.ok == 1008 && agg_failed(&v->total) == 1,
	      "folds: 1 + 1000 + 7 successes and 1 failure counted (%llu ended, %llu ok)",
	      (unsigned long long)v->total.ended, (unsigned long long)v->total.ok);
	CHECK(v->total.run.count == 1, "folds: only the sampled attempt in the histogram (%llu)",
	      (unsigned long long)v->total.run.count);
	CHECK(v->target[0].ok == 7 || v->target[1].ok == 7, "folds: the fold's target counted");
	tel_fini(self);
}

static void test_plugin_run(void)
{
	char dir[] = "/tmp/gbx-tel-unit.XXXXXX";
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	char cfg[2048], prom[300], trace[300], sum[300], html[300];
	snprintf(prom, sizeof prom, "%s/m.prom", dir);
	snprintf(trace, sizeof trace, "%s/t.json", dir);
	snprintf(sum, sizeof sum, "%s/s.json", dir);
	snprintf(html, sizeof html, "%s/r.html", dir);
	snprintf(cfg, sizeof cfg,
	         "{\"prometheus\":\"%s\",\"trace\":\"%s\",\"summary\":\"%s\",\"html\":\"%s\","
	         "\"alerts\":{\"min_success_rate\":0.9,\"max_p99_ms\":1000}}",
	         prom, trace, sum, html);
	struct gbx_host h = fake_host();
	void *self = NULL;
	char err[512] = "";
	nlua = 0;
	nevents = 0;
	if (tel_init(&h, cfg, &self, err, sizeof err)) {
		CHECK(0, "plugin: init (%s)", err);
		return;
	}
	struct tel *T = self;
	tel_run_start(self, 1000);
	enum { N = 1000 };
	static struct ftask tasks[N];
	static char ids[N][16];
	int failed = 0, retried = 0;
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof ids[i], "t%d", i);
		tasks[i] = (struct ftask){ids[i], i % 3 ? "sim" : "exec", i % 5 ? NULL : "db\"1",
		                          i % 2,  i % 10 == 9 ? 2 : 1,    0.01 * (i % 50),
		                          i * 1.0};
		struct gbx_result r;
		memset(&r, 0, sizeof r);
		r.ok = i % 4 != 0;
		r.failure = r.ok ? NULL : i % 8 ? "exit" : "timeout";
		r.ms = 0.5 + (i % 100) * 0.1;
		failed += !r.ok;
		retried += tasks[i].attempt > 1;
		feed(self, &tasks[i], &r);
	}
	struct gbx_metrics m = {sizeof m, 0.5, 0.3, 10, 2, 2, 2, 500, 10, 5, 100, 1100};
	tel_tick(self, &m);
	/* the Lua functions read the snapshot the tick made */
	struct gbx_value arg = {GBX_STR, 0, "sim", NULL}, ret;
	memset(&ret, 0, sizeof ret);
	int rc = lua_p99(T, &arg, 1, &ret);
	double sim_p99 = ret.num;
	CHECK(!rc && ret.type == GBX_NUM && sim_p99 > 9 && sim_p99 < 11,
	      "lua: telemetry.p99(\"sim\") about 10.4 ms (%g)", ret.num);
	arg.str = "db\"1";
	rc = lua_p99(T, &arg, 1, &ret);
	CHECK(!rc && ret.type == GBX_NUM, "lua: telemetry.p99(target)");
	arg.str = "nope";
	rc = lua_p99(T, &arg, 1, &ret);
	CHECK(!rc && ret.type == GBX_NIL, "lua: telemetry.p99 of an unknown name is nil");
	rc = lua_p99(T, NULL, 0, &ret);
	CHECK(!rc && ret.type == GBX_NUM, "lua: telemetry.p99() is the overall p99");
	rc = lua_rate(T, NULL, 0, &ret);
	CHECK(!rc && ret.type == GBX_NUM && fabs(ret.num - N / 1.1) < 1,
	      "lua: telemetry.rate() since the start (%g/s)", ret.num);
	struct gbx_value num = {GBX_NUM, 3, NULL, NULL};
	rc = lua_rate(T, &num, 1, &ret);
	CHECK(rc == -1 && ret.type == GBX_STR && strstr(ret.str, "telemetry.rate"),
	      "lua: a bad argument raises an error");

	struct gbx_summary s = {sizeof s, N, N - failed, failed, 0, 0, N, retried, 0, 1234.5, 0, 0, NULL, 0};
	tel_run_end(self, N - failed, failed);
	tel_run_summary(self, &s);

	/* the exposition, line by line */
	FILE *f = fopen(prom, "r");
	CHECK(f != NULL, "plugin: the Prometheus file exists");
	char line[1024], why[128] = "";
	int lines = 0, bad = 0, cum_ok = 1, inf_is_count = 1;
	uint64_t count_sum = 0, prev = 0, inf = 0;
	char series[512] = "";
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		lines++;
		if (!valid_line(line, why, sizeof why)) {
			if (!bad)
				printf("# bad line: %s (%s)\n", line, why);
			bad++;
		}
		if (!strncmp(line, "gearbox_run_seconds_bucket{", 27)) {
			char *le = strstr(line, ",le=\"");
			uint64_t v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
			char key[512];
			snprintf(key, sizeof key, "%.*s", (int)(le - line), line);
			if (strcmp(key, series))
				prev = 0;
			snprintf(series, sizeof series, "%s", key);
			if (v < prev)
				cum_ok = 0;
			prev = v;
			if (strstr(line, "le=\"+Inf\""))
				inf = v;
		}
		if (!strncmp(line, "gearbox_run_seconds_count", 25)) {
			uint64_t v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
			count_sum += v;
			if (v != inf)
				inf_is_count = 0;
		}
	}
	if (f)
		fclose(f);
	CHECK(lines > 50 && !bad, "prometheus: %d lines, every one valid exposition format", lines);
	CHECK(cum_ok, "prometheus: histogram buckets are cumulative");
	CHECK(inf_is_count, "prometheus: the +Inf bucket equals _count");
	CHECK(count_sum == N, "prometheus: the _count values add up to the attempts (%llu)",
	      (unsigned long long)count_sum);

	/* counters in the merged view */
	const struct agg *tot = &T->view->total;
	CHECK(tot->ended == N && tot->ok == (uint64_t)(N - failed) &&
	          agg_failed(tot) == (uint64_t)failed && tot->retried == (uint64_t)retried &&
	          tot->failed[F_TIMEOUT] > 0,
	      "counters: attempts, ok, failed by kind, retried");
	CHECK(T->alerts[A_SUCCESS].fired == 1 && T->alerts[A_SUCCESS].firing &&
	          !T->alerts[A_P99].fired,
	      "alerts: the success rate fired (0.75 < 0.9), p99 did not");
	CHECK(strstr(last_event, "telemetry.alert") || strstr(last_event, "telemetry.hint"),
	      "alerts: reported as an event (%s)", last_event);

	/* the trace: one X event per attempt, and it ends with the object's close */
	f = fopen(trace, "r");
	int xs = 0, ends = 0;
	while (f && fgets(line, sizeof line, f)) {
		xs += !strncmp(line, "{\"ph\":\"X\"", 9);
		ends = !strcmp(
		    line,
		    "\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"gearbox "
		    "telemetry\",\"sample\":1,\"slices\":1000,\"dropped\":0,\"attempts\":1000}}\n");
	}
	if (f)
		fclose(f);
	CHECK(xs == N, "trace: one complete slice per attempt (%d)", xs);
	CHECK(ends, "trace: otherData closes the object with the counts");

	/* the summary and the report exist and say what they should */
	struct gbx_buf b = {0};
	summary_json(T, &b);
	CHECK(strstr(tbs(&b), "\"run\":{\"tasks\":1000,\"ok\":750,\"failed\":250,") &&
	          strstr(tbs(&b),
	                 "\"counters\":{\"started\":1000,\"succeeded\":750,\"failed\":250,") &&
	          strstr(tbs(&b), "\"db\\\"1\":{"),
	      "summary: counts and escaped target names");
	gbx_buf_free(&b);
	f = fopen(html, "r");
	char page[200000];
	size_t n = f ? fread(page, 1, sizeof page - 1, f) : 0;
	page[n] = 0;
	if (f)
		fclose(f);
	CHECK(n > 1000 && strstr(page, "<svg") && !strstr(page, "http://") &&
	          !strstr(page, "https://") && strstr(page, "db&quot;1"),
	      "html: inline svg, no links out, escaped names");
	tel_fini(self);
	unlink(prom);
	unlink(trace);
	unlink(sum);
	unlink(html);
	rmdir(dir);
}

int main(void)
{
	test_hist_buckets();
	test_hist_error();
	test_quantiles();
	test_text();
	test_prom_lines();
	test_config_errors();
	test_registry();
	test_bins();
	test_short_bins();
	test_plugin_run();
	test_folds();
	return check_done();
}
