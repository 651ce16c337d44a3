/* parallel_jobs.c - `gearbox parallel`'s jobs: GNU parallel's shell quoting,
 * the replacement strings ({} {.} {/} {//} {/.} {#} {%} {n...} and -I) and
 * the expansion of the input sources into one shell command per job (-n, -N,
 * -m, -X, --colsep, --shuf), in GNU parallel's order. The options that steer
 * it are read by parallel_args.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "parallel.h"
#include "workload.h"

/* A job error: one line naming it; 255 as GNU parallel exits. */
static int bad(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "gearbox parallel: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return PAR_EXIT_ERROR;
}

/* ---- quoting and replacement strings ------------------------------------- */

void par_quote(struct buf *b, const char *s, size_t n)
{
	int plain = n > 0;
	for (size_t i = 0; i < n && plain; i++) {
		unsigned char c = (unsigned char)s[i];
		plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+' || c == '/';
		if (c >= 0x80)
			plain = 0;
	}
	if (plain) {
		buf_add(b, s, n);
		return;
	}
	if (n == 0) {
		buf_adds(b, "''");
		return;
	}
	/* '...' with each ' as '"'"', and the '' a leading or trailing ' leaves dropped */
	size_t i = 0;
	if (s[0] == '\'') {
		buf_adds(b, "\"'\"");
		i = 1;
		if (i == n)
			return;
	}
	buf_add(b, "'", 1);
	for (; i < n; i++) {
		if (s[i] == '\'') {
			if (i == n - 1) {
				buf_adds(b, "'\"'\"");
				return;
			}
			buf_adds(b, "'\"'\"'");
		} else {
			buf_add(b, s + i, 1);
		}
	}
	buf_add(b, "'", 1);
}


/* A replacement string at s: {} {.} {/} {//} {/.} {#} {%}, or the first
 * five with a position ({2} {2.} ...); -I STR replaces {} (and takes the
 * same modifiers after a copy of STR without its closing brace, as GNU does
 * only for {}, so here STR alone). Returns its length, or 0. */
static size_t rpl_at(const struct par_opts *o, const char *s, long *pos, enum rop *op)
{
	if (strcmp(o->rpl, "{}")) {
		size_t l = strlen(o->rpl);
		if (!strncmp(s, o->rpl, l)) {
			*pos = 0;
			*op = R_NONE;
			return l;
		}
	}
	if (s[0] != '{')
		return 0;
	const char *q = s + 1;
	if (q[0] == '#' && q[1] == '}') {
		*pos = 0, *op = R_SEQ;
		return 3;
	}
	if (q[0] == '%' && q[1] == '}') {
		*pos = 0, *op = R_SLOT;
		return 3;
	}
	long n = 0;
	while (*q >= '0' && *q <= '9' && n < 1000000)
		n = n * 10 + (*q++ - '0');
	if (q > s + 1 && n == 0)
		return 0;
	if (!strcmp(o->rpl, "{}") || q > s + 1) {
		static const struct { const char *t; enum rop op; } ops[] = {
			{"}", R_NONE}, {".}", R_EXT}, {"/}", R_BASE}, {"//}", R_DIR}, {"/.}", R_BASEEXT}};
		for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
			size_t l = strlen(ops[i].t);
			if (!strncmp(q, ops[i].t, l)) {
				*pos = n;
				*op = ops[i].op;
				return (size_t)(q - s) + l;
			}
		}
	}
	return 0;
}

void par_modify(struct buf *b, const char *a, enum rop op, int quote)
{
	size_t n = strlen(a);
	if (op == R_BASE || op == R_BASEEXT) {
		const char *sl = strrchr(a, '/');
		if (sl) {
			n -= (size_t)(sl + 1 - a);
			a = sl + 1;
		}
	}
	if (op == R_EXT || op == R_BASEEXT) {
		const char *dot = memrchr(a, '.', n);
		if (dot && !memchr(dot, '/', n - (size_t)(dot - a)))
			n = (size_t)(dot - a);
	}
	if (op == R_DIR) { /* dirname(1), as Perl's File::Basename */
		while (n > 1 && a[n - 1] == '/')
			n--;
		while (n > 0 && a[n - 1] != '/')
			n--;
		while (n > 1 && a[n - 1] == '/')
			n--;
		if (n == 0) {
			a = ".";
			n = 1;
		}
	}
	if (quote)
		par_quote(b, a, n);
	else
		buf_add(b, a, n);
}

