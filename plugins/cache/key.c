/* key.c - the key of a task: one XXH3-128 over a canonical encoding of what
 * determines its result (docs/plugins/cache.md lists it field by field).
 *
 * Every field is fed as tag byte | u64 length | bytes, so no two different
 * tasks encode to the same byte string (no separator ambiguity). Input files
 * are hashed here, on the worker thread that runs before_task (cache.has on
 * the dispatcher gets a small read budget instead); directories are walked in
 * byte order of their names, skipping the cache's own directory.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define READ_CHUNK 65536

void hash_bytes(const void *p, size_t n, uint8_t h[16])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(h, c.digest, 16);
}

char *task_workdir(struct cache *c, const gbx_task *t)
{
	const char *cwd = c->host->task_cwd(t);
	return cwd ? path_join(c->proc_cwd, cwd) : strdup(c->proc_cwd);
}

int key_cacheable(struct cache *c, const gbx_task *t)
{
	int want = c->host->task_cache(t);
	if (want == 0)
		return 0;
	const char *kind = c->host->task_kind(t);
	if (want != 1 && (!kind || strcmp(kind, "exec")))
		return 0; /* other kinds only when asked: their own fields are not visible here */
	if (c->require_inputs) {
		const char *const *in = c->host->task_inputs(t);
		if (!in || !in[0])
			return 0;
	}
	return 1;
}

/* ---- file contents ------------------------------------------------------------ */

int hash_file(struct cache *c, const char *path, const struct stat *st, uint8_t h[16],
              size_t *budget)
{
	if (c->stat_cache && sc_lookup(&c->sc, path, st, h)) {
		atomic_fetch_add_explicit(&c->n.stat_hits, 1, memory_order_relaxed);
		return 0;
	}
	if (budget && (uint64_t)st->st_size > *budget)
		return -EAGAIN;
	int64_t start = wall_ns();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat a, b;
	char *buf = malloc(READ_CHUNK);
	XXH3_state_t *s = XXH3_createState();
	int rc = 0;
	uint64_t total = 0;
	if (!buf || !s || fstat(fd, &a)) {
		rc = buf && s ? -errno : -ENOMEM;
		goto out;
	}
	XXH3_128bits_reset(s);
	for (;;) {
		ssize_t r = read(fd, buf, READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		XXH3_128bits_update(s, buf, (size_t)r);
		total += (uint64_t)r;
		if (budget && total > *budget) {
			rc = -EAGAIN;
			goto out;
		}
	}
	XXH128_canonical_t cn;
	XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(s));
	memcpy(h, cn.digest, 16);
	if (budget)
		*budget -= total;
	atomic_fetch_add_explicit(&c->n.hashed_files, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->n.hashed_bytes, total, memory_order_relaxed);
	/* record only what did not move while we read it and is old enough to trust */
	if (c->stat_cache && !fstat(fd, &b) && a.st_size == b.st_size &&
	    (uint64_t)b.st_size == total && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
	    a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
	    a.st_ctim.tv_nsec == b.st_ctim.tv_nsec && a.st_ino == st->st_ino &&
	    a.st_dev == st->st_dev && sc_trustworthy(&b, start))
		sc_put(&c->sc, path, &b, h);
out:
	XXH3_freeState(s);
	free(buf);
	close(fd);
	return rc;
}

/* ---- the encoding ------------------------------------------------------------- */

struct kb {
	struct cache *c;
	XXH3_state_t *st;
	size_t *budget; /* quick mode */
	int rc;         /* KEY_* */
	struct kcomp *kc; /* for explain: a hash per component, or NULL */
};

/* Starts a component of the key (for `gearbox cache explain`): what follows,
 * up to the next one, is hashed on its own too. */
static void comp(struct kb *k, const char *name, const char *arg)
{
	struct kcomp *kc = k->kc;
	if (!kc)
		return;
	if (kc->n && !kc->done[kc->n - 1])
		kc->h[kc->n - 1] = XXH3_64bits_digest(kc->cs), kc->done[kc->n - 1] = 1;
	if (kc->n == KCOMP_MAX)
		return;
	snprintf(kc->name[kc->n], sizeof kc->name[0], "%s%s%s", name, arg ? " " : "", arg ? arg : "");
	kc->done[kc->n] = 0;
	kc->n++;
	XXH3_64bits_reset(kc->cs);
}

static void comp_end(struct kb *k)
{
	struct kcomp *kc = k->kc;
	if (kc && kc->n && !kc->done[kc->n - 1])
		kc->h[kc->n - 1] = XXH3_64bits_digest(kc->cs), kc->done[kc->n - 1] = 1;
}

