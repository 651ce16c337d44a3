/* pack.c - the disk level's packs: many entries in one file.
 *
 * Creating a file on ext4 costs 0.1 to 1 ms (more right after many were
 * deleted), more than running `true`. So an entry without blobs (all its
 * content inline, as for most short tasks) is not written as a file of its
 * own: it waits in memory, where this process finds it at once, and the
 * writer thread (writer.c) writes the waiting entries together as one pack,
 * DIR/v1/packs/NAME.pack, when a batch is full (PACK_BATCH entries or
 * PACK_BATCH_BYTES), when the oldest has waited PACK_WAIT_MS, and at the end
 * of the run at the latest. A remote hit fills the disk level the same way.
 *
 *   header  "GBXP" | u32 format (1) | u32 count | u32 0 | u64 XXH3-64 of the index | u64 0
 *   index   count x (key[16] | u64 offset | u64 length)
 *   data    the entries, each encoded as an entry file is (entry.c: its own checksum)
 *
 * A pack is written beside its place and renamed, so it is whole or absent;
 * each entry in it is checked when read, as an entry file is. A kill -9 loses
 * the entries still waiting (later misses), never serves a damaged one.
 * NAME starts with the time in hex, so names sort oldest first; when two
 * packs hold a key, the newer one is read.
 *
 * Other processes' packs: the first miss loads every pack's index; later
 * misses look at the packs folder's mtime (one stat) and load the packs that
 * appeared since. A damaged entry in a pack makes the pack be salvaged: its
 * sound entries wait to be written again in a new pack, the damaged ones are
 * dropped with a warning, and the old pack is removed. gc (maint.c) treats a
 * pack as one unit (its mtime is the last use of any of its entries), and
 * pack_compact merges them when there are more than PACK_MAX.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PACK_FORMAT 1
#define PACK_HEADER 32
#define PACK_REC 32
#define PACK_RECHECK_NS 50000000LL /* a folder changed this close to a scan is scanned again */

/* An entry's place: waiting in memory (job) or in pack number pk. */
struct pref {
	struct pref *next;
	uint8_t key[16];
	struct pjob *job; /* waiting: its bytes (owned by the job) */
	uint32_t pk;
	uint64_t off, len;
};

struct pjob {
	struct pjob *next;
	uint8_t key[16];
	enum wkind kind; /* what it counts as once written */
	size_t len;
	uint8_t data[];
};

struct pk {
	char *name;
	int gone, touched;
};

struct packs {
	pthread_mutex_t mu;
	char *dir;
	struct pref **tab;
	size_t nb, n;
	struct pk *pk;
	size_t npk, cappk;
	/* the packs folder as last scanned */
	int scanned;
	struct timespec seen;
	int64_t scanned_ns;
	/* waiting to be written */
	struct pjob *head, *tail;
	size_t wait_n, wait_bytes;
	int64_t oldest_ns;
	int accepting; /* a writer runs: new entries may wait */
	atomic_uint seq;
};

static uint64_t get_u64(const uint8_t *x)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | x[i];
	return v;
}

