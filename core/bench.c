/* bench.c - `gearbox bench`. See bench.h and docs/bench.md.
 *
 * The bench process only starts runs and waits for them: each run is a
 * `gearbox run WORKLOAD -q --no-progress --stats FILE` child with the
 * variant's --enable/--disable, measured from spawn to exit (wall) and by
 * wait4 (user+sys CPU and peak RSS of the run and the tasks it reaped). The
 * child's --stats file gives task counts and attempt latency quantiles.
 * This file holds the options, the setup and the rounds; one run is in
 * bench_run.c, the statistics in bench_stats.c, the reports and --against in
 * bench_report.c (their shared internals: bench_int.h).
 */
#include "bench_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "workload.h"

const char bench_usage[] =
	"usage: gearbox bench WORKLOAD.json [options]\n"
	"\n"
	"Runs the workload with every compared plugin off (baseline), with each one\n"
	"alone on, and as configured; N times each, interleaved, each run its own\n"
	"process. Prints medians with min and max, the ratio to the baseline with a\n"
	"95% bootstrap interval, a verdict per plugin and a recommended config.\n"
	"\n"
	"      --config FILE     config file (default ./gearbox.json when present)\n"
	"      --profile NAME    merge profile NAME of the config over it\n"
	"      --plugins A,B     plugins to compare (default: those the config names,\n"
	"                        else every plugin found)\n"
	"      --repeat N        measured runs per variant (default 5)\n"
	"      --warmup K        unmeasured rounds first (default 0)\n"
	"      --warm            measure the cache only warm, not also cold\n"
	"      --aa              add a second baseline (an A/A check of the noise)\n"
	"      --noise PCT       smallest change called a difference (default 5)\n"
	"      --alpha P         significance a difference needs (default 0.01)\n"
	"  -j, --jobs N          passed to every run\n"
	"      --policy KIND=FILE   passed to every run\n"
	"      --save FILE       store the results as JSON\n"
	"      --against FILE    compare with saved results; exit 1 on a regression\n"
	"      --threshold PCT   what counts as a regression (default 15)\n"
	"      --format F        table (default), json or html\n"
	"  -o, --output FILE     write the report there instead of stdout\n"
	"  -q, --quiet           no progress lines\n"
	"\n"
	"exit status: 0 done, 1 a regression against --against, 2 bad input or a\n"
	"run that could not start, 130 interrupted\n";

volatile sig_atomic_t bench_interrupted;
volatile pid_t bench_child;

/* SIGINT or SIGTERM: the run going on gets it too (from a terminal it
 * already has; from kill it would not), stops as `gearbox run` does, and
 * the bench restores the outputs and exits 130. */
static void on_signal(int sig)
{
	bench_interrupted = 1;
	if (bench_child > 0)
		kill(bench_child, sig);
}

int bench_bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "gearbox bench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'gearbox bench --help'.\n");
	return 2;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int add_variant(struct bench *b, const char *name, char **on, int configured)
{
	struct variant *nv = realloc(b->var, (size_t)(b->nvar + 1) * sizeof *nv);
	if (!nv)
		return -1;
	b->var = nv;
	struct variant *v = &b->var[b->nvar++];
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", name);
	v->on = on;
	v->configured = configured;
	for (int k = 0; k < NMETRIC; k++)
		if (!(v->v[k] = calloc((size_t)b->repeat, sizeof(double))))
			return -1;
	return 0;
}

static char **strv_dup(char *const *l)
{
	int n = 0;
	while (l && l[n])
		n++;
	char **c = calloc((size_t)n + 1, sizeof *c);
	for (int i = 0; c && i < n; i++)
		c[i] = strdup(l[i]);
	return c;
}

/* The variant just added keeps state across runs when the cache is on in it
 * (the one plugin we ship whose state outlives a run: its directory). It is
 * then measured warm, and, unless --warm, a "NAME (cold)" variant measures
 * it from an empty cache, as every run was before. */
