/* main.c - the gearbox command line: run, check, --help, --version.
 *
 * Parses options, loads the config and the workload (or builds one from the
 * quick form), and hands them to the engine. All bad input ends here with a
 * message and exit status 2; nothing below main calls exit().
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "host.h"
#include "plugins.h"
#include "policy.h"
#include "workload.h"

#define GEARBOX_VERSION "0.1.0"

static const char usage_main[] =
	"usage: gearbox COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run WORKLOAD.json [options]        run a workload\n"
	"  run [options] -- CMD {} ::: A B C  quick form, like GNU parallel / xargs\n"
	"  check WORKLOAD.json [options]      validate without running; print DAG stats\n"
	"  plugins [--config FILE] [--enable P] [--disable P]\n"
	"                                     list the plugins found, enabled or not, and why\n"
	"\n"
	"  gearbox COMMAND --help    options of a command\n"
	"  gearbox --version\n"
	"\n"
	"exit status: 0 all tasks succeeded, 1 some failed, 2 bad input, 130 interrupted\n";

static const char usage_run[] =
	"usage: gearbox run WORKLOAD.json [options]\n"
	"       gearbox run [options] -- CMD [ARGS] {} ::: A B C [::: X Y]\n"
	"       gearbox run [options] -a FILE|- -- CMD [ARGS] {}\n"
	"\n"
	"  -j, --jobs N|FILE     run N tasks at once (default: cores); with FILE, the\n"
	"                        number is read from FILE and re-read while running\n"
	"      --config FILE     config file (default ./gearbox.json when present)\n"
	"      --profile NAME    merge profile NAME of the config over it\n"
	"      --enable P, --disable P   switch plugin P on or off (repeatable;\n"
	"                        over the profile and the config)\n"
	"      --halt WHEN       never | soon,fail=N[%%] | now,fail=N[%%] (as GNU parallel)\n"
	"      --journal FILE    append one record per finished task\n"
	"      --resume          skip tasks the journal records as succeeded\n"
	"      --joblog FILE     GNU parallel's joblog\n"
	"      --events FILE     one JSON object per event\n"
	"      --output-dir DIR  keep each task's stdout/stderr as DIR/ID.stdout|.stderr\n"
	"      --progress, --no-progress   progress line (default: on a terminal)\n"
	"      --policy KIND=FILE   Lua policy: KIND scheduling, retry or scaling;\n"
	"                        FILE a path, or the name of a bundled one (edf)\n"
	"      --watch-policies  reload a policy when its file changes (SIGHUP too)\n"
	"  -a, --arg-file FILE   quick form: arguments, one per line (- is stdin)\n"
	"      --timeout MS      quick form: timeout of each task\n"
	"      --retries N       quick form: retries of each task\n"
	"  -q, --quiet           no progress, summary only when something failed\n"
	"  -v, --verbose         a line per finished task\n";

static const char usage_check[] =
	"usage: gearbox check WORKLOAD.json [--config FILE] [--profile NAME] [--policy KIND=FILE]\n"
	"\n"
	"Validates the workload and the config without running anything and prints\n"
	"task count, edges, roots, sinks, depth and the critical path. Policies are\n"
	"loaded and dry-called on sample tasks; their errors carry file and line.\n";

enum {
	OPT_CONFIG = 256, OPT_PROFILE, OPT_HALT, OPT_JOURNAL, OPT_RESUME, OPT_JOBLOG,
	OPT_EVENTS, OPT_OUTDIR, OPT_PROGRESS, OPT_NOPROGRESS, OPT_TIMEOUT, OPT_RETRIES,
	OPT_HELP, OPT_ENABLE, OPT_DISABLE, OPT_POLICY, OPT_WATCH
};

static const struct option long_opts[] = {
	{"jobs", required_argument, 0, 'j'},
	{"config", required_argument, 0, OPT_CONFIG},
	{"profile", required_argument, 0, OPT_PROFILE},
	{"halt", required_argument, 0, OPT_HALT},
	{"journal", required_argument, 0, OPT_JOURNAL},
	{"resume", no_argument, 0, OPT_RESUME},
	{"joblog", required_argument, 0, OPT_JOBLOG},
	{"events", required_argument, 0, OPT_EVENTS},
	{"output-dir", required_argument, 0, OPT_OUTDIR},
	{"progress", no_argument, 0, OPT_PROGRESS},
	{"no-progress", no_argument, 0, OPT_NOPROGRESS},
	{"arg-file", required_argument, 0, 'a'},
	{"timeout", required_argument, 0, OPT_TIMEOUT},
	{"retries", required_argument, 0, OPT_RETRIES},
	{"quiet", no_argument, 0, 'q'},
	{"verbose", no_argument, 0, 'v'},
	{"help", no_argument, 0, OPT_HELP},
	{"enable", required_argument, 0, OPT_ENABLE},
	{"disable", required_argument, 0, OPT_DISABLE},
	{"policy", required_argument, 0, OPT_POLICY},
	{"watch-policies", no_argument, 0, OPT_WATCH},
	{0, 0, 0, 0},
};

struct cli {
	const char *cmd;
	const char *workload;
	const char *config, *profile;
	const char *jobs_arg;
	const char *arg_file;
	int64_t timeout_ms, retries;
	struct run_opts ro;
	char **quick_cmd;          /* after --, up to the first ::: */
	int nsources;
	char ***sources;
	const char *policy_arg[POL_NKINDS];   /* --policy KIND=FILE */
	char **enable, **disable;             /* NULL-terminated */
	int nenable, ndisable;
};

