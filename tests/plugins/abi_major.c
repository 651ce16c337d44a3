/* abi_major.c - a plugin built for a future ABI: the loader must refuse it
 * naming both versions, without reading any field after abi_minor (which is
 * why every other field here is left looking harmless but wrong). */
#include <gearbox/plugin.h>

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR + 1,
	.abi_minor = 0,
	.name = "abi_major",
	.version = "9.9.9",
	.description = "a descriptor from an ABI this gearbox does not know",
};
