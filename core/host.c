/* host.c - the gbx_host table plugins receive, and the kind registry.
 *
 * A gbx_task handed to a plugin is the engine's `const struct task *`, cast to
 * an opaque type: plugins read it only through the accessors below, so the
 * engine's structs can change without breaking a plugin built against an
 * older minor of the ABI.
 */
#include "host.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins.h"

#define T(x) ((const struct task *)(const void *)(x))

/* Each plugin's host table has ctx = its struct plugin_ctx (plugins.h). */
static struct hostctx *HC(void *ctx)
{
	return ((struct plugin_ctx *)ctx)->ctx;
}

static void h_log(void *ctx, int level, const char *msg)
{
	fprintf(stderr, "gearbox: plugin %s: %s%s\n", ((struct plugin_ctx *)ctx)->name,
		level >= 2 ? "error: " : level == 1 ? "warning: " : "", msg);
}

void host_attach(struct hostctx *hc, struct engine *e)
{
	pthread_mutex_lock(&hc->mu);
	hc->e = e;
	pthread_mutex_unlock(&hc->mu);
}

static void h_event(void *ctx, const char *name, const gbx_task *t, const char *fields)
{
	struct hostctx *hc = HC(ctx);
	pthread_mutex_lock(&hc->mu);
	if (hc->e)
		engine_plugin_event(hc->e, name, t ? T(t) : NULL, fields);
	pthread_mutex_unlock(&hc->mu);
}

static int h_lua_fn(void *ctx, const char *table, const char *name, gbx_lua_fn fn, void *self)
{
	struct hostctx *hc = HC(ctx);
	if (!table || !name || !fn)
		return -1;
	struct lua_reg *n = realloc(hc->lua, (hc->nlua + 1) * sizeof *n);
	if (!n)
		return -1;
	hc->lua = n;
	hc->lua[hc->nlua].table = strdup(table);
	hc->lua[hc->nlua].name = strdup(name);
	hc->lua[hc->nlua].fn = fn;
	hc->lua[hc->nlua].self = self;
	hc->nlua++;
	return 0;
}

static const char *h_id(const gbx_task *t) { return T(t)->id; }
static const char *h_target(const gbx_task *t) { return T(t)->spec->target; }
static const char *const *h_argv(const gbx_task *t) { return (const char *const *)T(t)->spec->argv; }
static const char *h_sh(const gbx_task *t) { return T(t)->spec->sh; }
static const char *const *h_env(const gbx_task *t) { return (const char *const *)T(t)->spec->env; }
static const char *h_cwd(const gbx_task *t) { return T(t)->spec->cwd; }
static const char *const *h_inputs(const gbx_task *t) { return (const char *const *)T(t)->spec->inputs; }
static const char *const *h_outputs(const gbx_task *t) { return (const char *const *)T(t)->spec->outputs; }
static int h_cache(const gbx_task *t) { return T(t)->spec->cache; }
static int h_attempt(const gbx_task *t) { return T(t)->attempts; }
static int64_t h_timeout(const gbx_task *t) { return T(t)->timeout_ms; }
static int h_priority(const gbx_task *t) { return T(t)->priority; }

static const char *h_stdin(const gbx_task *t, size_t *len)
{
	if (len)
		*len = T(t)->spec->stdin_len;
	return T(t)->spec->stdin_data;
}

