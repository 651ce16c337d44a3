/* agent.c - `gearbox agent`: runs the attempts a controller sends it on its
 * stdin and answers on its stdout (proto.h; docs/nodes.md).
 *
 * Threads: the main thread reads messages; a pool of runner threads (grown on
 * demand, one per attempt in flight) runs each attempt with exec_run or
 * sim_run, exactly as a local worker does (same timeout, TERM-then-KILL of the
 * process group, output capture); a heartbeat thread writes {"op":"hb"} every
 * hb_ms; a signal thread turns SIGTERM/SIGINT/SIGHUP into the end.
 * Invariant: the agent never outlives its controller's stdin. When stdin
 * closes (or a signal comes), every task's process group is killed, the
 * runners are given up to 1.5 s to reap them, and the process exits: no
 * orphans.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nodeplug.h"
#include "proto.h"
#include "resources.h"
#include "runner.h"

struct job {
	struct job *next;
	int64_t id;
	json_t *msg;           /* owned */
	char *stdin_data;      /* owned copy of the bytes that followed, or NULL */
	size_t stdin_len;
};

struct agent;

struct runner {
	struct agent *ag;
	pthread_t th;
	int wake_fd;
	atomic_int stop;
	atomic_int child;
	atomic_llong job_id;    /* the attempt it runs, or -1 */
	int slot;               /* its index: a plugin's task_slot */
	struct spool out, err;  /* a plugin's answer or kind's output (spool.h) */
	/* an exec attempt's output as it is read (its task_sink): what is not
	 * sent yet of stdout and stderr, at most PROTO_CHUNK each */
	struct task_sink sink;
	int64_t id;             /* the attempt it runs */
	struct buf pend[2];
	int sent;               /* an "out" message went: the done carries the rest */
	int gone;               /* a write failed: the controller is gone */
	uint64_t lost;          /* bytes that could not be kept, from the first */
	int lost_fd, lost_en;   /* the stream that lost them first, and why */
};

struct agent {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	struct runner **r;
	int nr, nidle, running;
	int dying;              /* under mu: no new attempt starts */
	atomic_int ending;      /* someone runs agent_end */
	pthread_mutex_t wmu;    /* stdout: one message at a time */
	int out_fd;
	int64_t hb_ms;
	int64_t grace_ms;
	int cores;
	const char *labels;
	struct agentplug *ap;   /* the plugins the hello named, or NULL */
	atomic_int hb_done;     /* the heartbeat thread (which ticks them) has ended */
};

static void send_line(struct agent *ag, struct buf *b, const struct proto_part *parts, int n)
{
	if (proto_write(ag->out_fd, &ag->wmu, b, parts, n) != 0) {
		/* the controller is gone: the main thread sees stdin close soon;
		 * nothing to do here */
	}
}

/* Sends what is pending of stream fd (1, 2) as one "out" message. */
static void out_flush(struct runner *r, int fd)
{
	struct buf *p = &r->pend[fd - 1];
	if (!p->len)
		return;
	if (!r->gone) {
		struct buf b = {0};
		buf_addf(&b, "{\"op\":\"out\",\"id\":%lld,\"stream\":\"%s\",\"bytes\":%zu}",
			 (long long)r->id, fd == 1 ? "out" : "err", p->len);
		struct proto_part part = {p->p, p->len};
		if (proto_write(r->ag->out_fd, &r->ag->wmu, &b, &part, 1))
			r->gone = 1; /* the main thread sees stdin close soon */
		buf_free(&b);
	}
	r->sent = 1;
	p->len = 0;
}

/* Bytes of stream fd that cannot be kept (errno en): counted, and the
 * attempt fails saying so. */
static void out_lose(struct runner *r, int fd, uint64_t n, int en)
{
	if (!r->lost) {
		r->lost_fd = fd;
		r->lost_en = en;
	}
	r->lost += n;
}

/* Output as it is read (exec.c, through the runner's task_sink): pending in
 * memory, and sent as an "out" message each time a stream has PROTO_CHUNK
 * bytes, so the agent holds at most that much of a stream and spools
 * nothing to disk. */