static int mark_stateful(struct bench *b)
{
	int w = b->nvar - 1;
	if (!bench_is_on(&b->var[w], "cache"))
		return 0;
	b->var[w].stateful = 1;
	if (b->warm)
		return 0;
	char name[80];
	snprintf(name, sizeof name, "%s (cold)", b->var[w].name);
	if (add_variant(b, name, strv_dup(b->var[w].on), b->var[w].configured))
		return -1;
	b->var[w].cold = b->nvar - 1;
	b->var[b->nvar - 1].stateful = 1;
	b->var[b->nvar - 1].cold_of = w;
	return 0;
}

static char **one(const char *name)
{
	char **l = calloc(2, sizeof *l);
	if (l)
		l[0] = strdup(name);
	return l;
}

/* Validates the config and the workload as `gearbox check` would, and decides
 * what to compare. */
static int setup(struct bench *b, const char *plugins_arg, struct err *err)
{
	struct session ss;
	struct workload *wl = NULL;
	int rc = -1;
	if (session_open(&ss, b->config, b->profile, NULL, NULL, NULL, 1, err))
		goto out;
	if (workload_load_reg(b->workload, &ss.hc.reg, &wl, err) || host_validate(&ss.hc, wl, err))
		goto out;
	b->tasks = wl->ntasks;
	struct plugin_info *list = NULL;
	size_t nl = 0;
	if (plugins_list(ss.dirs, ss.n_user, ss.resolved, &list, &nl, err))
		goto out;
	const char **found = calloc(nl + 1, sizeof *found);
	if (!found) {
		plugins_info_free(list, nl);
		goto out;
	}
	for (size_t i = 0; i < nl; i++)
		found[i] = list[i].error ? "" : list[i].name;
	if (plugins_arg) {
		char *copy = strdup(plugins_arg), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int ok = 0;
			for (size_t i = 0; i < nl; i++)
				ok |= found[i][0] && !strcmp(found[i], t);
			if (!ok) {
				const char *near = nearest_name(t, found, nl, NULL);
				err_set(err, "--plugins: no plugin \"%s\"%s%s%s (see gearbox plugins)", t,
					near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
				free(copy);
				free(found);
				plugins_info_free(list, nl);
				goto out;
			}
			strv_push(&b->plugins, &b->nplugins, strdup(t));
		}
		free(copy);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(ss.cfg.plugins, k, v) strv_push(&b->plugins, &b->nplugins, strdup(k));
		for (size_t i = 0; !b->nplugins && i < nl; i++)
			if (found[i][0])
				strv_push(&b->plugins, &b->nplugins, strdup(found[i]));
	}
	free(found);
	plugins_info_free(list, nl);
	if (!b->nplugins) {
		err_set(err, "no plugins to compare: none found (see gearbox plugins)");
		goto out;
	}
	/* the configured set, by name */
	char **conf = NULL;
	int nconf = 0, differs = 0;
	for (int i = 0; i < b->nplugins; i++) {
		json_t *r = json_object_get(ss.resolved, b->plugins[i]);
		if (json_is_true(json_object_get(r, "enabled")))
			strv_push(&conf, &nconf, strdup(b->plugins[i]));
		if (!strcmp(b->plugins[i], "cache"))
			b->cache_known = 1;
	}
	if (json_is_true(json_object_get(json_object_get(ss.resolved, "cache"), "enabled")))
		b->cache_known = 1;
	if (add_variant(b, "baseline", NULL, 0))
		goto out;
	for (int i = 0; i < b->nplugins; i++)
		if (add_variant(b, b->plugins[i], one(b->plugins[i]), 0) || mark_stateful(b))
			goto out;
	differs = nconf > 1;
	if (differs) {
		if (add_variant(b, "configured", conf, 1) || mark_stateful(b))
			goto out;
	} else {
		for (int i = 0; i < nconf; i++)
			free(conf[i]);
		free(conf);
	}
	if (b->aa && add_variant(b, "baseline (A/A)", NULL, 0))
		goto out;
	if (bench_outputs_save(b, wl, err))
		goto out;
	rc = 0;
out:
	workload_free(wl);
	session_close(&ss); /* no plugin of ours runs during the measured runs */
	return rc;
}

