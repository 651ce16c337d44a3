/* exec.c - the exec task kind: one subprocess per attempt.
 *
 * The child is started with posix_spawn (glibc uses CLONE_VM|CLONE_VFORK, so
 * the cost does not grow with the engine's memory), in a process group of its
 * own so that a timeout or a stop reaches everything it started. stdout and
 * stderr go to pipes the worker drains into per-task buffers; a pidfd tells the
 * worker when the child exits, so one poll() covers output, exit, the task
 * timeout and stop requests. Termination is SIGTERM to the group, then SIGKILL
 * after the grace period. When the child exits, its group gets SIGTERM, and
 * SIGKILL once its output is read (at most the grace period), so nothing a
 * task started outlives it unless the task says keep_children.
 */
#include "runner.h"
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *fail_kind_name(int fk)
{
	static const char *const names[] = {"none", "exit", "signal", "timeout",
					    "spawn", "rejected", "error", "oom", "shed", "lost"};
	return fk >= 0 && fk <= FK_LOST ? names[fk] : "error";
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Environment for the child: the inherited one with the task's KEY=VALUE
 * entries replacing or adding. Only built when the task has env. */
static char **merge_env(char **add)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	while (add[k])
		k++;
	char **out = malloc((n + k + 1) * sizeof *out);
	if (!out)
		return NULL;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = 0;
		for (size_t j = 0; j < k && !replaced; j++)
			replaced = strncmp(add[j], environ[i], kl) == 0 && add[j][kl] == '=';
		if (!replaced)
			out[m++] = environ[i];
	}
	for (size_t j = 0; j < k; j++)
		out[m++] = add[j];
	out[m] = NULL;
	return out;
}

/* A copy of argv with SLOT_MARK replaced by the slot number. */
static char **slot_argv(char *const *argv, int slot)
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return NULL;
	char num[16];
	snprintf(num, sizeof num, "%d", slot);
	for (size_t i = 0; i < n; i++) {
		struct buf b = {0};
		const char *p = argv[i], *m;
		while ((m = strstr(p, SLOT_MARK))) {
			buf_add(&b, p, (size_t)(m - p));
			buf_adds(&b, num);
			p = m + strlen(SLOT_MARK);
		}
		buf_adds(&b, p);
		v[i] = b.p;
	}
	return v;
}

static void slot_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void fail_spawn(struct attempt *a, const char *fmt, const char *what, int e)
{
	a->ok = 0;
	a->fkind = FK_SPAWN;
	a->exit_code = -1;
	snprintf(a->msg, sizeof a->msg, fmt, what, strerror(e));
	a->end_ns = now_ns();
}

/* Reads what is there into the spool (memory, then a file: spool.h), or
 * hands it to the sink as it comes. What the spool cannot hold is counted
 * there; the attempt then fails saying so, and the run goes on. */
static void read_into(int *fd, struct spool *b, const struct task_sink *sk,
		      const struct task *t, int which)
{
	char tmp[65536];
	for (;;) {
		ssize_t r = read(*fd, tmp, sizeof tmp);
		if (r > 0) {
			if (sk && sk->chunk)
				sk->chunk(sk->ctx, t, which, tmp, (size_t)r);
			else
				spool_add(b, tmp, (size_t)r);
			if ((size_t)r < sizeof tmp)
				return;
			continue;
		}
		if (r < 0 && (errno == EINTR))
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		close(*fd); /* EOF or error */
		*fd = -1;
		return;
	}
}

