/* cgroup.h - enforcing and measuring a task's memory and CPU.
 *
 * Three mechanisms, the first that works on this machine:
 *  - cgroup v2 with the memory controller (memory.max, memory.swap.max = 0,
 *    cpu.max; memory.peak, cpu.stat, memory.events oom_kill);
 *  - the cgroup v1 memory controller (memory.limit_in_bytes, memory.memsw
 *    when present so swap cannot stretch it, memory.max_usage_in_bytes,
 *    memory.oom_control oom_kill) with the v1 cpu controller for
 *    cpu.cfs_quota_us;
 *  - RLIMIT_AS and RLIMIT_CPU on the child (a one-line notice says so).
 * Task cgroups live in gearbox-PID under the cgroup gearbox runs in, so the
 * limits of whoever started gearbox still hold over them; that directory is
 * removed at the end. One struct cgsys per run; cg_task_* are called by the
 * worker that runs the task, outside the engine lock.
 */
#ifndef GBX_CGROUP_H
#define GBX_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

enum cg_mode { CG_NONE = 0, CG_RLIMIT, CG_V1, CG_V2 };
enum { CG2_MEM = 1, CG2_CPU = 2 }; /* v2 controllers */

struct cgsys {
	int mode;              /* enum cg_mode */
	char mem[512];         /* v1: the memory hierarchy's gearbox-PID; v2: gearbox-PID */
	char mem_home[512];    /* v1: where a worker thread goes back to after a spawn */
	char cpu[512];         /* v1: the cpu hierarchy's gearbox-PID, or "" */
	char cpu_home[512];
	int memsw;             /* v1: memory.memsw.* exist */
	char home[512];        /* v2: the cgroup gearbox was started in */
	char self[600];        /* v2: gearbox-PID/gearbox, where gearbox moved itself
				* (home is not the root), or "" */
	int v2;                /* v2: CG2_* enabled for the task cgroups */
	int home_added;        /* v2: CG2_* this run turned on in home */
	int swapmax, peak, kill; /* v2: memory.swap.max, memory.peak, cgroup.kill exist */
	char why[256];         /* why the better mechanisms are not available */
};

/* One attempt's cgroup. */
struct cgtask {
	char mem[600], cpu[600];
	int have_cpu;
	int fd;                /* v2: the attempt's cgroup directory, or -1 */
	int placed;            /* v2: the child was started in it (cg_spawn) */
};

/* What an attempt used, from the cgroup (when there was one). */
struct cg_usage {
	int64_t peak_kb;       /* -1: unknown */
	int64_t cpu_us;        /* -1: unknown */
	int oom;               /* the OOM killer killed something in it */
};

/* Finds the best mechanism this process may use and, for cgroups, creates
 * gearbox-PID. Never fails: the worst is CG_RLIMIT (CG_NONE only when
 * `probe_only` and nothing is writable). With probe_only the directory is
 * created and removed again (for gearbox check). */
void cg_open(struct cgsys *s, int probe_only);
/* Removes gearbox-PID (after every task cgroup is gone). */
void cg_close(struct cgsys *s);
/* One line for gearbox check and the notice: what enforcement gives. */
const char *cg_describe(const struct cgsys *s, char *out, size_t n);

/* Before spawning: creates the attempt's cgroup `name` with the limits
 * (mem_kb, cpu_milli: 0 for none) and, for v1, moves the calling thread into
 * it so that the child starts there. Returns 0, or -1 (then nothing is
 * enforced for this attempt; errno set). */
int cg_task_begin(struct cgsys *s, struct cgtask *t, const char *name, int64_t mem_kb,
		  int64_t cpu_milli);
/* Right after the spawn (pid > 0, or 0 when it failed): v1 moves the thread
 * back; v2 moves the child in; RLIMIT sets the child's limits. */
void cg_task_spawned(struct cgsys *s, struct cgtask *t, pid_t pid, int64_t mem_kb,
		     int64_t cpu_milli, int64_t timeout_ms);
/* v2 (cgspawn.c): starts argv in the attempt's cgroup (clone3 with
 * CLONE_INTO_CGROUP, Linux 5.7; vfork-like, x86-64 and aarch64), with what exec.c's posix_spawnp does: stdin from in_fd or
 * /dev/null, stdout and stderr onto out_fd and err_fd (-1: inherited), cwd,
 * its own process group, default signal dispositions, an empty mask.
 * Returns 0 (*pid set), an errno of the spawn (as posix_spawnp's), or
 * ENOSYS when it cannot be done this way (no v2 cgroup, an older kernel):
 * then spawn as usual and cg_task_spawned moves the child. */
int cg_spawn(struct cgtask *t, pid_t *pid, char *const argv[], char *const envp[],
	     int in_fd, int out_fd, int err_fd, const char *cwd);
/* After the child was reaped: reads usage, kills what is left in the
 * cgroup, removes it. */
void cg_task_end(struct cgsys *s, struct cgtask *t, struct cg_usage *u);

#endif
