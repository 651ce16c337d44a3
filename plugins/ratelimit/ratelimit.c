/* ratelimit.c - a token bucket per target: at most `rate` task starts per
 * second towards one target, with bursts of up to `burst`.
 *
 *   "plugins": { "ratelimit": { "enabled": true, "rate": 5, "burst": 2,
 *                               "targets": { "api.example.org": { "rate": 1 } } } }
 *
 * A task whose target has no token left is deferred (GBX_DEFER): it goes
 * back to the engine's timer heap and holds no worker slot meanwhile. Tasks
 * without a target are not limited. A target in `targets` takes its rate
 * and burst from there (each defaulting to the top-level ones); every other
 * target gets the top-level bucket of its own. Built only against the SDK
 * (docs/resources.md says why it is a plugin).
 *
 * Tickets: a deferred task takes a ticket of its target (its task_data
 * points at the bucket) and is deferred until its own token is due, behind
 * the waiters before it: the k-th waiter comes back after about k / rate
 * seconds, once, instead of every waiter coming back at every token (the
 * work per token is O(1), not O(waiting)). A waiter that comes back takes
 * a token if there is one. If there is none (a waiter before it came back
 * so late that the full bucket lost what it would have gained, and its
 * token is not due yet), it queues again, one token after the last place
 * given: a lost token costs one deferral, never one per waiter. Places are
 * times (tail_s), not counts, so waiters that all come back late (a busy
 * worker held them) queue again one token apart from now, not behind
 * places that are past. A new task runs at once only
 * when the bucket holds a token for every waiter and one for itself. A
 * waiter whose task ends without coming back (another plugin answered it,
 * the run stopped) is taken off the count by task_free.
 *
 * Invariant, under mu: before any start the bucket holds at most burst +
 * LATE_CREDIT tokens and at least 1 (less TOKEN_EPS), a start takes one,
 * and it gains rate per second; so over any window of W seconds a target
 * sees at most burst + LATE_CREDIT + rate * W starts: within one token.
 * LATE_CREDIT: a waiter comes back after its token is due (its delay is
 * rounded up to whole ms; the engine may be busy). What the full bucket
 * would have gained meanwhile, up to half a token, is kept for the next
 * one: without it a target at 1,000/s with burst 1 got about 700 starts a
 * second, and every token lost made a waiter queue again.
 */
/* libc first: plugin_config.h uses malloc without including stdlib.h */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gearbox/plugin.h>
#include <gearbox/plugin_config.h>
#include <gearbox/plugin_json.h>

#define NAME_MAX_LEN 256

struct bucket {
	struct bucket *next;
	double rate, burst;
	double tokens;
	double last_s;       /* when tokens was last brought up to date */
	double full_s;       /* when it last became full (tokens == burst) */
	double tail_s;       /* the last waiter's token is due then */
	uint64_t waiting;    /* tasks holding a ticket, as of the last update */
	_Atomic uint64_t dropped; /* of those, ended elsewhere since (task_free) */
	char name[];
};

/* See the invariant above. */
#define LATE_CREDIT 0.5
/* A token's worth less than this is rounding. */
#define TOKEN_EPS 1e-9

