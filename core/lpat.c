/* lpat.c - Lua patterns with a step budget, for the policy sandbox.
 *
 * Lua's own matcher backtracks over quantified items without bound and runs
 * inside one VM instruction, where neither the instruction budget nor the
 * CPU-time limit (both checked by a count hook) can stop it:
 * ("a"):rep(3000):find("a*a*a*a*a*b") runs for years. This is a matcher
 * written from the Lua 5.4 reference manual (section 6.4.1, Patterns, and
 * the descriptions of string.find, match, gmatch and gsub) whose results
 * are Lua's, including its error messages, and which counts its steps:
 *  - a step is one item tried at one subject position (a single character,
 *    an anchor, a capture's start or end, a frontier), one character a
 *    quantifier or %b scans, or 32 bytes a back reference compares;
 *  - one call (one find, match or gsub, one step of a gmatch iterator) may
 *    take lim->steps steps plus LPAT_STEPS_PER_BYTE per byte of the subject,
 *    so that any pattern that is linear in its subject (gsub("%s+", " ") on
 *    megabytes) finishes, and a bomb stops after about a second at most;
 *    past it the call raises "string.NAME: pattern ... took more than N
 *    steps on a subject of M bytes";
 *  - every LPAT_TICK steps it calls lim->tick, which raises an error when
 *    the run is being stopped (SIGINT, SIGTERM) or the call's CPU time is
 *    spent, so a long match is as interruptible as Lua code.
 * The matcher only reads the subject and the pattern and keeps its state on
 * the C stack, so an error (a longjmp) from anywhere in it leaks nothing.
 */
#include "lpat.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#define MAXCAP 32        /* captures per pattern, as Lua's LUA_MAXCAPTURES */
#define MAXDEPTH 200     /* nested matches before "pattern too complex" */
#define CAP_OPEN (-1)    /* a capture whose ')' was not reached yet */
#define CAP_POS (-2)     /* a position capture, () */
#define SPECIALS "^$*+?.([%-"
/* the per-character functions, inlined into the matcher's loops (not
 * inlining them cost 25% on a policy doing gsub and gmatch) */
#define HOT static inline __attribute__((always_inline))

struct mstate {
	const char *s0, *se;   /* the subject */
	const char *pe;        /* the pattern's end */
	lua_State *L;
	int depth;             /* nested matches left */
	int ncap;
	struct {
		const char *at;
		ptrdiff_t len;     /* or CAP_OPEN, CAP_POS */
	} cap[MAXCAP];
	uint64_t steps, next, limit;
	const struct lpat_limits *lim;
	const char *fname;     /* "find", ... for the message */
	const char *pat;       /* the whole pattern, for the message */
};

/* ---- the step budget ---- */

static void over(struct mstate *m)
{
	if (m->steps >= m->limit) {
		char msg[256]; /* lua_pushfstring has no precision */
		snprintf(msg, sizeof msg,
			 "string.%s: pattern \"%.60s\" took more than %llu steps on a subject "
			 "of %zu bytes (it backtracks too much for this subject)",
			 m->fname, m->pat, (unsigned long long)m->limit, (size_t)(m->se - m->s0));
		luaL_error(m->L, "%s", msg);
	}
	if (m->lim->tick)
		m->lim->tick(m->L);
	m->next = m->steps + LPAT_TICK < m->limit ? m->steps + LPAT_TICK : m->limit;
}

static inline void step(struct mstate *m, uint64_t n)
{
	m->steps += n;
	if (m->steps >= m->next)
		over(m);
}

static void state_init(struct mstate *m, lua_State *L, const struct lpat_limits *lim,
		       const char *fname, const char *s, size_t ls, const char *p, size_t lp)
{
	m->L = L;
	m->lim = lim;
	m->fname = fname;
	m->pat = p;
	m->s0 = s;
	m->se = s + ls;
	m->pe = p + lp;
	uint64_t base = lim->steps ? lim->steps : LPAT_DEFAULT_STEPS;
	uint64_t per = (uint64_t)ls * LPAT_STEPS_PER_BYTE;
	m->limit = per / LPAT_STEPS_PER_BYTE != ls || base + per < base ? UINT64_MAX : base + per;
}

