/* config.h - the breaker's settings: plugins.breaker and its per-target
 * overrides, read with the SDK's typed helpers (<gearbox/plugin_config.h>),
 * and checked against the workload (validate_run). See config.c. */
#ifndef BK_CONFIG_H
#define BK_CONFIG_H

#include <gearbox/plugin.h>

#include <stddef.h>

#include "breaker_sm.h"

struct target_cfg {
	char *name;
	struct bk_config s; /* the top level's, overridden by the target's */
};

struct bk_settings {
	struct bk_config base; /* plugins.breaker */
	struct target_cfg *tcfg;
	size_t ntcfg;
	char *shared; /* plugins.breaker.shared (a Redis URL), or NULL */
};

/* The keys the loader accepts in plugins.breaker. */
extern const char *const bk_config_keys[];

/* Reads config_json (NULL: {}) into *s (zeroed first). Returns 0, or -1 with
 * "KEY: ..." or "targets.NAME.KEY: ..." in err (then *s is freed). */
int bk_settings_read(const char *config_json, struct bk_settings *s, char *err, size_t errlen);
void bk_settings_free(struct bk_settings *s);

/* validate_run: a warning through host->log for each configured target no
 * task of the run has (its settings would do nothing). Returns 0. */
int bk_settings_check_run(const struct bk_settings *s, const struct gbx_host *host,
                          const struct gbx_run_info *ri);

#endif
