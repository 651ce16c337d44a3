/* workload.h - the in-memory workload: task specs, tasks and the DAG.
 *
 * A spec holds what a task is (argv, env, limits, sim parameters); it is
 * immutable once loaded. Matrix instances that differ only in their id share one
 * spec, so a million-task matrix costs a million small `struct task`, not a
 * million copies of the template; so do C tasks given with equal retries (their
 * deps are kept per task, outside the spec). A task holds the per-run state the engine
 * mutates under its lock. Edges are kept in CSR form (offset + count into one
 * array per direction), resolved to task indexes by dag_build().
 */
#ifndef GBX_WORKLOAD_H
#define GBX_WORKLOAD_H

#include <stdint.h>
#include <jansson.h>
#include "util.h"

struct res_need;
struct res_names;

enum task_kind { KIND_EXEC = 0, KIND_SIM = 1, KIND_PLUGIN = 2 };

/* Task kinds and task fields added by plugins (and by the embedding API's C
 * callback kind). A task of kind NAME may carry the kind's own fields; any task
 * may carry the registry's `fields`. Their JSON is kept in spec->extra. */
struct kind_def {
	const char *name;
	const char *const *fields;   /* NULL-terminated, or NULL */
};
struct kind_registry {
	const struct kind_def *kinds;
	size_t nkinds;
	const char *const *fields;   /* NULL-terminated, or NULL */
};
enum task_class { CLASS_NONE = 0, CLASS_CPU, CLASS_IO, CLASS_MEM, CLASS_MIXED };
/* workload.facts */
enum {
	WL_HAS_EXEC = 1,        /* an exec task */
	WL_HAS_NEED = 2,        /* declared resources, or a class with a default need */
	WL_HAS_MEMCLASS = 4,    /* class mem without declared resources */
	WL_HAS_ENFORCE = 8,     /* an exec task with `enforce` true */
	WL_HAS_ENFORCE_DEF = 16 /* an exec task without `enforce` (the config's) */
};

enum task_state {
	ST_WAITING = 0, /* some deps not finished */
	ST_READY,       /* in the ready queue */
	ST_RUNNING,
	ST_DELAYED,     /* waiting for a retry delay */
	ST_OK,
	ST_FAILED,
	ST_SKIPPED,     /* a dependency failed, or the run halted before it started */
	ST_RESUMED,     /* recorded as succeeded by the journal; not run again */
};

struct spec {
	uint8_t kind;       /* enum task_kind */
	uint8_t cls;        /* enum task_class */
	int8_t cache;       /* -1 unset, 0 false, 1 true (for the cache plugin) */
	uint8_t keep_children; /* exec: leave the process group alive when the task ends */
	uint8_t slot_rpl;   /* quick form: argv holds {%} (SLOT_MARK), put in per attempt */
	uint16_t pkind;     /* KIND_PLUGIN: index into the kind registry */
	const char *kind_name; /* KIND_PLUGIN: the registry's name (borrowed) */
	char **argv;        /* NULL-terminated; NULL when sh is set or kind is sim */
	char *sh;           /* run by /bin/sh -c; NULL unless given */
	char **env;         /* "KEY=VALUE", NULL-terminated, or NULL: added to the inherited environment */
	char *cwd;          /* or NULL */
	char *stdin_data;   /* or NULL: stdin is /dev/null */
	size_t stdin_len;
	char *target;       /* or NULL */
	char **deps;        /* dependency ids, NULL-terminated, or NULL */
	char **tags;        /* NULL-terminated or NULL */
	char **node;        /* labels a node must have to run it (--nodes), NULL-terminated or NULL */
	char **inputs;      /* NULL-terminated or NULL */
	char **outputs;     /* NULL-terminated or NULL */
	json_t *meta;       /* owned reference, or NULL */
	json_t *extra;      /* the task's JSON object when it has registry fields (owned reference), or NULL */
	int64_t timeout_ms; /* 0: none */
	int64_t deadline_ms;/* -1: none; from run start */
	int64_t est_ms;     /* -1: unknown */
	int32_t priority;
	int32_t retries;
	/* sim */
	int64_t cpu_us, io_ms, mem_kb;
	double fail_rate;
	int32_t fail_after; /* the first fail_after attempts fail, later ones succeed */
	uint64_t seed;
	const struct res_need *need; /* declared `resources` (resources.h), or NULL */
	int8_t enforce;     /* -1 unset (the config's), 0, 1 */
	const struct spec *from; /* a matrix instance with a spec of its own: its entry's
				  * (unsubstituted) spec; else NULL */
};

struct task {
	const char *id;
	const struct spec *spec;
	uint32_t dep_off, ndeps;   /* into workload.deps: tasks this one needs */
	uint32_t out_off, nouts;   /* into workload.outs: tasks that need this one */
	uint32_t pending;          /* deps not yet succeeded */
	uint32_t chain;            /* tasks on the longest path from here to a sink, itself included */
	int32_t last_exit;         /* exit code of the last attempt, or -signal */
	int32_t priority;          /* effective: the spec's, or a retry policy's change */
	uint16_t attempts;         /* attempts started so far */
	uint8_t state;             /* enum task_state */
	uint8_t last_fkind;        /* failure kind of the last failed attempt (runner.h) */
	int16_t slot;              /* worker that runs (or ran) its current attempt, -1 before */
	uint16_t deferrals;        /* GBX_DEFER verdicts so far (plugin ABI 1.4 task_deferrals; saturates) */
	int64_t timeout_ms;        /* effective: the spec's, or a retry policy's change */
	int64_t ready_ns;          /* when it last entered the ready queue (monotonic) */
	int64_t start_ns;          /* when its current or last attempt was taken */
};

