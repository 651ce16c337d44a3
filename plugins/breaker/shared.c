/* shared.c - the breaker's shared state on Redis: see shared.h.
 *
 * The script below is the whole shared state machine, run atomically on the
 * server with the server's clock, so every process sees one window per
 * target (key gbx:breaker:TARGET, a hash with state and until; its window
 * is the list TARGET:w, newest first, trimmed to sliding_window_size; the
 * HALF_OPEN trial outcomes the list TARGET:h). It follows the local
 * breaker (breaker_sm.c) with a COUNT_BASED window: CLOSED opens when, with
 * at least minimum_calls calls in the window, the failure rate or the
 * slow-call rate reaches its threshold; OPEN records into its frozen window
 * and turns HALF_OPEN once wait_open_ms has passed; HALF_OPEN decides after
 * permitted_calls_half_open outcomes: OPEN again, or CLOSED with an empty
 * window. It returns {state, ms left in OPEN, failure rate * 100 or -100}. */
#include "shared.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char script[] =
    "local k = KEYS[1]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local size, minc = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local fth, sth = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local wait, perm = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
    "local st = redis.call('HGET', k, 'state') or 'CLOSED'\n"
    "local till = tonumber(redis.call('HGET', k, 'until') or '0')\n"
    "local function rates(w, n)\n"
    "  local l = redis.call('LRANGE', w, 0, -1)\n"
    "  if #l < n or #l == 0 then return -1, -1 end\n"
    "  local f, s = 0, 0\n"
    "  for _, o in ipairs(l) do\n"
    "    local v = tonumber(o)\n"
    "    if v % 2 == 1 then f = f + 1 end\n"
    "    if v >= 2 then s = s + 1 end\n"
    "  end\n"
    "  return f * 100 / #l, s * 100 / #l\n"
    "end\n"
    "local function open()\n"
    "  st = 'OPEN'; till = now + wait\n"
    "  redis.call('HSET', k, 'state', st, 'until', till)\n"
    "end\n"
    "if st == 'OPEN' and now >= till then\n"
    "  st = 'HALF_OPEN'; redis.call('HSET', k, 'state', st); redis.call('DEL', k .. ':h')\n"
    "end\n"
    "if ARGV[1] ~= '-1' then\n"
    "  local v = tonumber(ARGV[1]) + 2 * tonumber(ARGV[2])\n"
    "  if st == 'HALF_OPEN' then\n"
    "    redis.call('LPUSH', k .. ':h', v)\n"
    "    local fr, sr = rates(k .. ':h', perm)\n"
    "    if fr >= 0 then\n"
    "      if fr >= fth or sr >= sth then open()\n"
    "      else st = 'CLOSED'; redis.call('HSET', k, 'state', st); redis.call('DEL', k .. ':w') end\n"
    "      redis.call('DEL', k .. ':h')\n"
    "    end\n"
    "  else\n"
    "    redis.call('LPUSH', k .. ':w', v); redis.call('LTRIM', k .. ':w', 0, size - 1)\n"
    "    if st == 'CLOSED' then\n"
    "      local fr, sr = rates(k .. ':w', minc)\n"
    "      if fr >= 0 and (fr >= fth or sr >= sth) then open() end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local left = 0\n"
    "if st == 'OPEN' then left = till - now end\n"
    "local fr = rates(k .. ':w', minc)\n"
    "local code = {CLOSED = 0, OPEN = 1, HALF_OPEN = 2}\n"
    "return {code[st], left, math.floor(fr * 100)}\n";

#define QCAP 1024 /* requests waiting for the thread; more are dropped */

struct req {
	struct sh_view *v;
	char *target;
	int outcome, slow;
	int size, minimum, permitted;
	double fth, sth;
	int64_t wait;
};

