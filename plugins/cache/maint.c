/* maint.c - the disk level's upkeep, all under DIR/v1's lock (disk.c):
 * walking the store, its usage, gc (LRU entries and packs past the cap,
 * unreferenced blobs, stale temporary files), clear, verify, and the counters
 * over all runs in DIR/v1/stats. A pack (pack.c) is one unit for gc: its
 * mtime is the last use of any entry in it. disk.c owns the layout and a single entry's or
 * blob's read and write; the invariants are those at the top of disk.c.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- walking the store -------------------------------------------------------- */

typedef void (*scan_fn)(void *ud, const char *path, const char *name, const struct stat *st);

static void scan_one(const char *path, const char *name, const struct stat *st, scan_fn fn,
                     scan_fn tmpfn, void *ud)
{
	if (!S_ISREG(st->st_mode))
		return;
	if (is_tmpname(name)) {
		if (tmpfn)
			tmpfn(ud, path, name, st);
	} else if (name[0] != '.' && fn) {
		fn(ud, path, name, st);
	}
}

/* Calls fn for each file DIR/v1/top/xx/NAME (DIR/v1/NAME when top is NULL,
 * DIR/v1/packs/NAME for "packs"), and tmpfn for each temporary file among them. */
static void scan(struct cache *c, const char *top, scan_fn fn, scan_fn tmpfn, void *ud)
{
	int flat = !top || !strcmp(top, "packs");
	char *base = top ? disk_sub(c, top) : strdup(c->root);
	DIR *d = base ? opendir(base) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = path_join(base, de->d_name);
		struct stat st;
		if (!p || lstat(p, &st) != 0) {
			free(p);
			continue;
		}
		if (flat) {
			scan_one(p, de->d_name, &st, fn, tmpfn, ud);
		} else if (S_ISDIR(st.st_mode)) {
			DIR *d2 = opendir(p);
			struct dirent *de2;
			while (d2 && (de2 = readdir(d2))) {
				char *q = path_join(p, de2->d_name);
				struct stat st2;
				if (q && lstat(q, &st2) == 0)
					scan_one(q, de2->d_name, &st2, fn, tmpfn, ud);
				free(q);
			}
			if (d2)
				closedir(d2);
		}
		free(p);
	}
	if (d)
		closedir(d);
	free(base);
}

/* Distinct keys: a key may be in a file and in packs (written by two processes). */
struct keyset {
	uint8_t (*k)[16];
	size_t n, cap;
};