static int push_name(char ***list, int *n, char *name)
{
	char **l = realloc(*list, (size_t)(*n + 2) * sizeof *l);
	if (!l)
		return -1;
	l[(*n)++] = name;
	l[*n] = NULL;
	*list = l;
	return 0;
}

static const char *const policy_kinds[POL_NKINDS] = {"scheduling", "retry", "scaling"};

static int policy_kind(const char *name, size_t len)
{
	for (int k = 0; k < POL_NKINDS; k++)
		if (strlen(policy_kinds[k]) == len && !strncmp(policy_kinds[k], name, len))
			return k;
	return -1;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "gearbox%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'gearbox %s--help'.\n", cmd ? (strcmp(cmd, "run") ? "check " : "run ") : "");
	return 2;
}

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_halt(const char *s, struct run_opts *o)
{
	if (!strcmp(s, "never")) {
		o->halt = HALT_NEVER;
		return 0;
	}
	const char *rest;
	if (!strncmp(s, "soon,", 5)) {
		o->halt = HALT_SOON;
		rest = s + 5;
	} else if (!strncmp(s, "now,", 4)) {
		o->halt = HALT_NOW;
		rest = s + 4;
	} else {
		return -1;
	}
	if (strncmp(rest, "fail=", 5))
		return -1;
	rest += 5;
	char *end;
	errno = 0;
	long v = strtol(rest, &end, 10);
	if (errno || end == rest || v < 1 || v > 1000000000)
		return -1;
	if (*end == '%' && end[1] == 0 && v <= 100)
		o->halt_fail_pct = (int)v;
	else if (*end == 0)
		o->halt_fail = (int)v;
	else
		return -1;
	return 0;
}

/* Splits what follows -- into the command and the ::: sources. */
static int parse_quick(struct cli *c, int argc, char **argv, int i)
{
	int start = i;
	while (i < argc && strcmp(argv[i], ":::"))
		i++;
	if (i == start)
		return usage_error("run", "%s", "no command after --");
	c->quick_cmd = calloc((size_t)(i - start + 1), sizeof(char *));
	if (!c->quick_cmd)
		return 2;
	memcpy(c->quick_cmd, argv + start, (size_t)(i - start) * sizeof(char *));
	while (i < argc) { /* at a ::: */
		int s = ++i;
		while (i < argc && strcmp(argv[i], ":::"))
			i++;
		char **src = calloc((size_t)(i - s + 1), sizeof(char *));
		char ***ns = realloc(c->sources, (size_t)(c->nsources + 1) * sizeof *ns);
		if (!src || !ns) {
			free(src);
			return 2;
		}
		memcpy(src, argv + s, (size_t)(i - s) * sizeof(char *));
		c->sources = ns;
		c->sources[c->nsources++] = src;
	}
	return 0;
}

