/* config.c - the breaker's settings (see config.h).
 *
 * Scalars are read with the SDK's typed helpers, whose ranges are the state
 * machine's (bk_config_check, which still runs on the result: it alone
 * knows that a rate must be above 0); the two lists (count_failures,
 * ignore_exit_codes) are walked with plugin_json.h. A target's keys are
 * checked here (the loader checks only the top level against
 * bk_config_keys), and its messages name it: "targets.NAME.KEY: ...".
 */
#include "config.h"

#include <gearbox/plugin_config.h>
#include <gearbox/plugin_json.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const bk_config_keys[] = {
    "sliding_window_type",
    "sliding_window_size",
    "minimum_calls",
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "slow_call_duration_ms",
    "wait_open_ms",
    "permitted_calls_half_open",
    "count_failures",
    "ignore_exit_codes",
    "on_open",
    "targets",
    "shared",
    NULL,
};

/* what a target may override: the top level's keys but targets and shared,
 * and its initial state */
static int target_key(const char *k)
{
	if (!strcmp(k, "state"))
		return 1;
	if (!strcmp(k, "targets") || !strcmp(k, "shared"))
		return 0;
	for (int i = 0; bk_config_keys[i]; i++)
		if (!strcmp(bk_config_keys[i], k))
			return 1;
	return 0;
}

/* rc, with path (a target's "targets.NAME") put before err's key when < 0 */
static int at(int rc, const char *path, char *err, size_t errlen)
{
	if (rc < 0 && path[0]) {
		char m[512];
		snprintf(m, sizeof m, "%s", err);
		snprintf(err, errlen, "%s.%s", path, m);
	}
	return rc;
}

static const char *const windows[] = {"COUNT_BASED", "TIME_BASED", NULL};
static const char *const on_opens[] = {"hold", "reject", NULL};
static const char *const states[] = {"CLOSED", "DISABLED", "FORCED_OPEN", NULL};

static int read_kinds(const char *obj, struct bk_config *c, const char *kp, char *err,
                      size_t errlen)
{
	const char *v = gbx_json_member(obj, "count_failures"), *it = NULL, *e;
	char buf[64], str[32];
	if (!v)
		return 0;
	unsigned mask = 0;
	while ((e = gbx_json_next(v, &it))) {
		int found = -1;
		if (!gbx_json_string(e, str, sizeof str))
			found = bk_kind(str);
		if (found < 0) {
			snprintf(err, errlen,
			         "%s: %s is not a failure kind the breaker counts "
			         "(\"exit\", \"signal\", \"timeout\", \"spawn\", \"error\")",
			         kp, gbx_cfg_raw(e, buf, sizeof buf));
			return -1;
		}
		mask |= 1u << found;
	}
	if (!it) {
		snprintf(err, errlen, "%s: expected an array of failure kinds, got %s", kp,
		         gbx_cfg_raw(v, buf, sizeof buf));
		return -1;
	}
	c->count_failures = mask;
	return 0;
}

static int read_codes(const char *obj, struct bk_config *c, const char *kp, char *err,
                      size_t errlen)
{
	const char *v = gbx_json_member(obj, "ignore_exit_codes"), *it = NULL, *e;
	char buf[64];
	if (!v)
		return 0;
	memset(c->ignore_exit, 0, sizeof c->ignore_exit);
	while ((e = gbx_json_next(v, &it))) {
		double d;
		if (gbx_json_number(e, &d) || !(d >= 0 && d <= 255) || d != (double)(int)d) {
			snprintf(err, errlen, "%s: expected exit codes from 0 to 255, got %s", kp,
			         gbx_cfg_raw(e, buf, sizeof buf));
			return -1;
		}
		int i = (int)d;
		c->ignore_exit[i >> 3] |= (uint8_t)(1u << (i & 7));
	}
	if (!it) {
		snprintf(err, errlen, "%s: expected an array of exit codes, got %s", kp,
		         gbx_cfg_raw(v, buf, sizeof buf));
		return -1;
	}
	return 0;
}

/* The members of obj (plugins.breaker, or a target's object: path is then
 * "targets.NAME") over *c, then the state machine's own check. */
