/* host.h - what the engine offers plugins: the gbx_host table (logging,
 * events, Lua functions, task accessors) and the kind registry built from the
 * loaded plugins.
 *
 * A struct hostctx lives as long as the loaded plugins. Before the run starts
 * it has no engine (events go nowhere); engine_run attaches itself for the run.
 * Lua functions registered by plugins at init are kept here and handed to the
 * policy host when it is created (it may be created after the plugins).
 */
#ifndef GBX_HOST_H
#define GBX_HOST_H

#include <pthread.h>
#include <stdatomic.h>

#include "gearbox/plugin.h"
#include "policy.h"
#include "workload.h"

struct engine;

/* The implementation of a plugin task kind, by registry index. */
struct kind_impl {
	const struct gbx_kind *k;
	void *self;
	const char *plugin;
};

struct lua_reg {
	char *table, *name;
	gbx_lua_fn fn;
	void *self;
};

struct hostctx {
	pthread_mutex_t mu;            /* guards e against plugin threads (zeroed = initialized) */
	struct engine *e;              /* set by engine_run for the run (host_attach) */
	struct lua_reg *lua;           /* Lua functions plugins asked for */
	size_t nlua;
	/* the kind registry (names and fields) and the implementations */
	struct kind_registry reg;
	struct kind_def *kinds;
	struct kind_impl *impl;
	const char **fields;           /* task fields plugins declared, NULL-terminated */
	char *config_dir;              /* absolute; set before the plugins load (host_set_config) */
	const struct plugin_set *set;  /* the loaded plugins (host_registry) */
	/* ABI 1.4 per-task data: ntasks rows of ndata pointers, one column per
	 * plugin with task_free; NULL when none has it (then it costs nothing). */
	void **tdata;
	size_t ndata;
	const struct workload *wl;     /* the running workload, for a task's row */
	/* ABI 1.5 figures plugins publish (host->counter_set): "PLUGIN.NAME",
	 * sorted by name, under cmu (a leaf lock; zeroed = initialized); the
	 * names are freed by host_free only, so counters() may lend them */
	pthread_mutex_t cmu;
	struct gbx_count *ctr;
	size_t nctr;
	atomic_int stop;               /* the run is stopping (host->stopping) */
	int stop_pipe[2];              /* made on the first host->stop_fd; 0,0: not yet */
};

/* Before the run (after host_attach): room for the plugins' per-task data,
 * and the stop flag cleared. Returns 0, or -1 when out of memory. */
int host_run_begin(struct hostctx *hc, const struct workload *wl);

/* The run is stopping: host->stopping says 1 and the stop fd turns readable. */
void host_stop(struct hostctx *hc);

void host_task_end_slow(struct hostctx *hc, const struct task *t);
/* A task ended for good: the plugins' task_free for its data. Costs one load
 * when no plugin keeps per-task data. */
static inline void host_task_end(struct hostctx *hc, const struct task *t)
{
	if (hc && hc->tdata)
		host_task_end_slow(hc, t);
}

/* After run_end, on the main thread: task_free for the tasks that never
 * ended, and the room freed. */
void host_run_end(struct hostctx *hc);

/* Records the config file the plugins' settings come from (NULL: none), so
 * host->config_dir can give its absolute directory. Returns 0, or -1 with err. */
int host_set_config(struct hostctx *hc, const char *config_path, struct err *err);

/* Attaches the running engine (or NULL when the run ends): plugin threads that
 * call host->event or host->now_ms meanwhile wait, then see no engine. */
void host_attach(struct hostctx *hc, struct engine *e);

/* Fills a host table whose ctx is hc. */
void host_table(struct hostctx *hc, struct gbx_host *h);

struct plugin_set;
/* Builds hc->reg from the loaded plugins' kinds and task fields. Returns -1
 * with err when two plugins add one kind. */
int host_registry(struct hostctx *hc, const struct plugin_set *set, struct err *err);

/* Adds a kind that is not a plugin's (the embedding API's C callback kind). */
int host_add_kind(struct hostctx *hc, const struct gbx_kind *k, void *self, const char *owner);

/* Registers the plugins' Lua functions with a policy host. */
int host_lua_apply(struct hostctx *hc, struct policy *p, struct err *err);

/* Calls each plugin kind's validate on its tasks; -1 with err naming the file
 * and the task on the first problem. */
int host_validate(struct hostctx *hc, const struct workload *wl, struct err *err);

void host_free(struct hostctx *hc);

/* Implemented by the engine: ms from the run's start to a monotonic time. */
double engine_elapsed_ms(const struct engine *e, int64_t ns);

/* Implemented by the engine: writes a plugin's event. */
void engine_plugin_event(struct engine *e, const char *name, const struct task *t,
			 const char *fields_json);

#endif
