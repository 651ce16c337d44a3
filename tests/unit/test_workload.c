/* test_workload.c - the workload loader, matrix, quick form and DAG. */
#include "check.h"
#include "workload.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CHECK evaluates its condition twice; the conditions here load workloads. */
#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		int ok_ = !!(cond);                                            \
		if (!ok_)                                                      \
			printf("# failed: %s\n", #cond);                        \
		CHECK(ok_, __VA_ARGS__);                                       \
	} while (0)

static struct err E;

static struct workload *ld(const char *json)
{
	struct workload *wl = (struct workload *)1;
	E.msg[0] = 0;
	if (workload_load_string(json, strlen(json), "w.json", &wl, &E) != 0) {
		if (wl)
			printf("# out not NULL on error\n");
		return NULL;
	}
	return wl;
}

/* Loading json fails with a message holding every one of the NULL-terminated
 * pieces; prints the message otherwise. */
static int fails(const char *json, ...)
{
	struct workload *wl = ld(json);
	if (wl) {
		printf("# loaded, expected an error\n");
		workload_free(wl);
		return 0;
	}
	va_list ap;
	va_start(ap, json);
	int ok = 1;
	for (const char *s; (s = va_arg(ap, const char *));)
		if (!strstr(E.msg, s))
			ok = 0;
	va_end(ap);
	if (!ok)
		printf("# got: %s\n", E.msg);
	return ok;
}

#define FAILS(json, ...) fails(json, __VA_ARGS__, (const char *)NULL)

static int loads(const char *json)
{
	struct workload *wl = ld(json);
	if (!wl)
		printf("# error: %s\n", E.msg);
	workload_free(wl);
	return wl != NULL;
}

static const struct spec *spec_of(const struct workload *wl, const char *id)
{
	int64_t i = workload_find(wl, id);
	return i < 0 ? NULL : wl->tasks[i].spec;
}

