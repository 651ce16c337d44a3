/* spool.c - a task's stdout or stderr as it is read (spool.h): memory up to
 * SPOOL_MEM, then an unlinked temporary file in $TMPDIR; or, for
 * --output-dir, an unnamed file in that directory, named when the task ends
 * (so a file there is always a whole output; an output that stayed in
 * memory is written then, through a temporary name and a rename). Used
 * by `gearbox run` (exec.c reads into the worker's two spools) and by
 * `gearbox parallel` (parallel.c spools per slot). This file only holds and
 * writes bytes; what is shown when is decided by its callers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "spool.h"

static const char *tmp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

/* An unnamed file in dir (O_TMPFILE), or a named one when the file system
 * has none: in $TMPDIR unlinked at once, in --output-dir kept in *name until
 * it is renamed or the spool reset. */
static int file_in(const char *dir, char **name)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	struct buf path = {0};
	buf_addf(&path, "%s/.gearbox-spool.XXXXXX", dir);
	fd = path.p ? mkostemp(path.p, O_CLOEXEC) : -1;
	if (fd >= 0 && name) {
		fchmod(fd, 0644);
		*name = path.p;
		return fd;
	}
	if (fd >= 0)
		unlink(path.p);
	buf_free(&path);
	return fd;
}

static void lose(struct spool *s, size_t n, int en)
{
	s->lost += n;
	if (!s->err)
		s->err = en ? en : EIO;
}

/* Moves the bytes in memory to a file. 0, or an errno (nothing moved). */
static int to_file(struct spool *s)
{
	int fd = s->dir ? file_in(s->dir, &s->tmpname) : file_in(tmp_dir(), NULL);
	if (fd < 0)
		return errno;
	int en = s->m.len ? fd_write_all(fd, s->m.p, s->m.len) : 0;
	if (en) {
		close(fd);
		if (s->tmpname) {
			unlink(s->tmpname);
			free(s->tmpname);
			s->tmpname = NULL;
		}
		return en;
	}
	s->fd = fd;
	s->file = 1;
	s->m.len = 0;
	if (s->m.cap > SPOOL_MEM) /* past memory: no big buffer kept */
		buf_free(&s->m);
	return 0;
}

void spool_add(struct spool *s, const char *p, size_t n)
{
	if (!n)
		return;
	if (s->lost) { /* no holes: once a byte is lost, so is what follows */
		s->lost += n;
		return;
	}
	if (!s->file) {
		if (s->m.len + n < SPOOL_MEM && buf_try_add(&s->m, p, n) == 0) {
			s->len += n;
			return;
		}
		int en = to_file(s);
		if (en) {
			lose(s, n, en);
			return;
		}
	}
	int en = fd_write_all(s->fd, p, n);
	if (en)
		lose(s, n, en);
	else
		s->len += n;
}

void spool_reset(struct spool *s)
{
	if (s->file)
		close(s->fd);
	if (s->tmpname) {
		unlink(s->tmpname);
		free(s->tmpname);
		s->tmpname = NULL;
	}
	s->file = 0;
	s->fd = -1;
	s->m.len = 0;
	if (s->m.cap > SPOOL_MEM) /* do not keep a big buffer per slot */
		buf_free(&s->m);
	s->len = s->lost = 0;
	s->err = 0;
}

void spool_free(struct spool *s)
{
	spool_reset(s);
	buf_free(&s->m);
}

static size_t chunk(const struct spool *s, off_t off, size_t max)
{
	uint64_t left = s->len - (uint64_t)off;
	return left < max ? (size_t)left : max;
}

