/* plugins.c - the plugin loader. See plugins.h.
 *
 * Owns: the search path, the resolution of which plugins are on (config,
 * then --enable, then --disable), dlopen/dlsym, the descriptor checks (ABI
 * major first, before any other field is read), config-key validation,
 * init/fini, and the per-hook arrays.
 *
 * Invariants: a plugin_set holds only plugins whose init succeeded; it is
 * either fully loaded or empty (a failure part-way unloads what was loaded).
 * set->p is allocated once at its final size, so the per-hook arrays may point
 * into it. Plugins get &p->host, so a loaded set must not be moved.
 */
#include "plugins.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Kinds the core runs itself; a plugin may not take these names. */
static const char *const builtin_kinds[] = {"exec", "sim", NULL};

/* ---- small helpers ------------------------------------------------------- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "gearbox: out of memory\n");
		abort();
	}
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fprintf(stderr, "gearbox: out of memory\n");
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *p = xmalloc(n + 1);
	memcpy(p, s, n + 1);
	return p;
}

/* dir + "/" + name + suffix, without doubling a trailing slash. */
static char *path_join(const char *dir, const char *name, const char *suffix)
{
	struct buf b = {0};
	buf_adds(&b, dir);
	if (b.len == 0 || b.p[b.len - 1] != '/')
		buf_add(&b, "/", 1);
	buf_adds(&b, name);
	buf_adds(&b, suffix);
	return b.p;
}

static int is_file(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* A plugin name is a file name stem: letters, digits, '_' and '-'. Anything
 * else (a '/', a leading '.') could make NAME.so point outside the plugin
 * directories. */
static int valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* dlerror() usually starts with the file name, which our message already
 * leads with; drop the repetition. */
static const char *dl_reason(const char *path)
{
	const char *e = dlerror();
	if (!e)
		return "unknown error";
	size_t n = strlen(path);
	if (!strncmp(e, path, n) && e[n] == ':' && e[n + 1] == ' ')
		return e + n + 2;
	return e;
}

static int abi_ok(const struct gbx_plugin *d)
{
	return d->abi_major == GBX_PLUGIN_ABI_MAJOR;
}

/* path may be NULL when the caller shows it elsewhere (a row of the list). */
static int abi_error(struct err *err, const char *path, const struct gbx_plugin *d)
{
	return err_set(err,
		       "%s%splugin ABI %u.%u is not supported by this gearbox (ABI %u.%u); "
		       "rebuild it against this gearbox's SDK",
		       path ? path : "", path ? ": " : "", (unsigned)d->abi_major, (unsigned)d->abi_minor,
		       (unsigned)GBX_PLUGIN_ABI_MAJOR, (unsigned)GBX_PLUGIN_ABI_MINOR);
}

/* ---- search path --------------------------------------------------------- */

static void dirs_push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 8;
		char **nv = realloc(*v, *cap * sizeof **v);
		if (!nv) {
			fprintf(stderr, "gearbox: out of memory\n");
			abort();
		}
		*v = nv;
	}
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* PREFIX/lib/gearbox/plugins from PREFIX/bin; spelled without "bin/.." when
 * the binary's directory has a last component to strip, so messages read well. */
static char *prefix_dir(const char *exe_dir)
{
	struct buf b = {0};
	const char *slash = strrchr(exe_dir, '/');
	const char *last = slash ? slash + 1 : exe_dir;
	if (slash && *last && strcmp(last, ".") && strcmp(last, "..")) {
		if (slash == exe_dir)
			buf_add(&b, "/", 1);
		else
			buf_add(&b, exe_dir, (size_t)(slash - exe_dir));
		buf_adds(&b, b.p[b.len - 1] == '/' ? "lib/gearbox/plugins" : "/lib/gearbox/plugins");
	} else {
		buf_adds(&b, exe_dir);
		buf_adds(&b, "/../lib/gearbox/plugins");
	}
	return b.p;
}