static void out_chunk(void *ctx, const struct task *t, int fd, const char *p, size_t n)
{
	(void)t;
	struct runner *r = ctx;
	struct buf *b = &r->pend[fd - 1];
	while (n) {
		size_t k = PROTO_CHUNK - b->len < n ? PROTO_CHUNK - b->len : n;
		if (r->lost || buf_try_add(b, p, k)) { /* no holes: the rest is lost too */
			out_lose(r, fd, n, ENOMEM);
			return;
		}
		p += k;
		n -= k;
		if (b->len == PROTO_CHUNK)
			out_flush(r, fd);
	}
}

struct feed {
	struct runner *r;
	int fd;
	uint64_t n;
};

static void feed_chunk(void *ctx, const char *p, size_t n)
{
	struct feed *f = ctx;
	out_chunk(f->r, NULL, f->fd, p, n);
	f->n += n;
}

/* A spool's bytes (a plugin's answer or kind's output) into the stream. */
static void out_spool(struct runner *r, const struct spool *s, int fd)
{
	struct feed f = {r, fd, 0};
	if (s->len)
		spool_each(s, feed_chunk, &f);
	if (f.n < s->len) /* spool_each stops at a read error */
		out_lose(r, fd, s->len - f.n, EIO);
	if (s->lost)
		out_lose(r, fd, s->lost, s->err);
}

/* The answer to attempt id: the output not sent yet, then the done. An
 * output of at most PROTO_CHUNK bytes of which nothing was sent rides in the
 * done (out_len, err_len), as one message; else the rest goes as "out"
 * messages first and the done carries no bytes. Output that found no memory
 * fails the attempt, saying so. r is NULL for an attempt no runner took. */
static void send_done(struct agent *ag, int64_t id, const struct attempt *a, struct runner *r)
{
	size_t ol = r ? r->pend[0].len : 0, el = r ? r->pend[1].len : 0;
	if (r && (r->sent || ol + el > PROTO_CHUNK)) {
		out_flush(r, 1);
		out_flush(r, 2);
		ol = el = 0;
	}
	if (r && r->gone)
		return;
	int lost = r && r->lost;
	int ok = a->ok && !lost;
	struct buf b = {0};
	buf_addf(&b, "{\"op\":\"done\",\"id\":%lld,\"ok\":%s", (long long)id, ok ? "true" : "false");
	if (!ok)
		buf_addf(&b, ",\"fail\":\"%s\"", fail_kind_name(lost ? FK_ERROR : a->fkind));
	buf_addf(&b, ",\"exit\":%d", a->exit_code);
	if (a->sig)
		buf_addf(&b, ",\"sig\":%d", a->sig);
	buf_addf(&b, ",\"run_ns\":%lld", (long long)(a->end_ns - a->start_ns));
	if (a->spawn_ns)
		buf_addf(&b, ",\"spawn_ns\":%lld", (long long)a->spawn_ns);
	if (a->user_us || a->sys_us)
		buf_addf(&b, ",\"user_us\":%lld,\"sys_us\":%lld", (long long)a->user_us,
			 (long long)a->sys_us);
	if (a->maxrss_kb)
		buf_addf(&b, ",\"maxrss_kb\":%lld", (long long)a->maxrss_kb);
	if (lost) {
		char m[200];
		snprintf(m, sizeof m, "agent: its %s could not be kept: %s (%llu bytes lost)",
			 r->lost_fd == 2 ? "stderr" : "stdout", strerror(r->lost_en ? r->lost_en : EIO),
			 (unsigned long long)r->lost);
		buf_adds(&b, ",\"msg\":");
		buf_json_str(&b, m);
	} else if (a->msg[0]) {
		buf_adds(&b, ",\"msg\":");
		buf_json_str(&b, a->msg);
	}
	if (a->label[0]) { /* a plugin answered it (pool) */
		buf_adds(&b, ",\"label\":");
		buf_json_str(&b, a->label);
	}
	if (ol + el)
		buf_addf(&b, ",\"out_len\":%zu,\"err_len\":%zu,\"bytes\":%zu", ol, el, ol + el);
	buf_adds(&b, "}");
	struct proto_part parts[2] = {{ol ? r->pend[0].p : NULL, ol}, {el ? r->pend[1].p : NULL, el}};
	send_line(ag, &b, parts, 2);
	buf_free(&b);
}