static void put_rpl(const struct par_opts *o, struct buf *b, const struct par_job *j,
		    long pos, enum rop op)
{
	if (op == R_SEQ) {
		buf_addf(b, "%llu", (unsigned long long)j->seq);
		return;
	}
	if (op == R_SLOT) {
		buf_adds(b, SLOT_MARK);
		return;
	}
	if (pos > 0) {
		if ((uint32_t)pos <= j->nargs)
			par_modify(b, j->args[pos - 1], op, 1);
		return;
	}
	(void)o;
	for (uint32_t k = 0; k < j->nargs; k++) {
		if (k)
			buf_add(b, " ", 1);
		par_modify(b, j->args[k], op, 1);
	}
}

static int template_has_rpl(const struct par_opts *o, const char *t)
{
	for (const char *s = t; *s; s++) {
		long pos;
		enum rop op;
		if (rpl_at(o, s, &pos, &op)) /* {#} and {%} count, as in GNU */
			return 1;
	}
	return 0;
}

/* Expands template t for job j into b. With -X, a word holding a
 * replacement string of all arguments is repeated once per argument. */
static void expand(const struct par_opts *o, const char *t, struct par_job *j, struct buf *b)
{
	const char *s = t;
	while (*s) {
		if (o->ctx_replace && j->nargs > 1) {
			/* find this word's end and whether it holds an all-args string */
			const char *w = s;
			while (*w == ' ')
				buf_add(b, w++, 1);
			const char *we = w;
			int any = 0;
			while (*we && *we != ' ') {
				long pos;
				enum rop op;
				size_t l = rpl_at(o, we, &pos, &op);
				if (l && pos == 0 && op != R_SEQ && op != R_SLOT)
					any = 1;
				we += l ? l : 1;
			}
			uint32_t reps = any ? j->nargs : 1;
			for (uint32_t r = 0; r < reps; r++) {
				if (r)
					buf_add(b, " ", 1);
				for (const char *p = w; p < we;) {
					long pos;
					enum rop op;
					size_t l = rpl_at(o, p, &pos, &op);
					if (!l) {
						buf_add(b, p++, 1);
						continue;
					}
					if (any && pos == 0 && op != R_SEQ && op != R_SLOT)
						par_modify(b, j->args[r], op, 1);
					else
						put_rpl(o, b, j, pos, op);
					p += l;
				}
			}
			s = we;
			continue;
		}
		long pos;
		enum rop op;
		size_t l = rpl_at(o, s, &pos, &op);
		if (!l) {
			buf_add(b, s++, 1);
			continue;
		}
		put_rpl(o, b, j, pos, op);
		s += l;
	}
}

int par_has_slot(const char *cmd)
{
	return strstr(cmd, SLOT_MARK) != NULL;
}

void par_slot_cmd(struct buf *b, const char *cmd, int slot)
{
	const char *s = cmd, *m;
	while ((m = strstr(s, SLOT_MARK))) {
		buf_add(b, s, (size_t)(m - s));
		buf_addf(b, "%d", slot);
		s = m + strlen(SLOT_MARK);
	}
	buf_adds(b, s);
}

/* ---- jobs ---------------------------------------------------------------- */

struct recs {
	char **v;          /* all records' values, flat */
	uint32_t *off;     /* record r: v[off[r] .. off[r+1]) */
	size_t n, nv, cap, vcap;
};

