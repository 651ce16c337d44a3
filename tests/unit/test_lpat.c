/* test_lpat.c - lpat.c's string.find, match, gmatch and gsub give exactly
 * stock Lua's results (values, captures, counts, error messages) on a table
 * of cases and on random patterns and subjects; a pattern bomb stops with
 * its message after the step budget; the tick is called during a long match
 * and its error ends it; a large subject with gsub("%s+") works. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "lpat.h"

/* S: stock string functions; P: lpat's. compare(fn, ...) returns nil when
 * both give the same results (or the same error), else a description. */
/* result(fn, ...): what string[fn](...) gives (values, or the error), as text;
 * gmatch: every step of the iterator. The same chunk runs in a stock state
 * and in one whose string table has lpat's functions, as the sandbox does. */
static const char prelude[] =
	"local function show(t)\n"
	"  local o = {}\n"
	"  for i = 1, t.n do\n"
	"    local v = t[i]\n"
	"    o[#o + 1] = type(v) == 'string' and string.format('%q', v) or tostring(v)\n"
	"  end\n"
	"  return '(' .. table.concat(o, ', ') .. ')'\n"
	"end\n"
	"local function collect(it)\n"
	"  local out = {}\n"
	"  while true do\n"
	"    local r = table.pack(it())\n"
	"    if r[1] == nil then break end\n"
	"    out[#out + 1] = show(r)\n"
	"    if #out > 1000 then break end\n"
	"  end\n"
	"  return table.concat(out, ' ')\n"
	"end\n"
	"function result(fn, ...)\n"
	"  if fn == 'gmatch' then\n"
	"    local ok, it = pcall(string.gmatch, ...)\n"
	"    if not ok then return show(table.pack(false, it)) end\n"
	"    return show(table.pack(pcall(collect, it)))\n"
	"  end\n"
	"  return show(table.pack(pcall(string[fn], ...)))\n"
	"end\n"
	"function describe(fn, ...)\n"
	"  return fn .. show(table.pack(...))\n"
	"end\n";

/* {fn, subject, pattern, third, fourth}: third and fourth are Lua
 * expressions (or NULL), for init, plain, replacements and counts */
