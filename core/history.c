/* history.c - the run history in SQLite. See history.h.
 *
 * Schema version 1 (PRAGMA user_version): one table of attempts. Writes are
 * BEGIN IMMEDIATE transactions under a 10 s busy timeout, so two runs that
 * finish together take turns instead of failing; WAL lets readers go on
 * meanwhile.
 */
#include "history.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hrow {
	uint32_t idx;
	int64_t peak_kb;
	double ms;
	const char *outcome;  /* a static string */
};

struct history {
	sqlite3 *db;
	char *path;
	struct hrow *rows;
	size_t n, cap;
};

/* No fsync at all: history is advice, not a record. A crash of the machine
 * may lose the last runs' rows or damage the file; a damaged file is moved
 * aside and started afresh (hist_open, hist_flush), never a failed run. An
 * fsync per run cost 30 us per task on 3,000 `true` (tests/bench). */
static const char pragmas[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;";

/* Made once per file: user_version says it is there. */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS attempts(id INTEGER PRIMARY KEY, task TEXT NOT NULL,"
	" tmpl TEXT NOT NULL, ms REAL NOT NULL, peak_kb INTEGER, outcome TEXT NOT NULL,"
	" t INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS attempts_task ON attempts(task);"
	"CREATE INDEX IF NOT EXISTS attempts_tmpl ON attempts(tmpl);"
	"PRAGMA user_version=1;";

static int has_schema(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return v == 1;
}

/* Opens path and makes sure of the schema. Returns the database, or NULL
 * with *code the SQLite (primary) result code and why[] the message. */
static sqlite3 *try_open(const char *path, int *code, char *why, size_t n)
{
	sqlite3 *db = NULL;
	*code = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (*code != SQLITE_OK) {
		snprintf(why, n, "%s", db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	char *msg = NULL;
	/* the schema statements read the header and the schema page: a file
	 * that is not a store fails here. No quick_check: it reads every page
	 * (half a second for a full store), and history is on by default;
	 * damage further in shows when the rows are written (hist_flush) */
	if ((*code = sqlite3_exec(db, pragmas, NULL, NULL, &msg)) != SQLITE_OK ||
	    (!has_schema(db) && (*code = sqlite3_exec(db, schema, NULL, NULL, &msg)) != SQLITE_OK)) {
		*code &= 0xff;
		snprintf(why, n, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Another run creating the store or switching it to WAL holds a lock that
 * the busy handler is not always asked about: wait for it (up to 10 s). */
static sqlite3 *open_waiting(const char *path, int *code, char *why, size_t n)
{
	sqlite3 *db = NULL;
	for (int i = 0; i < 1000; i++) {
		db = try_open(path, code, why, n);
		if (db || (*code != SQLITE_BUSY && *code != SQLITE_LOCKED))
			break;
		usleep(10000);
	}
	return db;
}

/* path is damaged: moves it aside (with a warning saying why) and opens a
 * fresh store there, or NULL (with a warning) */
static sqlite3 *fresh(const char *path, const char *why)
{
	char aside[4200];
	snprintf(aside, sizeof aside, "%s.corrupt", path);
	fprintf(stderr, "gearbox: warning: history %s is not a usable store (%s); moved to %s, "
		"starting a fresh one\n", path, why, aside);
	if (rename(path, aside) && errno != ENOENT) {
		fprintf(stderr, "gearbox: warning: cannot move %s aside: %s; running without "
			"history\n", path, strerror(errno));
		return NULL;
	}
	char side[4200];
	snprintf(side, sizeof side, "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", path);
	unlink(side);
	int code;
	char w[256];
	sqlite3 *db = open_waiting(path, &code, w, sizeof w);
	if (!db)
		fprintf(stderr, "gearbox: warning: history %s: %s; running without history\n", path, w);
	return db;
}

struct history *hist_open(const char *path)
{
	char why[256];
	int code;
	sqlite3 *db = open_waiting(path, &code, why, sizeof why);
	if (!db && code != SQLITE_CORRUPT && code != SQLITE_NOTADB) {
		/* not damaged, just unusable now: keep it for the next run */
		fprintf(stderr, "gearbox: warning: history %s: %s; running without history\n", path,
			why);
		return NULL;
	}
	if (!db && !(db = fresh(path, why)))
		return NULL;
	struct history *h = calloc(1, sizeof *h);
	if (!h || !(h->path = strdup(path))) {
		free(h);
		sqlite3_close(db);
		return NULL;
	}
	h->db = db;
	return h;
}

void hist_close(struct history *h)
{
	if (!h)
		return;
	sqlite3_close(h->db);
	free(h->rows);
	free(h->path);
	free(h);
}

void hist_template(const struct task *t, char *out, size_t n)
{
	const struct spec *s = t->spec;
	size_t o = 0;
	out[0] = 0;
	if (s->kind != KIND_EXEC) {
		snprintf(out, n, "%s", spec_kind_name(s));
		return;
	}
	if (s->sh) {
		snprintf(out, n, "sh:%s", s->sh);
		return;
	}
	for (char **a = s->argv; a && *a && o + 1 < n; a++) {
		int w = snprintf(out + o, n - o, "%s%s", o ? " " : "", *a);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

void hist_note(struct history *h, uint32_t idx, double ms, int64_t peak_kb, const char *outcome)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 1024;
		struct hrow *r = realloc(h->rows, cap * sizeof *r);
		if (!r)
			return; /* history is best effort: an attempt goes unrecorded */
		h->rows = r;
		h->cap = cap;
	}
	h->rows[h->n++] = (struct hrow){idx, peak_kb, ms, outcome};
}

static int flush_once(struct history *h, const struct workload *wl, int *code);

int hist_flush(struct history *h, const struct workload *wl)
{
	if (!h->n)
		return 0;
	int code = 0;
	int rc = flush_once(h, wl, &code);
	if (rc && (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)) {
		/* damage deeper than the open saw: a fresh store takes the rows */
		char why[256];
		snprintf(why, sizeof why, "%s", sqlite3_errstr(code));
		sqlite3_close(h->db);
		h->db = fresh(h->path, why);
		if (!h->db)
			return -1;
		rc = flush_once(h, wl, &code);
	}
	if (rc)
		fprintf(stderr, "gearbox: warning: history %s: cannot record this run: %s\n", h->path,
			sqlite3_errstr(code));
	return rc;
}

static int flush_once(struct history *h, const struct workload *wl, int *code)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(h->db, "INSERT INTO attempts(task, tmpl, ms, peak_kb, outcome, t)"
					" VALUES(?, ?, ?, ?, ?, strftime('%s','now'))", -1, &st, NULL);
	char tmpl[1024];
	for (size_t i = 0; rc == SQLITE_OK && i < h->n; i++) {
		const struct hrow *r = &h->rows[i];
		const struct task *t = &wl->tasks[r->idx];
		hist_template(t, tmpl, sizeof tmpl);
		sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, tmpl, -1, SQLITE_TRANSIENT);
		sqlite3_bind_double(st, 3, r->ms);
		if (r->peak_kb > 0)
			sqlite3_bind_int64(st, 4, r->peak_kb);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, r->outcome, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK) {
		char prune[160];
		snprintf(prune, sizeof prune, "DELETE FROM attempts WHERE id <= (SELECT max(id) FROM "
			 "attempts) - %d", HIST_MAX_ROWS);
		rc = sqlite3_exec(h->db, prune, NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		*code = rc & 0xff;
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	h->n = 0;
	return 0;
}

/* p90 of v[0..n) (sorted in place): the smallest value at or above 90% */
static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double p90(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_d);
	size_t k = (n * 9 + 9) / 10; /* ceil(0.9 n) */
	return v[k ? k - 1 : 0];
}

/* One pass over a key column ordered by key, newest first: calls back per
 * key with its newest HIST_SAMPLES durations and peaks. */
static int by_key(struct history *h, const char *col,
		  void (*fn)(void *ud, const char *key, double *ms, size_t nms, double *kb, size_t nkb),
		  void *ud)
{
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT %s, ms, peak_kb FROM attempts WHERE outcome = 'ok' "
		 "ORDER BY %s, id DESC", col, col);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	char *cur = NULL;
	double ms[HIST_SAMPLES], kb[HIST_SAMPLES];
	size_t nms = 0, nkb = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (!k)
			continue;
		if (cur && strcmp(cur, k)) {
			fn(ud, cur, ms, nms, kb, nkb);
			nms = nkb = 0;
		}
		if (!cur || strcmp(cur, k)) {
			free(cur);
			cur = strdup(k);
			if (!cur)
				break;
		}
		if (nms == HIST_SAMPLES)
			continue; /* older than the newest HIST_SAMPLES */
		ms[nms++] = sqlite3_column_double(st, 1);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			kb[nkb++] = (double)sqlite3_column_int64(st, 2);
	}
	if (cur && nms)
		fn(ud, cur, ms, nms, kb, nkb);
	free(cur);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* The newest HIST_SAMPLES successful attempts of one key (an indexed
 * lookup): their p90s, or 0 samples. */
static size_t lookup(sqlite3_stmt *st, const char *key, int64_t *est_ms, int64_t *mem_kb)
{
	double ms[HIST_SAMPLES], kb[HIST_SAMPLES];
	size_t nms = 0, nkb = 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while (nms < HIST_SAMPLES && sqlite3_step(st) == SQLITE_ROW) {
		ms[nms++] = sqlite3_column_double(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			kb[nkb++] = (double)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (nms) {
		*est_ms = (int64_t)(p90(ms, nms) + 0.5);
		*mem_kb = nkb ? (int64_t)p90(kb, nkb) : -1;
	}
	return nms;
}

/* Estimates by one indexed lookup per task (and per template for a task
 * never seen by id): for a workload small against the store. */
static int by_lookup(struct history *h, const struct workload *wl, int64_t *est_ms,
		     int64_t *mem_kb, uint32_t *n)
{
	sqlite3_stmt *bt = NULL, *bp = NULL;
	if (sqlite3_prepare_v2(h->db, "SELECT ms, peak_kb FROM attempts INDEXED BY attempts_task "
			       "WHERE task = ?1 AND outcome = 'ok' ORDER BY id DESC", -1, &bt,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(h->db, "SELECT ms, peak_kb FROM attempts INDEXED BY attempts_tmpl "
			       "WHERE tmpl = ?1 AND outcome = 'ok' ORDER BY id DESC", -1, &bp,
			       NULL) != SQLITE_OK) {
		sqlite3_finalize(bt);
		return -1;
	}
	char tmpl[1024];
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		if (wl->tasks[i].spec->kind != KIND_EXEC)
			continue; /* history keeps exec attempts only */
		size_t k = lookup(bt, wl->tasks[i].id, &est_ms[i], &mem_kb[i]);
		if (!k) {
			hist_template(&wl->tasks[i], tmpl, sizeof tmpl);
			k = lookup(bp, tmpl, &est_ms[i], &mem_kb[i]);
		}
		if (n)
			n[i] = (uint32_t)k;
	}
	sqlite3_finalize(bt);
	sqlite3_finalize(bp);
	return 0;
}

struct est_ctx {
	const struct workload *wl;
	int64_t *est_ms, *mem_kb;
	uint32_t *n;
	int by_tmpl;
	/* by template: template -> estimate, applied to tasks without one */
	char **tk;
	int64_t *tms, *tkb;
	uint32_t *tn;
	size_t nt, capt;
};

static void est_task(void *ud, const char *key, double *ms, size_t nms, double *kb, size_t nkb)
{
	struct est_ctx *c = ud;
	int64_t i = workload_find(c->wl, key);
	if (i < 0)
		return;
	c->est_ms[i] = (int64_t)(p90(ms, nms) + 0.5);
	c->mem_kb[i] = nkb ? (int64_t)p90(kb, nkb) : -1;
	if (c->n)
		c->n[i] = (uint32_t)nms;
}

static void est_tmpl(void *ud, const char *key, double *ms, size_t nms, double *kb, size_t nkb)
{
	struct est_ctx *c = ud;
	if (c->nt == c->capt) {
		size_t cap = c->capt ? c->capt * 2 : 64;
		char **a = realloc(c->tk, cap * sizeof *a);
		if (a)
			c->tk = a;
		int64_t *b = realloc(c->tms, cap * sizeof *b);
		if (b)
			c->tms = b;
		int64_t *d = realloc(c->tkb, cap * sizeof *d);
		if (d)
			c->tkb = d;
		uint32_t *e = realloc(c->tn, cap * sizeof *e);
		if (e)
			c->tn = e;
		if (!a || !b || !d || !e)
			return;
		c->capt = cap;
	}
	c->tk[c->nt] = strdup(key);
	if (!c->tk[c->nt])
		return;
	c->tms[c->nt] = (int64_t)(p90(ms, nms) + 0.5);
	c->tkb[c->nt] = nkb ? (int64_t)p90(kb, nkb) : -1;
	c->tn[c->nt++] = (uint32_t)nms;
}

int hist_estimates(struct history *h, const struct workload *wl, int64_t *est_ms,
		   int64_t *mem_kb, uint32_t *n)
{
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		est_ms[i] = mem_kb[i] = -1;
		if (n)
			n[i] = 0;
	}
	/* a lookup costs a few index pages; a scan reads every row: look up
	 * unless the workload has more exec tasks than an eighth of the rows */
	uint32_t nexec = 0;
	for (uint32_t i = 0; i < wl->ntasks; i++)
		nexec += wl->tasks[i].spec->kind == KIND_EXEC;
	sqlite3_stmt *st;
	int64_t rows = 0;
	if (sqlite3_prepare_v2(h->db, "SELECT max(id) - min(id) + 1 FROM attempts", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			rows = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if ((int64_t)nexec * 8 <= rows)
		return by_lookup(h, wl, est_ms, mem_kb, n);
	struct est_ctx c = {.wl = wl, .est_ms = est_ms, .mem_kb = mem_kb, .n = n};
	if (by_key(h, "task", est_task, &c) || by_key(h, "tmpl", est_tmpl, &c))
		return -1;
	/* tasks never seen by id take their template's (a new matrix instance) */
	char tmpl[1024];
	for (uint32_t i = 0; c.nt && i < wl->ntasks; i++) {
		if (est_ms[i] >= 0)
			continue;
		hist_template(&wl->tasks[i], tmpl, sizeof tmpl);
		/* tk is in the scan's order, SQLite's BINARY collation: memcmp,
		 * which strcmp agrees with */
		size_t lo = 0, hi = c.nt;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int d = strcmp(c.tk[mid], tmpl);
			if (!d) {
				est_ms[i] = c.tms[mid];
				mem_kb[i] = c.tkb[mid];
				if (n)
					n[i] = c.tn[mid];
				break;
			}
			if (d < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (size_t k = 0; k < c.nt; k++)
		free(c.tk[k]);
	free(c.tk);
	free(c.tms);
	free(c.tkb);
	free(c.tn);
	return 0;
}
