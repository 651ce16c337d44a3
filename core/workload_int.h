/* workload_int.h - the workload loader's internals, shared by workload.c (the
 * document, helpers, public entry points), workload_fields.c (a task's
 * fields), workload_matrix.c ("matrix") and workload_quick.c (the quick form)
 * and by no one else. */
#ifndef GBX_WORKLOAD_INT_H
#define GBX_WORKLOAD_INT_H

#include "workload.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifndef WORKLOAD_MAX_TASKS /* the fuzz build lowers it to keep inputs cheap */
#define WORKLOAD_MAX_TASKS 50000000u
#endif
#define ID_MAX 256
#define MS_MAX 2592000000LL /* 30 days */
#define QUICK_PATH "<command line>"
#define RETRIES_MAX 1000

enum field {
	F_ID, F_KIND, F_ARGV, F_SH, F_ENV, F_CWD, F_STDIN, F_TIMEOUT, F_DEPS,
	F_PRIORITY, F_DEADLINE, F_EST, F_CLASS, F_TARGET, F_RETRIES, F_INPUTS,
	F_OUTPUTS, F_CACHE, F_TAGS, F_META, F_CPU_US, F_IO_MS, F_MEM_KB,
	F_FAIL_RATE, F_FAIL_AFTER, F_SEED, F_RESOURCES, F_ENFORCE, F_NODE, F_KEEP_CHILDREN, NFIELDS
};

enum mode { M_TASK, M_TEMPLATE, M_DEFAULTS };

/* Where an error is: "defaults" (i < 0), or arr[i] with the id when known. */
struct place {
	const char *arr;
	long i;
	const char *id;
};

/* One matrix variable with its values rendered as strings. */
struct var {
	const char *name;
	size_t nlen, n;
	const char **val;
	size_t *len;
};

struct ctx {
	struct workload *wl;
	const struct kind_registry *reg;
	const char *file;
	struct err *err;
	const struct wl_given *given; /* or NULL */
	struct spec **cspec; /* the C tasks' specs by retries, or NULL */
	int ckind;           /* their kind's index in reg, or -1 */
	struct spec dflt;  /* the defaults; its meta is borrowed from the document */
	uint32_t cap;      /* tasks allocated */
	char *pool;        /* unaligned string space carved from the arena */
	size_t pool_left;
	struct buf sb;     /* substitution scratch */
	/* the matrix entry being expanded */
	struct var *vars;
	size_t nvars, maxnlen, *cur;
	struct buf nums;   /* numeric var values, rendered */
	/* where tasks came from, for the duplicate-id message */
	uint32_t nplain;
	uint32_t *mstart;  /* first task of each matrix entry */
	const char **mid;  /* its id template (borrowed from the document) */
	long cur_matrix;   /* the matrix entry being expanded, or -1 */
	size_t nmatrix;
	/* the matrix entry that makes the most tasks, named when memory runs
	 * out outside an entry's expansion (the task array, the DAG), or -1 */
	long big;
	const char *big_id; /* its id template (borrowed from the document) */
	uint64_t big_n, total;
};


/* workload.c: out of memory while loading. wl_oom jumps to the loader's
 * handler (workload_load_json), which names the file and the matrix entry;
 * wl_buf_add and wl_buf_adds are buf_add and buf_adds that call it instead
 * of aborting. */
_Noreturn void wl_oom(struct ctx *c);
void wl_buf_add(struct ctx *c, struct buf *b, const void *p, size_t n);
void wl_buf_adds(struct ctx *c, struct buf *b, const char *s);

/* workload.c: small helpers */
char *wl_pool_refill(struct ctx *c, size_t n);
/* n + 1 bytes of string space (unaligned), for a string of length n < 1024:
 * inline, as matrix expansion takes one per task */
static inline char *wl_pool_take(struct ctx *c, size_t n)
{
	if (n + 1 > c->pool_left)
		return wl_pool_refill(c, n);
	char *p = c->pool;
	c->pool += n + 1;
	c->pool_left -= n + 1;
	return p;
}
char *wl_strndup(struct ctx *c, const char *s, size_t n);
const char *wl_jtype(const json_t *v);
const char *wl_dym(char *out, size_t sz, const char *guess);
int wl_lookup(const char *s, const char *const *names, int lo, int n);
size_t wl_list_len(char *const *l);
int wl_perr(struct ctx *c, const struct place *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *wl_id_problem(const char *id, size_t len);
void wl_spec_init(struct spec *sp);
int wl_commit_err(struct ctx *c);
/* Appends a task; a spec's meta reference is taken by its first task.
 * Inline: matrix expansion calls it once per task. */
static inline int wl_commit(struct ctx *c, const char *id, const struct spec *sp, int first)
{
	struct workload *wl = c->wl;
	if (wl->ntasks >= c->cap)
		return wl_commit_err(c);
	struct task *t = &wl->tasks[wl->ntasks++];
	t->id = id;
	t->spec = sp;
	if (first && sp->meta)
		json_incref(sp->meta);
	if (first && sp->extra)
		json_incref(sp->extra);
	return 0;
}

/* workload_fields.c */
int wl_type_err(struct ctx *c, const struct place *p, const char *name,
		const char *want, const json_t *v);
int wl_parse_fields(struct ctx *c, struct place *p, json_t *obj,
		    struct spec *sp, enum mode mode);

/* workload_matrix.c */
void wl_vars_clear(struct ctx *c);
int wl_parse_vars(struct ctx *c, const struct place *p, json_t *vars,
		  uint64_t *count);
int wl_expand(struct ctx *c, struct place *p, struct spec *tsp,
	      const char *tid, uint64_t count);

#endif