static int rec_add(struct recs *r, char *const *vals, size_t nv)
{
	if (r->n + 2 > r->cap) {
		size_t c = r->cap ? r->cap * 2 : 256;
		uint32_t *no = realloc(r->off, c * sizeof *no);
		if (!no)
			return -1;
		r->off = no;
		r->cap = c;
	}
	if (r->nv + nv + 1 > r->vcap) {
		size_t c = r->vcap ? r->vcap * 2 : 256;
		while (c < r->nv + nv + 1)
			c *= 2;
		char **nvv = realloc(r->v, c * sizeof *nvv);
		if (!nvv)
			return -1;
		r->v = nvv;
		r->vcap = c;
	}
	if (r->n == 0)
		r->off[0] = 0;
	memcpy(r->v + r->nv, vals, nv * sizeof *vals);
	r->nv += nv;
	r->off[++r->n] = (uint32_t)r->nv;
	return 0;
}

/* Splits value v at the column separator into cols (strings owned by o's
 * column store). */
static int split_cols(struct par_opts *o, const char *v, char ***cols, size_t *n, size_t *cap,
		      char ***store, size_t *nstore)
{
	const char *s = v;
	regmatch_t m;
	*n = 0;
	for (;;) {
		size_t len;
		const char *next = NULL;
		if (*s && regexec(&o->colsep_re, s, 1, &m, s == v ? 0 : REG_NOTBOL) == 0 && m.rm_eo > 0) {
			len = (size_t)m.rm_so;
			next = s + m.rm_eo;
		} else {
			len = strlen(s);
		}
		if (*n + 1 > *cap) {
			*cap = *cap ? *cap * 2 : 8;
			char **nc = realloc(*cols, *cap * sizeof *nc);
			if (!nc)
				return -1;
			*cols = nc;
		}
		char *c = strndup(s, len);
		char **ns = realloc(*store, (*nstore + 1) * sizeof *ns);
		if (!c || !ns) {
			free(c);
			return -1;
		}
		*store = ns;
		(*store)[(*nstore)++] = c;
		(*cols)[(*n)++] = c;
		if (!next)
			break;
		s = next;
	}
	return 0;
}

static int blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return 0;
	return 1;
}

