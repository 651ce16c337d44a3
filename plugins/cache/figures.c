/* figures.c - the cache's per-level figures for other plugins (telemetry),
 * published at the end of a run through host->counter_set (ABI 1.5).
 *
 * A lookup asks memory, then disk, then the remote, and stops at the first
 * hit; so the lookups that missed a level are the hits of the levels below
 * it plus the lookups no level answered. Names (host adds "cache."):
 *   mem.hits mem.misses mem.bytes, disk.hits disk.misses disk.bytes,
 *   remote.hits remote.misses remote.bytes (only with a remote), misses
 *   (no level answered), stores (entries this run produced), fills (remote
 *   hits written to the disk level); bytes: what hits of the level replayed.
 */
#include "cache.h"

static uint64_t ld(_Atomic uint64_t *x)
{
	return atomic_load_explicit(x, memory_order_relaxed);
}

void cache_publish(struct cache *c)
{
	const struct gbx_host *h = c->host;
	if (h->abi_minor < 5 || !GBX_HOST_HAS(h, counter_set) || !h->counter_set)
		return;
	uint64_t hm = ld(&c->n.hits_mem), hd = ld(&c->n.hits_disk), hr = ld(&c->n.hits_remote);
	uint64_t miss = ld(&c->n.misses);
	const struct {
		const char *name;
		uint64_t v;
		int on;
	} f[] = {
	    {"mem.hits", hm, 1},
	    {"mem.misses", hd + hr + miss, 1},
	    {"mem.bytes", ld(&c->n.bytes_mem), 1},
	    {"disk.hits", hd, 1},
	    {"disk.misses", hr + miss, 1},
	    {"disk.bytes", ld(&c->n.bytes_disk), 1},
	    {"remote.hits", hr, c->rm != NULL},
	    {"remote.misses", miss, c->rm != NULL},
	    {"remote.bytes", ld(&c->n.bytes_remote), c->rm != NULL},
	    {"misses", miss, 1},
	    {"stores", ld(&c->n.stores), 1},
	    {"fills", ld(&c->n.fills), 1},
	};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		if (f[i].on)
			h->counter_set(h->ctx, f[i].name, (int64_t)f[i].v);
}
