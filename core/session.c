/* session.c - config, plugins and policies for one run. See session.h. */
#include "session.h"
#include <dirent.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const policy_kinds[POL_NKINDS] = {"scheduling", "retry", "scaling",
						     "placement"};

const char *policy_kind_name(int kind)
{
	return kind >= 0 && kind < POL_NKINDS ? policy_kinds[kind] : "?";
}

int policy_kind_of(const char *name, size_t len)
{
	for (int k = 0; k < POL_NKINDS; k++)
		if (strlen(policy_kinds[k]) == len && !strncmp(policy_kinds[k], name, len))
			return k;
	return -1;
}

/* Directory of the running binary, for finding bundled policies and plugins. */
static char *exe_dir(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return strdup(".");
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = 0;
	return strdup(buf);
}

/* A policy named without a path ("edf") is a bundled one: policies/KIND/NAME.lua
 * in the source tree next to the build, or PREFIX/share/gearbox/policies. A
 * relative path from the config is relative to the config file's directory. */
static char *policy_path(const char *kind, const char *name, const char *base_file)
{
	struct buf b = {0};
	if (!strchr(name, '/') && !strstr(name, ".lua")) {
		char *dir = exe_dir();
		const char *roots[] = {"/../policies", "/../../policies", "/../share/gearbox/policies"};
		for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
			b.len = 0;
			buf_addf(&b, "%s%s/%s/%s.lua", dir, roots[i], kind, name);
			if (access(b.p, R_OK) == 0)
				break;
		}
		free(dir);
		return b.p;
	}
	if (base_file && name[0] != '/' && strchr(base_file, '/')) {
		buf_addf(&b, "%.*s/%s", (int)(strrchr(base_file, '/') - base_file), base_file, name);
		return b.p;
	}
	return strdup(name);
}

