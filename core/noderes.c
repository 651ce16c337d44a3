/* noderes.c - resource capacities per node (issue 16 with --nodes;
 * docs/nodes.md, "Resources per node").
 *
 * Each node's capacity of cpu, mem_mb, io and gpu comes from its agent's
 * handshake (cores, or what Slurm allotted; available memory, or Slurm's
 * SLURM_MEM_PER_NODE; io = 3 x cores; no gpu), over which the config's
 * `resources` values (for every node) and then nodes.resources.NODE (for
 * that node) win. A custom resource (db, license) stays cluster-wide: the
 * engine's plan holds it; a node has a capacity of one only when
 * nodes.resources.NODE gives it.
 *
 * Two levels of admission: the engine's plan admits against the cluster
 * (the sum of the nodes' cpu, mem_mb, io and gpu, and the custom
 * capacities), and an attempt is placed only on a node where its needs fit
 * beside what that node runs (nodes.c counts them per node under ns->mu,
 * taken when it is placed and given back when its answer comes or the node
 * is lost).
 */
#include "nodes_int.h"

#include <stdlib.h>
#include <string.h>

/* Node nd's capacity of resource r (thousandths); INT64_MAX: no limit of
 * its own. */
static int64_t node_cap(const struct nodes *ns, const struct node *nd, uint32_t r, const char *name)
{
	json_t *per = json_object_get(json_object_get(ns->o.cfg, "resources"), nd->name);
	json_t *v = json_object_get(per, name);
	if (json_is_number(v))
		return (int64_t)(json_number_value(v) * RES_MILLI);
	if (r >= RES_NBUILTIN)
		return INT64_MAX;
	v = json_object_get(ns->o.res_cfg, name);
	if (json_is_number(v))
		return (int64_t)(json_number_value(v) * RES_MILLI);
	switch (r) {
	case RES_CPU:
		return (int64_t)nd->cores * RES_MILLI;
	case RES_MEM:
		return nd->mem_avail_mb * RES_MILLI;
	case RES_IO:
		return (int64_t)nd->cores * 3 * RES_MILLI;
	default:
		return 0;
	}
}

/* Under mu: the node's capacities for the plan's resources. */
void node_res_caps(struct nodes *ns, struct node *nd)
{
	for (uint32_t r = 0; ns->plan && r < res_count(ns->plan) && r < RES_MAX; r++)
		nd->cap[r] = node_cap(ns, nd, r, res_name(ns->plan, r));
}

int node_res_room(const struct node *nd, const struct res_need *n)
{
	if (!n)
		return 1;
	for (uint32_t r = 0; r < RES_MAX; r++)
		if (n->mask & 1u << r && n->amt[r] > nd->cap[r] - nd->used[r])
			return 0;
	return 1;
}

void node_res_add(struct node *nd, const struct res_need *n, int sign)
{
	for (uint32_t r = 0; n && r < RES_MAX; r++)
		if (n->mask & 1u << r)
			nd->used[r] += sign * n->amt[r];
}

const struct res_need *node_res_need(const struct nodes *ns, const struct task *t)
{
	if (!ns->plan)
		return NULL;
	const struct res_need *n = res_need_of(ns->plan, (uint32_t)(t - ns->tasks));
	return n->mask ? n : NULL;
}

void nodes_set_plan(struct nodes *ns, const struct res_plan *plan, const struct task *tasks)
{
	pthread_mutex_lock(&ns->mu);
	ns->plan = plan;
	ns->tasks = tasks;
	for (int i = 0; i < ns->nn; i++)
		node_res_caps(ns, &ns->n[i]);
	pthread_mutex_unlock(&ns->mu);
}

static void fmt(char *o, size_t n, int64_t milli)
{
	if (milli == INT64_MAX)
		snprintf(o, n, "no limit");
	else if (milli % RES_MILLI)
		snprintf(o, n, "%g", (double)milli / RES_MILLI);
	else
		snprintf(o, n, "%lld", (long long)(milli / RES_MILLI));
}

/* Sums the nodes' capacities of the built-in resources into the engine's
 * cluster-wide config (a copy of cfg's `resources`). */
