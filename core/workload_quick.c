/* workload_quick.c - the GNU parallel quick form (`gearbox run -- CMD ::: ARGS`):
 * replacement strings, the input sources' combinations, one exec task each. */
#include "workload_int.h"
#include "parallel.h"
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the quick form ---- */

/* If s starts a replacement string ({} {.} {/} {//} {/.} {#}, or one of the
 * first five with a source number: {2} {2.} ...), returns its length and sets
 * *src (0: every source) and *op; else returns 0. */
static size_t rpl_at(const char *s, long *src, enum rop *op)
{
	if (s[0] != '{')
		return 0;
	const char *q = s + 1;
	long n = 0;
	if (q[0] == '#' && q[1] == '}') {
		*src = 0;
		*op = R_SEQ;
		return 3;
	}
	if (q[0] == '%' && q[1] == '}') { /* the slot: put in when the attempt starts */
		*src = 0;
		*op = R_SLOT;
		return 3;
	}
	while (*q >= '0' && *q <= '9' && n < 1000000)
		n = n * 10 + (*q++ - '0');
	if (q > s + 1 && n == 0)
		return 0;
	static const struct {
		const char *t;
		enum rop op;
	} ops[] = {{"}", R_NONE}, {".}", R_EXT}, {"/}", R_BASE}, {"//}", R_DIR}, {"/.}", R_BASEEXT}};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t l = strlen(ops[i].t);
		if (strncmp(q, ops[i].t, l) == 0) {
			*src = n;
			*op = ops[i].op;
			return (size_t)(q - s) + l;
		}
	}
	return 0;
}

/* The quick form's implicit inputs: an argument that names an existing
 * regular file (relative to the directory gearbox runs in) is an input, so
 * that the cache hashes it (`wc -l {} ::: d` misses after d changed). For
 * argv, every argument after the program; for a shell line, the values
 * taken from the ::: sources. */
static void quick_inputs(struct ctx *c, struct spec *sp, int nsources, char **const *sources,
			 const size_t *cur)
{
	const char *cand[64];
	size_t n = 0, nc = 0;
	if (sp->argv)
		for (size_t i = 1; sp->argv[i] && nc < 64; i++)
			cand[nc++] = sp->argv[i];
	else
		for (int s = 0; s < nsources && nc < 64; s++)
			cand[nc++] = sources[s][cur[s]];
	const char *hit[64];
	for (size_t i = 0; i < nc; i++) {
		struct stat st;
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(hit[j], cand[i]);
		if (!dup && cand[i][0] && stat(cand[i], &st) == 0 && S_ISREG(st.st_mode))
			hit[n++] = cand[i];
	}
	if (!n)
		return;
	char **l = arena_alloc(&c->wl->arena, (n + 1) * sizeof *l);
	for (size_t i = 0; i < n; i++)
		l[i] = wl_strndup(c, hit[i], strlen(hit[i]));
	l[n] = NULL;
	sp->inputs = l;
}

static int is_shell(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	return !strcmp(b, "sh") || !strcmp(b, "bash") || !strcmp(b, "dash") ||
	       !strcmp(b, "zsh") || !strcmp(b, "ksh");
}

