/* pool.h - shared internals of the "pool" plugin: the pools, their worker
 * processes, and the per-thread buffers (pool.c is the glue to the engine,
 * proc.c starts, talks to and stops worker processes, proto.c writes requests
 * and reads responses, mux.c shares a multiplex worker between threads,
 * config.c reads a pool's settings).
 *
 * Invariants, singleplex: a worker process is either on its pool's idle list
 * (under the pool's mutex) or held by exactly one engine thread, which alone
 * touches its pipes and read buffer.
 * Multiplex: every live worker is on its pool's mux list until it is closed
 * (dead, recycled or stopped); inflight and closed are under the pool's
 * mutex; the requests in flight, the reader role and the doom are under the
 * worker's own mutex (see mux.c). The pool's mutex is never held while the
 * worker's is taken, nor the other way round.
 * nlive counts processes started and not yet reaped, nidle the idle ones
 * (atomics, so Lua can read them without a lock).
 * The run's stop (the host's stop fd, ABI 1.4): every wait on a worker's pipe
 * polls it too, and every wait for a free worker checks the host's flag after
 * each wake-up; a stop kills the worker a request is in flight on (its
 * process group, then reaped), and a request not yet sent is not sent.
 */
#ifndef GBX_POOL_H
#define GBX_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gearbox/plugin_buf.h>   /* struct gbx_buf: the SDK's growable buffer */
#include <gearbox/plugin_spawn.h> /* gbx_spawn: the SDK's child with pipes */

/* One request in flight on a multiplex worker: on its sender's stack, on the
 * worker's list (under the worker's mutex) until done. */
struct mreq {
	struct mreq *next;
	int64_t id;            /* requestId, > 0 */
	int64_t t0_ns, deadline_ns; /* sent at; answer by (0: no limit) */
	const char *task_id;   /* the sender's task, for messages */
	struct gbx_buf *out;     /* the sender's buffer: the decoded output lands here */
	int done;              /* answered (failed 0) or failed with the worker (failed 1) */
	int failed, code;
	int unsent;            /* its write failed: it never got there */
};

struct wproc {
	struct wproc *next;   /* on the idle list (singleplex) or the mux list */
	pid_t pid;
	int in_fd, out_fd;    /* its stdin (we write), its stdout (we read) */
	int pid_fd;           /* pidfd: readable once it exits, even while a child it
	                         forked holds its stdout open (-1: none, old kernel) */
	int stop_fd;          /* the host's stop fd (borrowed: never read or closed),
	                         polled beside its pipes; -1: none */
	char *rbuf;           /* bytes read past the last full line */
	size_t rlen, rcap;
	int64_t nreq;         /* requests answered */
	int64_t idle_since_ns;
	int64_t started_ns;
	int reaped;           /* proc_end has reaped it: its pid is no longer ours */

	/* multiplex only (wake_fd < 0 otherwise) */
	int wake_fd;          /* eventfd: wakes the reader out of poll() */
	int inflight, closed; /* under the pool's mutex: senders holding it; no new ones */
	int64_t nsent;        /* under the pool's mutex: requests given to it */
	pthread_mutex_t mu;   /* the fields below */
	pthread_cond_t cv;    /* a request was answered, the reader role is free, or doom */
	pthread_mutex_t wmu;  /* held while writing a request: lines never interleave */
	struct mreq *reqs;    /* in flight */
	int64_t next_id;
	int reading;          /* a sender holds the reader role (reads and dispatches lines) */
	int write_failed;     /* a sender could not write: the reader dooms it */
	struct gbx_buf line;    /* the reader's line */
	/* the doom: once dead is set nothing is sent, every request in flight
	 * fails with this, and the pid is reaped by the reader that set it */
	int dead;
	const char *why;      /* "died", "timeout", "malformed", "too long", "unknown
			       * requestId", "idle" (it exited or talked with nothing in flight),
			       * "stopped" (the run is stopping: killed, not replaced) */
	int64_t doom_ns;
	char how[64];         /* died: how it ended */
	char culprit[128];    /* timeout: the task that was not answered */
	int64_t culprit_ms;
	char what[200];       /* malformed, unknown requestId: the line (cut) */
	int ndoomed;          /* requests in flight when it died */
};

struct pool {
	char *name;
	char **cmd;           /* NULL-terminated */
	size_t ncmd;
	int min, max;
	int64_t max_requests, idle_timeout_ms, startup_timeout_ms;
	int multiplex, max_inflight;
	char *match;
	int stop_fd;          /* the host's stop fd for this run (ABI 1.4), -1: none */

	pthread_mutex_t mu;
	pthread_cond_t cv;    /* a worker came back or went away, or a request slot freed */
	struct wproc *idle;   /* under mu, most recently used first (singleplex) */
	struct wproc *mux;    /* under mu, every live open worker (multiplex) */
	_Atomic int nlive, nidle;
	_Atomic int64_t started, requests, replaced, recycled, expired;
	_Atomic int64_t interrupted; /* requests cut short by the run's stop */
};


int64_t mono_ns(void);

