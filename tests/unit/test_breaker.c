/* test_breaker.c - the breaker's state machine against resilience4j's
 * documented CircuitBreaker behaviour, with the clock in our hands.
 *
 * breaker_sm.c is compiled in here (unit tests link only libgearbox.a, and
 * the plugin is a .so of its own); it needs nothing but libc. Time is in
 * nanoseconds, starting at T0, a whole second (time-based windows bucket
 * calls by second).
 */
#include "../../plugins/breaker/breaker_sm.c"

#include <gearbox/plugin_json.h>

#include <math.h>

#include "check.h"

#define MS  1000000LL
#define SEC 1000000000LL
#define T0  (1000 * SEC)

/* the fake clock the breakers read */
static int64_t now_ns_;
static int clock_reads;
static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	clock_reads++;
	return now_ns_;
}
/* sets the time and starts a breaker with the fake clock */
static void init_at(struct bk *b, const struct bk_config *c, int64_t t)
{
	now_ns_ = t;
	if (bk_init(b, c, fake_clock, NULL))
		printf("# bk_init failed\n");
}

/* a breaker with resilience4j's defaults changed by the caller */
static struct bk_config cfg(int min_calls, int window, double threshold)
{
	struct bk_config c = bk_config_default();
	c.minimum_calls = min_calls;
	c.window_size = window;
	c.failure_rate_threshold = threshold;
	return c;
}

static int refused; /* calls the helpers expected to be allowed and were not */

/* records one call allowed just now (counts it in `refused` when it is not
 * allowed); returns the transition it caused */
static struct bk_transition call(struct bk *b, int outcome, double ms, int64_t now)
{
	uint32_t gen;
	int64_t delay;
	struct bk_transition tr;
	now_ns_ = now;
	int v = bk_permit(b, 1, &gen, &delay, &tr);
	if (v != BK_ALLOW) {
		refused++;
		printf("# call not allowed in %s\n", bk_state_name(b->state));
	}
	bk_record(b, outcome, ms, gen, 1, &tr);
	return tr;
}

/* the state machine's calls at a given time */
static int permit_at(struct bk *b, int64_t now, uintptr_t key, uint32_t *gen, int64_t *delay,
                     struct bk_transition *tr)
{
	now_ns_ = now;
	return bk_permit(b, key, gen, delay, tr);
}
static int record_at(struct bk *b, int outcome, double ms, uint32_t gen, uintptr_t key, int64_t now,
                     struct bk_transition *tr)
{
	now_ns_ = now;
	return bk_record(b, outcome, ms, gen, key, tr);
}
static int tick_at(struct bk *b, int64_t now, struct bk_transition *tr)
{
	now_ns_ = now;
	return bk_tick(b, tr);
}
static double rate_at(struct bk *b, int64_t now, int slow)
{
	now_ns_ = now;
	return slow ? bk_slow_call_rate(b) : bk_failure_rate(b);
}

static void calls(struct bk *b, int n, int outcome, int64_t now)
{
	for (int i = 0; i < n; i++)
		call(b, outcome, 1, now);
}

