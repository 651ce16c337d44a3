/* template.c - a gearbox plugin to copy and start from.
 *
 * It shows every piece a plugin has: the descriptor (the only exported
 * symbol), a config key ("greeting"), init/fini, run_start/run_end on the
 * main thread, and before_task/after_task on worker threads, which here write
 * one event each ("template.before", "template.after") through the host.
 *
 * Rename it: the file must be NAME.so and the descriptor's name NAME, and
 * NAME is the key under "plugins" in the config. It depends on nothing but
 * the SDK headers and libc: config_json is read with <gearbox/plugin_json.h>,
 * a header-only reader (no JSON library to link).
 */
#include <gearbox/plugin.h>
#include <gearbox/plugin_config.h> /* typed config reading (on plugin_json.h) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct template {
	const struct gbx_host *host; /* valid until fini returns */
	char greeting[256];
};

/* ---- hooks ---------------------------------------------------------------- */

static int template_init(const struct gbx_host *host, const char *config_json, void **self,
			 char *err, size_t errlen)
{
	struct template *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->host = host;
	strcpy(t->greeting, "hello");
	/* 1 read, 0 absent (the default stays), -1 with "greeting: expected ..." in err */
	if (gbx_cfg_string(config_json, "greeting", t->greeting, sizeof t->greeting, err, errlen) < 0) {
		free(t);
		return -1;
	}
	*self = t;
	return 0;
}

static void template_fini(void *self)
{
	free(self);
}

static void template_run_start(void *self, int64_t ntasks)
{
	struct template *t = self;
	char msg[400];
	snprintf(msg, sizeof msg, "%s: %lld task%s to run", t->greeting, (long long)ntasks,
		 ntasks == 1 ? "" : "s");
	t->host->log(t->host->ctx, 0, msg);
}

static void template_run_end(void *self, int64_t ok, int64_t failed)
{
	struct template *t = self;
	char msg[128];
	snprintf(msg, sizeof msg, "done: %lld ok, %lld failed", (long long)ok, (long long)failed);
	t->host->log(t->host->ctx, 0, msg);
}

/* Worker threads, concurrently: touch nothing shared without a lock. */
static void template_before_task(void *self, const gbx_task *task, struct gbx_before *ans)
{
	struct template *t = self;
	(void)ans; /* left as the host zeroed it: GBX_RUN */
	t->host->event(t->host->ctx, "template.before", task, NULL);
}

static void template_after_task(void *self, const gbx_task *task, const struct gbx_result *r)
{
	struct template *t = self;
	t->host->event(t->host->ctx, "template.after", task, r->ok ? "\"ok\":true" : "\"ok\":false");
}

static const char *const template_config_keys[] = {"greeting", NULL};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "template",
	.version = "0.1.0",
	.description = "a starting point: one event before and after each task",
	.config_keys = template_config_keys,
	.init = template_init,
	.fini = template_fini,
	.run_start = template_run_start,
	.run_end = template_run_end,
	.before_task = template_before_task,
	.after_task = template_after_task,
};