char **plugins_dirs(json_t *cfg_path, const char *exe_dir, size_t *n_user)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	size_t i;
	json_t *x;
	json_array_foreach(cfg_path, i, x) {
		const char *s = json_string_value(x);
		if (s && *s)
			dirs_push(&v, &n, &cap, xstrdup(s));
	}
	const char *env = getenv("GEARBOX_PLUGIN_PATH");
	while (env && *env) {
		const char *colon = strchr(env, ':');
		size_t len = colon ? (size_t)(colon - env) : strlen(env);
		if (len) {
			char *s = xmalloc(len + 1);
			memcpy(s, env, len);
			s[len] = 0;
			dirs_push(&v, &n, &cap, s);
		}
		env = colon ? colon + 1 : NULL;
	}
	if (n_user)
		*n_user = n;
	if (exe_dir && *exe_dir) {
		dirs_push(&v, &n, &cap, path_join(exe_dir, "plugins", ""));
		dirs_push(&v, &n, &cap, prefix_dir(exe_dir));
	}
	if (!v)
		v = xcalloc(1, sizeof *v);
	return v;
}

void plugins_dirs_free(char **dirs)
{
	if (!dirs)
		return;
	for (char **d = dirs; *d; d++)
		free(*d);
	free(dirs);
}

/* Finds NAME.so. The user directories are searched in full so that two
 * different files there are caught (which one wins would otherwise depend on
 * the order of plugin_path and GEARBOX_PLUGIN_PATH, a silent trap); the same
 * file reached twice (a directory listed twice, a symlink) is fine. Only when
 * the user directories have no NAME.so are the build and prefix dirs tried.
 * Returns a new path, or NULL with err set. */
static char *find_plugin(const char *name, char **dirs, size_t n_user, struct err *err)
{
	char *found = NULL;
	struct stat fst = {0}, st;
	size_t ndirs = 0;
	while (dirs[ndirs])
		ndirs++;
	if (n_user > ndirs)
		n_user = ndirs;
	for (size_t i = 0; i < n_user; i++) {
		char *p = path_join(dirs[i], name, ".so");
		if (!is_file(p, &st)) {
			free(p);
			continue;
		}
		if (!found) {
			found = p;
			fst = st;
		} else if (st.st_dev != fst.st_dev || st.st_ino != fst.st_ino) {
			err_set(err,
				"plugin \"%s\" is in two plugin directories: %s and %s; "
				"remove one, or fix plugin_path / GEARBOX_PLUGIN_PATH",
				name, found, p);
			free(p);
			free(found);
			return NULL;
		} else {
			free(p);
		}
	}
	if (found)
		return found;
	for (size_t i = n_user; dirs[i]; i++) {
		char *p = path_join(dirs[i], name, ".so");
		if (is_file(p, &st))
			return p;
		free(p);
	}
	struct buf b = {0};
	for (size_t i = 0; dirs[i]; i++) {
		if (i)
			buf_adds(&b, ", ");
		buf_adds(&b, dirs[i]);
	}
	err_set(err, "plugin \"%s\" not found (searched: %s)", name,
		b.len ? b.p : "no plugin directories");
	buf_free(&b);
	return NULL;
}

/* ---- resolution ---------------------------------------------------------- */

static json_t *entry_for(json_t *out, const char *name)
{
	json_t *e = json_object_get(out, name);
	if (!e) {
		e = json_pack("{s:b, s:s, s:i, s:o}", "enabled", 0, "why", "", "order", 0,
			      "config", json_object());
		json_object_set_new(out, name, e);
	}
	return e;
}

static int apply_flags(json_t *out, char *const *list, int on, struct err *err)
{
	const char *flag = on ? "--enable" : "--disable";
	for (; list && *list; list++) {
		if (!valid_name(*list))
			return err_set(err, "%s %s: not a plugin name (letters, digits, '_' and '-' only)",
				       flag, *list);
		json_t *e = entry_for(out, *list);
		json_object_set_new(e, "enabled", json_boolean(on));
		json_object_set_new(e, "why", json_string(on ? "enabled by --enable"
							     : "disabled by --disable"));
	}
	return 0;
}