struct rl {
	const struct gbx_host *host;
	double rate, burst;
	struct bucket *conf;  /* the configured targets (rate and burst; no state) */
	pthread_mutex_t mu;
	struct bucket **tab;  /* open hash by target name, chains */
	size_t cap, n;
	unsigned long long deferred;
	int tickets; /* the host keeps task_data (not on an agent): waiters hold tickets */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct bucket *bucket_new(const char *name, double rate, double burst)
{
	size_t n = strlen(name);
	struct bucket *b = calloc(1, sizeof *b + n + 1);
	if (!b)
		return NULL;
	memcpy(b->name, name, n + 1);
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst; /* a new target may start a burst at once */
	atomic_init(&b->dropped, 0);
	return b;
}

static int grow(struct rl *r)
{
	size_t cap = r->cap ? r->cap * 2 : 64;
	struct bucket **t = calloc(cap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < r->cap; i++) {
		struct bucket *b = r->tab[i], *nx;
		for (; b; b = nx) {
			nx = b->next;
			size_t h = hash(b->name) & (cap - 1);
			b->next = t[h];
			t[h] = b;
		}
	}
	free(r->tab);
	r->tab = t;
	r->cap = cap;
	return 0;
}

/* Under mu: the bucket of target, made on first use; NULL when out of memory. */
static struct bucket *bucket_of(struct rl *r, const char *target, double now)
{
	if (r->cap) {
		for (struct bucket *b = r->tab[hash(target) & (r->cap - 1)]; b; b = b->next)
			if (!strcmp(b->name, target))
				return b;
	}
	if ((r->n + 1) * 2 > r->cap && grow(r))
		return NULL;
	double rate = r->rate, burst = r->burst;
	for (struct bucket *c = r->conf; c; c = c->next) {
		if (!strcmp(c->name, target)) {
			rate = c->rate;
			burst = c->burst;
		}
	}
	struct bucket *b = bucket_new(target, rate, burst);
	if (!b)
		return NULL;
	b->last_s = b->full_s = now;
	size_t h = hash(target) & (r->cap - 1);
	b->next = r->tab[h];
	r->tab[h] = b;
	r->n++;
	return b;
}

/* Under mu: brings b's tokens up to now. */
static void refill(struct bucket *b, double now)
{
	if (b->tokens < b->burst) {
		double t = b->tokens + (now - b->last_s) * b->rate;
		if (t >= b->burst) {
			b->full_s = b->last_s + (b->burst - b->tokens) / b->rate;
			t = b->burst;
		}
		b->tokens = t;
	}
	b->last_s = now;
}

/* Under mu: a place in b's line for a waiter, one token after the last
 * place given (or at its next token, when the line is empty or every place
 * given is past: those waiters are late, and will take what is there when
 * they come), and the ms until then, at least 1. */
static int64_t place(struct bucket *b, double now)
{
	double at = now + (1 - b->tokens) / b->rate;
	if (at < b->tail_s + 1 / b->rate)
		at = b->tail_s + 1 / b->rate;
	b->tail_s = at;
	double ms = ceil((at - now) * 1000);
	return ms < 1 ? 1 : ms > 3600000 ? 3600000 : (int64_t)ms;
}

static void rl_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct rl *r = self;
	const char *target = r->host->task_target(t);
	if (!target)
		return;
	/* a waiter's task_data points at its bucket: that is its ticket */
	void **slot = r->tickets ? r->host->task_data(r->host->ctx, t) : NULL;
	struct bucket *held = slot ? *slot : NULL;
	double now = now_s();
	pthread_mutex_lock(&r->mu);
	struct bucket *b = held ? held : bucket_of(r, target, now);
	if (!b) { /* out of memory: let it run rather than hold it forever */
		pthread_mutex_unlock(&r->mu);
		return;
	}
	refill(b, now);
	b->waiting -= atomic_exchange_explicit(&b->dropped, 0, memory_order_relaxed);
	if (!b->waiting)
		b->tail_s = 0; /* an empty line: no slot is taken */
	if (held) {
		double have = b->tokens;
		if (have >= b->burst) {
			double late = (now - b->full_s) * b->rate;
			have += late < LATE_CREDIT ? late : LATE_CREDIT;
		}
		if (have >= 1 - TOKEN_EPS) {
			b->tokens = have - 1;
			b->waiting--;
			*slot = NULL;
		} else {
			/* its token is gone (it came back late, or before a late
			 * one that took it): it queues again behind the others, so
			 * a lost token costs one deferral, not one per waiter */
			ans->verdict = GBX_DEFER;
			ans->delay_ms = place(b, now);
			r->deferred++;
		}
	} else if (b->tokens >= (double)b->waiting + 1 - TOKEN_EPS) {
		b->tokens -= 1; /* a token for it beside one for each waiter */
	} else {
		ans->verdict = GBX_DEFER;
		r->deferred++;
		if (slot) {
			ans->delay_ms = place(b, now);
			*slot = b;
			b->waiting++;
		} else {
			/* no task_data (an agent's host): it comes back when the
			 * next token is due and competes for it */
			double ms = ceil((1 - b->tokens) / b->rate * 1000);
			ans->delay_ms = ms < 1 ? 1 : (int64_t)ms;
		}
	}
	pthread_mutex_unlock(&r->mu);
}

