/* records.c - what a run leaves behind: the journal, the joblog, the events
 * file, the per-task output files and --stats; and the shown output of a
 * task. Journal and events are written under e->mu (events also under
 * e->ev_mu); output is shown outside it, under e->out_mu.
 * A journal record is one write(2) of a whole line: a kill -9 leaves whole
 * lines only, and a torn last line is cut when the journal is opened again.
 * A journal starts with JOURNAL_HEADER; a non-empty file that starts with
 * neither it nor a record is not ours and is refused, and a run holds an
 * exclusive flock on its journal.
 * Every record is opened without blocking (a FIFO with no reader is an
 * error, not a hang) and never replaces what is not a regular file: a
 * device, FIFO or symlink is written through, a directory refused. Every
 * write is checked; a record that could not be written is counted in
 * e->n_rec_lost, said in the summary and makes the exit status 1.
 */
#include "engine_int.h"
#include "nodes.h"
#include "resrun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_HEADER "{\"gearbox\":\"journal\",\"version\":1}\n"
#define LOST_SAID 5 /* messages about lost records before they are only counted */

/* ---- the checked opening and writing ------------------------------------- */

static const char *ftype(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
	       : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Opens a record for writing without ever blocking or writing into what
 * must not be: a FIFO with no reader, a directory or a block device is an
 * error naming the option (what) and the path. Returns the fd (blocking
 * again) or -1 with err set. */
static int open_record(const char *path, int flags, const char *what, int regular_only,
		       struct err *err)
{
	int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0) {
		if (errno == ENXIO)
			return err_set(err, "%s %s: a FIFO with no reader", what, path);
		if (errno == EISDIR)
			return err_set(err, "%s %s: is a directory", what, path);
		return err_set(err, "%s %s: cannot open: %s", what, path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) ||
	    (regular_only && !S_ISREG(st.st_mode))) {
		close(fd);
		return err_set(err, "%s %s: %s, expected a regular file", what, path, ftype(st.st_mode));
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

/* A record could not be written: say so (the first few times) and count it. */
static void lost(struct engine *e, const char *what, const char *path, int errnum)
{
	unsigned n = atomic_fetch_add(&e->n_rec_lost, 1);
	if (n < LOST_SAID)
		fprintf(stderr, "gearbox: %s %s: write failed: %s%s\n", what, path, strerror(errnum),
			n + 1 == LOST_SAID ? " (further losses are only counted)" : "");
}

/* A FILE record (joblog, events) after a write: flushed, errors counted once. */
static void checked_flush(struct engine *e, FILE *f, int *failed, const char *what,
			  const char *path)
{
	if (fflush(f) == 0 && !ferror(f))
		return;
	int en = errno ? errno : EIO;
	clearerr(f);
	if (!*failed)
		lost(e, what, path, en);
	else
		atomic_fetch_add(&e->n_rec_lost, 1);
	*failed = 1;
}

/* Writes data as the whole content of path: through a temporary file and a
 * rename when path is a regular file or absent (never half written), written
 * through when it is a device, FIFO or symlink (never replaced). Returns 0 or
 * an errno. */
static int replace_file(const char *path, const char *data, size_t len)
{
	struct stat st;
	int en;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return EISDIR;
		int fd = open(path, O_WRONLY | O_TRUNC | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return errno;
		struct stat ft;
		if (fstat(fd, &ft) || S_ISDIR(ft.st_mode) || S_ISBLK(ft.st_mode)) {
			close(fd);
			return EISDIR;
		}
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		en = fd_write_all(fd, data, len);
		if (close(fd) && !en)
			en = errno;
		return en;
	}
	struct buf tmp = {0};
	buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		en = errno;
		buf_free(&tmp);
		return en;
	}
	en = fd_write_all(fd, data, len);
	if (close(fd) && !en)
		en = errno;
	if (!en && rename(tmp.p, path))
		en = errno;
	if (en)
		unlink(tmp.p);
	buf_free(&tmp);
	return en;
}

/* ---- events (under e->mu) ------------------------------------------------ */

void ev_begin(struct engine *e, struct buf *b, const char *what, uint32_t idx)
{
	buf_addf(b, "{\"t_ms\":%.3f,\"event\":\"%s\",\"id\":", elapsed_ms(e, now_ns()), what);
	buf_json_str(b, e->wl->tasks[idx].id);
}

void ev_end(struct engine *e, struct buf *b)
{
	buf_add(b, "}\n", 2);
	pthread_mutex_lock(&e->ev_mu);
	if (fwrite(b->p, 1, b->len, e->events) != b->len || ferror(e->events))
		checked_flush(e, e->events, &e->events_failed, "--events", e->o.events);
	pthread_mutex_unlock(&e->ev_mu);
	buf_free(b);
}

void ev_simple(struct engine *e, const char *what, uint32_t idx)
{
	if (!e->events)
		return;
	struct buf b = {0};
	ev_begin(e, &b, what, idx);
	if (!strcmp(what, "started")) {
		buf_addf(&b, ",\"attempt\":%u", e->wl->tasks[idx].attempts);
		res_ev_started(e, idx, &b);
	}
	ev_end(e, &b);
}

/* ---- journal (under e->mu) ----------------------------------------------- */

/* Quick-form tasks (ids are positions) are matched on --resume by what they
 * run, not by position: a changed argument list must not skip a task that
 * never ran. The key is an FNV-1a hash of the command. */
static int keyed_by_content(const struct workload *wl)
{
	return wl->path && !strcmp(wl->path, "<command line>");
}

static uint64_t content_key(const struct task *t)
{
	uint64_t h = 1469598103934665603ULL;
	const struct spec *s = t->spec;
	const char *one[2] = {s->sh, NULL};
	char *const *v = s->sh ? (char *const *)one : s->argv;
	for (; v && *v; v++) {
		for (const unsigned char *p = (const unsigned char *)*v; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* between arguments */
	}
	return h;
}

struct keyed {
	uint64_t key;
	uint32_t idx;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	return x->key != y->key ? (x->key < y->key ? -1 : 1) : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

void journal_write(struct engine *e, uint32_t idx, const char *status,
			  const struct attempt *a)
{
	if (e->journal_fd < 0)
		return;
	const struct task *t = &e->wl->tasks[idx];
	struct buf b = {0};
	buf_adds(&b, "{\"id\":");
	buf_json_str(&b, t->id);
	buf_addf(&b, ",\"status\":\"%s\",\"attempts\":%u", status, t->attempts);
	if (a)
		buf_addf(&b, ",\"exit\":%d,\"signal\":%d,\"ms\":%.3f", a->exit_code, a->sig,
			 (double)(a->end_ns - a->start_ns) / 1e6);
	if (a && !a->ok && a->fkind)
		buf_addf(&b, ",\"failure\":\"%s\"", fail_kind_name(a->fkind));
	if (a && a->maxrss_kb > 0)
		buf_addf(&b, ",\"peak_kb\":%lld",
			 (long long)(a->cg_peak_kb > a->maxrss_kb ? a->cg_peak_kb : a->maxrss_kb));
	if (a && a->label[0]) {
		buf_adds(&b, ",\"label\":");
		buf_json_str(&b, a->label);
	}
	if (keyed_by_content(e->wl))
		buf_addf(&b, ",\"key\":\"%016llx\"", (unsigned long long)content_key(t));
	if (a && a->node >= 0) {
		buf_adds(&b, ",\"node\":");
		buf_json_str(&b, nodes_name(e->o.nodes, a->node));
	}
	buf_addf(&b, ",\"t\":%lld}\n", (long long)wall_ms());
	/* one write per record: a kill -9 leaves whole lines only */
	ssize_t off = 0;
	while ((size_t)off < b.len) {
		ssize_t w = write(e->journal_fd, b.p + off, b.len - (size_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "gearbox: --journal %s: write failed: %s; journal disabled\n",
				e->o.journal, w < 0 ? strerror(errno) : "nothing written");
			atomic_fetch_add(&e->n_rec_lost, 1);
			close(e->journal_fd);
			e->journal_fd = -1;
			break;
		}
		off += w;
	}
	buf_free(&b);
}

/* Reads a journal for --resume: tasks recorded "ok" are marked RESUMED. A last
 * line without its newline (the writer was killed mid-line) is ignored. */
static int journal_resume(struct engine *e, struct err *err)
{
	FILE *f = fopen(e->o.journal, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, "%s: cannot read journal: %s", e->o.journal, strerror(errno));
	}
	struct keyed *byk = NULL;
	uint32_t nt = e->wl->ntasks;
	if (keyed_by_content(e->wl) && nt && (byk = malloc(nt * sizeof *byk))) {
		for (uint32_t i = 0; i < nt; i++)
			byk[i] = (struct keyed){content_key(&e->wl->tasks[i]), i};
		qsort(byk, nt, sizeof *byk, keyed_cmp);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0, bad = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (lineno == 1 && !strcmp(line, JOURNAL_HEADER))
			continue;
		if (line[n - 1] != '\n') {
			fprintf(stderr, "gearbox: %s:%lu: incomplete last record ignored\n",
				e->o.journal, lineno);
			break;
		}
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)n, 0, &je);
		const char *id = NULL, *st = NULL;
		if (!j || json_unpack(j, "{s:s, s:s}", "id", &id, "status", &st)) {
			if (++bad <= LOST_SAID)
				fprintf(stderr, "gearbox: %s:%lu: not a journal record, ignored\n",
					e->o.journal, lineno);
			json_decref(j);
			continue;
		}
		const char *key = json_string_value(json_object_get(j, "key"));
		if (!strcmp(st, "ok") && byk && key) {
			/* the first task of this content not resumed yet: a command
			 * given twice and done once runs once more */
			uint64_t k = strtoull(key, NULL, 16);
			size_t lo = 0, hi = nt;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (byk[mid].key < k)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < nt && byk[lo].key == k; lo++)
				if (e->wl->tasks[byk[lo].idx].state != ST_RESUMED) {
					e->wl->tasks[byk[lo].idx].state = ST_RESUMED;
					break;
				}
		} else if (!strcmp(st, "ok")) {
			int64_t i = workload_find(e->wl, id);
			if (i >= 0)
				e->wl->tasks[i].state = ST_RESUMED;
		}
		json_decref(j);
	}
	free(line);
	free(byk);
	fclose(f);
	if (bad > LOST_SAID)
		fprintf(stderr, "gearbox: %s: %lu lines in all were not journal records\n",
			e->o.journal, bad);
	return 0;
}