/* A bundled name that is not there: list the ones that are. */
static void bundled_error(const char *kind, const char *name, const char *from, struct err *err)
{
	char *dir = exe_dir();
	const char *roots[] = {"/../policies", "/../../policies", "/../share/gearbox/policies"};
	const char *names[64];
	char *own[64];
	size_t n = 0;
	for (size_t i = 0; i < sizeof roots / sizeof roots[0] && !n; i++) {
		struct buf b = {0};
		buf_addf(&b, "%s%s/%s", dir, roots[i], kind);
		DIR *d = opendir(b.p);
		struct dirent *de;
		while (d && (de = readdir(d)) && n < 64) {
			size_t l = strlen(de->d_name);
			if (l > 4 && !strcmp(de->d_name + l - 4, ".lua") && de->d_name[0] != '.') {
				own[n] = strndup(de->d_name, l - 4);
				if (own[n])
					names[n] = own[n], n++;
			}
		}
		if (d)
			closedir(d);
		buf_free(&b);
	}
	free(dir);
	struct buf list = {0};
	for (size_t i = 0; i < n; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	const char *near = nearest_name(name, names, n, NULL);
	err_set(err, "%s%s%s=%s: no bundled %s policy \"%s\"%s%s%s (bundled: %s; or give a path to a .lua file)",
		from ? from : "--policy ", from ? ": policies." : "", kind, name, kind, name, near ? " (did you mean \"" : "", near ? near : "",
		near ? "\"?)" : "", n ? list.p : "none found");
	buf_free(&list);
	for (size_t i = 0; i < n; i++)
		free(own[i]);
}

int session_policies(struct session *s, const char *const *policy_arg, struct workload *wl,
		     int strict, struct err *err)
{
	const struct config *cfg = &s->cfg;
	struct hostctx *hc = &s->hc;
	struct policy **out = &s->pol;
	const char *file[POL_NKINDS] = {0};
	const char *from[POL_NKINDS] = {0};
	if (cfg->policies) {
		const char *k;
		json_t *v;
		json_object_foreach(cfg->policies, k, v) {
			int kind = policy_kind_of(k, strlen(k));
			if (kind < 0)
				return err_set(err, "%s: policies: unknown kind \"%s\" (kinds: scheduling, retry, scaling, placement)",
					       cfg->path, k);
			if (!json_is_string(v))
				return err_set(err, "%s: policies.%s: expected a file name", cfg->path, k);
			file[kind] = json_string_value(v);
			from[kind] = cfg->path;
		}
	}
	int any = 0;
	for (int k = 0; k < POL_NKINDS; k++) {
		if (policy_arg && policy_arg[k]) {
			file[k] = policy_arg[k];
			from[k] = NULL;
		}
		any |= file[k] != NULL;
	}
	*out = NULL;
	if (!any)
		return 0;
	struct policy_opts po;
	memset(&po, 0, sizeof po);
	po.wl = wl;
	po.budget = cfg->policy_budget;
	po.mem_cap = cfg->policy_mem_mb > 0 ? (size_t)cfg->policy_mem_mb << 20 : 0;
	po.deadline_ms = cfg->policy_cpu_ms;
	po.pattern_steps = cfg->policy_pattern_steps;
	struct policy *p = policy_new(&po, err);
	if (!p)
		return -1;
	if (host_lua_apply(hc, p, err)) {
		policy_free(p);
		return -1;
	}
	for (int k = 0; k < POL_NKINDS; k++) {
		if (!file[k])
			continue;
		char *path = policy_path(policy_kinds[k], file[k], from[k]);
		if (access(path, R_OK) && !strchr(file[k], '/') && !strstr(file[k], ".lua")) {
			bundled_error(policy_kinds[k], file[k], from[k], err);
			free(path);
			policy_free(p);
			return -1;
		}
		if (access(path, R_OK)) {
			err_set(err, "%s policy %s: %s", policy_kinds[k], path, strerror(errno));
			free(path);
			policy_free(p);
			return -1;
		}
		int r = policy_load(p, k, path, err);
		free(path);
		if (r && strict) {
			policy_free(p);
			return -1;
		}
		/* a broken policy must not stop a run: say so once, use the built-in */
		if (r)
			fprintf(stderr, "gearbox: %s; using the built-in %s decision\n", err->msg,
				policy_kinds[k]);
	}
	*out = p;
	return 0;
}

/* --enable / --disable of a name no plugin directory holds and the config
 * does not name: an error with a did-you-mean, not a silent no-op. */
static int check_flags(char **dirs, json_t *cfg_plugins, char *const *list, const char *flag,
		       struct err *err)
{
	for (; list && *list; list++) {
		if (json_object_get(cfg_plugins, *list) || strspn(*list, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(*list))
			continue; /* a bad name is plugins_resolve's to refuse */
		const char *names[128];
		size_t n = 0;
		int found = 0;
		for (size_t i = 0; dirs && dirs[i] && !found; i++) {
			DIR *d = opendir(dirs[i]);
			struct dirent *de;
			while (d && (de = readdir(d)) && !found) {
				size_t l = strlen(de->d_name);
				if (l <= 3 || strcmp(de->d_name + l - 3, ".so") || de->d_name[0] == '.')
					continue;
				found = l - 3 == strlen(*list) && !strncmp(de->d_name, *list, l - 3);
				int dup = 0;
				for (size_t k = 0; k < n; k++)
					dup |= strlen(names[k]) == l - 3 && !strncmp(names[k], de->d_name, l - 3);
				if (!dup && n < 128 && (names[n] = strndup(de->d_name, l - 3)))
					n++;
			}
			if (d)
				closedir(d);
		}
		if (!found) {
			struct buf all = {0};
			for (size_t k = 0; k < n; k++)
				buf_addf(&all, "%s%s", k ? ", " : "", names[k]);
			const char *near = nearest_name(*list, names, n, NULL);
			struct buf sd = {0};
			for (size_t k = 0; dirs && dirs[k]; k++)
				buf_addf(&sd, "%s%s", k ? ", " : "", dirs[k]);
			err_set(err, "%s %s: plugin \"%s\" not found%s%s%s (searched: %s; found: %s)",
				flag, *list, *list, near ? " (did you mean \"" : "", near ? near : "",
				near ? "\"?)" : "", sd.p ? sd.p : "nothing", n ? all.p : "none");
			buf_free(&sd);
			buf_free(&all);
		}
		for (size_t k = 0; k < n; k++)
			free((char *)names[k]);
		if (!found)
			return -1;
	}
	return 0;
}

int session_open(struct session *s, const char *config, const char *profile,
		 char *const *sets, char *const *enable, char *const *disable, int load_plugins,
		 struct err *err)
{
	memset(s, 0, sizeof *s);
	if (config_load(config, profile, sets, &s->cfg, err))
		return -1;
	if (host_set_config(&s->hc, s->cfg.path, err))
		return -1;
	/* relative plugin_path entries are relative to the config file, as
	 * relative policy paths are */
	json_t *ppath = NULL;
	const char *cfile = s->cfg.path;
	if (s->cfg.plugin_path && cfile && strchr(cfile, '/')) {
		ppath = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(s->cfg.plugin_path, i, v) {
			const char *d = json_string_value(v);
			if (d[0] == '/') {
				json_array_append(ppath, v);
				continue;
			}
			struct buf b = {0};
			buf_addf(&b, "%.*s/%s", (int)(strrchr(cfile, '/') - cfile), cfile, d);
			json_array_append_new(ppath, json_string(b.p));
			buf_free(&b);
		}
	}
	char *exe = exe_dir();
	s->dirs = plugins_dirs(ppath ? ppath : s->cfg.plugin_path, exe, &s->n_user);
	free(exe);
	json_decref(ppath);
	if (check_flags(s->dirs, s->cfg.plugins, enable, "--enable", err) ||
	    check_flags(s->dirs, s->cfg.plugins, disable, "--disable", err))
		return -1;
	s->resolved = plugins_resolve(s->cfg.plugins, enable, disable, err);
	if (!s->resolved) {
		if (cfile) { /* name the file the bad key is in */
			char msg[GBX_ERRLEN];
			snprintf(msg, sizeof msg, "%s", err->msg);
			err_set(err, "%s: %s", cfile, msg);
		}
		return -1;
	}
	if (!load_plugins)
		return 0;
	struct gbx_host host;
	host_table(&s->hc, &host);
	if (plugins_load(&s->set, s->resolved, s->dirs, s->n_user, s->cfg.path, &host, err))
		return -1;
	return host_registry(&s->hc, &s->set, err);
}

void session_run_opts(struct session *s, struct run_opts *o)
{
	const struct config *cfg = &s->cfg;
	if (cfg->jobs_initial)
		o->jobs = cfg->jobs_initial;
	if (cfg->jobs_max) {
		o->jobs_max = cfg->jobs_max;
		if (o->jobs > cfg->jobs_max)
			o->jobs = cfg->jobs_max;
	}
	if (cfg->jobs_min && o->jobs < cfg->jobs_min)
		o->jobs = cfg->jobs_min;
	o->jobs_min = cfg->jobs_min;
	if (cfg->kill_grace_ms >= 0)
		o->kill_grace_ms = cfg->kill_grace_ms;
	if (cfg->retry_base_ms >= 0)
		o->retry_base_ms = cfg->retry_base_ms;
	if (cfg->retry_cap_ms >= 0)
		o->retry_cap_ms = cfg->retry_cap_ms;
	o->resources = cfg->resources;
	o->enforce = cfg->enforce;
	o->shed_wait_ms = cfg->shed_wait_ms;
	o->shed_below = cfg->shed_below;
	o->history = cfg->history;
	o->config_path = cfg->path;
	o->plugins = &s->set;
	o->host = &s->hc;
	o->policy = s->pol;
}

void session_close(struct session *s)
{
	if (s->pol)
		policy_free(s->pol);
	plugins_unload(&s->set);
	host_free(&s->hc);
	json_decref(s->resolved);
	if (s->dirs)
		plugins_dirs_free(s->dirs);
	config_free(&s->cfg);
	memset(s, 0, sizeof *s);
}
