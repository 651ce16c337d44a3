/* pguard.h - bounds on the sandbox's C functions that loop inside one Lua
 * instruction (string.rep, table.move, pattern matching); see pguard.c. */
#ifndef GBX_PGUARD_H
#define GBX_PGUARD_H

#include <stddef.h>
#include <lua.h>
#include <lualib.h>

/* Replaces string.rep, find, match, gmatch, gsub and table.move in the
 * state's global string and table libraries (which the string metatable
 * shares) with bounded wrappers. Call protected, after opening them. */
void pguard_open(lua_State *L);

/* The worst-case steps of matching a pattern on a subject of n bytes from
 * every start (one start when anchor_ok and the pattern starts with '^'). */
double pguard_cost(const char *pat, size_t plen, size_t n, int anchor_ok);

#endif
