/* bench_run.c - running one variant once for `gearbox bench`: the `gearbox run`
 * child with its --enable/--disable, measured by wait4 and its --stats file;
 * and the workload's declared outputs saved before the runs and restored
 * after, so every run starts from the same files. */
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

extern char **environ;

/* ---- files: removing and copying trees, for the workload's outputs -------- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p) && errno != ENOENT ? -1 : 0;
}

int bench_rm_tree(const char *path)
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
int bench_outputs_save(struct bench *b, const struct workload *wl, struct err *err)
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
int bench_outputs_restore(struct bench *b)
{
	int rc = 0;
	for (size_t i = 0; i < b->nout; i++) {
		if (bench_rm_tree(b->outputs[i])) {
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

int bench_is_on(const struct variant *v, const char *name)
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

int bench_run_once(struct bench *b, const struct variant *v, int seq, struct run *r)
{
	char **av = NULL;
	int n = 0, rc = -1;
	struct buf stats = {0}, errf = {0}, cache = {0}, ns = {0};
	buf_addf(&stats, "%s/stats.json", b->tmp);
	buf_addf(&errf, "%s/stderr", b->tmp);
	int keep = v->stateful && !v->cold_of; /* the warm runs share their cache */
	if (keep)
		buf_addf(&cache, "plugins.cache.dir=%s/warm.%d", b->tmp, (int)(v - b->var));
	else
		buf_addf(&cache, "plugins.cache.dir=%s/cache.%d", b->tmp, seq);
	/* ... and so do the remote's keys, if it has one: a namespace of this
	 * bench's own (named after its scratch folder) per warm variant, and a
	 * new one per cold run, so that cold is cold at every level */
	const char *tag = strrchr(b->tmp, '.') ? strrchr(b->tmp, '.') + 1 : "x";
	buf_addf(&ns, "plugins.cache.remote_namespace=bench-%s-%s%d", tag, keep ? "w" : "c",
	         keep ? (int)(v - b->var) : seq);
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
	/* no history: the runs would change each other's estimates (and the
	 * store would grow beside the workload); docs/resources.md */
	ARG("--set");
	ARG("history=false");
	ARG("--stats");
	ARG(stats.p);
	if (b->cache_known) {
		ARG("--set");
		ARG(cache.p);
		ARG("--set");
		ARG(ns.p);
	}
	for (int i = 0; !v->configured && i < b->nplugins; i++) {
		ARG(bench_is_on(v, b->plugins[i]) ? "--enable" : "--disable");
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
	bench_child = pid;
	if (bench_interrupted) /* a signal between spawn and the line above */
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
	bench_child = 0;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (r->status != 0 && r->status != 1) {
		if (r->status == 130 || bench_interrupted) {
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
		bench_rm_tree(cache.p + strlen("plugins.cache.dir="));
	free(av);
	buf_free(&stats);
	buf_free(&errf);
	buf_free(&cache);
	buf_free(&ns);
	return rc;
}

