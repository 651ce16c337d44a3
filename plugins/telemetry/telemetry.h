/* telemetry.h - the telemetry plugin's shared state (internal to the plugin).
 *
 * Who writes what, and when:
 *
 *   - shards: one per worker slot (host->task_slot), created by that slot's
 *     worker on its first attempt. A slot is one worker thread for the whole
 *     run, so a shard has a single writer: its counters and histograms are
 *     bumped with relaxed atomic loads and stores (no lock, no locked
 *     read-modify-write), and the main thread reads them at any time with
 *     relaxed loads. A slot outside 0..TEL_SLOTS-1 (never, with the engine's
 *     4096-job cap) would share the `ovf` shard under ovf_mu.
 *   - series: per shard, one per (kind, target) pair, published to readers
 *     with a release store of nser; never freed before fini.
 *   - registries: kind and target names, shared by every shard; looked up
 *     without a lock, added to under reg->mu (once per new name); names past
 *     the cap fold into "other".
 *   - the timeline: per shard, busy-time bins and slices (one per sampled
 *     attempt), written by the owner only. The main thread reads them after
 *     run_end (the engine has joined the workers). The trace's helper thread
 *     reads a chunk of slices while the run goes on only once the owner has
 *     linked the next one (chunk->next, release/acquire): a full chunk is
 *     never written again.
 *   - everything under "main thread" below: tick, run_start/end/summary.
 *   - snap: what the Lua functions read, under snap_mu (held for a copy).
 *   - http: the rendered exposition, under http->mu.
 */
#ifndef TEL_TELEMETRY_H
#define TEL_TELEMETRY_H

#include <gearbox/plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "hist.h"
#include "util.h"

#define TEL_SLOTS   4096 /* worker slots with a shard of their own (the engine's job cap) */
#define TEL_KINDS   16   /* distinct task kinds kept apart; more fold into "other" */
#define TEL_TARGETS 64   /* distinct targets kept apart; more fold into "other" */
#define TEL_NODES   62   /* distinct nodes with tracks of their own; more share "other" */
#define K_OTHER     TEL_KINDS
#define NK          (TEL_KINDS + 1)
#define T_OTHER     TEL_TARGETS
#define T_NONE      (TEL_TARGETS + 1) /* the task has no target */
#define NT          (TEL_TARGETS + 2)
/* Timeline memory: a slot's first chunk holds CHUNK_FIRST slices (8 KB), the
 * next ones CHUNK_BIG (2 MB); MAX_SLICES in all (128 MB), later ones are
 * dropped and counted. Without a trace file, a slot keeps its first
 * HTML_SLICES for the report's attempt-by-attempt timeline. The busy bins:
 * TL_BINS per slot, the first TL_BIN0_MS wide (10 ms in all), then 20, 40... */
#define CHUNK_FIRST 256
#define CHUNK_BIG   65536
#define MAX_SLICES  (4u << 20)
#define HTML_SLICES 4000
#define TL_BINS     1024
#define TL_BIN0_MS  0.01
/* gauge samples kept; past it every other one is dropped */
#define GS_MAX 4096

enum { F_EXIT, F_SIGNAL, F_TIMEOUT, F_SPAWN, F_REJECTED, F_ERROR, NFAIL };
extern const char *const tel_fail_names[NFAIL];

/* r->failure as an F_* index: a few character tests, no strcmp. */
static inline int fail_index(const char *f)
{
	if (!f)
		return F_ERROR;
	switch (f[0]) {
	case 'e':
		return f[1] == 'x' ? F_EXIT : F_ERROR;
	case 's':
		return f[1] == 'i' ? F_SIGNAL : F_SPAWN;
	case 't':
		return F_TIMEOUT;
	case 'r':
		return F_REJECTED;
	default:
		return F_ERROR;
	}
}

/* One (kind, target) pair in one shard. What every attempt touches (ok,
 * retried, cached, the sums and maxima) shares the first cache line; the
 * attempts ended are the run histogram's count (read from there, so the two
 * always agree). */
