/* util.h - the telemetry plugin's small helpers: a growable text buffer with
 * the formatters every output needs (JSON strings, HTML text, fast integers
 * and fixed-point numbers, locale-free doubles), a string hash, and files
 * written atomically (a temp file in the same directory, then rename).
 *
 * A buffer never fails loudly: when memory runs out it sets `oom` and drops
 * what does not fit; the writer checks `oom` once at the end.
 */
#ifndef TEL_UTIL_H
#define TEL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The text buffer is the SDK's struct gbx_buf (gbx_buf_add, gbx_buf_addf,
 * gbx_buf_json, ...): NUL-terminated, oom sticky. */
#include <gearbox/plugin_buf.h>

/* s with & < > " ' escaped for HTML text and attribute values. */
void tb_html(struct gbx_buf *b, const char *s);
/* v in decimal, without printf. */
void tb_u64(struct gbx_buf *b, uint64_t v);
/* v / 1000 with exactly three decimals ("12.345"), without printf: used for
 * microsecond timestamps from nanoseconds. */
void tb_milli(struct gbx_buf *b, uint64_t v);
/* A double for JSON and Prometheus: integers without a fraction, others with
 * up to 6 significant digits (%.6g, or %.12g for large values); NaN and
 * infinities as `nan_as` (JSON has no literal for them: pass "null"). */
void tb_num(struct gbx_buf *b, double v, const char *nan_as);

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
	struct gbx_buf buf; /* flushed every ~1 MB */
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
