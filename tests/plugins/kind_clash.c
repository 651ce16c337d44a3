/* kind_clash.c - adds a kind named "hello", like the hello example: loading
 * both must fail naming the two plugins. Also the smallest kind plugin. */
#include <gearbox/plugin.h>

static int clash_run(void *self, const gbx_task *t, struct gbx_result *res)
{
	(void)self;
	(void)t;
	res->ok = 1;
	res->exit_code = 0;
	return 0;
}

static const struct gbx_kind clash_kinds[] = {
	{.name = "hello", .run = clash_run},
	{.name = NULL},
};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "kind_clash",
	.version = "0.1.0",
	.kinds = clash_kinds,
};