/* Reads one argument per line (without the newline) from path or stdin. */
static char **read_args(const char *path, struct err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		err_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char **v = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	ssize_t len;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = strdup(line);
		v[n] = NULL;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (!v)
		v = calloc(1, sizeof *v);
	return v;
}

static int parse_args(struct cli *c, int full_argc, char **argv)
{
	/* Everything after the first -- is the quick form's command and sources;
	 * options and the workload may come in any order before it. */
	int dashdash = 1;
	while (dashdash < full_argc && strcmp(argv[dashdash], "--"))
		dashdash++;
	int argc = dashdash;
	optind = 1;
	opterr = 0;
	int o;
	while ((o = getopt_long(argc, argv, ":j:a:qv", long_opts, NULL)) != -1) {
		switch (o) {
		case 'j': c->jobs_arg = optarg; break;
		case OPT_CONFIG: c->config = optarg; break;
		case OPT_PROFILE: c->profile = optarg; break;
		case OPT_HALT:
			if (parse_halt(optarg, &c->ro))
				return usage_error(c->cmd, "--halt %s: expected never, soon,fail=N[%%] or now,fail=N[%%]", optarg);
			break;
		case OPT_JOURNAL: c->ro.journal = optarg; break;
		case OPT_RESUME: c->ro.resume = 1; break;
		case OPT_JOBLOG: c->ro.joblog = optarg; break;
		case OPT_EVENTS: c->ro.events = optarg; break;
		case OPT_OUTDIR: c->ro.output_dir = optarg; break;
		case OPT_PROGRESS: c->ro.progress = 1; break;
		case OPT_NOPROGRESS: c->ro.progress = 0; break;
		case 'a': c->arg_file = optarg; break;
		case OPT_TIMEOUT:
			if (parse_int(optarg, 1, 2592000000LL, &c->timeout_ms))
				return usage_error(c->cmd, "--timeout %s: expected milliseconds (1 to 2592000000)", optarg);
			break;
		case OPT_RETRIES:
			if (parse_int(optarg, 0, 1000, &c->retries))
				return usage_error(c->cmd, "--retries %s: expected 0 to 1000", optarg);
			break;
		case 'q': c->ro.quiet = 1; break;
		case 'v': c->ro.verbose = 1; break;
		case OPT_HELP:
			fputs(!strcmp(c->cmd, "check") ? usage_check : usage_run, stdout);
			return 3;
		case OPT_ENABLE:
			if (push_name(&c->enable, &c->nenable, optarg))
				return 2;
			break;
		case OPT_DISABLE:
			if (push_name(&c->disable, &c->ndisable, optarg))
				return 2;
			break;
		case OPT_POLICY: {
			const char *eq = strchr(optarg, '=');
			int k = eq ? policy_kind(optarg, (size_t)(eq - optarg)) : -1;
			if (k < 0 || !eq[1])
				return usage_error(c->cmd, "--policy %s: expected KIND=FILE with KIND scheduling, retry or scaling", optarg);
			c->policy_arg[k] = eq + 1;
			break;
		}
		case OPT_WATCH: c->ro.watch_policies = 1; break;
		case ':': return usage_error(c->cmd, "%s needs an argument", argv[optind - 1]);
		default: return usage_error(c->cmd, "unknown option %s", argv[optind - 1]);
		}
	}
	int i = optind;
	if (dashdash < full_argc) {
		if (strcmp(c->cmd, "run"))
			return usage_error(c->cmd, "%s", "the quick form (-- CMD ...) is for gearbox run");
		if (i < argc)
			return usage_error(c->cmd, "%s", "give a workload file or a quick-form command, not both");
		return parse_quick(c, full_argc, argv, dashdash + 1);
	}
	if (i < argc)
		c->workload = argv[i++];
	if (i < argc)
		return usage_error(c->cmd, "unexpected argument %s", argv[i]);
	return 0;
}

