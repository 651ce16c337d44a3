/* util.h - the telemetry plugin's small helpers: a growable text buffer with
 * the formatters every output needs (JSON strings, HTML text, fast integers
 * and fixed-point numbers, locale-free doubles), a string hash, and files
 * written atomically (a temp file in the same directory, then rename).
 *
 * A tbuf never fails loudly: when memory runs out it sets `oom` and drops
 * what does not fit; the writer checks `oom` once at the end.
 */
#ifndef TEL_UTIL_H
#define TEL_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct tbuf {
	char *p; /* NUL-terminated when len > 0 (or after tb_reserve) */
	size_t len, cap;
	int oom;
};

/* Makes room for n more bytes; 0, or -1 (and oom set). */
int tb_reserve(struct tbuf *b, size_t n);
void tb_add(struct tbuf *b, const char *s, size_t n);
void tb_adds(struct tbuf *b, const char *s);
void tb_addc(struct tbuf *b, char c);
void tb_addf(struct tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tb_free(struct tbuf *b);

/* "s" as a JSON string literal, quotes included; NULL writes null. Bytes
 * >= 0x80 pass through (the engine's strings are UTF-8). */
void tb_json_str(struct tbuf *b, const char *s);
/* s with & < > " ' escaped for HTML text and attribute values. */
void tb_html(struct tbuf *b, const char *s);
/* v in decimal, without printf. */
void tb_u64(struct tbuf *b, uint64_t v);
/* v / 1000 with exactly three decimals ("12.345"), without printf: used for
 * microsecond timestamps from nanoseconds. */
void tb_milli(struct tbuf *b, uint64_t v);
/* A double for JSON and Prometheus: integers without a fraction, others with
 * up to 6 significant digits (%.6g, or %.12g for large values); NaN and
 * infinities as `nan_as` (JSON has no literal for them: pass "null"). */
void tb_num(struct tbuf *b, double v, const char *nan_as);

/* FNV-1a, 64 bits. */
uint64_t str_hash(const char *s);

/* Writes len bytes to path atomically: PATH.PID.tmp in the same directory,
 * then rename(2) over path. Returns 0, or -1 with a message in err that
 * names the file. */
int write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Streaming flavour for big files: open a temp file, append, then commit
 * (rename) or abort (unlink). */
struct afile {
	int fd;
	int failed;
	char *path, *tmp;
	struct tbuf buf; /* flushed every ~1 MB */
};
int afile_open(struct afile *f, const char *path, char *err, size_t errlen);
void afile_flush(struct afile *f); /* writes what buf holds */
void afile_write(struct afile *f, const char *p,
                 size_t n); /* writes p now (after buf's bytes: flush first) */
int afile_commit(struct afile *f, char *err, size_t errlen); /* always frees */
void afile_abort(struct afile *f);

/* Checks at init that a file can be created next to path (a temp file is
 * created and removed). 0, or -1 with the reason in err. */
int check_writable(const char *path, char *err, size_t errlen);

#endif
