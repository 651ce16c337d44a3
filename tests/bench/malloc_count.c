/* malloc_count.c - an LD_PRELOAD shim for `make bench` that counts heap
 * allocations in one process: calls of malloc, calloc, realloc, memalign,
 * aligned_alloc and posix_memalign (glibc's own functions do the work; free
 * is not counted). At exit it writes "TOTAL LIB" to the file named by
 * $MALLOC_COUNT_OUT: TOTAL is every call in the process, LIB the calls made
 * directly from the code of the shared object whose path ends in
 * $MALLOC_COUNT_LIB (e.g. "/pool.so"), found when the process dlopen()s it.
 *
 * Only the first process counts: the shim takes LD_PRELOAD and its variables
 * out of the environment at start, so the processes gearbox starts (tasks,
 * pool workers) run without it.
 *
 * Build: cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -ldl
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic unsigned long long total, lib;
static _Atomic uintptr_t lib_lo, lib_hi; /* the library's text, once loaded */
static char out_path[4096], lib_name[256];

#define COUNT()                                                                        \
	do {                                                                           \
		uintptr_t ra = (uintptr_t)__builtin_return_address(0);                 \
		atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);            \
		if (ra >= atomic_load_explicit(&lib_lo, memory_order_relaxed) &&       \
		    ra < atomic_load_explicit(&lib_hi, memory_order_relaxed))          \
			atomic_fetch_add_explicit(&lib, 1, memory_order_relaxed);      \
	} while (0)

void *malloc(size_t n)
{
	COUNT();
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	COUNT();
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	COUNT();
	return __libc_realloc(p, n);
}

void *memalign(size_t al, size_t n)
{
	COUNT();
	return __libc_memalign(al, n);
}

void *aligned_alloc(size_t al, size_t n)
{
	COUNT();
	return __libc_memalign(al, n);
}

int posix_memalign(void **p, size_t al, size_t n)
{
	COUNT();
	void *m = __libc_memalign(al, n);
	if (!m)
		return ENOMEM;
	*p = m;
	return 0;
}

/* the address range of the loaded object whose name ends in lib_name */
static int find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	size_t n = strlen(info->dlpi_name), m = strlen(lib_name);
	if (!m || n < m || strcmp(info->dlpi_name + n - m, lib_name))
		return 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	atomic_store(&lib_hi, hi);
	atomic_store(&lib_lo, lo);
	return 1;
}

void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	void *h = real(file, mode);
	if (h && lib_name[0] && !atomic_load(&lib_hi))
		dl_iterate_phdr(find_lib, NULL);
	return h;
}

__attribute__((constructor)) static void start(void)
{
	const char *o = getenv("MALLOC_COUNT_OUT"), *l = getenv("MALLOC_COUNT_LIB");
	snprintf(out_path, sizeof out_path, "%s", o ? o : "");
	snprintf(lib_name, sizeof lib_name, "%s", l ? l : "");
	unsetenv("LD_PRELOAD");
	unsetenv("MALLOC_COUNT_OUT");
	unsetenv("MALLOC_COUNT_LIB");
	atomic_store(&lib_lo, UINTPTR_MAX);
}

__attribute__((destructor)) static void stop(void)
{
	if (!out_path[0])
		return;
	FILE *f = fopen(out_path, "w");
	if (!f)
		return;
	fprintf(f, "%llu %llu\n", (unsigned long long)atomic_load(&total),
		(unsigned long long)atomic_load(&lib));
	fclose(f);
}
