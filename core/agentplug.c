/* agentplug.c - plugins on a `gearbox agent`: the ones its controller names
 * in the hello, loaded from the path the controller resolved (a shared
 * filesystem, as for the run's files) with the controller's config for them.
 * A kind a plugin adds runs here through its run; a hook plugin's
 * before_task is asked before an exec or sim attempt runs. Their log lines
 * and events go to the controller as "log" and "event" messages. See
 * nodeplug.h.
 *
 * Threads: loading, run_start and the end on the agent's main thread (or
 * the thread that ends it); tick on the heartbeat thread; a kind's run and
 * before_task on runner threads, several at once, as on a controller's
 * workers.
 */
#include "nodeplug.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

struct agentplug {
	struct hostctx hc;         /* first: a plugin's ctx leads back here */
	struct plugin_set *sets;   /* one per plugin, in the hello's order */
	size_t n;
	int *hooks;                /* per set: its before_task runs here */
	int started;               /* run_start was called */
	agentplug_send send;
	void *ud;
};

static struct agentplug *AP(void *ctx)
{
	return (struct agentplug *)((struct plugin_ctx *)ctx)->ctx;
}

static void ap_log(void *ctx, int level, const char *msg)
{
	struct agentplug *ap = AP(ctx);
	struct buf b = {0};
	buf_addf(&b, "{\"op\":\"log\",\"level\":%d,\"plugin\":", level);
	buf_json_str(&b, ((struct plugin_ctx *)ctx)->name);
	buf_adds(&b, ",\"msg\":");
	buf_json_str(&b, msg ? msg : "");
	buf_adds(&b, "}");
	ap->send(ap->ud, &b);
	buf_free(&b);
}

static void ap_event(void *ctx, const char *name, const gbx_task *t, const char *fields)
{
	struct agentplug *ap = AP(ctx);
	if (!name)
		return;
	struct buf b = {0};
	buf_adds(&b, "{\"op\":\"event\",\"name\":");
	buf_json_str(&b, name);
	if (t) {
		buf_adds(&b, ",\"task\":");
		buf_json_str(&b, ((const struct task *)(const void *)t)->id);
	}
	if (fields && *fields) {
		buf_adds(&b, ",\"fields\":");
		buf_json_str(&b, fields);
	}
	buf_adds(&b, "}");
	ap->send(ap->ud, &b);
	buf_free(&b);
}

int agentplug_load(json_t *hello, agentplug_send send, void *ud, struct agentplug **out,
		   struct err *err)
{
	*out = NULL;
	json_t *arr = json_object_get(hello, "plugins");
	if (!arr || !json_array_size(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, "the hello's \"plugins\" is not an array");
	struct agentplug *ap = calloc(1, sizeof *ap);
	size_t np = json_array_size(arr);
	if (!ap || !(ap->sets = calloc(np, sizeof *ap->sets)) ||
	    !(ap->hooks = calloc(np, sizeof *ap->hooks))) {
		if (ap)
			free(ap->sets);
		free(ap);
		return err_set(err, "out of memory");
	}
	ap->send = send;
	ap->ud = ud;
	struct gbx_host h;
	host_table(&ap->hc, &h);
	h.log = ap_log;
	h.event = ap_event;
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		const char *name = proto_str(e, "name"), *path = proto_str(e, "path");
		const char *cdir = proto_str(e, "config_dir");
		json_t *cfg = json_object_get(e, "config");
		if (!name || !path || !strchr(path, '/')) {
			err_set(err, "plugin %zu of the hello has no name or path", i + 1);
			goto fail;
		}
		if (!ap->hc.config_dir && cdir && !(ap->hc.config_dir = strdup(cdir))) {
			err_set(err, "out of memory");
			goto fail;
		}
		/* the file the controller loaded: its directory is the only one
		 * searched, so a node without it says so instead of finding
		 * another file of that name */
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
		char *dirs[2] = {dir[0] ? dir : "/", NULL};
		const char *base = strrchr(path, '/') + 1;
		size_t bl = strlen(base);
		if (bl < 4 || strcmp(base + bl - 3, ".so") || strncmp(base, name, bl - 3) ||
		    strlen(name) != bl - 3) {
			err_set(err, "plugin %s: %s is not %s.so", name, path, name);
			goto fail;
		}
		struct stat st;
		if (stat(path, &st) != 0) {
			err_set(err, "plugin %s: %s: %s (the controller loaded it from there; every "
				"node needs it at the same path)", name, path, strerror(errno));
			goto fail;
		}
		json_t *c = json_is_object(cfg) ? json_incref(cfg) : json_object();
		json_t *res = json_pack("{s:{s:b, s:i, s:o}}", name, "enabled", 1, "order", 0, "config", c);
		struct err le;
		int rc = res ? plugins_load(&ap->sets[ap->n], res, dirs, 1, "the controller's config",
					    &h, &le)
			     : err_set(&le, "out of memory");
		json_decref(res);
		if (rc) { /* the loader's messages name the plugin or its file */
			err_set(err, "%s", le.msg);
			goto fail;
		}
		ap->hooks[ap->n] = json_is_true(json_object_get(e, "hooks"));
		ap->n++;
	}
	for (size_t k = 0; k < ap->n; k++)
		for (size_t s = 0; s < ap->sets[k].nstart; s++)
			ap->sets[k].start[s]->d->run_start(ap->sets[k].start[s]->self, 0);
	ap->started = 1;
	*out = ap;
	return 0;
fail:
	agentplug_end(ap);
	return -1;
}

