/* config.c - plugins.cache: reading the settings (docs/plugins/cache.md).
 *
 * Numbers, booleans and strings are read by the SDK's typed helpers
 * (<gearbox/plugin_config.h>); a failure keeps their "KEY: expected ..., got
 * VALUE" form with the cache's own wording of what is expected (the unit, what
 * 0 means). env_allow (an array of names) and key_version (a string or a
 * number) have no helper and are read here with <gearbox/plugin_json.h>.
 */
#include "cache.h"

#include <gearbox/plugin_config.h>
#include <gearbox/plugin_json.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "KEY: expected WANT, got VALUE" for the member KEY of cfg. */
static int bad(const char *cfg, char *err, size_t errlen, const char *key, const char *want)
{
	char raw[64];
	const char *v = gbx_json_member(cfg, key);
	snprintf(err, errlen, "%s: expected %s, got %s", key, want,
	         v ? gbx_cfg_raw(v, raw, sizeof raw) : "nothing");
	return -1;
}

/* An integer member in [lo, hi]; absent leaves *out alone. 0 or -1. */
static int cfg_int(const char *cfg, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   const char *want, char *err, size_t errlen)
{
	return gbx_cfg_int(cfg, key, lo, hi, out, err, errlen) < 0 ? bad(cfg, err, errlen, key, want)
	                                                            : 0;
}