static uint32_t get_u32(const uint8_t *x)
{
	return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static void set_u64(uint8_t *x, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
}

static void set_u32(uint8_t *x, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
}

static int64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int grow_buf(struct gbx_buf *b, uint64_t n)
{
	char *p = realloc(b->p, (size_t)n);
	if (!p)
		return -1;
	b->p = p;
	b->cap = (size_t)n;
	return 0;
}

static size_t slot(const struct packs *s, const uint8_t key[16])
{
	uint64_t h;
	memcpy(&h, key, 8);
	return (size_t)h & (s->nb - 1);
}

static struct pref *find(struct packs *s, const uint8_t key[16])
{
	for (struct pref *r = s->tab[slot(s, key)]; r; r = r->next)
		if (!memcmp(r->key, key, 16))
			return r;
	return NULL;
}

static int grow(struct packs *s)
{
	size_t nb = s->nb * 2;
	struct pref **t = calloc(nb, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < s->nb; i++)
		for (struct pref *r = s->tab[i], *nx; r; r = nx) {
			nx = r->next;
			uint64_t h;
			memcpy(&h, r->key, 8);
			size_t j = (size_t)h & (nb - 1);
			r->next = t[j];
			t[j] = r;
		}
	free(s->tab);
	s->tab = t;
	s->nb = nb;
	return 0;
}

/* The place of key, a new one when absent (NULL: out of memory). */
static struct pref *place(struct packs *s, const uint8_t key[16])
{
	struct pref *r = find(s, key);
	if (r)
		return r;
	if (s->n >= s->nb && grow(s))
		return NULL;
	if (!(r = calloc(1, sizeof *r)))
		return NULL;
	memcpy(r->key, key, 16);
	size_t i = slot(s, key);
	r->next = s->tab[i];
	s->tab[i] = r;
	s->n++;
	return r;
}

static void drop(struct packs *s, const uint8_t key[16])
{
	for (struct pref **pp = &s->tab[slot(s, key)]; *pp; pp = &(*pp)->next)
		if (!memcmp((*pp)->key, key, 16)) {
			struct pref *r = *pp;
			*pp = r->next;
			free(r);
			s->n--;
			return;
		}
}

/* Forgets the entries read from pack i (gone, or salvaged). */
static void forget_pack(struct packs *s, uint32_t i)
{
	s->pk[i].gone = 1;
	for (size_t b = 0; b < s->nb; b++)
		for (struct pref **pp = &s->tab[b]; *pp;) {
			struct pref *r = *pp;
			if (!r->job && r->pk == i) {
				*pp = r->next;
				free(r);
				s->n--;
			} else {
				pp = &r->next;
			}
		}
}

/* Opens a pack for reading without blocking on a FIFO or reading a device:
 * fd >= 0, or -1 with errno (EINVAL: not a regular file). */
static int open_pack(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static char *pack_file(struct packs *s, const char *name)
{
	return path_join(s->dir, name);
}

int pack_name_ok(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".pack");
}

/* Reads a pack's header and index into buf: 0 with *count and *index, or -1
 * with why. size: the file's size, to check the index against. */
static int read_index(int fd, struct gbx_buf *buf, uint32_t *count, const uint8_t **index,
                      uint64_t *size, const char **why)
{
	struct stat st;
	uint8_t h[PACK_HEADER];
	if (fstat(fd, &st) || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
		*why = "truncated";
		return -1;
	}
	if (memcmp(h, "GBXP", 4) || get_u32(h + 4) != PACK_FORMAT) {
		*why = "not a pack of this format";
		return -1;
	}
	*count = get_u32(h + 8);
	uint64_t ilen = (uint64_t)*count * PACK_REC;
	*size = (uint64_t)st.st_size;
	if (PACK_HEADER + ilen > *size) {
		*why = "truncated";
		return -1;
	}
	buf->len = 0;
	if (ilen > ((uint64_t)1 << 32) || (buf->cap < ilen + 1 && grow_buf(buf, ilen + 1))) {
		*why = "out of memory";
		return -1;
	}
	if (ilen) {
		if (pread(fd, buf->p, ilen, PACK_HEADER) != (ssize_t)ilen) {
			*why = "truncated";
			return -1;
		}
	}
	buf->len = ilen;
	if (XXH3_64bits(buf->p ? buf->p : "", ilen) != get_u64(h + 16)) {
		*why = "index checksum mismatch";
		return -1;
	}
	*index = (const uint8_t *)buf->p;
	return 0;
}

int pack_walk(const char *path, struct gbx_buf *buf, pack_fn fn, void *ud, const char **why)
{
	int fd = open_pack(path);
	if (fd < 0) {
		*why = errno == EINVAL ? "is not a regular file" : "cannot be read";
		return errno == ENOENT ? 1 : -1;
	}
	struct gbx_buf ix = {0};
	uint32_t count = 0;
	const uint8_t *index;
	uint64_t size;
	int rc = read_index(fd, &ix, &count, &index, &size, why);
	for (uint32_t i = 0; !rc && i < count; i++) {
		const uint8_t *r = index + (size_t)i * PACK_REC;
		uint64_t off = get_u64(r + 16), len = get_u64(r + 24);
		const char *bad = NULL;
		if (!buf) { /* the index alone */
			fn(ud, r, NULL, 0, NULL);
			continue;
		}
		buf->len = 0;
		if (off > size || len > size - off || len > ((uint64_t)1 << 30)) {
			bad = "truncated";
		} else if (buf->cap < len + 1 && grow_buf(buf, len + 1)) {
			bad = "out of memory";
		} else if (len && pread(fd, buf->p, len, (off_t)off) != (ssize_t)len) {
			bad = "truncated";
		} else {
			buf->len = len;
		}
		fn(ud, r, bad ? NULL : (const uint8_t *)buf->p, bad ? 0 : (size_t)len, bad);
	}
	close(fd);
	gbx_buf_free(&ix);
	return rc;
}

/* Loads the index of pack NAME (not yet known): its entries replace older ones. */
static void load_pack(struct cache *c, struct packs *s, const char *name)
{
	char *path = pack_file(s, name);
	int fd = path ? open_pack(path) : -1;
	struct gbx_buf ix = {0};
	uint32_t count = 0;
	const uint8_t *index;
	uint64_t size;
	const char *why = NULL;
	int rc;
	if (fd < 0 && (!path || errno != EINVAL)) {
		free(path);
		return; /* gone meanwhile (another process's gc) */
	} else if (fd < 0) {
		why = "is not a regular file";
		rc = -1;
	} else {
		rc = read_index(fd, &ix, &count, &index, &size, &why);
		close(fd);
	}
	if (rc) {
		cache_log(c, 1, "cache pack %s is damaged (%s); removed", path, why);
		atomic_fetch_add_explicit(&c->n.corrupt, 1, memory_order_relaxed);
		unlink(path);
		free(path);
		gbx_buf_free(&ix);
		return;
	}
	free(path);
	if (s->npk == s->cappk) {
		size_t n = s->cappk ? s->cappk * 2 : 16;
		struct pk *p = realloc(s->pk, n * sizeof *p);
		if (!p) {
			gbx_buf_free(&ix);
			return;
		}
		s->pk = p;
		s->cappk = n;
	}
	struct pk *p = &s->pk[s->npk];
	if (!(p->name = strdup(name))) {
		gbx_buf_free(&ix);
		return;
	}
	p->gone = p->touched = 0;
	uint32_t me = (uint32_t)s->npk++;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *r = index + (size_t)i * PACK_REC;
		struct pref *x = place(s, r);
		if (!x || x->job)
			continue; /* ours, waiting: newer than any pack */
		x->pk = me;
		x->off = get_u64(r + 16);
		x->len = get_u64(r + 24);
	}
	gbx_buf_free(&ix);
}

