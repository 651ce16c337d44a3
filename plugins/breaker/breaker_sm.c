/* breaker_sm.c - one circuit breaker's state machine (see breaker_sm.h).
 *
 * It follows resilience4j's CircuitBreaker: CLOSED records calls in a count-
 * or time-based window and opens when, with at least minimum_calls in the
 * window, the failure rate or the slow-call rate reaches its threshold (>=).
 * OPEN refuses calls for wait_open_ms and keeps the window it opened with
 * (late results still land in it, for the rates a policy reads). Then
 * HALF_OPEN hands out permitted_half_open trial permits, records their
 * results in a fresh count-based window of that size (minimum: the smaller
 * of minimum_calls and that size) and, once it has enough, closes (both
 * rates under their thresholds) or opens again. CLOSED after HALF_OPEN
 * starts with an empty window. DISABLED lets everything through and records
 * nothing; FORCED_OPEN refuses everything.
 *
 * Invariants: m points at the window of the current state (closed or half)
 * or is NULL (DISABLED, FORCED_OPEN); in HALF_OPEN, permits + ntrials <=
 * permitted_half_open and trials[0..ntrials) are the callers holding a
 * permit; outside HALF_OPEN, permits == ntrials == 0; gen changes with
 * every state change.
 */
#include "breaker_sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S  1000000000LL
/* HALF_OPEN with every trial permit out: a held call asks again after half
 * the time the trials have taken so far, within these bounds, so a backlog
 * does not spin while slow trials run yet sees their verdict soon after. */
#define HALF_OPEN_POLL_MIN_MS 20
#define HALF_OPEN_POLL_MAX_MS 1000
#define WINDOW_SIZE_MAX       1000000
#define PERMITTED_MAX         100000

struct bk_config bk_config_default(void)
{
	struct bk_config c = {
	    .window_type = BK_COUNT_BASED,
	    .window_size = 100,
	    .minimum_calls = 100,
	    .failure_rate_threshold = 50,
	    .slow_call_rate_threshold = 100,
	    .slow_call_ms = 60000,
	    .wait_open_ms = 60000,
	    .permitted_half_open = 10,
	    .on_open = BK_HOLD_CALLS,
	    .initial_state = BK_CLOSED,
	    .count_failures = (1u << BK_NKINDS) - 1,
	};
	return c;
}

static const char *const kind_names[BK_NKINDS] = {"exit", "signal", "timeout", "spawn", "error"};

int bk_kind(const char *name)
{
	for (int i = 0; name && i < BK_NKINDS; i++)
		if (!strcmp(name, kind_names[i]))
			return i;
	return -1;
}

const char *bk_kind_name(int kind)
{
	return kind >= 0 && kind < BK_NKINDS ? kind_names[kind] : "?";
}

int bk_classify(const struct bk_config *c, int ok, const char *failure, int exit_code)
{
	if (ok)
		return BK_SUCCESS;
	if (failure && !strcmp(failure, "rejected"))
		return BK_IGNORED;
	int kind = bk_kind(failure);
	if (kind < 0)
		kind = BK_KIND_ERROR;
	if (kind == BK_KIND_EXIT && exit_code >= 0 && exit_code < 256 &&
	    (c->ignore_exit[exit_code >> 3] >> (exit_code & 7) & 1))
		return BK_IGNORED;
	return c->count_failures >> kind & 1 ? BK_FAILURE : BK_SUCCESS;
}