static const char cases[] =
	"local function C(...) return table.pack(...) end\n"
	"return {\n"
	/* find: plain, init, anchors, captures, classes, sets */
	" C('find', 'hello world', 'o w'), C('find', 'hello', 'l'), C('find', 'hello', ''),\n"
	" C('find', '', ''), C('find', '', 'a'),\n"
	" C('find', 'hello', '', 10), C('find', 'hello', '', 6),\n"
	" C('find', 'hello', 'l', -2), C('find', 'hello', 'l', -100), C('find', 'hello', 'l', 0),\n"
	" C('find', 'a.b', '.', 1, true), C('find', 'a.b', '.'), C('find', 'a+b', '+', 1, true),\n"
	" C('find', 'a+b', '%+'), C('find', 'hello', '^h'), C('find', 'hello', '^e'),\n"
	" C('find', 'hello', 'o$'), C('find', 'hello', 'l$'), C('find', 'a$b', '$b'),\n"
	" C('find', 'a^b', 'a^'), C('find', 'hello', '(l)(l)'), C('find', 'hello', '()ll()'),\n"
	" C('find', 'key = value', '(%w+)%s*=%s*(%w+)'),\n"
	" C('find', 'x', '[]]'), C('find', ']', '[]]'),\n"
	" C('find', 'a-b', '[a-]'), C('find', '-', '[a-]'),\n"
	" C('find', 'b', '[^a]'), C('find', 'a', '[^a]'),\n"
	" C('find', '^', '[%^]'), C('find', 'x5', '[%d]'),\n"
	" C('find', 'x5', '[^%D]'), C('find', 'Z', '[a-z]'),\n"
	" C('find', 'THE (quick) fox', '%((%a+)%)'), C('find', 'f(a(b)c)d', '%b()'),\n"
	" C('find', 'f(a(b)c', '%b()'), C('find', 'THE (quick) fox', '%f[%a]%a+'),\n"
	" C('find', 'hello', '%f[%l]'),\n"
	" C('find', 'hello', '%f[%z]'), C('find', 'THE END', '%f[%u]%u+$'),\n"
	" C('find', 'abcabc', '(abc)%1'),\n"
	" C('find', 'abcab', '(abc)%1'), C('find', 'aXa', '(a)X%1'),\n"
	" C('find', '\\0a\\0', '%z'), C('find', 'a\\0b', '\\0'), C('find', 'a\\0b', '[\\0]'),\n"
	" C('find', 'a\\0b', '.\\0.'), C('find', 'abc', 'b', 1.0),\n"
	" C('find', 123456, 45), C('find', 'x', 'x', '1'),\n"
	/* match: quantifiers */
	" C('match', 'aaab', 'a*'), C('match', 'aaab', 'a+'), C('match', 'aaab', 'a-b'),\n"
	" C('match', 'aaab', 'a?a?b'), C('match', 'b', 'a?b'), C('match', 'aaa', 'a-$'),\n"
	" C('match', '  trim me  ', '^%s*(.-)%s*$'), C('match', 'job-42', '^(%a+)-(%d+)$'),\n"
	" C('match', '2026-12-04', '(%d+)-(%d+)-(%d+)'), C('match', 'no digits', '%d+'),\n"
	" C('match', 'abc', '()'), C('match', 'abc', '()', 4), C('match', 'abc', '()', 5),\n"
	" C('match', 'abc', '(a)(b)(c)'),\n"
	" C('match', 'abc', '((a)(b))'), C('match', 'x=1, y=2', '(%w+)=(%w+)', 5),\n"
	" C('match', 'hello', '.-'), C('match', 'hello', '.*'), C('match', 'hello', '[aeiou]+'),\n"
	" C('match', 'Hello World', '%u%l+'),\n"
	" C('match', '\\t x', '%s*()'), C('match', 'a.b.c', '^(.-)%.'),\n"
	" C('match', 'a.b.c', '^(.*)%.'),\n"
	" C('match', '[[x]]', '%[(%b[])%]'), C('match', 'ab', '[a-]+'),\n"
	" C('match', 'a%b', '%%'), C('match', 'punct!?', '%p+'), C('match', 'ctrl\\1\\2', '%c+'),\n"
	" C('match', 'hex 0xFF', '0x(%x+)'),\n"
	" C('match', 'g ~', '%g'), C('match', 'aaa', 'a-a-a-$'),\n"
	" C('match', 'é', '[\\195][\\169]'), C('match', '\\255\\128', '[\\128-\\255]+'),\n"
	/* gmatch */
	" C('gmatch', 'a b c', '%a'),\n"
	" C('gmatch', 'one two  three', '%a+'), C('gmatch', 'k=v, a=b', '(%w+)=(%w+)'),\n"
	" C('gmatch', 'abc', ''), C('gmatch', 'abc', '()'),\n"
	" C('gmatch', 'abc', 'x*'), C('gmatch', 'abc', '.-'),\n"
	" C('gmatch', 'a^b', '^.'),\n"
	" C('gmatch', 'hello world', 'o', 6), C('gmatch', 'abc', '.', -2),\n"
	" C('gmatch', 'abc', '.', 10),\n"
	" C('gmatch', '', ''), C('gmatch', 'THE (quick) (brown)', '%b()'),\n"
	" C('gmatch', 'THE quick brown', '%f[%w]%w+'), C('gmatch', 'a,b,,c', '([^,]*)'),\n"
	/* gsub: strings, %0-%9, tables, functions, counts, anchors */
	" C('gsub', 'hello world', 'o', '0'),\n"
	" C('gsub', 'hello world', 'o', '0', 1), C('gsub', 'hello', '', '-'),\n"
	" C('gsub', 'hello world', '(%w+)', '<%1>'), C('gsub', 'hello world', '%w+', '%0 %0'),\n"
	" C('gsub', 'hello world', '(%w+) (%w+)', '%2 %1'), C('gsub', 'abc', '%w', '%%'),\n"
	" C('gsub', 'abc', '%w', '%1'),\n"
	" C('gsub', 'abc', '()b', '%1'), C('gsub', 'x  y', '%s+', ' '),\n"
	" C('gsub', '  lead', '^%s+', ''),\n"
	" C('gsub', 'aaa', '^a', 'b'), C('gsub', 'abc', 'b*', '-'),\n"
	" C('gsub', 'abc', '.', {a = 1, b = true}), C('gsub', 'abc', '.', {a = 'A', b = false}),\n"
	" C('gsub', 'abc', '(.)', string.upper), C('gsub', 'abc', '.', function() end),\n"
	" C('gsub', 'a1b2', '%d', function(d) return d * 2 end),\n"
	" C('gsub', 'abc', '(a)(b)', function(x, y) return y .. x end),\n"
	" C('gsub', 'abc', '()', function(p) return p end), C('gsub', 'abc', '', '%0'),\n"
	" C('gsub', 'abc', 'b', 5),\n"
	" C('gsub', 'abc', 'b', 'x', 0), C('gsub', 'abc', 'b', 'x', -1),\n"
	" C('gsub', 'hello', 'l+', {ll = 'LL'}), C('gsub', 'a b', '%s', '%%s'),\n"
	" C('gsub', '$x and $y', '%$(%w+)', {x = 'one', y = 'two'}),\n"
	/* errors: the same messages */
	" C('find', 'a', '%'), C('find', 'a', '[a'), C('find', 'a', '[a%'), C('find', 'a', '[%'),\n"
	" C('find', 'a', '(a'), C('find', 'a', 'a)'),\n"
	" C('find', 'a', '%1'), C('find', 'aa', '(a)%2'),\n"
	" C('find', 'a', '(a%1)'), C('find', 'a', '%b'),\n"
	" C('find', 'a', '%ba'), C('find', 'a', '%fa'),\n"
	" C('find', 'a', '%0'),\n"
	" C('match', 'a', string.rep('()', 33)), C('match', 'a', string.rep('(', 40)),\n"
	" C('match', string.rep('a', 300), string.rep('a?', 300)),\n"
	" C('find', nil, 'a'), C('find', 'a'),\n"
	" C('find', 'a', 'a', 'x'), C('match', {}, 'a'), C('gmatch', 'a'), C('gsub', 'a', 'a'),\n"
	" C('gsub', 'a', 'a', true), C('gsub', 'abc', '%w', '%2'), C('gsub', 'abc', '%w', '%'),\n"
	" C('gsub', 'abc', '%w', '%x'),\n"
	" C('gsub', 'abc', '.', {a = {}}), C('gsub', 'abc', '.', function() return {} end),\n"
	" C('gsub', 'abc', '(', 'x'),\n"
	" C('gsub', 'abc', '.', 'x', 'y'), C('gsub', 'abc', '(b)', {b = 1.5}),\n"
	"}\n";

