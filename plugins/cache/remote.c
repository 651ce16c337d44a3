/* remote.c - the cache's third level: a Redis server shared by machines and
 * processes (docs/plugins/cache.md, "The remote level").
 *
 * Keys: gbx1:e:KEY is an entry (the same bytes as an entry file), gbx1:b:HASH
 * a blob (content-addressed, SET NX), gbx1:l:KEY a lease (SET NX PX) held by
 * the process running that action. Everything carries a TTL. With
 * remote_namespace NS they are gbx1:NS:e:KEY and so on: a namespace shares
 * nothing with another (gearbox bench gives each cold run a new one).
 *
 * Invariants: the remote is an optimization, never a dependency. A lookup has
 * a deadline; an error or a timeout is a miss and opens a local breaker, so
 * that for open_s nothing waits on the remote again; one warning per run.
 * Stores are written behind by one thread through a bounded queue: a task
 * never waits for them, and a full queue drops the store. Connections are
 * kept in a small pool; one that saw an error is closed, never reused.
 */
#include "cache.h"

#include <hiredis/hiredis.h>

#define KEYN (48 + REMOTE_NS_MAX) /* a key's name with its NUL */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 16
#define WRITE_TIMEOUT_NS 100000000LL /* the writer's per-command timeout, or the
                                       * lookup deadline when longer: nobody waits for it */
#define NSAMPLES 4096

struct rjob {
	struct rjob *next;
	uint8_t key[16];
	int release; /* delete our lease on key after writing */
	size_t len;  /* entry bytes (0: lease release only) */
	uint8_t data[];
};

struct remote {
	/* config */
	char *url, *host, *sock;
	int port, db;
	int64_t deadline_ns, open_ns, lease_ms;
	int64_t ttl_s;
	uint64_t max_blob, queue_max;

	pthread_mutex_t mu; /* pool */
	redisContext *pool[POOL_MAX];
	int npool;

	_Atomic int64_t open_until; /* breaker: mono ns until which the remote is skipped */
	int64_t w_open_until;       /* the writer's own: set when a write failed (writer only) */
	atomic_int warned;
	char token[64]; /* this process's lease value */
	char ns[REMOTE_NS_MAX + 1]; /* remote_namespace: keys gbx1:NS:... ("": gbx1:...) */

	/* write-behind */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	pthread_t th;
	int running, stop;
	struct rjob *head, *tail;
	size_t qbytes;
	/* leases this process holds, renewed by the writer every lease_ms / 3 */
	uint8_t (*held)[16];
	size_t nheld, capheld;
	int64_t next_renew;