const char *bk_config_check(const struct bk_config *c)
{
	if (c->window_type != BK_COUNT_BASED && c->window_type != BK_TIME_BASED)
		return "sliding_window_type: expected \"COUNT_BASED\" or \"TIME_BASED\"";
	if (c->window_size < 1 || c->window_size > WINDOW_SIZE_MAX)
		return "sliding_window_size: expected an integer from 1 to 1000000";
	if (c->minimum_calls < 1)
		return "minimum_calls: expected an integer of at least 1";
	if (!(c->failure_rate_threshold > 0 && c->failure_rate_threshold <= 100))
		return "failure_rate_threshold: expected a percentage above 0 and at most 100";
	if (!(c->slow_call_rate_threshold > 0 && c->slow_call_rate_threshold <= 100))
		return "slow_call_rate_threshold: expected a percentage above 0 and at most 100";
	if (!(c->slow_call_ms > 0 && c->slow_call_ms < 1e12))
		return "slow_call_duration_ms: expected a number of milliseconds above 0";
	if (c->wait_open_ms < 1 || c->wait_open_ms > 1000000000000LL)
		return "wait_open_ms: expected an integer number of milliseconds of at least 1";
	if (c->permitted_half_open < 1 || c->permitted_half_open > PERMITTED_MAX)
		return "permitted_calls_half_open: expected an integer from 1 to 100000";
	if (c->on_open != BK_HOLD_CALLS && c->on_open != BK_REJECT_CALLS)
		return "on_open: expected \"hold\" or \"reject\"";
	if (c->initial_state != BK_CLOSED && c->initial_state != BK_DISABLED &&
	    c->initial_state != BK_FORCED_OPEN)
		return "state: expected \"CLOSED\", \"DISABLED\" or \"FORCED_OPEN\"";
	return NULL;
}

const char *bk_state_name(int state)
{
	static const char *const names[] = {"CLOSED", "OPEN", "HALF_OPEN", "DISABLED",
	                                    "FORCED_OPEN"};
	return state >= 0 && state < BK_NSTATES ? names[state] : "?";
}

/* ---- time ---------------------------------------------------------------- */

/* One operation reads the clock at most once, and only if it needs to: the
 * time is cached in *t (-1: not read yet). */
static int64_t now_of(const struct bk *b, int64_t *t)
{
	if (*t < 0)
		*t = b->clock(b->clock_ctx);
	return *t;
}

/* ---- windows ------------------------------------------------------------- */

static int win_init(struct bk_window *w, int type, int size, int minimum)
{
	memset(w, 0, sizeof *w);
	w->type = type;
	w->size = size;
	/* resilience4j: a count-based window can never hold more than its size,
	 * so its minimum is capped there; a time-based one is not */
	w->minimum = type == BK_COUNT_BASED && minimum > size ? size : minimum;
	if (type == BK_COUNT_BASED)
		w->ring = calloc((size_t)size, 1);
	else
		w->buckets = calloc((size_t)size, sizeof *w->buckets);
	return w->ring || w->buckets ? 0 : -1;
}

static void win_free(struct bk_window *w)
{
	free(w->ring);
	free(w->buckets);
	w->ring = NULL;
	w->buckets = NULL;
}

static void win_reset(struct bk_window *w, int64_t now)
{
	w->calls = w->failed = w->slow = 0;
	w->head = w->filled = 0;
	if (w->ring)
		memset(w->ring, 0, (size_t)w->size);
	if (w->buckets) {
		memset(w->buckets, 0, (size_t)w->size * sizeof *w->buckets);
		w->buckets[0].sec = now / NS_PER_S;
	}
}

/* TIME_BASED: moves the head to the current second, emptying the buckets of
 * the seconds that left the window (at most size of them) and taking their
 * counts off the totals. */
static void win_slide(const struct bk *b, struct bk_window *w, int64_t *t)
{
	if (w->type != BK_TIME_BASED)
		return;
	int64_t sec = now_of(b, t) / NS_PER_S;
	int64_t diff = sec - w->buckets[w->head].sec;
	if (diff <= 0)
		return; /* same second (or a caller's clock that went back: stay) */
	int64_t steps = diff < w->size ? diff : w->size;
	while (steps-- > 0) {
		w->head = (w->head + 1) % w->size;
		struct bk_bucket *k = &w->buckets[w->head];
		w->calls -= k->calls;
		w->failed -= k->failed;
		w->slow -= k->slow;
		k->calls = k->failed = k->slow = 0;
		k->sec = sec - steps;
	}
}

