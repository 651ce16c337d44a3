/* gearbox/plugin.h - the plugin ABI.
 *
 * A plugin is a shared object that exports one symbol, GBX_PLUGIN_SYMBOL, a
 * `const struct gbx_plugin`. The host reads abi_major first and refuses any
 * other major; a newer minor on either side is fine (structs only grow at the
 * end, and every struct the host hands out starts with its size).
 *
 * A plugin never links against the engine: everything it needs arrives in the
 * `struct gbx_host` table passed to init(). Task data is reached through the
 * host's accessors on an opaque `gbx_task`, never through engine structs.
 *
 * Hooks are optional: leave a pointer NULL and the engine never calls it (the
 * engine keeps, per hook, an array of only the plugins that set it).
 *
 * THREADING CONTRACT (docs/plugins.md quotes this block; keep them equal)
 *
 * T1. Main thread, no host lock held: init, fini, attempt_sample, a kind's
 *     validate, validate_run, run_start, tick, run_end, run_summary, command,
 *     and task_free for tasks that never ended (after run_end).
 * T2. Worker threads, no host lock held, several at once: before_task,
 *     after_task, after_attempt, a kind's run. They must be thread-safe.
 * T3. Under the engine's lock, one at a time: Lua functions a policy calls
 *     (on whichever worker thread runs the policy), and task_free for a
 *     task that ended (on the thread that completed it).
 * T4. Host functions never take the engine's lock and never call into a
 *     plugin, so each may be called from any hook (T1-T3), from any thread
 *     of the plugin's own, while the plugin holds its own mutexes, as long
 *     as the host table is valid (init to the end of fini), except:
 *     lua_fn from init only; the task accessors and task_data only with a
 *     task a hook received, during that call (task_data not from task_free).
 *     The locks they take (event's, counter_set's) are leaves: held for a
 *     copy or a write, never while anything else is called.
 * T5. Lock order: host locks come before plugin locks. A plugin may take its
 *     own mutex in any hook and call host functions while holding it; it
 *     must never make a T3 call (a Lua function, task_free) wait for a
 *     plugin thread or a T2 hook, since those may be waiting for the engine's
 *     lock. No hook may block for long: T2 hooks sit on every task's path;
 *     one that waits on something external polls host->stop_fd() too.
 *
 * Ownership: every pointer the host passes in is borrowed for the duration of
 * the call. Every pointer a plugin hands back in a struct (strings, output,
 * a kind's result) is copied by the host before the hook or run() returns
 * control to the engine, on the same thread: a thread-local or per-plugin
 * buffer is fine.
 */
#ifndef GEARBOX_PLUGIN_H
#define GEARBOX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GBX_PLUGIN_ABI_MAJOR 1
#define GBX_PLUGIN_ABI_MINOR 5
#define GBX_PLUGIN_SYMBOL "gbx_plugin_descriptor"

/* ABI 1.4: a GBX_DEFER with delay_ms 0 (or less) is ready again after this
 * many ms, the engine's next tick: a plugin that defers "until later" never
 * makes the engine spin. */
#define GBX_DEFER_TICK_MS 10

/* Declares the descriptor with the right name and visibility. */
#define GBX_PLUGIN_EXPORT __attribute__((visibility("default"))) const struct gbx_plugin gbx_plugin_descriptor

typedef struct gbx_task gbx_task; /* opaque: read it through gbx_host */

/* Whether the host table has a member (fields added after 1.0 are at the end). */
#define GBX_HOST_HAS(h, member) \
	((h)->size >= offsetof(struct gbx_host, member) + sizeof((h)->member))

/* The outcome of one attempt. after_task reads one; before_task may fill one
 * to answer a task without running it. */