static void field(struct kb *k, char tag, const void *p, size_t n)
{
	uint8_t hdr[9];
	hdr[0] = (uint8_t)tag;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (uint8_t)((uint64_t)n >> (8 * i));
	XXH3_128bits_update(k->st, hdr, sizeof hdr);
	if (n)
		XXH3_128bits_update(k->st, p, n);
	if (k->kc && k->kc->n && !k->kc->done[k->kc->n - 1]) {
		XXH3_64bits_update(k->kc->cs, hdr, sizeof hdr);
		if (n)
			XXH3_64bits_update(k->kc->cs, p, n);
	}
}

static void fields(struct kb *k, char tag, const char *s)
{
	field(k, tag, s, strlen(s));
}

/* A regular file: executable bit, size, content hash. */
static void file_record(struct kb *k, const char *path, const struct stat *st)
{
	uint8_t rec[1 + 8 + 16];
	rec[0] = (st->st_mode & S_IXUSR) ? 1 : 0;
	for (int i = 0; i < 8; i++)
		rec[1 + i] = (uint8_t)((uint64_t)st->st_size >> (8 * i));
	int rc = hash_file(k->c, path, st, rec + 9, k->budget);
	if (rc == -EAGAIN) {
		k->rc = KEY_TOO_SLOW;
		return;
	}
	if (rc) {
		/* unreadable: the key says so, and differs from any readable content */
		int e = -rc;
		field(k, 'E', &e, sizeof e);
		return;
	}
	field(k, 'F', rec, sizeof rec);
}

static void walk(struct kb *k, const char *dir);

/* One directory entry (lstat: symlinks are recorded, not followed). */
static void node(struct kb *k, const char *path, const struct stat *st)
{
	if (S_ISREG(st->st_mode)) {
		file_record(k, path, st);
	} else if (S_ISDIR(st->st_mode)) {
		field(k, 'D', NULL, 0);
		walk(k, path);
		field(k, 'U', NULL, 0);
	} else if (S_ISLNK(st->st_mode)) {
		char *target = malloc(4096); /* worker stacks are small and walk() recurses */
		ssize_t n = target ? readlink(path, target, 4096) : -1;
		field(k, 'L', target, n > 0 ? (size_t)n : 0);
		free(target);
	} else {
		uint32_t type = (uint32_t)(st->st_mode & S_IFMT);
		field(k, 'X', &type, sizeof type);
	}
}

static int any_name(const char *name, void *ud)
{
	(void)name;
	(void)ud;
	return 1;
}

static void walk(struct kb *k, const char *dir)
{
	char **names;
	long got = dir_names(dir, any_name, NULL, &names);
	if (got < 0) {
		int e = errno;
		field(k, 'E', &e, sizeof e);
		return;
	}
	size_t n = (size_t)got;
	for (size_t i = 0; i < n && k->rc == KEY_OK; i++) {
		char *p = path_join(dir, names[i]);
		struct stat st;
		if (!p) {
			k->rc = KEY_UNCACHEABLE;
			break;
		}
		if (lstat(p, &st) == 0) {
			/* the cache's own files change with every run: never part of a key */
			if (!(S_ISDIR(st.st_mode) && st.st_dev == k->c->dir_dev &&
			      st.st_ino == k->c->dir_ino)) {
				fields(k, 'N', names[i]);
				node(k, p, &st);
			}
		}
		free(p);
	}
	free_names(names, n);
}

/* ---- glob inputs (src/ ** / *.h, without the spaces) ------------------------- */

struct globres {
	char **v;
	size_t n, cap;
};

static void glob_add(struct globres *g, const char *rel)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		char **nv = realloc(g->v, cap * sizeof *nv);
		if (!nv)
			return;
		g->v = nv;
		g->cap = cap;
	}
	if ((g->v[g->n] = strdup(rel)))
		g->n++;
}

/* Matches segs[i..] under workdir/rel; ** is any number of folders (symlinks
 * to folders are not followed, dot-names match only a pattern naming them). */
