/* config.c - loads, merges and validates the config file. See config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const top_keys[] = {"jobs", "policies", "plugin_path", "plugins",
				       "profiles", "kill_grace_ms", "retry", "policy_limits",
				       "resources", "enforce", "shed", "history", "nodes", NULL};

static int unknown_key(struct err *err, const char *file, const char *where, const char *key,
		       const char *const *known)
{
	const char *c = nearest_name(key, known, SIZE_MAX, NULL);
	return err_set(err, "%s: %sunknown key \"%s\"%s%s%s", file, where, key,
		       c ? " (did you mean \"" : "", c ? c : "", c ? "\"?)" : "");
}

/* Merges src over dst, recursively for objects (a profile is a partial config). */
static void merge(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v) {
		json_t *d = json_object_get(dst, k);
		if (json_is_object(d) && json_is_object(v))
			merge(d, v);
		else
			json_object_set(dst, k, v);
	}
}

static int get_int(json_t *v, const char *file, const char *key, int64_t min, int64_t max,
		   int64_t *out, struct err *err)
{
	if (!json_is_integer(v))
		return err_set(err, "%s: %s: expected an integer", file, key);
	int64_t n = json_integer_value(v);
	if (n < min || n > max)
		return err_set(err, "%s: %s: %lld is out of range [%lld, %lld]", file, key,
			       (long long)n, (long long)min, (long long)max);
	*out = n;
	return 0;
}

static int check_jobs(struct config *c, json_t *j, struct err *err)
{
	int64_t v;
	if (json_is_integer(j)) {
		if (get_int(j, c->path, "jobs", 1, 4096, &v, err))
			return -1;
		c->jobs_initial = (int)v;
		return 0;
	}
	if (!json_is_object(j))
		return err_set(err, "%s: jobs: expected an integer or {\"min\", \"max\", \"initial\"}", c->path);
	static const char *const keys[] = {"min", "max", "initial", NULL};
	const char *k;
	json_t *x;
	json_object_foreach(j, k, x) {
		char name[64];
		snprintf(name, sizeof name, "jobs.%s", k);
		if (strcmp(k, "min") && strcmp(k, "max") && strcmp(k, "initial"))
			return unknown_key(err, c->path, "jobs: ", k, keys);
		if (get_int(x, c->path, name, 1, 4096, &v, err))
			return -1;
		if (!strcmp(k, "min"))
			c->jobs_min = (int)v;
		else if (!strcmp(k, "max"))
			c->jobs_max = (int)v;
		else
			c->jobs_initial = (int)v;
	}
	if (c->jobs_min && c->jobs_max && c->jobs_min > c->jobs_max)
		return err_set(err, "%s: jobs: min (%d) is larger than max (%d)", c->path,
			       c->jobs_min, c->jobs_max);
	return 0;
}

