/* sink.h - a task sink: a front end (gearbox parallel) that takes over how
 * attempts start and where their output goes.
 *
 * The engine runs tasks as always; with run_opts.sink set, an exec attempt
 * asks the sink for its command when it starts (on its worker thread, where
 * the sink may also wait: --delay, --load), hands the sink its output as it is
 * read instead of collecting it, and after each attempt (outside the engine
 * lock) tells the sink how it ended. Without a sink none of this costs
 * anything: one pointer test per attempt.
 */
#ifndef GBX_SINK_H
#define GBX_SINK_H

#include <stddef.h>
#include <stdint.h>

struct task;
struct attempt;

struct task_sink {
	void *ctx;
	int passthrough;   /* children write to our stdout and stderr themselves (-u) */
	/* At an attempt's start. May return an argv to run instead of the
	 * spec's (owned by the sink, valid until the attempt's done) and may set
	 * *timeout_ms (it holds the task's). slot is the worker, 1-based. */
	char *const *(*start)(void *ctx, const struct task *t, int slot, int64_t *timeout_ms);
	/* Output as it is read: fd 1 or 2. */
	void (*chunk)(void *ctx, const struct task *t, int fd, const char *p, size_t n);
	/* After an attempt; final when it is the task's last (not retried).
	 * Returns 0, or 1 (halt soon: start nothing more) or 2 (halt now: also
	 * stop what runs). */
	int (*done)(void *ctx, const struct task *t, const struct attempt *a, int final);
};

#endif
