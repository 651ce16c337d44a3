/* spool.c - `gearbox parallel`'s output buffers: a job's stdout or stderr
 * held until it is shown (memory, then an unlinked temporary file past
 * SPOOL_MEM, so a task's output is never held whole in memory), and the
 * writer that shows a spool with a tag before each line. parallel.c decides
 * what is shown when; this file only holds and writes bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "parallel.h"

void par_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static int tmp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	char path[4096];
	snprintf(path, sizeof path, "%s/gearbox-par.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

void par_spool_add(struct spool *s, const char *p, size_t n)
{
	if (s->fd < 0 && s->m.len + n > SPOOL_MEM) {
		s->fd = tmp_fd();
		if (s->fd >= 0 && s->m.len) {
			par_write_all(s->fd, s->m.p, s->m.len);
			buf_free(&s->m);
		}
	}
	if (s->fd >= 0)
		par_write_all(s->fd, p, n);
	else
		buf_add(&s->m, p, n);
	s->len += n;
}

void par_spool_reset(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->m.len = 0;
	if (s->m.cap > SPOOL_MEM) /* do not keep a big buffer per slot */
		buf_free(&s->m);
	s->len = 0;
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
	par_write_all(w->fd, w->b, w->n);
	w->n = 0;
}

static void tw_put(struct tagw *w, const char *p, size_t n)
{
	if (n >= sizeof w->b) {
		tw_flush(w);
		par_write_all(w->fd, p, n);
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
void par_spool_emit_at(struct spool *s, int fd, const char *tag, size_t taglen, int bol)
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
	if (s->fd < 0) {
		tw_add(w, s->m.p, s->m.len);
	} else {
		char tmp[65536];
		off_t off = 0;
		ssize_t r;
		while ((r = pread(s->fd, tmp, sizeof tmp, off)) > 0) {
			tw_add(w, tmp, (size_t)r);
			off += r;
		}
	}
	tw_flush(w);
	free(w);
}

void par_spool_emit(struct spool *s, int fd, const char *tag, size_t taglen)
{
	par_spool_emit_at(s, fd, tag, taglen, 1);
}
