/* test_cache.c - the cache plugin's pure parts: the entry record and its
 * checksum, the memory LRU, the stat cache file, and what goes into a key.
 *
 * The plugin's sources are included directly (it is a .so of its own, not
 * part of libgearbox); xxHash is used header-only here (XXH_INLINE_ALL), so
 * this test links nothing beyond what every unit test links. A fake host
 * serves task fields from a plain struct.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "../../plugins/cache/util.c"
#include "../../plugins/cache/entry.c"
#include "../../plugins/cache/lru.c"
#include "../../plugins/cache/statcache.c"
#include "../../plugins/cache/key.c"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gbx-test-cache.XXXXXX";

/* ---- a fake host -------------------------------------------------------------- */

struct ftask {
	const char *id, *kind, *sh, *cwd, *in;
	const char **argv, **env, **inputs, **outputs;
	int cache, attempt;
};

#define FT(t) ((const struct ftask *)(const void *)(t))
static const char *f_id(const gbx_task *t)
{
	return FT(t)->id;
}
static const char *f_kind(const gbx_task *t)
{
	return FT(t)->kind;
}
static const char *f_sh(const gbx_task *t)
{
	return FT(t)->sh;
}
static const char *f_cwd(const gbx_task *t)
{
	return FT(t)->cwd;
}
static const char *const *f_argv(const gbx_task *t)
{
	return FT(t)->argv;
}
static const char *const *f_env(const gbx_task *t)
{
	return FT(t)->env;
}
static const char *const *f_inputs(const gbx_task *t)
{
	return FT(t)->inputs;
}
static const char *const *f_outputs(const gbx_task *t)
{
	return FT(t)->outputs;
}
static int f_cache(const gbx_task *t)
{
	return FT(t)->cache;
}
static char *f_field(const gbx_task *t, const char *name)
{
	(void)t;
	(void)name;
	return NULL;
}
static const char *f_stdin(const gbx_task *t, size_t *len)
{
	if (len)
		*len = FT(t)->in ? strlen(FT(t)->in) : 0;
	return FT(t)->in;
}

static struct gbx_host host;

static struct cache *new_cache(void)
{
	struct cache *c = calloc(1, sizeof *c);
	c->host = &host;
	c->proc_cwd = strdup(tmpdir);
	c->stat_cache = 1;
	sc_init(&c->sc);
	return c;
}

static void free_cache(struct cache *c)
{
	sc_free(&c->sc);
	free(c->proc_cwd);
	free(c);
}

static const gbx_task *T(const struct ftask *f)
{
	return (const gbx_task *)(const void *)f;
}

/* key of f as hex, for comparisons that print well */
static char keys[16][33];
static const char *key_of(struct cache *c, const struct ftask *f, int slot)
{
	uint8_t k[16];
	if (key_task(c, T(f), k, 0) != KEY_OK)
		return "(none)";
	hex16(k, keys[slot]);
	return keys[slot];
}

