/* mux.c - multiplex workers: several requests in flight on one worker
 * process, from several engine threads, matched by requestId.
 *
 * A sender takes a worker with a free request slot (mux_acquire, under the
 * pool's mutex), registers its request on the worker's list with a fresh
 * requestId (mux_register), writes it (under the worker's write lock, so
 * lines never interleave) and waits (mux_call). There is no reader thread:
 * whichever waiting sender finds the reader role free takes it, reads lines
 * and hands each answer to the request with that requestId, until its own is
 * answered; then it gives the role up and the next waiter takes it. The
 * reader polls with the earliest deadline of the requests in flight; a
 * sender whose own deadline passes first wakes it through the worker's
 * eventfd. No busy waiting and no sleeps: every wait is a condvar or poll().
 *
 * Failures: EOF, a write that fails, a deadline that passes, a line that is
 * not a response or answers no request in flight doom the worker, and so
 * does the run's stop (the reader polls the host's stop fd; the worker is
 * killed, not replaced, and nothing is reported but the tasks' messages). Only the
 * reader dooms (so only it kills and reaps: the pid is never signalled after
 * it was reaped): it marks the worker dead (nothing more is sent on it),
 * kills its process group and reaps it, fails every request in flight with
 * the same cause, closes the worker for the pool, and reports it once. Each
 * sender then writes its own message. A request is answered at most once: its
 * entry leaves the list when answered or failed, and the worker is dead before
 * anything else is read.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gearbox/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

static void to_timespec(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
}

/* ---- taking and giving back ---------------------------------------------- */

struct wproc *mux_acquire(struct plugin *p, struct pool *pl, int64_t deadline_ns,
			  const char **kind, char *err, size_t errlen)
{
	int waited = 0;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		/* as acquire() in pool.c: a doom broadcasts, the flag is set
		 * before the stop fd turns readable */
		if (waited && pool_stopping(p)) {
			pthread_cond_broadcast(&pl->cv);
			pthread_mutex_unlock(&pl->mu);
			*kind = "stopped";
			snprintf(err, errlen, "pool %s: the run is stopping", pl->name);
			return NULL;
		}
		/* the least busy worker with a free slot: requests spread over
		 * the live workers before a new one is started */
		struct wproc *best = NULL;
		for (struct wproc *w = pl->mux; w; w = w->next)
			if (w->inflight < pl->max_inflight &&
			    (!best || w->inflight < best->inflight))
				best = w;
		/* no new worker and no wait once the run stops (after a wait,
		 * the check at the top) */
		if (!best && !waited && pool_stopping(p)) {
			waited = 1; /* gives up at the top of the loop */
			continue;
		}
		if (!best && atomic_load(&pl->nlive) < pl->max) {
			atomic_fetch_add(&pl->nlive, 1);
			pthread_mutex_unlock(&pl->mu);
			char why[256];
			struct wproc *w = proc_start(pl, why, sizeof why);
			pthread_mutex_lock(&pl->mu);
			if (!w) {
				atomic_fetch_sub(&pl->nlive, 1);
				pthread_cond_broadcast(&pl->cv);
				pthread_mutex_unlock(&pl->mu);
				*kind = "spawn";
				snprintf(err, errlen, "pool %s: %s", pl->name, why);
				return NULL;
			}
			w->next = pl->mux;
			pl->mux = w;
			atomic_fetch_add(&pl->nidle, 1);
			best = w;
			/* its other slots are free for those who waited meanwhile */
			pthread_cond_broadcast(&pl->cv);
		}
		if (best) {
			if (best->inflight++ == 0)
				atomic_fetch_sub(&pl->nidle, 1);
			if (pl->max_requests > 0 && ++best->nsent >= pl->max_requests) {
				/* its last request: no more are given to it; the
				 * last sender out stops it */
				for (struct wproc **pp = &pl->mux; *pp; pp = &(*pp)->next)
					if (*pp == best) {
						*pp = best->next;
						break;
					}
				best->closed = 1;
			}
			pthread_mutex_unlock(&pl->mu);
			return best;
		}
		waited = 1;
		if (!deadline_ns) {
			pthread_cond_wait(&pl->cv, &pl->mu);
			continue;
		}
		struct timespec ts;
		to_timespec(deadline_ns, &ts);
		if (pthread_cond_timedwait(&pl->cv, &pl->mu, &ts) == ETIMEDOUT &&
		    mono_ns() >= deadline_ns) {
			pthread_mutex_unlock(&pl->mu);
			*kind = "timeout";
			snprintf(err, errlen,
				 "pool %s: no worker free within the task's timeout (%d busy "
				 "with %d requests each)",
				 pl->name, pl->max, pl->max_inflight);
			return NULL;
		}
	}
}

