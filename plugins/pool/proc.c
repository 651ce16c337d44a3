/* proc.c - worker processes of the pool plugin: start one with posix_spawn
 * (its own process group, stdin and stdout on close-on-exec pipes, stderr
 * shared with gearbox), write a request, read a line back with a deadline
 * (and, for a multiplex worker, a wake-up eventfd; and its pidfd, so a worker
 * that exits while a child of its holds its stdout is seen dead; and the
 * host's stop fd, so the run's stop ends the wait), and stop them: politely
 * (close stdin, wait) or not (SIGKILL the group). Every process started here
 * is reaped here: no zombies; a reaped pid is never signalled again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"


#define MAX_LINE (64u << 20) /* a response line longer than this is garbage */

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct wproc *proc_start(struct pool *pl, char *err, size_t errlen)
{
	struct wproc *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->in_fd = w->out_fd = w->wake_fd = w->pid_fd = -1;
	w->stop_fd = pl->stop_fd;
	if (pl->multiplex && (w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->wmu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* the SDK's spawn: pipes close-on-exec from the start (tasks the engine
	 * spawns meanwhile must not hold them open: a worker would never see EOF
	 * on its stdin), its own process group, stderr shared with gearbox */
	struct gbx_child c;
	char why[200];
	if (gbx_spawn(&c, (const char *const *)pl->cmd, NULL, NULL,
		      GBX_SPAWN_STDIN | GBX_SPAWN_STDOUT | GBX_SPAWN_PGROUP | GBX_SPAWN_NONBLOCK, why,
		      sizeof why)) {
		/* "cannot start CMD: REASON" -> "cannot start worker CMD: REASON" */
		const char *rest = !strncmp(why, "cannot start ", 13) ? why + 13 : why;
		snprintf(err, errlen, "cannot start worker %s", rest);
		goto fail;
	}
	w->pid = c.pid;
#ifdef SYS_pidfd_open
	w->pid_fd = (int)syscall(SYS_pidfd_open, c.pid, 0);
#endif
	w->in_fd = c.in_fd;
	w->out_fd = c.out_fd;
	w->idle_since_ns = w->started_ns = mono_ns();
	atomic_fetch_add(&pl->started, 1);
	return w;
fail:
	proc_free(w);
	return NULL;
}

/* ms to wait in poll() until deadline_ns (0: forever) */
static int poll_ms(int64_t deadline_ns)
{
	if (!deadline_ns)
		return -1;
	int64_t left = deadline_ns - mono_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 1000000 ? 1000000 : (int)left;
}

int proc_write(struct wproc *w, const char *buf, size_t len, int64_t deadline_ns)
{
	while (len) {
		ssize_t n = write(w->in_fd, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1; /* EPIPE: it is gone (SIGPIPE is blocked on workers) */
		struct pollfd pf[2] = {{w->in_fd, POLLOUT, 0}, {w->stop_fd, POLLIN, 0}};
		int ms = poll_ms(deadline_ns);
		if (ms == 0)
			return -2;
		int np = poll(pf, 2, ms); /* a negative fd is ignored */
		if (np == 0 && deadline_ns && mono_ns() >= deadline_ns)
			return -2;
		if (np > 0 && pf[1].revents)
			return -5;
	}
	return 0;
}

int proc_read_line(struct wproc *w, struct gbx_buf *line, int64_t deadline_ns)
{
	for (;;) {
		char *nl = w->rlen ? memchr(w->rbuf, '\n', w->rlen) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - w->rbuf);
			line->len = 0;
			if (gbx_buf_add(line, w->rbuf, n))
				return -1;
			memmove(w->rbuf, nl + 1, w->rlen - n - 1);
			w->rlen -= n + 1;
			return 0;
		}
		if (w->rlen > MAX_LINE)
			return -3;
		if (w->rcap - w->rlen < 4096) {
			size_t cap = w->rcap ? w->rcap * 2 : 8192;
			char *p = realloc(w->rbuf, cap);
			if (!p)
				return -1;
			w->rbuf = p;
			w->rcap = cap;
		}
		ssize_t n = read(w->out_fd, w->rbuf + w->rlen, w->rcap - w->rlen);
		if (n > 0) {
			w->rlen += (size_t)n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		/* nothing to read now: the worker has exited (its pidfd says so)
		 * although a child it forked keeps its stdout open, so no EOF
		 * will come; it died with the request */
		if (w->pid_fd >= 0) {
			struct pollfd pd = {w->pid_fd, POLLIN, 0};
			if (poll(&pd, 1, 0) > 0) {
				/* what it wrote before exiting is still its answer */
				n = read(w->out_fd, w->rbuf + w->rlen, w->rcap - w->rlen);
				if (n > 0) {
					w->rlen += (size_t)n;
					continue;
				}
				return -1;
			}
		}
		struct pollfd pf[4] = {{w->out_fd, POLLIN, 0}, {w->wake_fd, POLLIN, 0},
				       {w->pid_fd, POLLIN, 0}, {w->stop_fd, POLLIN, 0}};
		int ms = poll_ms(deadline_ns);
		if (ms == 0)
			return -2;
		int np = poll(pf, 4, ms); /* a negative fd is ignored */
		if (np == 0 && deadline_ns && mono_ns() >= deadline_ns)
			return -2;
		/* the run is stopping: an answer being written is still read
		 * (out_fd first), but nothing more is waited for */
		if (np > 0 && pf[3].revents && !pf[0].revents)
			return -5;
		if (np > 0 && w->wake_fd >= 0 && (pf[1].revents & POLLIN)) {
			uint64_t v;
			if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
				return -1;
			return -4;
		}
	}
}

void proc_wake(struct wproc *w)
{
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0)
		return; /* EAGAIN: the counter is full, so it is awake anyway */
}

