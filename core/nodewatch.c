/* nodewatch.c - a node's life on the controller: launching `gearbox agent`
 * through its launcher, the node's reader thread (hello, answers, heartbeats,
 * per-kind history for placement), the watch thread (heartbeat and start
 * timeouts, relaunch with backoff) and losing a node with its calls. The
 * invariants are those at the top of nodes.c; the structs are in nodes_int.h.
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

#include "proto.h"

extern char **environ;

/* ---- wake-ups ------------------------------------------------------------ */

static void efd_post(int fd)
{
	uint64_t one = 1;
	ssize_t w = write(fd, &one, sizeof one);
	(void)w;
}

void node_efd_drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);
	(void)r;
}

/* Under mu: a slot may have freed, a node came or went. */
void node_wake_waiters(struct nodes *ns)
{
	for (int i = 0; i < ns->nwait; i++)
		efd_post(ns->waiters[i]);
}

void node_emit(struct nodes *ns, const char *name, struct node *nd, const char *extra)
{
	if (!ns->o.event)
		return;
	struct buf b = {0};
	buf_adds(&b, "\"node\":");
	buf_json_str(&b, nd->name);
	if (extra && *extra)
		buf_addf(&b, ",%s", extra);
	buf_add(&b, "", 1);
	ns->o.event(ns->o.ud, name, b.p);
	buf_free(&b);
}

/* Under mu: the node is lost. Its calls are answered "lost", its launcher is
 * killed (which closes the connection: a remote agent sees its stdin close
 * and kills its tasks), and a relaunch is scheduled while the limit allows. */
void node_down(struct nodes *ns, struct node *nd, const char *why)
{
	if (nd->state == N_DOWN)
		return;
	int was_up = nd->state == N_UP;
	nd->state = N_DOWN;
	snprintf(nd->why, sizeof nd->why, "%s", why);
	for (struct call *c = nd->calls, *nx; c; c = nx) {
		nx = c->next;
		c->next = c->prev = NULL;
		if (c->busy) { /* the reader writes into its spools: it tells the loss after */
			c->gone = 1;
			continue;
		}
		atomic_store(&c->state, 2);
		efd_post(c->efd);
	}
	nd->calls = NULL;
	nd->running = 0;
	memset(nd->used, 0, sizeof nd->used); /* every call's needs went with it */
	/* to_fd stays open until the next launch or nodes_stop (a worker may be
	 * writing to it under wmu); killing the launcher makes writes fail */
	if (nd->pid > 0)
		kill(-nd->pid, SIGKILL); /* the launcher's process group (srun, ssh, or a local agent) */
	if (was_up)
		nd->n_lost++;
	if (!ns->stopping && nd->ever_up && nd->relaunches < ns->relaunch_max)
		nd->relaunch_at = now_ns() + (ns->backoff_ms << (nd->relaunches < 20 ? nd->relaunches : 20)) * 1000000;
	else
		nd->relaunch_at = INT64_MAX;
	if (!ns->stopping && nd->ever_up) {
		struct buf b = {0};
		buf_adds(&b, "\"why\":");
		buf_json_str(&b, why);
		buf_addf(&b, ",\"relaunch\":%s", nd->relaunch_at != INT64_MAX ? "true" : "false");
		buf_add(&b, "", 1);
		node_emit(ns, "node.lost", nd, b.p);
		buf_free(&b);
		if (!ns->o.quiet)
			fprintf(stderr, "gearbox: node %s lost: %s%s\n", nd->name, why,
				nd->relaunch_at != INT64_MAX ? "; relaunching it" : "");
	}
	node_wake_waiters(ns);
	pthread_cond_broadcast(&ns->cv);
}

int node_has_label(char *const *l, const char *x)
{
	for (; l && *l; l++)
		if (!strcmp(*l, x))
			return 1;
	return 0;
}

/* ---- the reader --------------------------------------------------------- */