struct gbx_result {
	int ok;                /* 1 success */
	const char *failure;   /* when !ok: "exit" | "signal" | "timeout" | "spawn" | "rejected" | "error" */
	int exit_code;         /* -1 when none */
	int signal;            /* 0 when none */
	double ms;             /* run time of the attempt */
	const char *out;       /* captured stdout, out_len bytes (not NUL-terminated) */
	size_t out_len;
	const char *err;       /* captured stderr */
	size_t err_len;
	const char *label;     /* ABI 1.1, after_task: who answered it instead of running it ("cached"), or NULL */
};

/* ABI 1.2: one ended attempt with the facts a per-attempt hook needs, so
 * after_attempt makes no host call on the task path. Filled by the host. */
struct gbx_attempt {
	size_t size;           /* sizeof(struct gbx_attempt) as the host knows it */
	const gbx_task *task;  /* for the host's other accessors */
	const struct gbx_result *result;
	const char *id, *kind; /* borrowed, valid while the task is */
	const char *target;    /* NULL when the task has none */
	int attempt;           /* counts from 1 */
	int slot;              /* worker slot that ran it, from 0 */
	int64_t wait_ns;       /* time it waited in the ready queue */
	int64_t start_ns;      /* when it started, ns since the run started */
	int64_t run_ns;        /* how long it ran (result->ms in ns) */
	/* ABI 1.3 (read them only when size covers them): */
	int sampled;           /* the task is in the plugin's sample (attempt_sample) */
	uint32_t count;        /* attempts this record stands for: 1, or more for a
				* fold (see attempt_sample): then task and id are NULL,
				* the result is a plain success, and the times are 0 */
	/* ABI 1.5 (read them only when size covers them): */
	const char *node;      /* the node that ran it (--nodes), or NULL: this process;
				* borrowed, the same pointer for a node all run long
				* (a fold holds attempts of one node) */
	int64_t peak_kb;       /* exec: the child's peak memory in KB (wait4, or its
				* cgroup's under enforce); for a fold the largest;
				* 0 unknown or not a subprocess */
	int64_t cpu_us;        /* exec: the child's user + system CPU time in µs; for a
				* fold the sum; 0 unknown or not a subprocess */
};

/* ABI 1.4: a name and how many (tasks of a kind, deferrals by a plugin, ...). */
struct gbx_count {
	const char *name;
	int64_t n;
};

/* Counts at the end of a run, for run_summary (ABI 1.1). */
struct gbx_summary {
	size_t size;           /* sizeof(struct gbx_summary) as the host knows it */
	int64_t tasks, ok, failed, skipped, not_started, attempts, retried, resumed;
	double wall_ms;
	int interrupted;
	/* ABI 1.4 (read them only when size covers them): */
	int64_t deferrals;     /* GBX_DEFER verdicts in the run, all plugins together */
	const struct gbx_count *deferred_by; /* per plugin that deferred any: its name, its count */
	size_t ndeferred_by;
};

/* ABI 1.4: what validate_run is told about the workload about to run. Arrays
 * and strings are borrowed for the call. */
struct gbx_run_info {
	size_t size;           /* sizeof(struct gbx_run_info) as the host knows it */
	const char *workload;  /* the workload's file (or "<command line>") */
	int64_t ntasks;
	const struct gbx_count *kinds;   /* tasks per kind ("exec", "sim", a plugin's), by name */
	size_t nkinds;
	const struct gbx_count *targets; /* tasks per target, by name; tasks without one are not counted */
	size_t ntargets;
};

enum gbx_verdict {
	GBX_RUN = 0,           /* run the task as usual */
	GBX_ANSWER,            /* use `result` instead of running it (e.g. a cache hit) */
	GBX_REJECT,            /* fail this attempt at once with failure kind "rejected" */
	GBX_DEFER,             /* put it back; ready again after delay_ms */
};

