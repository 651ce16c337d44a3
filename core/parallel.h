/* parallel.h - `gearbox parallel`: GNU parallel's command line, run by the
 * engine.
 *
 * parallel_args.c reads the options and the input sources and expands the
 * replacement strings into one shell command per job (values shell-quoted as
 * GNU parallel quotes them, so a value never injects). parallel.c turns the
 * jobs into engine tasks and is the engine's task sink: it shows each job's
 * output as GNU parallel would (grouped, in order with -k, tagged, line by
 * line, or written straight through), writes the joblog, counts failures
 * for the exit status and decides --halt. See docs/parallel.md.
 */
#ifndef GBX_PARALLEL_H
#define GBX_PARALLEL_H

#include <stddef.h>
#include <stdint.h>
#include <regex.h>
#include <jansson.h>
#include "util.h"
#include "spool.h"

/* exit statuses as GNU parallel gives them */
#define PAR_EXIT_ERROR 255

enum par_out { PO_GROUP = 0, PO_LINE, PO_UNGROUP };
enum par_halt_kind { PH_FAIL = 0, PH_SUCCESS, PH_DONE };

struct par_src {
	char **v;          /* values (owned), n of them */
	size_t n;
	int linked;        /* :::+ / ::::+ : zipped with the source before it */
};

struct par_job {
	uint64_t seq;      /* {#}, the joblog's Seq */
	char *cmd;         /* the command as run by the shell ({%} still in it when has_slot) */
	char **args;       /* positional values (borrowed from the sources) */
	uint32_t nargs;
	uint32_t nrec;     /* input records in it (-n/-N) */
};

struct par_opts {
	const char *jobs;          /* -j as given, or NULL */
	int keep, tag, verbose;
	const char *tagstring;
	int max_args, exact_args;  /* -n N, -N N */
	int multi, ctx_replace;    /* -m, -X */
	const char *colsep;
	regex_t colsep_re;
	struct buf re_buf;
	int have_re;
	int dry_run, bar, eta, progress;
	int out;                   /* enum par_out */
	const char *results;
	const char *joblog;
	int resume, resume_failed, retry_failed;
	int retries;               /* total attempts, as GNU counts them (0: 1) */
	double timeout_s;          /* 0: none */
	double timeout_pct;        /* > 0: percent of the median runtime */
	double delay_s;
	int halt_when;             /* 0 never, 1 soon, 2 now */
	int halt_kind;             /* enum par_halt_kind */
	double halt_count;         /* jobs, or when halt_pct a fraction */
	int halt_pct;
	double load_max;           /* 0: none; < 0: -(percent of cores) */
	int64_t memfree;           /* bytes, 0: none */
	int null, quote, shuf, no_run_if_empty, link;
	const char *rpl;           /* -I STR, or "{}" */
	const char *shell;
	char **cmd;                /* the command words (borrowed from argv) */
	int ncmd;
	struct par_src *src;
	int nsrc;
	int stdin_used;
	char **colstore;           /* --colsep's columns (owned) */
	size_t ncolstore;
	char **argstore;           /* every job's args, flat (owned) */
	char **sshlogin;           /* -S and --sshloginfile values, as given (owned) */
	int nsshlogin;
	const char *ssh_cmd;       /* --ssh CMD, or NULL */
};

/* Parses argv (argv[0] is "parallel"); fills o. Returns 0, or the exit
 * status after printing one line naming the problem. */
int par_parse(int argc, char **argv, struct par_opts *o);

/* Expands the sources into jobs, in GNU parallel's order (and shuffled with
 * --shuf). *jobs is a new array of *njobs; `jobs` is the concurrency (-m and
 * -X spread the arguments over it). Returns 0, or 255 with a message. */
int par_jobs(struct par_opts *o, int jobs, struct par_job **jobs_out, size_t *njobs);

/* GNU parallel's shell quoting of one value (shell_quote_scalar_default). */
void par_quote(struct buf *b, const char *s, size_t n);

/* A replacement string's operation: {} {.} {/} {//} {/.} {#} {%} */
enum rop { R_NONE, R_EXT, R_BASE, R_DIR, R_BASEEXT, R_SEQ, R_SLOT };
/* Appends value a to b as op modifies it (GNU parallel: {.} drops the last
 * extension, s:\.[^/.]*$::; {/} keeps what follows the last slash; {//} is
 * dirname(1), as Perl's File::Basename), shell-quoted when quote is set.
 * Shared by gearbox parallel and run's quick form. */
void par_modify(struct buf *b, const char *a, enum rop op, int quote);

/* The job's command with {%} replaced by slot (1-based), into b. */
void par_slot_cmd(struct buf *b, const char *cmd, int slot);
int par_has_slot(const char *cmd);

/* ---- parallel_plan.c: what runs ------------------------------------------ */

struct workload;
struct err;
/* -j as GNU parallel reads it (N, +N, -N, N%, 0, or a file holding one) into
 * *out; -1 when it is none of those. */
int par_jobs_of(const char *s, int *out);
/* Applies --resume, --resume-failed and --retry-failed to the jobs (keeps
 * those to run, in place); *append: the joblog is appended to. 0 or -1 after
 * a message. */
int par_resume(struct par_opts *o, struct par_job **jobs, size_t *n, int *append);
/* The jobs as an engine workload of exec tasks (new; NULL with err set). */
struct workload *par_workload(struct par_opts *o, struct par_job *jobs, size_t n,
			      struct err *err);

/* -S/--sshlogin and --sshloginfile as a --nodes spec (docs/nodes.md):
 * "ssh:" and the sshlogins, [N/]HOST or [N/]: for this machine, into spec;
 * with --ssh CMD or $PARALLEL_SSH, *cfg is a new nodes config whose ssh
 * launcher is that command (else NULL: the built-in one). 0, or 255 after a
 * message naming the sshlogin. */
int par_nodes_spec(const struct par_opts *o, struct buf *spec, json_t **cfg);

void par_opts_free(struct par_opts *o);
void par_jobs_free(struct par_job *jobs, size_t n);

/* Writes all n bytes to fd, retrying on EINTR; gives up silently on error
 * (a closed terminal must not stop the run). */
static inline void par_write_all(int fd, const char *p, size_t n)
{
	(void)fd_write_all(fd, p, n);
}

/* `gearbox parallel ARGS...`; argv[0] is "parallel". */
int parallel_main(int argc, char **argv);

#endif
