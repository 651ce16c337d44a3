/* pool.c - the "pool" plugin: tasks sent to warm, persistent worker
 * processes instead of a new process each, in Bazel's JSON worker protocol
 * (one request object per line on the worker's stdin, one response per line
 * on its stdout). proc.c owns the processes; this file owns the settings,
 * the pools, the hooks, the events and pool.idle()/pool.size() for policies.
 *
 * A task opts in with "pool": "NAME" or through a pool's "match" (argv[0]).
 * before_task runs on the engine's worker thread that would have run the
 * task: it takes a worker (idle, or a new one up to max, or waits for one),
 * sends the request, waits for the answer and answers the task with it
 * (label "pool"). Singleplex: one request at a time per worker, requestId 0.
 * Multiplex ("multiplex": true): up to max_inflight requests at once per
 * worker, from several engine threads, matched by requestId (mux.c).
 *
 * Nothing the engine gave up on is answered twice: a worker that dies, hangs
 * past the task's timeout, writes a line that is not a response, or answers
 * another requestId is killed (with its process group) and reaped before the
 * task is answered with a failure, so no late answer can ever be read.
 *
 * The run's stop (ABI 1.4: Ctrl-C, SIGTERM, --halt now): every wait on a
 * worker polls the host's stop fd too. A request in flight then fails at
 * once (kind signal, SIGKILL: its worker and the worker's process group are
 * killed and reaped, as the engine does to a running process); a task not
 * yet sent is deferred, which the stopping engine counts as not started.
 *
 * Locks: each pool's mutex guards its idle and mux lists only; no I/O, event
 * or log happens under it. The Lua functions read atomics.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gearbox/plugin.h>
#include <gearbox/plugin_json.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

struct tbuf;

struct plugin {
	const struct gbx_host *host;
	struct pool *pools;
	size_t npools;
	int any_match;
	int has_stop;    /* the host has the stop flag and fd (ABI 1.4) */
	int stop_fd;     /* the host's stop fd, taken at run start; -1: none */
	uint64_t serial; /* unique per instance in this process */
	pthread_mutex_t tb_mu;
	struct tbuf *tbufs; /* every thread's buffers, freed at fini */
};

/* Per engine thread: the answer's text must outlive before_task (the host
 * copies it right after), and reusing these keeps the hot path malloc-free. */
struct tbuf {
	struct tbuf *next;
	struct gbx_buf req, line, out;
	char err[1024];
};
/* The thread's buffers and the plugin instance they belong to, by a serial
 * number rather than the address: an instance freed at fini and another
 * allocated at the same address must not find the old (freed) buffers. */
static _Thread_local struct {
	uint64_t owner;
	struct tbuf *b;
} tl_buf;
static _Atomic uint64_t next_serial = 1;

static struct tbuf *thread_buf(struct plugin *p)
{
	if (tl_buf.owner == p->serial)
		return tl_buf.b;
	struct tbuf *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	pthread_mutex_lock(&p->tb_mu);
	b->next = p->tbufs;
	p->tbufs = b;
	pthread_mutex_unlock(&p->tb_mu);
	tl_buf.owner = p->serial;
	tl_buf.b = b;
	return b;
}

static struct pool *pool_find(struct plugin *p, const char *name)
{
	for (size_t i = 0; i < p->npools; i++)
		if (!strcmp(p->pools[i].name, name))
			return &p->pools[i];
	return NULL;
}

/* ---- events -------------------------------------------------------------- */

