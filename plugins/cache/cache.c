/* cache.c - the cache plugin: an action cache that answers a task with the
 * result of an earlier identical run (docs/plugins/cache.md).
 *
 * before_task (worker threads) computes the task's key, looks it up in
 * memory, then on disk, restores the outputs and answers with the recorded
 * exit status and output, labelled "cached". after_task stores what ran.
 * Between the two, the task's key waits in a small table keyed by the task
 * pointer (`pend`), which also says whether we answered the attempt (then
 * nothing is stored) and keeps the replayed output alive until the host has
 * copied it. The cache never fails a run: every problem is a miss, or a store
 * skipped, with a warning where the user can do something about it.
 */
#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pend {
	struct pend *next;
	const gbx_task *t;
	int answered;
	int lease;             /* this process holds the remote lease on key */
	int stored;            /* after_task stored its result (waiters replay it) */
	char *depfile;         /* the task's depfile: key is k2, key1 the base key */
	uint8_t key1[16];
	int no_manifest;       /* a depfile task never stored: a miss without a lookup */
	struct kcomp *kc;      /* the key's components, for explain */
	struct flight *flight; /* this attempt runs the action others here wait for */
	uint8_t key[16];
	struct mem_item *hit; /* answered: the entry replayed (its inline output is borrowed) */
	struct gbx_buf out, err; /* answered: output loaded from blobs */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t ld(_Atomic uint64_t *x)
{
	return atomic_load_explicit(x, memory_order_relaxed);
}

static void inc(_Atomic uint64_t *x, uint64_t n)
{
	atomic_fetch_add_explicit(x, n, memory_order_relaxed);
}

void cache_log(struct cache *c, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->host->log(c->host->ctx, level, msg);
}

char *cache_tmpname(struct cache *c, const char *dst)
{
	const char *slash = strrchr(dst, '/');
	size_t n = strlen(dst) + 80;
	char *p = malloc(n);
	if (p && slash)
		snprintf(p, n, "%.*s/.%s.gbx-tmp.%ld.%ld.%u", (int)(slash - dst), dst, slash + 1,
		         (long)getpid(), (long)gettid(), atomic_fetch_add(&c->tmp_seq, 1));
	else if (p)
		snprintf(p, n, ".%s.gbx-tmp.%ld.%ld.%u", dst, (long)getpid(), (long)gettid(),
		         atomic_fetch_add(&c->tmp_seq, 1));
	return p;
}

static const char *task_name(struct cache *c, const gbx_task *t)
{
	const char *id = c->host->task_id(t);
	return id ? id : "?";
}

/* ---- actions in flight in this process ------------------------------------------- */

/* An action being looked up or run by one attempt; an identical attempt
 * waits until it is done. If it left a result (a hit, or a store), the
 * waiters look their key up again (a hit, normally); if it left none (it
 * failed, or was not stored), they all run now, side by side: waiting for each
 * other in turn would serialize identical tasks that cannot be cached (12
 * identical calls that time out took 12 timeouts instead of 6 at -j2). */
struct flight {
	struct flight *next;
	uint8_t key[16];
	int refs;         /* waiters looking at it (under fl_mu) */
	int done, stored; /* done: gone from the list; stored: it left a result */
};

/* Keys whose action, in this process, ended without a result to replay (a
 * failure, an output that could not be stored): identical attempts do not
 * wait for each other any more. A hint in a fixed table (a lost one means a
 * wait); set 1 marks, -1 clears, 0 asks. Caller holds fl_mu. */
static int fl_noresult(struct cache *c, const uint8_t key[16], int set)
{
	uint64_t h;
	memcpy(&h, key, 8);
	uint8_t *slot = c->fl_none[h % FL_NONE];
	int here = !memcmp(slot, key, 16);
	if (set > 0)
		memcpy(slot, key, 16);
	else if (set < 0 && here)
		memset(slot, 0, 16);
	return here;
}

static int stopping(struct cache *c)
{
	return GBX_HOST_HAS(c->host, stopping) && c->host->stopping &&
	       c->host->stopping(c->host->ctx);
}

/* Waits while an identical action is in flight here, then registers ours.
 * Returns our flight, or NULL: out of memory, or the action we waited for
 * left no result (then we run without registering, beside the others). */
