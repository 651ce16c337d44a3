/* nodes.c - the controller's nodes: launch `gearbox agent` through a launcher
 * (local, ssh, srun, or a config template), read each agent's answers on a
 * thread of its own, place attempts, watch heartbeats, lose and relaunch.
 *
 * Invariants, under ns->mu:
 *  - a node is STARTING (launched, no hello yet), UP, or DOWN (lost or never
 *    started; relaunch_at says whether and when it comes back);
 *  - running == the number of calls on the node's list; a call is on exactly
 *    one node's list until its answer is taken (by the reader, which unlinks
 *    it first) or the node is lost (which unlinks them all, marked lost);
 *  - a node's reader thread owns from_fd and the launch's pid; the node's
 *    fields of one launch are reset only after that reader was joined.
 * A worker waiting for an answer polls its own eventfd and the engine's wake
 * fd, so a stop request reaches the agent as a kill message.
 */
#include "nodes.h"

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

extern char **environ;

enum { N_STARTING = 1, N_UP, N_DOWN };

struct call {
	struct call *next, *prev;
	int64_t id;
	int efd;
	atomic_int state;      /* 0 waiting, 1 answered, 2 lost */
	struct attempt *a;
	int node;
};

struct kstat {             /* per node and kind: history for placement */
	char kind[24];
	uint64_t runs, ok;
	double sum_ms;
};

struct node {
	struct nodes *ns;
	int idx;
	char *name;
	char **argv;           /* the launcher's argv, {node} and {gearbox} filled */
	int slots_given;       /* N/ of ssh, or -j; 0: the agent's cores */
	char **cfg_labels;     /* labels the config gives this node, or NULL */
	/* one launch */
	pid_t pid;
	int to_fd, from_fd, err_fd;
	pthread_t reader;
	int has_reader;
	int reader_done;
	pthread_mutex_t wmu;   /* writes to to_fd; to_fd and gen change under it (and mu) */
	int gen;               /* launches so far: a call sent to an older one is not written */
	int state;
	int ever_up;
	int64_t last_ns;       /* last message from the agent */
	int64_t started_ns;
	int64_t relaunch_at;   /* DOWN: when to launch again; INT64_MAX: never */
	int relaunches;
	/* from the hello */
	char host[128];
	int cores;
	int64_t mem_mb;
	char **labels;         /* name, host, the agent's and the config's; NULL-terminated */
	int slots, running;
	double load;
	struct call *calls;
	char why[512];         /* why it went down */
	/* summary */
	uint64_t n_attempts, n_ok, n_lost;
	int64_t busy_ns;
	int64_t cpu_us;        /* user + system CPU of its tasks, as its agent measured */
	struct kstat ks[8];
	int nks;
};

struct nodes {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* a hello, a loss: nodes_start waits on it */
	struct node *n;
	int nn;
	int64_t next_id;
	int *waiters;          /* eventfds of workers waiting for a slot */
	int nwait, capwait;
	int rr;                /* round robin start for ties */
	pthread_t watch;
	int has_watch;
	int stopping;
	int64_t hb_ms, timeout_ms, start_ms, backoff_ms;
	int relaunch_max;
	int64_t grace_ms;
	char *cwd;
	struct nodes_opts o;
};

int nodes_spec_check(const char *spec, json_t *cfg, const char *cfg_path, struct err *err)
{
	if (nodespec_check_cfg(cfg, cfg_path ? cfg_path : "config", err))
		return -1;
	return nodespec_parse(spec, cfg, 0, NULL, err) < 0 ? -1 : 0;
}

/* ---- wake-ups ------------------------------------------------------------ */

static void efd_post(int fd)
{
	uint64_t one = 1;
	ssize_t w = write(fd, &one, sizeof one);
	(void)w;
}

static void efd_drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);
	(void)r;
}

/* Under mu: a slot may have freed, a node came or went. */
static void wake_waiters(struct nodes *ns)
{
	for (int i = 0; i < ns->nwait; i++)
		efd_post(ns->waiters[i]);
}