static int known(struct packs *s, const char *name)
{
	for (size_t i = 0; i < s->npk; i++)
		if (!strcmp(s->pk[i].name, name))
			return 1;
	return 0;
}

static int new_pack_name(const char *name, void *ud)
{
	return pack_name_ok(name) && !known(ud, name);
}

static int pack_name(const char *name, void *ud)
{
	(void)ud;
	return pack_name_ok(name);
}

/* Loads the packs that appeared since the last look (caller holds s->mu). */
static void rescan(struct cache *c, struct packs *s)
{
	struct stat st;
	if (stat(s->dir, &st))
		return;
	int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (s->scanned && st.st_mtim.tv_sec == s->seen.tv_sec &&
	    st.st_mtim.tv_nsec == s->seen.tv_nsec && s->scanned_ns - m > PACK_RECHECK_NS)
		return;
	int64_t now = wall_ns();
	char **names;
	long got = dir_names(s->dir, new_pack_name, s, &names);
	if (got < 0)
		return;
	for (long i = 0; i < got; i++)
		load_pack(c, s, names[i]);
	free_names(names, (size_t)got);
	s->scanned = 1;
	s->seen = st.st_mtim;
	s->scanned_ns = now;
}

int packs_init(struct cache *c)
{
	struct packs *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->nb = 1024;
	s->tab = calloc(s->nb, sizeof *s->tab);
	s->dir = disk_sub(c, "packs");
	int rc = !s->tab || !s->dir ? -ENOMEM : mkdir_p(s->dir, 0777);
	c->pk = s;
	return rc;
}