static int streq(const char *a, const char *b)
{
	if (a && b && strcmp(a, b) == 0)
		return 1;
	printf("# \"%s\" != \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
	return 0;
}

/* ---- syntax and files ---- */

static void test_syntax(void)
{
	EXPECT(FAILS("{\"tasks\": [}", "w.json:1:12: "), "syntax error has file:line:column");
	EXPECT(FAILS("{\n  \"tasks\": [\n    {\"id\": \"a\",}\n  ]\n}", "w.json:3:"),
	      "syntax error on line 3");
	EXPECT(FAILS("{\"name\": \"a\", \"name\": \"b\"}", "w.json:1:", "duplicate object key"),
	      "duplicate keys are rejected");
	EXPECT(FAILS("{\"name\": \"\xc3\x28\"}", "w.json:1:", "unable to decode byte"),
	      "invalid UTF-8 is a syntax error");
	EXPECT(FAILS("", "w.json:"), "empty input");
	EXPECT(FAILS("\"just a string\"", "w.json:1:"), "a bare string");

	struct workload *wl = (struct workload *)1;
	const char garbage[] = "\x01\x7f\xff\xfe\x00\x80{[";
	int rc = workload_load_string(garbage, sizeof garbage - 1, "w.json", &wl, &E);
	int clean = 1;
	for (const unsigned char *p = (const unsigned char *)E.msg; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			clean = 0;
	EXPECT(rc == -1 && wl == NULL && strncmp(E.msg, "w.json:1:", 9) == 0 && clean,
	      "binary garbage: file:line:column, printable message (%s)", E.msg);
	rc = workload_load_string("{\"a\":\x01}", 7, "w.json", &wl, &E);
	EXPECT(rc == -1 && strncmp(E.msg, "w.json:1:", 9) == 0 && !strchr(E.msg, 1),
	      "control byte in input is escaped in the message (%s)", E.msg);
}

static void test_files(void)
{
	struct workload *wl = (struct workload *)1;
	int rc = workload_load("/nonexistent/dir/w.json", &wl, &E);
	EXPECT(rc == -1 && wl == NULL && streq(E.msg, "/nonexistent/dir/w.json: No such file or directory"),
	      "missing file: FILE: strerror");
	rc = workload_load("/", &wl, &E);
	EXPECT(rc == -1 && streq(E.msg, "/: Is a directory"), "a directory: FILE: strerror");

	char path[] = "/tmp/test_workload_XXXXXX";
	int fd = mkstemp(path);
	const char *text = "{\n\"tasks\": [\n {\"id\": \"a\", \"argv\": [\"true\"],\n"
			   "  \"meta\": {\"k\": [1, 2]}}\n]\n}\n";
	EXPECT(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp file");
	close(fd);
	rc = workload_load(path, &wl, &E);
	EXPECT(rc == 0 && wl && wl->ntasks == 1 && streq(wl->path, path) &&
		      json_array_size(json_object_get(wl->tasks[0].spec->meta, "k")) == 2,
	      "loads a file, keeps meta (%s)", rc ? E.msg : "");
	EXPECT(wl && strncmp(wl->name, "test_workload_", 14) == 0,
	      "name defaults to the file's base name");
	workload_free(wl);

	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "{\n  \"tasks\": [\n    {\"id\": \"a\" \"argv\": []}\n  ]\n}\n";
	EXPECT(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "rewrite temp file");
	close(fd);
	rc = workload_load(path, &wl, &E);
	char want[300];
	snprintf(want, sizeof want, "%s:3:", path);
	EXPECT(rc == -1 && strncmp(E.msg, want, strlen(want)) == 0,
	      "syntax error in a file names FILE:LINE:COLUMN (%s)", E.msg);
	unlink(path);
}

/* ---- top level ---- */

static void test_top(void)
{
	EXPECT(FAILS("[]", "w.json: the top level must be an object, got an array"),
	      "top level must be an object");
	EXPECT(FAILS("{\"taks\": []}",
		    "w.json: unknown top-level field \"taks\" (did you mean \"tasks\"?)"),
	      "unknown top-level field with did-you-mean");
	EXPECT(FAILS("{\"zzzzzzz\": []}", "unknown top-level field \"zzzzzzz\"") &&
		      !strstr(E.msg, "did you mean"),
	      "no suggestion when nothing is close");
	EXPECT(FAILS("{\"name\": 5}", "w.json: \"name\" must be a string, got an integer"),
	      "name type");
	EXPECT(FAILS("{\"tasks\": {}}", "w.json: \"tasks\" must be an array, got an object"),
	      "tasks type");
	EXPECT(FAILS("{\"matrix\": {}}", "\"matrix\" must be an array"), "matrix type");
	EXPECT(FAILS("{\"defaults\": []}", "\"defaults\" must be an object, got an array"),
	      "defaults type");

	struct workload *wl = ld("{}");
	EXPECT(wl && wl->ntasks == 0 && wl->depth == 0 && streq(wl->name, "w") &&
		      streq(wl->path, "w.json"),
	      "an empty workload is valid");
	workload_free(wl);
	wl = ld("{\"name\": \"etl\", \"tasks\": [], \"matrix\": []}");
	EXPECT(wl && wl->ntasks == 0 && streq(wl->name, "etl"), "0 tasks, named");
	workload_free(wl);
}

/* ---- task fields ---- */

#define T(fields) "{\"tasks\": [{\"id\": \"t\", " fields "}]}"
#define TA(fields) T("\"argv\": [\"x\"], " fields)

static void test_fields(void)
{
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"a\", \"kind\": \"sim\"}, {\"id\": \"b\", \"kind\": \"sim\"},"
		    "{\"id\": \"c\", \"kind\": \"sim\"}, {\"id\": \"parse\", \"argv\": [\"p\"], \"dpes\": []}]}",
		    "w.json: tasks[3] (id \"parse\"): unknown field \"dpes\" (did you mean \"deps\"?)"),
	      "unknown task field: file, place, id, did-you-mean");
	EXPECT(FAILS(T("\"argv\": [\"x\"], \"vars\": {}"), "tasks[0] (id \"t\"): unknown field \"vars\"", "matrix"),
	      "vars in a plain task");
	EXPECT(FAILS("{\"tasks\": [5]}", "w.json: tasks[0]: must be an object, got an integer"),
	      "task must be an object");
	EXPECT(FAILS("{\"tasks\": [{\"argv\": [\"x\"]}]}", "w.json: tasks[0]: missing id"), "missing id");
	EXPECT(FAILS("{\"tasks\": [{\"id\": 7, \"argv\": [\"x\"]}]}",
		    "tasks[0]: id must be a string, got an integer"),
	      "id type");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"\", \"argv\": [\"x\"]}]}", "tasks[0]: id is empty"),
	      "empty id");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"a\\u0001b\", \"argv\": [\"x\"]}]}",
		    "tasks[0]: id contains a control character"),
	      "control character in id");
	char big[700];
	snprintf(big, sizeof big, "{\"tasks\": [{\"id\": \"%0257d\", \"argv\": [\"x\"]}]}", 0);
	EXPECT(FAILS(big, "tasks[0]: id is longer than 256 bytes"), "id too long");
	snprintf(big, sizeof big, "{\"tasks\": [{\"id\": \"%0256d\", \"argv\": [\"x\"]}]}", 0);
	EXPECT(loads(big), "a 256-byte id is fine");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"a\", \"kind\": \"sim\"}, {\"id\": \"b\", \"kind\": \"sim\"},"
		    "{\"id\": \"c\", \"kind\": \"sim\"}, {\"id\": \"d\", \"kind\": \"sim\"},"
		    "{\"id\": \"b\", \"kind\": \"sim\"}]}",
		    "w.json: duplicate task id \"b\": tasks[1] and tasks[4]"),
	      "duplicate ids name both places");

	/* kind */
	EXPECT(FAILS(T("\"kind\": \"exe\", \"argv\": [\"x\"]"),
		    "tasks[0] (id \"t\"): unknown kind \"exe\"", "did you mean \"exec\"",
		    "valid kinds: exec, sim"),
	      "unknown kind lists the valid ones");
	EXPECT(FAILS(T("\"kind\": 1"), "kind must be a string, got an integer"), "kind type");
	EXPECT(FAILS(T("\"cwd\": \"/\""), "tasks[0] (id \"t\"): needs argv, sh or kind"),
	      "no argv, sh or kind");
	EXPECT(FAILS(T("\"kind\": \"exec\""), "kind \"exec\" needs argv or sh"), "exec without a command");
	EXPECT(FAILS(T("\"argv\": [\"x\"], \"sh\": \"y\""), "has both argv and sh"), "argv and sh");
	EXPECT(FAILS(T("\"kind\": \"sim\", \"argv\": [\"x\"]"), "kind \"sim\" takes no argv"), "sim with argv");
	EXPECT(FAILS(T("\"kind\": \"sim\", \"sh\": \"x\""), "kind \"sim\" takes no sh"), "sim with sh");

	/* argv, sh */
	EXPECT(FAILS(T("\"argv\": []"), "tasks[0] (id \"t\"): argv is empty"), "empty argv");
	EXPECT(FAILS(T("\"argv\": [\"\"]"), "argv[0] is empty"), "empty argv[0]");
	EXPECT(FAILS(T("\"argv\": \"ls -l\""), "argv must be an array of strings, got a string"), "argv type");
	EXPECT(FAILS(T("\"argv\": [\"ls\", 1]"), "argv[1] must be a string, got an integer"), "argv element type");
	EXPECT(FAILS(T("\"sh\": \"\""), "sh is empty"), "empty sh");
	EXPECT(FAILS(T("\"sh\": [\"x\"]"), "sh must be a string, got an array"), "sh type");

	/* env */
	EXPECT(FAILS(TA("\"env\": [\"A=1\"]"), "env must be an object of strings, got an array"), "env type");
	EXPECT(FAILS(TA("\"env\": {\"\": \"1\"}"), "env has an empty variable name"), "env empty name");
	EXPECT(FAILS(TA("\"env\": {\"A=B\": \"1\"}"), "env name \"A=B\" contains '='"), "env name with =");
	EXPECT(FAILS(TA("\"env\": {\"A\": 1}"), "env \"A\" must be a string, got an integer"), "env value type");

	/* strings and lists */
	EXPECT(FAILS(TA("\"cwd\": 1"), "cwd must be a string, got an integer"), "cwd type");
	EXPECT(FAILS(TA("\"cwd\": \"\""), "cwd is empty"), "empty cwd");
	EXPECT(FAILS(TA("\"stdin\": null"), "stdin must be a string, got null"), "stdin type");
	EXPECT(FAILS(TA("\"target\": true"), "target must be a string, got a boolean"), "target type");
	EXPECT(FAILS(TA("\"deps\": \"a\""), "deps must be an array of strings, got a string"), "deps type");
	EXPECT(FAILS(TA("\"deps\": [1]"), "deps[0] must be a string, got an integer"), "deps element type");
	EXPECT(FAILS(TA("\"tags\": {}"), "tags must be an array of strings"), "tags type");
	EXPECT(FAILS(TA("\"inputs\": [null]"), "inputs[0] must be a string, got null"), "inputs element");
	EXPECT(FAILS(TA("\"outputs\": 3"), "outputs must be an array of strings"), "outputs type");
	EXPECT(FAILS(TA("\"cache\": \"yes\""), "cache must be true or false, got a string"), "cache type");
	EXPECT(FAILS(TA("\"class\": \"gpu\""), "unknown class \"gpu\"", "valid classes: cpu, io, mem, mixed"),
	      "unknown class lists the valid ones");
	EXPECT(FAILS(TA("\"class\": 2"), "class must be a string"), "class type");

	/* integers */
	EXPECT(FAILS(TA("\"timeout_ms\": -1"), "tasks[0] (id \"t\"): timeout_ms is negative (-1)"),
	      "negative timeout");
	EXPECT(FAILS(TA("\"timeout_ms\": 2592000001"),
		    "timeout_ms 2592000001 is absurd (the limit is 2592000000)"),
	      "absurd timeout names the bound");
	EXPECT(FAILS(TA("\"timeout_ms\": 1.5"), "timeout_ms must be an integer, got a real number"),
	      "real where an integer is expected");
	EXPECT(FAILS(TA("\"timeout_ms\": \"10\""), "timeout_ms must be an integer, got a string"),
	      "string where an integer is expected");
	EXPECT(FAILS(TA("\"deadline_ms\": 2592000001"), "deadline_ms 2592000001 is absurd", "2592000000"), "deadline bound");
	EXPECT(FAILS(TA("\"deadline_ms\": -3"), "deadline_ms is negative"), "negative deadline");
	EXPECT(FAILS(TA("\"est_ms\": 2592000001"), "est_ms 2592000001 is absurd"), "est bound");
	EXPECT(FAILS(TA("\"io_ms\": 2592000001"), "io_ms 2592000001 is absurd"), "io_ms bound");
	EXPECT(FAILS(TA("\"retries\": 1001"), "retries 1001 is absurd (the limit is 1000)"), "retries bound");
	EXPECT(FAILS(TA("\"retries\": -1"), "retries is negative"), "negative retries");
	EXPECT(FAILS(TA("\"cpu_us\": 3600000001"), "cpu_us 3600000001 is absurd (the limit is 3600000000)"),
	      "cpu_us bound");
	EXPECT(FAILS(TA("\"mem_kb\": 67108865"), "mem_kb 67108865 is absurd (the limit is 67108864)"),
	      "mem_kb bound");
	EXPECT(FAILS(TA("\"fail_after\": 1000001"), "fail_after 1000001 is absurd (the limit is 1000000)"),
	      "fail_after bound");
	EXPECT(FAILS(TA("\"priority\": 1000000001"), "priority 1000000001 is absurd",
		    "-1000000000 and 1000000000"),
	      "priority upper bound");
	EXPECT(FAILS(TA("\"priority\": -1000000001"), "priority -1000000001 is absurd"),
	      "priority lower bound");
	EXPECT(FAILS(TA("\"priority\": 1.0"), "priority must be an integer"), "priority type");
	EXPECT(FAILS(TA("\"fail_rate\": 1.5"), "fail_rate 1.5 is absurd", "between 0 and 1"),
	      "fail_rate above 1");
	EXPECT(FAILS(TA("\"fail_rate\": -0.5"), "fail_rate is negative"), "negative fail_rate");
	EXPECT(FAILS(TA("\"fail_rate\": \"0.5\""), "fail_rate must be a number, got a string"),
	      "fail_rate type");
	EXPECT(FAILS(TA("\"seed\": -1"), "seed is negative"), "negative seed");
	EXPECT(FAILS(TA("\"seed\": 1.5"), "seed must be an integer"), "seed type");

	/* values and defaults */
	struct workload *wl = ld(
		"{\"tasks\": ["
		"{\"id\": \"plain\", \"argv\": [\"echo\", \"hi\"]},"
		"{\"id\": \"full\", \"sh\": \"echo $A\", \"env\": {\"A\": \"1\", \"B\": \"x=y\"},"
		" \"cwd\": \"/tmp\", \"stdin\": \"line\\n\", \"timeout_ms\": 2592000000,"
		" \"priority\": -5, \"deadline_ms\": 30000, \"est_ms\": 200, \"class\": \"io\","
		" \"target\": \"example.org\", \"retries\": 3, \"inputs\": [\"i1\", \"i2\"],"
		" \"outputs\": [\"o\"], \"cache\": true, \"tags\": [\"t1\"], \"meta\": {\"k\": 1},"
		" \"deps\": [\"plain\"]},"
		"{\"id\": \"burn\", \"kind\": \"sim\", \"cpu_us\": 3600000000, \"io_ms\": 5,"
		" \"mem_kb\": 67108864, \"fail_rate\": 1, \"fail_after\": 2, \"seed\": 12345678901,"
		" \"cache\": false, \"tags\": []}]}");
	EXPECT(wl != NULL, "all fields load (%s)", E.msg);
	if (wl) {
		const struct spec *p = spec_of(wl, "plain"), *f = spec_of(wl, "full"),
				  *b = spec_of(wl, "burn");
		EXPECT(p && p->kind == KIND_EXEC && streq(p->argv[0], "echo") &&
			      streq(p->argv[1], "hi") && p->argv[2] == NULL && !p->sh && !p->env &&
			      !p->cwd && !p->stdin_data && !p->target && !p->deps && !p->tags &&
			      !p->inputs && !p->outputs && !p->meta,
		      "plain exec task");
		EXPECT(p && p->timeout_ms == 0 && p->deadline_ms == -1 && p->est_ms == -1 &&
			      p->priority == 0 && p->retries == 0 && p->cache == -1 && p->seed == 0 &&
			      p->cls == CLASS_NONE && p->fail_rate == 0,
		      "defaults of absent fields");
		EXPECT(f && f->kind == KIND_EXEC && !f->argv && streq(f->sh, "echo $A") &&
			      streq(f->env[0], "A=1") && streq(f->env[1], "B=x=y") && !f->env[2] &&
			      streq(f->cwd, "/tmp") && f->stdin_len == 5 &&
			      memcmp(f->stdin_data, "line\n", 6) == 0,
		      "sh task: env, cwd, stdin");
		EXPECT(f && f->timeout_ms == 2592000000LL && f->priority == -5 &&
			      f->deadline_ms == 30000 && f->est_ms == 200 && f->cls == CLASS_IO &&
			      streq(f->target, "example.org") && f->retries == 3 &&
			      streq(f->inputs[1], "i2") && !f->inputs[2] && streq(f->outputs[0], "o") &&
			      f->cache == 1 && streq(f->tags[0], "t1") && streq(f->deps[0], "plain") &&
			      json_integer_value(json_object_get(f->meta, "k")) == 1,
		      "sh task: the other fields");
		EXPECT(b && b->kind == KIND_SIM && !b->argv && !b->sh && b->cpu_us == 3600000000LL &&
			      b->io_ms == 5 && b->mem_kb == 67108864 && b->fail_rate == 1.0 &&
			      b->fail_after == 2 && b->seed == 12345678901ULL && b->cache == 0 && !b->tags,
		      "sim task");
		EXPECT(streq(task_kind_name(KIND_SIM), "sim") && streq(task_kind_name(KIND_EXEC), "exec") &&
			      streq(task_class_name(CLASS_IO), "io") &&
			      streq(task_class_name(CLASS_MIXED), "mixed") &&
			      streq(task_class_name(CLASS_NONE), "none"),
		      "kind and class names");
	}
	workload_free(wl);
}