static void last_err_line(struct node *nd, char *out, size_t n)
{
	out[0] = 0;
	if (nd->err_fd < 0)
		return;
	char tmp[2048];
	off_t end = lseek(nd->err_fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof tmp - 1 ? end - (off_t)sizeof tmp + 1 : 0;
	ssize_t r = pread(nd->err_fd, tmp, sizeof tmp - 1, from);
	if (r <= 0)
		return;
	tmp[r] = 0;
	while (r > 0 && (tmp[r - 1] == '\n' || tmp[r - 1] == '\r'))
		tmp[--r] = 0;
	char *l = strrchr(tmp, '\n');
	l = l ? l + 1 : tmp;
	size_t ll = strlen(l);
	if (ll >= n)
		ll = n - 1;
	memcpy(out, l, ll);
	out[ll] = 0;
}

static void take_hello(struct nodes *ns, struct node *nd, json_t *m)
{
	const char *h = proto_str(m, "host");
	snprintf(nd->host, sizeof nd->host, "%s", h ? h : "?");
	nd->cores = (int)proto_int(m, "cores", 1);
	if (nd->cores < 1)
		nd->cores = 1;
	nd->mem_mb = proto_int(m, "mem_mb", 0);
	nd->mem_avail_mb = proto_int(m, "mem_avail_mb", nd->mem_mb);
	node_res_caps(ns, nd);
	for (char **l = nd->labels; l && *l; l++)
		free(*l);
	free(nd->labels);
	nd->labels = NULL;
	int nl = 0;
	strv_push(&nd->labels, &nl, strdup(nd->name));
	if (strcmp(nd->host, nd->name))
		strv_push(&nd->labels, &nl, strdup(nd->host));
	char **al = proto_strv(m, "labels");
	for (char **l = al; l && *l; l++)
		if (!node_has_label(nd->labels, *l))
			strv_push(&nd->labels, &nl, strdup(*l));
	free(al);
	for (char **l = nd->cfg_labels; l && *l; l++)
		if (!node_has_label(nd->labels, *l))
			strv_push(&nd->labels, &nl, strdup(*l));
	nd->slots = ns->o.slots > 0 ? ns->o.slots : nd->slots_given > 0 ? nd->slots_given : nd->cores;
}

static void fill_answer(struct call *c, json_t *m, const struct proto_reader *rd)
{
	struct attempt *a = c->a;
	a->ok = proto_int(m, "ok", 0) != 0;
	const char *f = proto_str(m, "fail");
	a->fkind = FK_NONE;
	if (!a->ok) {
		a->fkind = FK_ERROR;
		for (int k = FK_EXIT; f && k < FK_LOST; k++)
			if (!strcmp(f, fail_kind_name(k)))
				a->fkind = k;
	}
	a->exit_code = (int)proto_int(m, "exit", a->ok ? 0 : -1);
	a->sig = (int)proto_int(m, "sig", 0);
	a->spawn_ns = proto_int(m, "spawn_ns", 0);
	a->user_us = proto_int(m, "user_us", 0);
	a->sys_us = proto_int(m, "sys_us", 0);
	a->maxrss_kb = proto_int(m, "maxrss_kb", 0);
	const char *msg = proto_str(m, "msg");
	if (msg)
		snprintf(a->msg, sizeof a->msg, "%s", msg);
	const char *label = proto_str(m, "label");
	if (label)
		snprintf(a->label, sizeof a->label, "%s", label);
	size_t ol = (size_t)proto_int(m, "out_len", 0), el = (size_t)proto_int(m, "err_len", 0);
	if (ol + el == rd->nbytes) {
		if (ol && a->out)
			spool_add(a->out, rd->bytes, ol);
		if (el && a->err)
			spool_add(a->err, rd->bytes + ol, el);
	}
}

/* Under ns->mu: the call of id waiting on nd, or NULL */
static struct call *call_find(struct node *nd, int64_t id)
{
	struct call *c = nd->calls;
	while (c && c->id != id)
		c = c->next;
	return c;
}

/* A piece of an attempt's output ("out", before its done): appended to the
 * attempt's spool as it comes, so the controller holds at most one piece
 * (PROTO_CHUNK) of it in memory; the spool spills to a file (spool.h), and
 * what it cannot keep fails the attempt there (attempt_check_output). The
 * call stays on its node meanwhile: busy keeps a loss from handing it back
 * to its worker while the bytes go in. Returns 0, or -1 on a bad message. */
static int take_out(struct nodes *ns, struct node *nd, json_t *m, const struct proto_reader *rd,
		    int64_t now)
{
	const char *st = proto_str(m, "stream");
	int fd = st && !strcmp(st, "out") ? 1 : st && !strcmp(st, "err") ? 2 : 0;
	if (!fd)
		return -1;
	int64_t id = proto_int(m, "id", -1);
	pthread_mutex_lock(&ns->mu);
	nd->last_ns = now;
	struct call *c = call_find(nd, id);
	if (c)
		c->busy = 1;
	pthread_mutex_unlock(&ns->mu);
	if (!c) /* no longer waited for (its node was lost and is back) */
		return 0;
	struct spool *s = fd == 1 ? c->a->out : c->a->err;
	if (s)
		spool_add(s, rd->bytes, rd->nbytes);
	pthread_mutex_lock(&ns->mu);
	c->busy = 0;
	if (c->gone) { /* lost meanwhile (node_down left it to us) */
		atomic_store(&c->state, 2);
		efd_post(c->efd);
		pthread_cond_broadcast(&ns->cv);
	}
	pthread_mutex_unlock(&ns->mu);
	return 0;
}

void node_kstat_add(struct node *nd, const char *kind, int ok, double ms)
{
	int i;
	for (i = 0; i < nd->nks; i++)
		if (!strcmp(nd->ks[i].kind, kind))
			break;
	if (i == nd->nks) {
		if (nd->nks == (int)(sizeof nd->ks / sizeof nd->ks[0]))
			return;
		snprintf(nd->ks[nd->nks++].kind, sizeof nd->ks[0].kind, "%s", kind);
	}
	nd->ks[i].runs++;
	nd->ks[i].ok += ok != 0;
	nd->ks[i].sum_ms += ms;
}

/* A plugin on the agent logged a line: ours, with the node's name. */
static void plugin_said(struct nodes *ns, struct node *nd, json_t *m)
{
	int level = (int)proto_int(m, "level", 0);
	const char *pl = proto_str(m, "plugin"), *msg = proto_str(m, "msg");
	if (level == 0 && ns->o.quiet)
		return;
	fprintf(stderr, "gearbox: node %s: plugin %s: %s%s\n", nd->name, pl ? pl : "?",
		level >= 2 ? "error: " : level == 1 ? "warning: " : "", msg ? msg : "");
}

/* A plugin on the agent wrote an event: into --events, with the node. */
static void plugin_event(struct nodes *ns, struct node *nd, json_t *m)
{
	const char *name = proto_str(m, "name"), *task = proto_str(m, "task");
	const char *fields = proto_str(m, "fields");
	if (!name)
		return;
	struct buf b = {0};
	if (task) {
		buf_adds(&b, "\"id\":");
		buf_json_str(&b, task);
	}
	if (fields && *fields)
		buf_addf(&b, "%s%s", task ? "," : "", fields);
	buf_add(&b, "", 1);
	pthread_mutex_lock(&ns->mu);
	node_emit(ns, name, nd, b.p);
	pthread_mutex_unlock(&ns->mu);
	buf_free(&b);
}

static void *reader_main(void *arg)
{
	struct node *nd = arg;
	struct nodes *ns = nd->ns;
	/* it spools the agents' output (take_out, fill_answer): past the
	 * file-size limit that is EFBIG, failing the attempt (attempt.c), not SIGXFSZ ending
	 * the run, as in a local worker (engine.c) */
	sigset_t fsz;
	sigemptyset(&fsz);
	sigaddset(&fsz, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &fsz, NULL);
	struct proto_reader rd;
	proto_reader_init(&rd, nd->from_fd);
	rd.max_bytes = PROTO_CHUNK; /* an agent's output comes in pieces */
	struct err err;
	char why[512] = "";
	for (;;) {
		json_t *m = NULL;
		int r = proto_read(&rd, &m, &err);
		if (r <= 0) {
			char line[300];
			last_err_line(nd, line, sizeof line);
			if (r < 0)
				snprintf(why, sizeof why, "protocol error: %.400s", err.msg);
			else
				snprintf(why, sizeof why, "its agent's connection closed (launcher %s)%s%s",
					 nd->argv[0], line[0] ? ": " : "", line);
			break;
		}
		const char *op = proto_str(m, "op");
		int64_t now = now_ns();
		if (op && !strcmp(op, "done")) {
			int64_t id = proto_int(m, "id", -1);
			pthread_mutex_lock(&ns->mu);
			nd->last_ns = now;
			struct call *c = call_find(nd, id);
			if (c) { /* unlink first: a loss no longer touches it */
				if (c->prev)
					c->prev->next = c->next;
				else
					nd->calls = c->next;
				if (c->next)
					c->next->prev = c->prev;
				nd->running--;
				/* the end of its time on the node: its needs are free */
				c->a->end_ns = now;
				node_res_add(nd, c->need, -1);
				if (ns->nwait)
					node_wake_waiters(ns);
			}
			pthread_mutex_unlock(&ns->mu);
			if (c) {
				fill_answer(c, m, &rd);
				/* under mu: the worker takes mu before it closes efd */
				pthread_mutex_lock(&ns->mu);
				atomic_store(&c->state, 1);
				efd_post(c->efd);
				pthread_mutex_unlock(&ns->mu);
			}
		} else if (op && !strcmp(op, "out")) {
			if (take_out(ns, nd, m, &rd, now)) {
				const char *st = proto_str(m, "stream");
				snprintf(why, sizeof why, "protocol error: an \"out\" message with stream "
					 "%.100s (expected \"out\" or \"err\")", st ? st : "(none)");
				json_decref(m);
				break;
			}
		} else if (op && !strcmp(op, "hb")) {
			pthread_mutex_lock(&ns->mu);
			nd->last_ns = now;
			json_t *l = json_object_get(m, "load");
			nd->load = json_is_number(l) ? json_number_value(l) : 0;
			pthread_mutex_unlock(&ns->mu);
		} else if (op && !strcmp(op, "hello")) {
			int64_t v = proto_int(m, "v", -1);
			if (v != PROTO_VERSION) {
				snprintf(why, sizeof why, "its agent speaks protocol version %lld, this "
					 "controller speaks %d", (long long)v, PROTO_VERSION);
				json_decref(m);
				break;
			}
			if (!proto_int(m, "cwd_ok", 0)) {
				snprintf(why, sizeof why, "the run's directory %s does not exist there (a "
					 "run across nodes needs a shared filesystem)", ns->cwd);
				json_decref(m);
				break;
			}
			pthread_mutex_lock(&ns->mu);
			take_hello(ns, nd, m);
			nd->last_ns = now;
			if (nd->state == N_STARTING) {
				nd->state = N_UP;
				int first = !nd->ever_up;
				nd->ever_up = 1;
				char ex[200];
				snprintf(ex, sizeof ex, "\"host\":\"%.100s\",\"slots\":%d,\"relaunch\":%d",
					 nd->host, nd->slots, nd->relaunches);
				node_emit(ns, "node.up", nd, ex);
				if (!first && !ns->o.quiet)
					fprintf(stderr, "gearbox: node %s is back (relaunch %d)\n", nd->name,
						nd->relaunches);
				node_wake_waiters(ns);
				pthread_cond_broadcast(&ns->cv);
			}
			pthread_mutex_unlock(&ns->mu);
		} else if (op && !strcmp(op, "log")) {
			plugin_said(ns, nd, m);
		} else if (op && !strcmp(op, "event")) {
			plugin_event(ns, nd, m);
		} else if (op && !strcmp(op, "error")) {
			const char *msg = proto_str(m, "msg");
			snprintf(why, sizeof why, "its agent says: %s", msg ? msg : "(no message)");
			json_decref(m);
			break;
		}
		json_decref(m);
	}
	pthread_mutex_lock(&ns->mu);
	node_down(ns, nd, why);
	pthread_mutex_unlock(&ns->mu);
	proto_reader_free(&rd);
	/* reap the launcher: it was killed by node_down */
	int st;
	while (waitpid(nd->pid, &st, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&ns->mu);
	nd->reader_done = 1;
	pthread_cond_broadcast(&ns->cv);
	pthread_mutex_unlock(&ns->mu);
	return NULL;
}

/* Under mu: starts the node's launcher and its reader. */
int node_launch(struct nodes *ns, struct node *nd)
{
	if (nd->has_reader) { /* the previous launch's reader is done (watch checks) */
		pthread_mutex_unlock(&ns->mu);
		pthread_join(nd->reader, NULL);
		pthread_mutex_lock(&ns->mu);
		nd->has_reader = 0;
		if (nd->from_fd >= 0)
			close(nd->from_fd);
		if (nd->err_fd >= 0)
			close(nd->err_fd);
		nd->from_fd = nd->err_fd = -1;
	}
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	char nm[64];
	snprintf(nm, sizeof nm, "gearbox-node-%d", nd->idx);
	nd->err_fd = memfd_create(nm, MFD_CLOEXEC);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || !nd->argv || !nd->argv[0]) {
		snprintf(nd->why, sizeof nd->why, "pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0) close(in[i]);
			if (out[i] >= 0) close(out[i]);
		}
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	if (nd->err_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, nd->err_fd, 2);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	int defs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD};
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		sigaddset(&def, defs[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0); /* a terminal's ^C goes to the controller only */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETPGROUP);
	pid_t pid;
	int rc = posix_spawnp(&pid, nd->argv[0], &fa, &at, nd->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(in[0]);
	close(out[1]);
	if (rc) {
		close(in[1]);
		close(out[0]);
		snprintf(nd->why, sizeof nd->why, "cannot run its launcher %s: %s", nd->argv[0],
			 strerror(rc));
		return -1;
	}
	nd->pid = pid;
	pthread_mutex_lock(&nd->wmu);
	if (nd->to_fd >= 0)
		close(nd->to_fd);
	nd->to_fd = in[1];
	nd->gen++;
	pthread_mutex_unlock(&nd->wmu);
	nd->from_fd = out[0];
	nd->state = N_STARTING;
	nd->reader_done = 0;
	nd->started_ns = nd->last_ns = now_ns();
	nd->why[0] = 0;
	struct buf b = {0};
	buf_addf(&b, "{\"v\":%d,\"op\":\"hello\",\"cwd\":", PROTO_VERSION);
	buf_json_str(&b, ns->cwd);
	buf_addf(&b, ",\"hb_ms\":%lld,\"grace_ms\":%lld", (long long)ns->hb_ms,
		 (long long)ns->grace_ms);
	if (ns->plugins_json)
		buf_adds(&b, ns->plugins_json);
	buf_adds(&b, "}");
	proto_write(nd->to_fd, &nd->wmu, &b, NULL, 0); /* a failure shows as EOF */
	buf_free(&b);
	if (pthread_create(&nd->reader, NULL, reader_main, nd) != 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(nd->to_fd);
		close(nd->from_fd);
		nd->to_fd = nd->from_fd = -1;
		nd->state = N_DOWN;
		snprintf(nd->why, sizeof nd->why, "cannot start a reader thread");
		return -1;
	}
	nd->has_reader = 1;
	return 0;
}

/* ---- the watch: heartbeats, start timeouts, relaunches -------------------- */

void *node_watch_main(void *arg)
{
	struct nodes *ns = arg;
	pthread_mutex_lock(&ns->mu);
	while (!ns->stopping) {
		int64_t now = now_ns();
		int64_t next = now + (ns->hb_ms < 200 ? ns->hb_ms : 200) * 1000000;
		for (int i = 0; i < ns->nn; i++) {
			struct node *nd = &ns->n[i];
			char why[200];
			if (nd->state == N_UP && now - nd->last_ns > ns->timeout_ms * 1000000) {
				snprintf(why, sizeof why, "no heartbeat for %lld ms",
					 (long long)((now - nd->last_ns) / 1000000));
				node_down(ns, nd, why);
			} else if (nd->state == N_STARTING && now - nd->started_ns > ns->start_ms * 1000000) {
				snprintf(why, sizeof why, "no handshake within %lld ms", (long long)ns->start_ms);
				node_down(ns, nd, why);
			} else if (nd->state == N_DOWN && nd->relaunch_at <= now && nd->reader_done) {
				nd->relaunches++;
				nd->relaunch_at = INT64_MAX;
				if (node_launch(ns, nd)) {
					char w2[600];
					snprintf(w2, sizeof w2, "%s", nd->why);
					nd->state = N_STARTING; /* so node_down counts it */
					node_down(ns, nd, w2);
				}
			}
			if (nd->state == N_DOWN && nd->relaunch_at < next)
				next = nd->relaunch_at;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t wait = next - now_ns();
		if (wait < 1000000)
			wait = 1000000;
		int64_t ns_ = ts.tv_nsec + wait;
		ts.tv_sec += ns_ / 1000000000;
		ts.tv_nsec = ns_ % 1000000000;
		pthread_cond_timedwait(&ns->cv, &ns->mu, &ts);
	}
	pthread_mutex_unlock(&ns->mu);
	return NULL;
}