	/* lookup latencies, ns (a ring) */
	_Atomic uint64_t nsamp;
	int64_t samp[NSAMPLES];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval tv_of(int64_t ns)
{
	if (ns < 1000)
		ns = 1000;
	struct timeval tv = {(time_t)(ns / 1000000000), (suseconds_t)(ns % 1000000000 / 1000)};
	return tv;
}

static void inc(_Atomic uint64_t *x, uint64_t n)
{
	atomic_fetch_add_explicit(x, n, memory_order_relaxed);
}

/* ---- config ----------------------------------------------------------------------- */

int remote_parse_url(const char *url, char **host, int *port, char **sock, int *db, char *err,
                     size_t errlen)
{
	*host = *sock = NULL;
	*port = 6379;
	*db = 0;
	if (!strncmp(url, "unix:", 5)) {
		if (!url[5]) {
			snprintf(err, errlen, "remote: \"unix:\" needs a socket path");
			return -1;
		}
		*sock = strdup(url + 5);
		return *sock ? 0 : -1;
	}
	if (strncmp(url, "redis://", 8)) {
		snprintf(err, errlen,
		         "remote: expected \"redis://HOST:PORT/DB\" or \"unix:PATH\", got \"%.80s\"",
		         url);
		return -1;
	}
	const char *h = url + 8, *end = h + strcspn(h, ":/");
	if (end == h) {
		snprintf(err, errlen, "remote: no host in \"%.80s\"", url);
		return -1;
	}
	*host = strndup(h, (size_t)(end - h));
	const char *s = end;
	if (*s == ':') {
		char *e;
		long p = strtol(s + 1, &e, 10);
		if (e == s + 1 || p < 1 || p > 65535 || (*e && *e != '/')) {
			snprintf(err, errlen, "remote: bad port in \"%.80s\"", url);
			return -1;
		}
		*port = (int)p;
		s = e;
	}
	if (*s == '/' && s[1]) {
		char *e;
		long d = strtol(s + 1, &e, 10);
		if (e == s + 1 || *e || d < 0 || d > 1000000) {
			snprintf(err, errlen, "remote: bad database number in \"%.80s\"", url);
			return -1;
		}
		*db = (int)d;
	}
	return *host ? 0 : -1;
}

int remote_init(struct cache *c, const char *url, const struct remote_cfg *cfg, char *err,
                size_t errlen)
{
	struct remote *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (remote_parse_url(url, &r->host, &r->port, &r->sock, &r->db, err, errlen) ||
	    !(r->url = strdup(url))) {
		free(r->host);
		free(r->sock);
		free(r);
		return -1;
	}
	r->deadline_ns = cfg->deadline_ms * 1000000;
	r->open_ns = cfg->open_s * 1000000000;
	r->lease_ms = cfg->lease_ms;
	r->ttl_s = cfg->ttl_s;
	r->max_blob = cfg->max_blob;
	r->queue_max = cfg->queue_max;
	snprintf(r->ns, sizeof r->ns, "%s", cfg->ns);
	char hn[64] = "";
	gethostname(hn, sizeof hn - 1);
	snprintf(r->token, sizeof r->token, "%.40s:%ld:%lld", hn, (long)getpid(),
	         (long long)now_ns());
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->qmu, NULL);
	pthread_cond_init(&r->qcv, NULL);
	c->rm = r;
	return 0;
}

void remote_free(struct cache *c)
{
	struct remote *r = c->rm;
	if (!r)
		return;
	remote_stop(c);
	for (int i = 0; i < r->npool; i++)
		redisFree(r->pool[i]);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->qmu);
	pthread_cond_destroy(&r->qcv);
	free(r->held);
	free(r->url);
	free(r->host);
	free(r->sock);
	free(r);
	c->rm = NULL;
}

const char *remote_url(struct cache *c)
{
	return c->rm ? c->rm->url : NULL;
}

/* ---- the breaker -------------------------------------------------------------------- */

int remote_usable(struct cache *c)
{
	struct remote *r = c->rm;
	return r && atomic_load_explicit(&r->open_until, memory_order_relaxed) <= now_ns();
}

/* The remote failed (what: why): skip it for the open period; say so once a run. */
static void remote_trip(struct cache *c, const char *what)
{
	struct remote *r = c->rm;
	atomic_store(&r->open_until, now_ns() + r->open_ns);
	inc(&c->n.remote_errors, 1);
	if (atomic_exchange(&r->warned, 0 + 1) == 0)
		cache_log(c, 1,
		          "remote cache %s: %s; not using it for %lld s (the run goes on without it)",
		          r->url, what, (long long)(r->open_ns / 1000000000));
}

/* ---- connections --------------------------------------------------------------------- */

static redisContext *conn_get(struct cache *c, int64_t timeout_ns)
{
	struct remote *r = c->rm;
	redisContext *x = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->npool)
		x = r->pool[--r->npool];
	pthread_mutex_unlock(&r->mu);
	if (!x) {
		int64_t end = now_ns() + timeout_ns; /* connecting and SELECT, together */
		struct timeval tv = tv_of(timeout_ns);
		x = r->sock ? redisConnectUnixWithTimeout(r->sock, tv)
		            : redisConnectWithTimeout(r->host, r->port, tv);
		if (!x || x->err) {
			char why[160];
			snprintf(why, sizeof why, "cannot connect (%s)",
			         x ? x->errstr : "out of memory");
			if (x)
				redisFree(x);
			remote_trip(c, why);
			return NULL;
		}
		if (r->db) {
			redisSetTimeout(x, tv_of(end - now_ns()));
			redisReply *rep = redisCommand(x, "SELECT %d", r->db);
			int ok = rep && rep->type == REDIS_REPLY_STATUS;
			if (rep)
				freeReplyObject(rep);
			if (!ok) {
				redisFree(x);
				remote_trip(c, "cannot select the database");
				return NULL;
			}
		}
	}
	redisSetTimeout(x, tv_of(timeout_ns));
	return x;
}

