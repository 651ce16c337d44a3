/* proto.c - framing of the agent protocol (see proto.h): buffered reading of
 * one JSON line plus the raw bytes it announces, and writing a message in one
 * piece under the writer's lock so messages of two threads never interleave.
 */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

void proto_reader_init(struct proto_reader *r, int fd)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->max_bytes = PROTO_MAX_BYTES;
}

void proto_reader_free(struct proto_reader *r)
{
	free(r->p);
	memset(r, 0, sizeof *r);
	r->fd = -1;
}

/* Makes at least `need` unread bytes available. 1, 0 at EOF, -1 on error. */
static int fill(struct proto_reader *r, size_t need)
{
	while (r->len - r->off < need) {
		if (r->off && r->off == r->len)
			r->off = r->len = 0;
		if (r->cap == r->len || r->cap - r->off < need) {
			if (r->off) { /* compact */
				memmove(r->p, r->p + r->off, r->len - r->off);
				r->len -= r->off;
				r->off = 0;
			}
			if (r->cap - r->len < 65536 || r->cap < need) {
				size_t nc = r->cap ? r->cap * 2 : 131072;
				while (nc < need + 65536)
					nc *= 2;
				char *np = realloc(r->p, nc);
				if (!np)
					return -1;
				r->p = np;
				r->cap = nc;
			}
		}
		ssize_t n = read(r->fd, r->p + r->len, r->cap - r->len);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0 ? 0 : -1;
	}
	return 1;
}

int proto_read(struct proto_reader *r, json_t **msg, struct err *err)
{
	*msg = NULL;
	r->bytes = NULL;
	r->nbytes = 0;
	size_t scanned = 0;
	char *nl;
	for (;;) {
		nl = r->len > r->off + scanned
			     ? memchr(r->p + r->off + scanned, '\n', r->len - r->off - scanned)
			     : NULL;
		if (nl)
			break;
		scanned = r->len - r->off;
		if (scanned > PROTO_MAX_LINE)
			return err_set(err, "a message longer than %u bytes without a newline",
				       PROTO_MAX_LINE);
		int f = fill(r, scanned + 1);
		if (f == 0) {
			if (scanned)
				return err_set(err, "the stream ended inside a message");
			return 0;
		}
		if (f < 0)
			return err_set(err, "read: %s", strerror(errno ? errno : EIO));
	}
	size_t ll = (size_t)(nl - (r->p + r->off));
	size_t loff = r->off;
	json_error_t je;
	json_t *m = json_loadb(r->p + loff, ll, 0, &je);
	if (!m || !json_is_object(m)) {
		json_decref(m);
		return err_set(err, "not a protocol message (one JSON object per line): %.*s%s",
			       (int)(ll > 60 ? 60 : ll), r->p + loff, ll > 60 ? "..." : "");
	}
	r->off = loff + ll + 1;
	json_int_t nb = 0;
	json_t *b = json_object_get(m, "bytes");
	if (b) {
		nb = json_is_integer(b) ? json_integer_value(b) : -1;
		if (nb < 0 || (uint64_t)nb > r->max_bytes) {
			json_decref(m);
			return err_set(err, "bad \"bytes\" (at most %zu) in a message: %.*s",
				       r->max_bytes, (int)(ll > 60 ? 60 : ll), r->p + loff);
		}
	}
	if (nb > 0) {
		/* the line may move when the buffer grows: keep offsets */
		int f = fill(r, (size_t)nb);
		if (f <= 0) {
			json_decref(m);
			return err_set(err, "the stream ended inside a message's %lld bytes",
				       (long long)nb);
		}
		r->bytes = r->p + r->off;
		r->nbytes = (size_t)nb;
		r->off += (size_t)nb;
	}
	r->line_len = ll;
	*msg = m;
	return 1;
}

int proto_write(int fd, pthread_mutex_t *mu, const struct buf *head,
		const struct proto_part *parts, int nparts)
{
	struct iovec iov[8];
	int n = 0;
	iov[n++] = (struct iovec){head->p, head->len};
	iov[n++] = (struct iovec){"\n", 1};
	for (int i = 0; i < nparts && n < 8; i++)
		if (parts[i].n)
			iov[n++] = (struct iovec){(void *)parts[i].p, parts[i].n};
	int rc = 0;
	if (mu)
		pthread_mutex_lock(mu);
	int i = 0;
	while (i < n) {
		ssize_t w = writev(fd, iov + i, n - i);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		size_t left = (size_t)w;
		while (i < n && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (i < n) {
			iov[i].iov_base = (char *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	if (mu)
		pthread_mutex_unlock(mu);
	return rc;
}

int64_t proto_int(const json_t *msg, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(msg, key);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	if (json_is_boolean(v))
		return json_is_true(v);
	return dflt;
}

const char *proto_str(const json_t *msg, const char *key)
{
	json_t *v = json_object_get(msg, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

char **proto_strv(const json_t *msg, const char *key)
{
	json_t *a = json_object_get(msg, key);
	if (!json_is_array(a))
		return NULL;
	size_t n = json_array_size(a), total = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s))
			return NULL;
		total += json_string_length(s) + 1;
	}
	char **v = malloc((n + 1) * sizeof *v + total);
	if (!v)
		return NULL;
	char *p = (char *)(v + n + 1);
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(a, i);
		size_t l = json_string_length(s);
		memcpy(p, json_string_value(s), l + 1);
		v[i] = p;
		p += l + 1;
	}
	v[n] = NULL;
	return v;
}
