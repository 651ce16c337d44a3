/* engine_run.c - one run from start to end: the run options' defaults, the
 * engine's setup (locks, records, signals, cgroups, plugins, nodes), the tasks
 * ready at the start, the first workers, the main thread's loop (sampler.c),
 * and the end (joining the workers, summary, stats, exit status, teardown).
 * The run itself, between those, is engine.c's.
 */
#include "engine_int.h"
#include "resrun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "nodes.h"

/* Hooks are called by looping over per-hook arrays: with no plugins they are
 * loops over zero entries, and no `if (enabled)` sits on the task path. */
static const struct plugin_set no_plugins;

void run_opts_init(struct run_opts *o)
{
	memset(o, 0, sizeof *o);
	o->jobs = ncores();
	o->progress = -1;
	o->kill_grace_ms = 2000;
	o->retry_base_ms = 100;
	o->retry_cap_ms = 30000;
	o->shed_wait_ms = -1;
	o->handle_signals = 1;
}

/* ---- the run ------------------------------------------------------------- */

/* Whether anything reads an attempt's start and end: the summary, records,
 * stats, policies, plugins, deadlines. When nothing does (an embedder's
 * silent run of C tasks), a C task's attempt reads no clock at all. */
static int needs_timing(const struct engine *e)
{
	const struct run_opts *o = &e->o;
	if (!o->silent || o->sink || o->events || o->joblog || o->journal || o->stats || o->policy ||
	    e->ps->n || o->shed_wait_ms >= 0 || o->history)
		return 1;
	const struct spec *last = NULL;
	for (uint32_t i = 0; i < e->wl->ntasks; i++) {
		const struct spec *s = e->wl->tasks[i].spec;
		if (s != last && s->deadline_ms >= 0)
			return 1;
		last = s;
	}
	return 0;
}

/* node.up and node.lost (nodes.c's threads): into --events */
static void node_event(void *ud, const char *name, const char *fields)
{
	engine_plugin_event(ud, name, NULL, fields);
}

/* The placement policy, from a worker in nodes_run (outside e->mu): policies
 * are called under the engine's lock only */
static int node_place(void *ud, const struct task *t, const struct node_view *v, int n)
{
	struct engine *e = ud;
	pthread_mutex_lock(&e->mu);
	int r = policy_place(e->o.policy, t, v, n);
	pthread_mutex_unlock(&e->mu);
	return r;
}

static void engine_free(struct engine *e)
{
	for (int i = 0; i < e->nthreads; i++)
		worker_free(e->w[i]);
	free(e->w);
	struct failure *f = e->failures;
	while (f) {
		struct failure *n = f->next;
		free(f->msg);
		free(f->tail);
		free(f);
		f = n;
	}
	readyq_free(&e->ready);
	heap_free(&e->delayed);
	if (e->done_fd >= 0)
		close(e->done_fd);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->out_mu);
	pthread_mutex_destroy(&e->ev_mu);
	pthread_cond_destroy(&e->cv);
	pthread_cond_destroy(&e->park_cv);
}

