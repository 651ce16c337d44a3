/* util.c - small helpers of the cache plugin: growable buffers, paths, whole
 * files, hex. Nothing here knows about entries or keys.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char *path_join(const char *a, const char *b)
{
	if (b[0] == '/' || !a || !a[0])
		return strdup(b);
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	/* "./x" and "x" are the same file: keep keys and paths tidy */
	while (lb > 2 && b[0] == '.' && b[1] == '/') {
		b += 2;
		lb -= 2;
	}
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

int mkdir_p(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return -e;
		}
		*s = '/';
	}
	free(p);
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -errno;
}

int read_file(const char *path, struct gbx_buf *out, uint64_t max)
{
	out->len = 0;
	/* never blocks on a FIFO and never reads a device (a FIFO or /dev/zero
	 * put in place of an entry): only regular files, else -EINVAL */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	size_t hint = (size_t)st.st_size + 2; /* room to see EOF (or growth) in one more read */
	for (;;) {
		if (out->cap < out->len + 2) {
			size_t cap =
			    out->cap * 2 > out->len + hint ? out->cap * 2 : out->len + hint;
			char *q = realloc(out->p, cap);
			if (!q) {
				rc = -ENOMEM;
				goto out;
			}
			out->p = q;
			out->cap = cap;
		}
		ssize_t r = read(fd, out->p + out->len, out->cap - 1 - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
		if (out->len > max) {
			rc = -EFBIG;
			goto out;
		}
	}
	out->p[out->len] = 0;
out:
	close(fd);
	return rc;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

void hex16(const uint8_t k[16], char out[33])
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = d[k[i] >> 4];
		out[2 * i + 1] = d[k[i] & 15];
	}
	out[32] = 0;
}

static int hexval(char h)
{
	return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

int unhex16(const char *s, uint8_t k[16])
{
	for (int i = 0; i < 16; i++) {
		int a = hexval(s[2 * i]), b = a < 0 ? -1 : hexval(s[2 * i + 1]);
		if (a < 0 || b < 0)
			return -1;
		k[i] = (uint8_t)(a << 4 | b);
	}
	return s[32] ? -1 : 0;
}

int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

long dir_names(const char *dir, int (*keep)(const char *name, void *ud), void *ud, char ***out)
{
	*out = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !keep(de->d_name, ud))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **p = realloc(names, cap * sizeof *p);
			if (!p)
				break;
			names = p;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	*out = names;
	return (long)n;
}

void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
