/* explain.c - `gearbox cache explain ID`: what a task's key was made of the
 * last time it was looked up, and for a miss, which component differs from
 * the last entry stored for that id.
 *
 * Each attempt's components (name and a 64-bit hash each) are kept in memory
 * during a run and merged at its end into DIR/v1/explain, a text file with two
 * lines per id at most: "L" (the last lookup: hit or miss) and "S" (the last
 * store). Fields are tab-separated; tabs and newlines in ids and names are
 * written as spaces.
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_clean(struct gbx_buf *b, const char *s)
{
	for (; *s; s++)
		gbx_buf_add(b, *s == '\t' || *s == '\n' ? " " : s, 1);
}

void explain_note(struct cache *c, const char *id, int stored, const char *status,
                  const uint8_t key[16], const struct kcomp *kc)
{
	struct gbx_buf line = {0};
	char hex[33];
	hex16(key, hex);
	for (int pass = 0; pass < 1 + !!stored; pass++) {
		gbx_buf_adds(&line, pass ? "S\t" : "L\t");
		add_clean(&line, id);
		gbx_buf_addf(&line, "\t%s\t%s", pass ? "stored" : status, hex);
		for (size_t i = 0; i < kc->n; i++) {
			gbx_buf_adds(&line, "\t");
			add_clean(&line, kc->name[i]);
			gbx_buf_addf(&line, "=%016llx", (unsigned long long)kc->h[i]);
		}
		gbx_buf_adds(&line, "\n");
	}
	pthread_mutex_lock(&c->x_mu);
	gbx_buf_add(&c->xlog, line.p, line.len);
	pthread_mutex_unlock(&c->x_mu);
	gbx_buf_free(&line);
}

struct xl {
	const char *p; /* a line, without its newline */
	size_t len, idlen;
	size_t seq;
};

static int cmp_xl(const void *a, const void *b)
{
	const struct xl *x = a, *y = b;
	/* by kind and id, then the latest first */
	size_t n = x->idlen < y->idlen ? x->idlen : y->idlen;
	int r = memcmp(x->p, y->p, n);
	if (r)
		return r;
	if (x->idlen != y->idlen)
		return x->idlen < y->idlen ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* Appends the lines of p to *v (n used, cap allocated). */
static void split(const char *p, size_t len, struct xl **v, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (p + i)) : len - i;
		const char *t1 = l > 2 ? memchr(p + i + 2, '\t', l - 2) : NULL;
		if (t1) {
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 256;
				struct xl *nv = realloc(*v, nc * sizeof *nv);
				if (!nv)
					return;
				*v = nv;
				*cap = nc;
			}
			(*v)[*n].p = p + i;
			(*v)[*n].len = l;
			(*v)[*n].idlen = (size_t)(t1 - (p + i)); /* "L\tID" */
			(*v)[*n].seq = *n;
			(*n)++;
		}
		i += l + 1;
	}
}

void explain_save(struct cache *c)
{
	pthread_mutex_lock(&c->x_mu);
	struct gbx_buf mine = c->xlog;
	memset(&c->xlog, 0, sizeof c->xlog);
	pthread_mutex_unlock(&c->x_mu);
	if (!mine.len || !c->disk_ok) {
		gbx_buf_free(&mine);
		return;
	}
	char *file = path_join(c->root, "explain");
	struct gbx_buf old = {0}, out = {0};
	struct xl *v = NULL;
	if (file && read_file(file, &old, 1ull << 30) != 0)
		old.len = 0;
	size_t n = 0, cap = 0;
	split(old.p, old.len, &v, &n, &cap);
	size_t nold = n;
	split(mine.p, mine.len, &v, &n, &cap); /* later lines: a higher seq, kept over older */
	qsort(v, n, sizeof *v, cmp_xl);
	/* per id: the latest L and S; when S was replaced in this run, the one
	 * before it becomes P (what a miss is compared with) */
	struct gbx_buf newp = {0};
	for (size_t i = 0; i < n; i++) {
		int first = !i || cmp_xl(&(struct xl){v[i].p, 0, v[i].idlen, 0},
		                         &(struct xl){v[i - 1].p, 0, v[i - 1].idlen, 0}) != 0;
		if (first && v[i].p[0] != 'P') {
			gbx_buf_add(&out, v[i].p, v[i].len);
			gbx_buf_add(&out, "\n", 1);
		} else if (!first && v[i].p[0] == 'S' &&
		           (i < 2 || cmp_xl(&(struct xl){v[i].p, 0, v[i].idlen, 0},
		                            &(struct xl){v[i - 2].p, 0, v[i - 2].idlen, 0}) != 0) &&
		           v[i].seq < nold && v[i - 1].seq >= nold) {
			gbx_buf_add(&newp, "P", 1); /* the entry before this run's */
			gbx_buf_add(&newp, v[i].p + 1, v[i].len - 1);
			gbx_buf_add(&newp, "\n", 1);
		}
	}
	/* old P lines of ids that got no new one */
	for (size_t i = 0; i < n; i++) {
		if (v[i].p[0] != 'P' || (i && cmp_xl(&(struct xl){v[i].p, 0, v[i].idlen, 0},
		                                     &(struct xl){v[i - 1].p, 0, v[i - 1].idlen,
		                                                  0}) == 0))
			continue;
		int replaced = 0;
		for (const char *q = newp.p; q && q < newp.p + newp.len;) {
			const char *nl = memchr(q, '\n', (size_t)(newp.p + newp.len - q));
			if (!strncmp(q, v[i].p, v[i].idlen) && q[v[i].idlen] == '\t')
				replaced = 1;
			q = nl ? nl + 1 : newp.p + newp.len;
		}
		if (!replaced) {
			gbx_buf_add(&out, v[i].p, v[i].len);
			gbx_buf_add(&out, "\n", 1);
		}
	}
	gbx_buf_add(&out, newp.p, newp.len);
	gbx_buf_free(&newp);
	if (file && out.len)
		disk_write_file(c, file, out.p, out.len);
	free(v);
	free(file);
	gbx_buf_free(&old);
	gbx_buf_free(&out);
	gbx_buf_free(&mine);
}

