/* summary.c - the end-of-run summary on stderr, the progress line, and what
 * the summary needs collected during the run (the slowest tasks, the
 * failures with the tail of their stderr), under e->mu.
 */
#include "engine_int.h"
#include "resrun.h"
#include "nodes.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The last lines of a stderr (memory or its spill file): at most TAIL_LINES
 * lines and TAIL_BYTES bytes, trailing newlines dropped. */
static char *stderr_tail(const struct spool *sp)
{
	if (!sp->len)
		return NULL;
	char b[TAIL_BYTES + 64]; /* the trailing newlines may take some */
	size_t end = spool_tail(sp, b, sizeof b);
	while (end && b[end - 1] == '\n')
		end--;
	size_t start = end;
	int lines = 0;
	while (start > 0 && end - start < TAIL_BYTES) {
		if (b[start - 1] == '\n' && ++lines == TAIL_LINES)
			break;
		start--;
	}
	char *s = malloc(end - start + 1);
	if (s) {
		memcpy(s, b + start, end - start);
		s[end - start] = 0;
	}
	return s;
}

void note_slow(struct engine *e, uint32_t idx, int64_t ns)
{
	if (ns <= e->slow[NSLOW - 1].ns)
		return;
	int i = NSLOW - 1;
	while (i > 0 && e->slow[i - 1].ns < ns) {
		e->slow[i] = e->slow[i - 1];
		i--;
	}
	e->slow[i].ns = ns;
	e->slow[i].idx = idx;
}

/* ---- progress and summary ------------------------------------------------ */

void progress_line(struct engine *e)
{
	pthread_mutex_lock(&e->mu);
	uint32_t fin = e->n_final, ok = e->n_ok, failed = e->n_failed;
	int running = e->running;
	uint32_t queued = readyq_n(&e->ready);
	uint32_t total = e->wl->ntasks;
	pthread_mutex_unlock(&e->mu);
	double secs = (double)(now_ns() - e->t0_ns) / 1e9;
	double rate = secs > 0 ? fin / secs : 0;
	char eta[32] = "?";
	if (rate > 0)
		snprintf(eta, sizeof eta, "%.0fs", (total - fin) / rate);
	pthread_mutex_lock(&e->out_mu);
	fprintf(stderr, "\r\033[Kgearbox: %u/%u done (%u ok, %u failed), %d running, %u queued, %.1f/s, ETA %s",
		fin, total, ok, failed, running, queued, rate, eta);
	fflush(stderr);
	pthread_mutex_unlock(&e->out_mu);
}

