/* lpat.h - Lua 5.4's string.find, match, gmatch and gsub on a matcher of our
 * own that counts its steps (see lpat.c). */
#ifndef GBX_LPAT_H
#define GBX_LPAT_H

#include <stdint.h>
#include <lua.h>

/* What bounds one call. steps: the matcher's steps allowed per call, beyond
 * a per-byte allowance (LPAT_STEPS_PER_BYTE times the subject's length);
 * 0: LPAT_DEFAULT_STEPS. tick: called every LPAT_TICK steps, may raise a Lua
 * error (a stop request, a CPU-time limit); NULL: none. */
struct lpat_limits {
	uint64_t steps;
	void (*tick)(lua_State *L);
};

#define LPAT_DEFAULT_STEPS 10000000u
#define LPAT_STEPS_PER_BYTE 16u
#define LPAT_TICK 16384u

/* Sets string.find, match, gmatch and gsub in the table at the top of the
 * stack to the bounded ones. lim must outlive the state (it is kept as a
 * light userdata). */
void lpat_open(lua_State *L, const struct lpat_limits *lim);

#endif