static int apply_jobs(struct cli *c, const struct config *cfg)
{
	struct run_opts *o = &c->ro;
	if (cfg->jobs_initial)
		o->jobs = cfg->jobs_initial;
	if (cfg->jobs_max) {
		o->jobs_max = cfg->jobs_max;
		if (o->jobs > cfg->jobs_max)
			o->jobs = cfg->jobs_max;
	}
	if (cfg->jobs_min && o->jobs < cfg->jobs_min)
		o->jobs = cfg->jobs_min;
	o->jobs_min = cfg->jobs_min;
	if (cfg->kill_grace_ms >= 0)
		o->kill_grace_ms = cfg->kill_grace_ms;
	if (cfg->retry_base_ms >= 0)
		o->retry_base_ms = cfg->retry_base_ms;
	if (cfg->retry_cap_ms >= 0)
		o->retry_cap_ms = cfg->retry_cap_ms;
	if (c->jobs_arg) {
		int64_t n;
		struct stat st;
		if (parse_int(c->jobs_arg, 1, 4096, &n) == 0) {
			o->jobs = (int)n;
			if (o->jobs_max && o->jobs > o->jobs_max)
				o->jobs_max = o->jobs; /* the CLI wins over the config */
		} else if (stat(c->jobs_arg, &st) == 0 && S_ISREG(st.st_mode)) {
			o->jobs_file = c->jobs_arg;
		} else {
			return usage_error(c->cmd, "-j %s: expected a number from 1 to 4096, or a file holding one", c->jobs_arg);
		}
	}
	return 0;
}

/* Directory of the running binary, for finding bundled policies and plugins. */
static char *exe_dir(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return strdup(".");
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = 0;
	return strdup(buf);
}

/* A policy named without a path ("edf") is a bundled one: policies/KIND/NAME.lua
 * in the source tree next to the build, or PREFIX/share/gearbox/policies. A
 * relative path from the config is relative to the config file's directory. */
static char *policy_path(const char *kind, const char *name, const char *base_file)
{
	struct buf b = {0};
	if (!strchr(name, '/') && !strstr(name, ".lua")) {
		char *dir = exe_dir();
		const char *roots[] = {"/../policies", "/../../policies", "/../share/gearbox/policies"};
		for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
			b.len = 0;
			buf_addf(&b, "%s%s/%s/%s.lua", dir, roots[i], kind, name);
			if (access(b.p, R_OK) == 0)
				break;
		}
		free(dir);
		return b.p;
	}
	if (base_file && name[0] != '/' && strchr(base_file, '/')) {
		buf_addf(&b, "%.*s/%s", (int)(strrchr(base_file, '/') - base_file), base_file, name);
		return b.p;
	}
	return strdup(name);
}

/* Loads the policies named by the config and --policy (the flag wins). */
static int load_policies(struct cli *c, const struct config *cfg, struct workload *wl,
			 struct hostctx *hc, int strict, struct policy **out, struct err *err)
{
	const char *file[POL_NKINDS] = {0};
	const char *from[POL_NKINDS] = {0};
	if (cfg->policies) {
		const char *k;
		json_t *v;
		json_object_foreach(cfg->policies, k, v) {
			int kind = policy_kind(k, strlen(k));
			if (kind < 0)
				return err_set(err, "%s: policies: unknown kind \"%s\" (kinds: scheduling, retry, scaling)",
					       cfg->path, k);
			if (!json_is_string(v))
				return err_set(err, "%s: policies.%s: expected a file name", cfg->path, k);
			file[kind] = json_string_value(v);
			from[kind] = cfg->path;
		}
	}
	int any = 0;
	for (int k = 0; k < POL_NKINDS; k++) {
		if (c->policy_arg[k]) {
			file[k] = c->policy_arg[k];
			from[k] = NULL;
		}
		any |= file[k] != NULL;
	}
	*out = NULL;
	if (!any)
		return 0;
	struct policy_opts po;
	memset(&po, 0, sizeof po);
	po.wl = wl;
	po.budget = cfg->policy_budget;
	po.mem_cap = cfg->policy_mem_mb > 0 ? (size_t)cfg->policy_mem_mb << 20 : 0;
	struct policy *p = policy_new(&po, err);
	if (!p)
		return -1;
	if (host_lua_apply(hc, p, err)) {
		policy_free(p);
		return -1;
	}
	for (int k = 0; k < POL_NKINDS; k++) {
		if (!file[k])
			continue;
		char *path = policy_path(policy_kinds[k], file[k], from[k]);
		if (access(path, R_OK)) {
			err_set(err, "%s policy %s: %s", policy_kinds[k], path, strerror(errno));
			free(path);
			policy_free(p);
			return -1;
		}
		int r = policy_load(p, k, path, err);
		free(path);
		if (r && strict) {
			policy_free(p);
			return -1;
		}
		/* a broken policy must not stop a run: say so once, use the built-in */
		if (r)
			fprintf(stderr, "gearbox: %s; using the built-in %s decision\n", err->msg,
				policy_kinds[k]);
	}
	*out = p;
	return 0;
}

