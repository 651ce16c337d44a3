/* bench.c - `gearbox bench`. See bench.h and docs/bench.md.
 *
 * The bench process only starts runs and waits for them: each run is a
 * `gearbox run WORKLOAD -q --no-progress --stats FILE` child with the
 * variant's --enable/--disable, measured from spawn to exit (wall) and by
 * wait4 (user+sys CPU and peak RSS of the run and the tasks it reaped). The
 * child's --stats file gives task counts and attempt latency quantiles.
 */
#include "bench.h"

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

extern char **environ;

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

enum { M_WALL, M_CPU, M_RSS, M_TPUT, M_P50, M_P99, M_OK, NMETRIC };
static const struct {
	const char *key, *label, *unit;
	int lower_better;
} metric[NMETRIC] = {
	{"wall_s", "wall", "s", 1},
	{"cpu_s", "CPU", "s", 1},
	{"rss_mb", "peak RSS", "MB", 1},
	{"throughput", "throughput", "tasks/s", 0},
	{"p50_ms", "p50 latency", "ms", 1},
	{"p99_ms", "p99 latency", "ms", 1},
	{"success", "success", "%", 0},
};

struct variant {
	char name[64];
	char **on;             /* compared plugins on in this variant, NULL-terminated */
	int configured;        /* the config as it is: no --enable/--disable */
	int stateful;          /* the cache is on: measured warm (its state kept) */
	int cold_of;           /* > 0: the cold runs of variant cold_of */
	int cold;              /* > 0: index of this variant's cold runs */
	double *v[NMETRIC];    /* per measured run */
	int n;
	double med[NMETRIC], min[NMETRIC], max[NMETRIC];
	double ratio, ci_lo, ci_hi; /* wall against the baseline */
	double p;              /* Mann-Whitney p of the wall times against the baseline */
	const char *verdict;
};

struct bench {
	const char *workload, *config, *profile, *jobs, *save, *against, *out;
	const char *format;
	char **policy;         /* --policy args, NULL-terminated */
	int npolicy;
	int repeat, warmup, warm, aa, quiet;
	double noise, threshold, alpha;
	char **plugins;        /* compared, NULL-terminated */
	int nplugins;
	int cache_known;       /* the cache plugin is compared or configured: reset its dir */
	struct variant *var;
	int nvar;
	char *self;            /* /proc/self/exe */
	char *tmp;             /* our scratch directory */
	char **outputs;        /* the workload's declared outputs, deduplicated */
	int *saved;            /* outputs[i] existed before: kept in tmp/out/i */
	size_t nout;
	int64_t tasks;
	int cores;
	char when[32];
	char host[256];
};

static volatile sig_atomic_t interrupted;
static volatile pid_t running_child;

/* SIGINT or SIGTERM: the run going on gets it too (from a terminal it
 * already has; from kill it would not), stops as `gearbox run` does, and
 * the bench restores the outputs and exits 130. */
static void on_signal(int sig)
{
	interrupted = 1;
	if (running_child > 0)
		kill(running_child, sig);
}

static int bad(const char *fmt, const char *arg)
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

/* ---- files: removing and copying trees, for the workload's outputs -------- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p) && errno != ENOENT ? -1 : 0;
}

static int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int copy_file(const char *src, const char *dst, const struct stat *st)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st->st_mode & 07777);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buf[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rc = -1;
				break;
			}
			off += w;
		}
		if (rc)
			break;
	}
	if (n < 0)
		rc = -1;
	close(in);
	if (fchmod(out, st->st_mode & 07777) || close(out))
		rc = -1;
	return rc;
}

/* Copies src to dst (which must not exist): files, directories, symlinks,
 * with their modes and modification times. */
static int copy_tree(const char *src, const char *dst)
{
	struct stat st;
	if (lstat(src, &st))
		return -1;
	int rc = 0;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(src, target, sizeof target - 1);
		if (n < 0)
			return -1;
		target[n] = 0;
		return symlink(target, dst);
	} else if (S_ISDIR(st.st_mode)) {
		if (mkdir(dst, 0700))
			return -1;
		DIR *d = opendir(src);
		if (!d)
			return -1;
		struct dirent *de;
		while (!rc && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			struct buf a = {0}, b = {0};
			buf_addf(&a, "%s/%s", src, de->d_name);
			buf_addf(&b, "%s/%s", dst, de->d_name);
			rc = copy_tree(a.p, b.p);
			buf_free(&a);
			buf_free(&b);
		}
		closedir(d);
		if (chmod(dst, st.st_mode & 07777))
			rc = -1;
	} else if (S_ISREG(st.st_mode)) {
		rc = copy_file(src, dst, &st);
	} else {
		return 0; /* sockets, fifos, devices: not outputs anyone restores */
	}
	struct timespec ts[2] = {st.st_atim, st.st_mtim};
	utimensat(AT_FDCWD, dst, ts, AT_SYMLINK_NOFOLLOW);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The declared outputs of every task (relative to its cwd), and a copy of
 * each that exists now, so every run starts from what was there. */