static void test_defaults(void)
{
	struct bk_config c = bk_config_default();
	CHECK(c.window_type == BK_COUNT_BASED && c.window_size == 100,
	      "defaults: COUNT_BASED window of 100");
	CHECK(c.minimum_calls == 100, "defaults: minimum_calls 100");
	CHECK(c.failure_rate_threshold == 50 && c.slow_call_rate_threshold == 100,
	      "defaults: failure rate 50%%, slow call rate 100%%");
	CHECK(c.slow_call_ms == 60000 && c.wait_open_ms == 60000,
	      "defaults: slow call 60 s, wait 60 s");
	CHECK(c.permitted_half_open == 10, "defaults: 10 calls in HALF_OPEN");
	CHECK(c.on_open == BK_HOLD_CALLS && c.initial_state == BK_CLOSED, "defaults: hold, CLOSED");
	CHECK(bk_config_check(&c) == NULL, "defaults: valid");

	struct bk bk;
	struct bk_config b = c;
	b.failure_rate_threshold = 0;
	CHECK(bk_init(&bk, &b, fake_clock, NULL) == -1,
	      "config: bk_init refuses an invalid config");
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "failure_rate_threshold:", 23),
	      "config: failure_rate_threshold 0 refused, naming the key");
	b = c;
	b.failure_rate_threshold = 100.5;
	CHECK(bk_config_check(&b) != NULL, "config: failure_rate_threshold above 100 refused");
	b = c;
	b.failure_rate_threshold = 100;
	CHECK(bk_config_check(&b) == NULL, "config: failure_rate_threshold 100 accepted");
	b = c;
	b.slow_call_rate_threshold = -1;
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "slow_call_rate_threshold:", 25),
	      "config: slow_call_rate_threshold -1 refused");
	b = c;
	b.window_size = 0;
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "sliding_window_size:", 20),
	      "config: sliding_window_size 0 refused");
	b = c;
	b.minimum_calls = 0;
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "minimum_calls:", 14),
	      "config: minimum_calls 0 refused");
	b = c;
	b.wait_open_ms = 0;
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "wait_open_ms:", 13),
	      "config: wait_open_ms 0 refused");
	b = c;
	b.permitted_half_open = 0;
	CHECK(bk_config_check(&b) &&
	          !strncmp(bk_config_check(&b), "permitted_calls_half_open:", 26),
	      "config: permitted_calls_half_open 0 refused");
	b = c;
	b.slow_call_ms = 0;
	CHECK(bk_config_check(&b) && !strncmp(bk_config_check(&b), "slow_call_duration_ms:", 22),
	      "config: slow_call_duration_ms 0 refused");
}

/* resilience4j: "if minimumNumberOfCalls is 10, then at least 10 calls must
 * be recorded before the failure rate can be calculated"; the breaker opens
 * when the rate is equal to or greater than the threshold. */
static void test_opens_at_threshold(void)
{
	struct bk b;
	struct bk_config c = cfg(10, 100, 50);
	init_at(&b, &c, T0);
	calls(&b, 4, BK_FAILURE, T0);
	calls(&b, 5, BK_SUCCESS, T0);
	CHECK(b.state == BK_CLOSED,
	      "threshold: 4 failures + 5 successes (9 calls < minimum 10): CLOSED");
	CHECK(rate_at(&b, T0, 0) == -1, "threshold: no failure rate below the minimum (-1)");
	struct bk_transition tr = call(&b, BK_FAILURE, 1, T0);
	CHECK(b.state == BK_OPEN, "threshold: the 10th call making 5/10 = 50%% failures opens it");
	CHECK(tr.happened && tr.from == BK_CLOSED && tr.to == BK_OPEN,
	      "threshold: the transition CLOSED -> OPEN is reported");
	CHECK(tr.failure_rate == 50 && tr.calls == 10 && tr.failed == 5,
	      "threshold: with the rate and counts that decided (50%%, 5 of 10)");
	CHECK(rate_at(&b, T0, 0) == 50, "threshold: OPEN keeps the window it opened with (50%%)");
	bk_fini(&b);

	init_at(&b, &c, T0);
	clock_reads = 0;
	calls(&b, 4, BK_FAILURE, T0);
	calls(&b, 6, BK_SUCCESS, T0);
	CHECK(clock_reads == 0,
	      "clock: calls recorded in CLOSED with a count window read no clock");
	CHECK(b.state == BK_CLOSED && rate_at(&b, T0, 0) == 40,
	      "threshold: 4/10 = 40%% stays CLOSED, rate 40");
	bk_fini(&b);

	init_at(&b, &c, T0);
	calls(&b, 9, BK_FAILURE, T0);
	CHECK(b.state == BK_CLOSED,
	      "threshold: 9 failures out of 9 calls do not open it (minimum 10)");
	call(&b, BK_FAILURE, 1, T0);
	CHECK(b.state == BK_OPEN, "threshold: the 10th failure does");
	bk_fini(&b);
}