static void write_text(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

/* ---- the entry record ----------------------------------------------------------- */

static void sample_entry(struct centry *e, struct coutput *outs)
{
	static const char out[] = "hello\n", link[] = "target.txt", data[] = "\x00\x01\x02\xff";
	memset(e, 0, sizeof *e);
	for (int i = 0; i < 16; i++)
		e->key[i] = (uint8_t)(i * 7);
	e->created_ns = 1234567890123LL;
	e->ok = 0;
	e->exit_code = 3;
	e->sig = 0;
	e->ms = 12.5;
	strcpy(e->failure, "exit");
	e->out.where = PL_INLINE;
	e->out.len = 6;
	e->out.data = (const uint8_t *)out;
	hash_bytes(out, 6, e->out.hash);
	e->err.where = PL_BLOB;
	e->err.len = 100000;
	memset(e->err.hash, 0xab, 16);
	memset(outs, 0, 3 * sizeof *outs);
	outs[0] = (struct coutput){"out", OT_DIR, 0750, {PL_INLINE, 0, {0}, NULL}};
	outs[1] =
	    (struct coutput){"out/bin", OT_FILE, 0755, {PL_INLINE, 4, {0}, (const uint8_t *)data}};
	hash_bytes(data, 4, outs[1].p.hash);
	outs[2] = (struct coutput){
	    "out/link", OT_LINK, 0777, {PL_INLINE, 10, {0}, (const uint8_t *)link}};
	e->nout = 3;
	e->outs = outs;
}

static void test_entry(void)
{
	struct centry e, d;
	struct coutput outs[3];
	struct gbx_buf b = {0};
	const char *why = NULL;
	sample_entry(&e, outs);
	CHECK(entry_encode(&e, &b) == 0, "entry: encodes");
	CHECK(b.len > ENTRY_HEADER && !memcmp(b.p, "GBXE", 4), "entry: starts with its magic");
	int rc = entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why);
	CHECK(rc == 0, "entry: decodes (%s)", rc ? why : "ok");
	if (rc)
		return;
	CHECK(d.ok == 0 && d.exit_code == 3 && d.sig == 0 && d.ms == 12.5 &&
	          !strcmp(d.failure, "exit") && d.created_ns == 1234567890123LL,
	      "entry: status fields round-trip");
	CHECK(d.out.where == PL_INLINE && d.out.len == 6 && !memcmp(d.out.data, "hello\n", 6) &&
	          !memcmp(d.out.hash, e.out.hash, 16),
	      "entry: inline stdout round-trips");
	CHECK(d.err.where == PL_BLOB && d.err.len == 100000 && d.err.hash[5] == 0xab,
	      "entry: blob reference round-trips");
	CHECK(d.nout == 3 && !strcmp(d.outs[0].path, "out") && d.outs[0].type == OT_DIR &&
	          d.outs[0].mode == 0750 && !strcmp(d.outs[1].path, "out/bin") &&
	          d.outs[1].mode == 0755 && d.outs[1].p.len == 4 &&
	          !memcmp(d.outs[1].p.data, "\x00\x01\x02\xff", 4) && d.outs[2].type == OT_LINK &&
	          !memcmp(d.outs[2].p.data, "target.txt", 10),
	      "entry: outputs (paths, types, modes, bytes) round-trip");
	entry_clear(&d);

	/* every truncation, every flipped byte, an extra byte: never valid */
	int trunc_ok = 1, flip_ok = 1;
	for (size_t n = 0; n < b.len; n++)
		if (entry_decode((const uint8_t *)b.p, n, e.key, &d, &why) == 0) {
			trunc_ok = 0;
			entry_clear(&d);
		}
	CHECK(trunc_ok, "entry: every truncation is refused");
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b.p[i] ^= (char)(1 << bit);
			if (entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why) == 0) {
				flip_ok = 0;
				entry_clear(&d);
			}
			b.p[i] ^= (char)(1 << bit);
		}
	}
	CHECK(flip_ok, "entry: every flipped bit is refused");
	why = NULL;
	memcpy(b.p + 8 + 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	CHECK(entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why) == -1 && why &&
	          !strcmp(why, "checksum mismatch"),
	      "entry: a bad checksum says so (%s)", why ? why : "?");
	b.len = 0;
	entry_encode(&e, &b);
	gbx_buf_add(&b, "x", 1);
	CHECK(entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why) == -1,
	      "entry: trailing bytes are refused");
	b.len--;
	uint8_t other[16] = {1};
	CHECK(entry_decode((const uint8_t *)b.p, b.len, other, &d, &why) == -1 &&
	          !strcmp(why, "stored under another key"),
	      "entry: an entry under the wrong key is refused");
	b.p[4] = 9;
	CHECK(entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why) == -1,
	      "entry: another format version is refused");
	b.p[4] = CACHE_FORMAT;

	CHECK(entry_decode((const uint8_t *)b.p, b.len, e.key, &d, &why) == 0,
	      "entry: intact again");
	entry_clear(&d);
	gbx_buf_free(&b);
}

static void count_blob(void *ud, const uint8_t h[16])
{
	(*(int *)ud) += h[0] == 0xab;
}

static void test_entry_blobs(void)
{
	struct centry e;
	struct coutput outs[3];
	struct gbx_buf b = {0};
	sample_entry(&e, outs);
	outs[1].p.where = PL_BLOB;
	memset(outs[1].p.hash, 0xab, 16);
	entry_encode(&e, &b);
	int n = 0;
	CHECK(entry_blobs((const uint8_t *)b.p, b.len, count_blob, &n) == 0 && n == 2,
	      "entry: lists its blob references (%d of 2)", n);
	gbx_buf_free(&b);
}

/* ---- the memory level ---------------------------------------------------------------- */

