/* records.c - what a run leaves behind: the journal, the joblog, the events
 * file, the per-task output files and --stats; and the shown output of a
 * task. Journal and events are written under e->mu (events also under
 * e->ev_mu); output is shown outside it, under e->out_mu.
 * A journal record is one write(2) of a whole line: a kill -9 leaves whole
 * lines only, and a torn last line is cut when the journal is opened again.
 */
#include "engine_int.h"
#include "nodes.h"
#include "resrun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	fwrite(b->p, 1, b->len, e->events);
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
			fprintf(stderr, "gearbox: %s: write failed: %s; journal disabled\n",
				e->o.journal, strerror(errno));
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
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			fprintf(stderr, "gearbox: %s:%lu: incomplete last record ignored\n",
				e->o.journal, lineno);
			break;
		}
		json_error_t je;
		json_t *j = json_loadb(line, (size_t)n, 0, &je);
		const char *id = NULL, *st = NULL;
		if (!j || json_unpack(j, "{s:s, s:s}", "id", &id, "status", &st)) {
			fprintf(stderr, "gearbox: %s:%lu: not a journal record, ignored\n",
				e->o.journal, lineno);
			json_decref(j);
			continue;
		}
		if (!strcmp(st, "ok")) {
			int64_t i = workload_find(e->wl, id);
			if (i >= 0)
				e->wl->tasks[i].state = ST_RESUMED;
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
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
	if (s->sh)
		fputs(s->sh, e->joblog);
	else if (s->argv)
		for (char **p = s->argv; *p; p++)
			fprintf(e->joblog, "%s%s", p == s->argv ? "" : " ", *p);
	else
		fprintf(e->joblog, "sim:%s", t->id);
	fputc('\n', e->joblog);
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
	fprintf(e->stats,
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
		fprintf(e->stats, "%s\"%s\":%lld", i ? "," : "", by[i].name, (long long)by[i].n);
	fputs("}}\n", e->stats);
	int bad = ferror(e->stats);
	bad |= fclose(e->stats) != 0;
	e->stats = NULL;
	if (bad || rename(e->stats_tmp, e->o.stats)) {
		fprintf(stderr, "gearbox: %s: cannot write stats: %s\n", e->o.stats, strerror(errno));
		unlink(e->stats_tmp);
	}
}

/* ---- output (outside e->mu) ---------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void save_file(const char *dir, const char *id, const char *ext, const struct buf *b)
{
	struct buf path = {0}, tmp = {0};
	buf_addf(&path, "%s/", dir);
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')
			buf_add(&path, p, 1);
		else
			buf_addf(&path, "%%%02X", *p);
	}
	buf_addf(&path, ".%s", ext);
	buf_addf(&tmp, "%s.tmp.%d", path.p, (int)getpid());
	int fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		write_all(fd, b->p ? b->p : "", b->len);
		if (close(fd) == 0 && rename(tmp.p, path.p) == 0)
			goto out;
	}
	fprintf(stderr, "gearbox: %s: %s\n", path.p, strerror(errno));
	unlink(tmp.p);
out:
	buf_free(&path);
	buf_free(&tmp);
}

void show_output(struct engine *e, uint32_t idx, struct attempt *a)
{
	const struct task *t = &e->wl->tasks[idx];
	if (e->o.output_dir) {
		save_file(e->o.output_dir, t->id, "stdout", a->out);
		save_file(e->o.output_dir, t->id, "stderr", a->err);
	} else if (a->out->len || a->err->len) {
		pthread_mutex_lock(&e->out_mu);
		if (e->progress_on)
			write_all(2, "\r\033[K", 4);
		write_all(1, a->out->p, a->out->len);
		write_all(2, a->err->p, a->err->len);
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

int open_outputs(struct engine *e, struct err *err)
{
	if (e->o.journal) {
		if (e->o.resume && journal_resume(e, err))
			return -1;
		e->journal_fd = open(e->o.journal, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (e->journal_fd < 0)
			return err_set(err, "%s: cannot open journal: %s", e->o.journal, strerror(errno));
		journal_trim(e);
	} else if (e->o.resume) {
		return err_set(err, "--resume needs --journal FILE");
	}
	if (e->o.events) {
		e->events = fopen(e->o.events, "we");
		if (!e->events)
			return err_set(err, "%s: cannot open events file: %s", e->o.events, strerror(errno));
		setvbuf(e->events, NULL, _IOFBF, 1 << 16);
	}
	if (e->o.joblog) {
		e->joblog = fopen(e->o.joblog, "we");
		if (!e->joblog)
			return err_set(err, "%s: cannot open joblog: %s", e->o.joblog, strerror(errno));
		fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n", e->joblog);
	}
	if (e->o.stats) {
		/* opened now so a bad path stops the run before it starts; renamed
		 * into place when it ends, so the file is never half written */
		struct buf b = {0};
		buf_addf(&b, "%s.tmp.%d", e->o.stats, (int)getpid());
		e->stats_tmp = b.p;
		e->lat = calloc(LAT_BUCKETS, sizeof *e->lat);
		if (!e->stats_tmp || !e->lat)
			return err_set(err, "out of memory");
		e->stats = fopen(e->stats_tmp, "we");
		if (!e->stats)
			return err_set(err, "%s: cannot write stats: %s", e->o.stats, strerror(errno));
	}
	if (e->o.output_dir && mkdir(e->o.output_dir, 0755) && errno != EEXIST)
		return err_set(err, "%s: cannot create output directory: %s", e->o.output_dir,
			       strerror(errno));
	return 0;
}

void close_outputs(struct engine *e)
{
	if (e->journal_fd >= 0)
		close(e->journal_fd);
	if (e->events)
		fclose(e->events);
	if (e->joblog)
		fclose(e->joblog);
	if (e->stats) { /* the run did not start: leave nothing behind */
		fclose(e->stats);
		unlink(e->stats_tmp);
	}
	free(e->stats_tmp);
	free(e->lat);
}