static void test_defaults(void)
{
	struct workload *wl = ld(
		"{\"defaults\": {\"timeout_ms\": 5, \"retries\": 2, \"class\": \"io\","
		" \"env\": {\"A\": \"1\", \"B\": \"2\"}, \"meta\": {\"m\": 1}, \"cwd\": \"/d\","
		" \"priority\": 7, \"deadline_ms\": 9, \"est_ms\": 11, \"target\": \"h\","
		" \"tags\": [\"dt\"], \"cache\": true, \"cpu_us\": 1, \"io_ms\": 2, \"mem_kb\": 3,"
		" \"fail_rate\": 0.5, \"fail_after\": 4, \"seed\": 6},"
		" \"tasks\": [{\"id\": \"a\", \"argv\": [\"x\"]},"
		" {\"id\": \"b\", \"argv\": [\"y\"], \"retries\": 0, \"class\": \"cpu\","
		"  \"env\": {\"B\": \"3\", \"C\": \"4\"}, \"tags\": [\"bt\"], \"meta\": [1]}]}");
	EXPECT(wl != NULL, "defaults load (%s)", E.msg);
	if (wl) {
		const struct spec *a = spec_of(wl, "a"), *b = spec_of(wl, "b");
		EXPECT(a->timeout_ms == 5 && a->retries == 2 && a->cls == CLASS_IO &&
			      streq(a->env[0], "A=1") && streq(a->env[1], "B=2") && !a->env[2] &&
			      streq(a->cwd, "/d") && a->priority == 7 && a->deadline_ms == 9 &&
			      a->est_ms == 11 && streq(a->target, "h") && streq(a->tags[0], "dt") &&
			      a->cache == 1 && a->cpu_us == 1 && a->io_ms == 2 && a->mem_kb == 3 &&
			      a->fail_rate == 0.5 && a->fail_after == 4 && a->seed == 6 &&
			      json_is_object(a->meta),
		      "a task inherits the defaults");
		EXPECT(b->retries == 0 && b->cls == CLASS_CPU && streq(b->tags[0], "bt") &&
			      !b->tags[1] && json_is_array(b->meta) && b->timeout_ms == 5,
		      "task fields override the defaults");
		EXPECT(streq(b->env[0], "A=1") && streq(b->env[1], "B=3") && streq(b->env[2], "C=4") &&
			      !b->env[3],
		      "env maps merge, task keys win");
		EXPECT(a->meta->refcount == 1, "one meta reference per spec once the document is gone");
	}
	workload_free(wl);
	EXPECT(FAILS("{\"defaults\": {\"argv\": [\"x\"]}}",
		    "w.json: defaults: \"argv\" cannot be given in defaults"),
	      "argv in defaults");
	EXPECT(FAILS("{\"defaults\": {\"id\": \"x\"}}", "defaults: \"id\" cannot be given"), "id in defaults");
	EXPECT(FAILS("{\"defaults\": {\"deps\": []}}", "defaults: \"deps\" cannot be given"), "deps in defaults");
	EXPECT(FAILS("{\"defaults\": {\"kind\": \"sim\"}}", "defaults: \"kind\" cannot be given"), "kind in defaults");
	EXPECT(FAILS("{\"defaults\": {\"stdin\": \"x\"}}", "defaults: \"stdin\" cannot be given"), "stdin in defaults");
	EXPECT(FAILS("{\"defaults\": {\"timout_ms\": 1}}",
		    "w.json: defaults: unknown field \"timout_ms\" (did you mean \"timeout_ms\"?)"),
	      "unknown field in defaults");
	EXPECT(FAILS("{\"defaults\": {\"retries\": -1}}", "w.json: defaults: retries is negative"),
	      "bad value in defaults");
}