void packs_free(struct cache *c)
{
	struct packs *s = c->pk;
	if (!s)
		return;
	for (size_t i = 0; i < s->nb && s->tab; i++)
		for (struct pref *r = s->tab[i], *nx; r; r = nx) {
			nx = r->next;
			free(r);
		}
	for (struct pjob *j = s->head, *nx; j; j = nx) {
		nx = j->next;
		free(j);
	}
	for (size_t i = 0; i < s->npk; i++)
		free(s->pk[i].name);
	free(s->pk);
	free(s->tab);
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
	free(s);
	c->pk = NULL;
}

int pack_has(struct cache *c, const uint8_t key[16])
{
	struct packs *s = c->pk;
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	struct pref *r = find(s, key);
	if (!r) {
		rescan(c, s);
		r = find(s, key);
	}
	pthread_mutex_unlock(&s->mu);
	return r != NULL;
}

/* Salvages pack i after damage was found in it: its sound entries wait to be
 * written again, the damaged ones are dropped with a warning (except key,
 * which the caller reports), and the pack is removed. Caller holds s->mu. */
static void salvage(struct cache *c, struct packs *s, uint32_t i, const uint8_t key[16]);

int pack_read(struct cache *c, const uint8_t key[16], struct gbx_buf *out, const char **why)
{
	struct packs *s = c->pk;
	if (!s)
		return 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&s->mu);
		struct pref *r = find(s, key);
		if (!r) {
			rescan(c, s);
			r = find(s, key);
		}
		if (!r) {
			pthread_mutex_unlock(&s->mu);
			return 1;
		}
		if (r->job) {
			out->len = 0;
			int rc = gbx_buf_add(out, r->job->data, r->job->len);
			pthread_mutex_unlock(&s->mu);
			if (rc) {
				*why = "out of memory";
				return -1;
			}
			return 0;
		}
		uint32_t pk = r->pk;
		uint64_t off = r->off, len = r->len;
		char *path = pack_file(s, s->pk[pk].name);
		pthread_mutex_unlock(&s->mu);
		int fd = path ? open_pack(path) : -1;
		free(path);
		if (fd < 0) {
			/* gone: merged or removed by another process; look again */
			pthread_mutex_lock(&s->mu);
			if (!s->pk[pk].gone)
				forget_pack(s, pk);
			s->scanned = 0;
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		out->len = 0;
		const char *bad = NULL;
		struct stat st;
		if (len > ((uint64_t)1 << 30) || fstat(fd, &st) || off + len > (uint64_t)st.st_size) {
			bad = "truncated";
		} else if (out->cap < len + 1 && grow_buf(out, len + 1)) {
			bad = "out of memory";
		} else if (len && pread(fd, out->p, len, (off_t)off) != (ssize_t)len) {
			bad = "truncated";
		} else {
			out->len = len;
			struct centry e;
			if (entry_decode((const uint8_t *)out->p, out->len, key, &e, &bad) == 0) {
				entry_clear(&e);
				bad = NULL;
			}
		}
		close(fd);
		if (!bad)
			return 0;
		*why = bad;
		pthread_mutex_lock(&s->mu);
		if (!s->pk[pk].gone)
			salvage(c, s, pk, key);
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	return 1;
}

