/* disk.c - the disk level under DIR/v1:
 *
 *   lock              flock: shared for a lookup or a store, exclusive for gc and clear
 *   packs/NAME.pack   entries without blobs, written together (pack.c)
 *   entries/ab/KEY    one entry per key (entry.c) with blobs, or when no pack
 *                     could take it; its mtime is its last use (LRU)
 *   blobs/cd/HASH     content-addressed: stdout, stderr, output files over 4 KiB
 *   .*.gbx-tmp.*      every file is written beside its place first, then renamed
 *   statcache, stats  the stat cache (statcache.c) and counters over all runs
 *
 * Invariants: a file under entries/ or blobs/ is always whole (rename is
 * atomic; temp names are unique per process, thread and call), and is checked
 * when read (an entry's checksum, a blob's hash), so a crash, a full disk or a
 * flipped bit reads as a miss, never as a wrong result. A store writes its
 * blobs before its entry under the shared lock, and gc deletes only under the
 * exclusive lock, so gc never sees a store half done; nobody waits for the
 * lock on the task path (busy means miss, or no store). Everything tolerates
 * files vanishing under it (another process's gc or clear).
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
#include <xxhash.h>

#define COPY_CHUNK 65536

uint64_t disk_bytes(const struct stat *st)
{
	return (uint64_t)st->st_blocks * 512;
}

static uint64_t round_block(uint64_t n)
{
	return (n + 4095) / 4096 * 4096;
}

char *disk_sub(struct cache *c, const char *what)
{
	return path_join(c->root, what);
}

int disk_setup(struct cache *c)
{
	static const char *const dirs[] = {"entries", "blobs", "deps", "packs"};
	int rc = mkdir_p(c->root, 0777);
	for (size_t i = 0; i < 4 && !rc; i++) {
		char *p = disk_sub(c, dirs[i]);
		rc = p ? mkdir_p(p, 0777) : -ENOMEM;
		free(p);
	}
	if (rc)
		return rc;
	struct stat st;
	if (stat(c->dir, &st))
		return -errno;
	c->dir_dev = st.st_dev;
	c->dir_ino = st.st_ino;
	/* tells backup tools (and tar --exclude-caches) that this is a cache */
	char *tag = path_join(c->dir, "CACHEDIR.TAG");
	if (tag && access(tag, F_OK) != 0) {
		char *tmp = cache_tmpname(c, tag);
		int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
		if (fd >= 0) {
			static const char text[] =
			    "Signature: 8a477f597d28d172789f06886806bc55\n"
			    "# This file is a cache directory tag created by gearbox.\n";
			int w = write_all(fd, text, sizeof text - 1);
			close(fd);
			if (w || rename(tmp, tag))
				unlink(tmp);
		}
		free(tmp);
	}
	free(tag);
	return 0;
}

int disk_lock(struct cache *c, int exclusive, int wait)
{
	if (!c->disk_ok)
		return -1;
	char *p = disk_sub(c, "lock");
	int fd = p ? open(p, O_RDONLY | O_CREAT | O_CLOEXEC, 0644) : -1;
	free(p);
	if (fd < 0)
		return -1;
	int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
	while (flock(fd, op) != 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		return -1;
	}
	return fd;
}

void disk_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the only descriptor releases the flock */
}

static char *fanout_path(struct cache *c, const char *kind, const uint8_t k[16])
{
	char hex[33];
	hex16(k, hex);
	size_t n = strlen(c->root) + strlen(kind) + 40;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s/%.2s/%s", c->root, kind, hex, hex);
	return p;
}

char *entry_path(struct cache *c, const uint8_t key[16])
{
	return fanout_path(c, "entries", key);
}

char *blob_path(struct cache *c, const uint8_t h[16])
{
	return fanout_path(c, "blobs", h);
}

char *manifest_path(struct cache *c, const uint8_t k[16])
{
	return fanout_path(c, "deps", k);
}

int disk_write_file(struct cache *c, const char *dst, const void *p, size_t n)
{
	return disk_write_atomic(c, dst, p, n);
}

