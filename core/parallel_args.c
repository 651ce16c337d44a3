/* parallel_args.c - `gearbox parallel`'s command line: GNU parallel's options
 * and the input sources (:::, ::::, :::+, ::::+, stdin). The expansion of
 * replacement strings into one command per job is parallel_jobs.c's.
 *
 * Options come before the command (GNU's require_order); `:::`, `:::+`,
 * `::::` and `::::+` start input sources after it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "parallel.h"
#include "workload.h"

/* ---- options ------------------------------------------------------------- */

enum {
	O_JOBS = 1, O_KEEP, O_NOKEEP, O_TAG, O_TAGSTRING, O_MAXARGS, O_EXACTARGS, O_MULTI,
	O_XCTX, O_COLSEP, O_DRYRUN, O_BAR, O_ETA, O_PROGRESS, O_GROUP, O_LINEBUF,
	O_UNGROUP, O_RESULTS, O_JOBLOG, O_RESUME, O_RESUMEFAILED, O_RETRYFAILED,
	O_RETRIES, O_TIMEOUT, O_DELAY, O_HALT, O_LOAD, O_MEMFREE, O_NULL, O_QUOTE,
	O_SHUF, O_ENV, O_ARGFILE, O_REPLACE, O_LINK, O_WILLCITE, O_VERBOSE, O_NORUNEMPTY,
	O_VERSION, O_HELP, O_SILENT, O_SSHLOGIN, O_SLF, O_SSHCMD, O_UNSUPPORTED,
};

struct opt {
	const char *names;  /* |-separated long names */
	char shortc;        /* or 0 */
	int arg;            /* 1 required, 2 optional (attached only) */
	int id;
};