static void keyset_add(struct keyset *ks, const uint8_t key[16])
{
	if (ks->n == ks->cap) {
		size_t n = ks->cap ? ks->cap * 2 : 256;
		void *p = realloc(ks->k, n * 16);
		if (!p)
			return;
		ks->k = p;
		ks->cap = n;
	}
	memcpy(ks->k[ks->n++], key, 16);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* The number of distinct keys; frees the set. */
static uint64_t keyset_count(struct keyset *ks)
{
	uint64_t n = 0;
	if (ks->n)
		qsort(ks->k, ks->n, 16, cmp_key);
	for (size_t i = 0; i < ks->n; i++)
		n += i == 0 || memcmp(ks->k[i], ks->k[i - 1], 16) != 0;
	free(ks->k);
	memset(ks, 0, sizeof *ks);
	return n;
}

struct usage {
	struct disk_usage *u;
	struct keyset ks;
};

static void count_entry(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct usage *x = ud;
	uint8_t key[16];
	(void)path;
	if (unhex16(name, key))
		return;
	keyset_add(&x->ks, key);
	x->u->entry_bytes += disk_bytes(st);
}

static void count_rec(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad)
{
	(void)p;
	(void)n;
	(void)bad;
	keyset_add(&((struct usage *)ud)->ks, rec);
}

static void count_pack(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct usage *x = ud;
	const char *why;
	if (!pack_name_ok(name))
		return;
	pack_walk(path, NULL, count_rec, x, &why);
	x->u->entry_bytes += disk_bytes(st);
}

static void count_blob(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct disk_usage *u = ((struct usage *)ud)->u;
	(void)path;
	(void)name;
	u->blobs++;
	u->blob_bytes += disk_bytes(st);
}

static void count_tmp(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct disk_usage *u = ((struct usage *)ud)->u;
	(void)path;
	(void)name;
	u->tmp++;
	u->tmp_bytes += disk_bytes(st);
}

static uint64_t file_bytes(struct cache *c, const char *name)
{
	char *p = disk_sub(c, name);
	struct stat st;
	uint64_t n = p && stat(p, &st) == 0 ? disk_bytes(&st) : 0;
	free(p);
	return n;
}

void disk_usage_scan(struct cache *c, struct disk_usage *u)
{
	struct usage x = {u, {0}};
	memset(u, 0, sizeof *u);
	scan(c, "entries", count_entry, count_tmp, &x);
	scan(c, "packs", count_pack, count_tmp, &x);
	scan(c, "blobs", count_blob, count_tmp, &x);
	scan(c, NULL, NULL, count_tmp, &x);
	u->entries = keyset_count(&x.ks);
	u->other_bytes = file_bytes(c, "statcache") + file_bytes(c, "stats");
}

/* ---- gc ------------------------------------------------------------------------ */

struct gcent {
	uint8_t key[16];
	int64_t mtime_ns;
	uint64_t bytes;
	size_t ref0, nref; /* its blob hashes: refs[ref0 .. ref0 + nref) */
	char *path;
};

struct gcblob {
	uint8_t h[16];
	uint64_t bytes;
	uint32_t refs;
	char *path;
};

struct gc {
	struct cache *c;
	struct gcent *e;
	size_t ne, cape;
	uint8_t (*refs)[16];
	size_t nrefs, caprefs;
	struct gcblob *b;
	size_t nb, capb;
	struct gbx_buf buf;
	struct disk_usage *u;
	int oom;
};

static void gc_ref(void *ud, const uint8_t h[16])
{
	struct gc *g = ud;
	if (g->nrefs == g->caprefs) {
		size_t n = g->caprefs ? g->caprefs * 2 : 256;
		void *p = realloc(g->refs, n * 16);
		if (!p) {
			g->oom = 1;
			return;
		}
		g->refs = p;
		g->caprefs = n;
	}
	memcpy(g->refs[g->nrefs++], h, 16);
}

static void gc_entry(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct gc *g = ud;
	uint8_t key[16];
	if (unhex16(name, key) || read_file(path, &g->buf, (uint64_t)1 << 30))
		return; /* not ours, or gone meanwhile */
	size_t ref0 = g->nrefs;
	const char *why;
	struct centry e;
	if (entry_decode((const uint8_t *)g->buf.p, g->buf.len, key, &e, &why)) {
		unlink(path);
		g->u->corrupt++;
		return;
	}
	entry_clear(&e);
	entry_blobs((const uint8_t *)g->buf.p, g->buf.len, gc_ref, g);
	if (g->ne == g->cape) {
		size_t n = g->cape ? g->cape * 2 : 256;
		struct gcent *p = realloc(g->e, n * sizeof *p);
		if (!p) {
			g->oom = 1;
			return;
		}
		g->e = p;
		g->cape = n;
	}
	struct gcent *x = &g->e[g->ne];
	memcpy(x->key, key, 16);
	x->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	x->bytes = disk_bytes(st);
	x->ref0 = ref0;
	x->nref = g->nrefs - ref0;
	if (!(x->path = strdup(path))) {
		g->oom = 1;
		return;
	}
	g->ne++;
}

static void gc_rec(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad)
{
	struct centry e;
	if (!p || bad || entry_decode(p, n, rec, &e, &bad))
		return; /* damaged: dropped when the pack is salvaged or evicted */
	entry_clear(&e);
	entry_blobs(p, n, gc_ref, ud);
}

/* A pack: one unit, referring to the blobs of all its entries. */
static void gc_pack(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct gc *g = ud;
	if (!pack_name_ok(name))
		return;
	size_t ref0 = g->nrefs;
	const char *why;
	struct gbx_buf buf = {0};
	int rc = pack_walk(path, &buf, gc_rec, g, &why);
	gbx_buf_free(&buf);
	if (rc) {
		if (rc < 0 && unlink(path) == 0)
			g->u->corrupt++;
		g->nrefs = ref0;
		return;
	}
	if (g->ne == g->cape) {
		size_t n = g->cape ? g->cape * 2 : 256;
		struct gcent *p = realloc(g->e, n * sizeof *p);
		if (!p) {
			g->oom = 1;
			return;
		}
		g->e = p;
		g->cape = n;
	}
	struct gcent *x = &g->e[g->ne];
	memset(x->key, 0, 16);
	x->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	x->bytes = disk_bytes(st);
	x->ref0 = ref0;
	x->nref = g->nrefs - ref0;
	if (!(x->path = strdup(path))) {
		g->oom = 1;
		return;
	}
	g->ne++;
}

static void gc_blob(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct gc *g = ud;
	uint8_t h[16];
	if (unhex16(name, h))
		return;
	if (g->nb == g->capb) {
		size_t n = g->capb ? g->capb * 2 : 256;
		struct gcblob *p = realloc(g->b, n * sizeof *p);
		if (!p) {
			g->oom = 1;
			return;
		}
		g->b = p;
		g->capb = n;
	}
	struct gcblob *b = &g->b[g->nb];
	memcpy(b->h, h, 16);
	b->bytes = disk_bytes(st);
	b->refs = 0;
	if (!(b->path = strdup(path))) {
		g->oom = 1;
		return;
	}
	g->nb++;
}

static void gc_tmp(void *ud, const char *path, const char *name, const struct stat *st)
{
	(void)ud;
	(void)name;
	/* stores hold the shared lock, but the stats and stat cache files are written
	 * without it, and outputs are staged beside their place: only what is clearly
	 * abandoned goes */
	if ((int64_t)st->st_mtim.tv_sec < wall_ns() / 1000000000 - 600)
		unlink(path);
}

static int cmp_blob(const void *a, const void *b)
{
	return memcmp(((const struct gcblob *)a)->h, ((const struct gcblob *)b)->h, 16);
}

static int cmp_age(const void *a, const void *b)
{
	int64_t x = ((const struct gcent *)a)->mtime_ns, y = ((const struct gcent *)b)->mtime_ns;
	return x < y ? -1 : x > y;
}

static struct gcblob *find_blob(struct gc *g, const uint8_t h[16])
{
	struct gcblob key = {{0}, 0, 0, NULL};
	memcpy(key.h, h, 16);
	return g->nb ? bsearch(&key, g->b, g->nb, sizeof *g->b, cmp_blob) : NULL;
}

int disk_gc(struct cache *c, uint64_t cap, int wait, struct disk_usage *u)
{
	memset(u, 0, sizeof *u);
	int lk = disk_lock(c, 1, wait);
	if (lk < 0)
		return c->disk_ok ? 1 : -1;
	struct gc g = {0};
	g.c = c;
	g.u = u;
	scan(c, NULL, NULL, gc_tmp, &g);
	scan(c, "entries", gc_entry, gc_tmp, &g);
	scan(c, "packs", gc_pack, gc_tmp, &g);
	scan(c, "blobs", gc_blob, gc_tmp, &g);
	if (g.oom) {
		cache_log(c, 1, "gc: out of memory; nothing evicted");
		goto out;
	}
	if (g.nb)
		qsort(g.b, g.nb, sizeof *g.b, cmp_blob);
	for (size_t i = 0; i < g.nrefs; i++) {
		struct gcblob *b = find_blob(&g, g.refs[i]);
		if (b)
			b->refs++;
	}
	uint64_t total = file_bytes(c, "statcache") + file_bytes(c, "stats");
	for (size_t i = 0; i < g.nb; i++) {
		if (g.b[i].refs == 0) {
			unlink(
			    g.b[i].path); /* orphans: left by an interrupted store or an eviction */
			u->orphans++;
			u->orphan_bytes += g.b[i].bytes;
		} else {
			total += g.b[i].bytes;
		}
	}
	for (size_t i = 0; i < g.ne; i++)
		total += g.e[i].bytes;
	if (total > cap) {
		uint64_t target = cap / 10 * 9; /* room for a few runs before the next gc */
		if (g.ne)
			qsort(g.e, g.ne, sizeof *g.e, cmp_age);
		for (size_t i = 0; i < g.ne && total > target; i++) {
			struct gcent *x = &g.e[i];
			if (unlink(x->path) != 0 && errno != ENOENT)
				continue;
			total -= x->bytes;
			u->evicted++;
			u->evicted_bytes += x->bytes;
			for (size_t j = 0; j < x->nref; j++) {
				struct gcblob *b = find_blob(&g, g.refs[x->ref0 + j]);
				if (b && b->refs && --b->refs == 0) {
					unlink(b->path);
					total -= b->bytes;
					u->evicted_bytes += b->bytes;
				}
			}
		}
	}
	struct disk_stats none = {0};
	stats_update(c, &none, 1, total, NULL);
out:
	disk_unlock(lk);
	for (size_t i = 0; i < g.ne; i++)
		free(g.e[i].path);
	for (size_t i = 0; i < g.nb; i++)
		free(g.b[i].path);
	free(g.e);
	free(g.b);
	free(g.refs);
	gbx_buf_free(&g.buf);
	return g.oom ? -1 : 0;
}

/* ---- clear --------------------------------------------------------------------- */

static void rm_file(void *ud, const char *path, const char *name, const struct stat *st)
{
	(void)name;
	(void)st;
	if (unlink(path) == 0)
		(*(uint64_t *)ud)++;
}

static void rm_fanout(struct cache *c, const char *top)
{
	char *base = disk_sub(c, top);
	DIR *d = base ? opendir(base) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = path_join(base, de->d_name);
		if (p)
			rmdir(p);
		free(p);
	}
	if (d)
		closedir(d);
	free(base);
}

