/* import.c - `gearbox import compdb|ninja`: a workload from a build.
 *
 * compdb reads a JSON compilation database (compile_commands.json, written
 * by CMake, Meson and bear): one task per entry. ninja asks ninja itself,
 * so the graph is ninja's, never a parse of build.ninja: `-t targets all`
 * for every output and its rule, `-t query` for each output's inputs,
 * `-t compdb` for the commands of edges with inputs and `-t commands -s T`
 * for the others. Outputs with one rule, inputs and command are one edge;
 * one task per edge with a command, deps on the edges that make its inputs
 * (through phony edges too).
 *
 * Each task gets argv (the entry's `arguments`, or its `command` split as
 * a POSIX shell would when it has no shell operators; `sh` when it has), cwd
 * (the entry's directory), inputs and outputs, and meta.depfile when the
 * command writes one (-MF FILE, or -MD/-MMD next to -o OUT: OUT's stem.d);
 * with --depfile-field it is the cache plugin's task field `depfile` instead.
 * Ids are the output paths (the source file when there is none), made
 * unique. The workload goes to stdout or to -o FILE, written whole (a temp
 * file renamed) so a failed import leaves no half a workload.
 */
#include "import.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static const char usage_import[] =
	"usage: gearbox import compdb compile_commands.json [-o WORKLOAD.json]\n"
	"       gearbox import ninja [build.ninja] [-o WORKLOAD.json]\n"
	"\n"
	"Writes a workload with one task per compile command (compdb) or per\n"
	"build edge with a command (ninja, asked through `ninja -t`), with deps\n"
	"from the build graph, inputs, outputs and depfiles (meta.depfile).\n"
	"  -o FILE            write the workload there (default: stdout)\n"
	"  --depfile-field    a depfile as the task field `depfile` (the cache plugin's:\n"
	"                     the workload then needs the cache enabled), not meta.depfile\n";

/* ---- splitting a command as sh would ---------------------------------- */

/* Splits s into words with POSIX quoting (' " \); returns a NULL-terminated
 * array (caller frees each and it), or NULL when s has an unquoted shell
 * operator or expansion (| & ; < > ( ) $ ` * ? [ ~ #) or an open quote:
 * then the command needs a shell. */
static char **split_sh(const char *s)
{
	size_t n = 0, cap = 8;
	char **v = calloc(cap, sizeof *v);
	struct buf w = {0};
	int inword = 0;
	if (!v)
		return NULL;
	for (const char *p = s;; p++) {
		char c = *p;
		if (c == 0 || c == ' ' || c == '\t' || c == '\n') {
			if (inword) {
				if (n + 2 > cap) {
					cap *= 2;
					char **nv = realloc(v, cap * sizeof *v);
					if (!nv)
						goto fail;
					v = nv;
				}
				v[n++] = w.p ? w.p : strdup("");
				v[n] = NULL;
				w = (struct buf){0};
				inword = 0;
			}
			if (!c)
				break;
			continue;
		}
		if (strchr("|&;<>()$`*?[#~", c))
			goto fail;
		inword = 1;
		if (c == '\'') {
			const char *q = strchr(p + 1, '\'');
			if (!q)
				goto fail;
			buf_add(&w, p + 1, (size_t)(q - p - 1));
			p = q;
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '$' || *p == '`')
					goto fail;
				if (*p == '\\' && p[1] && strchr("$`\"\\\n", p[1]))
					p++;
				buf_add(&w, p, 1);
			}
			if (!*p)
				goto fail;
		} else if (c == '\\') {
			if (!p[1])
				goto fail;
			p++;
			if (*p != '\n')
				buf_add(&w, p, 1);
		} else {
			buf_add(&w, p, 1);
		}
		if (!w.p)
			buf_add(&w, "", 0);
	}
	if (!n)
		goto fail;
	return v;
fail:
	buf_free(&w);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- one task --------------------------------------------------------- */

/* dir/path unless path is absolute. */
static char *abs_in(const char *dir, const char *path)
{
	struct buf b = {0};
	if (path[0] == '/' || !dir || !*dir)
		buf_adds(&b, path);
	else
		buf_addf(&b, "%s/%s", dir, path);
	return b.p;
}

