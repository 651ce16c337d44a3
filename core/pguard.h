/* pguard.h - bounds on the sandbox's C functions that loop inside one Lua
 * instruction (string.rep, table.move, pattern matching); see pguard.c. */
#ifndef GBX_PGUARD_H
#define GBX_PGUARD_H

#include <stddef.h>
#include <lua.h>
#include <lualib.h>

struct lpat_limits;

/* Replaces string.rep and table.move in the state's global string and table
 * libraries (which the string metatable shares) with bounded wrappers, and
 * string.find, match, gmatch and gsub with lpat.c's, bounded by lim (which
 * must outlive the state). Call protected, after opening them. */
void pguard_open(lua_State *L, const struct lpat_limits *lim);

#endif
