/* host.c - the gbx_host table plugins receive, and the kind registry.
 *
 * A gbx_task handed to a plugin is the engine's `const struct task *`, cast to
 * an opaque type: plugins read it only through the accessors below, so the
 * engine's structs can change without breaking a plugin built against an
 * older minor of the ABI.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
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

/* ---- ABI 1.4: per-task data, deferrals, the stop flag --------------------- */

static void **h_task_data(void *ctx, const gbx_task *t)
{
	struct plugin_ctx *pc = ctx;
	struct hostctx *hc = pc->ctx;
	if (!pc->data_idx || !hc->tdata || !t)
		return NULL;
	const struct task *x = T(t);
	if (x < hc->wl->tasks || x >= hc->wl->tasks + hc->wl->ntasks)
		return NULL;
	return &hc->tdata[(size_t)(x - hc->wl->tasks) * hc->ndata + (size_t)(pc->data_idx - 1)];
}

static int h_task_deferrals(const gbx_task *t)
{
	return T(t)->deferrals;
}

static int h_stopping(void *ctx)
{
	return atomic_load_explicit(&HC(ctx)->stop, memory_order_acquire);
}

static int h_stop_fd(void *ctx)
{
	struct hostctx *hc = HC(ctx);
	pthread_mutex_lock(&hc->mu);
	if (!hc->stop_pipe[0] && !hc->stop_pipe[1]) {
		int fd[2];
		if (pipe2(fd, O_CLOEXEC | O_NONBLOCK) == 0) {
			hc->stop_pipe[0] = fd[0];
			hc->stop_pipe[1] = fd[1];
			if (atomic_load(&hc->stop))
				(void)!write(fd[1], "x", 1);
		} else {
			hc->stop_pipe[0] = hc->stop_pipe[1] = -1;
		}
	}
	int r = hc->stop_pipe[0];
	pthread_mutex_unlock(&hc->mu);
	return r;
}

void host_stop(struct hostctx *hc)
{
	if (!hc || atomic_exchange(&hc->stop, 1))
		return;
	pthread_mutex_lock(&hc->mu);
	if (hc->stop_pipe[1] > 0)
		(void)!write(hc->stop_pipe[1], "x", 1);
	pthread_mutex_unlock(&hc->mu);
}

int host_run_begin(struct hostctx *hc, const struct workload *wl)
{
	pthread_mutex_lock(&hc->mu);
	atomic_store(&hc->stop, 0);
	if (hc->stop_pipe[0] > 0) {
		char b[16];
		while (read(hc->stop_pipe[0], b, sizeof b) > 0)
			;
	}
	pthread_mutex_unlock(&hc->mu);
	hc->wl = wl;
	for (size_t i = 0; hc->set && i < hc->set->n; i++) /* counts are per run */
		atomic_store(&((struct plugin *)&hc->set->p[i])->deferrals, 0);
	free(hc->tdata);
	hc->tdata = NULL;
	if (hc->ndata && wl && wl->ntasks) {
		hc->tdata = calloc((size_t)wl->ntasks * hc->ndata, sizeof *hc->tdata);
		if (!hc->tdata)
			return -1;
	}
	return 0;
}

/* The plugin of data column c (0-based). */
static const struct plugin *data_plugin(const struct hostctx *hc, size_t c)
{
	for (size_t i = 0; i < hc->set->n; i++)
		if (hc->set->p[i].pctx.data_idx == (int)c + 1)
			return &hc->set->p[i];
	return NULL;
}

static void free_row(struct hostctx *hc, size_t row)
{
	void **d = &hc->tdata[row * hc->ndata];
	for (size_t c = 0; c < hc->ndata; c++) {
		if (!d[c])
			continue;
		const struct plugin *p = data_plugin(hc, c);
		void *v = d[c];
		d[c] = NULL;
		if (p)
			p->d->task_free(p->self, (const gbx_task *)(const void *)&hc->wl->tasks[row], v);
	}
}

void host_task_end_slow(struct hostctx *hc, const struct task *t)
{
	if (t >= hc->wl->tasks && t < hc->wl->tasks + hc->wl->ntasks)
		free_row(hc, (size_t)(t - hc->wl->tasks));
}

void host_run_end(struct hostctx *hc)
{
	if (hc->tdata)
		for (size_t r = 0; r < hc->wl->ntasks; r++)
			free_row(hc, r);
	free(hc->tdata);
	hc->tdata = NULL;
	hc->wl = NULL;
}

static const char *h_kind(const gbx_task *t)
{
	return spec_kind_name(T(t)->spec);
}

/* ---- ABI 1.5 published figures ------------------------------------------- */

