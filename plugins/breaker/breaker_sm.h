/* breaker_sm.h - one circuit breaker as a pure state machine (resilience4j's
 * CircuitBreaker semantics), shared by the plugin glue (breaker.c) and the
 * unit tests (tests/unit/test_breaker.c).
 *
 * Nothing here locks, allocates after bk_init or talks to the engine, and
 * the clock is the caller's: a function given to bk_init (monotonic
 * nanoseconds), read at most once per call and only when the answer needs
 * the time (a time-based window, OPEN's wait, a state change), so the common
 * case, a call recorded in CLOSED with a count-based window, reads no clock.
 * Tests pass a fake one. The caller serializes calls on one breaker. A call
 * that changes the state fills a struct bk_transition so the caller can
 * report it.
 *
 * The life of one call: bk_permit() before it (ALLOW, HOLD or REJECT), then,
 * for an allowed call, exactly one of bk_record() (it ran: success or
 * failure, and how long it took) or bk_release() (it did not run after all,
 * or its outcome is ignored). Both take the generation that bk_permit
 * returned: a result that arrives after the breaker moved on to another
 * CLOSED or HALF_OPEN period is dropped (see bk_record).
 */
#ifndef GBX_BREAKER_SM_H
#define GBX_BREAKER_SM_H

#include <stdint.h>

enum bk_state { BK_CLOSED = 0, BK_OPEN, BK_HALF_OPEN, BK_DISABLED, BK_FORCED_OPEN, BK_NSTATES };
enum bk_window_type { BK_COUNT_BASED = 0, BK_TIME_BASED };
enum bk_on_open { BK_HOLD_CALLS = 0, BK_REJECT_CALLS };
enum bk_verdict { BK_ALLOW = 0, BK_HOLD, BK_REJECT };
enum bk_outcome { BK_SUCCESS = 0, BK_FAILURE, BK_IGNORED };
/* failure kinds a call can end with ("rejected" is not a call) */
enum bk_kind {
	BK_KIND_EXIT = 0,
	BK_KIND_SIGNAL,
	BK_KIND_TIMEOUT,
	BK_KIND_SPAWN,
	BK_KIND_ERROR,
	BK_NKINDS
};

/* A breaker's settings; defaults are resilience4j's (bk_config_default). */
struct bk_config {
	int window_type;                 /* enum bk_window_type */
	int window_size;                 /* calls (COUNT_BASED) or seconds (TIME_BASED), >= 1 */
	int minimum_calls;               /* >= 1: no rate before this many calls in the window */
	double failure_rate_threshold;   /* percent, (0, 100]: opens at >= */
	double slow_call_rate_threshold; /* percent, (0, 100]: opens at >= */
	double slow_call_ms;             /* a call longer than this (strictly) is slow */
	int64_t wait_open_ms;            /* OPEN lasts this long, then HALF_OPEN; >= 1 */
	int permitted_half_open;         /* trial calls in HALF_OPEN, >= 1 */
	int on_open;       /* enum bk_on_open: what a call refused while OPEN/HALF_OPEN gets */
	int initial_state; /* BK_CLOSED, BK_DISABLED or BK_FORCED_OPEN */
	unsigned count_failures; /* bit (1 << enum bk_kind): that kind is a failure */
	uint8_t ignore_exit[32]; /* bit n: exit code n is ignored */
};

/* One window of call outcomes with its totals, kept up to date as calls are
 * recorded and old ones drop out (subtract on evict), so a rate is O(1). */
struct bk_bucket {
	int64_t sec; /* TIME_BASED: the second this bucket aggregates */
	uint32_t calls, failed, slow;
};
struct bk_window {
	int type, size, minimum;
	uint32_t calls, failed, slow; /* totals over the window */
	int head;                     /* COUNT_BASED: next slot; TIME_BASED: current bucket */
	int filled;                   /* COUNT_BASED: slots in use */
	uint8_t *ring;                /* COUNT_BASED: size outcomes, bit 0 failed, bit 1 slow */
	struct bk_bucket *buckets;    /* TIME_BASED: size buckets */
};

struct bk_transition {
	int happened;        /* 0: the other fields mean nothing */
	int from, to;        /* enum bk_state */
	double failure_rate; /* of the window that decided, -1 below minimum_calls */
	double slow_call_rate;
	uint32_t calls, failed, slow;
};

/* the caller's clock: monotonic nanoseconds */
typedef int64_t (*bk_clock)(void *ctx);

