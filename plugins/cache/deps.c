/* deps.c - inputs a task reports itself: a depfile in Makefile format (as
 * written by cc -MMD), ninja's `deps = gcc`.
 *
 * A task with `depfile` has two keys. The base key (k1) covers what the
 * workload declares. After a run, the depfile's prerequisites are recorded as
 * k1's manifest (DIR/v1/deps/xx/K1, one path a line) and the entry is stored
 * under k2 = k1 + the state of each listed file. A lookup reads the manifest
 * for k1 and hashes the files it lists: a header named there that changed
 * gives another k2, a miss. No manifest yet: a miss.
 */
#include "cache.h"

#include <gearbox/plugin_json.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int strv_add(char ***v, size_t *n, const char *s, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*v)[i]) == len && !memcmp((*v)[i], s, len))
			return 0;
	char **nv = realloc(*v, (*n + 2) * sizeof *nv);
	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strndup(s, len)))
		return -1;
	nv[++*n] = NULL;
	return 0;
}

char **depfile_parse(const char *text, size_t len)
{
	char **v = NULL;
	size_t n = 0;
	struct gbx_buf word = {0};
	int after_colon = 0, bad = 0;
	for (size_t i = 0; i <= len && !bad; i++) {
		char ch = i < len ? text[i] : '\n';
		if (ch == '\\' && i + 1 < len && text[i + 1] == '\n') { /* continuation */
			ch = ' ';
			i++;
		} else if (ch == '\\' && i + 2 < len && text[i + 1] == '\r' && text[i + 2] == '\n') {
			ch = ' ';
			i += 2;
		} else if (ch == '\\' && i + 1 < len && (text[i + 1] == ' ' || text[i + 1] == '#')) {
			bad |= gbx_buf_add(&word, &text[++i], 1); /* an escaped space is part of a name */
			continue;
		} else if (ch == '$' && i + 1 < len && text[i + 1] == '$') {
			bad |= gbx_buf_add(&word, "$", 1);
			i++;
			continue;
		}
		int space = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
		/* a colon ends the targets unless it is a drive letter or inside a word */
		int colon = ch == ':' && !after_colon &&
		            (i + 1 >= len || text[i + 1] == ' ' || text[i + 1] == '\t' ||
		             text[i + 1] == '\n' || text[i + 1] == '\r');
		if (space || colon) {
			if (word.len && after_colon)
				bad |= strv_add(&v, &n, word.p, word.len);
			word.len = 0;
			if (colon)
				after_colon = 1;
			if (ch == '\n')
				after_colon = 0;
			continue;
		}
		bad |= gbx_buf_add(&word, &ch, 1);
	}
	gbx_buf_free(&word);
	if (bad) {
		strv_free(v);
		return NULL;
	}
	return v;
}

int manifest_read(struct cache *c, const uint8_t k1[16], char ***deps)
{
	*deps = NULL;
	if (!c->disk_ok)
		return 1;
	char *p = manifest_path(c, k1);
	struct gbx_buf b = {0};
	int rc = p ? read_file(p, &b, 1 << 24) : -1;
	free(p);
	if (rc == -ENOENT) {
		gbx_buf_free(&b);
		return 1;
	}
	if (rc) {
		gbx_buf_free(&b);
		return -1;
	}
	static const char magic[] = "gearbox-deps/1\n";
	if (b.len < sizeof magic - 1 || memcmp(b.p, magic, sizeof magic - 1)) {
		gbx_buf_free(&b);
		return -1;
	}
	char **v = calloc(1, sizeof *v);
	size_t n = 0;
	int bad = !v;
	for (size_t i = sizeof magic - 1; i < b.len && !bad;) {
		const char *nl = memchr(b.p + i, '\n', b.len - i);
		size_t l = nl ? (size_t)(nl - (b.p + i)) : b.len - i;
		if (l)
			bad |= strv_add(&v, &n, b.p + i, l);
		i += l + 1;
	}
	gbx_buf_free(&b);
	if (bad) {
		strv_free(v);
		return -1;
	}
	*deps = v;
	return 0;
}

int manifest_write(struct cache *c, const uint8_t k1[16], char *const *deps)
{
	if (!c->disk_ok)
		return -1;
	struct gbx_buf b = {0};
	int bad = gbx_buf_adds(&b, "gearbox-deps/1\n");
	for (size_t i = 0; deps && deps[i]; i++)
		bad |= gbx_buf_adds(&b, deps[i]) | gbx_buf_add(&b, "\n", 1);
	char *p = manifest_path(c, k1);
	int rc = bad || !p ? -1 : disk_write_file(c, p, b.p, b.len);
	free(p);
	gbx_buf_free(&b);
	return rc;
}

char *task_depfile(struct cache *c, const gbx_task *t)
{
	char *j = c->host->task_field_json(t, "depfile");
	if (!j)
		return NULL;
	size_t n = strlen(j) + 1;
	char *s = malloc(n);
	if (s && (gbx_json_string(j, s, n) || !s[0])) {
		free(s);
		s = NULL;
	}
	free(j);
	return s;
}