void exec_run(const struct task *t, struct runner_ctx *rc, struct attempt *a)
{
	const struct spec *s = t->spec;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1};
	char *shargv[4] = {"/bin/sh", "-c", s->sh, NULL};
	char *const *argv = s->sh ? shargv : s->argv;
	char **envp = environ, **merged = NULL;
	const struct task_sink *sk = rc->sink;
	int64_t timeout_ms = t->timeout_ms;
	if (sk && sk->start) { /* gearbox parallel: its command, after its waits */
		char *const *av = sk->start(sk->ctx, t, t->slot + 1, &timeout_ms);
		if (av)
			argv = av;
	}
	int through = sk && sk->passthrough;
	char **slotted = NULL;
	if (s->slot_rpl && !(sk && sk->start)) /* {%} of the quick form */
		if ((slotted = slot_argv(s->argv, t->slot + 1)))
			argv = slotted;

	a->start_ns = now_ns();
	a->exit_code = -1;

	if (s->cwd && access(s->cwd, X_OK) != 0) {
		fail_spawn(a, "cannot enter cwd %s: %s", s->cwd, errno);
		slot_free(slotted);
		return;
	}
	if (s->env) {
		merged = merge_env(s->env);
		if (!merged) {
			fail_spawn(a, "%s: %s", "environment", ENOMEM);
			slot_free(slotted);
			return;
		}
		envp = merged;
	}
	if ((!through && (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC))) ||
	    (s->stdin_data && pipe2(inp, O_CLOEXEC))) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (outp[i] >= 0) close(outp[i]);
			if (errp[i] >= 0) close(errp[i]);
			if (inp[i] >= 0) close(inp[i]);
		}
		free(merged);
		fail_spawn(a, "%s: %s", "pipe", e);
		slot_free(slotted);
		return;
	}

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (s->stdin_data)
		posix_spawn_file_actions_adddup2(&fa, inp[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!through) { /* else the child writes to our stdout and stderr */
		posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
		posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	}
	if (s->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	int defs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		sigaddset(&def, defs[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);

	pid_t pid = 0;
	int64_t t_spawn = now_ns();
	struct cgtask cgt = {{0}, {0}, 0, -1, 0};
	if (rc->cg && cg_task_begin(rc->cg, &cgt, rc->cg_name, rc->lim_mem_kb, rc->lim_cpu_milli))
		snprintf(a->msg, sizeof a->msg, "not enforced: cannot create its cgroup: %s",
			 strerror(errno));
	/* v2: started inside its cgroup; else (or on a kernel without
	 * CLONE_INTO_CGROUP) spawned as usual */
	int rcode = rc->cg ? cg_spawn(&cgt, &pid, argv, envp, s->stdin_data ? inp[0] : -1,
				      through ? -1 : outp[1], through ? -1 : errp[1], s->cwd)
			   : ENOSYS;
	if (rcode == ENOSYS)
		rcode = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
	if (rc->cg)
		cg_task_spawned(rc->cg, &cgt, rcode ? 0 : pid, rc->lim_mem_kb, rc->lim_cpu_milli,
				t->timeout_ms);
	a->spawn_ns = now_ns() - t_spawn;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(merged);
	if (!through) {
		close(outp[1]);
		close(errp[1]);
	}
	if (inp[0] >= 0)
		close(inp[0]);
	if (rcode != 0) {
		if (!through) {
			close(outp[0]);
			close(errp[0]);
		}
		if (inp[1] >= 0)
			close(inp[1]);
		if (rc->cg) {
			struct cg_usage u;
			cg_task_end(rc->cg, &cgt, &u);
		}
		fail_spawn(a, "cannot run %s: %s", argv[0], rcode);
		slot_free(slotted);
		return;
	}
	slot_free(slotted);

	atomic_store(rc->child, pid);
	int pfd = pidfd_open_(pid);
	if (!through) {
		fcntl(outp[0], F_SETFL, O_NONBLOCK);
		fcntl(errp[0], F_SETFL, O_NONBLOCK);
	}
	int infd = inp[1];
	size_t in_off = 0;
	if (infd >= 0)
		fcntl(infd, F_SETFL, O_NONBLOCK);

	int64_t deadline = timeout_ms > 0 && timeout_ms < INT64_MAX / 2000000
				   ? a->start_ns + timeout_ms * 1000000 : INT64_MAX;
	int64_t kill_at = INT64_MAX, drain_until = INT64_MAX;
	int exited = 0, termed = 0, timed_out = 0, status = 0, reaped_elsewhere = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	int ofd = outp[0], efd = errp[0];

	for (;;) {
		if (exited && ofd < 0 && efd < 0)
			break;
		struct pollfd p[5];
		int np = 0, io = -1, ie = -1, ip = -1, iw, ii = -1;
		if (ofd >= 0) { io = np; p[np++] = (struct pollfd){ofd, POLLIN, 0}; }
		if (efd >= 0) { ie = np; p[np++] = (struct pollfd){efd, POLLIN, 0}; }
		if (!exited && pfd >= 0) { ip = np; p[np++] = (struct pollfd){pfd, POLLIN, 0}; }
		if (infd >= 0) { ii = np; p[np++] = (struct pollfd){infd, POLLOUT, 0}; }
		iw = np;
		p[np++] = (struct pollfd){rc->wake_fd, POLLIN, 0};

		int64_t now = now_ns();
		int64_t until = deadline < kill_at ? deadline : kill_at;
		if (drain_until < until)
			until = drain_until;
		if (!exited && pfd < 0) /* no pidfd (old kernel): look again soon */
			until = until < now + 10000000 ? until : now + 10000000;
		int64_t left = until == INT64_MAX ? -1 : until <= now ? 0 : (until - now + 999999) / 1000000;
		int ms = left > INT_MAX ? INT_MAX : (int)left;
		int n = poll(p, (nfds_t)np, ms);
		if (n < 0 && errno != EINTR)
			break;
		now = now_ns();
		if (io >= 0 && p[io].revents)
			read_into(&ofd, a->out, sk, t, 1);
		if (ie >= 0 && p[ie].revents)
			read_into(&efd, a->err, sk, t, 2);
		if (ii >= 0 && p[ii].revents) {
			ssize_t w = write(infd, s->stdin_data + in_off, s->stdin_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off >= s->stdin_len) {
				close(infd);
				infd = -1;
			}
		}
		if (p[iw].revents) {
			uint64_t v;
			ssize_t r = read(rc->wake_fd, &v, sizeof v);
			(void)r;
		}
		if (!exited && (ip >= 0 ? p[ip].revents != 0 : pfd < 0)) {
			pid_t w = wait4(pid, &status, pfd < 0 ? WNOHANG : 0, &ru);
			if (w < 0 && errno == ECHILD) {
				/* reaped by someone else (SIGCHLD ignored, or an embedder's
				 * waitpid(-1)): the status is lost */
				reaped_elsewhere = 1;
				w = pid;
			}
			if (w == pid) {
				exited = 1;
				/* what the task left running in its group ends with it
				 * (SIGKILL below for what ignores this), unless the task
				 * starts daemons on purpose (keep_children) */
				if (!s->keep_children)
					kill(-pid, SIGTERM);
				drain_until = now + rc->kill_grace_ms * 1000000;
				if (infd >= 0) {
					close(infd);
					infd = -1;
				}
			}
		}
		if (!exited && !termed && (now >= deadline || atomic_load(rc->stop))) {
			timed_out = now >= deadline && !atomic_load(rc->stop);
			kill(-pid, SIGTERM);
			termed = 1;
			kill_at = now + rc->kill_grace_ms * 1000000;
			deadline = INT64_MAX;
		} else if (!exited && termed && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = INT64_MAX;
		}
		if (exited && now >= drain_until)
			break; /* descendants hold the pipes open: stop waiting */
	}
	if (ofd >= 0)
		close(ofd);
	if (efd >= 0)
		close(efd);
	if (infd >= 0)
		close(infd);
	if (pfd >= 0)
		close(pfd);
	if (!exited) { /* poll failed: make sure the child is gone and reaped */
		kill(-pid, SIGKILL);
		wait4(pid, &status, 0, &ru);
	} else if (termed || !s->keep_children) {
		/* a timeout, a stop or the task's end reaches everything the task
		 * started, also what outlived it and ignored SIGTERM */
		kill(-pid, SIGKILL);
	}

	atomic_store(rc->child, 0);
	a->end_ns = now_ns();
	a->user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
	a->sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	a->maxrss_kb = ru.ru_maxrss;
	int oom = 0;
	if (rc->cg) {
		struct cg_usage u;
		cg_task_end(rc->cg, &cgt, &u);
		a->cg_peak_kb = u.peak_kb;
		oom = u.oom;
	}
	if (reaped_elsewhere) {
		a->ok = 0;
		a->fkind = FK_ERROR;
		a->exit_code = -1;
		snprintf(a->msg, sizeof a->msg, "its exit status was lost: the child was reaped "
			 "elsewhere (is SIGCHLD ignored?)");
	} else if (WIFEXITED(status)) {
		a->exit_code = WEXITSTATUS(status);
		a->ok = a->exit_code == 0 && !timed_out;
		a->fkind = a->ok ? FK_NONE : timed_out ? FK_TIMEOUT : FK_EXIT;
	} else if (WIFSIGNALED(status)) {
		a->sig = WTERMSIG(status);
		a->ok = 0;
		a->fkind = timed_out ? FK_TIMEOUT : FK_SIGNAL;
	}
	/* the OOM killer killed something in its cgroup: a SIGKILL, or an exit
	 * of a shell whose child was killed */
	if (oom && !a->ok && !timed_out) {
		a->fkind = FK_OOM;
		snprintf(a->msg, sizeof a->msg, "killed by the OOM killer at its memory limit of %lld MB",
			 (long long)(rc->lim_mem_kb / 1024));
	}
	if (a->fkind == FK_TIMEOUT)
		snprintf(a->msg, sizeof a->msg, "timed out after %lld ms", (long long)timeout_ms);
	if (!sk)
		attempt_check_output(a);
}