/* Random patterns over a small alphabet against random short subjects:
 * short enough that stock Lua's backtracking stays cheap. */
static const char fuzz[] =
	"local items = { 'a', 'b', '.', '%a', '%d', '%s', '[ab]', '[^a]', '[a-c]', '%%', 'x',\n"
	"  '(', ')', '()', '%1', '%b()', '%f[%a]', '$', '^', '*', '+', '-', '?', '[', '%' }\n"
	"local chars = { 'a', 'b', 'c', '1', ' ', '(', ')', 'x', '%' }\n"
	"local seed = 12345\n"
	"local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end\n"
	"local out = {}\n"
	"for i = 1, 6000 do\n"
	"  local p, s = {}, {}\n"
	"  for j = 1, rnd(6) do p[#p + 1] = items[rnd(#items)] end\n"
	"  for j = 1, rnd(10) - 1 do s[#s + 1] = chars[rnd(#chars)] end\n"
	"  p, s = table.concat(p), table.concat(s)\n"
	"  local fns = { 'find', 'match', 'gmatch', 'gsub' }\n"
	"  local fn = fns[rnd(4)]\n"
	"  if fn == 'gsub' then out[i] = describe(fn, s, p) .. ' ' .. result(fn, s, p, '<%0>')\n"
	"  else out[i] = describe(fn, s, p) .. ' ' .. result(fn, s, p) end\n"
	"end\n"
	"return out\n";

/* A state with the prelude; lim: lpat's functions in its string table. */
static lua_State *state(struct lpat_limits *lim)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	if (lim) {
		lua_getglobal(L, "string");
		lpat_open(L, lim);
		lua_pop(L, 1);
	}
	if (luaL_dostring(L, prelude) != LUA_OK) {
		printf("# prelude: %s\n", lua_tostring(L, -1));
		exit(1);
	}
	return L;
}

static int ticks;
static void tick_count(lua_State *L)
{
	(void)L;
	ticks++;
}
static void tick_stop(lua_State *L)
{
	luaL_error(L, "stopped by the tick");
}

