/* test_plugins.c - the plugin loader against real shared objects.
 *
 * Uses the plugins the Makefile builds before tests run: BUILD/plugins/NAME.so
 * (the SDK examples) and BUILD/tests/plugins/NAME.so (tests/plugins: bad and
 * empty ones). BUILD is $GBX_BUILD, else the directory above this binary's
 * tests/ (so the ASan suite uses its own), else "build". A dummy host table
 * stands in for the engine.
 */
#include "check.h"
#include "plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#define STR_(x) #x
#define STR(x) STR_(x)
/* this gearbox's ABI as the loader's messages print it */
#define HOST_ABI "ABI " STR(GBX_PLUGIN_ABI_MAJOR) "." STR(GBX_PLUGIN_ABI_MINOR)
#define HOST_ABI_PAREN "(" HOST_ABI ")"

static char build[1024];
static char tmp[] = "/tmp/gbx-test-plugins.XXXXXX";

/* ---- dummy host --------------------------------------------------------- */

struct dummy {
	int logs, events;
	gbx_lua_fn fn;
	void *fn_self;
	char fn_name[64];
	const char *field_json; /* what task_field_json returns for any name */
};

static void d_log(void *ctx, int level, const char *msg)
{
	/* each plugin's table points at its struct plugin_ctx, which holds ours */
	((struct dummy *)((struct plugin_ctx *)ctx)->ctx)->logs++;
}

static void d_event(void *ctx, const char *name, const gbx_task *t, const char *fields)
{
	((struct dummy *)((struct plugin_ctx *)ctx)->ctx)->events++;
}

static int d_lua_fn(void *ctx, const char *table, const char *name, gbx_lua_fn fn, void *self)
{
	struct dummy *d = ((struct plugin_ctx *)ctx)->ctx;
	d->fn = fn;
	d->fn_self = self;
	snprintf(d->fn_name, sizeof d->fn_name, "%s.%s", table, name);
	return 0;
}

/* The dummy task is the dummy host itself: accessors read it. */
static const char *d_task_id(const gbx_task *t)
{
	return "t1";
}

static char *d_task_field_json(const gbx_task *t, const char *name)
{
	const struct dummy *d = (const struct dummy *)t;
	return d->field_json ? strdup(d->field_json) : NULL;
}

static struct dummy dummy;

static struct gbx_host host_table(void)
{
	struct gbx_host h = {0};
	h.ctx = &dummy;
	h.log = d_log;
	h.event = d_event;
	h.lua_fn = d_lua_fn;
	h.task_id = d_task_id;
	h.task_field_json = d_task_field_json;
	return h;
}

/* ---- helpers ------------------------------------------------------------ */

static char *path2(const char *a, const char *b)
{
	char *p = malloc(strlen(a) + strlen(b) + 2);
	sprintf(p, "%s/%s", a, b);
	return p;
}

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	int ok = in && out;
	char b[65536];
	size_t n;
	while (ok && (n = fread(b, 1, sizeof b, in)) > 0)
		ok = fwrite(b, 1, n, out) == n;
	if (in)
		fclose(in);
	if (out && fclose(out))
		ok = 0;
	return ok ? 0 : -1;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

/* dirs: the given user dirs (NULL-terminated), then the build tree's as
 * plugins_dirs would add them for a binary in BUILD. */
static char **mkdirs(size_t *n_user, const char *const *user)
{
	json_t *arr = json_array();
	for (; user && *user; user++)
		json_array_append_new(arr, json_string(*user));
	unsetenv("GEARBOX_PLUGIN_PATH");
	char **d = plugins_dirs(arr, build, n_user);
	json_decref(arr);
	return d;
}

/* Resolves a config text plus flags; aborts the test run on a bad fixture. */
static json_t *resolve(const char *cfg_text, char *const *en, char *const *dis)
{
	json_error_t je;
	json_t *cfg = cfg_text ? json_loads(cfg_text, 0, &je) : NULL;
	if (cfg_text && !cfg) {
		fprintf(stderr, "bad fixture: %s\n", je.text);
		exit(2);
	}
	struct err e = {""};
	json_t *r = plugins_resolve(cfg, en, dis, &e);
	json_decref(cfg);
	if (!r) {
		fprintf(stderr, "resolve: %s\n", e.msg);
		exit(2);
	}
	return r;
}