static void test_count_window(void)
{
	struct bk b;
	struct bk_config c = cfg(10, 10, 50);
	init_at(&b, &c, T0);
	calls(&b, 10, BK_SUCCESS, T0);
	calls(&b, 4, BK_FAILURE, T0);
	CHECK(b.state == BK_CLOSED && rate_at(&b, T0, 0) == 40,
	      "count window: the last 10 calls count (4 failures after 10 successes: 40%%)");
	call(&b, BK_FAILURE, 1, T0);
	CHECK(b.state == BK_OPEN, "count window: the 5th failure pushes out a success: 50%%, OPEN");
	bk_fini(&b);

	/* resilience4j caps a count window's minimum at its size */
	c = cfg(100, 5, 50);
	init_at(&b, &c, T0);
	calls(&b, 4, BK_FAILURE, T0);
	CHECK(b.state == BK_CLOSED,
	      "count window: minimum 100 with a window of 5: 4 calls, CLOSED");
	call(&b, BK_FAILURE, 1, T0);
	CHECK(b.state == BK_OPEN,
	      "count window: ... and the 5th call is enough (minimum capped at 5)");
	bk_fini(&b);
}

static void test_slow_calls(void)
{
	struct bk b;
	struct bk_config c = cfg(10, 10, 50);
	c.slow_call_rate_threshold = 50;
	c.slow_call_ms = 1000;
	init_at(&b, &c, T0);
	calls(&b, 5, BK_SUCCESS, T0);   /* fast */
	call(&b, BK_SUCCESS, 1000, T0); /* exactly the duration: not slow (it must exceed it) */
	for (int i = 0; i < 3; i++)
		call(&b, BK_SUCCESS, 1500, T0);
	CHECK(b.state == BK_CLOSED && rate_at(&b, T0, 1) == -1,
	      "slow: 9 calls, 3 slow: CLOSED, no rate yet");
	call(&b, BK_SUCCESS, 1000.5, T0);
	CHECK(b.state == BK_CLOSED && rate_at(&b, T0, 1) == 40,
	      "slow: 4 of 10 slower than 1000 ms (1000 itself is not slow): 40%%, CLOSED");
	struct bk_transition tr = call(&b, BK_SUCCESS, 60000, T0);
	CHECK(b.state == BK_OPEN && tr.slow_call_rate == 50 && tr.failure_rate == 0,
	      "slow: a 5th slow call (pushing out a fast one) opens it at 50%% slow, 0%% failures");
	bk_fini(&b);

	/* slow failures count on both sides */
	init_at(&b, &c, T0);
	calls(&b, 6, BK_SUCCESS, T0);
	for (int i = 0; i < 4; i++)
		call(&b, BK_FAILURE, 2000, T0);
	CHECK(b.state == BK_CLOSED && rate_at(&b, T0, 0) == 40 && rate_at(&b, T0, 1) == 40,
	      "slow: 4 slow failures in 10: 40%% failed and 40%% slow, CLOSED");
	bk_fini(&b);

	/* the default slow threshold (100%) opens only when every call is slow */
	c = cfg(4, 100, 50);
	c.slow_call_ms = 10;
	init_at(&b, &c, T0);
	for (int i = 0; i < 3; i++)
		call(&b, BK_SUCCESS, 11, T0);
	call(&b, BK_SUCCESS, 5, T0);
	CHECK(b.state == BK_CLOSED, "slow: 3 of 4 slow under the default 100%% threshold: CLOSED");
	bk_fini(&b);
	init_at(&b, &c, T0);
	for (int i = 0; i < 4; i++)
		call(&b, BK_SUCCESS, 11, T0);
	CHECK(b.state == BK_OPEN, "slow: 4 of 4 slow: OPEN");
	bk_fini(&b);
}

/* opens a breaker at T0 with failures */
static void open_it(struct bk *b, struct bk_config *c)
{
	init_at(b, c, T0);
	while (b->state == BK_CLOSED)
		call(b, BK_FAILURE, 1, T0);
}