void pool_replaced(struct plugin *p, struct pool *pl, const gbx_task *t, pid_t pid,
		   const char *why, const char *msg, const char *tasks_json)
{
	struct gbx_buf f = {0};
	char num[64];
	int r = gbx_buf_adds(&f, "\"pool\":");
	r |= gbx_buf_json(&f, pl->name);
	snprintf(num, sizeof num, ",\"pid\":%ld,\"why\":", (long)pid);
	r |= gbx_buf_adds(&f, num);
	r |= gbx_buf_json(&f, why);
	if (tasks_json) {
		r |= gbx_buf_adds(&f, ",\"tasks\":[");
		r |= gbx_buf_adds(&f, tasks_json);
		r |= gbx_buf_adds(&f, "]");
	}
	r |= gbx_buf_adds(&f, ",\"message\":");
	r |= gbx_buf_json(&f, msg);
	if (!r)
		p->host->event(p->host->ctx, "pool.replaced", t, f.p);
	free(f.p);
	p->host->log(p->host->ctx, 1, msg);
}

int pool_stopping(struct plugin *p)
{
	return p->has_stop && p->host->stopping(p->host->ctx);
}

/* ---- workers ------------------------------------------------------------- */

static void give_back(struct pool *pl, struct wproc *w)
{
	w->idle_since_ns = mono_ns();
	pthread_mutex_lock(&pl->mu);
	struct wproc **list = pl->multiplex ? &pl->mux : &pl->idle;
	w->next = *list;
	*list = w;
	atomic_fetch_add(&pl->nidle, 1);
	pthread_cond_signal(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

/* A worker that will not come back: kill it, reap it, free its place. */
static void retire(struct pool *pl, struct wproc *w, char *how, size_t howlen)
{
	proc_kill(w, how, howlen);
	pthread_mutex_lock(&pl->mu);
	atomic_fetch_sub(&pl->nlive, 1);
	pthread_cond_broadcast(&pl->cv); /* all: after a stop each waiter gives up */
	pthread_mutex_unlock(&pl->mu);
}

/* A worker that is done (max_requests): close its stdin and let it exit. */
static void recycle(struct pool *pl, struct wproc *w)
{
	w->next = NULL;
	proc_stop_all(w, 500);
	atomic_fetch_add(&pl->recycled, 1);
	pthread_mutex_lock(&pl->mu);
	atomic_fetch_sub(&pl->nlive, 1);
	pthread_cond_signal(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
}

/* Takes a worker of pool pl: an idle one, a new one while fewer than max are
 * alive, or the first one given back before deadline_ns (0: no limit) or the
 * run's stop. Returns NULL with *kind "spawn", "timeout" or "stopped" and a
 * message in err. */
static struct wproc *acquire(struct plugin *p, struct pool *pl, const gbx_task *t,
			     int64_t deadline_ns, const char **kind, char *err, size_t errlen)
{
	int waited = 0;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		/* a stop wakes every waiter (a holder's worker is killed, or
		 * given back, and the cv broadcast); the flag is set before the
		 * stop fd turns readable, so a waiter woken for it sees it */
		if (waited && pool_stopping(p)) {
			pthread_cond_broadcast(&pl->cv); /* pass it on */
			pthread_mutex_unlock(&pl->mu);
			*kind = "stopped";
			snprintf(err, errlen, "pool %s: the run is stopping", pl->name);
			return NULL;
		}
		if (pl->idle) {
			struct wproc *w = pl->idle;
			pl->idle = w->next;
			atomic_fetch_sub(&pl->nidle, 1);
			pthread_mutex_unlock(&pl->mu);
			if (!proc_broken(w))
				return w;
			/* it died or talked while idle: no request was in flight,
			 * so nobody fails; replace it quietly (but say so) */
			pid_t pid = w->pid;
			char how[64], msg[256];
			retire(pl, w, how, sizeof how);
			atomic_fetch_add(&pl->replaced, 1);
			snprintf(msg, sizeof msg, "pool %s: idle worker %ld %s; replaced", pl->name,
				 (long)pid, how);
			pool_replaced(p, pl, t, pid, "idle", msg, NULL);
			pthread_mutex_lock(&pl->mu);
			continue;
		}
		/* no new worker and no wait once the run stops (after a wait,
		 * the check at the top) */
		if (!waited && pool_stopping(p)) {
			waited = 1; /* gives up at the top of the loop */
			continue;
		}
		if (atomic_load(&pl->nlive) < pl->max) {
			atomic_fetch_add(&pl->nlive, 1);
			pthread_mutex_unlock(&pl->mu);
			char why[256];
			struct wproc *w = proc_start(pl, why, sizeof why);
			if (w)
				return w;
			pthread_mutex_lock(&pl->mu);
			atomic_fetch_sub(&pl->nlive, 1);
			pthread_cond_signal(&pl->cv);
			pthread_mutex_unlock(&pl->mu);
			*kind = "spawn";
			snprintf(err, errlen, "pool %s: %s", pl->name, why);
			return NULL;
		}
		waited = 1;
		if (!deadline_ns) {
			pthread_cond_wait(&pl->cv, &pl->mu);
		} else {
			struct timespec ts = {deadline_ns / 1000000000LL, deadline_ns % 1000000000LL};
			if (pthread_cond_timedwait(&pl->cv, &pl->mu, &ts) == ETIMEDOUT &&
			    mono_ns() >= deadline_ns && !pl->idle) {
				pthread_mutex_unlock(&pl->mu);
				*kind = "timeout";
				snprintf(err, errlen,
					 "pool %s: no worker free within the task's timeout (%d busy)",
					 pl->name, pl->max);
				return NULL;
			}
		}
	}
}

/* ---- the request --------------------------------------------------------- */

/* Whether argv starts with all of the pool's command. */
static int has_prefix(const struct pool *pl, const char *const *argv)
{
	for (size_t i = 0; i < pl->ncmd; i++)
		if (!argv[i] || strcmp(argv[i], pl->cmd[i]))
			return 0;
	return 1;
}

/* How many of argv's first elements name the worker and are not sent: the
 * argument rule (docs/plugins/pool.md): the pool's whole command, else the
 * same program (the command's argv[0] or the match); any other argv is sent
 * whole. */
static size_t skip_of(const struct pool *pl, const char *const *argv)
{
	if (has_prefix(pl, argv))
		return pl->ncmd;
	return !strcmp(argv[0], pl->cmd[0]) || (pl->match && !strcmp(argv[0], pl->match)) ? 1 : 0;
}

/* Reads the singleplex response in line. Returns 0 with *code and the
 * decoded output in out; -1 for a line that is not a response, -2 for another
 * requestId. */
static int parse_response(const char *line, int *code, struct gbx_buf *out)
{
	int64_t id;
	if (proto_response(line, &id, code))
		return -1;
	if (id != 0)
		return -2;
	return proto_output(line, out) ? -1 : 0;
}

/* The pool a task goes to, or NULL. "pool": false opts out of the match. */
static struct pool *pool_of(struct plugin *p, const gbx_task *t, const char *const **argv,
			    int *unknown, char *name, size_t namelen)
{
	*unknown = 0;
	char *f = p->host->task_field_json(t, "pool");
	if (f) {
		struct pool *pl = NULL;
		*argv = p->host->task_argv(t);
		if (!gbx_json_string(f, name, namelen)) {
			pl = pool_find(p, name);
			*unknown = !pl;
		} else if (strcmp(f, "false") && strcmp(f, "null")) {
			snprintf(name, namelen, "%s", f);
			*unknown = 1;
		}
		free(f);
		return pl;
	}
	if (!p->any_match || !(*argv = p->host->task_argv(t)) || !(*argv)[0])
		return NULL;
	for (size_t i = 0; i < p->npools; i++)
		if (p->pools[i].match && !strcmp((*argv)[0], p->pools[i].match))
			return &p->pools[i];
	return NULL;
}

static void fail(struct gbx_before *ans, struct tbuf *b, const char *kind)
{
	ans->verdict = GBX_ANSWER;
	ans->label = "pool";
	ans->result.ok = 0;
	ans->result.failure = kind;
	ans->result.exit_code = -1;
	ans->result.err = b->err;
	ans->result.err_len = strlen(b->err);
}

/* The run is stopping and the task was sent nowhere: put it back; the
 * stopping engine counts it as not started (and a resumed run starts it). */
static void not_sent(struct gbx_before *ans)
{
	ans->verdict = GBX_DEFER;
	ans->delay_ms = 0;
}

/* The run's stop killed the worker with the task's request in flight: a
 * failure like a process the engine kills (kind signal), which a Ctrl-C run
 * reports as interrupted. The message (b->err, without a newline) is the
 * attempt's message, in the summary and the finished event. */
static void stopped(struct gbx_before *ans, struct tbuf *b, int64_t t0)
{
	ans->verdict = GBX_ANSWER;
	ans->label = "pool";
	ans->result.ok = 0;
	ans->result.failure = "signal";
	ans->result.signal = SIGKILL;
	ans->result.exit_code = -1;
	ans->result.ms = (double)(mono_ns() - t0) / 1e6;
	ans->message = b->err;
}

static void answer(struct gbx_before *ans, struct tbuf *b, int code, int64_t t0)
{
	ans->verdict = GBX_ANSWER;
	ans->label = "pool";
	ans->result.ok = code == 0;
	ans->result.failure = code ? "exit" : NULL;
	ans->result.exit_code = code;
	ans->result.ms = (double)(mono_ns() - t0) / 1e6;
	ans->result.out = b->out.p;
	ans->result.out_len = b->out.len;
}

/* A task on a multiplex pool: the request body is in b->req (without its
 * requestId, which each worker gives). */
static void mux_before(struct plugin *p, struct pool *pl, const gbx_task *t, struct tbuf *b,
		       int64_t t0, int64_t deadline, struct gbx_before *ans)
{
	size_t body = b->req.len;
	struct mreq r = {0};
	const char *kind = "error";
	if (gbx_buf_reserve(&b->req, 32)) { /* "requestId":N}\n, N < 2^63 */
		snprintf(b->err, sizeof b->err, "pool %s: out of memory\n", pl->name);
		fail(ans, b, "error");
		return;
	}
	/* a worker that is gone before it got the request lost nothing: try
	 * another (a bounded number of times) */
	for (int tries = 0; tries < 3; tries++) {
		struct wproc *w = mux_acquire(p, pl, deadline, &kind, b->err, sizeof b->err - 1);
		if (!w && !strcmp(kind, "stopped")) {
			not_sent(ans);
			return;
		}
		if (!w) {
			strcat(b->err, "\n");
			fail(ans, b, kind);
			return;
		}
		r.t0_ns = t0;
		r.deadline_ns = deadline;
		r.task_id = p->host->task_id(t);
		r.out = &b->out;
		if (mux_register(p, pl, w, &r)) {
			mux_release(pl, w);
			continue;
		}
		proto_request_id(&b->req, body, r.id); /* room reserved: cannot fail */
		atomic_fetch_add(&pl->requests, 1);
		int rc = mux_call(p, pl, w, &r, b->req.p, b->req.len, &kind, b->err, sizeof b->err);
		mux_release(pl, w);
		if (rc < 0) {
			atomic_fetch_sub(&pl->requests, 1);
			continue;
		}
		if (rc > 0 && !strcmp(kind, "stopped"))
			stopped(ans, b, t0);
		else if (rc > 0)
			fail(ans, b, kind);
		else
			answer(ans, b, r.code, t0);
		return;
	}
	snprintf(b->err, sizeof b->err, "pool %s: workers keep dying at start-up\n", pl->name);
	fail(ans, b, "error");
}

static void pool_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct plugin *p = self;
	const char *const *argv = NULL;
	char name[128];
	int unknown;
	struct pool *pl = pool_of(p, t, &argv, &unknown, name, sizeof name);
	if (!pl && !unknown)
		return;
	if (pl && pool_stopping(p)) {
		not_sent(ans);
		return;
	}
	struct tbuf *b = thread_buf(p);
	if (!b)
		return; /* out of memory: run it the usual way */
	if (unknown) {
		snprintf(b->err, sizeof b->err, "pool: no pool named %s in plugins.pool.pools\n",
			 name);
		fail(ans, b, "error");
		return;
	}
	if (!argv || !argv[0]) {
		snprintf(b->err, sizeof b->err,
			 "pool %s: the task has no argv to send as arguments\n", pl->name);
		fail(ans, b, "error");
		return;
	}
	if (proto_request(&b->req, argv, skip_of(pl, argv), p->host->task_inputs(t)) ||
	    (!pl->multiplex && proto_request_id(&b->req, b->req.len, 0))) {
		snprintf(b->err, sizeof b->err, "pool %s: out of memory\n", pl->name);
		fail(ans, b, "error");
		return;
	}
	int64_t tmo = p->host->task_timeout_ms(t);
	int64_t t0 = mono_ns();
	int64_t deadline = tmo > 0 ? t0 + tmo * 1000000 : 0;
	if (pl->multiplex) {
		mux_before(p, pl, t, b, t0, deadline, ans);
		return;
	}
	const char *kind = "error";
	struct wproc *w = NULL;
	int rc;
	/* a worker that is gone before it got the request lost nothing: try
	 * another (a bounded number of times) */
	for (int tries = 0; tries < 3; tries++) {
		w = acquire(p, pl, t, deadline, &kind, b->err, sizeof b->err - 1);
		if (!w && !strcmp(kind, "stopped")) {
			not_sent(ans);
			return;
		}
		if (!w) {
			strcat(b->err, "\n");
			fail(ans, b, kind);
			return;
		}
		rc = proc_write(w, b->req.p, b->req.len, deadline);
		if (rc != -1)
			break;
		pid_t pid = w->pid;
		char how[64], msg[256];
		retire(pl, w, how, sizeof how);
		atomic_fetch_add(&pl->replaced, 1);
		snprintf(msg, sizeof msg, "pool %s: worker %ld %s before it got a request; replaced",
			 pl->name, (long)pid, how);
		pool_replaced(p, pl, t, pid, "died", msg, NULL);
		w = NULL;
	}
	if (!w) {
		snprintf(b->err, sizeof b->err, "pool %s: workers keep dying at start-up\n",
			 pl->name);
		fail(ans, b, "error");
		return;
	}
	atomic_fetch_add(&pl->requests, 1);
	/* a new worker's start-up is not charged to the task: its first answer
	 * may come as much later as start-up time is left */
	int64_t rdeadline = deadline;
	if (deadline && w->nreq == 0) {
		int64_t left = w->started_ns + pl->startup_timeout_ms * 1000000 - t0;
		rdeadline += left > 0 ? left : 0;
	}
	if (rc == 0)
		rc = proc_read_line(w, &b->line, rdeadline);
	if (rc == -5) {
		/* the run is stopping: kill the worker (and its group) now,
		 * as the engine kills a running process; it is not replaced */
		pid_t pid = w->pid;
		retire(pl, w, NULL, 0);
		atomic_fetch_add(&pl->interrupted, 1);
		snprintf(b->err, sizeof b->err,
			 "worker %ld of pool %s killed: the run is stopping (task %s had no answer "
			 "yet)",
			 (long)pid, pl->name, p->host->task_id(t));
		stopped(ans, b, t0);
		return;
	}
	int code = 0;
	const char *why = NULL;
	if (rc == 0) {
		int pr = parse_response(b->line.p, &code, &b->out);
		if (pr == -1)
			why = "malformed";
		else if (pr == -2)
			why = "unknown requestId";
	} else {
		why = rc == -2 ? "timeout" : rc == -3 ? "malformed" : "died";
	}
	if (why) {
		pid_t pid = w->pid;
		char how[64], msg[700];
		retire(pl, w, how, sizeof how);
		atomic_fetch_add(&pl->replaced, 1);
		const char *tid = p->host->task_id(t);
		if (!strcmp(why, "timeout"))
			snprintf(msg, sizeof msg,
				 "pool %s: worker %ld did not answer task %s within %lld ms; killed "
				 "and replaced",
				 pl->name, (long)pid, tid, (long long)(rdeadline - t0) / 1000000);
		else if (!strcmp(why, "died"))
			snprintf(msg, sizeof msg,
				 "pool %s: worker %ld %s while running task %s; replaced", pl->name,
				 (long)pid, how, tid);
		else if (rc == -3)
			snprintf(msg, sizeof msg,
				 "pool %s: worker %ld wrote a line too long for a response while "
				 "running task %s; killed and replaced",
				 pl->name, (long)pid, tid);
		else
			snprintf(msg, sizeof msg,
				 "pool %s: worker %ld wrote %s line while running task %s: %.120s%s; "
				 "killed and replaced",
				 pl->name, (long)pid,
				 !strcmp(why, "malformed") ? "a malformed" : "a response with an unknown requestId in its",
				 tid, b->line.p, b->line.len > 120 ? "..." : "");
		pool_replaced(p, pl, t, pid, why, msg, NULL);
		snprintf(b->err, sizeof b->err, "%s\n", msg);
		fail(ans, b, !strcmp(why, "timeout") ? "timeout" : "error");
		return;
	}
	w->nreq++;
	if (w->rlen) {
		/* more than one line for one request: answer this one, drop it */
		pid_t pid = w->pid;
		char how[64], msg[256];
		retire(pl, w, how, sizeof how);
		atomic_fetch_add(&pl->replaced, 1);
		snprintf(msg, sizeof msg,
			 "pool %s: worker %ld wrote more than one line for one request; replaced",
			 pl->name, (long)pid);
		pool_replaced(p, pl, t, pid, "malformed", msg, NULL);
	} else if (pl->max_requests > 0 && w->nreq >= pl->max_requests) {
		recycle(pl, w);
	} else {
		give_back(pl, w);
	}
	answer(ans, b, code, t0);
}

/* ---- run start and end --------------------------------------------------- */

static void pool_run_start(void *self, int64_t ntasks)
{
	struct plugin *p = self;
	(void)ntasks;
	/* made by the host on the first call (a pipe), then the same fd; a
	 * disabled pool is not loaded, so it never asks */
	p->stop_fd = p->has_stop ? p->host->stop_fd(p->host->ctx) : -1;
	for (size_t i = 0; i < p->npools; i++) {
		struct pool *pl = &p->pools[i];
		atomic_store(&pl->requests, 0);
		atomic_store(&pl->replaced, 0);
		atomic_store(&pl->recycled, 0);
		atomic_store(&pl->expired, 0);
		atomic_store(&pl->interrupted, 0);
		atomic_store(&pl->started, 0);
		pl->stop_fd = p->stop_fd;
		while (atomic_load(&pl->nlive) < pl->min) {
			char err[300], msg[400];
			atomic_fetch_add(&pl->nlive, 1);
			struct wproc *w = proc_start(pl, err, sizeof err);
			if (!w) {
				atomic_fetch_sub(&pl->nlive, 1);
				snprintf(msg, sizeof msg, "pool %s: %s", pl->name, err);
				p->host->log(p->host->ctx, 1, msg);
				break;
			}
			give_back(pl, w);
		}
	}
}

/* Stops every idle worker of every pool (all of them, at the end of a run:
 * no task holds one then). */
static void stop_all(struct plugin *p)
{
	for (size_t i = 0; i < p->npools; i++) {
		struct pool *pl = &p->pools[i];
		pthread_mutex_lock(&pl->mu);
		struct wproc *list = pl->idle;
		pl->idle = NULL;
		atomic_store(&pl->nidle, 0);
		pthread_mutex_unlock(&pl->mu);
		int n = proc_stop_all(list, 1000);
		atomic_fetch_sub(&pl->nlive, n);
		pool_stop_idle(pl, &pl->mux, INT64_MAX, 0, 1000);
	}
}

static void pool_run_end(void *self, int64_t ok, int64_t failed)
{
	struct plugin *p = self;
	(void)ok;
	(void)failed;
	for (size_t i = 0; i < p->npools; i++) {
		struct pool *pl = &p->pools[i];
		long long st = atomic_load(&pl->started), rq = atomic_load(&pl->requests),
			  rp = atomic_load(&pl->replaced), rc = atomic_load(&pl->recycled),
			  ex = atomic_load(&pl->expired), in = atomic_load(&pl->interrupted);
		if (!st && !rq)
			continue;
		struct gbx_buf f = {0};
		char num[200];
		int r = gbx_buf_adds(&f, "\"pool\":");
		r |= gbx_buf_json(&f, pl->name);
		snprintf(num, sizeof num,
			 ",\"started\":%lld,\"requests\":%lld,\"replaced\":%lld,\"recycled\":%lld,"
			 "\"expired\":%lld,\"interrupted\":%lld",
			 st, rq, rp, rc, ex, in);
		r |= gbx_buf_adds(&f, num);
		if (!r)
			p->host->event(p->host->ctx, "pool.summary", NULL, f.p);
		free(f.p);
		char msg[300], tail[64] = "";
		if (in) /* only in a stopped run */
			snprintf(tail, sizeof tail, ", %lld interrupted by the stop", in);
		snprintf(msg, sizeof msg,
			 "pool %s: %lld requests, %lld workers started, %lld replaced, %lld "
			 "recycled, %lld stopped idle%s",
			 pl->name, rq, st, rp, rc, ex, tail);
		p->host->log(p->host->ctx, 0, msg);
	}
	stop_all(p);
}

/* Idle workers past idle_timeout_ms are stopped, down to min. */
static void pool_tick(void *self, const struct gbx_metrics *m)
{
	struct plugin *p = self;
	(void)m;
	int64_t now = mono_ns();
	for (size_t i = 0; i < p->npools; i++) {
		struct pool *pl = &p->pools[i];
		if (pl->idle_timeout_ms <= 0)
			continue;
		int n = pool_stop_idle(pl, pl->multiplex ? &pl->mux : &pl->idle,
				       now - pl->idle_timeout_ms * 1000000, pl->min, 200);
		atomic_fetch_add(&pl->expired, n);
	}
}

int pool_stop_idle(struct pool *pl, struct wproc **list, int64_t older_than_ns, int keep,
		   int64_t grace_ms)
{
	struct wproc *old = NULL;
	int n = 0;
	pthread_mutex_lock(&pl->mu);
	for (struct wproc **pp = list; *pp;) {
		struct wproc *w = *pp;
		if (w->inflight == 0 && w->idle_since_ns <= older_than_ns &&
		    atomic_load(&pl->nlive) - n > keep) {
			*pp = w->next;
			w->closed = 1;
			w->next = old;
			old = w;
			n++;
			atomic_fetch_sub(&pl->nidle, 1);
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&pl->mu);
	if (!n)
		return 0;
	proc_stop_all(old, grace_ms);
	pthread_mutex_lock(&pl->mu);
	atomic_fetch_sub(&pl->nlive, n);
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return n;
}

/* ---- functions for policies ---------------------------------------------- */

static int lua_count(struct plugin *p, const struct gbx_value *a, int n, struct gbx_value *ret,
		     int idle)
{
	if (n < 1 || a[0].type != GBX_STR || !a[0].str) {
		ret->type = GBX_STR;
		ret->str = idle ? "pool.idle: expected a pool name" : "pool.size: expected a pool name";
		return -1;
	}
	struct pool *pl = pool_find(p, a[0].str);
	if (!pl) {
		ret->type = GBX_NIL;
		return 0;
	}
	ret->type = GBX_NUM;
	ret->num = idle ? atomic_load(&pl->nidle) : atomic_load(&pl->nlive);
	return 0;
}

/* pool.idle(name): idle workers; nil for an unknown pool. Under the engine's
 * lock: reads atomics only. */
static int lua_idle(void *self, const struct gbx_value *a, int n, struct gbx_value *ret)
{
	return lua_count(self, a, n, ret, 1);
}

/* pool.size(name): live workers (idle or busy); nil for an unknown pool. */
static int lua_size(void *self, const struct gbx_value *a, int n, struct gbx_value *ret)
{
	return lua_count(self, a, n, ret, 0);
}

static void plugin_free(struct plugin *p)
{
	if (!p)
		return;
	stop_all(p);
	for (size_t i = 0; i < p->npools; i++) {
		struct pool *pl = &p->pools[i];
		for (size_t j = 0; pl->cmd && pl->cmd[j]; j++)
			free(pl->cmd[j]);
		free(pl->cmd);
		free(pl->match);
		free(pl->name);
		pthread_mutex_destroy(&pl->mu);
		pthread_cond_destroy(&pl->cv);
	}
	free(p->pools);
	while (p->tbufs) {
		struct tbuf *b = p->tbufs;
		p->tbufs = b->next;
		free(b->req.p);
		free(b->line.p);
		free(b->out.p);
		free(b);
	}
	pthread_mutex_destroy(&p->tb_mu);
	free(p);
}

static int pool_init(const struct gbx_host *host, const char *config_json, void **self,
		     char *err, size_t errlen)
{
	struct plugin *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->host = host;
	p->serial = atomic_fetch_add(&next_serial, 1);
	p->has_stop = GBX_HOST_HAS(host, stop_fd) && host->stopping && host->stop_fd;
	p->stop_fd = -1;
	pthread_mutex_init(&p->tb_mu, NULL);
	const char *pools = gbx_json_member(config_json, "pools");
	const char *it = NULL, *v;
	char name[128];
	size_t n = 0;
	while ((v = gbx_json_next_member(pools, &it, name, sizeof name)))
		n++;
	if (pools && !it) {
		snprintf(err, errlen, "pools: expected an object of pools by name");
		goto fail;
	}
	p->pools = calloc(n ? n : 1, sizeof *p->pools);
	if (!p->pools) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	it = NULL;
	while ((v = gbx_json_next_member(pools, &it, name, sizeof name))) {
		struct pool *pl = &p->pools[p->npools++];
		pl->stop_fd = -1;
		pthread_mutex_init(&pl->mu, NULL);
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&pl->cv, &ca);
		pthread_condattr_destroy(&ca);
		pl->name = strdup(name);
		if (!pl->name) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (pool_read(pl, v, err, errlen))
			goto fail;
		p->any_match |= pl->match != NULL;
	}
	if (host->lua_fn(host->ctx, "pool", "idle", lua_idle, p) ||
	    host->lua_fn(host->ctx, "pool", "size", lua_size, p)) {
		snprintf(err, errlen, "cannot register pool.idle/pool.size for policies");
		goto fail;
	}
	*self = p;
	return 0;
fail:
	plugin_free(p);
	return -1;
}

static void pool_fini(void *self)
{
	plugin_free(self);
}

static const char *const config_keys[] = {"pools", NULL};
static const char *const task_fields[] = {"pool", NULL};

GBX_PLUGIN_EXPORT = {
    .abi_major = GBX_PLUGIN_ABI_MAJOR,
    .abi_minor = GBX_PLUGIN_ABI_MINOR,
    .name = "pool",
    .version = "0.1.0",
    .description = "warm persistent workers (Bazel's JSON worker protocol) instead of a process per task",
    .config_keys = config_keys,
    .task_fields = task_fields,
    .init = pool_init,
    .fini = pool_fini,
    .run_start = pool_run_start,
    .run_end = pool_run_end,
    .before_task = pool_before,
    .tick = pool_tick,
    .tick_ms = 1000,
};