static void glob_walk(struct kb *k, const char *workdir, const char *rel, char **segs, size_t nseg,
                      size_t i, struct globres *g, int depth)
{
	if (depth > 64)
		return;
	char *dir = rel[0] ? path_join(workdir, rel) : strdup(workdir);
	if (!dir)
		return;
	if (i == nseg) {
		if (rel[0])
			glob_add(g, rel);
		free(dir);
		return;
	}
	const char *seg = segs[i];
	if (!strcmp(seg, "**"))
		glob_walk(k, workdir, rel, segs, nseg, i + 1, g, depth + 1);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		size_t rl = strlen(rel), nl = strlen(nm);
		char *sub = malloc(rl + nl + 2);
		if (!sub)
			break;
		snprintf(sub, rl + nl + 2, "%s%s%s", rel, rl ? "/" : "", nm);
		if (!strcmp(seg, "**")) {
			struct stat st;
			char *abs = path_join(workdir, sub);
			if (abs && nm[0] != '.' && lstat(abs, &st) == 0 && S_ISDIR(st.st_mode) &&
			    !(st.st_dev == k->c->dir_dev && st.st_ino == k->c->dir_ino))
				glob_walk(k, workdir, sub, segs, nseg, i, g, depth + 1);
			free(abs);
		} else if (fnmatch(seg, nm, FNM_PERIOD) == 0) {
			glob_walk(k, workdir, sub, segs, nseg, i + 1, g, depth + 1);
		}
		free(sub);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* A glob input: the pattern, then each match in byte order with its state. */
static void glob_input(struct kb *k, const char *workdir, const char *pat)
{
	char *copy = strdup(pat), *segs[128];
	size_t nseg = 0;
	struct globres g = {0};
	if (!copy) {
		k->rc = KEY_UNCACHEABLE;
		return;
	}
	for (char *sv = NULL, *t = strtok_r(copy, "/", &sv); t && nseg < 128; t = strtok_r(NULL, "/", &sv))
		if (strcmp(t, "."))
			segs[nseg++] = t;
	fields(k, 'G', pat);
	glob_walk(k, pat[0] == '/' ? "/" : workdir, "", segs, nseg, 0, &g, 0);
	if (g.n)
		qsort(g.v, g.n, sizeof *g.v, cmp_str);
	for (size_t i = 0; i < g.n; i++) {
		if (i && !strcmp(g.v[i], g.v[i - 1]))
			continue; /* ** can reach one file twice */
		char *abs = path_join(pat[0] == '/' ? "/" : workdir, g.v[i]);
		struct stat st;
		if (abs && lstat(abs, &st) == 0 && !S_ISDIR(st.st_mode)) {
			fields(k, 'N', g.v[i]);
			if (S_ISLNK(st.st_mode) && stat(abs, &st) != 0)
				field(k, 'M', NULL, 0);
			else
				node(k, abs, &st);
		}
		free(abs);
	}
	for (size_t i = 0; i < g.n; i++)
		free(g.v[i]);
	free(g.v);
	free(copy);
}

/* A declared input: followed if it is a symlink; missing is a state too. */
static void input(struct kb *k, const char *workdir, const char *decl)
{
	if (strpbrk(decl, "*?[")) {
		glob_input(k, workdir, decl);
		return;
	}
	char *p = path_join(workdir, decl);
	if (!p) {
		k->rc = KEY_UNCACHEABLE;
		return;
	}
	fields(k, 'I', decl);
	struct stat st;
	if (stat(p, &st) != 0) {
		int e = errno;
		field(k, 'M', &e, sizeof e);
	} else {
		node(k, p, &st);
	}
	free(p);
}

/* The task's environment as the key sees it, see docs/plugins/cache.md. */
static void env_fields(struct kb *k, const gbx_task *t)
{
	struct cache *c = k->c;
	const char *const *env = c->host->task_env(t);
	size_t n = 0;
	while (env && env[n])
		n++;
	if (c->env_allow) {
		for (size_t i = 0; i < c->n_env_allow; i++) {
			const char *name = c->env_allow[i], *val = NULL;
			size_t nl = strlen(name);
			for (size_t j = 0; j < n; j++) /* the last entry wins, as in the child */
				if (!strncmp(env[j], name, nl) && env[j][nl] == '=')
					val = env[j] + nl + 1;
			if (!val)
				val = c->env_inherited[i];
			fields(k, 'n', name);
			if (val)
				fields(k, 'e', val);
			else
				field(k, 'u', NULL, 0);
		}
		return;
	}
	if (!n)
		return;
	const char **sorted = malloc(n * sizeof *sorted);
	if (!sorted) {
		k->rc = KEY_UNCACHEABLE;
		return;
	}
	memcpy(sorted, env, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_str);
	for (size_t i = 0; i < n; i++)
		fields(k, 'e', sorted[i]);
	free(sorted);
}

int key_task(struct cache *c, const gbx_task *t, uint8_t key[16], int quick)
{
	return key_task_explain(c, t, key, quick, NULL);
}

int key_task_explain(struct cache *c, const gbx_task *t, uint8_t key[16], int quick,
                     struct kcomp *kc)
{
	const struct gbx_host *h = c->host;
	size_t budget = CACHE_QUICK_BUDGET;
	struct kb k = {c, XXH3_createState(), quick ? &budget : NULL, KEY_OK, kc};
	char *workdir = task_workdir(c, t);
	if (!k.st || !workdir) {
		XXH3_freeState(k.st);
		free(workdir);
		return KEY_UNCACHEABLE;
	}
	XXH3_128bits_reset(k.st);
	char magic[32];
	snprintf(magic, sizeof magic, "gearbox-cache-key/%d", CACHE_KEY_FORMAT);
	comp(&k, "version", NULL);
	fields(&k, 'V', magic);
	fields(&k, 'v', c->key_version ? c->key_version : "");
	comp(&k, "kind", NULL);
	const char *kind = h->task_kind(t);
	fields(&k, 'k', kind ? kind : "");
	const char *sh = h->task_sh(t);
	const char *const *argv = h->task_argv(t);
	comp(&k, "command", NULL);
	if (sh) {
		fields(&k, 's', sh);
	} else if (argv) {
		uint64_t n = 0;
		while (argv[n])
			n++;
		field(&k, 'a', &n, sizeof n);
		for (uint64_t i = 0; i < n; i++)
			fields(&k, 'A', argv[i]);
	}
	comp(&k, "env", NULL);
	env_fields(&k, t);
	comp(&k, "cwd", NULL);
	/* relative to the project root, so two checkouts at different paths share keys */
	const char *root = c->proj_root ? c->proj_root : c->proc_cwd;
	size_t rl = strlen(root);
	if (!strcmp(workdir, root))
		fields(&k, 'c', ".");
	else if (!strncmp(workdir, root, rl) && (workdir[rl] == '/' || (rl == 1 && root[0] == '/')))
		fields(&k, 'c', workdir + rl + (root[rl - 1] != '/'));
	else
		fields(&k, 'C', workdir); /* outside the root: absolute */
	size_t inlen = 0;
	const char *in = h->task_stdin(t, &inlen);
	if (in) {
		comp(&k, "stdin", NULL);
		field(&k, 'i', in, inlen);
	}
	const char *const *inputs = h->task_inputs(t);
	size_t ni = 0;
	while (inputs && inputs[ni])
		ni++;
	if (ni) {
		const char **sorted = malloc(ni * sizeof *sorted);
		if (!sorted) {
			k.rc = KEY_UNCACHEABLE;
		} else {
			memcpy(sorted, inputs, ni * sizeof *sorted);
			qsort(sorted, ni, sizeof *sorted, cmp_str);
			for (size_t i = 0; i < ni && k.rc == KEY_OK; i++) {
				comp(&k, "input", sorted[i]);
				input(&k, workdir, sorted[i]);
			}
			free(sorted);
		}
	}
	const char *const *outputs = h->task_outputs(t);
	comp(&k, "outputs", NULL);
	for (size_t i = 0; outputs && outputs[i]; i++)
		fields(&k, 'O', outputs[i]);
	if (!kind || strcmp(kind, "exec")) {
		/* a kind's own fields are invisible to plugins: the id and meta stand in */
		comp(&k, "id and meta", NULL);
		const char *id = h->task_id(t);
		fields(&k, 'd', id ? id : "");
		char *meta = h->task_field_json(t, "meta");
		if (meta) {
			fields(&k, 'm', meta);
			free(meta);
		}
	}
	comp_end(&k);
	XXH128_canonical_t cn;
	XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(k.st));
	memcpy(key, cn.digest, 16);
	XXH3_freeState(k.st);
	free(workdir);
	return k.rc;
}

int key_with_deps(struct cache *c, const uint8_t k1[16], const char *workdir, char *const *deps,
                  uint8_t k2[16], struct kcomp *kc)
{
	struct kb k = {c, XXH3_createState(), NULL, KEY_OK, kc};
	if (!k.st)
		return KEY_UNCACHEABLE;
	XXH3_128bits_reset(k.st);
	field(&k, 'K', k1, 16);
	for (size_t i = 0; deps && deps[i] && k.rc == KEY_OK; i++) {
		comp(&k, "depfile", deps[i]);
		input(&k, workdir, deps[i]);
	}
	comp_end(&k);
	XXH128_canonical_t cn;
	XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(k.st));
	memcpy(k2, cn.digest, 16);
	XXH3_freeState(k.st);
	return k.rc;
}

struct kcomp *kcomp_new(void)
{
	struct kcomp *kc = malloc(sizeof *kc);
	if (!kc)
		return NULL;
	kc->n = 0;
	if (!(kc->cs = XXH3_createState())) {
		free(kc);
		return NULL;
	}
	return kc;
}

void kcomp_free(struct kcomp *kc)
{
	if (kc) {
		XXH3_freeState(kc->cs);
		free(kc);
	}
}
