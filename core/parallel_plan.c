/* parallel_plan.c - what `gearbox parallel` runs, before it runs: the -j
 * value (N, +N, -N, N%, 0, a file), --joblog's --resume, --resume-failed
 * and --retry-failed in GNU parallel's sequence-number semantics, and the
 * jobs turned into engine tasks (plain words run without a shell when that
 * is what the shell would do).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "parallel.h"
#include "runner.h"
#include "workload.h"

/* ---- jobs to tasks -------------------------------------------------------- */

/* Whether the command is plain words naming a program on PATH, so that
 * running it without a shell does what the shell would do. */
static int plain_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == ',' || c == ':' ||
	       c == '@' || c == '%' || c == '=';
}

static const char *const builtins[] = {
	"exit", "cd", "set", "export", "exec", "eval", "read", "ulimit", "umask", "wait",
	"trap", "shift", "return", "break", "continue", "unset", "readonly", "local",
	"alias", "unalias", "type", "command", "hash", "getopts", "jobs", "fg", "bg",
	"times", "source", "builtin", "declare", "typeset", "let", "shopt", "enable",
	"history", "pushd", "popd", "dirs", "disown", "suspend", "logout", "mapfile",
	"readarray", "caller", "complete", "compgen", "coproc", "select", "function",
	"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
	"esac", "time", "echo", "printf", "test", "kill", "pwd", NULL,
};

struct pathcache {
	char *name;
	int found;
};

static int on_path(const char *w, size_t n, struct pathcache *pc)
{
	if (pc->name && strlen(pc->name) == n && !strncmp(pc->name, w, n))
		return pc->found;
	free(pc->name);
	pc->name = strndup(w, n);
	pc->found = 0;
	if (!pc->name)
		return 0;
	for (int i = 0; builtins[i]; i++)
		if (!strcmp(builtins[i], pc->name))
			return 0;
	if (memchr(w, '/', n))
		return pc->found = access(pc->name, X_OK) == 0;
	if (memchr(w, '=', n))
		return 0;
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	struct buf b = {0};
	for (const char *p = path;;) {
		const char *c = strchr(p, ':');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		b.len = 0;
		if (l)
			buf_add(&b, p, l);
		else
			buf_add(&b, ".", 1);
		buf_add(&b, "/", 1);
		buf_add(&b, w, n);
		struct stat st;
		if (stat(b.p, &st) == 0 && S_ISREG(st.st_mode) && access(b.p, X_OK) == 0) {
			pc->found = 1;
			break;
		}
		if (!c)
			break;
		p = c + 1;
	}
	buf_free(&b);
	return pc->found;
}

/* The command's words when it can run without a shell, else NULL. */
static char **plain_argv(const char *cmd, struct pathcache *pc, struct arena *ar)
{
	size_t words = 0;
	const char *s = cmd;
	if (!*s)
		return NULL;
	for (const char *p = s; *p; p++) {
		if (*p == ' ') {
			if (p == s || p[1] == ' ' || !p[1])
				return NULL;
			continue;
		}
		if (!plain_word_char((unsigned char)*p))
			return NULL;
	}
	if (s[0] == ' ')
		return NULL;
	const char *sp = strchr(s, ' ');
	size_t fl = sp ? (size_t)(sp - s) : strlen(s);
	if (!on_path(s, fl, pc))
		return NULL;
	for (const char *p = s; *p; p++)
		words += *p == ' ';
	words++;
	char **v = arena_alloc(ar, (words + 1) * sizeof *v);
	size_t k = 0;
	for (const char *p = s;;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		v[k++] = arena_strndup(ar, p, l);
		if (!e)
			break;
		p = e + 1;
	}
	v[k] = NULL;
	return v;
}

