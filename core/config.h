/* config.h - the config file (gearbox.json): jobs, policies, plugins, profiles.
 *
 * Precedence, lowest first: built-in defaults, the config file, the profile
 * chosen with --profile (a partial config merged over the base), CLI flags.
 * The loader merges the profile and validates every key; CLI flags are applied
 * by the caller on top of the result.
 */
#ifndef GBX_CONFIG_H
#define GBX_CONFIG_H

#include <stdint.h>
#include <jansson.h>
#include "util.h"

struct config {
	char *path;            /* file it came from, or NULL when none */
	json_t *root;          /* the merged document (owned) */
	int jobs_min, jobs_max, jobs_initial;   /* 0: unset */
	int64_t kill_grace_ms;                  /* -1: unset */
	int64_t retry_base_ms, retry_cap_ms;    /* -1: unset */
	int64_t policy_budget;                  /* instructions per policy call, 0: default */
	int64_t policy_mem_mb;                  /* memory cap of the Lua state, 0: default */
	int64_t policy_cpu_ms;                  /* CPU time per policy call, 0: default */
	int64_t policy_pattern_steps;           /* matcher steps per string.find..., 0: default */
	json_t *policies;      /* borrowed from root, or NULL */
	json_t *plugins;       /* borrowed from root, or NULL */
	json_t *plugin_path;   /* borrowed from root, or NULL */
	json_t *resources;     /* capacities (resources.h), borrowed from root, or NULL */
	int enforce;           /* `enforce: true`: cgroup limits for every exec task */
	int64_t shed_wait_ms;  /* `shed.queue_wait_ms`, -1: no shedding */
	const char *history;   /* `history`: "" beside the workload, a file, or NULL: off */
	int history_given;     /* `history` is in the config (else: the default, see main.c) */
	int32_t shed_below;    /* `shed.below_priority` */
	json_t *nodes;         /* borrowed from root, or NULL (nodes.c checks it) */
};

/* Loads `path` (or ./gearbox.json when path is NULL and that file exists; no
 * config at all is fine; "" means no config file, not even ./gearbox.json),
 * merges `profile` when not NULL, then each of `sets` (NULL-terminated
 * "a.b.c=VALUE" from --set, VALUE JSON or else a string; may be NULL), and
 * validates. On
 * error returns -1 with err naming the file, the key and the problem. */
int config_load(const char *path, const char *profile, char *const *sets, struct config *c,
		struct err *err);
void config_free(struct config *c);

#endif
