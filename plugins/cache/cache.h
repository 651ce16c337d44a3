/* cache.h - the cache plugin's internals, shared by its files (never by the
 * engine: the plugin sees the engine only through <gearbox/plugin.h>).
 *
 *   util.c       growable buffers, paths, whole-file reads, atomic writes
 *   entry.c      the entry record: encode, decode, checksum (pure)
 *   lru.c        the memory level: LRU with entry and byte caps and a TTL (pure)
 *   statcache.c  (path, dev, ino, size, mtime, ctime) -> content hash, persisted
 *   key.c        the key of a task: command, env, cwd, stdin, input contents
 *   disk.c       the disk level: layout, lock, entries, blobs, capture, restore
 *   maint.c      the disk level's upkeep: usage, gc, clear, verify, stats
 *   pack.c       packs: many entries without blobs in one file, batched
 *   writer.c     a thread that writes entries and packs off the task path
 *   explain.c    what each task's key was made of, for `gearbox cache explain`
 *   deps.c       depfiles (Makefile format) and the manifests that keep their lists
 *   remote.c     the remote level on Redis: lookups with a deadline, leases,
 *                a breaker, and a thread that writes stores behind
 *   cache.c      the descriptor, hooks, Lua functions
 *   config.c     reading plugins.cache (through <gearbox/plugin_config.h>)
 *   command.c    `gearbox cache stats|gc|clear|verify|explain`
 *   figures.c    the per-level figures published for other plugins (ABI 1.5)
 *
 * Hashes are XXH3-128 in canonical (big-endian) byte order, so a blob's file
 * name is what `xxh128sum` prints for its content. Nothing here is global:
 * all state hangs off struct cache, which init returns as `self`.
 */
#ifndef GBX_CACHE_H
#define GBX_CACHE_H

#include <gearbox/plugin.h>
#include <gearbox/plugin_buf.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CACHE_FORMAT       1     /* the "v1" in DIR/v1 and in every entry header */
#define CACHE_KEY_FORMAT   2     /* bump when what goes into a key changes */
#define CACHE_INLINE_MAX   4096  /* payloads up to this size live inside the entry */
#define CACHE_INLINE_TOTAL 65536 /* ... as long as the entry's inline bytes stay under this */
#define CACHE_STAT_SLACK_NS                                                                        \
	2000000000LL                  /* files changed this recently are never trusted by stat     \
	                               */
#define REMOTE_NS_MAX 64 /* remote_namespace: letters, digits, . _ - */
#define CACHE_QUICK_BUDGET (1u << 20) /* bytes cache.has() may read to hash inputs */

/* ---- util.c ---------------------------------------------------------------- */

/* growable buffers are the SDK's (struct gbx_buf, <gearbox/plugin_buf.h>):
 * always NUL-terminated, 0 or -1 when memory runs out */

/* a/b as a new string (b alone when absolute); NULL when out of memory. */
char *path_join(const char *a, const char *b);
/* mkdir -p; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);
/* The whole file into out (replacing its content); 0 or -errno (-EFBIG past max). */
int read_file(const char *path, struct gbx_buf *out, uint64_t max);
/* The names in dir that keep(name, ud) accepts ("." and ".." never), sorted
 * by strcmp, into *out (free with free_names). The count, or -1 with errno
 * when dir cannot be opened; running out of memory ends the list early. */
long dir_names(const char *dir, int (*keep)(const char *name, void *ud), void *ud, char ***out);
void free_names(char **names, size_t n);
int cmp_str(const void *a, const void *b); /* qsort order of char *s */
int write_all(int fd, const void *p, size_t n); /* 0 or -errno */
void hex16(const uint8_t k[16], char out[33]);
int unhex16(const char *s, uint8_t k[16]); /* 0, or -1 unless exactly 32 hex digits */
int64_t wall_ns(void);

/* ---- entry.c --------------------------------------------------------------- */

enum { PL_INLINE = 0, PL_BLOB = 1 };
/* Bytes (stdout, stderr, a file's content, a symlink's target): inline in the
 * entry, or a blob named by its hash. */
struct cpayload {
	uint8_t where;
	uint64_t len;
	uint8_t hash[16];
	const uint8_t *data; /* PL_INLINE: len bytes (borrowed from the encoding) */
};

enum { OT_ABSENT = 0, OT_FILE, OT_DIR, OT_LINK };
struct coutput {
	const char *path; /* as declared (or declared/child for a directory's content) */
	uint8_t type;
	uint32_t mode; /* st_mode & 07777 */
	struct cpayload p;
};