json_t *plugins_resolve(json_t *cfg_plugins, char *const *enable, char *const *disable,
			struct err *err)
{
	json_t *out = json_object();
	if (cfg_plugins && !json_is_object(cfg_plugins)) {
		err_set(err, "plugins: expected an object of NAME: {...}");
		goto fail;
	}
	const char *name;
	json_t *v;
	json_object_foreach(cfg_plugins, name, v) {
		if (!json_is_object(v)) {
			err_set(err, "plugins.%s: expected an object", name);
			goto fail;
		}
		if (!valid_name(name)) {
			err_set(err, "plugins.%s: not a plugin name (letters, digits, '_' and '-' only)",
				name);
			goto fail;
		}
		json_t *en = json_object_get(v, "enabled");
		if (en && !json_is_boolean(en)) {
			err_set(err, "plugins.%s.enabled: expected true or false", name);
			goto fail;
		}
		json_t *ord = json_object_get(v, "order");
		if (ord && (!json_is_integer(ord) || json_integer_value(ord) < INT_MIN ||
			    json_integer_value(ord) > INT_MAX)) {
			err_set(err, "plugins.%s.order: expected an integer", name);
			goto fail;
		}
		json_t *e = entry_for(out, name);
		json_object_set_new(e, "enabled", json_boolean(json_is_true(en)));
		json_object_set_new(e, "why", json_string(json_is_true(en) ? "enabled by the config"
							  : en ? "disabled by the config"
							       : "not enabled in the config"));
		json_object_set_new(e, "order", json_integer(ord ? json_integer_value(ord) : 0));
		json_t *cfg = json_object_get(e, "config");
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if (strcmp(k, "enabled") && strcmp(k, "order"))
				json_object_set(cfg, k, x);
		}
	}
	/* --disable after --enable: a name in both ends up disabled. */
	if (apply_flags(out, enable, 1, err) || apply_flags(out, disable, 0, err))
		goto fail;
	return out;
fail:
	json_decref(out);
	return NULL;
}

/* ---- loading ------------------------------------------------------------- */

struct want {
	const char *name;
	int order;
	json_t *config;
};

static int want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int check_config(const char *file, const char *name, const struct gbx_plugin *d,
			json_t *config, struct err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(config, k, v) {
		if (in_list(k, d->config_keys))
			continue;
		static const char *const fixed[] = {"enabled", "order", NULL};
		int bd, bd2;
		const char *best = nearest_name(k, fixed, SIZE_MAX, &bd);
		const char *best2 = nearest_name(k, d->config_keys, SIZE_MAX, &bd2);
		if (bd2 < bd)
			best = best2;
		if (best)
			return err_set(err, "%s: plugins.%s: unknown key \"%s\" (did you mean \"%s\"?)",
				       file, name, k, best);
		struct buf b = {0};
		buf_adds(&b, "enabled, order");
		for (const char *const *c = d->config_keys; c && *c; c++)
			buf_addf(&b, ", %s", *c);
		err_set(err, "%s: plugins.%s: unknown key \"%s\" (%s accepts: %s)", file, name, k,
			name, b.p);
		buf_free(&b);
		return -1;
	}
	return 0;
}

/* Descriptor checks after the ABI: the name is the file's, kinds are complete
 * and clash neither with the built-in kinds nor with an earlier plugin's. */
static int check_descriptor(const char *path, const char *name, const struct gbx_plugin *d,
			    const struct plugin *loaded, size_t nloaded, struct err *err)
{
	if (!d->name || strcmp(d->name, name))
		return err_set(err,
			       "%s: the descriptor names the plugin \"%s\", not \"%s\"; "
			       "a plugin's file must be NAME.so for its name",
			       path, d->name ? d->name : "(null)", name);
	for (const struct gbx_kind *k = d->kinds; k && k->name; k++) {
		if (!k->run)
			return err_set(err, "%s: kind \"%s\" has no run function", path, k->name);
		if (in_list(k->name, builtin_kinds))
			return err_set(err, "%s: kind \"%s\" is built into gearbox; choose another name",
				       path, k->name);
		for (const struct gbx_kind *k2 = d->kinds; k2 != k; k2++)
			if (!strcmp(k2->name, k->name))
				return err_set(err, "%s: kind \"%s\" is declared twice", path, k->name);
		for (size_t i = 0; i < nloaded; i++)
			for (const struct gbx_kind *o = loaded[i].d->kinds; o && o->name; o++)
				if (!strcmp(o->name, k->name))
					return err_set(err,
						       "kind \"%s\" is added by two plugins: %s (%s) and %s (%s)",
						       k->name, loaded[i].d->name, loaded[i].path, name, path);
	}
	return 0;
}

enum hook { H_BEFORE, H_AFTER, H_ATTEMPT, H_TICK, H_START, H_END };

static int has_hook(const struct gbx_plugin *d, enum hook h)
{
	switch (h) {
	case H_BEFORE: return d->before_task != NULL;
	case H_AFTER: return d->after_task != NULL && !has_hook(d, H_ATTEMPT);
	case H_ATTEMPT: return d->abi_minor >= 2 && d->after_attempt != NULL;
	case H_TICK: return d->tick != NULL;
	case H_START: return d->run_start != NULL;
	case H_END: return d->run_end != NULL;
	}
	return 0;
}

