/* runner.h - how one attempt of a task runs: exec (a subprocess) or sim (in
 * process). A runner runs on a worker thread, outside the engine lock, and
 * fills a struct attempt. It can be asked to stop: the engine sets *stop and
 * writes to wake_fd; the runner then terminates its child (SIGTERM, SIGKILL
 * after the grace period) or cuts its simulated wait short.
 */
#ifndef GBX_RUNNER_H
#define GBX_RUNNER_H

#include <stdatomic.h>
#include <stdint.h>
#include "util.h"
#include "spool.h"
#include "workload.h"
#include "sink.h"

struct cgsys;

/* FK_OOM: killed by the OOM killer inside its cgroup (resources.h); FK_SHED:
 * dropped by load shedding before it started; FK_LOST: the node running it
 * was lost (nodes.c): it runs again, its retries untouched */
enum fail_kind { FK_NONE = 0, FK_EXIT, FK_SIGNAL, FK_TIMEOUT, FK_SPAWN, FK_REJECTED, FK_ERROR,
		 FK_OOM, FK_SHED, FK_LOST };

struct attempt {
	int ok;
	int fkind;              /* enum fail_kind when !ok */
	int exit_code;          /* exit status, or -1 */
	int sig;                /* terminating signal, or 0 */
	int64_t start_ns, end_ns;
	int64_t user_us, sys_us;
	int64_t spawn_ns;       /* time spent starting the subprocess */
	int64_t maxrss_kb;      /* exec: the child's peak resident memory (wait4), 0 unknown */
	int64_t cg_peak_kb;     /* exec under enforce: the cgroup's peak memory, -1 unknown */
	int node;               /* the node that ran it (nodes.c), or -1: this process */
	struct spool *out, *err; /* captured output, owned by the worker, reused (spool.h) */
	char msg[256];          /* why it failed, for spawn and error kinds */
	char label[32];         /* who answered it instead of running it ("cached"), or "" */
};

static inline void attempt_reset(struct attempt *a)
{
	a->ok = 0;
	a->fkind = FK_NONE;
	a->exit_code = 0;
	a->sig = 0;
	a->start_ns = a->end_ns = 0;
	a->user_us = a->sys_us = 0;
	a->spawn_ns = 0;
	a->maxrss_kb = 0;
	a->cg_peak_kb = -1;
	a->node = -1;
	a->out = a->err = NULL;
	a->msg[0] = 0;
	a->label[0] = 0;
}

/* Output that could not be kept (spool.h) fails the attempt, saying why. */
static inline void attempt_check_output(struct attempt *a)
{
	if (a->out && a->err && (a->out->lost || a->err->lost)) {
		a->ok = 0;
		a->fkind = FK_ERROR;
		spool_why(a->out, a->err, a->msg, sizeof a->msg);
	}
}

/* attempt.c: what a plugin's answers make of an attempt, for the engine's
 * workers and the agent's runners alike. A failure kind's name (ABI) as
 * enum fail_kind (FK_ERROR when unknown); a result (a plugin kind's run, or
 * the body of a before hook's answer) into a, its exit code 0 when ok and
 * negative; a before hook's ANSWER (its exit code as given; untimed_start:
 * the start when the answer gives no time, or -1 for its end) or REJECT
 * (named plugin). */
struct gbx_result;
struct gbx_before;
int fail_kind_of(const char *name);
void attempt_take_result(struct attempt *a, const struct gbx_result *r);
void attempt_answered(struct attempt *a, const char *plugin, const struct gbx_before *ans,
		      int64_t untimed_start);
void attempt_rejected(struct attempt *a, const char *plugin, const struct gbx_before *ans);

struct runner_ctx {
	int wake_fd;            /* eventfd: readable when the engine wants attention */
	atomic_int *stop;       /* non-zero: terminate the attempt */
	atomic_int *child;      /* the runner publishes its child's pid here (0: none) */
	int64_t kill_grace_ms;
	int timing;             /* read the clock for a C task's attempt (see engine.c) */
	/* enforce (cgroup.h): set by the engine per attempt; cg NULL: none */
	struct cgsys *cg;
	int64_t lim_mem_kb, lim_cpu_milli;
	char cg_name[48];
	const struct task_sink *sink; /* a front end's, or NULL (sink.h) */
};

void exec_run(const struct task *t, struct runner_ctx *rc, struct attempt *a);
void sim_run(const struct task *t, struct runner_ctx *rc, struct attempt *a);
const char *fail_kind_name(int fk);

#endif