static void win_record(const struct bk *bk, struct bk_window *w, int failed, int slow, int64_t *t)
{
	if (w->type == BK_COUNT_BASED) {
		uint8_t *slot = &w->ring[w->head];
		if (w->filled == w->size) {
			/* the oldest call leaves the window */
			w->calls--;
			w->failed -= *slot & 1;
			w->slow -= *slot >> 1 & 1;
		} else {
			w->filled++;
		}
		*slot = (uint8_t)(failed | slow << 1);
		w->head = (w->head + 1) % w->size;
	} else {
		win_slide(bk, w, t);
		struct bk_bucket *k = &w->buckets[w->head];
		k->calls++;
		k->failed += (uint32_t)failed;
		k->slow += (uint32_t)slow;
	}
	w->calls++;
	w->failed += (uint32_t)failed;
	w->slow += (uint32_t)slow;
}

/* Rates in percent, or -1 below the window's minimum number of calls. */
static void win_rates(const struct bk *b, struct bk_window *w, int64_t *t, double *fr, double *sr)
{
	win_slide(b, w, t);
	if (w->calls == 0 || w->calls < (uint32_t)w->minimum) {
		*fr = *sr = -1;
		return;
	}
	*fr = w->failed * 100.0 / w->calls;
	*sr = w->slow * 100.0 / w->calls;
}

/* ---- the state machine --------------------------------------------------- */

int bk_init(struct bk *b, const struct bk_config *c, bk_clock clock, void *clock_ctx)
{
	memset(b, 0, sizeof *b);
	if (bk_config_check(c) || !clock)
		return -1;
	b->c = *c;
	b->clock = clock;
	b->clock_ctx = clock_ctx;
	int64_t now = clock(clock_ctx);
	b->trials = calloc((size_t)c->permitted_half_open, sizeof *b->trials);
	if (!b->trials || win_init(&b->closed, c->window_type, c->window_size, c->minimum_calls) ||
	    win_init(&b->half, BK_COUNT_BASED, c->permitted_half_open, c->minimum_calls)) {
		bk_fini(b);
		return -1;
	}
	win_reset(&b->closed, now);
	b->state = c->initial_state;
	b->m = b->state == BK_CLOSED ? &b->closed : NULL;
	b->since = now;
	return 0;
}

void bk_fini(struct bk *b)
{
	win_free(&b->closed);
	win_free(&b->half);
	free(b->trials);
	b->trials = NULL;
}

static void go(struct bk *b, int to, int64_t *t, struct bk_transition *tr)
{
	double fr = -1, sr = -1;
	int64_t now = now_of(b, t);
	if (b->m)
		win_rates(b, b->m, t, &fr, &sr);
	tr->happened = 1;
	tr->from = b->state;
	tr->to = to;
	tr->failure_rate = fr;
	tr->slow_call_rate = sr;
	tr->calls = b->m ? b->m->calls : 0;
	tr->failed = b->m ? b->m->failed : 0;
	tr->slow = b->m ? b->m->slow : 0;
	b->changes[b->state][to]++;
	b->state = to;
	b->gen++;
	b->since = now;
	b->permits = 0;
	b->ntrials = 0;
	switch (to) {
	case BK_OPEN:
		/* keeps the window that opened it, as resilience4j does */
		b->open_until = now + b->c.wait_open_ms * NS_PER_MS;
		break;
	case BK_HALF_OPEN:
		win_reset(&b->half, now);
		b->m = &b->half;
		b->permits = b->c.permitted_half_open;
		break;
	case BK_CLOSED:
		win_reset(&b->closed, now);
		b->m = &b->closed;
		break;
	default:
		b->m = NULL;
	}
}

static int take_trial(struct bk *b, uintptr_t key)
{
	for (int i = 0; i < b->ntrials; i++)
		if (b->trials[i] == key) {
			b->trials[i] = b->trials[--b->ntrials];
			return 1;
		}
	return 0;
}

static int refuse(struct bk *b)
{
	if (b->c.on_open == BK_REJECT_CALLS) {
		b->n_rejected++;
		return BK_REJECT;
	}
	b->n_held++;
	return BK_HOLD;
}