/* What before_task decides. Zeroed by the host before the call (verdict RUN). */
struct gbx_before {
	int verdict;           /* enum gbx_verdict */
	struct gbx_result result; /* GBX_ANSWER: copied by the host */
	const char *label;     /* GBX_ANSWER: how events and the journal call it, e.g. "cached" */
	const char *reason;    /* GBX_REJECT: why, copied by the host */
	int64_t delay_ms;      /* GBX_DEFER: ms until it is ready again; 0 or less: the next tick
				* (a few ms, never at once); capped at one hour */
	/* ABI 1.4 (a plugin built against 1.3 leaves it zero): */
	const char *message;   /* GBX_ANSWER with result.ok 0: why, shown where a runner's
				* message is (summary, events, journal); copied by the host */
};

/* The engine's metrics, for tick(). */
struct gbx_metrics {
	size_t size;           /* sizeof(struct gbx_metrics) as the host knows it */
	double cpu, mem;       /* machine utilization, 0..1 */
	int64_t queued, running, jobs, cores, done, failed;
	double avg_ms, throughput, elapsed_ms;
};

/* A value for Lua functions that plugins add for policies. */
enum gbx_vtype { GBX_NIL = 0, GBX_BOOL, GBX_NUM, GBX_STR, GBX_TASK };
struct gbx_value {
	int type;              /* enum gbx_vtype */
	double num;            /* GBX_NUM; GBX_BOOL as 0 or 1 */
	const char *str;       /* GBX_STR: arguments borrowed; a result string is copied by the host */
	const gbx_task *task;  /* GBX_TASK (ABI 1.1, arguments only): a policy passed a task view;
				* read it with the host's accessors during the call */
};
/* Returns 0, or -1 to raise an error in the policy (message in ret->str). */
typedef int (*gbx_lua_fn)(void *self, const struct gbx_value *args, int nargs,
			  struct gbx_value *ret);

/* The host table handed to init(). Valid until fini() returns. */
struct gbx_host {
	size_t size;                    /* sizeof(struct gbx_host) as the host knows it */
	uint32_t abi_major, abi_minor;  /* the host's */
	void *ctx;                      /* pass back as the first argument below */

	/* Messages to the user, prefixed with the plugin's name. level: 0 info, 1 warning, 2 error. */
	void (*log)(void *ctx, int level, const char *msg);
	/* Writes an event {"event": name, ...fields} to --events; fields_json is a
	 * JSON object's members without braces (e.g. "\"state\":\"open\""), or NULL. */
	void (*event)(void *ctx, const char *name, const gbx_task *t, const char *fields_json);
	/* Adds `table.name(...)` for policies. Call from init() only. Returns 0 or -1. */
	int (*lua_fn)(void *ctx, const char *table, const char *name, gbx_lua_fn fn, void *self);

	/* Task accessors: strings are borrowed, valid during the hook call that
	 * received the task (T4). NULL when absent. */
	const char *(*task_id)(const gbx_task *t);
	const char *(*task_kind)(const gbx_task *t);
	const char *(*task_target)(const gbx_task *t);
	const char *const *(*task_argv)(const gbx_task *t);   /* NULL-terminated */
	const char *(*task_sh)(const gbx_task *t);
	const char *const *(*task_env)(const gbx_task *t);    /* "K=V", NULL-terminated */
	const char *(*task_cwd)(const gbx_task *t);
	const char *(*task_stdin)(const gbx_task *t, size_t *len);
	const char *const *(*task_inputs)(const gbx_task *t);
	const char *const *(*task_outputs)(const gbx_task *t);
	int (*task_cache)(const gbx_task *t);                 /* -1 unset, 0, 1 */
	int (*task_attempt)(const gbx_task *t);               /* attempts started so far */
	int64_t (*task_timeout_ms)(const gbx_task *t);        /* 0 none */
	int (*task_priority)(const gbx_task *t);
	/* A field of the task's JSON by name (meta, or a field a plugin declared),
	 * as compact JSON text; the caller frees it with free(). NULL when absent. */
	char *(*task_field_json)(const gbx_task *t, const char *name);

