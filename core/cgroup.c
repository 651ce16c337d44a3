/* cgroup.c - enforcing and measuring a task's memory and CPU. See cgroup.h.
 *
 * v1 places the child by moving the spawning thread: a v1 hierarchy takes a
 * thread id in `tasks`, and a child starts in its parent thread's cgroup,
 * so the child is limited from its first instruction. v2 takes whole
 * processes only: the child is started inside its cgroup (cg_spawn, clone3
 * with CLONE_INTO_CGROUP), or on a kernel before 5.7 moved in right after
 * posix_spawn returns (what it did or forked before stays outside).
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CPU_PERIOD_US 100000

/* paths are cut at the buffers' size: a cut path fails to open, which is
 * reported as the mechanism not being available */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static int write_str(const char *dir, const char *file, const char *val)
{
	char p[700];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = strlen(val);
	ssize_t w = write(fd, val, n);
	int e = errno;
	close(fd);
	errno = e;
	return w == (ssize_t)n ? 0 : -1;
}

static int write_num(const char *dir, const char *file, long long v)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", v);
	return write_str(dir, file, b);
}

static int read_file(const char *dir, const char *file, char *out, size_t n)
{
	char p[700];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, out, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	out[r] = 0;
	return 0;
}

/* The value after `key ` in a "key value" file, or -1. */
static long long read_key(const char *dir, const char *file, const char *key)
{
	char b[4096];
	if (read_file(dir, file, b, sizeof b))
		return -1;
	size_t kl = strlen(key);
	for (char *l = b; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, kl) && l[kl] == ' ')
			return atoll(l + kl + 1);
	return -1;
}

/* Where the hierarchy with `opt` among its super options is mounted (v1), or
 * the cgroup2 mount when opt is NULL. */
