/* wrongname.c - built as wrongname.so but its descriptor says "othername":
 * the loader must refuse it (the file name is how the config names it). */
#include <gearbox/plugin.h>

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "othername",
	.version = "0.1.0",
};