static int outputs_save(struct bench *b, const struct workload *wl, struct err *err)
{
	size_t cap = 0;
	const struct spec *last = NULL;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct spec *s = wl->tasks[i].spec;
		if (s == last || !s->outputs)
			continue; /* instances of one matrix entry share their spec */
		last = s;
		for (char **o = s->outputs; *o; o++) {
			struct buf p = {0};
			if ((*o)[0] == '/' || !s->cwd)
				buf_adds(&p, *o);
			else
				buf_addf(&p, "%s/%s", s->cwd, *o);
			if (b->nout == cap) {
				cap = cap ? cap * 2 : 16;
				char **n = realloc(b->outputs, cap * sizeof *n);
				if (!n) {
					buf_free(&p);
					return err_set(err, "out of memory");
				}
				b->outputs = n;
			}
			b->outputs[b->nout++] = p.p;
		}
	}
	if (b->nout)
		qsort(b->outputs, b->nout, sizeof *b->outputs, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < b->nout; i++) {
		if (k && !strcmp(b->outputs[k - 1], b->outputs[i]))
			free(b->outputs[i]);
		else
			b->outputs[k++] = b->outputs[i];
	}
	b->nout = k;
	b->saved = calloc(k ? k : 1, sizeof *b->saved);
	if (!b->saved)
		return err_set(err, "out of memory");
	struct buf d = {0};
	buf_addf(&d, "%s/out", b->tmp);
	if (k && mkdir(d.p, 0700)) {
		buf_free(&d);
		return err_set(err, "%s: %s", d.p, strerror(errno));
	}
	for (size_t i = 0; i < k; i++) {
		struct stat st;
		if (lstat(b->outputs[i], &st))
			continue;
		struct buf c = {0};
		buf_addf(&c, "%s/%zu", d.p, i);
		if (copy_tree(b->outputs[i], c.p)) {
			err_set(err, "%s: cannot keep a copy of this output to restore between runs: %s",
				b->outputs[i], strerror(errno));
			buf_free(&c);
			buf_free(&d);
			return -1;
		}
		b->saved[i] = 1;
		buf_free(&c);
	}
	buf_free(&d);
	return 0;
}

/* Puts every output back as it was before the first run. */
static int outputs_restore(struct bench *b)
{
	int rc = 0;
	for (size_t i = 0; i < b->nout; i++) {
		if (rm_tree(b->outputs[i])) {
			fprintf(stderr, "gearbox bench: %s: cannot remove: %s\n", b->outputs[i], strerror(errno));
			rc = -1;
			continue;
		}
		if (!b->saved[i])
			continue;
		struct buf c = {0};
		buf_addf(&c, "%s/out/%zu", b->tmp, i);
		if (copy_tree(c.p, b->outputs[i])) {
			fprintf(stderr, "gearbox bench: %s: cannot restore (a copy is in %s): %s\n",
				b->outputs[i], c.p, strerror(errno));
			rc = -1;
		}
		buf_free(&c);
	}
	return rc;
}

/* ---- one run ------------------------------------------------------------ */

struct run {
	double m[NMETRIC];
	int status;            /* the child's exit status, or 128 + signal */
};

static int is_on(const struct variant *v, const char *name)
{
	for (char **p = v->on; p && *p; p++)
		if (!strcmp(*p, name))
			return 1;
	return 0;
}

