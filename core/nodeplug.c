/* nodeplug.c - the controller's side of plugins on the agents: which loaded
 * plugins go to the agents in the hello, and taking the hooks of those that
 * run there out of the controller's hook arrays. See nodeplug.h.
 */
#include "nodeplug.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Does the workload have a task of a kind plugin d adds? */
static int kinds_used(const struct gbx_plugin *d, const struct workload *wl)
{
	if (!d->kinds)
		return 0;
	const struct spec *last = NULL;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct spec *s = wl->tasks[i].spec;
		if (s == last || s->kind != KIND_PLUGIN)
			continue;
		last = s;
		for (const struct gbx_kind *k = d->kinds; k->name; k++)
			if (s->kind_name && !strcmp(k->name, s->kind_name))
				return 1;
	}
	return 0;
}

/* Takes p out of one hook array (the array keeps its allocation). */
static void drop_hook(struct plugin **arr, size_t *n, const struct plugin *p)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if (arr[i] != p)
			arr[k++] = arr[i];
	*n = k;
}

static int named(json_t *names, const char *name)
{
	size_t i;
	json_t *x;
	json_array_foreach(names, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), name))
		return 1;
	return 0;
}

int nodeplug_select(struct plugin_set *set, const struct hostctx *hc, json_t *resolved,
		    json_t *nodes_cfg, const char *cfg_path, const struct workload *wl,
		    json_t **out, struct err *err)
{
	*out = NULL;
	json_t *names = nodes_cfg ? json_object_get(nodes_cfg, "agent_plugins") : NULL;
	size_t i;
	json_t *x;
	json_array_foreach(names, i, x) {
		const char *nm = json_string_value(x);
		int found = 0;
		for (size_t k = 0; k < set->n && !found; k++)
			found = !strcmp(set->p[k].d->name, nm);
		if (!found)
			return err_set(err, "%s: nodes.agent_plugins: plugin \"%s\" is not enabled "
				       "(plugins.%s.enabled, or --enable %s)",
				       cfg_path ? cfg_path : "config", nm, nm, nm);
	}
	json_t *arr = NULL;
	for (size_t k = 0; k < set->n; k++) {
		struct plugin *p = &set->p[k];
		int hooks = named(names, p->d->name);
		if (!hooks && !kinds_used(p->d, wl))
			continue;
		char rp[PATH_MAX];
		if (!realpath(p->path, rp)) {
			json_decref(arr);
			return err_set(err, "plugin %s: cannot resolve %s for the agents", p->d->name,
				       p->path);
		}
		json_t *cfg = json_object_get(json_object_get(resolved, p->d->name), "config");
		json_t *c = json_is_object(cfg) ? json_incref(cfg) : json_object();
		json_t *e = json_pack("{s:s, s:s, s:o, s:s, s:b}", "name", p->d->name, "path", rp,
				      "config", c, "config_dir",
				      hc->config_dir ? hc->config_dir : ".", "hooks", hooks);
		if (!arr)
			arr = json_array();
		if (!e || !arr || json_array_append_new(arr, e)) {
			json_decref(arr);
			return err_set(err, "out of memory");
		}
		if (hooks) { /* they run on the agents, not here */
			drop_hook(set->before, &set->nbefore, p);
			drop_hook(set->start, &set->nstart, p);
			drop_hook(set->tick, &set->ntick, p);
		}
	}
	*out = arr;
	return 0;
}