static void agent_send(void *ud, struct buf *line)
{
	send_line(ud, line, NULL, 0);
}

static void send_error(struct agent *ag, const char *msg)
{
	struct buf b = {0};
	buf_addf(&b, "{\"v\":%d,\"op\":\"error\",\"msg\":", PROTO_VERSION);
	buf_json_str(&b, msg);
	buf_adds(&b, "}");
	send_line(ag, &b, NULL, 0);
	buf_free(&b);
}

/* Runs one attempt as a local worker would: exec and sim, and a kind a
 * plugin of the hello adds; a hook plugin's before_task (pool) first. */
static void run_job(struct runner *r, struct job *j, int slot)
{
	json_t *m = j->msg;
	struct spec s;
	struct task t;
	struct attempt a;
	memset(&s, 0, sizeof s);
	memset(&t, 0, sizeof t);
	attempt_reset(&a);
	spool_reset(&r->out);
	spool_reset(&r->err);
	a.out = &r->out;
	a.err = &r->err;
	const char *kind = proto_str(m, "kind");
	char **argv = NULL, **env = NULL;
	t.id = proto_str(m, "task") ? proto_str(m, "task") : "?";
	t.spec = &s;
	t.slot = (int16_t)slot;
	t.attempts = (uint16_t)proto_int(m, "attempt", 1);
	t.timeout_ms = proto_int(m, "timeout_ms", 0);
	t.start_ns = t.ready_ns = now_ns();
	struct runner_ctx rc;
	memset(&rc, 0, sizeof rc);
	rc.wake_fd = r->wake_fd;
	rc.stop = &r->stop;
	rc.child = &r->child;
	rc.kill_grace_ms = proto_int(m, "grace_ms", r->ag->grace_ms);
	rc.timing = 1;
	struct agentplug *ap = r->ag->ap;
	int is_sim = kind && !strcmp(kind, "sim"), is_exec = kind && !strcmp(kind, "exec");
	r->id = j->id;
	r->sent = 0;
	r->lost = 0;
	if (is_exec) { /* its output goes out as it is read */
		r->sink.ctx = r;
		r->sink.chunk = out_chunk;
		rc.sink = &r->sink;
	}
	int pk = !is_sim && !is_exec && ap && agentplug_has_kind(ap, kind);
	if (is_sim) {
		s.kind = KIND_SIM;
		s.cpu_us = proto_int(m, "cpu_us", 0);
		s.io_ms = proto_int(m, "io_ms", 0);
		s.mem_kb = proto_int(m, "mem_kb", 0);
		s.fail_after = (int32_t)proto_int(m, "fail_after", 0);
		json_t *fr = json_object_get(m, "fail_rate");
		s.fail_rate = json_is_number(fr) ? json_number_value(fr) : 0;
		const char *seed = proto_str(m, "seed");
		s.seed = seed ? strtoull(seed, NULL, 10) : 0;
	} else if (is_exec || pk) {
		s.kind = pk ? KIND_PLUGIN : KIND_EXEC;
		s.kind_name = pk ? kind : NULL;
		argv = proto_strv(m, "argv");
		env = proto_strv(m, "env");
		s.argv = argv;
		s.sh = (char *)proto_str(m, "sh");
		s.env = env;
		s.cwd = (char *)proto_str(m, "cwd");
		s.stdin_data = j->stdin_data;
		s.stdin_len = j->stdin_len;
	}
	if (ap && (is_sim || is_exec || pk))
		agentplug_task(m, &t, &s); /* what a plugin may read of it */
	if ((is_sim || is_exec || pk) && ap && agentplug_run(ap, kind, &t, &rc, &a)) {
		/* the plugin's kind ran, or a hook plugin answered it */
	} else if (is_sim) {
		sim_run(&t, &rc, &a);
	} else if (is_exec) {
		if (!s.sh && (!argv || !argv[0])) {
			a.start_ns = a.end_ns = now_ns();
			a.fkind = FK_ERROR;
			a.exit_code = -1;
			snprintf(a.msg, sizeof a.msg, "agent: task %s has neither argv nor sh", t.id);
		} else {
			exec_run(&t, &rc, &a);
		}
	} else {
		a.start_ns = a.end_ns = now_ns();
		a.fkind = FK_ERROR;
		a.exit_code = -1;
		snprintf(a.msg, sizeof a.msg, "agent: kind %s does not run on this agent (its plugin "
			 "was not in the controller's hello)", kind ? kind : "(none)");
	}
	if (r->out.len || r->out.lost) /* a plugin's answer or kind */
		out_spool(r, &r->out, 1);
	if (r->err.len || r->err.lost)
		out_spool(r, &r->err, 2);
	send_done(r->ag, j->id, &a, r);
	spool_reset(&r->out); /* a spilled file is closed now */
	spool_reset(&r->err);
	r->pend[0].len = r->pend[1].len = 0; /* what rode in the done */
	agentplug_task_free(&s);
	free(argv);
	free(env);
}