/* Before each attempt of a call: the budget is the call's, not the
 * attempt's. */
static void attempt_init(struct mstate *m)
{
	m->ncap = 0;
	m->depth = MAXDEPTH;
}

static void call_init(struct mstate *m)
{
	m->steps = 0;
	m->next = LPAT_TICK < m->limit ? LPAT_TICK : m->limit;
	attempt_init(m);
}

/* ---- single characters ---- */

/* %c for a class letter c (upper case: the complement); any other c stands
 * for itself. The hot path: a switch on c itself, not on tolower(c). */
HOT int in_class(int ch, int c)
{
	int r;
	switch (c) {
	case 'a': case 'A': r = isalpha(ch); break;
	case 'c': case 'C': r = iscntrl(ch); break;
	case 'd': case 'D': r = isdigit(ch); break;
	case 'g': case 'G': r = isgraph(ch); break;
	case 'l': case 'L': r = islower(ch); break;
	case 'p': case 'P': r = ispunct(ch); break;
	case 's': case 'S': r = isspace(ch); break;
	case 'u': case 'U': r = isupper(ch); break;
	case 'w': case 'W': r = isalnum(ch); break;
	case 'x': case 'X': r = isxdigit(ch); break;
	case 'z': case 'Z': r = ch == 0; break; /* deprecated in the manual, still in 5.4 */
	default: return c == ch;
	}
	return c >= 'a' ? r != 0 : r == 0;
}

/* The end of the single-character item at p ('%x', '[set]', or one
 * character). */
HOT const char *item_end(struct mstate *m, const char *p)
{
	char c = *p++;
	if (c == '%') {
		if (p >= m->pe)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c != '[')
		return p;
	if (*p == '^')
		p++;
	/* the set's first character is part of it even when it is ']' */
	do {
		if (p >= m->pe)
			luaL_error(m->L, "malformed pattern (missing ']')");
		c = *p++;
		if (c == '%' && p < m->pe)
			p++;
	} while (*p != ']');
	return p + 1;
}

/* ch in the set [ ... ] from p (at '[') to last (at its ']') */
static int in_set(int ch, const char *p, const char *last)
{
	int yes = 1;
	if (p[1] == '^') {
		yes = 0;
		p++;
	}
	for (p++; p < last; p++) {
		if (*p == '%') {
			p++;
			if (in_class(ch, (unsigned char)*p))
				return yes;
		} else if (p[1] == '-' && p + 2 < last) {
			if ((unsigned char)p[0] <= ch && ch <= (unsigned char)p[2])
				return yes;
			p += 2;
		} else if ((unsigned char)*p == ch) {
			return yes;
		}
	}
	return !yes;
}

/* Whether the subject character at s matches the item p..ep. */
HOT int item_match(const struct mstate *m, const char *s, const char *p, const char *ep)
{
	if (s >= m->se)
		return 0;
	int ch = (unsigned char)*s;
	switch (*p) {
	case '.': return 1;
	case '%': return in_class(ch, (unsigned char)p[1]);
	case '[': return in_set(ch, p, ep - 1);
	default: return (unsigned char)*p == ch;
	}
}

/* ---- matching ---- */

static const char *match(struct mstate *m, const char *s, const char *p);

/* item* or item+ (from s): the longest run first, then shorter ones */
static const char *greedy(struct mstate *m, const char *s, const char *p, const char *ep)
{
	ptrdiff_t n = 0;
	while (item_match(m, s + n, p, ep))
		n++;
	step(m, (uint64_t)n); /* the scan, counted once: it is linear */
	for (; n >= 0; n--) {
		const char *r = match(m, s + n, ep + 1);
		if (r)
			return r;
	}
	return NULL;
}

/* item-: the shortest run first */
static const char *lazy(struct mstate *m, const char *s, const char *p, const char *ep)
{
	for (;;) {
		const char *r = match(m, s, ep + 1);
		if (r)
			return r;
		if (!item_match(m, s, p, ep))
			return NULL;
		s++; /* each try is a match(), which counts */
	}
}

