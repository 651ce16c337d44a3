/* lru.c - the memory level: entries by key, least recently used first out.
 *
 * A hash table (keys are hashes already: their first bytes pick the bucket)
 * plus a doubly linked list in use order with a sentinel. Caps: a number of
 * entries and a number of bytes; a TTL drops entries older than ttl_ns since
 * they were added, when they are looked up. Items are immutable and
 * reference-counted so a hit can be used after the caller drops its lock while
 * another thread evicts it. Not thread-safe by itself: cache.c serializes it.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

int lru_init(struct lru *l, size_t max_n, size_t max_bytes, int64_t ttl_ns)
{
	memset(l, 0, sizeof *l);
	l->max_n = max_n;
	l->max_bytes = max_bytes;
	l->ttl_ns = ttl_ns;
	l->head.next = l->head.prev = &l->head;
	if (!max_n || !max_bytes)
		return 0; /* the level is off */
	size_t nb = 64;
	while (nb < max_n && nb < (1u << 24))
		nb *= 2;
	l->tab = calloc(nb, sizeof *l->tab);
	if (!l->tab)
		return -1;
	l->nbuckets = nb;
	return 0;
}

static size_t bucket(const struct lru *l, const uint8_t *key)
{
	uint64_t h;
	memcpy(&h, key, 8);
	return (size_t)(h & (l->nbuckets - 1));
}

void mem_release(struct mem_item *it)
{
	if (it && atomic_fetch_sub(&it->refs, 1) == 1) {
		entry_clear(&it->e);
		free(it->buf);
		free(it);
	}
}

struct mem_item *mem_item_new(const uint8_t *key, const void *buf, size_t len)
{
	struct mem_item *it = calloc(1, sizeof *it);
	if (!it)
		return NULL;
	it->buf = malloc(len ? len : 1);
	const char *why;
	if (!it->buf) {
		free(it);
		return NULL;
	}
	memcpy(it->buf, buf, len);
	it->len = len;
	if (entry_decode(it->buf, len, key, &it->e, &why)) {
		free(it->buf);
		free(it);
		return NULL;
	}
	memcpy(it->key, key, 16);
	it->bytes = len + sizeof *it + it->e.nout * sizeof(struct coutput);
	atomic_init(&it->refs, 1);
	return it;
}

static void unlink_item(struct lru *l, struct mem_item *it)
{
	struct mem_item **pp = &l->tab[bucket(l, it->key)];
	while (*pp && *pp != it)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = it->hnext;
	it->prev->next = it->next;
	it->next->prev = it->prev;
	l->n--;
	l->bytes -= it->bytes;
	mem_release(it);
}

static struct mem_item *find(struct lru *l, const uint8_t *key, int64_t now_ns)
{
	if (!l->tab)
		return NULL;
	struct mem_item *it = l->tab[bucket(l, key)];
	while (it && memcmp(it->key, key, 16))
		it = it->hnext;
	if (it && l->ttl_ns > 0 && now_ns - it->added_ns > l->ttl_ns) {
		unlink_item(l, it);
		l->expirations++;
		return NULL;
	}
	return it;
}

struct mem_item *lru_get(struct lru *l, const uint8_t *key, int64_t now_ns)
{
	struct mem_item *it = find(l, key, now_ns);
	if (!it)
		return NULL;
	/* to the front */
	it->prev->next = it->next;
	it->next->prev = it->prev;
	it->next = l->head.next;
	it->prev = &l->head;
	l->head.next->prev = it;
	l->head.next = it;
	atomic_fetch_add(&it->refs, 1);
	return it;
}

int lru_has(struct lru *l, const uint8_t *key, int64_t now_ns)
{
	return find(l, key, now_ns) != NULL;
}

void lru_del(struct lru *l, const uint8_t *key)
{
	struct mem_item *it = l->tab ? l->tab[bucket(l, key)] : NULL;
	while (it && memcmp(it->key, key, 16))
		it = it->hnext;
	if (it)
		unlink_item(l, it);
}

void lru_put(struct lru *l, struct mem_item *it, int64_t now_ns)
{
	if (!l->tab || it->bytes > l->max_bytes) {
		mem_release(it);
		return;
	}
	struct mem_item *old = l->tab[bucket(l, it->key)];
	while (old && memcmp(old->key, it->key, 16))
		old = old->hnext;
	if (old)
		unlink_item(l, old);
	it->added_ns = now_ns;
	size_t b = bucket(l, it->key);
	it->hnext = l->tab[b];
	l->tab[b] = it;
	it->next = l->head.next;
	it->prev = &l->head;
	l->head.next->prev = it;
	l->head.next = it;
	l->n++;
	l->bytes += it->bytes;
	while (l->n > l->max_n || l->bytes > l->max_bytes) {
		unlink_item(l, l->head.prev);
		l->evictions++;
	}
}

void lru_free(struct lru *l)
{
	while (l->n)
		unlink_item(l, l->head.prev);
	free(l->tab);
	l->tab = NULL;
}