int disk_clear(struct cache *c)
{
	int lk = disk_lock(c, 1, 1);
	if (lk < 0)
		return -1;
	uint64_t n = 0;
	scan(c, "entries", rm_file, rm_file, &n);
	scan(c, "packs", rm_file, rm_file, &n);
	scan(c, "blobs", rm_file, rm_file, &n);
	scan(c, "deps", rm_file, rm_file, &n);
	scan(c, NULL, NULL, rm_file, &n);
	rm_fanout(c, "entries");
	rm_fanout(c, "blobs");
	rm_fanout(c, "deps");
	static const char *const files[] = {"statcache", "stats"};
	for (size_t i = 0; i < 2; i++) {
		char *p = disk_sub(c, files[i]);
		if (p)
			unlink(p);
		free(p);
	}
	disk_unlock(lk);
	return 0;
}

/* ---- verify --------------------------------------------------------------------- */

struct vfy {
	struct cache *c;
	struct gbx_buf buf, blob;
	uint64_t bad;
	struct keyset ks;
	const char *pack; /* the pack being checked, or NULL */
};

static void vfy_bytes(struct vfy *v, const char *name, const uint8_t *key, const uint8_t *p,
                      size_t len);

static void vfy_entry(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct vfy *v = ud;
	uint8_t key[16];
	(void)st;
	if (unhex16(name, key))
		return;
	int rc = read_file(path, &v->buf, (uint64_t)1 << 30);
	if (rc == -ENOENT)
		return;
	keyset_add(&v->ks, key);
	if (rc) {
		printf("entry %s: cannot be read: %s\n", name, strerror(-rc));
		v->bad++;
		return;
	}
	vfy_bytes(v, name, key, (const uint8_t *)v->buf.p, v->buf.len);
}