/* ---- matrix ---- */

static void test_matrix(void)
{
	struct workload *wl = ld(
		"{\"tasks\": [{\"id\": \"first\", \"kind\": \"sim\"}],"
		" \"matrix\": [{\"id\": \"t-{a}-{b}\","
		"  \"argv\": [\"run\", \"{a}\", \"x{b}y\", \"{nope}\", \"awk '{print $1}'\", \"{{a}}\", \"{}\", \"{a\"],"
		"  \"env\": {\"K\": \"{a}\", \"L\": \"fixed\"}, \"cwd\": \"/d/{a}\", \"stdin\": \"{b}\","
		"  \"target\": \"{a}.org\", \"deps\": [\"first\"], \"tags\": [\"{b}\"],"
		"  \"inputs\": [\"{a}.in\"], \"outputs\": [\"{a}.{b}.out\"],"
		"  \"vars\": {\"a\": [\"p\", \"q\"], \"b\": [1, 2.5, -3]}},"
		" {\"id\": \"s{i}\", \"sh\": \"echo {a}\", \"vars\": {\"i\": [1, 2]}}]}");
	EXPECT(wl != NULL, "matrix loads (%s)", E.msg);
	if (!wl)
		return;
	static const char *const ids[] = {"first", "t-p-1", "t-p-2.5", "t-p--3", "t-q-1",
					  "t-q-2.5", "t-q--3", "s1", "s2"};
	int order = wl->ntasks == 9;
	for (uint32_t i = 0; order && i < 9; i++)
		order = streq(wl->tasks[i].id, ids[i]);
	EXPECT(order, "tasks first, then the product, first var slowest");
	const struct spec *s = wl->tasks[2].spec;
	EXPECT(streq(s->argv[0], "run") && streq(s->argv[1], "p") && streq(s->argv[2], "x2.5y") &&
		      !s->argv[8],
	      "argv substituted; numbers rendered");
	EXPECT(streq(s->argv[3], "{nope}") && streq(s->argv[4], "awk '{print $1}'") &&
		      streq(s->argv[5], "{p}") && streq(s->argv[6], "{}") && streq(s->argv[7], "{a"),
	      "braces that are not vars are left alone");
	EXPECT(streq(s->env[0], "K=p") && streq(s->env[1], "L=fixed") && streq(s->cwd, "/d/p") &&
		      streq(s->stdin_data, "2.5") && s->stdin_len == 3 && streq(s->target, "p.org") &&
		      streq(s->deps[0], "first") && streq(s->tags[0], "2.5") &&
		      streq(s->inputs[0], "p.in") && streq(s->outputs[0], "p.2.5.out"),
	      "env values, cwd, stdin, target, deps, tags, inputs, outputs substituted");
	EXPECT(streq(wl->tasks[6].spec->outputs[0], "q.-3.out") && wl->tasks[1].spec != wl->tasks[2].spec,
	      "each instance with substituted fields has its own spec");
	EXPECT(wl->tasks[1].spec->env[1] == wl->tasks[2].spec->env[1] &&
		      wl->tasks[1].spec->argv != wl->tasks[2].spec->argv,
	      "unchanged strings are shared between instances");
	EXPECT(wl->tasks[7].spec == wl->tasks[8].spec && streq(wl->tasks[7].spec->sh, "echo {a}"),
	      "id-only instances share one spec; other entries' var names are plain text");
	EXPECT(wl->tasks[1].ndeps == 1 && wl->tasks[0].nouts == 6, "matrix deps resolve");
	workload_free(wl);

	wl = ld("{\"tasks\": [{\"id\": \"prep-a\", \"kind\": \"sim\"}, {\"id\": \"prep-b\", \"kind\": \"sim\"}],"
		" \"matrix\": [{\"id\": \"gz-{f}\", \"argv\": [\"gzip\", \"{f}\"], \"deps\": [\"prep-{f}\"],"
		" \"vars\": {\"f\": [\"a\", \"b\"]}}]}");
	EXPECT(wl && wl->ntasks == 4 && wl->deps[wl->tasks[3].dep_off] == 1 &&
		      wl->deps[wl->tasks[2].dep_off] == 0 && wl->depth == 2,
	      "substituted deps point at the right tasks (%s)", wl ? "" : E.msg);
	workload_free(wl);

	wl = ld("{\"matrix\": [{\"id\": \"s{i}\", \"kind\": \"sim\", \"meta\": {\"x\": 1},"
		" \"cpu_us\": 5, \"vars\": {\"i\": [1, 2, 3]}}]}");
	EXPECT(wl && wl->ntasks == 3 && wl->tasks[0].spec == wl->tasks[2].spec &&
		      wl->tasks[0].spec->meta->refcount == 1 && wl->tasks[0].spec->cpu_us == 5,
	      "shared spec holds one meta reference");
	workload_free(wl);

	/* errors */
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"same\", \"kind\": \"sim\", \"vars\": {\"i\": [1, 2]}}]}",
		    "w.json: duplicate task id \"same\": matrix[0]", "\"same\""),
	      "an id template without a var makes duplicates");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": {\"a\": [1], \"b\": [1, 2]}}]}",
		    "duplicate task id \"x1\": matrix[0]", "must use every var"),
	      "an id template missing a var makes duplicates");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"gz-a\", \"kind\": \"sim\"}],"
		    " \"matrix\": [{\"id\": \"gz-{f}\", \"kind\": \"sim\", \"vars\": {\"f\": [\"a\"]}}]}",
		    "duplicate task id \"gz-a\": tasks[0] and matrix[0]"),
	      "duplicate between tasks and the matrix");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"a{i}\", \"kind\": \"sim\", \"vars\": {\"i\": [1]}},"
		    " {\"id\": \"a{j}\", \"kind\": \"sim\", \"vars\": {\"j\": [2, 1]}}]}",
		    "duplicate task id \"a1\": matrix[0] and matrix[1]"),
	      "duplicate between two matrix entries");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\"}]}",
		    "w.json: matrix[0] (id \"x{a}\"): missing vars"),
	      "missing vars");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": [1]}]}",
		    "matrix[0] (id \"x{a}\"): vars must be an object, got an array"),
	      "vars type");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x\", \"kind\": \"sim\", \"vars\": {}}]}",
		    "matrix[0] (id \"x\"): vars is empty"),
	      "empty vars");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": {\"a\": \"v\"}}]}",
		    "vars.a must be an array of strings or numbers, got a string"),
	      "var values type");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": {\"a\": []}}]}",
		    "matrix[0] (id \"x{a}\"): vars.a is empty"),
	      "empty var values");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": {\"a\": [1, true]}}]}",
		    "vars.a[1] must be a string or a number, got a boolean"),
	      "var value type");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vars\": {\"a}\": [1]}}]}",
		    "var name \"a}\" contains a brace"),
	      "var name with a brace");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"vras\": {\"a\": [1]}}]}",
		    "matrix[0] (id \"x{a}\"): unknown field \"vras\" (did you mean \"vars\"?)"),
	      "typo of vars");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"x{a}\", \"kind\": \"sim\", \"timeout_ms\": -2,"
		    " \"vars\": {\"a\": [1]}}]}",
		    "matrix[0] (id \"x{a}\"): timeout_ms is negative"),
	      "template field errors name the entry");
	EXPECT(FAILS("{\"matrix\": [{\"kind\": \"sim\", \"vars\": {\"a\": [1]}}]}", "w.json: matrix[0]: missing id"),
	      "template without id");
	EXPECT(FAILS("{\"matrix\": [3]}", "w.json: matrix[0]: must be an object, got an integer"),
	      "matrix entry type");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"{a}\", \"kind\": \"sim\", \"vars\": {\"a\": [\"x\", \"\"]}}]}",
		    "w.json: matrix[0]: instance 2: id is empty"),
	      "an instance's id is checked");
	EXPECT(FAILS("{\"matrix\": [{\"id\": \"i{a}\", \"argv\": [\"{a}\"], \"vars\": {\"a\": [\"x\", \"\"]}}]}",
		    "w.json: matrix[0] (id \"i\"): argv[0] is empty"),
	      "an instance's argv[0] is checked");

	/* over the cap: counted before anything is allocated */
	struct buf b = {0};
	buf_adds(&b, "{\"matrix\": [{\"id\": \"{a}{b}{c}\", \"kind\": \"sim\", \"vars\": {");
	for (int v = 0; v < 3; v++) {
		buf_addf(&b, "%s\"%c\": [", v ? ", " : "", 'a' + v);
		for (int i = 0; i < (v < 2 ? 1000 : 51); i++)
			buf_addf(&b, "%s%d", i ? "," : "", i);
		buf_adds(&b, "]");
	}
	buf_adds(&b, "}}]}");
	EXPECT(FAILS(b.p, "w.json: matrix[0]: expands to more than 50000000 tasks"),
	      "more than 50,000,000 tasks is an error");
	buf_free(&b);
}

