/* nodes.c - the controller's nodes: launch `gearbox agent` through a launcher
 * (local, ssh, srun, or a config template), read each agent's answers on a
 * thread of its own, place attempts, watch heartbeats, lose and relaunch.
 * This file starts and stops the nodes, places attempts and waits for their
 * answers; a node's life (launch, reader, watch, loss) is in nodewatch.c.
 *
 * Invariants, under ns->mu:
 *  - a node is STARTING (launched, no hello yet), UP, or DOWN (lost or never
 *    started; relaunch_at says whether and when it comes back);
 *  - running == the number of calls on the node's list; a call is on exactly
 *    one node's list until its answer is taken (by the reader, which unlinks
 *    it first) or the node is lost (which unlinks them all, marked lost);
 *  - a call is busy while the reader appends a piece of its output to its
 *    attempt's spools, outside mu; a loss meanwhile marks it gone and the
 *    reader marks it lost when the piece is in, so its worker never returns
 *    while its spools are written;
 *  - a node's reader thread owns from_fd and the launch's pid; the node's
 *    fields of one launch are reset only after that reader was joined.
 * A worker waiting for an answer polls its own eventfd and the engine's wake
 * fd, so a stop request reaches the agent as a kill message.
 */
#include "nodes_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nodespec.h"
#include "proto.h"

int nodes_spec_check(const char *spec, json_t *cfg, const char *cfg_path, struct err *err)
{
	if (nodespec_check_cfg(cfg, cfg_path ? cfg_path : "config", err))
		return -1;
	return nodespec_parse(spec, cfg, 0, NULL, err) < 0 ? -1 : 0;
}

/* ---- the public side ------------------------------------------------------- */

static int64_t cfg_int(json_t *cfg, const char *k, int64_t d)
{
	json_t *v = cfg ? json_object_get(cfg, k) : NULL;
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : d;
}

