/* plugins.h - the plugin loader: finding .so files, the ABI check, config
 * validation, init/fini, and the per-hook arrays the engine calls.
 *
 * A plugin named NAME is the file NAME.so in a plugin directory. Directories,
 * in order: the config's plugin_path, then GEARBOX_PLUGIN_PATH (colon-
 * separated); if NAME is not in any of those, the build tree's plugin dir,
 * then the install prefix's. Two different files for one name among the user
 * directories is an error naming both. Only enabled plugins are loaded
 * (dlopen); `gearbox plugins` opens the others just to read their descriptor.
 *
 * The per-hook arrays hold only the plugins that set that hook, sorted by
 * their `order` (config plugins.NAME.order, default 0; ties by name), so a
 * hook nobody uses costs the engine a loop over zero entries.
 */
#ifndef GBX_PLUGINS_H
#define GBX_PLUGINS_H

#include <stddef.h>
#include <jansson.h>
#include "gearbox/plugin.h"
#include "util.h"

/* What a plugin's host table points its ctx at: the shared context and the
 * plugin's name, so that log() can say who is talking. */
struct plugin_ctx {
	void *ctx;                   /* the host context given to plugins_load */
	const char *name;
	int data_idx;                /* 1 + its column in the host's per-task data, 0: none (ABI 1.4 task_free) */
};

struct plugin {
	const struct gbx_plugin *d;  /* descriptor inside the loaded object */
	struct gbx_host host;        /* this plugin's copy of the host table */
	struct plugin_ctx pctx;      /* host.ctx points here */
	void *dl;                    /* dlopen handle */
	void *self;                  /* what init returned */
	char *path;
	int order;
	int inited;
	uint64_t sample_thresh;      /* after_attempt one by one for tasks whose hash is
				      * below this (ABI 1.3 attempt_sample; 2^32: all) */
	_Atomic int64_t deferrals;   /* GBX_DEFER verdicts it gave this run (counted outside the lock) */
};

struct plugin_set {
	struct plugin *p;            /* loaded, enabled plugins, in `order` */
	size_t n;
	/* per-hook arrays: only plugins that set the hook, in order */
	struct plugin **before, **after, **attempt, **tick, **start, **end;
	size_t nbefore, nafter, nattempt, ntick, nstart, nend;
	struct gbx_host host;        /* the table handed to init */
};

/* One row of `gearbox plugins`. */
struct plugin_info {
	char *name, *version, *description, *path;
	uint32_t abi_major, abi_minor;
	int enabled;                 /* by the config / flags */
	char *why;                   /* "enabled by config", "disabled by --disable", "not mentioned in the config", ... */
	char *error;                 /* could not be read: the reason, else NULL */
};

/* Search directories (strings owned by the returned array; free with
 * plugins_dirs_free). cfg_path: the config's plugin_path (array) or NULL;
 * exe_dir: directory of the running binary (build tree detection). */
char **plugins_dirs(json_t *cfg_path, const char *exe_dir, size_t *n_user);
void plugins_dirs_free(char **dirs);

/* Resolves which plugins are enabled: config "plugins" (after the profile
 * merge), then --enable, then --disable (NULL-terminated lists; --disable wins
 * for a name in both). Returns a new JSON object NAME -> { "enabled": bool,
 * "why": string, "order": int, "config": { the plugin's own keys } } (caller
 * owns), or NULL with err set. An --enable of a plugin that cannot be found is
 * caught later by plugins_load. */
json_t *plugins_resolve(json_t *cfg_plugins, char *const *enable, char *const *disable,
			struct err *err);

/* Loads every enabled plugin of `resolved`, in order: find the file, dlopen,
 * dlsym the descriptor, check the ABI major first ("FILE: plugin ABI 2.0,
 * gearbox supports 1.x"), check the descriptor's name matches, validate the
 * config keys ("config FILE: plugins.NAME: unknown key \"k\"" with did-you-mean),
 * call init (its failure message stops the run), and build the hook arrays.
 * `host` is copied into the set and handed to every init. On error every
 * plugin already initialized is finalized and unloaded. */
int plugins_load(struct plugin_set *set, json_t *resolved, char **dirs, size_t n_user,
		 const char *config_file, const struct gbx_host *host, struct err *err);

/* The plugins that deferred tasks this run, at most cap of them, in load
 * order, with their counts (names borrowed from the descriptors). */
size_t plugins_deferred(const struct plugin_set *set, struct gbx_count *out, size_t cap);

/* fini of every plugin in reverse order, dlclose, free. */
void plugins_unload(struct plugin_set *set);

/* Everything found in dirs, for `gearbox plugins`, with enabled/why taken
 * from `resolved` (may be NULL). Caller frees with plugins_info_free. */
int plugins_list(char **dirs, size_t n_user, json_t *resolved, struct plugin_info **out,
		 size_t *n, struct err *err);
void plugins_info_free(struct plugin_info *list, size_t n);

#endif