static void test_million(void)
{
	struct buf b = {0};
	buf_adds(&b, "{\"matrix\": [{\"id\": \"t{i}-{j}\", \"kind\": \"sim\", \"cpu_us\": 10, \"vars\": {\"i\": [");
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%s%d", i ? "," : "", i);
	buf_adds(&b, "], \"j\": [");
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%s%d", i ? "," : "", i);
	buf_adds(&b, "]}}]}");
	struct workload *wl = ld(b.p);
	buf_free(&b);
	EXPECT(wl && wl->ntasks == 1000000, "a 1,000,000-task matrix loads (%s)", wl ? "" : E.msg);
	if (!wl)
		return;
	EXPECT(streq(wl->tasks[0].id, "t0-0") && streq(wl->tasks[999999].id, "t999-999") &&
		      streq(wl->tasks[1000].id, "t1-0") && wl->tasks[0].spec == wl->tasks[999999].spec,
	      "ids in order, one shared spec");
	EXPECT(workload_find(wl, "t123-456") == 123456 && wl->roots == 1000000 && wl->depth == 1,
	      "the index finds instances");
	size_t bytes = wl->ntasks * sizeof(struct task) + wl->arena.total +
		       (size_t)wl->index_cap * sizeof *wl->index;
	EXPECT(bytes / wl->ntasks < 100, "under 100 bytes per task (%zu)", bytes / wl->ntasks);
	workload_free(wl);
}