static double num(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* The tail of the child's stderr, for a run that failed to start. */
static void show_stderr(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[1024];
	while (fgets(line, sizeof line, f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

static int run_once(struct bench *b, const struct variant *v, int seq, struct run *r)
{
	char **av = NULL;
	int n = 0, rc = -1;
	struct buf stats = {0}, errf = {0}, cache = {0};
	buf_addf(&stats, "%s/stats.json", b->tmp);
	buf_addf(&errf, "%s/stderr", b->tmp);
	int keep = v->stateful && !v->cold_of; /* the warm runs share their cache */
	if (keep)
		buf_addf(&cache, "plugins.cache.dir=%s/warm.%d", b->tmp, (int)(v - b->var));
	else
		buf_addf(&cache, "plugins.cache.dir=%s/cache.%d", b->tmp, seq);
	unlink(stats.p);
#define ARG(x)                                        \
	do {                                          \
		if (strv_push(&av, &n, (char *)(x))) \
			goto out;                     \
	} while (0)
	ARG(b->self);
	ARG("run");
	ARG(b->workload);
	if (b->config) {
		ARG("--config");
		ARG(b->config);
	}
	if (b->profile) {
		ARG("--profile");
		ARG(b->profile);
	}
	if (b->jobs) {
		ARG("-j");
		ARG(b->jobs);
	}
	for (char **p = b->policy; p && *p; p++) {
		ARG("--policy");
		ARG(*p);
	}
	ARG("-q");
	ARG("--no-progress");
	ARG("--stats");
	ARG(stats.p);
	if (b->cache_known) {
		ARG("--set");
		ARG(cache.p);
	}
	for (int i = 0; !v->configured && i < b->nplugins; i++) {
		ARG(is_on(v, b->plugins[i]) ? "--enable" : "--disable");
		ARG(b->plugins[i]);
	}
#undef ARG

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errf.p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	/* the run takes SIGINT and SIGTERM even when we were started with them
	 * ignored (a background job of a script): we forward them */
	posix_spawnattr_t sa;
	posix_spawnattr_init(&sa);
	sigset_t def, none;
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&sa, &def);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid;
	int e = posix_spawn(&pid, b->self, &fa, &sa, av, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	if (e) {
		fprintf(stderr, "gearbox bench: cannot start %s: %s\n", b->self, strerror(e));
		goto out;
	}
	running_child = pid;
	if (interrupted) /* a signal between spawn and the line above */
		kill(pid, SIGTERM);
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "gearbox bench: wait: %s\n", strerror(errno));
			goto out;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	running_child = 0;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (r->status != 0 && r->status != 1) {
		if (r->status == 130 || interrupted) {
			rc = -2;
			goto out;
		}
		fprintf(stderr, "gearbox bench: the %s run %s %d; its messages:\n", v->name,
			WIFEXITED(status) ? "exited with status" : "was killed by signal",
			WIFEXITED(status) ? r->status : WTERMSIG(status));
		show_stderr(errf.p);
		goto out;
	}
	json_error_t je;
	json_t *st = json_load_file(stats.p, 0, &je);
	if (!st) {
		fprintf(stderr, "gearbox bench: %s: %s (the run wrote no stats)\n", stats.p, je.text);
		show_stderr(errf.p);
		goto out;
	}
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double tasks = num(st, "tasks");
	json_t *lat = json_object_get(st, "latency_ms");
	r->m[M_WALL] = wall;
	r->m[M_CPU] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	r->m[M_RSS] = (double)ru.ru_maxrss / 1024.0;
	r->m[M_TPUT] = wall > 0 ? tasks / wall : 0;
	r->m[M_P50] = num(lat, "p50");
	r->m[M_P99] = num(lat, "p99");
	r->m[M_OK] = tasks > 0 ? 100.0 * num(st, "ok") / tasks : 100.0;
	b->tasks = (int64_t)tasks;
	json_decref(st);
	rc = 0;
out:
	if (!keep)
		rm_tree(cache.p + strlen("plugins.cache.dir="));
	free(av);
	buf_free(&stats);
	buf_free(&errf);
	buf_free(&cache);
	return rc;
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, int n, double *tmp)
{
	memcpy(tmp, v, (size_t)n * sizeof *v);
	qsort(tmp, (size_t)n, sizeof *tmp, cmp_dbl);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#define BOOT 2000

/* median(a) / median(b) and its 95% percentile-bootstrap interval: both
 * samples resampled with replacement BOOT times. The seed is fixed, so the
 * same runs give the same interval. */
double bench_ratio_ci(const double *a, int na, const double *b, int nb, double *lo, double *hi)
{
	int m = na > nb ? na : nb;
	double *ra = malloc((size_t)m * sizeof *ra), *tmp = malloc((size_t)m * sizeof *tmp);
	double *boot = malloc(BOOT * sizeof *boot);
	double mb = 0, r = 0;
	if (!ra || !tmp || !boot || !na || !nb) {
		*lo = *hi = NAN;
		goto out;
	}
	mb = median(b, nb, tmp);
	r = mb > 0 ? median(a, na, tmp) / mb : NAN;
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	for (int k = 0; k < BOOT; k++) {
		for (int i = 0; i < na; i++)
			ra[i] = a[rng_next(&seed) % (uint64_t)na];
		double x = median(ra, na, tmp);
		for (int i = 0; i < nb; i++)
			ra[i] = b[rng_next(&seed) % (uint64_t)nb];
		double y = median(ra, nb, tmp);
		boot[k] = y > 0 ? x / y : NAN;
	}
	qsort(boot, BOOT, sizeof *boot, cmp_dbl);
	*lo = boot[(int)(0.025 * BOOT)];
	*hi = boot[(int)(0.975 * BOOT) - 1];
out:
	free(ra);
	free(tmp);
	free(boot);
	return r;
}

/* Two-sided p-value of the Mann-Whitney U test that a and b come from the
 * same distribution: exact (no ties assumed) when both samples are small,
 * else the normal approximation. Rank-based, so one wild run cannot make a
 * difference, and honest about few runs: 3 against 3 can never reach 0.05. */
double bench_mann_whitney_p(const double *a, int na, const double *b, int nb)
{
	double u = 0;
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			u += a[i] > b[j] ? 1 : a[i] == b[j] ? 0.5 : 0;
	double mean = (double)na * nb / 2, lo = u < mean ? u : (double)na * nb - u;
	if (na <= 20 && nb <= 20) {
		/* F(m, k): orderings of m a's and n b's whose U (pairs with the
		 * a above the b) is k, as doubles */
		int umax = na * nb;
		double *f = calloc((size_t)(na + 1) * (size_t)(umax + 1), sizeof *f);
		if (!f)
			return 1;
#define F(m, k) f[(size_t)(m) * (size_t)(umax + 1) + (size_t)(k)]
		for (int m = 0; m <= na; m++)
			F(m, 0) = 1; /* with 0 b's */
		/* N(m, n, k) = N(m-1, n, k-n) + N(m, n-1, k): the largest item is
		 * an a (above all n b's) or a b; in place, m rising, n one at a time */
		for (int n = 1; n <= nb; n++)
			for (int m = 1; m <= na; m++)
				for (int k = 0; k <= m * n; k++)
					F(m, k) = (k >= n ? F(m - 1, k - n) : 0) + F(m, k);
		double total = 0, tail = 0;
		for (int k = 0; k <= umax; k++) {
			total += F(na, k);
			if (k <= lo + 1e-9)
				tail += F(na, k);
		}
#undef F
		free(f);
		double p = 2 * tail / total;
		return p > 1 ? 1 : p;
	}
	double sd = sqrt((double)na * nb * (na + nb + 1) / 12.0);
	double z = (mean - lo - 0.5) / sd;
	return z <= 0 ? 1 : erfc(z / sqrt(2));
}

/* The smallest p n runs against n can give (complete separation). */
static double mann_whitney_min_p(int n)
{
	double c = 1; /* C(2n, n) */
	for (int i = 1; i <= n; i++)
		c = c * (n + i) / i;
	return 2 / c;
}

/* helps / hurts: the wall times differ (Mann-Whitney p below alpha) and the
 * medians by more than the noise floor; else within noise. */
static const char *verdict_of(const struct variant *v, double alpha, double noise)
{
	if (v->p < alpha && v->ratio < 1 - noise)
		return "helps";
	if (v->p < alpha && v->ratio > 1 + noise)
		return "hurts";
	return "within noise";
}

static void summarize(struct bench *b)
{
	double *tmp = malloc((size_t)b->repeat * sizeof *tmp);
	if (!tmp)
		return;
	for (int i = 0; i < b->nvar; i++) {
		struct variant *v = &b->var[i];
		for (int k = 0; k < NMETRIC; k++) {
			v->med[k] = median(v->v[k], v->n, tmp);
			v->min[k] = tmp[0];
			v->max[k] = tmp[v->n - 1];
		}
		if (i == 0) {
			v->ratio = v->ci_lo = v->ci_hi = 1;
			v->verdict = "";
			continue;
		}
		v->ratio = bench_ratio_ci(v->v[M_WALL], v->n, b->var[0].v[M_WALL], b->var[0].n, &v->ci_lo,
				    &v->ci_hi);
		v->p = bench_mann_whitney_p(v->v[M_WALL], v->n, b->var[0].v[M_WALL], b->var[0].n);
		v->verdict = verdict_of(v, b->alpha, b->noise);
	}
	free(tmp);
}

/* ---- the report --------------------------------------------------------- */

static json_t *stat_obj(const double *x)
{
	json_t *o = json_object();
	for (int k = 0; k < NMETRIC; k++)
		json_object_set_new(o, metric[k].key, json_real(x[k]));
	return o;
}

static json_t *recommended(const struct bench *b)
{
	json_t *plugins = json_object();
	for (int i = 1; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		if (v->configured || v->cold_of || !v->on || !v->on[0] || v->on[1])
			continue; /* a cache is judged warm */
		json_object_set_new(plugins, v->on[0],
				    json_pack("{s:b}", "enabled", !strcmp(v->verdict, "helps")));
	}
	return json_pack("{s:o}", "plugins", plugins);
}

static json_t *variant_json(const struct bench *b, int i)
{
	const struct variant *v = &b->var[i];
	json_t *on = json_array(), *runs = json_array();
	for (char **p = v->on; p && *p; p++)
		json_array_append_new(on, json_string(*p));
	for (int r = 0; r < v->n; r++) {
		double x[NMETRIC];
		for (int k = 0; k < NMETRIC; k++)
			x[k] = v->v[k][r];
		json_array_append_new(runs, stat_obj(x));
	}
	json_t *o = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o, s:o}", "name", v->name, "plugins", on,
			      "configured", v->configured, "median", stat_obj(v->med), "min",
			      stat_obj(v->min), "max", stat_obj(v->max), "runs", runs);
	if (i) {
		json_object_set_new(o, "wall_ratio", json_real(v->ratio));
		json_object_set_new(o, "wall_ratio_ci95", json_pack("[f,f]", v->ci_lo, v->ci_hi));
		json_object_set_new(o, "p_value", json_real(v->p));
		json_object_set_new(o, "verdict", json_string(v->verdict));
	}
	if (v->stateful && !v->cold_of)
		json_object_set_new(o, "warm", json_true());
	if (v->cold) {
		/* the cold runs, as extra fields of the (warm) variant */
		json_t *c = variant_json(b, v->cold);
		json_object_del(c, "name");
		json_object_del(c, "plugins");
		json_object_del(c, "configured");
		json_object_set_new(o, "cold", c);
	}
	return o;
}

static json_t *report_json(const struct bench *b)
{
	json_t *vars = json_array();
	for (int i = 0; i < b->nvar; i++)
		if (!b->var[i].cold_of)
			json_array_append_new(vars, variant_json(b, i));
	return json_pack("{s:i, s:s, s:s?, s:s?, s:I, s:i, s:i, s:f, s:f, s:{s:i, s:s, s:s}, s:o, s:o}",
			 "gearbox_bench", 1, "workload", b->workload, "config", b->config, "profile",
			 b->profile, "tasks", (json_int_t)b->tasks, "repeat", b->repeat, "warmup",
			 b->warmup, "noise", b->noise, "alpha", b->alpha, "machine", "cores", b->cores, "system", b->host,
			 "date", b->when, "variants", vars, "recommended", recommended(b));
}

static void fmt_val(char *s, size_t n, int k, double x)
{
	if (k == M_RSS || k == M_OK)
		snprintf(s, n, "%.1f", x);
	else if (k == M_TPUT)
		snprintf(s, n, x >= 100 ? "%.0f" : "%.2f", x);
	else
		snprintf(s, n, x >= 100 ? "%.1f" : x >= 1 ? "%.3f" : "%.4f", x);
}

static void report_table(const struct bench *b, FILE *f)
{
	fprintf(f, "gearbox bench %s: %lld tasks, %d variants x %d runs, interleaved (%d warm-up rounds)\n",
		b->workload, (long long)b->tasks, b->nvar, b->repeat, b->warmup);
	fprintf(f, "machine: %d cores, %s; %s\n\n", b->cores, b->host, b->when);
	fprintf(f, "%-14s %-24s %8s %8s %9s %9s %9s %7s  %-20s %s\n", "variant", "wall s (min-max)",
		"CPU s", "RSS MB", "tasks/s", "p50 ms", "p99 ms", "ok %", "wall vs baseline", "verdict");
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		char w[3][24], c[8][24], rat[48];
		fmt_val(w[0], sizeof w[0], M_WALL, v->med[M_WALL]);
		fmt_val(w[1], sizeof w[1], M_WALL, v->min[M_WALL]);
		fmt_val(w[2], sizeof w[2], M_WALL, v->max[M_WALL]);
		char wall[80];
		snprintf(wall, sizeof wall, "%s (%s-%s)", w[0], w[1], w[2]);
		for (int k = M_CPU; k < NMETRIC; k++)
			fmt_val(c[k], sizeof c[k], k, v->med[k]);
		char ver[48] = "";
		if (i) {
			snprintf(rat, sizeof rat, "%.2fx [%.2f, %.2f]", v->ratio, v->ci_lo, v->ci_hi);
			snprintf(ver, sizeof ver, "%s (p %.3f)", v->verdict, v->p);
		} else {
			snprintf(rat, sizeof rat, "1");
		}
		fprintf(f, "%-14s %-24s %8s %8s %9s %9s %9s %7s  %-20s %s\n", v->name, wall, c[M_CPU],
			c[M_RSS], c[M_TPUT], c[M_P50], c[M_P99], c[M_OK], rat, ver);
	}
	fprintf(f, "\nmedians of %d runs; [..] is the 95%% bootstrap interval of the ratio. helps or\n"
		   "hurts: the wall times differ (Mann-Whitney p < %g) by more than %.0f%%; else\n"
		   "within noise.%s\n", b->repeat, b->alpha, b->noise * 100,
		mann_whitney_min_p(b->repeat) >= b->alpha
		    ? " With this few runs no difference can reach that p: use more (--repeat)." : "");
	for (int i = 1; i < b->nvar; i++)
		if (b->var[i].cold) {
			fprintf(f, "A variant with the cache is measured warm (after one unmeasured run that fills\n"
				   "its cache) and judged on that; its (cold) row starts each run from an empty cache.\n");
			break;
		}
	int changed = 0;
	for (int i = 1; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		if (fabs(v->med[M_OK] - b->var[0].med[M_OK]) >= 0.05) {
			if (!changed++)
				fprintf(f, "\n");
			fprintf(f, "note: with %s, %.1f%% of tasks succeed (baseline %.1f%%): it changes results,\n"
				   "      not only speed (a breaker rejects calls; a cache replays old ones)\n",
				v->name, v->med[M_OK], b->var[0].med[M_OK]);
		}
	}
	json_t *rec = recommended(b);
	char *s = json_dumps(rec, JSON_PRESERVE_ORDER);
	fprintf(f, "\nrecommended config (each plugin judged alone, on wall time):\n%s\n", s ? s : "{}");
	free(s);
	json_decref(rec);
}

static void svg_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

/* One horizontal bar chart: a bar per variant at its median, an error bar
 * from min to max. */
static void svg_chart(const struct bench *b, FILE *f, int k)
{
	double top = 0;
	for (int i = 0; i < b->nvar; i++)
		top = b->var[i].max[k] > top ? b->var[i].max[k] : top;
	if (top <= 0)
		top = 1;
	const int lw = 130, cw = 420, bh = 22, h = b->nvar * bh + 30;
	fprintf(f, "<figure><figcaption>%s (%s): median, min to max</figcaption>\n", metric[k].label,
		metric[k].unit);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">\n",
		lw + cw + 90, h);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		double y = 6 + i * bh;
		double x0 = lw, xm = lw + cw * v->med[k] / top;
		double xa = lw + cw * v->min[k] / top, xb = lw + cw * v->max[k] / top;
		const char *col = !i ? "#888" : !strcmp(v->verdict, "helps") ? "#2a7"
					      : !strcmp(v->verdict, "hurts") ? "#c44" : "#58b";
		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"12\" text-anchor=\"end\">", lw - 6, y + 14);
		svg_text(f, v->name);
		fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x0,
			y + 2, xm - x0 > 0.5 ? xm - x0 : 0.5, bh - 6, col);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xa, xb,
			y + bh / 2.0 - 1, y + bh / 2.0 - 1);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xa, xa,
			y + 5, y + bh - 7);
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n", xb, xb,
			y + 5, y + bh - 7);
		char s[32];
		fmt_val(s, sizeof s, k, v->med[k]);
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\">%s</text>\n", xb + 4, y + 14, s);
	}
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"2\" y2=\"%d\" stroke=\"#444\"/>\n</svg></figure>\n", lw,
		lw, h - 24);
}