int pack_touch(struct cache *c, const uint8_t key[16])
{
	struct packs *s = c->pk;
	if (!s)
		return 0;
	char *path = NULL;
	pthread_mutex_lock(&s->mu);
	struct pref *r = find(s, key);
	if (r && !r->job && !s->pk[r->pk].touched) {
		s->pk[r->pk].touched = 1; /* once per process: the mtime is the LRU clock */
		path = pack_file(s, s->pk[r->pk].name);
	}
	pthread_mutex_unlock(&s->mu);
	if (path)
		utimensat(AT_FDCWD, path, NULL, 0);
	free(path);
	return r != NULL;
}

/* ---- waiting entries ------------------------------------------------------------ */

/* Queues a job (caller holds s->mu); it becomes the key's place. */
static int enqueue(struct packs *s, struct pjob *j)
{
	struct pref *r = place(s, j->key);
	if (!r)
		return -1;
	r->job = j;
	j->next = NULL;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	if (!s->wait_n)
		s->oldest_ns = mono();
	s->wait_n++;
	s->wait_bytes += j->len;
	return 0;
}

static struct pjob *job_new(const uint8_t key[16], const void *p, size_t n, enum wkind kind)
{
	struct pjob *j = malloc(sizeof *j + n);
	if (j) {
		memcpy(j->key, key, 16);
		memcpy(j->data, p, n);
		j->len = n;
		j->kind = kind;
		j->next = NULL;
	}
	return j;
}

int pack_add(struct cache *c, const uint8_t key[16], const void *p, size_t n, enum wkind kind)
{
	struct packs *s = c->pk;
	if (!s)
		return -1;
	struct pjob *j = job_new(key, p, n, kind);
	if (!j)
		return -1;
	int rc;
	pthread_mutex_lock(&s->mu);
	struct pref *r = find(s, key);
	if (!s->accepting || s->wait_bytes + n > PACK_WAIT_MAX) {
		rc = -1; /* the caller writes it as a file of its own */
	} else if (r && r->job) {
		rc = 0; /* the same key waits already (the same result): it stands */
	} else if (enqueue(s, j)) {
		rc = -1;
	} else {
		j = NULL;
		rc = s->wait_n >= PACK_BATCH || s->wait_bytes >= PACK_BATCH_BYTES;
	}
	pthread_mutex_unlock(&s->mu);
	free(j);
	return rc;
}

void pack_accept(struct cache *c, int on)
{
	struct packs *s = c->pk;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->accepting = on;
	pthread_mutex_unlock(&s->mu);
}

int pack_due(struct cache *c)
{
	struct packs *s = c->pk;
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	int due = s->wait_n &&
	          (s->wait_n >= PACK_BATCH || s->wait_bytes >= PACK_BATCH_BYTES ||
	           mono() - s->oldest_ns >= (int64_t)PACK_WAIT_MS * 1000000);
	pthread_mutex_unlock(&s->mu);
	return due;
}

/* Writes jobs as a new pack named name (under s->dir); 0 or -errno. */
static int write_pack(struct cache *c, struct packs *s, struct pjob *jobs, uint32_t count,
                      const char *name, uint64_t *bytes)
{
	struct gbx_buf b = {0};
	uint8_t h[PACK_HEADER] = "GBXP";
	set_u32(h + 4, PACK_FORMAT);
	set_u32(h + 8, count);
	int rc = gbx_buf_add(&b, h, sizeof h);
	uint64_t off = PACK_HEADER + (uint64_t)count * PACK_REC;
	for (struct pjob *j = jobs; j && !rc; j = j->next) {
		uint8_t r[PACK_REC];
		memcpy(r, j->key, 16);
		set_u64(r + 16, off);
		set_u64(r + 24, j->len);
		off += j->len;
		rc = gbx_buf_add(&b, r, sizeof r);
	}
	for (struct pjob *j = jobs; j && !rc; j = j->next)
		rc = gbx_buf_add(&b, j->data, j->len);
	char *dst = rc ? NULL : pack_file(s, name);
	if (rc || !dst) {
		gbx_buf_free(&b);
		return -ENOMEM;
	}
	set_u64((uint8_t *)b.p + 16,
	        XXH3_64bits(b.p + PACK_HEADER, (size_t)count * PACK_REC));
	rc = disk_write_atomic(c, dst, b.p, b.len);
	*bytes = b.len;
	free(dst);
	gbx_buf_free(&b);
	return rc;
}

