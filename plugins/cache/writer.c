/* writer.c - writes entries off the task path.
 *
 * Creating a file costs a worker far more than encoding an entry, and much
 * more right after many files were deleted (ext4 scans its recently deleted
 * inodes on every create for a minute or more after a `gearbox cache clear`).
 * So an entry without blobs (its content is all inline) waits in memory for
 * the next pack (pack.c), which this thread writes when a batch is full, when
 * its oldest entry has waited PACK_WAIT_MS, and at run_end; this process finds
 * a waiting entry at once. Entries with blobs are written as files by the
 * worker itself, under the same shared lock as their blobs, so gc never sees
 * a blob before its entry is on the way; a remote hit's entry with blobs is
 * handed to this thread as a file job.
 *
 * Both queues are bounded (WQ_MAX, PACK_WAIT_MAX bytes): when one is full, or
 * between runs, the caller writes a file synchronously instead, so memory
 * stays bounded and nobody blocks. run_end drains them (writer_stop) before
 * the run's counters are saved; a crash loses what was waiting, which only
 * means misses later.
 */
#include "cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WQ_MAX (16u << 20)

struct wjob {
	struct wjob *next;
	uint8_t key[16];
	enum wkind kind;
	size_t len;
	uint8_t data[];
};

void count_written(struct cache *c, enum wkind kind, uint64_t n)
{
	if (kind == W_STORE)
		atomic_fetch_add_explicit(&c->n.stores, n, memory_order_relaxed);
	else if (kind == W_FILL)
		atomic_fetch_add_explicit(&c->n.fills, n, memory_order_relaxed);
}

/* Writes one encoded entry under the shared lock (taken by the caller or here). */
static void write_one(struct cache *c, const uint8_t key[16], const void *p, size_t n, int lk,
                      enum wkind kind)
{
	int own = lk < 0;
	if (own && (lk = disk_lock(c, 0, 0)) < 0) {
		atomic_fetch_add_explicit(&c->n.busy, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->n.store_skipped, 1, memory_order_relaxed);
		return;
	}
	int rc = disk_write_entry(c, key, p, n);
	if (own)
		disk_unlock(lk);
	if (rc) {
		atomic_fetch_add_explicit(&c->n.store_skipped, 1, memory_order_relaxed);
		cache_io_warning(c, strerror(-rc));
		return;
	}
	count_written(c, kind, 1);
}

static void *writer_main(void *arg)
{
	struct cache *c = arg;
	pthread_mutex_lock(&c->wq_mu);
	for (;;) {
		while (!c->wq_head && !c->wq_stop && !c->wq_pack) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += 250000000; /* to look at the pack's age now and then */
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->wq_cv, &c->wq_mu, &dl);
			if (pack_due(c))
				break;
		}
		c->wq_pack = 0;
		struct wjob *batch = c->wq_head;
		if (!batch && c->wq_stop)
			break;
		if (!batch) {
			pthread_mutex_unlock(&c->wq_mu);
			if (pack_due(c))
				pack_flush(c, 0);
			pthread_mutex_lock(&c->wq_mu);
			continue;
		}
		c->wq_head = c->wq_tail = NULL;
		c->wq_bytes = 0;
		pthread_mutex_unlock(&c->wq_mu);
		int lk = disk_lock(c, 0, 0); /* one lock for the batch */
		while (batch) {
			struct wjob *j = batch;
			batch = j->next;
			if (lk >= 0) {
				write_one(c, j->key, j->data, j->len, lk, j->kind);
			} else {
				atomic_fetch_add_explicit(&c->n.busy, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&c->n.store_skipped, 1,
				                          memory_order_relaxed);
			}
			free(j);
		}
		disk_unlock(lk);
		pthread_mutex_lock(&c->wq_mu);
	}
	pthread_mutex_unlock(&c->wq_mu);
	return NULL;
}

int writer_start(struct cache *c)
{
	if (!c->disk_ok || c->wq_running)
		return 0;
	pthread_mutex_lock(&c->wq_mu);
	c->wq_stop = 0;
	c->wq_pack = 0;
	int rc = pthread_create(&c->wq_th, NULL, writer_main, c);
	c->wq_running = rc == 0; /* else every store is synchronous */
	pthread_mutex_unlock(&c->wq_mu);
	pack_accept(c, c->wq_running);
	return rc ? -1 : 0;
}

void writer_stop(struct cache *c)
{
	if (!c->wq_running)
		return;
	pack_accept(c, 0);
	pthread_mutex_lock(&c->wq_mu);
	c->wq_stop = 1;
	pthread_cond_signal(&c->wq_cv);
	pthread_mutex_unlock(&c->wq_mu);
	pthread_join(c->wq_th, NULL);
	pthread_mutex_lock(&c->wq_mu);
	c->wq_running = 0;
	pthread_mutex_unlock(&c->wq_mu);
	pack_flush(c, 1); /* what waits, as one pack */
}

void entry_store(struct cache *c, const uint8_t key[16], const void *p, size_t n, int lk,
                 int blobs, enum wkind kind)
{
	if (lk < 0 && !blobs) {
		int r = pack_add(c, key, p, n, kind);
		if (r >= 0) {
			if (r == 1) { /* a batch is full: the writer writes it now */
				pthread_mutex_lock(&c->wq_mu);
				c->wq_pack = 1;
				pthread_cond_signal(&c->wq_cv);
				pthread_mutex_unlock(&c->wq_mu);
			}
			return;
		}
	}
	if (lk < 0) { /* no blobs: hand it to the writer if it has room */
		struct wjob *j = malloc(sizeof *j + n);
		if (j) {
			memcpy(j->key, key, 16);
			memcpy(j->data, p, n);
			j->len = n;
			j->kind = kind;
			j->next = NULL;
		}
		pthread_mutex_lock(&c->wq_mu);
		if (j && c->wq_running && !c->wq_stop && c->wq_bytes + n <= WQ_MAX) {
			if (c->wq_tail)
				c->wq_tail->next = j;
			else
				c->wq_head = j;
			c->wq_tail = j;
			c->wq_bytes += n;
			j = NULL; /* the writer's now */
			pthread_cond_signal(&c->wq_cv);
			pthread_mutex_unlock(&c->wq_mu);
			return;
		}
		pthread_mutex_unlock(&c->wq_mu);
		free(j);
	}
	write_one(c, key, p, n, lk, kind);
}