int mux_release(struct pool *pl, struct wproc *w)
{
	pthread_mutex_lock(&pl->mu);
	w->inflight--;
	if (!w->closed) {
		if (w->inflight == 0) {
			w->idle_since_ns = mono_ns();
			atomic_fetch_add(&pl->nidle, 1);
		}
		pthread_cond_signal(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		return 0;
	}
	int last = w->inflight == 0;
	pthread_mutex_unlock(&pl->mu);
	if (!last)
		return 0;
	if (w->reaped) { /* doomed: its place was given back then */
		proc_free(w);
		return 0;
	}
	w->next = NULL; /* max_requests: let it finish and exit */
	proc_stop_all(w, 500);
	atomic_fetch_add(&pl->recycled, 1);
	pthread_mutex_lock(&pl->mu);
	atomic_fetch_sub(&pl->nlive, 1);
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	return 1;
}

/* ---- the doom ------------------------------------------------------------ */

static int count_reqs(const struct wproc *w)
{
	int n = 0;
	for (const struct mreq *r = w->reqs; r; r = r->next)
		n += !r->unsent;
	return n;
}

/* "did not answer task t1 within 300 ms" and the like, for messages. */
static void problem(const struct wproc *w, char *buf, size_t len)
{
	if (!strcmp(w->why, "idle"))
		snprintf(buf, len, "%s while idle", w->how);
	else if (!strcmp(w->why, "stopped"))
		snprintf(buf, len, "killed: the run is stopping");
	else if (!strcmp(w->why, "timeout"))
		snprintf(buf, len, "did not answer task %s within %lld ms", w->culprit,
			 (long long)w->culprit_ms);
	else if (!strcmp(w->why, "died"))
		snprintf(buf, len, "%s", w->how);
	else if (!strcmp(w->why, "too long"))
		snprintf(buf, len, "wrote a line too long for a response");
	else if (!strcmp(w->why, "malformed"))
		snprintf(buf, len, "wrote a malformed line");
	else
		snprintf(buf, len, "wrote a response with an unknown requestId");
}

static const char *verdict(const struct wproc *w)
{
	int gone = !strcmp(w->why, "died") || !strcmp(w->why, "idle");
	return gone ? "replaced" : "killed and replaced";
}

/* Under w->mu, by the reader: the worker is done for. Fails every request in
 * flight with why, reaps the process, gives its place back to the pool and
 * reports it. Returns with w->mu held. */
static void doom(struct plugin *p, struct pool *pl, struct wproc *w, const char *why)
{
	w->dead = 1; /* nothing more is registered on it */
	w->why = why;
	w->doom_ns = mono_ns();
	pid_t pid = w->pid;
	pthread_mutex_unlock(&w->mu);
	char how[64];
	proc_end(w, how, sizeof how);
	pthread_mutex_lock(&w->mu);
	snprintf(w->how, sizeof w->how, "%s", how);
	w->ndoomed = count_reqs(w);

	int stop = !strcmp(why, "stopped");
	/* the report, while the task ids are still borrowed from waiting senders */
	char pb[256], msg[900];
	problem(w, pb, sizeof pb);
	struct gbx_buf f = {0}, ids = {0};
	int r = 0;
	for (struct mreq *q = w->reqs; q; q = q->next)
		if (!q->unsent) {
			r |= gbx_buf_adds(&ids, ids.len ? ", " : "");
			r |= gbx_buf_adds(&ids, q->task_id);
			r |= gbx_buf_adds(&f, f.len ? "," : "");
			r |= gbx_buf_json(&f, q->task_id);
		}
	if (w->ndoomed)
		snprintf(msg, sizeof msg,
			 "pool %s: worker %ld %s with %d request%s in flight (task%s %s)"
			 "%s%.120s%s; %s",
			 pl->name, (long)pid, pb, w->ndoomed, w->ndoomed == 1 ? "" : "s",
			 w->ndoomed == 1 ? "" : "s", ids.p && !r ? ids.p : "?",
			 w->what[0] ? ": " : "", w->what, strlen(w->what) > 120 ? "..." : "",
			 verdict(w));
	else
		snprintf(msg, sizeof msg, "pool %s: worker %ld %s; %s", pl->name, (long)pid, pb,
			 verdict(w));
	free(ids.p);
	char *tasks = r ? NULL : f.p;

	for (struct mreq *q = w->reqs; q; q = q->next) {
		q->done = 1;
		q->failed = 1;
	}
	w->reqs = NULL;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);

	pthread_mutex_lock(&pl->mu);
	if (!w->closed) {
		for (struct wproc **pp = &pl->mux; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		w->closed = 1;
	}
	atomic_fetch_sub(&pl->nlive, 1); /* reaped: a new one may start */
	pthread_cond_broadcast(&pl->cv);
	pthread_mutex_unlock(&pl->mu);
	if (stop) { /* not replaced: each task's message says it */
		atomic_fetch_add(&pl->interrupted, w->ndoomed);
	} else {
		atomic_fetch_add(&pl->replaced, 1);
		pool_replaced(p, pl, NULL, pid, !strcmp(why, "too long") ? "malformed" : why, msg,
			      tasks);
	}
	free(f.p);
	pthread_mutex_lock(&w->mu);
}

/* The sender's own message for a request that failed with its worker.
 * Returns the failure kind. */
static const char *failure(const struct pool *pl, const struct wproc *w, const struct mreq *r,
			   char *err, size_t errlen)
{
	char pb[256], n[48];
	snprintf(n, sizeof n, "%d request%s in flight", w->ndoomed, w->ndoomed == 1 ? "" : "s");
	if (!strcmp(w->why, "stopped")) {
		/* the attempt's message (no newline): see stopped() in pool.c */
		snprintf(err, errlen,
			 "worker %ld of pool %s killed: the run is stopping (task %s had no answer "
			 "yet; %s)",
			 (long)w->pid, pl->name, r->task_id, n);
		return "stopped";
	}
	if (!strcmp(w->why, "timeout") && r->deadline_ns && r->deadline_ns <= w->doom_ns) {
		snprintf(err, errlen,
			 "pool %s: worker %ld did not answer task %s within %lld ms (%s); "
			 "killed and replaced\n",
			 pl->name, (long)w->pid, r->task_id,
			 (long long)(r->deadline_ns - r->t0_ns) / 1000000, n);
		return "timeout";
	}
	problem(w, pb, sizeof pb);
	snprintf(err, errlen, "pool %s: worker %ld %s while running task %s (%s)%s%.120s%s; %s\n",
		 pl->name, (long)w->pid, pb, r->task_id, n, w->what[0] ? ": " : "", w->what,
		 strlen(w->what) > 120 ? "..." : "", verdict(w));
	return "error";
}

/* ---- the reader ---------------------------------------------------------- */

static struct mreq *earliest(const struct wproc *w)
{
	struct mreq *e = NULL;
	for (struct mreq *q = w->reqs; q; q = q->next)
		if (q->deadline_ns && (!e || q->deadline_ns < e->deadline_ns))
			e = q;
	return e;
}

static void cut(char *dst, size_t len, const char *line)
{
	snprintf(dst, len, "%s", line ? line : "");
}

/* Under w->mu, holding the reader role: reads and dispatches lines until r
 * is done (answered by this thread or by doom). */
static void read_until(struct plugin *p, struct pool *pl, struct wproc *w, struct mreq *r)
{
	while (!r->done) {
		struct mreq *e = earliest(w);
		if (w->write_failed) {
			doom(p, pl, w, "died");
			break;
		}
		if (e && e->deadline_ns <= mono_ns()) {
			cut(w->culprit, sizeof w->culprit, e->task_id);
			w->culprit_ms = (e->deadline_ns - e->t0_ns) / 1000000;
			doom(p, pl, w, "timeout");
			break;
		}
		int64_t until = e ? e->deadline_ns : 0;
		pthread_mutex_unlock(&w->mu);
		int rc = proc_read_line(w, &w->line, until);
		int64_t id = 0;
		int code = 0;
		int bad = rc == 0 ? proto_response(w->line.p, &id, &code) : 0;
		pthread_mutex_lock(&w->mu);
		if (rc == -5) {
			doom(p, pl, w, "stopped");
			break;
		}
		if (rc == -2 || rc == -4)
			continue; /* a deadline: checked above */
		if (rc == -1) {
			doom(p, pl, w, "died");
			break;
		}
		if (rc == -3) {
			doom(p, pl, w, "too long");
			break;
		}
		struct mreq **pp = &w->reqs;
		while (!bad && *pp && ((*pp)->id != id || (*pp)->unsent))
			pp = &(*pp)->next;
		if (bad || !*pp) {
			cut(w->what, sizeof w->what, w->line.p);
			doom(p, pl, w, bad ? "malformed" : "unknown requestId");
			break;
		}
		/* off the list first: it cannot be answered twice, nor timed
		 * out while its output is decoded outside the lock */
		struct mreq *q = *pp;
		*pp = q->next;
		w->nreq++;
		pthread_mutex_unlock(&w->mu);
		int dec = proto_output(w->line.p, q->out);
		pthread_mutex_lock(&w->mu);
		if (dec) {
			/* a bad string in "output": the whole line is garbage */
			q->next = w->reqs;
			w->reqs = q;
			w->nreq--;
			cut(w->what, sizeof w->what, w->line.p);
			doom(p, pl, w, "malformed");
			break;
		}
		q->code = code;
		q->done = 1;
		if (q != r)
			pthread_cond_broadcast(&w->cv);
	}
}

/* ---- one request --------------------------------------------------------- */

int mux_register(struct plugin *p, struct pool *pl, struct wproc *w, struct mreq *r)
{
	pthread_mutex_lock(&w->mu);
	if (!w->dead && !w->reqs && !w->reading && proc_broken(w)) {
		/* it exited or talked while nothing was in flight: nobody
		 * fails; replace it (but say so) */
		w->reading = 1;
		doom(p, pl, w, "idle");
		w->reading = 0;
	}
	if (w->dead) {
		pthread_mutex_unlock(&w->mu);
		return -1;
	}
	r->id = ++w->next_id;
	r->done = r->failed = r->code = r->unsent = 0;
	/* a new worker's start-up is not charged to its first requests */
	if (r->deadline_ns && w->nreq == 0) {
		int64_t left = w->started_ns + pl->startup_timeout_ms * 1000000 - r->t0_ns;
		r->deadline_ns += left > 0 ? left : 0;
	}
	r->next = w->reqs;
	w->reqs = r;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int mux_call(struct plugin *p, struct pool *pl, struct wproc *w, struct mreq *r,
	     const char *req, size_t len, const char **kind, char *err, size_t errlen)
{
	pthread_mutex_lock(&w->wmu);
	int wr = proc_write(w, req, len, r->deadline_ns);
	pthread_mutex_unlock(&w->wmu);
	pthread_mutex_lock(&w->mu);
	if (wr == -1 && !r->done) {
		/* it is gone (or closed its stdin): the request never got
		 * there; the reader dooms the worker and this one is sent
		 * elsewhere */
		r->unsent = 1;
		w->write_failed = 1;
		proc_wake(w);
	} else if (wr == -2 || wr == -5) {
		proc_wake(w); /* its deadline passed, or the run stops, while writing */
	}
	int woke = 0;
	while (!r->done) {
		if (!w->reading) {
			w->reading = 1;
			read_until(p, pl, w, r);
			w->reading = 0;
			pthread_cond_broadcast(&w->cv); /* the next waiter reads */
			break;
		}
		if (r->deadline_ns && !woke) {
			struct timespec ts;
			to_timespec(r->deadline_ns, &ts);
			if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT && !r->done &&
			    mono_ns() >= r->deadline_ns) {
				woke = 1; /* the reader may be polling for longer */
				proc_wake(w);
			}
		} else {
			pthread_cond_wait(&w->cv, &w->mu);
		}
	}
	int rc = 0;
	if (r->failed)
		rc = r->unsent ? -1 : (*kind = failure(pl, w, r, err, errlen), 1);
	pthread_mutex_unlock(&w->mu);
	return rc;
}