static void add_known(struct packs *s, const char *name, uint32_t *me)
{
	*me = UINT32_MAX;
	if (s->npk == s->cappk) {
		size_t n = s->cappk ? s->cappk * 2 : 16;
		struct pk *p = realloc(s->pk, n * sizeof *p);
		if (!p)
			return;
		s->pk = p;
		s->cappk = n;
	}
	if (!(s->pk[s->npk].name = strdup(name)))
		return;
	s->pk[s->npk].gone = 0;
	s->pk[s->npk].touched = 1; /* just written: its mtime is now */
	*me = (uint32_t)s->npk++;
}

int pack_flush(struct cache *c, int final)
{
	struct packs *s = c->pk;
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	struct pjob *jobs = s->head;
	uint32_t count = (uint32_t)s->wait_n;
	s->head = s->tail = NULL;
	s->wait_n = s->wait_bytes = 0;
	pthread_mutex_unlock(&s->mu);
	if (!jobs)
		return 0;
	char name[96];
	snprintf(name, sizeof name, "%016llx-%ld-%u.pack", (unsigned long long)wall_ns(),
	         (long)getpid(), atomic_fetch_add(&s->seq, 1));
	uint64_t bytes = 0;
	int lk = disk_lock(c, 0, 0), rc = lk < 0 ? -EBUSY : write_pack(c, s, jobs, count, name, &bytes);
	disk_unlock(lk);
	pthread_mutex_lock(&s->mu);
	if (rc && !final) {
		/* busy (a gc) or a write error: they wait for the next batch */
		struct pjob *last = jobs;
		size_t n = 0, nbytes = 0;
		for (struct pjob *j = jobs; j; j = j->next)
			last = j, n++, nbytes += j->len;
		last->next = s->head;
		s->head = jobs;
		if (!s->tail)
			s->tail = last;
		s->wait_n += n;
		s->wait_bytes += nbytes;
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	uint32_t me = UINT32_MAX;
	if (!rc)
		add_known(s, name, &me);
	uint64_t off = PACK_HEADER + (uint64_t)count * PACK_REC, kinds[3] = {0};
	for (struct pjob *j = jobs, *nx; j; j = nx) {
		nx = j->next;
		kinds[j->kind]++;
		struct pref *r = find(s, j->key);
		if (r && r->job == j) {
			if (me != UINT32_MAX) {
				r->job = NULL;
				r->pk = me;
				r->off = off;
				r->len = j->len;
			} else {
				drop(s, j->key); /* not written: a miss next time */
			}
		}
		off += j->len;
		free(j);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		atomic_fetch_add_explicit(&c->n.store_skipped, count, memory_order_relaxed);
		if (rc == -EBUSY)
			atomic_fetch_add_explicit(&c->n.busy, count, memory_order_relaxed);
		else
			cache_io_warning(c, strerror(-rc));
		return rc;
	}
	count_written(c, W_STORE, kinds[W_STORE]);
	count_written(c, W_FILL, kinds[W_FILL]);
	atomic_fetch_add_explicit(&c->n.bytes_added, (bytes + 4095) / 4096 * 4096,
	                          memory_order_relaxed);
	return 0;
}

/* ---- damage ------------------------------------------------------------------------ */

struct salv {
	struct cache *c;
	struct packs *s;
	const uint8_t *key;
	const char *name;
};

static void salvage_one(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad)
{
	struct salv *v = ud;
	struct centry e;
	if (!bad && entry_decode(p, n, rec, &e, &bad) == 0) {
		entry_clear(&e);
		struct pref *r = find(v->s, rec);
		if (r && r->job)
			return; /* a newer one waits already */
		struct pjob *j = job_new(rec, p, n, W_REWRITE);
		if (!j || enqueue(v->s, j))
			free(j);
		return;
	}
	if (memcmp(rec, v->key, 16)) {
		char hex[33];
		hex16(rec, hex);
		atomic_fetch_add_explicit(&v->c->n.corrupt, 1, memory_order_relaxed);
		cache_log(v->c, 1, "cache entry %s in pack %s is damaged (%s); dropped", hex, v->name,
		          bad);
	}
}

static void salvage(struct cache *c, struct packs *s, uint32_t i, const uint8_t key[16])
{
	char *path = pack_file(s, s->pk[i].name);
	forget_pack(s, i);
	if (!path)
		return;
	struct gbx_buf buf = {0};
	struct salv v = {c, s, key, s->pk[i].name};
	const char *why = NULL;
	if (s->accepting)
		pack_walk(path, &buf, salvage_one, &v, &why);
	unlink(path); /* its sound entries are written again with the next batch */
	gbx_buf_free(&buf);
	free(path);
}

/* ---- compaction ---------------------------------------------------------------------- */

struct merge {
	struct packs *t; /* a private table: key -> job */
	struct pjob *head, *tail;
	uint32_t n;
};

static void merge_one(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad)
{
	struct merge *m = ud;
	struct centry e;
	if (bad || entry_decode(p, n, rec, &e, &bad))
		return; /* damaged: dropped */
	entry_clear(&e);
	struct pref *r = place(m->t, rec);
	if (!r || r->job)
		return; /* a newer pack had it: that one stands */
	struct pjob *j = job_new(rec, p, n, W_REWRITE);
	if (!j)
		return;
	r->job = j;
	if (m->tail)
		m->tail->next = j;
	else
		m->head = j;
	m->tail = j;
	m->n++;
}

int pack_compact(struct cache *c, int force)
{
	struct packs *s = c->pk;
	if (!s)
		return 0;
	char **names;
	long got = dir_names(s->dir, pack_name, NULL, &names);
	if (got < 0)
		return -1;
	size_t n = (size_t)got; /* sorted: oldest first */
	int rc = 0;
	if (n > (force ? 1 : PACK_MAX)) {
		int lk = disk_lock(c, 1, 0); /* exclusive: nobody stores meanwhile */
		if (lk < 0) {
			rc = 1;
		} else {
			struct packs t = {0};
			t.nb = 1024;
			struct merge m = {&t, NULL, NULL, 0};
			struct gbx_buf buf = {0};
			if (!(t.tab = calloc(t.nb, sizeof *t.tab)))
				rc = -1;
			for (size_t i = n; i-- > 0 && !rc;) { /* newest first: the first seen stands */
				char *p = pack_file(s, names[i]);
				const char *why;
				if (p)
					pack_walk(p, &buf, merge_one, &m, &why);
				free(p);
			}
			t.dir = s->dir;
			char name[96];
			snprintf(name, sizeof name, "%016llx-%ld-%u.pack", (unsigned long long)wall_ns(),
			         (long)getpid(), atomic_fetch_add(&s->seq, 1));
			uint64_t bytes;
			if (!rc && m.n && write_pack(c, &t, m.head, m.n, name, &bytes))
				rc = -1;
			for (size_t i = 0; i < n && !rc; i++) {
				char *p = pack_file(s, names[i]);
				if (p)
					unlink(p);
				free(p);
			}
			for (struct pjob *j = m.head, *nx; j; j = nx) {
				nx = j->next;
				free(j);
			}
			for (size_t b = 0; b < t.nb && t.tab; b++)
				for (struct pref *r = t.tab[b], *nx; r; r = nx) {
					nx = r->next;
					free(r);
				}
			free(t.tab);
			gbx_buf_free(&buf);
			disk_unlock(lk);
		}
	}
	free_names(names, n);
	return rc;
}