static const struct opt opts[] = {
	{"jobs|max-procs|maxprocs", 'j', 1, O_JOBS},
	{"", 'P', 1, O_JOBS},
	{"keep-order|keeporder", 'k', 0, O_KEEP},
	{"no-keep-order|nokeeporder|nok|no-k", 0, 0, O_NOKEEP},
	{"tag", 0, 0, O_TAG},
	{"tag-string|tagstring", 0, 1, O_TAGSTRING},
	{"max-args|maxargs", 'n', 1, O_MAXARGS},
	{"max-replace-args|maxreplaceargs", 'N', 1, O_EXACTARGS},
	{"", 'm', 0, O_MULTI},
	{"", 'X', 0, O_XCTX},
	{"col-sep|colsep", 'C', 1, O_COLSEP},
	{"dry-run|dryrun|dr", 0, 0, O_DRYRUN},
	{"bar", 0, 0, O_BAR},
	{"eta", 0, 0, O_ETA},
	{"progress", 0, 0, O_PROGRESS},
	{"group", 'g', 0, O_GROUP},
	{"line-buffer|line-buffered|linebuffer|linebuffered|lb", 0, 0, O_LINEBUF},
	{"ungroup", 'u', 0, O_UNGROUP},
	{"results|result|res", 0, 1, O_RESULTS},
	{"joblog|jl", 0, 1, O_JOBLOG},
	{"resume", 0, 0, O_RESUME},
	{"resume-failed|resumefailed", 0, 0, O_RESUMEFAILED},
	{"retry-failed|retryfailed", 0, 0, O_RETRYFAILED},
	{"retries", 0, 1, O_RETRIES},
	{"timeout", 0, 1, O_TIMEOUT},
	{"delay", 0, 1, O_DELAY},
	{"halt-on-error|halt", 0, 1, O_HALT},
	{"load", 0, 1, O_LOAD},
	{"memfree", 0, 1, O_MEMFREE},
	{"null", '0', 0, O_NULL},
	{"quote", 'q', 0, O_QUOTE},
	{"shuf", 0, 0, O_SHUF},
	{"env", 0, 1, O_ENV},
	{"arg-file|argfile", 'a', 1, O_ARGFILE},
	{"", 'I', 1, O_REPLACE},
	{"link|xapply", 0, 0, O_LINK},
	{"will-cite|willcite|nn|nonotice|no-notice", 0, 0, O_WILLCITE},
	{"verbose", 't', 0, O_VERBOSE},
	{"no-run-if-empty|norunifempty", 'r', 0, O_NORUNEMPTY},
	{"version", 'V', 0, O_VERSION},
	{"help", 'h', 0, O_HELP},
	{"silent", 0, 0, O_SILENT},
	{"sshlogin", 'S', 1, O_SSHLOGIN},
	{"sshloginfile|slf", 0, 1, O_SLF},
	{"ssh", 0, 1, O_SSHCMD},
	/* GNU parallel's other options: named, refused */
	{"xargs|sql|sql-master|sqlmaster|sql-worker|sqlworker|sql-and-worker|sqlandworker"
	 "|latest-line|latestline|ll|tmux|tmux-pane|tmuxpane|parens|plus|extensionreplace|er"
	 "|basenamereplace|bnr|dirnamereplace|dnr|basenameextensionreplace|bner|seqreplace"
	 "|slotreplace|ssh-delay|sshdelay|noswap|max-line-length-allowed"
	 "|maxlinelengthallowed|number-of-cpus|numberofcpus|number-of-sockets"
	 "|numberofsockets|number-of-cores|numberofcores|number-of-threads"
	 "|numberofthreads|use-sockets-instead-of-threads|use-cores-instead-of-threads"
	 "|use-cpus-instead-of-cores|shell-quote|shellquote|ctag|ctag-string|ctagstring"
	 "|color|colour|color-failed|colour-failed|cf|onall|nonall|filter-hosts|filterhosts"
	 "|controlmaster|transfer-file|transferfile|transfer-files|transferfiles|tf"
	 "|return|trc|transfer|cleanup|basefile|bf|template|tmpl|ctrl-c|no-ctrl-c"
	 "|work-dir|workdir|wd|rsync-opts|tmpdir|tempdir|use-compress-program"
	 "|compress-program|use-decompress-program|decompress-program|compress"
	 "|open-tty|tty|total-jobs|totaljobs|total|arg-sep|argsep|arg-file-sep|argfilesep"
	 "|recordenv|record-env|profile|tollef|gnu|linkinputsource|memsuspend|term-seq"
	 "|termseq|delimiter|max-chars|maxchars|replace|eof|process-slot-var|csv"
	 "|max-lines|maxlines|interactive|show-limits|showlimits|exit|semaphore"
	 "|semaphore-timeout|semaphoretimeout|st|semaphore-name|semaphorename|id|fg|bg"
	 "|wait|shebang|hashbang|pipe|pipepart|block|block-size|recstart|recend|regexp"
	 "|cat|fifo|header|tee|files|group-by|shebang-wrap|fast|debug|bibtex|citation"
	 "|embed|filter|keep-order-by|results-only",
	 0, 0, O_UNSUPPORTED},
	{"", 'D', 0, O_UNSUPPORTED}, {"", 'M', 0, O_UNSUPPORTED},
	{"", 'd', 0, O_UNSUPPORTED}, {"", 's', 0, O_UNSUPPORTED},
	{"", 'L', 0, O_UNSUPPORTED}, {"", 'l', 0, O_UNSUPPORTED},
	{"", 'E', 0, O_UNSUPPORTED}, {"", 'e', 0, O_UNSUPPORTED},
	{"", 'i', 0, O_UNSUPPORTED}, {"", 'x', 0, O_UNSUPPORTED},
	{"", 'p', 0, O_UNSUPPORTED}, {"", 'o', 0, O_UNSUPPORTED},
	{"", 'T', 0, O_UNSUPPORTED}, {"", 'H', 0, O_UNSUPPORTED},
	{"", 'B', 0, O_UNSUPPORTED}, {"", 'W', 0, O_UNSUPPORTED},
	{"", 'U', 0, O_UNSUPPORTED}, {"", 'J', 0, O_UNSUPPORTED},
	{"", 'v', 0, O_UNSUPPORTED},
};

static const struct opt *find_long(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		const char *p = opts[i].names;
		while (*p) {
			const char *bar = strchr(p, '|');
			size_t l = bar ? (size_t)(bar - p) : strlen(p);
			if (l == n && !strncmp(p, name, n))
				return &opts[i];
			p += l + (bar != NULL);
		}
	}
	return NULL;
}

