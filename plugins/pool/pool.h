/* pool.h - shared internals of the "pool" plugin: the pools, their worker
 * processes, and the per-thread buffers (pool.c is the glue to the engine,
 * proc.c starts, talks to and stops worker processes).
 *
 * Invariants: a worker process is either on its pool's idle list (under the
 * pool's mutex) or held by exactly one engine thread, which alone touches its
 * pipes and read buffer; nlive counts processes started and not yet reaped,
 * nidle the idle list's length (both atomics, so Lua can read them without a
 * lock).
 */
#ifndef GBX_POOL_H
#define GBX_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wproc {
	struct wproc *next;   /* on the idle list */
	pid_t pid;
	int in_fd, out_fd;    /* its stdin (we write), its stdout (we read) */
	char *rbuf;           /* bytes read past the last full line */
	size_t rlen, rcap;
	int64_t nreq;         /* requests answered */
	int64_t idle_since_ns;
	int64_t started_ns;
};

struct pool {
	char *name;
	char **cmd;           /* NULL-terminated */
	size_t ncmd;
	int min, max;
	int64_t max_requests, idle_timeout_ms, startup_timeout_ms;
	int multiplex;
	char *match;

	pthread_mutex_t mu;
	pthread_cond_t cv;    /* a worker came back or went away */
	struct wproc *idle;   /* under mu, most recently used first */
	_Atomic int nlive, nidle;
	_Atomic int64_t started, requests, replaced, recycled, expired;
};

/* A growing byte buffer. */
struct bytes {
	char *p;
	size_t len, cap;
};
int bytes_reserve(struct bytes *b, size_t more);
int bytes_add(struct bytes *b, const void *s, size_t n);
int bytes_str(struct bytes *b, const char *s);
int bytes_json(struct bytes *b, const char *s); /* as a JSON string literal */

int64_t mono_ns(void);

/* proc.c. Errors: -1 with a message in err. */
struct wproc *proc_start(struct pool *pl, char *err, size_t errlen);
/* Writes all of buf before deadline_ns (0: none). 0, -1 error, -2 timed out. */
int proc_write(struct wproc *w, const char *buf, size_t len, int64_t deadline_ns);
/* Reads one line (without its '\n') into line before deadline_ns. 0, -1 EOF
 * or error, -2 timed out, -3 line too long. */
int proc_read_line(struct wproc *w, struct bytes *line, int64_t deadline_ns);
/* Whether an idle worker looks unusable (exited, or wrote something unasked). */
int proc_broken(struct wproc *w);
/* Kills the worker (its process group) and reaps it; describes how it ended
 * in how (may be NULL). Frees w. */
void proc_kill(struct wproc *w, char *how, size_t howlen);
/* Closes the stdin of every worker in list, waits up to grace_ms for them to
 * exit, kills the rest, reaps all and frees them. Returns how many. */
int proc_stop_all(struct wproc *list, int64_t grace_ms);

#endif
