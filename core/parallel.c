/* parallel.c - `gearbox parallel`: GNU parallel's jobs run by the engine.
 *
 * Each job becomes an exec task ([$SHELL, -c, command], or the command's
 * words themselves when it is plain words naming a program, which is what
 * the shell would run anyway). This file is the engine's task sink (sink.h):
 *
 *  - start: waits for --delay, --load and --memfree, puts the slot into {%},
 *    sets the --timeout N% from the median runtime so far, opens --results
 *    files;
 *  - chunk: output as it is read: spooled per slot (spool.h: memory, then an
 *    unlinked temporary file past SPOOL_MEM, so a task's output is never held
 *    whole in memory), written line by line (--line-buffer), or to --results
 *    files;
 *  - done: shows the job's output (grouped; in input order with -k; tagged),
 *    writes the joblog line, counts failures and decides --halt.
 *
 * Exit status as GNU parallel's: the number of failed jobs, at most 101;
 * with --halt, what GNU's halt gives; 255 for bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "nodes.h"
#include "parallel.h"
#include "runner.h"
#include "sink.h"
#include "workload.h"

/* ---- the sink ------------------------------------------------------------- */

struct held {          /* -k: a finished job's output waiting for its turn */
	struct spool out, err;
	char *tag;
};

struct slot {
	struct spool out, err;
	struct buf lo, le;     /* --line-buffer: the partial last line */
	int lmid[2];           /* --line-buffer: a line was begun on stdout, stderr */
	int rfd[2];            /* --results: stdout and stderr files, or -1 */
	struct buf cmd;        /* the command with {%} put in */
	char *argv[4];
	uint64_t recv;
	int64_t start_wall_ms;
};

struct par {
	struct par_opts *o;
	struct par_job *jobs;        /* by task index */
	size_t njobs;
	struct workload *wl;
	int direct_any;
	char ***direct;              /* per task: the argv when run without a shell */
	struct slot *slots;
	int nslots;
	pthread_mutex_t mu;          /* everything below, and the output */
	FILE *joblog;
	uint64_t ok, failed, done, started;
	int halted;                  /* 1 soon, 2 now */
	int halt_status;             /* -1 until a halt sets it */
	/* -k */
	struct held **held;
	uint8_t *finished;
	size_t next;
	/* --delay */
	int64_t next_start_ns;
	/* --timeout N% */
	double *runtimes;
	size_t nrt, rtcap;
	int64_t t0_ns;
	int progress_on;
	struct nodes *ns;            /* -S: the nodes, for the joblog's Host */
};

static struct par *P; /* the one run of this process (signal-free: read by the sink only) */

static size_t task_index(const struct task *t)
{
	return (size_t)(t - P->wl->tasks);
}

static struct slot *slot_of(const struct task *t)
{
	int s = t->slot;
	if (s < 0 || s >= P->nslots)
		s = 0;
	return &P->slots[s];
}

/* The tag of a job: --tagstring expanded (values unquoted), or its arguments
 * joined by spaces; NULL without --tag. */
static char *make_tag(const struct par_job *j)
{
	struct par_opts *o = P->o;
	if (!o->tag && !o->tagstring)
		return NULL;
	struct buf b = {0};
	if (o->tagstring) {
		const char *s = o->tagstring;
		while (*s) {
			if (s[0] == '{') {
				const char *q = s + 1;
				long n = 0;
				while (*q >= '0' && *q <= '9')
					n = n * 10 + (*q++ - '0');
				if (*q == '}' && (q > s + 1 ? n > 0 : 1)) {
					if (q == s + 1) {
						for (uint32_t k = 0; k < j->nargs; k++) {
							if (k)
								buf_add(&b, " ", 1);
							buf_adds(&b, j->args[k]);
						}
					} else if ((uint32_t)n <= j->nargs) {
						buf_adds(&b, j->args[n - 1]);
					}
					s = q + 1;
					continue;
				}
				if (s[1] == '#' && s[2] == '}') {
					buf_addf(&b, "%llu", (unsigned long long)j->seq);
					s += 3;
					continue;
				}
			}
			buf_add(&b, s++, 1);
		}
	} else {
		for (uint32_t k = 0; k < j->nargs; k++) {
			if (k)
				buf_add(&b, " ", 1);
			buf_adds(&b, j->args[k]);
		}
	}
	buf_add(&b, "\t", 1);
	return b.p;
}