static struct mem_item *item(int k, size_t pad)
{
	struct centry e;
	struct gbx_buf b = {0};
	char *junk = calloc(1, pad + 1);
	memset(&e, 0, sizeof e);
	e.key[0] = (uint8_t)k;
	e.key[15] = 0x5a;
	e.ok = 1;
	e.out.where = PL_INLINE;
	e.out.len = pad;
	e.out.data = (const uint8_t *)junk;
	entry_encode(&e, &b);
	struct mem_item *it = mem_item_new(e.key, b.p, b.len);
	gbx_buf_free(&b);
	free(junk);
	return it;
}

static int lru_holds(struct lru *l, int k, int64_t now)
{
	uint8_t key[16] = {0};
	key[0] = (uint8_t)k;
	key[15] = 0x5a;
	return lru_has(l, key, now);
}

static struct mem_item *lru_fetch(struct lru *l, int k, int64_t now)
{
	uint8_t key[16] = {0};
	key[0] = (uint8_t)k;
	key[15] = 0x5a;
	return lru_get(l, key, now);
}

static void test_lru(void)
{
	struct lru l;
	lru_init(&l, 3, 1 << 20, 0);
	for (int k = 1; k <= 3; k++)
		lru_put(&l, item(k, 10), 0);
	CHECK(l.n == 3, "lru: holds up to its entry cap");
	struct mem_item *one = lru_fetch(&l, 1, 0); /* 1 is now the most recent */
	CHECK(one && one->e.ok == 1 && one->e.out.len == 10,
	      "lru: a hit returns the decoded entry");
	lru_put(&l, item(4, 10), 0);
	CHECK(l.n == 3 && !lru_holds(&l, 2, 0) && lru_holds(&l, 1, 0) && lru_holds(&l, 3, 0) &&
	          lru_holds(&l, 4, 0),
	      "lru: the least recently used goes first (2, not the refreshed 1)");
	lru_put(&l, item(5, 10), 0);
	lru_put(&l, item(6, 10), 0);
	lru_put(&l, item(7, 10), 0);
	CHECK(!lru_holds(&l, 1, 0), "lru: evicted while a caller holds it");
	CHECK(one->e.out.len == 10 && one->buf[0] == 'G', "lru: ... which can still read it");
	mem_release(one);
	lru_put(&l, item(7, 20), 0);
	struct mem_item *seven = lru_fetch(&l, 7, 0);
	CHECK(l.n == 3 && seven && seven->e.out.len == 20, "lru: a put replaces the same key");
	mem_release(seven);
	lru_free(&l);

	lru_init(&l, 100, 2000, 0);
	for (int k = 1; k <= 20; k++)
		lru_put(&l, item(k, 100), 0);
	CHECK(l.bytes <= 2000 && l.n < 20 && lru_holds(&l, 20, 0) && !lru_holds(&l, 1, 0),
	      "lru: the byte cap evicts the oldest (%zu entries, %zu bytes)", l.n, l.bytes);
	lru_put(&l, item(99, 5000), 0);
	CHECK(!lru_holds(&l, 99, 0) && lru_holds(&l, 20, 0),
	      "lru: an entry larger than the cap is not kept");
	lru_free(&l);

	lru_init(&l, 10, 1 << 20, 1000);
	lru_put(&l, item(1, 1), 5000);
	CHECK(lru_holds(&l, 1, 5900), "lru: fresh within its TTL");
	CHECK(!lru_holds(&l, 1, 6001) && l.n == 0, "lru: expired after its TTL, and dropped");
	lru_free(&l);

	lru_init(&l, 0, 1 << 20, 0);
	lru_put(&l, item(1, 1), 0);
	CHECK(!lru_holds(&l, 1, 0) && l.n == 0, "lru: mem_entries 0 turns the level off");
	lru_free(&l);

	lru_init(&l, 10, 1 << 20, 0);
	lru_put(&l, item(3, 1), 0);
	uint8_t k3[16] = {3};
	k3[15] = 0x5a;
	lru_del(&l, k3);
	CHECK(!lru_holds(&l, 3, 0) && l.n == 0 && l.bytes == 0, "lru: del forgets an entry");
	lru_free(&l);
}

/* ---- keys ------------------------------------------------------------------------------ */

