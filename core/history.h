/* history.h - what past runs measured, in SQLite: per attempt the task id,
 * its command template, duration, peak memory and outcome. A run reads it
 * once at the start (p90 estimates) and writes its attempts once at the end,
 * in one transaction, outside the engine lock. WAL mode and a busy timeout
 * let concurrent runs share one file without losing rows; the table is
 * pruned to the newest HIST_MAX_ROWS. Only exec tasks' attempts are kept (a
 * sim task does what its fields say; a run without exec tasks opens no
 * store). On by default for a workload file, beside it. See
 * docs/resources.md.
 */
#ifndef GBX_HISTORY_H
#define GBX_HISTORY_H

#include <stdint.h>
#include "util.h"
#include "workload.h"

#define HIST_MAX_ROWS 200000
/* an estimate is the p90 of a key's newest HIST_SAMPLES successful attempts */
#define HIST_SAMPLES 100

struct history;

/* Opens (creating) the store at path. A file that is not a usable store is
 * moved aside to PATH.corrupt with a one-line warning on stderr, and a fresh
 * one is made. Returns NULL (with a warning) only when no store can be made:
 * the run goes on without history. */
struct history *hist_open(const char *path);
void hist_close(struct history *h);

/* Estimates for wl's tasks from past successful attempts, by task id, else
 * by command template: est_ms[i] (p90 of durations) and mem_kb[i] (p90 of
 * peak memory), -1 where there is no sample; n[i] samples (may be NULL).
 * The arrays have wl->ntasks entries, owned by the caller. */
int hist_estimates(struct history *h, const struct workload *wl, int64_t *est_ms,
		   int64_t *mem_kb, uint32_t *n);

/* Under the engine lock: one attempt's facts, kept in memory until
 * hist_flush. */
void hist_note(struct history *h, uint32_t idx, double ms, int64_t peak_kb, const char *outcome);
/* After the run: writes what hist_note kept, in one transaction, and prunes. */
int hist_flush(struct history *h, const struct workload *wl);

/* The command template of task t: its argv (or sh) joined, for exec; its
 * kind for others. Written into out. */
void hist_template(const struct task *t, char *out, size_t n);

#endif
