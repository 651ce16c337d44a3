/* cgroup.c - enforcing and measuring a task's memory and CPU. See cgroup.h.
 *
 * v1 places the child by moving the spawning thread: a v1 hierarchy takes a
 * thread id in `tasks`, and a child starts in its parent thread's cgroup,
 * so the child is limited from its first instruction. v2 takes whole
 * processes only, so the child is moved in right after posix_spawn returns;
 * what it allocated before (during exec) stays charged to gearbox's cgroup.
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

static int try_v2(struct cgsys *s)
{
	char mnt[512], own[512], ctl[256], home[1100];
	if (find_mount(NULL, mnt, sizeof mnt) || own_path(NULL, own, sizeof own))
		return -1;
	snprintf(home, sizeof home, "%s%s", mnt, own);
	if (read_file(home, "cgroup.controllers", ctl, sizeof ctl) || !strstr(ctl, "memory")) {
		snprintf(s->why, sizeof s->why, "cgroup v2 at %s has no memory controller", mnt);
		return -1;
	}
	/* a child cgroup gets the memory controller only if this one hands it on */
	if (write_str(home, "cgroup.subtree_control", "+memory") && !strstr(ctl, "memory")) {
		snprintf(s->why, sizeof s->why, "cgroup v2: cannot enable memory below %s", home);
		return -1;
	}
	write_str(home, "cgroup.subtree_control", "+cpu");
	snprintf(s->mem, sizeof s->mem, "%s/gearbox-%d", home, (int)getpid());
	if (mkdir(s->mem, 0755) && errno != EEXIST) {
		snprintf(s->why, sizeof s->why, "cgroup v2: cannot create %s: %s", s->mem, strerror(errno));
		return -1;
	}
	if (write_str(s->mem, "cgroup.subtree_control", "+memory")) {
		snprintf(s->why, sizeof s->why, "cgroup v2: cannot enable memory in %s: %s", s->mem,
			 strerror(errno));
		rmdir(s->mem);
		return -1;
	}
	write_str(s->mem, "cgroup.subtree_control", "+cpu");
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

void cg_close(struct cgsys *s)
{
	if (s->mode == CG_V1 || s->mode == CG_V2)
		rmdir(s->mem);
	if (s->cpu[0])
		rmdir(s->cpu);
}

const char *cg_describe(const struct cgsys *s, char *out, size_t n)
{
	switch (s->mode) {
	case CG_V2:
		snprintf(out, n, "cgroup v2: memory.max (swap off) and cpu.max per task; "
			 "memory.peak, cpu.stat and OOM kills measured");
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
	t->have_cpu = 0;
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
			write_str(t->mem, "memory.swap.max", "0"); /* absent without swap */
		}
		if (cpu_milli) {
			char b[64];
			snprintf(b, sizeof b, "%lld %d", (long long)(cpu_milli * CPU_PERIOD_US / 1000),
				 CPU_PERIOD_US);
			write_str(t->mem, "cpu.max", b);
		}
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
	} else if (s->mode == CG_V2 && t->mem[0] && pid > 0) {
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

static void kill_rest(const char *dir)
{
	char b[4096];
	for (int round = 0; round < 50; round++) {
		if (read_file(dir, "cgroup.procs", b, sizeof b) || !b[0])
			return;
		for (char *l = b; *l;) {
			pid_t p = (pid_t)atol(l);
			if (p > 0)
				kill(p, SIGKILL);
			char *nl = strchr(l, '\n');
			if (!nl)
				break;
			l = nl + 1;
		}
		usleep(1000); /* the killed need a moment to leave before rmdir */
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
	kill_rest(t->mem);
	rmdir(t->mem);
	if (t->cpu[0]) {
		kill_rest(t->cpu);
		rmdir(t->cpu);
	}
}