static void test_keys(void)
{
	struct cache *c = new_cache();
	const char *argv1[] = {"sh", "-c", "echo hi", NULL};
	const char *argv2[] = {"sh", "-c", "echo ho", NULL};
	const char *argv3[] = {"sh", "-c echo", "hi", NULL};
	const char *env1[] = {"A=1", "B=2", NULL};
	const char *env2[] = {"B=2", "A=1", NULL};
	const char *env3[] = {"A=1", "B=3", NULL};
	const char *in1[] = {"a.txt", "d", NULL};
	const char *in2[] = {"d", "a.txt", NULL};
	const char *outs[] = {"out.txt", NULL};
	struct ftask base = {.id = "t1", .kind = "exec", .argv = argv1, .cache = -1};
	struct ftask f;

	write_text("a.txt", "alpha\n");
	char p[512];
	snprintf(p, sizeof p, "%s/d", tmpdir);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/d/sub", tmpdir);
	mkdir(p, 0755);
	write_text("d/z.txt", "zed\n");
	write_text("d/sub/y.txt", "why\n");

	const char *k0 = key_of(c, &base, 0);
	CHECK(!strcmp(k0, key_of(c, &base, 1)), "key: the same task gives the same key");
	f = base;
	f.id = "other-id";
	CHECK(!strcmp(k0, key_of(c, &f, 1)), "key: the id of an exec task is not in it");
	f = base;
	f.argv = argv2;
	CHECK(strcmp(k0, key_of(c, &f, 1)), "key: argv is in it");
	f = base;
	f.argv = argv3;
	CHECK(strcmp(k0, key_of(c, &f, 1)),
	      "key: argv boundaries are in it (\"sh\" \"-c echo\" \"hi\")");
	f = base;
	f.argv = NULL;
	f.sh = "echo hi";
	CHECK(strcmp(k0, key_of(c, &f, 1)), "key: sh is in it");

	f = base;
	f.env = env1;
	const char *ke = key_of(c, &f, 2);
	CHECK(strcmp(k0, ke), "key: env is in it");
	f.env = env2;
	CHECK(!strcmp(ke, key_of(c, &f, 1)), "key: the order of env entries is not");
	f.env = env3;
	CHECK(strcmp(ke, key_of(c, &f, 1)), "key: env values are");

	f = base;
	f.cwd = "sub";
	CHECK(strcmp(k0, key_of(c, &f, 1)), "key: cwd is in it");
	f = base;
	f.in = "data";
	CHECK(strcmp(k0, key_of(c, &f, 1)), "key: stdin is in it");
	f = base;
	f.outputs = outs;
	CHECK(strcmp(k0, key_of(c, &f, 1)), "key: the declared outputs are in it");
	c->key_version = "2";
	CHECK(strcmp(k0, key_of(c, &base, 1)), "key: key_version is in it");
	c->key_version = NULL;

	/* inputs: content, not order; directories walked whole */
	f = base;
	f.inputs = in1;
	const char *ki = key_of(c, &f, 3);
	CHECK(strcmp(k0, ki), "key: inputs are in it");
	f.inputs = in2;
	CHECK(!strcmp(ki, key_of(c, &f, 1)), "key: the order inputs are declared in is not");
	write_text("a.txt", "alphA\n");
	f.inputs = in1;
	const char *ki2 = key_of(c, &f, 4);
	CHECK(strcmp(ki, ki2), "key: an input file's content is (same size, one byte changed)");
	write_text("d/sub/y.txt", "WHY\n");
	const char *ki3 = key_of(c, &f, 5);
	CHECK(strcmp(ki2, ki3), "key: a file deep in an input directory is");
	write_text("d/new.txt", "");
	const char *ki4 = key_of(c, &f, 6);
	CHECK(strcmp(ki3, ki4), "key: a new (empty) file in an input directory is");
	snprintf(p, sizeof p, "%s/d/new.txt", tmpdir);
	unlink(p);
	CHECK(!strcmp(ki3, key_of(c, &f, 1)), "key: ... and removing it gives the old key back");
	snprintf(p, sizeof p, "%s/d/sub/y.txt", tmpdir);
	chmod(p, 0755);
	CHECK(strcmp(ki3, key_of(c, &f, 1)), "key: an input's executable bit is in it");
	chmod(p, 0644);
	const char *missing[] = {"nope.txt", NULL};
	f.inputs = missing;
	const char *km = key_of(c, &f, 7);
	CHECK(strcmp(k0, km) && strcmp(km, "(none)"), "key: a missing input is a state of its own");
	write_text("nope.txt", "");
	CHECK(strcmp(km, key_of(c, &f, 1)), "key: ... unlike an empty file");
	snprintf(p, sizeof p, "%s/nope.txt", tmpdir);
	unlink(p);

	/* env_allow: listed names only, from the task or else from gearbox's environment */
	char *allow[] = {"A", "HOME", NULL};
	char *inherited[] = {NULL, "/home/x", NULL};
	c->env_allow = allow;
	c->env_inherited = inherited;
	c->n_env_allow = 2;
	f = base;
	f.env = env1;
	const char *ka = key_of(c, &f, 8);
	f.env = env3; /* only B differs: not listed */
	CHECK(!strcmp(ka, key_of(c, &f, 1)), "key: env_allow leaves other variables out");
	inherited[1] = "/home/y";
	CHECK(strcmp(ka, key_of(c, &f, 1)), "key: env_allow takes an inherited variable's value");
	const char *env4[] = {"A=1", "HOME=/home/y", NULL};
	f.env = env4;
	CHECK(strcmp(ka, key_of(c, &f, 9)), "key: ... the task's own value when it sets one");
	c->env_allow = NULL;
	c->env_inherited = NULL;
	c->n_env_allow = 0;

	/* what may be cached at all */
	f = base;
	CHECK(key_cacheable(c, T(&f)), "cacheable: an exec task by default");
	f.cache = 0;
	CHECK(!key_cacheable(c, T(&f)), "cacheable: not with cache: false");
	f = base;
	f.kind = "sim";
	CHECK(!key_cacheable(c, T(&f)), "cacheable: other kinds not by default");
	f.cache = 1;
	CHECK(key_cacheable(c, T(&f)), "cacheable: other kinds with cache: true");
	const char *ks1 = key_of(c, &f, 10);
	f.id = "t2";
	CHECK(strcmp(ks1, key_of(c, &f, 1)), "key: the id is in the key of other kinds");
	c->require_inputs = 1;
	f = base;
	CHECK(!key_cacheable(c, T(&f)), "cacheable: require_inputs refuses a task without inputs");
	f.inputs = in1;
	CHECK(key_cacheable(c, T(&f)), "cacheable: require_inputs takes one with inputs");
	c->require_inputs = 0;
	free_cache(c);
}