static void test_open(void)
{
	struct bk b;
	struct bk_config c = cfg(4, 10, 50);
	c.wait_open_ms = 1000;
	c.permitted_half_open = 3;
	open_it(&b, &c);
	CHECK(b.state == BK_OPEN, "open: opened");
	uint32_t gen;
	int64_t delay;
	struct bk_transition tr;
	int v = permit_at(&b, T0 + 250 * MS, 7, &gen, &delay, &tr);
	CHECK(v == BK_HOLD && delay == 750 && !tr.happened,
	      "open, hold: a call is held for the 750 ms left of the wait");
	v = permit_at(&b, T0 + 999999999LL, 7, &gen, &delay, &tr);
	CHECK(v == BK_HOLD && delay == 1, "open, hold: never less than 1 ms");
	CHECK(b.n_held == 2, "open, hold: counted as held");
	bk_fini(&b);

	c.on_open = BK_REJECT_CALLS;
	open_it(&b, &c);
	v = permit_at(&b, T0 + 100 * MS, 7, &gen, &delay, &tr);
	CHECK(v == BK_REJECT && delay == 900 && b.n_rejected == 1,
	      "open, reject: a call is rejected at once (900 ms left)");
	/* late results of calls let through before it opened: recorded, no change */
	record_at(&b, BK_SUCCESS, 1, 0, 9, T0 + 200 * MS, &tr);
	CHECK(
	    b.state == BK_OPEN && !tr.happened && rate_at(&b, T0, 0) == 80,
	    "open: a late success is recorded in the kept window (4 of 5 failed) without a change");
	v = permit_at(&b, T0 + 1000 * MS, 7, &gen, &delay, &tr);
	CHECK(v == BK_ALLOW && b.state == BK_HALF_OPEN && tr.happened && tr.from == BK_OPEN &&
	          tr.to == BK_HALF_OPEN,
	      "open: after wait_open_ms the next call turns it HALF_OPEN and is a trial");
	bk_fini(&b);

	/* the tick moves it on time without a call */
	c.on_open = BK_HOLD_CALLS;
	open_it(&b, &c);
	CHECK(!tick_at(&b, T0 + 999 * MS, &tr) && b.state == BK_OPEN,
	      "tick: not before the wait is over");
	CHECK(tick_at(&b, T0 + 1000 * MS, &tr) && b.state == BK_HALF_OPEN && tr.to == BK_HALF_OPEN,
	      "tick: OPEN -> HALF_OPEN when it is");
	CHECK(rate_at(&b, T0 + 1000 * MS, 0) == -1, "tick: HALF_OPEN starts an empty window");
	bk_fini(&b);
}

/* HALF_OPEN with 3 trial permits; minimum_calls 4 > 3, so the trial window's
 * minimum is 3 (resilience4j: min(minimumNumberOfCalls, permitted)). */
static void half_open(struct bk *b, struct bk_config *c, int64_t *now)
{
	struct bk_transition tr;
	open_it(b, c);
	*now = T0 + c->wait_open_ms * MS;
	tick_at(b, *now, &tr);
}