/* ---- DAG ---- */

static void test_dag(void)
{
	struct workload *wl = ld(
		"{\"tasks\": ["
		"{\"id\": \"a\", \"kind\": \"sim\", \"est_ms\": 10},"
		"{\"id\": \"b\", \"kind\": \"sim\", \"est_ms\": 20, \"deps\": [\"a\"]},"
		"{\"id\": \"c\", \"kind\": \"sim\", \"est_ms\": 5, \"deps\": [\"a\"], \"priority\": 4, \"timeout_ms\": 9},"
		"{\"id\": \"d\", \"kind\": \"sim\", \"deps\": [\"b\", \"c\"]}]}");
	EXPECT(wl != NULL, "diamond loads (%s)", E.msg);
	if (wl) {
		struct task *t = wl->tasks;
		EXPECT(t[0].chain == 3 && t[1].chain == 2 && t[2].chain == 2 && t[3].chain == 1 &&
			      wl->depth == 3,
		      "chain and depth");
		EXPECT(wl->critical_ms == 30, "critical path weights est_ms, unknown as 0 (%lld)",
		      (long long)wl->critical_ms);
		EXPECT(wl->roots == 1 && wl->sinks == 1 && wl->nedges == 4, "roots, sinks, edges");
		EXPECT(t[3].ndeps == 2 && wl->deps[t[3].dep_off] == 1 && wl->deps[t[3].dep_off + 1] == 2 &&
			      t[0].nouts == 2 && wl->outs[t[0].out_off] == 1 &&
			      wl->outs[t[0].out_off + 1] == 2 && t[3].nouts == 0,
		      "CSR deps and outs");
		EXPECT(t[3].pending == 2 && t[0].pending == 0 && t[3].state == ST_WAITING &&
			      t[0].state == ST_WAITING && t[0].attempts == 0,
		      "pending, state and attempts initialized");
		EXPECT(t[1].priority == 0 && t[1].timeout_ms == 0 && t[2].priority == 4 &&
			       t[2].timeout_ms == 9 && t[1].last_exit == 0,
		       "effective priority and timeout start as the spec's");
		EXPECT(workload_find(wl, "c") == 2 && workload_find(wl, "a") == 0 &&
			      workload_find(wl, "zz") == -1 && workload_find(wl, "") == -1,
		      "workload_find");
		EXPECT(dag_build(wl, &E) == 0 && wl->depth == 3 && wl->critical_ms == 30 &&
			      t[3].pending == 2,
		      "dag_build can run again");
	}
	workload_free(wl);

	EXPECT(FAILS("{\"tasks\": [{\"id\": \"parse\", \"kind\": \"sim\", \"deps\": [\"fetch\"]}]}",
		    "w.json: task \"parse\": dependency \"fetch\" does not exist") &&
		      !strstr(E.msg, "did you mean"),
	      "missing dependency");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"fetch\", \"kind\": \"sim\"},"
		    " {\"id\": \"parse\", \"kind\": \"sim\", \"deps\": [\"fecth\"]}]}",
		    "w.json: task \"parse\": dependency \"fecth\" does not exist (did you mean \"fetch\"?)"),
	      "missing dependency with did-you-mean");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"a\", \"kind\": \"sim\"},"
		    " {\"id\": \"b\", \"kind\": \"sim\", \"deps\": [\"a\", \"a\"]}]}",
		    "w.json: task \"b\": dependency \"a\" is listed twice"),
	      "dependency listed twice");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"a\", \"kind\": \"sim\", \"deps\": [\"a\"]}]}",
		    "w.json: dependency cycle: a -> a"),
	      "self-dependency is a cycle");
	EXPECT(FAILS("{\"tasks\": [{\"id\": \"x\", \"kind\": \"sim\", \"deps\": [\"b\"]},"
		    " {\"id\": \"a\", \"kind\": \"sim\", \"deps\": [\"b\"]},"
		    " {\"id\": \"b\", \"kind\": \"sim\", \"deps\": [\"c\"]},"
		    " {\"id\": \"c\", \"kind\": \"sim\", \"deps\": [\"a\"]},"
		    " {\"id\": \"d\", \"kind\": \"sim\", \"deps\": [\"a\"]}]}",
		    "w.json: dependency cycle: a -> b -> c -> a") &&
		      !strstr(E.msg, "x") && !strstr(E.msg, "d "),
	      "a cycle is named without the tasks leading into it");
}