int bk_permit(struct bk *b, uintptr_t key, uint32_t *gen, int64_t *delay_ms,
              struct bk_transition *tr)
{
	int64_t t = -1, now;
	tr->happened = 0;
	*gen = b->gen;
	*delay_ms = 0;
	switch (b->state) {
	case BK_CLOSED:
	case BK_DISABLED:
		return BK_ALLOW;
	case BK_FORCED_OPEN:
		/* never hold: nothing would ever release the call */
		b->n_rejected++;
		*delay_ms = -1;
		return BK_REJECT;
	case BK_OPEN:
		now = now_of(b, &t);
		if (now < b->open_until) {
			int64_t left = (b->open_until - now + NS_PER_MS - 1) / NS_PER_MS;
			*delay_ms = left > 0 ? left : 1;
			return refuse(b);
		}
		go(b, BK_HALF_OPEN, &t, tr);
		*gen = b->gen;
		break;
	default:
		break;
	}
	/* HALF_OPEN */
	for (int i = 0; i < b->ntrials; i++)
		if (b->trials[i] == key)
			return BK_ALLOW; /* it holds a permit already */
	if (b->permits > 0) {
		b->permits--;
		b->trials[b->ntrials++] = key;
		return BK_ALLOW;
	}
	int64_t poll = (now_of(b, &t) - b->since) / NS_PER_MS / 2;
	*delay_ms = poll < HALF_OPEN_POLL_MIN_MS   ? HALF_OPEN_POLL_MIN_MS
	            : poll > HALF_OPEN_POLL_MAX_MS ? HALF_OPEN_POLL_MAX_MS
	                                           : poll;
	return refuse(b);
}

int bk_record(struct bk *b, int outcome, double ms, uint32_t gen, uintptr_t key,
              struct bk_transition *tr)
{
	int64_t t = -1;
	tr->happened = 0;
	if (!b->m)
		return 0; /* DISABLED, FORCED_OPEN: nothing is recorded */
	int failed = outcome == BK_FAILURE;
	int slow = ms > b->c.slow_call_ms;
	if (b->state != BK_OPEN && gen != b->gen) {
		/* Allowed in an earlier period: in HALF_OPEN only the trials may
		 * decide, and a CLOSED that follows a recovery should not reopen
		 * on calls that failed before it. (resilience4j would record it.) */
		b->n_stale++;
		return 0;
	}
	if (b->state == BK_HALF_OPEN)
		take_trial(b, key);
	win_record(b, b->m, failed, slow, &t);
	b->n_calls++;
	b->n_failed += (uint64_t)failed;
	b->n_slow += (uint64_t)slow;
	if (b->state == BK_OPEN)
		return 0; /* a late result: counted, but OPEN waits for its time */
	double fr, sr;
	win_rates(b, b->m, &t, &fr, &sr);
	if (fr < 0)
		return 0; /* below minimum_calls: no verdict yet */
	int exceeded = fr >= b->c.failure_rate_threshold || sr >= b->c.slow_call_rate_threshold;
	if (exceeded)
		go(b, BK_OPEN, &t, tr);
	else if (b->state == BK_HALF_OPEN)
		go(b, BK_CLOSED, &t, tr);
	return tr->happened;
}

void bk_release(struct bk *b, uint32_t gen, uintptr_t key)
{
	if (b->state == BK_HALF_OPEN && gen == b->gen && take_trial(b, key))
		b->permits++;
}

int bk_tick(struct bk *b, struct bk_transition *tr)
{
	int64_t t = -1;
	tr->happened = 0;
	if (b->state == BK_OPEN && now_of(b, &t) >= b->open_until)
		go(b, BK_HALF_OPEN, &t, tr);
	return tr->happened;
}

double bk_failure_rate(struct bk *b)
{
	int64_t t = -1;
	double fr = -1, sr;
	if (b->m)
		win_rates(b, b->m, &t, &fr, &sr);
	return fr;
}

double bk_slow_call_rate(struct bk *b)
{
	int64_t t = -1;
	double fr, sr = -1;
	if (b->m)
		win_rates(b, b->m, &t, &fr, &sr);
	return sr;
}
