/* template.c - a gearbox plugin to copy and start from.
 *
 * It shows every piece a plugin has: the descriptor (the only exported
 * symbol), a config key ("greeting"), init/fini, run_start/run_end on the
 * main thread, and before_task/after_task on worker threads, which here write
 * one event each ("template.before", "template.after") through the host.
 *
 * Rename it: the file must be NAME.so and the descriptor's name NAME, and
 * NAME is the key under "plugins" in the config. It depends on nothing but
 * <gearbox/plugin.h> and libc (no JSON library: config_json is parsed by hand
 * below, which is enough for flat string options).
 */
#include <gearbox/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct template {
	const struct gbx_host *host; /* valid until fini returns */
	char greeting[256];
};

/* ---- a tiny reader for the flat JSON object init receives ---------------- */

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

/* ---- hooks ---------------------------------------------------------------- */

static int template_init(const struct gbx_host *host, const char *config_json, void **self,
			 char *err, size_t errlen)
{
	struct template *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->host = host;
	strcpy(t->greeting, "hello");
	const char *g = json_member(config_json, "greeting");
	if (g && json_string(g, t->greeting, sizeof t->greeting)) {
		snprintf(err, errlen, "greeting: expected a string");
		free(t);
		return -1;
	}
	*self = t;
	return 0;
}

static void template_fini(void *self)
{
	free(self);
}

static void template_run_start(void *self, int64_t ntasks)
{
	struct template *t = self;
	char msg[400];
	snprintf(msg, sizeof msg, "%s: %lld task%s to run", t->greeting, (long long)ntasks,
		 ntasks == 1 ? "" : "s");
	t->host->log(t->host->ctx, 0, msg);
}

static void template_run_end(void *self, int64_t ok, int64_t failed)
{
	struct template *t = self;
	char msg[128];
	snprintf(msg, sizeof msg, "done: %lld ok, %lld failed", (long long)ok, (long long)failed);
	t->host->log(t->host->ctx, 0, msg);
}

/* Worker threads, concurrently: touch nothing shared without a lock. */
static void template_before_task(void *self, const gbx_task *task, struct gbx_before *ans)
{
	struct template *t = self;
	(void)ans; /* left as the host zeroed it: GBX_RUN */
	t->host->event(t->host->ctx, "template.before", task, NULL);
}

static void template_after_task(void *self, const gbx_task *task, const struct gbx_result *r)
{
	struct template *t = self;
	t->host->event(t->host->ctx, "template.after", task, r->ok ? "\"ok\":true" : "\"ok\":false");
}

static const char *const template_config_keys[] = {"greeting", NULL};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "template",
	.version = "0.1.0",
	.description = "a starting point: one event before and after each task",
	.config_keys = template_config_keys,
	.init = template_init,
	.fini = template_fini,
	.run_start = template_run_start,
	.run_end = template_run_end,
	.before_task = template_before_task,
	.after_task = template_after_task,
};
