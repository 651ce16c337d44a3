/* nodes.h - the controller's side of running beyond one machine: launching
 * `gearbox agent` on each node (local:N, ssh:HOSTS, slurm, or a config
 * launcher), the handshake, heartbeats, placing an attempt on a node and
 * waiting for its answer, losing and relaunching nodes. See docs/nodes.md.
 *
 * Threads: one reader thread per node (its agent's stdout), one watch thread
 * (heartbeat timeouts, relaunch backoff); the engine's workers call
 * nodes_run. Lock order: the engine's lock before ns->mu; nodes.c never
 * takes the engine's lock while it holds its own.
 */
#ifndef GBX_NODES_H
#define GBX_NODES_H

#include <stdio.h>
#include <jansson.h>
#include "runner.h"
#include "util.h"
#include "workload.h"

struct nodes;

/* What a placement policy sees of a node (one per eligible node). */
struct node_view {
	const char *name;
	int index;             /* into the nodes, as nodes_name takes it */
	int slots, running;
	int cores;
	int64_t mem_mb;
	double load;           /* the agent's 1-minute load average per core */
	const char *const *labels; /* NULL-terminated */
	/* this task's kind on this node so far */
	uint64_t kind_runs, kind_ok;
	double kind_avg_ms;    /* 0 when no run */
};

struct nodes_opts {
	const char *spec;      /* --nodes: local:N | ssh:[N/]HOST,... | slurm | NAME:HOST,... */
	json_t *cfg;           /* the config's "nodes" object (borrowed), or NULL */
	const char *cfg_path;  /* for messages */
	int slots;             /* -j: slots per node; 0: what each node reports */
	int64_t grace_ms;      /* kill grace of attempts */
	int quiet;
	/* plugins for the agents (nodeplug_select), borrowed, or NULL: sent in
	 * the hello; then every run message carries what a plugin may read */
	json_t *plugins;
	json_t *res_cfg;       /* the config's `resources` (borrowed), or NULL */
	/* node.up / node.lost, with the event's other fields as JSON members
	 * ("\"node\":\"x\",..."); called from nodes' threads */
	void (*event)(void *ud, const char *name, const char *fields);
	/* a placement policy: returns the index into views of the node to run t
	 * on, or -1 to let the built-in least_loaded choose. Called without
	 * ns->mu held. NULL: least_loaded always. */
	int (*place)(void *ud, const struct task *t, const struct node_view *v, int n);
	void *ud;
};

/* Launches the agents and waits for their handshakes. A node that cannot
 * start is reported on stderr with its name and left out; returns -1 with
 * err set (exit 2) when no node started, when a spec or the config is bad,
 * or when a node lacks the run's directory. A node's reason is said once:
 * the one node of a spec, or the node lacking the directory, has it in err
 * only, not on stderr. On success *out is owned by the caller (nodes_stop). */
int nodes_start(const struct nodes_opts *o, struct nodes **out, struct err *err);

/* Sets (or, with NULLs, clears) where node.up and node.lost go, and the
 * placement policy's call (see nodes_opts); node.up is sent at once for every
 * node already up. */
void nodes_attach(struct nodes *ns, void (*event)(void *ud, const char *name, const char *fields),
		  int (*place)(void *ud, const struct task *t, const struct node_view *v, int n),
		  void *ud);

/* Slots over all nodes: the engine's worker count. */
int nodes_slots(const struct nodes *ns);
int nodes_count(const struct nodes *ns);
/* The name of node i (borrowed; stable for the run). */
const char *nodes_name(const struct nodes *ns, int i);
/* Checks that every task's `node` labels are all held by some node. Returns
 * 0, or -1 with err naming the first task no node can take. */
int nodes_check(const struct nodes *ns, const struct workload *wl, struct err *err);

/* Runs one attempt of t on a node (a worker thread, outside the engine's
 * lock): picks a node with a free slot that has t's labels, sends it, and
 * waits for the answer, a stop (rc) or the node's loss (a->fkind FK_LOST).
 * a->node is set to the node's index. */
void nodes_run(struct nodes *ns, const struct task *t, struct runner_ctx *rc, struct attempt *a);

/* 1 while some node is up or being started or relaunched. */
int nodes_alive(struct nodes *ns);

/* The summary's lines, one per node. */
void nodes_summary(struct nodes *ns, FILE *f);

/* Says bye to every agent, waits for them briefly, frees everything. */
void nodes_stop(struct nodes *ns);

/* Resources per node (noderes.c). The engine's cluster-wide `resources`
 * config: a copy of cfg with cpu, mem_mb, io and gpu the sums of the nodes'
 * capacities (new reference), or NULL with err when out of memory. */
json_t *nodes_res_config(struct nodes *ns, json_t *cfg, struct err *err);
/* Checks that every task's needs fit on some node with its labels; -1 with
 * err naming the first that fits none (exit 2). cluster: nodes_res_config's. */
int nodes_res_check(struct nodes *ns, const struct workload *wl, json_t *cluster,
		    const char *cfg_path, struct err *err);
struct res_plan;
/* The engine's plan (or NULL): from then on an attempt is placed only on a
 * node where its needs fit beside what that node runs. */
void nodes_set_plan(struct nodes *ns, const struct res_plan *plan, const struct task *tasks);

/* Parses a spec without launching anything (gearbox check, bad input).
 * Returns 0 or -1 with err. */
int nodes_spec_check(const char *spec, json_t *cfg, const char *cfg_path, struct err *err);

#endif