struct series {
	_Alignas(64) _Atomic uint64_t ok; /* (_Alignas binds each declarator: one only) */
	_Atomic uint64_t retried, cached;
	struct hstat wait_st, run_st;
	uint16_t kid, tid, idx, pad;
	_Atomic uint64_t failed[NFAIL];
	/* ABI 1.5: attempts that reported their resources (exec), their CPU
	 * time in all (µs), their largest peak memory (KB) */
	_Atomic uint64_t res_n, cpu_us, peak_kb;
	struct hist wait, run;
};

#define ST_CACHED 0x80 /* status: answered by the cache; low bits: 0 ok, 1 + F_* failed */
struct slice {
	double start_ms;
	float dur_ms, wait_ms;
	const char *id; /* the engine's string: valid until the workload is freed */
	uint16_t ser;   /* index in the shard's series list */
	uint16_t attempt;
	uint8_t status;
	uint8_t node;   /* 0 this process, else 1 + the node's id in T->nodes (the trace's pid - 1) */
	uint32_t peak_kb; /* ABI 1.5: exec's peak memory, 0 unknown */
	float cpu_ms;     /* ABI 1.5: exec's user + system CPU time */
};

struct chunk {
	_Atomic(struct chunk *) next; /* set (release) when the owner starts the next one */
	unsigned n, cap;
	struct slice s[];
};

struct shard {
	/* owner only: the last kind/target seen (pointer compare first), and
	 * where short attempts go in the busy bins (see bins_add) */
	const char *lk, *lt;
	unsigned lkid, ltid;
	const char *lnode; /* the last node seen, and its slice.node */
	unsigned lnid;
	struct series *ls;
	int bin_cur, bin_left;
	double bin_short;
	_Atomic(struct chunk *) head; /* published (release) for the timeline helper */
	struct chunk *tail;
	uint64_t kept, dropped; /* slices kept; dropped for want of room */
	/* busy time per bin of bin_ms since the run started (for the HTML report):
	 * when an attempt ends past the last bin, pairs merge and bin_ms doubles */
	double bin_ms, bin_inv, bins[TL_BINS];
	struct series *by[NK][NT];
	/* published */
	_Atomic unsigned nser;
	struct series *list[NK * NT];
};

struct regent {
	_Atomic(const char *) name;
	uint64_t h;
	unsigned id;
};
struct reg {
	pthread_mutex_t mu;
	unsigned cap, mask;
	_Atomic unsigned n;
	struct regent *tab;
	char **names; /* cap + 1 entries: names[cap] is "other" */
};
struct reg *reg_new(unsigned cap);
unsigned reg_id(struct reg *r, const char *name);
const char *reg_name(const struct reg *r, unsigned id); /* NULL for an unused id */
void reg_free(struct reg *r);

/* merged counters of some series (main thread) */
struct agg {
	uint64_t ended, ok, failed[NFAIL], retried, cached;
	uint64_t res_n, cpu_us, peak_kb; /* see struct series */
	struct hsum wait, run;
};
void agg_add(struct agg *a, const struct agg *o);
uint64_t agg_failed(const struct agg *a);

struct view {
	struct agg *pair[NK][NT];
	unsigned npairs;
	uint16_t pk[NK * NT], pt[NK * NT]; /* pairs in first-seen order */
	struct agg kind[NK], target[NT], total;
};

struct gsample {
	float t_ms, cpu, mem, tput;
	int32_t queued, running, jobs, pad;
};

enum { A_SUCCESS, A_THROUGHPUT, A_P99, NALERT };
extern const char *const tel_alert_names[NALERT];
struct alert {
	int on;
	double threshold;
	int firing, fired;        /* now; times it started firing */
	double first_ms, last_ms; /* first time it fired; last evaluation */
	double value;             /* at the last evaluation */
	double worst;             /* the worst value seen while firing */
};

#define HINT_MAX 5
struct hint {
	const char *name;
	char message[256];
	char figures[512]; /* JSON object members, without braces */
};

struct tcfg {
	char *prometheus, *trace, *summary, *html;
	int64_t interval_ms;
	int listen;
	double sample;
	int hints;
};

