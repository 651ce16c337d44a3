/* statcache.c - content hashes of input files, vouched for by stat().
 *
 * As in ninja and ccache: a file whose (dev, inode, size, mtime, ctime) match a
 * record is not read again; the record's hash is used. A file that changed in
 * the CACHE_STAT_SLACK_NS before we started reading it is never recorded: its
 * timestamp may not move on a second change within the file system's clock
 * granularity ("racily clean" in git's words), so it is read every time.
 *
 * Persisted in DIR/v1/statcache, written atomically (temp file, rename) at the
 * end of a run that changed it, merged with what other processes wrote since;
 * records unused for 30 days are dropped then.
 *   "GBXS" | u32 format | u64 body length | u64 XXH3-64 of body
 *   body: u64 count | count x (u32 path length | path | u64 dev, ino, size |
 *         i64 mtime_ns, ctime_ns, used_s | hash[16])
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define SC_KEEP_S (30 * 24 * 3600)

struct screc {
	struct screc *next;
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns, used_s;
	uint8_t hash[16];
	char path[];
};

static int64_t st_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int64_t st_ctime_ns(const struct stat *st)
{
	return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int sc_trustworthy(const struct stat *st, int64_t start_ns)
{
	int64_t m = st_mtime_ns(st), c = st_ctime_ns(st);
	return (m > c ? m : c) < start_ns - CACHE_STAT_SLACK_NS;
}

int sc_init(struct statcache *sc)
{
	memset(sc, 0, sizeof *sc);
	sc->nb = 256;
	sc->tab = calloc(sc->nb, sizeof *sc->tab);
	sc->now_s = wall_ns() / 1000000000;
	if (!sc->tab)
		return -1;
	pthread_mutex_init(&sc->mu, NULL);
	return 0;
}

void sc_free(struct statcache *sc)
{
	if (!sc->tab)
		return;
	for (size_t i = 0; i < sc->nb; i++)
		for (struct screc *r = sc->tab[i], *n; r; r = n) {
			n = r->next;
			free(r);
		}
	free(sc->tab);
	sc->tab = NULL;
	pthread_mutex_destroy(&sc->mu);
}

static size_t sc_bucket(size_t nb, const char *path, size_t len)
{
	return (size_t)(XXH3_64bits(path, len) & (nb - 1));
}

static void sc_grow(struct statcache *sc)
{
	size_t nb = sc->nb * 4;
	struct screc **tab = calloc(nb, sizeof *tab);
	if (!tab)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < sc->nb; i++)
		for (struct screc *r = sc->tab[i], *n; r; r = n) {
			n = r->next;
			size_t b = sc_bucket(nb, r->path, strlen(r->path));
			r->next = tab[b];
			tab[b] = r;
		}
	free(sc->tab);
	sc->tab = tab;
	sc->nb = nb;
}

static struct screc **sc_find(struct statcache *sc, const char *path, size_t len)
{
	struct screc **pp = &sc->tab[sc_bucket(sc->nb, path, len)];
	while (*pp && strcmp((*pp)->path, path))
		pp = &(*pp)->next;
	return pp;
}

/* Inserts r unless the table has the path with a newer use (under sc->mu). */
static void sc_insert(struct statcache *sc, struct screc *r, int replace)
{
	size_t len = strlen(r->path);
	struct screc **pp = sc_find(sc, r->path, len);
	if (*pp) {
		if (!replace) {
			free(r);
			return;
		}
		struct screc *old = *pp;
		r->next = old->next;
		*pp = r;
		free(old);
		return;
	}
	r->next = NULL;
	*pp = r;
	if (++sc->n > sc->nb * 2)
		sc_grow(sc);
}

int sc_lookup(struct statcache *sc, const char *path, const struct stat *st, uint8_t h[16])
{
	int hit = 0;
	pthread_mutex_lock(&sc->mu);
	struct screc *r = *sc_find(sc, path, strlen(path));
	if (r && r->dev == (uint64_t)st->st_dev && r->ino == (uint64_t)st->st_ino &&
	    r->size == (uint64_t)st->st_size && r->mtime_ns == st_mtime_ns(st) &&
	    r->ctime_ns == st_ctime_ns(st)) {
		memcpy(h, r->hash, 16);
		hit = 1;
		if (r->used_s < sc->now_s - 24 * 3600) { /* refresh "used" about daily */
			r->used_s = sc->now_s;
			sc->dirty = 1;
		}
	}
	pthread_mutex_unlock(&sc->mu);
	return hit;
}

static struct screc *sc_rec(const char *path, size_t len)
{
	struct screc *r = malloc(sizeof *r + len + 1);
	if (r) {
		memcpy(r->path, path, len);
		r->path[len] = 0;
	}
	return r;
}