static void vfy_rec(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad)
{
	struct vfy *v = ud;
	char name[128], hex[33];
	hex16(rec, hex);
	snprintf(name, sizeof name, "%s (in pack %s)", hex, v->pack);
	keyset_add(&v->ks, rec);
	if (bad) {
		printf("entry %s: %s\n", name, bad);
		v->bad++;
		return;
	}
	vfy_bytes(v, name, rec, p, n);
}

static void vfy_pack(void *ud, const char *path, const char *name, const struct stat *st)
{
	struct vfy *v = ud;
	const char *why = NULL;
	struct gbx_buf buf = {0};
	(void)st;
	if (!pack_name_ok(name))
		return;
	v->pack = name;
	if (pack_walk(path, &buf, vfy_rec, v, &why) < 0) {
		printf("pack %s: %s\n", name, why);
		v->bad++;
	}
	gbx_buf_free(&buf);
}

static void vfy_bytes(struct vfy *v, const char *name, const uint8_t *key, const uint8_t *buf,
                      size_t len)
{
	const char *why = NULL;
	struct centry e;
	if (entry_decode(buf, len, key, &e, &why)) {
		printf("entry %s: %s\n", name, why);
		v->bad++;
		return;
	}
	const struct cpayload *ps[2] = {&e.out, &e.err};
	int ok = 1;
	for (uint32_t i = 0; i < e.nout + 2 && ok; i++) {
		const struct cpayload *p = i < 2 ? ps[i] : &e.outs[i - 2].p;
		uint8_t h[16];
		if (i >= 2 && e.outs[i - 2].type != OT_FILE && e.outs[i - 2].type != OT_LINK)
			continue; /* folders and absent outputs have no content */
		if (p->where == PL_INLINE) {
			hash_bytes(p->data ? (const char *)p->data : "", (size_t)p->len, h);
			if (memcmp(h, p->hash, 16)) {
				printf("entry %s: inline data does not match its hash\n", name);
				ok = 0;
			}
		} else if (blob_load(v->c, p->hash, p->len, &v->blob, &why)) {
			char hex[33];
			hex16(p->hash, hex);
			printf("entry %s: blob %s: %s\n", name, hex, why);
			ok = 0;
		}
	}
	if (!ok)
		v->bad++;
	entry_clear(&e);
}