/* Runs chunk in L; returns its string result (static) or the error. */
static const char *eval(lua_State *L, const char *chunk)
{
	static char out[4096];
	if (luaL_dostring(L, chunk) != LUA_OK)
		snprintf(out, sizeof out, "error: %s", lua_tostring(L, -1));
	else
		snprintf(out, sizeof out, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(nil)");
	lua_settop(L, 0);
	return out;
}

/* Case i of the table at the top of L (its result, or its description). */
static const char *case_text(lua_State *L, int i, const char *fn, char *out, size_t n)
{
	lua_rawgeti(L, -1, i);
	int t = lua_gettop(L);
	lua_getfield(L, t, "n");
	int k = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	lua_getglobal(L, fn);
	for (int j = 1; j <= k; j++)
		lua_rawgeti(L, t, j);
	lua_call(L, k, 1);
	snprintf(out, n, "%s", lua_tostring(L, -1));
	lua_settop(L, t - 1);
	return out;
}

int main(void)
{
	struct lpat_limits lim = {0, NULL};
	lua_State *A = state(NULL), *B = state(&lim);

	/* the table of cases, in both states */
	if (luaL_dostring(A, cases) != LUA_OK || luaL_dostring(B, cases) != LUA_OK) {
		printf("# cases: %s\n", lua_tostring(A, -1));
		return 1;
	}
	int ncases = (int)luaL_len(A, -1), nsame = 0;
	for (int i = 1; i <= ncases; i++) {
		char a[2048], b[2048], d[512];
		case_text(A, i, "result", a, sizeof a);
		case_text(B, i, "result", b, sizeof b);
		if (strcmp(a, b) == 0)
			nsame++;
		else
			printf("# differs: %s: stock %s, lpat %s\n",
			       case_text(A, i, "describe", d, sizeof d), a, b);
	}
	lua_settop(A, 0);
	lua_settop(B, 0);
	CHECK(ncases > 150 && nsame == ncases, "%d of %d cases give stock Lua's results", nsame, ncases);

	/* random patterns */
	if (luaL_dostring(A, fuzz) != LUA_OK || luaL_dostring(B, fuzz) != LUA_OK) {
		printf("# fuzz: %s\n", lua_tostring(A, -1));
		return 1;
	}
	int nf = (int)luaL_len(A, -1), fsame = 0, shown = 0;
	for (int i = 1; i <= nf; i++) {
		lua_rawgeti(A, -1, i);
		lua_rawgeti(B, -1, i);
		if (strcmp(lua_tostring(A, -1), lua_tostring(B, -1)) == 0)
			fsame++;
		else if (shown++ < 10)
			printf("# differs: stock %s, lpat %s\n", lua_tostring(A, -1), lua_tostring(B, -1));
		lua_pop(A, 1);
		lua_pop(B, 1);
	}
	CHECK(nf == 6000 && fsame == nf, "%d of %d random patterns and subjects give stock Lua's results",
	      fsame, nf);
	lua_close(A);

	/* a large subject with an ordinary pattern: the same result as stock */
	const char *r = eval(B, "local s = string.rep('word \\t\\n  ', 400000)\n"
				"local a, n = s:gsub('%s+', ' ')\n"
				"local b = string.rep('word ', 400000)\n"
				"return (a == b and n == 400000) and 'same' or 'differs'");
	CHECK(strcmp(r, "same") == 0, "gsub('%%s+', ' ') on a 4.4 MB subject works (%s)", r);
	r = eval(B, "local s = string.rep('x', 20000) .. 'y'\n"
		    "return tostring(s:find('x*y'))");
	CHECK(strcmp(r, "1") == 0, "an ordinary quadratic pattern on 20 KB works (%s)", r);

	/* the bomb from issue 18, with the default budget: stopped, named */
	r = eval(B, "local s = string.rep('a', 3000); return s:find('a*a*a*a*a*b')");
	CHECK(strstr(r, "string.find: pattern \"a*a*a*a*a*b\" took more than 10048000 steps "
			"on a subject of 3000 bytes") != NULL,
	      "the pattern bomb stops at the default budget with its message (%s)", r);
	lua_close(B);

	/* a smaller budget: the configured steps plus 16 per byte */
	lim.steps = 1000;
	B = state(&lim);
	r = eval(B, "return string.match(string.rep('a', 100), '(a*)(a*)(a*)b')");
	CHECK(strstr(r, "string.match: pattern \"(a*)(a*)(a*)b\" took more than 2600 steps on a "
			"subject of 100 bytes") != NULL,
	      "the budget is the configured steps plus 16 per byte (%s)", r);
	r = eval(B, "local n = 0; for x in string.rep('a', 300):gmatch('a*a*a*b') do n = n + 1 end");
	CHECK(strstr(r, "string.gmatch: pattern") != NULL, "a gmatch bomb stops too (%s)", r);
	r = eval(B, "return string.gsub(string.rep('ab', 200), '(.-)(.-)(.-)(.-)x', '')");
	CHECK(strstr(r, "string.gsub: pattern") != NULL, "a gsub bomb stops too (%s)", r);
	lua_close(B);

	/* the tick runs during a long match, and its error ends the match */
	lim.steps = 10000000;
	lim.tick = tick_count;
	B = state(&lim);
	ticks = 0;
	r = eval(B, "return string.find(string.rep('a', 3000), 'a*a*a*a*a*b')");
	CHECK(ticks >= (int)(10000000 / LPAT_TICK) - 1, "the tick is called every %u steps (%d calls)",
	      LPAT_TICK, ticks);
	lua_close(B);
	lim.tick = tick_stop;
	B = state(&lim);
	r = eval(B, "return string.find(string.rep('a', 3000), 'a*a*a*a*a*b')");
	CHECK(strstr(r, "stopped by the tick") != NULL, "an error from the tick ends the match (%s)",
	      r);
	/* and a short match never calls it */
	r = eval(B, "return tostring(string.find('hello', 'l+'))");
	CHECK(strcmp(r, "3") == 0, "a short match does not call the tick (%s)", r);
	lua_close(B);
	return check_done();
}