/* A journal is ours when empty, when it starts with the header, or (written
 * before the header existed) with a record. Anything else is someone's file:
 * appending to it, or cutting its "torn" last line, would damage it. */
static int journal_check(struct engine *e, struct err *err)
{
	struct stat st;
	if (fstat(e->journal_fd, &st))
		return err_set(err, "--journal %s: %s", e->o.journal, strerror(errno));
	if (st.st_size == 0) {
		int en = fd_write_all(e->journal_fd, JOURNAL_HEADER, sizeof JOURNAL_HEADER - 1);
		if (en)
			return err_set(err, "--journal %s: cannot write: %s", e->o.journal, strerror(en));
		return 0;
	}
	char first[4096];
	ssize_t n = pread(e->journal_fd, first, sizeof first - 1, 0);
	if (n < 0)
		return err_set(err, "--journal %s: cannot read: %s", e->o.journal, strerror(errno));
	first[n] = 0;
	char *nl = memchr(first, '\n', (size_t)n);
	if (nl && (size_t)(nl - first + 1) == sizeof JOURNAL_HEADER - 1 &&
	    !memcmp(first, JOURNAL_HEADER, sizeof JOURNAL_HEADER - 1))
		return 0;
	int ok = 0;
	if (nl && memchr(first, 0, (size_t)(nl - first)) == NULL) {
		json_t *j = json_loadb(first, (size_t)(nl - first), 0, NULL);
		const char *id, *stt;
		ok = j && !json_unpack(j, "{s:s, s:s}", "id", &id, "status", &stt);
		json_decref(j);
	}
	if (!ok)
		return err_set(err, "--journal %s: not a gearbox journal (it does not start with "
			       "the journal header or a record); refusing to append to it", e->o.journal);
	return 0;
}

