/* empty_hooks.c - before_task and after_task that do nothing: what the hook
 * machinery itself costs per task, for tests and benchmarks. No init: a
 * plugin that needs no state need not have one. */
#include <gearbox/plugin.h>

static void empty_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	(void)self;
	(void)t;
	(void)ans;
}

static void empty_after(void *self, const gbx_task *t, const struct gbx_result *r)
{
	(void)self;
	(void)t;
	(void)r;
}

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "empty_hooks",
	.version = "0.1.0",
	.description = "test: empty before_task and after_task",
	.before_task = empty_before,
	.after_task = empty_after,
};