/* A sim task that cannot block and is over within a millisecond: no io_ms,
 * at most 1 ms of CPU and 4 MiB of memory. */
static int short_sim(const json_t *m)
{
	const char *k = proto_str(m, "kind");
	return k && !strcmp(k, "sim") && proto_int(m, "io_ms", 0) == 0 &&
	       proto_int(m, "cpu_us", 0) <= 1000 && proto_int(m, "mem_kb", 0) <= 4096;
}

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	struct agent *ag = r->ag;
	pthread_mutex_lock(&ag->mu);
	for (;;) {
		while (!ag->head && !ag->dying) {
			ag->nidle++;
			pthread_cond_wait(&ag->cv, &ag->mu);
			ag->nidle--;
		}
		if (ag->dying)
			break;
		struct job *j = ag->head;
		ag->head = j->next;
		if (!ag->head)
			ag->tail = NULL;
		atomic_store(&r->stop, 0);
		atomic_store(&r->job_id, j->id);
		ag->running++;
		pthread_mutex_unlock(&ag->mu);
		run_job(r, j, r->slot);
		pthread_mutex_lock(&ag->mu);
		atomic_store(&r->job_id, -1);
		ag->running--;
		json_decref(j->msg);
		free(j->stdin_data);
		free(j);
		if (ag->dying)
			pthread_cond_broadcast(&ag->cv);
	}
	pthread_mutex_unlock(&ag->mu);
	return NULL;
}

/* Under ag->mu: queue a job, starting a runner when none is idle. */
static int enqueue(struct agent *ag, struct job *j)
{
	if (ag->tail)
		ag->tail->next = j;
	else
		ag->head = j;
	ag->tail = j;
	if (ag->nidle > 0) {
		pthread_cond_signal(&ag->cv);
		return 0;
	}
	struct runner **nr = realloc(ag->r, (size_t)(ag->nr + 1) * sizeof *nr);
	if (!nr)
		return -1;
	ag->r = nr;
	struct runner *r = calloc(1, sizeof *r);
	if (!r)
		return -1;
	r->ag = ag;
	r->slot = ag->nr;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&r->job_id, -1);
	if (r->wake_fd < 0 || pthread_create(&r->th, NULL, runner_main, r) != 0) {
		if (r->wake_fd >= 0)
			close(r->wake_fd);
		free(r);
		return -1;
	}
	ag->r[ag->nr++] = r;
	return 0;
}

/* A kill request: stop the attempt (TERM, KILL after its grace) or drop it
 * from the queue with a stopped answer. */