static void build_hook(struct plugin_set *set, struct plugin ***arr, size_t *n, enum hook h)
{
	*n = 0;
	*arr = NULL;
	for (size_t i = 0; i < set->n; i++) {
		if (!has_hook(set->p[i].d, h))
			continue;
		if (!*arr)
			*arr = xcalloc(set->n, sizeof **arr);
		(*arr)[(*n)++] = &set->p[i];
	}
}

static void set_clear(struct plugin_set *set)
{
	for (size_t i = set->n; i-- > 0;) {
		struct plugin *p = &set->p[i];
		if (p->inited && p->d->fini)
			p->d->fini(p->self);
		p->inited = 0;
	}
	for (size_t i = set->n; i-- > 0;) {
		if (set->p[i].dl)
			dlclose(set->p[i].dl);
		free(set->p[i].path);
	}
	free(set->p);
	free(set->before);
	free(set->after);
	free(set->attempt);
	free(set->tick);
	free(set->start);
	free(set->end);
	memset(set, 0, sizeof *set);
}

int plugins_load(struct plugin_set *set, json_t *resolved, char **dirs, size_t n_user,
		 const char *config_file, const struct gbx_host *host, struct err *err)
{
	memset(set, 0, sizeof *set);
	if (host)
		set->host = *host;
	/* The loader is the one that knows which table it hands out. */
	set->host.size = sizeof set->host;
	set->host.abi_major = GBX_PLUGIN_ABI_MAJOR;
	set->host.abi_minor = GBX_PLUGIN_ABI_MINOR;
	if (!config_file)
		config_file = "the command line";

	size_t nwant = 0;
	const char *name;
	json_t *e;
	json_object_foreach(resolved, name, e) nwant += json_is_true(json_object_get(e, "enabled"));
	if (!nwant)
		return 0;
	struct want *want = xcalloc(nwant, sizeof *want);
	size_t w = 0;
	json_object_foreach(resolved, name, e) {
		if (!json_is_true(json_object_get(e, "enabled")))
			continue;
		json_t *cfg = json_object_get(e, "config");
		want[w].name = name;
		want[w].order = (int)json_integer_value(json_object_get(e, "order"));
		want[w].config = json_is_object(cfg) ? cfg : NULL;
		w++;
	}
	qsort(want, nwant, sizeof *want, want_cmp);

	set->p = xcalloc(nwant, sizeof *set->p);
	char *path = NULL;
	for (w = 0; w < nwant; w++) {
		const char *nm = want[w].name;
		if (!valid_name(nm)) {
			err_set(err, "plugins.%s: not a plugin name (letters, digits, '_' and '-' only)", nm);
			goto fail;
		}
		path = find_plugin(nm, dirs, n_user, err);
		if (!path)
			goto fail;
		dlerror();
		void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!dl) {
			err_set(err, "%s: cannot load: %s", path, dl_reason(path));
			goto fail;
		}
		struct plugin *p = &set->p[set->n++];
		p->dl = dl;
		p->path = path;
		p->order = want[w].order;
		path = NULL;
		dlerror();
		p->d = dlsym(dl, GBX_PLUGIN_SYMBOL);
		if (!p->d) {
			err_set(err, "%s: not a gearbox plugin: no symbol %s", p->path, GBX_PLUGIN_SYMBOL);
			goto fail;
		}
		/* Before anything else: a descriptor of another major may not even
		 * have the layout we are about to read. A different minor is fine;
		 * fields added after 1.0 must be read only when d->abi_minor has them. */
		if (!abi_ok(p->d)) {
			abi_error(err, p->path, p->d);
			goto fail;
		}
		if (check_descriptor(p->path, nm, p->d, set->p, set->n - 1, err))
			goto fail;
		json_t *cfg = want[w].config;
		if (cfg && check_config(config_file, nm, p->d, cfg, err))
			goto fail;
		if (p->d->init) {
			char *cj = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
			char msg[1024] = "";
			p->host = set->host;
			p->pctx.ctx = set->host.ctx;
			p->pctx.name = p->d->name;
			p->host.ctx = &p->pctx;
			int rc = p->d->init(&p->host, cj ? cj : "{}", &p->self, msg, sizeof msg);
			free(cj);
			if (rc != 0) {
				msg[sizeof msg - 1] = 0;
				err_set(err, "plugin %s: init failed: %s", nm, msg[0] ? msg : "(no message)");
				goto fail;
			}
		}
		p->inited = 1;
		/* ABI 1.3: the share of tasks after_attempt sees one by one, as a
		 * threshold on a 32-bit hash (2^32: every task) */
		p->sample_thresh = (uint64_t)1 << 32;
		if (p->d->abi_minor >= 3 && p->d->attempt_sample) {
			double r = p->d->attempt_sample(p->self);
			if (r >= 0 && r < 1)
				p->sample_thresh = (uint64_t)(r * 4294967296.0);
		}
	}
	free(want);
	build_hook(set, &set->before, &set->nbefore, H_BEFORE);
	build_hook(set, &set->after, &set->nafter, H_AFTER);
	build_hook(set, &set->attempt, &set->nattempt, H_ATTEMPT);
	build_hook(set, &set->tick, &set->ntick, H_TICK);
	build_hook(set, &set->start, &set->nstart, H_START);
	build_hook(set, &set->end, &set->nend, H_END);
	return 0;