/* Back to the pool, or closed after an error (its state is unknown then). */
static void conn_put(struct cache *c, redisContext *x, int ok)
{
	struct remote *r = c->rm;
	if (!x)
		return;
	if (ok && !x->err) {
		pthread_mutex_lock(&r->mu);
		if (r->npool < POOL_MAX) {
			r->pool[r->npool++] = x;
			x = NULL;
		}
		pthread_mutex_unlock(&r->mu);
	}
	if (x)
		redisFree(x);
}

/* A failed command: a timeout or a broken connection trips the breaker. */
static void conn_failed(struct cache *c, redisContext *x)
{
	char why[200];
	snprintf(why, sizeof why, "%s",
	         x && x->err ? (x->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
	                            ? "no answer within the deadline"
	                            : x->errstr)
	                     : "unexpected reply");
	remote_trip(c, why);
}

static void keyname(const struct remote *r, char *out, char t, const uint8_t k[16])
{
	char hex[33];
	hex16(k, hex);
	if (r->ns[0])
		snprintf(out, KEYN, "gbx1:%s:%c:%s", r->ns, t, hex);
	else
		snprintf(out, KEYN, "gbx1:%c:%s", t, hex);
}

/* ---- lookup ----------------------------------------------------------------------------- */

static void sample(struct remote *r, int64_t ns)
{
	uint64_t i = atomic_fetch_add_explicit(&r->nsamp, 1, memory_order_relaxed);
	r->samp[i % NSAMPLES] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int64_t remote_lookup_p50_ns(struct cache *c)
{
	struct remote *r = c->rm;
	uint64_t n = r ? atomic_load(&r->nsamp) : 0;
	if (!n)
		return 0;
	if (n > NSAMPLES)
		n = NSAMPLES;
	int64_t *v = malloc(n * sizeof *v);
	if (!v)
		return 0;
	memcpy(v, r->samp, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_i64);
	int64_t m = v[n / 2];
	free(v);
	return m;
}

static void say_corrupt(struct cache *c, const char *task, const uint8_t key[16], const char *why)
{
	char hex[33];
	hex16(key, hex);
	inc(&c->n.corrupt, 1);
	cache_log(c, 1, "task %s: remote cache entry %s is damaged (%s); treated as a miss", task,
	          hex, why);
}

struct bl {
	size_t n;
	uint8_t h[64][16];
	uint64_t len[64];
};

static void collect(struct bl *b, const struct cpayload *p)
{
	if (p->where != PL_BLOB)
		return;
	for (size_t i = 0; i < b->n; i++)
		if (!memcmp(b->h[i], p->hash, 16))
			return;
	if (b->n < 64) {
		memcpy(b->h[b->n], p->hash, 16);
		b->len[b->n++] = p->len;
	} else {
		b->n = 65; /* too many: not fetched */
	}
}

int remote_fetch(struct cache *c, const char *task, const uint8_t key[16], struct gbx_buf *out)
{
	struct remote *r = c->rm;
	if (!remote_usable(c)) {
		inc(&c->n.remote_skipped, 1);
		return 0;
	}
	int64_t t0 = now_ns(), end = t0 + r->deadline_ns;
	redisContext *x = conn_get(c, r->deadline_ns);
	if (!x)
		return 0;
	char k[KEYN];
	keyname(r, k, 'e', key);
	redisReply *rep = redisCommand(x, "GET %s", k);
	int rc = 0;
	if (!rep) {
		conn_failed(c, x);
		conn_put(c, x, 0);
		return 0;
	}
	if (rep->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		conn_put(c, x, 1);
		sample(r, now_ns() - t0);
		return 0;
	}
	struct centry e;
	const char *why = NULL;
	out->len = 0;
	if (gbx_buf_add(out, rep->str, (size_t)rep->len)) {
		freeReplyObject(rep);
		conn_put(c, x, 1);
		return 0;
	}
	inc(&c->n.remote_bytes_in, (uint64_t)rep->len);
	freeReplyObject(rep);
	if (entry_decode((const uint8_t *)out->p, out->len, key, &e, &why)) {
		say_corrupt(c, task, key, why);
		redisReply *d = redisCommand(x, "DEL %s", k);
		if (d)
			freeReplyObject(d);
		conn_put(c, x, d != NULL);
		return -1;
	}
	struct bl b = {0};
	collect(&b, &e.out);
	collect(&b, &e.err);
	for (uint32_t i = 0; i < e.nout; i++)
		collect(&b, &e.outs[i].p);
	entry_clear(&e);
	if (b.n > 64 || (b.n && !c->disk_ok)) {
		conn_put(c, x, 1);
		return 0;
	}
	rc = 1;
	if (b.n) {
		int64_t left = end - now_ns();
		if (left <= 0) {
			conn_put(c, x, 1);
			return 0; /* past the deadline: a miss */
		}
		redisSetTimeout(x, tv_of(left));
		const char *argv[65];
		size_t argl[65];
		char names[64][KEYN];
		argv[0] = "MGET";
		argl[0] = 4;
		for (size_t i = 0; i < b.n; i++) {
			keyname(r, names[i], 'b', b.h[i]);
			argv[i + 1] = names[i];
			argl[i + 1] = strlen(names[i]);
		}
		rep = redisCommandArgv(x, (int)b.n + 1, argv, argl);
		if (!rep) {
			conn_failed(c, x);
			conn_put(c, x, 0);
			return 0;
		}
		int lk = -1;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != b.n ||
		    (lk = disk_lock(c, 0, 0)) < 0) {
			rc = 0;
		} else {
			for (size_t i = 0; i < b.n && rc == 1; i++) {
				redisReply *el = rep->element[i];
				uint8_t h[16];
				if (el->type != REDIS_REPLY_STRING) {
					rc = 0; /* a blob expired before its entry: a quiet miss */
					break;
				}
				inc(&c->n.remote_bytes_in, (uint64_t)el->len);
				hash_bytes(el->str, (size_t)el->len, h);
				if ((uint64_t)el->len != b.len[i] || memcmp(h, b.h[i], 16)) {
					say_corrupt(c, task, key, "a blob it needs is damaged");
					redisReply *d = redisCommand(x, "DEL %s %s", k, names[i]);
					if (d)
						freeReplyObject(d);
					rc = -1;
					break;
				}
				if (blob_put_mem(c, el->str, (size_t)el->len, h))
					rc = 0;
			}
		}
		disk_unlock(lk);
		freeReplyObject(rep);
	}
	conn_put(c, x, 1);
	sample(r, now_ns() - t0);
	return rc; /* (each command had the time left before the deadline, at most) */
}