static void cleanup(struct bench *b)
{
	if (b->tmp)
		bench_rm_tree(b->tmp);
	for (int i = 0; i < b->nvar; i++) {
		for (char **p = b->var[i].on; p && *p; p++)
			free(*p);
		free(b->var[i].on);
		for (int k = 0; k < NMETRIC; k++)
			free(b->var[i].v[k]);
	}
	free(b->var);
	for (int i = 0; i < b->nplugins; i++)
		free(b->plugins[i]);
	free(b->plugins);
	for (size_t i = 0; i < b->nout; i++)
		free(b->outputs[i]);
	free(b->outputs);
	free(b->saved);
	free(b->policy);
	free(b->self);
	free(b->tmp);
}

enum {
	B_CONFIG = 256, B_PROFILE, B_PLUGINS, B_REPEAT, B_WARMUP, B_WARM, B_AA, B_NOISE, B_POLICY,
	B_SAVE, B_AGAINST, B_THRESHOLD, B_FORMAT, B_HELP, B_ALPHA
};

static const struct option bench_opts[] = {
	{"config", required_argument, 0, B_CONFIG},
	{"profile", required_argument, 0, B_PROFILE},
	{"plugins", required_argument, 0, B_PLUGINS},
	{"repeat", required_argument, 0, B_REPEAT},
	{"warmup", required_argument, 0, B_WARMUP},
	{"warm", no_argument, 0, B_WARM},
	{"aa", no_argument, 0, B_AA},
	{"noise", required_argument, 0, B_NOISE},
	{"alpha", required_argument, 0, B_ALPHA},
	{"jobs", required_argument, 0, 'j'},
	{"policy", required_argument, 0, B_POLICY},
	{"save", required_argument, 0, B_SAVE},
	{"against", required_argument, 0, B_AGAINST},
	{"threshold", required_argument, 0, B_THRESHOLD},
	{"format", required_argument, 0, B_FORMAT},
	{"output", required_argument, 0, 'o'},
	{"quiet", no_argument, 0, 'q'},
	{"help", no_argument, 0, B_HELP},
	{0, 0, 0, 0},
};