struct workload *par_workload(struct par_opts *o, struct par_job *jobs, size_t n,
				       struct err *err)
{
	struct workload *wl = calloc(1, sizeof *wl);
	if (wl)
		wl->tasks = calloc(n ? n : 1, sizeof *wl->tasks);
	if (!wl || !wl->tasks) {
		free(wl);
		err_set(err, "out of memory");
		return NULL;
	}
	arena_init(&wl->arena);
	wl->path = arena_strdup(&wl->arena, "<command line>");
	wl->name = wl->path;
	struct pathcache pc = {0};
	int64_t tmo = o->timeout_s > 0 ? (int64_t)ceil(o->timeout_s * 1000.0) : 0;
	for (size_t i = 0; i < n; i++) {
		struct spec *sp = arena_alloc(&wl->arena, sizeof *sp);
		sp->cache = -1;
		sp->deadline_ms = -1;
		sp->est_ms = -1;
		sp->kind = KIND_EXEC;
		sp->timeout_ms = tmo;
		sp->retries = o->retries > 1 ? o->retries - 1 : 0;
		char **argv = par_has_slot(jobs[i].cmd) ? NULL : plain_argv(jobs[i].cmd, &pc, &wl->arena);
		if (!argv) {
			argv = arena_alloc(&wl->arena, 4 * sizeof *argv);
			argv[0] = (char *)o->shell;
			argv[1] = "-c";
			argv[2] = jobs[i].cmd;
		}
		sp->argv = argv;
		char id[24];
		snprintf(id, sizeof id, "%llu", (unsigned long long)jobs[i].seq);
		struct task *t = &wl->tasks[wl->ntasks++];
		t->id = arena_strdup(&wl->arena, id);
		t->spec = sp;
		t->timeout_ms = tmo;
	}
	free(pc.name);
	if (dag_build(wl, err)) {
		workload_free(wl);
		return NULL;
	}
	return wl;
}

/* ---- --joblog with --resume, --resume-failed, --retry-failed --------------- */

struct logent {
	uint64_t seq;
	int failed;
	char *cmd;
};

/* Reads an existing joblog: seq, whether it failed, the command. */
static struct logent *read_joblog(const char *path, size_t *n, int *exists)
{
	*n = 0;
	*exists = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	*exists = 1;
	struct logent *v = NULL;
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		char *field[9];
		char *p = line;
		int k = 0;
		for (; k < 8; k++) {
			field[k] = p;
			char *tab = strchr(p, '\t');
			if (!tab)
				break;
			*tab = 0;
			p = tab + 1;
		}
		if (k < 8)
			continue;
		field[8] = p;
		char *end;
		unsigned long long seq = strtoull(field[0], &end, 10);
		if (*end || end == field[0])
			continue; /* the header */
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			struct logent *nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		v[*n].seq = seq;
		v[*n].failed = atoi(field[6]) != 0 || atoi(field[7]) != 0;
		v[*n].cmd = strdup(field[8]);
		(*n)++;
	}
	free(line);
	fclose(f);
	return v;
}