/* cache.has: on the dispatcher, under the engine's lock, so one EXISTS and
 * nothing more, and the whole of it (connecting included) within the lookup
 * deadline. A connection that needed longer is kept, the answer is a miss. */
int remote_has(struct cache *c, const uint8_t key[16])
{
	struct remote *r = c->rm;
	if (!r || !remote_usable(c))
		return 0; /* the breaker is open: not known remotely */
	int64_t end = now_ns() + r->deadline_ns;
	redisContext *x = conn_get(c, r->deadline_ns);
	if (!x)
		return 0;
	int64_t left = end - now_ns();
	if (left <= 0) {
		conn_put(c, x, 1);
		return 0;
	}
	redisSetTimeout(x, tv_of(left));
	char k[KEYN];
	keyname(r, k, 'e', key);
	redisReply *rep = redisCommand(x, "EXISTS %s", k);
	if (!rep) {
		conn_failed(c, x); /* no answer in time: the breaker opens, as for a lookup */
		conn_put(c, x, 0);
		return 0;
	}
	int found = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	freeReplyObject(rep);
	conn_put(c, x, 1);
	return found;
}

/* ---- leases ------------------------------------------------------------------------------- */

static void held_set(struct remote *r, const uint8_t key[16], int on)
{
	pthread_mutex_lock(&r->qmu);
	size_t i = 0;
	while (i < r->nheld && memcmp(r->held[i], key, 16))
		i++;
	if (on && i == r->nheld) {
		if (r->nheld == r->capheld) {
			size_t cap = r->capheld ? r->capheld * 2 : 64;
			uint8_t(*nh)[16] = realloc(r->held, cap * sizeof *nh);
			if (nh) {
				r->held = nh;
				r->capheld = cap;
			}
		}
		if (r->nheld < r->capheld)
			memcpy(r->held[r->nheld++], key, 16);
	} else if (!on && i < r->nheld) {
		memmove(r->held[i], r->held[i + 1], (r->nheld - i - 1) * 16);
		r->nheld--;
	}
	pthread_mutex_unlock(&r->qmu);
}