int bench_main(int argc, char **argv)
{
	struct bench B, *b = &B;
	memset(b, 0, sizeof *b);
	b->repeat = 5;
	b->noise = 0.05;
	b->alpha = 0.01;
	b->threshold = 0.15;
	b->format = "table";
	const char *plugins_arg = NULL;
	double x;
	int o, rc = 2;
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":j:o:q", bench_opts, NULL)) != -1) {
		switch (o) {
		case B_CONFIG: b->config = optarg; break;
		case B_PROFILE: b->profile = optarg; break;
		case B_PLUGINS: plugins_arg = optarg; break;
		case B_REPEAT:
			if (parse_num(optarg, 1, 1000, &x) || x != (int)x)
				return bench_bad("--repeat %s: expected a whole number from 1 to 1000", optarg);
			b->repeat = (int)x;
			break;
		case B_WARMUP:
			if (parse_num(optarg, 0, 100, &x) || x != (int)x)
				return bench_bad("--warmup %s: expected a whole number from 0 to 100", optarg);
			b->warmup = (int)x;
			break;
		case B_WARM: b->warm = 1; break;
		case B_AA: b->aa = 1; break;
		case B_NOISE:
			if (parse_num(optarg, 0, 100, &x))
				return bench_bad("--noise %s: expected a percentage from 0 to 100", optarg);
			b->noise = x / 100;
			break;
		case B_ALPHA:
			if (parse_num(optarg, 0.0001, 0.5, &x))
				return bench_bad("--alpha %s: expected a probability from 0.0001 to 0.5", optarg);
			b->alpha = x;
			break;
		case 'j': {
			if (parse_num(optarg, 1, 4096, &x) || x != (int)x)
				return bench_bad("-j %s: expected a number from 1 to 4096", optarg);
			b->jobs = optarg;
			break;
		}
		case B_POLICY:
			if (strv_push(&b->policy, &b->npolicy, optarg))
				return 2;
			break;
		case B_SAVE: b->save = optarg; break;
		case B_AGAINST: b->against = optarg; break;
		case B_THRESHOLD:
			if (parse_num(optarg, 0, 10000, &x))
				return bench_bad("--threshold %s: expected a percentage", optarg);
			b->threshold = x / 100;
			break;
		case B_FORMAT:
			if (strcmp(optarg, "table") && strcmp(optarg, "json") && strcmp(optarg, "html"))
				return bench_bad("--format %s: expected table, json or html", optarg);
			b->format = optarg;
			break;
		case 'o': b->out = optarg; break;
		case 'q': b->quiet = 1; break;
		case B_HELP: fputs(bench_usage, stdout); return 0;
		case ':': return bench_bad("%s needs an argument", argv[optind - 1]);
		default: return bench_bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return bench_bad("%s", "no workload given");
	b->workload = argv[optind++];
	if (optind < argc)
		return bench_bad("unexpected argument %s", argv[optind]);

	struct err err = {{0}};
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char tmpl[4096];
	const char *td = getenv("TMPDIR");
	snprintf(tmpl, sizeof tmpl, "%s/gearbox-bench.XXXXXX", td && *td ? td : "/tmp");
	if (n <= 0 || !mkdtemp(tmpl)) {
		fprintf(stderr, "gearbox bench: cannot make a scratch directory %s: %s\n", tmpl, strerror(errno));
		return 2;
	}
	exe[n > 0 ? n : 0] = 0;
	b->self = strdup(exe);
	b->tmp = strdup(tmpl);
	if (setup(b, plugins_arg, &err)) {
		fprintf(stderr, "gearbox bench: %s\n", err.msg);
		goto out;
	}
	b->cores = ncores();
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(b->host, sizeof b->host, "%s %s %s", u.sysname, u.release, u.machine);
	time_t now = time(NULL);
	strftime(b->when, sizeof b->when, "%Y-%m-%dT%H:%MZ", gmtime(&now));

	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	int nfill = 0;
	for (int i = 0; i < b->nvar; i++)
		nfill += b->var[i].stateful && !b->var[i].cold_of;
	int total = nfill + (b->warmup + b->repeat) * b->nvar, done = 0, tty = isatty(2);
	/* round -1 fills the caches of the warm variants, unmeasured; round r
	 * starts at variant r mod V: no variant always runs first */
	for (int round = nfill ? -1 : 0; round < b->warmup + b->repeat && !bench_interrupted; round++) {
		int measured = round >= b->warmup;
		for (int j = 0; j < b->nvar && !bench_interrupted; j++) {
			struct variant *v = &b->var[round < 0 ? j : (round + j) % b->nvar];
			if (round < 0 && (!v->stateful || v->cold_of))
				continue;
			const char *what = round < 0 ? " (filling its cache)" : measured ? "" : " (warm-up)";
			struct run r;
			memset(&r, 0, sizeof r);
			done++;
			if (!b->quiet && tty)
				fprintf(stderr, "\r\033[Kbench: run %d/%d: %s%s", done, total, v->name, what);
			int e = bench_run_once(b, v, done, &r);
			if (bench_outputs_restore(b))
				e = e ? e : -1;
			if (e) {
				if (!b->quiet && tty)
					fputc('\n', stderr);
				rc = e == -2 ? 130 : 2;
				goto restore;
			}
			if (measured) {
				for (int k = 0; k < NMETRIC; k++)
					v->v[k][v->n] = r.m[k];
				v->n++;
			}
			if (!b->quiet && !tty)
				fprintf(stderr, "bench: run %d/%d: %s%s: %.3f s\n", done, total, v->name, what,
					r.m[M_WALL]);
		}
	}
	if (!b->quiet && tty)
		fputs("\r\033[K", stderr);
	if (bench_interrupted) {
		rc = 130;
		goto restore;
	}
	bench_summarize(b);
	rc = 0;
	if (bench_write_report(b, b->out, b->format))
		rc = 2;
	if (b->save && bench_write_report(b, b->save, "json"))
		rc = 2;
	if (b->against && !rc) {
		/* with a table on stdout the comparison follows it; else on stderr */
		FILE *f = !b->out && !strcmp(b->format, "table") ? stdout : stderr;
		int reg = bench_against(b, b->against, f);
		rc = reg < 0 ? 2 : reg > 0 ? 1 : 0;
	}
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rc == 130)
		fprintf(stderr, "gearbox bench: bench_interrupted; outputs restored, nothing saved\n");
out:
	cleanup(b);
	return rc;
}