static int h_counter_set(void *ctx, const char *name, int64_t value)
{
	struct hostctx *hc = HC(ctx);
	const char *plugin = ((struct plugin_ctx *)ctx)->name;
	size_t len = name ? strlen(name) : 0;
	if (!len || len > 63 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") != len)
		return -1;
	char full[160];
	snprintf(full, sizeof full, "%s.%s", plugin, name);
	pthread_mutex_lock(&hc->cmu);
	size_t lo = 0, hi = hc->nctr; /* sorted by name: find it, or where it goes */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(hc->ctr[mid].name, full);
		if (!c) {
			hc->ctr[mid].n = value;
			pthread_mutex_unlock(&hc->cmu);
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	int rc = -1;
	char *copy = NULL;
	if (hc->nctr < GBX_COUNTERS_MAX && (copy = strdup(full))) {
		if (!hc->ctr)
			hc->ctr = malloc(GBX_COUNTERS_MAX * sizeof *hc->ctr);
		if (hc->ctr) {
			memmove(&hc->ctr[lo + 1], &hc->ctr[lo], (hc->nctr - lo) * sizeof *hc->ctr);
			hc->ctr[lo].name = copy;
			hc->ctr[lo].n = value;
			hc->nctr++;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&hc->cmu);
	if (rc)
		free(copy);
	return rc;
}

static size_t h_counters(void *ctx, struct gbx_count *out, size_t max)
{
	struct hostctx *hc = HC(ctx);
	pthread_mutex_lock(&hc->cmu);
	size_t n = hc->nctr;
	if (out && max && n)
		memcpy(out, hc->ctr, (n < max ? n : max) * sizeof *out);
	pthread_mutex_unlock(&hc->cmu);
	return n;
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
	h->task_data = h_task_data;
	h->task_deferrals = h_task_deferrals;
	h->stopping = h_stopping;
	h->stop_fd = h_stop_fd;
	h->counter_set = h_counter_set;
	h->counters = h_counters;
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
	/* ABI 1.4: a column of per-task data for each plugin that frees one */
	hc->set = set;
	hc->ndata = 0;
	for (size_t i = 0; i < set->n; i++) {
		struct plugin *p = &set->p[i];
		p->pctx.data_idx = 0;
		if (p->d->abi_minor >= 4 && p->d->task_free)
			p->pctx.data_idx = (int)++hc->ndata;
	}
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

/* ---- ABI 1.4 validate_run ------------------------------------------------- */

struct counts {
	struct gbx_count *v;
	size_t n, cap;
	uint32_t *ix;      /* open addressing: index + 1, 0 empty */
	size_t ixcap;      /* power of two, or 0 */
};

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int counts_grow(struct counts *c)
{
	size_t cap = c->ixcap ? c->ixcap * 2 : 64;
	uint32_t *ix = calloc(cap, sizeof *ix);
	if (!ix)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		size_t j = str_hash(c->v[i].name) & (cap - 1);
		while (ix[j])
			j = (j + 1) & (cap - 1);
		ix[j] = (uint32_t)i + 1;
	}
	free(c->ix);
	c->ix = ix;
	c->ixcap = cap;
	return 0;
}

static int counts_add(struct counts *c, const char *name)
{
	if ((c->n + 1) * 2 > c->ixcap && counts_grow(c))
		return -1;
	size_t j = str_hash(name) & (c->ixcap - 1);
	for (; c->ix[j]; j = (j + 1) & (c->ixcap - 1)) {
		struct gbx_count *x = &c->v[c->ix[j] - 1];
		if (x->name == name || !strcmp(x->name, name)) {
			x->n++;
			return 0;
		}
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct gbx_count *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return -1;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].name = name;
	c->v[c->n].n = 1;
	c->ix[j] = (uint32_t)++c->n;
	return 0;
}

static int count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gbx_count *)a)->name, ((const struct gbx_count *)b)->name);
}

static int validate_run(struct hostctx *hc, const struct workload *wl, struct err *err)
{
	int any = 0;
	for (size_t i = 0; hc->set && i < hc->set->n; i++)
		any |= hc->set->p[i].d->abi_minor >= 4 && hc->set->p[i].d->validate_run;
	if (!any)
		return 0;
	struct counts kinds = {0}, targets = {0};
	int rc = 0;
	for (uint32_t i = 0; i < wl->ntasks && !rc; i++) {
		const struct spec *s = wl->tasks[i].spec;
		rc = counts_add(&kinds, spec_kind_name(s));
		if (!rc && s->target)
			rc = counts_add(&targets, s->target);
	}
	if (rc) {
		rc = err_set(err, "out of memory");
		goto out;
	}
	if (kinds.n)
		qsort(kinds.v, kinds.n, sizeof *kinds.v, count_cmp);
	if (targets.n)
		qsort(targets.v, targets.n, sizeof *targets.v, count_cmp);
	struct gbx_run_info ri = {sizeof ri, wl->path, wl->ntasks, kinds.v, kinds.n, targets.v, targets.n};
	for (size_t i = 0; i < hc->set->n && !rc; i++) {
		const struct plugin *p = &hc->set->p[i];
		if (p->d->abi_minor < 4 || !p->d->validate_run)
			continue;
		char msg[1024] = "";
		if (p->d->validate_run(p->self, &ri, msg, sizeof msg)) {
			msg[sizeof msg - 1] = 0;
			rc = err_set(err, "%s: plugin %s: %s", wl->path, p->d->name,
				     msg[0] ? msg : "refused the run (no message)");
		}
	}
out:
	free(kinds.v);
	free(kinds.ix);
	free(targets.v);
	free(targets.ix);
	return rc;
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
	return validate_run(hc, wl, err);
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
	free(hc->tdata);
	for (size_t i = 0; i < hc->nctr; i++)
		free((char *)hc->ctr[i].name);
	free(hc->ctr);
	if (hc->stop_pipe[0] > 0)
		close(hc->stop_pipe[0]);
	if (hc->stop_pipe[1] > 0)
		close(hc->stop_pipe[1]);
	memset(hc, 0, sizeof *hc);
}