int workload_quick(char *const *cmd, int nsources, char **const *sources,
		   struct workload **out, struct err *err)
{
	*out = NULL;
	const char *file = QUICK_PATH;
	if (nsources <= 0 || !sources)
		return err_set(err, "%s: no arguments (give them after :::)", file);
	size_t ncmd = wl_list_len(cmd);
	int has_rpl = 0;
	for (size_t i = 0; i < ncmd; i++)
		for (const char *s = cmd[i]; (s = strchr(s, '{')); s++) {
			long src;
			enum rop op;
			if (!rpl_at(s, &src, &op))
				continue;
			has_rpl = 1;
			if (src > nsources)
				return err_set(err, "%s: %.*s refers to argument source %ld, but there %s only %d",
					       file, (int)rpl_at(s, &src, &op), s, src,
					       nsources == 1 ? "is" : "are", nsources);
		}
	uint64_t total = 1;
	size_t *n = calloc((size_t)nsources, sizeof *n), *cur = calloc((size_t)nsources, sizeof *cur);
	if (!n || !cur) {
		free(n);
		free(cur);
		return err_set(err, "%s: out of memory", file);
	}
	for (int s = 0; s < nsources; s++) {
		n[s] = wl_list_len(sources[s]);
		if (n[s] && total > WORKLOAD_MAX_TASKS / n[s]) {
			free(n);
			free(cur);
			return err_set(err, "%s: more than %u tasks (the limit)", file,
				       (unsigned)WORKLOAD_MAX_TASKS);
		}
		total *= n[s];
	}
	struct workload *wl = calloc(1, sizeof *wl);
	if (wl)
		wl->tasks = calloc(total ? total : 1, sizeof *wl->tasks);
	if (!wl || !wl->tasks) {
		free(wl);
		free(n);
		free(cur);
		return err_set(err, "%s: out of memory", file);
	}
	arena_init(&wl->arena);
	wl->path = arena_strdup(&wl->arena, file);
	wl->name = wl->path;
	struct ctx c = {.wl = wl, .file = wl->path, .err = err, .cap = (uint32_t)total};
	struct buf b = {0};
	int rc = 0;
	char **pcmd = arena_alloc(&wl->arena, (ncmd + 1) * sizeof *pcmd);
	for (size_t i = 0; i < ncmd; i++)
		pcmd[i] = wl_strndup(&c, cmd[i], strlen(cmd[i]));
	for (uint64_t k = 0; k < total && rc == 0; k++) {
		struct spec *sp = arena_alloc(&wl->arena, sizeof *sp);
		wl_spec_init(sp);
		sp->kind = KIND_EXEC;
		if (ncmd == 0) { /* as parallel: the arguments are the command */
			b.len = 0;
			for (int s = 0; s < nsources; s++) {
				if (s)
					buf_add(&b, " ", 1);
				buf_adds(&b, sources[s][cur[s]]);
			}
			sp->sh = wl_strndup(&c, b.p, b.len);
		} else if (has_rpl) {
			sp->argv = arena_alloc(&wl->arena, (ncmd + 1) * sizeof *sp->argv);
			for (size_t i = 0; i < ncmd; i++) {
				const char *s = cmd[i], *run = s;
				int quote = i >= 2 && !strcmp(cmd[i - 1], "-c") && is_shell(cmd[0]);
				b.len = 0;
				buf_add(&b, "", 0);
				for (; (s = strchr(s, '{'));) {
					long src;
					enum rop op;
					size_t l = rpl_at(s, &src, &op);
					if (!l) {
						s++;
						continue;
					}
					buf_add(&b, run, (size_t)(s - run));
					if (op == R_SEQ) {
						buf_addf(&b, "%llu", (unsigned long long)k + 1);
					} else if (op == R_SLOT) {
						buf_adds(&b, SLOT_MARK);
						sp->slot_rpl = 1;
					} else if (src > 0) {
						par_modify(&b, sources[src - 1][cur[src - 1]], op, quote);
					} else {
						for (int j = 0; j < nsources; j++) {
							if (j)
								buf_add(&b, " ", 1);
							par_modify(&b, sources[j][cur[j]], op, quote);
						}
					}
					s = run = s + l;
				}
				if (run == cmd[i]) {
					sp->argv[i] = pcmd[i];
					continue;
				}
				buf_adds(&b, run);
				sp->argv[i] = wl_strndup(&c, b.p, b.len);
			}
		} else {
			sp->argv = arena_alloc(&wl->arena,
					       (ncmd + (size_t)nsources + 1) * sizeof *sp->argv);
			memcpy(sp->argv, pcmd, ncmd * sizeof *pcmd);
			for (int s = 0; s < nsources; s++)
				sp->argv[ncmd + (size_t)s] = wl_strndup(
					&c, sources[s][cur[s]], strlen(sources[s][cur[s]]));
		}
		quick_inputs(&c, sp, nsources, sources, cur);
		if ((sp->argv && !sp->argv[0][0]) || (sp->sh && !sp->sh[0])) {
			rc = err_set(err, "%s: task %llu: the command is empty", file,
				     (unsigned long long)k + 1);
			break;
		}
		char id[24];
		int idn = snprintf(id, sizeof id, "%llu", (unsigned long long)k + 1);
		rc = wl_commit(&c, wl_strndup(&c, id, (size_t)idn), sp, 1);
		for (int s = nsources; s-- > 0;) { /* the last source runs fastest */
			if (++cur[s] < n[s])
				break;
			cur[s] = 0;
		}
	}
	buf_free(&b);
	buf_free(&c.sb);
	free(n);
	free(cur);
	if (rc == 0)
		rc = dag_build(wl, err);
	if (rc) {
		workload_free(wl);
		return -1;
	}
	*out = wl;
	return 0;
}