static struct flight *flight_enter(struct cache *c, const uint8_t key[16], int *waited)
{
	struct flight *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	memcpy(f->key, key, 16);
	pthread_mutex_lock(&c->fl_mu);
	for (;;) {
		struct flight *g = c->flights;
		while (g && memcmp(g->key, key, 16))
			g = g->next;
		if (!g)
			break;
		if (fl_noresult(c, key, 0)) {
			g = NULL; /* it left no result before: no waiting for it */
			break;
		}
		*waited = 1;
		g->refs++;
		while (!g->done && !stopping(c)) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += 100000000; /* to look at stopping now and then */
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->fl_cv, &c->fl_mu, &dl);
		}
		int none = !g->done || !g->stored; /* the run is stopping, or nothing to replay */
		if (--g->refs == 0 && g->done)
			free(g);
		if (none) {
			pthread_mutex_unlock(&c->fl_mu);
			free(f);
			return NULL;
		}
	}
	if (fl_noresult(c, key, 0)) {
		pthread_mutex_unlock(&c->fl_mu);
		free(f);
		return NULL;
	}
	f->next = c->flights;
	c->flights = f;
	pthread_mutex_unlock(&c->fl_mu);
	return f;
}

/* Ends our flight; stored: it left a result the waiters can replay. */
static void flight_leave(struct cache *c, struct flight *f, int stored)
{
	if (!f)
		return;
	pthread_mutex_lock(&c->fl_mu);
	for (struct flight **pp = &c->flights; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	f->done = 1;
	f->stored = stored;
	fl_noresult(c, f->key, stored ? -1 : 1);
	pthread_cond_broadcast(&c->fl_cv);
	if (!f->refs)
		free(f);
	pthread_mutex_unlock(&c->fl_mu);
}

/* ---- tasks between before and after --------------------------------------------- */

static size_t pend_slot(const gbx_task *t)
{
	uintptr_t x = (uintptr_t)t;
	return (size_t)((x >> 4) ^ (x >> 12)) & 255;
}

static void pend_free(struct cache *c, struct pend *p)
{
	if (!p)
		return;
	if (p->lease) /* not stored: let another process run it */
		remote_store(c, p->key, NULL, 0, 1);
	flight_leave(c, p->flight, p->stored);
	free(p->depfile);
	kcomp_free(p->kc);
	mem_release(p->hit);
	gbx_buf_free(&p->out);
	gbx_buf_free(&p->err);
	free(p);
}

/* Files p for its task; an older record of the same task (an attempt a later
 * plugin deferred, so after_task never came) is dropped. */
static void pend_put(struct cache *c, struct pend *p)
{
	size_t s = pend_slot(p->t);
	struct pend *old = NULL;
	pthread_mutex_lock(&c->pend_mu);
	for (struct pend **pp = &c->pend[s]; *pp; pp = &(*pp)->next)
		if ((*pp)->t == p->t) {
			old = *pp;
			*pp = old->next;
			break;
		}
	p->next = c->pend[s];
	c->pend[s] = p;
	pthread_mutex_unlock(&c->pend_mu);
	pend_free(c, old);
}

static struct pend *pend_take(struct cache *c, const gbx_task *t)
{
	size_t s = pend_slot(t);
	struct pend *p = NULL;
	pthread_mutex_lock(&c->pend_mu);
	for (struct pend **pp = &c->pend[s]; *pp; pp = &(*pp)->next)
		if ((*pp)->t == t) {
			p = *pp;
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&c->pend_mu);
	return p;
}

/* ---- lookup ----------------------------------------------------------------------- */

static int has_blobs(const struct centry *e)
{
	if (e->out.where == PL_BLOB || e->err.where == PL_BLOB)
		return 1;
	for (uint32_t i = 0; i < e->nout; i++)
		if (e->outs[i].p.where == PL_BLOB)
			return 1;
	return 0;
}

static void drop_from_memory(struct cache *c, const uint8_t key[16])
{
	pthread_mutex_lock(&c->mem_mu);
	lru_del(&c->mem, key);
	pthread_mutex_unlock(&c->mem_mu);
}

static void warn_corrupt(struct cache *c, const gbx_task *t, const uint8_t key[16], const char *why)
{
	char hex[33];
	hex16(key, hex);
	inc(&c->n.corrupt, 1);
	cache_log(c, 1, "task %s: cache entry %s is damaged (%s); treated as a miss",
	          task_name(c, t), hex, why);
}

/* Loads payload p (stdout or stderr) into out when it is a blob. */
static int payload_bytes(struct cache *c, const struct cpayload *p, struct gbx_buf *out,
                         const char **data, size_t *len, const char **why)
{
	if (p->where == PL_INLINE) {
		*data = (const char *)p->data;
		*len = (size_t)p->len;
		return 0;
	}
	if (blob_load(c, p->hash, p->len, out, why))
		return -1;
	*data = out->p;
	*len = out->len;
	return 0;
}

/* The remote level, after memory and disk missed: an entry found there is
 * written to disk (its blobs already are) and returned as a new item. When
 * nobody has it, we take the lease on the action (p->lease), or wait while
 * another process that holds it runs it. */
static struct mem_item *from_remote(struct cache *c, const gbx_task *t, struct pend *p)
{
	struct gbx_buf buf = {0};
	struct mem_item *it = NULL;
	int64_t waited_until = 0, pause_ns = 1000000;
	for (;;) {
		int r = remote_fetch(c, task_name(c, t), p->key, &buf);
		if (r == 1) {
			it = mem_item_new(p->key, buf.p, buf.len);
			if (it && c->disk_ok) /* into the next pack, unless it has blobs */
				entry_store(c, p->key, buf.p, buf.len, -1, has_blobs(&it->e),
				            W_FILL);
			break;
		}
		if (r < 0 || p->lease || !remote_usable(c))
			break;
		/* a miss: run it ourselves unless another process is running it */
		int l = remote_lease(c, p->key);
		if (l == 1 && !p->lease) {
			/* the holder may have stored it and let go between our lookup and
			 * our lease: look once more before running it */
			p->lease = 1;
			continue;
		}
		if (l != 0)
			break;
		if (!waited_until) {
			inc(&c->n.lease_waits, 1);
			waited_until = mono_ns() + 600 * 1000000000LL;
		}
		if (mono_ns() > waited_until || stopping(c))
			break; /* a holder that renews its lease for ten minutes: run it here too */
		struct timespec ts = {0, pause_ns};
		nanosleep(&ts, NULL); /* polling the holder's entry, backing off to 50 ms */
		if (pause_ns < 50000000)
			pause_ns *= 2;
	}
	gbx_buf_free(&buf);
	return it;
}

static uint64_t entry_bytes(const struct mem_item *it)
{
	uint64_t n = it->len;
	const struct centry *e = &it->e;
	n += e->out.where == PL_BLOB ? e->out.len : 0;
	n += e->err.where == PL_BLOB ? e->err.len : 0;
	for (uint32_t i = 0; i < e->nout; i++)
		n += e->outs[i].p.where == PL_BLOB ? e->outs[i].p.len : 0;
	return n;
}

/* Looks the key up and, on a hit, restores outputs and fills ans. 1 answered. */
static int lookup(struct cache *c, const gbx_task *t, struct pend *p, struct gbx_before *ans)
{
	int lk = -1, from_disk = 0, remote = 0, rc = 0;
	const char *why = NULL;
	pthread_mutex_lock(&c->mem_mu);
	struct mem_item *it = lru_get(&c->mem, p->key, mono_ns());
	pthread_mutex_unlock(&c->mem_mu);
	if (!it && c->rm && (!c->disk_ok || !disk_has_entry(c, p->key))) {
		if (!(it = from_remote(c, t, p)))
			return 0;
		from_disk = remote = 1;
	}
	if (!it) {
		/* the common miss costs one access(); the lock is for reading an entry */
		if (!c->disk_ok || !disk_has_entry(c, p->key))
			return 0;
		if ((lk = disk_lock(c, 0, 0)) < 0) {
			inc(&c->n.busy, 1);
			return 0;
		}
		struct gbx_buf buf = {0};
		int r = disk_read_entry(c, p->key, &buf, &why);
		if (r < 0)
			warn_corrupt(c, t, p->key, why);
		else if (r == 0 && !(it = mem_item_new(p->key, buf.p, buf.len)))
			warn_corrupt(c, t, p->key, "out of memory");
		gbx_buf_free(&buf);
		if (!it)
			goto out;
		from_disk = 1;
	}
	/* a recorded failure is replayed only while cache_failures is on, and on the
	 * first attempt only: a retry is there to try again */
	if (!it->e.ok && (!c->cache_failures || c->host->task_attempt(t) > 1))
		goto out;
	if (lk < 0 && has_blobs(&it->e) && (lk = disk_lock(c, 0, 0)) < 0) {
		inc(&c->n.busy, 1);
		goto out;
	}
	char *workdir = task_workdir(c, t);
	char msg[512] = "";
	int corrupt = 0;
	const char *od = NULL, *ed = NULL;
	size_t ol = 0, el = 0;
	if (!workdir)
		goto out;
	if (payload_bytes(c, &it->e.out, &p->out, &od, &ol, &why) ||
	    payload_bytes(c, &it->e.err, &p->err, &ed, &el, &why)) {
		snprintf(msg, sizeof msg, "%s", why);
		corrupt = 1;
	} else if (restore_outputs(c, &it->e, c->host->task_outputs(t), workdir, msg, sizeof msg,
	                           &corrupt)) {
		if (!corrupt)
			cache_log(c, 1, "task %s: cached outputs not restored (%s); running it",
			          task_name(c, t), msg);
	} else {
		rc = 1;
	}
	free(workdir);
	if (!rc) {
		if (remote) {
			/* the blobs were checked when fetched: a failure here is local */
		} else if (corrupt && !from_disk && !disk_has_entry(c, p->key)) {
			/* a memory entry whose disk copy a gc (here or elsewhere) evicted
			 * with its blobs: gone, not damaged */
			drop_from_memory(c, p->key);
		} else if (corrupt) {
			warn_corrupt(c, t, p->key, msg);
			blob_scrub(c, &it->e);
			char *ep = entry_path(c, p->key);
			if (ep)
				unlink(ep); /* a store will write it again */
			free(ep);
			if (!from_disk)
				drop_from_memory(c, p->key);
		}
		goto out;
	}
	if (c->disk_ok && !remote)
		disk_touch(c, p->key);
	if (from_disk) {
		atomic_fetch_add(&it->refs, 1); /* one for the memory level, one for p */
		pthread_mutex_lock(&c->mem_mu);
		lru_put(&c->mem, it, mono_ns());
		pthread_mutex_unlock(&c->mem_mu);
	}
	inc(remote ? &c->n.hits_remote : from_disk ? &c->n.hits_disk : &c->n.hits_mem, 1);
	inc(remote ? &c->n.bytes_remote : from_disk ? &c->n.bytes_disk : &c->n.bytes_mem,
	    entry_bytes(it));
	inc(&c->n.saved_us, (uint64_t)(it->e.ms * 1000));
	ans->verdict = GBX_ANSWER;
	ans->label = "cached";
	ans->result.ok = it->e.ok;
	ans->result.failure = it->e.ok ? NULL : it->e.failure;
	ans->result.exit_code = it->e.exit_code;
	ans->result.signal = it->e.sig;
	ans->result.out = od;
	ans->result.out_len = ol;
	ans->result.err = ed;
	ans->result.err_len = el;
	p->answered = 1;
	p->hit = it;
	it = NULL;
out:
	disk_unlock(lk);
	mem_release(it);
	return rc;
}

static void cache_before(void *self, const gbx_task *t, struct gbx_before *ans)
{
	struct cache *c = self;
	struct pend *p;
	if (!key_cacheable(c, t) || !(p = calloc(1, sizeof *p))) {
		inc(&c->n.uncacheable, 1);
		return;
	}
	p->t = t;
	p->kc = kcomp_new();
	if (key_task_explain(c, t, p->key, 0, p->kc) != KEY_OK) {
		inc(&c->n.uncacheable, 1);
		kcomp_free(p->kc);
		free(p);
		return;
	}
	/* an earlier attempt of this task that never ended (a later plugin deferred
	 * it) would otherwise be the flight this one waits for */
	pend_free(c, pend_take(c, t));
	int waited = 0;
	p->flight = flight_enter(c, p->key, &waited);
	if ((p->depfile = task_depfile(c, t))) {
		/* the key is the base key plus the files its last depfile listed */
		memcpy(p->key1, p->key, 16);
		char **deps = NULL, *wd = task_workdir(c, t);
		p->no_manifest = !wd || manifest_read(c, p->key1, &deps) != 0 ||
		                 key_with_deps(c, p->key1, wd, deps, p->key, p->kc) != KEY_OK;
		strv_free(deps);
		free(wd);
	}
	int hit = !p->no_manifest && lookup(c, t, p, ans);
	if (hit) {
		flight_leave(c, p->flight, 1);
		p->flight = NULL;
		if (waited)
			inc(&c->n.deduped, 1);
	} else {
		inc(&c->n.misses, 1);
	}
	pend_put(c, p);
}

/* ---- store ------------------------------------------------------------------------ */

void cache_io_warning(struct cache *c, const char *detail)
{
	if (atomic_exchange(&c->warned_io, 1) == 0)
		cache_log(c, 1,
		          "cannot write to the cache (%s); results of this run may not be cached",
		          detail);
}

/* stdout or stderr: inline when small, else a blob (under the shared lock,
 * taken here the first time one is needed). */
static int put_payload(struct cache *c, struct cpayload *p, const char *data, size_t len,
                       size_t *inline_total, int *lk)
{
	p->len = len;
	hash_bytes(len ? data : "", len, p->hash);
	if (len <= CACHE_INLINE_MAX && *inline_total + len <= CACHE_INLINE_TOTAL) {
		p->where = PL_INLINE;
		p->data = (const uint8_t *)data;
		*inline_total += len;
		return 0;
	}
	p->where = PL_BLOB;
	if (!c->disk_ok)
		return -ENOSPC;
	if (*lk < 0 && (*lk = disk_lock(c, 0, 0)) < 0)
		return -EBUSY;
	return blob_put_mem(c, data, len, p->hash);
}

static int store(struct cache *c, const gbx_task *t, const uint8_t key[16],
                 const struct gbx_result *r, int *lease)
{
	int lk = -1; /* the shared lock, once a blob is to be written */
	struct centry e;
	struct gbx_buf arena = {0}, enc = {0};
	char why[512] = "";
	size_t inl = 0;
	char *workdir = task_workdir(c, t);
	memset(&e, 0, sizeof e);
	memcpy(e.key, key, 16);
	e.created_ns = wall_ns();
	e.ok = r->ok != 0;
	e.exit_code = r->exit_code;
	e.sig = r->signal;
	e.ms = r->ms;
	snprintf(e.failure, sizeof e.failure, "%s", r->ok || !r->failure ? "" : r->failure);
	int rc = workdir ? 0 : -ENOMEM;
	if (!rc)
		rc = put_payload(c, &e.out, r->out, r->out_len, &inl, &lk);
	if (!rc)
		rc = put_payload(c, &e.err, r->err, r->err_len, &inl, &lk);
	if (rc == -EBUSY) {
		rc = -3;
	} else if (rc) {
		if (c->disk_ok) /* (without a disk level, large output is simply not kept) */
			cache_io_warning(c, strerror(-rc));
		rc = -2;
	} else {
		rc = capture_outputs(c, c->host->task_outputs(t), workdir, e.ok, &e, &arena, why,
		                     sizeof why, &lk);
		if (rc == -1)
			cache_log(c, 1, "task %s: not cached: %s", task_name(c, t), why);
		else if (rc == -2)
			cache_io_warning(c, why);
	}
	if (!rc && entry_encode(&e, &enc))
		rc = -2;
	if (rc) {
		inc(&c->n.store_skipped, 1);
		if (rc == -3)
			inc(&c->n.busy, 1);
		goto out;
	}
	struct mem_item *it = mem_item_new(key, enc.p, enc.len);
	if (it) {
		pthread_mutex_lock(&c->mem_mu);
		lru_put(&c->mem, it, mono_ns());
		pthread_mutex_unlock(&c->mem_mu);
	}
	if (c->disk_ok)
		entry_store(c, key, enc.p, enc.len, lk, lk >= 0,
		            W_STORE); /* counts the store once written */
	else
		inc(&c->n.stores, 1);
	if (c->rm) {
		/* written behind (its blobs are read from the disk level then) */
		remote_store(c, key, enc.p, enc.len, *lease);
		*lease = 0;
	}
out:
	disk_unlock(lk);
	for (size_t i = 0; i + sizeof(void *) <= arena.len; i += sizeof(void *)) {
		void *ptr;
		memcpy(&ptr, arena.p + i, sizeof ptr);
		free(ptr);
	}
	gbx_buf_free(&arena);
	gbx_buf_free(&enc);
	entry_clear(&e);
	free(workdir);
	return rc;
}

static void cache_after(void *self, const gbx_task *t, const struct gbx_result *r)
{
	struct cache *c = self;
	struct pend *p = pend_take(c, t);
	if (!p)
		return; /* not cacheable, or answered by a plugin before us */
	/* failures are kept only when asked, and only a plain non-zero exit:
	 * a signal, a timeout or a spawn error says more about the moment than the task */
	int keep = r->ok || (c->cache_failures && r->failure && !strcmp(r->failure, "exit"));
	int stored = 0;
	if (!p->answered && keep && p->depfile) {
		/* the deps the task reported join the key it is stored under */
		char *wd = task_workdir(c, t), *df = wd ? path_join(wd, p->depfile) : NULL;
		struct gbx_buf b = {0};
		char **deps = NULL;
		uint8_t k2[16];
		int none = 0; /* a lease under the old key is released by pend_free */
		if (!df || read_file(df, &b, 1 << 24) != 0)
			cache_log(c, 1, "task %s: not cached: its depfile %s was not written",
			          task_name(c, t), p->depfile);
		else if (!(deps = depfile_parse(b.p, b.len)) && b.len)
			cache_log(c, 1, "task %s: not cached: its depfile %s cannot be read as one",
			          task_name(c, t), p->depfile);
		else if (manifest_write(c, p->key1, deps) == 0 &&
		         key_with_deps(c, p->key1, wd, deps, k2, NULL) == KEY_OK)
			stored = store(c, t, k2, r, &none) == 0;
		strv_free(deps);
		gbx_buf_free(&b);
		free(df);
		free(wd);
	} else if (!p->answered && keep) {
		stored = store(c, t, p->key, r, &p->lease) == 0;
	}
	if (p->kc)
		explain_note(c, task_name(c, t), stored, p->answered ? "hit" : "miss", p->key, p->kc);
	p->stored = stored;
	pend_free(c, p);
}

/* ---- run start and end -------------------------------------------------------------- */

static void cache_run_start(void *self, int64_t ntasks)
{
	struct cache *c = self;
	(void)ntasks;
	_Atomic uint64_t *f[] = {&c->n.hits_mem,     &c->n.hits_disk,     &c->n.misses,
	                         &c->n.stores,       &c->n.fills,         &c->n.store_skipped,
	                         &c->n.uncacheable,  &c->n.corrupt,       &c->n.busy,
	                         &c->n.hashed_files,
	                         &c->n.hashed_bytes, &c->n.stat_hits,     &c->n.bytes_added,
	                         &c->n.saved_us,     &c->n.hits_remote,   &c->n.bytes_mem,
	                         &c->n.bytes_disk,   &c->n.bytes_remote,  &c->n.remote_errors,
	                         &c->n.remote_skipped, &c->n.remote_bytes_in, &c->n.remote_bytes_out,
	                         &c->n.remote_stores, &c->n.remote_dropped, &c->n.deduped,
	                         &c->n.lease_waits};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		atomic_store(f[i], 0);
	atomic_store(&c->warned_io, 0);
	atomic_store(&c->in_run, 1);
	writer_start(c);
	if (remote_start(c))
		cache_log(c, 1, "cannot start the remote writer; stores stay local");
}

static void cache_run_end(void *self, int64_t ok, int64_t failed)
{
	struct cache *c = self;
	(void)ok;
	(void)failed;
	atomic_store(&c->in_run, 0);
	writer_stop(c); /* every entry of this run on disk before the counters are saved */
	remote_stop(c); /* ... and sent to the remote, unless it fails meanwhile */
	cache_publish(c); /* figures.c: per level, for telemetry */
	uint64_t hits = ld(&c->n.hits_mem) + ld(&c->n.hits_disk) + ld(&c->n.hits_remote);
	char fields[1536];
	snprintf(fields, sizeof fields,
	         "\"hits\":%llu,\"hits_memory\":%llu,\"misses\":%llu,\"stores\":%llu,"
	         "\"fills\":%llu,\"not_stored\":%llu,\"uncacheable\":%llu,\"corrupt\":%llu,"
	         "\"busy\":%llu,"
	         "\"hashed_files\":%llu,\"hashed_bytes\":%llu,\"stat_hits\":%llu,\"saved_ms\":%llu",
	         (unsigned long long)hits, (unsigned long long)ld(&c->n.hits_mem),
	         (unsigned long long)ld(&c->n.misses), (unsigned long long)ld(&c->n.stores),
	         (unsigned long long)ld(&c->n.fills), (unsigned long long)ld(&c->n.store_skipped),
	         (unsigned long long)ld(&c->n.uncacheable), (unsigned long long)ld(&c->n.corrupt),
	         (unsigned long long)ld(&c->n.busy), (unsigned long long)ld(&c->n.hashed_files),
	         (unsigned long long)ld(&c->n.hashed_bytes),
	         (unsigned long long)ld(&c->n.stat_hits),
	         (unsigned long long)(ld(&c->n.saved_us) / 1000));
	size_t fl = strlen(fields);
	snprintf(fields + fl, sizeof fields - fl,
	         ",\"hits_disk\":%llu,\"hits_remote\":%llu,\"bytes_memory\":%llu,"
	         "\"bytes_disk\":%llu,\"bytes_remote\":%llu,\"deduped\":%llu",
	         (unsigned long long)ld(&c->n.hits_disk), (unsigned long long)ld(&c->n.hits_remote),
	         (unsigned long long)ld(&c->n.bytes_mem), (unsigned long long)ld(&c->n.bytes_disk),
	         (unsigned long long)ld(&c->n.bytes_remote), (unsigned long long)ld(&c->n.deduped));
	if (c->rm) {
		fl = strlen(fields);
		snprintf(fields + fl, sizeof fields - fl,
		         ",\"remote_errors\":%llu,\"remote_skipped\":%llu,\"remote_read\":%llu,"
		         "\"remote_written\":%llu,\"remote_stores\":%llu,\"remote_dropped\":%llu,"
		         "\"lease_waits\":%llu,\"remote_lookup_p50_us\":%.1f",
		         (unsigned long long)ld(&c->n.remote_errors),
		         (unsigned long long)ld(&c->n.remote_skipped),
		         (unsigned long long)ld(&c->n.remote_bytes_in),
		         (unsigned long long)ld(&c->n.remote_bytes_out),
		         (unsigned long long)ld(&c->n.remote_stores),
		         (unsigned long long)ld(&c->n.remote_dropped),
		         (unsigned long long)ld(&c->n.lease_waits),
		         (double)remote_lookup_p50_ns(c) / 1000);
	}
	c->host->event(c->host->ctx, "cache.stats", NULL, fields);
	if (!c->disk_ok)
		return;
	explain_save(c);
	if (c->stat_cache) {
		char *file = path_join(c->root, "statcache"),
		     *tmp = file ? cache_tmpname(c, file) : NULL;
		int rc = file && tmp ? sc_save(&c->sc, file, tmp) : -ENOMEM;
		if (rc)
			cache_log(c, 1, "cannot save the stat cache: %s", strerror(-rc));
		free(file);
		free(tmp);
	}
	if (!hits && !ld(&c->n.misses) && !ld(&c->n.stores))
		return;
	pack_compact(c, 0); /* past PACK_MAX packs: one (busy: the next run will) */
	struct disk_stats add = {1,
	                         hits,
	                         ld(&c->n.misses),
	                         ld(&c->n.stores),
	                         ld(&c->n.corrupt),
	                         ld(&c->n.saved_us) / 1000,
	                         ld(&c->n.bytes_added),
	                         ld(&c->n.hits_mem),
	                         ld(&c->n.hits_disk),
	                         ld(&c->n.hits_remote),
	                         ld(&c->n.bytes_mem),
	                         ld(&c->n.bytes_disk),
	                         ld(&c->n.bytes_remote),
	                         ld(&c->n.remote_bytes_in),
	                         ld(&c->n.remote_bytes_out),
	                         ld(&c->n.remote_errors),
	                         ld(&c->n.fills)};
	struct disk_stats now;
	if (stats_update(c, &add, 0, 0, &now) == 0 && now.bytes > c->max_bytes) {
		struct disk_usage u;
		disk_gc(c, c->max_bytes, 0, &u); /* busy (another process): the next run will */
	}
}

/* ---- functions for policies ----------------------------------------------------------- */

static int lua_hit_rate(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	struct cache *c = self;
	(void)args;
	(void)nargs;
	uint64_t h = ld(&c->n.hits_mem) + ld(&c->n.hits_disk) + ld(&c->n.hits_remote),
	         m = ld(&c->n.misses);
	ret->type = GBX_NUM;
	ret->num = h + m ? (double)h / (double)(h + m) : 0.0;
	return 0;
}

static int lua_has(void *self, const struct gbx_value *args, int nargs, struct gbx_value *ret)
{
	struct cache *c = self;
	if (nargs < 1 || args[0].type != GBX_TASK || !args[0].task) {
		ret->type = GBX_STR;
		ret->str = "cache.has: expected a task";
		return -1;
	}
	const gbx_task *t = args[0].task;
	uint8_t key[16];
	ret->type = GBX_BOOL;
	ret->num = 0;
	/* quick: on the dispatcher, under the engine's lock; no event here (the
	 * remote's one warning a run, when it trips its breaker, is a log line) */
	if (!key_cacheable(c, t) || key_task(c, t, key, 1) != KEY_OK)
		return 0;
	pthread_mutex_lock(&c->mem_mu);
	int found = lru_has(&c->mem, key, mono_ns());
	pthread_mutex_unlock(&c->mem_mu);
	if (!found && c->disk_ok)
		found = disk_has_entry(c, key);
	/* within the lookup deadline; breaker open: false at once. Only in a run:
	 * `gearbox check` tries the policy without asking Redis */
	if (!found && c->rm && atomic_load_explicit(&c->in_run, memory_order_relaxed))
		found = remote_has(c, key);
	ret->num = found;
	return 0;
}

/* ---- init and fini (the settings: config.c) --------------------------------------------- */

static void cache_free(struct cache *c)
{
	writer_stop(c);
	for (int i = 0; i < 256; i++)
		while (c->pend[i]) {
			struct pend *p = c->pend[i];
			c->pend[i] = p->next;
			pend_free(c, p);
		}
	remote_free(c);
	packs_free(c);
	lru_free(&c->mem);
	sc_free(&c->sc);
	for (size_t i = 0; i < c->n_env_allow; i++) {
		free(c->env_allow[i]);
		free(c->env_inherited[i]);
	}
	free(c->env_allow);
	free(c->env_inherited);
	free(c->key_version);
	free(c->dir);
	free(c->root);
	free(c->proc_cwd);
	free(c->proj_root);
	pthread_mutex_destroy(&c->fl_mu);
	free(c->fl_none);
	pthread_mutex_destroy(&c->x_mu);
	gbx_buf_free(&c->xlog);
	pthread_cond_destroy(&c->fl_cv);
	pthread_mutex_destroy(&c->mem_mu);
	pthread_mutex_destroy(&c->pend_mu);
	pthread_mutex_destroy(&c->wq_mu);
	pthread_cond_destroy(&c->wq_cv);
	free(c);
}

static int cache_init(const struct gbx_host *host, const char *cfg, void **self, char *err,
                      size_t errlen)
{
	struct cache *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->host = host;
	pthread_mutex_init(&c->mem_mu, NULL);
	pthread_mutex_init(&c->fl_mu, NULL);
	c->fl_none = calloc(FL_NONE, sizeof *c->fl_none);
	pthread_mutex_init(&c->x_mu, NULL);
	pthread_cond_init(&c->fl_cv, NULL);
	pthread_mutex_init(&c->pend_mu, NULL);
	pthread_mutex_init(&c->wq_mu, NULL);
	pthread_cond_init(&c->wq_cv, NULL);
	struct cache_cfg k;
	if (cache_config(c, cfg, &k, err, errlen))
		goto fail;
	c->max_bytes = (uint64_t)k.max_mb << 20;
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd)) {
		snprintf(err, errlen, "cannot read the current directory: %s", strerror(errno));
		goto fail;
	}
	c->proc_cwd = strdup(cwd);
	c->dir = path_join(cwd, k.dir);
	/* the project root: `root` (relative to the config file's folder), else that folder */
	const char *cdir = GBX_HOST_HAS(host, config_dir) && host->config_dir
	                       ? host->config_dir(host->ctx)
	                       : NULL;
	if (!cdir)
		cdir = cwd;
	{
		char *j = path_join(cdir, k.root), *real = j ? realpath(j, NULL) : NULL;
		free(j);
		if (!real) {
			snprintf(err, errlen, "root: cannot use \"%s\": %s", k.root, strerror(errno));
			goto fail;
		}
		c->proj_root = real;
	}
	if (k.remote[0]) {
		struct remote_cfg rc_ = {k.r_deadline, k.r_open, k.r_lease, k.r_ttl,
		                         (uint64_t)k.r_blob << 20, (uint64_t)k.r_queue << 20, k.ns};
		if (remote_init(c, k.remote, &rc_, err, errlen))
			goto fail;
	}
	c->root = c->dir ? path_join(c->dir, "v1") : NULL;
	if (!c->proc_cwd || !c->root || !c->fl_none || sc_init(&c->sc) ||
	    lru_init(&c->mem, (size_t)k.mem_entries, (size_t)k.mem_mb << 20,
	             k.ttl_s * 1000000000LL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	int rc = disk_setup(c);
	if (rc) {
		cache_log(c, 1, "cannot use the cache directory %s: %s; the disk level is off",
		          c->dir, strerror(-rc));
	} else if ((rc = packs_init(c))) {
		cache_log(c, 1, "cannot use the cache directory %s: %s; the disk level is off",
		          c->dir, strerror(-rc));
	} else {
		c->disk_ok = 1;
	}
	if (c->disk_ok && c->stat_cache) {
		char *file = path_join(c->root, "statcache");
		const char *why = "";
		if (file && sc_load(&c->sc, file, &why) < 0)
			cache_log(c, 1, "the stat cache %s %s; starting afresh", file, why);
		free(file);
	}
	if (GBX_HOST_HAS(host, lua_fn) && host->lua_fn &&
	    (host->lua_fn(host->ctx, "cache", "hit_rate", lua_hit_rate, c) ||
	     host->lua_fn(host->ctx, "cache", "has", lua_has, c))) {
		snprintf(err, errlen, "cannot add cache.hit_rate and cache.has for policies");
		goto fail;
	}
	*self = c;
	return 0;
fail:
	cache_free(c);
	return -1;
}

static void cache_fini(void *self)
{
	cache_free(self);
}

static const char *const cache_config_keys[] = {
    "dir",       "max_mb",         "mem_entries",    "mem_mb",     "ttl_s",
    "env_allow", "require_inputs", "cache_failures", "stat_cache", "key_version",
    "root",      "remote",         "remote_deadline_ms", "remote_ttl_s", "remote_max_blob_mb",
    "remote_open_s", "remote_lease_ms", "remote_queue_mb", "remote_namespace", NULL};

static const char *const cache_task_fields[] = {"depfile", NULL};

GBX_PLUGIN_EXPORT = {
    .abi_major = GBX_PLUGIN_ABI_MAJOR,
    .abi_minor = GBX_PLUGIN_ABI_MINOR,
    .name = "cache",
    .version = "1.0.0",
    .description = "action cache: replays a task's exit status, output and declared outputs "
                   "when its command, env, cwd, stdin and inputs are unchanged",
    .config_keys = cache_config_keys,
    .task_fields = cache_task_fields,
    .init = cache_init,
    .fini = cache_fini,
    .run_start = cache_run_start,
    .run_end = cache_run_end,
    .before_task = cache_before,
    .after_task = cache_after,
    .command = cache_command,
};
