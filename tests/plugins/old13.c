/* old13.c - a plugin as it was built against ABI 1.3: its descriptor has the
 * 1.3 layout (no validate_run, no task_free after attempt_sample) and says
 * abi_minor 3, so a 1.4 host must read nothing past attempt_sample (under
 * ASan a read past this descriptor is a global-buffer-overflow). It defers
 * task "x" once with delay 0, answers task "y" with a failure, and reads the
 * run summary only as far as 1.3 knew it. */
#include <gearbox/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* struct gbx_plugin as of ABI 1.3 */
struct gbx_plugin_1_3 {
	uint32_t abi_major, abi_minor;
	const char *name, *version, *description;
	const char *const *config_keys;
	const char *const *task_fields;
	int (*init)(const struct gbx_host *host, const char *config_json, void **self, char *err,
		    size_t errlen);
	void (*fini)(void *self);
	void (*run_start)(void *self, int64_t ntasks);
	void (*run_end)(void *self, int64_t ok, int64_t failed);
	void (*before_task)(void *self, const gbx_task *t, struct gbx_before *ans);
	void (*after_task)(void *self, const gbx_task *t, const struct gbx_result *r);
	void (*tick)(void *self, const struct gbx_metrics *m);
	int64_t tick_ms;
	const struct gbx_kind *kinds;
	int (*command)(void *self, int argc, char **argv);
	void (*run_summary)(void *self, const struct gbx_summary *s);
	void (*after_attempt)(void *self, const struct gbx_attempt *a);
	double (*attempt_sample)(void *self);
};

static const struct gbx_host *host;
static atomic_int deferred;

static int init(const struct gbx_host *h, const char *cfg, void **self, char *err, size_t errlen)
{
	(void)cfg, (void)err, (void)errlen;
	host = h;
	*self = NULL;
	return 0;
}

static void before_task(void *self, const gbx_task *t, struct gbx_before *ans)
{
	(void)self;
	const char *id = host->task_id(t);
	if (!strcmp(id, "x") && !atomic_exchange(&deferred, 1)) {
		ans->verdict = GBX_DEFER; /* delay 0: meant "at once" in 1.3; now the next tick */
	} else if (!strcmp(id, "y")) {
		ans->verdict = GBX_ANSWER;
		ans->result.ok = 0;
		ans->result.failure = "error";
		ans->result.exit_code = -1;
		ans->label = "old13";
	}
}

static void run_summary(void *self, const struct gbx_summary *s)
{
	(void)self;
	char msg[128];
	snprintf(msg, sizeof msg, "summary: %lld tasks, %lld ok, %lld failed", (long long)s->tasks,
		 (long long)s->ok, (long long)s->failed);
	host->log(host->ctx, 0, msg);
}

__attribute__((visibility("default"))) const struct gbx_plugin_1_3 gbx_plugin_descriptor = {
	.abi_major = 1,
	.abi_minor = 3,
	.name = "old13",
	.version = "0.1.0",
	.description = "test: a plugin built against ABI 1.3",
	.init = init,
	.before_task = before_task,
	.run_summary = run_summary,
};
