/* config.c - one pool's settings (plugins.pool.pools.NAME): the command,
 * the numbers and flags (with the SDK's typed helpers, plugin_config.h),
 * the match; every error names pools.NAME and the key. Nothing here runs
 * during a run: pool_init reads each pool once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gearbox/plugin_config.h>
#include <gearbox/plugin_json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static const char *const pool_keys[] = {"command",         "min",
					"max",             "max_requests",
					"idle_timeout_ms", "startup_timeout_ms",
					"multiplex",       "max_inflight",
					"match",           NULL};

/* rc, with "pools.NAME." put before err's key when < 0 */
static int in_pool(int rc, const struct pool *pl, char *err, size_t errlen)
{
	if (rc < 0) {
		char m[512];
		snprintf(m, sizeof m, "%s", err);
		snprintf(err, errlen, "pools.%s.%s", pl->name, m);
	}
	return rc;
}

/* The numbers and the flag of a pool, with the SDK's typed helpers. */
static int read_scalars(struct pool *pl, const char *obj, int *inflight_set, char *err,
			size_t errlen)
{
	static const struct {
		const char *key;
		int64_t lo, hi;
	} ints[] = {
	    {"min", 0, 1024},
	    {"max", 1, 1024},
	    {"max_inflight", 1, 1024},
	    {"max_requests", 0, 2592000000LL},
	    {"idle_timeout_ms", 0, 2592000000LL},
	    {"startup_timeout_ms", 0, 2592000000LL},
	};
	int64_t v[] = {pl->min,		 pl->max,	      pl->max_inflight,
		       pl->max_requests, pl->idle_timeout_ms, pl->startup_timeout_ms};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
		int rc = gbx_cfg_int(obj, ints[i].key, ints[i].lo, ints[i].hi, &v[i], err, errlen);
		if (in_pool(rc, pl, err, errlen) < 0)
			return -1;
		if (i == 2 && rc > 0)
			*inflight_set = 1;
	}
	if (in_pool(gbx_cfg_bool(obj, "multiplex", &pl->multiplex, err, errlen), pl, err, errlen) < 0)
		return -1;
	pl->min = (int)v[0];
	pl->max = (int)v[1];
	pl->max_inflight = (int)v[2];
	pl->max_requests = v[3];
	pl->idle_timeout_ms = v[4];
	pl->startup_timeout_ms = v[5];
	return 0;
}

int pool_read(struct pool *pl, const char *obj, char *err, size_t errlen)
{
	const char *it = NULL, *v;
	char key[64];
	int inflight_set = 0;
	pl->max = 2;
	pl->max_inflight = 8;
	pl->idle_timeout_ms = 60000;
	pl->startup_timeout_ms = 10000;
	while ((v = gbx_json_next_member(obj, &it, key, sizeof key))) {
		int known = 0;
		for (const char *const *k = pool_keys; *k; k++)
			known |= !strcmp(*k, key);
		if (!known) {
			snprintf(err, errlen, "pools.%s: unknown key \"%s\"", pl->name, key);
			return -1;
		}
		if (!strcmp(key, "command")) {
			const char *ai = NULL, *e;
			size_t cnt = 0;
			while ((e = gbx_json_next(v, &ai)))
				cnt++;
			if (!ai || !cnt) {
				snprintf(err, errlen,
					 "pools.%s.command: expected a non-empty array of strings",
					 pl->name);
				return -1;
			}
			for (size_t i = 0; pl->cmd && pl->cmd[i]; i++)
				free(pl->cmd[i]);
			free(pl->cmd);
			pl->cmd = calloc(cnt + 1, sizeof *pl->cmd);
			if (!pl->cmd)
				goto oom;
			pl->ncmd = 0;
			ai = NULL;
			while ((e = gbx_json_next(v, &ai))) {
				size_t len = strlen(e) + 1;
				char *s = malloc(len);
				if (!s)
					goto oom;
				if (gbx_json_string(e, s, len)) {
					free(s);
					snprintf(err, errlen,
						 "pools.%s.command: expected an array of strings",
						 pl->name);
					return -1;
				}
				pl->cmd[pl->ncmd++] = s;
			}
		} else if (!strcmp(key, "match")) {
			size_t len = strlen(v) + 1;
			free(pl->match);
			pl->match = malloc(len);
			if (!pl->match)
				goto oom;
			if (gbx_json_string(v, pl->match, len) || !pl->match[0]) {
				snprintf(err, errlen, "pools.%s.match: expected a program name (argv[0])",
					 pl->name);
				return -1;
			}
		}
	}
	if (!it) {
		snprintf(err, errlen, "pools.%s: expected an object", pl->name);
		return -1;
	}
	if (read_scalars(pl, obj, &inflight_set, err, errlen))
		return -1;
	if (!pl->cmd) {
		snprintf(err, errlen, "pools.%s: \"command\" is required (the worker's argv)",
			 pl->name);
		return -1;
	}
	if (pl->min > pl->max) {
		snprintf(err, errlen, "pools.%s: min (%d) is larger than max (%d)", pl->name, pl->min,
			 pl->max);
		return -1;
	}
	if (inflight_set && !pl->multiplex) {
		snprintf(err, errlen,
			 "pools.%s.max_inflight: only multiplex workers take several requests at "
			 "once; set \"multiplex\": true or remove it",
			 pl->name);
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}