struct centry {
	uint8_t key[16];
	int64_t created_ns;
	int ok, exit_code, sig;
	double ms;        /* how long the task took when it ran */
	char failure[16]; /* "" when ok */
	struct cpayload out, err;
	uint32_t nout;
	struct coutput *outs; /* decode: malloc'ed array, free with entry_clear */
};

#define ENTRY_HEADER 24 /* "GBXE", u32 format, u64 body length, u64 checksum */

/* Appends e's encoding (header, checksum, body) to out. 0 or -1 (memory). */
int entry_encode(const struct centry *e, struct gbx_buf *out);
/* Decodes buf; the result points into buf (keep it alive). key, when not NULL,
 * must match the stored key. 0, or -1 with *why set (truncated, checksum, ...). */
int entry_decode(const uint8_t *buf, size_t len, const uint8_t *key, struct centry *e,
                 const char **why);
void entry_clear(struct centry *e);
/* The blob hashes an encoded entry refers to, for gc: calls fn for each. */
int entry_blobs(const uint8_t *buf, size_t len, void (*fn)(void *ud, const uint8_t h[16]),
                void *ud);

/* ---- lru.c ----------------------------------------------------------------- */

/* One memory entry: an encoded entry (the same bytes as on disk) and its
 * decoding. Immutable once inserted; shared by reference count. */
struct mem_item {
	uint8_t key[16];
	uint8_t *buf;
	size_t len, bytes; /* bytes: what it costs against mem_mb */
	struct centry e;
	int64_t added_ns;
	atomic_int refs;
	struct mem_item *prev, *next, *hnext;
};

struct lru {
	struct mem_item **tab;
	size_t nbuckets, n, bytes;
	size_t max_n, max_bytes; /* 0: the level is off */
	int64_t ttl_ns;          /* 0: no expiry */
	struct mem_item head;    /* sentinel: head.next is the most recently used */
	uint64_t evictions, expirations;
};

/* The caller serializes lru_* calls (cache.c holds a mutex); mem_release may
 * be called without it. */
int lru_init(struct lru *l, size_t max_n, size_t max_bytes, int64_t ttl_ns);
void lru_free(struct lru *l);
/* A new item holding a copy of an encoded entry; NULL when it does not decode. */
struct mem_item *mem_item_new(const uint8_t *key, const void *buf, size_t len);
/* The item for key with a reference for the caller, or NULL (missing, expired). */
struct mem_item *lru_get(struct lru *l, const uint8_t *key, int64_t now_ns);
/* Whether key is present and fresh, without touching the order. */
int lru_has(struct lru *l, const uint8_t *key, int64_t now_ns);
/* Inserts it (replacing an item with the same key) and evicts down to the caps;
 * takes the caller's reference. An item larger than the byte cap is dropped. */
void lru_put(struct lru *l, struct mem_item *it, int64_t now_ns);
void lru_del(struct lru *l, const uint8_t *key);
void mem_release(struct mem_item *it);

/* ---- statcache.c ----------------------------------------------------------- */

struct screc;
struct statcache {
	pthread_mutex_t mu;
	struct screc **tab;
	size_t nb, n;
	int dirty;
	int64_t now_s; /* when it was loaded: marks records used in this run */
};
int sc_init(struct statcache *sc);
void sc_free(struct statcache *sc);
/* Loads FILE; 0, 1 when there is none, -1 (with *why) when it is damaged. */
int sc_load(struct statcache *sc, const char *file, const char **why);
/* Whether path's record matches st; then its content hash is in h. */
int sc_lookup(struct statcache *sc, const char *path, const struct stat *st, uint8_t h[16]);
void sc_put(struct statcache *sc, const char *path, const struct stat *st, const uint8_t h[16]);
/* Merges with what FILE holds now (another process may have written it) and
 * writes it atomically through tmp. 0 or -errno. */
int sc_save(struct statcache *sc, const char *file, const char *tmp);
/* Whether a file with this stat may be trusted by stat alone, having started
 * to read it at start_ns (it has not changed in the last CACHE_STAT_SLACK_NS). */
int sc_trustworthy(const struct stat *st, int64_t start_ns);

/* ---- the plugin state (cache.c) -------------------------------------------- */