/* rate and burst of obj into *rate and *burst (left as they are when absent) */
static int read_rb(const char *obj, const char *where, double *rate, double *burst, char *err,
		   size_t errlen)
{
	char e[200];
	if (gbx_cfg_number(obj, "rate", 1e-6, 1e9, rate, e, sizeof e) < 0 ||
	    gbx_cfg_number(obj, "burst", 1, 1e9, burst, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s%s", where, e);
		return -1;
	}
	return 0;
}

static void rl_free(struct rl *r)
{
	for (size_t i = 0; i < r->cap; i++) {
		struct bucket *b = r->tab[i], *nx;
		for (; b; b = nx) {
			nx = b->next;
			free(b);
		}
	}
	free(r->tab);
	struct bucket *c = r->conf, *nx;
	for (; c; c = nx) {
		nx = c->next;
		free(c);
	}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static int rl_init(const struct gbx_host *host, const char *cfg, void **self, char *err,
		   size_t errlen)
{
	struct rl *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->host = host;
	r->tickets = GBX_HOST_HAS(host, task_data) && host->task_data;
	r->rate = 10;
	r->burst = 1;
	pthread_mutex_init(&r->mu, NULL);
	if (read_rb(cfg, "", &r->rate, &r->burst, err, errlen))
		goto fail;
	const char *targets = gbx_json_member(cfg, "targets");
	if (targets) {
		const char *it = NULL, *v;
		char name[NAME_MAX_LEN], where[NAME_MAX_LEN + 16];
		while ((v = gbx_json_next_member(targets, &it, name, sizeof name))) {
			double rate = r->rate, burst = r->burst;
			snprintf(where, sizeof where, "targets.%s.", name);
			if (*gbx_json_skip_ws(v) != '{') {
				snprintf(err, errlen, "targets.%s: expected an object like {\"rate\": 1, \"burst\": 2}",
					 name);
				goto fail;
			}
			if (read_rb(v, where, &rate, &burst, err, errlen))
				goto fail;
			struct bucket *c = bucket_new(name, rate, burst);
			if (!c) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			c->next = r->conf;
			r->conf = c;
		}
		if (!it) {
			snprintf(err, errlen, "targets: expected an object of target names");
			goto fail;
		}
	}
	*self = r;
	return 0;
fail:
	rl_free(r);
	return -1;
}

static void rl_fini(void *self)
{
	rl_free(self);
}

/* Under the engine's lock (T3): a waiter ended without coming back (another
 * plugin answered it, or the run stopped), so its ticket will not be used.
 * No plugin lock here: the next before_task folds the count in. */
static void rl_task_free(void *self, const gbx_task *t, void *data)
{
	struct bucket *b = data;
	(void)self;
	(void)t;
	atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
}

static void rl_summary(void *self, const struct gbx_summary *s)
{
	struct rl *r = self;
	(void)s;
	if (!r->deferred || !r->host->event)
		return;
	char f[64];
	snprintf(f, sizeof f, "\"deferred\":%llu,\"targets\":%zu", r->deferred, r->n);
	r->host->event(r->host->ctx, "ratelimit.summary", NULL, f);
}

static const char *const rl_keys[] = {"rate", "burst", "targets", NULL};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "ratelimit",
	.version = "0.2.0",
	.description = "a token bucket per target: at most rate starts per second, bursts of burst",
	.config_keys = rl_keys,
	.init = rl_init,
	.fini = rl_fini,
	.before_task = rl_before,
	.run_summary = rl_summary,
	.task_free = rl_task_free,
};