static void emit(struct nodes *ns, const char *name, struct node *nd, const char *extra)
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
static void node_down(struct nodes *ns, struct node *nd, const char *why)
{
	if (nd->state == N_DOWN)
		return;
	int was_up = nd->state == N_UP;
	nd->state = N_DOWN;
	snprintf(nd->why, sizeof nd->why, "%s", why);
	for (struct call *c = nd->calls, *nx; c; c = nx) {
		nx = c->next;
		c->next = c->prev = NULL;
		atomic_store(&c->state, 2);
		efd_post(c->efd);
	}
	nd->calls = NULL;
	nd->running = 0;
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
		emit(ns, "node.lost", nd, b.p);
		buf_free(&b);
		if (!ns->o.quiet)
			fprintf(stderr, "gearbox: node %s lost: %s%s\n", nd->name, why,
				nd->relaunch_at != INT64_MAX ? "; relaunching it" : "");
	}
	wake_waiters(ns);
	pthread_cond_broadcast(&ns->cv);
}

static int has_label(char *const *l, const char *x)
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
		if (!has_label(nd->labels, *l))
			strv_push(&nd->labels, &nl, strdup(*l));
	free(al);
	for (char **l = nd->cfg_labels; l && *l; l++)
		if (!has_label(nd->labels, *l))
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
	size_t ol = (size_t)proto_int(m, "out_len", 0), el = (size_t)proto_int(m, "err_len", 0);
	if (ol + el == rd->nbytes) {
		if (ol && a->out)
			buf_add(a->out, rd->bytes, ol);
		if (el && a->err)
			buf_add(a->err, rd->bytes + ol, el);
	}
}

static void kstat_add(struct node *nd, const char *kind, int ok, double ms)
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