int nodes_start(const struct nodes_opts *o, struct nodes **out, struct err *err)
{
	*out = NULL;
	const char *cpath = o->cfg_path ? o->cfg_path : "config";
	if (nodespec_check_cfg(o->cfg, cpath, err))
		return -1;
	struct nodes *ns = calloc(1, sizeof *ns);
	if (!ns)
		return err_set(err, "--nodes: out of memory");
	pthread_mutex_init(&ns->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&ns->cv, &ca);
	ns->o = *o;
	ns->hb_ms = cfg_int(o->cfg, "heartbeat_ms", 1000);
	ns->timeout_ms = cfg_int(o->cfg, "timeout_ms", ns->hb_ms * 5 > 5000 ? ns->hb_ms * 5 : 5000);
	ns->start_ms = cfg_int(o->cfg, "start_timeout_ms", 30000);
	ns->backoff_ms = cfg_int(o->cfg, "backoff_ms", 500);
	ns->relaunch_max = (int)cfg_int(o->cfg, "relaunch", 3);
	ns->grace_ms = o->grace_ms > 0 ? o->grace_ms : 2000;
	char cwd[PATH_MAX];
	ns->cwd = strdup(getcwd(cwd, sizeof cwd) ? cwd : "/");
	if (o->plugins) {
		char *pj = json_dumps(o->plugins, JSON_COMPACT);
		struct buf pb = {0};
		if (pj)
			buf_addf(&pb, ",\"plugins\":%s", pj);
		free(pj);
		ns->plugins_json = pb.p;
	}
	struct node_spec *sp = NULL;
	int nh = nodespec_parse(o->spec, o->cfg, 1, &sp, err);
	ns->n = nh > 0 ? calloc((size_t)nh, sizeof *ns->n) : NULL;
	if (nh <= 0 || !ns->n) {
		if (nh >= 0)
			err_set(err, "--nodes %s: no node", o->spec);
		nodespec_free(sp, nh);
		nodes_stop(ns);
		return -1;
	}
	for (int i = 0; i < nh; i++) { /* the node takes the spec's strings */
		struct node *nd = &ns->n[i];
		nd->ns = ns;
		nd->idx = i;
		nd->pid = -1;
		nd->to_fd = nd->from_fd = nd->err_fd = -1;
		pthread_mutex_init(&nd->wmu, NULL);
		nd->name = sp[i].name;
		nd->argv = sp[i].argv;
		nd->cfg_labels = sp[i].labels;
		nd->slots_given = sp[i].slots;
		nd->state = N_DOWN;
		nd->relaunch_at = INT64_MAX;
	}
	ns->nn = nh;
	free(sp);
	signal(SIGPIPE, SIG_IGN); /* a lost agent's pipe: the write fails, the reader sees EOF */
	pthread_mutex_lock(&ns->mu);
	for (int i = 0; i < ns->nn; i++) {
		if (node_launch(ns, &ns->n[i]))
			ns->n[i].reader_done = 1;
	}
	/* wait for every handshake (or failure) */
	int64_t until = now_ns() + ns->start_ms * 1000000;
	for (;;) {
		int starting = 0;
		for (int i = 0; i < ns->nn; i++)
			starting += ns->n[i].state == N_STARTING;
		if (!starting || now_ns() > until)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ns->cv, &ns->mu, &ts);
	}
	int up = 0, cwd_bad = -1;
	for (int i = 0; i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		if (nd->state == N_STARTING) {
			char w[100];
			snprintf(w, sizeof w, "no handshake within %lld ms", (long long)ns->start_ms);
			node_down(ns, nd, w);
		}
		if (nd->state == N_UP)
			up++;
		else if (strstr(nd->why, "does not exist there") && cwd_bad < 0)
			cwd_bad = i;
	}
	/* each node that failed says why once: in its own line, or in err (the
	 * caller prints it) when that is about this node alone */
	int in_err = cwd_bad >= 0 ? cwd_bad : up == 0 && ns->nn == 1 ? 0 : -1;
	for (int i = 0; i < ns->nn; i++)
		if (ns->n[i].state != N_UP && i != in_err)
			fprintf(stderr, "gearbox: node %s cannot start: %s\n", ns->n[i].name,
				ns->n[i].why);
	pthread_mutex_unlock(&ns->mu);
	if (cwd_bad >= 0 || up == 0) {
		struct node *nd = &ns->n[in_err >= 0 ? in_err : 0];
		if (cwd_bad >= 0)
			err_set(err, "--nodes %s: node %s: %s", o->spec, nd->name, nd->why);
		else if (ns->nn == 1)
			err_set(err, "--nodes %s: node %s cannot start: %s", o->spec, nd->name, nd->why);
		else
			err_set(err, "--nodes %s: no node could start (%d tried, each said why above)",
				o->spec, ns->nn);
		nodes_stop(ns);
		return -1;
	}
	ns->has_watch = pthread_create(&ns->watch, NULL, node_watch_main, ns) == 0;
	*out = ns;
	return 0;
}

void nodes_attach(struct nodes *ns, void (*event)(void *ud, const char *name, const char *fields),
		  int (*place)(void *ud, const struct task *t, const struct node_view *v, int n),
		  void *ud)
{
	pthread_mutex_lock(&ns->mu);
	ns->o.event = event;
	ns->o.place = place;
	ns->o.ud = ud;
	for (int i = 0; event && i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		if (nd->state != N_UP)
			continue;
		char ex[200];
		snprintf(ex, sizeof ex, "\"host\":\"%.100s\",\"slots\":%d,\"relaunch\":%d", nd->host,
			 nd->slots, nd->relaunches);
		node_emit(ns, "node.up", nd, ex);
	}
	pthread_mutex_unlock(&ns->mu);
}

int nodes_slots(const struct nodes *ns)
{
	int s = 0;
	for (int i = 0; i < ns->nn; i++)
		s += ns->n[i].state == N_UP ? ns->n[i].slots : 0;
	return s > 0 ? s : 1;
}

int nodes_count(const struct nodes *ns)
{
	return ns->nn;
}

const char *nodes_name(const struct nodes *ns, int i)
{
	return ns && i >= 0 && i < ns->nn ? ns->n[i].name : "";
}

static int node_fits(const struct node *nd, const struct task *t)
{
	for (char **l = t->spec->node; l && *l; l++)
		if (!node_has_label(nd->labels, *l))
			return 0;
	return 1;
}