	/* ABI 1.1 (check with GBX_HOST_HAS). */
	int (*task_slot)(const gbx_task *t);          /* worker slot of the current attempt, from 0 */
	double (*task_wait_ms)(const gbx_task *t);    /* time the current attempt waited in the ready queue */
	double (*task_start_ms)(void *ctx, const gbx_task *t); /* when the current attempt started, ms since run start */
	double (*now_ms)(void *ctx);                  /* ms since run start (0 before the run) */

	/* ABI 1.4 (check with GBX_HOST_HAS). */
	/* The absolute directory of the config file the plugin's settings came
	 * from, or the working directory when there is none: resolve relative
	 * paths in the plugin's config against it. Borrowed, valid until fini(). */
	const char *(*config_dir)(void *ctx);
	/* Per-task, per-plugin storage: the address of this plugin's pointer for
	 * task t, NULL at first, NULL when the plugin sets no task_free (the host
	 * keeps room only for plugins that do). From a hook that receives t (or a
	 * kind's run) on that hook's thread. The host calls task_free(self, t,
	 * data) with the pointer when the task ends (done, failed for good,
	 * skipped) or, for tasks that never end, after run_end. */
	void **(*task_data)(void *ctx, const gbx_task *t);
	/* How many times the task was deferred (GBX_DEFER, any plugin) so far. */
	int (*task_deferrals)(const gbx_task *t);
	/* 1 once the run is stopping and terminates its running tasks (Ctrl-C,
	 * SIGTERM, --halt now; not --halt soon, which lets them finish): a hook
	 * that waits should give up and answer a failure. Any thread. */
	int (*stopping)(void *ctx);
	/* A file descriptor that becomes readable when the run starts stopping, to
	 * poll() beside the fd a blocking hook waits on. Owned by the host: never
	 * read, write or close it. -1 when it cannot be made. Any thread. */
	int (*stop_fd)(void *ctx);

	/* ABI 1.5 (check with GBX_HOST_HAS). */
	/* Publishes a figure of the plugin's own (a count such as the cache's
	 * hits per level, or a gauge) for other plugins to read with counters():
	 * it is listed as "PLUGIN.NAME", the host adding the plugin's name.
	 * Setting a name again replaces its value. name: 1 to 63 characters of
	 * [a-z0-9_.]. Returns 0, or -1 (a bad name, more than GBX_COUNTERS_MAX
	 * names in the run, out of memory). Any thread; the host's lock for it
	 * is a leaf (T4), so a plugin may call it holding its own mutex. */
	int (*counter_set)(void *ctx, const char *name, int64_t value);
	/* Copies up to max of the figures every plugin published so far, sorted
	 * by name, into out, and returns how many there are (more than max:
	 * call again with more room). Names are borrowed, valid until fini().
	 * Any thread. A figure published in run_end is seen from run_summary on
	 * (every plugin's run_end comes before any run_summary). */
	size_t (*counters)(void *ctx, struct gbx_count *out, size_t max);
};

/* ABI 1.5: the most names host->counter_set keeps, all plugins together. */
#define GBX_COUNTERS_MAX 256

/* A task kind a plugin adds. */
struct gbx_kind {
	const char *name;                 /* the "kind" value in workloads */
	const char *const *fields;        /* extra task fields it accepts, NULL-terminated, or NULL */
	/* Optional: checks a task of this kind at load time; returns 0, or -1 with
	 * a message in err (the host adds file and task id). */
	int (*validate)(void *self, const gbx_task *t, char *err, size_t errlen);
	/* Runs one attempt on a worker thread and fills res (out/err are copied
	 * by the host after run returns). Returns 0. */
	int (*run)(void *self, const gbx_task *t, struct gbx_result *res);
};