int spool_copy(struct spool *s, int fd)
{
	if (!s->file)
		return s->m.len ? fd_write_all(fd, s->m.p, s->m.len) : 0;
	char tmp[65536];
	off_t off = 0;
	int first = 0;
	while (off < (off_t)s->len) {
		ssize_t r = pread(s->fd, tmp, chunk(s, off, sizeof tmp), off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return first ? first : r ? errno : EIO;
		int en = fd_write_all(fd, tmp, (size_t)r);
		if (en && !first)
			first = en;
		off += r;
	}
	return first;
}

void spool_each(const struct spool *s, void (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	if (!s->file) {
		for (size_t off = 0; off < s->m.len; off += 65536)
			fn(ctx, s->m.p + off, s->m.len - off < 65536 ? s->m.len - off : 65536);
		return;
	}
	char tmp[65536];
	off_t off = 0;
	while (off < (off_t)s->len) {
		ssize_t r = pread(s->fd, tmp, chunk(s, off, sizeof tmp), off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		fn(ctx, tmp, (size_t)r);
		off += r;
	}
}

size_t spool_tail(const struct spool *s, char *dst, size_t n)
{
	if (n > s->len)
		n = (size_t)s->len;
	if (!n)
		return 0;
	if (!s->file) {
		memcpy(dst, s->m.p + s->m.len - n, n);
		return n;
	}
	ssize_t r = pread(s->fd, dst, n, (off_t)(s->len - n));
	return r > 0 ? (size_t)r : 0;
}

const char *spool_view(const struct spool *s, void **map)
{
	*map = NULL;
	if (!s->file)
		return s->m.p ? s->m.p : "";
	if (!s->len)
		return "";
	void *p = mmap(NULL, (size_t)s->len, PROT_READ, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, (size_t)s->len, MADV_SEQUENTIAL);
	*map = p;
	return p;
}

void spool_unview(const struct spool *s, void *map)
{
	if (map)
		munmap(map, (size_t)s->len);
}

/* Links the spool's unnamed file as tmp (same directory as the target). */
static int link_tmpfile(int fd, const char *tmp)
{
	if (linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) == 0)
		return 0;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) ? errno : 0;
}

/* The bytes written through path (a device, FIFO or symlink: never
 * replaced). */
static int write_through(struct spool *s, const char *path)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno;
	struct stat ft;
	if (fstat(fd, &ft) || S_ISDIR(ft.st_mode) || S_ISBLK(ft.st_mode)) {
		close(fd);
		return EISDIR;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	int en = spool_copy(s, fd);
	if (close(fd) && !en)
		en = errno;
	return en;
}

int spool_publish(struct spool *s, const char *path)
{
	struct stat st;
	int en = s->err;
	struct buf tmp = {0};
	if (en) {
		/* partly written: nothing named, the loss is the caller's to say */
	} else if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		en = S_ISDIR(st.st_mode) ? EISDIR : write_through(s, path);
	} else if (s->tmpname) {
		if (rename(s->tmpname, path))
			en = errno;
		else {
			free(s->tmpname);
			s->tmpname = NULL;
		}
	} else {
		buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid());
		if (!tmp.p) {
			en = ENOMEM;
		} else if (!s->file) { /* no byte came: an empty file (or what memory holds) */
			int fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			en = fd < 0 ? errno : s->m.len ? fd_write_all(fd, s->m.p, s->m.len) : 0;
			if (fd >= 0 && close(fd) && !en)
				en = errno;
		} else {
			unlink(tmp.p); /* a leftover of an earlier run */
			en = link_tmpfile(s->fd, tmp.p);
		}
		if (!en && rename(tmp.p, path))
			en = errno;
		if (en && tmp.p)
			unlink(tmp.p);
	}
	buf_free(&tmp);
	spool_reset(s);
	return en;
}

void spool_why(const struct spool *out, const struct spool *err, char *msg, size_t n)
{
	const struct spool *s = out->lost ? out : err;
	if (!s->lost) {
		msg[0] = 0;
		return;
	}
	snprintf(msg, n, "its %s could not be kept: writing to %s: %s (%llu bytes lost)",
		 s == out ? "stdout" : "stderr", s->dir ? s->dir : tmp_dir(), strerror(s->err),
		 (unsigned long long)s->lost);
}

/* A writer that puts a tag before each line. */
struct tagw {
	int fd;
	const char *tag;
	size_t taglen;
	int bol;
	char b[65536];
	size_t n;
};

static void tw_flush(struct tagw *w)
{
	(void)fd_write_all(w->fd, w->b, w->n);
	w->n = 0;
}

static void tw_put(struct tagw *w, const char *p, size_t n)
{
	if (n >= sizeof w->b) {
		tw_flush(w);
		(void)fd_write_all(w->fd, p, n);
		return;
	}
	if (w->n + n > sizeof w->b)
		tw_flush(w);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void tw_add(struct tagw *w, const char *p, size_t n)
{
	if (!w->tag) {
		tw_put(w, p, n);
		return;
	}
	while (n) {
		if (w->bol) {
			tw_put(w, w->tag, w->taglen);
			w->bol = 0;
		}
		const char *nl = memchr(p, '\n', n);
		size_t l = nl ? (size_t)(nl - p) + 1 : n;
		tw_put(w, p, l);
		w->bol = nl != NULL;
		p += l;
		n -= l;
	}
}

/* Writes the spool to fd, tag before each line (bol: the first byte starts
 * a line). */
void spool_emit_at(struct spool *s, int fd, const char *tag, size_t taglen, int bol)
{
	if (!s->len)
		return;
	struct tagw *w = malloc(sizeof *w);
	if (!w)
		return;
	w->fd = fd;
	w->tag = tag;
	w->taglen = taglen;
	w->bol = bol;
	w->n = 0;
	if (!s->file) {
		tw_add(w, s->m.p, s->m.len);
	} else {
		char tmp[65536];
		off_t off = 0;
		ssize_t r;
		while (off < (off_t)s->len &&
		       (r = pread(s->fd, tmp, chunk(s, off, sizeof tmp), off)) > 0) {
			tw_add(w, tmp, (size_t)r);
			off += r;
		}
	}
	tw_flush(w);
	free(w);
}

void spool_emit(struct spool *s, int fd, const char *tag, size_t taglen)
{
	spool_emit_at(s, fd, tag, taglen, 1);
}
