/* session.h - what a run needs besides the workload: the config (with its
 * profile), the plugins it enables (loaded, with their kind registry and
 * host context) and the policies. The CLI and the embedding API share it, so
 * both follow one order and one precedence: CLI > profile > config > defaults.
 */
#ifndef GBX_SESSION_H
#define GBX_SESSION_H

#include "config.h"
#include "engine.h"
#include "host.h"
#include "plugins.h"
#include "policy.h"

struct session {
	struct config cfg;
	json_t *resolved;      /* which plugins are on, and why */
	char **dirs;           /* plugin search path */
	size_t n_user;
	struct plugin_set set; /* the loaded plugins */
	struct hostctx hc;     /* their host context and kind registry */
	struct policy *pol;    /* or NULL */
};

/* Loads the config and profile, applies --set (NULL-terminated KEY=VALUE
 * list, may be NULL), resolves --enable/--disable (NULL-terminated lists,
 * may be NULL) and, when load_plugins, loads the enabled plugins and
 * builds the kind registry. session_close must be called even on failure. */
int session_open(struct session *s, const char *config, const char *profile,
		 char *const *sets, char *const *enable, char *const *disable, int load_plugins, struct err *err);

/* Loads the policies named by the config, with policy_arg[KIND] (may be NULL
 * or hold NULLs) taking precedence. A missing file is an error; a file that
 * does not load is an error when strict, else reported once and the built-in
 * decision is used. Plugins' Lua functions are registered first. */
int session_policies(struct session *s, const char *const *policy_arg, struct workload *wl,
		     int strict, struct err *err);

/* Fills the run options the config decides (jobs, grace, retry backoff) and
 * attaches the plugins, host and policies. */
void session_run_opts(struct session *s, struct run_opts *o);

void session_close(struct session *s);

const char *policy_kind_name(int kind);
/* The kind named by name[0..len), or -1. */
int policy_kind_of(const char *name, size_t len);

#endif