static void test_half_open(void)
{
	struct bk b;
	struct bk_config c = cfg(4, 10, 50);
	c.wait_open_ms = 1000;
	c.permitted_half_open = 3;
	int64_t now;
	uint32_t g[4];
	int64_t delay;
	struct bk_transition tr;

	/* trials succeed: CLOSED */
	half_open(&b, &c, &now);
	CHECK(permit_at(&b, now, 11, &g[0], &delay, &tr) == BK_ALLOW &&
	          permit_at(&b, now, 12, &g[1], &delay, &tr) == BK_ALLOW &&
	          permit_at(&b, now, 13, &g[2], &delay, &tr) == BK_ALLOW,
	      "half-open: 3 trial calls are let through");
	CHECK(permit_at(&b, now, 14, &g[3], &delay, &tr) == BK_HOLD && delay == 20,
	      "half-open: the 4th is held, briefly (20 ms), while the trials run");
	CHECK(permit_at(&b, now + 1000 * MS, 14, &g[3], &delay, &tr) == BK_HOLD && delay == 500,
	      "half-open: ... a bit longer as the trials take longer (500 ms after 1 s)");
	CHECK(permit_at(&b, now + 9000 * MS, 14, &g[3], &delay, &tr) == BK_HOLD && delay == 1000,
	      "half-open: ... at most 1 s");
	CHECK(permit_at(&b, now, 12, &g[1], &delay, &tr) == BK_ALLOW && b.permits == 0 &&
	          b.ntrials == 3,
	      "half-open: a trial asking again keeps its permit, without a second one");
	record_at(&b, BK_SUCCESS, 1, g[0], 11, now, &tr);
	record_at(&b, BK_FAILURE, 1, g[1], 12, now, &tr);
	CHECK(b.state == BK_HALF_OPEN && !tr.happened,
	      "half-open: 2 of 3 trial results: no verdict yet");
	record_at(&b, BK_SUCCESS, 1, g[2], 13, now, &tr);
	CHECK(b.state == BK_CLOSED && tr.happened && tr.from == BK_HALF_OPEN && tr.to == BK_CLOSED,
	      "half-open: 1 failure in 3 trials (33%% < 50%%): CLOSED");
	CHECK(rate_at(&b, now, 0) == -1 && b.closed.calls == 0,
	      "half-open: CLOSED starts with an empty window");
	bk_fini(&b);

	/* trials fail: OPEN again, for another wait */
	half_open(&b, &c, &now);
	for (int i = 0; i < 3; i++)
		permit_at(&b, now, (uintptr_t)(20 + i), &g[i], &delay, &tr);
	record_at(&b, BK_FAILURE, 1, g[0], 20, now, &tr);
	record_at(&b, BK_SUCCESS, 1, g[1], 21, now, &tr);
	record_at(&b, BK_FAILURE, 1, g[2], 22, now + 5 * MS, &tr);
	CHECK(b.state == BK_OPEN && tr.happened && tr.from == BK_HALF_OPEN && tr.to == BK_OPEN,
	      "half-open: 2 failures in 3 trials (67%% >= 50%%): OPEN again");
	CHECK(permit_at(&b, now + 5 * MS, 30, &g[3], &delay, &tr) == BK_HOLD && delay == 1000,
	      "half-open: ... for a full wait_open_ms from then");
	CHECK(b.changes[BK_CLOSED][BK_OPEN] == 1 && b.changes[BK_OPEN][BK_HALF_OPEN] == 1 &&
	          b.changes[BK_HALF_OPEN][BK_OPEN] == 1,
	      "half-open: the state changes are counted");
	bk_fini(&b);

	/* slow trials also open it */
	c.slow_call_rate_threshold = 50;
	c.slow_call_ms = 100;
	half_open(&b, &c, &now);
	for (int i = 0; i < 3; i++)
		permit_at(&b, now, (uintptr_t)(40 + i), &g[i], &delay, &tr);
	for (int i = 0; i < 3; i++)
		record_at(&b, BK_SUCCESS, i ? 500 : 1, g[i], (uintptr_t)(40 + i), now, &tr);
	CHECK(b.state == BK_OPEN,
	      "half-open: 2 slow successes in 3 trials (67%% slow): OPEN again");
	bk_fini(&b);
	c.slow_call_rate_threshold = 100;

	/* a smaller minimum_calls decides sooner (min(minimum_calls, permitted)) */
	c.minimum_calls = 2;
	c.permitted_half_open = 5;
	half_open(&b, &c, &now);
	permit_at(&b, now, 1, &g[0], &delay, &tr);
	permit_at(&b, now, 2, &g[1], &delay, &tr);
	record_at(&b, BK_SUCCESS, 1, g[0], 1, now, &tr);
	record_at(&b, BK_SUCCESS, 1, g[1], 2, now, &tr);
	CHECK(b.state == BK_CLOSED,
	      "half-open: minimum_calls 2 < 5 permits: 2 good trials close it");
	bk_fini(&b);
	c.minimum_calls = 4;
	c.permitted_half_open = 3;

	/* a trial that did not run gives its permit back */
	half_open(&b, &c, &now);
	for (int i = 0; i < 3; i++)
		permit_at(&b, now, (uintptr_t)(50 + i), &g[i], &delay, &tr);
	CHECK(permit_at(&b, now, 60, &g[3], &delay, &tr) == BK_HOLD, "release: all permits out");
	bk_release(&b, g[1], 51);
	CHECK(permit_at(&b, now, 60, &g[3], &delay, &tr) == BK_ALLOW,
	      "release: a released permit goes to the next call");
	bk_release(&b, g[1], 99);
	CHECK(b.permits == 0, "release: a caller without a permit gives nothing back");
	bk_fini(&b);

	/* reject mode: calls beyond the permits are rejected */
	c.on_open = BK_REJECT_CALLS;
	half_open(&b, &c, &now);
	for (int i = 0; i < 3; i++)
		permit_at(&b, now, (uintptr_t)(70 + i), &g[i], &delay, &tr);
	CHECK(permit_at(&b, now, 80, &g[3], &delay, &tr) == BK_REJECT,
	      "half-open, reject: a call beyond the trial permits is rejected");
	bk_fini(&b);
}