/* A journal whose writer died mid-line ends in a torn record: cut it off,
 * so that the next record starts on a line of its own. */
static void journal_trim(struct engine *e)
{
	struct stat st;
	if (fstat(e->journal_fd, &st) || st.st_size == 0)
		return;
	off_t end = st.st_size;
	char c;
	if (pread(e->journal_fd, &c, 1, end - 1) == 1 && c == '\n')
		return;
	char tail[4096];
	while (end > 0) {
		off_t from = end > (off_t)sizeof tail ? end - (off_t)sizeof tail : 0;
		ssize_t n = pread(e->journal_fd, tail, (size_t)(end - from), from);
		if (n <= 0)
			return;
		for (ssize_t i = n - 1; i >= 0; i--) {
			if (tail[i] == '\n') {
				if (ftruncate(e->journal_fd, from + i + 1) == 0)
					fprintf(stderr, "gearbox: %s: removed a torn last record\n", e->o.journal);
				return;
			}
		}
		end = from;
	}
	if (ftruncate(e->journal_fd, 0) == 0) /* one torn line and nothing else */
		fprintf(stderr, "gearbox: %s: removed a torn last record\n", e->o.journal);
}

static void joblog_str(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc(*s == '\n' ? 0 : *s, f);
}

void joblog_write(struct engine *e, uint32_t idx, const struct attempt *a)
{
	const struct task *t = &e->wl->tasks[idx];
	const struct spec *s = t->spec;
	fprintf(e->joblog, "%llu\t%s\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t",
		(unsigned long long)++e->joblog_seq,
		a->node >= 0 ? nodes_name(e->o.nodes, a->node) : ":",
		((double)e->t0_wall_ms + (double)(a->start_ns - e->t0_ns) / 1e6) / 1000.0,
		(double)(a->end_ns - a->start_ns) / 1e9, s->stdin_len,
		a->out->len + a->err->len, a->exit_code < 0 ? -1 : a->exit_code, a->sig);
	/* a newline would split the row: written as NUL, as GNU parallel does */
	if (s->sh)
		joblog_str(e->joblog, s->sh);
	else if (s->argv)
		for (char **p = s->argv; *p; p++) {
			if (p != s->argv)
				fputc(' ', e->joblog);
			joblog_str(e->joblog, *p);
		}
	else
		fprintf(e->joblog, "sim:%s", t->id);
	fputc('\n', e->joblog);
	/* a line at a time, like the journal: a kill -9 loses no finished row */
	checked_flush(e, e->joblog, &e->joblog_failed, "--joblog", e->o.joblog);
}