int is_tmpname(const char *name)
{
	return name[0] == '.' && strstr(name, ".gbx-tmp.") != NULL;
}

/* Creates tmp (beside dst) for writing, and dst's fan-out folder the first time. */
static int create_tmp(const char *tmp)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char *dir = strdup(tmp);
	if (!dir)
		return -1;
	*strrchr(dir, '/') = 0;
	int ok = mkdir(dir, 0777) == 0 || errno == EEXIST;
	free(dir);
	return ok ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
}

/* Writes n bytes to a new temp file beside dst and renames it to dst. */
int disk_write_atomic(struct cache *c, const char *dst, const void *p, size_t n)
{
	char *tmp = cache_tmpname(c, dst);
	if (!tmp)
		return -ENOMEM;
	int fd = create_tmp(tmp);
	int rc = fd < 0 ? -errno : write_all(fd, p, n);
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, dst) != 0)
		rc = -errno;
	if (rc && fd >= 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int disk_read_entry(struct cache *c, const uint8_t key[16], struct gbx_buf *buf, const char **why)
{
	int prc = pack_read(c, key, buf, why);
	if (prc <= 0)
		return prc;
	char *p = entry_path(c, key);
	if (!p)
		return 1;
	int rc = read_file(p, buf, (uint64_t)1 << 30);
	if (rc == -ENOENT) {
		free(p);
		return 1;
	}
	struct centry e;
	if (rc) {
		*why = rc == -EINVAL ? "is not a regular file" : "cannot be read";
		rc = -1;
	} else if (entry_decode((const uint8_t *)buf->p, buf->len, key, &e, why)) {
		unlink(p); /* a store will write it again */
		rc = -1;
	} else {
		entry_clear(&e);
	}
	free(p);
	return rc;
}

int disk_has_entry(struct cache *c, const uint8_t key[16])
{
	if (pack_has(c, key))
		return 1;
	char *p = entry_path(c, key);
	int ok = p && access(p, F_OK) == 0;
	free(p);
	return ok;
}

int disk_write_entry(struct cache *c, const uint8_t key[16], const void *p, size_t n)
{
	char *dst = entry_path(c, key);
	if (!dst)
		return -ENOMEM;
	int rc = disk_write_atomic(c, dst, p, n);
	if (!rc)
		atomic_fetch_add_explicit(&c->n.bytes_added, round_block(n), memory_order_relaxed);
	free(dst);
	return rc;
}

void disk_touch(struct cache *c, const uint8_t key[16])
{
	if (pack_touch(c, key))
		return;
	char *p = entry_path(c, key);
	if (p)
		utimensat(AT_FDCWD, p, NULL, 0);
	free(p);
}

/* ---- blobs -------------------------------------------------------------------- */

/* Whether a blob is there with the right size (a truncated one gets rewritten). */
static int blob_present(const char *path, uint64_t len)
{
	struct stat st;
	return stat(path, &st) == 0 && (uint64_t)st.st_size == len;
}

int blob_put_mem(struct cache *c, const void *p, size_t n, const uint8_t h[16])
{
	char *dst = blob_path(c, h);
	if (!dst)
		return -ENOMEM;
	int rc = 0;
	if (!blob_present(dst, n)) {
		rc = disk_write_atomic(c, dst, p, n);
		if (!rc)
			atomic_fetch_add_explicit(&c->n.bytes_added, round_block(n),
			                          memory_order_relaxed);
	}
	free(dst);
	return rc;
}

/* Reads in to EOF, hashing, and writes to out unless it is -1. */
static int copy_hash(int in, int out, uint8_t h[16], uint64_t *total)
{
	char *buf = malloc(COPY_CHUNK);
	XXH3_state_t *s = XXH3_createState();
	int rc = buf && s ? 0 : -ENOMEM;
	*total = 0;
	if (!rc)
		XXH3_128bits_reset(s);
	while (!rc) {
		ssize_t r = read(in, buf, COPY_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		if (r <= 0)
			break;
		XXH3_128bits_update(s, buf, (size_t)r);
		*total += (uint64_t)r;
		if (out >= 0)
			rc = write_all(out, buf, (size_t)r);
	}
	if (!rc) {
		XXH128_canonical_t cn;
		XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(s));
		memcpy(h, cn.digest, 16);
	}
	XXH3_freeState(s);
	free(buf);
	return rc;
}

int blob_put_file(struct cache *c, const char *path, const struct stat *st, uint8_t h[16])
{
	(void)st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t len = 0, len2 = 0;
	uint8_t h2[16];
	char *dst = NULL, *tmp = NULL;
	int out = -1;
	/* pass 1 hashes; a blob we already have is not written again */
	int rc = copy_hash(fd, -1, h, &len);
	if (rc)
		goto done;
	if (!(dst = blob_path(c, h))) {
		rc = -ENOMEM;
		goto done;
	}
	if (blob_present(dst, len))
		goto done;
	if (!(tmp = cache_tmpname(c, dst))) {
		rc = -ENOMEM;
		goto done;
	}
	out = create_tmp(tmp);
	if (out < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		rc = -errno;
		goto done;
	}
	rc = copy_hash(fd, out, h2, &len2);
	if (close(out) && !rc)
		rc = -errno;
	out = -1;
	if (!rc && (len2 != len || memcmp(h, h2, 16)))
		rc = -ESTALE; /* the file changed between the two reads */
	if (!rc && rename(tmp, dst) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	else
		atomic_fetch_add_explicit(&c->n.bytes_added, round_block(len),
		                          memory_order_relaxed);
done:
	if (out >= 0) {
		close(out);
		unlink(tmp);
	}
	close(fd);
	free(dst);
	free(tmp);
	return rc;
}

int blob_load(struct cache *c, const uint8_t h[16], uint64_t len, struct gbx_buf *out,
              const char **why)
{
	char *p = blob_path(c, h);
	if (!p) {
		*why = "out of memory";
		return -1;
	}
	int rc = read_file(p, out, len);
	uint8_t got[16];
	if (rc == -ENOENT) {
		*why = "a blob it needs is missing";
	} else if (rc == -EFBIG || (!rc && out->len != len)) {
		*why = "a blob it needs has the wrong size";
		unlink(p);
	} else if (rc) {
		*why = "a blob it needs cannot be read";
	} else {
		hash_bytes(out->p, out->len, got);
		if (memcmp(got, h, 16)) {
			*why = "a blob it needs is damaged (hash mismatch)";
			unlink(p);
			rc = -1;
		}
	}
	free(p);
	return rc ? -1 : 0;
}

void blob_scrub(struct cache *c, const struct centry *e)
{
	for (uint32_t i = 0; i < e->nout + 2; i++) {
		const struct cpayload *p = i == 0 ? &e->out : i == 1 ? &e->err : &e->outs[i - 2].p;
		if (p->where != PL_BLOB)
			continue;
		char *path = blob_path(c, p->hash);
		int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
		uint8_t h[16];
		uint64_t len;
		if (fd >= 0 && copy_hash(fd, -1, h, &len) == 0 &&
		    (len != p->len || memcmp(h, p->hash, 16)))
			unlink(path);
		if (fd >= 0)
			close(fd);
		free(path);
	}
}

/* ---- capturing outputs -------------------------------------------------------- */

struct cap {
	struct cache *c;
	int *lk;
	struct centry *e;
	struct gbx_buf *arena; /* pointers to free once the entry is encoded */
	size_t cap, inline_total;
	char *why;
	size_t whylen;
};

static void *keep(struct cap *k, void *p)
{
	if (p && gbx_buf_add(k->arena, &p, sizeof p)) {
		free(p);
		return NULL;
	}
	return p;
}

static struct coutput *add_rec(struct cap *k, const char *rel, uint8_t type, uint32_t mode)
{
	struct centry *e = k->e;
	if (e->nout == k->cap) {
		size_t n = k->cap ? k->cap * 2 : 8;
		struct coutput *o = realloc(e->outs, n * sizeof *o);
		if (!o)
			return NULL;
		e->outs = o;
		k->cap = n;
	}
	char *p = keep(k, strdup(rel));
	if (!p)
		return NULL;
	struct coutput *o = &e->outs[e->nout++];
	memset(o, 0, sizeof *o);
	o->path = p;
	o->type = type;
	o->mode = mode;
	return o;
}

static int cap_fail(struct cap *k, const char *fmt, const char *a, int e)
{
	snprintf(k->why, k->whylen, fmt, a, e ? strerror(e) : "");
	return -1;
}

/* The cache's own failure, not the task's. */
static int cap_ioerr(struct cap *k, const char *fmt, const char *a, int e)
{
	cap_fail(k, fmt, a, e);
	return -2;
}

static int cap_node(struct cap *k, const char *abs, const char *rel, const struct stat *st);

static int cap_dir(struct cap *k, const char *abs, const char *rel)
{
	DIR *d = opendir(abs);
	if (!d)
		return cap_fail(k, "output %s cannot be listed: %s", rel, errno);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc)
		rc = cap_ioerr(k, "%sout of memory%s", "", 0);
	for (size_t i = 0; i < n && !rc; i++) {
		char *ca = path_join(abs, names[i]), *cr = path_join(rel, names[i]);
		struct stat st;
		if (!ca || !cr)
			rc = cap_ioerr(k, "%sout of memory%s", "", 0);
		else if (lstat(ca, &st) != 0)
			rc = cap_fail(k, "output %s vanished while being stored: %s", cr, errno);
		else
			rc = cap_node(k, ca, cr, &st);
		free(ca);
		free(cr);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int cap_node(struct cap *k, const char *abs, const char *rel, const struct stat *st)
{
	uint32_t mode = (uint32_t)(st->st_mode & 07777);
	if (S_ISDIR(st->st_mode)) {
		if (!add_rec(k, rel, OT_DIR, mode))
			return cap_ioerr(k, "%sout of memory%s", "", 0);
		return cap_dir(k, abs, rel);
	}
	if (S_ISLNK(st->st_mode)) {
		char *t = keep(k, malloc(4096));
		ssize_t n = t ? readlink(abs, t, 4096) : -1;
		if (n < 0 || n >= 4096)
			return cap_fail(k, "output %s: cannot read the link: %s", rel,
			                n < 0 ? errno : ENAMETOOLONG);
		struct coutput *o = add_rec(k, rel, OT_LINK, mode);
		if (!o)
			return cap_ioerr(k, "%sout of memory%s", "", 0);
		o->p.where = PL_INLINE;
		o->p.len = (uint64_t)n;
		o->p.data = (const uint8_t *)t;
		hash_bytes(t, (size_t)n, o->p.hash);
		return 0;
	}
	if (!S_ISREG(st->st_mode))
		return cap_fail(k, "output %s is not a file, a directory or a symlink%s", rel, 0);
	struct coutput *o = add_rec(k, rel, OT_FILE, mode);
	if (!o)
		return cap_ioerr(k, "%sout of memory%s", "", 0);
	if ((uint64_t)st->st_size <= CACHE_INLINE_MAX &&
	    k->inline_total + (size_t)st->st_size <= CACHE_INLINE_TOTAL) {
		struct gbx_buf b = {0};
		int rc = read_file(abs, &b, CACHE_INLINE_MAX);
		if (rc == 0) {
			keep(k, b.p);
			if (!b.p) /* an empty file: read_file left no buffer */
				b.len = 0;
			o->p.where = PL_INLINE;
			o->p.len = b.len;
			o->p.data = (const uint8_t *)b.p;
			hash_bytes(b.p ? b.p : "", b.len, o->p.hash);
			k->inline_total += b.len;
			return 0;
		}
		gbx_buf_free(&b);
		if (rc != -EFBIG) /* grew past the inline size: store it as a blob below */
			return cap_fail(k, "output %s cannot be read: %s", rel, -rc);
	}
	struct stat now;
	if (!k->c->disk_ok)
		return cap_ioerr(k, "output %s is too large for the memory level alone%s", rel, 0);
	if (*k->lk < 0 && (*k->lk = disk_lock(k->c, 0, 0)) < 0)
		return -3;
	int rc = blob_put_file(k->c, abs, st, o->p.hash);
	if (rc)
		return cap_ioerr(k, "output %s cannot be stored: %s", rel, -rc);
	if (stat(abs, &now) != 0)
		return cap_fail(k, "output %s vanished while being stored: %s", rel, errno);
	o->p.where = PL_BLOB;
	o->p.len = (uint64_t)now.st_size;
	return 0;
}

int capture_outputs(struct cache *c, const char *const *outputs, const char *workdir, int ok,
                    struct centry *e, struct gbx_buf *arena, char *why, size_t whylen, int *lk)
{
	struct cap k = {c, lk, e, arena, 0, 0, why, whylen};
	for (size_t i = 0; outputs && outputs[i]; i++) {
		char *abs = path_join(workdir, outputs[i]);
		struct stat st;
		int rc;
		if (!abs)
			return cap_ioerr(&k, "%sout of memory%s", "", 0);
		if (lstat(abs, &st) == 0) {
			rc = cap_node(&k, abs, outputs[i], &st);
		} else if (errno == ENOENT && !ok) {
			/* a failed task may leave outputs out: replaying it leaves them alone */
			rc = add_rec(&k, outputs[i], OT_ABSENT, 0)
			         ? 0
			         : cap_ioerr(&k, "%sout of memory%s", "", 0);
		} else {
			rc = cap_fail(&k, "declared output %s is missing: %s", outputs[i], errno);
		}
		free(abs);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- restoring outputs -------------------------------------------------------- */

/* Whether rel is a declared output or inside one, without "..": an entry never
 * writes anywhere else, whatever its bytes say. */
static int path_allowed(const char *rel, const char *const *declared)
{
	for (const char *s = rel; (s = strstr(s, "..")); s += 2)
		if ((s == rel || s[-1] == '/') && (s[2] == 0 || s[2] == '/'))
			return 0;
	for (size_t i = 0; declared && declared[i]; i++) {
		size_t n = strlen(declared[i]);
		if (!strncmp(rel, declared[i], n) && (rel[n] == 0 || rel[n] == '/'))
			return 1;
	}
	return 0;
}

struct staged {
	char *tmp, *dst;
};

static int stage_file(struct cache *c, const struct coutput *o, const char *tmp, char *why,
                      size_t whylen, int *corrupt)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "cannot write %s: %s", o->path, strerror(errno));
		return -1;
	}
	int rc = 0;
	if (o->p.where == PL_INLINE) {
		rc = write_all(fd, o->p.data, (size_t)o->p.len);
		if (rc)
			snprintf(why, whylen, "cannot write %s: %s", o->path, strerror(-rc));
	} else {
		char *bp = blob_path(c, o->p.hash);
		int in = bp ? open(bp, O_RDONLY | O_CLOEXEC) : -1;
		uint8_t h[16];
		uint64_t len = 0;
		if (in < 0) {
			snprintf(why, whylen, "the blob of %s is missing", o->path);
			*corrupt = 1;
			rc = -1;
		} else if ((rc = copy_hash(in, fd, h, &len))) {
			snprintf(why, whylen, "cannot copy %s: %s", o->path, strerror(-rc));
		} else if (len != o->p.len || memcmp(h, o->p.hash, 16)) {
			snprintf(why, whylen, "the blob of %s is damaged (hash mismatch)", o->path);
			*corrupt = 1;
			unlink(bp);
			rc = -1;
		}
		if (in >= 0)
			close(in);
		free(bp);
	}
	if (!rc && fchmod(fd, o->mode & 07777) != 0) {
		snprintf(why, whylen, "cannot set the mode of %s: %s", o->path, strerror(errno));
		rc = -1;
	}
	if (close(fd) != 0 && !rc) {
		snprintf(why, whylen, "cannot write %s: %s", o->path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Whether dst already holds what o records (type, mode, content or link
 * target): then a hit leaves it alone, so make-style tools downstream see no
 * new mtime. Content is compared by hash, through the stat cache. */
static int already_there(struct cache *c, const struct coutput *o, const char *dst)
{
	struct stat st;
	if (lstat(dst, &st) != 0)
		return 0;
	if (o->type == OT_LINK) {
		char t[4096];
		ssize_t n = S_ISLNK(st.st_mode) ? readlink(dst, t, sizeof t) : -1;
		return n >= 0 && (uint64_t)n == o->p.len && o->p.where == PL_INLINE &&
		       !memcmp(t, o->p.data, (size_t)n);
	}
	if (o->type != OT_FILE || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != o->p.len ||
	    (st.st_mode & 07777) != (o->mode & 07777))
		return 0;
	uint8_t h[16];
	return hash_file(c, dst, &st, h, NULL) == 0 && !memcmp(h, o->p.hash, 16);
}

int restore_outputs(struct cache *c, const struct centry *e, const char *const *declared,
                    const char *workdir, char *why, size_t whylen, int *corrupt)
{
	struct staged *st = calloc(e->nout + 1, sizeof *st);
	size_t ns = 0;
	int rc = 0;
	*corrupt = 0;
	if (!st) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < e->nout && !rc; i++) {
		const struct coutput *o = &e->outs[i];
		if (o->type == OT_ABSENT)
			continue;
		if (!path_allowed(o->path, declared)) {
			snprintf(why, whylen, "it names %s, which is not a declared output",
			         o->path);
			*corrupt = 1;
			rc = -1;
			break;
		}
		char *dst = path_join(workdir, o->path);
		if (!dst) {
			snprintf(why, whylen, "out of memory");
			rc = -1;
			break;
		}
		if (o->type == OT_DIR) {
			int r = mkdir_p(dst, 0777);
			if (r) {
				snprintf(why, whylen, "cannot create %s: %s", o->path,
				         strerror(-r));
				rc = -1;
			}
			free(dst);
			continue;
		}
		if (already_there(c, o, dst)) { /* no rewrite, no new mtime */
			free(dst);
			continue;
		}
		char *parent = strdup(dst);
		int r = parent ? 0 : -ENOMEM;
		if (parent) {
			*strrchr(parent, '/') = 0;
			r = parent[0] ? mkdir_p(parent, 0777) : 0;
			free(parent);
		}
		char *tmp = r ? NULL : cache_tmpname(c, dst);
		if (!tmp) {
			snprintf(why, whylen, "cannot create the folder of %s: %s", o->path,
			         strerror(r ? -r : ENOMEM));
			free(dst);
			rc = -1;
			break;
		}
		st[ns].tmp = tmp;
		st[ns].dst = dst;
		ns++;
		if (o->type == OT_LINK) {
			char *target = malloc((size_t)o->p.len + 1);
			if (!target || o->p.where != PL_INLINE) {
				snprintf(why, whylen, "bad symlink record for %s", o->path);
				*corrupt = target != NULL;
				rc = -1;
			} else {
				memcpy(target, o->p.data, (size_t)o->p.len);
				target[o->p.len] = 0;
				if (symlink(target, tmp) != 0) {
					snprintf(why, whylen, "cannot create %s: %s", o->path,
					         strerror(errno));
					rc = -1;
				}
			}
			free(target);
		} else {
			rc = stage_file(c, o, tmp, why, whylen, corrupt);
		}
	}
	/* everything verified and staged: now into place */
	size_t done = 0;
	for (; !rc && done < ns; done++)
		if (rename(st[done].tmp, st[done].dst) != 0) {
			snprintf(why, whylen, "cannot replace %s: %s", st[done].dst,
			         strerror(errno));
			rc = -1;
			break;
		}
	for (size_t i = 0; i < ns; i++) {
		if (i >= done)
			unlink(st[i].tmp);
		free(st[i].tmp);
		free(st[i].dst);
	}
	free(st);
	if (!rc) /* folder modes last, so a read-only folder could be filled first */
		for (uint32_t i = e->nout; i-- > 0;)
			if (e->outs[i].type == OT_DIR) {
				char *dst = path_join(workdir, e->outs[i].path);
				struct stat ds;
				if (dst && (stat(dst, &ds) != 0 ||
				            (ds.st_mode & 07777) != (e->outs[i].mode & 07777)))
					chmod(dst, e->outs[i].mode & 07777);
				free(dst);
			}
	return rc;
}