struct counters {
	/* stores: entries this run produced; fills: remote hits written to disk */
	_Atomic uint64_t hits_mem, hits_disk, misses, stores, fills, store_skipped, uncacheable,
	    corrupt, busy, hashed_files, hashed_bytes, stat_hits, bytes_added, saved_us;
	/* per tier: hits and bytes replayed from it; the remote's traffic */
	_Atomic uint64_t hits_remote, bytes_mem, bytes_disk, bytes_remote, remote_errors,
	    remote_skipped, remote_bytes_in, remote_bytes_out, remote_stores, remote_dropped,
	    deduped, lease_waits;
};

/* figures.c: publishes hits, misses and bytes per level (host->counter_set). */
struct cache;
void cache_publish(struct cache *c);

struct pend; /* a task between before_task and after_task (cache.c) */
struct remote; /* remote.c */
struct flight; /* an action running in this process (cache.c) */
struct wjob; /* an entry waiting for the writer (writer.c) */
struct packs; /* pack.c */

struct cache {
	const struct gbx_host *host;

	/* config, read-only after init */
	char *dir;  /* absolute */
	char *root; /* dir/v1 */
	uint64_t max_bytes;
	int require_inputs, cache_failures, stat_cache;
	char *key_version;
	char **env_allow;     /* sorted names, NULL-terminated, or NULL: the task's own env */
	char **env_inherited; /* env_allow[i]'s value in gearbox's environment at init, or NULL */
	size_t n_env_allow;
	char *proc_cwd;
	char *proj_root; /* paths in keys are relative to it (`root`; default: proc_cwd) */
	struct remote *rm; /* NULL: no remote level */

	/* in-flight actions of this process, by key: an identical one waits */
	pthread_mutex_t fl_mu;
	pthread_cond_t fl_cv;
	struct flight *flights;
#define FL_NONE 1024
	uint8_t (*fl_none)[16]; /* keys whose action left no result (cache.c) */

	int disk_ok;   /* the disk level could be set up */
	struct packs *pk; /* the disk level's packs (pack.c), or NULL */
	dev_t dir_dev; /* the cache dir, skipped when walking input directories */
	ino_t dir_ino;
	atomic_uint tmp_seq;  /* unique temp names: pid, thread, this */
	atomic_int warned_io; /* cache-side write errors are reported once per run */
	atomic_int in_run;    /* between run_start and run_end: cache.has may ask the remote */

	pthread_mutex_t mem_mu;
	struct lru mem;

	struct statcache sc;
	int sc_loaded;

	pthread_mutex_t pend_mu;
	struct pend *pend[256];

	/* the background writer (writer.c) */
	pthread_mutex_t wq_mu;
	pthread_cond_t wq_cv;
	pthread_t wq_th;
	int wq_running, wq_stop, wq_pack; /* wq_pack: a pack's batch is full */
	struct wjob *wq_head, *wq_tail;
	size_t wq_bytes;

	struct counters n;

	pthread_mutex_t x_mu; /* explain.c: this run's lines */
	struct gbx_buf xlog;
};