static const struct opt *find_short(char c)
{
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (opts[i].shortc == c)
			return &opts[i];
	return NULL;
}

static int bad(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "gearbox parallel: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return PAR_EXIT_ERROR;
}

static int pos_int(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 100000000)
		return -1;
	*out = (int)v;
	return 0;
}

/* GNU's time notation: 1.5, 2s, 3m, 1h, 1d, 1h30m. */
static int parse_secs(const char *s, double *out)
{
	double total = 0;
	const char *p = s;
	if (!*p)
		return -1;
	while (*p) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (errno || end == p || v < 0 || !isfinite(v))
			return -1;
		p = end;
		double mul = 1;
		if (*p == 's') mul = 1, p++;
		else if (*p == 'm') mul = 60, p++;
		else if (*p == 'h') mul = 3600, p++;
		else if (*p == 'd') mul = 86400, p++;
		else if (*p)
			return -1;
		total += v * mul;
	}
	*out = total;
	return 0;
}

/* 100k, 1G, 2M ... (GNU: k=1024, as --memfree documents) */
static int parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	double mul = 1;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = 1024.0; end++; break;
	case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end)
		return -1;
	*out = (int64_t)(v * mul);
	return 0;
}

static int parse_halt(const char *s, struct par_opts *o)
{
	static const struct { const char *k, *v; } exp[] = {
		{"0", "never"}, {"1", "soon,fail=1"}, {"2", "now,fail=1"},
		{"-1", "soon,success=1"}, {"-2", "now,success=1"},
	};
	for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++)
		if (!strcmp(s, exp[i].k))
			s = exp[i].v;
	char buf[128];
	size_t n = strlen(s);
	if (n >= sizeof buf - 16)
		return -1;
	if (n > 1 && s[n - 1] == '%' && strspn(s, "0123456789") == n - 1)
		snprintf(buf, sizeof buf, "soon,fail=%s", s);
	else
		snprintf(buf, sizeof buf, "%s", s);
	if (!strcmp(buf, "never")) {
		o->halt_when = 0;
		return 0;
	}
	char *c1 = strchr(buf, ','), *eq = c1 ? strchr(c1, '=') : NULL;
	if (!c1 || !eq)
		return -1;
	*c1 = *eq = 0;
	if (!strcmp(buf, "soon")) o->halt_when = 1;
	else if (!strcmp(buf, "now")) o->halt_when = 2;
	else return -1;
	const char *k = c1 + 1, *v = eq + 1;
	if (!strcmp(k, "fail")) o->halt_kind = PH_FAIL;
	else if (!strcmp(k, "success")) o->halt_kind = PH_SUCCESS;
	else if (!strcmp(k, "done")) o->halt_kind = PH_DONE;
	else return -1;
	size_t d = strspn(v, "0123456789");
	if (d == 0 || d > 9)
		return -1;
	if (v[d] == '%' && !v[d + 1]) {
		o->halt_pct = 1;
		o->halt_count = atof(v) / 100.0;
	} else if (!v[d]) {
		o->halt_count = atof(v);
	} else {
		return -1;
	}
	return 0;
}

static int add_src(struct par_opts *o, char **v, size_t n, int linked)
{
	struct par_src *ns = realloc(o->src, (size_t)(o->nsrc + 1) * sizeof *ns);
	if (!ns)
		return -1;
	o->src = ns;
	o->src[o->nsrc++] = (struct par_src){v, n, linked};
	return 0;
}

/* Reads a file (or stdin for "-") into values split at \n (\0 with -0). */
static int read_src(struct par_opts *o, const char *path, int linked)
{
	FILE *f;
	if (!strcmp(path, "-")) {
		if (o->stdin_used)
			return add_src(o, calloc(1, sizeof(char *)), 0, linked);
		o->stdin_used = 1;
		f = stdin;
	} else {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return bad("%s: is a directory, not an argument file", path, NULL), -1;
		f = fopen(path, "re");
		if (!f)
			return bad("%s: cannot read: %s", path, strerror(errno)), -1;
	}
	char **v = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	ssize_t len;
	int delim = o->null ? 0 : '\n';
	while ((len = getdelim(&line, &lcap, delim, f)) >= 0) {
		if (len && line[len - 1] == delim)
			line[--len] = 0;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				break;
			v = nv;
		}
		v[n] = malloc((size_t)len + 1);
		if (!v[n])
			break;
		memcpy(v[n], line, (size_t)len + 1);
		v[++n] = NULL;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (!v)
		v = calloc(1, sizeof *v);
	return add_src(o, v, n, linked);
}