int nodes_check(const struct nodes *ns, const struct workload *wl, struct err *err)
{
	const struct spec *last = NULL;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct task *t = &wl->tasks[i];
		if (!t->spec->node || t->spec == last)
			continue;
		last = t->spec;
		int ok = 0;
		for (int k = 0; k < ns->nn && !ok; k++)
			ok = ns->n[k].state == N_UP && node_fits(&ns->n[k], t);
		if (!ok) {
			struct buf b = {0};
			for (char **l = t->spec->node; *l; l++)
				buf_addf(&b, "%s%s", l == t->spec->node ? "" : ",", *l);
			buf_add(&b, "", 1);
			err_set(err, "%s: task %s needs a node with labels %s, and no node has them "
				"(nodes: %s...)", wl->path, t->id, b.p, ns->nn ? ns->n[0].name : "none");
			buf_free(&b);
			return -1;
		}
	}
	return 0;
}

int nodes_alive(struct nodes *ns)
{
	pthread_mutex_lock(&ns->mu);
	int alive = 0;
	for (int i = 0; i < ns->nn && !alive; i++)
		alive = ns->n[i].state != N_DOWN || ns->n[i].relaunch_at != INT64_MAX;
	pthread_mutex_unlock(&ns->mu);
	return alive;
}

/* Under mu: the built-in least_loaded: the eligible node with a free slot
 * and the lowest running/slots (then load), round robin among equals. */
static int pick_builtin(struct nodes *ns, const struct task *t, const struct res_need *need)
{
	int best = -1;
	double bk = 0, bl = 0;
	for (int k = 0; k < ns->nn; k++) {
		int i = (ns->rr + k) % ns->nn;
		struct node *nd = &ns->n[i];
		if (nd->state != N_UP || nd->running >= nd->slots || !node_fits(nd, t) ||
		    !node_res_room(nd, need))
			continue;
		double key = (double)nd->running / nd->slots;
		if (best < 0 || key < bk || (key == bk && nd->load < bl)) {
			best = i;
			bk = key;
			bl = nd->load;
		}
	}
	if (best >= 0)
		ns->rr = (best + 1) % ns->nn;
	return best;
}

static const char *kind_of(const struct task *t)
{
	return spec_kind_name(t->spec);
}

/* Under mu: views of the eligible nodes with a free slot (for a policy). */
static int make_views(struct nodes *ns, const struct task *t, const struct res_need *need,
		      struct node_view *v, int max)
{
	int n = 0;
	const char *kind = kind_of(t);
	for (int i = 0; i < ns->nn && n < max; i++) {
		struct node *nd = &ns->n[i];
		if (nd->state != N_UP || nd->running >= nd->slots || !node_fits(nd, t) ||
		    !node_res_room(nd, need))
			continue;
		struct node_view *x = &v[n++];
		memset(x, 0, sizeof *x);
		x->name = nd->name;
		x->index = i;
		x->slots = nd->slots;
		x->running = nd->running;
		x->cores = nd->cores;
		x->mem_mb = nd->mem_mb;
		x->load = nd->load / nd->cores;
		x->labels = (const char *const *)nd->labels;
		for (int k = 0; k < nd->nks; k++)
			if (!strcmp(nd->ks[k].kind, kind)) {
				x->kind_runs = nd->ks[k].runs;
				x->kind_ok = nd->ks[k].ok;
				x->kind_avg_ms = nd->ks[k].runs ? nd->ks[k].sum_ms / (double)nd->ks[k].runs : 0;
			}
	}
	return n;
}

static void set_stopped(struct attempt *a, int64_t start)
{
	a->start_ns = start;
	a->end_ns = now_ns();
	a->ok = 0;
	a->fkind = FK_SIGNAL;
	a->sig = SIGTERM;
	a->exit_code = -1;
}

static void add_waiter(struct nodes *ns, int efd)
{
	if (ns->nwait == ns->capwait) {
		int nc = ns->capwait ? ns->capwait * 2 : 16;
		int *w = realloc(ns->waiters, (size_t)nc * sizeof *w);
		if (!w)
			return; /* it polls with a timeout anyway */
		ns->waiters = w;
		ns->capwait = nc;
	}
	ns->waiters[ns->nwait++] = efd;
}

static void del_waiter(struct nodes *ns, int efd)
{
	for (int i = 0; i < ns->nwait; i++)
		if (ns->waiters[i] == efd) {
			ns->waiters[i] = ns->waiters[--ns->nwait];
			return;
		}
}

static void add_strv(struct buf *b, const char *key, char *const *v)
{
	if (!v)
		return;
	buf_addf(b, ",\"%s\":[", key);
	for (char *const *p = v; *p; p++) {
		if (p != v)
			buf_adds(b, ",");
		buf_json_str(b, *p);
	}
	buf_adds(b, "]");
}