struct workload {
	char *path;            /* file it came from, or "<command line>" */
	char *name;
	struct task *tasks;
	uint32_t ntasks;
	uint32_t *deps;        /* CSR: deps of task i are deps[tasks[i].dep_off .. +ndeps] */
	uint32_t *outs;        /* CSR: dependants of task i */
	uint64_t nedges;
	/* filled by dag_build */
	uint32_t depth;        /* longest chain in tasks */
	int64_t critical_ms;   /* longest chain weighted by est_ms (unknown counts 0) */
	uint32_t roots, sinks;
	uint32_t *index;       /* open-addressing hash of ids -> task index + 1, with hash
				* bits above (dag.c's; 0 empty) */
	uint32_t index_cap;    /* power of two */
	struct arena arena;    /* ids, strings, specs */
	struct res_names *rnames; /* resource names tasks declare (resources.h), or NULL */
	uint32_t facts;        /* WL_HAS_* over the tasks' specs, set by dag_build (so
				* a run asks these without a pass over a million tasks) */
	int64_t need_max[16];  /* the largest need of any task per resource index
				* (resources.h, RES_MAX), class defaults included */
	json_t *json;          /* a reference kept for specs that borrow their meta (the
				* defaults' meta when C tasks share it); may be NULL */
	/* Only when C tasks were given (struct wl_given), else NULL: */
	uint32_t *c_index;     /* per task: its index in given->c, or UINT32_MAX */
	const char *const **task_deps; /* per task: a C task's deps (borrowed), or NULL:
					* its spec's; NULL when no C task has deps */
};

/* A task given by a C program without JSON (the embedding API's callbacks).
 * Its strings are borrowed: they must outlive the workload. */
struct wl_ctask {
	const char *id;
	const char *const *deps;   /* NULL-terminated, or NULL */
	int32_t retries;           /* extra attempts; over 1000 is refused as in a file */
};

/* Tasks given besides a document, in the order given: JSON task objects and C
 * tasks interleaved. They come after the document's "tasks" and before its
 * matrix instances, and messages number them on from its "tasks" (tasks[i]),
 * as if they had been appended to it. C tasks with equal retries share one
 * spec: the document's defaults with `c_kind` and the retries. */
struct wl_given {
	json_t *json;              /* array of task objects (borrowed), or NULL */
	const uint32_t *json_at;   /* json[k] was given after json_at[k] C tasks (nondecreasing) */
	const struct wl_ctask *c;  /* nc entries (borrowed) */
	uint32_t nc;
	const char *c_kind;        /* the C tasks' kind: a name in the registry */
};

/* Loads and validates a workload file. Returns 0, or -1 with err set to a
 * message naming the file, the place (line:column for syntax, tasks[i] and id
 * for content) and the problem. On success *out is a new workload owned by the
 * caller (workload_free). Deps are resolved and the DAG is checked (dag_build). */
int workload_load(const char *path, struct workload **out, struct err *err);

/* Same, from a string already in memory; `name` is used in messages. */
int workload_load_string(const char *text, size_t len, const char *name,
			 struct workload **out, struct err *err);

/* The same two with plugin kinds and fields accepted (reg may be NULL). */
int workload_load_reg(const char *path, const struct kind_registry *reg,
		      struct workload **out, struct err *err);
int workload_load_string_reg(const char *text, size_t len, const char *name,
			     const struct kind_registry *reg, struct workload **out,
			     struct err *err);

/* The same from a parsed document (borrowed: the caller still owns doc; NULL
 * is an empty workload) plus given tasks (NULL: none). No text is made or
 * parsed; messages, checks and the DAG are those of workload_load_string_reg. */
int workload_load_json(json_t *doc, const char *name, const struct kind_registry *reg,
		       const struct wl_given *given, struct workload **out, struct err *err);

/* The quick form: `cmd` is the command template (argv, NULL-terminated, may
 * contain {} or {1} {2} ...), `sources` the argument lists (each a
 * NULL-terminated array of strings); tasks are the cartesian product in
 * GNU parallel's order. With no {} in cmd the arguments are appended. */
int workload_quick(char *const *cmd, int nsources, char **const *sources,
		   struct workload **out, struct err *err);

void workload_free(struct workload *wl);

/* {%} in a quick-form argv until the attempt starts (exec.c puts the slot in) */
#define SLOT_MARK "\x01%\x01"

/* Resolves deps (the spec's, or wl->task_deps) to indexes, builds the CSR arrays, detects cycles (the
 * message names one cycle: a -> b -> a), and computes chain, depth, critical
 * path, roots and sinks. Called by the loaders. */
int dag_build(struct workload *wl, struct err *err);

/* Index of the task with this id, or -1. Built by dag_build. */
int64_t workload_find(const struct workload *wl, const char *id);

extern const char *const task_kind_names[2]; /* by enum kind: "exec", "sim" */
static inline const char *task_kind_name(int kind)
{
	return kind >= 0 && kind < 2 ? task_kind_names[kind] : "unknown";
}
/* The kind's name as workloads write it: a plugin kind's registered name, or
 * task_kind_name's. Inline: after_attempt's path reads it per attempt. */
static inline const char *spec_kind_name(const struct spec *s)
{
	return s->kind == KIND_PLUGIN ? s->kind_name : task_kind_name(s->kind);
}
const char *task_class_name(int cls);

#endif
