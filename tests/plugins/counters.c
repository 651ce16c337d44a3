/* counters.c - the ABI 1.5 published counters from a plugin's side: in
 * run_end it publishes "ended" (the tasks it saw end), sets "twice" twice,
 * tries names the host must refuse, and fills the table to its cap; in
 * run_summary it logs every counter it reads (the cache's too, when the
 * cache is on), in the order counters() gives them. */
#include <gearbox/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ct {
	const struct gbx_host *h;
	atomic_llong ended;
	int fill;
};

static void say(struct ct *c, const char *msg)
{
	c->h->log(c->h->ctx, 0, msg);
}

static int init(const struct gbx_host *h, const char *cfg, void **self, char *err, size_t errlen)
{
	if (!GBX_HOST_HAS(h, counters)) {
		snprintf(err, errlen, "needs ABI 1.5");
		return -1;
	}
	struct ct *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->h = h;
	c->fill = cfg && strstr(cfg, "\"fill\":true") != NULL;
	*self = c;
	return 0;
}

static void fini(void *self)
{
	free(self);
}

static void after(void *self, const gbx_task *t, const struct gbx_result *r)
{
	(void)t, (void)r;
	atomic_fetch_add(&((struct ct *)self)->ended, 1);
}

static void run_end(void *self, int64_t ok, int64_t failed)
{
	struct ct *c = self;
	const struct gbx_host *h = c->h;
	(void)ok, (void)failed;
	char msg[256];
	int a = h->counter_set(h->ctx, "ended", atomic_load(&c->ended));
	int b = h->counter_set(h->ctx, "twice", 1);
	int b2 = h->counter_set(h->ctx, "twice", 2);
	int bad1 = h->counter_set(h->ctx, "Upper", 1);
	int bad2 = h->counter_set(h->ctx, "", 1);
	int bad3 = h->counter_set(h->ctx, NULL, 1);
	int bad4 = h->counter_set(h->ctx, "a b", 1);
	char longname[80];
	memset(longname, 'x', 64);
	longname[64] = 0;
	int bad5 = h->counter_set(h->ctx, longname, 1);
	snprintf(msg, sizeof msg, "set: %d %d %d refused: %d %d %d %d %d", a, b, b2, bad1, bad2, bad3,
		 bad4, bad5);
	say(c, msg);
	if (c->fill) {
		int took = 0, refused = 0;
		for (int i = 0; i < GBX_COUNTERS_MAX + 10; i++) {
			char name[32];
			snprintf(name, sizeof name, "f%03d", i);
			if (h->counter_set(h->ctx, name, i))
				refused++;
			else
				took++;
		}
		snprintf(msg, sizeof msg, "fill: took %d, refused %d; total %zu", took, refused,
			 h->counters(h->ctx, NULL, 0));
		say(c, msg);
	}
}

static void run_summary(void *self, const struct gbx_summary *s)
{
	struct ct *c = self;
	const struct gbx_host *h = c->h;
	(void)s;
	struct gbx_count few[2];
	size_t n = h->counters(h->ctx, few, 2); /* more than 2: only 2 written */
	size_t all = h->counters(h->ctx, NULL, 0);
	char msg[256];
	snprintf(msg, sizeof msg, "read: %zu (asked 2, first %s)", n, n ? few[0].name : "-");
	say(c, msg);
	if (c->fill || all > 64)
		return;
	struct gbx_count v[64];
	n = h->counters(h->ctx, v, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		snprintf(msg, sizeof msg, "counter %s=%lld", v[i].name, (long long)v[i].n);
		say(c, msg);
	}
}

static const char *const keys[] = {"fill", NULL};

GBX_PLUGIN_EXPORT = {
	.abi_major = GBX_PLUGIN_ABI_MAJOR,
	.abi_minor = GBX_PLUGIN_ABI_MINOR,
	.name = "counters",
	.version = "0.1.0",
	.description = "test: publishes and reads counters (ABI 1.5)",
	.config_keys = keys,
	.init = init,
	.fini = fini,
	.after_task = after,
	.run_end = run_end,
	.run_summary = run_summary,
};