static void add_json(struct buf *b, const char *key, json_t *v)
{
	char *j = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	if (j)
		buf_addf(b, ",\"%s\":%s", key, j);
	free(j);
}

/* With plugins on the agents: what a plugin may read of a task besides what
 * its runner needs (nodeplug.h, agentplug_task). */
static void build_plugin_fields(struct buf *b, const struct task *t)
{
	const struct spec *s = t->spec;
	if (s->target) {
		buf_adds(b, ",\"target\":");
		buf_json_str(b, s->target);
	}
	if (t->priority)
		buf_addf(b, ",\"priority\":%d", (int)t->priority);
	if (s->cache >= 0)
		buf_addf(b, ",\"cache\":%s", s->cache ? "true" : "false");
	add_strv(b, "inputs", s->inputs);
	add_strv(b, "outputs", s->outputs);
	add_json(b, "meta", s->meta);
	add_json(b, "fields", s->extra);
}

static void build_run(struct buf *b, int64_t id, const struct task *t, int64_t grace_ms,
		      int plugins, struct proto_part *stdin_part)
{
	const struct spec *s = t->spec;
	buf_addf(b, "{\"op\":\"run\",\"id\":%lld,\"task\":", (long long)id);
	buf_json_str(b, t->id);
	buf_addf(b, ",\"attempt\":%u", t->attempts);
	if (t->timeout_ms > 0)
		buf_addf(b, ",\"timeout_ms\":%lld", (long long)t->timeout_ms);
	buf_addf(b, ",\"grace_ms\":%lld", (long long)grace_ms);
	if (s->kind == KIND_SIM) {
		buf_adds(b, ",\"kind\":\"sim\"");
		if (s->cpu_us)
			buf_addf(b, ",\"cpu_us\":%lld", (long long)s->cpu_us);
		if (s->io_ms)
			buf_addf(b, ",\"io_ms\":%lld", (long long)s->io_ms);
		if (s->mem_kb)
			buf_addf(b, ",\"mem_kb\":%lld", (long long)s->mem_kb);
		if (s->fail_rate > 0)
			buf_addf(b, ",\"fail_rate\":%.17g", s->fail_rate);
		if (s->fail_after)
			buf_addf(b, ",\"fail_after\":%d", s->fail_after);
		if (s->seed)
			buf_addf(b, ",\"seed\":\"%llu\"", (unsigned long long)s->seed);
	} else {
		buf_adds(b, ",\"kind\":");
		buf_json_str(b, s->kind == KIND_PLUGIN && s->kind_name ? s->kind_name : "exec");
		add_strv(b, "argv", s->argv);
		if (s->sh) {
			buf_adds(b, ",\"sh\":");
			buf_json_str(b, s->sh);
		}
		add_strv(b, "env", s->env);
		if (s->cwd) {
			buf_adds(b, ",\"cwd\":");
			buf_json_str(b, s->cwd);
		}
		if (s->stdin_data && s->stdin_len) {
			buf_addf(b, ",\"bytes\":%zu", s->stdin_len);
			*stdin_part = (struct proto_part){s->stdin_data, s->stdin_len};
		}
	}
	if (plugins)
		build_plugin_fields(b, t);
	buf_adds(b, "}");
}

