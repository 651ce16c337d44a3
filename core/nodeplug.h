/* nodeplug.h - plugins on the agents of a run across nodes (docs/nodes.md,
 * "Plugins on the agents").
 *
 * The controller tells each agent, in its hello, which plugins to load and
 * with what config (the agent reads no config file of its own):
 *  - a plugin that adds a task kind the workload uses: its kind runs on the
 *    agents; its hooks (before/after, tick, ...) stay in the controller;
 *  - a plugin named in the config's nodes.agent_plugins (an executor such as
 *    pool, which answers tasks from before_task): its before_task, run_start
 *    and tick run on the agents instead of in the controller.
 * The controller side is nodeplug.c; the agent side is agentplug.c.
 */
#ifndef GBX_NODEPLUG_H
#define GBX_NODEPLUG_H

#include <jansson.h>

#include "host.h"
#include "plugins.h"
#include "runner.h"
#include "util.h"
#include "workload.h"

/* ---- the controller (nodeplug.c) ---------------------------------------- */

/* Picks the plugins of set that go to the agents (see above) and takes the
 * hook plugins' before_task, run_start and tick out of set's hook arrays.
 * *out is the hello's "plugins" array (a new reference), or NULL when no
 * plugin goes. resolved: the session's resolved plugins (their configs).
 * Returns 0, or -1 with err (a name in nodes.agent_plugins that is not an
 * enabled plugin, a plugin file that cannot be resolved). */
int nodeplug_select(struct plugin_set *set, const struct hostctx *hc, json_t *resolved,
		    json_t *nodes_cfg, const char *cfg_path, const struct workload *wl,
		    json_t **out, struct err *err);

/* ---- the agent (agentplug.c) -------------------------------------------- */

struct agentplug;

/* How the agent sends a line (log and event messages of its plugins). */
typedef void (*agentplug_send)(void *ud, struct buf *line);

/* Loads the plugins of the controller's hello (its "plugins" array and
 * "config_dir") and calls their run_start. *out is NULL when the hello names
 * none. Returns 0, or -1 with err naming the plugin and the problem. */
int agentplug_load(json_t *hello, agentplug_send send, void *ud, struct agentplug **out,
		   struct err *err);

/* The kinds the plugins add, as JSON strings with a leading comma each. */
void agentplug_kinds_json(const struct agentplug *ap, struct buf *b);

/* Fills t and s (zeroed by the caller, t->spec == s) with what a plugin may
 * read of the run message m (borrowed from m, which must outlive them). */
void agentplug_task(const json_t *m, struct task *t, struct spec *s);
/* Frees what agentplug_task allocated in s. */
void agentplug_task_free(struct spec *s);

/* Runs an attempt of m on a runner thread. For a kind a plugin adds: its run
 * (returns 1). For exec and sim: the hook plugins' before_task first; returns
 * 1 when one answered or rejected it (a filled), 0 when the caller runs it as
 * usual. A deferral waits its delay (or a stop) and asks again. */
int agentplug_run(struct agentplug *ap, const char *kind, const struct task *t,
		  struct runner_ctx *rc, struct attempt *a);

/* 1 when a plugin adds this kind. */
int agentplug_has_kind(const struct agentplug *ap, const char *kind);

/* The run is stopping (a kill, the end): the plugins' stop flag and fd. */
void agentplug_stop(struct agentplug *ap);

/* The plugins' tick (from the agent's heartbeat thread). */
void agentplug_tick(struct agentplug *ap);

/* run_end, fini, unload. Only when no attempt runs any more. */
void agentplug_end(struct agentplug *ap);

#endif