/* proc.c. Errors: -1 with a message in err. */
struct wproc *proc_start(struct pool *pl, char *err, size_t errlen);
/* Writes all of buf before deadline_ns (0: none). 0, -1 error, -2 timed out,
 * -5 the run is stopping (its stop fd turned readable while it waited). */
int proc_write(struct wproc *w, const char *buf, size_t len, int64_t deadline_ns);
/* Reads one line (without its '\n') into line before deadline_ns. 0, -1 EOF
 * or error, -2 timed out, -3 line too long, -4 woken through wake_fd, -5 the
 * run is stopping (a line already read is still returned first). */
int proc_read_line(struct wproc *w, struct gbx_buf *line, int64_t deadline_ns);
/* Wakes a multiplex worker's reader out of proc_read_line. */
void proc_wake(struct wproc *w);
/* Whether an idle worker looks unusable (exited, or wrote something unasked). */
int proc_broken(struct wproc *w);
/* Kills the worker (its process group) and reaps it; describes how it ended
 * in how (may be NULL). Frees w. */
void proc_kill(struct wproc *w, char *how, size_t howlen);
/* The same without freeing: its pipes stay open until proc_free, so other
 * threads may still hold them (multiplex). Sets w->reaped. */
void proc_end(struct wproc *w, char *how, size_t howlen);
void proc_free(struct wproc *w);
/* Closes the stdin of every worker in list, waits up to grace_ms for them to
 * exit, kills the rest, reaps all and frees them. Returns how many. */
int proc_stop_all(struct wproc *list, int64_t grace_ms);

/* config.c: reads one pool's settings from its config object obj (pl->name
 * set, the rest zero). 0, or -1 with a message naming pools.NAME.KEY in err;
 * what was read before an error is freed with the pool. */
int pool_read(struct pool *pl, const char *obj, char *err, size_t errlen);

/* proto.c: the protocol's text. */
/* The request for argv (the argument rule is the caller's: the first `skip`
 * are left out) and inputs (NULL-terminated, may be NULL), up to and with
 * "requestId": proto_request_id ends it with an id (req->len is the body's
 * length after proto_request; pass it back as body to reuse the body). */
int proto_request(struct gbx_buf *req, const char *const *argv, size_t skip,
		  const char *const *inputs);
int proto_request_id(struct gbx_buf *req, size_t body, int64_t id);
/* Checks that line is one well-formed response object and reads its
 * requestId (0 when missing) and exitCode. 0, or -1 when it is not a response. */
int proto_response(const char *line, int64_t *id, int *code);
/* Decodes the response's output (checked by proto_response) into out. 0 or -1. */
int proto_output(const char *line, struct gbx_buf *out);

struct plugin;
/* pool.c: whether the run is stopping (the host's flag, ABI 1.4; 0 with an
 * older host). Any thread. */
int pool_stopping(struct plugin *p);
/* pool.c: a pool.replaced event and a warning; tasks_json (may be NULL) is
 * the ids of the requests that failed with it, as JSON strings separated by
 * commas. */
struct plugin;
struct pool;
struct gbx_task;
void pool_replaced(struct plugin *p, struct pool *pl, const struct gbx_task *t, pid_t pid,
		   const char *why, const char *msg, const char *tasks_json);

/* mux.c: requests on a multiplex worker (see mux.c for the protocol between
 * senders). */
/* Takes a worker of pl with a free request slot (least busy first; a new one
 * while fewer than max are alive), waiting for a slot until deadline_ns (0:
 * none) or the run's stop. NULL with *kind ("spawn", "timeout", "stopped":
 * nothing was sent) and a message in err. */
struct wproc *mux_acquire(struct plugin *p, struct pool *pl, int64_t deadline_ns,
			  const char **kind, char *err, size_t errlen);
/* Puts r (t0_ns, deadline_ns, task_id, out filled in) in flight on w and
 * gives it its requestId. -1 when w is dead: release it, take another. */
int mux_register(struct plugin *p, struct pool *pl, struct wproc *w, struct mreq *r);
/* Sends req (ending in r's requestId) and waits until r is answered or fails
 * with its worker. 0: answered (r->code, the output in r->out); 1: failed,
 * *kind ("stopped" when the run's stop killed the worker) and a message in
 * err; -1: it never got there (the worker was gone): release w and take
 * another. */
int mux_call(struct plugin *p, struct pool *pl, struct wproc *w, struct mreq *r,
	     const char *req, size_t len, const char **kind, char *err, size_t errlen);
/* Gives back the sender's hold on w; the last sender out of a closed worker
 * stops it (max_requests; returns 1) or frees it (doomed). */
int mux_release(struct pool *pl, struct wproc *w);
/* Stops the workers on list (pl->idle, or pl->mux for multiplex pools) that
 * nobody holds and that were idle since older_than_ns, keeping `keep` alive
 * (close stdin, grace_ms to exit, then SIGKILL). Returns how many. */
int pool_stop_idle(struct pool *pl, struct wproc **list, int64_t older_than_ns, int keep,
		   int64_t grace_ms);

#endif