void nodes_run(struct nodes *ns, const struct task *t, struct runner_ctx *rc, struct attempt *a)
{
	int64_t start = now_ns();
	struct call c;
	memset(&c, 0, sizeof c);
	/* the worker's own wake fd: an answer, a loss, a free slot and a stop
	 * request all wake the one poll; the flags say which */
	c.efd = rc->wake_fd;
	c.a = a;
	a->node = -1;
	struct node_view vs[64];
	pthread_mutex_lock(&ns->mu);
	/* what it needs of a node's resources (noderes.c), or NULL */
	const struct res_need *need = ns->plan ? node_res_need(ns, t) : NULL;
	int pick = -1, waiting = 0;
	for (;;) {
		if (ns->o.place) {
			int nv = make_views(ns, t, need, vs, 64);
			if (nv > 1) {
				pthread_mutex_unlock(&ns->mu);
				int k = ns->o.place(ns->o.ud, t, vs, nv);
				pthread_mutex_lock(&ns->mu);
				if (k >= 0 && k < nv) {
					struct node *nd = &ns->n[vs[k].index];
					if (nd->state == N_UP && nd->running < nd->slots && node_fits(nd, t) &&
					    node_res_room(nd, need))
						pick = vs[k].index;
				}
			}
		}
		if (pick < 0)
			pick = pick_builtin(ns, t, need);
		if (pick >= 0)
			break;
		int alive = 0;
		for (int i = 0; i < ns->nn && !alive; i++)
			alive = ns->n[i].state != N_DOWN || ns->n[i].relaunch_at != INT64_MAX;
		if (!alive || ns->stopping) {
			if (waiting)
				del_waiter(ns, c.efd);
			pthread_mutex_unlock(&ns->mu);
			a->start_ns = start;
			a->end_ns = now_ns();
			a->fkind = FK_LOST;
			a->exit_code = -1;
			snprintf(a->msg, sizeof a->msg, "no node left to run it");
			return;
		}
		if (!waiting) {
			add_waiter(ns, c.efd);
			waiting = 1;
		}
		pthread_mutex_unlock(&ns->mu);
		struct pollfd p = {c.efd, POLLIN, 0};
		if (poll(&p, 1, 1000) > 0)
			node_efd_drain(c.efd);
		pthread_mutex_lock(&ns->mu);
		if (atomic_load(rc->stop)) {
			del_waiter(ns, c.efd);
			pthread_mutex_unlock(&ns->mu);
			set_stopped(a, start);
			return;
		}
	}
	if (waiting)
		del_waiter(ns, c.efd);
	struct node *nd = &ns->n[pick];
	c.id = ++ns->next_id;
	c.node = pick;
	c.next = nd->calls;
	if (nd->calls)
		nd->calls->prev = &c;
	nd->calls = &c;
	nd->running++;
	nd->n_attempts++;
	c.need = need;
	node_res_add(nd, need, 1);
	int gen = nd->gen;
	/* its time on the node starts now (the wait for one is not in it); the
	 * reader sets the end when the answer comes, before the needs go back */
	a->start_ns = now_ns();
	pthread_mutex_unlock(&ns->mu);

	a->node = pick;
	struct buf b = {0};
	struct proto_part sp = {NULL, 0};
	build_run(&b, c.id, t, rc->kill_grace_ms > 0 ? rc->kill_grace_ms : ns->grace_ms,
		  ns->plugins_json != NULL, &sp);
	/* a failed write (the agent is gone) shows as the node's loss */
	pthread_mutex_lock(&nd->wmu);
	if (nd->gen == gen && nd->to_fd >= 0)
		proto_write(nd->to_fd, NULL, &b, &sp, 1);
	pthread_mutex_unlock(&nd->wmu);
	int killed = 0;
	while (!atomic_load(&c.state)) {
		struct pollfd p = {c.efd, POLLIN, 0};
		int r = poll(&p, 1, -1);
		if (r < 0 && errno != EINTR)
			break;
		if (p.revents) {
			node_efd_drain(c.efd);
			if (atomic_load(rc->stop) && !killed) {
				killed = 1;
				b.len = 0;
				buf_addf(&b, "{\"op\":\"kill\",\"id\":%lld}", (long long)c.id);
				pthread_mutex_lock(&nd->wmu);
				if (nd->gen == gen && nd->to_fd >= 0)
					proto_write(nd->to_fd, NULL, &b, NULL, 0);
				pthread_mutex_unlock(&nd->wmu);
			}
		}
	}
	buf_free(&b);
	int st = atomic_load(&c.state);
	if (st != 1)
		a->end_ns = now_ns();
	if (st != 1) {
		if (st == 0) { /* poll failed: take it off the node */
			pthread_mutex_lock(&ns->mu);
			if (atomic_load(&c.state) == 0 && !c.gone) {
				if (c.prev)
					c.prev->next = c.next;
				else if (nd->calls == &c)
					nd->calls = c.next;
				if (c.next)
					c.next->prev = c.prev;
				nd->running--;
				node_res_add(nd, c.need, -1);
				node_wake_waiters(ns);
				c.gone = 1;
			}
			while (c.busy) /* the reader still appends to a's spools */
				pthread_cond_wait(&ns->cv, &ns->mu);
			pthread_mutex_unlock(&ns->mu);
		}
		a->ok = 0;
		a->fkind = FK_LOST;
		a->exit_code = -1;
		pthread_mutex_lock(&ns->mu);
		snprintf(a->msg, sizeof a->msg, "node %.60s lost: %.180s", nd->name, nd->why);
		pthread_mutex_unlock(&ns->mu);
	}
	/* taking mu also waits for the reader's or node_down's post, which
	 * comes after the state; drain it so the next attempt's wait is not cut */
	pthread_mutex_lock(&ns->mu);
	if (st == 1) {
		nd->busy_ns += a->end_ns - a->start_ns;
		nd->cpu_us += a->user_us + a->sys_us;
		nd->n_ok += a->ok != 0;
		node_kstat_add(nd, kind_of(t), a->ok, (double)(a->end_ns - a->start_ns) / 1e6);
	}
	pthread_mutex_unlock(&ns->mu);
	node_efd_drain(c.efd);
}