int disk_verify(struct cache *c, uint64_t *nentries, uint64_t *nbad)
{
	struct vfy v = {0};
	v.c = c;
	int lk = disk_lock(c, 0, 1);
	if (lk < 0)
		return -1;
	scan(c, "entries", vfy_entry, NULL, &v);
	scan(c, "packs", vfy_pack, NULL, &v);
	disk_unlock(lk);
	gbx_buf_free(&v.buf);
	gbx_buf_free(&v.blob);
	*nentries = keyset_count(&v.ks);
	*nbad = v.bad;
	return 0;
}

/* ---- stats ---------------------------------------------------------------------- */

static const char *const stat_names[] = {
    "runs",        "hits",         "misses",     "stores",       "corrupt",
    "saved_ms",    "bytes",        "hits_memory", "hits_disk",   "hits_remote",
    "bytes_memory", "bytes_disk",  "bytes_remote", "remote_read", "remote_written",
    "remote_errors", "fills"};

static uint64_t *stat_field(struct disk_stats *s, size_t i)
{
	uint64_t *f[] = {&s->runs,        &s->hits,       &s->misses,     &s->stores,
	                 &s->corrupt,     &s->saved_ms,   &s->bytes,      &s->hits_mem,
	                 &s->hits_disk,   &s->hits_remote, &s->bytes_mem, &s->bytes_disk,
	                 &s->bytes_remote, &s->remote_in, &s->remote_out, &s->remote_errors,
	                 &s->fills};
	return f[i];
}

static void stats_parse(const char *text, struct disk_stats *s)
{
	memset(s, 0, sizeof *s);
	for (const char *l = text; l && *l;) {
		for (size_t i = 0; i < sizeof stat_names / sizeof *stat_names; i++) {
			size_t n = strlen(stat_names[i]);
			if (!strncmp(l, stat_names[i], n) && l[n] == ' ')
				*stat_field(s, i) = strtoull(l + n + 1, NULL, 10);
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
}

int stats_read(struct cache *c, struct disk_stats *s)
{
	struct gbx_buf b = {0};
	char *p = disk_sub(c, "stats");
	int rc = p ? read_file(p, &b, 1 << 16) : -ENOMEM;
	stats_parse(rc == 0 ? b.p : NULL, s);
	free(p);
	gbx_buf_free(&b);
	return rc;
}

int stats_update(struct cache *c, const struct disk_stats *add, int set_bytes, uint64_t bytes,
                 struct disk_stats *now)
{
	if (!c->disk_ok)
		return -1;
	char *lp = disk_sub(c, "stats.lock"), *p = disk_sub(c, "stats");
	int fd = lp ? open(lp, O_RDONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
	int rc = -1;
	if (fd < 0 || !p)
		goto out;
	while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	struct disk_stats s;
	struct disk_stats a = *add;
	stats_read(c, &s);
	for (size_t i = 0; i < sizeof stat_names / sizeof *stat_names; i++)
		*stat_field(&s, i) += *stat_field(&a, i);
	if (set_bytes)
		s.bytes = bytes;
	struct gbx_buf b = {0};
	for (size_t i = 0; i < sizeof stat_names / sizeof *stat_names; i++)
		gbx_buf_addf(&b, "%s %llu\n", stat_names[i], (unsigned long long)*stat_field(&s, i));
	rc = b.p ? disk_write_atomic(c, p, b.p, b.len) : -1;
	gbx_buf_free(&b);
	if (now)
		*now = s;
out:
	if (fd >= 0)
		close(fd);
	free(lp);
	free(p);
	return rc;
}