/* A non-empty string member; absent leaves out alone. 0 or -1. */
static int cfg_str(const char *cfg, const char *key, char *out, size_t n, const char *want,
                   char *err, size_t errlen)
{
	char tmp[4096];
	int r = gbx_cfg_string(cfg, key, tmp, n < sizeof tmp ? n : sizeof tmp, err, errlen);
	if (r < 0 || (r == 1 && !tmp[0]))
		return bad(cfg, err, errlen, key, want);
	if (r == 1)
		snprintf(out, n, "%s", tmp);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cfg_env_allow(struct cache *c, const char *cfg, char *err, size_t errlen)
{
	const char *v = gbx_json_member(cfg, "env_allow");
	if (!v)
		return 0;
	const char *want = "an array of environment variable names";
	if (*v != '[')
		return bad(cfg, err, errlen, "env_allow", want);
	size_t n = 0;
	for (const char *s = gbx_json_skip_ws(v + 1); *s && *s != ']';) {
		s = gbx_json_skip(s);
		if (!s)
			return bad(cfg, err, errlen, "env_allow", want);
		n++;
		s = gbx_json_skip_ws(s);
		if (*s == ',')
			s = gbx_json_skip_ws(s + 1);
	}
	c->env_allow = calloc(n + 1, sizeof *c->env_allow);
	c->env_inherited = calloc(n + 1, sizeof *c->env_inherited);
	if (!c->env_allow || !c->env_inherited) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const char *s = gbx_json_skip_ws(v + 1);
	for (size_t i = 0; i < n; i++) {
		char name[256];
		if (gbx_json_string(s, name, sizeof name) || !name[0] || strchr(name, '=')) {
			snprintf(
			    err, errlen,
			    "env_allow: entry %zu: expected a variable name (a string without '=')",
			    i + 1);
			return -1;
		}
		if (!(c->env_allow[c->n_env_allow] = strdup(name))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->n_env_allow++;
		s = gbx_json_skip_ws(gbx_json_skip(s));
		if (*s == ',')
			s = gbx_json_skip_ws(s + 1);
	}
	qsort(c->env_allow, c->n_env_allow, sizeof *c->env_allow, cmp_name);
	/* the inherited environment, read once here on the main thread */
	for (size_t i = 0; i < c->n_env_allow; i++) {
		const char *val = getenv(c->env_allow[i]);
		if (val && !(c->env_inherited[i] = strdup(val))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int cfg_key_version(struct cache *c, const char *cfg, char *err, size_t errlen)
{
	const char *v = gbx_json_member(cfg, "key_version");
	if (!v)
		return 0;
	const char *e = gbx_json_skip(v);
	if (!e)
		return bad(cfg, err, errlen, "key_version", "a string or a number");
	if (*v == '"') {
		size_t n = (size_t)(e - v) + 1;
		c->key_version = malloc(n);
		if (!c->key_version || gbx_json_string(v, c->key_version, n))
			return bad(cfg, err, errlen, "key_version", "a string or a number");
		return 0;
	}
	double d;
	if (gbx_json_number(v, &d))
		return bad(cfg, err, errlen, "key_version", "a string or a number");
	c->key_version = strndup(v, (size_t)(e - v)); /* as written: 2 and 2.0 differ */
	return c->key_version ? 0 : -1;
}

int cache_config(struct cache *c, const char *cfg, struct cache_cfg *k, char *err, size_t errlen)
{
	*k = (struct cache_cfg){.max_mb = 512,
	                        .mem_entries = 1000,
	                        .mem_mb = 64,
	                        .ttl_s = 60,
	                        .r_deadline = 20,
	                        .r_ttl = 3600,
	                        .r_blob = 16,
	                        .r_open = 5,
	                        .r_lease = 3000,
	                        .r_queue = 64,
	                        .dir = ".gearbox/cache",
	                        .root = "."};
	c->stat_cache = 1;
	const char *dirs = "a non-empty string (a directory)";
	if (cfg_str(cfg, "dir", k->dir, sizeof k->dir, dirs, err, errlen) ||
	    cfg_str(cfg, "root", k->root, sizeof k->root, dirs, err, errlen) ||
	    cfg_int(cfg, "max_mb", 1, 1LL << 40, &k->max_mb, "a positive integer (MiB)", err,
	            errlen) ||
	    cfg_int(cfg, "mem_entries", 0, 1LL << 30, &k->mem_entries,
	            "an integer >= 0 (0: no memory level)", err, errlen) ||
	    cfg_int(cfg, "mem_mb", 0, 1LL << 30, &k->mem_mb,
	            "an integer >= 0 (MiB; 0: no memory level)", err, errlen) ||
	    cfg_int(cfg, "ttl_s", 0, 1LL << 40, &k->ttl_s, "an integer >= 0 (seconds; 0: no expiry)",
	            err, errlen) ||
	    gbx_cfg_bool(cfg, "require_inputs", &c->require_inputs, err, errlen) < 0 ||
	    gbx_cfg_bool(cfg, "cache_failures", &c->cache_failures, err, errlen) < 0 ||
	    gbx_cfg_bool(cfg, "stat_cache", &c->stat_cache, err, errlen) < 0 ||
	    cfg_env_allow(c, cfg, err, errlen) || cfg_key_version(c, cfg, err, errlen) ||
	    cfg_int(cfg, "remote_deadline_ms", 1, 60000, &k->r_deadline,
	            "an integer from 1 to 60000 (ms)", err, errlen) ||
	    cfg_int(cfg, "remote_ttl_s", 1, 1LL << 31, &k->r_ttl, "a positive integer (seconds)",
	            err, errlen) ||
	    cfg_int(cfg, "remote_max_blob_mb", 0, 1LL << 20, &k->r_blob, "an integer >= 0 (MiB)",
	            err, errlen) ||
	    cfg_int(cfg, "remote_open_s", 1, 86400, &k->r_open,
	            "an integer from 1 to 86400 (seconds)", err, errlen) ||
	    cfg_int(cfg, "remote_lease_ms", 0, 1LL << 31, &k->r_lease,
	            "an integer >= 0 (ms; 0: no leases)", err, errlen) ||
	    cfg_int(cfg, "remote_queue_mb", 1, 1LL << 20, &k->r_queue, "a positive integer (MiB)",
	            err, errlen))
		return -1;
	/* a namespace for the remote's keys: letters, digits, '.', '_', '-' */
	k->ns[0] = 0;
	if (gbx_cfg_string(cfg, "remote_namespace", k->ns, sizeof k->ns, err, errlen) < 0 ||
	    strspn(k->ns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	        strlen(k->ns))
		return bad(cfg, err, errlen, "remote_namespace",
		           "at most 64 letters, digits, '.', '_' or '-'");
	/* remote: a URL, or null / "" for none */
	const char *v = gbx_json_member(cfg, "remote");
	k->remote[0] = 0;
	if (v && strncmp(v, "null", 4) &&
	    gbx_cfg_string(cfg, "remote", k->remote, sizeof k->remote, err, errlen) < 0)
		return bad(cfg, err, errlen, "remote",
		           "a string (\"redis://HOST:PORT/DB\" or \"unix:PATH\")");
	return 0;
}