/* Loads with the given config and user dirs; returns the rc, message in e. */
static int load(struct plugin_set *set, const char *cfg_text, char *const *en,
		const char *const *user, struct err *e)
{
	json_t *r = resolve(cfg_text, en, NULL);
	size_t nu;
	char **dirs = mkdirs(&nu, user);
	struct gbx_host h = host_table();
	e->msg[0] = 0;
	int rc = plugins_load(set, r, dirs, nu, "gearbox.json", &h, e);
	plugins_dirs_free(dirs);
	json_decref(r);
	return rc;
}

static const char *wstr(json_t *r, const char *name, const char *key)
{
	return json_string_value(json_object_get(json_object_get(r, name), key));
}

static int wtrue(json_t *r, const char *name)
{
	return json_is_true(json_object_get(json_object_get(r, name), "enabled"));
}

/* ---- tests -------------------------------------------------------------- */

static void test_dirs(void)
{
	setenv("GEARBOX_PLUGIN_PATH", ":a::b:", 1);
	json_t *cfg = json_pack("[s]", "c");
	size_t nu = 99;
	char **d = plugins_dirs(cfg, "/x/bin", &nu);
	CHECK(nu == 3, "dirs: config then GEARBOX_PLUGIN_PATH are the user dirs (%zu)", nu);
	CHECK(d[0] && !strcmp(d[0], "c") && d[1] && !strcmp(d[1], "a") && d[2] && !strcmp(d[2], "b"),
	      "dirs: config first, empty env entries ignored");
	CHECK(d[3] && !strcmp(d[3], "/x/bin/plugins"), "dirs: build dir next to the binary (%s)", d[3]);
	CHECK(d[4] && !strcmp(d[4], "/x/lib/gearbox/plugins"), "dirs: prefix dir (%s)", d[4]);
	CHECK(d[5] == NULL, "dirs: NULL-terminated");
	plugins_dirs_free(d);
	json_decref(cfg);

	unsetenv("GEARBOX_PLUGIN_PATH");
	d = plugins_dirs(NULL, "build", &nu);
	CHECK(nu == 0 && !strcmp(d[0], "build/plugins") && !strcmp(d[1], "build/../lib/gearbox/plugins"),
	      "dirs: relative binary dir (%s, %s)", d[0], d[1]);
	plugins_dirs_free(d);
}