int par_jobs(struct par_opts *o, int jobs, struct par_job **jobs_out, size_t *njobs)
{
	*jobs_out = NULL;
	*njobs = 0;
	/* groups: a source and the ones linked to it (all of them with --link) */
	int ng = 0;
	int *gstart = calloc((size_t)o->nsrc + 1, sizeof *gstart);
	size_t *glen = calloc((size_t)o->nsrc + 1, sizeof *glen);
	if (!gstart || !glen) {
		free(gstart);
		free(glen);
		return bad("out of memory%s%s", "", "");
	}
	for (int s = 0; s < o->nsrc; s++) {
		if (s == 0 || !(o->src[s].linked || o->link))
			gstart[ng++] = s;
	}
	gstart[ng] = o->nsrc;
	uint64_t total = 1;
	for (int g = 0; g < ng; g++) {
		size_t len = 0;
		for (int s = gstart[g]; s < gstart[g + 1]; s++)
			if (o->src[s].n > len)
				len = o->src[s].n;
		/* with --link a group is as long as its longest source, and the
		 * shorter ones wrap; with :::+ as its shortest */
		for (int s = gstart[g]; s < gstart[g + 1]; s++)
			if (o->src[s].n == 0 || (!o->link && o->src[s].n < len))
				len = o->src[s].n;
		glen[g] = len;
		if (len && total > (UINT64_C(1) << 31) / len) {
			free(gstart);
			free(glen);
			return bad("too many jobs (more than 2^31)%s%s", "", "");
		}
		total *= len;
	}
	struct recs r = {0};
	size_t *cur = calloc((size_t)ng + 1, sizeof *cur);
	char **vals = calloc((size_t)o->nsrc + 1, sizeof *vals);
	char **cols = NULL, **store = NULL;
	size_t ccap = 0, nstore = 0;
	int rc = 0;
	for (uint64_t k = 0; k < total && cur && vals && rc == 0; k++) {
		size_t nv = 0;
		for (int g = 0; g < ng; g++)
			for (int s = gstart[g]; s < gstart[g + 1]; s++)
				vals[nv++] = o->src[s].v[cur[g] % o->src[s].n];
		int skip = 0;
		if (o->no_run_if_empty) {
			skip = 1;
			for (size_t i = 0; i < nv; i++)
				skip &= blank(vals[i]);
		}
		if (!skip && o->have_re) {
			/* every value split into columns, in order */
			char **all = NULL;
			size_t nall = 0;
			for (size_t i = 0; i < nv && rc == 0; i++) {
				size_t nc = 0;
				if (split_cols(o, vals[i], &cols, &nc, &ccap, &store, &nstore)) {
					rc = -1;
					break;
				}
				char **na = realloc(all, (nall + nc + 1) * sizeof *na);
				if (!na) {
					rc = -1;
					break;
				}
				all = na;
				memcpy(all + nall, cols, nc * sizeof *cols);
				nall += nc;
			}
			if (rc == 0 && rec_add(&r, all, nall))
				rc = -1;
			free(all);
		} else if (!skip && rec_add(&r, vals, nv)) {
			rc = -1;
		}
		for (int g = ng; g-- > 0;) { /* the last source runs fastest */
			if (++cur[g] < glen[g])
				break;
			cur[g] = 0;
		}
	}
	free(cur);
	free(vals);
	free(cols);
	free(gstart);
	free(glen);
	if (rc || (total && !r.off)) {
		free(r.v);
		free(r.off);
		for (size_t i = 0; i < nstore; i++)
			free(store[i]);
		free(store);
		return bad("out of memory%s%s", "", "");
	}
	o->colstore = store;
	o->ncolstore = nstore;

	/* records per job */
	size_t per = 1;
	if (o->exact_args > 0)
		per = (size_t)o->exact_args;
	else if (o->max_args > 0)
		per = (size_t)o->max_args;
	else if (o->multi || o->ctx_replace)
		per = jobs > 0 ? (r.n + (size_t)jobs - 1) / (size_t)jobs : r.n;
	if (per == 0)
		per = 1;
	size_t nj = r.n ? (r.n + per - 1) / per : 0;
	struct par_job *jv = calloc(nj ? nj : 1, sizeof *jv);
	if (!jv) {
		free(r.v);
		free(r.off);
		return bad("out of memory%s%s", "", "");
	}
	/* the jobs' args point into r.v, which o owns from here */
	o->argstore = r.v;
	struct buf tb = {0};
	if (o->ncmd) {
		for (int i = 0; i < o->ncmd; i++) {
			if (i)
				buf_add(&tb, " ", 1);
			if (o->quote)
				par_quote(&tb, o->cmd[i], strlen(o->cmd[i]));
			else
				buf_adds(&tb, o->cmd[i]);
		}
		if (!template_has_rpl(o, tb.p)) {
			buf_add(&tb, " ", 1);
			buf_adds(&tb, o->rpl);
		}
	}
	struct buf b = {0};
	for (size_t k = 0; k < nj; k++) {
		struct par_job *j = &jv[k];
		size_t r0 = k * per, r1 = r0 + per < r.n ? r0 + per : r.n;
		j->seq = k + 1;
		j->args = r.v + r.off[r0];
		j->nargs = r.off[r1] - r.off[r0];
		j->nrec = (uint32_t)(r1 - r0);
		b.len = 0;
		if (o->ncmd) {
			expand(o, tb.p, j, &b);
		} else {
			for (uint32_t a = 0; a < j->nargs; a++) {
				if (a)
					buf_add(&b, " ", 1);
				buf_adds(&b, j->args[a]);
			}
		}
		j->cmd = strndup(b.p ? b.p : "", b.len);
	}
	buf_free(&b);
	buf_free(&tb);
	free(r.off);
	if (o->shuf && nj > 1) {
		/* GNU shuffles the jobs, and numbers them as they run */
		unsigned int seed = (unsigned int)(now_ns() ^ getpid());
		for (size_t i = nj - 1; i > 0; i--) {
			size_t x = (size_t)rand_r(&seed) % (i + 1);
			struct par_job t = jv[i];
			jv[i] = jv[x];
			jv[x] = t;
		}
	}
	*jobs_out = jv;
	*njobs = nj;
	return 0;
}

void par_jobs_free(struct par_job *jobs, size_t n)
{
	if (!jobs)
		return;
	for (size_t i = 0; i < n; i++)
		free(jobs[i].cmd);
	free(jobs);
}