struct http;
struct twriter;

struct lkey {
	const char *name; /* registry names: stable until fini */
	int is_target;
	double p99_ms, rate;
};

struct tel {
	/* read by every attempt: the first cache lines, with the first shards */
	const struct gbx_host *host;
	int want_slices; /* trace or html asked for */
	int want_bins;   /* html asked for */
	int want_trace;  /* a trace file */
	int sample_all;
	int abi15; /* the host fills gbx_attempt's node, peak_kb and cpu_us */
	_Atomic(struct shard *) shards[TEL_SLOTS];

	struct tcfg cfg;
	_Atomic int nslots; /* highest slot with a shard, + 1 */
	struct shard *ovf;
	pthread_mutex_t ovf_mu;
	_Atomic unsigned slices_room; /* slices allocated in chunks, against MAX_SLICES */
	struct reg *kinds, *targets, *nodes;

	/* main thread */
	struct gbx_count *ctr; /* the plugins' published figures (host->counters) at the end */
	size_t nctr;
	struct view *view;
	int64_t ntasks;
	int started, ended;
	struct gbx_metrics m; /* the last tick's (zeroed until one came) */
	int have_m;
	double end_ms;
	struct gsample *gs;
	unsigned ngs, gs_every, gs_skip;
	double next_interval_ms;
	/* the previous interval, for windowed alerts, and a ring for rate() */
	double win_t;
	uint64_t win_ended, win_ok;
	struct hsum *win_run;
	double ring_t[32];
	uint64_t ring_n[32][NK + NT + 1];
	unsigned ring_pos, ring_len;
	struct alert alerts[NALERT];
	struct hint hints[HINT_MAX];
	int nhints;
	struct gbx_summary sum;
	int have_sum;
	struct gbx_buf prom;
	char last_err[512]; /* last write error, logged once per file */
	int logged_prom_err;

	/* the /metrics responder, the timeline helper */
	struct http *http;
	struct twriter *tw;

	/* what the Lua functions read */
	pthread_mutex_t snap_mu;
	int snap_n;
	struct lkey snap[NK + NT];
	double snap_p99_all, snap_rate_all;
	int snap_ready;
};

/* view.c */
struct view *view_new(void);
void view_free(struct view *v);
void view_merge(struct tel *T); /* reads every shard into T->view */
struct shard *shard_new(void);
void shard_free(struct shard *s);

/* prom.c */
void prom_render(struct gbx_buf *b, struct tel *T, double now_ms, int final);
void prom_family(struct gbx_buf *b, const char *name, const char *type, const char *help);
void prom_label_value(struct gbx_buf *b, const char *v);
void prom_sample(struct gbx_buf *b, const char *name, const char *const *labels, double v);

/* timeline.c: the helper thread (pre-touched chunks, the trace as it fills) */
int timeline_start(struct tel *T, char *err, size_t errlen); /* run_start */
int timeline_finish(struct tel *T, char *err,
                    size_t errlen); /* the end: rest of the trace, rename */
void timeline_free(struct tel *T);
struct chunk *chunk_alloc(struct tel *T, unsigned cap); /* counts against MAX_SLICES */
void bins_add(struct shard *s, double start_ms, double dur_ms);
#define BIN_SYNC 8 /* a short attempt takes its start from the host one time in BIN_SYNC */

/* report.c */
int summary_write(struct tel *T, const char *path, char *err, size_t errlen);
void summary_json(struct tel *T, struct gbx_buf *b);
int html_write(struct tel *T, const char *path, char *err, size_t errlen);

/* rules.c */
void alerts_eval(struct tel *T, double now_ms, int final);
void hints_compute(struct tel *T);

/* http.c */
int http_start(struct tel *T, int port, char *err, size_t errlen);
void http_publish(struct http *h, const char *body, size_t len);
void http_stop(struct http *h);

/* latency figures of a merged histogram, in ms */
struct lat {
	double count, mean, p50, p90, p99, max;
};
void lat_of(const struct hsum *h, struct lat *l);

#endif