void cache_log(struct cache *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A write to the cache failed: says so once per run. */
void cache_io_warning(struct cache *c, const char *detail);
/* A unique temp file name beside dst, ".NAME.gbx-tmp.PID.TID.SEQ" (a new
 * string): renaming within one folder is atomic and takes no file-system-wide
 * lock, unlike a rename across folders. */
char *cache_tmpname(struct cache *c, const char *dst);
int is_tmpname(const char *name);

/* ---- key.c ----------------------------------------------------------------- */

enum { KEY_OK = 0, KEY_UNCACHEABLE = 1, KEY_TOO_SLOW = 2 };
/* The working directory a task runs in, absolute (a new string). */
char *task_workdir(struct cache *c, const gbx_task *t);
/* Whether the task may be cached at all (cache:false, kind, require_inputs). */
int key_cacheable(struct cache *c, const gbx_task *t);
/* The task's key. quick (for cache.has on the dispatcher): read at most
 * CACHE_QUICK_BUDGET bytes of inputs the stat cache does not vouch for, else
 * KEY_TOO_SLOW. Returns KEY_OK, KEY_UNCACHEABLE or KEY_TOO_SLOW. */
int key_task(struct cache *c, const gbx_task *t, uint8_t key[16], int quick);
/* The key's components, each hashed on its own, for `gearbox cache explain`. */
#define KCOMP_MAX 64
struct kcomp {
	void *cs; /* XXH3_state_t * (64-bit), owned by the caller */
	size_t n;
	char name[KCOMP_MAX][112];
	uint64_t h[KCOMP_MAX];
	uint8_t done[KCOMP_MAX];
};
int key_task_explain(struct cache *c, const gbx_task *t, uint8_t key[16], int quick,
                     struct kcomp *kc);
struct kcomp *kcomp_new(void); /* NULL when out of memory */
void kcomp_free(struct kcomp *kc);
/* XXH3-128 of a file, through the stat cache; 0 or -errno (-EAGAIN: over budget). */
int hash_file(struct cache *c, const char *path, const struct stat *st, uint8_t h[16],
              size_t *budget);
void hash_bytes(const void *p, size_t n, uint8_t h[16]);

/* ---- writer.c --------------------------------------------------------------- */

int writer_start(struct cache *c); /* run_start */
void writer_stop(struct cache *c); /* run_end, fini: drains the queue, writes the last pack */
/* Why an entry is written, for the counters once it is: W_STORE this run
 * produced it (stores), W_FILL a remote hit copied into the disk level
 * (fills), W_REWRITE a damaged pack's sound entry written again (neither). */
enum wkind { W_STORE, W_FILL, W_REWRITE };
void count_written(struct cache *c, enum wkind kind, uint64_t n);
/* Stores an encoded entry: lk >= 0 (the caller holds the shared lock, having
 * written blobs) at once as a file; else, without blobs, into the next pack;
 * else (blobs) through the writer as a file when it has room. */
void entry_store(struct cache *c, const uint8_t key[16], const void *p, size_t n, int lk,
                 int blobs, enum wkind kind);

/* ---- pack.c ----------------------------------------------------------------- */

#define PACK_BATCH       1024       /* entries per pack, at most, while a run goes on */
#define PACK_BATCH_BYTES (4u << 20) /* ... or bytes */
#define PACK_WAIT_MS     1000       /* an entry waits at most this long (then a pack) */
#define PACK_WAIT_MAX    (32u << 20) /* beyond this much waiting, entries are files */
#define PACK_MAX         32         /* more packs than this: run_end merges them */

int packs_init(struct cache *c); /* after disk_setup: 0 or -errno */
void packs_free(struct cache *c);
int pack_name_ok(const char *name); /* NAME.pack, not a temp file */
/* Whether key is in a pack or waiting for one (loads new packs on a miss). */
int pack_has(struct cache *c, const uint8_t key[16]);
/* key's entry into out: 0, 1 absent, -1 damaged (why set; the pack is salvaged). */
int pack_read(struct cache *c, const uint8_t key[16], struct gbx_buf *out, const char **why);
/* Marks key's pack used (its mtime); 1 when key is in a pack or waiting. */
int pack_touch(struct cache *c, const uint8_t key[16]);
/* Queues an entry for the next pack: 0, 1 (a batch is full: wake the writer),
 * -1 not queued (no writer, or too much waiting): write it as a file. */
int pack_add(struct cache *c, const uint8_t key[16], const void *p, size_t n, enum wkind kind);
void pack_accept(struct cache *c, int on); /* the writer runs: entries may wait */
int pack_due(struct cache *c);             /* a batch is full or has waited long enough */
/* Writes what waits as one pack (final: what cannot be written is dropped,
 * else it waits for the next try). 0 or -errno. */
int pack_flush(struct cache *c, int final);
/* Merges the packs into one when there are more than PACK_MAX (force: more
 * than one), under the exclusive lock; 0, 1 busy, -1 error. */
int pack_compact(struct cache *c, int force);
/* Calls fn for each entry of the pack at path (rec: its index record, key
 * first; p NULL with bad set when it cannot be read; buf NULL: the index
 * alone, p NULL and bad NULL); 0, 1 gone, -1 the header or index is damaged (why). */
typedef void (*pack_fn)(void *ud, const uint8_t *rec, const uint8_t *p, size_t n, const char *bad);
int pack_walk(const char *path, struct gbx_buf *buf, pack_fn fn, void *ud, const char **why);

/* ---- config.c --------------------------------------------------------------- */

struct cache_cfg {
	int64_t max_mb, mem_entries, mem_mb, ttl_s;
	int64_t r_deadline, r_ttl, r_blob, r_open, r_lease, r_queue;
	char dir[4096], root[4096], remote[4096]; /* remote: "" for none */
	char ns[REMOTE_NS_MAX + 1];                /* remote_namespace, or "" */
};
/* Reads cfg into k and c's own settings (flags, env_allow, key_version);
 * 0, or -1 with err ("KEY: expected ..., got ..."). */
int cache_config(struct cache *c, const char *cfg, struct cache_cfg *k, char *err,
                 size_t errlen);

/* `gearbox cache ...` (command.c): the exit status. */
int cache_command(void *self, int argc, char **argv);

/* ---- explain.c --------------------------------------------------------------- */

/* Notes an attempt's key components (stored: its result was stored too). */
void explain_note(struct cache *c, const char *id, int stored, const char *status,
                  const uint8_t key[16], const struct kcomp *kc);
void explain_save(struct cache *c); /* run_end: merges into DIR/v1/explain */
int explain_cmd(struct cache *c, const char *id);

/* ---- deps.c ----------------------------------------------------------------- */

/* The prerequisites a Makefile-format depfile lists (cc -MMD, -MP), in
 * order, without duplicates: a NULL-terminated array of new strings (free
 * with strv_free), or NULL when it has none or is not a depfile. */
char **depfile_parse(const char *text, size_t len);
void strv_free(char **v);
/* The deps recorded for base key k1 (DIR/v1/deps/xx/K1): 0 with *deps set,
 * 1 none recorded, -1 unreadable. */
int manifest_read(struct cache *c, const uint8_t k1[16], char ***deps);
int manifest_write(struct cache *c, const uint8_t k1[16], char *const *deps);
/* The key of a task with a depfile: k1 and the state of each dep (as inputs
 * are hashed), relative to workdir. KEY_OK or KEY_UNCACHEABLE. */
int key_with_deps(struct cache *c, const uint8_t k1[16], const char *workdir, char *const *deps,
                  uint8_t k2[16], struct kcomp *kc);
/* The task's depfile field, a new string, or NULL. */
char *task_depfile(struct cache *c, const gbx_task *t);

/* ---- remote.c --------------------------------------------------------------- */

struct remote_cfg {
	int64_t deadline_ms, open_s, lease_ms, ttl_s;
	uint64_t max_blob, queue_max;
	const char *ns; /* "" or a namespace */
};
int remote_parse_url(const char *url, char **host, int *port, char **sock, int *db, char *err,
                     size_t errlen);
/* Sets up c->rm (no connection yet); 0, or -1 with err (a bad URL). */
int remote_init(struct cache *c, const char *url, const struct remote_cfg *cfg, char *err,
                size_t errlen);
void remote_free(struct cache *c);
const char *remote_url(struct cache *c);
int remote_start(struct cache *c); /* run_start: the write-behind thread */
void remote_stop(struct cache *c); /* run_end: drains the queue (unless the remote fails) */
/* Whether the breaker lets the remote be used now. */
int remote_usable(struct cache *c);
/* Looks key up within the deadline: 1 found (the entry's bytes in out, its
 * blobs written to the disk level), 0 miss (or unavailable), -1 damaged
 * (warned about and deleted remotely). */
int remote_fetch(struct cache *c, const char *task, const uint8_t key[16], struct gbx_buf *out);
/* Whether key's entry is in the remote (EXISTS, for cache.has): 1 yes; 0 no,
 * the breaker is open, or no answer within the deadline (which opens it). */
int remote_has(struct cache *c, const uint8_t key[16]);
/* Takes the lease on key: 1 taken, 0 another process holds it, -1 no remote. */
int remote_lease(struct cache *c, const uint8_t key[16]);
int remote_lease_alive(struct cache *c, const uint8_t key[16]);
int64_t remote_lease_ms(struct cache *c);
/* Queues an entry (n > 0) and/or the release of our lease on key; never waits. */
void remote_store(struct cache *c, const uint8_t key[16], const void *p, size_t n, int release);
int64_t remote_lookup_p50_ns(struct cache *c);

/* ---- disk.c (usage, gc, clear, verify, stats: maint.c) ----------------------- */

/* Creates DIR/v1 and its folders; 0 or -errno. */
/* disk.c's helpers shared with maint.c */
uint64_t disk_bytes(const struct stat *st);           /* blocks on disk, in bytes */
char *disk_sub(struct cache *c, const char *what);    /* root/what, malloc'd */
int disk_write_atomic(struct cache *c, const char *dst, const void *p, size_t n);

int disk_setup(struct cache *c);
/* The lock on DIR/v1/lock: shared for reads and stores, exclusive for gc and
 * clear. Returns an fd to pass to disk_unlock, or -1 (busy, or no disk). */
int disk_lock(struct cache *c, int exclusive, int wait);
void disk_unlock(int fd);
char *entry_path(struct cache *c, const uint8_t key[16]);
char *manifest_path(struct cache *c, const uint8_t k[16]);
int disk_write_file(struct cache *c, const char *dst, const void *p, size_t n); /* atomic */
char *blob_path(struct cache *c, const uint8_t h[16]);
/* Reads and checks the entry for key into *buf; 0, 1 when absent, -1 corrupt
 * (why set; the damaged file is removed). Caller holds the shared lock. */
int disk_read_entry(struct cache *c, const uint8_t key[16], struct gbx_buf *buf, const char **why);
int disk_has_entry(struct cache *c, const uint8_t key[16]);
/* Writes an encoded entry (temp file, then rename); 0 or -errno. */
int disk_write_entry(struct cache *c, const uint8_t key[16], const void *p, size_t n);
/* Stores n bytes as a blob named h unless it exists; 0 or -errno. */
int blob_put_mem(struct cache *c, const void *p, size_t n, const uint8_t h[16]);
/* Stores a file as a blob; its hash into h. 0, or -errno (-ESTALE: it changed meanwhile). */
int blob_put_file(struct cache *c, const char *path, const struct stat *st, uint8_t h[16]);
/* A blob's whole content into out, verified; 0, or -1 with why. */
int blob_load(struct cache *c, const uint8_t h[16], uint64_t len, struct gbx_buf *out,
              const char **why);
/* Reads every blob e refers to and removes those that do not match their
 * hash, so that the next store writes them again (after damage was found). */
void blob_scrub(struct cache *c, const struct centry *e);
/* Captures the declared outputs (relative to workdir) into e->outs; 0, or
 * with a reason in why (then nothing is stored): -1 the task's doing (a
 * declared output is missing or of a kind that cannot be stored), -2 the
 * cache's (I/O error, or no disk level for a large file), -3 busy (a gc holds
 * the lock). *lk: the shared lock, taken here before the first blob is written
 * (and left to the caller to release). */
int capture_outputs(struct cache *c, const char *const *outputs, const char *workdir, int ok,
                    struct centry *e, struct gbx_buf *arena, char *why, size_t whylen, int *lk);
/* Restores e's outputs under workdir: every file is staged to a temp file
 * and verified first, then all are renamed into place. 0, or -1 with why
 * (corrupt: *corrupt set). */
int restore_outputs(struct cache *c, const struct centry *e, const char *const *declared,
                    const char *workdir, char *why, size_t whylen, int *corrupt);
/* Marks an entry used (its mtime is the LRU clock). */
void disk_touch(struct cache *c, const uint8_t key[16]);

struct disk_usage {
	uint64_t entries, entry_bytes, blobs, blob_bytes, tmp, tmp_bytes,
	    other_bytes; /* tmp: leftovers */
	uint64_t corrupt, evicted, evicted_bytes, orphans, orphan_bytes;
};
/* gc: drops corrupt entries, orphaned blobs and stale temp files, then the
 * least recently used entries until the total is under 90% of cap (when over
 * cap). Takes the exclusive lock (waiting or not); 0, 1 busy, -1 error. */
int disk_gc(struct cache *c, uint64_t cap, int wait, struct disk_usage *u);
int disk_clear(struct cache *c);
void disk_usage_scan(struct cache *c, struct disk_usage *u);
/* Checks every entry and the blobs it refers to; prints problems to stdout. */
int disk_verify(struct cache *c, uint64_t *nentries, uint64_t *nbad);

/* DIR/v1/stats: counters over all runs since the last clear. */
struct disk_stats {
	uint64_t runs, hits, misses, stores, corrupt, saved_ms, bytes; /* bytes: estimated usage */
	/* per tier: hits and bytes replayed from memory, disk, the remote; the
	 * remote's traffic */
	uint64_t hits_mem, hits_disk, hits_remote, bytes_mem, bytes_disk, bytes_remote,
	    remote_in, remote_out, remote_errors;
	uint64_t fills; /* remote hits written to the disk level (not stores) */
};
int stats_update(struct cache *c, const struct disk_stats *add, int set_bytes, uint64_t bytes,
                 struct disk_stats *now);
int stats_read(struct cache *c, struct disk_stats *s);

#endif