/* ---- the stat cache --------------------------------------------------------------------- */

static void set_old(const char *rel)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
	struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
	utimes(p, tv);
}

static void test_statcache(void)
{
	struct cache *c = new_cache();
	const char *argv[] = {"true", NULL};
	const char *in[] = {"s.txt", NULL};
	struct ftask f = {.id = "s", .kind = "exec", .argv = argv, .inputs = in, .cache = -1};
	write_text("s.txt", "fresh\n");
	key_of(c, &f, 0);
	key_of(c, &f, 1);
	CHECK(c->n.hashed_files == 2 && c->n.stat_hits == 0,
	      "statcache: a file changed just now is read every time (%llu reads)",
	      (unsigned long long)c->n.hashed_files);
	set_old("s.txt");
	/* ctime is "now" after utimes: still too fresh to trust, so read */
	key_of(c, &f, 2);
	CHECK(c->n.stat_hits == 0, "statcache: a file whose ctime is recent is not trusted");
	/* let it age: pretend we are reading it 3 s later */
	char path[512];
	snprintf(path, sizeof path, "%s/s.txt", tmpdir);
	struct stat st;
	stat(path, &st);
	CHECK(sc_trustworthy(&st, wall_ns() + 3000000000LL) && !sc_trustworthy(&st, wall_ns()),
	      "statcache: trust comes CACHE_STAT_SLACK_NS after the last change");
	uint8_t h[16], h2[16];
	hash_bytes("fresh\n", 6, h);
	sc_put(&c->sc, path, &st, h);
	uint64_t reads = c->n.hashed_files;
	const char *k1 = key_of(c, &f, 3);
	CHECK(c->n.hashed_files == reads && c->n.stat_hits == 1,
	      "statcache: a matching record spares the read");
	CHECK(sc_lookup(&c->sc, path, &st, h2) && !memcmp(h, h2, 16),
	      "statcache: lookup returns the hash");

	/* same size, same mtime (set back), new content: ctime moves, so it is read */
	write_text("s.txt", "FRESH\n");
	set_old("s.txt");
	const char *k2 = key_of(c, &f, 4);
	CHECK(strcmp(k1, k2) && c->n.hashed_files == reads + 1,
	      "statcache: a rewrite with the same size and mtime is still noticed (ctime)");

	c->stat_cache = 0;
	stat(path, &st);
	sc_put(&c->sc, path, &st, h); /* a lie the cache would believe */
	const char *k3 = key_of(c, &f, 5);
	CHECK(!strcmp(k2, k3) && c->n.hashed_files == reads + 2,
	      "statcache: stat_cache off reads every time");
	c->stat_cache = 1;

	/* save and load */
	char file[512], tmp[512];
	snprintf(file, sizeof file, "%s/statcache", tmpdir);
	snprintf(tmp, sizeof tmp, "%s/statcache.tmp", tmpdir);
	CHECK(sc_save(&c->sc, file, tmp) == 0, "statcache: saved");
	struct statcache sc2;
	const char *why = "";
	sc_init(&sc2);
	CHECK(sc_load(&sc2, file, &why) == 0 && sc2.n == c->sc.n, "statcache: loaded (%zu records)",
	      sc2.n);
	CHECK(sc_lookup(&sc2, path, &st, h2) && !memcmp(h, h2, 16),
	      "statcache: a loaded record matches");
	sc_free(&sc2);
	/* a damaged file is refused, not believed */
	FILE *fp = fopen(file, "r+b");
	fseek(fp, 40, SEEK_SET);
	fputc('!', fp);
	fclose(fp);
	sc_init(&sc2);
	CHECK(sc_load(&sc2, file, &why) == -1 && sc2.n == 0,
	      "statcache: a damaged file is refused (%s)", why);
	sc_free(&sc2);
	sc_init(&sc2);
	snprintf(file, sizeof file, "%s/none", tmpdir);
	CHECK(sc_load(&sc2, file, &why) == 1, "statcache: no file is fine");
	sc_free(&sc2);

	/* quick mode (cache.has): a big unknown input is not read */
	char *big = malloc(CACHE_QUICK_BUDGET + 10);
	memset(big, 'b', CACHE_QUICK_BUDGET + 9);
	big[CACHE_QUICK_BUDGET + 9] = 0;
	write_text("big.txt", big);
	free(big);
	const char *inb[] = {"big.txt", NULL};
	f.inputs = inb;
	uint8_t k[16];
	CHECK(key_task(c, T(&f), k, 1) == KEY_TOO_SLOW,
	      "key: quick mode does not read a big input");
	CHECK(key_task(c, T(&f), k, 0) == KEY_OK, "key: the full mode does");
	free_cache(c);
}