static void test_chain(void)
{
	enum { N = 200000 };
	struct buf b = {0};
	buf_adds(&b, "{\"tasks\": [{\"id\": \"t0\", \"kind\": \"sim\", \"est_ms\": 1}");
	for (int i = 1; i < N; i++)
		buf_addf(&b, ",{\"id\": \"t%d\", \"kind\": \"sim\", \"est_ms\": 1, \"deps\": [\"t%d\"]}", i, i - 1);
	buf_adds(&b, "]}");
	struct workload *wl = ld(b.p);
	EXPECT(wl && wl->depth == N && wl->tasks[0].chain == N && wl->tasks[N - 1].chain == 1 &&
		      wl->critical_ms == N && wl->roots == 1 && wl->sinks == 1,
	      "a 200,000-task chain builds without recursion (%s)", wl ? "" : E.msg);
	workload_free(wl);

	/* close it into a cycle: t0 depends on the last */
	b.len = 0;
	buf_addf(&b, "{\"tasks\": [{\"id\": \"t0\", \"kind\": \"sim\", \"deps\": [\"t%d\"]}", N - 1);
	for (int i = 1; i < N; i++)
		buf_addf(&b, ",{\"id\": \"t%d\", \"kind\": \"sim\", \"deps\": [\"t%d\"]}", i, i - 1);
	buf_adds(&b, "]}");
	EXPECT(fails(b.p, "w.json: dependency cycle: t0 -> t199999 -> t199998 -> ", "more) -> t1 -> t0",
		    (const char *)NULL) &&
		      strlen(E.msg) < 1600,
	      "a 200,000-task cycle is named, elided");
	buf_free(&b);
}

/* ---- quick form ---- */

static int argv_is(const struct workload *wl, uint32_t i, const char *const *want)
{
	char *const *a = wl->tasks[i].spec->argv;
	size_t k = 0;
	for (; want[k]; k++)
		if (!a || !a[k] || !streq(a[k], want[k]))
			return 0;
	if (a[k]) {
		printf("# extra argv element \"%s\"\n", a[k]);
		return 0;
	}
	return 1;
}

