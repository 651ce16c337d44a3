/* retry.c - what follows a failed attempt: the retry decision (the retry
 * policy's, with its changes for the next attempt, else the built-in
 * backoff), a lost node's attempt going back to the queue, and load
 * shedding. All under e->mu.
 */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

#include "nodes.h"
#include "resrun.h"

/* Built-in retry: `retries` attempts more, backoff base * 2^(attempt-1), capped. */
static int builtin_retry(struct engine *e, const struct task *t, int64_t *delay)
{
	if (t->attempts > (unsigned)t->spec->retries)
		return 0;
	int64_t d = e->o.retry_base_ms;
	for (unsigned k = 1; k < t->attempts && d < e->o.retry_cap_ms; k++)
		d *= 2;
	*delay = d > e->o.retry_cap_ms ? e->o.retry_cap_ms : d;
	return 1;
}

/* Whether to retry a failed attempt, and after how long: the retry policy's
 * decision (with its changes for the next attempt), else the built-in one. */
int decide_retry(struct engine *e, struct task *t, const struct attempt *a, int64_t *delay)
{
	if (!e->o.policy || !policy_has(e->o.policy, POL_RETRY))
		return builtin_retry(e, t, delay);
	struct policy_failure f = {fail_kind_name(a->fkind), a->exit_code, a->sig,
				   (double)(a->end_ns - a->start_ns) / 1e6, a->msg[0] ? a->msg : NULL};
	struct policy_changes chg;
	memset(&chg, 0, sizeof chg);
	int r = policy_retry(e->o.policy, t, &f, t->attempts, &e->pstats, delay, &chg);
	if (r < 0)
		return builtin_retry(e, t, delay);
	if (r == 0)
		return 0;
	if (chg.has_timeout) /* the workload's own bound: 30 days */
		t->timeout_ms = chg.timeout_ms > 2592000000LL ? 2592000000LL : chg.timeout_ms;
	if (chg.has_priority)
		t->priority = chg.priority;
	if (chg.has_need && e->res)
		res_override(e->res, (uint32_t)(t - e->wl->tasks), &chg.need);
	if (*delay > 3600000)
		*delay = 3600000; /* a policy cannot park a task for more than an hour */
	return 1;
}

#ifndef GBX_BENCH_NO_NODES
/* Under e->mu: the attempt's node was lost (nodes.c). The task is not to
 * blame: it goes back to the ready queue at once, and the attempt does not
 * count against its retries unless the config says so. With no node left
 * the run halts. Returns 1 when the task will not run again in this run. */
__attribute__((cold, noinline)) int node_lost(struct engine *e, uint32_t idx,
						 struct attempt *a)
{
	struct task *t = &e->wl->tasks[idx];
	e->n_lost++;
	if (!nodes_alive(e->o.nodes)) {
		if (!e->halted && !e->o.quiet)
			fprintf(stderr, "gearbox: halting: no node is left (%s)\n", a->msg);
		e->halted = 1;
		t->state = ST_WAITING;
		if (!e->stopping)
			stop_workers(e, STOP_SOON);
		return 1;
	}
	if (e->stopping) {
		t->state = ST_WAITING;
		return 1;
	}
	if (e->o.lost_uses_retries)
		return -1; /* a failure like any other: the retry decision says */
	t->attempts--; /* its retries are untouched */
	make_ready(e, idx, now_ns());
	if (e->idle)
		pthread_cond_signal(&e->cv);
	return 0;
}
#endif

/* Under e->mu, with `shed` configured: a task just taken that sits under
 * shed.below_priority and waited in the ready queue longer than
 * shed.queue_wait_ms is dropped: a final failure of kind "shed" (no retry),
 * in the journal as failed, so --resume runs it. Returns 1 when dropped. */
int shed_drop(struct engine *e, struct worker *w, uint32_t idx)
{
	struct task *t = &e->wl->tasks[idx];
	if (t->priority >= e->o.shed_below)
		return 0;
	int64_t now = now_ns(), waited = now - t->ready_ns;
	if (waited <= e->o.shed_wait_ms * 1000000)
		return 0;
	static struct spool empty; /* read only: a zero spool is empty */
	struct attempt a;
	attempt_reset(&a);
	a.fkind = FK_SHED;
	a.exit_code = -1;
	a.start_ns = a.end_ns = now;
	a.out = a.err = &empty;
	snprintf(a.msg, sizeof a.msg, "waited %lld ms in the queue (shed.queue_wait_ms %lld) "
		 "at priority %d (below %d)", (long long)(waited / 1000000),
		 (long long)e->o.shed_wait_ms, t->priority, e->o.shed_below);
	e->n_shed++;
	complete(e, w, idx, &a);
	return 1;
}
