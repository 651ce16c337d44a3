/* hostcalls.c - calls every host function (ABI 1.5) from every hook, from a Lua
 * function a policy calls, and from a thread of its own, to check the
 * threading contract in plugin.h (T1-T5) under ThreadSanitizer
 * (tests/integration/t_tsan.sh). Each task is deferred once (delay 0) and
 * keeps state in task_data, so the deferral and task_free paths run too. It
 * takes a mutex of its own around its counters and calls host functions
 * while holding it (T5).
 */
#include <gearbox/plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hc {
	const struct gbx_host *h;
	pthread_mutex_t mu;     /* ours: held while calling the host (T5) */
	int64_t calls;          /* under mu */
	pthread_t th;
	atomic_int quit, th_on;
};

/* Every host function that needs no task. */
static void plain_calls(struct hc *p, const char *where)
{
	const struct gbx_host *h = p->h;
	char msg[128];
	pthread_mutex_lock(&p->mu);
	p->calls++;
	snprintf(msg, sizeof msg, "%s: %.0f", where, h->now_ms(h->ctx) < 0 ? -1.0 : 0.0);
	h->log(h->ctx, 0, msg);
	h->event(h->ctx, "hostcalls.call", NULL, "\"where\":\"plain\"");
	(void)h->config_dir(h->ctx);
	(void)h->stopping(h->ctx);
	(void)h->stop_fd(h->ctx);
	struct gbx_count c[8];
	h->counter_set(h->ctx, "calls", p->calls);
	(void)h->counters(h->ctx, c, 8);
	pthread_mutex_unlock(&p->mu);
}

/* Every task accessor, and task_data when allowed. */
static void task_calls(struct hc *p, const gbx_task *t, int data)
{
	const struct gbx_host *h = p->h;
	size_t len = 0;
	const char *id = h->task_id(t);
	(void)h->task_kind(t);
	(void)h->task_target(t);
	(void)h->task_argv(t);
	(void)h->task_sh(t);
	(void)h->task_env(t);
	(void)h->task_cwd(t);
	(void)h->task_stdin(t, &len);
	(void)h->task_inputs(t);
	(void)h->task_outputs(t);
	(void)h->task_cache(t);
	(void)h->task_attempt(t);
	(void)h->task_timeout_ms(t);
	(void)h->task_priority(t);
	free(h->task_field_json(t, "meta"));
	(void)h->task_slot(t);
	(void)h->task_wait_ms(t);
	(void)h->task_start_ms(h->ctx, t);
	(void)h->task_deferrals(t);
	if (data) {
		void **d = h->task_data(h->ctx, t);
		if (d && !*d)
			*d = strdup(id);
	}
	h->event(h->ctx, "hostcalls.task", t, NULL);
}

static void *own_thread(void *arg)
{
	struct hc *p = arg;
	while (!atomic_load(&p->quit)) {
		plain_calls(p, "thread");
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int poke(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	struct hc *p = self;
	plain_calls(p, "lua");
	if (nargs > 0 && args[0].type == GBX_TASK)
		task_calls(p, args[0].task, 0);
	ret->type = GBX_NUM;
	ret->num = 0;
	return 0;
}

static int init(const struct gbx_host *h, const char *cfg, void **self, char *err, size_t errlen)
{
	(void)cfg;
	if (!GBX_HOST_HAS(h, counters)) {
		snprintf(err, errlen, "needs ABI 1.5");
		return -1;
	}
	struct hc *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->h = h;
	pthread_mutex_init(&p->mu, NULL);
	*self = p;
	plain_calls(p, "init");
	return h->lua_fn(h->ctx, "hostcalls", "poke", poke, p);
}

static void fini(void *self)
{
	struct hc *p = self;
	plain_calls(p, "fini");
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void run_start(void *self, int64_t n)
{
	(void)n;
	struct hc *p = self;
	plain_calls(p, "run_start");
	if (pthread_create(&p->th, NULL, own_thread, p) == 0)
		atomic_store(&p->th_on, 1);
}

static void run_end(void *self, int64_t ok, int64_t failed)
{
	(void)ok, (void)failed;
	struct hc *p = self;
	atomic_store(&p->quit, 1);
	if (atomic_load(&p->th_on))
		pthread_join(p->th, NULL);
	plain_calls(p, "run_end");
}

static void run_summary(void *self, const struct gbx_summary *s)
{
	(void)s;
	plain_calls(self, "run_summary");
}

static void tick(void *self, const struct gbx_metrics *m)
{
	(void)m;
	plain_calls(self, "tick");
}

static double attempt_sample(void *self)
{
	plain_calls(self, "attempt_sample");
	return 1;
}

static int validate_run(void *self, const struct gbx_run_info *ri, char *err, size_t errlen)
{
	(void)ri, (void)err, (void)errlen;
	plain_calls(self, "validate_run");
	return 0;
}

static void before_task(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct hc *p = self;
	plain_calls(p, "before_task");
	task_calls(p, t, 1);
	if (p->h->task_deferrals(t) == 0)
		ans->verdict = GBX_DEFER; /* once, delay 0: the next tick */
}

static void after_attempt(void *self, const struct gbx_attempt *a)
{
	struct hc *p = self;
	plain_calls(p, "after_attempt");
	if (a->task)
		task_calls(p, a->task, 1);
}

static void task_free(void *self, const gbx_task *t, void *data)
{
	struct hc *p = self;
	plain_calls(p, "task_free");
	(void)p->h->task_id(t);
	(void)p->h->task_deferrals(t);
	free(data);
}

static int kind_validate(void *self, const gbx_task *t, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	plain_calls(self, "validate");
	task_calls(self, t, 0);
	return 0;
}

static int kind_run(void *self, const gbx_task *t, struct gbx_result *res)
{
	plain_calls(self, "run");
	task_calls(self, t, 1);
	res->ok = 1;
	return 0;
}

static const struct gbx_kind kinds[] = {
	{.name = "hostcalls", .validate = kind_validate, .run = kind_run},
	{.name = NULL},
};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "hostcalls",
	.version = "0.1.0",
	.description = "test: every host function from every hook, a Lua function and a thread",
	.init = init,
	.fini = fini,
	.run_start = run_start,
	.run_end = run_end,
	.before_task = before_task,
	.tick = tick,
	.tick_ms = 5,
	.kinds = kinds,
	.run_summary = run_summary,
	.after_attempt = after_attempt,
	.attempt_sample = attempt_sample,
	.validate_run = validate_run,
	.task_free = task_free,
};