/* Built-in retry: `retries` attempts more, backoff base * 2^(attempt-1), capped. */
/* ---- --stats: attempt latency ------------------------------------------- */

static double lat_mid_ns(unsigned b)
{
	if (b < LAT_SUB)
		return b;
	unsigned e = b / LAT_SUB + 3, m = b % LAT_SUB;
	double lo = (double)((uint64_t)(LAT_SUB + m) << (e - 4));
	return lo + (double)((uint64_t)1 << (e - 4)) / 2;
}

static double lat_quantile_ms(const struct engine *e, double q)
{
	uint64_t n = 0, seen = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		n += e->lat[b];
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)n);
	if (rank >= n)
		rank = n - 1;
	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += e->lat[b];
		if (seen > rank) {
			double ns = lat_mid_ns(b);
			return (ns > (double)e->lat_max_ns ? (double)e->lat_max_ns : ns) / 1e6;
		}
	}
	return (double)e->lat_max_ns / 1e6;
}

void stats_write(struct engine *e, double wall_ms)
{
	const struct workload *wl = e->wl;
	struct buf b = {0};
	buf_addf(&b,
		"{\"tasks\":%u,\"ok\":%u,\"failed\":%u,\"skipped\":%u,\"not_started\":%u,"
		"\"resumed\":%u,\"attempts\":%u,\"retried\":%u,\"interrupted\":%s,\"wall_ms\":%.3f,"
		"\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.4f},"
		"\"peak_memory_kb\":{\"measured\":%llu,\"max\":%lld,\"mean\":%.0f},\"deferred\":%u,"
		"\"deferred_by\":{",
		wl->ntasks, e->n_ok, e->n_failed, e->n_skipped, wl->ntasks - e->n_final, e->n_resumed,
		e->n_attempts, e->n_retried, e->interrupted ? "true" : "false", wall_ms,
		lat_quantile_ms(e, 0.50), lat_quantile_ms(e, 0.90), lat_quantile_ms(e, 0.99),
		(double)e->lat_max_ns / 1e6, (unsigned long long)e->mem_n, (long long)e->mem_max_kb,
		e->mem_n ? (double)e->mem_sum_kb / (double)e->mem_n : 0.0, e->n_deferred);
	struct gbx_count by[16];
	size_t nby = plugins_deferred(e->ps, by, 16);
	for (size_t i = 0; i < nby; i++) /* plugin names are [A-Za-z0-9_-]: no escaping */
		buf_addf(&b, "%s\"%s\":%lld", i ? "," : "", by[i].name, (long long)by[i].n);
	buf_adds(&b, "}}\n");
	int en = b.p ? replace_file(e->o.stats, b.p, b.len) : ENOMEM;
	if (en)
		lost(e, "--stats", e->o.stats, en);
	buf_free(&b);
}