static int cmd_plugins(char **dirs, size_t n_user, json_t *resolved)
{
	struct plugin_info *list = NULL;
	size_t n = 0;
	struct err err = {{0}};
	if (plugins_list(dirs, n_user, resolved, &list, &n, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		return 2;
	}
	printf("%-14s %-9s %-5s %-8s %s\n", "NAME", "VERSION", "ABI", "STATE", "PATH / WHY");
	for (size_t i = 0; i < n; i++) {
		const struct plugin_info *p = &list[i];
		char abi[32];
		snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
		printf("%-14s %-9s %-5s %-8s %s\n", p->name ? p->name : "?",
		       p->version ? p->version : "-", abi, p->error ? "broken" : p->enabled ? "enabled" : "off",
		       p->path ? p->path : "");
		printf("%-14s %-9s %-5s %-8s   %s\n", "", "", "", "", p->error ? p->error : p->why ? p->why : "");
	}
	if (n == 0)
		printf("(no plugins found; searched:");
	for (size_t i = 0; n == 0 && dirs[i]; i++)
		printf(" %s", dirs[i]);
	if (n == 0)
		printf(")\n");
	plugins_info_free(list, n);
	return 0;
}

static int cmd_check(struct cli *c, struct workload *wl, const struct config *cfg)
{
	uint32_t kinds[2] = {0, 0};
	for (uint32_t i = 0; i < wl->ntasks; i++)
		kinds[wl->tasks[i].spec->kind == KIND_SIM]++;
	printf("%s: ok\n", wl->path);
	if (cfg->path)
		printf("config: %s%s%s\n", cfg->path, c->profile ? ", profile " : "", c->profile ? c->profile : "");
	printf("tasks: %u (exec %u, sim %u)\n", wl->ntasks, kinds[0], kinds[1]);
	printf("edges: %llu\n", (unsigned long long)wl->nedges);
	printf("roots: %u, sinks: %u\n", wl->roots, wl->sinks);
	printf("depth: %u\n", wl->depth);
	printf("critical path: %lld ms (sum of est_ms along the longest path)\n", (long long)wl->critical_ms);
	if (c->ro.policy) {
		struct buf out = {0};
		int problems = policy_check(c->ro.policy, &out);
		for (int k = 0; k < POL_NKINDS; k++)
			if (policy_file(c->ro.policy, k))
				printf("policy %s: %s\n", policy_kinds[k], policy_file(c->ro.policy, k));
		if (problems) {
			fprintf(stderr, "%s", out.p);
			fprintf(stderr, "gearbox: %d policy problem%s\n", problems, problems == 1 ? "" : "s");
		}
		buf_free(&out);
		return problems ? 2 : 0;
	}
	return 0;
}

static void free_cli(struct cli *c)
{
	free(c->enable);
	free(c->disable);
	free(c->quick_cmd);
	for (int i = 0; i < c->nsources; i++) {
		if (c->arg_file && i == c->nsources - 1)
			for (char **p = c->sources[i]; *p; p++)
				free(*p);
		free(c->sources[i]);
	}
	free(c->sources);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("gearbox %s\n", GEARBOX_VERSION);
		return 0;
	}
	struct cli c;
	memset(&c, 0, sizeof c);
	c.cmd = argv[1];
	run_opts_init(&c.ro);
	if (strcmp(c.cmd, "run") && strcmp(c.cmd, "check") && strcmp(c.cmd, "plugins")) {
		fprintf(stderr, "gearbox: unknown command '%s'\n%s", c.cmd, usage_main);
		return 2;
	}
	int rc = parse_args(&c, argc - 1, argv + 1);
	if (rc) {
		free_cli(&c);
		return rc == 3 ? 0 : rc;
	}

	struct err err = {{0}};
	struct config cfg;
	struct workload *wl = NULL;
	struct plugin_set set;
	struct hostctx hc;
	char **dirs = NULL;
	json_t *resolved = NULL;
	memset(&set, 0, sizeof set);
	memset(&hc, 0, sizeof hc);
	if (config_load(c.config, c.profile, &cfg, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		config_free(&cfg);
		free_cli(&c);
		return 2;
	}
	if ((rc = apply_jobs(&c, &cfg)))
		goto out;

	/* Plugins first: they add task kinds and fields the workload may use. */
	size_t n_user = 0;
	char *exe = exe_dir();
	dirs = plugins_dirs(cfg.plugin_path, exe, &n_user);
	free(exe);
	resolved = plugins_resolve(cfg.plugins, c.enable, c.disable, &err);
	if (!resolved) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	if (!strcmp(c.cmd, "plugins")) {
		rc = cmd_plugins(dirs, n_user, resolved);
		goto out;
	}
	struct gbx_host host;
	host_table(&hc, &host);
	if (plugins_load(&set, resolved, dirs, n_user, cfg.path, &host, &err) ||
	    host_registry(&hc, &set, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	c.ro.plugins = &set;
	c.ro.host = &hc;

	if (c.quick_cmd) {
		if (c.arg_file || c.nsources == 0) {
			char **args = read_args(c.arg_file ? c.arg_file : "-", &err);
			if (!args) {
				fprintf(stderr, "gearbox: %s\n", err.msg);
				rc = 2;
				goto out;
			}
			char ***ns = realloc(c.sources, (size_t)(c.nsources + 1) * sizeof *ns);
			if (!ns) {
				rc = 2;
				goto out;
			}
			c.sources = ns;
			c.sources[c.nsources++] = args;
			if (!c.arg_file)
				c.arg_file = "-";
		}
		if (workload_quick(c.quick_cmd, c.nsources, (char **const *)c.sources, &wl, &err)) {
			fprintf(stderr, "gearbox: %s\n", err.msg);
			rc = 2;
			goto out;
		}
		for (uint32_t i = 0; i < wl->ntasks; i++) {
			/* every quick-form task has a spec of its own */
			struct spec *s = (struct spec *)wl->tasks[i].spec;
			if (c.timeout_ms)
				s->timeout_ms = wl->tasks[i].timeout_ms = c.timeout_ms;
			if (c.retries)
				s->retries = (int32_t)c.retries;
		}
	} else if (!c.workload) {
		rc = usage_error(c.cmd, "%s", "no workload given");
		goto out;
	} else if (c.timeout_ms || c.retries || c.arg_file) {
		rc = usage_error(c.cmd, "%s", "--timeout, --retries and -a belong to the quick form; set timeout_ms and retries in the workload");
		goto out;
	} else if (workload_load_reg(c.workload, &hc.reg, &wl, &err) || host_validate(&hc, wl, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}

	if (load_policies(&c, &cfg, wl, &hc, !strcmp(c.cmd, "check"), &c.ro.policy, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	if (!strcmp(c.cmd, "check")) {
		rc = cmd_check(&c, wl, &cfg);
	} else {
		rc = engine_run(wl, &c.ro, &err);
		if (rc == 2)
			fprintf(stderr, "gearbox: %s\n", err.msg);
	}
out:
	if (c.ro.policy)
		policy_free(c.ro.policy);
	workload_free(wl);
	plugins_unload(&set);
	host_free(&hc);
	json_decref(resolved);
	if (dirs)
		plugins_dirs_free(dirs);
	config_free(&cfg);
	free_cli(&c);
	return rc;
}
