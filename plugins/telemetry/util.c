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

void tb_html(struct gbx_buf *b, const char *s)
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
		gbx_buf_add(b, run, (size_t)(s - run));
		gbx_buf_adds(b, rep);
		run = s + 1;
	}
	gbx_buf_add(b, run, (size_t)(s - run));
}

void tb_u64(struct gbx_buf *b, uint64_t v)
{
	char d[24];
	int i = sizeof d;
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	gbx_buf_add(b, d + i, sizeof d - (size_t)i);
}

void tb_milli(struct gbx_buf *b, uint64_t v)
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
	gbx_buf_add(b, d + i, sizeof d - (size_t)i);
}

void tb_num(struct gbx_buf *b, double v, const char *nan_as)
{
	if (isnan(v)) {
		gbx_buf_adds(b, nan_as);
		return;
	}
	if (isinf(v)) {
		gbx_buf_adds(b, !strcmp(nan_as, "null") ? "null" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		if (v < 0) {
			gbx_buf_addc(b, '-');
			v = -v;
		}
		tb_u64(b, (uint64_t)v);
		return;
	}
	gbx_buf_addf(b, fabs(v) >= 1e6 ? "%.12g" : "%.6g", v);
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
	gbx_buf_free(&f->buf);
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