static void test_resolve(void)
{
	const char *cfg = "{\"a\": {\"enabled\": true, \"order\": 2, \"k\": 1},"
			  " \"b\": {\"enabled\": false}, \"c\": {\"x\": 1}, \"e\": {\"enabled\": true}}";
	json_t *r = resolve(cfg, NULL, NULL);
	CHECK(wtrue(r, "a") && !strcmp(wstr(r, "a", "why"), "enabled by the config"),
	      "resolve: enabled by the config");
	CHECK(!wtrue(r, "b") && !strcmp(wstr(r, "b", "why"), "disabled by the config"),
	      "resolve: disabled by the config");
	CHECK(!wtrue(r, "c") && !strcmp(wstr(r, "c", "why"), "not enabled in the config"),
	      "resolve: mentioned without enabled is off");
	CHECK(json_integer_value(json_object_get(json_object_get(r, "a"), "order")) == 2,
	      "resolve: order kept");
	json_t *ac = json_object_get(json_object_get(r, "a"), "config");
	CHECK(json_object_size(ac) == 1 && json_integer_value(json_object_get(ac, "k")) == 1,
	      "resolve: config holds the plugin's keys without enabled/order");
	CHECK(!json_object_get(r, "z"), "resolve: a plugin mentioned nowhere is absent");
	json_decref(r);

	char *en[] = {"b", "d", NULL};
	char *dis[] = {"a", "d", NULL};
	r = resolve(cfg, en, dis);
	CHECK(wtrue(r, "b") && !strcmp(wstr(r, "b", "why"), "enabled by --enable"),
	      "resolve: --enable beats config disabled");
	CHECK(!wtrue(r, "a") && !strcmp(wstr(r, "a", "why"), "disabled by --disable"),
	      "resolve: --disable beats config enabled");
	CHECK(!wtrue(r, "d") && !strcmp(wstr(r, "d", "why"), "disabled by --disable"),
	      "resolve: --disable wins over --enable");
	CHECK(wtrue(r, "e") && !strcmp(wstr(r, "e", "why"), "enabled by the config"),
	      "resolve: untouched by flags stays as configured");
	CHECK(json_integer_value(json_object_get(json_object_get(r, "a"), "order")) == 2 &&
		      json_object_size(json_object_get(json_object_get(r, "a"), "config")) == 1,
	      "resolve: flags keep the config's order and keys");
	json_decref(r);

	struct err e;
	json_t *bad = json_loads("{\"a\": {\"enabled\": \"yes\"}}", 0, NULL);
	CHECK(!plugins_resolve(bad, NULL, NULL, &e) && has(e.msg, "plugins.a.enabled"),
	      "resolve: enabled must be boolean (%s)", e.msg);
	json_decref(bad);
	bad = json_loads("{\"a\": {\"order\": 1.5}}", 0, NULL);
	CHECK(!plugins_resolve(bad, NULL, NULL, &e) && has(e.msg, "plugins.a.order") &&
		      has(e.msg, "integer"),
	      "resolve: order must be an integer (%s)", e.msg);
	json_decref(bad);
	char *sneaky[] = {"../../tmp/x", NULL};
	CHECK(!plugins_resolve(NULL, sneaky, NULL, &e) && has(e.msg, "--enable ../../tmp/x"),
	      "resolve: a path is not a plugin name (%s)", e.msg);
}

static void test_load_hooks(void)
{
	struct plugin_set set;
	struct err e;
	char *en[] = {"empty_hooks", NULL};
	char *tp = path2(build, "tests/plugins");
	const char *user[] = {tp, NULL};
	int rc = load(&set, NULL, en, user, &e);
	CHECK(rc == 0, "load: empty_hooks loads (%s)", e.msg);
	CHECK(set.n == 1 && set.nbefore == 1 && set.nafter == 1 && set.ntick == 0 &&
		      set.nstart == 0 && set.nend == 0,
	      "load: only the before/after arrays hold it");
	CHECK(set.nbefore && set.before[0] == &set.p[0] && set.tick == NULL,
	      "load: hook arrays point into the set");
	CHECK(set.host.size == sizeof(struct gbx_host) && set.host.abi_major == GBX_PLUGIN_ABI_MAJOR,
	      "load: host table carries its size and ABI");
	CHECK(set.n && has(set.p[0].path, "tests/plugins/empty_hooks.so"), "load: path recorded");
	plugins_unload(&set);
	CHECK(set.n == 0 && set.p == NULL && set.before == NULL, "unload: set emptied");

	/* nothing enabled: nothing loaded, no error */
	rc = load(&set, "{\"empty_hooks\": {\"enabled\": false}}", NULL, user, &e);
	CHECK(rc == 0 && set.n == 0 && set.nbefore == 0, "load: disabled plugin is not loaded");
	plugins_unload(&set);
	free(tp);
}