static char *h_field_json(const gbx_task *t, const char *name)
{
	const struct spec *s = T(t)->spec;
	json_t *v = NULL;
	if (!strcmp(name, "meta"))
		v = s->meta;
	else if (s->extra)
		v = json_object_get(s->extra, name);
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static int h_slot(const gbx_task *t) { return T(t)->slot; }

static double h_wait(const gbx_task *t)
{
	const struct task *x = T(t);
	return x->start_ns > x->ready_ns ? (double)(x->start_ns - x->ready_ns) / 1e6 : 0;
}

static double elapsed(void *ctx, int64_t ns)
{
	struct hostctx *hc = HC(ctx);
	pthread_mutex_lock(&hc->mu);
	double ms = hc->e ? engine_elapsed_ms(hc->e, ns) : 0;
	pthread_mutex_unlock(&hc->mu);
	return ms;
}

static double h_start(void *ctx, const gbx_task *t)
{
	return elapsed(ctx, T(t)->start_ns);
}

static double h_now(void *ctx)
{
	return elapsed(ctx, now_ns());
}

int host_set_config(struct hostctx *hc, const char *config_path, struct err *err)
{
	free(hc->config_dir);
	hc->config_dir = NULL;
	char *dir = NULL;
	if (config_path && strchr(config_path, '/')) {
		size_t n = (size_t)(strrchr(config_path, '/') - config_path);
		dir = strndup(config_path, n ? n : 1);
	} else {
		dir = strdup(".");
	}
	if (!dir)
		return err_set(err, "out of memory");
	hc->config_dir = realpath(dir, NULL);
	if (!hc->config_dir) {
		err_set(err, "%s: cannot resolve the config's directory: %s",
			config_path ? config_path : ".", strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

static const char *h_config_dir(void *ctx)
{
	struct hostctx *hc = HC(ctx);
	return hc->config_dir ? hc->config_dir : ".";
}

static const char *h_kind(const gbx_task *t)
{
	return spec_kind_name(T(t)->spec);
}

void host_table(struct hostctx *hc, struct gbx_host *h)
{
	memset(h, 0, sizeof *h);
	h->size = sizeof *h;
	h->abi_major = GBX_PLUGIN_ABI_MAJOR;
	h->abi_minor = GBX_PLUGIN_ABI_MINOR;
	h->ctx = hc;
	h->log = h_log;
	h->event = h_event;
	h->lua_fn = h_lua_fn;
	h->task_id = h_id;
	h->task_kind = h_kind;
	h->task_target = h_target;
	h->task_argv = h_argv;
	h->task_sh = h_sh;
	h->task_env = h_env;
	h->task_cwd = h_cwd;
	h->task_stdin = h_stdin;
	h->task_inputs = h_inputs;
	h->task_outputs = h_outputs;
	h->task_cache = h_cache;
	h->task_attempt = h_attempt;
	h->task_timeout_ms = h_timeout;
	h->task_priority = h_priority;
	h->task_field_json = h_field_json;
	h->task_slot = h_slot;
	h->task_wait_ms = h_wait;
	h->task_start_ms = h_start;
	h->now_ms = h_now;
	h->config_dir = h_config_dir;
}

int host_registry(struct hostctx *hc, const struct plugin_set *set, struct err *err)
{
	size_t nk = 0, nf = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct gbx_plugin *d = set->p[i].d;
		for (const struct gbx_kind *k = d->kinds; k && k->name; k++)
			nk++;
		for (const char *const *f = d->task_fields; f && *f; f++)
			nf++;
	}
	hc->kinds = calloc(nk + 1, sizeof *hc->kinds);
	hc->impl = calloc(nk + 1, sizeof *hc->impl);
	hc->fields = calloc(nf + 1, sizeof *hc->fields);
	if (!hc->kinds || !hc->impl || !hc->fields)
		return err_set(err, "out of memory");
	size_t ki = 0, fi = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct gbx_plugin *d = set->p[i].d;
		for (const struct gbx_kind *k = d->kinds; k && k->name; k++) {
			for (size_t j = 0; j < ki; j++)
				if (!strcmp(hc->kinds[j].name, k->name))
					return err_set(err, "plugins %s and %s both add the task kind \"%s\"",
						       hc->impl[j].plugin, d->name, k->name);
			if (!k->run)
				return err_set(err, "plugin %s: task kind \"%s\" has no run function",
					       d->name, k->name);
			hc->kinds[ki].name = k->name;
			hc->kinds[ki].fields = k->fields;
			hc->impl[ki].k = k;
			hc->impl[ki].self = set->p[i].self;
			hc->impl[ki].plugin = d->name;
			ki++;
		}
		for (const char *const *f = d->task_fields; f && *f; f++)
			hc->fields[fi++] = *f;
	}
	hc->reg.kinds = hc->kinds;
	hc->reg.nkinds = ki;
	hc->reg.fields = hc->fields;
	return 0;
}

static int lua_tramp(void *ud, const struct policy_value *args, int nargs,
		     struct policy_value *ret)
{
	struct lua_reg *r = ud;
	struct gbx_value a[16], out = {0, 0, NULL, NULL};
	if (nargs > 16)
		nargs = 16;
	for (int i = 0; i < nargs; i++) {
		a[i].type = args[i].type;
		a[i].num = args[i].num;
		a[i].str = args[i].str;
		a[i].task = (const gbx_task *)(const void *)args[i].task;
	}
	int rc = r->fn(r->self, a, nargs, &out);
	ret->type = out.type;
	ret->num = out.num;
	ret->str = out.str;
	return rc;
}

int host_add_kind(struct hostctx *hc, const struct gbx_kind *k, void *self, const char *owner)
{
	size_t n = hc->reg.nkinds;
	struct kind_def *kd = realloc(hc->kinds, (n + 2) * sizeof *kd);
	if (!kd)
		return -1;
	hc->kinds = kd;
	struct kind_impl *ki = realloc(hc->impl, (n + 2) * sizeof *ki);
	if (!ki)
		return -1;
	hc->impl = ki;
	hc->kinds[n].name = k->name;
	hc->kinds[n].fields = k->fields;
	hc->impl[n].k = k;
	hc->impl[n].self = self;
	hc->impl[n].plugin = owner;
	hc->reg.kinds = hc->kinds;
	hc->reg.nkinds = n + 1;
	return 0;
}

int host_lua_apply(struct hostctx *hc, struct policy *p, struct err *err)
{
	for (size_t i = 0; i < hc->nlua; i++)
		if (policy_register_fn(p, hc->lua[i].table, hc->lua[i].name, lua_tramp, &hc->lua[i], err))
			return -1;
	return 0;
}

int host_validate(struct hostctx *hc, const struct workload *wl, struct err *err)
{
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct task *t = &wl->tasks[i];
		if (t->spec->kind != KIND_PLUGIN || t->spec->pkind >= hc->reg.nkinds)
			continue;
		const struct kind_impl *ki = &hc->impl[t->spec->pkind];
		if (!ki->k->validate)
			continue;
		char msg[512] = "";
		if (ki->k->validate(ki->self, (const gbx_task *)(const void *)t, msg, sizeof msg))
			return err_set(err, "%s: task \"%s\": %s", wl->path, t->id,
				       msg[0] ? msg : "rejected by its kind");
	}
	return 0;
}

void host_free(struct hostctx *hc)
{
	for (size_t i = 0; i < hc->nlua; i++) {
		free(hc->lua[i].table);
		free(hc->lua[i].name);
	}
	free(hc->lua);
	free(hc->kinds);
	free(hc->impl);
	free(hc->fields);
	free(hc->config_dir);
	memset(hc, 0, sizeof *hc);
}
