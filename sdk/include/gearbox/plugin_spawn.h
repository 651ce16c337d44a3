/* gearbox/plugin_spawn.h - start a child process with pipes, header only.
 *
 * Part of the SDK's helper layer (see plugin_buf.h). It starts a child the
 * way gearbox starts a task: posix_spawn (vfork-fast), pipes that are
 * close-on-exec on our side from the moment they exist (a task the engine
 * spawns on another thread meanwhile never inherits them, so the child sees
 * EOF when we close its stdin), the signal mask cleared and the usual
 * signals back to their defaults in the child, optionally in a process group
 * of its own (so one kill() reaches everything it started).
 *
 * Needs _GNU_SOURCE (pipe2, posix_spawn_file_actions_addchdir_np): define it
 * before the first #include, or build with -D_GNU_SOURCE. Thread-safe: every
 * call works on the caller's struct gbx_child only.
 */
#ifndef GEARBOX_PLUGIN_SPAWN_H
#define GEARBOX_PLUGIN_SPAWN_H

#ifndef _GNU_SOURCE
#error "gearbox/plugin_spawn.h needs _GNU_SOURCE: define it before the first #include, or build with -D_GNU_SOURCE"
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which of the child's standard streams get a pipe to us (the others are
 * inherited from gearbox, except stdin, which is /dev/null unless piped). */
enum {
	GBX_SPAWN_STDIN = 1,     /* c->in_fd: we write, the child reads its stdin */
	GBX_SPAWN_STDOUT = 2,    /* c->out_fd: the child's stdout, we read */
	GBX_SPAWN_STDERR = 4,    /* c->err_fd: the child's stderr, we read */
	GBX_SPAWN_PGROUP = 8,    /* the child leads a new process group (pgid = pid) */
	GBX_SPAWN_NONBLOCK = 16, /* our ends of the pipes are O_NONBLOCK (for poll loops) */
};

struct gbx_child {
	pid_t pid;               /* > 0 while started and not yet waited for */
	int in_fd, out_fd, err_fd; /* our ends, -1 when not piped; close-on-exec */
};

/* Closes our pipe ends that are still open (sets them to -1). */
static inline void gbx_child_close(struct gbx_child *c)
{
	int *fds[3] = {&c->in_fd, &c->out_fd, &c->err_fd};
	for (int i = 0; i < 3; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

/* Starts argv[0] (searched in PATH when it has no '/') with argv, the
 * environment envp ("K=V", NULL-terminated; NULL: gearbox's own), in cwd
 * (NULL: gearbox's), with the pipes that `flags` ask for. Returns 0 with *c
 * filled, or -1 with a message in err ("cannot start NAME: REASON") and
 * nothing left open. The caller must reap the child: gbx_child_wait. */
static inline int gbx_spawn(struct gbx_child *c, const char *const *argv, const char *const *envp,
			    const char *cwd, int flags, char *err, size_t errlen)
{
	extern char **environ;
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	static const int want[3] = {GBX_SPAWN_STDIN, GBX_SPAWN_STDOUT, GBX_SPAWN_STDERR};
	c->pid = -1;
	c->in_fd = c->out_fd = c->err_fd = -1;
	if (!argv || !argv[0]) {
		snprintf(err, errlen, "cannot start a child: no command");
		return -1;
	}
	for (int i = 0; i < 3; i++)
		if ((flags & want[i]) && pipe2(p[i], O_CLOEXEC)) {
			snprintf(err, errlen, "cannot start %s: pipe: %s", argv[0], strerror(errno));
			goto fail;
		}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (flags & GBX_SPAWN_STDIN)
		posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (flags & GBX_SPAWN_STDOUT)
		posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	if (flags & GBX_SPAWN_STDERR)
		posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	static const int defs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		sigaddset(&def, defs[i]);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	short sf = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (flags & GBX_SPAWN_PGROUP) {
		posix_spawnattr_setpgroup(&at, 0);
		sf |= POSIX_SPAWN_SETPGROUP;
	}
	posix_spawnattr_setflags(&at, sf);
	int rc = posix_spawnp(&c->pid, argv[0], &fa, &at, (char *const *)argv,
			      envp ? (char *const *)envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc) {
		c->pid = -1;
		snprintf(err, errlen, "cannot start %s: %s", argv[0], strerror(rc));
		goto fail;
	}
	/* the child's ends are its own now */
	for (int i = 0; i < 3; i++)
		if (p[i][0] >= 0) {
			close(p[i][i == 0 ? 0 : 1]);
			p[i][i == 0 ? 0 : 1] = -1;
		}
	c->in_fd = p[0][1];
	c->out_fd = p[1][0];
	c->err_fd = p[2][0];
	if (flags & GBX_SPAWN_NONBLOCK) {
		int fds[3] = {c->in_fd, c->out_fd, c->err_fd};
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	}
	return 0;
fail:
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0)
				close(p[i][j]);
	return -1;
}

/* Sends sig to the child, or to its whole group when it was started with
 * GBX_SPAWN_PGROUP and group is 1. Never signals a child already waited for.
 * Returns 0 or -1 (errno set). */
static inline int gbx_child_kill(const struct gbx_child *c, int sig, int group)
{
	if (c->pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	return kill(group ? -c->pid : c->pid, sig);
}

/* Reaps the child: blocks until it exits (nohang 0), or returns at once
 * (nohang 1). Returns 1 with its wait status in *status once it has exited
 * (then c->pid is -1), 0 when nohang and it still runs, -1 on error. Our
 * pipe ends stay open: close them with gbx_child_close. */
static inline int gbx_child_wait(struct gbx_child *c, int *status, int nohang)
{
	if (c->pid <= 0) {
		errno = ECHILD;
		return -1;
	}
	int st = 0;
	pid_t r;
	do
		r = waitpid(c->pid, &st, nohang ? WNOHANG : 0);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (r < 0)
		return -1;
	c->pid = -1;
	if (status)
		*status = st;
	return 1;
}

/* How a wait status reads in a message: "exit 3", "signal 9 (Killed)". */
static inline void gbx_child_describe(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(out, n, "status %d", status);
}

#ifdef __cplusplus
}
#endif
#endif