int remote_lease(struct cache *c, const uint8_t key[16])
{
	struct remote *r = c->rm;
	if (!r->lease_ms || !remote_usable(c))
		return -1;
	redisContext *x = conn_get(c, r->deadline_ns);
	if (!x)
		return -1;
	char k[KEYN];
	keyname(r, k, 'l', key);
	redisReply *rep = redisCommand(x, "SET %s %s NX PX %lld", k, r->token, (long long)r->lease_ms);
	if (!rep) {
		conn_failed(c, x);
		conn_put(c, x, 0);
		return -1;
	}
	int got = rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	conn_put(c, x, 1);
	if (got)
		held_set(r, key, 1);
	return got ? 1 : 0;
}

int remote_lease_alive(struct cache *c, const uint8_t key[16])
{
	struct remote *r = c->rm;
	if (!remote_usable(c))
		return 0;
	redisContext *x = conn_get(c, r->deadline_ns);
	if (!x)
		return 0;
	char k[KEYN];
	keyname(r, k, 'l', key);
	redisReply *rep = redisCommand(x, "EXISTS %s", k);
	if (!rep) {
		conn_failed(c, x);
		conn_put(c, x, 0);
		return 0;
	}
	int alive = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	freeReplyObject(rep);
	conn_put(c, x, 1);
	return alive;
}

int64_t remote_lease_ms(struct cache *c)
{
	return c->rm ? c->rm->lease_ms : 0;
}

/* ---- write-behind -------------------------------------------------------------------------- */

static const char release_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/* Appends the commands for one job; returns how many replies to read, or -1
 * when the job cannot be sent (a blob unreadable or over the cap). */
static int job_append(struct cache *c, redisContext *x, struct rjob *j)
{
	struct remote *r = c->rm;
	int n = 0;
	char k[KEYN];
	if (j->len) {
		struct centry e;
		const char *why;
		struct bl b = {0};
		if (entry_decode(j->data, j->len, j->key, &e, &why))
			return -1;
		collect(&b, &e.out);
		collect(&b, &e.err);
		for (uint32_t i = 0; i < e.nout; i++)
			collect(&b, &e.outs[i].p);
		entry_clear(&e);
		if (b.n > 64)
			return -1;
		struct gbx_buf buf = {0};
		for (size_t i = 0; i < b.n; i++) {
			if (b.len[i] > r->max_blob) {
				gbx_buf_free(&buf);
				return -1;
			}
			char *p = blob_path(c, b.h[i]);
			const char *w;
			int rc = p ? 0 : -1;
			free(p);
			if (rc || blob_load(c, b.h[i], b.len[i], &buf, &w)) {
				gbx_buf_free(&buf);
				return -1;
			}
			keyname(r, k, 'b', b.h[i]);
			redisAppendCommand(x, "SET %s %b NX EX %lld", k, buf.p, buf.len,
			                   (long long)r->ttl_s);
			redisAppendCommand(x, "EXPIRE %s %lld", k, (long long)r->ttl_s);
			inc(&c->n.remote_bytes_out, buf.len);
			n += 2;
		}
		gbx_buf_free(&buf);
		keyname(r, k, 'e', j->key);
		redisAppendCommand(x, "SET %s %b EX %lld", k, j->data, j->len, (long long)r->ttl_s);
		inc(&c->n.remote_bytes_out, j->len);
		n++;
	}
	if (j->release) {
		held_set(r, j->key, 0);
		keyname(r, k, 'l', j->key);
		redisAppendCommand(x, "EVAL %s 1 %s %s", release_lua, k, r->token);
		n++;
	}
	return n;
}