void sc_put(struct statcache *sc, const char *path, const struct stat *st, const uint8_t h[16])
{
	struct screc *r = sc_rec(path, strlen(path));
	if (!r)
		return;
	r->dev = (uint64_t)st->st_dev;
	r->ino = (uint64_t)st->st_ino;
	r->size = (uint64_t)st->st_size;
	r->mtime_ns = st_mtime_ns(st);
	r->ctime_ns = st_ctime_ns(st);
	r->used_s = sc->now_s;
	memcpy(r->hash, h, 16);
	pthread_mutex_lock(&sc->mu);
	sc_insert(sc, r, 1);
	sc->dirty = 1;
	pthread_mutex_unlock(&sc->mu);
}

/* ---- the file ---------------------------------------------------------------- */

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads FILE into the table; replace: its records win over the table's. */
static int sc_read(struct statcache *sc, const char *file, int replace, const char **why)
{
	struct gbx_buf b = {0};
	int rc = read_file(file, &b, (uint64_t)1 << 32);
	if (rc) {
		gbx_buf_free(&b);
		if (rc == -ENOENT)
			return 1;
		*why = rc == -EINVAL ? "is not a regular file" : "cannot be read";
		return -1;
	}
	const uint8_t *p = (const uint8_t *)b.p, *end = p + b.len;
	*why = "damaged";
	rc = -1;
	if (b.len < 32 || memcmp(p, "GBXS", 4) || rd32(p + 4) != CACHE_FORMAT ||
	    rd64(p + 8) != b.len - 24 || XXH3_64bits(p + 24, b.len - 24) != rd64(p + 16))
		goto out;
	uint64_t n = rd64(p + 24);
	p += 32;
	pthread_mutex_lock(&sc->mu);
	for (uint64_t i = 0; i < n; i++) {
		if (end - p < 4)
			break;
		uint32_t len = rd32(p);
		if ((uint64_t)(end - p) < 4 + (uint64_t)len + 64)
			break;
		struct screc *r = sc_rec((const char *)p + 4, len);
		if (!r)
			break;
		p += 4 + len;
		r->dev = rd64(p);
		r->ino = rd64(p + 8);
		r->size = rd64(p + 16);
		r->mtime_ns = (int64_t)rd64(p + 24);
		r->ctime_ns = (int64_t)rd64(p + 32);
		r->used_s = (int64_t)rd64(p + 40);
		memcpy(r->hash, p + 48, 16);
		p += 64;
		if (r->used_s < sc->now_s - SC_KEEP_S || strlen(r->path) != len)
			free(r);
		else
			sc_insert(sc, r, replace);
	}
	pthread_mutex_unlock(&sc->mu);
	if (p == end)
		rc = 0;
out:
	gbx_buf_free(&b);
	return rc;
}

int sc_load(struct statcache *sc, const char *file, const char **why)
{
	return sc_read(sc, file, 1, why);
}

int sc_save(struct statcache *sc, const char *file, const char *tmp)
{
	const char *why;
	if (!sc->dirty)
		return 0;
	sc_read(sc, file, 0, &why); /* what others wrote meanwhile; ours win */
	struct gbx_buf b = {0};
	uint8_t hdr[32] = "GBXS";
	int rc = -ENOMEM;
	if (gbx_buf_add(&b, hdr, sizeof hdr))
		goto out;
	uint64_t n = 0;
	pthread_mutex_lock(&sc->mu);
	for (size_t i = 0; i < sc->nb; i++)
		for (struct screc *r = sc->tab[i]; r; r = r->next) {
			if (r->used_s < sc->now_s - SC_KEEP_S)
				continue;
			uint8_t x[64];
			uint32_t len = (uint32_t)strlen(r->path);
			uint8_t l4[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
			                 (uint8_t)(len >> 24)};
			wr64(x, r->dev);
			wr64(x + 8, r->ino);
			wr64(x + 16, r->size);
			wr64(x + 24, (uint64_t)r->mtime_ns);
			wr64(x + 32, (uint64_t)r->ctime_ns);
			wr64(x + 40, (uint64_t)r->used_s);
			memcpy(x + 48, r->hash, 16);
			if (gbx_buf_add(&b, l4, 4) || gbx_buf_add(&b, r->path, len) || gbx_buf_add(&b, x, 64)) {
				pthread_mutex_unlock(&sc->mu);
				goto out;
			}
			n++;
		}
	sc->dirty = 0;
	pthread_mutex_unlock(&sc->mu);
	uint8_t *p = (uint8_t *)b.p;
	wr64(p + 24, n);
	p[4] = CACHE_FORMAT;
	wr64(p + 8, b.len - 24);
	wr64(p + 16, XXH3_64bits(p + 24, b.len - 24));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, b.p, b.len);
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, file))
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	gbx_buf_free(&b);
	return rc;
}