static void progress_line(void)
{
	struct par_opts *o = P->o;
	if (!o->bar && !o->eta && !o->progress)
		return;
	size_t total = P->njobs;
	double el = (double)(now_ns() - P->t0_ns) / 1e9;
	double pct = total ? 100.0 * (double)P->done / (double)total : 100;
	double eta = P->done ? el / (double)P->done * (double)(total - P->done) : 0;
	char line[256];
	int n;
	if (o->bar)
		n = snprintf(line, sizeof line, "\r%3.0f%% %llu:%llu=%.0fs %s", pct,
			     (unsigned long long)P->done, (unsigned long long)(total - P->done), eta,
			     P->done ? P->jobs[0].cmd : "");
	else
		n = snprintf(line, sizeof line, "\rETA: %.0fs Left: %llu AVG: %.2fs  local:%llu/%llu/%.0f%%",
			     eta, (unsigned long long)(total - P->done),
			     P->done ? el / (double)P->done : 0, (unsigned long long)(P->started - P->done),
			     (unsigned long long)P->done, pct);
	if (n > 0)
		par_write_all(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	P->progress_on = 1;
}

static int load_too_high(void)
{
	double la[1];
	if (getloadavg(la, 1) < 1)
		return 0;
	double max = P->o->load_max;
	if (max < 0)
		max = -max / 100.0 * ncores();
	return la[0] >= max;
}

static int64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return INT64_MAX;
	char line[256];
	long long kb = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? INT64_MAX : (int64_t)kb * 1024;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* --results DIR/1/VALUE/2/VALUE/: GNU's layout, with / in a value as \_ */
static void results_open(struct slot *sl, const struct par_job *j)
{
	struct buf p = {0};
	buf_adds(&p, P->o->results);
	for (uint32_t k = 0; k < j->nargs; k++) {
		mkdir(p.p, 0755);
		buf_addf(&p, "/%u", k + 1);
		mkdir(p.p, 0755);
		buf_add(&p, "/", 1);
		for (const char *s = j->args[k]; *s; s++) {
			if (*s == '/')
				buf_adds(&p, "\\_");
			else
				buf_add(&p, s, 1);
		}
	}
	mkdir(p.p, 0755);
	size_t base = p.len;
	static const char *const names[] = {"/stdout", "/stderr"};
	for (int i = 0; i < 2; i++) {
		p.len = base;
		buf_adds(&p, names[i]);
		sl->rfd[i] = open(p.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (sl->rfd[i] < 0)
			fprintf(stderr, "gearbox parallel: %s: %s\n", p.p, strerror(errno));
	}
	p.len = base;
	buf_adds(&p, "/seq");
	int fd = open(p.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char s[32];
		int n = snprintf(s, sizeof s, "%llu", (unsigned long long)j->seq);
		par_write_all(fd, s, (size_t)n);
		close(fd);
	}
	buf_free(&p);
}

static char *const *sink_start(void *ctx, const struct task *t, int slot, int64_t *timeout_ms)
{
	(void)ctx;
	struct par_opts *o = P->o;
	size_t idx = task_index(t);
	const struct par_job *j = &P->jobs[idx];
	struct slot *sl = slot_of(t);
	if (o->delay_s > 0) {
		pthread_mutex_lock(&P->mu);
		int64_t now = now_ns(), at = P->next_start_ns > now ? P->next_start_ns : now;
		P->next_start_ns = at + (int64_t)(o->delay_s * 1e9);
		pthread_mutex_unlock(&P->mu);
		if (at > now)
			sleep_ns(at - now);
	}
	/* --load and --memfree: wait, looking again every 100 ms, while over;
	 * never with nothing else running (it would wait forever) */
	while ((o->load_max != 0 && load_too_high()) || (o->memfree && mem_available() < o->memfree)) {
		pthread_mutex_lock(&P->mu);
		int others = P->started > P->done;
		pthread_mutex_unlock(&P->mu);
		if (!others)
			break;
		sleep_ns(100000000);
	}
	pthread_mutex_lock(&P->mu);
	P->started++;
	if (o->timeout_pct > 0) {
		if (P->nrt) {
			qsort(P->runtimes, P->nrt, sizeof *P->runtimes, cmp_double);
			double med = P->runtimes[(P->nrt - 1) / 2];
			*timeout_ms = (int64_t)(med * o->timeout_pct / 100.0 * 1000.0) + 1;
		} else {
			*timeout_ms = 0;
		}
	}
	pthread_mutex_unlock(&P->mu);
	spool_reset(&sl->out);
	spool_reset(&sl->err);
	sl->lo.len = sl->le.len = 0;
	sl->lmid[0] = sl->lmid[1] = 0;
	sl->recv = 0;
	sl->start_wall_ms = wall_ms();
	if (o->verbose) {
		pthread_mutex_lock(&P->mu);
		fprintf(stderr, "%s\n", j->cmd);
		pthread_mutex_unlock(&P->mu);
	}
	if (o->results)
		results_open(sl, j);
	if (!par_has_slot(j->cmd))
		return NULL;
	sl->cmd.len = 0;
	par_slot_cmd(&sl->cmd, j->cmd, slot);
	sl->argv[0] = (char *)o->shell;
	sl->argv[1] = "-c";
	sl->argv[2] = sl->cmd.p;
	sl->argv[3] = NULL;
	return sl->argv;
}

/* --line-buffer: whole lines go out at once, tagged; the rest waits, up to
 * SPOOL_MEM (a longer line goes out in pieces) */
static void line_out(struct slot *sl, int fd, const char *p, size_t n, const char *tag, int end)
{
	struct buf *part = fd == 1 ? &sl->lo : &sl->le;
	int *mid = &sl->lmid[fd - 1];
	if (n)
		buf_add(part, p, n);
	if (!part->len)
		return;
	char *last = n ? memrchr(part->p + part->len - n, '\n', n) : NULL;
	size_t l;
	if (last)
		l = (size_t)(last - part->p) + 1;
	else if (end || part->len > SPOOL_MEM)
		l = part->len;
	else
		return;
	struct spool tmp = {.m = {part->p, l, l}, .fd = -1, .len = l};
	pthread_mutex_lock(&P->mu);
	if (P->progress_on) {
		par_write_all(2, "\r\033[K", 4);
		P->progress_on = 0;
	}
	spool_emit_at(&tmp, fd, tag, tag ? strlen(tag) : 0, !*mid);
	pthread_mutex_unlock(&P->mu);
	*mid = part->p[l - 1] != '\n';
	memmove(part->p, part->p + l, part->len - l);
	part->len -= l;
	if (end)
		*mid = 0;
}

static void sink_chunk(void *ctx, const struct task *t, int fd, const char *p, size_t n)
{
	(void)ctx;
	struct slot *sl = slot_of(t);
	if (fd == 1)
		sl->recv += n;
	if (P->o->results) {
		if (sl->rfd[fd - 1] >= 0)
			par_write_all(sl->rfd[fd - 1], p, n);
		return;
	}
	if (P->o->out == PO_LINE && !P->o->keep) {
		char *tag = make_tag(&P->jobs[task_index(t)]);
		line_out(sl, fd, p, n, tag, 0);
		free(tag);
		return;
	}
	spool_add(fd == 1 ? &sl->out : &sl->err, p, n);
}

static void show(struct spool *out, struct spool *err, const char *tag)
{
	size_t tl = tag ? strlen(tag) : 0;
	if (P->progress_on && (out->len || err->len)) {
		par_write_all(2, "\r\033[K", 4);
		P->progress_on = 0;
	}
	spool_emit(out, 1, tag, tl);
	spool_emit(err, 2, tag, tl);
}

static void joblog_line(const struct par_job *j, const struct attempt *a, struct slot *sl)
{
	double run = (double)(a->end_ns - a->start_ns) / 1e9;
	/* GNU: -1 for a job it killed (timeout), 0 for one a signal ended */
	int exitval = a->fkind == FK_TIMEOUT ? -1 : a->sig ? 0 : a->exit_code;
	if (a->fkind == FK_SPAWN)
		exitval = 127;
	fprintf(P->joblog, "%llu\t%s\t%.3f\t%10.3f\t0\t%llu\t%d\t%d\t%s\n",
		(unsigned long long)j->seq, a->node >= 0 && P->ns ? nodes_name(P->ns, a->node) : ":",
		(double)sl->start_wall_ms / 1000.0, run,
		(unsigned long long)sl->recv, exitval, a->sig, j->cmd);
	fflush(P->joblog);
}

/* GNU's should_we_halt, after a job ends (under P->mu). */
static int halt_check(const struct attempt *a, int failed)
{
	struct par_opts *o = P->o;
	if (!o->halt_when || P->halted)
		return 0;
	uint64_t limit;
	if (o->halt_kind == PH_FAIL) {
		if (!failed)
			return 0;
		limit = P->failed;
	} else if (o->halt_kind == PH_SUCCESS) {
		if (failed)
			return 0;
		limit = P->ok;
	} else {
		limit = P->done;
	}
	double count = o->halt_pct ? (double)P->njobs * o->halt_count : o->halt_count;
	if ((double)limit < count)
		return 0;
	if (o->halt_kind == PH_SUCCESS) {
		P->halt_status = 0;
	} else if (o->halt_pct) {
		P->halt_status = (int)ceil((double)P->failed / (double)(P->njobs ? P->njobs : 1) * 100);
	} else {
		P->halt_status = P->failed < 101 ? (int)P->failed : 101;
		if (o->halt_count == 1)
			P->halt_status = a->exit_code > 0 ? a->exit_code : a->sig ? a->sig + 128 : 0;
	}
	P->halted = o->halt_when;
	if (o->halt_when == 1 && P->started > P->done)
		fprintf(stderr, "gearbox parallel: starting no more jobs; waiting for %llu to finish\n",
			(unsigned long long)(P->started - P->done));
	return o->halt_when;
}

static void held_free(struct held *h)
{
	spool_free(&h->out);
	spool_free(&h->err);
	free(h->tag);
	free(h);
}

/* -k: shows the held jobs whose turn has come (under P->mu) */
static void drain_held(void)
{
	while (P->next < P->njobs && P->finished[P->next]) {
		struct held *h = P->held[P->next];
		if (h) {
			show(&h->out, &h->err, h->tag);
			held_free(h);
			P->held[P->next] = NULL;
		}
		P->next++;
	}
}

static int sink_done(void *ctx, const struct task *t, const struct attempt *a, int final)
{
	(void)ctx;
	struct par_opts *o = P->o;
	size_t idx = task_index(t);
	const struct par_job *j = &P->jobs[idx];
	struct slot *sl = slot_of(t);
	for (int i = 0; i < 2; i++)
		if (sl->rfd[i] >= 0) {
			close(sl->rfd[i]);
			sl->rfd[i] = -1;
		}
	pthread_mutex_lock(&P->mu);
	if (!final) { /* retried (GNU shows only the last attempt) or interrupted */
		if (P->started)
			P->started--;
		pthread_mutex_unlock(&P->mu);
		return 0;
	}
	/* output that could not be spooled (a full $TMPDIR): the job fails,
	 * saying so, as in gearbox run; what was kept is still shown */
	int failed = !a->ok;
	if (sl->out.lost || sl->err.lost) {
		char m[256];
		spool_why(&sl->out, &sl->err, m, sizeof m);
		fprintf(stderr, "gearbox parallel: job %llu: %s\n", (unsigned long long)j->seq, m);
		failed = 1;
	}
	P->done++;
	if (failed)
		P->failed++;
	else
		P->ok++;
	if (o->timeout_pct > 0) {
		if (P->nrt == P->rtcap) {
			size_t c = P->rtcap ? P->rtcap * 2 : 64;
			double *n = realloc(P->runtimes, c * sizeof *n);
			if (n) {
				P->runtimes = n;
				P->rtcap = c;
			}
		}
		if (P->nrt < P->rtcap)
			P->runtimes[P->nrt++] = (double)(a->end_ns - a->start_ns) / 1e9;
	}
	if (P->joblog)
		joblog_line(j, a, sl);
	int quiet = P->halted == 2; /* after halt now, what was killed is not shown */
	char *tag = make_tag(j);
	if (o->out == PO_LINE && !o->keep) {
		/* the unfinished last lines */
		pthread_mutex_unlock(&P->mu);
		if (!quiet) {
			line_out(sl, 1, NULL, 0, tag, 1);
			line_out(sl, 2, NULL, 0, tag, 1);
		}
		pthread_mutex_lock(&P->mu);
		sl->lo.len = sl->le.len = 0;
		sl->lmid[0] = sl->lmid[1] = 0;
	} else if (o->keep && !o->results && o->out != PO_UNGROUP) {
		P->finished[idx] = 1;
		if (!quiet && (sl->out.len || sl->err.len)) {
			struct held *h = calloc(1, sizeof *h);
			if (h) {
				h->out = sl->out;
				h->err = sl->err;
				h->tag = tag;
				tag = NULL;
				memset(&sl->out, 0, sizeof sl->out);
				memset(&sl->err, 0, sizeof sl->err);
				P->held[idx] = h;
			}
		}
		drain_held();
	} else if (!quiet) {
		show(&sl->out, &sl->err, tag);
	}
	free(tag);
	int h = halt_check(a, failed);
	progress_line();
	pthread_mutex_unlock(&P->mu);
	return h;
}

/* ---- the run -------------------------------------------------------------- */

int parallel_main(int argc, char **argv)
{
	struct par_opts o;
	int rc = par_parse(argc, argv, &o);
	if (rc) {
		par_opts_free(&o);
		return rc == -2 ? 0 : rc;
	}
	int jobs;
	if (par_jobs_of(o.jobs, &jobs)) {
		fprintf(stderr, "gearbox parallel: -j %s: expected N, +N, -N, N%% or 0, or a file holding one\n",
			o.jobs);
		par_opts_free(&o);
		return PAR_EXIT_ERROR;
	}
	struct par_job *jv = NULL;
	size_t nj = 0;
	if ((rc = par_jobs(&o, jobs, &jv, &nj))) {
		par_opts_free(&o);
		return rc;
	}
	int append = 0;
	if (par_resume(&o, &jv, &nj, &append)) {
		par_jobs_free(jv, nj);
		par_opts_free(&o);
		return PAR_EXIT_ERROR;
	}
	if (o.dry_run) {
		struct buf b = {0};
		for (size_t i = 0; i < nj; i++) {
			b.len = 0;
			par_slot_cmd(&b, jv[i].cmd, 1);
			if (o.tag || o.tagstring) {
				struct par p0 = {.o = &o};
				P = &p0;
				char *tag = make_tag(&jv[i]);
				fputs(tag, stdout);
				free(tag);
				P = NULL;
			}
			fwrite(b.p ? b.p : "", 1, b.len, stdout);
			putchar('\n');
		}
		buf_free(&b);
		par_jobs_free(jv, nj);
		par_opts_free(&o);
		return 0;
	}
	struct err err = {{0}};
	struct nodes *ns = NULL;
	struct par p;
	memset(&p, 0, sizeof p);
	p.o = &o;
	p.jobs = jv;
	p.njobs = nj;
	p.halt_status = -1;
	p.t0_ns = now_ns();
	pthread_mutex_init(&p.mu, NULL);
	rc = PAR_EXIT_ERROR;
	if (o.joblog) {
		int fd = !strcmp(o.joblog, "-") ? dup(1) : -1;
		p.joblog = fd >= 0 ? fdopen(fd, "w") : fopen(o.joblog, append ? "ae" : "we");
		if (!p.joblog) {
			fprintf(stderr, "gearbox parallel: %s: cannot open the joblog: %s\n", o.joblog,
				strerror(errno));
			goto out;
		}
		if (!append)
			fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
			      p.joblog);
		fflush(p.joblog);
	}
	if (o.results && mkdir(o.results, 0755) && errno != EEXIST) {
		fprintf(stderr, "gearbox parallel: %s: cannot create: %s\n", o.results, strerror(errno));
		goto out;
	}
	p.wl = par_workload(&o, jv, nj, &err);
	if (!p.wl) {
		fprintf(stderr, "gearbox parallel: %s\n", err.msg);
		goto out;
	}
	struct run_opts ro;
	run_opts_init(&ro);
	if (o.nsshlogin && nj) { /* -S: the jobs run on agents (docs/nodes.md) */
		struct buf spec = {0};
		json_t *ncfg = NULL;
		if (par_nodes_spec(&o, &spec, &ncfg)) {
			buf_free(&spec);
			goto out;
		}
		struct nodes_opts no;
		memset(&no, 0, sizeof no);
		no.spec = spec.p;
		no.cfg = ncfg;
		no.cfg_path = o.ssh_cmd ? "--ssh" : "$PARALLEL_SSH";
		no.slots = o.jobs ? jobs : 0; /* -j: per sshlogin; else N/ or its cores */
		no.grace_ms = ro.kill_grace_ms;
		no.quiet = 1;
		int bad = nodes_start(&no, &ns, &err) || nodes_check(ns, p.wl, &err);
		buf_free(&spec);
		json_decref(ncfg);
		if (bad) {
			fprintf(stderr, "gearbox parallel: -S: %s\n", err.msg);
			goto out;
		}
		jobs = nodes_slots(ns);
		ro.nodes = ns;
		p.ns = ns;
	}
	p.nslots = jobs;
	p.slots = calloc((size_t)jobs, sizeof *p.slots);
	p.held = calloc(nj ? nj : 1, sizeof *p.held);
	p.finished = calloc(nj ? nj : 1, 1);
	if (!p.slots || !p.held || !p.finished) {
		fprintf(stderr, "gearbox parallel: out of memory\n");
		goto out;
	}
	for (int i = 0; i < jobs; i++) {
		p.slots[i].rfd[0] = p.slots[i].rfd[1] = -1;
	}
	P = &p;
	struct task_sink sink = {
		.ctx = &p,
		.passthrough = o.out == PO_UNGROUP && !o.results,
		.start = sink_start,
		.chunk = sink_chunk,
		.done = sink_done,
	};
	ro.jobs = jobs;
	ro.jobs_max = jobs;
	ro.silent = 1;
	ro.quiet = 1;
	ro.progress = 0;
	ro.retry_base_ms = 0;
	ro.retry_cap_ms = 0;
	ro.sink = &sink;
	if (nj) {
		sigset_t sigs;
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGINT);
		sigaddset(&sigs, SIGTERM);
		sigaddset(&sigs, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
		int er = engine_run(p.wl, &ro, &err);
		if (er == 2) {
			fprintf(stderr, "gearbox parallel: %s\n", err.msg);
			goto out;
		}
		if (er > 128) { /* interrupted: 128 + the signal */
			rc = er;
			goto out;
		}
	}
	/* -k: what a halt left waiting behind jobs that never ran */
	for (size_t i = 0; i < nj; i++)
		p.finished[i] = 1;
	if (o.keep)
		drain_held();
	if (p.progress_on)
		par_write_all(2, "\n", 1);
	if (p.halt_status >= 0)
		rc = p.halt_status;
	else
		rc = p.failed < 101 ? (int)p.failed : 101;
out:
	nodes_stop(ns);
	if (p.joblog)
		fclose(p.joblog);
	if (p.slots)
		for (int i = 0; i < jobs; i++) {
			spool_free(&p.slots[i].out);
			spool_free(&p.slots[i].err);
			buf_free(&p.slots[i].lo);
			buf_free(&p.slots[i].le);
			buf_free(&p.slots[i].cmd);
		}
	free(p.slots);
	if (p.held)
		for (size_t i = 0; i < nj; i++)
			if (p.held[i])
				held_free(p.held[i]);
	free(p.held);
	free(p.finished);
	free(p.runtimes);
	workload_free(p.wl);
	pthread_mutex_destroy(&p.mu);
	P = NULL;
	par_jobs_free(jv, nj);
	par_opts_free(&o);
	return rc;
}