fail:
	free(path);
	free(want);
	set_clear(set);
	return -1;
}

size_t plugins_deferred(const struct plugin_set *set, struct gbx_count *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; set && i < set->n && n < cap; i++) {
		int64_t d = atomic_load_explicit(&set->p[i].deferrals, memory_order_relaxed);
		if (d) {
			out[n].name = set->p[i].d->name;
			out[n++].n = d;
		}
	}
	return n;
}

void plugins_unload(struct plugin_set *set)
{
	if (set)
		set_clear(set);
}

/* ---- listing ------------------------------------------------------------- */

struct found {
	char *name, *path;
	char *bad;           /* why this file cannot be a plugin (listed, never loaded), or NULL */
	size_t dir;          /* index in dirs */
	dev_t dev;
	ino_t ino;
};

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Reads the descriptor of one file into row (name, path, enabled, why are
 * already set). Leaves row->error set when it cannot; version and description
 * stay NULL unless the descriptor could be read. */
static void read_descriptor(struct plugin_info *row)
{
	struct err e;
	dlerror();
	void *dl = dlopen(row->path, RTLD_LAZY | RTLD_LOCAL);
	if (!dl) {
		err_set(&e, "cannot load: %s", dl_reason(row->path));
		row->error = xstrdup(e.msg);
		return;
	}
	dlerror();
	const struct gbx_plugin *d = dlsym(dl, GBX_PLUGIN_SYMBOL);
	if (!d) {
		row->error = xstrdup("not a gearbox plugin: no symbol " GBX_PLUGIN_SYMBOL);
	} else {
		row->abi_major = d->abi_major;
		row->abi_minor = d->abi_minor;
		if (!abi_ok(d)) {
			abi_error(&e, NULL, d);
			row->error = xstrdup(e.msg);
		} else {
			row->version = xstrdup(d->version ? d->version : "");
			row->description = xstrdup(d->description ? d->description : "");
			if (!d->name || strcmp(d->name, row->name)) {
				err_set(&e, "the descriptor names the plugin \"%s\", not \"%s\"",
					d->name ? d->name : "(null)", row->name);
				row->error = xstrdup(e.msg);
			}
		}
	}
	dlclose(dl);
}

static void list_dir(const char *dir, size_t di, struct found **v, size_t *n, size_t *cap)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return; /* absent (the usual case for the prefix dir) or unreadable */
	struct dirent *de;
	while ((de = readdir(dp))) {
		size_t len = strlen(de->d_name);
		if (len <= 3 || strcmp(de->d_name + len - 3, ".so") || de->d_name[0] == '.')
			continue;
		char *path = path_join(dir, de->d_name, "");
		struct stat st;
		char *bad = NULL;
		if (!is_file(path, &st)) {
			/* listed with the reason rather than skipped in silence: a
			 * symlink loop, a dangling link, a directory */
			int en = errno;
			struct stat lst;
			if (lstat(path, &lst)) {
				free(path);
				continue;
			}
			struct err be;
			if (stat(path, &st) == 0)
				err_set(&be, "not a regular file (%s)", S_ISDIR(st.st_mode) ? "a directory"
					: "a device, FIFO or socket");
			else if (en == ELOOP)
				err_set(&be, "a symlink loop: %s", strerror(en));
			else
				err_set(&be, "%s: %s", S_ISLNK(lst.st_mode) ? "a dangling symlink" : "cannot stat",
					strerror(en));
			bad = xstrdup(be.msg);
			st = lst;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			struct found *nv = realloc(*v, *cap * sizeof **v);
			if (!nv) {
				fprintf(stderr, "gearbox: out of memory\n");
				abort();
			}
			*v = nv;
		}
		struct found *f = &(*v)[(*n)++];
		f->name = xmalloc(len - 2);
		memcpy(f->name, de->d_name, len - 3);
		f->name[len - 3] = 0;
		f->path = path;
		f->dir = di;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->bad = bad;
	}
	closedir(dp);
}

