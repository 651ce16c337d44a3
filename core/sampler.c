/* sampler.c - the run's main thread while workers run: it takes the
 * signals (through a signalfd), samples the machine and the engine for the
 * scaling policy and the plugins' ticks, applies scaling and the -j file,
 * reloads policies, flushes events and draws the progress line.
 */
#include "engine_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- policies on the tick (main thread) ---------------------------------- */

struct cpu_sample {
	uint64_t busy, total;
};

static int read_cpu(struct cpu_sample *c)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return -1;
	unsigned long long v[8] = {0};
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return -1;
	uint64_t idle = v[3] + v[4]; /* idle + iowait */
	c->total = 0;
	for (int i = 0; i < 8; i++)
		c->total += v[i];
	c->busy = c->total - idle;
	return 0;
}

static double read_mem(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	char line[256];
	double total = 0, avail = -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long long kb;
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			total = (double)kb;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			avail = (double)kb;
	}
	fclose(f);
	return total > 0 && avail >= 0 ? 1.0 - avail / total : 0;
}

/* Samples the machine and the engine for the scaling policy and the plugins'
 * ticks. Takes e->mu for the engine's counters. */
struct sampler {
	struct cpu_sample cpu;
	int64_t last_ns;
	uint32_t last_final;
};

static void gather(struct engine *e, struct sampler *sm, struct policy_metrics *m)
{
	struct cpu_sample cur;
	memset(m, 0, sizeof *m);
	if (read_cpu(&cur) == 0 && cur.total > sm->cpu.total)
		m->cpu = (double)(cur.busy - sm->cpu.busy) / (double)(cur.total - sm->cpu.total);
	sm->cpu = cur;
	m->mem = read_mem();
	if (e->o.policy && policy_has(e->o.policy, POL_SCALING))
		m->mem_avail_mb = (double)res_default_cap(RES_MEM) / RES_MILLI;
	int64_t now = now_ns();
	double secs = (double)(now - sm->last_ns) / 1e9;
	sm->last_ns = now;
	pthread_mutex_lock(&e->mu);
	m->queued = readyq_n(&e->ready) + e->delayed.n;
	m->running = e->running;
	m->jobs = e->jobs;
	m->cores = ncores();
	m->done = e->n_ok;
	m->failed = e->n_failed;
	m->min_jobs = e->o.jobs_min > 0 ? e->o.jobs_min : 1;
	m->max_jobs = e->o.jobs_max > 0 ? e->o.jobs_max : JOBS_LIMIT;
	m->avg_ms = e->n_attempts ? (double)e->sum_run_ns / 1e6 / e->n_attempts : 0;
	m->throughput = secs > 0 ? (e->n_final - sm->last_final) / secs : 0;
	m->elapsed_ms = (double)(now - e->t0_ns) / 1e6;
	m->mem_per_task_mb = (double)e->mem_per_task_kb / 1024;
	sm->last_final = e->n_final;
	pthread_mutex_unlock(&e->mu);
}

/* Calls the scaling policy and applies its answer, clamped to [min, max]. */
static void scale(struct engine *e, struct sampler *sm)
{
	struct policy_metrics m;
	gather(e, sm, &m);
	pthread_mutex_lock(&e->mu);
	int64_t want;
	if (!e->stopping && policy_scale(e->o.policy, &m, &want) == 0) {
		if (want < m.min_jobs)
			want = m.min_jobs;
		if (want > m.max_jobs)
			want = m.max_jobs;
		if (want != e->jobs) {
			int from = e->jobs;
			int got = set_jobs(e, (int)want);
			if (e->events) {
				pthread_mutex_lock(&e->ev_mu);
				fprintf(e->events, "{\"t_ms\":%.3f,\"event\":\"scaled\",\"jobs\":%d,\"from\":%d,\"cpu\":%.3f,\"mem\":%.3f,\"queued\":%lld}\n",
					m.elapsed_ms, got, from, m.cpu, m.mem, (long long)m.queued);
				pthread_mutex_unlock(&e->ev_mu);
			}
		}
	}
	pthread_mutex_unlock(&e->mu);
}

/* A plugin's tick interval in ns: tick_ms, default 1 s, within [1 ms, 1 h]. */
static int64_t tick_ns(int64_t ms)
{
	if (ms <= 0)
		ms = 1000;
	return (ms > 3600000 ? 3600000 : ms) * 1000000;
}

