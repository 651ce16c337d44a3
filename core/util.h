/* util.h - small shared helpers: error messages, an arena, clocks, string lists.
 *
 * Owns nothing global. An arena hands out memory that lives until the arena is
 * freed; it is how a workload keeps a million task ids without a million mallocs.
 */
#ifndef GBX_UTIL_H
#define GBX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define GBX_ERRLEN 2048

/* A user-facing error: one message naming the file, the place and the problem. */
struct err {
	char msg[GBX_ERRLEN];
};

/* Sets err->msg (if err is not NULL) and returns -1, so callers can
 * `return err_set(err, ...)`. */
int err_set(struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct arena_chunk;
struct arena {
	struct arena_chunk *head;
	char *cur, *end;
	size_t total; /* bytes handed out, for memory accounting */
	void *oom_jmp; /* a jmp_buf *: out of memory longjmps there (value 1) instead
	                  of aborting; set by a loader that can report it */
};

void arena_init(struct arena *a);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);         /* 16-byte aligned, zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Monotonic and wall clocks. */
int64_t now_ns(void);
int64_t wall_ms(void);

/* Growable byte buffer (heap). */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
/* buf_add that returns -1 (b unchanged) instead of aborting when out of memory. */
int buf_try_add(struct buf *b, const void *p, size_t n);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_adds(struct buf *b, const char *s);
void buf_json_str(struct buf *b, const char *s); /* appends a JSON string literal */
void buf_free(struct buf *b);

/* Levenshtein distance, capped: returns > cap as cap + 1. For did-you-mean. */
int edit_distance(const char *a, const char *b, int cap);

/* The name in names[0..n) (stopping early at a NULL entry, so a
 * NULL-terminated list can pass SIZE_MAX) closest to key within edit
 * distance 2, or NULL: for did-you-mean. *dist (when not NULL) gets its
 * distance, or 3 when there is none. */
const char *nearest_name(const char *key, const char *const *names, size_t n, int *dist);

/* Appends s (not copied) to the NULL-terminated list *list of *n entries,
 * growing it. Returns 0, or -1 when out of memory (the list is unchanged). */
int strv_push(char ***list, int *n, char *s);

/* Number of online CPUs. */
int ncores(void);

/* Writes all n bytes to fd, retrying on EINTR; returns 0 or an errno (EIO
 * when write returns 0). */
int fd_write_all(int fd, const char *p, size_t n);

#endif