json_t *nodes_res_config(struct nodes *ns, json_t *cfg, struct err *err)
{
	json_t *o = json_is_object(cfg) ? json_deep_copy(cfg) : json_object();
	if (!o) {
		err_set(err, "out of memory");
		return NULL;
	}
	static const char *const names[RES_NBUILTIN] = {"cpu", "mem_mb", "io", "gpu"};
	pthread_mutex_lock(&ns->mu);
	for (uint32_t r = 0; o && r < RES_NBUILTIN; r++) {
		double sum = 0;
		for (int i = 0; i < ns->nn; i++)
			if (ns->n[i].state == N_UP)
				sum += (double)node_cap(ns, &ns->n[i], r, names[r]) / RES_MILLI;
		json_object_set_new(o, names[r], json_real(sum > 1e12 ? 1e12 : sum));
	}
	pthread_mutex_unlock(&ns->mu);
	return o;
}

int nodes_res_check(struct nodes *ns, const struct workload *wl, json_t *cluster, const char *cfg_path,
		    struct err *err)
{
	/* the needs, without the cluster's sums of cpu, mem_mb, io and gpu (a
	 * task too big for every node is named with each node's capacity) */
	json_t *loose = json_deep_copy(cluster);
	static const char *const names[RES_NBUILTIN] = {"cpu", "mem_mb", "io", "gpu"};
	for (int r = 0; loose && r < RES_NBUILTIN; r++)
		json_object_set_new(loose, names[r], json_real(1e12));
	struct res_plan *p = NULL;
	int prc = loose ? res_plan_new(wl, loose, 0, cfg_path, &p, err) : err_set(err, "out of memory");
	json_decref(loose);
	if (prc)
		return -1;
	if (!p)
		return 0; /* no task needs anything: nothing to check per node */
	int rc = 0;
	pthread_mutex_lock(&ns->mu);
	ns->plan = p;
	ns->tasks = wl->tasks;
	for (int i = 0; i < ns->nn; i++)
		node_res_caps(ns, &ns->n[i]);
	for (uint32_t i = 0; i < wl->ntasks && !rc; i++) {
		const struct task *t = &wl->tasks[i];
		if (i && t->spec == wl->tasks[i - 1].spec)
			continue; /* matrix instances share a spec */
		const struct res_need *n = node_res_need(ns, t);
		if (!n)
			continue;
		int ok = 0;
		for (int k = 0; k < ns->nn && !ok; k++) {
			struct node *nd = &ns->n[k];
			int labels = 1;
			for (char **l = t->spec->node; l && *l && labels; l++)
				labels = node_has_label(nd->labels, *l);
			ok = nd->state == N_UP && labels && node_res_room(nd, n);
		}
		if (ok)
			continue;
		/* name what it needs and what each node has of it */
		struct buf b = {0}, h = {0};
		for (uint32_t r = 0; r < res_count(p) && r < RES_MAX; r++) {
			if (!(n->mask & 1u << r))
				continue;
			char a[32];
			fmt(a, sizeof a, n->amt[r]);
			buf_addf(&b, "%s%s %s", b.len ? ", " : "", a, res_name(p, r));
		}
		for (int k = 0; k < ns->nn; k++) {
			struct node *nd = &ns->n[k];
			if (nd->state != N_UP)
				continue;
			buf_addf(&h, "%s%s:", h.len ? "; " : "", nd->name);
			for (uint32_t r = 0; r < res_count(p) && r < RES_MAX; r++) {
				if (!(n->mask & 1u << r))
					continue;
				char c[32];
				fmt(c, sizeof c, nd->cap[r]);
				buf_addf(&h, " %s %s", res_name(p, r), c);
			}
		}
		buf_add(&b, "", 1);
		buf_add(&h, "", 1);
		rc = err_set(err, "%s: task \"%s\" needs %s, and no node%s has that much (%s; "
			     "nodes.resources.NODE sets a node's)", wl->path ? wl->path : "workload",
			     t->id, b.p, t->spec->node ? " with its labels" : "", h.p);
		buf_free(&b);
		buf_free(&h);
	}
	ns->plan = NULL; /* the engine's own plan comes with nodes_set_plan */
	pthread_mutex_unlock(&ns->mu);
	res_plan_free(p);
	return rc;
}
