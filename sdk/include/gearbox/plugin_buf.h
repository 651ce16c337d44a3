/* gearbox/plugin_buf.h - a growable byte buffer for plugins, header only.
 *
 * Part of the SDK's helper layer (with plugin_json.h, plugin_config.h and
 * plugin_spawn.h): static inline functions a plugin compiles in, never linked
 * into the engine and never needed by it.
 *
 * A struct gbx_buf zeroed (`struct gbx_buf b = {0};`) is an empty buffer. Its
 * bytes are b.p[0 .. b.len), always followed by a NUL once anything was added
 * (so b.p is a C string when the bytes hold no NUL), and b.p is NULL until
 * then. Running out of memory never fails loudly: the buffer sets `oom`, drops
 * that append and every later one, and the caller checks `oom` once at the
 * end (a half-built message is never mistaken for a whole one). The buffer
 * owns b.p: gbx_buf_free releases it, or take it (`char *s = b.p;`) and free()
 * it yourself. Not thread-safe: one buffer, one thread at a time.
 */
#ifndef GEARBOX_PLUGIN_BUF_H
#define GEARBOX_PLUGIN_BUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gbx_buf {
	char *p;       /* owned; NULL until the first append */
	size_t len;    /* bytes held, not counting the NUL after them */
	size_t cap;    /* bytes allocated */
	int oom;       /* sticky: an append failed for want of memory */
};

/* Makes room for `more` bytes and the NUL. Returns 0, or -1 (and sets oom)
 * when memory runs out or the buffer is already oom. */
static inline int gbx_buf_reserve(struct gbx_buf *b, size_t more)
{
	if (b->oom)
		return -1;
	if (more > (size_t)-1 / 2 - b->len) {
		b->oom = 1;
		return -1;
	}
	if (b->len + more + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = (char *)realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Appends n bytes of s (which may hold NULs). Returns 0 or -1 (oom). */
static inline int gbx_buf_add(struct gbx_buf *b, const void *s, size_t n)
{
	if (gbx_buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* Appends the C string s. */
static inline int gbx_buf_adds(struct gbx_buf *b, const char *s)
{
	return gbx_buf_add(b, s, strlen(s));
}

/* Appends one byte. */
static inline int gbx_buf_addc(struct gbx_buf *b, char c)
{
	return gbx_buf_add(b, &c, 1);
}

/* Appends printf-style text. Returns 0 or -1 (oom, or a bad format). */
static inline int gbx_buf_vaddf(struct gbx_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return -1;
	}
	int rc;
	if ((size_t)n < sizeof small) {
		rc = gbx_buf_add(b, small, (size_t)n);
	} else if ((rc = gbx_buf_reserve(b, (size_t)n)) == 0) {
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
		b->len += (size_t)n;
	}
	va_end(ap2);
	return rc;
}

static inline int gbx_buf_addf(struct gbx_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int gbx_buf_addf(struct gbx_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = gbx_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* Appends s as a JSON string literal, quotes included (`null` for NULL):
 * '"', '\\' and control bytes escaped, other bytes (UTF-8) as they are. */
static inline int gbx_buf_json(struct gbx_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s)
		return gbx_buf_add(b, "null", 4);
	gbx_buf_addc(b, '"');
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		gbx_buf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': gbx_buf_add(b, "\\\"", 2); break;
		case '\\': gbx_buf_add(b, "\\\\", 2); break;
		case '\n': gbx_buf_add(b, "\\n", 2); break;
		case '\r': gbx_buf_add(b, "\\r", 2); break;
		case '\t': gbx_buf_add(b, "\\t", 2); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			gbx_buf_add(b, u, 6);
		}
		}
	}
	gbx_buf_add(b, run, (size_t)(s - run));
	return gbx_buf_addc(b, '"');
}

/* Empties the buffer and keeps its memory (oom is cleared too). */
static inline void gbx_buf_reset(struct gbx_buf *b)
{
	b->len = 0;
	b->oom = 0;
	if (b->p)
		b->p[0] = 0;
}

/* Releases the memory; the buffer is empty (zeroed) again. */
static inline void gbx_buf_free(struct gbx_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

#ifdef __cplusplus
}
#endif
#endif
