/* sim.c - the sim task kind: modelled work on the worker thread.
 *
 * cpu_us burns thread CPU time, mem_kb touches that much fresh memory, io_ms
 * waits (cut short by a stop request), and failures are injected either
 * deterministically (fail_after: the first N attempts fail) or at fail_rate,
 * drawn from a generator seeded by (seed, task id, attempt) so that a run is
 * reproducible whatever the concurrency.
 */
#include "runner.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sim_run(const struct task *t, struct runner_ctx *rc, struct attempt *a)
{
	const struct spec *s = t->spec;
	a->start_ns = t->start_ns; /* read when it was taken from the queue */
	a->ok = 1;
	a->exit_code = 0;

	if (s->cpu_us > 0) {
		int64_t end = thread_cpu_ns() + s->cpu_us * 1000;
		volatile uint64_t sink = 0;
		while (thread_cpu_ns() < end && !atomic_load_explicit(rc->stop, memory_order_relaxed))
			for (int i = 0; i < 256; i++)
				sink += (uint64_t)i * 2654435761u;
		(void)sink;
	}
	if (s->mem_kb > 0) {
		size_t n = (size_t)s->mem_kb * 1024;
		volatile char *p = malloc(n);
		if (!p) {
			a->ok = 0;
			a->fkind = FK_ERROR;
			a->exit_code = -1;
			snprintf(a->msg, sizeof a->msg, "sim: cannot allocate %lld KiB", (long long)s->mem_kb);
			a->end_ns = now_ns();
			return;
		}
		for (size_t i = 0; i < n; i += 4096)
			p[i] = (char)i;
		free((void *)p);
	}
	if (s->io_ms > 0) {
		int64_t end = now_ns() + s->io_ms * 1000000;
		for (;;) {
			int64_t left = end - now_ns();
			if (left <= 0 || atomic_load(rc->stop))
				break;
			struct pollfd pfd = {rc->wake_fd, POLLIN, 0};
			/* the wake fd is drained by the worker; here it only cuts the wait */
			int64_t ms = (left + 999999) / 1000000;
			if (poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms) > 0)
				break;
		}
	}
	if (atomic_load_explicit(rc->stop, memory_order_relaxed)) {
		a->ok = 0;
		a->fkind = FK_SIGNAL;
		a->sig = 15;
		a->exit_code = -1;
	} else if (t->attempts <= s->fail_after) {
		a->ok = 0;
	} else if (s->fail_rate > 0) {
		uint64_t r = splitmix64(s->seed ^ hash_str(t->id) ^ splitmix64(t->attempts));
		if ((double)(r >> 11) * 0x1.0p-53 < s->fail_rate)
			a->ok = 0;
	}
	if (!a->ok && a->fkind == FK_NONE) {
		a->fkind = FK_EXIT;
		a->exit_code = 1;
		snprintf(a->msg, sizeof a->msg, "sim: injected failure (attempt %u)", t->attempts);
	}
	a->end_ns = now_ns();
}