static void test_order(void)
{
	struct plugin_set set;
	struct err e;
	char *tp = path2(build, "tests/plugins");
	const char *user[] = {tp, NULL};
	char *en[] = {"hello", "empty_hooks", NULL};
	int rc = load(&set, NULL, en, user, &e);
	CHECK(rc == 0 && set.n == 2 && !strcmp(set.p[0].d->name, "empty_hooks") &&
		      !strcmp(set.p[1].d->name, "hello"),
	      "order: ties by name (%s)", e.msg);
	CHECK(set.nbefore == 1 && set.before[0]->d == set.p[0].d, "order: hello has no before hook");
	plugins_unload(&set);

	rc = load(&set, "{\"hello\": {\"order\": -5}, \"empty_hooks\": {\"order\": 3}}", en, user, &e);
	CHECK(rc == 0 && set.n == 2 && !strcmp(set.p[0].d->name, "hello") && set.p[0].order == -5 &&
		      !strcmp(set.p[1].d->name, "empty_hooks") && set.p[1].order == 3,
	      "order: lower order first (%s)", e.msg);
	plugins_unload(&set);
	free(tp);
}

static void test_hello(void)
{
	struct plugin_set set;
	struct err e;
	char *en[] = {"hello", NULL};
	memset(&dummy, 0, sizeof dummy);
	int rc = load(&set, "{\"hello\": {\"greeting\": \"Hi\"}}", en, NULL, &e);
	CHECK(rc == 0 && set.n == 1, "hello: found in the build dir (%s)", e.msg);
	if (rc)
		return;
	CHECK(has(set.p[0].path, "plugins/hello.so"), "hello: path %s", set.p[0].path);
	CHECK(set.nbefore == 0 && set.nafter == 0 && set.ntick == 0 && set.nstart == 0 && set.nend == 0,
	      "hello: a kind-only plugin is on no hook array");
	const struct gbx_kind *k = set.p[0].d->kinds;
	CHECK(k && k[0].name && !strcmp(k[0].name, "hello") && k[0].fields &&
		      !strcmp(k[0].fields[0], "greeting") && !k[1].name,
	      "hello: adds the kind \"hello\" with field greeting");
	CHECK(dummy.fn && !strcmp(dummy.fn_name, "hello.greeting_length"),
	      "hello: registered hello.greeting_length at init");
	if (dummy.fn) {
		struct gbx_value arg = {.type = GBX_STR, .str = "abcd"}, ret = {0};
		CHECK(dummy.fn(dummy.fn_self, &arg, 1, &ret) == 0 && ret.type == GBX_NUM && ret.num == 4,
		      "hello: greeting_length(\"abcd\") == 4");
		arg.type = GBX_NUM;
		memset(&ret, 0, sizeof ret);
		CHECK(dummy.fn(dummy.fn_self, &arg, 1, &ret) == -1 && has(ret.str, "expected a string"),
		      "hello: greeting_length(number) raises");
	}
	if (k && k[0].run) {
		void *self = set.p[0].self;
		const gbx_task *t = (const gbx_task *)&dummy;
		struct gbx_result res = {0};
		char msg[256] = "";
		dummy.field_json = NULL;
		k[0].run(self, t, &res);
		CHECK(res.ok == 1 && res.out_len == 7 && !memcmp(res.out, "Hi, t1\n", 7),
		      "hello: run uses the config's greeting by default");
		dummy.field_json = "\"Bonjour \\u00e9\"";
		memset(&res, 0, sizeof res);
		k[0].run(self, t, &res);
		CHECK(res.ok == 1 && res.out_len == 15 && !memcmp(res.out, "Bonjour \xc3\xa9, t1\n", 15),
		      "hello: run uses the task's greeting");
		CHECK(k[0].validate(self, t, msg, sizeof msg) == 0, "hello: a string greeting validates");
		dummy.field_json = "42";
		CHECK(k[0].validate(self, t, msg, sizeof msg) == -1 && has(msg, "greeting") &&
			      has(msg, "string"),
		      "hello: a number greeting is refused (%s)", msg);
		dummy.field_json = NULL;
	}
	plugins_unload(&set);

	rc = load(&set, "{\"hello\": {\"greeting\": 5}}", en, NULL, &e);
	CHECK(rc == -1 && !strcmp(e.msg, "plugin hello: init failed: greeting: expected a string"),
	      "hello: a bad config value fails init (%s)", e.msg);
	CHECK(set.n == 0, "hello: failed load leaves the set empty");
}