/* The component "name=hash" fields of a line, from its fifth field on. */
static const char *comps(const char *line)
{
	const char *p = line;
	for (int i = 0; i < 4 && p; i++) {
		p = strchr(p, '\t');
		if (p)
			p++;
	}
	return p ? p : "";
}

static int has_comp(const char *list, const char *name, size_t nl, const char **hash)
{
	for (const char *p = list; *p;) {
		const char *end = strchr(p, '\t');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', l);
		while (eq && memchr(eq + 1, '=', (size_t)(p + l - eq - 1)))
			eq = memchr(eq + 1, '=', (size_t)(p + l - eq - 1));
		if (eq && (size_t)(eq - p) == nl && !memcmp(p, name, nl)) {
			*hash = eq + 1;
			return 1;
		}
		p = end ? end + 1 : p + l;
	}
	return 0;
}

int explain_cmd(struct cache *c, const char *id)
{
	char *file = path_join(c->root, "explain");
	struct gbx_buf b = {0};
	int rc = file ? read_file(file, &b, 1ull << 30) : -1;
	free(file);
	if (rc || !b.len) {
		printf("gearbox cache explain: no task has been looked up in %s yet\n", c->dir);
		gbx_buf_free(&b);
		return 1;
	}
	gbx_buf_add(&b, "", 1);
	char *L = NULL, *S = NULL, *P = NULL;
	size_t il = strlen(id);
	for (char *p = b.p; *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		if ((p[0] == 'L' || p[0] == 'S' || p[0] == 'P') && p[1] == '\t' &&
		    !strncmp(p + 2, id, il) && p[2 + il] == '\t')
			*(p[0] == 'L' ? &L : p[0] == 'S' ? &S : &P) = p;
		p = nl ? nl + 1 : p + strlen(p);
	}
	if (!L) {
		printf("gearbox cache explain: no task with id '%s' was looked up (ids as in the "
		       "workload)\n",
		       id);
		gbx_buf_free(&b);
		return 1;
	}
	char status[16] = "", key[40] = "";
	sscanf(L + 3 + il, "%15[^\t]\t%39[^\t]", status, key);
	printf("task %s: last looked up: %s, key %s\n", id, status, key);
	/* a miss whose result was stored: compare with the entry before it */
	if (S && !strcmp(status, "miss") && strstr(S, key))
		S = P;
	printf("components:\n");
	const char *lc = comps(L), *sc = S ? comps(S) : NULL;
	int changed = 0;
	for (const char *p = lc; *p;) {
		const char *end = strchr(p, '\t');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		const char *eq = p + l;
		while (eq > p && *eq != '=')
			eq--;
		const char *h = NULL;
		const char *mark = "";
		if (sc && strcmp(status, "hit")) {
			if (!has_comp(sc, p, (size_t)(eq - p), &h))
				mark = "   <- new since the last entry";
			else if (strncmp(h, eq + 1, 16))
				mark = "   <- changed since the last entry";
			if (*mark)
				changed++;
		}
		printf("  %-60.*s %.16s%s\n", (int)(eq - p), p, eq + 1, mark);
		p = end ? end + 1 : p + l;
	}
	if (sc && strcmp(status, "hit")) {
		for (const char *p = sc; *p;) { /* components the last entry had and this lookup not */
			const char *end = strchr(p, '\t');
			size_t l = end ? (size_t)(end - p) : strlen(p);
			const char *eq = p + l, *h;
			while (eq > p && *eq != '=')
				eq--;
			if (!has_comp(lc, p, (size_t)(eq - p), &h)) {
				printf("  %-60.*s (gone since the last entry)\n", (int)(eq - p), p);
				changed++;
			}
			p = end ? end + 1 : p + l;
		}
	}
	if (!strcmp(status, "miss")) {
		if (!S)
			printf("a miss: no entry was ever stored for this id\n");
		else if (!changed)
			printf("a miss: every component is as in the last entry stored for this id (it "
			       "was evicted, expired, or its depfile's files changed)\n");
		else
			printf("a miss: %d component%s differ%s from the last entry stored for this id\n",
			       changed, changed == 1 ? "" : "s", changed == 1 ? "s" : "");
	}
	gbx_buf_free(&b);
	return 0;
}
