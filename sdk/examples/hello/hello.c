/* hello.c - an example plugin that adds a task kind and a policy function.
 *
 *   { "id": "greet", "kind": "hello", "greeting": "Bonjour" }
 *
 * runs in-process on a worker thread and prints "Bonjour, greet". The
 * greeting field is optional (default: plugins.hello.greeting, else "Hello")
 * and must be a string; validate() says so at load time, before anything runs.
 * Policies get hello.greeting_length(s), the length of s in bytes.
 *
 * Like every plugin it needs only the SDK headers (<gearbox/plugin.h>, and
 * <gearbox/plugin_json.h> to read JSON) and libc.
 */
#include <gearbox/plugin.h>
#include <gearbox/plugin_json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hello {
	const struct gbx_host *host;
	char greeting[256]; /* the default; read-only after init, so workers share it freely */
};

/* ---- the "hello" kind ---------------------------------------------------- */

/* The task's greeting into out; 0, or -1 when the field is there but not a string. */
static int task_greeting(struct hello *h, const gbx_task *t, char *out, size_t n)
{
	char *json = h->host->task_field_json(t, "greeting"); /* ours to free */
	if (!json) {
		snprintf(out, n, "%s", h->greeting);
		return 0;
	}
	int rc = gbx_json_string(json, out, n);
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
	const char *g = gbx_json_member(config_json, "greeting");
	if (g && gbx_json_string(g, h->greeting, sizeof h->greeting)) {
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