static void report_html(const struct bench *b, FILE *f)
{
	fputs("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>gearbox bench: ", f);
	svg_text(f, b->workload);
	fputs("</title>\n<style>body{font:14px sans-serif;margin:2em;max-width:960px}"
	      "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
	      "text-align:right}td:first-child,th:first-child{text-align:left}"
	      "figure{margin:1em 0}figcaption{font-weight:bold}.helps{color:#2a7}.hurts{color:#c44}"
	      "pre{background:#f4f4f4;padding:.5em}</style></head><body>\n<h1>gearbox bench: ",
	      f);
	svg_text(f, b->workload);
	fprintf(f, "</h1>\n<p>%lld tasks; %d variants &times; %d runs, interleaved; %d cores, ",
		(long long)b->tasks, b->nvar, b->repeat, b->cores);
	svg_text(f, b->host);
	fprintf(f, "; %s.</p>\n<table><tr><th>variant</th>", b->when);
	for (int k = 0; k < NMETRIC; k++)
		fprintf(f, "<th>%s (%s)</th>", metric[k].label, metric[k].unit);
	fputs("<th>wall vs baseline [95% CI]</th><th>verdict</th></tr>\n", f);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		fputs("<tr><td>", f);
		svg_text(f, v->name);
		fputs("</td>", f);
		for (int k = 0; k < NMETRIC; k++) {
			char s[32];
			fmt_val(s, sizeof s, k, v->med[k]);
			fprintf(f, "<td>%s</td>", s);
		}
		if (i)
			fprintf(f, "<td>%.2f [%.2f, %.2f]</td><td class=\"%s\">%s (p %.3f)</td></tr>\n",
				v->ratio, v->ci_lo, v->ci_hi, v->verdict[0] == 'h' ? v->verdict : "",
				v->verdict, v->p);
		else
			fputs("<td>1</td><td></td></tr>\n", f);
	}
	fputs("</table>\n", f);
	for (int k = 0; k < NMETRIC - 1; k++)
		svg_chart(b, f, k);
	json_t *rec = recommended(b);
	char *s = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputs("<h2>Recommended config</h2>\n<pre>", f);
	svg_text(f, s ? s : "{}");
	fputs("</pre>\n</body></html>\n", f);
	free(s);
	json_decref(rec);
}