struct shared {
	const struct gbx_host *host;
	char *host_name, *sock;
	int port, db;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct req q[QCAP]; /* ring, under mu */
	size_t head, n;
	int stop;
	/* the thread's own */
	redisContext *x;
	char sha[48];
	int64_t retry_at; /* down: no connection attempt before this (ms) */
	int warned;
	struct sh_view **seen; /* every view a reply went to, reset when Redis is lost */
	size_t nseen, capseen;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sh_view_init(struct sh_view *v)
{
	atomic_init(&v->state, -1);
	atomic_init(&v->open_until, 0);
}

int sh_check(const struct sh_view *v, int64_t *delay_ms)
{
	if (atomic_load_explicit(&v->state, memory_order_acquire) != BK_OPEN)
		return BK_CLOSED;
	int64_t left = atomic_load_explicit(&v->open_until, memory_order_relaxed) - now_ms();
	if (left <= 0)
		return BK_CLOSED;
	*delay_ms = left;
	return BK_OPEN;
}

/* Redis lost or not there: one warning per run, the local copies forgotten. */
static void lost(struct shared *s, const char *why)
{
	if (s->x)
		redisFree(s->x);
	s->x = NULL;
	s->retry_at = now_ms() + 1000;
	for (size_t i = 0; i < s->nseen; i++)
		atomic_store_explicit(&s->seen[i]->state, -1, memory_order_release);
	if (!s->warned) {
		char msg[300];
		snprintf(msg, sizeof msg,
		         "shared: %s; the breaker works on this process's calls alone", why);
		s->host->log(s->host->ctx, 1, msg);
		s->warned = 1;
	}
}

static int load_script(struct shared *s)
{
	redisReply *r = redisCommand(s->x, "SCRIPT LOAD %s", script);
	int ok = r && r->type == REDIS_REPLY_STRING && r->len < (int)sizeof s->sha;
	if (ok)
		memcpy(s->sha, r->str, (size_t)r->len + 1);
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

static int connect_redis(struct shared *s)
{
	struct timeval tv = {1, 0};
	s->x = s->sock ? redisConnectUnixWithTimeout(s->sock, tv)
	               : redisConnectWithTimeout(s->host_name, s->port, tv);
	if (!s->x || s->x->err) {
		char why[200];
		snprintf(why, sizeof why, "cannot connect to Redis (%s)",
		         s->x ? s->x->errstr : "out of memory");
		lost(s, why);
		return -1;
	}
	redisSetTimeout(s->x, tv);
	if (s->db) {
		redisReply *r = redisCommand(s->x, "SELECT %d", s->db);
		int ok = r && r->type == REDIS_REPLY_STATUS;
		if (r)
			freeReplyObject(r);
		if (!ok) {
			lost(s, "cannot select the Redis database");
			return -1;
		}
	}
	if (load_script(s)) {
		lost(s, "cannot load the breaker's script into Redis");
		return -1;
	}
	return 0;
}

static void remember(struct shared *s, struct sh_view *v)
{
	for (size_t i = 0; i < s->nseen; i++)
		if (s->seen[i] == v)
			return;
	if (s->nseen == s->capseen) {
		size_t cap = s->capseen ? s->capseen * 2 : 16;
		struct sh_view **n = realloc(s->seen, cap * sizeof *n);
		if (!n)
			return;
		s->seen = n;
		s->capseen = cap;
	}
	s->seen[s->nseen++] = v;
}

static void run_req(struct shared *s, const struct req *q)
{
	if (!s->x && (now_ms() < s->retry_at || connect_redis(s)))
		return; /* down: dropped */
	char key[600], a[8][32];
	snprintf(key, sizeof key, "gbx:breaker:%s", q->target);
	snprintf(a[0], 32, "%d", q->outcome);
	snprintf(a[1], 32, "%d", q->slow);
	snprintf(a[2], 32, "%d", q->size);
	snprintf(a[3], 32, "%d", q->minimum);
	snprintf(a[4], 32, "%.17g", q->fth);
	snprintf(a[5], 32, "%.17g", q->sth);
	snprintf(a[6], 32, "%lld", (long long)q->wait);
	snprintf(a[7], 32, "%d", q->permitted);
	const char *argv[12] = {"EVALSHA", s->sha, "1", key};
	for (int i = 0; i < 8; i++)
		argv[4 + i] = a[i];
	redisReply *r = redisCommandArgv(s->x, 12, argv, NULL);
	if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
		freeReplyObject(r);
		r = load_script(s) ? NULL : redisCommandArgv(s->x, 12, argv, NULL);
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
		char why[300];
		snprintf(why, sizeof why, "Redis did not run the breaker's script (%s)",
		         !r ? (s->x->errstr[0] ? s->x->errstr : "no reply")
		         : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		if (r)
			freeReplyObject(r);
		lost(s, why);
		return;
	}
	int st = (int)r->element[0]->integer;
	int64_t left = r->element[1]->integer;
	freeReplyObject(r);
	remember(s, q->v);
	atomic_store_explicit(&q->v->open_until, now_ms() + left, memory_order_relaxed);
	atomic_store_explicit(&q->v->state, st == 1 ? BK_OPEN : st == 2 ? BK_HALF_OPEN : BK_CLOSED,
	                      memory_order_release);
}

static void *thread_main(void *arg)
{
	struct shared *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->n && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->n)
			break; /* stopping, and every outcome queued has been sent */
		struct req q = s->q[s->head];
		s->head = (s->head + 1) % QCAP;
		s->n--;
		pthread_mutex_unlock(&s->mu);
		run_req(s, &q);
		free(q.target);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

void sh_send(struct shared *s, struct sh_view *v, const char *target, const struct bk_config *c,
             int outcome, int slow)
{
	struct req q = {v, NULL, outcome, slow, c->window_size, c->minimum_calls,
	                c->permitted_half_open, c->failure_rate_threshold,
	                c->slow_call_rate_threshold, c->wait_open_ms};
	pthread_mutex_lock(&s->mu);
	if (s->n < QCAP && (q.target = strdup(target))) {
		s->q[(s->head + s->n) % QCAP] = q;
		s->n++;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

static void sh_free(struct shared *s)
{
	free(s->host_name);
	free(s->sock);
	free(s->seen);
	free(s);
}

struct shared *sh_open(const struct gbx_host *host, const char *url, char *err, size_t errlen)
{
	struct shared *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->host = host;
	s->port = 6379;
	if (!strncmp(url, "unix:", 5)) {
		if (!url[5] || !(s->sock = strdup(url + 5))) {
			snprintf(err, errlen, "shared: \"unix:\" needs a socket path");
			goto fail;
		}
	} else if (!strncmp(url, "redis://", 8)) {
		const char *h = url + 8, *end = h + strcspn(h, ":/"), *p = end;
		if (end == h || !(s->host_name = strndup(h, (size_t)(end - h)))) {
			snprintf(err, errlen, "shared: no host in \"%.80s\"", url);
			goto fail;
		}
		char *e;
		if (*p == ':') {
			long n = strtol(p + 1, &e, 10);
			if (e == p + 1 || n < 1 || n > 65535 || (*e && *e != '/')) {
				snprintf(err, errlen, "shared: bad port in \"%.80s\"", url);
				goto fail;
			}
			s->port = (int)n;
			p = e;
		}
		if (*p == '/' && p[1]) {
			long d = strtol(p + 1, &e, 10);
			if (e == p + 1 || *e || d < 0 || d > 1000000) {
				snprintf(err, errlen, "shared: bad database number in \"%.80s\"", url);
				goto fail;
			}
			s->db = (int)d;
		}
	} else {
		snprintf(err, errlen,
		         "shared: expected \"redis://HOST:PORT/DB\" or \"unix:PATH\", got \"%.80s\"",
		         url);
		goto fail;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->th, NULL, thread_main, s)) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
		snprintf(err, errlen, "shared: cannot start its thread");
		goto fail;
	}
	return s;
fail:
	sh_free(s);
	return NULL;
}

void sh_close(struct shared *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	for (; s->n; s->n--, s->head = (s->head + 1) % QCAP)
		free(s->q[s->head].target);
	if (s->x)
		redisFree(s->x);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	sh_free(s);
}