static void test_bad(void)
{
	struct plugin_set set;
	struct err e;
	char *tp = path2(build, "tests/plugins");
	const char *user[] = {tp, NULL};

	char *abi[] = {"abi_major", NULL};
	int rc = load(&set, NULL, abi, user, &e);
	CHECK(rc == -1 && has(e.msg, "abi_major.so: plugin ABI 2.0 is not supported") &&
		      has(e.msg, HOST_ABI_PAREN) && has(e.msg, "rebuild it"),
	      "bad: ABI mismatch names the file and both versions (%s)", e.msg);

	char *nodesc[] = {"nodesc", NULL};
	rc = load(&set, NULL, nodesc, user, &e);
	CHECK(rc == -1 && has(e.msg, "nodesc.so: not a gearbox plugin: no symbol gbx_plugin_descriptor"),
	      "bad: no descriptor (%s)", e.msg);

	/* initfail runs after empty_hooks (name order): that one is finalized and
	 * unloaded again, and initfail's fini (which aborts) is never called */
	char *initfail[] = {"initfail", "empty_hooks", NULL};
	rc = load(&set, NULL, initfail, user, &e);
	CHECK(rc == -1 && !strcmp(e.msg, "plugin initfail: init failed: cannot reach the license server"),
	      "bad: init failure carries the plugin's message (%s)", e.msg);
	CHECK(set.n == 0 && set.nbefore == 0 && set.p == NULL, "bad: set left empty after init failure");

	char *wn[] = {"wrongname", NULL};
	rc = load(&set, NULL, wn, user, &e);
	CHECK(rc == -1 && has(e.msg, "wrongname.so") && has(e.msg, "\"othername\""),
	      "bad: descriptor name differs from the file (%s)", e.msg);

	char *clash[] = {"hello", "kind_clash", NULL};
	rc = load(&set, NULL, clash, user, &e);
	CHECK(rc == -1 && has(e.msg, "kind \"hello\" is added by two plugins") && has(e.msg, "hello (") &&
		      has(e.msg, "kind_clash ("),
	      "bad: two plugins adding one kind (%s)", e.msg);

	char *dir = path2(tmp, "notelf");
	mkdir(dir, 0755);
	char *f = path2(dir, "notelf.so");
	write_file(f, "This is a text file, not a shared object; dlopen has to say so.\n"
		      "It is long enough that the loader reads a whole ELF header from it.\n");
	const char *nu[] = {dir, NULL};
	char *ne[] = {"notelf", NULL};
	rc = load(&set, NULL, ne, nu, &e);
	CHECK(rc == -1 && has(e.msg, "notelf.so: cannot load: ") && has(e.msg, "invalid ELF header"),
	      "bad: not an ELF file gives dlerror's text (%s)", e.msg);
	free(f);
	free(dir);

	char *ghost[] = {"ghost", NULL};
	rc = load(&set, NULL, ghost, user, &e);
	CHECK(rc == -1 && has(e.msg, "plugin \"ghost\" not found (searched: ") && has(e.msg, tp) &&
		      has(e.msg, "/plugins, ") && has(e.msg, "lib/gearbox/plugins)"),
	      "bad: not found lists every dir (%s)", e.msg);
	free(tp);
}

