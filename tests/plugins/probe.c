/* probe.c - a test plugin for the ABI 1.4 host functions: it reports what the
 * host tells it (the config's directory) through log(), so t_sdk.sh can check
 * the host's side of each accessor. */
#include <gearbox/plugin.h>

#include <stdio.h>

static int init(const struct gbx_host *h, const char *config_json, void **self, char *err,
		size_t errlen)
{
	(void)config_json;
	*self = NULL;
	if (!GBX_HOST_HAS(h, config_dir)) {
		snprintf(err, errlen, "host too old: no config_dir");
		return -1;
	}
	char msg[4200];
	snprintf(msg, sizeof msg, "config_dir=%s", h->config_dir(h->ctx));
	h->log(h->ctx, 0, msg);
	return 0;
}

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "probe",
	.version = "0.1.0",
	.description = "test: reports what the ABI 1.4 host functions say",
	.init = init,
};
