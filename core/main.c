/* main.c - the gearbox command line: run, check, --help, --version.
 *
 * Parses options, loads the config and the workload (or builds one from the
 * quick form), and hands them to the engine. All bad input ends here with a
 * message and exit status 2; nothing below main calls exit().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "import.h"
#include "bench.h"
#include "config.h"
#include "engine.h"
#include "host.h"
#include "nodeplug.h"
#include "nodes.h"
#include "parallel.h"
#include "plugins.h"
#include "session.h"
#include "resrun.h"
#include "policy.h"
#include "workload.h"

#define GEARBOX_VERSION "0.1.0"

static const char usage_main[] =
	"usage: gearbox COMMAND [options]\n"
	"\n"
	"commands:\n"
	"  run WORKLOAD.json [options]        run a workload\n"
	"  run [options] -- CMD {} ::: A B C  quick form, like GNU parallel / xargs\n"
	"  parallel [options] CMD ::: A B C   GNU parallel's options and meaning\n"
	"  check WORKLOAD.json [options]      validate without running; print DAG stats\n"
	"  bench WORKLOAD.json [options]      run it with each plugin on and off, repeated;\n"
	"                                     say which pay, with the numbers\n"
	"  agent [--labels L,..] [--cores N] run the tasks a controller sends on stdin\n"
	"                                     (started by run --nodes; docs/nodes.md)\n"
	"  import compdb|ninja FILE [-o OUT]  a workload from compile_commands.json or\n"
	"                                     build.ninja: one task per command (docs/import.md)\n"
	"  plugins [--config FILE] [--enable P] [--disable P]\n"
	"                                     list the plugins found, enabled or not, and why\n"
	"\n"
	"  NAME [ARGS]                        a plugin's own command (gearbox cache stats)\n"
	"\n"
	"  gearbox COMMAND --help    options of a command\n"
	"  gearbox --version\n"
	"\n"
	"exit status: 0 all tasks succeeded, 1 some failed (or a record was lost), 2 bad input,\n"
	"130 interrupted (SIGINT), 143 terminated (SIGTERM)\n";

static const char usage_run[] =
	"usage: gearbox run WORKLOAD.json [options]\n"
	"       gearbox run [options] -- CMD [ARGS] {} ::: A B C [::: X Y] [:::: FILE]\n"
	"       gearbox run [options] -a FILE|- -- CMD [ARGS] {}\n"
	"\n"
	"  -j, --jobs N|FILE     run N tasks at once (default: cores); with FILE, the\n"
	"                        number is read from FILE and re-read while running;\n"
	"                        with --nodes, N tasks per node (default: its cores)\n"
	"      --nodes SPEC      run the tasks on agents: local:N, ssh:[N/]HOST,...,\n"
	"                        slurm (the allocation's nodes), or LAUNCHER:HOST,...\n"
	"                        with a launcher of the config (docs/nodes.md)\n"
	"      --config FILE     config file (default ./gearbox.json when present)\n"
	"      --profile NAME    merge profile NAME of the config over it\n"
	"      --enable P, --disable P   switch plugin P on or off (repeatable;\n"
	"                        over the profile and the config)\n"
	"      --set KEY=VALUE   set a config key over the config and the profile;\n"
	"                        KEY a dotted path (plugins.cache.dir), VALUE JSON or\n"
	"                        a plain string (repeatable)\n"
	"      --halt WHEN       never | soon,fail=N[%] | now,fail=N[%] (as GNU parallel)\n"
	"      --journal FILE    append one record per finished task\n"
	"      --resume          skip tasks the journal records as succeeded\n"
	"      --joblog FILE     GNU parallel's joblog\n"
	"      --events FILE     one JSON object per event\n"
	"      --stats FILE      at the end, counts and attempt latency p50/p90/p99/max\n"
	"                        as one JSON object (what gearbox bench reads)\n"
	"      --output-dir DIR  keep each task's stdout/stderr as DIR/ID.stdout|.stderr\n"
	"      --progress, --no-progress   progress line (default: on a terminal)\n"
	"      --policy KIND=FILE   Lua policy: KIND scheduling, retry, scaling or\n"
	"                        placement (with --nodes);\n"
	"                        FILE a path, or the name of a bundled one (edf)\n"
	"      --watch-policies  reload a policy when its file changes (SIGHUP too)\n"
	"  -a, --arg-file FILE   quick form: arguments, one per line (- is stdin)\n"
	"      --timeout TIME    quick form: timeout of each task: 500ms, 2s, 1m, 1h\n"
	"                        (a bare number is milliseconds)\n"
	"      --retries N       quick form: retries of each task\n"
	"  -q, --quiet           no progress, summary only when something failed\n"
	"  -v, --verbose         a line per finished task\n";

static const char usage_plugins[] =
	"usage: gearbox plugins [--config FILE] [--profile NAME] [--enable P] [--disable P]\n"
	"\n"
	"Lists every plugin found in the plugin path, enabled or off and why, with\n"
	"its version and ABI; a file that cannot be used is listed with the reason.\n";

static const char usage_check[] =
	"usage: gearbox check WORKLOAD.json [--config FILE] [--profile NAME] [--policy KIND=FILE]\n"
	"                     [--estimates[=tasks|groups]]\n"
	"\n"
	"Validates the workload and the config without running anything and prints\n"
	"task count, edges, roots, sinks, depth and the critical path. Policies are\n"
	"loaded and dry-called on sample tasks; their errors carry file and line.\n"
	"--estimates prints what the run history gives: per task for up to 20 tasks,\n"
	"else one line per command template (=tasks or =groups chooses).\n";

enum {
	OPT_CONFIG = 256, OPT_PROFILE, OPT_HALT, OPT_JOURNAL, OPT_RESUME, OPT_JOBLOG,
	OPT_EVENTS, OPT_OUTDIR, OPT_PROGRESS, OPT_NOPROGRESS, OPT_TIMEOUT, OPT_RETRIES,
	OPT_HELP, OPT_ENABLE, OPT_DISABLE, OPT_POLICY, OPT_WATCH, OPT_STATS, OPT_SET,
	OPT_NODES, OPT_ESTIMATES
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
	{"stats", required_argument, 0, OPT_STATS},
	{"set", required_argument, 0, OPT_SET},
	{"nodes", required_argument, 0, OPT_NODES},
	{"estimates", optional_argument, 0, OPT_ESTIMATES},
	{0, 0, 0, 0},
};

struct cli {
	const char *cmd;
	const char *workload;
	const char *config, *profile;
	const char *jobs_arg;
	const char *nodes;                    /* --nodes SPEC, or NULL */
	const char *arg_file;
	int64_t timeout_ms, retries;
	struct run_opts ro;
	char **quick_cmd;          /* after --, up to the first ::: */
	int nsources;
	char ***sources;
	unsigned char *src_owned;  /* per source: its strings are ours (::::) */
	const char *policy_arg[POL_NKINDS];   /* --policy KIND=FILE */
	char **enable, **disable;             /* NULL-terminated */
	int nenable, ndisable;
	char **sets;                          /* --set KEY.PATH=VALUE, NULL-terminated */
	int nsets;
	int estimates;                        /* check --estimates: 1 + EST_*, or 0 */
};

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