static int validate(struct config *c, struct err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(c->root, k, v) {
		int known = 0;
		for (const char *const *p = top_keys; *p; p++)
			known |= !strcmp(*p, k);
		if (!known)
			return unknown_key(err, c->path, "", k, top_keys);
	}
	if ((v = json_object_get(c->root, "jobs")) && check_jobs(c, v, err))
		return -1;
	/* capacities are checked against the workload's names by resources.c */
	if ((v = json_object_get(c->root, "resources"))) {
		if (!json_is_object(v))
			return err_set(err, "%s: resources: expected an object of capacities, like "
				       "{\"cpu\": 4, \"mem_mb\": 8192, \"db\": 1}", c->path);
		c->resources = v;
	}
	if ((v = json_object_get(c->root, "shed"))) {
		int64_t n;
		const char *keys[] = {"queue_wait_ms", "below_priority", NULL};
		json_t *x;
		if (!json_is_object(v))
			return err_set(err, "%s: shed: expected {\"queue_wait_ms\": N, \"below_priority\": P}",
				       c->path);
		json_object_foreach(v, k, x) {
			int known = 0;
			for (const char *const *p = keys; *p; p++)
				known |= !strcmp(*p, k);
			if (!known)
				return unknown_key(err, c->path, "shed: ", k, keys);
		}
		if (!json_object_get(v, "queue_wait_ms") || !json_object_get(v, "below_priority"))
			return err_set(err, "%s: shed: needs both queue_wait_ms and below_priority", c->path);
		if (get_int(json_object_get(v, "queue_wait_ms"), c->path, "shed.queue_wait_ms", 0,
			    2592000000LL, &n, err))
			return -1;
		c->shed_wait_ms = n;
		if (get_int(json_object_get(v, "below_priority"), c->path, "shed.below_priority",
			    -1000000000, 1000000000, &n, err))
			return -1;
		c->shed_below = (int32_t)n;
	}
	if ((v = json_object_get(c->root, "history"))) {
		c->history_given = 1;
		if (json_is_string(v) && json_string_length(v) > 0)
			c->history = json_string_value(v);
		else if (json_is_true(v))
			c->history = "";
		else if (!json_is_false(v))
			return err_set(err, "%s: history: expected true (beside the workload), false "
				       "or a file name", c->path);
	}
	if ((v = json_object_get(c->root, "enforce"))) {
		if (!json_is_boolean(v))
			return err_set(err, "%s: enforce: expected true or false", c->path);
		c->enforce = json_is_true(v);
	}
	int64_t n;
	if ((v = json_object_get(c->root, "kill_grace_ms"))) {
		if (get_int(v, c->path, "kill_grace_ms", 0, 3600000, &n, err))
			return -1;
		c->kill_grace_ms = n;
	}
	if ((v = json_object_get(c->root, "retry"))) {
		static const char *const keys[] = {"base_ms", "cap_ms", NULL};
		if (!json_is_object(v))
			return err_set(err, "%s: retry: expected an object", c->path);
		json_t *x;
		json_object_foreach(v, k, x) {
			if (strcmp(k, "base_ms") && strcmp(k, "cap_ms"))
				return unknown_key(err, c->path, "retry: ", k, keys);
			char name[64];
			snprintf(name, sizeof name, "retry.%s", k);
			if (get_int(x, c->path, name, 0, 86400000, &n, err))
				return -1;
			*(strcmp(k, "base_ms") ? &c->retry_cap_ms : &c->retry_base_ms) = n;
		}
	}
	if ((v = json_object_get(c->root, "policy_limits"))) {
		static const char *const keys[] = {"instructions", "memory_mb", "cpu_ms",
						    "pattern_steps", NULL};
		if (!json_is_object(v))
			return err_set(err, "%s: policy_limits: expected an object", c->path);
		json_t *x;
		json_object_foreach(v, k, x) {
			if (strcmp(k, "instructions") && strcmp(k, "memory_mb") && strcmp(k, "cpu_ms") &&
			    strcmp(k, "pattern_steps"))
				return unknown_key(err, c->path, "policy_limits: ", k, keys);
			if (!strcmp(k, "pattern_steps")) {
				if (get_int(x, c->path, "policy_limits.pattern_steps", 1000, 1000000000000000LL,
					    &n, err))
					return -1;
				c->policy_pattern_steps = n;
				continue;
			}
			if (!strcmp(k, "cpu_ms")) {
				if (get_int(x, c->path, "policy_limits.cpu_ms", 1, 3600000, &n, err))
					return -1;
				c->policy_cpu_ms = n;
				continue;
			}
			char name[64];
			snprintf(name, sizeof name, "policy_limits.%s", k);
			if (get_int(x, c->path, name, 1, strcmp(k, "memory_mb") ? 1000000000000LL : 65536, &n, err))
				return -1;
			*(strcmp(k, "memory_mb") ? &c->policy_budget : &c->policy_mem_mb) = n;
		}
	}
	if ((v = json_object_get(c->root, "nodes")))
		c->nodes = v; /* checked by nodes.c, which knows its keys */
	if ((v = json_object_get(c->root, "policies"))) {
		if (!json_is_object(v))
			return err_set(err, "%s: policies: expected an object of KIND: FILE", c->path);
		c->policies = v;
	}
	if ((v = json_object_get(c->root, "plugins"))) {
		if (!json_is_object(v))
			return err_set(err, "%s: plugins: expected an object of NAME: {...}", c->path);
		json_t *x;
		json_object_foreach(v, k, x) {
			if (!json_is_object(x))
				return err_set(err, "%s: plugins.%s: expected an object", c->path, k);
			json_t *en = json_object_get(x, "enabled");
			if (en && !json_is_boolean(en))
				return err_set(err, "%s: plugins.%s.enabled: expected true or false", c->path, k);
		}
		c->plugins = v;
	}
	if ((v = json_object_get(c->root, "plugin_path"))) {
		if (!json_is_array(v))
			return err_set(err, "%s: plugin_path: expected an array of directories", c->path);
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) if (!json_is_string(x))
			return err_set(err, "%s: plugin_path[%zu]: expected a string", c->path, i);
		c->plugin_path = v;
	}
	return 0;
}