static void test_quick(void)
{
	struct workload *wl = NULL;
	char *cmd1[] = {"echo", "{}", NULL};
	char *s1[] = {"a", "b", NULL}, *s2[] = {"1", "2", NULL};
	char **two[] = {s1, s2};
	int rc = workload_quick(cmd1, 2, two, &wl, &E);
	EXPECT(rc == 0 && wl && wl->ntasks == 4, "quick: product of two sources (%s)", rc ? E.msg : "");
	if (wl) {
		EXPECT(argv_is(wl, 0, (const char *[]){"echo", "a 1", NULL}) &&
			      argv_is(wl, 1, (const char *[]){"echo", "a 2", NULL}) &&
			      argv_is(wl, 2, (const char *[]){"echo", "b 1", NULL}) &&
			      argv_is(wl, 3, (const char *[]){"echo", "b 2", NULL}),
		      "quick: first source slowest, {} joins the args");
		EXPECT(streq(wl->tasks[0].id, "1") && streq(wl->tasks[3].id, "4") &&
			      workload_find(wl, "3") == 2 && streq(wl->path, "<command line>") &&
			      wl->tasks[0].spec->kind == KIND_EXEC && wl->tasks[0].spec->deadline_ms == -1 &&
			      wl->tasks[0].spec->cache == -1 && wl->roots == 4,
		      "quick: ids 1..n, path, spec defaults");
		workload_free(wl);
	}

	char *cmd2[] = {"echo", NULL};
	rc = workload_quick(cmd2, 2, two, &wl, &E);
	EXPECT(rc == 0 && wl->ntasks == 4 && argv_is(wl, 1, (const char *[]){"echo", "a", "2", NULL}),
	      "quick: without a replacement string the args are appended");
	workload_free(wl);

	char *cmd3[] = {"x", "{.}", "{/}", "{//}", "{/.}", "{1}", "{2}", "{#}", "pre{1}post{2}",
			"{1.}", "{2/}", "{1//}", "{2/.}", "{3x}", "{0}", "{}{}", NULL};
	char *p1[] = {"dir/f.txt", NULL}, *p2[] = {"z.tar.gz", "/top", NULL};
	char **paths[] = {p1, p2};
	rc = workload_quick(cmd3, 2, paths, &wl, &E);
	EXPECT(rc == 0 && wl->ntasks == 2 &&
		      argv_is(wl, 0, (const char *[]){"x", "dir/f z.tar", "f.txt z.tar.gz", "dir .",
						     "f z.tar", "dir/f.txt", "z.tar.gz", "1",
						     "predir/f.txtpostz.tar.gz", "dir/f", "z.tar.gz",
						     "dir", "z.tar", "{3x}", "{0}",
						     "dir/f.txt z.tar.gzdir/f.txt z.tar.gz", NULL}) &&
		      argv_is(wl, 1, (const char *[]){"x", "dir/f /top", "f.txt top", "dir /", "f top",
						     "dir/f.txt", "/top", "2",
						     "predir/f.txtpost/top", "dir/f", "top", "dir",
						     "top", "{3x}", "{0}",
						     "dir/f.txt /topdir/f.txt /top", NULL}),
	      "quick: replacement strings");
	workload_free(wl);

	char *cmd4[] = {"e", "{.}", "{//}", "{/}", NULL};
	char *odd[] = {"a.b.c", "a/b/", ".bashrc", "x", NULL};
	char **one[] = {odd};
	rc = workload_quick(cmd4, 1, one, &wl, &E);
	EXPECT(rc == 0 && argv_is(wl, 0, (const char *[]){"e", "a.b", ".", "a.b.c", NULL}) &&
		      argv_is(wl, 1, (const char *[]){"e", "a/b/", "a", "", NULL}) &&
		      argv_is(wl, 2, (const char *[]){"e", "", ".", ".bashrc", NULL}) &&
		      argv_is(wl, 3, (const char *[]){"e", "x", ".", "x", NULL}),
	      "quick: {.} {//} {/} as GNU parallel");
	workload_free(wl);

	char *cmd5[] = {"awk", "{print $1}", NULL};
	rc = workload_quick(cmd5, 1, (char **[]){s1}, &wl, &E);
	EXPECT(rc == 0 && argv_is(wl, 0, (const char *[]){"awk", "{print $1}", "a", NULL}),
	      "quick: other braces are not replacement strings");
	workload_free(wl);

	char *empty[] = {NULL};
	rc = workload_quick(cmd1, 2, (char **[]){s1, empty}, &wl, &E);
	EXPECT(rc == 0 && wl && wl->ntasks == 0, "quick: an empty source yields 0 tasks");
	workload_free(wl);

	wl = (struct workload *)1;
	char *cmd6[] = {"echo", "{3}", NULL};
	rc = workload_quick(cmd6, 2, two, &wl, &E);
	EXPECT(rc == -1 && wl == NULL && strstr(E.msg, "<command line>: {3} refers to argument source 3"),
	      "quick: a source number past the end (%s)", E.msg);
	rc = workload_quick(cmd1, 0, NULL, &wl, &E);
	EXPECT(rc == -1 && strstr(E.msg, "<command line>: no arguments"), "quick: no sources");

	rc = workload_quick(empty, 2, two, &wl, &E);
	EXPECT(rc == 0 && wl->ntasks == 4 && streq(wl->tasks[1].spec->sh, "a 2") && !wl->tasks[1].spec->argv,
	      "quick: no command runs the args as a shell command");
	workload_free(wl);

	char *cmd7[] = {"{}", NULL};
	char *blank[] = {"ok", "", NULL};
	rc = workload_quick(cmd7, 1, (char **[]){blank}, &wl, &E);
	EXPECT(rc == -1 && strstr(E.msg, "<command line>: task 2: the command is empty"),
	      "quick: an empty command is an error");
}

int main(void)
{
	test_syntax();
	test_files();
	test_top();
	test_fields();
	test_defaults();
	test_matrix();
	test_million();
	test_dag();
	test_chain();
	test_quick();
	return check_done();
}
