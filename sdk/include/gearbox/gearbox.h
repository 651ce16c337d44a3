/* gearbox/gearbox.h - embedding gearbox in a C program.
 *
 * Create an engine from a config, give it tasks (a workload file, tasks as
 * JSON, or C callbacks), run it, read each task's result, destroy it. Engines
 * share no state: two in one process run independently. Link with
 * `-lgearbox $(pkg-config --libs lua5.4 jansson) -ldl -lpthread -lm`.
 *
 * Errors: functions return 0 or a negative GBX_E* code, and write a message
 * naming the file, the place and the problem into err (errlen bytes) when err
 * is not NULL.
 *
 * Threads: an engine is used from one thread at a time. Callback tasks run on
 * the engine's worker threads, several at once up to the engine's jobs.
 */
#ifndef GEARBOX_GEARBOX_H
#define GEARBOX_GEARBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GBX_VERSION "0.1.0"

#define GBX_OK 0
#define GBX_EINVAL (-1)   /* bad input: workload, task, config, policy or plugin */
#define GBX_ESTATE (-2)   /* not now: e.g. submitting to an engine that has run */
#define GBX_ENOENT (-3)   /* no such task */
#define GBX_ENOMEM (-4)

typedef struct gbx_engine gbx_engine;

/* A C task: return 0 for success, anything else is the task's exit status.
 * `attempt` counts from 1. Runs on a worker thread. */
typedef int (*gbx_task_fn)(void *data, const char *id, int attempt);

/* Creates an engine. config: a config file path, or NULL for the defaults
 * (./gearbox.json is NOT read implicitly). profile: NULL or a profile name.
 * On success *out is a new engine the caller owns (gbx_engine_free). */
int gbx_engine_new(const char *config, const char *profile, gbx_engine **out, char *err,
		   size_t errlen);

/* Switches a plugin on (on = 1) or off before the run, over the config. */
int gbx_engine_plugin(gbx_engine *e, const char *name, int on);

/* Concurrency for the run (default: the config's, else the number of cores). */
int gbx_engine_set_jobs(gbx_engine *e, int jobs);

/* Names a policy file for KIND "scheduling", "retry" or "scaling". */
int gbx_engine_policy(gbx_engine *e, const char *kind, const char *file);

/* Takes the tasks of a workload file (at most one file per engine). The file
 * is read when the engine runs; its errors are reported by gbx_engine_run. */
int gbx_engine_load(gbx_engine *e, const char *path, char *err, size_t errlen);

/* Adds one task given as a JSON object with the workload file's task fields,
 * e.g. {"id": "a", "argv": ["true"], "deps": ["b"]}. The text is copied. */
int gbx_engine_submit_json(gbx_engine *e, const char *task_json, char *err, size_t errlen);

/* Adds a C task. deps: NULL-terminated ids, or NULL. retries: extra attempts.
 * id and deps are copied; data is the caller's and must outlive the run. */
int gbx_engine_submit_fn(gbx_engine *e, const char *id, const char *const *deps,
			 int retries, gbx_task_fn fn, void *data, char *err, size_t errlen);

/* Runs every task given so far, once (an engine runs one time). Does not
 * print task output, progress or a summary, and leaves signals alone.
 * Returns 0 when every task succeeded, 1 when some failed or were skipped,
 * or a negative GBX_E* code when the run could not start. */
int gbx_engine_run(gbx_engine *e, char *err, size_t errlen);

enum gbx_task_state {
	GBX_TASK_PENDING = 0,  /* never started (the run stopped first) */
	GBX_TASK_OK,
	GBX_TASK_FAILED,
	GBX_TASK_SKIPPED,      /* a dependency failed */
};

/* One task's outcome after gbx_engine_run. */
struct gbx_task_result {
	int state;             /* enum gbx_task_state */
	int exit_code;         /* of the last attempt: exit status, or -signal */
	int attempts;
};

int gbx_engine_result(const gbx_engine *e, const char *id, struct gbx_task_result *out);

/* Counts after the run. */
int64_t gbx_engine_count(const gbx_engine *e, int state);

void gbx_engine_free(gbx_engine *e);

#ifdef __cplusplus
}
#endif
#endif