static int dup_src(struct par_opts *o, char **argv, int from, int to, int linked)
{
	/* an empty ::: is one empty value, as in GNU parallel */
	char **v = calloc((size_t)(to - from + 2), sizeof *v);
	if (!v)
		return -1;
	for (int i = from; i < to; i++)
		v[i - from] = strdup(argv[i]);
	if (from == to)
		v[0] = strdup("");
	return add_src(o, v, from == to ? 1 : (size_t)(to - from), linked);
}

static int is_sep(const char *s)
{
	return !strcmp(s, ":::") || !strcmp(s, ":::+") || !strcmp(s, "::::") || !strcmp(s, "::::+");
}

/* GNU's --colsep is a Perl regular expression: the common escapes become
 * POSIX ones (\t \n \s \S \d \D \w \W), the rest is taken as ERE. */
static int perl_re(struct par_opts *o, const char *re)
{
	struct buf *b = &o->re_buf;
	b->len = 0;
	for (const char *p = re; *p; p++) {
		if (*p != '\\' || !p[1]) {
			buf_add(b, p, 1);
			continue;
		}
		const char *r = NULL;
		switch (*++p) {
		case 't': r = "\t"; break;
		case 'n': r = "\n"; break;
		case 's': r = "[[:space:]]"; break;
		case 'S': r = "[^[:space:]]"; break;
		case 'd': r = "[0-9]"; break;
		case 'D': r = "[^0-9]"; break;
		case 'w': r = "[[:alnum:]_]"; break;
		case 'W': r = "[^[:alnum:]_]"; break;
		}
		if (r) {
			buf_adds(b, r);
		} else {
			buf_add(b, p - 1, 2);
		}
	}
	buf_add(b, "", 1);
	b->len--;
	return 0;
}

/* --sshloginfile FILE: one sshlogin a line, # comments; ".." is
 * ~/.parallel/sshloginfile, as in GNU parallel. */
