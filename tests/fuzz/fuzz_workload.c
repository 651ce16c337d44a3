/* fuzz_workload.c - libFuzzer target for the workload loader (not built by make).
 *
 * Build and run from the repository root:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -DWORKLOAD_MAX_TASKS=100000 -Icore -Isdk/include $(pkg-config --cflags jansson) \
 *     -o build/fuzz_workload tests/fuzz/fuzz_workload.c core/workload*.c core/dag.c \
 *     core/util.c $(pkg-config --libs jansson)
 *   mkdir -p build/fuzz-corpus && ./build/fuzz_workload -max_len=4096 build/fuzz-corpus examples
 *
 * WORKLOAD_MAX_TASKS lowers the task cap so that a small matrix cannot ask for
 * gigabytes. Beyond the sanitizers, the target checks what a caller relies on:
 * an error names the file and leaves no workload; a loaded workload's ids are
 * all found by workload_find and its edges and counts agree.
 */
#include "workload.h"

#include <stdlib.h>
#include <string.h>

#define NAME "fuzz.json"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct workload *wl = NULL;
	struct err err = {{0}};
	if (workload_load_string((const char *)data, size, NAME, &wl, &err) != 0) {
		check(wl == NULL);
		check(strncmp(err.msg, NAME, strlen(NAME)) == 0);
		return 0;
	}
	uint64_t edges = 0;
	uint32_t roots = 0, sinks = 0, depth = 0;
	for (uint32_t i = 0; i < wl->ntasks; i++) {
		const struct task *t = &wl->tasks[i];
		check(workload_find(wl, t->id) == i);
		check(t->pending == t->ndeps && t->chain >= 1 && t->state == ST_WAITING);
		for (uint32_t k = 0; k < t->ndeps; k++) {
			uint32_t d = wl->deps[t->dep_off + k];
			check(d < wl->ntasks && wl->tasks[d].chain > t->chain);
		}
		edges += t->ndeps;
		roots += t->ndeps == 0;
		sinks += t->nouts == 0;
		if (t->chain > depth)
			depth = t->chain;
		const struct spec *sp = t->spec;
		check(sp->kind == KIND_SIM ? !sp->argv && !sp->sh : !sp->argv != !sp->sh);
	}
	check(edges == wl->nedges && roots == wl->roots && sinks == wl->sinks &&
	      depth == wl->depth);
	workload_free(wl);
	return 0;
}