static void test_util(void)
{
	char *p = path_join("/a/b/", "./c");
	CHECK(!strcmp(p, "/a/b/c"), "path_join: tidy (%s)", p);
	free(p);
	p = path_join("/a", "/abs");
	CHECK(!strcmp(p, "/abs"), "path_join: an absolute path stays");
	free(p);
	uint8_t k[16], k2[16];
	char hex[33];
	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)(i * 17);
	hex16(k, hex);
	CHECK(!strcmp(hex, "00112233445566778899aabbccddeeff"), "hex16");
	CHECK(unhex16(hex, k2) == 0 && !memcmp(k, k2, 16) && unhex16("0011", k2) == -1 &&
	          unhex16("g0112233445566778899aabbccddeeff", k2) == -1,
	      "unhex16");
	uint8_t h[16];
	hash_bytes("", 0, h);
	hex16(h, hex);
	/* XXH3-128 of nothing, as xxh128sum prints it */
	CHECK(!strcmp(hex, "99aa06d3014798d86001c324468d497f"), "hash: XXH3-128, canonical (%s)",
	      hex);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd)) {
	}
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	host.size = sizeof host;
	host.task_id = f_id;
	host.task_kind = f_kind;
	host.task_sh = f_sh;
	host.task_cwd = f_cwd;
	host.task_argv = f_argv;
	host.task_env = f_env;
	host.task_inputs = f_inputs;
	host.task_outputs = f_outputs;
	host.task_cache = f_cache;
	host.task_stdin = f_stdin;
	host.task_field_json = f_field;
	test_util();
	test_entry();
	test_entry_blobs();
	test_lru();
	test_keys();
	test_statcache();
	rm_rf(tmpdir);
	return check_done();
}