/* --set a.b.c=VALUE over doc: VALUE is JSON when it parses as JSON, else a string. */
static int apply_set(json_t *doc, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return err_set(err, "--set %s: expected KEY=VALUE with KEY a dotted path (plugins.cache.dir)", arg);
	json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (!v)
		v = json_string(eq + 1);
	if (!v)
		return err_set(err, "--set %s: the value is not UTF-8", arg);
	json_t *at = doc;
	const char *k = arg;
	for (;;) {
		const char *dot = memchr(k, '.', (size_t)(eq - k));
		const char *end = dot ? dot : eq;
		char key[256];
		if (end == k || end - k >= (ptrdiff_t)sizeof key) {
			json_decref(v);
			return err_set(err, "--set %s: empty or over-long key in the path", arg);
		}
		memcpy(key, k, (size_t)(end - k));
		key[end - k] = 0;
		if (!dot) {
			json_object_set_new(at, key, v);
			return 0;
		}
		json_t *next = json_object_get(at, key);
		if (!next) {
			next = json_object();
			json_object_set_new(at, key, next);
		} else if (!json_is_object(next)) {
			json_decref(v);
			return err_set(err, "--set %s: %.*s is not an object", arg, (int)(end - arg), arg);
		}
		at = next;
		k = dot + 1;
	}
}

int config_load(const char *path, const char *profile, char *const *sets, struct config *c,
		struct err *err)
{
	memset(c, 0, sizeof *c);
	c->kill_grace_ms = c->retry_base_ms = c->retry_cap_ms = c->shed_wait_ms = -1;
	if (!path && access("gearbox.json", F_OK) == 0)
		path = "gearbox.json";
	else if (path && !path[0])
		path = NULL; /* "": no config file at all, not even ./gearbox.json */
	if (!path) {
		if (profile)
			return err_set(err, "--profile %s: no config file (give --config FILE or create ./gearbox.json)",
				       profile);
		c->root = json_object();
		for (char *const *s = sets; s && *s; s++)
			if (apply_set(c->root, *s, err))
				return -1;
		if (!sets || !*sets)
			return 0;
		c->path = (char *)"--set"; /* what the messages name */
		int r = validate(c, err);
		c->path = NULL;
		return r;
	}
	c->path = strdup(path);
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(err, "%s: is a directory, expected a JSON config file", path);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return err_set(err, "%s: not a regular file, expected a JSON config file", path);
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		if (je.line <= 0)
			return err_set(err, "%s: %s", path, je.text);
		return err_set(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		return err_set(err, "%s: the config must be a JSON object", path);
	}
	json_t *profiles = json_object_get(doc, "profiles");
	if (profiles && !json_is_object(profiles)) {
		json_decref(doc);
		return err_set(err, "%s: profiles: expected an object of NAME: {partial config}", path);
	}
	if (profile) {
		json_t *p = profiles ? json_object_get(profiles, profile) : NULL;
		if (!json_is_object(p)) {
			struct buf names = {0};
			const char *k;
			json_t *x;
			if (profiles)
				json_object_foreach(profiles, k, x) buf_addf(&names, "%s%s", names.len ? ", " : "", k);
			err_set(err, "%s: no profile \"%s\" (profiles: %s)", path, profile,
				names.len ? names.p : "none");
			buf_free(&names);
			json_decref(doc);
			return -1;
		}
		if (json_object_get(p, "profiles")) {
			json_decref(doc);
			return err_set(err, "%s: profiles.%s: a profile cannot hold profiles", path, profile);
		}
		json_t *merged = json_deep_copy(doc);
		merge(merged, p);
		json_decref(doc);
		doc = merged;
	}
	c->root = doc;
	for (char *const *s = sets; s && *s; s++)
		if (apply_set(c->root, *s, err))
			return -1;
	return validate(c, err);
}

void config_free(struct config *c)
{
	json_decref(c->root);
	free(c->path);
	memset(c, 0, sizeof *c);
}