static int read_slf(struct par_opts *o, const char *path)
{
	struct buf p = {0};
	if (!strcmp(path, "..") || !strcmp(path, "."))
		buf_addf(&p, "%s/.parallel/sshloginfile", getenv("HOME") ? getenv("HOME") : ".");
	else
		buf_adds(&p, path);
	FILE *f = p.p ? fopen(p.p, "re") : NULL;
	if (!f) {
		int rc = bad("--sshloginfile %s: cannot read: %s", p.p ? p.p : path, strerror(errno));
		buf_free(&p);
		return rc;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, any = 0;
	while (!rc && (n = getline(&line, &cap, f)) >= 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = 0;
		char *s = line + strspn(line, " \t");
		if (!*s || *s == '#')
			continue;
		any = 1;
		if (strv_push(&o->sshlogin, &o->nsshlogin, strdup(s)))
			rc = bad("out of memory%s%s", "", "");
	}
	free(line);
	fclose(f);
	if (!rc && !any)
		rc = bad("--sshloginfile %s: no sshlogin in it%s", p.p, "");
	buf_free(&p);
	return rc;
}

static int take(struct par_opts *o, const struct opt *op, const char *name, const char *val)
{
	switch (op->id) {
	case O_JOBS: o->jobs = val; break;
	case O_KEEP: o->keep = 1; break;
	case O_NOKEEP: o->keep = 0; break;
	case O_TAG: o->tag = 1; break;
	case O_TAGSTRING: o->tagstring = val; break;
	case O_MAXARGS:
		if (pos_int(val, &o->max_args))
			return bad("%s %s: expected a number", name, val);
		break;
	case O_EXACTARGS:
		if (pos_int(val, &o->exact_args))
			return bad("%s %s: expected a number", name, val);
		break;
	case O_MULTI: o->multi = 1; break;
	case O_XCTX: o->ctx_replace = 1; break;
	case O_COLSEP:
		if (o->have_re)
			regfree(&o->colsep_re);
		if (perl_re(o, val) || regcomp(&o->colsep_re, o->re_buf.p, REG_EXTENDED))
			return bad("%s %s: not a regular expression", name, val);
		o->have_re = 1;
		o->colsep = val;
		break;
	case O_DRYRUN: o->dry_run = 1; break;
	case O_BAR: o->bar = 1; break;
	case O_ETA: o->eta = 1; break;
	case O_PROGRESS: o->progress = 1; break;
	case O_GROUP: o->out = PO_GROUP; break;
	case O_LINEBUF: o->out = PO_LINE; break;
	case O_UNGROUP: o->out = PO_UNGROUP; break;
	case O_RESULTS: o->results = val; break;
	case O_JOBLOG: o->joblog = val; break;
	case O_RESUME: o->resume = 1; break;
	case O_RESUMEFAILED: o->resume_failed = 1; break;
	case O_RETRYFAILED: o->retry_failed = 1; break;
	case O_RETRIES:
		if (pos_int(val, &o->retries) || o->retries > 1000)
			return bad("%s %s: expected a number of attempts from 0 to 1000", name, val);
		break;
	case O_TIMEOUT: {
		size_t n = strlen(val);
		if (n > 1 && val[n - 1] == '%') {
			char *end;
			o->timeout_pct = strtod(val, &end);
			if (end != val + n - 1 || !(o->timeout_pct > 0))
				return bad("%s %s: expected seconds (2.5, 1m30s) or a percentage (200%%)", name, val);
			o->timeout_s = 0;
		} else if (parse_secs(val, &o->timeout_s)) {
			return bad("%s %s: expected seconds (2.5, 1m30s) or a percentage (200%%)", name, val);
		}
		break;
	}
	case O_DELAY:
		if (parse_secs(val, &o->delay_s))
			return bad("%s %s: expected seconds (0.5, 2s, 1m)", name, val);
		break;
	case O_HALT:
		if (parse_halt(val, o))
			return bad("%s %s: expected never, soon|now,fail|success|done=N[%%], or 0, 1, 2, -1, -2", name, val);
		break;
	case O_LOAD: {
		char *end;
		double v = strtod(val, &end);
		if (end == val || v <= 0 || (*end && strcmp(end, "%")))
			return bad("%s %s: expected a load average or a percentage of the cores", name, val);
		o->load_max = *end ? -v : v;
		break;
	}
	case O_MEMFREE:
		if (parse_size(val, &o->memfree))
			return bad("%s %s: expected a size (500M, 1G)", name, val);
		break;
	case O_NULL: o->null = 1; break;
	case O_QUOTE: o->quote = 1; break;
	case O_SHUF: o->shuf = 1; break;
	case O_ENV: /* local jobs inherit the whole environment */
		if (!strcmp(val, "_"))
			return bad("%s _: needs --record-env, which gearbox parallel does not support%s", name, "");
		break;
	case O_ARGFILE:
		if (read_src(o, val, 0))
			return PAR_EXIT_ERROR;
		break;
	case O_REPLACE:
		if (!*val)
			return bad("%s: the replacement string is empty%s", name, "");
		o->rpl = val;
		break;
	case O_LINK: o->link = 1; break;
	case O_WILLCITE: case O_SILENT: break;
	case O_VERBOSE: o->verbose = 1; break;
	case O_NORUNEMPTY: o->no_run_if_empty = 1; break;
	case O_VERSION:
		printf("gearbox parallel (gearbox 0.1.0): GNU parallel's options, run by gearbox\n");
		return -2;
	case O_HELP:
		printf("usage: gearbox parallel [options] [command [arguments]] (::: arguments|:::: argfile(s))...\n"
		       "GNU parallel's options; see docs/parallel.md for each one's status.\n");
		return -2;
	case O_SSHLOGIN: /* checked with the others when the run starts (parallel_plan.c) */
		if (strv_push(&o->sshlogin, &o->nsshlogin, strdup(val)))
			return bad("out of memory%s%s", "", "");
		break;
	case O_SLF:
		return read_slf(o, val);
	case O_SSHCMD:
		o->ssh_cmd = val;
		break;
	default:
		return bad("%s: GNU parallel's option is not supported by gearbox parallel (see docs/parallel.md)%s", name, "");
	}
	return 0;
}

int par_parse(int argc, char **argv, struct par_opts *o)
{
	memset(o, 0, sizeof *o);
	o->rpl = "{}";
	const char *sh = getenv("PARALLEL_SHELL");
	if (!sh || !*sh)
		sh = getenv("SHELL");
	o->shell = sh && *sh ? sh : "/bin/sh";
	int i = 1;
	while (i < argc) {
		char *a = argv[i];
		if (a[0] != '-' || !a[1] || is_sep(a))
			break;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[1] == '-') {
			char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			const struct opt *op = find_long(a + 2, n);
			if (!op) {
				fprintf(stderr, "gearbox parallel: unknown option %.*s\n", (int)(n + 2), a);
				return PAR_EXIT_ERROR;
			}
			char name[128];
			snprintf(name, sizeof name, "%.*s", (int)(n + 2 < 100 ? n + 2 : 100), a);
			const char *val = NULL;
			if (op->arg && op->id != O_UNSUPPORTED) {
				if (eq)
					val = eq + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return bad("%s needs an argument%s", name, "");
			} else if (eq && op->id != O_UNSUPPORTED) {
				return bad("%s takes no argument%s", name, "");
			}
			int r = take(o, op, name, val);
			if (r)
				return r;
			i++;
			continue;
		}
		/* bundled short options: -kj2, -j 2, -0 */
		for (char *p = a + 1; *p; p++) {
			const struct opt *op = find_short(*p);
			char name[3] = {'-', *p, 0};
			if (!op) {
				fprintf(stderr, "gearbox parallel: unknown option -%c\n", *p);
				return PAR_EXIT_ERROR;
			}
			if (op->arg && op->id != O_UNSUPPORTED) {
				const char *val = p[1] ? p + 1 : i + 1 < argc ? argv[++i] : NULL;
				if (!val)
					return bad("%s needs an argument%s", name, "");
				int r = take(o, op, name, val);
				if (r)
					return r;
				break;
			}
			int r = take(o, op, name, NULL);
			if (r)
				return r;
		}
		i++;
	}
	int start = i;
	while (i < argc && !is_sep(argv[i]))
		i++;
	o->cmd = argv + start;
	o->ncmd = i - start;
	while (i < argc) {
		const char *sep = argv[i++];
		int s = i;
		while (i < argc && !is_sep(argv[i]))
			i++;
		int linked = sep[strlen(sep) - 1] == '+';
		if (!strncmp(sep, "::::", 4)) {
			for (int k = s; k < i; k++)
				if (read_src(o, argv[k], k == s ? linked : 0))
					return PAR_EXIT_ERROR;
		} else if (dup_src(o, argv, s, i, linked)) {
			return bad("out of memory%s%s", "", "");
		}
	}
	if (o->nsrc == 0 && read_src(o, "-", 0))
		return PAR_EXIT_ERROR;
	if (o->resume_failed || o->retry_failed || o->resume) {
		if (!o->joblog)
			return bad("--resume, --resume-failed and --retry-failed need --joblog%s%s", "", "");
	}
	if (o->multi && o->ctx_replace)
		return bad("-m and -X: give one of them%s%s", "", "");
	return 0;
}

void par_opts_free(struct par_opts *o)
{
	for (int i = 0; i < o->nsshlogin; i++)
		free(o->sshlogin[i]);
	free(o->sshlogin);
	for (int s = 0; s < o->nsrc; s++) {
		for (size_t i = 0; i < o->src[s].n; i++)
			free(o->src[s].v[i]);
		free(o->src[s].v);
	}
	free(o->src);
	for (size_t i = 0; i < o->ncolstore; i++)
		free(o->colstore[i]);
	free(o->colstore);
	free(o->argstore);
	buf_free(&o->re_buf);
	if (o->have_re)
		regfree(&o->colsep_re);
}
