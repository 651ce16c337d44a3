/* hello.c - an example plugin that adds a task kind and a policy function.
 *
 *   { "id": "greet", "kind": "hello", "greeting": "Bonjour" }
 *
 * runs in-process on a worker thread and prints "Bonjour, greet". The
 * greeting field is optional (default: plugins.hello.greeting, else "Hello")
 * and must be a string; validate() says so at load time, before anything runs.
 * Policies get hello.greeting_length(s), the length of s in bytes.
 *
 * Like every plugin it needs only <gearbox/plugin.h> and libc.
 */
#include <gearbox/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when the host's table has member f (an older host has a shorter
 * table: structs only grow at the end) and it is set. */

struct hello {
	const struct gbx_host *host;
	char greeting[256]; /* the default; read-only after init, so workers share it freely */
};

/* ---- a tiny JSON reader: one object member, one string ------------------- */

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* Skips one JSON value; returns the character after it, or NULL if malformed. */
static const char *skip_value(const char *s)
{
	s = skip_ws(s);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++)
			if (*s == '\\' && !*++s)
				return NULL;
		return *s ? s + 1 : NULL;
	}
	if (*s == '{' || *s == '[') {
		int depth = 0;
		for (; *s; s++) {
			if (*s == '"') {
				s = skip_value(s);
				if (!s)
					return NULL;
				s--;
			} else if (*s == '{' || *s == '[') {
				depth++;
			} else if ((*s == '}' || *s == ']') && --depth == 0) {
				return s + 1;
			}
		}
		return NULL;
	}
	while (*s && *s != ',' && *s != '}' && *s != ']')
		s++;
	return s;
}

/* The value of member `key` of the JSON object `obj`, or NULL. */
static const char *json_member(const char *obj, const char *key)
{
	const char *s = skip_ws(obj);
	if (*s++ != '{')
		return NULL;
	size_t klen = strlen(key);
	for (;;) {
		s = skip_ws(s);
		if (*s != '"')
			return NULL;
		const char *k = s + 1, *end = skip_value(s);
		if (!end)
			return NULL;
		s = skip_ws(end);
		if (*s++ != ':')
			return NULL;
		if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen))
			return skip_ws(s);
		s = skip_value(s);
		if (!s)
			return NULL;
		s = skip_ws(s);
		if (*s++ != ',')
			return NULL;
	}
}

static int hexval(char h)
{
	return h >= '0' && h <= '9' ? h - '0'
	       : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10
						      : -1;
}

/* Copies the JSON string literal at v into out, escapes decoded (a \u
 * surrogate pair becomes '?'), truncated to fit. Returns 0, or -1 when v is
 * not a string. */
static int json_string(const char *v, char *out, size_t n)
{
	size_t o = 0;
	v = v ? skip_ws(v) : v;
	if (!v || *v++ != '"' || n == 0)
		return -1;
	for (; *v && *v != '"'; v++) {
		char enc[3];
		size_t len = 1;
		enc[0] = *v;
		if (*v == '\\') {
			switch (*++v) {
			case 'n': enc[0] = '\n'; break;
			case 't': enc[0] = '\t'; break;
			case 'r': enc[0] = '\r'; break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case '"': case '\\': case '/': enc[0] = *v; break;
			case 'u': {
				unsigned u = 0;
				for (int i = 0; i < 4; i++) {
					int h = hexval(*++v);
					if (h < 0)
						return -1;
					u = u * 16 + (unsigned)h;
				}
				if (u >= 0xd800 && u < 0xe000) {
					enc[0] = '?';
				} else if (u >= 0x800) {
					enc[0] = (char)(0xe0 | u >> 12);
					enc[1] = (char)(0x80 | (u >> 6 & 0x3f));
					enc[2] = (char)(0x80 | (u & 0x3f));
					len = 3;
				} else if (u >= 0x80) {
					enc[0] = (char)(0xc0 | u >> 6);
					enc[1] = (char)(0x80 | (u & 0x3f));
					len = 2;
				} else {
					enc[0] = (char)u;
				}
				break;
			}
			default: return -1;
			}
		}
		if (o + len < n) {
			memcpy(out + o, enc, len);
			o += len;
		}
	}
	out[o] = 0;
	return *v == '"' ? 0 : -1;
}

/* ---- the "hello" kind ---------------------------------------------------- */

/* The task's greeting into out; 0, or -1 when the field is there but not a string. */
static int task_greeting(struct hello *h, const gbx_task *t, char *out, size_t n)
{
	char *json = h->host->task_field_json(t, "greeting"); /* ours to free */
	if (!json) {
		snprintf(out, n, "%s", h->greeting);
		return 0;
	}
	int rc = json_string(json, out, n);
	free(json);
	return rc;
}

static int hello_validate(void *self, const gbx_task *t, char *err, size_t errlen)
{
	char g[256];
	if (task_greeting(self, t, g, sizeof g)) {
		snprintf(err, errlen, "greeting: expected a string");
		return -1;
	}
	return 0;
}

static int hello_run(void *self, const gbx_task *t, struct gbx_result *res)
{
	struct hello *h = self;
	/* The host copies res->out when run returns, before this thread calls
	 * into the plugin again, so a per-thread buffer needs no locking and no
	 * freeing. */
	static _Thread_local char out[1024];
	char g[256];
	if (task_greeting(h, t, g, sizeof g)) {
		/* validate() refused this at load time; stay safe anyway */
		res->ok = 0;
		res->failure = "error";
		res->exit_code = -1;
		return 0;
	}
	int n = snprintf(out, sizeof out, "%s, %s\n", g, h->host->task_id(t));
	res->ok = 1;
	res->exit_code = 0;
	res->out = out;
	res->out_len = n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
	return 0;
}

static const char *const hello_fields[] = {"greeting", NULL};

static const struct gbx_kind hello_kinds[] = {
	{.name = "hello", .fields = hello_fields, .validate = hello_validate, .run = hello_run},
	{.name = NULL},
};

/* ---- hello.greeting_length(s), for policies ------------------------------ */

static int greeting_length(void *self, const struct gbx_value *args, int nargs,
			   struct gbx_value *ret)
{
	(void)self;
	if (nargs < 1 || args[0].type != GBX_STR) {
		ret->type = GBX_STR;
		ret->str = "hello.greeting_length: expected a string";
		return -1;
	}
	ret->type = GBX_NUM;
	ret->num = (double)strlen(args[0].str);
	return 0;
}

/* ---- life cycle ---------------------------------------------------------- */

static int hello_init(const struct gbx_host *host, const char *config_json, void **self,
		      char *err, size_t errlen)
{
	struct hello *h = calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->host = host;
	strcpy(h->greeting, "Hello");
	const char *g = json_member(config_json, "greeting");
	if (g && json_string(g, h->greeting, sizeof h->greeting)) {
		snprintf(err, errlen, "greeting: expected a string");
		free(h);
		return -1;
	}
	if (GBX_HOST_HAS(host, lua_fn) && host->lua_fn &&
	    host->lua_fn(host->ctx, "hello", "greeting_length", greeting_length, h)) {
		snprintf(err, errlen, "cannot add hello.greeting_length for policies");
		free(h);
		return -1;
	}
	*self = h;
	return 0;
}

static void hello_fini(void *self)
{
	free(self);
}

static const char *const hello_config_keys[] = {"greeting", NULL};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "hello",
	.version = "0.1.0",
	.description = "example: a \"hello\" task kind and hello.greeting_length() for policies",
	.config_keys = hello_config_keys,
	.init = hello_init,
	.fini = hello_fini,
	.kinds = hello_kinds,
};