/* The plugins' tick hooks, each at its own interval (tick_ms, default 1 s). */
static void plugin_ticks(struct engine *e, struct sampler *sm, int64_t *due)
{
	const struct plugin_set *ps = e->ps;
	int64_t now = now_ns();
	int any = 0;
	for (size_t i = 0; i < ps->ntick; i++)
		any |= now >= due[i];
	if (!any)
		return;
	struct policy_metrics m;
	gather(e, sm, &m);
	struct gbx_metrics g = {sizeof g, m.cpu, m.mem, m.queued, m.running, m.jobs, m.cores,
				m.done, m.failed, m.avg_ms, m.throughput, m.elapsed_ms};
	for (size_t i = 0; i < ps->ntick; i++) {
		if (now < due[i])
			continue;
		const struct plugin *p = ps->tick[i];
		p->d->tick(p->self, &g);
		due[i] = now + tick_ns(p->d->tick_ms);
	}
}

static void reload_policies(struct engine *e, const char *why)
{
	struct err err = {{0}};
	pthread_mutex_lock(&e->mu);
	int r = policy_reload(e->o.policy, &err);
	pthread_mutex_unlock(&e->mu);
	pthread_mutex_lock(&e->out_mu);
	if (r)
		fprintf(stderr, "%sgearbox: policy reload (%s) failed: %s\n",
			e->progress_on ? "\r\033[K" : "", why, err.msg);
	else if (!e->o.quiet)
		fprintf(stderr, "%sgearbox: policies reloaded (%s)\n", e->progress_on ? "\r\033[K" : "", why);
	pthread_mutex_unlock(&e->out_mu);
}

/* --watch-policies: reload when a policy file's mtime changes. */
static int policies_changed(struct engine *e, struct timespec *mt)
{
	int changed = 0;
	for (int k = 0; k < POL_NKINDS; k++) {
		const char *f = policy_file(e->o.policy, k);
		struct stat st;
		if (!f || stat(f, &st))
			continue;
		if (mt[k].tv_sec && (st.st_mtim.tv_sec != mt[k].tv_sec || st.st_mtim.tv_nsec != mt[k].tv_nsec))
			changed = 1;
		mt[k] = st.st_mtim;
	}
	return changed;
}

/* Returns the file's number when it changed and holds a good one, 0 when it
 * did not change, -1 when it changed (or vanished) and holds no good number:
 * the caller keeps the last good value and says so once per change. */
int read_jobs_file(const char *path, struct timespec *mtime)
{
	struct stat st;
	if (stat(path, &st)) {
		if (mtime->tv_nsec == -1)
			return 0;
		mtime->tv_sec = 0;
		mtime->tv_nsec = -1; /* gone: said once */
		return -1;
	}
	if (st.st_mtim.tv_sec == mtime->tv_sec && st.st_mtim.tv_nsec == mtime->tv_nsec)
		return 0;
	*mtime = st.st_mtim;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char b[64];
	size_t got = fread(b, 1, sizeof b - 1, f);
	fclose(f);
	b[got] = 0;
	b[strcspn(b, " \t\r\n")] = 0;
	char *end;
	errno = 0;
	long n = strtol(b, &end, 10);
	if (errno || end == b || *end || n < 1 || n > JOBS_LIMIT)
		return -1;
	return (int)n;
}

/* The main thread, until the run ends: signals, the scaling policy, the
 * plugins' ticks, policy reloads, the jobs file, events flushed for tail -f,
 * the progress line. */