static int find_mount(const char *opt, char *out, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -1;
	char line[1024];
	int found = -1;
	while (found && fgets(line, sizeof line, f)) {
		/* ... mountpoint ... - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		char mnt[512], fs[64], src[256], sopt[512] = "";
		if (sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s %255s %511s", fs, src, sopt) < 2)
			continue;
		if (!opt ? !strcmp(fs, "cgroup2") : !strcmp(fs, "cgroup")) {
			int ok = !opt;
			for (char *s = strtok(sopt, ","); s && !ok; s = strtok(NULL, ","))
				ok = !strcmp(s, opt);
			if (ok) {
				snprintf(out, n, "%s", mnt);
				found = 0;
			}
		}
	}
	fclose(f);
	return found;
}

/* This process's cgroup path in the hierarchy listing `ctl` (v1), or in the
 * unified one ("0::") when ctl is NULL. */
static int own_path(const char *ctl, char *out, size_t n)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -1;
	char line[1024];
	int found = -1;
	while (found && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = 0; /* line: the hierarchy id; c1 + 1: its controllers */
		int ok = 0;
		if (!ctl) {
			ok = !strcmp(line, "0") && c1 + 1 == c2;
		} else {
			for (char *s = strtok(c1 + 1, ","); s && !ok; s = strtok(NULL, ","))
				ok = !strcmp(s, ctl);
		}
		if (ok) {
			snprintf(out, n, "%s", !strcmp(c2 + 1, "/") ? "" : c2 + 1);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/* Whether the space-separated list has the word w. */
static int has_word(const char *list, const char *w)
{
	size_t n = strlen(w);
	for (const char *p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ' ') && (!p[n] || p[n] == ' ' || p[n] == '\n'))
			return 1;
	return 0;
}

/* The v2 controller the enforcement needs: memory. Tests only may name
 * another domain controller (tests/integration/t_resources_v2.sh uses
 * hugetlb where memory is bound to a v1 hierarchy): then the placement,
 * the moves and the removal run for real, and memory limits do not apply. */
static const char *v2_mem_ctl(void)
{
	const char *c = getenv("GEARBOX_TEST_CGROUP2_CONTROLLER");
	return c && *c ? c : "memory";
}

/* "+memory +cpu" / "-memory -cpu" for the controllers in mask. */
static void ctl_list(char *out, size_t n, char sign, int mask)
{
	snprintf(out, n, "%s%s%s%s%s", mask & CG2_MEM ? (sign == '+' ? "+" : "-") : "",
		 mask & CG2_MEM ? v2_mem_ctl() : "", mask == (CG2_MEM | CG2_CPU) ? " " : "",
		 mask & CG2_CPU ? (sign == '+' ? "+" : "-") : "", mask & CG2_CPU ? "cpu" : "");
}

/* Enables the controllers in `want` in dir's cgroup.subtree_control, one
 * by one (cpu may be refused where memory is not); *added gets those this
 * call turned on. Returns the mask enabled afterwards. */
static int enable_ctl(const char *dir, int want, int *added)
{
	char cur[256] = "", w[64];
	int have = 0;
	*added = 0;
	if (read_file(dir, "cgroup.subtree_control", cur, sizeof cur) == 0) {
		if (has_word(cur, v2_mem_ctl()))
			have |= CG2_MEM;
		if (has_word(cur, "cpu"))
			have |= CG2_CPU;
	}
	for (int b = CG2_MEM; b <= CG2_CPU; b <<= 1) {
		if (!(want & b) || (have & b))
			continue;
		ctl_list(w, sizeof w, '+', b);
		if (write_str(dir, "cgroup.subtree_control", w) == 0) {
			have |= b;
			*added |= b;
		} else if (b == CG2_MEM) {
			return have; /* errno from the write */
		}
	}
	return have;
}

/* The first process in dir's cgroup.procs other than this one: 0 if none,
 * -1 if the file cannot be read. */
static long other_proc(const char *dir)
{
	char b[4096];
	if (read_file(dir, "cgroup.procs", b, sizeof b))
		return -1;
	for (char *l = b; *l;) {
		long p = atol(l);
		if (p > 0 && p != (long)getpid())
			return p;
		char *nl = strchr(l, '\n');
		if (!nl)
			break;
		l = nl + 1;
	}
	return 0;
}

/* Moves every process listed in from's cgroup.procs to to (what this run
 * started into its own cgroup and left running). */
static void move_all(const char *from, const char *to)
{
	char b[4096];
	for (int round = 0; round < 8; round++) {
		if (read_file(from, "cgroup.procs", b, sizeof b) || !b[0])
			return;
		for (char *l = b; *l;) {
			long p = atol(l);
			if (p > 0)
				write_num(to, "cgroup.procs", p);
			char *nl = strchr(l, '\n');
			if (!nl)
				break;
			l = nl + 1;
		}
	}
}

/* Where the run's cgroups go in v2, under the rules of cgroup-v2.rst:
 * - top-down: a child gets a controller only if its parent's
 *   cgroup.subtree_control hands it on, so gearbox's own cgroup (home) must
 *   enable memory (and cpu) for gearbox-PID, and gearbox-PID for the tasks;
 * - no internal processes: a non-root cgroup may enable a domain controller
 *   for its children only while no process is in it. Gearbox is in home, so
 *   unless home is the root (exempt), gearbox first moves itself into
 *   gearbox-PID/gearbox, and only if no other process is in home (a shell
 *   or a supervisor there cannot be moved by us: that is the caller's
 *   cgroup, not ours). At the end it moves back and turns off what it
 *   turned on in home (cg_close).
 * The layout: home/gearbox-PID/{gearbox (when moved), tN-A ...}. */
static int try_v2(struct cgsys *s)
{
	char mnt[512], own[512], ctl[256], p[700];
	const char *mc = v2_mem_ctl();
	if (find_mount(NULL, mnt, sizeof mnt) || own_path(NULL, own, sizeof own))
		return -1;
	snprintf(s->home, sizeof s->home, "%s%s", mnt, own);
	if (read_file(s->home, "cgroup.controllers", ctl, sizeof ctl) || !has_word(ctl, mc)) {
		snprintf(s->why, sizeof s->why, "cgroup v2 at %s has no %s controller", mnt, mc);
		return -1;
	}
	int want = CG2_MEM | (has_word(ctl, "cpu") ? CG2_CPU : 0);
	/* only the root cgroup has no cgroup.type */
	snprintf(p, sizeof p, "%s/cgroup.type", s->home);
	int root = access(p, F_OK) != 0;
	snprintf(s->mem, sizeof s->mem, "%s/gearbox-%d", s->home, (int)getpid());
	if (!root) {
		long other = other_proc(s->home);
		if (other) {
			snprintf(s->why, sizeof s->why, other < 0 ? "cgroup v2: cannot read %s/cgroup.procs"
				 : "cgroup v2: %s also holds pid %ld, so it cannot hand controllers on to "
				   "gearbox's cgroups (no internal processes); start gearbox in a cgroup of "
				   "its own, e.g. systemd-run --scope -p Delegate=yes", s->home, other);
			return -1;
		}
	}
	if (mkdir(s->mem, 0755) && errno != EEXIST) {
		snprintf(s->why, sizeof s->why, "cgroup v2: cannot create %s: %s", s->mem, strerror(errno));
		return -1;
	}
	if (!root) {
		snprintf(s->self, sizeof s->self, "%s/gearbox", s->mem);
		if ((mkdir(s->self, 0755) && errno != EEXIST) ||
		    write_num(s->self, "cgroup.procs", (long long)getpid())) {
			snprintf(s->why, sizeof s->why, "cgroup v2: cannot move gearbox into %s: %s",
				 s->self, strerror(errno));
			rmdir(s->self);
			rmdir(s->mem);
			s->self[0] = 0;
			return -1;
		}
	}
	int have = enable_ctl(s->home, want, &s->home_added);
	int e = errno;
	if (have & CG2_MEM) {
		int run_added;
		s->v2 = enable_ctl(s->mem, have, &run_added);
		e = errno;
	}
	if (!(s->v2 & CG2_MEM)) {
		snprintf(s->why, sizeof s->why, "cgroup v2: cannot enable %s below %s: %s", mc,
			 have & CG2_MEM ? s->mem : s->home, strerror(e));
		s->mode = CG_V2; /* so that cg_close undoes the above */
		cg_close(s);
		s->mode = CG_NONE;
		s->v2 = s->home_added = 0;
		s->self[0] = s->mem[0] = 0;
		return -1;
	}
	snprintf(p, sizeof p, "%s/memory.swap.max", s->mem);
	s->swapmax = access(p, F_OK) == 0;
	snprintf(p, sizeof p, "%s/memory.peak", s->mem);
	s->peak = access(p, F_OK) == 0;
	snprintf(p, sizeof p, "%s/cgroup.kill", s->mem);
	s->kill = access(p, F_OK) == 0;
	s->mode = CG_V2;
	return 0;
}

static int try_v1(struct cgsys *s)
{
	char mnt[512], own[512];
	if (find_mount("memory", mnt, sizeof mnt) || own_path("memory", own, sizeof own)) {
		size_t l = strlen(s->why);
		snprintf(s->why + l, sizeof s->why - l, "%sno cgroup v1 memory hierarchy",
			 l ? "; " : "");
		return -1;
	}
	snprintf(s->mem_home, sizeof s->mem_home, "%s%s", mnt, own);
	snprintf(s->mem, sizeof s->mem, "%s/gearbox-%d", s->mem_home, (int)getpid());
	if (mkdir(s->mem, 0755) && errno != EEXIST) {
		size_t l = strlen(s->why);
		snprintf(s->why + l, sizeof s->why - l, "%scannot create %s: %s", l ? "; " : "",
			 s->mem, strerror(errno));
		return -1;
	}
	char b[64];
	s->memsw = read_file(s->mem, "memory.memsw.limit_in_bytes", b, sizeof b) == 0;
	if (!find_mount("cpu", mnt, sizeof mnt) && !own_path("cpu", own, sizeof own)) {
		snprintf(s->cpu_home, sizeof s->cpu_home, "%s%s", mnt, own);
		snprintf(s->cpu, sizeof s->cpu, "%s/gearbox-%d", s->cpu_home, (int)getpid());
		if (mkdir(s->cpu, 0755) && errno != EEXIST)
			s->cpu[0] = 0;
	}
	s->mode = CG_V1;
	return 0;
}

void cg_open(struct cgsys *s, int probe_only)
{
	memset(s, 0, sizeof *s);
	if (try_v2(s) && try_v1(s))
		s->mode = CG_RLIMIT;
	if (probe_only)
		cg_close(s);
}

/* Removes the cgroup dir, which the kernel refuses (EBUSY) while a
 * process is in it, and also for a moment after the last one was reaped
 * (it leaves its cgroup when it is dead, not when wait4 returns): kills
 * what is left (cgroup.kill where there is one, else each listed pid) and
 * waits for cgroup.events to say "populated 0" (v2; poll wakes on its
 * change), or for the pids to go (v1), for at most 2 s. */
static void kill_rmdir(const char *dir, int v2kill)
{
	char b[4096], p[700];
	snprintf(p, sizeof p, "%s/cgroup.events", dir);
	int ev = open(p, O_RDONLY | O_CLOEXEC);
	for (int round = 0; round < 2000; round++) {
		if (rmdir(dir) == 0 || errno != EBUSY)
			break;
		if (!v2kill || write_str(dir, "cgroup.kill", "1")) {
			if (read_file(dir, "cgroup.procs", b, sizeof b) == 0) {
				for (char *l = b; *l;) {
					pid_t q = (pid_t)atol(l);
					if (q > 0 && q != getpid())
						kill(q, SIGKILL);
					char *nl = strchr(l, '\n');
					if (!nl)
						break;
					l = nl + 1;
				}
			}
		}
		if (ev >= 0) {
			ssize_t r = pread(ev, b, sizeof b - 1, 0);
			b[r > 0 ? r : 0] = 0;
			if (!strstr(b, "populated 0")) {
				struct pollfd pf = {ev, POLLPRI, 0};
				poll(&pf, 1, 1); /* woken by the change, 1 ms at most */
			}
		} else {
			usleep(1000);
		}
	}
	if (ev >= 0)
		close(ev);
}

void cg_close(struct cgsys *s)
{
	char w[64];
	int stuck = 0;
	if (s->mode == CG_V2 && s->self[0]) {
		/* back where gearbox was, with what it turned on in home turned
		 * off again (home may not have processes while it hands a domain
		 * controller on); first the run's own, which home's depend on */
		ctl_list(w, sizeof w, '-', s->v2);
		if (s->v2)
			write_str(s->mem, "cgroup.subtree_control", w);
		ctl_list(w, sizeof w, '-', s->home_added);
		if (s->home_added && write_str(s->home, "cgroup.subtree_control", w))
			fprintf(stderr, "gearbox: cgroup v2: cannot turn %s off again in %s: %s\n", w,
				s->home, strerror(errno));
		move_all(s->self, s->home);
		if (write_num(s->home, "cgroup.procs", (long long)getpid())) {
			/* still inside: nothing there may be killed, gearbox is */
			fprintf(stderr, "gearbox: cgroup v2: cannot move back into %s: %s (%s is left)\n",
				s->home, strerror(errno), s->self);
			stuck = 1;
		} else {
			kill_rmdir(s->self, 0);
		}
	}
	/* in the root cgroup what gearbox turned on stays on: another run
	 * may be about to use it, and the root may hand controllers on */
	if (stuck)
		rmdir(s->mem);
	else if (s->mode == CG_V1 || s->mode == CG_V2)
		kill_rmdir(s->mem, s->mode == CG_V2 && s->kill);
	if (s->cpu[0])
		kill_rmdir(s->cpu, 0);
}

const char *cg_describe(const struct cgsys *s, char *out, size_t n)
{
	switch (s->mode) {
	case CG_V2:
		snprintf(out, n, "cgroup v2: %s.max%s%s per task in %s/gearbox-PID%s; %s, cpu.stat and "
			 "OOM kills (memory.events oom_kill) measured",
			 v2_mem_ctl(), s->swapmax ? " (memory.swap.max 0)" : " (swap not limited: no memory.swap.max)",
			 s->v2 & CG2_CPU ? " and cpu.max" : " (no cpu controller: cpu not limited)",
			 s->home, s->self[0] ? ", gearbox moved into gearbox-PID/gearbox" : "",
			 s->peak ? "memory.peak" : "peak memory from wait4 only (no memory.peak before Linux 5.19)");
		break;
	case CG_V1:
		snprintf(out, n, "cgroup v1: memory.limit_in_bytes%s%s per task; "
			 "max_usage_in_bytes and OOM kills measured%s%s%s",
			 s->memsw ? " and memsw (swap off)" : "",
			 s->cpu[0] ? " and cpu.cfs_quota_us" : "", s->why[0] ? " (" : "", s->why,
			 s->why[0] ? ")" : "");
		break;
	default:
		snprintf(out, n, "RLIMIT_AS and RLIMIT_CPU only, no OOM detection (%s)", s->why);
	}
	return out;
}

int cg_task_begin(struct cgsys *s, struct cgtask *t, const char *name, int64_t mem_kb,
		  int64_t cpu_milli)
{
	t->have_cpu = t->placed = 0;
	t->fd = -1;
	t->mem[0] = t->cpu[0] = 0;
	if (s->mode != CG_V1 && s->mode != CG_V2)
		return 0;
	snprintf(t->mem, sizeof t->mem, "%s/%s", s->mem, name);
	if (mkdir(t->mem, 0755) && errno != EEXIST)
		goto fail;
	if (s->mode == CG_V2) {
		if (mem_kb) {
			if (write_num(t->mem, "memory.max", mem_kb * 1024))
				goto fail_rm;
			if (s->swapmax)
				write_str(t->mem, "memory.swap.max", "0");
		}
		if (cpu_milli && (s->v2 & CG2_CPU)) {
			/* "$MAX $PERIOD" in us; the kernel's least quota is 1 ms */
			long long q = (long long)(cpu_milli * CPU_PERIOD_US / 1000);
			char b[64];
			snprintf(b, sizeof b, "%lld %d", q < 1000 ? 1000 : q, CPU_PERIOD_US);
			write_str(t->mem, "cpu.max", b);
		}
		t->fd = open(t->mem, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return 0;
	}
	if (mem_kb) {
		if (write_num(t->mem, "memory.limit_in_bytes", mem_kb * 1024))
			goto fail_rm;
		if (s->memsw)
			write_num(t->mem, "memory.memsw.limit_in_bytes", mem_kb * 1024);
	}
	if (cpu_milli && s->cpu[0]) {
		snprintf(t->cpu, sizeof t->cpu, "%s/%s", s->cpu, name);
		if (mkdir(t->cpu, 0755) == 0 || errno == EEXIST) {
			write_num(t->cpu, "cpu.cfs_period_us", CPU_PERIOD_US);
			write_num(t->cpu, "cpu.cfs_quota_us", cpu_milli * CPU_PERIOD_US / 1000);
			t->have_cpu = write_num(t->cpu, "tasks", (long long)gettid()) == 0;
		}
		if (!t->have_cpu) {
			rmdir(t->cpu);
			t->cpu[0] = 0;
		}
	}
	if (write_num(t->mem, "tasks", (long long)gettid()))
		goto fail_rm;
	return 0;
fail_rm: {
	int e = errno;
	if (t->have_cpu)
		write_num(s->cpu_home, "tasks", (long long)gettid());
	if (t->cpu[0])
		rmdir(t->cpu);
	rmdir(t->mem);
	errno = e;
}
fail:
	t->mem[0] = t->cpu[0] = 0;
	t->have_cpu = 0;
	return -1;
}

void cg_task_spawned(struct cgsys *s, struct cgtask *t, pid_t pid, int64_t mem_kb,
		     int64_t cpu_milli, int64_t timeout_ms)
{
	if (s->mode == CG_V1 && t->mem[0]) {
		write_num(s->mem_home, "tasks", (long long)gettid());
		if (t->have_cpu)
			write_num(s->cpu_home, "tasks", (long long)gettid());
	} else if (s->mode == CG_V2 && t->mem[0] && pid > 0 && !t->placed) {
		write_num(t->mem, "cgroup.procs", (long long)pid);
	} else if (s->mode == CG_RLIMIT && pid > 0) {
		if (mem_kb) {
			struct rlimit r = {(rlim_t)mem_kb * 1024, (rlim_t)mem_kb * 1024};
			prlimit(pid, RLIMIT_AS, &r, NULL);
		}
		if (cpu_milli && timeout_ms > 0) {
			/* CPU time, not a rate: what the cpu share allows over the timeout */
			rlim_t sec = (rlim_t)((timeout_ms * cpu_milli / 1000 + 999999) / 1000000);
			struct rlimit r = {sec ? sec : 1, sec ? sec : 1};
			prlimit(pid, RLIMIT_CPU, &r, NULL);
		}
	}
}

void cg_task_end(struct cgsys *s, struct cgtask *t, struct cg_usage *u)
{
	u->peak_kb = u->cpu_us = -1;
	u->oom = 0;
	if (!t->mem[0])
		return;
	char b[64];
	if (s->mode == CG_V2) {
		if (read_file(t->mem, "memory.peak", b, sizeof b) == 0)
			u->peak_kb = atoll(b) / 1024;
		long long c = read_key(t->mem, "cpu.stat", "usage_usec");
		u->cpu_us = c;
		u->oom = read_key(t->mem, "memory.events", "oom_kill") > 0;
	} else {
		if (read_file(t->mem, "memory.max_usage_in_bytes", b, sizeof b) == 0)
			u->peak_kb = atoll(b) / 1024;
		u->oom = read_key(t->mem, "memory.oom_control", "oom_kill") > 0;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	kill_rmdir(t->mem, s->mode == CG_V2 && s->kill);
	if (t->cpu[0])
		kill_rmdir(t->cpu, 0);
}

