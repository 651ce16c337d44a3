/* check.h - a tiny TAP producer for unit tests.
 *
 * CHECK(cond, name...) prints "ok - name" or "not ok - name" with the failing
 * expression and line; main returns check_done(), non-zero when any failed.
 * tests/run.sh counts the lines.
 */
#ifndef GBX_CHECK_H
#define GBX_CHECK_H
#include <stdio.h>

static int check_failed_, check_passed_;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		int check_ok_ = (cond) ? 1 : 0; /* evaluated once */           \
		if (check_ok_)                                                 \
			check_passed_++;                                       \
		else                                                           \
			check_failed_++;                                       \
		printf("%s - ", check_ok_ ? "ok" : "not ok");                  \
		printf(__VA_ARGS__);                                           \
		if (!check_ok_)                                                \
			printf("  # %s:%d: %s", __FILE__, __LINE__, #cond);     \
		printf("\n");                                                  \
		fflush(stdout);                                                \
	} while (0)

static inline int check_done(void)
{
	return check_failed_ ? 1 : 0;
}
#endif