static const char *open_cap(struct mstate *m, const char *s, const char *p, ptrdiff_t what)
{
	if (m->ncap >= MAXCAP)
		luaL_error(m->L, "too many captures");
	m->cap[m->ncap].at = s;
	m->cap[m->ncap].len = what;
	m->ncap++;
	const char *r = match(m, s, p);
	if (!r)
		m->ncap--;
	return r;
}

static const char *close_cap(struct mstate *m, const char *s, const char *p)
{
	int i = m->ncap - 1;
	while (i >= 0 && m->cap[i].len != CAP_OPEN)
		i--;
	if (i < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[i].len = s - m->cap[i].at;
	const char *r = match(m, s, p);
	if (!r)
		m->cap[i].len = CAP_OPEN;
	return r;
}

/* %bxy at s */
static const char *balanced(struct mstate *m, const char *s, const char *p)
{
	if (p + 1 >= m->pe)
		luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= m->se || *s != p[0])
		return NULL;
	int open = 1;
	for (const char *q = s + 1; q < m->se; q++) {
		step(m, 1);
		if (*q == p[1]) {
			if (--open == 0)
				return q + 1;
		} else if (*q == p[0]) {
			open++;
		}
	}
	return NULL;
}

/* %0 to %9 at s */
static const char *backref(struct mstate *m, const char *s, int c)
{
	int i = c - '1';
	if (i < 0 || i >= m->ncap || m->cap[i].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", i + 1);
	if (m->cap[i].len == CAP_POS)
		return NULL; /* as in Lua: a position is never found in the subject */
	size_t len = (size_t)m->cap[i].len;
	step(m, len / 32);
	if ((size_t)(m->se - s) >= len && memcmp(m->cap[i].at, s, len) == 0)
		return s + len;
	return NULL;
}

/* A single-character item at p, maybe quantified, at s: the end of the match
 * of the rest, or NULL; *p_next is set instead when the match goes on at
 * (*s_next, *p_next) without a nested call (returns s_next then). */
static const char *item(struct mstate *m, const char *s, const char *p, const char **sn,
			const char **pn)
{
	const char *ep = item_end(m, p);
	char q = ep < m->pe ? *ep : 0;
	if (!item_match(m, s, p, ep)) {
		if (q == '*' || q == '?' || q == '-') { /* zero of them */
			*sn = s;
			*pn = ep + 1;
			return s;
		}
		return NULL;
	}
	switch (q) {
	case '?': {
		const char *r = match(m, s + 1, ep + 1);
		if (r)
			return r;
		*sn = s;
		*pn = ep + 1;
		return s;
	}
	case '+': return greedy(m, s + 1, p, ep);
	case '*': return greedy(m, s, p, ep);
	case '-': return lazy(m, s, p, ep);
	default:
		*sn = s + 1;
		*pn = ep;
		return s + 1;
	}
}

/* The end of the match of pattern p at s, or NULL. */
static const char *match(struct mstate *m, const char *s, const char *p)
{
	if (m->depth-- == 0)
		luaL_error(m->L, "pattern too complex");
	for (;;) {
		step(m, 1);
		if (p == m->pe)
			break;
		switch (*p) {
		case '(':
			s = p + 1 < m->pe && p[1] == ')' ? open_cap(m, s, p + 2, CAP_POS)
							  : open_cap(m, s, p + 1, CAP_OPEN);
			goto out;
		case ')':
			s = close_cap(m, s, p + 1);
			goto out;
		case '$':
			if (p + 1 != m->pe)
				break; /* a literal '$' */
			if (s != m->se)
				s = NULL;
			goto out;
		case '%':
			if (p + 1 >= m->pe)
				break; /* item_end raises the error */
			if (p[1] == 'b') {
				s = balanced(m, s, p + 2);
				if (!s)
					goto out;
				p += 4;
				continue;
			}
			if (p[1] == 'f') {
				p += 2;
				if (*p != '[')
					luaL_error(m->L, "missing '[' after '%%f' in pattern");
				const char *ep = item_end(m, p);
				int prev = s == m->s0 ? 0 : (unsigned char)s[-1];
				int cur = s < m->se ? (unsigned char)*s : 0;
				if (in_set(prev, p, ep - 1) || !in_set(cur, p, ep - 1)) {
					s = NULL;
					goto out;
				}
				p = ep;
				continue;
			}
			if (isdigit((unsigned char)p[1])) {
				s = backref(m, s, (unsigned char)p[1]);
				if (!s)
					goto out;
				p += 2;
				continue;
			}
			break;
		default:
			break;
		}
		/* a single-character item, maybe quantified */
		const char *sn = NULL, *pn = NULL;
		const char *r = item(m, s, p, &sn, &pn);
		if (!pn) {
			s = r;
			goto out;
		}
		s = sn;
		p = pn;
	}
out:
	m->depth++;
	return s;
}

/* ---- captures to Lua values ---- */

/* Capture i as a string in *cap with its length, or CAP_POS (its position
 * pushed). i == 0 with no captures: the whole match s..e. */
static ptrdiff_t capture(struct mstate *m, int i, const char *s, const char *e,
			 const char **cap)
{
	if (i >= m->ncap) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		*cap = s;
		return e - s;
	}
	ptrdiff_t len = m->cap[i].len;
	*cap = m->cap[i].at;
	if (len == CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (len == CAP_POS)
		lua_pushinteger(m->L, (m->cap[i].at - m->s0) + 1);
	return len;
}

static void push_capture(struct mstate *m, int i, const char *s, const char *e)
{
	const char *cap;
	ptrdiff_t len = capture(m, i, s, e, &cap);
	if (len != CAP_POS)
		lua_pushlstring(m->L, cap, (size_t)len);
}

/* The captures, or the whole match when there are none and s is set. */
static int push_captures(struct mstate *m, const char *s, const char *e)
{
	int n = m->ncap == 0 && s ? 1 : m->ncap;
	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

/* ---- the library functions ---- */

static const struct lpat_limits *limits(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* init (1-based, negative from the end) to an offset; may exceed len */
static size_t start_at(lua_Integer i, size_t len)
{
	if (i > 0)
		return (size_t)i - 1;
	if (i == 0 || i < -(lua_Integer)len)
		return 0;
	return (size_t)((lua_Integer)len + i);
}

static int has_specials(const char *p, size_t lp)
{
	for (size_t i = 0; i < lp; i++)
		if (strchr(SPECIALS, p[i]) && p[i])
			return 1;
	return 0;
}

static const char *find_plain(const char *s, size_t ls, const char *p, size_t lp)
{
	if (lp == 0)
		return s;
	if (lp > ls)
		return NULL;
	const char *end = s + (ls - lp) + 1;
	while (s < end) {
		const char *c = memchr(s, *p, (size_t)(end - s));
		if (!c)
			return NULL;
		if (memcmp(c + 1, p + 1, lp - 1) == 0)
			return c;
		s = c + 1;
	}
	return NULL;
}

static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = start_at(luaL_optinteger(L, 3, 1), ls);
	if (init > ls) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		const char *at = find_plain(s + init, ls - init, p, lp);
		if (!at) {
			luaL_pushfail(L);
			return 1;
		}
		lua_pushinteger(L, (at - s) + 1);
		lua_pushinteger(L, (lua_Integer)((at - s) + lp));
		return 2;
	}
	struct mstate m;
	state_init(&m, L, limits(L), find ? "find" : "match", s, ls, p, lp);
	int anchor = lp > 0 && *p == '^';
	if (anchor)
		p++;
	call_init(&m);
	const char *at = s + init;
	do {
		attempt_init(&m);
		const char *e = match(&m, at, p);
		if (e) {
			if (!find)
				return push_captures(&m, at, e);
			lua_pushinteger(L, (at - s) + 1);
			lua_pushinteger(L, e - s);
			return push_captures(&m, NULL, NULL) + 2;
		}
	} while (at++ < m.se && !anchor);
	luaL_pushfail(L);
	return 1;
}

static int l_find(lua_State *L) { return find_or_match(L, 1); }
static int l_match(lua_State *L) { return find_or_match(L, 0); }

/* gmatch's iterator state: a full userdata, upvalue 3 of the iterator (1
 * and 2 keep the subject and the pattern alive, 4 is the limits) */
struct gm {
	const char *next;      /* where to try next */
	const char *last;      /* the end of the last match, not matched empty again */
};

static int gmatch_step(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
	struct gm *g = lua_touserdata(L, lua_upvalueindex(3));
	struct mstate m;
	state_init(&m, L, lua_touserdata(L, lua_upvalueindex(4)), "gmatch", s, ls, p, lp);
	call_init(&m);
	for (const char *at = g->next; at <= m.se; at++) {
		attempt_init(&m);
		const char *e = match(&m, at, p);
		if (e && e != g->last) {
			g->next = g->last = e;
			return push_captures(&m, at, e);
		}
	}
	return 0;
}

static int l_gmatch(lua_State *L)
{
	size_t ls;
	const char *s = luaL_checklstring(L, 1, &ls);
	luaL_checkstring(L, 2);
	size_t init = start_at(luaL_optinteger(L, 3, 1), ls);
	if (init > ls)
		init = ls + 1; /* past the end: no match */
	lua_settop(L, 2);
	struct gm *g = lua_newuserdatauv(L, sizeof *g, 0);
	g->next = s + init;
	g->last = NULL;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushcclosure(L, gmatch_step, 4);
	return 1;
}

/* The replacement string (argument 3) for the match s..e, with %0-%9 and %% */
static void repl_string(struct mstate *m, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = m->L;
	size_t l;
	const char *r = lua_tolstring(L, 3, &l);
	const char *pc;
	while ((pc = memchr(r, '%', l)) != NULL) {
		luaL_addlstring(b, r, (size_t)(pc - r));
		pc++;
		if (*pc == '%') {
			luaL_addchar(b, '%');
		} else if (*pc == '0') {
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (isdigit((unsigned char)*pc)) {
			const char *cap;
			ptrdiff_t len = capture(m, *pc - '1', s, e, &cap);
			if (len == CAP_POS)
				luaL_addvalue(b);
			else
				luaL_addlstring(b, cap, (size_t)len);
		} else {
			luaL_error(L, "invalid use of '%c' in replacement string", '%');
		}
		l -= (size_t)(pc + 1 - r);
		r = pc + 1;
	}
	luaL_addlstring(b, r, l);
}

/* Appends the replacement of s..e; 0 when it kept the match as it was. */
static int replace(struct mstate *m, luaL_Buffer *b, const char *s, const char *e, int tr)
{
	lua_State *L = m->L;
	if (tr == LUA_TFUNCTION) {
		lua_pushvalue(L, 3);
		int n = push_captures(m, s, e);
		lua_call(L, n, 1);
	} else if (tr == LUA_TTABLE) {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	} else {
		repl_string(m, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) { /* nil or false: the match stays */
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int l_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	int tr = lua_type(L, 3);
	lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
			     tr == LUA_TTABLE, 3, "string/function/table");
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	struct mstate m;
	state_init(&m, L, limits(L), "gsub", s, ls, p, lp);
	int anchor = lp > 0 && *p == '^';
	if (anchor)
		p++;
	call_init(&m);
	const char *at = s, *last = NULL;
	lua_Integer n = 0;
	int changed = 0;
	while (n < max) {
		attempt_init(&m);
		const char *e = match(&m, at, p);
		if (e && e != last) {
			n++;
			changed |= replace(&m, &b, at, e, tr);
			at = last = e;
		} else if (at < m.se) {
			luaL_addchar(&b, *at++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		luaL_addlstring(&b, at, (size_t)(m.se - at));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

void lpat_open(lua_State *L, const struct lpat_limits *lim)
{
	static const luaL_Reg fns[] = {
		{"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub},
		{NULL, NULL}};
	lua_pushlightuserdata(L, (void *)lim);
	luaL_setfuncs(L, fns, 1);
}