int plugins_list(char **dirs, size_t n_user, json_t *resolved, struct plugin_info **out,
		 size_t *n, struct err *err)
{
	struct found *f = NULL;
	size_t nf = 0, cap = 0;
	for (size_t i = 0; dirs && dirs[i]; i++)
		list_dir(dirs[i], i, &f, &nf, &cap);
	if (nf)
		qsort(f, nf, sizeof *f, found_cmp);

	size_t nres = resolved ? json_object_size(resolved) : 0;
	struct plugin_info *rows = xcalloc(nf + nres, sizeof *rows);
	size_t nr = 0;
	for (size_t i = 0; i < nf;) {
		/* f[i .. j) share a name; f[i] is the one the loader would pick */
		size_t j = i + 1;
		while (j < nf && !strcmp(f[j].name, f[i].name))
			j++;
		json_t *e = resolved ? json_object_get(resolved, f[i].name) : NULL;
		/* the loader refuses two different files among the user dirs */
		const char *conflict = NULL;
		for (size_t k = i + 1; k < j && f[i].dir < n_user; k++)
			if (f[k].dir < n_user && (f[k].dev != f[i].dev || f[k].ino != f[i].ino)) {
				conflict = f[k].path;
				break;
			}
		for (size_t k = i; k < j; k++) {
			int same = 0;
			for (size_t m = i; m < k; m++)
				same |= f[m].dev == f[k].dev && f[m].ino == f[k].ino;
			if (same)
				continue; /* one file reached through two dirs: one row */
			struct plugin_info *r = &rows[nr++];
			r->name = xstrdup(f[k].name);
			r->path = xstrdup(f[k].path);
			struct buf why = {0};
			if (k == i) {
				r->enabled = e && json_is_true(json_object_get(e, "enabled"));
				buf_adds(&why, e ? json_string_value(json_object_get(e, "why"))
						 : "not enabled in the config");
				if (conflict)
					buf_addf(&why, "; also in %s: two plugin directories hold %s.so, "
						       "so loading it fails", conflict, f[i].name);
			} else {
				buf_addf(&why, "shadowed by %s", f[i].path);
			}
			r->why = why.p;
			if (f[k].bad)
				r->error = xstrdup(f[k].bad);
			else
				read_descriptor(r);
		}
		i = j;
	}
	/* Enabled but nowhere to be found: say so here rather than only at run. */
	const char *name;
	json_t *e;
	json_object_foreach(resolved, name, e) {
		if (!json_is_true(json_object_get(e, "enabled")))
			continue;
		int seen = 0;
		for (size_t k = 0; k < nr && !seen; k++)
			seen = !strcmp(rows[k].name, name);
		if (seen)
			continue;
		struct plugin_info *r = &rows[nr++];
		struct err fe;
		char *p = find_plugin(name, dirs, n_user, &fe);
		int raced = p != NULL;
		free(p);
		r->name = xstrdup(name);
		r->path = xstrdup("");
		r->enabled = 1;
		r->why = xstrdup(json_string_value(json_object_get(e, "why")));
		r->error = xstrdup(raced ? "found only now (the directory changed?)" : fe.msg);
	}
	/* the not-found rows go in by name too; insertion keeps the order of
	 * rows of one name (the one the loader would pick first) */
	for (size_t i = 1; i < nr; i++) {
		struct plugin_info r = rows[i];
		size_t j = i;
		for (; j > 0 && strcmp(rows[j - 1].name, r.name) > 0; j--)
			rows[j] = rows[j - 1];
		rows[j] = r;
	}
	for (size_t i = 0; i < nf; i++) {
		free(f[i].name);
		free(f[i].path);
		free(f[i].bad);
	}
	free(f);
	if (!nr) {
		free(rows);
		rows = NULL;
	}
	*out = rows;
	*n = nr;
	(void)err;
	return 0;
}

void plugins_info_free(struct plugin_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].version);
		free(list[i].description);
		free(list[i].path);
		free(list[i].why);
		free(list[i].error);
	}
	free(list);
}
