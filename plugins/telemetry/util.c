/* util.c - text buffers, escaping, number formatting and atomic files for the
 * telemetry plugin (see util.h). Nothing here knows about gearbox.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tb_reserve(struct tbuf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void tb_add(struct tbuf *b, const char *s, size_t n)
{
	if (tb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void tb_adds(struct tbuf *b, const char *s)
{
	tb_add(b, s, strlen(s));
}

void tb_addc(struct tbuf *b, char c)
{
	if (tb_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = 0;
}

void tb_addf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		tb_add(b, small, (size_t)n);
		return;
	}
	if (tb_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void tb_free(struct tbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

void tb_json_str(struct tbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s) {
		tb_add(b, "null", 4);
		return;
	}
	tb_addc(b, '"');
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		tb_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
			tb_add(b, "\\\"", 2);
			break;
		case '\\':
			tb_add(b, "\\\\", 2);
			break;
		case '\n':
			tb_add(b, "\\n", 2);
			break;
		case '\r':
			tb_add(b, "\\r", 2);
			break;
		case '\t':
			tb_add(b, "\\t", 2);
			break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			tb_add(b, u, 6);
		}
		}
	}
	tb_add(b, run, (size_t)(s - run));
	tb_addc(b, '"');
}

void tb_html(struct tbuf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		tb_add(b, run, (size_t)(s - run));
		tb_adds(b, rep);
		run = s + 1;
	}
	tb_add(b, run, (size_t)(s - run));
}

void tb_u64(struct tbuf *b, uint64_t v)
{
	char d[24];
	int i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tb_add(b, d + i, sizeof d - (size_t)i);
}

void tb_milli(struct tbuf *b, uint64_t v)
{
	char d[28];
	int i = sizeof d;
	uint64_t frac = v % 1000;
	v /= 1000;
	d[--i] = (char)('0' + frac % 10);
	d[--i] = (char)('0' + frac / 10 % 10);
	d[--i] = (char)('0' + frac / 100);
	d[--i] = '.';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tb_add(b, d + i, sizeof d - (size_t)i);
}

void tb_num(struct tbuf *b, double v, const char *nan_as)
{
	if (isnan(v)) {
		tb_adds(b, nan_as);
		return;
	}
	if (isinf(v)) {
		tb_adds(b, !strcmp(nan_as, "null") ? "null" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		if (v < 0) {
			tb_addc(b, '-');
			v = -v;
		}
		tb_u64(b, (uint64_t)v);
		return;
	}
	tb_addf(b, fabs(v) >= 1e6 ? "%.12g" : "%.6g", v);
}

uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static char *tmp_name(const char *path)
{
	size_t n = strlen(path) + 32;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s.%ld.tmp", path, (long)getpid());
	return t;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int afile_open(struct afile *f, const char *path, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	f->fd = -1;
	f->path = strdup(path);
	f->tmp = tmp_name(path);
	if (!f->path || !f->tmp) {
		snprintf(err, errlen, "%s: out of memory", path);
		afile_abort(f);
		return -1;
	}
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0) {
		snprintf(err, errlen, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
		afile_abort(f);
		return -1;
	}
	return 0;
}

void afile_flush(struct afile *f)
{
	if (f->buf.len && !f->failed && write_all(f->fd, f->buf.p, f->buf.len))
		f->failed = errno ? errno : EIO;
	f->buf.len = 0;
}

void afile_write(struct afile *f, const char *p, size_t n)
{
	if (n && !f->failed && write_all(f->fd, p, n))
		f->failed = errno ? errno : EIO;
}

void afile_abort(struct afile *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->tmp);
	}
	free(f->path);
	free(f->tmp);
	tb_free(&f->buf);
	memset(f, 0, sizeof *f);
	f->fd = -1;
}

int afile_commit(struct afile *f, char *err, size_t errlen)
{
	afile_flush(f);
	int rc = 0;
	if (f->buf.oom)
		f->failed = ENOMEM;
	if (f->failed) {
		snprintf(err, errlen, "%s: cannot write: %s", f->path, strerror(f->failed));
		rc = -1;
	} else if (close(f->fd)) {
		snprintf(err, errlen, "%s: cannot write: %s", f->path, strerror(errno));
		f->fd = -1;
		unlink(f->tmp);
		rc = -1;
	} else {
		f->fd = -1;
		if (rename(f->tmp, f->path)) {
			snprintf(err, errlen, "%s: cannot rename %s over it: %s", f->path, f->tmp,
			         strerror(errno));
			unlink(f->tmp);
			rc = -1;
		}
	}
	afile_abort(f);
	return rc;
}

int write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	struct afile f;
	if (afile_open(&f, path, err, errlen))
		return -1;
	if (write_all(f.fd, data, len))
		f.failed = errno ? errno : EIO;
	return afile_commit(&f, err, errlen);
}

int check_writable(const char *path, char *err, size_t errlen)
{
	/* what write_atomic needs: a directory that takes a new file (its temp
	 * file), and no directory at the path itself. Asked, not tried: making
	 * and removing a file costs a few hundred microseconds per output. */
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	struct stat st;
	int e = 0;
	if (stat(dir, &st))
		e = errno;
	else if (!S_ISDIR(st.st_mode))
		e = ENOTDIR;
	else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS))
		e = errno;
	else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		e = EISDIR;
	if (e) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}
