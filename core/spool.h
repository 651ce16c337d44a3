/* spool.h - a task's stdout or stderr as it is read, never held whole in
 * memory: the bytes stay in memory while they fit in SPOOL_MEM, then move
 * to an unlinked temporary file in $TMPDIR (or, for --output-dir, to an
 * unnamed file in that directory that is named when the task ends). A
 * zero-initialised spool is an empty one.
 *
 * A byte that cannot be held (the disk is full, the file-size limit is
 * reached) is counted in `lost` with the first errno in `err`: the attempt
 * then fails saying so (spool_why), and the run goes on.
 */
#ifndef GBX_SPOOL_H
#define GBX_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define SPOOL_MEM (256 * 1024) /* per stream, then a temporary file */

struct spool {
	struct buf m;      /* the bytes while in memory (m.len == len) */
	int fd;            /* the file holding all the bytes, when file is set */
	int file;          /* the bytes are in fd, m is empty */
	uint64_t len;      /* bytes held */
	uint64_t lost;     /* bytes that could not be held */
	int err;           /* errno of the first failure, or 0 */
	const char *dir;   /* --output-dir: write into this directory (borrowed) */
	char *tmpname;     /* there, a named temporary file (no O_TMPFILE), owned */
};

/* Appends n bytes. Never fails the caller: what cannot be held is counted. */
void spool_add(struct spool *s, const char *p, size_t n);
/* Empty again: closes its file (a temporary one disappears), keeps at most
 * SPOOL_MEM of memory for reuse. dir is kept. */
void spool_reset(struct spool *s);
/* spool_reset, cheap for the common spool: in memory, nothing lost. */
static inline void spool_clear(struct spool *s)
{
	if (!s->file && !s->lost && !s->tmpname)
		s->m.len = 0, s->len = 0;
	else
		spool_reset(s);
}
/* Frees everything. */
void spool_free(struct spool *s);

/* Writes the bytes to fd; returns 0 or the first errno (the rest is still
 * tried: a closed terminal must not stop a run). */
int spool_copy(struct spool *s, int fd);
/* Writes the spool to fd, tag before each line (bol: the first byte starts
 * a line). */
void spool_emit_at(struct spool *s, int fd, const char *tag, size_t taglen, int bol);
void spool_emit(struct spool *s, int fd, const char *tag, size_t taglen);

/* Hands the bytes to fn in pieces of at most 64 KB, in order. */
void spool_each(const struct spool *s, void (*fn)(void *ctx, const char *p, size_t n), void *ctx);

/* The last at most n bytes into dst; returns how many. */
size_t spool_tail(const struct spool *s, char *dst, size_t n);

/* All the bytes as one contiguous read-only region of s->len bytes, for a
 * reader that needs them so (a plugin's gbx_result): the memory itself, or
 * the file mapped (its pages are the page cache's, not the heap's). *map
 * gets what spool_unview must release (NULL when nothing). Returns NULL
 * (errno set) when the file cannot be mapped. */
const char *spool_view(const struct spool *s, void **map);
void spool_unview(const struct spool *s, void *map);

/* --output-dir: names the bytes as path (replacing a regular file whole;
 * writing through a device, FIFO or symlink, never replacing it). Returns 0
 * or an errno; the spool is empty afterwards either way. */
int spool_publish(struct spool *s, const char *path);

/* Why bytes were lost, for an attempt's message ("" when none). */
void spool_why(const struct spool *out, const struct spool *err, char *msg, size_t n);

#endif
