/* shared.h - the breaker's shared state on Redis (plugins.breaker.shared):
 * one sliding window per target for every gearbox process, kept by a Lua
 * script on the Redis server, and a local copy of its verdict per target.
 *
 * The workers never wait on Redis: sh_send queues a request (an outcome to
 * record, or a read) on a bounded queue, dropped when full; one background
 * thread sends them and writes each reply into the target's struct sh_view,
 * which before_task reads with two atomic loads. Redis down: requests are
 * dropped, the views go back to "unknown", one warning; the local breaker
 * works alone. */
#ifndef GBX_BREAKER_SHARED_H
#define GBX_BREAKER_SHARED_H

#include <gearbox/plugin.h>
#include <stdatomic.h>
#include <stdint.h>

#include "breaker_sm.h"

/* the last reply about one target; embedded in the caller's breaker */
struct sh_view {
	_Atomic int state;            /* enum bk_state, or -1: nothing known */
	_Atomic int64_t open_until;   /* OPEN: CLOCK_MONOTONIC ms when it may turn HALF_OPEN */
};

struct shared;

/* Parses url ("redis://HOST:PORT/DB" or "unix:PATH") and starts the
 * thread (it connects on its own: an absent Redis is a warning, not an
 * error). Returns NULL with a message in err for a bad url. */
struct shared *sh_open(const struct gbx_host *host, const char *url, char *err, size_t errlen);
/* Sends what is queued (a process's last outcomes count for the others;
 * with Redis down they are dropped at once, with Redis stuck each waits at
 * most the 1 s command timeout, and the first failure drops the rest),
 * stops the thread and frees s. */
void sh_close(struct shared *s);

void sh_view_init(struct sh_view *v);
/* Queues a request about target for the thread: outcome BK_SUCCESS or
 * BK_FAILURE (with slow) records a call, -1 only reads the state. v must
 * live until sh_close. Never blocks on Redis. */
void sh_send(struct shared *s, struct sh_view *v, const char *target, const struct bk_config *c,
             int outcome, int slow);
/* The shared verdict for a call now: BK_OPEN with *delay_ms left, or
 * BK_CLOSED when the shared state does not refuse it (CLOSED, HALF_OPEN,
 * unknown, or an OPEN whose wait is over). */
int sh_check(const struct sh_view *v, int64_t *delay_ms);

#endif