static void kill_job(struct agent *ag, int64_t id)
{
	/* the controller kills only when its run stops: its plugins would be
	 * told so (host->stopping), and so are the agent's */
	agentplug_stop(ag->ap);
	pthread_mutex_lock(&ag->mu);
	for (int i = 0; i < ag->nr; i++) {
		struct runner *r = ag->r[i];
		if (atomic_load(&r->job_id) == id) {
			atomic_store(&r->stop, 1);
			uint64_t one = 1;
			ssize_t w = write(r->wake_fd, &one, sizeof one);
			(void)w;
			pthread_mutex_unlock(&ag->mu);
			return;
		}
	}
	struct job **pp = &ag->head, *prev = NULL;
	while (*pp && (*pp)->id != id) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	struct job *j = *pp;
	if (j) {
		*pp = j->next;
		if (ag->tail == j)
			ag->tail = prev;
	}
	pthread_mutex_unlock(&ag->mu);
	if (j) {
		struct attempt a;
		attempt_reset(&a);
		a.start_ns = a.end_ns = now_ns();
		a.fkind = FK_SIGNAL;
		a.sig = SIGTERM;
		a.exit_code = -1;
		send_done(ag, id, &a, NULL);
		json_decref(j->msg);
		free(j->stdin_data);
		free(j);
	}
}

/* Every process this agent started that is still its child (a plugin's
 * worker, such as pool's, in a process group of its own), with its group:
 * a plugin that was still waiting on one when the end came cannot stop it. */