static int cmp_logent(const void *a, const void *b)
{
	const struct logent *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Applies --resume* to the jobs: keeps those to run (in place). */
int par_resume(struct par_opts *o, struct par_job **jobs, size_t *n, int *append)
{
	size_t nl = 0;
	int exists = 0;
	*append = 0;
	if (!o->joblog || !(o->resume || o->resume_failed || o->retry_failed))
		return 0;
	struct logent *log = read_joblog(o->joblog, &nl, &exists);
	*append = exists;
	/* the last entry of a seq counts (a resumed run appends) */
	if (nl)
		qsort(log, nl, sizeof *log, cmp_logent);
	size_t w = 0;
	if (o->retry_failed) {
		/* the joblog's failed commands, as the jobs; the input is not read */
		par_jobs_free(*jobs, *n);
		*jobs = NULL;
		*n = 0;
		struct par_job *nj = calloc(nl ? nl : 1, sizeof *nj);
		if (!nj)
			return -1;
		for (size_t i = 0; i < nl; i++) {
			int last = i + 1 == nl || log[i + 1].seq != log[i].seq;
			if (last && log[i].failed) {
				nj[w].seq = log[i].seq;
				nj[w].cmd = log[i].cmd;
				log[i].cmd = NULL;
				w++;
			}
		}
		*jobs = nj;
		*n = w;
	} else {
		struct par_job *v = *jobs;
		size_t li = 0;
		for (size_t i = 0; i < *n; i++) {
			while (li < nl && log[li].seq < v[i].seq)
				li++;
			int found = 0, failed = 0;
			while (li < nl && log[li].seq == v[i].seq) {
				found = 1;
				failed = log[li].failed;
				li++;
			}
			int keep = !found || (o->resume_failed && failed);
			if (keep)
				v[w++] = v[i];
			else
				free(v[i].cmd);
		}
		*n = w;
	}
	for (size_t i = 0; i < nl; i++)
		free(log[i].cmd);
	free(log);
	return 0;
}

/* ---- -j ------------------------------------------------------------------ */

int par_jobs_of(const char *s, int *out)
{
	int cores = ncores();
	char buf[64];
	if (!s) {
		*out = cores;
		return 0;
	}
	struct stat st;
	if (stat(s, &st) == 0 && S_ISREG(st.st_mode)) { /* -j FILE: read once */
		FILE *f = fopen(s, "re");
		if (!f || !fgets(buf, sizeof buf, f)) {
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		buf[strcspn(buf, "\n")] = 0;
		s = buf;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	long n;
	if (*end == '%' && !end[1])
		n = (long)floor(cores * v / 100.0);
	else if (*end)
		return -1;
	else if (s[0] == '+' || s[0] == '-')
		n = cores + (long)v;
	else if (v == 0)
		n = 4096; /* as many as can run */
	else
		n = (long)v;
	if (n < 1)
		n = 1;
	if (n > 4096)
		n = 4096;
	*out = (int)n;
	return 0;
}


/* ---- -S/--sshlogin onto ssh nodes ----------------------------------------- */

/* One sshlogin: [N/]HOST, [N/]USER@HOST or [N/]: (this machine). */
static int add_login(struct buf *spec, const char *s, size_t n, const char *given)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n)
		return 0; /* "a,,b": GNU skips empty ones too */
	const char *h = s;
	size_t hn = n;
	const char *slash = memchr(s, '/', n);
	if (slash) {
		size_t k = (size_t)(slash - s);
		int digits = k > 0 && k < 6;
		for (size_t i = 0; digits && i < k; i++)
			digits = s[i] >= '0' && s[i] <= '9';
		if (!digits || atoi(s) < 1) {
			fprintf(stderr, "gearbox parallel: -S %s: \"%.*s\": expected N/HOST with N a "
				"number of job slots\n", given, (int)n, s);
			return PAR_EXIT_ERROR;
		}
		h = slash + 1;
		hn = n - k - 1;
	}
	if (hn == 1 && *h == ':') {
		/* this machine: a local agent (nodespec's ":") */
	} else if (!hn || memchr(h, ' ', hn) || memchr(h, '\t', hn)) {
		fprintf(stderr, "gearbox parallel: -S %s: \"%.*s\": an sshlogin with its own ssh "
			"command is not supported (give the command with --ssh, or options in "
			"~/.ssh/config)\n", given, (int)n, s);
		return PAR_EXIT_ERROR;
	} else if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@") < hn) {
		fprintf(stderr, "gearbox parallel: -S %s: \"%.*s\" is not a host name\n", given,
			(int)hn, h);
		return PAR_EXIT_ERROR;
	}
	buf_adds(spec, spec->len > 4 ? "," : "");
	buf_add(spec, s, n);
	return 0;
}

int par_nodes_spec(const struct par_opts *o, struct buf *spec, json_t **cfg)
{
	*cfg = NULL;
	buf_adds(spec, "ssh:");
	for (int i = 0; i < o->nsshlogin; i++) {
		const char *v = o->sshlogin[i];
		if (!strcmp(v, "..") || !strcmp(v, ".")) {
			fprintf(stderr, "gearbox parallel: -S %s: give the file with --sshloginfile ..\n", v);
			return PAR_EXIT_ERROR;
		}
		for (const char *p = v;;) {
			const char *c = strchr(p, ',');
			size_t n = c ? (size_t)(c - p) : strlen(p);
			if (add_login(spec, p, n, v))
				return PAR_EXIT_ERROR;
			if (!c)
				break;
			p = c + 1;
		}
	}
	if (spec->len == 4) {
		fprintf(stderr, "gearbox parallel: -S: no sshlogin given\n");
		return PAR_EXIT_ERROR;
	}
	const char *cmd = o->ssh_cmd ? o->ssh_cmd : getenv("PARALLEL_SSH");
	if (!cmd || !*cmd)
		return 0; /* the built-in launcher: ssh -o BatchMode=yes -T HOST gearbox agent */
	/* --ssh CMD (or $PARALLEL_SSH): its words, then -T HOST gearbox agent */
	json_t *argv = json_array();
	char *dup = strdup(cmd);
	for (char *w = dup ? strtok(dup, " \t") : NULL; w; w = strtok(NULL, " \t"))
		json_array_append_new(argv, json_string(w));
	free(dup);
	if (!json_array_size(argv)) {
		json_decref(argv);
		return 0;
	}
	json_array_append_new(argv, json_string("-T"));
	json_array_append_new(argv, json_string("{node}"));
	json_array_append_new(argv, json_string("{gearbox}"));
	json_array_append_new(argv, json_string("agent"));
	*cfg = json_pack("{s:{s:o}}", "launchers", "ssh", argv);
	return 0;
}
