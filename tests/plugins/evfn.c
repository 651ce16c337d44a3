/* evfn.c - a test plugin whose Lua function writes an event: a policy that
 * calls evfn.ping() runs under the engine's lock, so the event path must not
 * take that lock again (it once deadlocked). */
#include <gearbox/plugin.h>

static const struct gbx_host *host;

static int ping(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	(void)self;
	(void)args;
	(void)nargs;
	host->event(host->ctx, "evfn.ping", NULL, "\"from\":\"lua\"");
	ret->type = GBX_NUM;
	ret->num = 1;
	return 0;
}

static int init(const struct gbx_host *h, const char *config_json, void **self, char *err,
		size_t errlen)
{
	(void)config_json;
	(void)err;
	(void)errlen;
	host = h;
	*self = NULL;
	return h->lua_fn(h->ctx, "evfn", "ping", ping, NULL);
}

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "evfn",
	.version = "0.1.0",
	.description = "test: a Lua function that writes an event",
	.init = init,
};