struct bk {
	struct bk_config c;
	bk_clock clock;
	void *clock_ctx;
	int state;               /* enum bk_state */
	uint32_t gen;            /* +1 at every state change */
	int64_t since;           /* when the current state began */
	int64_t open_until;      /* OPEN: when it may turn HALF_OPEN */
	int permits;             /* HALF_OPEN: trial calls left to hand out */
	int ntrials;             /* HALF_OPEN: trial calls handed out and not yet back */
	uintptr_t *trials;       /* ...their callers' keys (permitted_half_open slots) */
	struct bk_window closed; /* CLOSED's window, kept (frozen but recording) while OPEN */
	struct bk_window half;   /* HALF_OPEN's window: COUNT_BASED, permitted_half_open calls */
	struct bk_window *m;     /* the metrics of the current state, NULL when none */
	/* counters for the run's summary; the caller may reset them */
	uint32_t changes[BK_NSTATES][BK_NSTATES];
	uint64_t n_calls, n_failed, n_slow, n_held, n_rejected, n_stale;
};

/* The resilience4j defaults (every failure kind counts, no exit code is
 * ignored). */
struct bk_config bk_config_default(void);

/* The enum bk_kind of a failure kind's name, or -1. */
int bk_kind(const char *name);
const char *bk_kind_name(int kind);

/* What an attempt's result means to the breaker, as resilience4j splits
 * exceptions: ok is a success; a failure of a kind in count_failures is a
 * failure, except exit codes in ignore_exit, which are ignored (no call, as
 * ignoreExceptions); a failure of another kind counts as a success (as an
 * exception not in recordExceptions); "rejected" (by any plugin) is no call
 * at all, so ignored; an unknown kind is taken as "error". */
int bk_classify(const struct bk_config *c, int ok, const char *failure, int exit_code);

/* Checks c; returns NULL when it is valid, else a static message naming the
 * setting by its config key (e.g. "failure_rate_threshold: ..."). */
const char *bk_config_check(const struct bk_config *c);

/* Sets up b (valid config: see bk_config_check) with its clock. Returns 0,
 * or -1 when out of memory or c is not valid (b then needs no bk_fini). */
int bk_init(struct bk *b, const struct bk_config *c, bk_clock clock, void *clock_ctx);
void bk_fini(struct bk *b);

/* Asks to start a call now. key identifies the caller (a task) so that
 * a caller that got a HALF_OPEN trial permit and asks again before giving it
 * back (another plugin deferred its task) gets the same permit, not a second.
 * Returns BK_ALLOW (with *gen to pass to bk_record/bk_release), or BK_HOLD /
 * BK_REJECT with *delay_ms: how long until asking again may help (time left
 * in OPEN, or a short poll while HALF_OPEN's trials are out; -1 for
 * FORCED_OPEN, which never lets a call through and always rejects, holding
 * nothing forever). OPEN turns HALF_OPEN here once wait_open_ms has passed
 * (reported in *tr). */
int bk_permit(struct bk *b, uintptr_t key, uint32_t *gen, int64_t *delay_ms,
              struct bk_transition *tr);

/* Records the end of an allowed call: its outcome and run time in ms. A call
 * whose generation is not the current one and which ends in CLOSED or
 * HALF_OPEN is stale (it was allowed before the breaker last changed state,
 * so it says nothing about the state it ends in) and is dropped; in OPEN
 * every result is recorded into the frozen window, as resilience4j does,
 * without a state change. Returns 1 when the state changed (see *tr). */
int bk_record(struct bk *b, int outcome, double ms, uint32_t gen, uintptr_t key,
              struct bk_transition *tr);

/* An allowed call did not run, or its outcome is ignored: gives its HALF_OPEN
 * trial permit back (when it held one of the current period). */
void bk_release(struct bk *b, uint32_t gen, uintptr_t key);

/* Time passes: OPEN turns HALF_OPEN when its wait is over. Returns 1 when the
 * state changed (see *tr). */
int bk_tick(struct bk *b, struct bk_transition *tr);

/* The rates of the current state's window now, in percent, or -1 when
 * it has fewer than its minimum calls (or none, or the state keeps no window:
 * DISABLED, FORCED_OPEN). TIME_BASED windows drop the seconds that have
 * passed out of them first. */
double bk_failure_rate(struct bk *b);
double bk_slow_call_rate(struct bk *b);

/* "CLOSED", "OPEN", "HALF_OPEN", "DISABLED", "FORCED_OPEN". */
const char *bk_state_name(int state);

#endif
