/* policy_int.h - the policy host's internals, shared by policy.c (state,
 * limits, reporting, loading), policy_view.c (the task view),
 * policy_sandbox.c (the sandbox globals, plugins' functions) and
 * policy_calls.c (the calls per kind, gearbox check) and by no one else. */
#ifndef GBX_POLICY_INT_H
#define GBX_POLICY_INT_H

#include "policy.h"

#include <stdatomic.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lpat.h"
#include "pguard.h"

#define DEFAULT_BUDGET 1000000
#define DEFAULT_DEADLINE_MS 3000
#define HOOK_STEP 1000         /* instructions between two looks at the clock */
#define DEFAULT_MEM_CAP ((size_t)64 << 20)
#define DEFAULT_INTERVAL_MS 500
#define MIN_INTERVAL_MS 10
#define MAX_CFN_ARGS 16
#define META_MAX_DEPTH 200

/* The permanent stack slots. */
enum { IDX_VIEW = 1, IDX_MSGH = 2, BASE = 2 };

/* Problem classes: each is reported once per kind. */
enum { PB_ERROR = 0, PB_BUDGET, PB_MEMORY, PB_RETURN, PB_TIME };

/* Why the hook stopped a call. */
enum { OVR_NONE = 0, OVR_BUDGET, OVR_TIME, OVR_STOP };

/* Task view fields, in the order of the interned name pointers. */
enum vfield {
	VF_ID, VF_KIND, VF_PRIORITY, VF_DEADLINE, VF_EST, VF_CLASS, VF_TARGET,
	VF_ATTEMPTS, VF_CHAIN, VF_RETRIES, VF_TIMEOUT, VF_TAGS, VF_META, VF_RESOURCES, NVF
};
static const char *const vf_name[NVF] = {
	"id",	   "kind",  "priority", "deadline_ms", "est_ms",     "class", "target",
	"attempts", "chain", "retries",  "timeout_ms",  "tags", "meta", "resources"};

/* The full userdata behind every `task` argument. gen changes with every
 * call, so tags and meta tables built on access (kept as the userdata's user
 * values 1 and 2) are reused within one call and rebuilt in the next. */
struct view {
	const struct task *t;
	uint32_t gen, tags_gen, meta_gen;
};

struct slot {
	char *file;            /* as given to policy_load; NULL: none loaded */
	int fn;                /* registry ref of key / decide, or LUA_NOREF */
	int admit;             /* scheduling: registry ref of the optional admit, or LUA_NOREF */
	int line;              /* where fn is defined (0: unknown) */
	int64_t interval_ms;   /* scaling only */
	unsigned reported;     /* bit per problem class already reported */
	int off;               /* a call overran its deadline: fall back without calling
	                          until the file is loaded again */
	uint64_t fallbacks;
};

struct policy {
	lua_State *L;
	struct policy_opts o;
	size_t mem_used, mem_cap;
	int budget;
	int overrun;           /* OVR_*: why the hook stopped this call */
	int used;              /* instructions counted by the hook in this call */
	int64_t deadline_ms;   /* wall-clock limit of one call */
	int64_t deadline_ns;   /* when to look at this call's CPU time, on now_ns() */
	int64_t cpu0_ns;       /* the thread's CPU time when the call started */
	atomic_int stop;       /* policy_interrupt: every call stops at its next hook */
	int load_ref;          /* Lua's own `load`, for the per-file wrappers */
	int envmt_ref;         /* { __index = sandbox globals } */
	struct lpat_limits pat; /* string.find, ...: the matcher's steps and tick */
	struct view *view;
	const char *vf[NVF];   /* interned field names, kept alive by the registry */
	struct slot k[POL_NKINDS];
	const struct res_plan *res; /* the run's admission plan, for views and changes, or NULL */
	const int64_t *est;    /* est_ms from history per task, or NULL */
	/* the last error, filled by the message handler */
	char ewhere[512];
	int eline;
	char emsg[1024];
	/* policy_check: problems go to check_out instead of report */
	struct buf *check_out;
	size_t check_start;
	int check_n;
};

static inline struct policy *host(lua_State *L)
{
	return *(struct policy **)lua_getextraspace(L);
}


/* policy.c: limits and reporting */
void pol_arm(struct policy *p);
int pol_msgh(lua_State *L);
void pol_problem(struct policy *p, int kind, int cls, const char *where, int line,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void pol_pattern_tick(lua_State *L);
void pol_call_failed(struct policy *p, int kind, int st);
const char *pol_type_phrase(lua_State *L, int idx, char *buf, size_t n);

/* policy_view.c */
int pol_view_index(lua_State *L);
int pol_view_newindex(lua_State *L);
int pol_view_tostring(lua_State *L);
void pol_view_set(struct policy *p, const struct task *t);

/* policy_sandbox.c */
int pol_sb_load(lua_State *L);
int pol_sb_print(lua_State *L);
int pol_init_body(lua_State *L);

#endif