/* The descriptor. */
struct gbx_plugin {
	uint32_t abi_major;               /* GBX_PLUGIN_ABI_MAJOR */
	uint32_t abi_minor;               /* GBX_PLUGIN_ABI_MINOR */
	const char *name;                 /* the key in the config's "plugins" */
	const char *version;
	const char *description;
	/* Keys accepted in plugins.NAME besides "enabled" and "order", NULL-terminated.
	 * Any other key is an error naming the plugin and the key. */
	const char *const *config_keys;
	/* Extra task fields this plugin reads on any kind (e.g. "pool"), NULL-terminated. */
	const char *const *task_fields;
	/* config_json: plugins.NAME as compact JSON. On failure return -1 with a
	 * message in err: the run stops before any task starts. */
	int (*init)(const struct gbx_host *host, const char *config_json, void **self,
		    char *err, size_t errlen);
	void (*fini)(void *self);

	void (*run_start)(void *self, int64_t ntasks);
	void (*run_end)(void *self, int64_t ok, int64_t failed);
	void (*before_task)(void *self, const gbx_task *t, struct gbx_before *ans);
	void (*after_task)(void *self, const gbx_task *t, const struct gbx_result *r);
	void (*tick)(void *self, const struct gbx_metrics *m);
	int64_t tick_ms;                  /* how often tick runs (0: 1000) */
	const struct gbx_kind *kinds;     /* array ended by a NULL name, or NULL */

	/* ABI 1.1. `gearbox NAME ARGS...` (e.g. `gearbox cache stats`) loads the
	 * plugin (enabled or not), calls init with its config, then this with the
	 * arguments after NAME, on the main thread; the return value is the exit
	 * status. NULL: the plugin has no command. */
	int (*command)(void *self, int argc, char **argv);

	/* ABI 1.1: after run_end, on the main thread, with the run's counts. */
	void (*run_summary)(void *self, const struct gbx_summary *s);

	/* ABI 1.2: after_task with the attempt's facts in one struct (see struct
	 * gbx_attempt), for plugins on the path of every attempt. Same thread
	 * and timing as after_task; a plugin that sets both gets only this one. */
	void (*after_attempt)(void *self, const struct gbx_attempt *a);

	/* ABI 1.3: the share of tasks, from 0 to 1, whose attempts after_attempt
	 * must see one by one; asked once, after init. NULL or 1: all of them.
	 * The host picks the tasks (all attempts of a task are in or out) and
	 * says so in gbx_attempt.sampled. A task outside the sample still has
	 * every failed, retried or answered attempt delivered on its own (with
	 * sampled 0); its plain successes (first attempt, ok, answered by no
	 * plugin) are folded: one call with count N stands for N of them that
	 * ended on one worker slot with one kind and target. A fold is delivered
	 * before any later attempt of that slot reaches the plugin (so the
	 * plugin sees attempts in the order they ended), before an attempt
	 * starts on the slot 50 ms or more after the fold's first one ended,
	 * before the slot waits for work, and before run_end. So counts stay
	 * exact, and lag by at most 50 ms plus the slot's current attempt. */
	double (*attempt_sample)(void *self);

	/* ABI 1.4: once the workload is loaded and its kinds validated, before
	 * the run starts (and by `gearbox check`), on the main thread, with the
	 * run's kinds, targets and counts: warn with host->log about config that
	 * matches nothing. Return 0, or -1 with a message in err to refuse the
	 * run (exit 2, the message prefixed with the plugin's name). */
	int (*validate_run)(void *self, const struct gbx_run_info *ri, char *err, size_t errlen);
	/* ABI 1.4: frees what the plugin put in host->task_data(ctx, t); called
	 * once per task whose pointer is not NULL, when the task ends (under the
	 * engine's lock: free and return, call no host function but log) or,
	 * for tasks that never ended, on the main thread after run_end. A plugin
	 * that uses task_data must set it. */
	void (*task_free)(void *self, const gbx_task *t, void *data);
};

#ifdef __cplusplus
}
#endif
#endif