int engine_run(struct workload *wl, const struct run_opts *o, struct err *err)
{
	struct engine E, *e = &E;
	memset(e, 0, sizeof *e);
	e->wl = wl;
	e->o = *o;
	e->journal_fd = -1;
	e->done_fd = -1;
	e->fail_tail = &e->failures;
	/* adaptive: a worker spins briefly before it sleeps on the lock; the
	 * hold times are short, so a sleep and a wake-up per task would cost
	 * more than the wait */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&e->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_mutex_init(&e->out_mu, NULL);
	pthread_mutex_init(&e->ev_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_cond_init(&e->park_cv, &ca);
	pthread_condattr_destroy(&ca);

	if (open_outputs(e, err)) {
		close_outputs(e);
		engine_free(e);
		return 2;
	}
	e->done_fd = eventfd(0, EFD_CLOEXEC);
	if (e->done_fd < 0) {
		err_set(err, "cannot create an eventfd: %s", strerror(errno));
		close_outputs(e);
		engine_free(e);
		return 2;
	}
	e->progress_on = o->progress > 0 || (o->progress < 0 && !o->quiet && isatty(2));

	struct sigstate sigst;
	int sfd = o->handle_signals ? signals_take(&sigst) : -1;

	struct cgsys cg;
	if (res_run_open(e, &cg, err)) {
		if (o->handle_signals)
			signals_give_back(&sigst, sfd);
		close_outputs(e);
		engine_free(e);
		return 2;
	}
	e->t0_ns = now_ns();
	e->ps = o->plugins ? o->plugins : &no_plugins;
	e->timing = needs_timing(e);
	/* batches delay completions by a few short attempts: not when events or
	 * shown output would show the delay. A before hook's answer, rejection
	 * or deferral is not a plain attempt: it is completed at once. Not with
	 * load shedding either: a task claimed in a batch is not checked. */
	e->batch = !e->events && !o->verbose && !o->output_dir && o->shed_wait_ms < 0;
	if (o->host) {
		host_attach(o->host, e);
		if (host_run_begin(o->host, wl)) {
			host_attach(o->host, NULL);
			err_set(err, "out of memory");
			if (o->handle_signals)
				signals_give_back(&sigst, sfd);
			close_outputs(e);
			engine_free(e);
			return 2;
		}
	}
	if (o->nodes) {
		nodes_attach(o->nodes, node_event,
			     policy_has(o->policy, POL_PLACEMENT) ? node_place : NULL, e);
		nodes_set_plan(o->nodes, e->res, wl->tasks); /* needs per node */
	}
	for (size_t i = 0; i < e->ps->nstart; i++)
		e->ps->start[i]->d->run_start(e->ps->start[i]->self, wl->ntasks);
	e->t0_wall_ms = wall_ms();

	pthread_mutex_lock(&e->mu);
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		wl->tasks[i].slot = -1;
		if (wl->tasks[i].state == ST_RESUMED) {
			e->n_resumed++;
			e->n_ok++;
			e->n_final++;
			release_dependants(e, i, e->t0_ns);
		}
	}
	int64_t now0 = now_ns(); /* one reading for all the tasks ready at the start */
	for (uint32_t i = 0; i < wl->ntasks; i++)
		if (wl->tasks[i].state == ST_WAITING && wl->tasks[i].pending == 0)
			make_ready(e, i, now0);
	int jobs = o->jobs;
	struct timespec jobs_mtime = {0, 0};
	if (o->jobs_file) {
		int n = read_jobs_file(o->jobs_file, &jobs_mtime);
		jobs = n > 0 ? n : 1;
	}
	if (wl->ntasks && (uint32_t)jobs > wl->ntasks && !o->jobs_file)
		jobs = (int)wl->ntasks; /* never more threads than tasks */
	if (wl->ntasks && e->n_final < wl->ntasks)
		set_jobs(e, jobs);
	int nothing_to_do = e->nthreads == 0;
	pthread_mutex_unlock(&e->mu);

	if (!nothing_to_do)
		sampler_loop(e, sfd, &jobs_mtime);
	for (int i = 0; i < e->nthreads; i++) {
		struct worker *w = e->w[i];
		pthread_join(w->th, NULL);
		for (unsigned b = 0; w->lat && b < LAT_BUCKETS; b++)
			e->lat[b] += w->lat[b];
		if (w->lat_max_ns > e->lat_max_ns)
			e->lat_max_ns = w->lat_max_ns;
	}
	summary_plugins(e);
	if (o->host) {
		host_run_end(o->host); /* task_free for the tasks that never ended */
		host_attach(o->host, NULL);
	}
	if (o->nodes) {
		nodes_attach(o->nodes, NULL, NULL, NULL);
		nodes_set_plan(o->nodes, NULL, NULL); /* e->res goes */
	}

	records_flush(e);
	if (!o->silent)
		summary(e);
	if (e->stats)
		stats_write(e, (double)(now_ns() - e->t0_ns) / 1e6);
	int status = e->interrupted ? 128 + e->interrupted
		     : (e->n_failed || e->n_skipped || e->n_final < wl->ntasks ||
			atomic_load(&e->n_rec_lost)) ? 1 : 0;
	close_outputs(e);
	res_run_close(e);
	engine_free(e);
	if (o->handle_signals)
		signals_give_back(&sigst, sfd);
	return status;
}