void summary(struct engine *e)
{
	struct workload *wl = e->wl;
	double wall = (double)(now_ns() - e->t0_ns) / 1e9;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double user = (double)(self.ru_utime.tv_sec + kids.ru_utime.tv_sec) +
		      (double)(self.ru_utime.tv_usec + kids.ru_utime.tv_usec) / 1e6;
	double sys = (double)(self.ru_stime.tv_sec + kids.ru_stime.tv_sec) +
		     (double)(self.ru_stime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
	uint32_t unfinished = wl->ntasks - e->n_final;
	uint32_t interrupted = e->n_interrupted < unfinished ? e->n_interrupted : unfinished;
	uint32_t not_started = unfinished - interrupted;

	if (e->progress_on)
		fputs("\r\033[K", stderr);
	if (wl->ntasks == 0) {
		if (!e->o.quiet)
			fprintf(stderr, "gearbox: %s has no tasks; nothing to do\n", wl->path);
		return;
	}
	unsigned lost = atomic_load(&e->n_rec_lost);
	if (lost)
		fprintf(stderr, "gearbox: %u record%s lost (output files, joblog or events rows that "
			"could not be written; see above)\n", lost, lost == 1 ? " was" : "s were");
	int problems = e->n_failed || e->n_skipped || unfinished || lost;
	if (e->o.quiet && !problems)
		return;
	fprintf(stderr, "gearbox: %u task%s: %u ok", wl->ntasks, wl->ntasks == 1 ? "" : "s", e->n_ok);
	if (e->n_resumed)
		fprintf(stderr, " (%u from the journal)", e->n_resumed);
	if (e->n_cached)
		fprintf(stderr, " (%u cached)", e->n_cached);
	fprintf(stderr, ", %u failed, %u skipped", e->n_failed, e->n_skipped);
	if (interrupted)
		fprintf(stderr, ", %u interrupted", interrupted);
	if (not_started)
		fprintf(stderr, ", %u not started", not_started);
	fprintf(stderr, "; %u attempt%s, %u retried", e->n_attempts, e->n_attempts == 1 ? "" : "s",
		e->n_retried);
	if (e->n_deferred) { /* plugin ABI 1.4: who held tasks back, and how often */
		struct gbx_count by[16];
		size_t n = plugins_deferred(e->ps, by, 16);
		fprintf(stderr, ", %u deferred (", e->n_deferred);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s%s %lld", i ? ", " : "", by[i].name, (long long)by[i].n);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
	fprintf(stderr, "gearbox: wall %.3f s, cpu %.3f s user + %.3f s sys, %.1f tasks/s\n", wall,
		user, sys, wall > 0 ? e->n_attempts / wall : 0.0);
	if (e->n_late)
		fprintf(stderr, "gearbox: %u task%s finished after their deadline\n", e->n_late,
			e->n_late == 1 ? "" : "s");
	if (e->o.nodes) {
		if (e->n_lost)
			fprintf(stderr, "gearbox: %u attempt%s lost with their node and run again\n",
				e->n_lost, e->n_lost == 1 ? "" : "s");
		nodes_summary(e->o.nodes, stderr);
	}
	if (!e->o.quiet && e->slow[0].ns > 0) {
		fprintf(stderr, "gearbox: slowest:");
		for (int i = 0; i < NSLOW && e->slow[i].ns > 0; i++)
			fprintf(stderr, "%s %s %.3f s", i ? "," : "", wl->tasks[e->slow[i].idx].id,
				(double)e->slow[i].ns / 1e9);
		fputc('\n', stderr);
	}
	if (!e->o.quiet)
		res_summary(e, stderr);
	int shown = 0;
	for (struct failure *f = e->failures; f; f = f->next) {
		if (shown++ == 20) {
			fprintf(stderr, "gearbox: ... and %u more failed\n", e->n_failed - 20);
			break;
		}
		fprintf(stderr, "gearbox: FAILED %s: ", wl->tasks[f->idx].id);
		if (f->fkind == FK_EXIT)
			fprintf(stderr, "exit %d", f->exit_code);
		else if (f->fkind == FK_SIGNAL)
			fprintf(stderr, "killed by signal %d (%s)", f->sig, strsignal(f->sig));
		else
			fprintf(stderr, "%s", fail_kind_name(f->fkind));
		if (f->msg)
			fprintf(stderr, ": %s", f->msg);
		fprintf(stderr, " (%u attempt%s)\n", f->attempts, f->attempts == 1 ? "" : "s");
		if (f->tail) {
			for (char *p = f->tail, *nl; *p; p = nl + 1) {
				nl = strchr(p, '\n');
				if (!nl) {
					fprintf(stderr, "    | %s\n", p);
					break;
				}
				fprintf(stderr, "    | %.*s\n", (int)(nl - p), p);
			}
		}
	}
	if (e->n_skipped) {
		fprintf(stderr, "gearbox: skipped (a dependency failed):");
		int k = 0;
		for (uint32_t i = 0; i < wl->ntasks && k < 10; i++)
			if (wl->tasks[i].state == ST_SKIPPED)
				fprintf(stderr, "%s %s", k++ ? "," : "", wl->tasks[i].id);
		if (e->n_skipped > 10)
			fprintf(stderr, ", ... (%u in all)", e->n_skipped);
		fputc('\n', stderr);
	}
	if (!e->o.quiet && e->spawn_count) {
		uint64_t half = (e->spawn_count + 1) / 2, seen = 0;
		int med = 0;
		while (med < SPAWN_BUCKETS - 1 && (seen += e->spawn_hist[med]) < half)
			med++;
		fprintf(stderr, "gearbox: spawn time median %d us, mean %.1f us over %llu subprocesses\n",
			med, (double)e->spawn_ns_total / 1e3 / (double)e->spawn_count,
			(unsigned long long)e->spawn_count);
	}
}


/* Under e->mu: a task failed for good; the summary lists it with the tail of
 * its stderr. */
void note_failure(struct engine *e, uint32_t idx, const struct attempt *a)
{
	struct failure *f = calloc(1, sizeof *f);
	if (!f)
		return;
	f->idx = idx;
	f->fkind = a->fkind;
	f->exit_code = a->exit_code;
	f->sig = a->sig;
	f->attempts = e->wl->tasks[idx].attempts;
	f->msg = a->msg[0] ? strdup(a->msg) : NULL;
	f->tail = stderr_tail(a->err);
	*e->fail_tail = f;
	e->fail_tail = &f->next;
}

/* The plugins' end of the run: run_end, then run_summary with the counts
 * (deferrals per plugin among them). */
void summary_plugins(struct engine *e)
{
	for (size_t i = 0; i < e->ps->nend; i++)
		e->ps->end[i]->d->run_end(e->ps->end[i]->self, e->n_ok, e->n_failed);
	struct gbx_count by[16];
	size_t nby = plugins_deferred(e->ps, by, 16);
	if (e->ps->n) {
		struct gbx_summary sum = {sizeof sum, e->wl->ntasks, e->n_ok, e->n_failed, e->n_skipped,
					  e->wl->ntasks - e->n_final, e->n_attempts, e->n_retried,
					  e->n_resumed, (double)(now_ns() - e->t0_ns) / 1e6,
					  e->interrupted != 0, e->n_deferred, by, nby};
		for (size_t i = 0; i < e->ps->n; i++) {
			const struct plugin *p = &e->ps->p[i];
			if (p->d->abi_minor >= 1 && p->d->run_summary)
				p->d->run_summary(p->self, &sum);
		}
	}
}
