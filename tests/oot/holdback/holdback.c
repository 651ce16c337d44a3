/* holdback.c - an out-of-tree plugin built only from the installed SDK
 * (tests/integration/t_sdk_oot.sh builds it with pkg-config, as a user
 * would). It exercises the ABI 1.4 additions a plugin author asked for:
 *
 *  - deferral with per-task state: each task of `target` is deferred `defer`
 *    times (delay `delay_ms`, 0: the engine's next tick) before it may run;
 *    the count lives in host->task_data, freed by task_free, and is checked
 *    against host->task_deferrals at every call;
 *  - validate_run: warns when no task has `target`, refuses the run when
 *    `strict` is set too;
 *  - the stop flag: the task named `block` waits in before_task on
 *    host->stop_fd() (at most `block_ms`), then answers a failure with a
 *    message;
 *  - the message of an answered failure (`fail` names a task to answer so).
 *
 * Events: holdback.free {"mine":N,"host":N} when a task's state is freed,
 * holdback.mismatch when the host's count and ours disagree,
 * holdback.blocking when the blocking task starts to wait.
 */
#include <gearbox/plugin.h>
#include <gearbox/plugin_buf.h>
#include <gearbox/plugin_config.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hb {
	const struct gbx_host *h;
	int64_t defer, delay_ms, block_ms;
	int strict;
	char target[128], block[128], fail[128];
};

struct tstate {
	int mine; /* deferrals this plugin gave the task */
};

static const char *const keys[] = {"defer", "delay_ms", "target", "strict", "block", "block_ms",
				   "fail", NULL};

static int init(const struct gbx_host *h, const char *cfg, void **self, char *err, size_t errlen)
{
	if (h->abi_minor < 4 || !GBX_HOST_HAS(h, stop_fd)) {
		snprintf(err, errlen, "needs a gearbox with plugin ABI 1.4 (this one has 1.%u)",
			 (unsigned)h->abi_minor);
		return -1;
	}
	struct hb *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->h = h;
	p->defer = 2;
	p->block_ms = 20000;
	if (gbx_cfg_int(cfg, "defer", 0, 1000, &p->defer, err, errlen) < 0 ||
	    gbx_cfg_int(cfg, "delay_ms", 0, 60000, &p->delay_ms, err, errlen) < 0 ||
	    gbx_cfg_int(cfg, "block_ms", 0, 600000, &p->block_ms, err, errlen) < 0 ||
	    gbx_cfg_string(cfg, "target", p->target, sizeof p->target, err, errlen) < 0 ||
	    gbx_cfg_string(cfg, "block", p->block, sizeof p->block, err, errlen) < 0 ||
	    gbx_cfg_string(cfg, "fail", p->fail, sizeof p->fail, err, errlen) < 0 ||
	    gbx_cfg_bool(cfg, "strict", &p->strict, err, errlen) < 0) {
		free(p);
		return -1;
	}
	*self = p;
	return 0;
}

static void fini(void *self)
{
	free(self);
}

static int validate_run(void *self, const struct gbx_run_info *ri, char *err, size_t errlen)
{
	struct hb *p = self;
	if (!p->target[0])
		return 0;
	for (size_t i = 0; i < ri->ntargets; i++)
		if (!strcmp(ri->targets[i].name, p->target)) {
			char msg[256];
			snprintf(msg, sizeof msg, "holding back %lld of %lld tasks (target %s)",
				 (long long)ri->targets[i].n, (long long)ri->ntasks, p->target);
			p->h->log(p->h->ctx, 0, msg);
			return 0;
		}
	if (p->strict) {
		snprintf(err, errlen, "target \"%s\": no task of the workload has it", p->target);
		return -1;
	}
	char msg[256];
	snprintf(msg, sizeof msg, "target \"%s\": no task of %s has it; this config does nothing",
		 p->target, ri->workload);
	p->h->log(p->h->ctx, 1, msg);
	return 0;
}

static void answer_fail(struct gbx_before *ans, const char *why)
{
	ans->verdict = GBX_ANSWER;
	ans->result.ok = 0;
	ans->result.failure = "error";
	ans->result.exit_code = -1;
	ans->label = "holdback";
	ans->message = why;
}

static void before_task(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct hb *p = self;
	const struct gbx_host *h = p->h;
	const char *id = h->task_id(t);
	if (p->fail[0] && !strcmp(id, p->fail)) {
		answer_fail(ans, "told to fail this one");
		return;
	}
	if (p->block[0] && !strcmp(id, p->block)) {
		h->event(h->ctx, "holdback.blocking", t, NULL);
		struct pollfd pf = {h->stop_fd(h->ctx), POLLIN, 0};
		int r = pf.fd >= 0 ? poll(&pf, 1, (int)p->block_ms) : -1;
		answer_fail(ans, r > 0 && h->stopping(h->ctx) ? "stopped while waiting"
							      : "waited in vain");
		return;
	}
	const char *tg = h->task_target(t);
	if (!tg || strcmp(tg, p->target))
		return;
	void **slot = h->task_data(h->ctx, t);
	if (!slot)
		return;
	struct tstate *st = *slot;
	if (!st) {
		st = calloc(1, sizeof *st);
		if (!st)
			return;
		*slot = st;
	}
	if (h->task_deferrals(t) != st->mine) {
		struct gbx_buf b = {0};
		gbx_buf_addf(&b, "\"mine\":%d,\"host\":%d", st->mine, h->task_deferrals(t));
		h->event(h->ctx, "holdback.mismatch", t, b.oom ? NULL : b.p);
		gbx_buf_free(&b);
	}
	if (st->mine < p->defer) {
		st->mine++;
		ans->verdict = GBX_DEFER;
		ans->delay_ms = p->delay_ms;
	}
}

static void task_free(void *self, const gbx_task *t, void *data)
{
	struct hb *p = self;
	struct tstate *st = data;
	char f[64];
	snprintf(f, sizeof f, "\"mine\":%d,\"host\":%d", st->mine, p->h->task_deferrals(t));
	p->h->event(p->h->ctx, "holdback.free", t, f);
	free(st);
}

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "holdback",
	.version = "0.1.0",
	.description = "test: defers tasks of a target with per-task state; validate_run; stop fd",
	.config_keys = keys,
	.init = init,
	.fini = fini,
	.before_task = before_task,
	.validate_run = validate_run,
	.task_free = task_free,
};