static void *reader_main(void *arg)
{
	struct node *nd = arg;
	struct nodes *ns = nd->ns;
	struct proto_reader rd;
	proto_reader_init(&rd, nd->from_fd);
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
			struct call *c = nd->calls;
			while (c && c->id != id)
				c = c->next;
			if (c) { /* unlink first: a loss no longer touches it */
				if (c->prev)
					c->prev->next = c->next;
				else
					nd->calls = c->next;
				if (c->next)
					c->next->prev = c->prev;
				nd->running--;
				if (ns->nwait)
					wake_waiters(ns);
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
				emit(ns, "node.up", nd, ex);
				if (!first && !ns->o.quiet)
					fprintf(stderr, "gearbox: node %s is back (relaunch %d)\n", nd->name,
						nd->relaunches);
				wake_waiters(ns);
				pthread_cond_broadcast(&ns->cv);
			}
			pthread_mutex_unlock(&ns->mu);
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
static int launch(struct nodes *ns, struct node *nd)
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
	buf_addf(&b, ",\"hb_ms\":%lld,\"grace_ms\":%lld}", (long long)ns->hb_ms,
		 (long long)ns->grace_ms);
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

static void *watch_main(void *arg)
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
				if (launch(ns, nd)) {
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
		if (launch(ns, &ns->n[i]))
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
		if (nd->state == N_UP) {
			up++;
			continue;
		}
		if (strstr(nd->why, "does not exist there") && cwd_bad < 0)
			cwd_bad = i;
		fprintf(stderr, "gearbox: node %s cannot start: %s\n", nd->name, nd->why);
	}
	pthread_mutex_unlock(&ns->mu);
	if (cwd_bad >= 0 || up == 0) {
		struct node *nd = &ns->n[cwd_bad >= 0 ? cwd_bad : 0];
		if (cwd_bad >= 0)
			err_set(err, "--nodes %s: node %s: %s", o->spec, nd->name, nd->why);
		else if (ns->nn == 1)
			err_set(err, "--nodes %s: node %s cannot start: %s", o->spec, nd->name, nd->why);
		else
			err_set(err, "--nodes %s: no node could start (%d tried; the first, %s: %s)",
				o->spec, ns->nn, nd->name, nd->why);
		nodes_stop(ns);
		return -1;
	}
	ns->has_watch = pthread_create(&ns->watch, NULL, watch_main, ns) == 0;
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
		emit(ns, "node.up", nd, ex);
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
		if (!has_label(nd->labels, *l))
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
static int pick_builtin(struct nodes *ns, const struct task *t)
{
	int best = -1;
	double bk = 0, bl = 0;
	for (int k = 0; k < ns->nn; k++) {
		int i = (ns->rr + k) % ns->nn;
		struct node *nd = &ns->n[i];
		if (nd->state != N_UP || nd->running >= nd->slots || !node_fits(nd, t))
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
static int make_views(struct nodes *ns, const struct task *t, struct node_view *v, int max)
{
	int n = 0;
	const char *kind = kind_of(t);
	for (int i = 0; i < ns->nn && n < max; i++) {
		struct node *nd = &ns->n[i];
		if (nd->state != N_UP || nd->running >= nd->slots || !node_fits(nd, t))
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

static void build_run(struct buf *b, int64_t id, const struct task *t, int64_t grace_ms,
		      struct proto_part *stdin_part)
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
		buf_adds(b, ",\"kind\":\"exec\"");
		if (s->argv) {
			buf_adds(b, ",\"argv\":[");
			for (char **p = s->argv; *p; p++) {
				if (p != s->argv)
					buf_adds(b, ",");
				buf_json_str(b, *p);
			}
			buf_adds(b, "]");
		}
		if (s->sh) {
			buf_adds(b, ",\"sh\":");
			buf_json_str(b, s->sh);
		}
		if (s->env) {
			buf_adds(b, ",\"env\":[");
			for (char **p = s->env; *p; p++) {
				if (p != s->env)
					buf_adds(b, ",");
				buf_json_str(b, *p);
			}
			buf_adds(b, "]");
		}
		if (s->cwd) {
			buf_adds(b, ",\"cwd\":");
			buf_json_str(b, s->cwd);
		}
		if (s->stdin_data && s->stdin_len) {
			buf_addf(b, ",\"bytes\":%zu", s->stdin_len);
			*stdin_part = (struct proto_part){s->stdin_data, s->stdin_len};
		}
	}
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
	int pick = -1, waiting = 0;
	for (;;) {
		if (ns->o.place) {
			int nv = make_views(ns, t, vs, 64);
			if (nv > 1) {
				pthread_mutex_unlock(&ns->mu);
				int k = ns->o.place(ns->o.ud, t, vs, nv);
				pthread_mutex_lock(&ns->mu);
				if (k >= 0 && k < nv) {
					struct node *nd = &ns->n[vs[k].index];
					if (nd->state == N_UP && nd->running < nd->slots && node_fits(nd, t))
						pick = vs[k].index;
				}
			}
		}
		if (pick < 0)
			pick = pick_builtin(ns, t);
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
			efd_drain(c.efd);
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
	int gen = nd->gen;
	pthread_mutex_unlock(&ns->mu);

	a->node = pick;
	a->start_ns = start;
	struct buf b = {0};
	struct proto_part sp = {NULL, 0};
	build_run(&b, c.id, t, rc->kill_grace_ms > 0 ? rc->kill_grace_ms : ns->grace_ms, &sp);
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
			efd_drain(c.efd);
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
	a->end_ns = now_ns();
	int st = atomic_load(&c.state);
	if (st != 1) {
		if (st == 0) { /* poll failed: take it off the node */
			pthread_mutex_lock(&ns->mu);
			if (atomic_load(&c.state) == 0) {
				if (c.prev)
					c.prev->next = c.next;
				else if (nd->calls == &c)
					nd->calls = c.next;
				if (c.next)
					c.next->prev = c.prev;
				nd->running--;
			}
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
		kstat_add(nd, kind_of(t), a->ok, (double)(a->end_ns - a->start_ns) / 1e6);
	}
	pthread_mutex_unlock(&ns->mu);
	efd_drain(c.efd);
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
	pthread_mutex_destroy(&ns->mu);
	pthread_cond_destroy(&ns->cv);
	free(ns);
}