static void test_config_keys(void)
{
	struct plugin_set set;
	struct err e;
	char *en[] = {"hello", NULL};
	int rc = load(&set, "{\"hello\": {\"greting\": \"x\"}}", en, NULL, &e);
	CHECK(rc == -1 && !strcmp(e.msg, "gearbox.json: plugins.hello: unknown key \"greting\" "
					 "(did you mean \"greeting\"?)"),
	      "config: unknown key with did-you-mean (%s)", e.msg);
	rc = load(&set, "{\"hello\": {\"enabeld\": true}}", en, NULL, &e);
	CHECK(rc == -1 && has(e.msg, "unknown key \"enabeld\" (did you mean \"enabled\"?)"),
	      "config: a misspelt enabled is caught too (%s)", e.msg);
	rc = load(&set, "{\"hello\": {\"colour\": 1}}", en, NULL, &e);
	CHECK(rc == -1 && has(e.msg, "plugins.hello: unknown key \"colour\"") &&
		      has(e.msg, "accepts: enabled, order, greeting"),
	      "config: no close key lists the accepted ones (%s)", e.msg);
	char *tp = path2(build, "tests/plugins");
	const char *user[] = {tp, NULL};
	char *em[] = {"empty_hooks", NULL};
	json_t *r = resolve("{\"empty_hooks\": {\"x\": 1}}", em, NULL);
	size_t nu;
	char **dirs = mkdirs(&nu, user);
	struct gbx_host h = host_table();
	rc = plugins_load(&set, r, dirs, nu, NULL, &h, &e);
	CHECK(rc == -1 && has(e.msg, "the command line: plugins.empty_hooks: unknown key \"x\""),
	      "config: no config file is called the command line (%s)", e.msg);
	plugins_dirs_free(dirs);
	json_decref(r);
	free(tp);
}

static void test_duplicates(void)
{
	struct plugin_set set;
	struct err e;
	char *src = path2(build, "tests/plugins/empty_hooks.so");
	char *u1 = path2(tmp, "u1"), *u2 = path2(tmp, "u2"), *u3 = path2(tmp, "u3");
	mkdir(u1, 0755);
	mkdir(u2, 0755);
	mkdir(u3, 0755);
	char *f1 = path2(u1, "empty_hooks.so"), *f2 = path2(u2, "empty_hooks.so"),
	     *f3 = path2(u3, "empty_hooks.so");
	copy_file(src, f1);
	copy_file(src, f2);
	CHECK(symlink(f1, f3) == 0, "dup: fixture symlink");
	char *en[] = {"empty_hooks", NULL};

	const char *two[] = {u1, u2, NULL};
	int rc = load(&set, NULL, en, two, &e);
	CHECK(rc == -1 && has(e.msg, "\"empty_hooks\" is in two plugin directories") && has(e.msg, f1) &&
		      has(e.msg, f2),
	      "dup: two files in user dirs is an error naming both (%s)", e.msg);

	const char *same[] = {u1, u1, u3, NULL};
	rc = load(&set, NULL, en, same, &e);
	CHECK(rc == 0 && set.n == 1 && !strcmp(set.p[0].path, f1),
	      "dup: the same file reached twice is fine (%s)", e.msg);
	plugins_unload(&set);

	/* a user dir beats the build dir */
	char *h = path2(u2, "hello.so"), *hsrc = path2(build, "plugins/hello.so");
	copy_file(hsrc, h);
	const char *one[] = {u2, NULL};
	char *he[] = {"hello", NULL};
	rc = load(&set, NULL, he, one, &e);
	CHECK(rc == 0 && set.n == 1 && !strcmp(set.p[0].path, h), "dup: a user dir shadows the build dir");
	plugins_unload(&set);

	free(src), free(u1), free(u2), free(u3), free(f1), free(f2), free(f3), free(h), free(hsrc);
}

static const struct plugin_info *row(const struct plugin_info *l, size_t n, const char *name,
				     const char *path_has)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name) && (!path_has || has(l[i].path, path_has)))
			return &l[i];
	return NULL;
}