/* ---- output (outside e->mu) ---------------------------------------------- */

/* DIR/ID.EXT with the id's unsafe bytes as %XX; an id whose name would pass
 * NAME_MAX_ID bytes keeps its first part and ends in ~ and a hash of the
 * whole id, so two long ids never share a file. The bytes were written
 * there as the task ran, into an unnamed file (spool.h) that is named now:
 * a file in DIR is always a task's whole output, never a part of it. */
#define NAME_MAX_ID 200
static void save_file(struct engine *e, const char *dir, const char *id, const char *ext,
		      struct spool *b)
{
	struct buf path = {0};
	buf_addf(&path, "%s/", dir);
	size_t base = path.len;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')
			buf_add(&path, p, 1);
		else
			buf_addf(&path, "%%%02X", *p);
	}
	if (path.len - base > NAME_MAX_ID) {
		uint64_t h = 1469598103934665603ULL; /* FNV-1a */
		for (const unsigned char *p = (const unsigned char *)id; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		size_t keep = NAME_MAX_ID - 17;
		/* never cut a %XX in two */
		if (path.p[base + keep - 1] == '%')
			keep -= 1;
		else if (keep > 1 && path.p[base + keep - 2] == '%')
			keep -= 2;
		path.len = base + keep;
		buf_addf(&path, "~%016llx", (unsigned long long)h);
	}
	buf_addf(&path, ".%s", ext);
	int en = path.p ? spool_publish(b, path.p) : ENOMEM;
	if (en)
		lost(e, "--output-dir", path.p ? path.p : dir, en);
	buf_free(&path);
}

static void show(int fd, const char *p, size_t n)
{
	(void)fd_write_all(fd, p, n); /* a closed terminal loses nothing we own */
}

static void show_spool(int fd, struct spool *s)
{
	(void)spool_copy(s, fd); /* the same: from memory, or from its file */
}

void show_output(struct engine *e, uint32_t idx, struct attempt *a)
{
	const struct task *t = &e->wl->tasks[idx];
	if (e->o.output_dir) {
		save_file(e, e->o.output_dir, t->id, "stdout", a->out);
		save_file(e, e->o.output_dir, t->id, "stderr", a->err);
	} else if (a->out->len || a->err->len) {
		pthread_mutex_lock(&e->out_mu);
		if (e->progress_on)
			show(2, "\r\033[K", 4);
		show_spool(1, a->out);
		show_spool(2, a->err);
		pthread_mutex_unlock(&e->out_mu);
	}
	if (e->o.verbose) {
		pthread_mutex_lock(&e->out_mu);
		if (a->ok && a->label[0]) /* answered by a plugin, e.g. a cache hit */
			fprintf(stderr, "gearbox: ok %s (%s, %.1f ms)\n", t->id, a->label,
				(double)(a->end_ns - a->start_ns) / 1e6);
		else if (a->ok)
			fprintf(stderr, "gearbox: ok %s (%.1f ms)\n", t->id,
				(double)(a->end_ns - a->start_ns) / 1e6);
		else
			fprintf(stderr, "gearbox: FAILED %s (%s, exit %d%s%s)\n", t->id,
				fail_kind_name(a->fkind), a->exit_code, a->msg[0] ? ": " : "", a->msg);
		pthread_mutex_unlock(&e->out_mu);
	}
}

double engine_elapsed_ms(const struct engine *e, int64_t ns)
{
	return elapsed_ms(e, ns);
}

/* A plugin's own event (host->event). It takes only the events lock, so it may
 * be called from a Lua function a policy calls under e->mu. */
void engine_plugin_event(struct engine *e, const char *name, const struct task *t,
			 const char *fields_json)
{
	if (!e->events)
		return;
	struct buf b = {0};
	buf_addf(&b, "{\"t_ms\":%.3f,\"event\":", elapsed_ms(e, now_ns()));
	buf_json_str(&b, name);
	if (t) {
		buf_adds(&b, ",\"id\":");
		buf_json_str(&b, t->id);
	}
	if (fields_json && *fields_json)
		buf_addf(&b, ",%s", fields_json);
	ev_end(e, &b);
}