static const struct gbx_kind *find_kind(const struct agentplug *ap, const char *kind, void **self)
{
	for (size_t k = 0; ap && kind && k < ap->n; k++)
		for (size_t i = 0; i < ap->sets[k].n; i++)
			for (const struct gbx_kind *x = ap->sets[k].p[i].d->kinds; x && x->name; x++)
				if (!strcmp(x->name, kind)) {
					if (self)
						*self = ap->sets[k].p[i].self;
					return x;
				}
	return NULL;
}

int agentplug_has_kind(const struct agentplug *ap, const char *kind)
{
	return find_kind(ap, kind, NULL) != NULL;
}

void agentplug_kinds_json(const struct agentplug *ap, struct buf *b)
{
	for (size_t k = 0; ap && k < ap->n; k++)
		for (size_t i = 0; i < ap->sets[k].n; i++)
			for (const struct gbx_kind *x = ap->sets[k].p[i].d->kinds; x && x->name; x++) {
				buf_adds(b, ",");
				buf_json_str(b, x->name);
			}
}

void agentplug_task(const json_t *m, struct task *t, struct spec *s)
{
	s->target = (char *)proto_str(m, "target");
	json_t *c = json_object_get(m, "cache");
	s->cache = json_is_boolean(c) ? json_is_true(c) : -1;
	t->priority = s->priority = (int32_t)proto_int(m, "priority", 0);
	json_t *meta = json_object_get(m, "meta");
	s->meta = meta;
	json_t *f = json_object_get(m, "fields");
	s->extra = json_is_object(f) ? f : NULL;
	s->inputs = proto_strv(m, "inputs");
	s->outputs = proto_strv(m, "outputs");
}

void agentplug_task_free(struct spec *s)
{
	free(s->inputs);
	free(s->outputs);
	s->inputs = s->outputs = NULL;
}

/* Waits ms or until the attempt is stopped; returns 1 when stopped. */
static int wait_or_stop(struct runner_ctx *rc, int64_t ms)
{
	int64_t until = now_ns() + ms * 1000000;
	for (;;) {
		if (atomic_load(rc->stop))
			return 1;
		int64_t left = (until - now_ns()) / 1000000;
		if (left <= 0)
			return 0;
		struct pollfd p = {rc->wake_fd, POLLIN, 0};
		if (poll(&p, 1, left > 1000 ? 1000 : (int)left) > 0) {
			uint64_t v;
			ssize_t r = read(rc->wake_fd, &v, sizeof v);
			(void)r;
		}
	}
}

int agentplug_run(struct agentplug *ap, const char *kind, const struct task *t,
		  struct runner_ctx *rc, struct attempt *a)
{
	const gbx_task *gt = (const gbx_task *)(const void *)t;
	void *self = NULL;
	const struct gbx_kind *k = find_kind(ap, kind, &self);
	if (k) {
		struct gbx_result r;
		memset(&r, 0, sizeof r);
		r.exit_code = -1;
		a->start_ns = now_ns();
		k->run(self, gt, &r);
		a->end_ns = now_ns();
		attempt_take_result(a, &r);
		return 1;
	}
again:
	for (size_t s = 0; s < ap->n; s++) {
		if (!ap->hooks[s])
			continue;
		for (size_t i = 0; i < ap->sets[s].nbefore; i++) {
			const struct plugin *p = ap->sets[s].before[i];
			struct gbx_before ans;
			memset(&ans, 0, sizeof ans);
			int64_t t0 = now_ns();
			p->d->before_task(p->self, gt, &ans);
			switch (ans.verdict) {
			case GBX_ANSWER:
				attempt_answered(a, p->d->name, &ans, t0);
				return 1;
			case GBX_REJECT:
				attempt_rejected(a, p->d->name, &ans);
				return 1;
			case GBX_DEFER: {
				/* as the engine does: ready again after the delay, and every
				 * before_task is asked again from the first */
				int64_t ms = ans.delay_ms > 0 ? ans.delay_ms : GBX_DEFER_TICK_MS;
				if (wait_or_stop(rc, ms > 3600000 ? 3600000 : ms)) {
					a->start_ns = a->end_ns = now_ns();
					a->ok = 0;
					a->fkind = FK_SIGNAL;
					a->sig = SIGTERM;
					a->exit_code = -1;
					return 1;
				}
				goto again;
			}
			default:
				break;
			}
		}
	}
	return 0;
}

void agentplug_stop(struct agentplug *ap)
{
	if (ap)
		host_stop(&ap->hc);
}

void agentplug_tick(struct agentplug *ap)
{
	struct gbx_metrics m;
	memset(&m, 0, sizeof m);
	m.size = sizeof m;
	for (size_t k = 0; ap && k < ap->n; k++)
		for (size_t i = 0; i < ap->sets[k].ntick; i++)
			ap->sets[k].tick[i]->d->tick(ap->sets[k].tick[i]->self, &m);
}

void agentplug_end(struct agentplug *ap)
{
	if (!ap)
		return;
	host_stop(&ap->hc);
	for (size_t k = ap->n; k-- > 0;) {
		for (size_t i = 0; ap->started && i < ap->sets[k].nend; i++)
			ap->sets[k].end[i]->d->run_end(ap->sets[k].end[i]->self, 0, 0);
		plugins_unload(&ap->sets[k]);
	}
	host_free(&ap->hc);
	free(ap->sets);
	free(ap->hooks);
	free(ap);
}