/* Reads one argument per line (without the newline) from path or stdin. */
static char **read_args(const char *path, struct err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		err_set(err, "-a %s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		err_set(err, "-a %s: is a directory, expected a file of arguments, one per line", path);
		fclose(f);
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
	int bad = ferror(f) ? errno : 0;
	if (f != stdin)
		fclose(f);
	if (bad) {
		err_set(err, "-a %s: cannot read: %s", path, strerror(bad));
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return NULL;
	}
	if (!v)
		v = calloc(1, sizeof *v);
	return v;
}

static int add_source(struct cli *c, char **src, int owned)
{
	char ***ns = realloc(c->sources, (size_t)(c->nsources + 1) * sizeof *ns);
	if (ns)
		c->sources = ns;
	unsigned char *no = realloc(c->src_owned, (size_t)(c->nsources + 1));
	if (no)
		c->src_owned = no;
	if (!ns || !no)
		return -1;
	c->src_owned[c->nsources] = (unsigned char)owned;
	c->sources[c->nsources++] = src;
	return 0;
}

static int is_sep(const char *s)
{
	return !strcmp(s, ":::") || !strcmp(s, "::::") || !strcmp(s, ":::+") || !strcmp(s, "::::+");
}

/* Splits what follows -- into the command and the sources: ::: values,
 * :::: files of values (one per line, - for stdin). */
static int parse_quick(struct cli *c, int argc, char **argv, int i)
{
	int start = i;
	while (i < argc && !is_sep(argv[i]))
		i++;
	if (i == start)
		return usage_error("run", "%s", "no command after --");
	c->quick_cmd = calloc((size_t)(i - start + 1), sizeof(char *));
	if (!c->quick_cmd)
		return 2;
	memcpy(c->quick_cmd, argv + start, (size_t)(i - start) * sizeof(char *));
	while (i < argc) { /* at a separator */
		const char *sep = argv[i];
		if (sep[strlen(sep) - 1] == '+')
			return usage_error("run", "%s: linked sources are gearbox parallel's (gearbox parallel CMD ::: A B :::+ 1 2)", sep);
		int s = ++i;
		while (i < argc && !is_sep(argv[i]))
			i++;
		if (!strcmp(sep, "::::")) {
			if (i == s)
				return usage_error("run", "%s", ":::: needs a file");
			for (int k = s; k < i; k++) {
				struct err err = {{0}};
				char **src = read_args(argv[k], &err);
				if (!src)
					return usage_error("run", "%s", err.msg);
				if (add_source(c, src, 1)) {
					for (char **p = src; *p; p++)
						free(*p);
					free(src);
					return 2;
				}
			}
			continue;
		}
		char **src = calloc((size_t)(i - s + 1), sizeof(char *));
		if (!src || add_source(c, src, 0)) {
			free(src);
			return 2;
		}
		memcpy(src, argv + s, (size_t)(i - s) * sizeof(char *));
	}
	return 0;
}

/* A time: 500ms, 2s, 1.5m, 1h; a bare number is milliseconds. */
static int parse_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -1;
	double mul;
	if (!*end || !strcmp(end, "ms"))
		mul = 1;
	else if (!strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (!strcmp(end, "h"))
		mul = 3600000;
	else
		return -1;
	double ms = v * mul;
	if (ms < 1 || ms > 2592000000.0)
		return -1;
	*out = (int64_t)(ms + 0.5);
	return 0;
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
	int o, at = optind;
	while ((o = getopt_long(argc, argv, ":j:a:qv", long_opts, NULL)) != -1) {
		/* the element an unknown short option came in (-n2 stays in
		 * argv[optind] while getopt is inside it) */
		const char *elem = optopt && optind == at ? argv[optind] : argv[optind - 1];
		at = optind;
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
			if (parse_ms(optarg, &c->timeout_ms))
				return usage_error(c->cmd, "--timeout %s: expected a time: 500ms, 2s, 1.5m, 1h (a bare number is milliseconds; 1 ms to 30 days)", optarg);
			break;
		case OPT_RETRIES:
			if (parse_int(optarg, 0, 1000, &c->retries))
				return usage_error(c->cmd, "--retries %s: expected 0 to 1000", optarg);
			break;
		case 'q': c->ro.quiet = 1; break;
		case 'v': c->ro.verbose = 1; break;
		case OPT_HELP:
			fputs(!strcmp(c->cmd, "check") ? usage_check
			      : !strcmp(c->cmd, "plugins") ? usage_plugins : usage_run, stdout);
			return 3;
		case OPT_ENABLE:
			if (strv_push(&c->enable, &c->nenable, optarg))
				return 2;
			break;
		case OPT_DISABLE:
			if (strv_push(&c->disable, &c->ndisable, optarg))
				return 2;
			break;
		case OPT_POLICY: {
			const char *eq = strchr(optarg, '=');
			int k = eq ? policy_kind_of(optarg, (size_t)(eq - optarg)) : -1;
			if (k < 0 || !eq[1])
				return usage_error(c->cmd, "--policy %s: expected KIND=FILE with KIND scheduling, retry, scaling or placement", optarg);
			c->policy_arg[k] = eq + 1;
			break;
		}
		case OPT_WATCH: c->ro.watch_policies = 1; break;
		case OPT_STATS: c->ro.stats = optarg; break;
		case OPT_SET:
			if (strv_push(&c->sets, &c->nsets, optarg))
				return 2;
			break;
		case OPT_NODES: c->nodes = optarg; break;
		case OPT_ESTIMATES:
			if (!optarg)
				c->estimates = 1 + EST_AUTO;
			else if (!strcmp(optarg, "tasks"))
				c->estimates = 1 + EST_TASKS;
			else if (!strcmp(optarg, "groups"))
				c->estimates = 1 + EST_GROUPS;
			else
				return usage_error(c->cmd, "--estimates takes tasks or groups, not '%s'", optarg);
			break;
		case ':': return usage_error(c->cmd, "%s needs an argument", argv[optind - 1]);
		default: return usage_error(c->cmd, "unknown option %s", elem);
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

/* -j over what the config said (session_run_opts applied it first). */
static int apply_jobs(struct cli *c)
{
	struct run_opts *o = &c->ro;
	if (c->jobs_arg) {
		int64_t n;
		struct stat st;
		if (parse_int(c->jobs_arg, 1, 4096, &n) == 0) {
			o->jobs = (int)n;
			if (o->jobs_max && o->jobs > o->jobs_max)
				o->jobs_max = o->jobs; /* the CLI wins over the config */
		} else if (stat(c->jobs_arg, &st) == 0 && S_ISREG(st.st_mode)) {
			/* what the file holds now must be good: the run re-reads it
			 * and keeps the last good value when it is not */
			char b[64] = "";
			FILE *f = fopen(c->jobs_arg, "re");
			size_t got = f ? fread(b, 1, sizeof b - 1, f) : 0;
			if (f)
				fclose(f);
			b[got] = 0;
			b[strcspn(b, " \t\r\n")] = 0;
			if (parse_int(b, 1, 4096, &n)) {
				fprintf(stderr, "gearbox %s: -j %s: the file holds \"%.20s\", expected a "
					"number from 1 to 4096\n", c->cmd, c->jobs_arg, b);
				return 2;
			}
			o->jobs_file = c->jobs_arg;
		} else {
			return usage_error(c->cmd, "-j %s: expected a number from 1 to 4096, or a file holding one", c->jobs_arg);
		}
	}
	return 0;
}

/* Each running task holds up to FDS_PER_TASK descriptors (two pipes while
 * spawning, a pidfd, the worker's eventfd); FDS_RESERVE are for the records,
 * plugins and libraries. The soft limit is raised to the hard one first. */
#define FDS_PER_TASK 6
#define FDS_RESERVE 64
static void cap_jobs_by_fds(struct run_opts *o)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		return;
	long cap = ((long)rl.rlim_cur - FDS_RESERVE) / FDS_PER_TASK;
	if (cap < 1)
		cap = 1;
	int want = o->jobs_max > 0 && o->jobs_max > o->jobs ? o->jobs_max : o->jobs;
	if (o->jobs_file)
		want = 4096;
	if (want > cap && !o->jobs_file && !o->quiet)
		fprintf(stderr, "gearbox: -j %d: running at most %ld tasks at once: the open files "
			"limit is %ld (ulimit -n), %d per task\n", want, cap, (long)rl.rlim_cur,
			FDS_PER_TASK);
	if (o->jobs > cap)
		o->jobs = (int)cap;
	if (want > cap)
		o->jobs_max = (int)cap;
	if (o->jobs_min > cap)
		o->jobs_min = (int)cap;
}

static int cmd_plugins(struct session *ss)
{
	struct plugin_info *list = NULL;
	size_t n = 0;
	struct err err = {{0}};
	char **dirs = ss->dirs;
	if (plugins_list(dirs, ss->n_user, ss->resolved, &list, &n, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		return 2;
	}
	printf("%-14s %-9s %-5s %-8s %s\n", "NAME", "VERSION", "ABI", "STATE", "PATH / WHY");
	for (size_t i = 0; i < n; i++) {
		const struct plugin_info *p = &list[i];
		char abi[32];
		if (p->abi_major)
			snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
		else
			snprintf(abi, sizeof abi, "-");
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

/* `gearbox NAME ARGS...`: a plugin's own command (e.g. `gearbox cache stats`).
 * --config FILE and --profile NAME are taken out of ARGS; the plugin is loaded
 * for this alone, enabled or not, with its config. */
static int plugin_command(int argc, char **argv)
{
	const char *name = argv[0], *config = NULL, *profile = NULL;
	char **args = calloc((size_t)argc + 1, sizeof *args);
	int n = 0;
	if (!args)
		return 2;
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "--profile")) && i + 1 < argc) {
			*(argv[i][2] == 'c' ? &config : &profile) = argv[i + 1];
			i++;
		} else {
			args[n++] = argv[i];
		}
	}
	struct err err = {{0}};
	struct session ss;
	char *only[] = {(char *)name, NULL};
	int rc = 2;
	if (session_open(&ss, config, profile, NULL, only, NULL, 0, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		goto out;
	}
	/* load just this plugin */
	json_t *mine = json_object_get(ss.resolved, name);
	json_t *one = json_object();
	if (mine)
		json_object_set(one, name, mine);
	struct gbx_host host;
	host_table(&ss.hc, &host);
	if (plugins_load(&ss.set, one, ss.dirs, ss.n_user, ss.cfg.path, &host, &err)) {
		json_decref(one);
		if (strstr(err.msg, "not found"))
			fprintf(stderr, "gearbox: unknown command '%s' (and no plugin of that name)\n%s",
				name, usage_main);
		else
			fprintf(stderr, "gearbox: %s\n", err.msg);
		goto out;
	}
	json_decref(one);
	const struct plugin *p = ss.set.n ? &ss.set.p[0] : NULL;
	if (!p || p->d->abi_minor < 1 || !p->d->command) {
		fprintf(stderr, "gearbox: plugin %s has no command\n", name);
		goto out;
	}
	rc = p->d->command(p->self, n, args);
out:
	session_close(&ss);
	free(args);
	return rc;
}

/* gearbox run --nodes: start the agents, check the tasks' labels against
 * them, run with one worker per slot, stop the agents. */
static int run_on_nodes(struct cli *c, struct workload *wl, struct session *ss,
			struct err *err)
{
	const struct config *cfg = &ss->cfg;
	if (c->ro.jobs_file) {
		fprintf(stderr, "gearbox run: -j FILE does not go with --nodes (give slots per node: -j N)\n");
		return 2;
	}
	struct nodes_opts no;
	memset(&no, 0, sizeof no);
	no.spec = c->nodes;
	no.cfg = cfg->nodes;
	no.cfg_path = cfg->path;
	no.slots = c->jobs_arg ? c->ro.jobs : 0;
	no.grace_ms = c->ro.kill_grace_ms;
	no.quiet = c->ro.quiet || c->ro.silent;
	json_t *lu = cfg->nodes ? json_object_get(cfg->nodes, "lost_uses_retries") : NULL;
	c->ro.lost_uses_retries = json_is_true(lu);
	struct nodes *ns = NULL;
	json_t *plugins = NULL; /* which plugins the agents load (nodeplug.h) */
	if (nodeplug_select(&ss->set, &ss->hc, ss->resolved, cfg->nodes, cfg->path, wl, &plugins, err)) {
		fprintf(stderr, "gearbox: %s\n", err->msg);
		return 2;
	}
	no.plugins = plugins;
	no.res_cfg = cfg->resources;
	json_t *cluster = NULL; /* the engine's capacities: the nodes' sums (noderes.c) */
	if (nodes_start(&no, &ns, err) || nodes_check(ns, wl, err) ||
	    !(cluster = nodes_res_config(ns, cfg->resources, err)) ||
	    nodes_res_check(ns, wl, cluster, cfg->path, err)) {
		fprintf(stderr, "gearbox: %s\n", err->msg);
		nodes_stop(ns);
		json_decref(plugins);
		json_decref(cluster);
		return 2;
	}
	c->ro.resources = cluster;
	c->ro.nodes = ns;
	c->ro.jobs = nodes_slots(ns);
	if (c->ro.jobs_max && c->ro.jobs > c->ro.jobs_max)
		c->ro.jobs_max = c->ro.jobs;
	int rc = engine_run(wl, &c->ro, err);
	if (rc == 2)
		fprintf(stderr, "gearbox: %s\n", err->msg);
	nodes_stop(ns);
	json_decref(plugins);
	json_decref(cluster);
	return rc;
}

/* History is on by default for a workload file, beside it (docs/resources.md,
 * "History"); the quick form keeps none unless the config names one. */
static void default_history(struct cli *c, const struct config *cfg)
{
	if (!cfg->history_given && !c->quick_cmd) {
		c->ro.history = "";
		c->ro.history_auto = 1;
	}
}

static int cmd_check(struct cli *c, struct workload *wl, const struct config *cfg)
{
	uint32_t kinds[2] = {0, 0};
	for (uint32_t i = 0; i < wl->ntasks; i++)
		kinds[wl->tasks[i].spec->kind == KIND_SIM]++;
	struct err rerr; /* a task that can never fit is refused before "ok" */
	if (res_check(wl, cfg->resources, cfg->enforce, cfg->path, NULL, &rerr)) {
		fprintf(stderr, "gearbox: %s\n", rerr.msg);
		return 2;
	}
	printf("%s: ok\n", wl->path);
	if (cfg->path)
		printf("config: %s%s%s\n", cfg->path, c->profile ? ", profile " : "", c->profile ? c->profile : "");
	printf("tasks: %u (exec %u, sim %u)\n", wl->ntasks, kinds[0], kinds[1]);
	printf("edges: %llu\n", (unsigned long long)wl->nedges);
	printf("roots: %u, sinks: %u\n", wl->roots, wl->sinks);
	printf("depth: %u\n", wl->depth);
	printf("critical path: %lld ms (sum of est_ms along the longest path)\n", (long long)wl->critical_ms);
	if (res_check(wl, cfg->resources, cfg->enforce, cfg->path, stdout, &rerr)) {
		fprintf(stderr, "gearbox: %s\n", rerr.msg);
		return 2;
	}
	if (c->estimates && cfg->history_given && !cfg->history)
		printf("estimates: none, history is off in the config\n");
	else if (c->estimates)
		res_check_estimates(wl, cfg->history, c->estimates - 1, stdout);
	if (c->ro.policy) {
		struct buf out = {0};
		int problems = policy_check(c->ro.policy, &out);
		for (int k = 0; k < POL_NKINDS; k++)
			if (policy_file(c->ro.policy, k))
				printf("policy %s: %s\n", policy_kind_name(k), policy_file(c->ro.policy, k));
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
	free(c->sets);
	free(c->quick_cmd);
	for (int i = 0; i < c->nsources; i++) {
		if ((c->arg_file && i == c->nsources - 1) || (c->src_owned && c->src_owned[i]))
			for (char **p = c->sources[i]; *p; p++)
				free(*p);
		free(c->sources[i]);
	}
	free(c->sources);
	free(c->src_owned);
}

int main(int argc, char **argv)
{
	/* fds 0-2 closed by our parent would be handed to the journal or a pipe,
	 * and task output would land there: hold them with /dev/null */
	int fd;
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	/* an ignored SIGCHLD (inherited through exec) would reap our children */
	signal(SIGCHLD, SIG_DFL);
	/* invoked as `parallel` (a link), or `gearbox parallel` */
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : argc > 0 ? argv[0] : "";
	if (!strcmp(base, "parallel"))
		return parallel_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "parallel"))
		return parallel_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "run")) {
		/* block the signals the engine takes before plugins start threads,
		 * so that none of those threads takes a SIGINT meant for the run */
		sigset_t sigs;
		sigemptyset(&sigs);
		sigaddset(&sigs, SIGINT);
		sigaddset(&sigs, SIGTERM);
		sigaddset(&sigs, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	}
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
	if (!strcmp(argv[1], "bench"))
		return bench_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "agent"))
		return agent_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "import"))
		return import_main(argc - 1, argv + 1);
	struct cli c;
	memset(&c, 0, sizeof c);
	c.cmd = argv[1];
	run_opts_init(&c.ro);
	if (strcmp(c.cmd, "run") && strcmp(c.cmd, "check") && strcmp(c.cmd, "plugins"))
		return plugin_command(argc - 1, argv + 1);
	int rc = parse_args(&c, argc - 1, argv + 1);
	if (rc) {
		free_cli(&c);
		return rc == 3 ? 0 : rc;
	}

	struct err err = {{0}};
	struct workload *wl = NULL;
	struct session ss;
	if (session_open(&ss, c.config, c.profile, c.sets, c.enable, c.disable,
			 strcmp(c.cmd, "plugins") != 0, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		session_close(&ss);
		free_cli(&c);
		return 2;
	}
	if (!strcmp(c.cmd, "plugins")) {
		rc = cmd_plugins(&ss);
		goto out;
	}
	session_run_opts(&ss, &c.ro);
	if ((rc = apply_jobs(&c)))
		goto out;
	cap_jobs_by_fds(&c.ro);

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
		/* the plugins see a quick-form run as they see a workload's */
		if (host_validate(&ss.hc, wl, &err)) {
			fprintf(stderr, "gearbox: %s\n", err.msg);
			rc = 2;
			goto out;
		}
	} else if (!c.workload) {
		rc = usage_error(c.cmd, "%s", "no workload given");
		goto out;
	} else if (c.timeout_ms || c.retries || c.arg_file) {
		rc = usage_error(c.cmd, "%s", "--timeout, --retries and -a belong to the quick form; set timeout_ms and retries in the workload");
		goto out;
	} else if (workload_load_reg(c.workload, &ss.hc.reg, &wl, &err) || host_validate(&ss.hc, wl, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}

	if (session_policies(&ss, c.policy_arg, wl, !strcmp(c.cmd, "check"), &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	c.ro.policy = ss.pol;
	if (c.nodes && nodes_spec_check(c.nodes, ss.cfg.nodes, ss.cfg.path, &err)) {
		fprintf(stderr, "gearbox: %s\n", err.msg);
		rc = 2;
		goto out;
	}
	if (!strcmp(c.cmd, "check")) {
		rc = cmd_check(&c, wl, &ss.cfg);
	} else if (c.nodes) {
		default_history(&c, &ss.cfg);
		rc = run_on_nodes(&c, wl, &ss, &err);
	} else {
		default_history(&c, &ss.cfg);
		rc = engine_run(wl, &c.ro, &err);
		if (rc == 2)
			fprintf(stderr, "gearbox: %s\n", err.msg);
	}
out:
	workload_free(wl);
	session_close(&ss);
	free_cli(&c);
	return rc;
}