static int read_one(const char *obj, struct bk_config *c, const char *path, char *err,
                    size_t errlen)
{
	int64_t size = c->window_size, minimum = c->minimum_calls, half = c->permitted_half_open;
	int64_t wait = c->wait_open_ms;
	char kp[700];
	const char *dot = path[0] ? "." : "";
	if (at(gbx_cfg_enum(obj, "sliding_window_type", windows, &c->window_type, err, errlen),
	       path, err, errlen) < 0 ||
	    at(gbx_cfg_int(obj, "sliding_window_size", 1, 1000000, &size, err, errlen), path, err,
	       errlen) < 0 ||
	    at(gbx_cfg_int(obj, "minimum_calls", 1, INT32_MAX, &minimum, err, errlen), path, err,
	       errlen) < 0 ||
	    at(gbx_cfg_number(obj, "failure_rate_threshold", 0, 100, &c->failure_rate_threshold,
	                      err, errlen),
	       path, err, errlen) < 0 ||
	    at(gbx_cfg_number(obj, "slow_call_rate_threshold", 0, 100,
	                      &c->slow_call_rate_threshold, err, errlen),
	       path, err, errlen) < 0 ||
	    at(gbx_cfg_number(obj, "slow_call_duration_ms", 0, 1e12, &c->slow_call_ms, err, errlen),
	       path, err, errlen) < 0 ||
	    at(gbx_cfg_int(obj, "wait_open_ms", 1, 1000000000000LL, &wait, err, errlen), path, err,
	       errlen) < 0 ||
	    at(gbx_cfg_int(obj, "permitted_calls_half_open", 1, 100000, &half, err, errlen), path,
	       err, errlen) < 0)
		return -1;
	int on_open = c->on_open == BK_HOLD_CALLS ? 0 : 1, state = -1;
	if (at(gbx_cfg_enum(obj, "on_open", on_opens, &on_open, err, errlen), path, err, errlen) <
	        0 ||
	    (path[0] &&
	     at(gbx_cfg_enum(obj, "state", states, &state, err, errlen), path, err, errlen) < 0))
		return -1;
	snprintf(kp, sizeof kp, "%s%scount_failures", path, dot);
	if (read_kinds(obj, c, kp, err, errlen))
		return -1;
	snprintf(kp, sizeof kp, "%s%signore_exit_codes", path, dot);
	if (read_codes(obj, c, kp, err, errlen))
		return -1;
	c->window_size = (int)size;
	c->minimum_calls = (int)minimum;
	c->permitted_half_open = (int)half;
	c->wait_open_ms = wait;
	c->window_type = c->window_type == 0 ? BK_COUNT_BASED : BK_TIME_BASED;
	c->on_open = on_open == 0 ? BK_HOLD_CALLS : BK_REJECT_CALLS;
	if (state >= 0)
		c->initial_state = state == 0 ? BK_CLOSED : state == 1 ? BK_DISABLED : BK_FORCED_OPEN;
	const char *why = bk_config_check(c);
	if (why) { /* name the key and show what it was set to */
		char k[64], buf[64];
		snprintf(k, sizeof k, "%.*s", (int)strcspn(why, ":"), why);
		const char *val = gbx_json_member(obj, k);
		if (val)
			snprintf(err, errlen, "%s%s%s, got %s", path, dot, why,
			         gbx_cfg_raw(val, buf, sizeof buf));
		else
			snprintf(err, errlen, "%s%s%s", path, dot, why);
		return -1;
	}
	return 0;
}

void bk_settings_free(struct bk_settings *s)
{
	for (size_t i = 0; i < s->ntcfg; i++)
		free(s->tcfg[i].name);
	free(s->tcfg);
	free(s->shared);
	memset(s, 0, sizeof *s);
}

static int read_targets(const char *targets, struct bk_settings *s, char *err, size_t errlen)
{
	const char *it = NULL, *v;
	char name[512], path[600];
	while ((v = gbx_json_next_member(targets, &it, name, sizeof name))) {
		struct target_cfg *nt = realloc(s->tcfg, (s->ntcfg + 1) * sizeof *nt);
		if (!nt)
			goto oom;
		s->tcfg = nt;
		struct target_cfg *tc = &s->tcfg[s->ntcfg];
		tc->s = s->base; /* a target overrides what it names, inherits the rest */
		if (!(tc->name = strdup(name)))
			goto oom;
		s->ntcfg++;
		snprintf(path, sizeof path, "targets.%s", name);
		if (*gbx_json_skip_ws(v) != '{') {
			snprintf(err, errlen, "%s: expected an object", path);
			return -1;
		}
		const char *kit = NULL;
		char key[128];
		while (gbx_json_next_member(v, &kit, key, sizeof key))
			if (!target_key(key)) {
				snprintf(err, errlen, "%s: unknown key \"%s\"", path, key);
				return -1;
			}
		if (read_one(v, &tc->s, path, err, errlen))
			return -1;
	}
	if (!it) {
		snprintf(err, errlen, "targets: expected an object of target names");
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int bk_settings_read(const char *config_json, struct bk_settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	const char *cfg = config_json ? config_json : "{}";
	s->base = bk_config_default();
	if (*gbx_json_skip_ws(cfg) != '{') {
		snprintf(err, errlen, "expected an object");
		return -1;
	}
	if (read_one(cfg, &s->base, "", err, errlen))
		goto fail;
	const char *targets = gbx_json_member(cfg, "targets");
	if (targets && read_targets(targets, s, err, errlen))
		goto fail;
	char url[1024] = "";
	int rc = gbx_cfg_string(cfg, "shared", url, sizeof url, err, errlen);
	if (rc < 0) {
		snprintf(err, errlen,
		         "shared: expected a string \"redis://HOST:PORT/DB\" or \"unix:PATH\"");
		goto fail;
	}
	if (rc == 1 && !(s->shared = strdup(url))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	bk_settings_free(s);
	return -1;
}

int bk_settings_check_run(const struct bk_settings *s, const struct gbx_host *host,
                          const struct gbx_run_info *ri)
{
	for (size_t i = 0; i < s->ntcfg; i++) {
		size_t j = 0;
		while (j < ri->ntargets && strcmp(ri->targets[j].name, s->tcfg[i].name))
			j++;
		if (j < ri->ntargets)
			continue;
		char msg[700];
		snprintf(msg, sizeof msg,
		         "targets.%s: no task of %s has this target, so its settings do nothing",
		         s->tcfg[i].name, ri->workload);
		host->log(host->ctx, 1, msg);
	}
	return 0;
}