/* results of calls let through before the last state change */
static void test_stale(void)
{
	struct bk b;
	struct bk_config c = cfg(4, 10, 50);
	c.wait_open_ms = 1000;
	c.permitted_half_open = 2;
	struct bk_transition tr;
	uint32_t old, g1, g2;
	int64_t delay;
	init_at(&b, &c, T0);
	permit_at(&b, T0, 100, &old, &delay, &tr); /* a slow call, still running */
	calls(&b, 4, BK_FAILURE, T0);
	int64_t now = T0 + 1000 * MS;
	tick_at(&b, now, &tr);
	permit_at(&b, now, 1, &g1, &delay, &tr);
	permit_at(&b, now, 2, &g2, &delay, &tr);
	record_at(&b, BK_FAILURE, 2000, old, 100, now, &tr);
	CHECK(b.state == BK_HALF_OPEN && b.half.calls == 0 && b.n_stale == 1,
	      "stale: a call from before OPEN that ends in HALF_OPEN is not a trial: dropped");
	record_at(&b, BK_SUCCESS, 1, g1, 1, now, &tr);
	record_at(&b, BK_SUCCESS, 1, g2, 2, now, &tr);
	CHECK(b.state == BK_CLOSED, "stale: the trials alone decide (CLOSED)");
	record_at(&b, BK_FAILURE, 2000, old, 100, now, &tr);
	CHECK(b.closed.calls == 0 && b.n_stale == 2,
	      "stale: nor does it count in the CLOSED that follows the recovery");
	bk_fini(&b);
}

/* resilience4j's time-based window: the calls of the last N seconds, in one
 * bucket per second */
static void test_time_window(void)
{
	struct bk b;
	struct bk_config c = cfg(5, 10, 50);
	c.window_type = BK_TIME_BASED;
	init_at(&b, &c, T0);
	calls(&b, 4, BK_FAILURE, T0 + 100 * MS);
	CHECK(b.state == BK_CLOSED, "time window: 4 failures, minimum 5: CLOSED");
	call(&b, BK_SUCCESS, 1, T0 + 10 * SEC);
	CHECK(b.state == BK_CLOSED && b.closed.calls == 1,
	      "time window: 10 s later the 4 failures have left the 10 s window (1 call in it)");
	calls(&b, 4, BK_FAILURE, T0 + 10 * SEC + 500 * MS);
	CHECK(b.state == BK_OPEN, "time window: 4 fresh failures + 1 success (80%%): OPEN");
	bk_fini(&b);

	init_at(&b, &c, T0);
	calls(&b, 4, BK_FAILURE, T0);
	call(&b, BK_SUCCESS, 1, T0 + 9 * SEC + 999 * MS);
	CHECK(b.state == BK_OPEN,
	      "time window: calls 9.999 s apart are in one 10 s window (4/5 failed)");
	bk_fini(&b);

	c.failure_rate_threshold = 70; /* 3 of 5 and 3 of 6 stay under it */
	init_at(&b, &c, T0);
	calls(&b, 3, BK_FAILURE, T0);
	calls(&b, 3, BK_SUCCESS, T0 + 3 * SEC);
	CHECK(rate_at(&b, T0 + 9 * SEC, 0) == 50, "time window: rate 50%% over seconds 0 and 3");
	CHECK(rate_at(&b, T0 + 10 * SEC, 0) == -1,
	      "time window: second 0 leaves at 10 s (3 calls < 5)");
	CHECK(b.closed.calls == 3 && b.closed.failed == 0,
	      "time window: only second 3's successes remain");
	CHECK(rate_at(&b, T0 + 100 * SEC, 0) == -1 && b.closed.calls == 0,
	      "time window: a long pause empties it");
	calls(&b, 5, BK_FAILURE, T0 + 100 * SEC);
	CHECK(b.state == BK_OPEN, "time window: and it works after the pause");
	bk_fini(&b);

	/* time-based minimum is not capped by the window size (resilience4j) */
	c = cfg(20, 2, 50);
	c.window_type = BK_TIME_BASED;
	init_at(&b, &c, T0);
	calls(&b, 19, BK_FAILURE, T0);
	CHECK(b.state == BK_CLOSED, "time window: minimum 20 with a 2 s window: 19 calls, CLOSED");
	call(&b, BK_FAILURE, 1, T0);
	CHECK(b.state == BK_OPEN, "time window: the 20th call opens it");
	bk_fini(&b);
}