static void test_list(void)
{
	char *tp = path2(build, "tests/plugins");
	char *u1 = path2(tmp, "u1"), *u2 = path2(tmp, "u2"), *ne = path2(tmp, "notelf");
	/* u1: empty_hooks copy; u2: empty_hooks copy (conflict) and hello (shadows build/plugins) */
	const char *user[] = {u2, ne, tp, u1, "/nonexistent/dir", NULL};
	size_t nu;
	char **dirs = mkdirs(&nu, user);
	char *en[] = {"hello", "ghost", NULL};
	json_t *r = resolve("{\"abi_major\": {\"enabled\": false}}", en, NULL);
	struct plugin_info *l = NULL;
	size_t n = 0;
	struct err e;
	int rc = plugins_list(dirs, nu, r, &l, &n, &e);
	CHECK(rc == 0 && n > 0, "list: rows (%zu)", n);

	const struct plugin_info *x = row(l, n, "hello", u2);
	CHECK(x && x->enabled && !strcmp(x->why, "enabled by --enable") && !strcmp(x->version, "0.1.0") &&
		      x->abi_major == GBX_PLUGIN_ABI_MAJOR && x->abi_minor == GBX_PLUGIN_ABI_MINOR && !x->error && has(x->description, "hello"),
	      "list: hello in the user dir, enabled by --enable, version, ABI");
	char *hpath = path2(u2, "hello.so");
	x = row(l, n, "hello", "/plugins/hello.so");
	CHECK(x && !x->enabled && has(x->why, "shadowed by ") && has(x->why, hpath),
	      "list: the build dir's hello is shadowed (%s)", x ? x->why : "missing");
	free(hpath);

	x = row(l, n, "empty_hooks", u2);
	CHECK(x && !x->enabled && has(x->why, "not enabled in the config") &&
		      has(x->why, "two plugin directories"),
	      "list: a conflict among user dirs is flagged (%s)", x ? x->why : "missing");
	x = row(l, n, "empty_hooks", tp);
	CHECK(x && has(x->why, "shadowed by"), "list: later copies are shadowed");

	x = row(l, n, "abi_major", NULL);
	CHECK(x && x->abi_major == 2 && x->error && has(x->error, "ABI 2.0") && has(x->error, HOST_ABI) &&
		      !strcmp(x->why, "disabled by the config") && !x->enabled,
	      "list: ABI mismatch read safely (%s)", x && x->error ? x->error : "no error");
	x = row(l, n, "nodesc", NULL);
	CHECK(x && x->error && has(x->error, "no symbol gbx_plugin_descriptor"), "list: nodesc");
	x = row(l, n, "notelf", NULL);
	CHECK(x && x->error && has(x->error, "invalid ELF header"), "list: not an ELF file");
	x = row(l, n, "initfail", NULL);
	CHECK(x && !x->error && !x->enabled && !strcmp(x->why, "not enabled in the config"),
	      "list: initfail is listed (never initialized)");
	x = row(l, n, "wrongname", NULL);
	CHECK(x && x->error && has(x->error, "othername"), "list: wrong descriptor name");
	x = row(l, n, "ghost", NULL);
	CHECK(x && x->enabled && x->error && has(x->error, "not found"),
	      "list: enabled but missing is listed with the reason");
	int sorted = 1;
	for (size_t i = 1; i < n; i++)
		sorted &= strcmp(l[i - 1].name, l[i].name) <= 0;
	CHECK(sorted, "list: sorted by name, not-found rows included");
	x = row(l, n, "nodesc", NULL);
	CHECK(x && !x->version && !x->description, "list: no version for an unreadable file");
	plugins_info_free(l, n);
	plugins_dirs_free(dirs);
	json_decref(r);
	free(tp), free(u1), free(u2), free(ne);
}

static void rm_rf(const char *dir)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	const char *b = getenv("GBX_BUILD");
	const char *t = argc > 0 ? strstr(argv[0], "/tests/") : NULL;
	if (b && *b)
		snprintf(build, sizeof build, "%s", b);
	else if (t)
		snprintf(build, sizeof build, "%.*s", (int)(t - argv[0]), argv[0]);
	else
		snprintf(build, sizeof build, "build");
	char *probe = path2(build, "tests/plugins/empty_hooks.so");
	struct stat st;
	if (stat(probe, &st)) {
		printf("not ok - plugins: %s is missing; build the plugins first (make all)\n", probe);
		free(probe);
		return 1;
	}
	free(probe);
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_dirs();
	test_resolve();
	test_load_hooks();
	test_order();
	test_hello();
	test_bad();
	test_config_keys();
	test_duplicates();
	test_list();
	rm_rf(tmp);
	return check_done();
}