void nodes_summary(struct nodes *ns, FILE *f)
{
	pthread_mutex_lock(&ns->mu);
	for (int i = 0; i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		if (!nd->ever_up)
			continue;
		fprintf(f, "  node %s (%s, %d slots): %llu attempts, %llu ok, busy %.1f s, "
			"task cpu %.3f s", nd->name, nd->host, nd->slots,
			(unsigned long long)nd->n_attempts, (unsigned long long)nd->n_ok,
			(double)nd->busy_ns / 1e9, (double)nd->cpu_us / 1e6);
		if (nd->n_lost)
			fprintf(f, ", lost %llu time%s", (unsigned long long)nd->n_lost,
				nd->n_lost > 1 ? "s" : "");
		if (nd->state == N_DOWN)
			fprintf(f, ", down: %s", nd->why);
		fputc('\n', f);
	}
	pthread_mutex_unlock(&ns->mu);
}

void nodes_stop(struct nodes *ns)
{
	if (!ns)
		return;
	pthread_mutex_lock(&ns->mu);
	ns->stopping = 1;
	pthread_cond_broadcast(&ns->cv);
	pthread_mutex_unlock(&ns->mu);
	if (ns->has_watch)
		pthread_join(ns->watch, NULL);
	/* bye: each agent ends its tasks and exits; its launcher follows */
	pthread_mutex_lock(&ns->mu);
	for (int i = 0; i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		pthread_mutex_lock(&nd->wmu);
		if (nd->to_fd >= 0) {
			struct buf b = {0};
			buf_adds(&b, "{\"op\":\"bye\"}");
			if (nd->state != N_DOWN)
				proto_write(nd->to_fd, NULL, &b, NULL, 0);
			buf_free(&b);
			close(nd->to_fd);
			nd->to_fd = -1;
		}
		pthread_mutex_unlock(&nd->wmu);
	}
	/* give them 2 s to go by themselves, then kill what is left */
	int64_t until = now_ns() + 2000000000LL;
	for (;;) {
		int left = 0;
		for (int i = 0; i < ns->nn; i++)
			left += ns->n[i].has_reader && !ns->n[i].reader_done;
		if (!left || now_ns() > until)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ns->cv, &ns->mu, &ts);
	}
	for (int i = 0; i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		if (nd->has_reader && !nd->reader_done && nd->pid > 0)
			kill(-nd->pid, SIGKILL);
	}
	pthread_mutex_unlock(&ns->mu);
	for (int i = 0; i < ns->nn; i++) {
		struct node *nd = &ns->n[i];
		if (nd->has_reader)
			pthread_join(nd->reader, NULL);
		if (nd->from_fd >= 0)
			close(nd->from_fd);
		if (nd->err_fd >= 0)
			close(nd->err_fd);
		for (char **p = nd->argv; p && *p; p++)
			free(*p);
		free(nd->argv);
		for (char **p = nd->labels; p && *p; p++)
			free(*p);
		free(nd->labels);
		for (char **p = nd->cfg_labels; p && *p; p++)
			free(*p);
		free(nd->cfg_labels);
		free(nd->name);
		pthread_mutex_destroy(&nd->wmu);
	}
	free(ns->n);
	free(ns->waiters);
	free(ns->cwd);
	free(ns->plugins_json);
	pthread_mutex_destroy(&ns->mu);
	pthread_cond_destroy(&ns->cv);
	free(ns);
}