static void kill_children(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[300];
		snprintf(p, sizeof p, "/proc/self/task/%s/children", de->d_name);
		FILE *f = fopen(p, "r");
		long pid;
		while (f && fscanf(f, "%ld", &pid) == 1) {
			if (getpgid((pid_t)pid) == (pid_t)pid)
				kill((pid_t)-pid, SIGKILL);
			kill((pid_t)pid, SIGKILL);
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

/* The end: no attempt starts any more, every task's process group is killed
 * (again every 20 ms, for a child spawned meanwhile) until the runners are
 * idle or 1.5 s passed. Then the process exits. */
static void agent_end(struct agent *ag, int code)
{
	if (atomic_exchange(&ag->ending, 1)) {
		for (;;)
			pause(); /* the other caller exits the process */
	}
	agentplug_stop(ag->ap);
	pthread_mutex_lock(&ag->mu);
	ag->dying = 1;
	pthread_cond_broadcast(&ag->cv);
	pthread_mutex_unlock(&ag->mu);
	int64_t until = now_ns() + 1500000000LL;
	int busy = 0;
	for (;;) {
		pthread_mutex_lock(&ag->mu);
		busy = ag->running;
		for (int i = 0; i < ag->nr; i++) {
			struct runner *r = ag->r[i];
			atomic_store(&r->stop, 1);
			int pid = atomic_load(&r->child);
			if (pid > 0)
				kill(-pid, SIGKILL);
			uint64_t one = 1;
			ssize_t w = write(r->wake_fd, &one, sizeof one);
			(void)w;
		}
		pthread_mutex_unlock(&ag->mu);
		if (busy && ag->ap)
			kill_children(); /* a plugin's worker it still waits on (pool) */
		if (!busy || now_ns() > until)
			break;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	/* the plugins' fini (pool stops its idle workers) once nothing runs
	 * them; whatever is left of their processes is killed */
	if (!busy && atomic_load(&ag->hb_done))
		agentplug_end(ag->ap);
	kill_children();
	fflush(NULL);
	_exit(code);
}

static void *signal_main(void *arg)
{
	struct agent *ag = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	int sig = 0;
	sigwait(&set, &sig);
	agent_end(ag, 128 + sig);
	return NULL;
}

struct hb {
	struct agent *ag;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static void *hb_main(void *arg)
{
	struct hb *h = arg;
	struct agent *ag = h->ag;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + ag->hb_ms * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		if (h->stop)
			break;
		double load = 0;
		FILE *f = fopen("/proc/loadavg", "r");
		if (f) {
			if (fscanf(f, "%lf", &load) != 1)
				load = 0;
			fclose(f);
		}
		pthread_mutex_lock(&ag->mu);
		int running = ag->running;
		pthread_mutex_unlock(&ag->mu);
		struct buf b = {0};
		buf_addf(&b, "{\"op\":\"hb\",\"running\":%d,\"load\":%.2f}", running, load);
		send_line(ag, &b, NULL, 0);
		buf_free(&b);
		if (ag->ap) {
			pthread_mutex_unlock(&h->mu);
			agentplug_tick(ag->ap);
			pthread_mutex_lock(&h->mu);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

static int64_t mem_mb(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	return pages > 0 && psz > 0 ? (int64_t)pages * psz / (1024 * 1024) : 0;
}

/* What a node offers of memory: Slurm's per-node allotment inside an
 * allocation, else MemAvailable (as a local run's default capacity). */
static int64_t mem_avail_mb(void)
{
	const char *s = getenv("SLURM_MEM_PER_NODE");
	if (s && atoll(s) > 0)
		return atoll(s);
	int64_t mb = res_default_cap(RES_MEM) / RES_MILLI;
	return mb > 0 ? mb : mem_mb();
}

static void send_hello(struct agent *ag, const char *cwd)
{
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	struct stat st;
	int cwd_ok = cwd && stat(cwd, &st) == 0 && S_ISDIR(st.st_mode);
	struct buf b = {0};
	buf_addf(&b, "{\"v\":%d,\"op\":\"hello\",\"host\":", PROTO_VERSION);
	buf_json_str(&b, host);
	buf_addf(&b, ",\"pid\":%d,\"cores\":%d,\"mem_mb\":%lld,\"mem_avail_mb\":%lld,\"labels\":[",
		 (int)getpid(), ag->cores, (long long)mem_mb(), (long long)mem_avail_mb());
	if (ag->labels && *ag->labels) {
		const char *p = ag->labels;
		int first = 1;
		while (*p) {
			size_t n = strcspn(p, ",");
			if (n) {
				char l[128];
				snprintf(l, sizeof l, "%.*s", (int)(n < 127 ? n : 127), p);
				if (!first)
					buf_adds(&b, ",");
				buf_json_str(&b, l);
				first = 0;
			}
			p += n + (p[n] == ',');
		}
	}
	buf_addf(&b, "],\"cwd_ok\":%s,\"kinds\":[\"exec\",\"sim\"", cwd_ok ? "true" : "false");
	agentplug_kinds_json(ag->ap, &b);
	buf_adds(&b, "]}");
	send_line(ag, &b, NULL, 0);
	buf_free(&b);
}

static int agent_usage(const char *msg)
{
	fprintf(stderr, "gearbox agent: %s\n"
		"usage: gearbox agent [--labels L1,L2] [--cores N]\n"
		"  started by the controller (gearbox run --nodes ...); speaks the agent\n"
		"  protocol on stdin/stdout (docs/nodes.md)\n", msg);
	return 2;
}

int agent_main(int argc, char **argv)
{
	struct agent ag;
	memset(&ag, 0, sizeof ag);
	ag.out_fd = 1;
	ag.hb_ms = 1000;
	ag.grace_ms = 2000;
	ag.labels = getenv("GEARBOX_LABELS");
	const char *slurm = getenv("SLURM_CPUS_ON_NODE");
	ag.cores = slurm && atoi(slurm) > 0 ? atoi(slurm) : ncores();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			agent_usage("runs the tasks a controller sends it");
			return 0;
		}
		if (!strcmp(argv[i], "--labels") && i + 1 < argc) {
			ag.labels = argv[++i];
		} else if (!strcmp(argv[i], "--cores") && i + 1 < argc) {
			ag.cores = atoi(argv[++i]);
			if (ag.cores < 1 || ag.cores > 4096)
				return agent_usage("--cores: expected 1 to 4096");
		} else {
			char m[300];
			snprintf(m, sizeof m, "unknown option %.200s", argv[i]);
			return agent_usage(m);
		}
	}
	pthread_mutex_init(&ag.mu, NULL);
	pthread_cond_init(&ag.cv, NULL);
	pthread_mutex_init(&ag.wmu, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* as a local worker (engine.c): an output spilled past the file-size
	 * limit must fail its attempt with EFBIG (spool.h), not end the agent
	 * with SIGXFSZ; every thread started below inherits the mask, and
	 * exec.c's children get an empty one */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t sth;
	pthread_create(&sth, NULL, signal_main, &ag);

	struct proto_reader rd;
	proto_reader_init(&rd, 0);
	struct err err;
	json_t *m = NULL;
	int r = proto_read(&rd, &m, &err);
	if (r <= 0) {
		if (r < 0)
			send_error(&ag, err.msg);
		agent_end(&ag, r < 0 ? 2 : 0);
	}
	int64_t v = proto_int(m, "v", -1);
	const char *op = proto_str(m, "op");
	if (v != PROTO_VERSION || !op || strcmp(op, "hello")) {
		char msg[200];
		if (op && !strcmp(op, "hello"))
			snprintf(msg, sizeof msg, "agent speaks protocol version %d, its controller "
				 "version %lld (run the same gearbox release on both sides)",
				 PROTO_VERSION, (long long)v);
		else
			snprintf(msg, sizeof msg, "agent speaks protocol version %d; the controller's "
				 "first message is version %lld %s", PROTO_VERSION, (long long)v,
				 op ? op : "(no op)");
		send_error(&ag, msg);
		json_decref(m);
		agent_end(&ag, 2);
	}
	int64_t hb = proto_int(m, "hb_ms", 1000);
	ag.hb_ms = hb >= 10 && hb <= 3600000 ? hb : 1000;
	ag.grace_ms = proto_int(m, "grace_ms", 2000);
	if (agentplug_load(m, agent_send, &ag, &ag.ap, &err)) {
		/* before the hello: the node does not start, and says why */
		send_error(&ag, err.msg);
		json_decref(m);
		atomic_store(&ag.hb_done, 1);
		agent_end(&ag, 2);
	}
	send_hello(&ag, proto_str(m, "cwd"));
	const char *cwd = proto_str(m, "cwd");
	if (cwd && chdir(cwd) != 0) {
		/* reported as cwd_ok false; the controller ends it */
	}
	json_decref(m);

	struct runner inl; /* runs short sim tasks on this thread */
	memset(&inl, 0, sizeof inl);
	inl.ag = &ag;
	inl.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&inl.job_id, -1);
	struct hb h = {.ag = &ag};
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	pthread_t hth;
	pthread_create(&hth, NULL, hb_main, &h);

	int code = 0;
	for (;;) {
		r = proto_read(&rd, &m, &err);
		if (r == 0)
			break;
		if (r < 0) {
			send_error(&ag, err.msg);
			code = 2;
			break;
		}
		op = proto_str(m, "op");
		if (op && !strcmp(op, "run") && !ag.ap && short_sim(m)) {
			/* no handoff to a runner: it cannot block, and it is done in
			 * less time than a thread's wake-up */
			struct job j = {.id = proto_int(m, "id", -1), .msg = m};
			run_job(&inl, &j, 0);
			json_decref(m);
			continue;
		}
		if (op && !strcmp(op, "run")) {
			struct job *j = calloc(1, sizeof *j);
			if (!j) {
				json_decref(m);
				code = 1;
				break;
			}
			j->id = proto_int(m, "id", -1);
			j->msg = m;
			if (rd.nbytes) {
				j->stdin_data = malloc(rd.nbytes);
				if (j->stdin_data) {
					memcpy(j->stdin_data, rd.bytes, rd.nbytes);
					j->stdin_len = rd.nbytes;
				}
			}
			pthread_mutex_lock(&ag.mu);
			int e = enqueue(&ag, j);
			pthread_mutex_unlock(&ag.mu);
			if (e) {
				send_error(&ag, "agent: cannot start a runner thread");
				code = 1;
				break;
			}
			continue;
		}
		if (op && !strcmp(op, "kill"))
			kill_job(&ag, proto_int(m, "id", -1));
		else if (op && !strcmp(op, "bye")) {
			json_decref(m);
			break;
		}
		/* unknown ops are ignored: a newer controller may send more */
		json_decref(m);
	}
	pthread_mutex_lock(&h.mu);
	h.stop = 1;
	pthread_cond_signal(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(hth, NULL);
	atomic_store(&ag.hb_done, 1);
	proto_reader_free(&rd);
	agent_end(&ag, code);
	return code;
}