void sampler_loop(struct engine *e, int sfd, struct timespec *jobs_mtime_p)
{
	int rc_signals = 0, stop_sig = 0;
	struct policy *pol = e->o.policy;
	int scaling = pol && policy_has(pol, POL_SCALING);
	int64_t scale_every = scaling ? policy_scale_interval(pol) * 1000000 : 0;
	int64_t next_scale = e->t0_ns + scale_every;
	struct sampler smp = {{0, 0}, e->t0_ns, 0};
	struct timespec pol_mtime[POL_NKINDS];
	memset(pol_mtime, 0, sizeof pol_mtime);
	read_cpu(&smp.cpu);
	int64_t *tick_due = calloc(e->ps->ntick + 1, sizeof *tick_due);
	for (size_t i = 0; tick_due && i < e->ps->ntick; i++) {
		tick_due[i] = e->t0_ns + tick_ns(e->ps->tick[i]->d->tick_ms);
	}
	if (pol && e->o.watch_policies)
		policies_changed(e, pol_mtime);
	for (;;) {
		struct pollfd p[2] = {{e->done_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
		/* the tick: progress line, jobs file, policies, plugin ticks, events
		 * flushed for tail -f; wake for whichever is due first */
		int wait_ms = 200;
		int64_t first = scaling ? next_scale : INT64_MAX;
		for (size_t i = 0; tick_due && i < e->ps->ntick; i++)
			first = tick_due[i] < first ? tick_due[i] : first;
		if (first != INT64_MAX) {
			int64_t left = (first - now_ns() + 999999) / 1000000;
			wait_ms = left < 0 ? 0 : left < wait_ms ? (int)left : wait_ms;
		}
		if (stop_sig)
			wait_ms = 10; /* a stop waits for the lock */
		int n = poll(p, sfd >= 0 ? 2 : 1, wait_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (sfd >= 0 && p[1].revents) {
			struct signalfd_siginfo si;
			ssize_t got = read(sfd, &si, sizeof si);
			if (got == sizeof si && si.ssi_signo == SIGHUP) {
				if (pol)
					reload_policies(e, "SIGHUP");
			} else if (got == sizeof si) {
				int sig = (int)si.ssi_signo;
				if (++rc_signals >= 2) {
					/* second signal: kill what runs and go now, without
					 * the engine lock (whoever holds it may be stuck); the
					 * worker array is only read, and we exit next */
					int nt = e->nthreads;
					for (int i = 0; i < nt; i++) {
						int pid = atomic_load(&e->w[i]->child);
						if (pid > 0)
							kill(-pid, SIGKILL);
					}
					fprintf(stderr, "\ngearbox: %s again, exiting now\n", strsignal(sig));
					_exit(128 + sig);
				}
				if (!e->o.quiet)
					fprintf(stderr, "%sgearbox: %s: stopping; terminating running tasks "
						"(again to exit at once)\n", e->progress_on ? "\r\033[K" : "",
						strsignal(sig));
				/* a policy call holding the lock stops at its next hook */
				if (pol)
					policy_interrupt(pol);
				stop_sig = sig;
			}
		}
		/* the signal thread never waits on the engine lock for long: it
		 * tries for 20 ms at a time (a bare trylock can starve while the
		 * workers pass the lock around), reading signals in between */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 20000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (stop_sig && pthread_mutex_timedlock(&e->mu, &until) == 0) {
			e->interrupted = stop_sig;
			stop_workers(e, STOP_KILL);
			pthread_mutex_unlock(&e->mu);
			stop_sig = 0;
		}
		if (stop_sig)
			continue;
		if (scaling && now_ns() >= next_scale) {
			scale(e, &smp);
			next_scale = now_ns() + scale_every;
		}
		if (e->ps->ntick && tick_due)
			plugin_ticks(e, &smp, tick_due);
		if (pol && e->o.watch_policies && policies_changed(e, pol_mtime))
			reload_policies(e, "file changed");
		if (e->o.jobs_file) {
			int nj = read_jobs_file(e->o.jobs_file, jobs_mtime_p);
			if (nj < 0) {
				pthread_mutex_lock(&e->out_mu);
				fprintf(stderr, "%sgearbox: -j %s: no number from 1 to %d in it now; "
					"keeping -j %d\n", e->progress_on ? "\r\033[K" : "",
					e->o.jobs_file, JOBS_LIMIT, e->jobs);
				pthread_mutex_unlock(&e->out_mu);
			}
			if (nj > 0) {
				pthread_mutex_lock(&e->mu);
				set_jobs(e, nj);
				pthread_mutex_unlock(&e->mu);
			}
		}
		if (e->events) {
			pthread_mutex_lock(&e->ev_mu);
			fflush(e->events);
			pthread_mutex_unlock(&e->ev_mu);
		}
		if (e->progress_on)
			progress_line(e);
	}
	free(tick_due);
}

int signals_take(struct sigstate *st)
{
	/* taken by this thread alone, through a signalfd; an embedder may keep
	 * its own handling (run_opts.handle_signals) */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &st->oldmask);
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigaction(SIGPIPE, &ign, &st->oldpipe);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

void signals_give_back(struct sigstate *st, int sfd)
{
	if (sfd >= 0)
		close(sfd);
	sigaction(SIGPIPE, &st->oldpipe, NULL);
	pthread_sigmask(SIG_SETMASK, &st->oldmask, NULL);
}