int proc_broken(struct wproc *w)
{
	if (w->rlen)
		return 1;
	struct pollfd pf = {w->out_fd, POLLIN, 0};
	return poll(&pf, 1, 0) != 0;
}

static void describe(int st, char *how, size_t howlen)
{
	if (!how)
		return;
	if (WIFEXITED(st))
		snprintf(how, howlen, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(how, howlen, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(how, howlen, "ended");
}

void proc_free(struct wproc *w)
{
	if (w->in_fd >= 0)
		close(w->in_fd);
	if (w->out_fd >= 0)
		close(w->out_fd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->pid_fd >= 0)
		close(w->pid_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->wmu);
	pthread_cond_destroy(&w->cv);
	free(w->rbuf);
	free(w->line.p);
	free(w);
}

static void nap_ms(int ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

void proc_kill(struct wproc *w, char *how, size_t howlen)
{
	proc_end(w, how, howlen);
	proc_free(w);
}

void proc_end(struct wproc *w, char *how, size_t howlen)
{
	int st = 0;
	/* a worker that closed its stdout is usually dying on its own: give it a
	 * moment so that the message says how it really ended */
	pid_t r = 0;
	for (int i = 0; i < 20 && (r = waitpid(w->pid, &st, WNOHANG)) == 0; i++) {
		struct pollfd pf = {w->out_fd, POLLIN, 0};
		char c[256];
		if (poll(&pf, 1, 0) <= 0 || read(w->out_fd, c, sizeof c) != 0)
			break; /* not at EOF: it is alive and well, kill it now */
		nap_ms(5);
	}
	if (r == 0) {
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL);
		while ((r = waitpid(w->pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (how)
			snprintf(how, howlen, "killed");
	} else {
		kill(-w->pid, SIGKILL); /* anything it left behind in its group */
		if (r > 0)
			describe(st, how, howlen);
		else if (how)
			snprintf(how, howlen, "ended");
	}
	w->reaped = 1;
}

int proc_stop_all(struct wproc *list, int64_t grace_ms)
{
	int n = 0, left = 0;
	for (struct wproc *w = list; w; w = w->next) {
		close(w->in_fd);
		w->in_fd = -1;
		n++;
		left++;
	}
	int64_t end = mono_ns() + grace_ms * 1000000;
	while (left && mono_ns() < end) {
		left = 0;
		for (struct wproc *w = list; w; w = w->next) {
			if (w->pid > 0 && waitpid(w->pid, NULL, WNOHANG) == w->pid)
				w->pid = -w->pid; /* reaped; keep the id to clean its group */
			else if (w->pid > 0)
				left++;
		}
		if (left)
			nap_ms(2);
	}
	while (list) {
		struct wproc *w = list;
		list = w->next;
		if (w->pid > 0) {
			kill(-w->pid, SIGKILL);
			kill(w->pid, SIGKILL);
			while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
				;
		} else {
			kill(w->pid, SIGKILL); /* -pid: its group, if anything is left */
		}
		proc_free(w);
	}
	return n;
}