static void test_special_states(void)
{
	struct bk b;
	struct bk_config c = cfg(2, 10, 50);
	struct bk_transition tr;
	uint32_t gen;
	int64_t delay;
	c.initial_state = BK_DISABLED;
	init_at(&b, &c, T0);
	calls(&b, 50, BK_FAILURE, T0);
	CHECK(b.state == BK_DISABLED && rate_at(&b, T0, 0) == -1 && b.n_calls == 0,
	      "DISABLED: every call allowed, nothing recorded, never opens");
	bk_fini(&b);

	c.initial_state = BK_FORCED_OPEN;
	init_at(&b, &c, T0);
	CHECK(permit_at(&b, T0, 1, &gen, &delay, &tr) == BK_REJECT && delay == -1,
	      "FORCED_OPEN: rejects, even with on_open hold (holding would never end)");
	CHECK(!tick_at(&b, T0 + 1000 * SEC, &tr) &&
	          permit_at(&b, T0 + 1000 * SEC, 1, &gen, &delay, &tr) == BK_REJECT,
	      "FORCED_OPEN: stays so");
	bk_fini(&b);
}

static void test_classify(void)
{
	struct bk_config c = bk_config_default();
	CHECK(bk_classify(&c, 1, NULL, 0) == BK_SUCCESS, "classify: ok is a success");
	CHECK(bk_classify(&c, 0, "exit", 1) == BK_FAILURE &&
	          bk_classify(&c, 0, "signal", -1) == BK_FAILURE &&
	          bk_classify(&c, 0, "timeout", -1) == BK_FAILURE &&
	          bk_classify(&c, 0, "spawn", -1) == BK_FAILURE &&
	          bk_classify(&c, 0, "error", -1) == BK_FAILURE,
	      "classify: by default every failure kind counts");
	CHECK(bk_classify(&c, 0, "rejected", -1) == BK_IGNORED, "classify: a rejection is no call");
	CHECK(bk_classify(&c, 0, "mystery", -1) == BK_FAILURE,
	      "classify: an unknown kind is an error");
	c.count_failures = 1u << BK_KIND_TIMEOUT | 1u << BK_KIND_SPAWN;
	CHECK(bk_classify(&c, 0, "timeout", -1) == BK_FAILURE,
	      "classify: count_failures [timeout, spawn]: a timeout is a failure");
	CHECK(bk_classify(&c, 0, "exit", 3) == BK_SUCCESS,
	      "classify: ... an exit failure is not one, so it counts as a success (resilience4j)");
	c = bk_config_default();
	c.ignore_exit[75 >> 3] |= 1u << (75 & 7);
	CHECK(bk_classify(&c, 0, "exit", 75) == BK_IGNORED,
	      "classify: an exit code in ignore_exit_codes is ignored (no call)");
	CHECK(bk_classify(&c, 0, "exit", 74) == BK_FAILURE &&
	          bk_classify(&c, 0, "exit", 76) == BK_FAILURE,
	      "classify: ... only that code");
	CHECK(bk_classify(&c, 0, "signal", 75) == BK_FAILURE,
	      "classify: ... and only for exit failures");
	CHECK(bk_kind("timeout") == BK_KIND_TIMEOUT && bk_kind("rejected") == -1 &&
	          !strcmp(bk_kind_name(BK_KIND_SPAWN), "spawn"),
	      "classify: kind names");
}

