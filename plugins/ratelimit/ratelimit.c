/* ratelimit.c - a token bucket per target: at most `rate` task starts per
 * second towards one target, with bursts of up to `burst`.
 *
 *   "plugins": { "ratelimit": { "enabled": true, "rate": 5, "burst": 2,
 *                               "targets": { "api.example.org": { "rate": 1 } } } }
 *
 * A task whose target has no token left is deferred (GBX_DEFER) until the
 * next token is due: it goes back to the engine's timer heap and holds no
 * worker slot meanwhile. Tasks without a target are not limited. A target
 * in `targets` takes its rate and burst from there (each defaulting to the
 * top-level ones); every other target gets the top-level bucket of its own.
 * Built only against the SDK (docs/resources.md says why it is a plugin).
 *
 * Invariant, under mu: a bucket holds at most `burst` tokens and gains
 * `rate` per second, and a start takes one; so over any window of W
 * seconds a target sees at most burst + rate * W starts.
 */
/* libc first: plugin_config.h uses malloc without including stdlib.h */
#include <math.h>
#include <pthread.h>
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
	char name[];
};

struct rl {
	const struct gbx_host *host;
	double rate, burst;
	struct bucket *conf;  /* the configured targets (rate and burst; no state) */
	pthread_mutex_t mu;
	struct bucket **tab;  /* open hash by target name, chains */
	size_t cap, n;
	unsigned long long deferred;
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
	b->last_s = now;
	size_t h = hash(target) & (r->cap - 1);
	b->next = r->tab[h];
	r->tab[h] = b;
	r->n++;
	return b;
}

static void rl_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct rl *r = self;
	const char *target = r->host->task_target(t);
	if (!target)
		return;
	double now = now_s();
	pthread_mutex_lock(&r->mu);
	struct bucket *b = bucket_of(r, target, now);
	if (!b) { /* out of memory: let it run rather than hold it forever */
		pthread_mutex_unlock(&r->mu);
		return;
	}
	b->tokens += (now - b->last_s) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_s = now;
	if (b->tokens >= 1) {
		b->tokens -= 1;
	} else {
		/* the next token is due in (1 - tokens) / rate seconds */
		double ms = ceil((1 - b->tokens) / b->rate * 1000);
		ans->verdict = GBX_DEFER;
		ans->delay_ms = ms < 1 ? 1 : (int64_t)ms;
		r->deferred++;
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
	.version = "0.1.0",
	.description = "a token bucket per target: at most rate starts per second, bursts of burst",
	.config_keys = rl_keys,
	.init = rl_init,
	.fini = rl_fini,
	.before_task = rl_before,
	.run_summary = rl_summary,
};