/* A FILE for a record opened by open_record (truncated, as before). */
static FILE *open_stream(const char *path, const char *what, struct err *err)
{
	int fd = open_record(path, O_WRONLY | O_CREAT | O_TRUNC, what, 0, err);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		err_set(err, "%s %s: %s", what, path, strerror(errno));
		close(fd);
	}
	return f;
}

int open_outputs(struct engine *e, struct err *err)
{
	if (e->o.journal) {
		e->journal_fd = open_record(e->o.journal, O_RDWR | O_CREAT | O_APPEND, "--journal", 1,
					    err);
		if (e->journal_fd < 0)
			return -1;
		if (flock(e->journal_fd, LOCK_EX | LOCK_NB))
			return err_set(err, "--journal %s: %s", e->o.journal,
				       errno == EWOULDBLOCK ? "in use by another gearbox run (it is "
				       "locked); two runs sharing a journal would run tasks twice"
						    : strerror(errno));
		if (journal_check(e, err))
			return -1;
		if (e->o.resume && journal_resume(e, err))
			return -1;
		journal_trim(e);
	} else if (e->o.resume) {
		return err_set(err, "--resume needs --journal FILE");
	}
	if (e->o.events) {
		e->events = open_stream(e->o.events, "--events", err);
		if (!e->events)
			return -1;
		setvbuf(e->events, NULL, _IOFBF, 1 << 16);
	}
	if (e->o.joblog) {
		e->joblog = open_stream(e->o.joblog, "--joblog", err);
		if (!e->joblog)
			return -1;
		fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", e->joblog);
		checked_flush(e, e->joblog, &e->joblog_failed, "--joblog", e->o.joblog);
		if (e->joblog_failed)
			return err_set(err, "--joblog %s: cannot write", e->o.joblog);
	}
	if (e->o.stats) {
		/* checked now so a bad path stops the run before it starts; written
		 * when it ends, by rename when a regular file (never half written),
		 * through the path when a device or FIFO (never replaced) */
		struct stat st;
		e->lat = calloc(LAT_BUCKETS, sizeof *e->lat);
		if (!e->lat)
			return err_set(err, "out of memory");
		if (stat(e->o.stats, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)))
			return err_set(err, "--stats %s: %s, expected a file", e->o.stats,
				       ftype(st.st_mode));
		if (stat(e->o.stats, &st) == 0 && S_ISFIFO(st.st_mode)) {
			int fd = open(e->o.stats, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0)
				return err_set(err, "--stats %s: %s", e->o.stats,
					       errno == ENXIO ? "a FIFO with no reader" : strerror(errno));
			close(fd);
		} else if (access(e->o.stats, F_OK) && errno == ENOENT) {
			struct buf d = {0};
			const char *sl = strrchr(e->o.stats, '/');
			buf_addf(&d, "%.*s", sl ? (int)(sl - e->o.stats + 1) : 1, sl ? e->o.stats : ".");
			int bad = d.p && access(d.p, W_OK) ? errno : 0;
			buf_free(&d);
			if (bad)
				return err_set(err, "--stats %s: cannot write: %s", e->o.stats, strerror(bad));
		} else if (access(e->o.stats, W_OK)) {
			return err_set(err, "--stats %s: cannot write: %s", e->o.stats, strerror(errno));
		}
		e->stats = 1;
	}
	if (e->o.output_dir) {
		struct stat st;
		if (mkdir(e->o.output_dir, 0755) && errno != EEXIST)
			return err_set(err, "--output-dir %s: cannot create: %s", e->o.output_dir,
				       strerror(errno));
		if (stat(e->o.output_dir, &st) || !S_ISDIR(st.st_mode))
			return err_set(err, "--output-dir %s: not a directory", e->o.output_dir);
	}
	return 0;
}

void records_flush(struct engine *e)
{
	if (e->events) {
		pthread_mutex_lock(&e->ev_mu);
		checked_flush(e, e->events, &e->events_failed, "--events", e->o.events);
		pthread_mutex_unlock(&e->ev_mu);
	}
	if (e->joblog)
		checked_flush(e, e->joblog, &e->joblog_failed, "--joblog", e->o.joblog);
}

void close_outputs(struct engine *e)
{
	if (e->journal_fd >= 0)
		close(e->journal_fd); /* and its lock */
	if (e->events)
		fclose(e->events); /* flushed and checked by records_flush */
	if (e->joblog)
		fclose(e->joblog);
	e->events = e->joblog = NULL;
	free(e->lat);
	e->lat = NULL;
}