/* the plugin_json.h readers the breaker's config parsing relies on */
static void test_json(void)
{
	double d = 0;
	int b = -1;
	CHECK(!gbx_json_number(" 50", &d) && d == 50, "json: 50");
	CHECK(!gbx_json_number("-0.25}", &d) && d == -0.25, "json: -0.25 before }");
	CHECK(!gbx_json_number("33.3,", &d) && d == 33.3, "json: 33.3 is the double 33.3");
	CHECK(!gbx_json_number("0.1", &d) && d == 0.1, "json: 0.1 is the double 0.1");
	CHECK(!gbx_json_number("1e3", &d) && d == 1000, "json: 1e3");
	CHECK(!gbx_json_number("2.5E-2 ]", &d) && d == 0.025, "json: 2.5E-2");
	CHECK(!gbx_json_number("60000.0", &d) && d == 60000, "json: 60000.0");
	CHECK(!gbx_json_number("0.10000000000000001", &d) && d == 0.1,
	      "json: 17 significant digits (jansson's way of writing 0.1)");
	CHECK(!gbx_json_number("123456789012345678901234", &d) &&
	          fabs(d / 1.23456789012345678e23 - 1) < 1e-15,
	      "json: more digits than fit");
	CHECK(!gbx_json_number("1e400", &d) && isinf(d), "json: overflow is infinite");
	CHECK(!gbx_json_number("1e-400", &d) && d == 0, "json: underflow is 0");
	d = 7;
	CHECK(gbx_json_number("\"5\"", &d) && gbx_json_number("5x", &d) &&
	          gbx_json_number("01", &d) && gbx_json_number("1.", &d) &&
	          gbx_json_number(".5", &d) && gbx_json_number("-", &d) &&
	          gbx_json_number("1e", &d) && gbx_json_number("true", &d) &&
	          gbx_json_number(NULL, &d) && d == 7,
	      "json: not numbers (quoted, trailing junk, leading zero, bare point, ...)");
	CHECK(!gbx_json_bool(" true,", &b) && b == 1 && !gbx_json_bool("false}", &b) && b == 0,
	      "json: true, false");
	CHECK(gbx_json_bool("truex", &b) && gbx_json_bool("1", &b) && gbx_json_bool("null", &b),
	      "json: not booleans");

	const char *arr = "[ \"exit\", 3 , [1,2], {\"a\":1} ]", *it = NULL, *e;
	int n = 0;
	char s[16];
	while ((e = gbx_json_next(arr, &it))) {
		if (n == 0)
			CHECK(!gbx_json_string(e, s, sizeof s) && !strcmp(s, "exit"),
			      "json: array element 1");
		if (n == 1)
			CHECK(!gbx_json_number(e, &d) && d == 3, "json: array element 2");
		if (n == 3)
			CHECK(gbx_json_member(e, "a") != NULL,
			      "json: array element 4 is an object");
		n++;
	}
	CHECK(n == 4 && it && *it == ']', "json: 4 elements, clean end");
	it = NULL;
	CHECK(!gbx_json_next("[]", &it) && it && *it == ']', "json: empty array");
	it = NULL;
	CHECK(!gbx_json_next("{\"a\":1}", &it) && !it, "json: an object is not an array");
	it = NULL;
	n = 0;
	while (gbx_json_next("[1, 2", &it))
		n++;
	CHECK(n == 2 && !it, "json: an unterminated array ends with a NULL cursor");
	it = NULL;
	n = 0;
	while (gbx_json_next("[1, 2}", &it))
		n++;
	CHECK(n == 2 && !it, "json: a '}' closing an array is malformed");

	const char *obj = "{ \"flaky\" : {\"state\":\"DISABLED\"}, \"a\\\"b\": 2 }";
	char key[32];
	it = NULL;
	e = gbx_json_next_member(obj, &it, key, sizeof key);
	CHECK(e && !strcmp(key, "flaky") && gbx_json_member(e, "state"),
	      "json: member 1 with its key");
	e = gbx_json_next_member(obj, &it, key, sizeof key);
	CHECK(e && !strcmp(key, "a\"b") && !gbx_json_number(e, &d) && d == 2,
	      "json: member 2, its key decoded");
	CHECK(!gbx_json_next_member(obj, &it, key, sizeof key) && it && *it == '}',
	      "json: clean end");
	it = NULL;
	CHECK(!gbx_json_next_member("[1]", &it, key, sizeof key) && !it,
	      "json: an array is not an object");
	it = NULL;
	CHECK(!gbx_json_next_member("{\"a\" 1}", &it, key, sizeof key) && !it,
	      "json: missing colon");
	it = NULL;
	CHECK(!gbx_json_next_member("{}", &it, key, sizeof key) && it && *it == '}',
	      "json: empty object");
}

int main(void)
{
	test_defaults();
	test_opens_at_threshold();
	test_count_window();
	test_slow_calls();
	test_open();
	test_half_open();
	test_stale();
	test_time_window();
	test_special_states();
	test_classify();
	test_json();
	CHECK(refused == 0, "every call the tests meant to make was allowed");
	return check_done();
}