static const char renew_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return 0";

/* Renews the leases we hold, so that one outlives a long task but not its
 * holder. Called by the writer; 0, or -1 when Redis failed. */
static int renew_leases(struct cache *c, redisContext *x)
{
	struct remote *r = c->rm;
	pthread_mutex_lock(&r->qmu);
	size_t n = r->nheld;
	uint8_t(*keys)[16] = n ? malloc(n * 16) : NULL;
	if (keys)
		memcpy(keys, r->held, n * 16);
	pthread_mutex_unlock(&r->qmu);
	if (!keys)
		return 0;
	char k[KEYN];
	for (size_t i = 0; i < n; i++) {
		keyname(r, k, 'l', keys[i]);
		redisAppendCommand(x, "EVAL %s 1 %s %s %lld", renew_lua, k, r->token,
		                   (long long)r->lease_ms);
	}
	int ok = 1;
	for (size_t i = 0; i < n && ok; i++) {
		void *rep = NULL;
		ok = redisGetReply(x, &rep) == REDIS_OK;
		if (rep)
			freeReplyObject(rep);
	}
	free(keys);
	return ok ? 0 : -1;
}

/* The write-behind thread. While the breaker is open it keeps what is queued
 * (the queue is bounded) and goes on when it closes; at the end of the run,
 * an open breaker drops what is left instead of waiting. */
static void *remote_writer(void *arg)
{
	struct cache *c = arg;
	struct remote *r = c->rm;
	redisContext *x = NULL;
	const int64_t wt = r->deadline_ns > WRITE_TIMEOUT_NS ? r->deadline_ns : WRITE_TIMEOUT_NS;
	pthread_mutex_lock(&r->qmu);
	for (;;) {
		int64_t now = now_ns();
		/* a lookup's timeout does not stop the writer, which nobody waits
		 * for; its own failure does, for the open period */
		int usable = r->w_open_until <= now;
		if (r->lease_ms && r->nheld && usable && now >= r->next_renew) {
			r->next_renew = now + r->lease_ms * 1000000 / 3;
			pthread_mutex_unlock(&r->qmu);
			if (x || (x = conn_get(c, wt))) {
				if (renew_leases(c, x)) {
					conn_failed(c, x);
					redisFree(x);
					x = NULL;
				}
			}
			if (!x)
				r->w_open_until = now_ns() + r->open_ns;
			pthread_mutex_lock(&r->qmu);
			continue;
		}
		if (r->stop && (!r->head || !usable))
			break;
		if (!r->head || !usable) {
			/* wake for new work, the next renewal, or the breaker's closing */
			int64_t until = r->nheld && r->lease_ms ? r->next_renew : now + 1000000000;
			if (!usable && r->w_open_until < until)
				until = r->w_open_until;
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			int64_t wait = until - now;
			if (wait < 1000000)
				wait = 1000000;
			dl.tv_sec += (time_t)(wait / 1000000000);
			dl.tv_nsec += (long)(wait % 1000000000);
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&r->qcv, &r->qmu, &dl);
			continue;
		}
		struct rjob *j = r->head;
		r->head = j->next;
		if (!r->head)
			r->tail = NULL;
		r->qbytes -= j->len;
		pthread_mutex_unlock(&r->qmu);
		if (x || (x = conn_get(c, wt))) {
			int n = job_append(c, x, j), ok = 1;
			for (int i = 0; i < n; i++) {
				void *rep = NULL;
				if (redisGetReply(x, &rep) != REDIS_OK) {
					ok = 0;
					break;
				}
				freeReplyObject(rep);
			}
			if (!ok) {
				conn_failed(c, x);
				redisFree(x);
				x = NULL;
			} else if (n > 0 && j->len) {
				inc(&c->n.remote_stores, 1);
			}
		}
		if (!x) { /* this one is lost; the rest waits for the open period */
			r->w_open_until = now_ns() + r->open_ns;
			inc(&c->n.remote_dropped, j->len ? 1 : 0);
		}
		free(j);
		pthread_mutex_lock(&r->qmu);
	}
	/* what is left (the remote failed): dropped. Leases we still hold are let
	 * go of, if Redis answers within one deadline (else they expire), so that
	 * other processes do not wait for results that will never come. */
	if (r->nheld) {
		size_t n = r->nheld;
		uint8_t(*keys)[16] = malloc(n * 16);
		if (keys)
			memcpy(keys, r->held, n * 16);
		r->nheld = 0;
		pthread_mutex_unlock(&r->qmu);
		if (x)
			redisFree(x);
		x = NULL;
		struct timeval tv = tv_of(r->deadline_ns);
		redisContext *y = keys ? (r->sock ? redisConnectUnixWithTimeout(r->sock, tv)
		                                  : redisConnectWithTimeout(r->host, r->port, tv))
		                       : NULL;
		if (y && !y->err) {
			redisSetTimeout(y, tv);
			char k[KEYN];
			int ok = 1;
			if (r->db) {
				redisReply *sel = redisCommand(y, "SELECT %d", r->db);
				ok = sel != NULL;
				if (sel)
					freeReplyObject(sel);
			}
			for (size_t i = 0; i < n && ok; i++) {
				keyname(r, k, 'l', keys[i]);
				redisAppendCommand(y, "EVAL %s 1 %s %s", release_lua, k, r->token);
			}
			for (size_t i = 0; i < n && ok; i++) {
				void *rep = NULL;
				ok = redisGetReply(y, &rep) == REDIS_OK;
				if (rep)
					freeReplyObject(rep);
			}
		}
		if (y)
			redisFree(y);
		free(keys);
		pthread_mutex_lock(&r->qmu);
	}
	while (r->head) {
		struct rjob *j = r->head;
		r->head = j->next;
		r->qbytes -= j->len;
		inc(&c->n.remote_dropped, j->len ? 1 : 0);
		free(j);
	}
	r->tail = NULL;
	pthread_mutex_unlock(&r->qmu);
	if (x)
		redisFree(x);
	return NULL;
}

