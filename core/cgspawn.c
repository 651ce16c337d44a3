/* cgspawn.c - starting a child inside its v2 cgroup (cg_spawn, cgroup.h).
 *
 * posix_spawn cannot name a cgroup, and moving the child in afterwards
 * (cgroup.procs) misses what it did before the move: a shell forks its
 * pipeline at once, and those children stay outside, unlimited. clone3 with
 * CLONE_INTO_CGROUP (Linux 5.7) starts it there. A fork-like clone copies
 * gearbox's page tables (35 ms per spawn at 200 MB here), so this is a
 * vfork: CLONE_VM | CLONE_VFORK with no stack of its own, the child running
 * on the stack below the suspended parent's until it execs. The system
 * call is made inline (a wrapper's return would pop a frame the parent
 * still needs), and the child goes straight into child_run, which never
 * returns. Only x86-64 and aarch64 have the inline call; elsewhere cg_spawn
 * says ENOSYS and the caller spawns and moves.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

struct clone_args_ { /* linux/sched.h's struct clone_args, version 2 */
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		set_tid, set_tid_size, cgroup;
};

struct child_args {
	char *const *argv, *const *envp;
	const char *path, *cwd;
	int in_fd, out_fd, err_fd;
	volatile int err; /* set by the child when it cannot exec */
};

/* The child shares this process's memory (and ASan's shadow of it) while
 * the parent's other threads run: only system calls and libc functions
 * that take no lock, nothing instrumented. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif

/* posix_spawnp's lookup: a name with a slash is run as it is, else each
 * directory of PATH is tried; EACCES is kept if no directory has it. */
NO_ASAN static int child_exec(char *const argv[], char *const envp[], const char *path)
{
	const char *f = argv[0];
	if (strchr(f, '/')) {
		execve(f, argv, envp);
		return errno;
	}
	size_t fl = strlen(f);
	int seen_eacces = 0;
	char buf[4096];
	for (const char *p = path;; p++) {
		const char *q = strchr(p, ':');
		size_t dl = q ? (size_t)(q - p) : strlen(p);
		if (dl + fl + 3 <= sizeof buf) {
			size_t o = 0;
			for (; o < dl; o++)
				buf[o] = p[o];
			if (!dl)
				buf[o++] = '.';
			buf[o++] = '/';
			for (size_t k = 0; k <= fl; k++)
				buf[o + k] = f[k];
			execve(buf, argv, envp);
			if (errno == EACCES)
				seen_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV &&
				 errno != ETIMEDOUT)
				return errno;
		}
		if (!q)
			break;
		p = q;
	}
	return seen_eacces ? EACCES : ENOENT;
}

NO_ASAN __attribute__((noinline, noreturn)) static void child_run(struct child_args *c)
{
	int e = 0;
	/* handlers are reset by CLONE_CLEAR_SIGHAND; what gearbox ignores
	 * goes back to the default, as exec.c's posix_spawnattr_setsigdefault */
	int defs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		sigaction(defs[i], &sa, NULL);
	if (setpgid(0, 0))
		e = errno;
	if (!e && c->in_fd < 0) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			e = errno;
		else if (fd != 0) {
			if (dup2(fd, 0) < 0)
				e = errno;
			close(fd);
		}
	}
	int from[3] = {c->in_fd, c->out_fd, c->err_fd};
	for (int i = 0; i < 3 && !e; i++) {
		if (from[i] < 0)
			continue;
		if (from[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(from[i], i) < 0)
			e = errno;
	}
	if (!e && c->cwd && chdir(c->cwd))
		e = errno;
	if (!e) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		e = child_exec(c->argv, c->envp, c->path);
	}
	c->err = e ? e : ECHILD;
	_exit(127);
}

/* clone3, inline: -errno on failure. */
static inline __attribute__((always_inline)) long clone3_inline(struct clone_args_ *ca)
{
#if defined(__x86_64__)
	register long rax __asm__("rax") = SYS_clone3;
	register long rdi __asm__("rdi") = (long)ca;
	register long rsi __asm__("rsi") = (long)sizeof *ca;
	__asm__ volatile("syscall" : "+r"(rax) : "r"(rdi), "r"(rsi) : "rcx", "r11", "memory");
	return rax;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)ca;
	register long x1 __asm__("x1") = (long)sizeof *ca;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	return x0;
#else
	(void)ca;
	return -ENOSYS;
#endif
}

int cg_spawn(struct cgtask *t, pid_t *pid, char *const argv[], char *const envp[],
	     int in_fd, int out_fd, int err_fd, const char *cwd)
{
	if (t->fd < 0)
		return ENOSYS;
	struct child_args c = {argv, envp, getenv("PATH"), cwd, in_fd, out_fd, err_fd, 0};
	if (!c.path)
		c.path = "/bin:/usr/bin";
	struct clone_args_ ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP | CLONE_CLEAR_SIGHAND;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = (uint64_t)t->fd;
	/* no handler of this process may run in the child */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	long r = clone3_inline(&ca);
	if (r == 0)
		child_run(&c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		/* ENOSYS (a seccomp filter, or no clone3), EINVAL and E2BIG (a
		 * kernel before 5.7): spawn and move instead */
		int e = (int)-r;
		return e == ENOSYS || e == EINVAL || e == E2BIG || e == EPERM ? ENOSYS : e;
	}
	if (c.err) { /* it did not exec: it has exited */
		waitpid((pid_t)r, NULL, 0);
		return c.err;
	}
	*pid = (pid_t)r;
	t->placed = 1;
	return 0;
}