/* The depfile a compiler command writes, or NULL (new string). */
static char *depfile_of(char *const *argv, const char *out)
{
	int md = 0;
	for (size_t i = 0; argv[i]; i++) {
		if (!strcmp(argv[i], "-MF") && argv[i + 1])
			return strdup(argv[i + 1]);
		if (!strncmp(argv[i], "-MF", 3) && argv[i][3])
			return strdup(argv[i] + 3);
		if (!strcmp(argv[i], "-MD") || !strcmp(argv[i], "-MMD"))
			md = 1;
	}
	if (!md || !out)
		return NULL;
	/* gcc: the output's name with its suffix replaced by .d */
	struct buf b = {0};
	const char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
	if (dot && (!slash || dot > slash))
		buf_add(&b, out, (size_t)(dot - out));
	else
		buf_adds(&b, out);
	buf_adds(&b, ".d");
	return b.p;
}

/* The -o argument, or NULL (borrowed). */
static const char *output_of(char *const *argv)
{
	for (size_t i = 0; argv[i]; i++) {
		if (!strcmp(argv[i], "-o") && argv[i + 1])
			return argv[i + 1];
		if (!strncmp(argv[i], "-o", 2) && argv[i][2] && argv[i][0] == '-' && argv[i][1] == 'o')
			return argv[i] + 2;
	}
	return NULL;
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* A task from a command (argv, or a shell command when argv is NULL). */
static json_t *make_task(const char *id, const char *dir, char *const *argv, const char *sh,
			 json_t *inputs, json_t *outputs, const char *depfile, int depfile_field)
{
	json_t *t = json_object();
	json_object_set_new(t, "id", json_string(id));
	if (argv)
		json_object_set_new(t, "argv", strv_json(argv));
	else
		json_object_set_new(t, "sh", json_string(sh));
	if (dir && *dir)
		json_object_set_new(t, "cwd", json_string(dir));
	if (inputs && json_array_size(inputs))
		json_object_set(t, "inputs", inputs);
	if (outputs && json_array_size(outputs))
		json_object_set(t, "outputs", outputs);
	if (depfile && depfile_field) /* the cache plugin's task field */
		json_object_set_new(t, "depfile", json_string(depfile));
	else if (depfile)
		json_object_set_new(t, "meta", json_pack("{s:s}", "depfile", depfile));
	return t;
}

/* Makes id unique in ids (an object used as a set): id, id#2, id#3, ... */
static char *unique_id(json_t *ids, const char *id)
{
	struct buf b = {0};
	buf_adds(&b, id);
	for (int k = 2; json_object_get(ids, b.p); k++) {
		b.len = 0;
		buf_addf(&b, "%s#%d", id, k);
	}
	json_object_set_new(ids, b.p, json_true());
	return b.p;
}

/* ---- writing ------------------------------------------------------------ */

static int write_workload(json_t *wl, const char *out, struct err *err)
{
	if (!out || !strcmp(out, "-")) {
		if (json_dumpf(wl, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) || fputc('\n', stdout) == EOF ||
		    fflush(stdout))
			return err_set(err, "stdout: %s", strerror(errno));
		return 0;
	}
	struct buf tmp = {0};
	buf_addf(&tmp, "%s.tmp.%ld", out, (long)getpid());
	FILE *f = fopen(tmp.p, "w");
	if (!f) {
		err_set(err, "%s: cannot write: %s", out, strerror(errno));
		buf_free(&tmp);
		return -1;
	}
	int bad = json_dumpf(wl, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0;
	bad |= fputc('\n', f) == EOF;
	bad |= ferror(f);
	bad |= fclose(f) != 0;
	if (bad || rename(tmp.p, out)) {
		err_set(err, "%s: cannot write: %s", out, strerror(errno ? errno : EIO));
		unlink(tmp.p);
		buf_free(&tmp);
		return -1;
	}
	buf_free(&tmp);
	return 0;
}

/* ---- compdb --------------------------------------------------------------- */

/* One compdb entry into a task; NULL with err. ids: the set of ids so far. */
static json_t *compdb_task(json_t *e, size_t i, const char *file, json_t *ids, int dff,
			   struct err *err)
{
	const char *dir = json_string_value(json_object_get(e, "directory"));
	const char *src = json_string_value(json_object_get(e, "file"));
	json_t *args = json_object_get(e, "arguments");
	const char *cmd = json_string_value(json_object_get(e, "command"));
	if (!dir || !src || (!json_is_array(args) && !cmd)) {
		err_set(err, "%s: entry %zu: expected \"directory\", \"file\" and \"arguments\" or \"command\"",
			file, i);
		return NULL;
	}
	char **argv = NULL;
	if (json_is_array(args)) {
		size_t n = json_array_size(args), k;
		json_t *a;
		if (!n) {
			err_set(err, "%s: entry %zu: \"arguments\" is empty", file, i);
			return NULL;
		}
		argv = calloc(n + 1, sizeof *argv);
		json_array_foreach(args, k, a) {
			if (!json_is_string(a)) {
				strv_free(argv);
				err_set(err, "%s: entry %zu: arguments[%zu] is not a string", file, i, k);
				return NULL;
			}
			argv[k] = strdup(json_string_value(a));
		}
	} else {
		argv = split_sh(cmd); /* NULL: it needs a shell */
	}
	const char *out = json_string_value(json_object_get(e, "output"));
	if (!out && argv)
		out = output_of(argv);
	char *depfile = argv ? depfile_of(argv, out) : NULL;
	json_t *inputs = json_array(), *outputs = json_array();
	json_array_append_new(inputs, json_string(src));
	if (out)
		json_array_append_new(outputs, json_string(out));
	char *aout = out ? abs_in(dir, out) : NULL;
	char *id = unique_id(ids, out ? aout : src);
	json_t *t = make_task(id, dir, argv, cmd, inputs, outputs, depfile, dff);
	free(aout);
	free(id);
	free(depfile);
	json_decref(inputs);
	json_decref(outputs);
	strv_free(argv);
	return t;
}

static int import_compdb(const char *file, const char *out, int dff, struct err *err)
{
	json_error_t je;
	json_t *db = json_load_file(file, 0, &je);
	if (!db)
		return err_set(err, "%s:%d: %s", file, je.line, je.text);
	if (!json_is_array(db)) {
		json_decref(db);
		return err_set(err, "%s: expected an array of compile commands", file);
	}
	json_t *tasks = json_array(), *ids = json_object();
	size_t i;
	json_t *e;
	int rc = 0;
	json_array_foreach(db, i, e) {
		if (!json_is_object(e)) {
			rc = err_set(err, "%s: entry %zu: expected an object", file, i);
			break;
		}
		json_t *t = compdb_task(e, i, file, ids, dff, err);
		if (!t) {
			rc = -1;
			break;
		}
		json_array_append_new(tasks, t);
	}
	if (!rc) {
		json_t *wl = json_pack("{s:s, s:o}", "name", file, "tasks", tasks);
		tasks = NULL;
		rc = write_workload(wl, out, err);
		json_decref(wl);
	}
	json_decref(tasks);
	json_decref(ids);
	json_decref(db);
	return rc;
}

/* ---- ninja ---------------------------------------------------------------- */

/* Runs argv, returns its stdout (new string) or NULL with err naming the
 * command and how it ended. */
static char *capture(char *const *argv, struct err *err)
{
	int p[2];
	if (pipe(p))
		return err_set(err, "pipe: %s", strerror(errno)), NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		err_set(err, "fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "gearbox: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	struct buf b = {0};
	char tmp[65536];
	ssize_t n;
	while ((n = read(p[0], tmp, sizeof tmp)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			buf_add(&b, tmp, (size_t)n);
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		struct buf cmd = {0};
		for (size_t i = 0; argv[i]; i++)
			buf_addf(&cmd, "%s%s", i ? " " : "", argv[i]);
		err_set(err, "`%s` failed (%s %d)", cmd.p, WIFEXITED(st) ? "exit" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		buf_free(&cmd);
		buf_free(&b);
		return NULL;
	}
	if (!b.p)
		buf_add(&b, "", 0);
	return b.p;
}

/* Parses `ninja -t query` output into an object OUTPUT -> [inputs...]
 * (explicit, implicit and order-only alike), with "phony" edges' outputs
 * mapped to their inputs the same way. Lines:
 *   target:
 *     input: RULE
 *       [| ||] path
 *     outputs:
 *       path */
static json_t *parse_query(char *text, json_t *rule_of)
{
	json_t *in = json_object();
	char *save = NULL, *target = NULL;
	int mode = 0; /* 1 inputs, 2 outputs */
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] != ' ') {
			size_t l = strlen(line);
			if (l && line[l - 1] == ':')
				line[l - 1] = 0;
			target = line;
			json_object_set_new(in, target, json_array());
			mode = 0;
			continue;
		}
		char *s = line;
		while (*s == ' ')
			s++;
		if (!strncmp(s, "input:", 6)) {
			mode = 1;
			const char *rule = s + 6;
			while (*rule == ' ')
				rule++;
			if (target)
				json_object_set_new(rule_of, target, json_string(rule));
			continue;
		}
		if (!strncmp(s, "outputs:", 8)) {
			mode = 2;
			continue;
		}
		if (mode != 1 || !target)
			continue;
		if (!strncmp(s, "|| ", 3))
			s += 3;
		else if (!strncmp(s, "| ", 2))
			s += 2;
		json_array_append_new(json_object_get(in, target), json_string(s));
	}
	return in;
}

/* The edges (tasks) that make path, through phony edges: appended to deps
 * (an object used as a set of task ids). */
static void deps_of(const char *path, json_t *task_of, json_t *inputs_of, json_t *rule_of,
		    json_t *deps, int depth)
{
	if (depth > 64)
		return;
	const char *tid = json_string_value(json_object_get(task_of, path));
	if (tid) {
		json_object_set_new(deps, tid, json_true());
		return;
	}
	const char *rule = json_string_value(json_object_get(rule_of, path));
	if (!rule || strcmp(rule, "phony"))
		return;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(inputs_of, path), i, x)
		deps_of(json_string_value(x), task_of, inputs_of, rule_of, deps, depth + 1);
}

/* Asks `ninja -t query` about targets[0..n), in chunks (the command line
 * has a limit), into inputs_of and rule_of. */
static int query_all(char **base_argv, size_t nbase, const char *const *targets, size_t n,
		     json_t *inputs_of, json_t *rule_of, struct err *err)
{
	enum { CHUNK = 512 };
	char **argv = calloc(nbase + CHUNK + 1, sizeof *argv);
	if (!argv)
		return err_set(err, "out of memory");
	for (size_t i = 0; i < n; i += CHUNK) {
		size_t k = nbase;
		memcpy(argv, base_argv, nbase * sizeof *argv);
		for (size_t j = i; j < n && j < i + CHUNK; j++)
			argv[k++] = (char *)targets[j];
		argv[k] = NULL;
		char *q = capture(argv, err);
		if (!q) {
			free(argv);
			return -1;
		}
		json_t *in = parse_query(q, rule_of);
		free(q);
		json_object_update(inputs_of, in);
		json_decref(in);
	}
	free(argv);
	return 0;
}

static int import_ninja(const char *file, const char *out, int dff, struct err *err)
{
	if (access(file, R_OK))
		return err_set(err, "%s: %s", file, strerror(errno));
	char *dir = strdup(file);
	char *slash = strrchr(dir, '/');
	char *base = (char *)file;
	if (slash) {
		*slash = 0;
		base = slash + 1;
	} else {
		strcpy(dir, ".");
	}
	char *adir = realpath(dir, NULL);
	json_t *db = NULL, *task_of = json_object(), *ids = json_object(), *tasks = json_array();
	json_t *inputs_of = json_object(), *rule_of = json_object(), *cmd_of = json_object();
	json_t *edge_of = json_object(), *outs_of = json_object();
	const char **targets = NULL;
	size_t nt = 0;
	char *tt = NULL;
	int rc = 0;

	/* commands of the edges that have inputs, by first output */
	char *argv1[] = {"ninja", "-C", dir, "-f", base, "-t", "compdb", NULL};
	char *text = capture(argv1, err);
	if (!text) {
		rc = -1;
		goto out;
	}
	json_error_t je;
	db = json_loads(text, 0, &je);
	free(text);
	if (!json_is_array(db)) {
		rc = err_set(err, "%s: `ninja -t compdb` gave no array: %s", file, je.text);
		goto out;
	}
	size_t i;
	json_t *e;
	json_array_foreach(db, i, e) {
		const char *o = json_string_value(json_object_get(e, "output"));
		const char *cmd = json_string_value(json_object_get(e, "command"));
		if (o && cmd && *cmd)
			json_object_set_new(cmd_of, o, json_string(cmd));
	}
	/* every output of every edge, and its rule */
	char *argv2[] = {"ninja", "-C", dir, "-f", base, "-t", "targets", "all", NULL};
	if (!(tt = capture(argv2, err))) {
		rc = -1;
		goto out;
	}
	size_t cap = 64;
	targets = malloc(cap * sizeof *targets);
	char *save = NULL;
	for (char *line = strtok_r(tt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c = strrchr(line, ':');
		if (!c || c[1] != ' ')
			continue;
		*c = 0;
		if (nt == cap)
			targets = realloc(targets, (cap *= 2) * sizeof *targets);
		targets[nt++] = line;
	}
	/* each target's inputs (explicit, implicit, order-only) and rule */
	char *qbase[] = {"ninja", "-C", dir, "-f", base, "-t", "query"};
	if (nt && query_all(qbase, 7, targets, nt, inputs_of, rule_of, err)) {
		rc = -1;
		goto out;
	}
	/* the command of every other output: `ninja -t commands -s T` (one at a
	 * time: ninja prints an edge's command once however many of its outputs
	 * are asked for); then the outputs with one rule, inputs and command are
	 * one edge, and one task named by its first output */
	for (size_t k = 0; k < nt && !rc; k++) {
		const char *t = targets[k];
		const char *rule = json_string_value(json_object_get(rule_of, t));
		if (!rule || !strcmp(rule, "phony"))
			continue;
		if (!json_object_get(cmd_of, t)) {
			char *argv3[] = {"ninja", "-C", dir, "-f", base, "-t", "commands", "-s", (char *)t, NULL};
			char *c = capture(argv3, err);
			if (!c) {
				rc = -1;
				break;
			}
			size_t l = strlen(c);
			while (l && c[l - 1] == '\n')
				c[--l] = 0;
			json_object_set_new(cmd_of, t, json_string(c));
			free(c);
		}
		char *in = json_dumps(json_object_get(inputs_of, t), JSON_COMPACT | JSON_ENCODE_ANY);
		struct buf key = {0};
		buf_addf(&key, "%s\n%s\n%s", rule, in ? in : "", json_string_value(json_object_get(cmd_of, t)));
		free(in);
		const char *first = json_string_value(json_object_get(edge_of, key.p));
		if (first) {
			json_object_set(task_of, t, json_object_get(task_of, first));
			json_array_append_new(json_object_get(outs_of, first), json_string(t));
		} else {
			char *id = unique_id(ids, t);
			json_object_set_new(edge_of, key.p, json_string(t));
			json_object_set_new(task_of, t, json_string(id));
			json_object_set_new(outs_of, t, json_pack("[s]", t));
			free(id);
		}
		buf_free(&key);
	}
	if (rc)
		goto out;
	const char *o;
	json_t *outs;
	json_object_foreach(outs_of, o, outs) {
		const char *id = json_string_value(json_object_get(task_of, o));
		const char *cmd = json_string_value(json_object_get(cmd_of, o));
		char **argv = split_sh(cmd);
		char *depfile = argv ? depfile_of(argv, o) : NULL;
		json_t *ins = json_array(), *deps = json_object();
		size_t j;
		json_t *x;
		json_array_foreach(json_object_get(inputs_of, o), j, x) {
			json_array_append(ins, x);
			deps_of(json_string_value(x), task_of, inputs_of, rule_of, deps, 0);
		}
		json_object_del(deps, id);
		json_t *t = make_task(id, adir ? adir : dir, argv, cmd, ins, outs, depfile, dff);
		if (json_object_size(deps)) {
			json_t *da = json_array();
			const char *k;
			json_t *v;
			json_object_foreach(deps, k, v) json_array_append_new(da, json_string(k));
			json_object_set_new(t, "deps", da);
		}
		json_array_append_new(tasks, t);
		json_decref(ins);
		json_decref(deps);
		free(depfile);
		strv_free(argv);
	}
	json_t *wl = json_pack("{s:s, s:O}", "name", file, "tasks", tasks);
	rc = write_workload(wl, out, err);
	json_decref(wl);
out:
	free(targets);
	free(tt);
	json_decref(outs_of);
	json_decref(edge_of);
	json_decref(cmd_of);
	json_decref(inputs_of);
	json_decref(rule_of);
	json_decref(tasks);
	json_decref(ids);
	json_decref(task_of);
	json_decref(db);
	free(adir);
	free(dir);
	return rc;
}

int import_main(int argc, char **argv)
{
	const char *what = NULL, *file = NULL, *out = NULL;
	int dff = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_import, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--depfile-field")) {
			dff = 1;
		} else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
			if (++i >= argc) {
				fprintf(stderr, "gearbox import: %s needs a file\n%s", argv[i - 1], usage_import);
				return 2;
			}
			out = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "gearbox import: unknown option %s\n%s", argv[i], usage_import);
			return 2;
		} else if (!what) {
			what = argv[i];
		} else if (!file) {
			file = argv[i];
		} else {
			fprintf(stderr, "gearbox import: unexpected argument %s\n%s", argv[i], usage_import);
			return 2;
		}
	}
	struct err err = {{0}};
	int rc;
	if (what && !strcmp(what, "compdb")) {
		if (!file) {
			fprintf(stderr, "gearbox import compdb: which compile_commands.json?\n%s", usage_import);
			return 2;
		}
		rc = import_compdb(file, out, dff, &err);
	} else if (what && !strcmp(what, "ninja")) {
		rc = import_ninja(file ? file : "build.ninja", out, dff, &err);
	} else {
		fprintf(stderr, "gearbox import: %s%s\n%s", what ? "unknown source " : "what to import? compdb or ninja",
			what ? what : "", usage_import);
		return 2;
	}
	if (rc) {
		fprintf(stderr, "gearbox import: %s\n", err.msg);
		return 2;
	}
	return 0;
}
