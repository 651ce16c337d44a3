/* nodes_int.h - the internals of the controller's nodes shared by nodes.c
 * (start, placement, an attempt's round trip, summary, stop) and nodewatch.c
 * (a node's life: launch, its reader thread, the watch, loss), and by no one
 * else. The lock rules are those at the top of nodes.c.
 */
#ifndef GBX_NODES_INT_H
#define GBX_NODES_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "nodes.h"
#include "resources.h"

enum { N_STARTING = 1, N_UP, N_DOWN };

struct call {
	struct call *next, *prev;
	int64_t id;
	int efd;
	atomic_int state;      /* 0 waiting, 1 answered, 2 lost */
	int busy;              /* under mu: the reader appends an "out" piece to a's spools */
	int gone;              /* under mu: taken off its node while busy; the reader tells it */
	struct attempt *a;
	int node;
	const struct res_need *need; /* counted in its node's used, or NULL */
};

struct kstat {             /* per node and kind: history for placement */
	char kind[24];
	uint64_t runs, ok;
	double sum_ms;
};

struct node {
	struct nodes *ns;
	int idx;
	char *name;
	char **argv;           /* the launcher's argv, {node} and {gearbox} filled */
	int slots_given;       /* N/ of ssh, or -j; 0: the agent's cores */
	char **cfg_labels;     /* labels the config gives this node, or NULL */
	/* one launch */
	pid_t pid;
	int to_fd, from_fd, err_fd;
	pthread_t reader;
	int has_reader;
	int reader_done;
	pthread_mutex_t wmu;   /* writes to to_fd; to_fd and gen change under it (and mu) */
	int gen;               /* launches so far: a call sent to an older one is not written */
	int state;
	int ever_up;
	int64_t last_ns;       /* last message from the agent */
	int64_t started_ns;
	int64_t relaunch_at;   /* DOWN: when to launch again; INT64_MAX: never */
	int relaunches;
	/* from the hello */
	char host[128];
	int cores;
	int64_t mem_mb;
	int64_t mem_avail_mb;  /* available (or Slurm's per-node memory): mem_mb's capacity */
	char **labels;         /* name, host, the agent's and the config's; NULL-terminated */
	int slots, running;
	double load;
	struct call *calls;
	char why[512];         /* why it went down */
	/* summary */
	uint64_t n_attempts, n_ok, n_lost;
	int64_t busy_ns;
	int64_t cpu_us;        /* user + system CPU of its tasks, as its agent measured */
	struct kstat ks[8];
	int nks;
	/* resources per node (noderes.c), thousandths, by the plan's index */
	int64_t cap[RES_MAX], used[RES_MAX];
};

struct nodes {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* a hello, a loss: nodes_start waits on it */
	struct node *n;
	int nn;
	int64_t next_id;
	int *waiters;          /* eventfds of workers waiting for a slot */
	int nwait, capwait;
	int rr;                /* round robin start for ties */
	pthread_t watch;
	int has_watch;
	int stopping;
	int64_t hb_ms, timeout_ms, start_ms, backoff_ms;
	int relaunch_max;
	int64_t grace_ms;
	char *cwd;
	char *plugins_json;    /* ,"plugins":[...] for the hello, or NULL */
	const struct res_plan *plan; /* the engine's, for tasks' needs, or NULL */
	const struct task *tasks;    /* the workload's, for a task's index in plan */
	struct nodes_opts o;
};

/* noderes.c, under mu */
void node_res_caps(struct nodes *ns, struct node *nd);
int node_res_room(const struct node *nd, const struct res_need *n);
void node_res_add(struct node *nd, const struct res_need *n, int sign);
const struct res_need *node_res_need(const struct nodes *ns, const struct task *t);

/* nodewatch.c */
void node_wake_waiters(struct nodes *ns);
void node_efd_drain(int fd);
void node_emit(struct nodes *ns, const char *name, struct node *nd, const char *extra);
void node_down(struct nodes *ns, struct node *nd, const char *why);
int node_has_label(char *const *l, const char *x);
void node_kstat_add(struct node *nd, const char *kind, int ok, double ms);
int node_launch(struct nodes *ns, struct node *nd);
void *node_watch_main(void *arg);

#endif
