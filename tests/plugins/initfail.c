/* initfail.c - a plugin whose init fails: the run must stop before any task
 * starts, with the plugin's own message. Its hooks must never be called. */
#include <gearbox/plugin.h>

#include <stdio.h>
#include <stdlib.h>

static int initfail_init(const struct gbx_host *host, const char *config_json, void **self,
			 char *err, size_t errlen)
{
	(void)host;
	(void)config_json;
	(void)self;
	snprintf(err, errlen, "cannot reach the license server");
	return -1;
}

static void initfail_fini(void *self)
{
	(void)self;
	abort(); /* fini after a failed init is a loader bug */
}

static void initfail_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	(void)self;
	(void)t;
	(void)ans;
	abort();
}

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "initfail",
	.version = "0.1.0",
	.description = "test: init fails",
	.init = initfail_init,
	.fini = initfail_fini,
	.before_task = initfail_before,
};