/* Writes the report to path (atomically) or stdout. */
static int write_report(const struct bench *b, const char *path, const char *format)
{
	struct buf tmp = {0};
	FILE *f = stdout;
	if (path) {
		buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid());
		f = fopen(tmp.p, "we");
		if (!f) {
			fprintf(stderr, "gearbox bench: %s: %s\n", path, strerror(errno));
			buf_free(&tmp);
			return -1;
		}
	}
	if (!strcmp(format, "json")) {
		json_t *j = report_json(b);
		json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', f);
		json_decref(j);
	} else if (!strcmp(format, "html")) {
		report_html(b, f);
	} else {
		report_table(b, f);
	}
	int rc = 0;
	if (path) {
		if (ferror(f) | fclose(f) || rename(tmp.p, path)) {
			fprintf(stderr, "gearbox bench: %s: %s\n", path, strerror(errno));
			unlink(tmp.p);
			rc = -1;
		}
	} else {
		fflush(f);
	}
	buf_free(&tmp);
	return rc;
}

/* ---- --against ---------------------------------------------------------- */

/* Compares wall, CPU and peak RSS of each variant with the same variant in a
 * saved report. Returns the number of regressions, or -1 on bad input. */
static int against(const struct bench *b, const char *path, FILE *f)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	if (!doc) {
		if (je.line > 0)
			fprintf(stderr, "gearbox bench: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
		else
			fprintf(stderr, "gearbox bench: %s: %s\n", path, je.text);
		return -1;
	}
	json_t *vars = json_object_get(doc, "variants");
	if (!json_is_integer(json_object_get(doc, "gearbox_bench")) || !json_is_array(vars)) {
		fprintf(stderr, "gearbox bench: %s: not a file written by gearbox bench --save\n", path);
		json_decref(doc);
		return -1;
	}
	static const int keys[] = {M_WALL, M_CPU, M_RSS};
	int regressions = 0, compared = 0;
	fprintf(f, "\nagainst %s (a regression: over %.0f%% worse, Mann-Whitney p < %g):\n", path,
		b->threshold * 100, b->alpha);
	for (int i = 0; i < b->nvar; i++) {
		const struct variant *v = &b->var[i];
		json_t *old = NULL, *x;
		size_t j;
		/* a cold variant is saved as the "cold" field of its warm one */
		const char *want = v->cold_of ? b->var[v->cold_of].name : v->name;
		json_array_foreach(vars, j, x) {
			const char *nm = json_string_value(json_object_get(x, "name"));
			if (nm && !strcmp(nm, want))
				old = v->cold_of ? json_object_get(x, "cold") : x;
		}
		json_t *runs = json_object_get(old, "runs");
		int no = json_is_array(runs) ? (int)json_array_size(runs) : 0;
		if (!no) {
			fprintf(f, "  %-14s not in the saved results\n", v->name);
			continue;
		}
		double *ov = malloc((size_t)no * sizeof *ov);
		if (!ov)
			break;
		compared++;
		for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++) {
			int k = keys[q];
			int bad_run = 0;
			for (int r = 0; r < no; r++) {
				json_t *val = json_object_get(json_array_get(runs, (size_t)r), metric[k].key);
				bad_run |= !json_is_number(val);
				ov[r] = json_number_value(val);
			}
			if (bad_run) {
				fprintf(stderr, "gearbox bench: %s: variant %s: runs without %s\n", path,
					v->name, metric[k].key);
				free(ov);
				json_decref(doc);
				return -1;
			}
			double lo, hi, r = bench_ratio_ci(v->v[k], v->n, ov, no, &lo, &hi);
			double p = bench_mann_whitney_p(v->v[k], v->n, ov, no);
			int reg = r > 1 + b->threshold && p < b->alpha;
			regressions += reg;
			fprintf(f, "  %-14s %-10s %.2fx [%.2f, %.2f] p %.3f%s\n", q ? "" : v->name,
				metric[k].label, r, lo, hi, p, reg ? "  REGRESSION" : "");
		}
		free(ov);
	}
	json_decref(doc);
	if (!compared)
		fprintf(f, "  no variant in common: nothing compared\n");
	fprintf(f, "%d regression%s\n", regressions, regressions == 1 ? "" : "s");
	return regressions;
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
	if (!is_on(&b->var[w], "cache"))
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
	if (outputs_save(b, wl, err))
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
		rm_tree(b->tmp);
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
				return bad("--repeat %s: expected a whole number from 1 to 1000", optarg);
			b->repeat = (int)x;
			break;
		case B_WARMUP:
			if (parse_num(optarg, 0, 100, &x) || x != (int)x)
				return bad("--warmup %s: expected a whole number from 0 to 100", optarg);
			b->warmup = (int)x;
			break;
		case B_WARM: b->warm = 1; break;
		case B_AA: b->aa = 1; break;
		case B_NOISE:
			if (parse_num(optarg, 0, 100, &x))
				return bad("--noise %s: expected a percentage from 0 to 100", optarg);
			b->noise = x / 100;
			break;
		case B_ALPHA:
			if (parse_num(optarg, 0.0001, 0.5, &x))
				return bad("--alpha %s: expected a probability from 0.0001 to 0.5", optarg);
			b->alpha = x;
			break;
		case 'j': {
			if (parse_num(optarg, 1, 4096, &x) || x != (int)x)
				return bad("-j %s: expected a number from 1 to 4096", optarg);
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
				return bad("--threshold %s: expected a percentage", optarg);
			b->threshold = x / 100;
			break;
		case B_FORMAT:
			if (strcmp(optarg, "table") && strcmp(optarg, "json") && strcmp(optarg, "html"))
				return bad("--format %s: expected table, json or html", optarg);
			b->format = optarg;
			break;
		case 'o': b->out = optarg; break;
		case 'q': b->quiet = 1; break;
		case B_HELP: fputs(bench_usage, stdout); return 0;
		case ':': return bad("%s needs an argument", argv[optind - 1]);
		default: return bad("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return bad("%s", "no workload given");
	b->workload = argv[optind++];
	if (optind < argc)
		return bad("unexpected argument %s", argv[optind]);

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
	for (int round = nfill ? -1 : 0; round < b->warmup + b->repeat && !interrupted; round++) {
		int measured = round >= b->warmup;
		for (int j = 0; j < b->nvar && !interrupted; j++) {
			struct variant *v = &b->var[round < 0 ? j : (round + j) % b->nvar];
			if (round < 0 && (!v->stateful || v->cold_of))
				continue;
			const char *what = round < 0 ? " (filling its cache)" : measured ? "" : " (warm-up)";
			struct run r;
			memset(&r, 0, sizeof r);
			done++;
			if (!b->quiet && tty)
				fprintf(stderr, "\r\033[Kbench: run %d/%d: %s%s", done, total, v->name, what);
			int e = run_once(b, v, done, &r);
			if (outputs_restore(b))
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
	if (interrupted) {
		rc = 130;
		goto restore;
	}
	summarize(b);
	rc = 0;
	if (write_report(b, b->out, b->format))
		rc = 2;
	if (b->save && write_report(b, b->save, "json"))
		rc = 2;
	if (b->against && !rc) {
		/* with a table on stdout the comparison follows it; else on stderr */
		FILE *f = !b->out && !strcmp(b->format, "table") ? stdout : stderr;
		int reg = against(b, b->against, f);
		rc = reg < 0 ? 2 : reg > 0 ? 1 : 0;
	}
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (rc == 130)
		fprintf(stderr, "gearbox bench: interrupted; outputs restored, nothing saved\n");
out:
	cleanup(b);
	return rc;
}