int remote_start(struct cache *c)
{
	struct remote *r = c->rm;
	if (!r)
		return 0;
	atomic_store(&r->warned, 0);
	atomic_store(&r->nsamp, 0);
	pthread_mutex_lock(&r->qmu);
	int rc = 0;
	if (!r->running) {
		r->stop = 0;
		rc = pthread_create(&r->th, NULL, remote_writer, c);
		r->running = rc == 0;
	}
	pthread_mutex_unlock(&r->qmu);
	return rc ? -1 : 0;
}

void remote_stop(struct cache *c)
{
	struct remote *r = c->rm;
	if (!r)
		return;
	pthread_mutex_lock(&r->qmu);
	if (!r->running) {
		pthread_mutex_unlock(&r->qmu);
		return;
	}
	r->stop = 1;
	pthread_cond_signal(&r->qcv);
	pthread_mutex_unlock(&r->qmu);
	pthread_join(r->th, NULL);
	pthread_mutex_lock(&r->qmu);
	r->running = 0;
	while (r->head) { /* anything left (the thread never drops) */
		struct rjob *j = r->head;
		r->head = j->next;
		free(j);
	}
	r->tail = NULL;
	r->qbytes = 0;
	pthread_mutex_unlock(&r->qmu);
}

void remote_store(struct cache *c, const uint8_t key[16], const void *p, size_t n, int release)
{
	struct remote *r = c->rm;
	if (!r || (!n && !release))
		return;
	struct rjob *j = malloc(sizeof *j + n);
	if (!j)
		return;
	memcpy(j->key, key, 16);
	if (n)
		memcpy(j->data, p, n);
	j->len = n;
	j->release = release;
	j->next = NULL;
	pthread_mutex_lock(&r->qmu);
	if (r->running && !r->stop && r->qbytes + n <= r->queue_max) {
		if (r->tail)
			r->tail->next = j;
		else
			r->head = j;
		r->tail = j;
		r->qbytes += n;
		j = NULL;
		pthread_cond_signal(&r->qcv);
	}
	pthread_mutex_unlock(&r->qmu);
	if (j) { /* queue full: dropped; a lease of ours is left to expire */
		inc(&c->n.remote_dropped, 1);
		if (release)
			held_set(r, key, 0);
		free(j);
	}
}
